//! Every effect the dashboard asks for, in one place and off the UI thread: the inspection,
//! loading known_hosts, the live probe, applying and undoing changes, preparing fix plans,
//! sshd's side for the Server pane, the stale check's DNS lookups, the scan and the file
//! watcher. Each sends its message(s) back over the channel; the event loop only hands effects
//! to [`Shell::run`] (except a command run in the terminal, which needs the terminal).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use super::app::{self, Effect, Msg};
use super::browser::{self, Resolution};
use super::edit;
use super::fixes::{self, Request};
use crate::fix::FixPlan;
use crate::inspect::{inspect, InspectOptions};
use crate::paths::SshPaths;
use crate::probe::setup::ProbeRequest;

/// How long the stale check waits for all answers together.
const DNS_DEADLINE: Duration = Duration::from_secs(5);
/// Lookups in flight at once.
const DNS_PARALLEL: usize = 16;

/// How long a burst of file changes (an editor's save, ssh-keygen writing two files) must be
/// quiet before the dashboard looks again, so one change is one re-inspection.
const SETTLE: Duration = Duration::from_millis(250);

/// Watches what the inspection reads and sends `Msg::FilesChanged` once a burst of changes
/// has settled: the ~/.ssh directory (keys, config, known_hosts and authorized_keys live in
/// it) and the directory of the known_hosts file shown, which may live elsewhere. Until
/// ~/.ssh exists, HOME is watched so that its creation is seen, and ~/.ssh is added then.
/// Reads (`Access` events, the inspection's own) never count. Runs until the dashboard ends;
/// where the system offers no file watching, the dashboard simply does not look again by
/// itself (`r` still does).
pub fn watch(paths: SshPaths, known_hosts: PathBuf, tx: Sender<Msg>) {
    use notify::{EventKind, RecursiveMode, Watcher};
    std::thread::spawn(move || {
        let (etx, erx) = mpsc::channel::<()>();
        let handler = move |ev: notify::Result<notify::Event>| {
            if let Ok(ev) = ev {
                if !matches!(ev.kind, EventKind::Access(_)) {
                    let _ = etx.send(());
                }
            }
        };
        let Ok(mut watcher) = notify::recommended_watcher(handler) else {
            return;
        };
        let mut watched: Vec<PathBuf> = Vec::new();
        let mut watch_dirs = |watcher: &mut notify::RecommendedWatcher| {
            let mut dirs = vec![if paths.ssh_dir.is_dir() {
                paths.ssh_dir.clone()
            } else {
                paths.home.clone()
            }];
            dirs.extend(known_hosts.parent().map(Path::to_path_buf));
            for d in dirs {
                if d.is_dir()
                    && !watched.contains(&d)
                    && watcher.watch(&d, RecursiveMode::NonRecursive).is_ok()
                {
                    watched.push(d);
                }
            }
        };
        watch_dirs(&mut watcher);
        while erx.recv().is_ok() {
            while erx.recv_timeout(SETTLE).is_ok() {}
            watch_dirs(&mut watcher);
            if tx.send(Msg::FilesChanged).is_err() {
                return;
            }
        }
    });
}

pub fn prepare(req: Request, paths: SshPaths, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let result = fixes::prepare(&req, &paths).map_err(|e| format!("{e:#}"));
        let _ = tx.send(Msg::Prepared(Box::new(result)));
    });
}

pub fn apply_plans(
    plans: Vec<FixPlan>,
    journal: Result<PathBuf, String>,
    paths: SshPaths,
    tx: Sender<Msg>,
) {
    std::thread::spawn(move || {
        let result = journal
            .and_then(|j| fixes::apply_plans(&plans, &j, &paths).map_err(|e| format!("{e:#}")));
        let _ = tx.send(Msg::Applied(result));
    });
}

/// Whether this machine runs (or can run) sshd: the binary is installed or its config is
/// readable. Only then is there a Server pane.
pub fn runs_sshd() -> bool {
    let binary = ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .iter()
        .any(|p| Path::new(p).is_file());
    binary || std::fs::File::open("/etc/ssh/sshd_config").is_ok()
}

/// `server::inspect` for the current user, as `sshdoctor server` with no options.
/// `SSHDOCTOR_NO_SERVER_PANE=1` turns the pane off (the end-to-end tests use it so they never
/// read the real account's files).
pub fn inspect_server(tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let off = std::env::var_os("SSHDOCTOR_NO_SERVER_PANE").is_some_and(|v| v == "1");
        let result = if off || !runs_sshd() {
            None
        } else {
            Some(
                crate::server::inspect(&crate::server::ServerOptions::default())
                    .map_err(|e| e.to_string()),
            )
        };
        let _ = tx.send(Msg::ServerInspected(Box::new(result)));
    });
}

/// Looks every name up on a few threads; names with no answer by the deadline count as
/// `Unknown` (a lookup stuck in the resolver is left to finish on its own thread).
pub fn check_names(names: Vec<String>, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let (rtx, rrx) = mpsc::channel();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(names.clone()));
        for _ in 0..DNS_PARALLEL.min(names.len()) {
            let queue = queue.clone();
            let rtx = rtx.clone();
            std::thread::spawn(move || loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(name) = next else { break };
                let answer = browser::check_names(
                    std::slice::from_ref(&name),
                    &crate::probe::dns::system_resolve,
                );
                if rtx.send(answer).is_err() {
                    break;
                }
            });
        }
        drop(rtx);
        let start = Instant::now();
        let mut answers: HashMap<String, Resolution> = HashMap::new();
        while answers.len() < names.len() {
            let left = DNS_DEADLINE.saturating_sub(start.elapsed());
            match rrx.recv_timeout(left) {
                Ok(a) => answers.extend(a),
                Err(_) => break,
            }
        }
        for n in names {
            answers.entry(n).or_insert(Resolution::Unknown);
        }
        let _ = tx.send(Msg::NamesChecked(answers));
    });
}

/// Connections the browser's scan keeps open at once, and each host's budget (as `sshdoctor
/// scan`'s defaults).
const SCAN_CONCURRENCY: usize = 64;
const SCAN_TIMEOUT: Duration = Duration::from_secs(5);

/// The known_hosts scan (`S`): every host named in plain lines of `path`, fetched as
/// `ssh-keyscan` does by the same `scan` module as `sshdoctor scan`; each result is sent the
/// moment it is known, so the list is marked while the scan runs.
pub fn scan(path: PathBuf, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let kh = match crate::inspect::read_known_hosts(&path) {
            Ok(Some(kh)) => kh,
            Ok(None) => {
                let _ = tx.send(Msg::ScanDone(Err(format!(
                    "{} does not exist",
                    path.display()
                ))));
                return;
            }
            Err(e) => {
                let _ = tx.send(Msg::ScanDone(Err(e)));
                return;
            }
        };
        let shown = path.display().to_string();
        let targets = crate::scan::targets_from_known_hosts(&kh, &shown);
        let _ = tx.send(Msg::ScanStarted(targets.len()));
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Msg::ScanDone(Err(format!("cannot start the scan: {e}"))));
                return;
            }
        };
        let opts = crate::scan::ScanOptions {
            concurrency: SCAN_CONCURRENCY,
            timeout: SCAN_TIMEOUT,
        };
        let results_tx = tx.clone();
        let kh = std::sync::Arc::new(kh);
        let lookup = std::sync::Arc::clone(&kh);
        rt.block_on(crate::scan::run(
            targets,
            kh,
            std::sync::Arc::from(shown.as_str()),
            opts,
            move |r| {
                // The lookup behind each line's verdict runs here, off the UI thread.
                let marks = browser::scan_marks(&lookup, r);
                let _ = results_tx.send(Msg::Scanned(Box::new(r.clone()), marks));
            },
        ));
        let _ = tx.send(Msg::ScanDone(Ok(())));
    });
}

/// What the shell needs to run effects.
pub struct Shell {
    pub paths: SshPaths,
    pub target: Option<String>,
    pub probe: Option<ProbeRequest>,
    pub known_hosts: PathBuf,
    /// The journal fixes and undo write to, or why there is none.
    pub journal: Result<PathBuf, String>,
    pub tx: Sender<Msg>,
}

impl Shell {
    /// Runs one effect off the UI thread; its result comes back as a message. (The one
    /// exception, a command run in the terminal, needs the terminal the event loop owns.)
    pub fn run(&self, effect: Effect) {
        let tx = self.tx.clone();
        match effect {
            Effect::Inspect => {
                let paths = self.paths.clone();
                let target = self.target.clone();
                std::thread::spawn(move || {
                    let result = gather(paths, target).map_err(|e| format!("{e:#}"));
                    let _ = tx.send(Msg::Inspected(Box::new(result)));
                });
            }
            Effect::LoadKnownHosts => {
                let path = self.known_hosts.clone();
                std::thread::spawn(move || {
                    let load = match crate::inspect::read_known_hosts(&path) {
                        Ok(Some(kh)) => browser::Load::Ready(browser::Loaded::from_known_hosts(kh)),
                        Ok(None) => browser::Load::Missing,
                        Err(e) => browser::Load::Failed(e),
                    };
                    let _ = tx.send(Msg::KnownHostsLoaded(load));
                });
            }
            Effect::Probe => self.probe(app::LiveRun::default(), tx),
            Effect::ProbeWith(run) => self.probe(run, tx),
            Effect::Apply(action) => {
                let (journal, paths) = (self.journal.clone(), self.paths.clone());
                std::thread::spawn(move || {
                    let result = journal.and_then(|j| {
                        edit::apply(&action, &j, &paths).map_err(|e| format!("{e:#}"))
                    });
                    let _ = tx.send(Msg::Applied(result));
                });
            }
            Effect::Undo(seq) => {
                let (journal, paths) = (self.journal.clone(), self.paths.clone());
                std::thread::spawn(move || {
                    let result = journal
                        .and_then(|j| edit::undo(seq, &j, &paths).map_err(|e| format!("{e:#}")));
                    let _ = tx.send(Msg::Undone(result));
                });
            }
            Effect::Prepare(req) => prepare(*req, self.paths.clone(), tx),
            Effect::ApplyPlans(plans) => {
                apply_plans(plans, self.journal.clone(), self.paths.clone(), tx)
            }
            Effect::InspectServer => inspect_server(tx),
            Effect::CheckNames(names) => check_names(names, tx),
            Effect::Scan(path) => scan(path, tx),
            Effect::Watch => watch(self.paths.clone(), self.known_hosts.clone(), tx),
            // Needs the terminal, which the event loop owns: see `dispatch`.
            Effect::RunInTerminal(_) => {}
        }
    }
}

impl Shell {
    /// The live test on its own thread, with what this run adds (a password, forwarding).
    fn probe(&self, run: app::LiveRun, tx: Sender<Msg>) {
        let Some(req) = self.probe.clone() else {
            return;
        };
        let paths = self.paths.clone();
        std::thread::spawn(move || run_probe(req, &paths, run, tx));
    }
}

/// The inspection plus the permission facts of the files ssh and sshd check.
fn gather(paths: SshPaths, target: Option<String>) -> anyhow::Result<app::Inspected> {
    let target = target
        .as_deref()
        .map(crate::target::parse_target)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut opts = InspectOptions::from_env(target, None)?;
    opts.paths = paths.clone();
    let inspection = inspect(&opts)?;
    let mut perms = vec![
        (paths.home.clone(), "home", "no g/o write"),
        (paths.ssh_dir.clone(), "~/.ssh", "0700, no g/o w"),
        (paths.authorized_keys(), "auth. keys", "no g/o write"),
        (paths.config(), "ssh config", "no g/o write"),
    ];
    for k in &inspection.keys {
        if k.kind == crate::keys::KeyKind::Private {
            perms.push((k.path.clone(), "private key", "0600 or 0400"));
        }
    }
    let perms = perms
        .into_iter()
        .map(|(p, role, required)| app::PermRow {
            shown: paths.display(&p),
            role,
            meta: crate::perms::stat(&p),
            required,
        })
        .collect();
    Ok(app::Inspected { inspection, perms })
}

/// The known_hosts file ssh consults for this target, from the config module, which maps `~`
/// to `$HOME`. (`ssh -G` expands `~` in UserKnownHostsFile from the password database, not from
/// `$HOME`, so taking its answer would compare against another home's file.)
fn user_known_hosts(target: &str, paths: &SshPaths) -> Option<PathBuf> {
    let target = crate::target::parse_target(target).ok()?;
    let req = crate::config::ConfigRequest {
        target: &target,
        config_file: None,
        port: None,
        user: None,
        identity_files: &[],
    };
    let cfg = crate::config::effective(&req, paths).ok()?;
    cfg.user_known_hosts_files.first().cloned()
}

/// Runs the probe on its own tokio runtime and forwards its stages as they happen. As `sshdoctor
/// probe` does with `--password` and `-A`: the password replaces the key login for this one
/// attempt (and is wiped with the options when the probe ends), and forwarding is tested when
/// asked or when the config says `ForwardAgent yes`.
fn run_probe(mut req: ProbeRequest, paths: &SshPaths, run: app::LiveRun, tx: Sender<Msg>) {
    if req.known_hosts_file.is_none() {
        req.known_hosts_file = user_known_hosts(&req.target, paths);
    }
    let mut opts = match crate::probe::setup::options(&req, paths, crate::probe::LoginMode::WithKey)
    {
        Ok((opts, _)) => opts,
        Err(e) => {
            let _ = tx.send(Msg::ProbeFailed(format!("{e:#}")));
            return;
        }
    };
    opts.password = run.password;
    opts.forward_agent |= run.forward_agent;
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = tx.send(Msg::ProbeFailed(format!(
                "cannot start the async runtime: {e}"
            )));
            return;
        }
    };
    rt.block_on(async move {
        let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
        let fwd = tx.clone();
        let forward = tokio::spawn(async move {
            while let Some(ev) = erx.recv().await {
                if fwd.send(Msg::Stage(ev)).is_err() {
                    break;
                }
            }
        });
        let report = crate::probe::run(opts, Some(etx)).await;
        let _ = forward.await;
        let _ = tx.send(Msg::ProbeDone(Box::new(report)));
    });
}

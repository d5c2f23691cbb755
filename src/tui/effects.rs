//! The dashboard's newer effects, run off the UI thread: preparing and applying fix plans,
//! inspecting sshd's side for the Server pane, the known_hosts stale check's DNS lookups and
//! the known_hosts scan. Each sends its message(s) back; `mod.rs` only dispatches to them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use super::app::Msg;
use super::browser::{self, Resolution};
use super::fixes::{self, Request};
use crate::fix::FixPlan;
use crate::paths::SshPaths;

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
    plans: &[FixPlan],
    journal: &anyhow::Result<PathBuf>,
    paths: &SshPaths,
    tx: &Sender<Msg>,
) {
    let result = match journal {
        Ok(j) => fixes::apply_plans(plans, j, paths).map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("{e:#}")),
    };
    let _ = tx.send(Msg::Applied(result));
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

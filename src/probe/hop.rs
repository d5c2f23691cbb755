//! The stage `hop` (`probe -A --hop HOST2`): once agent forwarding to the first server is proven,
//! run the user's real next step there, `ssh -o BatchMode=yes HOST2 true` over the forwarded
//! agent, and name why it fails from what that ssh printed (`-v`, read by [`ssh_verbose`]).
//!
//! Why a module of its own: it is the article's last step (load server2's key, `ssh -A server1`,
//! `ssh server2` from there) and its failures are not the first server's: HOST2's host key is
//! unknown in server1's known_hosts, HOST2 accepts no key the agent holds (which local key file
//! to `ssh-add`), or server1 cannot reach HOST2. The reading ([`judge`]) is pure, so it is
//! tested on OpenSSH's own lines; the run itself is a session channel of the probe's login.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use russh::ChannelMsg;

use super::diagnose::Target;
use super::handler::Conn;
use super::session::Probe;
use super::ssh_verbose::{self, SshLog};
use super::{StageStatus, HOP_STAGE};
use crate::finding::{shell_quote, Finding, Fix, Severity};
use crate::fix_id::FixId;

/// A private key file of the user's, by its fingerprint: what `ssh-add FILE` would load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalKey {
    pub path: PathBuf,
    pub fingerprint: String,
}

/// `--hop HOST2`, resolved: the second server as typed, and the user's key files to compare
/// with the agent when HOST2 refuses every key the agent offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopRequest {
    /// What the user typed (`user@host:port`, or a Host alias of server1's ssh config).
    pub typed: String,
    pub target: crate::target::Target,
    pub local_keys: Vec<LocalKey>,
}

/// Parses HOST2 (`[user@]host[:port]`, never an option) and lists the private keys in `key_dir`
/// (found by content, as `sshdoctor keys` finds them) and `extra` (the config's IdentityFile
/// and `-i` files).
pub fn request(
    typed: &str,
    key_dir: &Path,
    extra: &[PathBuf],
) -> Result<HopRequest, crate::target::TargetError> {
    let target = crate::target::parse_target(typed)?;
    let scan = crate::keys::scan(key_dir, extra);
    let mut local_keys: Vec<LocalKey> = Vec::new();
    for k in scan.keys {
        if k.kind != crate::keys::KeyKind::Private {
            continue;
        }
        let Some(fingerprint) = k.fingerprint else {
            continue;
        };
        if !local_keys.iter().any(|l| l.fingerprint == fingerprint) {
            local_keys.push(LocalKey {
                path: k.path,
                fingerprint,
            });
        }
    }
    Ok(HopRequest {
        typed: typed.to_string(),
        target,
        local_keys,
    })
}

/// `[-l USER] [-p PORT] HOST`, as ssh takes them (it has no `host:port`).
fn destination_args(t: &crate::target::Target) -> Vec<String> {
    let mut words = Vec::new();
    if let Some(p) = t.port {
        words.push("-p".to_string());
        words.push(p.to_string());
    }
    words.push(match &t.user {
        Some(u) => format!("{u}@{}", t.host),
        None => t.host.clone(),
    });
    words
}

/// The command run on server1: the user's `ssh HOST2 true`, told never to ask (BatchMode), to
/// give up connecting after the probe's timeout, and to say what it does (`-v`).
pub fn remote_command(t: &crate::target::Target, timeout: Duration) -> String {
    let secs = timeout.as_secs_f64().ceil().max(1.0) as u64;
    let mut words: Vec<String> = [
        "ssh",
        "-v",
        "-o",
        "BatchMode=yes",
        "-o",
        &format!("ConnectTimeout={secs}"),
    ]
    .iter()
    .map(|w| w.to_string())
    .collect();
    words.extend(destination_args(t).iter().map(|w| shell_quote(w)));
    words.push("true".into());
    words.join(" ")
}

/// What the run on server1 gave: its exit status (none when it did not end), everything it
/// printed, and whether the probe stopped waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HopRun {
    pub exit: Option<u32>,
    pub output: String,
    pub timed_out: bool,
}

/// How the hop went, in the words of the stage and its finding.
pub struct Verdict {
    pub status: StageStatus,
    pub detail: String,
    pub finding: Finding,
}

/// Why HOST2 could not be reached from server1, as ssh said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreachable {
    Refused,
    Timeout,
    Dns,
    NoRoute,
}

fn unreachable_kind(log: &SshLog) -> Option<(Unreachable, String)> {
    for l in log.messages() {
        let kind = if l.contains("Could not resolve hostname") {
            Unreachable::Dns
        } else if l.contains("Connection refused") {
            Unreachable::Refused
        } else if l.contains("Connection timed out") || l.contains("Operation timed out") {
            Unreachable::Timeout
        } else if l.contains("No route to host") || l.contains("Network is unreachable") {
            Unreachable::NoRoute
        } else {
            continue;
        };
        return Some((kind, l.to_string()));
    }
    None
}

/// The words ssh prints for what it saw of HOST2's host key: `Server host key: TYPE SHA256:...`.
fn host_key_seen(log: &SshLog) -> Option<String> {
    log.lines.iter().find_map(|l| {
        l.split_once("Server host key: ")
            .map(|(_, rest)| rest.trim().to_string())
    })
}

/// ssh's own lines (not its debug chatter) as evidence, at most `n` of them.
fn quote(mut f: Finding, log: &SshLog, n: usize) -> Finding {
    for l in log.messages().take(n) {
        f = f.evidence(format!("on the server, ssh: {l}"));
    }
    f
}

/// The fingerprints (`SHA256:...`) found in `lines`.
pub fn fingerprints(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .filter(|w| w.starts_with("SHA256:"))
        .map(str::to_string)
        .collect()
}

/// Reads the run of `ssh HOST2 true` on server1 (`s1`). `agent` holds the fingerprints the
/// forwarded agent listed on server1 (`ssh-add -l` there).
pub fn judge(s1: &Target, req: &HopRequest, run: &HopRun, agent: &[String]) -> Verdict {
    let log = ssh_verbose::parse(&run.output);
    let host2 = crate::safe_text::printable(&req.typed);
    let on_s1 = |cmd: &str| format!("ssh -t {} {}", shell_quote(&s1.display), shell_quote(cmd));
    let plain_ssh = {
        let mut w = vec!["ssh".to_string()];
        w.extend(destination_args(&req.target).iter().map(|x| shell_quote(x)));
        w.join(" ")
    };
    if run.exit == Some(0) {
        let mut jump = vec!["ssh".to_string(), "-J".into(), shell_quote(&s1.display)];
        jump.extend(destination_args(&req.target).iter().map(|x| shell_quote(x)));
        let f = Finding::new(
            "hop-ok",
            Severity::Info,
            format!(
                "From {}, ssh logs in to {host2} with your forwarded agent",
                s1.host
            ),
        )
        .explain(
            "The article's last step works: on the first server, `ssh` to the second one used a \
             key of your local agent through the forwarding. If all you want is to reach the \
             second server, ProxyJump (`ssh -J`) gets you there without forwarding the agent, so \
             root on the first server cannot use your keys while you are connected.",
        )
        .evidence(format!("on {}: {} exited 0", s1.host, plain_ssh))
        .fix(Fix::new(
            FixId::UseProxyJump,
            format!(
                "Reach {host2} through {} without forwarding your agent",
                s1.host
            ),
            jump.join(" "),
        ));
        let f = match &log.authenticated {
            Some(a) => f.evidence(format!("on the server, ssh: {a}")),
            None => f,
        };
        return Verdict {
            status: StageStatus::Ok,
            detail: format!("ssh {host2} from {} logged in", s1.host),
            finding: f,
        };
    }
    if run.timed_out {
        let f = Finding::new(
            "hop-unreachable",
            Severity::Error,
            format!("From {}, ssh to {host2} did not finish in time", s1.host),
        )
        .explain(
            "The first server's ssh neither logged in to the second one nor gave up within the \
             timeout: the second server is probably filtered (packets dropped) from there, or \
             slow to answer.",
        );
        let f = quote(f, &log, 8).fix(check_port_fix(s1, req, &on_s1));
        return Verdict {
            status: StageStatus::Fail,
            detail: "no result within the timeout".into(),
            finding: f,
        };
    }
    let changed = log
        .lines
        .iter()
        .any(|l| l.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"));
    if changed
        || log
            .lines
            .iter()
            .any(|l| l.contains("Host key verification failed."))
    {
        let seen = host_key_seen(&log);
        let (id, title, why) = if changed {
            (
                "hop-host-key-changed",
                format!(
                    "{}'s known_hosts holds another host key for {host2}",
                    s1.host
                ),
                "The first server's ssh remembers another key for the second server, so it \
                 refuses to go on (as your own ssh would). Either that server was reinstalled or \
                 its key rotated, or the connection is intercepted: compare the fingerprint with \
                 its administrator before replacing the old key.",
            )
        } else {
            (
                "hop-host-key-unknown",
                format!("{}'s ssh does not know {host2}'s host key", s1.host),
                "The first server's ssh has never seen the second server, and without a terminal \
                 (BatchMode, scripts, this probe) it cannot ask whether to trust it, so it stops: \
                 \"Host key verification failed.\". Connect once by hand from the first server \
                 and answer yes after comparing the fingerprint; from then on its known_hosts \
                 holds the key.",
            )
        };
        let mut f = Finding::new(id, Severity::Error, title).explain(why);
        if let Some(k) = &seen {
            f = f.evidence(format!("{host2} shows host key {k}"));
        }
        let f = quote(f, &log, 8).fix(Fix::new(
            FixId::HopTrustHostKey,
            format!(
                "On {}: connect once by hand and answer yes after comparing the fingerprint{}",
                s1.host,
                seen.as_ref().map(|k| format!(" ({k})")).unwrap_or_default()
            ),
            on_s1(&plain_ssh),
        ));
        let detail = if changed {
            format!("{host2}'s host key changed in the server's known_hosts")
        } else {
            format!("{host2}'s host key is in no known_hosts of the server")
        };
        return Verdict {
            status: StageStatus::Fail,
            detail,
            finding: f,
        };
    }
    if let Some((kind, line)) = unreachable_kind(&log) {
        let (title, why) = match kind {
            Unreachable::Dns => (
                format!("{} cannot resolve {host2}", s1.host),
                "The first server's resolver does not know the name: it may be a name only your \
                 own machine knows (your /etc/hosts or ~/.ssh/config), a typo, or a missing \
                 Host alias in the first server's ~/.ssh/config.",
            ),
            Unreachable::Refused => (
                format!("{host2} refuses connections from {}", s1.host),
                "The second server answered with a refusal: nothing listens on that port there \
                 (sshd stopped, another port), or a firewall rejects the first server.",
            ),
            Unreachable::Timeout => (
                format!("{host2} does not answer {}", s1.host),
                "The connection attempt from the first server timed out: a firewall drops its \
                 packets, or the address is wrong or down.",
            ),
            Unreachable::NoRoute => (
                format!("{} has no route to {host2}", s1.host),
                "The first server's network cannot reach that address at all.",
            ),
        };
        let f = Finding::new("hop-unreachable", Severity::Error, title)
            .explain(why)
            .evidence(format!("on the server, ssh: {line}"))
            .fix(check_port_fix(s1, req, &on_s1));
        let detail = format!("from {}: {line}", s1.host);
        return Verdict {
            status: StageStatus::Fail,
            detail,
            finding: f,
        };
    }
    if let Some(methods) = &log.denied_methods {
        return Verdict {
            status: StageStatus::Fail,
            detail: format!("{host2} refused every key the forwarded agent offered"),
            finding: key_rejected(s1, req, &log, methods, agent),
        };
    }
    let missing_ssh = run.exit == Some(127)
        || log
            .lines
            .iter()
            .any(|l| l.contains("ssh: not found") || l.contains("ssh: command not found"));
    let (title, why) = if missing_ssh {
        (
            format!("{} has no ssh client to reach {host2} with", s1.host),
            "The command `ssh` was not found on the first server: install the OpenSSH client \
             there (openssh-client), or reach the second server with ProxyJump from here.",
        )
    } else {
        (
            format!("From {}, ssh to {host2} failed", s1.host),
            "The first server's ssh stopped for a reason this check does not know; its own \
             lines below say what it saw.",
        )
    };
    let exit = run
        .exit
        .map(|c| format!("exit status {c}"))
        .unwrap_or_else(|| "no exit status".into());
    let f = quote(
        Finding::new("hop-failed", Severity::Error, title)
            .explain(why)
            .evidence(format!("on {}: {} ({exit})", s1.host, plain_ssh)),
        &log,
        10,
    );
    Verdict {
        status: StageStatus::Fail,
        detail: format!("ssh {host2} from {} failed ({exit})", s1.host),
        finding: f,
    }
}

/// `nc -vz HOST PORT` run on server1: whether the second server's port answers from there.
fn check_port_fix(s1: &Target, req: &HopRequest, on_s1: &dyn Fn(&str) -> String) -> Fix {
    let port = req.target.port.unwrap_or(22);
    Fix::new(
        FixId::CheckTargetFromJump,
        format!(
            "Check from {} whether {} accepts connections on port {port}",
            s1.host, req.target.host
        ),
        on_s1(&format!(
            "nc -vz -w 5 {} {port}",
            shell_quote(&req.target.host)
        )),
    )
}

/// `hop-key-rejected`: HOST2 refused every key the forwarded agent (and server1's own files)
/// offered; names the local key files the agent lacks, each with its `ssh-add FILE`.
fn key_rejected(
    s1: &Target,
    req: &HopRequest,
    log: &SshLog,
    methods: &[String],
    agent: &[String],
) -> Finding {
    let host2 = crate::safe_text::printable(&req.typed);
    let lacking: Vec<&LocalKey> = req
        .local_keys
        .iter()
        .filter(|k| !agent.contains(&k.fingerprint))
        .collect();
    let why = if lacking.is_empty() {
        "The second server accepts none of the keys the first server's ssh offered, and every \
         key file you have here is already in the agent: the second server does not have your \
         public key in its authorized_keys (or refuses it: `sshdoctor server` there says why)."
            .to_string()
    } else {
        format!(
            "The second server accepts none of the keys the first server's ssh offered (the \
             agent's, through the forwarding, and its own files). Your agent lacks {} you have \
             here; load the one {host2} knows, as the article does with `ssh-add \
             ~/.ssh/server2`, and try again: only keys in the agent travel with `ssh -A`.",
            crate::words::count(lacking.len(), "key file")
        )
    };
    let mut f = Finding::new(
        "hop-key-rejected",
        Severity::Error,
        format!("{host2} accepts no key that {} could offer it", s1.host),
    )
    .explain(why)
    .evidence(format!(
        "on the server, ssh: Permission denied ({}).",
        methods.join(",")
    ));
    for o in &log.offered {
        f = f.evidence(format!("offered by ssh on the server: {o}"));
    }
    if agent.is_empty() {
        f = f.evidence("the forwarded agent listed no keys");
    } else {
        f = f.evidence(format!("the forwarded agent holds: {}", agent.join(", ")));
    }
    for k in &lacking {
        f = f.evidence(format!(
            "not in the agent: {} {}",
            k.path.display(),
            k.fingerprint
        ));
    }
    for k in &lacking {
        let path = k.path.display().to_string();
        f = f.fix(
            Fix::new(
                FixId::SshAdd,
                format!("Load {path} into the agent, then run ssh -A again"),
                format!("ssh-add {}", shell_quote(&path)),
            )
            .on_path(&k.path),
        );
    }
    if lacking.is_empty() {
        f = f.fix(Fix::new(
            FixId::CheckServer,
            format!("On {host2}: see why sshd refuses the key"),
            format!(
                "sshdoctor server --user {}",
                shell_quote(req.target.user.as_deref().unwrap_or("USER"))
            ),
        ));
    }
    f
}

impl Probe {
    /// The stage `hop`: on the session the probe logged in with, a second session channel runs
    /// `ssh -v -o BatchMode=yes HOST2 true`, bounded by three times the timeout; its output is
    /// judged by [`judge`]. No second forwarding request: sshd grants one per connection (a
    /// second is refused) and gives every later session of it the same SSH_AUTH_SOCK, whose
    /// requests the handler relays still. Called only after `agent-forwarding` worked (so never
    /// on a server whose host key did not match, or that refused forwarding).
    pub(super) async fn hop_stage(&mut self, conn: &Conn, agent: &[String]) {
        let Some(req) = self.opts.second_hop.clone() else {
            return;
        };
        self.started(HOP_STAGE);
        let t0 = Instant::now();
        let cmd = remote_command(&req.target, self.opts.timeout);
        let bound = self
            .opts
            .timeout
            .saturating_mul(3)
            .max(Duration::from_secs(5));
        let outcome = tokio::time::timeout(bound, async {
            let mut ch = conn
                .handle
                .channel_open_session()
                .await
                .map_err(|e| e.to_string())?;
            ch.exec(true, cmd.as_str())
                .await
                .map_err(|e| e.to_string())?;
            let _ = ch.eof().await;
            let mut out = Vec::new();
            let mut exit = None;
            while let Some(msg) = ch.wait().await {
                // ssh -v says a few dozen lines; beyond 256 KiB the rest is dropped.
                match msg {
                    ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. }
                        if out.len() < 256 * 1024 =>
                    {
                        out.extend_from_slice(&data);
                    }
                    ChannelMsg::ExitStatus { exit_status } => exit = Some(exit_status),
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            Ok::<_, String>(HopRun {
                exit,
                output: wire_lines(&out),
                timed_out: false,
            })
        })
        .await;
        let run = match outcome {
            Ok(Ok(run)) => run,
            Ok(Err(e)) => {
                let why = format!("could not run ssh on the server: {e}");
                self.stage(HOP_STAGE, StageStatus::Fail, t0, why.clone());
                let f = Finding::new(
                    "hop-failed",
                    Severity::Error,
                    format!(
                        "Could not run ssh on {} to reach {}",
                        self.target.host, req.typed
                    ),
                )
                .explain(
                    "The first server would not run the command on a new session of the same \
                     login (a forced command, a session limit, or the connection ended).",
                )
                .evidence(why);
                self.find(f);
                return;
            }
            Err(_) => HopRun {
                timed_out: true,
                ..HopRun::default()
            },
        };
        let v = judge(&self.target, &req, &run, agent);
        self.stage(HOP_STAGE, v.status, t0, v.detail);
        self.find(v.finding);
    }
}

/// What came from the server, line by line (ssh ends them in CRLF), each made safe to show
/// (`safe_text::from_wire`).
fn wire_lines(raw: &[u8]) -> String {
    raw.split(|b| *b == b'\n')
        .map(|l| crate::safe_text::from_wire(l.strip_suffix(b"\r").unwrap_or(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why the `hop` stage did not run, when it did not (the report always lists it with `--hop`).
pub(super) fn not_run_reason(p: &Probe) -> String {
    let has = |id: &str| p.report.findings.iter().any(|f| f.id == id);
    let forwarding = p
        .report
        .stages
        .iter()
        .find(|s| s.stage == "agent-forwarding");
    if p.report
        .findings
        .iter()
        .any(|f| f.id.starts_with("host-key"))
    {
        "not run: the server's host key does not match known_hosts".into()
    } else if has("agent-forwarding-refused") {
        "not run: the server refused agent forwarding".into()
    } else if let Some(s) = forwarding {
        format!("not run: agent forwarding did not work ({})", s.detail)
    } else {
        "not reached: no key login to the server".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s1() -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: 2222,
            user: "alice".into(),
            display: "alice@127.0.0.1:2222".into(),
        }
    }

    fn req(keys: &[(&str, &str)]) -> HopRequest {
        HopRequest {
            typed: "root@10.0.0.2:2200".into(),
            target: crate::target::parse_target("root@10.0.0.2:2200").unwrap(),
            local_keys: keys
                .iter()
                .map(|(p, fp)| LocalKey {
                    path: PathBuf::from(p),
                    fingerprint: fp.to_string(),
                })
                .collect(),
        }
    }

    fn run(exit: u32, output: &str) -> HopRun {
        HopRun {
            exit: Some(exit),
            output: output.into(),
            timed_out: false,
        }
    }

    #[test]
    fn the_remote_command_is_ssh_with_batchmode_and_the_destination_quoted() {
        let t = crate::target::parse_target("root@10.0.0.2:2200").unwrap();
        assert_eq!(
            remote_command(&t, Duration::from_millis(2500)),
            "ssh -v -o BatchMode=yes -o ConnectTimeout=3 -p 2200 root@10.0.0.2 true"
        );
        let alias = crate::target::parse_target("server2").unwrap();
        assert_eq!(
            remote_command(&alias, Duration::from_secs(5)),
            "ssh -v -o BatchMode=yes -o ConnectTimeout=5 server2 true"
        );
    }

    #[test]
    fn success_is_hop_ok_with_the_proxyjump_alternative() {
        let v = judge(
            &s1(),
            &req(&[]),
            &run(
                0,
                "debug1: Authenticated to 10.0.0.2 ([10.0.0.2]:2200) using \"publickey\".\n",
            ),
            &[],
        );
        assert_eq!(v.status, StageStatus::Ok);
        assert_eq!(v.finding.id, "hop-ok");
        let fix = &v.finding.fixes[0];
        assert_eq!(fix.id, FixId::UseProxyJump);
        assert_eq!(
            fix.command,
            "ssh -J alice@127.0.0.1:2222 -p 2200 root@10.0.0.2"
        );
    }

    #[test]
    fn an_unknown_host_key_names_the_fingerprint_and_the_command_on_server1() {
        let out = "debug1: Server host key: ssh-ed25519 SHA256:abc\n\
                   No ED25519 host key is known for [10.0.0.2]:2200 and you have requested strict checking.\n\
                   Host key verification failed.\n";
        let v = judge(&s1(), &req(&[]), &run(255, out), &[]);
        assert_eq!(v.finding.id, "hop-host-key-unknown");
        assert!(v.finding.evidence.iter().any(|e| e.contains("SHA256:abc")));
        let fix = &v.finding.fixes[0];
        assert_eq!(fix.id, FixId::HopTrustHostKey);
        assert_eq!(
            fix.command,
            "ssh -t alice@127.0.0.1:2222 'ssh -p 2200 root@10.0.0.2'"
        );
    }

    #[test]
    fn a_changed_host_key_on_server1_is_its_own_finding() {
        let out = "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                   debug1: Server host key: ssh-ed25519 SHA256:new\n\
                   Host key verification failed.\n";
        let v = judge(&s1(), &req(&[]), &run(255, out), &[]);
        assert_eq!(v.finding.id, "hop-host-key-changed");
        assert!(v.finding.evidence.iter().any(|e| e.contains("SHA256:new")));
    }

    #[test]
    fn refused_and_dns_are_hop_unreachable() {
        let refused = "ssh: connect to host 10.0.0.2 port 2200: Connection refused\n";
        let v = judge(&s1(), &req(&[]), &run(255, refused), &[]);
        assert_eq!(v.finding.id, "hop-unreachable");
        assert!(v.finding.title.contains("refuses"), "{}", v.finding.title);
        let dns = "ssh: Could not resolve hostname nowhere: Name or service not known\n";
        let v = judge(&s1(), &req(&[]), &run(255, dns), &[]);
        assert_eq!(v.finding.id, "hop-unreachable");
        assert!(
            v.finding.title.contains("cannot resolve"),
            "{}",
            v.finding.title
        );
    }

    #[test]
    fn a_refusal_names_the_key_files_the_agent_lacks() {
        let out = "debug1: Offering public key: server1 ED25519 SHA256:one agent\n\
                   root@10.0.0.2: Permission denied (publickey).\n";
        let keys = [
            ("/h/.ssh/server1", "SHA256:one"),
            ("/h/.ssh/server2", "SHA256:two"),
        ];
        let v = judge(&s1(), &req(&keys), &run(255, out), &["SHA256:one".into()]);
        assert_eq!(v.finding.id, "hop-key-rejected");
        assert!(v
            .finding
            .evidence
            .iter()
            .any(|e| e == "not in the agent: /h/.ssh/server2 SHA256:two"));
        assert_eq!(v.finding.fixes.len(), 1);
        assert_eq!(v.finding.fixes[0].id, FixId::SshAdd);
        assert_eq!(v.finding.fixes[0].command, "ssh-add /h/.ssh/server2");
    }

    #[test]
    fn no_ssh_on_server1_and_unknown_failures_are_hop_failed() {
        let v = judge(&s1(), &req(&[]), &run(127, "sh: 1: ssh: not found\n"), &[]);
        assert_eq!(v.finding.id, "hop-failed");
        assert!(v.finding.title.contains("no ssh client"));
        let timed = HopRun {
            timed_out: true,
            ..HopRun::default()
        };
        assert_eq!(
            judge(&s1(), &req(&[]), &timed, &[]).finding.id,
            "hop-unreachable"
        );
    }
}

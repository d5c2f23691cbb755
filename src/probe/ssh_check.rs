//! The `ssh-check` stage: the user's own ssh, run once as the user would, as a second opinion.
//!
//! sshdoctor's verdicts are only worth what OpenSSH agrees with, so where `ssh` is installed
//! the probe ends by running it against the same target, the same way (`-F`, `-p`, `-l`, `-i`
//! as given), with `-v` and no remote command (`-N`), and stops it as soon as it prints
//! `Authenticated to`. It must write nothing and ask nothing, which these options ensure
//! (command-line options come first, so they win over any config line):
//!
//! - `BatchMode=yes`: no passphrase, password or host-key prompt (a stop where ssh would have
//!   asked is reported as that, [`super::diagnose::ssh_needs_input`], not as a disagreement).
//! - `StrictHostKeyChecking=yes`, `UpdateHostKeys=no`, `CheckHostIP=no`: known_hosts is only
//!   read. `yes` is what `ask` (ssh's default) amounts to in BatchMode, and an unknown or
//!   changed key is an error in the probe too, so the verdict does not change; an
//!   `accept-new` or `no` in the config would have written a key or logged in past a changed
//!   one, which the probe reports as a problem either way.
//! - `ControlMaster=no`, `ControlPath=none`: no multiplexing socket made or reused (a reused
//!   master would say nothing about a fresh login).
//! - `ClearAllForwardings=yes`, `PermitLocalCommand=no`: no listening sockets, no local command.
//!
//! Where ssh would read another home: ssh takes `~` from the password database, not from
//! `$HOME`, while sshdoctor treats `$HOME` as the home (as in `config`). When the two agree,
//! ssh runs exactly as the user's would, reading its own files. When they differ (sudo keeping
//! HOME, the tests), ssh gets the config file the probe read (`-F`, as `config::effective`
//! gives `ssh -G`) and the resolved IdentityFile and known_hosts files explicitly, so it never
//! falls back to the other home's defaults; only a `~` written inside that config would still
//! point there, as it would for the user's real ssh. A ProxyJump hop is reached by the ssh that
//! ssh itself starts, which gets the same `-F` but not the explicit files: its keys are the
//! config's (as with the user's own ssh).
//!
//! The run is bounded: `ConnectTimeout` is the probe's `--timeout`, and the whole run is killed
//! at three times that (connection, key exchange and authentication each get one).

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::diagnose::{self, Target};
use super::ssh_verbose::{self, SshLog};
use crate::finding::{shell_quote, Finding, Severity};

/// The ssh command the cross-check runs, built by `probe::setup` from the request and the
/// effective config. The password is never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossCheck {
    pub program: OsString,
    pub args: Vec<String>,
}

impl CrossCheck {
    /// The command as a person would type it (shown as evidence).
    pub fn shown(&self) -> String {
        std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(self.args.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What the command line asked, as ssh would get it.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The host as typed (an alias works: ssh applies its config to it).
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// `-i` files, in order.
    pub identity_files: Vec<PathBuf>,
    /// `-F FILE`, or the probe's config when ssh would read another home's.
    pub config_file: Option<PathBuf>,
    /// IdentityFile lines to pass explicitly (the other-home case): replaces `-i`.
    pub explicit_identities: Option<Vec<PathBuf>>,
    /// UserKnownHostsFile / GlobalKnownHostsFile to pass (empty list: `none` / `/dev/null`);
    /// `None` leaves ssh's own.
    pub user_known_hosts: Option<Vec<PathBuf>>,
    pub global_known_hosts: Option<Vec<PathBuf>>,
    pub timeout: Duration,
}

/// A list of paths as one ssh option value: each quoted when it holds a space.
fn path_list(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| {
            let s = f.display().to_string();
            if s.contains(char::is_whitespace) {
                format!("\"{s}\"")
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The argument list for [`Invocation`] (see the module doc for why each option).
pub fn command(inv: &Invocation, program: OsString) -> CrossCheck {
    let secs = inv.timeout.as_secs_f64().ceil().max(1.0) as u64;
    let mut args: Vec<String> = vec!["-v".into()];
    for o in [
        "BatchMode=yes",
        "StrictHostKeyChecking=yes",
        "UpdateHostKeys=no",
        "CheckHostIP=no",
        "ControlMaster=no",
        "ControlPath=none",
        "ClearAllForwardings=yes",
        "PermitLocalCommand=no",
    ] {
        args.push("-o".into());
        args.push(o.into());
    }
    args.push("-o".into());
    args.push(format!("ConnectTimeout={secs}"));
    if let Some(files) = &inv.user_known_hosts {
        args.push("-o".into());
        args.push(if files.is_empty() {
            "UserKnownHostsFile=none".into()
        } else {
            format!("UserKnownHostsFile={}", path_list(files))
        });
    }
    if let Some(files) = &inv.global_known_hosts {
        args.push("-o".into());
        args.push(if files.is_empty() {
            "GlobalKnownHostsFile=/dev/null".into()
        } else {
            format!("GlobalKnownHostsFile={}", path_list(files))
        });
    }
    if let Some(f) = &inv.config_file {
        args.push("-F".into());
        args.push(f.display().to_string());
    }
    if let Some(p) = inv.port {
        args.push("-p".into());
        args.push(p.to_string());
    }
    if let Some(u) = &inv.user {
        args.push("-l".into());
        args.push(u.clone());
    }
    match &inv.explicit_identities {
        Some(files) => {
            for f in files {
                args.push("-o".into());
                args.push(format!(
                    "IdentityFile={}",
                    path_list(std::slice::from_ref(f))
                ));
            }
        }
        None => {
            for f in &inv.identity_files {
                args.push("-i".into());
                args.push(f.display().to_string());
            }
        }
    }
    args.push("-N".into());
    args.push("--".into());
    args.push(inv.host.clone());
    CrossCheck { program, args }
}

/// How the run of ssh ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It printed `Authenticated to`, and was stopped there.
    Authenticated,
    /// It exited by itself (a failure: with `-N` ssh does not end after a login).
    Exited(Option<i32>),
    /// Still running at the bound; killed.
    TimedOut(Duration),
    /// It could not be started.
    NotRun(String),
}

/// ssh's output and how it ended.
#[derive(Debug, Clone)]
pub struct SshRun {
    pub log: SshLog,
    pub ended: Ended,
}

/// At most this many lines are kept from ssh (a `-v` login prints about 50).
const MAX_LINES: usize = 2000;

/// Runs the cross-check's ssh (blocking), stopping it at `Authenticated to` or at `bound`.
pub fn run(check: &CrossCheck, bound: Duration) -> SshRun {
    let mut child = match Command::new(&check.program)
        .args(&check.args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return SshRun {
                log: SshLog::default(),
                ended: Ended::NotRun(format!(
                    "cannot run {}: {e}",
                    check.program.to_string_lossy()
                )),
            }
        }
    };
    let (tx, rx) = mpsc::channel::<String>();
    if let Some(err) = child.stderr.take() {
        std::thread::spawn(move || {
            let mut r = BufReader::new(err);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    let start = Instant::now();
    let mut text = String::new();
    let mut count = 0usize;
    let mut exited: Option<Option<i32>> = None;
    let ended = loop {
        let left = bound.saturating_sub(start.elapsed());
        if left.is_zero() {
            break Ended::TimedOut(bound);
        }
        match rx.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok(line) => {
                let done = line.contains("Authenticated to ");
                if count < MAX_LINES {
                    text.push_str(&line);
                    count += 1;
                }
                if done {
                    break Ended::Authenticated;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // A ProxyCommand grandchild may hold stderr open after ssh ended.
                if exited.is_none() {
                    if let Ok(Some(st)) = child.try_wait() {
                        exited = Some(st.code());
                    }
                } else {
                    break Ended::Exited(exited.flatten());
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let code = match exited {
                    Some(c) => c,
                    None => wait_bounded(&mut child, bound.saturating_sub(start.elapsed())),
                };
                break Ended::Exited(code);
            }
        }
    };
    if !matches!(ended, Ended::Exited(_)) {
        let _ = child.kill();
    }
    let _ = child.wait();
    SshRun {
        log: ssh_verbose::parse(&text),
        ended,
    }
}

/// The exit code of a child whose output has ended, waiting at most `left`.
fn wait_bounded(child: &mut std::process::Child, left: Duration) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return st.code();
        }
        if t0.elapsed() >= left {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The stage's status and detail, and the finding when ssh and the probe disagree or ssh
/// stopped to ask. `probe_ok`: the probe found no error; `probe_prompted`: it used something
/// ssh in BatchMode cannot (a passphrase it asked for, a password).
pub fn judge(
    t: &Target,
    check: &CrossCheck,
    run: &SshRun,
    probe_ok: bool,
) -> (bool, String, Option<Finding>) {
    let shown = check.shown();
    let last = run
        .log
        .messages()
        .last()
        .map(crate::safe_text::printable)
        .unwrap_or_default();
    let ssh_findings = ssh_verbose::findings(&run.log, Some(t));
    let cause = ssh_findings
        .iter()
        .find(|f| f.severity == Severity::Error)
        .map(|f| format!("{} ({})", f.title, f.id));
    match (&run.ended, probe_ok) {
        (Ended::NotRun(why), _) => (true, format!("skipped: {why}"), None),
        (Ended::Authenticated, true) => (
            true,
            format!(
                "ssh agrees: {}",
                run.log.authenticated.as_deref().unwrap_or("Authenticated")
            ),
            None,
        ),
        (Ended::Authenticated, false) => (
            false,
            "ssh logs in, although sshdoctor found a problem".into(),
            Some(diagnose::ssh_disagrees(
                t,
                false,
                &shown,
                None,
                &evidence_lines(&run.log),
            )),
        ),
        (Ended::TimedOut(b), false) => (
            true,
            format!("ssh fails too: no login within {:.0} s", b.as_secs_f64()),
            None,
        ),
        (Ended::Exited(_), false) => (true, format!("ssh fails too: {last}"), None),
        (ended, true) => {
            if let Some(what) = run.log.needs_input() {
                return (
                    true,
                    format!("ssh would ask first: {what}"),
                    Some(diagnose::ssh_needs_input(t, &what, &shown)),
                );
            }
            let detail = match ended {
                Ended::TimedOut(b) => {
                    format!("ssh had not logged in after {:.0} s", b.as_secs_f64())
                }
                _ => format!("ssh fails: {last}"),
            };
            let mut lines = evidence_lines(&run.log);
            if let Ended::TimedOut(b) = ended {
                lines.push(format!(
                    "(no login within {:.0} s; stopped)",
                    b.as_secs_f64()
                ));
            }
            (
                false,
                detail,
                Some(diagnose::ssh_disagrees(
                    t,
                    true,
                    &shown,
                    cause.as_deref(),
                    &lines,
                )),
            )
        }
    }
}

/// The lines of ssh's output worth quoting: its own messages (not the debug chatter), plus the
/// debug lines that say which keys it offered and what the server answered; the last 15.
fn evidence_lines(log: &SshLog) -> Vec<String> {
    let keep = |l: &str| {
        !l.starts_with("debug")
            && !l.starts_with("OpenSSH_")
            && !l.starts_with("Transferred:")
            && !l.starts_with("Bytes per second")
            || [
                "Offering public key",
                "Server accepts key",
                "Authentications that can continue",
                "no mutual signature",
                "Skipping ",
                "not in PubkeyAcceptedAlgorithms",
                "Reading configuration data",
            ]
            .iter()
            .any(|n| l.contains(n))
    };
    let v: Vec<String> = log.lines.iter().filter(|l| keep(l)).cloned().collect();
    let skip = v.len().saturating_sub(15);
    v.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Invocation {
        Invocation {
            host: "web".into(),
            port: Some(2222),
            user: Some("root".into()),
            identity_files: vec![PathBuf::from("/k/id")],
            timeout: Duration::from_millis(2500),
            ..Invocation::default()
        }
    }

    #[test]
    fn the_command_writes_nothing_and_asks_nothing() {
        let c = command(&inv(), "ssh".into());
        let s = c.shown();
        for o in [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "UpdateHostKeys=no",
            "ControlMaster=no",
            "ControlPath=none",
            "ConnectTimeout=3",
        ] {
            assert!(s.contains(o), "{s}");
        }
        assert!(s.ends_with("-p 2222 -l root -i /k/id -N -- web"), "{s}");
    }

    #[test]
    fn the_other_home_case_names_every_file() {
        let mut i = inv();
        i.config_file = Some(PathBuf::from("/h/.ssh/config"));
        i.explicit_identities = Some(vec![PathBuf::from("/h/my keys/id")]);
        i.user_known_hosts = Some(vec![PathBuf::from("/h/.ssh/known_hosts")]);
        i.global_known_hosts = Some(vec![]);
        let c = command(&i, "ssh".into());
        assert!(c
            .args
            .contains(&"IdentityFile=\"/h/my keys/id\"".to_string()));
        assert!(!c.args.contains(&"-i".to_string()));
        assert!(c
            .args
            .contains(&"UserKnownHostsFile=/h/.ssh/known_hosts".to_string()));
        assert!(c
            .args
            .contains(&"GlobalKnownHostsFile=/dev/null".to_string()));
        assert!(c.shown().contains("-F /h/.ssh/config"));
    }

    fn t() -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: 2222,
            user: "root".into(),
            display: "root@127.0.0.1:2222".into(),
        }
    }

    fn ran(text: &str, ended: Ended) -> SshRun {
        SshRun {
            log: ssh_verbose::parse(text),
            ended,
        }
    }

    #[test]
    fn agreement_and_disagreement() {
        let c = command(&inv(), "ssh".into());
        let ok = ran(
            "Authenticated to 127.0.0.1 ([127.0.0.1]:2222) using \"publickey\".\n",
            Ended::Authenticated,
        );
        let denied = ran(
            "Load key \"/k/id\": error in libcrypto\nroot@127.0.0.1: Permission denied (publickey).\n",
            Ended::Exited(Some(255)),
        );
        assert!(judge(&t(), &c, &ok, true).2.is_none());
        let (good, _, f) = judge(&t(), &c, &denied, true);
        let f = f.expect("finding");
        assert!(!good);
        assert_eq!(
            (f.id.as_str(), f.severity),
            ("ssh-disagrees", Severity::Error)
        );
        assert!(f.evidence.iter().any(|e| e.contains("error in libcrypto")));
        assert!(f.evidence.iter().any(|e| e.contains("key-format-damaged")));
        let (_, _, f) = judge(&t(), &c, &ok, false);
        assert_eq!(f.expect("finding").severity, Severity::Warning);
        let (good, detail, f) = judge(&t(), &c, &denied, false);
        assert!(good && f.is_none(), "{detail}");
    }

    #[test]
    fn a_prompt_ssh_would_show_is_not_a_disagreement() {
        let c = command(&inv(), "ssh".into());
        let r = ran(
            "debug1: Server accepts key: /k/enc ED25519 SHA256:x explicit\nroot@127.0.0.1: Permission denied (publickey).\n",
            Ended::Exited(Some(255)),
        );
        let (good, _, f) = judge(&t(), &c, &r, true);
        assert!(good);
        assert_eq!(f.expect("finding").id, "ssh-needs-input");
    }

    #[test]
    fn a_run_is_stopped_at_its_bound() {
        let c = CrossCheck {
            program: "sh".into(),
            args: vec!["-c".into(), "echo started >&2; sleep 30".into()],
        };
        let t0 = Instant::now();
        let r = run(&c, Duration::from_millis(300));
        assert!(matches!(r.ended, Ended::TimedOut(_)));
        assert!(t0.elapsed() < Duration::from_secs(20));
        assert_eq!(r.log.lines, ["started"]);
        let c = CrossCheck {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "echo 'Authenticated to h ([h]:1) using \"publickey\".' >&2; sleep 30".into(),
            ],
        };
        let r = run(&c, Duration::from_secs(60));
        assert_eq!(r.ended, Ended::Authenticated);
        assert!(t0.elapsed() < Duration::from_secs(40));
    }
}

//! The agent module against a real `ssh-agent` started for each test in a temp dir, compared with
//! what `ssh-add -l` says. SSH_AUTH_SOCK is set only on the ssh-add child processes; the test
//! process's environment is never touched.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::agent::Agent;

use sshdoctor::agent::{findings, status, status_with_timeout, AgentStatus, UnreachableReason};
use sshdoctor::finding::Severity;

fn keygen(dir: &Path, name: &str, ty: &str, bits: Option<&str>, comment: &str) -> PathBuf {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", ty, "-N", "", "-C", comment, "-f"])
        .arg(&path);
    if let Some(b) = bits {
        cmd.args(["-b", b]);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// `ssh-add -l` lines as (fingerprint, comment, type).
fn ssh_add_list(agent: &Agent) -> Vec<(String, String, String)> {
    let out = agent.ssh_add(&[Path::new("-l")]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (_bits, rest) = l.split_once(' ')?;
            let (fp, rest) = rest.split_once(' ')?;
            let (comment, ty) = rest.rsplit_once(" (")?;
            Some((
                fp.to_string(),
                comment.to_string(),
                ty.trim_end_matches(')').to_string(),
            ))
        })
        .collect()
}

#[test]
fn identities_match_ssh_add_list() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(dir.path());
    let ed = keygen(dir.path(), "k_ed", "ed25519", None, "ed key with spaces");
    let ec = keygen(dir.path(), "k_ec", "ecdsa", Some("256"), "ec@host");
    let rsa = keygen(dir.path(), "k_rsa", "rsa", Some("2048"), "rsa@host");
    let added = agent.ssh_add(&[&ed, &ec, &rsa]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    let expected = ssh_add_list(&agent);
    assert_eq!(expected.len(), 3, "ssh-add -l lists the three keys");
    let st = status(Some(&agent.sock));
    let AgentStatus::Running { socket, identities } = &st else {
        panic!("agent should be running: {st:?}");
    };
    assert_eq!(socket, &agent.sock);
    let ours: Vec<(String, String, String)> = identities
        .iter()
        .map(|i| (i.fingerprint.clone(), i.comment.clone(), i.key_type.clone()))
        .collect();
    assert_eq!(
        ours, expected,
        "same keys, order, types and comments as ssh-add -l"
    );
    assert!(
        findings(&st).is_empty(),
        "a working agent with keys is fine"
    );

    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["state"], "running");
    assert_eq!(json["identities"][0]["key_type"], "ED25519");
    assert!(json["identities"][0].get("public_key").is_none());
}

#[test]
fn an_empty_agent_is_running_with_an_info_finding() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(dir.path());
    let listed = agent.ssh_add(&[Path::new("-l")]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("The agent has no identities."));
    let st = status(Some(&agent.sock));
    assert!(matches!(&st, AgentStatus::Running { identities, .. } if identities.is_empty()));
    let f = findings(&st);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].id, "agent-empty");
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(f[0].fixes[0].command, "ssh-add");
}

#[test]
fn a_killed_agent_leaves_a_stale_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("stale.sock");
    // Bind and drop: the socket file stays, nobody listens, as after an agent was SIGKILLed.
    drop(UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let ssh_add = Command::new("ssh-add")
        .arg("-l")
        .env("SSH_AUTH_SOCK", &sock)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!ssh_add.status.success(), "ssh-add cannot use it either");

    let st = status(Some(&sock));
    let AgentStatus::Unreachable { reason, error, .. } = &st else {
        panic!("stale socket must be unreachable: {st:?}");
    };
    assert_eq!(*reason, UnreachableReason::Refused);
    assert!(error.contains("refused"), "{error}");
    let f = findings(&st);
    assert_eq!(f[0].id, "agent-not-running");
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].title.contains("no longer running"));
    assert!(f[0].evidence[0].contains(&sock.display().to_string()));
    assert_eq!(f[0].fixes[0].command, "eval \"$(ssh-agent -s)\" && ssh-add");
    assert!(f[0]
        .fixes
        .iter()
        .any(|x| x.destructive && x.command.starts_with("rm -f ")));
}

#[test]
fn a_stopped_agent_reports_its_socket_as_gone() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(dir.path());
    let sock = agent.sock.clone();
    drop(agent); // ssh-agent removes its socket on SIGTERM
    assert!(
        !sock.exists(),
        "ssh-agent removed its socket when it stopped"
    );
    let st = status(Some(&sock));
    assert!(
        matches!(
            &st,
            AgentStatus::Unreachable {
                reason: UnreachableReason::Missing | UnreachableReason::Refused,
                ..
            }
        ),
        "{st:?}"
    );
    assert!(findings(&st)[0].title.contains("no longer running"));
}

#[test]
fn a_path_that_is_not_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    for (p, kind) in [(file.as_path(), "regular file"), (dir.path(), "directory")] {
        let st = status(Some(p));
        let AgentStatus::Unreachable { reason, error, .. } = &st else {
            panic!("{st:?}");
        };
        assert_eq!(*reason, UnreachableReason::NotASocket);
        assert!(error.contains(kind), "{error}");
        assert!(findings(&st)[0].title.contains("not point to a socket"));
    }
}

#[test]
fn a_hung_agent_times_out_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("hung.sock");
    // Listening but never accepting: connect succeeds, no answer ever comes.
    let _listener = UnixListener::bind(&sock).unwrap();
    let start = Instant::now();
    let st = status_with_timeout(Some(&sock), Duration::from_millis(200));
    // The 200 ms timeout bounds the wait; a wide factor for a loaded machine.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let AgentStatus::Unreachable { reason, .. } = &st else {
        panic!("{st:?}");
    };
    assert_eq!(*reason, UnreachableReason::Timeout);
    assert!(findings(&st)[0].title.contains("does not answer"));
}

#[test]
fn a_peer_that_hangs_up_is_not_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("closer.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let t = std::thread::spawn(move || {
        if let Ok((conn, _)) = listener.accept() {
            drop(conn);
        }
    });
    let st = status_with_timeout(Some(&sock), Duration::from_secs(2));
    let _ = t.join();
    assert!(
        matches!(
            &st,
            AgentStatus::Unreachable {
                reason: UnreachableReason::Protocol | UnreachableReason::Io,
                ..
            }
        ),
        "{st:?}"
    );
}

#[test]
fn unset_variable_means_no_agent() {
    assert_eq!(status(None), AgentStatus::NotSet);
    assert_eq!(status(Some(Path::new(""))), AgentStatus::NotSet);
    let f = findings(&AgentStatus::NotSet);
    assert_eq!(f[0].id, "agent-not-running");
    assert_eq!(f[0].evidence, ["SSH_AUTH_SOCK is not set"]);
    assert!(f[0].explanation.contains("passphrase"));
    assert_eq!(
        serde_json::to_value(AgentStatus::NotSet).unwrap()["state"],
        "not-set"
    );
}

#[test]
fn a_missing_path_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let st = status(Some(&dir.path().join("nope")));
    assert!(matches!(
        st,
        AgentStatus::Unreachable {
            reason: UnreachableReason::Missing,
            ..
        }
    ));
}

/// Issue 13: certificates in the agent (ssh-add loads `KEY-cert.pub` with `KEY`) are listed with
/// what they say, as `ssh-keygen -L` reads them, and an expired one is named: ssh offers it
/// before the plain key and servers refuse it. A valid one is not a finding.
#[test]
fn certificates_in_the_agent_are_listed_and_an_expired_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start_in(dir.path());
    let ca = keygen(dir.path(), "ca", "ed25519", None, "ca");
    for (name, validity) in [("old", "20200101:20200102"), ("new", "-1h:+30d")] {
        let key = keygen(dir.path(), name, "ed25519", None, name);
        let signed = Command::new("ssh-keygen")
            .args(["-q", "-s"])
            .arg(&ca)
            .args([
                "-I",
                &format!("{name}-id"),
                "-n",
                "alice,deploy",
                "-z",
                "42",
                "-V",
                validity,
            ])
            .arg(key.with_extension("pub"))
            .output()
            .expect("ssh-keygen -s");
        assert!(signed.status.success(), "{signed:?}");
        let added = agent.ssh_add(&[&key]);
        assert!(
            String::from_utf8_lossy(&added.stderr).contains("Certificate added"),
            "{added:?}"
        );
    }
    let listed = ssh_add_list(&agent);
    assert_eq!(
        listed.iter().filter(|l| l.2 == "ED25519-CERT").count(),
        2,
        "{listed:?}"
    );
    // What ssh-keygen -L says about the certificate in the agent (ssh-add -L gives it back).
    let dumped = agent.ssh_add(&[Path::new("-L")]);
    let cert_line = String::from_utf8_lossy(&dumped.stdout)
        .lines()
        .find(|l| l.starts_with("ssh-ed25519-cert-v01@openssh.com") && l.ends_with(" old"))
        .expect("the old certificate")
        .to_string();
    let cert_file = dir.path().join("dumped-cert.pub");
    std::fs::write(&cert_file, format!("{cert_line}\n")).unwrap();
    let l = Command::new("ssh-keygen")
        .arg("-L")
        .arg("-f")
        .arg(&cert_file)
        .output()
        .unwrap();
    let l = String::from_utf8_lossy(&l.stdout).to_string();
    assert!(
        l.contains("Key ID: \"old-id\"") && l.contains("Serial: 42"),
        "{l}"
    );

    let st = status(Some(&agent.sock));
    let AgentStatus::Running { identities, .. } = &st else {
        panic!("{st:?}")
    };
    let old = identities
        .iter()
        .find_map(|i| i.certificate.as_ref().filter(|c| c.key_id == "old-id"))
        .expect("the old certificate is listed");
    assert_eq!(old.serial, 42);
    assert_eq!(old.principals, ["alice", "deploy"]);
    assert!(l.contains("alice") && l.contains("deploy"), "{l}");
    assert!(
        old.valid_before < 1_600_000_000,
        "ended in January 2020: {}",
        old.valid_before
    );
    let f = findings(&st);
    let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["certificate-expired"], "{f:#?}");
    assert!(
        f[0].title.contains("the agent's certificate \"old-id\""),
        "{}",
        f[0].title
    );

    let json = serde_json::to_value(&st).unwrap();
    let certs: Vec<&serde_json::Value> = json["identities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i.get("certificate"))
        .collect();
    assert_eq!(certs.len(), 2, "{json:#}");
    assert_eq!(certs[0]["principals"][1], "deploy");
}

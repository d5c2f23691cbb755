//! Least surprise: the local commands never open a network connection, and the probe never
//! signs with a key or sends a password unless the user asked for that login test.
//!
//! Network silence is proven with `strace -f -e trace=connect` on the real binary (children such
//! as `ssh -G` included): no AF_INET/AF_INET6 connect may appear; unix sockets (the agent, nscd)
//! are fine. A positive control shows the same tracing does see the probe's TCP connect.
//! "Never signs" is proven with a real sshd's VERBOSE log: unsigned publickey queries are logged
//! as `Postponed publickey`, a signature as `Accepted publickey`.

use crate::support;

use crate::support::stage;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::agent::Agent;
use crate::support::run::Sshdoctor;
use crate::support::sshd::{keygen, Sshd};
use sshdoctor::probe::{LoginMode, ProbeReport, StageStatus};

/// `connect(` lines from `strace -f -e trace=connect` while sshdoctor runs `args` in `home`.
fn traced_connects(home: &Path, args: &[&str], agent: Option<&Path>) -> Vec<String> {
    let log = home.join(format!("strace-{}.log", args.join("_").replace('/', "_")));
    let log_arg = log.to_str().expect("utf-8 path");
    let mut run = Sshdoctor::under(
        home,
        &["strace", "-f", "-qq", "-e", "trace=connect", "-o", log_arg],
    )
    .args(args);
    if let Some(sock) = agent {
        run = run.agent(sock);
    }
    let status = run
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run strace (apt-get install strace; .ci/run installs it)");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.code().is_some(),
        "sshdoctor {args:?} was killed under strace: {text}"
    );
    text.lines()
        .filter(|l| l.contains("connect("))
        .map(str::to_string)
        .collect()
}

fn inet(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.contains("AF_INET") && !l.contains("AF_UNIX"))
        .collect()
}

/// A HOME with keys, a config, and a known_hosts naming real-looking hosts: enough that a
/// careless implementation might resolve or contact them.
fn fixture_home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let ssh = dir.path().join(".ssh");
    std::fs::create_dir_all(&ssh).expect("mkdir");
    keygen(&ssh, "id_ed25519", "ed25519", "");
    keygen(&ssh, "id_enc", "ed25519", "secret-pass");
    let host_key = std::fs::read_to_string(ssh.join("id_ed25519.pub")).expect("pub");
    let mut parts = host_key.split_whitespace();
    let (t, b) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    std::fs::write(
        ssh.join("known_hosts"),
        format!("example.org {t} {b}\n[10.0.0.1]:2222 {t} {b}\n"),
    )
    .expect("known_hosts");
    std::fs::write(
        ssh.join("config"),
        "Host web\n  HostName example.org\n  User deploy\n  IdentityFile ~/.ssh/id_enc\n",
    )
    .expect("config");
    dir
}

#[test]
fn local_commands_open_no_network_connection() {
    let home = fixture_home();
    let agent = Agent::start();
    agent.add(&home.path().join(".ssh/id_ed25519"));
    let cases: [&[&str]; 9] = [
        &[],
        &["check"],
        &["check", "web", "--json"],
        &["keys", "--json"],
        &["known-hosts", "list"],
        &["known-hosts", "find", "example.org"],
        &["config", "web"],
        &["agent", "--json"],
        &["check", "--json"],
    ];
    let mut unix_seen = false;
    for args in cases {
        let lines = traced_connects(home.path(), args, Some(&agent.sock));
        assert_eq!(
            inet(&lines),
            Vec::<&String>::new(),
            "sshdoctor {args:?} opened a network connection"
        );
        unix_seen |= lines
            .iter()
            .any(|l| l.contains("AF_UNIX") && l.contains("agent.sock"));
    }
    // The agent really was asked (over its unix socket): tracing worked and is not vacuous.
    assert!(
        unix_seen,
        "no connect to the agent's unix socket was traced"
    );
}

#[test]
fn the_tracing_does_see_a_tcp_connect_when_one_happens() {
    let home = fixture_home();
    // Held bound but not listening, so no test running alongside can be listening on it.
    let closed = support::sshd::refused_port();
    let port = closed.port;
    let lines = traced_connects(
        home.path(),
        &[
            "probe",
            &format!("root@127.0.0.1:{port}"),
            "-F",
            "/dev/null",
            "--timeout",
            "1",
        ],
        None,
    );
    let inet = inet(&lines);
    assert!(
        inet.iter()
            .any(|l| l.contains(&format!("sin_port=htons({port})"))),
        "{lines:#?}"
    );
}

fn run_probe(
    server: &Sshd,
    identities: Vec<sshdoctor::probe::Identity>,
    login: LoginMode,
) -> ProbeReport {
    let known = support::sshd::fingerprint(&server.host_key_pub());
    let mut o = support::probe_options(server.port, identities, Some(known));
    o.timeout = Duration::from_secs(5);
    o.login = login;
    support::probe(o)
}

/// Lines of the sshd log about authentication attempts.
fn auth_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("publickey") || l.contains("password") || l.contains("keyboard-interactive")
        })
        .collect()
}

/// Encrypted keys and no way to ask for a passphrase: the probe learns which key the server
/// accepts from unsigned queries only. sshd logs `Postponed publickey` (a query), never
/// `Accepted publickey` (a signature), and no password attempt although the server offers it.
#[test]
fn encrypted_keys_without_a_prompt_are_only_queried_never_signed() {
    let server = Sshd::builder().password_auth().start();
    let dir = tempfile::tempdir().expect("tempdir");
    let other = keygen(dir.path(), "other", "ed25519", "pass-one");
    let right = keygen(dir.path(), "right", "ed25519", "pass-two");
    server.authorize(&right.with_extension("pub"));

    let r = run_probe(
        &server,
        vec![
            support::identity(&other, true),
            support::identity(&right, true),
        ],
        LoginMode::WithKey,
    );
    assert_eq!(stage(&r, "keys"), StageStatus::Ok, "{:#?}", r.stages);
    assert_eq!(stage(&r, "login"), StageStatus::Skipped, "{:#?}", r.stages);
    assert!(
        r.findings.iter().any(|f| f.id == "encrypted-key-no-agent"),
        "{:#?}",
        r.findings
    );

    // The log is written asynchronously: wait for sshd's line about the query.
    let log = server.wait_log("Postponed publickey for root");
    let lines = auth_lines(&log);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Postponed publickey for root")),
        "{log}"
    );
    for l in &lines {
        assert!(!l.contains("Accepted publickey"), "signed: {l}");
        assert!(!l.contains("password for"), "password attempt: {l}");
        assert!(!l.contains("keyboard-interactive"), "kbd-int attempt: {l}");
    }
    // (`Accepted key ... found at authorized_keys:1` is sshd answering the query, not a login.)
    assert!(!log.contains("Accepted publickey"), "{log}");
}

/// `LoginMode::Skip` (the dashboard before the user asks for a login test): even an
/// unencrypted, accepted key is only queried.
#[test]
fn skip_mode_never_signs_even_with_an_unencrypted_key() {
    let server = Sshd::builder().password_auth().start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keygen(dir.path(), "plain", "ed25519", "");
    server.authorize(&key.with_extension("pub"));

    let r = run_probe(
        &server,
        vec![support::identity(&key, false)],
        LoginMode::Skip,
    );
    assert_eq!(stage(&r, "keys"), StageStatus::Ok);
    assert_eq!(stage(&r, "login"), StageStatus::Skipped);
    let log = server.wait_log("Postponed publickey for root");
    assert!(log.contains("Postponed publickey for root"), "{log}");
    assert!(!log.contains("Accepted publickey"), "{log}");
    assert!(!log.contains("password for"), "{log}");

    // And the control: WithKey, which is the user asking for the login test, does sign.
    let r = run_probe(
        &server,
        vec![support::identity(&key, false)],
        LoginMode::WithKey,
    );
    assert_eq!(stage(&r, "login"), StageStatus::Ok, "{:#?}", r.stages);
    assert!(server
        .wait_log("Accepted publickey for root")
        .contains("Accepted publickey for root"));
}

//! ProxyJump against real OpenSSH on 127.0.0.1: two (or three) sshd instances, a config file with
//! `ProxyJump root@127.0.0.1:JUMP_PORT`, and each time the real `ssh -F that-config target true`
//! first, then the probe on the same config, compared on finding ids, evidence and exit codes.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::run::Sshdoctor;
use crate::support::sshd::{self, Sshd};
use crate::support::{finding, ids, ssh_says, stage, stderr};
use sshdoctor::paths::SshPaths;
use sshdoctor::probe::{self, setup, LoginMode, ProbeReport, StageStatus};

/// A temp HOME with one key, a known_hosts file and an ssh config naming everything explicitly
/// (ssh expands `~` from the password database, not from HOME, so nothing may rely on `~`).
struct Lab {
    home: tempfile::TempDir,
    key: PathBuf,
    known_hosts: PathBuf,
    config: PathBuf,
}

impl Lab {
    /// `Host target` behind `ProxyJump JUMPS`; every host uses the one key and known_hosts.
    fn new(target_port: u16, jumps: &str) -> Lab {
        let home = tempfile::tempdir().expect("tempdir");
        let key = sshd::keygen(home.path(), "id_ed25519", "ed25519", "");
        let known_hosts = home.path().join("known_hosts");
        std::fs::write(&known_hosts, "").expect("write known_hosts");
        let config = home.path().join("ssh_config");
        std::fs::write(
            &config,
            format!(
                "Host target\n  HostName 127.0.0.1\n  Port {target_port}\n  User root\n  \
                 ProxyJump {jumps}\n\
                 Host *\n  IdentityFile {key}\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  \
                 BatchMode yes\n  ConnectTimeout 15\n",
                key = key.display(),
                kh = known_hosts.display(),
            ),
        )
        .expect("write config");
        Lab {
            home,
            key,
            known_hosts,
            config,
        }
    }

    fn trust(&self, servers: &[&Sshd]) {
        let lines: String = servers.iter().map(|s| s.known_hosts_line()).collect();
        std::fs::write(&self.known_hosts, lines).expect("write known_hosts");
    }

    fn pubkey(&self) -> PathBuf {
        self.key.with_extension("pub")
    }

    /// The oracle: `ssh -F CONFIG target true`, no agent, HOME in the lab.
    fn ssh(&self) -> Output {
        Command::new("ssh")
            .arg("-F")
            .arg(&self.config)
            .args(["target", "true"])
            .env("HOME", self.home.path())
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// The probe on the same config, built the way the CLI and the dashboard build it.
    fn probe(&self) -> ProbeReport {
        let req = setup::ProbeRequest {
            target: "target".into(),
            config_file: Some(self.config.clone()),
            timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let paths = SshPaths::with_home(self.home.path());
        let (opts, _) = setup::options(&req, &paths, LoginMode::WithKey).expect("options");
        crate::support::probe(opts)
    }
}

fn names(r: &ProbeReport) -> Vec<&str> {
    r.stages.iter().map(|s| s.stage.as_str()).collect()
}

fn one_hop_names() -> Vec<&'static str> {
    probe::JUMP_STAGES
        .iter()
        .chain(probe::STAGES.iter())
        .copied()
        .collect()
}

fn accepted(server: &Sshd) -> usize {
    server
        .log()
        .matches("Accepted publickey for root from 127.0.0.1")
        .count()
}

/// The `at jump host` evidence line for a jump sshd.
fn at(jump: &Sshd) -> String {
    format!("at jump host root@127.0.0.1 port {} (ProxyJump)", jump.port)
}

#[test]
fn login_through_the_jump_host_reaches_the_target_and_records_its_banner() {
    let jump = Sshd::start();
    let target = Sshd::start();
    let lab = Lab::new(target.port, &format!("root@127.0.0.1:{}", jump.port));
    jump.authorize(&lab.pubkey());
    target.authorize(&lab.pubkey());
    lab.trust(&[&jump, &target]);
    let out = lab.ssh();
    assert!(out.status.success(), "{}", stderr(&out));

    let r = lab.probe();
    assert_eq!(ids(&r), ["auth-ok"], "{:#?}", r.findings);
    assert_eq!(names(&r), one_hop_names());
    assert!(
        r.stages.iter().all(|s| s.status == StageStatus::Ok),
        "{:#?}",
        r.stages
    );
    // The server block describes the target, seen through the channel (the recording stream
    // read its identification line), not the jump host.
    assert_eq!(
        r.server.host_key_fingerprint,
        Some(sshd::fingerprint(&target.host_key_pub()))
    );
    assert!(r
        .server
        .banner
        .as_deref()
        .is_some_and(|b| b.starts_with("SSH-2.0-OpenSSH_")));
    assert_eq!(r.target.port, target.port);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Clean);
    // Both logins were real ones, as each sshd sees them: one by ssh, one by the probe.
    assert_eq!(accepted(&jump), 2, "{}", jump.log());
    assert_eq!(accepted(&target), 2, "{}", target.log());

    // The binary with -F: same stages in the JSON, exit 0.
    let out = Sshdoctor::new(lab.home.path())
        .args(["probe", "target", "-F"])
        .arg(&lab.config)
        .arg("--json")
        .output();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let stages: Vec<&str> = v["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["stage"].as_str())
        .collect();
    // The eight of each host, then the user's own ssh through the same ProxyJump, agreeing.
    let mut expected = one_hop_names();
    expected.push(probe::CROSS_CHECK_STAGE);
    assert_eq!(stages, expected);
    assert_eq!(v["stages"][16]["status"], "ok", "{v:#}");
    assert_eq!(v["target"]["port"], target.port);
}

#[test]
fn jump_host_without_tcp_forwarding_is_jump_forwarding_refused() {
    let jump = Sshd::builder().line("AllowTcpForwarding no").start();
    let target = Sshd::start();
    let lab = Lab::new(target.port, &format!("root@127.0.0.1:{}", jump.port));
    jump.authorize(&lab.pubkey());
    target.authorize(&lab.pubkey());
    lab.trust(&[&jump, &target]);
    let out = lab.ssh();
    let err = stderr(&out);
    assert!(
        err.contains("channel 0: open failed: administratively prohibited: open failed"),
        "{err}"
    );
    assert!(!out.status.success());

    let r = lab.probe();
    assert_eq!(ids(&r), ["jump-forwarding-refused"], "{:#?}", r.findings);
    let f = finding(&r, "jump-forwarding-refused");
    // The server's reason, word for word as ssh prints it.
    let answer = f.evidence[0]
        .strip_prefix("jump host answered: ")
        .expect("answer");
    assert!(err.contains(&format!("open failed: {answer}")), "{answer}");
    assert!(f.fixes[0].title.contains("AllowTcpForwarding yes"));
    assert_eq!(stage(&r, "jump:login"), StageStatus::Ok);
    assert_eq!(stage(&r, "connect"), StageStatus::Fail);
    assert_eq!(stage(&r, "banner"), StageStatus::Skipped);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
    assert_eq!(accepted(&target), 0, "{}", target.log());
}

#[test]
fn target_down_behind_the_jump_is_jump_forwarding_refused_with_connect_failed() {
    let jump = Sshd::start();
    let closed_guard = sshd::refused_port();
    let closed = closed_guard.port;
    let lab = Lab::new(closed, &format!("root@127.0.0.1:{}", jump.port));
    jump.authorize(&lab.pubkey());
    lab.trust(&[&jump]);
    let out = lab.ssh();
    let err = stderr(&out);
    assert!(
        err.contains("channel 0: open failed: connect failed: Connection refused"),
        "{err}"
    );

    let r = lab.probe();
    assert_eq!(ids(&r), ["jump-forwarding-refused"], "{:#?}", r.findings);
    let f = finding(&r, "jump-forwarding-refused");
    assert_eq!(
        f.evidence[0],
        "jump host answered: connect failed: Connection refused"
    );
    assert_eq!(
        f.fixes[0].command,
        format!(
            "ssh -p {} root@127.0.0.1 'nc -vz -w 5 127.0.0.1 {closed}'",
            jump.port
        )
    );
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

#[test]
fn changed_jump_host_key_stops_before_any_key_is_offered_anywhere() {
    let jump = Sshd::start();
    let target = Sshd::start();
    let lab = Lab::new(target.port, &format!("root@127.0.0.1:{}", jump.port));
    jump.authorize(&lab.pubkey());
    target.authorize(&lab.pubkey());
    // known_hosts holds another key for the jump host, the right one for the target.
    let other = sshd::keygen(lab.home.path(), "other_host", "ed25519", "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("read");
    let mut w = other_pub.split_whitespace();
    let line = format!(
        "[127.0.0.1]:{} {} {}\n",
        jump.port,
        w.next().unwrap_or_default(),
        w.next().unwrap_or_default()
    );
    std::fs::write(&lab.known_hosts, line + &target.known_hosts_line()).expect("write");
    let out = lab.ssh();
    let err = stderr(&out);
    assert!(
        err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "Offending ED25519 key in {}:1",
            lab.known_hosts.display()
        )),
        "{err}"
    );

    let r = lab.probe();
    assert_eq!(ids(&r), ["jump-host-key-changed"], "{:#?}", r.findings);
    let f = finding(&r, "jump-host-key-changed");
    assert_eq!(f.evidence[0], format!("{}:1", lab.known_hosts.display()));
    assert!(f.evidence.contains(&format!(
        "server now shows: {} (ssh-ed25519)",
        sshd::fingerprint(&jump.host_key_pub())
    )));
    assert!(f.evidence.contains(&at(&jump)));
    assert!(
        f.title.starts_with("At jump host 127.0.0.1: "),
        "{}",
        f.title
    );
    // ssh's own "remove with:" command, for the jump host's entry.
    assert_eq!(
        f.fixes[0].command,
        format!(
            "ssh-keygen -f {} -R '[127.0.0.1]:{}'",
            lab.known_hosts.display(),
            jump.port
        )
    );
    assert_eq!(stage(&r, "jump:host-key"), StageStatus::Fail);
    for s in probe::STAGES {
        assert_eq!(stage(&r, s), StageStatus::Skipped, "{s}");
    }
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
    assert!(!jump.log().contains("publickey for root"), "{}", jump.log());
    assert!(!target.log().contains("publickey for root"));
}

#[test]
fn unknown_jump_host_key_is_a_jump_warning_and_the_walk_goes_on() {
    let jump = Sshd::start();
    let target = Sshd::start();
    let lab = Lab::new(target.port, &format!("root@127.0.0.1:{}", jump.port));
    jump.authorize(&lab.pubkey());
    target.authorize(&lab.pubkey());
    lab.trust(&[&target]);
    let out = lab.ssh();
    ssh_says(&out, "Host key verification failed.");

    let r = lab.probe();
    assert_eq!(
        ids(&r),
        ["jump-host-key-unknown", "auth-ok"],
        "{:#?}",
        r.findings
    );
    let f = finding(&r, "jump-host-key-unknown");
    assert_eq!(
        f.evidence,
        [
            format!(
                "server's key: {} (ssh-ed25519)",
                sshd::fingerprint(&jump.host_key_pub())
            ),
            at(&jump)
        ]
    );
    assert_eq!(stage(&r, "login"), StageStatus::Ok);
}

#[test]
fn key_refused_by_the_jump_host_is_jump_key_rejected() {
    let jump = Sshd::start();
    let target = Sshd::start();
    let lab = Lab::new(target.port, &format!("root@127.0.0.1:{}", jump.port));
    target.authorize(&lab.pubkey());
    lab.trust(&[&jump, &target]);
    let out = lab.ssh();
    ssh_says(&out, "root@127.0.0.1: Permission denied (publickey).");
    assert!(jump.log().contains("Failed publickey for root"));

    let r = lab.probe();
    assert_eq!(ids(&r), ["jump-key-rejected"], "{:#?}", r.findings);
    let f = finding(&r, "jump-key-rejected");
    let fp = sshd::fingerprint(&lab.pubkey());
    assert_eq!(
        f.evidence,
        [
            format!("refused: {} {fp} (ssh-ed25519)", lab.key.display()),
            at(&jump)
        ]
    );
    // The fix installs the key on the jump host, not on the target; the jump host takes no
    // password (publickey only), so not with ssh-copy-id but on the jump host itself.
    assert_eq!(f.fixes[0].id, "append-authorized-key");
    assert!(
        f.fixes[0]
            .title
            .starts_with(&format!("127.0.0.1 port {} takes no password", jump.port)),
        "{}",
        f.fixes[0].title
    );
    assert_eq!(
        f.fixes[0].command,
        "sshdoctor fix append-authorized-key --pubkey id_ed25519.pub --user root"
    );
    assert_eq!(stage(&r, "jump:keys"), StageStatus::Fail);
    assert_eq!(stage(&r, "resolve"), StageStatus::Skipped);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

#[test]
fn key_refused_by_the_target_behind_a_good_jump_is_plain_key_rejected() {
    let jump = Sshd::start();
    let target = Sshd::start();
    let lab = Lab::new(target.port, &format!("root@127.0.0.1:{}", jump.port));
    jump.authorize(&lab.pubkey());
    lab.trust(&[&jump, &target]);
    let out = lab.ssh();
    ssh_says(&out, "root@127.0.0.1: Permission denied (publickey).");
    assert!(target.log().contains("Failed publickey for root"));

    let r = lab.probe();
    assert_eq!(ids(&r), ["key-rejected"], "{:#?}", r.findings);
    let fp = sshd::fingerprint(&lab.pubkey());
    assert_eq!(
        finding(&r, "key-rejected").evidence,
        [format!("refused: {} {fp} (ssh-ed25519)", lab.key.display())]
    );
    for s in probe::JUMP_STAGES {
        assert_eq!(stage(&r, s), StageStatus::Ok, "{s}");
    }
    assert_eq!(stage(&r, "keys"), StageStatus::Fail);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

#[test]
fn a_chain_of_two_jump_hosts_is_walked_in_order() {
    let first = Sshd::start();
    let second = Sshd::start();
    let target = Sshd::start();
    let lab = Lab::new(
        target.port,
        &format!(
            "root@127.0.0.1:{},root@127.0.0.1:{}",
            first.port, second.port
        ),
    );
    for s in [&first, &second, &target] {
        s.authorize(&lab.pubkey());
    }
    lab.trust(&[&first, &second, &target]);
    let out = lab.ssh();
    assert!(out.status.success(), "{}", stderr(&out));

    let r = lab.probe();
    assert_eq!(ids(&r), ["auth-ok"], "{:#?}", r.findings);
    let expected: Vec<&str> = probe::JUMP_STAGES
        .iter()
        .chain(probe::JUMP_STAGES.iter())
        .chain(probe::STAGES.iter())
        .copied()
        .collect();
    assert_eq!(names(&r), expected);
    assert!(r.stages.iter().all(|s| s.status == StageStatus::Ok));
    assert!(
        r.stages[8].detail.starts_with("hop 2 of 2: "),
        "{:?}",
        r.stages[8]
    );
    // Each host saw the probe's login once, after ssh's.
    for s in [&first, &second, &target] {
        assert_eq!(accepted(s), 2, "{}", s.log());
    }
}

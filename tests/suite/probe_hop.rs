//! Issue 14, `probe -A --hop HOST2`: the article's last step, from a first server to a second,
//! both real sshds on 127.0.0.1. The first server's login user is a test account whose home is a
//! temp dir of the test's (so the `ssh` run there reads that known_hosts, never the machine's
//! ~/.ssh); the local side is a temp HOME with the two key files and a private agent. Each case is
//! first run with real OpenSSH (`ssh -A server1 ssh -o BatchMode=yes HOST2 true`), then the probe.

use std::os::unix::fs::chown;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::support::agent::Agent;
use crate::support::run::{ids_of, text, Sshdoctor};
use crate::support::sshd::{self, Sshd};
use crate::support::user::TestUser;
use crate::support::{set_mode, stderr};

/// Two servers, a user on the first, and the local side (HOME, keys, agent). Fields drop in
/// order: the servers stop before the account goes.
struct Lab {
    server1: Sshd,
    server2: Sshd,
    agent: Agent,
    user: TestUser,
    _s1_home: tempfile::TempDir,
    local: tempfile::TempDir,
    key1: PathBuf,
    key2: PathBuf,
    /// The local known_hosts, holding server1's key.
    kh: PathBuf,
}

struct Case {
    /// server1's known_hosts (its user's own) holds server2's key.
    s1_knows_s2: bool,
    /// The agent holds server2's key as well as server1's.
    agent_has_key2: bool,
    /// sshd_config lines for server1.
    s1_lines: &'static [&'static str],
}

impl Lab {
    fn new(case: &Case) -> Lab {
        let local = tempfile::tempdir().expect("tempdir");
        let dot = local.path().join(".ssh");
        std::fs::create_dir(&dot).expect("mkdir .ssh");
        set_mode(&dot, 0o700);
        let key1 = sshd::keygen(&dot, "server1", "ed25519", "");
        let key2 = sshd::keygen(&dot, "server2", "ed25519", "");

        let s1_home = tempfile::tempdir().expect("tempdir");
        let user = TestUser::with_home(s1_home.path());
        let s1_dot = s1_home.path().join(".ssh");
        std::fs::create_dir(&s1_dot).expect("mkdir");
        std::fs::copy(key1.with_extension("pub"), s1_dot.join("authorized_keys"))
            .expect("authorized_keys");
        let mut builder = Sshd::builder().authorized_keys_file(".ssh/authorized_keys");
        for l in case.s1_lines {
            builder = builder.line(*l);
        }
        let server1 = builder.start();
        let server2 = Sshd::start();
        server2.authorize(&key2.with_extension("pub"));
        let s1_kh = if case.s1_knows_s2 {
            server2.known_hosts_line()
        } else {
            String::new()
        };
        std::fs::write(s1_dot.join("known_hosts"), s1_kh).expect("known_hosts");
        let uid = uid_of(&user.name);
        for p in [
            s1_home.path().to_path_buf(),
            s1_dot.clone(),
            s1_dot.join("authorized_keys"),
            s1_dot.join("known_hosts"),
        ] {
            chown(&p, Some(uid), None).expect("chown");
        }
        set_mode(s1_home.path(), 0o700);
        set_mode(&s1_dot, 0o700);

        let agent = Agent::start();
        agent.add(&key1);
        if case.agent_has_key2 {
            agent.add(&key2);
        }
        let kh = local.path().join("known_hosts");
        std::fs::write(&kh, server1.known_hosts_line()).expect("known_hosts");
        Lab {
            server1,
            server2,
            agent,
            user,
            _s1_home: s1_home,
            local,
            key1,
            key2,
            kh,
        }
    }

    fn server1_target(&self) -> String {
        format!("{}@127.0.0.1:{}", self.user.name, self.server1.port)
    }

    /// Real OpenSSH: `ssh -A server1 ssh -o BatchMode=yes -p PORT2 root@127.0.0.1 true`.
    fn real_ssh(&self, port2: u16) -> Output {
        Command::new("ssh")
            .args(["-A", "-F", "/dev/null", "-o"])
            .arg(format!("UserKnownHostsFile={}", self.kh.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-i",
            ])
            .arg(&self.key1)
            .args(["-p", &self.server1.port.to_string()])
            .arg(format!("{}@127.0.0.1", self.user.name))
            .args([
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=5",
                "-p",
                &port2.to_string(),
                "root@127.0.0.1",
                "true",
            ])
            .env("HOME", self.local.path())
            .env("SSH_AUTH_SOCK", &self.agent.sock)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// `sshdoctor probe USER@127.0.0.1:PORT1 -A --hop root@127.0.0.1:PORT2 --json`.
    fn probe(&self, port2: u16) -> (Option<i32>, serde_json::Value) {
        Sshdoctor::new(self.local.path())
            .args(["probe", &self.server1_target(), "--json", "-F", "/dev/null"])
            .arg("--known-hosts")
            .arg(&self.kh)
            .arg("-i")
            .arg(&self.key1)
            .args(["-A", "--no-cross-check", "--timeout", "5", "--hop"])
            .arg(format!("root@127.0.0.1:{port2}"))
            .agent(&self.agent.sock)
            .json()
    }
}

fn uid_of(name: &str) -> u32 {
    let out = Command::new("id").args(["-u", name]).output().expect("id");
    text(&out.stdout).trim().parse().expect("uid")
}

fn hop_stage(v: &serde_json::Value) -> serde_json::Value {
    v["stages"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["stage"] == "hop"))
        .cloned()
        .unwrap_or_else(|| panic!("no hop stage: {v:#}"))
}

fn finding<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == id))
        .unwrap_or_else(|| panic!("no {id}: {v:#}"))
}

const WORKS: Case = Case {
    s1_knows_s2: true,
    agent_has_key2: true,
    s1_lines: &[],
};

#[test]
fn the_hop_works_and_names_the_proxyjump_alternative() {
    let lab = Lab::new(&WORKS);
    let ssh = lab.real_ssh(lab.server2.port);
    assert!(ssh.status.success(), "real ssh: {}", stderr(&ssh));
    let (code, v) = lab.probe(lab.server2.port);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(hop_stage(&v)["status"], "ok", "{v:#}");
    let f = finding(&v, "hop-ok");
    assert_eq!(f["severity"], "info");
    let fix = f["fixes"].to_string();
    assert!(
        fix.contains(&format!(
            "ssh -J {} -p {} root@127.0.0.1",
            lab.server1_target(),
            lab.server2.port
        )),
        "{fix}"
    );
}

#[test]
fn an_unknown_host_key_on_server1_is_named_with_its_fingerprint() {
    let lab = Lab::new(&Case {
        s1_knows_s2: false,
        ..WORKS
    });
    let ssh = lab.real_ssh(lab.server2.port);
    assert!(!ssh.status.success());
    assert!(
        stderr(&ssh).contains("Host key verification failed."),
        "real ssh: {}",
        stderr(&ssh)
    );
    let (code, v) = lab.probe(lab.server2.port);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(hop_stage(&v)["status"], "fail", "{v:#}");
    let f = finding(&v, "hop-host-key-unknown");
    let fp = sshd::fingerprint(&lab.server2.host_key_pub());
    assert!(f["evidence"].to_string().contains(&fp), "{f:#}");
    let fix = &f["fixes"][0];
    assert_eq!(fix["id"], "hop-trust-host-key", "{f:#}");
    assert!(
        fix["command"]
            .as_str()
            .unwrap()
            .contains(&format!("ssh -p {} root@127.0.0.1", lab.server2.port)),
        "{fix}"
    );
}

#[test]
fn an_agent_without_server2s_key_names_the_file_to_ssh_add() {
    let lab = Lab::new(&Case {
        agent_has_key2: false,
        ..WORKS
    });
    let ssh = lab.real_ssh(lab.server2.port);
    assert!(
        stderr(&ssh).contains("Permission denied (publickey"),
        "real ssh: {}",
        stderr(&ssh)
    );
    let (code, v) = lab.probe(lab.server2.port);
    assert_eq!(code, Some(1), "{v:#}");
    let f = finding(&v, "hop-key-rejected");
    let ev = f["evidence"].to_string();
    let fp2 = sshd::fingerprint(&lab.key2.with_extension("pub"));
    assert!(
        ev.contains(&format!("not in the agent: {}", lab.key2.display())),
        "{f:#}"
    );
    assert!(ev.contains(&fp2), "{f:#}");
    let fixes = f["fixes"].as_array().unwrap();
    assert_eq!(fixes.len(), 1, "only the key the agent lacks: {f:#}");
    assert_eq!(fixes[0]["id"], "ssh-add");
    assert_eq!(
        fixes[0]["command"],
        format!("ssh-add {}", lab.key2.display()),
        "{f:#}"
    );
    // The fix works: with server2's key loaded, the same hop logs in.
    lab.agent.add(&lab.key2);
    let (code, v) = lab.probe(lab.server2.port);
    assert_eq!(code, Some(0), "{v:#}");
    assert!(ids_of(&v).contains(&"hop-ok".to_string()), "{v:#}");
}

#[test]
fn a_refused_port_on_server2_is_hop_unreachable() {
    let lab = Lab::new(&WORKS);
    let refused = sshd::refused_port();
    let ssh = lab.real_ssh(refused.port);
    assert!(
        stderr(&ssh).contains("Connection refused"),
        "real ssh: {}",
        stderr(&ssh)
    );
    let (code, v) = lab.probe(refused.port);
    assert_eq!(code, Some(1), "{v:#}");
    let f = finding(&v, "hop-unreachable");
    assert!(
        f["evidence"].to_string().contains("Connection refused"),
        "{f:#}"
    );
    assert_eq!(f["fixes"][0]["id"], "check-target-from-jump", "{f:#}");
}

/// Never onward when forwarding is refused: the stage is listed as not run, and server2 never
/// sees a connection.
#[test]
fn no_hop_when_server1_refuses_forwarding() {
    let lab = Lab::new(&Case {
        s1_lines: &["AllowAgentForwarding no"],
        ..WORKS
    });
    let (code, v) = lab.probe(lab.server2.port);
    assert_eq!(code, Some(1), "{v:#}");
    let st = hop_stage(&v);
    assert_eq!(st["status"], "skipped", "{v:#}");
    assert!(
        st["detail"]
            .as_str()
            .unwrap()
            .contains("refused agent forwarding"),
        "{st}"
    );
    assert!(!ids_of(&v).iter().any(|i| i.starts_with("hop-")), "{v:#}");
    assert!(
        !lab.server2.log().contains("Connection from"),
        "{}",
        lab.server2.log()
    );
}

#[test]
fn hop_without_forwarding_or_with_an_option_for_host2_is_bad_usage() {
    let home = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        Sshdoctor::new(home.path())
            .args(["probe", "root@127.0.0.1:1", "-F", "/dev/null"])
            .args(args)
            .output()
    };
    let out = run(&["--hop", "server2"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out.stderr).contains("needs -A"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["-A", "--hop=-oProxyCommand=touch /tmp/x"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = run(&["-A", "--hop=-oProxyCommand=x"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("'-'"), "{}", text(&out.stderr));
}

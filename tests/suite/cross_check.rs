//! The probe's last stage, `ssh-check`: the user's own ssh run once as a second opinion, against
//! real sshd on 127.0.0.1. Each case first shows what real ssh does, then that the probe's
//! verdict (exit code and finding ids) is the same with and without `--no-cross-check`, and
//! what the stage says; and that the run writes nothing and never reads the real ~/.ssh.

use std::path::{Path, PathBuf};

use crate::support::run::{ids_of, Sshdoctor};
use crate::support::ssh_says;
use crate::support::sshd::{self, Ssh, Sshd};

/// `sshdoctor probe ARGS --json`, with the cross-check on or off: exit code and report.
fn probe(home: &Path, args: &[&str], cross: bool) -> (i32, serde_json::Value) {
    let mut run = Sshdoctor::new(home).arg("probe").args(args).arg("--json");
    if !cross {
        run = run.arg("--no-cross-check");
    }
    let (code, v) = run.json();
    (code.unwrap_or(-1), v)
}

/// The `ssh-check` stage of a report, if there is one.
fn check_stage(v: &serde_json::Value) -> Option<serde_json::Value> {
    v["stages"]
        .as_array()?
        .iter()
        .find(|s| s["stage"] == "ssh-check")
        .cloned()
}

/// The finding ids the probe itself makes (without the cross-check's own).
fn probe_ids(v: &serde_json::Value) -> Vec<String> {
    ids_of(v)
        .into_iter()
        .filter(|i| i != "ssh-disagrees" && i != "ssh-needs-input")
        .collect()
}

struct Lab {
    home: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            home: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn path(&self) -> &Path {
        self.home.path()
    }
    fn key(&self, name: &str, passphrase: &str) -> PathBuf {
        sshd::keygen(self.path(), name, "ed25519", passphrase)
    }
    fn known_hosts(&self, content: &str) -> PathBuf {
        let p = self.path().join("known_hosts");
        std::fs::write(&p, content).expect("write known_hosts");
        p
    }
}

/// `root@127.0.0.1:PORT -i KEY --known-hosts KH`: the probe's arguments for a key login.
fn key_login(port: u16, key: &Path, kh: &Path) -> Vec<String> {
    vec![
        format!("root@127.0.0.1:{port}"),
        "-i".into(),
        key.display().to_string(),
        "--known-hosts".into(),
        kh.display().to_string(),
    ]
}

/// The same verdict with and without the cross-check; returns both reports.
fn both_ways(home: &Path, args: &[&str]) -> (i32, serde_json::Value, serde_json::Value) {
    let (with_code, with) = probe(home, args, true);
    let (without_code, without) = probe(home, args, false);
    assert_eq!(with_code, without_code, "{with:#}\n{without:#}");
    assert_eq!(
        probe_ids(&with),
        probe_ids(&without),
        "{with:#}\n{without:#}"
    );
    assert!(check_stage(&without).is_none(), "{without:#}");
    (with_code, with, without)
}

#[test]
fn a_working_login_is_confirmed_by_ssh_and_nothing_is_written() {
    let server = Sshd::start();
    let lab = Lab::new();
    let key = lab.key("id_ed25519", "");
    server.authorize(&key.with_extension("pub"));
    let kh = lab.known_hosts(&server.known_hosts_line());
    let out = Ssh::new(lab.path(), server.port, &kh).key(&key).run();
    assert!(out.status.success(), "{}", crate::support::stderr(&out));

    let before = std::fs::read(&kh).expect("read");
    let args = key_login(server.port, &key, &kh);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, with, _) = both_ways(lab.path(), &args);
    assert_eq!(code, 0, "{with:#}");
    assert_eq!(probe_ids(&with), ["auth-ok"]);
    let st = check_stage(&with).expect("ssh-check stage");
    assert_eq!(st["status"], "ok", "{st:#}");
    let detail = st["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("ssh agrees: Authenticated to 127.0.0.1"),
        "{detail}"
    );
    // ssh logged in for real: the test's own ssh, the probe twice, and the cross-check's ssh.
    let accepted = |log: &str| log.matches("Accepted publickey for root").count();
    let log = server.wait_log_until(|log| accepted(log) >= 4);
    assert_eq!(accepted(&log), 4, "{log}");
    // Nothing written: known_hosts as it was, no control socket, no file under the temp HOME
    // but the ones the test made.
    assert_eq!(std::fs::read(&kh).expect("read"), before);
    let mut names: Vec<String> = std::fs::read_dir(lab.path())
        .expect("read_dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["id_ed25519", "id_ed25519.pub", "known_hosts"]);
}

#[test]
fn an_unknown_host_is_a_question_for_ssh_and_known_hosts_stays_empty() {
    let server = Sshd::start();
    let lab = Lab::new();
    let key = lab.key("id_ed25519", "");
    server.authorize(&key.with_extension("pub"));
    let kh = lab.known_hosts("");
    let out = Ssh::new(lab.path(), server.port, &kh).key(&key).run();
    ssh_says(&out, "Host key verification failed.");

    let args = key_login(server.port, &key, &kh);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The probe warns and logs in; ssh run by hand would ask whether to trust the key: that
    // is a question, not a disagreement.
    let (code, with, _) = both_ways(lab.path(), &args);
    assert_eq!(code, 0, "{with:#}");
    assert!(
        probe_ids(&with).contains(&"host-key-unknown".to_string()),
        "{with:#}"
    );
    assert!(
        ids_of(&with).contains(&"ssh-needs-input".to_string()),
        "{with:#}"
    );
    let st = check_stage(&with).expect("ssh-check stage");
    assert_eq!(st["status"], "ok", "{st:#}");
    assert!(
        st["detail"]
            .as_str()
            .is_some_and(|d| d.contains("trust the server's host key")),
        "{st:#}"
    );
    // StrictHostKeyChecking=yes: ssh added nothing (accept-new would have).
    assert_eq!(std::fs::read(&kh).expect("read"), b"");
}

#[test]
fn a_refused_key_fails_in_both_with_ssh_s_line_in_the_stage() {
    let server = Sshd::start();
    let lab = Lab::new();
    let key = lab.key("id_ed25519", "");
    let kh = lab.known_hosts(&server.known_hosts_line());
    let out = Ssh::new(lab.path(), server.port, &kh).key(&key).run();
    ssh_says(&out, "Permission denied (publickey)");

    let args = key_login(server.port, &key, &kh);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, with, _) = both_ways(lab.path(), &args);
    assert_eq!(code, 1);
    assert_eq!(probe_ids(&with), ["key-rejected"]);
    let st = check_stage(&with).expect("ssh-check stage");
    assert_eq!(st["status"], "ok");
    assert_eq!(
        st["detail"],
        "ssh fails too: root@127.0.0.1: Permission denied (publickey)."
    );
}

#[test]
fn a_passphrase_ssh_would_ask_for_is_reported_as_such_not_as_a_disagreement() {
    let server = Sshd::start();
    let lab = Lab::new();
    let key = lab.key("id_ed25519", "correct horse");
    server.authorize(&key.with_extension("pub"));
    let kh = lab.known_hosts(&server.known_hosts_line());
    // BatchMode ssh cannot ask: it stops after the server accepts the key.
    let out = Ssh::new(lab.path(), server.port, &kh)
        .key(&key)
        .args(&["-v"])
        .run();
    ssh_says(&out, "Server accepts key:");
    ssh_says(&out, "Permission denied (publickey)");

    let args = key_login(server.port, &key, &kh);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, with, _) = both_ways(lab.path(), &args);
    assert_eq!(code, 0, "{with:#}");
    let ids = ids_of(&with);
    assert!(ids.contains(&"ssh-needs-input".to_string()), "{ids:?}");
    assert!(!ids.contains(&"ssh-disagrees".to_string()), "{ids:?}");
    let st = check_stage(&with).expect("ssh-check stage");
    assert_eq!(st["status"], "ok");
    assert!(st["detail"]
        .as_str()
        .is_some_and(|d| d.starts_with("ssh would ask first") && d.contains("id_ed25519")));
    let json = with.to_string();
    assert!(!json.contains("correct horse"));
}

/// A config line the probe does not apply but ssh does (`PubkeyAuthentication no` for the
/// host): ssh offers no key and fails, the probe logs in. Without the cross-check the probe
/// alone says the login works; with it, `ssh-disagrees` quotes ssh and the exit is 1.
#[test]
fn a_login_ssh_refuses_is_a_disagreement_quoting_ssh() {
    let server = Sshd::start();
    let lab = Lab::new();
    let key = lab.key("id_ed25519", "");
    server.authorize(&key.with_extension("pub"));
    let kh = lab.known_hosts(&server.known_hosts_line());
    let config = lab.path().join("config");
    std::fs::write(
        &config,
        format!(
            "Host lab\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile {}\n  PubkeyAuthentication no\n",
            server.port,
            key.display(),
            kh.display()
        ),
    )
    .expect("write config");
    let out = std::process::Command::new("ssh")
        .args(["-F"])
        .arg(&config)
        .args(["-o", "BatchMode=yes", "lab", "true"])
        .env("HOME", lab.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh");
    ssh_says(&out, "Permission denied");

    let cfg = config.to_str().expect("utf-8");
    let (code, v) = probe(lab.path(), &["lab", "-F", cfg], true);
    assert_eq!(code, 1, "{v:#}");
    let f = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "ssh-disagrees")
        .cloned()
        .unwrap_or_else(|| panic!("no ssh-disagrees in {v:#}"));
    assert_eq!(f["severity"], "error");
    let evidence: Vec<&str> = f["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(
        evidence
            .iter()
            .any(|e| e.starts_with("ssh: ") && e.contains("Permission denied")),
        "{evidence:#?}"
    );
    // HOME is not the password database's home here: ssh got the probe's config and every file
    // by name, never its defaults from the other home.
    let ran = evidence
        .iter()
        .find(|e| e.starts_with("ran: "))
        .expect("ran: line");
    assert!(ran.contains(&format!("-F {cfg}")), "{ran}");
    assert!(
        ran.contains(&format!("IdentityFile={}", key.display())),
        "{ran}"
    );
    assert!(ran.contains("BatchMode=yes") && ran.contains("-N"), "{ran}");
    assert_eq!(check_stage(&v).expect("stage")["status"], "fail");

    // Without it, the probe's own verdict stands (it does not read PubkeyAuthentication).
    let (code, v) = probe(lab.path(), &["lab", "-F", cfg], false);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(ids_of(&v), ["auth-ok"]);
}

#[test]
fn a_refused_connection_is_refused_for_both() {
    let closed = sshd::refused_port();
    let lab = Lab::new();
    let kh = lab.known_hosts("");
    let out = Ssh::new(lab.path(), closed.port, &kh).run();
    ssh_says(&out, "Connection refused");
    let target = format!("root@127.0.0.1:{}", closed.port);
    let (code, with, _) = both_ways(
        lab.path(),
        &[
            target.as_str(),
            "--known-hosts",
            kh.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(probe_ids(&with), ["connection-refused"]);
    let st = check_stage(&with).expect("ssh-check stage");
    assert!(
        st["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("ssh fails too") && d.contains("Connection refused")),
        "{st:#}"
    );
}

/// `probe --password` logs in with the password; ssh in BatchMode never sends one, and says
/// so: `ssh-needs-input`, not a disagreement, and sshd sees no password attempt from it.
#[test]
fn a_password_login_is_a_question_for_ssh_and_no_password_is_sent_by_it() {
    let user = crate::support::user::TestUser::with_password("Xc-check-9!");
    let server = Sshd::builder().password_auth().start();
    let lab = Lab::new();
    let kh = lab.known_hosts(&server.known_hosts_line());
    let target = format!("{}@127.0.0.1:{}", user.name, server.port);
    let out = Sshdoctor::new(lab.path())
        .args([
            "probe",
            &target,
            "--known-hosts",
            kh.to_str().expect("utf-8"),
        ])
        .args(["--password", "--json"])
        .stdin("Xc-check-9!\n")
        .output();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::support::stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids = ids_of(&v);
    assert!(ids.contains(&"auth-ok".to_string()), "{ids:?}");
    assert!(ids.contains(&"ssh-needs-input".to_string()), "{v:#}");
    let st = check_stage(&v).expect("ssh-check stage");
    assert!(
        st["detail"]
            .as_str()
            .is_some_and(|d| d.contains("ssh would ask for a password")),
        "{st:#}"
    );
    assert!(!v.to_string().contains("Xc-check-9!"));
    let log = server.log();
    assert_eq!(log.matches("Failed password for").count(), 0, "{log}");
    assert_eq!(log.matches("Accepted password for").count(), 1, "{log}");
}

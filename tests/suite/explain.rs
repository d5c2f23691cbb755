//! `sshdoctor explain`: real `ssh -v` output, captured from real sshd failures on 127.0.0.1,
//! fed back in; each gives the finding id the live probe gives for the same cause.

use std::path::{Path, PathBuf};

use crate::support::run::{ids_of, Sshdoctor};
use crate::support::sshd::{self, Ssh, Sshd};
use crate::support::{ssh_says, stderr};

/// `sshdoctor explain --json` on `text` (standard input): exit code and report.
fn explain(home: &Path, text: &str) -> (i32, serde_json::Value) {
    let (code, v) = Sshdoctor::new(home)
        .args(["explain", "--json"])
        .stdin(text)
        .json();
    (code.unwrap_or(-1), v)
}

/// `sshdoctor probe ... --json --no-cross-check`: the probe's own verdict on the same setup.
fn probe_ids(home: &Path, args: &[&str]) -> Vec<String> {
    let (_, v) = Sshdoctor::new(home)
        .arg("probe")
        .args(args)
        .args(["--json", "--no-cross-check"])
        .json();
    ids_of(&v)
}

fn evidence(v: &serde_json::Value, i: usize) -> Vec<String> {
    v["findings"][i]["evidence"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
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
    fn key(&self, name: &str) -> PathBuf {
        sshd::keygen(self.path(), name, "ed25519", "")
    }
    fn known_hosts(&self, content: &str) -> PathBuf {
        let p = self.path().join("known_hosts");
        std::fs::write(&p, content).expect("write known_hosts");
        p
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_refused_key_is_key_rejected_as_in_the_probe() {
    let server = Sshd::start();
    let lab = Lab::new();
    let key = lab.key("id_ed25519");
    let kh = lab.known_hosts(&server.known_hosts_line());
    let out = Ssh::new(lab.path(), server.port, &kh)
        .key(&key)
        .args(&["-v"])
        .run();
    ssh_says(&out, "Permission denied (publickey)");

    let (code, v) = explain(lab.path(), &stderr(&out));
    assert_eq!(code, 1);
    assert_eq!(ids_of(&v), ["key-rejected"]);
    let ev = evidence(&v, 0);
    assert!(
        ev.iter()
            .any(|e| e.starts_with("refused: ") && e.contains(s(&key))),
        "{ev:#?}"
    );
    assert!(ev
        .iter()
        .any(|e| e == "ssh: root@127.0.0.1: Permission denied (publickey)."));
    // The same id as the probe on the same setup.
    let target = format!("root@127.0.0.1:{}", server.port);
    assert_eq!(
        probe_ids(
            lab.path(),
            &[&target, "-i", s(&key), "--known-hosts", s(&kh)]
        ),
        ["key-rejected"]
    );
}

#[test]
fn a_changed_host_key_names_the_file_and_the_new_fingerprint() {
    let server = Sshd::start();
    let lab = Lab::new();
    let key = lab.key("id_ed25519");
    let other = lab.key("other");
    let words = sshd::key_words(&other.with_extension("pub"));
    let kh = lab.known_hosts(&format!("[127.0.0.1]:{} {words}\n", server.port));
    let out = Ssh::new(lab.path(), server.port, &kh)
        .key(&key)
        .args(&["-v"])
        .run();
    ssh_says(&out, "REMOTE HOST IDENTIFICATION HAS CHANGED");

    let (code, v) = explain(lab.path(), &stderr(&out));
    assert_eq!(code, 1);
    assert_eq!(ids_of(&v), ["host-key-changed"]);
    let ev = evidence(&v, 0);
    let fp = sshd::fingerprint(&server.host_key_pub());
    assert!(ev.contains(&format!("server now shows: {fp}")), "{ev:#?}");
    assert!(
        v["findings"][0]["fixes"][0]["command"]
            .as_str()
            .is_some_and(
                |c| c.contains(s(&kh)) && c.contains(&format!("[127.0.0.1]:{}", server.port))
            )
    );
    let target = format!("root@127.0.0.1:{}", server.port);
    assert!(probe_ids(
        lab.path(),
        &[&target, "-i", s(&key), "--known-hosts", s(&kh)]
    )
    .contains(&"host-key-changed".to_string()));
}

#[test]
fn refused_unknown_mismatched_and_too_many_failures() {
    let lab = Lab::new();
    let empty = lab.known_hosts("");

    // Nothing listens.
    let closed = sshd::refused_port();
    let out = Ssh::new(lab.path(), closed.port, &empty)
        .args(&["-v"])
        .run();
    ssh_says(&out, "Connection refused");
    let (code, v) = explain(lab.path(), &stderr(&out));
    assert_eq!(
        (code, ids_of(&v)),
        (1, vec!["connection-refused".to_string()])
    );
    let target = format!("root@127.0.0.1:{}", closed.port);
    assert_eq!(
        probe_ids(lab.path(), &[&target, "--known-hosts", s(&empty)]),
        ["connection-refused"]
    );

    // An unknown host under BatchMode.
    let server = Sshd::builder().line("MaxAuthTries 2").start();
    let out = Ssh::new(lab.path(), server.port, &empty)
        .args(&["-v"])
        .run();
    ssh_says(&out, "Host key verification failed.");
    let (code, v) = explain(lab.path(), &stderr(&out));
    assert_eq!(
        (code, ids_of(&v)),
        (1, vec!["host-key-unknown".to_string()])
    );
    let fp = sshd::fingerprint(&server.host_key_pub());
    assert!(evidence(&v, 0).contains(&format!("server's key: {fp} (ssh-ed25519)")));

    // The client insists on an RSA host key; the server has only ed25519.
    let kh = lab.path().join("kh_server");
    std::fs::write(&kh, server.known_hosts_line()).expect("write");
    let out = Ssh::new(lab.path(), server.port, &kh)
        .args(&["-v", "-o", "HostKeyAlgorithms=rsa-sha2-512"])
        .run();
    ssh_says(&out, "no matching host key type found");
    let (code, v) = explain(lab.path(), &stderr(&out));
    assert_eq!(
        (code, ids_of(&v)),
        (1, vec!["algorithm-mismatch".to_string()])
    );
    assert!(evidence(&v, 0).contains(&"server offers (host key): ssh-ed25519".to_string()));

    // Three refused keys against MaxAuthTries 2.
    let keys: Vec<PathBuf> = (0..3).map(|i| lab.key(&format!("k{i}"))).collect();
    let out = Ssh::new(lab.path(), server.port, &kh)
        .keys(&keys)
        .args(&["-v"])
        .run();
    ssh_says(&out, "Too many authentication failures");
    let (code, v) = explain(lab.path(), &stderr(&out));
    assert_eq!(
        (code, ids_of(&v)),
        (1, vec!["too-many-auth-failures".to_string()])
    );
    let ev = evidence(&v, 0);
    assert!(
        ev.iter()
            .any(|e| e.starts_with("offered: ") && e.contains("k0")),
        "{ev:#?}"
    );
}

#[test]
fn a_damaged_key_and_a_working_login() {
    let server = Sshd::start();
    let lab = Lab::new();
    let key = lab.key("id_ed25519");
    server.authorize(&key.with_extension("pub"));
    let kh = lab.known_hosts(&server.known_hosts_line());

    // It works: auth-ok, exit 0, as text too.
    let out = Ssh::new(lab.path(), server.port, &kh)
        .key(&key)
        .args(&["-v"])
        .run();
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, v) = explain(lab.path(), &stderr(&out));
    assert_eq!((code, ids_of(&v)), (0, vec!["auth-ok".to_string()]));

    // The same key with Windows line ends: ssh cannot load it and has no other.
    let text = std::fs::read_to_string(&key).expect("read key");
    std::fs::write(&key, text.replace('\n', "\r\n")).expect("write key");
    let out = Ssh::new(lab.path(), server.port, &kh)
        .key(&key)
        .args(&["-v"])
        .run();
    ssh_says(&out, "error in libcrypto");
    let log = lab.path().join("ssh.log");
    std::fs::write(&log, stderr(&out)).expect("write log");
    let out = Sshdoctor::new(lab.path())
        .args(["explain"])
        .arg(&log)
        .output();
    assert_eq!(out.status.code(), Some(1));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("[key-format-damaged]"), "{shown}");
    assert!(shown.contains(s(&key)), "{shown}");
}

#[test]
fn unreadable_input_is_exit_2_and_unknown_text_is_not_a_failure() {
    let lab = Lab::new();
    let out = Sshdoctor::new(lab.path())
        .args(["explain", "/nonexistent/ssh.log"])
        .output();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("No such file or directory"),
        "{}",
        stderr(&out)
    );
    let out = Sshdoctor::new(lab.path())
        .args(["explain", "-"])
        .stdin("hello\nworld\n")
        .output();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Nothing in this output"));
    let (code, v) = explain(lab.path(), "");
    assert_eq!((code, v), (0, serde_json::json!({ "findings": [] })));
}

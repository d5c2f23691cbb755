//! Signature algorithms as OpenSSH chooses them: `rsa-sha1-required` for an old server that
//! verifies RSA keys only as SHA-1 `ssh-rsa` and does not announce rsa-sha2 (the in-process
//! stand-in of `support::old_server`), and `pubkey-algorithm-excluded` for a key type the
//! client's own PubkeyAcceptedAlgorithms leaves out (real sshd). Each first shows what real
//! ssh does, then the probe's verdict with and without the cross-check. A failure caused by
//! a config line names that line (file:line).

use std::path::{Path, PathBuf};

use crate::support::old_server;
use crate::support::run::{ids_of, text, Sshdoctor};
use crate::support::sshd::{self, Ssh, Sshd};
use crate::support::{ssh_says, stderr};

fn probe(home: &Path, args: &[&str], cross: bool) -> (i32, serde_json::Value) {
    let mut run = Sshdoctor::new(home).arg("probe").args(args).arg("--json");
    if !cross {
        run = run.arg("--no-cross-check");
    }
    let (code, v) = run.json();
    (code.unwrap_or(-1), v)
}

fn finding(v: &serde_json::Value, id: &str) -> serde_json::Value {
    v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == id).cloned())
        .unwrap_or_else(|| panic!("no {id} in {v:#}"))
}

fn stage(v: &serde_json::Value, name: &str) -> serde_json::Value {
    v["stages"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["stage"] == name).cloned())
        .unwrap_or_else(|| panic!("no stage {name} in {v:#}"))
}

/// An old server, an RSA key it takes only with ssh-rsa, and a config naming both.
struct Old {
    dir: tempfile::TempDir,
    port: u16,
    key: PathBuf,
    kh: PathBuf,
}

impl Old {
    fn start() -> Old {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = sshd::keygen(dir.path(), "host", "ed25519", "");
        let key = sshd::keygen(dir.path(), "id_rsa", "rsa", "");
        let port = old_server::start(&host, &key.with_extension("pub"));
        let kh = dir.path().join("known_hosts");
        let words = sshd::key_words(&host.with_extension("pub"));
        std::fs::write(&kh, format!("[127.0.0.1]:{port} {words}\n")).expect("write");
        Old { dir, port, key, kh }
    }

    /// `Host old` with the server, the key, the known_hosts and `extra` lines.
    fn config(&self, extra: &str) -> PathBuf {
        let p = self.dir.path().join("config");
        std::fs::write(
            &p,
            format!(
                "Host old\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  \
                 IdentitiesOnly yes\n  UserKnownHostsFile {}\n{extra}",
                self.port,
                self.key.display(),
                self.kh.display()
            ),
        )
        .expect("write config");
        p
    }
}

#[test]
fn an_old_sha1_only_server_is_rsa_sha1_required_with_the_scoped_fix() {
    let old = Old::start();
    // Real ssh: the key is not even offered; with +ssh-rsa it logs in.
    let out = Ssh::new(old.dir.path(), old.port, &old.kh)
        .key(&old.key)
        .args(&["-v"])
        .run();
    ssh_says(&out, "send_pubkey_test: no mutual signature algorithm");
    ssh_says(&out, "Permission denied (publickey)");
    let out = Ssh::new(old.dir.path(), old.port, &old.kh)
        .key(&old.key)
        .args(&["-v", "-o", "PubkeyAcceptedAlgorithms=+ssh-rsa"])
        .run();
    ssh_says(&out, "Authenticated to 127.0.0.1");

    let cfg = old.config("");
    let cfg_arg = cfg.to_str().expect("utf-8");
    for cross in [true, false] {
        let (code, v) = probe(old.dir.path(), &["old", "-F", cfg_arg], cross);
        assert_eq!(code, 1, "{v:#}");
        let ids = ids_of(&v);
        assert_eq!(ids[0], "rsa-sha1-required", "{v:#}");
        assert!(!ids.contains(&"ssh-disagrees".to_string()), "{v:#}");
        assert!(!ids.contains(&"connection-closed".to_string()), "{v:#}");
        let f = finding(&v, "rsa-sha1-required");
        let ev: Vec<&str> = f["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .filter_map(|e| e.as_str())
            .collect();
        assert!(
            ev.iter()
                .any(|e| e.starts_with("accepted with ssh-rsa (SHA-1) only: ")
                    && e.contains(old.key.to_str().expect("utf-8"))),
            "{ev:#?}"
        );
        let fix = &f["fixes"][0];
        assert_eq!(fix["id"], "accept-ssh-rsa-signatures");
        let title = fix["title"].as_str().expect("title");
        assert!(
            title.contains("`PubkeyAcceptedAlgorithms +ssh-rsa` under `Host old`")
                && title.contains("SHA-1"),
            "{title}"
        );
        assert!(fix["command"]
            .as_str()
            .is_some_and(|c| c.contains("PubkeyAcceptedAlgorithms=+ssh-rsa")));
        // The lasting fix is named too.
        assert_eq!(f["fixes"][1]["id"], "generate-key");
        if cross {
            let st = stage(&v, "ssh-check");
            assert_eq!(st["status"], "ok", "{st:#}");
            assert!(st["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("ssh fails too")));
        }
    }

    // The fix applied for that Host: both log in, with SHA-1.
    let cfg = old.config("  PubkeyAcceptedAlgorithms +ssh-rsa\n");
    let cfg_arg = cfg.to_str().expect("utf-8");
    for cross in [true, false] {
        let (code, v) = probe(old.dir.path(), &["old", "-F", cfg_arg], cross);
        assert_eq!(code, 0, "{v:#}");
        assert_eq!(ids_of(&v), ["auth-ok"], "{v:#}");
        assert_eq!(stage(&v, "login")["status"], "ok");
        if cross {
            assert!(stage(&v, "ssh-check")["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("ssh agrees")));
        }
    }

    // The same fix applied by sshdoctor to ~/.ssh/config (issue 15): real ssh logs in with the
    // file it wrote, and fails again after undo.
    let home = old.dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
    let user_cfg = home.join(".ssh/config");
    std::fs::copy(old.config(""), &user_cfg).expect("copy config");
    // The stand-in server opens no session, so "logged in" is ssh's own -v line.
    let ssh_logs_in = |cfg: &Path| {
        let o = std::process::Command::new("ssh")
            .arg("-v")
            .arg("-F")
            .arg(cfg)
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentityAgent=none",
                "old",
                "true",
            ])
            .env("HOME", &home)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("ssh");
        text(&o.stderr).contains("Authenticated to 127.0.0.1")
    };
    assert!(!ssh_logs_in(&user_cfg), "refused before the fix");
    let before = std::fs::read(&user_cfg).expect("read");
    let (code, v) = Sshdoctor::new(&home)
        .args(["probe", "old", "--json", "--no-cross-check"])
        .json();
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(
        finding(&v, "rsa-sha1-required")["fixes"][0]["id"],
        "accept-ssh-rsa-signatures"
    );
    let out = Sshdoctor::new(&home)
        .args(["fix", "accept-ssh-rsa-signatures", "old", "--yes"])
        .output();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let after = String::from_utf8(std::fs::read(&user_cfg).expect("read")).expect("utf-8");
    assert!(
        after.contains("PubkeyAcceptedAlgorithms +ssh-rsa"),
        "{after}"
    );
    assert!(
        ssh_logs_in(&user_cfg),
        "ssh logs in with the edited config:\n{after}"
    );
    let (code, v) = Sshdoctor::new(&home)
        .args(["probe", "old", "--json", "--no-cross-check"])
        .json();
    assert_eq!(code, Some(0), "{v:#}");
    let out = Sshdoctor::new(&home).args(["undo", "--yes"]).output();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(&user_cfg).expect("read"),
        before,
        "undo, byte for byte"
    );
    assert!(!ssh_logs_in(&user_cfg), "refused again after undo");

    // explain reads the same cause from ssh's own -v.
    let out = Ssh::new(old.dir.path(), old.port, &old.kh)
        .key(&old.key)
        .args(&["-v"])
        .run();
    let (code, v) = Sshdoctor::new(old.dir.path())
        .args(["explain", "--json"])
        .stdin(&stderr(&out))
        .json();
    assert_eq!(code, Some(1));
    assert_eq!(ids_of(&v), ["rsa-sha1-required"]);
}

#[test]
fn a_key_type_left_out_of_the_client_s_pubkey_accepted_algorithms_is_not_offered() {
    let server = Sshd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = sshd::keygen(dir.path(), "id_ed25519", "ed25519", "");
    server.authorize(&key.with_extension("pub"));
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, server.known_hosts_line()).expect("write");
    let cfg = dir.path().join("config");
    std::fs::write(
        &cfg,
        format!(
            "Host lab\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
             PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256\n",
            server.port,
            key.display(),
            kh.display()
        ),
    )
    .expect("write config");
    let out = std::process::Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args(["-v", "-o", "BatchMode=yes", "lab", "true"])
        .env("HOME", dir.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh");
    ssh_says(&out, "not in PubkeyAcceptedAlgorithms");
    ssh_says(&out, "Permission denied (publickey)");

    let cfg_arg = cfg.to_str().expect("utf-8");
    for cross in [true, false] {
        let (code, v) = probe(dir.path(), &["lab", "-F", cfg_arg], cross);
        assert_eq!(code, 1, "{v:#}");
        assert_eq!(ids_of(&v), ["pubkey-algorithm-excluded"], "{v:#}");
        let f = finding(&v, "pubkey-algorithm-excluded");
        let ev: Vec<&str> = f["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .filter_map(|e| e.as_str())
            .collect();
        // The config line that did it, as file:line.
        assert!(
            ev.contains(
                &format!("set at {cfg_arg}:8: PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256")
                    .as_str()
            ),
            "{ev:#?}"
        );
        assert!(ev
            .iter()
            .any(|e| e.starts_with("skipped: ") && e.contains("id_ed25519")));
        assert_eq!(
            f["fixes"][0]["title"],
            "Add `PubkeyAcceptedAlgorithms +ssh-ed25519` under `Host lab` in ~/.ssh/config"
        );
    }
}

/// A config line that restricts an algorithm list below what the server offers: ssh cannot
/// negotiate, and the probe names the line (file:line) as well as the mismatch.
#[test]
fn an_algorithm_mismatch_caused_by_a_config_line_names_the_line() {
    let server = Sshd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, server.known_hosts_line()).expect("write");
    let cfg = dir.path().join("config");
    std::fs::write(
        &cfg,
        format!(
            "Host lab\n  HostName 127.0.0.1\n  Port {}\n  User root\n  UserKnownHostsFile {}\n  \
             KexAlgorithms diffie-hellman-group14-sha1\n",
            server.port,
            kh.display()
        ),
    )
    .expect("write config");
    let out = std::process::Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args(["-o", "BatchMode=yes", "lab", "true"])
        .env("HOME", dir.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh");
    ssh_says(&out, "no matching key exchange method found");

    let cfg_arg = cfg.to_str().expect("utf-8");
    for cross in [true, false] {
        let (code, v) = probe(dir.path(), &["lab", "-F", cfg_arg], cross);
        assert_eq!(code, 1, "{v:#}");
        assert_eq!(ids_of(&v)[0], "algorithm-mismatch", "{v:#}");
        let f = finding(&v, "algorithm-mismatch");
        assert!(
            f["evidence"]
                .as_array()
                .expect("evidence")
                .iter()
                .any(|e| *e
                    == format!(
                    "KexAlgorithms set at {cfg_arg}:6: KexAlgorithms diffie-hellman-group14-sha1"
                )),
            "{f:#}"
        );
    }
}

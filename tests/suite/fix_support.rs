//! Shared helpers for the fix tests: a temp HOME, the sshdoctor binary run with it (no terminal,
//! no agent), ssh-keygen fixtures, and a throwaway sshd on 127.0.0.1.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

// ssh-keygen fixtures and free ports as the probe tests make them.
pub use crate::support::sshd::{free_port, keygen};

pub use crate::support::BIN;

/// Runs sshdoctor with HOME (and the XDG dirs) inside `home`, stdin not a terminal, no agent.
pub fn sshdoctor(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("HOME", home)
        .env_remove("XDG_STATE_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("SSHDOCTOR_PASSWORD")
        .env_remove("SSHDOCTOR_PASSPHRASE")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run sshdoctor")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `TYPE BASE64` of a .pub file.
pub fn key_words(pubkey: &Path) -> String {
    let s = std::fs::read_to_string(pubkey).expect("read .pub");
    s.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// `SHA256:...` as `ssh-keygen -lf` prints it, or the error output.
pub fn fingerprint(path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen -l");
    text(&out.stdout)
        .split_whitespace()
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| text(&out.stderr))
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).expect("stat").mode() & 0o7777
}

pub fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
}

pub struct Sshd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Sshd {
    /// A sshd on 127.0.0.1 with its own ed25519 host key. `extra` lines come first (first
    /// value wins). `authorized_keys_file` None means sshd's default (~/.ssh/authorized_keys).
    pub fn start(extra: &[&str], authorized_keys_file: Option<&str>) -> Sshd {
        std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        let dir = tempfile::tempdir().expect("tempdir");
        let host_key = keygen(dir.path(), "host_ed25519", "ed25519", "");
        for _ in 0..10 {
            let port = free_port();
            let d = dir.path().display();
            let mut cfg: String = extra.iter().map(|l| format!("{l}\n")).collect();
            if let Some(ak) = authorized_keys_file {
                cfg.push_str(&format!("AuthorizedKeysFile {ak}\n"));
            }
            cfg.push_str(&format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {d}/sshd.pid\n\
                 UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nLogLevel VERBOSE\n",
                host_key.display()
            ));
            let cfg_path = dir.path().join("sshd_config");
            std::fs::write(&cfg_path, cfg).expect("write sshd_config");
            let mut child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&cfg_path)
                .arg("-E")
                .arg(dir.path().join("sshd.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sshd");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Sshd { port, dir, child };
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "sshd did not start: {}",
            std::fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default()
        );
    }

    /// The known_hosts line ssh would write for this server: `[127.0.0.1]:PORT TYPE BASE64`.
    pub fn known_hosts_line(&self) -> String {
        format!(
            "[127.0.0.1]:{} {}\n",
            self.port,
            key_words(&self.host_key_pub())
        )
    }

    pub fn host_key_pub(&self) -> PathBuf {
        self.dir.path().join("host_ed25519.pub")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real client with everything explicit: `ssh -F /dev/null -o UserKnownHostsFile=KH
/// -o StrictHostKeyChecking=... -o BatchMode=yes -i KEY -p PORT user@127.0.0.1 true`.
pub fn ssh(
    home: &Path,
    port: u16,
    user: &str,
    key: &Path,
    known_hosts: &Path,
    strict: &str,
) -> Output {
    Command::new("ssh")
        .args(["-F", "/dev/null", "-o"])
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args(["-o", "GlobalKnownHostsFile=/dev/null"])
        .args(["-o", &format!("StrictHostKeyChecking={strict}")])
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
        .args(["-o", "ConnectTimeout=5", "-o", "PasswordAuthentication=no"])
        .arg("-i")
        .arg(key)
        .args([
            "-p",
            &port.to_string(),
            &format!("{user}@127.0.0.1"),
            "true",
        ])
        .env("HOME", home)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .expect("run ssh")
}

/// A local account with a password, made with useradd + chpasswd, removed (with its home) on
/// drop. The name is unique per test process.
pub struct TestUser {
    pub name: String,
    pub home: PathBuf,
}

impl TestUser {
    pub fn create(password: &str) -> TestUser {
        // One name per test (they run in parallel within a binary), unique across binaries.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("sdfix{}x{n}", std::process::id() % 100_000);
        let _ = Command::new("userdel").args(["-r", &name]).output();
        let out = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", &name])
            .output()
            .expect("useradd");
        assert!(out.status.success(), "useradd: {out:?}");
        let mut child = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("chpasswd");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            writeln!(stdin, "{name}:{password}").expect("write chpasswd");
        }
        assert!(child.wait().expect("wait chpasswd").success());
        let home = PathBuf::from(format!("/home/{name}"));
        TestUser { name, home }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .args(["-r", "-f", &self.name])
            .output();
    }
}

/// `sshdoctor probe TARGET --json -F /dev/null --known-hosts KH EXTRA...` with this HOME: the
/// exit code and the report.
pub fn probe_json(
    home: &Path,
    target: &str,
    kh: &Path,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value) {
    let mut args = vec![
        "probe",
        target,
        "--json",
        "-F",
        "/dev/null",
        "--known-hosts",
    ];
    let kh = kh.to_str().expect("utf-8 path");
    args.push(kh);
    args.extend_from_slice(extra);
    let out = sshdoctor(home, &args, &[]);
    let v = serde_json::from_slice(&out.stdout).expect("json report");
    (out.status.code(), v)
}

/// The finding ids of a JSON report, in order.
pub fn ids_of(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["id"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

//! Real OpenSSH servers and tiny fake servers on 127.0.0.1 for integration tests.
//!
//! Each [`Sshd`] runs `/usr/sbin/sshd -D -e` from its own temp dir, with its own host key,
//! AuthorizedKeysFile and log, on a free high port; it is killed and reaped on drop. Nothing here
//! reads or writes the real ~/.ssh, and every child gets `HOME` pointed at a temp dir.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

/// What to change from the minimal test sshd_config.
#[derive(Debug, Clone, Default)]
pub struct SshdOptions {
    /// `ed25519` (default) or `rsa`.
    pub host_key_type: Option<&'static str>,
    pub max_auth_tries: Option<u32>,
    pub password_auth: bool,
    pub pubkey_auth_off: bool,
    pub kex: Option<String>,
    pub host_key_algorithms: Option<String>,
    pub ciphers: Option<String>,
    pub macs: Option<String>,
    /// Raw extra lines, placed first (the first value of a keyword wins in sshd_config).
    pub extra: Vec<String>,
}

pub struct Sshd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

/// A loopback port that refuses connections for as long as the guard lives: bound, so no
/// other test's listener can take it (a port from [`free_port`] can be taken by the next
/// `bind(:0)` of a test running alongside, which then accepts what was meant to be refused),
/// but never listening, so every connect to it is refused.
pub struct RefusedPort {
    pub port: u16,
    fd: libc::c_int,
}

pub fn refused_port() -> RefusedPort {
    // SAFETY: plain socket calls on a descriptor this function owns; the sockaddr structs live
    // on this frame for the duration of each call.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket");
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        addr.sin_port = 0;
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len);
        assert_eq!(rc, 0, "bind");
        let mut got: libc::sockaddr_in = std::mem::zeroed();
        let mut glen = len;
        let rc = libc::getsockname(fd, (&mut got as *mut libc::sockaddr_in).cast(), &mut glen);
        assert_eq!(rc, 0, "getsockname");
        RefusedPort {
            port: u16::from_be(got.sin_port),
            fd,
        }
    }
}

impl Drop for RefusedPort {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this guard owns, once.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// A port that was free a moment ago (bound to 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// `ssh-keygen -t TYPE` into `dir/name`, with an optional passphrase; returns the private path.
pub fn keygen(dir: &Path, name: &str, key_type: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", key_type, "-N", passphrase, "-C", name, "-f"])
        .arg(&path)
        .env("HOME", dir);
    if key_type == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let out = cmd.output().expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
    path
}

/// `ssh-keygen -lf KEY` → `SHA256:...`: OpenSSH's own fingerprint, the oracle for ours.
pub fn fingerprint(pubkey: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubkey)
        .output()
        .expect("ssh-keygen -l");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

impl Sshd {
    pub fn start(opts: SshdOptions) -> Sshd {
        std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        let dir = tempfile::tempdir().expect("tempdir");
        let kt = opts.host_key_type.unwrap_or("ed25519");
        let host_key = keygen(dir.path(), &format!("host_{kt}"), kt, "");
        std::fs::write(dir.path().join("authorized_keys"), "").expect("write authorized_keys");
        for _ in 0..10 {
            let port = free_port();
            let mut cfg = String::new();
            for l in &opts.extra {
                cfg.push_str(l);
                cfg.push('\n');
            }
            let mut set = |k: &str, v: &Option<String>| {
                if let Some(v) = v {
                    cfg.push_str(&format!("{k} {v}\n"));
                }
            };
            set("KexAlgorithms", &opts.kex);
            set("HostKeyAlgorithms", &opts.host_key_algorithms);
            set("Ciphers", &opts.ciphers);
            set("MACs", &opts.macs);
            set("MaxAuthTries", &opts.max_auth_tries.map(|n| n.to_string()));
            let d = dir.path().display();
            cfg.push_str(&format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nUsePAM no\nStrictModes no\n\
                 PermitRootLogin {}\nPasswordAuthentication {}\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication {}\nLogLevel VERBOSE\n",
                host_key.display(),
                if opts.password_auth {
                    "yes"
                } else {
                    "prohibit-password"
                },
                if opts.password_auth { "yes" } else { "no" },
                if opts.pubkey_auth_off { "no" } else { "yes" },
            ));
            let cfg_path = dir.path().join("sshd_config");
            std::fs::write(&cfg_path, cfg).expect("write sshd_config");
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&cfg_path)
                .arg("-E")
                .arg(dir.path().join("sshd.log"))
                .env("HOME", dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sshd");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: port taken or bad config; try another port
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Sshd { port, dir, child };
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default();
        panic!("sshd did not start: {log}");
    }

    /// Appends a public key file's line to this server's AuthorizedKeysFile.
    pub fn authorize(&self, pubkey: &Path) {
        let line = std::fs::read_to_string(pubkey).expect("read .pub");
        let ak = self.dir.path().join("authorized_keys");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(ak)
            .expect("open authorized_keys");
        f.write_all(line.as_bytes()).expect("append");
    }

    pub fn host_key_pub(&self) -> PathBuf {
        let mut found = None;
        for kt in ["ed25519", "rsa", "ecdsa"] {
            let p = self.dir.path().join(format!("host_{kt}.pub"));
            if p.exists() {
                found = Some(p);
            }
        }
        found.expect("host key")
    }

    /// A known_hosts line for this server as ssh would write it: `[127.0.0.1]:PORT type key`.
    pub fn known_hosts_line(&self) -> String {
        let key = std::fs::read_to_string(self.host_key_pub()).expect("read host key");
        let mut parts = key.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port,
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The log once it holds `needle` (sshd writes it after the client has moved on): waits
    /// for the line itself, up to a generous deadline, instead of for a fixed moment.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the real client the way every test compares against:
/// `ssh -F /dev/null -o UserKnownHostsFile=KH -o BatchMode=yes -o IdentitiesOnly=yes -i KEY... -p PORT root@127.0.0.1 true`
/// with `HOME` at `home` and no agent.
pub fn ssh(home: &Path, port: u16, keys: &[PathBuf], known_hosts: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new("ssh");
    cmd.args(["-F", "/dev/null", "-o"])
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args(["-o", "GlobalKnownHostsFile=/dev/null"])
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
        .args(["-o", "ConnectTimeout=2"]);
    for k in keys {
        cmd.arg("-i").arg(k);
    }
    cmd.args(extra)
        .args(["-p", &port.to_string(), "root@127.0.0.1", "true"])
        .env("HOME", home)
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null());
    cmd.output().expect("run ssh")
}

/// A TCP listener on 127.0.0.1 that answers every connection like a web server would to a
/// stray SSH client: `HTTP/1.1 400 Bad Request`, then closes.
pub fn http_listener() -> u16 {
    fake_listener(|mut s| {
        let mut buf = [0u8; 256];
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = s.read(&mut buf);
        let _ = s.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    })
}

/// Accepts and closes without a word (like sshd over MaxStartups, or tcp wrappers). It reads the
/// client's identification line first so the close is a clean FIN, not a reset of unread data.
pub fn closing_listener() -> u16 {
    fake_listener(|mut s| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
    })
}

/// Accepts and never says anything (holds each connection for 30 s).
pub fn silent_listener() -> u16 {
    fake_listener(|s| {
        std::thread::sleep(Duration::from_secs(30));
        drop(s)
    })
}

fn fake_listener(serve: fn(TcpStream)) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    port
}

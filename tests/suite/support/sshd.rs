//! Real OpenSSH servers, the real client, and tiny fake servers on 127.0.0.1.
//!
//! Every [`Sshd`] comes from [`Sshd::builder`]: `/usr/sbin/sshd -D -e` with its own host key,
//! sshd_config, AuthorizedKeysFile and log in a directory of its own (a temp dir unless the test
//! names one), on a free high port. It counts as started when sshd itself logs that it listens
//! on that port (so a test never mistakes another test's listener for it), and it is killed and
//! reaped on drop. Nothing here reads or writes the real ~/.ssh, and every child gets `HOME`
//! pointed at a temp dir.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// How long sshd may take to start, and a log line to appear, on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);

/// What to change from the minimal test sshd_config (see [`SshdBuilder::start`]).
pub struct SshdBuilder {
    dir: Option<PathBuf>,
    host_key_type: &'static str,
    host_key: Option<PathBuf>,
    log_name: String,
    first: Vec<String>,
    last: Vec<String>,
    authorized_keys_file: Option<String>,
    strict_modes: bool,
    password_auth: bool,
    pubkey_auth: bool,
}

pub struct Sshd {
    pub port: u16,
    /// The temp dir holding the files, when the builder made one (removed on drop).
    _temp: Option<tempfile::TempDir>,
    dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    host_key: PathBuf,
    child: Child,
}

impl Sshd {
    /// A server with the defaults: ed25519 host key, keys only, `PermitRootLogin
    /// prohibit-password`, its own empty AuthorizedKeysFile (see [`Sshd::authorize`]).
    pub fn start() -> Sshd {
        Sshd::builder().start()
    }

    pub fn builder() -> SshdBuilder {
        SshdBuilder {
            dir: None,
            host_key_type: "ed25519",
            host_key: None,
            log_name: "sshd.log".into(),
            first: Vec::new(),
            last: Vec::new(),
            authorized_keys_file: None,
            strict_modes: false,
            password_auth: false,
            pubkey_auth: true,
        }
    }
}

impl SshdBuilder {
    /// An sshd_config line put before the defaults: sshd keeps the first value of a keyword, so
    /// this wins over them (`KexAlgorithms ...`, `HostKey ...` for a second host key, ...).
    pub fn line(mut self, line: impl Into<String>) -> Self {
        self.first.push(line.into());
        self
    }

    /// An sshd_config line put after the defaults (`Match` blocks, which must come last).
    pub fn last(mut self, line: impl Into<String>) -> Self {
        self.last.push(line.into());
        self
    }

    /// The type of the host key generated for this server (`ed25519` unless set).
    pub fn host_key_type(mut self, key_type: &'static str) -> Self {
        self.host_key_type = key_type;
        self
    }

    /// An existing private host key instead of a generated one (its `.pub` beside it).
    pub fn host_key(mut self, path: &Path) -> Self {
        self.host_key = Some(path.to_path_buf());
        self
    }

    /// `PasswordAuthentication yes` and `PermitRootLogin yes` (otherwise keys only).
    pub fn password_auth(mut self) -> Self {
        self.password_auth = true;
        self
    }

    /// `PubkeyAuthentication no`.
    pub fn no_pubkey_auth(mut self) -> Self {
        self.pubkey_auth = false;
        self
    }

    /// `StrictModes yes` (otherwise no: the temp dirs are not laid out for it).
    pub fn strict_modes(mut self) -> Self {
        self.strict_modes = true;
        self
    }

    /// `AuthorizedKeysFile SPEC` (e.g. `.ssh/authorized_keys`, each user's own) instead of the
    /// server's own file, which [`Sshd::authorize`] fills.
    pub fn authorized_keys_file(mut self, spec: &str) -> Self {
        self.authorized_keys_file = Some(spec.to_string());
        self
    }

    /// Keeps sshd_config, the log, the pid file and a generated host key in `dir` (which the
    /// test owns and removes) instead of in a temp dir of the server's own.
    pub fn in_dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// The log's file name in the server's directory (`sshd.log` unless set).
    pub fn log_name(mut self, name: &str) -> Self {
        self.log_name = name.to_string();
        self
    }

    /// Writes `DIR/sshd_config` (the [`SshdBuilder::line`]s, then `Port`, `ListenAddress
    /// 127.0.0.1`, `HostKey`, `PidFile`, `AuthorizedKeysFile`, `UsePAM no`, `StrictModes`, the
    /// authentication settings and `LogLevel VERBOSE`, then the [`SshdBuilder::last`] lines) and
    /// starts sshd with it on a free port, trying another port while the one picked turns out
    /// to be taken.
    pub fn start(self) -> Sshd {
        std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        let (temp, dir) = match &self.dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        let host_key = match &self.host_key {
            Some(k) => k.clone(),
            None => {
                let kt = self.host_key_type;
                keygen(&dir, &format!("host_{kt}"), kt, "")
            }
        };
        let authorized_keys = match &self.authorized_keys_file {
            Some(spec) => spec.clone(),
            None => {
                let own = dir.join("authorized_keys");
                std::fs::write(&own, "").expect("write authorized_keys");
                own.display().to_string()
            }
        };
        let config = dir.join("sshd_config");
        let log = dir.join(&self.log_name);
        for _ in 0..20 {
            let port = free_port();
            std::fs::write(
                &config,
                self.config_text(port, &dir, &host_key, &authorized_keys),
            )
            .expect("write sshd_config");
            match spawn(&config, &log, &dir, port) {
                Ok(child) => {
                    return Sshd {
                        port,
                        _temp: temp,
                        dir,
                        config,
                        log,
                        host_key,
                        child,
                    }
                }
                Err(said) if said.contains("Address already in use") => continue,
                Err(said) => panic!("sshd did not start: {said}"),
            }
        }
        panic!("sshd found no free port: {}", read_log(&log, 0));
    }

    fn config_text(&self, port: u16, dir: &Path, host_key: &Path, authorized_keys: &str) -> String {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let mut cfg = String::new();
        for l in &self.first {
            cfg.push_str(&format!("{l}\n"));
        }
        cfg.push_str(&format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
             AuthorizedKeysFile {authorized_keys}\nUsePAM no\nStrictModes {}\n",
            host_key.display(),
            dir.join("sshd.pid").display(),
            yes_no(self.strict_modes),
        ));
        if self.password_auth {
            cfg.push_str("PermitRootLogin yes\n");
        }
        cfg.push_str(&format!(
            "PasswordAuthentication {}\nKbdInteractiveAuthentication no\n",
            yes_no(self.password_auth)
        ));
        if !self.pubkey_auth {
            cfg.push_str("PubkeyAuthentication no\n");
        }
        cfg.push_str("LogLevel VERBOSE\n");
        for l in &self.last {
            cfg.push_str(&format!("{l}\n"));
        }
        cfg
    }
}

/// Starts sshd with `config`, logging to `log` (which sshd appends to), and waits for the line
/// it logs once it listens on `port`. Err with what it logged when it exits first.
fn spawn(config: &Path, log: &Path, home: &Path, port: u16) -> Result<Child, String> {
    let from = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let mut child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(config)
        .arg("-E")
        .arg(log)
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sshd");
    let listening = format!("Server listening on 127.0.0.1 port {port}.");
    let deadline = Instant::now() + DEADLINE;
    loop {
        if read_log(log, from).contains(&listening) {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{status}: {}", read_log(log, from)));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sshd did not log {listening:?} within {DEADLINE:?}: {}",
                read_log(log, from)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The log from byte `from` on.
fn read_log(log: &Path, from: u64) -> String {
    let bytes = std::fs::read(log).unwrap_or_default();
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    String::from_utf8_lossy(bytes.get(from..).unwrap_or_default()).into_owned()
}

impl Sshd {
    /// Appends a public key file's line to this server's own AuthorizedKeysFile.
    pub fn authorize(&self, pubkey: &Path) {
        let line = std::fs::read_to_string(pubkey).expect("read .pub");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("authorized_keys"))
            .expect("open the server's own authorized_keys");
        f.write_all(line.as_bytes()).expect("append");
    }

    /// [`Sshd::authorize`] with authorized_keys options in front of the key (`restrict`,
    /// `no-agent-forwarding`, ...).
    pub fn authorize_with(&self, options: &str, pubkey: &Path) {
        let line = std::fs::read_to_string(pubkey).expect("read .pub");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("authorized_keys"))
            .expect("open the server's own authorized_keys");
        f.write_all(format!("{options} {line}").as_bytes())
            .expect("append");
    }

    pub fn host_key_pub(&self) -> PathBuf {
        PathBuf::from(format!("{}.pub", self.host_key.display()))
    }

    /// A known_hosts line for this server as ssh would write it: `[127.0.0.1]:PORT type key`.
    pub fn known_hosts_line(&self) -> String {
        format!(
            "[127.0.0.1]:{} {}\n",
            self.port,
            key_words(&self.host_key_pub())
        )
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn log(&self) -> String {
        read_log(&self.log, 0)
    }

    /// The log once it holds `needle` (sshd writes it after the client has moved on): waits
    /// for the line itself, up to a generous deadline, instead of for a fixed moment.
    pub fn wait_log(&self, needle: &str) -> String {
        self.wait_log_until(|log| log.contains(needle))
    }

    /// The log once `done` says so, or at the deadline.
    pub fn wait_log_until(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let log = self.log();
            if done(&log) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops sshd and starts it again on the same port with sshd_config as it is now (after a
    /// fix edited it), waiting while the port is still held.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + DEADLINE;
        loop {
            match spawn(&self.config, &self.log, &self.dir, self.port) {
                Ok(child) => {
                    self.child = child;
                    return;
                }
                Err(said)
                    if said.contains("Address already in use") && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(said) => panic!("sshd did not restart: {said}"),
            }
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that refuses connections for as long as the guard lives: bound, so no
/// other test's listener can take it (a port that was free a moment ago can be taken by the
/// next `bind(:0)` of a test running alongside, which then accepts what was meant to be
/// refused), but never listening, so every connect to it is refused.
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
        addr.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
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

/// A port that was free a moment ago (bound to 127.0.0.1:0, then released): for sshd, which
/// must bind it itself; [`SshdBuilder::start`] tries another when it was taken meanwhile.
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// `ssh-keygen -t TYPE` into `dir/name`, with an optional passphrase; returns the private path.
pub fn keygen(dir: &Path, name: &str, key_type: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", key_type, "-N", passphrase, "-C", name, "-f"])
        .arg(&path)
        .env("HOME", dir)
        .stdin(Stdio::null());
    if key_type == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let out = cmd.output().expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
    path
}

/// `ssh-keygen -lf KEY` → `SHA256:...`: OpenSSH's own fingerprint, the oracle for ours (or
/// what ssh-keygen said when it has none).
pub fn fingerprint(path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen -l");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `TYPE BASE64` of a .pub file.
pub fn key_words(pubkey: &Path) -> String {
    let s = std::fs::read_to_string(pubkey).expect("read .pub");
    s.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// The real client the tests compare against, everything explicit: `ssh -F /dev/null
/// -o UserKnownHostsFile=KH -o GlobalKnownHostsFile=/dev/null [-o StrictHostKeyChecking=...]
/// -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=2 [-i KEY]... [ARGS]...
/// -p PORT root@127.0.0.1 true`, with `HOME` at `home` and no agent. As everywhere in ssh, the
/// first value of an option wins: one in ARGS does not override those before it.
pub struct Ssh<'a> {
    home: &'a Path,
    port: u16,
    known_hosts: &'a Path,
    user: &'a str,
    options: Vec<String>,
    connect_timeout: u32,
    keys: Vec<PathBuf>,
    args: Vec<String>,
}

impl<'a> Ssh<'a> {
    pub fn new(home: &'a Path, port: u16, known_hosts: &'a Path) -> Ssh<'a> {
        Ssh {
            home,
            port,
            known_hosts,
            user: "root",
            options: Vec::new(),
            connect_timeout: 2,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    pub fn user(mut self, user: &'a str) -> Self {
        self.user = user;
        self
    }

    /// `-o StrictHostKeyChecking=VALUE`.
    pub fn strict(mut self, value: &str) -> Self {
        self.options.push(format!("StrictHostKeyChecking={value}"));
        self
    }

    pub fn connect_timeout(mut self, secs: u32) -> Self {
        self.connect_timeout = secs;
        self
    }

    /// `-i KEY`, in the order given.
    pub fn key(mut self, key: &Path) -> Self {
        self.keys.push(key.to_path_buf());
        self
    }

    pub fn keys(mut self, keys: &[PathBuf]) -> Self {
        self.keys.extend_from_slice(keys);
        self
    }

    /// More arguments, after the keys.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn run(self) -> Output {
        let mut cmd = Command::new("ssh");
        cmd.args(["-F", "/dev/null", "-o"])
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args(["-o", "GlobalKnownHostsFile=/dev/null"]);
        for o in &self.options {
            cmd.arg("-o").arg(o);
        }
        cmd.args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o"])
            .arg(format!("ConnectTimeout={}", self.connect_timeout));
        for k in &self.keys {
            cmd.arg("-i").arg(k);
        }
        cmd.args(&self.args)
            .args(["-p", &self.port.to_string()])
            .arg(format!("{}@127.0.0.1", self.user))
            .arg("true")
            .env("HOME", self.home)
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null());
        cmd.output().expect("run ssh")
    }
}

/// A TCP listener on 127.0.0.1 (never any other address) whose every connection runs `serve`
/// on a thread of its own, for as long as the test process lives.
pub fn listener(serve: fn(TcpStream)) -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    port
}

/// Answers every connection like a web server would to a stray SSH client:
/// `HTTP/1.1 400 Bad Request`, then closes.
pub fn http_listener() -> u16 {
    listener(|mut s| {
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
    listener(|mut s| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
    })
}

/// Accepts and never says anything (holds each connection for 30 s).
pub fn silent_listener() -> u16 {
    listener(|s| {
        std::thread::sleep(Duration::from_secs(30));
        drop(s)
    })
}

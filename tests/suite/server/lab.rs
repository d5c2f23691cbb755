//! A throwaway sshd for the server-side tests: a fixture tree in a root-owned directory outside
//! /tmp (StrictModes checks every parent), an optional test user created with `useradd`, sshd on
//! 127.0.0.1 only, and a HOME of its own for sshdoctor (so its fix journal never lands in the
//! real home). Everything is undone on Drop: sshd killed and waited for, user deleted, tree
//! removed.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::run::{text, Sshdoctor};
use crate::support::sshd::{keygen, Ssh, Sshd};
use crate::support::user::TestUser;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Lab {
    pub root: PathBuf,
    /// The account logging in (a fresh test user, or root).
    pub user: String,
    pub home: PathBuf,
    /// The client's key pair (root-owned, 0600), never the real ~/.ssh.
    pub key: PathBuf,
    pub pubkey: PathBuf,
    pub known_hosts: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    pub port: u16,
    sshd: Option<Sshd>,
    /// The test user, if the lab made one: deleted on drop.
    _account: Option<TestUser>,
}

pub fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

fn ok(cmd: &str, args: &[&str]) {
    let o = run(cmd, args);
    assert!(
        o.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Lab {
    /// A fresh tree; with `new_user` a test user whose home is in it and whose authorized_keys
    /// holds the client key; without, the login user is root with keys under the tree.
    pub fn new(new_user: bool) -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let root = PathBuf::from(format!("/srv/sshdoctor-test-{pid}-{n}"));
        let _ = std::fs::remove_dir_all(&root);
        for d in ["", "sshd", "client", "home", "doctor-home"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir fixture");
        }
        ok("chmod", &["0755", root.to_str().unwrap_or_default()]);
        ok(
            "chmod",
            &["0755", root.join("home").to_str().unwrap_or_default()],
        );
        ok(
            "chmod",
            &["0700", root.join("sshd").to_str().unwrap_or_default()],
        );
        ok(
            "chmod",
            &["0700", root.join("client").to_str().unwrap_or_default()],
        );
        let account = new_user.then(|| TestUser::with_home(&root.join("home").join("user")));
        let (user, home) = match &account {
            Some(a) => (a.name.clone(), a.home.clone()),
            None => ("root".to_string(), root.join("rootkeys")),
        };
        keygen(&root.join("sshd"), "host_ed25519", "ed25519", "");
        let mut lab = Lab {
            key: keygen(&root.join("client"), "id_ed25519", "ed25519", ""),
            pubkey: root.join("client/id_ed25519.pub"),
            known_hosts: root.join("client/known_hosts"),
            config: root.join("sshd/sshd_config"),
            log: root.join("sshd/sshd.log"),
            root,
            user,
            home,
            port: 0,
            sshd: None,
            _account: account,
        };
        lab.reset_files();
        lab
    }

    /// The user's side back to a working state: home 0755, ~/.ssh 0700, authorized_keys 0600
    /// with the client key, all owned by the user.
    pub fn reset_files(&mut self) {
        let ssh = self.ssh_dir();
        std::fs::create_dir_all(&ssh).expect("mkdir ~/.ssh");
        let pubkey = std::fs::read(&self.pubkey).expect("read client pubkey");
        std::fs::write(self.authorized_keys(), pubkey).expect("write authorized_keys");
        let h = self.home.to_str().unwrap_or_default().to_string();
        ok("chown", &["-R", &format!("{}:", self.user), &h]);
        ok("chmod", &["0755", &h]);
        ok("chmod", &["0700", ssh.to_str().unwrap_or_default()]);
        ok(
            "chmod",
            &["0600", self.authorized_keys().to_str().unwrap_or_default()],
        );
    }

    pub fn ssh_dir(&self) -> PathBuf {
        self.home.join(".ssh")
    }

    pub fn authorized_keys(&self) -> PathBuf {
        self.ssh_dir().join("authorized_keys")
    }

    /// Starts sshd on a free loopback port with StrictModes yes and each user's own
    /// `.ssh/authorized_keys`, a fresh log named after `case`: `first` lines come first (sshd
    /// keeps the first value of a keyword), `last` after the defaults (for Match blocks).
    pub fn start(&mut self, case: &str, first: &str, last: &str) {
        self.stop();
        let dir = self.root.join("sshd");
        let mut b = Sshd::builder()
            .in_dir(&dir)
            .host_key(&dir.join("host_ed25519"))
            .log_name(&format!("{case}.log"))
            .strict_modes()
            .authorized_keys_file(".ssh/authorized_keys");
        for l in first.lines() {
            b = b.line(l);
        }
        for l in last.lines() {
            b = b.last(l);
        }
        let sshd = b.start();
        self.port = sshd.port;
        self.log = sshd.log_path().to_path_buf();
        self.sshd = Some(sshd);
    }

    /// Restarts sshd with the config file as it is now (after a fix edited it), same port.
    pub fn reload(&mut self) {
        self.sshd.as_mut().expect("sshd started").restart();
    }

    pub fn stop(&mut self) {
        self.sshd = None;
    }

    /// The log once it holds `needle`: sshd writes the end of a refused connection after the
    /// client has already given up, so a test reads it only when it is there.
    pub fn wait_log(&self, needle: &str) -> String {
        self.sshd.as_ref().expect("sshd started").wait_log(needle)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A real `ssh` login with only the lab's key, known_hosts and no agent.
    pub fn login(&self) -> Result<(), String> {
        let o = Ssh::new(&self.root.join("client"), self.port, &self.known_hosts)
            .user(&self.user)
            .strict("accept-new")
            .connect_timeout(5)
            .key(&self.key)
            .args(&["-o", "IdentityAgent=none", "-o", "LogLevel=ERROR"])
            .run();
        if o.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
        }
    }

    /// `sshdoctor server --json` against this lab; returns the exit code and the report.
    pub fn doctor(&self, extra: &[&str]) -> (i32, serde_json::Value) {
        let (code, v) = Sshdoctor::new(&self.doctor_home())
            .args(["server", "--json", "--user", &self.user])
            .arg("--sshd-config")
            .arg(&self.config)
            .arg("--log")
            .arg(&self.log)
            .args(extra)
            .json();
        (code.unwrap_or(-1), v)
    }
}

/// One file or directory as `undo` must give it back: mode, owner and (for files) bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct FileState {
    pub path: PathBuf,
    pub mode: u32,
    pub uid: u32,
    pub bytes: Option<Vec<u8>>,
}

impl Lab {
    /// The HOME sshdoctor runs with: its fix journal lives under it.
    pub fn doctor_home(&self) -> PathBuf {
        self.root.join("doctor-home")
    }

    /// `sshdoctor ARGS` with the lab's HOME, no terminal, no agent; (exit code, stdout, stderr).
    pub fn sshdoctor(&self, args: &[&str]) -> (i32, String, String) {
        let o = Sshdoctor::new(&self.doctor_home()).args(args).output();
        (
            o.status.code().unwrap_or(-1),
            text(&o.stdout),
            text(&o.stderr),
        )
    }

    /// The state of the user's side and of the sshd config, for comparing before and after.
    pub fn state(&self) -> Vec<FileState> {
        use std::os::unix::fs::MetadataExt;
        [
            self.home.clone(),
            self.ssh_dir(),
            self.authorized_keys(),
            self.config.clone(),
        ]
        .into_iter()
        .map(|path| match std::fs::metadata(&path) {
            Ok(m) => FileState {
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                bytes: m.is_file().then(|| std::fs::read(&path).expect("read")),
                path,
            },
            Err(_) => FileState {
                path,
                mode: 0,
                uid: u32::MAX,
                bytes: None,
            },
        })
        .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The finding with this id, if any.
pub fn finding<'a>(report: &'a serde_json::Value, id: &str) -> Option<&'a serde_json::Value> {
    report["findings"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == id)
}

/// Whether some evidence line of the finding contains `needle`.
pub fn has_evidence(f: &serde_json::Value, needle: &str) -> bool {
    f["evidence"].as_array().is_some_and(|e| {
        e.iter()
            .any(|x| x.as_str().is_some_and(|s| s.contains(needle)))
    })
}

/// The fix with this id that the finding offers.
pub fn offered<'a>(f: &'a serde_json::Value, fix_id: &str) -> &'a serde_json::Value {
    f["fixes"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == fix_id))
        .unwrap_or_else(|| panic!("no fix {fix_id} in {f:#}"))
}

/// Runs the command of the fix with this id, as a person would paste it (for the fixes
/// sshdoctor leaves to the administrator, like chown).
pub fn apply_fix(f: &serde_json::Value, fix_id: &str) {
    let cmd = offered(f, fix_id)["command"].as_str().unwrap_or_default();
    let o = run("sh", &["-c", cmd]);
    assert!(
        o.status.success(),
        "fix {cmd:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

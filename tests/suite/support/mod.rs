//! Shared test helpers: real sshd instances and fake servers ([`sshd`]), a private tmux server
//! ([`tmux`]), and ways to build probe inputs from files ssh-keygen wrote.

pub mod sshd;
pub mod tmux;
pub mod user;

/// The sshdoctor binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_sshdoctor");

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::{HashAlg, PublicKey};
use sshdoctor::finding::Finding;
use sshdoctor::probe::{HostKeyVerdict, Identity, ProbeReport, StageStatus};

/// What a process printed on stderr, CRs dropped (ssh ends lines with CRLF on a tty).
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).replace('\r', "")
}

/// The OpenSSH oracle: what real `ssh` printed must contain `text`.
pub fn ssh_says(out: &std::process::Output, text: &str) {
    assert!(stderr(out).contains(text), "ssh said: {}", stderr(out));
}

/// The ids of a probe report's findings, in order.
pub fn ids(r: &ProbeReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.id.as_str()).collect()
}

/// The finding with `id` (the test fails, listing them all, when there is none).
pub fn finding<'a>(r: &'a ProbeReport, id: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:#?}", r.findings))
}

/// The status of the stage named `name`.
pub fn stage(r: &ProbeReport, name: &str) -> StageStatus {
    r.stages
        .iter()
        .find(|s| s.stage == name)
        .map(|s| s.status)
        .unwrap_or_else(|| panic!("no stage {name}"))
}

/// An [`Identity`] from a key ssh-keygen wrote (`path` and `path.pub`).
pub fn identity(path: &Path, encrypted: bool) -> Identity {
    let text = std::fs::read_to_string(path.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", path.display())))
        .expect("read .pub");
    Identity {
        path: path.to_path_buf(),
        public_key: PublicKey::from_openssh(text.trim()).expect("parse .pub"),
        encrypted,
        local_problem: None,
        public_only: false,
        certificate: None,
    }
}

/// A host-key verdict closure: `None` means "in no known_hosts"; `Some(fp)` is the fingerprint
/// known_hosts holds at `known_hosts:1` (a match when equal, `Changed` otherwise).
pub fn verdict(known: Option<String>) -> Box<dyn Fn(&PublicKey) -> HostKeyVerdict + Send + Sync> {
    Box::new(move |key: &PublicKey| {
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        match &known {
            None => HostKeyVerdict::Unknown,
            Some(k) if *k == fp => HostKeyVerdict::Match {
                file: PathBuf::from("known_hosts"),
                line: 1,
            },
            Some(k) => HostKeyVerdict::Changed {
                file: PathBuf::from("known_hosts"),
                line: 1,
                old_fingerprint: k.clone(),
                old_key_type: "ssh-ed25519".into(),
            },
        }
    })
}

/// A private `ssh-agent -D -a SOCK` in a temp dir (never the user's agent); killed on drop.
pub struct Agent {
    pub sock: PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Agent {
    pub fn start() -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("agent.sock");
        let child = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .env("HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn ssh-agent");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !sock.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Agent {
            sock,
            child,
            _dir: dir,
        }
    }

    /// `ssh-add KEY` into this agent.
    pub fn add(&self, key: &Path) {
        let out = std::process::Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.sock)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("ssh-add");
        assert!(out.status.success(), "ssh-add: {out:?}");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

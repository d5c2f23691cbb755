//! Shared test helpers: real sshd instances and fake servers ([`sshd`]), and ways to build probe
//! inputs from files ssh-keygen wrote.

#![allow(dead_code)]

pub mod sshd;

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::{HashAlg, PublicKey};
use sshdoctor::probe::{HostKeyVerdict, Identity};

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

//! Shared test helpers: real sshd instances, the real client and fake servers ([`sshd`]), the
//! sshdoctor binary run with a temp HOME ([`run`]), a private tmux server ([`tmux`]), test
//! accounts ([`user`]), a private ssh-agent ([`agent`]), and the probe run in-process on inputs
//! built from files ssh-keygen wrote.

pub mod agent;
pub mod kbd_server;
pub mod old_server;
pub mod run;
pub mod sshd;
pub mod tmux;
pub mod user;

/// The sshdoctor binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_sshdoctor");

use std::path::{Path, PathBuf};
use std::time::Duration;

use russh::keys::ssh_key::{HashAlg, PublicKey};
use sshdoctor::finding::Finding;
use sshdoctor::probe::{
    self, HostKeyVerdict, Identity, LoginMode, ProbeOptions, ProbeReport, StageStatus,
};

/// What a process printed on stderr, CRs dropped (ssh ends lines with CRLF on a tty).
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).replace('\r', "")
}

/// The OpenSSH oracle: what real `ssh` printed must contain `text`.
pub fn ssh_says(out: &std::process::Output, text: &str) {
    assert!(stderr(out).contains(text), "ssh said: {}", stderr(out));
}

/// The permission bits of `p`.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).expect("stat").mode() & 0o7777
}

pub fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
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

/// The probe's options for `root@127.0.0.1:PORT` with only `identities`, no agent, the host-key
/// verdict of [`verdict`]`(known)`, a 2 s timeout and keys tried without asking for a
/// passphrase; a test changes fields from there.
pub fn probe_options(port: u16, identities: Vec<Identity>, known: Option<String>) -> ProbeOptions {
    ProbeOptions {
        host: "127.0.0.1".into(),
        port,
        user: "root".into(),
        display_target: format!("root@127.0.0.1:{port}"),
        identities,
        use_agent: None,
        identities_only: true,
        host_key_check: verdict(known),
        host_cert_check: None,
        agent_certificate_files: Vec::new(),
        timeout: Duration::from_secs(2),
        max_auth_tries: 6,
        login: LoginMode::WithKey,
        jumps: Vec::new(),
        host_key_algorithms: Vec::new(),
        algorithms: Default::default(),
        password: None,
        forward_agent: false,
        second_hop: None,
        kbd_prompt: None,
        cross_check: None,
        slow_after: None,
    }
}

/// Runs the probe to its report on a runtime of its own.
pub fn probe(o: ProbeOptions) -> ProbeReport {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(probe::run(o, None))
}

//! Shared helpers for the fix tests: a temp HOME, the sshdoctor binary run with it (no terminal,
//! no agent), ssh-keygen fixtures, and a throwaway sshd on 127.0.0.1.

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub use crate::support::sshd::{fingerprint, key_words, keygen, Sshd};
pub use crate::support::user::TestUser;

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

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).expect("stat").mode() & 0o7777
}

pub fn set_mode(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod");
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

//! The server side: why sshd refuses a login, from sshd's own effective config, the modes on the
//! way to `authorized_keys`, the keys in it and the lines sshd logged.
//!
//! The client only ever hears `Permission denied (publickey)`; sshd keeps the reason to itself on
//! purpose. The submodules are pure functions over text and metadata (sshd -T output, passwd and
//! group files, stat results, log lines, `/proc/net/tcp`) returning facts and [`Finding`]s, each
//! with its thin reader at its edge; only [`inspect`] calls those readers and runs `sshd -T`.
//!
//! - `passwd`: the password and group databases.
//! - `sshd_config`: sshd's effective options (`sshd -T`, or the files when it cannot run).
//! - `strict_modes`: sshd's `safe_path` walk and its findings.
//! - `log`: sshd's log lines and the refusals they name.
//! - `listen`: the listening sockets against sshd's ListenAddress.
//! - `diagnose`: the rules that turn the facts into findings.
//! - `commands`: the shell commands the findings show.

mod certificates;
mod commands;
mod diagnose;
mod forwarding;
mod listen;
mod log;
mod passwd;
mod sshd_config;
mod strict_modes;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;
use russh::keys::ssh_key::{Certificate, HashAlg, PublicKey};
use serde::Serialize;

use crate::authorized_keys;
use crate::finding::Finding;
use crate::platform::Platform;

pub use commands::{allow_from_command, append_key_command, replace_line_command};
pub use diagnose::{diagnose, user_refused, KeyFile, ServerFacts, WantedKey};
pub use forwarding::{
    allow_agent_forwarding_line, line_refuses, ForwardingSummary, KeyLineForwarding,
};
pub use listen::parse_proc_net_tcp;
pub use log::{classify, parse_log_line, LogEvent, LogLine};
pub use passwd::{parse_group, parse_passwd, private_group, user_groups, GroupEntry, PwEntry};
pub use sshd_config::{SshdConfig, REPORTED_OPTIONS};
pub use strict_modes::{strict_modes_walk, FileStat, Problem, Role, Violation};

use log::system_log;
use sshd_config::sshd_dump;
use strict_modes::{debian_sshd, stat_of};

/// How long a helper sshd's side is read with (`sshd -T`, `journalctl`, `ssh -V`) may take
/// before it is given up on: long enough for a cold journal, short enough that a hung one does
/// not hang `sshdoctor server` or the dashboard's Server pane.
const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// What to inspect.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub user: Option<String>,
    pub key_fingerprint: Option<String>,
    pub pubkey: Option<PathBuf>,
    pub sshd_config: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub client_addr: Option<IpAddr>,
    /// Also say whether this user can forward an agent here (`--forwarding`).
    pub forwarding: bool,
}

/// Everything `sshdoctor server` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    pub user: String,
    pub sshd: serde_json::Map<String, serde_json::Value>,
    /// `sshd -T` or the parsed file.
    pub sshd_source: String,
    pub authorized_keys: Vec<serde_json::Value>,
    pub log_lines: Vec<String>,
    pub listening: Vec<String>,
    /// With `--forwarding`: whether sshd lets this user forward an agent, and why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarding: Option<ForwardingSummary>,
    pub findings: Vec<Finding>,
}

/// Errors that make the inspection impossible (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("no user {0:?} in /etc/passwd")]
    NoSuchUser(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    BadInput(String),
}

/// Reads the system and diagnoses. The only function here with side effects (reads, `sshd -T`).
pub fn inspect(opts: &ServerOptions) -> Result<ServerReport, ServerError> {
    let read = |p: &str| {
        std::fs::read_to_string(p).map_err(|source| ServerError::Read {
            path: p.to_string(),
            source,
        })
    };
    let passwd = parse_passwd(&read("/etc/passwd")?);
    let groups_db = parse_group(&std::fs::read_to_string("/etc/group").unwrap_or_default());
    let user = match &opts.user {
        Some(n) => passwd
            .iter()
            .find(|p| &p.name == n)
            .cloned()
            .ok_or_else(|| ServerError::NoSuchUser(n.clone()))?,
        None => {
            let uid = crate::sys::current_uid();
            passwd
                .iter()
                .find(|p| p.uid == uid)
                .cloned()
                .ok_or_else(|| ServerError::NoSuchUser(format!("uid {uid}")))?
        }
    };
    let groups = user_groups(&user, &groups_db);

    let log_text = system_log(opts.log.as_deref(), Platform::current())?;
    let log: Vec<LogLine> = log_text.lines().filter_map(parse_log_line).collect();

    let mut wanted = None;
    if let Some(p) = &opts.pubkey {
        let text = read(&p.display().to_string())?;
        let cert = text
            .trim()
            .contains("-cert-v01@openssh.com ")
            .then(|| Certificate::from_openssh(text.trim()))
            .transpose()
            .map_err(|e| {
                ServerError::BadInput(format!(
                    "{} is not an OpenSSH certificate: {e}",
                    p.display()
                ))
            })?;
        let key = match &cert {
            Some(c) => PublicKey::from(c.public_key().clone()),
            None => PublicKey::from_openssh(text.trim()).map_err(|e| {
                ServerError::BadInput(format!("{} is not an OpenSSH public key: {e}", p.display()))
            })?,
        };
        wanted = Some(WantedKey {
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            key: Some(key),
            pubkey_file: Some(p.clone()),
            source: format!("--pubkey {}", p.display()),
            certificate: cert,
        });
    } else if let Some(fp) = &opts.key_fingerprint {
        let fp = fp.trim();
        if fp.strip_prefix("SHA256:").unwrap_or(fp).is_empty() || fp.starts_with("MD5:") {
            return Err(ServerError::BadInput(format!(
                "--key wants a SHA256 fingerprint as ssh-keygen -l prints it, not {fp:?}"
            )));
        }
        wanted = Some(WantedKey {
            fingerprint: fp.to_string(),
            key: None,
            pubkey_file: None,
            source: "--key".into(),
            certificate: None,
        });
    }
    // Without a key given, the last key sshd refused for this user is the one in question; and
    // the last client address sshd saw for the user stands in for the client.
    let events: Vec<LogEvent> = log.iter().filter_map(|l| classify(&l.message)).collect();
    if wanted.is_none() && opts.forwarding {
        // For forwarding the login works: the key in question is the last one sshd accepted.
        if let Some(LogEvent::AcceptedPublickey { fingerprint, .. }) = events
            .iter()
            .rev()
            .find(|e| matches!(e, LogEvent::AcceptedPublickey { user: u, .. } if *u == user.name))
        {
            wanted = Some(WantedKey {
                fingerprint: fingerprint.clone(),
                key: None,
                pubkey_file: None,
                source: "last key accepted in the log".into(),
                certificate: None,
            });
        }
    }
    if wanted.is_none() {
        if let Some(LogEvent::FailedPublickey { fingerprint, .. }) = events
            .iter()
            .rev()
            .find(|e| matches!(e, LogEvent::FailedPublickey { user: u, .. } if *u == user.name))
        {
            wanted = Some(WantedKey {
                fingerprint: fingerprint.clone(),
                key: None,
                pubkey_file: None,
                source: "last key refused in the log".into(),
                certificate: None,
            });
        }
    }
    let client_addr = opts.client_addr.or_else(|| {
        events
            .iter()
            .rev()
            .filter(|e| e.user() == Some(user.name.as_str()))
            .find_map(|e| e.from().and_then(|a| a.parse().ok()))
    });

    let config_path = opts
        .sshd_config
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/ssh/sshd_config"));
    if opts.sshd_config.is_some() && !config_path.exists() {
        return Err(ServerError::BadInput(format!(
            "{} does not exist",
            config_path.display()
        )));
    }
    let (sshd, sshd_source) = match sshd_dump(&config_path, &user.name, client_addr) {
        Some(t) => (SshdConfig::from_dump(&t), "sshd -T".to_string()),
        None => (
            SshdConfig::from_files(&config_path, &|p| std::fs::read_to_string(p).ok()),
            format!("parsed {} (sshd -T unavailable)", config_path.display()),
        ),
    };

    let debian = debian_sshd();
    let home = std::fs::canonicalize(&user.home).unwrap_or_else(|_| user.home.clone());
    let mut violations: Vec<Violation> = Vec::new();
    let mut key_files = Vec::new();
    for path in sshd.authorized_keys_files(&user) {
        let content = match std::fs::read(&path) {
            Ok(b) => Some(Ok(authorized_keys::parse(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(Err(e.to_string())),
        };
        if content.is_some() {
            let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            let group_ok =
                |st: &FileStat| debian && private_group(st.gid, st.uid, &passwd, &groups_db);
            for v in strict_modes_walk(&real, &home, user.uid, &stat_of, &group_ok) {
                if !violations.iter().any(|x| x.path == v.path) {
                    violations.push(v);
                }
            }
        }
        key_files.push(KeyFile { path, content });
    }

    let platform = Platform::current();
    let mut socks = Vec::new();
    let mut have_proc = false;
    for p in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(t) = std::fs::read_to_string(p) {
            have_proc = true;
            socks.extend(parse_proc_net_tcp(&t));
        }
    }

    let user_cas = trusted_user_cas(&sshd);
    let principals_file = principals_file(&sshd, &user);
    let facts = ServerFacts {
        user: user.clone(),
        groups,
        sshd,
        config_path,
        violations,
        key_files,
        wanted,
        client_addr,
        log,
        listening: have_proc.then_some(socks.clone()),
        remote_login: (platform == Platform::MacOs).then(remote_login).flatten(),
        platform,
        user_cas,
        principals_file,
        now: SystemTime::now(),
    };
    let mut findings = diagnose(&facts);
    let forwarding = opts.forwarding.then(|| {
        let (summary, more) = forwarding::forwarding(&facts);
        findings.extend(more);
        crate::finding::sort_worst_first(&mut findings);
        summary
    });
    let authorized_keys = facts
        .key_files
        .iter()
        .map(|k| {
            let entries: Vec<serde_json::Value> = match &k.content {
                Some(Ok(ak)) => ak
                    .entries()
                    .map(|e| serde_json::to_value(e).unwrap_or(serde_json::Value::Null))
                    .collect(),
                _ => Vec::new(),
            };
            serde_json::json!({
                "path": k.path.display().to_string(),
                "exists": k.content.is_some(),
                "entries": entries,
            })
        })
        .collect();
    let relevant: Vec<String> = facts
        .log
        .iter()
        .filter(|l| classify(&l.message).is_some_and(|e| e.user().is_none_or(|u| u == user.name)))
        .map(|l| l.raw.clone())
        .collect();
    let log_lines = relevant
        .get(relevant.len().saturating_sub(50)..)
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    Ok(ServerReport {
        user: user.name.clone(),
        sshd: facts.sshd.summary(&user),
        sshd_source,
        authorized_keys,
        log_lines,
        listening: socks
            .iter()
            .map(|(a, p)| match a {
                IpAddr::V6(_) => format!("[{a}]:{p}"),
                IpAddr::V4(_) => format!("{a}:{p}"),
            })
            .collect(),
        forwarding,
        findings,
    })
}

/// `TrustedUserCAKeys`, read (`None` when it is `none`).
fn trusted_user_cas(sshd: &SshdConfig) -> Option<certificates::TrustedCas> {
    let v = sshd.get("trustedusercakeys")?;
    if v.eq_ignore_ascii_case("none") {
        return None;
    }
    let path = PathBuf::from(v);
    let fingerprints = std::fs::read_to_string(&path)
        .map(|t| certificates::ca_fingerprints(&t))
        .map_err(|e| e.to_string());
    Some(certificates::TrustedCas { path, fingerprints })
}

/// `AuthorizedPrincipalsFile` for `user` (`%h`, `%u`, `%U`, `%%` expanded; relative to the home
/// directory), read, or `None` when it is `none`.
fn principals_file(
    sshd: &SshdConfig,
    user: &PwEntry,
) -> Option<(PathBuf, Result<Vec<String>, String>)> {
    let v = sshd.get("authorizedprincipalsfile")?;
    if v.eq_ignore_ascii_case("none") {
        return None;
    }
    let expanded =
        sshd_config::percent_expand(v, &user.home.display().to_string(), &user.name, user.uid);
    let path = if expanded.starts_with('/') {
        PathBuf::from(expanded)
    } else {
        user.home.join(expanded)
    };
    let listed = std::fs::read_to_string(&path)
        .map(|t| certificates::principals_in_file(&t))
        .map_err(|e| e.to_string());
    Some((path, listed))
}

/// macOS's Remote Login switch, from `systemsetup -getremotelogin` (`None` without the
/// administrator rights it needs, or when it says something else).
fn remote_login() -> Option<bool> {
    let ran = crate::sys::run_bounded(
        std::process::Command::new("systemsetup").arg("-getremotelogin"),
        HELPER_TIMEOUT,
    )
    .ok()?;
    parse_remote_login(&String::from_utf8_lossy(&ran.stdout))
}

/// `Remote Login: On` / `Remote Login: Off`, as systemsetup prints it.
pub fn parse_remote_login(text: &str) -> Option<bool> {
    let v = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Remote Login:"))?;
    match v.trim().to_ascii_lowercase().as_str() {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

/// Convenience for callers that want anyhow context.
pub fn inspect_ctx(opts: &ServerOptions) -> anyhow::Result<ServerReport> {
    inspect(opts).context("inspecting the server side")
}

#[cfg(test)]
mod tests {
    #[test]
    fn remote_login_is_read_as_systemsetup_prints_it() {
        assert_eq!(super::parse_remote_login("Remote Login: On\n"), Some(true));
        assert_eq!(
            super::parse_remote_login("Remote Login: Off\n"),
            Some(false)
        );
        assert_eq!(
            super::parse_remote_login(
                "You need administrator access to run this tool... exiting!\n"
            ),
            None
        );
    }
}

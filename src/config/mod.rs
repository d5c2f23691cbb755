//! What ssh will actually use for a target: user, host name, port, identity files, known_hosts
//! files, agent and algorithm settings.
//!
//! `ssh -G` is the source of truth: it resolves `Include`, `Match`, `Host` patterns and OpenSSH's
//! own defaults exactly as the real login will. When ssh is missing or refuses, a faithful parser
//! of the common ssh_config keywords takes over ([`effective_parsed`]), so the doctor still works
//! on a machine without the client or with a config ssh rejects.
//!
//! Two OpenSSH quirks drive the shape of this module (measured on OpenSSH 9.2):
//! - ssh takes `~` and `%d` from the password database, never from `$HOME`. sshdoctor treats
//!   [`SshPaths::home`] as the home for every file, so when the two differ we hand ssh the config
//!   file explicitly (`-F`) and map the password-database home in its answer back to ours.
//! - `ssh -G` prints `identityfile` unexpanded (`~/.ssh/id_rsa`, `%d/.ssh/%h`) but
//!   `userknownhostsfile` and `identityagent` already expanded; [`parse_ssh_g`] evens that out.
//!
//! The pieces: `ssh_g` runs and reads `ssh -G`, `parse` is the stand-in parser, `identity` lists
//! the IdentityFile lines and judges the configured keys, `edit` is the lossless editor behind
//! the config fixes and `proof` checks its result with `ssh -G` before anything is written. This file holds the types they share,
//! the entry point [`effective`] that picks between the two sources, and the `%` token expansion
//! both use. The target itself (`[user@]host[:port]`) is [`crate::target`].

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::paths::SshPaths;
use crate::sys::{current_uid, local_hostname, passwd};

pub mod edit;
mod identity;
mod parse;
pub mod proof;
mod ssh_g;

// The target lives in `crate::target`; re-exported so the `sshdoctor::config::` paths the
// tests name keep working.
pub use crate::target::{parse_target, Target, TargetError};
pub use identity::{
    all_certificate_files, all_identity_files, command_line_identity_missing, identity_findings,
};
pub use parse::effective_parsed;
pub use ssh_g::rejection_finding;
pub use ssh_g::{parse_ssh_g, parse_ssh_g_with_home};

use identity::identity_lines;
use ssh_g::{config_file_for_ssh, run_with_timeout, ssh_g_args};

/// Which way the effective configuration was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConfigSource {
    #[serde(rename = "ssh -G")]
    SshG,
    #[serde(rename = "parsed")]
    Parsed,
}

/// The configuration ssh will use for one target, after every Host/Match/Include and default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveConfig {
    pub host_alias: String,
    pub hostname: String,
    pub user: String,
    pub port: u16,
    /// Every identity ssh will try, `~` and `%` tokens expanded, in ssh's order.
    pub identity_files: Vec<PathBuf>,
    /// The identities someone asked for (config, `-i`); empty when only OpenSSH's defaults apply.
    pub explicit_identity_files: Vec<PathBuf>,
    pub identities_only: bool,
    /// Empty when set to `none`.
    pub user_known_hosts_files: Vec<PathBuf>,
    pub global_known_hosts_files: Vec<PathBuf>,
    /// As `ssh -G` prints it: `ask`, `true`, `false` or `accept-new`.
    pub strict_host_key_checking: String,
    pub hash_known_hosts: bool,
    pub proxy_jump: Option<String>,
    pub forward_agent: bool,
    pub identity_agent: Option<String>,
    pub connect_timeout: Option<u64>,
    pub batch_mode: bool,
    pub host_key_algorithms: Option<String>,
    pub kex_algorithms: Option<String>,
    pub ciphers: Option<String>,
    pub macs: Option<String>,
    pub pubkey_accepted_algorithms: Option<String>,
    pub source: ConfigSource,
    /// Everything ssh -G printed (or, when parsed, every keyword that applied), lower-case keys.
    pub options: BTreeMap<String, Vec<String>>,
    /// Where each explicit identity file was configured (`file:line`), when known.
    pub identity_sources: BTreeMap<PathBuf, String>,
    /// Why `ssh -G` was not used, when the parser stood in for it (ssh's own message).
    pub ssh_g_error: Option<String>,
    /// `CertificateFile`s, `~` and `%` tokens expanded, in order: certificates ssh offers with
    /// the private key each certifies (from the identities or the agent).
    pub certificate_files: Vec<PathBuf>,
}

/// What to resolve: the target plus the command-line overrides ssh would get.
#[derive(Debug, Clone, Copy)]
pub struct ConfigRequest<'a> {
    pub target: &'a Target,
    /// `-F FILE`: replaces both the user and the system config, as in ssh.
    pub config_file: Option<&'a Path>,
    pub port: Option<u16>,
    pub user: Option<&'a str>,
    /// `-i FILE`s: tried before the config's identity files.
    pub identity_files: &'a [PathBuf],
}

impl ConfigRequest<'_> {
    fn cmdline_user(&self) -> Option<&str> {
        self.user.or(self.target.user.as_deref())
    }
    fn cmdline_port(&self) -> Option<u16> {
        self.port.or(self.target.port)
    }
}

/// Why the effective configuration could not be had at all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the ssh config file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// OpenSSH's identity files when none is configured, in the order ssh 9.2 tries them.
pub const DEFAULT_IDENTITY_FILES: [&str; 7] = [
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];
/// OpenSSH's READCONF_MAX_DEPTH: Include loops stop here instead of recursing forever.
const MAX_INCLUDE_DEPTH: usize = 16;
const SSH_G_TIMEOUT: Duration = Duration::from_secs(5);

/// The effective config: `ssh -G` when it runs, else [`effective_parsed`] (with ssh's complaint
/// kept in `ssh_g_error`). Fails only when an explicitly given config file cannot be read, which
/// ssh refuses too.
pub fn effective(req: &ConfigRequest, paths: &SshPaths) -> Result<EffectiveConfig, ConfigError> {
    effective_using(req, paths, OsStr::new("ssh"))
}

/// [`effective`] with a chosen ssh binary, so the fallback can be exercised (and a non-PATH ssh
/// used).
pub fn effective_using(
    req: &ConfigRequest,
    paths: &SshPaths,
    ssh: &OsStr,
) -> Result<EffectiveConfig, ConfigError> {
    effective_with_timeout(req, paths, ssh, SSH_G_TIMEOUT)
}

/// [`effective_using`] with a chosen limit for `ssh -G` (a `Match exec` in the config can make
/// it slow or hang; past the limit ssh is killed and the parser answers).
pub fn effective_with_timeout(
    req: &ConfigRequest,
    paths: &SshPaths,
    ssh: &OsStr,
    timeout: Duration,
) -> Result<EffectiveConfig, ConfigError> {
    if let Some(file) = req.config_file {
        if file != Path::new("/dev/null") {
            std::fs::File::open(file).map_err(|source| ConfigError::Unreadable {
                path: file.to_path_buf(),
                source,
            })?;
        }
    }
    let read = |p: &Path| std::fs::read(p).ok().map(|b| lossy(&b));
    let args = ssh_g_args(req, paths);
    let mut cfg = match run_with_timeout(ssh, &args, timeout) {
        Ok(out) => {
            let mut cfg = parse_ssh_g(&out, paths);
            let cfg_file = config_file_for_ssh(req, paths);
            let mut sources = BTreeMap::new();
            let scan = cfg_file.unwrap_or_else(|| paths.config());
            if scan != Path::new("/dev/null") {
                let f = scan;
                for (file, line, id) in identity_lines(&f, paths, &read) {
                    sources
                        .entry(expand_tokens_for(&cfg, &id, paths))
                        .or_insert_with(|| format!("{}:{}", file.display(), line));
                }
            }
            cfg.identity_sources = cfg
                .explicit_identity_files
                .iter()
                .filter_map(|p| sources.get(p).map(|s| (p.clone(), s.clone())))
                .collect();
            cfg
        }
        Err(why) => {
            let mut cfg = effective_parsed(req, paths, &read);
            cfg.ssh_g_error = Some(why);
            cfg
        }
    };
    cfg.options.retain(|k, _| !k.is_empty());
    Ok(cfg)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is_yes(v: Option<&str>) -> bool {
    matches!(v, Some("yes" | "true"))
}

/// Expands `~` and ssh's `%` tokens in a path the way ssh does for IdentityFile and
/// UserKnownHostsFile, with the values of this config. Unknown tokens stay as written.
fn expand_tokens_for(cfg: &EffectiveConfig, raw: &str, paths: &SshPaths) -> PathBuf {
    let local = passwd();
    let local_user = local
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_else(|| std::env::var("USER").unwrap_or_default());
    let lhost = local_hostname();
    let short = lhost.split('.').next().unwrap_or_default().to_string();
    let uid = current_uid().to_string();
    let tilde = paths.expand_tilde(raw).display().to_string();
    let home = paths.home.display().to_string();
    let port = cfg.port.to_string();
    let mut out = String::with_capacity(tilde.len());
    let mut chars = tilde.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('d') => out.push_str(&home),
            Some('h') => out.push_str(&cfg.hostname),
            Some('n') => out.push_str(&cfg.host_alias),
            Some('r') => out.push_str(&cfg.user),
            Some('u') => out.push_str(&local_user),
            Some('p') => out.push_str(&port),
            Some('l') => out.push_str(&lhost),
            Some('L') => out.push_str(&short),
            Some('i') => out.push_str(&uid),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    PathBuf::from(out)
}

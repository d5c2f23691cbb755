//! From what the user typed to what the probe needs: the thin layer that reads the local side
//! (effective ssh config, key files, known_hosts) and builds [`ProbeOptions`]. The CLI and the
//! TUI both call [`options`], so a probe started from either sees the same inputs ssh would.

use std::path::{Path, PathBuf};
use std::time::Duration;

use russh::keys::ssh_key::PublicKey;

use super::{jump, HostKeyVerdict, Identity, LoginMode, ProbeOptions};
use crate::config::{self, ConfigRequest, EffectiveConfig, Target};
use crate::inspect::read_known_hosts;
use crate::keys;
use crate::known_hosts::{self, HostKeyStatus, KnownHosts};
use crate::paths::{current_uid, SshPaths};
use crate::perms;

/// What the user asked to probe, before the config is applied.
#[derive(Debug, Clone, Default)]
pub struct ProbeRequest {
    /// `[user@]host[:port]` or a config alias.
    pub target: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// `-i`: key files to try, in order (added to the config's, as ssh does).
    pub identity_files: Vec<PathBuf>,
    /// `-F`: another ssh config.
    pub config_file: Option<PathBuf>,
    /// `--known-hosts`: compare with this file instead of the config's.
    pub known_hosts_file: Option<PathBuf>,
    pub timeout: Duration,
    /// The agent socket (normally `$SSH_AUTH_SOCK`).
    pub agent_socket: Option<PathBuf>,
}

/// Resolves the target through the effective config and loads everything the probe compares
/// against. Fails only on bad usage (an unparsable target) or an unreadable explicit config.
pub fn options(
    req: &ProbeRequest,
    paths: &SshPaths,
    login: LoginMode,
) -> anyhow::Result<(ProbeOptions, EffectiveConfig)> {
    let target: Target = config::parse_target(&req.target)
        .map_err(|e| crate::cli::usage(format!("bad target {:?}: {e}", req.target)))?;
    let creq = ConfigRequest {
        target: &target,
        config_file: req.config_file.as_deref(),
        port: req.port,
        user: req.user.as_deref(),
        identity_files: &req.identity_files,
    };
    let cfg = config::effective(&creq, paths)?;
    let mut opts = host_options(req, &cfg, &req.target, paths, login);

    // ProxyJump: each hop with its own effective config, as ssh does when it runs
    // `ssh [-l user] [-p port] [-F file] [-J earlier,hops] -W host:port hop`: the hop's user and
    // port from the ProxyJump value win over its config; `-i` is not passed on.
    if let Some(value) = &cfg.proxy_jump {
        let hops = jump::parse_proxy_jump(value)
            .map_err(|e| anyhow::anyhow!("ProxyJump of {:?}: {e}", req.target))?;
        for hop in hops {
            let hreq = ConfigRequest {
                target: &hop,
                config_file: req.config_file.as_deref(),
                port: None,
                user: None,
                identity_files: &[],
            };
            let hcfg = config::effective(&hreq, paths)?;
            let display = match (&hop.user, hop.port) {
                (Some(u), Some(p)) => format!("{u}@{}:{p}", hop.host),
                (Some(u), None) => format!("{u}@{}", hop.host),
                (None, Some(p)) => format!("{}:{p}", hop.host),
                (None, None) => hop.host.clone(),
            };
            // The hop's login mode is set by the probe from the target's (see ProbeOptions).
            opts.jumps.push(host_options(
                req,
                &hcfg,
                &display,
                paths,
                LoginMode::WithKey,
            ));
        }
    }
    Ok((opts, cfg))
}

/// One host's probe inputs from its effective config: key files, agent, known_hosts verdict.
fn host_options(
    req: &ProbeRequest,
    cfg: &EffectiveConfig,
    display: &str,
    paths: &SshPaths,
    login: LoginMode,
) -> ProbeOptions {
    let identities = cfg
        .identity_files
        .iter()
        .filter_map(|p| identity(p, paths))
        .collect();

    let files: Vec<PathBuf> = match &req.known_hosts_file {
        Some(f) => vec![f.clone()],
        None => cfg
            .user_known_hosts_files
            .iter()
            .chain(&cfg.global_known_hosts_files)
            .cloned()
            .collect(),
    };
    // Read once, now: the probe's callback must not touch the disk, and what it compares against
    // is what the user saw when they started it.
    let loaded: Vec<(PathBuf, KnownHosts)> = files
        .into_iter()
        .filter_map(|f| match read_known_hosts(&f) {
            Ok(Some(kh)) => Some((f, kh)),
            _ => None,
        })
        .collect();
    let host = cfg.hostname.clone();
    let port = cfg.port;
    ProbeOptions {
        host: cfg.hostname.clone(),
        port: cfg.port,
        user: cfg.user.clone(),
        display_target: display.to_string(),
        identities,
        use_agent: if cfg.identity_agent.as_deref() == Some("none") {
            None
        } else {
            req.agent_socket.clone()
        },
        identities_only: cfg.identities_only,
        host_key_check: Box::new(move |key| verdict(&loaded, &host, port, key)),
        timeout: req.timeout,
        max_auth_tries: 6,
        login,
        jumps: Vec::new(),
    }
}

/// A key file as ssh would load it. Missing files are skipped, as ssh skips them (the config
/// side reports them as `identity-file-missing`); a key ssh would ignore for its mode is still
/// tried, with that problem quoted next to it.
fn identity(path: &Path, paths: &SshPaths) -> Option<Identity> {
    let info = keys::load(path).ok()?;
    let public_key = info.public_key.clone()?;
    // `-i key.pub` / `IdentityFile key.pub`: ssh reads the file as the private key, fails, and
    // can sign only through an agent holding that key (the probe's own finding says so).
    let public_only = info.kind == keys::KeyKind::Public;
    let local_problem = (!public_only)
        .then_some(())
        .and(perms::stat(path))
        .and_then(|meta| {
            perms::private_key_findings(&meta, current_uid(), paths)
                .first()
                .map(|f| format!("mode {} ({})", info.mode, f.id))
        });
    Some(Identity {
        path: path.to_path_buf(),
        public_key,
        encrypted: info.encrypted,
        local_problem,
        public_only,
    })
}

/// Compares the server's key with every known_hosts file, as ssh does: a revoked key anywhere
/// wins, then a match anywhere, then the first file that knows the host with another key.
pub fn verdict(
    files: &[(PathBuf, KnownHosts)],
    host: &str,
    port: u16,
    key: &PublicKey,
) -> HostKeyVerdict {
    let statuses: Vec<(&PathBuf, HostKeyStatus)> = files
        .iter()
        .map(|(f, kh)| (f, known_hosts::check_host_key(kh, host, port, key)))
        .collect();
    for (f, s) in &statuses {
        if let HostKeyStatus::Revoked { line } = s {
            return HostKeyVerdict::Revoked {
                file: (*f).clone(),
                line: *line,
            };
        }
    }
    for (f, s) in &statuses {
        if let HostKeyStatus::Match { line } = s {
            return HostKeyVerdict::Match {
                file: (*f).clone(),
                line: *line,
            };
        }
    }
    for (f, s) in statuses {
        if let HostKeyStatus::Changed {
            line,
            old_fingerprint,
            old_key_type,
        } = s
        {
            return HostKeyVerdict::Changed {
                file: f.clone(),
                line,
                old_fingerprint,
                old_key_type,
            };
        }
    }
    HostKeyVerdict::Unknown
}

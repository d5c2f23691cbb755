//! From what the user typed to what the probe needs: the thin layer that reads the local side
//! (effective ssh config, key files, known_hosts) and builds [`ProbeOptions`]. The CLI and the
//! TUI both call [`options`], so a probe started from either sees the same inputs ssh would.

use std::path::{Path, PathBuf};
use std::time::Duration;

use russh::keys::ssh_key::PublicKey;

use super::{jump, HostCertVerdict, HostKeyVerdict, Identity, LoginMode, ProbeOptions};
use crate::config::{self, ConfigRequest, EffectiveConfig};
use crate::inspect::read_known_hosts;
use crate::keys;
use crate::known_hosts::{self, HostCertStatus, HostKeyStatus, KnownHosts};
use crate::paths::SshPaths;
use crate::perms;
use crate::sys::current_uid;
use crate::target::{parse_target, Target};

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
    /// End with the `ssh-check` stage (the user's own ssh as a second opinion) where ssh is
    /// installed; off with `--no-cross-check`.
    pub cross_check: bool,
    /// A stage slower than this is a `slow-login` warning (`None`: timings are not judged).
    pub slow_after: Option<Duration>,
}

/// What counts as slow for one stage when nothing else is asked: a healthy server answers each
/// step in a fraction of a second, a reverse DNS lookup that times out costs 5 s or more, and a
/// loaded machine must not make a normal login look slow.
pub const DEFAULT_SLOW_AFTER: Duration = Duration::from_secs(3);

impl ProbeRequest {
    /// A request for `target` as the dashboard makes it: ssh's defaults, 5 seconds per network
    /// step, the agent from `$SSH_AUTH_SOCK`.
    pub fn for_target(target: &str) -> ProbeRequest {
        ProbeRequest {
            target: target.to_string(),
            timeout: Duration::from_secs(5),
            agent_socket: agent_socket_from_env(),
            cross_check: true,
            slow_after: Some(DEFAULT_SLOW_AFTER),
            ..ProbeRequest::default()
        }
    }
}

/// The agent ssh would ask: `$SSH_AUTH_SOCK`, when set and not empty.
pub fn agent_socket_from_env() -> Option<PathBuf> {
    std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// Resolves the target through the effective config and loads everything the probe compares
/// against. Fails only on bad usage (an unparsable target) or an unreadable explicit config.
pub fn options(
    req: &ProbeRequest,
    paths: &SshPaths,
    login: LoginMode,
) -> anyhow::Result<(ProbeOptions, EffectiveConfig)> {
    let target: Target = parse_target(&req.target)
        .map_err(|e| crate::exit::usage(format!("bad target {:?}: {e}", req.target)))?;
    let creq = ConfigRequest {
        target: &target,
        config_file: req.config_file.as_deref(),
        port: req.port,
        user: req.user.as_deref(),
        identity_files: &req.identity_files,
    };
    let cfg = config::effective(&creq, paths)?;
    let mut opts = host_options(
        req,
        &cfg,
        raw_host_key_algorithms(&creq, paths),
        &req.target,
        paths,
        login,
    );

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
                raw_host_key_algorithms(&hreq, paths),
                &display,
                paths,
                LoginMode::WithKey,
            ));
        }
    }
    if req.cross_check {
        opts.cross_check =
            find_ssh().map(|ssh| cross_check_command(req, &target, &cfg, paths, ssh));
    }
    opts.slow_after = req.slow_after;
    Ok((opts, cfg))
}

/// The config files ssh reads for this request, first first: `-F`, or ~/.ssh/config and the
/// system-wide one.
fn config_files(req: &ProbeRequest, paths: &SshPaths) -> Vec<PathBuf> {
    match &req.config_file {
        Some(f) => vec![f.clone()],
        None => vec![paths.config(), PathBuf::from("/etc/ssh/ssh_config")],
    }
}

/// The first line of `file` that sets `keyword` (lower-case), as `FILE:LINE: TEXT`, so a
/// failure caused by a config line can name it. (Lines of `Include`d files are not searched;
/// the effective value itself always comes from `ssh -G`.)
fn config_line(file: &Path, keyword: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().enumerate().find_map(|(i, line)| {
        let t = line.trim();
        let word = t.split(|c: char| c.is_whitespace() || c == '=').next()?;
        word.eq_ignore_ascii_case(keyword).then(|| {
            format!(
                "{}:{}: {}",
                file.display(),
                i + 1,
                crate::safe_text::printable(t)
            )
        })
    })
}

/// `ssh` on `PATH`, as the user's shell would find it.
fn find_ssh() -> Option<std::ffi::OsString> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("ssh"))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .map(|p| p.into_os_string())
}

/// The cross-check's ssh command (see `ssh_check` for the options): as the user typed it when
/// ssh's home (the password database's) is `paths.home`; otherwise with the config file and
/// the resolved key and known_hosts files named, so ssh never reads the other home.
fn cross_check_command(
    req: &ProbeRequest,
    target: &Target,
    cfg: &EffectiveConfig,
    paths: &SshPaths,
    ssh: std::ffi::OsString,
) -> super::ssh_check::CrossCheck {
    let same_home = crate::sys::passwd().is_some_and(|p| p.home == paths.home);
    let mut inv = super::ssh_check::Invocation {
        host: target.host.clone(),
        port: req.port.or(target.port),
        user: req.user.clone().or_else(|| target.user.clone()),
        identity_files: req.identity_files.clone(),
        config_file: req.config_file.clone(),
        timeout: req.timeout,
        ..Default::default()
    };
    if !same_home {
        // As `config` hands ssh -G the file it reads itself (config::ssh_g).
        inv.config_file.get_or_insert_with(|| {
            let own = paths.config();
            if own.exists() {
                own
            } else {
                PathBuf::from("/dev/null")
            }
        });
        inv.explicit_identities = Some(cfg.identity_files.clone());
        inv.user_known_hosts = Some(cfg.user_known_hosts_files.clone());
        inv.global_known_hosts = Some(cfg.global_known_hosts_files.clone());
    }
    if let Some(f) = &req.known_hosts_file {
        // `--known-hosts FILE`: the probe compares with that file only; so does ssh.
        inv.user_known_hosts = Some(vec![f.clone()]);
        inv.global_known_hosts = Some(Vec::new());
    }
    super::ssh_check::command(&inv, ssh)
}

/// HostKeyAlgorithms as the config files write it for this target (the first value, as ssh
/// takes it), `None` when they do not set it. (`ssh -G` prints the resolved list either way, so
/// whether the user chose it has to be read from the files.)
fn raw_host_key_algorithms(creq: &ConfigRequest, paths: &SshPaths) -> Option<String> {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    config::effective_parsed(creq, paths, &read)
        .host_key_algorithms
        .and_then(|v| v.split_whitespace().next().map(str::to_string))
}

/// One host's probe inputs from its effective config: key files, agent, known_hosts verdict.
fn host_options(
    req: &ProbeRequest,
    cfg: &EffectiveConfig,
    raw_host_key_algorithms: Option<String>,
    display: &str,
    paths: &SshPaths,
    login: LoginMode,
) -> ProbeOptions {
    let mut identities: Vec<Identity> = cfg
        .identity_files
        .iter()
        .filter_map(|p| identity(p, paths))
        .collect();
    let agent_certificate_files = attach_certificate_files(&mut identities, &cfg.certificate_files);

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
    let alias = host_key_alias(cfg);
    // The name ssh looks the host up by: HostKeyAlias as it is (no port), else host and port.
    let (lookup_host, lookup_port) = match &alias {
        Some(a) => (a.clone(), 22),
        None => (host.clone(), port),
    };
    // The key types known_hosts holds for this host, as ssh orders its offer by them.
    let mut known_types: Vec<String> = Vec::new();
    for (_, kh) in &loaded {
        for e in kh.lookup(&lookup_host, lookup_port) {
            if e.marker.is_none() && !known_types.contains(&e.key_type) {
                known_types.push(e.key_type);
            }
        }
    }
    let cert_authority = loaded
        .iter()
        .any(|(_, kh)| known_hosts::has_cert_authority(kh, &host, port, alias.as_deref()));
    let host_key_algorithms = offered_host_key_algorithms_for(
        cfg.host_key_algorithms.as_deref(),
        raw_host_key_algorithms.as_deref(),
        &known_types,
        cert_authority,
    );
    let loaded = std::sync::Arc::new(loaded);
    let cert_check: super::HostCertCheck = {
        let (loaded, host, alias) = (loaded.clone(), host.clone(), alias.clone());
        Box::new(move |cert| {
            cert_verdict(
                &loaded,
                &host,
                port,
                alias.as_deref(),
                cert,
                crate::certificate::now_unix(),
            )
        })
    };
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
        host_key_check: Box::new(move |key| verdict(&loaded, &lookup_host, lookup_port, key)),
        host_cert_check: Some(cert_check),
        agent_certificate_files,
        timeout: req.timeout,
        max_auth_tries: 6,
        login,
        jumps: Vec::new(),
        host_key_algorithms,
        algorithms: super::Algorithms {
            kex: list(cfg.kex_algorithms.as_deref()),
            ciphers: list(cfg.ciphers.as_deref()),
            macs: list(cfg.macs.as_deref()),
            pubkey: list(cfg.pubkey_accepted_algorithms.as_deref()),
            pubkey_source: config_files(req, paths)
                .iter()
                .find_map(|f| config_line(f, "pubkeyacceptedalgorithms")),
            sources: ["HostKeyAlgorithms", "KexAlgorithms", "Ciphers", "MACs"]
                .iter()
                .filter_map(|k| {
                    let lower = k.to_ascii_lowercase();
                    config_files(req, paths)
                        .iter()
                        .find_map(|f| config_line(f, &lower))
                        .map(|src| (k.to_string(), src))
                })
                .collect(),
        },
        password: None,
        forward_agent: cfg.forward_agent,
        second_hop: None,
        kbd_prompt: None,
        cross_check: None,
        slow_after: None,
    }
}

/// The host key algorithms ssh offers, in its order. `resolved` is the effective list (`ssh -G`
/// applies `+`, `-` and `^` itself); `raw` what the config files say, if anything. As OpenSSH's
/// `ssh_kex2`: when HostKeyAlgorithms is unset or only adds (`+`) or removes (`-`) algorithms,
/// the types known_hosts already holds for the host go first, so ssh is shown the key it can
/// check; an explicit list is taken as it is (which is how `HostKeyAlgorithms rsa-sha2-512`
/// gets ssh the RSA key and a "REMOTE HOST IDENTIFICATION HAS CHANGED!" when known_hosts holds
/// only the ed25519 one).
pub fn offered_host_key_algorithms(
    resolved: Option<&str>,
    raw: Option<&str>,
    known_types: &[String],
) -> Vec<String> {
    offered_host_key_algorithms_for(resolved, raw, known_types, false)
}

/// [`offered_host_key_algorithms`], with `cert_authority` saying whether an `@cert-authority`
/// line applies to the host: then, as OpenSSH's `order_hostkeyalgs`, every certificate type
/// goes first (unless the list is explicit), so the server shows its certificate.
pub fn offered_host_key_algorithms_for(
    resolved: Option<&str>,
    raw: Option<&str>,
    known_types: &[String],
    cert_authority: bool,
) -> Vec<String> {
    let explicit = raw.is_some_and(|r| !r.starts_with('+') && !r.starts_with('-'));
    let list: Vec<String> = match resolved.or(raw) {
        Some(v) if !v.starts_with(['+', '-', '^']) => v
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
        _ => {
            return known_first(
                DEFAULT_HOST_KEY_ALGORITHMS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                known_types,
                cert_authority,
            )
        }
    };
    if explicit {
        list
    } else {
        known_first(list, known_types, cert_authority)
    }
}

/// A comma-separated algorithm list as `ssh -G` prints it; empty when unset or when it is still
/// a `+`/`-`/`^` modification (only our own parser leaves those unresolved: keep the defaults).
fn list(v: Option<&str>) -> Vec<String> {
    match v {
        Some(v) if !v.starts_with(['+', '-', '^']) => v
            .split([',', ' '])
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// OpenSSH 9.2's default HostKeyAlgorithms (without the security-key types russh lacks), for
/// when `ssh -G` cannot be asked.
const DEFAULT_HOST_KEY_ALGORITHMS: &[&str] = &[
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
];

/// `list` with the algorithms of the key types in `known` first (and every certificate type
/// when `cert_authority`), order otherwise kept.
fn known_first(list: Vec<String>, known: &[String], cert_authority: bool) -> Vec<String> {
    let is_known = |alg: &str| {
        if cert_authority && alg.ends_with("-cert-v01@openssh.com") {
            return true;
        }
        let plain = alg.split("-cert-v01@openssh.com").next().unwrap_or(alg);
        known.iter().any(|k| {
            k == plain
                || (k == "ssh-rsa" && matches!(plain, "rsa-sha2-512" | "rsa-sha2-256" | "ssh-rsa"))
        })
    };
    let (mut first, rest): (Vec<String>, Vec<String>) = list.into_iter().partition(|a| is_known(a));
    first.extend(rest);
    first
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
        certificate: (!public_only)
            .then(|| russh::keys::load_openssh_certificate(crate::certificate::path_for(path)).ok())
            .flatten(),
    })
}

/// `CertificateFile` certificates go with the private key each certifies: ssh signs with the
/// identity whose key the certificate holds, so the probe offers the certificate with that
/// identity (before its plain key) when it has none beside it (`KEY-cert.pub` comes first).
/// A host certificate is skipped, as ssh skips it; one whose key no identity file holds is
/// returned, for the agent's key (matched when the agent is asked).
fn attach_certificate_files(
    identities: &mut [Identity],
    files: &[PathBuf],
) -> Vec<russh::keys::ssh_key::Certificate> {
    use russh::keys::ssh_key::certificate::CertType;
    let mut left = Vec::new();
    for f in files {
        let Ok(cert) = russh::keys::load_openssh_certificate(f) else {
            continue;
        };
        if cert.cert_type() != CertType::User {
            continue;
        }
        let holds = |i: &Identity| i.public_key.key_data() == cert.public_key();
        if let Some(id) = identities
            .iter_mut()
            .find(|i| i.certificate.is_none() && !i.public_only && holds(i))
        {
            id.certificate = Some(cert);
        } else if !identities.iter().any(holds) {
            left.push(cert);
        }
    }
    left
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

/// HostKeyAlias from the effective config, when set (`none` is unset).
fn host_key_alias(cfg: &EffectiveConfig) -> Option<String> {
    cfg.options
        .get("hostkeyalias")
        .and_then(|v| v.first())
        .filter(|a| !a.is_empty() && !a.eq_ignore_ascii_case("none"))
        .cloned()
}

/// ssh's verdict on a host certificate over every known_hosts file it reads (it loads them into
/// one list): a `@revoked` line anywhere wins, then the first file with a `@cert-authority` line
/// for the CA decides (every such line holds the same CA, so they agree), else no CA is trusted.
pub fn cert_verdict(
    files: &[(PathBuf, KnownHosts)],
    host: &str,
    port: u16,
    alias: Option<&str>,
    cert: &russh::keys::ssh_key::Certificate,
    now: u64,
) -> HostCertVerdict {
    let statuses: Vec<(&PathBuf, HostCertStatus)> = files
        .iter()
        .map(|(f, kh)| {
            let s = known_hosts::check_host_certificate(kh, host, port, alias, cert, now);
            (f, s)
        })
        .collect();
    let name = alias.unwrap_or(host).to_ascii_lowercase();
    let pick = statuses
        .iter()
        .find(|(_, s)| matches!(s, HostCertStatus::Revoked { .. }))
        .or_else(|| {
            statuses
                .iter()
                .find(|(_, s)| !matches!(s, HostCertStatus::UntrustedCa { .. }))
        });
    match pick {
        Some((f, s)) => HostCertVerdict {
            file: Some((*f).clone()),
            status: s.clone(),
            name,
        },
        None => HostCertVerdict {
            file: None,
            status: HostCertStatus::UntrustedCa {
                ca_fingerprint: PublicKey::new(cert.signature_key().clone(), "")
                    .fingerprint(russh::keys::ssh_key::HashAlg::Sha256)
                    .to_string(),
            },
            name,
        },
    }
}

#[cfg(test)]
mod host_key_order_tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn host_key_algorithms_follow_openssh_order_rules() {
        let resolved = "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256";
        // Unset: known_hosts types first (an RSA-only entry puts the RSA algorithms first).
        assert_eq!(
            offered_host_key_algorithms(Some(resolved), None, &v(&["ssh-rsa"])),
            v(&[
                "rsa-sha2-512",
                "rsa-sha2-256",
                "ssh-ed25519",
                "ecdsa-sha2-nistp256"
            ])
        );
        // `+`/`-` keep the reordering; an explicit list is taken as written.
        assert_eq!(
            offered_host_key_algorithms(Some(resolved), Some("+ssh-rsa"), &v(&["ssh-rsa"]))[0],
            "rsa-sha2-512"
        );
        assert_eq!(
            offered_host_key_algorithms(
                Some("rsa-sha2-512"),
                Some("rsa-sha2-512"),
                &v(&["ssh-ed25519"])
            ),
            v(&["rsa-sha2-512"])
        );
        // Nothing known: ssh's own order.
        assert_eq!(
            offered_host_key_algorithms(Some(resolved), None, &[]),
            v(&[
                "ssh-ed25519",
                "ecdsa-sha2-nistp256",
                "rsa-sha2-512",
                "rsa-sha2-256"
            ])
        );
        // No ssh -G and nothing set: OpenSSH's defaults, known types first (its certificate
        // type ahead of it, as in ssh's own list).
        assert_eq!(
            offered_host_key_algorithms(None, None, &v(&["ecdsa-sha2-nistp256"]))[..2],
            v(&[
                "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                "ecdsa-sha2-nistp256"
            ])
        );
    }

    #[test]
    fn a_cert_authority_line_puts_every_certificate_type_first() {
        let resolved = "ssh-ed25519-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,\
                        ssh-ed25519,rsa-sha2-512";
        // A known RSA key alone: its certificate type and itself first.
        assert_eq!(
            offered_host_key_algorithms_for(Some(resolved), None, &v(&["ssh-rsa"]), false),
            v(&[
                "rsa-sha2-512-cert-v01@openssh.com",
                "rsa-sha2-512",
                "ssh-ed25519-cert-v01@openssh.com",
                "ssh-ed25519"
            ])
        );
        // With an @cert-authority line: every certificate type, then the known plain type.
        assert_eq!(
            offered_host_key_algorithms_for(Some(resolved), None, &v(&["ssh-rsa"]), true),
            v(&[
                "ssh-ed25519-cert-v01@openssh.com",
                "rsa-sha2-512-cert-v01@openssh.com",
                "rsa-sha2-512",
                "ssh-ed25519"
            ])
        );
        // An explicit list stays as written.
        assert_eq!(
            offered_host_key_algorithms_for(Some("ssh-ed25519"), Some("ssh-ed25519"), &[], true),
            v(&["ssh-ed25519"])
        );
    }
}

//! The thin layer that reads the user's side from disk and hands it to the pure modules.
//!
//! Everything here is gathering: which files exist, their bytes and metadata, the agent's answer.
//! The rules live in `keys`, `perms`, `known_hosts`, `config` and `agent`; this module only wires
//! their facts together into one [`Inspection`] that both the CLI and the TUI render.

use std::path::{Path, PathBuf};

use crate::agent::{self, AgentStatus};
use crate::config::{self, ConfigRequest, EffectiveConfig};
use crate::finding::{sort_worst_first, Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::keys::{self, KeyContext, KeyInfo, KeyKind};
use crate::known_hosts::{self, KnownHosts};
use crate::paths::SshPaths;
use crate::perms;
use crate::target::Target;

/// Largest known_hosts file read whole. Real files are a few MB even for big fleets; anything far
/// beyond is not a known_hosts file and reading it would only exhaust memory.
pub const MAX_KNOWN_HOSTS_BYTES: u64 = 512 * 1024 * 1024;

/// What to look at.
#[derive(Debug, Clone)]
pub struct InspectOptions {
    pub paths: SshPaths,
    /// Narrow everything to what a login to this target uses.
    pub target: Option<Target>,
    /// `-F`: another ssh config than `~/.ssh/config`.
    pub config_file: Option<PathBuf>,
    /// The agent socket (normally `$SSH_AUTH_SOCK`).
    pub agent_socket: Option<PathBuf>,
}

impl InspectOptions {
    /// The user's own setup, from `$HOME` and `$SSH_AUTH_SOCK`.
    pub fn from_env(target: Option<Target>, config_file: Option<PathBuf>) -> anyhow::Result<Self> {
        Ok(InspectOptions {
            paths: SshPaths::from_env()?,
            target,
            config_file,
            agent_socket: std::env::var_os("SSH_AUTH_SOCK")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        })
    }
}

/// One known_hosts file as read: parsed, or why it could not be.
#[derive(Debug)]
pub struct KnownHostsFile {
    pub path: PathBuf,
    pub content: Result<KnownHosts, String>,
}

/// Everything sshdoctor knows about the user's side, and the findings drawn from it.
#[derive(Debug)]
pub struct Inspection {
    pub paths: SshPaths,
    pub config: Option<EffectiveConfig>,
    pub keys: Vec<KeyInfo>,
    pub key_errors: Vec<(PathBuf, String)>,
    pub known_hosts: Vec<KnownHostsFile>,
    pub agent: AgentStatus,
    pub findings: Vec<Finding>,
}

/// Reads a known_hosts file for parsing. A missing file is not an error (`Ok(None)`): ssh simply
/// knows no hosts yet.
pub fn read_known_hosts(path: &Path) -> Result<Option<KnownHosts>, String> {
    Ok(read_known_hosts_bytes(path)?.map(known_hosts::parse))
}

/// [`read_known_hosts`] without the parse, for one-shot lookups ([`known_hosts::find_in`]).
pub fn read_known_hosts_bytes(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if meta.is_dir() {
        return Err(format!(
            "{} is a directory, not a known_hosts file",
            path.display()
        ));
    }
    if meta.len() > MAX_KNOWN_HOSTS_BYTES {
        return Err(format!(
            "{} is {} MB: too large to be a known_hosts file",
            path.display(),
            meta.len() / (1024 * 1024)
        ));
    }
    crate::mem::read_file(path)
        .map(Some)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The known_hosts files ssh would consult: those the effective config names, or the defaults.
fn known_hosts_paths(paths: &SshPaths, cfg: Option<&EffectiveConfig>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match cfg {
        Some(c) => c
            .user_known_hosts_files
            .iter()
            .chain(&c.global_known_hosts_files)
            .cloned()
            .collect(),
        None => vec![
            paths.known_hosts(),
            paths.ssh_dir.join("known_hosts2"),
            PathBuf::from("/etc/ssh/ssh_known_hosts"),
            PathBuf::from("/etc/ssh/ssh_known_hosts2"),
        ],
    };
    out.dedup();
    // The user's own file is always shown, even when absent; the others only when they exist.
    let user = paths.known_hosts();
    out.retain(|p| *p == user || p.exists());
    out
}

/// Gathers the user's side and draws every local finding from it.
pub fn inspect(opts: &InspectOptions) -> anyhow::Result<Inspection> {
    let paths = &opts.paths;
    let uid = crate::sys::current_uid();

    let config = match &opts.target {
        Some(target) => {
            let req = ConfigRequest {
                target,
                config_file: opts.config_file.as_deref(),
                port: None,
                user: None,
                identity_files: &[],
            };
            Some(config::effective(&req, paths)?)
        }
        None => None,
    };

    let agent = agent::status(opts.agent_socket.as_deref());
    let agent_fingerprints: Vec<String> = match &agent {
        AgentStatus::Running { identities, .. } => {
            identities.iter().map(|i| i.fingerprint.clone()).collect()
        }
        _ => Vec::new(),
    };

    // Keys: everything in ~/.ssh by content, plus every IdentityFile the config names.
    let mut extra: Vec<PathBuf> = config::all_identity_files(paths, opts.config_file.as_deref())
        .into_iter()
        .map(|(_, _, p)| p)
        .collect();
    if let Some(c) = &config {
        extra.extend(c.explicit_identity_files.iter().cloned());
    }
    extra.sort();
    extra.dedup();
    extra.retain(|p| p.exists());
    let mut scan = keys::scan(&paths.ssh_dir, &extra);
    // CertificateFile certificates go with the key they certify, as ssh pairs them.
    let cert_files = match &config {
        Some(c) => c.certificate_files.clone(),
        None => config::all_certificate_files(paths, opts.config_file.as_deref()),
    };
    let unpaired = keys::attach_certificate_files(&mut scan.keys, &cert_files);
    let has_private_key = scan.keys.iter().any(|k| k.kind == KeyKind::Private);
    let mut key_list = scan.keys;
    if let Some(c) = &config {
        // A target narrows the keys to the ones that login offers (agent keys are separate).
        key_list.retain(|k| k.kind == KeyKind::Private && c.identity_files.contains(&k.path));
    }

    let mut findings = Vec::new();

    // Permissions: the client's rules for each private key, sshd's StrictModes for the rest.
    let stat = |p: &Path| perms::stat(p);
    findings.extend(perms::local_findings(
        stat(&paths.home).as_ref(),
        stat(&paths.ssh_dir).as_ref(),
        stat(&paths.authorized_keys()).as_ref(),
        stat(opts.config_file.as_deref().unwrap_or(&paths.config())).as_ref(),
        uid,
        paths,
    ));
    for key in key_list.iter().filter(|k| k.kind == KeyKind::Private) {
        if let Some(meta) = stat(&key.path) {
            findings.extend(perms::private_key_findings(&meta, uid, paths));
        }
    }

    let identity_files: Vec<PathBuf> = config
        .as_ref()
        .map(|c| c.identity_files.clone())
        .unwrap_or_default();
    let agent_running = matches!(agent, AgentStatus::Running { .. });
    let ctx = KeyContext {
        platform: crate::platform::Platform::current(),
        agent_running,
        agent_fingerprints: &agent_fingerprints,
        identity_files: &identity_files,
    };
    let mut key_findings = keys::findings(&key_list, &ctx, paths);
    if config.is_some() && has_private_key {
        // Keys exist, this login just does not use them: identity-file-missing and
        // key-not-offered say that better than "you have no key".
        key_findings.retain(|f| f.id != "no-keys");
    }
    if !scan.not_loadable.is_empty() {
        // There is a key; ssh just cannot load it: key-format-damaged says that.
        key_findings.retain(|f| f.id != "no-keys");
    }
    findings.extend(key_findings);
    // Certificates beside the keys, as ssh will offer them.
    let now = crate::certificate::now_unix();
    for k in &key_list {
        if let Some(c) = &k.certificate {
            findings.extend(crate::certificate::findings(
                c,
                k.fingerprint.as_deref(),
                now,
                paths,
            ));
        }
        if let Some(why) = &k.certificate_problem {
            findings.push(crate::certificate::unreadable_finding(
                &crate::certificate::path_for(&k.path),
                why,
                paths,
            ));
        }
    }
    for (path, cert) in &unpaired {
        findings.extend(match cert {
            Ok(c) => crate::certificate::findings(c, None, now, paths),
            Err(why) => vec![crate::certificate::unreadable_finding(path, why, paths)],
        });
    }
    for (path, damage) in &scan.not_loadable {
        findings.push(keys::not_loadable_finding(path, *damage, paths));
    }
    for (path, err) in &scan.errors {
        findings.push(
            Finding::new(
                "key-unreadable",
                Severity::Warning,
                format!(
                    "{} looks like a key but cannot be read",
                    paths.display(path)
                ),
            )
            .explain("ssh will fail on this file the same way when it tries to load it.")
            .evidence(format!("{}: {err}", paths.display(path))),
        );
    }
    if let Some(c) = &config {
        findings.extend(config::rejection_finding(c));
        findings.extend(config::identity_findings(c, &|p: &Path| p.exists(), paths));
    } else if let Some(f) = config_rejection_without_target(opts, paths) {
        // Without a target too: an option ssh does not know stops it for every host.
        findings.push(f);
    }
    findings.extend(agent::findings(&agent));

    // known_hosts: every file ssh would consult.
    let mut known = Vec::new();
    for path in known_hosts_paths(paths, config.as_ref()) {
        match read_known_hosts(&path) {
            Ok(Some(kh)) => {
                let shown = paths.display(&path);
                let mut f = known_hosts::findings_at(&kh, &path, &shown);
                if let Some(c) = &config {
                    f.retain(|f| finding_concerns_host(&kh, f, &c.hostname, c.port));
                }
                findings.extend(f);
                known.push(KnownHostsFile {
                    path,
                    content: Ok(kh),
                });
            }
            Ok(None) => {}
            Err(e) => {
                findings.push(unreadable_finding(&path, &e, paths));
                known.push(KnownHostsFile {
                    path,
                    content: Err(e),
                });
            }
        }
    }

    sort_worst_first(&mut findings);
    Ok(Inspection {
        paths: paths.clone(),
        config,
        keys: key_list,
        key_errors: scan.errors,
        known_hosts: known,
        agent,
        findings,
    })
}

/// With a target, only known_hosts problems on lines that concern that host matter.
fn finding_concerns_host(kh: &KnownHosts, f: &Finding, host: &str, port: u16) -> bool {
    let lines: Vec<usize> = kh.lookup(host, port).iter().map(|e| e.line).collect();
    f.evidence.iter().any(|ev| {
        ev.rsplit_once(':')
            .and_then(|(_, n)| n.split_whitespace().next()?.parse::<usize>().ok())
            .is_some_and(|n| lines.contains(&n))
    })
}

fn unreadable_finding(path: &Path, error: &str, paths: &SshPaths) -> Finding {
    Finding::new(
        "file-unreadable",
        Severity::Error,
        format!("{} cannot be read", paths.display(path)),
    )
    .explain(
        "ssh reads this file on every login; when it cannot, host keys are not checked against \
         it and it cannot record new ones.",
    )
    .evidence(error.to_string())
    .fix(Fix::new(
        FixId::InspectFile,
        "Look at what is there",
        format!(
            "ls -la {}",
            crate::finding::shell_quote(&path.display().to_string())
        ),
    ))
}

/// Whether ssh refuses the config at all, asked without a target: ssh reads every line, in
/// every Host block, before it connects, so one unknown option stops it for every host. Asked
/// only when there is a config file to refuse.
fn config_rejection_without_target(opts: &InspectOptions, paths: &SshPaths) -> Option<Finding> {
    let file = opts.config_file.clone().unwrap_or_else(|| paths.config());
    if !file.is_file() {
        return None;
    }
    let target = crate::target::parse_target("localhost").ok()?;
    let req = ConfigRequest {
        target: &target,
        config_file: opts.config_file.as_deref(),
        port: None,
        user: None,
        identity_files: &[],
    };
    config::rejection_finding(&config::effective(&req, paths).ok()?)
}

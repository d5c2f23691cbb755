//! The thin layer between a fix id that `check` offered and the plans that apply it: reads the
//! files and metadata involved and hands them to the pure planners. When several things need
//! the same fix (two keys with open modes), there is one plan per thing.
//!
//! Fix ids that need a person or the network (`trust-host-key`, `generate-key`, `add-key`,
//! `copy-id`) are driven by the CLI, which asks for fingerprints and passphrases; fix ids that
//! sshdoctor deliberately does not carry out come back as [`Resolved::Manual`] with the reason.
//! The fixes `sshdoctor server` offers are planned in [`super::server`].

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::PublicKey;

use super::plan;
use super::server::{self, ServerContext, ServerResolved};
use super::FixPlan;
use crate::fix_id::FixId;
use crate::keys::{self, KeyKind};
use crate::paths::SshPaths;
use crate::perms::{self, shell_path};

/// What a fix id turns into.
#[derive(Debug)]
pub enum Resolved {
    Plans(Vec<FixPlan>),
    /// Not something sshdoctor does itself; `why` says so and `command` is what the user runs.
    Manual {
        why: String,
        command: String,
    },
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// Plans for a permission fix id, from the files' metadata now.
fn chmod_plans(id: FixId, target: Option<&Path>, paths: &SshPaths) -> Vec<FixPlan> {
    let uid = crate::sys::current_uid();
    let mut plans = Vec::new();
    if id == FixId::ChmodPrivateKey {
        let scan = keys::scan(&paths.ssh_dir, &[]);
        let mut candidates: Vec<PathBuf> = scan
            .keys
            .iter()
            .filter(|k| k.kind == KeyKind::Private)
            .map(|k| k.path.clone())
            .collect();
        if let Some(t) = target {
            candidates = vec![t.to_path_buf()];
        }
        for p in candidates {
            if let Some(meta) = perms::stat(&p) {
                if !perms::private_key_findings(&meta, uid, paths).is_empty() {
                    let shown = paths.display(&p);
                    let cmd = format!("chmod 600 {}", shell_path(&p, paths));
                    plans.push(plan::chmod_plan(id, &p, &shown, meta.mode, 0o600, &cmd));
                }
            }
        }
        return plans;
    }
    let (path, new_mode): (PathBuf, fn(u32) -> u32) = match id {
        FixId::ChmodSshDir => (paths.ssh_dir.clone(), |_| 0o700),
        FixId::ChmodAuthorizedKeys => (paths.authorized_keys(), |_| 0o600),
        FixId::ChmodConfig => (paths.config(), |_| 0o600),
        FixId::ChmodHomeDir => (paths.home.clone(), |m| m & !0o022),
        _ => return plans,
    };
    let path = target.map(Path::to_path_buf).unwrap_or(path);
    if let Some(meta) = perms::stat(&path) {
        let shown = paths.display(&path);
        let after = new_mode(meta.mode);
        let how = if id == FixId::ChmodHomeDir {
            "go-w".to_string()
        } else {
            format!("{:o}", after)
        };
        let cmd = format!("chmod {how} {}", shell_path(&path, paths));
        let p = plan::chmod_plan(id, &path, &shown, meta.mode, after, &cmd);
        plans.push(p);
    }
    plans
}

/// Plans for `regenerate-public-key`: the given key, or every private key whose `.pub` is
/// missing or belongs to another key.
fn regenerate_plans(target: Option<&Path>, paths: &SshPaths) -> anyhow::Result<Vec<FixPlan>> {
    let keys: Vec<PathBuf> = match target {
        Some(t) => vec![t.to_path_buf()],
        None => keys::scan(&paths.ssh_dir, &[])
            .keys
            .into_iter()
            .filter(|k| {
                k.kind == KeyKind::Private
                    && (k.public_path.is_none() || k.public_key_matches == Some(false))
            })
            .map(|k| k.path)
            .collect(),
    };
    let mut plans = Vec::new();
    for k in keys {
        let bytes = zeroize::Zeroizing::new(read_file(&k)?);
        let pub_path = keys::public_path_for(&k);
        let existing = std::fs::read(&pub_path).ok();
        let p = plan::regenerate_public_plan(&k, &bytes, existing.as_deref(), &paths.display(&k))
            .map_err(|e| anyhow::anyhow!(e))?;
        plans.push(p);
    }
    Ok(plans)
}

/// `host`, `host:port`, `[host]:port` or `user@host:port` → (host, port).
pub fn host_and_port(target: &str) -> anyhow::Result<(String, u16)> {
    let t = crate::target::parse_target(target).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((t.host, t.port.unwrap_or(22)))
}

/// The known_hosts name for what the user typed: `[h]:p` and `h` literally, as `ssh-keygen -R`
/// takes them; `h:p` is the friendlier spelling of `[h]:p`.
pub fn known_hosts_name(typed: &str) -> anyhow::Result<String> {
    if typed.starts_with('[') || !typed.contains(':') || typed.matches(':').count() > 1 {
        Ok(typed.to_string())
    } else {
        let (h, p) = host_and_port(typed)?;
        Ok(crate::known_hosts::host_port_name(&h, p))
    }
}

/// Where ssh keeps the host key of a target as the user types it to ssh: with `Host lab`,
/// `HostName 10.0.0.5`, `Port 2222` in ~/.ssh/config, `lab`'s key is the entry `[10.0.0.5]:2222`
/// (or the `HostKeyAlias`) in the `UserKnownHostsFile` files, not a line named `lab`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyPlace {
    /// Where ssh connects.
    pub host: String,
    pub port: u16,
    /// The name ssh records and looks up: the HostKeyAlias as it is, else `host`, as
    /// `[host]:port` off port 22.
    pub name: String,
    /// `UserKnownHostsFile`: ssh reads each one and adds new keys to the first.
    pub files: Vec<PathBuf>,
    /// `HashKnownHosts`: whether ssh hashes the names it adds.
    pub hash: bool,
}

/// The plan that adds `key` for `place` to `file` (replacing the old key when it changed):
/// the one planner behind `sshdoctor fix trust-host-key` and the dashboard's trust fix. With a
/// HostKeyAlias ssh records and looks up the alias itself, without a port. Pure: `existing` is
/// the file's bytes (`None` when it does not exist), `salt` is there when ssh hashes names.
pub fn trust_host_key_plan(
    place: &HostKeyPlace,
    file: &Path,
    existing: Option<&[u8]>,
    key: &PublicKey,
    salt: Option<&[u8; 20]>,
) -> FixPlan {
    let (host, port) = (&place.host, place.port);
    let (name, name_port) = if place.name == crate::known_hosts::host_port_name(host, port) {
        (host.clone(), port)
    } else {
        (place.name.clone(), 22)
    };
    let mut p = plan::trust_host_key_plan(file, existing, &name, name_port, key, salt);
    if name != *host {
        p.command = format!(
            "ssh-keyscan -p {port} -t {} {} | sed 's/^[^ ]*/{}/' >> {}   # after checking the fingerprint",
            key.algorithm().as_str(),
            crate::finding::shell_quote(host),
            name,
            crate::finding::shell_quote(&file.display().to_string())
        );
    }
    p
}

/// The bytes of the known_hosts file a key is added to, `None` when it does not exist yet.
pub fn read_known_hosts_for_append(file: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::read(file) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
    }
}

/// A fresh salt for a hashed known_hosts name, when `hash`.
pub fn hash_salt(hash: bool) -> Option<[u8; 20]> {
    hash.then(|| {
        let mut s = [0u8; 20];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut s);
        s
    })
}

/// [`HostKeyPlace`] from the effective config (`ssh -G`, or the fallback parser).
pub fn host_key_place(typed: &str, paths: &SshPaths) -> anyhow::Result<HostKeyPlace> {
    let target = crate::target::parse_target(typed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let req = crate::config::ConfigRequest {
        target: &target,
        config_file: None,
        port: target.port,
        user: None,
        identity_files: &[],
    };
    let cfg = crate::config::effective(&req, paths)?;
    let alias = cfg
        .options
        .get("hostkeyalias")
        .and_then(|v| v.first())
        .filter(|a| !a.is_empty() && !a.eq_ignore_ascii_case("none"));
    let name = match alias {
        Some(a) => a.clone(),
        None => crate::known_hosts::host_port_name(&cfg.hostname, cfg.port),
    };
    let mut files = cfg.user_known_hosts_files.clone();
    if files.is_empty() {
        files.push(paths.known_hosts());
    }
    Ok(HostKeyPlace {
        host: cfg.hostname.clone(),
        port: cfg.port,
        name,
        files,
        hash: cfg.hash_known_hosts,
    })
}

/// Whether ssh would hash the name it adds to known_hosts for `host:port`: the effective config's
/// `HashKnownHosts` (Debian's /etc/ssh/ssh_config says yes). Shared by `fix` and the dashboard.
pub fn hash_known_hosts(host: &str, port: u16, paths: &SshPaths) -> bool {
    let target = crate::target::Target {
        user: None,
        host: host.to_string(),
        port: Some(port),
    };
    let req = crate::config::ConfigRequest {
        target: &target,
        config_file: None,
        port: Some(port),
        user: None,
        identity_files: &[],
    };
    crate::config::effective(&req, paths)
        .map(|c| c.hash_known_hosts)
        .unwrap_or(false)
}

/// A path as typed (`~/x`, relative or absolute) made absolute, so the journal names the same
/// file whatever directory `undo` runs in.
pub fn absolute(typed: &str, paths: &SshPaths) -> PathBuf {
    let p = paths.expand_tilde(typed);
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

/// Resolves the plans for a file fix id. `known_hosts` is the file the known-hosts fixes edit.
/// Server-side ids are resolved with the default [`ServerContext`] (current user,
/// /etc/ssh/sshd_config) and lose their after-step (`sshd -t`, chown); callers that apply them
/// use [`resolve_with`].
pub fn resolve(
    id: FixId,
    target: Option<&str>,
    known_hosts: &Path,
    paths: &SshPaths,
) -> anyhow::Result<Resolved> {
    Ok(
        match resolve_with(id, target, known_hosts, paths, &ServerContext::default())? {
            Target::Client(r) => r,
            Target::Server(s) => s.into_resolved(),
        },
    )
}

/// A fix id resolved with everything the `fix` command knows.
#[derive(Debug)]
pub enum Target {
    /// A fix of the user's own files: plain plans or an instruction.
    Client(Resolved),
    /// A server-side fix: plans that carry an after-step, or an instruction.
    Server(ServerResolved),
}

/// Like [`resolve`], with the server-side flags (`--user`, `--sshd-config`, `--pubkey`,
/// `--from`) for the ids `sshdoctor server` offers.
pub fn resolve_with(
    id: FixId,
    target: Option<&str>,
    known_hosts: &Path,
    paths: &SshPaths,
    ctx: &ServerContext,
) -> anyhow::Result<Target> {
    if let Some(s) = server::resolve(id, target, ctx, paths)? {
        return Ok(Target::Server(s));
    }
    resolve_client(id, target, known_hosts, paths).map(Target::Client)
}

fn resolve_client(
    id: FixId,
    target: Option<&str>,
    known_hosts: &Path,
    paths: &SshPaths,
) -> anyhow::Result<Resolved> {
    let target_path = target.map(|t| absolute(t, paths));
    Ok(match id {
        FixId::Chmod600 | FixId::Chmod700 => {
            let Some(path) = target_path else {
                anyhow::bail!("{id} needs the file: sshdoctor fix {id} PATH");
            };
            let meta = perms::stat(&path)
                .ok_or_else(|| anyhow::anyhow!("{}: no such file", path.display()))?;
            let after = if id == FixId::Chmod600 { 0o600 } else { 0o700 };
            let cmd = format!("chmod {:o} {}", after, shell_path(&path, paths));
            let shown = paths.display(&path);
            Resolved::Plans(vec![plan::chmod_plan(id, &path, &shown, meta.mode, after, &cmd)])
        }
        FixId::ChmodPrivateKey | FixId::ChmodSshDir | FixId::ChmodAuthorizedKeys | FixId::ChmodConfig
        | FixId::ChmodHomeDir => Resolved::Plans(chmod_plans(id, target_path.as_deref(), paths)),
        FixId::RegeneratePublicKey => {
            Resolved::Plans(regenerate_plans(target_path.as_deref(), paths)?)
        }
        FixId::RepairKeyFile => {
            let keys: Vec<PathBuf> = match target_path {
                Some(p) => vec![p],
                None => keys::scan(&paths.ssh_dir, &[])
                    .not_loadable
                    .into_iter()
                    .filter(|(_, d)| d.repairable())
                    .map(|(p, _)| p)
                    .collect(),
            };
            let mut plans = Vec::new();
            for k in keys {
                let bytes = zeroize::Zeroizing::new(read_file(&k)?);
                plans.push(
                    plan::repair_key_plan(&k, &bytes, &paths.display(&k))
                        .map_err(|e| anyhow::anyhow!(e))?,
                );
            }
            Resolved::Plans(plans)
        }
        FixId::KnownHostsStripCrlf | FixId::KnownHostsDeleteMalformed | FixId::KnownHostsAddFinalNewline => {
            let file = target_path.unwrap_or_else(|| known_hosts.to_path_buf());
            let bytes = read_file(&file)?;
            Resolved::Plans(vec![match id {
                FixId::KnownHostsStripCrlf => plan::strip_crlf_plan(&file, &bytes),
                FixId::KnownHostsAddFinalNewline => plan::add_final_newline_plan(&file, &bytes),
                _ => plan::delete_malformed_plan(&file, &bytes),
            }])
        }
        FixId::KnownHostsRemoveHost | FixId::RemoveHostKey | FixId::RemoveOldHostKey => {
            let Some(t) = target else {
                anyhow::bail!("{id} needs the host: sshdoctor fix {id} HOST[:PORT]");
            };
            let name = known_hosts_name(t)?;
            let bytes = read_file(known_hosts)?;
            Resolved::Plans(vec![plan::remove_host_plan(id, known_hosts, bytes, &[name])])
        }
        FixId::UseKeyWithI => Resolved::Manual {
            why: "this is a way to log in, not a change to your files".into(),
            command: "ssh -i KEY HOST".into(),
        },
        FixId::StartAgent | FixId::StartAgentAddKey => Resolved::Manual {
            why: "an agent started by sshdoctor would die with it; your shell must start it so its SSH_AUTH_SOCK reaches ssh".into(),
            command: {
                let p = crate::platform::Platform::current();
                format!(
                    "{} && {}   # then: sshdoctor fix add-key KEY",
                    p.start_agent_command(),
                    p.add_key_command("").trim_end()
                )
            },
        },
        FixId::UnsetStaleAgent => Resolved::Manual {
            why: "only your shell can change its own environment".into(),
            command: "unset SSH_AUTH_SOCK SSH_AGENT_PID".into(),
        },
        FixId::IdentitiesOnly | FixId::EnableLegacyAlgorithm | FixId::AddKeysToAgent
        | FixId::IgnoreUnknownOption => Resolved::Manual {
            why: "this fix edits ~/.ssh/config for one host and needs to know which (and which key or algorithm)".into(),
            command: format!("sshdoctor fix {id} [USER@]HOST[:PORT] (-i KEY for identities-only, -o KEYWORD=+ALGORITHM for enable-legacy-algorithm)"),
        },
        FixId::ReadSshdLog | FixId::InspectFile
        | FixId::CheckServer | FixId::CheckServerPubkey | FixId::CheckSshdRunning | FixId::CheckRoute
        | FixId::CheckReachability | FixId::CheckPort | FixId::CheckDns => Resolved::Manual {
            why: "this is a change to your ssh config or to the server, or a check to make; sshdoctor shows the command but does not run it".into(),
            command: "the command shown next to this fix in `sshdoctor check` / `sshdoctor probe`".into(),
        },
        // Fixes that are a way to log in, a check to make or a change only a person (or root on
        // the server) makes: shown next to the finding, never run.
        _ => Resolved::Manual {
            why: "sshdoctor shows this command next to the finding but does not run it itself".into(),
            command: "the command shown next to this fix in `sshdoctor check` / `sshdoctor probe`".into(),
        },
    })
}

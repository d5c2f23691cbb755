//! The thin layer between a fix id that `check` offered and the plans that apply it: reads the
//! files and metadata involved and hands them to the pure planners. When several things need
//! the same fix (two keys with open modes), there is one plan per thing.
//!
//! Fix ids that need a person or the network (`trust-host-key`, `generate-key`, `add-key`,
//! `copy-id`) are driven by the CLI, which asks for fingerprints and passphrases; fix ids that
//! sshdoctor deliberately does not carry out come back as [`Resolved::Manual`] with the reason.
//! The fixes `sshdoctor server` offers are planned in [`super::server`].

use std::path::{Path, PathBuf};

use super::plan;
use super::server::{self, ServerContext, ServerResolved};
use super::FixPlan;
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

/// Every fix id sshdoctor knows, with whether it is applied natively.
pub const FIX_IDS: &[(&str, &str)] = &[
    (
        "chmod-private-key",
        "chmod 600 each private key ssh ignores",
    ),
    ("chmod-ssh-dir", "chmod 700 ~/.ssh"),
    ("chmod-authorized-keys", "chmod 600 ~/.ssh/authorized_keys"),
    ("chmod-config", "chmod 600 ~/.ssh/config"),
    ("chmod-home-dir", "chmod go-w ~"),
    ("regenerate-public-key", "rewrite KEY.pub from KEY"),
    (
        "repair-key-file",
        "rewrite a private key ssh cannot load (CRLF, no final newline) in the layout ssh reads",
    ),
    (
        "known-hosts-remove-host",
        "remove every key for HOST (ssh-keygen -R)",
    ),
    (
        "remove-host-key",
        "remove the stale key of HOST[:PORT] or a config alias, wherever ssh keeps it",
    ),
    (
        "trust-host-key",
        "fetch HOST[:PORT]'s (or an alias's) key, show it, append it where ssh will look",
    ),
    (
        "known-hosts-strip-crlf",
        "convert known_hosts to Unix line ends",
    ),
    (
        "known-hosts-delete-malformed",
        "delete the lines ssh cannot read",
    ),
    (
        "known-hosts-add-final-newline",
        "end known_hosts' last line with a newline (ssh's next append would run into it)",
    ),
    ("generate-key", "create a new key (ed25519, or --type rsa)"),
    (
        "generate-missing-identity",
        "create the key an IdentityFile names",
    ),
    ("add-key", "add KEY to the running agent"),
    ("add-keys", "add your default keys to the running agent"),
    (
        "start-agent-add-key",
        "instructions: start an agent, then add-key",
    ),
    ("start-agent", "instructions: start an agent"),
    ("unset-stale-agent", "instructions: forget a dead agent"),
    ("remove-stale-socket", "delete a dead agent socket"),
    (
        "remove-old-host-key",
        "same as remove-host-key (probe's name)",
    ),
    ("accept-host-key", "same as trust-host-key (probe's name)"),
    ("ssh-add", "same as add-key (probe's name)"),
    (
        "copy-id",
        "install your key on TARGET (as sshdoctor copy-id)",
    ),
    ("chmod-600", "chmod 600 FILE"),
    ("chmod-700", "chmod 700 DIR"),
    ("chown", "instructions: needs root"),
    // The server-side ids are listed in `server::SERVER_FIX_IDS`.
    ("use-key-with-i", "instructions: a command to run"),
];

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// Plans for a permission fix id, from the files' metadata now.
fn chmod_plans(id: &str, target: Option<&Path>, paths: &SshPaths) -> Vec<FixPlan> {
    let uid = crate::paths::current_uid();
    let mut plans = Vec::new();
    if id == "chmod-private-key" {
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
        "chmod-ssh-dir" => (paths.ssh_dir.clone(), |_| 0o700),
        "chmod-authorized-keys" => (paths.authorized_keys(), |_| 0o600),
        "chmod-config" => (paths.config(), |_| 0o600),
        "chmod-home-dir" => (paths.home.clone(), |m| m & !0o022),
        _ => return plans,
    };
    let path = target.map(Path::to_path_buf).unwrap_or(path);
    if let Some(meta) = perms::stat(&path) {
        let shown = paths.display(&path);
        let after = new_mode(meta.mode);
        let how = if id == "chmod-home-dir" {
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
    let t = crate::config::parse_target(target).map_err(|e| anyhow::anyhow!("{e}"))?;
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

/// [`HostKeyPlace`] from the effective config (`ssh -G`, or the fallback parser).
pub fn host_key_place(typed: &str, paths: &SshPaths) -> anyhow::Result<HostKeyPlace> {
    let target = crate::config::parse_target(typed).map_err(|e| anyhow::anyhow!("{e}"))?;
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
    let target = crate::config::Target {
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
    id: &str,
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
    id: &str,
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
    id: &str,
    target: Option<&str>,
    known_hosts: &Path,
    paths: &SshPaths,
) -> anyhow::Result<Resolved> {
    let target_path = target.map(|t| absolute(t, paths));
    Ok(match id {
        "chmod-600" | "chmod-700" => {
            let Some(path) = target_path else {
                anyhow::bail!("{id} needs the file: sshdoctor fix {id} PATH");
            };
            let meta = perms::stat(&path)
                .ok_or_else(|| anyhow::anyhow!("{}: no such file", path.display()))?;
            let after = if id == "chmod-600" { 0o600 } else { 0o700 };
            let cmd = format!("chmod {:o} {}", after, shell_path(&path, paths));
            let shown = paths.display(&path);
            Resolved::Plans(vec![plan::chmod_plan(id, &path, &shown, meta.mode, after, &cmd)])
        }
        "chmod-private-key" | "chmod-ssh-dir" | "chmod-authorized-keys" | "chmod-config"
        | "chmod-home-dir" => Resolved::Plans(chmod_plans(id, target_path.as_deref(), paths)),
        "regenerate-public-key" => {
            Resolved::Plans(regenerate_plans(target_path.as_deref(), paths)?)
        }
        "repair-key-file" => {
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
        "known-hosts-strip-crlf" | "known-hosts-delete-malformed" | "known-hosts-add-final-newline" => {
            let file = target_path.unwrap_or_else(|| known_hosts.to_path_buf());
            let bytes = read_file(&file)?;
            Resolved::Plans(vec![match id {
                "known-hosts-strip-crlf" => plan::strip_crlf_plan(&file, &bytes),
                "known-hosts-add-final-newline" => plan::add_final_newline_plan(&file, &bytes),
                _ => plan::delete_malformed_plan(&file, &bytes),
            }])
        }
        "known-hosts-remove-host" | "remove-host-key" | "remove-old-host-key" => {
            let Some(t) = target else {
                anyhow::bail!("{id} needs the host: sshdoctor fix {id} HOST[:PORT]");
            };
            let name = known_hosts_name(t)?;
            let bytes = read_file(known_hosts)?;
            Resolved::Plans(vec![plan::remove_host_plan(id, known_hosts, bytes, &[name])])
        }
        "use-key-with-i" => Resolved::Manual {
            why: "this is a way to log in, not a change to your files".into(),
            command: "ssh -i KEY HOST".into(),
        },
        "start-agent" | "start-agent-add-key" => Resolved::Manual {
            why: "an agent started by sshdoctor would die with it; your shell must start it so its SSH_AUTH_SOCK reaches ssh".into(),
            command: "eval \"$(ssh-agent -s)\" && ssh-add   # then: sshdoctor fix add-key KEY".into(),
        },
        "unset-stale-agent" => Resolved::Manual {
            why: "only your shell can change its own environment".into(),
            command: "unset SSH_AUTH_SOCK SSH_AGENT_PID".into(),
        },
        "identities-only" | "enable-legacy-algorithm" | "read-sshd-log" | "inspect-file"
        | "check-server" | "check-server-pubkey" | "check-sshd-running" | "check-route"
        | "check-reachability" | "check-port" | "check-dns" => Resolved::Manual {
            why: "this is a change to your ssh config or to the server, or a check to make; sshdoctor shows the command but does not run it".into(),
            command: "the command shown next to this fix in `sshdoctor check` / `sshdoctor probe`".into(),
        },
        other => anyhow::bail!(
            "unknown fix id {other:?}; known ids: {}",
            FIX_IDS
                .iter()
                .chain(server::SERVER_FIX_IDS)
                .map(|(i, _)| *i)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

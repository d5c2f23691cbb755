//! `sshdoctor fix FIX_ID [TARGET] [--yes] [--dry-run] [--json]`: applies a fix that `check`,
//! `probe` or `server` offered (the server fixes also take `--user`, `--sshd-config`,
//! `--pubkey` and `--from`). Every plan is shown before anything is written; without `--yes` the user is
//! asked (and with no terminal to ask on, nothing happens: exit 2).
//!
//! Exit codes: 0 applied (or nothing to do), 1 refused or failed, 2 bad usage / cannot ask.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use crate::exit::Exit;
use crate::fix::keygen::{self, KeyType};
use crate::fix::server::{ServerContext, ServerResolved};
use crate::fix::targets::{self, Resolved, Target};
use crate::fix::{self, journal, plan, remote, secret, FixPlan};
use crate::fix_id::FixId;
use crate::paths::SshPaths;

#[derive(Debug, Args)]
pub struct FixArgs {
    /// The fix id shown by `sshdoctor check` (e.g. chmod-private-key, remove-host-key).
    pub fix_id: FixId,
    /// What to fix: a host (`host`, `host:port`, `[host]:port`) or a file, depending on the fix.
    pub target: Option<String>,
    /// Apply without asking (a changed host key still needs --accept-changed-host-key).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show the plan and the equivalent command; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plans (and results) as JSON.
    #[arg(long)]
    pub json: bool,
    /// The known_hosts file to edit (default: ~/.ssh/known_hosts; for the host-key fixes, the
    /// UserKnownHostsFile files ssh uses for that host).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Key type for generate-key: ed25519 (default) or rsa (4096 bits, for old servers).
    #[arg(long = "type", short = 't', default_value = "ed25519")]
    pub key_type: String,
    /// generate-key: no passphrase, do not ask.
    #[arg(long)]
    pub no_passphrase: bool,
    /// trust-host-key: hash the host name (default: what the effective ssh config says).
    #[arg(long, value_parser = ["yes", "no"])]
    pub hash: Option<String>,
    /// trust-host-key: accept a host key that CHANGED (what a man-in-the-middle looks like).
    #[arg(long)]
    pub accept_changed_host_key: bool,
    /// Server fixes: the account whose login is fixed (default: the current user).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Server fixes: the sshd config to edit (default: /etc/ssh/sshd_config).
    #[arg(long, value_name = "FILE")]
    pub sshd_config: Option<PathBuf>,
    /// append-authorized-key: the public key file to authorize.
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// authorized-key-allow-from: the client address to allow.
    #[arg(long, value_name = "ADDR")]
    pub from: Option<std::net::IpAddr>,
    /// enable-legacy-algorithm: the config line for the host, as ssh -o takes it
    /// (`HostKeyAlgorithms=+ssh-rsa`, `KexAlgorithms=+diffie-hellman-group14-sha1`).
    #[arg(short = 'o', long = "option", value_name = "KEYWORD=VALUE")]
    pub options: Vec<String>,
    /// identities-only: the key ssh should offer the host (IdentityFile).
    #[arg(short = 'i', long = "identity-file", value_name = "KEY")]
    pub identity_file: Option<PathBuf>,
    /// Config fixes for `user@host:port`: also write `User` and `Port` lines for the host (when
    /// they differ from the local user name and 22), so a plain `ssh host` logs in the same way.
    #[arg(long)]
    pub with_user_port: bool,
}

/// The user's answer to a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    NoTerminal,
}

/// Asks `[y/N]` on the terminal (stdin must be one). With `strong`, only the word `yes` counts.
pub fn confirm(question: &str, strong: bool) -> Answer {
    if !crate::sys::stdin_is_tty() {
        return Answer::NoTerminal;
    }
    let hint = if strong { "[type yes/N]" } else { "[y/N]" };
    eprint!("{question} {hint} ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return Answer::No;
    }
    let a = line.trim().to_ascii_lowercase();
    let ok = if strong {
        a == "yes"
    } else {
        a == "y" || a == "yes"
    };
    if ok {
        Answer::Yes
    } else {
        Answer::No
    }
}

/// Shows the plans, asks unless `yes`, applies them. Returns the exit code.
pub fn show_and_apply(
    plans: &[FixPlan],
    yes: bool,
    dry_run: bool,
    json: bool,
    strong: bool,
) -> Exit {
    show_and_apply_with(plans, yes, dry_run, json, strong, &|_, p, j| {
        fix::apply(p, j)
    })
}

/// [`show_and_apply`] with the function that applies plan number `i` of `plans` (the server
/// fixes follow the write with `sshd -t` or a chown).
pub fn show_and_apply_with(
    plans: &[FixPlan],
    yes: bool,
    dry_run: bool,
    json: bool,
    strong: bool,
    apply: &dyn Fn(usize, &FixPlan, &Path) -> Result<fix::Applied, fix::FixError>,
) -> Exit {
    let todo: Vec<(usize, &FixPlan)> = plans
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if json {
        let v: Vec<_> = plans.iter().map(FixPlan::to_json).collect();
        if dry_run || todo.is_empty() {
            println!("{}", serde_json::json!({ "dry_run": dry_run, "plans": v }));
            return Exit::Clean;
        }
    } else {
        for p in plans {
            print!("{}", p.render());
        }
    }
    if todo.is_empty() {
        if !json {
            println!("Nothing to do.");
        }
        return Exit::Clean;
    }
    if dry_run {
        if !json {
            println!("(dry run: nothing was written)");
        }
        return Exit::Clean;
    }
    if !yes {
        match confirm("Apply?", strong) {
            Answer::Yes => {}
            Answer::No => {
                eprintln!("Nothing was changed.");
                return Exit::Problem;
            }
            Answer::NoTerminal => {
                eprintln!("sshdoctor: no terminal to confirm on; run again with --yes to apply (nothing was changed)");
                return Exit::Usage;
            }
        }
    }
    let journal = match journal::journal_path() {
        Ok(j) => j,
        Err(e) => {
            eprintln!("sshdoctor: {e:#}");
            return Exit::Problem;
        }
    };
    let mut code = Exit::Clean;
    let mut results = Vec::new();
    for (i, p) in todo {
        match apply(i, p, &journal) {
            Ok(applied) => {
                if !json {
                    for d in &applied.done {
                        println!("done: {d}");
                    }
                }
                results
                    .push(serde_json::json!({"id": p.id, "applied": true, "done": applied.done}));
            }
            Err(e) => {
                eprintln!("sshdoctor: {}: {e}", p.id);
                results.push(
                    serde_json::json!({"id": p.id, "applied": false, "error": e.to_string()}),
                );
                code = Exit::Problem;
            }
        }
    }
    if json {
        let v: Vec<_> = plans.iter().map(FixPlan::to_json).collect();
        println!(
            "{}",
            serde_json::json!({ "dry_run": false, "plans": v, "results": results })
        );
    } else if code == Exit::Clean {
        println!("Undo with: sshdoctor undo");
    }
    code
}

fn known_hosts_file(args: &FixArgs, paths: &SshPaths) -> PathBuf {
    args.file.clone().unwrap_or_else(|| paths.known_hosts())
}

/// `fix remove-host-key TARGET` without `-f`: the name as typed (as `ssh-keygen -R` takes it)
/// and the name ssh uses for that target (a config alias resolved to `[HostName]:Port` or its
/// HostKeyAlias), removed from every `UserKnownHostsFile` ssh reads for it.
fn remove_host_key(args: &FixArgs, paths: &SshPaths) -> anyhow::Result<Exit> {
    let typed = args.target.as_deref().unwrap_or_default();
    let place = targets::host_key_place(typed, paths)?;
    let mut names = vec![targets::known_hosts_name(typed)?];
    if !names.contains(&place.name) {
        names.push(place.name.clone());
    }
    let mut plans = Vec::new();
    let mut first_read = None;
    for file in &place.files {
        let bytes = match crate::mem::read_file(file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
        };
        let p = plan::remove_host_plan(args.fix_id, file, bytes, &names);
        if p.is_empty() {
            first_read.get_or_insert(p);
        } else {
            plans.push(p);
        }
    }
    if plans.is_empty() {
        match first_read {
            // "No key for NAME in FILE": nothing to do, as ssh-keygen -R on a host it lacks.
            Some(p) => plans.push(p),
            None => anyhow::bail!("cannot read {}: no such file", place.files[0].display()),
        }
    }
    Ok(show_and_apply(
        &plans,
        args.yes,
        args.dry_run,
        args.json,
        false,
    ))
}

fn trust_host_key(args: &FixArgs, paths: &SshPaths) -> anyhow::Result<Exit> {
    let Some(t) = &args.target else {
        eprintln!(
            "sshdoctor: trust-host-key needs the host: sshdoctor fix trust-host-key HOST[:PORT]"
        );
        return Ok(Exit::Usage);
    };
    // A config alias connects where ssh would (HostName, Port) and the key goes where ssh adds
    // it: the first UserKnownHostsFile, under the name ssh looks up.
    let place = targets::host_key_place(t, paths)?;
    let (host, port) = (place.host.clone(), place.port);
    let file = match &args.file {
        Some(f) => f.clone(),
        None => place.files[0].clone(),
    };
    let key = remote::fetch_host_key(&host, port)?;
    let existing = targets::read_known_hosts_for_append(&file)?;
    let hash = match &args.hash {
        Some(h) => h == "yes",
        None => place.hash,
    };
    let salt = targets::hash_salt(hash);
    let p = targets::trust_host_key_plan(&place, &file, existing.as_deref(), &key, salt.as_ref());
    let changed = p.destructive;
    if changed && args.yes && !args.accept_changed_host_key && !args.dry_run {
        print!("{}", p.render());
        eprintln!("sshdoctor: the host key CHANGED; --yes alone does not accept that. If you have verified the new fingerprint, add --accept-changed-host-key (nothing was changed)");
        return Ok(Exit::Problem);
    }
    if !args.json {
        println!(
            "The server {host} port {port} shows this host key:\n  {} {}",
            key.algorithm().as_str(),
            key.fingerprint(russh::keys::ssh_key::HashAlg::Sha256)
        );
    }
    Ok(show_and_apply(
        &[p],
        args.yes,
        args.dry_run,
        args.json,
        changed,
    ))
}

fn generate_key(args: &FixArgs, paths: &SshPaths) -> anyhow::Result<Exit> {
    let Some(kind) = KeyType::parse(&args.key_type) else {
        eprintln!(
            "sshdoctor: unknown key type {:?}: use ed25519 or rsa",
            args.key_type
        );
        return Ok(Exit::Usage);
    };
    let default = match kind {
        KeyType::Ed25519 => "id_ed25519",
        KeyType::Rsa4096 => "id_rsa",
    };
    let path = args
        .target
        .as_deref()
        .map(|t| targets::absolute(t, paths))
        .unwrap_or_else(|| paths.ssh_dir.join(default));
    for p in [path.clone(), crate::keys::public_path_for(&path)] {
        if std::fs::symlink_metadata(&p).is_ok() {
            eprintln!(
                "sshdoctor: {} already exists; choose another name (nothing was changed)",
                p.display()
            );
            return Ok(Exit::Problem);
        }
    }
    let passphrase = if args.no_passphrase || args.dry_run {
        secret::Secret::default()
    } else {
        secret::new_passphrase()?
    };
    let p = keygen::generate_key_plan(
        args.fix_id,
        &path,
        kind,
        &keygen::default_comment(),
        &passphrase,
    )?;
    Ok(show_and_apply(
        &[p],
        args.yes,
        args.dry_run,
        args.json,
        false,
    ))
}

fn default_keys(paths: &SshPaths) -> Vec<PathBuf> {
    [
        "id_rsa",
        "id_ecdsa",
        "id_ecdsa_sk",
        "id_ed25519",
        "id_ed25519_sk",
        "id_dsa",
    ]
    .iter()
    .map(|n| paths.ssh_dir.join(n))
    .filter(|p| p.is_file())
    .collect()
}

fn add_keys(args: &FixArgs, paths: &SshPaths) -> anyhow::Result<Exit> {
    let keys: Vec<PathBuf> = match &args.target {
        Some(t) => vec![targets::absolute(t, paths)],
        None if args.fix_id == FixId::AddKeys => default_keys(paths),
        None => {
            eprintln!(
                "sshdoctor: {} needs the key: sshdoctor fix {} KEY",
                args.fix_id, args.fix_id
            );
            return Ok(Exit::Usage);
        }
    };
    let Some(sock) = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) else {
        eprintln!(
            "sshdoctor: no agent is running in this shell (SSH_AUTH_SOCK is not set). Start one yourself, so that ssh sees it:\n  {}\nthen run this again.",
            crate::platform::Platform::current().start_agent_command()
        );
        return Ok(Exit::Problem);
    };
    let command = format!(
        "ssh-add {}",
        keys.iter()
            .map(|k| crate::perms::shell_path(k, paths))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("Add to the agent at {}:", Path::new(&sock).display());
    for k in &keys {
        println!("  - {}", paths.display(k));
    }
    println!("  equivalent command: {command}");
    if args.dry_run {
        println!("(dry run: nothing was added)");
        return Ok(Exit::Clean);
    }
    if !args.yes {
        match confirm("Add?", false) {
            Answer::Yes => {}
            Answer::No => return Ok(Exit::Problem),
            Answer::NoTerminal => {
                eprintln!("sshdoctor: no terminal to confirm on; run again with --yes");
                return Ok(Exit::Usage);
            }
        }
    }
    let mut code = Exit::Clean;
    for k in keys {
        let pass = if remote::key_needs_passphrase(&k) {
            match secret::from_env("SSHDOCTOR_PASSPHRASE") {
                Some(p) => Some(p),
                None => Some(secret::prompt(&format!(
                    "Enter passphrase for {}: ",
                    paths.display(&k)
                ))?),
            }
        } else {
            None
        };
        match remote::add_to_agent(Path::new(&sock), &k, pass.as_ref()) {
            Ok(fp) => println!("Identity added: {} ({fp})", paths.display(&k)),
            Err(e) => {
                eprintln!("sshdoctor: {e:#}");
                code = Exit::Problem;
            }
        }
    }
    Ok(code)
}

/// Deletes an agent socket nothing listens on any more (connect is refused).
fn remove_stale_socket(args: &FixArgs) -> anyhow::Result<Exit> {
    let Some(sock) = args
        .target
        .clone()
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from))
    else {
        eprintln!("sshdoctor: remove-stale-socket needs the socket path");
        return Ok(Exit::Usage);
    };
    use crate::fix::agent_socket::{self, SocketState};
    match agent_socket::state(&sock).map_err(|e| anyhow::anyhow!("{}: {e}", sock.display()))? {
        SocketState::Dead => {}
        SocketState::NotASocket => {
            eprintln!(
                "sshdoctor: {} is not a socket; not removing it",
                sock.display()
            );
            return Ok(Exit::Problem);
        }
        SocketState::Alive => {
            eprintln!(
                "sshdoctor: something still answers on {}; not removing it",
                sock.display()
            );
            return Ok(Exit::Problem);
        }
    }
    println!(
        "Remove the dead agent socket {}\n  equivalent command: rm -f {}",
        sock.display(),
        crate::finding::shell_quote(&sock.display().to_string())
    );
    if args.dry_run {
        return Ok(Exit::Clean);
    }
    if !args.yes && confirm("Remove?", false) != Answer::Yes {
        return Ok(Exit::Usage);
    }
    agent_socket::remove_dead(&sock)?;
    Ok(Exit::Clean)
}

/// The fixes that change one file's mode refuse a directory as their target: `chmod 600` on a
/// directory (say `fix chmod-config /tmp`) would lock everyone out of it.
fn check_file_target(fix_id: FixId, target: &Path) -> anyhow::Result<()> {
    let file_fix = matches!(
        fix_id,
        FixId::ChmodConfig | FixId::ChmodAuthorizedKeys | FixId::ChmodPrivateKey
    );
    if file_fix && target.is_dir() {
        return Err(crate::exit::usage(format!(
            "{fix_id}: {} is a directory, not the file this fix is for",
            target.display()
        )));
    }
    Ok(())
}

/// The fixes that edit ~/.ssh/config: the line placed where ssh reads it for the host as typed,
/// proved with `ssh -G` before the plan is shown.
fn config_fix(args: &FixArgs, paths: &SshPaths) -> anyhow::Result<Exit> {
    let id = args.fix_id;
    let mut options = Vec::new();
    for o in &args.options {
        let Some((k, v)) = o.split_once('=') else {
            return Err(crate::exit::usage(format!(
                "-o {o:?}: write KEYWORD=VALUE, as with ssh -o"
            )));
        };
        options.push((k.trim().to_string(), v.trim().to_string()));
    }
    let (host, user, port, unknown) = if id == FixId::IgnoreUnknownOption {
        let names: Vec<String> = match &args.target {
            Some(t) => t.split(',').map(|s| s.trim().to_string()).collect(),
            None => rejected_options(paths),
        };
        (None, None, None, names)
    } else {
        let Some(t) = &args.target else {
            return Err(crate::exit::usage(format!(
                "{id} needs the host: sshdoctor fix {id} [USER@]HOST[:PORT]"
            )));
        };
        let t = crate::target::parse_target(t).map_err(|e| crate::exit::usage(e.to_string()))?;
        (Some(t.host), t.user, t.port, Vec::new())
    };
    let key = match &args.identity_file {
        Some(k) => {
            let k = targets::absolute(&k.display().to_string(), paths);
            if !k.is_file() {
                return Err(crate::exit::usage(format!(
                    "{}: no such key file (ssh would skip it)",
                    k.display()
                )));
            }
            Some(k)
        }
        None => None,
    };
    let mut settings = fix::config::settings_for(id, &options, key.as_deref(), &unknown)
        .map_err(|e| crate::exit::usage(e.0))?;
    if args.with_user_port {
        let local = crate::sys::passwd().map(|p| p.name);
        if let Some(u) = user
            .as_ref()
            .filter(|u| Some(u.as_str()) != local.as_deref())
        {
            settings.push(crate::finding::ConfigSetting::set("User", u.clone()));
        }
        if let Some(p) = port.filter(|&p| p != 22) {
            settings.push(crate::finding::ConfigSetting::set("Port", p.to_string()));
        }
    }
    let cf = fix::config::ConfigFix {
        id,
        host,
        user,
        port,
        settings,
    };
    let p = fix::config::plan(&cf, paths, std::ffi::OsStr::new("ssh"))?;
    Ok(show_and_apply(
        &[p],
        args.yes,
        args.dry_run,
        args.json,
        false,
    ))
}

/// The options ssh refuses in the config now ("Bad configuration option: X"), as the
/// `ssh-config-rejected` finding names them.
fn rejected_options(paths: &SshPaths) -> Vec<String> {
    let target = crate::target::Target {
        user: None,
        host: crate::config::proof::OTHER_HOST.to_string(),
        port: None,
    };
    let req = crate::config::ConfigRequest {
        target: &target,
        config_file: None,
        port: None,
        user: None,
        identity_files: &[],
    };
    let Ok(cfg) = crate::config::effective(&req, paths) else {
        return Vec::new();
    };
    crate::config::rejection_finding(&cfg)
        .into_iter()
        .flat_map(|f| f.fixes)
        .filter_map(|f| match f.target {
            crate::finding::FixTarget::ConfigOption { settings, .. } => Some(settings),
            _ => None,
        })
        .flatten()
        .filter_map(|s| match s.want {
            crate::finding::ConfigWant::InList(o) => Some(o),
            _ => None,
        })
        .collect()
}

pub fn run(args: &FixArgs) -> anyhow::Result<Exit> {
    let paths = SshPaths::from_env()?;
    if fix::config::is_config_fix(args.fix_id) {
        return config_fix(args, &paths);
    }
    match args.fix_id {
        FixId::TrustHostKey | FixId::AcceptHostKey => return trust_host_key(args, &paths),
        FixId::GenerateKey | FixId::GenerateMissingIdentity => return generate_key(args, &paths),
        FixId::AddKey | FixId::AddKeys | FixId::SshAdd => return add_keys(args, &paths),
        FixId::CopyId => {
            let Some(target) = args.target.clone() else {
                eprintln!(
                    "sshdoctor: copy-id needs the server: sshdoctor fix copy-id USER@HOST[:PORT]"
                );
                return Ok(Exit::Usage);
            };
            return super::copy_id::run(&super::copy_id::CopyIdArgs {
                identity: None,
                target,
                known_hosts: args.file.clone(),
                config_file: None,
                no_verify: false,
            });
        }
        FixId::RemoveStaleSocket => return remove_stale_socket(args),
        FixId::KnownHostsRemoveHost | FixId::RemoveHostKey | FixId::RemoveOldHostKey
            if args.file.is_none() && args.target.is_some() =>
        {
            return remove_host_key(args, &paths);
        }
        _ => {}
    }
    if let Some(t) = &args.target {
        check_file_target(args.fix_id, Path::new(t))?;
    }
    let file = known_hosts_file(args, &paths);
    let ctx = ServerContext {
        user: args.user.clone(),
        sshd_config: args.sshd_config.clone(),
        pubkey: args.pubkey.clone(),
        from: args.from,
    };
    match targets::resolve_with(args.fix_id, args.target.as_deref(), &file, &paths, &ctx) {
        Ok(Target::Client(Resolved::Plans(plans))) => Ok(show_and_apply(
            &plans,
            args.yes,
            args.dry_run,
            args.json,
            false,
        )),
        Ok(Target::Server(ServerResolved::Plans(sps))) => {
            let plans: Vec<FixPlan> = sps.iter().map(|s| s.plan.clone()).collect();
            let strong = plans.iter().any(|p| p.destructive);
            Ok(show_and_apply_with(
                &plans,
                args.yes,
                args.dry_run,
                args.json,
                strong,
                &|i, p, j| match sps.get(i) {
                    Some(sp) => fix::server::apply(sp, j),
                    None => fix::apply(p, j),
                },
            ))
        }
        Ok(
            Target::Client(Resolved::Manual { why, command })
            | Target::Server(ServerResolved::Manual { why, command }),
        ) => {
            println!(
                "sshdoctor does not apply {} itself: {why}.\nRun: {command}",
                args.fix_id
            );
            Ok(Exit::Problem)
        }
        Err(e) => {
            eprintln!("sshdoctor: {e:#}");
            Ok(Exit::Usage)
        }
    }
}

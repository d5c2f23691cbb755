//! `sshdoctor known-hosts remove HOST [-f FILE] [--all-aliases] [--yes]`: the fix module's
//! known-hosts subcommand (the read-only ones live in `known_hosts.rs`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::fix::show_and_apply;
use crate::exit::Exit;
use crate::fix::plan;
use crate::known_hosts;
use crate::paths::SshPaths;

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// `host`, `[host]:port` (taken literally, as ssh-keygen -R does).
    pub host: String,
    /// The known_hosts file (default: ~/.ssh/known_hosts).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Also remove the server's other names: its IP addresses and the IP entries holding the
    /// same key (the stale entry `ssh-keygen -R name` leaves behind).
    #[arg(long)]
    pub all_aliases: bool,
    /// Remove without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Removes the host's lines. Exit 0 when removed or absent (as ssh-keygen), 1 when refused or
/// failed, 2 when it could not ask.
pub fn run(args: &RemoveArgs) -> anyhow::Result<Exit> {
    let paths = SshPaths::from_env()?;
    let file = args.file.clone().unwrap_or_else(|| paths.known_hosts());
    let mut bytes = match crate::mem::read_file(&file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sshdoctor: cannot read {}: {e}", file.display());
            return Ok(Exit::Problem);
        }
    };
    let mut names = vec![args.host.clone()];
    let mut warnings = Vec::new();
    if args.all_aliases {
        let (host, port) = match args.host.strip_prefix('[').and_then(|r| r.split_once("]:")) {
            Some((h, p)) => (h.to_string(), p.parse::<u16>().unwrap_or(22)),
            None => (args.host.clone(), 22),
        };
        let kh = known_hosts::parse(bytes);
        let ips = crate::probe::dns::addresses(&host, port, Duration::from_secs(3));
        let (n, w) = plan::alias_names(&kh, &host, port, &ips);
        names = n;
        if !names.contains(&args.host) {
            names.insert(0, args.host.clone());
        }
        warnings = w;
        bytes = kh.into_bytes();
    }
    let mut p = plan::remove_host_plan(
        crate::fix_id::FixId::KnownHostsRemoveHost,
        &file,
        bytes,
        &names,
    );
    p.warnings.extend(warnings);
    if p.is_empty() {
        eprintln!("Host {} not found in {}", names.join(", "), file.display());
        return Ok(Exit::Clean);
    }
    Ok(show_and_apply(&[p], args.yes, false, args.json, false))
}

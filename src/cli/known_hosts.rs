//! `sshdoctor known-hosts list|find`: read known_hosts files the way ssh does. Without a
//! subcommand, the interactive browser in `crate::tui`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::inspect::{read_known_hosts, read_known_hosts_bytes};
use crate::known_hosts::{self, KnownHosts};
use crate::paths::SshPaths;

/// `sshdoctor known-hosts [-f FILE]` opens the browser; with a subcommand, the scriptable view.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct KnownHostsArgs {
    #[command(subcommand)]
    pub command: Option<KnownHostsCommand>,
    /// The known_hosts file to browse (default ~/.ssh/known_hosts).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum KnownHostsCommand {
    /// Every entry with its line, hosts (null when hashed), key type and fingerprint, and every
    /// malformed line with the reason.
    List {
        /// The known_hosts file (default ~/.ssh/known_hosts).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Find HOST as `ssh-keygen -F HOST` does: same output, exit 1 when absent.
    /// Use `[host]:port` for a port other than 22.
    Find {
        host: String,
        /// The known_hosts file (default ~/.ssh/known_hosts).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Remove every key for HOST as `ssh-keygen -R` does (FILE.old keeps the old content), also
    /// in files ssh-keygen refuses; --all-aliases also removes its IP entries.
    Remove(super::known_hosts_remove::RemoveArgs),
}

fn default_file(file: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match file {
        Some(f) => Ok(f.clone()),
        None => Ok(SshPaths::from_env()?.known_hosts()),
    }
}

/// Reads a file the user named; absent or unreadable is an input error (exit 2).
fn load(path: &Path) -> anyhow::Result<KnownHosts> {
    read_known_hosts(path)
        .map_err(anyhow::Error::msg)?
        .with_context(|| format!("{}: no such file", path.display()))
}

pub fn run(cmd: &KnownHostsCommand) -> anyhow::Result<i32> {
    match cmd {
        KnownHostsCommand::Remove(a) => {
            Ok(super::fix::exit_code(super::known_hosts_remove::run(a)))
        }
        KnownHostsCommand::List { file, json } => {
            let path = default_file(file)?;
            let kh = load(&path)?;
            let shown = path.display().to_string();
            if *json {
                super::print_json(&known_hosts::list_json(&kh, &shown))?;
            } else {
                print!("{}", render_list(&kh));
            }
            Ok(0)
        }
        KnownHostsCommand::Find { host, file } => {
            let path = default_file(file)?;
            // One lookup: the file is walked once, without a table of every line.
            let bytes = read_known_hosts_bytes(&path)
                .map_err(anyhow::Error::msg)?
                .with_context(|| format!("{}: no such file", path.display()))?;
            let out = known_hosts::find_output_in(&bytes, host);
            if out.is_empty() {
                return Ok(1);
            }
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(out.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
            Ok(0)
        }
    }
}

fn render_list(kh: &KnownHosts) -> String {
    let mut out = String::new();
    for e in kh.entries() {
        let hosts = match &e.hosts {
            Some(h) => h.join(","),
            None => "(hashed)".to_string(),
        };
        let marker = match e.marker {
            Some(known_hosts::Marker::CertAuthority) => "@cert-authority ",
            Some(known_hosts::Marker::Revoked) => "@revoked ",
            None => "",
        };
        out.push_str(&format!(
            "{:>6}  {}{}  {}  {}\n",
            e.line,
            marker,
            super::printable(&hosts),
            super::printable(&e.key_type),
            e.fingerprint().unwrap_or_else(|| "(bad key)".into())
        ));
    }
    for p in kh.problems() {
        out.push_str(&format!(
            "{:>6}  malformed: {}\n",
            p.line,
            super::printable(&p.reason)
        ));
    }
    out
}

//! `sshdoctor known-hosts list|find`: read known_hosts files the way ssh does. Without a
//! subcommand, the interactive browser in `crate::tui`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::exit::Exit;
use crate::inspect::read_known_hosts_bytes;
use crate::known_hosts;
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
pub fn run(cmd: &KnownHostsCommand) -> anyhow::Result<Exit> {
    match cmd {
        KnownHostsCommand::Remove(a) => super::known_hosts_remove::run(a),
        KnownHostsCommand::List { file, json } => {
            let path = default_file(file)?;
            // Streamed from the bytes in one pass: no table of lines, no tree of the output.
            let bytes = read_known_hosts_bytes(&path)
                .map_err(anyhow::Error::msg)?
                .with_context(|| format!("{}: no such file", path.display()))?;
            let shown = path.display().to_string();
            if *json {
                super::print_json(&known_hosts::ListJson {
                    data: &bytes,
                    file: &shown,
                })?;
            } else {
                let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                match write_list(&bytes, &mut out).and_then(|()| out.flush()) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                    other => other?,
                }
            }
            Ok(Exit::Clean)
        }
        KnownHostsCommand::Find { host, file } => {
            let path = default_file(file)?;
            // One lookup: the file is walked once, without a table of every line.
            let bytes = read_known_hosts_bytes(&path)
                .map_err(anyhow::Error::msg)?
                .with_context(|| format!("{}: no such file", path.display()))?;
            let out = known_hosts::find_output_in(&bytes, host);
            if out.is_empty() {
                return Ok(Exit::Problem);
            }
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(out.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
            Ok(Exit::Clean)
        }
    }
}

/// The text listing, written line by line (the file can hold 100,000 entries).
fn write_list(bytes: &[u8], out: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut walk = known_hosts::ListWalk::new(bytes);
    for e in walk.by_ref() {
        let hosts = match &e.hosts {
            Some(h) => h.join(","),
            None => "(hashed)".to_string(),
        };
        let marker = match e.marker {
            Some(known_hosts::Marker::CertAuthority) => "@cert-authority ",
            Some(known_hosts::Marker::Revoked) => "@revoked ",
            None => "",
        };
        writeln!(
            out,
            "{:>6}  {}{}  {}  {}",
            e.line,
            marker,
            crate::safe_text::printable(&hosts),
            crate::safe_text::printable(&e.key_type),
            e.fingerprint().unwrap_or_else(|| "(bad key)".into())
        )?;
    }
    for p in walk.problems() {
        writeln!(
            out,
            "{:>6}  malformed: {}",
            p.line,
            crate::safe_text::printable(&p.reason)
        )?;
    }
    Ok(())
}

//! The command-line view: clap definitions and dispatch. Each subcommand lives in its own file
//! with its `Args` and a `run(&Args) -> anyhow::Result<Exit>`; [`main`] turns the outcome into
//! the process exit code, the one place that happens.
//!
//! Exit codes are a contract: 0 nothing wrong, 1 at least one error-severity finding (or, for
//! `known-hosts find`, not found; for the commands that write, a change that could not be
//! applied), 2 bad usage or unreadable input (the message on stderr).

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `println!` for every CLI module: ends quietly on a broken pipe ([`out`]).
macro_rules! println {
    () => {
        $crate::cli::out::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*), true)
    };
}

/// `print!` for every CLI module: ends quietly on a broken pipe ([`out`]).
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*), false)
    };
}

pub mod agent;
pub mod check;
pub mod config;
pub mod copy_id;
pub mod explain;
pub mod findings;
pub mod fix;
pub mod generate;
pub mod keys;
pub mod known_hosts;
pub mod known_hosts_remove;
pub mod out;
pub mod probe;
pub mod scan;
pub mod server;
pub mod undo;

/// Diagnose and safely fix failing SSH logins.
///
/// Run `sshdoctor check` to see what is wrong on this side, `sshdoctor probe user@host` to test a
/// login for real. Nothing is changed without asking.
#[derive(Debug, Parser)]
#[command(
    name = "sshdoctor",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `[user@]host[:port]` or a config alias: open the dashboard on that target and start the
    /// live test at once. Without it (and without a command), the dashboard of the local setup.
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every local finding (keys, permissions, known_hosts, config, agent), worst first.
    /// Exit 0: no error; 1: at least one error; 2: bad usage or unreadable input.
    Check(check::CheckArgs),
    /// The keys in ~/.ssh (found by content) and in the config's IdentityFile lines.
    Keys(keys::KeysArgs),
    /// Browse a known_hosts file (filter, delete, undo); or list entries, find a host as
    /// `ssh-keygen -F` does.
    KnownHosts(known_hosts::KnownHostsArgs),
    /// The effective ssh options for a target (`ssh -G` where ssh is installed).
    Config(config::ConfigArgs),
    /// Whether an ssh-agent runs and which keys it holds.
    Agent(agent::AgentArgs),
    /// On the server: why sshd refuses a login, from sshd's config, StrictModes and its log.
    Server(server::ServerArgs),
    /// Test a login for real: DNS, TCP, banner, key exchange, host key, auth methods, which keys
    /// the server accepts, login. Exit 0 when login would succeed, 1 on an error diagnosis.
    Probe(probe::ProbeArgs),
    /// Explain a failed `ssh -v` from a file or standard input: the same findings as the probe.
    /// Exit 0: no error found; 1: an error; 2: unreadable input.
    Explain(explain::ExplainArgs),
    /// Apply a fix offered by `check` or `probe` (shows the plan, asks first).
    Fix(fix::FixArgs),
    /// Revert the last applied fix, byte for byte.
    Undo(undo::UndoArgs),
    /// Install your public key on a server (like ssh-copy-id), then verify the key login.
    CopyId(copy_id::CopyIdArgs),
    /// Fetch the host key of every known host, concurrently, and report which known_hosts entries
    /// went stale. Exit 1 when a key changed or is revoked.
    Scan(scan::ScanArgs),
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory.
    Man {
        /// Write sshdoctor.1 and a sshdoctor-COMMAND.1 page for each command into DIR
        /// (e.g. ~/.local/share/man/man1) instead of printing sshdoctor.1.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// `-F FILE` checked as ssh checks it before doing anything: `none` means no config file;
/// anything else must be a file that opens (ssh: `Can't open user config file FILE: No such
/// file or directory`). A directory is refused too: ssh would read it as an empty config, and
/// judging its mode as if it were ~/.ssh/config only misleads. Clap turns the error into a
/// usage error (exit 2) before any work starts, for every command that takes `-F`.
pub fn user_config_file(arg: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(arg);
    if arg == "none" {
        return Ok(path);
    }
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => Err(format!(
            "can't open user config file {arg}: it is a directory, not an ssh_config file"
        )),
        Ok(_) => std::fs::File::open(&path)
            .map(|_| path)
            .map_err(|e| format!("can't open user config file {arg}: {}", io_reason(&e))),
        Err(e) => Err(format!(
            "can't open user config file {arg}: {}",
            io_reason(&e)
        )),
    }
}

/// `-p PORT` as ssh takes it: 1 to 65535 (ssh: `Bad port '0'`); 0 is not "the default".
pub fn port_number(arg: &str) -> Result<u16, String> {
    match arg.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "bad port '{arg}': a port is a number from 1 to 65535"
        )),
    }
}

/// An I/O error as OpenSSH words it (`strerror`), without Rust's `(os error 2)` suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    crate::words::io_reason(&e.to_string()).to_string()
}

/// Prints JSON followed by a newline; a closed pipe (`| head`) is not an error.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    // Written as it is serialized, never held whole in memory (a known_hosts listing can be
    // tens of megabytes); a reader that went away ends the output quietly.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush());
    match written {
        // As for text output: a reader that went away ends the program quietly.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match &cli.command {
        None => crate::tui::run_dashboard(cli.target.clone()),
        Some(Command::Check(a)) => check::run(a),
        Some(Command::Keys(a)) => keys::run(a),
        Some(Command::KnownHosts(a)) => match &a.command {
            Some(c) => known_hosts::run(c),
            None => crate::tui::run_known_hosts(a.file.clone()),
        },
        Some(Command::Config(a)) => config::run(a),
        Some(Command::Agent(a)) => agent::run(a),
        Some(Command::Server(a)) => server::run(a),
        Some(Command::Probe(a)) => probe::run(a),
        Some(Command::Explain(a)) => explain::run(a),
        Some(Command::Fix(a)) => fix::run(a),
        Some(Command::Undo(a)) => undo::run(a),
        Some(Command::CopyId(a)) => copy_id::run(a),
        Some(Command::Scan(a)) => scan::run(a),
        Some(Command::Completions { shell }) => generate::completions(*shell),
        Some(Command::Man { out_dir }) => generate::man(out_dir.as_deref()),
    };
    match result {
        Ok(exit) => exit.code(),
        Err(e) => {
            eprintln!(
                "sshdoctor: {}",
                crate::safe_text::printable(&format!("{e:#}"))
            );
            crate::exit::error_code(&e, cli.command.as_ref().is_some_and(Command::changes_files))
        }
    }
}

impl Command {
    /// Whether the command writes (a fix, an undo, a key installed, known_hosts lines removed):
    /// its errors are "could not be applied" (exit 1), not "unreadable input" (exit 2).
    fn changes_files(&self) -> bool {
        match self {
            Command::Fix(_) | Command::Undo(_) | Command::CopyId(_) => true,
            Command::KnownHosts(a) => {
                matches!(a.command, Some(known_hosts::KnownHostsCommand::Remove(_)))
            }
            _ => false,
        }
    }
}

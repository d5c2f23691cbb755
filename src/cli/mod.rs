//! The command-line view: clap definitions and dispatch. Each subcommand lives in its own file
//! with its `Args` and a `run(&Args) -> anyhow::Result<i32>` that returns the exit code.
//!
//! Exit codes are a contract: 0 nothing wrong, 1 at least one error-severity finding (or, for
//! `find`, not found), 2 bad usage or unreadable input.

use clap::{Parser, Subcommand};

pub mod copy_id;
pub mod fix;
pub mod known_hosts;
pub mod undo;

/// Diagnose and safely fix failing SSH logins.
#[derive(Debug, Parser)]
#[command(name = "sshdoctor", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply a fix offered by `check` or `probe` (shows the plan, asks first).
    Fix(fix::FixArgs),
    /// Revert the last applied fix, byte for byte.
    Undo(undo::UndoArgs),
    /// Install your public key on a server (like ssh-copy-id), then verify the key login.
    CopyId(copy_id::CopyIdArgs),
    /// Edit known_hosts files.
    #[command(subcommand)]
    KnownHosts(known_hosts::KnownHostsCommand),
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
    match cli.command {
        None => 0,
        Some(Command::Fix(a)) => fix::exit_code(fix::run(&a)),
        Some(Command::Undo(a)) => fix::exit_code(undo::run(&a)),
        Some(Command::CopyId(a)) => fix::exit_code(copy_id::run(&a)),
        Some(Command::KnownHosts(c)) => fix::exit_code(known_hosts::run(&c)),
    }
}

//! The command-line view: clap definitions and dispatch. Each subcommand lives in its own file
//! with its `Args` and a `run(&Args) -> anyhow::Result<i32>` that returns the exit code.
//!
//! Exit codes are a contract: 0 nothing wrong, 1 at least one error-severity finding (or, for
//! `find`, not found), 2 bad usage or unreadable input.

pub mod probe;

use clap::{Parser, Subcommand};

/// Diagnose and safely fix failing SSH logins.
#[derive(Debug, Parser)]
#[command(name = "sshdoctor", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Probe(crate::cli::probe::ProbeArgs),
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
        Some(Command::Probe(args)) => match probe::run(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("sshdoctor: {e:#}");
                2
            }
        },
    }
}

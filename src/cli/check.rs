//! `sshdoctor check [TARGET] [--json]`: every local finding, worst first.

use std::path::PathBuf;

use crate::exit::Exit;
use crate::finding::{Finding, Severity};
use crate::inspect::{inspect, InspectOptions};
use crate::target::parse_target;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// `[user@]host[:port]` or a config alias: only what a login to it uses.
    pub target: Option<String>,
    /// Read this ssh config instead of ~/.ssh/config (as `ssh -F`).
    #[arg(short = 'F', long = "config", value_name = "FILE", value_parser = super::user_config_file)]
    pub config_file: Option<PathBuf>,
    /// Print `{"findings":[...]}` instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<Exit> {
    let target = args
        .target
        .as_deref()
        .map(parse_target)
        .transpose()
        .map_err(|e| crate::exit::usage(e.to_string()))?;
    let opts = InspectOptions::from_env(target, args.config_file.clone())?;
    let report = inspect(&opts)?;
    if args.json {
        super::print_json(&serde_json::json!({ "findings": report.findings }))?;
    } else if report.findings.is_empty() {
        println!("No problems found on this side.");
    } else {
        print!("{}", super::findings::render(&report.findings));
    }
    Ok(exit_for(&report.findings))
}

/// A problem when any finding is an error: the contract scripts rely on.
pub fn exit_for(findings: &[Finding]) -> Exit {
    Exit::problem_if(findings.iter().any(|f| f.severity == Severity::Error))
}

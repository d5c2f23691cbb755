//! `sshdoctor check [TARGET] [--json]`: every local finding, worst first.

use std::path::PathBuf;

use crate::config;
use crate::finding::{Finding, Severity};
use crate::inspect::{inspect, InspectOptions};

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

pub fn run(args: &CheckArgs) -> anyhow::Result<i32> {
    let target = args
        .target
        .as_deref()
        .map(config::parse_target)
        .transpose()
        .map_err(|e| crate::exit::usage(e.to_string()))?;
    let opts = InspectOptions::from_env(target, args.config_file.clone())?;
    let report = inspect(&opts)?;
    if args.json {
        super::print_json(&serde_json::json!({ "findings": report.findings }))?;
    } else if report.findings.is_empty() {
        println!("No problems found on this side.");
    } else {
        print!("{}", render_findings(&report.findings));
    }
    Ok(exit_code(&report.findings))
}

/// 1 when any finding is an error, else 0: the contract scripts rely on.
pub fn exit_code(findings: &[Finding]) -> i32 {
    i32::from(findings.iter().any(|f| f.severity == Severity::Error))
}

/// Findings as a person reads them in a terminal: severity, title, then evidence and fixes.
pub fn render_findings(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "{:<7} {}  [{}]\n",
            f.severity.as_str(),
            super::printable(&f.title),
            f.id
        ));
        if !f.explanation.is_empty() {
            out.push_str(&format!("        {}\n", super::printable(&f.explanation)));
        }
        for e in &f.evidence {
            out.push_str(&format!("        evidence: {}\n", super::printable(e)));
        }
        for fix in &f.fixes {
            out.push_str(&format!(
                "        fix{}: {}  $ {}\n",
                if fix.destructive {
                    " (destructive)"
                } else {
                    ""
                },
                super::printable(&fix.title),
                super::printable(&fix.command)
            ));
        }
        out.push('\n');
    }
    out
}

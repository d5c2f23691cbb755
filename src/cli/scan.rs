//! `sshdoctor scan`: the fleet health check. Results stream: with `--json` one JSON object per
//! host per line as each host answers; on a terminal a result line per host plus a progress line
//! on stderr that is rewritten in place.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::{self, ConfigRequest};
use crate::exit::Exit;
use crate::finding::Severity;
use crate::known_hosts;
use crate::paths::SshPaths;
use crate::scan::{self, ScanOptions, ScanResult, ScanStatus, ScanTarget};

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Hosts to check ([user@]host[:port]); hashed known_hosts entries are checked for these.
    /// Without hosts and without --from, every plain host in known_hosts is scanned.
    pub hosts: Vec<String>,
    /// Where the host list comes from: `known-hosts` (plain entries of the known_hosts file),
    /// `config` (every literal `Host` alias of the ssh config), or a path to a known_hosts file.
    #[arg(long, value_name = "known-hosts|config|FILE")]
    pub from: Option<String>,
    /// The known_hosts file keys are checked against (default ~/.ssh/known_hosts; with
    /// `--from FILE`, that file).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// The ssh config file for `--from config` (default ~/.ssh/config).
    #[arg(short = 'F', long = "config", value_name = "FILE", value_parser = super::user_config_file)]
    pub config_file: Option<PathBuf>,
    /// Most connections open at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds allowed for each host (DNS, connect, banner and key exchange together).
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    /// One JSON object per host, one per line, as results arrive.
    #[arg(long)]
    pub json: bool,
}

/// Where the hosts come from.
enum Source<'a> {
    KnownHosts,
    Config,
    File(&'a Path),
}

pub fn run(args: &ScanArgs) -> anyhow::Result<Exit> {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        return Err(crate::exit::usage(
            "--timeout takes seconds, more than 0 and at most 3600",
        ));
    }
    if args.concurrency == 0 || args.concurrency > 4096 {
        return Err(crate::exit::usage(
            "--concurrency must be between 1 and 4096",
        ));
    }
    let paths = SshPaths::from_env()?;
    let from = match args.from.as_deref() {
        None if !args.hosts.is_empty() => None,
        None | Some("known-hosts") => Some(Source::KnownHosts),
        Some("config") => Some(Source::Config),
        Some(f) => Some(Source::File(Path::new(f))),
    };
    let kh_path = match (&args.known_hosts, &from) {
        (Some(p), _) => p.clone(),
        (None, Some(Source::File(f))) => f.to_path_buf(),
        _ => paths.known_hosts(),
    };
    let kh = match crate::inspect::read_known_hosts(&kh_path).map_err(anyhow::Error::msg)? {
        Some(kh) => kh,
        None if matches!(from, Some(Source::KnownHosts | Source::File(_))) => {
            return Err(crate::exit::usage(format!(
                "{}: no such file",
                kh_path.display()
            )))
        }
        None => known_hosts::parse(Vec::new()),
    };
    let shown = paths.display(&kh_path);
    let mut targets = Vec::new();
    match from {
        Some(Source::KnownHosts | Source::File(_)) => {
            targets.extend(scan::targets_from_known_hosts(&kh, &shown))
        }
        Some(Source::Config) => targets.extend(config_targets(args, &paths)?),
        None => {}
    }
    for h in &args.hosts {
        let t = crate::target::parse_target(h).map_err(|e| crate::exit::usage(e.to_string()))?;
        targets.push(ScanTarget {
            host: t.host,
            port: t.port.unwrap_or(22),
            origin: "command line".into(),
        });
    }
    let total = targets.len();
    let progress = !args.json && std::io::stderr().is_terminal();
    let opts = ScanOptions {
        concurrency: args.concurrency,
        timeout: Duration::from_secs_f64(args.timeout),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        )
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let json = args.json;
    let mut done = 0usize;
    let mut closed = false;
    let results = rt.block_on(scan::run(
        targets,
        Arc::new(kh),
        Arc::from(shown.as_str()),
        opts,
        |r| {
            done += 1;
            if closed {
                return;
            }
            let line = if json {
                serde_json::to_string(r).unwrap_or_default()
            } else {
                result_line(r)
            };
            if progress {
                eprint!("\r\x1b[K");
            }
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                closed = true; // `| head`: stop printing, finish quietly
            }
            if progress {
                eprint!("[{done}/{total}] scanning...");
            }
        },
    ));
    if progress {
        eprint!("\r\x1b[K");
    }
    if !json && !closed {
        print_summary(&results, &shown, total);
    }
    let bad = scan::findings(&results, &shown)
        .iter()
        .any(|f| f.severity == Severity::Error);
    Ok(Exit::problem_if(bad))
}

/// Every literal `Host` alias of the config, resolved (HostName, Port) as ssh would.
fn config_targets(args: &ScanArgs, paths: &SshPaths) -> anyhow::Result<Vec<ScanTarget>> {
    let file = args.config_file.clone().unwrap_or_else(|| paths.config());
    let text = std::fs::read_to_string(&file)
        .map_err(|e| crate::exit::usage(format!("cannot read {}: {e}", file.display())))?;
    let mut out = Vec::new();
    for alias in scan::config_aliases(&text) {
        let target = crate::target::Target {
            user: None,
            host: alias.clone(),
            port: None,
        };
        let req = ConfigRequest {
            target: &target,
            config_file: Some(&file),
            port: None,
            user: None,
            identity_files: &[],
        };
        let eff = config::effective(&req, paths)?;
        out.push(ScanTarget {
            host: eff.hostname,
            port: eff.port,
            origin: format!("config Host {alias}"),
        });
    }
    Ok(out)
}

fn result_line(r: &ScanResult) -> String {
    let status = r.status.as_str();
    let detail = crate::words::io_reason(&r.detail);
    // The reason in brackets only where the detail does not already say it
    // (not "Connection refused (refused)").
    let why = r
        .reason
        .filter(|x| {
            !detail
                .to_ascii_lowercase()
                .contains(&x.to_ascii_lowercase())
        })
        .map(|x| format!(" ({x})"))
        .unwrap_or_default();
    crate::safe_text::printable(&format!("{status:<16} {:<28} {detail}{why}", r.name))
}

fn print_summary(results: &[ScanResult], file: &str, total: usize) {
    let count = |s: ScanStatus| results.iter().filter(|r| r.status == s).count();
    let parts: Vec<String> = [
        ScanStatus::Unchanged,
        ScanStatus::Changed,
        ScanStatus::Revoked,
        ScanStatus::Unknown,
        ScanStatus::Unreachable,
        ScanStatus::NotSsh,
        ScanStatus::HandshakeFailed,
    ]
    .into_iter()
    .filter(|s| count(*s) > 0)
    .map(|s| format!("{} {}", count(s), s.as_str()))
    .collect();
    println!();
    if total == 0 {
        println!("No hosts to scan (hashed entries need the host named on the command line).");
        return;
    }
    println!(
        "{}: {}",
        crate::words::count(total, "host"),
        parts.join(", ")
    );
    for f in scan::findings(results, file) {
        if let Some(fix) = f.fixes.first() {
            println!(
                "  {}\n    {}",
                crate::safe_text::printable(&f.title),
                fix.command
            );
        }
    }
}

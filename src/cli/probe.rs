//! `sshdoctor probe`: the live test from the command line, as readable stages or `--json`.
//!
//! [`resolve`] turns the flags into [`ProbeOptions`] through the config, keys and known_hosts
//! modules (`probe::setup`), exactly as the dashboard does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exit::Exit;
use crate::paths::SshPaths;
use crate::probe::{self, setup, LoginMode, ProbeOptions, StageEvent, StageStatus};
use crate::safe_text::printable;

/// Talk to the server for real and say which login step fails, and why.
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// `[user@]host[:port]` (a Host alias from ~/.ssh/config works too).
    pub target: String,
    /// Port to connect to (overrides the target and the config).
    #[arg(short = 'p', long = "port", value_parser = super::port_number)]
    pub port: Option<u16>,
    /// User to log in as.
    #[arg(short = 'l', long = "login-name")]
    pub user: Option<String>,
    /// Key file to try (repeatable), in the order given.
    #[arg(short = 'i', long = "identity")]
    pub identity: Vec<PathBuf>,
    /// ssh_config file to read instead of ~/.ssh/config.
    #[arg(short = 'F', long = "config", value_name = "FILE", value_parser = super::user_config_file)]
    pub config: Option<PathBuf>,
    /// known_hosts file to compare the server's key with (instead of the config's).
    #[arg(long = "known-hosts")]
    pub known_hosts: Option<PathBuf>,
    /// Seconds to wait for each network step.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    /// Ask for the passphrase of an encrypted key to complete the login.
    #[arg(long)]
    pub ask_passphrase: bool,
    /// Test a password login instead of keys: the password is asked on the terminal without
    /// echo (read as one line from standard input when that is not a terminal), tried once.
    #[arg(long)]
    pub password: bool,
    /// Test agent forwarding after the login, as `ssh -A` (also on with ForwardAgent yes).
    #[arg(short = 'A', long = "forward-agent")]
    pub forward_agent: bool,
    /// With -A: after forwarding works, run `ssh -o BatchMode=yes HOST2 true` on the server
    /// over the forwarded agent (`[user@]host[:port]` or a Host alias of the server's config)
    /// and say why it fails: HOST2's host key unknown there, no agent key HOST2 accepts (which
    /// local key file to ssh-add), HOST2 unreachable from the server.
    #[arg(long, value_name = "HOST2")]
    pub hop: Option<String>,
    /// Skip the last stage, `ssh-check`, which runs your own ssh once (with -v, BatchMode, -N,
    /// writing nothing) and compares its verdict with the probe's.
    #[arg(long)]
    pub no_cross_check: bool,
    /// Seconds after which a stage that works counts as slow (a `slow-login` warning).
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    pub slow_after: f64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the probe and prints the report; returns the exit code (0 ok, 1 error found, 2 usage).
pub fn run(args: &ProbeArgs) -> anyhow::Result<Exit> {
    // `-i` files that cannot be read: ssh warns and goes on with its other keys; so does the
    // probe, and the report says which file and why.
    let paths = SshPaths::from_env()?;
    let missing: Vec<crate::finding::Finding> = args
        .identity
        .iter()
        .filter_map(|p| {
            let e = std::fs::File::open(p).err()?;
            let reason = super::io_reason(&e);
            if !args.json {
                eprintln!(
                    "Warning: Identity file {} not accessible: {reason}.",
                    p.display()
                );
            }
            Some(crate::config::command_line_identity_missing(
                p, &reason, &paths,
            ))
        })
        .collect();
    let (mut opts, cfg) = match resolve_with_config(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sshdoctor probe: {}", printable(&format!("{e:#}")));
            return Ok(Exit::Usage);
        }
    };
    opts.forward_agent |= args.forward_agent;
    if let Some(typed) = &args.hop {
        if !opts.forward_agent {
            eprintln!(
                "sshdoctor probe: --hop runs ssh on the server over the forwarded agent, so it needs -A (--forward-agent, or ForwardAgent yes in the config)"
            );
            return Ok(Exit::Usage);
        }
        let extra: Vec<PathBuf> = cfg
            .identity_files
            .iter()
            .chain(&args.identity)
            .cloned()
            .collect();
        match probe::hop::request(typed, &paths.ssh_dir, &extra) {
            Ok(req) => opts.second_hop = Some(req),
            Err(e) => {
                eprintln!("sshdoctor probe: --hop {}: {e}", printable(typed));
                return Ok(Exit::Usage);
            }
        }
    }
    if args.password {
        opts.password = Some(read_password(&opts.user, &opts.host)?);
        if crate::sys::stdin_is_tty() {
            opts.kbd_prompt = Some(std::sync::Arc::new(ask_kbd_prompt));
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let json = args.json;
    let report = rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(probe::run(opts, Some(tx)));
        while let Some(ev) = rx.recv().await {
            if let (false, StageEvent::Finished(st)) = (json, ev) {
                print_stage(&st);
            }
        }
        task.await
    });
    let mut report = report.map_err(|e| anyhow::anyhow!("the probe task failed: {e}"))?;
    // What ssh itself printed first comes first.
    let mut local = missing;
    let files: Vec<PathBuf> = cfg
        .identity_files
        .iter()
        .chain(&args.identity)
        .cloned()
        .collect();
    local.extend(unloadable_key_findings(&files, &paths));
    report.findings.splice(0..0, local);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("\n{}", super::findings::render(&report.findings));
    }
    Ok(report.exit())
}

fn print_stage(st: &probe::Stage) {
    let mark = match st.status {
        StageStatus::Ok => "ok  ",
        StageStatus::Fail => "FAIL",
        StageStatus::Skipped => "--  ",
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "[{mark}] {:<20}{:>6} ms  {}",
        probe::stage_label(&st.stage),
        st.ms,
        printable(&st.detail)
    );
}

/// Builds the probe's inputs from the flags through the effective ssh config, the key files and
/// the known_hosts files (the same [`setup::options`] the dashboard uses), with the effective
/// config they came from (the key files it names).
fn resolve_with_config(
    args: &ProbeArgs,
) -> anyhow::Result<(ProbeOptions, crate::config::EffectiveConfig)> {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        return Err(crate::exit::usage(
            "--timeout takes seconds, more than 0 and at most 3600",
        ));
    }
    if !(args.slow_after.is_finite() && args.slow_after > 0.0 && args.slow_after <= 3600.0) {
        return Err(crate::exit::usage(
            "--slow-after takes seconds, more than 0 and at most 3600",
        ));
    }
    let paths = SshPaths::from_env()?;
    let req = setup::ProbeRequest {
        target: args.target.clone(),
        port: args.port,
        user: args.user.clone(),
        identity_files: args.identity.clone(),
        config_file: args.config.clone(),
        known_hosts_file: args.known_hosts.clone(),
        timeout: Duration::from_secs_f64(args.timeout),
        agent_socket: setup::agent_socket_from_env(),
        cross_check: !args.no_cross_check,
        slow_after: Some(Duration::from_secs_f64(args.slow_after)),
    };
    let login = if args.ask_passphrase {
        LoginMode::AskPassphrase(Box::new(ask_passphrase))
    } else {
        LoginMode::WithKey
    };
    setup::options(&req, &paths, login)
}

/// Findings about the key files this login uses (the effective config's, `-i` included) that
/// ssh itself would refuse to load (`Load key "FILE": error in libcrypto`): the probe skips
/// them as ssh does, and says why.
fn unloadable_key_findings(files: &[PathBuf], paths: &SshPaths) -> Vec<crate::finding::Finding> {
    let mut seen: Vec<&PathBuf> = Vec::new();
    let mut out = Vec::new();
    for f in files {
        if seen.contains(&f) {
            continue;
        }
        seen.push(f);
        if let Err(crate::keys::KeyError::NotLoadableBySsh { path, damage }) = crate::keys::load(f)
        {
            out.push(crate::keys::not_loadable_finding(&path, damage, paths));
        }
    }
    out
}

/// The password for `probe --password`: asked on the terminal without echo, or, when standard
/// input is not a terminal (scripts, tests), its first line. Never echoed, logged or reported.
fn read_password(user: &str, host: &str) -> anyhow::Result<zeroize::Zeroizing<String>> {
    use crate::fix::secret;
    if crate::sys::stdin_is_tty() {
        return secret::prompt(&format!("{user}@{host}'s password: "));
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the password from standard input: {e}"))?;
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(line)
}

/// Reads a passphrase from the terminal with echo off (`fix::secret::prompt`); it goes
/// straight to key decryption.
fn ask_passphrase(path: &Path) -> Option<String> {
    let line = crate::fix::secret::prompt(&format!("Passphrase for {}: ", path.display())).ok()?;
    (!line.is_empty()).then(|| line.to_string())
}

/// Asks one keyboard-interactive prompt that is not the password (an OTP's `Verification
/// code:`) on the terminal: the server's text, already made safe to show, with echo only when
/// the server asks for it. An empty answer declines (nothing is sent).
fn ask_kbd_prompt(text: &str, echo: bool) -> Option<zeroize::Zeroizing<String>> {
    let question = format!("{} ", text.trim_end());
    let answer = if echo {
        use std::io::BufRead;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{question}");
        let _ = err.flush();
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line).ok()?;
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        line
    } else {
        crate::fix::secret::prompt(&question).ok()?
    };
    (!answer.is_empty()).then_some(answer)
}

//! `sshdoctor probe`: the live test from the command line, as readable stages or `--json`.
//!
//! [`resolve`] turns the flags into [`ProbeOptions`]. Until the config and known_hosts modules
//! are wired in, it asks OpenSSH itself: `ssh -G` for the effective HostName/Port/User/
//! IdentityFile/IdentitiesOnly/UserKnownHostsFile, and `ssh-keygen -F` for known_hosts lines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use russh::keys::ssh_key::{PrivateKey, PublicKey};

use crate::finding::Severity;
use crate::paths::SshPaths;
use crate::probe::{
    self, HostKeyVerdict, Identity, LoginMode, ProbeOptions, ProbeReport, StageEvent, StageStatus,
};

/// Talk to the server for real and say which login step fails, and why.
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// `[user@]host[:port]` (a Host alias from ~/.ssh/config works too).
    pub target: String,
    /// Port to connect to (overrides the target and the config).
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// User to log in as.
    #[arg(short = 'l', long = "login-name")]
    pub user: Option<String>,
    /// Key file to try (repeatable), in the order given.
    #[arg(short = 'i', long = "identity")]
    pub identity: Vec<PathBuf>,
    /// ssh_config file to read instead of ~/.ssh/config.
    #[arg(short = 'F', long = "config")]
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
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the probe and prints the report; returns the exit code (0 ok, 1 error found, 2 usage).
pub fn run(args: &ProbeArgs) -> anyhow::Result<i32> {
    let opts = match resolve(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sshdoctor probe: {e:#}");
            return Ok(2);
        }
    };
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
    let report = report.map_err(|e| anyhow::anyhow!("the probe task failed: {e}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_findings(&report);
    }
    Ok(report.exit_code())
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
        "[{mark}] {:<13}{:>6} ms  {}",
        st.stage, st.ms, st.detail
    );
}

fn print_findings(r: &ProbeReport) {
    let mut out = std::io::stdout().lock();
    for f in &r.findings {
        let sev = match f.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let _ = writeln!(out, "\n{sev}: {} [{}]", f.title, f.id);
        if !f.explanation.is_empty() {
            let _ = writeln!(out, "  {}", f.explanation);
        }
        for e in &f.evidence {
            let _ = writeln!(out, "  - {e}");
        }
        for x in &f.fixes {
            let _ = writeln!(out, "  fix: {}\n       $ {}", x.title, x.command);
        }
    }
}

/// `[user@]host[:port]`, with `[v6addr]:port` for IPv6.
fn parse_target(t: &str) -> anyhow::Result<(Option<String>, String, Option<u16>)> {
    let (user, rest) = match t.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, t),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (h, tail) = inner
            .split_once(']')
            .ok_or_else(|| anyhow::anyhow!("unclosed '[' in {t:?}"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(
                p.parse()
                    .map_err(|_| anyhow::anyhow!("bad port in {t:?}"))?,
            ),
            None if tail.is_empty() => None,
            None => anyhow::bail!("unexpected {tail:?} after ']' in {t:?}"),
        };
        (h.to_string(), port)
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':').unwrap_or((rest, ""));
        (
            h.to_string(),
            Some(
                p.parse()
                    .map_err(|_| anyhow::anyhow!("bad port in {t:?}"))?,
            ),
        )
    } else {
        (rest.to_string(), None)
    };
    if host.is_empty() || host.starts_with('-') {
        anyhow::bail!("no host in {t:?}");
    }
    Ok((user, host, port))
}

/// The effective settings `ssh -G` prints, keyword (lowercase) → values in order.
fn ssh_g(
    config: &Path,
    host: &str,
    port: Option<u16>,
    user: Option<&str>,
) -> Vec<(String, String)> {
    let mut cmd = Command::new("ssh");
    cmd.arg("-G").arg("-F").arg(config);
    if let Some(p) = port {
        cmd.arg("-p").arg(p.to_string());
    }
    if let Some(u) = user {
        cmd.arg("-l").arg(u);
    }
    cmd.arg("--").arg(host);
    let Ok(out) = cmd.output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect()
}

/// Builds the probe's inputs from the flags (temporary bridge until the config module lands).
pub fn resolve(args: &ProbeArgs) -> anyhow::Result<ProbeOptions> {
    let paths = SshPaths::from_env()?;
    let (t_user, host, t_port) = parse_target(&args.target)?;
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        anyhow::bail!("--timeout must be between 0 and 3600 seconds");
    }
    let port = args.port.or(t_port);
    let user = args.user.clone().or(t_user);
    let config = match &args.config {
        Some(c) => c.clone(),
        None if paths.config().exists() => paths.config(),
        None => PathBuf::from("/dev/null"),
    };
    let g = ssh_g(&config, &host, port, user.as_deref());
    let get = |k: &str| g.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let hostname = get("hostname").unwrap_or_else(|| host.clone());
    let port = port
        .or_else(|| get("port").and_then(|p| p.parse().ok()))
        .unwrap_or(22);
    let user = user
        .or_else(|| get("user"))
        .or_else(|| std::env::var("USER").ok())
        .ok_or_else(|| anyhow::anyhow!("no user name: pass -l USER"))?;
    let identities_only = get("identitiesonly").is_some_and(|v| v == "yes");
    let files: Vec<PathBuf> = if args.identity.is_empty() {
        g.iter()
            .filter(|(k, _)| k == "identityfile")
            .map(|(_, v)| paths.expand_tilde(v))
            .collect()
    } else {
        args.identity.clone()
    };
    let mut identities = Vec::new();
    for f in files {
        match load_identity(&f) {
            Ok(Some(id)) => identities.push(id),
            Ok(None) => {}
            Err(e) => eprintln!("sshdoctor: skipping {}: {e:#}", f.display()),
        }
    }
    let known_hosts: Vec<PathBuf> = match &args.known_hosts {
        Some(k) => vec![k.clone()],
        None => get("userknownhostsfile")
            .map(|v| {
                v.split_whitespace()
                    .map(|p| paths.expand_tilde(p))
                    .collect()
            })
            .unwrap_or_else(|| vec![paths.known_hosts()]),
    };
    let kh_name = if port == 22 {
        hostname.clone()
    } else {
        format!("[{hostname}]:{port}")
    };
    let login = if args.ask_passphrase {
        LoginMode::AskPassphrase(Box::new(ask_passphrase))
    } else {
        LoginMode::WithKey
    };
    Ok(ProbeOptions {
        host: hostname,
        port,
        user,
        display_target: args.target.clone(),
        identities,
        use_agent: std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        identities_only,
        host_key_check: Box::new(move |key| known_hosts_verdict(&known_hosts, &kh_name, key)),
        timeout: Duration::from_secs_f64(args.timeout),
        max_auth_tries: 6,
        login,
    })
}

/// A key file as ssh would load it: the public half from `.pub` or from the private file
/// (readable even when encrypted). `Ok(None)` when the file does not exist (ssh skips those).
fn load_identity(path: &Path) -> anyhow::Result<Option<Identity>> {
    let private = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("cannot read it: {e}")),
    };
    let parsed = private
        .as_deref()
        .and_then(|t| PrivateKey::from_openssh(t).ok());
    let encrypted = match (&parsed, private.as_deref()) {
        (Some(k), _) => k.is_encrypted(),
        (None, Some(t)) => t.contains("ENCRYPTED"),
        (None, None) => false,
    };
    let pub_path = PathBuf::from(format!("{}.pub", path.display()));
    let public_key = match std::fs::read_to_string(&pub_path) {
        Ok(t) => PublicKey::from_openssh(t.trim())
            .map_err(|e| anyhow::anyhow!("{} is not a public key: {e}", pub_path.display()))?,
        Err(_) => parsed
            .map(|k| k.public_key().clone())
            .ok_or_else(|| anyhow::anyhow!("no .pub next to it and not an OpenSSH private key"))?,
    };
    Ok(Some(Identity {
        path: path.to_path_buf(),
        public_key,
        encrypted,
        local_problem: None,
    }))
}

/// Compares the server's key with known_hosts through `ssh-keygen -F` (which handles hashed
/// names, globs and `[host]:port`). `@revoked` wins, then a match, then a differing key.
fn known_hosts_verdict(files: &[PathBuf], name: &str, key: &PublicKey) -> HostKeyVerdict {
    let Ok(server) = key.to_openssh() else {
        return HostKeyVerdict::Unknown;
    };
    let server_blob = server
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut changed = None;
    let mut matched = None;
    for file in files {
        let Ok(out) = Command::new("ssh-keygen")
            .arg("-F")
            .arg(name)
            .arg("-f")
            .arg(file)
            .output()
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut line_no = 0usize;
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# Host ") {
                line_no = rest
                    .rsplit("line ")
                    .next()
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0);
                continue;
            }
            let words: Vec<&str> = l.split_whitespace().collect();
            let (marker, ty, blob) = match words.as_slice() {
                [m, _, t, b, ..] if m.starts_with('@') => (Some(*m), *t, *b),
                [_, t, b, ..] => (None, *t, *b),
                _ => continue,
            };
            match marker {
                Some("@revoked") if blob == server_blob => {
                    return HostKeyVerdict::Revoked {
                        file: file.clone(),
                        line: line_no,
                    }
                }
                Some(_) => {}
                None if blob == server_blob => {
                    matched.get_or_insert((file.clone(), line_no));
                }
                None => {
                    let old = PublicKey::from_openssh(&format!("{ty} {blob}"))
                        .map(|k| k.fingerprint(Default::default()).to_string())
                        .unwrap_or_else(|_| "unreadable key".into());
                    changed.get_or_insert(HostKeyVerdict::Changed {
                        file: file.clone(),
                        line: line_no,
                        old_fingerprint: old,
                        old_key_type: ty.to_string(),
                    });
                }
            }
        }
    }
    match (matched, changed) {
        (Some((file, line)), _) => HostKeyVerdict::Match { file, line },
        (None, Some(c)) => c,
        (None, None) => HostKeyVerdict::Unknown,
    }
}

/// Reads a passphrase from the terminal with echo off; it goes straight to key decryption.
fn ask_passphrase(path: &Path) -> Option<String> {
    use std::io::BufRead;
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr/tcsetattr only read/write it for a valid fd.
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    let have = unsafe { libc::tcgetattr(fd, &mut term) } == 0;
    let saved = term;
    if have {
        term.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) };
    }
    let mut w = &tty;
    let _ = write!(w, "Passphrase for {}: ", path.display());
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    if have {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    let _ = writeln!(w);
    read.ok()?;
    let p = line.trim_end_matches(['\n', '\r']).to_string();
    (!p.is_empty()).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_like_ssh_destinations() {
        assert_eq!(
            parse_target("me@h.example:2222").ok(),
            Some((Some("me".into()), "h.example".into(), Some(2222)))
        );
        assert_eq!(
            parse_target("[::1]:22").ok(),
            Some((None, "::1".into(), Some(22)))
        );
        assert_eq!(
            parse_target("alias").ok(),
            Some((None, "alias".into(), None))
        );
        assert!(parse_target("h:notaport").is_err());
        assert!(parse_target("-oProxyCommand=x").is_err());
    }
}

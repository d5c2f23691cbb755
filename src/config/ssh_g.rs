//! Running `ssh -G` and reading its answer: the effective configuration exactly as the real
//! login will see it, `Include`, `Match` and OpenSSH's defaults resolved by ssh itself.
//!
//! The care here is in the edges: ssh is run with a timeout (a `Match exec` can hang it), with
//! the right `-F` when its idea of home is not ours, and its `~` expansions are mapped back to
//! [`SshPaths::home`].

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{
    expand_tokens_for, is_yes, lossy, ConfigRequest, ConfigSource, EffectiveConfig,
    DEFAULT_IDENTITY_FILES,
};
use crate::finding::{Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::paths::SshPaths;
use crate::sys::passwd;

/// Options only Apple's OpenSSH knows: a config written on a Mac stops every other ssh.
const APPLE_ONLY_OPTIONS: &[&str] = &["usekeychain"];

/// `ssh-config-rejected`: ssh itself refuses the config ("Bad configuration option", "terminating,
/// N bad configuration options"), so every `ssh` command fails before it connects, whatever the
/// server. The dashboard and `check` would otherwise read the file with sshdoctor's own parser
/// and call it fine. `None` when ssh accepted it, was absent or only slow.
pub fn rejection_finding(cfg: &EffectiveConfig) -> Option<Finding> {
    let why = cfg.ssh_g_error.as_deref()?;
    let pieces: Vec<&str> = why.split("; ").collect();
    let bad: Vec<&str> = pieces
        .iter()
        .copied()
        .filter(|p| p.contains("Bad configuration option") || p.contains("terminating"))
        .collect();
    if bad.is_empty() {
        return None;
    }
    let options: Vec<String> = bad
        .iter()
        .filter_map(|p| p.rsplit_once("Bad configuration option: "))
        .map(|(_, o)| o.trim().to_ascii_lowercase())
        .collect();
    let apple: Vec<&String> = options
        .iter()
        .filter(|o| APPLE_ONLY_OPTIONS.contains(&o.as_str()))
        .collect();
    let mut f = Finding::new(
        "ssh-config-rejected",
        Severity::Error,
        "ssh refuses your ssh config and stops before connecting anywhere",
    )
    .explain(
        "ssh reads every line of the config before it connects, and an option it does not know \
         stops it (\"terminating, N bad configuration options\"): every ssh, scp and git over \
         ssh fails, for every host. Fix the line, or tell ssh to skip an option it does not \
         know with `IgnoreUnknown OPTION` at the top of the file.",
    );
    for piece in &bad {
        f = f.evidence(format!("ssh says: {piece}"));
    }
    if !apple.is_empty() {
        let names: Vec<&str> = apple.iter().map(|o| o.as_str()).collect();
        f = f.evidence(format!(
            "{} exists only in Apple's OpenSSH (macOS): a config copied from a Mac",
            names.join(", ")
        ));
    }
    let skip = if apple.is_empty() {
        options.join(",")
    } else {
        // Spelled as Apple documents it, so a reader finds it.
        apple
            .iter()
            .map(|o| {
                if o.as_str() == "usekeychain" {
                    "UseKeychain".to_string()
                } else {
                    o.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    // ssh names the file it stopped in: "FILE: line N: Bad configuration option: X".
    let file = bad
        .iter()
        .find_map(|p| p.split_once(": line ").map(|(file, _)| PathBuf::from(file)));
    if let (false, Some(file)) = (skip.is_empty(), file) {
        let settings = skip
            .split(',')
            .map(|o| crate::finding::ConfigSetting::in_list("IgnoreUnknown", o))
            .collect();
        f = f.fix(
            Fix::new(
                FixId::IgnoreUnknownOption,
                format!("Put `IgnoreUnknown {skip}` at the top of the config, so ssh skips what it does not know"),
                format!(
                    "sed -i {} {}",
                    crate::finding::shell_quote(&format!("1i IgnoreUnknown {skip}")),
                    crate::finding::shell_quote(&file.display().to_string())
                ),
            )
            .on(crate::finding::FixTarget::ConfigOption {
                host: None,
                settings,
            }),
        );
    }
    Some(f)
}

/// The file ssh should read: the explicit one, else ours when the password database's home is
/// not [`SshPaths::home`] (ssh would read the other user's file), else None (ssh's own choice,
/// which adds /etc/ssh/ssh_config).
pub(super) fn config_file_for_ssh(req: &ConfigRequest, paths: &SshPaths) -> Option<PathBuf> {
    if let Some(f) = req.config_file {
        return Some(f.to_path_buf());
    }
    let pw_home = passwd().map(|p| p.home);
    if pw_home.as_deref() == Some(paths.home.as_path()) {
        // Same home: let ssh read its usual files, the system config included.
        return None;
    }
    let own = paths.config();
    Some(if own.exists() {
        own
    } else {
        PathBuf::from("/dev/null")
    })
}

pub(super) fn ssh_g_args(req: &ConfigRequest, paths: &SshPaths) -> Vec<String> {
    let mut args = vec!["-G".to_string()];
    if let Some(f) = config_file_for_ssh(req, paths) {
        args.push("-F".into());
        args.push(f.display().to_string());
    }
    if let Some(p) = req.cmdline_port() {
        args.push("-p".into());
        args.push(p.to_string());
    }
    if let Some(u) = req.cmdline_user() {
        args.push("-l".into());
        args.push(u.to_string());
    }
    // `-o IdentityFile=` rather than `-i`: ssh silently drops a missing `-i` file from -G's
    // answer, and a missing file is exactly what we want to report.
    for id in req.identity_files {
        let s = id.display().to_string();
        let v = if s.chars().any(char::is_whitespace) {
            format!("\"{s}\"")
        } else {
            s
        };
        args.push("-o".into());
        args.push(format!("IdentityFile={v}"));
    }
    args.push("--".into());
    args.push(req.target.host.clone());
    args
}

/// Runs a short-lived helper with no stdin, a timeout and C messages; returns stdout on success
/// or a one-line reason (ssh's own stderr when it complained).
pub(super) fn run_with_timeout(
    program: &OsStr,
    args: &[String],
    timeout: Duration,
) -> Result<String, String> {
    let ran =
        crate::sys::run_bounded(Command::new(program).args(args), timeout).map_err(
            |e| match e {
                crate::sys::RunError::TimedOut { program, timeout } => format!(
                    "{program} -G did not answer within {} ms",
                    timeout.as_millis()
                ),
                other => other.to_string(),
            },
        )?;
    let stdout = lossy(&ran.stdout);
    let stderr = lossy(&ran.stderr);
    if ran.status.success() && !stdout.trim().is_empty() {
        Ok(stdout)
    } else {
        let msg: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Pseudo-terminal will not be allocated"))
            .collect();
        Err(if msg.is_empty() {
            format!("ssh -G failed ({})", ran.status)
        } else {
            msg.join("; ")
        })
    }
}

/// Reads `ssh -G` output into an [`EffectiveConfig`]. Pure apart from looking up the password
/// database's home, whose expansions ssh made and which we map back to `paths.home`.
pub fn parse_ssh_g(output: &str, paths: &SshPaths) -> EffectiveConfig {
    let pw_home = passwd().map(|p| p.home);
    parse_ssh_g_with_home(output, paths, pw_home.as_deref())
}

/// [`parse_ssh_g`] with the home ssh expanded `~` against given explicitly.
pub fn parse_ssh_g_with_home(
    output: &str,
    paths: &SshPaths,
    ssh_home: Option<&Path>,
) -> EffectiveConfig {
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in output.lines() {
        let line = line.trim_end_matches(['\r', '\n']);
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        if k.is_empty() {
            continue;
        }
        options
            .entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.to_string());
    }
    let first = |k: &str| options.get(k).and_then(|v| v.first()).map(String::as_str);
    let remap = |s: &str| -> PathBuf { remap_home(s, paths, ssh_home) };
    let path_list = |k: &str| -> Vec<PathBuf> {
        match first(k) {
            None | Some("none") => Vec::new(),
            Some(v) => v.split_whitespace().map(remap).collect(),
        }
    };
    let host_alias = first("host").unwrap_or_default().to_string();
    let mut cfg = EffectiveConfig {
        hostname: first("hostname").unwrap_or(&host_alias).to_string(),
        host_alias,
        user: first("user").unwrap_or_default().to_string(),
        // ssh refuses `Port 0` ("Bad port '0'"); never hand port 0 to a connect.
        port: first("port")
            .and_then(|p| p.parse().ok())
            .filter(|&p: &u16| p != 0)
            .unwrap_or(22),
        identity_files: Vec::new(),
        explicit_identity_files: Vec::new(),
        identities_only: is_yes(first("identitiesonly")),
        user_known_hosts_files: path_list("userknownhostsfile"),
        global_known_hosts_files: path_list("globalknownhostsfile"),
        strict_host_key_checking: first("stricthostkeychecking").unwrap_or("ask").to_string(),
        hash_known_hosts: is_yes(first("hashknownhosts")),
        proxy_jump: first("proxyjump")
            .filter(|v| *v != "none")
            .map(str::to_string),
        forward_agent: first("forwardagent").is_some_and(|v| v != "no" && v != "false"),
        identity_agent: first("identityagent").map(|v| match v {
            "none" | "SSH_AUTH_SOCK" => v.to_string(),
            _ if v.starts_with('$') => v.to_string(),
            _ => remap(v).display().to_string(),
        }),
        connect_timeout: first("connecttimeout").and_then(|v| v.parse().ok()),
        batch_mode: is_yes(first("batchmode")),
        host_key_algorithms: first("hostkeyalgorithms").map(str::to_string),
        kex_algorithms: first("kexalgorithms").map(str::to_string),
        ciphers: first("ciphers").map(str::to_string),
        macs: first("macs").map(str::to_string),
        pubkey_accepted_algorithms: first("pubkeyacceptedalgorithms").map(str::to_string),
        source: ConfigSource::SshG,
        options: BTreeMap::new(),
        identity_sources: BTreeMap::new(),
        ssh_g_error: None,
        certificate_files: Vec::new(),
    };
    // ssh -G prints CertificateFile with `~` expanded (against its own home) but `%` tokens
    // left for later, as it does IdentityFile's.
    let raw_certs: Vec<String> = options.get("certificatefile").cloned().unwrap_or_default();
    cfg.certificate_files = raw_certs
        .iter()
        .map(|r| expand_tokens_for(&cfg, &remap(r).display().to_string(), paths))
        .collect();
    let raw_ids: Vec<String> = options.get("identityfile").cloned().unwrap_or_default();
    cfg.identity_files = raw_ids
        .iter()
        .map(|r| expand_tokens_for(&cfg, r, paths))
        .collect();
    let defaults_only = raw_ids.len() == DEFAULT_IDENTITY_FILES.len()
        && raw_ids
            .iter()
            .zip(DEFAULT_IDENTITY_FILES)
            .all(|(a, b)| a == b);
    if !defaults_only {
        cfg.explicit_identity_files = cfg.identity_files.clone();
    }
    cfg.options = options;
    cfg
}

/// ssh expanded `~` against the password database; sshdoctor's home is `paths.home`.
fn remap_home(s: &str, paths: &SshPaths, ssh_home: Option<&Path>) -> PathBuf {
    if let Some(h) = ssh_home.filter(|h| *h != paths.home && !h.as_os_str().is_empty()) {
        if let Ok(rest) = Path::new(s).strip_prefix(h) {
            return paths.home.join(rest);
        }
    }
    paths.expand_tilde(s)
}

//! What ssh will actually use for a target: user, host name, port, identity files, known_hosts
//! files, agent and algorithm settings.
//!
//! `ssh -G` is the source of truth: it resolves `Include`, `Match`, `Host` patterns and OpenSSH's
//! own defaults exactly as the real login will. When ssh is missing or refuses, a faithful parser
//! of the common ssh_config keywords takes over ([`effective_parsed`]), so the doctor still works
//! on a machine without the client or with a config ssh rejects.
//!
//! Two OpenSSH quirks drive the shape of this module (measured on OpenSSH 9.2):
//! - ssh takes `~` and `%d` from the password database, never from `$HOME`. sshdoctor treats
//!   [`SshPaths::home`] as the home for every file, so when the two differ we hand ssh the config
//!   file explicitly (`-F`) and map the password-database home in its answer back to ours.
//! - `ssh -G` prints `identityfile` unexpanded (`~/.ssh/id_rsa`, `%d/.ssh/%h`) but
//!   `userknownhostsfile` and `identityagent` already expanded; [`parse_ssh_g`] evens that out.

use std::collections::BTreeMap;
use std::ffi::{CStr, OsStr};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::finding::{shell_quote, Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::paths::SshPaths;

/// Where the user wants to log in, as typed: `[user@]host[:port]`, `[v6]:port`, a bare IPv6
/// address, an `ssh://` URI or a config alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Why a target string was refused. Each message names the mistake, not just "invalid".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("no host given: expected [user@]host[:port]")]
    Empty,
    #[error("the user name before '@' is empty in {0:?}: expected user@host")]
    EmptyUser(String),
    #[error("the host name is empty in {0:?}")]
    EmptyHost(String),
    #[error("bad port {port:?} in {input:?}: a port is a number from 1 to 65535")]
    BadPort { input: String, port: String },
    #[error("unbalanced brackets in {0:?}: write an IPv6 address with a port as [addr]:port")]
    BadBrackets(String),
    #[error("{0:?} contains spaces or control characters, which no host name has")]
    BadCharacters(String),
    #[error("host {0:?} starts with '-', which ssh would read as an option")]
    LeadingDash(String),
}

/// Parses what the user typed after `sshdoctor`. ssh itself does not accept `host:port`; we do,
/// because people paste it from URLs and known_hosts, and hand the port to ssh as `-p`.
pub fn parse_target(s: &str) -> Result<Target, TargetError> {
    if s.trim().is_empty() {
        return Err(TargetError::Empty);
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TargetError::BadCharacters(s.to_string()));
    }
    let body = s.strip_prefix("ssh://").unwrap_or(s);
    let body = body.strip_suffix('/').unwrap_or(body);
    // ssh splits the user at the last '@' (user names may contain '@', host names may not).
    let (user, rest) = match body.rsplit_once('@') {
        Some(("", _)) => return Err(TargetError::EmptyUser(s.to_string())),
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, body),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| TargetError::BadBrackets(s.to_string()))?;
        if addr.contains('[') || addr.contains(']') || after.contains(']') {
            return Err(TargetError::BadBrackets(s.to_string()));
        }
        let port = match after {
            "" => None,
            a => match a.strip_prefix(':') {
                Some(p) => Some(parse_port(s, p)?),
                None => return Err(TargetError::BadBrackets(s.to_string())),
            },
        };
        (addr.to_string(), port)
    } else if rest.contains(']') {
        return Err(TargetError::BadBrackets(s.to_string()));
    } else if rest.matches(':').count() >= 2 {
        // A bare IPv6 address: every colon belongs to the address.
        (rest.to_string(), None)
    } else if let Some((h, p)) = rest.split_once(':') {
        (h.to_string(), Some(parse_port(s, p)?))
    } else {
        (rest.to_string(), None)
    };
    if host.is_empty() {
        return Err(TargetError::EmptyHost(s.to_string()));
    }
    if host.starts_with('-') {
        return Err(TargetError::LeadingDash(host));
    }
    Ok(Target { user, host, port })
}

fn parse_port(input: &str, p: &str) -> Result<u16, TargetError> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(TargetError::BadPort {
            input: input.to_string(),
            port: p.to_string(),
        }),
    }
}

/// Which way the effective configuration was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConfigSource {
    #[serde(rename = "ssh -G")]
    SshG,
    #[serde(rename = "parsed")]
    Parsed,
}

/// The configuration ssh will use for one target, after every Host/Match/Include and default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveConfig {
    pub host_alias: String,
    pub hostname: String,
    pub user: String,
    pub port: u16,
    /// Every identity ssh will try, `~` and `%` tokens expanded, in ssh's order.
    pub identity_files: Vec<PathBuf>,
    /// The identities someone asked for (config, `-i`); empty when only OpenSSH's defaults apply.
    pub explicit_identity_files: Vec<PathBuf>,
    pub identities_only: bool,
    /// Empty when set to `none`.
    pub user_known_hosts_files: Vec<PathBuf>,
    pub global_known_hosts_files: Vec<PathBuf>,
    /// As `ssh -G` prints it: `ask`, `true`, `false` or `accept-new`.
    pub strict_host_key_checking: String,
    pub hash_known_hosts: bool,
    pub proxy_jump: Option<String>,
    pub forward_agent: bool,
    pub identity_agent: Option<String>,
    pub connect_timeout: Option<u64>,
    pub batch_mode: bool,
    pub host_key_algorithms: Option<String>,
    pub kex_algorithms: Option<String>,
    pub ciphers: Option<String>,
    pub macs: Option<String>,
    pub pubkey_accepted_algorithms: Option<String>,
    pub source: ConfigSource,
    /// Everything ssh -G printed (or, when parsed, every keyword that applied), lower-case keys.
    pub options: BTreeMap<String, Vec<String>>,
    /// Where each explicit identity file was configured (`file:line`), when known.
    pub identity_sources: BTreeMap<PathBuf, String>,
    /// Why `ssh -G` was not used, when the parser stood in for it (ssh's own message).
    pub ssh_g_error: Option<String>,
}

/// What to resolve: the target plus the command-line overrides ssh would get.
#[derive(Debug, Clone, Copy)]
pub struct ConfigRequest<'a> {
    pub target: &'a Target,
    /// `-F FILE`: replaces both the user and the system config, as in ssh.
    pub config_file: Option<&'a Path>,
    pub port: Option<u16>,
    pub user: Option<&'a str>,
    /// `-i FILE`s: tried before the config's identity files.
    pub identity_files: &'a [PathBuf],
}

impl ConfigRequest<'_> {
    fn cmdline_user(&self) -> Option<&str> {
        self.user.or(self.target.user.as_deref())
    }
    fn cmdline_port(&self) -> Option<u16> {
        self.port.or(self.target.port)
    }
}

/// Why the effective configuration could not be had at all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the ssh config file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// OpenSSH's identity files when none is configured, in the order ssh 9.2 tries them.
pub const DEFAULT_IDENTITY_FILES: [&str; 7] = [
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];
const DEFAULT_USER_KNOWN_HOSTS: [&str; 2] = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];
const DEFAULT_GLOBAL_KNOWN_HOSTS: [&str; 2] =
    ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];
const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";
/// OpenSSH's READCONF_MAX_DEPTH: Include loops stop here instead of recursing forever.
const MAX_INCLUDE_DEPTH: usize = 16;
const SSH_G_TIMEOUT: Duration = Duration::from_secs(5);

/// The effective config: `ssh -G` when it runs, else [`effective_parsed`] (with ssh's complaint
/// kept in `ssh_g_error`). Fails only when an explicitly given config file cannot be read, which
/// ssh refuses too.
pub fn effective(req: &ConfigRequest, paths: &SshPaths) -> Result<EffectiveConfig, ConfigError> {
    effective_using(req, paths, OsStr::new("ssh"))
}

/// [`effective`] with a chosen ssh binary, so the fallback can be exercised (and a non-PATH ssh
/// used).
pub fn effective_using(
    req: &ConfigRequest,
    paths: &SshPaths,
    ssh: &OsStr,
) -> Result<EffectiveConfig, ConfigError> {
    effective_with_timeout(req, paths, ssh, SSH_G_TIMEOUT)
}

/// [`effective_using`] with a chosen limit for `ssh -G` (a `Match exec` in the config can make
/// it slow or hang; past the limit ssh is killed and the parser answers).
pub fn effective_with_timeout(
    req: &ConfigRequest,
    paths: &SshPaths,
    ssh: &OsStr,
    timeout: Duration,
) -> Result<EffectiveConfig, ConfigError> {
    if let Some(file) = req.config_file {
        if file != Path::new("/dev/null") {
            std::fs::File::open(file).map_err(|source| ConfigError::Unreadable {
                path: file.to_path_buf(),
                source,
            })?;
        }
    }
    let read = |p: &Path| std::fs::read(p).ok().map(|b| lossy(&b));
    let args = ssh_g_args(req, paths);
    let mut cfg = match run_with_timeout(ssh, &args, timeout) {
        Ok(out) => {
            let mut cfg = parse_ssh_g(&out, paths);
            let cfg_file = config_file_for_ssh(req, paths);
            let mut sources = BTreeMap::new();
            let scan = cfg_file.unwrap_or_else(|| paths.config());
            if scan != Path::new("/dev/null") {
                let f = scan;
                for (file, line, id) in identity_lines(&f, paths, &read) {
                    sources
                        .entry(expand_tokens_for(&cfg, &id, paths))
                        .or_insert_with(|| format!("{}:{}", file.display(), line));
                }
            }
            cfg.identity_sources = cfg
                .explicit_identity_files
                .iter()
                .filter_map(|p| sources.get(p).map(|s| (p.clone(), s.clone())))
                .collect();
            cfg
        }
        Err(why) => {
            let mut cfg = effective_parsed(req, paths, &read);
            cfg.ssh_g_error = Some(why);
            cfg
        }
    };
    cfg.options.retain(|k, _| !k.is_empty());
    Ok(cfg)
}

/// The file ssh should read: the explicit one, else ours when the password database's home is
/// not [`SshPaths::home`] (ssh would read the other user's file), else None (ssh's own choice,
/// which adds /etc/ssh/ssh_config).
fn config_file_for_ssh(req: &ConfigRequest, paths: &SshPaths) -> Option<PathBuf> {
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

fn ssh_g_args(req: &ConfigRequest, paths: &SshPaths) -> Vec<String> {
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
fn run_with_timeout(program: &OsStr, args: &[String], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    let out = child.stdout.take();
    let err = child.stderr.take();
    let out_t = std::thread::spawn(move || read_all(out));
    let err_t = std::thread::spawn(move || read_all(err));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Ok(st),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "{} -G did not answer within {} ms",
                    program.to_string_lossy(),
                    timeout.as_millis()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break Err(format!("waiting for ssh -G: {e}")),
        }
    };
    // On a timeout the readers are left to finish on their own: a grandchild (a `Match exec`
    // command) may still hold the pipes open, and joining would hang us with it.
    let status = status?;
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    if status.success() && !stdout.trim().is_empty() {
        Ok(stdout)
    } else {
        let msg: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Pseudo-terminal will not be allocated"))
            .collect();
        Err(if msg.is_empty() {
            format!("ssh -G failed ({status})")
        } else {
            msg.join("; ")
        })
    }
}

fn read_all<R: Read>(r: Option<R>) -> String {
    let mut buf = Vec::new();
    if let Some(mut r) = r {
        let _ = r.read_to_end(&mut buf);
    }
    lossy(&buf)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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
    };
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

fn is_yes(v: Option<&str>) -> bool {
    matches!(v, Some("yes" | "true"))
}

/// Expands `~` and ssh's `%` tokens in a path the way ssh does for IdentityFile and
/// UserKnownHostsFile, with the values of this config. Unknown tokens stay as written.
fn expand_tokens_for(cfg: &EffectiveConfig, raw: &str, paths: &SshPaths) -> PathBuf {
    let local = passwd();
    let local_user = local
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_else(|| std::env::var("USER").unwrap_or_default());
    let lhost = local_hostname();
    let short = lhost.split('.').next().unwrap_or_default().to_string();
    let uid = current_uid().to_string();
    let tilde = paths.expand_tilde(raw).display().to_string();
    let home = paths.home.display().to_string();
    let port = cfg.port.to_string();
    let mut out = String::with_capacity(tilde.len());
    let mut chars = tilde.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('d') => out.push_str(&home),
            Some('h') => out.push_str(&cfg.hostname),
            Some('n') => out.push_str(&cfg.host_alias),
            Some('r') => out.push_str(&cfg.user),
            Some('u') => out.push_str(&local_user),
            Some('p') => out.push_str(&port),
            Some('l') => out.push_str(&lhost),
            Some('L') => out.push_str(&short),
            Some('i') => out.push_str(&uid),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    PathBuf::from(out)
}

/// One parsed ssh_config line: keyword (lower-case) and its arguments, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConfigLine {
    keyword: String,
    args: Vec<String>,
}

/// Splits one line like OpenSSH's readconf: trailing whitespace (CR too) dropped, `Key value`,
/// `Key=value` and `Key = value` alike, double or single quotes group words, a word starting
/// with `#` starts a comment. None for blank and comment lines.
fn split_config_line(line: &str) -> Option<ConfigLine> {
    let line = line.trim_end_matches([' ', '\t', '\r', '\n', '\x0c']);
    let line = line.trim_start_matches([' ', '\t']);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let kw_end = line.find([' ', '\t', '=']).unwrap_or(line.len());
    let keyword = line.get(..kw_end)?.to_ascii_lowercase();
    let mut rest = line.get(kw_end..).unwrap_or_default();
    rest = rest.trim_start_matches([' ', '\t']);
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches([' ', '\t']);
    }
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None => match c {
                ' ' | '\t' => {
                    if in_word {
                        args.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                '#' if !in_word => break,
                '"' | '\'' => {
                    quote = Some(c);
                    in_word = true;
                }
                '\\' => {
                    in_word = true;
                    match chars.peek() {
                        Some(&n) if matches!(n, '\\' | '"' | '\'' | ' ') => {
                            cur.push(n);
                            chars.next();
                        }
                        _ => cur.push('\\'),
                    }
                }
                _ => {
                    cur.push(c);
                    in_word = true;
                }
            },
        }
    }
    if in_word {
        args.push(cur);
    }
    Some(ConfigLine { keyword, args })
}

/// The state of one config evaluation: the first value of each keyword wins, identity files add
/// up, and where each identity came from is kept for evidence.
struct Eval<'a> {
    alias: String,
    cmd_user: Option<String>,
    local_user: String,
    paths: &'a SshPaths,
    read: &'a dyn Fn(&Path) -> Option<String>,
    values: BTreeMap<String, Vec<String>>,
    identities: Vec<(String, Option<String>)>,
}

impl Eval<'_> {
    fn first(&self, k: &str) -> Option<&str> {
        self.values
            .get(k)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The host name `Match host` compares: HostName so far (with %h), else the alias.
    fn current_hostname(&self) -> String {
        match self.first("hostname") {
            Some(h) => h.replace("%h", &self.alias).replace("%%", "%"),
            None => self.alias.clone(),
        }
    }

    fn read_file(&mut self, file: &Path, user_conf: bool, depth: usize) {
        if depth > MAX_INCLUDE_DEPTH {
            return;
        }
        let Some(text) = (self.read)(file) else {
            return;
        };
        let mut active = true;
        for (i, line) in text.split('\n').enumerate() {
            // A NUL ends the line for OpenSSH's C strings; do the same with binary junk.
            let line = line.split('\0').next().unwrap_or_default();
            let Some(cl) = split_config_line(line) else {
                continue;
            };
            let where_ = format!("{}:{}", file.display(), i + 1);
            match cl.keyword.as_str() {
                "host" => active = host_line_matches(&self.alias, &cl.args),
                "match" => active = self.match_line_matches(&cl.args),
                "include" => {
                    if active {
                        for pattern in &cl.args {
                            for f in include_paths(pattern, self.paths, user_conf) {
                                self.read_file(&f, user_conf, depth + 1);
                            }
                        }
                    }
                }
                _ if !active || cl.args.is_empty() => {}
                "identityfile" => {
                    if let Some(a) = cl.args.first() {
                        self.identities.push((a.clone(), Some(where_)));
                    }
                }
                k => {
                    if !self.values.contains_key(k) {
                        self.values.insert(k.to_string(), cl.args.clone());
                    }
                }
            }
        }
    }

    /// OpenSSH's `Match` criteria that can be decided without running anything. `exec` cannot
    /// be evaluated safely here and counts as not matching; `canonical` is false (no
    /// canonicalization in this pass) and `final` true (the final pass would apply the block).
    fn match_line_matches(&self, args: &[String]) -> bool {
        let mut it = args.iter();
        let mut result = true;
        while let Some(raw) = it.next() {
            let (neg, crit) = match raw.strip_prefix('!') {
                Some(c) => (true, c.to_ascii_lowercase()),
                None => (false, raw.to_ascii_lowercase()),
            };
            let hit = match crit.as_str() {
                "all" | "final" => true,
                "canonical" => false,
                "host" | "originalhost" | "user" | "localuser" | "exec" | "localnetwork" => {
                    let Some(arg) = it.next() else {
                        return false;
                    };
                    match crit.as_str() {
                        "host" => {
                            pattern_list_match(&self.current_hostname().to_lowercase(), arg, true)
                        }
                        "originalhost" => pattern_list_match(&self.alias, arg, true),
                        "user" => {
                            let u = self
                                .cmd_user
                                .clone()
                                .or_else(|| self.first("user").map(str::to_string))
                                .unwrap_or_else(|| self.local_user.clone());
                            pattern_list_match(&u, arg, false)
                        }
                        "localuser" => pattern_list_match(&self.local_user, arg, false),
                        _ => false,
                    }
                }
                _ => return false,
            };
            if hit == neg {
                result = false;
            }
        }
        result
    }
}

/// `Host` line: active when some pattern matches the alias and no negated one does. Case
/// matters (OpenSSH 9.2 matches `Host y` against `y` but not `Y`).
fn host_line_matches(alias: &str, patterns: &[String]) -> bool {
    let mut hit = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if wildmatch(neg, alias, false) {
                return false;
            }
        } else if wildmatch(p, alias, false) {
            hit = true;
        }
    }
    hit
}

/// A comma-separated pattern list with `!` negation (OpenSSH's match_pattern_list).
fn pattern_list_match(s: &str, list: &str, lower: bool) -> bool {
    crate::pattern::match_list(s, list, lower) == crate::pattern::ListMatch::Positive
}

/// `*` and `?` wildcards (and `[...]` classes for file globs), without recursion so no input
/// can blow the stack.
fn wildmatch(pattern: &str, text: &str, classes: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let tc = t.get(ti).copied();
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') if classes => match class_match(p.get(pi..).unwrap_or_default(), tc) {
                Some((true, len)) => Some(len),
                _ => None,
            },
            Some(&c) if Some(c) == tc => Some(1),
            _ => None,
        };
        match (step, star) {
            (Some(len), _) => {
                pi += len;
                ti += 1;
            }
            (None, Some((sp, st))) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|&c| c == '*')
}

/// `[abc]`, `[a-z]`, `[!x]` at the start of `p`: whether `c` is in it and the class's length.
/// An unclosed `[` is no class at all (None).
fn class_match(p: &[char], c: Option<char>) -> Option<(bool, usize)> {
    let c = c?;
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let pc = *p.get(i)?;
        if pc == ']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let hi = *p.get(i + 2)?;
            if pc <= c && c <= hi {
                found = true;
            }
            i += 3;
        } else {
            if pc == c {
                found = true;
            }
            i += 1;
        }
    }
}

/// The files an `Include` argument names: `~` expanded, relative paths under ~/.ssh (user
/// config) or /etc/ssh (system config), globbed and sorted like glob(3). Missing ones vanish,
/// as in ssh.
fn include_paths(pattern: &str, paths: &SshPaths, user_conf: bool) -> Vec<PathBuf> {
    let p = paths.expand_tilde(pattern);
    let p = if p.is_absolute() {
        p
    } else if user_conf {
        paths.ssh_dir.join(p)
    } else {
        Path::new("/etc/ssh").join(p)
    };
    glob(&p)
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// A small glob(3): wildcards in any path component, hidden files only for patterns starting
/// with a dot, results sorted. Only existing paths come back.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    for comp in pattern.components() {
        let s = comp.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for base in &current {
            if has_wildcard(&s) {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| {
                        (!n.starts_with('.') || s.starts_with('.')) && wildmatch(&s, n, true)
                    })
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(comp.as_os_str()));
            }
        }
        current = next;
    }
    current.retain(|p| p.exists());
    current
}

/// The fallback: evaluates the user's config (or `config_file`) and, without `-F`, the system
/// config, as ssh would, then applies OpenSSH's defaults. `read` returns a file's text or None;
/// only `Include` globs list directories directly.
pub fn effective_parsed(
    req: &ConfigRequest,
    paths: &SshPaths,
    read: &dyn Fn(&Path) -> Option<String>,
) -> EffectiveConfig {
    let local_user = passwd()
        .map(|p| p.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    let mut ev = Eval {
        alias: req.target.host.clone(),
        cmd_user: req.cmdline_user().map(str::to_string),
        local_user: local_user.clone(),
        paths,
        read,
        values: BTreeMap::new(),
        identities: req
            .identity_files
            .iter()
            .map(|p| (p.display().to_string(), None))
            .collect(),
    };
    if let Some(p) = req.cmdline_port() {
        ev.values.insert("port".into(), vec![p.to_string()]);
    }
    if let Some(u) = req.cmdline_user() {
        ev.values.insert("user".into(), vec![u.to_string()]);
    }
    match req.config_file {
        Some(f) => ev.read_file(f, true, 0),
        None => {
            ev.read_file(&paths.config(), true, 0);
            ev.read_file(Path::new(SYSTEM_CONFIG), false, 0);
        }
    }
    let first = |k: &str| ev.first(k).map(str::to_string);
    let joined = |k: &str| ev.values.get(k).map(|v| v.join(" "));
    let hostname = ev.current_hostname().to_lowercase();
    let mut cfg = EffectiveConfig {
        host_alias: ev.alias.clone(),
        hostname,
        user: first("user").unwrap_or(local_user),
        // ssh refuses `Port 0` ("Bad port '0'"); never hand port 0 to a connect.
        port: first("port")
            .and_then(|p| p.parse().ok())
            .filter(|&p: &u16| p != 0)
            .unwrap_or(22),
        identity_files: Vec::new(),
        explicit_identity_files: Vec::new(),
        identities_only: is_yes(yes_no(first("identitiesonly").as_deref()).as_deref()),
        user_known_hosts_files: Vec::new(),
        global_known_hosts_files: Vec::new(),
        strict_host_key_checking: match first("stricthostkeychecking")
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            Some("yes" | "true") => "true".into(),
            Some("no" | "off" | "false") => "false".into(),
            Some("accept-new") => "accept-new".into(),
            _ => "ask".into(),
        },
        hash_known_hosts: is_yes(yes_no(first("hashknownhosts").as_deref()).as_deref()),
        proxy_jump: first("proxyjump").filter(|v| v != "none"),
        forward_agent: first("forwardagent")
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "no" | "false")),
        identity_agent: first("identityagent").map(|v| match v.as_str() {
            "none" | "SSH_AUTH_SOCK" => v,
            _ if v.starts_with('$') => v,
            _ => paths.expand_tilde(&v).display().to_string(),
        }),
        connect_timeout: first("connecttimeout").and_then(|v| v.parse().ok()),
        batch_mode: is_yes(yes_no(first("batchmode").as_deref()).as_deref()),
        host_key_algorithms: joined("hostkeyalgorithms"),
        kex_algorithms: joined("kexalgorithms"),
        ciphers: joined("ciphers"),
        macs: joined("macs"),
        pubkey_accepted_algorithms: joined("pubkeyacceptedalgorithms")
            .or_else(|| joined("pubkeyacceptedkeytypes")),
        source: ConfigSource::Parsed,
        options: BTreeMap::new(),
        identity_sources: BTreeMap::new(),
        ssh_g_error: None,
    };
    let known = |k: &str, defaults: &[&str]| -> Vec<PathBuf> {
        let raw: Vec<String> = match ev.values.get(k) {
            Some(v) => v.clone(),
            None => defaults.iter().map(|s| s.to_string()).collect(),
        };
        if raw.first().map(String::as_str) == Some("none") {
            return Vec::new();
        }
        raw.iter()
            .map(|r| expand_tokens_for(&cfg, r, paths))
            .collect()
    };
    let user_kh = known("userknownhostsfile", &DEFAULT_USER_KNOWN_HOSTS);
    let global_kh = known("globalknownhostsfile", &DEFAULT_GLOBAL_KNOWN_HOSTS);
    cfg.user_known_hosts_files = user_kh;
    cfg.global_known_hosts_files = global_kh;
    if ev.identities.is_empty() {
        cfg.identity_files = DEFAULT_IDENTITY_FILES
            .iter()
            .map(|r| expand_tokens_for(&cfg, r, paths))
            .collect();
    } else {
        for (raw, origin) in &ev.identities {
            let p = expand_tokens_for(&cfg, raw, paths);
            if let Some(o) = origin {
                cfg.identity_sources
                    .entry(p.clone())
                    .or_insert_with(|| o.clone());
            }
            if !cfg.identity_files.contains(&p) {
                cfg.identity_files.push(p);
            }
        }
        cfg.explicit_identity_files = cfg.identity_files.clone();
    }
    let mut options = ev.values.clone();
    options.insert("host".into(), vec![cfg.host_alias.clone()]);
    options.insert("hostname".into(), vec![cfg.hostname.clone()]);
    options.insert("user".into(), vec![cfg.user.clone()]);
    options.insert("port".into(), vec![cfg.port.to_string()]);
    options.insert(
        "identityfile".into(),
        ev.identities.iter().map(|(r, _)| r.clone()).collect(),
    );
    cfg.options = options;
    cfg
}

/// ssh_config's yes/no words, lower-cased; anything else kept for the caller to judge.
fn yes_no(v: Option<&str>) -> Option<String> {
    v.map(|s| s.to_ascii_lowercase())
}

/// Every `IdentityFile` line in the config (or `config_file`) and its Includes, in any Host or
/// Match block, with `~` expanded: the keys a person has pointed ssh at, for the key list.
pub fn all_identity_files(
    paths: &SshPaths,
    config_file: Option<&Path>,
) -> Vec<(PathBuf, usize, PathBuf)> {
    let start = config_file.map_or_else(|| paths.config(), Path::to_path_buf);
    let read = |p: &Path| std::fs::read(p).ok().map(|b| lossy(&b));
    identity_lines(&start, paths, &read)
        .into_iter()
        .map(|(f, l, id)| (f, l, paths.expand_tilde(&id)))
        .collect()
}

/// (config file, line number, raw IdentityFile value) for every IdentityFile line, following
/// every Include whatever block it is in, in reading order (an Include's lines where it stands).
fn identity_lines(
    start: &Path,
    paths: &SshPaths,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Vec<(PathBuf, usize, String)> {
    let mut out = Vec::new();
    let mut budget = 1024usize;
    identity_lines_into(start, paths, read, 0, &mut budget, &mut out);
    out
}

/// Depth and a total file budget bound the walk, so an Include loop ends quickly.
fn identity_lines_into(
    file: &Path,
    paths: &SshPaths,
    read: &dyn Fn(&Path) -> Option<String>,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<(PathBuf, usize, String)>,
) {
    if depth > MAX_INCLUDE_DEPTH || *budget == 0 {
        return;
    }
    *budget -= 1;
    let Some(text) = read(file) else {
        return;
    };
    for (i, line) in text.split('\n').enumerate() {
        let line = line.split('\0').next().unwrap_or_default();
        let Some(cl) = split_config_line(line) else {
            continue;
        };
        match cl.keyword.as_str() {
            "identityfile" => {
                // A file included twice (or a loop) lists each line once.
                let seen = out.iter().any(|(f, l, _)| f == file && *l == i + 1);
                if let (Some(a), false) = (cl.args.first(), seen) {
                    out.push((file.to_path_buf(), i + 1, a.clone()));
                }
            }
            "include" => {
                for pat in &cl.args {
                    for inc in include_paths(pat, paths, true) {
                        identity_lines_into(&inc, paths, read, depth + 1, budget, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `identity-file-missing` for a key named with `-i` that cannot be read: ssh warns
/// (`Warning: Identity file PATH not accessible: REASON.`) and goes on with its other keys.
pub fn command_line_identity_missing(path: &Path, reason: &str, paths: &SshPaths) -> Finding {
    let shown = paths.display(path);
    Finding::new(
        "identity-file-missing",
        Severity::Warning,
        format!("The key file {shown} given with -i is not there ({reason})"),
    )
    .explain(
        "ssh prints a warning and goes on without it: it tries its other keys (~/.ssh/id_*, \
         the agent's), which may not be the key this server expects. Check the path: a typo, \
         the key on another machine, or the .pub named instead of the private key.",
    )
    .evidence(format!(
        "Warning: Identity file {} not accessible: {reason}.",
        path.display()
    ))
}

/// `identity-file-missing`: an IdentityFile someone configured does not exist. OpenSSH's
/// defaults are not reported (most people have only one of the seven).
pub fn identity_findings(
    cfg: &EffectiveConfig,
    exists: &dyn Fn(&Path) -> bool,
    paths: &SshPaths,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for id in &cfg.explicit_identity_files {
        if exists(id) {
            continue;
        }
        let all_missing = cfg.explicit_identity_files.iter().all(|p| !exists(p));
        let (severity, consequence) = if cfg.identities_only && all_missing {
            (
                Severity::Error,
                "IdentitiesOnly is on and none of the configured keys exists, so ssh offers no key \
                 at all and the server answers \"Permission denied (publickey)\".",
            )
        } else if cfg.identities_only {
            (
                Severity::Warning,
                "IdentitiesOnly is on, so ssh offers only the configured keys that exist; this one \
                 is skipped.",
            )
        } else {
            (
                Severity::Warning,
                "ssh skips it and tries the other keys (and the agent's), which can hit the \
                 server's MaxAuthTries before the right key is offered.",
            )
        };
        let shown = paths.display(id);
        let mut f = Finding::new(
            "identity-file-missing",
            severity,
            format!("The key file {shown} named in the ssh config does not exist"),
        )
        .explain(format!(
            "ssh is told to use {shown} for {host}, but there is no such file. {consequence} \
             Usually the key was renamed, lives on another machine, or the IdentityFile line has \
             a typo.",
            host = cfg.host_alias
        ));
        if let Some(src) = cfg.identity_sources.get(id) {
            f = f.evidence(src.clone());
        }
        f = f.evidence(format!(
            "Warning: Identity file {} not accessible: No such file or directory.",
            id.display()
        ));
        let pub_path = PathBuf::from(format!("{}.pub", id.display()));
        f = f.fix(
            Fix::new(
                FixId::GenerateMissingIdentity,
                format!("Create a new ed25519 key at {shown}"),
                format!(
                    "ssh-keygen -t ed25519 -f {}",
                    shell_quote(&id.display().to_string())
                ),
            )
            .on_path(id),
        );
        if exists(&pub_path) {
            f = f.evidence(format!(
                "{} exists: the private half is what is missing",
                paths.display(&pub_path)
            ));
        }
        out.push(f);
    }
    out
}

/// The password database entry for this process: ssh's idea of home and local user.
struct Passwd {
    name: String,
    home: PathBuf,
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

fn passwd() -> Option<Passwd> {
    let uid = current_uid();
    let mut size = 4096usize;
    while size <= 1 << 20 {
        let mut buf: Vec<libc::c_char> = vec![0; size];
        // SAFETY: zeroed passwd is a valid out-parameter (pointers null, ints zero).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the given sizes for the duration of the call.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE {
            size *= 4;
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        // SAFETY: on success both fields point to NUL-terminated strings inside `buf`.
        let (name, home) = unsafe {
            (
                CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned(),
                CStr::from_ptr(pwd.pw_dir).to_string_lossy().into_owned(),
            )
        };
        return Some(Passwd {
            name,
            home: PathBuf::from(home),
        });
    }
    None
}

fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its full length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    lossy(buf.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_splitting_follows_readconf() {
        let l = split_config_line("  IdentityFile = \"/a b/c\"  # note\r").unwrap();
        assert_eq!(l.keyword, "identityfile");
        assert_eq!(l.args, ["/a b/c"]);
        let l = split_config_line("Port=2222").unwrap();
        assert_eq!(l.args, ["2222"]);
        assert!(split_config_line("   # comment").is_none());
        assert!(split_config_line("\r").is_none());
    }

    #[test]
    fn wildcards_and_classes() {
        assert!(wildmatch("*.example.com", "a.example.com", false));
        assert!(!wildmatch("*.example.com", "example.com", false));
        assert!(wildmatch("h?st", "host", false));
        assert!(wildmatch("*.conf", "a.conf", true));
        assert!(wildmatch("[ab]*", "b1", true));
        assert!(!wildmatch("[!ab]*", "b1", true));
        assert!(!wildmatch("[ab", "a", true));
        assert!(!wildmatch("**********a", &"b".repeat(5000), false));
    }

    #[test]
    fn match_criteria() {
        let paths = SshPaths::with_home(Path::new("/nonexistent-home"));
        let read = |_: &Path| None;
        let ev = Eval {
            alias: "web".into(),
            cmd_user: None,
            local_user: "me".into(),
            paths: &paths,
            read: &read,
            values: BTreeMap::new(),
            identities: Vec::new(),
        };
        let a = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(ev.match_line_matches(&a("all")));
        assert!(ev.match_line_matches(&a("host w*")));
        assert!(!ev.match_line_matches(&a("host w*,!web")));
        assert!(!ev.match_line_matches(&a("!host web")));
        assert!(!ev.match_line_matches(&a("exec true")));
        assert!(ev.match_line_matches(&a("user me localuser me")));
    }
}

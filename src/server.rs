//! The server side: why sshd refuses a login, from sshd's own effective config, the modes on the
//! way to `authorized_keys`, the keys in it and the lines sshd logged.
//!
//! The client only ever hears `Permission denied (publickey)`; sshd keeps the reason to itself on
//! purpose. Everything here is a pure function over text and metadata (sshd -T output, passwd and
//! group files, stat results, log lines, `/proc/net/tcp`) returning facts and [`Finding`]s; only
//! [`inspect`] reads the disk and runs `sshd -T`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::Context;
use regex::Regex;
use russh::keys::ssh_key::{HashAlg, PublicKey};
use serde::Serialize;

use crate::authorized_keys::{self, AuthorizedKeys, Entry};
use crate::finding::{
    mode_string, shell_quote, sort_worst_first, Finding, Fix, FixTarget, ModeChange, Severity,
};
use crate::fix_id::FixId;

// ---------------------------------------------------------------------------------------------
// Accounts

/// One line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PwEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub shell: String,
}

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parses `/etc/passwd`, skipping lines that do not have its seven fields.
pub fn parse_passwd(text: &str) -> Vec<PwEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PwEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: PathBuf::from(f.get(5)?),
                shell: f.get(6)?.to_string(),
            })
        })
        .collect()
}

/// Parses `/etc/group`.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)?
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// The names of the user's groups: the primary one first, then supplementary ones.
pub fn user_groups(user: &PwEntry, groups: &[GroupEntry]) -> Vec<String> {
    let mut out: Vec<String> = groups
        .iter()
        .filter(|g| g.gid == user.gid)
        .map(|g| g.name.clone())
        .take(1)
        .collect();
    for g in groups {
        if g.members.iter().any(|m| m == &user.name) && !out.contains(&g.name) {
            out.push(g.name.clone());
        }
    }
    out
}

/// Debian's `secure_permissions` exception: a group-writable file is acceptable when its group
/// has exactly one member and that member is the file's owner (a "user private group").
pub fn private_group(gid: u32, owner_uid: u32, passwd: &[PwEntry], groups: &[GroupEntry]) -> bool {
    let Some(gr) = groups.iter().find(|g| g.gid == gid) else {
        return false;
    };
    let mut members = 0;
    for pw in passwd.iter().filter(|p| p.gid == gid) {
        members += 1;
        if pw.uid != owner_uid {
            return false;
        }
    }
    let Some(owner) = passwd.iter().find(|p| p.uid == owner_uid) else {
        return false;
    };
    if let Some(first) = gr.members.first() {
        members += 1;
        if first != &owner.name || gr.members.len() > 1 {
            return false;
        }
    }
    members > 0
}

// ---------------------------------------------------------------------------------------------
// sshd configuration

/// Options the report shows, in this order.
pub const REPORTED_OPTIONS: &[&str] = &[
    "pubkeyauthentication",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "permitrootlogin",
    "authorizedkeysfile",
    "authorizedkeyscommand",
    "strictmodes",
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
    "maxauthtries",
    "port",
    "listenaddress",
    "pubkeyacceptedalgorithms",
    "hostkey",
];

/// Keywords that may appear many times and accumulate.
const MULTI: &[&str] = &[
    "hostkey",
    "listenaddress",
    "port",
    "allowusers",
    "denyusers",
    "allowgroups",
    "denygroups",
];

/// sshd's effective options: lower-case keyword to its values (several for multi-valued ones).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SshdConfig {
    pub options: BTreeMap<String, Vec<String>>,
}

impl SshdConfig {
    /// Reads `sshd -T` output: one `keyword value` per line, repeated for lists.
    pub fn from_dump(text: &str) -> Self {
        let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (k, v) = line.split_once(' ').unwrap_or((line, ""));
            options
                .entry(k.to_ascii_lowercase())
                .or_default()
                .push(v.trim().to_string());
        }
        SshdConfig { options }
    }

    /// Reads `sshd_config` text (and its `Include`s through `read`) when `sshd -T` cannot run:
    /// the first value of a keyword wins, list keywords accumulate, `Match` blocks are not
    /// evaluated (that needs sshd itself), and OpenSSH's defaults fill the rest.
    pub fn from_files(main: &Path, read: &dyn Fn(&Path) -> Option<String>) -> Self {
        let mut cfg = SshdConfig::default();
        let mut ports: Vec<String> = Vec::new();
        let mut listen: Vec<String> = Vec::new();
        cfg.read_file(main, read, 0, &mut ports, &mut listen);
        if ports.is_empty() {
            ports.push("22".into());
        }
        if listen.is_empty() {
            listen = vec!["0.0.0.0".into(), "[::]".into()];
        }
        let mut la = Vec::new();
        for l in &listen {
            if split_host_port(l).1.is_some() {
                la.push(l.clone());
            } else {
                for p in &ports {
                    la.push(format!("{l}:{p}"));
                }
            }
        }
        cfg.options.insert("port".into(), ports);
        cfg.options.insert("listenaddress".into(), la);
        for (k, v) in [
            ("pubkeyauthentication", "yes"),
            ("passwordauthentication", "yes"),
            ("kbdinteractiveauthentication", "yes"),
            ("permitrootlogin", "without-password"),
            (
                "authorizedkeysfile",
                ".ssh/authorized_keys .ssh/authorized_keys2",
            ),
            ("authorizedkeyscommand", "none"),
            ("strictmodes", "yes"),
            ("maxauthtries", "6"),
        ] {
            cfg.options
                .entry(k.into())
                .or_insert_with(|| vec![v.to_string()]);
        }
        cfg
    }

    fn read_file(
        &mut self,
        path: &Path,
        read: &dyn Fn(&Path) -> Option<String>,
        depth: usize,
        ports: &mut Vec<String>,
        listen: &mut Vec<String>,
    ) {
        if depth > 16 {
            return;
        }
        let Some(text) = read(path) else { return };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once([' ', '\t', '='])
                .map(|(k, v)| (k, v.trim_start_matches([' ', '\t', '=']).trim()))
                .unwrap_or((line, ""));
            let k = k.to_ascii_lowercase();
            let k = match k.as_str() {
                "challengeresponseauthentication" => "kbdinteractiveauthentication".to_string(),
                "pubkeyacceptedkeytypes" => "pubkeyacceptedalgorithms".to_string(),
                _ => k,
            };
            match k.as_str() {
                "match" => return,
                "include" => {
                    for pat in v.split_whitespace() {
                        let p = if pat.starts_with('/') {
                            PathBuf::from(pat)
                        } else {
                            Path::new("/etc/ssh").join(pat)
                        };
                        for f in expand_glob(&p) {
                            self.read_file(&f, read, depth + 1, ports, listen);
                        }
                    }
                }
                "port" => ports.push(v.to_string()),
                "listenaddress" => listen.push(v.to_string()),
                _ if MULTI.contains(&k.as_str()) => {
                    let e = self.options.entry(k.clone()).or_default();
                    if k.ends_with("users") || k.ends_with("groups") {
                        e.extend(v.split_whitespace().map(str::to_string));
                    } else {
                        e.push(v.to_string());
                    }
                }
                _ => {
                    self.options.entry(k).or_insert_with(|| vec![v.to_string()]);
                }
            }
        }
    }

    /// The first value of a keyword.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// Every value of a list keyword, each line split into words (sshd -T prints one per line).
    pub fn words(&self, key: &str) -> Vec<String> {
        self.options
            .get(key)
            .map(|v| {
                v.iter()
                    .flat_map(|s| s.split_whitespace().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn yes(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(v) => v.eq_ignore_ascii_case("yes"),
            None => default,
        }
    }

    /// `AuthorizedKeysFile` for this user: `%h`, `%u`, `%U`, `%%` and `~` expanded, relative
    /// paths taken from the home directory, as sshd's `expand_authorized_keys` does.
    pub fn authorized_keys_files(&self, user: &PwEntry) -> Vec<PathBuf> {
        let words = self.words("authorizedkeysfile");
        let words = if words.is_empty() {
            vec![
                ".ssh/authorized_keys".to_string(),
                ".ssh/authorized_keys2".to_string(),
            ]
        } else {
            words
        };
        words
            .iter()
            .filter(|w| !w.eq_ignore_ascii_case("none"))
            .map(|w| {
                let home = user.home.to_string_lossy();
                let e = percent_expand(w, &home, &user.name, user.uid);
                let e = if e == "~" {
                    home.to_string()
                } else if let Some(r) = e.strip_prefix("~/") {
                    format!("{home}/{r}")
                } else {
                    e
                };
                if e.starts_with('/') {
                    PathBuf::from(e)
                } else {
                    user.home.join(e)
                }
            })
            .collect()
    }

    /// The (address, port) pairs sshd is configured to listen on.
    pub fn listen_addresses(&self) -> Vec<(String, u16)> {
        self.options
            .get("listenaddress")
            .map(|v| {
                v.iter()
                    .filter_map(|l| {
                        let (h, p) = split_host_port(l.split_whitespace().next().unwrap_or(""));
                        let port = p.or_else(|| self.get("port").and_then(|p| p.parse().ok()))?;
                        Some((h, port))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The options the report shows, lists as arrays.
    pub fn summary(&self, user: &PwEntry) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for &k in REPORTED_OPTIONS {
            let v = if k == "authorizedkeysfile" {
                serde_json::json!(self
                    .authorized_keys_files(user)
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>())
            } else if MULTI.contains(&k) {
                serde_json::json!(self.words(k))
            } else {
                match self.get(k) {
                    Some(v) => serde_json::json!(v),
                    None => serde_json::Value::Null,
                }
            };
            m.insert(k.to_string(), v);
        }
        m
    }
}

fn percent_expand(s: &str, home: &str, user: &str, uid: u32) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('h') => out.push_str(home),
            Some('u') => out.push_str(user),
            Some('U') => out.push_str(&uid.to_string()),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// `host:port`, `[v6]:port`, `host` or `[v6]` into the host and the port if given.
fn split_host_port(s: &str) -> (String, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (
                h.to_string(),
                tail.strip_prefix(':').and_then(|p| p.parse().ok()),
            );
        }
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), p.parse().ok()),
        _ => (s.to_string(), None),
    }
}

/// A `*` in the last path component, as used by `Include /etc/ssh/sshd_config.d/*.conf`.
fn expand_glob(p: &Path) -> Vec<PathBuf> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return vec![p.to_path_buf()];
    }
    let dir = p.parent().unwrap_or(Path::new("/"));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| authorized_keys::match_pattern(&e.file_name().to_string_lossy(), &name))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// StrictModes

/// What `stat` says about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileStat {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub is_dir: bool,
    pub is_file: bool,
}

/// Which place on the way to authorized_keys a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    AuthorizedKeys,
    SshDir,
    Home,
    DirInHome,
    ParentDir,
}

impl Role {
    fn words(self) -> &'static str {
        match self {
            Role::AuthorizedKeys => "authorized_keys file",
            Role::SshDir => "~/.ssh directory",
            Role::Home => "home directory",
            Role::DirInHome => "directory",
            Role::ParentDir => "parent directory",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// Owned by someone other than the user or root.
    Owner,
    /// Group- or world-writable.
    Mode,
    /// The authorized_keys path is not a regular file.
    NotAFile,
    /// A directory on the way cannot be stat'ed.
    Missing,
}

/// One StrictModes refusal reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub path: PathBuf,
    pub role: Role,
    pub problem: Problem,
    pub stat: Option<FileStat>,
}

/// Applies sshd's `safe_path` to an authorized_keys file (already made canonical): the file must
/// be a regular file, and it and each directory above it must be owned by root or the user and
/// not group/world-writable (`group_ok` says when group-write is acceptable: Debian's private
/// group rule). Like sshd, the walk stops after the home directory when the file is inside it,
/// and otherwise goes up to `/`. sshd stops at the first failure; this returns all of them so
/// every one can be fixed at once, in sshd's order (the first is the one sshd logs).
pub fn strict_modes_walk(
    file: &Path,
    home: &Path,
    uid: u32,
    stat: &dyn Fn(&Path) -> Option<FileStat>,
    group_ok: &dyn Fn(&FileStat) -> bool,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let role_of = |p: &Path| {
        if p == file {
            Role::AuthorizedKeys
        } else if p == home {
            Role::Home
        } else if p == home.join(".ssh") {
            Role::SshDir
        } else if p.starts_with(home) {
            Role::DirInHome
        } else {
            Role::ParentDir
        }
    };
    let check = |st: &FileStat| -> Option<Problem> {
        if st.uid != 0 && st.uid != uid {
            Some(Problem::Owner)
        } else if st.mode & 0o002 != 0 || (st.mode & 0o020 != 0 && !group_ok(st)) {
            Some(Problem::Mode)
        } else {
            None
        }
    };
    match stat(file) {
        Some(st) if !st.is_file => out.push(Violation {
            path: file.to_path_buf(),
            role: Role::AuthorizedKeys,
            problem: Problem::NotAFile,
            stat: Some(st),
        }),
        Some(st) => {
            if let Some(problem) = check(&st) {
                out.push(Violation {
                    path: file.to_path_buf(),
                    role: Role::AuthorizedKeys,
                    problem,
                    stat: Some(st),
                });
            }
        }
        None => return out,
    }
    let under_home = file.starts_with(home);
    let mut cur = file.parent();
    while let Some(dir) = cur {
        match stat(dir) {
            None => out.push(Violation {
                path: dir.to_path_buf(),
                role: role_of(dir),
                problem: Problem::Missing,
                stat: None,
            }),
            Some(st) => {
                if let Some(problem) = check(&st) {
                    out.push(Violation {
                        path: dir.to_path_buf(),
                        role: role_of(dir),
                        problem,
                        stat: Some(st),
                    });
                }
            }
        }
        if under_home && dir == home {
            break;
        }
        cur = dir.parent();
    }
    out
}

fn violation_finding(v: &Violation, user: &PwEntry, strict: bool) -> Finding {
    let p = v.path.display().to_string();
    let q = shell_quote(&p);
    let sev = if strict {
        Severity::Error
    } else {
        Severity::Warning
    };
    let refuse = if strict {
        "With StrictModes yes, sshd refuses every key in authorized_keys because of this and \
         logs only \"Authentication refused: bad ownership or modes\"; the client just sees \
         \"Permission denied (publickey)\"."
    } else {
        "StrictModes is off, so sshd accepts it today, but anyone who can write here can add \
         their own key and log in as this user."
    };
    let mode = v.stat.map(|s| mode_string(s.mode)).unwrap_or_default();
    match v.problem {
        Problem::Mode => {
            let (fix_id, change, cmd, title) = match v.role {
                Role::AuthorizedKeys => (
                    FixId::Chmod600,
                    ModeChange::Set(0o600),
                    format!("chmod 600 {q}"),
                    "Make it readable and writable by the owner only",
                ),
                Role::SshDir => (
                    FixId::Chmod700,
                    ModeChange::Set(0o700),
                    format!("chmod 700 {q}"),
                    "Make ~/.ssh private to its owner",
                ),
                _ => (
                    FixId::ChmodGoW,
                    ModeChange::ClearGroupOtherWrite,
                    format!("chmod go-w {q}"),
                    "Remove write permission for group and others",
                ),
            };
            Finding::new(
                "strictmodes-mode",
                sev,
                format!(
                    "The {} {p} is writable by others (mode {mode})",
                    v.role.words()
                ),
            )
            .explain(format!(
                "sshd insists that the authorized_keys file and every directory leading to it \
                 are writable only by the user (or root): otherwise someone else could slip in \
                 a key. {refuse}"
            ))
            .evidence(format!("{p}: mode {mode}"))
            .fix(Fix::new(fix_id, title, cmd).on(FixTarget::Mode {
                path: v.path.clone(),
                change,
            }))
        }
        Problem::Owner => {
            let owner = if matches!(v.role, Role::ParentDir) {
                "root".to_string()
            } else {
                user.name.clone()
            };
            let uid = v.stat.map(|s| s.uid.to_string()).unwrap_or_default();
            Finding::new(
                "strictmodes-owner",
                sev,
                format!(
                    "The {} {p} belongs to someone else (uid {uid})",
                    v.role.words()
                ),
            )
            .explain(format!(
                "sshd only trusts authorized_keys and the directories above it when they belong \
                 to the user or to root; another owner could change them. This usually happens \
                 after copying files as root or restoring a backup. {refuse}"
            ))
            .evidence(format!("{p}: owner uid {uid}, mode {mode}"))
            .fix(Fix::new(
                FixId::Chown,
                format!("Give it to {owner}"),
                format!("chown {} {q}", shell_quote(&owner)),
            ))
        }
        Problem::NotAFile => Finding::new(
            "strictmodes-not-a-file",
            sev,
            format!("{p} is not a regular file"),
        )
        .explain(
            "sshd reads keys only from a regular file; a directory or device at this path \
             means no key is ever accepted from it.",
        )
        .evidence(format!("{p}: mode {mode}")),
        Problem::Missing => Finding::new(
            "strictmodes-missing-dir",
            sev,
            format!("The {} {p} cannot be read", v.role.words()),
        )
        .explain("sshd must be able to stat every directory on the way to authorized_keys.")
        .evidence(p),
    }
}

// ---------------------------------------------------------------------------------------------
// Logs

/// One log line: its time (as written) and sshd's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub time: Option<String>,
    pub message: String,
    pub raw: String,
}

impl LogLine {
    fn evidence(&self) -> String {
        match &self.time {
            Some(t) => format!("log {t}: {}", self.message),
            None => format!("log: {}", self.message),
        }
    }
}

/// What a log line says, for the lines that diagnose something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LogEvent {
    BadModes {
        path: String,
    },
    FailedPublickey {
        user: String,
        from: String,
        key_type: String,
        fingerprint: String,
    },
    AcceptedPublickey {
        user: String,
        from: String,
        fingerprint: String,
    },
    NotAllowed {
        user: String,
        from: String,
        reason: String,
    },
    AccountLocked {
        user: String,
    },
    RootRefused {
        from: String,
    },
    MaxAuthTries {
        user: String,
        from: String,
    },
    UnableToNegotiate {
        from: String,
        what: String,
    },
    NotPermittedHost {
        user: String,
        ip: String,
    },
    InvalidUser {
        user: String,
        from: String,
    },
    /// sshd opens authorized_keys with the user's rights; this is what it says when it cannot.
    CouldNotOpen {
        user: String,
        path: String,
        error: String,
    },
    /// `userauth_pubkey: signature algorithm ssh-ed25519 not in PubkeyAcceptedAlgorithms`.
    AlgorithmNotAccepted {
        algorithm: String,
    },
}

impl LogEvent {
    fn user(&self) -> Option<&str> {
        match self {
            LogEvent::FailedPublickey { user, .. }
            | LogEvent::AcceptedPublickey { user, .. }
            | LogEvent::NotAllowed { user, .. }
            | LogEvent::AccountLocked { user }
            | LogEvent::MaxAuthTries { user, .. }
            | LogEvent::NotPermittedHost { user, .. }
            | LogEvent::InvalidUser { user, .. }
            | LogEvent::CouldNotOpen { user, .. } => Some(user),
            LogEvent::RootRefused { .. } => Some("root"),
            _ => None,
        }
    }

    fn from(&self) -> Option<&str> {
        match self {
            LogEvent::FailedPublickey { from, .. }
            | LogEvent::AcceptedPublickey { from, .. }
            | LogEvent::NotAllowed { from, .. }
            | LogEvent::RootRefused { from }
            | LogEvent::MaxAuthTries { from, .. }
            | LogEvent::UnableToNegotiate { from, .. }
            | LogEvent::InvalidUser { from, .. } => Some(from),
            LogEvent::NotPermittedHost { ip, .. } => Some(ip),
            _ => None,
        }
    }
}

fn re(cell: &'static OnceLock<Option<Regex>>, pat: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pat).ok()).as_ref()
}

/// Splits a log line into its time and message. Understands syslog (`Mar  5 10:00:00 host
/// sshd[1]: ...`), ISO (`2024-03-05T10:00:00.123+00:00 host sshd[1]: ...`, journalctl
/// `short-iso`) and the bare lines `sshd -E FILE` writes. Lines from other programs are `None`.
pub fn parse_log_line(line: &str) -> Option<LogLine> {
    static PREFIX: OnceLock<Option<Regex>> = OnceLock::new();
    let line = line.trim_end_matches(['\r', '\n']);
    let prefix = re(
        &PREFIX,
        r"^(\d{4}-\d\d-\d\dT\S+|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\s+\S+\s+([\w.@-]+)(?:\[\d+\])?:\s?(.*)$",
    )?;
    match prefix.captures(line) {
        Some(c) => {
            let prog = c.get(2).map(|m| m.as_str()).unwrap_or("");
            if !prog.starts_with("sshd") {
                return None;
            }
            Some(LogLine {
                time: c.get(1).map(|m| m.as_str().to_string()),
                message: c.get(3).map(|m| m.as_str().to_string()).unwrap_or_default(),
                raw: line.to_string(),
            })
        }
        None => Some(LogLine {
            time: None,
            message: line.to_string(),
            raw: line.to_string(),
        }),
    }
}

/// Recognises the sshd messages that explain a refusal.
pub fn classify(message: &str) -> Option<LogEvent> {
    static PATS: OnceLock<Option<Vec<Regex>>> = OnceLock::new();
    let pats = PATS
        .get_or_init(|| {
            [
                r"^Authentication refused: bad ownership or modes for (?:file|directory) (.+?)\s*$",
                r"^Failed publickey for (?:invalid user )?(\S+) from (\S+) port \d+ ssh2: (\S+) (SHA256:\S+)",
                r"^Accepted publickey for (\S+) from (\S+) port \d+ ssh2: \S+ (SHA256:\S+)",
                r"^User (\S+) from (\S+) not allowed because (.+?)\s*$",
                r"^User (\S+) not allowed because account is locked",
                r"^ROOT LOGIN REFUSED FROM (\S+)",
                r"^maximum authentication attempts exceeded for (?:invalid user )?(\S+) from (\S+)",
                r"^Unable to negotiate with (\S+) port \d+: (.+?)(?: \[preauth\])?\s*$",
                r"^(?:\S+: )?Authentication tried for (\S+) with correct key but not from a permitted host \(host=[^,]*, ip=([^,)\s]+)",
                r"^Invalid user (\S*) from (\S+)",
                r"^Could not open user '([^']+)' authorized keys '(.+)': (.+?)\s*$",
                r"^(?:userauth_pubkey: )?(?:signature algorithm|key type) (\S+) not in PubkeyAcceptedAlgorithms",
            ]
            .iter()
            .map(|p| Regex::new(p).ok())
            .collect()
        })
        .as_ref()?;
    for (i, r) in pats.iter().enumerate() {
        let Some(c) = r.captures(message) else {
            continue;
        };
        let g = |n: usize| c.get(n).map(|m| m.as_str().to_string()).unwrap_or_default();
        return Some(match i {
            0 => LogEvent::BadModes { path: g(1) },
            1 => LogEvent::FailedPublickey {
                user: g(1),
                from: g(2),
                key_type: g(3),
                fingerprint: g(4),
            },
            2 => LogEvent::AcceptedPublickey {
                user: g(1),
                from: g(2),
                fingerprint: g(3),
            },
            3 => LogEvent::NotAllowed {
                user: g(1),
                from: g(2),
                reason: g(3),
            },
            4 => LogEvent::AccountLocked { user: g(1) },
            5 => LogEvent::RootRefused { from: g(1) },
            6 => LogEvent::MaxAuthTries {
                user: g(1),
                from: g(2),
            },
            7 => LogEvent::UnableToNegotiate {
                from: g(1),
                what: g(2),
            },
            8 => LogEvent::NotPermittedHost {
                user: g(1),
                ip: g(2),
            },
            9 => LogEvent::InvalidUser {
                user: g(1),
                from: g(2),
            },
            10 => LogEvent::CouldNotOpen {
                user: g(1),
                path: g(2),
                error: g(3),
            },
            _ => LogEvent::AlgorithmNotAccepted { algorithm: g(1) },
        });
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Listening sockets

/// The listening TCP sockets in `/proc/net/tcp` or `/proc/net/tcp6` text.
pub fn parse_proc_net_tcp(text: &str) -> Vec<(IpAddr, u16)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let local = f.nth(1)?;
            let state = f.nth(1)?;
            if state != "0A" {
                return None;
            }
            let (a, p) = local.split_once(':')?;
            let port = u16::from_str_radix(p, 16).ok()?;
            let ip = match a.len() {
                8 => IpAddr::V4(Ipv4Addr::from(
                    u32::from_str_radix(a, 16).ok()?.to_ne_bytes(),
                )),
                32 => {
                    let mut b = [0u8; 16];
                    for i in 0..4 {
                        let w = u32::from_str_radix(a.get(i * 8..i * 8 + 8)?, 16).ok()?;
                        b.get_mut(i * 4..i * 4 + 4)?
                            .copy_from_slice(&w.to_ne_bytes());
                    }
                    IpAddr::V6(Ipv6Addr::from(b))
                }
                _ => return None,
            };
            Some((ip, port))
        })
        .collect()
}

/// `host:port`, with brackets around an IPv6 host as sshd -T prints it.
fn host_port(h: &str, p: u16) -> String {
    if h.contains(':') {
        format!("[{h}]:{p}")
    } else {
        format!("{h}:{p}")
    }
}

/// Whether a socket listening on `sock` serves connections to `want:port`.
fn serves(sock: &(IpAddr, u16), want: &str, port: u16) -> bool {
    if sock.1 != port {
        return false;
    }
    match want.parse::<IpAddr>() {
        Ok(w) => sock.0 == w || sock.0.is_unspecified() && sock.0.is_ipv4() == w.is_ipv4(),
        Err(_) => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Diagnosis

/// One authorized_keys file as found on disk.
#[derive(Debug, Clone)]
pub struct KeyFile {
    pub path: PathBuf,
    /// `None` when the file does not exist; `Err` when it cannot be read.
    pub content: Option<Result<AuthorizedKeys, String>>,
}

/// The key the user is asking about.
#[derive(Debug, Clone)]
pub struct WantedKey {
    pub fingerprint: String,
    pub key: Option<PublicKey>,
    /// The file it came from (for the "append it" fix).
    pub pubkey_file: Option<PathBuf>,
    /// Where we learned of it: `--key`, `--pubkey` or the log.
    pub source: String,
}

/// Everything read from the system, so [`diagnose`] can stay pure.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    pub user: PwEntry,
    pub groups: Vec<String>,
    pub sshd: SshdConfig,
    pub config_path: PathBuf,
    pub violations: Vec<Violation>,
    pub key_files: Vec<KeyFile>,
    pub wanted: Option<WantedKey>,
    pub client_addr: Option<IpAddr>,
    pub log: Vec<LogLine>,
    pub listening: Option<Vec<(IpAddr, u16)>>,
    pub now: SystemTime,
}

/// Prepending works because sshd takes the first value of a keyword it sees.
fn prepend_option(cfg: &Path, line: &str) -> String {
    let c = shell_quote(&cfg.display().to_string());
    format!(
        "sed -i {} {c} && /usr/sbin/sshd -t -f {c}",
        shell_quote(&format!("1i {line}"))
    )
}

fn reload_fix() -> Fix {
    Fix::new(
        FixId::ReloadSshd,
        "Reload sshd so it reads the new configuration",
        "systemctl reload ssh || systemctl reload sshd",
    )
}

/// sshd's `allowed_user` order: DenyUsers, AllowUsers, DenyGroups, AllowGroups. Returns the
/// reason in sshd's own words when the user is refused.
pub fn user_refused(
    cfg: &SshdConfig,
    user: &str,
    groups: &[String],
    client: Option<IpAddr>,
) -> Option<String> {
    let matches_user = |pat: &str| -> bool {
        let (u, h) = match pat.split_once('@') {
            Some((u, h)) => (u, Some(h)),
            None => (pat, None),
        };
        if !authorized_keys::match_pattern(user, u) {
            return false;
        }
        match (h, client) {
            (Some(h), Some(ip)) => {
                let ip = ip.to_string();
                authorized_keys::match_host_and_ip(&ip, &ip, h) == 1
            }
            _ => true,
        }
    };
    let group_hit = |pats: &[String]| {
        groups
            .iter()
            .any(|g| pats.iter().any(|p| authorized_keys::match_pattern(g, p)))
    };
    let deny = cfg.words("denyusers");
    if deny.iter().any(|p| matches_user(p)) {
        return Some("listed in DenyUsers".into());
    }
    let allow = cfg.words("allowusers");
    if !allow.is_empty() && !allow.iter().any(|p| matches_user(p)) {
        return Some("not listed in AllowUsers".into());
    }
    let dg = cfg.words("denygroups");
    if !dg.is_empty() && group_hit(&dg) {
        return Some("a group is listed in DenyGroups".into());
    }
    let ag = cfg.words("allowgroups");
    if !ag.is_empty() && !group_hit(&ag) {
        return Some("none of user's groups are listed in AllowGroups".into());
    }
    None
}

/// Turns the facts into findings, worst first, with the matching log lines as evidence.
pub fn diagnose(f: &ServerFacts) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let cfg_disp = f.config_path.display().to_string();
    let user = &f.user.name;

    // sshd config
    if !f.sshd.yes("pubkeyauthentication", true) {
        out.push(
            Finding::new(
                "pubkey-auth-disabled",
                Severity::Error,
                "sshd does not accept keys at all (PubkeyAuthentication no)",
            )
            .explain(
                "With PubkeyAuthentication no, sshd never even looks at authorized_keys: every \
                 key is refused and the client's method list no longer includes \"publickey\". \
                 If the setting comes from a Match block, change it there.",
            )
            .evidence(format!(
                "sshd effective config: pubkeyauthentication {}",
                f.sshd.get("pubkeyauthentication").unwrap_or("no")
            ))
            .fix(Fix::new(
                FixId::SshdConfigSet,
                format!("Turn PubkeyAuthentication on in {cfg_disp}"),
                prepend_option(&f.config_path, "PubkeyAuthentication yes"),
            ))
            .fix(reload_fix()),
        );
    }
    if f.user.uid == 0 {
        let prl = f.sshd.get("permitrootlogin").unwrap_or("without-password");
        if prl.eq_ignore_ascii_case("no") {
            out.push(
                Finding::new(
                    "root-login-refused",
                    Severity::Error,
                    "sshd refuses every login as root (PermitRootLogin no)",
                )
                .explain(
                    "Even a correct key is refused for root. The usual practice is to log in \
                     as an ordinary user and use sudo; if root logins with a key are really \
                     wanted, prohibit-password allows keys but never passwords.",
                )
                .evidence(format!("sshd effective config: permitrootlogin {prl}"))
                .fix(Fix::new(
                    FixId::SshdConfigSet,
                    format!("Allow root logins with a key only, in {cfg_disp}"),
                    prepend_option(&f.config_path, "PermitRootLogin prohibit-password"),
                ))
                .fix(reload_fix()),
            );
        }
    }
    if let Some(reason) = user_refused(&f.sshd, user, &f.groups, f.client_addr) {
        let mut fi = Finding::new(
            "user-not-allowed",
            Severity::Error,
            format!("sshd does not let {user} log in: {reason}"),
        )
        .explain(
            "AllowUsers/AllowGroups are whitelists: once one is set, everybody not on it is \
             refused before any key is looked at. DenyUsers/DenyGroups refuse whoever matches.",
        );
        for k in ["allowusers", "denyusers", "allowgroups", "denygroups"] {
            let w = f.sshd.words(k);
            if !w.is_empty() {
                fi = fi.evidence(format!("sshd effective config: {k} {}", w.join(" ")));
            }
        }
        if reason.contains("AllowUsers") {
            let c = shell_quote(&cfg_disp);
            fi = fi
                .fix(Fix::new(
                    FixId::SshdConfigAllowUser,
                    format!("Add {user} to AllowUsers in {cfg_disp}"),
                    format!(
                        "sed -i {} {c} && /usr/sbin/sshd -t -f {c}",
                        shell_quote(&format!(r"s/^\s*AllowUsers\s.*/& {user}/I"))
                    ),
                ))
                .fix(reload_fix());
        }
        out.push(fi);
    }
    let akc = f.sshd.get("authorizedkeyscommand").unwrap_or("none");
    let has_akc = !akc.eq_ignore_ascii_case("none");
    if has_akc {
        out.push(
            Finding::new(
                "authorized-keys-command",
                Severity::Info,
                "Keys may also come from AuthorizedKeysCommand",
            )
            .explain(
                "sshd runs this command and accepts the keys it prints besides the files; \
                 a key missing from the files may still be accepted by it.",
            )
            .evidence(format!(
                "sshd effective config: authorizedkeyscommand {akc}"
            )),
        );
    }

    // StrictModes
    let strict = f.sshd.yes("strictmodes", true);
    for v in &f.violations {
        out.push(violation_finding(v, &f.user, strict));
    }

    // authorized_keys
    let mut all_entries: Vec<(String, &Entry)> = Vec::new();
    for kf in &f.key_files {
        let p = kf.path.display().to_string();
        match &kf.content {
            None => {}
            Some(Err(e)) => out.push(
                Finding::new(
                    "authorized-keys-unreadable",
                    Severity::Warning,
                    format!("{p} cannot be read"),
                )
                .evidence(format!("{p}: {e}")),
            ),
            Some(Ok(ak)) => {
                out.extend(ak.findings(&p, f.now));
                for e in ak.entries() {
                    all_entries.push((p.clone(), e));
                }
            }
        }
    }
    if f.key_files.iter().all(|k| k.content.is_none())
        && f.sshd.yes("pubkeyauthentication", true)
        && !has_akc
    {
        let mut fi = Finding::new(
            "no-authorized-keys",
            Severity::Error,
            format!("{user} has no authorized_keys file"),
        )
        .explain("sshd looks for keys only in these files; none exists, so no key can log in.");
        for kf in &f.key_files {
            fi = fi.evidence(format!("{}: does not exist", kf.path.display()));
        }
        out.push(fi);
    }
    if !all_entries.is_empty() {
        let mut fi = Finding::new(
            "authorized-keys-list",
            Severity::Info,
            format!("{} key(s) authorized for {user}", all_entries.len()),
        );
        for (p, e) in &all_entries {
            let opts = if e.options.is_empty() {
                String::new()
            } else {
                format!(
                    " [{}]",
                    e.options
                        .iter()
                        .map(|o| o.name.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            };
            fi = fi.evidence(format!(
                "{p}:{}: {} {} {}{opts}",
                e.line, e.key_type, e.fingerprint, e.comment
            ));
        }
        out.push(fi);
    }
    if let Some(w) = &f.wanted {
        key_findings(f, w, &all_entries, has_akc, &mut out);
    }

    // Listening
    if let Some(socks) = &f.listening {
        let want = f.sshd.listen_addresses();
        let missing: Vec<&(String, u16)> = want
            .iter()
            .filter(|(h, p)| !socks.iter().any(|s| serves(s, h, *p)))
            .collect();
        if !want.is_empty() && missing.len() == want.len() {
            let mut fi = Finding::new(
                "sshd-not-listening",
                Severity::Error,
                "Nothing is listening where sshd is configured to listen",
            )
            .explain(
                "Clients get \"Connection refused\": sshd is not running, failed to start (a \
                 config error or a port already in use), or listens elsewhere.",
            );
            for (h, p) in &want {
                fi = fi.evidence(format!(
                    "sshd effective config: listenaddress {}",
                    host_port(h, *p)
                ));
            }
            let mut ports: Vec<u16> = socks.iter().map(|s| s.1).collect();
            ports.sort_unstable();
            ports.dedup();
            fi = fi.evidence(format!(
                "listening TCP ports: {}",
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            fi = fi.fix(Fix::new(
                FixId::StartSshd,
                "Start sshd (and read why it failed if it does not stay up)",
                "systemctl restart ssh || systemctl restart sshd; systemctl status ssh sshd",
            ));
            out.push(fi);
        } else {
            for (h, p) in missing {
                out.push(
                    Finding::new(
                        "sshd-not-listening-address",
                        Severity::Warning,
                        format!("sshd is not listening on {}", host_port(h, *p)),
                    )
                    .evidence(format!(
                        "sshd effective config: listenaddress {}",
                        host_port(h, *p)
                    )),
                );
            }
        }
    }

    key_type_findings(f, &mut out);
    attach_log(f, &mut out);
    sort_worst_first(&mut out);
    out
}

fn key_findings(
    f: &ServerFacts,
    w: &WantedKey,
    all: &[(String, &Entry)],
    has_akc: bool,
    out: &mut Vec<Finding>,
) {
    let want = w
        .fingerprint
        .trim()
        .strip_prefix("SHA256:")
        .unwrap_or(w.fingerprint.trim());
    let hits: Vec<&(String, &Entry)> = all
        .iter()
        .filter(|(_, e)| {
            !e.has_flag("cert-authority")
                && e.fingerprint
                    .strip_prefix("SHA256:")
                    .unwrap_or(&e.fingerprint)
                    == want
        })
        .collect();
    let fp = format!("SHA256:{want}");
    if hits.is_empty() {
        let mut fi = Finding::new(
            "key-not-authorized",
            if has_akc {
                Severity::Warning
            } else {
                Severity::Error
            },
            format!("The key {fp} is not in {}'s authorized_keys", f.user.name),
        )
        .explain(
            "sshd compares the offered key with each line of authorized_keys; this one is not \
             there (or only on a line sshd ignores), so it is refused with a bare \"Permission \
             denied (publickey)\". Usually the key was never copied, or was copied for another \
             user or another server.",
        )
        .evidence(format!("wanted key ({}): {fp}", w.source));
        for kf in &f.key_files {
            fi = fi.evidence(format!("searched {}", kf.path.display()));
        }
        if let (Some(pubf), Some(target)) = (&w.pubkey_file, f.key_files.first()) {
            let t = target.path.display().to_string();
            let make_dir = target.path.starts_with(&f.user.home);
            fi = fi.fix(Fix::new(
                FixId::AppendAuthorizedKey,
                format!("Add the key to {t}"),
                append_key_command(&target.path, pubf, &f.user.name, make_dir),
            ));
        }
        out.push(fi);
        return;
    }
    let Some(addr) = f.client_addr else {
        return;
    };
    let reasons: Vec<(String, &Entry, String)> = hits
        .iter()
        .filter_map(|(p, e)| {
            authorized_keys::would_refuse(e, addr, f.now).map(|r| (p.clone(), *e, r))
        })
        .collect();
    // sshd moves on to the next matching line when options refuse one, so a key is refused only
    // when every line with it refuses.
    if reasons.len() < hits.len() {
        return;
    }
    for (p, e, r) in reasons {
        let mut fi = Finding::new(
            "authorized-key-refused-by-option",
            Severity::Error,
            format!("The key is listed but its options refuse this login: {r}"),
        )
        .explain(
            "The key is in authorized_keys, but an option on its line restricts it (from= \
             limits the client addresses, expiry-time ends its validity), so sshd refuses it \
             from here.",
        )
        .evidence(format!("{p}:{}: {} {}", e.line, e.key_type, e.fingerprint))
        .evidence(format!("{p}:{}: {r}", e.line))
        .evidence(format!("client address: {addr}"));
        if let Some(from) = e.option("from").and_then(|o| o.value.as_deref()) {
            if let Some(fix) = allow_from_fix(&p, e, from, addr) {
                fi = fi.fix(fix);
            }
        }
        out.push(fi);
    }
}

/// Adds the client address at the end of the line's `from=` list, every other byte of the line
/// kept (`sshdoctor fix authorized-key-allow-from FILE:LINE --from ADDR` does the same). No fix
/// when a negated pattern excludes the address: adding it would not help.
fn allow_from_fix(path: &str, e: &Entry, from: &str, addr: IpAddr) -> Option<Fix> {
    let negated = from.split(',').any(|p| {
        p.starts_with('!')
            && authorized_keys::match_host_and_ip(
                &addr.to_string(),
                &addr.to_string(),
                p.trim_start_matches('!'),
            ) == 1
    });
    if negated {
        return None;
    }
    Some(Fix::new(
        FixId::AuthorizedKeyAllowFrom,
        format!("Allow {addr} in the from= option of line {}", e.line),
        allow_from_command(path, e.line, addr),
    ))
}

/// Adds each relevant log line as evidence to the finding it proves, or as its own finding.
fn attach_log(f: &ServerFacts, out: &mut Vec<Finding>) {
    let user = &f.user.name;
    let mut extra: Vec<Finding> = Vec::new();
    let mut push = |out: &mut Vec<Finding>,
                    ids: &[&str],
                    pred: &dyn Fn(&Finding) -> bool,
                    line: &LogLine,
                    fallback: &dyn Fn() -> Finding| {
        let ev = line.evidence();
        if let Some(fi) = out
            .iter_mut()
            .find(|x| ids.contains(&x.id.as_str()) && pred(x))
        {
            if !fi.evidence.contains(&ev) {
                fi.evidence.push(ev);
            }
        } else if let Some(fi) = extra.iter_mut().find(|x| ids.contains(&x.id.as_str())) {
            if !fi.evidence.contains(&ev) {
                fi.evidence.push(ev);
            }
        } else {
            extra.push(fallback().evidence(ev));
        }
    };
    for line in &f.log {
        let Some(ev) = classify(&line.message) else {
            continue;
        };
        if ev.user().is_some_and(|u| u != user) {
            continue;
        }
        match &ev {
            LogEvent::BadModes { path } => {
                let mine = f
                    .violations
                    .iter()
                    .any(|v| v.path.display().to_string() == *path)
                    || f.key_files.iter().any(|k| {
                        Path::new(path) == k.path || k.path.starts_with(path) && !path.is_empty()
                    });
                if !mine {
                    continue;
                }
                let pth = path.clone();
                push(
                    out,
                    &[
                        "strictmodes-mode",
                        "strictmodes-owner",
                        "strictmodes-not-a-file",
                        "strictmodes-missing-dir",
                    ],
                    &|x: &Finding| x.evidence.iter().any(|e| e.starts_with(&format!("{pth}:"))),
                    line,
                    &|| {
                        Finding::new(
                            "strictmodes-refused-earlier",
                            Severity::Warning,
                            format!("sshd refused keys because of the modes of {path}"),
                        )
                        .explain("The log shows a StrictModes refusal; the modes look fine now, so it was probably fixed since.")
                    },
                );
            }
            LogEvent::FailedPublickey { fingerprint, .. } => {
                let fp = fingerprint.clone();
                let listed = f_listed(f, fingerprint);
                push(
                    out,
                    &[
                        "key-not-authorized",
                        "authorized-key-refused-by-option",
                        "root-login-refused",
                        "pubkey-auth-disabled",
                        "user-not-allowed",
                        "strictmodes-mode",
                        "strictmodes-owner",
                    ],
                    &|x: &Finding| x.id != "key-not-authorized" || x.title.contains(&fp),
                    line,
                    &|| {
                        if listed {
                            Finding::new(
                                "key-refused",
                                Severity::Warning,
                                format!("sshd refused the listed key {fp}"),
                            )
                        } else {
                            Finding::new("key-not-authorized", Severity::Error, format!("The key {fp} is not in {user}'s authorized_keys"))
                                .explain("sshd logged a refused key that is not in any authorized_keys file.")
                        }
                    },
                );
            }
            LogEvent::NotAllowed { reason, .. } => {
                let r = reason.clone();
                push(out, &["user-not-allowed"], &|_| true, line, &|| {
                    Finding::new(
                        "user-not-allowed",
                        Severity::Error,
                        format!("sshd does not let {user} log in: {r}"),
                    )
                });
            }
            LogEvent::AccountLocked { .. } => {
                push(out, &["account-locked"], &|_| true, line, &|| {
                    Finding::new("account-locked", Severity::Error, format!("The account {user} is locked"))
                        .explain("Without PAM, sshd refuses every login for an account whose password field starts with '!' (useradd leaves new accounts so). Setting the password field to '*' allows key logins without enabling any password.")
                        .fix(Fix::new(FixId::UnlockAccount, "Allow key logins without a password", format!("usermod -p '*' {}", shell_quote(user))))
                });
            }
            LogEvent::RootRefused { .. } => {
                push(out, &["root-login-refused"], &|_| true, line, &|| {
                    Finding::new(
                        "root-login-refused",
                        Severity::Error,
                        "sshd refused a root login (PermitRootLogin)",
                    )
                });
            }
            LogEvent::MaxAuthTries { .. } => {
                push(out, &["max-auth-tries"], &|_| true, line, &|| {
                    Finding::new("max-auth-tries", Severity::Warning, "A client gave up after too many authentication attempts")
                        .explain(format!("sshd allows MaxAuthTries ({}) attempts per connection; a client offering many keys (an agent full of keys) is cut off before it reaches the right one. Use IdentitiesOnly yes with IdentityFile on the client.", f.sshd.get("maxauthtries").unwrap_or("6")))
                });
            }
            LogEvent::UnableToNegotiate { what, .. } => {
                let w = what.clone();
                push(out, &["unable-to-negotiate"], &|_| true, line, &|| {
                    Finding::new("unable-to-negotiate", Severity::Error, format!("A client and sshd share no algorithm: {w}"))
                        .explain("The client offers only algorithms this sshd no longer accepts (or the reverse). Usually a very old client or a hardened server; update the client rather than weakening the server.")
                });
            }
            LogEvent::NotPermittedHost { .. } => {
                push(
                    out,
                    &["authorized-key-refused-by-option"],
                    &|_| true,
                    line,
                    &|| {
                        Finding::new(
                            "authorized-key-refused-by-option",
                            Severity::Error,
                            "The key is listed but its from= option refuses the client address",
                        )
                    },
                );
            }
            LogEvent::InvalidUser { .. } => {
                push(out, &["user-does-not-exist"], &|_| true, line, &|| {
                    Finding::new(
                        "user-does-not-exist",
                        Severity::Error,
                        format!("There is no account {user} on this server"),
                    )
                });
            }
            LogEvent::CouldNotOpen { path, error, .. } => {
                let pth = path.clone();
                let err = error.clone();
                push(
                    out,
                    &[
                        "strictmodes-owner",
                        "strictmodes-mode",
                        "authorized-keys-unreadable",
                    ],
                    &|x: &Finding| x.evidence.iter().any(|e| e.starts_with(&format!("{pth}:"))),
                    line,
                    &|| {
                        Finding::new(
                            "authorized-keys-unreadable",
                            Severity::Error,
                            format!("sshd could not read {pth} as {user}: {err}"),
                        )
                        .explain(
                            "sshd opens authorized_keys with the user's own rights, not root's: \
                             a file the user cannot read (another owner, no read bit, a \
                             directory without x) is as good as missing.",
                        )
                    },
                );
            }
            LogEvent::AlgorithmNotAccepted { algorithm } => {
                let alg = algorithm.clone();
                push(out, &["key-type-not-accepted"], &|_| true, line, &|| {
                    Finding::new(
                        "key-type-not-accepted",
                        Severity::Error,
                        format!("sshd refuses {alg} keys (not in its PubkeyAcceptedAlgorithms)"),
                    )
                });
            }
            LogEvent::AcceptedPublickey { .. } => {}
        }
    }
    out.extend(extra);
}

/// The signature algorithms a key of this type can log in with.
fn signature_algorithms(key_type: &str) -> Vec<String> {
    match key_type {
        "ssh-rsa" => vec![
            "rsa-sha2-512".into(),
            "rsa-sha2-256".into(),
            "ssh-rsa".into(),
        ],
        "ssh-rsa-cert-v01@openssh.com" => vec![
            "rsa-sha2-512-cert-v01@openssh.com".into(),
            "rsa-sha2-256-cert-v01@openssh.com".into(),
            "ssh-rsa-cert-v01@openssh.com".into(),
        ],
        other => vec![other.to_string()],
    }
}

/// `key-type-not-accepted`: authorized keys of a type sshd's PubkeyAcceptedAlgorithms leaves
/// out. sshd answers such a key with a plain refusal, so the client sees "Permission denied"
/// and blames authorized_keys; only `sshd -T` (and sshd's log) tell.
fn key_type_findings(f: &ServerFacts, out: &mut Vec<Finding>) {
    let Some(accepted) = f.sshd.get("pubkeyacceptedalgorithms") else {
        return;
    };
    let accepted: Vec<&str> = accepted.split(',').map(str::trim).collect();
    let takes = |key_type: &str| {
        signature_algorithms(key_type)
            .iter()
            .any(|a| accepted.contains(&a.as_str()))
    };
    let mut refused: Vec<(String, String)> = Vec::new(); // (key type, "file:line fingerprint")
    let mut any_taken = false;
    for kf in &f.key_files {
        let Some(Ok(ak)) = &kf.content else { continue };
        for e in ak.entries() {
            if let Some(w) = &f.wanted {
                let bare = |s: &str| s.trim().trim_start_matches("SHA256:").to_string();
                if bare(&w.fingerprint) != bare(&e.fingerprint) {
                    continue;
                }
            }
            if takes(&e.key_type) {
                any_taken = true;
            } else {
                refused.push((
                    e.key_type.clone(),
                    format!(
                        "{}:{} {} {}",
                        kf.path.display(),
                        e.line,
                        e.key_type,
                        e.fingerprint
                    ),
                ));
            }
        }
    }
    if refused.is_empty() {
        return;
    }
    let mut types: Vec<String> = refused.iter().map(|(t, _)| t.clone()).collect();
    types.dedup();
    let list = accepted.join(",");
    // Certain when the key asked about (or every key the user has) is of such a type.
    let severity = if f.wanted.is_some() || !any_taken {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut fi = Finding::new(
        "key-type-not-accepted",
        severity,
        format!(
            "sshd refuses {} keys (not in its PubkeyAcceptedAlgorithms)",
            types.join(", ")
        ),
    )
    .explain(
        "The key is in authorized_keys, but sshd's PubkeyAcceptedAlgorithms does not list its \
         type, so sshd refuses it without a word to the client (\"Permission denied \
         (publickey)\", as if the key were not there) and logs \"signature algorithm ... not in \
         PubkeyAcceptedAlgorithms\". Either allow the type, or log in with a key of a type it \
         lists.",
    )
    .evidence(format!(
        "sshd effective config: pubkeyacceptedalgorithms {list}"
    ));
    for (_, line) in &refused {
        fi = fi.evidence(format!("authorized: {line}"));
    }
    let wanted_algs: Vec<String> = types.iter().flat_map(|t| signature_algorithms(t)).collect();
    let new_list = format!("{list},{}", wanted_algs.join(","));
    fi = fi
        .fix(Fix::new(
            FixId::SshdConfigSet,
            format!(
                "Also accept {} keys, in {}",
                types.join(", "),
                f.config_path.display()
            ),
            prepend_option(
                &f.config_path,
                &format!("PubkeyAcceptedAlgorithms {new_list}"),
            ),
        ))
        .fix(reload_fix());
    out.push(fi);
}

fn f_listed(f: &ServerFacts, fp: &str) -> bool {
    f.key_files.iter().any(|k| match &k.content {
        Some(Ok(ak)) => !ak.matching_fingerprint(fp).is_empty(),
        _ => false,
    })
}

// ---------------------------------------------------------------------------------------------
// The shell: reading the system

/// What to inspect.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    pub user: Option<String>,
    pub key_fingerprint: Option<String>,
    pub pubkey: Option<PathBuf>,
    pub sshd_config: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub client_addr: Option<IpAddr>,
}

/// Everything `sshdoctor server` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    pub user: String,
    pub sshd: serde_json::Map<String, serde_json::Value>,
    /// `sshd -T` or the parsed file.
    pub sshd_source: String,
    pub authorized_keys: Vec<serde_json::Value>,
    pub log_lines: Vec<String>,
    pub listening: Vec<String>,
    pub findings: Vec<Finding>,
}

/// Errors that make the inspection impossible (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("no user {0:?} in /etc/passwd")]
    NoSuchUser(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    BadInput(String),
}

fn stat_of(p: &Path) -> Option<FileStat> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).ok()?;
    Some(FileStat {
        uid: m.uid(),
        gid: m.gid(),
        mode: m.mode() & 0o7777,
        is_dir: m.is_dir(),
        is_file: m.is_file(),
    })
}

/// Runs `sshd -T` for this user; `None` when sshd is missing or refuses (not root, bad config).
fn sshd_dump(config: &Path, user: &str, addr: Option<IpAddr>) -> Option<String> {
    let sshd = ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let mut spec = format!("user={user}");
    if let Some(a) = addr {
        spec.push_str(&format!(",addr={a},host={a}"));
    }
    let out = std::process::Command::new(sshd)
        .arg("-T")
        .arg("-f")
        .arg(config)
        .arg("-C")
        .arg(spec)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

/// The OpenSSH build on this machine carries Debian's private-group exception.
fn debian_sshd() -> bool {
    std::process::Command::new("ssh")
        .arg("-V")
        .output()
        .map(|o| {
            let s = String::from_utf8_lossy(&o.stderr);
            s.contains("Debian") || s.contains("Ubuntu")
        })
        .unwrap_or(false)
}

/// The tail of a file, at most `max` bytes, cut at a line start.
fn read_tail(p: &Path, max: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(p)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let s = String::from_utf8_lossy(&buf).into_owned();
    Ok(if start > 0 {
        s.split_once('\n')
            .map(|(_, r)| r.to_string())
            .unwrap_or_default()
    } else {
        s
    })
}

/// Recent sshd log text: the given file, else the journal, else auth.log/secure.
fn system_log(explicit: Option<&Path>) -> Result<String, ServerError> {
    if let Some(p) = explicit {
        return read_tail(p, 4 << 20).map_err(|source| ServerError::Read {
            path: p.display().to_string(),
            source,
        });
    }
    if let Ok(o) = std::process::Command::new("journalctl")
        .args([
            "-u",
            "ssh",
            "-u",
            "sshd",
            "-n",
            "2000",
            "--no-pager",
            "-o",
            "short-iso",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
    {
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        if o.status.success() && s.lines().any(|l| l.contains("sshd")) {
            return Ok(s);
        }
    }
    for p in ["/var/log/auth.log", "/var/log/secure"] {
        if let Ok(s) = read_tail(Path::new(p), 4 << 20) {
            return Ok(s);
        }
    }
    Ok(String::new())
}

/// Reads the system and diagnoses. The only function here with side effects (reads, `sshd -T`).
pub fn inspect(opts: &ServerOptions) -> Result<ServerReport, ServerError> {
    let read = |p: &str| {
        std::fs::read_to_string(p).map_err(|source| ServerError::Read {
            path: p.to_string(),
            source,
        })
    };
    let passwd = parse_passwd(&read("/etc/passwd")?);
    let groups_db = parse_group(&std::fs::read_to_string("/etc/group").unwrap_or_default());
    let user = match &opts.user {
        Some(n) => passwd
            .iter()
            .find(|p| &p.name == n)
            .cloned()
            .ok_or_else(|| ServerError::NoSuchUser(n.clone()))?,
        None => {
            // SAFETY: getuid has no preconditions and cannot fail.
            let uid = unsafe { libc::getuid() };
            passwd
                .iter()
                .find(|p| p.uid == uid)
                .cloned()
                .ok_or_else(|| ServerError::NoSuchUser(format!("uid {uid}")))?
        }
    };
    let groups = user_groups(&user, &groups_db);

    let log_text = system_log(opts.log.as_deref())?;
    let log: Vec<LogLine> = log_text.lines().filter_map(parse_log_line).collect();

    let mut wanted = None;
    if let Some(p) = &opts.pubkey {
        let text = read(&p.display().to_string())?;
        let key = PublicKey::from_openssh(text.trim()).map_err(|e| {
            ServerError::BadInput(format!("{} is not an OpenSSH public key: {e}", p.display()))
        })?;
        wanted = Some(WantedKey {
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            key: Some(key),
            pubkey_file: Some(p.clone()),
            source: format!("--pubkey {}", p.display()),
        });
    } else if let Some(fp) = &opts.key_fingerprint {
        let fp = fp.trim();
        if fp.strip_prefix("SHA256:").unwrap_or(fp).is_empty() || fp.starts_with("MD5:") {
            return Err(ServerError::BadInput(format!(
                "--key wants a SHA256 fingerprint as ssh-keygen -l prints it, not {fp:?}"
            )));
        }
        wanted = Some(WantedKey {
            fingerprint: fp.to_string(),
            key: None,
            pubkey_file: None,
            source: "--key".into(),
        });
    }
    // Without a key given, the last key sshd refused for this user is the one in question; and
    // the last client address sshd saw for the user stands in for the client.
    let events: Vec<LogEvent> = log.iter().filter_map(|l| classify(&l.message)).collect();
    if wanted.is_none() {
        if let Some(LogEvent::FailedPublickey { fingerprint, .. }) = events
            .iter()
            .rev()
            .find(|e| matches!(e, LogEvent::FailedPublickey { user: u, .. } if *u == user.name))
        {
            wanted = Some(WantedKey {
                fingerprint: fingerprint.clone(),
                key: None,
                pubkey_file: None,
                source: "last key refused in the log".into(),
            });
        }
    }
    let client_addr = opts.client_addr.or_else(|| {
        events
            .iter()
            .rev()
            .filter(|e| e.user() == Some(user.name.as_str()))
            .find_map(|e| e.from().and_then(|a| a.parse().ok()))
    });

    let config_path = opts
        .sshd_config
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/ssh/sshd_config"));
    if opts.sshd_config.is_some() && !config_path.exists() {
        return Err(ServerError::BadInput(format!(
            "{} does not exist",
            config_path.display()
        )));
    }
    let (sshd, sshd_source) = match sshd_dump(&config_path, &user.name, client_addr) {
        Some(t) => (SshdConfig::from_dump(&t), "sshd -T".to_string()),
        None => (
            SshdConfig::from_files(&config_path, &|p| std::fs::read_to_string(p).ok()),
            format!("parsed {} (sshd -T unavailable)", config_path.display()),
        ),
    };

    let debian = debian_sshd();
    let home = std::fs::canonicalize(&user.home).unwrap_or_else(|_| user.home.clone());
    let mut violations: Vec<Violation> = Vec::new();
    let mut key_files = Vec::new();
    for path in sshd.authorized_keys_files(&user) {
        let content = match std::fs::read(&path) {
            Ok(b) => Some(Ok(authorized_keys::parse(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(Err(e.to_string())),
        };
        if content.is_some() {
            let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            let group_ok =
                |st: &FileStat| debian && private_group(st.gid, st.uid, &passwd, &groups_db);
            for v in strict_modes_walk(&real, &home, user.uid, &stat_of, &group_ok) {
                if !violations.iter().any(|x| x.path == v.path) {
                    violations.push(v);
                }
            }
        }
        key_files.push(KeyFile { path, content });
    }

    let mut socks = Vec::new();
    let mut have_proc = false;
    for p in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(t) = std::fs::read_to_string(p) {
            have_proc = true;
            socks.extend(parse_proc_net_tcp(&t));
        }
    }

    let facts = ServerFacts {
        user: user.clone(),
        groups,
        sshd,
        config_path,
        violations,
        key_files,
        wanted,
        client_addr,
        log,
        listening: have_proc.then_some(socks.clone()),
        now: SystemTime::now(),
    };
    let findings = diagnose(&facts);
    let authorized_keys = facts
        .key_files
        .iter()
        .map(|k| {
            let entries: Vec<serde_json::Value> = match &k.content {
                Some(Ok(ak)) => ak
                    .entries()
                    .map(|e| serde_json::to_value(e).unwrap_or(serde_json::Value::Null))
                    .collect(),
                _ => Vec::new(),
            };
            serde_json::json!({
                "path": k.path.display().to_string(),
                "exists": k.content.is_some(),
                "entries": entries,
            })
        })
        .collect();
    let relevant: Vec<String> = facts
        .log
        .iter()
        .filter(|l| classify(&l.message).is_some_and(|e| e.user().is_none_or(|u| u == user.name)))
        .map(|l| l.raw.clone())
        .collect();
    let log_lines = relevant
        .get(relevant.len().saturating_sub(50)..)
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    Ok(ServerReport {
        user: user.name.clone(),
        sshd: facts.sshd.summary(&user),
        sshd_source,
        authorized_keys,
        log_lines,
        listening: socks
            .iter()
            .map(|(a, p)| match a {
                IpAddr::V6(_) => format!("[{a}]:{p}"),
                IpAddr::V4(_) => format!("{a}:{p}"),
            })
            .collect(),
        findings,
    })
}

/// Convenience for callers that want anyhow context.
pub fn inspect_ctx(opts: &ServerOptions) -> anyhow::Result<ServerReport> {
    inspect(opts).context("inspecting the server side")
}

// ---------------------------------------------------------------------------------------------
// The commands the findings show (the fix module plans the same edits natively)

/// The shell command that does what `fix::server::append_key_plan` does (and what `server` shows).
pub fn append_key_command(file: &Path, pubkey: &Path, user: &str, make_dir: bool) -> String {
    let tq = shell_quote(&file.display().to_string());
    let pq = shell_quote(&pubkey.display().to_string());
    let u = shell_quote(user);
    let mkdir = match file.parent().filter(|_| make_dir) {
        Some(d) => format!(
            "install -d -m 700 -o {u} {} && ",
            shell_quote(&d.display().to_string())
        ),
        None => String::new(),
    };
    format!(
        "{mkdir}{{ if [ -s {tq} ] && [ -n \"$(tail -c1 {tq})\" ]; then echo; fi; cat {pq}; }} >> {tq} && chown {u} {tq} && chmod 600 {tq}"
    )
}

/// `sed` command equivalent to `fix::server::allow_from_line` on line `line` of `file`.
pub fn allow_from_command(file: &str, line: usize, addr: IpAddr) -> String {
    format!(
        "sed -i {} {}",
        shell_quote(&format!(r#"{line}s/\(from="[^"]*\)"/\1,{addr}"/I"#)),
        shell_quote(file)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(uid: u32, mode: u32, dir: bool) -> FileStat {
        FileStat {
            uid,
            gid: uid,
            mode,
            is_dir: dir,
            is_file: !dir,
        }
    }

    #[test]
    fn walk_stops_at_home_and_names_each_bad_path() {
        let stat = |p: &Path| -> Option<FileStat> {
            Some(match p.to_str()? {
                "/h/u/.ssh/authorized_keys" => st(1000, 0o666, false),
                "/h/u/.ssh" => st(1000, 0o700, true),
                "/h/u" => st(1000, 0o777, true),
                "/h" => st(5, 0o777, true),
                _ => st(0, 0o755, true),
            })
        };
        let v = strict_modes_walk(
            Path::new("/h/u/.ssh/authorized_keys"),
            Path::new("/h/u"),
            1000,
            &stat,
            &|_| false,
        );
        let got: Vec<_> = v
            .iter()
            .map(|v| (v.path.display().to_string(), v.role, v.problem))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "/h/u/.ssh/authorized_keys".into(),
                    Role::AuthorizedKeys,
                    Problem::Mode
                ),
                ("/h/u".into(), Role::Home, Problem::Mode),
            ]
        );
    }

    #[test]
    fn log_lines_classify() {
        let l = parse_log_line("2024-03-05T10:00:00+0000 host sshd[12]: User bob from 127.0.0.1 not allowed because not listed in AllowUsers").expect("sshd line");
        assert_eq!(l.time.as_deref(), Some("2024-03-05T10:00:00+0000"));
        assert!(
            matches!(classify(&l.message), Some(LogEvent::NotAllowed { user, .. }) if user == "bob")
        );
        assert!(parse_log_line("Mar  5 10:00:00 host cron[1]: x").is_none());
        assert!(matches!(
            classify("/srv/l/ak:1: Authentication tried for u with correct key but not from a permitted host (host=127.0.0.1, ip=127.0.0.1, required=10.0.0.1)."),
            Some(LogEvent::NotPermittedHost { user, ip }) if user == "u" && ip == "127.0.0.1"
        ));
        assert!(matches!(
            classify("Could not open user 'u' authorized keys '/h/u/.ssh/authorized_keys': Permission denied"),
            Some(LogEvent::CouldNotOpen { path, .. }) if path == "/h/u/.ssh/authorized_keys"
        ));
        assert!(matches!(
            classify("Authentication refused: bad ownership or modes for directory /srv/x/home/u"),
            Some(LogEvent::BadModes { path }) if path == "/srv/x/home/u"
        ));
    }

    #[test]
    fn proc_net_tcp_listeners() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:A4CE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n   1: 0100007F:A4CF 0100007F:1234 01 x\n";
        assert_eq!(
            parse_proc_net_tcp(t),
            vec![(IpAddr::V4(Ipv4Addr::LOCALHOST), 0xA4CE)]
        );
    }

    #[test]
    fn allow_users_with_host_part() {
        let cfg = SshdConfig::from_dump("allowusers alice\nallowusers bob@10.0.0.1\n");
        let lo = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(user_refused(&cfg, "alice", &[], lo), None);
        assert!(user_refused(&cfg, "bob", &[], lo).is_some());
        assert!(user_refused(&cfg, "carol", &[], lo).is_some_and(|r| r.contains("AllowUsers")));
    }
}

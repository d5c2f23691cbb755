//! sshd's effective configuration: `sshd -T` run for this user and client address (so sshd
//! itself evaluates the `Match` blocks), or, when it cannot run, `sshd_config` and its
//! `Include`s read the way sshd reads them (the first value wins, lists accumulate, reading stops
//! at the first `Match`, OpenSSH's defaults fill the rest).
//!
//! Why a module of its own: every rule in `diagnose` asks this one value what sshd will do
//! (PubkeyAuthentication, the AuthorizedKeysFile paths for this user, AllowUsers, where it
//! listens) instead of reading configuration text itself.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::passwd::PwEntry;
use crate::authorized_keys;

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
    "trustedusercakeys",
    "authorizedprincipalsfile",
    "authorizedprincipalscommand",
    "revokedkeys",
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

/// sshd's `%h`, `%u`, `%U` and `%%` tokens in file names (AuthorizedKeysFile, AuthorizedPrincipalsFile).
pub(super) fn percent_expand(s: &str, home: &str, user: &str, uid: u32) -> String {
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

/// Runs `sshd -T` for this user; `None` when sshd is missing or refuses (not root, bad config).
pub(super) fn sshd_dump(config: &Path, user: &str, addr: Option<IpAddr>) -> Option<String> {
    let sshd = ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let mut spec = format!("user={user}");
    if let Some(a) = addr {
        spec.push_str(&format!(",addr={a},host={a}"));
    }
    let out = crate::sys::run_bounded(
        std::process::Command::new(sshd)
            .arg("-T")
            .arg("-f")
            .arg(config)
            .arg("-C")
            .arg(spec),
        super::HELPER_TIMEOUT,
    )
    .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

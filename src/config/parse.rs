//! sshdoctor's own ssh_config reader, used when `ssh -G` cannot answer (no ssh client, or a config
//! ssh rejects): readconf's line splitting, `Host` and the `Match` criteria that need no command,
//! `Include` with its globs, first-value-wins, and OpenSSH's defaults.
//!
//! It covers the common keywords faithfully rather than all of them; `tests/config.rs` holds it
//! to what `ssh -G` says on the same files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    expand_tokens_for, is_yes, ConfigRequest, ConfigSource, EffectiveConfig,
    DEFAULT_IDENTITY_FILES, MAX_INCLUDE_DEPTH,
};
use crate::paths::SshPaths;
use crate::sys::passwd;

const DEFAULT_USER_KNOWN_HOSTS: [&str; 2] = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];
const DEFAULT_GLOBAL_KNOWN_HOSTS: [&str; 2] =
    ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];
const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

/// One parsed ssh_config line: keyword (lower-case) and its arguments, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ConfigLine {
    pub(super) keyword: String,
    pub(super) args: Vec<String>,
}

/// Splits one line like OpenSSH's readconf: trailing whitespace (CR too) dropped, `Key value`,
/// `Key=value` and `Key = value` alike, double or single quotes group words, a word starting
/// with `#` starts a comment. None for blank and comment lines.
pub(super) fn split_config_line(line: &str) -> Option<ConfigLine> {
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
    /// `CertificateFile` values, which add up as IdentityFile's do.
    certificates: Vec<String>,
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
                "certificatefile" => {
                    if let Some(a) = cl.args.first() {
                        self.certificates.push(a.clone());
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
pub(super) fn include_paths(pattern: &str, paths: &SshPaths, user_conf: bool) -> Vec<PathBuf> {
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
        certificates: Vec::new(),
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
        certificate_files: Vec::new(),
    };
    cfg.certificate_files = ev
        .certificates
        .iter()
        .map(|r| expand_tokens_for(&cfg, r, paths))
        .collect();
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
            certificates: Vec::new(),
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

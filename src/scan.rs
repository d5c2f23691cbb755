//! The fleet health scan: fetch every known host's key, concurrently, and say which known_hosts
//! entries went stale.
//!
//! Shape: the pure part decides *what* to scan ([`targets_from_known_hosts`],
//! [`config_aliases`]) and *what a result means* ([`classify`]); [`run`] is the thin async shell
//! that keeps at most `concurrency` connections open and hands each result over the moment it is
//! known, so a 10,000-host scan shows progress instead of silence.
//!
//! A result is judged exactly as ssh would judge that key at login ([`known_hosts::check_host_key`]):
//! a key of another type than the one on file is "changed" too, because OpenSSH 9.2 says "REMOTE
//! HOST IDENTIFICATION HAS CHANGED" in that case (and the scan, like ssh, asks for the known key
//! types first, so a server that merely has more keys is not reported).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::keys::ssh_key::{Algorithm, HashAlg};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::finding::{shell_quote, Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::known_hosts::{self, Entry, HostIndex, HostKeyStatus, KnownHosts};
use crate::probe::keyscan::{self, KeyscanFailure, ScannedKey};

/// One host to connect to, and why it is on the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanTarget {
    /// What to connect to (a name or an address).
    pub host: String,
    pub port: u16,
    /// Where it came from, for the user: `known_hosts:12`, `config Host web`, `command line`.
    pub origin: String,
}

impl ScanTarget {
    /// The name ssh looks up in known_hosts for this target (`[host]:port` off port 22).
    pub fn name(&self) -> String {
        known_hosts::host_port_name(&self.host, self.port)
    }
}

/// The verdict for one host. The kebab-case names are the JSON contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScanStatus {
    /// The server presented a key known_hosts holds for it.
    Unchanged,
    /// known_hosts holds keys for this host, none of them the one presented: a stale entry (or
    /// an attack); ssh would refuse to connect.
    Changed,
    /// The presented key is marked `@revoked` for this host.
    Revoked,
    /// The host answered, but known_hosts holds nothing for it (only for hosts named by the
    /// config or the command line).
    Unknown,
    /// Refused, timed out, closed without a word, or the name does not resolve.
    Unreachable,
    /// Something answered that is not an SSH server.
    NotSsh,
    /// An SSH server whose key exchange failed, so its key could not be checked.
    HandshakeFailed,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Unchanged => "unchanged",
            ScanStatus::Changed => "changed",
            ScanStatus::Revoked => "revoked",
            ScanStatus::Unknown => "unknown",
            ScanStatus::Unreachable => "unreachable",
            ScanStatus::NotSsh => "not-ssh",
            ScanStatus::HandshakeFailed => "handshake-failed",
        }
    }
}

/// What known_hosts says about a host, for evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownKey {
    pub line: usize,
    pub key_type: String,
    pub fingerprint: String,
}

/// One host's result; with `--json` each is printed as one line as soon as it is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanResult {
    pub host: String,
    pub port: u16,
    /// The known_hosts name (`[127.0.0.1]:2222`).
    pub name: String,
    pub origin: String,
    pub status: ScanStatus,
    /// For `unreachable`: `refused`, `timeout`, `closed`, `dns` or `network`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// One line in plain words: what was seen.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// The key the server presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The known_hosts line that matched, or (for `changed`) the one ssh names "Offending".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known: Option<KnownKey>,
    /// Milliseconds from the start of this host's attempt to its result.
    pub ms: u64,
    /// For `changed`: remove the stale entry (ssh asks to confirm the new key next time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// The known_hosts lines (1-based) the verdict was made from, for the browser to mark
    /// without looking the host up again. Not part of the JSON.
    #[serde(skip)]
    pub lines: Option<Vec<usize>>,
}

/// Splits a known_hosts host pattern into a host and port: `[h]:p` or a plain name (port 22).
/// Wildcards and negations name no single host to connect to, so they give `None`.
pub fn parse_host_pattern(pattern: &str) -> Option<(String, u16)> {
    if pattern.is_empty() || pattern.contains(['*', '?', '!']) {
        return None;
    }
    if let Some(rest) = pattern.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        let port: u16 = port.parse().ok()?;
        if host.is_empty() || port == 0 {
            return None;
        }
        return Some((host.to_string(), port));
    }
    if pattern.contains(['[', ']']) {
        return None;
    }
    Some((pattern.to_string(), 22))
}

/// Every host named in plain (unhashed, unmarked) known_hosts lines, once each, in file order.
/// Hashed lines cannot be read back into names; they are checked only for hosts named elsewhere.
pub fn targets_from_known_hosts(kh: &KnownHosts, file: &str) -> Vec<ScanTarget> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for e in kh.entries() {
        if e.marker.is_some() {
            continue;
        }
        let Some(hosts) = &e.hosts else { continue };
        for pat in hosts {
            let Some((host, port)) = parse_host_pattern(pat) else {
                continue;
            };
            if seen.insert((host.to_ascii_lowercase(), port)) {
                out.push(ScanTarget {
                    host,
                    port,
                    origin: format!("{file}:{}", e.line),
                });
            }
        }
    }
    out
}

/// The literal aliases of `Host` lines in an ssh_config text (patterns with `*`, `?` or `!`
/// stand for many hosts and are skipped), once each, in order. `Host a b` gives both names;
/// `Host=a` and quoted names are read as ssh reads them.
pub fn config_aliases(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let (keyword, rest) = match line.find(|c: char| c.is_whitespace() || c == '=') {
            Some(i) => (&line[..i], &line[i..]),
            None => continue,
        };
        if !keyword.eq_ignore_ascii_case("host") {
            continue;
        }
        let rest = rest.trim_start().strip_prefix('=').unwrap_or(rest).trim();
        for word in rest.split_whitespace() {
            if word.starts_with('#') {
                break;
            }
            let word = word.trim_matches('"');
            if word.is_empty() || word.contains(['*', '?', '!']) {
                continue;
            }
            if seen.insert(word.to_string()) {
                out.push(word.to_string());
            }
        }
    }
    out
}

/// The key algorithms the (unmarked) lines hold, to be asked for first.
fn known_types_in(entries: &[Entry]) -> Vec<Algorithm> {
    let mut out: Vec<Algorithm> = Vec::new();
    for e in entries {
        if e.marker.is_some() {
            continue;
        }
        if let Some(k) = e.public_key() {
            let a = k.algorithm();
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// A host's known_hosts lines, looked up as cheaply as the verdict allows: first without the
/// unmarked hashed lines (an HMAC each, 10^5 of them in a big file), and with them only when
/// those lines do not already settle it.
pub struct HostLines<'a> {
    kh: &'a KnownHosts,
    index: &'a HostIndex,
    host: &'a str,
    port: u16,
    cheap: Vec<Entry>,
    full: Option<Vec<Entry>>,
}

impl<'a> HostLines<'a> {
    pub fn new(kh: &'a KnownHosts, index: &'a HostIndex, host: &'a str, port: u16) -> Self {
        let cheap = index.lookup_cheap(kh, host, port);
        HostLines {
            kh,
            index,
            host,
            port,
            cheap,
            full: None,
        }
    }

    /// Every line ssh consults for the host (what [`KnownHosts::lookup`] gives).
    fn full(&mut self) -> &[Entry] {
        let (kh, index, host, port) = (self.kh, self.index, self.host, self.port);
        self.full
            .get_or_insert_with(|| index.lookup(kh, host, port))
    }

    /// The key types to ask the server for first. A host named only in hashed lines (from the
    /// config or the command line) needs the full lookup for them.
    pub fn known_types(&mut self) -> Vec<Algorithm> {
        if self.cheap.iter().any(|e| e.marker.is_none()) {
            known_types_in(&self.cheap)
        } else {
            known_types_in(self.full())
        }
    }

    /// ssh's verdict on `key`: a match (or a revocation) among the cheap lines stands whatever
    /// the hashed lines hold; anything else is judged over every line. Returns the verdict and
    /// the lines it was made from.
    fn verdict(&mut self, key: &russh::keys::PublicKey) -> (HostKeyStatus, Vec<Entry>) {
        let quick = known_hosts::check_host_key_in(&self.cheap, key);
        if matches!(
            quick,
            HostKeyStatus::Match { .. } | HostKeyStatus::Revoked { .. }
        ) {
            return (quick, self.cheap.clone());
        }
        let all = self.full().to_vec();
        (known_hosts::check_host_key_in(&all, key), all)
    }

    fn consulted(&self) -> Vec<usize> {
        self.full
            .as_ref()
            .unwrap_or(&self.cheap)
            .iter()
            .map(|e| e.line)
            .collect()
    }
}

/// What one attempt means, as ssh would see it at login, judged over the host's known_hosts
/// `lines`. `file` is the known_hosts path shown in the fix command.
pub fn classify(
    target: &ScanTarget,
    lines: &mut HostLines<'_>,
    file: &str,
    outcome: &Result<ScannedKey, KeyscanFailure>,
    ms: u64,
) -> ScanResult {
    let mut r = ScanResult {
        host: target.host.clone(),
        port: target.port,
        name: target.name(),
        origin: target.origin.clone(),
        status: ScanStatus::Unreachable,
        reason: None,
        detail: String::new(),
        banner: None,
        key_type: None,
        fingerprint: None,
        known: None,
        ms,
        fix: None,
        lines: None,
    };
    let scanned = match outcome {
        Ok(s) => s,
        Err(failure) => {
            let (status, reason, detail) = match failure {
                KeyscanFailure::Dns(d) => (ScanStatus::Unreachable, Some("dns"), d.clone()),
                KeyscanFailure::Refused(d) => (ScanStatus::Unreachable, Some("refused"), d.clone()),
                KeyscanFailure::Unreachable(d) => {
                    (ScanStatus::Unreachable, Some("network"), d.clone())
                }
                KeyscanFailure::Timeout(d) => (ScanStatus::Unreachable, Some("timeout"), d.clone()),
                KeyscanFailure::Closed(d) => (ScanStatus::Unreachable, Some("closed"), d.clone()),
                KeyscanFailure::NotSsh { .. } => (ScanStatus::NotSsh, None, failure.to_string()),
                KeyscanFailure::Handshake { banner, error } => {
                    r.banner = Some(banner.clone());
                    (ScanStatus::HandshakeFailed, None, error.clone())
                }
            };
            r.status = status;
            r.reason = reason;
            r.detail = detail;
            r.lines = Some(lines.consulted());
            return r;
        }
    };
    let fp = scanned.key.fingerprint(HashAlg::Sha256).to_string();
    let kt = scanned.key.algorithm().as_str().to_string();
    r.banner = Some(scanned.banner.clone());
    r.key_type = Some(kt.clone());
    r.fingerprint = Some(fp.clone());
    let (verdict, entries) = lines.verdict(&scanned.key);
    r.lines = Some(entries.iter().map(|e| e.line).collect());
    let known_at = |line: usize| {
        entries.iter().find(|e| e.line == line).map(|e| KnownKey {
            line,
            key_type: e.key_type.clone(),
            fingerprint: e.fingerprint().unwrap_or_default(),
        })
    };
    match verdict {
        HostKeyStatus::Match { line } => {
            r.status = ScanStatus::Unchanged;
            r.detail = format!("{kt} {fp} matches {file}:{line}");
            r.known = known_at(line);
        }
        HostKeyStatus::Unknown => {
            r.status = ScanStatus::Unknown;
            r.detail = format!("{kt} {fp}; {file} holds no key for {}", r.name);
        }
        HostKeyStatus::Revoked { line } => {
            r.status = ScanStatus::Revoked;
            r.detail = format!("{kt} {fp} is marked @revoked at {file}:{line}");
            r.known = known_at(line);
        }
        HostKeyStatus::Changed {
            line,
            old_fingerprint,
            old_key_type,
        } => {
            r.status = ScanStatus::Changed;
            r.detail = format!("now {kt} {fp}; {file}:{line} has {old_key_type} {old_fingerprint}");
            r.known = Some(KnownKey {
                line,
                key_type: old_key_type,
                fingerprint: old_fingerprint,
            });
            r.fix = Some(remove_fix(file, &r.name));
        }
    }
    r
}

fn remove_fix(file: &str, name: &str) -> Fix {
    Fix::new(
        FixId::KnownHostsRemoveHost,
        format!("Remove the stale keys for {name}; ssh will ask to confirm the new one next time"),
        format!(
            "ssh-keygen -f {} -R {}",
            shell_quote(file),
            shell_quote(name)
        ),
    )
    .destructive()
    .on(crate::finding::FixTarget::KnownHostsName {
        file: file.into(),
        name: name.to_string(),
    })
}

/// The known_hosts lines a scan proved stale (hosts whose key changed), for the TUI's
/// known_hosts browser to mark.
pub fn stale_lines(results: &[ScanResult]) -> Vec<usize> {
    let mut lines: Vec<usize> = results
        .iter()
        .filter(|r| r.status == ScanStatus::Changed)
        .filter_map(|r| r.known.as_ref().map(|k| k.line))
        .collect();
    lines.sort_unstable();
    lines.dedup();
    lines
}

/// A finding for each host whose key changed or is revoked (the results that need action).
pub fn findings(results: &[ScanResult], file: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in results {
        match r.status {
            ScanStatus::Changed => {
                let mut f = Finding::new(
                    "scan-host-key-changed",
                    Severity::Error,
                    format!(
                        "{} now presents a different host key than {file} holds",
                        r.name
                    ),
                )
                .explain(
                    "ssh will refuse to log in to this host (\"REMOTE HOST IDENTIFICATION HAS \
                     CHANGED\"). Most often the server was reinstalled, its keys regenerated, or \
                     the address now belongs to another machine; rarely, someone is intercepting \
                     the connection. Confirm the new fingerprint with the server's administrator \
                     (or its console: `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`), then remove \
                     the stale entry.",
                )
                .evidence(r.detail.clone());
                if let Some(fix) = &r.fix {
                    f = f.fix(fix.clone());
                }
                out.push(f);
            }
            ScanStatus::Revoked => out.push(
                Finding::new(
                    "scan-host-key-revoked",
                    Severity::Error,
                    format!("{} presents a host key marked @revoked", r.name),
                )
                .explain(
                    "ssh refuses this key (\"REVOKED HOST KEY DETECTED\"). The server still \
                     uses a key that was retired on purpose; its administrator must replace it.",
                )
                .evidence(r.detail.clone()),
            ),
            _ => {}
        }
    }
    out
}

/// How hard to scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Most connections open at once (at least 1).
    pub concurrency: usize,
    /// Budget for each host: DNS, TCP, banner and key exchange together.
    pub timeout: Duration,
}

/// Scans every target with at most `opts.concurrency` attempts in flight, calling `on_result`
/// for each host as soon as its result is known (so output streams; order is arrival order).
/// Returns every result, in arrival order.
pub async fn run(
    targets: Vec<ScanTarget>,
    kh: Arc<KnownHosts>,
    file: Arc<str>,
    opts: ScanOptions,
    mut on_result: impl FnMut(&ScanResult),
) -> Vec<ScanResult> {
    let limit = opts.concurrency.max(1);
    let index = Arc::new(HostIndex::new(&kh));
    let mut pending = targets.into_iter();
    let mut tasks = JoinSet::new();
    let mut results = Vec::new();
    loop {
        while tasks.len() < limit {
            let Some(t) = pending.next() else { break };
            let kh = Arc::clone(&kh);
            let index = Arc::clone(&index);
            let file = Arc::clone(&file);
            let timeout = opts.timeout;
            tasks.spawn(async move {
                let t0 = Instant::now();
                let mut lines = HostLines::new(&kh, &index, &t.host, t.port);
                let types = lines.known_types();
                let outcome = keyscan::fetch_host_key(&t.host, t.port, &types, timeout).await;
                let ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
                classify(&t, &mut lines, &file, &outcome, ms)
            });
        }
        match tasks.join_next().await {
            Some(Ok(r)) => {
                on_result(&r);
                results.push(r);
            }
            // A task can only fail by panicking, which the code above does not do; keep going.
            Some(Err(_)) => {}
            None => break,
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_give_hosts_and_ports() {
        assert_eq!(parse_host_pattern("h"), Some(("h".into(), 22)));
        assert_eq!(
            parse_host_pattern("[127.0.0.1]:2222"),
            Some(("127.0.0.1".into(), 2222))
        );
        assert_eq!(parse_host_pattern("[::1]:22"), Some(("::1".into(), 22)));
        assert_eq!(parse_host_pattern("*.example.com"), None);
        assert_eq!(parse_host_pattern("!bad"), None);
        assert_eq!(parse_host_pattern("[h]:x"), None);
        assert_eq!(parse_host_pattern("[h]"), None);
        assert_eq!(parse_host_pattern(""), None);
    }

    #[test]
    fn known_hosts_targets_skip_hashed_marked_and_wildcards() {
        let ed = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        let text = format!(
            "a,B,[c]:2200 ssh-ed25519 {ed}\n|1|AAAAAAAAAAAAAAAAAAAAAAAAAAA=|AAAAAAAAAAAAAAAAAAAAAAAAAAA= ssh-ed25519 {ed}\n\
             @cert-authority ca ssh-ed25519 {ed}\n*.x,b ssh-ed25519 {ed}\n"
        );
        let kh = known_hosts::parse(text.into_bytes());
        let t = targets_from_known_hosts(&kh, "kh");
        let names: Vec<String> = t.iter().map(ScanTarget::name).collect();
        assert_eq!(names, ["a", "B", "[c]:2200"]);
        assert_eq!(t[2].origin, "kh:1");
    }

    #[test]
    fn config_aliases_are_literal_host_names() {
        let cfg = "Host web db\n  HostName 10.0.0.1\nhost=*.corp !x jump # comment words\n\
                   Match host foo\nHost \"quoted\"\nHost web\n";
        assert_eq!(config_aliases(cfg), ["web", "db", "jump", "quoted"]);
    }
}

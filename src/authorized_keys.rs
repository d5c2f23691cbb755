//! A lossless reader for `authorized_keys`, written by hand.
//!
//! Why not `ssh_key::AuthorizedKeys`: it fails the whole file on an option whose quoted value holds
//! a space (`command="echo a b"`), which is ordinary in real files. sshd itself reads the file line
//! by line and skips what it cannot parse, so this parser does the same: every line is kept with
//! its exact bytes (comments, blank lines, CRLF, malformed lines), so [`AuthorizedKeys::bytes`]
//! gives back the input byte for byte and a fix can rewrite one line without touching the others.
//!
//! The option grammar and the `from=` / `expiry-time=` semantics follow OpenSSH's
//! `auth-options.c`, `match.c` and `addrmatch.c` (read, not copied): options are comma-separated,
//! names are case-insensitive, values are double-quoted with `\"` as the only escape, and an
//! unknown option makes sshd ignore the whole line.

use crate::pattern::{self, ListMatch};
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use russh::keys::ssh_key::{HashAlg, PublicKey};
use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::fix_id::FixId;

/// Key types sshd recognises at the start of a key (after the options, if any).
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
];

/// Flag options (no value) that OpenSSH 9.x accepts.
const FLAG_OPTIONS: &[&str] = &[
    "restrict",
    "cert-authority",
    "no-touch-required",
    "verify-required",
    "port-forwarding",
    "no-port-forwarding",
    "agent-forwarding",
    "no-agent-forwarding",
    "x11-forwarding",
    "no-x11-forwarding",
    "pty",
    "no-pty",
    "user-rc",
    "no-user-rc",
];

/// Options that take a quoted value.
const VALUE_OPTIONS: &[&str] = &[
    "command",
    "principals",
    "from",
    "expiry-time",
    "environment",
    "permitopen",
    "permitlisten",
    "tunnel",
];

/// Options sshd refuses to see twice on one line (it then ignores the line).
const SINGLE_OPTIONS: &[&str] = &["command", "principals", "from"];

/// One option as written: `name` or `name="value"` (value with `\"` unescaped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyOption {
    /// Lower-cased name, as sshd compares it.
    pub name: String,
    pub value: Option<String>,
}

/// A key line sshd would consider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// 1-based line number in the file.
    pub line: usize,
    pub options: Vec<KeyOption>,
    pub key_type: String,
    /// `SHA256:...`, exactly as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub comment: String,
    /// The line ends in `\r\n`.
    pub crlf: bool,
    #[serde(skip)]
    pub key: PublicKey,
}

impl Entry {
    /// The value of the first option with that name (names are case-insensitive).
    pub fn option(&self, name: &str) -> Option<&KeyOption> {
        self.options
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    pub fn has_flag(&self, name: &str) -> bool {
        self.option(name).is_some()
    }
}

/// What one physical line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    Comment,
    Entry(Box<Entry>),
    /// sshd skips this line; the reason says why in plain words.
    Malformed(String),
}

/// One physical line with its exact bytes (terminator included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub raw: Vec<u8>,
    pub kind: LineKind,
    pub crlf: bool,
}

/// A whole `authorized_keys` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorizedKeys {
    pub lines: Vec<Line>,
}

/// Parses a whole file. Never fails: what sshd would skip is kept as [`LineKind::Malformed`].
pub fn parse(data: Vec<u8>) -> AuthorizedKeys {
    let mut lines = Vec::new();
    let mut rest: &[u8] = &data;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        let (raw, tail) = match memchr::memchr(b'\n', rest) {
            Some(i) => rest.split_at(i + 1),
            None => (rest, &[][..]),
        };
        rest = tail;
        let body = raw.strip_suffix(b"\n").unwrap_or(raw);
        let crlf = body.ends_with(b"\r");
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let kind = parse_line(body, number);
        lines.push(Line {
            number,
            raw: raw.to_vec(),
            kind,
            crlf,
        });
    }
    for l in lines.iter_mut() {
        if let LineKind::Entry(e) = &mut l.kind {
            e.crlf = l.crlf;
        }
    }
    AuthorizedKeys { lines }
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn parse_line(body: &[u8], number: usize) -> LineKind {
    let start = body.iter().position(|&b| !is_ws(b)).unwrap_or(body.len());
    let text = &body[start..];
    if text.is_empty() {
        return LineKind::Blank;
    }
    if text.first() == Some(&b'#') {
        return LineKind::Comment;
    }
    let text = match std::str::from_utf8(text) {
        Ok(t) => t,
        Err(_) => return LineKind::Malformed("the line is not valid UTF-8".into()),
    };
    // sshd first tries the line as a bare key, then skips the options and tries again.
    let first = text.split([' ', '\t']).next().unwrap_or("");
    let (options, key_part) = if KEY_TYPES.contains(&first) {
        (Vec::new(), text)
    } else {
        let end = options_end(text);
        let (opts, rest) = text.split_at(end);
        match parse_options(opts) {
            Ok(o) => (o, rest.trim_start_matches([' ', '\t'])),
            Err(e) => return LineKind::Malformed(e),
        }
    };
    match parse_key(key_part) {
        Ok((key_type, key, comment)) => {
            let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
            LineKind::Entry(Box::new(Entry {
                line: number,
                options,
                key_type,
                fingerprint,
                comment,
                crlf: false,
                key,
            }))
        }
        Err(e) => LineKind::Malformed(e),
    }
}

/// Where the options end: the first whitespace outside double quotes (`\"` does not toggle).
fn options_end(text: &str) -> usize {
    let b = text.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1) == Some(&b'"') => i += 1,
            b'"' => quoted = !quoted,
            c if !quoted && is_ws(c) => return i,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// Parses `opt,opt="value",...` the way `sshauthopt_parse` does.
fn parse_options(s: &str) -> Result<Vec<KeyOption>, String> {
    let b = s.as_bytes();
    let mut out: Vec<KeyOption> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let name_start = i;
        while i < b.len() && b[i] != b',' && b[i] != b'=' {
            i += 1;
        }
        let name = s
            .get(name_start..i)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let value = if b.get(i) == Some(&b'=') {
            i += 1;
            if b.get(i) != Some(&b'"') {
                return Err(format!(
                    "option {name}= needs a double-quoted value; sshd ignores this line"
                ));
            }
            i += 1;
            let mut v = Vec::new();
            loop {
                match b.get(i) {
                    None => {
                        return Err(format!(
                            "option {name}= has no closing quote; sshd ignores this line"
                        ))
                    }
                    Some(b'\\') if b.get(i + 1) == Some(&b'"') => {
                        v.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            Some(String::from_utf8_lossy(&v).into_owned())
        } else {
            None
        };
        if name.is_empty() {
            return Err(
                "an empty option (a stray comma) before the key; sshd ignores this line".into(),
            );
        }
        let known_flag = FLAG_OPTIONS.contains(&name.as_str());
        let known_value = VALUE_OPTIONS.contains(&name.as_str());
        if !known_flag && !known_value {
            return Err(format!(
                "unknown option or key type {name:?}; sshd ignores this line"
            ));
        }
        if known_value && value.is_none() {
            return Err(format!(
                "option {name} needs a value ({name}=\"...\"); sshd ignores this line"
            ));
        }
        if known_flag && value.is_some() {
            return Err(format!(
                "option {name} takes no value; sshd ignores this line"
            ));
        }
        if SINGLE_OPTIONS.contains(&name.as_str()) && out.iter().any(|o| o.name == name) {
            return Err(format!(
                "option {name} appears twice; sshd ignores this line"
            ));
        }
        if name == "expiry-time" {
            if let Some(v) = &value {
                if parse_expiry(v).is_none() {
                    return Err(format!(
                        "expiry-time=\"{v}\" is not YYYYMMDD[HHMM[SS]][Z]; sshd ignores this line"
                    ));
                }
            }
        }
        out.push(KeyOption { name, value });
        match b.get(i) {
            None => break,
            Some(b',') => i += 1,
            Some(_) => {
                return Err("garbage after an option value; sshd ignores this line".into());
            }
        }
    }
    Ok(out)
}

/// `type base64 [comment]` into the key and its comment.
fn parse_key(s: &str) -> Result<(String, PublicKey, String), String> {
    let mut parts = s.splitn(2, [' ', '\t']);
    let key_type = parts.next().unwrap_or("").to_string();
    let rest = parts.next().unwrap_or("").trim_start_matches([' ', '\t']);
    if key_type.is_empty() {
        return Err("no key after the options".into());
    }
    if !KEY_TYPES.contains(&key_type.as_str()) {
        return Err(format!("unknown key type {key_type:?}"));
    }
    let mut parts = rest.splitn(2, [' ', '\t']);
    let blob = parts.next().unwrap_or("");
    let comment = parts
        .next()
        .unwrap_or("")
        .trim_start_matches([' ', '\t'])
        .to_string();
    if blob.is_empty() {
        return Err(format!("{key_type} without key data (truncated line?)"));
    }
    let key = PublicKey::from_openssh(&format!("{key_type} {blob}")).map_err(|e| {
        format!("the {key_type} key data does not decode ({e}); a truncated or mangled paste?")
    })?;
    Ok((key_type, key, comment))
}

impl AuthorizedKeys {
    /// The file exactly as read.
    pub fn bytes(&self) -> Vec<u8> {
        self.lines
            .iter()
            .flat_map(|l| l.raw.iter().copied())
            .collect()
    }

    /// Every key line sshd would consider, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.lines.iter().filter_map(|l| match &l.kind {
            LineKind::Entry(e) => Some(e.as_ref()),
            _ => None,
        })
    }

    /// The lines sshd skips, with the reason.
    pub fn malformed(&self) -> impl Iterator<Item = (usize, &str)> {
        self.lines.iter().filter_map(|l| match &l.kind {
            LineKind::Malformed(r) => Some((l.number, r.as_str())),
            _ => None,
        })
    }

    /// Every entry that authorizes this plain key. `cert-authority` lines are left out: they
    /// trust certificates signed by the key, never the key itself (sshd skips them too).
    pub fn matching(&self, key: &PublicKey) -> Vec<&Entry> {
        self.entries()
            .filter(|e| !e.has_flag("cert-authority") && e.key.key_data() == key.key_data())
            .collect()
    }

    /// The first entry for this key, if any.
    pub fn contains(&self, key: &PublicKey) -> Option<Entry> {
        self.matching(key).first().map(|e| (*e).clone())
    }

    /// Entries whose fingerprint (`SHA256:...`, with or without the prefix) is this one.
    pub fn matching_fingerprint(&self, fp: &str) -> Vec<&Entry> {
        let want = fp.trim().strip_prefix("SHA256:").unwrap_or(fp.trim());
        self.entries()
            .filter(|e| {
                !e.has_flag("cert-authority")
                    && e.fingerprint
                        .strip_prefix("SHA256:")
                        .unwrap_or(&e.fingerprint)
                        == want
            })
            .collect()
    }

    /// The file with `pubkey_line` appended: unchanged when that key is already there, and with a
    /// newline added first when the file lacks a final one (otherwise the new key would be glued
    /// to the last line and both would break). Pure: the caller writes it.
    pub fn append_key_bytes(&self, pubkey_line: &str) -> Vec<u8> {
        let line = pubkey_line.trim_end_matches(['\r', '\n']);
        let mut out = self.bytes();
        let present = match PublicKey::from_openssh(line) {
            Ok(k) => !self.matching(&k).is_empty(),
            Err(_) => self
                .lines
                .iter()
                .any(|l| l.raw.trim_ascii_end() == line.as_bytes()),
        };
        if present {
            return out;
        }
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        out
    }

    /// Findings about the file itself: lines sshd skips, CRLF, expired keys.
    pub fn findings(&self, path: &str, now: SystemTime) -> Vec<Finding> {
        let mut out = Vec::new();
        let bad: Vec<_> = self.malformed().collect();
        if !bad.is_empty() {
            let mut f = Finding::new(
                "authorized-keys-malformed-line",
                Severity::Warning,
                format!("{} line(s) in {path} are ignored by sshd", bad.len()),
            )
            .explain(
                "sshd reads authorized_keys line by line and silently skips any line it cannot \
                 parse, so a key on such a line never works. Typical causes are a key pasted with \
                 a line break in the middle, an unknown or misspelled option, or a missing quote.",
            );
            for (n, why) in bad {
                f = f.evidence(format!("{path}:{n}: {why}"));
            }
            out.push(f);
        }
        let crlf: Vec<usize> = self
            .lines
            .iter()
            .filter(|l| l.crlf)
            .map(|l| l.number)
            .collect();
        if !crlf.is_empty() {
            let mut f = Finding::new(
                "authorized-keys-crlf",
                Severity::Info,
                format!("{path} has Windows (CRLF) line ends"),
            )
            .explain(
                "The file was probably edited or copied on Windows. OpenSSH's sshd still accepts \
                 these keys (its base64 decoder skips the carriage return), but other tools \
                 reading the file may not; converting to plain LF is harmless.",
            )
            .fix(crate::finding::Fix::new(
                FixId::StripCrlf,
                "Convert the line ends to LF",
                format!("sed -i 's/\\r$//' {}", crate::finding::shell_quote(path)),
            ));
            for n in crlf.iter().take(5) {
                f = f.evidence(format!("{path}:{n}: ends in \\r\\n"));
            }
            out.push(f);
        }
        for e in self.entries() {
            if let Some(exp) = e.option("expiry-time").and_then(|o| o.value.as_deref()) {
                if parse_expiry(exp).is_some_and(|t| t < now) {
                    out.push(
                        Finding::new(
                            "authorized-key-expired",
                            Severity::Warning,
                            format!("The key on {path}:{} has expired", e.line),
                        )
                        .explain(
                            "Its expiry-time option is in the past, so sshd refuses this key \
                             even though it is listed.",
                        )
                        .evidence(format!("{path}:{}: expiry-time=\"{exp}\"", e.line))
                        .evidence(format!("{} {}", e.key_type, e.fingerprint)),
                    );
                }
            }
        }
        out
    }
}

/// Why sshd would refuse this entry for a client at `client_addr` at time `now`, or `None` when
/// the options let it in. Name resolution is off in sshd by default (`UseDNS no`), so the host
/// name is the address itself, as sshd does.
pub fn would_refuse(entry: &Entry, client_addr: IpAddr, now: SystemTime) -> Option<String> {
    if entry.has_flag("cert-authority") {
        return Some(format!(
            "line {} is a cert-authority line: it trusts certificates signed by this key, not \
             the key itself",
            entry.line
        ));
    }
    if let Some(pat) = entry.option("from").and_then(|o| o.value.as_deref()) {
        let ip = client_addr.to_string();
        if match_host_and_ip(&ip, &ip, pat) != 1 {
            return Some(format!(
                "from=\"{pat}\" on line {} does not include the client address {ip}",
                entry.line
            ));
        }
    }
    let mut earliest: Option<(SystemTime, &str)> = None;
    for o in entry.options.iter().filter(|o| o.name == "expiry-time") {
        if let Some(v) = o.value.as_deref() {
            if let Some(t) = parse_expiry(v) {
                if earliest.is_none_or(|(e, _)| t < e) {
                    earliest = Some((t, v));
                }
            }
        }
    }
    if let Some((t, v)) = earliest {
        if t < now {
            return Some(format!(
                "expiry-time=\"{v}\" on line {} is in the past",
                entry.line
            ));
        }
    }
    None
}

/// `match_host_and_ip`: 1 allowed, 0 not matched or negated, -1 a broken pattern list.
pub fn match_host_and_ip(host: &str, ip: &str, patterns: &str) -> i32 {
    let mip = match addr_match_list(ip, patterns) {
        AddrMatch::Error => return -1,
        AddrMatch::Negated => return 0,
        AddrMatch::Matched => 1,
        AddrMatch::NoMatch => 0,
    };
    let mhost = match_pattern_list(&host.to_ascii_lowercase(), patterns, true);
    if mhost == -1 {
        return 0;
    }
    if mhost == 0 && mip == 0 {
        return 0;
    }
    1
}

enum AddrMatch {
    Matched,
    NoMatch,
    Negated,
    Error,
}

/// `addr_match_list`: CIDR entries compared as networks, anything that is not an address compared
/// as a wildcard against the address text; a negated match wins at once.
fn addr_match_list(addr: &str, list: &str) -> AddrMatch {
    let try_addr: Option<IpAddr> = addr.parse().ok();
    let mut ret = AddrMatch::NoMatch;
    for entry in list.split(',') {
        let (neg, pat) = match entry.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, entry),
        };
        if pat.is_empty() {
            return AddrMatch::Error;
        }
        let hit = match parse_cidr(pat) {
            Cidr::Error => return AddrMatch::Error,
            Cidr::NotAnAddress => match_pattern(addr, pat),
            Cidr::Net(net, len) => try_addr.is_some_and(|a| net_match(a, net, len)),
        };
        if hit {
            if neg {
                return AddrMatch::Negated;
            }
            ret = AddrMatch::Matched;
        }
    }
    ret
}

enum Cidr {
    Net(IpAddr, u32),
    NotAnAddress,
    Error,
}

/// `addr_pton_cidr`: a bad mask or host bits set under the mask is an error for the whole list.
fn parse_cidr(p: &str) -> Cidr {
    let (a, mask) = match p.split_once('/') {
        Some((a, m)) => {
            if !m.bytes().next().is_some_and(|c| c.is_ascii_digit())
                || !m.bytes().all(|c| c.is_ascii_digit())
            {
                return Cidr::NotAnAddress;
            }
            match m.parse::<u32>() {
                Ok(v) if v <= 128 => (a, Some(v)),
                _ => return Cidr::NotAnAddress,
            }
        }
        None => (p, None),
    };
    let Ok(addr) = a.parse::<IpAddr>() else {
        return Cidr::NotAnAddress;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = mask.unwrap_or(max);
    if len > max {
        return Cidr::Error;
    }
    if masked(addr, len) != addr {
        return Cidr::Error;
    }
    Cidr::Net(addr, len)
}

fn masked(a: IpAddr, len: u32) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((u32::from(v) & m).into())
        }
        IpAddr::V6(v) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((u128::from(v) & m).into())
        }
    }
}

fn net_match(a: IpAddr, net: IpAddr, len: u32) -> bool {
    a.is_ipv4() == net.is_ipv4() && masked(a, len) == net
}

/// `match_pattern_list` as sshd's `from=` uses it: 1 when a positive pattern matches, -1 when a
/// negated one does, 0 otherwise.
pub fn match_pattern_list(s: &str, list: &str, lower: bool) -> i32 {
    match pattern::match_list(s, list, lower) {
        ListMatch::Positive => 1,
        ListMatch::Negated => -1,
        ListMatch::None => 0,
    }
}

/// Shell-style wildcard match with `*` and `?`, as sshd's `match_pattern`.
pub fn match_pattern(s: &str, pat: &str) -> bool {
    pattern::matches(s, pat)
}

/// `expiry-time` as sshd reads it: `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, in local time
/// unless it ends in `Z`/`z` (UTC).
pub fn parse_expiry(s: &str) -> Option<SystemTime> {
    let (digits, utc) = match s.strip_suffix(['Z', 'z']) {
        Some(d) => (d, true),
        None => (s, false),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r).and_then(|x| x.parse::<i64>().ok());
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, sec) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10)?, num(10..12)?, 0),
        14 => (num(8..10)?, num(10..12)?, num(12..14)?),
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let secs = if utc {
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
    } else {
        crate::sys::local_mktime(y, mo, d, h, mi, sec)?
    };
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";

    #[test]
    fn quoted_option_with_spaces_and_escaped_quote() {
        let line = format!("command=\"echo \\\"a b\\\"\",no-pty {ED} me@host\n");
        let ak = parse(line.clone().into_bytes());
        let e = ak.entries().next().expect("one entry");
        assert_eq!(
            e.option("command").and_then(|o| o.value.clone()).as_deref(),
            Some("echo \"a b\"")
        );
        assert!(e.has_flag("no-pty"));
        assert_eq!(e.comment, "me@host");
        assert_eq!(ak.bytes(), line.as_bytes());
    }

    #[test]
    fn unknown_option_is_malformed_with_line_number() {
        let ak = parse(format!("# c\n\nno-ptyy {ED}\n").into_bytes());
        let bad: Vec<_> = ak.malformed().collect();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 3);
        assert!(bad[0].1.contains("no-ptyy"));
    }

    #[test]
    fn from_patterns_follow_sshd() {
        let ip = "127.0.0.1";
        assert_eq!(match_host_and_ip(ip, ip, "127.0.0.1"), 1);
        assert_eq!(match_host_and_ip(ip, ip, "10.0.0.0/8"), 0);
        assert_eq!(match_host_and_ip(ip, ip, "127.0.0.0/8,!127.0.0.1"), 0);
        assert_eq!(match_host_and_ip(ip, ip, "127.0.0.*"), 1);
        assert_eq!(match_host_and_ip(ip, ip, "127.0.0.1/8"), -1);
        assert_eq!(match_host_and_ip(ip, ip, "*,!127.*"), 0);
    }

    #[test]
    fn expiry_in_utc() {
        let t = parse_expiry("20200101Z").expect("valid");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).ok(),
            Some(1577836800)
        );
        let t = parse_expiry("202001010102").map(|t| t > UNIX_EPOCH);
        assert_eq!(t, Some(true));
        assert!(parse_expiry("2020010").is_none());
    }
}

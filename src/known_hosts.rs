//! A lossless reader of `known_hosts` files that matches hosts exactly like OpenSSH.
//!
//! Why hand-written: the `ssh-key` crate's parser splits on single spaces (tabs and double spaces
//! fail), gives up on the whole file at the first bad line, forgets comments and blank lines, and
//! has no host matching at all. A doctor needs the opposite: every byte kept (so a repair can
//! rewrite the file without disturbing anything else), every bad line kept and named with its
//! line number, and matching that agrees with `ssh` and `ssh-keygen -F/-R` to the byte.
//!
//! The rules below follow OpenSSH's `hostfile.c` (`hostkeys_foreach_file`, `check_markers`,
//! `match_maybe_hashed`, `check_hostkeys_by_key_or_type`), `match.c` (`match_hostname`) and
//! `ssh-keygen.c` (`known_hosts_find_delete`). The notable consequences are spelled out where
//! they are implemented.
//!
//! Cost model: [`parse`] splits lines with `memchr` and records byte ranges only (one small record
//! per line, no per-line allocation). HMAC-SHA1 is computed only for hashed lines, and only when a
//! name is being matched. Strings are built only for the entries a caller asks for.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::{HashAlg, PublicKey};
use serde::Serialize;
use serde_json::Value;
use sha1::Sha1;

use crate::finding::{shell_quote, Finding, Fix, FixTarget, Severity};
use crate::fix_id::FixId;
use crate::pattern::match_pattern;

/// A parsed `known_hosts` file. It owns the original bytes; everything else is ranges into them.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    data: Vec<u8>,
    lines: Vec<Line>,
}

/// One physical line: `start..end` is its text without the `\n`, `text_end` is where OpenSSH stops
/// reading it (at the first NUL byte: it handles lines as C strings), `next` is where the next line
/// starts (after the `\n`, or the end of the file for an unterminated last line).
#[derive(Debug, Clone)]
struct Line {
    start: usize,
    end: usize,
    text_end: usize,
    next: usize,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Blank, whitespace-only or `#` comment.
    Comment,
    Entry(Fields),
    Malformed(Bad),
}

/// Byte ranges (absolute offsets into the file) of the fields of a key line.
#[derive(Debug, Clone)]
struct Fields {
    marker: Option<Marker>,
    hosts: Range<usize>,
    hashed: bool,
    key_type: Range<usize>,
    key: Range<usize>,
    comment: Range<usize>,
}

/// Why OpenSSH rejects a line, in the order `hostkeys_foreach_file` checks.
#[derive(Debug, Clone)]
enum Bad {
    /// `@` followed by something other than one `@cert-authority` / `@revoked`.
    Marker,
    /// Only a host field, nothing after it.
    NoKeyAfterHosts,
    /// Starts with `|` but is not `|1|<base64 of 20 bytes>|...`.
    Hash,
    /// Nothing (or a `#`) after the host field.
    NoKeyType,
    /// The key type word is 1 byte or 128+ bytes long, or is the last thing on the line.
    KeyTypeShape(Range<usize>),
    /// A key type OpenSSH does not know (e.g. RSA1's bit count, a typo).
    UnknownKeyType(Range<usize>),
    /// A known key type with nothing (or a `#`) after it.
    NoKeyData(Range<usize>),
}

/// What decoding a line's key blob said (see [`blob_type`]).
#[derive(Debug, Clone)]
enum KeyCheck {
    /// A comment or malformed line: there is no key to decode.
    NotAKeyLine,
    /// The blob decodes and holds this key type, which agrees with the type word.
    Type(&'static str),
    /// Why ssh cannot use the key data.
    Bad(String),
}

/// `@cert-authority` or `@revoked` in front of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Marker {
    /// The key is a CA that signs host certificates for the listed hosts.
    CertAuthority,
    /// The key must never be accepted for the listed hosts.
    Revoked,
}

impl Marker {
    pub fn as_str(self) -> &'static str {
        match self {
            Marker::CertAuthority => "cert-authority",
            Marker::Revoked => "revoked",
        }
    }
}

/// One key line, as owned strings (built on demand from the ranges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    pub marker: Option<Marker>,
    /// The host patterns, split at commas; `None` for a hashed entry (the names are not stored).
    pub hosts: Option<Vec<String>>,
    pub hashed: bool,
    pub key_type: String,
    pub key_base64: String,
    pub comment: Option<String>,
    /// The line's bytes in the file, including its `\n` when it has one.
    pub range: Range<usize>,
}

impl Entry {
    /// The key, when `ssh-key` can decode it (OpenSSH certificates and DSA keys may not decode).
    pub fn public_key(&self) -> Option<PublicKey> {
        let blob = STANDARD.decode(self.key_base64.trim()).ok()?;
        PublicKey::from_bytes(&blob).ok()
    }

    /// `SHA256:...` exactly as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> Option<String> {
        self.public_key()
            .map(|k| k.fingerprint(HashAlg::Sha256).to_string())
    }
}

/// A line that ssh cannot use, with the 1-based line number and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: usize,
    pub reason: String,
}

/// What ssh would conclude about a server key, per `check_key_in_hostkeys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A non-marker line for this host holds exactly this key.
    Match { line: usize },
    /// No non-marker line for this host holds any key: ssh asks (or, in batch mode, fails with
    /// "Host key verification failed.").
    Unknown,
    /// Lines for this host exist but none holds this key. OpenSSH 9.2 says "REMOTE HOST
    /// IDENTIFICATION HAS CHANGED" even when the known key is of a *different type* (measured: only
    /// an RSA key known, server presents ED25519), so `old_key_type` may differ from the server's.
    /// `line` is the last such line, which is the one ssh names as "Offending ... key".
    Changed {
        line: usize,
        old_fingerprint: String,
        old_key_type: String,
    },
    /// A `@revoked` line for this host holds this key; this wins over a match.
    Revoked { line: usize },
}

/// A known_hosts file with some lines taken out, and which lines they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub bytes: Vec<u8>,
    pub removed_lines: Vec<usize>,
}

/// Parses a known_hosts file. Never fails: lines OpenSSH would reject are kept and reported by
/// [`KnownHosts::problems`].
///
/// Big files are classified on one thread per core: the file is cut into contiguous pieces at
/// line ends, the lines of each piece are counted first so every thread writes its records into
/// its own slice of one exactly-sized vector (no second copy of the records at any moment, which
/// keeps peak memory near the file size plus one small record per line).
pub fn parse(data: Vec<u8>) -> KnownHosts {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pieces = if threads < 2 || data.len() < PARALLEL_BYTES {
        std::iter::once(0..data.len()).collect()
    } else {
        split_at_line_ends(&data, threads)
    };
    let counts: Vec<usize> = pieces
        .iter()
        .map(|r| line_count(data.get(r.clone()).unwrap_or(&[])))
        .collect();
    let total = counts.iter().sum();
    let blank = Line {
        start: 0,
        end: 0,
        text_end: 0,
        next: 0,
        kind: Kind::Comment,
    };
    let mut lines = crate::mem::vec_with_capacity(total);
    lines.resize(total, blank);
    if pieces.len() == 1 {
        classify_lines(&data, 0..data.len(), &mut lines);
    } else {
        let mut slots: Vec<&mut [Line]> = Vec::with_capacity(pieces.len());
        let mut rest: &mut [Line] = &mut lines;
        for &n in &counts {
            let (head, tail) = rest.split_at_mut(n.min(rest.len()));
            slots.push(head);
            rest = tail;
        }
        let data = &data;
        std::thread::scope(|s| {
            for (piece, slot) in pieces.into_iter().zip(slots) {
                s.spawn(move || classify_lines(data, piece, slot));
            }
        });
    }
    KnownHosts { data, lines }
}

/// Whether a key line's host field matches `name` (hashed lines: the exact bytes, as OpenSSH
/// hashes them; plain lines: `name_lower` against the lowercased patterns).
fn fields_match(data: &[u8], f: &Fields, name: &[u8], name_lower: &[u8]) -> bool {
    let field = &data[f.hosts.clone()];
    if f.hashed {
        hashed_matches(field, name)
    } else {
        match_hostname(name_lower, field) == 1
    }
}

/// A key line found by [`find_in`]: its number, where its text is, and its marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub line: usize,
    /// The line as OpenSSH reads it: up to a NUL byte, without the `\n`.
    pub text: Range<usize>,
    pub marker: Option<Marker>,
}

/// One lookup in a file read once (`known-hosts find`, `remove`): the key lines matching `name`,
/// found without building [`parse`]'s table of every line. Each core walks a piece of the file,
/// classifies each line exactly as `parse` does and keeps only the matches, so a 10^5-line file
/// costs no per-line record at all. `unmarked_only`: skip `@cert-authority`/`@revoked` lines
/// (what removal skips). Same answers as [`KnownHosts::find`] (a proptest keeps them equal).
pub fn find_in(data: &[u8], name: &str, unmarked_only: bool) -> Vec<Found> {
    let lower = name.to_ascii_lowercase();
    let (name, lower) = (name.as_bytes(), lower.as_bytes());
    let walk = |piece: Range<usize>| -> (usize, Vec<Found>) {
        let mut found = Vec::new();
        let (mut start, mut n) = (piece.start, 0usize);
        while start < piece.end {
            let rest = &data[start..piece.end];
            let (end, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (start + i, start + i + 1),
                None => (piece.end, piece.end),
            };
            let text_end = memchr::memchr(0, &data[start..end]).map_or(end, |i| start + i);
            if let Kind::Entry(f) = classify(data, start, text_end) {
                if (!unmarked_only || f.marker.is_none()) && fields_match(data, &f, name, lower) {
                    found.push(Found {
                        line: n,
                        text: start..text_end,
                        marker: f.marker,
                    });
                }
            }
            n += 1;
            start = next;
        }
        (n, found)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pieces: Vec<Range<usize>> = if threads < 2 || data.len() < PARALLEL_BYTES {
        std::iter::once(0..data.len()).collect()
    } else {
        split_at_line_ends(data, threads)
    };
    let results: Vec<(usize, Vec<Found>)> = if pieces.len() == 1 {
        vec![walk(0..data.len())]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = pieces
                .iter()
                .cloned()
                .map(|piece| {
                    let walk = &walk;
                    s.spawn(move || walk(piece))
                })
                .collect();
            handles
                .into_iter()
                .zip(pieces.iter().cloned())
                // A piece's thread only runs the pure walk above; if it ever died, the piece is
                // walked again here rather than silently dropped.
                .map(|(h, piece)| h.join().unwrap_or_else(|_| walk(piece)))
                .collect()
        })
    };
    // Local line indices become 1-based file line numbers.
    let mut base = 0;
    let mut out = Vec::new();
    for (count, found) in results {
        out.extend(found.into_iter().map(|mut f| {
            f.line += base + 1;
            f
        }));
        base += count;
    }
    out
}

/// [`find_output`] for a file read once, through [`find_in`].
pub fn find_output_in(data: &[u8], name: &str) -> String {
    let mut out = String::new();
    for f in find_in(data, name, false) {
        let tag = match f.marker {
            Some(Marker::CertAuthority) => "CA",
            Some(Marker::Revoked) => "REVOKED",
            None => "",
        };
        out.push_str(&format!("# Host {name} found: line {} {tag}\n", f.line));
        out.push_str(&String::from_utf8_lossy(&data[f.text.clone()]));
        out.push('\n');
    }
    out
}

/// Files smaller than this are parsed on one thread (about 7,000 typical lines).
const PARALLEL_BYTES: usize = 2 * 1024 * 1024;

/// `parts` contiguous ranges covering `data`, each ending just after a `\n` (the last one at the
/// end of the data), so no line straddles two ranges.
fn split_at_line_ends(data: &[u8], parts: usize) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for k in 1..parts {
        let guess = (data.len() / parts * k).max(start);
        let cut = match data.get(guess..).and_then(|d| memchr::memchr(b'\n', d)) {
            Some(i) => guess + i + 1,
            None => data.len(),
        };
        out.push(start..cut);
        start = cut;
    }
    out.push(start..data.len());
    out
}

/// Lines in `piece` as [`parse`] counts them: one per `\n`, plus an unterminated last line.
fn line_count(piece: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', piece).count()
        + usize::from(piece.last().is_some_and(|&b| b != b'\n'))
}

/// Records the lines of `range` (which starts at a line start) into `out`, which holds exactly
/// [`line_count`] slots for it.
fn classify_lines(data: &[u8], range: Range<usize>, out: &mut [Line]) {
    let mut start = range.start;
    for slot in out.iter_mut() {
        if start >= range.end {
            break;
        }
        let rest = data.get(start..range.end).unwrap_or(&[]);
        let (end, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (start + i, start + i + 1),
            None => (range.end, range.end),
        };
        let text = data.get(start..end).unwrap_or(&[]);
        let text_end = memchr::memchr(0, text).map_or(end, |i| start + i);
        *slot = Line {
            start,
            end,
            text_end,
            next,
            kind: classify(data, start, text_end),
        };
        start = next;
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// First index at or after `i` (bounded by `end`) where `pred` holds, or `end`.
fn scan(data: &[u8], mut i: usize, end: usize, pred: impl Fn(u8) -> bool) -> usize {
    while i < end && !data.get(i).is_some_and(|&b| pred(b)) {
        i += 1;
    }
    i
}

/// First space or tab at or after `i` (bounded by `end`), or `end`. The key field is most of a
/// line's bytes, so this runs `memchr2` rather than a byte loop.
fn to_blank(data: &[u8], i: usize, end: usize) -> usize {
    data.get(i..end)
        .and_then(|d| memchr::memchr2(b' ', b'\t', d))
        .map_or(end, |k| i + k)
}

/// Classifies one line exactly as `hostkeys_foreach_file` does when given a host to match and
/// without key parsing (the mode of `ssh-keygen -F` and `-R`).
fn classify(data: &[u8], start: usize, end: usize) -> Kind {
    let mut cp = scan(data, start, end, |b| !is_blank(b));
    if cp == end || data.get(cp) == Some(&b'#') {
        return Kind::Comment;
    }
    let marker = match check_markers(data, &mut cp, end) {
        Ok(m) => m,
        Err(()) => return Kind::Malformed(Bad::Marker),
    };
    let hosts_end = to_blank(data, cp, end);
    if hosts_end == end {
        return Kind::Malformed(Bad::NoKeyAfterHosts);
    }
    let hosts = cp..hosts_end;
    let hashed = data.get(hosts.start) == Some(&b'|');
    if hashed && decode_salt(&data[hosts.clone()]).is_none() {
        return Kind::Malformed(Bad::Hash);
    }
    let kt_start = scan(data, hosts_end, end, |b| !is_blank(b));
    if kt_start == end || data.get(kt_start) == Some(&b'#') {
        return Kind::Malformed(Bad::NoKeyType);
    }
    let kt_end = to_blank(data, kt_start, end);
    let key_type = kt_start..kt_end;
    let len = kt_end - kt_start;
    if len <= 1 || len >= 128 || kt_end == end {
        return Kind::Malformed(Bad::KeyTypeShape(key_type));
    }
    if blob_types(&data[key_type.clone()]).is_none() {
        return Kind::Malformed(Bad::UnknownKeyType(key_type));
    }
    let key_start = scan(data, kt_end, end, |b| !is_blank(b));
    if key_start == end || data.get(key_start) == Some(&b'#') {
        return Kind::Malformed(Bad::NoKeyData(key_type));
    }
    let key_end = to_blank(data, key_start, end);
    let comment_start = scan(data, key_end, end, |b| !is_blank(b));
    let comment_end = end
        - data[comment_start..end]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    Kind::Entry(Fields {
        marker,
        hosts,
        hashed,
        key_type,
        key: key_start..key_end,
        comment: comment_start..comment_end.max(comment_start),
    })
}

/// OpenSSH's `check_markers`, quirks included: the marker word ends at the first space *anywhere*
/// on the line (or, if there is none, the first tab), must be 2..=31 bytes long, and only one
/// marker is allowed.
fn check_markers(data: &[u8], cp: &mut usize, end: usize) -> Result<Option<Marker>, ()> {
    let mut marker = None;
    while data.get(*cp) == Some(&b'@') {
        if marker.is_some() {
            return Err(());
        }
        let rest = &data[*cp..end];
        let sp = memchr::memchr(b' ', rest)
            .or_else(|| memchr::memchr(b'\t', rest))
            .ok_or(())?;
        if sp <= 1 || sp >= 32 {
            return Err(());
        }
        marker = Some(match &rest[..sp] {
            b"@cert-authority" => Marker::CertAuthority,
            b"@revoked" => Marker::Revoked,
            _ => return Err(()),
        });
        *cp = scan(data, *cp + sp, end, |b| !is_blank(b));
    }
    Ok(marker)
}

const HASH_MAGIC: &[u8] = b"|1|";

/// The salt of a hashed host field `|1|salt|hash`, as `extract_salt` accepts it: base64 of exactly
/// 20 bytes, at most 1024 characters, canonical (OpenSSH's `b64_pton` rejects non-zero pad bits).
fn decode_salt(field: &[u8]) -> Option<([u8; 20], usize)> {
    let rest = field.strip_prefix(HASH_MAGIC)?;
    let delim = memchr::memchr(b'|', rest)?;
    if delim == 0 || delim > 1024 {
        return None;
    }
    let mut salt = [0u8; 20];
    let mut buf = [0u8; 1024];
    let n = STANDARD.decode_slice(&rest[..delim], &mut buf).ok()?;
    if n != 20 {
        return None;
    }
    salt.copy_from_slice(buf.get(..20)?);
    Some((salt, HASH_MAGIC.len() + delim + 1))
}

/// `match_maybe_hashed` for a hashed field: HMAC-SHA1 of `name` keyed by the salt, base64-encoded,
/// must equal everything after the salt's closing `|`.
fn hashed_matches(field: &[u8], name: &[u8]) -> bool {
    let Some((salt, hash_at)) = decode_salt(field) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name);
    let digest = mac.finalize().into_bytes();
    let mut enc = [0u8; 28];
    match STANDARD.encode_slice(digest.as_slice(), &mut enc) {
        Ok(n) => field.get(hash_at..) == enc.get(..n),
        Err(_) => false,
    }
}

/// OpenSSH's `match_hostname`: `name` must already be lowercase; the pattern list is lowercased
/// byte by byte (ASCII only, as `tolower` in the C locale). Returns -1 when a `!pattern` matches
/// (the line then does not match, whatever else matched), 1 on a positive match, 0 otherwise.
/// A sub-pattern of 1023 bytes or more makes the whole list fail, as OpenSSH's fixed buffer does.
fn match_hostname(name: &[u8], patterns: &[u8]) -> i32 {
    let mut sub = [0u8; 1023];
    let mut got_positive = false;
    let mut i = 0;
    while i < patterns.len() {
        let negated = patterns.get(i) == Some(&b'!');
        if negated {
            i += 1;
        }
        let mut n = 0;
        while n < sub.len() - 1 {
            match patterns.get(i) {
                Some(&c) if c != b',' => {
                    sub[n] = c.to_ascii_lowercase();
                    n += 1;
                    i += 1;
                }
                _ => break,
            }
        }
        if n >= sub.len() - 1 {
            return 0;
        }
        if patterns.get(i) == Some(&b',') {
            i += 1;
        }
        if match_pattern(name, &sub[..n]) {
            if negated {
                return -1;
            }
            got_positive = true;
        }
    }
    i32::from(got_positive)
}

/// The blob type names a key type word may carry, per OpenSSH 9.2's `sshkey_type_from_name`:
/// the full names, plus the case-insensitive short names (`RSA`, `ED25519`, ...) of plain types.
/// `None` means OpenSSH does not know the word and rejects the line.
fn blob_types(word: &[u8]) -> Option<&'static [&'static str]> {
    const ED: &[&str] = &["ssh-ed25519"];
    const ED_SK: &[&str] = &["sk-ssh-ed25519@openssh.com"];
    const EC: &[&str] = &[
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ];
    const EC_SK: &[&str] = &["sk-ecdsa-sha2-nistp256@openssh.com"];
    const DSA: &[&str] = &["ssh-dss"];
    const RSA: &[&str] = &["ssh-rsa"];
    const RSA_CERT: &[&str] = &["ssh-rsa-cert-v01@openssh.com"];
    const FULL: &[(&str, &[&str])] = &[
        ("ssh-ed25519", ED),
        ("sk-ssh-ed25519@openssh.com", ED_SK),
        ("ecdsa-sha2-nistp256", &["ecdsa-sha2-nistp256"]),
        ("ecdsa-sha2-nistp384", &["ecdsa-sha2-nistp384"]),
        ("ecdsa-sha2-nistp521", &["ecdsa-sha2-nistp521"]),
        ("sk-ecdsa-sha2-nistp256@openssh.com", EC_SK),
        ("webauthn-sk-ecdsa-sha2-nistp256@openssh.com", EC_SK),
        ("ssh-dss", DSA),
        ("ssh-rsa", RSA),
        ("rsa-sha2-256", RSA),
        ("rsa-sha2-512", RSA),
        (
            "ssh-ed25519-cert-v01@openssh.com",
            &["ssh-ed25519-cert-v01@openssh.com"],
        ),
        (
            "sk-ssh-ed25519-cert-v01@openssh.com",
            &["sk-ssh-ed25519-cert-v01@openssh.com"],
        ),
        (
            "ecdsa-sha2-nistp256-cert-v01@openssh.com",
            &["ecdsa-sha2-nistp256-cert-v01@openssh.com"],
        ),
        (
            "ecdsa-sha2-nistp384-cert-v01@openssh.com",
            &["ecdsa-sha2-nistp384-cert-v01@openssh.com"],
        ),
        (
            "ecdsa-sha2-nistp521-cert-v01@openssh.com",
            &["ecdsa-sha2-nistp521-cert-v01@openssh.com"],
        ),
        (
            "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
            &["sk-ecdsa-sha2-nistp256-cert-v01@openssh.com"],
        ),
        (
            "ssh-dss-cert-v01@openssh.com",
            &["ssh-dss-cert-v01@openssh.com"],
        ),
        ("ssh-rsa-cert-v01@openssh.com", RSA_CERT),
        ("rsa-sha2-256-cert-v01@openssh.com", RSA_CERT),
        ("rsa-sha2-512-cert-v01@openssh.com", RSA_CERT),
    ];
    const SHORT: &[(&str, &[&str])] = &[
        ("ED25519", ED),
        ("ED25519-SK", ED_SK),
        ("ECDSA", EC),
        ("ECDSA-SK", EC_SK),
        ("DSA", DSA),
        ("RSA", RSA),
    ];
    FULL.iter()
        .find(|(name, _)| name.as_bytes() == word)
        .or_else(|| {
            SHORT
                .iter()
                .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(word))
        })
        .map(|(_, types)| *types)
}

/// The type name inside a base64 key blob, when the blob decodes and agrees with the key type word
/// (what `sshkey_read` checks before ssh will use a line). `Err` says why not, in plain words.
fn blob_type(key_type: &[u8], key_b64: &[u8]) -> Result<&'static str, String> {
    blob_type_in(key_type, key_b64, &mut Vec::new())
}

/// [`blob_type`] decoding into `buf`, so a pass over many lines reuses one allocation.
fn blob_type_in(
    key_type: &[u8],
    key_b64: &[u8],
    buf: &mut Vec<u8>,
) -> Result<&'static str, String> {
    let allowed = blob_types(key_type).unwrap_or(&[]);
    let trimmed = key_b64.trim_ascii_end();
    buf.clear();
    STANDARD
        .decode_vec(trimmed, buf)
        .map_err(|_| "the key data is not valid base64".to_string())?;
    let blob: &[u8] = buf;
    let name_len = blob
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| "the key data is truncated".to_string())?;
    let name = usize::try_from(name_len)
        .ok()
        .and_then(|n| blob.get(4..4usize.checked_add(n)?))
        .ok_or_else(|| "the key data is truncated".to_string())?;
    allowed
        .iter()
        .find(|t| t.as_bytes() == name)
        .copied()
        .ok_or_else(|| {
            format!(
                "the key data holds a {} key, not {}",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(key_type)
            )
        })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The name ssh looks up for a host and port: `host` on port 22 (or 0, "default"), else
/// `[host]:port`, as OpenSSH's `put_host_port`.
pub fn host_port_name(host: &str, port: u16) -> String {
    if port == 22 || port == 0 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

impl KnownHosts {
    /// The file exactly as it was given.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The file's bytes, given back without a copy.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// Number of lines (a final line without `\n` counts; an empty file has none).
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    fn entry(&self, index: usize, line: &Line, f: &Fields) -> Entry {
        entry_in(&self.data, index, line, f)
    }

    fn fields(&self) -> impl Iterator<Item = (usize, &Line, &Fields)> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match &l.kind {
                Kind::Entry(f) => Some((i, l, f)),
                _ => None,
            })
    }

    /// Every key line OpenSSH's line reader accepts, in file order (markers included).
    pub fn entries(&self) -> Vec<Entry> {
        self.entries_iter().collect()
    }

    /// [`Self::entries`] one at a time, for output that streams.
    pub fn entries_iter(&self) -> impl Iterator<Item = Entry> + '_ {
        self.fields().map(|(i, l, f)| self.entry(i, l, f))
    }

    /// Lines ssh cannot use: lines `ssh-keygen` calls invalid (and which make `ssh-keygen -R`
    /// refuse the whole file), plus key lines whose key data ssh cannot decode (ssh skips them).
    pub fn problems(&self) -> Vec<Problem> {
        self.problems_from(&self.key_checks())
    }

    /// [`Self::problems`] from the per-line key checks of [`Self::key_checks`].
    fn problems_from(&self, checks: &[KeyCheck]) -> Vec<Problem> {
        let mut out = Vec::new();
        for (i, (line, check)) in self.lines.iter().zip(checks).enumerate() {
            let reason = match (&line.kind, check) {
                (Kind::Malformed(bad), _) => Some(self.reason(bad, line)),
                (Kind::Entry(_), KeyCheck::Bad(why)) => {
                    Some(format!("ssh ignores this line: {why}"))
                }
                _ => None,
            };
            if let Some(reason) = reason {
                out.push(Problem {
                    line: i + 1,
                    reason,
                });
            }
        }
        out
    }

    /// Decodes every key line's blob once (what `problems` and the duplicate check both need),
    /// one contiguous chunk of lines per core for big files, one reused buffer per chunk.
    fn key_checks(&self) -> Vec<KeyCheck> {
        let check_chunk = |chunk: &[Line]| -> Vec<KeyCheck> {
            let mut buf = Vec::new();
            chunk
                .iter()
                .map(|l| match &l.kind {
                    Kind::Entry(f) => match blob_type_in(
                        &self.data[f.key_type.clone()],
                        &self.data[f.key.clone()],
                        &mut buf,
                    ) {
                        Ok(t) => KeyCheck::Type(t),
                        Err(why) => KeyCheck::Bad(why),
                    },
                    _ => KeyCheck::NotAKeyLine,
                })
                .collect()
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || self.lines.len() < PARALLEL_LINES {
            return check_chunk(&self.lines);
        }
        let size = self.lines.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .lines
                .chunks(size)
                .map(|chunk| {
                    let check_chunk = &check_chunk;
                    s.spawn(move || check_chunk(chunk))
                })
                .collect();
            let mut out = Vec::with_capacity(self.lines.len());
            for (k, h) in handles.into_iter().enumerate() {
                // Only the pure decoder runs in a chunk thread; if one ever died, its lines are
                // checked again here rather than silently dropped.
                out.extend(h.join().unwrap_or_else(|_| {
                    let start = k * size;
                    let end = (start + size).min(self.lines.len());
                    check_chunk(self.lines.get(start..end).unwrap_or(&[]))
                }));
            }
            out
        })
    }

    fn reason(&self, bad: &Bad, line: &Line) -> String {
        reason_in(&self.data, bad, line)
    }

    /// Whether an accepted key line matches a literal name, as `match_maybe_hashed`: hashed lines
    /// hash `name` as given; plain lines compare the lowercased name against the pattern list.
    fn matches(&self, f: &Fields, name: &[u8], name_lower: &[u8]) -> bool {
        fields_match(&self.data, f, name, name_lower)
    }

    /// The key lines `ssh-keygen -F NAME` prints. NAME is taken literally (`[h]:2222` for a port):
    /// plain patterns match it case-insensitively, but hashed lines only match the exact bytes, so
    /// `-F Example.COM` misses a hashed `example.com` entry (ssh itself lowercases first).
    pub fn find(&self, name: &str) -> Vec<Entry> {
        let lower = name.to_ascii_lowercase();
        self.matching(name.as_bytes(), lower.as_bytes(), |_| true)
            .into_iter()
            .filter_map(|i| self.entry_at(i))
            .collect()
    }

    /// The entry of line index `i`, if that line is a key line.
    fn entry_at(&self, i: usize) -> Option<Entry> {
        let line = self.lines.get(i)?;
        match &line.kind {
            Kind::Entry(f) => Some(self.entry(i, line, f)),
            _ => None,
        }
    }

    /// Indices of the key lines that match `name` (and pass `keep`), in file order. Hashed lines
    /// cost an HMAC each, so big files are split into one contiguous chunk per core; below
    /// [`PARALLEL_LINES`] a thread costs more than it saves.
    fn matching(
        &self,
        name: &[u8],
        lower: &[u8],
        keep: impl Fn(&Fields) -> bool + Sync,
    ) -> Vec<usize> {
        let scan_chunk = |base: usize, chunk: &[Line]| -> Vec<usize> {
            chunk
                .iter()
                .enumerate()
                .filter_map(|(j, l)| match &l.kind {
                    Kind::Entry(f) if keep(f) && self.matches(f, name, lower) => Some(base + j),
                    _ => None,
                })
                .collect()
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || self.lines.len() < PARALLEL_LINES {
            return scan_chunk(0, &self.lines);
        }
        let size = self.lines.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .lines
                .chunks(size)
                .enumerate()
                .map(|(k, chunk)| {
                    let scan_chunk = &scan_chunk;
                    s.spawn(move || scan_chunk(k * size, chunk))
                })
                .collect();
            handles
                .into_iter()
                // A chunk thread only runs the pure matcher above; if it ever died, its lines
                // are matched again here rather than silently dropped.
                .enumerate()
                .flat_map(|(k, h)| {
                    h.join().unwrap_or_else(|_| {
                        let start = k * size;
                        let end = (start + size).min(self.lines.len());
                        scan_chunk(start, self.lines.get(start..end).unwrap_or(&[]))
                    })
                })
                .collect()
        })
    }

    /// The key lines ssh consults when connecting to `host` on `port`: ssh lowercases the host,
    /// looks up [`host_port_name`], and skips lines whose key data it cannot decode.
    pub fn lookup(&self, host: &str, port: u16) -> Vec<Entry> {
        let name = host_port_name(&host.to_ascii_lowercase(), port);
        self.matching(name.as_bytes(), name.as_bytes(), |f| self.decodes(f))
            .into_iter()
            .filter_map(|i| self.entry_at(i))
            .collect()
    }

    /// Whether ssh can decode the line's key (lines it cannot are skipped by lookups).
    fn decodes(&self, f: &Fields) -> bool {
        blob_type(&self.data[f.key_type.clone()], &self.data[f.key.clone()]).is_ok()
    }

    /// Whether line index `i` is a key line ssh consults for `name` (already lowercased).
    fn consulted(&self, i: usize, name: &[u8]) -> bool {
        match self.lines.get(i).map(|l| &l.kind) {
            Some(Kind::Entry(f)) => self.decodes(f) && self.matches(f, name, name),
            _ => false,
        }
    }

    /// The entry on 1-based line `n`, if that line is a key line.
    pub fn entry_on_line(&self, n: usize) -> Option<Entry> {
        self.entry_at(n.checked_sub(1)?)
    }
}

/// Many lookups in one file (the scan asks about every host in it). Plain lines are found
/// through a map from each literal host pattern (lowercased, as ssh compares), so a host costs a
/// map probe plus the few wildcard lines instead of a pass over 10^5 lines; every candidate is
/// still confirmed by the same matcher as [`KnownHosts::lookup`], so the answers are the same.
/// Hashed lines cost an HMAC each and cannot be indexed: [`HostIndex::lookup_cheap`] tries only
/// the hashed lines carrying a marker (few), [`HostIndex::lookup`] all of them.
#[derive(Debug, Clone, Default)]
pub struct HostIndex {
    literal: HashMap<Vec<u8>, Vec<usize>>,
    /// Plain lines with a wildcard (or an over-long) pattern: tried for every host.
    wildcard: Vec<usize>,
    /// Hashed `@cert-authority` / `@revoked` lines.
    hashed_marked: Vec<usize>,
}

impl HostIndex {
    pub fn new(kh: &KnownHosts) -> HostIndex {
        let mut ix = HostIndex::default();
        for (i, line) in kh.lines.iter().enumerate() {
            let Kind::Entry(f) = &line.kind else { continue };
            if f.hashed {
                if f.marker.is_some() {
                    ix.hashed_marked.push(i);
                }
                continue;
            }
            let field = &kh.data[f.hosts.clone()];
            let mut indexed = Vec::new();
            let mut scan_always = false;
            for pat in field.split(|&b| b == b',') {
                if pat.first() == Some(&b'!') {
                    continue; // a negation only ever takes a match away
                }
                if pat.contains(&b'*') || pat.contains(&b'?') || pat.len() >= 1022 {
                    scan_always = true;
                } else {
                    indexed.push(pat.to_ascii_lowercase());
                }
            }
            if scan_always {
                ix.wildcard.push(i);
            } else {
                indexed.dedup();
                for pat in indexed {
                    ix.literal.entry(pat).or_default().push(i);
                }
            }
        }
        ix
    }

    /// The lines [`KnownHosts::lookup`] gives for `host:port`, except unmarked hashed lines.
    /// When these already hold the key a server showed, the hashed ones cannot change ssh's
    /// verdict (a match anywhere is a match; every `@revoked` line is here).
    pub fn lookup_cheap(&self, kh: &KnownHosts, host: &str, port: u16) -> Vec<Entry> {
        let name = host_port_name(&host.to_ascii_lowercase(), port);
        let mut idx: Vec<usize> = self
            .literal
            .get(name.as_bytes())
            .into_iter()
            .flatten()
            .chain(&self.wildcard)
            .chain(&self.hashed_marked)
            .copied()
            .collect();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter()
            .filter(|&i| kh.consulted(i, name.as_bytes()))
            .filter_map(|i| kh.entry_at(i))
            .collect()
    }

    /// Exactly [`KnownHosts::lookup`]: [`HostIndex::lookup_cheap`] plus every hashed line.
    pub fn lookup(&self, kh: &KnownHosts, host: &str, port: u16) -> Vec<Entry> {
        let name = host_port_name(&host.to_ascii_lowercase(), port);
        let n = name.as_bytes();
        let mut idx: Vec<usize> = self
            .literal
            .get(n)
            .into_iter()
            .flatten()
            .chain(&self.wildcard)
            .copied()
            .filter(|&i| kh.consulted(i, n))
            .collect();
        idx.extend(kh.matching(n, n, |f| f.hashed && kh.decodes(f)));
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().filter_map(|i| kh.entry_at(i)).collect()
    }
}

/// Exactly what `ssh-keygen -F NAME -f FILE` prints on stdout: for each matching line
/// `# Host NAME found: line N ` plus `CA` / `REVOKED` for marked lines, then the line itself as
/// OpenSSH read it (up to a NUL byte; a CR of a CRLF line is kept). Empty when nothing matches
/// (ssh-keygen then exits 1). Bytes that are not UTF-8 come out as U+FFFD.
pub fn find_output(kh: &KnownHosts, name: &str) -> String {
    find_output_in(&kh.data, name)
}

/// The file `ssh-keygen -R NAME` would leave: every unmarked key line matching NAME is dropped
/// (with its line end); `@cert-authority` and `@revoked` lines, comments, malformed lines, CRLF
/// line ends and every other byte stay. Unlike ssh-keygen this also works on files it refuses
/// (CRLF, malformed lines) and never truncates a line at a NUL byte, and it adds nothing: where
/// ssh-keygen ends an unterminated last line with `\n` (a lone LF in a CRLF file), the file keeps
/// its own convention. When nothing matched the bytes are returned unchanged.
pub fn remove_host(kh: &KnownHosts, name: &str) -> Removal {
    let removed_lines = lines_to_remove(kh, name);
    let drop: Vec<usize> = removed_lines.iter().map(|n| n - 1).collect();
    let mut bytes = Vec::with_capacity(kh.data.len());
    // Copy the runs of kept lines between removed ones in one go each.
    let mut from = 0;
    for &i in &drop {
        if let Some(line) = kh.lines.get(i) {
            bytes.extend_from_slice(kh.data.get(from..line.start).unwrap_or(&[]));
            from = line.next;
        }
    }
    bytes.extend_from_slice(kh.data.get(from..).unwrap_or(&[]));
    if removed_lines.is_empty() {
        return Removal {
            bytes: kh.data.clone(),
            removed_lines,
        };
    }
    Removal {
        bytes,
        removed_lines,
    }
}

/// The 1-based numbers of the lines [`remove_host`] drops for `name`, without building the new
/// bytes (the fix planner builds them once, for every name together).
pub fn lines_to_remove(kh: &KnownHosts, name: &str) -> Vec<usize> {
    let lower = name.to_ascii_lowercase();
    kh.matching(name.as_bytes(), lower.as_bytes(), |f| f.marker.is_none())
        .into_iter()
        .map(|i| i + 1)
        .collect()
}

/// What ssh decides about `key` presented by `host:port`, following `check_key_in_hostkeys`:
/// a `@revoked` line holding the key wins; otherwise any unmarked line with the same key is a
/// match; otherwise any unmarked line at all (of any key type) makes it "changed".
pub fn check_host_key(kh: &KnownHosts, host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
    check_host_key_in(&kh.lookup(host, port), key)
}

/// [`check_host_key`] over the lines a lookup already found (in file order).
pub fn check_host_key_in(entries: &[Entry], key: &PublicKey) -> HostKeyStatus {
    let mut status = HostKeyStatus::Unknown;
    let mut revoked = None;
    for e in entries {
        let Some(pk) = e.public_key() else { continue };
        let same = pk.key_data() == key.key_data();
        match e.marker {
            Some(Marker::Revoked) if same && revoked.is_none() => revoked = Some(e.line),
            Some(_) => {}
            None if matches!(status, HostKeyStatus::Match { .. }) => {}
            None if same => status = HostKeyStatus::Match { line: e.line },
            None => {
                status = HostKeyStatus::Changed {
                    line: e.line,
                    old_fingerprint: pk.fingerprint(HashAlg::Sha256).to_string(),
                    old_key_type: pk.algorithm().as_str().to_string(),
                }
            }
        }
    }
    match revoked {
        Some(line) => HostKeyStatus::Revoked { line },
        None => status,
    }
}

/// Files with fewer lines are matched on one thread.
const PARALLEL_LINES: usize = 20_000;

/// How many malformed lines to name one by one before summarizing.
const EVIDENCE_LIMIT: usize = 20;

/// Findings about one known_hosts file named `file`, the path as shown to the user, in the
/// text and in the fixes' targets.
pub fn findings(kh: &KnownHosts, file: &str) -> Vec<Finding> {
    findings_at(kh, Path::new(file), file)
}

/// Findings about the known_hosts file at `path`, shown to the user as `shown` (`~/.ssh/...`);
/// the fixes act on `path`.
///
/// Every key blob is decoded once for the whole file (in parallel on big files) and both the
/// malformed-line and the duplicate checks read that result.
pub fn findings_at(kh: &KnownHosts, path: &Path, shown: &str) -> Vec<Finding> {
    let mut out = shown_findings(kh, shown);
    for fix in out.iter_mut().flat_map(|f| f.fixes.iter_mut()) {
        fix.target = match std::mem::take(&mut fix.target) {
            FixTarget::Path(_) => FixTarget::Path(path.to_path_buf()),
            FixTarget::KnownHostsName { name, .. } => FixTarget::KnownHostsName {
                file: path.to_path_buf(),
                name,
            },
            other => other,
        };
    }
    out
}

fn shown_findings(kh: &KnownHosts, file: &str) -> Vec<Finding> {
    let checks = kh.key_checks();
    let mut out = Vec::new();
    if let Some(f) = malformed_finding(kh, &checks, file) {
        out.push(f);
    }
    out.extend(duplicate_findings(kh, &checks, file));
    out.extend(revoked_findings(kh, file));
    out.extend(final_newline_finding(kh, file));
    out
}

/// `known-hosts-no-final-newline`: measured with OpenSSH 9.2, ssh appends a newly accepted host
/// key right after the file's last byte without adding a newline, so the last entry and the new
/// one run together into one line ssh cannot read.
fn final_newline_finding(kh: &KnownHosts, file: &str) -> Option<Finding> {
    let data = kh.bytes();
    if data.is_empty() || data.ends_with(b"\n") {
        return None;
    }
    Some(
        Finding::new(
            "known-hosts-no-final-newline",
            Severity::Warning,
            format!("{file} does not end with a newline: ssh's next new host key will run into its last line"),
        )
        .explain(
            "When ssh adds a host key (\"Permanently added ... to the list of known hosts\"), it \
             writes it right after the last byte of the file without adding a newline first, so \
             the last entry and the new one become one line that ssh cannot read: both hosts then \
             look unknown. Ending the last line now prevents it.",
        )
        .evidence(format!("{file}:{}: last line has no line end", kh.line_count()))
        .fix(Fix::new(
            FixId::KnownHostsAddFinalNewline,
            "End the last line with the file's own line end",
            format!("sshdoctor fix known-hosts-add-final-newline {}", crate::finding::shell_quote(file)),
        )
        .on_path(file)),
    )
}

fn malformed_finding(kh: &KnownHosts, checks: &[KeyCheck], file: &str) -> Option<Finding> {
    let problems = kh.problems_from(checks);
    if problems.is_empty() {
        return None;
    }
    let title = if problems.len() == 1 {
        format!(
            "{file} has a line ssh cannot read (line {})",
            problems[0].line
        )
    } else {
        format!("{file} has {} lines ssh cannot read", problems.len())
    };
    let mut f = Finding::new("known-hosts-malformed-line", Severity::Warning, title).explain(
        "ssh silently skips lines it cannot parse, so a host key on such a line protects nothing \
         and ssh may ask about (or refuse) a host you thought was known. `ssh-keygen -R` also \
         refuses to edit a file with unreadable lines (\"is not a valid known_hosts file\"), so \
         removing a changed host key fails until these lines are fixed or deleted. Common causes \
         are hand edits, a file copied from Windows (CRLF line ends), a merge gone wrong, or very \
         old RSA1 entries.",
    );
    for p in problems.iter().take(EVIDENCE_LIMIT) {
        f = f.evidence(format!("{file}:{}: {}", p.line, p.reason));
    }
    if problems.len() > EVIDENCE_LIMIT {
        f = f.evidence(format!(
            "... and {} more lines",
            problems.len() - EVIDENCE_LIMIT
        ));
    }
    let crlf = kh
        .lines
        .iter()
        .any(|l| l.end > l.start && kh.data.get(l.end - 1) == Some(&b'\r'));
    if crlf {
        f = f.fix(
            Fix::new(
                FixId::KnownHostsStripCrlf,
                "Convert the file to Unix line ends (a .bak copy is kept)",
                format!("sed -i.bak 's/\\r$//' {}", shell_quote(file)),
            )
            .destructive()
            .on_path(file),
        );
    }
    if problems.len() <= EVIDENCE_LIMIT {
        let script: Vec<String> = problems
            .iter()
            .map(|p| format!("-e '{}d'", p.line))
            .collect();
        f = f.fix(
            Fix::new(
                FixId::KnownHostsDeleteMalformed,
                "Delete the unreadable lines (a .bak copy is kept)",
                format!("sed -i.bak {} {}", script.join(" "), shell_quote(file)),
            )
            .destructive()
            .on_path(file),
        );
    }
    Some(f)
}

fn remove_fix(file: &str, name: &str) -> Fix {
    Fix::new(
        FixId::KnownHostsRemoveHost,
        format!("Remove every key for {name}; ssh will ask to confirm the current one next time"),
        format!(
            "ssh-keygen -f {} -R {}",
            shell_quote(file),
            shell_quote(name)
        ),
    )
    .destructive()
    .on(FixTarget::KnownHostsName {
        file: file.into(),
        name: name.to_string(),
    })
}

/// A host pattern compared and hashed ASCII-case-insensitively, borrowed from the file: the
/// duplicate check keys 100,000s of patterns without copying or lowercasing any of them.
#[derive(Debug, Clone, Copy)]
struct Folded<'a>(&'a [u8]);

impl PartialEq for Folded<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Folded<'_> {}

impl std::hash::Hash for Folded<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.0.len());
        for b in self.0 {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

/// The lines (index, key range) holding one (host pattern, key type), in file order; the first
/// is kept inline so the common case of a pattern seen once allocates nothing.
struct Group {
    first: (usize, Range<usize>),
    more: Vec<(usize, Range<usize>)>,
}

/// Same plain host name, same key type, different keys. Hashed lines are not compared: their
/// names cannot be read back.
fn duplicate_findings(kh: &KnownHosts, checks: &[KeyCheck], file: &str) -> Vec<Finding> {
    // (host pattern, blob type) -> index into `groups`, which keeps first-seen order.
    let mut index: HashMap<(Folded<'_>, &'static str), usize> = HashMap::new();
    let mut groups: Vec<(Folded<'_>, &'static str, Group)> = Vec::new();
    for (i, _, f) in kh.fields() {
        if f.hashed || f.marker.is_some() {
            continue;
        }
        let Some(KeyCheck::Type(ty)) = checks.get(i) else {
            continue;
        };
        for pat in kh.data[f.hosts.clone()].split(|&b| b == b',') {
            if pat.is_empty() || pat.first() == Some(&b'!') {
                continue;
            }
            let member = (i, f.key.clone());
            match index.entry((Folded(pat), ty)) {
                std::collections::hash_map::Entry::Occupied(o) => {
                    if let Some((_, _, g)) = groups.get_mut(*o.get()) {
                        g.more.push(member);
                    }
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(groups.len());
                    groups.push((
                        Folded(pat),
                        ty,
                        Group {
                            first: member,
                            more: Vec::new(),
                        },
                    ));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (pat, ty, group) in groups {
        if group.more.is_empty() {
            continue;
        }
        let first = kh.data[group.first.1.clone()].trim_ascii_end();
        if group
            .more
            .iter()
            .all(|(_, r)| kh.data[r.clone()].trim_ascii_end() == first)
        {
            continue;
        }
        let members: Vec<(usize, Range<usize>)> =
            std::iter::once(group.first).chain(group.more).collect();
        let key = (pat.0.to_ascii_lowercase(), ty);
        let name = lossy(&key.0);
        let ty = key.1;
        let lines: Vec<String> = members.iter().map(|(i, _)| (i + 1).to_string()).collect();
        let mut f = Finding::new(
            "known-hosts-duplicate",
            Severity::Warning,
            format!("{name} has {} different {ty} keys in {file}", members.len()),
        )
        .explain(format!(
            "ssh accepts {name} if the server's key matches any one of these lines, so the stale \
             one never triggers a warning and nobody notices it. That is confusing: `ssh-keygen -F` \
             shows several keys, and if the server's key ever changes, ssh names only one \
             \"Offending key\" line while the others stay. Usually one line is left over from a \
             reinstalled server or a reused address (lines {}). Remove the stale line (or all \
             of them and confirm the current fingerprint on the next login).",
            lines.join(", ")
        ));
        for (i, _) in &members {
            if let Some(Kind::Entry(fl)) = kh.lines.get(*i).map(|l| &l.kind) {
                let e = kh.entry(*i, &kh.lines[*i], fl);
                let fp = e
                    .fingerprint()
                    .unwrap_or_else(|| "fingerprint unavailable".into());
                f = f.evidence(format!("{file}:{}: {} {fp}", i + 1, e.key_type));
            }
        }
        out.push(f.fix(remove_fix(file, &name)));
    }
    out
}

fn revoked_findings(kh: &KnownHosts, file: &str) -> Vec<Finding> {
    kh.fields()
        .filter(|(_, _, f)| f.marker == Some(Marker::Revoked))
        .map(|(i, l, f)| {
            let e = kh.entry(i, l, f);
            let who = match &e.hosts {
                Some(h) => h.join(","),
                None => "a hashed host name".to_string(),
            };
            let fp = e
                .fingerprint()
                .unwrap_or_else(|| "fingerprint unavailable".into());
            Finding::new(
                "known-hosts-revoked",
                Severity::Info,
                format!(
                    "{} {} key is marked @revoked for {who}",
                    crate::words::capitalized(crate::words::a_or_an(&e.key_type)),
                    e.key_type
                ),
            )
            .explain(
                "ssh refuses this key for these hosts even if another line trusts it, and says \
                 \"REVOKED HOST KEY DETECTED\". That is deliberate when a server's key was stolen \
                 or retired; if a login now fails with that message, the server still offers the \
                 revoked key and its administrator must replace it.",
            )
            .evidence(format!("{file}:{}", e.line))
            .evidence(format!("{} {fp}", e.key_type))
        })
        .collect()
}

/// The machine-readable listing: `{"file","entries":[...],"problems":[...]}`.
/// The [`Entry`] of key line `index` (0-based) of `d`.
fn entry_in(d: &[u8], index: usize, line: &Line, f: &Fields) -> Entry {
    Entry {
        line: index + 1,
        marker: f.marker,
        hosts: (!f.hashed).then(|| {
            d[f.hosts.clone()]
                .split(|&b| b == b',')
                .map(lossy)
                .collect()
        }),
        hashed: f.hashed,
        key_type: lossy(&d[f.key_type.clone()]),
        key_base64: lossy(d[f.key.clone()].trim_ascii_end()),
        comment: (!f.comment.is_empty()).then(|| lossy(&d[f.comment.clone()])),
        range: line.start..line.next,
    }
}

/// Why OpenSSH rejects a malformed line, in words, with the CRLF and NUL hints.
fn reason_in(data: &[u8], bad: &Bad, line: &Line) -> String {
    let word = |r: &Range<usize>| {
        let w = &data[r.clone()];
        let shown = w.get(..40).unwrap_or(w);
        format!("{:?}", String::from_utf8_lossy(shown))
    };
    let mut reason = match bad {
        Bad::Marker => "unknown or repeated marker (only one @cert-authority or @revoked is allowed, followed by a space)".to_string(),
        Bad::NoKeyAfterHosts => "only a host field, no key".to_string(),
        Bad::Hash => "hashed host name is not |1|<salt>|<hash> with a 20-byte base64 salt".to_string(),
        Bad::NoKeyType => "no key type after the host names".to_string(),
        Bad::KeyTypeShape(r) => format!("key type {} is not followed by key data", word(r)),
        Bad::UnknownKeyType(r) => format!("unknown key type {}", word(r)),
        Bad::NoKeyData(r) => format!("key type {} is not followed by key data", word(r)),
    };
    if data.get(line.text_end.wrapping_sub(1)) == Some(&b'\r') && line.text_end > line.start {
        reason
            .push_str(" (the line ends in a carriage return: the file has Windows CRLF line ends)");
    }
    if line.text_end < line.end {
        reason.push_str(" (a NUL byte cuts the line short: OpenSSH reads nothing after it)");
    }
    reason
}

/// The entries and problems of a known_hosts file in one pass over its bytes, without a table
/// of every line: what `known-hosts list` streams (the table costs about half the file again).
/// Yields the same entries as [`KnownHosts::entries`]; once it is done, [`Self::problems`] holds
/// what [`KnownHosts::problems`] reports, in line order.
pub struct ListWalk<'a> {
    data: &'a [u8],
    pos: usize,
    index: usize,
    buf: Vec<u8>,
    problems: Vec<Problem>,
}

impl<'a> ListWalk<'a> {
    pub fn new(data: &'a [u8]) -> ListWalk<'a> {
        ListWalk {
            data,
            pos: 0,
            index: 0,
            buf: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// The problems of the lines walked so far.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl Iterator for ListWalk<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        while self.pos < self.data.len() {
            let mut slot = [Line {
                start: 0,
                end: 0,
                text_end: 0,
                next: 0,
                kind: Kind::Comment,
            }];
            let end = memchr::memchr(b'\n', &self.data[self.pos..])
                .map_or(self.data.len(), |i| self.pos + i + 1);
            classify_lines(self.data, self.pos..end, &mut slot);
            let [line] = slot;
            let index = self.index;
            self.pos = line.next.max(end);
            self.index += 1;
            match &line.kind {
                Kind::Comment => {}
                Kind::Malformed(bad) => self.problems.push(Problem {
                    line: index + 1,
                    reason: reason_in(self.data, bad, &line),
                }),
                Kind::Entry(f) => {
                    let data = self.data;
                    let check = blob_type_in(
                        &data[f.key_type.clone()],
                        &data[f.key.clone()],
                        &mut self.buf,
                    );
                    if let Err(why) = check {
                        self.problems.push(Problem {
                            line: index + 1,
                            reason: format!("ssh ignores this line: {why}"),
                        });
                    }
                    return Some(entry_in(data, index, &line, f));
                }
            }
        }
        None
    }
}

pub fn list_json(kh: &KnownHosts, file: &str) -> Value {
    serde_json::to_value(ListJson {
        data: kh.bytes(),
        file,
    })
    .unwrap_or(Value::Null)
}

/// `known-hosts list --json` of a file's bytes, serialized entry by entry while it is written
/// ([`ListWalk`]): built as a [`Value`] first, a 100,000-line file became a JSON tree of ten
/// times its size in memory. Keys come in the order a `json!` object prints them (sorted).
pub struct ListJson<'a> {
    pub data: &'a [u8],
    pub file: &'a str,
}

impl serde::Serialize for ListJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        use std::cell::RefCell;
        /// The entries, walked while they are written; the walk keeps the problems for after.
        struct Entries<'w, 'a>(&'w RefCell<ListWalk<'a>>);
        impl serde::Serialize for Entries<'_, '_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(std::iter::from_fn(|| self.0.borrow_mut().next()).map(EntryJson))
            }
        }
        let walk = RefCell::new(ListWalk::new(self.data));
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("entries", &Entries(&walk))?;
        m.serialize_entry("file", self.file)?;
        m.serialize_entry("problems", walk.borrow().problems())?;
        m.end()
    }
}

/// One entry of [`ListJson`].
struct EntryJson(Entry);

impl serde::Serialize for EntryJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = &self.0;
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("comment", &e.comment)?;
        m.serialize_entry("fingerprint", &e.fingerprint())?;
        m.serialize_entry("hashed", &e.hashed)?;
        m.serialize_entry("hosts", &e.hosts)?;
        m.serialize_entry("key_type", &e.key_type)?;
        m.serialize_entry("line", &e.line)?;
        m.serialize_entry("marker", &e.marker)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn negation_wins_and_case_is_folded() {
        assert_eq!(match_hostname(b"db.example.com", b"*.EXAMPLE.com"), 1);
        assert_eq!(
            match_hostname(b"db.example.com", b"*.example.com,!db.example.com"),
            -1
        );
        assert_eq!(match_hostname(b"x.org", b"*.example.com"), 0);
        let long = format!("{},x.org", "a".repeat(1023));
        assert_eq!(match_hostname(b"x.org", long.as_bytes()), 0);
    }

    #[test]
    fn every_line_form_round_trips_and_is_classified() {
        let text = format!(
            "# comment\r\n\n  \t\nhost1,host2\t ssh-ed25519  {ED}  my comment  \n@revoked * ssh-ed25519 {ED}\n\
             @bogus h ssh-ed25519 {ED}\nonlyhost\nh 1024 35 1234\nh ssh-ed25519\n|2|abc|def ssh-ed25519 {ED}\n\
             h ssh-ed25519 {ED}\r\nlast ssh-ed25519 {ED}"
        );
        let kh = parse(text.clone().into_bytes());
        assert_eq!(kh.bytes(), text.as_bytes());
        let entries = kh.entries();
        assert_eq!(
            entries.iter().map(|e| e.line).collect::<Vec<_>>(),
            [4, 5, 11, 12]
        );
        assert_eq!(entries[0].hosts, Some(vec!["host1".into(), "host2".into()]));
        assert_eq!(entries[0].comment.as_deref(), Some("my comment"));
        assert_eq!(entries[1].marker, Some(Marker::Revoked));
        assert_eq!(entries[2].key_base64, ED);
        assert_eq!(entries[3].comment, None);
        let lines: Vec<usize> = kh.problems().iter().map(|p| p.line).collect();
        assert_eq!(lines, [6, 7, 8, 9, 10]);
    }

    #[test]
    fn crlf_blank_line_is_reported_as_crlf() {
        let kh = parse(b"h ssh-ed25519 AAAA\r\n\r\n".to_vec());
        let p = kh.problems();
        assert!(
            p.iter().any(|p| p.line == 2 && p.reason.contains("CRLF")),
            "{p:?}"
        );
    }

    #[test]
    fn nul_byte_ends_the_line_for_openssh_but_bytes_are_kept() {
        let data = format!("h ssh-ed25519 {ED}\0junk\nh2\0 ssh-ed25519 {ED}\n").into_bytes();
        let kh = parse(data.clone());
        assert_eq!(kh.bytes(), &data[..]);
        assert_eq!(kh.entries().len(), 1);
        assert_eq!(kh.problems()[0].line, 2);
        assert!(kh.problems()[0].reason.contains("NUL"));
    }

    #[test]
    fn marker_quirk_first_space_anywhere() {
        // After a tab, OpenSSH looks for the first *space* on the line: here inside the comment.
        let kh = parse(format!("@revoked\th ssh-ed25519 {ED} a comment\n").into_bytes());
        assert!(kh.entries().is_empty());
        let kh = parse(format!("@revoked\th\tssh-ed25519\t{ED}\n").into_bytes());
        assert_eq!(kh.entries()[0].marker, Some(Marker::Revoked));
    }

    /// The same file parsed in parallel pieces and on one thread: every line, entry and problem
    /// must agree, including a piece boundary that falls inside a CRLF or NUL-cut line, and an
    /// unterminated last line.
    #[test]
    fn parallel_parse_agrees_with_one_thread() {
        let mut text = String::new();
        let mut i = 0;
        while text.len() < PARALLEL_BYTES * 2 {
            text.push_str(&match i % 5 {
                0 => format!("h{i},10.0.0.{} ssh-ed25519 {ED} c{i}\n", i % 250),
                1 => format!("h{i} ssh-ed25519 {ED}\r\n"),
                2 => format!("h{i}\0 ssh-ed25519 {ED}\n"),
                3 => format!("h{i} ssh-ed25519 AAAA!{i}\n"),
                _ => "# comment\n\n".to_string(),
            });
            i += 1;
        }
        text.push_str(&format!("last ssh-ed25519 {ED}"));
        let data = text.into_bytes();
        let parallel = parse(data.clone());
        let mut lines = vec![
            Line {
                start: 0,
                end: 0,
                text_end: 0,
                next: 0,
                kind: Kind::Comment,
            };
            line_count(&data)
        ];
        classify_lines(&data, 0..data.len(), &mut lines);
        let single = KnownHosts { data, lines };
        assert_eq!(parallel.line_count(), single.line_count());
        assert_eq!(parallel.entries(), single.entries());
        assert_eq!(parallel.problems(), single.problems());
        assert_eq!(
            parallel.entries().last().map(|e| e.line),
            Some(parallel.line_count())
        );
    }

    #[test]
    fn host_port_name_brackets_non_default_ports() {
        assert_eq!(host_port_name("h", 22), "h");
        assert_eq!(host_port_name("127.0.0.1", 2222), "[127.0.0.1]:2222");
    }

    #[test]
    fn remove_keeps_other_bytes_and_marker_lines() {
        let text = format!(
            "a ssh-ed25519 {ED}\r\nbad line\r\n@revoked a ssh-ed25519 {ED}\nb ssh-ed25519 {ED}"
        );
        let kh = parse(text.into_bytes());
        let r = remove_host(&kh, "A");
        assert_eq!(r.removed_lines, [1]);
        assert_eq!(
            String::from_utf8_lossy(&r.bytes),
            // The unterminated last line stays so (ssh-keygen -R would add a "\n").
            format!("bad line\r\n@revoked a ssh-ed25519 {ED}\nb ssh-ed25519 {ED}")
        );
        let r = remove_host(&kh, "b");
        assert!(r.bytes.ends_with(b"\n"));
        assert_eq!(r.removed_lines, [4]);
    }
}

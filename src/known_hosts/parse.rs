//! Reading the lines: where each line is, what OpenSSH makes of it (comment, key line or a
//! line it rejects, and why), and the owned [`Entry`] values built from a key line on demand.
//!
//! Everything here follows `hostkeys_foreach_file` and `check_markers` to the byte, because a
//! line ssh would skip must be reported, and a line ssh reads must be matched, exactly as ssh does.

use std::ops::Range;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use russh::keys::ssh_key::{HashAlg, PublicKey};
use serde::Serialize;

use super::key_blob::{blob_types, KeyCheck};
use super::{Fields, Kind, KnownHosts, Line, PARALLEL_BYTES};

/// Why OpenSSH rejects a line, in the order `hostkeys_foreach_file` checks.
#[derive(Debug, Clone)]
pub(super) enum Bad {
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

/// `parts` contiguous ranges covering `data`, each ending just after a `\n` (the last one at the
/// end of the data), so no line straddles two ranges.
pub(super) fn split_at_line_ends(data: &[u8], parts: usize) -> Vec<Range<usize>> {
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
pub(super) fn classify_lines(data: &[u8], range: Range<usize>, out: &mut [Line]) {
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
pub(super) fn classify(data: &[u8], start: usize, end: usize) -> Kind {
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
pub(super) fn decode_salt(field: &[u8]) -> Option<([u8; 20], usize)> {
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

pub(super) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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

    pub(super) fn entry(&self, index: usize, line: &Line, f: &Fields) -> Entry {
        entry_in(&self.data, index, line, f)
    }

    pub(super) fn fields(&self) -> impl Iterator<Item = (usize, &Line, &Fields)> {
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
    pub(super) fn problems_from(&self, checks: &[KeyCheck]) -> Vec<Problem> {
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

    fn reason(&self, bad: &Bad, line: &Line) -> String {
        reason_in(&self.data, bad, line)
    }

    /// The entry of line index `i`, if that line is a key line.
    pub(super) fn entry_at(&self, i: usize) -> Option<Entry> {
        let line = self.lines.get(i)?;
        match &line.kind {
            Kind::Entry(f) => Some(self.entry(i, line, f)),
            _ => None,
        }
    }

    /// The entry on 1-based line `n`, if that line is a key line.
    pub fn entry_on_line(&self, n: usize) -> Option<Entry> {
        self.entry_at(n.checked_sub(1)?)
    }
}

/// The [`Entry`] of key line `index` (0-based) of `d`.
pub(super) fn entry_in(d: &[u8], index: usize, line: &Line, f: &Fields) -> Entry {
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
pub(super) fn reason_in(data: &[u8], bad: &Bad, line: &Line) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::known_hosts::ED;

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
}

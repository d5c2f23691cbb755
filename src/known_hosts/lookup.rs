//! Matching a host name against the key lines, as `ssh` and `ssh-keygen -F` do, and what ssh
//! concludes about a server's key from the lines it finds.
//!
//! Three ways in, for three costs: [`find_in`] walks raw bytes once (one name, no line table),
//! [`KnownHosts::lookup`] scans a parsed file, and [`HostIndex`] answers many names (the scan)
//! with a map probe each. All three confirm a candidate with the same matcher, so they agree.

use std::collections::HashMap;
use std::ops::Range;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::{HashAlg, PublicKey};
use sha1::Sha1;

use super::key_blob::blob_type;
use super::parse::{classify, decode_salt, split_at_line_ends, Entry, Marker};
use super::{Fields, Kind, KnownHosts, Line, PARALLEL_BYTES, PARALLEL_LINES};
use crate::pattern::match_pattern;

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
///
/// [`parse`]: super::parse()
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

    /// Indices of the key lines that match `name` (and pass `keep`), in file order. Hashed lines
    /// cost an HMAC each, so big files are split into one contiguous chunk per core; below
    /// [`PARALLEL_LINES`] a thread costs more than it saves.
    pub(super) fn matching(
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn host_port_name_brackets_non_default_ports() {
        assert_eq!(host_port_name("h", 22), "h");
        assert_eq!(host_port_name("127.0.0.1", 2222), "[127.0.0.1]:2222");
    }
}

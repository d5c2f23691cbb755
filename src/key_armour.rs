//! Whether OpenSSH itself can read an `OPENSSH PRIVATE KEY` file, byte for byte as its reader
//! does, and the lossless repair when it cannot.
//!
//! Why this exists: the Rust parsers (ssh-key, russh) accept key files that OpenSSH refuses, so
//! sshdoctor used to log in with a key that `ssh` skips. OpenSSH's reader
//! (`sshkey_parse_private2`) wants the BEGIN line at the very first byte, ending in a bare `\n`,
//! and the END line, with its `\n`, at the start of a line; in between it drops CR and LF and
//! base64-decodes everything else, so a stray space breaks it. When that fails, ssh hands the file
//! to libcrypto's PEM reader, which fails too, and prints `Load key "FILE": error in libcrypto`.
//! Measured with OpenSSH 9.2 (`ssh-keygen -y -P '' -f FILE`): Windows line ends, a missing final
//! newline, a blank line before BEGIN and trailing spaces are all refused; a blank line or text
//! after END is fine. (PEM files, `RSA PRIVATE KEY` and the like, go to libcrypto directly, which
//! takes CRLF and missing newlines in its stride; they are not judged here.)

use base64::Engine;

const BEGIN: &[u8] = b"-----BEGIN OPENSSH PRIVATE KEY-----";
const END: &[u8] = b"-----END OPENSSH PRIVATE KEY-----";

/// Why OpenSSH cannot read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Damage {
    /// Windows line ends (`\r\n`) on the BEGIN or END line: saved or copied through Windows.
    CrlfLineEnds,
    /// The END line is the last thing in the file, without its newline (an editor or a paste
    /// dropped it).
    NoFinalNewline,
    /// Something (blank lines, spaces, a byte-order mark) comes before the BEGIN line.
    TextBeforeBegin,
    /// Spaces or tabs inside the key body or after a line (a paste through a terminal or a chat).
    Whitespace,
    /// No END line at all: the file was cut short.
    Truncated,
    /// The body is not valid base64.
    BadBase64,
    /// A PuTTY key (`PuTTY-User-Key-File-2/3`): ssh cannot read PuTTY's format at all.
    PuttyFormat,
    /// A key in the SSH.com / RFC 4716 format (`---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----`).
    Ssh2Format,
}

impl Damage {
    /// In plain words, for the finding's title and explanation.
    pub fn describe(self) -> &'static str {
        match self {
            Damage::CrlfLineEnds => "it has Windows (CRLF) line ends",
            Damage::NoFinalNewline => "its last line has no newline",
            Damage::TextBeforeBegin => "something comes before its BEGIN line",
            Damage::Whitespace => "it has spaces or tabs inside the key",
            Damage::Truncated => "it is cut short (no END line)",
            Damage::BadBase64 => "its key data is damaged (not valid base64)",
            Damage::PuttyFormat => "it is a PuTTY key (.ppk), a format ssh does not read",
            Damage::Ssh2Format => "it is an SSH.com (SSH2) key, a format ssh does not read",
        }
    }

    /// Whether [`repair`] can give the file back in a form OpenSSH reads, without changing
    /// the key: the damage is only in the layout, not in the key data.
    pub fn repairable(self) -> bool {
        !matches!(
            self,
            Damage::Truncated | Damage::BadBase64 | Damage::PuttyFormat | Damage::Ssh2Format
        )
    }
}

/// Key files in formats ssh does not read at all (it prints `Load key "FILE": error in
/// libcrypto` for them too), told by their first line.
pub fn foreign_format(bytes: &[u8]) -> Option<Damage> {
    let start = bytes.trim_ascii_start();
    if start.starts_with(b"PuTTY-User-Key-File-") {
        Some(Damage::PuttyFormat)
    } else if start.starts_with(b"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----") {
        Some(Damage::Ssh2Format)
    } else {
        None
    }
}

/// `None` when OpenSSH's reader takes the armour of this `OPENSSH PRIVATE KEY` file; else why not.
/// (Whether the key inside then parses is the key parser's business.)
pub fn check(bytes: &[u8]) -> Option<Damage> {
    let begin_line = [BEGIN, b"\n"].concat();
    if !bytes.starts_with(&begin_line) {
        let crlf_begin = [BEGIN, b"\r\n"].concat();
        return Some(if bytes.starts_with(&crlf_begin) {
            Damage::CrlfLineEnds
        } else if bytes.starts_with(BEGIN) {
            Damage::Whitespace
        } else {
            Damage::TextBeforeBegin
        });
    }
    let end_line = [END, b"\n"].concat();
    let rest = &bytes[begin_line.len()..];
    // The END line must start right after a `\n` (OpenSSH looks for it there only).
    let mut body_end = None;
    let mut at = 0usize;
    while at <= rest.len() {
        if rest[at..].starts_with(&end_line) {
            body_end = Some(at);
            break;
        }
        match memchr::memchr(b'\n', &rest[at..]) {
            Some(i) => at += i + 1,
            None => break,
        }
    }
    let Some(body_end) = body_end else {
        return Some(if find(rest, &[END, b"\r\n"].concat()).is_some() {
            Damage::CrlfLineEnds
        } else if let Some(i) = find(rest, END) {
            let after = &rest[i + END.len()..];
            if after.iter().all(|b| *b == b' ' || *b == b'\t') {
                if after.is_empty() {
                    Damage::NoFinalNewline
                } else {
                    Damage::Whitespace
                }
            } else if after.starts_with(b"\r") {
                Damage::CrlfLineEnds
            } else {
                Damage::Whitespace
            }
        } else {
            Damage::Truncated
        });
    };
    let body: Vec<u8> = rest[..body_end]
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    if body.iter().any(|b| *b == b' ' || *b == b'\t') {
        return Some(Damage::Whitespace);
    }
    if base64::engine::general_purpose::STANDARD
        .decode(&body)
        .is_err()
    {
        return Some(Damage::BadBase64);
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// The file laid out as OpenSSH writes it, the key untouched: everything before BEGIN dropped,
/// `\n` line ends, no spaces or tabs around the base64, a newline after END; whatever follows
/// the END line is kept as it was. `None` when the damage is in the key data itself, or the
/// result would still not be read.
pub fn repair(bytes: &[u8]) -> Option<Vec<u8>> {
    let start = find(bytes, BEGIN)?;
    let from_begin = &bytes[start..];
    let end_at = find(from_begin, END)?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(BEGIN);
    out.push(b'\n');
    let body = &from_begin[BEGIN.len()..end_at];
    for line in body.split(|b| *b == b'\n') {
        let clean: Vec<u8> = line
            .iter()
            .copied()
            .filter(|b| !matches!(b, b'\r' | b' ' | b'\t'))
            .collect();
        if !clean.is_empty() {
            out.extend_from_slice(&clean);
            out.push(b'\n');
        }
    }
    out.extend_from_slice(END);
    // The END line's own ending, then the rest of the file as it was.
    let mut tail = &from_begin[end_at + END.len()..];
    while let Some((&b, rest)) = tail.split_first() {
        if b == b' ' || b == b'\t' || b == b'\r' {
            tail = rest;
        } else {
            break;
        }
    }
    tail = tail.strip_prefix(b"\n").unwrap_or(tail);
    out.push(b'\n');
    out.extend_from_slice(tail);
    (check(&out).is_none()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway ed25519 key made for this test (`ssh-keygen -t ed25519 -N ""`).
    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
QyNTUxOQAAACDn/739lmZ4Ny7CywObSdyWH6B/ASfv3ECyK7ZjknKC8AAAAIjgPXIH4D1y\n\
BwAAAAtzc2gtZWQyNTUxOQAAACDn/739lmZ4Ny7CywObSdyWH6B/ASfv3ECyK7ZjknKC8A\n\
AAAEAaR8nY6t8C5Ryu+pcO2t7nk/1XzY3zEccPTpdfkuUWFOf/vf2WZng3LsLLA5tJ3JYf\n\
oH8BJ+/cQLIrtmOScoLwAAAAAAECAwQF\n\
-----END OPENSSH PRIVATE KEY-----\n";

    #[test]
    fn each_damage_is_named_and_the_layout_ones_are_repaired() {
        let good = KEY.as_bytes();
        assert_eq!(check(good), None);
        // Text after END and a trailing blank line are fine for OpenSSH.
        assert_eq!(check(format!("{KEY}\n").as_bytes()), None);
        assert_eq!(check(format!("{KEY}junk\n").as_bytes()), None);
        let cases: [(String, Damage); 6] = [
            (KEY.replace('\n', "\r\n"), Damage::CrlfLineEnds),
            (KEY.trim_end().to_string(), Damage::NoFinalNewline),
            (format!("\n{KEY}"), Damage::TextBeforeBegin),
            (KEY.replace('\n', " \n"), Damage::Whitespace),
            (KEY[..KEY.len() / 2].to_string(), Damage::Truncated),
            (KEY.replace("b3Blbn", "b3B!bn"), Damage::BadBase64),
        ];
        for (text, damage) in cases {
            assert_eq!(check(text.as_bytes()), Some(damage), "{text:?}");
            match repair(text.as_bytes()) {
                Some(fixed) => {
                    assert!(damage.repairable(), "{damage:?}");
                    assert_eq!(fixed, good, "{damage:?}");
                }
                None => assert!(!damage.repairable(), "{damage:?}"),
            }
        }
        // What follows END survives the repair byte for byte.
        let crlf_tail = format!("{}trailer\r\n", KEY.replace('\n', "\r\n"));
        assert_eq!(
            repair(crlf_tail.as_bytes()).unwrap(),
            format!("{KEY}trailer\r\n").as_bytes()
        );
    }
}

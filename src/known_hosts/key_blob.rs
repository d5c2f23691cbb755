//! What OpenSSH knows about key type words, and whether a line's key data is a key ssh can use.
//!
//! A line can have the right shape and still be skipped by ssh: an unknown key type word, base64
//! that does not decode, or a blob holding another type than the word says. The line reader asks
//! [`blob_types`] whether a word is known; lookups and the malformed-line check decode the blob.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::{Kind, KnownHosts, Line, PARALLEL_LINES};

/// What decoding a line's key blob said (see [`blob_type`]).
#[derive(Debug, Clone)]
pub(super) enum KeyCheck {
    /// A comment or malformed line: there is no key to decode.
    NotAKeyLine,
    /// The blob decodes and holds this key type, which agrees with the type word.
    Type(&'static str),
    /// Why ssh cannot use the key data.
    Bad(String),
}

/// The blob type names a key type word may carry, per OpenSSH 9.2's `sshkey_type_from_name`:
/// the full names, plus the case-insensitive short names (`RSA`, `ED25519`, ...) of plain types.
/// `None` means OpenSSH does not know the word and rejects the line.
pub(super) fn blob_types(word: &[u8]) -> Option<&'static [&'static str]> {
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
pub(super) fn blob_type(key_type: &[u8], key_b64: &[u8]) -> Result<&'static str, String> {
    blob_type_in(key_type, key_b64, &mut Vec::new())
}

/// [`blob_type`] decoding into `buf`, so a pass over many lines reuses one allocation.
pub(super) fn blob_type_in(
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

impl KnownHosts {
    /// Decodes every key line's blob once (what `problems` and the duplicate check both need),
    /// one contiguous chunk of lines per core for big files, one reused buffer per chunk.
    pub(super) fn key_checks(&self) -> Vec<KeyCheck> {
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
}

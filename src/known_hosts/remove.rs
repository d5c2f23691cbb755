//! Taking a host's keys out of a file, as `ssh-keygen -R` does, without touching any other byte.
//!
//! Removal is planned on the parsed line table: the lines to drop are found with the lookup
//! matcher, and the kept runs between them are copied as they are (CRLF, NUL bytes, malformed
//! lines and an unterminated last line included), so a repair never rewrites what it did not mean
//! to.

use super::KnownHosts;

/// A known_hosts file with some lines taken out, and which lines they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub bytes: Vec<u8>,
    pub removed_lines: Vec<usize>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::known_hosts::{parse, ED};

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

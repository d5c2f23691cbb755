//! The one sanitizer for text sshdoctor did not write itself.
//!
//! A hostile server controls its banner, its disconnect message, its keyboard-interactive
//! prompts; a known_hosts or sshd log line can hold any bytes. A terminal runs an ESC sequence
//! it is sent (set the title, clear the screen, write the clipboard), and a bidi override
//! reorders what the user reads. So every such string goes through [`printable`] before it is
//! printed or drawn — by the CLI and the dashboard alike — and text taken from the wire is
//! bounded too ([`from_wire`]).

/// How many characters of one server-sent string a report keeps.
pub const WIRE_CHARS: usize = 200;

/// `text` with control characters (C0, DEL, C1) and bidirectional overrides shown as visible
/// `\u{1b}`-style escapes, and tabs as one space (a tab would break a column or a cell).
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\t' {
            out.push(' ');
        } else if c.is_control() || is_bidi_control(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Untrusted bytes from the network as report text: lossy UTF-8 through [`printable`], at most
/// [`WIRE_CHARS`] characters (a flooding server must not grow the report).
pub fn from_wire(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let head: String = text.chars().take(WIRE_CHARS).collect();
    printable(&head).chars().take(WIRE_CHARS).collect()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible_text() {
        let hostile = "OpenSSH\x1b[2J\x1b]0;pwned\x07\r\n\u{9b}31m\u{202e}txt\tend";
        let shown = printable(hostile);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(shown.starts_with("OpenSSH\\u{1b}[2J"), "{shown:?}");
        assert!(!shown.contains('\u{202e}'));
        assert!(shown.ends_with("txt end"), "{shown:?}");
    }

    #[test]
    fn wire_text_is_bounded_and_clean() {
        let flood = [b'\x1b'; 10_000];
        let shown = from_wire(&flood);
        assert!(shown.chars().count() <= WIRE_CHARS);
        assert!(!shown.chars().any(|c| c.is_control()));
        assert_eq!(from_wire(b"SSH-2.0-\xffx"), "SSH-2.0-\u{fffd}x");
    }
}

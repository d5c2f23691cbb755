//! Making text safe to put on the terminal.
//!
//! A hostile server controls its banner and error strings, and a known_hosts file can hold any
//! bytes. ratatui writes cell contents verbatim, so an ESC or a bidi override in that text would
//! reach the terminal as a command. Everything that did not come from sshdoctor itself goes
//! through [`clean`] before it is drawn.

/// Replaces control characters (C0, DEL, C1) with visible `\u{1b}`-style escapes, tabs with a
/// space, and bidirectional overrides (which reorder what the user reads) with escapes too.
pub fn clean(text: &str) -> String {
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

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Cuts `text` to at most `width` characters, marking a cut with `…`.
pub fn fit(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// `fit` and then pad with spaces to exactly `width` characters, for aligned columns.
pub fn column(text: &str, width: usize) -> String {
    let mut s = fit(text, width);
    let n = s.chars().count();
    s.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible_text() {
        let hostile = "OpenSSH\x1b[2J\x1b]0;pwned\x07\r\n\u{9b}31m\u{202e}txt";
        let shown = clean(hostile);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(shown.starts_with("OpenSSH\\u{1b}[2J"));
        assert!(!shown.contains('\u{202e}'));
    }

    #[test]
    fn columns_are_cut_and_padded() {
        assert_eq!(column("abc", 5), "abc  ");
        assert_eq!(column("abcdef", 4), "abc…");
        assert_eq!(fit("x", 0), "");
    }
}

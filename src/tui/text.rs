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

/// [`fit`] for a message whose end matters (a status line ending in "(u undoes)" or "Press r to
/// run the live test again."): when it is too long, the middle gives way and a short last
/// bracket or sentence stays whole.
pub fn fit_keeping_end(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let trimmed = text.trim_end();
    let cut = if trimmed.ends_with(')') {
        trimmed.rfind('(')
    } else {
        trimmed.trim_end_matches('.').rfind(". ").map(|i| i + 2)
    };
    match cut {
        Some(i) if trimmed[i..].chars().count() + 2 <= width / 2 => {
            let tail = &trimmed[i..];
            let head = fit(trimmed[..i].trim_end(), width - tail.chars().count() - 1);
            format!("{head} {tail}")
        }
        _ => fit(text, width),
    }
}

/// Splits `text` into rows of at most `width` characters at spaces (a word longer than a row
/// is cut), continuation rows indented by `indent` spaces: for lists that scroll by rows.
pub fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let width = width.max(indent + 1);
    let pad = " ".repeat(indent);
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut len = 0usize;
    let mut fresh = true;
    for word in text.split(' ') {
        let w = word.chars().count();
        if !fresh && len + 1 + w > width {
            rows.push(std::mem::replace(&mut row, pad.clone()));
            len = indent;
            fresh = true;
        }
        if !fresh {
            row.push(' ');
            len += 1;
        }
        row.push_str(word);
        len += w;
        fresh = false;
        while len > width {
            let head: String = row.chars().take(width).collect();
            let rest: String = row.chars().skip(width).collect();
            rows.push(head);
            row = format!("{pad}{rest}");
            len = row.chars().count();
        }
    }
    rows.push(row);
    rows
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
    fn long_messages_keep_their_ends_and_wrap_at_spaces() {
        let s = "Deleted line 3 from /home/alice/.ssh/known_hosts (previous file in known_hosts.old; u undoes)";
        let f = fit_keeping_end(s, 70);
        assert_eq!(f.chars().count(), 70, "{f}");
        assert!(
            f.ends_with("(previous file in known_hosts.old; u undoes)") || f.ends_with('…'),
            "{f}"
        );
        let s = "Removed the old key of [127.0.0.1]:42931 from ~/.ssh/known_hosts. Press r to run the live test again.";
        let f = fit_keeping_end(s, 80);
        assert!(f.ends_with("Press r to run the live test again."), "{f}");
        assert!(f.chars().count() <= 80, "{f}");
        assert_eq!(fit_keeping_end("short", 80), "short");
        let rows = wrap(
            "q        quit, or back (close details, help, filter)",
            20,
            9,
        );
        assert!(rows.iter().all(|r| r.chars().count() <= 20), "{rows:?}");
        assert_eq!(rows[0], "q        quit, or");
        assert!(rows[1].starts_with("         "), "{rows:?}");
        let joined: Vec<&str> = rows.iter().flat_map(|r| r.split_whitespace()).collect();
        assert_eq!(
            joined,
            ["q", "quit,", "or", "back", "(close", "details,", "help,", "filter)"]
        );
        assert!(wrap(&"x".repeat(50), 20, 4)
            .iter()
            .all(|r| r.chars().count() <= 20));
    }

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

//! Fitting text into cells: cutting, padding and wrapping to a width. (Making it safe for the
//! terminal first is `safe_text`'s job: ratatui writes cell contents verbatim, so everything that
//! did not come from sshdoctor itself goes through `safe_text::printable` before it is drawn.)

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
    fn columns_are_cut_and_padded() {
        assert_eq!(column("abc", 5), "abc  ");
        assert_eq!(column("abcdef", 4), "abc…");
        assert_eq!(fit("x", 0), "");
    }
}

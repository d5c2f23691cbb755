//! OpenSSH's wildcard matching (`match.c`), shared by known_hosts host lists, ssh_config `Host`
//! and `Match` lines, and authorized_keys `from=` / sshd's AllowUsers. One implementation, so a
//! pattern means the same thing wherever sshdoctor reads it.

/// `match_pattern`: `*` matches any run of bytes, `?` exactly one, everything else itself.
/// Linear with backtracking to the last star only, so no input can blow the stack or the clock.
pub fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == s.get(si) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).is_some_and(|r| r.iter().all(|&c| c == b'*'))
}

/// The outcome of a comma-separated pattern list with `!` negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// No pattern matched.
    None,
    /// A positive pattern matched and no negated one did.
    Positive,
    /// A negated pattern matched: this wins over any positive match.
    Negated,
}

/// `match_pattern_list`: each comma-separated pattern in `list` against `s`; with `lower`, the
/// patterns are lowercased first (for host names; `s` is expected lowercased by the caller).
pub fn match_list(s: &str, list: &str, lower: bool) -> ListMatch {
    let mut got = ListMatch::None;
    for sub in list.split(',') {
        let (neg, pat) = match sub.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, sub),
        };
        let hit = if lower {
            match_pattern(s.as_bytes(), pat.to_ascii_lowercase().as_bytes())
        } else {
            match_pattern(s.as_bytes(), pat.as_bytes())
        };
        if hit {
            if neg {
                return ListMatch::Negated;
            }
            got = ListMatch::Positive;
        }
    }
    got
}

/// `match_pattern` over text.
pub fn matches(s: &str, pattern: &str) -> bool {
    match_pattern(s.as_bytes(), pattern.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_openssh() {
        assert!(match_pattern(b"web1.example.com", b"*.example.com"));
        assert!(match_pattern(b"a", b"?"));
        assert!(!match_pattern(b"ab", b"?"));
        assert!(match_pattern(b"", b""));
        assert!(!match_pattern(b"a", b""));
        assert!(match_pattern(b"", b"*"));
        assert!(match_pattern(b"abcabd", b"a*d"));
        assert!(!match_pattern(b"abcabe", b"a*d"));
        assert!(match_pattern(b"[h]:22", b"[h]:2?"));
    }

    #[test]
    fn negation_wins_over_a_positive_match() {
        assert_eq!(
            match_list("a.example.com", "*.example.com,!a.*", false),
            ListMatch::Negated
        );
        assert_eq!(
            match_list("b.example.com", "*.example.com,!a.*", false),
            ListMatch::Positive
        );
        assert_eq!(match_list("x.org", "*.example.com", false), ListMatch::None);
        assert_eq!(match_list("host", "HOST", true), ListMatch::Positive);
        assert_eq!(match_list("host", "HOST", false), ListMatch::None);
    }

    #[test]
    fn pathological_patterns_stay_linear() {
        let s = "a".repeat(10_000);
        let p = "*a".repeat(2_000) + "b";
        assert!(!matches(&s, &p));
    }
}

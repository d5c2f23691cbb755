//! Small helpers for messages in plain English, so counts and articles read right everywhere
//! ("1 host", "an ecdsa key") instead of "1 hosts" and "A ecdsa key".

/// `n noun`, with an `s` when `n` is not 1.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The indefinite article for `word` as it is read aloud: "an" before a vowel sound
/// (`an ecdsa-sha2-nistp256 key`, `an RSA key`, `an ED25519 key`), "a" otherwise.
pub fn a_or_an(word: &str) -> &'static str {
    let lower = word.to_ascii_lowercase();
    let first = lower.chars().next().unwrap_or('x');
    // Letters spelled out ("RSA" is "ar-es-ay"), and the vowels.
    let spelled = word.len() > 1 && word.chars().take(3).all(|c| c.is_ascii_uppercase());
    let vowel_sound = if spelled {
        "aefhilmnorsx".contains(first)
    } else {
        "aeiou".contains(first)
    };
    if vowel_sound {
        "an"
    } else {
        "a"
    }
}

/// `word` with its first letter in upper case ("an" -> "An"), for the start of a sentence.
pub fn capitalized(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// An I/O error's text without Rust's ` (os error N)` suffix, as OpenSSH prints `strerror`.
pub fn io_reason(text: &str) -> &str {
    match text.find(" (os error") {
        Some(i) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_articles_read_right() {
        assert_eq!(count(1, "host"), "1 host");
        assert_eq!(count(0, "host"), "0 hosts");
        assert_eq!(count(3, "host"), "3 hosts");
        assert_eq!(a_or_an("ecdsa-sha2-nistp256"), "an");
        assert_eq!(a_or_an("ssh-ed25519"), "a");
        assert_eq!(a_or_an("RSA"), "an");
        assert_eq!(a_or_an("ED25519"), "an");
        assert_eq!(a_or_an("DSA"), "a");
        assert_eq!(a_or_an("rsa-sha2-512"), "a");
        assert_eq!(
            io_reason("Connection refused (os error 111)"),
            "Connection refused"
        );
    }
}

//! The masked password prompt behind "try a password" (fix `try-password` on the
//! `password-only` finding): what is typed goes into a [`Zeroizing`] buffer that never grows
//! (so no copy is left behind in freed memory), is drawn as one `*` a character and never as
//! text, and leaves the prompt only as the one attempt the live test makes with it.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use zeroize::Zeroizing;

/// The longest password the prompt takes, in bytes: the buffer is allocated once with this
/// capacity and never reallocated.
const MAX_BYTES: usize = 1024;

/// A password being typed for one login. `Debug` never shows it (`Zeroizing` prints no
/// contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPrompt {
    /// `user@host` (and `:port`), as the prompt names the login.
    pub login: String,
    buffer: Zeroizing<String>,
}

/// What a key did to the prompt.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Still typing.
    Typing,
    /// Enter: the password, for its one attempt.
    Submit(Zeroizing<String>),
    /// Esc: nothing is sent.
    Cancel,
}

impl PasswordPrompt {
    pub fn new(login: String) -> PasswordPrompt {
        PasswordPrompt {
            login,
            buffer: Zeroizing::new(String::with_capacity(MAX_BYTES)),
        }
    }

    /// A key typed into the prompt: characters are added (up to [`MAX_BYTES`]), Backspace
    /// takes the last one back, Ctrl-U clears, Enter submits, Esc cancels.
    pub fn key(&mut self, key: KeyEvent) -> Answer {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => Answer::Submit(std::mem::replace(
                &mut self.buffer,
                Zeroizing::new(String::new()),
            )),
            KeyCode::Esc => Answer::Cancel,
            KeyCode::Backspace => {
                self.buffer.pop();
                Answer::Typing
            }
            KeyCode::Char('u') if ctrl => {
                self.buffer.clear();
                Answer::Typing
            }
            KeyCode::Char(c) if !ctrl => {
                if self.buffer.len() + c.len_utf8() <= self.buffer.capacity() {
                    self.buffer.push(c);
                }
                Answer::Typing
            }
            _ => Answer::Typing,
        }
    }

    /// What the screen shows of the password: one `*` a character typed.
    pub fn masked(&self) -> String {
        "*".repeat(self.buffer.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(p: &mut PasswordPrompt, code: KeyCode) -> Answer {
        p.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn typed_text_is_masked_submitted_once_and_never_in_debug() {
        let mut p = PasswordPrompt::new("alice@example.org".into());
        for c in "hunter2".chars() {
            assert_eq!(press(&mut p, KeyCode::Char(c)), Answer::Typing);
        }
        press(&mut p, KeyCode::Backspace);
        assert_eq!(p.masked(), "******");
        assert!(!format!("{p:?}").contains("hunter"), "{p:?}");
        match press(&mut p, KeyCode::Enter) {
            Answer::Submit(pw) => assert_eq!(pw.as_str(), "hunter"),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.masked(), "", "the prompt keeps nothing after submitting");
    }

    #[test]
    fn esc_cancels_and_the_buffer_never_reallocates() {
        let mut p = PasswordPrompt::new("a@b".into());
        let start = p.buffer.as_ptr();
        for _ in 0..MAX_BYTES + 10 {
            press(&mut p, KeyCode::Char('x'));
        }
        assert_eq!(p.buffer.len(), MAX_BYTES);
        assert_eq!(
            p.buffer.as_ptr(),
            start,
            "no copy left behind by a reallocation"
        );
        p.key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(p.masked(), "");
        assert_eq!(press(&mut p, KeyCode::Esc), Answer::Cancel);
    }
}

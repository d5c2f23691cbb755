//! Passphrases and passwords: read from the terminal without echo, wiped from memory after use,
//! never printed, logged, journaled or put in JSON.
//!
//! The terminal is `/dev/tty`, not stdin, so piping something into sshdoctor cannot answer a
//! passphrase prompt by accident. Scripts and tests that have no terminal may pass a password
//! for `copy-id` in `SSHDOCTOR_PASSWORD`, and a new key's passphrase in `SSHDOCTOR_PASSPHRASE`;
//! both are honoured only when stdin is not a terminal, so an interactive user is always asked.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::io::AsRawFd;

use zeroize::Zeroizing;

/// A secret string that is overwritten with zeros when dropped.
pub type Secret = Zeroizing<String>;

/// Whether stdin is a terminal (a person can be asked).
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(0) == 1 }
}

/// The secret from `var`, only when stdin is not a terminal (scripts, tests).
pub fn from_env(var: &str) -> Option<Secret> {
    if stdin_is_tty() {
        return None;
    }
    std::env::var(var).ok().map(Zeroizing::new)
}

/// Restores the terminal's echo setting when dropped, even if reading fails.
struct EchoOff {
    fd: i32,
    saved: libc::termios,
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read from the same open descriptor.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// Asks on `/dev/tty` with echo off. Fails (never falls back to stdin) when there is no
/// terminal.
pub fn prompt(question: &str) -> anyhow::Result<Secret> {
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| anyhow::anyhow!("no terminal to ask for a secret on (/dev/tty: {e})"))?;
    let fd = tty.as_raw_fd();
    // SAFETY: a zeroed termios is a valid buffer; tcgetattr fills it or fails.
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut term) } != 0 {
        anyhow::bail!("cannot read the terminal settings of /dev/tty");
    }
    let guard = EchoOff { fd, saved: term };
    term.c_lflag &= !libc::ECHO;
    term.c_lflag |= libc::ECHONL;
    // SAFETY: applies modified attributes to the same descriptor; restored by `guard`.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) } != 0 {
        anyhow::bail!("cannot turn off echo on /dev/tty");
    }
    let mut out = &tty;
    out.write_all(question.as_bytes())?;
    out.flush()?;
    let mut line = Zeroizing::new(String::new());
    BufReader::new(&tty).read_line(&mut line)?;
    drop(guard);
    let trimmed = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(trimmed);
    Ok(line)
}

/// Asks twice for a new passphrase and insists they match (empty means none).
pub fn new_passphrase() -> anyhow::Result<Secret> {
    if let Some(p) = from_env("SSHDOCTOR_PASSPHRASE") {
        return Ok(p);
    }
    for _ in 0..3 {
        let a = prompt("Enter passphrase for the new key (empty for no passphrase): ")?;
        let b = prompt("Enter the same passphrase again: ")?;
        if *a == *b {
            return Ok(a);
        }
        eprintln!("The passphrases do not match. Try again.");
    }
    anyhow::bail!("the passphrases did not match three times; no key was written")
}

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

/// The secret from `var`, only when stdin is not a terminal (scripts, tests).
pub fn from_env(var: &str) -> Option<Secret> {
    if crate::sys::stdin_is_tty() {
        return None;
    }
    std::env::var(var).ok().map(Zeroizing::new)
}

/// Asks on `/dev/tty` with echo off. Fails (never falls back to stdin) when there is no
/// terminal.
pub fn prompt(question: &str) -> anyhow::Result<Secret> {
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| anyhow::anyhow!("no terminal to ask for a secret on (/dev/tty: {e})"))?;
    let guard = crate::sys::EchoOff::on(tty.as_raw_fd())
        .map_err(|e| anyhow::anyhow!("cannot turn off echo on /dev/tty: {e}"))?;
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

//! `sshdoctor completions SHELL` and `sshdoctor man`: shell completions and the man page,
//! generated from the same clap definitions that parse the command line (as ripgrep and bat
//! ship theirs), so they can never disagree with the program.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use clap::CommandFactory;

use super::Cli;
use crate::exit::Exit;

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Exit> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "sshdoctor", &mut out);
    write_out(&out)
}

/// Writes the man page (roff, section 1) to stdout, or every page (the program's and one per
/// command, which the main page refers to as `sshdoctor-check(1)` and so on) into `dir`.
pub fn man(dir: Option<&Path>) -> anyhow::Result<Exit> {
    let Some(dir) = dir else {
        let mut out = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut out)?;
        return write_out(&out);
    };
    if !dir.is_dir() {
        return Err(crate::exit::usage(format!(
            "{}: no such directory (create it first)",
            dir.display()
        )));
    }
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
    Ok(Exit::Clean)
}

fn write_out(bytes: &[u8]) -> anyhow::Result<Exit> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Clean),
        other => {
            other?;
            Ok(Exit::Clean)
        }
    }
}

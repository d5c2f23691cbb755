//! `sshdoctor undo [--list] [--yes]`: reverts the newest applied fix, byte for byte, after
//! showing what it will restore. Exit codes: 0 undone (or nothing to undo), 1 refused/failed,
//! 2 cannot ask.

use clap::Args;

use super::fix::{confirm, Answer};
use crate::exit::Exit;
use crate::fix::{journal, undo};

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// List the fixes that can be undone, newest first; change nothing.
    #[arg(long)]
    pub list: bool,
    /// Undo without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub fn run(args: &UndoArgs) -> anyhow::Result<Exit> {
    let path = journal::journal_path()?;
    if args.list {
        let records = journal::read(&path)?;
        let groups = undo::pending_groups(&records);
        if groups.is_empty() {
            println!("No fixes to undo.");
        }
        for g in groups {
            for r in g {
                if let journal::Record::Apply {
                    seq,
                    fix_id,
                    title,
                    path,
                    ..
                } = r
                {
                    println!("#{seq} {fix_id}: {title} ({})", path.display());
                }
            }
        }
        return Ok(Exit::Clean);
    }
    let steps = match undo::plan_last(&path) {
        Ok(Some(s)) => s,
        Ok(None) => {
            println!("No fixes to undo.");
            return Ok(Exit::Clean);
        }
        Err(e) => {
            eprintln!("sshdoctor: {e:#}");
            return Ok(Exit::Problem);
        }
    };
    for s in &steps {
        println!("{}", s.describe());
    }
    if !args.yes {
        match confirm("Undo?", false) {
            Answer::Yes => {}
            Answer::No => return Ok(Exit::Problem),
            Answer::NoTerminal => {
                eprintln!("sshdoctor: no terminal to confirm on; run again with --yes (nothing was changed)");
                return Ok(Exit::Usage);
            }
        }
    }
    match undo::apply(&steps, &path) {
        Ok(done) => {
            for d in done {
                println!("undone: {d}");
            }
            Ok(Exit::Clean)
        }
        Err(e) => {
            eprintln!("sshdoctor: {e}");
            Ok(Exit::Problem)
        }
    }
}

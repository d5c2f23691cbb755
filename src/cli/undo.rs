//! `sshdoctor undo [--list] [--yes]`: reverts the newest applied fix, byte for byte, after
//! showing what it will restore. Exit codes: 0 undone (or nothing to undo), 1 refused/failed,
//! 2 cannot ask.

use clap::Args;

use super::fix::{confirm, Answer};
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

pub fn run(args: &UndoArgs) -> anyhow::Result<i32> {
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
        return Ok(0);
    }
    let steps = match undo::plan_last(&path) {
        Ok(Some(s)) => s,
        Ok(None) => {
            println!("No fixes to undo.");
            return Ok(0);
        }
        Err(e) => {
            eprintln!("sshdoctor: {e:#}");
            return Ok(1);
        }
    };
    for s in &steps {
        println!("{}", s.describe());
    }
    if !args.yes {
        match confirm("Undo?", false) {
            Answer::Yes => {}
            Answer::No => return Ok(1),
            Answer::NoTerminal => {
                eprintln!("sshdoctor: no terminal to confirm on; run again with --yes (nothing was changed)");
                return Ok(2);
            }
        }
    }
    match undo::apply(&steps, &path) {
        Ok(done) => {
            for d in done {
                println!("undone: {d}");
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("sshdoctor: {e}");
            Ok(1)
        }
    }
}

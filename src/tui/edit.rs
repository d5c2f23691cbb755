//! The known_hosts browser's own edits (`d` deletes the exact lines shown) and `u`, planned and
//! written by the fix module like every sshdoctor edit (temp file, fsync, rename, mode kept,
//! `FILE.old`, refused when the file changed since it was read, journaled for undo).
//!
//! The panes' `f` goes through [`super::fixes`], which maps every fix id to the fix module;
//! [`words`] (reading a fix's shell command back into words) is shared with it.

use std::path::{Path, PathBuf};

use crate::fix::journal::{self, Record};
use crate::fix::{self, plan, FixError, FixPlan};
use crate::paths::SshPaths;

/// A change sshdoctor knows how to make itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Delete exactly these lines (1-based) from a known_hosts file, as the browser's `d`.
    /// `seen` is the content the user looked at: if the file holds anything else now, nothing is
    /// written.
    DeleteLines {
        file: PathBuf,
        lines: Vec<usize>,
        seen: Vec<u8>,
    },
}

/// What an applied change did, for the status line and for undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The journal groups written, oldest first; `u` reverts them newest first.
    pub seqs: Vec<u64>,
    pub path: PathBuf,
    pub summary: String,
}

/// The plan for an action, read against the disk now: the same planners `sshdoctor fix` and
/// `known-hosts remove` use, so the TUI writes exactly what the CLI would.
fn fix_plan(action: &Action, paths: &SshPaths) -> anyhow::Result<FixPlan> {
    let Action::DeleteLines { file, lines, seen } = action;
    // Planned against what the user saw: if the file holds anything else now, applying
    // refuses and nothing is deleted.
    let plan = plan::delete_lines_plan(file, seen, lines);
    if plan.is_empty() {
        anyhow::bail!("no such lines in {}", paths.display(file));
    }
    Ok(plan)
}

/// Makes the change through the fix module (atomic write, `FILE.old`, journal).
pub fn apply(action: &Action, journal_path: &Path, paths: &SshPaths) -> anyhow::Result<Applied> {
    let plan = fix_plan(action, paths)?;
    let path = plan
        .changes
        .first()
        .map(|c| c.path().to_path_buf())
        .unwrap_or_default();
    let applied = fix::apply(&plan, journal_path).map_err(|e| match e {
        FixError::Changed { .. } => anyhow::anyhow!(
            "{} changed since it was shown; nothing was written (the list is reloaded)",
            paths.display(&path)
        ),
        other => other.into(),
    })?;
    let lines: Vec<String> = plan
        .lines_removed
        .iter()
        .map(|l| l.line.to_string())
        .collect();
    let summary = if lines.is_empty() {
        applied.done.join("; ")
    } else {
        format!(
            "Deleted line {} from {} (previous file in {}.old; u undoes)",
            lines.join(", "),
            paths.display(&path),
            paths.display(&path)
        )
    };
    Ok(Applied {
        seqs: applied.journal_group.into_iter().collect(),
        path,
        summary,
    })
}

/// Reverts the fix journaled as `seq` through the fix module's undo: removed lines go back at
/// their numbers (lines ssh appended since stay), a mode goes back to what it was. Only the
/// newest fix can be undone, as with `sshdoctor undo`.
pub fn undo(seq: u64, journal_path: &Path, paths: &SshPaths) -> anyhow::Result<String> {
    let Some(steps) = fix::undo::plan_last(journal_path)? else {
        anyhow::bail!("that change was already undone");
    };
    if !steps.iter().any(|s| s.seq == seq) {
        anyhow::bail!("that change was already undone, or a newer fix came after it: see `sshdoctor undo --list`");
    }
    // The line numbers the fix removed, to say which lines came back.
    let records = journal::read(journal_path)?;
    let lines: Vec<String> = records
        .iter()
        .filter(|r| steps.iter().any(|s| s.seq == r.seq()))
        .flat_map(|r| match r {
            Record::Apply { change, .. } => change.removed_line_numbers(),
            Record::Undo { .. } => Vec::new(),
        })
        .map(|n| n.to_string())
        .collect();
    let done = fix::undo::apply(&steps, journal_path)?;
    match steps.first() {
        Some(step) if !lines.is_empty() => Ok(format!(
            "Undone: line {} back in {}",
            lines.join(", "),
            paths.display(&step.path)
        )),
        _ => Ok(format!("Undone: {}", done.join("; "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_then_undo_restores_the_file_and_keeps_the_backup() {
        let dir = tempfile::tempdir().unwrap();
        let paths = SshPaths::with_home(dir.path());
        let kh = dir.path().join("kh");
        let j = dir.path().join("journal");
        let original = b"h1 ssh-ed25519 AAAA\nh2 ssh-ed25519 BBBB\r\nh3 ssh-ed25519 CCCC".to_vec();
        std::fs::write(&kh, &original).unwrap();
        let a = Action::DeleteLines {
            file: kh.clone(),
            lines: vec![2],
            seen: original.clone(),
        };
        let applied = apply(&a, &j, &paths).unwrap();
        // Every kept byte as it was: the last line still has no newline.
        assert_eq!(
            std::fs::read(&kh).unwrap(),
            b"h1 ssh-ed25519 AAAA\nh3 ssh-ed25519 CCCC"
        );
        assert_eq!(std::fs::read(plan::old_path(&kh)).unwrap(), original);
        // A stale view is refused.
        assert!(apply(&a, &j, &paths).is_err());
        undo(applied.seqs[0], &j, &paths).unwrap();
        assert_eq!(std::fs::read(&kh).unwrap(), original);
        assert!(undo(applied.seqs[0], &j, &paths).is_err());
    }
}

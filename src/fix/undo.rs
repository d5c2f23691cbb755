//! `sshdoctor undo`: reverts the newest fix not yet undone, byte for byte.
//!
//! What undoing means is decided by a pure function of the journal record and the file as it is
//! now: a file still holding exactly what the fix wrote gets its old bytes (or mode) back, a file
//! the fix created is deleted, and a file from which host-key lines were removed gets those
//! lines put back at their old line numbers even when other lines changed since (exactly the old
//! bytes, checked against their SHA-256, when nothing changed since). Anything else
//! (the file was edited after a fix that removed nothing) is refused rather than guessed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::atomic::{self, Snapshot};
use super::journal::{self, reinsert_lines, Change, Record};
use super::{sha256_hex, FixError};
use crate::finding::mode_string;

/// A file as it is now, for deciding what undo does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    Missing,
    File { bytes: Vec<u8>, mode: u32 },
}

impl Current {
    pub fn read(path: &Path) -> Result<Current, FixError> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Current::Missing),
            Err(source) => Err(FixError::Io {
                path: path.to_path_buf(),
                action: "cannot stat",
                source,
            }),
            Ok(meta) => {
                let bytes = if meta.is_file() {
                    std::fs::read(path).map_err(|source| FixError::Io {
                        path: path.to_path_buf(),
                        action: "cannot read",
                        source,
                    })?
                } else {
                    Vec::new()
                };
                Ok(Current::File {
                    bytes,
                    mode: meta.mode() & 0o7777,
                })
            }
        }
    }
}

/// What undoing one record does to its file.
#[derive(Clone, PartialEq, Eq)]
pub enum UndoAction {
    /// Put these bytes back (the file must still hold `expect`).
    Write { expect: Vec<u8>, restored: Vec<u8> },
    /// Delete the file the fix created (it must still hold `expect`).
    Delete { expect: Vec<u8> },
    /// Set the mode back.
    Chmod { from: u32, to: u32 },
    /// Put back the old file kept in `backup` (it must still have the digest `sha256`; the file
    /// must still hold `expect`). The key bytes are read only when this runs.
    RestoreBackup {
        expect: Vec<u8>,
        backup: PathBuf,
        sha256: String,
    },
}

impl std::fmt::Debug for UndoAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UndoAction::Write { expect, restored } => {
                write!(f, "Write({} -> {} bytes)", expect.len(), restored.len())
            }
            UndoAction::Delete { .. } => f.write_str("Delete"),
            UndoAction::Chmod { from, to } => write!(f, "Chmod({from:o} -> {to:o})"),
            UndoAction::RestoreBackup { backup, .. } => {
                write!(f, "RestoreBackup({})", backup.display())
            }
        }
    }
}

/// One file to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoStep {
    pub seq: u64,
    pub fix_id: String,
    pub title: String,
    pub path: PathBuf,
    pub action: UndoAction,
}

impl UndoStep {
    pub fn describe(&self) -> String {
        let what = match &self.action {
            UndoAction::Write { restored, .. } => {
                format!("restore {} ({} bytes)", self.path.display(), restored.len())
            }
            UndoAction::Delete { .. } => {
                format!("delete {} (created by the fix)", self.path.display())
            }
            UndoAction::Chmod { from, to } => format!(
                "chmod {} -> {} {}",
                mode_string(*from),
                mode_string(*to),
                self.path.display()
            ),
            UndoAction::RestoreBackup { backup, .. } => {
                format!("restore {} from {}", self.path.display(), backup.display())
            }
        };
        format!(
            "{what}   [undoes #{} {}: {}]",
            self.seq, self.fix_id, self.title
        )
    }
}

/// Decides how to undo `change` given the file's current state. Pure.
pub fn undo_action(change: &Change, current: &Current) -> Result<UndoAction, String> {
    let (bytes, mode) = match current {
        Current::File { bytes, mode } => (bytes, *mode),
        Current::Missing => return Err("the file no longer exists".into()),
    };
    match change {
        Change::Content {
            before,
            after,
            removed_lines,
        } => {
            if *bytes == after.bytes() {
                Ok(match before {
                    Some(b) => UndoAction::Write {
                        expect: bytes.clone(),
                        restored: b.bytes(),
                    },
                    None => UndoAction::Delete {
                        expect: bytes.clone(),
                    },
                })
            } else if !removed_lines.is_empty() {
                let lines: Vec<(usize, Vec<u8>)> =
                    removed_lines.iter().map(|(n, b)| (*n, b.bytes())).collect();
                Ok(UndoAction::Write {
                    expect: bytes.clone(),
                    restored: reinsert_lines(bytes, &lines),
                })
            } else {
                Err("the file was changed after the fix; restoring the old bytes would lose those changes".into())
            }
        }
        Change::RemovedLines {
            before_sha256,
            removed_lines,
        } => {
            let lines: Vec<(usize, Vec<u8>)> =
                removed_lines.iter().map(|(n, b)| (*n, b.bytes())).collect();
            // Untouched since the fix exactly when splicing the lines back gives the old digest:
            // then those are the old bytes. Otherwise other lines changed since: put the removed
            // ones back at their numbers and keep the rest as it is now.
            let exact = journal::splice_lines(bytes, &lines);
            let restored = if sha256_hex(&exact) == *before_sha256 {
                exact
            } else {
                reinsert_lines(bytes, &lines)
            };
            Ok(UndoAction::Write {
                expect: bytes.clone(),
                restored,
            })
        }
        Change::ReplacedSecret {
            before_sha256,
            after_sha256,
            backup,
        } => {
            if sha256_hex(bytes) == *after_sha256 {
                Ok(UndoAction::RestoreBackup {
                    expect: bytes.clone(),
                    backup: backup.clone(),
                    sha256: before_sha256.clone(),
                })
            } else {
                Err(
                    "the file was changed after the fix; restoring the old one would lose that"
                        .into(),
                )
            }
        }
        Change::CreatedSecret { sha256 } => {
            if sha256_hex(bytes) == *sha256 {
                Ok(UndoAction::Delete {
                    expect: bytes.clone(),
                })
            } else {
                Err("the file is no longer the one the fix created".into())
            }
        }
        Change::Mode { before, after } => {
            if mode == *after {
                Ok(UndoAction::Chmod {
                    from: mode,
                    to: *before,
                })
            } else {
                Err(format!(
                    "its mode is now {}, not the {} the fix set",
                    mode_string(mode),
                    mode_string(*after)
                ))
            }
        }
    }
}

/// The pending fixes (not undone yet), newest first, each with its records in journal order.
pub fn pending_groups(records: &[Record]) -> Vec<Vec<&Record>> {
    let mut groups: Vec<Vec<&Record>> = Vec::new();
    for r in journal::pending(records) {
        match groups
            .iter_mut()
            .find(|g| g.first().map(|x| x.group()) == Some(r.group()))
        {
            Some(g) => g.insert(0, r),
            None => groups.push(vec![r]),
        }
    }
    groups
}

/// What `undo` would do for the newest pending fix, read against the disk now. `Ok(None)` when
/// there is nothing to undo.
pub fn plan_last(journal_path: &Path) -> anyhow::Result<Option<Vec<UndoStep>>> {
    let records = journal::read(journal_path)?;
    let groups = pending_groups(&records);
    let Some(group) = groups.first() else {
        return Ok(None);
    };
    let mut steps = Vec::new();
    // Undo in reverse order of application.
    for r in group.iter().rev() {
        let Record::Apply {
            seq,
            fix_id,
            title,
            path,
            change,
            ..
        } = r
        else {
            continue;
        };
        let current = Current::read(path)?;
        let action = undo_action(change, &current).map_err(|why| {
            anyhow::anyhow!("cannot undo #{seq} ({fix_id}) on {}: {why}", path.display())
        })?;
        steps.push(UndoStep {
            seq: *seq,
            fix_id: fix_id.clone(),
            title: title.clone(),
            path: path.clone(),
            action,
        });
    }
    Ok(Some(steps))
}

/// Carries out the steps (each re-checked against the disk) and journals the undo.
pub fn apply(steps: &[UndoStep], journal_path: &Path) -> Result<Vec<String>, FixError> {
    let mut done = Vec::new();
    for step in steps {
        match &step.action {
            UndoAction::Write { expect, restored } => {
                // `replace` refuses unless the file still holds `expect` (checked under its lock).
                let snap = Snapshot::stat(&step.path)?;
                atomic::replace(&snap, expect, &[restored], None)?;
            }
            UndoAction::RestoreBackup {
                expect,
                backup,
                sha256,
            } => {
                let old = zeroize::Zeroizing::new(std::fs::read(backup).map_err(|source| {
                    FixError::Io {
                        path: backup.clone(),
                        action: "cannot read the backup",
                        source,
                    }
                })?);
                if sha256_hex(&old) != *sha256 {
                    return Err(FixError::Changed {
                        path: backup.clone(),
                    });
                }
                let snap = Snapshot::stat(&step.path)?;
                atomic::replace(&snap, expect, &[&old[..]], None)?;
            }
            UndoAction::Delete { expect } => {
                let now = std::fs::read(&step.path).map_err(|source| FixError::Io {
                    path: step.path.clone(),
                    action: "cannot read",
                    source,
                })?;
                if &now != expect {
                    return Err(FixError::Changed {
                        path: step.path.clone(),
                    });
                }
                std::fs::remove_file(&step.path).map_err(|source| FixError::Io {
                    path: step.path.clone(),
                    action: "cannot delete",
                    source,
                })?;
            }
            UndoAction::Chmod { from, to } => {
                let meta = std::fs::metadata(&step.path).map_err(|source| FixError::Io {
                    path: step.path.clone(),
                    action: "cannot stat",
                    source,
                })?;
                if meta.mode() & 0o7777 != *from {
                    return Err(FixError::Changed {
                        path: step.path.clone(),
                    });
                }
                std::fs::set_permissions(&step.path, std::fs::Permissions::from_mode(*to))
                    .map_err(|source| FixError::Io {
                        path: step.path.clone(),
                        action: "cannot chmod",
                        source,
                    })?;
            }
        }
        journal::append(journal_path, |seq, time| Record::Undo {
            seq,
            time,
            of: step.seq,
        })
        .map_err(|e| FixError::Journal(format!("{e:#}")))?;
        done.push(step.describe());
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::journal::Blob;

    #[test]
    fn removed_host_lines_come_back_after_other_edits() {
        let change = Change::Content {
            before: Some(Blob::new(b"a\nold\nb\n")),
            after: Blob::new(b"a\nb\n"),
            removed_lines: vec![(2, Blob::new(b"old\n"))],
        };
        let now = Current::File {
            bytes: b"a\nb\nnew\n".to_vec(),
            mode: 0o600,
        };
        match undo_action(&change, &now).unwrap() {
            UndoAction::Write { restored, .. } => assert_eq!(restored, b"a\nold\nb\nnew\n"),
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn an_edited_file_without_removed_lines_is_not_overwritten() {
        let change = Change::Mode {
            before: 0o644,
            after: 0o600,
        };
        let now = Current::File {
            bytes: Vec::new(),
            mode: 0o640,
        };
        assert!(undo_action(&change, &now).unwrap_err().contains("0640"));
        let change = Change::Content {
            before: Some(Blob::new(b"x\n")),
            after: Blob::new(b"y\n"),
            removed_lines: Vec::new(),
        };
        let now = Current::File {
            bytes: b"z\n".to_vec(),
            mode: 0o600,
        };
        assert!(undo_action(&change, &now).is_err());
    }
}

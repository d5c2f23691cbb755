//! The few changes the TUI can make, written the way every sshdoctor edit is: through
//! [`crate::fix::atomic`] (temp file, fsync, rename, mode kept, refused when the file changed
//! since it was read) and recorded in [`crate::fix::journal`] so they can be undone.
//!
//! Fixes are identified by the shell command the core attached to them: a fix is applied only
//! when sshdoctor can do exactly what that command says (`ssh-keygen -f FILE -R NAME`,
//! `chmod MODE PATH`); anything else is shown for the user to run. When the fix module offers
//! fix plans, [`plan`] is the one place to point at it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::finding::{shell_quote, Fix};
use crate::fix::atomic::{self, Snapshot};
use crate::fix::journal::{self, Blob, Change, Record};
use crate::known_hosts;
use crate::paths::SshPaths;

/// A change sshdoctor knows how to make itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `ssh-keygen -f FILE -R NAME`: every unmarked key line for NAME goes, `FILE.old` keeps the
    /// previous bytes.
    RemoveHost {
        file: PathBuf,
        name: String,
        fix_id: String,
        title: String,
        command: String,
    },
    /// Delete exactly these lines (1-based) from a known_hosts file, as the browser's `d`.
    /// `seen` is the content the user looked at: if the file holds anything else now, nothing is
    /// written.
    DeleteLines {
        file: PathBuf,
        lines: Vec<usize>,
        seen: Vec<u8>,
    },
    /// `chmod MODE PATH`.
    Chmod {
        path: PathBuf,
        mode: u32,
        fix_id: String,
        title: String,
        command: String,
    },
}

/// What an applied change did, for the status line and for undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The journal record, which `undo` reverts.
    pub seq: u64,
    pub path: PathBuf,
    pub summary: String,
}

/// Splits a command the core built with `shell_quote` back into words. Only plain words and
/// single quotes (with `'\''`) are understood; anything else (`$`, `"`, `;`, a pipe) makes it
/// `None`, so such a fix is never run by sshdoctor.
fn words(command: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_ascii_alphanumeric() || "-_./:@%+=,~[]".contains(c) => {
                in_word = true;
                cur.push(c);
            }
            _ => return None,
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// The change a fix stands for, when sshdoctor can make it itself.
pub fn plan(fix: &Fix, paths: &SshPaths) -> Option<Action> {
    let w = words(&fix.command)?;
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["ssh-keygen", "-f", file, "-R", name] | ["ssh-keygen", "-R", name, "-f", file] => {
            Some(Action::RemoveHost {
                file: paths.expand_tilde(file),
                name: name.to_string(),
                fix_id: fix.id.clone(),
                title: fix.title.clone(),
                command: fix.command.clone(),
            })
        }
        ["ssh-keygen", "-R", name] => Some(Action::RemoveHost {
            file: paths.known_hosts(),
            name: name.to_string(),
            fix_id: fix.id.clone(),
            title: fix.title.clone(),
            command: fix.command.clone(),
        }),
        ["chmod", mode, path] => {
            let mode = u32::from_str_radix(mode, 8).ok().filter(|m| *m <= 0o7777)?;
            Some(Action::Chmod {
                path: paths.expand_tilde(path),
                mode,
                fix_id: fix.id.clone(),
                title: fix.title.clone(),
                command: fix.command.clone(),
            })
        }
        _ => None,
    }
}

/// The lines of `bytes` without those numbered in `lines` (1-based), each kept line with its
/// own line end, every other byte untouched. Pure. Returns the removed lines with their numbers.
pub fn without_lines(bytes: &[u8], lines: &[usize]) -> (Vec<u8>, Vec<(usize, Vec<u8>)>) {
    let mut kept = Vec::with_capacity(bytes.len());
    let mut removed = Vec::new();
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        if lines.contains(&(i + 1)) {
            removed.push((i + 1, line.to_vec()));
        } else {
            kept.extend_from_slice(line);
        }
    }
    (kept, removed)
}

/// `FILE.old`, where ssh-keygen -R keeps the previous content.
pub fn backup_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".old");
    PathBuf::from(s)
}

/// Writes new known_hosts bytes (keeping the old ones in `FILE.old`, byte for byte) and journals
/// the change with the removed lines, so undo can put them back even after ssh appended others.
fn write_removal(
    snap: &Snapshot,
    after: &[u8],
    removed: Vec<(usize, Vec<u8>)>,
    journal_path: &Path,
    fix_id: &str,
    title: &str,
    command: &str,
) -> anyhow::Result<u64> {
    atomic::replace(snap, after, Some(&backup_path(&snap.path)))?;
    let record = journal::append(journal_path, |seq, time| Record::Apply {
        seq,
        time,
        fix_id: fix_id.to_string(),
        title: title.to_string(),
        command: command.to_string(),
        path: snap.path.clone(),
        change: Change::Content {
            before: Some(Blob::new(&snap.bytes)),
            after: Blob::new(after),
            removed_lines: removed.iter().map(|(n, l)| (*n, Blob::new(l))).collect(),
        },
    })
    .context("the file was changed but the undo journal could not be written")?;
    Ok(record.seq())
}

fn line_list(lines: &[usize]) -> String {
    let v: Vec<String> = lines.iter().map(usize::to_string).collect();
    v.join(", ")
}

/// Makes the change and records it in the journal at `journal_path`.
pub fn apply(action: &Action, journal_path: &Path, paths: &SshPaths) -> anyhow::Result<Applied> {
    match action {
        Action::RemoveHost {
            file,
            name,
            fix_id,
            title,
            command,
        } => {
            let snap = Snapshot::read(file)?;
            let kh = known_hosts::parse(snap.bytes.clone());
            let removal = known_hosts::remove_host(&kh, name);
            if removal.removed_lines.is_empty() {
                anyhow::bail!("{} holds no key for {name} any more", paths.display(file));
            }
            let (_, removed) = without_lines(&snap.bytes, &removal.removed_lines);
            let seq = write_removal(
                &snap,
                &removal.bytes,
                removed,
                journal_path,
                fix_id,
                title,
                command,
            )?;
            Ok(Applied {
                seq,
                path: file.clone(),
                summary: format!(
                    "Removed line {} for {name} from {} (previous file in {}.old)",
                    line_list(&removal.removed_lines),
                    paths.display(file),
                    paths.display(file)
                ),
            })
        }
        Action::DeleteLines { file, lines, seen } => {
            let snap = Snapshot::read(file)?;
            if snap.bytes != *seen {
                anyhow::bail!(
                    "{} changed since it was shown; nothing was deleted (the list is reloaded)",
                    paths.display(file)
                );
            }
            let (after, removed) = without_lines(&snap.bytes, lines);
            if removed.is_empty() {
                anyhow::bail!("no such lines in {}", paths.display(file));
            }
            let numbers: Vec<usize> = removed.iter().map(|(n, _)| *n).collect();
            let script: Vec<String> = numbers.iter().map(|n| format!("-e {n}d")).collect();
            let command = format!(
                "sed -i.old {} {}",
                script.join(" "),
                shell_quote(&paths.display(file))
            );
            let title = format!(
                "Delete line {} of {}",
                line_list(&numbers),
                paths.display(file)
            );
            let seq = write_removal(
                &snap,
                &after,
                removed,
                journal_path,
                "known-hosts-delete-lines",
                &title,
                &command,
            )?;
            Ok(Applied {
                seq,
                path: file.clone(),
                summary: format!(
                    "Deleted line {} (previous file in {}.old; u undoes)",
                    line_list(&numbers),
                    paths.display(file)
                ),
            })
        }
        Action::Chmod {
            path,
            mode,
            fix_id,
            title,
            command,
        } => {
            let meta = std::fs::metadata(path)
                .with_context(|| format!("cannot stat {}", path.display()))?;
            let before = meta.permissions().mode() & 0o7777;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                .with_context(|| format!("cannot chmod {}", path.display()))?;
            let record = journal::append(journal_path, |seq, time| Record::Apply {
                seq,
                time,
                fix_id: fix_id.clone(),
                title: title.clone(),
                command: command.clone(),
                path: path.clone(),
                change: Change::Mode {
                    before,
                    after: *mode,
                },
            })?;
            Ok(Applied {
                seq: record.seq(),
                path: path.clone(),
                summary: format!(
                    "{}: mode {:04o} → {:04o}",
                    paths.display(path),
                    before,
                    mode
                ),
            })
        }
    }
}

/// Reverts the journal record `seq`: removed lines go back at their numbers (so lines ssh
/// appended since stay), a mode goes back to what it was. The undo itself is journaled.
pub fn undo(seq: u64, journal_path: &Path, paths: &SshPaths) -> anyhow::Result<String> {
    let records = journal::read(journal_path)?;
    let pending = journal::pending(&records);
    let Some(Record::Apply { path, change, .. }) = pending.into_iter().find(|r| r.seq() == seq)
    else {
        anyhow::bail!("that change was already undone");
    };
    let summary = match change {
        Change::Content {
            before,
            after,
            removed_lines,
        } => {
            let snap = Snapshot::read(path)?;
            let restored = if snap.bytes == after.bytes() {
                before.as_ref().map(Blob::bytes).unwrap_or_default()
            } else {
                let lines: Vec<(usize, Vec<u8>)> =
                    removed_lines.iter().map(|(n, b)| (*n, b.bytes())).collect();
                if lines.is_empty() {
                    anyhow::bail!("{} changed since; not overwriting it", paths.display(path));
                }
                journal::reinsert_lines(&snap.bytes, &lines)
            };
            atomic::replace(&snap, &restored, None)?;
            let numbers: Vec<usize> = removed_lines.iter().map(|(n, _)| *n).collect();
            format!(
                "Undone: line {} back in {}",
                line_list(&numbers),
                paths.display(path)
            )
        }
        Change::Mode { before, .. } => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*before))
                .with_context(|| format!("cannot chmod {}", path.display()))?;
            format!(
                "Undone: {} is mode {:04o} again",
                paths.display(path),
                before
            )
        }
    };
    journal::append(journal_path, |s, time| Record::Undo {
        seq: s,
        time,
        of: seq,
    })?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell() {
        assert_eq!(
            words("ssh-keygen -f ~/.ssh/known_hosts -R '[127.0.0.1]:2222'").unwrap(),
            [
                "ssh-keygen",
                "-f",
                "~/.ssh/known_hosts",
                "-R",
                "[127.0.0.1]:2222"
            ]
        );
        assert_eq!(
            words("chmod 600 'it'\\''s'").unwrap(),
            ["chmod", "600", "it's"]
        );
        assert!(words("eval \"$(ssh-agent)\"").is_none());
        assert!(words("rm x; reboot").is_none());
    }

    #[test]
    fn only_commands_sshdoctor_can_do_itself_are_planned() {
        let paths = SshPaths::with_home(Path::new("/h"));
        let fix = Fix::new("x", "t", "ssh-keygen -f ~/.ssh/known_hosts -R '[h]:22'");
        match plan(&fix, &paths) {
            Some(Action::RemoveHost { file, name, .. }) => {
                assert_eq!(file, Path::new("/h/.ssh/known_hosts"));
                assert_eq!(name, "[h]:22");
            }
            other => panic!("{other:?}"),
        }
        let fix = Fix::new("x", "t", "chmod 600 ~/.ssh/id_ed25519");
        assert!(matches!(
            plan(&fix, &paths),
            Some(Action::Chmod { mode: 0o600, .. })
        ));
        assert!(plan(&Fix::new("x", "t", "ssh-add"), &paths).is_none());
        assert!(plan(&Fix::new("x", "t", "chmod 99999 x"), &paths).is_none());
    }

    #[test]
    fn deleting_lines_keeps_every_other_byte() {
        let (after, removed) = without_lines(b"a\r\nb\n# c\nd", &[2, 4]);
        assert_eq!(after, b"a\r\n# c\n");
        assert_eq!(removed, vec![(2, b"b\n".to_vec()), (4, b"d".to_vec())]);
    }

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
        assert_eq!(
            std::fs::read(&kh).unwrap(),
            b"h1 ssh-ed25519 AAAA\nh3 ssh-ed25519 CCCC"
        );
        assert_eq!(std::fs::read(backup_path(&kh)).unwrap(), original);
        // A stale view is refused.
        assert!(apply(&a, &j, &paths).is_err());
        undo(applied.seq, &j, &paths).unwrap();
        assert_eq!(std::fs::read(&kh).unwrap(), original);
        assert!(undo(applied.seq, &j, &paths).is_err());
    }
}

//! The only code in sshdoctor that writes to disk or changes the user's setup.
//!
//! Every fix is first a [`FixPlan`], computed by the pure planners in [`plan`] from bytes and
//! metadata: which files change and how, the equivalent shell command, whether it destroys
//! anything and which lines go. The CLI and the TUI show the plan and ask; only then [`apply`]
//! executes it. Every change goes through [`atomic`] (temp file, fsync, rename, mode and owner
//! kept, refused when the file changed since it was planned) and is recorded in the [`journal`],
//! so [`undo`] can put every byte back.

pub mod agent_socket;
pub mod atomic;
pub mod config;
pub mod journal;
pub mod keygen;
pub mod plan;
pub mod remote;
pub mod secret;
pub mod server;
pub mod targets;
pub mod undo;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::finding::mode_string;
use crate::fix_id::FixId;
use atomic::{AtomicError, Snapshot};
use journal::{Blob, Change, Record};

/// What a replaced file will hold: new bytes, or the old bytes without some whole lines. The
/// second form is how a host leaves a 30 MB known_hosts: the kept runs are written straight from
/// the old buffer, so no second 30 MB buffer is allocated (and zeroed page by page by the kernel).
#[derive(Clone, PartialEq, Eq)]
pub enum NewContent {
    Bytes(Vec<u8>),
    /// These byte ranges of the old content, in order (nothing is added: the file keeps its
    /// own line ends and its missing final newline).
    Kept {
        ranges: Vec<std::ops::Range<usize>>,
    },
}

/// Only the size: a stray `{:?}` must not print file contents.
impl std::fmt::Debug for NewContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewContent({} bytes)", self.len())
    }
}

impl From<Vec<u8>> for NewContent {
    fn from(bytes: Vec<u8>) -> Self {
        NewContent::Bytes(bytes)
    }
}

impl NewContent {
    pub fn len(&self) -> usize {
        match self {
            NewContent::Bytes(b) => b.len(),
            NewContent::Kept { ranges } => ranges.iter().map(|r| r.len()).sum::<usize>(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The new content as slices, in order (of `before` for [`NewContent::Kept`]).
    pub fn pieces<'a>(&'a self, before: &'a [u8]) -> Vec<&'a [u8]> {
        match self {
            NewContent::Bytes(b) => vec![b.as_slice()],
            NewContent::Kept { ranges } => ranges
                .iter()
                .map(|r| before.get(r.clone()).unwrap_or_default())
                .collect(),
        }
    }

    /// The new content in one buffer (for small files and tests).
    pub fn to_vec(&self, before: &[u8]) -> Vec<u8> {
        self.pieces(before).concat()
    }

    /// Whether the file would stay byte for byte the same.
    pub fn same_as(&self, before: &[u8]) -> bool {
        match self {
            NewContent::Bytes(b) => b == before,
            NewContent::Kept { ranges } => {
                before.is_empty() && ranges.is_empty()
                    || ranges.len() == 1 && ranges[0] == (0..before.len())
            }
        }
    }
}

/// One file-level change of a plan. The bytes are kept for applying and journaling but never
/// serialized: a plan shown as JSON names files and lines, not contents (which may be a key).
#[derive(Clone, PartialEq, Eq)]
pub enum PlannedChange {
    /// Replace the content of an existing file. `before` is what the plan was computed from;
    /// applying refuses if the file no longer holds exactly these bytes.
    Replace {
        path: PathBuf,
        before: Vec<u8>,
        after: NewContent,
        /// Where to keep a byte-exact copy of `before` (`known_hosts.old`, as `ssh-keygen -R`).
        backup: Option<PathBuf>,
        /// (1-based line number in `before`, the line with its line end) for each removed line,
        /// so undo can put them back even after other lines changed.
        removed_lines: Vec<(usize, Vec<u8>)>,
        /// Private key material: the journal keeps only digests and the `backup` path (which
        /// must be set; undo restores from it), never the bytes.
        secret: bool,
    },
    /// Create a file that does not exist yet (its directory is created 0700 when missing).
    Create {
        path: PathBuf,
        bytes: Vec<u8>,
        mode: u32,
        /// Private key material: the journal keeps only a digest, never the bytes.
        secret: bool,
    },
    /// Change permission bits only; refused if the mode is no longer `before`.
    Chmod {
        path: PathBuf,
        before: u32,
        after: u32,
    },
}

impl PlannedChange {
    pub fn path(&self) -> &Path {
        match self {
            PlannedChange::Replace { path, .. }
            | PlannedChange::Create { path, .. }
            | PlannedChange::Chmod { path, .. } => path,
        }
    }

    /// One line for people: what happens to which file.
    pub fn describe(&self) -> String {
        match self {
            PlannedChange::Replace {
                path,
                before,
                after,
                backup,
                removed_lines,
                ..
            } => {
                let mut s = format!(
                    "rewrite {} ({} -> {} bytes",
                    path.display(),
                    before.len(),
                    after.len()
                );
                if !removed_lines.is_empty() {
                    s.push_str(&format!(", {} line(s) removed", removed_lines.len()));
                }
                s.push(')');
                if let Some(b) = backup {
                    s.push_str(&format!("; previous content kept in {}", b.display()));
                }
                s
            }
            PlannedChange::Create {
                path, bytes, mode, ..
            } => format!(
                "create {} (mode {}, {} bytes)",
                path.display(),
                mode_string(*mode),
                bytes.len()
            ),
            PlannedChange::Chmod {
                path,
                before,
                after,
            } => format!(
                "chmod {} -> {} {}",
                mode_string(*before),
                mode_string(*after),
                path.display()
            ),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            PlannedChange::Replace {
                path,
                before,
                after,
                backup,
                removed_lines,
                ..
            } => json!({
                "change": "replace",
                "path": path,
                "bytes_before": before.len(),
                "bytes_after": after.len(),
                "backup": backup,
                "lines_removed": removed_lines.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            }),
            PlannedChange::Create {
                path, bytes, mode, ..
            } => json!({
                "change": "create",
                "path": path,
                "mode": mode_string(*mode),
                "bytes": bytes.len(),
            }),
            PlannedChange::Chmod {
                path,
                before,
                after,
            } => json!({
                "change": "chmod",
                "path": path,
                "mode_before": mode_string(*before),
                "mode_after": mode_string(*after),
            }),
        }
    }
}

/// Debug shows what [`PlannedChange::describe`] shows: a stray `{:?}` must not print a key.
impl std::fmt::Debug for PlannedChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A line a plan removes, as shown to the user before it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedLine {
    pub path: PathBuf,
    /// 1-based line number in the file as it was read.
    pub line: usize,
    /// The line without its line end, lossily decoded.
    pub text: String,
}

/// Everything a fix will do, computed before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixPlan {
    /// The fix id `check`/`probe` offered (`chmod-private-key`, `remove-host-key`, ...).
    pub id: FixId,
    pub title: String,
    /// What a person would type for the same effect.
    pub command: String,
    /// Removes or overwrites something: always asks first, even in scripts without `--yes`.
    pub destructive: bool,
    pub changes: Vec<PlannedChange>,
    pub lines_removed: Vec<RemovedLine>,
    /// Things the user must read before saying yes (a changed host key, a shared host key).
    pub warnings: Vec<String>,
    /// What the plan found and checked (a config edit: where an earlier value is, the same
    /// edit by hand, what `ssh -G` confirmed).
    pub notes: Vec<String>,
    /// A diff-style view of an edited text file (`+`/`-` lines with context).
    pub preview: Vec<String>,
}

impl FixPlan {
    pub fn new(id: FixId, title: impl Into<String>, command: impl Into<String>) -> Self {
        FixPlan {
            id,
            title: title.into(),
            command: command.into(),
            destructive: false,
            changes: Vec::new(),
            lines_removed: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
            preview: Vec::new(),
        }
    }

    /// True when applying would write nothing (host not found, mode already right).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The plan as people read it: title, warnings, each change, each removed line, the command.
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.title);
        for w in &self.warnings {
            out.push_str(&format!("  WARNING: {w}\n"));
        }
        for c in &self.changes {
            out.push_str(&format!("  - {}\n", c.describe()));
        }
        for l in &self.lines_removed {
            out.push_str(&format!(
                "    {}:{}: {}\n",
                l.path.display(),
                l.line,
                l.text
            ));
        }
        for n in &self.notes {
            out.push_str(&format!("  {n}\n"));
        }
        for l in &self.preview {
            out.push_str(&format!("    {l}\n"));
        }
        out.push_str(&format!("  equivalent command: {}\n", self.command));
        out
    }

    /// The machine-readable plan. Contains no file contents beyond the removed lines (which are
    /// public host keys); never private key material.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "command": self.command,
            "destructive": self.destructive,
            "warnings": self.warnings,
            "changes": self.changes.iter().map(PlannedChange::to_json).collect::<Vec<_>>(),
            "lines_removed": self.lines_removed.iter().map(|l| json!({
                "path": l.path, "line": l.line, "text": l.text,
            })).collect::<Vec<_>>(),
            "notes": self.notes,
            "preview": self.preview,
        })
    }
}

/// Why a fix (or an undo) was not applied. In every case no file was half-written.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error(transparent)]
    Atomic(AtomicError),
    #[error("{path}: changed on disk since the fix was planned; nothing was written (run again to see the new content)")]
    Changed { path: PathBuf },
    #[error("{path} already exists; sshdoctor does not overwrite it")]
    Exists { path: PathBuf },
    #[error("{path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error(
        "the fix was applied but could not be journaled, so `sshdoctor undo` cannot revert it: {0}"
    )]
    Journal(String),
    #[error("{0}")]
    Refused(String),
}

/// A file found changed while it was being replaced is the same refusal as one found changed
/// before: callers (the dashboard reloads its view) tell it apart from other write failures.
impl From<AtomicError> for FixError {
    fn from(e: AtomicError) -> Self {
        match e {
            AtomicError::Changed { path } => FixError::Changed { path },
            other => FixError::Atomic(other),
        }
    }
}

fn io_err<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> FixError + 'a {
    move |source| FixError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// What [`apply`] did, one line per change, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub done: Vec<String>,
    /// Sequence number of the journal group (what `sshdoctor undo` reverts).
    pub journal_group: Option<u64>,
}

/// A change checked against the disk and ready to be written.
enum Ready<'a> {
    Replace(Snapshot, &'a PlannedChange),
    Create(&'a PlannedChange),
    Chmod(&'a PlannedChange),
}

/// Checks every change against the disk before writing any: the files still hold what the plan
/// was computed from, files to create do not exist, files to chmod are ours with the old mode.
fn check_all(plan: &FixPlan) -> Result<Vec<Ready<'_>>, FixError> {
    let me = crate::sys::current_uid();
    let mut ready = Vec::new();
    for change in &plan.changes {
        match change {
            PlannedChange::Replace { path, before, .. } => {
                // Cheap now (the length), exact later: `atomic::replace` compares the whole
                // content under the lock right before the rename. A plan over several files is
                // compared in full here, so none is written when another one changed.
                let snap = Snapshot::stat(path)?;
                let same = if plan.changes.len() > 1 {
                    std::fs::read(&snap.target).map_err(io_err(path, "cannot read"))? == *before
                } else {
                    snap.len == before.len() as u64
                };
                if !same {
                    return Err(FixError::Changed { path: path.clone() });
                }
                if me != 0 && snap.uid != me {
                    return Err(AtomicError::NotOurs {
                        path: path.clone(),
                        uid: snap.uid,
                    }
                    .into());
                }
                ready.push(Ready::Replace(snap, change));
            }
            PlannedChange::Create { path, .. } => {
                if std::fs::symlink_metadata(path).is_ok() {
                    return Err(FixError::Exists { path: path.clone() });
                }
                ready.push(Ready::Create(change));
            }
            PlannedChange::Chmod { path, before, .. } => {
                let meta = std::fs::metadata(path).map_err(io_err(path, "cannot stat"))?;
                if meta.mode() & 0o7777 != *before {
                    return Err(FixError::Changed { path: path.clone() });
                }
                if me != 0 && meta.uid() != me {
                    return Err(AtomicError::NotOurs {
                        path: path.clone(),
                        uid: meta.uid(),
                    }
                    .into());
                }
                ready.push(Ready::Chmod(change));
            }
        }
    }
    Ok(ready)
}

/// The journal must be writable before anything changes: a fix that cannot be undone is not
/// applied.
fn check_journal(journal: &Path) -> Result<(), FixError> {
    let fail = |e: String| FixError::Refused(format!("cannot write the fix journal: {e}"));
    if let Some(dir) = journal.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    }
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(journal)
        .map(drop)
        .map_err(|e| fail(format!("{}: {e}", journal.display())))
}

/// SHA-256 of bytes as lowercase hex, for journaling files whose content must not be stored.
pub fn sha256_hex(bytes: &[u8]) -> String {
    russh::keys::ssh_key::HashAlg::Sha256
        .digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the journal keeps for a replaced file. An edit that only dropped lines (removing a host
/// key from a 30 MB known_hosts) keeps those lines and a digest of the old file; anything else
/// keeps both versions.
fn journal_change(before: &[u8], after: &NewContent, removed_lines: &[(usize, Vec<u8>)]) -> Change {
    let blobs = || {
        removed_lines
            .iter()
            .map(|(n, l)| (*n, Blob::new(l)))
            .collect()
    };
    let removal_only = !removed_lines.is_empty()
        && match after {
            NewContent::Bytes(a) => journal::splices_to(a, removed_lines, before),
            // Built by dropping whole lines: exact when nothing was added and every byte is
            // either kept or in a removed line.
            NewContent::Kept { .. } => {
                after.len() + removed_lines.iter().map(|(_, l)| l.len()).sum::<usize>()
                    == before.len()
            }
        };
    if removal_only {
        Change::RemovedLines {
            before_sha256: sha256_hex(before),
            removed_lines: blobs(),
        }
    } else {
        Change::Content {
            before: Some(Blob::new(before)),
            after: Blob::new(&after.to_vec(before)),
            removed_lines: blobs(),
        }
    }
}

/// Executes a plan: every change is checked first (nothing is written if any check fails), then
/// written atomically and journaled in `journal`, one group per plan.
pub fn apply(plan: &FixPlan, journal: &Path) -> Result<Applied, FixError> {
    if plan.changes.is_empty() {
        return Ok(Applied {
            done: Vec::new(),
            journal_group: None,
        });
    }
    let ready = check_all(plan)?;
    check_journal(journal)?;
    let mut group = 0u64;
    let mut done = Vec::new();
    for item in ready {
        let (change, path) = match item {
            Ready::Replace(snap, c) => {
                let PlannedChange::Replace {
                    path,
                    before,
                    after,
                    backup,
                    removed_lines,
                    secret,
                } = c
                else {
                    continue;
                };
                if *secret {
                    let Some(backup) = backup else {
                        return Err(FixError::Journal(
                            "a private key is only rewritten with a backup to undo from".into(),
                        ));
                    };
                    atomic::replace(&snap, before, &after.pieces(before), Some(backup))?;
                    let change = Change::ReplacedSecret {
                        before_sha256: sha256_hex(before),
                        after_sha256: sha256_hex(&after.to_vec(before)),
                        backup: backup.clone(),
                    };
                    (change, path)
                } else {
                    // The journal record (a digest of a file that may be 30 MB) is computed on a
                    // second core while the new file is written and synced.
                    let change = std::thread::scope(|s| {
                        let record = s.spawn(|| journal_change(before, after, removed_lines));
                        atomic::replace(&snap, before, &after.pieces(before), backup.as_deref())?;
                        Ok::<_, FixError>(
                            record
                                .join()
                                .unwrap_or_else(|_| journal_change(before, after, removed_lines)),
                        )
                    })?;
                    (change, path)
                }
            }
            Ready::Create(c) => {
                let PlannedChange::Create {
                    path,
                    bytes,
                    mode,
                    secret,
                } = c
                else {
                    continue;
                };
                if let Some(dir) = path.parent() {
                    if !dir.exists() {
                        std::fs::create_dir_all(dir)
                            .map_err(io_err(dir, "cannot create directory"))?;
                        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                            .map_err(io_err(dir, "cannot set mode 0700 on"))?;
                    }
                }
                atomic::create(path, bytes, *mode)?;
                let change = if *secret {
                    Change::CreatedSecret {
                        sha256: sha256_hex(bytes),
                    }
                } else {
                    Change::Content {
                        before: None,
                        after: Blob::new(bytes),
                        removed_lines: Vec::new(),
                    }
                };
                (change, path)
            }
            Ready::Chmod(c) => {
                let PlannedChange::Chmod {
                    path,
                    before,
                    after,
                } = c
                else {
                    continue;
                };
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*after))
                    .map_err(io_err(path, "cannot chmod"))?;
                (
                    Change::Mode {
                        before: *before,
                        after: *after,
                    },
                    path,
                )
            }
        };
        let record = journal::append(journal, |seq, time| Record::Apply {
            seq,
            time,
            group: if group == 0 { seq } else { group },
            fix_id: plan.id.to_string(),
            title: plan.title.clone(),
            command: plan.command.clone(),
            path: path.clone(),
            change,
        })
        .map_err(|e| FixError::Journal(format!("{e:#}")))?;
        if group == 0 {
            group = record.seq();
        }
        done.push(
            plan.changes
                .iter()
                .find(|c| c.path() == path)
                .map(PlannedChange::describe)
                .unwrap_or_default(),
        );
    }
    Ok(Applied {
        done,
        journal_group: (group != 0).then_some(group),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_for_a_file_changed_since_planning_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"one\n").unwrap();
        std::fs::write(&b, b"two\n").unwrap();
        let mut plan = FixPlan::new(FixId::ChmodConfig, "t", "t");
        for (p, before) in [(&a, b"one\n"), (&b, b"TWO\n")] {
            plan.changes.push(PlannedChange::Replace {
                path: p.clone(),
                before: before.to_vec(),
                after: b"x\n".to_vec().into(),
                backup: None,
                removed_lines: Vec::new(),
                secret: false,
            });
        }
        let j = dir.path().join("state/journal");
        let err = apply(&plan, &j).unwrap_err();
        assert!(matches!(err, FixError::Changed { .. }), "{err}");
        // The first file, whose check passed, was not written either.
        assert_eq!(std::fs::read(&a).unwrap(), b"one\n");
        assert!(journal::read(&j).unwrap().is_empty());
    }

    #[test]
    fn plan_json_never_carries_file_contents() {
        let mut plan = FixPlan::new(FixId::GenerateKey, "t", "ssh-keygen");
        plan.changes.push(PlannedChange::Create {
            path: PathBuf::from("/h/.ssh/id_ed25519"),
            bytes: b"-----BEGIN OPENSSH PRIVATE KEY-----SECRET".to_vec(),
            mode: 0o600,
            secret: true,
        });
        let text = plan.to_json().to_string() + &plan.render();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("0600"));
    }
}

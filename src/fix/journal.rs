//! The journal of applied fixes, so `sshdoctor undo` can put every byte back.
//!
//! One JSON object per line in `$XDG_STATE_HOME/sshdoctor/journal` (mode 0600): an `apply` record
//! holds what undo needs to put the file back: for a fix that only removed lines (a stale host
//! key from a known_hosts of 10^5 lines) those lines with their numbers and digests of the file
//! before and after, not two copies of the whole file; for other edits (small config files) the
//! bytes before and after. An `undo` record names the apply it reverted. Appending is the only write, so a crash leaves at worst one
//! truncated last line, which reading skips.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Where the journal lives: under the XDG state dir of `$HOME`.
pub fn journal_path() -> anyhow::Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "sshdoctor")
        .ok_or_else(|| anyhow::anyhow!("cannot find the home directory for the fix journal"))?;
    let dir = dirs
        .state_dir()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dirs.data_local_dir().to_path_buf());
    Ok(dir.join("journal"))
}

/// What a fix changed in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    /// The file's content was replaced (`before` None: the fix created it).
    Content {
        before: Option<Blob>,
        after: Blob,
        /// Lines the fix removed: (1-based line number in `before`, the line with its ending).
        #[serde(default)]
        removed_lines: Vec<(usize, Blob)>,
    },
    /// Whole lines were removed and nothing else changed: `before` is exactly `after` with
    /// `removed_lines` put back, so only those lines and the SHA-256 of `before` are kept (undo
    /// knows the file is untouched since when splicing the lines back gives that digest).
    RemovedLines {
        before_sha256: String,
        /// (1-based line number in `before`, the line with its ending).
        removed_lines: Vec<(usize, Blob)>,
    },
    /// Only the mode changed.
    Mode { before: u32, after: u32 },
    /// The fix created a file whose content must not be stored (a private key): only its
    /// SHA-256, so undo can tell whether it is still the file the fix wrote before deleting it.
    CreatedSecret { sha256: String },
    /// The fix rewrote a private key file: the old bytes stay only in `backup` (the old file
    /// itself, mode and all), the journal keeps digests so undo can tell both files are as the
    /// fix left them.
    ReplacedSecret {
        before_sha256: String,
        after_sha256: String,
        backup: std::path::PathBuf,
    },
}

impl Change {
    /// The 1-based line numbers the fix removed (empty for other changes).
    pub fn removed_line_numbers(&self) -> Vec<usize> {
        match self {
            Change::Content { removed_lines, .. } | Change::RemovedLines { removed_lines, .. } => {
                removed_lines.iter().map(|(n, _)| *n).collect()
            }
            Change::Mode { .. } | Change::CreatedSecret { .. } | Change::ReplacedSecret { .. } => {
                Vec::new()
            }
        }
    }
}

/// Bytes stored as base64 so any file content survives JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Blob(String);

impl Blob {
    pub fn new(bytes: &[u8]) -> Self {
        Blob(B64.encode(bytes))
    }
    pub fn bytes(&self) -> Vec<u8> {
        B64.decode(&self.0).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Record {
    Apply {
        seq: u64,
        time: u64,
        /// The `seq` of the first record of the same fix: a fix that touched several files
        /// (a key and its `.pub`) is undone as one. 0 in records written before groups existed:
        /// such a record is its own group.
        #[serde(default)]
        group: u64,
        fix_id: String,
        title: String,
        command: String,
        path: PathBuf,
        #[serde(flatten)]
        change: Change,
    },
    Undo {
        seq: u64,
        time: u64,
        of: u64,
    },
}

impl Record {
    pub fn seq(&self) -> u64 {
        match self {
            Record::Apply { seq, .. } | Record::Undo { seq, .. } => *seq,
        }
    }

    /// The fix this record belongs to (its own seq for an ungrouped or undo record).
    pub fn group(&self) -> u64 {
        match self {
            Record::Apply { seq, group, .. } if *group != 0 => (*group).min(*seq),
            r => r.seq(),
        }
    }
}

/// Reads every record; unreadable lines (a torn last write) are skipped.
pub fn read(path: &Path) -> anyhow::Result<Vec<Record>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot read the fix journal {}: {e}",
                path.display()
            ))
        }
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The applied fixes not undone yet, newest first.
pub fn pending(records: &[Record]) -> Vec<&Record> {
    let undone: Vec<u64> = records
        .iter()
        .filter_map(|r| match r {
            Record::Undo { of, .. } => Some(*of),
            _ => None,
        })
        .collect();
    let mut out: Vec<&Record> = records
        .iter()
        .filter(|r| matches!(r, Record::Apply { seq, .. } if !undone.contains(seq)))
        .collect();
    out.reverse();
    out
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Appends a record built from the next sequence number; the journal is created 0600.
pub fn append(path: &Path, make: impl FnOnce(u64, u64) -> Record) -> anyhow::Result<Record> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open the fix journal {}: {e}", path.display()))?;
    // Two fixes finishing at once must not take the same sequence number: hold an exclusive
    // lock from reading the last number to writing the new record. Released when `f` closes.
    let _ = crate::sys::flock_exclusive(&f);
    let seq = read(path)?.iter().map(Record::seq).max().unwrap_or(0) + 1;
    let record = make(seq, now());
    let mut line = serde_json::to_string(&record)?;
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_all()?;
    Ok(record)
}

/// The exact inverse of removing whole lines: `after` with every removed line put back at its
/// number, bytes untouched, handed to `emit` piece by piece (stops when `emit` says false).
/// Gives the old file exactly when the edit only dropped lines. Pure.
fn splice_with(after: &[u8], removed: &[(usize, Vec<u8>)], mut emit: impl FnMut(&[u8]) -> bool) {
    let mut sorted: Vec<&(usize, Vec<u8>)> = removed.iter().collect();
    sorted.sort_by_key(|(n, _)| *n);
    let mut ends = memchr::memchr_iter(b'\n', after);
    let (mut line_no, mut from) = (1usize, 0usize);
    for (n, line) in sorted {
        // Copy up to the start of line n of the result (the kept lines before it, in one run).
        let mut to = from;
        while line_no < *n && to < after.len() {
            to = ends.next().map_or(after.len(), |e| e + 1);
            line_no += 1;
        }
        if !emit(&after[from..to]) || !emit(line) {
            return;
        }
        from = to;
        line_no = line_no.max(*n) + 1;
    }
    emit(&after[from..]);
}

/// [`splice_with`] into a new buffer.
pub fn splice_lines(after: &[u8], removed: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(after.len() + removed.iter().map(|(_, l)| l.len()).sum::<usize>());
    splice_with(after, removed, |piece| {
        out.extend_from_slice(piece);
        true
    });
    out
}

/// Whether splicing `removed` back into `after` gives exactly `before`, without building it.
pub fn splices_to(after: &[u8], removed: &[(usize, Vec<u8>)], before: &[u8]) -> bool {
    let mut at = 0usize;
    let mut same = true;
    splice_with(after, removed, |piece| {
        same = before.get(at..at + piece.len()) == Some(piece);
        at += piece.len();
        same
    });
    same && at == before.len()
}

/// Puts removed lines back into `current` at their old line numbers (clamped to the end), for
/// an undo after other lines changed. Pure.
pub fn reinsert_lines(current: &[u8], removed: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = current
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    if let Some(last) = lines.last_mut() {
        if !last.ends_with(b"\n") && !removed.is_empty() {
            last.push(b'\n');
        }
    }
    let mut sorted: Vec<&(usize, Vec<u8>)> = removed.iter().collect();
    sorted.sort_by_key(|(n, _)| *n);
    for (n, line) in sorted {
        let at = n.saturating_sub(1).min(lines.len());
        lines.insert(at, line.clone());
    }
    // A removed line that was the file's unterminated last line may now sit in the middle:
    // give every line but the last its newline back, so no two lines run together.
    let count = lines.len();
    for l in lines.iter_mut().take(count.saturating_sub(1)) {
        if !l.ends_with(b"\n") {
            l.push(b'\n');
        }
    }
    lines.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trips_and_tracks_undo() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("state/journal");
        let apply = |seq, time| Record::Apply {
            seq,
            time,
            group: 0,
            fix_id: "remove-host-key".into(),
            title: "t".into(),
            command: "ssh-keygen -R h".into(),
            path: PathBuf::from("/x"),
            change: Change::Content {
                before: Some(Blob::new(b"a\r\n\x00b\n")),
                after: Blob::new(b"b\n"),
                removed_lines: vec![(1, Blob::new(b"a\r\n"))],
            },
        };
        append(&j, apply).unwrap();
        append(&j, |seq, time| Record::Undo { seq, time, of: 1 }).unwrap();
        let r2 = append(&j, apply).unwrap();
        assert_eq!(r2.seq(), 3);
        let recs = read(&j).unwrap();
        assert_eq!(recs.len(), 3);
        let p = pending(&recs);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].seq(), 3);
        match p[0] {
            Record::Apply {
                change: Change::Content { before, .. },
                ..
            } => assert_eq!(before.as_ref().unwrap().bytes(), b"a\r\n\x00b\n"),
            _ => panic!("wrong record"),
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&j).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn splicing_removed_lines_back_gives_the_old_bytes() {
        let before = b"# c\r\na\nb\nc";
        let cases: &[&[(usize, &[u8])]] = &[
            &[(2, b"a\n")],
            &[(1, b"# c\r\n"), (4, b"c")],
            &[(3, b"b\n"), (2, b"a\n")],
            &[],
        ];
        for removed in cases {
            let removed: Vec<(usize, Vec<u8>)> =
                removed.iter().map(|(n, l)| (*n, l.to_vec())).collect();
            let mut after = Vec::new();
            for (i, l) in before.split_inclusive(|&b| b == b'\n').enumerate() {
                if !removed.iter().any(|(n, _)| *n == i + 1) {
                    after.extend_from_slice(l);
                }
            }
            assert_eq!(splice_lines(&after, &removed), before, "{removed:?}");
            assert!(splices_to(&after, &removed, before), "{removed:?}");
        }
        // Not a pure removal (ssh-keygen -R ends an unterminated last line): not the old bytes.
        assert_ne!(splice_lines(b"b\n", &[(1, b"a\n".to_vec())]), b"a\nb");
        assert!(!splices_to(b"b\n", &[(1, b"a\n".to_vec())], b"a\nb"));
        assert!(splices_to(b"b", &[(1, b"a\n".to_vec())], b"a\nb"));
        assert!(!splices_to(b"b", &[(1, b"a\n".to_vec())], b"a\nbc"));
    }

    #[test]
    fn removed_lines_go_back_where_they_were() {
        let now = b"# c\nb\nnew\n";
        let out = reinsert_lines(now, &[(2, b"a\n".to_vec())]);
        assert_eq!(out, b"# c\na\nb\nnew\n");
        let out = reinsert_lines(b"x", &[(9, b"gone\r\n".to_vec())]);
        assert_eq!(out, b"x\ngone\r\n");
        // The old unterminated last line comes back before a line added since.
        let out = reinsert_lines(b"a\nnew\n", &[(2, b"old".to_vec())]);
        assert_eq!(out, b"a\nold\nnew\n");
    }
}

//! Lossless, atomic replacement of a file under `~/.ssh`.
//!
//! The rules every edit follows: read a [`Snapshot`] first; write the new bytes to a temp file in
//! the same directory, fsync it, give it the old file's mode and owner, rename it over the old one
//! and fsync the directory. Just before the rename the file is read again: if it changed since the
//! snapshot (another sshdoctor, `ssh` appending a host), the edit is refused and nothing is written.
//! A symlinked file (dotfile managers) is edited at its target; the link stays.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a file could not be replaced. The original is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum AtomicError {
    #[error("{path}: changed on disk since it was read; nothing was written (run again to see the new content)")]
    Changed { path: PathBuf },
    #[error(
        "{path} belongs to uid {uid}, not to you: sshdoctor does not edit other people's files"
    )]
    NotOurs { path: PathBuf, uid: u32 },
    #[error("{path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
}

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> AtomicError + 'a {
    move |source| AtomicError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// A file as it was read, to detect later changes and to restore its mode and owner.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The path the user named (maybe a symlink).
    pub path: PathBuf,
    /// The real file behind it: what is replaced.
    pub target: PathBuf,
    pub bytes: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Snapshot {
    pub fn read(path: &Path) -> Result<Snapshot, AtomicError> {
        let target = fs::canonicalize(path).map_err(io(path, "cannot resolve"))?;
        let meta = fs::metadata(&target).map_err(io(path, "cannot stat"))?;
        if !meta.is_file() {
            return Err(AtomicError::Io {
                path: path.to_path_buf(),
                action: "not a regular file",
                source: std::io::Error::other("refusing to edit it"),
            });
        }
        let bytes = fs::read(&target).map_err(io(path, "cannot read"))?;
        Ok(Snapshot {
            path: path.to_path_buf(),
            target,
            bytes,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }

    /// Fails when the file no longer holds the bytes this snapshot saw.
    pub fn verify_unchanged(&self) -> Result<(), AtomicError> {
        let now = fs::read(&self.target).map_err(io(&self.path, "cannot re-read"))?;
        if now != self.bytes {
            return Err(AtomicError::Changed {
                path: self.path.clone(),
            });
        }
        Ok(())
    }
}

/// Writes `bytes` to a new file in `dir`, fsynced, with the given mode and owner, and returns it.
fn write_temp(
    dir: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<tempfile::NamedTempFile, AtomicError> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".sshdoctor-")
        .tempfile_in(dir)
        .map_err(io(dir, "cannot create a temp file in"))?;
    tmp.write_all(bytes)
        .map_err(io(dir, "cannot write temp file in"))?;
    let f: &File = tmp.as_file();
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io(dir, "cannot set mode on temp file in"))?;
    if let Some((uid, gid)) = owner {
        // The temp file belongs to whoever runs sshdoctor; give it the old owner back. Only root
        // can do that, and only root can reach here for a file that is not its own.
        let meta = f.metadata().map_err(io(dir, "cannot stat temp file in"))?;
        if meta.uid() != uid || meta.gid() != gid {
            std::os::unix::fs::fchown(f, Some(uid), Some(gid))
                .map_err(io(dir, "cannot keep the owner of the file in"))?;
        }
    }
    f.sync_all().map_err(io(dir, "cannot fsync temp file in"))?;
    Ok(tmp)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Replaces the snapshot's file with `bytes`, keeping its mode and owner. With `backup`, the old
/// bytes are first written (atomically too) to that path, as `ssh-keygen -R` keeps
/// `known_hosts.old`.
pub fn replace(snap: &Snapshot, bytes: &[u8], backup: Option<&Path>) -> Result<(), AtomicError> {
    let me = crate::paths::current_uid();
    if me != 0 && snap.uid != me {
        return Err(AtomicError::NotOurs {
            path: snap.path.clone(),
            uid: snap.uid,
        });
    }
    let dir = snap.target.parent().unwrap_or(Path::new("/"));
    let tmp = write_temp(dir, bytes, snap.mode, Some((snap.uid, snap.gid)))?;
    if let Some(backup) = backup {
        let bdir = backup.parent().unwrap_or(Path::new("/"));
        let old = write_temp(bdir, &snap.bytes, snap.mode, Some((snap.uid, snap.gid)))?;
        snap.verify_unchanged()?;
        old.persist(backup)
            .map_err(|e| io(backup, "cannot write backup")(e.error))?;
    }
    snap.verify_unchanged()?;
    tmp.persist(&snap.target)
        .map_err(|e| io(&snap.target, "cannot replace")(e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Creates a new file with `bytes` and `mode`, atomically; refuses if it already exists.
pub fn create(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AtomicError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let tmp = write_temp(dir, bytes, mode, None)?;
    tmp.persist_noclobber(path)
        .map_err(|e| io(path, "cannot create")(e.error))?;
    sync_dir(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_mode_writes_backup_and_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real_known_hosts");
        fs::write(&real, b"a\r\nb\n").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("known_hosts");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let snap = Snapshot::read(&link).unwrap();
        let backup = dir.path().join("known_hosts.old");
        replace(&snap, b"b\n", Some(&backup)).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"b\n");
        assert_eq!(fs::read(&backup).unwrap(), b"a\r\nb\n");
        assert_eq!(fs::metadata(&real).unwrap().mode() & 0o7777, 0o640);
    }

    #[test]
    fn a_file_changed_since_it_was_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kh");
        fs::write(&p, b"one\n").unwrap();
        let snap = Snapshot::read(&p).unwrap();
        fs::write(&p, b"one\ntwo\n").unwrap();
        let err = replace(&snap, b"", None).unwrap_err();
        assert!(matches!(err, AtomicError::Changed { .. }), "{err}");
        assert_eq!(fs::read(&p).unwrap(), b"one\ntwo\n");
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_directory_is_not_edited() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Snapshot::read(dir.path()).is_err());
    }
}

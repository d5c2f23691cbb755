//! The `remove-stale-socket` fix: an agent socket nothing listens on any more (the agent died
//! and left it, so `ssh-add` says "Error connecting to agent: Connection refused"). A socket
//! cannot be journaled or restored, so the fix deletes only what is certainly dead: a socket
//! whose connect is refused, checked again just before the removal.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// What is at an agent socket path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketState {
    /// A socket whose connect is refused: nothing listens.
    Dead,
    /// Something answers (or the connect failed for another reason): not ours to delete.
    Alive,
    /// Not a socket at all.
    NotASocket,
}

/// Looks at `path` without following a symlink.
pub fn state(path: &Path) -> std::io::Result<SocketState> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() {
        return Ok(SocketState::NotASocket);
    }
    Ok(match std::os::unix::net::UnixStream::connect(path) {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => SocketState::Dead,
        _ => SocketState::Alive,
    })
}

/// Removes `path` if it is still a dead socket.
pub fn remove_dead(path: &Path) -> anyhow::Result<()> {
    let ctx = |e: std::io::Error| anyhow::anyhow!("{}: {e}", path.display());
    match state(path).map_err(ctx)? {
        SocketState::Dead => std::fs::remove_file(path).map_err(ctx),
        other => anyhow::bail!(
            "{}: no longer a dead socket ({other:?}); not removing it",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_nobody_listens_on_is_dead_and_removed_a_live_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join("dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
        assert_eq!(state(&dead).unwrap(), SocketState::Dead);
        remove_dead(&dead).unwrap();
        assert!(!dead.exists());

        let live = dir.path().join("live.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&live).unwrap();
        assert_eq!(state(&live).unwrap(), SocketState::Alive);
        assert!(remove_dead(&live).is_err());
        assert!(live.exists());

        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(state(&file).unwrap(), SocketState::NotASocket);
    }
}

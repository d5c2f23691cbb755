//! A private tmux server running one shell command in a 100x30 pane, for the end-to-end tests
//! that drive the real binary and read the terminal back. Killed on drop.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `shell_command` in a detached session on a socket of its own.
    pub fn start(shell_command: &str) -> Tmux {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "sshdoctor-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let out = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "100", "-y", "30"])
            .arg(shell_command)
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux: {out:?}");
        Tmux { socket }
    }

    /// Runs a tmux command against this server and returns its stdout.
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

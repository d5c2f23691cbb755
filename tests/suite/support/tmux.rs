//! A private tmux server running one shell command in a 100x30 pane, for the end-to-end tests
//! that drive the real binary and read the terminal back. Killed on drop.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::BIN;

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

    /// Starts sshdoctor with `args` under `sh`, HOME at `home`, the agent, the XDG state dir and
    /// NO_COLOR unset and `env` (`NAME=value ...`, may be empty) set; after it exits the shell
    /// prints `EXIT=status` and the terminal modes (`stty -a`), then waits, so the final screen
    /// can be read.
    pub fn start_sshdoctor(home: &Path, env: &str, args: &[&str]) -> Tmux {
        let quoted: Vec<String> = args
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        Tmux::start(&format!(
            "env -u SSH_AUTH_SOCK -u XDG_STATE_HOME -u NO_COLOR HOME='{}' {env} '{BIN}' {}; echo EXIT=$?; stty -a; sleep 60",
            home.display(),
            quoted.join(" ")
        ))
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Sends each of `keys` (tmux key names: `Enter`, `C-c`, `q`, ...) in turn.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", k]);
        }
    }

    /// A tmux format variable of the pane (`alternate_on`, `cursor_flag`, `pane_pid`, ...).
    pub fn flag(&self, name: &str) -> String {
        self.tmux(&["display-message", "-p", &format!("#{{{name}}}")])
            .trim()
            .to_string()
    }

    /// Polls the visible screen until it contains `needle` (bounded: 60 s), and returns it.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_in(&["capture-pane", "-p"], needle)
    }

    /// Like [`Tmux::wait_for`], but over the scrollback as well as the screen.
    pub fn wait_for_scrollback(&self, needle: &str) -> String {
        self.wait_for_in(&["capture-pane", "-p", "-S", "-"], needle)
    }

    /// The screen once it shows `needle` and has settled: tmux can capture between two of a
    /// frame's writes (a popup half drawn), so after the needle appears the screen is read
    /// until two captures agree (for at most half a second, a spinner may never stop).
    fn wait_for_in(&self, capture: &[&str], needle: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.tmux(capture);
            if s.contains(needle) {
                let settle = Instant::now();
                let mut last = s;
                while settle.elapsed() < Duration::from_millis(500) {
                    std::thread::sleep(Duration::from_millis(30));
                    let next = self.tmux(capture);
                    if !next.contains(needle) {
                        break;
                    }
                    if next == last {
                        return next;
                    }
                    last = next;
                }
                return last;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "never saw {needle:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(40));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

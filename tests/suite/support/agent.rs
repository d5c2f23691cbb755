//! A private ssh-agent for a test (never the user's): SSH_AUTH_SOCK is set only on the children
//! that should use it, the test process's environment is never touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `ssh-agent -D -a DIR/agent.sock`, answering once started; stopped and reaped when the test
/// ends, pass or fail.
pub struct Agent {
    pub sock: PathBuf,
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

impl Agent {
    /// An agent with its socket in a temp dir of its own.
    pub fn start() -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut agent = Agent::start_in(dir.path());
        agent._dir = Some(dir);
        agent
    }

    /// An agent with its socket at `dir/agent.sock`, in a directory the test owns (and may look
    /// into after the agent stopped).
    pub fn start_in(dir: &Path) -> Agent {
        let sock = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .env("HOME", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let agent = Agent {
            sock,
            child,
            _dir: None,
        };
        let start = Instant::now();
        // Until it answers (`ssh-add -l`: 0 with keys, 1 without, 2 when it cannot connect),
        // not only until its socket exists: ssh-agent binds the socket before it listens and
        // before it installs its SIGTERM handler, so a connect or a SIGTERM in between (a loaded
        // machine) would fail or kill it without removing the socket.
        while agent.ssh_add(&[Path::new("-l")]).status.code() == Some(2) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "ssh-agent did not start answering on its socket"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        agent
    }

    /// `ssh-add ARGS` against this agent, never asking anything.
    pub fn ssh_add(&self, args: &[&Path]) -> Output {
        Command::new("ssh-add")
            .args(args)
            .env("SSH_AUTH_SOCK", &self.sock)
            .env_remove("SSH_ASKPASS")
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .output()
            .expect("run ssh-add")
    }

    /// `ssh-add KEY` (the test fails when it does).
    pub fn add(&self, key: &Path) {
        let out = self.ssh_add(&[key]);
        assert!(out.status.success(), "ssh-add: {out:?}");
    }
}

impl Drop for Agent {
    /// SIGTERM first (ssh-agent then removes its socket, as on a real logout), SIGKILL if it
    /// lingers; always reaped.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling our own child by its pid; it is not reaped yet, so the pid is ours.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let start = Instant::now();
        // Generous: on a loaded machine ssh-agent may take seconds to be scheduled, and a
        // SIGKILL would leave its socket behind.
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

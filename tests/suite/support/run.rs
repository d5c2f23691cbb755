//! The sshdoctor binary, run the way every test runs it: `HOME` at a temp dir of the test's, the
//! XDG dirs, the agent and the secret variables unset (so the user's own setup is never read or
//! written), stdin not a terminal.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::BIN;

/// `sshdoctor ARGS` with `HOME` at `home`; `env` set on top (`SSHDOCTOR_PASSWORD`, ...).
pub fn sshdoctor(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut run = Sshdoctor::new(home).args(args);
    for (k, v) in env {
        run = run.env(k, v);
    }
    run.output()
}

/// One run of the binary, built up; see [`Sshdoctor::new`].
pub struct Sshdoctor {
    cmd: Command,
    stdin: Option<String>,
}

impl Sshdoctor {
    /// `sshdoctor` with `HOME` at `home`, `XDG_STATE_HOME`, `XDG_DATA_HOME`,
    /// `XDG_CONFIG_HOME`, `SSH_AUTH_SOCK`, `SSHDOCTOR_PASSWORD` and `SSHDOCTOR_PASSPHRASE`
    /// unset, stdin empty.
    pub fn new(home: &Path) -> Sshdoctor {
        Sshdoctor::under(home, &[])
    }

    /// The same, run by `wrapper` (`WRAPPER... sshdoctor ARGS`: strace, GNU time), which
    /// passes the environment on.
    pub fn under(home: &Path, wrapper: &[&str]) -> Sshdoctor {
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        cmd.env("HOME", home)
            .env_remove("XDG_STATE_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("SSHDOCTOR_PASSWORD")
            .env_remove("SSHDOCTOR_PASSPHRASE")
            .stdin(Stdio::null());
        Sshdoctor { cmd, stdin: None }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// `SSH_AUTH_SOCK` at a test's own agent.
    pub fn agent(self, sock: &Path) -> Self {
        self.env("SSH_AUTH_SOCK", sock)
    }

    /// What the binary reads on stdin (a password, a passphrase), written at once.
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_string());
        self
    }

    /// The command as built, for a test that spawns it itself (to kill it, or to know its
    /// pid) or sends its output elsewhere.
    pub fn command(self) -> Command {
        assert!(self.stdin.is_none(), "stdin is written by output()");
        self.cmd
    }

    /// Runs it to the end: exit status, stdout and stderr.
    pub fn output(mut self) -> Output {
        let Some(text) = self.stdin.take() else {
            return self.cmd.output().expect("run sshdoctor");
        };
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sshdoctor");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait for sshdoctor")
    }

    /// Runs it and reads its stdout as one JSON document: the exit code and the value (the
    /// test fails, with what was printed, when it is not JSON).
    pub fn json(self) -> (Option<i32>, serde_json::Value) {
        let out = self.output();
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "sshdoctor printed no JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code(), v)
    }
}

/// What a run printed on stdout or stderr, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The finding ids of a JSON report, in order.
pub fn ids_of(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

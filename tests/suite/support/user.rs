//! Local accounts for real logins over a test sshd, made with useradd and removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A local account; `userdel` on drop (with the home useradd made for it). Each has a name of
/// its own: tests run side by side in one process.
pub struct TestUser {
    pub name: String,
    pub home: PathBuf,
    made_home: bool,
}

fn next_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("sdt{}x{n}", std::process::id() % 100_000)
}

impl TestUser {
    /// An account with a home under /home made by `useradd -m` and `password` set by chpasswd.
    pub fn with_password(password: &str) -> TestUser {
        let name = next_name();
        let _ = Command::new("userdel").args(["-r", &name]).output();
        passwd_db("useradd", &["-m", "-s", "/bin/sh", &name], None);
        passwd_db("chpasswd", &[], Some(&format!("{name}:{password}\n")));
        TestUser {
            home: PathBuf::from(format!("/home/{name}")),
            name,
            made_home: true,
        }
    }

    /// An account whose home is `home` (not created here) and that has no password (`*`: key
    /// logins only).
    pub fn with_home(home: &Path) -> TestUser {
        let name = next_name();
        let h = home.to_str().expect("utf-8 home");
        passwd_db("useradd", &["-M", "-d", h, "-s", "/bin/sh", &name], None);
        passwd_db("usermod", &["-p", "*", &name], None);
        TestUser {
            name,
            home: home.to_path_buf(),
            made_home: false,
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let args: &[&str] = if self.made_home {
            &["-r", "-f", &self.name]
        } else {
            &[&self.name]
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while locked(&run("userdel", args, None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn run(cmd: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

/// Whether a command failed on the lock of /etc/passwd or /etc/shadow.
fn locked(o: &Output) -> bool {
    !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("lock")
}

/// useradd, usermod and chpasswd lock /etc/passwd and /etc/shadow; tests running side by side
/// may meet there, so a lock is waited out (up to 30 s), any other failure fails the test.
fn passwd_db(cmd: &str, args: &[&str], stdin: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = run(cmd, args, stdin);
        if o.status.success() {
            return;
        }
        assert!(
            locked(&o) && Instant::now() < deadline,
            "{cmd} {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

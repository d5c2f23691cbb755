//! Thin, safe wrappers over the few operating-system calls the std library does not offer.
//!
//! Why a module of its own: `unsafe` code is easiest to review when it sits in one place with
//! its reasons next to it, and the rest of the program stays safe Rust.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

/// What the terminal's input side says after waiting on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyInput {
    /// Bytes (a key, a mouse report) are waiting to be read.
    Ready,
    /// Nothing arrived within the wait.
    Idle,
    /// The terminal is gone: its emulator closed, the SSH session dropped, the tmux server was
    /// killed. Reading would return end-of-file or `EIO` for ever.
    HungUp,
}

/// The file descriptor the dashboard reads keys from: standard input when it is a terminal,
/// otherwise `/dev/tty` (the same choice crossterm makes, so both watch the same terminal).
pub struct Tty {
    fd: RawFd,
    /// Keeps `/dev/tty` open when it was opened here.
    _owned: Option<File>,
}

impl Tty {
    pub fn open() -> std::io::Result<Tty> {
        // SAFETY: isatty only inspects the descriptor number.
        if unsafe { libc::isatty(libc::STDIN_FILENO) } == 1 {
            return Ok(Tty {
                fd: libc::STDIN_FILENO,
                _owned: None,
            });
        }
        let f = File::options().read(true).write(true).open("/dev/tty")?;
        Ok(Tty {
            fd: f.as_raw_fd(),
            _owned: Some(f),
        })
    }

    /// Waits up to `timeout` for input, and tells a hung-up terminal from an idle one.
    ///
    /// Why this exists: crossterm's reader loops for ever when a read returns end-of-file or
    /// `EIO` (it only leaves its loop on `WouldBlock`), so once the terminal is gone the
    /// dashboard would spin at full CPU and never see a signal. Asking `poll(2)` first lets the
    /// event loop leave before crossterm ever reads a dead terminal.
    pub fn wait(&self, timeout: Duration) -> TtyInput {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd, owned by this frame, for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            // EINTR (a signal, such as SIGWINCH or SIGTERM): let the caller look at its flags.
            return TtyInput::Idle;
        }
        if rc == 0 {
            return TtyInput::Idle;
        }
        if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return TtyInput::HungUp;
        }
        if pfd.revents & libc::POLLIN != 0 && self.at_end() {
            return TtyInput::HungUp;
        }
        TtyInput::Ready
    }

    /// True when the terminal reports input ready but holds no bytes and is not a terminal any
    /// more (some systems signal a hangup only as a readable end-of-file).
    fn at_end(&self) -> bool {
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int through the pointer, which outlives the call.
        let rc = unsafe { libc::ioctl(self.fd, libc::FIONREAD as _, &mut pending) };
        if rc != 0 {
            return true;
        }
        // SAFETY: isatty only inspects the descriptor.
        pending == 0 && unsafe { libc::isatty(self.fd) } != 1
    }
}

/// Ends the process at once with `code`, without running destructors or flushing buffers.
///
/// For the dashboard's last resort when its terminal is gone: flushing standard output to a
/// terminal that nobody reads could block for ever, and there is nothing left to restore.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// The password database entry for this process: ssh's idea of home and local user.
pub(crate) struct Passwd {
    pub(crate) name: String,
    pub(crate) home: PathBuf,
}

/// The real uid of this process (`getuid`), ssh's `%i` token.
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// This process's password database entry (`getpwuid_r`, the buffer grown while it is too
/// small), or None when there is none.
pub(crate) fn passwd() -> Option<Passwd> {
    let uid = current_uid();
    let mut size = 4096usize;
    while size <= 1 << 20 {
        let mut buf: Vec<libc::c_char> = vec![0; size];
        // SAFETY: zeroed passwd is a valid out-parameter (pointers null, ints zero).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the given sizes for the duration of the call.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE {
            size *= 4;
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        // SAFETY: on success both fields point to NUL-terminated strings inside `buf`.
        let (name, home) = unsafe {
            (
                CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned(),
                CStr::from_ptr(pwd.pw_dir).to_string_lossy().into_owned(),
            )
        };
        return Some(Passwd {
            name,
            home: PathBuf::from(home),
        });
    }
    None
}

/// The machine's host name (`gethostname`), ssh's `%l` token; empty when it cannot be had.
pub(crate) fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its full length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).into_owned()
}

/// A user's name and primary group (`getpwuid_r`), None when the uid has no entry.
pub fn user_by_uid(uid: u32) -> Option<(String, u32)> {
    let mut buf = vec![0 as libc::c_char; DB_BUF];
    // SAFETY: a zeroed passwd is a valid value (null pointers, zero ids) and is only read after
    // getpwuid_r reports success; all strings point into `buf`, which outlives their use.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the given sizes for the duration of the call.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: pw_name is a NUL-terminated string inside `buf` (checked non-null above).
    let name = unsafe { CStr::from_ptr(pwd.pw_name) }
        .to_string_lossy()
        .into_owned();
    Some((name, pwd.pw_gid))
}

/// A group's name and members (`getgrgid_r`), None when the gid has no entry.
pub fn group_by_gid(gid: u32) -> Option<(String, Vec<String>)> {
    let mut buf = vec![0 as libc::c_char; DB_BUF];
    // SAFETY: as in user_by_uid.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the given sizes for the duration of the call.
    let rc = unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || grp.gr_name.is_null() {
        return None;
    }
    // SAFETY: gr_name is NUL-terminated inside `buf`; gr_mem is a NULL-terminated array of
    // NUL-terminated strings inside `buf`, walked until the NULL entry.
    let name = unsafe { CStr::from_ptr(grp.gr_name) }
        .to_string_lossy()
        .into_owned();
    let mut members = Vec::new();
    if !grp.gr_mem.is_null() {
        let mut i = 0;
        loop {
            // SAFETY: i stays within the NULL-terminated array (checked each step).
            let p = unsafe { *grp.gr_mem.add(i) };
            if p.is_null() || i > 4096 {
                break;
            }
            // SAFETY: each entry is a NUL-terminated string inside `buf`.
            members.push(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
            i += 1;
        }
    }
    Some((name, members))
}

/// The size of the buffer for one password or group database entry.
const DB_BUF: usize = 16 * 1024;

/// Whether standard input is a terminal (a person can be asked).
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(0) == 1 }
}

/// A terminal with echo turned off (and the newline still echoed), for a passphrase prompt;
/// the old settings come back when this is dropped, even if reading fails.
pub struct EchoOff {
    fd: i32,
    saved: libc::termios,
}

impl EchoOff {
    /// Turns echo off on the terminal `fd`.
    pub fn on(fd: i32) -> std::io::Result<EchoOff> {
        // SAFETY: a zeroed termios is a valid buffer; tcgetattr fills it or fails.
        let mut term: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is an open descriptor of the caller's; term is valid for writing.
        if unsafe { libc::tcgetattr(fd, &mut term) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let guard = EchoOff { fd, saved: term };
        term.c_lflag &= !libc::ECHO;
        term.c_lflag |= libc::ECHONL;
        // SAFETY: applies modified attributes to the same descriptor; restored by the guard.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(guard)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read from the same open descriptor.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// An exclusive `flock` on `f`, waiting for whoever holds it (released when `f` closes).
pub fn flock_exclusive(f: &File) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor the caller owns; no memory is passed.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Whether another process holds the file `(dev, ino)` open for writing, read from
/// `/proc/PID/fd` and `fdinfo` (only the processes this user may look into, which include every
/// `ssh` of this user). Why: ssh appends to known_hosts without a lock, so after sshdoctor renamed
/// an edited file into place, an ssh that opened the old file before the rename may still write
/// to it; while one holds it open, the edit keeps carrying its appends over. Off Linux there is
/// no `/proc` to ask: `false`, and the carry-over stops at its last look.
pub fn open_for_writing_elsewhere(dev: u64, ino: u64) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let me = std::process::id().to_string();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return false;
        };
        for p in procs.flatten() {
            let name = p.file_name();
            let name = name.to_string_lossy();
            if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(m) = std::fs::metadata(fd.path()) else {
                    continue;
                };
                if m.dev() != dev || m.ino() != ino {
                    continue;
                }
                let info = std::fs::read_to_string(p.path().join("fdinfo").join(fd.file_name()));
                // O_WRONLY or O_RDWR (octal flags); unreadable counts as writable, to be safe.
                let writable = info.ok().and_then(|i| {
                    i.lines()
                        .find_map(|l| l.strip_prefix("flags:"))
                        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                });
                if writable.is_none_or(|f| f & 3 != 0) {
                    return true;
                }
            }
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (dev, ino);
        false
    }
}

/// Whether a process with this pid exists (signal 0: nothing is sent). A process of another
/// user counts as running.
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; it sends nothing.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Local time to epoch seconds through the C library (`mktime`, daylight saving decided by
/// the zone), as sshd reads `expiry-time`.
pub fn local_mktime(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    // SAFETY: tm is a plain C struct; zeroed is a valid value and mktime only reads/normalises it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = i32::try_from(y - 1900).ok()?;
    tm.tm_mon = i32::try_from(mo - 1).ok()?;
    tm.tm_mday = i32::try_from(d).ok()?;
    tm.tm_hour = i32::try_from(h).ok()?;
    tm.tm_min = i32::try_from(mi).ok()?;
    tm.tm_sec = i32::try_from(s).ok()?;
    tm.tm_isdst = -1;
    // SAFETY: tm points to a valid, initialised struct for the duration of the call.
    let t = unsafe { libc::mktime(&mut tm) };
    if t == -1 {
        None
    } else {
        Some(t)
    }
}

/// What a bounded subprocess printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a bounded subprocess gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} did not answer within {} ms", .timeout.as_millis())]
    TimedOut { program: String, timeout: Duration },
    #[error("waiting for {program}: {source}")]
    Wait {
        program: String,
        source: std::io::Error,
    },
}

/// Runs `cmd` (stdin from /dev/null, C messages) and kills it if it has not ended after
/// `timeout`: every helper sshdoctor starts (`ssh -G`, `sshd -T`, `sshd -t`, `journalctl`,
/// `ssh -V`/`-Q`) goes through here, so a hung one (a `Match exec`, a journal on a slow disk)
/// cannot hang sshdoctor with it. On a timeout the pipe readers are left to finish on their
/// own: a grandchild may still hold the pipes open, and joining would hang with it.
pub fn run_bounded(cmd: &mut std::process::Command, timeout: Duration) -> Result<Ran, RunError> {
    use std::io::Read;
    use std::process::Stdio;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: program.clone(),
            source,
        })?;
    let read_all = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out_t = read_all(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err_t = read_all(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let start = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::TimedOut { program, timeout });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(source) => return Err(RunError::Wait { program, source }),
        }
    };
    Ok(Ran {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::FromRawFd;

    /// A pseudo-terminal pair, as the tests' stand-in for a terminal emulator.
    fn pty() -> (File, File) {
        // SAFETY: standard openpty-style calls on descriptors this test owns.
        unsafe {
            // Close-on-exec: a process another test spawns meanwhile must not inherit the
            // master, or closing it here would not hang the terminal up.
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            assert!(master >= 0);
            assert_eq!(libc::grantpt(master), 0);
            assert_eq!(libc::unlockpt(master), 0);
            let name = libc::ptsname(master);
            assert!(!name.is_null());
            let slave = libc::open(name, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            assert!(slave >= 0);
            (File::from_raw_fd(master), File::from_raw_fd(slave))
        }
    }

    #[test]
    fn a_helper_that_hangs_is_killed_at_its_bound_and_one_that_answers_is_read() {
        let ran = run_bounded(
            std::process::Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(ran.stdout, b"out\n");
        assert_eq!(ran.stderr, b"err\n");
        assert_eq!(ran.status.code(), Some(3));
        let t0 = std::time::Instant::now();
        let hung = run_bounded(
            std::process::Command::new("sleep").arg("600"),
            Duration::from_millis(200),
        );
        assert!(matches!(hung, Err(RunError::TimedOut { .. })), "{hung:?}");
        assert!(t0.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn a_closed_terminal_is_seen_as_hung_up_not_as_input() {
        use std::io::Write;
        let (mut master, slave) = pty();
        let tty = Tty {
            fd: slave.as_raw_fd(),
            _owned: None,
        };
        assert_eq!(tty.wait(Duration::from_millis(10)), TtyInput::Idle);
        // (A whole line: the pty is in canonical mode, as no one made it raw.)
        master.write_all(b"q\n").unwrap();
        assert_eq!(tty.wait(Duration::from_secs(10)), TtyInput::Ready);
        // Read the line, so the next wait blocks until the hangup itself (a process another
        // test forks may hold the master a moment longer, until its exec closes it).
        let mut buf = [0u8; 8];
        let _ = std::io::Read::read(&mut &slave, &mut buf);
        drop(master);
        assert_eq!(tty.wait(Duration::from_secs(10)), TtyInput::HungUp);
        drop(slave);
    }
}

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
pub(crate) fn current_uid() -> u32 {
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

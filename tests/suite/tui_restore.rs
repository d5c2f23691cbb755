//! The terminal is given back (issue 8, point 6): after a panic (the test-only trigger
//! `SSHDOCTOR_TEST_PANIC=1`, a panic on the first key) and after Ctrl-C, checked in a real
//! terminal (tmux) by its state after exit: main screen, cursor visible, mouse reporting off,
//! `stty -a` in cooked mode with echo. SIGTERM is covered in tui_tmux.rs. HOME is a temp
//! dir; the agent and the XDG state dir are unset.

use std::time::{Duration, Instant};

use crate::support::tmux::Tmux;
use crate::support::BIN;

impl Tmux {
    /// Waits for the dashboard, checks it took over the terminal.
    fn wait_for_dashboard(&self) {
        self.wait_for_scrollback("Findings");
        assert_eq!(
            self.flag("alternate_on"),
            "1",
            "the TUI uses the alternate screen"
        );
        assert_eq!(self.flag("cursor_flag"), "0", "the TUI hides the cursor");
        assert_ne!(self.flag("mouse_any_flag"), "0", "the TUI reads the mouse");
    }

    /// After exit: main screen, cursor shown, no mouse reporting, cooked mode with echo.
    fn assert_restored(&self) -> String {
        let s = self.wait_for_scrollback("icanon");
        assert_eq!(self.flag("alternate_on"), "0", "{s}");
        assert_eq!(self.flag("cursor_flag"), "1", "{s}");
        assert_eq!(self.flag("mouse_any_flag"), "0", "{s}");
        let words: Vec<&str> = s.split_whitespace().collect();
        assert!(words.contains(&"icanon") && words.contains(&"echo"), "{s}");
        assert!(
            !words.contains(&"-icanon") && !words.contains(&"-echo"),
            "{s}"
        );
        s
    }
}

fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("temp HOME");
    std::fs::create_dir_all(home.path().join(".ssh")).expect("mkdir .ssh");
    home
}

#[test]
fn a_panic_restores_the_terminal_and_then_shows_the_message() {
    let home = home();
    let t = Tmux::start_sshdoctor(home.path(), "SSHDOCTOR_TEST_PANIC=1", &[]);
    t.wait_for_dashboard();
    t.tmux(&["send-keys", "j"]);
    let s = t.wait_for_scrollback("EXIT=");
    assert!(s.contains("EXIT=101"), "a panic exits 101:\n{s}");
    let s = t.assert_restored();
    // The message is on the main screen, readable: printed after the restore, not lost in the
    // alternate screen or overwritten.
    let msg = s
        .find("deliberate panic on the first key")
        .unwrap_or_else(|| panic!("no panic message on the screen:\n{s}"));
    let exit = s.find("EXIT=101").unwrap_or(0);
    assert!(msg < exit, "{s}");
    // Nothing of the dashboard is left on the main screen.
    assert!(!s.contains("Findings"), "{s}");
}

#[test]
fn ctrl_c_restores_the_terminal() {
    let home = home();
    let t = Tmux::start_sshdoctor(home.path(), "", &[]);
    t.wait_for_dashboard();
    t.tmux(&["send-keys", "C-c"]);
    let s = t.wait_for_scrollback("EXIT=");
    assert!(s.contains("EXIT=0"), "{s}");
    let s = t.assert_restored();
    assert!(!s.contains("Findings"), "{s}");
}

/// Process state, CPU seconds used (user + system) from `/proc/PID/stat`; `None` once the
/// process is gone or only a zombie waiting to be reaped is left.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}

/// Issue 17, point 1: closing the terminal (here: killing the tmux server, as a dropped SSH
/// session or a closed terminal window does) ends the dashboard within a second or two, without
/// spinning on the dead terminal.
#[test]
fn the_dashboard_ends_when_its_terminal_goes_away() {
    let home = home();
    let t = Tmux::start(&format!(
        "exec env -u SSH_AUTH_SOCK -u XDG_STATE_HOME SSHDOCTOR_NO_SERVER_PANE=1 HOME='{}' '{BIN}'",
        home.path().display(),
    ));
    t.wait_for_dashboard();
    let pid: u32 = t
        .flag("pane_pid")
        .parse()
        .expect("the pane runs sshdoctor itself");
    let before = cpu_seconds(pid).expect("sshdoctor is running");
    t.tmux(&["kill-server"]);
    let killed = Instant::now();
    let mut last = before;
    while let Some(cpu) = cpu_seconds(pid) {
        last = cpu;
        assert!(
            killed.elapsed() < Duration::from_secs(2),
            "sshdoctor still runs {:?} after its terminal went away ({cpu:.2} s CPU)",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        last - before < 0.5,
        "sshdoctor used {:.2} s of CPU after its terminal went away",
        last - before
    );
}

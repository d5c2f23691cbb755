//! The dashboard: a ratatui view over the same inspection, live probe and fixes the CLI uses.
//!
//! The shape is one [`App`] state, one [`Msg`] type, `update` and a `render(&self)`. This module
//! is the thin shell around it: it owns the terminal (and always gives it back: on quit, Ctrl-C,
//! SIGTERM/SIGHUP/SIGINT and panics), turns terminal events into messages, and runs the
//! [`Effect`]s the app asks for on background threads so the first frame is drawn at once and
//! the UI never waits on the disk or the network.

pub mod app;
pub mod browser;
pub mod edit;
pub mod effects;
pub mod fixes;
pub mod keymap;
pub mod layout;
mod merge;
pub mod panes;
pub mod password;
pub mod render;
pub mod text;
pub mod widgets;

use std::io::{self, Stdout, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use anyhow::Context;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind,
};
use ratatui::crossterm::terminal::{
    self, BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen,
    LeaveAlternateScreen,
};
use ratatui::crossterm::{cursor, execute};
use ratatui::Terminal;

pub use app::{App, Effect, Msg};

use crate::exit::Exit;
use crate::paths::SshPaths;
use crate::probe::setup::ProbeRequest;

/// The signal (SIGTERM, SIGHUP or SIGINT) that asked the dashboard to stop, 0 while none has;
/// the event loop sees it within one poll interval and leaves through the normal path, which
/// restores the terminal.
static STOP: AtomicI32 = AtomicI32::new(0);

/// How long the event loop gets to leave by itself after a signal before the watchdog ends the
/// process (a write to a terminal nobody reads can block; the user asked it to stop).
const STOP_GRACE: Duration = Duration::from_millis(700);

/// Installs the handlers for SIGTERM, SIGHUP and SIGINT and starts the watchdog thread.
///
/// A signal sets [`STOP`], which the event loop polls. The watchdog, woken by signal-hook's
/// self-pipe (no polling), gives the loop [`STOP_GRACE`] and then ends the process itself: the
/// dashboard must end when asked even if the main thread is stuck (a blocked write to a
/// terminal that is gone, or a read loop inside crossterm).
fn install_signal_handlers() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT])
        .context("cannot install the signal handlers")?;
    std::thread::Builder::new()
        .name("signal-watchdog".into())
        .spawn(move || {
            // Ctrl-C while a fix runs in the terminal is the child's (it is in the
            // foreground process group too): the dashboard waits for it instead of ending.
            let mut pending = signals
                .forever()
                .filter(|&sig| !(sig == SIGINT && CHILD_RUNNING.load(Ordering::SeqCst)));
            if let Some(sig) = pending.next() {
                STOP.store(sig, Ordering::SeqCst);
                std::thread::sleep(STOP_GRACE);
                // Still running: leave without touching the terminal again.
                ACTIVE.store(false, Ordering::SeqCst);
                crate::sys::exit_now(128 + sig);
            }
        })
        .context("cannot start the signal watchdog")?;
    Ok(())
}

/// True while the terminal is in TUI mode (raw, alternate screen, mouse on).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// True while a command runs in the terminal with the dashboard stepped aside.
static CHILD_RUNNING: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as it was: mouse off, main screen, cooked mode, cursor shown.
/// Safe to call more than once: only the first call after [`TerminalGuard::enter`] writes
/// anything. (A second "leave alternate screen" is not harmless: it restores the cursor position
/// saved on entry, so text printed in between, such as a panic message, would be overwritten.)
pub fn restore_terminal() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    let _ = execute!(out, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

/// The terminal in TUI mode; dropping it restores the terminal, whatever path leads there.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    /// The terminal's input side, watched for hangup before crossterm reads it.
    tty: crate::sys::Tty,
}

/// Raw mode, the alternate screen, mouse reporting on, cursor hidden.
fn enter_tui_mode() -> anyhow::Result<()> {
    terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
    ACTIVE.store(true, Ordering::SeqCst);
    if let Err(e) = execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        cursor::Hide
    ) {
        restore_terminal();
        return Err(e).context("cannot set up the terminal");
    }
    Ok(())
}

impl TerminalGuard {
    /// Runs `sshdoctor ARGS` in the terminal as a shell would: the dashboard gives the
    /// terminal back, waits for the command, lets the user read what it printed, then takes
    /// the terminal again and redraws. Returns the exit status and the journal entries the
    /// command added.
    fn run_in_terminal(
        &mut self,
        args: &[String],
        journal: &Result<PathBuf, String>,
    ) -> Result<(i32, Vec<u64>), String> {
        let last_seq = || -> u64 {
            journal
                .as_ref()
                .ok()
                .and_then(|j| crate::fix::journal::read(j).ok())
                .and_then(|r| r.iter().map(|x| x.seq()).max())
                .unwrap_or(0)
        };
        let before = last_seq();
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find sshdoctor itself: {e}"))?;
        restore_terminal();
        CHILD_RUNNING.store(true, Ordering::SeqCst);
        println!("$ sshdoctor {}", args.join(" "));
        let status = std::process::Command::new(exe).args(args).status();
        println!("\n[press Enter to go back to the dashboard]");
        let _ = io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut io::stdin().lock(), &mut line);
        CHILD_RUNNING.store(false, Ordering::SeqCst);
        enter_tui_mode().map_err(|e| format!("{e:#}"))?;
        let _ = self.terminal.clear();
        let status = status.map_err(|e| format!("cannot start it: {e}"))?;
        let added = journal
            .as_ref()
            .ok()
            .and_then(|j| crate::fix::journal::read(j).ok())
            .map(|records| {
                records
                    .iter()
                    .filter(|r| {
                        r.seq() > before && matches!(r, crate::fix::journal::Record::Apply { .. })
                    })
                    .map(|r| r.seq())
                    .collect()
            })
            .unwrap_or_default();
        Ok((status.code().unwrap_or(1), added))
    }

    fn enter() -> anyhow::Result<TerminalGuard> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        install_signal_handlers()?;
        enter_tui_mode()?;
        let tty = match crate::sys::Tty::open() {
            Ok(t) => t,
            Err(e) => {
                restore_terminal();
                return Err(e).context("cannot open the terminal");
            }
        };
        let terminal = match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(t) => t,
            Err(e) => {
                restore_terminal();
                return Err(e).context("cannot set up the terminal");
            }
        };
        Ok(TerminalGuard { terminal, tty })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// `sshdoctor` and `sshdoctor [user@]host[:port]`: the dashboard.
pub fn run_dashboard(target: Option<String>) -> anyhow::Result<Exit> {
    let paths = SshPaths::from_env()?;
    if let Some(t) = &target {
        // A bad target is a usage error, said before the screen changes.
        crate::target::parse_target(t).map_err(|e| crate::exit::usage(e.to_string()))?;
    }
    let known_hosts = paths.known_hosts();
    let app = App::dashboard(paths.clone(), target.clone(), known_hosts.clone());
    let shell = effects::Shell {
        probe: target.as_deref().map(ProbeRequest::for_target),
        target,
        paths,
        known_hosts,
        journal: crate::fix::journal::journal_path().map_err(|e| format!("{e:#}")),
        tx: mpsc::channel().0,
    };
    run_app(app, shell)
}

/// `sshdoctor known-hosts [-f FILE]`: the browser alone.
pub fn run_known_hosts(file: Option<PathBuf>) -> anyhow::Result<Exit> {
    let paths = SshPaths::from_env()?;
    let file = file.unwrap_or_else(|| paths.known_hosts());
    let app = App::known_hosts(paths.clone(), file.clone());
    let shell = effects::Shell {
        probe: None,
        target: None,
        paths,
        known_hosts: file,
        journal: crate::fix::journal::journal_path().map_err(|e| format!("{e:#}")),
        tx: mpsc::channel().0,
    };
    run_app(app, shell)
}

/// `SSHDOCTOR_TEST_PANIC=1`: panic on the first key, so the tests can check that a panic gives
/// the terminal back (tests/tui_restore.rs). Read once at start; nothing else looks at it.
fn test_panic_requested() -> bool {
    std::env::var_os("SSHDOCTOR_TEST_PANIC").is_some_and(|v| v == "1")
}

fn run_app(mut app: App, mut shell: effects::Shell) -> anyhow::Result<Exit> {
    app.shared.color = !no_color();
    let panic_on_key = test_panic_requested();
    let (tx, rx) = mpsc::channel();
    shell.tx = tx;
    let mut guard = TerminalGuard::enter()?;
    let size = guard
        .terminal
        .size()
        .context("cannot read the terminal size")?;
    app.update(Msg::Resize(size.width, size.height));
    let effects = app.initial_effects();
    dispatch(&mut guard, &mut app, &shell, effects);
    let end = event_loop(&mut guard, &mut app, &shell, &rx, panic_on_key)?;
    if end == LoopEnd::HungUp {
        // Nothing to give back: the terminal is gone, and writing to it is pointless.
        ACTIVE.store(false, Ordering::SeqCst);
    }
    drop(guard);
    Ok(match end {
        LoopEnd::Quit => Exit::Clean,
        LoopEnd::HungUp => Exit::Hangup,
    })
}

/// Runs the effects the app asked for: a command for the terminal here (it needs the terminal),
/// everything else on the shell's threads.
fn dispatch(
    guard: &mut TerminalGuard,
    app: &mut App,
    shell: &effects::Shell,
    effects: Vec<Effect>,
) {
    for e in effects {
        match e {
            Effect::RunInTerminal(args) => {
                let result = guard.run_in_terminal(&args, &shell.journal);
                let command = format!("sshdoctor {}", args.join(" "));
                let more = app.update(Msg::RanInTerminal(command, result));
                dispatch(guard, app, shell, more);
            }
            e => shell.run(e),
        }
    }
}

fn draw(guard: &mut TerminalGuard, app: &App) -> anyhow::Result<()> {
    let _ = execute!(io::stdout(), BeginSynchronizedUpdate);
    guard
        .terminal
        .draw(|f| app.render(f))
        .context("cannot draw")?;
    let _ = execute!(io::stdout(), EndSynchronizedUpdate);
    Ok(())
}

/// Why the event loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoopEnd {
    /// The user quit, or SIGTERM/SIGINT asked it to.
    Quit,
    /// The terminal went away (SIGHUP, or end-of-file / an error on its input).
    HungUp,
}

fn event_loop(
    guard: &mut TerminalGuard,
    app: &mut App,
    shell: &effects::Shell,
    rx: &Receiver<Msg>,
    panic_on_key: bool,
) -> anyhow::Result<LoopEnd> {
    let mut dirty = true;
    let mut last_tick = Instant::now();
    loop {
        if dirty {
            draw(guard, app)?;
            dirty = false;
        }
        match STOP.load(Ordering::SeqCst) {
            0 if !app.quit => {}
            libc::SIGHUP => return Ok(LoopEnd::HungUp),
            _ => return Ok(LoopEnd::Quit),
        }
        while let Ok(msg) = rx.try_recv() {
            let effects = app.update(msg);
            dispatch(guard, app, shell, effects);
            dirty = true;
        }
        if dirty {
            continue;
        }
        if guard.tty.wait(Duration::from_millis(50)) == crate::sys::TtyInput::HungUp {
            return Ok(LoopEnd::HungUp);
        }
        // Whatever crossterm has ready (keys, and resizes from its SIGWINCH pipe), never waiting.
        while event::poll(Duration::ZERO).context("cannot read the terminal")? {
            let event = event::read().context("cannot read the terminal")?;
            if panic_on_key && matches!(event, Event::Key(_)) {
                panic!("SSHDOCTOR_TEST_PANIC: deliberate panic on the first key");
            }
            let msg = match event {
                Event::Key(k) if k.kind != KeyEventKind::Release => Some(Msg::Key(k)),
                Event::Mouse(m) => Some(Msg::Mouse(m)),
                Event::Resize(w, h) => Some(Msg::Resize(w, h)),
                _ => None,
            };
            if let Some(msg) = msg {
                let effects = app.update(msg);
                dispatch(guard, app, shell, effects);
                dirty = true;
            }
            if app.quit {
                break;
            }
        }
        if app.animating() && last_tick.elapsed() >= Duration::from_millis(100) {
            last_tick = Instant::now();
            app.update(Msg::Tick);
            dirty = true;
        }
    }
}

//! The dashboard's state, its one message type and `update`. Nothing here touches the disk, the
//! network or the terminal: work is asked for with [`Effect`]s that the shell in `mod.rs` runs,
//! and results come back as [`Msg`]s. That keeps every screen reachable from a test.
//!
//! Each pane is a component (`tui::panes`) that owns its state, keys and drawing; the `App`
//! keeps what they share ([`Shared`]) and what is no one pane's (the overlay, the status line,
//! undo, the effects), and routes keys, clicks and messages to the pane in focus.

use std::path::PathBuf;

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::browser::{self, Browser, Load, Resolution};
use super::edit::{self, Applied};
use super::fixes::{self, LiveTarget, Proposal, Request};
use super::keymap::{self, Action};
use super::layout;
use super::merge;
use super::panes::agent::AgentPane;
use super::panes::findings::FindingsPane;
use super::panes::keys::KeysPane;
use super::panes::live::LivePane;
use super::panes::permissions::PermissionsPane;
use super::panes::server::ServerPane;
use super::panes::{Component, Outcome, Shared};
use super::password::{Answer, PasswordPrompt};
use crate::finding::{sort_worst_first, Finding};
use crate::fix::FixPlan;
use crate::inspect::Inspection;
use crate::paths::SshPaths;
use crate::perms::FileMeta;
use crate::probe::{ProbeReport, StageEvent};
use crate::server::ServerReport;
use zeroize::Zeroizing;

/// The panes, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Findings,
    Live,
    Keys,
    Permissions,
    Agent,
    KnownHosts,
    /// `sshdoctor server` for the current user, shown when this machine runs sshd.
    Server,
}

impl Pane {
    pub fn title(self) -> &'static str {
        match self {
            Pane::Findings => "Findings",
            Pane::Live => "Live test",
            Pane::Keys => "Keys",
            Pane::Permissions => "Permissions",
            Pane::Agent => "Agent",
            Pane::KnownHosts => "known_hosts",
            Pane::Server => "Server",
        }
    }
}

/// Everything that can happen to the dashboard.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Animation tick while the live test runs.
    Tick,
    Inspected(Box<Result<Inspected, String>>),
    KnownHostsLoaded(Load),
    Stage(StageEvent),
    ProbeDone(Box<ProbeReport>),
    ProbeFailed(String),
    Applied(Result<Applied, String>),
    Undone(Result<String, String>),
    /// A file the dashboard shows changed on disk (another shell generated a key, an editor
    /// saved the config): look again.
    FilesChanged,
    /// A command run in the terminal (`Effect::RunInTerminal`) ended: its words, and its exit
    /// status with the journal entries it added (so `u` undoes them), or why it could not start.
    RanInTerminal(String, Result<(i32, Vec<u64>), String>),
    /// The plans behind a fix, read against the disk (and the server), ready to confirm.
    Prepared(Box<Result<Proposal, String>>),
    /// `None`: this machine runs no sshd, so there is no Server pane.
    ServerInspected(Box<Option<Result<ServerReport, String>>>),
    /// DNS answers for the known_hosts names (`s`).
    NamesChecked(std::collections::HashMap<String, Resolution>),
    /// The scan (`S`) started with this many hosts.
    ScanStarted(usize),
    /// One host's scan result (`S`), as soon as it is known, with its verdict on each line
    /// (worked out on the scan's thread: it needs a known_hosts lookup).
    Scanned(Box<crate::scan::ScanResult>, Vec<browser::LineMark>),
    /// The scan is over (or could not start: the reason).
    ScanDone(Result<(), String>),
}

/// Work the shell does on the app's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Inspect,
    LoadKnownHosts,
    /// The live test as the config says.
    Probe,
    /// The live test with a password or agent forwarding.
    ProbeWith(LiveRun),
    Apply(edit::Action),
    Undo(u64),
    /// Work out what a fix changes (reads files; fetches a host key for a trust fix).
    Prepare(Box<Request>),
    /// Apply plans the user confirmed.
    ApplyPlans(Vec<FixPlan>),
    /// `server::inspect` for the current user, if this machine runs sshd.
    InspectServer,
    /// Look these known_hosts names up in DNS, with a timeout.
    CheckNames(Vec<String>),
    /// Fetch the host key of every host named in plain lines of this known_hosts file.
    Scan(PathBuf),
    /// Watch ~/.ssh (and the known_hosts file's directory) and say when something changed.
    Watch,
    /// Run `sshdoctor ARGS` in this terminal (the dashboard steps aside until it ends): the
    /// fixes that ask for a passphrase at a prompt.
    RunInTerminal(Vec<String>),
}

/// One file whose permissions ssh or sshd checks.
#[derive(Debug, Clone)]
pub struct PermRow {
    pub shown: String,
    pub role: &'static str,
    pub meta: Option<FileMeta>,
    pub required: &'static str,
}

/// The local inspection and the permission facts gathered with it.
#[derive(Debug)]
pub struct Inspected {
    pub inspection: Inspection,
    pub perms: Vec<PermRow>,
}

/// A question waiting for `y` (or, for a changed host key, the typed word `yes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    /// What confirming does; `None` when sshdoctor cannot do it and only shows the command.
    pub effect: Option<Effect>,
    /// `y` is not enough: the user types `yes` and Enter.
    pub strong: bool,
    /// What was typed so far for a strong confirmation.
    pub typed: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Confirm(Confirm),
    /// The masked prompt for "try a password".
    Password(PasswordPrompt),
}

/// What a live test run tests beyond what the config says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveRun {
    /// Agent forwarding after the login, as `ssh -A` (`ForwardAgent yes` turns it on anyway).
    pub forward_agent: bool,
    /// A password to try instead of keys, once. Wiped when the attempt is over (`Zeroizing`);
    /// its `Debug` shows nothing of it.
    pub password: Option<Zeroizing<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

pub struct App {
    pub panes: Vec<Pane>,
    pub pane: usize,
    pub overlay: Overlay,
    /// What every pane reads: the inspection, the findings, the size.
    pub shared: Shared,
    pub findings_pane: FindingsPane,
    pub live: LivePane,
    pub keys: KeysPane,
    pub permissions: PermissionsPane,
    pub agent: AgentPane,
    pub browser: Browser,
    pub server: ServerPane,
    /// First row of the help overlay shown (it scrolls when the terminal is short).
    pub help_scroll: usize,
    pub status: Option<Status>,
    /// Journal records applied in this session, newest last: what `u` reverts.
    pub undo_stack: Vec<u64>,
    /// The title of the finding whose fix is being prepared, for its confirmation.
    pub pending_for: Option<String>,
    pub quit: bool,
}

impl App {
    /// The dashboard: findings first, the live test when a target was given.
    pub fn dashboard(paths: SshPaths, target: Option<String>, known_hosts: PathBuf) -> App {
        let shown = paths.display(&known_hosts);
        App {
            panes: vec![
                Pane::Findings,
                Pane::Live,
                Pane::Keys,
                Pane::Permissions,
                Pane::Agent,
                Pane::KnownHosts,
            ],
            pane: 0,
            overlay: Overlay::None,
            findings_pane: FindingsPane::default(),
            live: LivePane::new(target),
            keys: KeysPane::default(),
            permissions: PermissionsPane::default(),
            agent: AgentPane::default(),
            browser: Browser::new(known_hosts, shown),
            server: ServerPane::default(),
            help_scroll: 0,
            status: None,
            undo_stack: Vec::new(),
            pending_for: None,
            quit: false,
            shared: Shared::new(paths),
        }
    }

    /// The known_hosts browser alone.
    pub fn known_hosts(paths: SshPaths, file: PathBuf) -> App {
        let mut app = App::dashboard(paths, None, file);
        app.panes = vec![Pane::KnownHosts];
        app
    }

    /// What to start with: the shell runs these before the first event.
    pub fn initial_effects(&mut self) -> Vec<Effect> {
        let mut out = vec![Effect::LoadKnownHosts, Effect::Watch];
        if self.panes.contains(&Pane::Findings) {
            out.push(Effect::Inspect);
            out.push(Effect::InspectServer);
        }
        if let Some(live) = &mut self.live.test {
            live.start();
            out.push(Effect::Probe);
        }
        out
    }

    pub fn current(&self) -> Pane {
        self.panes
            .get(self.pane)
            .copied()
            .unwrap_or(Pane::KnownHosts)
    }

    /// The pane in focus, to draw or ask.
    pub fn focused(&self) -> &dyn Component {
        match self.current() {
            Pane::Findings => &self.findings_pane,
            Pane::Live => &self.live,
            Pane::Keys => &self.keys,
            Pane::Permissions => &self.permissions,
            Pane::Agent => &self.agent,
            Pane::KnownHosts => &self.browser,
            Pane::Server => &self.server,
        }
    }

    /// The pane in focus, to route a key or a click to, with what it reads.
    fn focused_mut(&mut self) -> (&mut dyn Component, &Shared) {
        let pane: &mut dyn Component = match self.current() {
            Pane::Findings => &mut self.findings_pane,
            Pane::Live => &mut self.live,
            Pane::Keys => &mut self.keys,
            Pane::Permissions => &mut self.permissions,
            Pane::Agent => &mut self.agent,
            Pane::KnownHosts => &mut self.browser,
            Pane::Server => &mut self.server,
        };
        (pane, &self.shared)
    }

    /// Whether something moves on screen without input (the spinner).
    pub fn animating(&self) -> bool {
        self.live.running()
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
        });
    }

    fn rebuild_findings(&mut self) {
        let mut all: Vec<Finding> = Vec::new();
        if let Some(r) = self.live.report() {
            all.extend(r.findings.iter().cloned());
        }
        if let Some(Ok(i)) = &self.shared.inspected {
            merge::merge_local(&mut all, &i.inspection.findings);
        }
        if let Some(t) = self.live_target() {
            for f in &mut all {
                merge::add_trust_fix(f, &t);
            }
        }
        sort_worst_first(&mut all);
        self.shared.findings = all;
        self.findings_pane.findings_changed(&self.shared);
    }

    /// The server the live test talked to, once it has a report.
    pub fn live_target(&self) -> Option<LiveTarget> {
        self.live.target()
    }

    /// Rows of the list in the current pane.
    pub fn list_height(&self) -> usize {
        self.focused().list_height(&self.shared)
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let effects = match msg {
            Msg::Key(key) => self.on_key(key),
            Msg::Mouse(m) => {
                self.on_mouse(m);
                Vec::new()
            }
            Msg::Resize(w, h) => {
                self.shared.size = (w, h);
                let height = self.list_height();
                self.browser.scroll_into_view(height);
                Vec::new()
            }
            Msg::Tick => {
                self.shared.tick = self.shared.tick.wrapping_add(1);
                Vec::new()
            }
            Msg::Inspected(result) => {
                self.shared.inspected = Some(*result);
                self.rebuild_findings();
                Vec::new()
            }
            Msg::KnownHostsLoaded(load) => {
                self.browser.loaded(load, &self.shared);
                Vec::new()
            }
            Msg::Stage(ev) => {
                self.live.stage(ev);
                Vec::new()
            }
            Msg::ProbeDone(report) => {
                self.agent.live_done(&report);
                self.live.done(*report);
                self.rebuild_findings();
                if let Some(f) = self.live.password_outcome() {
                    let text = format!("Password tried once: {}", f.title);
                    let error = f.severity == crate::finding::Severity::Error;
                    self.say(text, error);
                }
                Vec::new()
            }
            Msg::ProbeFailed(e) => {
                self.live.failed(&e);
                self.say(format!("The live test could not start: {e}"), true);
                Vec::new()
            }
            Msg::Applied(Ok(applied)) => {
                self.undo_stack.extend(applied.seqs.iter().copied());
                let rerun = if self.live.test.is_some() {
                    " Press r to run the live test again."
                } else {
                    ""
                };
                self.say(format!("{}.{rerun}", applied.summary), false);
                self.reload()
            }
            Msg::Applied(Err(e)) => {
                self.say(format!("Nothing changed: {e}"), true);
                self.reload()
            }
            Msg::Undone(Ok(text)) => {
                self.say(text, false);
                self.reload()
            }
            Msg::FilesChanged => self.reload(),
            Msg::RanInTerminal(command, result) => {
                match result {
                    Ok((0, seqs)) => {
                        let undo = if seqs.is_empty() { "" } else { " (u undoes)" };
                        self.undo_stack.extend(seqs);
                        self.say(format!("Done: {command}{undo}"), false)
                    }
                    Ok((code, seqs)) => {
                        self.undo_stack.extend(seqs);
                        self.say(
                        format!("{command} ended with status {code}; nothing was changed unless it said so."),
                        true,
                    )
                    }
                    Err(e) => self.say(format!("Could not run {command}: {e}"), true),
                }
                self.reload()
            }
            Msg::Undone(Err(e)) => {
                self.say(format!("Undo failed: {e}"), true);
                self.reload()
            }
            Msg::Prepared(result) => {
                match *result {
                    Ok(p) => {
                        self.status = None;
                        self.show_proposal(p);
                    }
                    Err(e) => self.say(format!("Nothing changed: {e}"), true),
                }
                Vec::new()
            }
            Msg::ServerInspected(result) => {
                if let Some(r) = *result {
                    if !self.panes.contains(&Pane::Server) {
                        self.panes.push(Pane::Server);
                    }
                    self.server.set_report(r, &self.shared);
                }
                Vec::new()
            }
            Msg::ScanStarted(total) => {
                let text = self.browser.scan_started(total);
                self.say(text, false);
                Vec::new()
            }
            Msg::Scanned(r, marks) => {
                if let Some(text) = self.browser.scanned(*r, marks) {
                    self.say(text, false);
                }
                Vec::new()
            }
            Msg::ScanDone(result) => {
                if let Some((text, error)) = self.browser.scan_done(result) {
                    self.say(text, error);
                }
                Vec::new()
            }
            Msg::NamesChecked(answers) => {
                let text = self.browser.names_checked(&answers);
                self.say(text, false);
                Vec::new()
            }
        };
        let h = layout::list_height(self.shared.size, Pane::KnownHosts, false, 0);
        self.browser.fill_fingerprints(h);
        effects
    }

    /// After a change: read the files again.
    fn reload(&self) -> Vec<Effect> {
        let mut out = vec![Effect::LoadKnownHosts];
        if self.panes.contains(&Pane::Findings) {
            out.push(Effect::Inspect);
        }
        if self.panes.contains(&Pane::Server) {
            out.push(Effect::InspectServer);
        }
        out
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c {
            self.quit = true;
            return Vec::new();
        }
        // The "terminal too small" screen shows nothing else: q quits at once from it (but a
        // q typed into a password is part of the password).
        if super::layout::too_small(self.shared.size)
            && !matches!(self.overlay, Overlay::Password(_))
            && matches!(key.code, KeyCode::Char('q') | KeyCode::Esc)
        {
            self.quit = true;
            return Vec::new();
        }
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::Help => {
                // The arrows (and j/k, PgUp/PgDn, Space) scroll a help that does not fit;
                // any other key closes it.
                let size = self.shared.size;
                let page = usize::from(size.1.saturating_sub(4)).max(1);
                let scroll = match key.code {
                    KeyCode::Down | KeyCode::Char('j') => Some(self.help_scroll.saturating_add(1)),
                    KeyCode::Up | KeyCode::Char('k') => Some(self.help_scroll.saturating_sub(1)),
                    KeyCode::PageDown | KeyCode::Char(' ') => {
                        Some(self.help_scroll.saturating_add(page))
                    }
                    KeyCode::PageUp => Some(self.help_scroll.saturating_sub(page)),
                    _ => None,
                };
                if let Some(s) = scroll {
                    self.help_scroll = s.min(self.help_rows(size.0).saturating_sub(1));
                    self.overlay = Overlay::Help;
                }
                return Vec::new();
            }
            Overlay::Password(mut p) => {
                match p.key(key) {
                    Answer::Typing => self.overlay = Overlay::Password(p),
                    Answer::Cancel => {
                        self.say("Nothing was sent: the password was not tried.", false)
                    }
                    Answer::Submit(password) => return self.try_password(password),
                }
                return Vec::new();
            }
            Overlay::Confirm(mut c) if c.strong && c.effect.is_some() => {
                match key.code {
                    KeyCode::Char(ch) if c.typed.len() < 3 => {
                        c.typed.push(ch);
                        self.overlay = Overlay::Confirm(c);
                    }
                    KeyCode::Backspace => {
                        c.typed.pop();
                        self.overlay = Overlay::Confirm(c);
                    }
                    KeyCode::Enter if c.typed == "yes" => {
                        if let Some(effect) = c.effect {
                            self.say("Working…", false);
                            return vec![effect];
                        }
                    }
                    _ => self.say("Nothing changed.", false),
                }
                return Vec::new();
            }
            Overlay::Confirm(c) => {
                if key.code == KeyCode::Char('y') {
                    if let Some(effect) = c.effect {
                        self.say("Working…", false);
                        return vec![effect];
                    }
                } else if c.effect.is_some() {
                    self.say("Nothing changed.", false);
                }
                return Vec::new();
            }
            Overlay::None => {}
        }
        let (pane, shared) = self.focused_mut();
        if pane.prompt().is_some() {
            pane.prompt_key(key, shared);
            return Vec::new();
        }
        match keymap::lookup(&key) {
            Some(action) => self.act(action),
            None => Vec::new(),
        }
    }

    /// An action from the key table: the pane in focus has it first; what it leaves is the
    /// app's (quit, help, panes, fix, undo, re-run).
    fn act(&mut self, action: Action) -> Vec<Effect> {
        let (pane, shared) = self.focused_mut();
        match pane.on_action(action, shared) {
            Outcome::Unhandled => {}
            Outcome::Handled => return Vec::new(),
            Outcome::Say(text) => {
                self.say(text, false);
                return Vec::new();
            }
            Outcome::Confirm(c) => {
                self.overlay = Overlay::Confirm(c);
                return Vec::new();
            }
            Outcome::Run(effects, text) => {
                self.say(text, false);
                return effects;
            }
        }
        match action {
            Action::Quit | Action::Back => self.quit = true,
            Action::Help => {
                self.overlay = Overlay::Help;
                self.help_scroll = 0;
            }
            Action::NextPane | Action::PrevPane => {
                let n = self.panes.len().max(1);
                self.pane = if action == Action::NextPane {
                    (self.pane + 1) % n
                } else {
                    (self.pane + n - 1) % n
                };
            }
            Action::Fix => match self.fix_target() {
                Some((f, x)) => {
                    let f = f.clone();
                    return self.confirm_fix_of(&f, x);
                }
                None => self.say("Nothing to fix here.", false),
            },
            Action::Undo => match self.undo_stack.pop() {
                Some(seq) => return vec![Effect::Undo(seq)],
                None => self.say(
                    "Nothing to undo: no change was made in this session.",
                    false,
                ),
            },
            Action::ForwardAgent => {
                return self.rerun_with(LiveRun {
                    forward_agent: true,
                    password: None,
                })
            }
            Action::Rerun => match &mut self.live.test {
                Some(live) if live.running => self.say("The live test is still running.", false),
                Some(live) => {
                    live.start();
                    self.status = None;
                    let mut again = self.reload();
                    again.push(Effect::Probe);
                    return again;
                }
                None => {
                    self.say(
                        "Looked again at keys, known_hosts, permissions, config and agent (start sshdoctor with user@host to test a login too).",
                        false,
                    );
                    return self.reload();
                }
            },
            _ => {}
        }
        Vec::new()
    }

    /// The finding `f` would fix here, with the index of the fix: the pane in focus says
    /// which (the selected finding and fix, the finding behind a table's row, the selected
    /// server finding).
    fn fix_target(&self) -> Option<(&Finding, usize)> {
        self.focused().fix_target(&self.shared)
    }

    /// Whether `action` would do something on the current pane now: the footer offers only
    /// those (`f fix` where there is something to fix, `d delete` where there are entries, `u
    /// undo` after a change), while `?` keeps listing every key.
    pub fn enabled(&self, action: Action) -> bool {
        match action {
            Action::Undo => !self.undo_stack.is_empty(),
            Action::Rerun => !self.live.running(),
            Action::ForwardAgent => self.live.test.is_some() && !self.live.running(),
            _ => self.focused().enabled(action, &self.shared),
        }
    }

    /// The footer for the current pane: its keys that would do something now.
    pub fn hints(&self) -> Vec<keymap::Hint> {
        self.focused()
            .hints(&self.shared)
            .into_iter()
            .filter(|h| self.enabled(h.action))
            .collect()
    }

    /// `f` on fix `x` of `finding`: a fix sshdoctor cannot apply shows its command and why at
    /// once; any other is first worked out on a thread (`Effect::Prepare`), and the
    /// confirmation shows exactly what it changes before anything is written.
    fn confirm_fix_of(&mut self, finding: &Finding, x: usize) -> Vec<Effect> {
        let Some(fix) = finding.fixes.get(x) else {
            self.say(
                "This finding has no fix to apply; Enter shows what to check.",
                false,
            );
            return Vec::new();
        };
        let target = self.live_target();
        let req = fixes::request(
            finding,
            fix,
            &self.shared.paths,
            &self.browser.path,
            target.as_ref(),
        );
        match req {
            Request::TryPassword => {
                self.ask_password();
                Vec::new()
            }
            Request::InTerminal { args, command } => {
                self.overlay = Overlay::Confirm(Confirm {
                    title: "Run this fix here?".into(),
                    lines: vec![
                        format!("For: {}", finding.title),
                        format!("Fix: {}", fix.title),
                        format!("$ {command}"),
                        String::new(),
                        "The dashboard steps aside while it runs: it asks for the passphrase in \
                         this terminal (nothing is shown as you type), shows what it will do and \
                         asks before writing. Then the dashboard comes back."
                            .into(),
                        "y: run it   any other key: cancel".into(),
                    ],
                    effect: Some(Effect::RunInTerminal(args)),
                    strong: false,
                    typed: String::new(),
                });
                Vec::new()
            }
            Request::Manual { why, command } => {
                self.overlay = Overlay::Confirm(Confirm {
                    title: "Run this yourself".into(),
                    lines: vec![
                        format!("For: {}", finding.title),
                        format!("Fix: {}", fix.title),
                        format!("$ {command}"),
                        String::new(),
                        format!("sshdoctor does not run this one itself: {why}."),
                        "Any key closes this.".into(),
                    ],
                    effect: None,
                    strong: false,
                    typed: String::new(),
                });
                Vec::new()
            }
            req => {
                self.pending_for = Some(finding.title.clone());
                self.say("Working out exactly what this fix changes…", false);
                vec![Effect::Prepare(Box::new(req))]
            }
        }
    }

    /// `f` on "try a password": the masked prompt, for the login the live test just tested.
    fn ask_password(&mut self) {
        if self.live.running() {
            self.say("The live test is still running.", false);
            return;
        }
        let Some(r) = self.live.report() else {
            self.say(
                "A password is tried by the live test: start sshdoctor with user@host.",
                false,
            );
            return;
        };
        let t = &r.target;
        let login = if t.port == 22 {
            format!("{}@{}", t.user, t.host)
        } else {
            format!("{}@{}:{}", t.user, t.host, t.port)
        };
        self.overlay = Overlay::Password(PasswordPrompt::new(login));
    }

    /// Enter in the password prompt: the live test again, trying this password once.
    fn try_password(&mut self, password: Zeroizing<String>) -> Vec<Effect> {
        let effects = self.rerun_with(LiveRun {
            forward_agent: false,
            password: Some(password),
        });
        if !effects.is_empty() {
            self.say("Trying the password once…", false);
        }
        effects
    }

    /// The live test again with a password or agent forwarding, shown on the Live pane.
    fn rerun_with(&mut self, run: LiveRun) -> Vec<Effect> {
        let Some(live) = &mut self.live.test else {
            self.say(
                "The live test needs a target: start sshdoctor with user@host.",
                false,
            );
            return Vec::new();
        };
        if live.running {
            self.say("The live test is still running.", false);
            return Vec::new();
        }
        live.start_with(run.password.is_some(), run.forward_agent);
        self.status = None;
        if let Some(i) = self.panes.iter().position(|p| *p == Pane::Live) {
            self.pane = i;
        }
        vec![Effect::ProbeWith(run)]
    }

    /// The confirmation for prepared plans: every change, and the word to confirm with.
    fn show_proposal(&mut self, p: Proposal) {
        let mut lines = Vec::new();
        if let Some(t) = self.pending_for.take() {
            lines.push(format!("For: {t}"));
        }
        lines.extend(p.lines);
        lines.push(String::new());
        let (title, hint) = if p.strong {
            (
                "The host key CHANGED: trust the new one?".to_string(),
                "Type yes and Enter to trust the new key; any other key cancels.",
            )
        } else {
            (
                format!("Apply this fix? {}", p.title),
                "y: apply it   any other key: cancel (u undoes afterwards)",
            )
        };
        lines.push(hint.into());
        self.overlay = Overlay::Confirm(Confirm {
            title,
            lines,
            effect: Some(Effect::ApplyPlans(p.plans)),
            strong: p.strong,
            typed: String::new(),
        });
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        match m.kind {
            MouseEventKind::ScrollDown => {
                let (pane, shared) = self.focused_mut();
                pane.scroll(Action::Down, 3, shared);
            }
            MouseEventKind::ScrollUp => {
                let (pane, shared) = self.focused_mut();
                pane.scroll(Action::Up, -3, shared);
            }
            MouseEventKind::Down(MouseButton::Left) => {
                if m.row == 0 {
                    if let Some(i) = layout::tab_at(&self.panes, m.column) {
                        self.pane = i;
                    }
                    return;
                }
                let (pane, shared) = self.focused_mut();
                let height = pane.list_height(shared);
                if let Some(row) = layout::list_row_at(height, m.row) {
                    pane.click(row, shared);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Fix, Severity};
    use crate::fix_id::FixId;

    #[test]
    fn the_footer_offers_only_keys_that_would_do_something_here() {
        let paths = SshPaths::with_home(std::path::Path::new("/home/bob"));
        let mut app = App::dashboard(paths.clone(), None, paths.known_hosts());
        let keys = |app: &App| -> Vec<&'static str> { app.hints().iter().map(|h| h.key).collect() };
        // Nothing found yet: no `f fix`, no `u undo`, no `Enter details`.
        assert!(!keys(&app).contains(&"f"), "{:?}", keys(&app));
        assert!(!keys(&app).contains(&"u"));
        assert!(!keys(&app).contains(&"Enter"));
        assert!(keys(&app).contains(&"q"));
        // A finding nothing can fix: details yes, fix no.
        app.shared.findings = vec![Finding::new("agent-empty", Severity::Info, "t")];
        assert!(keys(&app).contains(&"Enter"));
        assert!(!keys(&app).contains(&"f"));
        app.shared.findings[0]
            .fixes
            .push(Fix::new(FixId::AddKeys, "t", "ssh-add"));
        assert!(keys(&app).contains(&"f"));
        app.undo_stack.push(7);
        assert!(keys(&app).contains(&"u"));
        // The known_hosts browser with no entries has nothing to delete.
        app.pane = app
            .panes
            .iter()
            .position(|p| *p == Pane::KnownHosts)
            .unwrap();
        assert!(!keys(&app).contains(&"d"), "{:?}", keys(&app));
        assert!(keys(&app).contains(&"/"));
    }
}

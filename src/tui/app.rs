//! The dashboard's state, its one message type and `update`. Nothing here touches the disk, the
//! network or the terminal: work is asked for with [`Effect`]s that the shell in `mod.rs` runs,
//! and results come back as [`Msg`]s. That keeps every screen reachable from a test.

use std::path::PathBuf;

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::browser::{self, Browser, Load, Resolution};
use super::edit::{self, Applied};
use super::fixes::{self, LiveTarget, Proposal, Request};
use super::keymap::{self, Action, Scope};
use super::layout;
use crate::agent::AgentStatus;
use crate::finding::{sort_worst_first, Finding, Fix, FixTarget};
use crate::fix::FixPlan;
use crate::fix_id::FixId;
use crate::inspect::Inspection;
use crate::paths::SshPaths;
use crate::perms::FileMeta;
use crate::probe::{ProbeReport, Stage, StageEvent, STAGES};
use crate::server::ServerReport;

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

    pub fn scope(self) -> Scope {
        match self {
            Pane::Findings => Scope::Findings,
            Pane::Live => Scope::Live,
            Pane::Keys | Pane::Permissions | Pane::Agent => Scope::Rows,
            Pane::KnownHosts => Scope::KnownHosts,
            Pane::Server => Scope::Server,
        }
    }

    /// Index into the row cursors of the table panes.
    fn table(self) -> Option<usize> {
        match self {
            Pane::Keys => Some(0),
            Pane::Permissions => Some(1),
            Pane::Agent => Some(2),
            _ => None,
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
    Probe,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageState {
    Pending,
    Running,
    Done(Stage),
}

/// The live test's timeline.
#[derive(Debug)]
pub struct Live {
    pub target: String,
    pub stages: Vec<(&'static str, StageState)>,
    pub report: Option<ProbeReport>,
    pub running: bool,
    pub error: Option<String>,
}

impl Live {
    pub fn new(target: String) -> Live {
        Live {
            target,
            stages: STAGES.iter().map(|s| (*s, StageState::Pending)).collect(),
            report: None,
            running: false,
            error: None,
        }
    }

    fn start(&mut self) {
        self.stages = STAGES.iter().map(|s| (*s, StageState::Pending)).collect();
        self.report = None;
        self.error = None;
        self.running = true;
    }

    fn event(&mut self, ev: StageEvent) {
        let (name, state) = match ev {
            StageEvent::Started(name) => (name.to_string(), StageState::Running),
            StageEvent::Finished(stage) => (stage.stage.clone(), StageState::Done(stage)),
        };
        if let Some(slot) = self.stages.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = state;
        }
    }
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

/// A cursor in a list with its scroll window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub pos: usize,
    pub offset: usize,
}

impl Cursor {
    fn move_by(&mut self, delta: isize, len: usize, height: usize) {
        if len == 0 {
            *self = Cursor::default();
            return;
        }
        self.pos = (self.pos as isize + delta).clamp(0, len as isize - 1) as usize;
        let height = height.max(1);
        if self.pos < self.offset {
            self.offset = self.pos;
        } else if self.pos >= self.offset + height {
            self.offset = self.pos + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(1));
    }
}

/// A known_hosts scan in progress or done.
#[derive(Debug, Clone, Default)]
pub struct ScanState {
    pub total: usize,
    pub results: Vec<crate::scan::ScanResult>,
    /// Each marked line's verdict by the line's bytes, to mark the list again after a reload.
    pub marks: std::collections::HashMap<Vec<u8>, browser::ScanMark>,
    pub running: bool,
}

impl ScanState {
    fn count(&self, status: crate::scan::ScanStatus) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }

    /// One line for the status bar: progress, then the verdicts that need action.
    pub fn summary(&self) -> String {
        use crate::scan::ScanStatus as S;
        let head = if self.running {
            format!(
                "Scanning {}/{}",
                self.results.len(),
                crate::words::count(self.total, "host")
            )
        } else {
            format!(
                "Scanned {}",
                crate::words::count(self.results.len(), "host")
            )
        };
        let mut s = format!(
            "{head}: {} key changed, {} unreachable, {} not SSH, {} unchanged",
            self.count(S::Changed),
            self.count(S::Unreachable),
            self.count(S::NotSsh),
            self.count(S::Unchanged)
        );
        if self.count(S::Revoked) > 0 {
            s.push_str(&format!(", {} @revoked", self.count(S::Revoked)));
        }
        if !self.running && self.count(S::Changed) > 0 {
            s.push_str(" (marked KEY CHANGED: Space selects, d deletes)");
        }
        s
    }
}

pub struct App {
    pub panes: Vec<Pane>,
    pub pane: usize,
    pub overlay: Overlay,
    pub paths: SshPaths,
    /// `None` while the inspection runs.
    pub inspected: Option<Result<Inspected, String>>,
    /// Local and live findings together, worst first.
    pub findings: Vec<Finding>,
    pub finding: Cursor,
    pub detail: bool,
    pub fix_cursor: usize,
    pub detail_scroll: u16,
    /// First row of the help overlay shown (it scrolls when the terminal is short).
    pub help_scroll: usize,
    pub rows: [Cursor; 3],
    pub live: Option<Live>,
    pub browser: Browser,
    /// The Server pane's report: `None` until it comes (or when this machine runs no sshd).
    pub server: Option<Result<ServerReport, String>>,
    pub server_cursor: Cursor,
    pub status: Option<Status>,
    /// Journal records applied in this session, newest last: what `u` reverts.
    pub undo_stack: Vec<u64>,
    /// The title of the finding whose fix is being prepared, for its confirmation.
    pub pending_for: Option<String>,
    /// The known_hosts scan (`S`): results so far, kept so a reloaded list is marked again.
    pub scan: Option<ScanState>,
    pub size: (u16, u16),
    pub tick: usize,
    /// False under `NO_COLOR`: only bold/reverse, no colours.
    pub color: bool,
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
            inspected: None,
            findings: Vec::new(),
            finding: Cursor::default(),
            detail: false,
            fix_cursor: 0,
            detail_scroll: 0,
            help_scroll: 0,
            rows: [Cursor::default(); 3],
            live: target.map(Live::new),
            browser: Browser::new(known_hosts, shown),
            server: None,
            server_cursor: Cursor::default(),
            status: None,
            undo_stack: Vec::new(),
            pending_for: None,
            scan: None,
            size: (80, 24),
            tick: 0,
            color: true,
            quit: false,
            paths,
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
        if let Some(live) = &mut self.live {
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

    /// Whether something moves on screen without input (the spinner).
    pub fn animating(&self) -> bool {
        self.live.as_ref().is_some_and(|l| l.running)
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
        });
    }

    fn rebuild_findings(&mut self) {
        let mut all: Vec<Finding> = Vec::new();
        if let Some(r) = self.live.as_ref().and_then(|l| l.report.as_ref()) {
            all.extend(r.findings.iter().cloned());
        }
        if let Some(Ok(i)) = &self.inspected {
            merge_local(&mut all, &i.inspection.findings);
        }
        if let Some(t) = self.live_target() {
            for f in &mut all {
                add_trust_fix(f, &t);
            }
        }
        sort_worst_first(&mut all);
        self.findings = all;
        let h = self.list_height();
        self.finding.move_by(0, self.findings.len(), h);
        self.fix_cursor = 0;
    }

    /// The server the live test talked to, once it has a report.
    pub fn live_target(&self) -> Option<LiveTarget> {
        let r = self.live.as_ref()?.report.as_ref()?;
        Some(LiveTarget {
            host: r.target.host.clone(),
            port: r.target.port,
        })
    }

    /// The Server pane's findings (empty until the report is in).
    pub fn server_findings(&self) -> &[Finding] {
        match &self.server {
            Some(Ok(r)) => &r.findings,
            _ => &[],
        }
    }

    /// Rows of the list in the current pane.
    pub fn list_height(&self) -> usize {
        let pane = self.current();
        let detail = match pane {
            Pane::KnownHosts => self.browser.detail,
            _ => self.detail,
        };
        let n = if pane == Pane::Server {
            self.server_findings().len()
        } else {
            self.findings.len()
        };
        layout::list_height(self.size, pane, detail, n)
    }

    /// Number of rows in a table pane.
    pub fn table_len(&self, pane: Pane) -> usize {
        let Some(Ok(i)) = &self.inspected else {
            return 0;
        };
        match pane {
            Pane::Keys => i.inspection.keys.len(),
            Pane::Permissions => i.perms.len(),
            Pane::Agent => match &i.inspection.agent {
                AgentStatus::Running { identities, .. } => identities.len().max(1),
                _ => 1,
            },
            _ => 0,
        }
    }

    /// The finding whose evidence is about this path (`~/.ssh/id_rsa: mode 0644`).
    pub fn finding_about(&self, shown: &str) -> Option<usize> {
        self.findings.iter().position(|f| {
            f.evidence.iter().any(|e| {
                e.strip_prefix(shown)
                    .is_some_and(|rest| rest.starts_with(':'))
            }) || f.title.contains(shown)
        })
    }

    /// The finding behind a row of a table pane.
    pub fn row_finding(&self, pane: Pane, row: usize) -> Option<usize> {
        let Some(Ok(i)) = &self.inspected else {
            return None;
        };
        match pane {
            Pane::Keys => {
                let key = i.inspection.keys.get(row)?;
                self.finding_about(&self.paths.display(&key.path))
            }
            Pane::Permissions => self.finding_about(&i.perms.get(row)?.shown),
            Pane::Agent => {
                let ids: Vec<String> = crate::agent::findings(&i.inspection.agent)
                    .into_iter()
                    .map(|f| f.id)
                    .collect();
                self.findings.iter().position(|f| ids.contains(&f.id))
            }
            _ => None,
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let effects = match msg {
            Msg::Key(key) => self.on_key(key),
            Msg::Mouse(m) => {
                self.on_mouse(m);
                Vec::new()
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                let height = self.list_height();
                self.browser.scroll_into_view(height);
                Vec::new()
            }
            Msg::Tick => {
                self.tick = self.tick.wrapping_add(1);
                Vec::new()
            }
            Msg::Inspected(result) => {
                self.inspected = Some(*result);
                self.rebuild_findings();
                Vec::new()
            }
            Msg::KnownHostsLoaded(load) => {
                self.browser.set_loaded(load);
                if let (Some(scan), Load::Ready(l)) = (&self.scan, &mut self.browser.load) {
                    browser::reapply_scan_marks(&mut l.rows, &l.kh, &scan.marks);
                }
                let h = layout::list_height(self.size, Pane::KnownHosts, false, 0);
                self.browser.scroll_into_view(h);
                Vec::new()
            }
            Msg::Stage(ev) => {
                if let Some(live) = &mut self.live {
                    live.event(ev);
                }
                Vec::new()
            }
            Msg::ProbeDone(report) => {
                if let Some(live) = &mut self.live {
                    for st in &report.stages {
                        live.event(StageEvent::Finished(st.clone()));
                    }
                    live.report = Some(*report);
                    live.running = false;
                }
                self.rebuild_findings();
                Vec::new()
            }
            Msg::ProbeFailed(e) => {
                if let Some(live) = &mut self.live {
                    live.running = false;
                    live.error = Some(e.clone());
                }
                self.say(format!("The live test could not start: {e}"), true);
                Vec::new()
            }
            Msg::Applied(Ok(applied)) => {
                self.undo_stack.extend(applied.seqs.iter().copied());
                let rerun = if self.live.is_some() {
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
                    self.server = Some(r);
                    if !self.panes.contains(&Pane::Server) {
                        self.panes.push(Pane::Server);
                    }
                    let n = self.server_findings().len();
                    let h = layout::list_height(self.size, Pane::Server, false, n);
                    self.server_cursor.move_by(0, n, h);
                }
                Vec::new()
            }
            Msg::ScanStarted(total) => {
                let scan = ScanState {
                    total,
                    running: true,
                    ..ScanState::default()
                };
                self.say(scan.summary(), false);
                self.scan = Some(scan);
                Vec::new()
            }
            Msg::Scanned(r, marks) => {
                if let Load::Ready(l) = &mut self.browser.load {
                    browser::apply_scan_marks(&mut l.rows, &l.kh, &marks);
                }
                if let Some(scan) = &mut self.scan {
                    for m in marks {
                        let worse = scan
                            .marks
                            .get(&m.raw)
                            .is_none_or(|o| m.mark.stale || !o.stale);
                        if worse {
                            scan.marks.insert(m.raw, m.mark);
                        }
                    }
                    scan.results.push(*r);
                    let text = scan.summary();
                    self.say(text, false);
                }
                Vec::new()
            }
            Msg::ScanDone(result) => {
                if let Some(scan) = &mut self.scan {
                    scan.running = false;
                    match result {
                        Ok(()) => {
                            let text = scan.summary();
                            self.say(text, false);
                        }
                        Err(e) => self.say(format!("Scan failed: {e}"), true),
                    }
                }
                Vec::new()
            }
            Msg::NamesChecked(answers) => {
                let marked = match &mut self.browser.load {
                    Load::Ready(l) => browser::mark_unresolved(&mut l.rows, &answers),
                    _ => 0,
                };
                let unknown = answers
                    .values()
                    .filter(|a| **a == Resolution::Unknown)
                    .count();
                let mut text = format!(
                    "Checked {} name{}: {marked} entr{} no longer resolve{}",
                    answers.len(),
                    if answers.len() == 1 { "" } else { "s" },
                    if marked == 1 { "y" } else { "ies" },
                    if marked == 1 { "s" } else { "" },
                );
                if unknown > 0 {
                    text.push_str(&format!(" ({unknown} gave no answer in time: not marked)"));
                }
                self.say(text, false);
                Vec::new()
            }
        };
        let h = layout::list_height(self.size, Pane::KnownHosts, false, 0);
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
        // The "terminal too small" screen shows nothing else: q quits at once from it.
        if super::layout::too_small(self.size)
            && matches!(key.code, KeyCode::Char('q') | KeyCode::Esc)
        {
            self.quit = true;
            return Vec::new();
        }
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::Help => {
                // The arrows (and j/k, PgUp/PgDn, Space) scroll a help that does not fit;
                // any other key closes it.
                let page = usize::from(self.size.1.saturating_sub(4)).max(1);
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
                    self.help_scroll = s.min(self.help_rows(self.size.0).saturating_sub(1));
                    self.overlay = Overlay::Help;
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
        if self.current() == Pane::KnownHosts && self.browser.editing {
            let h = self.list_height();
            self.browser.on_filter_key(key, h);
            return Vec::new();
        }
        match keymap::lookup(&key) {
            Some(action) => self.act(action),
            None => Vec::new(),
        }
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        let pane = self.current();
        let height = self.list_height();
        // The browser owns its keys; the app keeps the ones that need the rest of the
        // dashboard (confirmations, effects, panes).
        if pane == Pane::KnownHosts && self.browser.act(action, height) {
            return Vec::new();
        }
        let page = height.max(1) as isize;
        let step = match action {
            Action::Up => Some(-1),
            Action::Down => Some(1),
            Action::PageUp => Some(-page),
            Action::PageDown => Some(page),
            Action::Top => Some(isize::MIN / 2),
            Action::Bottom => Some(isize::MAX / 2),
            _ => None,
        };
        if let Some(delta) = step {
            self.move_cursor(pane, action, delta, height);
            return Vec::new();
        }
        match action {
            Action::Quit => self.quit = true,
            Action::Back => {
                if pane == Pane::Findings && self.detail {
                    self.detail = false;
                } else {
                    self.quit = true;
                }
            }
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
            Action::Enter => match pane {
                Pane::Findings if !self.findings.is_empty() => {
                    self.detail = !self.detail;
                    self.fix_cursor = 0;
                    self.detail_scroll = 0;
                    let h = self.list_height();
                    self.finding.move_by(0, self.findings.len(), h);
                }
                _ => {}
            },
            Action::Fix => match self.fix_target() {
                Some((f, x)) => {
                    let f = f.clone();
                    return self.confirm_fix_of(&f, x);
                }
                None => self.say("Nothing to fix here.", false),
            },
            Action::Delete if pane == Pane::KnownHosts => self.confirm_delete(),
            Action::CheckNames if pane == Pane::KnownHosts => {
                let names = browser::names_to_check(self.browser.rows());
                if names.is_empty() {
                    self.say(
                        "No plain host names to look up (hashed entries hide theirs).",
                        false,
                    );
                } else {
                    self.say(format!("Looking up {} names…", names.len()), false);
                    return vec![Effect::CheckNames(names)];
                }
            }
            Action::Scan if pane == Pane::KnownHosts => self.confirm_scan(),
            Action::Undo => match self.undo_stack.pop() {
                Some(seq) => return vec![Effect::Undo(seq)],
                None => self.say(
                    "Nothing to undo: no change was made in this session.",
                    false,
                ),
            },
            Action::Rerun => match &mut self.live {
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

    /// The finding `f` would fix here, with the index of the fix: the selected finding (and
    /// fix, in its details), the finding behind the selected row of a table, or the selected
    /// server finding.
    fn fix_target(&self) -> Option<(&Finding, usize)> {
        let pane = self.current();
        if pane == Pane::Server {
            let f = self.server_findings().get(self.server_cursor.pos)?;
            return Some((f, 0));
        }
        let (i, x) = match pane {
            Pane::Findings => (
                self.finding.pos,
                if self.detail { self.fix_cursor } else { 0 },
            ),
            p => (self.row_finding(p, self.rows[p.table()?].pos)?, 0),
        };
        Some((self.findings.get(i)?, x))
    }

    /// Whether `action` would do something on the current pane now: the footer offers only
    /// those (`f fix` where there is something to fix, `d delete` where there are entries, `u
    /// undo` after a change), while `?` keeps listing every key.
    pub fn enabled(&self, action: Action) -> bool {
        match action {
            Action::Fix => self.fix_target().is_some_and(|(f, _)| !f.fixes.is_empty()),
            Action::Delete => !self.browser.targets().is_empty(),
            Action::Undo => !self.undo_stack.is_empty(),
            Action::Rerun => !self.live.as_ref().is_some_and(|l| l.running),
            Action::Enter => match self.current() {
                Pane::Findings => !self.findings.is_empty(),
                _ => true,
            },
            _ => true,
        }
    }

    /// The footer for the current pane: its keys that would do something now.
    pub fn hints(&self) -> Vec<keymap::Hint> {
        keymap::footer(self.current().scope())
            .into_iter()
            .filter(|h| self.enabled(h.action))
            .collect()
    }

    fn move_cursor(&mut self, pane: Pane, action: Action, delta: isize, height: usize) {
        match pane {
            Pane::Findings if self.detail => {
                let fixes = self
                    .findings
                    .get(self.finding.pos)
                    .map_or(0, |f| f.fixes.len());
                match action {
                    Action::Up | Action::Down => {
                        let max = fixes.saturating_sub(1) as isize;
                        self.fix_cursor = (self.fix_cursor as isize + delta).clamp(0, max) as usize;
                    }
                    _ => {
                        let s = (self.detail_scroll as isize + delta.signum() * 5).clamp(0, 500);
                        self.detail_scroll = s as u16;
                    }
                }
            }
            Pane::Findings => self.finding.move_by(delta, self.findings.len(), height),
            Pane::KnownHosts => self.browser.move_by(delta, height),
            Pane::Server => {
                let n = self.server_findings().len();
                self.server_cursor.move_by(delta, n, height);
            }
            p => {
                if let Some(t) = p.table() {
                    let len = self.table_len(p);
                    self.rows[t].move_by(delta, len, height);
                }
            }
        }
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
            &self.paths,
            &self.browser.path,
            target.as_ref(),
        );
        match req {
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

    /// Asks before deleting, listing the exact lines that will go.
    /// `S`: says how many hosts the scan connects to, and starts it on `y`.
    fn confirm_scan(&mut self) {
        if self.scan.as_ref().is_some_and(|s| s.running) {
            self.say("A scan is already running.", false);
            return;
        }
        let Load::Ready(loaded) = &self.browser.load else {
            return;
        };
        let targets = crate::scan::targets_from_known_hosts(&loaded.kh, &self.browser.shown);
        if targets.is_empty() {
            self.say(
                "No plain host names to scan (hashed entries hide theirs: `sshdoctor scan --from config` checks the hosts your config names).",
                false,
            );
            return;
        }
        let lines = vec![
            format!(
                "Connect to the {} host{} named in {} and fetch each one's host key, as ssh-keyscan does?",
                targets.len(),
                if targets.len() == 1 { "" } else { "s" },
                self.browser.shown
            ),
            "Key exchange only: no login, no key or password is sent. 64 at a time, 5 s each."
                .into(),
            "Entries whose server now shows another key are marked KEY CHANGED; nothing is deleted."
                .into(),
            String::new(),
            "y: scan   any other key: cancel".into(),
        ];
        self.overlay = Overlay::Confirm(Confirm {
            title: "Scan the known hosts?".into(),
            lines,
            effect: Some(Effect::Scan(self.browser.path.clone())),
            strong: false,
            typed: String::new(),
        });
    }

    fn confirm_delete(&mut self) {
        let Load::Ready(loaded) = &self.browser.load else {
            return;
        };
        let targets = self.browser.targets();
        if targets.is_empty() {
            self.say("Nothing to delete.", false);
            return;
        }
        let raw: Vec<&[u8]> = loaded.kh.bytes().split(|&b| b == b'\n').collect();
        let mut lines = vec![format!(
            "Delete {} line{} from {}:",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" },
            self.browser.shown
        )];
        for n in &targets {
            let text = raw
                .get(n.saturating_sub(1))
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            lines.push(format!("{n:>6}: {text}"));
        }
        lines.push(String::new());
        lines.push(format!(
            "The previous file is kept in {}.old; u undoes.",
            self.browser.shown
        ));
        lines.push("y: delete   any other key: cancel".into());
        let effect = Effect::Apply(edit::Action::DeleteLines {
            file: self.browser.path.clone(),
            lines: targets,
            seen: loaded.kh.bytes().to_vec(),
        });
        self.browser.selected.clear();
        self.overlay = Overlay::Confirm(Confirm {
            title: "Delete these lines?".into(),
            lines,
            effect: Some(effect),
            strong: false,
            typed: String::new(),
        });
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        let pane = self.current();
        let height = self.list_height();
        match m.kind {
            MouseEventKind::ScrollDown => self.move_cursor(pane, Action::Down, 3, height),
            MouseEventKind::ScrollUp => self.move_cursor(pane, Action::Up, -3, height),
            MouseEventKind::Down(MouseButton::Left) => {
                if m.row == 0 {
                    if let Some(i) = layout::tab_at(&self.panes, m.column) {
                        self.pane = i;
                    }
                    return;
                }
                let detail = if pane == Pane::KnownHosts {
                    self.browser.detail
                } else {
                    self.detail
                };
                let n = if pane == Pane::Server {
                    self.server_findings().len()
                } else {
                    self.findings.len()
                };
                let Some(row) = layout::list_row_at(self.size, pane, detail, n, m.row) else {
                    return;
                };
                match pane {
                    Pane::Server => {
                        let target = self.server_cursor.offset + row;
                        if target < n {
                            let d = target as isize - self.server_cursor.pos as isize;
                            self.server_cursor.move_by(d, n, height);
                        }
                    }
                    Pane::Findings => {
                        let target = self.finding.offset + row;
                        if target < self.findings.len() {
                            let d = target as isize - self.finding.pos as isize;
                            self.finding.move_by(d, self.findings.len(), height);
                        }
                    }
                    Pane::KnownHosts => {
                        let target = self.browser.offset + row;
                        if target < self.browser.visible.len() {
                            let d = target as isize - self.browser.cursor as isize;
                            self.browser.move_by(d, height);
                        }
                    }
                    p => {
                        if let Some(t) = p.table() {
                            let len = self.table_len(p);
                            let target = self.rows[t].offset + row;
                            if target < len {
                                let d = target as isize - self.rows[t].pos as isize;
                                self.rows[t].move_by(d, len, height);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// For a live host-key finding, the fix the dashboard can carry out itself: fetch the key again,
/// check it is the one the test saw, and trust it (replacing the old one when it changed).
fn add_trust_fix(f: &mut Finding, t: &LiveTarget) {
    if f.fixes
        .iter()
        .any(|x| matches!(x.id, FixId::TrustHostKey | FixId::AcceptHostKey))
    {
        return;
    }
    if f.id != "host-key-changed" {
        return;
    }
    let name = crate::known_hosts::host_port_name(&t.host, t.port);
    // The same server key the remove fix is about: trusting it replaces the old one.
    let target = f
        .fixes
        .iter()
        .find(|x| x.id == FixId::RemoveOldHostKey)
        .map(|x| x.target.clone())
        .unwrap_or_default();
    f.fixes.push(
        Fix::new(
            FixId::TrustHostKey,
            "After confirming the new fingerprint out of band, replace the old key with the one the server shows now",
            format!(
                "sshdoctor fix trust-host-key {} --accept-changed-host-key",
                crate::finding::shell_quote(&name)
            ),
        )
        .destructive()
        .on(target),
    );
}

/// The file a finding's chmod fix is about.
fn chmod_target(f: &Finding) -> Option<&std::path::Path> {
    f.fixes.iter().find_map(|fix| match &fix.target {
        FixTarget::Path(p) | FixTarget::Mode { path: p, .. }
            if matches!(
                fix.id,
                FixId::ChmodPrivateKey | FixId::Chmod600 | FixId::Chmod700 | FixId::ChmodGoW
            ) =>
        {
            Some(p.as_path())
        }
        _ => None,
    })
}

/// Adds the local findings to the live test's. A local finding the live test already names
/// (same id and title, or the same key's permissions: the probe says the server accepts the key
/// ssh ignores) is not listed twice: its evidence joins the live finding's.
fn merge_local(all: &mut Vec<Finding>, local: &[Finding]) {
    for f in local {
        let same = all.iter().position(|g| {
            g.id == f.id
                && (g.title == f.title
                    || (f.id == "private-key-permissions"
                        && chmod_target(g).is_some()
                        && chmod_target(g) == chmod_target(f)))
        });
        match same {
            Some(i) => {
                for e in &f.evidence {
                    if !all[i].evidence.contains(e) {
                        all[i].evidence.push(e.clone());
                    }
                }
            }
            None => all.push(f.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Fix, Severity};

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
        app.findings = vec![Finding::new("agent-empty", Severity::Info, "t")];
        assert!(keys(&app).contains(&"Enter"));
        assert!(!keys(&app).contains(&"f"));
        app.findings[0]
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

    #[test]
    fn a_key_the_server_accepts_but_ssh_ignores_is_one_finding_with_both_evidences() {
        let paths = SshPaths::with_home(std::path::Path::new("/home/bob"));
        let mut live = vec![Finding::new(
            "private-key-permissions",
            Severity::Error,
            "lab accepts id_ed25519, but ssh ignores that key because of its permissions",
        )
        .evidence("accepted: id_ed25519")
        .fix(
            Fix::new(FixId::Chmod600, "t", "chmod 600 /home/bob/.ssh/id_ed25519")
                .on_path("/home/bob/.ssh/id_ed25519"),
        )];
        let key_finding = |name: &str| {
            Finding::new(
                "private-key-permissions",
                Severity::Error,
                format!("ssh ignores ~/.ssh/{name}: its permissions 0644 are too open"),
            )
            .evidence(format!("~/.ssh/{name}: mode 0644"))
            .fix(
                Fix::new(
                    FixId::ChmodPrivateKey,
                    "t",
                    format!("chmod 600 ~/.ssh/{name}"),
                )
                .on_path(paths.ssh_dir.join(name)),
            )
        };
        merge_local(
            &mut live,
            &[key_finding("id_ed25519"), key_finding("id_rsa")],
        );
        assert_eq!(live.len(), 2, "{live:#?}");
        assert_eq!(
            live[0].evidence,
            ["accepted: id_ed25519", "~/.ssh/id_ed25519: mode 0644"]
        );
        assert!(live[1].title.contains("id_rsa"));
    }
}

//! The dashboard's panes as components, one module each (as gitui's components): a pane owns its
//! state (cursor, scroll, details), handles its own keys, draws itself and says which of its
//! footer keys would do something now. What every pane reads (the inspection, the findings,
//! the size) is [`Shared`], owned by the `App`, which routes keys and messages to the pane in
//! focus and keeps what is not one pane's (overlays, the status line, undo, effects).

pub mod agent;
pub mod findings;
pub mod keys;
pub mod known_hosts;
pub mod live;
pub mod permissions;
pub mod server;
mod table;

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::Frame;

use super::app::{Confirm, Effect, Inspected};
use super::keymap::{self, Action, Hint, Scope};
use super::widgets::Theme;
use crate::finding::Finding;
use crate::paths::SshPaths;

/// What the panes read and never own: the local inspection, every finding (local and live,
/// worst first), the terminal's size and the spinner's tick.
#[derive(Debug)]
pub struct Shared {
    pub paths: SshPaths,
    /// `None` while the inspection runs.
    pub inspected: Option<Result<Inspected, String>>,
    /// Local and live findings together, worst first.
    pub findings: Vec<Finding>,
    pub size: (u16, u16),
    pub tick: usize,
    /// False under `NO_COLOR`: only bold/reverse, no colours.
    pub color: bool,
}

impl Shared {
    pub fn new(paths: SshPaths) -> Shared {
        Shared {
            paths,
            inspected: None,
            findings: Vec::new(),
            size: (80, 24),
            tick: 0,
            color: true,
        }
    }

    pub fn theme(&self) -> Theme {
        Theme { color: self.color }
    }

    /// The inspection, once it succeeded.
    pub fn inspection(&self) -> Option<&Inspected> {
        match &self.inspected {
            Some(Ok(i)) => Some(i),
            _ => None,
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
}

/// What a pane did with a key, for the `App` to finish.
#[derive(Debug)]
pub enum Outcome {
    /// Not this pane's key (or nothing of its own to close): the app's handling applies.
    Unhandled,
    /// Done inside the pane.
    Handled,
    /// A word for the status line.
    Say(String),
    /// A question for the user before anything happens.
    Confirm(Confirm),
    /// Work for the shell, with what to say while it runs.
    Run(Vec<Effect>, String),
}

/// A pane of the dashboard.
pub trait Component {
    /// Where its keys are listed in the key table.
    fn scope(&self) -> Scope;

    /// Rows its list shows on a terminal of the shared size.
    fn list_height(&self, shared: &Shared) -> usize;

    /// A key, as its action in the key table.
    fn on_action(&mut self, action: Action, shared: &Shared) -> Outcome;

    /// Moves by `delta` rows (the mouse wheel, or a cursor key as `action`).
    fn scroll(&mut self, action: Action, delta: isize, shared: &Shared);

    /// A click on row `row` of the list as drawn (0 = the first row shown).
    fn click(&mut self, row: usize, shared: &Shared);

    fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared);

    /// A prompt inside the pane has the keyboard (the browser's filter): raw keys go to
    /// [`Component::prompt_key`] instead of the key table, and the footer says how to answer.
    fn prompt(&self) -> Option<&'static [(&'static str, &'static str)]> {
        None
    }

    fn prompt_key(&mut self, _key: KeyEvent, _shared: &Shared) {}

    /// The finding `f` would fix here and which of its fixes.
    fn fix_target<'a>(&'a self, _shared: &'a Shared) -> Option<(&'a Finding, usize)> {
        None
    }

    /// Whether `action` would do something in this pane now.
    fn enabled(&self, action: Action, shared: &Shared) -> bool {
        match action {
            Action::Fix => self
                .fix_target(shared)
                .is_some_and(|(f, _)| !f.fixes.is_empty()),
            _ => true,
        }
    }

    /// The footer: the pane's keys that would do something now.
    fn hints(&self, shared: &Shared) -> Vec<Hint> {
        keymap::footer(self.scope())
            .into_iter()
            .filter(|h| self.enabled(h.action, shared))
            .collect()
    }
}

/// How far a cursor key moves in a list of `height` rows (`None`: not a cursor key).
pub fn step(action: Action, height: usize) -> Option<isize> {
    let page = height.max(1) as isize;
    match action {
        Action::Up => Some(-1),
        Action::Down => Some(1),
        Action::PageUp => Some(-page),
        Action::PageDown => Some(page),
        Action::Top => Some(isize::MIN / 2),
        Action::Bottom => Some(isize::MAX / 2),
        _ => None,
    }
}

/// A cursor in a list with its scroll window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub pos: usize,
    pub offset: usize,
}

impl Cursor {
    pub fn move_by(&mut self, delta: isize, len: usize, height: usize) {
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

    /// A click on row `row` of the window: the cursor goes there if a row is drawn there.
    pub fn click(&mut self, row: usize, len: usize, height: usize) {
        let target = self.offset + row;
        if target < len {
            let d = target as isize - self.pos as isize;
            self.move_by(d, len, height);
        }
    }
}

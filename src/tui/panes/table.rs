//! What the three table panes (Keys, Permissions, Agent) share: the line shown while the
//! inspection runs, a row's note (the finding about it, or "ok"), and moving their cursor.

use ratatui::style::{Color, Style};
use ratatui::text::Line;

use super::{step, Cursor, Outcome, Shared};
use crate::finding::Finding;
use crate::safe_text::printable;
use crate::tui::app::Pane;
use crate::tui::keymap::Action;
use crate::tui::layout;

/// The line a table shows instead of its rows while the inspection runs or when it failed.
pub fn summary(shared: &Shared, what: &str) -> Option<Line<'static>> {
    match &shared.inspected {
        None => Some(Line::from(format!("Reading {what}…"))),
        Some(Err(e)) => Some(Line::from(format!("Could not inspect: {}", printable(e)))),
        Some(Ok(_)) => None,
    }
}

/// The note column of a table row: the title of its finding, if any.
pub fn row_note(shared: &Shared, finding: Option<usize>) -> (String, Style) {
    let theme = shared.theme();
    match finding.and_then(|i| shared.findings.get(i)) {
        Some(f) => (
            format!("f: {}", printable(&f.title)),
            theme.severity(f.severity),
        ),
        None => ("ok".to_string(), theme.style(Color::Green)),
    }
}

/// The finding `f` fixes on a row: its first fix.
pub fn fix_target(shared: &Shared, finding: Option<usize>) -> Option<(&Finding, usize)> {
    Some((shared.findings.get(finding?)?, 0))
}

/// Rows a table shows.
pub fn list_height(shared: &Shared, pane: Pane) -> usize {
    layout::list_height(shared.size, pane, false, shared.findings.len())
}

/// A table's keys: the cursor keys only (`f` and the rest are the app's).
pub fn act(cursor: &mut Cursor, action: Action, len: usize, height: usize) -> Outcome {
    match step(action, height) {
        Some(delta) => {
            cursor.move_by(delta, len, height);
            Outcome::Handled
        }
        None => Outcome::Unhandled,
    }
}

/// The part of [`Component`](super::Component) every table pane writes the same way: rows
/// scope, its list height, and cursor keys, wheel and clicks moving `self.cursor` over
/// `Self::len(shared)` rows. Used inside `impl Component for ...`, which names the pane.
macro_rules! row_navigation {
    ($pane:expr) => {
        fn scope(&self) -> Scope {
            Scope::Rows
        }

        fn list_height(&self, shared: &Shared) -> usize {
            table::list_height(shared, $pane)
        }

        fn on_action(&mut self, action: Action, shared: &Shared) -> Outcome {
            let h = self.list_height(shared);
            table::act(&mut self.cursor, action, Self::len(shared), h)
        }

        fn scroll(&mut self, _action: Action, delta: isize, shared: &Shared) {
            let h = self.list_height(shared);
            self.cursor.move_by(delta, Self::len(shared), h);
        }

        fn click(&mut self, row: usize, shared: &Shared) {
            let h = self.list_height(shared);
            self.cursor.click(row, Self::len(shared), h);
        }
    };
}
pub(crate) use row_navigation;

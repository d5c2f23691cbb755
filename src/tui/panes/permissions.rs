//! The Permissions pane: the files ssh (this side) and sshd's StrictModes check, with their
//! mode, owner and what they need, and the finding about each.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{table, Component, Cursor, Outcome, Shared};
use crate::finding::Finding;
use crate::safe_text::printable;
use crate::tui::app::Pane;
use crate::tui::keymap::{Action, Scope};
use crate::tui::text::column;

#[derive(Debug, Default)]
pub struct PermissionsPane {
    pub cursor: Cursor,
}

impl PermissionsPane {
    fn len(shared: &Shared) -> usize {
        shared.inspection().map_or(0, |i| i.perms.len())
    }

    /// The finding about the file on `row`.
    pub fn row_finding(shared: &Shared, row: usize) -> Option<usize> {
        shared.finding_about(&shared.inspection()?.perms.get(row)?.shown)
    }
}

impl Component for PermissionsPane {
    table::row_navigation!(Pane::Permissions);

    fn fix_target<'a>(&'a self, shared: &'a Shared) -> Option<(&'a Finding, usize)> {
        table::fix_target(shared, Self::row_finding(shared, self.cursor.pos))
    }

    fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        if let Some(l) = table::summary(shared, "permissions") {
            frame.render_widget(Paragraph::new(l), area);
            return;
        }
        let Some(i) = shared.inspection() else { return };
        let height = usize::from(area.height).saturating_sub(2);
        let c = self.cursor;
        let rows: Vec<Line> = i
            .perms
            .iter()
            .enumerate()
            .skip(c.offset)
            .take(height)
            .map(|(n, p)| {
                let (mode, owner) = match &p.meta {
                    Some(m) => (crate::finding::mode_string(m.mode), m.uid.to_string()),
                    None => ("absent".to_string(), String::new()),
                };
                let (note, style) = table::row_note(shared, Self::row_finding(shared, n));
                Line::from(vec![
                    Span::raw(format!(
                        " {} {} {} {} {} ",
                        column(&printable(&p.shown), 24),
                        column(p.role, 11),
                        column(&mode, 6),
                        column(&owner, 6),
                        column(p.required, 14)
                    )),
                    Span::styled(note, style),
                ])
            })
            .collect();
        let header = format!(
            " {} {} {} {} {} NOTE",
            column("PATH", 24),
            column("ROLE", 11),
            column("MODE", 6),
            column("UID", 6),
            column("NEEDS", 14)
        );
        let summary = Line::from("What ssh (your side) and sshd (StrictModes) check");
        shared.theme().list(
            frame,
            area,
            summary,
            &header,
            rows,
            c.pos.checked_sub(c.offset),
        );
    }
}

//! The Server pane: `sshdoctor server` for the current user when this machine runs sshd,
//! findings worst first and the selected one's details (every fix with its command) below.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::{step, Component, Cursor, Outcome, Shared};
use crate::finding::Finding;
use crate::safe_text::printable;
use crate::server::ServerReport;
use crate::tui::app::Pane;
use crate::tui::keymap::{Action, Scope};
use crate::tui::layout;

#[derive(Debug, Default)]
pub struct ServerPane {
    /// `None` until the report comes (or when this machine runs no sshd).
    pub report: Option<Result<ServerReport, String>>,
    pub cursor: Cursor,
}

impl ServerPane {
    /// The report's findings (empty until it is in).
    pub fn findings(&self) -> &[Finding] {
        match &self.report {
            Some(Ok(r)) => &r.findings,
            _ => &[],
        }
    }

    /// A new report: the cursor stays on the list.
    pub fn set_report(&mut self, report: Result<ServerReport, String>, shared: &Shared) {
        self.report = Some(report);
        let n = self.findings().len();
        let h = self.list_height(shared);
        self.cursor.move_by(0, n, h);
    }
}

impl Component for ServerPane {
    fn scope(&self) -> Scope {
        Scope::Server
    }

    fn list_height(&self, shared: &Shared) -> usize {
        layout::list_height(shared.size, Pane::Server, false, self.findings().len())
    }

    fn on_action(&mut self, action: Action, shared: &Shared) -> Outcome {
        match step(action, self.list_height(shared)) {
            Some(delta) => {
                self.scroll(action, delta, shared);
                Outcome::Handled
            }
            None => Outcome::Unhandled,
        }
    }

    fn scroll(&mut self, _action: Action, delta: isize, shared: &Shared) {
        let (n, h) = (self.findings().len(), self.list_height(shared));
        self.cursor.move_by(delta, n, h);
    }

    fn click(&mut self, row: usize, shared: &Shared) {
        let (n, h) = (self.findings().len(), self.list_height(shared));
        self.cursor.click(row, n, h);
    }

    /// The selected finding's first fix.
    fn fix_target<'a>(&'a self, _shared: &'a Shared) -> Option<(&'a Finding, usize)> {
        Some((self.findings().get(self.cursor.pos)?, 0))
    }

    fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        let theme = shared.theme();
        let report = match &self.report {
            None => {
                frame.render_widget(Paragraph::new("Asking sshd about this account…"), area);
                return;
            }
            Some(Err(e)) => {
                let msg = format!("Could not inspect sshd's side: {}", printable(e));
                frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
                return;
            }
            Some(Ok(r)) => r,
        };
        let findings = &report.findings;
        let summary = if findings.is_empty() {
            Line::from(format!(
                "sshd for user {} ({}): nothing wrong found on the server side.",
                printable(&report.user),
                printable(&report.sshd_source)
            ))
        } else {
            Line::from(format!(
                "sshd for user {} ({}): {} finding{}",
                printable(&report.user),
                printable(&report.sshd_source),
                findings.len(),
                if findings.len() == 1 { "" } else { "s" }
            ))
        };
        let size = (frame.area().width, frame.area().height);
        let height = layout::list_height(size, Pane::Server, false, findings.len());
        let c = self.cursor;
        let rows: Vec<Line> = findings
            .iter()
            .skip(c.offset)
            .take(height)
            .map(|f| theme.finding_row(f))
            .collect();
        let list = Rect {
            height: (height as u16 + 2).min(area.height),
            ..area
        };
        theme.list(
            frame,
            list,
            summary,
            " SEVERITY WHAT IS WRONG",
            rows,
            c.pos.checked_sub(c.offset),
        );
        let Some(f) = findings.get(c.pos) else {
            return;
        };
        let detail = Rect {
            y: list.y + list.height,
            height: area.height.saturating_sub(list.height),
            ..area
        };
        let text = theme.finding_text(f, Some(0));
        let block = Block::default()
            .borders(Borders::TOP)
            .title(" Details: ↑↓ choose a finding, f applies its first fix ");
        frame.render_widget(
            Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
            detail,
        );
    }
}

//! The Findings pane: every finding, local and live, worst first; Enter opens the selected
//! one's details below the list (evidence, every fix with its command), where ↑↓ choose the fix
//! `f` applies and PgUp/PgDn scroll.

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::{step, Component, Cursor, Outcome, Shared};
use crate::finding::{Finding, Severity};
use crate::safe_text::printable;
use crate::tui::app::Pane;
use crate::tui::keymap::{Action, Scope};
use crate::tui::layout;

#[derive(Debug, Default)]
pub struct FindingsPane {
    pub cursor: Cursor,
    /// The selected finding's details are open.
    pub detail: bool,
    /// The fix `f` applies, in the details.
    pub fix_cursor: usize,
    pub detail_scroll: u16,
}

impl FindingsPane {
    /// After the findings were rebuilt: the cursor stays in the list, the first fix is chosen.
    pub fn findings_changed(&mut self, shared: &Shared) {
        let h = self.list_height(shared);
        self.cursor.move_by(0, shared.findings.len(), h);
        self.fix_cursor = 0;
    }
}

impl Component for FindingsPane {
    fn scope(&self) -> Scope {
        Scope::Findings
    }

    fn list_height(&self, shared: &Shared) -> usize {
        layout::list_height(
            shared.size,
            Pane::Findings,
            self.detail,
            shared.findings.len(),
        )
    }

    fn on_action(&mut self, action: Action, shared: &Shared) -> Outcome {
        if let Some(delta) = step(action, self.list_height(shared)) {
            self.scroll(action, delta, shared);
            return Outcome::Handled;
        }
        match action {
            Action::Back if self.detail => {
                self.detail = false;
                Outcome::Handled
            }
            Action::Enter if !shared.findings.is_empty() => {
                self.detail = !self.detail;
                self.fix_cursor = 0;
                self.detail_scroll = 0;
                let h = self.list_height(shared);
                self.cursor.move_by(0, shared.findings.len(), h);
                Outcome::Handled
            }
            Action::Enter => Outcome::Handled,
            _ => Outcome::Unhandled,
        }
    }

    fn scroll(&mut self, action: Action, delta: isize, shared: &Shared) {
        if !self.detail {
            let h = self.list_height(shared);
            self.cursor.move_by(delta, shared.findings.len(), h);
            return;
        }
        let fixes = shared
            .findings
            .get(self.cursor.pos)
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

    fn click(&mut self, row: usize, shared: &Shared) {
        let h = self.list_height(shared);
        self.cursor.click(row, shared.findings.len(), h);
    }

    fn fix_target<'a>(&'a self, shared: &'a Shared) -> Option<(&'a Finding, usize)> {
        let x = if self.detail { self.fix_cursor } else { 0 };
        Some((shared.findings.get(self.cursor.pos)?, x))
    }

    fn enabled(&self, action: Action, shared: &Shared) -> bool {
        match action {
            Action::Enter => !shared.findings.is_empty(),
            Action::Fix => self
                .fix_target(shared)
                .is_some_and(|(f, _)| !f.fixes.is_empty()),
            _ => true,
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        let theme = shared.theme();
        let findings = &shared.findings;
        let summary = match &shared.inspected {
            None => Line::from("Looking at keys, known_hosts, permissions, config and agent…"),
            Some(Err(e)) => Line::styled(
                format!("Could not inspect this side: {}", printable(e)),
                theme.style(Color::Red),
            ),
            Some(Ok(_)) if findings.is_empty() => Line::from("No problems found on this side."),
            Some(Ok(_)) => {
                let count = |s| findings.iter().filter(|f| f.severity == s).count();
                Line::from(format!(
                    "{} findings, worst first: {} error, {} warning, {} info",
                    findings.len(),
                    count(Severity::Error),
                    count(Severity::Warning),
                    count(Severity::Info)
                ))
            }
        };
        let height = layout::list_height(
            (frame.area().width, frame.area().height),
            Pane::Findings,
            self.detail,
            findings.len(),
        );
        let rows: Vec<Line> = findings
            .iter()
            .skip(self.cursor.offset)
            .take(height)
            .map(|f| theme.finding_row(f))
            .collect();
        let cursor = self.cursor.pos.checked_sub(self.cursor.offset);
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
            cursor,
        );
        if !self.detail {
            return;
        }
        let Some(f) = findings.get(self.cursor.pos) else {
            return;
        };
        let detail = Rect {
            y: list.y + list.height,
            height: area.height.saturating_sub(list.height),
            ..area
        };
        let text = theme.finding_text(f, Some(self.fix_cursor));
        let block = Block::default()
            .borders(Borders::TOP)
            .title(" Details: Esc closes, ↑↓ choose a fix, f applies it ");
        frame.render_widget(
            Paragraph::new(text)
                .block(block)
                .wrap(Wrap { trim: false })
                .scroll((self.detail_scroll, 0)),
            detail,
        );
    }
}

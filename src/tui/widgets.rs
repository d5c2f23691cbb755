//! Drawing pieces the panes share: the colours (named ANSI colours, none at all under
//! `NO_COLOR`), a list under a summary line and a column header, and a finding as a row and as
//! its details. Every piece of text that came from outside sshdoctor goes through
//! [`printable`] before it is drawn.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::finding::{Finding, Severity};
use crate::safe_text::printable;

/// How things are styled: in colour, or (under `NO_COLOR`) with bold and reverse only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn style(self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    pub fn severity(self, s: Severity) -> Style {
        match s {
            Severity::Error => self.style(Color::Red).add_modifier(Modifier::BOLD),
            Severity::Warning => self.style(Color::Magenta),
            Severity::Info => Style::default(),
        }
    }

    pub fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    pub fn bold(self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    /// Rows `rows` drawn under a summary and a column header, the cursor row reversed.
    pub fn list(
        self,
        frame: &mut Frame,
        area: Rect,
        summary: Line<'_>,
        header: &str,
        rows: Vec<Line<'_>>,
        cursor: Option<usize>,
    ) {
        let mut lines = vec![summary, Line::styled(header.to_string(), self.bold())];
        for (i, mut l) in rows.into_iter().enumerate() {
            if Some(i) == cursor {
                l = l.patch_style(self.selected());
            }
            lines.push(l);
        }
        frame.render_widget(Paragraph::new(lines), area);
    }

    /// One row of a findings list: severity and title.
    pub fn finding_row(self, f: &Finding) -> Line<'static> {
        let sev = match f.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "WARN",
            Severity::Info => "INFO",
        };
        Line::from(vec![
            Span::styled(format!(" {sev:<7}"), self.severity(f.severity)),
            Span::raw(printable(&f.title)),
        ])
    }

    /// A finding's details: title, explanation, evidence, each fix and its command, the one
    /// `f` applies marked.
    pub fn finding_text(self, f: &Finding, chosen: Option<usize>) -> Text<'static> {
        let mut text = Text::default();
        text.push_line(Line::styled(printable(&f.title), self.severity(f.severity)));
        if !f.explanation.is_empty() {
            text.push_line(Line::from(printable(&f.explanation)));
        }
        for e in &f.evidence {
            text.push_line(Line::from(format!("• {}", printable(e))));
        }
        if f.fixes.is_empty() {
            text.push_line(Line::styled(
                "No fix to apply: the evidence above says what to check.",
                self.bold(),
            ));
        }
        for (i, x) in f.fixes.iter().enumerate() {
            let mark = if Some(i) == chosen { "▶" } else { " " };
            let mut l = Line::from(format!(
                "{mark} fix: {}{}",
                printable(&x.title),
                if x.destructive { " (destructive)" } else { "" }
            ));
            if Some(i) == chosen {
                l = l.patch_style(self.bold());
            }
            text.push_line(l);
            text.push_line(Line::from(format!("    $ {}", printable(&x.command))));
        }
        text
    }
}

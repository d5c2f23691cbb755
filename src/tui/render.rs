//! Drawing the frame: the tab bar, the pane in focus (each pane draws itself, `tui::panes`),
//! the status line, the footer and the overlays (help, confirmations). `render` takes `&self`:
//! drawing never changes state, so what a test renders from a state is what the user sees.
//! Every piece of text that came from outside sshdoctor (file contents, server answers) goes
//! through [`printable`].

use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Overlay};
use super::keymap;
use super::layout::{self, TAB_PREFIX};
use super::text::{fit, fit_keeping_end, wrap};
use crate::safe_text::printable;

/// Width of a popup (help, confirmations) on a terminal `width` columns wide.
fn popup_width(width: u16) -> u16 {
    width.saturating_sub(4).min(90)
}

impl App {
    /// Draws the whole screen.
    pub fn render(&self, frame: &mut Frame) {
        let area = frame.area();
        if layout::too_small((area.width, area.height)) {
            let msg = format!(
                "Terminal too small ({}x{}): sshdoctor needs at least {}x{}. Enlarge the window, or press q to quit.",
                area.width,
                area.height,
                layout::MIN_WIDTH,
                layout::MIN_HEIGHT
            );
            frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
            return;
        }
        let tabs = Rect { height: 1, ..area };
        let body = Rect {
            y: area.y + 1,
            height: area.height - 3,
            ..area
        };
        let status = Rect {
            y: area.y + area.height - 2,
            height: 1,
            ..area
        };
        let footer = Rect {
            y: area.y + area.height - 1,
            height: 1,
            ..area
        };
        self.render_tabs(frame, tabs);
        self.focused().draw(frame, body, &self.shared);
        let theme = self.shared.theme();
        if let Some(s) = &self.status {
            let style = if s.error {
                theme.style(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                theme.bold()
            };
            // One row: a message too long for it keeps its end (the undo hint), not its start.
            let text = fit_keeping_end(&printable(&s.text), usize::from(status.width));
            frame.render_widget(Paragraph::new(Span::styled(text, style)), status);
        }
        self.render_footer(frame, footer);
        match &self.overlay {
            Overlay::None => {}
            Overlay::Help => self.render_help(frame, area),
            Overlay::Confirm(c) if c.strong => {
                let mut lines = c.lines.clone();
                // The last line, which stays on screen however long the warning is.
                lines.push(format!("Type yes: {}█", c.typed));
                self.render_popup(frame, area, &c.title, &lines)
            }
            Overlay::Confirm(c) => self.render_popup(frame, area, &c.title, &c.lines),
            // The password itself is never drawn: one `*` a character.
            Overlay::Password(p) => {
                let lines = vec![
                    format!("For: {}", p.login),
                    "The live test runs again and sends this password once, with password or \
                     keyboard-interactive login; it is not shown, logged or kept."
                        .to_string(),
                    String::new(),
                    format!("{}'s password: {}█", p.login, p.masked()),
                    "Enter: try it once   Esc: cancel".to_string(),
                ];
                self.render_popup(frame, area, "Try a password login", &lines)
            }
        }
    }

    fn render_tabs(&self, frame: &mut Frame, area: Rect) {
        let theme = self.shared.theme();
        let mut spans = vec![Span::styled(TAB_PREFIX, theme.bold())];
        for (i, p) in self.panes.iter().enumerate() {
            let text = format!(" {} ", p.title());
            if i == self.pane {
                spans.push(Span::styled(
                    text,
                    theme.selected().add_modifier(Modifier::BOLD),
                ));
            } else {
                spans.push(Span::raw(text));
            }
            spans.push(Span::raw("│"));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn render_footer(&self, frame: &mut Frame, area: Rect) {
        let theme = self.shared.theme();
        // A prompt in the pane (the browser's filter) says how to answer it instead.
        let pairs: Vec<(&str, &str)> = match self.focused().prompt() {
            Some(prompt) => prompt.to_vec(),
            None => self.hints().into_iter().map(|h| (h.key, h.label)).collect(),
        };
        let mut spans = Vec::new();
        for (k, h) in pairs {
            spans.push(Span::styled(format!(" {k}"), theme.bold()));
            spans.push(Span::raw(format!(" {h} ")));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    /// The help's rows for a terminal `width` columns wide: every key, wrapped to the popup.
    fn help_text(width: u16) -> Vec<String> {
        let inner = usize::from(popup_width(width).saturating_sub(2)).max(10);
        keymap::BINDINGS
            .iter()
            .map(|b| format!("{:<8} {}", b.label, b.help))
            .chain(
                keymap::MODAL_HELP
                    .iter()
                    .map(|(k, h)| format!("{k:<8} {h}")),
            )
            .flat_map(|l| wrap(&l, inner, 9))
            .collect()
    }

    /// How many rows the help has at this width (for the scroll bound).
    pub fn help_rows(&self, width: u16) -> usize {
        Self::help_text(width).len()
    }

    /// The help, scrolled by [`App::help_scroll`] when it does not fit: its last row always
    /// says where the view is and how to scroll, so no key is silently left out.
    fn render_help(&self, frame: &mut Frame, area: Rect) {
        let rows = Self::help_text(area.width);
        let room = usize::from(area.height.saturating_sub(2));
        if rows.len() <= room {
            self.render_popup(frame, area, "Keys (any key closes)", &rows);
            return;
        }
        let shown = room.saturating_sub(1).max(1);
        let start = self.help_scroll.min(rows.len().saturating_sub(shown));
        let end = (start + shown).min(rows.len());
        let mut lines = rows[start..end].to_vec();
        lines.push(format!(
            "rows {}-{} of {}: ↓/j ↑/k PgDn/PgUp scroll, any other key closes",
            start + 1,
            end,
            rows.len()
        ));
        self.render_popup(frame, area, "Keys", &lines);
    }

    /// A bordered box in the middle of `area`, clamped to it.
    fn render_popup(&self, frame: &mut Frame, area: Rect, title: &str, lines: &[String]) {
        let width = popup_width(area.width);
        // A title too long for the border ends in an ellipsis instead of being cut mid-word,
        // and is then given whole as the first line.
        let full_title = printable(title);
        let title = fit(&full_title, usize::from(width.saturating_sub(4)));
        let with_title: Vec<String>;
        let lines = if title == full_title {
            lines
        } else {
            with_title = std::iter::once(full_title)
                .chain(lines.iter().cloned())
                .collect();
            &with_title[..]
        };
        let inner = usize::from(width.saturating_sub(2)).max(1);
        // Word wrapping can take a row more than the character count says.
        let needed: usize = lines
            .iter()
            .map(|l| {
                let rows = l.chars().count().max(1).div_ceil(inner);
                if rows > 1 {
                    rows + 1
                } else {
                    rows
                }
            })
            .sum();
        let height = (needed as u16 + 2).min(area.height);
        let popup = Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + (area.height - height) / 2,
            width,
            height,
        };
        let block = Block::bordered()
            .title(format!(" {title} "))
            .title_alignment(Alignment::Left);
        let body = block.inner(popup);
        frame.render_widget(Clear, popup);
        frame.render_widget(block, popup);
        // When the text does not fit, the last line (what to press) stays on the bottom row:
        // a confirmation must always say how to answer it.
        let (text, last) = match lines.split_last() {
            Some((last, rest)) if needed > usize::from(body.height) && body.height > 1 => {
                let rows = last.chars().count().max(1).div_ceil(inner) as u16;
                (rest, Some((last, rows.min(body.height - 1))))
            }
            _ => (lines, None),
        };
        let mut top = body;
        if let Some((last, rows)) = last {
            top.height = body.height - rows;
            let bottom = Rect {
                y: body.y + top.height,
                height: rows,
                ..body
            };
            frame.render_widget(
                Paragraph::new(Line::from(printable(last))).wrap(Wrap { trim: false }),
                bottom,
            );
        }
        let text: Vec<Line> = text.iter().map(|l| Line::from(printable(l))).collect();
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), top);
    }
}

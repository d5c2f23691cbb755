//! The Agent pane: whether an ssh-agent answers on `$SSH_AUTH_SOCK`, the keys it holds, and
//! the finding about it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{table, Component, Cursor, Outcome, Shared};
use crate::agent::AgentStatus;
use crate::finding::Finding;
use crate::safe_text::printable;
use crate::tui::app::Pane;
use crate::tui::keymap::{Action, Scope};
use crate::tui::text::column;

#[derive(Debug, Default)]
pub struct AgentPane {
    pub cursor: Cursor,
}

impl AgentPane {
    /// One row a key, or one row saying why there is none.
    fn len(shared: &Shared) -> usize {
        match shared.inspection().map(|i| &i.inspection.agent) {
            None => 0,
            Some(AgentStatus::Running { identities, .. }) => identities.len().max(1),
            Some(_) => 1,
        }
    }

    /// The finding about the agent (the same for every row).
    pub fn row_finding(shared: &Shared) -> Option<usize> {
        let i = shared.inspection()?;
        let ids: Vec<String> = crate::agent::findings(&i.inspection.agent)
            .into_iter()
            .map(|f| f.id)
            .collect();
        shared.findings.iter().position(|f| ids.contains(&f.id))
    }

    fn note_line(shared: &Shared, text: &str) -> Line<'static> {
        let (note, style) = table::row_note(shared, Self::row_finding(shared));
        Line::from(vec![
            Span::raw(format!(" {}  ", text)),
            Span::styled(note, style),
        ])
    }
}

impl Component for AgentPane {
    fn scope(&self) -> Scope {
        Scope::Rows
    }

    fn list_height(&self, shared: &Shared) -> usize {
        table::list_height(shared, Pane::Agent)
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

    fn fix_target<'a>(&'a self, shared: &'a Shared) -> Option<(&'a Finding, usize)> {
        table::fix_target(shared, Self::row_finding(shared))
    }

    fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        if let Some(l) = table::summary(shared, "the agent") {
            frame.render_widget(Paragraph::new(l), area);
            return;
        }
        let Some(i) = shared.inspection() else { return };
        let c = self.cursor;
        let (summary, rows): (String, Vec<Line>) = match &i.inspection.agent {
            AgentStatus::NotSet => (
                "No agent: SSH_AUTH_SOCK is not set".into(),
                vec![Self::note_line(shared, "no agent in this session")],
            ),
            AgentStatus::Unreachable { socket, error, .. } => (
                format!(
                    "SSH_AUTH_SOCK={} does not answer",
                    printable(&socket.display().to_string())
                ),
                vec![Self::note_line(shared, &printable(error))],
            ),
            AgentStatus::Running { socket, identities } => (
                format!(
                    "Agent at {}: {} key{}",
                    printable(&socket.display().to_string()),
                    identities.len(),
                    if identities.len() == 1 { "" } else { "s" }
                ),
                if identities.is_empty() {
                    vec![Self::note_line(shared, "the agent holds no keys")]
                } else {
                    identities
                        .iter()
                        .map(|id| {
                            Line::from(format!(
                                " {} {} {}",
                                column(&printable(&id.key_type), 12),
                                column(&id.fingerprint, 50),
                                printable(&id.comment)
                            ))
                        })
                        .collect()
                },
            ),
        };
        let header = format!(
            " {} {} COMMENT",
            column("TYPE", 12),
            column("FINGERPRINT", 50)
        );
        shared.theme().list(
            frame,
            area,
            Line::from(summary),
            &header,
            rows,
            c.pos.checked_sub(c.offset),
        );
    }
}

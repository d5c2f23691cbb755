//! The Agent pane: whether an ssh-agent answers on `$SSH_AUTH_SOCK`, the keys it holds, the
//! finding about it, and, once the live test tried agent forwarding (`A`, or `ForwardAgent
//! yes`), which of them the server could use through it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{table, Component, Cursor, Outcome, Shared};
use ratatui::style::Color;

use super::live::AGENT_FORWARDING;
use crate::agent::AgentStatus;
use crate::finding::Finding;
use crate::probe::{ProbeReport, StageStatus};
use crate::safe_text::printable;
use crate::tui::app::Pane;
use crate::tui::keymap::{Action, Scope};
use crate::tui::text::column;

#[derive(Debug, Default)]
pub struct AgentPane {
    pub cursor: Cursor,
    /// What the last live test that forwarded the agent found.
    pub forwarded: Option<Forwarded>,
}

/// Agent forwarding as the live test found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    pub host: String,
    /// The lines `ssh-add -l` printed on the server (fingerprints in them), when it worked.
    pub server_lines: Vec<String>,
    /// It worked: a request made on the server reached this agent.
    pub ok: bool,
}

/// How `agent-forwarding-ok` gives each line the server's `ssh-add -l` printed.
const SERVER_LINE: &str = "on the server, ssh-add -l: ";

impl Forwarded {
    /// From a live test's report: `None` when it did not try forwarding.
    pub fn from_report(r: &ProbeReport) -> Option<Forwarded> {
        let stage = r.stages.iter().find(|s| s.stage == AGENT_FORWARDING)?;
        if stage.status == StageStatus::Skipped {
            return None;
        }
        let server_lines = r
            .findings
            .iter()
            .filter(|f| f.id == "agent-forwarding-ok")
            .flat_map(|f| &f.evidence)
            .filter_map(|e| e.strip_prefix(SERVER_LINE))
            .map(str::to_string)
            .collect();
        Some(Forwarded {
            host: r.target.host.clone(),
            server_lines,
            ok: stage.status == StageStatus::Ok,
        })
    }

    /// Whether the server listed this key (by its `SHA256:` fingerprint).
    fn lists(&self, fingerprint: &str) -> bool {
        self.server_lines
            .iter()
            .any(|l| l.split_whitespace().any(|w| w == fingerprint))
    }
}

impl AgentPane {
    /// A live test ended: what it found about forwarding, if it tried (a run that did not
    /// forward leaves the last answer standing).
    pub fn live_done(&mut self, r: &ProbeReport) {
        if let Some(f) = Forwarded::from_report(r) {
            self.forwarded = Some(f);
        }
    }

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
    table::row_navigation!(Pane::Agent);

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
                    "Agent at {}: {} key{}{}",
                    printable(&socket.display().to_string()),
                    identities.len(),
                    if identities.len() == 1 { "" } else { "s" },
                    match &self.forwarded {
                        Some(f) if f.ok => format!(
                            "; forwarded to {}, which could use the keys marked",
                            printable(&f.host)
                        ),
                        Some(f) => format!("; forwarding to {} failed", printable(&f.host)),
                        None => "; ssh -A would hand the server all of them".to_string(),
                    }
                ),
                if identities.is_empty() {
                    vec![Self::note_line(shared, "the agent holds no keys")]
                } else {
                    identities
                        .iter()
                        .map(|id| {
                            let mut l = Line::from(format!(
                                " {} {} {}",
                                column(&printable(&id.key_type), 12),
                                column(&id.fingerprint, 50),
                                printable(&id.comment)
                            ));
                            if let Some(f) =
                                self.forwarded.as_ref().filter(|f| f.lists(&id.fingerprint))
                            {
                                l.push_span(Span::styled(
                                    format!("  usable on {}", printable(&f.host)),
                                    shared.theme().style(Color::Magenta),
                                ));
                            }
                            l
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

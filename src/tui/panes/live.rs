//! The Live test pane: the probe's stages as they happen (a spinner on the running one), then
//! the server's banner and host key and whether the login works.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{Component, Outcome, Shared};
use crate::finding::Severity;
use crate::probe::{ProbeReport, Stage, StageEvent, StageStatus, STAGES};
use crate::safe_text::printable;
use crate::tui::fixes::LiveTarget;
use crate::tui::keymap::{Action, Scope};

const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

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

    pub fn start(&mut self) {
        self.stages = STAGES.iter().map(|s| (*s, StageState::Pending)).collect();
        self.report = None;
        self.error = None;
        self.running = true;
    }

    pub fn event(&mut self, ev: StageEvent) {
        let (name, state) = match ev {
            StageEvent::Started(name) => (name.to_string(), StageState::Running),
            StageEvent::Finished(stage) => (stage.stage.clone(), StageState::Done(stage)),
        };
        if let Some(slot) = self.stages.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = state;
        }
    }
}

/// The pane: the live test when the dashboard was given a target.
#[derive(Debug, Default)]
pub struct LivePane {
    pub test: Option<Live>,
}

impl LivePane {
    pub fn new(target: Option<String>) -> LivePane {
        LivePane {
            test: target.map(Live::new),
        }
    }

    pub fn running(&self) -> bool {
        self.test.as_ref().is_some_and(|l| l.running)
    }

    pub fn report(&self) -> Option<&ProbeReport> {
        self.test.as_ref()?.report.as_ref()
    }

    /// The server the live test talked to, once it has a report.
    pub fn target(&self) -> Option<LiveTarget> {
        let r = self.report()?;
        Some(LiveTarget {
            host: r.target.host.clone(),
            port: r.target.port,
        })
    }

    pub fn stage(&mut self, ev: StageEvent) {
        if let Some(live) = &mut self.test {
            live.event(ev);
        }
    }

    pub fn done(&mut self, report: ProbeReport) {
        if let Some(live) = &mut self.test {
            for st in &report.stages {
                live.event(StageEvent::Finished(st.clone()));
            }
            live.report = Some(report);
            live.running = false;
        }
    }

    pub fn failed(&mut self, e: &str) {
        if let Some(live) = &mut self.test {
            live.running = false;
            live.error = Some(e.to_string());
        }
    }
}

impl Component for LivePane {
    fn scope(&self) -> Scope {
        Scope::Live
    }

    fn list_height(&self, _shared: &Shared) -> usize {
        0
    }

    fn on_action(&mut self, _action: Action, _shared: &Shared) -> Outcome {
        Outcome::Unhandled
    }

    fn scroll(&mut self, _action: Action, _delta: isize, _shared: &Shared) {}

    fn click(&mut self, _row: usize, _shared: &Shared) {}

    fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        let theme = shared.theme();
        let Some(live) = &self.test else {
            let msg = "No target given. Run `sshdoctor user@host` (or a Host alias from ~/.ssh/config) to test a login step by step: DNS, TCP, banner, key exchange, host key, auth methods, keys.";
            frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
            return;
        };
        let mut lines = Vec::new();
        let head = if live.running {
            format!("Live test of {}: running…", printable(&live.target))
        } else if let Some(e) = &live.error {
            format!(
                "Live test of {}: could not start: {}",
                printable(&live.target),
                printable(e)
            )
        } else {
            let total: u64 = live
                .report
                .as_ref()
                .map_or(0, |r| r.stages.iter().map(|s| s.ms).sum());
            format!(
                "Live test of {}: done in {total} ms (r runs it again)",
                printable(&live.target)
            )
        };
        lines.push(Line::styled(head, theme.bold()));
        lines.push(Line::default());
        for (name, state) in &live.stages {
            let label = format!("{:<20}", crate::probe::stage_label(name));
            let line = match state {
                StageState::Pending => Line::from(format!("  · {label}")),
                StageState::Running => Line::from(vec![
                    Span::styled(
                        format!("  {} ", SPINNER[shared.tick % SPINNER.len()]),
                        theme.bold(),
                    ),
                    Span::raw(format!("{label}  running…")),
                ]),
                StageState::Done(st) => {
                    let (icon, style) = match st.status {
                        StageStatus::Ok => ("✔", theme.style(Color::Green)),
                        StageStatus::Fail => {
                            ("✘", theme.style(Color::Red).add_modifier(Modifier::BOLD))
                        }
                        StageStatus::Skipped => ("-", Style::default()),
                    };
                    let ms = if st.status == StageStatus::Skipped {
                        "      ".to_string()
                    } else {
                        format!("{:>4} ms", st.ms)
                    };
                    Line::from(vec![
                        Span::styled(format!("  {icon} "), style),
                        Span::raw(format!("{label}{ms}  {}", printable(&st.detail))),
                    ])
                }
            };
            lines.push(line);
        }
        if let Some(r) = &live.report {
            lines.push(Line::default());
            if let Some(b) = &r.server.banner {
                lines.push(Line::from(format!("Server banner: {}", printable(b))));
            }
            if let (Some(t), Some(fp)) = (&r.server.host_key_type, &r.server.host_key_fingerprint) {
                lines.push(Line::from(format!(
                    "Host key: {} {}",
                    printable(t),
                    printable(fp)
                )));
            }
            match r.findings.iter().find(|f| f.severity == Severity::Error) {
                Some(f) => lines.push(Line::styled(
                    format!("Login fails: {} (see Findings)", printable(&f.title)),
                    theme.severity(Severity::Error),
                )),
                None => lines.push(Line::styled(
                    "No error found in the live test.",
                    theme.style(Color::Green),
                )),
            }
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
    }
}

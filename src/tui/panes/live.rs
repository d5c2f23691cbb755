//! The Live test pane: the probe's stages as they happen (a spinner on the running one), then
//! the server's banner and host key and whether the login works.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{Component, Outcome, Shared};
use crate::finding::{Finding, Severity};
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
    /// Stage names and states in the order shown: the eight, and the stages only some runs
    /// have (jump hosts before them, agent forwarding after them) where they come.
    pub stages: Vec<(String, StageState)>,
    pub report: Option<ProbeReport>,
    pub running: bool,
    pub error: Option<String>,
    /// What this run tests beyond keys: a password, agent forwarding.
    pub with: Vec<&'static str>,
    /// This run tried a password (instead of keys).
    pub password: bool,
}

/// The stage after the login that agent forwarding adds (`probe -A`).
pub const AGENT_FORWARDING: &str = "agent-forwarding";

fn pending() -> Vec<(String, StageState)> {
    STAGES
        .iter()
        .map(|s| (s.to_string(), StageState::Pending))
        .collect()
}

impl Live {
    pub fn new(target: String) -> Live {
        Live {
            target,
            stages: pending(),
            report: None,
            running: false,
            error: None,
            with: Vec::new(),
            password: false,
        }
    }

    /// A new run, as the config says (`ForwardAgent yes` adds its stage when it starts).
    pub fn start(&mut self) {
        self.start_with(false, false);
    }

    /// A new run that also tests a password (instead of keys) or agent forwarding: the
    /// header says so, and a forwarding run shows its stage pending from the start.
    pub fn start_with(&mut self, password: bool, forward_agent: bool) {
        self.stages = pending();
        self.with.clear();
        self.password = password;
        if password {
            self.with.push("a password, tried once");
        }
        if forward_agent {
            self.with.push("agent forwarding");
            self.stages
                .push((AGENT_FORWARDING.to_string(), StageState::Pending));
        }
        self.report = None;
        self.error = None;
        self.running = true;
    }

    /// A stage started or finished. One the timeline does not list yet (a jump host's, agent
    /// forwarding from the config) goes in where it happens: before the first stage still
    /// pending, or at the end.
    pub fn event(&mut self, ev: StageEvent) {
        let (name, state) = match ev {
            StageEvent::Started(name) => (name.to_string(), StageState::Running),
            StageEvent::Finished(stage) => (stage.stage.clone(), StageState::Done(stage)),
        };
        if let Some(slot) = self.stages.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = state;
            return;
        }
        let at = self
            .stages
            .iter()
            .position(|(_, s)| *s == StageState::Pending)
            .unwrap_or(self.stages.len());
        self.stages.insert(at, (name, state));
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

    /// After a run that tried a password: what became of it (`auth-ok`, `password-rejected`,
    /// `password-auth-disabled`).
    pub fn password_outcome(&self) -> Option<&Finding> {
        let live = self.test.as_ref().filter(|l| l.password && !l.running)?;
        live.report.as_ref()?.findings.iter().find(|f| {
            matches!(
                f.id.as_str(),
                "auth-ok" | "password-rejected" | "password-auth-disabled"
            )
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
        let target = if live.with.is_empty() {
            printable(&live.target)
        } else {
            format!(
                "{} with {}",
                printable(&live.target),
                live.with.join(" and ")
            )
        };
        let head = if live.running {
            format!("Live test of {target}: running…")
        } else if let Some(e) = &live.error {
            format!("Live test of {target}: could not start: {}", printable(e))
        } else {
            let total: u64 = live
                .report
                .as_ref()
                .map_or(0, |r| r.stages.iter().map(|s| s.ms).sum());
            format!("Live test of {target}: done in {total} ms (r runs it again)")
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
            // A run that tried a password answers that question first.
            let outcome = self.password_outcome();
            match outcome.or_else(|| r.findings.iter().find(|f| f.severity == Severity::Error)) {
                Some(f) if outcome.is_some() => lines.push(Line::styled(
                    format!("Password: {}", printable(&f.title)),
                    theme.severity(f.severity),
                )),
                Some(f) => lines.push(Line::styled(
                    format!("Login fails: {} (see Findings)", printable(&f.title)),
                    theme.severity(Severity::Error),
                )),
                None => lines.push(Line::styled(
                    "No error found in the live test.",
                    theme.style(Color::Green),
                )),
            }
            // What it found, one row each (the password's outcome, agent forwarding's):
            // Enter on the Findings pane shows the evidence.
            if !r.findings.is_empty() {
                lines.push(Line::default());
                lines.push(Line::styled("What the live test found:", theme.bold()));
                lines.extend(r.findings.iter().map(|f| theme.finding_row(f)));
            }
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
    }
}

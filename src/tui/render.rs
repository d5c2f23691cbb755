//! Drawing. `render` takes `&self`: drawing never changes state, so what a test renders from a
//! state is what the user sees. Every piece of text that came from outside sshdoctor (file
//! contents, server answers) goes through [`clean`].

use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Overlay, Pane, StageState};
use super::browser::{Load, RowKind};
use super::keymap;
use super::layout::{self, TAB_PREFIX};
use super::text::{column, fit, fit_keeping_end, wrap};
use crate::safe_text::printable;

/// Width of a popup (help, confirmations) on a terminal `width` columns wide.
fn popup_width(width: u16) -> u16 {
    width.saturating_sub(4).min(90)
}
use crate::agent::AgentStatus;
use crate::finding::Severity;
use crate::known_hosts::Marker;
use crate::probe::StageStatus;

const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

impl App {
    fn style(&self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    fn severity_style(&self, s: Severity) -> Style {
        match s {
            Severity::Error => self.style(Color::Red).add_modifier(Modifier::BOLD),
            Severity::Warning => self.style(Color::Magenta),
            Severity::Info => Style::default(),
        }
    }

    fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    fn bold(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

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
        match self.current() {
            Pane::Findings => self.render_findings(frame, body),
            Pane::Live => self.render_live(frame, body),
            Pane::Keys => self.render_keys(frame, body),
            Pane::Permissions => self.render_perms(frame, body),
            Pane::Agent => self.render_agent(frame, body),
            Pane::KnownHosts => self.render_browser(frame, body),
            Pane::Server => self.render_server(frame, body),
        }
        if let Some(s) = &self.status {
            let style = if s.error {
                self.style(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                self.bold()
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
        }
    }

    fn render_tabs(&self, frame: &mut Frame, area: Rect) {
        let mut spans = vec![Span::styled(TAB_PREFIX, self.bold())];
        for (i, p) in self.panes.iter().enumerate() {
            let text = format!(" {} ", p.title());
            if i == self.pane {
                spans.push(Span::styled(
                    text,
                    self.selected().add_modifier(Modifier::BOLD),
                ));
            } else {
                spans.push(Span::raw(text));
            }
            spans.push(Span::raw("│"));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn render_footer(&self, frame: &mut Frame, area: Rect) {
        let pairs: Vec<(&str, &str)> = if self.current() == Pane::KnownHosts && self.browser.editing
        {
            vec![("type", "to filter"), ("Enter", "keep"), ("Esc", "clear")]
        } else {
            self.hints().into_iter().map(|h| (h.key, h.label)).collect()
        };
        let mut spans = Vec::new();
        for (k, h) in pairs {
            spans.push(Span::styled(format!(" {k}"), self.bold()));
            spans.push(Span::raw(format!(" {h} ")));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    /// Rows `lines` drawn under a summary and a column header, the cursor row reversed.
    fn render_list(
        &self,
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

    fn render_findings(&self, frame: &mut Frame, area: Rect) {
        let summary = match &self.inspected {
            None => Line::from("Looking at keys, known_hosts, permissions, config and agent…"),
            Some(Err(e)) => Line::styled(
                format!("Could not inspect this side: {}", printable(e)),
                self.style(Color::Red),
            ),
            Some(Ok(_)) if self.findings.is_empty() => {
                Line::from("No problems found on this side.")
            }
            Some(Ok(_)) => {
                let count = |s| self.findings.iter().filter(|f| f.severity == s).count();
                Line::from(format!(
                    "{} findings, worst first: {} error, {} warning, {} info",
                    self.findings.len(),
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
            self.findings.len(),
        );
        let rows: Vec<Line> = self
            .findings
            .iter()
            .skip(self.finding.offset)
            .take(height)
            .map(|f| self.finding_row(f))
            .collect();
        let cursor = self.finding.pos.checked_sub(self.finding.offset);
        let list = Rect {
            height: (height as u16 + 2).min(area.height),
            ..area
        };
        self.render_list(
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
        let Some(f) = self.findings.get(self.finding.pos) else {
            return;
        };
        let detail = Rect {
            y: list.y + list.height,
            height: area.height.saturating_sub(list.height),
            ..area
        };
        let text = self.finding_text(f, Some(self.fix_cursor));
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

    /// The Server pane: sshd's side for the current user, findings worst first and the
    /// selected one's details (every fix with its command) below.
    fn render_server(&self, frame: &mut Frame, area: Rect) {
        let report = match &self.server {
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
        let c = self.server_cursor;
        let rows: Vec<Line> = findings
            .iter()
            .skip(c.offset)
            .take(height)
            .map(|f| self.finding_row(f))
            .collect();
        let list = Rect {
            height: (height as u16 + 2).min(area.height),
            ..area
        };
        self.render_list(
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
        let text = self.finding_text(f, Some(0));
        let block = Block::default()
            .borders(Borders::TOP)
            .title(" Details: ↑↓ choose a finding, f applies its first fix ");
        frame.render_widget(
            Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
            detail,
        );
    }

    /// One row of a findings list: severity and title.
    fn finding_row(&self, f: &crate::finding::Finding) -> Line<'static> {
        let sev = match f.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "WARN",
            Severity::Info => "INFO",
        };
        Line::from(vec![
            Span::styled(format!(" {sev:<7}"), self.severity_style(f.severity)),
            Span::raw(printable(&f.title)),
        ])
    }

    /// A finding's details: title, explanation, evidence, each fix and its command, the one
    /// `f` applies marked.
    fn finding_text(&self, f: &crate::finding::Finding, chosen: Option<usize>) -> Text<'static> {
        let mut text = Text::default();
        text.push_line(Line::styled(
            printable(&f.title),
            self.severity_style(f.severity),
        ));
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

    fn render_live(&self, frame: &mut Frame, area: Rect) {
        let Some(live) = &self.live else {
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
        lines.push(Line::styled(head, self.bold()));
        lines.push(Line::default());
        for (name, state) in &live.stages {
            let label = format!("{:<20}", crate::probe::stage_label(name));
            let line = match state {
                StageState::Pending => Line::from(format!("  · {label}")),
                StageState::Running => Line::from(vec![
                    Span::styled(
                        format!("  {} ", SPINNER[self.tick % SPINNER.len()]),
                        self.bold(),
                    ),
                    Span::raw(format!("{label}  running…")),
                ]),
                StageState::Done(st) => {
                    let (icon, style) = match st.status {
                        StageStatus::Ok => ("✔", self.style(Color::Green)),
                        StageStatus::Fail => {
                            ("✘", self.style(Color::Red).add_modifier(Modifier::BOLD))
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
                    self.severity_style(Severity::Error),
                )),
                None => lines.push(Line::styled(
                    "No error found in the live test.",
                    self.style(Color::Green),
                )),
            }
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
    }

    fn table_summary(&self, what: &str) -> Option<Line<'static>> {
        match &self.inspected {
            None => Some(Line::from(format!("Reading {what}…"))),
            Some(Err(e)) => Some(Line::from(format!("Could not inspect: {}", printable(e)))),
            Some(Ok(_)) => None,
        }
    }

    /// The note column of a table row: the title of its finding, if any.
    fn row_note(&self, pane: Pane, row: usize) -> (String, Style) {
        match self
            .row_finding(pane, row)
            .and_then(|i| self.findings.get(i))
        {
            Some(f) => (
                format!("f: {}", printable(&f.title)),
                self.severity_style(f.severity),
            ),
            None => ("ok".to_string(), self.style(Color::Green)),
        }
    }

    fn render_keys(&self, frame: &mut Frame, area: Rect) {
        if let Some(l) = self.table_summary("keys") {
            frame.render_widget(Paragraph::new(l), area);
            return;
        }
        let Some(Ok(i)) = &self.inspected else { return };
        let keys = &i.inspection.keys;
        let height = usize::from(area.height).saturating_sub(2);
        let c = self.rows[0];
        let rows: Vec<Line> = keys
            .iter()
            .enumerate()
            .skip(c.offset)
            .take(height)
            .map(|(n, k)| {
                let mut flags = vec![k.mode.clone()];
                if k.encrypted {
                    flags.push("passphrase".into());
                }
                if k.public_key_matches == Some(false) {
                    flags.push(".pub differs".into());
                }
                let (mut note, style) = self.row_note(Pane::Keys, n);
                if let Some(c) = &k.certificate {
                    flags.push("cert".into());
                    // Unless a finding has something to say about the key: its certificate.
                    if self.row_finding(Pane::Keys, n).is_none() {
                        let now = crate::certificate::now_unix();
                        note = format!(
                            "{} certificate \"{}\": {}",
                            c.cert_type,
                            printable(&c.key_id),
                            crate::certificate::validity_text(c, now)
                        );
                    }
                }
                Line::from(vec![
                    Span::raw(format!(
                        " {} {} {} {} {} ",
                        column(&printable(&self.paths.display(&k.path)), 20),
                        column(k.key_type.as_deref().unwrap_or("?"), 11),
                        column(&k.bits.map(|b| b.to_string()).unwrap_or_default(), 5),
                        column(k.fingerprint.as_deref().unwrap_or("?"), 22),
                        column(&flags.join(","), 10),
                    )),
                    Span::styled(note, style),
                ])
            })
            .collect();
        let summary = Line::from(format!(
            "{} (private keys with their .pub folded in)",
            crate::words::count(keys.len(), "key file")
        ));
        let header = format!(
            " {} {} {} {} {} NOTE",
            column("FILE", 20),
            column("TYPE", 11),
            column("BITS", 5),
            column("FINGERPRINT", 22),
            column("MODE", 10)
        );
        self.render_list(
            frame,
            area,
            summary,
            &header,
            rows,
            c.pos.checked_sub(c.offset),
        );
    }

    fn render_perms(&self, frame: &mut Frame, area: Rect) {
        if let Some(l) = self.table_summary("permissions") {
            frame.render_widget(Paragraph::new(l), area);
            return;
        }
        let Some(Ok(i)) = &self.inspected else { return };
        let height = usize::from(area.height).saturating_sub(2);
        let c = self.rows[1];
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
                let (note, style) = self.row_note(Pane::Permissions, n);
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
        self.render_list(
            frame,
            area,
            summary,
            &header,
            rows,
            c.pos.checked_sub(c.offset),
        );
    }

    fn render_agent(&self, frame: &mut Frame, area: Rect) {
        if let Some(l) = self.table_summary("the agent") {
            frame.render_widget(Paragraph::new(l), area);
            return;
        }
        let Some(Ok(i)) = &self.inspected else { return };
        let c = self.rows[2];
        let (summary, rows): (String, Vec<Line>) = match &i.inspection.agent {
            AgentStatus::NotSet => (
                "No agent: SSH_AUTH_SOCK is not set".into(),
                vec![self.agent_note_line("no agent in this session")],
            ),
            AgentStatus::Unreachable { socket, error, .. } => (
                format!(
                    "SSH_AUTH_SOCK={} does not answer",
                    printable(&socket.display().to_string())
                ),
                vec![self.agent_note_line(&printable(error))],
            ),
            AgentStatus::Running { socket, identities } => (
                format!(
                    "Agent at {}: {} key{}",
                    printable(&socket.display().to_string()),
                    identities.len(),
                    if identities.len() == 1 { "" } else { "s" }
                ),
                if identities.is_empty() {
                    vec![self.agent_note_line("the agent holds no keys")]
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
        self.render_list(
            frame,
            area,
            Line::from(summary),
            &header,
            rows,
            c.pos.checked_sub(c.offset),
        );
    }

    fn agent_note_line(&self, text: &str) -> Line<'static> {
        let (note, style) = self.row_note(Pane::Agent, 0);
        Line::from(vec![
            Span::raw(format!(" {}  ", text)),
            Span::styled(note, style),
        ])
    }

    fn render_browser(&self, frame: &mut Frame, area: Rect) {
        let b = &self.browser;
        let size = (frame.area().width, frame.area().height);
        let summary = if b.editing {
            Line::from(vec![
                Span::styled("Filter: /", self.bold()),
                Span::raw(printable(&b.filter)),
                Span::styled("█", self.bold()),
                Span::raw(format!("  ({} shown)", b.visible.len())),
            ])
        } else {
            let text = match &b.load {
                Load::Loading => format!("Reading {}…", printable(&b.shown)),
                Load::Missing => format!(
                    "{} does not exist yet: ssh has not recorded any host.",
                    printable(&b.shown)
                ),
                Load::Failed(e) => format!("Cannot read {}: {}", printable(&b.shown), printable(e)),
                Load::Ready(l) => {
                    let mut s = format!(
                        "{}: {} entries, {} malformed",
                        printable(&b.shown),
                        l.rows.len() - l.malformed_rows,
                        l.malformed
                    );
                    if !b.filter.is_empty() {
                        s.push_str(&format!(
                            ", filter \"{}\": {} shown",
                            printable(&b.filter),
                            b.visible.len()
                        ));
                        if let Some((name, used)) = &b.host_match {
                            s.push_str(&format!(
                                " ({} ssh uses for {})",
                                used.len(),
                                printable(name)
                            ));
                        }
                    }
                    if !b.selected.is_empty() {
                        s.push_str(&format!(", {} selected", b.selected.len()));
                    }
                    s
                }
            };
            Line::from(text)
        };
        let w = usize::from(area.width);
        let fpw = match w {
            140.. => 50,
            100.. => 24,
            _ => 16,
        };
        // Line, selection mark, marker, type and fingerprint are fixed; hosts and the stale note
        // share the rest, hosts first.
        let fixed = 7 + 2 + 4 + 1 + 12 + 1 + fpw + 1;
        let rest = w.saturating_sub(fixed);
        let hostw = (rest / 2).max(8);
        let notew = rest.saturating_sub(hostw + 1);
        let header = format!(
            "{:>6} {}{} {} {} {} {}",
            "LINE",
            "  ",
            column("MARK", 4),
            column("HOSTS", hostw),
            column("TYPE", 12),
            column("FINGERPRINT", fpw),
            "STALE?"
        );
        let height = layout::list_height(size, Pane::KnownHosts, b.detail, 0);
        let rows: Vec<Line> = b
            .visible
            .iter()
            .skip(b.offset)
            .take(height)
            .filter_map(|&i| b.rows().get(i))
            .map(|r| {
                let sel = if b.selected.contains(&r.line) {
                    "* "
                } else {
                    "  "
                };
                match &r.kind {
                    RowKind::Entry(e) => {
                        let mark = match e.marker {
                            Some(Marker::CertAuthority) => "@ca",
                            Some(Marker::Revoked) => "@rev",
                            None => "",
                        };
                        let hosts = match &e.hosts {
                            Some(h) => printable(&h.join(",")),
                            None => "(hashed)".to_string(),
                        };
                        let fp = match &r.fingerprint {
                            Some(Some(fp)) => fp.clone(),
                            Some(None) => "(bad key)".into(),
                            None => String::new(),
                        };
                        // A scan's verdict says more than a guess: it comes first.
                        let (mut note, color) = match (&r.scan, &r.stale) {
                            (Some(m), _) if m.stale => (m.text.clone(), Color::Red),
                            (Some(m), None) => (m.text.clone(), Color::Green),
                            (Some(m), Some(st)) => (format!("{}; {st}", m.text), Color::Magenta),
                            (None, st) => (st.clone().unwrap_or_default(), Color::Magenta),
                        };
                        // With a host filter: which rows ssh uses, which only hold the text.
                        let used = match b.used_for_filter(r.line) {
                            Some(true) => "ssh uses",
                            Some(false) => "text match only",
                            None => "",
                        };
                        if !used.is_empty() {
                            note = if note.is_empty() {
                                used.to_string()
                            } else {
                                format!("{used}; {note}")
                            };
                        }
                        Line::from(vec![
                            Span::raw(format!(
                                "{:>6} {sel}{} {} {} {} ",
                                r.line,
                                column(mark, 4),
                                column(&hosts, hostw),
                                column(&printable(&e.key_type), 12),
                                column(&fp, fpw),
                            )),
                            Span::styled(fit(&printable(&note), notew), self.style(color)),
                        ])
                    }
                    RowKind::Malformed { reason, .. } => Line::from(vec![
                        Span::raw(format!("{:>6} {sel}", r.line)),
                        Span::styled(
                            format!("malformed: {}", printable(reason)),
                            self.style(Color::Red),
                        ),
                    ]),
                }
            })
            .collect();
        let cursor = b.cursor.checked_sub(b.offset);
        let list = Rect {
            height: (height as u16 + 2).min(area.height),
            ..area
        };
        self.render_list(frame, list, summary, &header, rows, cursor);
        if b.detail {
            let rest = Rect {
                y: list.y + list.height,
                height: area.height.saturating_sub(list.height),
                ..area
            };
            let mut text = Text::default();
            if let Some(r) = b.current() {
                let raw = match (&r.kind, &b.load) {
                    (RowKind::Malformed { text, .. }, _) => text.clone(),
                    (RowKind::Entry(e), Load::Ready(l)) => String::from_utf8_lossy(
                        l.kh.bytes().get(e.range.clone()).unwrap_or_default(),
                    )
                    .trim_end()
                    .to_string(),
                    _ => String::new(),
                };
                text.push_line(Line::from(format!("line {}: {}", r.line, printable(&raw))));
                if let Some(Some(fp)) = &r.fingerprint {
                    text.push_line(Line::from(format!("fingerprint: {fp}")));
                }
                if let Some(s) = &r.stale {
                    text.push_line(Line::from(format!("stale candidate: {}", printable(s))));
                }
                if let Some(m) = &r.scan {
                    text.push_line(Line::from(printable(&m.detail)));
                }
            }
            frame.render_widget(
                Paragraph::new(text)
                    .block(Block::default().borders(Borders::TOP))
                    .wrap(Wrap { trim: false }),
                rest,
            );
        }
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

//! The known_hosts browser as a pane: the [`Browser`]'s keys (its own list keys, and the ones
//! that ask first: `d` delete, `S` scan, `s` the stale check), what its messages do to it, and
//! its drawing. The browser's state and pure logic live in `tui::browser`.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::Wrap;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::{Component, Outcome, Shared};
use crate::known_hosts::Marker;
use crate::safe_text::printable;
use crate::tui::app::{Confirm, Effect, Pane};
use crate::tui::browser::{self, Browser, Load, Resolution, RowKind, ScanState};
use crate::tui::edit;
use crate::tui::keymap::{Action, Scope};
use crate::tui::layout;
use crate::tui::text::{column, fit};

/// The footer while the filter prompt has the keyboard.
const FILTER_HINTS: &[(&str, &str)] = &[("type", "to filter"), ("Enter", "keep"), ("Esc", "clear")];

impl Browser {
    /// A file read again: installed, and a scan's marks put back on the lines they were about.
    pub fn loaded(&mut self, load: Load, shared: &Shared) {
        self.set_loaded(load);
        if let (Some(scan), Load::Ready(l)) = (&self.scan, &mut self.load) {
            browser::reapply_scan_marks(&mut l.rows, &l.kh, &scan.marks);
        }
        let h = layout::list_height(shared.size, Pane::KnownHosts, false, 0);
        self.scroll_into_view(h);
    }

    /// The scan started with this many hosts: what the status line says.
    pub fn scan_started(&mut self, total: usize) -> String {
        let scan = ScanState {
            total,
            running: true,
            ..ScanState::default()
        };
        let text = scan.summary();
        self.scan = Some(scan);
        text
    }

    /// One host's scan result: its lines marked, and the status line's progress.
    pub fn scanned(
        &mut self,
        r: crate::scan::ScanResult,
        marks: Vec<browser::LineMark>,
    ) -> Option<String> {
        if let Load::Ready(l) = &mut self.load {
            browser::apply_scan_marks(&mut l.rows, &l.kh, &marks);
        }
        let scan = self.scan.as_mut()?;
        for m in marks {
            let worse = scan
                .marks
                .get(&m.raw)
                .is_none_or(|o| m.mark.stale || !o.stale);
            if worse {
                scan.marks.insert(m.raw, m.mark);
            }
        }
        scan.results.push(r);
        Some(scan.summary())
    }

    /// The scan is over: its summary, or why it failed (`true`: an error).
    pub fn scan_done(&mut self, result: Result<(), String>) -> Option<(String, bool)> {
        let scan = self.scan.as_mut()?;
        scan.running = false;
        Some(match result {
            Ok(()) => (scan.summary(), false),
            Err(e) => (format!("Scan failed: {e}"), true),
        })
    }

    /// The stale check's answers: rows marked, and what the status line says.
    pub fn names_checked(
        &mut self,
        answers: &std::collections::HashMap<String, Resolution>,
    ) -> String {
        let marked = match &mut self.load {
            Load::Ready(l) => browser::mark_unresolved(&mut l.rows, answers),
            _ => 0,
        };
        let unknown = answers
            .values()
            .filter(|a| **a == Resolution::Unknown)
            .count();
        let mut text = format!(
            "Checked {} name{}: {marked} entr{} no longer resolve{}",
            answers.len(),
            if answers.len() == 1 { "" } else { "s" },
            if marked == 1 { "y" } else { "ies" },
            if marked == 1 { "s" } else { "" },
        );
        if unknown > 0 {
            text.push_str(&format!(" ({unknown} gave no answer in time: not marked)"));
        }
        text
    }

    /// `s`: the plain host names, looked up in DNS on the shell's threads.
    fn check_names(&self) -> Outcome {
        let names = browser::names_to_check(self.rows());
        if names.is_empty() {
            Outcome::Say("No plain host names to look up (hashed entries hide theirs).".into())
        } else {
            let say = format!("Looking up {} names…", names.len());
            Outcome::Run(vec![Effect::CheckNames(names)], say)
        }
    }

    /// `S`: says how many hosts the scan connects to, and starts it on `y`.
    fn confirm_scan(&self) -> Outcome {
        if self.scan.as_ref().is_some_and(|s| s.running) {
            return Outcome::Say("A scan is already running.".into());
        }
        let Load::Ready(loaded) = &self.load else {
            return Outcome::Handled;
        };
        let targets = crate::scan::targets_from_known_hosts(&loaded.kh, &self.shown);
        if targets.is_empty() {
            return Outcome::Say(
                "No plain host names to scan (hashed entries hide theirs: `sshdoctor scan --from config` checks the hosts your config names).".into(),
            );
        }
        let lines = vec![
            format!(
                "Connect to the {} host{} named in {} and fetch each one's host key, as ssh-keyscan does?",
                targets.len(),
                if targets.len() == 1 { "" } else { "s" },
                self.shown
            ),
            "Key exchange only: no login, no key or password is sent. 64 at a time, 5 s each."
                .into(),
            "Entries whose server now shows another key are marked KEY CHANGED; nothing is deleted."
                .into(),
            String::new(),
            "y: scan   any other key: cancel".into(),
        ];
        Outcome::Confirm(Confirm {
            title: "Scan the known hosts?".into(),
            lines,
            effect: Some(Effect::Scan(self.path.clone())),
            strong: false,
            typed: String::new(),
        })
    }

    /// `d`: asks before deleting, listing the exact lines that will go.
    fn confirm_delete(&mut self) -> Outcome {
        let Load::Ready(loaded) = &self.load else {
            return Outcome::Handled;
        };
        let targets = self.targets();
        if targets.is_empty() {
            return Outcome::Say("Nothing to delete.".into());
        }
        let raw: Vec<&[u8]> = loaded.kh.bytes().split(|&b| b == b'\n').collect();
        let mut lines = vec![format!(
            "Delete {} line{} from {}:",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" },
            self.shown
        )];
        for n in &targets {
            let text = raw
                .get(n.saturating_sub(1))
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            lines.push(format!("{n:>6}: {text}"));
        }
        lines.push(String::new());
        lines.push(format!(
            "The previous file is kept in {}.old; u undoes.",
            self.shown
        ));
        lines.push("y: delete   any other key: cancel".into());
        let effect = Effect::Apply(edit::Action::DeleteLines {
            file: self.path.clone(),
            lines: targets,
            seen: loaded.kh.bytes().to_vec(),
        });
        self.selected.clear();
        Outcome::Confirm(Confirm {
            title: "Delete these lines?".into(),
            lines,
            effect: Some(effect),
            strong: false,
            typed: String::new(),
        })
    }
}

impl Component for Browser {
    fn scope(&self) -> Scope {
        Scope::KnownHosts
    }

    fn list_height(&self, shared: &Shared) -> usize {
        layout::list_height(shared.size, Pane::KnownHosts, self.detail, 0)
    }

    fn on_action(&mut self, action: Action, shared: &Shared) -> Outcome {
        let height = self.list_height(shared);
        if self.act(action, height) {
            return Outcome::Handled;
        }
        match action {
            Action::Delete => self.confirm_delete(),
            Action::CheckNames => self.check_names(),
            Action::Scan => self.confirm_scan(),
            _ => Outcome::Unhandled,
        }
    }

    fn scroll(&mut self, _action: Action, delta: isize, shared: &Shared) {
        let h = self.list_height(shared);
        self.move_by(delta, h);
    }

    fn click(&mut self, row: usize, shared: &Shared) {
        let target = self.offset + row;
        if target < self.visible.len() {
            let d = target as isize - self.cursor as isize;
            let h = self.list_height(shared);
            self.move_by(d, h);
        }
    }

    fn prompt(&self) -> Option<&'static [(&'static str, &'static str)]> {
        self.editing.then_some(FILTER_HINTS)
    }

    fn prompt_key(&mut self, key: KeyEvent, shared: &Shared) {
        let h = self.list_height(shared);
        self.on_filter_key(key, h);
    }

    fn enabled(&self, action: Action, _shared: &Shared) -> bool {
        match action {
            Action::Delete => !self.targets().is_empty(),
            _ => true,
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        let theme = shared.theme();
        let b = self;
        let size = (frame.area().width, frame.area().height);
        let summary = if b.editing {
            Line::from(vec![
                Span::styled("Filter: /", theme.bold()),
                Span::raw(printable(&b.filter)),
                Span::styled("█", theme.bold()),
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
                            Span::styled(fit(&printable(&note), notew), theme.style(color)),
                        ])
                    }
                    RowKind::Malformed { reason, .. } => Line::from(vec![
                        Span::raw(format!("{:>6} {sel}", r.line)),
                        Span::styled(
                            format!("malformed: {}", printable(reason)),
                            theme.style(Color::Red),
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
        theme.list(frame, list, summary, &header, rows, cursor);
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
}

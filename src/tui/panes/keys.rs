//! The Keys pane: every key file found in ~/.ssh (by content) and in the config's
//! IdentityFile lines, with its type, size, fingerprint and mode, and the finding about it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{table, Component, Cursor, Outcome, Shared};
use crate::finding::Finding;
use crate::safe_text::printable;
use crate::tui::app::Pane;
use crate::tui::keymap::{Action, Scope};
use crate::tui::text::column;

#[derive(Debug, Default)]
pub struct KeysPane {
    pub cursor: Cursor,
}

impl KeysPane {
    fn len(shared: &Shared) -> usize {
        shared.inspection().map_or(0, |i| i.inspection.keys.len())
    }

    /// The finding about the key on `row`.
    pub fn row_finding(shared: &Shared, row: usize) -> Option<usize> {
        let key = shared.inspection()?.inspection.keys.get(row)?;
        shared.finding_about(&shared.paths.display(&key.path))
    }
}

impl Component for KeysPane {
    table::row_navigation!(Pane::Keys);

    fn fix_target<'a>(&'a self, shared: &'a Shared) -> Option<(&'a Finding, usize)> {
        table::fix_target(shared, Self::row_finding(shared, self.cursor.pos))
    }

    fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        if let Some(l) = table::summary(shared, "keys") {
            frame.render_widget(Paragraph::new(l), area);
            return;
        }
        let Some(i) = shared.inspection() else { return };
        let keys = &i.inspection.keys;
        let height = usize::from(area.height).saturating_sub(2);
        let c = self.cursor;
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
                let finding = Self::row_finding(shared, n);
                let (mut note, style) = table::row_note(shared, finding);
                if let Some(c) = &k.certificate {
                    flags.push("cert".into());
                    // Unless a finding has something to say about the key: its certificate.
                    if finding.is_none() {
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
                        column(&printable(&shared.paths.display(&k.path)), 20),
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
        shared.theme().list(
            frame,
            area,
            summary,
            &header,
            rows,
            c.pos.checked_sub(c.offset),
        );
    }
}

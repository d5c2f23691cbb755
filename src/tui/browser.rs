//! The known_hosts browser's state: rows built once from the parsed file, a filter, a cursor
//! window and a selection. Only the rows in view are ever formatted, and fingerprints are
//! computed for the rows in view only, so 100k entries scroll as fast as 10.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keymap::Action;
use crate::known_hosts::{self, Entry, KnownHosts};
use crate::scan::{ScanResult, ScanStatus};

/// One line of the file worth showing: a key entry or a line ssh cannot use.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: usize,
    pub kind: RowKind,
    /// Lowercased host list, for filtering without allocating per keystroke.
    hosts_lower: String,
    /// `SHA256:...`, filled in when the row first comes into view. `Some(None)`: undecodable.
    pub fingerprint: Option<Option<String>>,
    /// Why this entry may be stale (e.g. "same key as line 7").
    pub stale: Option<String>,
    /// What the last scan (`S`) found for this line's host.
    pub scan: Option<ScanMark>,
}

/// A scan's verdict on one known_hosts line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanMark {
    /// The server no longer shows this line's key: the entry is stale (or an attack).
    pub stale: bool,
    /// Short, for the list's column.
    pub text: String,
    /// The whole verdict (which name, what the server showed), for the details.
    pub detail: String,
}

#[derive(Debug, Clone)]
pub enum RowKind {
    Entry(Entry),
    /// The raw text (lossy UTF-8, unsanitized) and why ssh cannot read it.
    Malformed {
        text: String,
        reason: String,
    },
}

/// A file read and turned into rows, ready to show. Built off the UI thread.
#[derive(Debug)]
pub struct Loaded {
    pub kh: KnownHosts,
    pub rows: Vec<Row>,
    /// Lines ssh cannot use (malformed rows plus entries with undecodable keys).
    pub malformed: usize,
    /// Of those, the rows that are not key entries.
    pub malformed_rows: usize,
}

impl Loaded {
    /// Parses the file and marks stale candidates. Pure.
    pub fn from_bytes(bytes: Vec<u8>) -> Loaded {
        Loaded::from_known_hosts(known_hosts::parse(bytes))
    }

    /// Rows for a parsed file, stale candidates marked. Pure.
    pub fn from_known_hosts(kh: KnownHosts) -> Loaded {
        let problems: HashMap<usize, String> = kh
            .problems()
            .into_iter()
            .map(|p| (p.line, p.reason))
            .collect();
        let mut rows: Vec<Row> = kh
            .entries()
            .into_iter()
            .map(|e| Row {
                line: e.line,
                hosts_lower: e
                    .hosts
                    .as_ref()
                    .map(|h| h.join(","))
                    .unwrap_or_default()
                    .to_lowercase(),
                kind: RowKind::Entry(e),
                fingerprint: None,
                stale: None,
                scan: None,
            })
            .collect();
        let entry_lines: HashSet<usize> = rows.iter().map(|r| r.line).collect();
        let raw: Vec<&[u8]> = kh.bytes().split(|&b| b == b'\n').collect();
        // Every line ssh cannot use, as `check` and `list` count them: malformed lines and key
        // lines whose key data ssh cannot decode (those stay entry rows, marked).
        let malformed = problems.len();
        for (line, reason) in &problems {
            if entry_lines.contains(line) {
                continue;
            }
            let text = raw
                .get(line.saturating_sub(1))
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            rows.push(Row {
                line: *line,
                hosts_lower: text.to_lowercase(),
                kind: RowKind::Malformed {
                    text,
                    reason: reason.clone(),
                },
                fingerprint: Some(None),
                stale: None,
                scan: None,
            });
        }
        rows.sort_by_key(|r| r.line);
        for r in &mut rows {
            if let (RowKind::Entry(_), Some(reason)) = (&r.kind, problems.get(&r.line)) {
                r.stale = Some(reason.clone());
            }
        }
        mark_shared_keys(&mut rows);
        let malformed_rows = rows
            .iter()
            .filter(|r| matches!(r.kind, RowKind::Malformed { .. }))
            .count();
        Loaded {
            kh,
            rows,
            malformed,
            malformed_rows,
        }
    }
}

/// The known_hosts name ssh looks up for a host typed in the filter: `host`, or `[host]:port`
/// for another port (`h:2200`, `[h]:2200` and `user@h:2200` alike). `None` when the text
/// cannot be a host (spaces, a pattern).
fn lookup_name(typed: &str) -> Option<String> {
    if typed.contains(['*', '?', '!', ',']) {
        return None;
    }
    let t = crate::target::parse_target(typed).ok()?;
    Some(known_hosts::host_port_name(&t.host, t.port.unwrap_or(22)))
}

/// A key that appears on several lines for different hosts is a stale candidate: usually a
/// reinstalled or renamed machine whose old name was never removed (or cloned VMs sharing keys).
/// The first line keeps its place; later ones say which line they repeat.
fn mark_shared_keys(rows: &mut [Row]) {
    let mut first: HashMap<String, (usize, String)> = HashMap::new();
    for r in rows.iter_mut() {
        let RowKind::Entry(e) = &r.kind else { continue };
        if e.marker.is_some() {
            continue;
        }
        match first.get(&e.key_base64) {
            Some((line, hosts)) if e.hashed || *hosts != r.hosts_lower => {
                if r.stale.is_none() {
                    r.stale = Some(format!("same key as line {line}"));
                }
            }
            Some(_) => {}
            None => {
                first.insert(e.key_base64.clone(), (r.line, r.hosts_lower.clone()));
            }
        }
    }
}

/// Whether the file is there yet.
#[derive(Debug)]
pub enum Load {
    Loading,
    /// No such file: ssh knows no hosts yet.
    Missing,
    Failed(String),
    Ready(Loaded),
}

#[derive(Debug)]
pub struct Browser {
    pub path: PathBuf,
    /// The path as the user reads it (`~/.ssh/known_hosts`).
    pub shown: String,
    pub load: Load,
    pub filter: String,
    /// The filter prompt has the keyboard.
    pub editing: bool,
    /// Indices into the rows that pass the filter.
    pub visible: Vec<usize>,
    /// With a filter that names a host: that name as ssh looks it up (`[h]:2200` for
    /// `h:2200`), and the lines ssh would use for it (hashed, wildcard and plain alike); the
    /// other visible rows only contain the filter's text.
    pub host_match: Option<(String, HashSet<usize>)>,
    pub cursor: usize,
    /// First visible index shown at the top of the list.
    pub offset: usize,
    /// Selected line numbers.
    pub selected: BTreeSet<usize>,
    /// Show the whole line under the cursor.
    pub detail: bool,
    /// The scan (`S`): results so far, kept so a reloaded list is marked again.
    pub scan: Option<ScanState>,
}

impl Browser {
    pub fn new(path: PathBuf, shown: String) -> Browser {
        Browser {
            path,
            shown,
            load: Load::Loading,
            filter: String::new(),
            editing: false,
            visible: Vec::new(),
            host_match: None,
            cursor: 0,
            offset: 0,
            selected: BTreeSet::new(),
            detail: false,
            scan: None,
        }
    }

    pub fn rows(&self) -> &[Row] {
        match &self.load {
            Load::Ready(l) => &l.rows,
            _ => &[],
        }
    }

    /// The row under the cursor.
    pub fn current(&self) -> Option<&Row> {
        self.visible
            .get(self.cursor)
            .and_then(|&i| self.rows().get(i))
    }

    /// Installs a freshly read file, keeping the filter and the cursor's line where possible.
    pub fn set_loaded(&mut self, load: Load) {
        let line = self.current().map(|r| r.line);
        self.load = load;
        let lines: HashSet<usize> = self.rows().iter().map(|r| r.line).collect();
        self.selected.retain(|l| lines.contains(l));
        self.apply_filter();
        if let Some(line) = line {
            if let Some(pos) = self
                .visible
                .iter()
                .position(|&i| self.rows().get(i).is_some_and(|r| r.line >= line))
            {
                self.cursor = pos;
            }
        }
        self.clamp();
    }

    /// Narrows the rows to the filter: the entries ssh would use for the filter read as a host
    /// (`[user@]host[:port]`, as `known-hosts find` judges it: hashed, wildcard and plain lines,
    /// negations honoured), plus rows whose host list (or malformed text) contains the filter
    /// as typed, case-insensitively. [`Self::host_match`] tells the two apart.
    pub fn apply_filter(&mut self) {
        self.host_match = None;
        let Load::Ready(loaded) = &self.load else {
            self.visible.clear();
            return;
        };
        let needle = self.filter.trim().to_lowercase();
        if needle.is_empty() {
            self.visible = (0..loaded.rows.len()).collect();
        } else {
            let name = lookup_name(&needle);
            let used: HashSet<usize> = name
                .as_deref()
                .map(|n| loaded.kh.find(n).into_iter().map(|e| e.line).collect())
                .unwrap_or_default();
            self.visible = loaded
                .rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.hosts_lower.contains(&needle) || used.contains(&r.line))
                .map(|(i, _)| i)
                .collect();
            self.host_match = name.map(|n| (n, used));
        }
        self.clamp();
    }

    /// Whether ssh would use `line` for the host the filter names (`None`: no host filter).
    pub fn used_for_filter(&self, line: usize) -> Option<bool> {
        self.host_match
            .as_ref()
            .map(|(_, used)| used.contains(&line))
    }

    fn clamp(&mut self) {
        let n = self.visible.len();
        self.cursor = self.cursor.min(n.saturating_sub(1));
        self.offset = self.offset.min(self.cursor);
    }

    /// A key typed while the filter is edited: the filter and the list follow each keystroke;
    /// Enter keeps the filter, Esc clears it, ↑↓ still move.
    pub fn on_filter_key(&mut self, key: KeyEvent, height: usize) {
        match key.code {
            KeyCode::Enter => self.editing = false,
            KeyCode::Esc => {
                self.editing = false;
                self.filter.clear();
                self.apply_filter();
            }
            KeyCode::Backspace => {
                self.filter.pop();
                self.apply_filter();
            }
            KeyCode::Up | KeyCode::Down => {
                let d = if key.code == KeyCode::Up { -1 } else { 1 };
                self.move_by(d, height);
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.filter.push(c);
                self.apply_filter();
            }
            _ => {}
        }
        self.scroll_into_view(height);
    }

    /// The browser's own keys, in a list of `height` rows: cursor moves, Enter (the whole
    /// line), `/` (filter), Space (select), and q/Esc closing the details or clearing the
    /// filter. `false`: not the browser's key, or nothing of its own to close (the app goes
    /// back or quits).
    pub fn act(&mut self, action: Action, height: usize) -> bool {
        let page = height.max(1) as isize;
        let step = match action {
            Action::Up => -1,
            Action::Down => 1,
            Action::PageUp => -page,
            Action::PageDown => page,
            Action::Top => isize::MIN / 2,
            Action::Bottom => isize::MAX / 2,
            Action::Back if self.detail => {
                self.detail = false;
                return true;
            }
            Action::Back if !self.filter.is_empty() => {
                self.filter.clear();
                self.apply_filter();
                return true;
            }
            Action::Enter => {
                self.detail = !self.detail;
                return true;
            }
            Action::Filter => {
                self.editing = true;
                return true;
            }
            Action::Select => {
                self.toggle_select();
                self.move_by(1, height);
                return true;
            }
            _ => return false,
        };
        self.move_by(step, height);
        true
    }

    /// Moves the cursor by `delta` rows and keeps it inside a window of `height` rows.
    pub fn move_by(&mut self, delta: isize, height: usize) {
        let n = self.visible.len();
        if n == 0 {
            return;
        }
        let pos = (self.cursor as isize + delta).clamp(0, n as isize - 1);
        self.cursor = pos as usize;
        self.scroll_into_view(height);
    }

    pub fn scroll_into_view(&mut self, height: usize) {
        let height = height.max(1);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + height {
            self.offset = self.cursor + 1 - height;
        }
    }

    /// Computes the fingerprints of the rows in the window (the only ones drawn).
    pub fn fill_fingerprints(&mut self, height: usize) {
        let Load::Ready(loaded) = &mut self.load else {
            return;
        };
        for &i in self.visible.iter().skip(self.offset).take(height + 1) {
            if let Some(r) = loaded.rows.get_mut(i) {
                if r.fingerprint.is_none() {
                    r.fingerprint = Some(match &r.kind {
                        RowKind::Entry(e) => e.fingerprint(),
                        RowKind::Malformed { .. } => None,
                    });
                }
            }
        }
    }

    /// The lines `d` would delete: the selection, or else the line under the cursor.
    pub fn targets(&self) -> Vec<usize> {
        if self.selected.is_empty() {
            self.current().map(|r| vec![r.line]).unwrap_or_default()
        } else {
            self.selected.iter().copied().collect()
        }
    }

    pub fn toggle_select(&mut self) {
        if let Some(line) = self.current().map(|r| r.line) {
            if !self.selected.remove(&line) {
                self.selected.insert(line);
            }
        }
    }
}

/// A known_hosts scan in progress or done.
#[derive(Debug, Clone, Default)]
pub struct ScanState {
    pub total: usize,
    pub results: Vec<crate::scan::ScanResult>,
    /// Each marked line's verdict by the line's bytes, to mark the list again after a reload.
    pub marks: std::collections::HashMap<Vec<u8>, ScanMark>,
    pub running: bool,
}

impl ScanState {
    fn count(&self, status: crate::scan::ScanStatus) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }

    /// One line for the status bar: progress, then the verdicts that need action.
    pub fn summary(&self) -> String {
        use crate::scan::ScanStatus as S;
        let head = if self.running {
            format!(
                "Scanning {}/{}",
                self.results.len(),
                crate::words::count(self.total, "host")
            )
        } else {
            format!(
                "Scanned {}",
                crate::words::count(self.results.len(), "host")
            )
        };
        let mut s = format!(
            "{head}: {} key changed, {} unreachable, {} not SSH, {} unchanged",
            self.count(S::Changed),
            self.count(S::Unreachable),
            self.count(S::NotSsh),
            self.count(S::Unchanged)
        );
        if self.count(S::Revoked) > 0 {
            s.push_str(&format!(", {} @revoked", self.count(S::Revoked)));
        }
        if !self.running && self.count(S::Changed) > 0 {
            s.push_str(" (marked KEY CHANGED: Space selects, d deletes)");
        }
        s
    }
}

pub use crate::probe::dns::Resolution;

/// The host names of an entry worth looking up: plain names only. Hashed entries hide their
/// names, wildcards and negations are patterns, and an IP address always "resolves".
fn lookup_names(e: &Entry) -> Vec<String> {
    let Some(hosts) = &e.hosts else {
        return Vec::new();
    };
    hosts
        .iter()
        .filter(|h| !h.contains(['*', '?', '!']))
        .map(|h| {
            // `[name]:port` → `name`.
            match h.strip_prefix('[').and_then(|r| r.split_once(']')) {
                Some((name, _)) => name.to_string(),
                None => h.clone(),
            }
        })
        .filter(|n| !n.is_empty() && n.parse::<std::net::IpAddr>().is_err())
        .collect()
}

/// Every distinct name the `s` check would look up, in file order.
pub fn names_to_check(rows: &[Row]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in rows {
        let RowKind::Entry(e) = &r.kind else { continue };
        if e.marker.is_some() {
            continue;
        }
        for n in lookup_names(e) {
            if seen.insert(n.to_ascii_lowercase()) {
                out.push(n);
            }
        }
    }
    out
}

/// Marks entries whose every looked-up name is known not to exist as stale candidates. A name
/// with no answer (timeout, temporary failure) marks nothing: only a definite "no such name"
/// counts. Returns how many rows were marked. Pure: the answers come from the caller.
pub fn mark_unresolved(rows: &mut [Row], answers: &HashMap<String, Resolution>) -> usize {
    let mut marked = 0;
    for r in rows.iter_mut() {
        let RowKind::Entry(e) = &r.kind else { continue };
        if e.marker.is_some() {
            continue;
        }
        let names = lookup_names(e);
        let gone: Vec<&String> = names
            .iter()
            .filter(|n| answers.get(n.as_str()) == Some(&Resolution::NoSuchName))
            .collect();
        if !names.is_empty() && gone.len() == names.len() {
            let note = format!("host no longer resolves ({})", gone[0]);
            r.stale = Some(match r.stale.take() {
                Some(prev) if !prev.contains("no longer resolves") => format!("{note}; {prev}"),
                _ => note,
            });
            marked += 1;
        }
    }
    marked
}

/// A scan verdict for one known_hosts line, with the line's bytes so it can be put back on the
/// right row after the file was reloaded (lines move when others are deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMark {
    pub line: usize,
    pub raw: Vec<u8>,
    pub mark: ScanMark,
}

/// The verdict of a scan result on each line it speaks for: every unmarked line ssh would
/// consult for the host (plain, hashed or wildcard, found through `kh`). A line whose key the
/// server no longer shows is stale when the host key "changed" (the same key type with another
/// key, or, as ssh 9.2 judges it, no key of a type the server offers); a line holding the
/// presented key is confirmed; a host that did not answer as an SSH server gets a note, never a
/// stale mark. Pure; it reads the lines the scan judged by (`r.lines`), and only a result
/// without them costs a lookup (an HMAC per hashed line), so the dashboard runs it on the scan's
/// thread, never on the UI thread.
pub fn scan_marks(kh: &KnownHosts, r: &ScanResult) -> Vec<LineMark> {
    // The lines the scan judged by (no second lookup), or a lookup when it did not say.
    let lines: Vec<Entry> = match &r.lines {
        Some(ns) => ns.iter().filter_map(|&n| kh.entry_on_line(n)).collect(),
        None => kh.lookup(&r.host, r.port),
    }
    .into_iter()
    .filter(|e| e.marker.is_none())
    .collect();
    let shown_type = r.key_type.as_deref().unwrap_or_default();
    // When known_hosts holds a key of the type the server showed, only lines of that type are
    // judged (the server may still have its other keys); when it holds none, ssh calls every
    // line "changed".
    let has_shown_type = lines.iter().any(|e| e.key_type == shown_type);
    let mut out = Vec::new();
    for e in &lines {
        let mark = match r.status {
            ScanStatus::Changed | ScanStatus::Unchanged | ScanStatus::Revoked => {
                let same_key = e.fingerprint().is_some() && e.fingerprint() == r.fingerprint;
                let shown = format!("{shown_type} {}", r.fingerprint.as_deref().unwrap_or("?"));
                if same_key {
                    Some((
                        false,
                        "scan: key confirmed".to_string(),
                        format!("scan: {} shows this key ({shown})", r.name),
                    ))
                } else if e.key_type == shown_type
                    || (!has_shown_type && r.status == ScanStatus::Changed)
                {
                    Some((
                        true,
                        format!("scan: KEY CHANGED, server shows {shown}"),
                        format!(
                            "scan: KEY CHANGED: {} now shows {shown}, not this line's key. \
                             Stale (server reinstalled or keys rotated) or someone in between: \
                             confirm the new fingerprint with its administrator, then d deletes \
                             this line.",
                            r.name
                        ),
                    ))
                } else {
                    // Another key type than the one the server was asked for: not judged.
                    None
                }
            }
            ScanStatus::Unreachable => {
                let why = r.reason.unwrap_or("unreachable");
                Some((
                    false,
                    format!("scan: no answer ({why})"),
                    format!("scan: no answer from {} ({why}): {}", r.name, r.detail),
                ))
            }
            ScanStatus::NotSsh => Some((
                false,
                "scan: not an SSH server now".to_string(),
                format!("scan: {} is not an SSH server now: {}", r.name, r.detail),
            )),
            ScanStatus::HandshakeFailed => Some((
                false,
                "scan: key exchange failed".to_string(),
                format!("scan: key exchange with {} failed: {}", r.name, r.detail),
            )),
            ScanStatus::Unknown => None,
        }
        .map(|(stale, text, detail)| ScanMark {
            stale,
            text,
            detail,
        });
        if let Some(mark) = mark {
            out.push(LineMark {
                line: e.line,
                raw: kh.bytes().get(e.range.clone()).unwrap_or_default().to_vec(),
                mark,
            });
        }
    }
    out
}

/// Puts marks on their rows (rows are in line order), only where the row still holds the bytes
/// the mark was made for. A line with several names keeps its worst verdict. Returns how many
/// rows became stale.
pub fn apply_scan_marks(rows: &mut [Row], kh: &KnownHosts, marks: &[LineMark]) -> usize {
    let mut stale = 0;
    for m in marks {
        let Ok(i) = rows.binary_search_by_key(&m.line, |r| r.line) else {
            continue;
        };
        let row = &mut rows[i];
        let RowKind::Entry(e) = &row.kind else {
            continue;
        };
        if kh.bytes().get(e.range.clone()) != Some(m.raw.as_slice()) {
            continue;
        }
        stale += usize::from(put_mark(row, &m.mark));
    }
    stale
}

/// Sets `mark` on `row` unless the row already has a worse (stale) verdict; true when the row
/// became stale.
fn put_mark(row: &mut Row, mark: &ScanMark) -> bool {
    let was_stale = row.scan.as_ref().is_some_and(|o| o.stale);
    if mark.stale || !was_stale {
        row.scan = Some(mark.clone());
    }
    mark.stale && !was_stale
}

/// Puts back the marks of an earlier scan on a reloaded file, matching lines by their bytes.
pub fn reapply_scan_marks(rows: &mut [Row], kh: &KnownHosts, marks: &HashMap<Vec<u8>, ScanMark>) {
    if marks.is_empty() {
        return;
    }
    for row in rows.iter_mut() {
        let RowKind::Entry(e) = &row.kind else {
            continue;
        };
        if let Some(m) = kh
            .bytes()
            .get(e.range.clone())
            .and_then(|raw| marks.get(raw))
        {
            put_mark(row, m);
        }
    }
}

/// [`scan_marks`] then [`apply_scan_marks`], for callers that hold both.
pub fn mark_scanned(rows: &mut [Row], kh: &KnownHosts, r: &ScanResult) -> usize {
    apply_scan_marks(rows, kh, &scan_marks(kh, r))
}

/// Looks each name up with `resolve`. The resolver is injected so tests never query DNS.
pub fn check_names(
    names: &[String],
    resolve: &dyn Fn(&str) -> Resolution,
) -> HashMap<String, Resolution> {
    names.iter().map(|n| (n.clone(), resolve(n))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const ED_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA1Q6mM0jrQm1wEjIRfKKNsAxlZhkNq1ijS2iUp6kC4o";

    fn browser(text: &str) -> Browser {
        let mut b = Browser::new(PathBuf::from("kh"), "kh".into());
        b.set_loaded(Load::Ready(Loaded::from_bytes(text.as_bytes().to_vec())));
        b
    }

    #[test]
    fn malformed_lines_are_rows_and_shared_keys_are_flagged() {
        let text = format!(
            "alpha ssh-ed25519 {ED_A}\n# comment\ngarbage\nbeta ssh-ed25519 {ED_A}\ngamma ssh-ed25519 {ED_B}\n"
        );
        let b = browser(&text);
        let lines: Vec<usize> = b.rows().iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 3, 4, 5]);
        assert!(matches!(b.rows()[1].kind, RowKind::Malformed { .. }));
        assert_eq!(b.rows()[2].stale.as_deref(), Some("same key as line 1"));
        assert!(b.rows()[3].stale.is_none());
    }

    #[test]
    fn filter_matches_plain_names_and_hashed_entries() {
        // The hashed line is written by `ssh-keygen -H`, the oracle for hashing.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("kh");
        std::fs::write(&f, format!("alpha.example ssh-ed25519 {ED_A}\n")).unwrap();
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-H", "-f"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(ok.status.success());
        let hashed = std::fs::read_to_string(&f).unwrap();
        assert!(hashed.starts_with("|1|"), "{hashed}");
        let text =
            format!("{hashed}beta.example ssh-ed25519 {ED_B}\nalpha.other ssh-ed25519 {ED_B}\n");
        let mut b = browser(&text);
        b.filter = "alpha".into();
        b.apply_filter();
        let shown: Vec<usize> = b.visible.iter().map(|&i| b.rows()[i].line).collect();
        assert_eq!(shown, [3]);
        b.filter = "Alpha.Example".into();
        b.apply_filter();
        let shown: Vec<usize> = b.visible.iter().map(|&i| b.rows()[i].line).collect();
        assert_eq!(shown, [1]);
    }

    #[test]
    fn a_host_filter_shows_what_ssh_uses_for_that_host_and_marks_text_matches() {
        let text = format!(
            "*.zone4.example.org ssh-ed25519 {ED_A}\n\
             [vault.internal]:2200 ssh-ed25519 {ED_B}\n\
             *.example.com,!neg.example.com ssh-ed25519 {ED_A}\n\
             vault.internal ssh-ed25519 {ED_A}\n"
        );
        let mut b = browser(&text);
        let lines =
            |b: &Browser| -> Vec<usize> { b.visible.iter().map(|&i| b.rows()[i].line).collect() };
        b.filter = "x.zone4.example.org".into();
        b.apply_filter();
        assert_eq!(lines(&b), [1]);
        assert_eq!(b.used_for_filter(1), Some(true));
        // host:port is looked up as ssh writes it, [host]:port.
        b.filter = "vault.internal:2200".into();
        b.apply_filter();
        assert_eq!(lines(&b), [2]);
        assert_eq!(b.host_match.as_ref().unwrap().0, "[vault.internal]:2200");
        // The plain name matches its own line, and as text the [..]:2200 one, marked so.
        b.filter = "vault.internal".into();
        b.apply_filter();
        assert_eq!(lines(&b), [2, 4]);
        assert_eq!(b.used_for_filter(4), Some(true));
        assert_eq!(b.used_for_filter(2), Some(false));
        // A negated pattern is not used for that host: only a text match.
        b.filter = "neg.example.com".into();
        b.apply_filter();
        assert_eq!(lines(&b), [3]);
        assert_eq!(b.used_for_filter(3), Some(false));
        b.filter = "other.example.com".into();
        b.apply_filter();
        assert_eq!(lines(&b), [3]);
        assert_eq!(b.used_for_filter(3), Some(true));
    }

    #[test]
    fn malformed_counts_every_line_ssh_cannot_use_as_check_does() {
        // One malformed line and one key line whose key data does not decode.
        let text = format!("good ssh-ed25519 {ED_A}\nonlyhost\nbad ssh-ed25519 AAAAC3Nz\n");
        let b = browser(&text);
        let Load::Ready(l) = &b.load else {
            panic!("loaded")
        };
        assert_eq!(l.malformed, l.kh.problems().len());
        assert_eq!(l.malformed, 2);
        assert_eq!(l.malformed_rows, 1);
    }

    #[test]
    fn only_names_the_resolver_says_are_gone_become_stale_candidates() {
        let text = format!(
            "gone.example,[gone.example]:2222 ssh-ed25519 {ED_A}\n\
             localhost ssh-ed25519 {ED_B}\n\
             slow.example ssh-ed25519 {ED_B}\n\
             10.0.0.1,*.corp ssh-ed25519 {ED_B}\n\
             half.example,localhost ssh-ed25519 {ED_B}\n"
        );
        let mut b = browser(&text);
        let Load::Ready(loaded) = &mut b.load else {
            panic!("loaded")
        };
        let names = names_to_check(&loaded.rows);
        // IP literals and patterns are never looked up; each name once.
        assert_eq!(
            names,
            ["gone.example", "localhost", "slow.example", "half.example"]
        );
        let asked = std::cell::RefCell::new(Vec::new());
        let answers = check_names(&names, &|n: &str| {
            asked.borrow_mut().push(n.to_string());
            match n {
                "localhost" => Resolution::Resolves,
                "slow.example" => Resolution::Unknown,
                _ => Resolution::NoSuchName,
            }
        });
        assert_eq!(asked.borrow().len(), 4);
        assert_eq!(mark_unresolved(&mut loaded.rows, &answers), 1);
        let notes: Vec<Option<&str>> = loaded.rows.iter().map(|r| r.stale.as_deref()).collect();
        assert_eq!(notes[0], Some("host no longer resolves (gone.example)"));
        // Timeouts, live names and half-live lines are not flagged.
        assert!(notes[1].is_none());
        assert!(notes[2].is_some_and(|n| n.starts_with("same key")));
        assert!(notes[4].is_some_and(|n| !n.contains("resolves")));
    }

    fn scanned(host: &str, status: ScanStatus, key: Option<&str>) -> ScanResult {
        let pk = key.map(|k| {
            russh::keys::ssh_key::PublicKey::from_openssh(&format!("ssh-ed25519 {k}")).unwrap()
        });
        ScanResult {
            host: host.into(),
            port: 22,
            name: host.into(),
            origin: "kh:1".into(),
            status,
            reason: (status == ScanStatus::Unreachable).then_some("refused"),
            detail: "d".into(),
            banner: None,
            key_type: pk.as_ref().map(|_| "ssh-ed25519".to_string()),
            fingerprint: pk.map(|p| {
                p.fingerprint(russh::keys::ssh_key::HashAlg::Sha256)
                    .to_string()
            }),
            known: None,
            ms: 1,
            fix: None,
            lines: None,
        }
    }

    #[test]
    fn a_scan_marks_only_the_lines_of_the_key_type_the_server_showed() {
        const RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7";
        let text = format!(
            "web ssh-ed25519 {ED_A}\nweb ssh-rsa {RSA}\nweb,db ssh-ed25519 {ED_B}\nother ssh-ed25519 {ED_A}\n"
        );
        let mut b = browser(&text);
        let Load::Ready(l) = &mut b.load else {
            panic!()
        };
        assert_eq!(
            l.kh.lookup("web", 22).len(),
            3,
            "the rsa line counts as a key line"
        );
        // The server shows ED_B: line 3 holds it, line 1 is the stale ed25519 key, the rsa
        // line is not judged (the server was not asked for it), `other` is another host.
        let n = mark_scanned(
            &mut l.rows,
            &l.kh,
            &scanned("web", ScanStatus::Unchanged, Some(ED_B)),
        );
        assert_eq!(n, 1);
        let marks: Vec<Option<(bool, String)>> = l
            .rows
            .iter()
            .map(|r| r.scan.as_ref().map(|m| (m.stale, m.text.clone())))
            .collect();
        assert!(marks[0]
            .as_ref()
            .is_some_and(|(st, t)| *st && t.contains("KEY CHANGED")));
        assert_eq!(marks[1], None);
        assert_eq!(marks[2], Some((false, "scan: key confirmed".into())));
        assert_eq!(marks[3], None);
        // `db` on line 3 does not answer: the line keeps its worse verdict only if worse.
        mark_scanned(
            &mut l.rows,
            &l.kh,
            &scanned("db", ScanStatus::Unreachable, None),
        );
        assert_eq!(
            l.rows[2].scan.as_ref().map(|m| m.text.as_str()),
            Some("scan: no answer (refused)")
        );
        mark_scanned(
            &mut l.rows,
            &l.kh,
            &scanned("web", ScanStatus::Changed, Some(ED_A)),
        );
        mark_scanned(
            &mut l.rows,
            &l.kh,
            &scanned("db", ScanStatus::Unreachable, None),
        );
        assert!(
            l.rows[2].scan.as_ref().is_some_and(|m| m.stale),
            "a stale mark is not undone by a later note"
        );
    }
}

//! `known-hosts list`: every entry and problem of a file in one streaming pass over its bytes.
//!
//! Why not the parsed table: for a big file the table costs about half the file again, and a
//! JSON tree of every entry ten times its size. The walk classifies one line at a time with the
//! same reader as [`super::parse()`], so it reports the same entries and problems.

use serde_json::Value;

use super::key_blob::blob_type_in;
use super::parse::{classify_lines, entry_in, reason_in, Entry, Problem};
use super::{Kind, KnownHosts, Line};

/// The entries and problems of a known_hosts file in one pass over its bytes, without a table
/// of every line: what `known-hosts list` streams (the table costs about half the file again).
/// Yields the same entries as [`KnownHosts::entries`]; once it is done, [`Self::problems`] holds
/// what [`KnownHosts::problems`] reports, in line order.
pub struct ListWalk<'a> {
    data: &'a [u8],
    pos: usize,
    index: usize,
    buf: Vec<u8>,
    problems: Vec<Problem>,
}

impl<'a> ListWalk<'a> {
    pub fn new(data: &'a [u8]) -> ListWalk<'a> {
        ListWalk {
            data,
            pos: 0,
            index: 0,
            buf: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// The problems of the lines walked so far.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl Iterator for ListWalk<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        while self.pos < self.data.len() {
            let mut slot = [Line {
                start: 0,
                end: 0,
                text_end: 0,
                next: 0,
                kind: Kind::Comment,
            }];
            let end = memchr::memchr(b'\n', &self.data[self.pos..])
                .map_or(self.data.len(), |i| self.pos + i + 1);
            classify_lines(self.data, self.pos..end, &mut slot);
            let [line] = slot;
            let index = self.index;
            self.pos = line.next.max(end);
            self.index += 1;
            match &line.kind {
                Kind::Comment => {}
                Kind::Malformed(bad) => self.problems.push(Problem {
                    line: index + 1,
                    reason: reason_in(self.data, bad, &line),
                }),
                Kind::Entry(f) => {
                    let data = self.data;
                    let check = blob_type_in(
                        &data[f.key_type.clone()],
                        &data[f.key.clone()],
                        &mut self.buf,
                    );
                    if let Err(why) = check {
                        self.problems.push(Problem {
                            line: index + 1,
                            reason: format!("ssh ignores this line: {why}"),
                        });
                    }
                    return Some(entry_in(data, index, &line, f));
                }
            }
        }
        None
    }
}

/// The machine-readable listing: `{"file","entries":[...],"problems":[...]}`.
pub fn list_json(kh: &KnownHosts, file: &str) -> Value {
    serde_json::to_value(ListJson {
        data: kh.bytes(),
        file,
    })
    .unwrap_or(Value::Null)
}

/// `known-hosts list --json` of a file's bytes, serialized entry by entry while it is written
/// ([`ListWalk`]): built as a [`Value`] first, a 100,000-line file became a JSON tree of ten
/// times its size in memory. Keys come in the order a `json!` object prints them (sorted).
pub struct ListJson<'a> {
    pub data: &'a [u8],
    pub file: &'a str,
}

impl serde::Serialize for ListJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        use std::cell::RefCell;
        /// The entries, walked while they are written; the walk keeps the problems for after.
        struct Entries<'w, 'a>(&'w RefCell<ListWalk<'a>>);
        impl serde::Serialize for Entries<'_, '_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(std::iter::from_fn(|| self.0.borrow_mut().next()).map(EntryJson))
            }
        }
        let walk = RefCell::new(ListWalk::new(self.data));
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("entries", &Entries(&walk))?;
        m.serialize_entry("file", self.file)?;
        m.serialize_entry("problems", walk.borrow().problems())?;
        m.end()
    }
}

/// One entry of [`ListJson`].
struct EntryJson(Entry);

impl serde::Serialize for EntryJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = &self.0;
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("comment", &e.comment)?;
        m.serialize_entry("fingerprint", &e.fingerprint())?;
        m.serialize_entry("hashed", &e.hashed)?;
        m.serialize_entry("hosts", &e.hosts)?;
        m.serialize_entry("key_type", &e.key_type)?;
        m.serialize_entry("line", &e.line)?;
        m.serialize_entry("marker", &e.marker)?;
        m.end()
    }
}

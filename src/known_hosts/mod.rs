//! A lossless reader of `known_hosts` files that matches hosts exactly like OpenSSH.
//!
//! Why hand-written: the `ssh-key` crate's parser splits on single spaces (tabs and double spaces
//! fail), gives up on the whole file at the first bad line, forgets comments and blank lines, and
//! has no host matching at all. A doctor needs the opposite: every byte kept (so a repair can
//! rewrite the file without disturbing anything else), every bad line kept and named with its
//! line number, and matching that agrees with `ssh` and `ssh-keygen -F/-R` to the byte.
//!
//! The rules below follow OpenSSH's `hostfile.c` (`hostkeys_foreach_file`, `check_markers`,
//! `match_maybe_hashed`, `check_hostkeys_by_key_or_type`), `match.c` (`match_hostname`) and
//! `ssh-keygen.c` (`known_hosts_find_delete`). The notable consequences are spelled out where
//! they are implemented.
//!
//! Cost model: [`parse`] splits lines with `memchr` and records byte ranges only (one small record
//! per line, no per-line allocation). HMAC-SHA1 is computed only for hashed lines, and only when a
//! name is being matched. Strings are built only for the entries a caller asks for.
//!
//! The pieces: `parse` reads the lines and builds the [`Entry`] values, `key_blob` knows the key
//! types and checks the key data, `lookup` matches host names (one lookup, or many through
//! [`HostIndex`]) and decides [`HostKeyStatus`], `remove` plans `ssh-keygen -R`, `findings` turns a
//! file into findings and fixes, and `list` streams `known-hosts list`. This file holds the line
//! table they all read.

use std::ops::Range;

mod findings;
mod host_cert;
mod key_blob;
mod list;
mod lookup;
mod parse;
mod remove;

pub use findings::{findings, findings_at};
pub use host_cert::{check_host_certificate, has_cert_authority, HostCertStatus};
pub use list::{list_json, ListJson, ListWalk};
pub use lookup::{
    check_host_key, check_host_key_in, find_in, find_output, find_output_in, host_port_name, Found,
    HostIndex, HostKeyStatus,
};
pub use parse::{parse, Entry, Marker, Problem};
pub use remove::{lines_to_remove, remove_host, Removal};

use parse::Bad;

/// A parsed `known_hosts` file. It owns the original bytes; everything else is ranges into them.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    data: Vec<u8>,
    lines: Vec<Line>,
}

/// One physical line: `start..end` is its text without the `\n`, `text_end` is where OpenSSH stops
/// reading it (at the first NUL byte: it handles lines as C strings), `next` is where the next line
/// starts (after the `\n`, or the end of the file for an unterminated last line).
#[derive(Debug, Clone)]
struct Line {
    start: usize,
    end: usize,
    text_end: usize,
    next: usize,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Blank, whitespace-only or `#` comment.
    Comment,
    Entry(Fields),
    Malformed(Bad),
}

/// Byte ranges (absolute offsets into the file) of the fields of a key line.
#[derive(Debug, Clone)]
struct Fields {
    marker: Option<Marker>,
    hosts: Range<usize>,
    hashed: bool,
    key_type: Range<usize>,
    key: Range<usize>,
    comment: Range<usize>,
}

/// Files smaller than this are parsed on one thread (about 7,000 typical lines).
const PARALLEL_BYTES: usize = 2 * 1024 * 1024;

/// Files with fewer lines are matched on one thread.
const PARALLEL_LINES: usize = 20_000;

/// A key blob for the unit tests of the submodules.
#[cfg(test)]
const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

//! The findings about one known_hosts file and their fixes: unreadable lines, one host with
//! several different keys, `@revoked` keys, and a missing final newline.
//!
//! Pure: the findings are judged from the parsed file alone; the fixes are commands (`sed`,
//! `ssh-keygen -R`, `sshdoctor fix`) shown to the user, never run here.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use super::key_blob::KeyCheck;
use super::parse::{lossy, Marker};
use super::{Kind, KnownHosts};
use crate::finding::{shell_quote, Finding, Fix, FixTarget, Severity};
use crate::fix_id::FixId;

/// How many malformed lines to name one by one before summarizing.
const EVIDENCE_LIMIT: usize = 20;

/// Findings about one known_hosts file named `file`, the path as shown to the user, in the
/// text and in the fixes' targets.
pub fn findings(kh: &KnownHosts, file: &str) -> Vec<Finding> {
    findings_at(kh, Path::new(file), file)
}

/// Findings about the known_hosts file at `path`, shown to the user as `shown` (`~/.ssh/...`);
/// the fixes act on `path`.
///
/// Every key blob is decoded once for the whole file (in parallel on big files) and both the
/// malformed-line and the duplicate checks read that result.
pub fn findings_at(kh: &KnownHosts, path: &Path, shown: &str) -> Vec<Finding> {
    let mut out = shown_findings(kh, shown);
    for fix in out.iter_mut().flat_map(|f| f.fixes.iter_mut()) {
        fix.target = match std::mem::take(&mut fix.target) {
            FixTarget::Path(_) => FixTarget::Path(path.to_path_buf()),
            FixTarget::KnownHostsName { name, .. } => FixTarget::KnownHostsName {
                file: path.to_path_buf(),
                name,
            },
            other => other,
        };
    }
    out
}

fn shown_findings(kh: &KnownHosts, file: &str) -> Vec<Finding> {
    let checks = kh.key_checks();
    let mut out = Vec::new();
    if let Some(f) = malformed_finding(kh, &checks, file) {
        out.push(f);
    }
    out.extend(duplicate_findings(kh, &checks, file));
    out.extend(revoked_findings(kh, file));
    out.extend(final_newline_finding(kh, file));
    out
}

/// `known-hosts-no-final-newline`: measured with OpenSSH 9.2, ssh appends a newly accepted host
/// key right after the file's last byte without adding a newline, so the last entry and the new
/// one run together into one line ssh cannot read.
fn final_newline_finding(kh: &KnownHosts, file: &str) -> Option<Finding> {
    let data = kh.bytes();
    if data.is_empty() || data.ends_with(b"\n") {
        return None;
    }
    Some(
        Finding::new(
            "known-hosts-no-final-newline",
            Severity::Warning,
            format!("{file} does not end with a newline: ssh's next new host key will run into its last line"),
        )
        .explain(
            "When ssh adds a host key (\"Permanently added ... to the list of known hosts\"), it \
             writes it right after the last byte of the file without adding a newline first, so \
             the last entry and the new one become one line that ssh cannot read: both hosts then \
             look unknown. Ending the last line now prevents it.",
        )
        .evidence(format!("{file}:{}: last line has no line end", kh.line_count()))
        .fix(Fix::new(
            FixId::KnownHostsAddFinalNewline,
            "End the last line with the file's own line end",
            format!("sshdoctor fix known-hosts-add-final-newline {}", crate::finding::shell_quote(file)),
        )
        .on_path(file)),
    )
}

fn malformed_finding(kh: &KnownHosts, checks: &[KeyCheck], file: &str) -> Option<Finding> {
    let problems = kh.problems_from(checks);
    if problems.is_empty() {
        return None;
    }
    let title = if problems.len() == 1 {
        format!(
            "{file} has a line ssh cannot read (line {})",
            problems[0].line
        )
    } else {
        format!("{file} has {} lines ssh cannot read", problems.len())
    };
    let mut f = Finding::new("known-hosts-malformed-line", Severity::Warning, title).explain(
        "ssh silently skips lines it cannot parse, so a host key on such a line protects nothing \
         and ssh may ask about (or refuse) a host you thought was known. `ssh-keygen -R` also \
         refuses to edit a file with unreadable lines (\"is not a valid known_hosts file\"), so \
         removing a changed host key fails until these lines are fixed or deleted. Common causes \
         are hand edits, a file copied from Windows (CRLF line ends), a merge gone wrong, or very \
         old RSA1 entries.",
    );
    for p in problems.iter().take(EVIDENCE_LIMIT) {
        f = f.evidence(format!("{file}:{}: {}", p.line, p.reason));
    }
    if problems.len() > EVIDENCE_LIMIT {
        f = f.evidence(format!(
            "... and {} more lines",
            problems.len() - EVIDENCE_LIMIT
        ));
    }
    let crlf = kh
        .lines
        .iter()
        .any(|l| l.end > l.start && kh.data.get(l.end - 1) == Some(&b'\r'));
    if crlf {
        f = f.fix(
            Fix::new(
                FixId::KnownHostsStripCrlf,
                "Convert the file to Unix line ends (a .bak copy is kept)",
                format!("sed -i.bak 's/\\r$//' {}", shell_quote(file)),
            )
            .destructive()
            .on_path(file),
        );
    }
    if problems.len() <= EVIDENCE_LIMIT {
        let script: Vec<String> = problems
            .iter()
            .map(|p| format!("-e '{}d'", p.line))
            .collect();
        f = f.fix(
            Fix::new(
                FixId::KnownHostsDeleteMalformed,
                "Delete the unreadable lines (a .bak copy is kept)",
                format!("sed -i.bak {} {}", script.join(" "), shell_quote(file)),
            )
            .destructive()
            .on_path(file),
        );
    }
    Some(f)
}

fn remove_fix(file: &str, name: &str) -> Fix {
    Fix::new(
        FixId::KnownHostsRemoveHost,
        format!("Remove every key for {name}; ssh will ask to confirm the current one next time"),
        format!(
            "ssh-keygen -f {} -R {}",
            shell_quote(file),
            shell_quote(name)
        ),
    )
    .destructive()
    .on(FixTarget::KnownHostsName {
        file: file.into(),
        name: name.to_string(),
    })
}

/// A host pattern compared and hashed ASCII-case-insensitively, borrowed from the file: the
/// duplicate check keys 100,000s of patterns without copying or lowercasing any of them.
#[derive(Debug, Clone, Copy)]
struct Folded<'a>(&'a [u8]);

impl PartialEq for Folded<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Folded<'_> {}

impl std::hash::Hash for Folded<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.0.len());
        for b in self.0 {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

/// The lines (index, key range) holding one (host pattern, key type), in file order; the first
/// is kept inline so the common case of a pattern seen once allocates nothing.
struct Group {
    first: (usize, Range<usize>),
    more: Vec<(usize, Range<usize>)>,
}

/// Same plain host name, same key type, different keys. Hashed lines are not compared: their
/// names cannot be read back.
fn duplicate_findings(kh: &KnownHosts, checks: &[KeyCheck], file: &str) -> Vec<Finding> {
    // (host pattern, blob type) -> index into `groups`, which keeps first-seen order.
    let mut index: HashMap<(Folded<'_>, &'static str), usize> = HashMap::new();
    let mut groups: Vec<(Folded<'_>, &'static str, Group)> = Vec::new();
    for (i, _, f) in kh.fields() {
        if f.hashed || f.marker.is_some() {
            continue;
        }
        let Some(KeyCheck::Type(ty)) = checks.get(i) else {
            continue;
        };
        for pat in kh.data[f.hosts.clone()].split(|&b| b == b',') {
            if pat.is_empty() || pat.first() == Some(&b'!') {
                continue;
            }
            let member = (i, f.key.clone());
            match index.entry((Folded(pat), ty)) {
                std::collections::hash_map::Entry::Occupied(o) => {
                    if let Some((_, _, g)) = groups.get_mut(*o.get()) {
                        g.more.push(member);
                    }
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(groups.len());
                    groups.push((
                        Folded(pat),
                        ty,
                        Group {
                            first: member,
                            more: Vec::new(),
                        },
                    ));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (pat, ty, group) in groups {
        if group.more.is_empty() {
            continue;
        }
        let first = kh.data[group.first.1.clone()].trim_ascii_end();
        if group
            .more
            .iter()
            .all(|(_, r)| kh.data[r.clone()].trim_ascii_end() == first)
        {
            continue;
        }
        let members: Vec<(usize, Range<usize>)> =
            std::iter::once(group.first).chain(group.more).collect();
        let key = (pat.0.to_ascii_lowercase(), ty);
        let name = lossy(&key.0);
        let ty = key.1;
        let lines: Vec<String> = members.iter().map(|(i, _)| (i + 1).to_string()).collect();
        let mut f = Finding::new(
            "known-hosts-duplicate",
            Severity::Warning,
            format!("{name} has {} different {ty} keys in {file}", members.len()),
        )
        .explain(format!(
            "ssh accepts {name} if the server's key matches any one of these lines, so the stale \
             one never triggers a warning and nobody notices it. That is confusing: `ssh-keygen -F` \
             shows several keys, and if the server's key ever changes, ssh names only one \
             \"Offending key\" line while the others stay. Usually one line is left over from a \
             reinstalled server or a reused address (lines {}). Remove the stale line (or all \
             of them and confirm the current fingerprint on the next login).",
            lines.join(", ")
        ));
        for (i, _) in &members {
            if let Some(Kind::Entry(fl)) = kh.lines.get(*i).map(|l| &l.kind) {
                let e = kh.entry(*i, &kh.lines[*i], fl);
                let fp = e
                    .fingerprint()
                    .unwrap_or_else(|| "fingerprint unavailable".into());
                f = f.evidence(format!("{file}:{}: {} {fp}", i + 1, e.key_type));
            }
        }
        out.push(f.fix(remove_fix(file, &name)));
    }
    out
}

fn revoked_findings(kh: &KnownHosts, file: &str) -> Vec<Finding> {
    kh.fields()
        .filter(|(_, _, f)| f.marker == Some(Marker::Revoked))
        .map(|(i, l, f)| {
            let e = kh.entry(i, l, f);
            let who = match &e.hosts {
                Some(h) => h.join(","),
                None => "a hashed host name".to_string(),
            };
            let fp = e
                .fingerprint()
                .unwrap_or_else(|| "fingerprint unavailable".into());
            Finding::new(
                "known-hosts-revoked",
                Severity::Info,
                format!(
                    "{} {} key is marked @revoked for {who}",
                    crate::words::capitalized(crate::words::a_or_an(&e.key_type)),
                    e.key_type
                ),
            )
            .explain(
                "ssh refuses this key for these hosts even if another line trusts it, and says \
                 \"REVOKED HOST KEY DETECTED\". That is deliberate when a server's key was stolen \
                 or retired; if a login now fails with that message, the server still offers the \
                 revoked key and its administrator must replace it.",
            )
            .evidence(format!("{file}:{}", e.line))
            .evidence(format!("{} {fp}", e.key_type))
        })
        .collect()
}

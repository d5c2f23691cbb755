//! The lossless ssh_config editor: the config files' bytes in, the new bytes and a hand-edit
//! description out. Pure; [`load_set`] at the bottom is its one reader of the disk.
//!
//! Hand-editing ssh_config goes wrong in one way above all: ssh takes the first value it reads
//! for an option, so a line added below `Host *` (or below a `Host *.corp` that sets the same
//! option) does nothing. The editor therefore walks the files as ssh reads them for the target
//! (the host name as typed, which is all `Host` patterns are matched against; `Include`s where
//! they stand, each file's Host state restored after it, as readconf does) and finds the first
//! line that already sets the option for it:
//! - in a block of its own (`Host NAME`, nothing else on the line): that line is edited;
//! - elsewhere (`Host *`, a wildcard, a `Match`, the top of the file): a new `Host NAME` block
//!   goes right above the block holding that line, so ssh reads the new value first; in the
//!   top-of-file part a `Host *` after the new block keeps the lines below it for every host;
//! - nowhere: the first `Host NAME` block gets the line, else a new block goes above the first
//!   block that matches the host with a pattern (typically `Host *`), else at the end.
//!
//! Every byte outside the edit is kept: comments, indentation, `=` or space, quoting, CRLF line
//! ends and a missing final newline. New lines copy the file's own style (its line end, the
//! indentation and separator of its first option line). `Match` blocks are not evaluated here
//! (they may need a command run); they count as matching, which at worst puts a new block
//! higher than needed. Whether the result really does what it should is not taken on trust:
//! [`super::proof`] checks it with `ssh -G` before anything is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::finding::{ConfigSetting, ConfigWant};
use crate::paths::SshPaths;

/// The config files one edit may touch: the main file first (maybe not there yet), then every
/// file its `Include`s name (at any depth, whichever block they stand in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSet {
    pub main: PathBuf,
    /// Whether the main file exists (an edit then creates it).
    pub main_exists: bool,
    /// Every file, main first, with its bytes.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Each `Include` argument as written → the files it names, in ssh's order.
    pub includes: BTreeMap<String, Vec<PathBuf>>,
}

impl ConfigSet {
    /// A set of one file with no includes (tests, and a config that includes nothing).
    pub fn single(main: &Path, bytes: Option<&[u8]>) -> ConfigSet {
        ConfigSet {
            main: main.to_path_buf(),
            main_exists: bytes.is_some(),
            files: vec![(main.to_path_buf(), bytes.unwrap_or_default().to_vec())],
            includes: BTreeMap::new(),
        }
    }

    fn index_of(&self, path: &Path) -> Option<usize> {
        self.files.iter().position(|(p, _)| p == path)
    }

    /// The same set with other bytes for some files.
    pub fn with_files(&self, changed: &[FileEdit]) -> ConfigSet {
        let mut out = self.clone();
        for c in changed {
            if let Some(i) = out.index_of(&c.path) {
                out.files[i].1 = c.after.clone();
            }
        }
        out
    }

    /// Every literal name the `Host` lines mention (no wildcard, no negation), in file order.
    pub fn host_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, bytes) in &self.files {
            for l in split_lines(bytes) {
                let Some(t) = tokens(line_text(bytes, &l)) else {
                    continue;
                };
                if !t.keyword.eq_ignore_ascii_case("host") {
                    continue;
                }
                for a in t.args {
                    if !a.is_empty() && !a.contains(['*', '?', '!']) && !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
        }
        out
    }
}

/// One file the edit changes.
#[derive(Clone, PartialEq, Eq)]
pub struct FileEdit {
    pub path: PathBuf,
    /// False when the edit creates the file.
    pub existed: bool,
    pub before: Vec<u8>,
    pub after: Vec<u8>,
}

/// Sizes only: a stray `{:?}` must not print a whole config.
impl std::fmt::Debug for FileEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FileEdit({}, {} -> {} bytes)",
            self.path.display(),
            self.before.len(),
            self.after.len()
        )
    }
}

/// What the editor worked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEdit {
    /// The changed files (empty: every setting already holds).
    pub files: Vec<FileEdit>,
    /// The same edit in words a person can follow by hand, one step per line.
    pub steps: Vec<String>,
    /// Settings that already hold, and where.
    pub already: Vec<String>,
    /// Where an earlier value was found that the edit had to get ahead of or change.
    pub found: Vec<String>,
}

/// Why no edit could be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{0:?} is not a host name a Host line can name (no spaces, quotes or patterns)")]
    BadHost(String),
}

/// One line of a file: where it starts, where its text ends (before `\r\n` / `\n`), where it
/// ends (after its line end).
#[derive(Debug, Clone, Copy)]
struct RawLine {
    start: usize,
    text_end: usize,
    end: usize,
}

fn split_lines(bytes: &[u8]) -> Vec<RawLine> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i + 1);
        let mut text_end = end;
        if bytes.get(text_end.wrapping_sub(1)) == Some(&b'\n') && text_end > start {
            text_end -= 1;
            if text_end > start && bytes[text_end - 1] == b'\r' {
                text_end -= 1;
            }
        }
        out.push(RawLine {
            start,
            text_end,
            end,
        });
        start = end;
    }
    out
}

fn line_text<'a>(bytes: &'a [u8], l: &RawLine) -> &'a [u8] {
    &bytes[l.start..l.text_end]
}

/// One config line split as readconf splits it, with byte offsets into the line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tokens {
    keyword: String,
    /// Bytes before the keyword (the indentation).
    indent_end: usize,
    keyword_end: usize,
    /// Where the value starts and ends (its last word, quotes included, before a comment or
    /// trailing blanks).
    value_start: usize,
    value_end: usize,
    args: Vec<String>,
}

/// Splits a line like readconf: leading blanks, a keyword ended by a blank or `=`, `Key value`,
/// `Key=value`, `Key = value`, quoted words, a word starting with `#` starts a comment. `None`
/// for blank and comment lines.
fn tokens(line: &[u8]) -> Option<Tokens> {
    let is_blank = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\x0c');
    let mut i = 0;
    while i < line.len() && is_blank(line[i]) {
        i += 1;
    }
    if i >= line.len() || line[i] == b'#' {
        return None;
    }
    let indent_end = i;
    while i < line.len() && !is_blank(line[i]) && line[i] != b'=' {
        i += 1;
    }
    let keyword_end = i;
    let keyword = String::from_utf8_lossy(&line[indent_end..keyword_end]).into_owned();
    while i < line.len() && is_blank(line[i]) {
        i += 1;
    }
    if i < line.len() && line[i] == b'=' {
        i += 1;
        while i < line.len() && is_blank(line[i]) {
            i += 1;
        }
    }
    let value_start = i;
    let mut value_end = i;
    let mut args = Vec::new();
    while i < line.len() {
        if is_blank(line[i]) {
            i += 1;
            continue;
        }
        if line[i] == b'#' {
            break;
        }
        let mut word = Vec::new();
        while i < line.len() && !is_blank(line[i]) {
            match line[i] {
                q @ (b'"' | b'\'') => {
                    i += 1;
                    while i < line.len() && line[i] != q {
                        word.push(line[i]);
                        i += 1;
                    }
                    i = (i + 1).min(line.len());
                }
                b'\\' if i + 1 < line.len() => {
                    word.push(line[i + 1]);
                    i += 2;
                }
                b => {
                    word.push(b);
                    i += 1;
                }
            }
        }
        value_end = i;
        args.push(String::from_utf8_lossy(&word).into_owned());
    }
    Some(Tokens {
        keyword,
        indent_end,
        keyword_end,
        value_start,
        value_end,
        args,
    })
}

/// How a line's block relates to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The top of the main file (or a file included from there): every host.
    Global,
    /// `Host NAME` with the target's name alone.
    Own,
    /// A block that may match other hosts too (`Host *`, `Host a b`, `Match ...`).
    Shared,
}

/// Where a new block goes to be read before a line: the file, the line it goes above, and
/// whether the lines after it are top-of-file lines that need a `Host *` to stay for every host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InsertAt {
    file: usize,
    line: usize,
    reopen: bool,
}

/// A line ssh reads for the target, in reading order.
#[derive(Debug, Clone)]
struct Seen {
    file: usize,
    line: usize,
    keyword: String,
    args: Vec<String>,
    scope: Scope,
    /// The `Host`/`Match` line of its block in the same file, if any.
    header: Option<usize>,
    /// Where a new block must go to be read before this line.
    insert_at: InsertAt,
    /// For a header: whether it opens a block that applies to the target.
    active: bool,
    /// False inside a `Match` block (or a file included from one): ssh may or may not read it
    /// for the target, so it cannot count as already holding a value.
    certain: bool,
}

struct Walk<'a> {
    set: &'a ConfigSet,
    host: Option<&'a str>,
    seen: Vec<Seen>,
    /// The line being walked is in a `Match` block, or in a file read only under one.
    in_match: bool,
    lifted: bool,
}

/// OpenSSH's READCONF_MAX_DEPTH.
const MAX_DEPTH: usize = 16;

impl Walk<'_> {
    /// Walks file `fi`. `via`: where a new block goes to be read before this file's top part
    /// (the Include line's place). `lift`: the file is read only when a `Match` holds, which
    /// this walk cannot tell, so nothing in it is edited and every new block goes above that
    /// `Match` instead.
    fn file(
        &mut self,
        fi: usize,
        active: bool,
        scope: Scope,
        via: Option<InsertAt>,
        lift: Option<InsertAt>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let bytes = &self.set.files[fi].1;
        let mut cur_active = active;
        let mut cur_scope = scope;
        let mut header: Option<usize> = None;
        let mut in_match = false;
        for (i, l) in split_lines(bytes).iter().enumerate() {
            let Some(t) = tokens(line_text(bytes, l)) else {
                continue;
            };
            let kw = t.keyword.to_ascii_lowercase();
            self.in_match = in_match;
            let insert_at = match header {
                Some(h) => InsertAt {
                    file: fi,
                    line: h,
                    reopen: false,
                },
                None => via.unwrap_or(InsertAt {
                    file: fi,
                    line: i,
                    reopen: true,
                }),
            };
            let own_line = lift.unwrap_or(InsertAt {
                file: fi,
                line: i,
                reopen: false,
            });
            let insert_at = lift.unwrap_or(insert_at);
            self.lifted = lift.is_some();
            match kw.as_str() {
                "host" => {
                    header = Some(i);
                    in_match = false;
                    self.in_match = false;
                    (cur_active, cur_scope) = match self.host {
                        None => (true, Scope::Shared),
                        Some(h) => {
                            let own = t.args.len() == 1 && t.args[0] == h && lift.is_none();
                            let m = host_matches(h, &t.args);
                            (m, if own { Scope::Own } else { Scope::Shared })
                        }
                    };
                    self.push(fi, i, kw, t.args, cur_scope, header, own_line, cur_active);
                }
                "match" => {
                    header = Some(i);
                    in_match = true;
                    self.in_match = true;
                    (cur_active, cur_scope) = (true, Scope::Shared);
                    self.push(fi, i, kw, t.args, cur_scope, header, own_line, true);
                }
                "include" if cur_active => {
                    self.push(
                        fi,
                        i,
                        kw,
                        t.args.clone(),
                        cur_scope,
                        header,
                        insert_at,
                        true,
                    );
                    for pattern in &t.args {
                        let targets = self.set.includes.get(pattern).cloned().unwrap_or_default();
                        for p in targets {
                            if let Some(fj) = self.set.index_of(&p) {
                                let lift = lift.or(in_match.then_some(insert_at));
                                self.file(
                                    fj,
                                    cur_active,
                                    cur_scope,
                                    Some(insert_at),
                                    lift,
                                    depth + 1,
                                );
                            }
                        }
                    }
                }
                _ if cur_active => {
                    self.push(fi, i, kw, t.args, cur_scope, header, insert_at, true);
                }
                _ => {}
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        file: usize,
        line: usize,
        keyword: String,
        args: Vec<String>,
        scope: Scope,
        header: Option<usize>,
        insert_at: InsertAt,
        active: bool,
    ) {
        let certain = !self.in_match && !self.lifted;
        self.seen.push(Seen {
            file,
            line,
            keyword,
            args,
            scope,
            header,
            insert_at,
            active,
            certain,
        });
    }
}

/// `Host` patterns against the name as typed: some pattern matches and no negated one does
/// (case matters, as in OpenSSH 9.2).
fn host_matches(host: &str, patterns: &[String]) -> bool {
    let mut hit = false;
    for p in patterns {
        match p.strip_prefix('!') {
            Some(neg) if crate::pattern::matches(host, neg) => return false,
            Some(_) => {}
            None => hit |= crate::pattern::matches(host, p),
        }
    }
    hit
}

fn walk<'a>(set: &'a ConfigSet, host: Option<&'a str>) -> Vec<Seen> {
    let mut w = Walk {
        set,
        host,
        seen: Vec::new(),
        in_match: false,
        lifted: false,
    };
    w.file(0, true, Scope::Global, None, None, 0);
    w.seen
}

/// The style new lines copy from a file (or a block): its line end, indentation and the bytes
/// between keyword and value.
#[derive(Debug, Clone)]
struct Style {
    eol: Vec<u8>,
    indent: Vec<u8>,
    sep: Vec<u8>,
}

fn style_of(bytes: &[u8], from_line: usize) -> Style {
    let lines = split_lines(bytes);
    let eol = lines
        .first()
        .map(|l| bytes[l.text_end..l.end].to_vec())
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| b"\n".to_vec());
    let mut indent: Option<Vec<u8>> = None;
    let mut sep: Option<Vec<u8>> = None;
    // The block's own lines first, then the whole file.
    let order = (from_line..lines.len()).chain(0..from_line.min(lines.len()));
    for i in order {
        let text = line_text(bytes, &lines[i]);
        let Some(t) = tokens(text) else { continue };
        let kw = t.keyword.to_ascii_lowercase();
        if kw == "host" || kw == "match" {
            if i > from_line && indent.is_some() {
                break;
            }
            continue;
        }
        if t.args.is_empty() {
            continue;
        }
        if indent.is_none() && t.indent_end > 0 {
            indent = Some(text[..t.indent_end].to_vec());
        }
        if sep.is_none() {
            sep = Some(text[t.keyword_end..t.value_start].to_vec());
        }
        if indent.is_some() && sep.is_some() {
            break;
        }
    }
    Style {
        eol,
        indent: indent.unwrap_or_else(|| b"    ".to_vec()),
        sep: sep
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| b" ".to_vec()),
    }
}

fn yes_word(v: &str) -> String {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => "yes".into(),
        "no" | "false" => "no".into(),
        other => other.to_string(),
    }
}

/// Whether an option's first value (as `args`) already gives what `want` asks.
fn satisfied(args: &[String], want: &ConfigWant) -> bool {
    let Some(first) = args.first() else {
        return false;
    };
    match want {
        ConfigWant::Set(v) => yes_word(first) == yes_word(v),
        ConfigWant::InList(item) => {
            if first.starts_with('-') {
                return false;
            }
            first
                .trim_start_matches(['+', '^'])
                .split(',')
                .any(|a| a.eq_ignore_ascii_case(item))
        }
        ConfigWant::Add(_) => false,
    }
}

fn same_path(a: &str, b: &str, paths: &SshPaths) -> bool {
    a == b || paths.expand_tilde(a) == paths.expand_tilde(b)
}

fn shown(set: &ConfigSet, paths: &SshPaths, fi: usize) -> String {
    paths.display(&set.files[fi].0)
}

fn line_of(set: &ConfigSet, fi: usize, line: usize) -> String {
    let bytes = &set.files[fi].1;
    split_lines(bytes)
        .get(line)
        .map(|l| {
            String::from_utf8_lossy(line_text(bytes, l))
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// Plans the edit that makes every setting hold for `host` (as typed; `None`: for every host,
/// at the top of the main file). Settings are applied one after the other, each on the result
/// of the one before, so several options for one host end up in one block where they can.
pub fn plan_edit(
    set: &ConfigSet,
    host: Option<&str>,
    settings: &[ConfigSetting],
    paths: &SshPaths,
) -> Result<ConfigEdit, EditError> {
    if let Some(h) = host {
        if h.is_empty()
            || h.starts_with('-')
            || h.contains(['*', '?', '!', ',', '"', '\'', '#', '='])
            || h.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(EditError::BadHost(h.to_string()));
        }
    }
    let mut work = set.clone();
    let mut edit = ConfigEdit {
        files: Vec::new(),
        steps: Vec::new(),
        already: Vec::new(),
        found: Vec::new(),
    };
    for s in settings {
        if s.keyword.is_empty()
            || !s.keyword.bytes().all(|b| b.is_ascii_alphanumeric())
            || s.value_text().contains(['\n', '\r', '\0'])
            || s.value_text().trim_matches('"').contains('"')
        {
            return Err(EditError::Unsupported(format!(
                "{:?} is not an ssh_config line sshdoctor can write",
                s.line()
            )));
        }
        apply_one(&mut work, host, s, paths, &mut edit)?;
    }
    for (i, (path, after)) in work.files.iter().enumerate() {
        let before = &set.files[i].1;
        let created = i == 0 && !set.main_exists && !after.is_empty();
        if after != before || created {
            edit.files.push(FileEdit {
                path: path.clone(),
                existed: i != 0 || set.main_exists,
                before: before.clone(),
                after: after.clone(),
            });
        }
    }
    Ok(edit)
}

fn apply_one(
    work: &mut ConfigSet,
    host: Option<&str>,
    s: &ConfigSetting,
    paths: &SshPaths,
    edit: &mut ConfigEdit,
) -> Result<(), EditError> {
    let kw = s.keyword.to_ascii_lowercase();
    let seen = walk(work, host);
    let alias =
        |k: &str| k == kw || (kw == "pubkeyacceptedalgorithms" && k == "pubkeyacceptedkeytypes");
    let setting: Vec<&Seen> = seen.iter().filter(|x| alias(&x.keyword)).collect();
    let for_whom = match host {
        Some(h) => format!("for {h}"),
        None => "for every host".to_string(),
    };
    let at = |x: &Seen| format!("{}:{}", shown(work, paths, x.file), x.line + 1);
    let block_of = |x: &Seen| match x.header {
        Some(h) => format!("`{}`", line_of(work, x.file, h)),
        None => "the top of the file".to_string(),
    };
    let shadow: Option<&Seen> = match &s.want {
        ConfigWant::Add(v) => {
            if let Some(x) = setting
                .iter()
                .find(|x| x.certain && x.args.first().is_some_and(|a| same_path(a, v, paths)))
            {
                edit.already.push(format!(
                    "{} is already there {for_whom} ({})",
                    s.line(),
                    at(x)
                ));
                return Ok(());
            }
            None
        }
        want => {
            let first = setting.first().copied();
            if let Some(x) = first {
                if x.certain && satisfied(&x.args, want) {
                    edit.already.push(format!(
                        "{} already holds {for_whom}: {} ({})",
                        s.keyword,
                        line_of(work, x.file, x.line),
                        at(x)
                    ));
                    return Ok(());
                }
                edit.found.push(format!(
                    "ssh reads `{}` {for_whom} first, at {} (in {})",
                    line_of(work, x.file, x.line),
                    at(x),
                    block_of(x)
                ));
            }
            first
        }
    };
    // 1. The first value is in a block of the target's own (or, for every host, at the top):
    //    change that line.
    if let Some(x) = shadow {
        // For every host (IgnoreUnknown) only a line that nothing comes before will do: an
        // unknown option above it already stopped ssh.
        let own = match host {
            Some(_) => x.scope == Scope::Own,
            None => x.scope == Scope::Global && seen_index(&seen, x) == 0,
        };
        if own {
            let new_value = match &s.want {
                ConfigWant::Set(v) => quote(v),
                ConfigWant::InList(item) => {
                    let old = x.args.first().cloned().unwrap_or_default();
                    if old.starts_with('-') {
                        return Err(EditError::Unsupported(format!(
                            "{} takes algorithms away from the defaults; add {item} to it by hand",
                            line_of(work, x.file, x.line)
                        )));
                    }
                    let joined = x.args.join(",");
                    quote(&format!("{joined},{item}"))
                }
                ConfigWant::Add(_) => unreachable_add(),
            };
            let old_line = line_of(work, x.file, x.line);
            let bytes = &mut work.files[x.file].1;
            let lines = split_lines(bytes);
            let l = lines[x.line];
            let text = line_text(bytes, &l);
            let t = tokens(text).ok_or_else(|| EditError::Unsupported("lost the line".into()))?;
            let mut out = bytes[..l.start + t.value_start].to_vec();
            out.extend_from_slice(new_value.as_bytes());
            out.extend_from_slice(&bytes[l.start + t.value_end..]);
            *bytes = out;
            let new_line = line_of(work, x.file, x.line);
            edit.steps.push(format!(
                "In {}, change line {} `{old_line}` to `{new_line}`",
                shown(work, paths, x.file),
                x.line + 1
            ));
            return Ok(());
        }
    }
    let Some(host) = host else {
        // Every host: a line at the very top of the main file, read before anything else.
        let style = style_of(&work.files[0].1, 0);
        let mut value = s.value_text();
        if let ConfigWant::InList(item) = &s.want {
            // Lines further down lose to this one: carry their items over.
            let mut items = vec![item.clone()];
            for x in &setting {
                for a in x.args.iter().flat_map(|a| a.split(',')) {
                    if !a.is_empty() && !items.iter().any(|i| i.eq_ignore_ascii_case(a)) {
                        items.push(a.to_string());
                    }
                }
            }
            value = quote(&items.join(","));
        }
        let mut line = s.keyword.as_bytes().to_vec();
        line.extend_from_slice(&style.sep);
        line.extend_from_slice(value.as_bytes());
        let shown_line = String::from_utf8_lossy(&line).into_owned();
        insert_lines(&mut work.files[0].1, 0, &[line], &style, false);
        edit.steps.push(format!(
            "In {}, add `{shown_line}` as the first line",
            shown(work, paths, 0)
        ));
        return Ok(());
    };
    // 2. A `Host NAME` block read before the first value: add the line at its end.
    let before_shadow = |x: &Seen| match shadow {
        Some(sh) => seen_index(&seen, x) < seen_index(&seen, sh),
        None => true,
    };
    if let Some(h) = seen
        .iter()
        .find(|x| x.keyword == "host" && x.scope == Scope::Own && before_shadow(x))
    {
        let fi = h.file;
        let bytes = &work.files[fi].1;
        let lines = split_lines(bytes);
        let end = (h.line + 1..lines.len())
            .find(|&i| {
                tokens(line_text(bytes, &lines[i])).is_some_and(|t| {
                    matches!(t.keyword.to_ascii_lowercase().as_str(), "host" | "match")
                })
            })
            .unwrap_or(lines.len());
        let last = (h.line..end)
            .rev()
            .find(|&i| tokens(line_text(bytes, &lines[i])).is_some())
            .unwrap_or(h.line);
        let style = style_of(bytes, h.line);
        let mut line = style.indent.clone();
        line.extend_from_slice(s.keyword.as_bytes());
        line.extend_from_slice(&style.sep);
        line.extend_from_slice(s.value_text().as_bytes());
        let shown_line = String::from_utf8_lossy(&line).trim().to_string();
        let header = line_of(work, fi, h.line);
        let file_shown = shown(work, paths, fi);
        insert_lines(&mut work.files[fi].1, last + 1, &[line], &style, false);
        edit.steps.push(format!(
            "In {file_shown}, add `{shown_line}` after line {} (in the `{header}` block)",
            last + 1
        ));
        return Ok(());
    }
    // 3. A new `Host NAME` block, read before the first value (or before the first block that
    //    matches the host with a pattern, or at the end).
    let at = match shadow {
        Some(x) => Some(x.insert_at),
        None => seen
            .iter()
            .find(|x| matches!(x.keyword.as_str(), "host" | "match") && x.active)
            .map(|x| x.insert_at),
    };
    let (fi, line, reopen) = match at {
        Some(a) => (a.file, a.line, a.reopen),
        None => (0, split_lines(&work.files[0].1).len(), false),
    };
    let style = style_of(&work.files[fi].1, line);
    let mut block = vec![format!("Host {host}").into_bytes()];
    let mut body = style.indent.clone();
    body.extend_from_slice(s.keyword.as_bytes());
    body.extend_from_slice(&style.sep);
    body.extend_from_slice(s.value_text().as_bytes());
    block.push(body);
    if reopen {
        block.push(b"Host *".to_vec());
    }
    let shown_block: Vec<String> = block
        .iter()
        .map(|l| String::from_utf8_lossy(l).trim().to_string())
        .collect();
    let file_shown = shown(work, paths, fi);
    let total = split_lines(&work.files[fi].1).len();
    let where_ = if line >= total {
        "at the end".to_string()
    } else {
        format!("above line {} (`{}`)", line + 1, line_of(work, fi, line))
    };
    insert_lines(&mut work.files[fi].1, line, &block, &style, !reopen);
    edit.steps.push(format!(
        "In {file_shown}, {where_}, add: {}",
        shown_block.join(" / ")
    ));
    Ok(())
}

fn unreachable_add() -> String {
    // Add never has a first value to change (it returns before); kept total without a panic.
    String::new()
}

fn seen_index(all: &[Seen], x: &Seen) -> usize {
    all.iter()
        .position(|y| y.file == x.file && y.line == x.line && y.keyword == x.keyword)
        .unwrap_or(usize::MAX)
}

fn quote(v: &str) -> String {
    if v.chars().any(char::is_whitespace) {
        format!("\"{v}\"")
    } else {
        v.to_string()
    }
}

/// Inserts whole lines before line `at` (or at the end), in the file's line end. At the end of a
/// file that has no final newline the last line gets one and the inserted text ends without
/// one, so the file keeps its shape. A `block` gets a blank line between it and what follows,
/// and one before it when appended after other text.
fn insert_lines(bytes: &mut Vec<u8>, at: usize, new: &[Vec<u8>], style: &Style, block: bool) {
    let lines = split_lines(bytes);
    let eol = &style.eol;
    if at < lines.len() {
        let pos = lines[at].start;
        let mut text = Vec::new();
        for l in new {
            text.extend_from_slice(l);
            text.extend_from_slice(eol);
        }
        if block {
            text.extend_from_slice(eol);
        }
        bytes.splice(pos..pos, text);
        return;
    }
    let unterminated = !bytes.is_empty() && !bytes.ends_with(b"\n");
    let mut text = Vec::new();
    if unterminated {
        text.extend_from_slice(eol);
    }
    let last_blank = lines
        .last()
        .is_none_or(|l| line_text(bytes, l).iter().all(|b| b.is_ascii_whitespace()));
    if block && !last_blank {
        text.extend_from_slice(eol);
    }
    for (i, l) in new.iter().enumerate() {
        text.extend_from_slice(l);
        if i + 1 < new.len() || !unterminated {
            text.extend_from_slice(eol);
        }
    }
    bytes.extend_from_slice(&text);
}

/// A diff of two versions of a file for people: changed lines with `-`/`+`, two lines of
/// context, `@@ line N` before each hunk. Lines from the file are shown as text (control
/// characters are the renderer's business).
pub fn preview(before: &[u8], after: &[u8]) -> Vec<String> {
    let a: Vec<String> = split_lines(before)
        .iter()
        .map(|l| String::from_utf8_lossy(line_text(before, l)).into_owned())
        .collect();
    let b: Vec<String> = split_lines(after)
        .iter()
        .map(|l| String::from_utf8_lossy(line_text(after, l)).into_owned())
        .collect();
    // Longest common subsequence, on the trimmed middle (config files are small; past a few
    // thousand changed lines the whole middle is shown as replaced).
    let mut pre = 0;
    while pre < a.len() && pre < b.len() && a[pre] == b[pre] {
        pre += 1;
    }
    let mut suf = 0;
    while suf < a.len() - pre && suf < b.len() - pre && a[a.len() - 1 - suf] == b[b.len() - 1 - suf]
    {
        suf += 1;
    }
    let am = &a[pre..a.len() - suf];
    let bm = &b[pre..b.len() - suf];
    // ops: (kind, index in a, index in b): ' ' same, '-' only in a, '+' only in b.
    let mut ops: Vec<(char, usize, usize)> = (0..pre).map(|i| (' ', i, i)).collect();
    if am.len() * bm.len() <= 4_000_000 {
        let (n, m) = (am.len(), bm.len());
        let mut dp = vec![vec![0u32; m + 1]; n + 1];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                dp[i][j] = if am[i] == bm[j] {
                    dp[i + 1][j + 1] + 1
                } else {
                    dp[i + 1][j].max(dp[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                ops.push((' ', pre + i, pre + j));
                i += 1;
                j += 1;
            } else if j < m && (i == n || dp[i][j + 1] >= dp[i + 1][j]) {
                ops.push(('+', pre + i, pre + j));
                j += 1;
            } else {
                ops.push(('-', pre + i, pre + j));
                i += 1;
            }
        }
    } else {
        ops.extend((0..am.len()).map(|i| ('-', pre + i, pre)));
        ops.extend((0..bm.len()).map(|j| ('+', pre + am.len(), pre + j)));
    }
    ops.extend((0..suf).map(|k| (' ', a.len() - suf + k, b.len() - suf + k)));
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.0 != ' ')
        .map(|(i, _)| i)
        .collect();
    let near = |i: usize| changed.iter().any(|&c| c.abs_diff(i) <= 2);
    let mut out = Vec::new();
    let mut last_shown: Option<usize> = None;
    for (i, (kind, ai, bj)) in ops.iter().enumerate() {
        if !near(i) {
            continue;
        }
        if last_shown.is_none_or(|l| l + 1 != i) {
            out.push(format!("@@ line {}", bj + 1));
        }
        last_shown = Some(i);
        out.push(match kind {
            '-' => format!("- {}", a[*ai]),
            '+' => format!("+ {}", b[*bj]),
            _ => format!("  {}", a[*ai]),
        });
    }
    out
}

/// Reads the config set at the edge: the main file (missing is fine: the edit creates it) and
/// every file its `Include`s name, recursively, wherever they stand (a file included only in
/// another host's block is still read, so the proof can check that host too).
pub fn load_set(main: &Path, paths: &SshPaths) -> std::io::Result<ConfigSet> {
    let (main_exists, bytes) = match std::fs::read(main) {
        Ok(b) => (true, b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (false, Vec::new()),
        Err(e) => return Err(e),
    };
    let mut set = ConfigSet {
        main: main.to_path_buf(),
        main_exists,
        files: vec![(main.to_path_buf(), bytes)],
        includes: BTreeMap::new(),
    };
    let mut i = 0;
    while i < set.files.len() && set.files.len() < 256 {
        let bytes = set.files[i].1.clone();
        for l in split_lines(&bytes) {
            let Some(t) = tokens(line_text(&bytes, &l)) else {
                continue;
            };
            if !t.keyword.eq_ignore_ascii_case("include") {
                continue;
            }
            for pattern in t.args {
                let found = super::parse::include_paths(&pattern, paths, true);
                for f in &found {
                    if set.index_of(f).is_none() {
                        if let Ok(b) = std::fs::read(f) {
                            set.files.push((f.clone(), b));
                        }
                    }
                }
                let readable: Vec<PathBuf> = found
                    .into_iter()
                    .filter(|f| set.index_of(f).is_some())
                    .collect();
                set.includes.insert(pattern, readable);
            }
        }
        i += 1;
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> SshPaths {
        SshPaths::with_home(Path::new("/h"))
    }

    fn edit(cfg: &str, host: &str, s: &[ConfigSetting]) -> String {
        let set = ConfigSet::single(Path::new("/h/.ssh/config"), Some(cfg.as_bytes()));
        let e = plan_edit(&set, Some(host), s, &paths()).unwrap();
        match e.files.first() {
            Some(f) => String::from_utf8(f.after.clone()).unwrap(),
            None => cfg.to_string(),
        }
    }

    /// Issue 18: the Mac's keychain lines for every host go above the first Host block, where
    /// ssh reads them first for every host.
    #[test]
    fn the_keychain_lines_for_every_host_go_on_top() {
        let cfg = "Host web\n  User bob\nHost *\n  ServerAliveInterval 30\n";
        let settings = crate::platform::Platform::MacOs
            .keychain_settings()
            .expect("a Mac has them");
        let set = ConfigSet::single(Path::new("/h/.ssh/config"), Some(cfg.as_bytes()));
        let e = plan_edit(&set, None, &settings, &paths()).unwrap();
        let out = String::from_utf8(e.files[0].after.clone()).unwrap();
        let body = out
            .strip_suffix(cfg)
            .unwrap_or_else(|| panic!("the rest is kept: {out:?}"));
        assert!(
            body.contains("UseKeychain yes\n") && body.contains("AddKeysToAgent yes\n"),
            "{out:?}"
        );
        assert!(crate::platform::Platform::Linux
            .keychain_settings()
            .is_none());
    }

    #[test]
    fn a_new_block_goes_above_host_star_that_sets_the_option_first() {
        let cfg = "# mine\nHost *\n  IdentitiesOnly no\n";
        let out = edit(cfg, "web", &[ConfigSetting::set("IdentitiesOnly", "yes")]);
        assert_eq!(
            out,
            "# mine\nHost web\n  IdentitiesOnly yes\n\nHost *\n  IdentitiesOnly no\n"
        );
    }

    #[test]
    fn an_own_block_that_sets_it_is_edited_in_place_keeping_its_style() {
        let cfg = "Host web\r\n\tIdentitiesOnly=no # old\r\nHost *\r\n";
        let out = edit(cfg, "web", &[ConfigSetting::set("IdentitiesOnly", "yes")]);
        assert_eq!(out, "Host web\r\n\tIdentitiesOnly=yes # old\r\nHost *\r\n");
    }

    #[test]
    fn an_own_block_without_the_option_gets_it_and_the_file_keeps_its_missing_newline() {
        let cfg = "Host web\n    HostName 10.0.0.1";
        let out = edit(
            cfg,
            "web",
            &[ConfigSetting::in_list("HostKeyAlgorithms", "ssh-rsa")],
        );
        assert_eq!(
            out,
            "Host web\n    HostName 10.0.0.1\n    HostKeyAlgorithms +ssh-rsa"
        );
    }

    #[test]
    fn top_of_file_values_get_a_block_above_them_and_a_host_star_after() {
        let cfg = "User bob\nIdentitiesOnly no\nPort 22\n";
        let out = edit(cfg, "web", &[ConfigSetting::set("IdentitiesOnly", "yes")]);
        assert_eq!(
            out,
            "User bob\nHost web\n    IdentitiesOnly yes\nHost *\nIdentitiesOnly no\nPort 22\n"
        );
    }

    #[test]
    fn nothing_set_anywhere_appends_a_block_or_goes_above_the_first_pattern() {
        assert_eq!(
            edit("", "web", &[ConfigSetting::set("ForwardAgent", "yes")]),
            "Host web\n    ForwardAgent yes\n"
        );
        assert_eq!(
            edit(
                "Host a\n  User x\n",
                "web",
                &[ConfigSetting::set("ForwardAgent", "yes")]
            ),
            "Host a\n  User x\n\nHost web\n  ForwardAgent yes\n"
        );
        assert_eq!(
            edit(
                "Host a\n  User x\nHost *.corp *\n  User y\n",
                "web",
                &[ConfigSetting::set("ForwardAgent", "yes")]
            ),
            "Host a\n  User x\nHost web\n  ForwardAgent yes\n\nHost *.corp *\n  User y\n"
        );
    }

    #[test]
    fn a_value_that_already_holds_is_left_alone_and_said_so() {
        let set = ConfigSet::single(
            Path::new("/h/.ssh/config"),
            Some(b"Host *\n  IdentitiesOnly yes\n"),
        );
        let e = plan_edit(
            &set,
            Some("web"),
            &[ConfigSetting::set("IdentitiesOnly", "yes")],
            &paths(),
        )
        .unwrap();
        assert!(e.files.is_empty());
        assert!(e.already[0].contains("~/.ssh/config:2"), "{:?}", e.already);
    }

    #[test]
    fn two_settings_land_in_one_block_and_identity_files_add_up() {
        let out = edit(
            "Host web\n  IdentityFile /k/old\n",
            "web",
            &[
                ConfigSetting::set("IdentitiesOnly", "yes"),
                ConfigSetting::add("IdentityFile", "/k/new"),
                ConfigSetting::add("IdentityFile", "/k/old"),
            ],
        );
        assert_eq!(
            out,
            "Host web\n  IdentityFile /k/old\n  IdentitiesOnly yes\n  IdentityFile /k/new\n"
        );
    }

    #[test]
    fn a_shared_block_that_sets_an_algorithm_list_is_not_edited_for_one_host() {
        let out = edit(
            "Host web db\n  HostKeyAlgorithms ssh-ed25519\n",
            "web",
            &[ConfigSetting::in_list("HostKeyAlgorithms", "ssh-rsa")],
        );
        assert_eq!(
            out,
            "Host web\n  HostKeyAlgorithms +ssh-rsa\n\nHost web db\n  HostKeyAlgorithms ssh-ed25519\n"
        );
        let out = edit(
            "Host web\n  HostKeyAlgorithms ssh-ed25519\n",
            "web",
            &[ConfigSetting::in_list("HostKeyAlgorithms", "ssh-rsa")],
        );
        assert_eq!(out, "Host web\n  HostKeyAlgorithms ssh-ed25519,ssh-rsa\n");
    }

    #[test]
    fn every_host_goes_to_the_top_and_keeps_later_items() {
        let set = ConfigSet::single(
            Path::new("/h/.ssh/config"),
            Some(b"Host x\n  IgnoreUnknown Foo\n  UseKeychain yes\n"),
        );
        let e = plan_edit(
            &set,
            None,
            &[ConfigSetting::in_list("IgnoreUnknown", "UseKeychain")],
            &paths(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(e.files[0].after.clone()).unwrap(),
            "IgnoreUnknown UseKeychain,Foo\nHost x\n  IgnoreUnknown Foo\n  UseKeychain yes\n"
        );
    }

    #[test]
    fn every_host_edits_a_first_line_in_place_but_not_one_below_the_unknown_option() {
        let run = |cfg: &str| {
            let set = ConfigSet::single(Path::new("/h/.ssh/config"), Some(cfg.as_bytes()));
            let e = plan_edit(
                &set,
                None,
                &[ConfigSetting::in_list("IgnoreUnknown", "UseKeychain")],
                &paths(),
            )
            .unwrap();
            String::from_utf8(e.files[0].after.clone()).unwrap()
        };
        assert_eq!(
            run("# top\nIgnoreUnknown=Foo\nUseKeychain yes\n"),
            "# top\nIgnoreUnknown=Foo,UseKeychain\nUseKeychain yes\n"
        );
        assert_eq!(
            run("UseKeychain yes\nIgnoreUnknown Foo\n"),
            "IgnoreUnknown UseKeychain,Foo\nUseKeychain yes\nIgnoreUnknown Foo\n"
        );
    }

    #[test]
    fn an_included_file_is_edited_where_its_block_is() {
        let main = Path::new("/h/.ssh/config");
        let inc = Path::new("/h/.ssh/config.d/web");
        let set = ConfigSet {
            main: main.to_path_buf(),
            main_exists: true,
            files: vec![
                (
                    main.to_path_buf(),
                    b"Include config.d/*\nHost *\n  User z\n".to_vec(),
                ),
                (
                    inc.to_path_buf(),
                    b"Host web\n  IdentitiesOnly no\n".to_vec(),
                ),
            ],
            includes: [("config.d/*".to_string(), vec![inc.to_path_buf()])]
                .into_iter()
                .collect(),
        };
        let e = plan_edit(
            &set,
            Some("web"),
            &[ConfigSetting::set("IdentitiesOnly", "yes")],
            &paths(),
        )
        .unwrap();
        assert_eq!(e.files.len(), 1);
        assert_eq!(e.files[0].path, inc);
        assert_eq!(e.files[0].after, b"Host web\n  IdentitiesOnly yes\n");
        // Set in the included file's top part: the new block goes above the Include line.
        let mut set2 = set.clone();
        set2.files[1].1 = b"IdentitiesOnly no\n".to_vec();
        let e = plan_edit(
            &set2,
            Some("web"),
            &[ConfigSetting::set("IdentitiesOnly", "yes")],
            &paths(),
        )
        .unwrap();
        assert_eq!(e.files[0].path, main);
        assert_eq!(
            String::from_utf8(e.files[0].after.clone()).unwrap(),
            "Host web\n  IdentitiesOnly yes\nHost *\nInclude config.d/*\nHost *\n  User z\n"
        );
    }

    #[test]
    fn bad_hosts_and_lines_are_refused() {
        let set = ConfigSet::single(Path::new("/h/.ssh/config"), None);
        for h in ["", "a b", "*", "-oProxy", "a,b"] {
            assert!(plan_edit(&set, Some(h), &[], &paths()).is_err(), "{h}");
        }
        for v in ["a\nProxyCommand x", "a\" b", "x\0"] {
            assert!(
                plan_edit(
                    &set,
                    Some("web"),
                    &[ConfigSetting::set("User", v)],
                    &paths()
                )
                .is_err(),
                "{v:?}"
            );
        }
    }

    #[test]
    fn preview_shows_the_added_lines_with_context() {
        let p = preview(b"a\nb\nc\nd\ne\nf\n", b"a\nb\nc\nX\nd\ne\nf\n");
        assert_eq!(
            p,
            ["@@ line 2", "  b", "  c", "+ X", "  d", "  e"].map(String::from)
        );
    }
}

//! The pure planners: bytes, metadata and keys in, a [`FixPlan`] out. Nothing here reads the
//! disk or the network, so every plan can be tested against what OpenSSH does on the same input.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::{HashAlg, PublicKey};
use sha1::Sha1;

use super::{FixPlan, NewContent, PlannedChange, RemovedLine};
use crate::finding::{mode_string, shell_quote};
use crate::fix_id::FixId;
use crate::keys::{classify, Classified};
use crate::known_hosts::{self, host_port_name, HostKeyStatus, KnownHosts};

/// The lines of a file, each with its `\n` when it has one (a last line without one counts).
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&b| b == b'\n').collect()
}

fn strip_eol(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// A file with lines dropped: the new content (the kept runs of the old bytes), the removed
/// (number, line) pairs, and the removed lines as shown to the user.
type Dropped = (NewContent, Vec<(usize, Vec<u8>)>, Vec<RemovedLine>);

/// Drops the given 1-based line numbers, keeping every other byte exactly: nothing is added, so
/// a CRLF file never gains a lone LF and a file without a final newline keeps it so (unlike
/// `ssh-keygen -R`, which ends every line it writes with `\n`). When the unterminated last line
/// is the one dropped, the line before keeps its own line end: measured with OpenSSH 9.2, ssh
/// appends a new host key right after the last byte without adding a newline, so a file left
/// without one would have its last entry and the next one run together. Only the dropped
/// lines are located (memchr over the line ends); the kept runs between them are copied whole,
/// so a 10^5-line file costs a few copies, not one per line.
fn drop_lines(file: &Path, bytes: &[u8], drop: &[usize]) -> Dropped {
    let mut wanted: Vec<usize> = drop.iter().copied().filter(|&n| n > 0).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    let mut shown = Vec::new();
    let mut ends = memchr::memchr_iter(b'\n', bytes);
    let (mut line_no, mut start, mut kept_from) = (1usize, 0usize, 0usize);
    for n in wanted {
        // Skip to the start of line n.
        while line_no < n {
            match ends.next() {
                Some(end) => start = end + 1,
                None => start = bytes.len(),
            }
            line_no += 1;
        }
        if start >= bytes.len() {
            break;
        }
        let end = ends.next().map_or(bytes.len(), |e| e + 1);
        let line = &bytes[start..end];
        if start > kept_from {
            kept.push(kept_from..start);
        }
        removed.push((n, line.to_vec()));
        shown.push(RemovedLine {
            path: file.to_path_buf(),
            line: n,
            text: String::from_utf8_lossy(strip_eol(line)).into_owned(),
        });
        kept_from = end;
        start = end;
        line_no += 1;
    }
    if kept_from < bytes.len() {
        kept.push(kept_from..bytes.len());
    }
    (NewContent::Kept { ranges: kept }, removed, shown)
}

/// A plan that rewrites `file` to `after`, or an empty plan when nothing changes.
fn replace(
    plan: &mut FixPlan,
    file: &Path,
    before: impl AsRef<[u8]> + Into<Vec<u8>>,
    after: impl Into<NewContent>,
    backup: Option<PathBuf>,
    removed: Vec<(usize, Vec<u8>)>,
) {
    let after = after.into();
    if !after.same_as(before.as_ref()) {
        plan.changes.push(PlannedChange::Replace {
            path: file.to_path_buf(),
            before: before.into(),
            after,
            backup,
            removed_lines: removed,
            secret: false,
        });
    }
}

/// `FILE.old`, where `ssh-keygen -R` keeps the previous content.
pub fn old_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_os_string();
    s.push(".old");
    PathBuf::from(s)
}

/// Removes every unmarked key line matching any of `names` (each taken as `ssh-keygen -R` takes
/// it: `host` or `[host]:port`, hashed lines included), keeping comments, markers, malformed
/// lines, CRLF line ends and order. With one name the result is byte for byte what
/// `ssh-keygen -R NAME` leaves, and `FILE.old` gets the old bytes; unlike ssh-keygen it also
/// works on files with CRLF or unreadable lines.
pub fn remove_host_plan(id: FixId, file: &Path, bytes: Vec<u8>, names: &[String]) -> FixPlan {
    // One walk of the file per name, without a table of every line (known_hosts::find_in).
    let mut drop: Vec<usize> = names
        .iter()
        .flat_map(|name| known_hosts::find_in(&bytes, name, true))
        .map(|f| f.line)
        .collect();
    drop.sort_unstable();
    drop.dedup();
    let (after, removed, shown) = drop_lines(file, &bytes, &drop);
    let q = shell_quote(&file.display().to_string());
    let command = names
        .iter()
        .map(|n| format!("ssh-keygen -f {q} -R {}", shell_quote(n)))
        .collect::<Vec<_>>()
        .join(" && ");
    let title = if removed.is_empty() {
        format!("No key for {} in {}", names.join(", "), file.display())
    } else {
        format!(
            "Remove {} line(s) for {} from {}",
            removed.len(),
            names.join(", "),
            file.display()
        )
    };
    let mut plan = FixPlan::new(id, title, command);
    plan.destructive = true;
    plan.lines_removed = shown;
    replace(&mut plan, file, bytes, after, Some(old_path(file)), removed);
    plan
}

fn is_ip_literal(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// A literal `host` or `[host]:port` pattern (no wildcard, no negation), split into its host.
fn literal_host(pattern: &str) -> Option<&str> {
    if pattern.is_empty() || pattern.contains(['*', '?', '!']) {
        return None;
    }
    match pattern.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").map(|(h, _)| h),
        None => Some(pattern),
    }
}

/// Every name under which the same server may be recorded: `host` (as `[host]:port` for a
/// non-22 port), each of its addresses `ips` (resolved by the caller), and every literal IP
/// entry that holds one of the keys recorded for those names (the `CheckHostIP` entry
/// `ssh-keygen -R name` leaves behind, found even when DNS no longer points there).
/// Returns the names and warnings to show (an address shared with other host names).
pub fn alias_names(
    kh: &KnownHosts,
    host: &str,
    port: u16,
    ips: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let push = |names: &mut Vec<String>, n: String| {
        if !names.contains(&n) {
            names.push(n);
        }
    };
    push(&mut names, host_port_name(host, port));
    for ip in ips {
        push(&mut names, host_port_name(ip, port));
    }
    // The keys currently recorded for these names.
    let mut keys: Vec<PublicKey> = Vec::new();
    for n in names.clone() {
        for e in kh.find(&n) {
            if e.marker.is_none() {
                if let Some(k) = e.public_key() {
                    if !keys.iter().any(|x| x.key_data() == k.key_data()) {
                        keys.push(k);
                    }
                }
            }
        }
    }
    let mut warnings = Vec::new();
    for e in kh.entries() {
        if e.marker.is_some() {
            continue;
        }
        let (Some(hosts), Some(k)) = (&e.hosts, e.public_key()) else {
            continue;
        };
        if !keys.iter().any(|x| x.key_data() == k.key_data()) {
            continue;
        }
        for pat in hosts {
            if let Some(h) = literal_host(pat) {
                if is_ip_literal(h) && !names.iter().any(|n| n.eq_ignore_ascii_case(pat)) {
                    push(&mut names, pat.to_ascii_lowercase());
                }
            }
        }
    }
    for ip in ips {
        let name = host_port_name(ip, port);
        for e in kh.find(&name) {
            if let Some(hosts) = &e.hosts {
                let others: Vec<&String> = hosts
                    .iter()
                    .filter(|h| literal_host(h).is_some_and(|x| !is_ip_literal(x)))
                    .filter(|h| !h.eq_ignore_ascii_case(&host_port_name(host, port)))
                    .collect();
                if !others.is_empty() {
                    warnings.push(format!(
                        "line {} also names {}: removing it untrusts that name too",
                        e.line,
                        others
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    ));
                }
            }
        }
    }
    (names, warnings)
}

/// `|1|salt|hash`: a host name hashed the way `HashKnownHosts yes` stores it (HMAC-SHA1 of the
/// name keyed with a random 20-byte salt).
pub fn hashed_name(name: &str, salt: &[u8; 20]) -> String {
    let digest = match <Hmac<Sha1> as KeyInit>::new_from_slice(salt) {
        Ok(mut mac) => {
            mac.update(name.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; this arm cannot be reached with a 20-byte salt.
        Err(_) => Vec::new(),
    };
    format!("|1|{}|{}", B64.encode(salt), B64.encode(digest))
}

/// `type base64` of a key without its comment, as ssh writes host keys.
pub fn key_text(key: &PublicKey) -> String {
    let bare = PublicKey::new(key.key_data().clone(), "");
    bare.to_openssh().unwrap_or_default().trim_end().to_string()
}

/// The known_hosts line `ssh` appends when it learns a host key: `NAME TYPE BASE64\n` where NAME
/// is the lowercased host (`[host]:port` for a non-22 port), hashed when `salt` is given.
pub fn known_hosts_line(host: &str, port: u16, key: &PublicKey, salt: Option<&[u8; 20]>) -> String {
    let name = host_port_name(&host.to_ascii_lowercase(), port);
    let name = match salt {
        Some(s) => hashed_name(&name, s),
        None => name,
    };
    format!("{name} {}\n", key_text(key))
}

/// Trusts `key` for `host:port` in `file` (`existing` is its content, `None` if it does not
/// exist): appends the line ssh itself would write, after a newline if the file lacks a final
/// one (as ssh does). When the status is `Changed`, the stale lines for this name are removed in
/// the same edit and the plan carries a man-in-the-middle warning.
pub fn trust_host_key_plan(
    file: &Path,
    existing: Option<&[u8]>,
    host: &str,
    port: u16,
    key: &PublicKey,
    salt: Option<&[u8; 20]>,
) -> FixPlan {
    let name = host_port_name(&host.to_ascii_lowercase(), port);
    let fp = key.fingerprint(HashAlg::Sha256).to_string();
    let line = known_hosts_line(host, port, key, salt);
    let q = shell_quote(&file.display().to_string());
    let command = format!(
        "ssh-keyscan {}-t {} {} >> {q}   # after checking the fingerprint {fp}",
        if port == 22 {
            String::new()
        } else {
            format!("-p {port} ")
        },
        key.algorithm().as_str(),
        shell_quote(host),
    );
    let mut plan = FixPlan::new(
        FixId::TrustHostKey,
        format!(
            "Trust {} key {fp} for {name} in {}",
            key.algorithm().as_str(),
            file.display()
        ),
        command,
    );
    let Some(bytes) = existing else {
        plan.changes.push(PlannedChange::Create {
            path: file.to_path_buf(),
            bytes: line.into_bytes(),
            mode: 0o600,
            secret: false,
        });
        return plan;
    };
    let kh = known_hosts::parse(bytes.to_vec());
    let mut base = bytes.to_vec();
    let mut removed = Vec::new();
    match known_hosts::check_host_key(&kh, host, port, key) {
        HostKeyStatus::Match { line } => {
            plan.title = format!(
                "{name} is already trusted with key {fp} ({}:{line})",
                file.display()
            );
            return plan;
        }
        HostKeyStatus::Revoked { line } => {
            plan.warnings.push(format!(
                "this key is marked @revoked for {name} at {}:{line}; ssh will refuse it whatever is added",
                file.display()
            ));
        }
        HostKeyStatus::Changed {
            line,
            old_fingerprint,
            old_key_type,
        } => {
            plan.destructive = true;
            plan.warnings.push(format!(
                "the server's key CHANGED: {}:{line} holds {old_key_type} {old_fingerprint}, the server now shows {fp}. \
                 This is exactly what a man-in-the-middle attack looks like. Trust it only if you know the server was \
                 reinstalled or its key replaced (ask its administrator, compare the fingerprint out of band).",
                file.display()
            ));
            let drop = known_hosts::lines_to_remove(&kh, &name);
            let (after, rem, shown) = drop_lines(file, bytes, &drop);
            base = after.to_vec(bytes);
            removed = rem;
            plan.lines_removed = shown;
            plan.command = format!(
                "ssh-keygen -f {q} -R {} && {}",
                shell_quote(&name),
                plan.command
            );
        }
        HostKeyStatus::Unknown => {}
    }
    if base.last().is_some_and(|&b| b != b'\n') {
        base.push(b'\n');
    }
    base.extend_from_slice(line.as_bytes());
    replace(&mut plan, file, bytes, base, None, removed);
    plan
}

/// A mode change, or an empty plan when the mode is already right.
pub fn chmod_plan(
    id: FixId,
    path: &Path,
    shown: &str,
    before: u32,
    after: u32,
    command: &str,
) -> FixPlan {
    let mut plan = FixPlan::new(
        id,
        format!(
            "chmod {} {shown} (now {})",
            mode_string(after),
            mode_string(before)
        ),
        command,
    );
    if before != after {
        plan.changes.push(PlannedChange::Chmod {
            path: path.to_path_buf(),
            before,
            after,
        });
    } else {
        plan.title = format!("{shown} already has mode {}", mode_string(after));
    }
    plan
}

/// Converts CRLF line ends to LF, exactly as `sed 's/\r$//'` (a CR at the end of each line,
/// the last line too); every other byte stays.
pub fn strip_crlf_plan(file: &Path, bytes: &[u8]) -> FixPlan {
    let mut after = Vec::with_capacity(bytes.len());
    for line in lines(bytes) {
        let (text, eol) = match line.strip_suffix(b"\n") {
            Some(t) => (t, &b"\n"[..]),
            None => (line, &b""[..]),
        };
        after.extend_from_slice(text.strip_suffix(b"\r").unwrap_or(text));
        after.extend_from_slice(eol);
    }
    let q = shell_quote(&file.display().to_string());
    let mut plan = FixPlan::new(
        FixId::KnownHostsStripCrlf,
        format!("Convert {} to Unix line ends", file.display()),
        format!("cp {q} {q}.old && sed -i 's/\\r$//' {q}"),
    );
    plan.destructive = true;
    replace(
        &mut plan,
        file,
        bytes,
        after,
        Some(old_path(file)),
        Vec::new(),
    );
    plan
}

/// The line end a file uses: `\r\n` when its first line ends so, else `\n`.
fn line_end_of(bytes: &[u8]) -> &'static [u8] {
    match memchr::memchr(b'\n', bytes) {
        Some(i) if i > 0 && bytes[i - 1] == b'\r' => b"\r\n",
        _ => b"\n",
    }
}

/// `known-hosts-add-final-newline`: ends the file's last line with the file's own line end, so
/// ssh's next append starts on a line of its own (measured with OpenSSH 9.2: ssh appends a new
/// host key right after the last byte). Every other byte stays.
pub fn add_final_newline_plan(file: &Path, bytes: &[u8]) -> FixPlan {
    let eol = line_end_of(bytes);
    let mut after = bytes.to_vec();
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        after.extend_from_slice(eol);
    }
    let q = shell_quote(&file.display().to_string());
    let printf = if eol == b"\r\n" { "\\r\\n" } else { "\\n" };
    let mut plan = FixPlan::new(
        FixId::KnownHostsAddFinalNewline,
        format!("End the last line of {} with a newline", file.display()),
        format!("printf '{printf}' >> {q}"),
    );
    replace(&mut plan, file, bytes, after, None, Vec::new());
    plan
}

/// Deletes exactly the lines numbered in `lines` (1-based), as the known_hosts browser's `d`
/// does, keeping every other byte; `FILE.old` gets the old bytes as with `ssh-keygen -R`.
pub fn delete_lines_plan(file: &Path, bytes: &[u8], lines_to_drop: &[usize]) -> FixPlan {
    let (after, removed, shown) = drop_lines(file, bytes, lines_to_drop);
    let numbers: Vec<String> = removed.iter().map(|(n, _)| n.to_string()).collect();
    let q = shell_quote(&file.display().to_string());
    let script: Vec<String> = numbers.iter().map(|n| format!("-e '{n}d'")).collect();
    let mut plan = FixPlan::new(
        FixId::KnownHostsDeleteLines,
        format!("Delete line {} of {}", numbers.join(", "), file.display()),
        format!("cp {q} {q}.old && sed -i {} {q}", script.join(" ")),
    );
    plan.destructive = true;
    plan.lines_removed = shown;
    replace(&mut plan, file, bytes, after, Some(old_path(file)), removed);
    plan
}

/// Deletes the lines ssh cannot read (the ones `ssh-keygen -R` refuses the file for), keeping
/// every other byte.
pub fn delete_malformed_plan(file: &Path, bytes: &[u8]) -> FixPlan {
    let kh = known_hosts::parse(bytes.to_vec());
    let drop: Vec<usize> = kh.problems().iter().map(|p| p.line).collect();
    let (after, removed, shown) = drop_lines(file, bytes, &drop);
    let q = shell_quote(&file.display().to_string());
    let script: Vec<String> = drop.iter().map(|n| format!("-e '{n}d'")).collect();
    let mut plan = FixPlan::new(
        FixId::KnownHostsDeleteMalformed,
        format!(
            "Delete {} unreadable line(s) from {}",
            removed.len(),
            file.display()
        ),
        format!("cp {q} {q}.old && sed -i {} {q}", script.join(" ")),
    );
    plan.destructive = true;
    plan.lines_removed = shown;
    replace(&mut plan, file, bytes, after, Some(old_path(file)), removed);
    plan
}

/// The `.pub` line `ssh-keygen -y` prints for a key: `TYPE BASE64 COMMENT\n` (no trailing
/// space without a comment).
pub fn public_line(key: &PublicKey, comment: Option<&str>) -> String {
    match comment.filter(|c| !c.is_empty()) {
        Some(c) => format!("{} {c}\n", key_text(key)),
        None => format!("{}\n", key_text(key)),
    }
}

/// Writes `PRIVATE.pub` from the private key's public half (no passphrase needed: OpenSSH
/// stores the public half in clear). `pub_existing` is the current `.pub`, if any: replaced
/// (destructive, backed up in the journal) when it is another key.
pub fn regenerate_public_plan(
    private: &Path,
    private_bytes: &[u8],
    pub_existing: Option<&[u8]>,
    shown: &str,
) -> Result<FixPlan, String> {
    let (pk, comment) = match classify(private_bytes) {
        Classified::PrivateKey {
            public_key: Some(pk),
            comment,
            ..
        } => (pk, comment),
        Classified::PrivateKey { .. } => {
            return Err(format!(
                "{shown}: the public half cannot be read from this key without decrypting it; run ssh-keygen -y -f {shown}"
            ))
        }
        _ => return Err(format!("{shown} is not a private key")),
    };
    let pub_path = crate::keys::public_path_for(private);
    let line = public_line(&pk, comment.as_deref());
    let q = shell_quote(&private.display().to_string());
    let qp = shell_quote(&pub_path.display().to_string());
    let mut plan = FixPlan::new(
        FixId::RegeneratePublicKey,
        format!(
            "Write {}.pub from the private key ({})",
            shown,
            pk.fingerprint(HashAlg::Sha256)
        ),
        format!("ssh-keygen -y -f {q} > {qp}"),
    );
    match pub_existing {
        None => plan.changes.push(PlannedChange::Create {
            path: pub_path,
            bytes: line.into_bytes(),
            mode: 0o644,
            secret: false,
        }),
        Some(old) => {
            plan.destructive = true;
            replace(
                &mut plan,
                &pub_path,
                old,
                line.into_bytes(),
                None,
                Vec::new(),
            );
        }
    }
    Ok(plan)
}

/// Where [`repair_key_plan`] keeps the old file (the same inode: its bytes and mode): next to
/// the key, under a name ssh never tries and sshdoctor never takes for a key.
pub fn key_backup_path(key: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sshdoctor-old", key.display()))
}

/// `repair-key-file`: rewrites a private key file OpenSSH cannot load because of its layout
/// (CRLF line ends, no final newline, text before BEGIN, stray spaces) in the layout ssh writes,
/// the key itself unchanged: refused unless the repaired file holds the very same key. The old
/// file is kept as [`key_backup_path`] for undo; the journal keeps digests only.
pub fn repair_key_plan(path: &Path, bytes: &[u8], shown: &str) -> Result<FixPlan, String> {
    let Some(damage) = crate::key_armour::check(bytes) else {
        return Err(format!(
            "{shown}: ssh reads this key file as it is; nothing to repair"
        ));
    };
    let fixed = zeroize::Zeroizing::new(
        crate::key_armour::repair(bytes)
            .ok_or_else(|| format!("{shown}: {}; that cannot be repaired", damage.describe()))?,
    );
    let public = |b: &[u8]| match classify(b) {
        Classified::PrivateKey { public_key, .. } => public_key,
        _ => None,
    };
    let before_key = {
        // The damaged layout read as the Rust parser reads it (it is lenient), to compare keys.
        let tolerant = zeroize::Zeroizing::new(
            String::from_utf8_lossy(bytes)
                .replace("\r\n", "\n")
                .into_bytes(),
        );
        public(&tolerant)
    };
    let after_key = public(&fixed)
        .ok_or_else(|| format!("{shown}: the repaired file does not hold a readable key"))?;
    if before_key.as_ref().is_some_and(|k| *k != after_key) {
        return Err(format!(
            "{shown}: the repair would change the key; nothing done"
        ));
    }
    let mut plan = FixPlan::new(
        FixId::RepairKeyFile,
        format!(
            "Rewrite {shown} in the layout ssh reads ({}; key {} unchanged)",
            damage.describe(),
            after_key.fingerprint(HashAlg::Sha256)
        ),
        format!(
            "sshdoctor fix repair-key-file {}",
            shell_quote(&path.display().to_string())
        ),
    );
    plan.changes.push(PlannedChange::Replace {
        path: path.to_path_buf(),
        before: bytes.to_vec(),
        after: NewContent::Bytes(fixed.to_vec()),
        backup: Some(key_backup_path(path)),
        removed_lines: Vec::new(),
        secret: true,
    });
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn drop_lines_equals_dropping_line_by_line() {
        let f = Path::new("/k");
        let files: [&[u8]; 6] = [b"", b"a", b"a\n", b"a\nb", b"a\r\n\nb\nc\n", b"\n\n\nx"];
        let drops: [&[usize]; 6] = [&[], &[1], &[2], &[1, 3], &[3, 1, 3], &[0, 9, 4]];
        for bytes in files {
            for drop in drops {
                let mut want = Vec::new();
                let mut gone = Vec::new();
                for (i, l) in lines(bytes).into_iter().enumerate() {
                    if drop.contains(&(i + 1)) {
                        gone.push((i + 1, l.to_vec()));
                    } else {
                        want.extend_from_slice(l);
                    }
                }
                let (out, removed, _) = drop_lines(f, bytes, drop);
                assert_eq!(
                    (&out.to_vec(bytes), &removed),
                    (&want, &gone),
                    "{bytes:?} {drop:?}"
                );
                assert_eq!(out.same_as(bytes), gone.is_empty(), "{bytes:?} {drop:?}");
            }
        }
    }

    #[test]
    fn drop_lines_keeps_crlf_and_junk_and_the_missing_final_newline() {
        let f = Path::new("/k");
        let input = b"a\r\njunk\nb x\nlast";
        let (out, removed, shown) = drop_lines(f, input, &[3]);
        assert_eq!(out.to_vec(input), b"a\r\njunk\nlast");
        // A CRLF file without a final newline never gains a lone LF.
        let crlf = b"a\r\nb\r\nc";
        assert_eq!(drop_lines(f, crlf, &[2]).0.to_vec(crlf), b"a\r\nc");
        assert_eq!(drop_lines(f, crlf, &[3]).0.to_vec(crlf), b"a\r\nb\r\n");
        assert_eq!(removed, vec![(3, b"b x\n".to_vec())]);
        assert_eq!(shown[0].text, "b x");
    }

    #[test]
    fn all_aliases_finds_the_stale_ip_entry_by_its_key() {
        let text = format!(
            "example.com ssh-ed25519 {ED}\n10.0.0.7 ssh-ed25519 {ED}\nother ssh-ed25519 {ED}\n"
        );
        let kh = known_hosts::parse(text.into_bytes());
        let (names, _) = alias_names(&kh, "example.com", 22, &[]);
        assert_eq!(
            names,
            vec!["example.com".to_string(), "10.0.0.7".to_string()]
        );
        let plan = remove_host_plan(
            FixId::KnownHostsRemoveHost,
            Path::new("/k"),
            kh.bytes().to_vec(),
            &names,
        );
        let lines: Vec<usize> = plan.lines_removed.iter().map(|l| l.line).collect();
        assert_eq!(lines, vec![1, 2]);
    }

    #[test]
    fn strip_crlf_matches_sed() {
        let p = strip_crlf_plan(Path::new("/k"), b"a\r\nb\r\r\nc\rd\r");
        match &p.changes[0] {
            PlannedChange::Replace { before, after, .. } => {
                assert_eq!(after.to_vec(before), b"a\nb\r\nc\rd")
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn hashed_name_matches_what_the_parser_matches() {
        let line = format!("{} ssh-ed25519 {ED}\n", hashed_name("[h]:2222", &[7u8; 20]));
        let kh = known_hosts::parse(line.into_bytes());
        assert_eq!(kh.find("[h]:2222").len(), 1);
        assert!(kh.find("h").is_empty());
    }
}

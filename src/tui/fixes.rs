//! From a finding's fix to the fix module's plans, for every pane's `f`.
//!
//! Two halves, as everywhere in sshdoctor: [`request`] is pure and decides, from the fix id and
//! the finding (its evidence names the file, the host, the fingerprints), what to ask the fix
//! module for; [`prepare`] runs on an effect thread, reads the disk (and, to trust a host key,
//! the server) and returns a [`Proposal`]: the exact plans plus the lines the confirmation shows.
//! Nothing is written here: applying happens only after the user confirms, through
//! [`apply_plans`], which is `fix::apply` with the journal.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::edit::{self, Applied};
use crate::finding::{mode_string, Finding, Fix};
use crate::fix::targets::{self, Resolved};
use crate::fix::{self, plan, FixPlan, PlannedChange};
use crate::paths::SshPaths;

/// How a `chmod` fix changes the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChange {
    Set(u32),
    /// `chmod go-w`: clear the group and other write bits, keep the rest.
    ClearGroupOtherWrite,
}

/// What the fix module is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A file fix id the fix module resolves itself (`fix::targets::resolve`).
    Resolve {
        id: String,
        target: Option<String>,
        known_hosts: PathBuf,
    },
    /// `chmod MODE PATH` for an id the fix module has no resolver for (`chmod-go-w` from the
    /// server side), planned with `fix::plan::chmod_plan`.
    Chmod {
        id: String,
        path: PathBuf,
        change: ModeChange,
        command: String,
    },
    /// Fetch the server's host key, check it is the one the live test saw, and add it to
    /// `file` (replacing the old key when it changed).
    Trust {
        host: String,
        port: u16,
        file: PathBuf,
        /// The fingerprint the live test saw; the fetched key must have it.
        expected: Option<String>,
        /// `(fingerprint, type)` of the key known_hosts holds now, when it changed.
        old: Option<(String, String)>,
    },
    /// sshdoctor does not do this one itself.
    Manual { why: String, command: String },
    /// A fix that asks for a passphrase at a prompt: `sshdoctor ARGS` runs in this terminal
    /// while the dashboard steps aside (`Effect::RunInTerminal`), then the dashboard comes back.
    InTerminal { args: Vec<String>, command: String },
}

/// The plans for one fix and what the confirmation says about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub title: String,
    pub lines: Vec<String>,
    pub plans: Vec<FixPlan>,
    /// A changed host key: `y` is not enough, the user types `yes`.
    pub strong: bool,
}

/// What the live test connected to, for fixes that talk to the server again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTarget {
    pub host: String,
    pub port: u16,
}

/// The value after `prefix` in the first evidence line that has it, up to ` (`.
fn evidence_value<'a>(finding: &'a Finding, prefix: &str) -> Option<&'a str> {
    finding.evidence.iter().find_map(|e| {
        let rest = e.strip_prefix(prefix)?;
        Some(rest.split(" (").next().unwrap_or(rest).trim())
    })
}

/// `(fingerprint, type)` from evidence like `known key: SHA256:... (ssh-ed25519)`.
fn evidence_key(finding: &Finding, prefix: &str) -> Option<(String, String)> {
    finding.evidence.iter().find_map(|e| {
        let rest = e.strip_prefix(prefix)?;
        let (fp, ty) = rest.split_once(" (")?;
        Some((fp.trim().to_string(), ty.trim_end_matches(')').to_string()))
    })
}

/// The file of a `FILE:LINE` evidence line.
fn evidence_file(finding: &Finding) -> Option<PathBuf> {
    finding.evidence.iter().find_map(|e| {
        let (file, line) = e.rsplit_once(':')?;
        (!line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) && file.starts_with('/'))
            .then(|| PathBuf::from(file))
    })
}

const NEEDS_A_PROMPT: &str = "it needs a password typed at a prompt; run it in a shell";

/// Decides what `f` on this fix asks the fix module for. Pure: no disk, no network.
pub fn request(
    finding: &Finding,
    fix: &Fix,
    paths: &SshPaths,
    known_hosts: &Path,
    live: Option<&LiveTarget>,
) -> Request {
    let manual = |why: &str| Request::Manual {
        why: why.to_string(),
        command: fix.command.clone(),
    };
    let in_terminal = |args: Vec<String>| Request::InTerminal {
        command: std::iter::once("sshdoctor".to_string())
            .chain(args.iter().map(|a| crate::finding::shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" "),
        args,
    };
    let words = edit::words(&fix.command);
    let w: Vec<&str> = words
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let resolve = |target: Option<&str>, kh: PathBuf| Request::Resolve {
        id: fix.id.clone(),
        target: target.map(str::to_string),
        known_hosts: kh,
    };
    match fix.id.as_str() {
        "trust-host-key" | "accept-host-key" => {
            let local_finding = matches!(
                finding.id.as_str(),
                "host-key-changed" | "host-key-unknown"
            );
            match live {
                Some(t) if local_finding => Request::Trust {
                    host: t.host.clone(),
                    port: t.port,
                    file: evidence_file(finding).unwrap_or_else(|| known_hosts.to_path_buf()),
                    expected: evidence_value(finding, "server now shows: ")
                        .or_else(|| evidence_value(finding, "server's key: "))
                        .map(str::to_string),
                    old: evidence_key(finding, "known key: "),
                },
                _ => manual("sshdoctor trusts a host key only for the server the live test just talked to; run `sshdoctor fix trust-host-key HOST:PORT` in a shell"),
            }
        }
        "remove-old-host-key" | "remove-host-key" | "known-hosts-remove-host" => match w.as_slice() {
            ["ssh-keygen", "-f", file, "-R", name] | ["ssh-keygen", "-R", name, "-f", file] => {
                resolve(Some(name), paths.expand_tilde(file))
            }
            ["ssh-keygen", "-R", name] => resolve(Some(name), known_hosts.to_path_buf()),
            _ => manual("sshdoctor could not read which host and file this command names"),
        },
        "chmod-private-key" | "chmod-ssh-dir" | "chmod-authorized-keys" | "chmod-config"
        | "chmod-home-dir" | "chmod-600" | "chmod-700" => match w.as_slice() {
            ["chmod", _, path] => resolve(Some(path), known_hosts.to_path_buf()),
            _ if fix.id.starts_with("chmod-6") || fix.id.starts_with("chmod-7") => {
                manual("sshdoctor could not read which file this command names")
            }
            _ => resolve(None, known_hosts.to_path_buf()),
        },
        "regenerate-public-key" => {
            let key = fix
                .command
                .split_once(" > ")
                .and_then(|(left, _)| edit::words(left))
                .and_then(|w| match w.as_slice() {
                    [a, b, c, key] if a == "ssh-keygen" && b == "-y" && c == "-f" => {
                        Some(key.clone())
                    }
                    _ => None,
                });
            resolve(key.as_deref(), known_hosts.to_path_buf())
        }
        "known-hosts-strip-crlf" | "known-hosts-delete-malformed" | "known-hosts-add-final-newline" => {
            let file = w.last().map(|f| paths.expand_tilde(f));
            match file {
                Some(f) if w.first() == Some(&"sed") => Request::Resolve {
                    id: fix.id.clone(),
                    target: Some(f.display().to_string()),
                    known_hosts: known_hosts.to_path_buf(),
                },
                _ => resolve(None, known_hosts.to_path_buf()),
            }
        }
        // `sshdoctor fix ...` asks for the passphrase itself: run it here, in this terminal.
        "generate-key" | "add-keys" => in_terminal(vec!["fix".into(), fix.id.clone()]),
        "generate-missing-identity" => {
            // `ssh-keygen -t ed25519 -f PATH`: the key goes where the config expects it.
            let path = w
                .iter()
                .position(|x| *x == "-f")
                .and_then(|i| w.get(i + 1))
                .map(|p| paths.expand_tilde(p));
            match path {
                Some(p) => in_terminal(vec![
                    "fix".into(),
                    fix.id.clone(),
                    p.display().to_string(),
                ]),
                None => manual(NEEDS_A_PROMPT),
            }
        }
        "add-key" | "ssh-add" => match w.as_slice() {
            ["ssh-add", key] => in_terminal(vec![
                "fix".into(),
                "add-key".into(),
                paths.expand_tilde(key).display().to_string(),
            ]),
            _ => in_terminal(vec!["fix".into(), "add-keys".into()]),
        },
        "copy-id" => manual(NEEDS_A_PROMPT),
        "repair-key-file" => match w.as_slice() {
            ["sshdoctor", "fix", "repair-key-file", key] => Request::Resolve {
                id: fix.id.clone(),
                target: Some(paths.expand_tilde(key).display().to_string()),
                known_hosts: known_hosts.to_path_buf(),
            },
            _ => resolve(None, known_hosts.to_path_buf()),
        },
        id if id.starts_with("sshd-config") => manual(
            "a change to sshd's configuration needs root and a reload of sshd; sshdoctor shows the edit but never changes /etc/ssh itself",
        ),
        _ => match w.as_slice() {
            ["chmod", how, path] => {
                let change = if *how == "go-w" {
                    Some(ModeChange::ClearGroupOtherWrite)
                } else {
                    u32::from_str_radix(how, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .map(ModeChange::Set)
                };
                match change {
                    Some(change) => Request::Chmod {
                        id: fix.id.clone(),
                        path: paths.expand_tilde(path),
                        change,
                        command: fix.command.clone(),
                    },
                    None => manual("sshdoctor does not run this chmod itself"),
                }
            }
            _ => match targets::resolve(&fix.id, None, known_hosts, paths) {
                Ok(Resolved::Manual { why, .. }) => manual(&why),
                _ => manual("sshdoctor shows this command but does not run it itself"),
            },
        },
    }
}

/// One change as the confirmation shows it: which file, and exactly what happens to it.
pub fn describe_change(change: &PlannedChange, paths: &SshPaths) -> String {
    match change {
        PlannedChange::Chmod {
            path,
            before,
            after,
        } => format!(
            "{}: mode {} → {}",
            paths.display(path),
            mode_string(*before),
            mode_string(*after)
        ),
        PlannedChange::Create { path, mode, .. } => format!(
            "{}: file created, mode {}",
            paths.display(path),
            mode_string(*mode)
        ),
        PlannedChange::Replace {
            path,
            before,
            after,
            backup,
            removed_lines,
            ..
        } => {
            let count = |b: &[u8]| b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count();
            let kept = count(before).saturating_sub(removed_lines.len());
            // Pieces end at line ends, so their lines add up.
            let after_lines: usize = after.pieces(before).into_iter().map(count).sum();
            let added = after_lines.saturating_sub(kept);
            let mut s = format!(
                "{}: {} line(s) removed, {} added",
                paths.display(path),
                removed_lines.len(),
                added
            );
            if let Some(b) = backup {
                s.push_str(&format!("; previous file kept in {}", paths.display(b)));
            }
            s
        }
    }
}

/// The confirmation's lines for a set of plans: warnings first, then every change, every line
/// that goes, and the equivalent command.
pub fn plan_lines(plans: &[FixPlan], paths: &SshPaths) -> Vec<String> {
    let mut lines = Vec::new();
    for p in plans {
        for w in &p.warnings {
            lines.push(format!("WARNING: {w}"));
        }
        for c in &p.changes {
            lines.push(format!("• {}", describe_change(c, paths)));
        }
        for l in &p.lines_removed {
            lines.push(format!("    - line {}: {}", l.line, l.text));
        }
        lines.push(format!("$ {}", p.command));
    }
    lines
}

/// What trusting a host key is computed from (all read before, so this is pure).
pub struct TrustInput<'a> {
    pub host: &'a str,
    pub port: u16,
    pub key: &'a russh::keys::ssh_key::PublicKey,
    pub file: &'a Path,
    pub existing: Option<&'a [u8]>,
    /// `(fingerprint, type)` of the key known_hosts held, as the live test reported it.
    pub old: Option<&'a (String, String)>,
    pub salt: Option<&'a [u8; 20]>,
}

/// The confirmation for trusting a host key: the server's fingerprint first, the old one when
/// it changed (with the plan's man-in-the-middle warning), then exactly what is written. A
/// changed key needs the strong confirmation.
pub fn trust_proposal(t: &TrustInput, paths: &SshPaths) -> Proposal {
    let p = plan::trust_host_key_plan(t.file, t.existing, t.host, t.port, t.key, t.salt);
    let fp = t
        .key
        .fingerprint(russh::keys::ssh_key::HashAlg::Sha256)
        .to_string();
    let mut lines = vec![format!(
        "The server {} port {} shows: {} {fp}",
        t.host,
        t.port,
        t.key.algorithm().as_str()
    )];
    if let Some((old_fp, old_type)) = t.old {
        lines.push(format!("known_hosts holds: {old_type} {old_fp}"));
    }
    let strong = p.destructive;
    let title = p.title.clone();
    let plans: Vec<FixPlan> = std::iter::once(p).filter(|p| !p.is_empty()).collect();
    if plans.is_empty() {
        lines.push(format!("Nothing to do: {title}."));
    }
    lines.extend(plan_lines(&plans, paths));
    Proposal {
        title,
        lines,
        plans,
        strong,
    }
}

/// Computes the plans for a request against the disk now (and the server, to trust a key).
/// Runs on an effect thread; writes nothing.
pub fn prepare(req: &Request, paths: &SshPaths) -> anyhow::Result<Proposal> {
    let (plans, mut lines, strong) = match req {
        Request::Manual { .. } => anyhow::bail!("sshdoctor does not apply this fix itself"),
        Request::InTerminal { command, .. } => {
            anyhow::bail!("this fix runs in the terminal: {command}")
        }
        Request::Resolve {
            id,
            target,
            known_hosts,
        } => match targets::resolve(id, target.as_deref(), known_hosts, paths)? {
            Resolved::Plans(plans) => (plans, Vec::new(), false),
            Resolved::Manual { why, command } => {
                anyhow::bail!("sshdoctor does not apply this fix itself: {why}; run: {command}")
            }
        },
        Request::Chmod {
            id,
            path,
            change,
            command,
        } => {
            let before = std::fs::metadata(path)
                .with_context(|| format!("cannot stat {}", paths.display(path)))?
                .permissions()
                .mode()
                & 0o7777;
            let after = match change {
                ModeChange::Set(m) => *m,
                ModeChange::ClearGroupOtherWrite => before & !0o022,
            };
            let p = plan::chmod_plan(id, path, &paths.display(path), before, after, command);
            (vec![p], Vec::new(), false)
        }
        Request::Trust {
            host,
            port,
            file,
            expected,
            old,
        } => {
            let key = fix::remote::fetch_host_key(host, *port)?;
            let fp = key
                .fingerprint(russh::keys::ssh_key::HashAlg::Sha256)
                .to_string();
            if let Some(e) = expected {
                if *e != fp {
                    anyhow::bail!("{host} port {port} now shows {fp}, not {e} as in the live test; nothing was changed (press r to test again)");
                }
            }
            let existing = match std::fs::read(file) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).context(format!("cannot read {}", paths.display(file))),
            };
            let salt = crate::fix::targets::hash_known_hosts(host, *port, paths).then(|| {
                let mut s = [0u8; 20];
                rand::Rng::fill_bytes(&mut rand::rng(), &mut s);
                s
            });
            let input = TrustInput {
                host,
                port: *port,
                key: &key,
                file,
                existing: existing.as_deref(),
                old: old.as_ref(),
                salt: salt.as_ref(),
            };
            let proposal = trust_proposal(&input, paths);
            if proposal.plans.is_empty() {
                anyhow::bail!("nothing to do: {}", proposal.title);
            }
            return Ok(proposal);
        }
    };
    let todo: Vec<FixPlan> = plans.into_iter().filter(|p| !p.is_empty()).collect();
    if todo.is_empty() {
        anyhow::bail!("nothing to do: the files are already as the fix would leave them");
    }
    lines.extend(plan_lines(&todo, paths));
    let title = match todo.as_slice() {
        [one] => one.title.clone(),
        many => format!("{} changes", many.len()),
    };
    Ok(Proposal {
        title,
        lines,
        plans: todo,
        strong,
    })
}

/// Applies confirmed plans through the fix module, one journal group each, and says what
/// changed. Stops at the first refusal (a file changed since it was shown).
pub fn apply_plans(plans: &[FixPlan], journal: &Path, paths: &SshPaths) -> anyhow::Result<Applied> {
    let mut seqs = Vec::new();
    let mut done = Vec::new();
    let mut path = PathBuf::new();
    for p in plans {
        let applied = fix::apply(p, journal).map_err(|e| match e {
            fix::FixError::Changed { path } => anyhow::anyhow!(
                "{} changed since it was shown; nothing was written (the view is reloaded)",
                paths.display(&path)
            ),
            other => other.into(),
        })?;
        if let Some(first) = p.changes.first() {
            path = first.path().to_path_buf();
        }
        seqs.extend(applied.journal_group);
        done.extend(p.changes.iter().map(|c| describe_change(c, paths)));
    }
    Ok(Applied {
        seqs,
        path,
        summary: format!("Done: {} (u undoes)", done.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;

    fn paths() -> SshPaths {
        SshPaths::with_home(Path::new("/h"))
    }

    fn kh() -> PathBuf {
        PathBuf::from("/h/.ssh/known_hosts")
    }

    #[test]
    fn fix_ids_map_to_the_fix_module_with_the_finding_s_file_or_host() {
        let f = Finding::new("private-key-permissions", Severity::Error, "t");
        let fix = Fix::new("chmod-private-key", "t", "chmod 600 ~/.ssh/id_rsa");
        assert_eq!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Resolve {
                id: "chmod-private-key".into(),
                target: Some("~/.ssh/id_rsa".into()),
                known_hosts: kh()
            }
        );
        let fix = Fix::new(
            "remove-old-host-key",
            "t",
            "ssh-keygen -f /x/kh -R '[127.0.0.1]:2222'",
        );
        assert_eq!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Resolve {
                id: "remove-old-host-key".into(),
                target: Some("[127.0.0.1]:2222".into()),
                known_hosts: PathBuf::from("/x/kh")
            }
        );
        let fix = Fix::new(
            "regenerate-public-key",
            "t",
            "ssh-keygen -y -f ~/.ssh/id_rsa > ~/.ssh/id_rsa.pub",
        );
        assert!(matches!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Resolve { target: Some(t), .. } if t == "~/.ssh/id_rsa"
        ));
        let fix = Fix::new("chmod-go-w", "t", "chmod go-w /home/bob/.ssh");
        assert!(matches!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Chmod { change: ModeChange::ClearGroupOtherWrite, path, .. } if path == Path::new("/home/bob/.ssh")
        ));
        // Fixes that ask for a passphrase run `sshdoctor fix` in the terminal.
        let fix = Fix::new("generate-key", "t", "ssh-keygen -t ed25519");
        assert!(matches!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::InTerminal { args, .. } if args == ["fix", "generate-key"]
        ));
        let fix = Fix::new(
            "generate-missing-identity",
            "t",
            "ssh-keygen -t ed25519 -f ~/.ssh/work",
        );
        assert!(matches!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::InTerminal { args, .. } if args == ["fix", "generate-missing-identity", "/h/.ssh/work"]
        ));
        for (id, cmd) in [
            ("sshd-config-set", "sudoedit /etc/ssh/sshd_config"),
            ("start-agent", "eval \"$(ssh-agent -s)\""),
        ] {
            let fix = Fix::new(id, "t", cmd);
            assert!(matches!(
                request(&f, &fix, &paths(), &kh(), None),
                Request::Manual { command, .. } if command == cmd
            ));
        }
    }

    #[test]
    fn trusting_a_changed_key_carries_both_fingerprints_and_the_evidence_file() {
        let f = Finding::new("host-key-changed", Severity::Error, "t")
            .evidence("/h/.ssh/kh2:3")
            .evidence("known key: SHA256:old (ssh-rsa)")
            .evidence("server now shows: SHA256:new (ssh-ed25519)");
        let fix = Fix::new("trust-host-key", "t", "sshdoctor fix trust-host-key x");
        let live = LiveTarget {
            host: "127.0.0.1".into(),
            port: 2222,
        };
        assert_eq!(
            request(&f, &fix, &paths(), &kh(), Some(&live)),
            Request::Trust {
                host: "127.0.0.1".into(),
                port: 2222,
                file: PathBuf::from("/h/.ssh/kh2"),
                expected: Some("SHA256:new".into()),
                old: Some(("SHA256:old".into(), "ssh-rsa".into())),
            }
        );
        // Without the live test's server, nothing is fetched.
        assert!(matches!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Manual { .. }
        ));
    }

    #[test]
    fn a_chmod_proposal_says_mode_before_and_after_and_applying_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = SshPaths::with_home(dir.path());
        let key = dir.path().join("k");
        std::fs::write(&key, b"x").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o664)).unwrap();
        let req = Request::Chmod {
            id: "chmod-go-w".into(),
            path: key.clone(),
            change: ModeChange::ClearGroupOtherWrite,
            command: "chmod go-w k".into(),
        };
        let prop = prepare(&req, &p).unwrap();
        assert!(
            prop.lines.iter().any(|l| l.contains("mode 0664 → 0644")),
            "{:?}",
            prop.lines
        );
        let applied = apply_plans(&prop.plans, &dir.path().join("j"), &p).unwrap();
        assert_eq!(applied.seqs.len(), 1);
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);
        // Planned again, there is nothing left to do.
        assert!(prepare(&req, &p).is_err());
    }
}

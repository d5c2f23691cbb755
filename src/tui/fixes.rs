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

use super::edit::Applied;
use crate::finding::{mode_string, Finding, Fix, FixTarget, ModeChange};
use crate::fix::targets::{self, Resolved};
use crate::fix::{self, plan, FixPlan, PlannedChange};
use crate::fix_id::FixId;
use crate::paths::SshPaths;

/// What the fix module is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A file fix id the fix module resolves itself (`fix::targets::resolve`).
    Resolve {
        id: FixId,
        target: Option<String>,
        known_hosts: PathBuf,
    },
    /// `chmod MODE PATH` for an id the fix module has no resolver for (`chmod-go-w` from the
    /// server side), planned with `fix::plan::chmod_plan`.
    Chmod {
        id: FixId,
        path: PathBuf,
        change: ModeChange,
        command: String,
    },
    /// Fetch the server's host key, check it is the one the live test saw, and add it to
    /// `file` (replacing the old key when it changed).
    Trust {
        host: String,
        port: u16,
        /// The name known_hosts files it under (the probe's: HostKeyAlias aware).
        name: String,
        file: PathBuf,
        /// The fingerprint the live test saw; the fetched key must have it.
        expected: Option<String>,
        /// `(fingerprint, type)` of the key known_hosts holds now, when it changed.
        old: Option<(String, String)>,
    },
    /// A line in ~/.ssh/config for one host (or every host), placed and proved by the fix
    /// module exactly as `sshdoctor fix` does.
    Config {
        id: FixId,
        host: Option<String>,
        settings: Vec<crate::finding::ConfigSetting>,
    },
    /// sshdoctor does not do this one itself.
    Manual { why: String, command: String },
    /// `try-password`: the dashboard asks for the password in its masked prompt and runs the
    /// live test again with it, once (nothing is planned or written).
    TryPassword,
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

const NEEDS_A_PROMPT: &str = "it needs a password typed at a prompt; run it in a shell";

/// Decides what `f` on this fix asks the fix module for, from the fix's id and its typed
/// [`FixTarget`] (never from its display command or the evidence text). Pure: no disk, no
/// network.
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
    let resolve = |target: Option<&Path>, kh: &Path| Request::Resolve {
        id: fix.id,
        target: target.map(|p| p.display().to_string()),
        known_hosts: kh.to_path_buf(),
    };
    let path = match &fix.target {
        FixTarget::Path(p) => Some(p.as_path()),
        _ => None,
    };
    match fix.id {
        FixId::TrustHostKey | FixId::AcceptHostKey => {
            let local_finding = matches!(
                finding.id.as_str(),
                "host-key-changed" | "host-key-unknown"
            );
            match (live, &fix.target) {
                (
                    Some(t),
                    FixTarget::HostKey {
                        name,
                        file,
                        seen,
                        known,
                        ..
                    },
                ) if local_finding => {
                    Request::Trust {
                        host: t.host.clone(),
                        port: t.port,
                        name: name.clone(),
                        file: file.clone().unwrap_or_else(|| known_hosts.to_path_buf()),
                        expected: seen.clone(),
                        old: known.clone(),
                    }
                }
                _ => manual("sshdoctor trusts a host key only for the server the live test just talked to; run `sshdoctor fix trust-host-key HOST:PORT` in a shell"),
            }
        }
        FixId::RemoveOldHostKey | FixId::RemoveHostKey | FixId::KnownHostsRemoveHost => {
            match &fix.target {
                FixTarget::KnownHostsName { file, name }
                | FixTarget::HostKey {
                    name,
                    file: Some(file),
                    ..
                } => Request::Resolve {
                    id: fix.id,
                    target: Some(name.clone()),
                    known_hosts: file.clone(),
                },
                FixTarget::HostKey { name, file: None, .. } => Request::Resolve {
                    id: fix.id,
                    target: Some(name.clone()),
                    known_hosts: known_hosts.to_path_buf(),
                },
                _ => manual("sshdoctor could not tell which host and file this fix is for"),
            }
        }
        FixId::Chmod600 | FixId::Chmod700 | FixId::ChmodGoW => match &fix.target {
            FixTarget::Mode { path, change } => Request::Chmod {
                id: fix.id,
                path: path.clone(),
                change: *change,
                command: fix.command.clone(),
            },
            FixTarget::Path(p) if fix.id != FixId::ChmodGoW => resolve(Some(p), known_hosts),
            _ => manual("sshdoctor could not tell which file this fix is for"),
        },
        FixId::ChmodPrivateKey
        | FixId::ChmodSshDir
        | FixId::ChmodAuthorizedKeys
        | FixId::ChmodConfig
        | FixId::ChmodHomeDir
        | FixId::RegeneratePublicKey
        | FixId::RepairKeyFile
        | FixId::KnownHostsStripCrlf
        | FixId::KnownHostsDeleteMalformed
        | FixId::KnownHostsAddFinalNewline => resolve(path, known_hosts),
        // `sshdoctor fix ...` asks for the passphrase itself: run it here, in this terminal.
        FixId::GenerateKey | FixId::AddKeys => in_terminal(vec!["fix".into(), fix.id.to_string()]),
        FixId::GenerateMissingIdentity => match path {
            Some(p) => in_terminal(vec![
                "fix".into(),
                fix.id.to_string(),
                p.display().to_string(),
            ]),
            None => manual(NEEDS_A_PROMPT),
        },
        FixId::AddKey | FixId::SshAdd => match path {
            Some(key) => in_terminal(vec![
                "fix".into(),
                FixId::AddKey.to_string(),
                key.display().to_string(),
            ]),
            None => in_terminal(vec!["fix".into(), FixId::AddKeys.to_string()]),
        },
        FixId::CopyId => manual(NEEDS_A_PROMPT),
        FixId::TryPassword => Request::TryPassword,
        id if fix::config::is_config_fix(id) => match &fix.target {
            FixTarget::ConfigOption { host, settings } => Request::Config {
                id,
                host: host.clone(),
                settings: settings.clone(),
            },
            _ => manual("this one needs the command shown run first; then `sshdoctor fix` with the host and the file it wrote writes the config line"),
        },
        FixId::SshdConfigSet | FixId::SshdConfigAllowUser => manual(
            "a change to sshd's configuration needs root and a reload of sshd; sshdoctor shows the edit but never changes /etc/ssh itself",
        ),
        id => match targets::resolve(id, None, known_hosts, paths) {
            Ok(Resolved::Manual { why, .. }) => manual(&why),
            _ => manual("sshdoctor shows this command but does not run it itself"),
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
        lines.extend(p.notes.iter().cloned());
        lines.extend(p.preview.iter().map(|l| format!("    {l}")));
        lines.push(format!("$ {}", p.command));
    }
    lines
}

/// What trusting a host key is computed from (all read before, so this is pure).
pub struct TrustInput<'a> {
    pub host: &'a str,
    pub port: u16,
    /// The name known_hosts files the key under: `[host]:port` (or `host` on port 22), or the
    /// HostKeyAlias.
    pub name: &'a str,
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
    let place = targets::HostKeyPlace {
        host: t.host.to_string(),
        port: t.port,
        name: t.name.to_string(),
        files: vec![t.file.to_path_buf()],
        hash: t.salt.is_some(),
    };
    let p = targets::trust_host_key_plan(&place, t.file, t.existing, t.key, t.salt);
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
        Request::TryPassword => {
            anyhow::bail!("a password is tried by the live test, not planned as a change")
        }
        Request::InTerminal { command, .. } => {
            anyhow::bail!("this fix runs in the terminal: {command}")
        }
        Request::Resolve {
            id,
            target,
            known_hosts,
        } => match targets::resolve(*id, target.as_deref(), known_hosts, paths)? {
            Resolved::Plans(plans) => (plans, Vec::new(), false),
            Resolved::Manual { why, command } => {
                anyhow::bail!("sshdoctor does not apply this fix itself: {why}; run: {command}")
            }
        },
        Request::Config { id, host, settings } => {
            let cf = fix::config::ConfigFix {
                id: *id,
                host: host.clone(),
                user: None,
                port: None,
                settings: settings.clone(),
            };
            let p = fix::config::plan(&cf, paths, std::ffi::OsStr::new("ssh"))?;
            (vec![p], Vec::new(), false)
        }
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
            let after = change.apply(before);
            let p = plan::chmod_plan(*id, path, &paths.display(path), before, after, command);
            (vec![p], Vec::new(), false)
        }
        Request::Trust {
            host,
            port,
            name,
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
            let existing = targets::read_known_hosts_for_append(file)?;
            let salt = targets::hash_salt(targets::hash_known_hosts(host, *port, paths));
            let input = TrustInput {
                host,
                port: *port,
                name,
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
    fn fix_ids_map_to_the_fix_module_with_the_fix_s_typed_target() {
        let f = Finding::new("private-key-permissions", Severity::Error, "t");
        let fix = Fix::new(FixId::ChmodPrivateKey, "t", "chmod 600 ~/.ssh/id_rsa")
            .on_path("/h/.ssh/id_rsa");
        assert_eq!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Resolve {
                id: FixId::ChmodPrivateKey,
                target: Some("/h/.ssh/id_rsa".into()),
                known_hosts: kh()
            }
        );
        // The display command is never read back: a fix without a target asks the fix module
        // for its default files, whatever its command says.
        let fix = Fix::new(FixId::ChmodPrivateKey, "t", "chmod 600 ~/.ssh/elsewhere");
        assert!(matches!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Resolve { target: None, .. }
        ));
        let fix =
            Fix::new(FixId::RemoveOldHostKey, "t", "anything").on(FixTarget::KnownHostsName {
                file: PathBuf::from("/x/kh"),
                name: "[127.0.0.1]:2222".into(),
            });
        assert_eq!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Resolve {
                id: FixId::RemoveOldHostKey,
                target: Some("[127.0.0.1]:2222".into()),
                known_hosts: PathBuf::from("/x/kh")
            }
        );
        let fix = Fix::new(FixId::RegeneratePublicKey, "t", "ssh-keygen -y ...")
            .on_path("/h/.ssh/id_rsa");
        assert!(matches!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Resolve { target: Some(t), .. } if t == "/h/.ssh/id_rsa"
        ));
        let fix = Fix::new(FixId::ChmodGoW, "t", "chmod go-w /home/bob/.ssh").on(FixTarget::Mode {
            path: PathBuf::from("/home/bob/.ssh"),
            change: ModeChange::ClearGroupOtherWrite,
        });
        assert!(matches!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Chmod { change: ModeChange::ClearGroupOtherWrite, path, .. } if path == Path::new("/home/bob/.ssh")
        ));
        // Fixes that ask for a passphrase run `sshdoctor fix` in the terminal.
        let fix = Fix::new(FixId::GenerateKey, "t", "ssh-keygen -t ed25519");
        assert!(matches!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::InTerminal { args, .. } if args == ["fix", "generate-key"]
        ));
        let fix =
            Fix::new(FixId::GenerateMissingIdentity, "t", "ssh-keygen ...").on_path("/h/.ssh/work");
        assert!(matches!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::InTerminal { args, .. } if args == ["fix", "generate-missing-identity", "/h/.ssh/work"]
        ));
        // A config line goes to the fix module with its typed host and settings.
        let settings = vec![crate::finding::ConfigSetting::set("IdentitiesOnly", "yes")];
        let fix = Fix::new(FixId::IdentitiesOnly, "t", "ssh -o IdentitiesOnly=yes").on(
            FixTarget::ConfigOption {
                host: Some("web".into()),
                settings: settings.clone(),
            },
        );
        assert_eq!(
            request(&f, &fix, &paths(), &kh(), None),
            Request::Config {
                id: FixId::IdentitiesOnly,
                host: Some("web".into()),
                settings
            }
        );
        for (id, cmd) in [
            (FixId::SshdConfigSet, "sudoedit /etc/ssh/sshd_config"),
            (FixId::StartAgent, "eval \"$(ssh-agent -s)\""),
        ] {
            let fix = Fix::new(id, "t", cmd);
            assert!(matches!(
                request(&f, &fix, &paths(), &kh(), None),
                Request::Manual { command, .. } if command == cmd
            ));
        }
    }

    #[test]
    fn trusting_a_changed_key_carries_both_fingerprints_and_the_file_of_the_old_key() {
        let f = Finding::new("host-key-changed", Severity::Error, "t");
        let fix = Fix::new(FixId::TrustHostKey, "t", "sshdoctor fix trust-host-key x").on(
            FixTarget::HostKey {
                host: "127.0.0.1".into(),
                port: 2222,
                name: "[127.0.0.1]:2222".into(),
                file: Some(PathBuf::from("/h/.ssh/kh2")),
                seen: Some("SHA256:new".into()),
                known: Some(("SHA256:old".into(), "ssh-rsa".into())),
            },
        );
        let live = LiveTarget {
            host: "127.0.0.1".into(),
            port: 2222,
        };
        assert_eq!(
            request(&f, &fix, &paths(), &kh(), Some(&live)),
            Request::Trust {
                host: "127.0.0.1".into(),
                port: 2222,
                name: "[127.0.0.1]:2222".into(),
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
            id: FixId::ChmodGoW,
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

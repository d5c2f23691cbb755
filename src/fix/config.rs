//! The fixes that put a line in ~/.ssh/config (`identities-only`, `enable-legacy-algorithm`,
//! `ignore-unknown-option`, `add-keys-to-agent`): the thin layer between a typed
//! [`FixTarget::ConfigOption`](crate::finding::FixTarget::ConfigOption) and a [`FixPlan`].
//!
//! It reads the config files (`config::edit::load_set`), has the pure editor place the line
//! where ssh will read it for the host (`config::edit::plan_edit`), proves the result with
//! `ssh -G` (`config::proof::prove`) and only then returns a plan: a `Replace` of each changed
//! file (atomic, mode and owner kept, journaled with both versions so `undo` is byte for byte),
//! or a `Create` of ~/.ssh/config (mode 0600, ~/.ssh made 0700) when there is none yet. A plan
//! whose proof fails is never made: the error says what would have gone wrong.

use std::ffi::OsStr;

use super::{FixPlan, NewContent, PlannedChange};
use crate::config::edit::{self, ConfigEdit};
use crate::config::proof::{self, ProofTarget};
use crate::finding::{shell_quote, ConfigSetting};
use crate::fix_id::FixId;
use crate::paths::SshPaths;

/// What a config fix is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFix {
    pub id: FixId,
    /// The host name as typed (`None`: every host, at the top of the file).
    pub host: Option<String>,
    /// The login's user and port from the command line (for `Match user` and the proof).
    pub user: Option<String>,
    pub port: Option<u16>,
    pub settings: Vec<ConfigSetting>,
}

/// Plans a config fix against the files as they are now, proved with `ssh` (the binary given;
/// the stand-in parser when it cannot be run). `Err` when the edit cannot be made or the proof
/// refuses it; nothing is written either way.
pub fn plan(fix: &ConfigFix, paths: &SshPaths, ssh: &OsStr) -> anyhow::Result<FixPlan> {
    let main = paths.config();
    let set = edit::load_set(&main, paths)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", main.display()))?;
    let e =
        edit::plan_edit(&set, fix.host.as_deref(), &fix.settings, paths).map_err(|e| match e {
            edit::EditError::BadHost(_) => crate::exit::usage(e.to_string()),
            other => anyhow::anyhow!("{other}"),
        })?;
    let lines: Vec<String> = fix.settings.iter().map(ConfigSetting::line).collect();
    let for_whom = match &fix.host {
        Some(h) => format!("for {h}"),
        None => "for every host".to_string(),
    };
    if e.files.is_empty() {
        let mut p = FixPlan::new(
            fix.id,
            format!(
                "{} already holds {for_whom} in {}",
                lines.join(", "),
                paths.display(&main)
            ),
            "nothing to edit",
        );
        p.notes = e.already.clone();
        return Ok(p);
    }
    let after = set.with_files(&e.files);
    let target = ProofTarget {
        host: fix.host.as_deref(),
        user: fix.user.as_deref(),
        port: fix.port,
    };
    let proved = proof::prove(&set, &after, &target, &fix.settings, paths, ssh)
        .map_err(|why| anyhow::anyhow!("refused: {why}"))?;
    Ok(to_plan(fix, &e, &proved, paths, &lines, &for_whom))
}

fn to_plan(
    fix: &ConfigFix,
    e: &ConfigEdit,
    proved: &proof::Proof,
    paths: &SshPaths,
    lines: &[String],
    for_whom: &str,
) -> FixPlan {
    let files: Vec<String> = e.files.iter().map(|f| paths.display(&f.path)).collect();
    let editor = files
        .iter()
        .map(|f| shell_quote(f))
        .collect::<Vec<_>>()
        .join(" ");
    let mut p = FixPlan::new(
        fix.id,
        format!(
            "Set {} {for_whom} in {}",
            lines.join(", "),
            files.join(", ")
        ),
        // The edit itself is in the notes ("by hand: ...") and the preview; the editor opens
        // at the first changed line.
        match e
            .files
            .first()
            .map(|f| first_changed_line(&f.before, &f.after))
        {
            Some(n) if e.files.len() == 1 => format!("${{EDITOR:-vi}} +{n} {editor}"),
            _ => format!("${{EDITOR:-vi}} {editor}"),
        },
    );
    p.notes.extend(e.found.iter().cloned());
    p.notes.extend(e.already.iter().cloned());
    p.notes
        .extend(e.steps.iter().map(|s| format!("by hand: {s}")));
    p.notes.push(proved.describe());
    for f in &e.files {
        p.preview.push(format!("--- {}", paths.display(&f.path)));
        p.preview.extend(edit::preview(&f.before, &f.after));
        p.changes.push(if f.existed {
            PlannedChange::Replace {
                path: f.path.clone(),
                before: f.before.clone(),
                after: NewContent::Bytes(f.after.clone()),
                backup: None,
                removed_lines: Vec::new(),
                secret: false,
            }
        } else {
            PlannedChange::Create {
                path: f.path.clone(),
                bytes: f.after.clone(),
                mode: 0o600,
                secret: false,
            }
        });
    }
    p
}

/// The 1-based number of the first line that differs between two versions of a file.
fn first_changed_line(before: &[u8], after: &[u8]) -> usize {
    let a = before.split_inclusive(|&b| b == b'\n');
    let b = after.split_inclusive(|&b| b == b'\n');
    a.zip(b).take_while(|(x, y)| x == y).count() + 1
}

/// Why the fix's arguments do not make settings (bad usage: exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgsError(pub String);

/// The settings a config fix id makes from what `sshdoctor fix ID` was given: `-i KEY` for
/// `identities-only`, `-o Keyword=+alg` for `enable-legacy-algorithm`, option names for
/// `ignore-unknown-option`. Pure; the key path is expected absolute.
pub fn settings_for(
    id: FixId,
    options: &[(String, String)],
    identity: Option<&std::path::Path>,
    unknown: &[String],
) -> Result<Vec<ConfigSetting>, ArgsError> {
    let err = |m: String| Err(ArgsError(m));
    match id {
        FixId::IdentitiesOnly => {
            let Some(key) = identity else {
                return err(
                    "identities-only needs the key to offer: sshdoctor fix identities-only HOST -i KEY"
                        .into(),
                );
            };
            Ok(vec![
                ConfigSetting::set("IdentitiesOnly", "yes"),
                ConfigSetting::add("IdentityFile", key.display().to_string()),
            ])
        }
        FixId::EnableLegacyAlgorithm => {
            if options.is_empty() {
                return err("enable-legacy-algorithm needs the algorithm: sshdoctor fix enable-legacy-algorithm HOST -o HostKeyAlgorithms=+ssh-rsa".into());
            }
            let mut out = Vec::new();
            for (k, v) in options {
                if !crate::finding::is_algorithm_list(k) {
                    return err(format!(
                        "{k} is not an algorithm list (KexAlgorithms, HostKeyAlgorithms, Ciphers, MACs, PubkeyAcceptedAlgorithms)"
                    ));
                }
                let Some(items) = v.strip_prefix('+') else {
                    return err(format!(
                        "-o {k}={v}: write {k}=+ALGORITHM, so the defaults stay and the old one is added"
                    ));
                };
                for item in items.split(',') {
                    if item.is_empty()
                        || !item
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
                    {
                        return err(format!("{item:?} is not an algorithm name"));
                    }
                    out.push(ConfigSetting::in_list(k, item));
                }
            }
            Ok(out)
        }
        FixId::AddKeysToAgent => Ok(vec![ConfigSetting::set("AddKeysToAgent", "yes")]),
        FixId::AcceptSshRsaSignatures => Ok(vec![ConfigSetting::in_list(
            "PubkeyAcceptedAlgorithms",
            "ssh-rsa".to_string(),
        )]),
        FixId::UseKeychain => use_keychain_settings(crate::platform::Platform::current()),
        FixId::IgnoreUnknownOption => {
            if unknown.is_empty() {
                return err("ignore-unknown-option needs the option: sshdoctor fix ignore-unknown-option OPTION (ssh names it: \"Bad configuration option: OPTION\")".into());
            }
            unknown
                .iter()
                .map(|o| {
                    if o.is_empty() || !o.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        Err(ArgsError(format!("{o:?} is not an ssh_config option name")))
                    } else {
                        Ok(ConfigSetting::in_list("IgnoreUnknown", o.clone()))
                    }
                })
                .collect()
        }
        other => err(format!("{other} is not a fix that edits ~/.ssh/config")),
    }
}

/// [`Platform::keychain_settings`](crate::platform::Platform::keychain_settings), refused
/// with the reason elsewhere than on a Mac.
pub fn use_keychain_settings(
    platform: crate::platform::Platform,
) -> Result<Vec<ConfigSetting>, ArgsError> {
    platform.keychain_settings().ok_or_else(|| {
        ArgsError(format!(
            "use-keychain is for macOS: UseKeychain exists only in Apple's OpenSSH, and the ssh on {} would refuse the whole config for it",
            platform.name()
        ))
    })
}

/// Whether a fix id is one of the config-line fixes.
pub fn is_config_fix(id: FixId) -> bool {
    matches!(
        id,
        FixId::IdentitiesOnly
            | FixId::EnableLegacyAlgorithm
            | FixId::AddKeysToAgent
            | FixId::AcceptSshRsaSignatures
            | FixId::UseKeychain
            | FixId::IgnoreUnknownOption
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::ConfigWant;
    use std::path::Path;

    #[test]
    fn each_config_fix_id_makes_its_settings_and_refuses_what_it_cannot_write() {
        let s = settings_for(FixId::IdentitiesOnly, &[], Some(Path::new("/k/work")), &[]).unwrap();
        assert_eq!(s[0].line(), "IdentitiesOnly yes");
        assert_eq!(s[1].want, ConfigWant::Add("/k/work".into()));
        assert!(settings_for(FixId::IdentitiesOnly, &[], None, &[]).is_err());
        let o = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let s = settings_for(
            FixId::EnableLegacyAlgorithm,
            &o(
                "KexAlgorithms",
                "+diffie-hellman-group14-sha1,diffie-hellman-group1-sha1",
            ),
            None,
            &[],
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].line(), "KexAlgorithms +diffie-hellman-group14-sha1");
        for (k, v) in [
            ("User", "+x"),
            ("HostKeyAlgorithms", "ssh-rsa"),
            ("HostKeyAlgorithms", "+ssh-rsa ProxyCommand"),
            ("HostKeyAlgorithms", "+"),
        ] {
            assert!(
                settings_for(FixId::EnableLegacyAlgorithm, &o(k, v), None, &[]).is_err(),
                "{k}={v}"
            );
        }
        let s = settings_for(
            FixId::IgnoreUnknownOption,
            &[],
            None,
            &["UseKeychain".to_string()],
        )
        .unwrap();
        assert_eq!(s[0].line(), "IgnoreUnknown UseKeychain");
        assert!(settings_for(FixId::IgnoreUnknownOption, &[], None, &["a b".into()]).is_err());
        assert!(settings_for(FixId::ChmodConfig, &[], None, &[]).is_err());
        assert!(is_config_fix(FixId::AddKeysToAgent) && !is_config_fix(FixId::ChmodConfig));
        assert!(is_config_fix(FixId::UseKeychain));
        let mac = use_keychain_settings(crate::platform::Platform::MacOs).unwrap();
        let lines: Vec<String> = mac.iter().map(ConfigSetting::line).collect();
        assert_eq!(lines, ["UseKeychain yes", "AddKeysToAgent yes"]);
        let linux = use_keychain_settings(crate::platform::Platform::Linux).unwrap_err();
        assert!(linux.0.contains("only in Apple's OpenSSH"), "{linux}");
        assert_eq!(first_changed_line(b"a\nb\n", b"a\nx\nb\n"), 2);
        assert_eq!(first_changed_line(b"", b"Host x\n"), 1);
        assert_eq!(first_changed_line(b"a", b"a\nb"), 1);
    }
}

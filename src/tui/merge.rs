//! The Findings pane's one list, from the live test's findings and the local inspection's:
//! a local finding the live test already names joins it instead of being listed twice, and a
//! live host-key finding gets the fix the dashboard carries out itself (trust the key the test
//! saw). Pure: findings in, findings out.

use super::fixes::LiveTarget;
use crate::finding::{Finding, Fix, FixTarget};
use crate::fix_id::FixId;

/// For a live host-key finding, the fix the dashboard can carry out itself: fetch the key again,
/// check it is the one the test saw, and trust it (replacing the old one when it changed).
pub fn add_trust_fix(f: &mut Finding, t: &LiveTarget) {
    if f.fixes
        .iter()
        .any(|x| matches!(x.id, FixId::TrustHostKey | FixId::AcceptHostKey))
    {
        return;
    }
    if f.id != "host-key-changed" {
        return;
    }
    let name = crate::known_hosts::host_port_name(&t.host, t.port);
    // The same server key the remove fix is about: trusting it replaces the old one.
    let target = f
        .fixes
        .iter()
        .find(|x| x.id == FixId::RemoveOldHostKey)
        .map(|x| x.target.clone())
        .unwrap_or_default();
    f.fixes.push(
        Fix::new(
            FixId::TrustHostKey,
            "After confirming the new fingerprint out of band, replace the old key with the one the server shows now",
            format!(
                "sshdoctor fix trust-host-key {} --accept-changed-host-key",
                crate::finding::shell_quote(&name)
            ),
        )
        .destructive()
        .on(target),
    );
}

/// The file a finding's chmod fix is about.
fn chmod_target(f: &Finding) -> Option<&std::path::Path> {
    f.fixes.iter().find_map(|fix| match &fix.target {
        FixTarget::Path(p) | FixTarget::Mode { path: p, .. }
            if matches!(
                fix.id,
                FixId::ChmodPrivateKey | FixId::Chmod600 | FixId::Chmod700 | FixId::ChmodGoW
            ) =>
        {
            Some(p.as_path())
        }
        _ => None,
    })
}

/// Adds the local findings to the live test's. A local finding the live test already names
/// (same id and title, or the same key's permissions: the probe says the server accepts the key
/// ssh ignores) is not listed twice: its evidence joins the live finding's.
pub fn merge_local(all: &mut Vec<Finding>, local: &[Finding]) {
    for f in local {
        let same = all.iter().position(|g| {
            g.id == f.id
                && (g.title == f.title
                    || (f.id == "private-key-permissions"
                        && chmod_target(g).is_some()
                        && chmod_target(g) == chmod_target(f)))
        });
        match same {
            Some(i) => {
                for e in &f.evidence {
                    if !all[i].evidence.contains(e) {
                        all[i].evidence.push(e.clone());
                    }
                }
            }
            None => all.push(f.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::paths::SshPaths;

    #[test]
    fn a_key_the_server_accepts_but_ssh_ignores_is_one_finding_with_both_evidences() {
        let paths = SshPaths::with_home(std::path::Path::new("/home/bob"));
        let mut live = vec![Finding::new(
            "private-key-permissions",
            Severity::Error,
            "lab accepts id_ed25519, but ssh ignores that key because of its permissions",
        )
        .evidence("accepted: id_ed25519")
        .fix(
            Fix::new(FixId::Chmod600, "t", "chmod 600 /home/bob/.ssh/id_ed25519")
                .on_path("/home/bob/.ssh/id_ed25519"),
        )];
        let key_finding = |name: &str| {
            Finding::new(
                "private-key-permissions",
                Severity::Error,
                format!("ssh ignores ~/.ssh/{name}: its permissions 0644 are too open"),
            )
            .evidence(format!("~/.ssh/{name}: mode 0644"))
            .fix(
                Fix::new(
                    FixId::ChmodPrivateKey,
                    "t",
                    format!("chmod 600 ~/.ssh/{name}"),
                )
                .on_path(paths.ssh_dir.join(name)),
            )
        };
        merge_local(
            &mut live,
            &[key_finding("id_ed25519"), key_finding("id_rsa")],
        );
        assert_eq!(live.len(), 2, "{live:#?}");
        assert_eq!(
            live[0].evidence,
            ["accepted: id_ed25519", "~/.ssh/id_ed25519: mode 0644"]
        );
        assert!(live[1].title.contains("id_rsa"));
    }
}

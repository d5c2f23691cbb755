//! Permission rules, checked on a temp HOME. The private-key rule is compared with the real
//! OpenSSH: `ssh-keygen -y -f KEY` loads a key through the same `sshkey_perm_ok` check as ssh and
//! refuses ("UNPROTECTED PRIVATE KEY FILE!") exactly when ssh would ignore the key.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use sshdoctor::finding::Severity;
use sshdoctor::paths::SshPaths;
use sshdoctor::perms::{self, FileMeta};

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// A temp HOME with `~/.ssh`, an ed25519 key and an authorized_keys.
fn home() -> (tempfile::TempDir, SshPaths) {
    let dir = tempfile::tempdir().unwrap();
    let paths = SshPaths::with_home(dir.path());
    fs::create_dir(&paths.ssh_dir).unwrap();
    let key = paths.ssh_dir.join("id_ed25519");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()])
        .stdin(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    fs::copy(
        paths.ssh_dir.join("id_ed25519.pub"),
        paths.authorized_keys(),
    )
    .unwrap();
    chmod(dir.path(), 0o755);
    chmod(&paths.ssh_dir, 0o700);
    chmod(&paths.authorized_keys(), 0o600);
    (dir, paths)
}

#[test]
fn private_key_rule_agrees_with_openssh_for_every_mode() {
    let (_dir, paths) = home();
    let key = paths.ssh_dir.join("id_ed25519");
    for mode in [
        0o600, 0o400, 0o700, 0o644, 0o640, 0o604, 0o660, 0o606, 0o610, 0o601, 0o777,
    ] {
        chmod(&key, mode);
        let out = Command::new("ssh-keygen")
            .args(["-y", "-f", key.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ssh_ignores = !out.status.success();
        assert_eq!(
            ssh_ignores,
            stderr.contains("UNPROTECTED PRIVATE KEY FILE"),
            "{stderr}"
        );

        let meta = perms::stat(&key).unwrap();
        let found = perms::private_key_findings(&meta, uid(), &paths);
        assert_eq!(!found.is_empty(), ssh_ignores, "mode {mode:o}");
        if let Some(f) = found.first() {
            assert_eq!(f.id, "private-key-permissions");
            assert_eq!(f.severity, Severity::Error);
            let shown = format!("{:04o}", mode);
            assert!(f.title.contains(&shown), "{}", f.title);
            assert!(f
                .evidence
                .iter()
                .any(|e| e == &format!("~/.ssh/id_ed25519: mode {shown}")));
            // The exact line ssh prints, so people recognise it.
            let ssh_line = format!("Permissions {shown} for '{}' are too open.", key.display());
            assert!(stderr.contains(&ssh_line), "{stderr}");
            assert!(f.evidence.iter().any(|e| e.contains(&ssh_line)));
            assert_eq!(f.fixes[0].command, "chmod 600 ~/.ssh/id_ed25519");
        }
    }
}

#[test]
fn key_owned_by_someone_else_is_not_the_perm_rule() {
    let paths = SshPaths::with_home(Path::new("/home/u"));
    let meta = FileMeta {
        path: "/home/u/.ssh/id_rsa".into(),
        mode: 0o644,
        uid: 4242,
        gid: 4242,
        is_dir: false,
        is_symlink: false,
    };
    // sshkey_perm_ok only checks keys the user owns.
    assert!(perms::private_key_findings(&meta, 1000, &paths).is_empty());
}

#[test]
fn too_open_home_files_give_the_right_findings() {
    let (dir, paths) = home();
    let key = paths.ssh_dir.join("id_ed25519");
    chmod(&key, 0o644);
    chmod(&paths.ssh_dir, 0o777);
    chmod(&paths.authorized_keys(), 0o666);
    fs::write(paths.config(), "Host *\n").unwrap();
    chmod(&paths.config(), 0o666);

    let found = perms::local_findings(
        perms::stat(dir.path()).as_ref(),
        perms::stat(&paths.ssh_dir).as_ref(),
        perms::stat(&paths.authorized_keys()).as_ref(),
        perms::stat(&paths.config()).as_ref(),
        uid(),
        &paths,
    );
    let ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ssh-dir-permissions",
            "authorized-keys-permissions",
            "config-permissions"
        ]
    );
    assert!(found.iter().all(|f| f.severity == Severity::Error));

    let ssh_dir = &found[0];
    assert!(ssh_dir.title.contains("~/.ssh") && ssh_dir.title.contains("0777"));
    assert!(ssh_dir.evidence.iter().any(|e| e == "~/.ssh: mode 0777"));
    assert!(ssh_dir.evidence.iter().any(|e| e.contains("0700")));
    assert_eq!(ssh_dir.fixes[0].command, "chmod 700 ~/.ssh");
    assert!(ssh_dir.explanation.contains("sshd"));

    let ak = &found[1];
    assert!(ak
        .evidence
        .iter()
        .any(|e| e == "~/.ssh/authorized_keys: mode 0666"));
    assert_eq!(ak.fixes[0].command, "chmod 600 ~/.ssh/authorized_keys");

    let cfg = &found[2];
    assert!(cfg.explanation.contains("Bad owner or permissions"));
    assert_eq!(cfg.fixes[0].command, "chmod 600 ~/.ssh/config");

    let key_found = perms::private_key_findings(&perms::stat(&key).unwrap(), uid(), &paths);
    assert_eq!(key_found.len(), 1);

    // After the suggested commands, nothing is left.
    chmod(&key, 0o600);
    chmod(&paths.ssh_dir, 0o700);
    chmod(&paths.authorized_keys(), 0o600);
    chmod(&paths.config(), 0o600);
    let found = perms::local_findings(
        perms::stat(dir.path()).as_ref(),
        perms::stat(&paths.ssh_dir).as_ref(),
        perms::stat(&paths.authorized_keys()).as_ref(),
        perms::stat(&paths.config()).as_ref(),
        uid(),
        &paths,
    );
    assert!(found.is_empty(), "{found:?}");
    assert!(perms::private_key_findings(&perms::stat(&key).unwrap(), uid(), &paths).is_empty());
}

#[test]
fn readable_ssh_dir_and_home_are_fine() {
    let (dir, paths) = home();
    chmod(&paths.ssh_dir, 0o755);
    chmod(&paths.authorized_keys(), 0o644);
    chmod(dir.path(), 0o755);
    let found = perms::local_findings(
        perms::stat(dir.path()).as_ref(),
        perms::stat(&paths.ssh_dir).as_ref(),
        perms::stat(&paths.authorized_keys()).as_ref(),
        None,
        uid(),
        &paths,
    );
    assert!(
        found.iter().all(|f| f.severity == Severity::Info),
        "{found:?}"
    );
}

#[test]
fn world_writable_home_is_an_error_with_go_w_fix() {
    let (dir, paths) = home();
    chmod(dir.path(), 0o777);
    let found = perms::local_findings(
        perms::stat(dir.path()).as_ref(),
        None,
        None,
        None,
        uid(),
        &paths,
    );
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "home-dir-permissions");
    assert_eq!(found[0].severity, Severity::Error);
    assert_eq!(found[0].fixes[0].command, "chmod go-w ~");
    assert!(found[0].evidence.iter().any(|e| e == "~: mode 0777"));
}

#[test]
fn group_writable_is_a_warning_only_for_a_private_group() {
    let paths = SshPaths::with_home(Path::new("/nonexistent-home"));
    // Root's primary group (gid 0) has no listed members on Debian: a private group.
    let meta = FileMeta {
        path: "/nonexistent-home/.ssh".into(),
        mode: 0o770,
        uid: 0,
        gid: 0,
        is_dir: true,
        is_symlink: false,
    };
    let root_group_private = fs::read_to_string("/etc/group")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("root:") && l.ends_with(':'));
    let found = perms::local_findings(None, Some(&meta), None, None, 0, &paths);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "ssh-dir-permissions");
    let expected = if root_group_private {
        Severity::Warning
    } else {
        Severity::Error
    };
    assert_eq!(found[0].severity, expected);
    assert!(found[0].explanation.contains("Debian"));
}

#[test]
fn wrong_owner_names_the_user_in_the_chown_fix() {
    let (dir, paths) = home();
    // As root we can hand the file to another uid, the way a bad restore does.
    if uid() != 0 {
        return;
    }
    std::os::unix::fs::chown(paths.authorized_keys(), Some(4242), None).unwrap();
    let found = perms::local_findings(
        perms::stat(dir.path()).as_ref(),
        perms::stat(&paths.ssh_dir).as_ref(),
        perms::stat(&paths.authorized_keys()).as_ref(),
        None,
        uid(),
        &paths,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f.id, "wrong-owner");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.evidence.iter().any(|e| e.contains("uid 4242")));
    assert_eq!(
        f.fixes[0].command,
        "sudo chown root:root ~/.ssh/authorized_keys"
    );
}

#[test]
fn stat_follows_symlinks_and_reports_them() {
    let (dir, paths) = home();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&paths.ssh_dir, &link).unwrap();
    let m = perms::stat(&link).unwrap();
    assert!(m.is_dir && m.is_symlink);
    assert_eq!(m.mode, 0o700);
    std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("dangling")).unwrap();
    assert!(perms::stat(&dir.path().join("dangling")).is_none());
}

#[test]
fn paths_with_spaces_are_quoted_in_fixes() {
    let paths = SshPaths::with_home(Path::new("/home/u"));
    let meta = FileMeta {
        path: "/keys/my key".into(),
        mode: 0o644,
        uid: 1000,
        gid: 1000,
        is_dir: false,
        is_symlink: false,
    };
    let found = perms::private_key_findings(&meta, 1000, &paths);
    assert_eq!(found[0].fixes[0].command, "chmod 600 '/keys/my key'");
}

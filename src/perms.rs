//! Permission rules OpenSSH enforces, as pure functions over file metadata.
//!
//! Two sets of rules matter and they are easy to confuse:
//! - the client (`ssh`) ignores a private key that its owner lets anyone else read or write
//!   (`sshkey_perm_ok`: owner is the user and `mode & 077 != 0`), and refuses to run at all when
//!   `~/.ssh/config` is writable by others or owned by someone else;
//! - the server (`sshd` with `StrictModes yes`, the default) refuses every key of an account whose
//!   `~`, `~/.ssh` or `~/.ssh/authorized_keys` is writable by group/other or owned by anyone but the
//!   user or root. That only matters when this machine is the one being logged into.
//!
//! Debian and Ubuntu patch both sides to accept group-writable files when the group is the owner's
//! private group (no other members); such cases are warnings, not errors.
//!
//! [`stat`] is the only function here that touches the disk; user and group *names* for the
//! `chown` fix come from the password database.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::finding::{mode_string, shell_quote, Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::paths::SshPaths;

/// What the permission rules look at. `mode` holds the permission bits only (`0o7777`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub path: PathBuf,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub is_dir: bool,
    /// The path itself is a symlink (the other fields describe its target).
    pub is_symlink: bool,
}

/// Stats a path the way ssh and sshd do: following symlinks. `None` when it does not exist (or
/// is a dangling symlink).
pub fn stat(path: &Path) -> Option<FileMeta> {
    let meta = std::fs::metadata(path).ok()?;
    let is_symlink = std::fs::symlink_metadata(path)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false);
    Some(FileMeta {
        path: path.to_path_buf(),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        is_dir: meta.is_dir(),
        is_symlink,
    })
}

/// A path as a person would type it in a shell: `~/.ssh/id_rsa` when under the home (the `~` left
/// unquoted so the shell expands it), otherwise the absolute path, quoted when needed.
pub fn shell_path(path: &Path, paths: &SshPaths) -> String {
    let shown = paths.display(path);
    if shown == "~" {
        return shown;
    }
    if let Some(rest) = shown.strip_prefix("~/") {
        if shell_quote(rest) == rest {
            return shown;
        }
    }
    shell_quote(&path.display().to_string())
}

/// The client rule for a private key (OpenSSH `sshkey_perm_ok`): if the user owns the key and any
/// group/other bit is set, ssh prints "UNPROTECTED PRIVATE KEY FILE!" and ignores the key.
/// A key owned by someone else is not checked by ssh (it is used if it can be read).
pub fn private_key_findings(key: &FileMeta, user_uid: u32, paths: &SshPaths) -> Vec<Finding> {
    if key.is_dir || key.uid != user_uid || key.mode & 0o077 == 0 {
        return Vec::new();
    }
    let shown = paths.display(&key.path);
    let mode = mode_string(key.mode);
    vec![Finding::new(
        "private-key-permissions",
        Severity::Error,
        format!("ssh ignores {shown}: its permissions {mode} are too open"),
    )
    .explain(
        "ssh refuses to use a private key that other users can read or write, because a key \
         others can read is no longer secret. It prints \"WARNING: UNPROTECTED PRIVATE KEY FILE!\" \
         and then behaves as if the key did not exist, so the login fails with \"Permission \
         denied (publickey)\". This usually happens after copying keys from another machine, \
         a backup, a USB stick or a Windows share. Only you may read it: mode 0600 (or 0400).",
    )
    .evidence(format!("{shown}: mode {mode}"))
    .evidence("required: 0600 (no group/other bits)")
    .evidence(format!(
        "ssh says: Permissions {mode} for '{}' are too open.",
        key.path.display()
    ))
    .fix(
        Fix::new(
            FixId::ChmodPrivateKey,
            format!("Make {shown} readable by you only"),
            format!("chmod 600 {}", shell_path(&key.path, paths)),
        )
        .on_path(&key.path),
    )]
}

/// What a file is for, which decides its rule and the words used.
#[derive(Clone, Copy)]
enum Role {
    Home,
    SshDir,
    AuthorizedKeys,
    Config,
}

impl Role {
    fn id(self) -> &'static str {
        match self {
            Role::Home => "home-dir-permissions",
            Role::SshDir => "ssh-dir-permissions",
            Role::AuthorizedKeys => "authorized-keys-permissions",
            Role::Config => "config-permissions",
        }
    }

    /// The fix that makes the mode right.
    fn fix_id(self) -> FixId {
        match self {
            Role::Home => FixId::ChmodHomeDir,
            Role::SshDir => FixId::ChmodSshDir,
            Role::AuthorizedKeys => FixId::ChmodAuthorizedKeys,
            Role::Config => FixId::ChmodConfig,
        }
    }

    fn required(self) -> &'static str {
        match self {
            Role::Home => "not writable by group or others (e.g. 0755 or 0700)",
            Role::SshDir => "0700 (at least not writable by group or others)",
            Role::AuthorizedKeys => "0600 (at least not writable by group or others)",
            Role::Config => "0600 (at least not writable by group or others)",
        }
    }

    fn chmod(self) -> &'static str {
        match self {
            Role::Home => "go-w",
            Role::SshDir => "700",
            Role::AuthorizedKeys | Role::Config => "600",
        }
    }

    fn consequence(self) -> &'static str {
        match self {
            Role::Config => {
                "ssh reads ~/.ssh/config before doing anything and refuses to run at all (\"Bad \
                 owner or permissions on ~/.ssh/config\") when someone else could have written \
                 it, since the config can run commands (ProxyCommand, LocalCommand)."
            }
            _ => {
                "When someone logs into this account over SSH, sshd (StrictModes, on by default) \
                 checks ~/.ssh/authorized_keys and every directory above it up to the home. If any \
                 of them could be changed by another user, anyone could add their own key, so sshd \
                 refuses every key of the account and logs \"Authentication refused: bad \
                 ownership or modes\". The ssh client does not care; this only matters when this \
                 machine is the server."
            }
        }
    }
}

/// Rules for the home, `~/.ssh`, `~/.ssh/authorized_keys` (sshd's StrictModes) and
/// `~/.ssh/config` (the ssh client). Any argument may be absent (the file does not exist).
pub fn local_findings(
    home: Option<&FileMeta>,
    ssh_dir: Option<&FileMeta>,
    authorized_keys: Option<&FileMeta>,
    config: Option<&FileMeta>,
    user_uid: u32,
    paths: &SshPaths,
) -> Vec<Finding> {
    let items = [
        (home, Role::Home),
        (ssh_dir, Role::SshDir),
        (authorized_keys, Role::AuthorizedKeys),
        (config, Role::Config),
    ];
    let mut out = Vec::new();
    for (meta, role) in items {
        if let Some(meta) = meta {
            out.extend(check(meta, role, user_uid, paths));
        }
    }
    out
}

fn check(meta: &FileMeta, role: Role, user_uid: u32, paths: &SshPaths) -> Vec<Finding> {
    let mut out = Vec::new();
    let shown = paths.display(&meta.path);
    let mode = mode_string(meta.mode);
    let target = shell_path(&meta.path, paths);

    if meta.uid != 0 && meta.uid != user_uid {
        let (user, group) = user_and_group(user_uid);
        out.push(
            Finding::new(
                "wrong-owner",
                Severity::Error,
                format!("{shown} belongs to another user"),
            )
            .explain(format!(
                "{} Only you (or root) may own it. This typically follows a copy or restore done \
                 as another user, or a home directory created by an admin. Changing the owner \
                 back needs root.",
                role.consequence()
            ))
            .evidence(format!("{shown}: owner uid {}", meta.uid))
            .evidence(format!("expected owner: uid {user_uid} ({user}) or root"))
            .fix(
                Fix::new(
                    FixId::Chown,
                    format!("Give {shown} back to {user}"),
                    format!("sudo chown {user}:{group} {target}"),
                )
                .on_path(&meta.path),
            ),
        );
    }

    let other_w = meta.mode & 0o002 != 0;
    let group_w = meta.mode & 0o020 != 0;
    if !other_w && !group_w {
        return out;
    }
    // Debian's patched ssh/sshd accept g+w when the group is the owner's private group.
    let private_group = group_w && !other_w && group_is_private(meta.gid, meta.uid);
    let severity = if private_group {
        Severity::Warning
    } else {
        Severity::Error
    };
    let who = if other_w {
        "anyone"
    } else {
        "other members of its group"
    };
    let debian = if private_group {
        " Only the group may write here and that group has no other members; Debian and \
         Ubuntu's OpenSSH accept that, upstream OpenSSH and other systems do not."
    } else if group_w && !other_w {
        " Debian and Ubuntu accept group-writable files only when the group has no other \
         members, which is not the case here."
    } else {
        ""
    };
    out.push(
        Finding::new(
            role.id(),
            severity,
            format!("{shown} is writable by {who} (mode {mode})"),
        )
        .explain(format!("{}{debian}", role.consequence()))
        .evidence(format!("{shown}: mode {mode}"))
        .evidence(format!("required: {}", role.required()))
        .fix(
            Fix::new(
                role.fix_id(),
                format!("Remove write access for others from {shown}"),
                format!("chmod {} {target}", role.chmod()),
            )
            .on_path(&meta.path),
        ),
    );
    out
}

// --- The password and group databases, for names in fixes and Debian's group rule. -------------

/// (user name, primary group name) for the `chown` fix; numbers when the names are unknown.
fn user_and_group(uid: u32) -> (String, String) {
    match crate::sys::user_by_uid(uid) {
        Some((name, gid)) => {
            let group = crate::sys::group_by_gid(gid)
                .map(|(g, _)| g)
                .unwrap_or_else(|| gid.to_string());
            (name, group)
        }
        None => (uid.to_string(), uid.to_string()),
    }
}

/// Debian's rule: a group-writable file is safe when its group has exactly one possible member,
/// the file's owner (listed alone, or no listed members and it is the owner's primary group).
fn group_is_private(gid: u32, owner: u32) -> bool {
    let (Some((owner_name, owner_gid)), Some((_, members))) = (
        crate::sys::user_by_uid(owner),
        crate::sys::group_by_gid(gid),
    ) else {
        return false;
    };
    match members.as_slice() {
        [] => owner_gid == gid,
        [only] => *only == owner_name,
        _ => false,
    }
}

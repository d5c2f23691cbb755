//! StrictModes: sshd's `safe_path` walk from `authorized_keys` up to the home directory (or to
//! `/`), the [`Violation`]s it finds, and the finding each one becomes.
//!
//! Why a module of its own: with `StrictModes yes` one wrong owner or one writable directory
//! makes sshd refuse every key and log a single vague line, while the client sees only
//! "Permission denied (publickey)". The walk here applies sshd's own checks to every path at once
//! so each can be named and fixed; the `stat` it needs is passed in, so it stays testable.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::passwd::PwEntry;
use crate::finding::{mode_string, shell_quote, Finding, Fix, FixTarget, ModeChange, Severity};
use crate::fix_id::FixId;

/// What `stat` says about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileStat {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub is_dir: bool,
    pub is_file: bool,
}

/// Which place on the way to authorized_keys a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    AuthorizedKeys,
    SshDir,
    Home,
    DirInHome,
    ParentDir,
}

impl Role {
    fn words(self) -> &'static str {
        match self {
            Role::AuthorizedKeys => "authorized_keys file",
            Role::SshDir => "~/.ssh directory",
            Role::Home => "home directory",
            Role::DirInHome => "directory",
            Role::ParentDir => "parent directory",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// Owned by someone other than the user or root.
    Owner,
    /// Group- or world-writable.
    Mode,
    /// The authorized_keys path is not a regular file.
    NotAFile,
    /// A directory on the way cannot be stat'ed.
    Missing,
}

/// One StrictModes refusal reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub path: PathBuf,
    pub role: Role,
    pub problem: Problem,
    pub stat: Option<FileStat>,
}

/// Applies sshd's `safe_path` to an authorized_keys file (already made canonical): the file must
/// be a regular file, and it and each directory above it must be owned by root or the user and
/// not group/world-writable (`group_ok` says when group-write is acceptable: Debian's private
/// group rule). Like sshd, the walk stops after the home directory when the file is inside it,
/// and otherwise goes up to `/`. sshd stops at the first failure; this returns all of them so
/// every one can be fixed at once, in sshd's order (the first is the one sshd logs).
pub fn strict_modes_walk(
    file: &Path,
    home: &Path,
    uid: u32,
    stat: &dyn Fn(&Path) -> Option<FileStat>,
    group_ok: &dyn Fn(&FileStat) -> bool,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let role_of = |p: &Path| {
        if p == file {
            Role::AuthorizedKeys
        } else if p == home {
            Role::Home
        } else if p == home.join(".ssh") {
            Role::SshDir
        } else if p.starts_with(home) {
            Role::DirInHome
        } else {
            Role::ParentDir
        }
    };
    let check = |st: &FileStat| -> Option<Problem> {
        if st.uid != 0 && st.uid != uid {
            Some(Problem::Owner)
        } else if st.mode & 0o002 != 0 || (st.mode & 0o020 != 0 && !group_ok(st)) {
            Some(Problem::Mode)
        } else {
            None
        }
    };
    match stat(file) {
        Some(st) if !st.is_file => out.push(Violation {
            path: file.to_path_buf(),
            role: Role::AuthorizedKeys,
            problem: Problem::NotAFile,
            stat: Some(st),
        }),
        Some(st) => {
            if let Some(problem) = check(&st) {
                out.push(Violation {
                    path: file.to_path_buf(),
                    role: Role::AuthorizedKeys,
                    problem,
                    stat: Some(st),
                });
            }
        }
        None => return out,
    }
    let under_home = file.starts_with(home);
    let mut cur = file.parent();
    while let Some(dir) = cur {
        match stat(dir) {
            None => out.push(Violation {
                path: dir.to_path_buf(),
                role: role_of(dir),
                problem: Problem::Missing,
                stat: None,
            }),
            Some(st) => {
                if let Some(problem) = check(&st) {
                    out.push(Violation {
                        path: dir.to_path_buf(),
                        role: role_of(dir),
                        problem,
                        stat: Some(st),
                    });
                }
            }
        }
        if under_home && dir == home {
            break;
        }
        cur = dir.parent();
    }
    out
}

pub(super) fn violation_finding(v: &Violation, user: &PwEntry, strict: bool) -> Finding {
    let p = v.path.display().to_string();
    let q = shell_quote(&p);
    let sev = if strict {
        Severity::Error
    } else {
        Severity::Warning
    };
    let refuse = if strict {
        "With StrictModes yes, sshd refuses every key in authorized_keys because of this and \
         logs only \"Authentication refused: bad ownership or modes\"; the client just sees \
         \"Permission denied (publickey)\"."
    } else {
        "StrictModes is off, so sshd accepts it today, but anyone who can write here can add \
         their own key and log in as this user."
    };
    let mode = v.stat.map(|s| mode_string(s.mode)).unwrap_or_default();
    match v.problem {
        Problem::Mode => {
            let (fix_id, change, cmd, title) = match v.role {
                Role::AuthorizedKeys => (
                    FixId::Chmod600,
                    ModeChange::Set(0o600),
                    format!("chmod 600 {q}"),
                    "Make it readable and writable by the owner only",
                ),
                Role::SshDir => (
                    FixId::Chmod700,
                    ModeChange::Set(0o700),
                    format!("chmod 700 {q}"),
                    "Make ~/.ssh private to its owner",
                ),
                _ => (
                    FixId::ChmodGoW,
                    ModeChange::ClearGroupOtherWrite,
                    format!("chmod go-w {q}"),
                    "Remove write permission for group and others",
                ),
            };
            Finding::new(
                "strictmodes-mode",
                sev,
                format!(
                    "The {} {p} is writable by others (mode {mode})",
                    v.role.words()
                ),
            )
            .explain(format!(
                "sshd insists that the authorized_keys file and every directory leading to it \
                 are writable only by the user (or root): otherwise someone else could slip in \
                 a key. {refuse}"
            ))
            .evidence(format!("{p}: mode {mode}"))
            .fix(Fix::new(fix_id, title, cmd).on(FixTarget::Mode {
                path: v.path.clone(),
                change,
            }))
        }
        Problem::Owner => {
            let owner = if matches!(v.role, Role::ParentDir) {
                "root".to_string()
            } else {
                user.name.clone()
            };
            let uid = v.stat.map(|s| s.uid.to_string()).unwrap_or_default();
            Finding::new(
                "strictmodes-owner",
                sev,
                format!(
                    "The {} {p} belongs to someone else (uid {uid})",
                    v.role.words()
                ),
            )
            .explain(format!(
                "sshd only trusts authorized_keys and the directories above it when they belong \
                 to the user or to root; another owner could change them. This usually happens \
                 after copying files as root or restoring a backup. {refuse}"
            ))
            .evidence(format!("{p}: owner uid {uid}, mode {mode}"))
            .fix(Fix::new(
                FixId::Chown,
                format!("Give it to {owner}"),
                format!("chown {} {q}", shell_quote(&owner)),
            ))
        }
        Problem::NotAFile => Finding::new(
            "strictmodes-not-a-file",
            sev,
            format!("{p} is not a regular file"),
        )
        .explain(
            "sshd reads keys only from a regular file; a directory or device at this path \
             means no key is ever accepted from it.",
        )
        .evidence(format!("{p}: mode {mode}")),
        Problem::Missing => Finding::new(
            "strictmodes-missing-dir",
            sev,
            format!("The {} {p} cannot be read", v.role.words()),
        )
        .explain("sshd must be able to stat every directory on the way to authorized_keys.")
        .evidence(p),
    }
}

pub(super) fn stat_of(p: &Path) -> Option<FileStat> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).ok()?;
    Some(FileStat {
        uid: m.uid(),
        gid: m.gid(),
        mode: m.mode() & 0o7777,
        is_dir: m.is_dir(),
        is_file: m.is_file(),
    })
}

/// The OpenSSH build on this machine carries Debian's private-group exception.
pub(super) fn debian_sshd() -> bool {
    crate::sys::run_bounded(
        std::process::Command::new("ssh").arg("-V"),
        super::HELPER_TIMEOUT,
    )
    .map(|o| {
        let s = String::from_utf8_lossy(&o.stderr);
        s.contains("Debian") || s.contains("Ubuntu")
    })
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(uid: u32, mode: u32, dir: bool) -> FileStat {
        FileStat {
            uid,
            gid: uid,
            mode,
            is_dir: dir,
            is_file: !dir,
        }
    }

    #[test]
    fn walk_stops_at_home_and_names_each_bad_path() {
        let stat = |p: &Path| -> Option<FileStat> {
            Some(match p.to_str()? {
                "/h/u/.ssh/authorized_keys" => st(1000, 0o666, false),
                "/h/u/.ssh" => st(1000, 0o700, true),
                "/h/u" => st(1000, 0o777, true),
                "/h" => st(5, 0o777, true),
                _ => st(0, 0o755, true),
            })
        };
        let v = strict_modes_walk(
            Path::new("/h/u/.ssh/authorized_keys"),
            Path::new("/h/u"),
            1000,
            &stat,
            &|_| false,
        );
        let got: Vec<_> = v
            .iter()
            .map(|v| (v.path.display().to_string(), v.role, v.problem))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "/h/u/.ssh/authorized_keys".into(),
                    Role::AuthorizedKeys,
                    Problem::Mode
                ),
                ("/h/u".into(), Role::Home, Problem::Mode),
            ]
        );
    }
}

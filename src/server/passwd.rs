//! The password and group databases: `/etc/passwd` and `/etc/group` as text, parsed into the
//! account sshd logs in as and its groups, and Debian's "user private group" test.
//!
//! Why a module of its own: sshd's rules are about account facts (the home directory the
//! StrictModes walk stops at, the uid that may own the files, the groups AllowGroups and
//! DenyGroups match), and taking them from text keeps each rule testable without a real account.

use std::path::PathBuf;

use serde::Serialize;

/// One line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PwEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub shell: String,
}

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parses `/etc/passwd`, skipping lines that do not have its seven fields.
pub fn parse_passwd(text: &str) -> Vec<PwEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PwEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: PathBuf::from(f.get(5)?),
                shell: f.get(6)?.to_string(),
            })
        })
        .collect()
}

/// Parses `/etc/group`.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)?
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// The names of the user's groups: the primary one first, then supplementary ones.
pub fn user_groups(user: &PwEntry, groups: &[GroupEntry]) -> Vec<String> {
    let mut out: Vec<String> = groups
        .iter()
        .filter(|g| g.gid == user.gid)
        .map(|g| g.name.clone())
        .take(1)
        .collect();
    for g in groups {
        if g.members.iter().any(|m| m == &user.name) && !out.contains(&g.name) {
            out.push(g.name.clone());
        }
    }
    out
}

/// Debian's `secure_permissions` exception: a group-writable file is acceptable when its group
/// has exactly one member and that member is the file's owner (a "user private group").
pub fn private_group(gid: u32, owner_uid: u32, passwd: &[PwEntry], groups: &[GroupEntry]) -> bool {
    let Some(gr) = groups.iter().find(|g| g.gid == gid) else {
        return false;
    };
    let mut members = 0;
    for pw in passwd.iter().filter(|p| p.gid == gid) {
        members += 1;
        if pw.uid != owner_uid {
            return false;
        }
    }
    let Some(owner) = passwd.iter().find(|p| p.uid == owner_uid) else {
        return false;
    };
    if let Some(first) = gr.members.first() {
        members += 1;
        if first != &owner.name || gr.members.len() > 1 {
            return false;
        }
    }
    members > 0
}

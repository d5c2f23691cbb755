//! The keys a config points ssh at: every `IdentityFile` line (for the key list and for where a
//! key was configured), and the `identity-file-missing` findings for keys that are not there.
//!
//! The lines are read with the same splitter and `Include` rules as the stand-in parser, but in
//! every `Host`/`Match` block: the question is which keys a person configured anywhere, not which
//! ones apply to one host.

use std::path::{Path, PathBuf};

use super::parse::{include_paths, split_config_line};
use super::{lossy, EffectiveConfig, MAX_INCLUDE_DEPTH};
use crate::finding::{shell_quote, Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::paths::SshPaths;

/// Every `IdentityFile` line in the config (or `config_file`) and its Includes, in any Host or
/// Match block, with `~` expanded: the keys a person has pointed ssh at, for the key list.
pub fn all_identity_files(
    paths: &SshPaths,
    config_file: Option<&Path>,
) -> Vec<(PathBuf, usize, PathBuf)> {
    let start = config_file.map_or_else(|| paths.config(), Path::to_path_buf);
    let read = |p: &Path| std::fs::read(p).ok().map(|b| lossy(&b));
    identity_lines(&start, paths, &read)
        .into_iter()
        .map(|(f, l, id)| (f, l, paths.expand_tilde(&id)))
        .collect()
}

/// (config file, line number, raw IdentityFile value) for every IdentityFile line, following
/// every Include whatever block it is in, in reading order (an Include's lines where it stands).
pub(super) fn identity_lines(
    start: &Path,
    paths: &SshPaths,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Vec<(PathBuf, usize, String)> {
    keyword_lines(start, paths, read, "identityfile")
}

/// Every `CertificateFile` line in the config (or `config_file`) and its Includes, in any Host
/// or Match block, with `~` expanded: the certificates a person has pointed ssh at, for the key
/// list (ssh offers each with the private key it certifies).
pub fn all_certificate_files(paths: &SshPaths, config_file: Option<&Path>) -> Vec<PathBuf> {
    let start = config_file.map_or_else(|| paths.config(), Path::to_path_buf);
    let read = |p: &Path| std::fs::read(p).ok().map(|b| lossy(&b));
    let mut out: Vec<PathBuf> = Vec::new();
    for (_, _, c) in keyword_lines(&start, paths, &read, "certificatefile") {
        let p = paths.expand_tilde(&c);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// (config file, line number, raw value) of every line with `keyword` (lowercase), in reading
/// order.
fn keyword_lines(
    start: &Path,
    paths: &SshPaths,
    read: &dyn Fn(&Path) -> Option<String>,
    keyword: &str,
) -> Vec<(PathBuf, usize, String)> {
    let mut out = Vec::new();
    let mut budget = 1024usize;
    identity_lines_into(start, paths, read, keyword, 0, &mut budget, &mut out);
    out
}

/// Depth and a total file budget bound the walk, so an Include loop ends quickly.
fn identity_lines_into(
    file: &Path,
    paths: &SshPaths,
    read: &dyn Fn(&Path) -> Option<String>,
    keyword: &str,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<(PathBuf, usize, String)>,
) {
    if depth > MAX_INCLUDE_DEPTH || *budget == 0 {
        return;
    }
    *budget -= 1;
    let Some(text) = read(file) else {
        return;
    };
    for (i, line) in text.split('\n').enumerate() {
        let line = line.split('\0').next().unwrap_or_default();
        let Some(cl) = split_config_line(line) else {
            continue;
        };
        match cl.keyword.as_str() {
            k if k == keyword => {
                // A file included twice (or a loop) lists each line once.
                let seen = out.iter().any(|(f, l, _)| f == file && *l == i + 1);
                if let (Some(a), false) = (cl.args.first(), seen) {
                    out.push((file.to_path_buf(), i + 1, a.clone()));
                }
            }
            "include" => {
                for pat in &cl.args {
                    for inc in include_paths(pat, paths, true) {
                        identity_lines_into(&inc, paths, read, keyword, depth + 1, budget, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `identity-file-missing` for a key named with `-i` that cannot be read: ssh warns
/// (`Warning: Identity file PATH not accessible: REASON.`) and goes on with its other keys.
pub fn command_line_identity_missing(path: &Path, reason: &str, paths: &SshPaths) -> Finding {
    let shown = paths.display(path);
    Finding::new(
        "identity-file-missing",
        Severity::Warning,
        format!("The key file {shown} given with -i is not there ({reason})"),
    )
    .explain(
        "ssh prints a warning and goes on without it: it tries its other keys (~/.ssh/id_*, \
         the agent's), which may not be the key this server expects. Check the path: a typo, \
         the key on another machine, or the .pub named instead of the private key.",
    )
    .evidence(format!(
        "Warning: Identity file {} not accessible: {reason}.",
        path.display()
    ))
}

/// `identity-file-missing`: an IdentityFile someone configured does not exist. OpenSSH's
/// defaults are not reported (most people have only one of the seven).
pub fn identity_findings(
    cfg: &EffectiveConfig,
    exists: &dyn Fn(&Path) -> bool,
    paths: &SshPaths,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for id in &cfg.explicit_identity_files {
        if exists(id) {
            continue;
        }
        let all_missing = cfg.explicit_identity_files.iter().all(|p| !exists(p));
        let (severity, consequence) = if cfg.identities_only && all_missing {
            (
                Severity::Error,
                "IdentitiesOnly is on and none of the configured keys exists, so ssh offers no key \
                 at all and the server answers \"Permission denied (publickey)\".",
            )
        } else if cfg.identities_only {
            (
                Severity::Warning,
                "IdentitiesOnly is on, so ssh offers only the configured keys that exist; this one \
                 is skipped.",
            )
        } else {
            (
                Severity::Warning,
                "ssh skips it and tries the other keys (and the agent's), which can hit the \
                 server's MaxAuthTries before the right key is offered.",
            )
        };
        let shown = paths.display(id);
        let mut f = Finding::new(
            "identity-file-missing",
            severity,
            format!("The key file {shown} named in the ssh config does not exist"),
        )
        .explain(format!(
            "ssh is told to use {shown} for {host}, but there is no such file. {consequence} \
             Usually the key was renamed, lives on another machine, or the IdentityFile line has \
             a typo.",
            host = cfg.host_alias
        ));
        if let Some(src) = cfg.identity_sources.get(id) {
            f = f.evidence(src.clone());
        }
        f = f.evidence(format!(
            "Warning: Identity file {} not accessible: No such file or directory.",
            id.display()
        ));
        let pub_path = PathBuf::from(format!("{}.pub", id.display()));
        f = f.fix(
            Fix::new(
                FixId::GenerateMissingIdentity,
                format!("Create a new ed25519 key at {shown}"),
                format!(
                    "ssh-keygen -t ed25519 -f {}",
                    shell_quote(&id.display().to_string())
                ),
            )
            .on_path(id),
        );
        if exists(&pub_path) {
            f = f.evidence(format!(
                "{} exists: the private half is what is missing",
                paths.display(&pub_path)
            ));
        }
        out.push(f);
    }
    out
}

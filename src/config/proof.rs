//! Proof before writing: a planned ssh_config edit is run through `ssh -G` (ssh's own reading of
//! the files) before anything is written, and refused unless the option now has the intended
//! value for the target and nothing else changed, for the target or for any other host the files
//! name.
//!
//! The planned and the current files are written to a private temp dir and read with `ssh -G -F
//! COPY NAME`. Their `Include` lines are rewritten to the copies' absolute paths (the set knows
//! what each pattern named), because ssh resolves a relative `Include` against the password
//! database's `~/.ssh`, which is not always the home sshdoctor edits. The names checked are every
//! literal name on a `Host` line, the target, and one name no line mentions (what `Host *` and
//! other patterns give everybody else). Without an ssh client the stand-in parser
//! ([`super::effective_parsed`]) answers the same questions.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::edit::ConfigSet;
use crate::finding::{ConfigSetting, ConfigWant};
use crate::paths::SshPaths;
use crate::target::Target;

/// A name no `Host` line mentions, standing for every other host.
pub const OTHER_HOST: &str = "sshdoctor-other-host.invalid";
const SSH_G_TIMEOUT: Duration = Duration::from_secs(5);
/// How a reading that did not end starts: one is enough to stop (a `Match exec` that hangs
/// would hang every one of them).
const TIMED_OUT: &str = "no answer: ";
/// ssh -G is a process per name and version: enough names to cover a real config, bounded.
const MAX_NAMES: usize = 40;

/// Who the edit is for: the host as typed (`None`: every host), and the user and port the login
/// gives on the command line (a `Match user` may depend on them).
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    pub host: Option<&'a str>,
    pub user: Option<&'a str>,
    pub port: Option<u16>,
}

/// Which reader proved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofSource {
    SshG,
    /// No ssh client here: sshdoctor's own parser.
    Parsed,
}

/// What the proof checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub source: ProofSource,
    /// The host names whose effective configuration was compared.
    pub names: Vec<String>,
}

impl Proof {
    /// One line for the plan.
    pub fn describe(&self) -> String {
        let how = match self.source {
            ProofSource::SshG => "ssh -G",
            ProofSource::Parsed => "sshdoctor's own parser (no ssh client here)",
        };
        format!(
            "checked with {how} on the edited files: the option takes effect for the target; nothing else changes for {}",
            self.names.join(", ")
        )
    }
}

/// One reading of the effective options: lower-case key → values, in ssh's order.
type Options = BTreeMap<String, Vec<String>>;

/// The options ssh would use for one name, read from a variant of the files.
trait Reader {
    fn read(&self, name: &str, target: &ProofTarget) -> Result<Options, String>;
}

struct SshG<'a> {
    ssh: &'a OsStr,
    main: PathBuf,
}

/// `Err(None)`: ssh could not be started at all (then the parser stands in).
fn ssh_g(ssh: &OsStr, main: &Path, name: &str, t: &ProofTarget) -> Result<Options, Option<String>> {
    let mut cmd = Command::new(ssh);
    cmd.arg("-G").arg("-F").arg(main);
    if let Some(u) = t.user {
        cmd.arg("-l").arg(u);
    }
    if let Some(p) = t.port {
        cmd.arg("-p").arg(p.to_string());
    }
    cmd.arg("--").arg(name);
    let ran = match crate::sys::run_bounded(&mut cmd, SSH_G_TIMEOUT) {
        Ok(r) => r,
        Err(crate::sys::RunError::Spawn { .. }) => return Err(None),
        Err(e) => return Err(Some(format!("{TIMED_OUT}{e}"))),
    };
    let out = String::from_utf8_lossy(&ran.stdout);
    if !ran.status.success() || out.trim().is_empty() {
        let err = String::from_utf8_lossy(&ran.stderr);
        let msg: Vec<&str> = err
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Pseudo-terminal"))
            .collect();
        return Err(Some(msg.join("; ")));
    }
    let mut opts = Options::new();
    for line in out.lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        opts.entry(k.to_ascii_lowercase())
            .or_default()
            .push(v.to_string());
    }
    Ok(opts)
}

impl Reader for SshG<'_> {
    fn read(&self, name: &str, t: &ProofTarget) -> Result<Options, String> {
        ssh_g(self.ssh, &self.main, name, t).map_err(|e| e.unwrap_or_default())
    }
}

struct Parsed<'a> {
    set: &'a ConfigSet,
    paths: &'a SshPaths,
}

impl Reader for Parsed<'_> {
    fn read(&self, name: &str, t: &ProofTarget) -> Result<Options, String> {
        let target = Target {
            user: None,
            host: name.to_string(),
            port: None,
        };
        let req = super::ConfigRequest {
            target: &target,
            config_file: Some(&self.set.main),
            port: t.port,
            user: t.user,
            identity_files: &[],
        };
        let read = |p: &Path| {
            self.set
                .files
                .iter()
                .find(|(q, _)| q == p)
                .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        };
        Ok(super::effective_parsed(&req, self.paths, &read).options)
    }
}

/// Writes a variant of the set into `dir` (`0.conf` is the main file), every `Include` naming
/// the copies by absolute path. Returns the main copy.
fn materialize(set: &ConfigSet, dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let copy = |i: usize| dir.join(format!("{i}.conf"));
    for (i, (_, bytes)) in set.files.iter().enumerate() {
        let mut out = Vec::with_capacity(bytes.len());
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            let parsed = super::parse::split_config_line(&text);
            match parsed {
                Some(cl) if cl.keyword == "include" => {
                    let mut files = Vec::new();
                    for pattern in &cl.args {
                        for f in set.includes.get(pattern).into_iter().flatten() {
                            if let Some(j) = set.files.iter().position(|(p, _)| p == f) {
                                files.push(format!("\"{}\"", copy(j).display()));
                            }
                        }
                    }
                    if files.is_empty() {
                        out.extend_from_slice(b"#\n");
                    } else {
                        out.extend_from_slice(format!("Include {}\n", files.join(" ")).as_bytes());
                    }
                }
                _ => out.extend_from_slice(line),
            }
        }
        std::fs::write(copy(i), out)?;
    }
    Ok(copy(0))
}

fn yes_word(v: &str) -> String {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => "yes".into(),
        "no" | "false" => "no".into(),
        other => other.to_string(),
    }
}

/// The keys ssh -G (or the parser) prints for a setting's keyword.
fn keys_of(s: &ConfigSetting) -> Vec<String> {
    let k = s.keyword.to_ascii_lowercase();
    match k.as_str() {
        "pubkeyacceptedalgorithms" | "pubkeyacceptedkeytypes" => {
            vec![
                "pubkeyacceptedalgorithms".into(),
                "pubkeyacceptedkeytypes".into(),
            ]
        }
        _ => vec![k],
    }
}

/// Whether the effective options hold what `s` asks.
fn holds(opts: &Options, s: &ConfigSetting, paths: &SshPaths) -> bool {
    let values: Vec<&String> = keys_of(s)
        .iter()
        .filter_map(|k| opts.get(k))
        .flatten()
        .collect();
    match &s.want {
        ConfigWant::Set(v) => values.first().is_some_and(|x| yes_word(x) == yes_word(v)),
        ConfigWant::InList(item) => values.first().is_some_and(|x| {
            x.trim_start_matches(['+', '^'])
                .split(',')
                .any(|a| a.eq_ignore_ascii_case(item))
        }),
        ConfigWant::Add(v) => {
            let want = paths.expand_tilde(v);
            values
                .iter()
                .any(|x| *x == v || paths.expand_tilde(x) == want || Path::new(x.as_str()) == want)
        }
    }
}

fn without(opts: &Options, settings: &[ConfigSetting]) -> Options {
    let drop: Vec<String> = settings.iter().flat_map(keys_of).collect();
    opts.iter()
        .filter(|(k, _)| !drop.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What differs between two readings, for the refusal.
fn differences(a: &Options, b: &Options) -> String {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .take(3)
        .map(|k| {
            format!(
                "{k} {} -> {}",
                a.get(k)
                    .map(|v| v.join(","))
                    .unwrap_or_else(|| "(unset)".into()),
                b.get(k)
                    .map(|v| v.join(","))
                    .unwrap_or_else(|| "(unset)".into())
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The names the proof compares: the target first, then every literal `Host` name, then one
/// that no line names.
fn names(before: &ConfigSet, after: &ConfigSet, target: &ProofTarget) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(h) = target.host {
        out.push(h.to_string());
    }
    for n in before.host_names().into_iter().chain(after.host_names()) {
        if out.len() >= MAX_NAMES {
            break;
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    if !out.iter().any(|n| n == OTHER_HOST) {
        out.push(OTHER_HOST.to_string());
    }
    out
}

/// Checks a planned edit: for the target every setting holds and nothing else changed; for
/// every other name nothing changed at all. With `host: None` every name is a target. `Err`
/// says why the edit is refused.
pub fn prove(
    before: &ConfigSet,
    after: &ConfigSet,
    target: &ProofTarget,
    settings: &[ConfigSetting],
    paths: &SshPaths,
    ssh: &OsStr,
) -> Result<Proof, String> {
    let dir = tempfile::Builder::new()
        .prefix("sshdoctor-proof-")
        .tempdir()
        .map_err(|e| format!("cannot make a temp dir for the check: {e}"))?;
    let b_main = materialize(before, &dir.path().join("before"))
        .map_err(|e| format!("cannot write the check's copy: {e}"))?;
    let a_main = materialize(after, &dir.path().join("after"))
        .map_err(|e| format!("cannot write the check's copy: {e}"))?;
    let names = names(before, after, target);
    let probe_name = names.first().cloned().unwrap_or_else(|| OTHER_HOST.into());
    let have_ssh = !matches!(ssh_g(ssh, &a_main, &probe_name, target), Err(None));
    let (rb, ra): (Box<dyn Reader + '_>, Box<dyn Reader + '_>) = if have_ssh {
        (
            Box::new(SshG { ssh, main: b_main }),
            Box::new(SshG { ssh, main: a_main }),
        )
    } else {
        (
            Box::new(Parsed { set: before, paths }),
            Box::new(Parsed { set: after, paths }),
        )
    };
    for name in &names {
        let is_target = target.host.is_none_or(|h| h == name);
        let t = if target.host.is_some() && !is_target {
            ProofTarget {
                host: Some(name),
                user: None,
                port: None,
            }
        } else {
            *target
        };
        let b = rb.read(name, &t);
        if let Err(e) = &b {
            if let Some(why) = e.strip_prefix(TIMED_OUT) {
                return Err(format!("{why} (for {name}); nothing was written"));
            }
        }
        let a = ra
            .read(name, &t)
            .map_err(|e| format!("with the edit, ssh refuses the config for {name}: {e}"))?;
        if is_target {
            for s in settings {
                if !holds(&a, s, paths) {
                    return Err(format!(
                        "with the edit, ssh still does not use `{}` for {name}; nothing was written",
                        s.line()
                    ));
                }
            }
            if let Ok(b) = &b {
                let (b, a) = (without(b, settings), without(&a, settings));
                if b != a {
                    return Err(format!(
                        "the edit would change more than asked for {name} ({}); nothing was written",
                        differences(&b, &a)
                    ));
                }
            }
        } else if let Ok(b) = &b {
            if *b != a {
                return Err(format!(
                    "the edit would change the configuration of {name} too ({}); nothing was written",
                    differences(b, &a)
                ));
            }
        }
    }
    Ok(Proof {
        source: if have_ssh {
            ProofSource::SshG
        } else {
            ProofSource::Parsed
        },
        names,
    })
}

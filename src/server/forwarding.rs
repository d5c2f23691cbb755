//! Whether sshd lets a user forward an agent (`ssh -A`), and if not, which setting says no.
//!
//! Three things can refuse it, and the client cannot tell them apart (it only sees the request
//! fail): `AllowAgentForwarding no` and `DisableForwarding yes` in sshd's effective config (Match
//! blocks applied by `sshd -T -C`), and the options on the authorized_keys line of the key that
//! logged in (`no-agent-forwarding`, or `restrict` without a later `agent-forwarding`). This
//! module reads those facts and names the one that applies, with a fix for each.

use serde::Serialize;

use super::diagnose::ServerFacts;
use crate::authorized_keys::{Entry, LineKind};
use crate::finding::{Finding, Fix, Severity};
use crate::fix_id::FixId;

/// What `server --forwarding` reports besides its findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardingSummary {
    /// Whether every setting that applies lets the agent through.
    pub allowed: bool,
    /// `sshd -T`'s `allowagentforwarding` (default yes).
    pub allow_agent_forwarding: String,
    /// `sshd -T`'s `disableforwarding` (default no).
    pub disable_forwarding: String,
    /// Each authorized_keys line of the key in question (every line when no key is known) and
    /// whether its options allow forwarding.
    pub keys: Vec<KeyLineForwarding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyLineForwarding {
    /// `FILE:LINE`, as the fix takes it.
    pub at: String,
    pub fingerprint: String,
    pub allowed: bool,
    /// The option that refuses it: `no-agent-forwarding` or `restrict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_by: Option<String>,
}

/// sshd's rule (`sshauthopt_parse`): the options are applied in order, `restrict` turning every
/// forwarding off and `agent-forwarding` turning it back on, so the last word wins.
pub fn line_refuses(e: &Entry) -> Option<&'static str> {
    let mut refused = None;
    for o in &e.options {
        match o.name.as_str() {
            "no-agent-forwarding" => refused = Some("no-agent-forwarding"),
            "restrict" => refused = Some("restrict"),
            "agent-forwarding" => refused = None,
            _ => {}
        }
    }
    refused
}

/// The line with its options changed so that sshd allows forwarding, every other byte kept:
/// `no-agent-forwarding` is removed (with its comma), and `agent-forwarding` is added at the end
/// of the options when `restrict` would still refuse it. `Err` when there is nothing to change
/// or the options cannot be split losslessly (an unclosed quote).
pub fn allow_agent_forwarding_line(raw: &[u8]) -> Result<Vec<u8>, String> {
    let start = raw
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(raw.len());
    // The options end at the first space or tab outside quotes; split them at unquoted commas.
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    let mut i = start;
    let mut from = start;
    let mut quoted = false;
    let end = loop {
        match raw.get(i) {
            None | Some(b'\n') | Some(b'\r') => {
                if quoted {
                    return Err("an option's quote is never closed".into());
                }
                break i;
            }
            Some(b'\\') if quoted && raw.get(i + 1) == Some(&b'"') => i += 2,
            Some(b'"') => {
                quoted = !quoted;
                i += 1;
            }
            Some(b',') if !quoted => {
                pieces.push((from, i));
                i += 1;
                from = i;
            }
            Some(b' ' | b'\t') if !quoted => break i,
            Some(_) => i += 1,
        }
    };
    pieces.push((from, end));
    let name = |&(a, b): &(usize, usize)| {
        let p = raw.get(a..b).unwrap_or_default();
        let n = p.split(|&c| c == b'=').next().unwrap_or_default();
        String::from_utf8_lossy(n).to_ascii_lowercase()
    };
    // A line whose first word is the key type has no options at all.
    let first = name(&pieces[0]);
    if first.starts_with("ssh-")
        || first.starts_with("ecdsa-")
        || first.starts_with("sk-")
        || first.contains("@openssh.com")
    {
        return Err("the line has no options, so nothing refuses forwarding on it".into());
    }
    let kept: Vec<&(usize, usize)> = pieces
        .iter()
        .filter(|p| name(p) != "no-agent-forwarding")
        .collect();
    let still_restricted = {
        let mut r = false;
        for p in &kept {
            match name(p).as_str() {
                "restrict" => r = true,
                "agent-forwarding" => r = false,
                _ => {}
            }
        }
        r
    };
    if kept.len() == pieces.len() && !still_restricted {
        return Err("the line's options already allow agent forwarding".into());
    }
    let mut opts: Vec<u8> = Vec::new();
    for (n, &&(a, b)) in kept.iter().enumerate() {
        if n > 0 {
            opts.push(b',');
        }
        opts.extend_from_slice(raw.get(a..b).unwrap_or_default());
    }
    if still_restricted {
        if !opts.is_empty() {
            opts.push(b',');
        }
        opts.extend_from_slice(b"agent-forwarding");
    }
    let mut out = raw.get(..start).unwrap_or_default().to_vec();
    if opts.is_empty() {
        // The only option was no-agent-forwarding: the key type now starts the line.
        let rest = raw.get(end..).unwrap_or_default();
        let skip = rest
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(rest.len());
        out.extend_from_slice(rest.get(skip..).unwrap_or_default());
    } else {
        out.extend_from_slice(&opts);
        out.extend_from_slice(raw.get(end..).unwrap_or_default());
    }
    Ok(out)
}

/// The forwarding verdict and its findings for `server --forwarding`.
pub fn forwarding(f: &ServerFacts) -> (ForwardingSummary, Vec<Finding>) {
    let user = &f.user.name;
    let allow = f
        .sshd
        .get("allowagentforwarding")
        .unwrap_or("yes")
        .to_ascii_lowercase();
    let disable = f
        .sshd
        .get("disableforwarding")
        .unwrap_or("no")
        .to_ascii_lowercase();
    let mut out = Vec::new();
    let cfg = f.config_path.display().to_string();
    let sshd_fix = |line: &str| {
        Fix::new(
            FixId::SshdConfigSet,
            format!("Set `{line}` in {cfg} (in the Match block instead, if one sets it)"),
            super::diagnose::prepend_option(f.platform, &f.config_path, line),
        )
    };
    if allow == "no" {
        out.push(
            refused(
                format!("sshd refuses agent forwarding for {user} (AllowAgentForwarding no)"),
                "AllowAgentForwarding no in sshd's effective config (a Match block may set it \
                 for this user or address only) makes sshd refuse every agent request: `ssh -A` \
                 logs in, but on the server SSH_AUTH_SOCK is unset and `ssh-add -l` says it \
                 cannot open a connection.",
            )
            .evidence("sshd effective config: allowagentforwarding no")
            .fix(sshd_fix("AllowAgentForwarding yes"))
            .fixes_from(super::diagnose::reload_fix(f.platform)),
        );
    }
    if disable == "yes" {
        out.push(
            refused(
                format!("sshd refuses all forwarding for {user} (DisableForwarding yes)"),
                "DisableForwarding yes overrides every other forwarding setting (agent, X11, \
                 TCP, streamlocal): AllowAgentForwarding yes is not enough while it is set.",
            )
            .evidence("sshd effective config: disableforwarding yes")
            .fix(sshd_fix("DisableForwarding no"))
            .fixes_from(super::diagnose::reload_fix(f.platform)),
        );
    }
    // The lines of the key in question, or every line when none is known.
    let mut keys = Vec::new();
    for kf in &f.key_files {
        let Some(Ok(ak)) = &kf.content else {
            continue;
        };
        for l in &ak.lines {
            let LineKind::Entry(e) = &l.kind else {
                continue;
            };
            if let Some(w) = &f.wanted {
                if !same_fingerprint(&e.fingerprint, &w.fingerprint) {
                    continue;
                }
            }
            let at = format!("{}:{}", kf.path.display(), l.number);
            let by = line_refuses(e);
            keys.push(KeyLineForwarding {
                at: at.clone(),
                fingerprint: e.fingerprint.clone(),
                allowed: by.is_none(),
                refused_by: by.map(str::to_string),
            });
            let Some(by) = by else { continue };
            let severity = if f.wanted.is_some() {
                Severity::Error
            } else {
                Severity::Warning
            };
            let mut fi = Finding::new(
                "agent-forwarding-disabled",
                severity,
                format!(
                    "The authorized_keys line of {} refuses agent forwarding ({by})",
                    e.fingerprint
                ),
            )
            .explain(if by == "restrict" {
                "`restrict` on an authorized_keys line turns off every forwarding for logins \
                 with that key; `agent-forwarding` after it turns the agent back on for this \
                 key alone."
            } else {
                "`no-agent-forwarding` on an authorized_keys line makes sshd refuse the agent \
                 for logins with that key, whatever sshd_config allows."
            })
            .evidence(format!("{at}: {by}"));
            if let Ok(new) = allow_agent_forwarding_line(&l.raw) {
                fi = fi.fix(
                    Fix::new(
                        FixId::AuthorizedKeyAllowAgentForwarding,
                        format!(
                            "Allow agent forwarding on line {} of {}",
                            l.number,
                            kf.path.display()
                        ),
                        super::commands::replace_line_command(
                            f.platform,
                            &kf.path.display().to_string(),
                            l.number,
                            &new,
                        ),
                    )
                    .on_path(&kf.path),
                );
            }
            if f.wanted.is_none() {
                fi = fi.evidence(
                    "which key logs in is not known (no --key/--pubkey, no accepted key in the \
                     log): this matters only if it is this one",
                );
            }
            out.push(fi);
        }
    }
    let allowed =
        allow != "no" && disable != "yes" && (keys.is_empty() || keys.iter().any(|k| k.allowed));
    if out.is_empty() {
        out.push(
            Finding::new(
                "agent-forwarding-allowed",
                Severity::Info,
                format!("sshd lets {user} forward an agent"),
            )
            .explain(
                "Nothing on this server refuses `ssh -A`. Mind the cost: while you are connected, \
                 root on this server (and anyone who gets your account) can use your agent to \
                 log in wherever your keys work. When the goal is only to reach another server \
                 through this one, `ssh -J this-server other-server` (ProxyJump) needs no \
                 forwarding at all; otherwise `ssh-add -c` makes the agent ask before each use.",
            )
            .evidence(format!(
                "sshd effective config: allowagentforwarding {allow}"
            ))
            .evidence(format!(
                "sshd effective config: disableforwarding {disable}"
            )),
        );
    }
    (
        ForwardingSummary {
            allowed,
            allow_agent_forwarding: allow,
            disable_forwarding: disable,
            keys,
        },
        out,
    )
}

/// `SHA256:x` and `x` name the same key (`--key` may be given either way).
fn same_fingerprint(a: &str, b: &str) -> bool {
    let bare = |s: &str| {
        s.trim()
            .strip_prefix("SHA256:")
            .unwrap_or(s.trim())
            .to_string()
    };
    bare(a) == bare(b)
}

fn refused(title: String, why: &str) -> Finding {
    Finding::new("agent-forwarding-disabled", Severity::Error, title).explain(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorized_keys;

    fn allow(line: &str) -> Result<String, String> {
        allow_agent_forwarding_line(line.as_bytes()).map(|b| String::from_utf8(b).expect("utf8"))
    }

    #[test]
    fn the_refusing_option_is_removed_and_every_other_byte_kept() {
        assert_eq!(
            allow("no-agent-forwarding,from=\"10.0.0.1,::1\" ssh-ed25519 AAAA c\r\n").as_deref(),
            Ok("from=\"10.0.0.1,::1\" ssh-ed25519 AAAA c\r\n")
        );
        assert_eq!(
            allow("from=\"a\",no-agent-forwarding ssh-ed25519 AAAA c\n").as_deref(),
            Ok("from=\"a\" ssh-ed25519 AAAA c\n")
        );
        assert_eq!(
            allow("  no-agent-forwarding\tssh-ed25519 AAAA c").as_deref(),
            Ok("  ssh-ed25519 AAAA c")
        );
        assert_eq!(
            allow("restrict,command=\"a b,c\" ssh-ed25519 AAAA\n").as_deref(),
            Ok("restrict,command=\"a b,c\",agent-forwarding ssh-ed25519 AAAA\n")
        );
        assert_eq!(
            allow("agent-forwarding,restrict ssh-ed25519 AAAA\n").as_deref(),
            Ok("agent-forwarding,restrict,agent-forwarding ssh-ed25519 AAAA\n")
        );
        assert!(allow("ssh-ed25519 AAAA c\n").is_err());
        assert!(allow("restrict,agent-forwarding ssh-ed25519 AAAA\n").is_err());
        assert!(allow("command=\"oops ssh-ed25519 AAAA\n").is_err());
    }

    #[test]
    fn the_last_option_wins_as_in_sshd() {
        let ak = authorized_keys::parse(
            b"restrict,agent-forwarding ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAHQ7fvCo6VlQq2ZlVZyh3tG2Jq3zGBCPo4Tzm3bJjrY a\n\
              agent-forwarding,restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAHQ7fvCo6VlQq2ZlVZyh3tG2Jq3zGBCPo4Tzm3bJjrY b\n\
              no-agent-forwarding ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAHQ7fvCo6VlQq2ZlVZyh3tG2Jq3zGBCPo4Tzm3bJjrY c\n"
                .to_vec(),
        );
        let verdicts: Vec<Option<&str>> = ak.entries().map(line_refuses).collect();
        assert_eq!(
            verdicts,
            [None, Some("restrict"), Some("no-agent-forwarding")]
        );
    }
}

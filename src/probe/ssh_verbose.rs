//! Pure: reads what OpenSSH's client printed (`ssh -v`, `-vvv`, or its plain error lines) and
//! names the cause with the same finding ids the probe uses, ssh's own lines as evidence.
//!
//! Two users: `sshdoctor explain` (a failed `ssh -v` from a CI log or a colleague's paste) and
//! the probe's `ssh-check` stage, which runs the user's ssh once and compares. Both need the
//! same reading, so it lives here, apart from any process or file: lines in, [`SshLog`] and
//! findings out. The messages matched are OpenSSH's, as 9.2 prints them (see the tests); a line
//! this module does not know is kept as it is and never guessed at.

use crate::finding::{Finding, Fix, Severity};
use crate::fix_id::FixId;

use super::diagnose::{self, ConnectFailure, KeyLabel, Mismatch, Target};

/// What one run of ssh said, read line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshLog {
    /// Every line, `\r` and trailing blanks removed, in order.
    pub lines: Vec<String>,
    /// `Authenticated to HOST ([ADDR]:PORT) using "METHOD".`: the login worked.
    pub authenticated: Option<String>,
    /// From `Connecting to HOST [ADDR] port N.` / `Authenticating to HOST:PORT as 'USER'`.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// `Offering public key: FILE TYPE SHA256:... [explicit|agent]`, in order.
    pub offered: Vec<String>,
    /// `Server accepts key: ...`: accepted, yet (when not authenticated) never signed with.
    pub accepted: Vec<String>,
    /// The method list of the final `Permission denied (LIST).`, when ssh gave up on auth.
    pub denied_methods: Option<Vec<String>>,
    /// `Authentications that can continue: LIST` (the last one).
    pub methods: Vec<String>,
}

/// The line without ssh's `debugN: ` prefix.
fn bare(line: &str) -> &str {
    for p in ["debug1: ", "debug2: ", "debug3: "] {
        if let Some(rest) = line.strip_prefix(p) {
            return rest;
        }
    }
    line
}

/// Reads ssh's output (stderr, in practice).
pub fn parse(text: &str) -> SshLog {
    let mut log = SshLog::default();
    for raw in text.lines() {
        let line = raw.trim_end_matches(['\r', ' ', '\t']).to_string();
        if line.is_empty() {
            continue;
        }
        let b = bare(&line);
        if let Some(rest) = b.strip_prefix("Connecting to ") {
            // `HOST [ADDR] port N.`
            let mut words = rest.split_whitespace();
            if let Some(h) = words.next() {
                log.host.get_or_insert_with(|| h.to_string());
            }
            if let Some(p) = rest
                .rsplit_once(" port ")
                .and_then(|(_, p)| p.trim_end_matches('.').parse().ok())
            {
                log.port.get_or_insert(p);
            }
        } else if let Some(rest) = b.strip_prefix("Authenticating to ") {
            // `HOST:PORT as 'USER'`
            if let Some((hp, user)) = rest.rsplit_once(" as ") {
                log.user = Some(user.trim_matches('\'').to_string());
                if let Some((h, p)) = hp.rsplit_once(':') {
                    log.host.get_or_insert_with(|| h.to_string());
                    if let Ok(p) = p.parse() {
                        log.port.get_or_insert(p);
                    }
                }
            }
        } else if let Some(rest) = b.strip_prefix("Offering public key: ") {
            log.offered.push(rest.to_string());
        } else if let Some(rest) = b.strip_prefix("Server accepts key: ") {
            log.accepted.push(rest.to_string());
        } else if let Some(rest) = b.strip_prefix("Authentications that can continue: ") {
            log.methods = split_methods(rest);
        } else if b.starts_with("Authenticated to ") {
            log.authenticated = Some(b.to_string());
        } else if let Some(list) = permission_denied(b) {
            log.denied_methods = Some(list);
        }
        log.lines.push(line);
    }
    log
}

fn split_methods(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect()
}

/// `USER@HOST: Permission denied (LIST).` → LIST.
fn permission_denied(line: &str) -> Option<Vec<String>> {
    let (_, rest) = line.split_once("Permission denied (")?;
    let list = rest.strip_suffix(").").or_else(|| rest.strip_suffix(')'))?;
    Some(split_methods(list))
}

impl SshLog {
    /// Lines as the user reads them: ssh's own messages, not its `debug` chatter.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .map(String::as_str)
            .filter(|l| !l.starts_with("debug") && !l.starts_with("OpenSSH_"))
    }

    fn find(&self, needle: &str) -> Option<&str> {
        self.lines
            .iter()
            .map(|l| bare(l))
            .find(|l| l.contains(needle))
    }

    /// The target as ssh named it, for the findings' wording and fix commands.
    pub fn target(&self, fallback: Option<&Target>) -> Target {
        let host = self
            .host
            .clone()
            .or_else(|| fallback.map(|t| t.host.clone()))
            .unwrap_or_else(|| "the server".into());
        let port = self.port.or(fallback.map(|t| t.port)).unwrap_or(22);
        let user = self
            .user
            .clone()
            .or_else(|| fallback.map(|t| t.user.clone()))
            .unwrap_or_else(|| "USER".into());
        let display = fallback.map(|t| t.display.clone()).unwrap_or_else(|| {
            if port == 22 {
                format!("{user}@{host}")
            } else {
                format!("{user}@{host}:{port}")
            }
        });
        Target {
            host,
            port,
            user,
            display,
        }
    }

    /// Whether ssh stopped because it would have had to ask someone: a key the server accepts
    /// but ssh could not sign with in BatchMode (its passphrase), or only password-like methods
    /// left, which BatchMode never tries.
    pub fn needs_input(&self) -> Option<String> {
        if self.authenticated.is_some() {
            return None;
        }
        // The host is in no known_hosts: run by hand, ssh asks "Are you sure you want to
        // continue connecting?" (the cross-check's StrictHostKeyChecking=yes answers no).
        if self
            .find("REMOTE HOST IDENTIFICATION HAS CHANGED")
            .is_none()
            && self.find("Host key verification failed.").is_some()
            && self.find("host key is known for").is_some()
        {
            return Some(
                "ssh would ask whether to trust the server's host key (it is in no known_hosts)"
                    .into(),
            );
        }
        if let Some(k) = self.accepted.last() {
            return Some(format!(
                "the server accepts {}; ssh needs its passphrase (or the private key) to sign",
                key_name(k)
            ));
        }
        let denied = self.denied_methods.as_ref()?;
        (denied
            .iter()
            .any(|m| m == "password" || m == "keyboard-interactive"))
        .then(|| {
            format!(
                "ssh would ask for a password (server offers {})",
                denied.join(",")
            )
        })
    }
}

/// The file (or agent comment) of an `Offering public key:` / `Server accepts key:` line.
fn key_name(rest: &str) -> String {
    // `FILE TYPE SHA256:... [explicit|agent]`; FILE may hold spaces, so cut at the fingerprint.
    match rest.find(" SHA256:") {
        Some(i) => {
            let head = &rest[..i];
            head.rsplit_once(' ')
                .map(|(file, _type)| file.to_string())
                .unwrap_or_else(|| head.to_string())
        }
        None => rest.to_string(),
    }
}

fn key_label(rest: &str) -> KeyLabel {
    let name = key_name(rest);
    let fingerprint = rest
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or("")
        .to_string();
    let key_type = rest
        .find(" SHA256:")
        .and_then(|i| rest[..i].rsplit(' ').next())
        .unwrap_or("")
        .to_string();
    let agent = rest.ends_with(" agent");
    KeyLabel {
        name: if agent {
            format!("agent: {name}")
        } else {
            name.clone()
        },
        path: (!agent).then_some(name),
        fingerprint,
        key_type,
        local_problem: None,
    }
}

fn quoted(f: Finding, lines: &[&str]) -> Finding {
    lines.iter().fold(f, |f, l| {
        f.evidence(format!("ssh: {}", crate::safe_text::printable(l)))
    })
}

/// The findings ssh's output supports, worst first; `auth-ok` when it logged in. `fallback`
/// names the target when the output does not (no `-v`). Lines ssh printed as warnings on the
/// way (a key it could not load, a missing identity file) are reported next to the failure.
pub fn findings(log: &SshLog, fallback: Option<&Target>) -> Vec<Finding> {
    let t = log.target(fallback);
    let mut out = key_file_findings(log);
    if log.authenticated.is_some() {
        // ssh skipped those files and still got in with another key: worth fixing, not fatal.
        for f in &mut out {
            f.severity = Severity::Warning;
        }
    }
    if let Some(f) = failure(log, &t) {
        out.push(f);
    } else if let Some(line) = &log.authenticated {
        let mut f = Finding::new(
            "auth-ok",
            Severity::Info,
            format!("ssh logged in to {} as {}", t.host, t.user),
        );
        if let Some(k) = log.accepted.last() {
            f = f.evidence(format!("accepted: {}", key_label(k).name));
        }
        out.push(quoted(f, &[line]));
    }
    crate::finding::sort_worst_first(&mut out);
    out
}

/// The key files ssh complained about while loading them.
fn key_file_findings(log: &SshLog) -> Vec<Finding> {
    let mut out = Vec::new();
    for l in log.lines.iter().map(|l| bare(l)) {
        if let Some(rest) = l.strip_prefix("Load key \"") {
            let Some((file, why)) = rest.split_once("\": ") else {
                continue;
            };
            let f = if why == "bad permissions" {
                Finding::new(
                    "private-key-permissions",
                    Severity::Error,
                    format!("ssh ignores {file}: others can read it"),
                )
                .explain(
                    "ssh refuses a private key that the group or others may read (\"UNPROTECTED \
                     PRIVATE KEY FILE!\") and goes on without it.",
                )
                .fix(
                    Fix::new(
                        FixId::ChmodPrivateKey,
                        "Make the key readable by you only",
                        format!("chmod 600 {}", crate::finding::shell_quote(file)),
                    )
                    .on_path(file),
                )
            } else {
                Finding::new(
                    "key-format-damaged",
                    Severity::Error,
                    format!("ssh cannot load the key {file} ({why})"),
                )
                .explain(
                    "ssh read the file and refused it, so it skipped the key. \"error in \
                     libcrypto\" and \"invalid format\" mean the file is not in a layout \
                     OpenSSH reads: Windows line ends, no final newline, text around the key, a \
                     PuTTY .ppk, or a public key given as the identity. `sshdoctor keys` names \
                     which, and `sshdoctor check` offers the repair.",
                )
                .fix(Fix::new(
                    FixId::InspectFile,
                    "See what is wrong with the file",
                    "sshdoctor keys",
                ))
            };
            out.push(quoted(f, &[l]));
        } else if let Some(rest) = l.strip_prefix("Warning: Identity file ") {
            let file = rest.split(" not accessible").next().unwrap_or(rest);
            let f = Finding::new(
                "identity-file-missing",
                Severity::Warning,
                format!("ssh cannot open the identity file {file}"),
            )
            .explain(
                "ssh warns and goes on with its other keys; the one named here is never offered.",
            );
            out.push(quoted(f, &[l]));
        }
    }
    out
}

/// The one cause of failure, in the order ssh meets them: its config, DNS, TCP, the banner,
/// key exchange, the host key, then authentication.
fn failure(log: &SshLog, t: &Target) -> Option<Finding> {
    if let Some(l) = log.find("Bad configuration option") {
        let f = Finding::new(
            "ssh-config-rejected",
            Severity::Error,
            "ssh stops at its configuration: an option it does not know",
        )
        .explain(
            "ssh refuses to run at all while a config file it reads has a line it does not \
             understand (a typo, an option from a newer or an Apple OpenSSH). Every ssh command \
             fails until the line is fixed or `IgnoreUnknown` names it.",
        );
        return Some(quoted(f, &[l]));
    }
    if let Some(l) = log.find("Could not resolve hostname ") {
        let error = l.rsplit_once(": ").map(|(_, e)| e).unwrap_or(l);
        return Some(quoted(diagnose::dns_failure(t, error), &[l]));
    }
    if let Some(l) =
        log.lines.iter().map(|l| bare(l)).find(|l| {
            l.starts_with("ssh: connect to host ") || l.starts_with("connect to address ")
        })
    {
        let kind = if l.ends_with("Connection refused") {
            ConnectFailure::Refused
        } else if l.ends_with("Connection timed out") || l.ends_with("Operation timed out") {
            ConnectFailure::Timeout
        } else if l.ends_with("Network is unreachable") || l.ends_with("No route to host") {
            ConnectFailure::Unreachable
        } else {
            ConnectFailure::Other
        };
        return Some(quoted(diagnose::connect_failure(t, kind, &[]), &[l]));
    }
    if let Some(l) = log.find("Connection timed out during banner exchange") {
        return Some(quoted(
            Finding {
                evidence: Vec::new(),
                ..diagnose::banner_timeout(t, 0.0)
            },
            &[l],
        ));
    }
    if let Some(l) = log
        .find("Bad remote protocol version identification")
        .or_else(|| log.find("banner line contains invalid characters"))
        .or_else(|| log.find("invalid SSH identification string"))
    {
        return Some(quoted(
            diagnose::not_ssh(t, "something that is not sshd", None),
            &[l],
        ));
    }
    if let Some(l) = log.find("Unable to negotiate with ") {
        return Some(quoted(mismatch(t, l), &[l]));
    }
    if log.find("REMOTE HOST IDENTIFICATION HAS CHANGED").is_some() {
        return Some(host_key_changed(log, t));
    }
    if let Some(l) = log.find("REVOKED HOST KEY DETECTED") {
        let f = Finding::new(
            "host-key-revoked",
            Severity::Error,
            format!("{} shows a host key that is marked @revoked", t.host),
        )
        .explain(
            "A known_hosts line marks this exact key as revoked, and ssh refuses it: either the \
             server still runs with a retired key, or someone uses the leaked key to impersonate it.",
        );
        return Some(quoted(f, &[l]));
    }
    if let Some(l) = log.find("Host key verification failed.") {
        let why: Vec<&str> = log
            .lines
            .iter()
            .map(|l| bare(l))
            .filter(|l| {
                l.starts_with("No ") && l.contains("host key is known for")
                    || l.starts_with("The authenticity of host")
            })
            .collect();
        let fp = log
            .find("Server host key: ")
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("SHA256:")))
            .unwrap_or("(fingerprint not in the output: run ssh -v)");
        let kt = log
            .find("Server host key: ")
            .and_then(|l| l.split_whitespace().nth(3))
            .unwrap_or("unknown type");
        let mut lines = why;
        lines.push(l);
        let f = Finding {
            severity: Severity::Error,
            ..diagnose::host_key_unknown(t, fp, kt)
        };
        return Some(quoted(f, &lines));
    }
    if let Some(l) = log.find("Too many authentication failures") {
        let mut f = Finding::new(
            "too-many-auth-failures",
            Severity::Error,
            "The server hung up with \"Too many authentication failures\"",
        )
        .explain(
            "ssh offers every key it has, one after the other, and the server counts each \
             refused key as a failed attempt; after MaxAuthTries it hangs up, often before the \
             key that works was asked about. Offer only the right key: `IdentitiesOnly yes` and \
             its `IdentityFile` under the host's `Host` block.",
        );
        for k in &log.offered {
            f = f.evidence(format!("offered: {}", key_label(k).name));
        }
        return Some(quoted(f, &[l]));
    }
    let no_mutual = log.find("no mutual signature algorithm");
    let denied = log.denied_methods.clone();
    if let (Some(l), Some(_)) = (no_mutual, &denied) {
        return Some(quoted(
            rsa_sha1_required_from_log(t),
            &[l, log.find("Permission denied").unwrap_or("")],
        ));
    }
    // `Skipping ssh-ed25519 key FILE - corresponding algo not in PubkeyAcceptedAlgorithms`:
    // the client's own config kept the key back.
    let skipped: Vec<&str> = log
        .lines
        .iter()
        .map(|l| bare(l))
        .filter(|l| l.starts_with("Skipping ") && l.contains("not in PubkeyAcceptedAlgorithms"))
        .collect();
    if let (false, true, Some(_)) = (skipped.is_empty(), log.offered.is_empty(), &denied) {
        let labels: Vec<KeyLabel> = skipped
            .iter()
            .filter_map(|l| {
                let mut w = l.split_whitespace().skip(1);
                let key_type = w.next()?.to_string();
                let file = l.split_once(" key ")?.1.rsplit_once(" - ")?.0.to_string();
                Some(KeyLabel {
                    name: file.clone(),
                    path: Some(file),
                    fingerprint: String::new(),
                    key_type,
                    local_problem: None,
                })
            })
            .collect();
        let mut f = diagnose::pubkey_algorithm_excluded(t, &labels, &[], None);
        f.evidence
            .retain(|e| !e.starts_with("PubkeyAcceptedAlgorithms: "));
        let mut lines = skipped.clone();
        lines.push(log.find("Permission denied").unwrap_or(""));
        return Some(quoted(f, &lines));
    }
    if let Some(methods) = denied {
        let l = log.find("Permission denied").unwrap_or("Permission denied");
        let f = if methods.is_empty() {
            diagnose::no_auth_methods(t)
        } else if !methods.iter().any(|m| m == "publickey") {
            Finding {
                evidence: Vec::new(),
                ..diagnose::password_only(t, &methods)
            }
        } else if let Some(k) = log.accepted.last() {
            let key = key_label(k);
            let mut f = diagnose::encrypted_key_no_agent(t, &key);
            f.severity = Severity::Error;
            f.title = format!(
                "{} accepts {}, but ssh could not sign with it",
                t.host, key.name
            );
            f.explanation = "The server said yes to the key, then ssh had nothing to sign \
                with: the key is protected by a passphrase that could not be asked (BatchMode, \
                no terminal) and no agent holds it, or only the public half exists. Load it \
                into the agent, or run ssh where it can ask."
                .into();
            f.evidence.clear();
            f
        } else if log.offered.is_empty() {
            diagnose::no_usable_key(t, diagnose::takes_password(&methods))
        } else {
            let tried: Vec<KeyLabel> = log.offered.iter().map(|k| key_label(k)).collect();
            diagnose::key_rejected(t, &tried, diagnose::takes_password(&methods))
        };
        return Some(quoted(f, &[l]));
    }
    if log.authenticated.is_some() {
        return None;
    }
    let closed = log
        .find("kex_exchange_identification: ")
        .or_else(|| log.find("Connection closed by "))
        .or_else(|| log.find("Connection reset by "))
        .or_else(|| log.find("Received disconnect from "));
    if let Some(l) = closed {
        let when = if l.starts_with("kex_exchange_identification") {
            "before saying anything"
        } else {
            "before the login completed"
        };
        return Some(quoted(diagnose::connection_closed(t, when, &[]), &[l]));
    }
    None
}

/// `Unable to negotiate with H port P: no matching KIND found. Their offer: LIST`.
fn mismatch(t: &Target, line: &str) -> Finding {
    let kind_word = line
        .split_once("no matching ")
        .and_then(|(_, r)| r.split_once(" found"))
        .map(|(k, _)| k)
        .unwrap_or("");
    let (kind, keyword) = match kind_word {
        "key exchange method" => ("kex", "KexAlgorithms"),
        "host key type" => ("host key", "HostKeyAlgorithms"),
        "cipher" => ("cipher", "Ciphers"),
        _ => ("MAC", "MACs"),
    };
    let theirs: Vec<String> = line
        .split_once("Their offer: ")
        .map(|(_, o)| split_methods(o))
        .unwrap_or_default()
        .into_iter()
        .filter(|a| !a.starts_with("kex-strict-") && !a.starts_with("ext-info-"))
        .collect();
    let mut f = diagnose::algorithm_mismatch(
        t,
        &Mismatch {
            kind: kind.into(),
            keyword: keyword.into(),
            ours: Vec::new(),
            theirs,
            local_ssh: None,
        },
    );
    f.evidence.retain(|e| !e.starts_with("sshdoctor offers"));
    f
}

fn host_key_changed(log: &SshLog, t: &Target) -> Finding {
    let fp = log
        .lines
        .iter()
        .map(|l| bare(l))
        .find(|l| l.starts_with("SHA256:"))
        .map(|l| l.trim_end_matches('.').to_string());
    let offending = log.find("Offending ");
    let mut f = Finding::new(
        "host-key-changed",
        Severity::Error,
        format!(
            "The server's host key is not the one known for {}",
            t.known_hosts_name()
        ),
    )
    .explain(
        "known_hosts remembers the key this server showed before, and it now shows another: \
         it was reinstalled, its administrator rotated the host key, or someone is intercepting \
         the connection (man-in-the-middle). Only someone who can check the server's key by \
         another way can tell. Remove the old key only after confirming the new fingerprint.",
    );
    if let Some(fp) = &fp {
        f = f.evidence(format!("server now shows: {fp}"));
    }
    // `Offending ED25519 key in FILE:N`: the line to remove.
    if let Some((file, _line)) = offending
        .and_then(|l| l.split_once(" key in "))
        .and_then(|(_, r)| r.rsplit_once(':'))
    {
        f = f.fix(
            Fix::new(
                FixId::RemoveOldHostKey,
                "After confirming the new fingerprint with the server's administrator, remove the old key",
                format!(
                    "ssh-keygen -f {} -R {}",
                    crate::finding::shell_quote(file),
                    crate::finding::shell_quote(&t.known_hosts_name())
                ),
            )
            .destructive(),
        );
    }
    let lines: Vec<&str> = [
        log.find("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        offending,
        log.find("Host key verification failed."),
    ]
    .into_iter()
    .flatten()
    .collect();
    quoted(f, &lines)
}

/// `rsa-sha1-required` as ssh's output shows it: `send_pubkey_test: no mutual signature
/// algorithm`, then `Permission denied`.
fn rsa_sha1_required_from_log(t: &Target) -> Finding {
    diagnose::rsa_sha1_required(t, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<String> {
        findings(&parse(text), None)
            .into_iter()
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn the_target_comes_from_ssh_s_own_lines() {
        let log = parse(
            "debug1: Connecting to 127.0.0.1 [127.0.0.1] port 2222.\r\n\
             debug1: Authenticating to 127.0.0.1:2222 as 'root'\r\n",
        );
        let t = log.target(None);
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_str()),
            ("127.0.0.1", 2222, "root")
        );
    }

    #[test]
    fn plain_error_lines_are_enough() {
        assert_eq!(
            ids("ssh: connect to host 127.0.0.1 port 2223: Connection refused\r\n"),
            ["connection-refused"]
        );
        assert_eq!(
            ids("ssh: Could not resolve hostname nosuch.invalid: Name or service not known\r\n"),
            ["dns-failure"]
        );
        assert_eq!(
            ids("Unable to negotiate with 127.0.0.1 port 2301: no matching host key type found. Their offer: ssh-rsa\r\n"),
            ["algorithm-mismatch"]
        );
        assert_eq!(
            ids("Received disconnect from 127.0.0.1 port 2302:2: Too many authentication failures\r\nDisconnected from 127.0.0.1 port 2302\r\n"),
            ["too-many-auth-failures"]
        );
        assert_eq!(
            ids("root@127.0.0.1: Permission denied (publickey).\r\n"),
            ["no-usable-key"]
        );
        assert_eq!(
            ids("root@h: Permission denied ().\r\n"),
            ["no-auth-methods"]
        );
        assert_eq!(
            ids("root@h: Permission denied (password,keyboard-interactive).\r\n"),
            ["password-only"]
        );
        assert!(ids("hello\nworld\n").is_empty());
    }

    #[test]
    fn a_key_offered_and_refused_is_key_rejected_and_a_load_error_is_named() {
        let text = "Load key \"/h/.ssh/id_ed25519\": error in libcrypto\r\n\
             debug1: Offering public key: /h/.ssh/id_rsa RSA SHA256:abc explicit\r\n\
             debug1: Authentications that can continue: publickey\r\n\
             root@127.0.0.1: Permission denied (publickey).\r\n";
        let f = findings(&parse(text), None);
        let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["key-format-damaged", "key-rejected"]);
        assert!(f[1].evidence.iter().any(|e| e.contains("/h/.ssh/id_rsa")));
        assert!(f[1]
            .evidence
            .iter()
            .any(|e| e == "ssh: root@127.0.0.1: Permission denied (publickey)."));
    }

    #[test]
    fn an_accepted_key_ssh_cannot_sign_with_needs_input() {
        let log = parse(
            "debug1: Server accepts key: /t/enc ED25519 SHA256:Ih explicit\n\
             debug1: No more authentication methods to try.\n\
             root@127.0.0.1: Permission denied (publickey).\n",
        );
        assert!(log.needs_input().is_some_and(|w| w.contains("/t/enc")));
        assert_eq!(findings(&log, None)[0].id, "encrypted-key-no-agent");
    }

    #[test]
    fn a_key_the_client_config_skips_is_named() {
        let f = &findings(
            &parse(
                "debug1: Skipping ssh-ed25519 key /t/user - corresponding algo not in PubkeyAcceptedAlgorithms\n\
                 root@127.0.0.1: Permission denied (publickey).\n",
            ),
            None,
        )[0];
        assert_eq!(f.id, "pubkey-algorithm-excluded");
        assert!(f
            .evidence
            .iter()
            .any(|e| e == "skipped: /t/user (ssh-ed25519)"));
        assert!(f.fixes[0].title.contains("+ssh-ed25519"));
    }

    #[test]
    fn a_login_is_auth_ok() {
        let log = parse("Authenticated to 127.0.0.1 ([127.0.0.1]:2222) using \"publickey\".\r\n");
        assert!(log.authenticated.is_some());
        assert_eq!(findings(&log, None)[0].id, "auth-ok");
        assert!(log.needs_input().is_none());
        // A key ssh could not load on the way is a warning when another key got in.
        let log = parse(
            "Load key \"/h/a\": invalid format\n\
             Authenticated to h ([h]:22) using \"publickey\".\n",
        );
        let f = findings(&log, None);
        assert_eq!(f[0].id, "key-format-damaged");
        assert_eq!(f[0].severity, Severity::Warning);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(text in "\\PC{0,400}", lines in proptest::collection::vec(
            proptest::sample::select(vec![
                "debug1: Offering public key: ",
                "debug1: Server accepts key: ",
                "Load key \"",
                "Permission denied (",
                "Unable to negotiate with x port 1: no matching ",
                "debug1: Connecting to ",
                "debug1: Authenticating to ",
                "Offending ",
                "Skipping ",
                "Their offer: ",
                " SHA256:",
            ]),
            0..12,
        )) {
            let mixed: String = lines.iter().map(|l| format!("{l}{text}\n")).collect();
            let log = parse(&mixed);
            let _ = findings(&log, None);
            let _ = log.needs_input();
        }
    }

    #[test]
    fn changed_host_key_names_the_offending_line() {
        let text = "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n\
            SHA256:VYqviyJwLUzhyOz0cc3u6nRrzDprfkgk7tytzT6kjuk.\n\
            Offending ED25519 key in /home/u/.ssh/known_hosts:3\r\n\
            Host key verification failed.\r\n";
        let f = &findings(&parse(text), None)[0];
        assert_eq!(f.id, "host-key-changed");
        assert!(f.evidence.iter().any(|e| e.contains("VYqviy")));
        assert!(f.fixes[0].command.contains("/home/u/.ssh/known_hosts"));
    }
}

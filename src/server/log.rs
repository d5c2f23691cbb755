//! sshd's log: finding it (the given file, the journal, `auth.log` or `secure`), splitting each
//! line into its time and message, and recognising the messages that explain a refusal as
//! [`LogEvent`]s.
//!
//! Why a module of its own: sshd tells the client nothing and writes the real reason here, in
//! a dozen fixed phrasings; `diagnose` turns the recognised events into evidence, and `inspect`
//! uses them to guess the key and the client in question when none was given.

use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use super::ServerError;
use crate::platform::Platform;

/// One log line: its time (as written) and sshd's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub time: Option<String>,
    pub message: String,
    pub raw: String,
}

impl LogLine {
    pub(super) fn evidence(&self) -> String {
        match &self.time {
            Some(t) => format!("log {t}: {}", self.message),
            None => format!("log: {}", self.message),
        }
    }
}

/// What a log line says, for the lines that diagnose something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LogEvent {
    BadModes {
        path: String,
    },
    FailedPublickey {
        user: String,
        from: String,
        key_type: String,
        fingerprint: String,
    },
    AcceptedPublickey {
        user: String,
        from: String,
        fingerprint: String,
    },
    NotAllowed {
        user: String,
        from: String,
        reason: String,
    },
    AccountLocked {
        user: String,
    },
    RootRefused {
        from: String,
    },
    MaxAuthTries {
        user: String,
        from: String,
    },
    UnableToNegotiate {
        from: String,
        what: String,
    },
    NotPermittedHost {
        user: String,
        ip: String,
    },
    InvalidUser {
        user: String,
        from: String,
    },
    /// sshd opens authorized_keys with the user's rights; this is what it says when it cannot.
    CouldNotOpen {
        user: String,
        path: String,
        error: String,
    },
    /// `userauth_pubkey: signature algorithm ssh-ed25519 not in PubkeyAcceptedAlgorithms`.
    AlgorithmNotAccepted {
        algorithm: String,
    },
}

impl LogEvent {
    pub(super) fn user(&self) -> Option<&str> {
        match self {
            LogEvent::FailedPublickey { user, .. }
            | LogEvent::AcceptedPublickey { user, .. }
            | LogEvent::NotAllowed { user, .. }
            | LogEvent::AccountLocked { user }
            | LogEvent::MaxAuthTries { user, .. }
            | LogEvent::NotPermittedHost { user, .. }
            | LogEvent::InvalidUser { user, .. }
            | LogEvent::CouldNotOpen { user, .. } => Some(user),
            LogEvent::RootRefused { .. } => Some("root"),
            _ => None,
        }
    }

    pub(super) fn from(&self) -> Option<&str> {
        match self {
            LogEvent::FailedPublickey { from, .. }
            | LogEvent::AcceptedPublickey { from, .. }
            | LogEvent::NotAllowed { from, .. }
            | LogEvent::RootRefused { from }
            | LogEvent::MaxAuthTries { from, .. }
            | LogEvent::UnableToNegotiate { from, .. }
            | LogEvent::InvalidUser { from, .. } => Some(from),
            LogEvent::NotPermittedHost { ip, .. } => Some(ip),
            _ => None,
        }
    }
}

fn re(cell: &'static OnceLock<Option<Regex>>, pat: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pat).ok()).as_ref()
}

/// Splits a log line into its time and message. Understands syslog (`Mar  5 10:00:00 host
/// sshd[1]: ...`), ISO (`2024-03-05T10:00:00.123+00:00 host sshd[1]: ...`, journalctl
/// `short-iso`), macOS's `log show --style syslog` (`2024-03-05 10:00:00.123456+0100  host
/// sshd[1]: (libpam.2.dylib) ...`, the sender image in parentheses dropped) and the bare lines
/// `sshd -E FILE` writes. Lines from other programs are `None`.
pub fn parse_log_line(line: &str) -> Option<LogLine> {
    static PREFIX: OnceLock<Option<Regex>> = OnceLock::new();
    let line = line.trim_end_matches(['\r', '\n']);
    let prefix = re(
        &PREFIX,
        r"^(\d{4}-\d\d-\d\dT\S+|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\S*|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\s+\S+\s+([\w.@-]+)(?:\[\d+\])?:\s?(?:\([\w.+-]+\) )?(.*)$",
    )?;
    match prefix.captures(line) {
        Some(c) => {
            let prog = c.get(2).map(|m| m.as_str()).unwrap_or("");
            if !prog.starts_with("sshd") {
                return None;
            }
            Some(LogLine {
                time: c.get(1).map(|m| m.as_str().to_string()),
                message: c.get(3).map(|m| m.as_str().to_string()).unwrap_or_default(),
                raw: line.to_string(),
            })
        }
        None => Some(LogLine {
            time: None,
            message: line.to_string(),
            raw: line.to_string(),
        }),
    }
}

/// Recognises the sshd messages that explain a refusal.
pub fn classify(message: &str) -> Option<LogEvent> {
    static PATS: OnceLock<Option<Vec<Regex>>> = OnceLock::new();
    let pats = PATS
        .get_or_init(|| {
            [
                r"^Authentication refused: bad ownership or modes for (?:file|directory) (.+?)\s*$",
                r"^Failed publickey for (?:invalid user )?(\S+) from (\S+) port \d+ ssh2: (\S+) (SHA256:\S+)",
                r"^Accepted publickey for (\S+) from (\S+) port \d+ ssh2: \S+ (SHA256:\S+)",
                r"^User (\S+) from (\S+) not allowed because (.+?)\s*$",
                r"^User (\S+) not allowed because account is locked",
                r"^ROOT LOGIN REFUSED FROM (\S+)",
                r"^maximum authentication attempts exceeded for (?:invalid user )?(\S+) from (\S+)",
                r"^Unable to negotiate with (\S+) port \d+: (.+?)(?: \[preauth\])?\s*$",
                r"^(?:\S+: )?Authentication tried for (\S+) with correct key but not from a permitted host \(host=[^,]*, ip=([^,)\s]+)",
                r"^Invalid user (\S*) from (\S+)",
                r"^Could not open user '([^']+)' authorized keys '(.+)': (.+?)\s*$",
                r"^(?:userauth_pubkey: )?(?:signature algorithm|key type) (\S+) not in PubkeyAcceptedAlgorithms",
            ]
            .iter()
            .map(|p| Regex::new(p).ok())
            .collect()
        })
        .as_ref()?;
    for (i, r) in pats.iter().enumerate() {
        let Some(c) = r.captures(message) else {
            continue;
        };
        let g = |n: usize| c.get(n).map(|m| m.as_str().to_string()).unwrap_or_default();
        return Some(match i {
            0 => LogEvent::BadModes { path: g(1) },
            1 => LogEvent::FailedPublickey {
                user: g(1),
                from: g(2),
                key_type: g(3),
                fingerprint: g(4),
            },
            2 => LogEvent::AcceptedPublickey {
                user: g(1),
                from: g(2),
                fingerprint: g(3),
            },
            3 => LogEvent::NotAllowed {
                user: g(1),
                from: g(2),
                reason: g(3),
            },
            4 => LogEvent::AccountLocked { user: g(1) },
            5 => LogEvent::RootRefused { from: g(1) },
            6 => LogEvent::MaxAuthTries {
                user: g(1),
                from: g(2),
            },
            7 => LogEvent::UnableToNegotiate {
                from: g(1),
                what: g(2),
            },
            8 => LogEvent::NotPermittedHost {
                user: g(1),
                ip: g(2),
            },
            9 => LogEvent::InvalidUser {
                user: g(1),
                from: g(2),
            },
            10 => LogEvent::CouldNotOpen {
                user: g(1),
                path: g(2),
                error: g(3),
            },
            _ => LogEvent::AlgorithmNotAccepted { algorithm: g(1) },
        });
    }
    None
}

/// The tail of a file, at most `max` bytes, cut at a line start.
fn read_tail(p: &Path, max: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(p)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let s = String::from_utf8_lossy(&buf).into_owned();
    Ok(if start > 0 {
        s.split_once('\n')
            .map(|(_, r)| r.to_string())
            .unwrap_or_default()
    } else {
        s
    })
}

/// Recent sshd log text: the given file, else the system's log (macOS: the unified log
/// through `log show`; elsewhere the journal), else auth.log/secure.
pub(super) fn system_log(
    explicit: Option<&Path>,
    platform: Platform,
) -> Result<String, ServerError> {
    if let Some(p) = explicit {
        return read_tail(p, 4 << 20).map_err(|source| ServerError::Read {
            path: p.display().to_string(),
            source,
        });
    }
    if platform == Platform::MacOs {
        // sshd logs through syslog at "info", which `log show` leaves out without --info;
        // OpenSSH 9.8 and later log the session half as `sshd-session`, hence BEGINSWITH.
        let ran = crate::sys::run_bounded(
            std::process::Command::new("log").args([
                "show",
                "--style",
                "syslog",
                "--info",
                "--last",
                "1h",
                "--predicate",
                "process BEGINSWITH \"sshd\"",
            ]),
            super::HELPER_TIMEOUT,
        );
        return Ok(match ran {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            _ => String::new(),
        });
    }
    if let Ok(o) = crate::sys::run_bounded(
        std::process::Command::new("journalctl").args([
            "-u",
            "ssh",
            "-u",
            "sshd",
            "-n",
            "2000",
            "--no-pager",
            "-o",
            "short-iso",
        ]),
        super::HELPER_TIMEOUT,
    ) {
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        if o.status.success() && s.lines().any(|l| l.contains("sshd")) {
            return Ok(s);
        }
    }
    for p in ["/var/log/auth.log", "/var/log/secure"] {
        if let Ok(s) = read_tail(Path::new(p), 4 << 20) {
            return Ok(s);
        }
    }
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macos_log_show_lines_are_read_like_syslog() {
        let l = parse_log_line("2024-03-05 10:00:00.123456+0100  mac sshd-session[812]: Failed publickey for bob from 192.168.1.5 port 50000 ssh2: ED25519 SHA256:abc").expect("sshd line");
        assert_eq!(l.time.as_deref(), Some("2024-03-05 10:00:00.123456+0100"));
        assert!(
            matches!(classify(&l.message), Some(LogEvent::FailedPublickey { user, .. }) if user == "bob")
        );
        let pam = parse_log_line("2024-03-05 10:00:01.000001+0100  mac sshd[90]: (libpam.2.dylib) User bob from 10.0.0.2 not allowed because not listed in AllowUsers").expect("sshd line");
        assert!(matches!(
            classify(&pam.message),
            Some(LogEvent::NotAllowed { .. })
        ));
        assert!(parse_log_line("2024-03-05 10:00:00.1+0100  mac loginwindow[1]: x").is_none());
    }

    #[test]
    fn log_lines_classify() {
        let l = parse_log_line("2024-03-05T10:00:00+0000 host sshd[12]: User bob from 127.0.0.1 not allowed because not listed in AllowUsers").expect("sshd line");
        assert_eq!(l.time.as_deref(), Some("2024-03-05T10:00:00+0000"));
        assert!(
            matches!(classify(&l.message), Some(LogEvent::NotAllowed { user, .. }) if user == "bob")
        );
        assert!(parse_log_line("Mar  5 10:00:00 host cron[1]: x").is_none());
        assert!(matches!(
            classify("/srv/l/ak:1: Authentication tried for u with correct key but not from a permitted host (host=127.0.0.1, ip=127.0.0.1, required=10.0.0.1)."),
            Some(LogEvent::NotPermittedHost { user, ip }) if user == "u" && ip == "127.0.0.1"
        ));
        assert!(matches!(
            classify("Could not open user 'u' authorized keys '/h/u/.ssh/authorized_keys': Permission denied"),
            Some(LogEvent::CouldNotOpen { path, .. }) if path == "/h/u/.ssh/authorized_keys"
        ));
        assert!(matches!(
            classify("Authentication refused: bad ownership or modes for directory /srv/x/home/u"),
            Some(LogEvent::BadModes { path }) if path == "/srv/x/home/u"
        ));
    }
}

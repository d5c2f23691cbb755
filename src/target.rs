//! What the user typed as the place to log in (`[user@]host[:port]`, `[v6]:port`, `ssh://...`, a
//! config alias), checked and split into user, host and port.
//!
//! Its own module because every front end needs it before anything else (the CLI commands, the
//! dashboard, the fix targets, `ProxyJump` hops), and it reads no file: the config module only
//! takes a parsed [`Target`] and works out what ssh will do with it.

use serde::Serialize;

/// Where the user wants to log in, as typed: `[user@]host[:port]`, `[v6]:port`, a bare IPv6
/// address, an `ssh://` URI or a config alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Why a target string was refused. Each message names the mistake, not just "invalid".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("no host given: expected [user@]host[:port]")]
    Empty,
    #[error("the user name before '@' is empty in {0:?}: expected user@host")]
    EmptyUser(String),
    #[error("the host name is empty in {0:?}")]
    EmptyHost(String),
    #[error("bad port {port:?} in {input:?}: a port is a number from 1 to 65535")]
    BadPort { input: String, port: String },
    #[error("unbalanced brackets in {0:?}: write an IPv6 address with a port as [addr]:port")]
    BadBrackets(String),
    #[error("{0:?} contains spaces or control characters, which no host name has")]
    BadCharacters(String),
    #[error("host {0:?} starts with '-', which ssh would read as an option")]
    LeadingDash(String),
}

/// Parses what the user typed after `sshdoctor`. ssh itself does not accept `host:port`; we do,
/// because people paste it from URLs and known_hosts, and hand the port to ssh as `-p`.
pub fn parse_target(s: &str) -> Result<Target, TargetError> {
    if s.trim().is_empty() {
        return Err(TargetError::Empty);
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TargetError::BadCharacters(s.to_string()));
    }
    let body = s.strip_prefix("ssh://").unwrap_or(s);
    let body = body.strip_suffix('/').unwrap_or(body);
    // ssh splits the user at the last '@' (user names may contain '@', host names may not).
    let (user, rest) = match body.rsplit_once('@') {
        Some(("", _)) => return Err(TargetError::EmptyUser(s.to_string())),
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, body),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| TargetError::BadBrackets(s.to_string()))?;
        if addr.contains('[') || addr.contains(']') || after.contains(']') {
            return Err(TargetError::BadBrackets(s.to_string()));
        }
        let port = match after {
            "" => None,
            a => match a.strip_prefix(':') {
                Some(p) => Some(parse_port(s, p)?),
                None => return Err(TargetError::BadBrackets(s.to_string())),
            },
        };
        (addr.to_string(), port)
    } else if rest.contains(']') {
        return Err(TargetError::BadBrackets(s.to_string()));
    } else if rest.matches(':').count() >= 2 {
        // A bare IPv6 address: every colon belongs to the address.
        (rest.to_string(), None)
    } else if let Some((h, p)) = rest.split_once(':') {
        (h.to_string(), Some(parse_port(s, p)?))
    } else {
        (rest.to_string(), None)
    };
    if host.is_empty() {
        return Err(TargetError::EmptyHost(s.to_string()));
    }
    if host.starts_with('-') {
        return Err(TargetError::LeadingDash(host));
    }
    Ok(Target { user, host, port })
}

fn parse_port(input: &str, p: &str) -> Result<u16, TargetError> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(TargetError::BadPort {
            input: input.to_string(),
            port: p.to_string(),
        }),
    }
}

//! Fetch a server's host key the way `ssh-keyscan` does: resolve, connect, exchange
//! identification strings, run the key exchange (which makes the server prove it holds the key),
//! then hang up. No authentication is attempted, so a scan of a thousand hosts leaves no failed
//! logins in their logs.
//!
//! This reuses the probe's handler (which records the key in `check_server_key`) and its
//! recording stream (which keeps the server's first bytes so a non-SSH answer can be named), so
//! `scan` and `probe` see a server identically.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client;
use russh::keys::ssh_key::{Algorithm, PublicKey};
use tokio::net::TcpStream;

use super::handler::{ProbeHandler, Seen};
use super::wire::{self, BannerKind, Recorder};

/// A host key as the server proved it.
#[derive(Debug, Clone)]
pub struct ScannedKey {
    /// The address that answered.
    pub addr: SocketAddr,
    /// The server's identification line (`SSH-2.0-OpenSSH_9.2p1 ...`), control characters escaped.
    pub banner: String,
    pub key: PublicKey,
}

/// Why no host key was had, in the categories a fleet report needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyscanFailure {
    /// The name did not resolve (or resolution took longer than the timeout).
    Dns(String),
    /// Every address refused the TCP connection: the host is up, nothing listens on the port.
    Refused(String),
    /// No route, or no answer to the TCP connection within the timeout.
    Unreachable(String),
    /// TCP connected, but no identification string arrived within the timeout.
    Timeout(String),
    /// TCP connected and the peer closed without identifying itself.
    Closed(String),
    /// Something answered that is not an SSH-2 server; `what` in plain words, `line` its first
    /// line when there is one.
    NotSsh { what: String, line: Option<String> },
    /// An SSH server, but the key exchange failed (no common algorithm, bad signature, ...).
    Handshake { banner: String, error: String },
}

impl std::fmt::Display for KeyscanFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyscanFailure::Dns(d)
            | KeyscanFailure::Refused(d)
            | KeyscanFailure::Unreachable(d)
            | KeyscanFailure::Timeout(d)
            | KeyscanFailure::Closed(d) => f.write_str(d),
            KeyscanFailure::NotSsh { what, line } => match line {
                Some(l) => write!(f, "{what} answered: {l}"),
                None => write!(f, "{what} answered"),
            },
            KeyscanFailure::Handshake { error, .. } => write!(f, "SSH handshake failed: {error}"),
        }
    }
}

/// Connects to `host:port`, runs the key exchange and returns the host key, all within `timeout`
/// (one budget for the whole attempt, like `ssh-keyscan -T`).
///
/// `known_types` are the key algorithms known_hosts already holds for this host: as OpenSSH's
/// `order_hostkeyalgs` does, host key algorithms of those types are offered first, so a server
/// with several keys presents the one ssh would check, and "changed" means what it means to ssh.
pub async fn fetch_host_key(
    host: &str,
    port: u16,
    known_types: &[Algorithm],
    timeout: Duration,
) -> Result<ScannedKey, KeyscanFailure> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let secs = timeout.as_secs_f64();

    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(left(), tokio::net::lookup_host((host, port))).await {
            Ok(Ok(it)) => it.collect(),
            Ok(Err(e)) => return Err(KeyscanFailure::Dns(format!("{host}: {e}"))),
            Err(_) => {
                return Err(KeyscanFailure::Dns(format!(
                    "{host}: no DNS answer within {secs:.1} s"
                )))
            }
        };
    if addrs.is_empty() {
        return Err(KeyscanFailure::Dns(format!("{host}: no addresses")));
    }

    let mut refused = Vec::new();
    let mut other = Vec::new();
    let mut stream = None;
    for addr in &addrs {
        match tokio::time::timeout(left(), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                stream = Some((*addr, s));
                break;
            }
            Ok(Err(e)) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                refused.push(format!("{addr}: {e}"))
            }
            Ok(Err(e)) => other.push(format!("{addr}: {e}")),
            Err(_) => other.push(format!("{addr}: no answer within {secs:.1} s")),
        }
    }
    let Some((addr, stream)) = stream else {
        // A refusal proves the machine is up, which says more than a timeout elsewhere.
        return Err(if other.is_empty() {
            KeyscanFailure::Refused(refused.join("; "))
        } else {
            refused.extend(other);
            KeyscanFailure::Unreachable(refused.join("; "))
        });
    };

    // russh runs the session on a task of its own, which can outlive this future when the
    // timeout drops it, and the socket with it: past the scan's concurrency bound. A second
    // handle on the same socket shuts it down when this call ends, however it ends.
    let (stream, _closer) = match Closer::wrap(stream) {
        Ok(pair) => pair,
        Err(e) => return Err(KeyscanFailure::Unreachable(format!("{addr}: {e}"))),
    };
    let (rec, log) = Recorder::new(stream);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let handler = ProbeHandler(Arc::clone(&seen));
    let result = tokio::time::timeout(
        left(),
        client::connect_stream(keyscan_config(known_types, left()), rec, handler),
    )
    .await;
    let bytes = log.lock().map(|r| r.bytes.clone()).unwrap_or_default();
    let key = seen.lock().ok().and_then(|s| s.host_key.clone());
    let banner = match wire::classify(&bytes) {
        BannerKind::Ssh2(id) => id,
        BannerKind::Empty => {
            return Err(match result {
                Err(_) => KeyscanFailure::Timeout(format!(
                    "{addr}: connected, but no SSH identification within {secs:.1} s"
                )),
                Ok(_) => KeyscanFailure::Closed(format!(
                    "{addr}: closed the connection without identifying itself"
                )),
            })
        }
        kind => return Err(not_ssh(kind)),
    };
    match result {
        Ok(Ok(handle)) => {
            let _ = handle
                .disconnect(russh::Disconnect::ByApplication, "", "")
                .await;
            match key {
                Some(key) => Ok(ScannedKey { addr, banner, key }),
                None => Err(KeyscanFailure::Handshake {
                    banner,
                    error: "the key exchange finished without a host key".into(),
                }),
            }
        }
        Ok(Err(e)) => Err(KeyscanFailure::Handshake {
            banner,
            error: e.to_string(),
        }),
        Err(_) => Err(KeyscanFailure::Handshake {
            banner,
            error: format!("the key exchange did not finish within {secs:.1} s"),
        }),
    }
}

fn not_ssh(kind: BannerKind) -> KeyscanFailure {
    let (what, line) = match kind {
        BannerKind::Http(l) => ("a web server (HTTP)", Some(l)),
        BannerKind::Tls => ("a TLS server (HTTPS or similar)", None),
        BannerKind::Ssh1(l) => ("an SSH protocol 1 server", Some(l)),
        BannerKind::Other(l) => ("something that is not SSH", Some(l)),
        BannerKind::Ssh2(_) | BannerKind::Empty => ("something that is not SSH", None),
    };
    KeyscanFailure::NotSsh {
        what: what.to_string(),
        line,
    }
}

/// Whether two algorithms name the same kind of key (all RSA signature hashes are one RSA key).
fn same_key_type(a: &Algorithm, b: &Algorithm) -> bool {
    match (a, b) {
        (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
        _ => a == b,
    }
}

/// A duplicate handle on a connection's socket that shuts the connection down when dropped.
/// (A duplicate, not the descriptor number: that number may already belong to another socket
/// by the time the session task lets go of it.)
struct Closer(std::net::TcpStream);

impl Closer {
    fn wrap(stream: TcpStream) -> std::io::Result<(TcpStream, Closer)> {
        let std = stream.into_std()?;
        let dup = std.try_clone()?;
        Ok((TcpStream::from_std(std)?, Closer(dup)))
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// russh's defaults without SHA-1 `ssh-rsa` (as OpenSSH 8.8+), known key types first.
///
/// `inactivity_timeout` matters: russh runs the session in a task of its own once the server has
/// identified itself, and that task outlives a caller that gave up waiting; without a limit a
/// server that stalls mid-exchange would keep its connection open past the scan's concurrency
/// bound and until the program ends.
fn keyscan_config(known_types: &[Algorithm], timeout: Duration) -> Arc<client::Config> {
    let mut preferred = russh::Preferred::default();
    let all: Vec<Algorithm> = preferred
        .key
        .iter()
        .filter(|a| a.as_str() != "ssh-rsa")
        .cloned()
        .collect();
    let (mut keys, rest): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|a| known_types.iter().any(|k| same_key_type(a, k)));
    keys.extend(rest);
    preferred.key = keys.into();
    Arc::new(client::Config {
        preferred,
        client_id: russh::SshId::Standard(
            concat!("SSH-2.0-sshdoctor_", env!("CARGO_PKG_VERSION")).into(),
        ),
        inactivity_timeout: Some(timeout),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::ssh_key::HashAlg;

    #[test]
    fn known_types_come_first_and_rsa_hashes_count_as_rsa() {
        let cfg = keyscan_config(&[Algorithm::Rsa { hash: None }], Duration::from_secs(1));
        let first = cfg.preferred.key.first().cloned();
        assert!(matches!(first, Some(Algorithm::Rsa { hash: Some(_) })));
        assert!(!cfg.preferred.key.iter().any(|a| a.as_str() == "ssh-rsa"));
        let cfg = keyscan_config(&[Algorithm::Ed25519], Duration::from_secs(1));
        assert_eq!(cfg.preferred.key.first(), Some(&Algorithm::Ed25519));
        assert!(cfg.preferred.key.contains(&Algorithm::Rsa {
            hash: Some(HashAlg::Sha512)
        }));
    }
}

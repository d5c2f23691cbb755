//! The fixes that talk to something other than a file: reading a server's host key (so the user
//! sees its fingerprint before trusting it), installing a public key on a server (what
//! `ssh-copy-id` does) and adding a key to the running agent.
//!
//! Passwords and passphrases come in as [`Secret`]s and go only to the server or the key
//! decoder; no message built here contains one.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::ssh_key::{HashAlg, PrivateKey, PublicKey};
use russh::keys::PublicKeyOrCertificate;
use russh::ChannelMsg;

use super::plan::key_text;
use super::secret::Secret;
use crate::known_hosts::{self, HostKeyStatus};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts any host key during the exchange and records it; the caller decides with the
/// known_hosts file *before* sending anything secret.
struct Recorder {
    key: Arc<Mutex<Option<PublicKey>>>,
}

impl client::Handler for Recorder {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if let Ok(mut slot) = self.key.lock() {
            *slot = Some(crate::probe::presented_key(key));
        }
        Ok(true)
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the network runtime: {e}"))
}

async fn connect(host: &str, port: u16) -> anyhow::Result<(Handle<Recorder>, PublicKey)> {
    let slot = Arc::new(Mutex::new(None));
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "{host} port {port}: no answer within {}s",
            CONNECT_TIMEOUT.as_secs()
        )
    })?
    .map_err(|e| anyhow::anyhow!("{host} port {port}: {e}"))?;
    let config = Arc::new(client::Config::default());
    let handler = Recorder { key: slot.clone() };
    let handle = tokio::time::timeout(
        CONNECT_TIMEOUT,
        client::connect_stream(config, stream, handler),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "{host} port {port}: the SSH handshake did not finish within {}s",
            CONNECT_TIMEOUT.as_secs()
        )
    })?
    .map_err(|e| anyhow::anyhow!("{host} port {port}: SSH handshake failed: {e}"))?;
    let key = slot
        .lock()
        .ok()
        .and_then(|mut s| s.take())
        .ok_or_else(|| anyhow::anyhow!("{host} port {port}: the server showed no host key"))?;
    Ok((handle, key))
}

async fn bye(handle: &Handle<Recorder>) {
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "")
        .await;
}

/// Connects, completes the key exchange (which proves the server holds the key) and returns
/// the server's host key, as `sshdoctor scan` fetches it (`probe::keyscan`). Nothing is
/// authenticated and nothing is trusted.
pub fn fetch_host_key(host: &str, port: u16) -> anyhow::Result<PublicKey> {
    runtime()?
        .block_on(crate::probe::keyscan::fetch_host_key(
            host,
            port,
            &[],
            CONNECT_TIMEOUT,
        ))
        .map(|scanned| scanned.key)
        .map_err(|e| anyhow::anyhow!("{host} port {port}: {e}"))
}

/// Where to install the key: the server, and the known_hosts content its host key must match
/// before anything secret is asked for or sent.
pub struct CopyIdTarget<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub known_hosts: &'a [u8],
}

/// What to install, with the password for the installing login.
pub struct CopyIdRequest<'a> {
    /// The `.pub` line to install.
    pub public_key: &'a PublicKey,
    pub comment: Option<&'a str>,
    pub password: &'a Secret,
    /// The private key for the verifying login; `None` skips verification.
    pub private_key: Option<&'a PrivateKey>,
}

/// A connection to the server whose host key has been checked against known_hosts and which
/// has said how `user` may log in, kept open while the user types the password: so no
/// password is asked for a server that is unknown, changed, or takes no password at all.
pub struct CopyIdSession<'a> {
    rt: tokio::runtime::Runtime,
    handle: Handle<Recorder>,
    target: CopyIdTarget<'a>,
    /// What the server offers this user (`None`: it let the user in without any method).
    pub offered: Option<Vec<String>>,
}

impl<'a> CopyIdSession<'a> {
    /// Connects, checks the host key (before anything secret is asked) and asks the server
    /// which login methods it offers.
    pub fn open(target: CopyIdTarget<'a>) -> anyhow::Result<CopyIdSession<'a>> {
        let rt = runtime()?;
        let (handle, offered) = rt.block_on(async {
            let (mut handle, host_key) = connect(target.host, target.port).await?;
            if let Err(e) = host_key_check(&target, &host_key) {
                bye(&handle).await;
                return Err(e);
            }
            let offered = offered_methods(&mut handle, target.user).await?;
            Ok::<_, anyhow::Error>((handle, offered))
        })?;
        Ok(CopyIdSession {
            rt,
            handle,
            target,
            offered,
        })
    }

    /// Whether the server would take a password for this user (password or
    /// keyboard-interactive), or needs none at all.
    pub fn takes_password(&self) -> bool {
        match &self.offered {
            None => true,
            Some(m) => m
                .iter()
                .any(|m| m == "password" || m == "keyboard-interactive"),
        }
    }

    /// What the server offers, for messages (`publickey`, or `nothing`).
    pub fn offered_text(&self) -> String {
        match &self.offered {
            None => "no login needed".into(),
            Some(m) if m.is_empty() => "nothing".into(),
            Some(m) => m.join(","),
        }
    }

    /// Logs in with the password, installs the key idempotently, then (with a private key)
    /// logs in again with the key to prove it works.
    pub fn install(self, req: &CopyIdRequest) -> anyhow::Result<CopyIdOutcome> {
        let CopyIdSession {
            rt,
            mut handle,
            target,
            offered,
        } = self;
        let line = match req.comment.filter(|c| !c.is_empty()) {
            Some(c) => format!("{} {c}", key_text(req.public_key)),
            None => key_text(req.public_key),
        };
        let blob = key_text(req.public_key)
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        rt.block_on(async {
            if let Some(offered) = &offered {
                password_login(&mut handle, target.host, target.user, offered, req.password)
                    .await?;
            }
            let added = run_install(&handle, &line, &blob).await?;
            bye(&handle).await;
            let verified = match req.private_key {
                Some(k) => Some(key_login(&target, k).await?),
                None => None,
            };
            Ok(CopyIdOutcome { added, verified })
        })
    }
}

/// What `copy-id` achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyIdOutcome {
    /// False when the key was already in authorized_keys.
    pub added: bool,
    /// `Some(true)` when a login with the key then succeeded.
    pub verified: Option<bool>,
}

/// The fixed POSIX shell snippet run on the server. It reads the key line and the key's base64
/// on stdin (never on the command line, so no quoting and nothing in `ps`), creates `~/.ssh`
/// (0700) and `authorized_keys` (0600) under `umask 077` only if missing, adds a newline if the
/// file lacks a final one, and appends the key unless its base64 is already there.
pub const INSTALL_SNIPPET: &str =
    "umask 077; IFS= read -r line || exit 3; IFS= read -r blob || exit 3; \
cd || exit 4; mkdir -p .ssh || exit 5; f=.ssh/authorized_keys; \
if [ -f \"$f\" ] && grep -qF -- \"$blob\" \"$f\"; then echo present; exit 0; fi; \
if [ -s \"$f\" ] && [ -n \"$(tail -c 1 \"$f\")\" ]; then echo >> \"$f\" || exit 6; fi; \
printf '%s\\n' \"$line\" >> \"$f\" || exit 6; echo added";

fn host_key_check(req: &CopyIdTarget, key: &PublicKey) -> anyhow::Result<()> {
    let kh = known_hosts::parse(req.known_hosts.to_vec());
    let fp = key.fingerprint(HashAlg::Sha256);
    match known_hosts::check_host_key(&kh, req.host, req.port, key) {
        HostKeyStatus::Match { .. } => Ok(()),
        HostKeyStatus::Unknown => anyhow::bail!(
            "the host key of {} ({fp}) is not in known_hosts; no password was sent. Check the fingerprint and trust it first (sshdoctor fix trust-host-key {}:{})",
            req.host, req.host, req.port
        ),
        HostKeyStatus::Changed { line, old_fingerprint, .. } => anyhow::bail!(
            "the host key of {} CHANGED (known_hosts line {line} has {old_fingerprint}, the server shows {fp}); no password was sent: this is what a man-in-the-middle looks like",
            req.host
        ),
        HostKeyStatus::Revoked { line } => anyhow::bail!(
            "the host key of {} is marked @revoked (known_hosts line {line}); no password was sent",
            req.host
        ),
    }
}

/// The login methods the server offers `user` (from a `none` request), or `None` when it let
/// the user in without any.
async fn offered_methods(
    handle: &mut Handle<Recorder>,
    user: &str,
) -> anyhow::Result<Option<Vec<String>>> {
    Ok(match handle.authenticate_none(user).await? {
        AuthResult::Success => None,
        AuthResult::Failure {
            remaining_methods, ..
        } => Some(
            remaining_methods
                .iter()
                .map(|m| <&str>::from(m).to_string())
                .collect(),
        ),
    })
}

async fn password_login(
    handle: &mut Handle<Recorder>,
    host: &str,
    user: &str,
    offered: &[String],
    password: &Secret,
) -> anyhow::Result<()> {
    let offered: Vec<&str> = offered.iter().map(String::as_str).collect();
    if offered.contains(&"password") {
        if let AuthResult::Success = handle
            .authenticate_password(user, password.as_str())
            .await?
        {
            return Ok(());
        }
    }
    if offered.contains(&"keyboard-interactive") {
        let mut answer = handle
            .authenticate_keyboard_interactive_start(user, None)
            .await?;
        for _ in 0..5 {
            match answer {
                KeyboardInteractiveAuthResponse::Success => return Ok(()),
                KeyboardInteractiveAuthResponse::Failure { .. } => break,
                KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                    // One secret prompt is the password; anything else gets an empty answer.
                    let responses = prompts
                        .iter()
                        .map(|p| {
                            if p.echo {
                                String::new()
                            } else {
                                password.to_string()
                            }
                        })
                        .collect();
                    answer = handle
                        .authenticate_keyboard_interactive_respond(responses)
                        .await?;
                }
            }
        }
    }
    anyhow::bail!(
        "{user}@{host}: the server refused the password (it offers: {})",
        if offered.is_empty() {
            "nothing".to_string()
        } else {
            offered.join(",")
        }
    )
}

async fn run_install(handle: &Handle<Recorder>, line: &str, blob: &str) -> anyhow::Result<bool> {
    let mut ch = handle.channel_open_session().await?;
    ch.exec(true, INSTALL_SNIPPET).await?;
    ch.data_bytes(format!("{line}\n{blob}\n").into_bytes())
        .await?;
    ch.eof().await?;
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut status = None;
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Data { data } => out.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, .. } => err.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(&out);
    match status {
        Some(0) if text.contains("present") => Ok(false),
        Some(0) if text.contains("added") => Ok(true),
        s => anyhow::bail!(
            "installing the key on the server failed (exit {}): {}",
            s.map_or("unknown".to_string(), |c| c.to_string()),
            String::from_utf8_lossy(&err).trim()
        ),
    }
}

async fn key_login(req: &CopyIdTarget<'_>, key: &PrivateKey) -> anyhow::Result<bool> {
    let (mut handle, host_key) = connect(req.host, req.port).await?;
    host_key_check(req, &host_key)?;
    let hash = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    let with = russh::keys::PrivateKeyWithHashAlg::new(Arc::new(key.clone()), hash);
    let ok = handle
        .authenticate_publickey(req.user, with)
        .await?
        .success();
    bye(&handle).await;
    Ok(ok)
}

/// Adds a private key to the agent listening on `socket`. The key (decrypted with `passphrase`
/// when it is protected) exists only in this call's memory and in the agent.
pub fn add_to_agent(
    socket: &Path,
    key_path: &Path,
    passphrase: Option<&Secret>,
) -> anyhow::Result<String> {
    let key = russh::keys::load_secret_key(key_path, passphrase.map(|p| p.as_str()))
        .map_err(|e| anyhow::anyhow!("{}: cannot load the key: {e}", key_path.display()))?;
    let fp = key.public_key().fingerprint(HashAlg::Sha256).to_string();
    runtime()?.block_on(async {
        let mut agent = tokio::time::timeout(
            CONNECT_TIMEOUT,
            russh::keys::agent::client::AgentClient::connect_uds(socket),
        )
        .await
        .map_err(|_| anyhow::anyhow!("the agent at {} does not answer", socket.display()))?
        .map_err(|e| anyhow::anyhow!("cannot reach the agent at {}: {e}", socket.display()))?;
        tokio::time::timeout(CONNECT_TIMEOUT, agent.add_identity(&key, &[]))
            .await
            .map_err(|_| anyhow::anyhow!("the agent at {} does not answer", socket.display()))?
            .map_err(|e| anyhow::anyhow!("the agent refused the key: {e}"))?;
        Ok(fp)
    })
}

/// Whether a key file is encrypted (so a passphrase must be asked for).
pub fn key_needs_passphrase(key_path: &Path) -> bool {
    matches!(
        russh::keys::load_secret_key(key_path, None),
        Err(russh::keys::Error::KeyIsEncrypted)
    )
}

//! The russh side of a probe connection: the client [`Handler`](client::Handler) and the
//! [`Seen`] it fills (the host key accepted for a verdict made afterwards, the negotiated
//! algorithms, the server's disconnect text, a refused channel's text, the relay of a forwarded
//! agent), the client configuration offered, and [`open_ssh`], which runs the handshake over any
//! stream through the wire recorder.
//!
//! Why a module of its own: russh owns the handler and calls it from its own task, so whatever
//! the stages want to know about the server has to be written down here and read back by
//! `session`; keeping that exchange in one place keeps the stages free of russh's callbacks.
//! `keyscan` uses the same handler to fetch host keys.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::ssh_key::PublicKey;
use russh::keys::PublicKeyOrCertificate;
use russh::ChannelOpenFailure;
use tokio::io::{AsyncRead, AsyncWrite};

use super::wire::{Recorder, Recording};
use super::Algorithms;

/// What the client handler saw; shared with the probe because russh owns the handler.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) host_key: Option<PublicKey>,
    /// The host certificate, when the server presented one (the probe asked for certificate
    /// host key types, as ssh does when an `@cert-authority` line applies); `host_key` is then
    /// the plain key inside it, which ssh falls back to when it cannot use the certificate.
    pub(super) host_cert: Option<russh::keys::ssh_key::Certificate>,
    pub(super) negotiated: Option<String>,
    pub(super) disconnect: Option<String>,
    /// The last channel-open failure: reason code and the server's text.
    pub(super) open_failure: Option<(u32, String)>,
    /// Set once agent forwarding was requested: the local agent the server's
    /// `auth-agent@openssh.com` channels are relayed to. Until then such channels are refused.
    pub(super) agent_relay: Option<PathBuf>,
    /// How many agent channels the server opened back to us.
    pub(super) agent_channels: usize,
}

pub(super) struct ProbeHandler(pub(super) Arc<Mutex<Seen>>);

impl ProbeHandler {
    fn with(&self, f: impl FnOnce(&mut Seen)) {
        if let Ok(mut s) = self.0.lock() {
            f(&mut s)
        }
    }
}

/// The host key a server presented in the key exchange (a certificate's own key).
pub fn presented_key(key: &PublicKeyOrCertificate) -> PublicKey {
    match key {
        PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
        PublicKeyOrCertificate::Certificate(c) => PublicKey::new(c.public_key().clone(), ""),
    }
}

impl client::Handler for ProbeHandler {
    type Error = russh::Error;

    /// Accepts every key so the handshake completes; the verdict is made afterwards against
    /// known_hosts, where a mismatch can be explained instead of ending in a bare error.
    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let pk = presented_key(key);
        let cert = match key {
            PublicKeyOrCertificate::Certificate(c) => Some(c.clone()),
            PublicKeyOrCertificate::PublicKey { .. } => None,
        };
        self.with(|s| {
            s.host_key = Some(pk);
            s.host_cert = cert;
        });
        Ok(true)
    }

    async fn kex_done(
        &mut self,
        _shared_secret: Option<&[u8]>,
        names: &russh::Names,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let text = format!(
            "kex {}, host key {}, cipher {}, mac {}",
            names.kex.as_ref(),
            names.key.as_str(),
            names.cipher.as_ref(),
            names.client_mac.as_ref()
        );
        self.with(|s| s.negotiated = Some(text));
        Ok(())
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        match reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                let msg = crate::safe_text::from_wire(info.message.as_bytes());
                self.with(|s| s.disconnect = Some(msg));
                Ok(())
            }
            client::DisconnectReason::Error(e) => Err(e),
        }
    }

    /// The server's end of a forwarded agent: relayed to the local agent, and only after the
    /// probe asked for forwarding (russh's default would accept one that was never requested).
    async fn server_channel_open_agent_forward(
        &mut self,
        channel: russh::Channel<client::Msg>,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let sock = self.0.lock().ok().and_then(|s| s.agent_relay.clone());
        let Some(sock) = sock else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        reply.accept().await;
        self.with(|s| s.agent_channels += 1);
        tokio::spawn(async move {
            if let Ok(mut agent) = tokio::net::UnixStream::connect(&sock).await {
                let mut stream = channel.into_stream();
                let _ = tokio::io::copy_bidirectional(&mut stream, &mut agent).await;
            }
        });
        Ok(())
    }

    /// The text that goes with a refused `direct-tcpip` (russh's error keeps only the code).
    async fn channel_open_failure(
        &mut self,
        _channel: russh::ChannelId,
        reason: ChannelOpenFailure,
        description: &str,
        _language: &str,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let text = crate::safe_text::from_wire(description.as_bytes());
        self.with(|s| s.open_failure = Some((reason.code(), text)));
        Ok(())
    }
}

pub(super) enum HandshakeError {
    Timeout,
    Failed(russh::Error),
}

pub(super) struct Conn {
    pub(super) handle: Handle<ProbeHandler>,
    pub(super) seen: Arc<Mutex<Seen>>,
}

impl Conn {
    pub(super) fn disconnect_message(&self) -> Option<String> {
        self.seen.lock().ok().and_then(|s| s.disconnect.clone())
    }
}

/// `wanted`, in its order, as russh's names (those russh implements), or `None` when wanted is
/// empty or russh can do none of it (then russh's defaults apply).
fn pick<N: AsRef<str> + Clone>(wanted: &[String], supported: &[&N]) -> Option<Vec<N>> {
    let out: Vec<N> = wanted
        .iter()
        .filter_map(|w| {
            supported
                .iter()
                .find(|n| n.as_ref() == w)
                .map(|n| (*n).clone())
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

/// The client configuration: the algorithms the user's ssh offers (those russh can do), or
/// russh's defaults without `ssh-rsa` (SHA-1) host keys, which OpenSSH 8.8+ no longer accepts
/// either, so the probe fails exactly where `ssh` would.
fn client_config(wanted: &[String], algorithms: &Algorithms) -> Arc<client::Config> {
    let mut preferred = russh::Preferred::default();
    if let Some(mut kex) = pick(&algorithms.kex, russh::kex::ALL_KEX_ALGORITHMS) {
        // The pseudo-algorithms that announce extension and strict-kex support, as ssh sends.
        kex.push(russh::kex::EXTENSION_SUPPORT_AS_CLIENT);
        kex.push(russh::kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT);
        preferred.kex = kex.into();
    }
    if let Some(c) = pick(&algorithms.ciphers, russh::cipher::ALL_CIPHERS) {
        preferred.cipher = c.into();
    }
    if let Some(m) = pick(&algorithms.macs, russh::mac::ALL_MAC_ALGORITHMS) {
        preferred.mac = m.into();
    }
    let supported = preferred.key.to_vec();
    let chosen: Vec<_> = wanted
        .iter()
        .filter_map(|w| supported.iter().find(|a| a.as_str() == w).cloned())
        .collect();
    let keys: Vec<_> = if chosen.is_empty() {
        supported
            .iter()
            .filter(|a| a.as_str() != "ssh-rsa")
            .cloned()
            .collect()
    } else {
        chosen
    };
    preferred.host_key_certificates = leading_certificates(wanted, &supported).into();
    preferred.key = keys.into();
    Arc::new(client::Config {
        preferred,
        client_id: russh::SshId::Standard(
            concat!("SSH-2.0-sshdoctor_", env!("CARGO_PKG_VERSION")).into(),
        ),
        ..Default::default()
    })
}

/// The certificate host key types at the head of `wanted` (before its first plain type), as
/// the plain algorithms russh names them by. russh advertises every certificate type ahead of
/// every plain one, so only that leading run keeps ssh's order: ssh puts the certificate types
/// first when an `@cert-authority` line applies, and otherwise ahead of a known plain type only
/// (`ssh-ed25519-cert-v01@openssh.com,ssh-ed25519,...`); a certificate type further down is
/// left out rather than asked for before plain keys ssh prefers to it. `ssh-rsa-cert-v01`
/// (SHA-1) is left out as OpenSSH 8.8+ leaves it out.
fn leading_certificates(
    wanted: &[String],
    supported: &[russh::keys::ssh_key::Algorithm],
) -> Vec<russh::keys::ssh_key::Algorithm> {
    wanted
        .iter()
        .take_while(|w| w.ends_with(CERT_SUFFIX))
        .filter_map(|w| {
            supported
                .iter()
                .filter(|a| a.as_str() != "ssh-rsa")
                .find(|a| a.to_certificate_type() == *w)
                .cloned()
        })
        .collect()
}

/// How OpenSSH names the certificate twin of a host key type.
pub(super) const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// Opens an SSH session over `stream` with the recording wrapper, bounded by `timeout`.
pub(super) async fn open_ssh<S>(
    stream: S,
    timeout: Duration,
    host_key_algorithms: &[String],
    algorithms: &Algorithms,
) -> (
    Result<Handle<ProbeHandler>, HandshakeError>,
    Arc<Mutex<Recording>>,
    Arc<Mutex<Seen>>,
)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rec, log) = Recorder::new(stream);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let handler = ProbeHandler(Arc::clone(&seen));
    let res = match tokio::time::timeout(
        timeout,
        client::connect_stream(client_config(host_key_algorithms, algorithms), rec, handler),
    )
    .await
    {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => Err(HandshakeError::Failed(e)),
        Err(_) => Err(HandshakeError::Timeout),
    };
    (res, log, seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_leading_certificate_types_are_asked_for_and_never_sha1() {
        let supported = russh::Preferred::default().key.to_vec();
        let wanted: Vec<String> = [
            "ssh-rsa-cert-v01@openssh.com",
            "rsa-sha2-512-cert-v01@openssh.com",
            "ssh-ed25519-cert-v01@openssh.com",
            "ssh-ed25519",
            "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let names: Vec<String> = leading_certificates(&wanted, &supported)
            .iter()
            .map(|a| a.to_certificate_type())
            .collect();
        assert_eq!(
            names,
            [
                "rsa-sha2-512-cert-v01@openssh.com",
                "ssh-ed25519-cert-v01@openssh.com"
            ]
        );
        assert!(leading_certificates(&["ssh-ed25519".to_string()], &supported).is_empty());
    }
}

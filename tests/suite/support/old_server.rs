//! A stand-in for an old SSH server (sshd before 7.2, many appliances), in process, on
//! 127.0.0.1: it verifies RSA user keys only with SHA-1 `ssh-rsa` signatures and names no
//! `rsa-sha2-*` in its `server-sig-algs`, which a 9.2 sshd cannot be made to do (its
//! `server-sig-algs` lists every algorithm whatever its PubkeyAcceptedAlgorithms says).
//! Built on russh's server, which lets the handler see the algorithm of each request.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::ssh_key::{Algorithm, PublicKey};
use russh::server::{Auth, Handler, PublicKeyOffer, Server, VerifiedPublicKey};

/// The one RSA key the server takes, and only as `ssh-rsa`.
#[derive(Clone)]
struct OldSha1 {
    allowed: PublicKey,
}

impl OldSha1 {
    fn accepts(&self, key: &PublicKey, alg: &Algorithm) -> bool {
        *alg == (Algorithm::Rsa { hash: None }) && key.key_data() == self.allowed.key_data()
    }
}

impl Handler for OldSha1 {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.accepts(offer.public_key, offer.algorithm) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.accepts(key.public_key, key.algorithm) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }
}

impl Server for OldSha1 {
    type Handler = OldSha1;
    fn new_client(&mut self, _peer: Option<std::net::SocketAddr>) -> OldSha1 {
        self.clone()
    }
}

/// Starts the server (for as long as the test process lives) with `host_key` (an ed25519
/// private key file) and `user_pub` (the RSA public key it accepts with ssh-rsa only).
/// Returns its port.
pub fn start(host_key: &Path, user_pub: &Path) -> u16 {
    let host = russh::keys::load_secret_key(host_key, None).expect("host key");
    let text = std::fs::read_to_string(user_pub).expect("read .pub");
    let allowed = PublicKey::from_openssh(text.trim()).expect("parse .pub");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    // server-sig-algs is this list: ed25519 for the host key, and for RSA only SHA-1.
    let preferred = russh::Preferred {
        key: vec![Algorithm::Ed25519, Algorithm::Rsa { hash: None }].into(),
        ..Default::default()
    };
    let config = Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-OldAppliance_1.0".into()),
        methods: russh::MethodSet::from(&[russh::MethodKind::PublicKey][..]),
        auth_rejection_time: Duration::from_millis(5),
        auth_rejection_time_initial: Some(Duration::from_millis(5)),
        keys: vec![host],
        preferred,
        ..Default::default()
    });
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let socket = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let mut server = OldSha1 { allowed };
            let _ = server.run_on_socket(config, &socket).await;
        });
    });
    port
}

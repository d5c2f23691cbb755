//! The live probe: a real SSH client (russh on tokio) that walks a login step by step, times
//! each stage, reports it as it completes, and turns what happened into [`Finding`]s.
//!
//! The probe never writes to disk, never signs anything before a key is known to be accepted
//! (publickey queries are unsigned, so no passphrase is needed to learn which key works), never
//! spends more failed attempts per connection than the server allows, and never runs a command.
//! Configuration (`ssh -G`) and known_hosts matching are done by the caller: [`ProbeOptions`]
//! holds already-resolved inputs and a host-key verdict closure.

pub mod diagnose;
pub mod dns;
pub mod jump;
pub mod keyscan;
pub mod setup;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{self, AuthResult, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::ssh_key::{HashAlg, PublicKey};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;
use russh::{AlgorithmKind, ChannelOpenFailure, MethodKind};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use crate::finding::{Finding, Severity};
use diagnose::{ConnectFailure, KeyLabel, Mismatch, Target};
use wire::{BannerKind, Recorder, Recording};

/// A key file the user has, in ssh's order.
#[derive(Debug, Clone)]
pub struct Identity {
    pub path: PathBuf,
    /// From the `.pub` next to it or from the private key itself (readable even when encrypted).
    pub public_key: PublicKey,
    pub encrypted: bool,
    /// Why OpenSSH would skip this file (e.g. `mode 0644, see private-key-permissions`), when a
    /// local check found it; the probe quotes it next to the key so the two findings are linked.
    pub local_problem: Option<String>,
    /// The file is a public key (`-i key.pub`): ssh cannot sign with it, only an agent that
    /// holds the same key can.
    pub public_only: bool,
    /// The certificate ssh loads beside the key (`KEY-cert.pub`): offered before the plain key.
    pub certificate: Option<russh::keys::ssh_key::Certificate>,
}

/// What the caller's known_hosts comparison concluded about the server's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyVerdict {
    Match {
        file: PathBuf,
        line: usize,
    },
    Unknown,
    Changed {
        file: PathBuf,
        line: usize,
        old_fingerprint: String,
        old_key_type: String,
    },
    Revoked {
        file: PathBuf,
        line: usize,
    },
}

/// Asks the user for a key's passphrase (TUI prompt or `--ask-passphrase`); `None` to skip.
pub type PassphrasePrompt = Box<dyn Fn(&std::path::Path) -> Option<String> + Send + Sync>;

/// Whether stage 8 logs in for real.
pub enum LoginMode {
    /// Stop after learning which key is accepted.
    Skip,
    /// Log in with the accepted key when no passphrase is needed (agent or unencrypted file).
    WithKey,
    /// As `WithKey`, and ask for the passphrase of an encrypted key.
    AskPassphrase(PassphrasePrompt),
}

/// Everything the probe needs, already resolved by the caller.
pub struct ProbeOptions {
    /// The HostName to connect to.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// What the user typed, for messages and fix commands.
    pub display_target: String,
    pub identities: Vec<Identity>,
    /// The agent socket to ask for keys, if any.
    pub use_agent: Option<PathBuf>,
    pub identities_only: bool,
    pub host_key_check: Box<dyn Fn(&PublicKey) -> HostKeyVerdict + Send + Sync>,
    pub timeout: Duration,
    /// The server's MaxAuthTries as far as known (OpenSSH's default is 6); lowered when the
    /// server turns out to be stricter.
    pub max_auth_tries: u32,
    pub login: LoginMode,
    /// ProxyJump hops, first hop first (empty: a direct connection). Each hop is walked with its
    /// own settings (from the effective config for the jump name, as ssh does) before the
    /// target; the target is then reached through a `direct-tcpip` channel of the last hop.
    /// A hop's own `jumps` and `login` are ignored: a hop always logs in (a channel needs a
    /// session), asking for a passphrase only when this (the target's) `login` allows it.
    pub jumps: Vec<ProbeOptions>,
    /// The host key algorithms to offer, in order, as the user's ssh offers them (its
    /// HostKeyAlgorithms, known_hosts types first when ssh would reorder): so the probe is shown
    /// the same host key as ssh. Empty: russh's defaults without SHA-1 `ssh-rsa`.
    pub host_key_algorithms: Vec<String>,
    /// KexAlgorithms, Ciphers and MACs as the user's ssh offers them (empty: russh's defaults).
    pub algorithms: Algorithms,
    /// Test a password login instead of keys (`probe --password`): tried once, with `password`
    /// or `keyboard-interactive`, never retried, never logged or reported.
    pub password: Option<zeroize::Zeroizing<String>>,
    /// After the login, test agent forwarding (`ssh -A`, `ForwardAgent yes`): the stage
    /// `agent-forwarding`, run only when the host key matched known_hosts.
    pub forward_agent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    Ok,
    Fail,
    Skipped,
}

/// The eight stages, in order. Their names are part of the JSON contract.
pub const STAGES: [&str; 8] = [
    "resolve",
    "connect",
    "banner",
    "kex",
    "host-key",
    "auth-methods",
    "keys",
    "login",
];

/// What a stage is called in the dashboard and the CLI's text output alike: its JSON name, with
/// the everyday word beside it where the name alone says little ("resolve (DNS)"), so what a
/// user reads on screen is what they find in `--json`. Jump stages keep their `jump:` prefix.
pub fn stage_label(name: &str) -> String {
    let (prefix, bare) = match name.strip_prefix("jump:") {
        Some(rest) => ("jump:", rest),
        None => ("", name),
    };
    let word = match bare {
        "resolve" => "resolve (DNS)",
        "connect" => "connect (TCP)",
        "kex" => "kex (key exchange)",
        "keys" => "keys (tried)",
        other => other,
    };
    format!("{prefix}{word}")
}

/// The stages of a jump host, reported before the target's, in the same order. Every hop of a
/// chain uses these names; each hop's `jump:resolve` detail says which hop it is.
pub const JUMP_STAGES: [&str; 8] = [
    "jump:resolve",
    "jump:connect",
    "jump:banner",
    "jump:kex",
    "jump:host-key",
    "jump:auth-methods",
    "jump:keys",
    "jump:login",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub stage: String,
    pub status: StageStatus,
    pub ms: u64,
    pub detail: String,
}

/// Progress for a live view: a stage started, or finished with its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageEvent {
    Started(&'static str),
    Finished(Stage),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetInfo {
    pub host: String,
    pub port: u16,
    pub user: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerInfo {
    pub banner: Option<String>,
    pub host_key_type: Option<String>,
    pub host_key_fingerprint: Option<String>,
    pub auth_methods: Vec<String>,
}

/// The probe's result; `--json` is this value serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    pub target: TargetInfo,
    pub stages: Vec<Stage>,
    pub server: ServerInfo,
    pub findings: Vec<Finding>,
}

impl ProbeReport {
    /// 0 when login would succeed, 1 when an error-severity diagnosis was made.
    pub fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::problem_if(self.findings.iter().any(|f| f.severity == Severity::Error))
    }

    /// [`Self::exit`] as the process exit code.
    pub fn exit_code(&self) -> i32 {
        self.exit().code()
    }
}

/// Runs the probe to completion. Stages are sent on `events` as they start and finish.
///
/// With ProxyJump hops, each hop is walked first (its stages named [`JUMP_STAGES`], its findings
/// `jump-` prefixed, see [`jump::at_jump`]); when a hop fails, the target's stages are reported
/// as skipped, "not reached".
pub async fn run(
    mut opts: ProbeOptions,
    events: Option<tokio::sync::mpsc::UnboundedSender<StageEvent>>,
) -> ProbeReport {
    let hops = std::mem::take(&mut opts.jumps);
    let mut p = Probe::new(opts, events, None, None);
    // Every hop's session stays open until the target is done: each channel lives in the one
    // before it.
    let mut chain: Vec<Arc<Jumped>> = Vec::new();
    let total = hops.len();
    let mut blocked: Option<String> = None;
    for (i, mut hop) in hops.into_iter().enumerate() {
        hop.jumps.clear();
        let ask = !matches!(p.opts.login, LoginMode::Skip);
        hop.login = if ask {
            std::mem::replace(&mut p.opts.login, LoginMode::Skip)
        } else {
            LoginMode::WithKey
        };
        let role = Hop {
            index: i + 1,
            total,
        };
        let mut sub = Probe::new(hop, p.events.clone(), Some(role), chain.last().cloned());
        let conn = sub.session().await;
        sub.skip_rest();
        if ask {
            p.opts.login = std::mem::replace(&mut sub.opts.login, LoginMode::Skip);
        }
        p.report.stages.append(&mut sub.report.stages);
        p.report.findings.append(&mut sub.report.findings);
        match conn {
            Some(conn) => chain.push(Arc::new(Jumped {
                conn,
                target: sub.target.clone(),
            })),
            None => {
                blocked = Some(jump::jump_name(&sub.target));
                break;
            }
        }
    }
    match blocked {
        Some(name) => {
            for stage in STAGES {
                let detail = format!("not reached: stopped at jump host {name}");
                p.stage(stage, StageStatus::Skipped, Instant::now(), detail);
            }
        }
        None => {
            p.via = chain.last().cloned();
            let _ = p.session().await;
            p.skip_rest();
        }
    }
    for hop in chain.iter().rev() {
        let _ = hop
            .conn
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "")
            .await;
    }
    crate::finding::sort_worst_first(&mut p.report.findings);
    p.report
}

/// Which jump host a [`Probe`] is walking.
#[derive(Debug, Clone, Copy)]
struct Hop {
    /// 1-based position in the ProxyJump list.
    index: usize,
    total: usize,
}

struct Probe {
    opts: ProbeOptions,
    events: Option<tokio::sync::mpsc::UnboundedSender<StageEvent>>,
    report: ProbeReport,
    target: Target,
    /// The server's MaxAuthTries as learned so far.
    limit: u32,
    rsa_hash: Option<HashAlg>,
    agent: Option<AgentClient<UnixStream>>,
    /// Set when this probe walks a jump host rather than the target.
    hop: Option<Hop>,
    /// The session of the previous hop, whose `direct-tcpip` channels lead to this host.
    via: Option<Arc<Jumped>>,
    /// The address that answered, for reconnecting directly.
    addr: Option<SocketAddr>,
}

/// What the client handler saw; shared with the probe because russh owns the handler.
#[derive(Default)]
struct Seen {
    host_key: Option<PublicKey>,
    negotiated: Option<String>,
    disconnect: Option<String>,
    /// The last channel-open failure: reason code and the server's text.
    open_failure: Option<(u32, String)>,
    /// Set once agent forwarding was requested: the local agent the server's
    /// `auth-agent@openssh.com` channels are relayed to. Until then such channels are refused.
    agent_relay: Option<PathBuf>,
    /// How many agent channels the server opened back to us.
    agent_channels: usize,
}

struct ProbeHandler(Arc<Mutex<Seen>>);

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
        self.with(|s| s.host_key = Some(pk));
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

/// The query signer: it is only called after the server answered PK_OK to an unsigned
/// publickey request, so being called *is* the answer. It refuses to sign, which abandons the
/// attempt without a signature, without the private key and without costing a failure.
struct QuerySigner;

#[derive(Debug)]
enum QueryStop {
    PkOk,
    Closed,
}

impl From<russh::SendError> for QueryStop {
    fn from(_: russh::SendError) -> Self {
        QueryStop::Closed
    }
}

impl russh::Signer for QuerySigner {
    type Error = QueryStop;

    async fn auth_sign(
        &mut self,
        _key: &AgentIdentity,
        _hash_alg: Option<HashAlg>,
        _to_sign: Vec<u8>,
    ) -> Result<Vec<u8>, Self::Error> {
        Err(QueryStop::PkOk)
    }
}

enum Query {
    Accepted,
    Rejected,
    /// The connection ended; the server's disconnect message if it sent one.
    Closed(Option<String>),
}

/// A key ssh would offer, wherever it comes from.
struct Candidate {
    label: KeyLabel,
    key: PublicKey,
    from_agent: bool,
    encrypted: bool,
    /// A `.pub` named as the identity: nothing to sign with but an agent.
    public_only: bool,
    /// Offer this certificate (of `key`) instead of the plain key.
    certificate: Option<russh::keys::ssh_key::Certificate>,
}

enum HandshakeError {
    Timeout,
    Failed(russh::Error),
}

struct Conn {
    handle: Handle<ProbeHandler>,
    seen: Arc<Mutex<Seen>>,
}

/// A jump host we are logged in to, and how findings name it.
struct Jumped {
    conn: Conn,
    target: Target,
}

impl Conn {
    fn disconnect_message(&self) -> Option<String> {
        self.seen.lock().ok().and_then(|s| s.disconnect.clone())
    }
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn label_for(
    key: &PublicKey,
    name: String,
    path: Option<String>,
    local: Option<String>,
) -> KeyLabel {
    KeyLabel {
        name,
        path,
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        key_type: key.algorithm().as_str().to_string(),
        local_problem: local,
    }
}

/// The key exchange methods, ciphers and MACs ssh offers, in its order (from `ssh -G`, which
/// applies the config's `+`/`-`/`^` itself). An empty list keeps russh's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Algorithms {
    pub kex: Vec<String>,
    pub ciphers: Vec<String>,
    pub macs: Vec<String>,
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
            .into_iter()
            .filter(|a| a.as_str() != "ssh-rsa")
            .collect()
    } else {
        chosen
    };
    preferred.key = keys.into();
    Arc::new(client::Config {
        preferred,
        client_id: russh::SshId::Standard(
            concat!("SSH-2.0-sshdoctor_", env!("CARGO_PKG_VERSION")).into(),
        ),
        ..Default::default()
    })
}

impl Probe {
    fn new(
        opts: ProbeOptions,
        events: Option<tokio::sync::mpsc::UnboundedSender<StageEvent>>,
        hop: Option<Hop>,
        via: Option<Arc<Jumped>>,
    ) -> Probe {
        let target = Target {
            host: opts.host.clone(),
            port: opts.port,
            user: opts.user.clone(),
            display: opts.display_target.clone(),
        };
        Probe {
            report: ProbeReport {
                target: TargetInfo {
                    host: opts.host.clone(),
                    port: opts.port,
                    user: opts.user.clone(),
                },
                stages: Vec::new(),
                server: ServerInfo::default(),
                findings: Vec::new(),
            },
            limit: opts.max_auth_tries.max(1),
            opts,
            events,
            target,
            rsa_hash: None,
            agent: None,
            hop,
            via,
            addr: None,
        }
    }

    /// The reported name of a stage: the target's own, or its `jump:` twin on a jump host.
    fn name(&self, stage: &'static str) -> &'static str {
        if self.hop.is_none() {
            return stage;
        }
        STAGES
            .iter()
            .position(|s| *s == stage)
            .and_then(|i| JUMP_STAGES.get(i))
            .copied()
            .unwrap_or(stage)
    }

    fn started(&self, name: &'static str) {
        if let Some(tx) = &self.events {
            let _ = tx.send(StageEvent::Started(self.name(name)));
        }
    }

    fn stage(
        &mut self,
        name: &'static str,
        status: StageStatus,
        since: Instant,
        detail: impl Into<String>,
    ) {
        let st = Stage {
            stage: self.name(name).to_string(),
            status,
            ms: ms(since),
            detail: detail.into(),
        };
        if let Some(tx) = &self.events {
            let _ = tx.send(StageEvent::Finished(st.clone()));
        }
        self.report.stages.push(st);
    }

    /// Marks every stage that was not reached as skipped, so the report always has all eight.
    fn skip_rest(&mut self) {
        for name in STAGES {
            let shown = self.name(name);
            if !self.report.stages.iter().any(|s| s.stage == shown) {
                self.stage(name, StageStatus::Skipped, Instant::now(), "not reached");
            }
        }
    }

    fn find(&mut self, f: Finding) {
        let f = match self.hop {
            Some(_) => jump::at_jump(f, &self.target),
            None => f,
        };
        self.report.findings.push(f);
    }

    /// Walks the stages in order. Returns the logged-in session when this is a jump host (the
    /// next host is reached through it); the target's session is closed once the login is known.
    async fn session(&mut self) -> Option<Conn> {
        let mut conn = match self.via.clone() {
            Some(via) => {
                self.resolve_remote();
                let stream = self.open_channel(&via).await?;
                let peer = format!(
                    "{} port {} (through the jump host)",
                    self.opts.host, self.opts.port
                );
                self.handshake(&peer, stream).await?
            }
            None => {
                let addrs = self.resolve().await?;
                let (addr, stream) = self.connect(&addrs).await?;
                self.addr = Some(addr);
                self.handshake(&addr.to_string(), stream).await?
            }
        };
        if !self.host_key(&conn) {
            let _ = conn
                .handle
                .disconnect(russh::Disconnect::ByApplication, "", "")
                .await;
            return None;
        }
        let keys_next = self.auth_methods(&mut conn).await;
        let methods_known =
            self.report.stages.last().is_some_and(|s| {
                s.stage == self.name("auth-methods") && s.status == StageStatus::Ok
            });
        if self.hop.is_none() && methods_known {
            if let Some(password) = self.opts.password.clone() {
                self.password_login(conn, &password).await;
                return None;
            }
        }
        if !keys_next {
            return None;
        }
        let (conn, accepted) = self.keys(conn).await?;
        self.login(conn, accepted).await
    }

    /// Stage 1 behind a jump host: ssh does not resolve the target's HostName locally, the jump
    /// host does when it opens the channel; so this stage only states what will be asked for.
    fn resolve_remote(&mut self) {
        self.started("resolve");
        let t0 = Instant::now();
        let hop = match self.hop {
            Some(h) if h.total > 1 => format!("hop {} of {}: ", h.index, h.total),
            _ => String::new(),
        };
        let detail = format!(
            "{hop}{}@{} port {}, resolved by the jump host",
            self.opts.user, self.opts.host, self.opts.port
        );
        self.stage("resolve", StageStatus::Ok, t0, detail);
    }

    /// Stage 2 behind a jump host: a `direct-tcpip` channel from the jump host to HostName:Port.
    async fn open_channel(&mut self, via: &Jumped) -> Option<russh::ChannelStream<client::Msg>> {
        self.started("connect");
        let t0 = Instant::now();
        if let Ok(mut s) = via.conn.seen.lock() {
            s.open_failure = None;
        }
        let open = via.conn.handle.channel_open_direct_tcpip(
            self.opts.host.clone(),
            u32::from(self.opts.port),
            "127.0.0.1",
            0,
        );
        let refusal = match tokio::time::timeout(self.opts.timeout, open).await {
            Ok(Ok(channel)) => {
                let detail = format!(
                    "direct-tcpip channel to {} port {} opened by the jump host",
                    self.opts.host, self.opts.port
                );
                self.stage("connect", StageStatus::Ok, t0, detail);
                return Some(channel.into_stream());
            }
            Ok(Err(russh::Error::ChannelOpenFailure(reason))) => {
                // russh wakes us before its handler has stored the server's text; wait briefly.
                let mut text = None;
                for _ in 0..20 {
                    text = via
                        .conn
                        .seen
                        .lock()
                        .ok()
                        .and_then(|s| s.open_failure.clone());
                    if text.is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let (code, message) =
                    text.unwrap_or_else(|| (reason.code(), reason.description().to_string()));
                jump::Refusal::Failed { code, message }
            }
            Ok(Err(e)) => {
                let detail = format!("the jump host's session ended: {e}");
                self.stage("connect", StageStatus::Fail, t0, detail.clone());
                let mut ev = vec![detail];
                if let Some(d) = via.conn.disconnect_message() {
                    ev.push(format!("server said: {d}"));
                }
                let when = "while opening the channel to the next host";
                let f = diagnose::connection_closed(&via.target, when, &ev);
                // Reported as the jump host's failure, whichever host this probe walks.
                self.report.findings.push(jump::at_jump(f, &via.target));
                return None;
            }
            Err(_) => jump::Refusal::NoAnswer {
                secs: self.opts.timeout.as_secs_f64(),
            },
        };
        let detail = match &refusal {
            jump::Refusal::Failed { code, message } => format!(
                "the jump host refused the channel: {}: {message}",
                jump::open_failure_reason(*code)
            ),
            jump::Refusal::NoAnswer { secs } => {
                format!("the jump host did not open the channel within {secs:.1} s")
            }
        };
        self.stage("connect", StageStatus::Fail, t0, detail);
        let f = jump::forwarding_refused(&via.target, &self.target, &refusal);
        self.find(f);
        None
    }

    /// Stage 1: every address of the HostName, v4 and v6.
    async fn resolve(&mut self) -> Option<Vec<SocketAddr>> {
        self.started("resolve");
        let t0 = Instant::now();
        let lookup = tokio::net::lookup_host((self.opts.host.as_str(), self.opts.port));
        let res = match tokio::time::timeout(self.opts.timeout, lookup).await {
            Ok(Ok(it)) => Ok(it.collect::<Vec<_>>()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.opts.timeout)),
        };
        match res {
            Ok(addrs) if !addrs.is_empty() => {
                let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                let detail = format!(
                    "{}@{} port {} -> {}",
                    self.opts.user,
                    self.opts.host,
                    self.opts.port,
                    list.join(", ")
                );
                self.stage("resolve", StageStatus::Ok, t0, detail);
                Some(addrs)
            }
            other => {
                let err = other.err().unwrap_or_else(|| "no addresses".into());
                self.stage("resolve", StageStatus::Fail, t0, err.clone());
                let f = diagnose::dns_failure(&self.target, &err);
                self.find(f);
                None
            }
        }
    }

    /// Stage 2: TCP to each address in turn, each bounded by the timeout.
    async fn connect(&mut self, addrs: &[SocketAddr]) -> Option<(SocketAddr, TcpStream)> {
        self.started("connect");
        let t0 = Instant::now();
        let mut evidence = Vec::new();
        let mut kinds = Vec::new();
        for addr in addrs {
            match tokio::time::timeout(self.opts.timeout, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    let mut detail = format!("{addr}");
                    if !evidence.is_empty() {
                        detail.push_str(&format!(" (after: {})", evidence.join("; ")));
                    }
                    self.stage("connect", StageStatus::Ok, t0, detail);
                    return Some((*addr, s));
                }
                Ok(Err(e)) => {
                    let kind = match e.raw_os_error() {
                        Some(libc::ECONNREFUSED) => ConnectFailure::Refused,
                        Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) => {
                            ConnectFailure::Unreachable
                        }
                        Some(libc::ETIMEDOUT) => ConnectFailure::Timeout,
                        _ => ConnectFailure::Other,
                    };
                    kinds.push(kind);
                    evidence.push(format!(
                        "connect to {addr}: {}",
                        crate::words::io_reason(&e.to_string())
                    ));
                }
                Err(_) => {
                    kinds.push(ConnectFailure::Timeout);
                    evidence.push(format!(
                        "connect to {addr}: no answer within {:.1} s",
                        self.opts.timeout.as_secs_f64()
                    ));
                }
            }
        }
        // A refusal proves the host is up, so it explains more than a timeout elsewhere.
        let kind = [
            ConnectFailure::Refused,
            ConnectFailure::Unreachable,
            ConnectFailure::Timeout,
        ]
        .into_iter()
        .find(|k| kinds.contains(k))
        .unwrap_or(ConnectFailure::Other);
        self.stage("connect", StageStatus::Fail, t0, evidence.join("; "));
        let f = diagnose::connect_failure(&self.target, kind, &evidence);
        self.find(f);
        None
    }

    /// Stages 3 and 4: identification strings and key exchange, through the recording stream.
    async fn handshake<S>(&mut self, peer: &str, stream: S) -> Option<Conn>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.started("banner");
        let t0 = Instant::now();
        let (result, rec, seen) = open_ssh(
            stream,
            self.opts.timeout,
            &self.opts.host_key_algorithms,
            &self.opts.algorithms,
        )
        .await;
        let (bytes, id_at) = match rec.lock() {
            Ok(r) => (r.bytes.clone(), r.id_line_at),
            Err(_) => (Vec::new(), None),
        };
        let kind = wire::classify(&bytes);
        let disconnect = seen.lock().ok().and_then(|s| s.disconnect.clone());
        let secs = self.opts.timeout.as_secs_f64();
        let banner_ms_at = id_at.unwrap_or_else(Instant::now);
        // A server that trickles its identification (or stalls mid-line) is slow, not foreign:
        // with no complete line there is nothing to call "not SSH" yet.
        let timed_out = matches!(result, Err(HandshakeError::Timeout));
        if timed_out && !bytes.is_empty() && !bytes.contains(&b'\n') {
            let got = format!(
                "only {} byte(s) within {secs:.1} s, no complete line: \"{}\"",
                bytes.len(),
                crate::safe_text::from_wire(&bytes)
            );
            self.stage("banner", StageStatus::Fail, t0, got.clone());
            let f = diagnose::banner_timeout(&self.target, secs).evidence(got);
            self.find(f);
            return None;
        }
        match &kind {
            BannerKind::Ssh2(id) => {
                self.report.server.banner = Some(id.clone());
                let st = Stage {
                    stage: self.name("banner").into(),
                    status: StageStatus::Ok,
                    ms: u64::try_from(banner_ms_at.saturating_duration_since(t0).as_millis())
                        .unwrap_or(u64::MAX),
                    detail: id.clone(),
                };
                if let Some(tx) = &self.events {
                    let _ = tx.send(StageEvent::Finished(st.clone()));
                    let _ = tx.send(StageEvent::Started(self.name("kex")));
                }
                self.report.stages.push(st);
            }
            BannerKind::Empty => {
                let timed_out = matches!(result, Err(HandshakeError::Timeout));
                let detail = if timed_out {
                    format!("nothing received within {secs:.1} s")
                } else {
                    "connection closed before the server identified itself".into()
                };
                self.stage("banner", StageStatus::Fail, t0, detail);
                let f = if timed_out {
                    diagnose::banner_timeout(&self.target, secs)
                } else {
                    let mut ev = vec![format!("{peer}: closed with no identification string")];
                    if let Some(d) = disconnect {
                        ev.push(format!("server said: {d}"));
                    }
                    diagnose::connection_closed(&self.target, "before identifying itself", &ev)
                };
                self.find(f);
                return None;
            }
            other => {
                let (what, line) = match other {
                    BannerKind::Http(l) => ("a web server (HTTP)", Some(l.as_str())),
                    BannerKind::Tls => ("a TLS server (HTTPS or similar)", None),
                    BannerKind::Ssh1(l) => (
                        "an SSH protocol 1 server, which OpenSSH no longer supports",
                        Some(l.as_str()),
                    ),
                    BannerKind::Other(l) => ("something that is not SSH", Some(l.as_str())),
                    BannerKind::Ssh2(_) | BannerKind::Empty => ("something that is not SSH", None),
                };
                let detail = match line {
                    Some(l) => format!("not SSH: {l}"),
                    None => format!("not SSH: {what}"),
                };
                self.stage("banner", StageStatus::Fail, t0, detail);
                let f = diagnose::not_ssh(&self.target, what, line);
                self.find(f);
                return None;
            }
        }
        let t1 = banner_ms_at;
        match result {
            Ok(handle) => {
                let negotiated = seen
                    .lock()
                    .ok()
                    .and_then(|s| s.negotiated.clone())
                    .unwrap_or_default();
                self.stage("kex", StageStatus::Ok, t1, negotiated);
                Some(Conn { handle, seen })
            }
            Err(HandshakeError::Failed(russh::Error::NoCommonAlgo { kind, ours, theirs })) => {
                let after = bytes.get(wire::scan_banner(&bytes).rest..).unwrap_or(&[]);
                let offer = wire::parse_kexinit(after);
                let (label, keyword, q) = match kind {
                    AlgorithmKind::Kex => ("key exchange", "KexAlgorithms", "kex"),
                    AlgorithmKind::Key => ("host key", "HostKeyAlgorithms", "key"),
                    AlgorithmKind::Cipher => ("cipher", "Ciphers", "cipher"),
                    AlgorithmKind::Mac => ("MAC", "MACs", "mac"),
                    AlgorithmKind::Compression => ("compression", "Compression", "compression"),
                };
                // The recorded KEXINIT is the server's whole list; russh's copy may be partial.
                let theirs = match (&offer, kind) {
                    (Some(k), AlgorithmKind::Kex) => k.kex.clone(),
                    (Some(k), AlgorithmKind::Key) => k.host_key.clone(),
                    (Some(k), AlgorithmKind::Cipher) => k.cipher_s2c.clone(),
                    (Some(k), AlgorithmKind::Mac) => k.mac_s2c.clone(),
                    _ => theirs,
                };
                let theirs: Vec<String> = theirs
                    .into_iter()
                    .filter(|a| !a.starts_with("kex-strict-") && !a.starts_with("ext-info-"))
                    .collect();
                let ours: Vec<String> = ours
                    .into_iter()
                    .filter(|a| !a.starts_with("kex-strict-") && !a.starts_with("ext-info-"))
                    .collect();
                self.stage(
                    "kex",
                    StageStatus::Fail,
                    t1,
                    format!(
                        "no common {label} algorithm; server offers {}",
                        theirs.join(",")
                    ),
                );
                let m = Mismatch {
                    kind: label.into(),
                    keyword: keyword.into(),
                    ours,
                    theirs,
                    local_ssh: local_ssh_list(q),
                };
                let f = diagnose::algorithm_mismatch(&self.target, &m);
                self.find(f);
                None
            }
            Err(e) => {
                let detail = match &e {
                    HandshakeError::Timeout => {
                        format!("key exchange not finished within {secs:.1} s")
                    }
                    HandshakeError::Failed(e) => {
                        crate::safe_text::from_wire(e.to_string().as_bytes())
                    }
                };
                self.stage("kex", StageStatus::Fail, t1, detail.clone());
                let violation = disconnect.is_none()
                    && matches!(&e, HandshakeError::Failed(err) if is_protocol_violation(err));
                let mut ev = vec![detail];
                if let Some(d) = disconnect {
                    ev.push(format!("server said: {d}"));
                }
                let f = if violation {
                    diagnose::protocol_violation(&self.target, "during key exchange", &ev)
                } else {
                    diagnose::connection_closed(&self.target, "during key exchange", &ev)
                };
                self.find(f);
                None
            }
        }
    }

    /// Stage 5: the caller's known_hosts verdict. Returns whether to go on: a changed or revoked
    /// key stops the probe, as it stops ssh; nothing is offered to a server that may be an impostor.
    fn host_key(&mut self, conn: &Conn) -> bool {
        self.started("host-key");
        let t0 = Instant::now();
        let Some(key) = conn.seen.lock().ok().and_then(|s| s.host_key.clone()) else {
            self.stage(
                "host-key",
                StageStatus::Fail,
                t0,
                "the server sent no host key",
            );
            return false;
        };
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        let ty = key.algorithm().as_str().to_string();
        self.report.server.host_key_type = Some(ty.clone());
        self.report.server.host_key_fingerprint = Some(fp.clone());
        match (self.opts.host_key_check)(&key) {
            HostKeyVerdict::Match { file, line } => {
                let d = format!("{ty} {fp} matches {}:{line}", file.display());
                self.stage("host-key", StageStatus::Ok, t0, d);
                true
            }
            HostKeyVerdict::Unknown => {
                let d = format!("{ty} {fp} is in no known_hosts file");
                self.stage("host-key", StageStatus::Ok, t0, d);
                let f = diagnose::host_key_unknown(&self.target, &fp, &ty);
                self.find(f);
                true
            }
            HostKeyVerdict::Changed {
                file,
                line,
                old_fingerprint,
                old_key_type,
            } => {
                let d = format!(
                    "{ty} {fp} differs from {old_fingerprint} at {}:{line}",
                    file.display()
                );
                self.stage("host-key", StageStatus::Fail, t0, d);
                let f = diagnose::host_key_changed(
                    &self.target,
                    &file,
                    line,
                    &old_fingerprint,
                    &old_key_type,
                    &fp,
                    &ty,
                );
                self.find(f);
                false
            }
            HostKeyVerdict::Revoked { file, line } => {
                let d = format!("{ty} {fp} is @revoked at {}:{line}", file.display());
                self.stage("host-key", StageStatus::Fail, t0, d);
                let f = diagnose::host_key_revoked(&self.target, &file, line, &fp);
                self.find(f);
                false
            }
        }
    }

    /// Stage 6: a `none` request, whose refusal lists the methods the server offers.
    async fn auth_methods(&mut self, conn: &mut Conn) -> bool {
        self.started("auth-methods");
        let t0 = Instant::now();
        let user = self.opts.user.clone();
        let res =
            tokio::time::timeout(self.opts.timeout, conn.handle.authenticate_none(user)).await;
        let methods = match res {
            Ok(Ok(AuthResult::Success)) => {
                self.stage(
                    "auth-methods",
                    StageStatus::Ok,
                    t0,
                    "the server let us in with no authentication",
                );
                self.report.server.auth_methods = vec!["none".into()];
                return false;
            }
            Ok(Ok(AuthResult::Failure {
                remaining_methods, ..
            })) => remaining_methods
                .iter()
                .map(|m| <&'static str>::from(m).to_string())
                .collect::<Vec<_>>(),
            Ok(Err(e)) => {
                self.stage("auth-methods", StageStatus::Fail, t0, e.to_string());
                let ev = [e.to_string()];
                let f = diagnose::connection_closed(&self.target, "before authentication", &ev);
                self.find(f);
                return false;
            }
            Err(_) => {
                self.stage(
                    "auth-methods",
                    StageStatus::Fail,
                    t0,
                    "no answer to the none request",
                );
                let ev = ["no answer to the authentication request".to_string()];
                let f = diagnose::connection_closed(&self.target, "before authentication", &ev);
                self.find(f);
                return false;
            }
        };
        self.report.server.auth_methods = methods.clone();
        if methods.is_empty() {
            if conn.handle.is_closed() {
                let ev: Vec<String> = conn
                    .disconnect_message()
                    .map(|d| format!("server said: {d}"))
                    .into_iter()
                    .collect();
                self.stage("auth-methods", StageStatus::Fail, t0, "connection closed");
                let f = diagnose::connection_closed(&self.target, "before authentication", &ev);
                self.find(f);
            } else {
                self.stage(
                    "auth-methods",
                    StageStatus::Fail,
                    t0,
                    "the server offers no method",
                );
                let f = diagnose::no_auth_methods(&self.target);
                self.find(f);
            }
            return false;
        }
        self.stage("auth-methods", StageStatus::Ok, t0, methods.join(","));
        if !methods
            .iter()
            .any(|m| m == <&str>::from(&MethodKind::PublicKey))
        {
            let f = diagnose::password_only(&self.target, &methods);
            self.find(f);
            return false;
        }
        true
    }

    /// The keys ssh would offer, in OpenSSH 9.2's order (measured with `ssh -v`): key files
    /// the agent also holds (in file order), then the agent's other keys (unless
    /// IdentitiesOnly), then the key files the agent does not hold.
    async fn candidates(&mut self) -> Vec<Candidate> {
        let mut agent_keys: Vec<(PublicKey, String)> = Vec::new();
        if let Some(sock) = &self.opts.use_agent {
            if let Ok(Ok(mut agent)) =
                tokio::time::timeout(self.opts.timeout, AgentClient::connect_uds(sock)).await
            {
                if let Ok(Ok(ids)) =
                    tokio::time::timeout(self.opts.timeout, agent.request_identities()).await
                {
                    for id in ids {
                        if let AgentIdentity::PublicKey { key, comment } = id {
                            agent_keys.push((key, comment));
                        }
                    }
                    self.agent = Some(agent);
                }
            }
        }
        let in_agent = |k: &PublicKey| agent_keys.iter().any(|(a, _)| a.key_data() == k.key_data());
        let file_cand = |ident: &Identity, from_agent: bool| {
            let path = ident.path.display().to_string();
            Candidate {
                label: label_for(
                    &ident.public_key,
                    path.clone(),
                    Some(path),
                    ident.local_problem.clone(),
                ),
                key: ident.public_key.clone(),
                from_agent,
                encrypted: ident.encrypted,
                public_only: ident.public_only,
                certificate: None,
            }
        };
        // As ssh: a key file's certificate is offered right before the plain key.
        let with_cert = |ident: &Identity, from_agent: bool| -> Vec<Candidate> {
            let mut out = Vec::new();
            if let (Some(cert), false) = (&ident.certificate, ident.public_only) {
                let mut c = file_cand(ident, from_agent);
                let path = format!("{}-cert.pub", ident.path.display());
                c.label.name = format!("{path} (certificate \"{}\")", cert.key_id());
                c.label.path = Some(ident.path.display().to_string());
                c.certificate = Some(cert.clone());
                out.push(c);
            }
            out.push(file_cand(ident, from_agent));
            out
        };
        let mut out: Vec<Candidate> = self
            .opts
            .identities
            .iter()
            .filter(|i| in_agent(&i.public_key))
            .flat_map(|i| with_cert(i, true))
            .collect();
        if !self.opts.identities_only {
            for (key, comment) in &agent_keys {
                if !self
                    .opts
                    .identities
                    .iter()
                    .any(|i| i.public_key.key_data() == key.key_data())
                {
                    out.push(Candidate {
                        label: label_for(key, format!("agent: {comment}"), None, None),
                        key: key.clone(),
                        from_agent: true,
                        encrypted: false,
                        public_only: false,
                        certificate: None,
                    });
                }
            }
        }
        out.extend(
            self.opts
                .identities
                .iter()
                .filter(|i| !in_agent(&i.public_key))
                .flat_map(|i| with_cert(i, false)),
        );
        out
    }

    async fn query(&self, conn: &mut Conn, c: &Candidate) -> Query {
        let hash = if c.key.algorithm().is_rsa() {
            self.rsa_hash
        } else {
            None
        };
        let mut signer = QuerySigner;
        let user = self.opts.user.clone();
        let ask = async {
            match &c.certificate {
                Some(cert) => {
                    conn.handle
                        .authenticate_certificate_with(user, cert.clone(), hash, &mut signer)
                        .await
                }
                None => {
                    conn.handle
                        .authenticate_publickey_with(user, c.key.clone(), hash, &mut signer)
                        .await
                }
            }
        };
        let answer = tokio::time::timeout(self.opts.timeout, ask).await;
        match answer {
            Ok(Err(QueryStop::PkOk)) | Ok(Ok(AuthResult::Success)) => Query::Accepted,
            Ok(Ok(AuthResult::Failure {
                remaining_methods, ..
            })) if !remaining_methods.is_empty() => Query::Rejected,
            Ok(Ok(AuthResult::Failure { .. })) | Ok(Err(QueryStop::Closed)) | Err(_) => {
                // Give the session task a moment to record the server's disconnect message.
                tokio::time::sleep(Duration::from_millis(20)).await;
                Query::Closed(conn.disconnect_message())
            }
        }
    }

    async fn rsa_hash_for(&mut self, conn: &Conn, cands: &[Candidate]) {
        if self.rsa_hash.is_none() && cands.iter().any(|c| c.key.algorithm().is_rsa()) {
            let best =
                tokio::time::timeout(self.opts.timeout, conn.handle.best_supported_rsa_hash())
                    .await;
            self.rsa_hash = match best {
                Ok(Ok(Some(h))) => h,
                _ => Some(HashAlg::Sha512),
            };
        }
    }

    /// Stage 7: which keys the server accepts, asked without signing. At most `limit - 1`
    /// refusals per connection, so the server never has to cut us off (and never logs
    /// "maximum authentication attempts exceeded"); reconnects as needed, a bounded number of times.
    async fn keys(&mut self, conn: Conn) -> Option<(Conn, Candidate)> {
        self.started("keys");
        let t0 = Instant::now();
        let cands = self.candidates().await;
        if cands.is_empty() {
            self.stage(
                "keys",
                StageStatus::Fail,
                t0,
                "no key to offer (no key files, no agent keys)",
            );
            let f = diagnose::no_usable_key(
                &self.target,
                diagnose::takes_password(&self.report.server.auth_methods),
            );
            self.find(f);
            return None;
        }
        self.rsa_hash_for(&conn, &cands).await;
        let mut conn = Some(conn);
        let mut next = 0usize;
        let mut rejected: Vec<usize> = Vec::new();
        let mut accepted: Option<usize> = None;
        let mut connections = 1usize;
        let mut failures_here = 0u32;
        let mut learned_limit = false;
        let max_connections = cands.len() + 2;
        while next < cands.len() && accepted.is_none() {
            let Some(c) = conn.as_mut() else { break };
            let cand = cands.get(next)?;
            match self.query(c, cand).await {
                Query::Accepted => accepted = Some(next),
                Query::Rejected => {
                    rejected.push(next);
                    failures_here += 1;
                }
                Query::Closed(msg) => {
                    // The server hung up in answer to this key: it counted it as the failure
                    // that reached its limit. Learn the real limit from it.
                    let too_many = msg.as_deref().is_some_and(|m| m.contains("Too many"));
                    if too_many {
                        rejected.push(next);
                        self.limit = failures_here + 1;
                        learned_limit = true;
                        next += 1;
                    }
                    if connections >= max_connections || (!too_many && failures_here == 0) {
                        break;
                    }
                    conn = None;
                }
            }
            if accepted.is_some() {
                break;
            }
            if conn.is_some() {
                next += 1;
            }
            let budget_spent = failures_here + 1 >= self.limit;
            if next < cands.len() && (conn.is_none() || budget_spent) {
                if let Some(old) = conn.take() {
                    let _ = old
                        .handle
                        .disconnect(russh::Disconnect::ByApplication, "", "")
                        .await;
                }
                if connections >= max_connections {
                    break;
                }
                connections += 1;
                failures_here = 0;
                conn = self.reconnect().await;
            }
        }
        let label = |i: &usize| cands.get(*i).map(|c| c.label.clone());
        let tried: Vec<KeyLabel> = rejected.iter().filter_map(label).collect();
        let Some(ok) = accepted else {
            let detail = format!(
                "{} of {} keys refused over {connections} connection(s)",
                tried.len(),
                cands.len()
            );
            self.stage("keys", StageStatus::Fail, t0, detail);
            // Keys left unasked mean the server stopped talking to us, not that it refused them.
            let f = if tried.len() < cands.len() {
                let ev = [format!(
                    "{} of {} keys asked about before the connection was lost",
                    tried.len(),
                    cands.len()
                )];
                diagnose::connection_closed(&self.target, "while keys were being tried", &ev)
            } else {
                diagnose::key_rejected(
                    &self.target,
                    &tried,
                    diagnose::takes_password(&self.report.server.auth_methods),
                )
            };
            self.find(f);
            // A refused certificate: what the client can see of why.
            for i in &rejected {
                if let Some(c) = cands.get(*i) {
                    if let Some(cert) = &c.certificate {
                        let f = diagnose::certificate_refused(&self.target, &c.label, cert);
                        self.find(f);
                    }
                }
            }
            return None;
        };
        let cand = cands.get(ok)?;
        let detail = format!(
            "accepted: {} {} (key {} of {}, {connections} connection(s){})",
            cand.label.name,
            cand.label.fingerprint,
            ok + 1,
            cands.len(),
            if learned_limit {
                format!(", server allows {} attempts", self.limit)
            } else {
                String::new()
            }
        );
        self.stage("keys", StageStatus::Ok, t0, detail);
        // ssh offers the keys in this same order on one connection; each refusal counts.
        if u32::try_from(ok).unwrap_or(u32::MAX) >= self.limit {
            let f = diagnose::too_many_auth_failures(&self.target, self.limit, &tried, &cand.label);
            self.find(f);
        }
        if cand.encrypted && !cand.from_agent {
            let f = diagnose::encrypted_key_no_agent(&self.target, &cand.label);
            self.find(f);
        }
        let conn = conn?;
        Some((
            conn,
            Candidate {
                label: cand.label.clone(),
                key: cand.key.clone(),
                from_agent: cand.from_agent,
                encrypted: cand.encrypted,
                public_only: cand.public_only,
                certificate: cand.certificate.clone(),
            },
        ))
    }

    /// Stage 8: a real login with the accepted key (agent signature, or the key file, asking
    /// for a passphrase only when allowed), then a clean disconnect without running anything.
    async fn login(&mut self, mut conn: Conn, key: Candidate) -> Option<Conn> {
        self.started("login");
        let t0 = Instant::now();
        let logged_in = match self.authenticate(&mut conn, &key).await {
            Ok(true) => {
                self.stage(
                    "login",
                    StageStatus::Ok,
                    t0,
                    format!("authenticated with {}", key.label.name),
                );
                true
            }
            Ok(false) => {
                self.stage(
                    "login",
                    StageStatus::Fail,
                    t0,
                    format!("the server refused the signature of {}", key.label.name),
                );
                false
            }
            Err(skip) => {
                self.stage("login", StageStatus::Skipped, t0, skip);
                false
            }
        };
        let no_error = !self
            .report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Error);
        if key.public_only && !key.from_agent {
            // What ssh does with `-i key.pub`: the server would take the key, but nothing signs.
            let f = diagnose::identity_is_public_key(&self.target, &key.label);
            self.find(f);
        } else if self.hop.is_none() && no_error {
            let f = diagnose::auth_ok(&self.target, &key.label, logged_in);
            self.find(f);
        }
        if logged_in && self.hop.is_none() && self.opts.forward_agent {
            self.agent_forwarding(&conn).await;
        }
        if key.label.local_problem.is_some() && !key.from_agent {
            // The probe could use the key, ssh will not: the local finding explains the failure
            // the user actually sees.
            let f = diagnose::accepted_key_ignored_locally(&self.target, &key.label);
            self.find(f);
        }
        // A jump host's session is kept: the next host is reached through it. Without a login
        // there is no channel, so the walk stops there. The target's session is closed.
        if self.hop.is_some() && logged_in {
            return Some(conn);
        }
        let _ = conn
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "")
            .await;
        None
    }

    /// Stages 7 and 8 of `probe --password`: no keys asked about; one password attempt, with
    /// `password` where the server offers it, else `keyboard-interactive` answering its single
    /// hidden prompt. Never retried; the password is never part of a stage or a finding.
    async fn password_login(&mut self, mut conn: Conn, password: &str) {
        let t0 = Instant::now();
        self.started("keys");
        self.stage(
            "keys",
            StageStatus::Skipped,
            t0,
            "a password login was asked for (--password)",
        );
        self.started("login");
        let t0 = Instant::now();
        let methods = self.report.server.auth_methods.clone();
        let offers = |m: &str| methods.iter().any(|x| x == m);
        let user = self.opts.user.clone();
        let t = self.opts.timeout;
        let (method, outcome): (&str, Result<bool, String>) = if offers("password") {
            let ask = conn.handle.authenticate_password(user, password);
            (
                "password",
                match tokio::time::timeout(t, ask).await {
                    Ok(Ok(r)) => Ok(r.success()),
                    Ok(Err(e)) => Err(format!("the server ended the session: {e}")),
                    Err(_) => Err("no answer to the password".into()),
                },
            )
        } else if offers("keyboard-interactive") {
            (
                "keyboard-interactive",
                self.keyboard_interactive(&mut conn, password).await,
            )
        } else {
            self.stage(
                "login",
                StageStatus::Fail,
                t0,
                "the server takes no password for this user; none was sent",
            );
            let f = diagnose::password_auth_disabled(&self.target, &methods);
            self.find(f);
            let _ = conn
                .handle
                .disconnect(russh::Disconnect::ByApplication, "", "")
                .await;
            return;
        };
        match outcome {
            Ok(true) => {
                self.stage(
                    "login",
                    StageStatus::Ok,
                    t0,
                    format!("authenticated with a password ({method})"),
                );
                let f = diagnose::password_auth_ok(&self.target, method);
                self.find(f);
            }
            Ok(false) => {
                self.stage(
                    "login",
                    StageStatus::Fail,
                    t0,
                    format!("the server refused the password ({method})"),
                );
                let f = diagnose::password_rejected(&self.target, method, &methods);
                self.find(f);
            }
            Err(why) => {
                self.stage("login", StageStatus::Fail, t0, why.clone());
                let f =
                    diagnose::connection_closed(&self.target, "during the password login", &[why]);
                self.find(f);
            }
        }
        let _ = conn
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "")
            .await;
    }

    /// The stage `agent-forwarding`: asks for forwarding on a session channel, runs `ssh-add -l`
    /// there and relays the server's agent requests to the local agent, so a request made on
    /// the server is seen to reach the local agent (the relay counts it), and the fingerprints
    /// the server lists are the keys it can use now. Never offered to a server whose host key
    /// did not match known_hosts.
    async fn agent_forwarding(&mut self, conn: &Conn) {
        const STAGE: &str = "agent-forwarding";
        self.started(STAGE);
        let t0 = Instant::now();
        if self
            .report
            .findings
            .iter()
            .any(|f| f.id.starts_with("host-key"))
        {
            self.stage(
                STAGE,
                StageStatus::Skipped,
                t0,
                "not offered: the server's host key does not match known_hosts",
            );
            return;
        }
        let Some(sock) = self.opts.use_agent.clone() else {
            self.stage(
                STAGE,
                StageStatus::Fail,
                t0,
                "no local agent to forward (SSH_AUTH_SOCK is not set)",
            );
            let f = diagnose::forwarding_without_agent(&self.target);
            self.find(f);
            return;
        };
        if let Ok(mut s) = conn.seen.lock() {
            s.agent_relay = Some(sock);
            s.agent_channels = 0;
        }
        let t = self.opts.timeout.max(Duration::from_secs(5));
        let outcome = tokio::time::timeout(t, async {
            let mut ch = conn
                .handle
                .channel_open_session()
                .await
                .map_err(|e| e.to_string())?;
            ch.agent_forward(true).await.map_err(|e| e.to_string())?;
            let granted = loop {
                match ch.wait().await {
                    Some(ChannelMsg::Success) => break true,
                    Some(ChannelMsg::Failure) => break false,
                    Some(_) => continue,
                    None => return Err("the channel closed".to_string()),
                }
            };
            if !granted {
                let _ = ch.close().await;
                return Ok((false, String::new()));
            }
            ch.exec(true, "ssh-add -l 2>&1")
                .await
                .map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            while let Some(msg) = ch.wait().await {
                // Output beyond 64 KiB is dropped: a few fingerprint lines are expected.
                match msg {
                    ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. }
                        if out.len() < 64 * 1024 =>
                    {
                        out.extend_from_slice(&data);
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            Ok((true, String::from_utf8_lossy(&out).into_owned()))
        })
        .await;
        let relayed = conn.seen.lock().map(|s| s.agent_channels).unwrap_or(0);
        match outcome {
            Err(_) => {
                self.stage(STAGE, StageStatus::Fail, t0, "no answer within the timeout");
            }
            Ok(Err(e)) => {
                self.stage(
                    STAGE,
                    StageStatus::Fail,
                    t0,
                    format!("the session ended: {e}"),
                );
            }
            Ok(Ok((false, _))) => {
                self.stage(
                    STAGE,
                    StageStatus::Fail,
                    t0,
                    "the server refused agent forwarding",
                );
                let f = diagnose::agent_forwarding_refused(&self.target);
                self.find(f);
            }
            Ok(Ok((true, output))) => {
                let lines: Vec<String> = output
                    .lines()
                    .map(|l| crate::safe_text::from_wire(l.as_bytes()))
                    .filter(|l| !l.trim().is_empty())
                    .take(20)
                    .collect();
                let keys: Vec<&String> = lines.iter().filter(|l| l.contains("SHA256:")).collect();
                if relayed > 0 && !keys.is_empty() {
                    self.stage(
                        STAGE,
                        StageStatus::Ok,
                        t0,
                        format!(
                            "{} reach the server through the forwarded agent",
                            crate::words::count(keys.len(), "key")
                        ),
                    );
                    let f = diagnose::agent_forwarding_ok(&self.target, &lines);
                    self.find(f);
                } else if relayed > 0 {
                    self.stage(
                        STAGE,
                        StageStatus::Fail,
                        t0,
                        "forwarded, but the agent holds no keys",
                    );
                    let f = diagnose::forwarded_agent_empty(&self.target, &lines);
                    self.find(f);
                } else {
                    self.stage(
                        STAGE,
                        StageStatus::Fail,
                        t0,
                        "ssh-add on the server never reached the forwarded agent",
                    );
                    let f = diagnose::agent_forwarding_not_reached(&self.target, &lines);
                    self.find(f);
                }
            }
        }
    }

    /// keyboard-interactive with the password as the answer to the server's one hidden prompt.
    /// `Ok(false)` when refused; `Err` when the server asks something else (an OTP, a question)
    /// that a password alone cannot answer, with its prompt text.
    async fn keyboard_interactive(
        &mut self,
        conn: &mut Conn,
        password: &str,
    ) -> Result<bool, String> {
        use russh::client::KeyboardInteractiveAuthResponse as R;
        let user = self.opts.user.clone();
        let t = self.opts.timeout;
        let start = conn
            .handle
            .authenticate_keyboard_interactive_start(user, None::<String>);
        let mut answer = match tokio::time::timeout(t, start).await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Err(format!("the server ended the session: {e}")),
            Err(_) => return Err("no answer to keyboard-interactive".into()),
        };
        let mut answered = false;
        for _ in 0..4 {
            match answer {
                R::Success => return Ok(true),
                R::Failure { .. } => return Ok(false),
                R::InfoRequest { prompts, .. } if prompts.is_empty() => {
                    let next = conn
                        .handle
                        .authenticate_keyboard_interactive_respond(Vec::new());
                    answer = match tokio::time::timeout(t, next).await {
                        Ok(Ok(a)) => a,
                        _ => return Err("no answer to keyboard-interactive".into()),
                    };
                }
                R::InfoRequest { prompts, .. } => {
                    let hidden = prompts.len() == 1 && !prompts[0].echo;
                    if !hidden || answered {
                        let asked: Vec<String> = prompts
                            .iter()
                            .map(|p| crate::safe_text::from_wire(p.prompt.as_bytes()))
                            .collect();
                        return Err(format!(
                            "the server asks for more than a password: {}",
                            asked.join(" / ")
                        ));
                    }
                    answered = true;
                    let next = conn
                        .handle
                        .authenticate_keyboard_interactive_respond(vec![password.to_string()]);
                    answer = match tokio::time::timeout(t, next).await {
                        Ok(Ok(a)) => a,
                        _ => return Err("no answer to keyboard-interactive".into()),
                    };
                }
            }
        }
        Err("keyboard-interactive did not finish".into())
    }

    /// `Ok(success)` after a signed attempt; `Err(reason)` when no attempt was made.
    async fn authenticate(&mut self, conn: &mut Conn, key: &Candidate) -> Result<bool, String> {
        let user = self.opts.user.clone();
        let hash = if key.key.algorithm().is_rsa() {
            self.rsa_hash
        } else {
            None
        };
        let t = self.opts.timeout;
        let result = if key.from_agent {
            let agent = self.agent.as_mut().ok_or("the agent went away")?;
            let ask = conn
                .handle
                .authenticate_publickey_with(user, key.key.clone(), hash, agent);
            match tokio::time::timeout(t, ask).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(format!("the agent did not sign: {e}")),
                Err(_) => return Err("the agent did not answer in time".into()),
            }
        } else {
            let path = key.label.path.clone().ok_or("no key file")?;
            if key.public_only {
                return Err(format!(
                    "{path} is a public key: there is no private key to sign with"
                ));
            }
            let passphrase = match (&self.opts.login, key.encrypted) {
                (LoginMode::Skip, _) => return Err("login not requested".into()),
                (_, false) => None,
                (LoginMode::WithKey, true) => {
                    return Err("the key needs its passphrase (use --ask-passphrase)".into())
                }
                (LoginMode::AskPassphrase(ask), true) => match ask(std::path::Path::new(&path)) {
                    // Wiped from memory when it goes out of scope, success or error.
                    Some(p) => Some(zeroize::Zeroizing::new(p)),
                    None => return Err("no passphrase given".into()),
                },
            };
            if matches!(self.opts.login, LoginMode::Skip) {
                return Err("login not requested".into());
            }
            // The passphrase stays in this scope; errors never include it.
            let secret =
                russh::keys::load_secret_key(&path, passphrase.as_ref().map(|p| p.as_str()))
                    .map_err(|e| format!("cannot load {path}: {e}"))?;
            let answer = match &key.certificate {
                Some(cert) => {
                    let ask =
                        conn.handle
                            .authenticate_openssh_cert(user, Arc::new(secret), cert.clone());
                    tokio::time::timeout(t, ask).await
                }
                None => {
                    let ask = conn.handle.authenticate_publickey(
                        user,
                        PrivateKeyWithHashAlg::new(Arc::new(secret), hash),
                    );
                    tokio::time::timeout(t, ask).await
                }
            };
            match answer {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(format!("login failed: {e}")),
                Err(_) => return Err("no answer to the signed request".into()),
            }
        };
        Ok(matches!(result, AuthResult::Success))
    }

    /// A fresh session for more key queries: over TCP again, or over a new channel of the
    /// same jump host.
    async fn reconnect(&mut self) -> Option<Conn> {
        let t = self.opts.timeout;
        let res = match (&self.via, self.addr) {
            (Some(via), _) => {
                let open = via.conn.handle.channel_open_direct_tcpip(
                    self.opts.host.clone(),
                    u32::from(self.opts.port),
                    "127.0.0.1",
                    0,
                );
                let stream = tokio::time::timeout(t, open)
                    .await
                    .ok()?
                    .ok()?
                    .into_stream();
                open_ssh(
                    stream,
                    t,
                    &self.opts.host_key_algorithms,
                    &self.opts.algorithms,
                )
                .await
            }
            (None, Some(addr)) => {
                let stream = tokio::time::timeout(t, TcpStream::connect(addr))
                    .await
                    .ok()?
                    .ok()?;
                open_ssh(
                    stream,
                    t,
                    &self.opts.host_key_algorithms,
                    &self.opts.algorithms,
                )
                .await
            }
            (None, None) => return None,
        };
        let (res, _, seen) = res;
        res.ok().map(|handle| Conn { handle, seen })
    }
}

/// Errors that mean the server sent bytes no correct SSH server sends, as opposed to a hang-up
/// (`Disconnect`, `HUP`, I/O errors) or a refusal. A 4 GB packet length is the classic one: russh
/// refuses it before allocating, as OpenSSH does ("Bad packet length").
fn is_protocol_violation(e: &russh::Error) -> bool {
    use russh::Error as E;
    matches!(
        e,
        E::PacketSize(_)
            | E::PacketAuth
            | E::DecryptionError
            | E::WrongServerSig
            | E::StrictKeyExchangeViolation { .. }
            | E::Inconsistent
            | E::KexInit
            | E::Kex
            | E::IndexOutOfBounds
            | E::SshEncoding(_)
            | E::Utf8(_)
    )
}

/// Opens an SSH session over `stream` with the recording wrapper, bounded by `timeout`.
async fn open_ssh<S>(
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

/// What the local `ssh -Q` lists for a category, to show beside the server's offer.
fn local_ssh_list(query: &str) -> Option<Vec<String>> {
    let out = std::process::Command::new("ssh")
        .arg("-Q")
        .arg(query)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

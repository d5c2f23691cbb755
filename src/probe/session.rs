//! Driving one connection through the stages: resolve, connect (or a jump host's channel),
//! banner and key exchange, the host-key verdict and the server's method list, each timed and
//! reported as it starts and finishes, each failure turned into its finding; and reconnecting
//! when the key queries need a fresh connection.
//!
//! Why a module of its own: [`Probe`] is the state one walk carries (the options, the report
//! being built, what was learned about the server, the hop it is on); this file owns it and the
//! transport stages, while `auth` and `agent_forwarding` add the stages that run on the
//! session it opens.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::client::{self, AuthResult};
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::HashAlg;
use russh::{AlgorithmKind, MethodKind};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use super::diagnose::{self, ConnectFailure, Mismatch, Target};
use super::handler::{open_ssh, Conn, HandshakeError};
use super::host_cert;
use super::wire::{self, BannerKind};
use super::{
    jump, HostKeyVerdict, ProbeOptions, ProbeReport, ServerInfo, Stage, StageEvent, StageStatus,
    TargetInfo, JUMP_STAGES, STAGES,
};
use crate::finding::Finding;
use crate::known_hosts::HostCertStatus;

/// Which jump host a [`Probe`] is walking.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hop {
    /// 1-based position in the ProxyJump list.
    pub(super) index: usize,
    pub(super) total: usize,
}

pub(super) struct Probe {
    pub(super) opts: ProbeOptions,
    pub(super) events: Option<tokio::sync::mpsc::UnboundedSender<StageEvent>>,
    pub(super) report: ProbeReport,
    pub(super) target: Target,
    /// The server's MaxAuthTries as learned so far.
    pub(super) limit: u32,
    pub(super) rsa_hash: Option<HashAlg>,
    /// Whether `rsa_hash` was chosen yet (its `None` means SHA-1 `ssh-rsa`).
    pub(super) rsa_decided: bool,
    /// ssh would find "no mutual signature algorithm" for RSA keys with this server.
    pub(super) rsa_no_mutual: bool,
    /// Keys ssh skips because the client's PubkeyAcceptedAlgorithms leaves their type out.
    pub(super) skipped_by_config: Vec<super::diagnose::KeyLabel>,
    pub(super) agent: Option<AgentClient<UnixStream>>,
    /// Set when this probe walks a jump host rather than the target.
    pub(super) hop: Option<Hop>,
    /// The session of the previous hop, whose `direct-tcpip` channels lead to this host.
    pub(super) via: Option<Arc<Jumped>>,
    /// The address that answered, for reconnecting directly.
    addr: Option<SocketAddr>,
}

/// A jump host we are logged in to, and how findings name it.
pub(super) struct Jumped {
    pub(super) conn: Conn,
    pub(super) target: Target,
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Probe {
    pub(super) fn new(
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
            rsa_decided: false,
            rsa_no_mutual: false,
            skipped_by_config: Vec::new(),
            agent: None,
            hop,
            via,
            addr: None,
        }
    }

    /// The reported name of a stage: the target's own, or its `jump:` twin on a jump host.
    pub(super) fn name(&self, stage: &'static str) -> &'static str {
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

    pub(super) fn started(&self, name: &'static str) {
        if let Some(tx) = &self.events {
            let _ = tx.send(StageEvent::Started(self.name(name)));
        }
    }

    pub(super) fn stage(
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
    pub(super) fn skip_rest(&mut self) {
        for name in STAGES {
            let shown = self.name(name);
            if !self.report.stages.iter().any(|s| s.stage == shown) {
                self.stage(name, StageStatus::Skipped, Instant::now(), "not reached");
            }
        }
    }

    pub(super) fn find(&mut self, f: Finding) {
        let f = match self.hop {
            Some(_) => jump::at_jump(f, &self.target),
            None => f,
        };
        self.report.findings.push(f);
    }

    /// Walks the stages in order. Returns the logged-in session when this is a jump host (the
    /// next host is reached through it); the target's session is closed once the login is known.
    pub(super) async fn session(&mut self) -> Option<Conn> {
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
                let mut f = diagnose::algorithm_mismatch(&self.target, &m);
                if let Some(src) = self.opts.algorithms.source(keyword) {
                    f = f.evidence(format!("{keyword} set at {src}"));
                }
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
        // A host certificate first, as ssh judges it; one ssh cannot use leaves its finding and
        // the plain key inside it to the ordinary lines below (a revoked one stops here).
        let cert = conn.seen.lock().ok().and_then(|s| s.host_cert.clone());
        let cert_verdict = match (&cert, &self.opts.host_cert_check) {
            (Some(c), Some(check)) => Some((c, check(c))),
            _ => None,
        };
        let mut cert_finding = None;
        if let Some((c, v)) = &cert_verdict {
            let now = crate::certificate::now_unix();
            match &v.status {
                HostCertStatus::Trusted { line } => {
                    let at = match &v.file {
                        Some(f) => format!("{}:{line}", f.display()),
                        None => format!("line {line}"),
                    };
                    let d = format!(
                        "{ty} {fp}: {} for {}, trusted by @cert-authority at {at}",
                        host_cert::describe(c),
                        v.name
                    );
                    self.stage("host-key", StageStatus::Ok, t0, d);
                    return true;
                }
                HostCertStatus::Revoked { .. } => {
                    let d = format!("{ty} {fp}: {} is @revoked", host_cert::describe(c));
                    self.stage("host-key", StageStatus::Fail, t0, d);
                    if let Some(f) = host_cert::finding(&self.target, v, c, false, now) {
                        self.find(f);
                    }
                    return false;
                }
                _ => {
                    let plain = (self.opts.host_key_check)(&key);
                    let plain_ok = matches!(plain, HostKeyVerdict::Match { .. });
                    cert_finding = host_cert::finding(&self.target, v, c, plain_ok, now);
                }
            }
        }
        let cert_id = cert_finding.as_ref().map(|f| f.id.clone());
        if let Some(f) = cert_finding {
            self.find(f);
        }
        let note = cert_id.as_deref().map(host_cert::plain_key_note);
        match (self.opts.host_key_check)(&key) {
            HostKeyVerdict::Match { file, line } => {
                let mut d = format!("{ty} {fp} matches {}:{line}", file.display());
                if let Some(id) = &cert_id {
                    d.push_str(&format!(" (the host certificate was not accepted: {id})"));
                }
                self.stage("host-key", StageStatus::Ok, t0, d);
                true
            }
            HostKeyVerdict::Unknown => {
                let mut d = format!("{ty} {fp} is in no known_hosts file");
                if let Some(id) = &cert_id {
                    d.push_str(&format!(" (the host certificate was not accepted: {id})"));
                }
                self.stage("host-key", StageStatus::Ok, t0, d);
                let mut f = diagnose::host_key_unknown(&self.target, &fp, &ty);
                if let Some(n) = &note {
                    f = f.evidence(n.clone());
                    for fix in &mut f.fixes {
                        fix.title = format!(
                            "{} (a plain key line: the host certificate was not accepted, see {})",
                            fix.title,
                            cert_id.as_deref().unwrap_or("above")
                        );
                    }
                }
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
                let mut f = diagnose::host_key_changed(
                    &self.target,
                    &file,
                    line,
                    &old_fingerprint,
                    &old_key_type,
                    &fp,
                    &ty,
                );
                // Another key type than the one known, asked for by a config line: the server
                // may well still have the known key; ssh was shown this one because of it.
                if let (true, Some(src)) = (
                    old_key_type != ty,
                    self.opts.algorithms.source("HostKeyAlgorithms"),
                ) {
                    f = f.evidence(format!(
                        "ssh asks for a {ty} host key, not the {old_key_type} one known_hosts holds, because of HostKeyAlgorithms at {src}"
                    ));
                }
                if let Some(n) = &note {
                    f = f.evidence(n.clone());
                }
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
            // With a password to try, its attempt gives the verdict; "a password was not
            // tried" would contradict it.
            if self.opts.password.is_none() || self.hop.is_some() {
                let f = diagnose::password_only(&self.target, &methods);
                self.find(f);
            }
            return false;
        }
        true
    }

    /// A fresh session for more key queries: over TCP again, or over a new channel of the
    /// same jump host.
    pub(super) async fn reconnect(&mut self) -> Option<Conn> {
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

/// What the local `ssh -Q` lists for a category, to show beside the server's offer.
fn local_ssh_list(query: &str) -> Option<Vec<String>> {
    let out = crate::sys::run_bounded(
        std::process::Command::new("ssh").arg("-Q").arg(query),
        std::time::Duration::from_secs(10),
    )
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

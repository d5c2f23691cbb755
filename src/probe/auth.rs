//! Stages 7 and 8: which keys the server accepts, asked without signing (the [`QuerySigner`]
//! that refuses to sign once the server said PK_OK), in ssh's order and within the server's
//! MaxAuthTries; then the real login with the accepted key (agent or key file, a passphrase only
//! when allowed), or, for `probe --password`, one password or keyboard-interactive attempt.
//!
//! Why a module of its own: this is where the probe handles secrets and spends the server's
//! failure budget, so its rules (never sign before a key is known to work, never retry a
//! password, never exceed the limit) sit together where they can be read as one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::client::AuthResult;
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::ssh_key::{HashAlg, PublicKey};
use russh::keys::PrivateKeyWithHashAlg;

use super::diagnose::{self, KeyLabel};
use super::handler::Conn;
use super::session::Probe;
use super::{Identity, LoginMode, StageStatus};
use crate::finding::Severity;

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
pub(super) struct Candidate {
    label: KeyLabel,
    key: PublicKey,
    from_agent: bool,
    encrypted: bool,
    /// A `.pub` named as the identity: nothing to sign with but an agent.
    public_only: bool,
    /// Offer this certificate (of `key`) instead of the plain key.
    certificate: Option<russh::keys::ssh_key::Certificate>,
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

impl Probe {
    /// The keys ssh would offer, in OpenSSH 9.2's order (measured with `ssh -v`): key files
    /// the agent also holds (in file order), then the agent's other keys (unless
    /// IdentitiesOnly), then the key files the agent does not hold.
    async fn candidates(&mut self) -> Vec<Candidate> {
        let mut agent_keys: Vec<(PublicKey, String)> = Vec::new();
        // Certificates the agent holds (ssh-add loads KEY-cert.pub with KEY): ssh offers them
        // as agent identities too, each before its plain key.
        let mut agent_certs: Vec<(russh::keys::ssh_key::Certificate, String)> = Vec::new();
        if let Some(sock) = &self.opts.use_agent {
            if let Ok(Ok(mut agent)) =
                tokio::time::timeout(self.opts.timeout, AgentClient::connect_uds(sock)).await
            {
                if let Ok(Ok(ids)) =
                    tokio::time::timeout(self.opts.timeout, agent.request_identities()).await
                {
                    for id in ids {
                        match id {
                            AgentIdentity::PublicKey { key, comment } => {
                                agent_keys.push((key, comment))
                            }
                            AgentIdentity::Certificate {
                                certificate,
                                comment,
                            } => agent_certs.push((certificate, comment)),
                        }
                    }
                    self.agent = Some(agent);
                }
            }
        }
        // CertificateFile certificates for a key only the agent holds: the agent signs for them.
        for cert in &self.opts.agent_certificate_files {
            let comment = agent_keys
                .iter()
                .find(|(k, _)| k.key_data() == cert.public_key())
                .map(|(_, c)| c.clone());
            if let (Some(comment), false) = (comment, agent_certs.iter().any(|(c, _)| c == cert)) {
                agent_certs.push((cert.clone(), comment));
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
        // Not with IdentitiesOnly, CertificateFile ones included: measured with OpenSSH 9.2,
        // ssh then looks for the private key at the certificate's own path and gives up.
        if !self.opts.identities_only {
            for (cert, comment) in &agent_certs {
                let key = PublicKey::new(cert.public_key().clone(), "");
                // Already offered as a key file's own certificate: once is enough.
                if out
                    .iter()
                    .any(|c| c.certificate.as_ref().is_some_and(|x| x == cert))
                {
                    continue;
                }
                let mut label = label_for(&key, format!("agent: {comment}"), None, None);
                label.name = format!("agent: {comment} (certificate \"{}\")", cert.key_id());
                let cand = Candidate {
                    label,
                    key: key.clone(),
                    from_agent: true,
                    encrypted: false,
                    public_only: false,
                    certificate: Some(cert.clone()),
                };
                // Right before the plain key it certifies, where that is offered.
                match out
                    .iter()
                    .position(|c| c.certificate.is_none() && c.key.key_data() == key.key_data())
                {
                    Some(i) => out.insert(i, cand),
                    None => out.push(cand),
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
        // As ssh: a key whose type the client's PubkeyAcceptedAlgorithms leaves out is skipped
        // ("Skipping ssh-ed25519 key ... - corresponding algorithm not in
        // PubkeyAcceptedAlgorithms").
        let accepted = accepted_pubkey_algorithms(&self.opts.algorithms.pubkey);
        let (kept, skipped): (Vec<Candidate>, Vec<Candidate>) = out
            .into_iter()
            .partition(|c| type_accepted(&c.key, c.certificate.is_some(), &accepted));
        self.skipped_by_config = skipped.into_iter().map(|c| c.label).collect();
        kept
    }

    async fn query(&self, conn: &mut Conn, c: &Candidate) -> Query {
        let hash = if c.key.algorithm().is_rsa() {
            self.rsa_hash
        } else {
            None
        };
        self.query_as(conn, c, hash).await
    }

    /// [`Self::query`] with the RSA signature algorithm chosen by the caller (`None`: SHA-1
    /// `ssh-rsa`).
    async fn query_as(&self, conn: &mut Conn, c: &Candidate, hash: Option<HashAlg>) -> Query {
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

    /// The RSA signature algorithm ssh would use with this server, as OpenSSH's
    /// `key_sig_algorithm`: the first RSA algorithm of the client's PubkeyAcceptedAlgorithms
    /// that the server's `server-sig-algs` names; without `server-sig-algs`, `ssh-rsa` if the
    /// client accepts it. None of them: ssh does not offer RSA keys at all ("no mutual
    /// signature algorithm"), recorded in `rsa_no_mutual`.
    async fn rsa_hash_for(&mut self, conn: &Conn, cands: &[Candidate]) {
        if self.rsa_decided || !cands.iter().any(|c| c.key.algorithm().is_rsa()) {
            return;
        }
        let best =
            tokio::time::timeout(self.opts.timeout, conn.handle.best_supported_rsa_hash()).await;
        let server = match best {
            Ok(Ok(Some(h))) => ServerRsa::Listed(h),
            Ok(Ok(None)) => ServerRsa::NoExtension,
            // Not known in time: assume a current server (SHA-2).
            _ => ServerRsa::Listed(Some(HashAlg::Sha512)),
        };
        let accepted = accepted_pubkey_algorithms(&self.opts.algorithms.pubkey);
        match rsa_signature(&accepted, server) {
            Some(h) => self.rsa_hash = h,
            None => self.rsa_no_mutual = true,
        }
        self.rsa_decided = true;
    }

    /// Stage 7: which keys the server accepts, asked without signing. At most `limit - 1`
    /// refusals per connection, so the server never has to cut us off (and never logs
    /// "maximum authentication attempts exceeded"); reconnects as needed, a bounded number of times.
    pub(super) async fn keys(&mut self, conn: Conn) -> Option<(Conn, Candidate)> {
        self.started("keys");
        let t0 = Instant::now();
        let cands = self.candidates().await;
        if cands.is_empty() && !self.skipped_by_config.is_empty() {
            let detail =
                "no key to offer: PubkeyAcceptedAlgorithms leaves out the type of every key";
            self.stage("keys", StageStatus::Fail, t0, detail);
            let f = self.excluded_finding(Severity::Error);
            self.find(f);
            return None;
        }
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
        // ssh does not offer RSA keys to a server with no RSA signature both accept; they are
        // asked about only afterwards, with ssh-rsa, to tell why (`rsa-sha1-required`).
        let (cands, sha1_only): (Vec<Candidate>, Vec<Candidate>) = if self.rsa_no_mutual {
            cands.into_iter().partition(|c| !c.key.algorithm().is_rsa())
        } else {
            (cands, Vec::new())
        };
        if cands.is_empty() {
            let mut conn = conn;
            self.sha1_only(&mut conn, &sha1_only, &[], t0).await;
            let _ = conn
                .handle
                .disconnect(russh::Disconnect::ByApplication, "", "")
                .await;
            return None;
        }
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
            if !sha1_only.is_empty() {
                let reuse = conn.take().filter(|_| failures_here + 1 < self.limit);
                let fresh = match reuse {
                    Some(c) => Some(c),
                    None => self.reconnect().await,
                };
                if let Some(mut c) = fresh {
                    self.sha1_only(&mut c, &sha1_only, &tried, t0).await;
                    let _ = c
                        .handle
                        .disconnect(russh::Disconnect::ByApplication, "", "")
                        .await;
                    return None;
                }
            }
            if !self.skipped_by_config.is_empty() {
                let f = self.excluded_finding(Severity::Warning);
                self.find(f);
            }
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

    /// The end of stage 7 when ssh offers no key because none of its RSA signatures is one the
    /// server names: each RSA key is asked about (unsigned) with SHA-1 `ssh-rsa`, within the
    /// failure budget. Accepted: `rsa-sha1-required`; otherwise the keys are refused either way.
    async fn sha1_only(
        &mut self,
        conn: &mut Conn,
        rsa: &[Candidate],
        refused_before: &[KeyLabel],
        t0: Instant,
    ) {
        let budget = usize::try_from(self.limit.saturating_sub(1).max(1)).unwrap_or(1);
        let mut refused: Vec<KeyLabel> = refused_before.to_vec();
        let mut accepted: Option<&Candidate> = None;
        for c in rsa.iter().take(budget) {
            match self.query_as(conn, c, None).await {
                Query::Accepted => {
                    accepted = Some(c);
                    break;
                }
                Query::Rejected => refused.push(c.label.clone()),
                Query::Closed(_) => break,
            }
        }
        match accepted {
            Some(c) => {
                let detail = format!(
                    "no RSA signature both sides accept: the server takes {} only with ssh-rsa (SHA-1), which ssh does not offer",
                    c.label.name
                );
                self.stage("keys", StageStatus::Fail, t0, detail);
                let mut f = diagnose::rsa_sha1_required(&self.target, Some(&c.label))
                    .evidence("ssh -v says: send_pubkey_test: no mutual signature algorithm");
                if let Some(src) = &self.opts.algorithms.pubkey_source {
                    f = f.evidence(format!("PubkeyAcceptedAlgorithms set at {src}"));
                }
                self.find(f);
            }
            None => {
                let detail = format!(
                    "{} key(s) refused (RSA asked with ssh-rsa too)",
                    refused.len()
                );
                self.stage("keys", StageStatus::Fail, t0, detail);
                let f = diagnose::key_rejected(
                    &self.target,
                    &refused,
                    diagnose::takes_password(&self.report.server.auth_methods),
                );
                self.find(f);
            }
        }
    }

    /// `pubkey-algorithm-excluded` for the keys the client's PubkeyAcceptedAlgorithms skips.
    fn excluded_finding(&self, severity: Severity) -> crate::finding::Finding {
        let accepted = accepted_pubkey_algorithms(&self.opts.algorithms.pubkey);
        let mut f = diagnose::pubkey_algorithm_excluded(
            &self.target,
            &self.skipped_by_config,
            &accepted,
            self.opts.algorithms.pubkey_source.as_deref(),
        );
        f.severity = severity;
        f
    }

    /// Stage 8: a real login with the accepted key (agent signature, or the key file, asking
    /// for a passphrase only when allowed), then a clean disconnect without running anything.
    pub(super) async fn login(&mut self, mut conn: Conn, key: Candidate) -> Option<Conn> {
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
    pub(super) async fn password_login(&mut self, mut conn: Conn, password: &str) {
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
            let outcome = match self.keyboard_interactive(&mut conn, password).await {
                Kbd::Done(ok) => Ok(ok),
                Kbd::Failed(why) => Err(why),
                Kbd::NeedsInput(prompts) => {
                    self.stage(
                        "login",
                        StageStatus::Skipped,
                        t0,
                        format!(
                            "the server asks for more than the password: {}",
                            prompts.join(" / ")
                        ),
                    );
                    let f = diagnose::kbd_interactive_needs_input(&self.target, &prompts);
                    self.find(f);
                    let _ = conn
                        .handle
                        .disconnect(russh::Disconnect::ByApplication, "", "")
                        .await;
                    return;
                }
            };
            ("keyboard-interactive", outcome)
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

    /// keyboard-interactive, one attempt: the password answers the server's password prompt
    /// (hidden, and not worded as a code or token); any other prompt (an OTP's `Verification
    /// code:`, a question) is asked of the user through `kbd_prompt` (on a terminal only: the
    /// text made safe to show, echo as the server says), or, without one, nothing more is sent
    /// and the prompts come back as [`Kbd::NeedsInput`]. The password is never sent twice: a
    /// second password prompt after it was answered is a refusal.
    async fn keyboard_interactive(&mut self, conn: &mut Conn, password: &str) -> Kbd {
        use russh::client::KeyboardInteractiveAuthResponse as R;
        let user = self.opts.user.clone();
        let t = self.opts.timeout;
        let start = conn
            .handle
            .authenticate_keyboard_interactive_start(user, None::<String>);
        let mut answer = match tokio::time::timeout(t, start).await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Kbd::Failed(format!("the server ended the session: {e}")),
            Err(_) => return Kbd::Failed("no answer to keyboard-interactive".into()),
        };
        let mut password_sent = false;
        for _ in 0..8 {
            let prompts = match answer {
                R::Success => return Kbd::Done(true),
                R::Failure { .. } => return Kbd::Done(false),
                R::InfoRequest { prompts, .. } => prompts,
            };
            let mut replies: Vec<String> = Vec::with_capacity(prompts.len());
            for p in &prompts {
                let text = crate::safe_text::from_wire(p.prompt.as_bytes());
                if is_password_prompt(&text, p.echo) {
                    if password_sent {
                        // Asked again: the password was refused (PAM asks anew); never retried.
                        return Kbd::Done(false);
                    }
                    replies.push(password.to_string());
                    continue;
                }
                let asked = match self.opts.kbd_prompt.clone() {
                    Some(ask) => {
                        let (q, echo) = (text.clone(), p.echo);
                        let t = tokio::task::spawn_blocking(move || ask(&q, echo));
                        t.await.ok().flatten()
                    }
                    None => None,
                };
                match asked {
                    Some(a) => replies.push(a.to_string()),
                    None => {
                        let texts = prompts
                            .iter()
                            .map(|p| crate::safe_text::from_wire(p.prompt.as_bytes()))
                            .filter(|p| !is_password_prompt(p, false))
                            .collect();
                        return Kbd::NeedsInput(texts);
                    }
                }
            }
            password_sent |= prompts.iter().any(|p| {
                is_password_prompt(&crate::safe_text::from_wire(p.prompt.as_bytes()), p.echo)
            });
            let next = conn
                .handle
                .authenticate_keyboard_interactive_respond(replies);
            answer = match tokio::time::timeout(t, next).await {
                Ok(Ok(a)) => a,
                _ => return Kbd::Failed("no answer to keyboard-interactive".into()),
            };
        }
        Kbd::Failed("keyboard-interactive did not finish".into())
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
            // The agent signs for a certificate as for its key; the request names the
            // certificate, as the unsigned query did.
            let answer = match &key.certificate {
                Some(cert) => {
                    let ask =
                        conn.handle
                            .authenticate_certificate_with(user, cert.clone(), hash, agent);
                    tokio::time::timeout(t, ask).await
                }
                None => {
                    let ask =
                        conn.handle
                            .authenticate_publickey_with(user, key.key.clone(), hash, agent);
                    tokio::time::timeout(t, ask).await
                }
            };
            match answer {
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
}

/// What the server's `server-sig-algs` says about RSA signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerRsa {
    /// Sent: its best RSA algorithm (`None`: only SHA-1 `ssh-rsa`).
    Listed(Option<HashAlg>),
    /// No `server-sig-algs` at all (an old server).
    NoExtension,
}

/// OpenSSH 9.2's default PubkeyAcceptedAlgorithms (`ssh -Q PubkeyAcceptedAlgorithms` minus
/// what is off by default: no SHA-1 `ssh-rsa`, no DSA), for when `ssh -G` could not say.
const DEFAULT_PUBKEY_ACCEPTED: &[&str] = &[
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
];

/// How a keyboard-interactive exchange ended.
enum Kbd {
    /// Logged in (`true`) or refused (`false`).
    Done(bool),
    /// The server asks for more than the password and no one can answer here: its prompts.
    NeedsInput(Vec<String>),
    /// The session ended or stopped answering.
    Failed(String),
}

/// Whether a keyboard-interactive prompt asks for the account's password: hidden, and not
/// worded as a one-time code, token or PIN (`Verification code:`, `Passcode:`, `Token:`).
fn is_password_prompt(text: &str, echo: bool) -> bool {
    let t = text.to_lowercase();
    !echo
        && !["code", "token", "otp", "one-time", "pin", "verification"]
            .iter()
            .any(|w| t.contains(w))
}

/// The client's list as ssh resolved it, or OpenSSH's default when unknown.
fn accepted_pubkey_algorithms(configured: &[String]) -> Vec<String> {
    if configured.is_empty() {
        DEFAULT_PUBKEY_ACCEPTED
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        configured.to_vec()
    }
}

/// Whether ssh would offer `key` (as a certificate when `cert`) under `accepted`: RSA keys by
/// any of their signature algorithms, certificates by their `-cert-v01@openssh.com` names.
fn type_accepted(key: &PublicKey, cert: bool, accepted: &[String]) -> bool {
    let names: Vec<String> = if key.algorithm().is_rsa() {
        ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        vec![key.algorithm().as_str().to_string()]
    };
    names.iter().any(|n| {
        let want = if cert {
            match n.strip_suffix("@openssh.com") {
                Some(base) => format!("{base}-cert-v01@openssh.com"),
                None => format!("{n}-cert-v01@openssh.com"),
            }
        } else {
            n.clone()
        };
        accepted.contains(&want)
    })
}

/// OpenSSH's choice of RSA signature algorithm (`key_sig_algorithm` in sshconnect2.c): `Some`
/// with russh's hash (`None` inside: SHA-1 `ssh-rsa`), or `None` for "no mutual signature
/// algorithm". The server's list is known only by its best RSA entry; a server that names
/// rsa-sha2-512 is taken to name rsa-sha2-256 and ssh-rsa too, as OpenSSH's does.
fn rsa_signature(accepted: &[String], server: ServerRsa) -> Option<Option<HashAlg>> {
    let (has512, has256, has_sha1) = match server {
        ServerRsa::Listed(Some(HashAlg::Sha512)) => (true, true, true),
        ServerRsa::Listed(Some(_)) => (false, true, true),
        ServerRsa::Listed(None) => (false, false, true),
        ServerRsa::NoExtension => (false, false, true),
    };
    for a in accepted {
        match a.as_str() {
            "rsa-sha2-512" if has512 && server != ServerRsa::NoExtension => {
                return Some(Some(HashAlg::Sha512))
            }
            "rsa-sha2-256" if has256 && server != ServerRsa::NoExtension => {
                return Some(Some(HashAlg::Sha256))
            }
            "ssh-rsa" if has_sha1 => return Some(None),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod signature_tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn rsa_signatures_are_chosen_as_openssh_chooses_them() {
        let default = accepted_pubkey_algorithms(&[]);
        let modern = ServerRsa::Listed(Some(HashAlg::Sha512));
        assert_eq!(rsa_signature(&default, modern), Some(Some(HashAlg::Sha512)));
        // An old server: only ssh-rsa named, or no server-sig-algs at all.
        assert_eq!(rsa_signature(&default, ServerRsa::Listed(None)), None);
        assert_eq!(rsa_signature(&default, ServerRsa::NoExtension), None);
        // `PubkeyAcceptedAlgorithms +ssh-rsa` makes it work there, with SHA-1.
        let mut plus = default.clone();
        plus.push("ssh-rsa".into());
        assert_eq!(rsa_signature(&plus, ServerRsa::NoExtension), Some(None));
        assert_eq!(rsa_signature(&plus, ServerRsa::Listed(None)), Some(None));
        assert_eq!(rsa_signature(&plus, modern), Some(Some(HashAlg::Sha512)));
        assert_eq!(
            rsa_signature(&v(&["rsa-sha2-256"]), modern),
            Some(Some(HashAlg::Sha256))
        );
    }

    #[test]
    fn the_password_prompt_is_told_from_a_second_factor() {
        assert!(is_password_prompt("Password: ", false));
        assert!(is_password_prompt("alice@host's password: ", false));
        assert!(!is_password_prompt("Password: ", true));
        assert!(!is_password_prompt("Verification code: ", false));
        assert!(!is_password_prompt("Passcode: ", false));
        assert!(!is_password_prompt("Enter PIN for token: ", false));
    }

    #[test]
    fn key_types_left_out_of_the_list_are_not_offered() {
        let ed = PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        )
        .expect("key");
        assert!(type_accepted(&ed, false, &accepted_pubkey_algorithms(&[])));
        assert!(!type_accepted(
            &ed,
            false,
            &v(&["rsa-sha2-512", "rsa-sha2-256"])
        ));
        assert!(type_accepted(
            &ed,
            true,
            &v(&["ssh-ed25519-cert-v01@openssh.com"])
        ));
        assert!(!type_accepted(&ed, true, &v(&["ssh-ed25519"])));
    }
}

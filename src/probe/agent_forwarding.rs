//! The stage `agent-forwarding` (`probe -A`, or `ForwardAgent yes`): after a real login, ask
//! for agent forwarding, run `ssh-add -l` on the server and count the agent channels the server
//! opens back, which the handler relays to the local agent; so "forwarding works" means a
//! request made on the server reached this agent.
//!
//! Why a module of its own: it is the one stage after the eight, runs only when asked and only
//! on a server whose host key matched, and its relay lives in `handler`; the login stage in
//! `auth` only calls it. Once it worked, the `hop` stage (`--hop HOST2`) follows on the same
//! session.

use std::time::{Duration, Instant};

use russh::ChannelMsg;

use super::diagnose;
use super::handler::Conn;
use super::session::Probe;
use super::StageStatus;

impl Probe {
    /// The stage `agent-forwarding`: asks for forwarding on a session channel, runs `ssh-add -l`
    /// there and relays the server's agent requests to the local agent, so a request made on
    /// the server is seen to reach the local agent (the relay counts it), and the fingerprints
    /// the server lists are the keys it can use now. Never offered to a server whose host key
    /// did not match known_hosts.
    pub(super) async fn agent_forwarding(&mut self, conn: &Conn) {
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
                    // Only now, with forwarding proven, the next step (`--hop HOST2`).
                    let agent = super::hop::fingerprints(&lines);
                    self.hop_stage(conn, &agent).await;
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
}

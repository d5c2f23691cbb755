//! The live probe: a real SSH client (russh on tokio) that walks a login step by step, times
//! each stage, reports it as it completes, and turns what happened into [`Finding`]s.
//!
//! The probe never writes to disk, never signs anything before a key is known to be accepted
//! (publickey queries are unsigned, so no passphrase is needed to learn which key works), never
//! spends more failed attempts per connection than the server allows, and never runs a command.
//! Configuration (`ssh -G`) and known_hosts matching are done by the caller: [`ProbeOptions`]
//! holds already-resolved inputs and a host-key verdict closure.
//!
//! - `session`: the `Probe` walking one connection through the stages.
//! - `handler`: russh's client handler, its record of what the server sent, and the handshake.
//! - `auth`: the key queries, the login, and the password login.
//! - `agent_forwarding`: the stage that tests `ssh -A` after a login.
//! - `hop`: the stage after it (`--hop HOST2`): the user's `ssh HOST2` run on the server.
//! - `ssh_check`: the last stage, the user's own ssh run once as a second opinion, read by
//!   `ssh_verbose` (which `sshdoctor explain` uses on its own).

mod agent_forwarding;
mod auth;
mod handler;
pub mod hop;
mod host_cert;
mod session;

pub mod diagnose;
pub mod dns;
pub mod jump;
pub mod keyscan;
pub mod setup;
pub mod ssh_check;
pub mod ssh_verbose;
pub mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::keys::ssh_key::PublicKey;
use serde::Serialize;

use crate::finding::{Finding, Severity};
use session::{Hop, Jumped, Probe};

pub use handler::presented_key;

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

/// What the caller's known_hosts files say about a host certificate, before ssh falls back to
/// the plain key inside it (see `known_hosts::check_host_certificate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCertVerdict {
    pub status: crate::known_hosts::HostCertStatus,
    /// The known_hosts file of the line `status` names (none for an untrusted CA).
    pub file: Option<PathBuf>,
    /// The name the principals were compared with: the host, or HostKeyAlias.
    pub name: String,
}

/// Judges a host certificate the server presented.
pub type HostCertCheck =
    Box<dyn Fn(&russh::keys::ssh_key::Certificate) -> HostCertVerdict + Send + Sync>;

/// Asks the user for a key's passphrase (TUI prompt or `--ask-passphrase`); `None` to skip.
pub type PassphrasePrompt = Box<dyn Fn(&std::path::Path) -> Option<String> + Send + Sync>;

/// Asks the user a keyboard-interactive prompt that is not the password (an OTP's
/// `Verification code:`): the prompt's text (already made safe to show) and whether the server
/// wants the answer echoed; `None` when no one can answer (no terminal) or the user declined.
pub type KbdPrompt = Arc<dyn Fn(&str, bool) -> Option<zeroize::Zeroizing<String>> + Send + Sync>;

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
    /// `CertificateFile` user certificates whose key no identity file holds: ssh offers each
    /// with the agent's key when the agent holds that key, unless IdentitiesOnly (measured:
    /// then it looks for the private key at the certificate's path and gives up).
    pub agent_certificate_files: Vec<russh::keys::ssh_key::Certificate>,
    /// The agent socket to ask for keys, if any.
    pub use_agent: Option<PathBuf>,
    pub identities_only: bool,
    pub host_key_check: Box<dyn Fn(&PublicKey) -> HostKeyVerdict + Send + Sync>,
    /// Judges a host certificate, when the server presents one; `None`: only its plain key is
    /// judged (by `host_key_check`).
    pub host_cert_check: Option<HostCertCheck>,
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
    /// For `--password` over keyboard-interactive: who answers the server's other prompts (set
    /// on a terminal only; without it they are reported as `kbd-interactive-needs-input`).
    pub kbd_prompt: Option<KbdPrompt>,
    /// After the login, test agent forwarding (`ssh -A`, `ForwardAgent yes`): the stage
    /// `agent-forwarding`, run only when the host key matched known_hosts.
    pub forward_agent: bool,
    /// `--hop HOST2`: after `agent-forwarding` worked, run `ssh -o BatchMode=yes HOST2 true` on
    /// the server over the forwarded agent (the stage [`HOP_STAGE`]).
    pub second_hop: Option<hop::HopRequest>,
    /// The user's own ssh to run as the last stage ([`CROSS_CHECK_STAGE`]), when ssh is
    /// installed and the cross-check was not turned off (`--no-cross-check`).
    pub cross_check: Option<ssh_check::CrossCheck>,
    /// A stage that works but takes longer than this is reported as `slow-login` (`None`: not
    /// judged).
    pub slow_after: Option<Duration>,
}

/// The key exchange methods, ciphers and MACs ssh offers, in its order (from `ssh -G`, which
/// applies the config's `+`/`-`/`^` itself). An empty list keeps russh's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Algorithms {
    pub kex: Vec<String>,
    pub ciphers: Vec<String>,
    pub macs: Vec<String>,
    /// PubkeyAcceptedAlgorithms: key types ssh offers and RSA signatures it makes (empty:
    /// OpenSSH's default, which has no SHA-1 `ssh-rsa`).
    pub pubkey: Vec<String>,
    /// The config line that set PubkeyAcceptedAlgorithms (`file:line: text`), when found.
    pub pubkey_source: Option<String>,
    /// The config lines that set HostKeyAlgorithms, KexAlgorithms, Ciphers or MACs, by
    /// keyword as ssh_config spells it (`file:line: text`): a failure they cause names them.
    pub sources: Vec<(String, String)>,
}

impl Algorithms {
    /// The config line that set `keyword` (`HostKeyAlgorithms`, ...), when one was found.
    pub fn source(&self, keyword: &str) -> Option<&str> {
        self.sources
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|(_, v)| v.as_str())
    }
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

/// The stage after the eight (target only, when the cross-check runs): the user's own ssh,
/// run once as a second opinion (see [`ssh_check`]).
pub const CROSS_CHECK_STAGE: &str = "ssh-check";

/// The stage after `agent-forwarding` (`--hop HOST2`): the user's next `ssh`, run on the server
/// (see [`hop`]).
pub const HOP_STAGE: &str = "hop";

/// The stages whose time is judged for `slow-login`: where a slow server, a reverse DNS lookup,
/// GSSAPI or PAM shows (the key queries are left out: their time grows with the number of keys).
const TIMED_STAGES: [&str; 5] = ["connect", "banner", "kex", "auth-methods", "login"];

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
        "hop" => "hop (ssh onward)",
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
            if p.opts.second_hop.is_some() && !p.report.stages.iter().any(|s| s.stage == HOP_STAGE)
            {
                let why = hop::not_run_reason(&p);
                p.stage(HOP_STAGE, StageStatus::Skipped, Instant::now(), why);
            }
        }
    }
    for hop in chain.iter().rev() {
        let _ = hop
            .conn
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "")
            .await;
    }
    slow_stages(&mut p);
    if let Some(check) = p.opts.cross_check.take() {
        cross_check(&mut p, check).await;
    }
    crate::finding::sort_worst_first(&mut p.report.findings);
    p.report
}

/// `slow-login` for each timed stage of the target that succeeded but took too long.
fn slow_stages(p: &mut Probe) {
    let Some(limit) = p.opts.slow_after else {
        return;
    };
    let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
    let slow: Vec<(String, u64)> = p
        .report
        .stages
        .iter()
        .filter(|s| {
            s.status == StageStatus::Ok
                && TIMED_STAGES.contains(&s.stage.as_str())
                && s.ms > limit_ms
        })
        .map(|s| (s.stage.clone(), s.ms))
        .collect();
    for (stage, ms) in slow {
        let f = diagnose::slow_login(&p.target, &stage, ms, limit_ms);
        p.report.findings.push(f);
    }
}

/// The `ssh-check` stage: runs the user's ssh (off the async threads, bounded) and compares its
/// verdict with the probe's. Skipped where ssh could only repeat a wait the probe already
/// timed out on (connect and banner timeouts).
async fn cross_check(p: &mut Probe, check: ssh_check::CrossCheck) {
    p.started(CROSS_CHECK_STAGE);
    let t0 = Instant::now();
    let waited = p.report.findings.iter().any(|f| {
        let id = f.id.strip_prefix("jump-").unwrap_or(&f.id);
        matches!(id, "connect-timeout" | "banner-timeout")
    });
    if waited {
        let detail = "skipped: ssh would wait just as long for the same server";
        p.stage(CROSS_CHECK_STAGE, StageStatus::Skipped, t0, detail);
        return;
    }
    let probe_ok = !p
        .report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error);
    let bound = p.opts.timeout.saturating_mul(3).max(Duration::from_secs(3));
    let run = {
        let check = check.clone();
        tokio::task::spawn_blocking(move || ssh_check::run(&check, bound)).await
    };
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            let detail = format!("skipped: the ssh run failed: {e}");
            p.stage(CROSS_CHECK_STAGE, StageStatus::Skipped, t0, detail);
            return;
        }
    };
    let (agree, detail, finding) = ssh_check::judge(&p.target, &check, &run, probe_ok);
    let status = match (&run.ended, agree) {
        (ssh_check::Ended::NotRun(_), _) => StageStatus::Skipped,
        (_, true) => StageStatus::Ok,
        (_, false) => StageStatus::Fail,
    };
    p.stage(CROSS_CHECK_STAGE, status, t0, detail);
    if let Some(f) = finding {
        p.report.findings.push(f);
    }
}

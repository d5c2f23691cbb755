//! `sshdoctor server`: run on the server to learn why sshd refuses a login.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::exit::Exit;
use crate::finding::Severity;
use crate::safe_text::printable;
use crate::server::{inspect, ServerError, ServerOptions, ServerReport};

/// Explain why sshd refuses a login, from sshd's effective config, file modes, authorized_keys
/// and sshd's log.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "The dashboard (`sshdoctor` with no command) shows this same report for the current user in its Server pane when this machine runs sshd; its chmod fixes apply there with f."
)]
pub struct ServerArgs {
    /// The account that cannot log in (default: the current user).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// The SHA256 fingerprint of the key that is refused (as `ssh-keygen -l` prints it).
    #[arg(long, value_name = "FINGERPRINT", conflicts_with = "pubkey")]
    pub key: Option<String>,
    /// The public key file of the key that is refused.
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// The sshd configuration to inspect instead of /etc/ssh/sshd_config.
    #[arg(long, value_name = "FILE")]
    pub sshd_config: Option<PathBuf>,
    /// A log file to read instead of the journal or /var/log/auth.log.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The client's address, for `from=` options and `Match Address` (default: from the log).
    #[arg(long, value_name = "ADDR")]
    pub from: Option<IpAddr>,
    /// Also say whether the user can forward an agent here (`ssh -A`), and which setting
    /// refuses it: AllowAgentForwarding, DisableForwarding, or the key's authorized_keys options.
    #[arg(long)]
    pub forwarding: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the inspection; exit 0 when no error finding, 1 with one, 2 on bad input.
pub fn run(args: &ServerArgs) -> anyhow::Result<Exit> {
    let opts = ServerOptions {
        user: args.user.clone(),
        key_fingerprint: args.key.clone(),
        pubkey: args.pubkey.clone(),
        sshd_config: args.sshd_config.clone(),
        log: args.log.clone(),
        client_addr: args.from,
        forwarding: args.forwarding,
    };
    let report = match inspect(&opts) {
        Ok(r) => r,
        Err(
            e @ (ServerError::NoSuchUser(_) | ServerError::Read { .. } | ServerError::BadInput(_)),
        ) => {
            eprintln!("sshdoctor server: {e}");
            return Ok(Exit::Usage);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_text(&report));
    }
    let bad = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error);
    Ok(Exit::problem_if(bad))
}

/// The plain-text report: the effective options that matter, then each finding with its
/// evidence and fixes.
pub fn render_text(r: &ServerReport) -> String {
    let mut s = format!(
        "sshd, as seen for user {} ({}):\n",
        printable(&r.user),
        printable(&r.sshd_source)
    );
    for (k, v) in &r.sshd {
        let val = match v {
            serde_json::Value::String(x) => x.clone(),
            serde_json::Value::Array(a) if a.is_empty() => continue,
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            serde_json::Value::Null => continue,
            other => other.to_string(),
        };
        s.push_str(&format!("  {k} {}\n", printable(&val)));
    }
    if let Some(fw) = &r.forwarding {
        s.push_str(&format!(
            "\nAgent forwarding for {}: {}\n",
            printable(&r.user),
            if fw.allowed { "allowed" } else { "refused" }
        ));
        s.push_str(&format!(
            "  allowagentforwarding {}, disableforwarding {}\n",
            printable(&fw.allow_agent_forwarding),
            printable(&fw.disable_forwarding)
        ));
        for k in &fw.keys {
            s.push_str(&format!(
                "  {} {}: {}\n",
                printable(&k.at),
                k.fingerprint,
                match &k.refused_by {
                    Some(by) => format!("refused by {by}"),
                    None => "allowed".to_string(),
                }
            ));
        }
    }
    s.push('\n');
    if r.findings.is_empty() {
        s.push_str("Nothing wrong found on the server side.\n");
    }
    s.push_str(&super::findings::render(&r.findings));
    s
}

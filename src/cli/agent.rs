//! `sshdoctor agent [--json]`: is an agent running, and which keys does it hold.

use crate::agent::{self, AgentStatus};
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &AgentArgs) -> anyhow::Result<Exit> {
    let status = agent::status_from_env();
    if args.json {
        super::print_json(&status)?;
        return Ok(Exit::Clean);
    }
    match &status {
        AgentStatus::NotSet => println!("No agent: SSH_AUTH_SOCK is not set."),
        AgentStatus::Unreachable { socket, error, .. } => println!(
            "SSH_AUTH_SOCK={} but no agent answers there: {}",
            socket.display(),
            crate::safe_text::printable(error)
        ),
        AgentStatus::Running { socket, identities } => {
            println!(
                "Agent at {} holds {} key(s).",
                socket.display(),
                identities.len()
            );
            let now = crate::certificate::now_unix();
            for i in identities {
                println!(
                    "  {:<22} {}  {}",
                    i.key_type,
                    i.fingerprint,
                    crate::safe_text::printable(&i.comment)
                );
                if let Some(c) = &i.certificate {
                    println!(
                        "  {:<22} certificate \"{}\" (serial {}) for {}; {}; CA {}",
                        "",
                        crate::safe_text::printable(&c.key_id),
                        c.serial,
                        if c.principals.is_empty() {
                            "any principal".to_string()
                        } else {
                            crate::safe_text::printable(&c.principals.join(","))
                        },
                        crate::certificate::validity_text(c, now),
                        c.ca_fingerprint
                    );
                }
            }
        }
    }
    Ok(Exit::Clean)
}

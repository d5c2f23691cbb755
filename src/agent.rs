//! The ssh-agent as ssh sees it: is `SSH_AUTH_SOCK` set, does something answer on that socket,
//! and which keys does it hold.
//!
//! The classic failure is a stale socket: the variable survives a logout, a `tmux attach` or a
//! `sudo -E`, but the agent that made the socket is gone, so ssh silently falls back to key files
//! and the user wonders why the key they "added" is not used. Every probe here is bounded by a
//! timeout, because a hung agent must not hang the doctor.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity as RusshIdentity;
use russh::keys::ssh_key::{Algorithm, HashAlg, PublicKey};
use serde::Serialize;

use crate::certificate::CertInfo;
use crate::finding::{shell_quote, Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::platform::{is_launchd_agent_socket, Platform};

/// How long connecting and asking for identities may take together.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the agent socket told us.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum AgentStatus {
    /// `SSH_AUTH_SOCK` is unset or empty: no agent in this session.
    NotSet,
    /// The variable names a socket, but no working agent answers there.
    Unreachable {
        socket: PathBuf,
        error: String,
        reason: UnreachableReason,
    },
    Running {
        socket: PathBuf,
        identities: Vec<AgentIdentity>,
    },
}

/// Why the socket did not answer, so the finding can name the likely cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnreachableReason {
    /// The path does not exist: the agent exited and cleaned up, or the variable is stale.
    Missing,
    /// Something other than a socket sits at that path.
    NotASocket,
    /// A socket file with nobody listening: the agent died without removing it.
    Refused,
    /// Connected, but no answer within the timeout: a hung or wedged agent.
    Timeout,
    /// Answered with something that is not the agent protocol.
    Protocol,
    /// Any other I/O failure (permission denied, ...).
    Io,
}

/// One key the agent offers, as `ssh-add -l` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentIdentity {
    /// `ED25519`, `RSA`, `ECDSA`, `ED25519-SK`, ... and `-CERT` for certificates, like ssh-add.
    pub key_type: String,
    /// `SHA256:...`, exactly as `ssh-add -l` prints it.
    pub fingerprint: String,
    pub comment: String,
    #[serde(skip)]
    pub public_key: PublicKey,
    /// For a certificate: what it says (key id, principals, validity, CA), as `keys` shows a
    /// `-cert.pub` file; its `path` is the agent's socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertInfo>,
}

/// The agent named by `SSH_AUTH_SOCK` in this process's environment.
pub fn status_from_env() -> AgentStatus {
    let sock = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty());
    status(sock.as_deref().map(Path::new))
}

/// Probes the agent at `sock` (None: the variable is not set), within [`AGENT_TIMEOUT`].
pub fn status(sock: Option<&Path>) -> AgentStatus {
    status_with_timeout(sock, AGENT_TIMEOUT)
}

/// [`status`] with a chosen timeout.
pub fn status_with_timeout(sock: Option<&Path>, timeout: Duration) -> AgentStatus {
    let Some(sock) = sock.filter(|s| !s.as_os_str().is_empty()) else {
        return AgentStatus::NotSet;
    };
    let unreachable = |reason, error: String| AgentStatus::Unreachable {
        socket: sock.to_path_buf(),
        error,
        reason,
    };
    match std::fs::metadata(sock) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return unreachable(
                UnreachableReason::Missing,
                "no such file or directory".into(),
            )
        }
        Err(e) => return unreachable(UnreachableReason::Io, e.to_string()),
        Ok(m) if !m.file_type().is_socket() => {
            return unreachable(
                UnreachableReason::NotASocket,
                format!("not a socket ({})", file_kind(&m.file_type())),
            )
        }
        Ok(_) => {}
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return unreachable(
                UnreachableReason::Io,
                format!("cannot start the I/O runtime: {e}"),
            )
        }
    };
    let asked = rt.block_on(async {
        tokio::time::timeout(timeout, async {
            let mut client = AgentClient::connect_uds(sock).await?;
            client.request_identities().await
        })
        .await
    });
    match asked {
        Err(_) => unreachable(
            UnreachableReason::Timeout,
            format!("the agent did not answer within {} ms", timeout.as_millis()),
        ),
        Ok(Err(russh::keys::Error::IO(e))) => {
            let reason = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => UnreachableReason::Refused,
                std::io::ErrorKind::NotFound => UnreachableReason::Missing,
                std::io::ErrorKind::UnexpectedEof => UnreachableReason::Protocol,
                _ => UnreachableReason::Io,
            };
            let error = match reason {
                UnreachableReason::Refused => {
                    format!("connection refused: nothing listens on this socket ({e})")
                }
                UnreachableReason::Protocol => {
                    "the agent closed the connection without answering".to_string()
                }
                _ => e.to_string(),
            };
            unreachable(reason, error)
        }
        Ok(Err(e)) => unreachable(
            UnreachableReason::Protocol,
            format!("the agent's answer could not be read: {e}"),
        ),
        Ok(Ok(ids)) => AgentStatus::Running {
            socket: sock.to_path_buf(),
            identities: ids.iter().map(|i| identity(sock, i)).collect(),
        },
    }
}

fn file_kind(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_fifo() {
        "a named pipe"
    } else {
        "a special file"
    }
}

fn identity(sock: &Path, id: &RusshIdentity) -> AgentIdentity {
    let (certificate, comment) = match id {
        RusshIdentity::PublicKey { comment, .. } => (None, comment.clone()),
        RusshIdentity::Certificate {
            certificate,
            comment,
        } => (
            Some(crate::certificate::info(sock, certificate)),
            comment.clone(),
        ),
    };
    let cert = certificate.is_some();
    let public_key = id.public_key().into_owned();
    let mut key_type = type_label(&public_key.algorithm());
    if cert {
        key_type.push_str("-CERT");
    }
    AgentIdentity {
        key_type,
        fingerprint: public_key.fingerprint(HashAlg::Sha256).to_string(),
        comment,
        public_key,
        certificate,
    }
}

/// The key type as ssh-add and ssh-keygen print it in parentheses.
pub fn type_label(alg: &Algorithm) -> String {
    match alg {
        Algorithm::Dsa => "DSA".into(),
        Algorithm::Ecdsa { .. } => "ECDSA".into(),
        Algorithm::Ed25519 => "ED25519".into(),
        Algorithm::Rsa { .. } => "RSA".into(),
        Algorithm::SkEcdsaSha2NistP256 => "ECDSA-SK".into(),
        Algorithm::SkEd25519 => "ED25519-SK".into(),
        other => other.as_str().to_ascii_uppercase(),
    }
}

const AGENT_PURPOSE: &str = "The ssh-agent keeps your unlocked private keys in memory so ssh can \
    use them without asking for the passphrase every time, and so forwarded sessions \
    (ForwardAgent) can use them too. ssh finds it through the SSH_AUTH_SOCK variable.";

/// `agent-not-running` when there is no usable agent, `agent-empty` when it holds no key, with
/// the advice for the platform sshdoctor runs on.
pub fn findings(status: &AgentStatus) -> Vec<Finding> {
    findings_on(status, Platform::current())
}

/// [`findings`] with the platform as a value: macOS's launchd provides an agent in every login
/// session, so "start one" is the wrong advice there, and its passphrases live in the keychain.
pub fn findings_on(status: &AgentStatus, platform: Platform) -> Vec<Finding> {
    let start = Fix::new(
        FixId::StartAgent,
        if platform == Platform::MacOs {
            "Take launchd's agent back into this shell (or start one) and add your keys"
        } else {
            "Start an agent in this shell and add your keys"
        },
        format!(
            "{} && {}",
            platform.start_agent_command(),
            platform.add_key_command("").trim_end()
        ),
    );
    let not_set = match platform {
        Platform::MacOs => {
            "It is not set in this shell. On a Mac, launchd starts an agent for every login \
             session and hands SSH_AUTH_SOCK to the programs started from the desktop, so a \
             shell without it was started another way (over ssh, by cron or a launchd job, \
             with a cleared environment, or an old tmux session). ssh reads key files directly \
             and asks for each passphrase; agent forwarding cannot work."
        }
        _ => {
            "It is not set here, so ssh reads key files directly and asks for each passphrase. \
             Logins can still work; passphrase prompts, and anything that relies on agent \
             forwarding, will not."
        }
    };
    match status {
        AgentStatus::NotSet => vec![Finding::new(
            "agent-not-running",
            Severity::Warning,
            "No ssh-agent is running in this session",
        )
        .explain(format!("{AGENT_PURPOSE} {not_set}"))
        .evidence("SSH_AUTH_SOCK is not set")
        .fix(start)],
        AgentStatus::Unreachable {
            socket,
            error,
            reason,
        } => {
            let sock = socket.display().to_string();
            let (title, cause) = match reason {
                UnreachableReason::Missing | UnreachableReason::Refused => (
                    "SSH_AUTH_SOCK points to an ssh-agent that is no longer running",
                    "This is a stale socket: the agent that created it has exited (a logout, a \
                     reboot, an old tmux or screen session still carrying the variable), so keys \
                     you added earlier are gone and ssh quietly falls back to key files.",
                ),
                UnreachableReason::NotASocket => (
                    "SSH_AUTH_SOCK does not point to a socket",
                    "Something other than an agent socket sits at that path, usually because the \
                     variable was set by hand or copied from another machine.",
                ),
                UnreachableReason::Timeout => (
                    "The ssh-agent does not answer",
                    "A process accepted the connection but never replied: the agent is hung \
                     (or it waits for a confirmation dialog nobody can see). ssh will hang the \
                     same way when it asks for keys.",
                ),
                UnreachableReason::Protocol => (
                    "The program at SSH_AUTH_SOCK does not speak the agent protocol",
                    "Something answered, but not as an ssh-agent does; ssh cannot use it.",
                ),
                UnreachableReason::Io => (
                    "The ssh-agent socket cannot be opened",
                    "The socket exists but this user cannot use it, usually after `sudo` or `su` \
                     kept another user's SSH_AUTH_SOCK.",
                ),
            };
            let mut f = Finding::new("agent-not-running", Severity::Warning, title)
                .explain(format!("{AGENT_PURPOSE} {cause}"))
                .evidence(format!("SSH_AUTH_SOCK={sock}"))
                .evidence(error.clone())
                .fix(start);
            if matches!(
                reason,
                UnreachableReason::Missing | UnreachableReason::Refused
            ) {
                f = f.fix(Fix::new(
                    FixId::UnsetStaleAgent,
                    "Forget the stale agent in this shell",
                    "unset SSH_AUTH_SOCK SSH_AGENT_PID",
                ));
            }
            if *reason == UnreachableReason::Refused {
                f = f.fix(
                    Fix::new(
                        FixId::RemoveStaleSocket,
                        "Remove the dead socket file",
                        format!("rm -f {}", shell_quote(&sock)),
                    )
                    .destructive(),
                );
            }
            vec![f]
        }
        AgentStatus::Running { socket, identities } if identities.is_empty() => {
            let mut f = Finding::new(
                "agent-empty",
                Severity::Info,
                "The ssh-agent is running but holds no keys",
            );
            f = if platform == Platform::MacOs && is_launchd_agent_socket(socket) {
                f.explain(
                    "This is the agent macOS's launchd starts for your session. It starts \
                     empty after every login or reboot: macOS no longer loads keys by itself. \
                     `ssh-add --apple-use-keychain KEY` loads a key and stores its passphrase in \
                     the login keychain; with `UseKeychain yes` and `AddKeysToAgent yes` under \
                     `Host *` in ~/.ssh/config, ssh loads it from there on first use without \
                     asking again.",
                )
                .evidence(format!(
                    "SSH_AUTH_SOCK={} (launchd's agent)",
                    socket.display()
                ))
            } else {
                f.explain(
                    "The agent answers but has no keys loaded, so ssh offers it nothing and reads \
                     key files directly. `ssh-add` loads your default keys (asking for each \
                     passphrase once); `AddKeysToAgent yes` in ~/.ssh/config does it on first use.",
                )
                .evidence(format!("SSH_AUTH_SOCK={}", socket.display()))
            };
            vec![f
                .evidence("ssh-add -l: The agent has no identities.")
                .fix(Fix::new(
                    FixId::AddKeys,
                    "Load your keys into the agent",
                    platform.add_key_command("").trim_end(),
                ))]
        }
        AgentStatus::Running { identities, .. } => certificate_findings(identities),
    }
}

/// The agent's certificates that servers will refuse (expired, not yet valid, a bad signature)
/// or soon will: ssh offers them before the plain keys, so an expired one costs an attempt on
/// every login and, where only the certificate is trusted, the login itself.
fn certificate_findings(identities: &[AgentIdentity]) -> Vec<Finding> {
    let now = crate::certificate::now_unix();
    identities
        .iter()
        .filter_map(|i| i.certificate.as_ref())
        .flat_map(|c| {
            let shown = format!("the agent's certificate \"{}\"", c.key_id);
            crate::certificate::findings_named(c, &shown, None, now)
        })
        .map(|f| {
            f.fix(Fix::new(
                FixId::RenewCertificate,
                "Get a fresh certificate from your CA (its tool adds it to the agent), or drop this one",
                "ssh-add -d KEY-cert.pub   # the certificate file it was added from (ssh-add -D empties the agent)",
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(fs: &[Finding]) -> Vec<String> {
        fs.iter()
            .flat_map(|f| f.fixes.iter().map(|x| x.command.clone()))
            .collect()
    }

    #[test]
    fn on_a_mac_a_shell_without_an_agent_takes_launchds_back() {
        let mac = findings_on(&AgentStatus::NotSet, Platform::MacOs);
        assert_eq!(mac[0].id, "agent-not-running");
        assert!(mac[0].explanation.contains("launchd starts an agent"));
        let cmd = &commands(&mac)[0];
        assert!(cmd.starts_with("export SSH_AUTH_SOCK=\"$(launchctl getenv SSH_AUTH_SOCK)\""));
        assert!(cmd.ends_with("ssh-add --apple-use-keychain"), "{cmd}");
        let linux = findings_on(&AgentStatus::NotSet, Platform::Linux);
        assert_eq!(commands(&linux)[0], "eval \"$(ssh-agent -s)\" && ssh-add");
    }

    #[test]
    fn launchds_empty_agent_is_named_and_filled_from_the_keychain() {
        let status = AgentStatus::Running {
            socket: PathBuf::from("/private/tmp/com.apple.launchd.Xy12/Listeners"),
            identities: Vec::new(),
        };
        let mac = findings_on(&status, Platform::MacOs);
        assert_eq!(mac[0].id, "agent-empty");
        assert!(mac[0].evidence[0].ends_with("(launchd's agent)"));
        assert!(mac[0].explanation.contains("UseKeychain yes"));
        assert_eq!(commands(&mac), ["ssh-add --apple-use-keychain"]);
        let linux = findings_on(&status, Platform::Linux);
        assert_eq!(commands(&linux), ["ssh-add"]);
        assert!(!linux[0].explanation.contains("launchd"));
    }
}

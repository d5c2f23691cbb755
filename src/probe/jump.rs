//! ProxyJump: reading the jump list and naming failures that happen at a jump host.
//!
//! ssh reaches a target behind `ProxyJump a,b` by logging in to `a`, asking it for a
//! `direct-tcpip` channel to `b`, logging in to `b` over that channel, and so on until the
//! target. A failure at a jump host looks exactly like the same failure at the target (refused
//! connection, unknown host key, refused key), but the fix is on another machine; so every finding
//! made while walking a jump host gets a `jump-` prefixed id, a title naming the jump host, and an
//! `at jump host ...` evidence line ([`at_jump`]). Pure: nothing here touches the network.

use crate::finding::{shell_quote, Finding, Fix, Severity};
use crate::target::{parse_target, Target as Spec};

use super::diagnose::Target;
use crate::fix_id::FixId;

/// Splits a ProxyJump value into its hops, first hop first, as OpenSSH reads it: a comma
/// separated list of `[user@]host[:port]` or `ssh://[user@]host[:port]`; `none` (any case)
/// means a direct connection and gives no hop.
pub fn parse_proxy_jump(value: &str) -> Result<Vec<Spec>, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .map(|hop| {
            let hop = hop.trim();
            parse_target(hop).map_err(|e| format!("bad ProxyJump hop {hop:?}: {e}"))
        })
        .collect()
}

/// How a jump host is named in titles and evidence: `user@host port N`.
pub fn jump_name(jump: &Target) -> String {
    format!("{}@{} port {}", jump.user, jump.host, jump.port)
}

/// Re-labels a finding made at a jump host: `jump-` id, the jump host in the title, a sentence
/// saying the target was not reached, and an `at jump host ...` evidence line. The fixes stay as
/// they are: they already name the jump host (its known_hosts entry, its `ssh-copy-id`).
pub fn at_jump(mut f: Finding, jump: &Target) -> Finding {
    let name = jump_name(jump);
    f.id = format!("jump-{}", f.id);
    f.title = format!("At jump host {}: {}", jump.host, f.title);
    let lead = format!(
        "This is about the jump host {name} (ProxyJump), which ssh has to log in to before it \
         can open a connection to the target; the target itself was not reached."
    );
    f.explanation = if f.explanation.is_empty() {
        lead
    } else {
        format!("{lead} {}", f.explanation)
    };
    f.evidence.push(format!("at jump host {name} (ProxyJump)"));
    f
}

/// How OpenSSH names a channel-open failure reason code (`ssh` prints
/// `channel 0: open failed: administratively prohibited: open failed`).
pub fn open_failure_reason(code: u32) -> &'static str {
    match code {
        1 => "administratively prohibited",
        2 => "connect failed",
        3 => "unknown channel type",
        4 => "resource shortage",
        _ => "unknown reason",
    }
}

/// What the jump host answered to the `direct-tcpip` request, when it did not open the channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// SSH_MSG_CHANNEL_OPEN_FAILURE: the reason code and the server's own text.
    Failed { code: u32, message: String },
    /// No answer within the probe's timeout (the jump host is still trying to reach the target).
    NoAnswer { secs: f64 },
}

/// The jump host logged us in but would not connect us on to the target.
pub fn forwarding_refused(jump: &Target, target: &Target, refusal: &Refusal) -> Finding {
    let name = jump_name(jump);
    let dest = format!("{} port {}", target.host, target.port);
    let via: Vec<String> = if jump.port == 22 {
        Vec::new()
    } else {
        vec!["-p".into(), jump.port.to_string()]
    };
    let on_jump = |cmd: &str| {
        let mut words = vec!["ssh".to_string()];
        words.extend(via.iter().cloned());
        words.push(shell_quote(&format!("{}@{}", jump.user, jump.host)));
        words.push(shell_quote(cmd));
        words.join(" ")
    };
    let check_target = Fix::new(
        FixId::CheckTargetFromJump,
        format!("Check from the jump host that {dest} accepts connections"),
        on_jump(&format!(
            "nc -vz -w 5 {} {}",
            shell_quote(&target.host),
            target.port
        )),
    );
    let f = match refusal {
        Refusal::Failed { code: 1, message } => Finding::new(
            "jump-forwarding-refused",
            Severity::Error,
            format!(
                "The jump host {} does not allow forwarding to {dest}",
                jump.host
            ),
        )
        .explain(format!(
            "You can log in to the jump host {name}, but when ssh asks it to open a connection \
             on to the target, it refuses (\"administratively prohibited\"). The jump host's \
             sshd has TCP forwarding turned off (AllowTcpForwarding no, DisableForwarding yes, \
             often inside a Match block for some users), limits where it may connect \
             (PermitOpen), or your key's authorized_keys line carries no-port-forwarding or a \
             permitopen= that excludes the target. ssh shows \"channel 0: open failed: \
             administratively prohibited\"."
        ))
        .evidence(format!(
            "jump host answered: {}: {}",
            open_failure_reason(1),
            message
        ))
        .fix(Fix::new(
            FixId::AllowTcpForwarding,
            "On the jump host: set `AllowTcpForwarding yes` in /etc/ssh/sshd_config (and in any \
             Match block that applies to you), then reload sshd; check the effective value",
            // sshd -T needs root to read the host keys; -t lets sudo ask for a password.
            on_jump(
                "sudo sshd -T | grep -i -e allowtcpforwarding -e disableforwarding -e permitopen",
            )
            .replacen("ssh ", "ssh -t ", 1),
        )),
        Refusal::Failed { code, message } => Finding::new(
            "jump-forwarding-refused",
            Severity::Error,
            format!("The jump host {} cannot connect to {dest}", jump.host),
        )
        .explain(format!(
            "You can log in to the jump host {name}, but it could not open a connection on to \
             the target. The jump host resolves and connects to the target's HostName itself, so \
             the address and port must be right as seen from there: sshd on the target is down \
             or on another port, a firewall between the jump host and the target blocks it, or \
             the HostName only resolves on your side. ssh shows \"channel 0: open failed: {}\".",
            open_failure_reason(*code)
        ))
        .evidence(format!(
            "jump host answered: {}: {}",
            open_failure_reason(*code),
            message
        ))
        .fix(check_target.clone()),
        Refusal::NoAnswer { secs } => Finding::new(
            "jump-forwarding-refused",
            Severity::Error,
            format!("The jump host {} gets no answer from {dest}", jump.host),
        )
        .explain(format!(
            "You can log in to the jump host {name}, but its connection on to the target did not \
             complete in time: the packets from the jump host to the target are silently dropped \
             (a firewall or security group), or the address is wrong as seen from the jump host."
        ))
        .evidence(format!(
            "jump host did not open the channel within {secs:.1} s"
        ))
        .fix(check_target),
    };
    f.evidence(format!("asked jump host {name} to connect to {dest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: &str, port: u16) -> Target {
        Target {
            host: host.into(),
            port,
            user: "root".into(),
            display: format!("root@{host}:{port}"),
        }
    }

    #[test]
    fn proxy_jump_chains_and_none() {
        assert!(parse_proxy_jump("none").expect("none").is_empty());
        assert!(parse_proxy_jump("NONE").expect("none").is_empty());
        let hops = parse_proxy_jump("alice@bastion:2200, ssh://bob@inner").expect("two hops");
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[0].user.as_deref(), Some("alice"));
        assert_eq!(hops[0].host, "bastion");
        assert_eq!(hops[0].port, Some(2200));
        assert_eq!(hops[1].user.as_deref(), Some("bob"));
        assert_eq!(hops[1].host, "inner");
        assert_eq!(hops[1].port, None);
        assert!(parse_proxy_jump("a,,b").is_err());
        assert!(parse_proxy_jump("host:notaport").is_err());
    }

    #[test]
    fn jump_findings_say_where_they_happened() {
        let f = Finding::new("key-rejected", Severity::Error, "refused").explain("Because.");
        let f = at_jump(f, &t("10.0.0.1", 2200));
        assert_eq!(f.id, "jump-key-rejected");
        assert!(
            f.title.starts_with("At jump host 10.0.0.1: "),
            "{}",
            f.title
        );
        assert!(f.explanation.contains("the target itself was not reached"));
        assert!(f.explanation.ends_with("Because."));
        assert_eq!(
            f.evidence,
            ["at jump host root@10.0.0.1 port 2200 (ProxyJump)"]
        );
    }

    #[test]
    fn prohibited_forwarding_points_at_allow_tcp_forwarding() {
        let r = Refusal::Failed {
            code: 1,
            message: "open failed".into(),
        };
        let f = forwarding_refused(&t("bastion", 2200), &t("10.0.0.5", 22), &r);
        assert_eq!(f.id, "jump-forwarding-refused");
        assert_eq!(
            f.evidence[0],
            "jump host answered: administratively prohibited: open failed"
        );
        assert!(f.fixes[0].title.contains("AllowTcpForwarding yes"));
        assert!(f.fixes[0]
            .command
            .starts_with("ssh -t -p 2200 root@bastion 'sudo sshd -T"));
    }

    #[test]
    fn unreachable_target_is_checked_from_the_jump_host() {
        let r = Refusal::Failed {
            code: 2,
            message: "Connection refused".into(),
        };
        let f = forwarding_refused(&t("bastion", 22), &t("10.0.0.5", 2222), &r);
        assert!(f.title.contains("cannot connect to 10.0.0.5 port 2222"));
        assert_eq!(
            f.evidence[0],
            "jump host answered: connect failed: Connection refused"
        );
        assert_eq!(f.fixes.len(), 1);
        assert_eq!(
            f.fixes[0].command,
            "ssh root@bastion 'nc -vz -w 5 10.0.0.5 2222'"
        );
    }
}

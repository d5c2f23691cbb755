//! Pure: turns what the probe observed into [`Finding`]s with stable ids, plain-words
//! explanations, evidence and fixes. Nothing here touches the network, so every text is unit-tested.

use std::path::Path;

use crate::finding::{shell_quote, Finding, Fix, FixTarget, Severity};
use crate::fix_id::FixId;

/// Where the probe was pointed, for evidence lines and the commands in fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// What the user typed (an alias from ~/.ssh/config, or `user@host`).
    pub display: String,
}

impl Target {
    /// The name a `Host` line must match for this target: the host as the user typed it (an
    /// alias, or the name before any `:port`), without user or port, which ssh never matches
    /// Host patterns against.
    pub fn host_pattern(&self) -> String {
        crate::target::parse_target(&self.display)
            .map(|t| t.host)
            .unwrap_or_else(|_| self.host.clone())
    }

    /// The client address sshd sees, for `sshd -T -C addr=...`: known for a loopback target;
    /// otherwise the placeholder the administrator fills in (the address in sshd's log line).
    fn client_addr(&self) -> &'static str {
        match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_loopback() => {
                if ip.is_ipv6() {
                    "::1"
                } else {
                    "127.0.0.1"
                }
            }
            _ if self.host == "localhost" => "127.0.0.1",
            _ => "CLIENT_ADDRESS",
        }
    }

    /// `host` or `[host]:port`, the way known_hosts and `ssh-keygen -R` name it.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }

    /// `ssh [-p PORT] [extra...] user@host`: the command a person would retry with.
    pub fn ssh_command(&self, extra: &[String]) -> String {
        let mut words = vec!["ssh".to_string()];
        if self.port != 22 {
            words.push("-p".into());
            words.push(self.port.to_string());
        }
        words.extend(extra.iter().map(|w| shell_quote(w)));
        words.push(shell_quote(&format!("{}@{}", self.user, self.host)));
        words.join(" ")
    }

    fn host_port(&self) -> String {
        format!("{} port {}", self.host, self.port)
    }
}

/// One key as the findings name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLabel {
    /// The file, or `agent: COMMENT` for a key only the agent holds.
    pub name: String,
    pub path: Option<String>,
    pub fingerprint: String,
    pub key_type: String,
    /// A local finding that makes OpenSSH skip this key (e.g. `mode 0644`), if the caller knows one.
    pub local_problem: Option<String>,
}

impl KeyLabel {
    fn evidence(&self) -> String {
        // A key named only by file and type (an `ssh -v` line without its fingerprint).
        let mut s = if self.fingerprint.is_empty() {
            format!("{} ({})", self.name, self.key_type)
        } else {
            format!("{} {} ({})", self.name, self.fingerprint, self.key_type)
        };
        if let Some(p) = &self.local_problem {
            s.push_str(&format!(" — OpenSSH skips this key: {p}"));
        }
        s
    }
}

pub fn dns_failure(t: &Target, error: &str) -> Finding {
    Finding::new(
        "dns-failure",
        Severity::Error,
        format!("The name {} does not resolve to any address", t.host),
    )
    .explain(
        "Before anything SSH happens, the host name has to become an IP address. The resolver \
         gave none: the name is misspelled, the HostName in ~/.ssh/config is wrong, the host only \
         exists in a VPN or internal DNS you are not connected to, or the record was removed.",
    )
    .evidence(format!("resolving {}: {}", t.host, error))
    .fix(Fix::new(
        FixId::CheckDns,
        "Check what the name resolves to",
        format!("getent ahosts {}", shell_quote(&t.host)),
    ))
}

/// How one TCP attempt to one address ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    Refused,
    Timeout,
    Unreachable,
    Other,
}

pub fn connect_failure(t: &Target, kind: ConnectFailure, evidence: &[String]) -> Finding {
    let f = match kind {
        ConnectFailure::Refused => Finding::new(
            "connection-refused",
            Severity::Error,
            format!("Nothing accepts connections on {}", t.host_port()),
        )
        .explain(
            "The machine answered, but refused the connection: no sshd listens on that port. \
             sshd is stopped or crashed, listens on another port or address (Port/ListenAddress \
             in sshd_config), or a firewall rejects the port. This is what ssh shows as \
             \"Connection refused\". If the server is a Mac, Remote Login is probably off \
             (System Settings → General → Sharing → Remote Login; `sudo systemsetup \
             -getremotelogin`): macOS accepts SSH only while it is on.",
        )
        .fix(Fix::new(
            FixId::CheckSshdRunning,
            "On the server: is sshd running, and on which port?",
            "systemctl status ssh; ss -tlnp | grep sshd",
        )),
        ConnectFailure::Timeout => Finding::new(
            "connect-timeout",
            Severity::Error,
            format!("No answer from {} (connection timed out)", t.host_port()),
        )
        .explain(
            "The connection attempt got no reply at all. Usually a firewall silently drops the \
             packets (a cloud security group, a corporate network), the host is down, or the \
             address is wrong or only reachable through a VPN or jump host (ProxyJump).",
        )
        .fix(Fix::new(
            FixId::CheckReachability,
            "Check whether the port is reachable from here",
            format!("nc -vz -w 5 {} {}", shell_quote(&t.host), t.port),
        )),
        ConnectFailure::Unreachable | ConnectFailure::Other => Finding::new(
            "network-unreachable",
            Severity::Error,
            format!("No network route to {}", t.host),
        )
        .explain(
            "This machine has no route to that address: no network connection, a missing VPN, \
             or an IPv6 address on a network without IPv6.",
        )
        .fix(Fix::new(
            FixId::CheckRoute,
            "Show the route the system would use",
            format!("ip route get {}", shell_quote(&t.host)),
        )),
    };
    evidence.iter().fold(f, |f, e| f.evidence(e.clone()))
}

pub fn banner_timeout(t: &Target, secs: f64) -> Finding {
    Finding::new(
        "banner-timeout",
        Severity::Error,
        format!("{} accepted the connection but never said anything", t.host_port()),
    )
    .explain(
        "An SSH server sends its identification line as soon as the connection opens. Here the \
         connection was accepted and then stayed silent: a hung or overloaded sshd, a proxy or \
         port forward with nothing behind it, or a service on that port that waits for the \
         client to speak first. ssh reports this as \"Connection timed out during banner exchange\".",
    )
    .evidence(format!("no identification string within {secs:.1} s"))
    .fix(Fix::new(
        FixId::CheckSshdRunning,
        "On the server: is sshd healthy on that port?",
        "systemctl status ssh; journalctl -u ssh -n 50",
    ))
}

pub fn not_ssh(t: &Target, what: &str, first_line: Option<&str>) -> Finding {
    let mut f = Finding::new(
        "not-ssh",
        Severity::Error,
        format!(
            "{} is not an SSH server: it answered like {what}",
            t.host_port()
        ),
    )
    .explain(
        "Something listens on that port, but it is not sshd. Usually the port is wrong (a web \
         server on 80/443, a service moved to another port) or a load balancer forwards the \
         port elsewhere. Check the Port in ~/.ssh/config and on the server.",
    );
    if let Some(l) = first_line {
        f = f.evidence(format!("server's first line: {l}"));
    }
    f.fix(Fix::new(
        FixId::CheckPort,
        "See which port ssh really uses for this host",
        format!("ssh -G {} | grep -i '^port'", shell_quote(&t.display)),
    ))
}

pub fn connection_closed(t: &Target, when: &str, evidence: &[String]) -> Finding {
    let f = Finding::new(
        "connection-closed",
        Severity::Error,
        format!("{} closed the connection {when}", t.host_port()),
    )
    .explain(
        "The server accepted the TCP connection and then hung up before a login could start. \
         sshd does this when it is at its MaxStartups limit (too many unauthenticated \
         connections), when tcp wrappers (/etc/hosts.deny) or a DenyUsers/AllowUsers rule reject \
         this address, or when fail2ban or a similar tool has banned it. The sshd log on the \
         server names the reason.",
    )
    .fix(Fix::new(
        FixId::ReadSshdLog,
        "On the server: read why sshd closed it",
        "journalctl -u ssh -n 50",
    ));
    evidence.iter().fold(f, |f, e| f.evidence(e.clone()))
}

/// The server broke the SSH protocol itself (an absurd packet length, a bad MAC, a malformed key
/// exchange): not a refusal but a broken or hostile peer, or something in the path rewriting bytes.
pub fn protocol_violation(t: &Target, when: &str, evidence: &[String]) -> Finding {
    let f = Finding::new(
        "protocol-violation",
        Severity::Error,
        format!("{} broke the SSH protocol {when}", t.host_port()),
    )
    .explain(
        "The server sent something no correct SSH server sends (ssh reports such answers as \
         \"Bad packet length\" or \"message authentication code incorrect\"), so the connection \
         was dropped before anything was trusted. The usual causes are a middlebox that rewrites \
         the traffic (a broken proxy, a port forward into a different service, a faulty NIC or \
         VPN), a badly broken SSH implementation, or someone tampering with the connection. \
         Try from another network; if it works there, suspect the path, not the server.",
    )
    .fix(Fix::new(
        FixId::CompareWithSsh,
        "See what OpenSSH makes of the same server",
        format!("{} -v true", t.ssh_command(&[])),
    ));
    evidence.iter().fold(f, |f, e| f.evidence(e.clone()))
}

/// One algorithm category that did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `kex`, `host key`, `cipher`, `MAC`.
    pub kind: String,
    /// The ssh_config keyword for it.
    pub keyword: String,
    pub ours: Vec<String>,
    pub theirs: Vec<String>,
    /// What the local `ssh -Q` supports, when it could be asked.
    pub local_ssh: Option<Vec<String>>,
}

/// Why re-enabling an algorithm is a risk, in one sentence.
pub fn security_cost(alg: &str) -> &'static str {
    let a = alg.to_ascii_lowercase();
    if a.contains("group1-") || a.contains("group-exchange-sha1") {
        "it uses 1024-bit or SHA-1 Diffie-Hellman, within reach of well-funded attackers (Logjam)"
    } else if a == "ssh-rsa" || a.contains("sha1") {
        "it relies on SHA-1, for which practical collision attacks exist since 2020"
    } else if a.contains("ssh-dss") {
        "DSA keys are limited to 1024 bits and were removed from OpenSSH"
    } else if a.contains("3des") || a.contains("blowfish") || a.contains("cast128") {
        "it is a 64-bit block cipher, open to the Sweet32 attack"
    } else if a.contains("cbc") || a.contains("arcfour") {
        "CBC and RC4 modes allow plaintext-recovery attacks"
    } else if a.contains("md5") || a.ends_with("-96") {
        "it is a weak MAC"
    } else {
        "it is older than what this client prefers; check that the server cannot offer better"
    }
}

pub fn algorithm_mismatch(t: &Target, m: &Mismatch) -> Finding {
    let theirs = m.theirs.join(",");
    let mut f = Finding::new(
        "algorithm-mismatch",
        Severity::Error,
        format!("No common {} algorithm with {}", m.kind, t.host),
    )
    .explain(format!(
        "Client and server each list the algorithms they accept and must share one. For the {} \
         they share none: the server is old (or hardened) and offers only algorithms that modern \
         OpenSSH disables by default. ssh says \"no matching {} found. Their offer: {}\". The \
         lasting fix is on the server (a newer sshd, a new host key); re-enabling the old \
         algorithm on the client is a stop-gap with a security cost.",
        m.kind,
        match m.keyword.as_str() {
            "KexAlgorithms" => "key exchange method",
            "HostKeyAlgorithms" => "host key type",
            "Ciphers" => "cipher",
            _ => "MAC",
        },
        theirs
    ))
    .evidence(format!("server offers ({}): {}", m.kind, theirs))
    .evidence(format!("sshdoctor offers: {}", m.ours.join(",")));
    if let Some(local) = &m.local_ssh {
        f = f.evidence(format!("local ssh supports (ssh -Q): {}", local.join(",")));
    }
    // The first server algorithm the local ssh can do is the one to re-enable.
    let pick = m.theirs.iter().find(|a| {
        !a.contains("@openssh.com") || m.local_ssh.as_ref().is_some_and(|l| l.contains(a))
    });
    let pick = match &m.local_ssh {
        Some(local) => m.theirs.iter().find(|a| local.contains(a)).or(pick),
        None => pick,
    };
    if let Some(alg) = pick {
        let line = format!("{} +{}", m.keyword, alg);
        f = f
            .evidence(format!("config line that would fix it: {line}"))
            .fix(
                Fix::new(
                    FixId::EnableLegacyAlgorithm,
                    format!(
                        "Add `{line}` under `Host {}` in ~/.ssh/config (security cost: {})",
                        t.host_pattern(),
                        security_cost(alg)
                    ),
                    t.ssh_command(&["-o".into(), format!("{}=+{}", m.keyword, alg)]),
                )
                .on(FixTarget::ConfigOption {
                    host: Some(t.host_pattern()),
                    settings: vec![crate::finding::ConfigSetting::in_list(
                        &m.keyword,
                        alg.clone(),
                    )],
                }),
            );
    } else {
        f = f.evidence("the local ssh supports none of the server's algorithms either");
    }
    f
}

pub fn host_key_changed(
    t: &Target,
    file: &Path,
    line: usize,
    old_fp: &str,
    old_type: &str,
    new_fp: &str,
    new_type: &str,
) -> Finding {
    Finding::new(
        "host-key-changed",
        Severity::Error,
        format!("The server's host key is not the one known for {}", t.known_hosts_name()),
    )
    .explain(
        "known_hosts remembers the key this server showed before, and it now shows another. \
         There are three causes: the server was reinstalled (new keys were generated), its \
         administrator rotated the host key, or someone is intercepting the connection \
         (man-in-the-middle). Only the first two are harmless, and only someone who can check the \
         server's key by another way (its console, its administrator) can tell. ssh refuses to \
         log in; sshdoctor never replaces the old key on its own.",
    )
    .evidence(format!("{}:{}", file.display(), line))
    .evidence(format!("known key: {old_fp} ({old_type})"))
    .evidence(format!("server now shows: {new_fp} ({new_type})"))
    .fix(
        Fix::new(
            FixId::RemoveOldHostKey,
            "After confirming the new fingerprint with the server's administrator, remove the old key",
            format!(
                "ssh-keygen -f {} -R {}",
                shell_quote(&file.display().to_string()),
                shell_quote(&t.known_hosts_name())
            ),
        )
        .destructive()
        .on(FixTarget::HostKey {
            host: t.host.clone(),
            port: t.port,
            name: t.known_hosts_name(),
            file: Some(file.to_path_buf()),
            seen: Some(new_fp.to_string()),
            known: Some((old_fp.to_string(), old_type.to_string())),
        }),
    )
}

pub fn host_key_unknown(t: &Target, fp: &str, key_type: &str) -> Finding {
    Finding::new(
        "host-key-unknown",
        Severity::Warning,
        format!(
            "This machine has never seen {}'s host key",
            t.known_hosts_name()
        ),
    )
    .explain(
        "No known_hosts file has a key for this server, so ssh asks \"Are you sure you want to \
         continue connecting?\" (and fails in scripts and with BatchMode). Compare the \
         fingerprint with one the server's administrator gives you before accepting it.",
    )
    .evidence(format!("server's key: {fp} ({key_type})"))
    .fix(
        Fix::new(
            FixId::AcceptHostKey,
            "After comparing the fingerprint, connect once and accept the key",
            t.ssh_command(&["-o".into(), "StrictHostKeyChecking=accept-new".into()]),
        )
        .on(FixTarget::HostKey {
            host: t.host.clone(),
            port: t.port,
            name: t.known_hosts_name(),
            file: None,
            seen: Some(fp.to_string()),
            known: None,
        }),
    )
}

pub fn host_key_revoked(t: &Target, file: &Path, line: usize, fp: &str) -> Finding {
    Finding::new(
        "host-key-revoked",
        Severity::Error,
        format!("{} shows a host key that is marked @revoked", t.host),
    )
    .explain(
        "A known_hosts line marks this exact key as revoked: it was retired because it leaked or \
         was replaced. ssh refuses it. Either the server still runs with the old key, or \
         someone is using the leaked key to impersonate it.",
    )
    .evidence(format!("{}:{}", file.display(), line))
    .evidence(format!("server's key: {fp}"))
}

pub fn password_only(t: &Target, methods: &[String]) -> Finding {
    Finding::new(
        "password-only",
        // No method the probe tested would log in: keys are not even asked about.
        Severity::Error,
        format!(
            "{} does not accept keys for {}, only passwords",
            t.host, t.user
        ),
    )
    .explain(
        "The server offers no publickey login for this user, so your keys are never even \
         asked about. Either key login is disabled (PubkeyAuthentication no, or a Match block), or \
         the server wants a password on purpose. A password login may work, but sshdoctor did not \
         try one (`sshdoctor probe --password` does); to use keys, the server's administrator \
         has to enable them.",
    )
    .evidence(format!("server offers: {}", methods.join(",")))
    .evidence("a password was not tried")
    .fix(Fix::new(
        FixId::TryPassword,
        "Try a password login (asked without echo, tried once)",
        format!("sshdoctor probe --password {}", shell_quote(&t.display)),
    ))
    .fix(Fix::new(
        FixId::CheckServerPubkey,
        "On the server: check the effective setting",
        format!(
            // `host` and `addr` are the client's (what sshd's Match Host/Address see), not the
            // server's name.
            "sshd -T -C user={},host={},addr={} | grep -i pubkeyauthentication",
            t.user,
            t.client_addr(),
            t.client_addr()
        ),
    ))
}

pub fn no_auth_methods(t: &Target) -> Finding {
    Finding::new(
        "no-auth-methods",
        Severity::Error,
        format!("{} offers no way at all to log in as {}", t.host, t.user),
    )
    .explain(
        "The server's list of login methods is empty (ssh shows \"Permission denied ().\"): keys \
         and passwords are both disabled for this user, for example root with \
         PermitRootLogin prohibit-password and PubkeyAuthentication no.",
    )
    .evidence("server offers: (nothing)")
}

/// How to get a public key onto the server: `ssh-copy-id` when the server takes a password for
/// this user (it needs one password login), otherwise the key has to be added on the server
/// itself, from a login that works, for ssh-copy-id would have nothing to log in with.
fn install_key_fix(t: &Target, pubfile: Option<&str>, password_offered: bool) -> Fix {
    if password_offered {
        let mut c = "ssh-copy-id".to_string();
        if let Some(p) = pubfile {
            c.push_str(&format!(" -i {}", shell_quote(p)));
        }
        if t.port != 22 {
            c.push_str(&format!(" -p {}", t.port));
        }
        return Fix::new(
            FixId::CopyId,
            "Install your public key on the server (asks for the password once)",
            format!("{c} {}", shell_quote(&format!("{}@{}", t.user, t.host))),
        );
    }
    let pubfile = pubfile.unwrap_or("~/.ssh/id_ed25519.pub");
    let name = pubfile.rsplit('/').next().unwrap_or(pubfile);
    let platform = crate::platform::Platform::current();
    let copy = if platform == crate::platform::Platform::MacOs {
        // The article's way: the key on the clipboard, pasted into the server's console.
        format!(
            " (`{}` puts it on the clipboard)",
            platform.copy_public_key_command(pubfile)
        )
    } else {
        String::new()
    };
    Fix::new(
        FixId::AppendAuthorizedKey,
        format!(
            "{} takes no password for {}, so ssh-copy-id cannot log in: copy {pubfile} to that server{copy} and add it there, from a login that works (its console, another key)",
            if t.port == 22 { t.host.clone() } else { format!("{} port {}", t.host, t.port) },
            t.user
        ),
        format!(
            "sshdoctor fix append-authorized-key --pubkey {} --user {}",
            shell_quote(name),
            shell_quote(&t.user)
        ),
    )
}

/// Whether the server offers a method that takes a password.
pub fn takes_password(methods: &[String]) -> bool {
    methods
        .iter()
        .any(|m| m == "password" || m == "keyboard-interactive")
}

pub fn no_usable_key(t: &Target, password_offered: bool) -> Finding {
    Finding::new(
        "no-usable-key",
        Severity::Error,
        "You have no SSH key that ssh would offer",
    )
    .explain(
        "The server accepts keys, but there is no key file in the places ssh looks \
         (~/.ssh/id_ed25519, id_ecdsa, id_rsa, IdentityFile) and no key in the agent. Create \
         one and install its public half on the server.",
    )
    .fix(Fix::new(
        FixId::GenerateKey,
        "Create an Ed25519 key",
        "ssh-keygen -t ed25519",
    ))
    .fix(install_key_fix(t, None, password_offered))
}

pub fn key_rejected(t: &Target, tried: &[KeyLabel], password_offered: bool) -> Finding {
    let mut f = Finding::new(
        "key-rejected",
        Severity::Error,
        format!("{} accepts none of your keys for {}", t.host, t.user),
    )
    .explain(
        "The server was asked about each key and refused all of them. Either the public key \
         is not in the user's ~/.ssh/authorized_keys on the server (or sits in another user's), \
         or sshd ignores that file: the home directory, ~/.ssh or authorized_keys is writable by \
         others (StrictModes), owned by the wrong user, or AuthorizedKeysFile points elsewhere; \
         or sshd does not take keys of this type at all (its PubkeyAcceptedAlgorithms leaves the \
         type out, and the refusal looks exactly the same from here). The sshd log says which \
         (\"Authentication refused: bad ownership or modes\", \"signature algorithm ... not in \
         PubkeyAcceptedAlgorithms\"). Run `sshdoctor server` on the server to check all of this.",
    );
    for k in tried {
        f = f.evidence(format!("refused: {}", k.evidence()));
    }
    if let Some(k) = tried.first() {
        let pubfile = k
            .path
            .as_ref()
            .map(|p| format!("{p}.pub"))
            .unwrap_or_else(|| "~/.ssh/id_ed25519.pub".into());
        f = f.fix(install_key_fix(t, Some(&pubfile), password_offered));
    }
    f.fix(Fix::new(
        FixId::CheckServer,
        "On the server: check authorized_keys, its permissions and the sshd log",
        "sshdoctor server",
    ))
}

pub fn too_many_auth_failures(
    t: &Target,
    limit: u32,
    before: &[KeyLabel],
    working: &KeyLabel,
) -> Finding {
    let mut f = Finding::new(
        "too-many-auth-failures",
        Severity::Error,
        "ssh gives up with \"Too many authentication failures\" before it reaches the key that works",
    )
    .explain(format!(
        "ssh offers every key it has, one after the other, and the server counts each refused \
         key as a failed attempt. After {limit} (its MaxAuthTries) it hangs up. You have {} keys \
         that ssh offers first (typically from the agent), so the right key is never asked \
         about. Tell ssh to offer only the right key with IdentitiesOnly and IdentityFile.",
        before.len()
    ))
    .evidence(format!("server disconnects after {limit} failed attempts"));
    for k in before {
        f = f.evidence(format!("offered first and refused: {}", k.evidence()));
    }
    f = f.evidence(format!("accepted: {}", working.evidence()));
    if let Some(path) = &working.path {
        f = f
            .fix(Fix::new(
                FixId::IdentitiesOnly,
                format!(
                    "Add `IdentitiesOnly yes` and `IdentityFile {path}` under `Host {}` in ~/.ssh/config",
                    t.host_pattern()
                ),
                t.ssh_command(&[
                    "-o".into(),
                    "IdentitiesOnly=yes".into(),
                    "-i".into(),
                    path.clone(),
                ]),
            )
            .on(FixTarget::ConfigOption {
                host: Some(t.host_pattern()),
                settings: vec![
                    crate::finding::ConfigSetting::set("IdentitiesOnly", "yes"),
                    crate::finding::ConfigSetting::add("IdentityFile", path.clone()),
                ],
            }));
    } else {
        // The key lives only in the agent: ssh accepts a public key file as IdentityFile.
        let comment = working
            .name
            .strip_prefix("agent: ")
            .unwrap_or(&working.name);
        let file = format!("~/.ssh/{}.pub", comment.replace(['/', ' '], "_"));
        f = f.fix(Fix::new(
            FixId::IdentitiesOnly,
            format!(
                "Save the agent key's public half, then add `IdentitiesOnly yes` and `IdentityFile {file}` under `Host {}` in ~/.ssh/config",
                t.host_pattern()
            ),
            format!(
                "ssh-add -L | grep -F {} > {file}",
                shell_quote(&format!(" {comment}"))
            ),
        ));
    }
    f
}

pub fn encrypted_key_no_agent(t: &Target, key: &KeyLabel) -> Finding {
    let path = key.path.clone().unwrap_or_else(|| key.name.clone());
    Finding::new(
        "encrypted-key-no-agent",
        Severity::Warning,
        format!(
            "The key {} accepted is protected by a passphrase and not in the agent",
            t.host
        ),
    )
    .explain(
        "The server accepts this key, but it is encrypted and no agent holds it, so ssh asks \
         for the passphrase every time and fails in scripts, cron jobs and with BatchMode. Load \
         it into the agent once per session.",
    )
    .evidence(format!("accepted, encrypted: {}", key.evidence()))
    .fix(on_key_file(
        Fix::new(
            FixId::SshAdd,
            "Load the key into the agent (asks for the passphrase once)",
            format!("ssh-add {}", shell_quote(&path)),
        ),
        key,
    ))
    .fix(
        Fix::new(
            FixId::AddKeysToAgent,
            format!(
                "Add `AddKeysToAgent yes` under `Host {}` in ~/.ssh/config: ssh loads the key into a running agent the first time you type its passphrase",
                t.host_pattern()
            ),
            t.ssh_command(&["-o".into(), "AddKeysToAgent=yes".into()]),
        )
        .on(FixTarget::ConfigOption {
            host: Some(t.host_pattern()),
            settings: vec![crate::finding::ConfigSetting::set("AddKeysToAgent", "yes")],
        }),
    )
}

/// The fix acts on the key's file, when the key has one (not only the agent).
fn on_key_file(fix: Fix, key: &KeyLabel) -> Fix {
    match &key.path {
        Some(p) => fix.on_path(p),
        None => fix,
    }
}

/// `auth-ok` for a password login (method `password` or `keyboard-interactive`).
pub fn password_auth_ok(t: &Target, method: &str) -> Finding {
    Finding::new(
        "auth-ok",
        Severity::Info,
        format!(
            "Logged in to {} as {} with a password ({method})",
            t.host, t.user
        ),
    )
    .evidence(format!("method: {method}"))
}

/// `password-rejected`: one password attempt, refused, and the server still offers passwords.
pub fn password_rejected(t: &Target, method: &str, methods: &[String]) -> Finding {
    Finding::new(
        "password-rejected",
        Severity::Error,
        format!("{} refused the password for {}", t.host, t.user),
    )
    .explain(format!(
        "The server takes passwords for {user} ({method}) but refused this one. Either the \
         password is wrong (check Caps Lock and the keyboard layout), or the account's password \
         is locked or expired: on the server, `passwd -S {user}` shows L (locked) or an old \
         change date, and sshd's log has \"Failed password for {user}\" or \"account is \
         locked\". sshdoctor tries a password once and never again.",
        user = t.user
    ))
    .evidence(format!("tried: {method}, refused"))
    .evidence(format!("server still offers: {}", methods.join(",")))
    .fix(Fix::new(
        FixId::CheckServerPassword,
        "On the server: the account's password state and sshd's verdict",
        format!(
            "passwd -S {} ; sshdoctor server --user {}",
            shell_quote(&t.user),
            shell_quote(&t.user)
        ),
    ))
}

/// `password-auth-disabled`: a password was given, but the server offers no password method.
pub fn password_auth_disabled(t: &Target, methods: &[String]) -> Finding {
    let root = if t.user == "root" {
        " For root, PermitRootLogin prohibit-password (Debian's default) allows keys only."
    } else {
        ""
    };
    Finding::new(
        "password-auth-disabled",
        Severity::Error,
        format!("{} does not take a password for {}", t.host, t.user),
    )
    .explain(format!(
        "The server offers no password or keyboard-interactive login for this user, so no \
         password can work (it was not sent). Usually PasswordAuthentication no (and \
         KbdInteractiveAuthentication no) in sshd_config, or a Match block.{root} Log in with a \
         key instead, or ask the server's administrator."
    ))
    .evidence(format!(
        "server offers: {}",
        if methods.is_empty() {
            "nothing".to_string()
        } else {
            methods.join(",")
        }
    ))
    .fix(Fix::new(
        FixId::CheckServerPasswordAuth,
        "On the server: check the effective settings",
        format!(
            // `host` and `addr` are the client's (what sshd's Match Host/Address see), not the
            // server's name.
            "sshd -T -C user={},host={},addr={} | grep -Ei 'passwordauthentication|kbdinteractive|permitrootlogin'",
            t.user,
            t.client_addr(),
            t.client_addr()
        ),
    ))
}

/// The safer ways the agent-forwarding findings point to.
fn forwarding_alternatives(f: Finding) -> Finding {
    f.fix(Fix::new(
        FixId::UseProxyJump,
        "To reach a second server through this one without forwarding your agent at all",
        "ssh -J USER@THIS_SERVER USER@SECOND_SERVER",
    ))
}

/// `kbd-interactive-needs-input` (warning): keyboard-interactive asks for more than the
/// password (an OTP, a question) and there was no terminal to ask it on; nothing more was sent.
pub fn kbd_interactive_needs_input(t: &Target, prompts: &[String]) -> Finding {
    let mut f = Finding::new(
        "kbd-interactive-needs-input",
        Severity::Warning,
        format!("{} asks for more than the password", t.host),
    )
    .explain(
        "The server's keyboard-interactive login asks a question besides the password, such as \
         a one-time code from an authenticator app. Without a terminal no one could answer it, \
         so the login was not finished and nothing more was sent: whether it works is not known \
         yet. In a terminal sshdoctor shows the question and asks you, once.",
    );
    for p in prompts {
        f = f.evidence(format!("the server asks: {p}"));
    }
    f.fix(Fix::new(
        FixId::TryPassword,
        "Run the password test in a terminal, where the question can be answered",
        format!("sshdoctor probe --password {}", shell_quote(&t.display)),
    ))
}

/// `agent-forwarding-ok` (info): the server can use the listed keys while the session lasts.
pub fn agent_forwarding_ok(t: &Target, server_lines: &[String]) -> Finding {
    let mut f = Finding::new(
        "agent-forwarding-ok",
        Severity::Info,
        format!("Agent forwarding to {} works", t.host),
    )
    .explain(
        "A request made on the server reached your local agent and came back: from the server, \
         ssh can now log in onward with these keys. The cost: while you are connected, root on \
         that server (or anyone who took it over) can use your agent too. To only hop through \
         it to another server, ProxyJump (ssh -J) needs no forwarding; `ssh-add -c` makes the \
         agent ask before each use.",
    );
    for l in server_lines {
        f = f.evidence(format!("on the server, ssh-add -l: {l}"));
    }
    forwarding_alternatives(f)
}

/// `agent-forwarding-refused`: the server said no to `auth-agent-req@openssh.com`.
pub fn agent_forwarding_refused(t: &Target) -> Finding {
    Finding::new(
        "agent-forwarding-refused",
        Severity::Error,
        format!("{} refuses agent forwarding for {}", t.host, t.user),
    )
    .explain(
        "The login works, but the server answered the forwarding request with a refusal, so \
         `ssh -A` gives you no agent there (ssh-add on the server: \"Could not open a \
         connection to your authentication agent\"). The usual causes: AllowAgentForwarding no \
         or DisableForwarding yes in sshd_config (or a Match block), or `no-agent-forwarding` / \
         `restrict` on this key's line in authorized_keys. `sshdoctor server --forwarding` on that server \
         finds which.",
    )
    .evidence("auth-agent-req@openssh.com: refused")
    .fix(Fix::new(
        FixId::CheckServer,
        "On the server: find the setting that refuses it",
        format!("sshdoctor server --forwarding --user {}", shell_quote(&t.user)),
    ))
}

/// `agent-not-running` for forwarding: nothing to forward.
pub fn forwarding_without_agent(t: &Target) -> Finding {
    Finding::new(
        "agent-not-running",
        Severity::Error,
        format!(
            "Agent forwarding to {} has nothing to forward: no agent runs here",
            t.host
        ),
    )
    .explain(
        "ssh -A forwards the agent of this shell (SSH_AUTH_SOCK). There is none, so the server \
         gets no keys. Start one and load the key the next server wants.",
    )
    .evidence("SSH_AUTH_SOCK is not set")
    .fix({
        let p = crate::platform::Platform::current();
        Fix::new(
            FixId::StartAgent,
            "Start an agent in this shell and add your keys",
            format!(
                "{} && {}",
                p.start_agent_command(),
                p.add_key_command("").trim_end()
            ),
        )
    })
}

/// `agent-empty` for forwarding: forwarded, but the agent holds no key.
pub fn forwarded_agent_empty(t: &Target, server_lines: &[String]) -> Finding {
    let mut f = Finding::new(
        "agent-empty",
        Severity::Warning,
        format!("The agent forwarded to {} holds no keys", t.host),
    )
    .explain(
        "Forwarding works, but the agent has no identities, so on the server `ssh` has no key \
         to log in onward with. Load the key the next server accepts into the agent here.",
    )
    .fix(Fix::new(
        FixId::AddKeys,
        "Load your keys into the agent",
        "ssh-add",
    ));
    for l in server_lines {
        f = f.evidence(format!("on the server, ssh-add -l: {l}"));
    }
    f
}

/// `agent-forwarding-refused` when the request was granted but nothing on the server reached
/// the agent (no ssh-add there, or a shell startup file that breaks SSH_AUTH_SOCK).
pub fn agent_forwarding_not_reached(t: &Target, server_lines: &[String]) -> Finding {
    let mut f = Finding::new(
        "agent-forwarding-refused",
        Severity::Error,
        format!("Agent forwarding to {} was granted but never used", t.host),
    )
    .explain(
        "The server accepted the forwarding request, but ssh-add there never reached the \
         forwarded agent: ssh-add may be missing on the server, or a shell startup file there \
         overrides SSH_AUTH_SOCK.",
    );
    for l in server_lines {
        f = f.evidence(format!("on the server: {l}"));
    }
    f
}

/// `certificate-refused`: the server refused a certificate; the reasons the client can see
/// (principals, validity, options), and what only the server knows (does it trust the CA?).
pub fn certificate_refused(
    t: &Target,
    key: &KeyLabel,
    cert: &russh::keys::ssh_key::Certificate,
) -> Finding {
    let now = crate::certificate::now_unix();
    let principals = cert.valid_principals();
    let mut seen = Vec::new();
    if !principals.is_empty() && !principals.contains(&t.user) {
        seen.push(format!(
            "its principals ({}) do not include {} (sshd: \"Certificate invalid: name is not a listed principal\")",
            principals.join(","),
            t.user
        ));
    }
    if now >= cert.valid_before() {
        seen.push("it has expired (sshd: \"Certificate invalid: expired\")".to_string());
    } else if now < cert.valid_after() {
        seen.push("it is not valid yet (check this machine's clock)".to_string());
    }
    if let Some(addr) = cert.critical_options().get("source-address") {
        seen.push(format!("it is only valid from {addr} (source-address)"));
    }
    let why = if seen.is_empty() {
        "Nothing visible from here is wrong with it, so the server does not trust its CA: \
         TrustedUserCAKeys in sshd_config (or a cert-authority line in authorized_keys) must hold \
         the CA's public key; `sshdoctor server` on the server shows what sshd uses."
            .to_string()
    } else {
        format!("From here: {}.", seen.join("; "))
    };
    let ca = russh::keys::ssh_key::PublicKey::new(cert.signature_key().clone(), "")
        .fingerprint(russh::keys::ssh_key::HashAlg::Sha256);
    Finding::new(
        "certificate-refused",
        Severity::Error,
        format!("{} refuses the certificate {}", t.host, key.name),
    )
    .explain(why)
    .evidence(format!("refused: {}", key.evidence()))
    .evidence(format!(
        "key id \"{}\", serial {}, principals {}, CA {ca}",
        cert.key_id(),
        cert.serial(),
        if principals.is_empty() {
            "(any)".to_string()
        } else {
            principals.join(",")
        }
    ))
}

pub fn auth_ok(t: &Target, key: &KeyLabel, logged_in: bool) -> Finding {
    Finding::new(
        "auth-ok",
        Severity::Info,
        if logged_in {
            format!("Logged in to {} as {} with {}", t.host, t.user, key.name)
        } else {
            format!("{} accepts {} for {}", t.host, key.name, t.user)
        },
    )
    .evidence(format!("accepted: {}", key.evidence()))
}

/// `identity-is-public-key`: `-i key.pub` (or `IdentityFile key.pub`) with no agent holding the
/// key. ssh reads the named file as the private key, fails ("Load key ...: invalid format", or
/// "bad permissions" for a 0644 .pub) and has nothing to sign with: "Permission denied".
pub fn identity_is_public_key(t: &Target, key: &KeyLabel) -> Finding {
    let path = key.path.clone().unwrap_or_else(|| key.name.clone());
    let private = path.strip_suffix(".pub").unwrap_or(&path).to_string();
    Finding::new(
        "identity-is-public-key",
        Severity::Error,
        format!("{path} is a public key: ssh cannot log in with it"),
    )
    .explain(format!(
        "{} accepts this key, but -i (or IdentityFile) must name the private key: ssh reads the \
         file it is given as the private key, fails (Load key: invalid format, or bad permissions \
         for a .pub readable by others), and has nothing to sign with unless an \
         agent holds this key, so the login ends in \"Permission denied (publickey)\".",
        t.host
    ))
    .evidence(format!("accepted: {}", key.evidence()))
    .fix(crate::finding::Fix::new(
        FixId::UsePrivateKey,
        format!("Give ssh the private key {private} instead (ssh -i, IdentityFile)"),
        format!(
            "ssh -i {} -p {} {}",
            crate::finding::shell_quote(&private),
            t.port,
            crate::finding::shell_quote(&format!("{}@{}", t.user, t.host))
        ),
    ))
    .fix(
        Fix::new(
            FixId::AddKey,
            format!("Or load {private} into the agent, which then signs for the .pub"),
            format!("ssh-add {}", crate::finding::shell_quote(&private)),
        )
        .on_path(&private),
    )
}

/// The server accepts a key that OpenSSH itself refuses to load (a private key others can read):
/// the probe logs in, `ssh` says `Permission denied`. The local finding is the real cause.
pub fn accepted_key_ignored_locally(t: &Target, key: &KeyLabel) -> Finding {
    let path = key.path.clone().unwrap_or_else(|| key.name.clone());
    Finding::new(
        "private-key-permissions",
        Severity::Error,
        format!(
            "{} accepts {}, but ssh ignores that key because of its permissions",
            t.host, key.name
        ),
    )
    .explain(
        "The server has this key in authorized_keys, so the login could work. But ssh refuses to \
         load a private key that other users can read (\"WARNING: UNPROTECTED PRIVATE KEY FILE!\"), \
         skips it, and the login fails with \"Permission denied (publickey)\". Making the file \
         readable by you only fixes the login.",
    )
    .evidence(format!("accepted: {}", key.evidence()))
    .fix(on_key_file(
        Fix::new(
            FixId::Chmod600,
            format!("Make {path} readable by you only"),
            format!("chmod 600 {}", crate::finding::shell_quote(&path)),
        ),
        key,
    ))
}

/// `rsa-sha1-required`: an old server that verifies RSA user keys only as SHA-1 `ssh-rsa` and
/// names no `rsa-sha2-*` in `server-sig-algs` (or sends none). OpenSSH ≥ 8.8 does not sign
/// with `ssh-rsa` unless PubkeyAcceptedAlgorithms allows it, so it does not even offer the key
/// (`-v`: "send_pubkey_test: no mutual signature algorithm") and ends in "Permission denied".
/// `key` is the RSA key the server accepts with `ssh-rsa`, when the probe asked.
pub fn rsa_sha1_required(t: &Target, key: Option<&KeyLabel>) -> Finding {
    let host = t.host_pattern();
    let mut f = Finding::new(
        "rsa-sha1-required",
        Severity::Error,
        format!(
            "{} takes RSA keys only with SHA-1 (ssh-rsa) signatures, which your ssh no longer makes",
            t.host
        ),
    )
    .explain(
        "The server is old (sshd before 7.2, or an appliance): it verifies RSA keys only with \
         the SHA-1 `ssh-rsa` signature and does not announce the SHA-2 ones (no rsa-sha2-256/512 \
         in its server-sig-algs). OpenSSH 8.8 and later do not sign with SHA-1 by default, so ssh \
         finds \"no mutual signature algorithm\", does not offer the key at all and fails with \
         \"Permission denied (publickey)\", although the key is in authorized_keys. Allowing \
         ssh-rsa for this one host makes it work again, at a cost: SHA-1 has practical collision \
         attacks (since 2020), so such a signature could in principle be forged. The lasting fix \
         is a newer sshd on the server, or a key of another type (Ed25519, ECDSA) in its \
         authorized_keys. If ssh also fails with \"no matching host key type found. Their offer: \
         ssh-rsa\", add `HostKeyAlgorithms +ssh-rsa` in the same block.",
    );
    if let Some(k) = key {
        f = f.evidence(format!(
            "accepted with ssh-rsa (SHA-1) only: {}",
            k.evidence()
        ));
    }
    f.evidence("server-sig-algs names no rsa-sha2-256/512: ssh offers no RSA signature it would verify")
        .fix(
            Fix::new(
                FixId::AcceptSshRsaSignatures,
                format!(
                    "Add `PubkeyAcceptedAlgorithms +ssh-rsa` under `Host {host}` in ~/.ssh/config (security cost: {})",
                    security_cost("ssh-rsa")
                ),
                t.ssh_command(&["-o".into(), "PubkeyAcceptedAlgorithms=+ssh-rsa".into()]),
            )
            .on(FixTarget::ConfigOption {
                host: Some(host.clone()),
                settings: vec![crate::finding::ConfigSetting::in_list(
                    "PubkeyAcceptedAlgorithms",
                    "ssh-rsa".to_string(),
                )],
            }),
        )
        .fix(Fix::new(
            FixId::GenerateKey,
            "The lasting fix: an Ed25519 key (install its .pub on the server), or a newer sshd there",
            "ssh-keygen -t ed25519",
        ))
}

/// `ssh-disagrees`: the user's own ssh, run once as the user would (the `ssh-check` stage),
/// came to another verdict than the probe. `probe_ok`: the probe found the login working (so
/// ssh failed; an error), or not (so ssh logged in, and the probe's diagnosis above is in
/// doubt; a warning). `command` is what was run, `lines` ssh's own words.
pub fn ssh_disagrees(
    t: &Target,
    probe_ok: bool,
    command: &str,
    why: Option<&str>,
    lines: &[String],
) -> Finding {
    let mut f = if probe_ok {
        Finding::new(
            "ssh-disagrees",
            Severity::Error,
            format!(
                "sshdoctor can log in to {} as {}, but your ssh cannot",
                t.host, t.user
            ),
        )
        .explain(
            "sshdoctor's own client got in, and the ssh you use, run once the same way, did not. \
             What your ssh does is what counts: its lines below say where it stops. Usually it \
             is something only OpenSSH applies (a config line, a key it refuses to load, an \
             algorithm it no longer uses); `sshdoctor explain` reads a full `ssh -v` of yours \
             the same way.",
        )
    } else {
        Finding::new(
            "ssh-disagrees",
            Severity::Warning,
            format!(
                "Your ssh logs in to {} as {}, although sshdoctor found a problem",
                t.host, t.user
            ),
        )
        .explain(
            "The ssh you use, run once the same way, got in where sshdoctor's own client did \
             not. The diagnosis above may be wrong or may concern a path your ssh does not take \
             (another key, the agent, a method sshdoctor does not test).",
        )
    };
    f = f.evidence(format!("ran: {command}"));
    if let Some(w) = why {
        f = f.evidence(format!("ssh's output points to: {w}"));
    }
    for l in lines {
        f = f.evidence(format!("ssh: {}", crate::safe_text::printable(l)));
    }
    f.fix(Fix::new(
        FixId::CompareWithSsh,
        "See the whole story from OpenSSH itself",
        format!("{} -v true", t.ssh_command(&[])),
    ))
}

/// `ssh-needs-input`: the user's ssh would have logged in only after asking for something
/// (a passphrase, a password) that the cross-check, run with BatchMode, never asks.
pub fn ssh_needs_input(t: &Target, what: &str, command: &str) -> Finding {
    Finding::new(
        "ssh-needs-input",
        Severity::Info,
        format!("ssh would ask before logging in to {}", t.host),
    )
    .explain(
        "The cross-check runs your ssh with BatchMode, so it never prompts; here ssh stopped \
         where it would have asked you. That is not a disagreement: run interactively, ssh asks \
         and goes on.",
    )
    .evidence(what.to_string())
    .evidence(format!("ran: {command}"))
}

/// `slow-login`: a stage that works but takes far longer than it should, with what usually
/// causes that stage to be slow and the setting that fixes it.
pub fn slow_login(t: &Target, stage: &str, ms: u64, threshold_ms: u64) -> Finding {
    let (causes, fix): (&str, Fix) = match stage {
        "banner" | "connect" => (
            "The server waits before it says hello: sshd looks the client's address up in DNS \
             (`UseDNS yes`) and the reverse lookup times out, or the server is overloaded \
             (MaxStartups), or a proxy in the path stalls.",
            Fix::new(
                FixId::SshdConfigSet,
                "On the server: turn off the reverse lookup (`UseDNS no`, the default since OpenSSH 6.8) and reload sshd",
                "sshd -T | grep -i usedns",
            ),
        ),
        "auth-methods" | "kex" => (
            "The first authentication round is slow: sshd does a reverse DNS lookup of the client \
             (`UseDNS yes`), or GSSAPI/Kerberos is tried first and waits for a KDC \
             (`GSSAPIAuthentication`), or PAM's account modules (LDAP, sssd) are slow.",
            Fix::new(
                FixId::SshdConfigSet,
                "On the server: check UseDNS, GSSAPIAuthentication and UsePAM",
                "sshd -T | grep -Ei 'usedns|gssapiauthentication|usepam'",
            ),
        ),
        _ => (
            "The login itself is slow: PAM session modules (a home directory mounted over the \
             network, pam_systemd, LDAP), a slow shell start-up, or GSSAPI tried on the client \
             (`GSSAPIAuthentication yes` in ~/.ssh/config) before the key.",
            Fix::new(
                FixId::SshdConfigSet,
                "On the server: check UsePAM and the PAM session modules; on the client, try `-o GSSAPIAuthentication=no`",
                t.ssh_command(&["-o".into(), "GSSAPIAuthentication=no".into(), "-v".into()]),
            ),
        ),
    };
    Finding::new(
        "slow-login",
        Severity::Warning,
        format!(
            "Logging in to {} is slow: the {stage} stage took {:.1} s",
            t.host,
            ms as f64 / 1000.0
        ),
    )
    .explain(format!(
        "Everything works, but one step took far longer than it should (a healthy server answers \
         each step in well under a second). {causes}"
    ))
    .evidence(format!(
        "stage {stage}: {ms} ms (more than {threshold_ms} ms counts as slow)"
    ))
    .fix(fix)
}

/// `pubkey-algorithm-excluded`: the client's own PubkeyAcceptedAlgorithms (ssh_config) leaves
/// out the type of these keys, so ssh skips them ("Skipping ssh-ed25519 key FILE -
/// corresponding algorithm not in PubkeyAcceptedAlgorithms") however the server would answer.
/// `source` is the config line, when found.
pub fn pubkey_algorithm_excluded(
    t: &Target,
    skipped: &[KeyLabel],
    accepted: &[String],
    source: Option<&str>,
) -> Finding {
    let mut f = Finding::new(
        "pubkey-algorithm-excluded",
        Severity::Error,
        format!(
            "Your ssh config does not let ssh offer {} for {}",
            crate::words::count(skipped.len(), "key"),
            t.host
        ),
    )
    .explain(
        "PubkeyAcceptedAlgorithms in the client's config lists the key types ssh may use, and \
         these keys' types are not in it, so ssh skips them without asking the server. Add the \
         type to the list (with `+`, for this Host only), or use a key of a listed type.",
    );
    for k in skipped {
        f = f.evidence(format!("skipped: {}", k.evidence()));
    }
    f = f.evidence(format!("PubkeyAcceptedAlgorithms: {}", accepted.join(",")));
    if let Some(src) = source {
        f = f.evidence(format!("set at {src}"));
    }
    if let Some(k) = skipped.first() {
        let alg = if k.key_type == "ssh-rsa" {
            "rsa-sha2-512".to_string()
        } else {
            k.key_type.clone()
        };
        f = f.fix(Fix::new(
            FixId::EnableLegacyAlgorithm,
            format!(
                "Add `PubkeyAcceptedAlgorithms +{alg}` under `Host {}` in ~/.ssh/config",
                t.host_pattern()
            ),
            t.ssh_command(&["-o".into(), format!("PubkeyAcceptedAlgorithms=+{alg}")]),
        ));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_advice_names_a_host_line_that_can_match() {
        for (display, pattern) in [
            ("root@127.0.0.1:49125", "127.0.0.1"),
            ("lab", "lab"),
            ("[vault.internal]:2200", "vault.internal"),
            ("alice@db.example.com", "db.example.com"),
        ] {
            let t = Target {
                host: "127.0.0.1".into(),
                port: 49125,
                user: "root".into(),
                display: display.into(),
            };
            assert_eq!(t.host_pattern(), pattern);
        }
        let remote = Target {
            host: "db.example.com".into(),
            port: 22,
            user: "alice".into(),
            display: "alice@db.example.com".into(),
        };
        let f = password_only(&remote, &["password".to_string()]);
        let cmd = &f.fixes[0].command;
        assert!(!cmd.contains("addr=127.0.0.1"), "{cmd}");
        assert!(!cmd.contains("host=db.example.com"), "{cmd}");
        assert!(!f.explanation.contains("still works"), "{}", f.explanation);
    }

    fn target() -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: 2222,
            user: "root".into(),
            display: "lab".into(),
        }
    }

    #[test]
    fn mismatch_names_the_config_line_and_its_cost() {
        let m = Mismatch {
            kind: "host key".into(),
            keyword: "HostKeyAlgorithms".into(),
            ours: vec!["ssh-ed25519".into(), "rsa-sha2-512".into()],
            theirs: vec!["ssh-rsa".into()],
            local_ssh: Some(vec!["ssh-ed25519".into(), "ssh-rsa".into()]),
        };
        let f = algorithm_mismatch(&target(), &m);
        assert!(f
            .evidence
            .contains(&"config line that would fix it: HostKeyAlgorithms +ssh-rsa".to_string()));
        assert!(f.fixes[0].title.contains("SHA-1"));
        assert_eq!(
            f.fixes[0].command,
            "ssh -p 2222 -o HostKeyAlgorithms=+ssh-rsa root@127.0.0.1"
        );
        assert!(f.explanation.contains("no matching host key type found"));
    }

    #[test]
    fn changed_host_key_gives_the_three_causes_and_never_a_silent_fix() {
        let f = host_key_changed(
            &target(),
            Path::new("/h/.ssh/known_hosts"),
            3,
            "SHA256:old",
            "ssh-ed25519",
            "SHA256:new",
            "ssh-ed25519",
        );
        assert_eq!(f.severity, Severity::Error);
        for cause in ["reinstalled", "rotated", "man-in-the-middle"] {
            assert!(f.explanation.contains(cause), "{cause}");
        }
        assert_eq!(f.evidence[0], "/h/.ssh/known_hosts:3");
        assert!(f.fixes.iter().all(|x| x.destructive));
        assert_eq!(
            f.fixes[0].command,
            "ssh-keygen -f /h/.ssh/known_hosts -R '[127.0.0.1]:2222'"
        );
    }

    #[test]
    fn too_many_failures_names_the_working_key_and_identities_only() {
        let k = |n: &str| KeyLabel {
            name: n.into(),
            path: Some(n.into()),
            fingerprint: format!("SHA256:{n}"),
            key_type: "ssh-ed25519".into(),
            local_problem: None,
        };
        let f = too_many_auth_failures(&target(), 3, &[k("/a"), k("/b"), k("/c")], &k("/good"));
        assert!(f.fixes[0].title.contains("IdentitiesOnly yes"));
        assert!(f.fixes[0].title.contains("IdentityFile /good"));
        assert_eq!(
            f.fixes[0].command,
            "ssh -p 2222 -o IdentitiesOnly=yes -i /good root@127.0.0.1"
        );
        assert!(f
            .evidence
            .contains(&"accepted: /good SHA256:/good (ssh-ed25519)".to_string()));
    }

    #[test]
    fn cost_of_legacy_algorithms_is_specific() {
        assert!(security_cost("diffie-hellman-group1-sha1").contains("Logjam"));
        assert!(security_cost("3des-cbc").contains("Sweet32"));
        assert!(security_cost("aes128-cbc").contains("CBC"));
    }
}

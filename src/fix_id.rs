//! Every fix sshdoctor can offer, by name.
//!
//! A [`FixId`] is what `check`, `probe` and `server` put on a finding's fix and what
//! `sshdoctor fix FIX_ID` takes. It is serialized as the kebab-case name (the JSON contract:
//! names are added, never renamed), and it is a closed set, so the code that plans or runs a fix
//! matches on the variant instead of comparing strings, and a misspelt id is a compile error
//! rather than a fix that silently does nothing. The README's fix table is checked against
//! [`FixId::ALL`].

use std::fmt;

macro_rules! fix_ids {
    ($($variant:ident = $name:literal: $doc:literal,)*) => {
        /// One kind of fix.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FixId {
            $(#[doc = $doc] $variant,)*
        }

        impl FixId {
            /// Every fix id, in the README's order.
            pub const ALL: &'static [FixId] = &[$(FixId::$variant,)*];

            /// The kebab-case name scripts and `sshdoctor fix` use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(FixId::$variant => $name,)*
                }
            }

            /// One line on what the fix does.
            pub fn describe(self) -> &'static str {
                match self {
                    $(FixId::$variant => $doc,)*
                }
            }

            /// The id with this name.
            pub fn from_name(name: &str) -> Option<FixId> {
                match name {
                    $($name => Some(FixId::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

fix_ids! {
    AcceptHostKey = "accept-host-key": "Trust an unknown server's host key after comparing its fingerprint.",
    AcceptSshRsaSignatures = "accept-ssh-rsa-signatures": "Let ssh sign with SHA-1 `ssh-rsa` for one old host: `PubkeyAcceptedAlgorithms +ssh-rsa` in its Host block of ~/.ssh/config.",
    AddKey = "add-key": "Load one key into the running agent (asks for its passphrase).",
    AddKeys = "add-keys": "Load the default keys into the running agent, as `ssh-add` does.",
    AddKeysToAgent = "add-keys-to-agent": "`AddKeysToAgent yes` for one host in ~/.ssh/config: ssh loads the key into the agent the first time you type its passphrase.",
    AllowTcpForwarding = "allow-tcp-forwarding": "On a jump host: `AllowTcpForwarding yes` (shown, not applied).",
    AppendAuthorizedKey = "append-authorized-key": "Add a public key to an authorized_keys file (server side).",
    AuthorizedKeyAllowFrom = "authorized-key-allow-from": "Add this client's address to an authorized_keys `from=` option.",
    AuthorizedKeyAllowAgentForwarding = "authorized-key-allow-agent-forwarding": "Let one authorized_keys line forward an agent (drop `no-agent-forwarding`, or add `agent-forwarding` after `restrict`).",
    CheckDns = "check-dns": "Look at what the name resolves to (shown).",
    CheckPort = "check-port": "See which port ssh really uses for the host (shown).",
    CheckReachability = "check-reachability": "Test whether the port is reachable from here (shown).",
    CheckRoute = "check-route": "Show the route the system would use (shown).",
    CheckServer = "check-server": "Run `sshdoctor server` on the server (shown).",
    CheckServerPassword = "check-server-password": "On the server: the account's password state (shown).",
    CheckServerPasswordAuth = "check-server-password-auth": "On the server: sshd's effective password settings (shown).",
    CheckServerPubkey = "check-server-pubkey": "On the server: sshd's effective public key setting (shown).",
    CheckSshdRunning = "check-sshd-running": "On the server: whether sshd runs and on which port (shown).",
    CheckTargetFromJump = "check-target-from-jump": "From the jump host: whether the target accepts connections (shown).",
    HopTrustHostKey = "hop-trust-host-key": "On the first server: trust the second server's host key after comparing its fingerprint (shown).",
    Chmod600 = "chmod-600": "`chmod 600` a file that must be private (server side).",
    Chmod700 = "chmod-700": "`chmod 700` a ~/.ssh that must be private (server side).",
    ChmodAuthorizedKeys = "chmod-authorized-keys": "Make ~/.ssh/authorized_keys 0600.",
    ChmodConfig = "chmod-config": "Make ~/.ssh/config 0600.",
    ChmodGoW = "chmod-go-w": "Remove group and other write permission (`chmod go-w`).",
    ChmodHomeDir = "chmod-home-dir": "Remove group and other write permission from the home directory.",
    ChmodPrivateKey = "chmod-private-key": "Make a private key file 0600.",
    ChmodSshDir = "chmod-ssh-dir": "Make ~/.ssh 0700.",
    Chown = "chown": "Give a file back to its user (shown; needs root).",
    CompareWithSsh = "compare-with-ssh": "Run OpenSSH itself with -v against the same server (shown).",
    ConvertPpk = "convert-ppk": "Convert a PuTTY .ppk key to OpenSSH's format (shown).",
    ConvertSsh2Key = "convert-ssh2-key": "Convert an SSH.com (RFC 4716) private key to OpenSSH's format.",
    CopyId = "copy-id": "Install the public key on the server with the password, then verify the key login.",
    EnableLegacyAlgorithm = "enable-legacy-algorithm": "Allow an old algorithm for one host in ~/.ssh/config (`HostKeyAlgorithms +ssh-rsa`, ...), where ssh reads it first.",
    GenerateKey = "generate-key": "Create a new ed25519 key (asks for a passphrase).",
    GenerateMissingIdentity = "generate-missing-identity": "Create the key an IdentityFile line names.",
    IdentitiesOnly = "identities-only": "Offer only the right key to the host: `IdentitiesOnly yes` and `IdentityFile` in ~/.ssh/config, where ssh reads them first.",
    InspectCertificate = "inspect-certificate": "Look at a certificate with `ssh-keygen -L` (shown).",
    IgnoreUnknownOption = "ignore-unknown-option": "Let ssh skip config options it does not know: `IgnoreUnknown` at the top of ~/.ssh/config.",
    InspectFile = "inspect-file": "Look at a file sshdoctor cannot read as expected (shown).",
    KnownHostsAddFinalNewline = "known-hosts-add-final-newline": "End known_hosts' last line, so the next key ssh adds is not glued to it.",
    KnownHostsDeleteLines = "known-hosts-delete-lines": "Delete the known_hosts lines chosen in the browser.",
    KnownHostsDeleteMalformed = "known-hosts-delete-malformed": "Delete the known_hosts lines ssh cannot read.",
    KnownHostsRemoveHost = "known-hosts-remove-host": "Remove a host's keys from known_hosts, as `ssh-keygen -R`.",
    KnownHostsStripCrlf = "known-hosts-strip-crlf": "Convert known_hosts to Unix line ends.",
    ReadSshdLog = "read-sshd-log": "On the server: read sshd's log (shown).",
    RenewCertificate = "renew-certificate": "Have the CA sign the key again, for the right user and a validity that covers now (shown).",
    RegeneratePublicKey = "regenerate-public-key": "Rewrite a .pub file from its private key.",
    ReloadSshd = "reload-sshd": "Reload sshd so it reads its new configuration (shown).",
    RemoveHostKey = "remove-host-key": "Remove a host's keys from every known_hosts file ssh reads for it.",
    RemoveOldHostKey = "remove-old-host-key": "Remove a changed host key, after confirming the new one.",
    RemoveStaleSocket = "remove-stale-socket": "Delete an agent socket nothing listens on any more.",
    RepairKeyFile = "repair-key-file": "Rewrite a private key file in the layout ssh reads (CRLF, final newline).",
    SshAdd = "ssh-add": "Load a key into the agent (asks for its passphrase).",
    SshdConfigAllowUser = "sshd-config-allow-user": "Add the user to sshd's AllowUsers.",
    SshdConfigSet = "sshd-config-set": "Set one option in sshd_config.",
    StartAgent = "start-agent": "Start an ssh-agent in this shell (shown).",
    StartAgentAddKey = "start-agent-add-key": "Start an ssh-agent and add the key (shown).",
    StartSshd = "start-sshd": "Start sshd (shown).",
    StripCrlf = "strip-crlf": "Convert authorized_keys to Unix line ends.",
    TrustHostKey = "trust-host-key": "Add or replace a server's key in known_hosts after confirming its fingerprint.",
    TrustUserCa = "trust-user-ca": "On the server: add a user CA to TrustedUserCAKeys (shown).",
    TryPassword = "try-password": "Test a password login (`probe --password`).",
    UnlockAccount = "unlock-account": "Allow key logins for an account locked with `!` (shown; needs root).",
    UnsetStaleAgent = "unset-stale-agent": "Forget a dead agent in this shell (shown).",
    UseKeychain = "use-keychain": "On a Mac: `UseKeychain yes` and `AddKeysToAgent yes` for every host in ~/.ssh/config, so keys load from the keychain by themselves.",
    UseKeyWithI = "use-key-with-i": "Use a key file explicitly with `ssh -i` (shown).",
    UsePrivateKey = "use-private-key": "Give ssh the private key instead of its .pub (shown).",
    UseProxyJump = "use-proxy-jump": "Reach a second server with ProxyJump instead of agent forwarding (shown).",
}

impl fmt::Display for FixId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FixId {
    type Err = String;

    /// For `sshdoctor fix FIX_ID`: an unknown id is bad usage, said with the list.
    fn from_str(s: &str) -> Result<FixId, String> {
        FixId::from_name(s).ok_or_else(|| {
            format!(
                "unknown fix id {s:?}; the fix ids are: {}",
                FixId::ALL
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

impl PartialEq<&str> for FixId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for FixId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl serde::Serialize for FixId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for FixId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FixId, D::Error> {
        let name = String::deserialize(d)?;
        FixId::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown fix id {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_round_trips_through_its_name_and_json() {
        for id in FixId::ALL {
            assert_eq!(FixId::from_name(id.as_str()), Some(*id));
            let json = serde_json::to_string(id).unwrap();
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            assert_eq!(serde_json::from_str::<FixId>(&json).unwrap(), *id);
        }
        assert!("no-such-fix"
            .parse::<FixId>()
            .unwrap_err()
            .contains("chmod-private-key"));
    }

    #[test]
    fn the_readme_lists_every_fix_id() {
        let readme = include_str!("../README.md");
        let missing: Vec<&str> = FixId::ALL
            .iter()
            .map(|f| f.as_str())
            .filter(|id| !readme.contains(&format!("| `{id}` |")))
            .collect();
        assert!(missing.is_empty(), "README's fix table lacks {missing:?}");
    }
}

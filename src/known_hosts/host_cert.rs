//! What ssh decides about a host *certificate*: trusted when an `@cert-authority` line for the
//! host holds the CA that signed it and the certificate itself holds up (a host certificate,
//! valid now, a principal that is the host name or HostKeyAlias, neither it nor its CA
//! `@revoked`). This follows `sshconnect.c` (`check_host_key`, `check_host_cert`) and
//! `sshkey_cert_check_host`; the one consequence worth knowing is that a certificate ssh cannot
//! use is *not* the end: ssh says why ("Certificate invalid: expired") and then judges the plain
//! key inside it against the ordinary lines, so with no such line the login stops at "Host key
//! verification failed".

use russh::keys::ssh_key::{certificate::CertType, Certificate, HashAlg, PublicKey};

use super::parse::Marker;
use super::KnownHosts;

/// The verdict on a host certificate, before ssh falls back to its plain key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCertStatus {
    /// `@cert-authority` line `line` holds its CA and the certificate is good.
    Trusted {
        line: usize,
    },
    /// No `@cert-authority` line for this host holds the CA (ssh: "No matching CA found").
    UntrustedCa {
        ca_fingerprint: String,
    },
    /// The CA, or the certificate's own key, is on a `@revoked` line.
    Revoked {
        line: usize,
    },
    /// A user certificate presented as a host key.
    NotAHostCertificate {
        line: usize,
    },
    Expired {
        line: usize,
        valid_before: u64,
    },
    NotYetValid {
        line: usize,
        valid_after: u64,
    },
    /// None of its principals is the name ssh checks (the host as ssh connects to it, or
    /// HostKeyAlias).
    WrongPrincipal {
        line: usize,
        name: String,
        principals: Vec<String>,
    },
    /// The CA's signature over the certificate does not verify.
    BadSignature {
        line: usize,
    },
}

impl HostCertStatus {
    /// The `@cert-authority` line that vouched for the CA, where there is one.
    pub fn ca_line(&self) -> Option<usize> {
        match self {
            HostCertStatus::Trusted { line }
            | HostCertStatus::NotAHostCertificate { line }
            | HostCertStatus::Expired { line, .. }
            | HostCertStatus::NotYetValid { line, .. }
            | HostCertStatus::WrongPrincipal { line, .. }
            | HostCertStatus::BadSignature { line } => Some(*line),
            HostCertStatus::Revoked { .. } | HostCertStatus::UntrustedCa { .. } => None,
        }
    }
}

/// ssh's verdict on `cert` presented by `host` (the name it connects to, lowercased by ssh) on
/// `port`, with `alias` the HostKeyAlias when set (it replaces the host for both the lookup and
/// the principal), at Unix time `now`.
pub fn check_host_certificate(
    kh: &KnownHosts,
    host: &str,
    port: u16,
    alias: Option<&str>,
    cert: &Certificate,
    now: u64,
) -> HostCertStatus {
    let name = alias.unwrap_or(host).to_ascii_lowercase();
    let entries = kh.lookup(&name, if alias.is_some() { 22 } else { port });
    let ca = PublicKey::new(cert.signature_key().clone(), "");
    let own = PublicKey::new(cert.public_key().clone(), "");
    let mut ca_line = None;
    for e in &entries {
        let Some(pk) = e.public_key() else { continue };
        match e.marker {
            Some(Marker::Revoked)
                if pk.key_data() == ca.key_data() || pk.key_data() == own.key_data() =>
            {
                return HostCertStatus::Revoked { line: e.line };
            }
            Some(Marker::CertAuthority) if ca_line.is_none() && pk.key_data() == ca.key_data() => {
                ca_line = Some(e.line);
            }
            _ => {}
        }
    }
    let Some(line) = ca_line else {
        return HostCertStatus::UntrustedCa {
            ca_fingerprint: ca.fingerprint(HashAlg::Sha256).to_string(),
        };
    };
    if cert.cert_type() != CertType::Host {
        return HostCertStatus::NotAHostCertificate { line };
    }
    if cert.verify_signature().is_err() {
        return HostCertStatus::BadSignature { line };
    }
    if now < cert.valid_after() {
        return HostCertStatus::NotYetValid {
            line,
            valid_after: cert.valid_after(),
        };
    }
    if now >= cert.valid_before() {
        return HostCertStatus::Expired {
            line,
            valid_before: cert.valid_before(),
        };
    }
    let principals = cert.valid_principals();
    // No principals: valid for every host. Otherwise one must be the name, compared exactly
    // (measured with OpenSSH 9.2: a `127.0.0.*` principal does not match 127.0.0.1).
    if !principals.is_empty() && !principals.contains(&name) {
        return HostCertStatus::WrongPrincipal {
            line,
            name,
            principals: principals.to_vec(),
        };
    }
    HostCertStatus::Trusted { line }
}

/// Whether any `@cert-authority` line applies to this host: then ssh asks the server for its
/// certificate host key types first (`HostKeyAlgorithms` puts the `-cert-v01` types ahead).
pub fn has_cert_authority(kh: &KnownHosts, host: &str, port: u16, alias: Option<&str>) -> bool {
    let name = alias.unwrap_or(host).to_ascii_lowercase();
    let port = if alias.is_some() { 22 } else { port };
    kh.lookup(&name, port)
        .iter()
        .any(|e| e.marker == Some(Marker::CertAuthority))
}

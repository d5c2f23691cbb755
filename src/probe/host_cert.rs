//! Pure: the findings for a host certificate ssh would not use (`host-certificate-*`), and the
//! words that go on the plain-key verdict after it, so a trust fix never offers a plain
//! known_hosts line without saying that the certificate failed first.
//!
//! Why a module of its own: the verdict itself is `known_hosts::check_host_certificate`
//! (ssh's rules); this turns it, with what the certificate says about itself, into what the
//! user reads, and `session` stays the stage that walks it.

use std::path::Path;

use russh::keys::ssh_key::{Certificate, HashAlg, PublicKey};

use super::diagnose::Target;
use super::HostCertVerdict;
use crate::finding::{shell_quote, Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::known_hosts::HostCertStatus;

/// `KEY-ID, serial N, signed by CA SHA256:...`: how the certificate names itself.
pub fn describe(cert: &Certificate) -> String {
    format!(
        "host certificate \"{}\" (serial {}), signed by CA {}",
        crate::safe_text::printable(cert.key_id()),
        cert.serial(),
        ca_fingerprint(cert)
    )
}

fn ca_fingerprint(cert: &Certificate) -> String {
    PublicKey::new(cert.signature_key().clone(), "")
        .fingerprint(HashAlg::Sha256)
        .to_string()
}

fn at(file: Option<&Path>, line: usize) -> String {
    match file {
        Some(f) => format!("{}:{line}", f.display()),
        None => format!("line {line}"),
    }
}

/// The `ssh-keygen -s` command that signs the host key again, shown (the CA's key is never
/// here): for the name ssh checks, valid from now.
fn resign(t: &Target, name: &str, key_type: &str) -> Fix {
    let file = match key_type {
        "ssh-ed25519" => "ssh_host_ed25519_key",
        "ssh-rsa" | "rsa-sha2-256" | "rsa-sha2-512" => "ssh_host_rsa_key",
        _ => "ssh_host_ecdsa_key",
    };
    Fix::new(
        FixId::RenewCertificate,
        "Have the CA sign the server's host key again, for the name ssh checks and a validity that covers now",
        format!(
            "ssh-keygen -s CA_KEY -h -I {} -n {} -V -5m:+52w /etc/ssh/{file}.pub   # where the CA key is; then HostCertificate /etc/ssh/{file}-cert.pub in sshd_config on {} and reload sshd",
            shell_quote(name),
            shell_quote(name),
            t.host
        ),
    )
}

/// The finding for a certificate ssh does not use, `None` when it trusts it. `plain_ok`: the
/// plain key inside matches a known_hosts line, so ssh still logs in (a warning then; an error
/// when ssh ends in "Host key verification failed" or worse).
pub fn finding(
    t: &Target,
    v: &HostCertVerdict,
    cert: &Certificate,
    plain_ok: bool,
    now: u64,
) -> Option<Finding> {
    let sev = if plain_ok {
        Severity::Warning
    } else {
        Severity::Error
    };
    let key_type = cert.public_key().algorithm().as_str().to_string();
    let fallback = if plain_ok {
        " ssh then checks the plain key inside it, which a known_hosts line holds, so the login \
         goes on; the certificate is still worth fixing."
    } else {
        " ssh then checks the plain key inside it against the ordinary known_hosts lines; none \
         holds it, so ssh stops with \"Host key verification failed\" (or, run by hand, asks \
         whether to trust the plain key)."
    };
    let cert_line = |line: usize| {
        format!(
            "@cert-authority line at {} holds the CA",
            at(v.file.as_deref(), line)
        )
    };
    let f = match &v.status {
        HostCertStatus::Trusted { .. } => return None,
        HostCertStatus::Expired { line, valid_before } => Finding::new(
            "host-certificate-expired",
            sev,
            format!("{}'s host certificate has expired", t.host),
        )
        .explain(format!(
            "The server presents a host certificate signed by a CA you trust, but it is no \
             longer valid (ssh: \"Certificate invalid: expired\").{fallback} The server's \
             administrator has to have its host key signed again."
        ))
        .evidence(format!(
            "valid until {} ({} ago)",
            crate::certificate::utc(*valid_before),
            crate::certificate::span(now.saturating_sub(*valid_before))
        ))
        .evidence(cert_line(*line))
        .fix(resign(t, &v.name, &key_type)),
        HostCertStatus::NotYetValid { line, valid_after } => Finding::new(
            "host-certificate-not-yet-valid",
            sev,
            format!("{}'s host certificate is not valid yet", t.host),
        )
        .explain(format!(
            "Its validity starts in the future (ssh: \"Certificate invalid: not yet valid\"): \
             this machine's clock is behind, or it was signed with a start time to come.\
             {fallback}"
        ))
        .evidence(format!(
            "valid from {}",
            crate::certificate::utc(*valid_after)
        ))
        .evidence(cert_line(*line))
        .fix(resign(t, &v.name, &key_type)),
        HostCertStatus::WrongPrincipal {
            line,
            name,
            principals,
        } => Finding::new(
            "host-certificate-wrong-principal",
            sev,
            format!("{}'s host certificate is not issued for {name}", t.host),
        )
        .explain(format!(
            "ssh accepts a host certificate only when one of its principals is exactly the name \
             it checks: the host as you connect to it, or HostKeyAlias (no wildcards; ssh: \
             \"Certificate invalid: name is not a listed principal\").{fallback} Either connect \
             by a name the certificate lists (or set HostKeyAlias to it), or have the host key \
             signed again with `-n {name}`."
        ))
        .evidence(format!("name checked: {name}"))
        .evidence(format!(
            "the certificate's principals: {}",
            principals
                .iter()
                .map(|p| crate::safe_text::printable(p))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .evidence(cert_line(*line))
        .fix(resign(t, name, &key_type)),
        HostCertStatus::UntrustedCa { ca_fingerprint } => Finding::new(
            "host-certificate-untrusted-ca",
            sev,
            format!(
                "{}'s host certificate is signed by a CA no known_hosts line trusts",
                t.host
            ),
        )
        .explain(format!(
            "ssh trusts a host certificate only through an `@cert-authority` line for the host \
             that holds the CA's public key; no such line holds this CA (ssh: \"No matching CA \
             found\").{fallback} Add the CA's public key as `@cert-authority` for the host's \
             names, after getting it from its administrator."
        ))
        .evidence(format!("signed by CA {ca_fingerprint}"))
        .fix(Fix::new(
            FixId::InspectCertificate,
            "Compare the CA with the one your administrator publishes, then add it as @cert-authority",
            format!(
                "echo '@cert-authority {} CA_PUBLIC_KEY' >> ~/.ssh/known_hosts   # CA {ca_fingerprint}",
                crate::known_hosts::host_port_name(&t.host, t.port)
            ),
        )),
        HostCertStatus::Revoked { line } => Finding::new(
            "host-certificate-revoked",
            Severity::Error,
            format!(
                "{}'s host certificate, or its CA, is marked @revoked",
                t.host
            ),
        )
        .explain(
            "A known_hosts `@revoked` line names the CA that signed this host certificate (or \
             the key inside it). ssh refuses it outright (\"REVOKED HOST KEY DETECTED\") and does \
             not fall back to the plain key: a revoked CA may sign anything, so nothing is sent \
             to this server.",
        )
        .evidence(format!("@revoked at {}", at(v.file.as_deref(), *line)))
        .evidence(format!("signed by CA {}", ca_fingerprint(cert))),
        HostCertStatus::NotAHostCertificate { line } => Finding::new(
            "host-certificate-invalid",
            sev,
            format!("{} presents a user certificate as its host key", t.host),
        )
        .explain(format!(
            "The certificate was signed as a user certificate (without `-h`), which ssh never \
             accepts as a host key.{fallback}"
        ))
        .evidence(cert_line(*line))
        .fix(resign(t, &v.name, &key_type)),
        HostCertStatus::BadSignature { line } => Finding::new(
            "host-certificate-invalid",
            sev,
            format!(
                "The CA's signature on {}'s host certificate does not check out",
                t.host
            ),
        )
        .explain(format!(
            "The certificate was changed after the CA signed it.{fallback}"
        ))
        .evidence(cert_line(*line))
        .fix(resign(t, &v.name, &key_type)),
    };
    Some(f.evidence(describe(cert)))
}

/// Words for the plain-key verdict after a certificate ssh did not use: the plain key's own
/// finding (host-key-unknown, with its trust fix) says why a plain line is offered at all.
pub fn plain_key_note(cert_finding: &str) -> String {
    format!(
        "the server's host certificate was not accepted ({cert_finding}), so ssh judged the plain \
         key inside it; trusting that plain key works, but the lasting fix is the certificate"
    )
}

//! Why sshd refuses a user certificate: what its log says (`Certificate invalid: expired`, `name
//! is not a listed principal`, `not from a permitted source address`, `revoked by file`) and,
//! when the certificate itself is given (`server --pubkey KEY-cert.pub`), the checks sshd makes
//! that leave no log line at the default LogLevel: is its CA in `TrustedUserCAKeys`, does a
//! principal match the user (or `AuthorizedPrincipalsFile`), is it valid now and from here.
//!
//! Measured on OpenSSH 9.2: a refused certificate never produces a "Failed publickey" line (the
//! client gives up after the unsigned query), and a certificate from an untrusted CA produces no
//! line at all, only "Connection closed by authenticating user". So the log alone cannot name an
//! untrusted CA; the certificate can.

use std::path::PathBuf;

use russh::keys::ssh_key::{certificate::CertType, Certificate, HashAlg};

use super::diagnose::ServerFacts;
use super::log::LogLine;
use crate::authorized_keys;
use crate::finding::{shell_quote, Finding, Fix, Severity};
use crate::fix_id::FixId;

/// `TrustedUserCAKeys` as read: the file and the fingerprints of the CA keys in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCas {
    pub path: PathBuf,
    /// `SHA256:...` of each CA key, or why the file could not be read.
    pub fingerprints: Result<Vec<String>, String>,
}

/// The CA key fingerprints in a TrustedUserCAKeys file (authorized_keys format, options allowed).
pub fn ca_fingerprints(text: &str) -> Vec<String> {
    authorized_keys::parse(text.as_bytes().to_vec())
        .entries()
        .map(|e| e.fingerprint.clone())
        .collect()
}

/// The principals an `AuthorizedPrincipalsFile` lists: one per line after optional options,
/// comments and blank lines skipped (sshd's `match_principals_file`).
pub fn principals_in_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().last())
        .map(str::to_string)
        .collect()
}

/// The certificate refusals sshd's log names for this user, and what the given certificate
/// (if any) shows.
pub fn findings(f: &ServerFacts) -> Vec<Finding> {
    let mut out = log_findings(f);
    if let Some(cert) = f.wanted.as_ref().and_then(|w| w.certificate.as_ref()) {
        for fi in certificate_checks(f, cert) {
            // The log said it and the certificate shows it: one finding with both as evidence.
            match out.iter_mut().find(|o| o.id == fi.id) {
                Some(o) => {
                    for e in fi.evidence {
                        if !o.evidence.contains(&e) {
                            o.evidence.push(e);
                        }
                    }
                }
                None => out.push(fi),
            }
        }
    }
    out
}

/// `Certificate invalid: REASON` is followed by the connection's "Connection closed by
/// authenticating user USER", which names whose it was; the source-address and revocation lines
/// name the user or the key themselves.
fn log_findings(f: &ServerFacts) -> Vec<Finding> {
    let user = &f.user.name;
    let mut out: Vec<Finding> = Vec::new();
    let mut pending: Option<&LogLine> = None;
    let put = |out: &mut Vec<Finding>, fi: Finding| {
        out.retain(|o| o.id != fi.id || o.title != fi.title);
        out.push(fi);
    };
    for line in &f.log {
        let m = line.message.trim();
        if m.starts_with("Certificate invalid: ") {
            pending = Some(line);
            continue;
        }
        if let Some(rest) = m.strip_prefix("Connection closed by authenticating user ") {
            if let Some(p) = pending.take() {
                if rest.split_whitespace().next() == Some(user.as_str()) {
                    let reason = p
                        .message
                        .trim()
                        .trim_start_matches("Certificate invalid: ")
                        .to_string();
                    put(
                        &mut out,
                        invalid(user, &reason, None)
                            .evidence(p.evidence())
                            .evidence(line.evidence()),
                    );
                }
            }
            continue;
        }
        if let Some(rest) = m
            .strip_prefix("cert: ")
            .unwrap_or(m)
            .strip_prefix("Authentication tried for ")
        {
            if let Some((who, tail)) =
                rest.split_once(" with valid certificate but not from a permitted source address (")
            {
                if who == user {
                    let ip = tail.trim_end_matches(['.', ')']).trim_end_matches(')');
                    put(
                        &mut out,
                        source_address(user, ip, None).evidence(line.evidence()),
                    );
                }
            }
            continue;
        }
        if let Some(rest) = m.strip_prefix("Authentication key ") {
            if let Some((key, file)) = rest.split_once(" revoked by file ") {
                let fp = key.split_whitespace().nth(1).unwrap_or_default();
                let mine = f
                    .wanted
                    .as_ref()
                    .is_none_or(|w| same_fp(&w.fingerprint, fp));
                if mine {
                    put(&mut out, revoked(key, file).evidence(line.evidence()));
                }
            }
        }
    }
    out
}

/// The checks sshd makes on a certificate, done here on the one given.
fn certificate_checks(f: &ServerFacts, cert: &Certificate) -> Vec<Finding> {
    let user = &f.user.name;
    let mut out = Vec::new();
    let ca_fp = cert
        .signature_key()
        .fingerprint(HashAlg::Sha256)
        .to_string();
    let id = cert.key_id().to_string();
    let shown = format!("certificate \"{id}\" (serial {})", cert.serial());
    if cert.cert_type() != CertType::User {
        out.push(
            invalid(user, "not a user certificate", Some(&shown))
                .evidence(format!("{shown}: a host certificate")),
        );
        return out;
    }
    // Trust: TrustedUserCAKeys, or a cert-authority line in authorized_keys.
    let in_ak = f.key_files.iter().any(|k| match &k.content {
        Some(Ok(ak)) => ak
            .entries()
            .any(|e| e.has_flag("cert-authority") && same_fp(&e.fingerprint, &ca_fp)),
        _ => false,
    });
    let trusted = match &f.user_cas {
        Some(t) => t
            .fingerprints
            .as_ref()
            .is_ok_and(|fps| fps.iter().any(|x| same_fp(x, &ca_fp))),
        None => false,
    };
    if !trusted && !in_ak {
        out.push(untrusted_ca(f, &ca_fp, &shown));
        return out;
    }
    let now = crate::certificate::now_unix();
    if now < cert.valid_after() {
        out.push(
            invalid(user, "not yet valid", Some(&shown)).evidence(format!(
                "{shown}: valid from {}",
                crate::certificate::utc(cert.valid_after())
            )),
        );
    } else if now >= cert.valid_before() {
        out.push(invalid(user, "expired", Some(&shown)).evidence(format!(
            "{shown}: valid until {}",
            crate::certificate::utc(cert.valid_before())
        )));
    }
    let principals: Vec<String> = cert.valid_principals().to_vec();
    match &f.principals_file {
        Some((path, Ok(listed))) if trusted && !principals.iter().any(|p| listed.contains(p)) => {
            out.push(
                invalid(user, "name is not a listed principal", Some(&shown))
                    .evidence(format!("{shown}: principals {}", principals.join(",")))
                    .evidence(format!(
                        "AuthorizedPrincipalsFile {}: {}",
                        path.display(),
                        if listed.is_empty() {
                            "no principals".to_string()
                        } else {
                            listed.join(",")
                        }
                    )),
            );
        }
        // The principals file decides alone when it is set (and one of its names matched).
        Some((_, Ok(_))) if trusted => {}
        _ if trusted && !principals.is_empty() && !principals.iter().any(|p| p == user) => {
            out.push(
                invalid(user, "name is not a listed principal", Some(&shown))
                    .evidence(format!("{shown}: principals {}", principals.join(",")))
                    .evidence(format!("login user: {user}")),
            );
        }
        _ if trusted && principals.is_empty() => {
            out.push(
                invalid(user, "lacks principal list", Some(&shown))
                    .evidence(format!("{shown}: no principals")),
            );
        }
        _ => {}
    }
    if let (Some(list), Some(addr)) = (cert.critical_options().get("source-address"), f.client_addr)
    {
        let a = addr.to_string();
        if authorized_keys::match_host_and_ip(&a, &a, list) != 1 {
            out.push(
                source_address(user, &a, Some(list))
                    .evidence(format!("{shown}: source-address {list}")),
            );
        }
    }
    out
}

fn same_fp(a: &str, b: &str) -> bool {
    let bare = |s: &str| s.trim().trim_start_matches("SHA256:").to_string();
    bare(a) == bare(b)
}

fn renew_fix(user: &str) -> Fix {
    Fix::new(
        FixId::RenewCertificate,
        "Have the CA sign the key again, for this user and a validity that covers now",
        format!(
            "ssh-keygen -s CA_KEY -I KEY_ID -n {} -V -5m:+1d ~/.ssh/id_ed25519.pub   # on the CA, or your company's signing tool",
            shell_quote(user)
        ),
    )
}

fn invalid(user: &str, reason: &str, shown: Option<&str>) -> Finding {
    let what = shown.unwrap_or("certificate");
    let (title, why) = match reason {
        "expired" => (
            format!("sshd refuses {user}'s {what}: it has expired"),
            "A certificate is valid only inside its -V window; past its end sshd refuses it \
             (\"Certificate invalid: expired\") and ssh falls back to plain keys. Short-lived \
             certificates are normal (Vault, step-ca, Teleport): get a fresh one.",
        ),
        "not yet valid" => (
            format!("sshd refuses {user}'s {what}: it is not valid yet"),
            "Its validity starts in the future as this server's clock sees it: signed with a \
             start time ahead of now, or the clocks of the CA and this server disagree (check \
             NTP on both).",
        ),
        "name is not a listed principal" | "lacks principal list" => (
            format!("sshd refuses {user}'s {what}: {user} is not among its principals"),
            "sshd accepts a certificate for an account only when one of its principals is the \
             account's name, or, with AuthorizedPrincipalsFile, one of the names listed there. \
             Have it signed with -n for this account, or list one of its principals for it.",
        ),
        _ => (
            format!("sshd refuses {user}'s {what}: {reason}"),
            "sshd checked the certificate and refused it for the reason it logged.",
        ),
    };
    Finding::new("certificate-invalid", Severity::Error, title)
        .explain(why)
        .fix(renew_fix(user))
}

fn source_address(user: &str, ip: &str, list: Option<&str>) -> Finding {
    Finding::new(
        "certificate-source-address",
        Severity::Error,
        format!(
            "sshd refuses {user}'s certificate from {ip}: its source-address does not allow it"
        ),
    )
    .explain(format!(
        "The certificate carries a source-address critical option{}, and sshd refuses it from \
         any other client address (\"Refused by certificate options\"). Log in from an allowed \
         address, or have a certificate signed without the restriction or with this address.",
        list.map(|l| format!(" ({l})")).unwrap_or_default()
    ))
    .fix(renew_fix(user))
}

fn revoked(key: &str, file: &str) -> Finding {
    Finding::new(
        "key-revoked",
        Severity::Error,
        format!("sshd refuses the key {key}: it is listed in RevokedKeys"),
    )
    .explain(
        "RevokedKeys lists keys (or CAs) that must never log in again, usually because the \
         private key was lost or leaked. No certificate or authorized_keys line helps a revoked \
         key: make a new key and have that one signed or installed.",
    )
    .evidence(format!("RevokedKeys {file}"))
    .fix(Fix::new(
        FixId::GenerateKey,
        "Make a new key (on the client) and have it signed or installed",
        "ssh-keygen -t ed25519",
    ))
}

fn untrusted_ca(f: &ServerFacts, ca_fp: &str, shown: &str) -> Finding {
    let mut fi = Finding::new(
        "certificate-ca-not-trusted",
        Severity::Error,
        format!("sshd does not trust the CA that signed the {shown}"),
    )
    .explain(
        "sshd accepts a user certificate only when its CA is in TrustedUserCAKeys (or on a \
         cert-authority line in the user's authorized_keys). Otherwise it ignores the \
         certificate without a log line at the default LogLevel, and the client sees a plain \
         \"Permission denied (publickey)\".",
    )
    .evidence(format!("{shown}: signed by CA {ca_fp}"));
    match &f.user_cas {
        None => {
            fi = fi
                .evidence("sshd effective config: trustedusercakeys none")
                .fix(Fix::new(
                    FixId::TrustUserCa,
                    "Trust the CA for every user (its public key in a file sshd reads)",
                    format!(
                        "cp CA.pub /etc/ssh/user_ca.pub && {}",
                        super::diagnose::prepend_option(
                            f.platform,
                            &f.config_path,
                            "TrustedUserCAKeys /etc/ssh/user_ca.pub"
                        )
                    ),
                ));
        }
        Some(t) => {
            let listed = match &t.fingerprints {
                Ok(fps) if fps.is_empty() => "no keys".to_string(),
                Ok(fps) => fps.join(", "),
                Err(e) => format!("unreadable: {e}"),
            };
            fi = fi
                .evidence(format!("TrustedUserCAKeys {}: {listed}", t.path.display()))
                .fix(Fix::new(
                    FixId::TrustUserCa,
                    format!("Add the CA's public key ({ca_fp}) to {}", t.path.display()),
                    format!(
                        "cat CA.pub >> {}   # the CA's public key, after checking it is {ca_fp}",
                        shell_quote(&t.path.display().to_string())
                    ),
                ));
        }
    }
    fi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_files_are_read_as_sshd_does() {
        assert_eq!(
            principals_in_file("# admins\n\nalice\nfrom=\"10.0.0.0/8\" deploy\n"),
            ["alice", "deploy"]
        );
    }
}

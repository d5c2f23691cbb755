//! OpenSSH certificates (`KEY-cert.pub`) as ssh finds them next to a key: what they say (type,
//! key id, serial, principals, validity, CA, options) and what is wrong with them from the
//! client's side (expired, not yet valid, about to expire, made for another key, unreadable).
//!
//! Pure: bytes and the current time in, facts and findings out. ssh-key parses and checks the
//! signature and validity window; principals, options and the certificate type are read here.

use std::path::Path;

use russh::keys::ssh_key::{certificate::CertType, Certificate, HashAlg, PublicKey};
use serde::Serialize;

use crate::finding::{Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::paths::SshPaths;

/// What a certificate says, in the words `ssh-keygen -L` uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// The `-cert.pub` file.
    pub path: std::path::PathBuf,
    /// `user` or `host`.
    #[serde(rename = "type")]
    pub cert_type: &'static str,
    pub key_id: String,
    pub serial: u64,
    pub principals: Vec<String>,
    /// Unix seconds; 0 = always valid from the start.
    pub valid_after: u64,
    /// Unix seconds; `u64::MAX` = never expires.
    pub valid_before: u64,
    /// `SHA256:...` of the signing CA.
    pub ca_fingerprint: String,
    /// `SHA256:...` of the key the certificate is for.
    pub key_fingerprint: String,
    /// `force-command`, `source-address`, ... with their values.
    pub critical_options: Vec<(String, String)>,
    pub extensions: Vec<String>,
    /// Whether the CA's signature over the certificate checks out.
    pub signature_ok: bool,
}

/// The certificate path ssh looks at for a private key: `KEY-cert.pub`.
pub fn path_for(key: &Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}-cert.pub", key.display()))
}

/// Reads a `-cert.pub` line. `Err` says why ssh could not use it either.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<CertInfo, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not text".to_string())?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or("the file is empty")?;
    let cert = Certificate::from_openssh(line).map_err(|e| format!("not a certificate: {e}"))?;
    Ok(info(path, &cert))
}

/// What a parsed certificate says; `path` is where it was found (a file, or the agent's socket).
pub fn info(path: &Path, cert: &Certificate) -> CertInfo {
    let fp = |k: &russh::keys::ssh_key::public::KeyData| {
        PublicKey::new(k.clone(), "")
            .fingerprint(HashAlg::Sha256)
            .to_string()
    };
    CertInfo {
        path: path.to_path_buf(),
        cert_type: match cert.cert_type() {
            CertType::User => "user",
            CertType::Host => "host",
        },
        key_id: cert.key_id().to_string(),
        serial: cert.serial(),
        principals: cert.valid_principals().to_vec(),
        valid_after: cert.valid_after(),
        valid_before: cert.valid_before(),
        ca_fingerprint: fp(cert.signature_key()),
        key_fingerprint: fp(cert.public_key()),
        critical_options: cert
            .critical_options()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        extensions: cert.extensions().keys().cloned().collect(),
        signature_ok: cert.verify_signature().is_ok(),
    }
}

/// "valid for 3 more hours", "expired 2 days ago", "valid from ... (in 5 minutes)".
pub fn validity_text(c: &CertInfo, now: u64) -> String {
    if c.valid_before == u64::MAX && c.valid_after == 0 {
        return "valid forever".into();
    }
    if now < c.valid_after {
        return format!(
            "not valid yet (from {}, in {})",
            utc(c.valid_after),
            span(c.valid_after - now)
        );
    }
    if c.valid_before == u64::MAX {
        return "never expires".into();
    }
    if now >= c.valid_before {
        return format!(
            "expired {} ago ({})",
            span(now - c.valid_before),
            utc(c.valid_before)
        );
    }
    format!(
        "valid for another {} (until {})",
        span(c.valid_before - now),
        utc(c.valid_before)
    )
}

/// A duration in the largest unit that fits: "3 hours", "1 day", "40 seconds".
pub fn span(secs: u64) -> String {
    let (n, unit) = match secs {
        0..=119 => (secs, "second"),
        120..=7_199 => (secs / 60, "minute"),
        7_200..=172_799 => (secs / 3_600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    crate::words::count(n as usize, unit)
}

/// `2026-12-01 12:27 UTC`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

/// The current time as certificates count it (Unix seconds), for the callers that judge one now.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Less than this left of a certificate's life, and it is about to expire.
const SOON: u64 = 3_600;

/// The client-side findings for the certificate of the key `key_fingerprint` (the private key's
/// own, `SHA256:...`).
pub fn findings(
    c: &CertInfo,
    key_fingerprint: Option<&str>,
    now: u64,
    paths: &SshPaths,
) -> Vec<Finding> {
    findings_named(c, &paths.display(&c.path), key_fingerprint, now)
}

/// [`findings`] for a certificate shown as `shown` (a file, or "the agent's certificate ...").
pub fn findings_named(
    c: &CertInfo,
    shown: &str,
    key_fingerprint: Option<&str>,
    now: u64,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let evidence = |f: Finding| {
        f.evidence(format!(
            "{shown}: key id \"{}\", serial {}",
            c.key_id, c.serial
        ))
        .evidence(format!("valid: {}", validity_text(c, now)))
        .evidence(format!("signed by CA {}", c.ca_fingerprint))
    };
    if let Some(k) = key_fingerprint {
        if k != c.key_fingerprint {
            out.push(evidence(
                Finding::new(
                    "certificate-key-mismatch",
                    Severity::Error,
                    format!("{shown} is a certificate for another key"),
                )
                .explain(
                    "ssh offers a certificate only with the private key it was issued for. This \
                     one names another key (it was probably renewed for a new key, or copied from \
                     another machine), so ssh cannot use it and falls back to the plain key.",
                )
                .evidence(format!("certificate is for {}", c.key_fingerprint))
                .evidence(format!("the private key beside it is {k}")),
            ));
        }
    }
    if now >= c.valid_before {
        out.push(evidence(
            Finding::new(
                "certificate-expired",
                Severity::Error,
                format!(
                    "The certificate {shown} expired {} ago",
                    span(now - c.valid_before)
                ),
            )
            .explain(
                "A server that trusts the CA refuses an expired certificate (sshd logs \
                 \"Certificate invalid: expired\"), and then the plain key is usually not in \
                 authorized_keys either. Get a new certificate from whoever issues them (the CA \
                 or its tool: Vault, step-ca, Teleport, `ssh-keygen -s`).",
            ),
        ));
    } else if now < c.valid_after {
        out.push(evidence(
            Finding::new(
                "certificate-not-yet-valid",
                Severity::Error,
                format!(
                    "The certificate {shown} is not valid for another {}",
                    span(c.valid_after - now)
                ),
            )
            .explain(
                "Its validity starts in the future, so servers refuse it (\"Certificate invalid: \
                 not yet valid\"). Usually this machine's clock is behind (check `date`, NTP) or \
                 the certificate was issued with a start time in the future.",
            ),
        ));
    } else if c.valid_before != u64::MAX && c.valid_before - now < SOON {
        out.push(evidence(
            Finding::new(
                "certificate-expires-soon",
                Severity::Warning,
                format!(
                    "The certificate {shown} expires in {}",
                    span(c.valid_before - now)
                ),
            )
            .explain("Logins with it stop working then; renew it before a long task."),
        ));
    }
    if !c.signature_ok {
        out.push(evidence(
            Finding::new(
                "certificate-unreadable",
                Severity::Error,
                format!("The CA's signature on {shown} does not check out"),
            )
            .explain("The file was changed after the CA signed it; servers refuse it."),
        ));
    }
    out
}

/// `certificate-unreadable`: a `-cert.pub` ssh would try to load and fail on.
pub fn unreadable_finding(path: &Path, why: &str, paths: &SshPaths) -> Finding {
    let shown = paths.display(path);
    Finding::new(
        "certificate-unreadable",
        Severity::Warning,
        format!("{shown} is not a certificate ssh can read"),
    )
    .explain("ssh skips it and offers the plain key only.")
    .evidence(format!("{shown}: {why}"))
    .fix(Fix::new(
        FixId::InspectCertificate,
        "See what ssh-keygen makes of it",
        format!("ssh-keygen -L -f {}", crate::perms::shell_path(path, paths)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_764_592_067), "2025-12-01 12:27 UTC");
        assert_eq!(span(59), "59 seconds");
        assert_eq!(span(3 * 3_600), "3 hours");
        assert_eq!(span(86_400 * 2), "2 days");
    }
}

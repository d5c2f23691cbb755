//! SSH keys on disk: find them by content, say what each one is, and notice what is wrong with them.
//!
//! The core is [`classify`], a pure function over a file's bytes: it recognises OpenSSH private keys
//! (encrypted ones too: their public half is stored in clear), legacy PEM keys (PKCS#1 RSA, SEC1 EC,
//! DSA, PKCS#8, encrypted or not) and one-line public keys. For legacy PEM keys we read only the
//! public half out of the DER ourselves instead of building a full private key: no private number is
//! ever turned into a key object, and no third-party PEM decryption path (some of which reach
//! a panicking `unimplemented` arm) is ever entered. [`load`] and [`scan`] are the thin layer that reads the disk
//! defensively (file type checked first, FIFOs opened non-blocking, at most 1 MiB read), and
//! [`findings`] turns the facts into [`Finding`]s.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use russh::keys::ssh_key::{
    self,
    public::{DsaPublicKey, EcdsaPublicKey, KeyData, RsaPublicKey},
    Algorithm, EcdsaCurve, HashAlg, Mpint, PublicKey,
};
use serde::Serialize;

use crate::finding::{mode_string, Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::paths::SshPaths;
use crate::perms::shell_path;
use crate::platform::Platform;

/// Keys are a few kilobytes at most; anything larger is not a key, and reading it all (a 1 GB log
/// someone dropped in `~/.ssh`) would only waste memory.
pub const MAX_KEY_FILE_SIZE: u64 = 1024 * 1024;

/// Whether an entry is a private key (possibly with its `.pub` folded in) or a lone public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Private,
    Public,
}

/// Everything sshdoctor knows about one key file. Never holds private key material.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub path: PathBuf,
    /// The algorithm name OpenSSH uses on the wire and in `.pub` files (`ssh-ed25519`, ...).
    #[serde(rename = "type")]
    pub key_type: Option<String>,
    /// Key size as `ssh-keygen -l` prints it.
    pub bits: Option<u32>,
    /// `SHA256:...`, identical to `ssh-keygen -lf`.
    pub fingerprint: Option<String>,
    pub comment: Option<String>,
    /// Protected by a passphrase.
    pub encrypted: bool,
    /// For a private key with a `.pub` beside it: whether that `.pub` is the same key. `None` when
    /// there is no `.pub` or one side cannot be read.
    pub public_key_matches: Option<bool>,
    /// Permission bits as OpenSSH prints them (`0600`).
    pub mode: String,
    pub kind: KeyKind,
    /// The `.pub` that was folded into this private key's entry.
    pub public_path: Option<PathBuf>,
    /// The certificate ssh offers with this private key (`KEY-cert.pub`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<crate::certificate::CertInfo>,
    /// Why a `KEY-cert.pub` beside the key cannot be read.
    #[serde(skip)]
    pub certificate_problem: Option<String>,
    #[serde(skip)]
    pub public_key: Option<PublicKey>,
    #[serde(skip)]
    pub mode_bits: u32,
    #[serde(skip)]
    pub uid: u32,
}

/// The on-disk format of a private key, as far as sshdoctor tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrivateFormat {
    /// `-----BEGIN OPENSSH PRIVATE KEY-----` (the default since OpenSSH 7.8).
    Openssh,
    /// `-----BEGIN RSA/EC/DSA PRIVATE KEY-----` (`ssh-keygen -m PEM`).
    Pem,
    /// `-----BEGIN PRIVATE KEY-----` / `-----BEGIN ENCRYPTED PRIVATE KEY-----` (`ssh-keygen -m PKCS8`).
    Pkcs8,
}

/// What a file's bytes are. Produced by [`classify`] without touching the disk.
#[derive(Debug, Clone)]
pub enum Classified {
    PrivateKey {
        format: PrivateFormat,
        encrypted: bool,
        /// The public half when it can be read without the passphrase.
        public_key: Option<PublicKey>,
        /// The algorithm name when known even without the public key (`RSA PRIVATE KEY` → `ssh-rsa`).
        key_type: Option<String>,
        /// The comment stored inside the key (only unencrypted OpenSSH keys carry one in clear).
        comment: Option<String>,
        /// Set when the file clearly is a private key but is damaged or unsupported.
        problem: Option<String>,
    },
    PublicKey {
        public_key: PublicKey,
        comment: Option<String>,
    },
    NotAKey,
}

/// Why one file could not be loaded as a key. Messages name the file and never contain key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: no such file")]
    NotFound { path: PathBuf },
    #[error("{path}: dangling symlink (its target does not exist)")]
    DanglingSymlink { path: PathBuf },
    #[error("{path}: is a directory, not a key file")]
    IsDirectory { path: PathBuf },
    #[error("{path}: is a {what}, not a regular file")]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("{path}: {size} bytes is far too large to be a key (limit {MAX_KEY_FILE_SIZE})")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not an SSH key")]
    NotAKey { path: PathBuf },
    #[error("{path}: looks like a private key but cannot be read: {reason}")]
    Malformed { path: PathBuf, reason: String },
    /// Other parsers read it, OpenSSH does not (see [`crate::key_armour`]).
    #[error("Load key \"{path}\": error in libcrypto ({})", .damage.describe())]
    NotLoadableBySsh {
        path: PathBuf,
        damage: crate::key_armour::Damage,
    },
}

/// What [`scan`] found: the keys, and the files that looked relevant but could not be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanResult {
    pub keys: Vec<KeyInfo>,
    pub errors: Vec<(PathBuf, String)>,
    /// Private keys OpenSSH cannot load although they look fine to other tools.
    pub not_loadable: Vec<(PathBuf, crate::key_armour::Damage)>,
}

/// What the rest of the diagnosis knows that the key findings depend on.
#[derive(Debug, Clone, Copy)]
pub struct KeyContext<'a> {
    /// Whose advice to give: on macOS a passphrase goes into the keychain.
    pub platform: Platform,
    pub agent_running: bool,
    /// `SHA256:...` fingerprints of the identities the agent holds.
    pub agent_fingerprints: &'a [String],
    /// IdentityFile paths from the config, already tilde-expanded.
    pub identity_files: &'a [PathBuf],
}

// ---------------------------------------------------------------------------------------------
// Pure core: bytes → facts
// ---------------------------------------------------------------------------------------------

/// Says what a file's bytes are: a private key, a public key line, or neither.
///
/// Never panics and never decrypts anything. Private key bytes live only inside this call.
pub fn classify(bytes: &[u8]) -> Classified {
    // Keys are ASCII text; a NUL byte means binary junk.
    if bytes.contains(&0) {
        return Classified::NotAKey;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Classified::NotAKey;
    };
    if let Some(pem) = find_pem(text) {
        return classify_pem(text, &pem);
    }
    classify_public(text)
}

/// One PEM block: its label, headers and base64 body.
struct Pem<'a> {
    label: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: String,
}

const PRIVATE_LABELS: [&str; 6] = [
    "OPENSSH PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
];

fn find_pem(text: &str) -> Option<Pem<'_>> {
    let mut lines = text.lines().map(str::trim);
    let label = lines.by_ref().find_map(|l| {
        let label = l.strip_prefix("-----BEGIN ")?.strip_suffix("-----")?;
        PRIVATE_LABELS.contains(&label).then_some(label)
    })?;
    let mut headers = Vec::new();
    let mut body = String::new();
    let mut in_headers = true;
    for line in lines {
        if line.starts_with("-----END ") {
            break;
        }
        if in_headers {
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim(), v.trim()));
                continue;
            }
            in_headers = false;
            if line.is_empty() {
                continue;
            }
        }
        body.push_str(line);
    }
    Some(Pem {
        label,
        headers,
        body,
    })
}

fn private(
    format: PrivateFormat,
    encrypted: bool,
    public_key: Option<PublicKey>,
    key_type: Option<&str>,
    comment: Option<String>,
    problem: Option<String>,
) -> Classified {
    let key_type = public_key
        .as_ref()
        .map(|k| k.algorithm().as_str().to_string())
        .or_else(|| key_type.map(str::to_string));
    Classified::PrivateKey {
        format,
        encrypted,
        public_key,
        key_type,
        comment,
        problem,
    }
}

fn classify_pem(text: &str, pem: &Pem<'_>) -> Classified {
    if pem.label == "OPENSSH PRIVATE KEY" {
        return classify_openssh(text);
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(pem.body.as_bytes());
    let (format, type_hint) = match pem.label {
        "RSA PRIVATE KEY" => (PrivateFormat::Pem, Some("ssh-rsa")),
        "DSA PRIVATE KEY" => (PrivateFormat::Pem, Some("ssh-dss")),
        "EC PRIVATE KEY" => (PrivateFormat::Pem, None),
        _ => (
            PrivateFormat::Pkcs8,
            decoded.as_deref().ok().and_then(pkcs8_type_hint),
        ),
    };
    // Legacy encryption is announced in a header; PKCS#8 encryption by its label. Either way the
    // public half is encrypted too and we stop here, before any parser sees the ciphertext.
    let proc_encrypted = pem
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("Proc-Type") && v.contains("ENCRYPTED"));
    if proc_encrypted || pem.label == "ENCRYPTED PRIVATE KEY" {
        return private(format, true, None, type_hint, None, None);
    }
    let Ok(der) = decoded else {
        return private(
            format,
            false,
            None,
            type_hint,
            None,
            Some("the base64 body is damaged".into()),
        );
    };
    let result = match pem.label {
        "RSA PRIVATE KEY" => rsa_pkcs1_public(&der),
        "DSA PRIVATE KEY" => dsa_openssl_public(&der),
        "EC PRIVATE KEY" => sec1_public(&der),
        _ => pkcs8_public(&der, text),
    };
    match result {
        Ok(Some(pk)) => private(format, false, Some(pk), type_hint, None, None),
        Ok(None) => private(format, false, None, type_hint, None, None),
        Err(reason) => private(format, false, None, type_hint, None, Some(reason)),
    }
}

fn classify_openssh(text: &str) -> Classified {
    // OpenSSH ignores whatever follows the END line (measured: `ssh-keygen -y` reads such a
    // file); ssh-key refuses it, so only the block itself is handed over.
    let text = openssh_block(text);
    let parsed = std::panic::catch_unwind(|| ssh_key::PrivateKey::from_openssh(text));
    match parsed {
        Ok(Ok(key)) => {
            let encrypted = key.is_encrypted();
            let comment = if encrypted {
                None
            } else {
                non_empty(key.comment().as_str_lossy())
            };
            let public = key.public_key().clone();
            // `key` (and its private half, zeroized on drop) goes away here.
            drop(key);
            private(
                PrivateFormat::Openssh,
                encrypted,
                Some(public),
                None,
                comment,
                None,
            )
        }
        Ok(Err(e)) => private(
            PrivateFormat::Openssh,
            false,
            None,
            None,
            None,
            Some(format!("OpenSSH key format error: {e}")),
        ),
        Err(_) => private(
            PrivateFormat::Openssh,
            false,
            None,
            None,
            None,
            Some("the OpenSSH key parser failed on this file".into()),
        ),
    }
}

/// The `OPENSSH PRIVATE KEY` block of `text`, from its BEGIN line through its END line.
fn openssh_block(text: &str) -> &str {
    const END: &str = "-----END OPENSSH PRIVATE KEY-----";
    let start = text
        .find("-----BEGIN OPENSSH PRIVATE KEY-----")
        .unwrap_or(0);
    let rest = &text[start..];
    match rest.find(END) {
        Some(i) => {
            let end = i + END.len();
            let newline = usize::from(rest[end..].starts_with('\n'));
            &rest[..end + newline]
        }
        None => rest,
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// A public key file holds exactly one `type base64 [comment]` line (blank and `#` lines aside).
/// Several key lines make it an authorized_keys-style list, which is not "a key".
fn classify_public(text: &str) -> Classified {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return Classified::NotAKey;
    };
    match parse_public_line(line) {
        Some((public_key, comment)) => Classified::PublicKey {
            public_key,
            comment,
        },
        None => Classified::NotAKey,
    }
}

/// Parses `type base64 [comment]` (any whitespace between fields, like OpenSSH). Certificates are
/// not keys for this purpose.
pub fn parse_public_line(line: &str) -> Option<(PublicKey, Option<String>)> {
    let line = line.trim();
    let (key_type, rest) = line.split_once(|c: char| c.is_ascii_whitespace())?;
    let rest = rest.trim_start();
    let (b64, comment) = match rest.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((b, c)) => (b, non_empty(c)),
        None => (rest, None),
    };
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .ok()?;
    let key = PublicKey::from_bytes(&blob).ok()?;
    if key.key_data().is_certificate() || key.algorithm().as_str() != key_type {
        return None;
    }
    Some((key, comment))
}

// --- A minimal DER reader: just enough to reach the public numbers of legacy keys. ------------

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_CONTEXT_0: u8 = 0xa0;
const TAG_CONTEXT_1: u8 = 0xa1;

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Reads one TLV; returns (tag, value, rest). Definite lengths only, as DER requires.
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((tag, value, rest))
}

fn der_expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match der_next(input)? {
        (t, v, rest) if t == tag => Some((v, rest)),
        _ => None,
    }
}

fn der_sequence(input: &[u8]) -> Option<&[u8]> {
    der_expect(input, TAG_SEQUENCE).map(|(v, _)| v)
}

/// Reads `count` INTEGERs in a row.
fn der_integers(mut input: &[u8], count: usize) -> Option<(Vec<&[u8]>, &[u8])> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (v, rest) = der_expect(input, TAG_INTEGER)?;
        out.push(v);
        input = rest;
    }
    Some((out, input))
}

/// A DER INTEGER's content is two's complement, exactly an SSH mpint's body.
fn mpint(v: &[u8]) -> Result<Mpint, String> {
    Mpint::from_bytes(v).map_err(|e| format!("bad integer: {e}"))
}

fn malformed(what: &str) -> String {
    format!("malformed {what} structure")
}

/// PKCS#1 RSAPrivateKey: SEQUENCE { version, n, e, d, ... } → (e, n).
fn rsa_pkcs1_public(der: &[u8]) -> Result<Option<PublicKey>, String> {
    let seq = der_sequence(der).ok_or_else(|| malformed("RSA key"))?;
    let (ints, _) = der_integers(seq, 3).ok_or_else(|| malformed("RSA key"))?;
    let [_, n, e] = ints.as_slice() else {
        return Err(malformed("RSA key"));
    };
    let key = RsaPublicKey::new(mpint(e)?, mpint(n)?).map_err(|e| format!("bad RSA key: {e}"))?;
    Ok(Some(PublicKey::from(KeyData::from(key))))
}

/// OpenSSL's DSA private key: SEQUENCE { 0, p, q, g, y, x } → (p, q, g, y).
fn dsa_openssl_public(der: &[u8]) -> Result<Option<PublicKey>, String> {
    let seq = der_sequence(der).ok_or_else(|| malformed("DSA key"))?;
    let (ints, _) = der_integers(seq, 5).ok_or_else(|| malformed("DSA key"))?;
    let [_, p, q, g, y] = ints.as_slice() else {
        return Err(malformed("DSA key"));
    };
    let key = DsaPublicKey::new(mpint(p)?, mpint(q)?, mpint(g)?, mpint(y)?)
        .map_err(|e| format!("bad DSA key: {e}"))?;
    Ok(Some(PublicKey::from(KeyData::from(key))))
}

/// SEC1 ECPrivateKey: SEQUENCE { 1, OCTET STRING d, [0] curve OPTIONAL, [1] BIT STRING point
/// OPTIONAL }. OpenSSL (and so ssh-keygen) always writes the point; without it we would need the
/// curve arithmetic, so we report "public half unknown" instead.
fn sec1_public(der: &[u8]) -> Result<Option<PublicKey>, String> {
    let seq = der_sequence(der).ok_or_else(|| malformed("EC key"))?;
    let (_, mut rest) = der_expect(seq, TAG_INTEGER).ok_or_else(|| malformed("EC key"))?;
    (_, rest) = der_expect(rest, TAG_OCTET_STRING).ok_or_else(|| malformed("EC key"))?;
    while let Some((tag, value, next)) = der_next(rest) {
        if tag == TAG_CONTEXT_1 {
            let (bits, _) = der_expect(value, TAG_BIT_STRING).ok_or_else(|| malformed("EC key"))?;
            let point = bits.get(1..).ok_or_else(|| malformed("EC key"))?;
            let key = EcdsaPublicKey::from_sec1_bytes(point)
                .map_err(|e| format!("bad EC public point: {e}"))?;
            return Ok(Some(PublicKey::from(KeyData::from(key))));
        }
        if tag != TAG_CONTEXT_0 {
            break;
        }
        rest = next;
    }
    Ok(None)
}

/// PKCS#8 PrivateKeyInfo: SEQUENCE { version, AlgorithmIdentifier, OCTET STRING inner, ... }.
fn pkcs8_public(der: &[u8], text: &str) -> Result<Option<PublicKey>, String> {
    let seq = der_sequence(der).ok_or_else(|| malformed("PKCS#8"))?;
    let (_, rest) = der_expect(seq, TAG_INTEGER).ok_or_else(|| malformed("PKCS#8"))?;
    let (alg, rest) = der_expect(rest, TAG_SEQUENCE).ok_or_else(|| malformed("PKCS#8"))?;
    let (oid, _) = der_expect(alg, TAG_OID).ok_or_else(|| malformed("PKCS#8"))?;
    let (inner, _) = der_expect(rest, TAG_OCTET_STRING).ok_or_else(|| malformed("PKCS#8"))?;
    match oid {
        OID_RSA => rsa_pkcs1_public(inner),
        OID_EC => sec1_public(inner),
        // DSA PKCS#8 stores only x; y = g^x mod p needs big-number arithmetic we do not carry.
        // The `.pub` beside the key supplies the fingerprint instead.
        OID_DSA => Ok(None),
        OID_ED25519 => ed25519_pkcs8_public(text),
        _ => Err("unsupported PKCS#8 key algorithm".into()),
    }
}

/// The algorithm named in an unencrypted PKCS#8 header, so a key whose public half we cannot
/// compute (DSA) still says what it is.
fn pkcs8_type_hint(der: &[u8]) -> Option<&'static str> {
    let seq = der_sequence(der)?;
    let (_, rest) = der_expect(seq, TAG_INTEGER)?;
    let (alg, _) = der_expect(rest, TAG_SEQUENCE)?;
    let (oid, _) = der_expect(alg, TAG_OID)?;
    match oid {
        OID_RSA => Some("ssh-rsa"),
        OID_DSA => Some("ssh-dss"),
        OID_ED25519 => Some("ssh-ed25519"),
        _ => None,
    }
}

/// Ed25519 PKCS#8 stores only the seed; deriving the public point needs the curve, so here (and
/// only here, for an unencrypted PKCS#8 key) we let russh's PKCS#8 decoder do it.
fn ed25519_pkcs8_public(text: &str) -> Result<Option<PublicKey>, String> {
    let decoded = std::panic::catch_unwind(|| russh::keys::decode_secret_key(text, None));
    match decoded {
        Ok(Ok(key)) => Ok(Some(key.public_key().clone())),
        Ok(Err(e)) => Err(format!("bad Ed25519 PKCS#8 key: {e}")),
        Err(_) => Err("the PKCS#8 parser failed on this file".into()),
    }
}

/// Key size as `ssh-keygen -l` prints it: the modulus (RSA) or p (DSA) bit length, the curve size.
pub fn key_bits(key: &PublicKey) -> Option<u32> {
    let data = key.key_data();
    if let Some(rsa) = data.rsa() {
        return mpint_bits(rsa.n());
    }
    if let Some(dsa) = data.dsa() {
        return mpint_bits(dsa.p());
    }
    if let Some(ec) = data.ecdsa() {
        return Some(match ec.curve() {
            EcdsaCurve::NistP256 => 256,
            EcdsaCurve::NistP384 => 384,
            EcdsaCurve::NistP521 => 521,
        });
    }
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::SkEd25519 | Algorithm::SkEcdsaSha2NistP256 => Some(256),
        _ => None,
    }
}

fn mpint_bits(m: &Mpint) -> Option<u32> {
    let bytes = m.as_positive_bytes()?;
    let first = bytes.iter().position(|&b| b != 0)?;
    let significant = bytes.get(first..)?;
    let lead = *significant.first()?;
    let len = u32::try_from(significant.len()).ok()?;
    Some((len - 1) * 8 + (8 - lead.leading_zeros()))
}

/// `SHA256:...` exactly as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Builds the entry for a private key from its classification and, when present, the
/// classification of the `.pub` beside it. Pure: the disk layer supplies both.
pub fn private_key_info(
    path: &Path,
    classified: &Classified,
    public_beside: Option<(&Path, &Classified)>,
    mode_bits: u32,
    uid: u32,
) -> Option<KeyInfo> {
    let Classified::PrivateKey {
        encrypted,
        public_key,
        key_type,
        comment,
        ..
    } = classified
    else {
        return None;
    };
    let beside = public_beside.and_then(|(p, c)| match c {
        Classified::PublicKey {
            public_key,
            comment,
        } => Some((p, public_key, comment)),
        _ => None,
    });
    let public_key_matches = match (public_key, beside) {
        (Some(own), Some((_, pk, _))) => Some(own.key_data() == pk.key_data()),
        _ => None,
    };
    // When the private file does not reveal its public half (encrypted PEM), the `.pub` is the
    // only source, exactly as `ssh-keygen -l` and ssh itself use it.
    let effective = public_key.clone().or_else(|| beside.map(|b| b.1.clone()));
    let comment = comment.clone().or_else(|| beside.and_then(|b| b.2.clone()));
    Some(KeyInfo {
        path: path.to_path_buf(),
        key_type: effective
            .as_ref()
            .map(|k| k.algorithm().as_str().to_string())
            .or_else(|| key_type.clone()),
        bits: effective.as_ref().and_then(key_bits),
        fingerprint: effective.as_ref().map(fingerprint),
        comment,
        encrypted: *encrypted,
        public_key_matches,
        mode: mode_string(mode_bits),
        kind: KeyKind::Private,
        public_path: beside.map(|b| b.0.to_path_buf()),
        certificate: None,
        certificate_problem: None,
        public_key: effective,
        mode_bits,
        uid,
    })
}

/// Builds the entry for a lone public key.
pub fn public_key_info(
    path: &Path,
    classified: &Classified,
    mode_bits: u32,
    uid: u32,
) -> Option<KeyInfo> {
    let Classified::PublicKey {
        public_key,
        comment,
    } = classified
    else {
        return None;
    };
    Some(KeyInfo {
        path: path.to_path_buf(),
        key_type: Some(public_key.algorithm().as_str().to_string()),
        bits: key_bits(public_key),
        fingerprint: Some(fingerprint(public_key)),
        comment: comment.clone(),
        encrypted: false,
        public_key_matches: None,
        mode: mode_string(mode_bits),
        kind: KeyKind::Public,
        public_path: None,
        certificate: None,
        certificate_problem: None,
        public_key: Some(public_key.clone()),
        mode_bits,
        uid,
    })
}

// ---------------------------------------------------------------------------------------------
// Thin disk layer
// ---------------------------------------------------------------------------------------------

/// A file's bytes plus the metadata the findings need.
struct CandidateFile {
    bytes: Vec<u8>,
    mode: u32,
    uid: u32,
}

fn file_type_name(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

/// Reads a candidate key file defensively: the type is checked before opening, the open never
/// blocks (a FIFO would otherwise wait for a writer forever), and at most 1 MiB is read.
/// Puts each `CertificateFile` certificate on the private key it certifies (when that key has
/// none beside it yet), as ssh pairs them. Returns the ones that went on no key: unreadable
/// (with why), or for a key not among these files (the agent may hold it).
pub fn attach_certificate_files(
    keys: &mut [KeyInfo],
    files: &[PathBuf],
) -> Vec<(PathBuf, Result<crate::certificate::CertInfo, String>)> {
    let mut left = Vec::new();
    for f in files {
        let parsed = match read_candidate(f) {
            Ok(r) => crate::certificate::parse(f, &r.bytes),
            Err(KeyError::NotFound { .. }) => continue,
            Err(e) => Err(e.to_string()),
        };
        let Ok(c) = parsed else {
            left.push((f.clone(), parsed));
            continue;
        };
        let owner = keys.iter_mut().find(|k| {
            k.kind == KeyKind::Private
                && k.certificate.is_none()
                && k.fingerprint.as_deref() == Some(c.key_fingerprint.as_str())
        });
        match owner {
            Some(k) => k.certificate = Some(c),
            None => left.push((f.clone(), Ok(c))),
        }
    }
    left
}

fn read_candidate(path: &Path) -> Result<CandidateFile, KeyError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(if std::fs::symlink_metadata(path).is_ok() {
                KeyError::DanglingSymlink {
                    path: path.to_path_buf(),
                }
            } else {
                KeyError::NotFound {
                    path: path.to_path_buf(),
                }
            });
        }
        Err(source) => {
            return Err(KeyError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    check_type(path, &meta)?;
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    // The path may have been swapped between stat and open: trust only the opened file.
    let meta = file.metadata().map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    check_type(path, &meta)?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_KEY_FILE_SIZE {
        return Err(KeyError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    Ok(CandidateFile {
        bytes,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
    })
}

fn check_type(path: &Path, meta: &std::fs::Metadata) -> Result<(), KeyError> {
    let ft = meta.file_type();
    if ft.is_dir() {
        return Err(KeyError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    if !ft.is_file() {
        return Err(KeyError::NotRegular {
            path: path.to_path_buf(),
            what: file_type_name(&ft),
        });
    }
    if meta.len() > MAX_KEY_FILE_SIZE {
        return Err(KeyError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    Ok(())
}

/// `KEY` → `KEY.pub`, the name OpenSSH looks for (it appends, it does not replace an extension).
pub fn public_path_for(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_os_string();
    s.push(".pub");
    PathBuf::from(s)
}

/// Loads one file: a private key (with its `.pub` folded in when present) or a public key.
pub fn load(path: &Path) -> Result<KeyInfo, KeyError> {
    let read = read_candidate(path)?;
    // As ssh loads it: an OpenSSH-format key whose layout OpenSSH's reader refuses is skipped
    // by ssh, however well other parsers read it.
    if let Some(damage) = openssh_damage(&read.bytes) {
        return Err(KeyError::NotLoadableBySsh {
            path: path.to_path_buf(),
            damage,
        });
    }
    let classified = classify(&read.bytes);
    drop(read.bytes);
    match &classified {
        Classified::PrivateKey {
            problem: Some(reason),
            ..
        } => Err(KeyError::Malformed {
            path: path.to_path_buf(),
            reason: reason.clone(),
        }),
        Classified::PrivateKey { .. } => {
            let pub_path = public_path_for(path);
            let beside = read_candidate(&pub_path)
                .ok()
                .map(|r| classify(&r.bytes))
                .filter(|c| matches!(c, Classified::PublicKey { .. }));
            let mut info = private_key_info(
                path,
                &classified,
                beside.as_ref().map(|c| (pub_path.as_path(), c)),
                read.mode,
                read.uid,
            )
            .ok_or_else(|| KeyError::NotAKey {
                path: path.to_path_buf(),
            })?;
            // The certificate ssh loads by itself beside the key.
            let cert_path = crate::certificate::path_for(path);
            if let Ok(bytes) = read_candidate(&cert_path).map(|r| r.bytes) {
                match crate::certificate::parse(&cert_path, &bytes) {
                    Ok(c) => info.certificate = Some(c),
                    Err(why) => info.certificate_problem = Some(why),
                }
            }
            Ok(info)
        }
        Classified::PublicKey { .. } => public_key_info(path, &classified, read.mode, read.uid)
            .ok_or_else(|| KeyError::NotAKey {
                path: path.to_path_buf(),
            }),
        Classified::NotAKey => Err(KeyError::NotAKey {
            path: path.to_path_buf(),
        }),
    }
}

/// For a file holding an `OPENSSH PRIVATE KEY` block: why OpenSSH's reader refuses its layout.
fn openssh_damage(bytes: &[u8]) -> Option<crate::key_armour::Damage> {
    if let Some(d) = crate::key_armour::foreign_format(bytes) {
        return Some(d);
    }
    memchr::memmem::find(bytes, b"-----BEGIN OPENSSH PRIVATE KEY-----")?;
    crate::key_armour::check(bytes)
}

/// The public half of a key file ssh cannot load, read from its repaired layout (nothing is
/// written): so the finding can say which key it is.
fn public_key_of_damaged(path: &Path) -> Option<PublicKey> {
    let read = read_candidate(path).ok()?;
    let fixed = zeroize::Zeroizing::new(crate::key_armour::repair(&read.bytes)?);
    match classify(&fixed) {
        Classified::PrivateKey { public_key, .. } => public_key,
        _ => None,
    }
}

/// `key-format-damaged`: a private key file ssh skips with `Load key "FILE": error in
/// libcrypto` because of its layout, with the lossless repair when the key data is intact.
pub fn not_loadable_finding(
    path: &Path,
    damage: crate::key_armour::Damage,
    paths: &SshPaths,
) -> Finding {
    let shown = paths.display(path);
    let mut f = Finding::new(
        "key-format-damaged",
        Severity::Error,
        format!("ssh cannot load {shown}: {}", damage.describe()),
    )
    .explain(match damage {
        crate::key_armour::Damage::PuttyFormat | crate::key_armour::Damage::Ssh2Format => {
            "ssh reads private keys only in its own format and PEM. It prints \"Load key ... \
             error in libcrypto\" for this file, skips it and goes on without it, so the server \
             never sees this key (\"Permission denied (publickey)\"). Other programs (PuTTY, \
             WinSCP, some SSH libraries) read it, which is why it works elsewhere."
        }
        _ => {
            "OpenSSH reads its own key format strictly: the BEGIN line must be the first line, \
             every line must end in a plain newline (not Windows CRLF), nothing but base64 in \
             between, and the END line needs its newline too. ssh prints \"Load key ... error \
             in libcrypto\", skips the key and goes on without it, so the server never sees it \
             (\"Permission denied (publickey)\"). Other programs read such a file without \
             complaint, which is why it looks intact."
        }
    })
    .evidence(format!(
        "Load key \"{}\": error in libcrypto",
        path.display()
    ));
    if let Some(pk) = public_key_of_damaged(path) {
        f = f.evidence(format!(
            "the key inside: {} {}",
            pk.algorithm().as_str(),
            pk.fingerprint(HashAlg::Sha256)
        ));
    }
    let quoted = shell_path(path, paths);
    if damage == crate::key_armour::Damage::PuttyFormat {
        let out = path.display().to_string();
        let out = out.strip_suffix(".ppk").unwrap_or(&out).to_string();
        let out = shell_path(Path::new(&out), paths);
        f.fix(Fix::new(
            FixId::ConvertPpk,
            "Convert it to ssh's format with PuTTYgen (the key stays the same), then use the new file",
            format!("puttygen {quoted} -O private-openssh -o {out}"),
        ))
    } else if damage == crate::key_armour::Damage::Ssh2Format {
        f.fix(Fix::new(
            FixId::ConvertSsh2Key,
            "Convert it to ssh's format (the key stays the same), then use the new file",
            format!("ssh-keygen -i -f {quoted} > {quoted}.openssh && chmod 600 {quoted}.openssh"),
        ))
    } else if damage.repairable() {
        f.fix(
            Fix::new(
                FixId::RepairKeyFile,
                format!("Rewrite {shown} in the layout ssh reads (the key itself is unchanged)"),
                format!("sshdoctor fix repair-key-file {}", shell_path(path, paths)),
            )
            .on_path(path),
        )
    } else {
        f.fix(Fix::new(
            FixId::GenerateKey,
            "The key data itself is damaged: restore the file from a backup, or create a new key",
            "ssh-keygen -t ed25519",
        ))
    }
}

/// Files in `~/.ssh` that are never keys, whatever they contain: an authorized_keys holding a
/// single line would otherwise look exactly like a `.pub`.
fn never_a_key(name: &str) -> bool {
    name.starts_with("known_hosts")
        || name.starts_with("authorized_keys")
        || name == "config"
        || name.ends_with("-cert.pub")
        || name == "environment"
        || name == "rc"
        // The old file `fix repair-key-file` keeps for undo.
        || name.ends_with(".sshdoctor-old")
}

/// Finds every key in `dir` by content, plus the `extra` paths (IdentityFile values).
///
/// In the directory, things that are plainly not keys (subdirectories, control sockets, large
/// files, junk) are skipped quietly; a dangling symlink or a damaged key is reported in `errors`.
/// Every problem with an `extra` path is reported, except a missing file: the config check owns
/// `identity-file-missing`.
pub fn scan(dir: &Path, extra: &[PathBuf]) -> ScanResult {
    let mut result = ScanResult::default();
    let mut candidates: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| !never_a_key(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            result
                .errors
                .push((dir.to_path_buf(), format!("cannot list the directory: {e}")));
            Vec::new()
        }
    };
    candidates.sort();

    let mut loaded: Vec<KeyInfo> = Vec::new();
    for path in &candidates {
        match load(path) {
            Ok(info) => loaded.push(info),
            Err(KeyError::NotLoadableBySsh { path, damage }) => {
                result.not_loadable.push((path, damage))
            }
            Err(
                e @ (KeyError::DanglingSymlink { .. }
                | KeyError::Malformed { .. }
                | KeyError::Io { .. }),
            ) => result.errors.push((path.clone(), e.to_string())),
            Err(_) => {}
        }
    }
    for path in extra {
        if loaded.iter().any(|k| same_file(&k.path, path))
            || result.errors.iter().any(|(p, _)| same_file(p, path))
            || result.not_loadable.iter().any(|(p, _)| same_file(p, path))
        {
            continue;
        }
        match load(path) {
            Ok(info) => loaded.push(info),
            Err(KeyError::NotFound { .. }) => {}
            Err(KeyError::NotLoadableBySsh { path, damage }) => {
                result.not_loadable.push((path, damage))
            }
            Err(e) => result.errors.push((path.clone(), e.to_string())),
        }
    }

    // A `.pub` already folded into its private key's entry is not listed again.
    let folded: Vec<PathBuf> = loaded
        .iter()
        .filter_map(|k| k.public_path.clone())
        .collect();
    result.keys = loaded
        .into_iter()
        .filter(|k| k.kind == KeyKind::Private || !folded.iter().any(|p| same_file(p, &k.path)))
        .collect();
    // A `.pub` beside a private key that is not a valid public key deserves a word.
    for key in &result.keys {
        if key.kind == KeyKind::Private && key.public_path.is_none() {
            let pub_path = public_path_for(&key.path);
            if let Ok(read) = read_candidate(&pub_path) {
                if matches!(classify(&read.bytes), Classified::NotAKey) {
                    result.errors.push((
                        pub_path,
                        "not a valid public key (ssh and ssh-keygen read it in place of the private key's public half)".into(),
                    ));
                }
            }
        }
    }
    result
}

fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Findings and JSON
// ---------------------------------------------------------------------------------------------

/// The identity files ssh tries when the config names none (OpenSSH 9.2, `ssh(1)` `-i`).
pub const DEFAULT_IDENTITIES: [&str; 7] = [
    "id_rsa",
    "id_ecdsa",
    "id_ecdsa_sk",
    "id_ed25519",
    "id_ed25519_sk",
    "id_xmss",
    "id_dsa",
];

/// Whether ssh would offer this key without `-i`: a default name in `~/.ssh` or an IdentityFile.
pub fn offered_by_ssh(key: &Path, ctx: &KeyContext<'_>, paths: &SshPaths) -> bool {
    DEFAULT_IDENTITIES
        .iter()
        .any(|n| paths.ssh_dir.join(n) == key)
        || ctx.identity_files.iter().any(|p| p == key)
}

/// Findings about the keys themselves. Permission findings for key files come from
/// [`crate::perms::private_key_findings`] (fed from `mode_bits`/`uid`), not from here.
pub fn findings(keys: &[KeyInfo], ctx: &KeyContext, paths: &SshPaths) -> Vec<Finding> {
    let mut out = Vec::new();
    let privates: Vec<&KeyInfo> = keys.iter().filter(|k| k.kind == KeyKind::Private).collect();
    if privates.is_empty() {
        out.push(no_keys_finding(keys, paths));
    }
    for key in &privates {
        let shown = paths.display(&key.path);
        if key.public_key_matches == Some(false) {
            out.push(mismatch_finding(key, &shown, paths));
        }
        if key.encrypted {
            if let Some(f) = agent_finding(key, &shown, ctx, paths) {
                out.push(f);
            }
        }
        if let Some(f) = weak_finding(key, &shown) {
            out.push(f);
        }
        if !offered_by_ssh(&key.path, ctx, paths) {
            out.push(
                Finding::new(
                    "key-not-offered",
                    Severity::Info,
                    format!("ssh will not use {shown} unless told to"),
                )
                .explain(
                    "ssh only tries keys with the default names (id_ed25519, id_ecdsa, id_rsa, ...) \
                     or the ones named by IdentityFile in ~/.ssh/config, plus whatever the agent \
                     holds. This key has another name and no IdentityFile points at it, so it is \
                     only used with `ssh -i` or once it is added to the agent.",
                )
                .evidence(shown.clone())
                .fix(Fix::new(
                    FixId::UseKeyWithI,
                    "Use this key explicitly",
                    format!("ssh -i {} HOST", shell_path(&key.path, paths)),
                )),
            );
        }
    }
    out
}

fn no_keys_finding(keys: &[KeyInfo], paths: &SshPaths) -> Finding {
    let mut f = Finding::new("no-keys", Severity::Error, "You have no SSH private key")
        .explain(
            "Public-key login needs a private key on this machine. None was found in ~/.ssh (by \
             content, whatever the file names) or at any IdentityFile. Generate one, then put the \
             .pub on the server (ssh-copy-id does that).",
        )
        .evidence(paths.display(&paths.ssh_dir));
    for k in keys {
        f = f.evidence(format!(
            "{}: public key only, its private key is not here",
            paths.display(&k.path)
        ));
    }
    f.fix(Fix::new(
        FixId::GenerateKey,
        "Generate a new Ed25519 key",
        "ssh-keygen -t ed25519",
    ))
}

fn mismatch_finding(key: &KeyInfo, shown: &str, paths: &SshPaths) -> Finding {
    let pub_path = key
        .public_path
        .clone()
        .unwrap_or_else(|| public_path_for(&key.path));
    let pub_shown = paths.display(&pub_path);
    let own = key
        .public_key
        .as_ref()
        .map(fingerprint)
        .unwrap_or_else(|| "unknown".into());
    let mut f = Finding::new(
        "public-key-mismatch",
        Severity::Error,
        format!("{pub_shown} is not the public half of {shown}"),
    )
    .explain(
        "ssh offers the key from the .pub file to the server before it unlocks the private key. \
         When the .pub belongs to another key, the server may accept the offer and then reject the \
         signature, or you copy the wrong .pub to servers; ssh-keygen -l also reports the .pub's \
         fingerprint, not the private key's. This usually happens when a key was replaced but its \
         old .pub was left behind. Regenerating the .pub from the private key fixes it.",
    )
    .evidence(format!("{shown}: {own}"));
    if let Some(pk) = public_key_of_pub(key) {
        f = f.evidence(format!("{pub_shown}: {pk}"));
    }
    let q = shell_path(&key.path, paths);
    let qp = shell_path(&pub_path, paths);
    f.fix(
        Fix::new(
            FixId::RegeneratePublicKey,
            format!("Rewrite {pub_shown} from the private key"),
            format!("ssh-keygen -y -f {q} > {qp}"),
        )
        .destructive()
        .on_path(&key.path),
    )
}

/// The fingerprint of the `.pub` file itself, read again for the evidence line.
fn public_key_of_pub(key: &KeyInfo) -> Option<String> {
    let p = key.public_path.as_ref()?;
    let read = read_candidate(p).ok()?;
    match classify(&read.bytes) {
        Classified::PublicKey { public_key, .. } => Some(fingerprint(&public_key)),
        _ => None,
    }
}

fn agent_finding(
    key: &KeyInfo,
    shown: &str,
    ctx: &KeyContext,
    paths: &SshPaths,
) -> Option<Finding> {
    let q = shell_path(&key.path, paths);
    let base = |title: String| {
        Finding::new("encrypted-key-no-agent", Severity::Warning, title)
            .explain(
                "This key is protected by a passphrase. Without an agent holding it, ssh asks for \
                 the passphrase on every connection, and anything non-interactive (scripts, git \
                 over ssh, BatchMode) cannot use the key at all and fails with \"Permission \
                 denied (publickey)\". Load it into ssh-agent once per session.",
            )
            .evidence(format!("{shown}: passphrase-protected"))
    };
    if !ctx.agent_running {
        return Some(
            base(format!(
                "{shown} needs its passphrase and no ssh-agent is running"
            ))
            .evidence("SSH_AUTH_SOCK: no agent answering")
            .fix(Fix::new(
                FixId::StartAgentAddKey,
                "Start an agent and add the key",
                format!(
                    "{} && {}",
                    ctx.platform.start_agent_command(),
                    ctx.platform.add_key_command(&q)
                ),
            )),
        );
    }
    // Without a fingerprint (encrypted PEM and no .pub) we cannot tell whether the agent has it.
    let fp = key.fingerprint.as_ref()?;
    if ctx.agent_fingerprints.iter().any(|a| a == fp) {
        return None;
    }
    Some(
        base(format!(
            "{shown} needs its passphrase and is not in the agent"
        ))
        .evidence(format!("{fp} not among the agent's identities"))
        .fix(
            Fix::new(
                FixId::AddKey,
                if ctx.platform == Platform::MacOs {
                    "Add the key to the agent, its passphrase kept in the login keychain"
                } else {
                    "Add the key to the running agent"
                },
                ctx.platform.add_key_command(&q),
            )
            .on_path(&key.path),
        ),
    )
    .map(|mut f| {
        if let Some(lines) = ctx.platform.keychain_config_lines() {
            f.explanation.push_str(&format!(
                " On a Mac, `--apple-use-keychain` keeps the passphrase in the login keychain, \
                 and these lines in ~/.ssh/config make ssh load the key from there by itself \
                 after every reboot:\n{lines}"
            ));
            if let Some(settings) = ctx.platform.keychain_settings() {
                f = f.fix(
                    Fix::new(
                        FixId::UseKeychain,
                        "Let ssh load keys from the keychain by itself (UseKeychain, AddKeysToAgent)",
                        "sshdoctor fix use-keychain",
                    )
                    .on(crate::finding::FixTarget::ConfigOption {
                        host: None,
                        settings,
                    }),
                );
            }
        }
        f
    })
}

fn weak_finding(key: &KeyInfo, shown: &str) -> Option<Finding> {
    let ty = key.key_type.as_deref()?;
    let bits = key.bits;
    let (title, why) = if ty == "ssh-dss" {
        (
            format!("{shown} is a DSA key, which OpenSSH no longer accepts"),
            "DSA keys are limited to 1024 bits and are considered broken. OpenSSH disabled \
             ssh-dss by default in 7.0 (servers refuse it unless reconfigured) and removed it \
             entirely in 9.8. Make an Ed25519 key and install it on your servers.",
        )
    } else if ty == "ssh-rsa" && bits.is_some_and(|b| b < 2048) {
        (
            format!(
                "{shown} is a {}-bit RSA key, too short to be safe",
                bits.unwrap_or(0)
            ),
            "RSA keys under 2048 bits can be factored with enough effort and many servers and \
             policies reject them; OpenSSH 9.1 and later refuse RSA keys under 1024 bits outright \
             (RequiredRSASize). Make an Ed25519 key and install it on your servers.",
        )
    } else {
        return None;
    };
    let mut f = Finding::new("weak-key", Severity::Warning, title)
        .explain(why)
        .evidence(format!("{shown}: {ty}"));
    if let Some(b) = bits {
        f = f.evidence(format!("{b} bits"));
    }
    Some(f.fix(Fix::new(
        FixId::GenerateKey,
        "Generate a new Ed25519 key",
        "ssh-keygen -t ed25519",
    )))
}

/// The `sshdoctor keys --json` document: `{"keys":[{path,type,bits,fingerprint,comment,encrypted,
/// public_key_matches,mode,kind,public_path}]}`. Only public facts exist in [`KeyInfo`].
pub fn keys_json(keys: &[KeyInfo]) -> serde_json::Value {
    serde_json::json!({ "keys": keys })
}

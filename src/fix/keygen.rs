//! New key pairs, generated natively with `ssh-key` (no `ssh-keygen` needed): Ed25519 by
//! default, RSA 4096 for old servers that know nothing newer. The private key is written in
//! OpenSSH format (bcrypt-pbkdf + AES-256-CTR when a passphrase is given, as `ssh-keygen` does)
//! with mode 0600, the `.pub` with 0644. The plan carries the private bytes only to write them;
//! they are never shown, serialized or journaled (see [`PlannedChange::Create::secret`]).

use std::path::Path;

use russh::keys::ssh_key::private::{KeypairData, RsaKeypair};
use russh::keys::ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};

use super::plan::public_line;
use super::{FixPlan, PlannedChange};
use crate::finding::shell_quote;
use crate::fix_id::FixId;

/// Which kind of key to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ed25519,
    /// RSA with 4096 bits.
    Rsa4096,
}

impl KeyType {
    pub fn parse(s: &str) -> Option<KeyType> {
        match s.to_ascii_lowercase().as_str() {
            "ed25519" | "ssh-ed25519" => Some(KeyType::Ed25519),
            "rsa" | "ssh-rsa" | "rsa4096" => Some(KeyType::Rsa4096),
            _ => None,
        }
    }

    fn keygen_args(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "-t ed25519",
            KeyType::Rsa4096 => "-t rsa -b 4096",
        }
    }
}

/// `user@host`, the comment ssh-keygen puts on new keys.
pub fn default_comment() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "user".into());
    let host = Some(crate::sys::local_hostname())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// Generates a key pair and plans writing `path` and `path.pub`. An empty passphrase means an
/// unencrypted key.
pub fn generate_key_plan(
    id: FixId,
    path: &Path,
    kind: KeyType,
    comment: &str,
    passphrase: &str,
) -> anyhow::Result<FixPlan> {
    let mut rng = rand::rng();
    let key = match kind {
        KeyType::Ed25519 => PrivateKey::random(&mut rng, Algorithm::Ed25519)
            .map_err(|e| anyhow::anyhow!("cannot generate an Ed25519 key: {e}"))?,
        KeyType::Rsa4096 => {
            let pair = RsaKeypair::random(&mut rng, 4096)
                .map_err(|e| anyhow::anyhow!("cannot generate an RSA key: {e}"))?;
            PrivateKey::new(KeypairData::from(pair), "")
                .map_err(|e| anyhow::anyhow!("cannot build the RSA key: {e}"))?
        }
    };
    let mut key = key;
    key.set_comment(comment);
    let public = key.public_key().clone();
    let stored = if passphrase.is_empty() {
        key
    } else {
        key.encrypt(&mut rng, passphrase.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot encrypt the new key: {e}"))?
    };
    let pem = stored
        .to_openssh(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the new key: {e}"))?;
    let pub_path = crate::keys::public_path_for(path);
    let q = shell_quote(&path.display().to_string());
    let mut plan = FixPlan::new(
        id,
        format!(
            "Create a new {} key {} ({}){}",
            match kind {
                KeyType::Ed25519 => "Ed25519",
                KeyType::Rsa4096 => "RSA 4096",
            },
            path.display(),
            public.fingerprint(HashAlg::Sha256),
            if passphrase.is_empty() {
                ", no passphrase"
            } else {
                ", protected by a passphrase"
            }
        ),
        format!(
            "ssh-keygen {} -C {} -f {q}",
            kind.keygen_args(),
            shell_quote(comment)
        ),
    );
    plan.changes.push(PlannedChange::Create {
        path: path.to_path_buf(),
        bytes: pem.as_bytes().to_vec(),
        mode: 0o600,
        secret: true,
    });
    plan.changes.push(PlannedChange::Create {
        path: pub_path,
        bytes: public_line(&public, Some(comment)).into_bytes(),
        mode: 0o644,
        secret: false,
    });
    Ok(plan)
}

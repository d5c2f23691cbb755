//! `sshdoctor copy-id [-i KEY] [-F CONFIG] TARGET`: installs a public key in the server's
//! `~/.ssh/authorized_keys` (what `ssh-copy-id` does) after logging in with a password, then
//! proves it by logging in with the key.
//!
//! The password is asked on the terminal without echo and never stored or logged. For scripts
//! and tests only, it may come from `SSHDOCTOR_PASSWORD` when stdin is not a terminal. The
//! server's host key must already be in known_hosts: a password is never sent to an unknown or
//! changed server. Exit codes: 0 installed (or already there) and verified, 1 failed, 2 bad usage.

use std::path::PathBuf;

use clap::Args;

use crate::config::{self, ConfigRequest};
use crate::exit::Exit;
use crate::fix::{remote, secret};
use crate::keys::{classify, public_path_for, Classified};
use crate::paths::SshPaths;
use crate::target::parse_target;

#[derive(Debug, Args)]
pub struct CopyIdArgs {
    /// The key to install: the private key or its .pub (default: the first of
    /// ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exists).
    #[arg(short = 'i')]
    pub identity: Option<PathBuf>,
    /// `[user@]host[:port]`.
    pub target: String,
    /// The known_hosts file the server's key must be in (default: the config's
    /// UserKnownHostsFile, normally ~/.ssh/known_hosts).
    #[arg(short = 'f', long = "known-hosts")]
    pub known_hosts: Option<PathBuf>,
    /// Read this ssh config instead of ~/.ssh/config (as `ssh -F`).
    #[arg(short = 'F', long = "config", value_name = "FILE", value_parser = super::user_config_file)]
    pub config_file: Option<PathBuf>,
    /// Do not log in with the key afterwards.
    #[arg(long)]
    pub no_verify: bool,
}

fn pick_key(args: &CopyIdArgs, paths: &SshPaths) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let Some(i) = &args.identity {
        let s = i.to_string_lossy();
        return Ok(match s.strip_suffix(".pub") {
            Some(private) => (PathBuf::from(private), i.clone()),
            None => (i.clone(), public_path_for(i)),
        });
    }
    for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
        let p = paths.ssh_dir.join(name);
        let pubp = public_path_for(&p);
        if pubp.is_file() || p.is_file() {
            return Ok((p, pubp));
        }
    }
    anyhow::bail!(
        "no key found in {}; create one with: sshdoctor fix generate-key",
        paths.ssh_dir.display()
    )
}

pub fn run(args: &CopyIdArgs) -> anyhow::Result<Exit> {
    let paths = SshPaths::from_env()?;
    let target = match parse_target(&args.target) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sshdoctor: {e}");
            return Ok(Exit::Usage);
        }
    };
    // The same HostName/Port/User/known_hosts ssh would use for this target (aliases included).
    let cfg = config::effective(
        &ConfigRequest {
            target: &target,
            config_file: args.config_file.as_deref(),
            port: None,
            user: None,
            identity_files: &[],
        },
        &paths,
    )?;
    let user = cfg.user.clone();
    let port = cfg.port;
    let host = cfg.hostname.clone();
    let (private, public) = pick_key(args, &paths)?;
    // The public half: from the .pub, else from the private key file (public part in clear).
    let (pk, comment) = match std::fs::read(&public).ok().map(|b| classify(&b)) {
        Some(Classified::PublicKey {
            public_key,
            comment,
        }) => (public_key, comment),
        _ => match std::fs::read(&private)
            .ok()
            .map(|b| classify(&zeroize::Zeroizing::new(b)))
        {
            Some(Classified::PrivateKey {
                public_key: Some(pk),
                comment,
                ..
            }) => (pk, comment),
            _ => anyhow::bail!(
                "cannot read a public key from {} or {}",
                public.display(),
                private.display()
            ),
        },
    };
    let kh_files = match &args.known_hosts {
        Some(f) => vec![f.clone()],
        None => cfg.user_known_hosts_files.clone(),
    };
    // Every file ssh would consult, one after the other: the host key must be known in one.
    let mut known_hosts = Vec::new();
    for f in &kh_files {
        if let Ok(mut b) = std::fs::read(f) {
            if !b.is_empty() && !b.ends_with(b"\n") {
                b.push(b'\n');
            }
            known_hosts.extend_from_slice(&b);
        }
    }
    let fp = pk.fingerprint(russh::keys::ssh_key::HashAlg::Sha256);
    println!(
        "Install {} {fp} in {user}@{}:~/.ssh/authorized_keys (port {port})",
        pk.algorithm().as_str(),
        host
    );
    // Host key first, then the methods: no password is asked for a server that is unknown,
    // changed, or would not take one.
    let session = match remote::CopyIdSession::open(remote::CopyIdTarget {
        host: &host,
        port,
        user: &user,
        known_hosts: &known_hosts,
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "sshdoctor: {}",
                crate::safe_text::printable(&format!("{e:#}"))
            );
            return Ok(Exit::Problem);
        }
    };
    if !session.takes_password() {
        eprintln!(
            "sshdoctor: {user}@{host} does not take a password (the server offers: {}), so copy-id cannot log in to install the key; nothing was sent. Install it another way: paste {} into the server's ~/.ssh/authorized_keys from a login that works (its console, another key), or ask its administrator to.",
            crate::safe_text::printable(&session.offered_text()),
            paths.display(&public)
        );
        return Ok(Exit::Problem);
    }
    // The key for the verifying login, when it can be had.
    let private_key = if args.no_verify || !private.is_file() {
        None
    } else if remote::key_needs_passphrase(&private) {
        match secret::from_env("SSHDOCTOR_PASSPHRASE") {
            Some(p) => russh::keys::load_secret_key(&private, Some(p.as_str())).ok(),
            None if crate::sys::stdin_is_tty() => {
                let p = secret::prompt(&format!(
                    "Passphrase for {} (to verify the login): ",
                    paths.display(&private)
                ))?;
                russh::keys::load_secret_key(&private, Some(p.as_str())).ok()
            }
            None => None,
        }
    } else {
        russh::keys::load_secret_key(&private, None).ok()
    };
    let password = match (&session.offered, secret::from_env("SSHDOCTOR_PASSWORD")) {
        (None, _) => secret::Secret::default(),
        (_, Some(p)) => p,
        _ if crate::sys::stdin_is_tty() => secret::prompt(&format!("{user}@{host}'s password: "))?,
        _ => {
            eprintln!("sshdoctor: no terminal to ask for the password on (scripts may set SSHDOCTOR_PASSWORD)");
            return Ok(Exit::Usage);
        }
    };
    let req = remote::CopyIdRequest {
        public_key: &pk,
        comment: comment.as_deref(),
        password: &password,
        private_key: private_key.as_ref(),
    };
    match session.install(&req) {
        Ok(out) => {
            println!(
                "{}",
                if out.added {
                    "Key added."
                } else {
                    "The key was already installed; nothing added."
                }
            );
            match out.verified {
                Some(true) => {
                    println!("Verified: logging in with the key works.");
                    Ok(Exit::Clean)
                }
                Some(false) => {
                    eprintln!("sshdoctor: the key is installed but the server still refuses it (check the server's StrictModes permissions and AuthorizedKeysFile: sshdoctor server)");
                    Ok(Exit::Problem)
                }
                None => {
                    println!(
                        "Not verified (no usable private key here); try: ssh -i {} {user}@{}",
                        private.display(),
                        host
                    );
                    Ok(Exit::Clean)
                }
            }
        }
        Err(e) => {
            eprintln!("sshdoctor: {e:#}");
            Ok(Exit::Problem)
        }
    }
}

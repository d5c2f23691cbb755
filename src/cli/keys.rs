//! `sshdoctor keys [--json]`: the user's keys with the facts ssh cares about.

use std::path::PathBuf;

use crate::config;
use crate::exit::Exit;
use crate::keys::{self, KeyInfo, KeyKind};
use crate::paths::SshPaths;

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// Read this ssh config instead of ~/.ssh/config for IdentityFile lines.
    #[arg(short = 'F', long = "config", value_name = "FILE", value_parser = super::user_config_file)]
    pub config_file: Option<PathBuf>,
    /// Print `{"keys":[...]}` instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &KeysArgs) -> anyhow::Result<Exit> {
    let paths = SshPaths::from_env()?;
    let mut extra: Vec<PathBuf> = config::all_identity_files(&paths, args.config_file.as_deref())
        .into_iter()
        .map(|(_, _, p)| p)
        .filter(|p| p.exists())
        .collect();
    extra.sort();
    extra.dedup();
    let mut scan = keys::scan(&paths.ssh_dir, &extra);
    let cert_files = config::all_certificate_files(&paths, args.config_file.as_deref());
    let unpaired = keys::attach_certificate_files(&mut scan.keys, &cert_files);
    if args.json {
        let mut v = keys::keys_json(&scan.keys);
        // Added to the contract: key files ssh cannot load, with why.
        v["not_loadable"] = serde_json::json!(scan
            .not_loadable
            .iter()
            .map(|(p, d)| serde_json::json!({ "path": p, "damage": d, "reason": d.describe() }))
            .collect::<Vec<_>>());
        super::print_json(&v)?;
    } else {
        print!("{}", render(&scan.keys, &paths));
        let now = crate::certificate::now_unix();
        for k in &scan.keys {
            if let Some(c) = &k.certificate {
                println!("{}", certificate_line(c, now, &paths));
            } else if let Some(why) = &k.certificate_problem {
                println!(
                    "  {}: not a certificate ssh can read: {}",
                    paths.display(&crate::certificate::path_for(&k.path)),
                    crate::safe_text::printable(why)
                );
            }
        }
        for (path, cert) in &unpaired {
            match cert {
                Ok(c) => println!(
                    "{} (CertificateFile, for a key not found here: {})",
                    certificate_line(c, now, &paths),
                    c.key_fingerprint
                ),
                Err(why) => println!(
                    "  {}: not a certificate ssh can read: {}",
                    paths.display(path),
                    crate::safe_text::printable(why)
                ),
            }
        }
        for (path, damage) in &scan.not_loadable {
            println!(
                "{:<40} private  [SSH CANNOT LOAD IT: {}; sshdoctor fix repair-key-file {}]",
                paths.display(path),
                damage.describe(),
                crate::perms::shell_path(path, &paths)
            );
        }
        for (path, err) in &scan.errors {
            eprintln!(
                "{}: {}",
                paths.display(path),
                crate::safe_text::printable(err)
            );
        }
    }
    Ok(Exit::Clean)
}

fn render(keys: &[KeyInfo], paths: &SshPaths) -> String {
    if keys.is_empty() {
        return format!("No keys in {}.\n", paths.display(&paths.ssh_dir));
    }
    let mut out = format!(
        "{:<40} {:<7} {:<22} {:>5} {:<4} {} {}\n",
        "FILE", "KIND", "TYPE", "BITS", "MODE", "FINGERPRINT", "COMMENT"
    );
    for k in keys {
        let kind = match k.kind {
            KeyKind::Private => "private",
            KeyKind::Public => "public",
        };
        let mut flags = Vec::new();
        if k.encrypted {
            flags.push("passphrase");
        }
        if k.public_key_matches == Some(false) {
            flags.push(".pub MISMATCH");
        }
        // What ssh says about such a file: "UNPROTECTED PRIVATE KEY FILE! ... will be ignored".
        let too_open =
            u32::from_str_radix(k.mode.trim_start_matches('0'), 8).is_ok_and(|m| m & 0o077 != 0);
        if k.kind == KeyKind::Private && too_open {
            flags.push("TOO OPEN: ssh ignores this key, chmod 600 it");
        }
        out.push_str(&format!(
            "{:<40} {:<7} {:<22} {:>5} {} {} {}{}\n",
            paths.display(&k.path),
            kind,
            k.key_type.as_deref().unwrap_or("?"),
            k.bits.map(|b| b.to_string()).unwrap_or_default(),
            k.mode,
            k.fingerprint
                .as_deref()
                .unwrap_or("(fingerprint needs the passphrase)"),
            crate::safe_text::printable(k.comment.as_deref().unwrap_or("")),
            if flags.is_empty() {
                String::new()
            } else {
                format!("  [{}]", flags.join(", "))
            }
        ));
    }
    out
}

/// The certificate of a key, as `ssh-keygen -L` would summarize it, on one indented line.
fn certificate_line(c: &crate::certificate::CertInfo, now: u64, paths: &SshPaths) -> String {
    let opts: Vec<String> = c
        .critical_options
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    crate::safe_text::printable(&format!(
        "  {} certificate for {}: {} key id \"{}\", serial {}, principals {}, {}, CA {}{}",
        paths.display(&c.path),
        c.key_fingerprint,
        c.cert_type,
        c.key_id,
        c.serial,
        if c.principals.is_empty() {
            "(any)".to_string()
        } else {
            c.principals.join(",")
        },
        crate::certificate::validity_text(c, now),
        c.ca_fingerprint,
        if opts.is_empty() {
            String::new()
        } else {
            format!(", critical options {}", opts.join(" "))
        }
    ))
}

//! Key discovery and identification, checked against the real `ssh-keygen` (OpenSSH is the
//! oracle). Every key is generated in a temp dir; nothing reads the real ~/.ssh or agent.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::run::sshdoctor;
use sshdoctor::finding::Severity;
use sshdoctor::keys::{self, Classified, KeyContext, KeyError, KeyKind};
use sshdoctor::paths::SshPaths;
use sshdoctor::platform::Platform;

/// Runs `ssh-keygen` with no stdin (it must never prompt) and returns (status ok, stdout).
fn keygen(args: &[&str]) -> (bool, String) {
    let out = Command::new("ssh-keygen")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `ssh-keygen -q -t TYPE [-b BITS] [-m FORMAT] -N PASS -C COMMENT -f PATH`.
fn generate(path: &Path, ty: &str, bits: Option<&str>, format: Option<&str>, pass: &str) {
    let p = path.to_str().unwrap();
    let mut args = vec!["-q", "-t", ty, "-N", pass, "-C", "test comment", "-f", p];
    if let Some(b) = bits {
        args.extend(["-b", b]);
    }
    if let Some(m) = format {
        args.extend(["-m", m]);
    }
    let (ok, _) = keygen(&args);
    assert!(ok, "ssh-keygen could not generate {ty} {bits:?} {format:?}");
}

/// What `ssh-keygen -lf FILE` prints: (bits, fingerprint, comment, TYPE).
#[derive(Debug, PartialEq)]
struct Listed {
    bits: u32,
    fingerprint: String,
    comment: String,
    ty: String,
}

fn listed(path: &Path) -> Option<Listed> {
    let (ok, out) = keygen(&["-lf", path.to_str().unwrap()]);
    if !ok {
        return None;
    }
    let line = out.lines().next()?;
    let (bits, rest) = line.split_once(' ')?;
    let (fp, rest) = rest.split_once(' ')?;
    let (comment, ty) = rest.rsplit_once(" (")?;
    Some(Listed {
        bits: bits.parse().ok()?,
        fingerprint: fp.to_string(),
        comment: comment.to_string(),
        ty: ty.trim_end_matches(')').to_string(),
    })
}

/// ssh-keygen -l prints the short family name; we report the protocol name.
fn family(openssh_type: &str) -> &'static str {
    match openssh_type {
        "ssh-ed25519" => "ED25519",
        "ssh-rsa" => "RSA",
        "ssh-dss" => "DSA",
        t if t.starts_with("ecdsa-sha2-") => "ECDSA",
        _ => "?",
    }
}

/// Generates a key, then checks what `load` reports against `ssh-keygen -lf`, both with the
/// `.pub` beside it and (for keys whose public half is readable) without it.
fn check_against_keygen(ty: &str, bits: Option<&str>, format: Option<&str>, pass: &str) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("work");
    generate(&key, ty, bits, format, pass);

    let info = keys::load(&key).unwrap();
    let want = listed(&key).unwrap();
    let label = format!("{ty} {bits:?} {format:?} pass={}", !pass.is_empty());
    assert_eq!(info.kind, KeyKind::Private, "{label}");
    assert_eq!(
        info.fingerprint.as_deref(),
        Some(want.fingerprint.as_str()),
        "{label}"
    );
    assert_eq!(info.bits, Some(want.bits), "{label}");
    assert_eq!(
        family(info.key_type.as_deref().unwrap()),
        want.ty,
        "{label}"
    );
    assert_eq!(
        info.comment.as_deref(),
        Some(want.comment.as_str()),
        "{label}"
    );
    assert_eq!(info.encrypted, !pass.is_empty(), "{label}");
    // An encrypted legacy key hides its public half: nothing to compare the .pub with.
    let hidden = !pass.is_empty() && format.is_some();
    let expected = if hidden { None } else { Some(true) };
    assert_eq!(info.public_key_matches, expected, "{label}");
    assert_eq!(
        info.public_path,
        Some(keys::public_path_for(&key)),
        "{label}"
    );
    assert_eq!(info.mode, "0600", "{label}");

    // Without the .pub: the fingerprint must come from the private file alone.
    fs::remove_file(keys::public_path_for(&key)).unwrap();
    let alone = keys::load(&key).unwrap();
    assert_eq!(alone.public_key_matches, None, "{label}");
    match listed(&key) {
        Some(w) => {
            assert_eq!(
                alone.fingerprint.as_deref(),
                Some(w.fingerprint.as_str()),
                "{label}"
            );
            assert_eq!(alone.bits, Some(w.bits), "{label}");
            // ssh-keygen prints "no comment" when the file carries none.
            let c = alone.comment.clone().unwrap_or_else(|| "no comment".into());
            assert_eq!(c, w.comment, "{label}");
        }
        None => assert_eq!(
            alone.fingerprint, None,
            "{label}: ssh-keygen cannot tell either"
        ),
    }
}

#[test]
fn ed25519_matches_ssh_keygen() {
    check_against_keygen("ed25519", None, None, "");
}

#[test]
fn ecdsa_all_curves_match_ssh_keygen() {
    for bits in ["256", "384", "521"] {
        check_against_keygen("ecdsa", Some(bits), None, "");
    }
}

#[test]
fn rsa_2048_and_4096_match_ssh_keygen() {
    check_against_keygen("rsa", Some("2048"), None, "");
    check_against_keygen("rsa", Some("4096"), None, "");
}

#[test]
fn encrypted_openssh_key_is_read_without_passphrase() {
    check_against_keygen("ed25519", None, None, "correct horse");
    check_against_keygen("ecdsa", Some("384"), None, "correct horse");
}

#[test]
fn legacy_pem_and_pkcs8_keys_match_ssh_keygen() {
    check_against_keygen("rsa", Some("2048"), Some("PEM"), "");
    check_against_keygen("rsa", Some("2048"), Some("PKCS8"), "");
    check_against_keygen("ecdsa", Some("256"), Some("PEM"), "");
    check_against_keygen("ecdsa", Some("521"), Some("PKCS8"), "");
    check_against_keygen("dsa", None, Some("PEM"), "");
}

#[test]
fn encrypted_pem_and_pkcs8_take_the_fingerprint_from_the_pub() {
    check_against_keygen("rsa", Some("2048"), Some("PEM"), "correct horse");
    check_against_keygen("ecdsa", Some("256"), Some("PEM"), "correct horse");
    check_against_keygen("ecdsa", Some("256"), Some("PKCS8"), "correct horse");
}

#[test]
fn dsa_pkcs8_uses_the_pub_beside_it() {
    // PKCS#8 DSA stores only x, not y: the fingerprint needs the .pub (documented limit).
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_dsa");
    generate(&key, "dsa", None, Some("PKCS8"), "");
    let want = listed(&key).unwrap();
    let info = keys::load(&key).unwrap();
    assert_eq!(info.fingerprint.unwrap(), want.fingerprint);
    assert_eq!(info.key_type.as_deref(), Some("ssh-dss"));
    assert_eq!(info.bits, Some(1024));
    fs::remove_file(keys::public_path_for(&key)).unwrap();
    let alone = keys::load(&key).unwrap();
    assert_eq!(alone.kind, KeyKind::Private);
    assert_eq!(alone.fingerprint, None);
    assert_eq!(alone.key_type.as_deref(), Some("ssh-dss"));
}

#[test]
fn encrypted_pem_without_pub_still_says_rsa_and_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_rsa");
    generate(&key, "rsa", Some("2048"), Some("PEM"), "correct horse");
    fs::remove_file(keys::public_path_for(&key)).unwrap();
    let info = keys::load(&key).unwrap();
    assert!(info.encrypted);
    assert_eq!(info.key_type.as_deref(), Some("ssh-rsa"));
    assert_eq!(info.fingerprint, None);
    assert!(listed(&key).is_none(), "ssh-keygen cannot read it either");
}

#[test]
fn orphan_pub_file_matches_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    generate(&key, "ed25519", None, None, "");
    let pubp = keys::public_path_for(&key);
    let info = keys::load(&pubp).unwrap();
    let want = listed(&pubp).unwrap();
    assert_eq!(info.kind, KeyKind::Public);
    assert_eq!(info.fingerprint.unwrap(), want.fingerprint);
    assert_eq!(info.comment.unwrap(), want.comment);
    assert_eq!(info.bits, Some(256));
}

#[test]
fn mismatched_pub_is_an_error_with_both_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("id_ed25519");
    let b = dir.path().join("other");
    generate(&a, "ed25519", None, None, "");
    generate(&b, "ed25519", None, None, "");
    let a_fp = listed(&keys::public_path_for(&a)).unwrap().fingerprint;
    let b_fp = listed(&keys::public_path_for(&b)).unwrap().fingerprint;
    fs::copy(keys::public_path_for(&b), keys::public_path_for(&a)).unwrap();

    let info = keys::load(&a).unwrap();
    assert_eq!(info.public_key_matches, Some(false));
    // The private key's own fingerprint, not the stray .pub's (ssh-keygen -l would show the .pub).
    assert_eq!(info.fingerprint.as_deref(), Some(a_fp.as_str()));

    let paths = SshPaths::with_home(dir.path());
    let ctx = KeyContext {
        platform: Platform::Linux,
        agent_running: true,
        agent_fingerprints: &[],
        identity_files: &[],
    };
    let found = keys::findings(&[info], &ctx, &paths);
    let f = found
        .iter()
        .find(|f| f.id == "public-key-mismatch")
        .expect("mismatch reported");
    assert_eq!(f.severity, Severity::Error);
    let ev = f.evidence.join("\n");
    assert!(ev.contains(&a_fp) && ev.contains(&b_fp), "{ev}");
    let fix = &f.fixes[0];
    assert!(fix.destructive);
    assert!(
        fix.command.starts_with("ssh-keygen -y -f "),
        "{}",
        fix.command
    );
    assert!(fix.command.ends_with("id_ed25519.pub"), "{}", fix.command);
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn scan_finds_keys_by_content_and_survives_bad_files() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    fs::create_dir(&ssh).unwrap();
    generate(&ssh.join("id_ed25519"), "ed25519", None, None, "");
    generate(&ssh.join("work"), "ecdsa", None, None, "");
    fs::remove_file(ssh.join("work.pub")).unwrap();
    generate(&ssh.join("gone"), "ed25519", None, None, "");
    fs::remove_file(ssh.join("gone")).unwrap(); // gone.pub is now an orphan
                                                // Not keys, whatever they hold.
    let one_line = fs::read_to_string(ssh.join("id_ed25519.pub")).unwrap();
    fs::write(ssh.join("authorized_keys"), &one_line).unwrap();
    fs::write(ssh.join("known_hosts"), format!("example.org {one_line}")).unwrap();
    fs::write(ssh.join("config"), "Host x\n  User y\n").unwrap();
    fs::write(ssh.join("junk"), [0u8, 159, 146, 150, 255, 1, 2]).unwrap();
    fs::write(ssh.join("notes.txt"), "-----BEGIN nothing\nhello\n").unwrap();
    fs::create_dir(ssh.join("sockets")).unwrap();
    mkfifo(&ssh.join("fifo"));
    std::os::unix::fs::symlink(ssh.join("nowhere"), ssh.join("id_rsa")).unwrap();
    let big = fs::File::create(ssh.join("huge")).unwrap();
    big.set_len(1 << 30).unwrap(); // sparse 1 GB
    drop(big);

    let res = keys::scan(&ssh, &[]);
    let names: Vec<(String, KeyKind)> = res
        .keys
        .iter()
        .map(|k| {
            (
                k.path.file_name().unwrap().to_string_lossy().into_owned(),
                k.kind,
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("gone.pub".to_string(), KeyKind::Public),
            ("id_ed25519".to_string(), KeyKind::Private),
            ("work".to_string(), KeyKind::Private),
        ]
    );
    let id = &res.keys[1];
    assert_eq!(id.public_key_matches, Some(true));
    assert_eq!(
        id.fingerprint.as_deref(),
        Some(
            listed(&ssh.join("id_ed25519"))
                .unwrap()
                .fingerprint
                .as_str()
        )
    );
    assert_eq!(res.keys[2].key_type.as_deref(), Some("ecdsa-sha2-nistp256"));
    // The dangling id_rsa is worth a word; the rest is silently not a key.
    assert_eq!(res.errors.len(), 1, "{:?}", res.errors);
    assert!(res.errors[0].0.ends_with("id_rsa"));
    assert!(res.errors[0].1.contains("dangling symlink"));
}

#[test]
fn extra_paths_report_each_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("adir")).unwrap();
    mkfifo(&d.join("fifo"));
    fs::write(d.join("junk"), b"\x00\x01binary").unwrap();
    std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling")).unwrap();
    let big = fs::File::create(d.join("huge")).unwrap();
    big.set_len(1 << 30).unwrap();
    drop(big);
    fs::write(
        d.join("broken"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    let empty = tempfile::tempdir().unwrap();
    let extra: Vec<PathBuf> = [
        "adir", "fifo", "junk", "dangling", "huge", "broken", "missing",
    ]
    .iter()
    .map(|n| d.join(n))
    .collect();
    let res = keys::scan(empty.path(), &extra);
    assert!(res.keys.is_empty());
    let msg = |name: &str| {
        res.errors
            .iter()
            .find(|(p, _)| p.ends_with(name))
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    };
    assert!(msg("adir").contains("is a directory"));
    assert!(msg("fifo").contains("FIFO"));
    assert!(msg("junk").contains("not an SSH key"));
    assert!(msg("dangling").contains("dangling symlink"));
    assert!(msg("huge").contains("too large"));
    assert!(msg("broken").contains("looks like a private key"));
    // A missing IdentityFile is the config check's `identity-file-missing`, not repeated here.
    assert_eq!(msg("missing"), "");
    assert_eq!(res.errors.len(), 6);

    assert!(matches!(
        keys::load(&d.join("fifo")),
        Err(KeyError::NotRegular { .. })
    ));
}

#[test]
fn no_private_key_means_no_keys_error() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    fs::create_dir(&ssh).unwrap();
    let paths = SshPaths::with_home(home.path());
    let ctx = KeyContext {
        platform: Platform::Linux,
        agent_running: false,
        agent_fingerprints: &[],
        identity_files: &[],
    };
    let res = keys::scan(&ssh, &[]);
    let found = keys::findings(&res.keys, &ctx, &paths);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "no-keys");
    assert_eq!(found[0].severity, Severity::Error);
    assert_eq!(found[0].fixes[0].command, "ssh-keygen -t ed25519");
}

#[test]
fn encrypted_key_needs_an_agent() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    fs::create_dir(&ssh).unwrap();
    let key = ssh.join("id_ed25519");
    generate(&key, "ed25519", None, None, "correct horse");
    let info = keys::load(&key).unwrap();
    let fp = info.fingerprint.clone().unwrap();
    let paths = SshPaths::with_home(home.path());
    let infos = [info];

    let no_agent = KeyContext {
        platform: Platform::Linux,
        agent_running: false,
        agent_fingerprints: &[],
        identity_files: &[],
    };
    let f = keys::findings(&infos, &no_agent, &paths);
    let w = f.iter().find(|f| f.id == "encrypted-key-no-agent").unwrap();
    assert_eq!(w.severity, Severity::Warning);
    assert!(w.fixes[0]
        .command
        .starts_with("eval \"$(ssh-agent -s)\" && ssh-add "));
    assert_eq!(
        w.fixes[0].command,
        "eval \"$(ssh-agent -s)\" && ssh-add ~/.ssh/id_ed25519"
    );

    let other = vec!["SHA256:somethingelse".to_string()];
    let agent_without = KeyContext {
        platform: Platform::Linux,
        agent_running: true,
        agent_fingerprints: &other,
        identity_files: &[],
    };
    let f = keys::findings(&infos, &agent_without, &paths);
    let w = f.iter().find(|f| f.id == "encrypted-key-no-agent").unwrap();
    assert_eq!(w.fixes[0].command, "ssh-add ~/.ssh/id_ed25519");

    // On a Mac the passphrase goes into the login keychain, and the config lines that make
    // launchd's agent load it after a reboot are named.
    let mac = KeyContext {
        platform: Platform::MacOs,
        ..agent_without
    };
    let f = keys::findings(&infos, &mac, &paths);
    let w = f.iter().find(|f| f.id == "encrypted-key-no-agent").unwrap();
    assert_eq!(
        w.fixes[0].command,
        "ssh-add --apple-use-keychain ~/.ssh/id_ed25519"
    );
    assert!(
        w.explanation.contains("UseKeychain yes"),
        "{}",
        w.explanation
    );
    assert!(
        w.fixes.iter().any(|f| f.id == "use-keychain"),
        "the config lines are a fix of their own on a Mac: {:?}",
        w.fixes
    );

    let loaded = vec![fp];
    let agent_with = KeyContext {
        platform: Platform::Linux,
        agent_running: true,
        agent_fingerprints: &loaded,
        identity_files: &[],
    };
    let f = keys::findings(&infos, &agent_with, &paths);
    assert!(f.iter().all(|f| f.id != "encrypted-key-no-agent"), "{f:?}");
    // A default name: ssh offers it, so nothing else to say.
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn dsa_and_short_rsa_are_weak() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    fs::create_dir(&ssh).unwrap();
    generate(&ssh.join("id_dsa"), "dsa", None, None, "");
    generate(&ssh.join("id_rsa"), "rsa", Some("1024"), None, "");
    generate(&ssh.join("id_ed25519"), "ed25519", None, None, "");
    let res = keys::scan(&ssh, &[]);
    assert_eq!(res.keys.len(), 3);
    let rsa = res
        .keys
        .iter()
        .find(|k| k.path.ends_with("id_rsa"))
        .unwrap();
    assert_eq!(rsa.bits, Some(listed(&ssh.join("id_rsa")).unwrap().bits));
    let paths = SshPaths::with_home(home.path());
    let ctx = KeyContext {
        platform: Platform::Linux,
        agent_running: true,
        agent_fingerprints: &[],
        identity_files: &[],
    };
    let found = keys::findings(&res.keys, &ctx, &paths);
    let weak: Vec<&str> = found
        .iter()
        .filter(|f| f.id == "weak-key")
        .map(|f| f.title.as_str())
        .collect();
    assert_eq!(weak.len(), 2, "{weak:?}");
    assert!(weak
        .iter()
        .any(|t| t.contains("id_dsa") && t.contains("DSA")));
    assert!(weak
        .iter()
        .any(|t| t.contains("id_rsa") && t.contains("1024-bit")));
}

#[test]
fn key_with_another_name_is_not_offered_unless_configured() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    fs::create_dir(&ssh).unwrap();
    generate(&ssh.join("work"), "ed25519", None, None, "");
    let res = keys::scan(&ssh, &[]);
    let paths = SshPaths::with_home(home.path());
    let none: [PathBuf; 0] = [];
    let ctx = KeyContext {
        platform: Platform::Linux,
        agent_running: true,
        agent_fingerprints: &[],
        identity_files: &none,
    };
    let found = keys::findings(&res.keys, &ctx, &paths);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "key-not-offered");
    assert_eq!(found[0].severity, Severity::Info);
    assert_eq!(found[0].fixes[0].command, "ssh -i ~/.ssh/work HOST");

    let configured = [ssh.join("work")];
    let ctx = KeyContext {
        platform: Platform::Linux,
        identity_files: &configured,
        ..ctx
    };
    assert!(keys::findings(&res.keys, &ctx, &paths).is_empty());
}

#[test]
fn json_has_the_contract_fields_and_no_private_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = dir.path().join("id_rsa");
    let ed = dir.path().join("id_ed25519");
    generate(&rsa, "rsa", Some("2048"), Some("PEM"), "");
    generate(&ed, "ed25519", None, None, "");
    fs::set_permissions(&ed, fs::Permissions::from_mode(0o644)).unwrap();
    let res = keys::scan(dir.path(), &[]);
    let json = keys::keys_json(&res.keys);
    let text = serde_json::to_string(&json).unwrap();
    let arr = json["keys"].as_array().unwrap();
    assert_eq!(arr.len(), 2);
    for k in arr {
        for field in [
            "path",
            "type",
            "bits",
            "fingerprint",
            "comment",
            "encrypted",
            "public_key_matches",
            "mode",
        ] {
            assert!(k.get(field).is_some(), "missing {field} in {k}");
        }
    }
    let ed_json = arr
        .iter()
        .find(|k| k["path"].as_str().unwrap().ends_with("id_ed25519"))
        .unwrap();
    assert_eq!(ed_json["mode"], "0644");
    assert_eq!(ed_json["type"], "ssh-ed25519");
    assert_eq!(ed_json["bits"], 256);
    assert_eq!(ed_json["public_key_matches"], true);
    assert_eq!(ed_json["encrypted"], false);

    // No line of either private key's body shows up anywhere in the JSON.
    for key in [&rsa, &ed] {
        let body = fs::read_to_string(key).unwrap();
        for line in body.lines().filter(|l| !l.starts_with("-----")) {
            let probe = &line[..line.len().min(24)];
            assert!(!text.contains(probe), "private key bytes leaked: {probe}");
        }
    }
    assert!(!text.contains("PRIVATE KEY"));
}

#[test]
fn classify_tells_public_lines_from_lists_and_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    generate(&key, "ed25519", None, None, "");
    let line = fs::read_to_string(keys::public_path_for(&key)).unwrap();
    // Tabs between fields are fine for OpenSSH.
    let tabbed = line.replacen(' ', "\t", 1);
    assert!(matches!(
        keys::classify(tabbed.as_bytes()),
        Classified::PublicKey { .. }
    ));
    let two = format!("{line}{line}");
    assert!(matches!(
        keys::classify(two.as_bytes()),
        Classified::NotAKey
    ));
    let with_host = format!("host.example {line}");
    assert!(matches!(
        keys::classify(with_host.as_bytes()),
        Classified::NotAKey
    ));
    // A type that lies about the blob is not a key.
    let lying = line.replacen("ssh-ed25519", "ssh-rsa", 1);
    assert!(matches!(
        keys::classify(lying.as_bytes()),
        Classified::NotAKey
    ));
}

mod props {
    use proptest::prelude::*;
    use sshdoctor::keys;

    const PEM_RSA: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIICXQIBAAKBgQDhk6uo+e9AeYvrkJx8fo4uDFQsGtIHvTloEOAfDZqMimfpdJMu\nsHAhW6XvpL3Eo1T78aVpC9fRfnVtOY1HaKAvSE2S9xxW2VvvgBgRsGgQH+JgOnkr\n0+By19gpPU2C8XTdpXkkJSgwqt+h3BfMenEg78G250yMh1S7ncXE+VDxzQIDAQAB\nAoGARRO4fH1VA7R04YUeNo12sqk52Wu5J3+Npc2NJFVBH4p+uaHmNGT5YW20Scd0\nCVRPAPwFwD5NL6z+/pyiI9zpOB5HTTIUYgDPonQAg6PtilA7rcFEu6IyVjEZB126\nZIRuTjuvHakcPVEmJEmiemo76wuFVcQSPExSv1IHo0cC7aECQQDy5UlZPLGSGiTO\nJSLcAIfuyhkskmDlD5zKB2G8AVxLWm8QsC38afS8VJ/n2sXox+EyvAj739SiV7YT\npudI/nYJAkEA7b8wJp+Lszp0Jnz1ExKCnsvlE4IIzOKc8Jn8haZ8W81Gdrb1XYqa\n67SPo0DqZQlS1BfKCpmtsgCIuZlRz59upQJBAMHY6VvVi2WthbgbfSGVLucM1WB0\nBe5pMlkt4PsZHt5ocwEfiePLb+0poGB6gb4QXxKNbKIPdXSGiaJPboAbzHkCQQDM\n5QW5c6zxNQJfHTgVTNGXy39MVbgB45d/4CX6hSYN9BazPzCtgkPLuZxFBTA9DVD+\nCtaMVi+VBdLPqawRNIUlAkAU5plVO9TO/cD0T6NHsBI+7GRuQ7UOJht+hInAXrsO\nwE7EofUHtdRv98hL1MtKeUfnC1xv0CXHa18gdi9CSiMS\n-----END RSA PRIVATE KEY-----\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = keys::classify(&bytes);
        }

        #[test]
        fn damaged_pem_never_panics_and_intact_pem_is_read(pos in 0usize..PEM_RSA.len(), byte in any::<u8>(), cut in 0usize..PEM_RSA.len()) {
            let mut b = PEM_RSA.as_bytes().to_vec();
            if let Some(x) = b.get_mut(pos) { *x = byte; }
            let _ = keys::classify(&b);
            let _ = keys::classify(&PEM_RSA.as_bytes()[..cut]);
        }
    }
}

/// A security-key public key (no token needed to build its blob): type name, bits and
/// fingerprint as ssh-keygen reports them.
#[test]
fn security_key_pub_matches_ssh_keygen() {
    use base64::Engine as _;
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    }
    let mut blob = Vec::new();
    string(&mut blob, b"sk-ssh-ed25519@openssh.com");
    string(&mut blob, &[7u8; 32]);
    string(&mut blob, b"ssh:");
    let line = format!(
        "sk-ssh-ed25519@openssh.com {} yubikey\n",
        base64::engine::general_purpose::STANDARD.encode(&blob)
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("id_ed25519_sk.pub");
    fs::write(&p, &line).unwrap();
    let want = listed(&p).unwrap();
    let info = keys::load(&p).unwrap();
    assert_eq!(info.key_type.as_deref(), Some("sk-ssh-ed25519@openssh.com"));
    assert_eq!(want.ty, "ED25519-SK");
    assert_eq!(info.bits, Some(want.bits));
    assert_eq!(info.fingerprint.unwrap(), want.fingerprint);
    assert_eq!(info.comment.unwrap(), want.comment);
}

/// Issue 12, point 1: whether a key file is usable is decided as OpenSSH decides it. Every
/// damaged form (Windows line ends, no final newline, a blank line before BEGIN, trailing spaces,
/// cut short, text after END) of OpenSSH-format and PEM keys: `keys::load` succeeds exactly when
/// `ssh-keygen -y -P '' -f FILE` does, and the layout damage is repaired to a file it reads.
#[test]
fn damaged_key_files_are_judged_as_ssh_keygen_judges_them() {
    let dir = tempfile::tempdir().unwrap();
    let kinds: [(&str, &str, Option<&str>, Option<&str>); 4] = [
        ("ed", "ed25519", None, None),
        ("rsa", "rsa", Some("2048"), None),
        ("ecdsa", "ecdsa", None, None),
        ("pem", "rsa", Some("2048"), Some("PEM")),
    ];
    for (name, ty, bits, format) in kinds {
        let base = dir.path().join(name);
        generate(&base, ty, bits, format, "");
        let good = fs::read(&base).unwrap();
        let text = String::from_utf8(good.clone()).unwrap();
        let variants: [(&str, Vec<u8>); 8] = [
            ("as-is", good.clone()),
            ("crlf", text.replace('\n', "\r\n").into_bytes()),
            ("no-final-newline", text.trim_end().as_bytes().to_vec()),
            ("blank-before", format!("\n{text}").into_bytes()),
            ("trailing-spaces", text.replace('\n', " \n").into_bytes()),
            ("cut-short", good[..good.len() / 2].to_vec()),
            ("text-after", format!("{text}junk\n").into_bytes()),
            ("blank-after", format!("{text}\n").into_bytes()),
        ];
        for (what, bytes) in variants {
            let f = dir.path().join(format!("{name}.{what}"));
            fs::write(&f, &bytes).unwrap();
            fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
            let (ssh_reads, _) = keygen(&["-y", "-P", "", "-f", f.to_str().unwrap()]);
            let ours = keys::load(&f);
            assert_eq!(
                ours.is_ok(),
                ssh_reads,
                "{name} {what}: ssh-keygen says {ssh_reads}, sshdoctor {ours:?}"
            );
            if let Err(KeyError::NotLoadableBySsh { damage, .. }) = &ours {
                if damage.repairable() {
                    let fixed = sshdoctor::key_armour::repair(&bytes).expect("repairable");
                    let r = dir.path().join(format!("{name}.{what}.repaired"));
                    fs::write(&r, &fixed).unwrap();
                    fs::set_permissions(&r, fs::Permissions::from_mode(0o600)).unwrap();
                    let (ok, public) = keygen(&["-y", "-P", "", "-f", r.to_str().unwrap()]);
                    assert!(ok, "{name} {what}: the repaired file is still refused");
                    let (_, original) = keygen(&["-y", "-P", "", "-f", base.to_str().unwrap()]);
                    assert_eq!(
                        public, original,
                        "{name} {what}: the repair changed the key"
                    );
                }
            }
        }
    }
}

/// A PuTTY key is named as such (ssh: `Load key "FILE": error in libcrypto`), with the exact
/// PuTTYgen command that converts it.
#[test]
fn a_putty_key_is_named_with_the_puttygen_command() {
    let dir = tempfile::tempdir().unwrap();
    let ppk = dir.path().join("work.ppk");
    fs::write(
        &ppk,
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: work\nPublic-Lines: 2\n\
         AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9\nGKJl\n\
         Private-Lines: 1\nAAAAIA==\nPrivate-MAC: 00\n",
    )
    .unwrap();
    fs::set_permissions(&ppk, fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-y", "-P", "", "-f"])
        .arg(&ppk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error in libcrypto"));
    let Err(KeyError::NotLoadableBySsh { damage, .. }) = keys::load(&ppk) else {
        panic!("{:?}", keys::load(&ppk));
    };
    assert_eq!(damage, sshdoctor::key_armour::Damage::PuttyFormat);
    let paths = SshPaths::with_home(dir.path());
    let f = keys::not_loadable_finding(&ppk, damage, &paths);
    assert!(f.title.contains("PuTTY"), "{}", f.title);
    assert_eq!(f.fixes[0].id, "convert-ppk");
    assert!(
        f.fixes[0].command.starts_with("puttygen ")
            && f.fixes[0].command.contains("-O private-openssh -o"),
        "{}",
        f.fixes[0].command
    );
}

/// Issue 13: certificates beside a key are listed as `ssh-keygen -L` reads them, and the
/// client-side problems (expired, not yet valid, about to expire, made for another key) are
/// findings of `check`.
#[test]
fn certificates_beside_keys_are_listed_and_judged() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    fs::create_dir(&ssh).unwrap();
    let ca = home.path().join("ca");
    generate(&ca, "ed25519", None, None, "");
    let cases: [(&str, &str, Option<&str>); 4] = [
        ("id_ok", "-1h:+3h", None),
        ("id_expired", "-2d:-1d", Some("certificate-expired")),
        ("id_later", "+1d:+2d", Some("certificate-not-yet-valid")),
        ("id_soon", "-1h:+10m", Some("certificate-expires-soon")),
    ];
    for (name, validity, _) in cases {
        let key = ssh.join(name);
        generate(&key, "ed25519", None, None, "");
        let pubk = format!("{}.pub", key.display());
        let (ok, _) = keygen(&[
            "-q",
            "-s",
            ca.to_str().unwrap(),
            "-I",
            &format!("{name}@corp"),
            "-n",
            "alice,root",
            "-V",
            validity,
            "-z",
            "42",
            &pubk,
        ]);
        assert!(ok, "ssh-keygen -s {name}");
    }
    // A certificate for another key, beside id_other.
    let other = ssh.join("id_other");
    generate(&other, "ed25519", None, None, "");
    fs::copy(ssh.join("id_ok-cert.pub"), ssh.join("id_other-cert.pub")).unwrap();

    let info = keys::load(&ssh.join("id_ok")).unwrap();
    let c = info.certificate.expect("the certificate beside id_ok");
    let (_, listed) = keygen(&["-L", "-f", ssh.join("id_ok-cert.pub").to_str().unwrap()]);
    assert!(
        listed.contains(&format!("Key ID: \"{}\"", c.key_id)),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("Serial: {}", c.serial)),
        "{listed}"
    );
    assert!(listed.contains(&c.ca_fingerprint), "{listed}");
    assert!(listed.contains("user certificate") && c.cert_type == "user");
    assert_eq!(c.principals, ["alice", "root"]);
    assert!(c.signature_ok);

    let out = sshdoctor(home.path(), &["check", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, _, want) in cases {
        let about: Vec<&String> = ids
            .iter()
            .filter(|(_, t)| t.contains(&format!("{name}-cert.pub")))
            .map(|(i, _)| i)
            .collect();
        match want {
            Some(id) => assert_eq!(about, [id], "{name}: {ids:?}"),
            None => assert!(about.is_empty(), "{name}: {ids:?}"),
        }
    }
    assert!(
        ids.iter()
            .any(|(i, t)| i == "certificate-key-mismatch" && t.contains("id_other-cert.pub")),
        "{ids:?}"
    );
    // keys --json carries the certificate on the key's entry.
    let out = sshdoctor(home.path(), &["keys", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["path"].as_str().unwrap().ends_with("/id_ok"))
        .unwrap();
    assert_eq!(entry["certificate"]["key_id"], "id_ok@corp", "{entry}");
    assert_eq!(entry["certificate"]["serial"], 42);
}

/// Issue 13: a certificate that only a `CertificateFile` line names (not `KEY-cert.pub` beside
/// the key) is listed on the key it certifies, as `ssh-keygen -L` reads it, and `check` names it
/// when it has expired.
#[test]
fn certificate_files_named_in_the_config_go_on_their_key() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    fs::create_dir(&ssh).unwrap();
    fs::set_permissions(&ssh, fs::Permissions::from_mode(0o700)).unwrap();
    let key = ssh.join("id_ed25519");
    generate(&key, "ed25519", None, None, "");
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = ca_dir.path().join("ca");
    generate(&ca, "ed25519", None, None, "");
    let certs = home.path().join("certs");
    fs::create_dir(&certs).unwrap();
    let pub_copy = certs.join("work.pub");
    fs::copy(key.with_extension("pub"), &pub_copy).unwrap();
    let signed = Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-I", "work-id", "-n", "alice", "-V", "20200101:20200102"])
        .arg(&pub_copy)
        .output()
        .unwrap();
    assert!(signed.status.success(), "{signed:?}");
    let cert = certs.join("work-cert.pub");
    let l = Command::new("ssh-keygen")
        .arg("-L")
        .arg("-f")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&l.stdout).contains("Key ID: \"work-id\""));
    fs::write(
        ssh.join("config"),
        "Host work\n  CertificateFile ~/certs/work-cert.pub\n",
    )
    .unwrap();
    fs::set_permissions(ssh.join("config"), fs::Permissions::from_mode(0o600)).unwrap();

    let out = sshdoctor(home.path(), &["keys", "--json"], &[]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| {
            k["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/.ssh/id_ed25519"))
        })
        .unwrap_or_else(|| panic!("{v:#}"))
        .clone();
    assert_eq!(entry["certificate"]["key_id"], "work-id", "{entry:#}");
    assert_eq!(entry["certificate"]["principals"][0], "alice");
    assert!(entry["certificate"]["path"]
        .as_str()
        .is_some_and(|p| p.ends_with("certs/work-cert.pub")));

    let out = sshdoctor(home.path(), &["check", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expired = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "certificate-expired")
        .unwrap_or_else(|| panic!("{v:#}"))
        .clone();
    assert!(
        expired["title"]
            .as_str()
            .is_some_and(|t| t.contains("work-cert.pub")),
        "{expired:#}"
    );
}

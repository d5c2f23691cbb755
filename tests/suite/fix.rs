//! The fix module against OpenSSH: `known-hosts remove` vs `ssh-keygen -R` byte for byte (file,
//! `.old`, mode), the files ssh-keygen refuses, undo, refusal of a file changed since it was
//! read, symlinks, generated keys read back by `ssh-keygen`, `.pub` regeneration vs
//! `ssh-keygen -y`, permission fixes and adding a key to a real `ssh-agent`. Every run has its
//! own temp HOME; nothing touches the real ~/.ssh or agent.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::agent::Agent;
use crate::support::run::{sshdoctor, text};
use crate::support::sshd::{fingerprint, key_words, keygen};
use crate::support::{mode, set_mode};
use sshdoctor::fix::{self, plan, FixError};

/// A temp HOME with ~/.ssh (0700).
fn home() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ssh = dir.path().join(".ssh");
    std::fs::create_dir(&ssh).unwrap();
    set_mode(&ssh, 0o700);
    (dir, ssh)
}

/// Hashes `name` with ssh-keygen -H (the oracle's own hashing) and returns the hashed line.
fn hashed_line(dir: &Path, name: &str, key: &str) -> String {
    let f = dir.join(format!("hash-{}", name.replace(['[', ']', ':'], "_")));
    std::fs::write(&f, format!("{name} {key}\n")).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::read_to_string(&f).unwrap()
}

/// A known_hosts with every line form ssh-keygen -R accepts.
fn fixture(dir: &Path) -> (Vec<u8>, String, String) {
    let a = key_words(&keygen(dir, "ka", "ed25519", "").with_extension("pub"));
    let a = a.to_string();
    let b = key_words(&PathBuf::from(format!(
        "{}.pub",
        keygen(dir, "kb", "ecdsa", "").display()
    )));
    let a_pub = key_words(&PathBuf::from(format!("{}.pub", dir.join("ka").display())));
    let _ = a;
    let mut s = String::new();
    s.push_str("# my servers\n\n");
    s.push_str(&format!("example.com {a_pub}\n"));
    s.push_str(&format!("Example.COM,192.0.2.7 {b}\n"));
    s.push_str(&format!(
        "other.org,example.com,[example.com]:2222 {b} a comment\n"
    ));
    s.push_str(&format!("[example.com]:2222 {a_pub}\n"));
    s.push_str(&format!("*.example.com {a_pub}\n"));
    s.push_str(&format!("example.*,!bad.example.com {b}\n"));
    s.push_str(&format!("@cert-authority example.com {a_pub}\n"));
    s.push_str(&format!("@revoked example.com {b}\n"));
    s.push_str(&hashed_line(dir, "example.com", &a_pub));
    s.push_str(&hashed_line(dir, "[example.com]:2222", &b));
    s.push_str(&hashed_line(dir, "192.0.2.7", &a_pub));
    s.push_str(&format!("192.0.2.7\t{a_pub}   spaced\n"));
    s.push_str("   # indented comment\n");
    s.push_str(&format!("other.org {b}\n"));
    (s.into_bytes(), a_pub, b)
}

#[test]
fn known_hosts_remove_is_byte_identical_to_ssh_keygen_r() {
    let work = tempfile::tempdir().unwrap();
    let (bytes, _, _) = fixture(work.path());
    let names = [
        "example.com",
        "EXAMPLE.com",
        "[example.com]:2222",
        "192.0.2.7",
        "other.org",
        "www.example.com",
        "bad.example.com",
        "absent.net",
    ];
    for name in names {
        let (h, ssh_dir) = home();
        let mine = ssh_dir.join("known_hosts");
        let theirs_dir = tempfile::tempdir().unwrap();
        let theirs = theirs_dir.path().join("known_hosts");
        for f in [&mine, &theirs] {
            std::fs::write(f, &bytes).unwrap();
            set_mode(f, 0o640);
        }
        let k = Command::new("ssh-keygen")
            .args(["-R", name, "-f"])
            .arg(&theirs)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(k.status.success(), "{name}: {k:?}");
        let out = sshdoctor(
            h.path(),
            &[
                "known-hosts",
                "remove",
                name,
                "-f",
                mine.to_str().unwrap(),
                "--yes",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        assert_eq!(
            text(&std::fs::read(&mine).unwrap()),
            text(&std::fs::read(&theirs).unwrap()),
            "file after removing {name}"
        );
        let (mo, to) = (plan::old_path(&mine), plan::old_path(&theirs));
        assert_eq!(
            std::fs::read(&mo).ok(),
            std::fs::read(&to).ok(),
            ".old after removing {name}"
        );
        assert_eq!(mode(&mine), mode(&theirs), "mode after removing {name}");
        if name == "absent.net" || name == "www.example.com" && !to.exists() {
            assert!(
                text(&out.stderr).contains("not found"),
                "{name}: {}",
                text(&out.stderr)
            );
            assert!(!mo.exists());
        }
    }
}

#[test]
fn files_ssh_keygen_refuses_are_edited_exactly() {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let cases: Vec<(String, String)> = vec![
        // CRLF line ends: every other line keeps its CR.
        (
            format!("# c\r\nh1 {key}\r\nh2 {key}\r\n\r\n"),
            format!("# c\r\nh2 {key}\r\n\r\n"),
        ),
        // A malformed line and junk stay untouched.
        (
            format!("garbage-without-key\nh1 {key}\n\u{1}\u{2} junk\nh1 1024 35 12345\n"),
            "garbage-without-key\n\u{1}\u{2} junk\nh1 1024 35 12345\n".to_string(),
        ),
        // No final newline: nothing is added (ssh-keygen would end the last line with "\n");
        // the line before a removed last line keeps its own ending.
        (format!("h2 {key}\nh1 {key}"), format!("h2 {key}\n")),
        (format!("h1 {key}\nh2 {key}"), format!("h2 {key}")),
        // Issue 17, point 4: a CRLF file whose last line has no newline never gains a lone LF.
        (
            format!("h0 {key}\r\nh1 {key}\r\nh2 {key}"),
            format!("h0 {key}\r\nh2 {key}"),
        ),
        (
            format!("h0 {key}\r\nh2 {key}\r\nh1 {key}"),
            format!("h0 {key}\r\nh2 {key}\r\n"),
        ),
    ];
    for (before, expected) in cases {
        let (h, ssh_dir) = home();
        let f = ssh_dir.join("known_hosts");
        std::fs::write(&f, &before).unwrap();
        // The oracle refuses (or, for the last cases, agrees): check that it refuses CRLF/junk.
        let out = sshdoctor(h.path(), &["known-hosts", "remove", "h1", "--yes"], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            text(&std::fs::read(&f).unwrap()),
            expected,
            "from {before:?}"
        );
        assert_eq!(
            std::fs::read(plan::old_path(&f)).unwrap(),
            before.as_bytes()
        );
    }
    // Measured: ssh-keygen -R accepts CRLF key lines (and keeps their CR, as we do) but calls a
    // blank CRLF line ("\r" alone) invalid and then refuses the whole file.
    let d = tempfile::tempdir().unwrap();
    let ok = format!("h1 {key}\r\nh2 {key}\r\n");
    let f = d.path().join("kh");
    std::fs::write(&f, &ok).unwrap();
    let k = Command::new("ssh-keygen")
        .args(["-R", "h1", "-f"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(k.status.success());
    let (h, ssh_dir) = home();
    let mine = ssh_dir.join("known_hosts");
    std::fs::write(&mine, &ok).unwrap();
    sshdoctor(h.path(), &["known-hosts", "remove", "h1", "--yes"], &[]);
    assert_eq!(std::fs::read(&mine).unwrap(), std::fs::read(&f).unwrap());
    std::fs::write(&f, format!("# c\r\nh1 {key}\r\n\r\n")).unwrap();
    let k = Command::new("ssh-keygen")
        .args(["-R", "h1", "-f"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!k.status.success());
    assert!(
        text(&k.stderr).contains("not a valid known_hosts file"),
        "{}",
        text(&k.stderr)
    );
}

#[test]
fn remove_asks_without_yes_and_refuses_with_no_terminal() {
    let (h, ssh_dir) = home();
    let f = ssh_dir.join("known_hosts");
    let before =
        "h1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
    std::fs::write(&f, before).unwrap();
    let out = sshdoctor(h.path(), &["known-hosts", "remove", "h1"], &[]);
    assert_eq!(out.status.code(), Some(2));
    // The line that would go is shown with its number.
    assert!(
        text(&out.stdout).contains("known_hosts:1: h1 ssh-ed25519"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), before);
    assert!(!plan::old_path(&f).exists());
}

#[test]
fn all_aliases_also_removes_the_stale_ip_entry_that_ssh_keygen_r_leaves() {
    let work = tempfile::tempdir().unwrap();
    let a = key_words(&PathBuf::from(format!(
        "{}.pub",
        keygen(work.path(), "ka", "ed25519", "").display()
    )));
    let b = key_words(&PathBuf::from(format!(
        "{}.pub",
        keygen(work.path(), "kb", "ed25519", "").display()
    )));
    let (h, ssh_dir) = home();
    let f = ssh_dir.join("known_hosts");
    let before =
        format!("server.test {a}\n198.51.100.4 {a}\n198.51.100.9 {b}\n[server.test]:2222 {b}\n");
    std::fs::write(&f, &before).unwrap();
    // ssh-keygen -R server.test leaves the IP line: the classic second failure.
    let k = tempfile::tempdir().unwrap();
    let kf = k.path().join("kh");
    std::fs::write(&kf, &before).unwrap();
    Command::new("ssh-keygen")
        .args(["-R", "server.test", "-f"])
        .arg(&kf)
        .output()
        .unwrap();
    assert!(std::fs::read_to_string(&kf)
        .unwrap()
        .contains("198.51.100.4"));
    let out = sshdoctor(
        h.path(),
        &[
            "known-hosts",
            "remove",
            "server.test",
            "--all-aliases",
            "--yes",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(":2: 198.51.100.4"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        format!("198.51.100.9 {b}\n[server.test]:2222 {b}\n")
    );
}

#[test]
fn undo_restores_bytes_exactly_even_after_other_lines_changed() {
    let (h, ssh_dir) = home();
    let f = ssh_dir.join("known_hosts");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let before = format!("# c\r\nh1 {key}\r\nh2 {key}\nh1,h3 {key} x");
    std::fs::write(&f, &before).unwrap();
    let out = sshdoctor(h.path(), &["known-hosts", "remove", "h1", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let out = sshdoctor(h.path(), &["undo", "--list"], &[]);
    assert!(
        text(&out.stdout).contains("known-hosts-remove-host"),
        "{}",
        text(&out.stdout)
    );
    let out = sshdoctor(h.path(), &["undo", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&f).unwrap(), before.as_bytes());
    // The journal is private.
    let journal = h.path().join(".local/state/sshdoctor/journal");
    assert_eq!(mode(&journal), 0o600);
    // Nothing left to undo.
    let out = sshdoctor(h.path(), &["undo", "--yes"], &[]);
    assert!(text(&out.stdout).contains("No fixes to undo"));

    // Remove again, then ssh appends a new host; undo puts the removed lines back in place.
    sshdoctor(h.path(), &["known-hosts", "remove", "h1", "--yes"], &[]);
    let mut now = std::fs::read(&f).unwrap();
    now.extend_from_slice(format!("new {key}\n").as_bytes());
    std::fs::write(&f, &now).unwrap();
    let out = sshdoctor(h.path(), &["undo", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&std::fs::read(&f).unwrap()),
        format!("# c\r\nh1 {key}\r\nh2 {key}\nh1,h3 {key} x\nnew {key}\n")
    );
}

#[test]
fn removing_from_a_big_known_hosts_journals_the_removed_lines_not_the_file() {
    let (h, ssh_dir) = home();
    let f = ssh_dir.join("known_hosts");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let mut before = String::new();
    for i in 0..20_000 {
        before.push_str(&format!(
            "host{i}.example.com,10.0.{}.{} {key}\n",
            i / 256,
            i % 256
        ));
    }
    std::fs::write(&f, &before).unwrap();
    set_mode(&f, 0o644);
    let out = sshdoctor(
        h.path(),
        &["known-hosts", "remove", "host777.example.com", "--yes"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(plan::old_path(&f)).unwrap(),
        before.as_bytes()
    );
    assert_eq!(mode(&plan::old_path(&f)), 0o644);
    assert_eq!(mode(&f), 0o644);
    assert_eq!(
        std::fs::read(&f).unwrap().len(),
        before.len() - format!("host777.example.com,10.0.3.9 {key}\n").len()
    );
    // A 1.5 MB file, a journal of one line: the removed line and a digest, no copies.
    let journal = h.path().join(".local/state/sshdoctor/journal");
    let size = std::fs::metadata(&journal).unwrap().len();
    assert!(size < 2_000, "journal is {size} bytes for one removed line");
    let out = sshdoctor(h.path(), &["undo", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&f).unwrap(), before.as_bytes());
}

#[test]
fn a_file_changed_between_read_and_write_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("known_hosts");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    std::fs::write(&f, format!("h1 {key}\n")).unwrap();
    let bytes = std::fs::read(&f).unwrap();
    let p = plan::remove_host_plan(
        sshdoctor::fix_id::FixId::RemoveHostKey,
        &f,
        bytes,
        &["h1".to_string()],
    );
    // ssh appends a line after we planned.
    let changed = format!("h1 {key}\nh9 {key}\n");
    std::fs::write(&f, &changed).unwrap();
    let err = fix::apply(&p, &d.path().join("journal")).unwrap_err();
    assert!(matches!(err, FixError::Changed { .. }), "{err}");
    assert!(err.to_string().contains("changed on disk"), "{err}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), changed);
    assert!(!plan::old_path(&f).exists());
    // Same length, other bytes (another host edited in place): refused as well.
    let same_len = format!("h2 {key}\nh9 {key}\n");
    std::fs::write(&f, &same_len).unwrap();
    let p = plan::remove_host_plan(
        sshdoctor::fix_id::FixId::RemoveHostKey,
        &f,
        changed.into_bytes(),
        &["h1".into()],
    );
    let err = fix::apply(&p, &d.path().join("journal")).unwrap_err();
    assert!(matches!(err, FixError::Changed { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), same_len);
    assert!(!plan::old_path(&f).exists());
}

#[test]
fn a_symlinked_known_hosts_is_edited_at_its_target_and_stays_a_link() {
    let (h, ssh_dir) = home();
    let real_dir = tempfile::tempdir().unwrap();
    let real = real_dir.path().join("known_hosts");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    std::fs::write(&real, format!("h1 {key}\nh2 {key}\n")).unwrap();
    let link = ssh_dir.join("known_hosts");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = sshdoctor(h.path(), &["known-hosts", "remove", "h1", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        format!("h2 {key}\n")
    );
}

#[test]
fn a_directory_where_the_backup_cannot_be_written_leaves_the_file_untouched() {
    let (h, ssh_dir) = home();
    let f = ssh_dir.join("known_hosts");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let before = format!("h1 {key}\n");
    std::fs::write(&f, &before).unwrap();
    // known_hosts.old is a directory: the backup cannot be renamed over it.
    std::fs::create_dir(plan::old_path(&f)).unwrap();
    std::fs::write(plan::old_path(&f).join("x"), "x").unwrap();
    let out = sshdoctor(h.path(), &["known-hosts", "remove", "h1", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("known_hosts.old"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(&ssh_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".sshdoctor-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn generated_keys_are_read_by_ssh_keygen_with_and_without_passphrase() {
    let (h, ssh_dir) = home();
    let k = ssh_dir.join("id_ed25519");
    let out = sshdoctor(
        h.path(),
        &["fix", "generate-key", "--yes", "--no-passphrase"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(mode(&k), 0o600);
    assert_eq!(mode(&PathBuf::from(format!("{}.pub", k.display()))), 0o644);
    let fp = fingerprint(&k);
    assert!(fp.starts_with("SHA256:"), "{fp}");
    assert_eq!(
        fp,
        fingerprint(&PathBuf::from(format!("{}.pub", k.display())))
    );
    // The plan shown named the same fingerprint ssh-keygen computes.
    assert!(text(&out.stdout).contains(&fp), "{}", text(&out.stdout));
    // ssh-keygen -y derives the same .pub (it would fail on a broken private key).
    let y = Command::new("ssh-keygen")
        .args(["-y", "-f"])
        .arg(&k)
        .output()
        .unwrap();
    assert!(y.status.success());
    assert_eq!(
        key_words(&PathBuf::from(format!("{}.pub", k.display()))),
        text(&y.stdout)
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    );

    // With a passphrase: the right one opens it, a wrong one does not.
    let k2 = ssh_dir.join("with_pass");
    let out = sshdoctor(
        h.path(),
        &["fix", "generate-key", k2.to_str().unwrap(), "--yes"],
        &[("SSHDOCTOR_PASSPHRASE", "correct horse")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("correct horse"));
    let ok = Command::new("ssh-keygen")
        .args(["-y", "-P", "correct horse", "-f"])
        .arg(&k2)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let bad = Command::new("ssh-keygen")
        .args(["-y", "-P", "wrong", "-f"])
        .arg(&k2)
        .output()
        .unwrap();
    assert!(!bad.status.success());

    // An existing key is never overwritten.
    let before = std::fs::read(&k).unwrap();
    let out = sshdoctor(
        h.path(),
        &["fix", "generate-key", "--yes", "--no-passphrase"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&k).unwrap(), before);

    // The journal never holds private key material; undo deletes both files of the last key.
    let journal = std::fs::read_to_string(h.path().join(".local/state/sshdoctor/journal")).unwrap();
    assert!(!journal.contains("PRIVATE KEY"));
    use base64::Engine;
    let pem = std::fs::read_to_string(&k2).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let inner = base64::engine::general_purpose::STANDARD.encode(body.as_bytes());
    assert!(!journal.contains(&body[..40]) && !journal.contains(&inner[..40]));
    let out = sshdoctor(h.path(), &["undo", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!k2.exists() && !PathBuf::from(format!("{}.pub", k2.display())).exists());
    assert!(k.exists());
}

#[test]
fn an_rsa_key_on_request_is_4096_bits() {
    let (h, ssh_dir) = home();
    let out = sshdoctor(
        h.path(),
        &[
            "fix",
            "generate-key",
            "--type",
            "rsa",
            "--yes",
            "--no-passphrase",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let l = Command::new("ssh-keygen")
        .args(["-lf"])
        .arg(ssh_dir.join("id_rsa"))
        .output()
        .unwrap();
    let line = text(&l.stdout);
    assert!(
        line.starts_with("4096 SHA256:") && line.contains("(RSA)"),
        "{line}"
    );
}

#[test]
fn regenerated_pub_equals_ssh_keygen_y() {
    let (h, ssh_dir) = home();
    for (name, ty, extra) in [
        ("id_ed25519", "ed25519", None),
        ("id_rsa", "rsa", Some("PEM")),
    ] {
        let k = ssh_dir.join(name);
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-t", ty, "-N", "", "-C", "me@box", "-f"])
            .arg(&k);
        if let Some(m) = extra {
            cmd.args(["-m", m, "-b", "2048"]);
        }
        assert!(cmd.output().unwrap().status.success());
        let pubp = PathBuf::from(format!("{}.pub", k.display()));
        std::fs::remove_file(&pubp).unwrap();
        let y = Command::new("ssh-keygen")
            .args(["-y", "-f"])
            .arg(&k)
            .output()
            .unwrap();
        let out = sshdoctor(
            h.path(),
            &["fix", "regenerate-public-key", k.to_str().unwrap(), "--yes"],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let ours = std::fs::read_to_string(&pubp).unwrap();
        if extra.is_none() {
            // OpenSSH-format keys carry their comment: the whole line matches.
            assert_eq!(ours, text(&y.stdout), "{name}");
        } else {
            // A PEM key stores no comment; ssh-keygen -y prints none either.
            assert_eq!(ours.trim_end(), text(&y.stdout).trim_end(), "{name}");
        }
    }
}

#[test]
fn permission_fixes_apply_to_every_offender_and_undo() {
    let (h, ssh_dir) = home();
    let k1 = keygen(&ssh_dir, "id_ed25519", "ed25519", "");
    let k2 = keygen(&ssh_dir, "work_key", "ed25519", "");
    set_mode(&k1, 0o644);
    set_mode(&k2, 0o664);
    // ssh ignores such keys: "UNPROTECTED PRIVATE KEY FILE!" (the oracle).
    let y = Command::new("ssh-keygen")
        .args(["-y", "-f"])
        .arg(&k1)
        .output()
        .unwrap();
    assert!(text(&y.stderr).contains("UNPROTECTED"));
    let out = sshdoctor(h.path(), &["fix", "chmod-private-key", "--dry-run"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(mode(&k1), 0o644, "dry run wrote nothing");
    let out = sshdoctor(h.path(), &["fix", "chmod-private-key", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("id_ed25519") && text(&out.stdout).contains("work_key"));
    assert_eq!((mode(&k1), mode(&k2)), (0o600, 0o600));
    let y = Command::new("ssh-keygen")
        .args(["-y", "-f"])
        .arg(&k1)
        .output()
        .unwrap();
    assert!(
        y.status.success(),
        "ssh now accepts the key: {}",
        text(&y.stderr)
    );

    set_mode(&ssh_dir, 0o777);
    let cfg = ssh_dir.join("config");
    std::fs::write(&cfg, "Host x\n").unwrap();
    set_mode(&cfg, 0o666);
    set_mode(h.path(), 0o777);
    for id in ["chmod-ssh-dir", "chmod-config", "chmod-home-dir"] {
        let out = sshdoctor(h.path(), &["fix", id, "--yes"], &[]);
        assert_eq!(out.status.code(), Some(0), "{id}: {}", text(&out.stderr));
    }
    assert_eq!(mode(&ssh_dir), 0o700);
    assert_eq!(mode(&cfg), 0o600);
    assert_eq!(mode(h.path()), 0o755);
    // ssh accepts the config now (it refuses a 0666 one).
    let g = Command::new("ssh")
        .args(["-G", "x"])
        .env("HOME", h.path())
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", text(&g.stderr));
    // Undo the home fix: the mode comes back.
    let out = sshdoctor(h.path(), &["undo", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(mode(h.path()), 0o777);
    set_mode(h.path(), 0o755);
    // chown is explained, not run.
    let out = sshdoctor(h.path(), &["fix", "chown"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("sudo chown"));
}

#[test]
fn add_key_puts_the_key_in_a_real_agent() {
    let (h, ssh_dir) = home();
    let k = keygen(&ssh_dir, "id_ed25519", "ed25519", "pass phrase");
    let agent = Agent::start_in(h.path());
    let s = agent.sock.to_str().unwrap();
    let out = sshdoctor(
        h.path(),
        &["fix", "add-key", k.to_str().unwrap(), "--yes"],
        &[
            ("SSH_AUTH_SOCK", s),
            ("SSHDOCTOR_PASSPHRASE", "pass phrase"),
        ],
    );
    let listed = agent.ssh_add(&[Path::new("-l")]);
    drop(agent);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("pass phrase"));
    let fp = fingerprint(&PathBuf::from(format!("{}.pub", k.display())));
    assert!(
        text(&listed.stdout).contains(&fp),
        "{}",
        text(&listed.stdout)
    );

    // No agent: instructions, nothing else.
    let out = sshdoctor(
        h.path(),
        &["fix", "add-key", k.to_str().unwrap(), "--yes"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("ssh-agent -s"));
}

#[test]
fn crlf_and_malformed_fixes_produce_files_ssh_keygen_accepts() {
    let (h, ssh_dir) = home();
    let f = ssh_dir.join("known_hosts");
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    std::fs::write(&f, format!("h1 {key}\r\nbroken\r\nh2 {key}\r\n")).unwrap();
    for id in ["known-hosts-strip-crlf", "known-hosts-delete-malformed"] {
        let out = sshdoctor(h.path(), &["fix", id, "--yes"], &[]);
        assert_eq!(out.status.code(), Some(0), "{id}: {}", text(&out.stderr));
    }
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        format!("h1 {key}\nh2 {key}\n")
    );
    let k = Command::new("ssh-keygen")
        .args(["-R", "h1", "-f"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        k.status.success(),
        "ssh-keygen -R works again: {}",
        text(&k.stderr)
    );
}

#[test]
fn unknown_fix_ids_and_json_dry_runs() {
    let (h, _) = home();
    let out = sshdoctor(h.path(), &["fix", "no-such-fix"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("chmod-private-key"));
    let out = sshdoctor(
        h.path(),
        &["fix", "generate-key", "--dry-run", "--json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["plans"][0]["changes"][0]["mode"], "0600");
    assert!(!text(&out.stdout).contains("PRIVATE KEY"));
    assert!(!h.path().join(".ssh/id_ed25519").exists());
}

/// A known_hosts without a final newline: ssh would append the next host key onto its last
/// line (measured with OpenSSH 9.2), so check warns and the fix ends the last line with the
/// file's own line end (CRLF files get CRLF); undo restores the bytes.
#[test]
fn a_known_hosts_without_final_newline_is_flagged_and_fixed_in_its_own_line_ends() {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    for (before, after) in [
        (format!("a {key}\nb {key}"), format!("a {key}\nb {key}\n")),
        (
            format!("a {key}\r\nb {key}"),
            format!("a {key}\r\nb {key}\r\n"),
        ),
    ] {
        let (h, ssh_dir) = home();
        let f = ssh_dir.join("known_hosts");
        std::fs::write(&f, &before).unwrap();
        let out = sshdoctor(h.path(), &["check", "--json"], &[]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let found = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == "known-hosts-no-final-newline")
            .unwrap_or_else(|| panic!("{v}"));
        assert_eq!(found["fixes"][0]["id"], "known-hosts-add-final-newline");
        let out = sshdoctor(
            h.path(),
            &[
                "fix",
                "known-hosts-add-final-newline",
                f.to_str().unwrap(),
                "--yes",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&std::fs::read(&f).unwrap()), after);
        let out = sshdoctor(h.path(), &["check", "--json"], &[]);
        assert!(!text(&out.stdout).contains("known-hosts-no-final-newline"));
        let out = sshdoctor(h.path(), &["undo", "--yes"], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&std::fs::read(&f).unwrap()), before);
    }
}

//! Fixes against a real OpenSSH sshd on 127.0.0.1: `trust-host-key` produces a known_hosts with
//! which `ssh -o StrictHostKeyChecking=yes` logs in (and the same line `ssh` itself appends),
//! a changed key needs an explicit extra confirmation, and `copy-id` with a password makes key
//! login work for a real local account.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::run::{ids_of, sshdoctor, text, Sshdoctor};
use crate::support::sshd::{fingerprint, key_words, keygen, Ssh, Sshd};
use crate::support::user::TestUser;
use crate::support::{mode, set_mode};

fn home() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join(".ssh")).unwrap();
    set_mode(&d.path().join(".ssh"), 0o700);
    d
}

/// A throwaway sshd on 127.0.0.1 and a client key (in `dir`) it accepts.
fn sshd_with_client_key(dir: &std::path::Path) -> (Sshd, PathBuf) {
    let client_key = keygen(dir, "client", "ed25519", "");
    let sshd = Sshd::start();
    sshd.authorize(&pubpath(&client_key));
    (sshd, client_key)
}

/// `sshdoctor probe TARGET --json -F /dev/null --known-hosts KH EXTRA...` with this HOME: the
/// exit code and the report.
fn probe_json(
    home: &Path,
    target: &str,
    kh: &Path,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value) {
    probe_cli(home, target, kh).args(extra).json()
}

/// `sshdoctor probe TARGET --json -F /dev/null --known-hosts KH` with this HOME.
fn probe_cli(home: &Path, target: &str, kh: &Path) -> Sshdoctor {
    Sshdoctor::new(home)
        .args([
            "probe",
            target,
            "--json",
            "-F",
            "/dev/null",
            "--known-hosts",
        ])
        .arg(kh)
}

/// The real client with everything explicit: `ssh -F /dev/null -o UserKnownHostsFile=KH
/// -o StrictHostKeyChecking=... -o BatchMode=yes -i KEY -p PORT user@127.0.0.1 true`.
fn ssh(home: &Path, port: u16, user: &str, key: &Path, known_hosts: &Path, strict: &str) -> Output {
    Ssh::new(home, port, known_hosts)
        .user(user)
        .strict(strict)
        .connect_timeout(5)
        .key(key)
        .args(&["-o", "PasswordAuthentication=no"])
        .run()
}

fn pubpath(k: &std::path::Path) -> PathBuf {
    PathBuf::from(format!("{}.pub", k.display()))
}

#[test]
fn trusting_the_host_key_lets_strict_ssh_log_in() {
    let h = home();
    let (sshd, client_key) = sshd_with_client_key(h.path());
    let kh = h.path().join(".ssh/known_hosts");
    let target = format!("127.0.0.1:{}", sshd.port);

    // Before: strict ssh refuses the unknown host.
    let before = ssh(h.path(), sshd.port, "root", &client_key, &kh, "yes");
    assert!(!before.status.success());
    assert!(text(&before.stderr).contains("Host key verification failed"));

    // Without --yes and no terminal: the fingerprint is shown, nothing is written.
    let out = sshdoctor(h.path(), &["fix", "trust-host-key", &target], &[]);
    assert_eq!(out.status.code(), Some(2));
    let fp = fingerprint(&sshd.host_key_pub());
    assert!(text(&out.stdout).contains(&fp), "{}", text(&out.stdout));
    assert!(!kh.exists());

    let out = sshdoctor(h.path(), &["fix", "trust-host-key", &target, "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = ssh(h.path(), sshd.port, "root", &client_key, &kh, "yes");
    assert!(
        after.status.success(),
        "{}\n{}",
        text(&after.stderr),
        sshd.log()
    );
    // ssh -F /dev/null hashes nothing, but the effective config may: either way ssh-keygen -F
    // finds the entry under the name ssh looks up.
    let f = std::process::Command::new("ssh-keygen")
        .args(["-F", &format!("[127.0.0.1]:{}", sshd.port), "-f"])
        .arg(&kh)
        .output()
        .unwrap();
    assert!(f.status.success());
    // Trusting again is a no-op.
    let bytes = std::fs::read(&kh).unwrap();
    let out = sshdoctor(h.path(), &["fix", "trust-host-key", &target, "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("already trusted"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(std::fs::read(&kh).unwrap(), bytes);
}

#[test]
fn the_appended_line_is_the_one_ssh_itself_appends() {
    let h = home();
    let (sshd, client_key) = sshd_with_client_key(h.path());
    let run = |start: &str, name: &str| {
        let theirs = h.path().join(format!("{name}_ssh"));
        let ours = h.path().join(format!("{name}_ours"));
        std::fs::write(&theirs, start).unwrap();
        std::fs::write(&ours, start).unwrap();
        let out = ssh(
            h.path(),
            sshd.port,
            "root",
            &client_key,
            &theirs,
            "accept-new",
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let target = format!("127.0.0.1:{}", sshd.port);
        let args = [
            "fix",
            "trust-host-key",
            &target,
            "-f",
            ours.to_str().unwrap(),
            "--hash",
            "no",
            "--yes",
        ];
        let out = sshdoctor(h.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        (
            text(&std::fs::read(&ours).unwrap()),
            text(&std::fs::read(&theirs).unwrap()),
            ours,
            theirs,
        )
    };
    // A file ending in a newline: byte for byte what ssh appends.
    let (ours, theirs, _, _) = run("# mine\n", "nl");
    assert_eq!(ours, theirs);
    // Measured: ssh 9.2 appends without checking for a final newline, gluing the new entry onto
    // the last line (here a comment, so the key is lost). We add the newline first.
    let (ours, theirs, ours_path, theirs_path) = run("# no final newline", "nonl");
    assert!(
        theirs.starts_with("# no final newline[127.0.0.1]"),
        "{theirs:?}"
    );
    assert_eq!(ours, theirs.replacen("newline[", "newline\n[", 1));
    let name = format!("[127.0.0.1]:{}", sshd.port);
    let found = |f: &std::path::Path| {
        std::process::Command::new("ssh-keygen")
            .args(["-F", &name, "-f"])
            .arg(f)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(found(&ours_path) && !found(&theirs_path));
}

#[test]
fn a_changed_host_key_needs_more_than_yes() {
    let h = home();
    let (sshd, client_key) = sshd_with_client_key(h.path());
    let old = keygen(h.path(), "old_host", "ed25519", "");
    let kh = h.path().join(".ssh/known_hosts");
    let stale = format!(
        "# keep\n[127.0.0.1]:{} {}\nother {}\n",
        sshd.port,
        key_words(&pubpath(&old)),
        key_words(&pubpath(&old))
    );
    std::fs::write(&kh, &stale).unwrap();
    let refused = ssh(h.path(), sshd.port, "root", &client_key, &kh, "yes");
    assert!(text(&refused.stderr).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"));

    let target = format!("127.0.0.1:{}", sshd.port);
    let out = sshdoctor(h.path(), &["fix", "trust-host-key", &target, "--yes"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("man-in-the-middle"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains(&fingerprint(&pubpath(&old))));
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), stale);

    let out = sshdoctor(
        h.path(),
        &[
            "fix",
            "trust-host-key",
            &target,
            "--yes",
            "--accept-changed-host-key",
            "--hash",
            "no",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let now = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(
        now,
        format!(
            "# keep\nother {}\n[127.0.0.1]:{} {}\n",
            key_words(&pubpath(&old)),
            sshd.port,
            key_words(&sshd.host_key_pub())
        )
    );
    let ok = ssh(h.path(), sshd.port, "root", &client_key, &kh, "yes");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    // And undo brings the stale line back exactly.
    let out = sshdoctor(h.path(), &["undo", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), stale);
}

#[test]
fn copy_id_with_a_password_makes_key_login_work() {
    let user = TestUser::with_password("s3cret-Pw!");
    let h = home();
    let key = keygen(&h.path().join(".ssh"), "id_ed25519", "ed25519", "");
    let sshd = Sshd::builder()
        .password_auth()
        .authorized_keys_file(".ssh/authorized_keys")
        .start();
    let kh = h.path().join(".ssh/known_hosts");
    std::fs::write(&kh, sshd.known_hosts_line()).unwrap();
    let target = format!("{}@127.0.0.1:{}", user.name, sshd.port);

    // Key login fails before.
    assert!(!ssh(h.path(), sshd.port, &user.name, &key, &kh, "yes")
        .status
        .success());

    // A wrong password: refused, nothing installed.
    let out = sshdoctor(
        h.path(),
        &["copy-id", &target],
        &[("SSHDOCTOR_PASSWORD", "wrong")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!(
            "{}@127.0.0.1: the server refused the password",
            user.name
        )),
        "{}",
        text(&out.stderr)
    );
    assert!(!user.home.join(".ssh/authorized_keys").exists());

    let out = sshdoctor(
        h.path(),
        &["copy-id", &target],
        &[("SSHDOCTOR_PASSWORD", "s3cret-Pw!")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stderr),
        sshd.log()
    );
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(
        all.contains("Key added") && all.contains("Verified"),
        "{all}"
    );
    assert!(
        !all.contains("s3cret"),
        "the password never reaches the output"
    );
    assert_eq!(mode(&user.home.join(".ssh")), 0o700);
    assert_eq!(mode(&user.home.join(".ssh/authorized_keys")), 0o600);
    let ok = ssh(h.path(), sshd.port, &user.name, &key, &kh, "yes");
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    // Again: the key is not duplicated.
    let out = sshdoctor(
        h.path(),
        &["copy-id", &target],
        &[("SSHDOCTOR_PASSWORD", "s3cret-Pw!")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("already installed"));
    let ak = std::fs::read_to_string(user.home.join(".ssh/authorized_keys")).unwrap();
    assert_eq!(ak.matches(&key_words(&pubpath(&key))).count(), 1, "{ak}");

    // A config alias resolves as ssh resolves it (HostName, Port, User): same server, same key.
    std::fs::write(
        h.path().join(".ssh/config"),
        format!(
            "Host lab\n  HostName 127.0.0.1\n  Port {}\n  User {}\n",
            sshd.port, user.name
        ),
    )
    .unwrap();
    let out = sshdoctor(
        h.path(),
        &["copy-id", "lab"],
        &[("SSHDOCTOR_PASSWORD", "s3cret-Pw!")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("already installed"),
        "{}",
        text(&out.stdout)
    );

    // An unknown host key: said before any password is asked for (no SSHDOCTOR_PASSWORD and
    // no terminal: the old order failed with "no terminal to ask for the password").
    std::fs::write(&kh, "").unwrap();
    let out = sshdoctor(h.path(), &["copy-id", &target], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no password was sent"),
        "{}",
        text(&out.stderr)
    );
    let out = sshdoctor(
        h.path(),
        &["copy-id", &target],
        &[("SSHDOCTOR_PASSWORD", "s3cret-Pw!")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no password was sent"),
        "{}",
        text(&out.stderr)
    );
}

/// `ssh -F CONFIG lab true`, the way the user logs in: everything comes from the config.
fn ssh_alias(config: &std::path::Path, alias: &str) -> std::process::Output {
    std::process::Command::new("ssh")
        .arg("-F")
        .arg(config)
        .args([alias, "true"])
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh")
}

#[test]
fn host_key_fixes_follow_a_config_alias_to_the_name_and_file_ssh_uses() {
    let h = home();
    let (sshd, client_key) = sshd_with_client_key(h.path());
    // The user types `ssh lab`; the key lives in lab_hosts as [127.0.0.1]:PORT.
    let lab_hosts = h.path().join(".ssh/lab_hosts");
    let config = h.path().join(".ssh/config");
    std::fs::write(
        &config,
        format!(
            "Host lab\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  \
             StrictHostKeyChecking yes\n  BatchMode yes\n  HashKnownHosts no\n  ConnectTimeout 5\n",
            sshd.port,
            client_key.display(),
            lab_hosts.display()
        ),
    )
    .unwrap();
    set_mode(&config, 0o600);
    assert!(!ssh_alias(&config, "lab").status.success());

    let out = sshdoctor(h.path(), &["fix", "trust-host-key", "lab", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let name = format!("[127.0.0.1]:{}", sshd.port);
    assert!(text(&std::fs::read(&lab_hosts).unwrap()).starts_with(&format!("{name} ")));
    assert!(!h.path().join(".ssh/known_hosts").exists());
    let login = ssh_alias(&config, "lab");
    assert!(login.status.success(), "{}", text(&login.stderr));

    // The server's key is rotated: `remove-host-key lab` finds the [127.0.0.1]:PORT entry in
    // lab_hosts (ssh-keygen -R lab would look for a line named "lab" in ~/.ssh/known_hosts).
    std::fs::write(
        &lab_hosts,
        format!(
            "other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n{}",
            text(&std::fs::read(&lab_hosts).unwrap())
        ),
    )
    .unwrap();
    let before = std::fs::read(&lab_hosts).unwrap();
    let out = sshdoctor(h.path(), &["fix", "remove-host-key", "lab", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&name), "{}", text(&out.stdout));
    let f = std::process::Command::new("ssh-keygen")
        .args(["-F", &name, "-f"])
        .arg(&lab_hosts)
        .output()
        .unwrap();
    assert!(!f.status.success(), "{}", text(&f.stdout));
    assert!(text(&std::fs::read(&lab_hosts).unwrap()).starts_with("other.example "));
    let refused = ssh_alias(&config, "lab");
    assert!(text(&refused.stderr).contains("Host key verification failed"));

    let out = sshdoctor(h.path(), &["undo", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&lab_hosts).unwrap(), before);
    assert!(ssh_alias(&config, "lab").status.success());
}

/// Issue 17: against a server that takes no password for the user (publickey only), copy-id
/// says so and asks for nothing (ssh: "Permission denied (publickey)" even with
/// PasswordAuthentication=yes on the client); the probe's key-rejected finding offers adding
/// the key on the server instead of an ssh-copy-id that "asks for the password once".
#[test]
fn copy_id_against_a_server_without_password_login_asks_nothing_and_says_why() {
    let h = home();
    let key = keygen(&h.path().join(".ssh"), "id_ed25519", "ed25519", "");
    let sshd = Sshd::start();
    let kh = h.path().join(".ssh/known_hosts");
    std::fs::write(&kh, sshd.known_hosts_line()).unwrap();
    let oracle = std::process::Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "PasswordAuthentication=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args(["-o", "IdentitiesOnly=yes", "-i"])
        .arg(&key)
        .args(["-p", &sshd.port.to_string(), "root@127.0.0.1", "true"])
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh");
    assert!(
        text(&oracle.stderr).contains("Permission denied (publickey)"),
        "{}",
        text(&oracle.stderr)
    );
    let target = format!("root@127.0.0.1:{}", sshd.port);
    let out = sshdoctor(h.path(), &["copy-id", &target], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not take a password"), "{err}");
    assert!(err.contains("offers: publickey"), "{err}");
    assert!(!err.contains("no terminal"), "{err}");

    let (_, v) = probe_json(h.path(), &target, &kh, &[]);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "key-rejected")
        .unwrap_or_else(|| panic!("{v}"));
    let fixes: Vec<&str> = f["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert!(!fixes.contains(&"copy-id"), "{f}");
    assert!(fixes.contains(&"append-authorized-key"), "{f}");
    assert!(!f.to_string().contains("asks for the password once"), "{f}");
}

/// Issue 12, point 1: a private key with Windows line ends (or without its final newline) is
/// skipped by ssh ("Load key ...: error in libcrypto", then "Permission denied (publickey)");
/// the probe must not log in with it, check names it, and `fix repair-key-file` rewrites it
/// losslessly (same key, old file kept for undo, no key bytes in the journal); then ssh logs in.
#[test]
fn a_key_ssh_cannot_load_is_named_not_used_and_repaired() {
    let h = home();
    let (sshd, key) = sshd_with_client_key(h.path());
    let kh = h.path().join(".ssh/known_hosts");
    std::fs::write(&kh, sshd.known_hosts_line()).unwrap();
    // The key where ssh looks by default, saved through Windows.
    let id = h.path().join(".ssh/id_ed25519");
    let good = std::fs::read(&key).unwrap();
    let damaged = String::from_utf8(good.clone())
        .unwrap()
        .replace('\n', "\r\n");
    std::fs::write(&id, &damaged).unwrap();
    set_mode(&id, 0o600);
    std::fs::copy(pubpath(&key), pubpath(&id)).unwrap();

    // The oracle: ssh refuses to load it and cannot log in.
    let out = ssh(h.path(), sshd.port, "root", &id, &kh, "yes");
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(said.contains("error in libcrypto"), "{said}");
    assert!(said.contains("Permission denied (publickey)"), "{said}");
    let oracle = std::process::Command::new("ssh-keygen")
        .args(["-y", "-P", "", "-f"])
        .arg(&id)
        .output()
        .unwrap();
    assert!(!oracle.status.success());

    // The probe agrees: no login, and the cause is named with ssh's words.
    let target = format!("root@127.0.0.1:{}", sshd.port);
    let probe = |h: &std::path::Path| probe_json(h, &target, &kh, &[]);
    let (code, v) = probe(h.path());
    assert_eq!(code, Some(1), "{v}");
    let ids = ids_of(&v);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(ids.first(), Some(&"key-format-damaged"), "{v}");
    assert!(!ids.contains(&"auth-ok"), "{v}");
    let ev = v["findings"][0]["evidence"].to_string();
    assert!(ev.contains("error in libcrypto"), "{ev}");

    // check says the same, with the repair.
    let out = sshdoctor(h.path(), &["check", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "key-format-damaged")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(f["fixes"][0]["id"], "repair-key-file", "{f}");
    assert!(!v.to_string().contains("no-keys"), "{v}");

    // The repair: the same key, ssh reads it, the old file is kept, the journal holds no key.
    let out = sshdoctor(
        h.path(),
        &["fix", "repair-key-file", id.to_str().unwrap(), "--yes"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&id).unwrap(), good);
    assert_eq!(mode(&id), 0o600);
    let backup = h.path().join(".ssh/id_ed25519.sshdoctor-old");
    assert_eq!(std::fs::read(&backup).unwrap(), damaged.as_bytes());
    let journal = std::fs::read_to_string(h.path().join(".local/state/sshdoctor/journal")).unwrap();
    let body_line = String::from_utf8(good.clone())
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(!journal.contains(&body_line), "key material in the journal");
    assert!(
        !journal.contains("b3BlbnNzaC1rZXkt"),
        "key material in the journal"
    );
    let out = ssh(h.path(), sshd.port, "root", &id, &kh, "yes");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (code, v) = probe(h.path());
    assert_eq!(code, Some(0), "{v}");
    // check no longer reports it, and does not take the backup for a key.
    let out = sshdoctor(h.path(), &["check", "--json"], &[]);
    assert!(
        !text(&out.stdout).contains("key-format-damaged"),
        "{}",
        text(&out.stdout)
    );

    // Undo puts the old bytes back.
    let out = sshdoctor(h.path(), &["undo", "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&id).unwrap(), damaged.as_bytes());
}

/// Issue 12: `-i key.pub` with no agent: ssh reads the .pub as the private key, cannot sign,
/// "Permission denied (publickey)" (also with the private key beside it); the probe says
/// `identity-is-public-key`, exit 1, never auth-ok.
#[test]
fn a_public_key_given_as_the_identity_is_not_a_login() {
    let h = home();
    let (sshd, key) = sshd_with_client_key(h.path());
    let kh = h.path().join(".ssh/known_hosts");
    std::fs::write(&kh, sshd.known_hosts_line()).unwrap();
    let pubkey = pubpath(&key);
    let out = ssh(h.path(), sshd.port, "root", &pubkey, &kh, "yes");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Permission denied (publickey)"),
        "{}",
        text(&out.stderr)
    );
    let target = format!("root@127.0.0.1:{}", sshd.port);
    let (code, v) = probe_json(h.path(), &target, &kh, &["-i", pubkey.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{v}");
    let ids = ids_of(&v);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert!(ids.contains(&"identity-is-public-key"), "{v}");
    assert!(!ids.contains(&"auth-ok"), "{v}");
}

/// `ssh` with a password given through SSH_ASKPASS (OpenSSH ≥ 8.4 with
/// SSH_ASKPASS_REQUIRE=force), password authentication only: the oracle for `probe --password`.
fn ssh_with_password(
    home: &std::path::Path,
    port: u16,
    user: &str,
    kh: &std::path::Path,
    password: &str,
) -> std::process::Output {
    let askpass = home.join("askpass.sh");
    std::fs::write(
        &askpass,
        format!("#!/bin/sh\nprintf '%s\\n' '{password}'\n"),
    )
    .unwrap();
    set_mode(&askpass, 0o700);
    std::process::Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ])
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "NumberOfPasswordPrompts=1",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args(["-o", "StrictHostKeyChecking=yes", "-p", &port.to_string()])
        .arg(format!("{user}@127.0.0.1"))
        .arg("true")
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", home)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh")
}

/// `sshdoctor probe --password TARGET --json`, the password on standard input.
fn probe_with_password(
    home: &std::path::Path,
    target: &str,
    kh: &std::path::Path,
    password: &str,
) -> (Option<i32>, serde_json::Value, String) {
    let out = probe_cli(home, target, kh)
        .arg("--password")
        .stdin(&format!("{password}\n"))
        .output();
    let all = text(&out.stdout) + &text(&out.stderr);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code(), v, all)
}

/// Issue 14: the password login the article starts with, tested for real and once: the right
/// password logs in (auth-ok), a wrong one is password-rejected, a server without password
/// login is password-auth-disabled; each as ssh itself finds it, and the password never shows.
#[test]
fn probe_password_tries_the_password_once_and_agrees_with_ssh() {
    let user = TestUser::with_password("Pw-0k-4-test!");
    let h = home();
    let sshd = Sshd::builder().password_auth().start();
    let kh = h.path().join(".ssh/known_hosts");
    std::fs::write(&kh, sshd.known_hosts_line()).unwrap();
    let target = format!("{}@127.0.0.1:{}", user.name, sshd.port);

    let ok = ssh_with_password(h.path(), sshd.port, &user.name, &kh, "Pw-0k-4-test!");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let (code, v, all) = probe_with_password(h.path(), &target, &kh, "Pw-0k-4-test!");
    assert_eq!(code, Some(0), "{all}");
    assert!(ids_of(&v).contains(&"auth-ok".to_string()), "{v}");
    assert!(
        !all.contains("Pw-0k-4-test!"),
        "the password never reaches the output"
    );

    let bad = ssh_with_password(h.path(), sshd.port, &user.name, &kh, "wrong-one");
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("Permission denied"),
        "{}",
        text(&bad.stderr)
    );
    let (code, v, all) = probe_with_password(h.path(), &target, &kh, "wrong-one");
    assert_eq!(code, Some(1), "{all}");
    assert!(ids_of(&v).contains(&"password-rejected".to_string()), "{v}");
    assert!(!all.contains("wrong-one"), "{all}");
    // One attempt only: ssh's and sshdoctor's (sshd writes its log lines asynchronously).
    let log = sshd.wait_log_until(|log| log.matches("Failed password for").count() >= 2);
    assert_eq!(
        log.matches("Failed password for").count(),
        2,
        "ssh once, sshdoctor once:\n{log}"
    );

    // A server that takes no password: nothing is sent.
    let keys_only = Sshd::start();
    std::fs::write(&kh, keys_only.known_hosts_line()).unwrap();
    let target = format!("{}@127.0.0.1:{}", user.name, keys_only.port);
    let no = ssh_with_password(h.path(), keys_only.port, &user.name, &kh, "Pw-0k-4-test!");
    assert!(
        text(&no.stderr).contains("Permission denied (publickey)"),
        "{}",
        text(&no.stderr)
    );
    let (code, v, all) = probe_with_password(h.path(), &target, &kh, "Pw-0k-4-test!");
    assert_eq!(code, Some(1), "{all}");
    assert!(
        ids_of(&v).contains(&"password-auth-disabled".to_string()),
        "{v}"
    );

    // A server that takes only passwords: with the password given, the verdict is the
    // password's, not "password-only: a password was not tried" beside it.
    let passwords_only = Sshd::builder().password_auth().no_pubkey_auth().start();
    std::fs::write(&kh, passwords_only.known_hosts_line()).unwrap();
    let target = format!("{}@127.0.0.1:{}", user.name, passwords_only.port);
    let ok = ssh_with_password(
        h.path(),
        passwords_only.port,
        &user.name,
        &kh,
        "Pw-0k-4-test!",
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let (code, v, all) = probe_with_password(h.path(), &target, &kh, "Pw-0k-4-test!");
    assert_eq!(code, Some(0), "{all}");
    let ids = ids_of(&v);
    assert!(ids.contains(&"auth-ok".to_string()), "{v}");
    assert!(!ids.contains(&"password-only".to_string()), "{v}");
}

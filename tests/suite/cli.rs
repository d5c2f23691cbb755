//! End-to-end tests of the scriptable CLI: the real binary on a fixture HOME, compared with
//! OpenSSH's own tools where they compute the same thing. No test reads the real ~/.ssh.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::run::Sshdoctor;

/// Runs sshdoctor with HOME pointing at a fixture, no agent and no colours.
fn run(home: &Path, args: &[&str]) -> Output {
    Sshdoctor::new(home)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn keygen(path: &Path, kind: &str, comment: &str) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", comment, "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
}

/// A HOME with the four classic mistakes of issue 2's "done when".
fn broken_home() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let ssh = home.join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    chmod(&home, 0o755);
    keygen(&ssh.join("id_ed25519"), "ed25519", "laptop");
    chmod(&ssh.join("id_ed25519"), 0o644);
    // A private key whose .pub is another key.
    keygen(&ssh.join("work"), "ed25519", "work");
    keygen(&dir.path().join("other"), "ed25519", "other");
    std::fs::copy(dir.path().join("other.pub"), ssh.join("work.pub")).unwrap();
    let pubkey = std::fs::read_to_string(ssh.join("id_ed25519.pub")).unwrap();
    let key_part: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    std::fs::write(
        ssh.join("known_hosts"),
        format!(
            "# my hosts\nexample.org {} {}\nthis line is junk\n",
            key_part[0], key_part[1]
        ),
    )
    .unwrap();
    chmod(&ssh, 0o777);
    (dir, home)
}

#[test]
fn check_names_every_local_mistake_and_exits_1() {
    let (_dir, home) = broken_home();
    let out = run(&home, &["check", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let ids: Vec<&str> = findings.iter().map(|f| f["id"].as_str().unwrap()).collect();
    for want in [
        "private-key-permissions",
        "ssh-dir-permissions",
        "public-key-mismatch",
        "known-hosts-malformed-line",
    ] {
        assert!(ids.contains(&want), "missing {want} in {ids:?}");
    }
    // Worst first.
    let sev: Vec<&str> = findings
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    let rank = |s: &str| {
        ["error", "warning", "info"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    assert!(sev.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{sev:?}");
    // The 0644 key: its file, its mode, the chmod.
    let key = findings
        .iter()
        .find(|f| f["id"] == "private-key-permissions")
        .unwrap();
    let text = key.to_string();
    assert!(text.contains("id_ed25519"), "{text}");
    assert!(text.contains("0644"), "{text}");
    assert!(
        key["fixes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["command"].as_str().unwrap().starts_with("chmod 600")),
        "{text}"
    );
    let malformed = findings
        .iter()
        .find(|f| f["id"] == "known-hosts-malformed-line")
        .unwrap();
    assert!(
        malformed.to_string().contains("known_hosts:3"),
        "{malformed}"
    );
    // Every fix has the contract fields.
    for f in findings {
        for fix in f["fixes"].as_array().unwrap() {
            assert!(fix["id"].is_string() && fix["title"].is_string());
            assert!(fix["command"].is_string() && fix["destructive"].is_boolean());
        }
    }
}

#[test]
fn check_text_output_is_readable_and_has_the_same_exit_code() {
    let (_dir, home) = broken_home();
    let out = run(&home, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("chmod 600"), "{text}");
    assert!(text.starts_with("error"), "{text}");
}

#[test]
fn check_on_a_healthy_home_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    chmod(home, 0o755);
    let ssh = home.join(".ssh");
    std::fs::create_dir(&ssh).unwrap();
    chmod(&ssh, 0o700);
    keygen(&ssh.join("id_ed25519"), "ed25519", "ok");
    let out = run(home, &["check", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["severity"] != "error"));
}

#[test]
fn keys_json_matches_ssh_keygen_fingerprints_and_never_leaks_private_bytes() {
    let (_dir, home) = broken_home();
    let ssh = home.join(".ssh");
    let out = run(&home, &["keys", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let keys = v["keys"].as_array().unwrap();
    let key = keys
        .iter()
        .find(|k| k["path"].as_str().unwrap().ends_with("/id_ed25519"))
        .unwrap();
    let lf = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(ssh.join("id_ed25519"))
        .output()
        .unwrap();
    let lf = String::from_utf8(lf.stdout).unwrap();
    assert!(
        lf.contains(key["fingerprint"].as_str().unwrap()),
        "{lf} vs {key}"
    );
    assert_eq!(key["type"], "ssh-ed25519");
    assert_eq!(key["bits"], 256);
    assert_eq!(key["mode"], "0644");
    assert_eq!(key["encrypted"], false);
    assert_eq!(key["public_key_matches"], true);
    let work = keys
        .iter()
        .find(|k| k["path"].as_str().unwrap().ends_with("/work"))
        .unwrap();
    assert_eq!(work["public_key_matches"], false);
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
        assert!(key.get(field).is_some(), "missing {field}");
    }
    // No line of the private key file appears in the output.
    let private = std::fs::read_to_string(ssh.join("id_ed25519")).unwrap();
    for line in private.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!stdout.contains(line), "private key bytes leaked");
    }
}

#[test]
fn known_hosts_list_and_find_follow_the_contract() {
    let (_dir, home) = broken_home();
    let kh = home.join(".ssh/known_hosts");
    let out = run(
        &home,
        &["known-hosts", "list", "--json", "-f", kh.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["entries"][0]["line"], 2);
    assert_eq!(v["entries"][0]["hosts"][0], "example.org");
    assert_eq!(v["entries"][0]["hashed"], false);
    assert!(v["entries"][0]["marker"].is_null());
    assert_eq!(v["problems"][0]["line"], 3);

    for host in ["example.org", "EXAMPLE.org", "nothere.org"] {
        let ours = run(
            &home,
            &["known-hosts", "find", host, "-f", kh.to_str().unwrap()],
        );
        let theirs = Command::new("ssh-keygen")
            .args(["-F", host, "-f"])
            .arg(&kh)
            .output()
            .unwrap();
        assert_eq!(ours.stdout, theirs.stdout, "stdout for {host}");
        assert_eq!(ours.status.code(), theirs.status.code(), "exit for {host}");
    }
}

#[test]
fn bad_input_gives_a_clear_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ssh = home.join(".ssh");
    std::fs::create_dir(&ssh).unwrap();
    chmod(&ssh, 0o700);
    // known_hosts is a directory, a key file is a dangling symlink, junk is binary.
    std::fs::create_dir(ssh.join("known_hosts")).unwrap();
    std::os::unix::fs::symlink(home.join("nowhere"), ssh.join("id_rsa")).unwrap();
    std::fs::write(ssh.join("junk"), [0u8, 159, 146, 150, 255, 10, 13, 0]).unwrap();
    let out = run(home, &["check", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["findings"].to_string().contains("directory"), "{v}");

    let out = run(
        home,
        &["known-hosts", "list", "-f", "/nonexistent/known_hosts"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/known_hosts"));

    let out = run(home, &["check", "@@bad:port"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(home, &["no-such-subcommand"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn version_and_help_document_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sshdoctor "));
    let out = run(dir.path(), &["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["check", "keys", "known-hosts", "config", "agent"] {
        assert!(help.contains(sub), "--help lacks {sub}: {help}");
    }
}

#[test]
fn junk_and_huge_known_hosts_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ssh = home.join(".ssh");
    std::fs::create_dir(&ssh).unwrap();
    chmod(&ssh, 0o700);
    // Binary junk: parsed, every line kept and reported as malformed.
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(ssh.join("known_hosts"), &junk).unwrap();
    let out = run(home, &["check", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.to_string().contains("known-hosts-malformed-line"), "{v}");
    let out = run(
        home,
        &[
            "known-hosts",
            "list",
            "--json",
            "-f",
            ssh.join("known_hosts").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!v["problems"].as_array().unwrap().is_empty());

    // A 1 GB single line (sparse, so the test stays cheap): a clear finding, no attempt to
    // swallow it whole, no panic.
    let f = std::fs::File::create(ssh.join("known_hosts")).unwrap();
    f.set_len(1 << 30).unwrap();
    let out = run(home, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v.to_string();
    assert!(
        text.contains("file-unreadable") && text.contains("too large"),
        "{text}"
    );
    let out = run(
        home,
        &[
            "known-hosts",
            "find",
            "x",
            "-f",
            ssh.join("known_hosts").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too large"));
}

#[test]
fn a_target_narrows_check_to_that_login() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ssh = home.join(".ssh");
    std::fs::create_dir(&ssh).unwrap();
    chmod(&ssh, 0o700);
    keygen(&ssh.join("id_ed25519"), "ed25519", "default");
    keygen(&ssh.join("work_key"), "ed25519", "work");
    chmod(&ssh.join("work_key"), 0o640);
    std::fs::write(
        ssh.join("config"),
        "Host work\n  HostName 127.0.0.1\n  IdentityFile ~/.ssh/work_key\n  IdentitiesOnly yes\n\
         Host other\n  HostName 127.0.0.2\n  IdentityFile ~/.ssh/gone\n  IdentitiesOnly yes\n",
    )
    .unwrap();
    chmod(&ssh.join("config"), 0o600);
    // `work` uses the 0640 key: ssh would ignore it.
    let out = run(home, &["check", "work", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.contains(&"private-key-permissions".to_string()),
        "{ids:?}"
    );
    assert!(
        !ids.contains(&"identity-file-missing".to_string()),
        "{ids:?}"
    );
    assert_eq!(out.status.code(), Some(1));
    // `other` names a key that does not exist, and does not use work_key.
    let out = run(home, &["check", "other", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v.to_string();
    assert!(
        text.contains("identity-file-missing") && text.contains("gone"),
        "{text}"
    );
    assert!(!text.contains("private-key-permissions"), "{text}");
    assert!(!text.contains("\"no-keys\""), "{text}");
}

/// Issue 17, point 5: `-F` naming a directory or a missing file is a usage error (exit 2) for
/// every command that takes it, said once, as ssh says "Can't open user config file"; nothing
/// is judged or planned about the directory itself.
#[test]
fn a_config_file_that_is_a_directory_or_missing_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o777);
    let d = dir.path().to_str().unwrap().to_string();
    let missing = home.path().join("nonexistent");
    let missing = missing.to_str().unwrap().to_string();
    // What ssh itself says about the missing file.
    let ssh = Command::new("ssh")
        .args(["-F", &missing, "-G", "h"])
        .output()
        .expect("ssh");
    assert!(
        String::from_utf8_lossy(&ssh.stderr).contains("Can't open user config file"),
        "{ssh:?}"
    );
    let commands: [&[&str]; 6] = [
        &["check"],
        &["keys"],
        &["config", "h"],
        &["probe", "127.0.0.1"],
        &["scan", "h"],
        &["copy-id", "root@127.0.0.1"],
    ];
    for cmd in commands {
        for (file, why) in [
            (&d, "is a directory"),
            (&missing, "No such file or directory"),
        ] {
            let mut args = cmd.to_vec();
            args.extend(["-F", file.as_str()]);
            let out = run(home.path(), &args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert_eq!(
                err.matches("can't open user config file").count(),
                1,
                "{args:?}: {err}"
            );
            assert!(err.contains(why), "{args:?}: {err}");
            assert!(!err.contains("chmod"), "{args:?}: {err}");
        }
    }
    // The fix refuses a directory too, and leaves its mode alone.
    let out = run(home.path(), &["fix", "chmod-config", &d, "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is a directory"),
        "{out:?}"
    );
    let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o777);
}

/// Shell completions and the man page come from the clap definitions, so they name every
/// subcommand the program has.
#[test]
fn completions_and_man_page_name_every_subcommand() {
    let home = tempfile::tempdir().unwrap();
    let subcommands = [
        "check",
        "keys",
        "known-hosts",
        "config",
        "agent",
        "server",
        "probe",
        "fix",
        "undo",
        "copy-id",
        "scan",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let out = run(home.path(), &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for s in subcommands {
            assert!(text.contains(s), "{shell} completions lack {s}");
        }
    }
    // bash accepts the script as it is.
    let out = run(home.path(), &["completions", "bash"]);
    let script = home.path().join("sshdoctor.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let st = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success());
    let out = run(home.path(), &["completions", "tcsh-or-so"]);
    assert_eq!(out.status.code(), Some(2));

    let out = run(home.path(), &["man"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH sshdoctor 1"), "{page}");
    // One page per command, written where the user says; each names its own options.
    let dir = home.path().join("man1");
    std::fs::create_dir(&dir).unwrap();
    let out = run(home.path(), &["man", "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(dir.join("sshdoctor.1").is_file());
    for s in subcommands {
        let sub = std::fs::read_to_string(dir.join(format!("sshdoctor-{s}.1")))
            .unwrap_or_else(|e| panic!("no page for {s}: {e}"));
        assert!(sub.contains(".SH OPTIONS"), "{s}: {sub}");
    }
    let probe = std::fs::read_to_string(dir.join("sshdoctor-probe.1")).unwrap();
    assert!(probe.contains("timeout"), "{probe}");
}

/// `-p 0` is not silently "the default port", and a zero timeout gets a message that makes sense.
#[test]
fn port_zero_and_timeout_zero_are_usage_errors_that_say_why() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["probe", "127.0.0.1", "-p", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad port '0'"),
        "{out:?}"
    );
    let out = run(home.path(), &["config", "h", "-p", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(home.path(), &["probe", "127.0.0.1", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than 0"), "{err}");
    assert!(!err.contains("between 0 and"), "{err}");
}

/// A reader that goes away (`sshdoctor check | head -0`) ends every command quietly with
/// status 0 — never a panic (exit 101) on the broken pipe.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let (home, _) = broken_home();
    let kh = home.path().join("kh");
    let line =
        "h ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
    std::fs::write(&kh, line.repeat(5000)).unwrap();
    let kh = kh.to_str().unwrap();
    let commands: [&[&str]; 9] = [
        &["check"],
        &["check", "--json"],
        &["keys"],
        &["keys", "--json"],
        &["agent"],
        &["config", "h"],
        &["known-hosts", "list", "-f", kh],
        &["known-hosts", "list", "--json", "-f", kh],
        &["man"],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Sshdoctor::new(home.path())
            .args(args)
            .command()
            .stdout(writer)
            .output()
            .expect("run sshdoctor");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// `keys` text has a header, and flags a private key ssh would refuse for its mode (the oracle:
/// `ssh-keygen -y` prints OpenSSH's "UNPROTECTED PRIVATE KEY FILE!" for the same file).
#[test]
fn keys_text_has_a_header_and_flags_a_key_too_open_for_ssh() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    std::fs::create_dir(&ssh).unwrap();
    let open = ssh.join("id_ed25519");
    keygen(&open, "ed25519", "open@box");
    chmod(&open, 0o644);
    let fine = ssh.join("id_ecdsa");
    keygen(&fine, "ecdsa", "fine@box");
    let oracle = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&open)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&oracle.stderr).contains("UNPROTECTED PRIVATE KEY FILE"));
    let out = run(home.path(), &["keys"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    for col in ["FILE", "TYPE", "MODE", "FINGERPRINT"] {
        assert!(header.contains(col), "{text}");
    }
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("~/.ssh/{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}: {text}"))
            .to_string()
    };
    assert!(row("id_ed25519").contains("TOO OPEN"), "{text}");
    assert!(!row("id_ecdsa").contains("TOO OPEN"), "{text}");
}

/// Issue 17: `probe -i /nonexistent` says what ssh says ("Identity file ... not accessible")
/// instead of only "You have no SSH key".
#[test]
fn a_missing_identity_file_is_reported_as_ssh_reports_it() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    let missing = home.path().join("nonexistent");
    let m = missing.to_str().unwrap();
    // A closed loopback port: the point is the -i warning, which ssh prints first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ssh = Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-i",
            m,
            "-p",
            &port.to_string(),
            "127.0.0.1",
            "true",
        ])
        .env("HOME", home.path())
        .output()
        .unwrap();
    let said = format!("Warning: Identity file {m} not accessible: No such file or directory.");
    assert!(
        String::from_utf8_lossy(&ssh.stderr).contains(&said),
        "{ssh:?}"
    );
    let p = port.to_string();
    let out = run(
        home.path(),
        &["probe", "127.0.0.1", "-p", &p, "-i", m, "-F", "/dev/null"],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&said),
        "{out:?}"
    );
    let out = run(
        home.path(),
        &[
            "probe",
            "127.0.0.1",
            "-p",
            &p,
            "-i",
            m,
            "-F",
            "/dev/null",
            "--json",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["id"], "identity-file-missing", "{v}");
    assert!(f["evidence"][0].as_str().unwrap().contains(&said), "{f}");
}

//! Secrets stay secret: after runs that use an encrypted key (unlocked with its passphrase for a
//! real login against a real sshd) and an unencrypted key, no private key body line and no
//! passphrase appears in stdout, stderr, the JSON, the report's text, or on the terminal screen.

use crate::support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::run::sshdoctor;
use crate::support::sshd::{keygen, Sshd};
use crate::support::BIN;
use sshdoctor::probe::{self, LoginMode, StageEvent, StageStatus};

const PASSPHRASE: &str = "Tr0ub4dor&3-horse-staple-9f2c";

/// A HOME whose ~/.ssh holds an encrypted ed25519 key and an unencrypted ecdsa key.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        let ssh = dir.path().join(".ssh");
        std::fs::create_dir_all(&ssh).expect("mkdir .ssh");
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        keygen(&ssh, "id_ed25519", "ed25519", PASSPHRASE);
        keygen(&ssh, "id_ecdsa", "ecdsa", "");
        Home { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join(".ssh").join(name)
    }

    /// Every secret a leak would show: the passphrase and each base64 body line of both private
    /// key files (the unencrypted one *is* the private key; the encrypted one is still not for
    /// display).
    fn secrets(&self) -> Vec<String> {
        let mut out = vec![PASSPHRASE.to_string()];
        for name in ["id_ed25519", "id_ecdsa"] {
            let text = std::fs::read_to_string(self.key(name)).expect("read key");
            out.extend(
                text.lines()
                    .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                    .map(str::to_string),
            );
        }
        assert!(out.len() >= 5, "fixture keys have body lines: {out:?}");
        out
    }
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what} leaks a secret ({} chars starting {:?})",
            s.len(),
            s.get(..6).unwrap_or("")
        );
    }
}

#[test]
fn local_commands_never_print_key_bytes() {
    let home = Home::new();
    let secrets = home.secrets();
    for args in [
        &["check"][..],
        &["check", "--json"],
        &["keys"],
        &["keys", "--json"],
        &["known-hosts", "list", "--json"],
        &["config", "example.test", "--json"],
    ] {
        let out = sshdoctor(home.path(), args, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_clean(&format!("{args:?} stdout"), &stdout, &secrets);
        assert_clean(&format!("{args:?} stderr"), &stderr, &secrets);
        if args == ["keys", "--json"] {
            // The keys are really there and described: the test is not vacuous.
            assert!(stdout.contains("id_ed25519"), "{stdout}");
            assert!(stdout.contains("id_ecdsa"), "{stdout}");
        }
    }
}

/// A real login with the encrypted key, its passphrase given through the library's prompt: the
/// report (JSON, Debug, every stage event) holds neither the passphrase nor key bytes.
#[test]
fn probe_login_with_a_passphrase_keeps_it_out_of_the_report() {
    let home = Home::new();
    let secrets = home.secrets();
    let server = Sshd::start();
    server.authorize(&home.key("id_ed25519.pub"));
    let known = support::sshd::fingerprint(&server.host_key_pub());

    let asked = Arc::new(Mutex::new(0u32));
    let asked2 = Arc::clone(&asked);
    let mut o = support::probe_options(
        server.port,
        vec![
            support::identity(&home.key("id_ecdsa"), false),
            support::identity(&home.key("id_ed25519"), true),
        ],
        Some(known),
    );
    o.timeout = Duration::from_secs(5);
    o.login = LoginMode::AskPassphrase(Box::new(move |_p: &Path| {
        if let Ok(mut n) = asked2.lock() {
            *n += 1;
        }
        Some(PASSPHRASE.to_string())
    }));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = rt.block_on(probe::run(o, Some(tx)));
    let mut events = String::new();
    while let Ok(ev) = rx.try_recv() {
        events.push_str(&format!("{ev:?}\n"));
        if let StageEvent::Finished(st) = ev {
            events.push_str(&st.detail);
        }
    }

    let login = report.stages.iter().find(|s| s.stage == "login");
    assert_eq!(
        login.map(|s| s.status),
        Some(StageStatus::Ok),
        "{:#?}",
        report.stages
    );
    assert_eq!(
        *asked.lock().expect("lock"),
        1,
        "asked once, for the encrypted key"
    );
    assert!(server.log().contains("Accepted publickey for root"));

    let json = serde_json::to_string_pretty(&report).expect("json");
    assert_clean("probe JSON", &json, &secrets);
    assert_clean("probe report Debug", &format!("{report:?}"), &secrets);
    assert_clean("probe stage events", &events, &secrets);
}

/// A wrong passphrase: the error the user sees names the key, never the passphrase typed.
#[test]
fn a_wrong_passphrase_is_not_echoed_in_the_error() {
    let home = Home::new();
    let server = Sshd::start();
    server.authorize(&home.key("id_ed25519.pub"));
    let wrong = "wrong-passphrase-5d1e-do-not-print";
    let mut o = support::probe_options(
        server.port,
        vec![support::identity(&home.key("id_ed25519"), true)],
        None,
    );
    o.timeout = Duration::from_secs(5);
    o.login = LoginMode::AskPassphrase(Box::new(move |_p: &Path| Some(wrong.to_string())));
    let report = support::probe(o);
    let login = report
        .stages
        .iter()
        .find(|s| s.stage == "login")
        .expect("login stage");
    assert_ne!(login.status, StageStatus::Ok, "{login:?}");
    assert!(login.detail.contains("id_ed25519"), "{}", login.detail);
    let json = serde_json::to_string(&report).expect("json");
    assert!(!json.contains(wrong), "{json}");
    assert!(!server.log().contains("Accepted publickey"));
}

/// `sshdoctor probe --ask-passphrase` on a real pseudo-terminal (`script`): the prompt appears,
/// the passphrase is typed only after it (echo is off by then), and the whole screen, stdout
/// and JSON included, never shows the passphrase or key bytes.
#[test]
fn cli_probe_on_a_terminal_never_shows_the_passphrase() {
    let home = Home::new();
    let secrets = home.secrets();
    let server = Sshd::start();
    server.authorize(&home.key("id_ed25519.pub"));
    let kh = home.path().join("known_hosts_test");
    std::fs::write(&kh, server.known_hosts_line()).expect("write known_hosts");

    let cmd = format!(
        "{} probe root@127.0.0.1:{} -F /dev/null -i {} --known-hosts {} --ask-passphrase --json",
        BIN,
        server.port,
        home.key("id_ed25519").display(),
        kh.display()
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("HOME", home.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn script");
    let screen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut stdout = child.stdout.take().expect("stdout");
    let screen2 = Arc::clone(&screen);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let (Ok(mut s), Some(b)) = (screen2.lock(), buf.get(..n)) {
                s.extend_from_slice(b);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let seen = screen
            .lock()
            .map(|s| String::from_utf8_lossy(&s).contains("Passphrase for"))
            .unwrap_or(false);
        if seen {
            break;
        }
        assert!(Instant::now() < deadline, "no passphrase prompt");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Give the prompt a moment: echo is switched off before the prompt is written, so this
    // only guards against script's own buffering.
    std::thread::sleep(Duration::from_millis(100));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{PASSPHRASE}\n").as_bytes())
        .expect("type passphrase");
    let status = child.wait().expect("wait script");
    drop(stdin);
    let _ = reader.join();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let screen = String::from_utf8_lossy(&screen.lock().expect("lock")).to_string();
    assert!(status.success(), "exit {status:?}: {screen}{err}");
    assert!(screen.contains("\"login\""), "{screen}");
    assert!(
        server.log().contains("Accepted publickey for root"),
        "{}",
        server.log()
    );
    assert_clean("terminal screen", &screen, &secrets);
    assert_clean("stderr", &err, &secrets);
}

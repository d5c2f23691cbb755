//! Issue 14 in the dashboard: "try a password" on the password-only finding (a masked prompt,
//! the live test again with that password, once) and the live test with agent forwarding (`A`,
//! and `ForwardAgent yes` from the config). First drawn into ratatui's `TestBackend` from states
//! built through the app's own messages; then the real binary in tmux against a real sshd.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use sshdoctor::agent::AgentStatus;
use sshdoctor::finding::Finding;
use sshdoctor::inspect::Inspection;
use sshdoctor::paths::SshPaths;
use sshdoctor::probe::diagnose::{self, Target};
use sshdoctor::probe::{ProbeReport, ServerInfo, Stage, StageEvent, StageStatus, TargetInfo};
use sshdoctor::tui::app::{Inspected, LiveRun, Overlay, Pane};
use sshdoctor::tui::{App, Effect, Msg};
use zeroize::Zeroizing;

use crate::support::sshd::{self, Sshd};
use crate::support::tmux::Tmux;
use crate::support::user::TestUser;

const PASSWORD: &str = "Tr0ub4dor&3";

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// The screen as text, one string a row.
fn draw(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// No part of the password (three characters or more of it) is anywhere on the screen, at any
/// size the tests draw.
fn assert_no_password(app: &App) {
    for (w, h) in [(80, 24), (100, 30), (60, 16), (200, 50)] {
        let s = draw(app, w, h);
        for len in 3..=PASSWORD.len() {
            for start in 0..=PASSWORD.len() - len {
                let part = &PASSWORD[start..start + len];
                assert!(
                    !s.contains(part),
                    "{part:?} of the password on screen:\n{s}"
                );
            }
        }
    }
}

fn target() -> Target {
    Target {
        host: "127.0.0.1".into(),
        port: 2222,
        user: "alice".into(),
        display: "alice@127.0.0.1:2222".into(),
    }
}

fn report(findings: Vec<Finding>, login: StageStatus) -> ProbeReport {
    let stage = |name: &str, status| Stage {
        stage: name.into(),
        status,
        ms: 1,
        detail: String::new(),
    };
    let mut stages: Vec<Stage> = ["resolve", "connect", "banner", "kex", "host-key"]
        .iter()
        .map(|n| stage(n, StageStatus::Ok))
        .collect();
    stages.push(stage("auth-methods", StageStatus::Ok));
    stages.push(stage("keys", StageStatus::Skipped));
    stages.push(stage("login", login));
    ProbeReport {
        target: TargetInfo {
            host: "127.0.0.1".into(),
            port: 2222,
            user: "alice".into(),
        },
        stages,
        server: ServerInfo {
            banner: Some("SSH-2.0-OpenSSH_9.2p1".into()),
            host_key_type: Some("ssh-ed25519".into()),
            host_key_fingerprint: Some("SHA256:x".into()),
            auth_methods: vec!["password".into()],
        },
        findings,
    }
}

fn no_local_findings() -> Inspected {
    let paths = SshPaths::with_home(Path::new("/home/alice"));
    Inspected {
        inspection: Inspection {
            paths,
            config: None,
            keys: Vec::new(),
            key_errors: Vec::new(),
            known_hosts: Vec::new(),
            agent: AgentStatus::NotSet,
            findings: Vec::new(),
        },
        perms: Vec::new(),
    }
}

/// The dashboard for alice@127.0.0.1:2222 after a live test that found `findings`.
fn tested(findings: Vec<Finding>) -> App {
    let mut app = App::dashboard(
        SshPaths::with_home(Path::new("/home/alice")),
        Some("alice@127.0.0.1:2222".into()),
        PathBuf::from("/home/alice/.ssh/known_hosts"),
    );
    app.update(Msg::Resize(80, 24));
    app.initial_effects();
    app.update(Msg::Inspected(Box::new(Ok(no_local_findings()))));
    app.update(Msg::ProbeDone(Box::new(report(
        findings,
        StageStatus::Fail,
    ))));
    app
}

fn password_only() -> App {
    tested(vec![diagnose::password_only(
        &target(),
        &["password".into()],
    )])
}

#[test]
fn try_a_password_asks_in_a_masked_prompt_and_runs_the_live_test_once_with_it() {
    let mut app = password_only();
    let s = draw(&app, 80, 24);
    assert!(
        s.contains("does not accept keys for alice, only passwords"),
        "{s}"
    );
    assert!(s.contains("f fix"), "{s}");
    // f on the finding: its first fix is try-password, and it opens the prompt (no effect yet).
    assert!(app.update(key(KeyCode::Char('f'))).is_empty());
    assert!(
        matches!(app.overlay, Overlay::Password(_)),
        "{:?}",
        app.overlay
    );
    let s = draw(&app, 80, 24);
    assert!(s.contains("Try a password login"), "{s}");
    assert!(s.contains("alice@127.0.0.1:2222's password: █"), "{s}");
    assert!(s.contains("Enter: try it once   Esc: cancel"), "{s}");
    for (n, c) in PASSWORD.chars().enumerate() {
        assert!(app.update(key(KeyCode::Char(c))).is_empty());
        let s = draw(&app, 80, 24);
        let stars = "*".repeat(n + 1);
        assert!(s.contains(&format!("password: {stars}█")), "{s}");
        assert_no_password(&app);
    }
    // The app's debug view (what a failing assert prints) holds no password either.
    assert!(!format!("{:?}", app.overlay).contains(PASSWORD));

    let effects = app.update(key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::ProbeWith(LiveRun {
            forward_agent: false,
            password: Some(Zeroizing::new(PASSWORD.to_string())),
        })]
    );
    assert!(!format!("{effects:?}").contains(PASSWORD), "{effects:?}");
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(
        app.current(),
        Pane::Live,
        "the outcome is shown where it happens"
    );
    let s = draw(&app, 80, 24);
    assert!(
        s.contains("Live test of alice@127.0.0.1:2222 with a password, tried once: running"),
        "{s}"
    );
    assert_no_password(&app);

    // The outcome: in the status line, the Live pane and the Findings.
    let ok = diagnose::password_auth_ok(&target(), "password");
    app.update(Msg::ProbeDone(Box::new(report(vec![ok], StageStatus::Ok))));
    let s = draw(&app, 80, 24);
    assert!(
        s.contains(
            "Password tried once: Logged in to 127.0.0.1 as alice with a password (password)"
        ),
        "{s}"
    );
    assert!(
        s.contains("Password: Logged in to 127.0.0.1 as alice"),
        "{s}"
    );
    assert!(s.contains("What the live test found:"), "{s}");
    assert!(s.contains(" INFO   Logged in to 127.0.0.1 as alice"), "{s}");
    // r runs the plain test again: the password is gone.
    assert!(app.update(key(KeyCode::Char('r'))).contains(&Effect::Probe));
}

#[test]
fn esc_in_the_password_prompt_sends_nothing() {
    let mut app = password_only();
    app.update(key(KeyCode::Char('f')));
    for c in "abc".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    assert!(app.update(key(KeyCode::Esc)).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    let s = draw(&app, 80, 24);
    assert!(
        s.contains("Nothing was sent: the password was not tried."),
        "{s}"
    );
    assert_eq!(app.current(), Pane::Findings);
    // A refused password is an error in the status line.
    app.update(key(KeyCode::Char('f')));
    app.update(key(KeyCode::Enter));
    let no = diagnose::password_rejected(&target(), "password", &["password".into()]);
    app.update(Msg::ProbeDone(Box::new(report(
        vec![no],
        StageStatus::Fail,
    ))));
    let s = draw(&app, 80, 24);
    assert!(
        s.contains("Password tried once: 127.0.0.1 refused the password for alice"),
        "{s}"
    );
}

#[test]
fn a_forwards_the_agent_and_the_live_pane_shows_the_stage_and_its_finding() {
    let ok = diagnose::password_auth_ok(&target(), "password");
    let mut app = tested(vec![ok.clone()]);
    app.update(key(KeyCode::Tab));
    assert_eq!(app.current(), Pane::Live);
    let s = draw(&app, 80, 24);
    assert!(s.contains("A forwarding"), "the footer offers it: {s}");
    let effects = app.update(key(KeyCode::Char('A')));
    assert_eq!(
        effects,
        vec![Effect::ProbeWith(LiveRun {
            forward_agent: true,
            password: None,
        })]
    );
    let s = draw(&app, 80, 24);
    assert!(
        s.contains("Live test of alice@127.0.0.1:2222 with agent forwarding: running"),
        "{s}"
    );
    assert!(s.contains("· agent-forwarding"), "{s}");
    assert!(
        !s.contains("A forwarding"),
        "not offered while it runs: {s}"
    );
    assert!(
        app.update(key(KeyCode::Char('A'))).is_empty(),
        "one run at a time"
    );
    app.update(Msg::Stage(StageEvent::Started("agent-forwarding")));
    assert!(draw(&app, 80, 24).contains("agent-forwarding      running…"));
    let fwd = Stage {
        stage: "agent-forwarding".into(),
        status: StageStatus::Ok,
        ms: 40,
        detail: "the server lists 1 key of your agent".into(),
    };
    let mut r = report(
        vec![
            ok,
            diagnose::agent_forwarding_ok(&target(), &["256 SHA256:abc k (ED25519)".into()]),
        ],
        StageStatus::Ok,
    );
    r.stages.push(fwd);
    app.update(Msg::ProbeDone(Box::new(r)));
    let s = draw(&app, 100, 30);
    assert!(
        s.contains("✔ agent-forwarding") && s.contains("the server lists 1 key of your agent"),
        "{s}"
    );
    assert!(s.contains("Agent forwarding to 127.0.0.1 works"), "{s}");
    assert!(s.contains("A forwarding"), "{s}");
}

#[test]
fn the_agent_pane_marks_the_keys_the_server_could_use_through_forwarding() {
    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let public_key =
        russh::keys::ssh_key::PublicKey::from_openssh(&format!("ssh-ed25519 {ED} k")).unwrap();
    let fp = public_key
        .fingerprint(russh::keys::ssh_key::HashAlg::Sha256)
        .to_string();
    let mut inspected = no_local_findings();
    inspected.inspection.agent = AgentStatus::Running {
        socket: PathBuf::from("/tmp/agent.sock"),
        identities: vec![sshdoctor::agent::AgentIdentity {
            key_type: "ED25519".into(),
            fingerprint: fp.clone(),
            comment: "alice@laptop".into(),
            public_key,
            certificate: None,
        }],
    };
    let mut app = tested(Vec::new());
    app.update(Msg::Inspected(Box::new(Ok(inspected))));
    while app.current() != Pane::Agent {
        app.update(key(KeyCode::Tab));
    }
    let s = draw(&app, 120, 24);
    assert!(
        s.contains("Agent at /tmp/agent.sock: 1 key; ssh -A would hand the server all of them"),
        "{s}"
    );
    assert!(!s.contains("usable on"), "{s}");
    let mut r = report(
        vec![diagnose::agent_forwarding_ok(
            &target(),
            &[format!("256 {fp} alice@laptop (ED25519)")],
        )],
        StageStatus::Ok,
    );
    r.stages.push(Stage {
        stage: "agent-forwarding".into(),
        status: StageStatus::Ok,
        ms: 3,
        detail: String::new(),
    });
    app.update(Msg::ProbeDone(Box::new(r)));
    let s = draw(&app, 120, 24);
    assert!(
        s.contains("forwarded to 127.0.0.1, which could use the keys marked"),
        "{s}"
    );
    let row = s.lines().find(|l| l.contains(&fp)).expect(&s);
    assert!(row.contains("alice@laptop  usable on 127.0.0.1"), "{s}");
    // A run that did not forward leaves the answer standing.
    app.update(Msg::ProbeDone(Box::new(report(
        Vec::new(),
        StageStatus::Ok,
    ))));
    assert!(draw(&app, 120, 24).contains("usable on 127.0.0.1"));
}

#[test]
fn stages_the_timeline_does_not_list_go_where_they_happen() {
    let mut app = tested(Vec::new());
    app.update(key(KeyCode::Char('r')));
    app.update(key(KeyCode::Tab));
    // ForwardAgent yes in the config: the stage comes after the login, unannounced.
    for name in sshdoctor::probe::STAGES {
        app.update(Msg::Stage(StageEvent::Finished(Stage {
            stage: name.into(),
            status: StageStatus::Ok,
            ms: 1,
            detail: String::new(),
        })));
    }
    app.update(Msg::Stage(StageEvent::Started("agent-forwarding")));
    let s = draw(&app, 80, 24);
    let rows: Vec<&str> = s.lines().collect();
    let login = rows.iter().position(|l| l.contains("✔ login")).expect(&s);
    assert!(rows[login + 1].contains("agent-forwarding"), "{s}");
    // A jump host's stages come before the target's.
    app.update(Msg::ProbeDone(Box::new(report(
        Vec::new(),
        StageStatus::Ok,
    ))));
    app.update(key(KeyCode::Char('r')));
    app.update(Msg::Stage(StageEvent::Started("jump:resolve")));
    let s = draw(&app, 80, 24);
    let rows: Vec<&str> = s.lines().collect();
    let jump = rows
        .iter()
        .position(|l| l.contains("jump:resolve"))
        .expect(&s);
    assert!(rows[jump + 1].contains("· resolve (DNS)"), "{s}");
}

#[test]
fn without_a_target_there_is_nothing_to_forward_or_try() {
    let mut app = App::dashboard(
        SshPaths::with_home(Path::new("/home/alice")),
        None,
        PathBuf::from("/home/alice/.ssh/known_hosts"),
    );
    app.update(Msg::Resize(80, 24));
    app.initial_effects();
    app.update(key(KeyCode::Tab));
    assert!(!draw(&app, 80, 24).contains("A forwarding"));
    assert!(app.update(key(KeyCode::Char('A'))).is_empty());
    assert!(draw(&app, 80, 24).contains("The live test needs a target"));
}

// ---- end to end: the real binary in tmux against a real sshd ----

fn temp_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("temp HOME");
    std::fs::create_dir_all(home.path().join(".ssh")).expect("mkdir .ssh");
    home
}

/// Real ssh with `password` from SSH_ASKPASS, password login only, once: the oracle.
fn ssh_with_password(home: &Path, port: u16, user: &str, password: &str) -> std::process::Output {
    let askpass = home.join("askpass.sh");
    std::fs::write(
        &askpass,
        format!("#!/bin/sh\nprintf '%s\\n' '{password}'\n"),
    )
    .unwrap();
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::process::Command::new("ssh")
        .args(["-F", "/dev/null", "-o", "PubkeyAuthentication=no"])
        .args([
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            home.join(".ssh/known_hosts").display()
        ))
        .args([
            "-p",
            &port.to_string(),
            &format!("{user}@127.0.0.1"),
            "true",
        ])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", home)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh")
}

/// A server that takes only passwords; the dashboard offers to try one, asks for it masked,
/// and the live test tries it once: a wrong one is refused (sshd logs exactly one failure), the
/// right one logs in; ssh itself agrees both times, and the password never reaches the screen.
#[test]
fn the_dashboard_tries_a_password_once_and_shows_what_the_server_said() {
    let user = TestUser::with_password(PASSWORD);
    let server = Sshd::builder().password_auth().no_pubkey_auth().start();
    let home = temp_home();
    std::fs::write(
        home.path().join(".ssh/known_hosts"),
        server.known_hosts_line(),
    )
    .unwrap();
    // The oracle: keys are not even asked about; the password logs in, a wrong one does not.
    let ok = ssh_with_password(home.path(), server.port, &user.name, PASSWORD);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = ssh_with_password(home.path(), server.port, &user.name, "wrong-pw-1");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("Permission denied"),
        "{bad:?}"
    );

    let target = format!("{}@127.0.0.1:{}", user.name, server.port);
    let t = Tmux::start_sshdoctor(home.path(), "SSHDOCTOR_NO_SERVER_PANE=1", &[&target]);
    t.wait_for("only passwords");
    // The live finding comes first (it is the login's error); f opens the prompt.
    t.wait_for("f fix");
    t.keys(&["f"]);
    t.wait_for("Try a password login");
    t.tmux(&["send-keys", "-l", "wrong-pw-1"]);
    let s = t.wait_for("password: **********█");
    assert!(!s.contains("wrong-pw"), "{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("Password tried once:");
    assert!(
        s.contains(&format!("refused the password for {}", user.name)),
        "{s}"
    );
    assert!(!s.contains("wrong-pw"), "{s}");
    // One attempt: ssh's failure and the dashboard's (sshd writes its log asynchronously).
    let log = server.wait_log_until(|log| log.matches("Failed password for").count() >= 2);
    assert_eq!(log.matches("Failed password for").count(), 2, "{log}");

    // The plain test again (r, on the Live pane), then the right password from the Findings.
    t.keys(&["r"]);
    t.wait_for(&format!("Live test of {target}: done in"));
    t.keys(&["BTab"]);
    t.wait_for("only passwords");
    t.keys(&["f"]);
    t.wait_for("Try a password login");
    t.tmux(&["send-keys", "-l", PASSWORD]);
    t.wait_for(&format!("password: {}█", "*".repeat(PASSWORD.len())));
    t.keys(&["Enter"]);
    let s = t.wait_for("Password tried once:");
    assert!(
        s.contains(&format!(
            "Logged in to 127.0.0.1 as {} with a password",
            user.name
        )),
        "{s}"
    );
    assert!(s.contains("✔ login"), "{s}");
    assert!(
        s.contains("Password: Logged in to 127.0.0.1"),
        "the Live pane answers the question asked: {s}"
    );
    let all = t.tmux(&["capture-pane", "-p", "-S", "-"]);
    assert!(!all.contains(PASSWORD), "{all}");
    t.keys(&["q"]);
    t.wait_for("EXIT=0");
}

/// `A` on the Live pane runs the test again with agent forwarding; `ForwardAgent yes` in the
/// config runs it from the start. Real `ssh -A` first: the server lists the agent's key.
#[test]
fn the_dashboard_tests_agent_forwarding_with_a_and_with_forward_agent_yes() {
    use crate::support::agent::Agent;
    let server = Sshd::start();
    let home = temp_home();
    let key = sshd::keygen(&home.path().join(".ssh"), "id_ed25519", "ed25519", "");
    server.authorize(&key.with_extension("pub"));
    let kh = home.path().join(".ssh/known_hosts");
    std::fs::write(&kh, server.known_hosts_line()).unwrap();
    let agent = Agent::start();
    agent.add(&key);
    let fp = sshd::fingerprint(&key.with_extension("pub"));
    let ssh = std::process::Command::new("ssh")
        .args(["-A", "-F", "/dev/null", "-o", "BatchMode=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args([
            "-p",
            &server.port.to_string(),
            "root@127.0.0.1",
            "ssh-add -l",
        ])
        .env("SSH_AUTH_SOCK", &agent.sock)
        .env("HOME", home.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh");
    assert!(
        String::from_utf8_lossy(&ssh.stdout).contains(&fp),
        "{ssh:?}"
    );

    let target = format!("root@127.0.0.1:{}", server.port);
    let env = format!(
        "SSHDOCTOR_NO_SERVER_PANE=1 SSH_AUTH_SOCK='{}'",
        agent.sock.display()
    );
    let t = Tmux::start_sshdoctor(home.path(), &env, &[&target]);
    t.wait_for(" sshdoctor  Findings");
    t.keys(&["Tab"]);
    let s = t.wait_for("No error found in the live test.");
    assert!(!s.contains("agent-forwarding"), "not asked for: {s}");
    assert!(s.contains("A forwarding"), "{s}");
    t.keys(&["A"]);
    let s = t.wait_for("Agent forwarding to 127.0.0.1 works");
    assert!(s.contains("with agent forwarding: done"), "{s}");
    assert!(s.contains("✔ agent-forwarding"), "{s}");
    // The Agent pane marks the key the server listed through the forwarded agent.
    t.keys(&["Tab", "Tab", "Tab"]);
    let s = t.wait_for("usable on 127.0.0.1");
    assert!(s.contains(&fp), "{s}");
    t.keys(&["q"]);
    t.wait_for("EXIT=0");

    // ForwardAgent yes: the dashboard's first run forwards, as `sshdoctor probe` does.
    std::fs::write(
        home.path().join(".ssh/config"),
        "Host 127.0.0.1\n    ForwardAgent yes\n",
    )
    .unwrap();
    let t = Tmux::start_sshdoctor(home.path(), &env, &[&target]);
    t.wait_for(" sshdoctor  Findings");
    t.keys(&["Tab"]);
    let s = t.wait_for("Agent forwarding to 127.0.0.1 works");
    assert!(s.contains("✔ agent-forwarding"), "{s}");
    t.keys(&["q"]);
    t.wait_for("EXIT=0");
}

//! Render tests: the dashboard's screens drawn into ratatui's `TestBackend`, checked for what a
//! person would read on them. States are built through the app's own messages, as the event
//! loop builds them; nothing here touches the disk except where a test says so.

use std::path::{Path, PathBuf};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use ratatui::Terminal;
use sshdoctor::agent::AgentStatus;
use sshdoctor::finding::{Finding, Fix, Severity};
use sshdoctor::inspect::Inspection;
use sshdoctor::paths::SshPaths;
use sshdoctor::probe::diagnose::{self, Target};
use sshdoctor::probe::{ProbeReport, ServerInfo, Stage, StageEvent, StageStatus, TargetInfo};
use sshdoctor::tui::app::{Inspected, Overlay, PermRow};
use sshdoctor::tui::browser::{Load, Loaded};
use sshdoctor::tui::{keymap, App, Effect, Msg};

const OLD_FP: &str = "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8";
const NEW_FP: &str = "SHA256:Z5rdfo3Ld5tnI0K8OgRG3pg6GTutQtgNrnYF+bcBWzE";
const ED_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

fn paths() -> SshPaths {
    SshPaths::with_home(Path::new("/home/alice"))
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn draw(app: &App, w: u16, h: u16) -> (Vec<String>, Terminal<TestBackend>) {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    let buf = t.backend().buffer().clone();
    let lines = (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    (lines, t)
}

fn screen(lines: &[String]) -> String {
    lines.join("\n")
}

fn target() -> Target {
    Target {
        host: "127.0.0.1".into(),
        port: 2222,
        user: "root".into(),
        display: "root@127.0.0.1:2222".into(),
    }
}

fn inspection(findings: Vec<Finding>) -> Inspected {
    let p = paths();
    Inspected {
        inspection: Inspection {
            paths: p.clone(),
            config: None,
            keys: Vec::new(),
            key_errors: Vec::new(),
            known_hosts: Vec::new(),
            agent: AgentStatus::NotSet,
            findings,
        },
        perms: vec![PermRow {
            shown: "~/.ssh/id_ed25519".into(),
            role: "private key",
            meta: Some(sshdoctor::perms::FileMeta {
                path: PathBuf::from("/home/alice/.ssh/id_ed25519"),
                mode: 0o644,
                uid: 1000,
                gid: 1000,
                is_dir: false,
                is_symlink: false,
            }),
            required: "0600 or 0400",
        }],
    }
}

fn perm_finding() -> Finding {
    Finding::new(
        "private-key-permissions",
        Severity::Error,
        "ssh ignores ~/.ssh/id_ed25519: its permissions 0644 are too open",
    )
    .evidence("~/.ssh/id_ed25519: mode 0644")
    .fix(Fix::new(
        "chmod-private-key",
        "Make it yours only",
        "chmod 600 ~/.ssh/id_ed25519",
    ))
}

fn report(findings: Vec<Finding>, banner: &str) -> ProbeReport {
    let stage = |name: &str, status, ms, detail: &str| Stage {
        stage: name.into(),
        status,
        ms,
        detail: detail.into(),
    };
    ProbeReport {
        target: TargetInfo {
            host: "127.0.0.1".into(),
            port: 2222,
            user: "root".into(),
        },
        stages: vec![
            stage("resolve", StageStatus::Ok, 0, "127.0.0.1"),
            stage("connect", StageStatus::Ok, 1, "127.0.0.1:2222"),
            stage("banner", StageStatus::Ok, 3, banner),
            stage("kex", StageStatus::Ok, 12, "curve25519-sha256"),
            stage(
                "host-key",
                StageStatus::Fail,
                0,
                "changed since known_hosts:1",
            ),
            stage("auth-methods", StageStatus::Skipped, 0, ""),
            stage("keys", StageStatus::Skipped, 0, ""),
            stage("login", StageStatus::Skipped, 0, ""),
        ],
        server: ServerInfo {
            banner: Some(banner.into()),
            host_key_type: Some("ssh-ed25519".into()),
            host_key_fingerprint: Some(NEW_FP.into()),
            auth_methods: Vec::new(),
        },
        findings,
    }
}

fn changed_dashboard() -> App {
    let mut app = App::dashboard(
        paths(),
        Some("root@127.0.0.1:2222".into()),
        PathBuf::from("/home/alice/.ssh/known_hosts"),
    );
    app.update(Msg::Resize(80, 24));
    let effects = app.initial_effects();
    assert!(
        effects.contains(&Effect::Probe),
        "the live test starts at once"
    );
    let changed = diagnose::host_key_changed(
        &target(),
        Path::new("/home/alice/.ssh/known_hosts"),
        1,
        OLD_FP,
        "ssh-ed25519",
        NEW_FP,
        "ssh-ed25519",
    );
    app.update(Msg::Inspected(Box::new(Ok(inspection(vec![
        perm_finding(),
    ])))));
    app.update(Msg::ProbeDone(Box::new(report(
        vec![changed],
        "SSH-2.0-OpenSSH_9.2p1",
    ))));
    app
}

#[test]
fn host_key_changed_at_80x24_shows_both_fingerprints_and_the_removal_fix() {
    let mut app = changed_dashboard();
    let (lines, _) = draw(&app, 80, 24);
    let s = screen(&lines);
    assert!(
        lines[0].starts_with(" sshdoctor  Findings │ Live test │"),
        "{s}"
    );
    assert!(
        lines[1].starts_with("2 findings, worst first: 2 error"),
        "{s}"
    );
    assert!(
        lines[3].contains("ERROR")
            && lines[3].contains("host key is not the one known for [127.0.0.1]:2222"),
        "{s}"
    );
    assert!(
        lines[23].contains("q quit") && lines[23].contains("f fix"),
        "{s}"
    );

    app.update(key(KeyCode::Enter));
    let (lines, _) = draw(&app, 80, 24);
    let s = screen(&lines);
    assert!(
        s.contains(&format!("known key: {OLD_FP} (ssh-ed25519)")),
        "{s}"
    );
    assert!(s.contains(&format!("server now shows: {NEW_FP}")), "{s}");
    assert!(s.contains("man-in-the-middle"), "{s}");
    assert!(
        s.contains("$ ssh-keygen -f /home/alice/.ssh/known_hosts -R '[127.0.0.1]:2222'"),
        "{s}"
    );

    // f asks first, naming the exact command; only y would apply it.
    let effects = app.update(key(KeyCode::Char('f')));
    assert!(effects.is_empty());
    let (lines, _) = draw(&app, 80, 24);
    let s = screen(&lines);
    assert!(
        s.contains("Apply this fix?") && s.contains("y: apply it"),
        "{s}"
    );
    let effects = app.update(key(KeyCode::Char('y')));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Apply(sshdoctor::tui::edit::Action::RemoveHost { name, .. })] if name == "[127.0.0.1]:2222"
    ));
}

#[test]
fn the_live_timeline_shows_stages_as_they_come_with_a_spinner() {
    let mut app = App::dashboard(
        paths(),
        Some("root@127.0.0.1:2222".into()),
        PathBuf::from("/home/alice/.ssh/known_hosts"),
    );
    app.update(Msg::Resize(80, 24));
    app.initial_effects();
    app.update(key(KeyCode::Tab));
    app.update(Msg::Stage(StageEvent::Finished(Stage {
        stage: "resolve".into(),
        status: StageStatus::Ok,
        ms: 2,
        detail: "127.0.0.1".into(),
    })));
    app.update(Msg::Stage(StageEvent::Started("connect")));
    let (lines, _) = draw(&app, 80, 24);
    let s = screen(&lines);
    assert!(
        lines[1].contains("Live test of root@127.0.0.1:2222: running"),
        "{s}"
    );
    assert!(
        lines[3].contains("✔ DNS") && lines[3].contains("2 ms"),
        "{s}"
    );
    assert!(
        lines[4].contains("| TCP") && lines[4].contains("running"),
        "{s}"
    );
    assert!(lines[5].contains("· banner"), "{s}");
    app.update(Msg::Tick);
    let (lines, _) = draw(&app, 80, 24);
    assert!(lines[4].contains("/ TCP"), "the spinner turns");
    // r while running does not start a second probe.
    assert!(app.update(key(KeyCode::Char('r'))).is_empty());
}

#[test]
fn a_hostile_banner_never_reaches_the_terminal_as_escapes() {
    let mut app = changed_dashboard();
    let evil = "SSH-2.0-x\x1b[2J\x1b]0;owned\x07\u{9b}1m\u{202e}";
    app.update(Msg::ProbeDone(Box::new(report(Vec::new(), evil))));
    app.update(key(KeyCode::Tab));
    let (lines, t) = draw(&app, 80, 24);
    let s = screen(&lines);
    assert!(s.contains("Server banner: SSH-2.0-x\\u{1b}[2J"), "{s}");
    for cell in t.backend().buffer().content() {
        assert!(!cell
            .symbol()
            .chars()
            .any(|c| c.is_control() || c == '\u{202e}'));
    }
    // Re-running clears the timeline and asks for a new probe.
    assert_eq!(app.update(key(KeyCode::Char('r'))), vec![Effect::Probe]);
    let (lines, _) = draw(&app, 80, 24);
    assert!(lines[3].contains("· DNS"), "{}", screen(&lines));
}

#[test]
fn too_small_says_so_and_no_size_panics() {
    let mut app = changed_dashboard();
    let (lines, _) = draw(&app, 40, 10);
    let s = screen(&lines);
    assert!(s.contains("Terminal too small (40x10)"), "{s}");
    for pane in 0..6 {
        for (w, h) in [(1, 1), (59, 24), (60, 16), (80, 24), (200, 60), (61, 17)] {
            app.update(Msg::Resize(w, h));
            app.update(key(KeyCode::Enter));
            draw(&app, w, h);
            app.update(key(KeyCode::Char('?')));
            draw(&app, w, h);
            app.update(key(KeyCode::Esc));
            app.update(key(KeyCode::Esc));
        }
        app.update(key(KeyCode::Tab));
        assert_eq!(app.pane, (pane + 1) % 6);
    }
}

#[test]
fn help_lists_every_key_of_the_table() {
    let mut app = changed_dashboard();
    app.update(key(KeyCode::Char('?')));
    assert_eq!(app.overlay, Overlay::Help);
    let (lines, _) = draw(&app, 100, 30);
    let s = screen(&lines);
    for b in keymap::BINDINGS {
        let first_words: String = b.help.chars().take(20).collect();
        assert!(
            s.contains(&format!("{:<8} {}", b.label, first_words)),
            "{} missing:\n{s}",
            b.label
        );
    }
    app.update(key(KeyCode::Char('x')));
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn tables_show_facts_and_the_fix_of_each_row() {
    let mut app = changed_dashboard();
    for _ in 0..3 {
        app.update(key(KeyCode::Tab));
    }
    let (lines, _) = draw(&app, 100, 24);
    let s = screen(&lines);
    assert!(lines[0].contains("Permissions"), "{s}");
    assert!(
        lines[3].contains("~/.ssh/id_ed25519") && lines[3].contains("0644"),
        "{s}"
    );
    assert!(lines[3].contains("f: ssh ignores ~/.ssh/id_ed25519"), "{s}");
    app.update(key(KeyCode::Char('f')));
    match &app.overlay {
        Overlay::Confirm(c) => {
            assert!(
                c.lines.iter().any(|l| l == "$ chmod 600 ~/.ssh/id_ed25519"),
                "{c:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    app.update(key(KeyCode::Char('n')));
    app.update(key(KeyCode::Tab));
    let (lines, _) = draw(&app, 100, 24);
    assert!(
        lines[1].contains("No agent: SSH_AUTH_SOCK is not set"),
        "{}",
        screen(&lines)
    );
}

#[test]
fn no_color_draws_without_colours() {
    let mut app = changed_dashboard();
    let (_, t) = draw(&app, 80, 24);
    assert!(t
        .backend()
        .buffer()
        .content()
        .iter()
        .any(|c| c.fg == Color::Red));
    app.color = false;
    let (_, t) = draw(&app, 80, 24);
    for c in t.backend().buffer().content() {
        assert_eq!((c.fg, c.bg), (Color::Reset, Color::Reset));
    }
}

fn browser_app(text: &str) -> App {
    let mut app = App::known_hosts(paths(), PathBuf::from("/home/alice/.ssh/known_hosts"));
    app.update(Msg::Resize(100, 30));
    let effects = app.initial_effects();
    assert_eq!(effects, vec![Effect::LoadKnownHosts]);
    app.update(Msg::KnownHostsLoaded(Load::Ready(Loaded::from_bytes(
        text.as_bytes().to_vec(),
    ))));
    app
}

#[test]
fn browser_filters_selects_and_confirms_the_exact_lines() {
    let text = format!(
        "alpha.example ssh-ed25519 {ED_A}\n@revoked beta.example ssh-ed25519 {ED_A}\n\x1b[31mjunk\ngamma.example,10.0.0.3 ssh-ed25519 {ED_A}\n"
    );
    let mut app = browser_app(&text);
    let (lines, _) = draw(&app, 100, 30);
    let s = screen(&lines);
    assert!(
        lines[1].contains("~/.ssh/known_hosts: 3 entries, 1 malformed"),
        "{s}"
    );
    assert!(
        lines[3].contains("alpha.example") && lines[3].contains("SHA256:"),
        "{s}"
    );
    assert!(
        lines[4].contains("@rev") && lines[4].contains("beta.example"),
        "{s}"
    );
    assert!(
        lines[5].contains("3") && lines[5].contains("malformed:"),
        "{s}"
    );
    assert!(lines[6].contains("same key as line 1"), "{s}");
    assert!(!s.contains('\x1b'));

    app.update(key(KeyCode::Char('/')));
    for c in "GAMMA".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    let (lines, _) = draw(&app, 100, 30);
    assert!(
        lines[1].contains("Filter: /GAMMA") && lines[1].contains("(1 shown)"),
        "{}",
        screen(&lines)
    );
    app.update(key(KeyCode::Enter));
    let (lines, _) = draw(&app, 100, 30);
    assert!(
        lines[1].contains("filter \"GAMMA\": 1 shown"),
        "{}",
        screen(&lines)
    );
    assert!(lines[3].contains("gamma.example,10.0.0.3") && lines[4].is_empty());
    app.update(key(KeyCode::Esc));
    assert_eq!(app.browser.visible.len(), 4, "Esc clears the filter");
    assert!(!app.quit);

    app.update(key(KeyCode::Char(' ')));
    app.update(key(KeyCode::Char(' ')));
    assert_eq!(app.browser.targets(), vec![1, 2]);
    app.update(key(KeyCode::Char('d')));
    let (lines, _) = draw(&app, 100, 30);
    let s = screen(&lines);
    assert!(s.contains("Delete 2 lines from ~/.ssh/known_hosts:"), "{s}");
    assert!(s.contains("     1: alpha.example ssh-ed25519"), "{s}");
    assert!(
        s.contains("     2: @revoked beta.example ssh-ed25519"),
        "{s}"
    );
    assert_eq!(s.matches(ED_A).count(), 2, "each line in full: {s}");
    let effects = app.update(key(KeyCode::Char('y')));
    match effects.as_slice() {
        [Effect::Apply(sshdoctor::tui::edit::Action::DeleteLines { lines, seen, .. })] => {
            assert_eq!(lines, &vec![1, 2]);
            assert_eq!(seen, text.as_bytes());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn browser_first_frame_while_loading_and_100k_entries_scroll() {
    let mut app = App::known_hosts(paths(), PathBuf::from("/home/alice/.ssh/known_hosts"));
    app.update(Msg::Resize(80, 24));
    let (lines, _) = draw(&app, 80, 24);
    assert!(lines[1].contains("Reading ~/.ssh/known_hosts…"));

    let mut text = String::with_capacity(100_000 * 100);
    for i in 0..100_000 {
        text.push_str(&format!("host{i}.example ssh-ed25519 {ED_A}\n"));
    }
    app.update(Msg::KnownHostsLoaded(Load::Ready(Loaded::from_bytes(
        text.into_bytes(),
    ))));
    app.update(key(KeyCode::Char('G')));
    let (lines, _) = draw(&app, 80, 24);
    let s = screen(&lines);
    assert!(lines[1].contains("100000 entries"), "{s}");
    assert!(
        s.contains("100000") && s.contains("host99999.example"),
        "{s}"
    );
    assert!(
        s.contains("SHA256:"),
        "fingerprints of the rows in view are computed: {s}"
    );
    app.update(key(KeyCode::PageUp));
    let (lines, _) = draw(&app, 80, 24);
    assert!(
        screen(&lines).contains("host99980.example"),
        "{}",
        screen(&lines)
    );
    // Only rows that were in view have fingerprints.
    let computed = app
        .browser
        .rows()
        .iter()
        .filter(|r| r.fingerprint.is_some())
        .count();
    assert!(computed < 200, "{computed}");
}

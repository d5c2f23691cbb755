//! Render tests: the dashboard's screens drawn into ratatui's `TestBackend`, checked for what a
//! person would read on them. States are built through the app's own messages, as the event
//! loop builds them; nothing here touches the disk except where a test says so.

use std::path::{Path, PathBuf};

use ratatui::backend::TestBackend;
use std::os::unix::fs::PermissionsExt;

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::style::Color;
use ratatui::Terminal;
use sshdoctor::agent::AgentStatus;
use sshdoctor::finding::{Finding, Fix, FixId, FixTarget, ModeChange, Severity};
use sshdoctor::inspect::Inspection;
use sshdoctor::paths::SshPaths;
use sshdoctor::probe::diagnose::{self, Target};
use sshdoctor::probe::{ProbeReport, ServerInfo, Stage, StageEvent, StageStatus, TargetInfo};
use sshdoctor::server::ServerReport;
use sshdoctor::tui::app::{Inspected, Overlay, PermRow, Status};
use sshdoctor::tui::browser::{Load, Loaded, Resolution};
use sshdoctor::tui::fixes::{self, Request};
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
    perm_finding_at(Path::new("/home/alice/.ssh/id_ed25519"))
}

/// The finding `check` makes for a 0644 key at `key` (shown as `~/.ssh/id_ed25519`).
fn perm_finding_at(key: &Path) -> Finding {
    Finding::new(
        "private-key-permissions",
        Severity::Error,
        "ssh ignores ~/.ssh/id_ed25519: its permissions 0644 are too open",
    )
    .evidence("~/.ssh/id_ed25519: mode 0644")
    .fix(
        Fix::new(
            FixId::ChmodPrivateKey,
            "Make it yours only",
            "chmod 600 ~/.ssh/id_ed25519",
        )
        .on_path(key),
    )
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

    // f first works out what the removal changes, through the fix module, for the host and
    // the file the finding names; nothing is written yet.
    let effects = app.update(key(KeyCode::Char('f')));
    assert_eq!(
        effects,
        vec![Effect::Prepare(Box::new(Request::Resolve {
            id: FixId::RemoveOldHostKey,
            target: Some("[127.0.0.1]:2222".into()),
            known_hosts: PathBuf::from("/home/alice/.ssh/known_hosts"),
        }))]
    );
    assert_eq!(app.overlay, Overlay::None);
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
        lines[3].contains("✔ resolve (DNS)") && lines[3].contains("2 ms"),
        "{s}"
    );
    assert!(
        lines[4].contains("| connect (TCP)") && lines[4].contains("running"),
        "{s}"
    );
    assert!(lines[5].contains("· banner"), "{s}");
    app.update(Msg::Tick);
    let (lines, _) = draw(&app, 80, 24);
    assert!(lines[4].contains("/ connect (TCP)"), "the spinner turns");
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
    let again = app.update(key(KeyCode::Char('r')));
    assert!(again.contains(&Effect::Probe), "{again:?}");
    assert!(
        again.contains(&Effect::Inspect),
        "r looks at the local files again too"
    );
    let (lines, _) = draw(&app, 80, 24);
    assert!(lines[3].contains("· resolve (DNS)"), "{}", screen(&lines));
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
    let effects = app.update(key(KeyCode::Char('f')));
    assert_eq!(
        effects,
        vec![Effect::Prepare(Box::new(Request::Resolve {
            id: FixId::ChmodPrivateKey,
            target: Some("/home/alice/.ssh/id_ed25519".into()),
            known_hosts: PathBuf::from("/home/alice/.ssh/known_hosts"),
        }))]
    );
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
    app.shared.color = false;
    let (_, t) = draw(&app, 80, 24);
    for c in t.backend().buffer().content() {
        assert_eq!((c.fg, c.bg), (Color::Reset, Color::Reset));
    }
}

fn browser_app(text: &str) -> App {
    let mut app = App::known_hosts(paths(), PathBuf::from("/home/alice/.ssh/known_hosts"));
    app.update(Msg::Resize(100, 30));
    let effects = app.initial_effects();
    assert_eq!(effects, vec![Effect::LoadKnownHosts, Effect::Watch]);
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

const ED_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA1Q6mM0jrQm1wEjIRfKKNsAxlZhkNq1ijS2iUp6kC4o";

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> Msg {
    Msg::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

fn click(column: u16, row: u16) -> Msg {
    mouse(MouseEventKind::Down(MouseButton::Left), column, row)
}

/// The column where `label` is drawn on the tab bar, as the user sees it.
fn tab_column(app: &App, w: u16, h: u16, label: &str) -> u16 {
    let (lines, _) = draw(app, w, h);
    let byte = lines[0].find(label).expect("tab drawn");
    lines[0][..byte].chars().count() as u16 + 1
}

#[test]
fn a_chmod_fix_shows_the_mode_before_and_after_then_y_applies_and_u_undoes() {
    let home = tempfile::tempdir().unwrap();
    let p = SshPaths::with_home(home.path());
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    let key_path = home.path().join(".ssh/id_ed25519");
    std::fs::write(&key_path, b"not read by a chmod").unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut app = App::dashboard(p.clone(), None, p.known_hosts());
    app.update(Msg::Resize(80, 24));
    let mut insp = inspection(vec![perm_finding_at(&key_path)]);
    insp.inspection.paths = p.clone();
    app.update(Msg::Inspected(Box::new(Ok(insp))));

    let effects = app.update(key(KeyCode::Char('f')));
    let [Effect::Prepare(req)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    // The shell's half, run here: the fix module plans against the file as it is now.
    let proposal = fixes::prepare(req, &p).map_err(|e| e.to_string());
    app.update(Msg::Prepared(Box::new(proposal)));
    let (lines, _) = draw(&app, 80, 24);
    let s = screen(&lines);
    assert!(s.contains("Apply this fix?"), "{s}");
    assert!(s.contains("~/.ssh/id_ed25519: mode 0644 → 0600"), "{s}");
    assert!(s.contains("$ chmod 600 ~/.ssh/id_ed25519"), "{s}");
    assert!(s.contains("y: apply it"), "{s}");
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o644,
        "nothing is written before y"
    );

    let effects = app.update(key(KeyCode::Char('y')));
    let [Effect::ApplyPlans(plans)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    let journal = home.path().join("state/journal");
    let applied = fixes::apply_plans(plans, &journal, &p).map_err(|e| e.to_string());
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let effects = app.update(Msg::Applied(applied));
    assert!(effects.contains(&Effect::Inspect), "the view is reloaded");
    let (lines, _) = draw(&app, 80, 24);
    assert!(
        lines[22].contains("Done: ~/.ssh/id_ed25519: mode 0644 → 0600"),
        "{}",
        screen(&lines)
    );
    let effects = app.update(key(KeyCode::Char('u')));
    assert!(
        matches!(effects.as_slice(), [Effect::Undo(_)]),
        "{effects:?}"
    );
}

#[test]
fn trusting_a_changed_host_key_shows_both_fingerprints_and_needs_a_typed_yes() {
    let mut app = changed_dashboard();
    app.update(key(KeyCode::Enter));
    let (lines, _) = draw(&app, 80, 24);
    let s = screen(&lines);
    assert!(
        s.contains("fix: After confirming the new fingerprint out of band, replace"),
        "{s}"
    );
    app.update(key(KeyCode::Down));
    let effects = app.update(key(KeyCode::Char('f')));
    assert_eq!(
        effects,
        vec![Effect::Prepare(Box::new(Request::Trust {
            host: "127.0.0.1".into(),
            port: 2222,
            name: "[127.0.0.1]:2222".into(),
            file: PathBuf::from("/home/alice/.ssh/known_hosts"),
            expected: Some(NEW_FP.into()),
            old: Some((OLD_FP.into(), "ssh-ed25519".into())),
        }))]
    );

    // What the shell computes once it has fetched the server's key.
    let server_key =
        russh::keys::ssh_key::PublicKey::from_openssh(&format!("ssh-ed25519 {ED_A}")).unwrap();
    let server_fp = server_key
        .fingerprint(russh::keys::ssh_key::HashAlg::Sha256)
        .to_string();
    let existing =
        format!("other.example ssh-ed25519 {ED_A}\n[127.0.0.1]:2222 ssh-ed25519 {ED_B}\n");
    let old = (OLD_FP.to_string(), "ssh-ed25519".to_string());
    let input = fixes::TrustInput {
        host: "127.0.0.1",
        port: 2222,
        name: "[127.0.0.1]:2222",
        key: &server_key,
        file: Path::new("/home/alice/.ssh/known_hosts"),
        existing: Some(existing.as_bytes()),
        old: Some(&old),
        salt: None,
    };
    let proposal = fixes::trust_proposal(&input, &paths());
    assert!(proposal.strong);
    app.update(Msg::Prepared(Box::new(Ok(proposal.clone()))));
    let (lines, _) = draw(&app, 100, 30);
    let s = screen(&lines);
    assert!(
        s.contains("The host key CHANGED: trust the new one?"),
        "{s}"
    );
    assert!(
        s.contains("The server 127.0.0.1 port 2222 shows: ssh-ed25519"),
        "{s}"
    );
    assert!(s.contains(&server_fp), "{s}");
    assert!(
        s.contains(&format!("known_hosts holds: ssh-ed25519 {OLD_FP}")),
        "{s}"
    );
    assert!(s.contains("man-in-the-middle"), "{s}");
    assert!(
        s.contains("~/.ssh/known_hosts: 1 line(s) removed, 1 added"),
        "{s}"
    );
    assert!(s.contains("- line 2: [127.0.0.1]:2222 ssh-ed25519"), "{s}");
    assert!(s.contains("Type yes:"), "{s}");

    // At 80x24 the warning does not fit, but how to answer always shows.
    let (lines, _) = draw(&app, 80, 24);
    assert!(screen(&lines).contains("Type yes: █"), "{}", screen(&lines));

    // A bare y (even with Enter) is not enough for a changed key.
    assert!(app.update(key(KeyCode::Char('y'))).is_empty());
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("Nothing changed"));

    app.update(Msg::Prepared(Box::new(Ok(proposal.clone()))));
    for c in "yes".chars() {
        assert!(app.update(key(KeyCode::Char(c))).is_empty());
    }
    let (lines, _) = draw(&app, 100, 30);
    assert!(
        screen(&lines).contains("Type yes: yes"),
        "{}",
        screen(&lines)
    );
    let effects = app.update(key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::ApplyPlans(proposal.plans)]);
}

fn server_report() -> ServerReport {
    ServerReport {
        user: "alice".into(),
        sshd: serde_json::Map::new(),
        sshd_source: "sshd -T".into(),
        authorized_keys: Vec::new(),
        log_lines: Vec::new(),
        listening: vec!["0.0.0.0:22".into()],
        forwarding: None,
        findings: vec![
            Finding::new(
                "strictmodes-mode",
                Severity::Error,
                "The home directory /home/alice is writable by others (mode 0777)",
            )
            .evidence("/home/alice: mode 0777")
            .fix(
                Fix::new(
                    FixId::ChmodGoW,
                    "Remove write permission for group and others",
                    "chmod go-w /home/alice",
                )
                .on(FixTarget::Mode {
                    path: PathBuf::from("/home/alice"),
                    change: ModeChange::ClearGroupOtherWrite,
                }),
            ),
            Finding::new(
                "pubkey-auth-disabled",
                Severity::Error,
                "sshd does not accept keys: PubkeyAuthentication no",
            )
            .evidence("sshd -T: pubkeyauthentication no")
            .fix(Fix::new(
                FixId::SshdConfigSet,
                "Set PubkeyAuthentication yes and reload sshd",
                "sudo sshd -t && sudo systemctl reload ssh",
            )),
        ],
    }
}

#[test]
fn the_server_pane_appears_when_sshd_answers_and_fixes_through_the_fix_module() {
    let mut app = changed_dashboard();
    assert!(app.initial_effects().contains(&Effect::InspectServer));
    // No sshd on this machine: no Server tab.
    app.update(Msg::ServerInspected(Box::new(None)));
    let (lines, _) = draw(&app, 80, 24);
    assert!(!lines[0].contains("Server"), "{}", lines[0]);

    app.update(Msg::ServerInspected(Box::new(Some(Ok(server_report())))));
    let (lines, _) = draw(&app, 100, 24);
    assert!(lines[0].contains("│ Server │"), "{}", lines[0]);
    app.update(key(KeyCode::BackTab));
    let (lines, _) = draw(&app, 100, 24);
    let s = screen(&lines);
    assert!(
        lines[1].contains("sshd for user alice (sshd -T): 2 findings"),
        "{s}"
    );
    assert!(
        lines[3].contains("ERROR") && lines[3].contains("/home/alice is writable by others"),
        "{s}"
    );
    assert!(s.contains("• /home/alice: mode 0777"), "{s}");
    assert!(s.contains("$ chmod go-w /home/alice"), "{s}");
    assert!(lines[23].contains("f fix"), "{s}");

    let effects = app.update(key(KeyCode::Char('f')));
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Prepare(r)] if matches!(&**r, Request::Chmod { path, .. } if path == Path::new("/home/alice"))
        ),
        "{effects:?}"
    );

    // An sshd config edit is shown, with why, and never run.
    app.update(key(KeyCode::Down));
    let effects = app.update(key(KeyCode::Char('f')));
    assert!(effects.is_empty());
    let (lines, _) = draw(&app, 100, 24);
    let s = screen(&lines);
    assert!(s.contains("Run this yourself"), "{s}");
    assert!(
        s.contains("$ sudo sshd -t && sudo systemctl reload ssh"),
        "{s}"
    );
    assert!(s.contains("never changes /etc/ssh itself"), "{s}");
    assert!(app.update(key(KeyCode::Char('y'))).is_empty());

    // sshd's own error is shown as text, escapes made visible.
    app.update(Msg::ServerInspected(Box::new(Some(Err(
        "no user \"x\x1b[2J\" in /etc/passwd".into(),
    )))));
    let (lines, _) = draw(&app, 100, 24);
    let s = screen(&lines);
    assert!(s.contains("Could not inspect sshd's side: no user"), "{s}");
    assert!(!s.contains('\x1b'));
}

#[test]
fn mouse_clicks_select_tabs_and_rows_and_the_wheel_scrolls() {
    let mut app = changed_dashboard();
    // Row 4 on screen is the second finding (tab bar, summary, header, first finding).
    app.update(click(10, 4));
    assert_eq!(app.findings_pane.cursor.pos, 1);
    let (lines, _) = draw(&app, 80, 24);
    assert!(lines[4].contains("ssh ignores ~/.ssh/id_ed25519"));
    // A click below the list changes nothing.
    app.update(click(10, 20));
    assert_eq!(app.findings_pane.cursor.pos, 1);

    let x = tab_column(&app, 80, 24, "known_hosts");
    app.update(click(x, 0));
    assert_eq!(app.current(), sshdoctor::tui::app::Pane::KnownHosts);
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!("host{i}.example ssh-ed25519 {ED_A}\n"));
    }
    app.update(Msg::KnownHostsLoaded(Load::Ready(Loaded::from_bytes(
        text.into_bytes(),
    ))));
    for _ in 0..10 {
        app.update(mouse(MouseEventKind::ScrollDown, 10, 10));
    }
    assert_eq!(app.browser.cursor, 30, "each wheel step moves three rows");
    let (lines, _) = draw(&app, 80, 24);
    assert!(screen(&lines).contains("host30.example"));
    app.update(mouse(MouseEventKind::ScrollUp, 10, 10));
    assert_eq!(app.browser.cursor, 27);
    // Clicking the fifth row shown selects it.
    let top = app.browser.offset;
    app.update(click(10, 3 + 4));
    assert_eq!(app.browser.cursor, top + 4);
    let (lines, _) = draw(&app, 80, 24);
    assert!(lines[7].contains(&format!("host{}.example", top + 4)));

    let x = tab_column(&app, 80, 24, "Permissions");
    app.update(click(x, 0));
    assert_eq!(app.current(), sshdoctor::tui::app::Pane::Permissions);

    app.update(Msg::ServerInspected(Box::new(Some(Ok(server_report())))));
    let x = tab_column(&app, 100, 24, "Server");
    app.update(click(x, 0));
    assert_eq!(app.current(), sshdoctor::tui::app::Pane::Server);
    app.update(click(10, 4));
    assert_eq!(app.server.cursor.pos, 1);
    app.update(mouse(MouseEventKind::ScrollUp, 10, 4));
    assert_eq!(app.server.cursor.pos, 0);
}

#[test]
fn s_in_known_hosts_looks_names_up_only_when_asked() {
    let text = format!("gone.example ssh-ed25519 {ED_A}\nlocalhost ssh-ed25519 {ED_B}\n");
    let mut app = browser_app(&text);
    // Loading marks nothing as unresolved: no lookup happens by itself.
    assert!(app.browser.rows().iter().all(|r| r.stale.is_none()));
    let effects = app.update(key(KeyCode::Char('s')));
    assert_eq!(
        effects,
        vec![Effect::CheckNames(vec![
            "gone.example".into(),
            "localhost".into()
        ])]
    );
    // The answers, as the shell's resolver would send them.
    let answers = [
        ("gone.example".to_string(), Resolution::NoSuchName),
        ("localhost".to_string(), Resolution::Resolves),
    ]
    .into_iter()
    .collect();
    app.update(Msg::NamesChecked(answers));
    let (lines, _) = draw(&app, 120, 30);
    let s = screen(&lines);
    assert!(
        lines[3].contains("gone.example") && lines[3].contains("host no longer resolves"),
        "{s}"
    );
    assert!(!lines[4].contains("resolves"), "{s}");
    assert!(
        lines[28].contains("Checked 2 names: 1 entry no longer resolves"),
        "{s}"
    );
}

#[test]
fn the_readme_keys_table_is_the_key_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let table = keymap::markdown_table();
    if std::env::var_os("SSHDOCTOR_PRINT_KEYS").is_some() {
        print!("{table}");
    }
    assert!(
        readme.contains(&table),
        "README.md's keys table differs from src/tui/keymap.rs; it should be:\n{table}"
    );
}

/// The dashboard and `sshdoctor probe` call each stage the same, starting with its JSON name.
#[test]
fn stage_labels_start_with_the_json_names() {
    for name in sshdoctor::probe::STAGES {
        let label = sshdoctor::probe::stage_label(name);
        assert!(label.starts_with(name), "{label}");
        assert!(sshdoctor::probe::stage_label(&format!("jump:{name}")).starts_with("jump:"));
    }
    assert_eq!(sshdoctor::probe::stage_label("resolve"), "resolve (DNS)");
}

/// Issue 17: the help at 80x24 does not fit; it scrolls, says where it is, and every key's row
/// can be reached (none silently dropped).
#[test]
fn help_scrolls_on_a_short_terminal_and_shows_every_key() {
    let mut app = changed_dashboard();
    app.update(key(KeyCode::Char('?')));
    assert_eq!(app.overlay, Overlay::Help);
    let mut seen = String::new();
    let (lines, _) = draw(&app, 80, 24);
    assert!(screen(&lines).contains("scroll"), "{}", screen(&lines));
    for _ in 0..200 {
        let (lines, _) = draw(&app, 80, 24);
        seen.push_str(&screen(&lines));
        app.update(key(KeyCode::Down));
        assert_eq!(
            app.overlay,
            Overlay::Help,
            "arrows scroll, they do not close"
        );
    }
    for b in keymap::BINDINGS {
        let first_words: String = b.help.split(' ').take(2).collect::<Vec<_>>().join(" ");
        assert!(seen.contains(&first_words), "help never shows {:?}", b.help);
    }
    let last = keymap::BINDINGS.last().unwrap();
    assert!(seen.contains(last.label), "{seen}");
    app.update(key(KeyCode::Char('x')));
    assert_eq!(app.overlay, Overlay::None, "any other key closes");
    // On a tall terminal it fits whole, without a scroll line.
    app.update(key(KeyCode::Char('?')));
    let (lines, _) = draw(&app, 120, 60);
    assert!(
        !screen(&lines).contains("PgDn/PgUp scroll"),
        "{}",
        screen(&lines)
    );
}

/// At 100 columns a long status keeps its end (the undo hint), and at 50x12 (too small) q quits
/// with one press.
#[test]
fn a_long_status_keeps_its_undo_hint_and_q_quits_a_too_small_screen_at_once() {
    let mut app = changed_dashboard();
    app.status = Some(Status {
        text: "Deleted line 3 from /home/alice/.ssh/known_hosts, [127.0.0.1]:42931 and its aliases (previous file in known_hosts.old; u undoes)".into(),
        error: false,
    });
    let (lines, _) = draw(&app, 100, 30);
    let s = screen(&lines);
    assert!(s.contains("u undoes)"), "{s}");
    assert!(s.contains('…'), "{s}");

    let mut app = changed_dashboard();
    app.update(Msg::Resize(50, 12));
    app.update(key(KeyCode::Enter));
    let (lines, _) = draw(&app, 50, 12);
    assert!(screen(&lines).contains("too small"), "{}", screen(&lines));
    app.update(key(KeyCode::Char('q')));
    assert!(app.quit, "one q quits the too-small screen");
}

/// The Keys pane shows a key's certificate (issue 13): a `cert` flag and what it is, in words.
#[test]
fn the_keys_pane_shows_a_keys_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("id_ed25519");
    let ca = dir.path().join("ca");
    for k in [&key_file, &ca] {
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(k)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-I", "alice@corp", "-n", "alice", "-V", "-5m:+2h"])
        .arg(key_file.with_extension("pub"))
        .status()
        .unwrap();
    assert!(st.success());
    let info = sshdoctor::keys::load(&key_file).unwrap();
    assert!(info.certificate.is_some());
    let mut ins = inspection(Vec::new());
    ins.inspection.keys = vec![info];
    let mut app = App::dashboard(paths(), None, PathBuf::from("/home/alice/.ssh/known_hosts"));
    app.update(Msg::Resize(120, 30));
    app.update(Msg::Inspected(Box::new(Ok(ins))));
    while app.current() != sshdoctor::tui::app::Pane::Keys {
        app.update(key(KeyCode::Tab));
    }
    let (lines, _) = draw(&app, 120, 30);
    let s = screen(&lines);
    assert!(s.contains("cert"), "{s}");
    assert!(
        s.contains("user certificate \"alice@corp\": valid for"),
        "{s}"
    );
    assert!(s.contains("1 key file "), "{s}");
}

//! `sshdoctor scan` against real sshd instances and fake listeners on 127.0.0.1, with OpenSSH
//! (`ssh`, `ssh-keyscan`, `ssh-keygen`) as the oracle for what each verdict means.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::run::{sshdoctor, Sshdoctor};
use crate::support::sshd::{self, Ssh, Sshd};
use serde_json::Value;

/// Each stdout line of `scan --json` is one JSON object; keyed by the known_hosts name.
fn json_lines(out: &Output) -> HashMap<String, Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .map(|v| (v["name"].as_str().unwrap_or_default().to_string(), v))
        .collect()
}

/// `ssh-keyscan -p PORT 127.0.0.1` piped through `ssh-keygen -lf -`: OpenSSH's fingerprint of
/// the key the server presents.
fn keyscan_fingerprint(port: u16, key_type: &str) -> String {
    let scan = Command::new("ssh-keyscan")
        .args([
            "-T",
            "3",
            "-t",
            key_type,
            "-p",
            &port.to_string(),
            "127.0.0.1",
        ])
        .stderr(Stdio::null())
        .output()
        .expect("ssh-keyscan");
    let mut child = Command::new("ssh-keygen")
        .args(["-lf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ssh-keygen -lf -");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&scan.stdout).expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn each_host_is_classified_as_ssh_would_see_it() {
    let home = tempfile::tempdir().expect("tempdir");
    let same = Sshd::start();
    let rotated = Sshd::start();
    let retyped = Sshd::builder().host_key_type("rsa").start();
    let old = sshd::keygen(home.path(), "old_host_key", "ed25519", "");
    let closed_guard = sshd::refused_port();
    let closed = closed_guard.port;
    let silent = sshd::silent_listener();
    let http = sshd::http_listener();
    let old_key = sshd::key_words(&old.with_extension("pub"));
    let kh = home.path().join("known_hosts");
    let text = format!(
        "{}[127.0.0.1]:{} {old_key}\n[127.0.0.1]:{} {old_key}\n[127.0.0.1]:{closed} {old_key}\n\
         [127.0.0.1]:{silent} {old_key}\n[127.0.0.1]:{http} {old_key}\n",
        same.known_hosts_line(),
        rotated.port,
        retyped.port,
    );
    std::fs::write(&kh, text).expect("write known_hosts");
    let khs = kh.to_str().expect("utf-8 path");

    let out = sshdoctor(
        home.path(),
        &["scan", "--from", khs, "--json", "--timeout", "5"],
        &[],
    );
    let r = json_lines(&out);
    assert_eq!(r.len(), 6, "one JSON line per host: {out:?}");
    let name = |p: u16| format!("[127.0.0.1]:{p}");
    let status = |p: u16| {
        r[&name(p)]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let reason = |p: u16| {
        r[&name(p)]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    assert_eq!(status(same.port), "unchanged");
    assert_eq!(status(rotated.port), "changed");
    assert_eq!(status(retyped.port), "changed");
    assert_eq!(
        (status(closed), reason(closed)),
        ("unreachable".into(), "refused".into())
    );
    assert_eq!(
        (status(silent), reason(silent)),
        ("unreachable".into(), "timeout".into())
    );
    assert_eq!(status(http), "not-ssh");
    assert!(r[&name(http)]["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("HTTP"));
    assert_eq!(out.status.code(), Some(1), "a changed key is an error");

    // The fingerprints are the ones OpenSSH's ssh-keyscan sees.
    for (port, kt) in [
        (same.port, "ed25519"),
        (rotated.port, "ed25519"),
        (retyped.port, "rsa"),
    ] {
        assert_eq!(
            r[&name(port)]["fingerprint"].as_str(),
            Some(keyscan_fingerprint(port, kt).as_str()),
            "port {port}"
        );
    }
    // The changed entry names the stale line and offers ssh-keygen -R for it.
    let changed = &r[&name(rotated.port)];
    assert_eq!(changed["known"]["line"], 2);
    let fix = changed["fix"]["command"].as_str().unwrap_or_default();
    assert!(
        fix.starts_with("ssh-keygen -f ")
            && fix.contains(&format!("-R '[127.0.0.1]:{}'", rotated.port)),
        "{fix}"
    );

    // ssh agrees: unchanged connects past host key checking, both changed ones are refused.
    for (port, changed) in [
        (same.port, false),
        (rotated.port, true),
        (retyped.port, true),
    ] {
        let o = Ssh::new(home.path(), port, &kh).run();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            changed,
            "port {port}: {err}"
        );
    }
}

#[test]
fn text_output_lists_each_host_and_the_fix() {
    let home = tempfile::tempdir().expect("tempdir");
    let server = Sshd::start();
    let old = sshd::keygen(home.path(), "old", "ed25519", "");
    let kh = home.path().join("known_hosts");
    std::fs::write(
        &kh,
        format!(
            "[127.0.0.1]:{} {}\n",
            server.port,
            sshd::key_words(&old.with_extension("pub"))
        ),
    )
    .expect("write");
    let out = sshdoctor(
        home.path(),
        &["scan", "--from", kh.to_str().expect("utf-8")],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("changed          [127.0.0.1]:{}", server.port)),
        "{text}"
    );
    assert!(text.contains("1 host: 1 changed"), "{text}");
    assert!(text.contains("ssh-keygen -f"), "{text}");
}

#[test]
fn hashed_entries_are_checked_only_for_hosts_named_on_the_command_line() {
    let home = tempfile::tempdir().expect("tempdir");
    let server = Sshd::start();
    let kh = home.path().join("known_hosts");
    std::fs::write(&kh, server.known_hosts_line()).expect("write");
    let hashed = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&kh)
        .output()
        .expect("ssh-keygen -H");
    assert!(hashed.status.success());
    let khs = kh.to_str().expect("utf-8");

    let out = sshdoctor(home.path(), &["scan", "--from", khs, "--json"], &[]);
    assert!(
        out.stdout.is_empty(),
        "a hashed name cannot be read back: {out:?}"
    );

    let target = format!("127.0.0.1:{}", server.port);
    let out = sshdoctor(
        home.path(),
        &["scan", "--known-hosts", khs, "--json", &target],
        &[],
    );
    let r = json_lines(&out);
    let v = &r[&format!("[127.0.0.1]:{}", server.port)];
    assert_eq!(v["status"], "unchanged", "{out:?}");
    assert_eq!(v["origin"], "command line");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn config_hosts_are_resolved_like_ssh_and_unknown_ones_say_so() {
    let home = tempfile::tempdir().expect("tempdir");
    let known = Sshd::start();
    let unknown = Sshd::start();
    let cfg = home.path().join("config");
    std::fs::write(
        &cfg,
        format!(
            "Host lab\n  HostName 127.0.0.1\n  Port {}\nHost other\n  HostName 127.0.0.1\n  Port {}\nHost *\n  User nobody\n",
            known.port, unknown.port
        ),
    )
    .expect("write config");
    let kh = home.path().join("known_hosts");
    std::fs::write(&kh, known.known_hosts_line()).expect("write");
    let out = sshdoctor(
        home.path(),
        &[
            "scan",
            "--from",
            "config",
            "-F",
            cfg.to_str().expect("utf-8"),
            "--known-hosts",
            kh.to_str().expect("utf-8"),
            "--json",
        ],
        &[],
    );
    let r = json_lines(&out);
    assert_eq!(r.len(), 2, "{out:?}");
    let k = &r[&format!("[127.0.0.1]:{}", known.port)];
    assert_eq!(
        (k["status"].as_str(), k["origin"].as_str()),
        (Some("unchanged"), Some("config Host lab"))
    );
    let u = &r[&format!("[127.0.0.1]:{}", unknown.port)];
    assert_eq!(u["status"], "unknown");
}

/// The scanner's connections to `ports` that are open right now, from the kernel's table: a
/// socket of process `pid` whose *remote* port is one of ours and whose state is ESTABLISHED is
/// the scanner's end of a connection it has not closed yet (the listener's ends have our port
/// as local port; other processes on the machine may connect to our ports too).
fn client_sockets_open(ports: &[u16], pid: u32) -> usize {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let rem_port = f
                .get(2)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            f.get(3) == Some(&"01")
                && rem_port.is_some_and(|p| ports.contains(&p))
                && f.get(9).is_some_and(|i| inodes.contains(*i))
        })
        .count()
}

/// Silent listeners that record, each time a client's identification line arrives, how many
/// of the scanner's connections to them are open at that moment (the peak can only rise then).
/// The scanner is the process whose pid is in `scanner` (0 until it is spawned).
fn counting_listeners(n: usize, peak: Arc<AtomicUsize>, scanner: Arc<AtomicU32>) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let ports: Arc<Vec<u16>> = Arc::new(
        listeners
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect(),
    );
    for l in listeners {
        let (ports, peak, scanner) = (Arc::clone(&ports), Arc::clone(&peak), Arc::clone(&scanner));
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let (ports, peak, scanner) =
                    (Arc::clone(&ports), Arc::clone(&peak), Arc::clone(&scanner));
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut buf = [0u8; 256];
                    if matches!(s.read(&mut buf), Ok(n) if n > 0) {
                        let deadline = Instant::now() + Duration::from_secs(30);
                        let mut pid = scanner.load(Ordering::SeqCst);
                        while pid == 0 && Instant::now() < deadline {
                            std::thread::sleep(Duration::from_millis(1));
                            pid = scanner.load(Ordering::SeqCst);
                        }
                        peak.fetch_max(client_sockets_open(&ports, pid), Ordering::SeqCst);
                        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
                    }
                });
            }
        });
    }
    ports.to_vec()
}

#[test]
fn concurrency_bounds_the_open_connections() {
    let home = tempfile::tempdir().expect("tempdir");
    let peak = Arc::new(AtomicUsize::new(0));
    let scanner = Arc::new(AtomicU32::new(0));
    let ports = counting_listeners(9, Arc::clone(&peak), Arc::clone(&scanner));
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    let text: String = ports
        .iter()
        .map(|p| format!("[127.0.0.1]:{p} {key}\n"))
        .collect();
    let kh = home.path().join("known_hosts");
    std::fs::write(&kh, text).expect("write");
    let child = Sshdoctor::new(home.path())
        .args([
            "scan",
            "--from",
            kh.to_str().expect("utf-8"),
            "--json",
            "--concurrency",
            "3",
            // Long enough that the three connections of a round are open together even on a
            // loaded machine (with 0.4 s the first could time out before the third connected).
            "--timeout",
            "2",
        ])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sshdoctor");
    scanner.store(child.id(), Ordering::SeqCst);
    let out = child.wait_with_output().expect("wait for sshdoctor");
    let r = json_lines(&out);
    assert_eq!(r.len(), 9, "{out:?}");
    assert!(r.values().all(|v| v["reason"] == "timeout"), "{r:?}");
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 3, "never more than --concurrency 3 open: {peak}");
    assert!(peak >= 2, "the scan runs connections side by side: {peak}");
}

/// The known_hosts browser's `S`: the same scan, run by the dashboard's effect against real
/// sshds, marks the line whose server now shows another key, confirms the one that still matches
/// and notes the refused port; the marks are drawn in the browser and survive a reload.
#[test]
fn the_browser_scan_marks_the_entry_whose_key_changed() {
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use sshdoctor::tui::browser::{Load, Loaded};
    use sshdoctor::tui::{effects, App, Effect, Msg};

    let home = tempfile::tempdir().expect("tempdir");
    let same = Sshd::start();
    let rotated = Sshd::start();
    let old = sshd::keygen(home.path(), "old_host_key", "ed25519", "");
    let closed_guard = sshd::refused_port();
    let closed = closed_guard.port;
    let old_key = sshd::key_words(&old.with_extension("pub"));
    let kh = home.path().join("known_hosts");
    let text = format!(
        "{}[127.0.0.1]:{} {old_key}\n[127.0.0.1]:{closed} {old_key}\n",
        same.known_hosts_line(),
        rotated.port,
    );
    std::fs::write(&kh, &text).expect("write known_hosts");

    let paths = sshdoctor::paths::SshPaths::with_home(home.path());
    let mut app = App::known_hosts(paths, kh.clone());
    app.update(Msg::Resize(150, 20));
    app.update(Msg::KnownHostsLoaded(Load::Ready(Loaded::from_bytes(
        text.clone().into_bytes(),
    ))));
    let press = |c: char| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    assert!(app.update(press('S')).is_empty(), "S asks first");
    let effects = app.update(press('y'));
    assert_eq!(effects, vec![Effect::Scan(kh.clone())]);

    let (tx, rx) = std::sync::mpsc::channel();
    effects::scan(kh.clone(), tx);
    loop {
        let msg = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the scan ends within its timeouts");
        let done = matches!(msg, Msg::ScanDone(_));
        app.update(msg);
        if done {
            break;
        }
    }
    let draw = |app: &App| {
        let mut t = ratatui::Terminal::new(TestBackend::new(150, 20)).expect("terminal");
        t.draw(|f| app.render(f)).expect("draw");
        let buf = t.backend().buffer().clone();
        (0..20u16)
            .map(|y| {
                (0..150u16)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
    };
    let row = |lines: &[String], port: u16| {
        lines
            .iter()
            .find(|l| l.contains(&format!("[127.0.0.1]:{port}")))
            .cloned()
            .unwrap_or_default()
    };
    let lines = draw(&app);
    let screen = lines.join("\n");
    let new_fp = keyscan_fingerprint(rotated.port, "ed25519");
    assert!(
        row(&lines, rotated.port).contains("KEY CHANGED"),
        "{screen}"
    );
    assert!(row(&lines, same.port).contains("key confirmed"), "{screen}");
    assert!(
        row(&lines, closed).contains("no answer") && row(&lines, closed).contains("refused"),
        "{screen}"
    );
    assert!(
        screen.contains("Scanned 3 hosts: 1 key changed, 1 unreachable, 0 not SSH, 1 unchanged"),
        "{screen}"
    );
    // Enter shows the whole verdict, with the fingerprint ssh-keyscan sees.
    while app.browser.current().map(|r| r.line) != Some(2) {
        app.update(Msg::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)));
    }
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let screen = draw(&app).join("\n");
    assert!(screen.contains(&new_fp), "{screen}");
    // A reload after line 1 was deleted keeps the marks on the lines that moved up.
    let rest = text
        .split_once('\n')
        .map(|(_, r)| r.to_string())
        .unwrap_or_default();
    app.update(Msg::KnownHostsLoaded(Load::Ready(Loaded::from_bytes(
        rest.into_bytes(),
    ))));
    let lines = draw(&app);
    assert!(
        row(&lines, rotated.port).starts_with("     1 "),
        "{lines:?}"
    );
    assert!(row(&lines, rotated.port).contains("KEY CHANGED"));
    assert!(row(&lines, closed).contains("no answer"));
}

/// `|1|salt|hash` for `name`, as `HashKnownHosts yes` writes it (ssh reading the file is the
/// judge of these lines below), with a fixed salt per call site.
fn hashed_name(name: &str, salt: u8) -> String {
    sshdoctor::fix::plan::hashed_name(name, &[salt; 20])
}

/// The scan looks at a host's hashed lines only when its plain lines do not settle the verdict
/// (an HMAC per hashed line is the cost of a big file). Each arrangement of plain and hashed,
/// current and old, marked and unmarked lines gets the verdict real ssh gives.
#[test]
fn plain_and_hashed_lines_together_get_the_verdict_ssh_gives() {
    let home = tempfile::tempdir().expect("tempdir");
    let server = Sshd::start();
    let old = sshd::keygen(home.path(), "old_host_key", "ed25519", "");
    let old_key = sshd::key_words(&old.with_extension("pub"));
    let current = sshd::key_words(&server.host_key_pub());
    let name = format!("[127.0.0.1]:{}", server.port);
    let h = |salt| hashed_name(&name, salt);
    let cases = [
        // plain old + hashed current: ssh finds a match, so does the scan (in the hashed line).
        (
            format!("{name} {old_key}\n{} {current}\n", h(1)),
            "unchanged",
        ),
        // plain current + hashed old: the plain match settles it.
        (
            format!("{} {old_key}\n{name} {current}\n", h(2)),
            "unchanged",
        ),
        // only hashed, old: changed (found through the full lookup).
        (format!("{} {old_key}\n", h(3)), "changed"),
        // plain current, but a hashed @revoked line for that key: revoked wins.
        (
            format!("{name} {current}\n@revoked {} {current}\n", h(4)),
            "revoked",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let kh = home.path().join(format!("known_hosts_{i}"));
        std::fs::write(&kh, text).expect("write");
        let khs = kh.to_str().expect("utf-8");
        let target = format!("127.0.0.1:{}", server.port);
        let out = sshdoctor(
            home.path(),
            &["scan", "--known-hosts", khs, "--json", &target],
            &[],
        );
        let r = json_lines(&out);
        assert_eq!(r[&name]["status"], *want, "case {i}: {out:?}");
        // The oracle: ssh with this file as its known_hosts.
        let o = Ssh::new(home.path(), server.port, &kh).strict("yes").run();
        let err = String::from_utf8_lossy(&o.stderr);
        let ssh_says = if err.contains("REVOKED HOST KEY") {
            "revoked"
        } else if err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
            "changed"
        } else {
            assert!(err.contains("Permission denied"), "case {i}: {err}");
            "unchanged"
        };
        assert_eq!(ssh_says, *want, "case {i}: ssh said {err}");
    }
}

//! End to end: the real binary in a real terminal (tmux), against a real sshd on 127.0.0.1
//! started by the test harness. HOME is a temp dir for every run; the agent and the XDG state
//! dir are unset so the user's own setup is never read or written.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::run::sshdoctor;
use crate::support::sshd::{self, Sshd};
use crate::support::tmux::Tmux;

/// The dashboard (`sshdoctor ARGS`) in a tmux pane with HOME at `home` and no server pane.
fn dashboard(home: &Path, args: &[&str]) -> Tmux {
    Tmux::start_sshdoctor(home, "SSHDOCTOR_NO_SERVER_PANE=1", args)
}

impl Tmux {
    /// The pid of the program the pane's shell is running.
    fn child_pid(&self) -> u32 {
        let sh: u32 = self
            .tmux(&["display-message", "-p", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid");
        let children = std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children"))
            .expect("read children");
        children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the shell has a child")
    }
}

fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("temp HOME");
    std::fs::create_dir_all(home.path().join(".ssh")).expect("mkdir .ssh");
    home
}

/// A known_hosts line from a fresh key: `HOST ssh-ed25519 AAAA...`.
fn kh_line(dir: &Path, host: &str) -> String {
    let key = sshd::keygen(
        dir,
        &format!("k_{}", host.replace(['[', ']', ':'], "_")),
        "ed25519",
        "",
    );
    let text = std::fs::read_to_string(format!("{}.pub", key.display())).expect("read .pub");
    let mut parts = text.split_whitespace();
    format!(
        "{host} {} {}\n",
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default()
    )
}

/// What `ssh-keygen -R NAME` leaves of `content`: the oracle for the removal fix.
fn ssh_keygen_remove(content: &[u8], name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("kh");
    std::fs::write(&f, content).expect("write copy");
    let out = Command::new("ssh-keygen")
        .args(["-R", name, "-f"])
        .arg(&f)
        .env("HOME", dir.path())
        .output()
        .expect("ssh-keygen -R");
    assert!(out.status.success(), "{out:?}");
    std::fs::read(&f).expect("read copy")
}

#[test]
fn changed_host_key_is_shown_with_both_fingerprints_and_removed_with_f_y() {
    let server = Sshd::start();
    let home = home();
    let keys = tempfile::tempdir().expect("tempdir");
    let name = format!("[127.0.0.1]:{}", server.port);
    // known_hosts remembers another key for this server, as after a reinstall.
    let old = kh_line(keys.path(), &name);
    let other = kh_line(keys.path(), "other.example");
    let kh = home.path().join(".ssh/known_hosts");
    let original = format!("{other}{old}");
    std::fs::write(&kh, &original).expect("write known_hosts");
    let old_fp = sshd::fingerprint(
        &keys
            .path()
            .join(format!("k_{}.pub", name.replace(['[', ']', ':'], "_"))),
    );
    let new_fp = sshd::fingerprint(&server.host_key_pub());
    assert_ne!(old_fp, new_fp);

    let t = dashboard(home.path(), &[&format!("root@127.0.0.1:{}", server.port)]);
    let s = t.wait_for(&format!("host key is not the one known for {name}"));
    assert!(s.contains("Findings"), "{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("server now shows:");
    assert!(s.contains(&format!("known key: {old_fp}")), "{s}");
    assert!(s.contains(&format!("server now shows: {new_fp}")), "{s}");
    // `SSHDOCTOR_CAPTURE=FILE cargo test --test suite tui_tmux::changed_host_key` writes this
    // screen (the README's "Dashboard" capture, assets/dashboard-host-key-changed.txt).
    if let Some(out) = std::env::var_os("SSHDOCTOR_CAPTURE") {
        let home_text = home.path().display().to_string();
        let shown = s
            .replace(&home_text, "/home/alice")
            .replace(&server.port.to_string(), "2222");
        std::fs::write(out, shown).expect("write capture");
    }
    // The live test ran: its timeline names the failing stage.
    // (q, not Escape, closes the details: ESC followed at once by Tab reads as Alt-Tab.)
    t.keys(&["q", "Tab"]);
    let s = t.wait_for("Live test of root@127.0.0.1");
    assert!(
        s.contains("✔ resolve (DNS)") && s.contains("✔ connect (TCP)") && s.contains("✘ host-key"),
        "{s}"
    );
    t.keys(&["BTab", "Enter", "f"]);
    let s = t.wait_for("Apply this fix?");
    assert!(s.contains(&format!("-R '{name}'")), "{s}");
    assert!(s.contains("known_hosts: 1 line(s) removed, 0 added"), "{s}");
    t.keys(&["y"]);
    t.wait_for("Done: ~/.ssh/known_hosts: 1 line(s) removed");
    assert_eq!(
        std::fs::read(&kh).expect("read known_hosts"),
        ssh_keygen_remove(original.as_bytes(), &name),
        "the same bytes ssh-keygen -R leaves"
    );
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), other);
    assert_eq!(
        std::fs::read(home.path().join(".ssh/known_hosts.old")).unwrap(),
        original.as_bytes()
    );
    t.keys(&["q", "q"]);
    t.wait_for("EXIT=0");
}

#[test]
fn browser_filters_deletes_two_entries_and_undoes_one() {
    let home = home();
    let keys = tempfile::tempdir().expect("tempdir");
    let lines = [
        kh_line(keys.path(), "alpha.example"),
        kh_line(keys.path(), "beta.example"),
        kh_line(keys.path(), "alpha2.example"),
        kh_line(keys.path(), "gamma.example"),
    ];
    let file: PathBuf = home.path().join("fixture_known_hosts");
    let original = lines.concat();
    std::fs::write(&file, &original).expect("write fixture");

    let t = dashboard(
        home.path(),
        &["known-hosts", "-f", &file.display().to_string()],
    );
    t.wait_for("4 entries, 0 malformed");
    t.keys(&["/", "a", "l", "p", "h", "a"]);
    let s = t.wait_for("(2 shown)");
    assert!(
        s.contains("alpha.example") && s.contains("alpha2.example"),
        "{s}"
    );
    assert!(
        !s.contains("beta.example") && !s.contains("gamma.example"),
        "{s}"
    );
    t.keys(&["Enter", "d"]);
    let s = t.wait_for("Delete 1 line from");
    assert!(s.contains("1: alpha.example ssh-ed25519"), "{s}");
    t.keys(&["y"]);
    t.wait_for("Deleted line 1");
    // The list is read again and the filter stays.
    let s = t.wait_for("3 entries, 0 malformed, filter \"alpha\": 1 shown");
    assert!(
        s.contains("alpha2.example") && !s.contains("beta.example"),
        "{s}"
    );
    t.keys(&["d"]);
    let s = t.wait_for("Delete 1 line from");
    assert!(s.contains("2: alpha2.example ssh-ed25519"), "{s}");
    t.keys(&["y"]);
    t.wait_for("Deleted line 2");
    t.wait_for("2 entries, 0 malformed");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{}{}", lines[1], lines[3])
    );
    t.keys(&["u"]);
    t.wait_for("Undone: line 2 back");
    t.wait_for("3 entries, 0 malformed");
    t.keys(&["q", "q"]);
    t.wait_for("EXIT=0");
    let after_first = format!("{}{}{}", lines[1], lines[2], lines[3]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after_first);
    // The same bytes as ssh-keygen -R alpha.example on the original.
    assert_eq!(
        std::fs::read(&file).unwrap(),
        ssh_keygen_remove(original.as_bytes(), "alpha.example")
    );
    // FILE.old holds, byte for byte, the file before the last deletion.
    assert_eq!(
        std::fs::read_to_string(home.path().join("fixture_known_hosts.old")).unwrap(),
        after_first
    );
}

#[test]
fn sigterm_restores_the_terminal() {
    let home = home();
    let t = dashboard(home.path(), &[]);
    t.wait_for("Findings");
    assert_eq!(
        t.tmux(&["display-message", "-p", "#{alternate_on}"]).trim(),
        "1"
    );
    let pid = t.child_pid();
    // SAFETY: kill(2) on a pid this test's tmux server started.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let s = t.wait_for("EXIT=");
    assert!(s.contains("EXIT=0"), "{s}");
    // Back on the main screen, mouse reporting off, cooked mode with echo.
    assert_eq!(
        t.tmux(&["display-message", "-p", "#{alternate_on}"]).trim(),
        "0"
    );
    assert_eq!(
        t.tmux(&["display-message", "-p", "#{mouse_any_flag}"])
            .trim(),
        "0"
    );
    assert_eq!(
        t.tmux(&["display-message", "-p", "#{cursor_flag}"]).trim(),
        "1"
    );
    let s = t.wait_for("icanon");
    let words: Vec<&str> = s.split_whitespace().collect();
    assert!(words.contains(&"icanon") && words.contains(&"echo"), "{s}");
    assert!(
        !words.contains(&"-icanon") && !words.contains(&"-echo"),
        "{s}"
    );
}

#[test]
fn an_open_private_key_is_fixed_with_f_y_and_undone_by_sshdoctor_undo() {
    let home = home();
    let key = sshd::keygen(&home.path().join(".ssh"), "id_ed25519", "ed25519", "");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let t = dashboard(home.path(), &[]);
    t.wait_for("its permissions 0644 are too open");
    t.keys(&["f"]);
    let s = t.wait_for("Apply this fix?");
    assert!(s.contains("~/.ssh/id_ed25519: mode 0644 → 0600"), "{s}");
    assert!(s.contains("$ chmod 600 ~/.ssh/id_ed25519"), "{s}");
    assert_eq!(mode(&key), 0o644, "nothing changes before y");
    t.keys(&["y"]);
    t.wait_for("Done: ~/.ssh/id_ed25519: mode 0644 → 0600");
    assert_eq!(mode(&key), 0o600);
    t.keys(&["q"]);
    t.wait_for("EXIT=0");

    let out = sshdoctor(home.path(), &["undo", "--yes"], &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&key), 0o644, "undo puts the old mode back");
}

#[test]
fn a_changed_host_key_is_trusted_only_after_typing_yes() {
    let server = Sshd::start();
    let home = home();
    let keys = tempfile::tempdir().expect("tempdir");
    let name = format!("[127.0.0.1]:{}", server.port);
    let old = kh_line(keys.path(), &name);
    let kh = home.path().join(".ssh/known_hosts");
    std::fs::write(&kh, &old).expect("write known_hosts");
    let new_fp = sshd::fingerprint(&server.host_key_pub());

    let t = dashboard(home.path(), &[&format!("root@127.0.0.1:{}", server.port)]);
    t.wait_for(&format!("host key is not the one known for {name}"));
    t.keys(&["Enter", "Down", "f"]);
    let s = t.wait_for("Type yes:");
    assert!(s.contains("The host key CHANGED"), "{s}");
    assert!(s.contains(&new_fp), "the server's fingerprint: {s}");
    assert!(s.contains("known_hosts holds: ssh-ed25519"), "{s}");
    assert!(s.contains("man-in-the-middle"), "{s}");
    // y and Enter is a no.
    t.keys(&["y", "Enter"]);
    t.wait_for("Nothing changed");
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), old);
    t.keys(&["f"]);
    t.wait_for("Type yes:");
    t.keys(&["y", "e", "s", "Enter"]);
    t.wait_for("Done: ~/.ssh/known_hosts: 1 line(s) removed, 1 added");
    t.keys(&["q", "q"]);
    t.wait_for("EXIT=0");
    // ssh-keygen -F now finds exactly the server's key for the name.
    let out = Command::new("ssh-keygen")
        .args(["-F", &name, "-f"])
        .arg(&kh)
        .output()
        .expect("ssh-keygen -F");
    let found = String::from_utf8_lossy(&out.stdout);
    let server_pub = std::fs::read_to_string(server.host_key_pub()).expect("read host key");
    let blob = server_pub.split_whitespace().nth(1).expect("key blob");
    assert!(found.contains(blob), "{found}");
    assert!(
        !found.contains(old.split_whitespace().nth(2).unwrap()),
        "{found}"
    );
}

/// Issue 17: "You have no SSH private key" is fixed from the dashboard: `f` offers to run
/// `sshdoctor fix generate-key` here, the dashboard steps aside while it asks for the passphrase
/// and confirmation in the terminal, then comes back with the finding gone; `u` undoes it.
#[test]
fn a_missing_key_is_generated_from_the_dashboard_in_the_terminal() {
    let home = home();
    let t = dashboard(home.path(), &[]);
    t.wait_for("You have no SSH private key");
    t.keys(&["f"]);
    let s = t.wait_for("Run this fix here?");
    assert!(s.contains("sshdoctor fix generate-key"), "{s}");
    t.keys(&["y"]);
    t.wait_for("Enter passphrase for the new key");
    t.keys(&["Enter"]);
    t.wait_for("Enter the same passphrase again");
    t.keys(&["Enter"]);
    t.wait_for("[y/N]");
    t.keys(&["y", "Enter"]);
    t.wait_for("press Enter to go back to the dashboard");
    let key = home.path().join(".ssh/id_ed25519");
    assert!(key.is_file(), "the key was written");
    // ssh-keygen agrees it is a key without a passphrase.
    let out = std::process::Command::new("ssh-keygen")
        .args(["-y", "-P", "", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success(), "{out:?}");
    t.keys(&["Enter"]);
    let s = t.wait_for("Done: sshdoctor fix generate-key");
    assert!(s.contains("u undoes"), "{s}");
    // The dashboard looked again: the finding is gone.
    let start = Instant::now();
    while t.screen().contains("You have no SSH private key") {
        assert!(start.elapsed() < Duration::from_secs(60), "{}", t.screen());
        std::thread::sleep(Duration::from_millis(40));
    }
    t.keys(&["u"]);
    let start = Instant::now();
    while key.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "u undoes the new key: {}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(40));
    }
    t.keys(&["q"]);
    t.wait_for("EXIT=0");
}

/// Issue 17: the dashboard looks again when ~/.ssh changes: a key generated in another shell
/// makes "You have no SSH private key" go away without a key press; `r` without a target
/// looks again too (and says so).
#[test]
fn the_dashboard_sees_a_key_generated_in_another_shell() {
    let home = home();
    let t = dashboard(home.path(), &[]);
    t.wait_for("You have no SSH private key");
    // "Another shell": ssh-keygen, run by the test.
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(home.path().join(".ssh/id_ed25519"))
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let start = Instant::now();
    while t.screen().contains("You have no SSH private key") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the dashboard never looked again: {}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(40));
    }
    t.keys(&["r"]);
    t.wait_for("Looked again");
    t.keys(&["q"]);
    t.wait_for("EXIT=0");
}

//! Issue 14, `probe --password` over keyboard-interactive with a second question (an OTP's
//! `Verification code:`), against the in-process server of `support::kbd_server` (the test sshd
//! runs without PAM, so it cannot ask two questions). Off a terminal the probe sends the password,
//! sees the second question and stops there (`kbd-interactive-needs-input`, the prompt as
//! evidence, not a failure); on a terminal (tmux) it shows the question, reads the code without
//! echo and logs in, one attempt.

use crate::support::kbd_server;
use crate::support::run::{ids_of, Sshdoctor};
use crate::support::sshd;
use crate::support::tmux::Tmux;

const PASSWORD: &str = "horse-battery";
const CODE: &str = "424242";

struct Lab {
    home: tempfile::TempDir,
    port: u16,
    answers: kbd_server::Answers,
    kh: std::path::PathBuf,
}

fn lab() -> Lab {
    let home = tempfile::tempdir().expect("tempdir");
    let key = sshd::keygen(home.path(), "host_ed25519", "ed25519", "");
    let (port, answers) = kbd_server::start(&key, PASSWORD, CODE);
    let kh = home.path().join("known_hosts");
    let line = format!(
        "[127.0.0.1]:{port} {}\n",
        sshd::key_words(&key.with_extension("pub"))
    );
    std::fs::write(&kh, line).expect("known_hosts");
    Lab {
        home,
        port,
        answers,
        kh,
    }
}

#[test]
fn a_second_question_off_a_terminal_is_needs_input_and_nothing_more_is_sent() {
    let lab = lab();
    let (code, v) = Sshdoctor::new(lab.home.path())
        .args([
            "probe",
            "--password",
            "--json",
            "--no-cross-check",
            "-F",
            "/dev/null",
        ])
        .arg("--known-hosts")
        .arg(&lab.kh)
        .arg(format!("root@127.0.0.1:{}", lab.port))
        .stdin(&format!("{PASSWORD}\n"))
        .json();
    assert_eq!(code, Some(0), "a question, not a failure: {v:#}");
    assert!(
        ids_of(&v).contains(&"kbd-interactive-needs-input".to_string()),
        "{v:#}"
    );
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "kbd-interactive-needs-input")
        .unwrap();
    assert_eq!(f["severity"], "warning");
    assert!(
        f["evidence"]
            .to_string()
            .contains("the server asks: Verification code:"),
        "{f:#}"
    );
    let login = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "login")
        .unwrap();
    assert_eq!(login["status"], "skipped", "{v:#}");
    assert!(!v.to_string().contains(PASSWORD), "{v}");
    // The password went once; nothing was sent for the code.
    let answers = lab.answers.lock().unwrap().clone();
    assert_eq!(answers, vec![vec![PASSWORD.to_string()]]);
}

#[test]
fn on_a_terminal_the_second_question_is_asked_without_echo_and_logs_in() {
    let lab = lab();
    let kh = lab.kh.display().to_string();
    let target = format!("root@127.0.0.1:{}", lab.port);
    let t = Tmux::start_sshdoctor(
        lab.home.path(),
        "",
        &[
            "probe",
            "--password",
            "--no-cross-check",
            "-F",
            "/dev/null",
            "--known-hosts",
            &kh,
            &target,
        ],
    );
    t.wait_for("password:");
    t.tmux(&["send-keys", "-l", PASSWORD]);
    t.keys(&["Enter"]);
    t.wait_for("Verification code:");
    t.tmux(&["send-keys", "-l", CODE]);
    t.keys(&["Enter"]);
    let screen = t.wait_for_scrollback("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(screen.contains("authenticated with a password"), "{screen}");
    assert!(!screen.contains(CODE), "the code is not echoed: {screen}");
    assert!(!screen.contains(PASSWORD), "{screen}");
    let answers = lab.answers.lock().unwrap().clone();
    assert_eq!(
        answers,
        vec![vec![PASSWORD.to_string()], vec![CODE.to_string()]]
    );
}

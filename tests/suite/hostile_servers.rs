//! Hostile servers on 127.0.0.1: each listener does one nasty thing (endless banner, 1 MB of
//! pre-banner text, one byte a second, terminal escapes, a hang-up mid key exchange, a 4 GB
//! packet, silence). The probe must end within its timeout with a named diagnosis, keep bounded
//! memory, and never put a raw control character on the screen or in the JSON.
//!
//! Where it is quick, the real `ssh` is run against the same server first: OpenSSH is the oracle
//! for "this server is broken", the probe must agree and say it in plain words.

use crate::support;

use crate::support::ids;
use crate::support::run::Sshdoctor;
use crate::support::sshd::{listener as hostile, Ssh};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use sshdoctor::probe::{ProbeReport, StageStatus};

/// Reads (and drops) whatever the client sends for up to `ms` milliseconds.
fn drain(s: &mut TcpStream, ms: u64) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(ms)));
    let mut buf = [0u8; 4096];
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// (a) `SSH-2.0-` followed by an identification line that never ends.
fn endless_banner(mut s: TcpStream) {
    let _ = s.write_all(b"SSH-2.0-");
    let chunk = [b'A'; 4096];
    // Up to 100 MB: stops as soon as the client hangs up.
    for _ in 0..25_600 {
        if s.write_all(&chunk).is_err() {
            return;
        }
    }
}

/// (b) 1 MB of chatty pre-banner lines, then a proper identification line.
fn megabyte_prebanner(mut s: TcpStream) {
    let line = b"Welcome to the friendly server, please wait while we warm up the hamsters...\r\n";
    let mut sent = 0usize;
    while sent < 1 << 20 {
        if s.write_all(line).is_err() {
            return;
        }
        sent += line.len();
    }
    let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
    drain(&mut s, 3000);
}

/// (c) A valid identification line, one byte a second.
fn one_byte_a_second(mut s: TcpStream) {
    for b in b"SSH-2.0-OpenSSH_9.2\r\n" {
        if s.write_all(&[*b]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The escape sequences a hostile server would like a terminal to run: set the window title,
/// clear the screen, ring the bell, move the cursor, OSC 52 (write the clipboard), a bare CR.
const EVIL: &str =
    "\x1b]0;pwned\x07\x1b[2J\x1b[H\x1b[31mRED\x1b]52;c;ZXZpbA==\x07\r\x08\x7f\u{9b}31m";

/// (d) Escapes in a pre-banner line, in the identification line, and in a clear-text
/// SSH_MSG_DISCONNECT sent as the first packet.
fn escape_sequences(mut s: TcpStream) {
    let mut out = format!("hi{EVIL}\r\nSSH-2.0-Evil{}\r\n", EVIL.replace('\r', "")).into_bytes();
    let mut payload = vec![1u8]; // SSH_MSG_DISCONNECT
    payload.extend_from_slice(&2u32.to_be_bytes()); // protocol error
    let msg = format!("bye{EVIL}");
    payload.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    payload.extend_from_slice(msg.as_bytes());
    payload.extend_from_slice(&0u32.to_be_bytes()); // language tag
    out.extend(packet(&payload));
    let _ = s.write_all(&out);
    drain(&mut s, 3000);
}

/// (e) A proper identification and KEXINIT, then a hang-up once the client has answered.
fn close_mid_kex(mut s: TcpStream) {
    let mut out = b"SSH-2.0-OpenSSH_9.2\r\n".to_vec();
    out.extend(packet(&kexinit()));
    let _ = s.write_all(&out);
    drain(&mut s, 300);
    let _ = s.shutdown(std::net::Shutdown::Both);
}

/// (f) A proper identification, then a packet header announcing 4 GB, then a trickle.
fn four_gb_packet(mut s: TcpStream) {
    let mut out = b"SSH-2.0-OpenSSH_9.2\r\n".to_vec();
    out.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    out.extend_from_slice(&[4, 20]);
    out.extend_from_slice(&[0u8; 64]);
    let _ = s.write_all(&out);
    drain(&mut s, 3000);
}

/// (g1) Accepts and never says a word.
fn silent(mut s: TcpStream) {
    drain(&mut s, 4000);
}

/// (g2) Identifies itself properly, then never answers the key exchange.
fn silent_after_banner(mut s: TcpStream) {
    let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
    drain(&mut s, 4000);
}

/// An unencrypted SSH binary packet (RFC 4253 §6) around `payload`, padded to 8 bytes.
fn packet(payload: &[u8]) -> Vec<u8> {
    let mut pad = 8 - (payload.len() + 5) % 8;
    if pad < 4 {
        pad += 8;
    }
    let len = (payload.len() + pad + 1) as u32;
    let mut p = len.to_be_bytes().to_vec();
    p.push(pad as u8);
    p.extend_from_slice(payload);
    p.extend(std::iter::repeat_n(0u8, pad));
    p
}

/// A KEXINIT offering algorithms russh and OpenSSH both speak, so the exchange gets going.
fn kexinit() -> Vec<u8> {
    let mut p = vec![20u8];
    p.extend_from_slice(&[7u8; 16]);
    for list in [
        "curve25519-sha256",
        "ssh-ed25519",
        "aes128-ctr",
        "aes128-ctr",
        "hmac-sha2-256",
        "hmac-sha2-256",
        "none",
        "none",
        "",
        "",
    ] {
        p.extend_from_slice(&(list.len() as u32).to_be_bytes());
        p.extend_from_slice(list.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&[0; 4]);
    p
}

/// Runs the probe and returns its report and how long it took.
/// The probe's timeout in tests of servers that end the exchange themselves, and the bound the
/// probe must end within: far below the timeout, so "ended at once" is told from "timed out"
/// even on a loaded machine.
const AT_ONCE_TIMEOUT: Duration = Duration::from_secs(60);
const AT_ONCE: Duration = Duration::from_secs(20);

/// How far past its timeout a probe may end on a loaded machine and still count as cut off at
/// the timeout (a server that holds the connection would keep it for 30 s or for ever).
const TIMEOUT_SLACK: Duration = Duration::from_secs(5);

fn probe_for(port: u16, timeout: Duration) -> (ProbeReport, Duration) {
    let mut o = support::probe_options(port, vec![], None);
    o.timeout = timeout;
    let t0 = Instant::now();
    let r = support::probe(o);
    (r, t0.elapsed())
}

fn failed_stage(r: &ProbeReport) -> &str {
    r.stages
        .iter()
        .find(|s| s.status == StageStatus::Fail)
        .map(|s| s.stage.as_str())
        .unwrap_or("none")
}

/// Every text the report would show: stage details, titles, explanations, evidence, fixes, the
/// banner. None may hold a control character (a newline inside one line of text included).
fn assert_no_control_chars(r: &ProbeReport) {
    let mut texts: Vec<&str> = Vec::new();
    for s in &r.stages {
        texts.push(&s.detail);
    }
    for f in &r.findings {
        texts.push(&f.title);
        texts.push(&f.explanation);
        texts.extend(f.evidence.iter().map(String::as_str));
        for x in &f.fixes {
            texts.push(&x.title);
            texts.push(&x.command);
        }
    }
    if let Some(b) = &r.server.banner {
        texts.push(b);
    }
    for t in texts {
        assert!(
            !t.chars().any(char::is_control),
            "control character in report text: {t:?}"
        );
    }
}

/// The real ssh against the same server: its stderr (what OpenSSH makes of it).
fn ssh_says(port: u16, connect_timeout: u32) -> String {
    let home = tempfile::tempdir().expect("tempdir");
    let out = Ssh::new(home.path(), port, &home.path().join("known_hosts"))
        .connect_timeout(connect_timeout)
        .run();
    String::from_utf8_lossy(&out.stderr).replace('\r', "")
}

#[test]
fn endless_banner_line_is_not_ssh_and_ends_at_once() {
    let port = hostile(endless_banner);
    let ssh = ssh_says(port, 2);
    assert!(
        ssh.contains("kex_exchange_identification"),
        "ssh said: {ssh}"
    );

    let (r, took) = probe_for(port, AT_ONCE_TIMEOUT);
    assert!(took < AT_ONCE, "{took:?}");
    assert_eq!(ids(&r), ["not-ssh"], "{:#?}", r.findings);
    assert_eq!(failed_stage(&r), "banner");
    // The evidence quotes the start of what the server sent, cut short.
    let ev = r.findings[0].evidence.join("\n");
    assert!(ev.contains("SSH-2.0-AAAA"), "{ev}");
    assert!(
        ev.len() < 1000,
        "evidence is not bounded: {} bytes",
        ev.len()
    );
    assert_no_control_chars(&r);
}

#[test]
fn a_megabyte_of_pre_banner_text_is_not_ssh() {
    let port = hostile(megabyte_prebanner);
    let ssh = ssh_says(port, 2);
    assert!(
        ssh.contains("kex_exchange_identification"),
        "ssh said: {ssh}"
    );

    let (r, took) = probe_for(port, AT_ONCE_TIMEOUT);
    assert!(took < AT_ONCE, "{took:?}");
    assert_eq!(ids(&r), ["not-ssh"], "{:#?}", r.findings);
    let ev = r.findings[0].evidence.join("\n");
    assert!(ev.contains("Welcome to the friendly server"), "{ev}");
    assert_no_control_chars(&r);
}

#[test]
fn one_byte_a_second_is_a_banner_timeout_not_a_wrong_protocol() {
    let port = hostile(one_byte_a_second);
    let (r, took) = probe_for(port, Duration::from_secs(2));
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(2) + TIMEOUT_SLACK,
        "{took:?}"
    );
    assert_eq!(ids(&r), ["banner-timeout"], "{:#?}", r.findings);
    let ev = r.findings[0].evidence.join("\n");
    assert!(ev.contains("\"SS"), "the partial bytes are evidence: {ev}");
    assert_no_control_chars(&r);
}

#[test]
fn escape_sequences_from_the_server_never_reach_the_report_raw() {
    let port = hostile(escape_sequences);
    let (r, took) = probe_for(port, AT_ONCE_TIMEOUT);
    assert!(took < AT_ONCE, "{took:?}");
    assert_eq!(failed_stage(&r), "kex", "{:#?}", r.stages);
    assert_eq!(ids(&r), ["connection-closed"], "{:#?}", r.findings);
    // The server's words are still shown, defanged.
    let banner = r.server.banner.clone().unwrap_or_default();
    assert!(banner.starts_with("SSH-2.0-Evil"), "{banner:?}");
    assert!(banner.contains("RED"), "{banner:?}");
    let ev = r.findings[0].evidence.join("\n");
    assert!(
        ev.contains("bye"),
        "the disconnect message is evidence: {ev}"
    );
    assert_no_control_chars(&r);
}

#[test]
fn a_hang_up_mid_key_exchange_is_connection_closed() {
    let port = hostile(close_mid_kex);
    let ssh = ssh_says(port, 2);
    assert!(ssh.contains("Connection closed by"), "ssh said: {ssh}");

    let (r, took) = probe_for(port, AT_ONCE_TIMEOUT);
    assert!(took < AT_ONCE, "{took:?}");
    assert_eq!(failed_stage(&r), "kex");
    assert_eq!(ids(&r), ["connection-closed"], "{:#?}", r.findings);
    assert!(
        r.findings[0].title.contains("during key exchange"),
        "{}",
        r.findings[0].title
    );
    assert_eq!(r.server.banner.as_deref(), Some("SSH-2.0-OpenSSH_9.2"));
    assert_no_control_chars(&r);
}

#[test]
fn a_4_gb_packet_is_refused_without_allocating_it() {
    let port = hostile(four_gb_packet);
    let ssh = ssh_says(port, 2);
    assert!(ssh.contains("Bad packet length"), "ssh said: {ssh}");

    let (r, took) = probe_for(port, AT_ONCE_TIMEOUT);
    assert!(took < AT_ONCE, "{took:?}");
    assert_eq!(failed_stage(&r), "kex");
    assert_eq!(ids(&r), ["protocol-violation"], "{:#?}", r.findings);
    let ev = r.findings[0].evidence.join("\n");
    assert!(
        ev.contains("4294967280"),
        "the announced size is evidence: {ev}"
    );
    assert_no_control_chars(&r);
}

#[test]
fn a_server_that_never_answers_is_cut_off_at_the_timeout() {
    let port = hostile(silent);
    let (r, took) = probe_for(port, Duration::from_secs(1));
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(1) + TIMEOUT_SLACK,
        "{took:?}"
    );
    assert_eq!(ids(&r), ["banner-timeout"]);

    let port = hostile(silent_after_banner);
    let (r, took) = probe_for(port, Duration::from_secs(1));
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(1) + TIMEOUT_SLACK,
        "{took:?}"
    );
    assert_eq!(failed_stage(&r), "kex");
    assert_eq!(ids(&r), ["connection-closed"], "{:#?}", r.findings);
    let ev = r.findings[0].evidence.join("\n");
    assert!(ev.contains("not finished within 1.0 s"), "{ev}");
}

/// Runs `sshdoctor probe` against a port with an empty HOME and no agent; returns stdout,
/// stderr and the probe's peak RSS in kB.
///
/// The peak comes from GNU time (`/usr/bin/time -f %M`): a process spawned straight from this
/// (large, multi-threaded) test binary inherits the parent's RSS high-water mark at exec, so
/// wait4's `ru_maxrss` would measure the test, not sshdoctor; time forks from a tiny process.
fn cli_probe(port: u16, extra: &[&str], home: &Path) -> (Vec<u8>, Vec<u8>, u64) {
    let rss_file = home.join(format!("rss-{port}-{}", extra.len()));
    let rss_arg = rss_file.to_str().expect("utf-8 path");
    let out = Sshdoctor::under(home, &["/usr/bin/time", "-f", "%M", "-o", rss_arg])
        .args(["probe", &format!("root@127.0.0.1:{port}"), "--timeout", "2"])
        .args(["--known-hosts", "/dev/null", "-F", "/dev/null"])
        .args(extra)
        .output();
    let rss = std::fs::read_to_string(&rss_file).unwrap_or_default();
    let kb = rss
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no RSS from time: {rss:?}"));
    (out.stdout, out.stderr, kb)
}

/// Bytes a terminal would interpret: every C0 control except newline, DEL, and C1 controls.
fn raw_controls(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .char_indices()
        .filter(|(_, c)| c.is_control() && *c != '\n')
        .map(|(i, c)| format!("{c:?} at {i}"))
        .collect()
}

#[test]
fn cli_text_and_json_show_escapes_escaped() {
    let home = tempfile::tempdir().expect("tempdir");
    let port = hostile(escape_sequences);
    let (out, err, _) = cli_probe(port, &[], home.path());
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("SSH-2.0-Evil"), "{text}");
    assert!(text.contains("connection-closed"), "{text}");
    assert_eq!(raw_controls(&out), Vec::<String>::new(), "{text}");
    assert_eq!(raw_controls(&err), Vec::<String>::new());

    let (out, err, _) = cli_probe(port, &["--json"], home.path());
    assert_eq!(raw_controls(&out), Vec::<String>::new());
    assert_eq!(raw_controls(&err), Vec::<String>::new());
    let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    let banner = v["server"]["banner"].as_str().unwrap_or_default();
    assert!(banner.starts_with("SSH-2.0-Evil"), "{banner:?}");
    // Not only escaped by JSON: the decoded strings are clean too, for a consumer that prints them.
    assert!(!banner.chars().any(char::is_control), "{banner:?}");
}

#[test]
fn cli_memory_stays_bounded_against_a_flooding_server() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut peaks = Vec::new();
    for serve in [endless_banner, megabyte_prebanner, four_gb_packet] {
        let port = hostile(serve);
        let t0 = Instant::now();
        let (out, _, rss_kb) = cli_probe(port, &["--json"], home.path());
        eprintln!("peak RSS {rss_kb} kB");
        // `--timeout 2`: the flood is cut off, not waited out (the servers go on for minutes).
        assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert!(v["findings"][0]["id"].is_string(), "{v}");
        peaks.push(rss_kb);
    }
    // A 4 GB allocation or a buffered 100 MB flood would show here; the whole binary is ~10 MB.
    for kb in &peaks {
        assert!(*kb < 64 * 1024, "peak RSS {kb} kB: {peaks:?}");
        assert!(*kb > 1000, "implausible RSS {kb} kB");
    }
}

//! `slow-login`: a login that works but is slow. A loopback TCP proxy in front of real sshd
//! holds the server's first bytes (its banner) back for far longer than the threshold, as a
//! server doing a reverse DNS lookup that times out would; the probe must name the stage, its
//! time and the usual causes. The delay is twice the threshold, so a loaded machine cannot
//! make the test pass or fail by chance, and nothing asserts that anything is fast.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

use crate::support::run::{ids_of, Sshdoctor};
use crate::support::sshd::{self, Ssh, Sshd};

const DELAY: Duration = Duration::from_secs(6);

/// Copies `from` to `to` until either end closes; the first chunk after `delay`.
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let mut buf = [0u8; 16384];
    let mut first = true;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if first {
            std::thread::sleep(delay);
            first = false;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// A proxy on 127.0.0.1 to `port` that delays the server's first bytes by `delay`.
fn slow_proxy(port: u16, delay: Duration) -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let me = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
                continue;
            };
            let (c2, s2) = match (client.try_clone(), server.try_clone()) {
                (Ok(c), Ok(s)) => (c, s),
                _ => continue,
            };
            std::thread::spawn(move || pump(server, client, delay));
            std::thread::spawn(move || pump(c2, s2, Duration::ZERO));
        }
    });
    me
}

#[test]
fn a_slow_banner_is_a_slow_login_warning_naming_the_stage() {
    let server = Sshd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = sshd::keygen(dir.path(), "id_ed25519", "ed25519", "");
    server.authorize(&key.with_extension("pub"));
    let port = slow_proxy(server.port, DELAY);
    let kh = dir.path().join("known_hosts");
    let words = sshd::key_words(&server.host_key_pub());
    std::fs::write(&kh, format!("[127.0.0.1]:{port} {words}\n")).expect("write");
    // Real ssh logs in through the proxy, only later.
    let out = Ssh::new(dir.path(), port, &kh)
        .key(&key)
        .connect_timeout(30)
        .run();
    assert!(out.status.success(), "{}", crate::support::stderr(&out));

    let target = format!("root@127.0.0.1:{port}");
    for cross in [true, false] {
        let mut run = Sshdoctor::new(dir.path()).args([
            "probe",
            &target,
            "-i",
            key.to_str().expect("utf-8"),
            "--known-hosts",
            kh.to_str().expect("utf-8"),
            "--timeout",
            "30",
            "--slow-after",
            "3",
            "--json",
        ]);
        if !cross {
            run = run.arg("--no-cross-check");
        }
        let (code, v) = run.json();
        // It works: a warning, exit 0.
        assert_eq!(code, Some(0), "{v:#}");
        let ids = ids_of(&v);
        assert!(ids.contains(&"auth-ok".to_string()), "{ids:?}");
        let slow: Vec<&serde_json::Value> = v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["id"] == "slow-login")
            .collect();
        let f = slow
            .iter()
            .find(|f| {
                f["title"]
                    .as_str()
                    .is_some_and(|t| t.contains("the banner stage"))
            })
            .unwrap_or_else(|| panic!("no slow banner in {v:#}"));
        assert_eq!(f["severity"], "warning");
        let ms = v["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .find(|s| s["stage"] == "banner")
            .and_then(|s| s["ms"].as_u64())
            .expect("banner ms");
        assert!(ms >= DELAY.as_millis() as u64, "{ms}");
        assert_eq!(
            f["evidence"][0],
            format!("stage banner: {ms} ms (more than 3000 ms counts as slow)")
        );
        let text = f["explanation"].as_str().expect("explanation");
        assert!(text.contains("UseDNS"), "{text}");
        assert!(f["fixes"][0]["command"]
            .as_str()
            .is_some_and(|c| c.contains("usedns")));
    }
}

#[test]
fn a_bad_slow_after_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Sshdoctor::new(dir.path())
        .args(["probe", "127.0.0.1", "--slow-after", "0"])
        .output();
    assert_eq!(out.status.code(), Some(2));
    assert!(crate::support::stderr(&out).contains("--slow-after"));
}

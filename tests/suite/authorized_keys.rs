//! The authorized_keys parser against OpenSSH: fingerprints as `ssh-keygen -lf` prints them for
//! the same file (options, quoted spaces, comments, CRLF), byte-exact round trips on any input,
//! and the pure append used by the later copy-id fix.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use sshdoctor::authorized_keys::{parse, would_refuse, LineKind};

fn keygen(dir: &Path, name: &str, ty: &str) -> String {
    let f = dir.join(name);
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", ty, "-N", "", "-C", name, "-f"])
        .arg(&f)
        .output()
        .expect("ssh-keygen");
    assert!(o.status.success());
    std::fs::read_to_string(f.with_extension("pub"))
        .expect("pub")
        .trim()
        .to_string()
}

/// `SHA256:...` of every key ssh-keygen finds in the file, in order.
fn keygen_fingerprints(file: &Path) -> Vec<String> {
    let o = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(file)
        .output()
        .expect("ssh-keygen -l");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

#[test]
fn fingerprints_match_ssh_keygen_on_a_file_with_options_comments_and_crlf() {
    let d = tempfile::tempdir().expect("tempdir");
    let ed = keygen(d.path(), "ed", "ed25519");
    let rsa = keygen(d.path(), "rsa", "rsa");
    let ec = keygen(d.path(), "ec", "ecdsa");
    let text = format!(
        "# keys for deploy\n\n\
         command=\"echo a b\",no-pty {ed}\n\
         from=\"10.0.0.0/8,!10.0.0.5\",expiry-time=\"20991231Z\" {rsa}\r\n\
         restrict,command=\"say \\\"hi there\\\"\" {ec}\n"
    );
    let file = d.path().join("authorized_keys");
    std::fs::write(&file, &text).expect("write");
    let ak = parse(text.clone().into_bytes());
    let ours: Vec<String> = ak.entries().map(|e| e.fingerprint.clone()).collect();
    assert_eq!(ours, keygen_fingerprints(&file));
    assert_eq!(ours.len(), 3, "all three keys found");
    assert_eq!(ak.bytes(), text.as_bytes(), "byte-exact");
    let e: Vec<_> = ak.entries().collect();
    assert_eq!(
        e[0].option("command").and_then(|o| o.value.as_deref()),
        Some("echo a b")
    );
    assert_eq!(
        e[2].option("command").and_then(|o| o.value.as_deref()),
        Some("say \"hi there\"")
    );
    assert!(e[1].crlf && !e[0].crlf);
    assert_eq!(e[1].line, 4);
    let f = ak.findings("authorized_keys", SystemTime::now());
    assert!(f.iter().any(|f| f.id == "authorized-keys-crlf"
        && f.evidence.iter().any(|x| x.contains("authorized_keys:4"))));
}

#[test]
fn malformed_lines_are_kept_and_reported_with_their_numbers() {
    let d = tempfile::tempdir().expect("tempdir");
    let ed = keygen(d.path(), "ed", "ed25519");
    let truncated: String = ed.chars().take(40).collect();
    let text = format!("{ed}\nno-ptyy {ed}\n{truncated}\ncommand=\"unterminated {ed}\n");
    let ak = parse(text.clone().into_bytes());
    let bad: Vec<usize> = ak.malformed().map(|(n, _)| n).collect();
    assert_eq!(bad, vec![2, 3, 4]);
    assert_eq!(ak.entries().count(), 1);
    assert_eq!(ak.bytes(), text.as_bytes());
    let f = ak.findings("ak", SystemTime::now());
    let m = f
        .iter()
        .find(|f| f.id == "authorized-keys-malformed-line")
        .expect("reported");
    assert!(m
        .evidence
        .iter()
        .any(|e| e.starts_with("ak:2:") && e.contains("no-ptyy")));
}

#[test]
fn contains_and_options_decide_like_sshd() {
    let d = tempfile::tempdir().expect("tempdir");
    let ed = keygen(d.path(), "ed", "ed25519");
    let other = keygen(d.path(), "other", "ed25519");
    let key = russh::keys::ssh_key::PublicKey::from_openssh(&ed).expect("key");
    let ak = parse(format!("from=\"192.168.1.*\" {ed}\ncert-authority {ed}\n").into_bytes());
    let e = ak.contains(&key).expect("present");
    assert_eq!(
        e.line, 1,
        "the cert-authority line never authorizes the key itself"
    );
    let lo: IpAddr = "127.0.0.1".parse().expect("ip");
    let lan: IpAddr = "192.168.1.7".parse().expect("ip");
    let now = SystemTime::now();
    assert!(would_refuse(&e, lo, now).is_some_and(|r| r.contains("127.0.0.1")));
    assert_eq!(would_refuse(&e, lan, now), None);
    let other_key = russh::keys::ssh_key::PublicKey::from_openssh(&other).expect("key");
    assert!(parse(ed.clone().into_bytes())
        .contains(&other_key)
        .is_none());

    let exp = parse(format!("expiry-time=\"20200101\" {ed}\n").into_bytes());
    let e = exp.contains(&key).expect("present");
    assert!(would_refuse(&e, lo, now).is_some_and(|r| r.contains("in the past")));
    let before = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    assert_eq!(would_refuse(&e, lo, before), None);
}

#[test]
fn append_adds_a_missing_newline_and_never_duplicates() {
    let d = tempfile::tempdir().expect("tempdir");
    let ed = keygen(d.path(), "ed", "ed25519");
    let rsa = keygen(d.path(), "rsa", "rsa");
    let ak = parse(format!("# x\n{ed}").into_bytes());
    let out = ak.append_key_bytes(&format!("{rsa}\n"));
    assert_eq!(out, format!("# x\n{ed}\n{rsa}\n").into_bytes());
    let file = d.path().join("ak");
    std::fs::write(&file, &out).expect("write");
    assert_eq!(
        keygen_fingerprints(&file).len(),
        2,
        "ssh-keygen sees both keys"
    );
    let again = parse(out.clone()).append_key_bytes(&rsa);
    assert_eq!(again, out, "already present: unchanged");
    // Same key with another comment and options is still the same key.
    let opt = parse(format!("no-pty {ed} elsewhere\n").into_bytes());
    assert_eq!(opt.append_key_bytes(&ed), opt.bytes());
    assert_eq!(
        parse(Vec::new()).append_key_bytes(&ed),
        format!("{ed}\n").into_bytes()
    );
}

proptest! {
    #[test]
    fn any_bytes_round_trip_exactly(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let ak = parse(data.clone());
        prop_assert_eq!(ak.bytes(), data);
    }

    #[test]
    fn option_soup_never_panics_and_round_trips(s in "[a-z=\",\\\\ \t#!*-]{0,80}( ssh-ed25519 AAAA[A-Za-z0-9+/]{0,20})?\r?\n?") {
        let ak = parse(s.clone().into_bytes());
        prop_assert_eq!(ak.bytes(), s.as_bytes());
        for l in &ak.lines {
            if let LineKind::Malformed(r) = &l.kind {
                prop_assert!(!r.is_empty());
            }
        }
    }
}

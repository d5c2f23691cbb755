//! known_hosts against the oracle: every answer is compared with what OpenSSH's own tools
//! (`ssh-keygen -F`, `-R`, `-l`, `-H`) say about the same bytes. Keys are generated per test in a
//! temp dir; nothing here reads the real ~/.ssh.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::run::Sshdoctor;
use proptest::prelude::*;
use russh::keys::ssh_key::PublicKey;
use sshdoctor::known_hosts::{
    check_host_key, find_in, find_output, find_output_in, findings, host_port_name, list_json,
    parse, remove_host, HostIndex, HostKeyStatus, Marker,
};

/// A valid ed25519 key blob, for lines whose key does not matter.
const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/// Runs ssh-keygen with HOME pointed at the test dir so the real home is never involved.
fn keygen(home: &Path, args: &[&str]) -> Output {
    Command::new("ssh-keygen")
        .args(args)
        .env("HOME", home)
        .output()
        .expect("ssh-keygen must be installed for these tests")
}

/// Generates a key and returns its public line without the comment: "type base64".
fn new_key(dir: &Path, name: &str, kind: &str) -> String {
    let path = dir.join(name);
    let p = path.to_str().unwrap();
    let mut args = vec!["-q", "-t", kind, "-N", "", "-C", "", "-f", p];
    if kind == "rsa" {
        args.extend(["-b", "1024"]);
    }
    let out = keygen(dir, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(path.with_extension("pub")).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

struct Keys {
    ed: String,
    ed2: String,
    ec: String,
    rsa: String,
}

fn keys(dir: &Path) -> Keys {
    Keys {
        ed: new_key(dir, "k_ed", "ed25519"),
        ed2: new_key(dir, "k_ed2", "ed25519"),
        ec: new_key(dir, "k_ec", "ecdsa"),
        rsa: new_key(dir, "k_rsa", "rsa"),
    }
}

/// Lines hashed by ssh-keygen -H itself (the salt is random, so they are made, not stored).
fn hashed_lines(dir: &Path, plain: &str) -> String {
    let f = dir.join("to_hash");
    fs::write(&f, plain).unwrap();
    let out = keygen(dir, &["-H", "-f", f.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hashed = fs::read_to_string(&f).unwrap();
    assert!(hashed.lines().all(|l| l.starts_with("|1|")), "{hashed}");
    hashed
}

/// A valid known_hosts with every line form ssh-keygen accepts.
fn valid_fixture(dir: &Path, k: &Keys) -> String {
    let hashed = hashed_lines(
        dir,
        &format!("hashed.test {}\n[hashed.test]:2200 {}\n", k.ed, k.ec),
    );
    format!(
        "# known_hosts fixture: every line form\n\
         \n\
         example.com {ed} user@box\n\
         example.com,192.0.2.1 {ec}\n\
         [127.0.0.1]:2222 {ed2}\n\
         [10.0.0.?]:2222 {ed}\n\
         *.wild.test,!bad.wild.test {rsa}\n\
         host?.q.test {ed}\n\
         MiXeD.Case.Test\t{ed2_tabbed}   trailing comment   \n\
         \t  \n\
         @cert-authority *.ca.test {ed}\n\
         @revoked example.com {rsa}\n\
         {hashed}\
         example.com {ed2}\n\
         #   last comment\n",
        ed = k.ed,
        ed2 = k.ed2,
        ec = k.ec,
        rsa = k.rsa,
        ed2_tabbed = k.ed2.replacen(' ', "  \t ", 1),
    )
}

const NAMES: &[&str] = &[
    "example.com",
    "EXAMPLE.COM",
    "Example.Com",
    "192.0.2.1",
    "[127.0.0.1]:2222",
    "127.0.0.1",
    "[127.0.0.1]:22",
    "[10.0.0.5]:2222",
    "[10.0.0.55]:2222",
    "10.0.0.5",
    "a.wild.test",
    "deep.sub.wild.test",
    "bad.wild.test",
    "wild.test",
    "host1.q.test",
    "host12.q.test",
    "mixed.case.test",
    "MIXED.CASE.TEST",
    "x.ca.test",
    "hashed.test",
    "HASHED.TEST",
    "[hashed.test]:2200",
    "[hashed.test]:2201",
    "nothere.example",
    "",
];

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, data).unwrap();
    p
}

/// The "# Host NAME found: line N" lines ssh-keygen -R prints, as line numbers.
fn reported_lines(stdout: &[u8]) -> Vec<usize> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("# Host ")?.rsplit_once("found: line "))
        .filter_map(|(_, n)| n.trim().parse().ok())
        .collect()
}

fn assert_find_agrees(dir: &Path, file: &Path, data: &[u8]) {
    let kh = parse(data.to_vec());
    for name in NAMES {
        let out = keygen(dir, &["-F", name, "-f", file.to_str().unwrap()]);
        let ours = find_output(&kh, name);
        assert_eq!(
            ours,
            String::from_utf8_lossy(&out.stdout),
            "ssh-keygen -F {name:?}"
        );
        assert_eq!(
            out.status.code() == Some(0),
            !kh.find(name).is_empty(),
            "found/not found for {name:?}"
        );
    }
}

#[test]
fn find_output_equals_ssh_keygen_f_for_every_name() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let data = valid_fixture(dir.path(), &k);
    let file = write(dir.path(), "known_hosts", data.as_bytes());
    assert_find_agrees(dir.path(), &file, data.as_bytes());

    // Spot checks of what a user sees, so a shared bug in both tools cannot hide.
    let kh = parse(data.into_bytes());
    let lines = |n: &str| kh.find(n).iter().map(|e| e.line).collect::<Vec<_>>();
    assert_eq!(lines("bad.wild.test"), Vec::<usize>::new(), "negation wins");
    assert_eq!(lines("a.wild.test"), [7]);
    assert_eq!(lines("hashed.test"), [13]);
    assert!(
        lines("HASHED.TEST").is_empty(),
        "-F hashes the name as given"
    );
    assert_eq!(
        kh.lookup("HASHED.TEST", 22).len(),
        1,
        "ssh lowercases first"
    );
    assert_eq!(kh.lookup("hashed.test", 2200)[0].line, 14);
}

#[test]
fn remove_host_equals_ssh_keygen_r_on_valid_files() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let base = valid_fixture(dir.path(), &k);
    let crlf = base
        .replace('\n', "\r\n")
        .replace("\r\n\r\n", "\r\n# was blank\r\n");
    let crlf = crlf.replace("\r\n\t  \r\n", "\r\n");
    let unterminated = base.trim_end_matches('\n').to_string() + "\nlast.test " + &k.ed;
    for (variant, data) in [
        ("lf", &base),
        ("crlf", &crlf),
        ("unterminated", &unterminated),
    ] {
        let kh = parse(data.clone().into_bytes());
        assert_eq!(kh.bytes(), data.as_bytes());
        for name in NAMES.iter().copied().chain(["last.test"]) {
            if name.is_empty() {
                continue;
            }
            let file = write(dir.path(), "kh_r", data.as_bytes());
            let out = keygen(dir.path(), &["-R", name, "-f", file.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{variant}: ssh-keygen -R {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let ours = remove_host(&kh, name);
            let mut theirs = fs::read_to_string(&file).unwrap();
            // The one difference, on purpose: ssh-keygen ends an unterminated last line with
            // "\n"; sshdoctor keeps the file's missing final newline.
            if !data.ends_with('\n')
                && !ours.removed_lines.is_empty()
                && !ours.bytes.is_empty()
                && !ours.bytes.ends_with(b"\n")
            {
                assert_eq!(theirs.pop(), Some('\n'), "{variant} {name}");
            }
            assert_eq!(
                String::from_utf8_lossy(&ours.bytes),
                theirs,
                "{variant}: file after ssh-keygen -R {name:?}"
            );
            assert_eq!(
                ours.removed_lines,
                reported_lines(&out.stdout),
                "{variant} {name}"
            );
        }
    }
    // What the user notices: the two plain example.com keys go, the @revoked line stays.
    let r = remove_host(&parse(base.clone().into_bytes()), "example.com");
    assert_eq!(r.removed_lines, [3, 4, 15]);
    assert!(String::from_utf8_lossy(&r.bytes).contains("@revoked example.com"));
}

/// A file ssh-keygen -R refuses: malformed lines, a CRLF blank line, binary junk, a NUL byte.
fn broken_fixture(dir: &Path, k: &Keys) -> Vec<u8> {
    let mut data = valid_fixture(dir, k).into_bytes();
    let extra = format!(
        "onlyhost\n\
         old.example 1024 35 12345678901234567890\n\
         @bogus example.com {ed}\n\
         |2|abc|def {ed}\n\
         example.com ssh-ed25519\n\
         example.com ssh-ed25519 not-base64!!\n\
         example.com ssh-dss\tAAAA# hash right after\n\
         \r\n\
         crlf.example {ed}\r\n",
        ed = k.ed
    );
    data.extend_from_slice(extra.as_bytes());
    data.extend_from_slice(b"\x01\x02\xff\xfe junk \x7f\x80 bytes\n");
    data.extend_from_slice(format!("nul.example {}\0tail\n", k.ed).as_bytes());
    data.extend_from_slice(format!("example.com {}", k.ec).as_bytes());
    data
}

#[test]
fn on_files_ssh_keygen_refuses_we_remove_exactly_the_matching_lines() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let data = broken_fixture(dir.path(), &k);
    let kh = parse(data.clone());
    assert_eq!(kh.bytes(), &data[..]);
    for name in [
        "example.com",
        "crlf.example",
        "nul.example",
        "hashed.test",
        "nothere",
    ] {
        let file = write(dir.path(), "kh_bad", &data);
        let out = keygen(dir.path(), &["-R", name, "-f", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "ssh-keygen refuses the file");
        assert_eq!(fs::read(&file).unwrap(), data, "and leaves it alone");
        let ours = remove_host(&kh, name);
        assert_eq!(ours.removed_lines, reported_lines(&out.stdout), "{name}");
        // Every byte of every other line is kept.
        let mut expected = Vec::new();
        let mut lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        for n in ours.removed_lines.iter().rev() {
            lines.remove(n - 1);
        }
        for l in lines {
            expected.extend_from_slice(l);
        }
        assert_eq!(ours.bytes, expected, "{name}");
    }
    // The lines ssh-keygen calls invalid are exactly the problems we report, plus the ones whose
    // key data ssh cannot decode (ssh-keygen -R does not look at key data).
    let file = write(dir.path(), "kh_bad", &data);
    let out = keygen(dir.path(), &["-R", "nothere", "-f", file.to_str().unwrap()]);
    let invalid: Vec<usize> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| {
            l.strip_suffix(": invalid line")?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    let problems = kh.problems();
    let ours: Vec<usize> = problems
        .iter()
        .filter(|p| !p.reason.starts_with("ssh ignores"))
        .map(|p| p.line)
        .collect();
    assert_eq!(ours, invalid);
    let key_data: Vec<usize> = problems
        .iter()
        .filter(|p| p.reason.starts_with("ssh ignores"))
        .map(|p| p.line)
        .collect();
    assert_eq!(key_data, [22, 23], "{problems:?}");
    assert!(problems.iter().any(|p| p.reason.contains("CRLF")));
    assert!(problems
        .iter()
        .any(|p| p.reason.contains("unknown key type \"1024\"")));
}

#[test]
fn find_output_equals_ssh_keygen_f_on_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let data = broken_fixture(dir.path(), &k);
    let file = write(dir.path(), "kh_bad", &data);
    assert_find_agrees(dir.path(), &file, &data);
    for name in ["crlf.example", "nul.example", "old.example", "onlyhost"] {
        let out = keygen(dir.path(), &["-F", name, "-f", file.to_str().unwrap()]);
        assert_eq!(
            find_output(&parse(data.clone()), name),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn fingerprints_equal_ssh_keygen_l() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let kh = parse(valid_fixture(dir.path(), &k).into_bytes());
    let entries = kh.entries();
    let keys_only: String = entries
        .iter()
        .map(|e| format!("{} {}\n", e.key_type, e.key_base64))
        .collect();
    let file = write(dir.path(), "keys", keys_only.as_bytes());
    let out = keygen(dir.path(), &["-l", "-f", file.to_str().unwrap()]);
    let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    let ours: Vec<String> = entries.iter().map(|e| e.fingerprint().unwrap()).collect();
    assert_eq!(ours.len(), 12);
    assert_eq!(ours, theirs);
}

fn pk(line: &str) -> PublicKey {
    PublicKey::from_openssh(line).unwrap()
}

#[test]
fn check_host_key_says_what_ssh_would() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let kh = parse(valid_fixture(dir.path(), &k).into_bytes());
    // Either example.com ED25519 key is accepted: ssh takes any match.
    assert_eq!(
        check_host_key(&kh, "example.com", 22, &pk(&k.ed)),
        HostKeyStatus::Match { line: 3 }
    );
    assert_eq!(
        check_host_key(&kh, "EXAMPLE.com", 22, &pk(&k.ed2)),
        HostKeyStatus::Match { line: 15 }
    );
    // The RSA key is listed but @revoked: revoked wins.
    assert_eq!(
        check_host_key(&kh, "example.com", 22, &pk(&k.rsa)),
        HostKeyStatus::Revoked { line: 12 }
    );
    // A new key for a known host: changed, naming the last known line as ssh does.
    let other = new_key(dir.path(), "k_other", "ed25519");
    assert_eq!(
        check_host_key(&kh, "nothere.example", 22, &pk(&other)),
        HostKeyStatus::Unknown
    );
    match check_host_key(&kh, "127.0.0.1", 2222, &pk(&other)) {
        HostKeyStatus::Changed {
            line,
            old_key_type,
            old_fingerprint,
        } => {
            assert_eq!(line, 5);
            assert_eq!(old_key_type, "ssh-ed25519");
            assert_eq!(Some(old_fingerprint), kh.entries()[2].fingerprint());
        }
        s => panic!("expected Changed, got {s:?}"),
    }
    // Only an RSA key known for the wild hosts, server shows ED25519: OpenSSH 9.2 calls this
    // "changed" too (measured against a real sshd).
    assert!(matches!(
        check_host_key(&kh, "a.wild.test", 22, &pk(&k.ed)),
        HostKeyStatus::Changed { line: 7, .. }
    ));
    assert_eq!(
        check_host_key(&kh, "bad.wild.test", 22, &pk(&k.ed)),
        HostKeyStatus::Unknown
    );
    // Hashed entries work through lookup (ssh lowercases the host).
    assert_eq!(
        check_host_key(&kh, "Hashed.Test", 2200, &pk(&k.ec)),
        HostKeyStatus::Match { line: 14 }
    );
    assert_eq!(host_port_name("hashed.test", 2200), "[hashed.test]:2200");
}

#[test]
fn findings_name_duplicates_revoked_and_malformed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let kh = parse(broken_fixture(dir.path(), &k));
    let file = "/home/u/my files/known_hosts";
    let f = findings(&kh, file);
    let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "known-hosts-malformed-line",
            "known-hosts-duplicate",
            "known-hosts-revoked",
            // The fixture's last line has no newline: ssh's next append would run into it.
            "known-hosts-no-final-newline"
        ]
    );
    let mal = &f[0];
    assert!(mal
        .evidence
        .iter()
        .any(|e| e == &format!("{file}:17: only a host field, no key")));
    assert!(mal
        .fixes
        .iter()
        .all(|x| x.command.contains("'/home/u/my files/known_hosts'")));
    let dup = &f[1];
    assert!(dup.title.contains("example.com"), "{}", dup.title);
    assert!(dup
        .evidence
        .iter()
        .any(|e| e.starts_with(&format!("{file}:3: ssh-ed25519 SHA256:"))));
    assert!(dup
        .evidence
        .iter()
        .any(|e| e.starts_with(&format!("{file}:15: ssh-ed25519 SHA256:"))));
    assert_eq!(
        dup.fixes[0].command,
        "ssh-keygen -f '/home/u/my files/known_hosts' -R example.com"
    );
    assert!(dup.fixes[0].destructive);
    assert_eq!(f[2].evidence[0], format!("{file}:12"));

    let clean = parse(format!("a.test {}\nb.test {}\n", k.ed, k.ed2).into_bytes());
    assert!(
        findings(&clean, "kh").is_empty(),
        "no noise on a clean file"
    );
    let same_key_twice = parse(format!("a.test {}\na.test {}\n", k.ed, k.ed).into_bytes());
    assert!(findings(&same_key_twice, "kh").is_empty());
}

#[test]
fn list_json_has_the_contract_shape() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let kh = parse(broken_fixture(dir.path(), &k));
    let v = list_json(&kh, "kh");
    // What the CLI streams prints exactly as the JSON value does.
    let streamed = serde_json::to_string_pretty(&sshdoctor::known_hosts::ListJson {
        data: kh.bytes(),
        file: "kh",
    })
    .unwrap();
    assert_eq!(streamed, serde_json::to_string_pretty(&v).unwrap());
    // The one-pass walk finds what the parsed file holds.
    let mut walk = sshdoctor::known_hosts::ListWalk::new(kh.bytes());
    assert_eq!(walk.by_ref().collect::<Vec<_>>(), kh.entries());
    assert_eq!(walk.problems(), kh.problems());
    assert_eq!(v["file"], "kh");
    let e = &v["entries"];
    assert_eq!(e[0]["line"], 3);
    assert_eq!(e[0]["hosts"], serde_json::json!(["example.com"]));
    assert_eq!(e[0]["hashed"], false);
    assert_eq!(e[0]["marker"], serde_json::Value::Null);
    assert_eq!(e[0]["comment"], "user@box");
    assert!(e[0]["fingerprint"].as_str().unwrap().starts_with("SHA256:"));
    let marked: Vec<_> = e
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| !x["marker"].is_null())
        .collect();
    assert_eq!(marked[0]["marker"], "cert-authority");
    assert_eq!(marked[1]["marker"], "revoked");
    let hashed = e
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["hashed"] == true)
        .unwrap();
    assert!(hashed["hosts"].is_null());
    assert_eq!(v["problems"][0]["line"], 17);
    assert!(v["problems"][0]["reason"].is_string());
    assert_eq!(
        serde_json::to_value(Marker::CertAuthority).unwrap(),
        "cert-authority"
    );
}

#[test]
fn empty_junk_and_huge_inputs_do_not_break_anything() {
    let empty = parse(Vec::new());
    assert!(empty.bytes().is_empty() && empty.entries().is_empty() && empty.problems().is_empty());
    assert_eq!(find_output(&empty, "x"), "");
    assert_eq!(remove_host(&empty, "x").bytes, b"");

    let junk: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let kh = parse(junk.clone());
    assert_eq!(kh.bytes(), &junk[..]);
    let _ = (
        kh.problems(),
        kh.entries(),
        find_output(&kh, "a"),
        findings(&kh, "j"),
    );
    assert_eq!(remove_host(&kh, "zz").bytes, junk);

    // One 50 MB line: a host list far past OpenSSH's 1023-byte pattern limit.
    let mut big = vec![b'a'; 50 * 1024 * 1024];
    big.extend_from_slice(b" ssh-ed25519 AAAA");
    let kh = parse(big);
    assert_eq!(kh.bytes().len(), 50 * 1024 * 1024 + 17);
    assert_eq!(kh.entries().len(), 1);
    assert!(kh.find("aaa").is_empty());
    assert_eq!(kh.problems().len(), 1, "its key data is not a key");
}

#[test]
fn a_100k_line_file_is_handled_whole() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let hashed_line = hashed_lines(dir.path(), &format!("target.test {}\n", k.ed));
    let mut data = String::with_capacity(26 << 20);
    for i in 0..100_000u32 {
        if i == 77_777 {
            data.push_str(&hashed_line);
        } else if i % 2 == 0 {
            // A well-formed hashed line for another host (valid salt, non-matching hash).
            data.push_str(&format!(
                "|1|{}|{} {} {}\n",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "BBBBBBBBBBBBBBBBBBBBBBBBBBB=",
                k.rsa,
                "x".repeat(60)
            ));
        } else {
            data.push_str(&format!(
                "host{i}.test,10.1.{}.{} {}\n",
                i / 256 % 256,
                i % 256,
                k.rsa
            ));
        }
    }
    assert!(data.len() > 25_000_000, "{}", data.len());
    let kh = parse(data.into_bytes());
    assert_eq!(kh.line_count(), 100_000);
    let found = kh.find("target.test");
    assert_eq!(found.iter().map(|e| e.line).collect::<Vec<_>>(), [77_778]);
    let r = remove_host(&kh, "host99999.test");
    assert_eq!(r.removed_lines, [100_000]);
    assert_eq!(
        r.bytes.len(),
        kh.bytes().len() - kh.entries()[99_999].range.len()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_round_trip_without_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let kh = parse(data.clone());
        prop_assert_eq!(kh.bytes(), &data[..]);
        let _ = (find_output(&kh, "h"), list_json(&kh, "f"));
        let mut walk = sshdoctor::known_hosts::ListWalk::new(&data);
        prop_assert_eq!(walk.by_ref().collect::<Vec<_>>(), kh.entries());
        prop_assert_eq!(walk.problems(), &kh.problems()[..]);
        let r = remove_host(&kh, "h");
        prop_assert!(r.bytes.len() <= data.len() + 1);
    }

    #[test]
    fn line_shaped_input_round_trips_and_removal_keeps_the_rest(
        lines in proptest::collection::vec(
            proptest::sample::select(vec![
                "h ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                "H,*.x,!h ssh-rsa AAAA c", "@revoked h ssh-ed25519 AAAA", "@cert-authority\th\tRSA\tA",
                "# c", "", "\r", " \t ", "h", "h ", "h 1024 35 1", "|1|x|y ssh-ed25519 A", "@@ h", "h\0 x y",
                "[h]:22 ecdsa-sha2-nistp256 AAAA\r", "?,* ED25519 AAAA # x",
            ]),
            0..12,
        ),
        crlf in any::<bool>(),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let text = lines.join(nl);
        let kh = parse(text.clone().into_bytes());
        prop_assert_eq!(kh.bytes(), text.as_bytes());
        let r = remove_host(&kh, "h");
        let kept = kh.line_count() - r.removed_lines.len();
        prop_assert!(r.bytes.len() <= text.len() + 1);
        prop_assert_eq!(
            parse(r.bytes.clone()).line_count(),
            kept,
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The scan's index answers exactly what a lookup over the whole file answers, for plain,
    /// wildcard, negated, bracketed, mixed-case, hashed and marked lines; the cheap lookup is the
    /// same minus unmarked hashed lines.
    #[test]
    fn the_host_index_gives_the_same_lines_as_a_lookup(
        lines in proptest::collection::vec(
            proptest::sample::select(vec![
                format!("web ssh-ed25519 {ED}"),
                format!("WEB,10.0.0.1 ssh-ed25519 {ED}"),
                format!("*.corp,!db.corp ssh-ed25519 {ED}"),
                format!("w?b ssh-ed25519 {ED}"),
                format!("[web]:2222 ssh-ed25519 {ED}"),
                format!("!web,web ssh-ed25519 {ED}"),
                format!("db.corp,,web ssh-ed25519 {ED}"),
                format!("@revoked web ssh-ed25519 {ED}"),
                format!("{} ssh-ed25519 {ED}", hashed("web")),
                format!("@cert-authority {} ssh-ed25519 {ED}", hashed("web")),
                format!("{} ssh-ed25519 {ED}", hashed("[web]:2222")),
                "web ssh-ed25519 AAAA".to_string(),
                "# web".to_string(),
            ]),
            0..14,
        ),
        host in proptest::sample::select(vec!["web", "WEB", "db.corp", "x.corp", "10.0.0.1", "wab", "nothing"]),
        port in proptest::sample::select(vec![22u16, 2222]),
    ) {
        let kh = parse(lines.join("\n").into_bytes());
        let index = HostIndex::new(&kh);
        let want: Vec<usize> = kh.lookup(host, port).iter().map(|e| e.line).collect();
        let got: Vec<usize> = index.lookup(&kh, host, port).iter().map(|e| e.line).collect();
        prop_assert_eq!(&got, &want);
        let cheap: Vec<usize> = index.lookup_cheap(&kh, host, port).iter().map(|e| e.line).collect();
        let want_cheap: Vec<usize> = kh
            .lookup(host, port)
            .iter()
            .filter(|e| !e.hashed || e.marker.is_some())
            .map(|e| e.line)
            .collect();
        prop_assert_eq!(cheap, want_cheap);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The one-shot walk (`find_in`, used by `known-hosts find` and removal) finds the lines the
    /// parsed file finds, for any bytes, and prints what `find_output` prints.
    #[test]
    fn the_one_shot_walk_finds_what_the_parsed_file_finds(
        data in proptest::collection::vec(
            proptest::sample::select(vec![
                b"web ssh-ed25519 AAAA\n".to_vec(), b"WEB,x ssh-rsa A c\r\n".to_vec(),
                b"@revoked web ssh-ed25519 A\n".to_vec(), b"*.b,!web ssh-ed25519 A\n".to_vec(),
                b"web\0 ssh-ed25519 A\n".to_vec(), b"# web\n".to_vec(), b"\n".to_vec(), b"web".to_vec(),
                b"|1|x|y ssh-ed25519 A\n".to_vec(), b"@cert-authority web E A\n".to_vec(), vec![0xff, b'\n'],
            ]),
            0..16,
        ),
        name in proptest::sample::select(vec!["web", "WEB", "x", "a.b"]),
    ) {
        let data: Vec<u8> = data.concat();
        let kh = parse(data.clone());
        let want: Vec<usize> = kh.find(name).iter().map(|e| e.line).collect();
        let got: Vec<usize> = find_in(&data, name, false).iter().map(|f| f.line).collect();
        prop_assert_eq!(got, want);
        let unmarked: Vec<usize> = find_in(&data, name, true).iter().map(|f| f.line).collect();
        prop_assert_eq!(unmarked, remove_host(&kh, name).removed_lines);
        prop_assert_eq!(find_output_in(&data, name), find_output(&kh, name));
    }
}

/// Big files are walked on every core; the line numbers still count from the top of the file.
#[test]
fn the_one_shot_walk_numbers_lines_across_pieces() {
    let mut data = Vec::new();
    for i in 0..60_000 {
        data.extend_from_slice(
            format!("h{i},10.0.{}.{} ssh-ed25519 {ED}\n", i / 256 % 256, i % 256).as_bytes(),
        );
    }
    assert!(data.len() > 4 << 20, "big enough for the parallel walk");
    let kh = parse(data.clone());
    for name in ["h0", "h29999", "h30000", "h59999", "10.0.1.2"] {
        let want: Vec<usize> = kh.find(name).iter().map(|e| e.line).collect();
        let got: Vec<usize> = find_in(&data, name, false).iter().map(|f| f.line).collect();
        assert_eq!(got, want, "{name}");
        assert!(!got.is_empty(), "{name}");
    }
}

/// A `|1|salt|hash` host field for `name`, with a salt derived from the name.
fn hashed(name: &str) -> String {
    sshdoctor::fix::plan::hashed_name(name, &[name.len() as u8; 20])
}

#[test]
fn marker_quirks_agree_with_ssh_keygen() {
    // OpenSSH ends a marker at the first space anywhere on the line (a tab only counts when the
    // line has no space at all), so these tab-separated forms differ although they look alike.
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let (t, b) = k.ed.split_once(' ').unwrap();
    let data = format!(
        "@revoked\tq.test {t} {b} a comment\n\
         @revoked\tq.test\t{t}\t{b}\n\
         @revoked\tq.test {t} {b}\n\
         @cert-authority  @revoked q.test {t} {b}\n\
         @cert-authority q.test {t} {b}\n"
    );
    let file = write(dir.path(), "kh_markers", data.as_bytes());
    let out = keygen(dir.path(), &["-F", "q.test", "-f", file.to_str().unwrap()]);
    let kh = parse(data.into_bytes());
    assert_eq!(
        find_output(&kh, "q.test"),
        String::from_utf8_lossy(&out.stdout)
    );
    let found: Vec<usize> = kh.find("q.test").iter().map(|e| e.line).collect();
    assert_eq!(found, [2, 5]);
    let bad: Vec<usize> = kh.problems().iter().map(|p| p.line).collect();
    assert_eq!(bad, [1, 3, 4]);
}

/// Peak resident memory of `sshdoctor ARGS` in kB, from GNU time (CI installs `time`), with its
/// output thrown away.
fn peak_rss_kb(args: &[&str]) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let rss = dir.path().join("rss");
    let rss_arg = rss.to_str().expect("utf-8 path");
    let out = Sshdoctor::under(dir.path(), &["/usr/bin/time", "-f", "%M", "-o", rss_arg])
        .args(args)
        .command()
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run /usr/bin/time sshdoctor (apt-get install time)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(&rss).unwrap();
    text.lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no RSS from time: {text:?}"))
}

/// Issue 17, point 3: listing a 100,000-line known_hosts (text or JSON) streams its output, so
/// peak memory stays within twice the file (the JSON listing used to take ten times).
#[test]
fn listing_a_100k_line_file_takes_at_most_twice_its_size_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path());
    let mut data = String::with_capacity(32 << 20);
    for i in 0..100_000u32 {
        // About the file of the report: 100,000 lines, ~25 MB, RSA and ed25519 keys.
        if i % 4 != 0 {
            data.push_str(&format!(
                "host{i}.test,10.2.{}.{} {}\n",
                i / 256 % 256,
                i % 256,
                k.rsa
            ));
        } else {
            data.push_str(&format!("[host{i}.test]:2222 {} c{i}@example.org\n", k.ed));
        }
    }
    assert!(data.len() > 20_000_000, "{}", data.len());
    let file = write(dir.path(), "kh_big", data.as_bytes());
    let size_kb = data.len() as u64 / 1024;
    for args in [&["--json"][..], &[]] {
        let mut cmd = vec!["known-hosts", "list", "-f", file.to_str().unwrap()];
        cmd.extend_from_slice(args);
        let rss = peak_rss_kb(&cmd);
        assert!(
            rss <= 2 * size_kb,
            "known-hosts list {args:?}: peak {rss} kB for a {size_kb} kB file"
        );
    }
}

/// Issue 13, host certificates: `check_host_certificate` gives ssh's own verdict. Each case is a
/// real sshd presenting a host certificate and a known_hosts holding only an `@cert-authority`
/// line (no plain key, so a certificate ssh rejects ends in "Host key verification failed"):
/// real `ssh` logs in or fails first, then the verdict must agree, and say why.
#[test]
fn host_certificates_are_judged_as_ssh_judges_them() {
    use crate::support::sshd::{keygen as sshd_keygen, Ssh, Sshd};
    use sshdoctor::known_hosts::{check_host_certificate, has_cert_authority, HostCertStatus};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let host = sshd_keygen(d, "host_ed25519", "ed25519", "");
    let ca = sshd_keygen(d, "host_ca", "ed25519", "");
    let other_ca = sshd_keygen(d, "other_ca", "ed25519", "");
    let client = sshd_keygen(d, "id_ed25519", "ed25519", "");
    let cert = d.join("host_ed25519-cert.pub");
    let kh = d.join("known_hosts");
    let ca_line = |ca: &Path, hosts: &str, marker: &str| {
        let k = fs::read_to_string(ca.with_extension("pub")).unwrap();
        format!("@{marker} {hosts} {}", k.trim())
    };
    type Want = fn(&HostCertStatus) -> bool;
    /// Name, ssh-keygen -s options, HostKeyAlias, whether real ssh logs in, the verdict wanted.
    type Case<'a> = (&'a str, Vec<&'a str>, Option<&'a str>, bool, Want);
    let cases: Vec<Case> = vec![
        ("exact", vec!["-n", "127.0.0.1"], None, true, |s| {
            matches!(s, HostCertStatus::Trusted { .. })
        }),
        ("no principals", vec![], None, true, |s| {
            matches!(s, HostCertStatus::Trusted { .. })
        }),
        (
            "wildcard",
            vec!["-n", "127.0.0.*"],
            None,
            false,
            |s| matches!(s, HostCertStatus::WrongPrincipal { name, .. } if name == "127.0.0.1"),
        ),
        (
            "other name",
            vec!["-n", "db.example.com"],
            None,
            false,
            |s| matches!(s, HostCertStatus::WrongPrincipal { principals, .. } if principals == &["db.example.com"]),
        ),
        (
            "alias",
            vec!["-n", "db-alias"],
            Some("db-alias"),
            true,
            |s| matches!(s, HostCertStatus::Trusted { .. }),
        ),
        (
            "expired",
            vec!["-n", "127.0.0.1", "-V", "20200101:20200102"],
            None,
            false,
            |s| matches!(s, HostCertStatus::Expired { .. }),
        ),
        ("untrusted", vec!["-n", "127.0.0.1"], None, false, |s| {
            matches!(s, HostCertStatus::UntrustedCa { .. })
        }),
        ("revoked", vec!["-n", "127.0.0.1"], None, false, |s| {
            matches!(s, HostCertStatus::Revoked { .. })
        }),
    ];
    for (name, sign, alias, works, want) in cases {
        let _ = fs::remove_file(&cert);
        let mut args = vec!["-q", "-s", ca.to_str().unwrap(), "-h", "-I", "host-id"];
        if !sign.contains(&"-V") {
            args.extend(["-V", "-1h:+1h"]);
        }
        args.extend(sign.iter().copied());
        let host_pub = host.with_extension("pub");
        args.push(host_pub.to_str().unwrap());
        let o = keygen(d, &args);
        assert!(o.status.success(), "{name}: {o:?}");
        let server = Sshd::builder()
            .host_key(&host)
            .line(format!("HostCertificate {}", cert.display()))
            .start();
        server.authorize(&client.with_extension("pub"));
        let hosts = match alias {
            Some(a) => a.to_string(),
            None => format!("[127.0.0.1]:{}", server.port),
        };
        let mut lines = vec![ca_line(
            if name == "untrusted" { &other_ca } else { &ca },
            &hosts,
            "cert-authority",
        )];
        if name == "revoked" {
            lines.push(ca_line(&ca, &hosts, "revoked"));
        }
        fs::write(&kh, lines.join("\n") + "\n").unwrap();
        let mut extra: Vec<String> = Vec::new();
        if let Some(a) = alias {
            extra.push(format!("HostKeyAlias={a}"));
        }
        let mut ssh = Ssh::new(d, server.port, &kh).strict("yes").key(&client);
        let opts: Vec<String> = extra
            .iter()
            .flat_map(|o| ["-o".to_string(), o.clone()])
            .collect();
        let opt_refs: Vec<&str> = opts.iter().map(String::as_str).collect();
        ssh = ssh.args(&opt_refs);
        let out = ssh.run();
        let said = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.success(), works, "{name}: real ssh: {said}");

        let known = sshdoctor::known_hosts::parse(fs::read(&kh).unwrap());
        let c = russh::keys::load_openssh_certificate(&cert).unwrap();
        assert!(
            has_cert_authority(&known, "127.0.0.1", server.port, alias),
            "{name}"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let verdict = check_host_certificate(&known, "127.0.0.1", server.port, alias, &c, now);
        assert!(want(&verdict), "{name}: {verdict:?} (ssh said: {said})");
    }
}

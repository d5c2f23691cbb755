//! Every parser of untrusted bytes survives any input, and the lossless ones stay lossless.
//!
//! Three layers, all inside `cargo test` on stable Rust:
//! - a bounded mutational fuzz run ([`bounded_fuzz_run`]): a few seconds of deterministic
//!   mutations of real-looking seeds fed to every parser (known_hosts, authorized_keys,
//!   ssh_config, the key loader, sshd's config dump and log lines, the wire reader);
//!   `SSHDOCTOR_FUZZ_SECS` and `SSHDOCTOR_FUZZ_SEED` make it run longer or elsewhere;
//! - the crash corpus (`tests/fixtures/crashes/`), replayed on every run;
//! - structured proptests, including removal compared with `ssh-keygen -R` on generated files.
//!
//! The cargo-fuzz targets in `fuzz/` call the same functions for developers with nightly; see
//! RELIABILITY.md for why CI uses this file instead.

use crate::support;

use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use russh::keys::ssh_key::PublicKey;
use sha1::Sha1;
use sshdoctor::config::{self, ConfigRequest};
use sshdoctor::paths::SshPaths;
use sshdoctor::probe::wire;
use sshdoctor::{authorized_keys, keys, known_hosts, server};

const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

fn key() -> PublicKey {
    PublicKey::from_openssh(ED).expect("test key")
}

/// Feeds `data` to every parser of untrusted input and checks the invariants a user relies on:
/// known_hosts and authorized_keys give back exactly the bytes they read, removal only ever
/// drops whole lines that exist. Panics (the failure being hunted) propagate to the caller.
fn exercise(data: &[u8]) {
    let k = key();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);

    let kh = known_hosts::parse(data.to_vec());
    assert_eq!(kh.bytes(), data, "known_hosts round trip");
    let lines = kh.line_count();
    let _ = (kh.entries(), kh.problems());
    for name in ["h", "[h]:2222", "example.org", "10.0.0.1", "*"] {
        let _ = kh.find(name);
        let _ = known_hosts::find_output(&kh, name);
        let r = known_hosts::remove_host(&kh, name);
        assert!(r.bytes.len() <= data.len() + 1, "removal grew the file");
        assert!(r.removed_lines.iter().all(|&l| l >= 1 && l <= lines));
    }
    let _ = kh.lookup("h", 2222);
    let _ = known_hosts::check_host_key(&kh, "h", 22, &k);
    let _ = known_hosts::findings(&kh, "known_hosts");
    let _ = known_hosts::list_json(&kh, "known_hosts");

    let ak = authorized_keys::parse(data.to_vec());
    assert_eq!(ak.bytes(), data, "authorized_keys round trip");
    let ip: IpAddr = [127, 0, 0, 1].into();
    for e in ak.entries() {
        let _ = authorized_keys::would_refuse(e, ip, now);
    }
    let _ = ak.malformed().count();
    let _ = ak.matching(&k);
    let _ = ak.findings("authorized_keys", now);
    let appended = ak.append_key_bytes(ED);
    assert!(appended.starts_with(data) || appended.len() >= data.len());

    let _ = keys::classify(data);
    let _ = wire::classify(data);
    let _ = wire::scan_banner(data);
    let _ = wire::parse_kexinit(data);

    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(64) {
        let _ = keys::parse_public_line(line);
        let _ = server::parse_log_line(line);
        let _ = config::parse_target(line);
        let _ = authorized_keys::parse_expiry(line);
        let _ = authorized_keys::match_pattern_list("host.example", line, true);
        let _ = authorized_keys::match_host_and_ip("host.example", "127.0.0.1", line);
    }
    let _ = server::SshdConfig::from_dump(&text);
    let _ = server::parse_passwd(&text);
    let _ = server::parse_group(&text);
    let _ = server::parse_proc_net_tcp(&text);
    let paths = SshPaths::with_home(Path::new("/nonexistent-sshdoctor-home"));
    let _ = config::parse_ssh_g(&text, &paths);
    let target = config::parse_target("h").expect("target");
    let req = ConfigRequest {
        target: &target,
        config_file: Some(Path::new("/virtual/config")),
        port: None,
        user: None,
        identity_files: &[],
    };
    let owned = text.to_string();
    let read = move |p: &Path| (p == Path::new("/virtual/config")).then(|| owned.clone());
    let cfg = config::effective_parsed(&req, &paths, &read);
    assert!(cfg.port > 0);
}

/// Runs [`exercise`] and turns a panic into a failure that names a saved reproducer.
fn exercise_or_save(data: &[u8], origin: &str) {
    let res = std::panic::catch_unwind(AssertUnwindSafe(|| exercise(data)));
    if res.is_err() {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crashes");
        let _ = std::fs::create_dir_all(&dir);
        let name = format!("crash-{:016x}", fnv(data));
        let path = dir.join(&name);
        let _ = std::fs::write(&path, data);
        panic!(
            "parser panic on input from {origin}; saved as {} — copy it to tests/fixtures/crashes/ \
             once fixed so it is replayed forever",
            path.display()
        );
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// xorshift64*: deterministic, so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens that steer mutations into the parsers' interesting corners.
const DICT: &[&str] = &[
    "\n",
    "\r\n",
    " ",
    "\t",
    ",",
    "!",
    "*",
    "?",
    "[",
    "]",
    ":",
    "|1|",
    "@revoked ",
    "@cert-authority ",
    "#",
    "\"",
    "\\",
    "=",
    "command=\"",
    "from=\"",
    "expiry-time=\"",
    "restrict,",
    "no-pty ",
    "ssh-ed25519 ",
    "ssh-rsa ",
    "ecdsa-sha2-nistp256 ",
    "sk-ssh-ed25519@openssh.com ",
    "ssh-ed25519-cert-v01@openssh.com ",
    "AAAA",
    "====",
    "Host ",
    "Match ",
    "Include ",
    "HostName ",
    "Port ",
    "User ",
    "IdentityFile ",
    "ProxyJump ",
    "%h",
    "%d",
    "~/",
    "exec ",
    "canonical ",
    "all ",
    "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "-----END OPENSSH PRIVATE KEY-----\n",
    "-----BEGIN RSA PRIVATE KEY-----\n",
    "Proc-Type: 4,ENCRYPTED\n",
    "DEK-Info: DES-EDE3-CBC,0011223344556677\n",
    "SSH-2.0-",
    "\u{0}",
    "\u{ff}",
    "\u{1b}[2J",
    "\u{feff}",
    "4294967295",
    "-1",
    "99999999999999999999",
    "Accepted publickey for ",
    "Authentication refused: bad ownership or modes for file ",
];

fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                if let Some(b) = v.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 if !v.is_empty() => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 => {
                let tok = DICT.get(rng.below(DICT.len())).copied().unwrap_or("");
                v.splice(at..at, tok.bytes());
            }
            3 => v.insert(at, rng.next() as u8),
            4 if !v.is_empty() => {
                // Duplicate a chunk (repeated lines, repeated options).
                let s = rng.below(v.len());
                let e = (s + rng.below(64)).min(v.len());
                let chunk: Vec<u8> = v.get(s..e).unwrap_or(&[]).to_vec();
                v.splice(at..at, chunk);
            }
            5 => {
                // Splice in a piece of another seed.
                let other = seeds
                    .get(rng.below(seeds.len()))
                    .cloned()
                    .unwrap_or_default();
                let s = rng.below(other.len());
                let e = (s + rng.below(200)).min(other.len());
                v.splice(at..at, other.get(s..e).unwrap_or(&[]).iter().copied());
            }
            _ => {
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    v.truncate(i);
                }
            }
        }
    }
    v.truncate(16 * 1024);
    v
}

/// Real-looking inputs: ssh-keygen keys (plain and encrypted), the crash corpus, and lines of
/// each file format.
fn seeds() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out: Vec<Vec<u8>> = vec![
        format!("h {ED}\n[h]:2222 {ED} c\n|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= {ED}\n@revoked * {ED}\n# c\n\nbad line\n").into_bytes(),
        format!("restrict,command=\"echo a b\",from=\"10.*,!10.1.*\" {ED} me@x\r\nno-pty,expiry-time=\"20300101\" {ED}\n#c\nenvironment=\"A=b\" {ED}\n").into_bytes(),
        b"Host web *.example !bad\n  HostName %h.internal\n  Port=2222\n  User \"deploy user\"\n  IdentityFile ~/.ssh/id_%r\nMatch host web user deploy\n  ProxyJump jump\nInclude /nonexistent-sshdoctor/*.conf\nHost *\n  IdentitiesOnly yes\n".to_vec(),
        b"port 22\nlistenaddress 0.0.0.0:22\nauthorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\nstrictmodes yes\nmaxauthtries 6\n".to_vec(),
        b"2024-01-01T00:00:00.000000+00:00 host sshd[12]: Authentication refused: bad ownership or modes for directory /home/u\nJan  1 00:00:00 host sshd[1]: Accepted publickey for root from 127.0.0.1 port 1 ssh2: ED25519 SHA256:x\n".to_vec(),
        b"root:x:0:0:root:/root:/bin/bash\nu:x:1000:1000::/home/u:/bin/sh\n".to_vec(),
        b"  sl  local_address rem_address   st\n   0: 0100007F:0016 00000000:0000 0A 00000000:00000000\n".to_vec(),
        b"SSH-2.0-OpenSSH_9.2p1\r\n\x00\x00\x00\x2c\x04\x14aaaaaaaaaaaaaaaa\x00\x00\x00\x04abcd".to_vec(),
    ];
    for (name, pass) in [("plain", ""), ("enc", "pw")] {
        let p = support::sshd::keygen(dir.path(), name, "ed25519", pass);
        out.push(std::fs::read(&p).expect("key"));
        out.push(std::fs::read(p.with_extension("pub")).expect("pub"));
    }
    out.extend(corpus().into_iter().map(|(_, d)| d));
    out
}

fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crashes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .filter_map(|p| std::fs::read(&p).ok().map(|d| (p, d)))
        .collect()
}

/// Every input that ever crashed (or nearly crashed) a parser, replayed on every run.
#[test]
fn crash_corpus_is_replayed() {
    let files = corpus();
    assert!(
        files.len() >= 3,
        "the corpus under tests/fixtures/crashes/ went missing"
    );
    for (path, data) in files {
        exercise_or_save(&data, &path.display().to_string());
    }
}

/// The bounded fuzz run CI can afford: ~3 s of mutations over every parser (longer with
/// `SSHDOCTOR_FUZZ_SECS=600`), reproducible from `SSHDOCTOR_FUZZ_SEED`.
#[test]
fn bounded_fuzz_run() {
    let secs: f64 = std::env::var("SSHDOCTOR_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let seed: u64 = std::env::var("SSHDOCTOR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_d0c7_0000_0001);
    let seeds = seeds();
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut runs = 0u64;
    let mut pool = seeds.clone();
    while Instant::now() < deadline {
        let base = pool.get(rng.below(pool.len())).cloned().unwrap_or_default();
        let input = mutate(&mut rng, &base, &seeds);
        exercise_or_save(&input, &format!("fuzz seed {seed} run {runs}"));
        // Keep some mutants as new bases so mutations stack up.
        if rng.below(8) == 0 && pool.len() < 512 {
            pool.push(input);
        }
        runs += 1;
    }
    assert!(runs > 50, "the fuzz loop barely ran: {runs} inputs");
    eprintln!("bounded fuzz: {runs} inputs in {secs} s");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Line-shaped soup of every format's tokens: no parser panics, lossless ones stay lossless.
    #[test]
    fn token_soup_never_panics(
        toks in proptest::collection::vec(proptest::sample::select(DICT.to_vec()), 0..40),
        junk in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut data = toks.concat().into_bytes();
        data.extend(junk);
        exercise(&data);
    }

    /// Damaged copies of a real encrypted OpenSSH key: the loader reports, never panics.
    #[test]
    fn damaged_encrypted_keys_never_panic(pos in 0usize..480, byte in any::<u8>(), cut in 0usize..480) {
        let mut b = enc_key().to_vec();
        if let Some(x) = b.get_mut(pos) {
            *x = byte;
        }
        let _ = keys::classify(&b);
        let _ = keys::classify(enc_key().get(..cut).unwrap_or(&[]));
    }
}

/// An encrypted (bcrypt, passphrase "pw") ed25519 key, written once by the real ssh-keygen.
fn enc_key() -> &'static [u8] {
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = support::sshd::keygen(dir.path(), "enc", "ed25519", "pw");
        std::fs::read(p).expect("read key")
    })
}

// ---- removal compared with ssh-keygen -R on generated files ----

/// `|1|salt|hash` as `ssh-keygen -H` writes it (HMAC-SHA1 of the name keyed by the salt).
fn hashed(name: &str, salt: &[u8; 20]) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(salt).expect("any key length");
    mac.update(name.as_bytes());
    format!(
        "|1|{}|{}",
        STANDARD.encode(salt),
        STANDARD.encode(mac.finalize().into_bytes())
    )
}

const HOSTS: [&str; 4] = ["a.test", "b.test", "[a.test]:2222", "10.0.0.7"];

/// One valid known_hosts line (ssh-keygen -R accepts the file) from a generated recipe.
fn kh_line(kind: u8, h1: usize, h2: usize, salt: u8) -> String {
    let a = HOSTS[h1 % HOSTS.len()];
    let b = HOSTS[h2 % HOSTS.len()];
    match kind % 9 {
        0 => format!("{a} {ED}"),
        1 => format!("{a},{b} {ED} comment here"),
        2 => format!("{} {ED}", hashed(a, &[salt; 20])),
        3 => format!("@revoked {a} {ED}"),
        4 => format!("@cert-authority *.test {ED}"),
        5 => "# a comment".to_string(),
        6 => String::new(),
        7 => format!("*.test,!{a} {ED}"),
        _ => format!("{}\t{ED}", a.to_ascii_uppercase()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// For generated valid files, removing a host leaves exactly the file `ssh-keygen -R` leaves
    /// and reports the lines it reports; every other line survives byte for byte.
    #[test]
    fn removal_equals_ssh_keygen_r_on_generated_files(
        recipe in proptest::collection::vec((any::<u8>(), 0usize..4, 0usize..4, any::<u8>()), 1..14),
        victim in 0usize..4,
        unterminated in any::<bool>(),
    ) {
        let mut text: String = recipe
            .iter()
            .map(|&(k, a, b, s)| kh_line(k, a, b, s) + "\n")
            .collect();
        if unterminated {
            text.pop();
        }
        let name = HOSTS[victim];
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, &text).expect("write");
        let out = std::process::Command::new("ssh-keygen")
            .arg("-R").arg(name).arg("-f").arg(&file)
            .env("HOME", dir.path())
            .output()
            .expect("ssh-keygen -R");
        prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut theirs = std::fs::read(&file).expect("read");
        let reported: Vec<usize> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.rsplit("line ").next()?.trim().parse().ok())
            .collect();

        let kh = known_hosts::parse(text.clone().into_bytes());
        let ours = known_hosts::remove_host(&kh, name);
        // On purpose: ssh-keygen ends an unterminated last line with "\n", sshdoctor keeps the
        // file's missing final newline.
        if unterminated && !ours.removed_lines.is_empty() && !ours.bytes.is_empty() && !ours.bytes.ends_with(b"\n") {
            prop_assert_eq!(theirs.pop(), Some(b'\n'));
        }
        prop_assert_eq!(
            String::from_utf8_lossy(&ours.bytes),
            String::from_utf8_lossy(&theirs),
            "file after ssh-keygen -R {}", name
        );
        prop_assert_eq!(&ours.removed_lines, &reported);
        // Exactly the matching lines changed: the kept lines are the original minus those.
        let kept: Vec<&str> = text
            .split_inclusive('\n')
            .enumerate()
            .filter(|(i, _)| !ours.removed_lines.contains(&(i + 1)))
            .map(|(_, l)| l)
            .collect();
        let ours_text = String::from_utf8_lossy(&ours.bytes).to_string();
        let kept_text = kept.concat();
        prop_assert_eq!(ours_text.trim_end_matches('\n'), kept_text.trim_end_matches('\n'));
    }
}

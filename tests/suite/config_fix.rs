//! The fixes that edit ~/.ssh/config, against real OpenSSH: `ssh -G` on generated configs (every
//! byte outside the edit survives, the target gets the value, every other host is unchanged),
//! and real `sshd` logins that fail, are fixed with one `sshdoctor fix ... --yes`, work, and fail
//! again after `sshdoctor undo`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use proptest::prelude::*;

use crate::support::agent::Agent;
use crate::support::run::{text, Sshdoctor};
use crate::support::sshd::{self, Sshd};
use crate::support::{mode, set_mode, ssh_says, stderr};
use sshdoctor::config::edit::{plan_edit, ConfigSet};
use sshdoctor::finding::ConfigSetting;
use sshdoctor::paths::SshPaths;

/// A home with `~/.ssh` (0700) when `with_ssh_dir`.
fn home(with_ssh_dir: bool) -> tempfile::TempDir {
    let h = tempfile::tempdir().expect("tempdir");
    if with_ssh_dir {
        let d = h.path().join(".ssh");
        std::fs::create_dir(&d).expect("mkdir .ssh");
        set_mode(&d, 0o700);
    }
    h
}

/// Real `ssh` as the user would run it, reading `HOME/.ssh/config` (given with -F, since ssh
/// takes its home from the password database), the test's known_hosts, `keys` on the command
/// line and the agent when given.
fn ssh(home: &Path, port: u16, kh: &Path, keys: &[&Path], agent: Option<&Path>) -> Output {
    let cfg = home.join(".ssh/config");
    let mut cmd = Command::new("ssh");
    cmd.arg("-F")
        .arg(if cfg.exists() {
            cfg
        } else {
            PathBuf::from("/dev/null")
        })
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
        ]);
    for k in keys {
        cmd.arg("-i").arg(k);
    }
    cmd.args(["-p", &port.to_string(), "root@127.0.0.1", "true"])
        .env("HOME", home)
        .stdin(Stdio::null());
    match agent {
        Some(a) => cmd.env("SSH_AUTH_SOCK", a),
        None => cmd.env_remove("SSH_AUTH_SOCK"),
    };
    cmd.output().expect("run ssh")
}

/// `ssh -G -F CONFIG NAME`, the lines as printed (None when ssh refuses).
fn ssh_g(config: &Path, name: &str) -> Option<String> {
    let out = Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(config)
        .arg("--")
        .arg(name)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh -G");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn option<'a>(g: &'a str, key: &str) -> Option<&'a str> {
    g.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
}

fn run_ok(home: &Path, args: &[&str], agent: Option<&Path>) -> Output {
    let mut r = Sshdoctor::new(home).args(args);
    if let Some(a) = agent {
        r = r.agent(a);
    }
    r.output()
}

#[test]
fn too_many_auth_failures_is_fixed_by_one_fix_and_comes_back_after_undo() {
    let server = Sshd::builder().line("MaxAuthTries 3").start();
    let h = home(true);
    let ssh_dir = h.path().join(".ssh");
    let agent = Agent::start();
    for i in 0..5 {
        agent.add(&sshd::keygen(h.path(), &format!("wrong{i}"), "ed25519", ""));
    }
    let good = sshd::keygen(&ssh_dir, "work", "ed25519", "");
    server.authorize(&good.with_extension("pub"));
    let kh = ssh_dir.join("known_hosts");
    std::fs::write(&kh, server.known_hosts_line()).expect("known_hosts");
    let cfg = ssh_dir.join("config");
    let original = format!(
        "# work server\nHost 127.0.0.1\n    IdentityFile {}\n\nHost *\n    ServerAliveInterval 30\n",
        good.display()
    );
    std::fs::write(&cfg, &original).expect("config");
    set_mode(&cfg, 0o640);

    // Real ssh: the agent's five keys go first, the server hangs up after three.
    let out = ssh(h.path(), server.port, &kh, &[], Some(&agent.sock));
    ssh_says(&out, "Too many authentication failures");

    // sshdoctor names it, with the native config fix.
    let target = format!("root@127.0.0.1:{}", server.port);
    let (code, v) = Sshdoctor::new(h.path())
        .agent(&agent.sock)
        .args(["probe", &target, "--json"])
        .json();
    assert_eq!(code, Some(1), "{v:#}");
    let f = v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "too-many-auth-failures"))
        .unwrap_or_else(|| panic!("no too-many-auth-failures in {v:#}"));
    assert!(
        f["evidence"].as_array().is_some_and(|e| e
            .iter()
            .any(|x| x == "server disconnects after 3 failed attempts")),
        "{f:#}"
    );
    assert_eq!(f["fixes"][0]["id"], "identities-only", "{f:#}");
    let title = f["fixes"][0]["title"].as_str().unwrap_or_default();
    assert!(title.contains("under `Host 127.0.0.1`"), "{title}");

    // One fix: the line goes into the host's own block; mode kept, other bytes kept.
    let good_s = good.display().to_string();
    let out = run_ok(
        h.path(),
        &["fix", "identities-only", &target, "-i", &good_s, "--yes"],
        None,
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        stderr(&out)
    );
    assert!(
        text(&out.stdout).contains("checked with ssh -G"),
        "{}",
        text(&out.stdout)
    );
    let edited = std::fs::read_to_string(&cfg).expect("config");
    assert_eq!(
        edited,
        original.replace(
            &format!("IdentityFile {}\n", good.display()),
            &format!("IdentityFile {}\n    IdentitiesOnly yes\n", good.display())
        )
    );
    assert_eq!(mode(&cfg), 0o640);
    let out = ssh(h.path(), server.port, &kh, &[], Some(&agent.sock));
    assert!(out.status.success(), "{}", stderr(&out));

    // Undo: the old bytes, and the old failure.
    let out = run_ok(h.path(), &["undo", "--yes"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&cfg).expect("config"), original);
    let out = ssh(h.path(), server.port, &kh, &[], Some(&agent.sock));
    ssh_says(&out, "Too many authentication failures");
}

#[test]
fn an_old_server_is_fixed_by_the_algorithm_line_in_a_config_created_0600() {
    let server = Sshd::builder()
        .host_key_type("rsa")
        .line("HostKeyAlgorithms ssh-rsa")
        .start();
    let h = home(false);
    let key = sshd::keygen(h.path(), "id", "ed25519", "");
    server.authorize(&key.with_extension("pub"));
    let kh = h.path().join("known_hosts");
    std::fs::write(&kh, server.known_hosts_line()).expect("known_hosts");
    let out = ssh(h.path(), server.port, &kh, &[&key], None);
    ssh_says(
        &out,
        "no matching host key type found. Their offer: ssh-rsa",
    );

    let target = format!("root@127.0.0.1:{}", server.port);
    let kh_s = kh.display().to_string();
    let (code, v) = Sshdoctor::new(h.path())
        .args(["probe", &target, "--known-hosts", &kh_s, "--json"])
        .json();
    assert_eq!(code, Some(1));
    let f = &v["findings"][0];
    assert_eq!(f["id"], "algorithm-mismatch", "{v:#}");
    assert_eq!(f["fixes"][0]["id"], "enable-legacy-algorithm");

    // --dry-run shows the new file and writes nothing.
    let out = run_ok(
        h.path(),
        &[
            "fix",
            "enable-legacy-algorithm",
            &target,
            "-o",
            "HostKeyAlgorithms=+ssh-rsa",
            "--dry-run",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = text(&out.stdout);
    assert!(shown.contains("+ Host 127.0.0.1"), "{shown}");
    assert!(
        shown.contains("+     HostKeyAlgorithms +ssh-rsa"),
        "{shown}"
    );
    assert!(!h.path().join(".ssh").exists());

    let out = run_ok(
        h.path(),
        &[
            "fix",
            "enable-legacy-algorithm",
            &target,
            "-o",
            "HostKeyAlgorithms=+ssh-rsa",
            "--yes",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        stderr(&out)
    );
    let cfg = h.path().join(".ssh/config");
    assert_eq!(
        std::fs::read_to_string(&cfg).expect("config"),
        "Host 127.0.0.1\n    HostKeyAlgorithms +ssh-rsa\n"
    );
    assert_eq!(mode(&cfg), 0o600);
    assert_eq!(mode(&h.path().join(".ssh")), 0o700);
    let out = ssh(h.path(), server.port, &kh, &[&key], None);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = run_ok(h.path(), &["undo", "--yes"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!cfg.exists());
    let out = ssh(h.path(), server.port, &kh, &[&key], None);
    ssh_says(
        &out,
        "no matching host key type found. Their offer: ssh-rsa",
    );
}

#[test]
fn host_star_setting_the_option_first_gets_a_block_above_it() {
    let server = Sshd::builder()
        .host_key_type("rsa")
        .line("HostKeyAlgorithms ssh-rsa")
        .start();
    let h = home(true);
    let key = sshd::keygen(h.path(), "id", "ed25519", "");
    server.authorize(&key.with_extension("pub"));
    let kh = h.path().join("known_hosts");
    std::fs::write(&kh, server.known_hosts_line()).expect("known_hosts");
    let cfg = h.path().join(".ssh/config");
    let original = "Host *\r\n\tHostKeyAlgorithms=ssh-ed25519,rsa-sha2-512 # hardened\r\n\tServerAliveInterval 30\r\n\r\nHost 127.0.0.1\r\n\tUser root";
    std::fs::write(&cfg, original).expect("config");
    let before_other = ssh_g(&cfg, "other.example").expect("ssh -G");

    // A line added below, in the host's own block, would do nothing: ssh read Host * first.
    let naive = format!("{original}\r\n\tHostKeyAlgorithms +ssh-rsa");
    let dir = tempfile::tempdir().expect("tempdir");
    let naive_cfg = dir.path().join("config");
    std::fs::write(&naive_cfg, naive).expect("config");
    let g = ssh_g(&naive_cfg, "127.0.0.1").expect("ssh -G");
    assert_eq!(
        option(&g, "hostkeyalgorithms"),
        Some("ssh-ed25519,rsa-sha2-512")
    );
    let out = ssh(h.path(), server.port, &kh, &[&key], None);
    ssh_says(
        &out,
        "no matching host key type found. Their offer: ssh-rsa",
    );

    let target = format!("127.0.0.1:{}", server.port);
    let out = run_ok(
        h.path(),
        &[
            "fix",
            "enable-legacy-algorithm",
            &target,
            "-o",
            "HostKeyAlgorithms=+ssh-rsa",
            "--yes",
        ],
        None,
    );
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", stderr(&out));
    assert!(
        said.contains("ssh reads `HostKeyAlgorithms=ssh-ed25519,rsa-sha2-512 # hardened` for 127.0.0.1 first, at ~/.ssh/config:2 (in `Host *`)"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(&cfg).expect("config"),
        format!("Host 127.0.0.1\r\n\tHostKeyAlgorithms=+ssh-rsa\r\n\r\n{original}")
    );
    assert_eq!(ssh_g(&cfg, "other.example"), Some(before_other));
    let out = ssh(h.path(), server.port, &kh, &[&key], None);
    assert!(out.status.success(), "{}", stderr(&out));

    // Already done: nothing more to write.
    let out = run_ok(
        h.path(),
        &[
            "fix",
            "enable-legacy-algorithm",
            &target,
            "-o",
            "HostKeyAlgorithms=+ssh-rsa",
            "--yes",
        ],
        None,
    );
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("Nothing to do"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn bad_arguments_are_usage_errors_and_write_nothing() {
    let h = home(true);
    for args in [
        &["fix", "identities-only", "web"][..],
        &["fix", "identities-only", "web", "-i", "/nonexistent/key"],
        &["fix", "enable-legacy-algorithm", "web", "-o", "User=root"],
        &[
            "fix",
            "enable-legacy-algorithm",
            "web",
            "-o",
            "HostKeyAlgorithms=ssh-rsa",
        ],
        &[
            "fix",
            "enable-legacy-algorithm",
            "web*",
            "-o",
            "HostKeyAlgorithms=+ssh-rsa",
        ],
        &[
            "fix",
            "enable-legacy-algorithm",
            "-o",
            "HostKeyAlgorithms=+ssh-rsa",
        ],
        &["fix", "ignore-unknown-option", "Use Keychain"],
    ] {
        let out = run_ok(h.path(), args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
    assert!(!h.path().join(".ssh/config").exists());
}

#[test]
fn a_config_ssh_refuses_gets_ignore_unknown_at_the_top() {
    let h = home(true);
    let cfg = h.path().join(".ssh/config");
    let original = "Host *\n  UseKeychain yes\n  AddKeysToAgent yes\n";
    std::fs::write(&cfg, original).expect("config");
    assert!(ssh_g(&cfg, "web").is_none());
    let out = run_ok(h.path(), &["fix", "ignore-unknown-option", "--yes"], None);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&cfg).expect("config"),
        format!("IgnoreUnknown UseKeychain\n{original}")
    );
    let g = ssh_g(&cfg, "web").expect("ssh accepts it now");
    assert_eq!(option(&g, "addkeystoagent"), Some("true"));
}

// ---- Generated configs and edits, held to `ssh -G`. ----

const NAMES: [&str; 4] = ["web", "db", "new.example", "10.0.0.9"];

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Host web".to_string()),
        Just("Host db".to_string()),
        Just("Host web db".to_string()),
        Just("Host *".to_string()),
        Just("Host *.example !db".to_string()),
        Just("host=10.0.0.*".to_string()),
        Just("Match host db".to_string()),
        Just("Match all".to_string()),
    ]
}

fn option_line() -> impl Strategy<Value = String> {
    let body = prop_oneof![
        Just(("IdentitiesOnly", "no")),
        Just(("IdentitiesOnly", "yes")),
        Just(("HostKeyAlgorithms", "ssh-ed25519,rsa-sha2-512")),
        Just(("HostKeyAlgorithms", "+ssh-dss")),
        Just(("ForwardAgent", "no")),
        Just(("User", "alice")),
        Just(("Port", "2200")),
        Just(("ServerAliveInterval", "15")),
        Just(("IdentityFile", "/k/one")),
    ];
    let indent = prop_oneof![Just(""), Just("  "), Just("    "), Just("\t")];
    let sep = prop_oneof![Just(" "), Just("="), Just(" = "), Just("\t")];
    let quote = any::<bool>();
    let comment = prop_oneof![Just(""), Just(" # why")];
    (body, indent, sep, quote, comment).prop_map(|((k, v), i, s, q, c)| {
        let v = if q { format!("\"{v}\"") } else { v.to_string() };
        format!("{i}{k}{s}{v}{c}")
    })
}

fn config_lines() -> impl Strategy<Value = Vec<String>> {
    let line = prop_oneof![
        3 => option_line(),
        2 => header(),
        1 => Just("# a comment".to_string()),
        1 => Just(String::new()),
    ];
    proptest::collection::vec(line, 0..10)
}

fn setting() -> impl Strategy<Value = ConfigSetting> {
    prop_oneof![
        Just(ConfigSetting::set("IdentitiesOnly", "yes")),
        Just(ConfigSetting::set("ForwardAgent", "yes")),
        Just(ConfigSetting::in_list("HostKeyAlgorithms", "ssh-rsa")),
        Just(ConfigSetting::add("IdentityFile", "/k/new")),
    ]
}

fn join(lines: &[String], crlf: bool, final_newline: bool) -> Vec<u8> {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut s = lines.join(eol);
    if final_newline && !lines.is_empty() {
        s.push_str(eol);
    }
    s.into_bytes()
}

/// Whether `after` is `before` with whole lines added, at most `edits` lines changed in place
/// (keeping the bytes before their value) and the last line given a line end.
fn only_added_or_edited(before: &[u8], after: &[u8], edits: usize) -> bool {
    let a: Vec<&[u8]> = before.split_inclusive(|&b| b == b'\n').collect();
    let b: Vec<&[u8]> = after.split_inclusive(|&b| b == b'\n').collect();
    // Greedy: each old line must appear in order; a line not found may be an edited one.
    let (mut j, mut edited) = (0usize, 0usize);
    for (i, line) in a.iter().enumerate() {
        let last = i + 1 == a.len();
        let found = (j..b.len())
            .find(|&k| b[k] == *line || (last && !line.ends_with(b"\n") && b[k].starts_with(line)));
        match found {
            Some(k) => j = k + 1,
            None => {
                edited += 1;
                let indent = line.iter().take_while(|c| b" \t".contains(c)).count();
                let kw: Vec<u8> = line
                    .iter()
                    .copied()
                    .enumerate()
                    .take_while(|(i, c)| *i < indent || !b" =\t".contains(c))
                    .map(|(_, c)| c)
                    .collect();
                match (j..b.len()).find(|&k| b[k].starts_with(&kw)) {
                    Some(k) => j = k + 1,
                    None => return false,
                }
            }
        }
    }
    edited <= edits
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    #[test]
    fn generated_edits_keep_every_other_byte_and_change_only_the_target(
        main in config_lines(),
        included in config_lines(),
        include_at in 0usize..12,
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
        host in 0usize..NAMES.len(),
        settings in proptest::collection::vec(setting(), 1..3),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = SshPaths::with_home(dir.path());
        std::fs::create_dir_all(dir.path().join(".ssh/config.d")).expect("mkdir");
        let inc = dir.path().join(".ssh/config.d/extra");
        let mut main = main;
        // Absolute, so ssh (whose ~ is the password database's) finds it too.
        let pattern = format!("{}/.ssh/config.d/*", dir.path().display());
        main.insert(include_at.min(main.len()), format!("Include {pattern}"));
        let main_bytes = join(&main, crlf, final_newline);
        let inc_bytes = join(&included, crlf, true);
        let cfg = dir.path().join(".ssh/config");
        std::fs::write(&cfg, &main_bytes).expect("write");
        std::fs::write(&inc, &inc_bytes).expect("write");
        let names: Vec<&str> = NAMES.iter().copied().chain(["other.invalid"]).collect();
        let before: Vec<Option<String>> = names.iter().map(|n| ssh_g(&cfg, n)).collect();
        prop_assume!(before.iter().all(Option::is_some));

        let set = ConfigSet {
            main: cfg.clone(),
            main_exists: true,
            files: vec![(cfg.clone(), main_bytes.clone()), (inc.clone(), inc_bytes.clone())],
            includes: [(pattern, vec![inc.clone()])].into_iter().collect(),
        };
        let target = NAMES[host];
        let edit = plan_edit(&set, Some(target), &settings, &paths).expect("plan");
        for f in &edit.files {
            prop_assert!(
                only_added_or_edited(&f.before, &f.after, settings.len()),
                "{}\n--- before\n{}\n--- after\n{}",
                f.path.display(),
                String::from_utf8_lossy(&f.before),
                String::from_utf8_lossy(&f.after)
            );
            std::fs::write(&f.path, &f.after).expect("write");
        }
        for (n, b) in names.iter().zip(&before) {
            let a = ssh_g(&cfg, n);
            prop_assert!(a.is_some(), "ssh refuses the edited config for {n}");
            let a = a.unwrap_or_default();
            let b = b.clone().unwrap_or_default();
            if *n != target {
                prop_assert_eq!(&a, &b, "{} changed", n);
                continue;
            }
            for s in &settings {
                let key = s.keyword.to_ascii_lowercase();
                let got: Vec<&str> = a
                    .lines()
                    .filter_map(|l| l.strip_prefix(key.as_str()).and_then(|r| r.strip_prefix(' ')))
                    .collect();
                let ok = match &s.want {
                    sshdoctor::finding::ConfigWant::Set(v) => got.first() == Some(&v.as_str()),
                    sshdoctor::finding::ConfigWant::InList(x) => {
                        got.first().is_some_and(|g| g.split(',').any(|i| i == x))
                    }
                    sshdoctor::finding::ConfigWant::Add(v) => got.contains(&v.as_str()),
                };
                prop_assert!(ok, "{} for {}: {:?}\n{}", s.line(), target, got,
                    edit.files.iter().map(|f| String::from_utf8_lossy(&f.after).into_owned()).collect::<Vec<_>>().join("\n==\n"));
            }
            // Nothing else changed for the target.
            let keys: Vec<String> = settings.iter().map(|s| s.keyword.to_ascii_lowercase()).collect();
            let rest = |g: &str| g.lines()
                .filter(|l| !keys.iter().any(|k| l.split(' ').next() == Some(k.as_str())))
                .map(str::to_string)
                .collect::<Vec<_>>();
            prop_assert_eq!(rest(&a), rest(&b));
        }
    }
}

#[test]
fn the_proof_refuses_an_edit_that_changes_another_host_or_misses_the_target() {
    use sshdoctor::config::proof::{prove, ProofSource, ProofTarget};
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = SshPaths::with_home(dir.path());
    let main = dir.path().join(".ssh/config");
    let before = ConfigSet::single(&main, Some(b"Host web\n  User a\nHost db\n  User b\n"));
    let s = [ConfigSetting::set("IdentitiesOnly", "yes")];
    let target = ProofTarget {
        host: Some("web"),
        user: None,
        port: None,
    };
    for ssh in ["ssh", "/nonexistent/ssh"] {
        let ssh = std::ffi::OsStr::new(ssh);
        // Right: only web gets it.
        let good = ConfigSet::single(
            &main,
            Some(b"Host web\n  User a\n  IdentitiesOnly yes\nHost db\n  User b\n"),
        );
        let p = prove(&before, &good, &target, &s, &paths, ssh).expect("proved");
        assert_eq!(
            p.source,
            if ssh == "ssh" {
                ProofSource::SshG
            } else {
                ProofSource::Parsed
            }
        );
        assert!(p.names.contains(&"db".to_string()), "{:?}", p.names);
        // Wrong: db gets it too.
        let wide = ConfigSet::single(
            &main,
            Some(b"IdentitiesOnly yes\nHost web\n  User a\nHost db\n  User b\n"),
        );
        let e = prove(&before, &wide, &target, &s, &paths, ssh).unwrap_err();
        assert!(e.contains("db"), "{e}");
        // Wrong: a dead line below the value ssh reads first.
        let dead = ConfigSet::single(
            &main,
            Some(b"Host *\n  IdentitiesOnly no\nHost web\n  User a\n  IdentitiesOnly yes\nHost db\n  User b\n"),
        );
        let e = prove(&before, &dead, &target, &s, &paths, ssh).unwrap_err();
        assert!(e.contains("still does not use"), "{e}");
        // Wrong: more than the option changes for the target.
        let more = ConfigSet::single(
            &main,
            Some(b"Host web\n  User z\n  IdentitiesOnly yes\nHost db\n  User b\n"),
        );
        let e = prove(&before, &more, &target, &s, &paths, ssh).unwrap_err();
        assert!(e.contains("more than asked"), "{e}");
    }
}

#[test]
fn the_dashboards_f_writes_the_same_config_line_after_y() {
    let server = Sshd::builder()
        .host_key_type("rsa")
        .line("HostKeyAlgorithms ssh-rsa")
        .start();
    let h = home(true);
    let key = sshd::keygen(&h.path().join(".ssh"), "id_ed25519", "ed25519", "");
    server.authorize(&key.with_extension("pub"));
    let kh = h.path().join(".ssh/known_hosts");
    std::fs::write(&kh, server.known_hosts_line()).expect("known_hosts");
    let cfg = h.path().join(".ssh/config");
    let original = "Host *\n  HostKeyAlgorithms ssh-ed25519\n";
    std::fs::write(&cfg, original).expect("config");
    set_mode(&cfg, 0o600);
    let out = ssh(h.path(), server.port, &kh, &[&key], None);
    ssh_says(
        &out,
        "no matching host key type found. Their offer: ssh-rsa",
    );

    let t = crate::support::tmux::Tmux::start_sshdoctor(
        h.path(),
        "SSHDOCTOR_NO_SERVER_PANE=1",
        &[&format!("root@127.0.0.1:{}", server.port)],
    );
    t.wait_for("No common host key algorithm with 127.0.0.1");
    t.keys(&["Enter", "f"]);
    // Each wait on its own: a capture can catch the popup half drawn (tmux reads the screen
    // between two of the frame's writes, as the CI run once did).
    t.wait_for("Apply this fix?");
    t.wait_for("checked with ssh -G");
    t.wait_for("+ Host 127.0.0.1");
    assert_eq!(std::fs::read_to_string(&cfg).expect("config"), original);
    t.keys(&["y"]);
    t.wait_for("Done: ~/.ssh/config");
    t.keys(&["q", "q"]);
    t.wait_for("EXIT=0");
    assert_eq!(
        std::fs::read_to_string(&cfg).expect("config"),
        format!("Host 127.0.0.1\n  HostKeyAlgorithms +ssh-rsa\n\n{original}")
    );
    let out = ssh(h.path(), server.port, &kh, &[&key], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_ok(h.path(), &["undo", "--yes"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&cfg).expect("config"), original);
}

#[test]
fn a_block_in_an_included_file_is_edited_there_and_proved_through_the_include() {
    let h = home(true);
    let ssh_dir = h.path().join(".ssh");
    std::fs::create_dir(ssh_dir.join("conf.d")).expect("mkdir");
    let key = sshd::keygen(&ssh_dir, "work", "ed25519", "");
    let main = "Include conf.d/*\nHost *\n  IdentitiesOnly no\n";
    let web = "Host web\n  HostName 10.0.0.5\n  IdentitiesOnly no # for now\n";
    std::fs::write(ssh_dir.join("config"), main).expect("config");
    std::fs::write(ssh_dir.join("conf.d/web"), web).expect("include");
    let key_s = key.display().to_string();
    let out = run_ok(
        h.path(),
        &[
            "fix",
            "identities-only",
            "web",
            "-i",
            &key_s,
            "--yes",
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["results"][0]["applied"], true, "{v:#}");
    assert!(v["plans"][0]["notes"].as_array().is_some_and(|n| n
        .iter()
        .any(|x| x.as_str().is_some_and(|s| s.contains("conf.d/web:3")))));
    // The include's own block, edited where it is; the main file untouched.
    assert_eq!(
        std::fs::read_to_string(ssh_dir.join("conf.d/web")).expect("include"),
        format!("Host web\n  HostName 10.0.0.5\n  IdentitiesOnly yes # for now\n  IdentityFile {key_s}\n")
    );
    assert_eq!(
        std::fs::read_to_string(ssh_dir.join("config")).expect("config"),
        main
    );
    // ssh agrees, reading the include by its absolute name (its own ~ is not this HOME).
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("config");
    std::fs::write(
        &copy,
        main.replace("conf.d/*", &format!("{}/conf.d/*", ssh_dir.display())),
    )
    .expect("copy");
    let g = ssh_g(&copy, "web").expect("ssh -G");
    assert_eq!(option(&g, "identitiesonly"), Some("yes"));
    let g = ssh_g(&copy, "db").expect("ssh -G");
    assert_eq!(option(&g, "identitiesonly"), Some("no"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    #[test]
    fn ignore_unknown_for_every_host_changes_nothing_else(
        main in config_lines(),
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = SshPaths::with_home(dir.path());
        let cfg = dir.path().join("config");
        let bytes = join(&main, crlf, final_newline);
        std::fs::write(&cfg, &bytes).expect("write");
        let names: Vec<&str> = NAMES.iter().copied().chain(["other.invalid"]).collect();
        let before: Vec<Option<String>> = names.iter().map(|n| ssh_g(&cfg, n)).collect();
        prop_assume!(before.iter().all(Option::is_some));
        let set = ConfigSet::single(&cfg, Some(&bytes));
        let s = [ConfigSetting::in_list("IgnoreUnknown", "UseKeychain")];
        let edit = plan_edit(&set, None, &s, &paths).expect("plan");
        let f = &edit.files[0];
        prop_assert!(f.after.ends_with(&f.before), "only a first line is added");
        std::fs::write(&cfg, &f.after).expect("write");
        for (n, b) in names.iter().zip(&before) {
            let a = ssh_g(&cfg, n).unwrap_or_default();
            prop_assert_eq!(option(&a, "ignoreunknown"), Some("UseKeychain"));
            let rest = |g: &str| g.lines().filter(|l| !l.starts_with("ignoreunknown ")).map(str::to_string).collect::<Vec<_>>();
            prop_assert_eq!(rest(&a), rest(b.as_deref().unwrap_or_default()));
        }
    }
}

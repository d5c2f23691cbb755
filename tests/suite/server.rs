//! `sshdoctor server` against a real sshd (StrictModes yes, 127.0.0.1 only): each case breaks one
//! thing, proves with a real `ssh` login that it fails, checks that the report names that cause
//! (and quotes sshd's own log line), applies the offered fix with `sshdoctor fix ... --yes` and
//! proves the login works again; then `sshdoctor undo --yes` must give back the broken state
//! byte for byte and mode for mode, and the login must fail again.

mod lab;

use crate::support::sshd::keygen;
use lab::{apply_fix, finding, has_evidence, offered, Lab};

fn chmod(mode: &str, p: &std::path::Path) {
    let o = lab::run("chmod", &[mode, p.to_str().unwrap_or_default()]);
    assert!(o.status.success());
}

/// One broken thing: how to break it, what the report must say, and the fix to apply.
struct Case<'a> {
    name: &'a str,
    /// sshd_config lines put first (sshd keeps the first value of a keyword).
    first: &'a str,
    break_it: &'a dyn Fn(&Lab),
    id: &'a str,
    evidence: Vec<String>,
    log_needle: String,
    fix_id: &'a str,
    /// What follows `sshdoctor fix FIX_ID`; empty for a fix left to the administrator.
    fix_args: Vec<String>,
    /// The fix edits sshd_config: sshd must be restarted to read it.
    reload: bool,
}

/// Applies `fix_id` through `sshdoctor fix` and checks it: the plan shows the same command the
/// finding offered, the login works after it, and undo restores the exact broken state.
fn fix_and_undo(
    lab: &mut Lab,
    name: &str,
    f: &serde_json::Value,
    fix_id: &str,
    args: &[String],
    reload: bool,
) {
    let offered_cmd = offered(f, fix_id)["command"].clone();
    let mut argv: Vec<&str> = vec!["fix", fix_id];
    argv.extend(args.iter().map(String::as_str));
    let mut dry = argv.clone();
    dry.extend(["--dry-run", "--json"]);
    let (code, out, err) = lab.sshdoctor(&dry);
    assert_eq!(code, 0, "{name}: dry run: {out}{err}");
    let plans: serde_json::Value = serde_json::from_str(&out).expect("fix --json");
    assert_eq!(
        plans["plans"][0]["command"], offered_cmd,
        "{name}: the plan's equivalent command is the one the finding offered"
    );
    let broken = lab.state();
    assert_eq!(lab.state(), broken, "{name}: a dry run writes nothing");

    let mut yes = argv.clone();
    yes.push("--yes");
    let (code, out, err) = lab.sshdoctor(&yes);
    assert_eq!(code, 0, "{name}: sshdoctor {yes:?}: {out}{err}");
    assert!(out.contains("Undo with: sshdoctor undo"), "{name}: {out}");
    if reload {
        lab.reload();
    }
    lab.login().unwrap_or_else(|e| {
        panic!(
            "{name}: login after fix {fix_id} failed: {e}\n{out}\n{}",
            lab.log_text()
        )
    });

    let (code, out, err) = lab.sshdoctor(&["undo", "--yes"]);
    assert_eq!(code, 0, "{name}: undo: {out}{err}");
    assert!(out.contains("undone:"), "{name}: {out}");
    assert_eq!(
        lab.state(),
        broken,
        "{name}: undo gives back the broken files byte for byte, mode for mode"
    );
    if reload {
        lab.reload();
    }
    lab.login()
        .expect_err(&format!("{name}: login fails again after undo"));
}

fn case(lab: &mut Lab, c: Case) {
    let name = c.name;
    lab.reset_files();
    lab.start(name, c.first, "");
    (c.break_it)(lab);
    let err = lab
        .login()
        .expect_err(&format!("{name}: login should fail"));
    assert!(err.contains("Permission denied"), "{name}: {err}");
    lab.wait_log(&c.log_needle);
    let (code, report) = lab.doctor(&["--pubkey", lab.pubkey.to_str().unwrap_or_default()]);
    assert_eq!(
        code, 1,
        "{name}: exit code with an error finding\n{report:#}"
    );
    let f = finding(&report, c.id).unwrap_or_else(|| panic!("{name}: no {} in {report:#}", c.id));
    assert_eq!(f["severity"], "error", "{name}");
    for e in &c.evidence {
        assert!(
            has_evidence(f, e),
            "{name}: evidence {e:?} missing in {f:#}"
        );
    }
    assert!(
        lab.log_text().contains(&c.log_needle),
        "{name}: sshd did not log {:?}: {}",
        c.log_needle,
        lab.log_text()
    );
    assert!(
        has_evidence(f, &c.log_needle),
        "{name}: log line {:?} not quoted in {f:#}",
        c.log_needle
    );
    if c.fix_args.is_empty() {
        // Left to the administrator: sshdoctor says why and what to run, and changes nothing.
        let before = lab.state();
        let (code, out, _) = lab.sshdoctor(&["fix", c.fix_id, "--yes"]);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains("does not apply"), "{name}: {out}");
        assert_eq!(lab.state(), before, "{name}");
        apply_fix(f, c.fix_id);
        if c.reload {
            lab.reload();
        }
        lab.login().unwrap_or_else(|e| {
            panic!(
                "{name}: login after {} failed: {e}\n{}",
                c.fix_id,
                lab.log_text()
            )
        });
    } else {
        fix_and_undo(lab, name, f, c.fix_id, &c.fix_args, c.reload);
    }
}

#[test]
fn each_broken_thing_is_named_and_its_fix_works() {
    let mut lab = Lab::new(true);

    lab.start("baseline", "", "");
    lab.login().expect("baseline login works");
    let (code, report) = lab.doctor(&["--pubkey", lab.pubkey.to_str().unwrap_or_default()]);
    assert_eq!(code, 0, "a working setup has no error finding: {report:#}");
    assert_eq!(report["user"], lab.user.as_str());
    assert_eq!(report["sshd"]["strictmodes"], "yes");
    assert_eq!(report["sshd_source"], "sshd -T");
    assert_eq!(
        report["sshd"]["authorizedkeysfile"][0],
        lab.authorized_keys().display().to_string()
    );
    assert!(finding(&report, "sshd-not-listening").is_none());

    let home = lab.home.display().to_string();
    let ssh = lab.ssh_dir().display().to_string();
    let ak = lab.authorized_keys().display().to_string();
    let uname = lab.user.clone();

    let cfg = lab.config.display().to_string();
    let s = |x: &str| x.to_string();
    case(
        &mut lab,
        Case {
            name: "home-0777",
            first: "",
            break_it: &|l| chmod("0777", &l.home),
            id: "strictmodes-mode",
            evidence: vec![format!("{home}: mode 0777")],
            log_needle: format!("bad ownership or modes for directory {home}"),
            fix_id: "chmod-go-w",
            fix_args: vec![home.clone()],
            reload: false,
        },
    );
    case(
        &mut lab,
        Case {
            name: "ssh-dir-0777",
            first: "",
            break_it: &|l| chmod("0777", &l.ssh_dir()),
            id: "strictmodes-mode",
            evidence: vec![format!("{ssh}: mode 0777")],
            log_needle: format!("bad ownership or modes for directory {ssh}"),
            fix_id: "chmod-700",
            fix_args: vec![ssh.clone()],
            reload: false,
        },
    );
    case(
        &mut lab,
        Case {
            name: "authorized-keys-0666",
            first: "",
            break_it: &|l| chmod("0666", &l.authorized_keys()),
            id: "strictmodes-mode",
            evidence: vec![format!("{ak}: mode 0666")],
            log_needle: format!("bad ownership or modes for file {ak}"),
            fix_id: "chmod-600",
            fix_args: vec![ak.clone()],
            reload: false,
        },
    );
    case(
        &mut lab,
        Case {
            name: "wrong-owner",
            first: "",
            break_it: &|l| {
                let o = lab::run(
                    "chown",
                    &["nobody", l.authorized_keys().to_str().unwrap_or_default()],
                );
                assert!(o.status.success());
                chmod("0644", &l.authorized_keys());
            },
            id: "strictmodes-owner",
            evidence: vec![format!("{ak}: owner uid 65534, mode 0644")],
            log_needle: format!("bad ownership or modes for file {ak}"),
            fix_id: "chown",
            fix_args: vec![],
            reload: false,
        },
    );
    // Owned by someone else and 0600: sshd reads the file with the user's rights, so it never
    // gets as far as the modes check; the log says "Could not open".
    case(
        &mut lab,
        Case {
            name: "wrong-owner-unreadable",
            first: "",
            break_it: &|l| {
                let o = lab::run(
                    "chown",
                    &["nobody", l.authorized_keys().to_str().unwrap_or_default()],
                );
                assert!(o.status.success());
            },
            id: "strictmodes-owner",
            evidence: vec![format!("{ak}: owner uid 65534, mode 0600")],
            log_needle: format!(
                "Could not open user '{}' authorized keys '{ak}': Permission denied",
                uname
            ),
            fix_id: "chown",
            fix_args: vec![],
            reload: false,
        },
    );
    let pubkey = lab.pubkey.display().to_string();
    case(
        &mut lab,
        Case {
            name: "key-missing",
            first: "",
            break_it: &|l| {
                let other = keygen(&l.root.join("client"), "other", "ed25519", "");
                let pubk = std::fs::read(other.with_extension("pub")).unwrap_or_default();
                std::fs::write(l.authorized_keys(), pubk).expect("write");
            },
            id: "key-not-authorized",
            evidence: vec![],
            log_needle: s("Failed publickey for"),
            fix_id: "append-authorized-key",
            fix_args: vec![
                s("--user"),
                uname.clone(),
                s("--pubkey"),
                pubkey.clone(),
                s("--sshd-config"),
                cfg.clone(),
            ],
            reload: false,
        },
    );
    case(
        &mut lab,
        Case {
            name: "from-excludes-client",
            first: "",
            break_it: &|l| {
                let pubk = std::fs::read_to_string(&l.pubkey).unwrap_or_default();
                std::fs::write(
                    l.authorized_keys(),
                    format!("from=\"10.0.0.1\",no-pty {pubk}"),
                )
                .expect("write");
            },
            id: "authorized-key-refused-by-option",
            evidence: vec![s("from=\"10.0.0.1\"")],
            log_needle: s("not from a permitted host"),
            fix_id: "authorized-key-allow-from",
            fix_args: vec![format!("{ak}:1"), s("--from"), s("127.0.0.1")],
            reload: false,
        },
    );
    case(
        &mut lab,
        Case {
            name: "pubkey-auth-off",
            first: "PubkeyAuthentication no",
            break_it: &|_| {},
            id: "pubkey-auth-disabled",
            evidence: vec![s("pubkeyauthentication no")],
            log_needle: s(""),
            fix_id: "sshd-config-set",
            fix_args: vec![
                s("PubkeyAuthentication yes"),
                s("--sshd-config"),
                cfg.clone(),
            ],
            reload: true,
        },
    );
    // Issue 12: the key is in authorized_keys, but sshd's PubkeyAcceptedAlgorithms leaves its
    // type out (the client only sees "Permission denied"; the log says why).
    case(
        &mut lab,
        Case {
            name: "key-type-not-accepted",
            first: "PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256",
            break_it: &|_| {},
            id: "key-type-not-accepted",
            evidence: vec![s("pubkeyacceptedalgorithms rsa-sha2-512,rsa-sha2-256")],
            log_needle: s("not in PubkeyAcceptedAlgorithms"),
            fix_id: "sshd-config-set",
            fix_args: vec![
                s("PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256,ssh-ed25519"),
                s("--sshd-config"),
                cfg.clone(),
            ],
            reload: true,
        },
    );
    case(
        &mut lab,
        Case {
            name: "allowusers-other",
            first: "AllowUsers nobody",
            break_it: &|_| {},
            id: "user-not-allowed",
            evidence: vec![s("allowusers nobody")],
            log_needle: s("not allowed because not listed in AllowUsers"),
            fix_id: "sshd-config-allow-user",
            fix_args: vec![s("--user"), uname.clone(), s("--sshd-config"), cfg.clone()],
            reload: true,
        },
    );

    // sshd's own verdict on CRLF: a key line ending in \r\n (no comment, so the \r touches the
    // base64) still logs in; sshdoctor reports it as information only.
    lab.reset_files();
    lab.start("crlf", "", "");
    let pubk = std::fs::read_to_string(&lab.pubkey).unwrap_or_default();
    let bare: Vec<&str> = pubk.split_whitespace().take(2).collect();
    std::fs::write(lab.authorized_keys(), format!("{}\r\n", bare.join(" "))).expect("write");
    lab.login()
        .expect("sshd accepts a CRLF authorized_keys line");
    let (code, report) = lab.doctor(&["--pubkey", lab.pubkey.to_str().unwrap_or_default()]);
    assert_eq!(code, 0, "{report:#}");
    let f = finding(&report, "authorized-keys-crlf").expect("CRLF reported");
    assert_eq!(f["severity"], "info");
    assert!(finding(&report, "key-not-authorized").is_none());
    let crlf = lab.state();
    let (code, out, err) = lab.sshdoctor(&["fix", "strip-crlf", &ak, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let now = std::fs::read(lab.authorized_keys()).expect("read");
    assert_eq!(now, format!("{}\n", bare.join(" ")).into_bytes());
    lab.login().expect("login with LF line ends");
    let (code, out, err) = lab.sshdoctor(&["undo", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(lab.state(), crlf, "undo gives the CRLF bytes back");

    // No ~/.ssh at all: the key is appended to a new authorized_keys, and as root sshdoctor
    // hands ~/.ssh (0700) and the file (0600) to the user, as sshd requires.
    lab.reset_files();
    lab.start("no-ssh-dir", "", "");
    std::fs::remove_dir_all(lab.ssh_dir()).expect("rm ~/.ssh");
    lab.login().expect_err("no authorized_keys, no login");
    let (code, report) = lab.doctor(&["--pubkey", &pubkey]);
    assert_eq!(code, 1, "{report:#}");
    let f = finding(&report, "key-not-authorized").unwrap_or_else(|| panic!("{report:#}"));
    offered(f, "append-authorized-key");
    let (code, out, err) = lab.sshdoctor(&[
        "fix",
        "append-authorized-key",
        "--user",
        &uname,
        "--pubkey",
        &pubkey,
        "--sshd-config",
        &cfg,
        "--yes",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let uid = |p: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p)
            .map(|m| (m.uid(), m.mode() & 0o7777))
            .expect("stat")
    };
    let home_uid = uid(&lab.home).0;
    assert_eq!(uid(&lab.ssh_dir()), (home_uid, 0o700));
    assert_eq!(uid(&lab.authorized_keys()), (home_uid, 0o600));
    lab.login()
        .expect("login after the key was appended to a new file");
    let (code, out, err) = lab.sshdoctor(&["undo", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !lab.authorized_keys().exists(),
        "undo deletes the file it created"
    );
    lab.login().expect_err("no login after undo");

    // Connection refused, server side: the configured address has nobody listening.
    lab.stop();
    let (code, report) = lab.doctor(&[]);
    assert_eq!(code, 1);
    let f = finding(&report, "sshd-not-listening").expect("not listening reported");
    assert!(has_evidence(f, &format!("127.0.0.1:{}", lab.port)), "{f:#}");
}

#[test]
fn root_login_refused_is_named_and_fixed() {
    let mut lab = Lab::new(false);
    let ak = lab.authorized_keys().display().to_string();
    lab.reset_files();
    lab.start(
        "root",
        "PermitRootLogin no",
        &format!("Match User root\n  AuthorizedKeysFile {ak}"),
    );
    let err = lab.login().expect_err("root login refused");
    assert!(err.contains("Permission denied"), "{err}");
    let (code, report) = lab.doctor(&["--pubkey", lab.pubkey.to_str().unwrap_or_default()]);
    assert_eq!(code, 1, "{report:#}");
    // The Match block applied: sshd -T -C user=root shows root's own AuthorizedKeysFile.
    assert_eq!(report["sshd"]["authorizedkeysfile"][0], ak.as_str());
    let f = finding(&report, "root-login-refused").unwrap_or_else(|| panic!("{report:#}"));
    assert!(has_evidence(f, "permitrootlogin no"));
    assert!(
        has_evidence(f, "ROOT LOGIN REFUSED"),
        "{f:#}\n{}",
        lab.log_text()
    );
    let cfg = lab.config.display().to_string();
    fix_and_undo(
        &mut lab,
        "root",
        f,
        "sshd-config-set",
        &[
            "PermitRootLogin prohibit-password".to_string(),
            "--sshd-config".to_string(),
            cfg,
        ],
        true,
    );
}

#[test]
fn an_sshd_config_edit_that_sshd_rejects_is_rolled_back() {
    let mut lab = Lab::new(false);
    let ak = lab.authorized_keys().display().to_string();
    lab.start(
        "rollback",
        "",
        &format!("Match User root\n  AuthorizedKeysFile {ak}"),
    );
    let cfg = lab.config.display().to_string();
    let before = lab.state();
    let (code, out, err) = lab.sshdoctor(&[
        "fix",
        "sshd-config-set",
        "PermitRootLogin maybe",
        "--sshd-config",
        &cfg,
        "--yes",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("rejected"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    // sshd's own complaint is passed on.
    assert!(err.contains("unsupported option \"maybe\""), "{err}");
    assert_eq!(
        lab.state(),
        before,
        "the config is as it was, byte for byte"
    );
    let (code, out, _) = lab.sshdoctor(&["undo", "--yes"]);
    assert_eq!(code, 0);
    assert!(out.contains("No fixes to undo"), "{out}");
    lab.reload();
    lab.login()
        .expect("sshd still starts and logs in with the restored config");
}

/// Real `ssh -A` with an agent holding the lab's key, then `ssh-add -l` on the server: the
/// fingerprint when the agent reached the server, sshd's refusal otherwise.
fn forwarded_agent_lists(lab: &Lab, agent: &crate::support::agent::Agent) -> String {
    let o = std::process::Command::new("ssh")
        .args(["-A", "-F", "/dev/null", "-o", "BatchMode=yes"])
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", lab.known_hosts.display()))
        .arg("-i")
        .arg(&lab.key)
        .args(["-p", &lab.port.to_string()])
        .arg(format!("{}@127.0.0.1", lab.user))
        .arg("ssh-add -l")
        .env("HOME", lab.root.join("client"))
        .env("SSH_AUTH_SOCK", &agent.sock)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh -A");
    String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
}

/// Issue 14: `server --forwarding` names what refuses `ssh -A`, each case first shown with real
/// `ssh -A` (the server's `ssh-add -l` cannot reach the agent): `AllowAgentForwarding no` in
/// sshd_config, then `restrict` on the key's authorized_keys line, whose native fix lets the
/// forwarded agent through (real ssh proves it) and whose undo gives the line back byte for
/// byte; with nothing refusing, the report says forwarding is allowed and names its cost.
#[test]
fn server_forwarding_names_the_setting_that_refuses_ssh_a_and_fixes_the_key_line() {
    let mut lab = Lab::new(true);
    let agent = crate::support::agent::Agent::start();
    agent.add(&lab.key);
    let fp = crate::support::sshd::fingerprint(&lab.pubkey);
    let pubkey = lab.pubkey.to_str().unwrap_or_default().to_string();

    lab.start("fw-sshd", "AllowAgentForwarding no", "");
    let said = forwarded_agent_lists(&lab, &agent);
    assert!(said.contains("Could not open a connection"), "{said}");
    let (code, report) = lab.doctor(&["--forwarding", "--pubkey", &pubkey]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["forwarding"]["allowed"], false, "{report:#}");
    let f = finding(&report, "agent-forwarding-disabled").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(f["severity"], "error");
    assert!(has_evidence(f, "allowagentforwarding no"), "{f:#}");
    assert!(offered(f, "sshd-config-set")["command"]
        .as_str()
        .is_some_and(|c| c.contains("AllowAgentForwarding yes")));

    // The key's own line: `restrict` turns forwarding off for logins with it.
    lab.start("fw-restrict", "", "");
    let ak = lab.authorized_keys();
    let line = std::fs::read(&ak).expect("read authorized_keys");
    let mut restricted = b"restrict ".to_vec();
    restricted.extend_from_slice(&line);
    std::fs::write(&ak, &restricted).expect("write authorized_keys");
    let said = forwarded_agent_lists(&lab, &agent);
    assert!(said.contains("Could not open a connection"), "{said}");
    let (code, report) = lab.doctor(&["--forwarding", "--pubkey", &pubkey]);
    assert_eq!(code, 1, "{report:#}");
    let f = finding(&report, "agent-forwarding-disabled").unwrap_or_else(|| panic!("{report:#}"));
    let at = format!("{}:1", ak.display());
    assert!(has_evidence(f, &format!("{at}: restrict")), "{f:#}");
    assert_eq!(report["forwarding"]["keys"][0]["refused_by"], "restrict");
    let shown = offered(f, "authorized-key-allow-agent-forwarding")["command"].clone();
    let (code, out, err) = lab.sshdoctor(&[
        "fix",
        "authorized-key-allow-agent-forwarding",
        &at,
        "--dry-run",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let plans: serde_json::Value = serde_json::from_str(&out).expect("fix --json");
    assert_eq!(
        plans["plans"][0]["command"], shown,
        "the plan is the command offered"
    );
    let (code, out, err) =
        lab.sshdoctor(&["fix", "authorized-key-allow-agent-forwarding", &at, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut expected = b"restrict,agent-forwarding ".to_vec();
    expected.extend_from_slice(&line);
    assert_eq!(std::fs::read(&ak).expect("read"), expected);
    let said = forwarded_agent_lists(&lab, &agent);
    assert!(
        said.contains(&fp),
        "the forwarded agent now lists the key: {said}"
    );
    let (code, report) = lab.doctor(&["--forwarding", "--pubkey", &pubkey]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["forwarding"]["allowed"], true, "{report:#}");
    let f = finding(&report, "agent-forwarding-allowed").unwrap_or_else(|| panic!("{report:#}"));
    assert!(f["explanation"]
        .as_str()
        .unwrap_or_default()
        .contains("ProxyJump"));

    let (code, out, err) = lab.sshdoctor(&["undo", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read(&ak).expect("read"),
        restricted,
        "undo, byte for byte"
    );
    let said = forwarded_agent_lists(&lab, &agent);
    assert!(said.contains("Could not open a connection"), "{said}");
}

/// Issue 13, server side: `sshdoctor server` explains why sshd refuses a user certificate, from
/// sshd's log line where it writes one and from the certificate itself (`--pubkey
/// KEY-cert.pub`) where it writes none (an untrusted CA). Each case is first a real `ssh` login
/// with the certificate beside the key, refused (authorized_keys is empty, so only the
/// certificate could log in); a good certificate logs in and the report finds nothing.
#[test]
fn server_names_why_sshd_refuses_a_user_certificate() {
    let mut lab = Lab::new(true);
    let sshd_dir = lab.root.join("sshd");
    let ca = keygen(&sshd_dir, "user_ca", "ed25519", "");
    let other_ca = keygen(&sshd_dir, "other_ca", "ed25519", "");
    let ca_pub = ca.with_extension("pub");
    let revoked = sshd_dir.join("revoked_keys");
    std::fs::write(&revoked, "").expect("write revoked");
    let cert = lab.root.join("client/id_ed25519-cert.pub");
    let user = lab.user.clone();
    let pubkey = lab.pubkey.to_str().unwrap_or_default().to_string();
    let sign = |ca: &std::path::Path, principals: &str, validity: &str, extra: &[&str]| {
        let mut args = vec![
            "-q",
            "-s",
            ca.to_str().unwrap_or_default(),
            "-I",
            "test-cert",
        ];
        args.extend(["-n", principals, "-V", validity]);
        args.extend(extra);
        args.push(&pubkey);
        let o = lab::run("ssh-keygen", &args);
        assert!(o.status.success(), "{o:?}");
    };
    let cert_arg = cert.to_str().unwrap_or_default().to_string();
    let first = format!(
        "TrustedUserCAKeys {}\nRevokedKeys {}",
        ca_pub.display(),
        revoked.display()
    );
    let ca_fp = crate::support::sshd::fingerprint(&ca_pub);
    let other_fp = crate::support::sshd::fingerprint(&other_ca.with_extension("pub"));

    struct Case<'a> {
        name: &'a str,
        sign: (&'a std::path::Path, &'a str, &'a str, &'a [&'a str]),
        revoke: bool,
        id: &'a str,
        evidence: Vec<String>,
    }
    let cases = [
        Case {
            name: "expired",
            sign: (&ca, &user, "20200101:20200102", &[]),
            revoke: false,
            id: "certificate-invalid",
            evidence: vec!["Certificate invalid: expired".into()],
        },
        Case {
            name: "principal",
            sign: (&ca, "someone-else", "-1h:+1h", &[]),
            revoke: false,
            id: "certificate-invalid",
            evidence: vec![
                "Certificate invalid: name is not a listed principal".into(),
                "principals someone-else".into(),
            ],
        },
        Case {
            name: "untrusted-ca",
            sign: (&other_ca, &user, "-1h:+1h", &[]),
            revoke: false,
            id: "certificate-ca-not-trusted",
            evidence: vec![format!("signed by CA {other_fp}"), ca_fp.clone()],
        },
        Case {
            name: "source-address",
            sign: (&ca, &user, "-1h:+1h", &["-O", "source-address=10.9.9.9"]),
            revoke: false,
            id: "certificate-source-address",
            evidence: vec!["not from a permitted source address (127.0.0.1)".into()],
        },
        Case {
            name: "revoked",
            sign: (&ca, &user, "-1h:+1h", &[]),
            revoke: true,
            id: "key-revoked",
            evidence: vec!["revoked by file".into()],
        },
    ];
    for c in &cases {
        lab.reset_files();
        std::fs::write(lab.authorized_keys(), "").expect("empty authorized_keys");
        let (ca_key, principals, validity, extra) = c.sign;
        sign(ca_key, principals, validity, extra);
        let revoked_text = if c.revoke {
            std::fs::read(&lab.pubkey).expect("pubkey")
        } else {
            Vec::new()
        };
        std::fs::write(&revoked, revoked_text).expect("write revoked");
        lab.start(&format!("cert-{}", c.name), &first, "");
        let err = lab
            .login()
            .expect_err(&format!("{}: ssh refuses the certificate", c.name));
        assert!(err.contains("Permission denied"), "{}: {err}", c.name);
        // The refusal's lines come before sshd's end of the connection.
        lab.wait_log("Connection closed by authenticating user");
        let (code, report) = lab.doctor(&["--pubkey", &cert_arg, "--from", "127.0.0.1"]);
        assert_eq!(code, 1, "{}: {report:#}", c.name);
        let f = finding(&report, c.id)
            .unwrap_or_else(|| panic!("{}: no {} in {report:#}\n{}", c.name, c.id, lab.log_text()));
        for e in &c.evidence {
            assert!(has_evidence(f, e), "{}: {e:?} missing in {f:#}", c.name);
        }
        // Not the wrong cause: the key of a certificate needs no authorized_keys line.
        assert!(
            finding(&report, "key-not-authorized").is_none(),
            "{}: {report:#}",
            c.name
        );
    }

    lab.reset_files();
    std::fs::write(lab.authorized_keys(), "").expect("empty authorized_keys");
    std::fs::write(&revoked, "").expect("write revoked");
    sign(&ca, &user, "-1h:+1h", &[]);
    lab.start("cert-ok", &first, "");
    lab.login().expect("a good certificate logs in");
    let (code, report) = lab.doctor(&["--pubkey", &cert_arg, "--from", "127.0.0.1"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        report["sshd"]["trustedusercakeys"],
        ca_pub.display().to_string()
    );
}

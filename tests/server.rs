//! `sshdoctor server` against a real sshd (StrictModes yes, 127.0.0.1 only): each case breaks one
//! thing, proves with a real `ssh` login that it fails, checks that the report names that cause
//! (and quotes sshd's own log line), applies the offered fix and proves the login works again.

#[path = "server_sshd/mod.rs"]
mod server_sshd;

use server_sshd::{apply_fix, finding, has_evidence, Lab};

fn chmod(mode: &str, p: &std::path::Path) {
    let o = server_sshd::run("chmod", &[mode, p.to_str().unwrap_or_default()]);
    assert!(o.status.success());
}

/// Breaks the lab with `break_it`, checks the failure, the finding and the fix. Each argument
/// is one column of the case table below, read positionally like a table row.
#[allow(clippy::too_many_arguments)]
fn case(
    lab: &mut Lab,
    name: &str,
    first: &str,
    break_it: &dyn Fn(&Lab),
    id: &str,
    evidence: &[String],
    log_needle: &str,
    fix_id: &str,
    reload: bool,
) {
    lab.reset_files();
    lab.start(name, first, "");
    break_it(lab);
    let err = lab
        .login()
        .expect_err(&format!("{name}: login should fail"));
    assert!(err.contains("Permission denied"), "{name}: {err}");
    let (code, report) = lab.doctor(&["--pubkey", lab.pubkey.to_str().unwrap_or_default()]);
    assert_eq!(
        code, 1,
        "{name}: exit code with an error finding\n{report:#}"
    );
    let f = finding(&report, id).unwrap_or_else(|| panic!("{name}: no {id} in {report:#}"));
    assert_eq!(f["severity"], "error", "{name}");
    for e in evidence {
        assert!(
            has_evidence(f, e),
            "{name}: evidence {e:?} missing in {f:#}"
        );
    }
    assert!(
        lab.log_text().contains(log_needle),
        "{name}: sshd did not log {log_needle:?}: {}",
        lab.log_text()
    );
    assert!(
        has_evidence(f, log_needle),
        "{name}: log line {log_needle:?} not quoted in {f:#}"
    );
    apply_fix(f, fix_id);
    if reload {
        lab.reload();
    }
    lab.login().unwrap_or_else(|e| {
        panic!(
            "{name}: login after fix {fix_id} failed: {e}\n{}",
            lab.log_text()
        )
    });
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

    case(
        &mut lab,
        "home-0777",
        "",
        &|l| chmod("0777", &l.home),
        "strictmodes-mode",
        &[format!("{home}: mode 0777")],
        &format!("bad ownership or modes for directory {home}"),
        "chmod-go-w",
        false,
    );
    case(
        &mut lab,
        "ssh-dir-0777",
        "",
        &|l| chmod("0777", &l.ssh_dir()),
        "strictmodes-mode",
        &[format!("{ssh}: mode 0777")],
        &format!("bad ownership or modes for directory {ssh}"),
        "chmod-700",
        false,
    );
    case(
        &mut lab,
        "authorized-keys-0666",
        "",
        &|l| chmod("0666", &l.authorized_keys()),
        "strictmodes-mode",
        &[format!("{ak}: mode 0666")],
        &format!("bad ownership or modes for file {ak}"),
        "chmod-600",
        false,
    );
    case(
        &mut lab,
        "wrong-owner",
        "",
        &|l| {
            let o = server_sshd::run(
                "chown",
                &["nobody", l.authorized_keys().to_str().unwrap_or_default()],
            );
            assert!(o.status.success());
            chmod("0644", &l.authorized_keys());
        },
        "strictmodes-owner",
        &[format!("{ak}: owner uid 65534, mode 0644")],
        &format!("bad ownership or modes for file {ak}"),
        "chown",
        false,
    );
    // Owned by someone else and 0600: sshd reads the file with the user's rights, so it never
    // gets as far as the modes check; the log says "Could not open".
    case(
        &mut lab,
        "wrong-owner-unreadable",
        "",
        &|l| {
            let o = server_sshd::run(
                "chown",
                &["nobody", l.authorized_keys().to_str().unwrap_or_default()],
            );
            assert!(o.status.success());
        },
        "strictmodes-owner",
        &[format!("{ak}: owner uid 65534, mode 0600")],
        &format!(
            "Could not open user '{}' authorized keys '{ak}': Permission denied",
            uname
        ),
        "chown",
        false,
    );
    case(
        &mut lab,
        "key-missing",
        "",
        &|l| {
            let other = l.root.join("client/other");
            server_sshd::run(
                "ssh-keygen",
                &[
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-f",
                    other.to_str().unwrap_or_default(),
                ],
            );
            let pubk = std::fs::read(other.with_extension("pub")).unwrap_or_default();
            std::fs::write(l.authorized_keys(), pubk).expect("write");
        },
        "key-not-authorized",
        &[],
        "Failed publickey for",
        "append-authorized-key",
        false,
    );
    case(
        &mut lab,
        "from-excludes-client",
        "",
        &|l| {
            let pubk = std::fs::read_to_string(&l.pubkey).unwrap_or_default();
            std::fs::write(
                l.authorized_keys(),
                format!("from=\"10.0.0.1\",no-pty {pubk}"),
            )
            .expect("write");
        },
        "authorized-key-refused-by-option",
        &["from=\"10.0.0.1\"".to_string()],
        "not from a permitted host",
        "authorized-key-allow-from",
        false,
    );
    case(
        &mut lab,
        "pubkey-auth-off",
        "PubkeyAuthentication no",
        &|_| {},
        "pubkey-auth-disabled",
        &["pubkeyauthentication no".to_string()],
        "",
        "sshd-config-set",
        true,
    );
    case(
        &mut lab,
        "allowusers-other",
        "AllowUsers nobody",
        &|_| {},
        "user-not-allowed",
        &["allowusers nobody".to_string()],
        "not allowed because not listed in AllowUsers",
        "sshd-config-allow-user",
        true,
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
    apply_fix(f, "sshd-config-set");
    lab.reload();
    lab.login()
        .expect("root logs in with a key after PermitRootLogin prohibit-password");
}

//! The config module against the real oracle: for each fixture config, what our parser says ssh
//! will use must equal what `ssh -G -F FILE` (OpenSSH on this machine) says. Every path lives in a
//! temp HOME; ssh always gets `-F`, so the real ~/.ssh/config is never read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sshdoctor::config::{
    all_identity_files, effective, effective_parsed, effective_using, effective_with_timeout,
    identity_findings, parse_ssh_g, parse_target, ConfigRequest, ConfigSource, EffectiveConfig,
    Target, TargetError,
};
use sshdoctor::finding::Severity;
use sshdoctor::paths::SshPaths;

fn temp_home() -> (tempfile::TempDir, SshPaths) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join(".ssh")).expect("mkdir .ssh");
    let paths = SshPaths::with_home(dir.path());
    (dir, paths)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write fixture");
}

/// What real ssh says for this config file and command line.
fn ssh_g(config: &Path, extra: &[&str], host: &str, paths: &SshPaths) -> EffectiveConfig {
    let out = Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(config)
        .args(extra)
        .arg(host)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .expect("run ssh -G");
    assert!(
        out.status.success(),
        "ssh -G failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_ssh_g(&String::from_utf8_lossy(&out.stdout), paths)
}

fn read_fs(p: &Path) -> Option<String> {
    std::fs::read(p)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Our fallback for the same input.
fn parsed(
    config: &Path,
    target: &str,
    port: Option<u16>,
    user: Option<&str>,
    ids: &[PathBuf],
    paths: &SshPaths,
) -> EffectiveConfig {
    let t = parse_target(target).expect("target parses");
    let req = ConfigRequest {
        target: &t,
        config_file: Some(config),
        port,
        user,
        identity_files: ids,
    };
    effective_parsed(&req, paths, &read_fs)
}

/// Compares every field the fallback is expected to get right. Algorithm lists only where the
/// fixture sets them (ssh -G prints its compiled-in defaults, the parser leaves them None).
fn assert_same(ours: &EffectiveConfig, ssh: &EffectiveConfig, what: &str) {
    assert_eq!(ours.host_alias, ssh.host_alias, "{what}: host");
    assert_eq!(ours.hostname, ssh.hostname, "{what}: hostname");
    assert_eq!(ours.user, ssh.user, "{what}: user");
    assert_eq!(ours.port, ssh.port, "{what}: port");
    assert_eq!(
        ours.identity_files, ssh.identity_files,
        "{what}: identity files"
    );
    assert_eq!(
        ours.explicit_identity_files, ssh.explicit_identity_files,
        "{what}: explicit identity files"
    );
    assert_eq!(
        ours.identities_only, ssh.identities_only,
        "{what}: IdentitiesOnly"
    );
    assert_eq!(
        ours.user_known_hosts_files, ssh.user_known_hosts_files,
        "{what}: UserKnownHostsFile"
    );
    assert_eq!(
        ours.global_known_hosts_files, ssh.global_known_hosts_files,
        "{what}: GlobalKnownHostsFile"
    );
    assert_eq!(
        ours.strict_host_key_checking, ssh.strict_host_key_checking,
        "{what}: StrictHostKeyChecking"
    );
    assert_eq!(
        ours.hash_known_hosts, ssh.hash_known_hosts,
        "{what}: HashKnownHosts"
    );
    assert_eq!(ours.proxy_jump, ssh.proxy_jump, "{what}: ProxyJump");
    assert_eq!(
        ours.forward_agent, ssh.forward_agent,
        "{what}: ForwardAgent"
    );
    assert_eq!(
        ours.identity_agent, ssh.identity_agent,
        "{what}: IdentityAgent"
    );
    assert_eq!(
        ours.connect_timeout, ssh.connect_timeout,
        "{what}: ConnectTimeout"
    );
    assert_eq!(ours.batch_mode, ssh.batch_mode, "{what}: BatchMode");
    for (o, s, name) in [
        (&ours.ciphers, &ssh.ciphers, "Ciphers"),
        (&ours.macs, &ssh.macs, "MACs"),
        (&ours.kex_algorithms, &ssh.kex_algorithms, "KexAlgorithms"),
        (
            &ours.host_key_algorithms,
            &ssh.host_key_algorithms,
            "HostKeyAlgorithms",
        ),
    ] {
        if o.is_some() {
            assert_eq!(o, s, "{what}: {name}");
        }
    }
    assert_eq!(ours.source, ConfigSource::Parsed);
    assert_eq!(ssh.source, ConfigSource::SshG);
}

/// Runs both for each (target, -p, -l) and compares.
fn compare_all(config: &Path, paths: &SshPaths, cases: &[(&str, Option<u16>, Option<&str>)]) {
    for (target, port, user) in cases {
        let mut extra: Vec<String> = Vec::new();
        if let Some(p) = port {
            extra.push("-p".into());
            extra.push(p.to_string());
        }
        if let Some(u) = user {
            extra.push("-l".into());
            extra.push(u.to_string());
        }
        let extra_ref: Vec<&str> = extra.iter().map(String::as_str).collect();
        let ssh = ssh_g(config, &extra_ref, target, paths);
        let ours = parsed(config, target, *port, *user, &[], paths);
        assert_same(
            &ours,
            &ssh,
            &format!("{} {target} {extra:?}", config.display()),
        );
    }
}

#[test]
fn host_patterns_hostname_tokens_and_first_value_wins() {
    let (_d, paths) = temp_home();
    let cfg = paths.ssh_dir.join("config");
    write(
        &cfg,
        "Host web?\n  HostName %h.internal.example.com\n  User deploy\n  Port 2201\n\
         Host db1 db2\n  HostName 10.0.0.5\n  Port 5432\n\
         Host *.example.com\n  User ops\n  Port 2222\n\
         Host *\n  User fallback\n  Port 2000\n  HostName ignored-because-first-wins-%h\n",
    );
    compare_all(
        &cfg,
        &paths,
        &[
            ("web1", None, None),
            ("web12", None, None),
            ("db2", None, None),
            ("a.example.com", None, None),
            ("other", None, None),
            ("Web1", None, None),
            ("web1", Some(9999), Some("me")),
            ("alice@a.example.com", None, None),
        ],
    );
}

#[test]
fn negated_patterns_exclude_a_host() {
    let (_d, paths) = temp_home();
    let cfg = paths.ssh_dir.join("config");
    write(
        &cfg,
        "Host bastion\n  HostName 192.0.2.10\n  User jump\n\
         Host * !bastion !*.local\n  ProxyJump bastion\n  ForwardAgent yes\n\
         Host c !c\n  User never\n\
         Host *\n  ForwardAgent no\n",
    );
    compare_all(
        &cfg,
        &paths,
        &[
            ("bastion", None, None),
            ("app", None, None),
            ("printer.local", None, None),
            ("c", None, None),
        ],
    );
}

#[test]
fn includes_with_globs_are_read_in_order_and_missing_ones_ignored() {
    let (d, paths) = temp_home();
    let conf_d = d.path().join("conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    write(
        &conf_d.join("b.conf"),
        "Host inc\n  User from-b\n  Port 2302\n",
    );
    write(
        &conf_d.join("a.conf"),
        "Host inc\n  User from-a\nHost other\n  Port 1\n",
    );
    write(&conf_d.join("skip.txt"), "Host inc\n  User from-txt\n");
    let cfg = paths.ssh_dir.join("config");
    // ssh resolves relative and `~` Includes against the password database's home, not ours,
    // so the oracle comparison uses absolute paths.
    write(
        &cfg,
        &format!(
            "Include {dir}/*.conf\nInclude {dir}/does-not-exist.conf\n\
             Host scoped\n  Include {dir}/b.conf\n  User after-include\n\
             Host inc scoped\n  HostName included.example.org\n",
            dir = conf_d.display()
        ),
    );
    compare_all(
        &cfg,
        &paths,
        &[
            ("inc", None, None),
            ("scoped", None, None),
            ("other", None, None),
        ],
    );
}

#[test]
fn equals_syntax_quotes_comments_tabs_and_crlf() {
    let (_d, paths) = temp_home();
    let cfg = paths.ssh_dir.join("config");
    write(
        &cfg,
        "# a comment\r\nHost=quoted\r\n\tUser = \"bob smith\"\r\n\tPort=2022 # trailing comment\r\n\
         \tIdentityFile \"~/.ssh/my key\"\r\n   \r\n\tStrictHostKeyChecking=accept-new\r\n\
         HOST eq\r\n  hostname   =   eq.example.net\r\n  BatchMode yes\r\n  ConnectTimeout=7\r\n",
    );
    compare_all(&cfg, &paths, &[("quoted", None, None), ("eq", None, None)]);
    let ours = parsed(&cfg, "quoted", None, None, &[], &paths);
    assert_eq!(ours.user, "bob smith");
    assert_eq!(ours.identity_files, [paths.ssh_dir.join("my key")]);
}

#[test]
fn multiple_identity_files_tokens_and_defaults() {
    let (_d, paths) = temp_home();
    let cfg = paths.ssh_dir.join("config");
    write(
        &cfg,
        "Host multi\n  HostName multi.example.com\n  User git\n\
         IdentityFile ~/.ssh/work_ed25519\n  IdentityFile %d/.ssh/%h_%r\n\
         IdentityFile /abs/key\n  IdentityFile ~/.ssh/work_ed25519\n  IdentitiesOnly yes\n\
         Host only-defaults\n  Port 22\n",
    );
    compare_all(
        &cfg,
        &paths,
        &[("multi", None, None), ("only-defaults", None, None)],
    );
    let multi = parsed(&cfg, "multi", None, None, &[], &paths);
    assert_eq!(
        multi.identity_files,
        [
            paths.ssh_dir.join("work_ed25519"),
            paths.ssh_dir.join("multi.example.com_git"),
            PathBuf::from("/abs/key"),
        ],
        "duplicates are tried once, tokens expand against our home"
    );
    let defaults = parsed(&cfg, "only-defaults", None, None, &[], &paths);
    assert!(defaults.explicit_identity_files.is_empty());
    assert_eq!(defaults.identity_files.len(), 7);
    assert_eq!(defaults.identity_files[0], paths.ssh_dir.join("id_rsa"));
}

#[test]
fn command_line_identity_files_come_first() {
    let (_d, paths) = temp_home();
    let cfg = paths.ssh_dir.join("config");
    write(&cfg, "Host h\n  IdentityFile ~/.ssh/from_config\n");
    let cli = [PathBuf::from("/tmp/sshdoctor-cli-key")];
    let ssh = ssh_g(
        &cfg,
        &["-o", "IdentityFile=/tmp/sshdoctor-cli-key"],
        "h",
        &paths,
    );
    let ours = parsed(&cfg, "h", None, None, &cli, &paths);
    assert_same(&ours, &ssh, "-i first");
    assert_eq!(ours.identity_files[0], cli[0]);
}

#[test]
fn match_all_host_originalhost_user_and_negation() {
    let (_d, paths) = temp_home();
    let cfg = paths.ssh_dir.join("config");
    write(
        &cfg,
        "Host short\n  HostName long.example.com\n\
         Match host *.example.com\n  Port 2200\n\
         Match originalhost short\n  User by-alias\n\
         Match !host *.example.com\n  Port 2900\n\
         Match user admin\n  IdentityFile ~/.ssh/admin_key\n\
         Match all\n  User everyone\n  HashKnownHosts yes\n  Ciphers aes256-ctr,aes128-ctr\n",
    );
    compare_all(
        &cfg,
        &paths,
        &[
            ("short", None, None),
            ("x.example.com", None, None),
            ("plain", None, None),
            ("plain", None, Some("admin")),
        ],
    );
}

#[test]
fn known_hosts_agent_and_strictness_settings() {
    let (_d, paths) = temp_home();
    let cfg = paths.ssh_dir.join("config");
    write(
        &cfg,
        "Host k1\n  UserKnownHostsFile ~/.ssh/kh_%h ~/.ssh/kh_all\n  StrictHostKeyChecking yes\n\
         IdentityAgent ~/.agent.sock\n  GlobalKnownHostsFile /etc/ssh/other_known_hosts\n\
         Host k2\n  UserKnownHostsFile none\n  StrictHostKeyChecking off\n  IdentityAgent none\n\
         ForwardAgent /run/agent.sock\n  ProxyJump a@j1:2222,j2\n\
         Host k3\n  StrictHostKeyChecking no\n  HashKnownHosts no\n",
    );
    compare_all(
        &cfg,
        &paths,
        &[("k1", None, None), ("k2", None, None), ("k3", None, None)],
    );
    let k1 = parsed(&cfg, "k1", None, None, &[], &paths);
    assert_eq!(
        k1.user_known_hosts_files,
        [paths.ssh_dir.join("kh_k1"), paths.ssh_dir.join("kh_all")],
        "known_hosts paths are under the temp HOME, not the password database's home"
    );
    let k2 = parsed(&cfg, "k2", None, None, &[], &paths);
    assert!(k2.user_known_hosts_files.is_empty(), "none means no file");
}

#[test]
fn binary_junk_and_odd_lines_do_not_panic_and_agree_with_ssh() {
    let (_d, paths) = temp_home();
    let cfg = paths.ssh_dir.join("config");
    // A NUL ends the line for ssh too, so this junk line counts as empty: both agree.
    std::fs::write(&cfg, b"\x00\xff\xfe garbage\nHost j\n  Port 2345\n").unwrap();
    compare_all(&cfg, &paths, &[("j", None, None)]);
    // ssh refuses a line of junk bytes; the fallback still reads the rest and keeps the reason.
    std::fs::write(&cfg, b"Host j\n  Port 2345\n\xff\xfe\n").unwrap();
    let t = parse_target("j").unwrap();
    let req = ConfigRequest {
        target: &t,
        config_file: Some(&cfg),
        port: None,
        user: None,
        identity_files: &[],
    };
    let eff = effective(&req, &paths).unwrap();
    assert_eq!(eff.source, ConfigSource::Parsed);
    assert_eq!(eff.port, 2345);
    assert!(eff.ssh_g_error.unwrap().contains("bad configuration"));
    // Lines ssh would reject must not crash the parser either.
    let weird = paths.ssh_dir.join("weird");
    write(
        &weird,
        "Host\nMatch\nMatch host\nInclude\nIdentityFile\nPort notanumber\n=\n\"\n[[[\nHost [a\n",
    );
    let t = parse_target("x").unwrap();
    let req = ConfigRequest {
        target: &t,
        config_file: Some(&weird),
        port: None,
        user: None,
        identity_files: &[],
    };
    let cfg = effective_parsed(&req, &paths, &read_fs);
    assert_eq!(cfg.port, 22);
}

#[test]
fn include_loops_stop() {
    let (_d, paths) = temp_home();
    let cfg = paths.ssh_dir.join("config");
    write(
        &cfg,
        &format!(
            "Include {}\nHost x\n  Port 2\n  IdentityFile ~/.ssh/x\n",
            cfg.display()
        ),
    );
    let ours = parsed(&cfg, "x", None, None, &[], &paths);
    assert_eq!(ours.port, 2);
    assert_eq!(ours.identity_files, [paths.ssh_dir.join("x")]);
    assert_eq!(
        all_identity_files(&paths, Some(&cfg)),
        [(cfg.clone(), 4, paths.ssh_dir.join("x"))]
    );
}

#[test]
fn effective_uses_ssh_g_with_our_home_not_the_password_databases() {
    let (_d, paths) = temp_home();
    write(
        &paths.config(),
        "Host box\n  HostName box.example.com\n  User carol\n  Port 2022\n\
         IdentityFile ~/.ssh/box_key\n",
    );
    let t = parse_target("box").unwrap();
    let req = ConfigRequest {
        target: &t,
        config_file: None,
        port: None,
        user: None,
        identity_files: &[],
    };
    let cfg = effective(&req, &paths).expect("effective config");
    assert_eq!(cfg.source, ConfigSource::SshG, "{:?}", cfg.ssh_g_error);
    assert_eq!(cfg.user, "carol");
    assert_eq!(cfg.port, 2022);
    assert_eq!(cfg.identity_files, [paths.ssh_dir.join("box_key")]);
    assert_eq!(
        cfg.user_known_hosts_files,
        [paths.known_hosts(), paths.ssh_dir.join("known_hosts2")]
    );
    assert_eq!(
        cfg.identity_sources.get(&paths.ssh_dir.join("box_key")),
        Some(&format!("{}:5", paths.config().display()))
    );
    assert!(cfg.options.contains_key("kexalgorithms"));
    let json = serde_json::to_value(&cfg).unwrap();
    assert_eq!(json["source"], "ssh -G");
}

#[test]
fn effective_without_a_user_config_gives_openssh_defaults() {
    let (_d, paths) = temp_home();
    let t = parse_target("bob@[::1]:2222").unwrap();
    let req = ConfigRequest {
        target: &t,
        config_file: None,
        port: None,
        user: None,
        identity_files: &[],
    };
    let cfg = effective(&req, &paths).unwrap();
    assert_eq!(cfg.source, ConfigSource::SshG);
    assert_eq!((cfg.user.as_str(), cfg.port), ("bob", 2222));
    assert_eq!(cfg.hostname, "::1");
    assert!(cfg.explicit_identity_files.is_empty());
    assert_eq!(cfg.identity_files.len(), 7);
}

#[test]
fn missing_ssh_falls_back_to_the_parser_and_says_why() {
    let (_d, paths) = temp_home();
    write(&paths.config(), "Host fb\n  User fallback-user\n  Port 2\n");
    let t = parse_target("fb").unwrap();
    let req = ConfigRequest {
        target: &t,
        config_file: Some(&paths.config()),
        port: None,
        user: None,
        identity_files: &[],
    };
    let cfg = effective_using(
        &req,
        &paths,
        std::ffi::OsStr::new("/nonexistent/sshdoctor-no-ssh"),
    )
    .unwrap();
    assert_eq!(cfg.source, ConfigSource::Parsed);
    assert_eq!(cfg.user, "fallback-user");
    assert!(cfg.ssh_g_error.unwrap().contains("cannot run"));
}

#[test]
fn config_ssh_rejects_falls_back_with_sshs_message() {
    let (_d, paths) = temp_home();
    write(
        &paths.config(),
        "Host x\n  IdentityFle ~/.ssh/typo\n  Port 7\n",
    );
    let t = parse_target("x").unwrap();
    let req = ConfigRequest {
        target: &t,
        config_file: Some(&paths.config()),
        port: None,
        user: None,
        identity_files: &[],
    };
    let cfg = effective(&req, &paths).unwrap();
    assert_eq!(cfg.source, ConfigSource::Parsed);
    assert_eq!(cfg.port, 7);
    let why = cfg.ssh_g_error.unwrap();
    assert!(why.contains("Bad configuration option"), "{why}");
}

#[test]
fn an_explicit_config_that_cannot_be_read_is_an_error() {
    let (d, paths) = temp_home();
    let t = parse_target("x").unwrap();
    let missing = d.path().join("nope");
    let req = ConfigRequest {
        target: &t,
        config_file: Some(&missing),
        port: None,
        user: None,
        identity_files: &[],
    };
    let err = effective(&req, &paths).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    // A directory in place of the file: no panic on any path.
    let dir_req = ConfigRequest {
        config_file: Some(d.path()),
        ..req
    };
    let _ = effective(&dir_req, &paths);
    let parsed = effective_parsed(&dir_req, &paths, &read_fs);
    assert_eq!(parsed.port, 22);
}

#[test]
fn all_identity_files_lists_every_line_in_every_block_and_include() {
    let (d, paths) = temp_home();
    let inc = d.path().join("inc.conf");
    write(
        &inc,
        "Host never-matches\n  IdentityFile ~/.ssh/from_include\n",
    );
    write(
        &paths.config(),
        &format!(
            "Host a\n  IdentityFile ~/.ssh/a_key\nHost b\n  Include {}\n  IdentityFile=/opt/b_key\n",
            inc.display()
        ),
    );
    let all = all_identity_files(&paths, None);
    assert_eq!(
        all,
        [
            (paths.config(), 2, paths.ssh_dir.join("a_key")),
            (inc.clone(), 2, paths.ssh_dir.join("from_include")),
            (paths.config(), 5, PathBuf::from("/opt/b_key")),
        ]
    );
}

/// ssh's own words for a missing `-i` key, to check the evidence line against.
fn ssh_missing_identity_message(path: &Path) -> String {
    let out = Command::new("ssh")
        .args(["-G", "-F", "/dev/null", "-i"])
        .arg(path)
        .arg("h")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.contains("Identity file"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn missing_identity_file_is_an_error_with_identities_only() {
    let (_d, paths) = temp_home();
    write(
        &paths.config(),
        "Host gone\n  IdentityFile ~/.ssh/gone_key\n  IdentitiesOnly yes\n\
         Host soft\n  IdentityFile ~/.ssh/gone_key\n",
    );
    let key = paths.ssh_dir.join("gone_key");
    let exists = |p: &Path| p.exists();
    let gone = parsed(&paths.config(), "gone", None, None, &[], &paths);
    let f = identity_findings(&gone, &exists, &paths);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].id, "identity-file-missing");
    assert_eq!(f[0].severity, Severity::Error);
    assert!(f[0].title.contains("~/.ssh/gone_key"));
    assert_eq!(f[0].evidence[0], format!("{}:2", paths.config().display()));
    assert_eq!(f[0].evidence[1], ssh_missing_identity_message(&key));
    assert!(f[0].fixes[0]
        .command
        .starts_with("ssh-keygen -t ed25519 -f "));

    let soft = parsed(&paths.config(), "soft", None, None, &[], &paths);
    let f = identity_findings(&soft, &exists, &paths);
    assert_eq!(f[0].severity, Severity::Warning);

    write(&key, "not really a key");
    assert!(identity_findings(&soft, &exists, &paths).is_empty());
}

#[test]
fn missing_default_identities_are_not_reported() {
    let (_d, paths) = temp_home();
    let t = parse_target("h").unwrap();
    let req = ConfigRequest {
        target: &t,
        config_file: Some(Path::new("/dev/null")),
        port: None,
        user: None,
        identity_files: &[],
    };
    let cfg = effective(&req, &paths).unwrap();
    assert!(identity_findings(&cfg, &|_| false, &paths).is_empty());
}

#[test]
fn targets_parse_like_people_type_them() {
    let t = |user: Option<&str>, host: &str, port: Option<u16>| Target {
        user: user.map(String::from),
        host: host.to_string(),
        port,
    };
    assert_eq!(
        parse_target("example.com"),
        Ok(t(None, "example.com", None))
    );
    assert_eq!(
        parse_target("alice@example.com:2222"),
        Ok(t(Some("alice"), "example.com", Some(2222)))
    );
    assert_eq!(parse_target("[::1]:2222"), Ok(t(None, "::1", Some(2222))));
    assert_eq!(parse_target("[fe80::1]"), Ok(t(None, "fe80::1", None)));
    assert_eq!(
        parse_target("2001:db8::7"),
        Ok(t(None, "2001:db8::7", None))
    );
    assert_eq!(
        parse_target("u@2001:db8::7"),
        Ok(t(Some("u"), "2001:db8::7", None))
    );
    assert_eq!(
        parse_target("ssh://git@host:29418"),
        Ok(t(Some("git"), "host", Some(29418)))
    );
    assert_eq!(
        parse_target("a@b@host"),
        Ok(t(Some("a@b"), "host", None)),
        "user names may contain @"
    );
    assert_eq!(parse_target("my-alias"), Ok(t(None, "my-alias", None)));

    assert_eq!(parse_target(""), Err(TargetError::Empty));
    assert_eq!(parse_target("   "), Err(TargetError::Empty));
    assert!(matches!(
        parse_target("@host"),
        Err(TargetError::EmptyUser(_))
    ));
    assert!(matches!(parse_target("u@"), Err(TargetError::EmptyHost(_))));
    assert!(matches!(
        parse_target(":22"),
        Err(TargetError::EmptyHost(_))
    ));
    for bad in ["h:0", "h:65536", "h:x", "h:", "h:+22", "[::1]:"] {
        let e = parse_target(bad).unwrap_err();
        assert!(matches!(e, TargetError::BadPort { .. }), "{bad}: {e}");
        assert!(e.to_string().contains("1 to 65535"));
    }
    assert!(matches!(
        parse_target("[::1"),
        Err(TargetError::BadBrackets(_))
    ));
    assert!(matches!(
        parse_target("[::1]x"),
        Err(TargetError::BadBrackets(_))
    ));
    assert!(matches!(
        parse_target("a b"),
        Err(TargetError::BadCharacters(_))
    ));
    assert!(matches!(
        parse_target("-oProxyCommand=x"),
        Err(TargetError::LeadingDash(_))
    ));
}

#[test]
fn a_hanging_ssh_is_killed_and_the_parser_answers() {
    use std::os::unix::fs::PermissionsExt;
    let (d, paths) = temp_home();
    write(&paths.config(), "Host slow\n  Port 2444\n");
    let fake = d.path().join("fake-ssh");
    write(&fake, "#!/bin/sh\nexec sleep 5\n");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let t = parse_target("slow").unwrap();
    let req = ConfigRequest {
        target: &t,
        config_file: Some(&paths.config()),
        port: None,
        user: None,
        identity_files: &[],
    };
    let start = std::time::Instant::now();
    let cfg = effective_with_timeout(
        &req,
        &paths,
        fake.as_os_str(),
        std::time::Duration::from_millis(200),
    )
    .unwrap();
    // The 200 ms bound holds `ssh -G` (which would never answer); a wide factor for load.
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(cfg.source, ConfigSource::Parsed);
    assert_eq!(cfg.port, 2444);
    assert!(cfg.ssh_g_error.unwrap().contains("did not answer"));
}

#[test]
fn relative_includes_resolve_under_our_ssh_dir() {
    let (_d, paths) = temp_home();
    std::fs::create_dir_all(paths.ssh_dir.join("conf.d")).unwrap();
    write(
        &paths.ssh_dir.join("conf.d/work.conf"),
        "Host work\n  User worker\n",
    );
    write(&paths.config(), "Include conf.d/*.conf\n");
    let cfg = parsed(&paths.config(), "work", None, None, &[], &paths);
    assert_eq!(cfg.user, "worker");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever a config file holds, the fallback answers with a port and a user, never a panic.
    #[test]
    fn any_config_text_is_survivable(text in "(?s)[ -~\t\r\n\"'=#!*?\\[\\]%~\u{0}\u{ff}]{0,400}") {
        let paths = SshPaths::with_home(Path::new("/nonexistent-sshdoctor-home"));
        let t = parse_target("host").unwrap();
        let req = ConfigRequest {
            target: &t,
            config_file: Some(Path::new("/virtual/config")),
            port: None,
            user: None,
            identity_files: &[],
        };
        let text2 = text.clone();
        let read = move |p: &Path| (p == Path::new("/virtual/config")).then(|| text2.clone());
        let cfg = effective_parsed(&req, &paths, &read);
        proptest::prop_assert!(cfg.port > 0);
    }

    /// Any target string either parses into a non-empty host or says why not.
    #[test]
    fn any_target_string_is_survivable(s in "\\PC{0,40}") {
        if let Ok(t) = parse_target(&s) {
            proptest::prop_assert!(!t.host.is_empty());
            proptest::prop_assert!(t.port != Some(0));
        }
    }
}

/// A config written on a Mac (`UseKeychain`, Apple's OpenSSH only): OpenSSH here stops at it
/// for every host, so `check` must say so, with or without a target, and name the fix.
#[test]
fn a_config_ssh_refuses_is_an_error_for_every_host_with_the_ignore_unknown_fix() {
    use crate::support::run::{ids_of, Sshdoctor};
    let (d, paths) = temp_home();
    write(
        &paths.config(),
        "Host *\n  UseKeychain yes\n  AddKeysToAgent yes\n",
    );
    let ssh_g_any_host = || {
        Command::new("ssh")
            .arg("-F")
            .arg(paths.config())
            .args(["-G", "anyhost"])
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    };
    // The oracle: ssh itself refuses the file, for any host.
    let ssh = ssh_g_any_host();
    assert!(!ssh.status.success());
    let said = String::from_utf8_lossy(&ssh.stderr);
    assert!(
        said.contains("line 2: Bad configuration option: usekeychain"),
        "{said}"
    );

    for args in [vec!["check", "--json"], vec!["check", "lab", "--json"]] {
        let (code, v) = Sshdoctor::new(d.path()).args(&args).json();
        assert_eq!(code, Some(1), "{args:?}: {v}");
        assert!(
            ids_of(&v).contains(&"ssh-config-rejected".to_string()),
            "{v}"
        );
        let f = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == "ssh-config-rejected")
            .unwrap();
        let evidence = f["evidence"].to_string();
        assert!(
            evidence.contains("line 2: Bad configuration option: usekeychain"),
            "{evidence}"
        );
        assert!(evidence.contains("Apple's OpenSSH"), "{evidence}");
        assert_eq!(f["fixes"][0]["id"], "ignore-unknown-option");
        let cmd = f["fixes"][0]["command"].as_str().unwrap();
        assert!(cmd.contains("IgnoreUnknown UseKeychain"), "{cmd}");
    }

    // The fix as shown, done by hand: ssh accepts the file, and the finding is gone.
    let text = std::fs::read_to_string(paths.config()).unwrap();
    write(
        &paths.config(),
        &format!("IgnoreUnknown UseKeychain\n{text}"),
    );
    let ssh = ssh_g_any_host();
    assert!(
        ssh.status.success(),
        "{}",
        String::from_utf8_lossy(&ssh.stderr)
    );
    let (_, v) = Sshdoctor::new(d.path()).args(["check", "--json"]).json();
    assert!(
        !ids_of(&v).contains(&"ssh-config-rejected".to_string()),
        "{v}"
    );
}

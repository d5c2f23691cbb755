//! The probe against real OpenSSH on 127.0.0.1: each test sets up one failure, checks that the
//! real `ssh` fails (or succeeds) that way, then checks the probe's finding, evidence and exit code.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::agent::Agent;
use crate::support::run::{ids_of, sshdoctor, Sshdoctor};
use crate::support::sshd::{self, Ssh, Sshd};
use crate::support::{finding, ids, ssh_says, stage, stderr};
use crate::support::{probe as run, probe_options as opts};
use sshdoctor::probe::{self, LoginMode, StageStatus};

/// Real `ssh` logging in to 127.0.0.1:`port` with only `key`, `kh` as its known_hosts.
fn ssh_with_key(
    home: &Home,
    port: u16,
    key: &std::path::Path,
    kh: &std::path::Path,
) -> std::process::Output {
    Ssh::new(home.dir.path(), port, kh).key(key).run()
}

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn key(&self, name: &str) -> PathBuf {
        sshd::keygen(self.dir.path(), name, "ed25519", "")
    }
    fn known_hosts(&self, content: &str) -> PathBuf {
        let p = self.dir.path().join("known_hosts");
        std::fs::write(&p, content).expect("write known_hosts");
        p
    }
}

#[test]
fn closed_port_is_connection_refused_well_under_a_second() {
    let home = Home::new();
    let closed = sshd::refused_port();
    let port = closed.port;
    let kh = home.known_hosts("");
    let out = Ssh::new(home.dir.path(), port, &kh).run();
    ssh_says(&out, "Connection refused");

    // Refused is known at once: far less than a timeout that would show waiting.
    let mut o = opts(port, vec![], None);
    o.timeout = Duration::from_secs(60);
    let t0 = Instant::now();
    let r = run(o);
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert_eq!(ids(&r), ["connection-refused"]);
    assert!(finding(&r, "connection-refused").evidence[0].contains("127.0.0.1"));
    assert_eq!(stage(&r, "connect"), StageStatus::Fail);
    assert_eq!(stage(&r, "login"), StageStatus::Skipped);
    assert_eq!(r.stages.len(), 8);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

#[test]
fn silent_server_is_cut_off_at_the_timeout() {
    let home = Home::new();
    let port = sshd::silent_listener();
    let kh = home.known_hosts("");
    let out = Ssh::new(home.dir.path(), port, &kh)
        .args(&["-o", "ConnectTimeout=1"])
        .run();
    ssh_says(&out, "Connection timed out during banner exchange");

    let mut o = opts(port, vec![], None);
    o.timeout = Duration::from_secs(1);
    let t0 = Instant::now();
    let r = run(o);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert_eq!(ids(&r), ["banner-timeout"]);
    assert_eq!(stage(&r, "banner"), StageStatus::Fail);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

#[test]
fn a_web_server_is_named_not_ssh() {
    let home = Home::new();
    let port = sshd::http_listener();
    let kh = home.known_hosts("");
    let out = Ssh::new(home.dir.path(), port, &kh).run();
    ssh_says(&out, "kex_exchange_identification");

    let r = run(opts(port, vec![], None));
    assert_eq!(ids(&r), ["not-ssh"]);
    let f = finding(&r, "not-ssh");
    assert!(f.title.contains("web server"), "{}", f.title);
    assert_eq!(
        f.evidence,
        ["server's first line: HTTP/1.1 400 Bad Request"]
    );
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

#[test]
fn a_server_that_hangs_up_is_connection_closed() {
    let home = Home::new();
    let port = sshd::closing_listener();
    let kh = home.known_hosts("");
    let out = Ssh::new(home.dir.path(), port, &kh).run();
    ssh_says(
        &out,
        "kex_exchange_identification: Connection closed by remote host",
    );

    let r = run(opts(port, vec![], None));
    assert_eq!(ids(&r), ["connection-closed"]);
    assert_eq!(stage(&r, "banner"), StageStatus::Fail);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

#[test]
fn ssh_rsa_only_server_is_an_algorithm_mismatch_with_the_fixing_line() {
    let server = Sshd::builder()
        .host_key_type("rsa")
        .line("HostKeyAlgorithms ssh-rsa")
        .start();
    let home = Home::new();
    let kh = home.known_hosts("");
    let out = Ssh::new(home.dir.path(), server.port, &kh).run();
    ssh_says(
        &out,
        "no matching host key type found. Their offer: ssh-rsa",
    );

    let r = run(opts(server.port, vec![], None));
    assert_eq!(ids(&r), ["algorithm-mismatch"]);
    let f = finding(&r, "algorithm-mismatch");
    assert!(f
        .evidence
        .contains(&"server offers (host key): ssh-rsa".to_string()));
    assert!(f
        .evidence
        .contains(&"config line that would fix it: HostKeyAlgorithms +ssh-rsa".to_string()));
    assert!(f.fixes[0].title.contains("SHA-1"));
    assert_eq!(
        r.server
            .banner
            .as_deref()
            .map(|b| b.starts_with("SSH-2.0-OpenSSH_")),
        Some(true)
    );
    assert_eq!(stage(&r, "banner"), StageStatus::Ok);
    assert_eq!(stage(&r, "kex"), StageStatus::Fail);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

#[test]
fn old_kex_only_server_lists_the_servers_whole_offer() {
    let server = Sshd::builder()
        .line("KexAlgorithms diffie-hellman-group14-sha1,diffie-hellman-group1-sha1")
        .start();
    let home = Home::new();
    let kh = home.known_hosts("");
    let out = Ssh::new(home.dir.path(), server.port, &kh).run();
    ssh_says(&out, "no matching key exchange method found. Their offer: diffie-hellman-group14-sha1,diffie-hellman-group1-sha1");

    let r = run(opts(server.port, vec![], None));
    let f = finding(&r, "algorithm-mismatch");
    assert!(
        f.evidence.contains(
            &"server offers (key exchange): diffie-hellman-group14-sha1,diffie-hellman-group1-sha1"
                .to_string()
        ),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence.contains(
            &"config line that would fix it: KexAlgorithms +diffie-hellman-group14-sha1"
                .to_string()
        ),
        "{:?}",
        f.evidence
    );
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

#[test]
fn changed_host_key_is_an_error_with_both_fingerprints_and_stops_before_auth() {
    let server = Sshd::start();
    let home = Home::new();
    let key = home.key("id_ed25519");
    server.authorize(&key.with_extension("pub"));
    // known_hosts holds another machine's key for this host and port.
    let other = sshd::keygen(home.dir.path(), "other_host", "ed25519", "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("read");
    let mut parts = other_pub.split_whitespace();
    let line = format!(
        "[127.0.0.1]:{} {} {}\n",
        server.port,
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default()
    );
    let kh = home.known_hosts(&line);
    let out = ssh_with_key(&home, server.port, &key, &kh);
    ssh_says(&out, "REMOTE HOST IDENTIFICATION HAS CHANGED");

    let old_fp = sshd::fingerprint(&other.with_extension("pub"));
    let new_fp = sshd::fingerprint(&server.host_key_pub());
    let r = run(opts(
        server.port,
        vec![support::identity(&key, false)],
        Some(old_fp.clone()),
    ));
    assert_eq!(ids(&r), ["host-key-changed"]);
    let f = finding(&r, "host-key-changed");
    assert!(f
        .evidence
        .contains(&format!("known key: {old_fp} (ssh-ed25519)")));
    assert!(f
        .evidence
        .contains(&format!("server now shows: {new_fp} (ssh-ed25519)")));
    assert_eq!(
        r.server.host_key_fingerprint.as_deref(),
        Some(new_fp.as_str())
    );
    assert_eq!(stage(&r, "auth-methods"), StageStatus::Skipped);
    assert!(
        !server.log().contains("publickey for root"),
        "no key offered to a changed host"
    );
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

#[test]
fn authorized_key_logs_in_and_unknown_host_is_only_a_warning() {
    let server = Sshd::start();
    let home = Home::new();
    let key = home.key("id_ed25519");
    server.authorize(&key.with_extension("pub"));
    let kh = home.known_hosts("");
    let out = ssh_with_key(&home, server.port, &key, &kh);
    ssh_says(&out, "Host key verification failed.");
    let kh = home.known_hosts(&server.known_hosts_line());
    let out = ssh_with_key(&home, server.port, &key, &kh);
    assert!(out.status.success(), "{}", stderr(&out));

    let r = run(opts(
        server.port,
        vec![support::identity(&key, false)],
        None,
    ));
    assert_eq!(ids(&r), ["host-key-unknown", "auth-ok"]);
    let fp = sshd::fingerprint(&key.with_extension("pub"));
    assert_eq!(
        finding(&r, "auth-ok").evidence,
        [format!("accepted: {} {fp} (ssh-ed25519)", key.display())]
    );
    assert_eq!(stage(&r, "login"), StageStatus::Ok);
    assert_eq!(r.server.auth_methods, ["publickey"]);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Clean);
    // The probe's login is a real one, as sshd sees it.
    assert_eq!(
        server
            .log()
            .matches("Accepted publickey for root from 127.0.0.1")
            .count(),
        2
    );
}

#[test]
fn server_without_publickey_is_password_only() {
    let server = Sshd::builder().password_auth().no_pubkey_auth().start();
    let home = Home::new();
    let key = home.key("id_ed25519");
    let kh = home.known_hosts(&server.known_hosts_line());
    let out = ssh_with_key(&home, server.port, &key, &kh);
    ssh_says(&out, "Permission denied (password).");

    let fp = sshd::fingerprint(&server.host_key_pub());
    let r = run(opts(
        server.port,
        vec![support::identity(&key, false)],
        Some(fp),
    ));
    assert_eq!(ids(&r), ["password-only"]);
    assert_eq!(r.server.auth_methods, ["password"]);
    assert_eq!(
        finding(&r, "password-only").evidence,
        ["server offers: password", "a password was not tried"]
    );
    // No method the probe tried would log in: an error, with the way to try the password.
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
    assert_eq!(finding(&r, "password-only").fixes[0].id, "try-password");
    assert_eq!(stage(&r, "keys"), StageStatus::Skipped);
}

#[test]
fn unauthorized_keys_are_key_rejected_with_each_fingerprint() {
    let server = Sshd::start();
    let home = Home::new();
    let a = home.key("id_ed25519");
    let b = sshd::keygen(home.dir.path(), "id_rsa", "rsa", "");
    let kh = home.known_hosts(&server.known_hosts_line());
    let out = Ssh::new(home.dir.path(), server.port, &kh)
        .keys(&[a.clone(), b.clone()])
        .run();
    ssh_says(&out, "Permission denied (publickey).");

    let fp = sshd::fingerprint(&server.host_key_pub());
    let r = run(opts(
        server.port,
        vec![support::identity(&a, false), support::identity(&b, false)],
        Some(fp),
    ));
    assert_eq!(ids(&r), ["key-rejected"]);
    let f = finding(&r, "key-rejected");
    let fa = sshd::fingerprint(&a.with_extension("pub"));
    let fb = sshd::fingerprint(&b.with_extension("pub"));
    assert_eq!(
        f.evidence,
        [
            format!("refused: {} {fa} (ssh-ed25519)", a.display()),
            format!("refused: {} {fb} (ssh-rsa)", b.display()),
        ]
    );
    assert!(f.fixes.iter().any(|x| x.command == "sshdoctor server"));
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
    // RSA was asked with rsa-sha2-*, so sshd judged the key and not the algorithm.
    assert!(
        !server.log().contains("not in PubkeyAcceptedAlgorithms"),
        "{}",
        server.log()
    );
}

#[test]
fn eight_keys_against_max_auth_tries_3_find_the_working_one() {
    let server = Sshd::builder().line("MaxAuthTries 3").start();
    let home = Home::new();
    let keys: Vec<PathBuf> = (0..8).map(|i| home.key(&format!("key{i}"))).collect();
    let good = keys.last().expect("8 keys").clone();
    server.authorize(&good.with_extension("pub"));
    let kh = home.known_hosts(&server.known_hosts_line());
    let out = Ssh::new(home.dir.path(), server.port, &kh)
        .keys(&keys)
        .run();
    ssh_says(&out, "Too many authentication failures");

    let fp = sshd::fingerprint(&server.host_key_pub());
    let idents = keys.iter().map(|k| support::identity(k, false)).collect();
    let r = run(opts(server.port, idents, Some(fp)));
    assert_eq!(ids(&r), ["too-many-auth-failures"]);
    let f = finding(&r, "too-many-auth-failures");
    let good_fp = sshd::fingerprint(&good.with_extension("pub"));
    assert!(f.evidence.contains(&format!(
        "accepted: {} {good_fp} (ssh-ed25519)",
        good.display()
    )));
    assert!(f
        .evidence
        .contains(&"server disconnects after 3 failed attempts".to_string()));
    assert!(f.fixes[0].title.contains("IdentitiesOnly yes"));
    assert!(f.fixes[0]
        .title
        .contains(&format!("IdentityFile {}", good.display())));
    assert_eq!(stage(&r, "keys"), StageStatus::Ok);
    assert_eq!(stage(&r, "login"), StageStatus::Ok);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
    // The working key was asked about without a signature first (PK_OK), as the protocol allows.
    assert!(server.log().contains("Postponed publickey for root"));

    // The fix works: only that key, and ssh gets in.
    let out = Ssh::new(home.dir.path(), server.port, &kh).key(&good).run();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn accepted_encrypted_key_without_agent_is_found_without_its_passphrase() {
    let server = Sshd::start();
    let home = Home::new();
    let key = sshd::keygen(home.dir.path(), "id_ed25519", "ed25519", "correct horse");
    server.authorize(&key.with_extension("pub"));
    let kh = home.known_hosts(&server.known_hosts_line());
    let out = ssh_with_key(&home, server.port, &key, &kh);
    ssh_says(&out, "Permission denied (publickey).");

    let fp = sshd::fingerprint(&server.host_key_pub());
    let r = run(opts(
        server.port,
        vec![support::identity(&key, true)],
        Some(fp.clone()),
    ));
    assert_eq!(ids(&r), ["encrypted-key-no-agent", "auth-ok"]);
    assert_eq!(stage(&r, "login"), StageStatus::Skipped);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Clean);
    assert_eq!(
        finding(&r, "encrypted-key-no-agent").fixes[0].command,
        format!("ssh-add {}", key.display())
    );

    // With the passphrase supplied, the login is real; the passphrase is never in the report.
    let mut o = opts(server.port, vec![support::identity(&key, true)], Some(fp));
    o.login = LoginMode::AskPassphrase(Box::new(|_| Some("correct horse".into())));
    let r = run(o);
    assert_eq!(stage(&r, "login"), StageStatus::Ok);
    let json = serde_json::to_string(&r).expect("json");
    assert!(!json.contains("correct horse"));
}

/// The binary end to end: `sshdoctor probe ... --json` with the JSON contract of the issue.
fn cli(home: &std::path::Path, args: &[&str]) -> (i32, serde_json::Value) {
    let (code, v) = Sshdoctor::new(home)
        .arg("probe")
        .args(args)
        .arg("--json")
        .json();
    (code.unwrap_or(-1), v)
}

#[test]
fn cli_json_follows_the_contract_and_exit_codes() {
    let server = Sshd::start();
    let home = Home::new();
    let key = home.key("id_ed25519");
    server.authorize(&key.with_extension("pub"));
    let kh = home.known_hosts(&server.known_hosts_line());
    let target = format!("root@127.0.0.1:{}", server.port);
    let key_arg = key.display().to_string();
    let kh_arg = kh.display().to_string();

    let (code, v) = cli(
        home.dir.path(),
        &[&target, "-i", &key_arg, "--known-hosts", &kh_arg],
    );
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["target"]["host"], "127.0.0.1");
    assert_eq!(v["target"]["port"], server.port);
    assert_eq!(v["target"]["user"], "root");
    let stages: Vec<&str> = v["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["stage"].as_str())
        .collect();
    // The eight stages, then the cross-check with the user's own ssh (which agrees).
    let mut expected = probe::STAGES.to_vec();
    expected.push(probe::CROSS_CHECK_STAGE);
    assert_eq!(stages, expected);
    assert!(v["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .all(|s| s["status"] == "ok" && s["ms"].is_u64()));
    assert_eq!(
        v["server"]["host_key_fingerprint"],
        sshd::fingerprint(&server.host_key_pub())
    );
    assert_eq!(v["server"]["host_key_type"], "ssh-ed25519");
    assert_eq!(v["server"]["auth_methods"][0], "publickey");
    assert_eq!(v["findings"][0]["id"], "auth-ok");

    // The same server behind a known_hosts line for another key: changed, file:line, exit 1.
    let other = sshd::keygen(home.dir.path(), "other", "ed25519", "");
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("read");
    let mut w = other_pub.split_whitespace();
    let kh2 = home.dir.path().join("kh2");
    std::fs::write(
        &kh2,
        format!(
            "# comment\n[127.0.0.1]:{} {} {}\n",
            server.port,
            w.next().unwrap_or_default(),
            w.next().unwrap_or_default()
        ),
    )
    .expect("write");
    let before = std::fs::read(&kh2).expect("read");
    let kh2_arg = kh2.display().to_string();
    let (code, v) = cli(
        home.dir.path(),
        &[&target, "-i", &key_arg, "--known-hosts", &kh2_arg],
    );
    assert_eq!(code, 1);
    assert_eq!(v["findings"][0]["id"], "host-key-changed");
    assert_eq!(
        v["findings"][0]["evidence"][0],
        format!("{}:2", kh2.display())
    );
    assert_eq!(
        std::fs::read(&kh2).expect("read"),
        before,
        "a probe writes nothing"
    );

    // Bad usage is exit 2.
    let out = sshdoctor(home.dir.path(), &["probe", "host:notaport"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn agent_full_of_keys_hits_max_auth_tries_and_the_probe_logs_in_through_the_agent() {
    let server = Sshd::start();
    let home = Home::new();
    let agent = Agent::start();
    for i in 0..6 {
        agent.add(&home.key(&format!("other{i}")));
    }
    let good = home.key("id_ed25519");
    agent.add(&good);
    server.authorize(&good.with_extension("pub"));
    let kh = home.known_hosts(&server.known_hosts_line());
    // Real ssh with the agent and no IdentitiesOnly offers the agent's keys in the agent's order.
    let out = std::process::Command::new("ssh")
        .args(["-F", "/dev/null", "-o"])
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args(["-o", "BatchMode=yes"])
        .args(["-p", &server.port.to_string(), "root@127.0.0.1", "true"])
        .env("HOME", home.dir.path())
        .env("SSH_AUTH_SOCK", &agent.sock)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh");
    ssh_says(&out, "Too many authentication failures");

    let fp = sshd::fingerprint(&server.host_key_pub());
    let mut o = opts(server.port, vec![], Some(fp));
    o.use_agent = Some(agent.sock.clone());
    o.identities_only = false;
    let r = run(o);
    assert_eq!(ids(&r), ["too-many-auth-failures"]);
    let f = finding(&r, "too-many-auth-failures");
    assert_eq!(
        f.evidence
            .iter()
            .filter(|e| e.starts_with("offered first and refused: agent: "))
            .count(),
        6
    );
    assert!(f
        .evidence
        .iter()
        .any(|e| e.starts_with("accepted: agent: id_ed25519 ")));
    assert!(f.fixes[0].title.contains("IdentitiesOnly yes"));
    assert_eq!(
        f.fixes[0].command,
        "ssh-add -L | grep -F ' id_ed25519' > ~/.ssh/id_ed25519.pub"
    );
    // Logged in with the agent's signature: no key file was decrypted or read.
    assert_eq!(stage(&r, "login"), StageStatus::Ok);
    assert!(server.log().contains("Accepted publickey for root"));
}

/// A key the server accepts but that ssh ignores for its mode: ssh fails, and the probe links the
/// local finding to the failure instead of reporting a login that ssh would not make.
#[test]
fn accepted_key_with_open_mode_is_the_local_finding_and_exit_1() {
    use std::os::unix::fs::PermissionsExt;
    let server = Sshd::start();
    let home = Home::new();
    let ssh_dir = home.dir.path().join(".ssh");
    std::fs::create_dir(&ssh_dir).expect("mkdir");
    let key = sshd::keygen(&ssh_dir, "id_ed25519", "ed25519", "");
    server.authorize(&key.with_extension("pub"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let kh = home.known_hosts(&server.known_hosts_line());

    let out = ssh_with_key(&home, server.port, &key, &kh);
    ssh_says(&out, "UNPROTECTED PRIVATE KEY FILE");
    assert!(!out.status.success());

    // No -i: the key is found through the effective config's default IdentityFile list.
    let target = format!("root@127.0.0.1:{}", server.port);
    let kh_arg = kh.display().to_string();
    let (code, v) = cli(home.dir.path(), &[&target, "--known-hosts", &kh_arg]);
    assert_eq!(code, 1, "{v:#}");
    let f = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "private-key-permissions")
        .unwrap_or_else(|| panic!("no linked local finding: {v:#}"));
    assert_eq!(f["severity"], "error");
    assert!(f.to_string().contains("0644"), "{f}");
    assert_eq!(
        f["fixes"][0]["command"],
        format!("chmod 600 {}", key.display())
    );
}

/// A listener whose accept queue is full drops new SYNs, exactly what a firewall that silently
/// drops packets looks like from the client: the TCP connect itself times out (loopback only).
#[test]
fn dropped_syns_are_connect_timeout_at_the_timeout() {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    // SAFETY: listen() on a valid listening socket only changes its backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let port = listener.local_addr().expect("addr").port();
    // One connection fills the queue; nobody accepts it.
    let _filler = std::net::TcpStream::connect(("127.0.0.1", port)).expect("filler");

    let home = Home::new();
    let kh = home.known_hosts("");
    let out = Ssh::new(home.dir.path(), port, &kh)
        .args(&["-o", "ConnectTimeout=1"])
        .run();
    ssh_says(&out, "Connection timed out");
    assert!(
        !stderr(&out).contains("banner exchange"),
        "{}",
        stderr(&out)
    );

    let mut o = opts(port, vec![], None);
    o.timeout = Duration::from_secs(1);
    let t0 = Instant::now();
    let r = run(o);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(ids(&r), ["connect-timeout"]);
    assert_eq!(stage(&r, "connect"), StageStatus::Fail);
    assert_eq!(r.exit(), sshdoctor::exit::Exit::Problem);
}

/// Issue 12, point 2: the probe is shown the host key ssh is shown. A server with an ed25519 and
/// an RSA host key; known_hosts holds only the ed25519 one. With `HostKeyAlgorithms rsa-sha2-512`
/// in the user's config ssh negotiates RSA and says REMOTE HOST IDENTIFICATION HAS CHANGED; so
/// must the probe. With known_hosts holding only the RSA key and no such line, ssh prefers RSA
/// (the type it knows) and the host key matches; so must the probe.
#[test]
fn the_probe_negotiates_the_host_key_ssh_negotiates() {
    use std::process::Command;
    let keys = tempfile::tempdir().expect("tempdir");
    let rsa = sshd::keygen(keys.path(), "host_rsa", "rsa", "");
    let server = Sshd::builder()
        .line(format!("HostKey {}", rsa.display()))
        .start();
    let home = tempfile::tempdir().expect("home");
    let ed_line = server.known_hosts_line();
    let rsa_pub = std::fs::read_to_string(rsa.with_extension("pub")).unwrap();
    let rsa_line = format!(
        "[127.0.0.1]:{} {}\n",
        server.port,
        rsa_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let run_case = |known: &str, config: &str| {
        let kh = home.path().join("known_hosts");
        std::fs::write(&kh, known).unwrap();
        let cfg = home.path().join("config");
        std::fs::write(&cfg, config).unwrap();
        let ssh = Command::new("ssh")
            .arg("-F")
            .arg(&cfg)
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", kh.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .args(["-p", &server.port.to_string(), "root@127.0.0.1", "true"])
            .env("HOME", home.path())
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .expect("ssh");
        let (_, v) = probe_cli(home.path(), server.port, &cfg, &kh, &[], None);
        (String::from_utf8_lossy(&ssh.stderr).into_owned(), v)
    };
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (ssh, v) = run_case(&ed_line, "HostKeyAlgorithms rsa-sha2-512\n");
    assert!(
        ssh.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{ssh}"
    );
    assert!(ids(&v).contains(&"host-key-changed".to_string()), "{v}");
    assert_eq!(v["server"]["host_key_type"], "ssh-rsa", "{v}");
    // The config line that made ssh ask for the RSA key is named, file:line.
    let cfg = home.path().join("config");
    let named = format!(
        "ssh asks for a ssh-rsa host key, not the ssh-ed25519 one known_hosts holds, because of HostKeyAlgorithms at {}:1: HostKeyAlgorithms rsa-sha2-512",
        cfg.display()
    );
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "host-key-changed"
                && f["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| *e == named)),
        "{v:#}"
    );

    let (ssh, v) = run_case(&rsa_line, "");
    assert!(!ssh.contains("HOST IDENTIFICATION"), "{ssh}");
    assert!(ssh.contains("Permission denied"), "{ssh}");
    let found = ids(&v);
    assert!(!found.iter().any(|i| i.starts_with("host-key")), "{v}");
}

/// Issue 14: agent forwarding (`ssh -A`), proven end to end. With forwarding allowed, `ssh-add
/// -l` on the server lists the local agent's key through the probe's relay (stage
/// `agent-forwarding` ok, the fingerprint as evidence); with `AllowAgentForwarding no` the server
/// refuses (`agent-forwarding-refused`, exit 1), and so does `no-agent-forwarding` on the key's
/// authorized_keys line. Real `ssh -A` first, every way.
#[test]
fn agent_forwarding_is_proven_end_to_end_or_named_as_refused() {
    use std::process::Command;
    // Allowed; refused by sshd_config; refused by the key's own authorized_keys option.
    for (allowed, by_option) in [(true, false), (false, false), (false, true)] {
        let mut server = Sshd::builder();
        if !allowed && !by_option {
            server = server.line("AllowAgentForwarding no");
        }
        let server = server.start();
        let home = Home::new();
        let key = home.key("id_ed25519");
        if by_option {
            server.authorize_with("no-agent-forwarding", &key.with_extension("pub"));
        } else {
            server.authorize(&key.with_extension("pub"));
        }
        let agent = Agent::start();
        agent.add(&key);
        let fp = sshd::fingerprint(&key.with_extension("pub"));
        let kh = home.known_hosts(&server.known_hosts_line());
        let ssh = Command::new("ssh")
            .args([
                "-A",
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", kh.display()))
            .arg("-i")
            .arg(&key)
            .args([
                "-p",
                &server.port.to_string(),
                "root@127.0.0.1",
                "ssh-add -l",
            ])
            .env("SSH_AUTH_SOCK", &agent.sock)
            .env("HOME", home.dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("ssh");
        let said = String::from_utf8_lossy(&ssh.stdout).to_string()
            + &String::from_utf8_lossy(&ssh.stderr);
        if allowed {
            assert!(said.contains(&fp), "{said}");
        } else {
            assert!(said.contains("Could not open a connection"), "{said}");
        }
        let (code, v) = probe_cli(
            home.dir.path(),
            server.port,
            Path::new("/dev/null"),
            &kh,
            &["-A".as_ref(), "-i".as_ref(), key.as_os_str()],
            Some(&agent.sock),
        );
        let stage = v["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "agent-forwarding")
            .unwrap_or_else(|| panic!("no agent-forwarding stage: {v}"))
            .clone();
        let ids = ids_of(&v);
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        if allowed {
            assert_eq!(stage["status"], "ok", "{v}");
            assert_eq!(code, Some(0), "{v}");
            assert!(ids.contains(&"agent-forwarding-ok"), "{v}");
            assert!(v.to_string().contains(&fp), "the server lists the key: {v}");
        } else {
            assert_eq!(stage["status"], "fail", "{v}");
            assert_eq!(code, Some(1), "{v}");
            assert!(ids.contains(&"agent-forwarding-refused"), "{v}");
        }
    }
}

/// A user CA (its temp dir kept alive by the caller) and an sshd that trusts it
/// (TrustedUserCAKeys), with an empty authorized_keys: only a certificate logs in.
fn ca_trusting_sshd() -> (tempfile::TempDir, std::path::PathBuf, Sshd) {
    let cadir = tempfile::tempdir().expect("tempdir");
    let ca = sshd::keygen(cadir.path(), "ca", "ed25519", "");
    let server = Sshd::builder()
        .line(format!(
            "TrustedUserCAKeys {}",
            ca.with_extension("pub").display()
        ))
        .start();
    (cadir, ca, server)
}

/// `ssh-keygen -s CA -I ID -n PRINCIPAL -V -5m:+1h PUBKEY`: `PUBKEY`'s `-cert.pub` beside it.
fn sign_user_cert(ca: &Path, id: &str, principal: &str, pubkey: &Path) {
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(ca)
        .args(["-I", id, "-n", principal, "-V", "-5m:+1h"])
        .arg(pubkey)
        .status()
        .expect("ssh-keygen -s");
    assert!(st.success());
}

/// Real `ssh -F CONFIG root@127.0.0.1 true` with only the agent's keys (HOME has none).
fn ssh_through_agent(
    home: &Home,
    port: u16,
    config: &Path,
    kh: &Path,
    agent: &Agent,
) -> std::process::Output {
    std::process::Command::new("ssh")
        .arg("-F")
        .arg(config)
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args(["-p", &port.to_string(), "root@127.0.0.1", "true"])
        .env("SSH_AUTH_SOCK", &agent.sock)
        .env("HOME", home.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh")
}

/// Issue 13: a user certificate beside the key, against a server that trusts the CA
/// (TrustedUserCAKeys, empty authorized_keys): ssh logs in with it, so must the probe (not
/// "key-rejected, run ssh-copy-id"); a certificate whose principals lack the user is refused by
/// ssh and named `certificate-refused` with the principals as evidence.
#[test]
fn a_user_certificate_logs_in_where_ssh_does_and_a_wrong_principal_is_named() {
    let (_cadir, ca, server) = ca_trusting_sshd();
    for (principal, works) in [("root", true), ("alice", false)] {
        let home = Home::new();
        let key = home.key("id_ed25519");
        sign_user_cert(&ca, "test-cert", principal, &key.with_extension("pub"));
        let kh = home.known_hosts(&server.known_hosts_line());
        let out = ssh_with_key(&home, server.port, &key, &kh);
        if works {
            assert!(
                out.status.success(),
                "ssh with the certificate: {}",
                stderr(&out)
            );
        } else {
            ssh_says(&out, "Permission denied (publickey)");
        }
        let (code, v) = probe_cli(
            home.dir.path(),
            server.port,
            Path::new("/dev/null"),
            &kh,
            &["-i".as_ref(), key.as_os_str()],
            None,
        );
        let ids = ids_of(&v);
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        if works {
            assert_eq!(code, Some(0), "{v}");
            assert!(ids.contains(&"auth-ok"), "{v}");
            assert!(
                v.to_string().contains("certificate"),
                "the login names the certificate: {v}"
            );
        } else {
            assert_eq!(code, Some(1), "{v}");
            let f = v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["id"] == "certificate-refused")
                .unwrap_or_else(|| panic!("{v}"));
            assert!(f.to_string().contains("do not include root"), "{f}");
        }
    }
}

/// Issue 13: a certificate only the agent holds (ssh-add loads KEY-cert.pub with KEY; the key
/// file is elsewhere), against a server that trusts only the CA: ssh logs in with it through the
/// agent, so must the probe, naming the certificate (it used to offer the plain key alone and
/// say key-rejected).
#[test]
fn a_certificate_only_the_agent_holds_logs_in_where_ssh_does() {
    let (_cadir, ca, server) = ca_trusting_sshd();
    let keydir = tempfile::tempdir().expect("tempdir");
    let key = sshd::keygen(keydir.path(), "vault_key", "ed25519", "");
    sign_user_cert(&ca, "vault-cert", "root", &key.with_extension("pub"));
    let agent = Agent::start();
    agent.add(&key);
    let home = Home::new();
    let kh = home.known_hosts(&server.known_hosts_line());
    let out = ssh_through_agent(&home, server.port, Path::new("/dev/null"), &kh, &agent);
    assert!(
        out.status.success(),
        "ssh through the agent: {}",
        stderr(&out)
    );
    let (code, v) = probe_cli(
        home.dir.path(),
        server.port,
        Path::new("/dev/null"),
        &kh,
        &[],
        Some(&agent.sock),
    );
    assert_eq!(code, Some(0), "{v}");
    let ids = ids_of(&v);
    assert!(ids.contains(&"auth-ok".to_string()), "{v}");
    assert!(
        v.to_string().contains("certificate \\\"vault-cert\\\""),
        "the login names the agent's certificate: {v}"
    );
}

/// Issue 13: `CertificateFile` naming a certificate for a key only the agent holds (no key file
/// in sight, the certificate elsewhere): ssh pairs the two and logs in, so must the probe; with
/// IdentitiesOnly yes ssh does not (it looks for a private key at the certificate's path), and
/// neither may the probe.
#[test]
fn a_certificate_file_for_an_agent_key_logs_in_where_ssh_does() {
    let (_cadir, ca, server) = ca_trusting_sshd();
    let keydir = tempfile::tempdir().expect("tempdir");
    let key = sshd::keygen(keydir.path(), "agent_key", "ed25519", "");
    let agent = Agent::start();
    agent.add(&key);
    let certdir = tempfile::tempdir().expect("tempdir");
    let pub_copy = certdir.path().join("work.pub");
    std::fs::copy(key.with_extension("pub"), &pub_copy).expect("copy");
    sign_user_cert(&ca, "file-cert", "root", &pub_copy);
    let cert = certdir.path().join("work-cert.pub");
    for (identities_only, works) in [("no", true), ("yes", false)] {
        let home = Home::new();
        let kh = home.known_hosts(&server.known_hosts_line());
        let cfg = home.dir.path().join("cfg");
        std::fs::write(
            &cfg,
            format!(
                "Host *\n  CertificateFile {}\n  IdentitiesOnly {identities_only}\n",
                cert.display()
            ),
        )
        .expect("write config");
        let out = ssh_through_agent(&home, server.port, &cfg, &kh, &agent);
        assert_eq!(
            out.status.success(),
            works,
            "IdentitiesOnly {identities_only}: {}",
            stderr(&out)
        );
        let (code, v) = probe_cli(
            home.dir.path(),
            server.port,
            &cfg,
            &kh,
            &[],
            Some(&agent.sock),
        );
        if works {
            assert_eq!(code, Some(0), "{v}");
            assert!(ids_of(&v).contains(&"auth-ok".to_string()), "{v}");
            assert!(
                v.to_string().contains("file-cert"),
                "names the certificate: {v}"
            );
        } else {
            assert_eq!(code, Some(1), "IdentitiesOnly yes: {v}");
            assert!(!ids_of(&v).contains(&"auth-ok".to_string()), "{v}");
        }
    }
}

/// `sshdoctor probe --json -F CONFIG` from the command line against a loopback sshd, with a temp
/// HOME (and `SSH_AUTH_SOCK` only when an agent is given): the exit code and the report.
fn probe_cli(
    home: &std::path::Path,
    port: u16,
    config: &std::path::Path,
    kh: &std::path::Path,
    extra: &[&std::ffi::OsStr],
    agent: Option<&std::path::Path>,
) -> (Option<i32>, serde_json::Value) {
    let mut run = Sshdoctor::new(home)
        .args(["probe", &format!("root@127.0.0.1:{port}"), "--json", "-F"])
        .arg(config)
        .arg("--known-hosts")
        .arg(kh)
        .args(extra);
    if let Some(sock) = agent {
        run = run.agent(sock);
    }
    run.json()
}

/// Issue 12, point 2: a cipher pinned in the user's config is the one the probe offers. The
/// server offers only aes256-gcm; `Ciphers aes128-ctr` in the config makes ssh fail with "no
/// matching cipher found"; the probe must fail the same way, not log in with its own defaults.
#[test]
fn a_cipher_pinned_in_the_config_fails_where_ssh_fails() {
    use std::process::Command;
    let server = Sshd::builder()
        .line("Ciphers aes256-gcm@openssh.com")
        .start();
    let home = Home::new();
    let key = home.key("id_ed25519");
    server.authorize(&key.with_extension("pub"));
    let kh = home.known_hosts(&server.known_hosts_line());
    let cfg = home.dir.path().join("config");
    std::fs::write(&cfg, "Ciphers aes128-ctr\n").unwrap();
    let ssh = Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
        .arg(&key)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args(["-p", &server.port.to_string(), "root@127.0.0.1", "true"])
        .env("HOME", home.dir.path())
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("ssh");
    ssh_says(&ssh, "no matching cipher found");
    let id = ["-i".as_ref(), key.as_os_str()];
    let (code, v) = probe_cli(home.dir.path(), server.port, &cfg, &kh, &id, None);
    assert_eq!(code, Some(1), "{v}");
    assert!(
        ids_of(&v).contains(&"algorithm-mismatch".to_string()),
        "{v}"
    );
    // Without the line, both log in.
    std::fs::write(&cfg, "").unwrap();
    let (code, v) = probe_cli(
        home.dir.path(),
        server.port,
        Path::new("/dev/null"),
        &kh,
        &id,
        None,
    );
    assert_eq!(code, Some(0), "{v}");
}

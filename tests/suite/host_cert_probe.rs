//! Issue 13 item 4: the probe and a server that presents a host certificate. Each case is a real
//! sshd with `HostCertificate` (signed in the test with `ssh-keygen -s -h`) and a known_hosts
//! holding only `@cert-authority` lines, so a certificate ssh rejects ends, as in ssh, at the
//! plain key no line holds. Real `ssh` (StrictHostKeyChecking=yes, BatchMode) goes first; then
//! the probe's exit code, finding ids and evidence, with the `ssh-check` stage and without it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::run::{ids_of, Sshdoctor};
use crate::support::sshd::{fingerprint, keygen, Ssh, Sshd};
use crate::support::{ssh_says, stderr};

/// `sshdoctor probe ARGS --json`, with the cross-check on or off.
fn probe(home: &Path, args: &[String], cross: bool) -> (i32, serde_json::Value) {
    let mut run = Sshdoctor::new(home).arg("probe").args(args).arg("--json");
    if !cross {
        run = run.arg("--no-cross-check");
    }
    let (code, v) = run.json();
    (code.unwrap_or(-1), v)
}

fn stage<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["stages"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["stage"] == name))
        .unwrap_or_else(|| panic!("no stage {name}: {v:#}"))
}

fn finding<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    v["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == id))
        .unwrap_or_else(|| panic!("no {id}: {v:#}"))
}

fn evidence(f: &serde_json::Value) -> String {
    f["evidence"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The probe's own ids (the cross-check's are left out).
fn probe_ids(v: &serde_json::Value) -> Vec<String> {
    ids_of(v)
        .into_iter()
        .filter(|i| i != "ssh-disagrees" && i != "ssh-needs-input")
        .collect()
}

struct Lab {
    home: tempfile::TempDir,
    host: PathBuf,
    ca: PathBuf,
    other_ca: PathBuf,
    client: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let home = tempfile::tempdir().expect("tempdir");
        let d = home.path();
        Lab {
            host: keygen(d, "host_ed25519", "ed25519", ""),
            ca: keygen(d, "host_ca", "ed25519", ""),
            other_ca: keygen(d, "other_ca", "ed25519", ""),
            client: keygen(d, "id_ed25519", "ed25519", ""),
            home,
        }
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    /// Signs the host key with the CA (`ssh-keygen -s CA -h -I host-id ARGS`), valid from an
    /// hour ago for two hours unless ARGS has its own `-V`; returns the certificate.
    fn sign(&self, args: &[&str]) -> PathBuf {
        let cert = self.path().join("host_ed25519-cert.pub");
        let _ = std::fs::remove_file(&cert);
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-s"])
            .arg(&self.ca)
            .args(["-h", "-I", "host-id"]);
        if !args.contains(&"-V") {
            cmd.args(["-V", "-1h:+1h"]);
        }
        cmd.args(args).arg(self.host.with_extension("pub"));
        let out = cmd.env("HOME", self.path()).output().expect("ssh-keygen");
        assert!(out.status.success(), "{out:?}");
        cert
    }

    fn server(&self, cert: &Path) -> Sshd {
        let server = Sshd::builder()
            .host_key(&self.host)
            .line(format!("HostCertificate {}", cert.display()))
            .start();
        server.authorize(&self.client.with_extension("pub"));
        server
    }

    /// known_hosts with `@MARKER [127.0.0.1]:PORT CA` lines only.
    fn known_hosts(&self, port: u16, lines: &[(&str, &Path)]) -> PathBuf {
        let kh = self.path().join("known_hosts");
        let text: String = lines
            .iter()
            .map(|(marker, ca)| {
                let k = std::fs::read_to_string(ca.with_extension("pub")).expect("read CA");
                format!("@{marker} [127.0.0.1]:{port} {}\n", k.trim())
            })
            .collect();
        std::fs::write(&kh, text).expect("write known_hosts");
        kh
    }

    fn args(&self, port: u16, kh: &Path) -> Vec<String> {
        vec![
            format!("root@127.0.0.1:{port}"),
            "-i".into(),
            self.client.display().to_string(),
            "--known-hosts".into(),
            kh.display().to_string(),
        ]
    }

    /// The probe with and without the cross-check: the same exit code and ids both ways, and
    /// the `ssh-check` stage agreeing with the probe. Returns the exit code and the report
    /// with the cross-check.
    fn probe_both(&self, port: u16, kh: &Path) -> (i32, serde_json::Value) {
        let args = self.args(port, kh);
        let (code, with) = probe(self.path(), &args, true);
        let (without_code, without) = probe(self.path(), &args, false);
        assert_eq!(code, without_code, "{with:#}\n{without:#}");
        assert_eq!(probe_ids(&with), probe_ids(&without), "{with:#}");
        assert_eq!(ids_of(&with), probe_ids(&with), "ssh disagrees: {with:#}");
        let check = stage(&with, "ssh-check");
        assert_eq!(check["status"], "ok", "{check:#}");
        (code, with)
    }
}

#[test]
fn a_host_certificate_trusted_by_cert_authority_is_an_ok_host_key_naming_the_line() {
    let lab = Lab::new();
    let cert = lab.sign(&["-n", "127.0.0.1"]);
    let server = lab.server(&cert);
    let kh = lab.known_hosts(server.port, &[("cert-authority", &lab.ca)]);
    let out = Ssh::new(lab.path(), server.port, &kh)
        .strict("yes")
        .key(&lab.client)
        .run();
    assert!(out.status.success(), "real ssh: {}", stderr(&out));

    let (code, v) = lab.probe_both(server.port, &kh);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(probe_ids(&v), ["auth-ok"], "{v:#}");
    let hk = stage(&v, "host-key");
    assert_eq!(hk["status"], "ok");
    let detail = hk["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("trusted by @cert-authority at {}:1", kh.display())),
        "{detail}"
    );
    assert!(detail.contains("\"host-id\""), "{detail}");
    assert!(
        detail.contains(&fingerprint(&lab.ca.with_extension("pub"))),
        "{detail}"
    );
    let check = stage(&v, "ssh-check")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(check.starts_with("ssh agrees"), "{check}");
}

/// The certificate cases ssh rejects and then falls back to the plain key inside, which no line
/// holds: ssh says why, then "Host key verification failed"; the probe names the certificate's
/// problem as an error, and the plain key's `host-key-unknown` says why a plain line is offered.
#[test]
fn a_rejected_host_certificate_is_named_and_the_plain_key_fallback_says_why() {
    let lab = Lab::new();
    let ca_fp = fingerprint(&lab.ca.with_extension("pub"));
    /// Name, ssh-keygen -s options, whether the CA line holds the other CA, what ssh says, the
    /// finding id, the evidence it must hold.
    type Case<'a> = (&'a str, Vec<&'a str>, bool, &'a str, &'a str, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            "expired",
            vec!["-n", "127.0.0.1", "-V", "20200101:20200102"],
            false,
            "Certificate invalid: expired",
            "host-certificate-expired",
            vec!["valid until 2020-01-02".into()],
        ),
        (
            "wrong principal",
            vec!["-n", "db.example.com,db"],
            false,
            "Certificate invalid: name is not a listed principal",
            "host-certificate-wrong-principal",
            vec![
                "name checked: 127.0.0.1".into(),
                "the certificate's principals: db.example.com, db".into(),
            ],
        ),
        (
            "untrusted CA",
            vec!["-n", "127.0.0.1"],
            true,
            "Host key verification failed.",
            "host-certificate-untrusted-ca",
            vec![format!("signed by CA {ca_fp}")],
        ),
    ];
    for (name, sign, other, ssh_line, id, want) in cases {
        let cert = lab.sign(&sign);
        let server = lab.server(&cert);
        let ca = if other { &lab.other_ca } else { &lab.ca };
        let kh = lab.known_hosts(server.port, &[("cert-authority", ca)]);
        let out = Ssh::new(lab.path(), server.port, &kh)
            .strict("yes")
            .key(&lab.client)
            .run();
        assert!(!out.status.success(), "{name}: real ssh logged in");
        ssh_says(&out, ssh_line);
        ssh_says(&out, "Host key verification failed.");

        let (code, v) = lab.probe_both(server.port, &kh);
        assert_eq!(code, 1, "{name}: {v:#}");
        let ids = probe_ids(&v);
        assert_eq!(ids[..2], [id, "host-key-unknown"], "{name}: {v:#}");
        let f = finding(&v, id);
        assert_eq!(f["severity"], "error", "{name}");
        let ev = evidence(f);
        for w in &want {
            assert!(ev.contains(w.as_str()), "{name}: {w:?} not in {ev}");
        }
        assert!(ev.contains("\"host-id\""), "{name}: {ev}");
        // The trust fix offers a plain key line, and says why.
        let unknown = finding(&v, "host-key-unknown");
        assert!(
            evidence(unknown).contains(&format!("host certificate was not accepted ({id})")),
            "{name}: {unknown:#}"
        );
        let title = unknown["fixes"][0]["title"].as_str().unwrap();
        assert!(title.contains("a plain key line"), "{name}: {title}");
        assert!(title.contains(id), "{name}: {title}");
        let check = stage(&v, "ssh-check")["detail"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(check.starts_with("ssh fails too"), "{name}: {check}");
    }
}

/// A `@revoked` CA: ssh refuses outright, with no fallback to the plain key; so does the probe,
/// which sends nothing to the server after the host key.
#[test]
fn a_host_certificate_from_a_revoked_ca_stops_the_probe() {
    let lab = Lab::new();
    let cert = lab.sign(&["-n", "127.0.0.1"]);
    let server = lab.server(&cert);
    let kh = lab.known_hosts(
        server.port,
        &[("cert-authority", &lab.ca), ("revoked", &lab.ca)],
    );
    let out = Ssh::new(lab.path(), server.port, &kh)
        .strict("yes")
        .key(&lab.client)
        .run();
    assert!(!out.status.success(), "real ssh logged in");
    ssh_says(&out, "REVOKED HOST KEY DETECTED");

    let (code, v) = lab.probe_both(server.port, &kh);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(probe_ids(&v), ["host-certificate-revoked"], "{v:#}");
    let ev = evidence(finding(&v, "host-certificate-revoked"));
    assert!(
        ev.contains(&format!("@revoked at {}:2", kh.display())),
        "{ev}"
    );
    assert!(
        ev.contains(&fingerprint(&lab.ca.with_extension("pub"))),
        "{ev}"
    );
    assert_eq!(stage(&v, "host-key")["status"], "fail");
    assert_eq!(stage(&v, "keys")["status"], "skipped");
}

/// HostKeyAlias: ssh looks the host up by the alias (no port) and checks it as the principal.
#[test]
fn host_key_alias_is_the_name_a_host_certificate_is_checked_for() {
    let lab = Lab::new();
    let cert = lab.sign(&["-n", "db-alias"]);
    let server = lab.server(&cert);
    let kh = lab.path().join("known_hosts");
    let ca = std::fs::read_to_string(lab.ca.with_extension("pub")).expect("read CA");
    std::fs::write(&kh, format!("@cert-authority db-alias {}\n", ca.trim())).expect("write");
    let out = Ssh::new(lab.path(), server.port, &kh)
        .strict("yes")
        .key(&lab.client)
        .args(&["-o", "HostKeyAlias=db-alias"])
        .run();
    assert!(out.status.success(), "real ssh: {}", stderr(&out));

    let config = lab.path().join("config");
    std::fs::write(&config, "Host 127.0.0.1\n  HostKeyAlias db-alias\n").expect("write");
    let mut args = lab.args(server.port, &kh);
    args.extend(["-F".to_string(), config.display().to_string()]);
    for cross in [true, false] {
        let (code, v) = probe(lab.path(), &args, cross);
        assert_eq!(code, 0, "{v:#}");
        // With the cross-check too: ssh agrees, nothing else is said.
        assert_eq!(ids_of(&v), ["auth-ok"], "{v:#}");
        let detail = stage(&v, "host-key")["detail"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            detail.contains("for db-alias, trusted by @cert-authority"),
            "{detail}"
        );
    }
}

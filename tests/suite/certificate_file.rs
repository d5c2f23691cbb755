//! Issue 13, `CertificateFile`: a user certificate at a path only the config names (not
//! `KEY-cert.pub`), against a server that trusts its CA (TrustedUserCAKeys, empty
//! authorized_keys). Real ssh logs in with it, so must the probe; the effective config lists it.

use std::process::Command;

use crate::support::run::{ids_of, Sshdoctor};
use crate::support::sshd::{keygen, Ssh, Sshd};
use crate::support::stderr;

#[test]
fn a_certificate_named_only_by_certificate_file_logs_in_as_with_ssh() {
    let cadir = tempfile::tempdir().expect("tempdir");
    let ca = keygen(cadir.path(), "ca", "ed25519", "");
    let server = Sshd::builder()
        .line(format!(
            "TrustedUserCAKeys {}",
            ca.with_extension("pub").display()
        ))
        .start();
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let key = keygen(h, "id_work", "ed25519", "");
    // Signed, then moved where only CertificateFile finds it.
    let st = Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-I", "work-cert", "-n", "root", "-V", "-5m:+1h"])
        .arg(key.with_extension("pub"))
        .status()
        .expect("ssh-keygen -s");
    assert!(st.success());
    let certs = h.join("certs");
    std::fs::create_dir(&certs).expect("mkdir");
    let cert = certs.join("work.cert");
    std::fs::rename(h.join("id_work-cert.pub"), &cert).expect("move the certificate");
    let kh = h.join("known_hosts");
    std::fs::write(&kh, server.known_hosts_line()).expect("write known_hosts");

    // Real ssh: refused without it (authorized_keys is empty), in with CertificateFile.
    let without = Ssh::new(h, server.port, &kh).key(&key).run();
    assert!(
        !without.status.success(),
        "ssh logged in without the certificate"
    );
    let cert_opt = format!("CertificateFile={}", cert.display());
    let with = Ssh::new(h, server.port, &kh)
        .key(&key)
        .args(&["-o", &cert_opt])
        .run();
    assert!(
        with.status.success(),
        "ssh with CertificateFile: {}",
        stderr(&with)
    );

    let config = h.join("config");
    std::fs::write(
        &config,
        format!(
            "Host 127.0.0.1\n  IdentityFile {}\n  CertificateFile {}\n  IdentitiesOnly yes\n",
            key.display(),
            cert.display()
        ),
    )
    .expect("write config");
    let cfg = sshdoctor::config::parse_ssh_g(
        &String::from_utf8_lossy(
            &Command::new("ssh")
                .args(["-G", "-F"])
                .arg(&config)
                .arg("127.0.0.1")
                .env("HOME", h)
                .output()
                .expect("ssh -G")
                .stdout,
        ),
        &sshdoctor::paths::SshPaths::with_home(h),
    );
    assert_eq!(cfg.certificate_files, std::slice::from_ref(&cert));

    let args = [
        "probe".to_string(),
        format!("root@127.0.0.1:{}", server.port),
        "-F".into(),
        config.display().to_string(),
        "--known-hosts".into(),
        kh.display().to_string(),
        "--json".into(),
    ];
    for cross in [true, false] {
        let mut run = Sshdoctor::new(h).args(&args);
        if !cross {
            run = run.arg("--no-cross-check");
        }
        let (code, v) = run.json();
        assert_eq!(code, Some(0), "{v:#}");
        assert_eq!(ids_of(&v), ["auth-ok"], "{v:#}");
        assert!(
            v.to_string().contains("certificate"),
            "the login names the certificate: {v}"
        );
    }
}

//! The rules: [`ServerFacts`] (everything read from the system) in, [`Finding`]s out, worst
//! first, each backed by the config line, the path or the log line that proves it.
//!
//! Why a module of its own: this is where the facts from the other modules meet (sshd's config,
//! the StrictModes walk, the authorized_keys files, the log, the sockets) and the order sshd
//! applies its checks in is reproduced; it reads nothing itself, so every rule is a unit test
//! away.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use russh::keys::ssh_key::{Certificate, PublicKey};

use super::certificates::TrustedCas;
use super::commands::{allow_from_command, append_key_command};
use super::listen::{host_port, serves};
use super::log::{classify, LogEvent, LogLine};
use super::passwd::PwEntry;
use super::sshd_config::SshdConfig;
use super::strict_modes::{violation_finding, Violation};
use crate::authorized_keys::{self, AuthorizedKeys, Entry};
use crate::finding::{shell_quote, sort_worst_first, Finding, Fix, Severity};
use crate::fix_id::FixId;
use crate::platform::Platform;

/// One authorized_keys file as found on disk.
#[derive(Debug, Clone)]
pub struct KeyFile {
    pub path: PathBuf,
    /// `None` when the file does not exist; `Err` when it cannot be read.
    pub content: Option<Result<AuthorizedKeys, String>>,
}

/// The key the user is asking about.
#[derive(Debug, Clone)]
pub struct WantedKey {
    pub fingerprint: String,
    pub key: Option<PublicKey>,
    /// The file it came from (for the "append it" fix).
    pub pubkey_file: Option<PathBuf>,
    /// Where we learned of it: `--key`, `--pubkey` or the log.
    pub source: String,
    /// When `--pubkey` named a certificate (`KEY-cert.pub`): `fingerprint` and `key` are then its
    /// key's, and the certificate is checked as sshd checks it.
    pub certificate: Option<Certificate>,
}

/// Everything read from the system, so [`diagnose`] can stay pure.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    pub user: PwEntry,
    pub groups: Vec<String>,
    pub sshd: SshdConfig,
    pub config_path: PathBuf,
    pub violations: Vec<Violation>,
    pub key_files: Vec<KeyFile>,
    pub wanted: Option<WantedKey>,
    pub client_addr: Option<IpAddr>,
    pub log: Vec<LogLine>,
    /// `None` where the platform has no `/proc/net/tcp` to read them from.
    pub listening: Option<Vec<(IpAddr, u16)>>,
    /// macOS's Remote Login switch (`systemsetup -getremotelogin`), `None` elsewhere or when it
    /// could not be read (it needs an administrator).
    pub remote_login: Option<bool>,
    /// Which commands the fixes show: sshd is managed differently on each system.
    pub platform: Platform,
    /// `TrustedUserCAKeys`, read, or `None` when sshd trusts no user CA.
    pub user_cas: Option<TrustedCas>,
    /// `AuthorizedPrincipalsFile` for this user, expanded and read, when set.
    pub principals_file: Option<(PathBuf, Result<Vec<String>, String>)>,
    pub now: SystemTime,
}

/// Prepending works because sshd takes the first value of a keyword it sees.
pub(super) fn prepend_option(platform: Platform, cfg: &Path, line: &str) -> String {
    let c = shell_quote(&cfg.display().to_string());
    format!(
        "{} && /usr/sbin/sshd -t -f {c}",
        platform.prepend_line_command(cfg, line)
    )
}

/// The "reload sshd" step after a config change, where the platform needs one: macOS's
/// launchd starts a new sshd for every connection, which reads the file afresh.
pub(super) fn reload_fix(platform: Platform) -> Option<Fix> {
    platform.reload_sshd_command().map(|cmd| {
        Fix::new(
            FixId::ReloadSshd,
            "Reload sshd so it reads the new configuration",
            cmd,
        )
    })
}

/// sshd's `allowed_user` order: DenyUsers, AllowUsers, DenyGroups, AllowGroups. Returns the
/// reason in sshd's own words when the user is refused.
pub fn user_refused(
    cfg: &SshdConfig,
    user: &str,
    groups: &[String],
    client: Option<IpAddr>,
) -> Option<String> {
    let matches_user = |pat: &str| -> bool {
        let (u, h) = match pat.split_once('@') {
            Some((u, h)) => (u, Some(h)),
            None => (pat, None),
        };
        if !authorized_keys::match_pattern(user, u) {
            return false;
        }
        match (h, client) {
            (Some(h), Some(ip)) => {
                let ip = ip.to_string();
                authorized_keys::match_host_and_ip(&ip, &ip, h) == 1
            }
            _ => true,
        }
    };
    let group_hit = |pats: &[String]| {
        groups
            .iter()
            .any(|g| pats.iter().any(|p| authorized_keys::match_pattern(g, p)))
    };
    let deny = cfg.words("denyusers");
    if deny.iter().any(|p| matches_user(p)) {
        return Some("listed in DenyUsers".into());
    }
    let allow = cfg.words("allowusers");
    if !allow.is_empty() && !allow.iter().any(|p| matches_user(p)) {
        return Some("not listed in AllowUsers".into());
    }
    let dg = cfg.words("denygroups");
    if !dg.is_empty() && group_hit(&dg) {
        return Some("a group is listed in DenyGroups".into());
    }
    let ag = cfg.words("allowgroups");
    if !ag.is_empty() && !group_hit(&ag) {
        return Some("none of user's groups are listed in AllowGroups".into());
    }
    None
}

/// Turns the facts into findings, worst first, with the matching log lines as evidence.
pub fn diagnose(f: &ServerFacts) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let cfg_disp = f.config_path.display().to_string();
    let user = &f.user.name;

    // sshd config
    if !f.sshd.yes("pubkeyauthentication", true) {
        out.push(
            Finding::new(
                "pubkey-auth-disabled",
                Severity::Error,
                "sshd does not accept keys at all (PubkeyAuthentication no)",
            )
            .explain(
                "With PubkeyAuthentication no, sshd never even looks at authorized_keys: every \
                 key is refused and the client's method list no longer includes \"publickey\". \
                 If the setting comes from a Match block, change it there.",
            )
            .evidence(format!(
                "sshd effective config: pubkeyauthentication {}",
                f.sshd.get("pubkeyauthentication").unwrap_or("no")
            ))
            .fix(Fix::new(
                FixId::SshdConfigSet,
                format!("Turn PubkeyAuthentication on in {cfg_disp}"),
                prepend_option(f.platform, &f.config_path, "PubkeyAuthentication yes"),
            ))
            .fixes_from(reload_fix(f.platform)),
        );
    }
    if f.user.uid == 0 {
        let prl = f.sshd.get("permitrootlogin").unwrap_or("without-password");
        if prl.eq_ignore_ascii_case("no") {
            out.push(
                Finding::new(
                    "root-login-refused",
                    Severity::Error,
                    "sshd refuses every login as root (PermitRootLogin no)",
                )
                .explain(
                    "Even a correct key is refused for root. The usual practice is to log in \
                     as an ordinary user and use sudo; if root logins with a key are really \
                     wanted, prohibit-password allows keys but never passwords.",
                )
                .evidence(format!("sshd effective config: permitrootlogin {prl}"))
                .fix(Fix::new(
                    FixId::SshdConfigSet,
                    format!("Allow root logins with a key only, in {cfg_disp}"),
                    prepend_option(
                        f.platform,
                        &f.config_path,
                        "PermitRootLogin prohibit-password",
                    ),
                ))
                .fixes_from(reload_fix(f.platform)),
            );
        }
    }
    if let Some(reason) = user_refused(&f.sshd, user, &f.groups, f.client_addr) {
        let mut fi = Finding::new(
            "user-not-allowed",
            Severity::Error,
            format!("sshd does not let {user} log in: {reason}"),
        )
        .explain(
            "AllowUsers/AllowGroups are whitelists: once one is set, everybody not on it is \
             refused before any key is looked at. DenyUsers/DenyGroups refuse whoever matches.",
        );
        for k in ["allowusers", "denyusers", "allowgroups", "denygroups"] {
            let w = f.sshd.words(k);
            if !w.is_empty() {
                fi = fi.evidence(format!("sshd effective config: {k} {}", w.join(" ")));
            }
        }
        if reason.contains("AllowUsers") {
            let c = shell_quote(&cfg_disp);
            fi = fi
                .fix(Fix::new(
                    FixId::SshdConfigAllowUser,
                    format!("Add {user} to AllowUsers in {cfg_disp}"),
                    format!(
                        "{} {} {c} && /usr/sbin/sshd -t -f {c}",
                        f.platform.sed_in_place(),
                        shell_quote(&format!(
                            r"s/^[[:space:]]*AllowUsers[[:space:]].*/& {user}/I"
                        ))
                    ),
                ))
                .fixes_from(reload_fix(f.platform));
        }
        out.push(fi);
    }
    let akc = f.sshd.get("authorizedkeyscommand").unwrap_or("none");
    let has_akc = !akc.eq_ignore_ascii_case("none");
    if has_akc {
        out.push(
            Finding::new(
                "authorized-keys-command",
                Severity::Info,
                "Keys may also come from AuthorizedKeysCommand",
            )
            .explain(
                "sshd runs this command and accepts the keys it prints besides the files; \
                 a key missing from the files may still be accepted by it.",
            )
            .evidence(format!(
                "sshd effective config: authorizedkeyscommand {akc}"
            )),
        );
    }

    // StrictModes
    let strict = f.sshd.yes("strictmodes", true);
    for v in &f.violations {
        out.push(violation_finding(v, &f.user, strict));
    }

    // authorized_keys
    let mut all_entries: Vec<(String, &Entry)> = Vec::new();
    for kf in &f.key_files {
        let p = kf.path.display().to_string();
        match &kf.content {
            None => {}
            Some(Err(e)) => out.push(
                Finding::new(
                    "authorized-keys-unreadable",
                    Severity::Warning,
                    format!("{p} cannot be read"),
                )
                .evidence(format!("{p}: {e}")),
            ),
            Some(Ok(ak)) => {
                out.extend(ak.findings(&p, f.now));
                for e in ak.entries() {
                    all_entries.push((p.clone(), e));
                }
            }
        }
    }
    if f.key_files.iter().all(|k| k.content.is_none())
        && f.sshd.yes("pubkeyauthentication", true)
        && !has_akc
    {
        let mut fi = Finding::new(
            "no-authorized-keys",
            Severity::Error,
            format!("{user} has no authorized_keys file"),
        )
        .explain("sshd looks for keys only in these files; none exists, so no key can log in.");
        for kf in &f.key_files {
            fi = fi.evidence(format!("{}: does not exist", kf.path.display()));
        }
        out.push(fi);
    }
    if !all_entries.is_empty() {
        let mut fi = Finding::new(
            "authorized-keys-list",
            Severity::Info,
            format!("{} key(s) authorized for {user}", all_entries.len()),
        );
        for (p, e) in &all_entries {
            let opts = if e.options.is_empty() {
                String::new()
            } else {
                format!(
                    " [{}]",
                    e.options
                        .iter()
                        .map(|o| o.name.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            };
            fi = fi.evidence(format!(
                "{p}:{}: {} {} {}{opts}",
                e.line, e.key_type, e.fingerprint, e.comment
            ));
        }
        out.push(fi);
    }
    if let Some(w) = &f.wanted {
        // A certificate is trusted through its CA, not by an authorized_keys line of its key:
        // "not in authorized_keys" would name the wrong cause (the certificate checks do).
        if w.certificate.is_none() {
            key_findings(f, w, &all_entries, has_akc, &mut out);
        }
    }
    out.extend(super::certificates::findings(f));

    // Listening
    if let Some(socks) = &f.listening {
        let want = f.sshd.listen_addresses();
        let missing: Vec<&(String, u16)> = want
            .iter()
            .filter(|(h, p)| !socks.iter().any(|s| serves(s, h, *p)))
            .collect();
        if !want.is_empty() && missing.len() == want.len() {
            let mut fi = Finding::new(
                "sshd-not-listening",
                Severity::Error,
                "Nothing is listening where sshd is configured to listen",
            )
            .explain(
                "Clients get \"Connection refused\": sshd is not running, failed to start (a \
                 config error or a port already in use), or listens elsewhere.",
            );
            for (h, p) in &want {
                fi = fi.evidence(format!(
                    "sshd effective config: listenaddress {}",
                    host_port(h, *p)
                ));
            }
            let mut ports: Vec<u16> = socks.iter().map(|s| s.1).collect();
            ports.sort_unstable();
            ports.dedup();
            fi = fi.evidence(format!(
                "listening TCP ports: {}",
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            fi = fi.fix(Fix::new(
                FixId::StartSshd,
                "Start sshd (and read why it failed if it does not stay up)",
                f.platform.start_sshd_command(),
            ));
            out.push(fi);
        } else {
            for (h, p) in missing {
                out.push(
                    Finding::new(
                        "sshd-not-listening-address",
                        Severity::Warning,
                        format!("sshd is not listening on {}", host_port(h, *p)),
                    )
                    .evidence(format!(
                        "sshd effective config: listenaddress {}",
                        host_port(h, *p)
                    )),
                );
            }
        }
    } else {
        out.extend(listening_unchecked(f));
    }

    key_type_findings(f, &mut out);
    attach_log(f, &mut out);
    sort_worst_first(&mut out);
    out
}

/// Where the listening sockets cannot be read (no `/proc/net/tcp`), say what is known instead
/// of guessing: on macOS the Remote Login switch decides (launchd, not sshd, holds port 22 and
/// starts sshd per connection), elsewhere the finding names the command that would tell.
fn listening_unchecked(f: &ServerFacts) -> Option<Finding> {
    let check = |cmd: &str| {
        Fix::new(
            FixId::CheckSshdRunning,
            "See whether sshd accepts connections",
            cmd,
        )
    };
    match (f.platform, f.remote_login) {
        (Platform::MacOs, Some(true)) => None,
        (Platform::MacOs, Some(false)) => Some(
            Finding::new(
                "remote-login-off",
                Severity::Error,
                "Remote Login is off: this Mac accepts no SSH connections",
            )
            .explain(
                "On macOS sshd is not a service that runs all the time: launchd listens on \
                 port 22 and starts sshd for each connection, but only while Remote Login \
                 (System Settings → General → Sharing) is on. With it off, clients get \
                 \"Connection refused\" whatever sshd_config says.",
            )
            .evidence("systemsetup -getremotelogin: Remote Login: Off")
            .fix(Fix::new(
                FixId::StartSshd,
                "Turn Remote Login on (or in System Settings → General → Sharing)",
                f.platform.start_sshd_command(),
            )),
        ),
        (Platform::MacOs, None) => Some(
            Finding::new(
                "listening-not-checked",
                Severity::Info,
                "Whether this Mac accepts SSH connections was not checked",
            )
            .explain(
                "On macOS launchd, not sshd, listens on port 22 while Remote Login is on, and \
                 reading that switch needs an administrator. Run sshdoctor with sudo, or look \
                 in System Settings → General → Sharing → Remote Login.",
            )
            .evidence("systemsetup -getremotelogin: not readable without administrator rights")
            .fix(check("sudo systemsetup -getremotelogin")),
        ),
        (platform, _) => Some(
            Finding::new(
                "listening-not-checked",
                Severity::Info,
                if platform.has_proc_net() {
                    "Which ports sshd listens on was not checked: /proc/net/tcp is not readable"
                        .to_string()
                } else {
                    format!(
                        "Which ports sshd listens on was not checked: {} has no /proc/net/tcp",
                        platform.name()
                    )
                },
            )
            .explain(
                "sshdoctor reads the listening sockets from /proc/net/tcp, which only Linux \
                 has; rather than guess, it leaves this check to the command below.",
            )
            .fix(check(if platform == Platform::FreeBsd {
                "sockstat -4 -6 -l | grep sshd"
            } else {
                "netstat -an | grep LISTEN"
            })),
        ),
    }
}

fn key_findings(
    f: &ServerFacts,
    w: &WantedKey,
    all: &[(String, &Entry)],
    has_akc: bool,
    out: &mut Vec<Finding>,
) {
    let want = w
        .fingerprint
        .trim()
        .strip_prefix("SHA256:")
        .unwrap_or(w.fingerprint.trim());
    let hits: Vec<&(String, &Entry)> = all
        .iter()
        .filter(|(_, e)| {
            !e.has_flag("cert-authority")
                && e.fingerprint
                    .strip_prefix("SHA256:")
                    .unwrap_or(&e.fingerprint)
                    == want
        })
        .collect();
    let fp = format!("SHA256:{want}");
    if hits.is_empty() {
        let mut fi = Finding::new(
            "key-not-authorized",
            if has_akc {
                Severity::Warning
            } else {
                Severity::Error
            },
            format!("The key {fp} is not in {}'s authorized_keys", f.user.name),
        )
        .explain(
            "sshd compares the offered key with each line of authorized_keys; this one is not \
             there (or only on a line sshd ignores), so it is refused with a bare \"Permission \
             denied (publickey)\". Usually the key was never copied, or was copied for another \
             user or another server.",
        )
        .evidence(format!("wanted key ({}): {fp}", w.source));
        for kf in &f.key_files {
            fi = fi.evidence(format!("searched {}", kf.path.display()));
        }
        if let (Some(pubf), Some(target)) = (&w.pubkey_file, f.key_files.first()) {
            let t = target.path.display().to_string();
            let make_dir = target.path.starts_with(&f.user.home);
            fi = fi.fix(Fix::new(
                FixId::AppendAuthorizedKey,
                format!("Add the key to {t}"),
                append_key_command(&target.path, pubf, &f.user.name, make_dir),
            ));
        }
        out.push(fi);
        return;
    }
    let Some(addr) = f.client_addr else {
        return;
    };
    let reasons: Vec<(String, &Entry, String)> = hits
        .iter()
        .filter_map(|(p, e)| {
            authorized_keys::would_refuse(e, addr, f.now).map(|r| (p.clone(), *e, r))
        })
        .collect();
    // sshd moves on to the next matching line when options refuse one, so a key is refused only
    // when every line with it refuses.
    if reasons.len() < hits.len() {
        return;
    }
    for (p, e, r) in reasons {
        let mut fi = Finding::new(
            "authorized-key-refused-by-option",
            Severity::Error,
            format!("The key is listed but its options refuse this login: {r}"),
        )
        .explain(
            "The key is in authorized_keys, but an option on its line restricts it (from= \
             limits the client addresses, expiry-time ends its validity), so sshd refuses it \
             from here.",
        )
        .evidence(format!("{p}:{}: {} {}", e.line, e.key_type, e.fingerprint))
        .evidence(format!("{p}:{}: {r}", e.line))
        .evidence(format!("client address: {addr}"));
        if let Some(from) = e.option("from").and_then(|o| o.value.as_deref()) {
            if let Some(fix) = allow_from_fix(f.platform, &p, e, from, addr) {
                fi = fi.fix(fix);
            }
        }
        out.push(fi);
    }
}

/// Adds the client address at the end of the line's `from=` list, every other byte of the line
/// kept (`sshdoctor fix authorized-key-allow-from FILE:LINE --from ADDR` does the same). No fix
/// when a negated pattern excludes the address: adding it would not help.
fn allow_from_fix(
    platform: Platform,
    path: &str,
    e: &Entry,
    from: &str,
    addr: IpAddr,
) -> Option<Fix> {
    let negated = from.split(',').any(|p| {
        p.starts_with('!')
            && authorized_keys::match_host_and_ip(
                &addr.to_string(),
                &addr.to_string(),
                p.trim_start_matches('!'),
            ) == 1
    });
    if negated {
        return None;
    }
    Some(Fix::new(
        FixId::AuthorizedKeyAllowFrom,
        format!("Allow {addr} in the from= option of line {}", e.line),
        allow_from_command(platform, path, e.line, addr),
    ))
}

/// Adds each relevant log line as evidence to the finding it proves, or as its own finding.
fn attach_log(f: &ServerFacts, out: &mut Vec<Finding>) {
    let user = &f.user.name;
    let mut extra: Vec<Finding> = Vec::new();
    let mut push = |out: &mut Vec<Finding>,
                    ids: &[&str],
                    pred: &dyn Fn(&Finding) -> bool,
                    line: &LogLine,
                    fallback: &dyn Fn() -> Finding| {
        let ev = line.evidence();
        if let Some(fi) = out
            .iter_mut()
            .find(|x| ids.contains(&x.id.as_str()) && pred(x))
        {
            if !fi.evidence.contains(&ev) {
                fi.evidence.push(ev);
            }
        } else if let Some(fi) = extra.iter_mut().find(|x| ids.contains(&x.id.as_str())) {
            if !fi.evidence.contains(&ev) {
                fi.evidence.push(ev);
            }
        } else {
            extra.push(fallback().evidence(ev));
        }
    };
    for line in &f.log {
        let Some(ev) = classify(&line.message) else {
            continue;
        };
        if ev.user().is_some_and(|u| u != user) {
            continue;
        }
        match &ev {
            LogEvent::BadModes { path } => {
                let mine = f
                    .violations
                    .iter()
                    .any(|v| v.path.display().to_string() == *path)
                    || f.key_files.iter().any(|k| {
                        Path::new(path) == k.path || k.path.starts_with(path) && !path.is_empty()
                    });
                if !mine {
                    continue;
                }
                let pth = path.clone();
                push(
                    out,
                    &[
                        "strictmodes-mode",
                        "strictmodes-owner",
                        "strictmodes-not-a-file",
                        "strictmodes-missing-dir",
                    ],
                    &|x: &Finding| x.evidence.iter().any(|e| e.starts_with(&format!("{pth}:"))),
                    line,
                    &|| {
                        Finding::new(
                            "strictmodes-refused-earlier",
                            Severity::Warning,
                            format!("sshd refused keys because of the modes of {path}"),
                        )
                        .explain("The log shows a StrictModes refusal; the modes look fine now, so it was probably fixed since.")
                    },
                );
            }
            // A refused certificate is the certificate checks' to explain; so is its plain key
            // (ssh offers it after the certificate) when the certificate is the one asked about.
            LogEvent::FailedPublickey {
                key_type,
                fingerprint,
                ..
            } if key_type.ends_with("-CERT")
                || f.wanted
                    .as_ref()
                    .is_some_and(|w| w.certificate.is_some() && w.fingerprint == *fingerprint) => {}
            LogEvent::FailedPublickey { fingerprint, .. } => {
                let fp = fingerprint.clone();
                let listed = f_listed(f, fingerprint);
                push(
                    out,
                    &[
                        "key-not-authorized",
                        "authorized-key-refused-by-option",
                        "root-login-refused",
                        "pubkey-auth-disabled",
                        "user-not-allowed",
                        "strictmodes-mode",
                        "strictmodes-owner",
                    ],
                    &|x: &Finding| x.id != "key-not-authorized" || x.title.contains(&fp),
                    line,
                    &|| {
                        if listed {
                            Finding::new(
                                "key-refused",
                                Severity::Warning,
                                format!("sshd refused the listed key {fp}"),
                            )
                        } else {
                            Finding::new("key-not-authorized", Severity::Error, format!("The key {fp} is not in {user}'s authorized_keys"))
                                .explain("sshd logged a refused key that is not in any authorized_keys file.")
                        }
                    },
                );
            }
            LogEvent::NotAllowed { reason, .. } => {
                let r = reason.clone();
                push(out, &["user-not-allowed"], &|_| true, line, &|| {
                    Finding::new(
                        "user-not-allowed",
                        Severity::Error,
                        format!("sshd does not let {user} log in: {r}"),
                    )
                });
            }
            LogEvent::AccountLocked { .. } => {
                push(out, &["account-locked"], &|_| true, line, &|| {
                    Finding::new("account-locked", Severity::Error, format!("The account {user} is locked"))
                        .explain("Without PAM, sshd refuses every login for an account whose password field starts with '!' (useradd leaves new accounts so). Setting the password field to '*' allows key logins without enabling any password.")
                        .fix(Fix::new(FixId::UnlockAccount, "Allow key logins without a password", format!("usermod -p '*' {}", shell_quote(user))))
                });
            }
            LogEvent::RootRefused { .. } => {
                push(out, &["root-login-refused"], &|_| true, line, &|| {
                    Finding::new(
                        "root-login-refused",
                        Severity::Error,
                        "sshd refused a root login (PermitRootLogin)",
                    )
                });
            }
            LogEvent::MaxAuthTries { .. } => {
                push(out, &["max-auth-tries"], &|_| true, line, &|| {
                    Finding::new("max-auth-tries", Severity::Warning, "A client gave up after too many authentication attempts")
                        .explain(format!("sshd allows MaxAuthTries ({}) attempts per connection; a client offering many keys (an agent full of keys) is cut off before it reaches the right one. Use IdentitiesOnly yes with IdentityFile on the client.", f.sshd.get("maxauthtries").unwrap_or("6")))
                });
            }
            LogEvent::UnableToNegotiate { what, .. } => {
                let w = what.clone();
                push(out, &["unable-to-negotiate"], &|_| true, line, &|| {
                    Finding::new("unable-to-negotiate", Severity::Error, format!("A client and sshd share no algorithm: {w}"))
                        .explain("The client offers only algorithms this sshd no longer accepts (or the reverse). Usually a very old client or a hardened server; update the client rather than weakening the server.")
                });
            }
            LogEvent::NotPermittedHost { .. } => {
                push(
                    out,
                    &["authorized-key-refused-by-option"],
                    &|_| true,
                    line,
                    &|| {
                        Finding::new(
                            "authorized-key-refused-by-option",
                            Severity::Error,
                            "The key is listed but its from= option refuses the client address",
                        )
                    },
                );
            }
            LogEvent::InvalidUser { .. } => {
                push(out, &["user-does-not-exist"], &|_| true, line, &|| {
                    Finding::new(
                        "user-does-not-exist",
                        Severity::Error,
                        format!("There is no account {user} on this server"),
                    )
                });
            }
            LogEvent::CouldNotOpen { path, error, .. } => {
                let pth = path.clone();
                let err = error.clone();
                push(
                    out,
                    &[
                        "strictmodes-owner",
                        "strictmodes-mode",
                        "authorized-keys-unreadable",
                    ],
                    &|x: &Finding| x.evidence.iter().any(|e| e.starts_with(&format!("{pth}:"))),
                    line,
                    &|| {
                        Finding::new(
                            "authorized-keys-unreadable",
                            Severity::Error,
                            format!("sshd could not read {pth} as {user}: {err}"),
                        )
                        .explain(
                            "sshd opens authorized_keys with the user's own rights, not root's: \
                             a file the user cannot read (another owner, no read bit, a \
                             directory without x) is as good as missing.",
                        )
                    },
                );
            }
            LogEvent::AlgorithmNotAccepted { algorithm } => {
                let alg = algorithm.clone();
                push(out, &["key-type-not-accepted"], &|_| true, line, &|| {
                    Finding::new(
                        "key-type-not-accepted",
                        Severity::Error,
                        format!("sshd refuses {alg} keys (not in its PubkeyAcceptedAlgorithms)"),
                    )
                });
            }
            LogEvent::AcceptedPublickey { .. } => {}
        }
    }
    out.extend(extra);
}

/// The signature algorithms a key of this type can log in with.
fn signature_algorithms(key_type: &str) -> Vec<String> {
    match key_type {
        "ssh-rsa" => vec![
            "rsa-sha2-512".into(),
            "rsa-sha2-256".into(),
            "ssh-rsa".into(),
        ],
        "ssh-rsa-cert-v01@openssh.com" => vec![
            "rsa-sha2-512-cert-v01@openssh.com".into(),
            "rsa-sha2-256-cert-v01@openssh.com".into(),
            "ssh-rsa-cert-v01@openssh.com".into(),
        ],
        other => vec![other.to_string()],
    }
}

/// `key-type-not-accepted`: authorized keys of a type sshd's PubkeyAcceptedAlgorithms leaves
/// out. sshd answers such a key with a plain refusal, so the client sees "Permission denied"
/// and blames authorized_keys; only `sshd -T` (and sshd's log) tell.
fn key_type_findings(f: &ServerFacts, out: &mut Vec<Finding>) {
    let Some(accepted) = f.sshd.get("pubkeyacceptedalgorithms") else {
        return;
    };
    let accepted: Vec<&str> = accepted.split(',').map(str::trim).collect();
    let takes = |key_type: &str| {
        signature_algorithms(key_type)
            .iter()
            .any(|a| accepted.contains(&a.as_str()))
    };
    let mut refused: Vec<(String, String)> = Vec::new(); // (key type, "file:line fingerprint")
    let mut any_taken = false;
    for kf in &f.key_files {
        let Some(Ok(ak)) = &kf.content else { continue };
        for e in ak.entries() {
            if let Some(w) = &f.wanted {
                let bare = |s: &str| s.trim().trim_start_matches("SHA256:").to_string();
                if bare(&w.fingerprint) != bare(&e.fingerprint) {
                    continue;
                }
            }
            if takes(&e.key_type) {
                any_taken = true;
            } else {
                refused.push((
                    e.key_type.clone(),
                    format!(
                        "{}:{} {} {}",
                        kf.path.display(),
                        e.line,
                        e.key_type,
                        e.fingerprint
                    ),
                ));
            }
        }
    }
    if refused.is_empty() {
        return;
    }
    let mut types: Vec<String> = refused.iter().map(|(t, _)| t.clone()).collect();
    types.dedup();
    let list = accepted.join(",");
    // Certain when the key asked about (or every key the user has) is of such a type.
    let severity = if f.wanted.is_some() || !any_taken {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut fi = Finding::new(
        "key-type-not-accepted",
        severity,
        format!(
            "sshd refuses {} keys (not in its PubkeyAcceptedAlgorithms)",
            types.join(", ")
        ),
    )
    .explain(
        "The key is in authorized_keys, but sshd's PubkeyAcceptedAlgorithms does not list its \
         type, so sshd refuses it without a word to the client (\"Permission denied \
         (publickey)\", as if the key were not there) and logs \"signature algorithm ... not in \
         PubkeyAcceptedAlgorithms\". Either allow the type, or log in with a key of a type it \
         lists.",
    )
    .evidence(format!(
        "sshd effective config: pubkeyacceptedalgorithms {list}"
    ));
    for (_, line) in &refused {
        fi = fi.evidence(format!("authorized: {line}"));
    }
    let wanted_algs: Vec<String> = types.iter().flat_map(|t| signature_algorithms(t)).collect();
    let new_list = format!("{list},{}", wanted_algs.join(","));
    fi = fi
        .fix(Fix::new(
            FixId::SshdConfigSet,
            format!(
                "Also accept {} keys, in {}",
                types.join(", "),
                f.config_path.display()
            ),
            prepend_option(
                f.platform,
                &f.config_path,
                &format!("PubkeyAcceptedAlgorithms {new_list}"),
            ),
        ))
        .fixes_from(reload_fix(f.platform));
    out.push(fi);
}

fn f_listed(f: &ServerFacts, fp: &str) -> bool {
    f.key_files.iter().any(|k| match &k.content {
        Some(Ok(ak)) => !ak.matching_fingerprint(fp).is_empty(),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn facts_on(platform: Platform, remote_login: Option<bool>) -> ServerFacts {
        ServerFacts {
            user: PwEntry {
                name: "bob".into(),
                uid: 1000,
                gid: 1000,
                home: "/Users/bob".into(),
                shell: "/bin/zsh".into(),
            },
            groups: Vec::new(),
            sshd: SshdConfig::from_dump("port 22\nlistenaddress 0.0.0.0:22\n"),
            config_path: "/etc/ssh/sshd_config".into(),
            violations: Vec::new(),
            key_files: Vec::new(),
            wanted: None,
            client_addr: None,
            log: Vec::new(),
            listening: None,
            remote_login,
            platform,
            user_cas: None,
            principals_file: None,
            now: SystemTime::now(),
        }
    }

    #[test]
    fn a_mac_with_remote_login_off_refuses_every_connection() {
        let off = diagnose(&facts_on(Platform::MacOs, Some(false)));
        let f = off
            .iter()
            .find(|f| f.id == "remote-login-off")
            .expect("finding");
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(
            f.fixes[0].command,
            "sudo systemsetup -setremotelogin on && sudo systemsetup -getremotelogin"
        );
        let on = diagnose(&facts_on(Platform::MacOs, Some(true)));
        assert!(on
            .iter()
            .all(|f| f.id != "remote-login-off" && f.id != "listening-not-checked"));
        let unknown = diagnose(&facts_on(Platform::MacOs, None));
        let f = unknown
            .iter()
            .find(|f| f.id == "listening-not-checked")
            .expect("finding");
        assert_eq!(f.fixes[0].command, "sudo systemsetup -getremotelogin");
    }

    #[test]
    fn without_proc_the_listening_check_says_it_was_not_done() {
        let bsd = diagnose(&facts_on(Platform::FreeBsd, None));
        let f = bsd
            .iter()
            .find(|f| f.id == "listening-not-checked")
            .expect("finding");
        assert!(
            f.title.contains("FreeBSD has no /proc/net/tcp"),
            "{}",
            f.title
        );
        assert!(bsd.iter().all(|f| f.id != "sshd-not-listening"));
    }

    #[test]
    fn config_fixes_use_the_servers_sed_and_service_manager() {
        let mut mac = facts_on(Platform::MacOs, Some(true));
        mac.sshd = SshdConfig::from_dump("pubkeyauthentication no\n");
        let found = diagnose(&mac);
        let f = found
            .iter()
            .find(|f| f.id == "pubkey-auth-disabled")
            .expect("finding");
        assert!(
            f.fixes[0]
                .command
                .starts_with("sed -i '' '1i\\\nPubkeyAuthentication yes\n'"),
            "{}",
            f.fixes[0].command
        );
        // launchd starts sshd per connection: nothing to reload.
        assert!(f.fixes.iter().all(|x| x.id != FixId::ReloadSshd));
        let mut linux = facts_on(Platform::Linux, None);
        linux.sshd = SshdConfig::from_dump("pubkeyauthentication no\n");
        let found = diagnose(&linux);
        let f = found
            .iter()
            .find(|f| f.id == "pubkey-auth-disabled")
            .expect("finding");
        assert!(f.fixes[0]
            .command
            .starts_with("sed -i '1i PubkeyAuthentication yes'"));
        assert!(f.fixes.iter().any(|x| x.id == FixId::ReloadSshd));
    }

    #[test]
    fn allow_users_with_host_part() {
        let cfg = SshdConfig::from_dump("allowusers alice\nallowusers bob@10.0.0.1\n");
        let lo = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(user_refused(&cfg, "alice", &[], lo), None);
        assert!(user_refused(&cfg, "bob", &[], lo).is_some());
        assert!(user_refused(&cfg, "carol", &[], lo).is_some_and(|r| r.contains("AllowUsers")));
    }
}

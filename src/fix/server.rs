//! The fixes `sshdoctor server` offers, applied through the same plans, backups and journal as
//! the client-side fixes, so `sshdoctor undo` reverts them byte for byte.
//!
//! The planners are pure functions over bytes and modes; [`resolve`] reads the files, the
//! account and the sshd config; [`apply`] executes a plan and then the one step a plan cannot
//! express: `sshd -t` on an edited sshd config (rolled back through the journal when sshd
//! rejects it) or handing a freshly created authorized_keys to its user when run as root.
//!
//! Some fixes stay instructions: `chown` and `unlock-account` change who owns or may use an
//! account (root's decision, made with root's tools), `reload-sshd` and `start-sshd` act on a
//! system service that sshdoctor must not restart behind the administrator's back.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::PublicKey;

use super::plan;
use super::targets::Resolved;
use super::{undo, Applied, FixError, FixPlan, PlannedChange};
use crate::authorized_keys::{self, LineKind};
use crate::finding::shell_quote;
use crate::fix_id::FixId;
use crate::platform::Platform;
use crate::server::{
    allow_agent_forwarding_line, allow_from_command, append_key_command, parse_passwd,
    replace_line_command, PwEntry, SshdConfig,
};

/// What the server-side fixes need besides the fix id and TARGET (the `fix` command's flags).
#[derive(Debug, Clone, Default)]
pub struct ServerContext {
    /// The account whose login is being fixed (default: the current user).
    pub user: Option<String>,
    /// The sshd config to edit (default: /etc/ssh/sshd_config).
    pub sshd_config: Option<PathBuf>,
    /// The public key to authorize (`append-authorized-key`).
    pub pubkey: Option<PathBuf>,
    /// The client address to allow (`authorized-key-allow-from`).
    pub from: Option<IpAddr>,
}

/// The step after writing that a [`FixPlan`] cannot express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterApply {
    Nothing,
    /// Give these freshly created paths (file and directories) to the user: a root-run
    /// sshdoctor creates them as root, and sshd reads authorized_keys with the user's rights.
    Chown {
        paths: Vec<PathBuf>,
        uid: u32,
        gid: u32,
    },
    /// Run `sshd -t -f config`; on failure undo the plan through the journal.
    ValidateSshd {
        sshd: PathBuf,
        config: PathBuf,
    },
}

/// A plan and what must follow it.
#[derive(Debug, Clone)]
pub struct ServerPlan {
    pub plan: FixPlan,
    pub after: AfterApply,
}

impl ServerPlan {
    fn plain(plan: FixPlan) -> Self {
        ServerPlan {
            plan,
            after: AfterApply::Nothing,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pure planners

/// `chmod go-w PATH`: the write bits for group and others go, every other bit stays.
pub fn chmod_go_w_plan(path: &Path, shown: &str, mode: u32) -> FixPlan {
    let cmd = format!("chmod go-w {}", shell_quote(&path.display().to_string()));
    plan::chmod_plan(FixId::ChmodGoW, path, shown, mode, mode & !0o022, &cmd)
}

/// Appends `pubkey_line` to `file` (`existing` its bytes, `None` when it does not exist),
/// after a newline when the file lacks a final one; an empty plan when the key is already
/// there. An existing file is replaced keeping its owner and mode; a missing one is created 0600.
pub fn append_key_plan(
    file: &Path,
    existing: Option<&[u8]>,
    pubkey_line: &str,
    key: &PublicKey,
    command: String,
) -> FixPlan {
    let fp = key.fingerprint(russh::keys::ssh_key::HashAlg::Sha256);
    let mut p = FixPlan::new(
        FixId::AppendAuthorizedKey,
        format!("Add the key {fp} to {}", file.display()),
        command,
    );
    match existing {
        None => {
            let ak = authorized_keys::parse(Vec::new());
            p.changes.push(PlannedChange::Create {
                path: file.to_path_buf(),
                bytes: ak.append_key_bytes(pubkey_line),
                mode: 0o600,
                secret: false,
            });
        }
        Some(before) => {
            let ak = authorized_keys::parse(before.to_vec());
            let after = ak.append_key_bytes(pubkey_line);
            if after == before {
                p.title = format!("The key {fp} is already in {}", file.display());
            } else {
                p.changes.push(PlannedChange::Replace {
                    path: file.to_path_buf(),
                    before: before.to_vec(),
                    after: after.into(),
                    backup: None,
                    removed_lines: Vec::new(),
                    secret: false,
                });
            }
        }
    }
    p
}

/// Adds `,ADDR` at the end of the `from="..."` option of one raw authorized_keys line, leaving
/// every other byte as it was (other options, quoting, spacing, comment, line end). Errors say
/// why the line cannot be edited that way.
pub fn allow_from_line(raw: &[u8], addr: IpAddr) -> Result<Vec<u8>, String> {
    let start = raw
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(raw.len());
    let mut i = start;
    // Walk the options, which end at the first space or tab outside quotes.
    loop {
        let rest = raw.get(i..).unwrap_or_default();
        if rest
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"from=\""))
        {
            let mut j = i + 6;
            while let Some(&b) = raw.get(j) {
                match b {
                    b'\\' if raw.get(j + 1) == Some(&b'"') => j += 2,
                    b'"' => {
                        let mut out = raw.get(..j).unwrap_or_default().to_vec();
                        out.push(b',');
                        out.extend_from_slice(addr.to_string().as_bytes());
                        out.extend_from_slice(raw.get(j..).unwrap_or_default());
                        return Ok(out);
                    }
                    b'\n' => break,
                    _ => j += 1,
                }
            }
            return Err("its from= option has no closing quote".into());
        }
        // Skip this option: to the next comma, or to the end of the options.
        let mut quoted = false;
        loop {
            match raw.get(i) {
                None | Some(b'\n') | Some(b'\r') => {
                    return Err("the line has no from= option".into())
                }
                Some(b'\\') if quoted && raw.get(i + 1) == Some(&b'"') => i += 2,
                Some(b'"') => {
                    quoted = !quoted;
                    i += 1;
                }
                Some(b' ') | Some(b'\t') if !quoted => {
                    return Err("the line has no from= option".into())
                }
                Some(b',') if !quoted => {
                    i += 1;
                    break;
                }
                Some(_) => i += 1,
            }
        }
    }
}

/// Adds the client address to `from=` on line `line` of an authorized_keys file. Refused (with
/// the reason) when no key sits on that line, the line has no `from=`, the address is already
/// allowed, or a negated pattern (`!addr`) excludes it: adding it would change nothing.
pub fn allow_from_plan(
    file: &Path,
    bytes: &[u8],
    line: usize,
    addr: IpAddr,
) -> Result<FixPlan, String> {
    let ak = authorized_keys::parse(bytes.to_vec());
    let Some(l) = ak.lines.iter().find(|l| l.number == line) else {
        return Err(format!("{} has no line {line}", file.display()));
    };
    let LineKind::Entry(e) = &l.kind else {
        return Err(format!(
            "{}:{line} is not a key line sshd reads",
            file.display()
        ));
    };
    let Some(from) = e.option("from").and_then(|o| o.value.as_deref()) else {
        return Err(format!("{}:{line} has no from= option", file.display()));
    };
    let a = addr.to_string();
    let negated = from.split(',').any(|p| {
        p.strip_prefix('!')
            .is_some_and(|p| authorized_keys::match_host_and_ip(&a, &a, p) == 1)
    });
    if negated {
        return Err(format!(
            "{}:{line}: from=\"{from}\" explicitly excludes {addr} with a negated pattern; \
             adding it would not help, so decide whether that exclusion is still wanted and \
             edit the line yourself",
            file.display()
        ));
    }
    match authorized_keys::match_host_and_ip(&a, &a, from) {
        1 => {
            return Err(format!(
                "{}:{line}: from=\"{from}\" already allows {addr}",
                file.display()
            ))
        }
        -1 => {
            return Err(format!(
                "{}:{line}: sshd cannot read the pattern list from=\"{from}\"; fix it by hand",
                file.display()
            ))
        }
        _ => {}
    }
    let new_line = allow_from_line(&l.raw, addr).map_err(|why| {
        format!(
            "{}:{line} cannot be edited losslessly: {why}",
            file.display()
        )
    })?;
    Ok(line_replaced_plan(
        FixPlan::new(
            FixId::AuthorizedKeyAllowFrom,
            format!(
                "Allow {addr} in the from= option of {}:{line}",
                file.display()
            ),
            allow_from_command(Platform::current(), &file.display().to_string(), line, addr),
        ),
        file,
        bytes,
        &ak,
        line,
        &new_line,
    ))
}

/// `p` with one change: the authorized_keys file with line `line` replaced by `new_line`, every
/// other line's bytes as they were.
fn line_replaced_plan(
    mut p: FixPlan,
    file: &Path,
    bytes: &[u8],
    ak: &authorized_keys::AuthorizedKeys,
    line: usize,
    new_line: &[u8],
) -> FixPlan {
    let mut after = Vec::with_capacity(bytes.len() + new_line.len());
    for x in &ak.lines {
        if x.number == line {
            after.extend_from_slice(new_line);
        } else {
            after.extend_from_slice(&x.raw);
        }
    }
    p.changes.push(PlannedChange::Replace {
        path: file.to_path_buf(),
        before: bytes.to_vec(),
        after: after.into(),
        backup: None,
        removed_lines: Vec::new(),
        secret: false,
    });
    p
}

/// Lets the key on line `line` of an authorized_keys file forward an agent: its
/// `no-agent-forwarding` option removed, or `agent-forwarding` added after `restrict`; every other
/// byte of the file kept. Refused (with the reason) when no key sits there or nothing on the
/// line refuses forwarding.
pub fn allow_agent_forwarding_plan(
    file: &Path,
    bytes: &[u8],
    line: usize,
) -> Result<FixPlan, String> {
    let ak = authorized_keys::parse(bytes.to_vec());
    let Some(l) = ak.lines.iter().find(|l| l.number == line) else {
        return Err(format!("{} has no line {line}", file.display()));
    };
    if !matches!(l.kind, LineKind::Entry(_)) {
        return Err(format!(
            "{}:{line} is not a key line sshd reads",
            file.display()
        ));
    }
    let new_line = allow_agent_forwarding_line(&l.raw)
        .map_err(|why| format!("{}:{line}: {why}", file.display()))?;
    Ok(line_replaced_plan(
        FixPlan::new(
            FixId::AuthorizedKeyAllowAgentForwarding,
            format!(
                "Allow agent forwarding on line {line} of {}",
                file.display()
            ),
            replace_line_command(
                Platform::current(),
                &file.display().to_string(),
                line,
                &new_line,
            ),
        ),
        file,
        bytes,
        &ak,
        line,
        &new_line,
    ))
}

/// `Keyword value` checked to be one sshd_config line: a keyword of letters and a value
/// without line breaks or comment signs.
pub fn parse_setting(text: &str) -> Result<(String, String), String> {
    let text = text.trim();
    let (k, v) = text
        .split_once([' ', '\t'])
        .map(|(k, v)| (k, v.trim()))
        .unwrap_or((text, ""));
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "{text:?} does not start with an sshd_config keyword"
        ));
    }
    if v.is_empty() {
        return Err(format!(
            "{text:?} has no value: write it as 'Keyword value'"
        ));
    }
    if v.chars().any(|c| c.is_control() || c == '#') {
        return Err(format!(
            "the value in {text:?} contains a line break, control character or '#'"
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

/// The command [`sshd_config_set_plan`] is equivalent to.
pub fn sshd_config_set_command(config: &Path, sshd: &Path, line: &str) -> String {
    let c = shell_quote(&config.display().to_string());
    format!(
        "{} && {} -t -f {c}",
        Platform::current().prepend_line_command(config, line),
        shell_quote(&sshd.display().to_string())
    )
}

/// Inserts `Keyword value` as the first line of the sshd config: sshd keeps the first value it
/// reads for a keyword, so this wins over any later line (outside `Match` blocks). The old
/// config is kept in `FILE.old` besides the journal.
pub fn sshd_config_set_plan(
    config: &Path,
    bytes: &[u8],
    setting: &str,
    sshd: &Path,
) -> Result<FixPlan, String> {
    let (k, v) = parse_setting(setting)?;
    let line = format!("{k} {v}");
    let mut after = format!("{line}\n").into_bytes();
    after.extend_from_slice(bytes);
    let mut p = FixPlan::new(
        FixId::SshdConfigSet,
        format!("Set {line} at the top of {}", config.display()),
        sshd_config_set_command(config, sshd, &line),
    );
    p.changes.push(PlannedChange::Replace {
        path: config.to_path_buf(),
        before: bytes.to_vec(),
        after: after.into(),
        backup: Some(plan::old_path(config)),
        removed_lines: Vec::new(),
        secret: false,
    });
    Ok(p)
}

fn is_sed_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// Appends ` USER` to every `AllowUsers` line, exactly as
/// `sed 's/^[[:space:]]*AllowUsers[[:space:]].*/& USER/I'`: the keyword in any case, after optional leading
/// whitespace, followed by whitespace. Empty when there is no such line (the list then comes
/// from an Include or a Match block, which the user must edit).
pub fn allow_user_bytes(bytes: &[u8], user: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() + user.len() + 1);
    let mut hit = false;
    let mut rest = bytes;
    while !rest.is_empty() {
        let (line, tail) = match memchr::memchr(b'\n', rest) {
            Some(i) => rest.split_at(i + 1),
            None => (rest, &[][..]),
        };
        rest = tail;
        let (body, eol) = match line.strip_suffix(b"\n") {
            Some(b) => (b, &b"\n"[..]),
            None => (line, &b""[..]),
        };
        let lead = body.iter().take_while(|&&b| is_sed_space(b)).count();
        let word = body.get(lead..lead + 10);
        let matches = word.is_some_and(|w| w.eq_ignore_ascii_case(b"allowusers"))
            && body.get(lead + 10).is_some_and(|&b| is_sed_space(b));
        out.extend_from_slice(body);
        if matches {
            hit = true;
            out.push(b' ');
            out.extend_from_slice(user.as_bytes());
        }
        out.extend_from_slice(eol);
    }
    hit.then_some(out)
}

/// The command [`allow_user_plan`] is equivalent to.
pub fn allow_user_command(config: &Path, sshd: &Path, user: &str) -> String {
    let c = shell_quote(&config.display().to_string());
    format!(
        "{} {} {c} && {} -t -f {c}",
        Platform::current().sed_in_place(),
        shell_quote(&format!(
            r"s/^[[:space:]]*AllowUsers[[:space:]].*/& {user}/I"
        )),
        shell_quote(&sshd.display().to_string())
    )
}

/// Adds `user` to the AllowUsers lines of the sshd config.
pub fn allow_user_plan(
    config: &Path,
    bytes: &[u8],
    user: &str,
    sshd: &Path,
) -> Result<FixPlan, String> {
    if user.is_empty() || !user.chars().all(|c| c.is_ascii_graphic() && c != '/') {
        return Err(format!("{user:?} is not a user name"));
    }
    let after = allow_user_bytes(bytes, user).ok_or_else(|| {
        format!(
            "{} has no AllowUsers line of its own (it may come from an Include or a Match \
             block); add {user} there by hand",
            config.display()
        )
    })?;
    let mut p = FixPlan::new(
        FixId::SshdConfigAllowUser,
        format!("Add {user} to AllowUsers in {}", config.display()),
        allow_user_command(config, sshd, user),
    );
    p.changes.push(PlannedChange::Replace {
        path: config.to_path_buf(),
        before: bytes.to_vec(),
        after: after.into(),
        backup: Some(plan::old_path(config)),
        removed_lines: Vec::new(),
        secret: false,
    });
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// The shell: reading the system

/// sshd on this machine, for `sshd -t`.
pub fn find_sshd() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

fn lookup_user(name: Option<&str>) -> anyhow::Result<PwEntry> {
    let text = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| anyhow::anyhow!("cannot read /etc/passwd: {e}"))?;
    let pw = parse_passwd(&text);
    let uid = crate::sys::current_uid();
    match name {
        Some(n) => pw.into_iter().find(|p| p.name == n),
        None => pw.into_iter().find(|p| p.uid == uid),
    }
    .ok_or_else(|| match name {
        Some(n) => anyhow::anyhow!("no user {n:?} in /etc/passwd"),
        None => anyhow::anyhow!("uid {uid} is not in /etc/passwd"),
    })
}

fn sshd_config_path(ctx: &ServerContext) -> PathBuf {
    ctx.sshd_config
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/ssh/sshd_config"))
}

fn need_target<'a>(id: FixId, target: Option<&'a str>, what: &str) -> anyhow::Result<&'a str> {
    target.ok_or_else(|| anyhow::anyhow!("{id} needs {what}: sshdoctor fix {id} {what}"))
}

/// `FILE:LINE` as `server` prints it in evidence.
fn file_and_line(t: &str) -> Option<(&str, usize)> {
    let (f, n) = t.rsplit_once(':')?;
    Some((f, n.parse().ok()?))
}

/// The plans for a server-side fix id, `None` when the id is not one of them.
pub fn resolve(
    id: FixId,
    target: Option<&str>,
    ctx: &ServerContext,
    paths: &crate::paths::SshPaths,
) -> anyhow::Result<Option<ServerResolved>> {
    let abs = |t: &str| super::targets::absolute(t, paths);
    let one = |p: FixPlan| Ok(Some(ServerResolved::Plans(vec![ServerPlan::plain(p)])));
    match id {
        FixId::ChmodGoW => {
            let path = abs(need_target(id, target, "PATH")?);
            let meta =
                std::fs::metadata(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            use std::os::unix::fs::MetadataExt;
            one(chmod_go_w_plan(
                &path,
                &path.display().to_string(),
                meta.mode() & 0o7777,
            ))
        }
        FixId::StripCrlf => {
            let path = abs(need_target(id, target, "AUTHORIZED_KEYS")?);
            let bytes = read(&path)?;
            let mut p = plan::strip_crlf_plan(&path, &bytes);
            p.id = id;
            one(p)
        }
        FixId::AuthorizedKeyAllowFrom => {
            let t = need_target(id, target, "FILE:LINE")?;
            let Some((file, line)) = file_and_line(t) else {
                anyhow::bail!("{id} wants FILE:LINE as `sshdoctor server` shows it, not {t:?}");
            };
            let Some(addr) = ctx.from else {
                anyhow::bail!("{id} needs the client address: --from ADDR");
            };
            let path = abs(file);
            let bytes = read(&path)?;
            match allow_from_plan(&path, &bytes, line, addr) {
                Ok(p) => one(p),
                Err(why) => Ok(Some(ServerResolved::Manual {
                    why,
                    command: format!("${{EDITOR:-vi}} +{line} {}", shell_quote(file)),
                })),
            }
        }
        FixId::AuthorizedKeyAllowAgentForwarding => {
            let t = need_target(id, target, "FILE:LINE")?;
            let Some((file, line)) = file_and_line(t) else {
                anyhow::bail!("{id} wants FILE:LINE as `sshdoctor server` shows it, not {t:?}");
            };
            let path = abs(file);
            let bytes = read(&path)?;
            match allow_agent_forwarding_plan(&path, &bytes, line) {
                Ok(p) => one(p),
                Err(why) => Ok(Some(ServerResolved::Manual {
                    why,
                    command: format!("${{EDITOR:-vi}} +{line} {}", shell_quote(file)),
                })),
            }
        }
        FixId::AppendAuthorizedKey => {
            let user = lookup_user(ctx.user.as_deref())?;
            let Some(pubf) = &ctx.pubkey else {
                anyhow::bail!("{id} needs the public key: --pubkey FILE");
            };
            let text = String::from_utf8(read(pubf)?)
                .map_err(|_| anyhow::anyhow!("{} is not text", pubf.display()))?;
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .unwrap_or_default()
                .to_string();
            let key = PublicKey::from_openssh(&line).map_err(|e| {
                anyhow::anyhow!("{} is not an OpenSSH public key: {e}", pubf.display())
            })?;
            let file = match target {
                Some(t) => abs(t),
                None => {
                    let cfg = sshd_config_path(ctx);
                    SshdConfig::from_files(&cfg, &|p| std::fs::read_to_string(p).ok())
                        .authorized_keys_files(&user)
                        .into_iter()
                        .next()
                        .ok_or_else(|| {
                            anyhow::anyhow!("AuthorizedKeysFile is none in {}", cfg.display())
                        })?
                }
            };
            let existing = match std::fs::read(&file) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
            };
            // Directories that do not exist yet: fix::apply creates them, we hand them over.
            let mut missing = Vec::new();
            let mut d = file.parent();
            while let Some(dir) = d {
                if dir.exists() {
                    break;
                }
                missing.push(dir.to_path_buf());
                d = dir.parent();
            }
            // The same command `sshdoctor server` shows for this fix.
            let make_dir = file.starts_with(&user.home);
            let command = append_key_command(&file, pubf, &user.name, make_dir);
            let mut p = append_key_plan(&file, existing.as_deref(), &line, &key, command);
            let root = crate::sys::current_uid() == 0;
            let after = if existing.is_none() && root && user.uid != 0 {
                p.title.push_str(&format!(" (created for {})", user.name));
                let mut owned = vec![file.clone()];
                owned.extend(missing.into_iter().filter(|m| m.starts_with(&user.home)));
                AfterApply::Chown {
                    paths: owned,
                    uid: user.uid,
                    gid: user.gid,
                }
            } else {
                AfterApply::Nothing
            };
            Ok(Some(ServerResolved::Plans(vec![ServerPlan {
                plan: p,
                after,
            }])))
        }
        FixId::SshdConfigSet | FixId::SshdConfigAllowUser => {
            let sshd = find_sshd().ok_or_else(|| {
                anyhow::anyhow!(
                    "sshd is not installed here, so the edited config could not be checked with sshd -t; nothing was changed"
                )
            })?;
            let config = sshd_config_path(ctx);
            let bytes = read(&config)?;
            let p = if id == FixId::SshdConfigSet {
                let setting = need_target(id, target, "'Keyword value'")?;
                sshd_config_set_plan(&config, &bytes, setting, &sshd)
                    .map_err(|e| anyhow::anyhow!(e))?
            } else {
                let user = match (target, &ctx.user) {
                    (Some(t), _) => t.to_string(),
                    (None, u) => lookup_user(u.as_deref())?.name,
                };
                match allow_user_plan(&config, &bytes, &user, &sshd) {
                    Ok(p) => p,
                    Err(why) => {
                        return Ok(Some(ServerResolved::Manual {
                            why,
                            command: format!(
                                "${{EDITOR:-vi}} {}",
                                shell_quote(&config.display().to_string())
                            ),
                        }))
                    }
                }
            };
            Ok(Some(ServerResolved::Plans(vec![ServerPlan {
                plan: p,
                after: AfterApply::ValidateSshd { sshd, config },
            }])))
        }
        FixId::ReloadSshd => Ok(Some(match Platform::current().reload_sshd_command() {
            Some(cmd) => ServerResolved::Manual {
                why: "sshd is a system service run by root; reloading it is the administrator's \
                      call (a reload with a broken config can lock everyone out), so sshdoctor \
                      leaves it to you"
                    .into(),
                command: cmd.into(),
            },
            None => ServerResolved::Manual {
                why: "nothing to reload here: launchd starts a new sshd for every connection, \
                      and it reads sshd_config afresh; check the file before the next login"
                    .into(),
                command: "sudo /usr/sbin/sshd -t".into(),
            },
        })),
        FixId::StartSshd => Ok(Some(ServerResolved::Manual {
            why: "sshd is a system service run by root; sshdoctor does not start services".into(),
            command: Platform::current().start_sshd_command().into(),
        })),
        FixId::UnlockAccount => {
            let user = ctx
                .user
                .clone()
                .or_else(|| target.map(str::to_string))
                .unwrap_or_else(|| "USER".into());
            Ok(Some(ServerResolved::Manual {
                why: "unlocking changes the account database (/etc/shadow), which only root's \
                      account tools should edit"
                    .into(),
                command: format!("usermod -p '*' {}", shell_quote(&user)),
            }))
        }
        FixId::Chown => {
            let owner = ctx.user.clone().unwrap_or_else(|| "USER".into());
            let file = target
                .map(|t| shell_quote(&abs(t).display().to_string()))
                .unwrap_or_else(|| "FILE".into());
            Ok(Some(ServerResolved::Manual {
                why: "giving a file to another account needs root, and sshdoctor never runs \
                      sudo or chown for you"
                    .into(),
                command: format!("sudo chown {} {file}", shell_quote(&owner)),
            }))
        }
        _ => Ok(None),
    }
}

/// What a server fix id turns into.
#[derive(Debug)]
pub enum ServerResolved {
    Plans(Vec<ServerPlan>),
    Manual { why: String, command: String },
}

impl ServerResolved {
    /// The same answer as the client fixes give, dropping the after-steps (for callers that
    /// only show plans).
    pub fn into_resolved(self) -> Resolved {
        match self {
            ServerResolved::Plans(p) => Resolved::Plans(p.into_iter().map(|s| s.plan).collect()),
            ServerResolved::Manual { why, command } => Resolved::Manual { why, command },
        }
    }
}

/// Applies the plan through [`super::apply`] (checks, backup, journal), then its after-step.
/// When `sshd -t` rejects an edited config, the edit is undone through the journal and the
/// error carries sshd's own message.
pub fn apply(sp: &ServerPlan, journal_path: &Path) -> Result<Applied, FixError> {
    let mut applied = super::apply(&sp.plan, journal_path)?;
    if applied.journal_group.is_none() {
        return Ok(applied);
    }
    match &sp.after {
        AfterApply::Nothing => {}
        AfterApply::Chown { paths, uid, gid } => {
            for p in paths {
                std::os::unix::fs::chown(p, Some(*uid), Some(*gid)).map_err(|source| {
                    FixError::Io {
                        path: p.clone(),
                        action: "cannot give it to its user (chown)",
                        source,
                    }
                })?;
                applied
                    .done
                    .push(format!("chown uid {uid} {}", p.display()));
            }
        }
        AfterApply::ValidateSshd { sshd, config } => {
            let out = crate::sys::run_bounded(
                std::process::Command::new(sshd)
                    .arg("-t")
                    .arg("-f")
                    .arg(config),
                std::time::Duration::from_secs(30),
            )
            .map_err(|e| FixError::Io {
                path: sshd.clone(),
                action: "cannot run",
                source: std::io::Error::other(e.to_string()),
            })?;
            if out.status.success() {
                applied.done.push(format!(
                    "sshd -t -f {}: configuration valid",
                    config.display()
                ));
                return Ok(applied);
            }
            let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let rolled = rollback(applied.journal_group, journal_path);
            return Err(FixError::Refused(format!(
                "sshd -t -f {} rejected the edited configuration: {said}; {}",
                config.display(),
                match rolled {
                    Ok(()) => "the edit was rolled back, the file is as it was".to_string(),
                    Err(e) => format!(
                        "rolling the edit back FAILED ({e}); restore it with `sshdoctor undo`"
                    ),
                }
            )));
        }
    }
    Ok(applied)
}

/// Undoes the journal group just applied (and only it).
fn rollback(group: Option<u64>, journal_path: &Path) -> Result<(), String> {
    let steps = undo::plan_last(journal_path)
        .map_err(|e| format!("{e:#}"))?
        .ok_or("the journal has nothing to undo")?;
    if group.is_none_or(|g| !steps.iter().any(|s| s.seq == g)) {
        return Err("another fix was journaled in between".into());
    }
    undo::apply(&steps, journal_path)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs the real `sed` expression on `input` and returns its output.
    fn sed(expr: &str, input: &[u8]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, input).unwrap();
        let o = Command::new("sed")
            .arg("-i")
            .arg(expr)
            .arg(&f)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        std::fs::read(&f).unwrap()
    }

    /// The command shown for the agent-forwarding line edit does what the plan writes (LF files;
    /// sed cannot keep a CRLF, the plan does).
    #[test]
    fn allow_agent_forwarding_matches_the_sed_command_it_shows() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("authorized_keys");
        let input = b"# keys\nrestrict,command=\"echo a\\\\b\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAHQ7fvCo6VlQq2ZlVZyh3tG2Jq3zGBCPo4Tzm3bJjrY x\nssh-rsa AAAA y\n";
        std::fs::write(&f, input).unwrap();
        let plan = allow_agent_forwarding_plan(&f, input, 2).unwrap();
        let PlannedChange::Replace { after, .. } = &plan.changes[0] else {
            panic!("{plan:?}")
        };
        let o = Command::new("sh")
            .arg("-c")
            .arg(&plan.command)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        let after = after.to_vec(input);
        assert_eq!(std::fs::read(&f).unwrap(), after);
        assert!(String::from_utf8_lossy(&after)
            .contains("restrict,command=\"echo a\\\\b\",agent-forwarding ssh-ed25519"));
        assert!(
            allow_agent_forwarding_plan(&f, input, 3).is_err(),
            "nothing refuses on line 3"
        );
    }

    #[test]
    fn allow_user_matches_gnu_sed() {
        let inputs: &[&[u8]] = &[
            b"Port 22\nAllowUsers nobody\n",
            b"  allowusers a b\r\n#AllowUsers x\nAllowUsersX y\nMatch User z\n\tAllowUsers q",
            b"AllowUsers\tnobody\nAllowUsers\n",
        ];
        for input in inputs {
            let ours = allow_user_bytes(input, "bob").unwrap();
            assert_eq!(
                ours,
                sed(r"s/^[[:space:]]*AllowUsers[[:space:]].*/& bob/I", input),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(allow_user_bytes(b"Port 22\n", "bob"), None);
    }

    #[test]
    fn sshd_config_set_matches_sed_insert() {
        let input = b"Port 22\nPubkeyAuthentication no\n";
        let p = sshd_config_set_plan(
            Path::new("/c"),
            input,
            "PubkeyAuthentication yes",
            Path::new("/usr/sbin/sshd"),
        )
        .unwrap();
        match &p.changes[0] {
            PlannedChange::Replace {
                before,
                after,
                backup,
                ..
            } => {
                assert_eq!(
                    after.to_vec(before),
                    sed("1i PubkeyAuthentication yes", input)
                );
                assert_eq!(backup.as_deref(), Some(Path::new("/c.old")));
            }
            c => panic!("{c:?}"),
        }
        assert!(parse_setting("PubkeyAuthentication").is_err());
        assert!(parse_setting("Port 22\nPort 23").is_err());
        assert!(parse_setting("Bad-Key x").is_err());
    }

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn allow_from_is_lossless_and_matches_its_sed_command() {
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        for line in [
            format!("from=\"10.0.0.1\",no-pty {ED} me@x\n"),
            format!("  no-pty,FROM=\"10.0.0.*,!10.0.0.9\" {ED}\r\n"),
            format!("command=\"echo \\\"hi\\\"\",from=\"h\" {ED} c\n"),
        ] {
            let ours = allow_from_line(line.as_bytes(), addr).unwrap();
            let expr = format!(r#"1s/\(from="[^"]*\)"/\1,{addr}"/I"#);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&sed(&expr, line.as_bytes()))
            );
        }
        assert!(allow_from_line(format!("no-pty {ED}\n").as_bytes(), addr).is_err());
        assert!(allow_from_line(format!("{ED} from=\"x\"\n").as_bytes(), addr).is_err());
    }

    #[test]
    fn allow_from_plan_refuses_a_negated_address_and_keeps_other_lines() {
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        let f = Path::new("/ak");
        let text = format!("# keys\nfrom=\"10.0.0.1\" {ED} a\n{ED} b\n");
        let p = allow_from_plan(f, text.as_bytes(), 2, addr).unwrap();
        match &p.changes[0] {
            PlannedChange::Replace { before, after, .. } => assert_eq!(
                String::from_utf8_lossy(&after.to_vec(before)),
                format!("# keys\nfrom=\"10.0.0.1,127.0.0.1\" {ED} a\n{ED} b\n")
            ),
            c => panic!("{c:?}"),
        }
        let neg = format!("from=\"!127.0.0.1,*\" {ED}\n");
        let why = allow_from_plan(f, neg.as_bytes(), 1, addr).unwrap_err();
        assert!(why.contains("negated"), "{why}");
        assert!(allow_from_plan(f, text.as_bytes(), 3, addr).is_err());
    }
}

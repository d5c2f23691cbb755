//! The one shape every check speaks: a [`Finding`] with its evidence and the [`Fix`]es for it.
//!
//! Local inspection, the live probe and the server side all produce findings, and both views (the
//! CLI's `--json` and the TUI) render them unchanged. The serialized form is a contract that scripts
//! rely on: fields may be added, never renamed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How bad a finding is. The order is "worst first", so sorting ascending puts errors on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Login fails (or is unsafe) because of this.
    Error,
    /// Works today but is fragile, weak or surprising.
    Warning,
    /// Worth knowing; nothing is wrong.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

pub use crate::fix_id::FixId;

/// How a `chmod` fix changes a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChange {
    /// Set exactly this mode.
    Set(u32),
    /// `chmod go-w`: clear the group and other write bits, keep the rest.
    ClearGroupOtherWrite,
}

impl ModeChange {
    /// The mode after the change of `before`.
    pub fn apply(self, before: u32) -> u32 {
        match self {
            ModeChange::Set(m) => m,
            ModeChange::ClearGroupOtherWrite => before & !0o022,
        }
    }
}

/// What a fix acts on, as typed values: the planner (CLI or dashboard) takes these, never the
/// display `command` or the evidence text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FixTarget {
    /// Nothing beyond the fix id (the fix module finds the files itself, or nothing is planned).
    #[default]
    None,
    /// The file or directory the fix changes or creates: a key, its `.pub`, a known_hosts file,
    /// an authorized_keys file.
    Path(PathBuf),
    /// A mode change of one path.
    Mode { path: PathBuf, change: ModeChange },
    /// The lines for one host in a known_hosts file; `name` as `ssh-keygen -R` takes it
    /// (`host` or `[host]:port`).
    KnownHostsName { file: PathBuf, name: String },
    /// A server's host key, as the live test saw it: to trust, or to remove the old one.
    HostKey {
        host: String,
        port: u16,
        /// The name known_hosts files it under (`[host]:port`, or the HostKeyAlias).
        name: String,
        /// The known_hosts file that holds the old key; `None`: the first file ssh writes.
        file: Option<PathBuf>,
        /// The SHA256 fingerprint the live test saw: the key fetched again must have it.
        seen: Option<String>,
        /// `(fingerprint, type)` of the key known_hosts holds now, when it changed.
        known: Option<(String, String)>,
    },
    /// Options to put in ~/.ssh/config where ssh will read them for one host.
    ConfigOption {
        /// The host name as typed to ssh, which is what `Host` lines match (never `user@` or
        /// `:port`); `None`: every host (the option goes at the top of the file).
        host: Option<String>,
        settings: Vec<ConfigSetting>,
    },
}

/// One option a config fix sets: OpenSSH's keyword as the manual spells it and what it must
/// end up as for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSetting {
    pub keyword: String,
    pub want: ConfigWant,
}

/// What a [`ConfigSetting`] asks of the option's effective value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWant {
    /// Exactly this value (`IdentitiesOnly yes`): ssh takes the first one it reads.
    Set(String),
    /// A comma-separated list that must contain this item (`HostKeyAlgorithms +ssh-rsa`,
    /// `IgnoreUnknown UseKeychain`).
    InList(String),
    /// One more value of an option that adds up (`IdentityFile`).
    Add(String),
}

impl ConfigSetting {
    pub fn set(keyword: &str, value: impl Into<String>) -> Self {
        ConfigSetting {
            keyword: keyword.to_string(),
            want: ConfigWant::Set(value.into()),
        }
    }
    pub fn in_list(keyword: &str, item: impl Into<String>) -> Self {
        ConfigSetting {
            keyword: keyword.to_string(),
            want: ConfigWant::InList(item.into()),
        }
    }
    pub fn add(keyword: &str, value: impl Into<String>) -> Self {
        ConfigSetting {
            keyword: keyword.to_string(),
            want: ConfigWant::Add(value.into()),
        }
    }

    /// The line as a person writes it in ssh_config (`HostKeyAlgorithms +ssh-rsa`).
    pub fn line(&self) -> String {
        format!("{} {}", self.keyword, self.value_text())
    }

    /// The value written on a new line for this setting.
    pub fn value_text(&self) -> String {
        let v = match &self.want {
            ConfigWant::InList(item) if is_algorithm_list(&self.keyword) => format!("+{item}"),
            ConfigWant::Set(v) | ConfigWant::InList(v) | ConfigWant::Add(v) => v.clone(),
        };
        if v.chars().any(char::is_whitespace) {
            format!("\"{v}\"")
        } else {
            v
        }
    }
}

/// Options whose value is an algorithm list, where `+x` means "the defaults and x".
pub fn is_algorithm_list(keyword: &str) -> bool {
    matches!(
        keyword.to_ascii_lowercase().as_str(),
        "hostkeyalgorithms"
            | "kexalgorithms"
            | "ciphers"
            | "macs"
            | "pubkeyacceptedalgorithms"
            | "pubkeyacceptedkeytypes"
            | "hostbasedacceptedalgorithms"
            | "casignaturealgorithms"
    )
}

/// One way to repair a finding: what it does, the shell command a person would type for the same
/// effect (display only), whether it destroys anything (those always ask first), and what it
/// acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub id: FixId,
    pub title: String,
    pub command: String,
    pub destructive: bool,
    /// Not part of the JSON: scripts use `sshdoctor fix ID TARGET`, the views this value.
    #[serde(skip)]
    pub target: FixTarget,
}

impl Fix {
    pub fn new(id: FixId, title: impl Into<String>, command: impl Into<String>) -> Self {
        Fix {
            id,
            title: title.into(),
            command: command.into(),
            destructive: false,
            target: FixTarget::None,
        }
    }

    /// Marks the fix as one that removes or overwrites something.
    pub fn destructive(mut self) -> Self {
        self.destructive = true;
        self
    }

    /// What the fix acts on.
    pub fn on(mut self, target: FixTarget) -> Self {
        self.target = target;
        self
    }

    /// The fix acts on this file.
    pub fn on_path(self, path: impl Into<PathBuf>) -> Self {
        self.on(FixTarget::Path(path.into()))
    }
}

/// Something sshdoctor noticed, with what proves it and what repairs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable kebab-case id (`private-key-permissions`, `host-key-changed`, ...).
    pub id: String,
    pub severity: Severity,
    /// One line in plain words.
    pub title: String,
    /// The longer explanation a senior colleague would give: why it matters, what causes it.
    #[serde(default)]
    pub explanation: String,
    /// What proves it: `file:line`, a mode, a fingerprint, the server's answer.
    pub evidence: Vec<String>,
    pub fixes: Vec<Fix>,
}

impl Finding {
    pub fn new(id: &str, severity: Severity, title: impl Into<String>) -> Self {
        Finding {
            id: id.to_string(),
            severity,
            title: title.into(),
            explanation: String::new(),
            evidence: Vec::new(),
            fixes: Vec::new(),
        }
    }

    pub fn explain(mut self, text: impl Into<String>) -> Self {
        self.explanation = text.into();
        self
    }

    pub fn evidence(mut self, item: impl Into<String>) -> Self {
        self.evidence.push(item.into());
        self
    }

    pub fn fix(mut self, fix: Fix) -> Self {
        self.fixes.push(fix);
        self
    }

    /// Adds the fixes there are: a step one platform needs and another does not is an `Option`.
    pub fn fixes_from(mut self, fixes: impl IntoIterator<Item = Fix>) -> Self {
        self.fixes.extend(fixes);
        self
    }
}

/// Sorts findings worst first, keeping the discovery order within one severity.
pub fn sort_worst_first(findings: &mut [Finding]) {
    findings.sort_by_key(|f| f.severity);
}

/// Formats a permission mode the way OpenSSH prints it: `0644`.
pub fn mode_string(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Quotes a word for a POSIX shell only when it needs it, so commands stay readable and copyable.
/// A leading `~/` is left unquoted on purpose: sshdoctor shows home paths that way and means the
/// shell to expand them (`'~/.ssh'` would not be).
pub fn shell_quote(word: &str) -> String {
    let safe = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(&b))
    };
    if safe(word) {
        return word.to_string();
    }
    if let Some(rest) = word.strip_prefix("~/") {
        if rest.is_empty() || safe(rest) {
            return word.to_string();
        }
        return format!("~/{}", shell_quote(rest));
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_sort_before_warnings_and_info() {
        let mut v = vec![
            Finding::new("a", Severity::Info, "a"),
            Finding::new("b", Severity::Error, "b"),
            Finding::new("c", Severity::Warning, "c"),
            Finding::new("d", Severity::Error, "d"),
        ];
        sort_worst_first(&mut v);
        let ids: Vec<_> = v.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["b", "d", "c", "a"]);
    }

    #[test]
    fn shell_quote_only_when_needed() {
        assert_eq!(shell_quote("/home/u/.ssh/id_rsa"), "/home/u/.ssh/id_rsa");
        assert_eq!(shell_quote("/home/u/my keys/id"), "'/home/u/my keys/id'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("[127.0.0.1]:2222"), "'[127.0.0.1]:2222'");
        assert_eq!(shell_quote("~/.ssh/known_hosts"), "~/.ssh/known_hosts");
        assert_eq!(shell_quote("~/my keys/id"), "~/'my keys/id'");
        assert_eq!(shell_quote("~user"), "'~user'");
    }

    #[test]
    fn json_shape_is_the_contract() {
        let f = Finding::new("no-keys", Severity::Error, "No SSH keys")
            .evidence("/h/.ssh")
            .fix(Fix::new(
                FixId::GenerateKey,
                "Generate",
                "ssh-keygen -t ed25519",
            ));
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["severity"], "error");
        assert_eq!(v["fixes"][0]["destructive"], false);
        assert_eq!(v["evidence"][0], "/h/.ssh");
    }
}

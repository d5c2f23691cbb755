//! Where the operating systems differ for a person fixing SSH: who starts the agent, how a
//! passphrase is kept, which command starts or reloads sshd, where sshd logs, how `sed` edits
//! in place.
//!
//! Why a value and not `cfg!` at each use: the advice for a Mac must be right on a Mac, but the
//! suite runs on Linux. Every rule here takes the [`Platform`] as an argument, so the unit tests
//! check the macOS and FreeBSD texts on any machine; only [`Platform::current`] asks the build.

use std::path::Path;

use crate::finding::{shell_quote, ConfigSetting};

/// The operating system a finding's advice is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Linux,
    /// macOS: Apple's OpenSSH (with `UseKeychain`), launchd's agent, Remote Login, `log show`.
    MacOs,
    FreeBsd,
    /// Another Unix: Linux-style advice, without the Linux-only checks.
    OtherUnix,
}

impl Platform {
    /// The platform sshdoctor was built for, i.e. the one it runs on.
    pub const fn current() -> Platform {
        if cfg!(target_os = "linux") {
            Platform::Linux
        } else if cfg!(target_os = "macos") {
            Platform::MacOs
        } else if cfg!(target_os = "freebsd") {
            Platform::FreeBsd
        } else {
            Platform::OtherUnix
        }
    }

    /// The name a user knows it by, for "cannot be checked on macOS" sentences.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Linux => "Linux",
            Platform::MacOs => "macOS",
            Platform::FreeBsd => "FreeBSD",
            Platform::OtherUnix => "this system",
        }
    }

    /// Whether `/proc/net/tcp` exists to list listening sockets.
    pub fn has_proc_net(self) -> bool {
        self == Platform::Linux
    }

    /// `sed`'s in-place flag: BSD sed (macOS, FreeBSD) takes the backup suffix as a separate,
    /// mandatory argument, so GNU's `sed -i EXPR FILE` there would treat EXPR as the suffix.
    pub fn sed_in_place(self) -> &'static str {
        match self {
            Platform::MacOs | Platform::FreeBsd => "sed -i ''",
            Platform::Linux | Platform::OtherUnix => "sed -i",
        }
    }

    /// The command that starts an agent for this shell when none is set.
    ///
    /// On macOS launchd already runs one for every login session and puts its socket in the
    /// environment of programs started from the desktop; a shell without it (over ssh, under
    /// `env -i`, an old tmux) can take it back from launchd instead of starting a second agent
    /// whose keys the rest of the session would not see.
    pub fn start_agent_command(self) -> &'static str {
        match self {
            Platform::MacOs => {
                "export SSH_AUTH_SOCK=\"$(launchctl getenv SSH_AUTH_SOCK)\"; [ -S \"$SSH_AUTH_SOCK\" ] || eval \"$(ssh-agent -s)\""
            }
            _ => "eval \"$(ssh-agent -s)\"",
        }
    }

    /// `ssh-add KEY`, keeping the passphrase in the login keychain on macOS, so launchd's agent
    /// can load the key again after a reboot without asking (`UseKeychain yes` in the config).
    pub fn add_key_command(self, key: &str) -> String {
        match self {
            Platform::MacOs => format!("ssh-add --apple-use-keychain {key}"),
            _ => format!("ssh-add {key}"),
        }
    }

    /// The config lines that make ssh load keys into the agent (and, on macOS, take their
    /// passphrases from the keychain) by itself, or `None` where there is nothing to add.
    pub fn keychain_config_lines(self) -> Option<&'static str> {
        match self {
            Platform::MacOs => Some("Host *\n  UseKeychain yes\n  AddKeysToAgent yes"),
            _ => None,
        }
    }

    /// The same lines as settings for the config editor (`use-keychain`, every host): ssh then
    /// takes a key's passphrase from the login keychain and loads the key into launchd's agent
    /// by itself. `None` off macOS: only Apple's OpenSSH knows UseKeychain, and any other ssh
    /// stops at it ("Bad configuration option").
    pub fn keychain_settings(self) -> Option<Vec<ConfigSetting>> {
        (self == Platform::MacOs).then(|| {
            vec![
                ConfigSetting::set("UseKeychain", "yes"),
                ConfigSetting::set("AddKeysToAgent", "yes"),
            ]
        })
    }

    /// How to put a public key on the clipboard, for pasting into a web form or a server's
    /// terminal: `pbcopy` ships with macOS; elsewhere the file is printed to copy by hand.
    pub fn copy_public_key_command(self, pubkey: &str) -> String {
        match self {
            Platform::MacOs => format!("pbcopy < {pubkey}"),
            _ => format!("cat {pubkey}"),
        }
    }

    /// How to start sshd and check that it stays up.
    pub fn start_sshd_command(self) -> &'static str {
        match self {
            Platform::MacOs => {
                "sudo systemsetup -setremotelogin on && sudo systemsetup -getremotelogin"
            }
            Platform::FreeBsd => {
                "sysrc sshd_enable=YES && service sshd start && service sshd status"
            }
            Platform::Linux | Platform::OtherUnix => {
                "systemctl restart ssh || systemctl restart sshd; systemctl status ssh sshd"
            }
        }
    }

    /// How to make sshd read a changed sshd_config, or `None` when nothing needs to: macOS's
    /// launchd starts a fresh sshd for each connection, which reads the file anew.
    pub fn reload_sshd_command(self) -> Option<&'static str> {
        match self {
            Platform::MacOs => None,
            Platform::FreeBsd => Some("service sshd reload"),
            Platform::Linux | Platform::OtherUnix => {
                Some("systemctl reload ssh || systemctl reload sshd")
            }
        }
    }

    /// How to read sshd's recent log lines.
    pub fn sshd_log_command(self) -> &'static str {
        match self {
            // sshd's per-connection half is the process `sshd-session` since OpenSSH 9.8, so
            // match the prefix rather than `process == "sshd"`.
            Platform::MacOs => {
                "log show --style syslog --last 1h --predicate 'process BEGINSWITH \"sshd\"'"
            }
            Platform::FreeBsd => "tail -n 50 /var/log/auth.log",
            Platform::Linux | Platform::OtherUnix => "journalctl -u ssh -u sshd -n 50 --no-pager",
        }
    }

    /// The `sed` command that inserts `line` at the top of `file`, in this platform's dialect
    /// (BSD sed wants the inserted text on a line of its own after `1i\`).
    pub fn prepend_line_command(self, file: &Path, line: &str) -> String {
        let f = shell_quote(&file.display().to_string());
        match self {
            Platform::MacOs | Platform::FreeBsd => format!(
                "{} {} {f}",
                self.sed_in_place(),
                shell_quote(&format!("1i\\\n{line}\n"))
            ),
            Platform::Linux | Platform::OtherUnix => format!(
                "{} {} {f}",
                self.sed_in_place(),
                shell_quote(&format!("1i {line}"))
            ),
        }
    }
}

/// Whether an agent socket is the one launchd creates on macOS
/// (`/private/tmp/com.apple.launchd.XXXX/Listeners`, `/var/run/com.apple.launchd.XXXX/...`).
pub fn is_launchd_agent_socket(sock: &Path) -> bool {
    sock.components().any(|c| {
        c.as_os_str()
            .to_string_lossy()
            .starts_with("com.apple.launchd.")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_platform_is_the_build_target() {
        #[cfg(target_os = "linux")]
        assert_eq!(Platform::current(), Platform::Linux);
        #[cfg(target_os = "macos")]
        assert_eq!(Platform::current(), Platform::MacOs);
    }

    #[test]
    fn launchd_sockets_are_recognised_and_others_not() {
        assert!(is_launchd_agent_socket(Path::new(
            "/private/tmp/com.apple.launchd.AbCdEf1234/Listeners"
        )));
        assert!(is_launchd_agent_socket(Path::new(
            "/var/run/com.apple.launchd.x9/Listeners"
        )));
        assert!(!is_launchd_agent_socket(Path::new(
            "/tmp/ssh-XXXXabcd/agent.1234"
        )));
        assert!(!is_launchd_agent_socket(Path::new(
            "/run/user/1000/keyring/ssh"
        )));
    }

    #[test]
    fn a_mac_keeps_passphrases_in_the_keychain_and_reuses_launchds_agent() {
        let mac = Platform::MacOs;
        assert_eq!(
            mac.add_key_command("~/.ssh/id_ed25519"),
            "ssh-add --apple-use-keychain ~/.ssh/id_ed25519"
        );
        assert!(mac
            .start_agent_command()
            .contains("launchctl getenv SSH_AUTH_SOCK"));
        assert!(mac
            .keychain_config_lines()
            .is_some_and(|l| l.contains("UseKeychain yes")));
        assert_eq!(
            mac.copy_public_key_command("~/.ssh/id_ed25519.pub"),
            "pbcopy < ~/.ssh/id_ed25519.pub"
        );
        let linux = Platform::Linux;
        assert_eq!(linux.add_key_command("k"), "ssh-add k");
        assert_eq!(linux.start_agent_command(), "eval \"$(ssh-agent -s)\"");
        assert_eq!(linux.keychain_config_lines(), None);
    }

    #[test]
    fn sshd_is_managed_the_way_each_system_does_it() {
        assert!(Platform::MacOs
            .start_sshd_command()
            .contains("setremotelogin on"));
        assert_eq!(Platform::MacOs.reload_sshd_command(), None);
        assert!(Platform::MacOs.sshd_log_command().starts_with("log show"));
        assert!(Platform::FreeBsd
            .start_sshd_command()
            .contains("service sshd start"));
        assert!(Platform::Linux
            .reload_sshd_command()
            .is_some_and(|c| c.contains("systemctl reload")));
        assert!(Platform::Linux.sshd_log_command().starts_with("journalctl"));
    }

    #[test]
    fn sed_in_place_is_written_in_each_dialect() {
        let f = Path::new("/etc/ssh/sshd_config");
        assert_eq!(
            Platform::Linux.prepend_line_command(f, "PubkeyAuthentication yes"),
            "sed -i '1i PubkeyAuthentication yes' /etc/ssh/sshd_config"
        );
        assert_eq!(
            Platform::MacOs.prepend_line_command(f, "PubkeyAuthentication yes"),
            "sed -i '' '1i\\\nPubkeyAuthentication yes\n' /etc/ssh/sshd_config"
        );
    }

    /// The BSD form is the one GNU sed also understands, so it can be proven here: the line
    /// lands on top and the rest of the file is untouched.
    #[test]
    fn the_bsd_prepend_script_inserts_the_line_on_top() {
        let dir = std::env::temp_dir().join(format!("sshdoctor-sed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let f = dir.join("sshd_config");
        std::fs::write(&f, "Port 22\n").expect("write");
        let script = format!("1i\\\n{}\n", "PubkeyAuthentication yes");
        let ran = std::process::Command::new("sed")
            .arg("-i")
            .arg(&script)
            .arg(&f)
            .status();
        if ran.is_ok_and(|s| s.success()) {
            assert_eq!(
                std::fs::read_to_string(&f).expect("read"),
                "PubkeyAuthentication yes\nPort 22\n"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

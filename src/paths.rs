//! Where the user's SSH files are. Every path starts from `$HOME` (through `directories`) or from an
//! explicit flag, never from a hard-coded home, so tests can point sshdoctor at a temp dir.

use std::path::{Path, PathBuf};

/// The user's home and `~/.ssh`, resolved once and passed down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPaths {
    pub home: PathBuf,
    pub ssh_dir: PathBuf,
}

impl SshPaths {
    /// From `$HOME` (falling back to the password database, as `directories` does).
    pub fn from_env() -> anyhow::Result<Self> {
        let dirs = directories::BaseDirs::new()
            .ok_or_else(|| anyhow::anyhow!("cannot find the home directory: $HOME is not set"))?;
        Ok(Self::with_home(dirs.home_dir()))
    }

    pub fn with_home(home: &Path) -> Self {
        SshPaths {
            home: home.to_path_buf(),
            ssh_dir: home.join(".ssh"),
        }
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.ssh_dir.join("known_hosts")
    }

    pub fn config(&self) -> PathBuf {
        self.ssh_dir.join("config")
    }

    pub fn authorized_keys(&self) -> PathBuf {
        self.ssh_dir.join("authorized_keys")
    }

    /// Expands a leading `~` or `~/` the way ssh does for config values, against this home.
    pub fn expand_tilde(&self, p: &str) -> PathBuf {
        if p == "~" {
            self.home.clone()
        } else if let Some(rest) = p.strip_prefix("~/") {
            self.home.join(rest)
        } else {
            PathBuf::from(p)
        }
    }

    /// Shows a path with the home replaced by `~`, as people read it.
    pub fn display(&self, p: &Path) -> String {
        match p.strip_prefix(&self.home) {
            Ok(rest) if rest.as_os_str().is_empty() => "~".to_string(),
            Ok(rest) => format!("~/{}", rest.display()),
            Err(_) => p.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_expands_against_the_given_home() {
        let p = SshPaths::with_home(Path::new("/tmp/h"));
        assert_eq!(
            p.expand_tilde("~/.ssh/id_rsa"),
            Path::new("/tmp/h/.ssh/id_rsa")
        );
        assert_eq!(p.expand_tilde("/etc/ssh/x"), Path::new("/etc/ssh/x"));
        assert_eq!(p.display(Path::new("/tmp/h/.ssh/k")), "~/.ssh/k");
    }
}

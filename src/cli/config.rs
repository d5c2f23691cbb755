//! `sshdoctor config TARGET [--json]`: the options ssh will use for a login.

use std::path::PathBuf;

use crate::config::{self, ConfigRequest};
use crate::exit::Exit;
use crate::paths::SshPaths;
use crate::target::parse_target;

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// `[user@]host[:port]` or a config alias.
    pub target: String,
    /// Port, as `ssh -p`.
    #[arg(short = 'p', long, value_parser = super::port_number)]
    pub port: Option<u16>,
    /// User, as `ssh -l`.
    #[arg(short = 'l', long = "login")]
    pub user: Option<String>,
    /// Read this ssh config instead of ~/.ssh/config (as `ssh -F`).
    #[arg(short = 'F', long = "config", value_name = "FILE", value_parser = super::user_config_file)]
    pub config_file: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ConfigArgs) -> anyhow::Result<Exit> {
    let target = parse_target(&args.target).map_err(|e| crate::exit::usage(e.to_string()))?;
    let paths = SshPaths::from_env()?;
    let req = ConfigRequest {
        target: &target,
        config_file: args.config_file.as_deref(),
        port: args.port,
        user: args.user.as_deref(),
        identity_files: &[],
    };
    let cfg = config::effective(&req, &paths)?;
    if args.json {
        super::print_json(&cfg)?;
        return Ok(Exit::Clean);
    }
    let list = |v: &[PathBuf]| {
        v.iter()
            .map(|p| paths.display(p))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "host            {}",
        crate::safe_text::printable(&cfg.host_alias)
    );
    println!(
        "hostname        {}",
        crate::safe_text::printable(&cfg.hostname)
    );
    println!("user            {}", crate::safe_text::printable(&cfg.user));
    println!("port            {}", cfg.port);
    println!("identityfile    {}", list(&cfg.identity_files));
    println!(
        "identitiesonly  {}",
        if cfg.identities_only { "yes" } else { "no" }
    );
    println!("knownhosts      {}", list(&cfg.user_known_hosts_files));
    println!(
        "stricthostkey   {}",
        crate::safe_text::printable(&cfg.strict_host_key_checking)
    );
    if let Some(j) = &cfg.proxy_jump {
        println!("proxyjump       {}", crate::safe_text::printable(j));
    }
    println!(
        "(as {})",
        match cfg.source {
            config::ConfigSource::SshG => "`ssh -G` reports it",
            config::ConfigSource::Parsed =>
                "sshdoctor reads the config files; ssh -G was not available",
        }
    );
    Ok(Exit::Clean)
}

//! `sshdoctor explain [FILE|-]`: what a failed `ssh -v` (or `-vvv`, or just ssh's error lines)
//! says, as findings with the same ids, evidence and fixes as the live probe, from a CI log or
//! a colleague's paste. Nothing is contacted: the reading is `probe::ssh_verbose`, the same the
//! probe's `ssh-check` stage uses.

use std::io::Read;
use std::path::PathBuf;

use crate::exit::Exit;
use crate::probe::ssh_verbose;

/// The most that is read: a `-vvv` login is a few hundred lines; a CI log may hold much else.
const MAX_INPUT: u64 = 64 << 20;

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A file holding ssh's output (stderr), or `-` (the default) for standard input.
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,
    /// Print `{"findings":[...]}` (as `check`) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ExplainArgs) -> anyhow::Result<Exit> {
    let mut bytes = Vec::new();
    match args.file.as_deref() {
        None => read(std::io::stdin().lock(), &mut bytes, "standard input")?,
        Some(p) if p.as_os_str() == "-" => {
            read(std::io::stdin().lock(), &mut bytes, "standard input")?
        }
        Some(p) => {
            let f = std::fs::File::open(p).map_err(|e| {
                anyhow::anyhow!("cannot read {}: {}", p.display(), super::io_reason(&e))
            })?;
            read(f, &mut bytes, &p.display().to_string())?
        }
    }
    let log = ssh_verbose::parse(&String::from_utf8_lossy(&bytes));
    let findings = ssh_verbose::findings(&log, None);
    if args.json {
        super::print_json(&serde_json::json!({ "findings": findings }))?;
    } else if findings.is_empty() {
        println!(
            "Nothing in this output names a failure sshdoctor knows. Run ssh with -v and feed \
             its whole output (stderr: `ssh -v HOST 2>&1 | sshdoctor explain`)."
        );
    } else {
        print!("{}", super::findings::render(&findings));
    }
    Ok(super::check::exit_for(&findings))
}

fn read(r: impl Read, into: &mut Vec<u8>, what: &str) -> anyhow::Result<()> {
    r.take(MAX_INPUT)
        .read_to_end(into)
        .map_err(|e| anyhow::anyhow!("cannot read {what}: {}", super::io_reason(&e)))?;
    Ok(())
}

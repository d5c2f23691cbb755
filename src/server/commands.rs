//! The shell commands the findings show for edits that the fix module also plans natively
//! (`fix::server`): appending a key to authorized_keys, and adding an address to a `from=`.
//!
//! Why a module of its own: the text a user copies and the plan `sshdoctor fix` runs must do the
//! same thing; keeping the commands together, apart from the rules that attach them, makes the
//! two easy to hold side by side.

use std::net::IpAddr;
use std::path::Path;

use crate::finding::shell_quote;
use crate::platform::Platform;

/// The shell command that does what `fix::server::append_key_plan` does (and what `server` shows).
pub fn append_key_command(file: &Path, pubkey: &Path, user: &str, make_dir: bool) -> String {
    let tq = shell_quote(&file.display().to_string());
    let pq = shell_quote(&pubkey.display().to_string());
    let u = shell_quote(user);
    let mkdir = match file.parent().filter(|_| make_dir) {
        Some(d) => format!(
            "install -d -m 700 -o {u} {} && ",
            shell_quote(&d.display().to_string())
        ),
        None => String::new(),
    };
    format!(
        "{mkdir}{{ if [ -s {tq} ] && [ -n \"$(tail -c1 {tq})\" ]; then echo; fi; cat {pq}; }} >> {tq} && chown {u} {tq} && chmod 600 {tq}"
    )
}

/// `sed` command equivalent to `fix::server::allow_from_line` on line `line` of `file`, in the
/// server's `sed` dialect.
pub fn allow_from_command(platform: Platform, file: &str, line: usize, addr: IpAddr) -> String {
    format!(
        "{} {} {}",
        platform.sed_in_place(),
        shell_quote(&format!(r#"{line}s/\(from="[^"]*\)"/\1,{addr}"/I"#)),
        shell_quote(file)
    )
}

/// `sed` command that replaces line `line` of `file` with `new` (its line end dropped: sed adds
/// its own), in the form both GNU and BSD sed read (`Nc\` with the text on the next line, `\`
/// doubled). What `fix::server`'s authorized_keys line edits write, for a person to compare.
pub fn replace_line_command(platform: Platform, file: &str, line: usize, new: &[u8]) -> String {
    let text = String::from_utf8_lossy(new);
    let text = text.trim_end_matches(['\r', '\n']).replace('\\', "\\\\");
    format!(
        "{} {} {}",
        platform.sed_in_place(),
        shell_quote(&format!("{line}c\\\n{text}\n")),
        shell_quote(file)
    )
}

//! sshdoctor: diagnose and safely fix failing SSH logins.
//!
//! A functional core and two thin views, `main → cli → tui → core` (checked by `layering`'s
//! tests). The core modules take file contents and metadata and return findings; [`probe`] is
//! the network code (with `fix::remote`, the fixes that act over SSH) and [`fix`] the only code
//! that writes. README.md ("How it is built") lists where the disk reads live.

pub mod agent;
pub mod authorized_keys;
pub mod certificate;
pub mod cli;
pub mod config;
pub mod exit;
pub mod finding;
pub mod fix;
pub mod fix_id;
pub mod inspect;
pub mod key_armour;
pub mod keys;
pub mod known_hosts;
#[cfg(test)]
mod layering;
pub mod mem;
pub mod paths;
pub mod pattern;
pub mod perms;
pub mod platform;
pub mod probe;
pub mod safe_text;
pub mod scan;
pub mod server;
pub mod sys;
pub mod target;
pub mod tui;
pub mod words;

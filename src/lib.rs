//! sshdoctor: diagnose and safely fix failing SSH logins.
//!
//! The core is pure: modules take file contents and metadata and return findings. Only
//! [`inspect`] reads the disk, only [`probe`] touches the network and only `fix` writes.

pub mod agent;
pub mod authorized_keys;
pub mod certificate;
pub mod cli;
pub mod config;
pub mod finding;
pub mod fix;
pub mod inspect;
pub mod key_armour;
pub mod keys;
pub mod known_hosts;
pub mod mem;
pub mod paths;
pub mod pattern;
pub mod perms;
pub mod probe;
pub mod scan;
pub mod server;
pub mod sys;
pub mod tui;
pub mod words;

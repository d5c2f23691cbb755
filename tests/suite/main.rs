//! The integration tests, built as one test binary (`cargo test --test suite`): one module per
//! area, sharing the helpers in [`support`] (real `sshd`, `ssh-agent` and tmux instances on
//! 127.0.0.1 and in temp dirs, and the sshdoctor binary run with a temp HOME).

mod support;

mod agent;
mod authorized_keys;
mod certificate_file;
mod cli;
mod config;
mod config_fix;
mod cross_check;
mod explain;
mod faults;
mod fix;
mod fix_sshd;
mod host_cert_probe;
mod hostile_servers;
mod keys;
mod known_hosts;
mod least_surprise;
mod parsers_never_panic;
mod perms;
mod probe;
mod probe_hop;
mod probe_jump;
mod probe_kbd;
mod rsa_sha1;
mod scan;
mod secrets;
mod server;
mod slow_login;
mod tui_live;
mod tui_render;
mod tui_restore;
mod tui_tmux;

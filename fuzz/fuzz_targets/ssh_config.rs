//! ssh_config fallback parser: any text gives a usable configuration (port > 0), never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sshdoctor::config::{self, ConfigRequest};
use sshdoctor::paths::SshPaths;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).to_string();
    let paths = SshPaths::with_home(Path::new("/nonexistent-sshdoctor-home"));
    let Ok(target) = config::parse_target("h") else {
        return;
    };
    let req = ConfigRequest {
        target: &target,
        config_file: Some(Path::new("/virtual/config")),
        port: None,
        user: None,
        identity_files: &[],
    };
    let t = text.clone();
    let read = move |p: &Path| (p == Path::new("/virtual/config")).then(|| t.clone());
    let cfg = config::effective_parsed(&req, &paths, &read);
    assert!(cfg.port > 0);
    let _ = config::parse_ssh_g(&text, &paths);
    for line in text.lines().take(32) {
        let _ = config::parse_target(line);
    }
});

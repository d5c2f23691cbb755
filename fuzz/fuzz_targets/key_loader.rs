//! Key loader: any file content is classified (key, public key, not a key, damaged), never a
//! panic; also the public-key line parser and the probe's wire reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sshdoctor::keys;
use sshdoctor::probe::wire;

fuzz_target!(|data: &[u8]| {
    let _ = keys::classify(data);
    for line in String::from_utf8_lossy(data).lines().take(32) {
        let _ = keys::parse_public_line(line);
    }
    let _ = wire::classify(data);
    let _ = wire::parse_kexinit(data);
});

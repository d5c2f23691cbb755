//! authorized_keys: never panics, round-trips byte for byte, option evaluation is total.
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use sshdoctor::authorized_keys;

fuzz_target!(|data: &[u8]| {
    let ak = authorized_keys::parse(data.to_vec());
    assert_eq!(ak.bytes(), data);
    let now = SystemTime::UNIX_EPOCH;
    for e in ak.entries() {
        let _ = authorized_keys::would_refuse(e, [127, 0, 0, 1].into(), now);
    }
    let _ = ak.findings("authorized_keys", now);
    let _ = ak.append_key_bytes("ssh-ed25519 AAAA x");
});

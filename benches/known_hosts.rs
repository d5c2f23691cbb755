//! In-process costs behind the `bench/compare.sh` rows: parsing, finding, removing and checking
//! a host in a 100,000-line known_hosts (half hashed, mixed ed25519/ecdsa/rsa, every tenth host
//! on port 2222), and turning one into scan targets. The fixture is generated here; nothing large
//! is committed. Run with `cargo bench --bench known_hosts`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::PublicKey;
use sha1::Sha1;
use sshdoctor::known_hosts;

const LINES: usize = 100_000;
const KEYS: [&str; 3] = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG3LhRPao+hG3JqZS6Y8vpW0MU7IMHxZNrhqSDDYq2gW",
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCCYuz7kWf47+F09oNscH2//uuPeA5cAZdy5xMEAmRIEnWnZ5c3RJWR00SFB2wCtXg3iSCYycDqmEm3OLz4JOk4=",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC1P1WkV2gZZZY88LL8iQC51aNmlWorBBufh7HgH7K8cCgKnK/6iIFuQgFOcA3tOcObiHq+cGepUnk6ypg9BzlJ5Sx5pA2IGZQiXHks/B4TbJOZmejim201lDMa/2nnv4XV2X7SlOHMUI3eJ2NPCiCx08RQ42p/ZFYYL38ShncTGV8U9G0QBYEfOHZz77BiFVymJGJ1IftL/JLeqeK2uDVX4B0F0z7QfJl9TVNTNWMDr3Zy+MbzBi4lH5c89UA/XacfCO1Yx6VRG35q8IY+Ca/+YJVrfvr359jVZdiRk7BZiHxSyxXaeF7gaUAvOQtzaGMxv+zisrNogHChQuqXVePT",
];
/// A hashed host near the end, so every line is read and every hashed line is hashed.
const FIND: &str = "host99998.example.com";

fn fixture() -> Vec<u8> {
    let mut out = String::with_capacity(LINES * 200);
    for i in 0..LINES {
        let host = format!("host{i}.example.com");
        let name = if i % 10 == 3 {
            format!("[{host}]:2222")
        } else {
            host
        };
        let key = KEYS[i % KEYS.len()];
        if i % 2 == 0 {
            // A deterministic salt per line: the bench needs distinct salts, not secret ones.
            let mut salt = [0u8; 20];
            for (j, b) in salt.iter_mut().enumerate() {
                *b = (i.wrapping_mul(31).wrapping_add(j * 7) % 251) as u8;
            }
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt).expect("any key length");
            mac.update(name.as_bytes());
            let digest = mac.finalize().into_bytes();
            out.push_str(&format!(
                "|1|{}|{} {key}\n",
                STANDARD.encode(salt),
                STANDARD.encode(digest)
            ));
        } else {
            out.push_str(&format!("{name},10.0.{}.{} {key}\n", i >> 8 & 255, i & 255));
        }
    }
    out.into_bytes()
}

fn main() {
    divan::main();
}

#[divan::bench(sample_count = 10)]
fn parse(b: divan::Bencher) {
    let data = fixture();
    b.with_inputs(|| data.clone())
        .bench_values(|d| known_hosts::parse(d).line_count());
}

#[divan::bench(sample_count = 10)]
fn find_hashed_host(b: divan::Bencher) {
    let kh = known_hosts::parse(fixture());
    b.bench(|| known_hosts::find_output(&kh, divan::black_box(FIND)).len());
}

#[divan::bench(sample_count = 10)]
fn remove_host(b: divan::Bencher) {
    let kh = known_hosts::parse(fixture());
    b.bench(|| known_hosts::remove_host(&kh, divan::black_box(FIND)).removed_lines);
}

#[divan::bench(sample_count = 10)]
fn check_host_key(b: divan::Bencher) {
    let kh = known_hosts::parse(fixture());
    let key = PublicKey::from_openssh(KEYS[0]).expect("valid key");
    b.bench(|| {
        known_hosts::check_host_key(&kh, divan::black_box("host99999.example.com"), 22, &key)
    });
}

#[divan::bench(sample_count = 10)]
fn scan_targets(b: divan::Bencher) {
    let kh = known_hosts::parse(fixture());
    b.bench(|| sshdoctor::scan::targets_from_known_hosts(&kh, "known_hosts").len());
}

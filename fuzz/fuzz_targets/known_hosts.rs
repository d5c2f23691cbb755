//! known_hosts: never panics, gives back exactly the bytes it read, removal only drops lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sshdoctor::known_hosts;

fuzz_target!(|data: &[u8]| {
    let kh = known_hosts::parse(data.to_vec());
    assert_eq!(kh.bytes(), data);
    let _ = (kh.entries(), kh.problems(), kh.lookup("h", 2222));
    for name in ["h", "[h]:2222", "10.0.0.1"] {
        let _ = known_hosts::find_output(&kh, name);
        let r = known_hosts::remove_host(&kh, name);
        assert!(r.bytes.len() <= data.len() + 1);
    }
    let _ = known_hosts::findings(&kh, "known_hosts");
    let _ = known_hosts::list_json(&kh, "known_hosts");
});

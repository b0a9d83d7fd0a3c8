//! `ipvsfull.cfg` round trip: parse -> write -> parse gives the same config, without warnings;
//! the writer's output is a fixed point and every parsed config maps to a table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_core::formats::ipvsfull::FullConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut first) = FullConfig::parse(text, "fuzz") else {
        return;
    };
    let written = first.write();
    let second = FullConfig::parse(&written, "written").expect("a written file parses");
    assert!(second.warnings.is_empty(), "{:?}", second.warnings);
    first.warnings.clear();
    assert_eq!(second, first);
    assert_eq!(second.write(), written);
    first.to_table().expect("a parsed config maps to a table");
});

//! Round trip of the four dumps; the first byte chooses the parser (0 offline, 1 override,
//! 2 stats, 3 notify): parse -> write -> parse gives the same value, and the writer's output is
//! a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_core::formats::dumps::{NotifyDump, OfflineDump, OverrideDump, StatsDump};

macro_rules! round_trip {
    ($ty:ty, $text:expr) => {{
        if let Ok(first) = <$ty>::parse($text, "fuzz") {
            let written = first.write();
            let second = <$ty>::parse(&written, "written").expect("a written dump parses");
            assert_eq!(second, first);
            assert_eq!(second.write(), written);
        }
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 4 {
        0 => round_trip!(OfflineDump, text),
        1 => round_trip!(OverrideDump, text),
        2 => round_trip!(StatsDump, text),
        _ => round_trip!(NotifyDump, text),
    }
});

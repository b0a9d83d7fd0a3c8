//! The control port's request parser: any bytes give a request or an error, never a panic; a
//! parsed request renders to a line that parses to the same request; an error reply is one
//! `ERROR` line then the terminator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_core::control::{parse, parse_bytes, render_error};

fuzz_target!(|data: &[u8]| {
    match parse_bytes(data) {
        Ok(req) => {
            let line = req.to_string();
            assert_eq!(parse(&line).as_ref(), Ok(&req), "{line:?}");
        }
        Err(e) => {
            let reply = render_error(&e);
            let mut lines = reply.lines();
            assert!(lines.next().is_some_and(|l| l.starts_with("ERROR ")), "{reply:?}");
            assert_eq!(lines.next(), Some("_SD_CMD_END_"), "{reply:?}");
            assert_eq!(lines.next(), None, "{reply:?}");
        }
    }
});

//! The control port's request parser: any bytes give a request or an error, never a panic; a
//! parsed request renders to a line that parses to the same request; an error reply is one
//! `ERROR` line then the terminator. The same bytes as a `/proc/self/status` text: the `Vm*`
//! lines read, written back in the status form, read again, give the same lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvs_core::control::{parse, parse_bytes, parse_vm_lines, render_error};

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
    let status = String::from_utf8_lossy(data);
    let vm = parse_vm_lines(&status);
    let written: String = vm
        .iter()
        .map(|m| format!("Vm{}:\t{} {}\n", m.name, m.value, m.unit))
        .collect();
    assert_eq!(parse_vm_lines(&written), vm, "{written:?}");
});

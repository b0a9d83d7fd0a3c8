//! The feedbackd master and agent loaders, and the `/etc/services` parser they resolve port names
//! with, must never panic, whatever the bytes. The first byte chooses the input kind (0: master
//! file, 1: agent file, 2: `/etc/services` text, modulo 3); the rest is the input. Port names in
//! the configuration files resolve through the built-in table, so the target reads no file.
#![no_main]

use lvs_core::config::feedbackd::{
    parse_agent_config, parse_master_config, MonitorRegistry, ServicesDb,
};
use lvs_core::model::Protocol;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match kind % 3 {
        0 => {
            let _ = parse_master_config(&text, "fuzz.conf", &ServicesDb::builtin());
        }
        1 => {
            let _ = parse_agent_config(
                &text,
                "fuzz.conf",
                &ServicesDb::builtin(),
                &MonitorRegistry::builtin(),
            );
        }
        _ => {
            // Every name the parser lists resolves, to a port it recorded.
            let db = ServicesDb::parse(&text);
            for proto in [Protocol::Tcp, Protocol::Udp] {
                let names: Vec<String> = db.names(proto).map(str::to_string).collect();
                for n in names {
                    assert!(db.lookup(&n, proto).is_some(), "{n}");
                }
            }
        }
    }
});

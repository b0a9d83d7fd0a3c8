//! The feedbackd master and agent loaders must never panic, whatever the bytes. The first byte
//! chooses the file kind (even: master, odd: agent); the rest is the file. Port names resolve
//! through the built-in table, so the target reads no file.
#![no_main]

use lvs_core::config::feedbackd::{
    parse_agent_config, parse_master_config, MonitorRegistry, ServicesDb,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let services = ServicesDb::builtin();
    if kind % 2 == 0 {
        let _ = parse_master_config(&text, "fuzz.conf", &services);
    } else {
        let _ = parse_agent_config(&text, "fuzz.conf", &services, &MonitorRegistry::builtin());
    }
});

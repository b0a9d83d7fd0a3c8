//! The `surealived.cfg` loader must never panic, whatever the bytes; and a configuration it
//! accepts must be internally consistent and survive being written back and read again.
#![no_main]

use std::time::Duration;

use lvs_core::config::surealived_cfg::{parse_main_cfg, Modules};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(cfg) = parse_main_cfg(&text, "fuzz.cfg") else {
        return;
    };
    // The original's adjustments hold.
    assert!(cfg.epoll_size >= 256);
    assert!(cfg.startup_delay >= Duration::from_millis(1));
    assert!(cfg.loop_interval >= Duration::from_millis(1));
    assert!(cfg.loop_interval <= cfg.startup_delay);
    if let Modules::List(l) = &cfg.modules {
        assert!(!l.is_empty() && l.iter().all(|m| !m.is_empty()));
    }
    // Warnings are located in this file.
    for w in &cfg.warnings {
        assert_eq!(w.location.file, "fuzz.cfg");
        assert!(w.location.line >= 1);
    }
    // Written back, it reads the same, without warnings.
    let text = cfg
        .to_cfg_text()
        .expect("a parsed configuration is writable");
    let again = parse_main_cfg(&text, "fuzz.cfg").expect("own output parses");
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    let mut cfg = cfg;
    cfg.warnings.clear();
    assert_eq!(again, cfg);
});

//! The surealived XML service loader must never panic, whatever the bytes; and what it accepts
//! must hold its own invariants (distinct virtuals and reals, resolved defaults).
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use lvs_core::config::xml::{parse_service_xml, RawDocument, TesterRegistry, Transport};

fn registry() -> &'static TesterRegistry {
    static REGISTRY: OnceLock<TesterRegistry> = OnceLock::new();
    REGISTRY.get_or_init(TesterRegistry::builtin)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let raw = RawDocument::parse(&text, "fuzz.xml");
    let Ok(cfg) = parse_service_xml(&text, "fuzz.xml", registry()) else {
        return;
    };
    // The two stages agree.
    let raw = raw.expect("the full parse succeeded, so the raw stage must too");
    assert_eq!(raw.virtuals.len(), cfg.virtuals.len());
    let mut keys = HashSet::new();
    for v in &cfg.virtuals {
        assert!(keys.insert(v.key), "duplicate virtual accepted");
        assert!(!v.name.is_empty() && v.name.len() <= 127);
        assert!((1..=20).contains(&v.tester.stats_samples));
        assert!(v.tester.retries2ok >= 1 && v.tester.retries2fail >= 1);
        assert!(v.tester.testport.is_some() || v.tester.transport == Transport::None);
        assert_eq!(v.service().key, v.key);
        let mut reals = HashSet::new();
        for r in &v.reals {
            assert!(reals.insert(r.key()), "duplicate real accepted");
            assert!(r.weight <= 65535);
            assert!(r.lthresh <= r.uthresh);
            assert!(!r.addr.is_multicast() && !r.addr.is_unspecified());
            for (name, _) in v.tester.attrs.iter() {
                assert!(r.attrs.get(name).is_some(), "real lost attribute {name}");
            }
            let d = r.destination(r.weight);
            assert_eq!(d.key(), r.key());
        }
    }
});

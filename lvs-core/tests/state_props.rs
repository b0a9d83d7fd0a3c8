//! Property tests of the real-server state: rise/fall hysteresis, effective weight, presence in
//! IPVS and the `rset` rule.

use lvs_core::formats::dumps::{OverrideDump, OverrideEntry, OverrideWeight, RealKey, VKey};
use lvs_core::formats::ipvsfull::VProto;
use lvs_core::model::{DestKey, Destination};
use lvs_core::state::{AdminState, Hysteresis, RealState, Transition, WeightOverride};
use proptest::prelude::*;

fn admin() -> impl Strategy<Value = AdminState> {
    prop_oneof![
        Just(AdminState::Online),
        Just(AdminState::Offline),
        Just(AdminState::Down),
    ]
}

fn weight_override() -> impl Strategy<Value = WeightOverride> {
    prop_oneof![
        (0u32..=70_000).prop_map(WeightOverride::Absolute),
        (0u32..=1_000).prop_map(WeightOverride::Percent),
        any::<u32>().prop_map(WeightOverride::Absolute),
        any::<u32>().prop_map(WeightOverride::Percent),
    ]
}

fn hysteresis() -> impl Strategy<Value = Hysteresis> {
    (1u32..=6, 1u32..=6, any::<bool>()).prop_map(|(rise, fall, offline)| {
        if offline {
            Hysteresis::new_offline(rise, fall).expect("non-zero")
        } else {
            Hysteresis::new(rise, fall).expect("non-zero")
        }
    })
}

fn real_state() -> impl Strategy<Value = RealState> {
    (
        hysteresis(),
        admin(),
        proptest::option::of(weight_override()),
        proptest::collection::vec(any::<bool>(), 0..8),
    )
        .prop_map(|(h, a, o, results)| {
            let mut r = RealState::with_operator(h, a, o);
            for ok in results {
                r.record(ok);
            }
            r
        })
}

proptest! {
    #[test]
    fn hysteresis_follows_runs(
        rise in 1u32..=6,
        fall in 1u32..=6,
        start_offline in any::<bool>(),
        results in proptest::collection::vec(any::<bool>(), 0..200),
    ) {
        let mut h = if start_offline {
            Hysteresis::new_offline(rise, fall).expect("non-zero")
        } else {
            Hysteresis::new(rise, fall).expect("non-zero")
        };
        prop_assert_eq!(h.is_online(), !start_offline);
        // Consecutive successes since the last failure, and the reverse.
        let (mut ok_run, mut fail_run) = (0u32, if start_offline { fall } else { 0 });
        let mut last = None;
        for success in results {
            let was = h.is_online();
            let t = h.record(success);
            if success {
                ok_run += 1;
                fail_run = 0;
            } else {
                fail_run += 1;
                ok_run = 0;
            }
            // Caps and reset.
            prop_assert!(h.ok() <= rise && h.fail() <= fall);
            prop_assert_eq!(h.ok(), ok_run.min(rise));
            prop_assert_eq!(h.fail(), fail_run.min(fall));
            prop_assert!(h.ok() == 0 || h.fail() == 0);
            // The verdict changes exactly when a full run is reached.
            let expected = if ok_run >= rise {
                true
            } else if fail_run >= fall {
                false
            } else {
                was
            };
            prop_assert_eq!(h.is_online(), expected);
            match t {
                Some(Transition::Up) => {
                    prop_assert!(!was && h.is_online());
                    prop_assert!(ok_run >= rise, "up after {} successes (rise {})", ok_run, rise);
                }
                Some(Transition::Down) => {
                    prop_assert!(was && !h.is_online());
                    prop_assert!(fail_run >= fall, "down after {} failures (fall {})", fail_run, fall);
                }
                None => prop_assert_eq!(was, h.is_online()),
            }
            // Transitions alternate, starting with the one away from the initial verdict.
            if let Some(t) = t {
                let want = match last {
                    None if start_offline => Transition::Up,
                    None => Transition::Down,
                    Some(Transition::Up) => Transition::Down,
                    Some(Transition::Down) => Transition::Up,
                };
                prop_assert_eq!(t, want);
                last = Some(t);
            }
        }
    }

    #[test]
    fn weight_is_zero_unless_up(r in real_state(), conf in 0u32..=70_000) {
        if !r.is_up() {
            prop_assert_eq!(r.effective_weight(conf), 0);
        }
        prop_assert_eq!(r.is_up(), r.admin() == AdminState::Online && r.is_online());
    }

    #[test]
    fn weight_is_bounded(r in real_state(), conf in 0u32..=65_535) {
        // The kernel's limit: its weight is an `int`.
        prop_assert!(r.effective_weight(conf) <= Destination::MAX_WEIGHT);
        if r.weight_override().is_none() {
            prop_assert!(r.effective_weight(conf) <= conf);
        }
    }

    #[test]
    fn percent_100_is_conf_weight(conf in 0u32..=65_535) {
        prop_assert_eq!(WeightOverride::Percent(100).apply(conf), conf);
        let up = RealState::new(Hysteresis::new(1, 1).expect("non-zero"));
        prop_assert_eq!(up.effective_weight(conf), conf);
    }

    #[test]
    fn percent_is_monotonic(conf in 0u32..=65_535, p in 0u32..=100_000, q in 0u32..=100_000) {
        let (lo, hi) = (p.min(q), p.max(q));
        prop_assert!(WeightOverride::Percent(lo).apply(conf) <= WeightOverride::Percent(hi).apply(conf));
        if lo > 0 && conf > 0 {
            prop_assert!(WeightOverride::Percent(lo).apply(conf) >= 1);
        }
    }

    #[test]
    fn percent_matches_original_formula(conf in 1u32..=65_535, p in 1u32..=100) {
        let w = WeightOverride::Percent(p).apply(conf);
        prop_assert_eq!(w, (conf * p / 100).max(1));
    }

    #[test]
    fn absolute_override_wins(conf in 0u32..=70_000, n in any::<u32>()) {
        let r = RealState::with_operator(
            Hysteresis::new(1, 1).expect("non-zero"),
            AdminState::Online,
            Some(WeightOverride::Absolute(n)),
        );
        prop_assert_eq!(r.effective_weight(conf), n.min(Destination::MAX_WEIGHT));
    }

    #[test]
    fn presence(r in real_state(), rof in any::<bool>(), conf in 0u32..=65_535) {
        let present = !(r.admin() == AdminState::Down || (rof && !r.is_online()));
        prop_assert_eq!(r.in_ipvs(rof), present);
        prop_assert_eq!(r.ipvs_weight(conf, rof), present.then(|| r.effective_weight(conf)));
        // OFFLINE never removes by itself.
        if r.admin() == AdminState::Offline && r.is_online() {
            prop_assert_eq!(r.ipvs_weight(conf, rof), Some(0));
        }
        // Without remove_on_fail only DOWN removes.
        if !rof {
            prop_assert_eq!(r.in_ipvs(false), r.admin() != AdminState::Down);
        }
    }

    #[test]
    fn rset_rule(
        r in real_state(),
        a in proptest::option::of(admin()),
        o in proptest::option::of(weight_override()),
        conf in 0u32..=65_535,
    ) {
        let mut s = r;
        if let Some(a) = a {
            s.set_admin(a, conf);
        }
        if let Some(o) = o {
            s.set_override(o, conf);
        }
        // The normalization never changes the weight nor the presence.
        let raw = RealState::with_operator(
            *r.hysteresis(),
            a.unwrap_or(r.admin()),
            o.or(r.weight_override()),
        );
        prop_assert_eq!(s.effective_weight(conf), raw.effective_weight(conf));
        prop_assert_eq!(s.in_ipvs(true), raw.in_ipvs(true));
        prop_assert_eq!(s.in_ipvs(false), raw.in_ipvs(false));
        // ONLINE never keeps a neutral override.
        if s.admin() == AdminState::Online {
            prop_assert!(!s.weight_override().is_some_and(|o| o.is_neutral(conf)));
        }
        // The dump entry exists exactly when something is overridden.
        prop_assert_eq!(
            s.keeps_override_entry(),
            s.admin() != AdminState::Online || s.weight_override().is_some()
        );
        prop_assert_eq!(s.override_entry(conf).is_some(), s.keeps_override_entry());
        if let Some((a, w)) = s.override_entry(conf) {
            prop_assert_eq!(a, s.admin());
            prop_assert_eq!(w, s.weight_override().unwrap_or(WeightOverride::Absolute(conf)));
        }
    }

    /// What `override.dump` keeps of a real comes back as it was after a restart: state ->
    /// entry -> file bytes -> entry -> state. Only the explicit drain `Absolute(0)` comes back in
    /// its dump form `Percent(0)`, which gives weight 0 just the same.
    #[test]
    fn override_dump_restores_the_state(
        r in real_state(),
        a in proptest::option::of(admin()),
        o in proptest::option::of(weight_override()),
        conf in prop_oneof![Just(0u32), 0u32..=65_535],
        conf_after in prop_oneof![Just(0u32), 0u32..=65_535],
    ) {
        let mut s = r;
        if let Some(a) = a {
            s.set_admin(a, conf);
        }
        if let Some(o) = o {
            s.set_override(o, conf);
        }
        let h = *s.hysteresis();
        let restored = match s.override_dump_entry() {
            None => {
                prop_assert!(!s.keeps_override_entry());
                RealState::with_operator(h, AdminState::Online, None)
            }
            Some((rstate, weight)) => {
                let key = RealKey {
                    vkey: VKey { addr: "10.0.0.1".parse().expect("ip"), port: 80, proto: VProto::Tcp, fwmark: 0 },
                    real: DestKey { addr: "10.1.0.1".parse().expect("ip"), port: 80 },
                };
                let text = OverrideDump { entries: vec![OverrideEntry { key, weight, rstate }] }.write();
                let back = OverrideDump::parse(&text, "override.dump").expect("parses");
                prop_assert_eq!(back.entries.len(), 1);
                let e = back.entries[0];
                RealState::from_override_dump(h, e.rstate, e.weight)
            }
        };
        let expected = match s.weight_override() {
            Some(WeightOverride::Absolute(0)) => {
                RealState::with_operator(h, s.admin(), Some(WeightOverride::Percent(0)))
            }
            _ => s,
        };
        prop_assert_eq!(restored, expected);
        // Whatever the configured weight is after the restart, the real behaves the same.
        for c in [conf, conf_after] {
            prop_assert_eq!(restored.effective_weight(c), s.effective_weight(c));
            prop_assert_eq!(restored.ipvs_weight(c, true), s.ipvs_weight(c, true));
        }
        prop_assert_eq!(restored.keeps_override_entry(), s.keeps_override_entry());
    }

    /// A real configured with weight 0 whose rstate only was set is not drained for good after a
    /// restart: set ONLINE again, it has no override and no entry, as before the restart.
    #[test]
    fn rstate_only_of_a_zero_weight_real_is_no_drain(
        admin in prop_oneof![Just(AdminState::Offline), Just(AdminState::Down)],
    ) {
        let h = Hysteresis::new(1, 1).expect("non-zero");
        let mut s = RealState::new(h);
        s.set_admin(admin, 0);
        let (rstate, weight) = s.override_dump_entry().expect("an entry");
        prop_assert_eq!(weight, OverrideWeight::Absolute(0));
        let mut back = RealState::from_override_dump(h, rstate, weight);
        prop_assert_eq!(back, s);
        back.set_admin(AdminState::Online, 0);
        prop_assert_eq!(back.weight_override(), None);
        prop_assert!(!back.keeps_override_entry());
        prop_assert_eq!(back.effective_weight(10), 10);
    }

    #[test]
    fn override_text_round_trips(o in weight_override()) {
        prop_assert_eq!(WeightOverride::parse(&o.to_string()), Some(o));
    }
}

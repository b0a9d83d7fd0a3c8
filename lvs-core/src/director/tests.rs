use super::*;
use crate::config::xml::{parse_service_xml, TesterRegistry};
use crate::formats::dumps::{OverrideWeight, RState};
use crate::formats::ipvsfull::FullConfig;

const XML: &str = r#"<surealived>
<virtual name="web" addr="10.0.0.1" port="80" proto="tcp" sched="wrr" rt="dr">
  <tester proto="tcp" testport="80" retries2ok="2" retries2fail="1"
          notify_up="/n/up" notify_down="/n/down" real_notify_up="/n/rup" real_notify_down="/n/rdown"
          notify_min_reals="50%" notify_min_weight="15"/>
  <real name="a" addr="10.1.0.1" port="80" weight="10"/>
  <real name="b" addr="10.1.0.2" port="8080" weight="5" uthresh="100" lthresh="10" rt="masq"/>
  <real name="c" addr="10.1.0.3" port="80" weight="20"/>
</virtual>
<virtual name="dns" addr="10.0.0.2" port="53" proto="udp" sched="rr" rt="dr" ops="1" pers="30">
  <tester proto="tcp" testport="53" remove_on_fail="1"/>
  <real name="d" addr="10.2.0.1" port="53" weight="1"/>
</virtual>
</surealived>
"#;

fn services(xml: &str) -> ServiceConfig {
    parse_service_xml(xml, "t.xml", &TesterRegistry::builtin()).expect("valid xml")
}

fn web() -> ServiceKey {
    services(XML).virtuals[0].key
}

fn dns() -> ServiceKey {
    services(XML).virtuals[1].key
}

fn dk(a: &str, port: u16) -> DestKey {
    DestKey {
        addr: a.parse().expect("ip"),
        port,
    }
}

fn hyst(online: bool, rise: u32, fall: u32) -> Hysteresis {
    if online {
        Hysteresis::new(rise, fall).expect("h")
    } else {
        Hysteresis::new_offline(rise, fall).expect("h")
    }
}

fn lines(d: &[DiffRecord]) -> String {
    d.iter().map(DiffRecord::write).collect()
}

fn meta() -> Meta {
    Meta::from_unix(1_700_000_000, 0)
}

#[test]
fn full_config_is_the_original_text() {
    let d = Director::new(&services(XML));
    let text = d
        .full_config(meta(), "/d/diff_sync.1700000000".into())
        .write();
    assert_eq!(
        text,
        "meta version=1.0 mdate=2023-11-14 mtime=22:13:20\n\n\
         DIFF file=/d/diff_sync.1700000000\n\n\
         virtual vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wrr\n\
         real rname=a raddr=10.1.0.1 rport=80 rweight=10\n\
         real rname=b raddr=10.1.0.2 rport=8080 rweight=5 rl_thresh=10 ru_thresh=100 rrt=masq\n\
         real rname=c raddr=10.1.0.3 rport=80 rweight=20\n\n\
         virtual vname=dns vproto=udp vaddr=10.0.0.2 vport=53 vrt=dr vsched=rr vpers=30 vops=1\n\
         real rname=d raddr=10.2.0.1 rport=53 rweight=1\n\n"
    );
    // What ipvssync builds from the file is the director's own table.
    let parsed = FullConfig::parse(&text, "ipvsfull.cfg").expect("parses");
    assert_eq!(parsed.to_table().expect("table"), d.table());
}

#[test]
fn failing_real_gives_weight_zero_lines_and_offline_entry() {
    let mut d = Director::new(&services(XML));
    let c = d.set_verdict(&web(), &dk("10.1.0.1", 80), hyst(false, 2, 1));
    assert_eq!(
        lines(&c.diff),
        "cmd=addreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=a raddr=10.1.0.1 rport=80 rweight=0\n\
         cmd=chgreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=a raddr=10.1.0.1 rport=80 rweight=0\n"
    );
    assert!(c.offline_changed);
    assert_eq!(c.notifications.len(), 1);
    assert_eq!(c.notifications[0].script, PathBuf::from("/n/rdown"));
    assert_eq!(
        c.notifications[0].args,
        [
            "notify=DOWN",
            "vname=web",
            "vaddr=10.0.0.1",
            "vport=80",
            "vproto=tcp",
            "vfwmark=0",
            "rname=a",
            "raddr=10.1.0.1",
            "rport=80"
        ]
    );
    assert_eq!(d.offline_dump().write(), "10.0.0.1:80:0:0 - 10.1.0.1:80\n");
    // Same verdict again: nothing.
    assert!(d
        .set_verdict(&web(), &dk("10.1.0.1", 80), hyst(false, 2, 1))
        .is_empty());
    // Back up: the configured weight again, the "up" notifier, an empty offline.dump.
    let c = d.set_verdict(&web(), &dk("10.1.0.1", 80), hyst(true, 2, 1));
    assert!(lines(&c.diff).contains("cmd=chgreal") && lines(&c.diff).contains("rweight=10\n"));
    assert_eq!(c.notifications[0].script, PathBuf::from("/n/rup"));
    assert_eq!(d.offline_dump().write(), "");
}

#[test]
fn remove_on_fail_gives_delreal_and_leaves_the_full_file() {
    let mut d = Director::new(&services(XML));
    let c = d.set_verdict(&dns(), &dk("10.2.0.1", 53), hyst(false, 1, 1));
    assert_eq!(
        lines(&c.diff),
        "cmd=delreal vname=dns vproto=udp vaddr=10.0.0.2 vport=53 vfwmark=0 vrt=dr vsched=rr rname=d raddr=10.2.0.1 rport=53 rweight=0\n"
    );
    let full = d.full_config(meta(), "x".into()).write();
    assert!(!full.contains("rname=d"), "{full}");
    // The virtual keeps its blank line (it has a real list).
    assert!(full.ends_with("vops=1\n\n"), "{full}");
    assert!(d.table().destination(&dns(), &dk("10.2.0.1", 53)).is_none());
}

#[test]
fn rstate_down_removes_offline_drains_even_with_remove_on_fail() {
    let mut d = Director::new(&services(XML));
    let (reply, c) = d
        .rset(&dns(), &dk("10.2.0.1", 53), Some(AdminState::Offline), None)
        .expect("rset");
    assert_eq!(
        reply,
        RsetReply {
            rstate: AdminState::Offline,
            weight: 1,
            in_percent: false
        }
    );
    assert!(lines(&c.diff).starts_with("cmd=addreal") && lines(&c.diff).contains("rweight=0"));
    assert!(c.override_changed);
    let (_, c) = d
        .rset(&web(), &dk("10.1.0.3", 80), Some(AdminState::Down), None)
        .expect("rset");
    assert!(lines(&c.diff).starts_with("cmd=delreal"));
    let full = d.full_config(meta(), "x".into()).write();
    assert!(!full.contains("rname=c"));
    assert!(full.contains("rname=d raddr=10.2.0.1 rport=53 rweight=0"));
    // Both written as rstate-only entries: `weight=0` (absolute, "no override").
    assert_eq!(
        d.override_dump().write(),
        "10.0.0.1:80:0:0 - 10.1.0.3:80 - weight=0  rstate=DOWN\n\
         10.0.0.2:53:1:0 - 10.2.0.1:53 - weight=0  rstate=OFFLINE\n"
    );
    let s = d.stats_view();
    assert_eq!(
        (
            s.rstate_online,
            s.rstate_offline,
            s.rstate_down,
            s.override_size
        ),
        (2, 1, 1, 2)
    );
}

#[test]
fn override_rules() {
    let mut d = Director::new(&services(XML));
    let a = dk("10.1.0.1", 80);
    assert_eq!(
        d.rset(&web(), &a, None, None).map(|r| r.0),
        Err(RsetError::NothingToSet)
    );
    assert_eq!(
        d.rset(&dns(), &a, Some(AdminState::Down), None)
            .map(|r| r.0),
        Err(RsetError::NoReal)
    );
    let (reply, c) = d
        .rset(&web(), &a, None, Some(WeightOverride::Percent(50)))
        .expect("rset");
    assert_eq!((reply.weight, reply.in_percent), (50, true));
    assert!(lines(&c.diff).contains("rweight=5\n"));
    assert_eq!(
        d.override_dump().write(),
        "10.0.0.1:80:0:0 - 10.1.0.1:80 - weight=50% rstate=ONLINE\n"
    );
    // 100% with ONLINE deletes the override.
    let (reply, _) = d
        .rset(&web(), &a, None, Some(WeightOverride::Percent(100)))
        .expect("rset");
    assert_eq!((reply.weight, reply.in_percent), (10, false));
    assert_eq!(d.override_dump().write(), "");
    // The configured weight with OFFLINE is kept (not neutral with OFFLINE)...
    d.rset(
        &web(),
        &a,
        Some(AdminState::Offline),
        Some(WeightOverride::Absolute(10)),
    )
    .expect("rset");
    assert_eq!(
        d.override_dump().write(),
        "10.0.0.1:80:0:0 - 10.1.0.1:80 - weight=10  rstate=OFFLINE\n"
    );
    // ...and deleted when the rstate goes back to ONLINE.
    d.rset(&web(), &a, Some(AdminState::Online), None)
        .expect("rset");
    assert_eq!(d.override_dump().write(), "");
    // rweight=0 drains (quirk 7), written as 0%.
    let (_, c) = d
        .rset(&web(), &a, None, Some(WeightOverride::Absolute(0)))
        .expect("rset");
    assert!(lines(&c.diff).contains("rweight=0\n"));
    assert_eq!(
        d.override_dump().write(),
        "10.0.0.1:80:0:0 - 10.1.0.1:80 - weight=0% rstate=ONLINE\n"
    );
    let view = &d.listing()[0].reals[0];
    assert_eq!(
        (view.current_weight, view.conf_weight, view.in_ipvs),
        (0, 10, true)
    );
}

#[test]
fn dumps_restore_a_restart() {
    let mut d = Director::new(&services(XML));
    d.set_verdict(&web(), &dk("10.1.0.2", 8080), hyst(false, 2, 1));
    d.rset(
        &web(),
        &dk("10.1.0.3", 80),
        None,
        Some(WeightOverride::Percent(0)),
    )
    .expect("rset");
    d.rset(&dns(), &dk("10.2.0.1", 53), Some(AdminState::Down), None)
        .expect("rset");
    let off = OfflineDump::parse(&d.offline_dump().write(), "offline.dump").expect("parse");
    let ovr = OverrideDump::parse(&d.override_dump().write(), "override.dump").expect("parse");

    let mut e = Director::new(&services(XML));
    assert_eq!(e.restore_overrides(&ovr), 2);
    assert_eq!(e.restore_offline(&off), 1);
    assert_eq!(
        e.full_config(meta(), "x".into()).write(),
        d.full_config(meta(), "x".into()).write()
    );
    let b = e.real_state(&web(), &dk("10.1.0.2", 8080)).expect("b");
    assert!(!b.is_online());
    assert_eq!(b.hysteresis().fail(), 1);
    assert!(e.offline_reals().contains(&(web(), dk("10.1.0.2", 8080))));
    // An original's entry for a real no longer configured is ignored.
    let stray = OverrideDump {
        entries: vec![OverrideEntry {
            key: RealKey {
                vkey: vkey_of(&web()),
                real: dk("10.9.9.9", 80),
            },
            weight: OverrideWeight::Absolute(3),
            rstate: RState::Offline,
        }],
    };
    assert_eq!(e.restore_overrides(&stray), 0);
}

#[test]
fn virtual_notifier_thresholds() {
    let mut d = Director::new(&services(XML));
    // Not evaluated before every real of the virtual was tested.
    assert!(d.evaluate_notifiers().is_empty());
    for (a, p) in [("10.1.0.1", 80), ("10.1.0.2", 8080), ("10.1.0.3", 80)] {
        assert!(d.mark_tested(&web(), &dk(a, p)));
    }
    assert!(!d.mark_tested(&web(), &dk("10.1.0.1", 80)));
    let c = d.evaluate_notifiers();
    assert_eq!(c.notifications.len(), 1);
    assert_eq!(c.notifications[0].script, PathBuf::from("/n/up"));
    assert_eq!(
        c.notifications[0].args,
        [
            "notify=UP",
            "vname=web",
            "vaddr=10.0.0.1",
            "vport=80",
            "vproto=tcp",
            "vfwmark=0"
        ]
    );
    assert_eq!(d.notify_state(&web()), Some(NotifyState::Up));
    assert!(d.evaluate_notifiers().is_empty(), "no change, no run");
    // c (20) fails: 2 of 3 reals up (>= 50%), weight 15 (>= 15, the absolute form works).
    d.set_verdict(&web(), &dk("10.1.0.3", 80), hyst(false, 2, 1));
    assert!(d.evaluate_notifiers().is_empty());
    // b (5) drained too: weight 10 < 15 -> DOWN.
    d.rset(
        &web(),
        &dk("10.1.0.2", 8080),
        Some(AdminState::Offline),
        None,
    )
    .expect("rset");
    let c = d.evaluate_notifiers();
    assert_eq!(c.notifications[0].script, PathBuf::from("/n/down"));
    assert!(c.notify_changed);
    assert_eq!(
        d.notify_dump().write(),
        "vnotify 10.0.0.1:80:0:0 - state=DOWN\nvnotify 10.0.0.2:53:1:0 - state=UNKNOWN\n"
    );
    // Restored from notify.dump: no re-run of the same verdict.
    let mut e = Director::new(&services(XML));
    assert_eq!(
        e.restore_notify(&NotifyDump::parse(&d.notify_dump().write(), "n").expect("p")),
        2
    );
    assert_eq!(e.notify_state(&web()), Some(NotifyState::Down));
}

#[test]
fn percent_min_reals_counts_only_up_reals() {
    let xml = XML
        .replace("notify_min_weight=\"15\"", "notify_min_weight=\"0\"")
        .replace("notify_min_reals=\"50%\"", "notify_min_reals=\"67%\"");
    let mut d = Director::new(&services(&xml));
    for (a, p) in [("10.1.0.1", 80), ("10.1.0.2", 8080), ("10.1.0.3", 80)] {
        d.mark_tested(&web(), &dk(a, p));
    }
    d.set_verdict(&web(), &dk("10.1.0.3", 80), hyst(false, 2, 1));
    // 2 of 3 = 66.6% < 67%.
    let c = d.evaluate_notifiers();
    assert_eq!(c.notifications[0].script, PathBuf::from("/n/down"));
}

#[test]
fn reload_keeps_state_and_diffs_only_what_changed() {
    let mut d = Director::new(&services(XML));
    d.set_verdict(&web(), &dk("10.1.0.1", 80), hyst(false, 2, 1));
    d.rset(
        &web(),
        &dk("10.1.0.2", 8080),
        None,
        Some(WeightOverride::Percent(40)),
    )
    .expect("rset");
    d.mark_tested(&web(), &dk("10.1.0.3", 80));
    // c's weight changes, b stays, a stays (failing), a new real e, and d of dns goes.
    let xml = XML
        .replace(
            r#"<real name="c" addr="10.1.0.3" port="80" weight="20"/>"#,
            r#"<real name="c" addr="10.1.0.3" port="80" weight="30"/>
  <real name="e" addr="10.1.0.5" port="80" weight="7"/>"#,
        )
        .replace(
            r#"<real name="d" addr="10.2.0.1" port="53" weight="1"/>"#,
            "",
        );
    let r = d.reload(&services(&xml));
    assert!(!r.full_write);
    assert_eq!((r.added, r.removed, r.kept), (1, 1, 3));
    assert_eq!(
        lines(&r.change.diff),
        "cmd=addreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=c raddr=10.1.0.3 rport=80 rweight=30\n\
         cmd=chgreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=c raddr=10.1.0.3 rport=80 rweight=30\n\
         cmd=addreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=e raddr=10.1.0.5 rport=80 rweight=7\n\
         cmd=chgreal vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0 vrt=dr vsched=wrr rname=e raddr=10.1.0.5 rport=80 rweight=7\n\
         cmd=delreal vname=dns vproto=udp vaddr=10.0.0.2 vport=53 vfwmark=0 vrt=dr vsched=rr rname=d raddr=10.2.0.1 rport=53 rweight=1\n"
    );
    let a = d.real_state(&web(), &dk("10.1.0.1", 80)).expect("a");
    assert!(!a.is_online(), "the failing real stays failing");
    let b = d.real_state(&web(), &dk("10.1.0.2", 8080)).expect("b");
    assert_eq!(b.weight_override(), Some(WeightOverride::Percent(40)));
    assert!(!d.all_tested(), "the added real is untested");
    // An unchanged file changes nothing.
    let r = d.reload(&services(&xml));
    assert!(r.change.diff.is_empty() && !r.full_write);
}

#[test]
fn reload_of_a_changed_virtual_asks_for_a_full_write() {
    let mut d = Director::new(&services(XML));
    let r = d.reload(&services(&XML.replace("sched=\"wrr\"", "sched=\"wlc\"")));
    assert!(r.full_write);
    assert!(r.change.diff.is_empty());
    assert!(d
        .full_config(meta(), "x".into())
        .write()
        .contains("vsched=wlc"));
    let two = XML.replace(
        "</surealived>",
        r#"<virtual name="new" addr="10.0.0.9" port="80" proto="tcp" sched="rr" rt="dr">
  <tester proto="tcp" testport="80"/>
  <real name="z" addr="10.9.0.1" port="80" weight="1"/>
</virtual></surealived>"#,
    );
    let r = d.reload(&services(&two));
    assert!(r.full_write);
    assert_eq!(r.added, 1);
    assert_eq!(d.size(), (3, 5));
}

#[test]
fn fwmark_virtuals_use_the_unspecified_address() {
    let xml = r#"<surealived>
<virtual name="fw" fwmark="7" proto="fwmark" sched="rr" rt="dr">
  <tester proto="tcp" testport="80"/>
  <real name="a" addr="10.1.0.1" port="80" weight="3"/>
</virtual></surealived>"#;
    let mut d = Director::new(&services(xml));
    let key = services(xml).virtuals[0].key;
    assert!(d.full_config(meta(), "x".into()).write().contains(
        "virtual vname=fw vproto=fwmark vaddr=0.0.0.0 vport=0 vrt=dr vsched=rr vfwmark=7\n"
    ));
    let c = d.set_verdict(&key, &dk("10.1.0.1", 80), hyst(false, 1, 1));
    assert!(lines(&c.diff).contains("vproto=fwmark vaddr=0.0.0.0 vport=0 vfwmark=7"));
    assert_eq!(d.offline_dump().write(), "0.0.0.0:0:2:7 - 10.1.0.1:80\n");
}

mod convergence {
    //! What ipvssync holds (the full file, then every diff record applied as it applies them)
    //! is always the director's own table, whatever happens in between.

    use super::*;
    use crate::formats::diffs::apply_to_table;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Verdict(usize, usize, bool),
        Rset(usize, usize, Option<u8>, Option<(bool, u32)>),
        Reload(usize),
    }

    fn variants() -> Vec<ServiceConfig> {
        let changed = XML
            .replace(
                r#"<real name="c" addr="10.1.0.3" port="80" weight="20"/>"#,
                r#"<real name="c" addr="10.1.0.3" port="80" weight="30" rt="tun"/>
  <real name="e" addr="10.1.0.5" port="80" weight="7"/>"#,
            )
            .replace(r#"weight="5" uthresh="100""#, r#"weight="5" uthresh="90""#);
        let new_virtual = XML.replace("sched=\"rr\"", "sched=\"wlc\"");
        vec![services(XML), services(&changed), services(&new_virtual)]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..2usize, 0..4usize, any::<bool>()).prop_map(|(v, r, o)| Step::Verdict(v, r, o)),
            (
                0..2usize,
                0..4usize,
                proptest::option::of(0..3u8),
                proptest::option::of((any::<bool>(), 0..150u32))
            )
                .prop_map(|(v, r, s, w)| Step::Rset(v, r, s, w)),
            (0..3usize).prop_map(Step::Reload),
        ]
    }

    proptest! {
        #[test]
        fn the_files_converge_to_the_directors_table(steps in proptest::collection::vec(step(), 1..40)) {
            let variants = variants();
            let mut current = variants[0].clone();
            let mut d = Director::new(&current);
            let mut full = d.full_config(meta(), "x".into());
            let mut held = full.to_table().expect("table");
            for s in steps {
                let pick = |v: usize, r: usize| {
                    let v = &current.virtuals[v % current.virtuals.len()];
                    (v.key, v.reals[r % v.reals.len()].key(), v.tester.retries2ok, v.tester.retries2fail)
                };
                let change = match s {
                    Step::Verdict(v, r, online) => {
                        let (vk, rk, rise, fall) = pick(v, r);
                        d.set_verdict(&vk, &rk, hyst(online, rise, fall))
                    }
                    Step::Rset(v, r, st, w) => {
                        let (vk, rk, _, _) = pick(v, r);
                        let st = st.map(|n| [AdminState::Online, AdminState::Offline, AdminState::Down][usize::from(n)]);
                        let w = w.map(|(p, n)| if p { WeightOverride::Percent(n) } else { WeightOverride::Absolute(n) });
                        match d.rset(&vk, &rk, st, w) {
                            Ok((_, c)) => c,
                            Err(e) => {
                                prop_assert_eq!(e, RsetError::NothingToSet);
                                Change::default()
                            }
                        }
                    }
                    Step::Reload(i) => {
                        current = variants[i].clone();
                        let r = d.reload(&current);
                        if r.full_write {
                            full = d.full_config(meta(), "x".into());
                            held = full.to_table().expect("table");
                        }
                        r.change
                    }
                };
                for rec in &change.diff {
                    // ipvssync logs a record it cannot apply and goes on.
                    let _ = apply_to_table(rec, &mut held, |k| full.default_rt(k));
                }
                prop_assert_eq!(&held, &d.table());
            }
        }
    }
}

//! The probe engine on tokio's paused clock with a scripted prober, plus one run of the real
//! tcp prober against loopback listeners.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use lvs_probe::engine::{Engine, EngineConfig, Event, RealId};
use lvs_probe::lvs_core::config::xml::{parse_service_xml, ServiceConfig, TesterSpec, Transport};
use lvs_probe::lvs_core::model::DestKey;
use lvs_probe::lvs_core::state::Transition;
use lvs_probe::{
    Chunk, Direction, Failure, Outcome, Prober, ProberRegistry, Target, Timings, Transcript,
};
use tokio::sync::mpsc;
use tokio::time::{advance, sleep, Instant};

/// One scripted test: how long it takes, when it connects, how it ends.
#[derive(Debug, Clone)]
struct Step {
    dur: Duration,
    connect: Option<Duration>,
    result: Result<(), Failure>,
}

fn ok(ms: u64) -> Step {
    Step {
        dur: Duration::from_millis(ms),
        connect: Some(Duration::from_millis(ms / 2)),
        result: Ok(()),
    }
}

fn fail(ms: u64, f: Failure) -> Step {
    Step {
        dur: Duration::from_millis(ms),
        connect: None,
        result: Err(f),
    }
}

/// A call the fake prober saw.
#[derive(Debug, Clone)]
struct Call {
    addr: IpAddr,
    port: u16,
    start: Instant,
    end: Instant,
}

/// A prober of kind `fake` that follows a script per address (then repeats `default`), counts
/// the probes in flight and logs every call.
#[derive(Debug)]
struct Fake {
    script: Mutex<HashMap<IpAddr, VecDeque<Step>>>,
    default: Step,
    calls: Mutex<Vec<Call>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    abandoned: AtomicUsize,
}

impl Fake {
    fn new(default: Step) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(HashMap::new()),
            default,
            calls: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            abandoned: AtomicUsize::new(0),
        })
    }

    fn script(&self, addr: &str, steps: Vec<Step>) {
        self.script
            .lock()
            .expect("lock")
            .insert(addr.parse().expect("ip"), steps.into());
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }

    fn calls_to(&self, addr: &str) -> Vec<Call> {
        let addr: IpAddr = addr.parse().expect("ip");
        self.calls()
            .into_iter()
            .filter(|c| c.addr == addr)
            .collect()
    }
}

/// Counts probes abandoned before their end.
struct InFlight<'a>(&'a Fake, bool);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.1 {
            self.0.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Prober for Fake {
    fn spec(&self) -> TesterSpec {
        TesterSpec::new("fake", Transport::Tcp)
    }

    async fn probe(&self, target: &Target, _deadline: Instant) -> Outcome {
        let start = Instant::now();
        let step = self
            .script
            .lock()
            .expect("lock")
            .get_mut(&target.addr)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| self.default.clone());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let mut guard = InFlight(self, false);
        sleep(step.dur).await;
        guard.1 = true;
        drop(guard);
        self.calls.lock().expect("lock").push(Call {
            addr: target.addr,
            port: target.port,
            start,
            end: Instant::now(),
        });
        let transcript = target.transcript.then(|| Transcript {
            chunks: vec![
                Chunk {
                    at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                    direction: Direction::Sent,
                    bytes: b"PING\r\n".to_vec(),
                },
                Chunk {
                    at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_001),
                    direction: Direction::Received,
                    bytes: b"+PONG\r\n".to_vec(),
                },
            ],
        });
        Outcome {
            result: step.result,
            timings: Timings {
                connect: step.connect,
                tls: None,
                first_response: None,
                total: step.dur,
            },
            bytes_sent: 6,
            bytes_received: 7,
            transcript,
            output: None,
        }
    }
}

fn registry(fake: &Arc<Fake>) -> ProberRegistry {
    let mut r = ProberRegistry::builtin();
    r.register(fake.clone()).expect("valid spec");
    r
}

/// `<virtual>` elements: (name, vport, tester attributes, reals as (name, addr, extra attrs)).
type V<'a> = (&'a str, u16, &'a str, Vec<(&'a str, &'a str, &'a str)>);

fn services(reg: &ProberRegistry, virtuals: &[V<'_>]) -> ServiceConfig {
    let mut xml = String::from("<surealived>\n");
    for (name, vport, tester, reals) in virtuals {
        xml.push_str(&format!(
            r#"<virtual name="{name}" addr="192.0.2.1" port="{vport}" proto="tcp" sched="wrr" rt="dr">
  <tester proto="fake" testport="80" {tester}/>
"#
        ));
        for (rname, addr, extra) in reals {
            xml.push_str(&format!(
                r#"  <real name="{rname}" addr="{addr}" port="80" weight="1" {extra}/>
"#
            ));
        }
        xml.push_str("</virtual>\n");
    }
    xml.push_str("</surealived>\n");
    parse_service_xml(&xml, "t.xml", reg.testers()).expect("valid service file")
}

fn config(startup_ms: u64, max_in_flight: usize) -> EngineConfig {
    EngineConfig {
        startup_delay: Duration::from_millis(startup_ms),
        max_in_flight,
        seed: Some(7),
        ..EngineConfig::default()
    }
}

fn id(cfg: &ServiceConfig, v: usize, r: usize) -> RealId {
    let virt = &cfg.virtuals[v];
    RealId {
        virtual_key: virt.key,
        real: virt.reals[r].key(),
    }
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

fn many_reals(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("r{i}"),
                format!("127.0.{}.{}", i / 250, 1 + i % 250),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn first_starts_spread_over_the_startup_window() {
    let fake = Fake::new(ok(10));
    let reg = registry(&fake);
    let reals = many_reals(200);
    let list: Vec<_> = reals
        .iter()
        .map(|(n, a)| (n.as_str(), a.as_str(), ""))
        .collect();
    let cfg = services(&reg, &[("v", 80, r#"loopdelay="10""#, list)]);
    let (tx, _rx) = mpsc::unbounded_channel();
    let t0 = Instant::now();
    let engine = Engine::new(config(1000, 1024), reg, tx);
    let report = engine.reconcile(&cfg).expect("reconciled");
    assert_eq!((report.added, report.tests), (200, 200));
    sleep(Duration::from_millis(1500)).await;
    let calls = fake.calls();
    assert_eq!(calls.len(), 200, "each real tested once in the window");
    let mut tenths = [0usize; 10];
    for c in &calls {
        let off = c.start - t0;
        assert!(off < Duration::from_secs(1), "{off:?}");
        tenths[(off.as_millis() / 100) as usize] += 1;
    }
    // Uniform over the window: every tenth gets some, none gets most.
    assert!(tenths.iter().all(|&n| (5..=45).contains(&n)), "{tenths:?}");
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn next_test_starts_loopdelay_after_the_previous_ended() {
    let fake = Fake::new(ok(300));
    fake.script("127.0.0.1", vec![ok(300), ok(1200), ok(50)]);
    let reg = registry(&fake);
    let cfg = services(
        &reg,
        &[("v", 80, r#"loopdelay="2""#, vec![("a", "127.0.0.1", "")])],
    );
    let (tx, _rx) = mpsc::unbounded_channel();
    let engine = Engine::new(config(100, 1024), reg, tx);
    engine.reconcile(&cfg).expect("reconciled");
    sleep(Duration::from_secs(10)).await;
    let calls = fake.calls_to("127.0.0.1");
    assert!(calls.len() >= 4, "{calls:?}");
    for w in calls.windows(2) {
        assert_eq!(w[1].start - w[0].end, Duration::from_secs(2));
    }
    assert_eq!(calls[1].end - calls[1].start, Duration::from_millis(1200));
    // No lag on an idle engine beyond tokio's timer granularity (1 ms: the random first start
    // falls between two ticks).
    let lag = engine.scheduling_lag();
    assert_eq!(lag.count(), calls.len() as u64 + 1, "one more started");
    assert!(lag.quantile(1.0) < Duration::from_millis(1));
    assert_eq!(lag.quantile(0.5), Duration::ZERO);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn tests_in_flight_never_exceed_the_cap() {
    let fake = Fake::new(ok(1000));
    let reg = registry(&fake);
    let reals = many_reals(50);
    let list: Vec<_> = reals
        .iter()
        .map(|(n, a)| (n.as_str(), a.as_str(), ""))
        .collect();
    let cfg = services(&reg, &[("v", 80, r#"loopdelay="1""#, list)]);
    let (tx, _rx) = mpsc::unbounded_channel();
    let engine = Engine::new(config(100, 5), reg, tx);
    engine.reconcile(&cfg).expect("reconciled");
    sleep(Duration::from_millis(500)).await;
    assert_eq!(engine.in_flight(), 5);
    sleep(Duration::from_secs(20)).await;
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 5);
    // 5 slots of 1 s tests: 5 tests a second at most.
    let n = fake.calls().len();
    assert!((95..=100).contains(&n), "{n}");
    // The queue shows as scheduling lag.
    assert!(engine.scheduling_lag().quantile(0.99) > Duration::from_secs(1));
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn identical_tests_of_two_virtuals_run_once_and_both_get_the_event() {
    let fake = Fake::new(fail(20, Failure::Refused));
    let reg = registry(&fake);
    let cfg = services(
        &reg,
        &[
            ("web", 80, r#"loopdelay="1""#, vec![("a", "127.0.0.1", "")]),
            (
                "web2",
                8080,
                r#"loopdelay="1""#,
                vec![("a2", "127.0.0.1", "")],
            ),
            // Another loopdelay: another test.
            (
                "slow",
                81,
                r#"loopdelay="3""#,
                vec![("a3", "127.0.0.1", "")],
            ),
        ],
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let engine = Engine::new(config(100, 1024), reg, tx);
    let report = engine.reconcile(&cfg).expect("reconciled");
    assert_eq!((report.added, report.tests), (3, 2));
    assert_eq!(engine.size(), (3, 2));
    sleep(Duration::from_millis(5500)).await;
    // The 1 s test: 6 runs (a period of 1.02 s); the 3 s one: 2 runs.
    let runs = fake.calls_to("127.0.0.1").len();
    assert_eq!(runs, 8);
    let events = drain(&mut rx);
    assert_eq!(events.len(), 3, "{events:?}");
    let names: Vec<_> = events.iter().map(|e| &*e.vname).collect();
    assert!(names.contains(&"web") && names.contains(&"web2") && names.contains(&"slow"));
    let web = events.iter().find(|e| &*e.vname == "web").expect("web");
    let web2 = events.iter().find(|e| &*e.vname == "web2").expect("web2");
    assert_eq!(web.at, web2.at, "one test, one result");
    assert_eq!(web.id, id(&cfg, 0, 0));
    assert_eq!(web2.id, id(&cfg, 1, 0));
    assert_eq!(web2.reason, Some(Failure::Refused));
    let snap = engine.snapshot();
    assert_eq!(snap[0].reals[0].stats.total, snap[1].reals[0].stats.total);
    assert_eq!(engine.counters().tests as usize, runs);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn hysteresis_transitions_go_out_with_reasons() {
    let fake = Fake::new(ok(10));
    fake.script(
        "127.0.0.1",
        vec![
            ok(10),
            fail(10, Failure::ConnectTimeout),
            ok(10),
            fail(10, Failure::Refused),
            fail(10, Failure::BadStatus { code: 503 }),
            fail(10, Failure::Refused),
            ok(10),
            ok(10),
        ],
    );
    let reg = registry(&fake);
    let cfg = services(
        &reg,
        &[(
            "v",
            80,
            r#"loopdelay="1" retries2ok="2" retries2fail="2""#,
            vec![("a", "127.0.0.1", "")],
        )],
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let engine = Engine::new(config(10, 1024), reg, tx);
    engine.reconcile(&cfg).expect("reconciled");
    sleep(Duration::from_millis(4500)).await;
    // ok, fail, ok, fail, fail -> down on the 5th test (its reason: the 503).
    let events = drain(&mut rx);
    assert_eq!(events.len(), 1, "{events:?}");
    let down = &events[0];
    assert_eq!(down.transition, Transition::Down);
    assert!(down.was_online && !down.online);
    assert_eq!(down.reason, Some(Failure::BadStatus { code: 503 }));
    assert_eq!((down.hysteresis.ok(), down.hysteresis.fail()), (0, 2));
    assert_eq!(&*down.rname, "a");
    let r = engine.real(&id(&cfg, 0, 0)).expect("real");
    assert!(!r.hysteresis.is_online());
    assert_eq!(r.last_failure, Some(Failure::BadStatus { code: 503 }));
    // fail, ok, ok -> up on the 8th.
    sleep(Duration::from_secs(3)).await;
    let events = drain(&mut rx);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].transition, Transition::Up);
    assert_eq!(events[0].reason, None);
    assert!(!events[0].was_online && events[0].online);
    let c = engine.counters();
    assert_eq!((c.online_set, c.offline_set), (1, 1));
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn reals_listed_offline_need_rise_successes() {
    let fake = Fake::new(ok(10));
    let reg = registry(&fake);
    let cfg = services(
        &reg,
        &[(
            "v",
            80,
            r#"loopdelay="1" retries2ok="3""#,
            vec![("a", "127.0.0.1", "")],
        )],
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut conf = config(10, 8);
    conf.start_offline.insert(id(&cfg, 0, 0));
    let engine = Engine::new(conf, reg, tx);
    engine.reconcile(&cfg).expect("reconciled");
    assert!(!engine
        .real(&id(&cfg, 0, 0))
        .expect("real")
        .hysteresis
        .is_online());
    sleep(Duration::from_millis(2100)).await;
    let events = drain(&mut rx);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].transition, Transition::Up);
    assert_eq!(fake.calls().len(), 3);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn statistics_after_known_outcomes() {
    let fake = Fake::new(ok(10));
    fake.script(
        "127.0.0.1",
        vec![
            ok(100),                             // conn 50 ms, resp 50, total 100
            ok(300),                             // 150, 150, 300
            fail(40, Failure::Refused),          // -3 ms, 0, 40
            fail(1000, Failure::ConnectTimeout), // -1 ms, 0, 1000
        ],
    );
    fake.script("127.0.0.2", vec![ok(20)]);
    let reg = registry(&fake);
    let cfg = services(
        &reg,
        &[(
            "v",
            80,
            r#"loopdelay="1" stats_samples="2" retries2fail="9""#,
            vec![("a", "127.0.0.1", ""), ("b", "127.0.0.2", "")],
        )],
    );
    let (tx, _rx) = mpsc::unbounded_channel();
    let engine = Engine::new(config(10, 8), reg, tx);
    engine.reconcile(&cfg).expect("reconciled");
    // a: starts at t<10ms, +100 +1000, +300 +1000, +40 +1000, +1000 (ends before 4.5 s)
    sleep(Duration::from_millis(4500)).await;
    assert_eq!(fake.calls_to("127.0.0.1").len(), 4);
    let snap = engine.snapshot();
    let a = &snap[0].reals[0].stats;
    assert_eq!((a.total, a.successes, a.failures), (4, 2, 2));
    assert_eq!(
        (a.last.conn, a.last.resp, a.last.total),
        (-1000, 0, 1_000_000)
    );
    // Over the last two: (-3000 + -1000)/2, 0, (40 ms + 1000 ms)/2.
    assert_eq!(
        (a.sample_avg.conn, a.sample_avg.resp, a.sample_avg.total),
        (-2000, 0, 520_000)
    );
    let life = a.lifetime_avg();
    assert_eq!(
        (life.conn, life.resp, life.total),
        (
            (50_000 + 150_000 - 3000 - 1000) / 4,
            200_000 / 4,
            1_440_000 / 4
        )
    );
    assert_eq!((a.problems.conn, a.problems.arp, a.problems.rst), (1, 0, 1));
    let rec = a.to_record(snap[0].reals[0].key);
    assert_eq!(rec.avg_ms.total, 520);
    assert_eq!(rec.total_ms.total, 1440);
    // The virtual: b's 5 tests were ok(20) then ok(10) x4.
    let v = &snap[0].stats;
    assert_eq!(v.total, 9);
    assert_eq!(v.samples, 2);
    assert_eq!((v.problems.conn, v.problems.rst), (1, 1));
    let b = &snap[0].reals[1].stats;
    assert_eq!(b.sample_avg.total, 10_000);
    assert_eq!(v.sample_avg.total, (520_000 + 10_000) / 2);
    let c = engine.counters();
    assert_eq!((c.tests, c.bytes_sent, c.bytes_received), (9, 54, 63));
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn reconcile_keeps_unchanged_timers_and_moves_only_the_others() {
    let fake = Fake::new(ok(100));
    let reg = registry(&fake);
    let before = services(
        &reg,
        &[(
            "v",
            80,
            r#"loopdelay="1""#,
            vec![
                ("keep", "127.0.0.1", ""),
                ("change", "127.0.0.2", ""),
                ("remove", "127.0.0.3", ""),
            ],
        )],
    );
    let (tx, _rx) = mpsc::unbounded_channel();
    let engine = Engine::new(config(1000, 64), reg, tx);
    engine.reconcile(&before).expect("reconciled");
    sleep(Duration::from_millis(3050)).await;
    let keep_before = fake.calls_to("127.0.0.1");
    let kept_stats = engine.real(&id(&before, 0, 0)).expect("keep").stats;
    assert!(kept_stats.total >= 2);
    let t_reload = Instant::now();
    let after = services(
        &reg_of(&fake),
        &[(
            "renamed",
            80,
            r#"loopdelay="1" retries2fail="3""#,
            vec![
                ("keep", "127.0.0.1", ""),
                ("change", "127.0.0.2", r#"testport="81""#),
                ("add", "127.0.0.4", ""),
            ],
        )],
    );
    let report = engine.reconcile(&after).expect("reconciled");
    assert_eq!(
        (
            report.added,
            report.removed,
            report.changed,
            report.unchanged,
            report.tests
        ),
        (1, 1, 1, 1, 3)
    );
    sleep(Duration::from_secs(4)).await;
    // keep: the same cadence straight through the reload.
    let keep = fake.calls_to("127.0.0.1");
    assert!(keep.len() >= keep_before.len() + 3);
    for w in keep.windows(2) {
        assert_eq!(w[1].start - w[0].end, Duration::from_secs(1));
    }
    let r = engine.real(&id(&after, 0, 0)).expect("keep");
    assert!(
        r.stats.total > kept_stats.total,
        "statistics kept and counting"
    );
    assert_eq!(r.hysteresis.fall(), 3, "retries applied in place");
    // remove: nothing after the reload.
    assert!(fake
        .calls_to("127.0.0.3")
        .iter()
        .all(|c| c.start < t_reload));
    // change: its new test (port 81) starts within startup_delay of the reload; port 80 stops.
    let change = fake.calls_to("127.0.0.2");
    assert!(change
        .iter()
        .filter(|c| c.port == 80)
        .all(|c| c.start < t_reload));
    let first81 = change.iter().find(|c| c.port == 81).expect("new test ran");
    assert!(first81.start - t_reload < Duration::from_secs(1));
    let add = fake.calls_to("127.0.0.4");
    assert!(add[0].start - t_reload < Duration::from_secs(1));
    assert_eq!(engine.snapshot()[0].name.as_ref(), "renamed");
    // Unknown tester kinds are refused and change nothing.
    let refused = services(&reg_of(&fake), &[]);
    assert_eq!(engine.reconcile(&refused).expect("empty").removed, 3);
    assert_eq!(engine.size(), (0, 0));
    engine.shutdown().await;
}

fn reg_of(fake: &Arc<Fake>) -> ProberRegistry {
    registry(fake)
}

#[tokio::test(start_paused = true)]
async fn shutdown_abandons_probes_in_flight() {
    let fake = Fake::new(ok(100_000));
    let reg = registry(&fake);
    let cfg = services(
        &reg,
        &[(
            "v",
            80,
            r#"loopdelay="1""#,
            vec![("a", "127.0.0.1", ""), ("b", "127.0.0.2", "")],
        )],
    );
    let (tx, _rx) = mpsc::unbounded_channel();
    let engine = Engine::new(config(10, 8), reg, tx);
    engine.reconcile(&cfg).expect("reconciled");
    sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.in_flight.load(Ordering::SeqCst), 2);
    engine.shutdown().await;
    assert_eq!(fake.in_flight.load(Ordering::SeqCst), 0);
    assert_eq!(fake.abandoned.load(Ordering::SeqCst), 2);
    advance(Duration::from_secs(200)).await;
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn debugcomm_writes_the_latest_conversation_in_the_originals_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Fake::new(ok(1));
    let reg = registry(&fake);
    let cfg = services(
        &reg,
        &[
            (
                "web",
                80,
                r#"loopdelay="1" debugcomm="1""#,
                vec![("a", "127.0.0.1", "")],
            ),
            (
                "quiet",
                81,
                r#"loopdelay="1""#,
                vec![("b", "127.0.0.2", "")],
            ),
        ],
    );
    let (tx, _rx) = mpsc::unbounded_channel();
    let conf = EngineConfig {
        debug_comm: true,
        debug_comm_path: dir.path().to_path_buf(),
        ..config(1, 8)
    };
    let engine = Engine::new(conf, reg, tx);
    engine.reconcile(&cfg).expect("reconciled");
    let file = dir.path().join("web_a");
    let t0 = std::time::Instant::now();
    while !file.exists() && t0.elapsed() < Duration::from_secs(5) {
        sleep(Duration::from_millis(5)).await;
    }
    sleep(Duration::from_millis(50)).await;
    let text = std::fs::read_to_string(&file).expect("dump written");
    assert_eq!(
        text,
        "[2023-11-14 22:13:20.000000]  sd_write ->\nPING\r\n\n\
         [2023-11-14 22:13:21.000000]  sd_read <-\n+PONG\r\n\n"
    );
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(files, ["web_a"], "only the virtual with debugcomm");
    // After the next test the file holds that test alone.
    sleep(Duration::from_millis(1100)).await;
    assert_eq!(std::fs::read_to_string(&file).expect("dump"), text);
    assert_eq!(engine.counters().debugcomm_dropped, 0);
    engine.shutdown().await;
}

#[tokio::test]
async fn real_tcp_prober_against_loopback_listeners() {
    let up = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = up.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = up.accept().await {
            drop(s);
        }
    });
    // A port nobody listens on (bound then closed): refused.
    let closed = std::net::TcpListener::bind("127.0.0.2:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let reg = ProberRegistry::builtin();
    let xml = format!(
        r#"<surealived>
<virtual name="v" addr="192.0.2.1" port="80" proto="tcp" sched="wrr" rt="dr">
  <tester proto="tcp" testport="1" loopdelay="1" timeout="2"/>
  <real name="up" addr="127.0.0.1" port="80" testport="{port}" weight="1"/>
  <real name="down" addr="127.0.0.2" port="80" testport="{closed_port}" weight="1"/>
</virtual>
</surealived>"#
    );
    let cfg = parse_service_xml(&xml, "t.xml", reg.testers()).expect("valid");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let engine = Engine::new(config(20, 8), reg, tx);
    engine.reconcile(&cfg).expect("reconciled");
    let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event in time")
        .expect("event");
    assert_eq!(&*event.rname, "down");
    assert_eq!(event.transition, Transition::Down);
    assert_eq!(event.reason, Some(Failure::Refused));
    sleep(Duration::from_millis(1200)).await;
    let snap = engine.snapshot();
    let upstats = &snap[0].reals[0].stats;
    assert!(upstats.total >= 2 && upstats.failures == 0, "{upstats:?}");
    assert!(upstats.last.conn >= 0 && upstats.last.total >= upstats.last.conn);
    assert!(snap[0].reals[0].hysteresis.is_online());
    let down = &snap[0].reals[1].stats;
    assert_eq!(down.problems.rst, down.total);
    assert_eq!(down.last.conn, -3000);
    assert!(rx.try_recv().is_err(), "no other transition");
    assert_eq!(
        snap[0].reals[1].key,
        DestKey {
            addr: "127.0.0.2".parse().expect("ip"),
            port: 80
        }
    );
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn seeded_statistics_do_not_count_as_a_test() {
    use lvs_probe::lvs_core::formats::dumps::{Problems, RealStatsRecord, Times};
    let fake = Fake::new(ok(10));
    let reg = registry(&fake);
    let cfg = services(
        &reg,
        &[("v", 80, r#"loopdelay="2""#, vec![("a", "127.0.0.1", "")])],
    );
    let (tx, _rx) = mpsc::unbounded_channel();
    let engine = Engine::new(config(1000, 1024), reg, tx);
    engine.reconcile(&cfg).expect("reconciled");
    let a = id(&cfg, 0, 0);
    let ms = Times {
        conn: 1,
        resp: 2,
        total: 3,
    };
    let record = RealStatsRecord {
        real: a.real,
        total: 40,
        avg_ms: ms,
        avg_us: Times {
            conn: 1000,
            resp: 2000,
            total: 3000,
        },
        total_ms: Times {
            conn: 40,
            resp: 80,
            total: 120,
        },
        total_us: Times {
            conn: 40_000,
            resp: 80_000,
            total: 120_000,
        },
        problems: Problems::default(),
    };
    assert!(engine.seed_stats(&a, &record));
    let seeded = engine.real(&a).expect("real");
    assert_eq!(seeded.stats.total, 40);
    assert!(!seeded.tested, "a statistic from the dump is not a test");
    sleep(Duration::from_millis(1100)).await;
    let after = engine.real(&a).expect("real");
    assert!(after.tested, "its first test ran within startup_delay");
    assert_eq!(after.stats.total, 41);
    engine.shutdown().await;
}

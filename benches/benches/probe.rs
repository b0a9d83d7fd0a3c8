//! criterion benchmarks of `lvs-probe`:
//!
//! * `engine/tick_10k`: the engine's own cost per test, without I/O: 10,000 `no-test` reals at
//!   a 1 s `loopdelay` on tokio's paused clock; one iteration is one simulated second (10,000
//!   timer wake-ups, slot acquisitions, probes that return at once, and result fan-outs into
//!   hysteresis and statistics). Throughput is in tests.
//! * `engine/reconcile_10k_unchanged`: a reload of the same 10,000 reals (each compared with
//!   what runs; nothing restarts), what a SIGHUP costs the daemon;
//! * `http/request`: encoding the original's `GET` request;
//! * `http/read_naive`, `http/read_body`: `ResponseReader` deciding on a status line, and on a
//!   whole response with a 1 KiB body and a regex;
//! * `dns/query`: encoding the SOA query; `dns/check_reply`: judging a reply.
//!
//! `cargo bench -p lvs-benches --bench probe -- --quick` keeps the run short.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use lvs_probe::dns::Query;
use lvs_probe::engine::{Engine, EngineConfig};
use lvs_probe::http::{request, HttpCheck, Method, Progress, ResponseReader};
use lvs_probe::lvs_core::config::xml::{parse_service_xml, StatusCodes};
use lvs_probe::ProberRegistry;

const REALS: u32 = 10_000;

fn no_test_services(reals: u32) -> String {
    let mut xml = String::from("<surealived>\n");
    for v in 0..reals.div_ceil(1000) {
        xml.push_str(&format!(
            "<virtual name=\"v{v}\" addr=\"10.0.0.{}\" port=\"80\" proto=\"tcp\" sched=\"wrr\" rt=\"dr\">\n\
             <tester proto=\"no-test\" loopdelay=\"1\"/>\n",
            v + 1
        ));
        for i in v * 1000..((v + 1) * 1000).min(reals) {
            xml.push_str(&format!(
                "<real name=\"r{i}\" addr=\"{}\" port=\"80\" weight=\"1\"/>\n",
                std::net::Ipv4Addr::from(0x0a01_0000_u32 + i)
            ));
        }
        xml.push_str("</virtual>\n");
    }
    xml.push_str("</surealived>\n");
    xml
}

fn bench_engine(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let registry = ProberRegistry::builtin();
    let services =
        parse_service_xml(&no_test_services(REALS), "b.xml", registry.testers()).expect("valid");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = rt.block_on(async {
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let engine = Engine::new(
            EngineConfig {
                seed: Some(1),
                ..EngineConfig::default()
            },
            registry,
            tx,
        );
        engine.reconcile(&services).expect("reconciled");
        // Past the startup window: every real on its own period.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Arc::new(engine)
    });
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(u64::from(REALS)));
    g.sample_size(10);
    g.bench_function("reconcile_10k_unchanged", |b| {
        b.iter(|| {
            let r = engine.reconcile(black_box(&services)).expect("reconciled");
            assert_eq!(r.unchanged, REALS as usize);
        })
    });
    g.bench_function("tick_10k", |b| {
        b.iter(|| rt.block_on(async { tokio::time::sleep(Duration::from_secs(1)).await }))
    });
    g.finish();
    let tests = engine.counters().tests;
    assert!(tests > u64::from(REALS), "the engine ran: {tests} tests");
    rt.block_on(async move {
        if let Ok(e) = Arc::try_unwrap(engine) {
            e.shutdown().await;
        }
    });
}

fn bench_http(c: &mut Criterion) {
    let mut g = c.benchmark_group("http");
    g.bench_function("request", |b| {
        b.iter(|| {
            request(
                Method::Get,
                black_box("/health"),
                black_box("www.example.com"),
            )
        })
    });
    let naive = HttpCheck::status(StatusCodes::parse("200").expect("codes"));
    let head = b"HTTP/1.0 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 1024\r\n\r\n";
    g.bench_function("read_naive", |b| {
        b.iter(|| {
            let mut r = ResponseReader::new(&naive);
            assert_eq!(r.feed(black_box(head)), Ok(Progress::Done));
        })
    });
    let mut full = HttpCheck::status(StatusCodes::parse("200-299").expect("codes"));
    full.naive = false;
    full.regex = Some(Arc::new(regex::bytes::Regex::new("alive").expect("regex")));
    let mut response = head.to_vec();
    response.extend(std::iter::repeat_n(b'x', 1019));
    response.extend_from_slice(b"alive");
    g.bench_function("read_body", |b| {
        b.iter(|| {
            let mut r = ResponseReader::new(&full);
            let mut p = Progress::NeedMore;
            for chunk in black_box(&response).chunks(512) {
                p = r.feed(chunk).expect("passes");
            }
            if p == Progress::NeedMore {
                r.eof().expect("passes");
            }
        })
    });
    g.finish();
}

fn bench_dns(c: &mut Criterion) {
    let mut g = c.benchmark_group("dns");
    g.bench_function("query", |b| {
        b.iter(|| Query::new(black_box("example.com"), RecordType::SOA, black_box(7)))
    });
    let q = Query::new("example.com", RecordType::SOA, 7).expect("query");
    let mut m = Message::from_vec(&q.bytes).expect("decodes");
    m.set_message_type(MessageType::Response);
    let soa = SOA::new(
        Name::from_ascii("ns.example.com.").expect("name"),
        Name::from_ascii("admin.example.com.").expect("name"),
        1,
        2,
        3,
        4,
        5,
    );
    m.add_answer(Record::from_rdata(
        q.question.name().clone(),
        60,
        RData::SOA(soa),
    ));
    let reply = m.to_vec().expect("encodes");
    g.bench_function("check_reply", |b| {
        b.iter(|| assert_eq!(q.check_reply(black_box(&reply), false), Ok(true)))
    });
    g.finish();
}

criterion_group!(benches, bench_engine, bench_http, bench_dns);
criterion_main!(benches);

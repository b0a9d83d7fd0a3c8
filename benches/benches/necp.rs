//! criterion benchmarks of the NECP codec (`lvs-necp`), per message kind, unsigned and signed
//! with HMAC-SHA1:
//!
//! * `encode/<kind>/<unsigned|signed>`: `Message::encode` into a reused buffer;
//! * `decode/<kind>/<unsigned|signed>`: the receive path, a `FrameDecoder` cutting the frame
//!   from pushed bytes, `Message::decode`, and for a signed frame `Frame::verify`.
//!
//! Kinds: `init` (one unit), `keepalive_1` and `keepalive_8` (1 and 8 Health Index queries),
//! `keepalive_ack_8` (8 answers), `start_4` (4 service units). Throughput is in bytes of the
//! encoded message.
//!
//! `cargo bench -p lvs-benches --bench necp -- --quick` keeps the run short.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lvs_necp::codec::{
    FrameDecoder, HealthAnswer, HealthQuery, InitUnit, Key, Message, NecpForwarding, Opcode,
    ServiceUnit, Unit, DEFAULT_MAX_PAYLOAD,
};

fn queries(n: u16) -> Vec<HealthQuery> {
    (0..n)
        .map(|i| HealthQuery::health_index(6, 80 + i))
        .collect()
}

fn kinds() -> Vec<(&'static str, Message)> {
    let init = InitUnit {
        flags: InitUnit::AUTH,
        initial_seq: 0x2222_2222_3333_3333,
    };
    let answers: Vec<Unit> = queries(8)
        .into_iter()
        .map(|query| HealthAnswer { query, value: 75 }.into())
        .collect();
    let services: Vec<Unit> = (0..4)
        .map(|i| {
            ServiceUnit {
                forwarding: NecpForwarding::L2,
                protocol: 6,
                port: 80 + i,
            }
            .into()
        })
        .collect();
    let q = |n| queries(n).into_iter().map(Unit::from).collect();
    vec![
        ("init", Message::new(Opcode::Init, 1, vec![init.into()])),
        ("keepalive_1", Message::new(Opcode::Keepalive, 2, q(1))),
        ("keepalive_8", Message::new(Opcode::Keepalive, 3, q(8))),
        (
            "keepalive_ack_8",
            Message::new(Opcode::KeepaliveAck, 3, answers),
        ),
        ("start_4", Message::new(Opcode::Start, 4, services)),
    ]
}

fn bench_codec(c: &mut Criterion) {
    let key = Key::new(b"a shared secret of some length");
    for (op, group) in [("encode", true), ("decode", false)] {
        let mut g = c.benchmark_group(op);
        for (kind, m) in kinds() {
            for (sig, k) in [("unsigned", None), ("signed", Some(&key))] {
                let bytes = m.to_bytes(k);
                g.throughput(Throughput::Bytes(bytes.len() as u64));
                let name = format!("{kind}/{sig}");
                if group {
                    let mut out = Vec::with_capacity(bytes.len());
                    g.bench_function(&name, |b| {
                        b.iter(|| {
                            out.clear();
                            black_box(&m).encode(k, &mut out);
                            black_box(out.len())
                        })
                    });
                } else {
                    let mut dec = FrameDecoder::new(DEFAULT_MAX_PAYLOAD);
                    g.bench_function(&name, |b| {
                        b.iter(|| {
                            dec.push(black_box(&bytes));
                            let frame = dec.next_frame().expect("in frame").expect("whole");
                            let ok = k.is_none_or(|k| frame.verify(k));
                            (ok, frame.message().expect("decodes"))
                        })
                    });
                }
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench_codec);
criterion_main!(benches);

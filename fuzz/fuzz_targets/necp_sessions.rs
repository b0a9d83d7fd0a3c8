//! The NECP sessions fed with a peer's bytes: a master (with and without a secret) and an
//! agent receive the input in chunks, with the clock moving between chunks. Whatever arrives,
//! nothing panics, and everything the state machines send is well-formed NECP (it frames,
//! decodes and, on an authenticated master, verifies).
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lvs_core::config::feedbackd::{parse_master_config, ServicesDb};
use lvs_necp::codec::{FrameDecoder, Key, NecpForwarding, ServiceUnit};
use lvs_necp::session::agent::{Agent, AgentAction, AgentSettings};
use lvs_necp::session::master::{Master, MasterAction, MasterSettings};

const CONFIG: &str = "allow = 0.0.0.0/0\nkeepalive-interval = 1\nkeepalive-timeout = 1\n\
    removal-interval = 1\n[virtual-service]\nname = w\naddress = 10.0.0.1\nprotocol = tcp\n\
    port = 80\nscheduler = wrr\n[virtual-service]\nname = d\naddress = 10.0.0.1\n\
    protocol = udp\nport = 0\nscheduler = wrr\npersistent = 60\n";

/// Every byte sent must be whole, valid frames.
fn check_output(bytes: &[u8], key: Option<&Key>) {
    let mut dec = FrameDecoder::new(1 << 20);
    dec.push(bytes);
    while let Some(frame) = dec.next_frame().expect("our own output frames") {
        frame.message().expect("our own output decodes");
        if let Some(k) = key {
            if frame.is_signed() {
                assert!(frame.verify(k), "our own credential verifies");
            }
        }
    }
    assert_eq!(dec.buffered(), 0, "our own output ends on a frame boundary");
}

fn chunks(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&head, tail) = rest.split_first()?;
        let len = (usize::from(head & 0x3f) + 1).min(tail.len());
        let (chunk, after) = tail.split_at(len);
        rest = after;
        Some((head >> 6, chunk))
    })
}

fn master(data: &[u8], secret: Option<&str>) {
    // A global key goes before the sections.
    let text = match secret {
        Some(s) => format!("secret = {s}\n{CONFIG}"),
        None => CONFIG.to_string(),
    };
    let cfg = parse_master_config(&text, "f", &ServicesDb::builtin()).expect("config");
    let key = secret.map(|s| Key::new(s.as_bytes()));
    let mut now = Instant::now();
    let mut m = Master::new(MasterSettings::new(cfg), now, 9);
    let peer: SocketAddr = "192.0.2.1:4000".parse().expect("addr");
    m.accept(1, peer, now).expect("allowed");
    for (tick, chunk) in chunks(data) {
        now += Duration::from_millis(u64::from(tick) * 700);
        m.handle_input(1, chunk, now);
        if m.poll_timeout().is_some_and(|t| t <= now) {
            m.handle_timeout(now);
        }
        while let Some((_, bytes)) = m.poll_transmit() {
            check_output(&bytes, key.as_ref());
        }
        while let Some(a) = m.poll_action() {
            if let MasterAction::QueryActive(reals) = a {
                for r in reals {
                    m.active_connections(r, 0);
                }
            }
        }
        while m.poll_event().is_some() {}
    }
    m.on_closed(1, now);
    while m.poll_action().is_some() {}
}

fn agent(data: &[u8]) {
    let mut now = Instant::now();
    let units = vec![
        ServiceUnit {
            forwarding: NecpForwarding::L3,
            protocol: 6,
            port: 80,
        },
        ServiceUnit {
            forwarding: NecpForwarding::L2,
            protocol: 17,
            port: 53,
        },
    ];
    let mut a = Agent::new(AgentSettings::new(units), now);
    for (tick, chunk) in chunks(data) {
        now += Duration::from_millis(u64::from(tick) * 10_000);
        while let Some(act) = a.poll_action() {
            if act == AgentAction::Connect {
                a.on_connected(now, 5);
            }
        }
        a.set_health(0, chunk.first().copied().unwrap_or(0));
        a.handle_input(chunk, now);
        if a.poll_timeout().is_some_and(|t| t <= now) {
            a.handle_timeout(now);
        }
        while let Some(bytes) = a.poll_transmit() {
            check_output(&bytes, None);
        }
        while a.poll_event().is_some() {}
    }
    a.shutdown(now);
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => master(rest, None),
        1 => master(rest, Some("fuzz-secret")),
        _ => agent(rest),
    }
});

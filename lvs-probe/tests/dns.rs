//! The `dns` prober against in-process UDP (and TCP) servers that answer right, with a wrong ID,
//! truncated (then over TCP), with an error RCODE, without answer, with garbage, or not at all.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::deadline_in;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use lvs_core::config::xml::AttrValue;
use lvs_probe::{Direction, DnsProber, Failure, Phase, Prober, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

type Answer = dyn Fn(Message) -> Option<Vec<u8>> + Send + Sync;

/// The usual answer: the query turned into a response with one record of the asked type.
fn good(mut m: Message) -> Message {
    let q = m.queries()[0].clone();
    m.set_message_type(MessageType::Response);
    let rdata = match q.query_type() {
        RecordType::A => RData::A(A::new(192, 0, 2, 1)),
        _ => RData::SOA(SOA::new(
            Name::from_ascii("ns.example.com.").expect("name"),
            Name::from_ascii("admin.example.com.").expect("name"),
            1,
            7200,
            900,
            86400,
            300,
        )),
    };
    m.add_answer(Record::from_rdata(q.name().clone(), 60, rdata));
    m
}

fn bytes(m: Message) -> Option<Vec<u8>> {
    Some(m.to_vec().expect("encode"))
}

/// A UDP server answering with `udp`, and with `tcp` over TCP on the same port if given.
async fn dns_server(udp: Arc<Answer>, tcp: Option<Arc<Answer>>) -> SocketAddr {
    // The TCP port first, then UDP on the same number (retrying if that one is taken).
    let (socket, listener) = loop {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
        let addr = listener.local_addr().expect("addr");
        if let Ok(s) = UdpSocket::bind(addr).await {
            break (s, listener);
        }
    };
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let q = Message::from_vec(&buf[..n]).expect("the prober's query decodes");
            if let Some(reply) = udp(q) {
                let _ = socket.send_to(&reply, peer).await;
            }
        }
    });
    if let Some(tcp) = tcp {
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let tcp = tcp.clone();
                tokio::spawn(async move {
                    let mut len = [0u8; 2];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if s.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let q = Message::from_vec(&q).expect("the prober's query decodes");
                    if let Some(reply) = tcp(q) {
                        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&reply);
                        let _ = s.write_all(&framed).await;
                    }
                });
            }
        });
    }
    addr
}

fn target(addr: SocketAddr) -> Target {
    Target::new("dns", addr.ip(), addr.port()).str_attr("request", "example.com")
}

#[tokio::test]
async fn soa_success_and_the_query_sent() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let addr = dns_server(
        Arc::new(move |m: Message| {
            log.lock().expect("lock").push(m.clone());
            bytes(good(m))
        }),
        None,
    )
    .await;
    let outcome = DnsProber::new()
        .probe(&target(addr).with_transcript(true), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Ok(()));
    assert!(outcome.timings.first_response.is_some());
    assert_eq!(outcome.timings.connect, None, "UDP has no connection");
    let q = seen.lock().expect("lock")[0].clone();
    assert_eq!(q.queries()[0].query_type(), RecordType::SOA);
    assert_eq!(q.queries()[0].name().to_ascii(), "example.com.");
    assert!(q.authoritative() && !q.recursion_desired(), "flags 0x0400");
    let t = outcome.transcript.expect("asked for");
    assert_eq!(t.chunks.len(), 2);
    assert_eq!(t.chunks[1].direction, Direction::Received);
}

#[tokio::test]
async fn qtype_extension() {
    let addr = dns_server(Arc::new(|m| bytes(good(m))), None).await;
    let t = target(addr).attr("qtype", AttrValue::String("A".into()));
    assert_eq!(
        DnsProber::new().probe(&t, deadline_in(2000)).await.result,
        Ok(())
    );
}

#[tokio::test]
async fn reply_with_a_wrong_id() {
    let addr = dns_server(
        Arc::new(|m| {
            let id = m.id().wrapping_add(1);
            let mut r = good(m);
            r.set_id(id);
            bytes(r)
        }),
        None,
    )
    .await;
    let outcome = DnsProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert!(
        matches!(&outcome.result, Err(Failure::DnsMismatch { reason }) if reason.contains("ID")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn reply_to_another_question() {
    let addr = dns_server(
        Arc::new(|m| {
            let mut r = good(m);
            let mut q = r.take_queries();
            q[0].set_name(Name::from_ascii("other.example.").expect("name"));
            r.add_queries(q);
            bytes(r)
        }),
        None,
    )
    .await;
    let outcome = DnsProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert!(
        matches!(outcome.result, Err(Failure::DnsMismatch { .. })),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn truncated_then_retried_over_tcp() {
    let truncated = |m: Message| {
        let mut r = m;
        r.set_message_type(MessageType::Response);
        r.set_truncated(true);
        bytes(r)
    };
    let addr = dns_server(Arc::new(truncated), Some(Arc::new(|m| bytes(good(m))))).await;
    let outcome = DnsProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Ok(()));
    assert!(
        outcome.timings.connect.is_some(),
        "a TCP connection was made"
    );

    // Without the fallback, the truncated reply (no answer) is judged as it is.
    let no_fallback = target(addr).attr("tcp_fallback", AttrValue::Bool(false));
    let outcome = DnsProber::new()
        .probe(&no_fallback, deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Err(Failure::DnsNoAnswer));
}

#[tokio::test]
async fn truncated_and_nobody_on_tcp() {
    let truncated = |m: Message| {
        let mut r = good(m);
        r.set_truncated(true);
        bytes(r)
    };
    // No TCP listener answers: the listener is dropped with the server setup's TCP socket.
    let addr = dns_server(Arc::new(truncated), None).await;
    let outcome = DnsProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Err(Failure::Refused));
}

#[tokio::test]
async fn error_rcode() {
    for (code, rcode) in [
        (ResponseCode::Refused, 5),
        (ResponseCode::NXDomain, 3),
        (ResponseCode::ServFail, 2),
    ] {
        let addr = dns_server(
            Arc::new(move |m| {
                let mut r = good(m);
                r.set_response_code(code);
                bytes(r)
            }),
            None,
        )
        .await;
        let outcome = DnsProber::new()
            .probe(&target(addr), deadline_in(2000))
            .await;
        assert_eq!(outcome.result, Err(Failure::Dns { rcode }));
    }
}

#[tokio::test]
async fn no_answer() {
    let addr = dns_server(
        Arc::new(|m: Message| {
            let mut r = m;
            r.set_message_type(MessageType::Response);
            bytes(r)
        }),
        None,
    )
    .await;
    let outcome = DnsProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Err(Failure::DnsNoAnswer));
}

#[tokio::test]
async fn garbage_reply() {
    let addr = dns_server(Arc::new(|_| Some(b"hello".to_vec())), None).await;
    let outcome = DnsProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert!(
        matches!(
            outcome.result,
            Err(Failure::Protocol {
                phase: Phase::Reply,
                ..
            })
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn silence_times_out() {
    let addr = dns_server(Arc::new(|_| None), None).await;
    let start = tokio::time::Instant::now();
    let outcome = DnsProber::new()
        .probe(&target(addr), deadline_in(500))
        .await;
    assert_eq!(
        outcome.result,
        Err(Failure::Timeout {
            phase: Phase::Reply
        })
    );
    assert!(start.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn port_unreachable_is_refused() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let outcome = DnsProber::new()
        .probe(&target(port), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Err(Failure::Refused));
}

#[tokio::test]
async fn ipv6_loopback() {
    let socket = UdpSocket::bind("[::1]:0").await.expect("bind ::1");
    let addr = socket.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            let q = Message::from_vec(&buf[..n]).expect("query decodes");
            let reply = bytes(good(q)).expect("reply");
            let _ = socket.send_to(&reply, peer).await;
        }
    });
    let outcome = DnsProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Ok(()));
}

//! The `tcp` prober against loopback listeners: success (closed with a RST), refused, and a
//! connect timeout produced by a listener whose accept queue is full.

mod common;

use std::time::Duration;

use common::{closed_port, deadline_in};
use lvs_probe::{ConnProblem, Failure, Prober, Target, TcpProber};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

fn target(addr: std::net::SocketAddr) -> Target {
    Target::new("tcp", addr.ip(), addr.port())
}

#[tokio::test]
async fn connects_then_closes_with_a_reset() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let outcome = TcpProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Ok(()));
    let connect = outcome.timings.connect.expect("connect time");
    assert!(connect <= outcome.timings.total);
    assert_eq!((outcome.bytes_sent, outcome.bytes_received), (0, 0));

    // The server side sees a RST, not a FIN: no TIME_WAIT is left on the prober's side.
    let (mut s, _) = listener.accept().await.expect("accept");
    let mut buf = [0u8; 16];
    let r = timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .expect("closed at once");
    let e = r.expect_err("a RST is an error, a FIN would be Ok(0)");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn refused() {
    let outcome = TcpProber::new()
        .probe(&target(closed_port()), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Err(Failure::Refused));
    assert_eq!(outcome.timings.connect, None);
    assert_eq!(
        outcome.failure().and_then(Failure::conn_problem),
        Some(ConnProblem::Rst)
    );
}

#[tokio::test]
async fn connect_timeout_against_a_full_accept_queue() {
    // A listener that never accepts, with the smallest backlog: once its queue is full the
    // kernel drops further SYNs, and a connect hangs until our deadline.
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut held = Vec::new();
    let mut full = false;
    for _ in 0..16 {
        match timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(e)) => panic!("filling the queue: {e}"),
            Err(_) => {
                full = true;
                break;
            }
        }
    }
    assert!(
        full,
        "the accept queue never filled ({} connections)",
        held.len()
    );

    let start = Instant::now();
    let outcome = TcpProber::new()
        .probe(&target(addr), deadline_in(500))
        .await;
    let took = start.elapsed();
    assert_eq!(outcome.result, Err(Failure::ConnectTimeout));
    assert_eq!(
        outcome.failure().and_then(Failure::conn_problem),
        Some(ConnProblem::Conn)
    );
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "ends at the deadline, took {took:?}"
    );
    drop(listener);
}

#[tokio::test]
async fn an_unusable_ssl_setting_fails_before_connecting() {
    let t = target(closed_port())
        .with_ssl(true)
        .str_attr("ssl_sni", "not a name!");
    let outcome = TcpProber::new().probe(&t, deadline_in(1000)).await;
    assert!(
        matches!(outcome.result, Err(Failure::Config { .. })),
        "{outcome:?}"
    );
    assert_eq!(outcome.timings.connect, None);
}

#[tokio::test]
async fn ipv6_loopback() {
    let listener = TcpListener::bind("[::1]:0").await.expect("bind ::1");
    let addr = listener.local_addr().expect("addr");
    let outcome = TcpProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Ok(()));
    drop(listener);
    let outcome = TcpProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Err(Failure::Refused));
}

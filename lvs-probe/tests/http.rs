//! The `http` prober against in-process loopback servers, one per way a web server can answer
//! (or not).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{closed_port, deadline_in, read_request, serve};
use lvs_core::config::xml::AttrValue;
use lvs_probe::http::HttpLimits;
use lvs_probe::{BodyCheck, Direction, Failure, HttpProber, Phase, Prober, Target};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

fn target(addr: SocketAddr) -> Target {
    Target::new("http", addr.ip(), addr.port())
        .str_attr("url", "/health")
        .str_attr("host", "www.example.com")
}

fn full(addr: SocketAddr) -> Target {
    target(addr).attr("naive", AttrValue::Bool(false))
}

/// A server that answers every request with `response` and closes.
async fn answering(response: &'static [u8]) -> SocketAddr {
    serve(move |mut s: TcpStream| async move {
        read_request(&mut s).await;
        let _ = s.write_all(response).await;
    })
    .await
}

#[tokio::test]
async fn success_sends_the_originals_request() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let addr = serve(move |mut s: TcpStream| {
        let tx = tx.clone();
        async move {
            let req = read_request(&mut s).await;
            let _ = tx.send(req);
            let _ = s
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall good\n")
                .await;
        }
    })
    .await;
    let outcome = HttpProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(
        rx.recv().await.expect("request"),
        b"GET /health HTTP/1.0\r\nHost: www.example.com\r\nUser-Agent: SureAliveD\r\n\r\n"
    );
    let t = outcome.timings;
    assert!(t.connect.is_some() && t.first_response.is_some());
    assert!(t.connect <= t.first_response && t.first_response <= Some(t.total));
    assert_eq!(outcome.bytes_sent, 71);
    assert!(outcome.bytes_received > 0);
    assert_eq!(outcome.transcript, None, "not asked for");
}

#[tokio::test]
async fn full_read_with_regex_digest_and_transcript() {
    let addr = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").await;
    let t = full(addr)
        .str_attr("regex", "^hel+o$")
        .str_attr("digest", "5d41402abc4b2a76b9719d911017c592")
        .with_transcript(true);
    let outcome = HttpProber::new().probe(&t, deadline_in(2000)).await;
    assert_eq!(outcome.result, Ok(()));
    let transcript = outcome.transcript.expect("asked for");
    assert_eq!(transcript.chunks[0].direction, Direction::Sent);
    assert!(transcript.chunks[0]
        .bytes
        .starts_with(b"GET /health HTTP/1.0\r\n"));
    let received: Vec<u8> = transcript
        .chunks
        .iter()
        .filter(|c| c.direction == Direction::Received)
        .flat_map(|c| c.bytes.clone())
        .collect();
    assert_eq!(
        received,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    );

    let outcome = HttpProber::new()
        .probe(&full(addr).str_attr("regex", "bye"), deadline_in(2000))
        .await;
    assert_eq!(
        outcome.result,
        Err(Failure::BodyMismatch {
            check: BodyCheck::Regex
        })
    );
    let outcome = HttpProber::new()
        .probe(
            &full(addr).str_attr("digest", "00000000000000000000000000000000"),
            deadline_in(2000),
        )
        .await;
    assert!(
        matches!(
            &outcome.result,
            Err(Failure::BodyMismatch { check: BodyCheck::Digest { got } })
                if got == "5d41402abc4b2a76b9719d911017c592"
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn status_lists_and_ranges() {
    let addr = answering(b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n").await;
    let probe = |retcode: &'static str| async move {
        let codes = lvs_core::config::xml::StatusCodes::parse(retcode).expect("codes");
        HttpProber::new()
            .probe(
                &target(addr).attr("retcode", AttrValue::StatusCodes(codes)),
                deadline_in(2000),
            )
            .await
            .result
    };
    assert_eq!(probe("200").await, Err(Failure::BadStatus { code: 302 }));
    assert_eq!(probe("200-299,302").await, Ok(()));
    assert_eq!(probe("300-399").await, Ok(()));
}

#[tokio::test]
async fn wrong_status() {
    let addr = answering(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").await;
    for t in [target(addr), full(addr)] {
        let outcome = HttpProber::new().probe(&t, deadline_in(2000)).await;
        assert_eq!(outcome.result, Err(Failure::BadStatus { code: 503 }));
    }
}

#[tokio::test]
async fn head_method() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let addr = serve(move |mut s: TcpStream| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(read_request(&mut s).await);
            // A HEAD response announces a length but sends no body; the server keeps the
            // connection open: the prober must not wait for the body.
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                .await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    })
    .await;
    let start = Instant::now();
    let outcome = HttpProber::new()
        .probe(&full(addr).str_attr("method", "HEAD"), deadline_in(3000))
        .await;
    assert_eq!(outcome.result, Ok(()));
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(rx
        .recv()
        .await
        .expect("request")
        .starts_with(b"HEAD /health HTTP/1.0\r\n"));
}

#[tokio::test]
async fn refused() {
    let outcome = HttpProber::new()
        .probe(&target(closed_port()), deadline_in(2000))
        .await;
    assert_eq!(outcome.result, Err(Failure::Refused));
}

#[tokio::test]
async fn reset_after_accept() {
    let addr = serve(|s: TcpStream| async move {
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(s);
    })
    .await;
    let outcome = HttpProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert!(
        matches!(
            outcome.result,
            Err(Failure::Reset {
                phase: Phase::Send | Phase::FirstByte
            })
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn closed_without_answer() {
    let addr = serve(|mut s: TcpStream| async move {
        read_request(&mut s).await;
    })
    .await;
    let outcome = HttpProber::new()
        .probe(&target(addr), deadline_in(2000))
        .await;
    assert_eq!(
        outcome.result,
        Err(Failure::Closed {
            phase: Phase::FirstByte
        })
    );
}

#[tokio::test]
async fn accepts_and_never_answers() {
    let addr = serve(|mut s: TcpStream| async move {
        read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    let start = Instant::now();
    let outcome = HttpProber::new()
        .probe(&target(addr), deadline_in(500))
        .await;
    assert_eq!(
        outcome.result,
        Err(Failure::Timeout {
            phase: Phase::FirstByte
        })
    );
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(450) && took < Duration::from_millis(1500));
    assert!(outcome.timings.connect.is_some());
    assert_eq!(outcome.timings.first_response, None);
}

#[tokio::test]
async fn drip_one_byte_a_second_fails_at_the_deadline() {
    let addr = serve(|mut s: TcpStream| async move {
        read_request(&mut s).await;
        for b in b"HTTP/1.0 200 OK\r\n\r\n" {
            if s.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
    .await;
    let start = Instant::now();
    let outcome = HttpProber::new()
        .probe(&target(addr), deadline_in(2500))
        .await;
    let took = start.elapsed();
    assert_eq!(outcome.result, Err(Failure::Timeout { phase: Phase::Head }));
    assert!(
        took >= Duration::from_millis(2400) && took < Duration::from_millis(3500),
        "the deadline is total, not per read: took {took:?}"
    );
    assert!((2..=4).contains(&outcome.bytes_received), "{outcome:?}");
}

#[tokio::test]
async fn garbage_instead_of_http_fails_at_once() {
    let addr = serve(|mut s: TcpStream| async move {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    for t in [target(addr), full(addr)] {
        let start = Instant::now();
        let outcome = HttpProber::new().probe(&t, deadline_in(3000)).await;
        assert!(
            matches!(
                &outcome.result,
                Err(Failure::Protocol { phase: Phase::Head, reason }) if reason.contains("SSH-2.0")
            ),
            "{outcome:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}

#[tokio::test]
async fn endless_body_is_cut_at_the_limit() {
    let addr = serve(|mut s: TcpStream| async move {
        read_request(&mut s).await;
        if s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await.is_err() {
            return;
        }
        let chunk = vec![b'x'; 64 * 1024];
        while s.write_all(&chunk).await.is_ok() {}
    })
    .await;
    let limits = HttpLimits {
        max_body: 256 * 1024,
        ..HttpLimits::default()
    };
    let outcome = HttpProber::with_limits(limits)
        .probe(&full(addr), deadline_in(5000))
        .await;
    assert_eq!(
        outcome.result,
        Err(Failure::TooLarge {
            what: "response body",
            limit: 256 * 1024
        })
    );
    assert!(outcome.bytes_received <= 256 * 1024 + 64 * 1024);
    // Naive mode does not read past the status line.
    let outcome = HttpProber::new()
        .probe(&target(addr), deadline_in(5000))
        .await;
    assert_eq!(outcome.result, Ok(()));
}

#[tokio::test]
async fn huge_header_is_cut_at_the_limit() {
    let addr = serve(|mut s: TcpStream| async move {
        read_request(&mut s).await;
        let mut resp = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        resp.extend(std::iter::repeat_n(b'a', 1 << 20));
        let _ = s.write_all(&resp).await;
    })
    .await;
    let outcome = HttpProber::new()
        .probe(&full(addr), deadline_in(5000))
        .await;
    assert_eq!(
        outcome.result,
        Err(Failure::TooLarge {
            what: "response head",
            limit: HttpLimits::default().max_head
        })
    );
}

#[tokio::test]
async fn bad_attributes_are_config_failures() {
    let addr = closed_port();
    let outcome = HttpProber::new()
        .probe(
            &full(addr).str_attr("regex", "(unclosed"),
            deadline_in(1000),
        )
        .await;
    assert!(
        matches!(outcome.result, Err(Failure::Config { .. })),
        "{outcome:?}"
    );
    let no_url = Target::new("http", addr.ip(), addr.port()).str_attr("host", "h");
    let outcome = HttpProber::new().probe(&no_url, deadline_in(1000)).await;
    assert!(
        matches!(&outcome.result, Err(Failure::Config { reason }) if reason.contains("url")),
        "{outcome:?}"
    );
}

/// The same drip on tokio's paused clock, over an in-memory pipe: the failure comes exactly at
/// the deadline, without waiting for real seconds.
#[tokio::test(start_paused = true)]
async fn drip_on_the_paused_clock() {
    use lvs_probe::http::{exchange, request, HttpCheck, Method};
    use lvs_probe::Recorder;
    let (mut client, mut server) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        let mut req = [0u8; 256];
        let _ = tokio::io::AsyncReadExt::read(&mut server, &mut req).await;
        for b in b"HTTP/1.0 200 OK\r\n\r\n" {
            if server.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let check = HttpCheck::status(lvs_core::config::xml::StatusCodes::parse("200").expect("codes"));
    let req = request(Method::Get, "/", "h").expect("request");
    let start = Instant::now();
    let deadline = start + Duration::from_millis(4500);
    let mut rec = Recorder::new(false);
    let result = exchange(&mut client, &req, &check, deadline, &mut rec).await;
    assert_eq!(result, Err(Failure::Timeout { phase: Phase::Head }));
    assert_eq!(start.elapsed(), Duration::from_millis(4500));
    let outcome = rec.finish(result);
    assert_eq!(
        outcome.bytes_received, 5,
        "one byte a second: t = 0, 1, 2, 3, 4"
    );
}

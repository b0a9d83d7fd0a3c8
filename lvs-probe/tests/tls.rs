//! `SSL="1"` against an in-process rustls server with a certificate made by the test:
//! no verification by default, verification with `ssl_verify`/`ssl_ca`/`ssl_sni`, garbage
//! instead of TLS, and session resumption kept per real.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{deadline_in, serve};
use lvs_core::config::xml::AttrValue;
use lvs_probe::{Failure, HttpProber, Phase, Prober, Target, TcpProber};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{HandshakeKind, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

struct Cert {
    config: Arc<ServerConfig>,
    ca_file: tempfile::NamedTempFile,
}

/// A self-signed certificate for `localhost` and 127.0.0.1, and a server configuration with it.
fn cert() -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .expect("server config");
    let mut ca_file = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut ca_file, ck.cert.pem().as_bytes()).expect("write pem");
    Cert {
        config: Arc::new(config),
        ca_file,
    }
}

/// An HTTPS server on `ip`; reports the kind of every handshake it completes.
async fn https_server(
    config: Arc<ServerConfig>,
    ip: &str,
) -> (SocketAddr, mpsc::UnboundedReceiver<Option<HandshakeKind>>) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = tx.send(tls.get_ref().1.handshake_kind());
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, rx)
}

fn https(addr: SocketAddr) -> Target {
    Target::new("http", addr.ip(), addr.port())
        .str_attr("url", "/")
        .str_attr("host", "localhost")
        .attr("naive", AttrValue::Bool(false))
        .with_ssl(true)
}

#[tokio::test]
async fn https_without_verification_like_the_original() {
    let cert = cert();
    let (addr, _kinds) = https_server(cert.config, "127.0.0.1").await;
    let outcome = HttpProber::new()
        .probe(&https(addr), deadline_in(3000))
        .await;
    assert_eq!(outcome.result, Ok(()));
    let t = outcome.timings;
    assert!(t.connect.is_some() && t.tls.is_some());
    assert!(t.connect <= t.tls && t.tls <= t.first_response);

    // `tcp` with SSL="1" passes once the handshake completes.
    let outcome = TcpProber::new()
        .probe(
            &Target::new("tcp", addr.ip(), addr.port()).with_ssl(true),
            deadline_in(3000),
        )
        .await;
    assert_eq!(outcome.result, Ok(()));
    assert!(outcome.timings.tls.is_some());
}

#[tokio::test]
async fn verification_against_a_given_ca_and_name() {
    let cert = cert();
    let (addr, _kinds) = https_server(cert.config.clone(), "127.0.0.1").await;
    let ca = AttrValue::Path(cert.ca_file.path().to_path_buf());
    let verified = https(addr)
        .attr("ssl_verify", AttrValue::Bool(true))
        .attr("ssl_ca", ca.clone());
    let prober = HttpProber::new();

    // By IP (the certificate carries 127.0.0.1) and by name.
    let outcome = prober.probe(&verified, deadline_in(3000)).await;
    assert_eq!(outcome.result, Ok(()));
    let by_name = verified.clone().str_attr("ssl_sni", "localhost");
    assert_eq!(
        prober.probe(&by_name, deadline_in(3000)).await.result,
        Ok(())
    );

    // Another name: the certificate is rejected.
    let other = verified.clone().str_attr("ssl_sni", "www.example.com");
    let outcome = prober.probe(&other, deadline_in(3000)).await;
    assert!(
        matches!(&outcome.result, Err(Failure::Certificate { reason }) if reason.contains("www.example.com")),
        "{outcome:?}"
    );

    // Another CA (rcgen gives both the same subject: the signature does not verify).
    let stranger = self::cert();
    let wrong_ca = https(addr).attr("ssl_verify", AttrValue::Bool(true)).attr(
        "ssl_ca",
        AttrValue::Path(stranger.ca_file.path().to_path_buf()),
    );
    let outcome = prober.probe(&wrong_ca, deadline_in(3000)).await;
    assert!(
        matches!(outcome.result, Err(Failure::Certificate { .. })),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn garbage_instead_of_tls() {
    // A plain HTTP server answers our ClientHello with text.
    let addr = serve(|mut s: TcpStream| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let outcome = HttpProber::new()
        .probe(&https(addr), deadline_in(3000))
        .await;
    assert!(
        matches!(outcome.result, Err(Failure::TlsHandshake { .. })),
        "{outcome:?}"
    );
    assert!(outcome.timings.connect.is_some());
    assert_eq!(outcome.timings.tls, None);
}

#[tokio::test]
async fn silent_server_times_out_in_the_handshake() {
    let addr = serve(|s: TcpStream| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(s);
    })
    .await;
    let outcome = TcpProber::new()
        .probe(
            &Target::new("tcp", addr.ip(), addr.port()).with_ssl(true),
            deadline_in(500),
        )
        .await;
    assert_eq!(outcome.result, Err(Failure::Timeout { phase: Phase::Tls }));
}

#[tokio::test]
async fn closed_during_the_handshake() {
    let addr = serve(|mut s: TcpStream| async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
    })
    .await;
    let outcome = HttpProber::new()
        .probe(&https(addr), deadline_in(3000))
        .await;
    assert_eq!(outcome.result, Err(Failure::Closed { phase: Phase::Tls }));
}

#[tokio::test]
async fn sessions_are_resumed_per_real() {
    let cert = cert();
    // Two reals behind one server configuration (one session cache on the server side), both
    // probed with the same SNI name.
    let (a, mut kinds_a) = https_server(cert.config.clone(), "127.0.0.1").await;
    let (b, mut kinds_b) = https_server(cert.config.clone(), "127.0.0.2").await;
    let prober = HttpProber::new();
    let real_a = https(a).str_attr("ssl_sni", "localhost");
    let real_b = https(b).str_attr("ssl_sni", "localhost");

    assert_eq!(
        prober.probe(&real_a, deadline_in(3000)).await.result,
        Ok(())
    );
    assert_eq!(kinds_a.recv().await, Some(Some(HandshakeKind::Full)));
    assert_eq!(
        prober.probe(&real_a, deadline_in(3000)).await.result,
        Ok(())
    );
    assert_eq!(
        kinds_a.recv().await,
        Some(Some(HandshakeKind::Resumed)),
        "the second test of a real resumes its session"
    );
    assert_eq!(
        prober.probe(&real_b, deadline_in(3000)).await.result,
        Ok(())
    );
    assert_eq!(
        kinds_b.recv().await,
        Some(Some(HandshakeKind::Full)),
        "another real does not use the first real's session"
    );

    // Forgetting a real drops its sessions.
    prober.forget(&real_a);
    assert_eq!(
        prober.probe(&real_a, deadline_in(3000)).await.result,
        Ok(())
    );
    assert_eq!(kinds_a.recv().await, Some(Some(HandshakeKind::Full)));
}

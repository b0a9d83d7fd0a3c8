//! The probers against real daemons from Debian's packages, each started by the test on a
//! loopback address with a temporary configuration: nginx (http and https, with a certificate
//! made by the test) and NSD (an authoritative DNS server, for the SOA check).
//!
//! The daemons must be installed (`apt-get install nginx-light nsd`, which
//! `scripts/test-all.sh` does); a missing binary fails the test with that hint.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::deadline_in;
use lvs_core::config::xml::{AttrValue, StatusCodes};
use lvs_probe::{BodyCheck, DnsProber, Failure, HttpProber, Prober, Target, TcpProber};
use md5::{Digest, Md5};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The path of a daemon's binary, or a failure that says how to get it.
fn binary(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "`{name}` is not installed: these tests run a real {name}. Install it with \
         `apt-get install -y {package}` (scripts/test-all.sh does)"
    );
}

/// A free TCP (and UDP) port on `ip`.
fn free_port(ip: IpAddr) -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind((ip, 0)).expect("bind");
        let port = tcp.local_addr().expect("addr").port();
        if std::net::UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
}

/// A daemon in its own process group, stopped (the whole group) when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(mut cmd: Command, log: PathBuf) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let group = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(group, Signal::SIGTERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = killpg(group, Signal::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

const NGINX_IP: &str = "127.0.0.80";
const NSD_IP: &str = "127.0.0.81";

struct Nginx {
    daemon: Daemon,
    http: SocketAddr,
    https: SocketAddr,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

fn start_nginx() -> Nginx {
    let nginx = binary("nginx", "nginx-light");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ip: IpAddr = NGINX_IP.parse().expect("ip");
    let http = SocketAddr::new(ip, free_port(ip));
    let https = SocketAddr::new(ip, free_port(ip));
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    std::fs::write(d.join("cert.pem"), ck.cert.pem()).expect("write");
    std::fs::write(d.join("key.pem"), ck.key_pair.serialize_pem()).expect("write");
    std::fs::create_dir(d.join("static")).expect("mkdir");
    std::fs::write(d.join("static/page.html"), "<h1>it works</h1>\n").expect("write");
    let p = d.display();
    let conf = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {p}/body;
  proxy_temp_path {p}/proxy;
  fastcgi_temp_path {p}/fastcgi;
  uwsgi_temp_path {p}/uwsgi;
  scgi_temp_path {p}/scgi;
  server {{
    listen {http};
    listen {https} ssl;
    server_name localhost;
    ssl_certificate {p}/cert.pem;
    ssl_certificate_key {p}/key.pem;
    location = /health {{ return 200 "healthy\n"; }}
    location = /down {{ return 503; }}
    location = /moved {{ return 302 /health; }}
    location = /reused {{ return 200 "reused=$ssl_session_reused\n"; }}
    location /static/ {{ alias {p}/static/; }}
  }}
}}
"#
    );
    std::fs::write(d.join("nginx.conf"), conf).expect("write");
    let mut cmd = Command::new(nginx);
    cmd.arg("-p")
        .arg(d)
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .arg("-e")
        .arg(d.join("error.log"));
    let daemon = Daemon::start(cmd, d.join("error.log"));
    // Ready when both ports accept connections.
    for _ in 0..250 {
        let up = |a: SocketAddr| {
            std::net::TcpStream::connect_timeout(&a, Duration::from_millis(100)).is_ok()
        };
        if up(http) && up(https) {
            return Nginx {
                daemon,
                http,
                https,
                ca: d.join("cert.pem"),
                _dir: dir,
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nginx did not start:\n{}", daemon.log());
}

fn http(addr: SocketAddr, url: &str) -> Target {
    Target::new("http", addr.ip(), addr.port())
        .str_attr("url", url)
        .str_attr("host", "localhost")
}

fn retcode(s: &str) -> AttrValue {
    AttrValue::StatusCodes(StatusCodes::parse(s).expect("codes"))
}

#[tokio::test]
async fn nginx_http_and_https() {
    let n = start_nginx();
    let p = HttpProber::new();
    let full = AttrValue::Bool(false);
    let result = |t: Target| {
        let p = &p;
        async move { p.probe(&t, deadline_in(3000)).await.result }
    };

    // tcp
    let tcp = Target::new("tcp", n.http.ip(), n.http.port());
    assert_eq!(
        TcpProber::new().probe(&tcp, deadline_in(3000)).await.result,
        Ok(())
    );

    // http: status, lists, HEAD, regex and digest.
    assert_eq!(result(http(n.http, "/health")).await, Ok(()));
    assert_eq!(
        result(http(n.http, "/missing")).await,
        Err(Failure::BadStatus { code: 404 })
    );
    assert_eq!(
        result(http(n.http, "/down").attr("naive", full.clone())).await,
        Err(Failure::BadStatus { code: 503 })
    );
    assert_eq!(
        result(http(n.http, "/moved")).await,
        Err(Failure::BadStatus { code: 302 })
    );
    assert_eq!(
        result(http(n.http, "/moved").attr("retcode", retcode("200-299,302"))).await,
        Ok(())
    );
    assert_eq!(
        result(
            http(n.http, "/static/page.html")
                .attr("naive", full.clone())
                .str_attr("method", "HEAD")
        )
        .await,
        Ok(())
    );
    let digest: String = Md5::digest(b"<h1>it works</h1>\n")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let page = http(n.http, "/static/page.html").attr("naive", full.clone());
    assert_eq!(
        result(
            page.clone()
                .str_attr("digest", &digest)
                .str_attr("regex", "it wo+rks")
        )
        .await,
        Ok(())
    );
    assert_eq!(
        result(page.clone().str_attr("regex", "it failed")).await,
        Err(Failure::BodyMismatch {
            check: BodyCheck::Regex
        })
    );

    // https without verification, then verified against the test's certificate.
    let https = |url: &str| http(n.https, url).with_ssl(true);
    assert_eq!(result(https("/health")).await, Ok(()));
    let verified = https("/health")
        .attr("ssl_verify", AttrValue::Bool(true))
        .attr("ssl_ca", AttrValue::Path(n.ca.clone()))
        .str_attr("ssl_sni", "localhost");
    assert_eq!(result(verified.clone()).await, Ok(()));
    let wrong_name = verified.str_attr("ssl_sni", "www.example.com");
    assert!(
        matches!(result(wrong_name).await, Err(Failure::Certificate { .. })),
        "the certificate is for localhost"
    );
    // Plain HTTP spoken to the TLS port, and TLS to the HTTP port.
    assert!(matches!(
        result(http(n.https, "/health")).await,
        Err(Failure::BadStatus { code: 400 })
    ));
    assert!(matches!(
        result(http(n.http, "/health").with_ssl(true)).await,
        Err(Failure::TlsHandshake { .. })
    ));

    // Resumption: nginx says whether the session was reused; the second test of a real is.
    // (A new prober: the one above already holds sessions for this real.)
    let fresh = HttpProber::new();
    let reused = https("/reused").attr("naive", full.clone());
    let first = fresh
        .probe(
            &reused.clone().str_attr("regex", "reused=\\."),
            deadline_in(3000),
        )
        .await;
    assert_eq!(first.result, Ok(()), "first handshake is full");
    let second = fresh
        .probe(&reused.str_attr("regex", "reused=r"), deadline_in(3000))
        .await;
    assert_eq!(second.result, Ok(()), "second handshake resumes");

    // Stopped: refused.
    let addr = n.http;
    drop(n.daemon);
    assert_eq!(result(http(addr, "/health")).await, Err(Failure::Refused));
}

struct Nsd {
    daemon: Daemon,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

const ZONE: &str = "$ORIGIN example.test.
$TTL 300
@    IN SOA ns1.example.test. admin.example.test. ( 1 7200 900 86400 300 )
@    IN NS  ns1
ns1  IN A   127.0.0.1
www  IN A   192.0.2.10
";

/// Ten TXT records of 100 bytes: more than a UDP reply without EDNS holds (512 bytes).
fn big_txt() -> String {
    (0..10)
        .map(|i| format!("big  IN TXT \"{i}{}\"\n", "x".repeat(99)))
        .collect()
}

async fn start_nsd() -> Nsd {
    let nsd = binary("nsd", "nsd");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ip: IpAddr = NSD_IP.parse().expect("ip");
    let addr = SocketAddr::new(ip, free_port(ip));
    let p = d.display();
    let conf = format!(
        r#"server:
  ip-address: {ip}@{port}
  port: {port}
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "{p}"
  database: ""
  pidfile: "{p}/nsd.pid"
  logfile: "{p}/nsd.log"
  xfrdfile: "{p}/xfrd.state"
  zonelistfile: "{p}/zone.list"
  xfrdir: "{p}"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: "example.test"
  zonefile: "example.test.zone"
"#,
        port = addr.port()
    );
    std::fs::write(d.join("nsd.conf"), conf).expect("write");
    std::fs::write(d.join("example.test.zone"), format!("{ZONE}{}", big_txt())).expect("write");
    let mut cmd = Command::new(nsd);
    cmd.arg("-d").arg("-c").arg(d.join("nsd.conf"));
    let daemon = Daemon::start(cmd, d.join("nsd.log"));
    let soa = dns(addr, "example.test");
    for _ in 0..100 {
        if DnsProber::new().probe(&soa, deadline_in(100)).await.is_ok() {
            return Nsd {
                daemon,
                addr,
                _dir: dir,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nsd did not answer:\n{}", daemon.log());
}

fn dns(addr: SocketAddr, name: &str) -> Target {
    Target::new("dns", addr.ip(), addr.port()).str_attr("request", name)
}

#[tokio::test]
async fn nsd_soa_and_errors() {
    let n = start_nsd().await;
    let p = DnsProber::new();
    let result = |t: Target| {
        let p = &p;
        async move { p.probe(&t, deadline_in(3000)).await.result }
    };
    let qtype = |t: Target, q: &str| t.attr("qtype", AttrValue::String(q.into()));

    assert_eq!(result(dns(n.addr, "example.test")).await, Ok(()));
    assert_eq!(result(dns(n.addr, "EXAMPLE.test")).await, Ok(()), "0x20");
    assert_eq!(
        result(qtype(dns(n.addr, "www.example.test"), "A")).await,
        Ok(())
    );
    assert_eq!(
        result(qtype(dns(n.addr, "example.test"), "NS")).await,
        Ok(())
    );
    // NODATA, NXDOMAIN, and a zone the server does not serve.
    assert_eq!(
        result(qtype(dns(n.addr, "www.example.test"), "AAAA")).await,
        Err(Failure::DnsNoAnswer)
    );
    assert_eq!(
        result(qtype(dns(n.addr, "nope.example.test"), "A")).await,
        Err(Failure::Dns { rcode: 3 })
    );
    assert_eq!(
        result(dns(n.addr, "example.org")).await,
        Err(Failure::Dns { rcode: 5 })
    );
    // A reply too large for UDP comes truncated; the prober asks again over TCP.
    let big = qtype(dns(n.addr, "big.example.test"), "TXT");
    let outcome = p.probe(&big, deadline_in(3000)).await;
    assert_eq!(outcome.result, Ok(()));
    assert!(outcome.timings.connect.is_some(), "asked again over TCP");
    assert!(outcome.bytes_received > 1000);
    assert_eq!(
        result(big.attr("tcp_fallback", AttrValue::Bool(false))).await,
        Err(Failure::DnsNoAnswer),
        "the truncated reply alone has no answer"
    );

    let addr = n.addr;
    drop(n.daemon);
    assert_eq!(
        result(dns(addr, "example.test")).await,
        Err(Failure::Refused),
        "ICMP port unreachable once stopped"
    );
}

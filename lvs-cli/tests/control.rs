//! The control port's server over real loopback TCP with a fake handler: every command,
//! several per connection, CR LF, the client and line caps, garbage, clients that disconnect
//! mid-line, stay silent or never read, a slow handler, JSON, and shutdown.

mod control_common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use control_common::{big_listing, connstats_view, ip, listing, Client, Fake, Server, WAIT};
use lvs_cli::control::ControlLimits;
use lvs_core::control::{json, render_connstats, render_rlist, render_vlist};
use lvs_core::model::DestKey;
use lvs_core::state::{AdminState, WeightOverride};

fn server(fake: Fake) -> (Arc<Fake>, Server) {
    server_with(fake, ControlLimits::default())
}

fn server_with(fake: Fake, limits: ControlLimits) -> (Arc<Fake>, Server) {
    let fake = Arc::new(fake);
    let srv = Server::start(fake.clone(), limits);
    (fake, srv)
}

const RSET_WEB2_DOWN: &str =
    "rset vproto=tcp vaddr=10.0.0.1 vport=80 raddr=10.0.1.2 rport=8080 rstate=DOWN";

#[test]
fn every_command_several_per_connection() {
    let (fake, srv) = server(Fake::new());
    let mut c = Client::connect(srv.addr);
    assert_eq!(c.ask("vlist"), render_vlist(&listing()));
    assert_eq!(
        c.ask("rlist vproto=fwmark vfwmark=42\r"),
        "vname=fw vproto=fwmark vaddr=0.0.0.0 vport=0 vfwmark=42 vrt=dr vsched=wlc\n\
         EMPTY LIST - no reals defined in virtual\n_SD_CMD_END_\n"
    );
    assert_eq!(
        c.ask("rlist vproto=udp vaddr=2001:db8::1 vport=53"),
        render_rlist(&listing()[2])
    );
    assert_eq!(
        c.ask(&format!("{RSET_WEB2_DOWN} rweight=50%")),
        "Set: rstate=DOWN, weight=50, inpercent=TRUE\n_SD_CMD_END_\n"
    );
    assert_eq!(
        fake.rsets(),
        [(
            listing()[0].virtual_view.key,
            DestKey {
                addr: ip("10.0.1.2"),
                port: 8080
            },
            Some(AdminState::Down),
            Some(WeightOverride::Percent(50))
        )]
    );
    assert_eq!(
        c.ask("connstats"),
        render_connstats(Some(&connstats_view()))
    );
    // stats: the server reads this process's usage (getrusage, /proc/self).
    let stats = c.ask("stats");
    assert!(stats.starts_with("=== global stats ===\nwatchdog_pid   : -1\ntester_pid     : 4242\n"));
    let fd_used: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("fd_used        : "))
        .expect("fd_used line")
        .parse()
        .expect("a number");
    assert!(fd_used >= 3, "{stats}");
    assert!(stats.contains("\n\n=== memory usage ===\nVm"), "{stats}");
    assert!(
        stats
            .lines()
            .any(|l| l.starts_with("VmRSS          : ") && l.ends_with(" kB")),
        "{stats}"
    );
    assert!(stats.ends_with(" kB\n_SD_CMD_END_\n"), "{stats}");
    assert_eq!(
        c.ask("help"),
        "ERROR Invalid request! [help]\n_SD_CMD_END_\n"
    );
    assert_eq!(
        c.ask("rlist vproto=tcp vaddr=10.0.0.999"),
        "ERROR cmd_find_virt: invalid IP [10.0.0.999]\n_SD_CMD_END_\n"
    );
    // Still the same connection after errors.
    assert_eq!(c.ask("vlist"), render_vlist(&listing()));
}

#[test]
fn pipelined_lines_are_answered_in_order() {
    let (_fake, srv) = server(Fake::new());
    let mut c = Client::connect(srv.addr);
    c.send(b"vlist\r\nrlist vproto=tcp vaddr=10.0.0.1 vport=80\nbogus\r\nvlist\n");
    assert_eq!(c.reply(), render_vlist(&listing()));
    assert_eq!(c.reply(), render_rlist(&listing()[0]));
    assert_eq!(c.reply(), "ERROR Invalid request! [bogus]\n_SD_CMD_END_\n");
    assert_eq!(c.reply(), render_vlist(&listing()));
    // A line sent in pieces is answered once whole.
    for piece in [
        &b"rli"[..],
        b"st vproto=tcp vad",
        b"dr=10.0.0.1 vport=80\r",
        b"\n",
    ] {
        c.send(piece);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.reply(), render_rlist(&listing()[0]));
}

#[test]
fn json_replies_parse_back() {
    let (_fake, srv) = server(Fake::new());
    let mut c = Client::connect(srv.addr);
    let body = |reply: String| {
        let (body, end) = reply.split_once('\n').expect("one line");
        assert_eq!(end, "_SD_CMD_END_\n");
        body.to_owned()
    };
    let v: json::Vlist = serde_json::from_str(&body(c.ask("vlist json"))).expect("vlist");
    assert_eq!(v.virtuals.len(), 3);
    assert_eq!(v.virtuals[2].addr, ip("2001:db8::1"));
    let r: json::Rlist = serde_json::from_str(&body(
        c.ask("rlist vproto=tcp vaddr=10.0.0.1 vport=80 format=json"),
    ))
    .expect("rlist");
    assert_eq!(r.reals.len(), 2);
    assert!(!r.reals[1].online);
    let s: json::Stats = serde_json::from_str(&body(c.ask("stats json"))).expect("stats");
    assert_eq!(s.tester_pid, 4242);
    assert!(s.resources.fd_used >= 3);
    assert!(s.memory.iter().any(|m| m.name == "RSS" && m.unit == "kB"));
    let cs: json::Connstats =
        serde_json::from_str(&body(c.ask("connstats json"))).expect("connstats");
    assert!(cs.gather_stats);
    assert_eq!(cs.virtuals[0].reals[0].last_us.conn, 1500);
}

#[test]
fn the_seventeenth_client_is_refused_and_a_freed_slot_is_reused() {
    let (_fake, srv) = server(Fake::new());
    let mut clients: Vec<Client> = (0..16).map(|_| Client::connect(srv.addr)).collect();
    for c in &mut clients {
        assert_eq!(c.ask("vlist"), render_vlist(&listing()));
    }
    let mut extra = Client::connect(srv.addr);
    // It may even have sent its request: it still reads the error, not a reset.
    extra.send(b"vlist\n");
    assert_eq!(
        extra.rest_until_closed().as_deref(),
        Some("ERROR too many clients (at most 16), try again later\n_SD_CMD_END_\n")
    );
    drop(clients.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        let mut c = Client::connect(srv.addr);
        let reply = c.ask("vlist");
        if reply == render_vlist(&listing()) {
            break;
        }
        assert!(reply.starts_with("ERROR too many clients"), "{reply}");
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The 15 others were not disturbed.
    for c in &mut clients {
        assert_eq!(c.ask("vlist"), render_vlist(&listing()));
    }
}

#[test]
fn a_line_longer_than_8_kib_closes_the_connection() {
    let (_fake, srv) = server(Fake::new());
    // 8192 bytes before the LF: accepted (and echoed in the error).
    let mut c = Client::connect(srv.addr);
    let line = "x".repeat(8192);
    assert_eq!(
        c.ask(&line),
        format!("ERROR Invalid request! [{line}]\n_SD_CMD_END_\n")
    );
    assert_eq!(c.ask("vlist"), render_vlist(&listing()));
    // 8193 bytes without a LF, sent in pieces: an error, then the connection closes.
    let mut c = Client::connect(srv.addr);
    c.send(&[b'v'; 5000]);
    c.send(&[b'v'; 3193]);
    assert_eq!(
        c.rest_until_closed().as_deref(),
        Some("ERROR request line longer than 8192 bytes\n_SD_CMD_END_\n")
    );
    // The same with the LF in the same write.
    let mut c = Client::connect(srv.addr);
    c.send(format!("vlist {}\n", "y".repeat(9000)).as_bytes());
    assert_eq!(
        c.rest_until_closed().as_deref(),
        Some("ERROR request line longer than 8192 bytes\n_SD_CMD_END_\n")
    );
    // Others are still served.
    assert_eq!(
        Client::connect(srv.addr).ask("vlist"),
        render_vlist(&listing())
    );
}

#[test]
fn garbage_and_invalid_utf8_get_an_error_line() {
    let (fake, srv) = server(Fake::new());
    let mut c = Client::connect(srv.addr);
    c.send(b"\xff\xfe\x00\x01garbage\x1b[0m\r\n");
    assert_eq!(
        c.reply(),
        "ERROR Invalid request! [\u{fffd}\u{fffd}\\x00\\x01garbage\\x1b[0m]\n_SD_CMD_END_\n"
    );
    c.send(b"rlist vproto=tcp vaddr=10.0.0.1\xc3 vport=80\n");
    assert_eq!(
        c.reply(),
        "ERROR cmd_find_virt: invalid IP [10.0.0.1\u{fffd}]\n_SD_CMD_END_\n"
    );
    c.send(b"\n\r\n");
    assert_eq!(c.reply(), "ERROR Invalid request! []\n_SD_CMD_END_\n");
    assert_eq!(c.reply(), "ERROR Invalid request! []\n_SD_CMD_END_\n");
    let noise: Vec<u8> = (0..=255u8)
        .cycle()
        .take(3000)
        .filter(|&b| b != b'\n')
        .collect();
    c.send(&noise);
    c.send(b"\n");
    assert!(c.reply().starts_with("ERROR Invalid request! ["));
    assert_eq!(c.ask("vlist"), render_vlist(&listing()));
    assert!(fake.rsets().is_empty());
}

#[test]
fn a_client_that_disconnects_mid_line_changes_nothing() {
    let (fake, srv) = server(Fake::new());
    let mut c = Client::connect(srv.addr);
    // The complete line is answered, the partial rset after it is never executed.
    c.send(format!("vlist\n{RSET_WEB2_DOWN}").as_bytes());
    assert_eq!(c.reply(), render_vlist(&listing()));
    c.stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    assert_eq!(c.rest_until_closed().as_deref(), Some(""));
    drop(c);
    // The same bytes with their LF do change the real: the check above can fail.
    let mut other = Client::connect(srv.addr);
    assert_eq!(other.ask("vlist"), render_vlist(&listing()));
    assert!(fake.rsets().is_empty());
    assert!(other.ask(RSET_WEB2_DOWN).starts_with("Set: rstate=DOWN"));
    assert_eq!(fake.rsets().len(), 1);
}

#[test]
fn a_slow_handler_and_silent_clients_do_not_block_others() {
    let (gate_tx, gate_rx) = mpsc::channel();
    let fake = Fake::new();
    *fake.stats_gate.lock().expect("lock") = Some(gate_rx);
    let (fake, srv) = server(fake);
    // A client that says nothing, and one that stops mid-line.
    let _silent = Client::connect(srv.addr);
    let mut half = Client::connect(srv.addr);
    half.send(b"vli");
    // A client whose stats call blocks in the handler.
    let mut slow = Client::connect(srv.addr);
    slow.send(b"stats\n");
    let deadline = Instant::now() + WAIT;
    while fake.stats_calls.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "stats never called");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Meanwhile new clients are accepted and served.
    for _ in 0..3 {
        assert_eq!(
            Client::connect(srv.addr).ask("vlist"),
            render_vlist(&listing())
        );
    }
    gate_tx.send(()).expect("release");
    assert!(slow.reply().starts_with("=== global stats ==="));
    half.send(b"st\n");
    assert_eq!(half.reply(), render_vlist(&listing()));
}

#[test]
fn a_client_that_never_reads_is_disconnected() {
    let limits = ControlLimits {
        write_timeout: Duration::from_millis(300),
        ..ControlLimits::default()
    };
    // About 100 kB per vlist reply: a few fill the socket buffers.
    let (_fake, srv) = server_with(Fake::with(big_listing(1000)), limits);
    let mut hog = TcpStream::connect(srv.addr).expect("connect");
    hog.set_write_timeout(Some(WAIT)).expect("timeout");
    let writer = std::thread::spawn(move || {
        let lines = "vlist\n".repeat(1000);
        // Far more than any socket buffers hold: the loop ends only with an error.
        for _ in 0..100_000 {
            if let Err(e) = hog.write_all(lines.as_bytes()) {
                return Some(e.kind());
            }
        }
        None
    });
    // Others are served while the hog's replies pile up.
    let mut c = Client::connect(srv.addr);
    assert!(c.ask("vlist").ends_with("_SD_CMD_END_\n"));
    let deadline = Instant::now() + WAIT * 2;
    while !writer.is_finished() {
        assert!(Instant::now() < deadline, "the hog was never disconnected");
        std::thread::sleep(Duration::from_millis(20));
    }
    let kind = writer.join().expect("writer");
    assert!(
        matches!(
            kind,
            Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)
        ),
        "{kind:?}"
    );
    assert!(c.ask("vlist").ends_with("_SD_CMD_END_\n"));
}

#[test]
fn a_silent_client_is_disconnected_after_the_idle_timeout() {
    let limits = ControlLimits {
        idle_timeout: Duration::from_millis(200),
        ..ControlLimits::default()
    };
    let (_fake, srv) = server_with(Fake::new(), limits);
    let mut c = Client::connect(srv.addr);
    assert_eq!(c.ask("vlist"), render_vlist(&listing()));
    assert_eq!(c.rest_until_closed().as_deref(), Some(""));
}

#[test]
fn shutdown_closes_connections_and_returns() {
    let (_fake, mut srv) = server(Fake::new());
    let mut c = Client::connect(srv.addr);
    assert_eq!(c.ask("vlist"), render_vlist(&listing()));
    assert!(srv.stop(), "serve did not return");
    assert_eq!(c.rest_until_closed().as_deref(), Some(""));
    assert!(TcpStream::connect(srv.addr).is_err(), "still listening");
}

/// A handler whose every call panics (a bug in the daemon).
struct Panicky;

impl lvs_core::control::ControlHandler for Panicky {
    fn listing(&self) -> Vec<lvs_core::control::VirtualListing> {
        panic!("listing exploded");
    }
    fn rset(
        &self,
        _: &lvs_core::model::ServiceKey,
        _: &DestKey,
        _: Option<AdminState>,
        _: Option<WeightOverride>,
    ) -> Result<lvs_core::control::RsetReply, String> {
        panic!("rset exploded");
    }
    fn stats(&self) -> lvs_core::control::StatsView {
        panic!("stats exploded");
    }
    fn connstats(&self) -> Option<Vec<lvs_core::control::VirtualConnStats>> {
        panic!("connstats exploded");
    }
}

#[test]
fn a_panicking_handler_gives_an_internal_error_and_the_server_lives_on() {
    let srv = Server::start(Arc::new(Panicky), ControlLimits::default());
    let mut c = Client::connect(srv.addr);
    let internal = "ERROR internal error: the request failed, see the daemon's log\n_SD_CMD_END_\n";
    assert_eq!(c.ask("vlist"), internal);
    assert_eq!(c.ask("stats"), internal);
    // Requests that need no handler call are still answered.
    assert_eq!(
        c.ask("nope"),
        "ERROR Invalid request! [nope]\n_SD_CMD_END_\n"
    );
    assert_eq!(Client::connect(srv.addr).ask("connstats"), internal);
}

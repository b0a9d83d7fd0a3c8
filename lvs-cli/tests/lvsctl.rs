//! `lvsctl` as a process against the control port's server (fake handler) on loopback.

mod control_common;

use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use control_common::{ip, listing, Fake, Server};
use lvs_cli::control::ControlLimits;
use lvs_core::control::{json, render_rlist, render_vlist};
use lvs_core::model::DestKey;
use lvs_core::state::{AdminState, WeightOverride};

fn lvsctl(port: u16, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvsctl"))
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run lvsctl")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn without_end(reply: &str) -> &str {
    reply.strip_suffix("_SD_CMD_END_\n").expect("terminated")
}

fn start() -> (Arc<Fake>, Server) {
    let fake = Arc::new(Fake::new());
    let srv = Server::start(fake.clone(), ControlLimits::default());
    (fake, srv)
}

#[test]
fn listing_commands_print_the_reply_without_its_terminator() {
    let (_fake, srv) = start();
    let port = srv.addr.port();
    let out = lvsctl(port, &["vlist"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), without_end(&render_vlist(&listing())));
    let out = lvsctl(port, &["rlist", "tcp", "10.0.0.1", "80"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), without_end(&render_rlist(&listing()[0])));
    let out = lvsctl(port, &["rlist", "fwmark", "42"]);
    assert_eq!(text(&out.stdout), without_end(&render_rlist(&listing()[1])));
    let out = lvsctl(
        port,
        &["rlist", "vproto=udp", "vaddr=2001:db8::1", "vport=53"],
    );
    assert_eq!(text(&out.stdout), without_end(&render_rlist(&listing()[2])));
    let out = lvsctl(port, &["stats"]);
    assert_eq!(out.status.code(), Some(0));
    let stats = text(&out.stdout);
    assert!(stats.starts_with("=== global stats ===\n"), "{stats}");
    assert!(!stats.contains("_SD_CMD_END_"), "{stats}");
    let out = lvsctl(port, &["connstats"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("Virtual:\nv:0 vname=www"));
}

#[test]
fn json_flag() {
    let (_fake, srv) = start();
    let out = lvsctl(
        srv.addr.port(),
        &["--json", "rlist", "tcp", "10.0.0.1", "80"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r: json::Rlist = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(r.virtual_.name, "www");
    assert_eq!(r.reals[0].addr, ip("10.0.1.1"));
    let out = lvsctl(srv.addr.port(), &["--json", "vlist"]);
    let v: json::Vlist = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v.virtuals.len(), 3);
}

#[test]
fn rset_positional_and_raw() {
    let (fake, srv) = start();
    let port = srv.addr.port();
    let out = lvsctl(
        port,
        &[
            "rset", "tcp", "10.0.0.1", "80", "10.0.1.2", "8080", "OFFLINE", "50%",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Set: rstate=OFFLINE, weight=50, inpercent=TRUE\n"
    );
    let out = lvsctl(
        port,
        &[
            "rset",
            "vproto=udp",
            "vaddr=2001:db8::1",
            "vport=53",
            "raddr=2001:db8::53",
            "rport=53",
            "rweight=3",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Set: rstate=ONLINE, weight=3, inpercent=FALSE\n"
    );
    let www = listing()[0].virtual_view.key;
    let dns6 = listing()[2].virtual_view.key;
    assert_eq!(
        fake.rsets(),
        [
            (
                www,
                DestKey {
                    addr: ip("10.0.1.2"),
                    port: 8080
                },
                Some(AdminState::Offline),
                Some(WeightOverride::Percent(50))
            ),
            (
                dns6,
                DestKey {
                    addr: ip("2001:db8::53"),
                    port: 53
                },
                None,
                Some(WeightOverride::Absolute(3))
            ),
        ]
    );
}

#[test]
fn an_error_reply_goes_to_stderr_with_status_1() {
    let (fake, srv) = start();
    let out = lvsctl(srv.addr.port(), &["rlist", "tcp", "10.9.9.9", "80"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "lvsctl: cmd_find_virt: Virt not found\n");
    let out = lvsctl(
        srv.addr.port(),
        &["rset", "fwmark", "42", "10.0.1.2", "0", "DOWN"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "lvsctl: cmd_find_real: empty realArr\n");
    assert!(fake.rsets().is_empty());
}

#[test]
fn an_invalid_command_line_is_refused_before_connecting() {
    // Nothing listens on this port: a usage error must not even try.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    for (args, message) in [
        (&["rlist"][..], "cmd_find_virt: No vproto specified"),
        (
            &["rlist", "tcp", "10.0.0.1", "http"],
            "cmd_find_virt: invalid vport [http]",
        ),
        (
            &["rset", "tcp", "10.0.0.1", "80", "10.0.1.2", "8080"],
            "you need to set at least",
        ),
        (
            &["rset", "tcp", "10.0.0.1", "80", "10.0.1.2", "8080", "down"],
            "rstate unknown [down]",
        ),
        (&["vlist", "extra"], "unexpected word `extra`"),
        (&["quit"], "unknown command `quit`"),
    ] {
        let out = lvsctl(port, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn connection_failures_and_silent_servers_give_status_3_in_bounded_time() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let out = lvsctl(port, &["vlist"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("connect"),
        "{}",
        text(&out.stderr)
    );
    // A server that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let started = Instant::now();
    let out = lvsctl(port, &["-t", "0.5", "vlist"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("no whole reply within"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    drop(silent);
}

//! The `ipvssync` binary against the kernel's IPVS, as an operator runs it; run in a guest
//! kernel by scripts/kernel-tests.sh. The files are written as surealived leaves them; the
//! kernel is read back with lvs-ipvs (fast enough to time a change) and with Debian's
//! `ipvsadm`, the independent witness, which also makes the changes "by hand".

mod common;
mod sync_common;

/// Prints a measured figure on stderr directly, past the test harness's capture, so the figures
/// show in every run (the kernel tests' console included).
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::ipvsadm;
use lvs_core::model::{DestKey, Protocol, ServiceKey, Table};
use sync_common::{diff_line, State, Sync};

const BOUND: Duration = Duration::from_secs(10);

/// Two services: 192.0.2.10:80 (two reals) and fwmark 7 (one real, masq).
const FULL: &str = "virtual vname=web vproto=tcp vaddr=192.0.2.10 vport=80 vrt=dr vsched=wrr\n\
                    real rname=a raddr=192.0.2.101 rport=80 rweight=10\n\
                    real rname=b raddr=192.0.2.102 rport=80 rweight=20\n\n\
                    virtual vname=fw vproto=fwmark vaddr=0.0.0.0 vport=0 vrt=masq vsched=rr vfwmark=7\n\
                    real rname=f raddr=192.0.2.103 rport=0 rweight=3\n\n";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn web() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("192.0.2.10"),
        port: 80,
    }
}

fn kernel() -> Table {
    lvs_ipvs::Client::new()
        .expect("IPVS")
        .table()
        .expect("read the table")
}

fn weight(t: &Table, key: &ServiceKey, addr: &str, port: u16) -> Option<u32> {
    t.destination(
        key,
        &DestKey {
            addr: ip(addr),
            port,
        },
    )
    .map(|d| d.weight)
}

/// Polls the kernel (lvs-ipvs, every millisecond) until `ok`; returns how long it took.
fn wait_kernel(what: &str, ok: impl Fn(&Table) -> bool, within: Duration) -> Duration {
    let mut client = lvs_ipvs::Client::new().expect("IPVS");
    let start = Instant::now();
    loop {
        let t = client.table().expect("read the table");
        if ok(&t) {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: kernel holds {t:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts ipvssync on `st` and waits until it follows the diffs.
fn start(st: &State, args: &[&str]) -> Sync {
    let mut s = Sync::start(st, args);
    s.expect(&["following"], BOUND);
    s
}

fn stop(mut s: Sync) {
    s.signal("TERM");
    assert_eq!(s.wait(BOUND), Some(0));
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn full_sync_at_start_then_diff_lines_reach_the_kernel_at_once() {
    ipvsadm(&["-C"]);
    let st = State::new("");
    st.full(1_800_000_000, FULL);
    st.append(
        1_800_000_000,
        &diff_line("chgreal", "192.0.2.10", "192.0.2.102", 25),
    );
    let s = start(&st, &[]);
    let saved = ipvsadm(&["-S", "-n"]);
    println!("after start:\n{saved}");
    for want in [
        "-A -t 192.0.2.10:80 -s wrr",
        "-a -t 192.0.2.10:80 -r 192.0.2.101:80 -g -w 10",
        "-a -t 192.0.2.10:80 -r 192.0.2.102:80 -g -w 25",
        "-A -f 7 -s rr",
        "-a -f 7 -r 192.0.2.103:0 -m -w 3",
    ] {
        assert!(saved.lines().any(|l| l == want), "{want:?} not in\n{saved}");
    }
    // Each appended line is in the kernel at once; a hop is followed.
    let mut latencies = Vec::new();
    for w in 1..=10 {
        st.append(
            1_800_000_000,
            &diff_line("chgreal", "192.0.2.10", "192.0.2.101", w),
        );
        latencies.push(wait_kernel(
            "chgreal",
            |t| weight(t, &web(), "192.0.2.101", 80) == Some(w),
            BOUND,
        ));
    }
    st.append(
        1_800_000_000,
        &format!("DIFF file={}\n", st.diff(1_800_000_060).display()),
    );
    st.append(
        1_800_000_060,
        &diff_line("delreal", "192.0.2.10", "192.0.2.102", 25),
    );
    latencies.push(wait_kernel(
        "delreal after a hop",
        |t| weight(t, &web(), "192.0.2.102", 80).is_none(),
        BOUND,
    ));
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    report!(
        "diff line appended -> in the kernel (inotify, 11 lines): median {:?}, worst {:?}",
        median,
        latencies[latencies.len() - 1]
    );
    // The requirement: a line is in the kernel within 100 ms (about 5 ms measured under TCG).
    assert!(median < Duration::from_millis(100), "{latencies:?}");
    // SIGTERM leaves the kernel as it is.
    stop(s);
    let after = ipvsadm(&["-S", "-n"]);
    assert!(
        after.contains("-a -t 192.0.2.10:80 -r 192.0.2.101:80 -g -w 10"),
        "{after}"
    );
    // A restart on an unchanged table sends nothing.
    let s = start(&st, &[]);
    assert!(s.saw(&["full synchronisation", "12 diff lines", "0 operations"]));
    stop(s);
    ipvsadm(&["-C"]);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn unmanaged_services_go_with_u_and_unmanaged_reals_always() {
    ipvsadm(&["-C"]);
    let st = State::new("");
    st.full(1_800_000_000, FULL);
    ipvsadm(&["-A", "-t", "192.0.2.99:80", "-s", "rr"]);
    ipvsadm(&["-A", "-t", "192.0.2.10:80", "-s", "wrr"]);
    ipvsadm(&[
        "-a",
        "-t",
        "192.0.2.10:80",
        "-r",
        "192.0.2.200:80",
        "-g",
        "-w",
        "5",
    ]);
    let stray = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("192.0.2.99"),
        port: 80,
    };
    let s = start(&st, &[]);
    let t = kernel();
    assert!(
        t.get(&stray).is_some(),
        "without -u the unmanaged service stays"
    );
    assert_eq!(
        weight(&t, &web(), "192.0.2.200", 80),
        None,
        "unmanaged real deleted"
    );
    assert_eq!(weight(&t, &web(), "192.0.2.101", 80), Some(10));
    stop(s);
    let s = start(&st, &["-u"]);
    let t = kernel();
    assert!(t.get(&stray).is_none(), "-u deletes the unmanaged service");
    assert_eq!(t.len(), 2);
    stop(s);
    ipvsadm(&["-C"]);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn drift_repair_restores_what_was_changed_by_hand() {
    ipvsadm(&["-C"]);
    let st = State::new("");
    st.full(1_800_000_000, FULL);
    let mut s = start(&st, &["--repair-interval", "1"]);
    ipvsadm(&["-D", "-t", "192.0.2.10:80"]);
    let restored = wait_kernel(
        "service restored",
        |t| weight(t, &web(), "192.0.2.102", 80) == Some(20),
        BOUND,
    );
    s.expect(
        &[
            "WARN",
            "repaired: add service tcp 192.0.2.10:80",
            "deleted outside ipvssync",
        ],
        BOUND,
    );
    ipvsadm(&["-e", "-f", "7", "-r", "192.0.2.103:0", "-m", "-w", "99"]);
    let reweighted = wait_kernel(
        "weight restored",
        |t| {
            let fw = ServiceKey::Fwmark {
                af: lvs_core::model::AddressFamily::Inet,
                mark: 7,
            };
            weight(t, &fw, "192.0.2.103", 0) == Some(3)
        },
        BOUND,
    );
    s.expect(
        &[
            "repaired: edit destination 192.0.2.103:0",
            "changed outside ipvssync",
        ],
        BOUND,
    );
    report!(
        "drift repair (--repair-interval 1): deleted service back {restored:?} after the \
         deletion, hand-edited weight back {reweighted:?} after the edit"
    );
    // Nothing to repair: silent.
    let quiet = s.drain(Duration::from_millis(2500));
    let later: Vec<_> = quiet
        .iter()
        .skip_while(|l| !l.contains("repaired: edit destination"))
        .skip(1)
        .filter(|l| l.contains("repaired"))
        .collect();
    assert!(later.is_empty(), "{later:?}");
    stop(s);
    // Off with 0: a deletion stays.
    let s = start(&st, &["--repair-interval", "0"]);
    ipvsadm(&["-D", "-t", "192.0.2.10:80"]);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        kernel().get(&web()).is_none(),
        "--repair-interval 0 repairs nothing"
    );
    stop(s);
    ipvsadm(&["-C"]);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn reload_flag_and_sighup_resynchronise() {
    ipvsadm(&["-C"]);
    let st = State::new("");
    st.full(1_800_000_000, FULL);
    let mut s = start(&st, &["--repair-interval", "0"]);
    st.full(
        1_800_000_120,
        &format!(
            "{FULL}virtual vname=mail vproto=tcp vaddr=192.0.2.11 vport=25 vrt=masq vsched=rr\n\
             real rname=m raddr=192.0.2.111 rport=25 rweight=1\n"
        ),
    );
    std::fs::write(st.reload_flag(), "").expect("flag");
    let mail = ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip("192.0.2.11"),
        port: 25,
    };
    let took = wait_kernel(
        "reload",
        |t| weight(t, &mail, "192.0.2.111", 25) == Some(1),
        BOUND,
    );
    report!("reload flag -> new service in the kernel: {took:?}");
    s.expect(&["reload flag found"], BOUND);
    assert!(!st.reload_flag().exists());
    // SIGHUP: a full synchronisation repairs a hand deletion even with drift repair off.
    ipvsadm(&["-D", "-t", "192.0.2.11:25"]);
    s.signal("HUP");
    wait_kernel(
        "SIGHUP",
        |t| weight(t, &mail, "192.0.2.111", 25) == Some(1),
        BOUND,
    );
    s.expect(&["SIGHUP: full synchronisation"], BOUND);
    stop(s);
    ipvsadm(&["-C"]);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn obsolete_diffs_are_cleaned_up_unless_k() {
    ipvsadm(&["-C"]);
    for keep in [false, true] {
        let st = State::new("");
        st.full(1_800_000_060, FULL);
        st.append(1_800_000_000, "");
        let mut args = vec!["--cleanup-interval", "1"];
        if keep {
            args.push("-k");
        }
        let mut s = start(&st, &args);
        if keep {
            s.drain(Duration::from_millis(2500));
            assert!(st.diff(1_800_000_000).exists(), "-k keeps it");
        } else {
            s.expect(
                &["diff_sync.1800000000: deleted (obsolete diff file)"],
                BOUND,
            );
            assert!(!st.diff(1_800_000_000).exists());
        }
        assert!(st.diff(1_800_000_060).exists());
        stop(s);
    }
    ipvsadm(&["-C"]);
}

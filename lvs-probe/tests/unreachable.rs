//! "Unreachable", produced without sending a packet anywhere: in a network namespace of its own
//! (made by the test thread with `unshare(CLONE_NEWNET)`), even the loopback interface is down,
//! so there is no route to 127.0.0.1 and connect and send fail at once with ENETUNREACH.
//! Needs CAP_SYS_ADMIN (root, as the tests run here and in CI).

use lvs_probe::{ConnProblem, DnsProber, Failure, Prober, Target, TcpProber};
use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use tokio::time::{Duration, Instant};

#[test]
fn no_route_in_an_empty_network_namespace() {
    let results = std::thread::spawn(|| {
        unshare(CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| {
            panic!("unshare(CLONE_NEWNET): {e}; this test needs CAP_SYS_ADMIN (run as root)")
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let ip = "127.0.0.1".parse().expect("ip");
            let deadline = Instant::now() + Duration::from_secs(2);
            let tcp = TcpProber::new()
                .probe(&Target::new("tcp", ip, 80), deadline)
                .await;
            let dns = DnsProber::new()
                .probe(
                    &Target::new("dns", ip, 53).str_attr("request", "example.com"),
                    deadline,
                )
                .await;
            (tcp, dns)
        })
    })
    .join()
    .expect("the namespace thread");
    let unreachable = Failure::Unreachable {
        errno: Errno::ENETUNREACH as i32,
    };
    let (tcp, dns) = results;
    assert_eq!(tcp.result, Err(unreachable.clone()));
    assert_eq!(tcp.timings.connect, None);
    assert!(
        tcp.timings.total < Duration::from_secs(1),
        "at once, not at the deadline"
    );
    assert_eq!(
        tcp.failure().and_then(Failure::conn_problem),
        Some(ConnProblem::Arp)
    );
    assert_eq!(dns.result, Err(unreachable));
}

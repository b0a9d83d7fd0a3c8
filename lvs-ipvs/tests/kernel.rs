//! The client against a real kernel's IPVS: every operation, every error the kernel can give,
//! IPv6, firewall marks, tunnel options, a multi-part dump of more than 1,000 services, and apply
//! converging from arbitrary kernel states (including entries added by hand with ipvsadm), checked
//! against `ipvsadm -S -n`.
//!
//! These tests need IPVS and root: they are `#[ignore]`d on the host and run by
//! `scripts/kernel-tests.sh` in a qemu guest (one thread, one network namespace). Each test
//! flushes the table first and uses its own addresses. Debian's `ipvsadm`, the independent
//! witness, is at `$LVS_IPVSADM` in the guest.

mod common;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::IpAddr;

use common::{ipvsadm, ipvsadm_with_input};
use lvs_core::model::{
    AddressFamily, DestKey, Destination, Forwarding, Netmask, Operation, Persistence, Protocol,
    SchedFlags, Scheduler, Service, ServiceKey, Table, Tunnel, TunnelChecksum, UnmanagedPolicy,
};
use lvs_ipvs::save::{restore_text, SaveStyle};
use lvs_ipvs::{Client, DaemonState, Error, Options, Reason, SyncDaemon, Timeouts};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn tcp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip(addr),
        port,
    }
}

fn udp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: ip(addr),
        port,
    }
}

fn sched(name: &str) -> Scheduler {
    Scheduler::new(name).expect("known scheduler")
}

fn svc(key: ServiceKey, s: &str) -> Service {
    Service::new(key, sched(s))
}

fn dest(addr: &str, port: u16, weight: u32, fwd: Forwarding) -> Destination {
    Destination::new(ip(addr), port, weight, fwd)
}

/// A client on a flushed table.
fn fresh() -> Client {
    let mut c = Client::new().expect("IPVS client");
    c.flush().expect("flush");
    c
}

fn reason(r: Result<impl std::fmt::Debug, Error>) -> Reason {
    match r {
        Err(e) => {
            println!("  expected error: {e}");
            e.reason()
                .unwrap_or_else(|| panic!("not a kernel error: {e:?}"))
        }
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

fn lines(s: &str) -> BTreeSet<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// ipvsadm, reading the kernel on its own, sees exactly `table`.
fn assert_ipvsadm_sees(table: &Table) {
    let want = restore_text(table, SaveStyle::Ipvsadm).expect("restorable table");
    let got = ipvsadm(&["-S", "-n"]);
    assert_eq!(
        lines(&got),
        lines(&want),
        "ipvsadm -S -n:\n{got}\nexpected:\n{want}"
    );
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn info_and_family() {
    let mut c = fresh();
    assert_ne!(c.family_id(), 0);
    let info = c.info().expect("info");
    println!(
        "IPVS {} conn_tab_size {}",
        info.version_string(),
        info.conn_tab_size
    );
    assert_eq!(info.version, 0x010201);
    assert!(info.conn_tab_size > 0);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn service_add_get_edit_delete_ipv4() {
    let mut c = fresh();
    let key = tcp("10.1.0.1", 80);
    let mut s = svc(key, "wlc");
    c.add_service(&s).expect("add");
    assert_eq!(c.service(&key).expect("get").service, s);
    s.scheduler = sched("rr");
    s.persistence = Some(Persistence {
        timeout: 300,
        netmask: Netmask::V4("255.255.255.0".parse().expect("mask")),
        engine: None,
    });
    c.edit_service(&s).expect("edit");
    let got = c.service(&key).expect("get");
    assert_eq!(got.service, s);
    assert_eq!(got.stats.conns, 0);
    // Persistence off again: the flags are sent with a full mask.
    s.persistence = None;
    c.edit_service(&s).expect("edit back");
    assert_eq!(c.service(&key).expect("get").service, s);
    let all = c.services().expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].service, s);
    assert_ipvsadm_sees(&c.table().expect("table"));
    c.delete_service(&key).expect("delete");
    assert_eq!(reason(c.service(&key)), Reason::NoSuchService);
    assert!(c.services().expect("list").is_empty());
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn ipv6_fwmark_sctp_udp_services_with_every_option() {
    let mut c = fresh();
    let mut v6 = svc(tcp("2001:db8:1::1", 443), "sh");
    v6.sched_flags = SchedFlags {
        fallback: true,
        port: true,
        flag3: false,
    };
    v6.persistence = Some(Persistence {
        timeout: 600,
        netmask: Netmask::V6(64),
        engine: None,
    });
    let fw4 = svc(
        ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark: 42,
        },
        "rr",
    );
    let mut fw6 = svc(
        ServiceKey::Fwmark {
            af: AddressFamily::Inet6,
            mark: 42,
        },
        "mh",
    );
    fw6.sched_flags.fallback = true;
    fw6.one_packet = true;
    let sctp = svc(
        ServiceKey::Inet {
            protocol: Protocol::Sctp,
            addr: ip("10.1.1.3"),
            port: 9,
        },
        "wrr",
    );
    let mut sip = svc(udp("10.1.1.4", 5060), "rr");
    sip.one_packet = true;
    sip.persistence = Some(Persistence {
        timeout: 60,
        netmask: Netmask::host(AddressFamily::Inet),
        engine: Some("sip".into()),
    });
    let mut port0 = svc(tcp("10.1.1.5", 0), "wlc");
    port0.persistence = Some(Persistence {
        timeout: 120,
        netmask: Netmask::host(AddressFamily::Inet),
        engine: None,
    });
    let all = [v6, fw4, fw6, sctp, sip, port0];
    for s in &all {
        c.add_service(s).unwrap_or_else(|e| panic!("{e}"));
    }
    for s in &all {
        assert_eq!(&c.service(&s.key).expect("get").service, s);
    }
    let mut listed: Vec<Service> = c
        .services()
        .expect("list")
        .into_iter()
        .map(|s| s.service)
        .collect();
    listed.sort();
    let mut want = all.to_vec();
    want.sort();
    assert_eq!(listed, want);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn destinations_with_every_forwarding_method_and_tunnel_option() {
    let mut c = fresh();
    let key = tcp("10.2.0.1", 80);
    c.add_service(&svc(key, "wrr")).expect("add service");
    let mut masq = dest("10.2.1.1", 8080, 5, Forwarding::Masq);
    masq.upper_threshold = 1000;
    masq.lower_threshold = 100;
    let ds = vec![
        masq,
        dest("10.2.1.2", 80, 1, Forwarding::DirectRoute),
        dest("10.2.1.3", 80, 0, Forwarding::Local),
        dest("10.2.1.4", 80, 65535, Forwarding::Tunnel(Tunnel::Ipip)),
        dest(
            "10.2.1.5",
            80,
            2,
            Forwarding::Tunnel(Tunnel::Gue {
                port: 6080,
                csum: TunnelChecksum::RemCsum,
            }),
        ),
        dest(
            "10.2.1.6",
            80,
            3,
            Forwarding::Tunnel(Tunnel::Gre {
                csum: TunnelChecksum::Csum,
            }),
        ),
        // Another address family: allowed with tunnelling only.
        dest(
            "2001:db8:2::7",
            80,
            4,
            Forwarding::Tunnel(Tunnel::Gue {
                port: 6081,
                csum: TunnelChecksum::NoCsum,
            }),
        ),
    ];
    for d in &ds {
        c.add_destination(&key, d).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut got: Vec<Destination> = c
        .destinations(&key)
        .expect("list")
        .into_iter()
        .map(|d| d.dest)
        .collect();
    got.sort();
    let mut want = ds.clone();
    want.sort();
    assert_eq!(got, want);

    // Edit: weight, thresholds, and forwarding (GUE -> IPIP clears the tunnel options).
    let mut e = ds[4];
    e.weight = 77;
    e.forwarding = Forwarding::Tunnel(Tunnel::Ipip);
    e.upper_threshold = 10;
    c.edit_destination(&key, &e).expect("edit");
    let now = c.destinations(&key).expect("list");
    assert!(now.iter().any(|d| d.dest == e), "{now:?}");
    assert_eq!(
        reason(c.add_destination(&key, &e)),
        Reason::DestinationExists
    );

    c.delete_destination(&key, &e.key()).expect("delete");
    assert_eq!(
        reason(c.delete_destination(&key, &e.key())),
        Reason::NoSuchDestination
    );
    assert_eq!(
        reason(c.edit_destination(&key, &e)),
        Reason::NoSuchDestination
    );
    assert_eq!(c.destinations(&key).expect("list").len(), ds.len() - 1);

    // A fwmark service's destinations may have port 0.
    let fw = ServiceKey::Fwmark {
        af: AddressFamily::Inet6,
        mark: 7,
    };
    c.add_service(&svc(fw, "rr")).expect("fwmark service");
    let d6 = dest("2001:db8:2::8", 0, 9, Forwarding::DirectRoute);
    c.add_destination(&fw, &d6).expect("fwmark dest");
    assert_eq!(c.destinations(&fw).expect("list")[0].dest, d6);
    let st = &c.destinations(&fw).expect("list")[0];
    assert_eq!(
        (st.active_conns, st.inactive_conns, st.persistent_conns),
        (0, 0, 0)
    );

    let t = c.table().expect("table");
    assert_eq!(t.len(), 2);
    assert_eq!(t.destination_count(), ds.len());
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn every_error_the_kernel_gives_is_named() {
    let mut c = fresh();
    let key = tcp("10.3.0.1", 80);
    let missing = tcp("10.3.0.2", 80);
    c.add_service(&svc(key, "rr")).expect("add");
    // EEXIST
    assert_eq!(
        reason(c.add_service(&svc(key, "rr"))),
        Reason::ServiceExists
    );
    // ESRCH
    assert_eq!(reason(c.delete_service(&missing)), Reason::NoSuchService);
    assert_eq!(
        reason(c.edit_service(&svc(missing, "rr"))),
        Reason::NoSuchService
    );
    assert_eq!(reason(c.service(&missing)), Reason::NoSuchService);
    assert_eq!(reason(c.destinations(&missing)), Reason::NoSuchService);
    assert_eq!(reason(c.zero_service(&missing)), Reason::NoSuchService);
    let d = dest("10.3.1.1", 80, 1, Forwarding::Masq);
    assert_eq!(
        reason(c.add_destination(&missing, &d)),
        Reason::NoSuchService
    );
    // ENOENT: unknown scheduler / persistence engine
    let custom = Service::new(
        tcp("10.3.0.3", 80),
        Scheduler::custom("nosuchsched").expect("name"),
    );
    assert_eq!(reason(c.add_service(&custom)), Reason::SchedulerNotFound);
    let mut pe = svc(tcp("10.3.0.4", 80), "rr");
    pe.persistence = Some(Persistence {
        timeout: 10,
        netmask: Netmask::host(AddressFamily::Inet),
        engine: Some("nosuchpe".into()),
    });
    assert_eq!(reason(c.add_service(&pe)), Reason::SchedulerNotFound);
    // ENOENT: missing destination
    assert_eq!(
        reason(c.delete_destination(&key, &d.key())),
        Reason::NoSuchDestination
    );
    // ERANGE: weight above i32::MAX, lower threshold above upper
    let big = dest("10.3.1.2", 80, 1 << 31, Forwarding::Masq);
    assert_eq!(reason(c.add_destination(&key, &big)), Reason::OutOfRange);
    let mut th = dest("10.3.1.3", 80, 1, Forwarding::Masq);
    th.upper_threshold = 10;
    th.lower_threshold = 20;
    assert_eq!(reason(c.add_destination(&key, &th)), Reason::OutOfRange);
    // EINVAL: multicast destination, GUE without port, IPv6 dest of an IPv4 service by NAT
    let mc = dest("224.0.0.9", 80, 1, Forwarding::Masq);
    assert_eq!(
        reason(c.add_destination(&key, &mc)),
        Reason::InvalidArgument
    );
    let gue0 = dest(
        "10.3.1.4",
        80,
        1,
        Forwarding::Tunnel(Tunnel::Gue {
            port: 0,
            csum: TunnelChecksum::NoCsum,
        }),
    );
    assert_eq!(
        reason(c.add_destination(&key, &gue0)),
        Reason::InvalidArgument
    );
    let mixed = dest("2001:db8:3::1", 80, 1, Forwarding::Masq);
    assert_eq!(
        reason(c.add_destination(&key, &mixed)),
        Reason::InvalidArgument
    );
    // Refused before sending: an IPv6 prefix on an IPv4 service.
    let mut bad = svc(tcp("10.3.0.5", 80), "rr");
    bad.persistence = Some(Persistence {
        timeout: 10,
        netmask: Netmask::V6(64),
        engine: None,
    });
    assert!(matches!(c.add_service(&bad), Err(Error::Invalid { .. })));
    // Daemons: EEXIST / ESRCH
    assert_eq!(reason(c.stop_daemon(DaemonState::Backup)), Reason::NoDaemon);
    // Nothing of the above changed the table.
    assert_eq!(c.services().expect("list").len(), 1);
    assert!(c.destinations(&key).expect("list").is_empty());
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn eopnotsupp_for_a_command_the_kernel_does_not_have() {
    use lvs_ipvs::wire::{IpvsCmd, IpvsMessage};
    // No public call sends an unknown command; this goes through the wire module and a raw
    // socket to check the kernel's answer and its meaning.
    use netlink_packet_core::{NetlinkMessage, NLM_F_ACK, NLM_F_REQUEST};
    use netlink_packet_generic::GenlMessage;
    use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};
    let c = fresh();
    let mut sock = Socket::new(NETLINK_GENERIC).expect("socket");
    sock.bind_auto().expect("bind");
    sock.connect(&SocketAddr::new(0, 0)).expect("connect");
    let mut genl = GenlMessage::from_payload(IpvsMessage::new(IpvsCmd::Other(99), vec![]));
    genl.set_resolved_family_id(c.family_id());
    let mut nl = NetlinkMessage::from(genl);
    nl.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    nl.header.sequence_number = 5;
    nl.finalize();
    let mut buf = vec![0; nl.buffer_len()];
    nl.serialize(&mut buf);
    sock.send(&buf, 0).expect("send");
    let (reply, _) = sock.recv_from_full().expect("recv");
    let code = i32::from_ne_bytes(reply[16..20].try_into().expect("code"));
    assert_eq!(-code, libc::EOPNOTSUPP);
    assert_eq!(Reason::of(lvs_ipvs::Op::Info, -code), Reason::NotSupported);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn eperm_without_cap_net_admin() {
    let _ = fresh();
    // Drop CAP_NET_ADMIN on a thread of our own: the kernel checks the sender's capabilities.
    let r = std::thread::spawn(|| {
        use rustix::thread::{capabilities, set_capabilities, CapabilitySet};
        let mut caps = capabilities(None).expect("capget");
        caps.effective.remove(CapabilitySet::NET_ADMIN);
        caps.permitted.remove(CapabilitySet::NET_ADMIN);
        set_capabilities(None, caps).expect("capset");
        let mut c = Client::new().expect("resolving the family needs no capability");
        c.add_service(&svc(tcp("10.4.0.1", 80), "rr"))
    })
    .join()
    .expect("thread");
    assert_eq!(reason(r), Reason::PermissionDenied);
    assert!(Client::new()
        .expect("client")
        .services()
        .expect("list")
        .is_empty());
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn timeouts_get_and_set() {
    let mut c = fresh();
    let before = c.timeouts().expect("get");
    println!("timeouts {before:?}");
    assert!(before.tcp > 0 && before.tcp_fin > 0 && before.udp > 0);
    let t = Timeouts {
        tcp: 1000,
        tcp_fin: 100,
        udp: 200,
    };
    c.set_timeouts(&t).expect("set");
    assert_eq!(c.timeouts().expect("get"), t);
    // 0 leaves a value alone.
    c.set_timeouts(&Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 250,
    })
    .expect("set udp");
    assert_eq!(c.timeouts().expect("get"), Timeouts { udp: 250, ..t });
    c.set_timeouts(&before).expect("restore");
    assert_eq!(c.timeouts().expect("get"), before);
    assert_eq!(lines(&ipvsadm(&["-L", "--timeout"])).len(), 1);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn sync_daemons_start_list_stop() {
    let mut c = fresh();
    for s in [DaemonState::Master, DaemonState::Backup] {
        let _ = c.stop_daemon(s);
    }
    let master = SyncDaemon::new(DaemonState::Master, "lo", 7);
    c.start_daemon(&master).expect("start master");
    assert_eq!(reason(c.start_daemon(&master)), Reason::DaemonRunning);
    let mut backup = SyncDaemon::new(DaemonState::Backup, "lo", 8);
    backup.group = Some(ip("239.1.2.3"));
    backup.port = Some(8849);
    backup.ttl = Some(3);
    backup.max_len = Some(1400);
    c.start_daemon(&backup).expect("start backup");
    let ds = c.daemons().expect("list");
    println!("daemons {ds:?}");
    assert_eq!(ds.len(), 2);
    let m = ds
        .iter()
        .find(|d| d.state == DaemonState::Master)
        .expect("master");
    assert_eq!((m.interface.as_str(), m.sync_id), ("lo", 7));
    let b = ds
        .iter()
        .find(|d| d.state == DaemonState::Backup)
        .expect("backup");
    assert_eq!((b.interface.as_str(), b.sync_id), ("lo", 8));
    assert_eq!(b.group, Some(ip("239.1.2.3")));
    assert_eq!(
        (b.port, b.ttl, b.max_len),
        (Some(8849), Some(3), Some(1400))
    );
    let seen = ipvsadm(&["-L", "--daemon"]);
    assert!(
        seen.contains("master sync daemon") && seen.contains("backup sync daemon"),
        "{seen}"
    );
    c.stop_daemon(DaemonState::Master).expect("stop master");
    c.stop_daemon(DaemonState::Backup).expect("stop backup");
    assert_eq!(reason(c.stop_daemon(DaemonState::Master)), Reason::NoDaemon);
    assert!(c.daemons().expect("list").is_empty());
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn zero_and_flush() {
    let mut c = fresh();
    let key = tcp("10.5.0.1", 80);
    c.add_service(&svc(key, "rr")).expect("add");
    c.add_service(&svc(udp("10.5.0.1", 53), "rr")).expect("add");
    c.zero_service(&key).expect("zero one");
    c.zero_all().expect("zero all");
    assert_eq!(
        c.service(&key).expect("get").stats,
        lvs_ipvs::Stats::default()
    );
    c.flush().expect("flush");
    assert!(c.services().expect("list").is_empty());
    assert!(ipvsadm(&["-S", "-n"]).trim().is_empty());
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn dumps_of_more_than_a_thousand_entries_are_multipart() {
    let mut c = fresh();
    let ops: Vec<Operation> = (0..1200u32)
        .map(|i| {
            Operation::AddService(svc(
                tcp(&format!("10.6.{}.{}", i / 250, 1 + i % 250), 80),
                "rr",
            ))
        })
        .collect();
    let before = c.counters();
    let results = c.execute(&ops);
    assert!(results.iter().all(|r| r.result.is_ok()));
    let after = c.counters();
    assert_eq!(after.requests - before.requests, 1200);
    assert_eq!(after.sends - before.sends, 1200u64.div_ceil(256));
    let mut datagrams = 0usize;
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = count.clone();
    c.set_tap(Some(Box::new(move |_| {
        n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })));
    let listed = c.services().expect("list");
    datagrams += count.load(std::sync::atomic::Ordering::Relaxed);
    println!("1200 services came back in {datagrams} datagrams");
    assert_eq!(listed.len(), 1200);
    assert!(datagrams > 1);
    c.set_tap(None);

    let key = tcp("10.6.0.1", 80);
    let ops: Vec<Operation> = (0..1100u32)
        .map(|i| Operation::AddDestination {
            service: key,
            dest: dest(
                &format!("10.7.{}.{}", i / 250, 1 + i % 250),
                80,
                i % 100,
                Forwarding::Masq,
            ),
        })
        .collect();
    assert!(c.execute(&ops).iter().all(|r| r.result.is_ok()));
    assert_eq!(c.destinations(&key).expect("dests").len(), 1100);
    let t = c.table().expect("table");
    assert_eq!((t.len(), t.destination_count()), (1200, 1100));
    assert_ipvsadm_sees(&t);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn answers_lost_to_a_tiny_receive_queue_are_reported_not_waited_for() {
    let _ = fresh();
    let mut c = Client::with_options(Options {
        recv_buffer: 4096,
        batch_size: 1500,
        ..Options::default()
    })
    .expect("client");
    let ops: Vec<Operation> = (0..1500u32)
        .map(|i| {
            Operation::AddService(svc(
                tcp(&format!("10.8.{}.{}", i / 250, 1 + i % 250), 80),
                "rr",
            ))
        })
        .collect();
    let results = c.execute(&ops);
    assert_eq!(results.len(), 1500);
    let ok = results.iter().filter(|r| r.result.is_ok()).count();
    let lost = results
        .iter()
        .filter(|r| matches!(r.result, Err(Error::ReplyLost { .. })))
        .count();
    writeln!(
        std::io::stdout().lock(),
        "tiny receive queue: {ok} acknowledged, {lost} answers lost"
    )
    .expect("console");
    assert_eq!(ok + lost, 1500);
    assert!(
        lost > 0,
        "the receive queue did not overflow: the test proves nothing"
    );
    // The kernel did every change; only answers were dropped. Re-reading tells the truth.
    assert_eq!(fresh_read().len(), 1500);
}

fn fresh_read() -> Vec<lvs_ipvs::ServiceStatus> {
    Client::new().expect("client").services().expect("list")
}

/// A small deterministic generator (xorshift) for arbitrary tables.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// An arbitrary table that ipvsadm can restore (so it can also be the starting state), on a
/// small address space so that successive tables overlap.
fn arbitrary_table(rng: &mut Rng) -> Table {
    let mut t = Table::new();
    let n = 1 + rng.below(12);
    for _ in 0..n {
        let v6 = rng.chance(30);
        let key = match rng.below(4) {
            0 => ServiceKey::Fwmark {
                af: if v6 {
                    AddressFamily::Inet6
                } else {
                    AddressFamily::Inet
                },
                mark: 1 + rng.below(4) as u32,
            },
            k => ServiceKey::Inet {
                protocol: [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][(k - 1) as usize],
                addr: if v6 {
                    ip(&format!("2001:db8:77::{}", 1 + rng.below(3)))
                } else {
                    ip(&format!("10.77.0.{}", 1 + rng.below(3)))
                },
                port: [80, 443][rng.below(2) as usize],
            },
        };
        let name = ["rr", "wrr", "wlc", "sh", "mh"][rng.below(5) as usize];
        let mut s = svc(key, name);
        if name == "sh" || name == "mh" {
            s.sched_flags.fallback = rng.chance(50);
            s.sched_flags.port = rng.chance(50);
        }
        if rng.chance(40) {
            s.persistence = Some(Persistence {
                timeout: 60 * (1 + rng.below(10) as u32),
                netmask: match (key.af(), rng.chance(50)) {
                    (AddressFamily::Inet, true) => Netmask::V4("255.255.255.0".parse().expect("m")),
                    (AddressFamily::Inet6, true) => Netmask::V6(64),
                    (af, false) => Netmask::host(af),
                },
                engine: None,
            });
        }
        let udp_like = matches!(
            key,
            ServiceKey::Fwmark { .. }
                | ServiceKey::Inet {
                    protocol: Protocol::Udp,
                    ..
                }
        );
        s.one_packet = udp_like && rng.chance(30);
        let sport = match key {
            ServiceKey::Inet { port, .. } => Some(port),
            ServiceKey::Fwmark { .. } => None,
        };
        t.insert_service(s);
        for _ in 0..rng.below(5) {
            let other_af = rng.chance(10);
            let d_v6 = (key.af() == AddressFamily::Inet6) != other_af;
            let addr = if d_v6 {
                ip(&format!("2001:db8:78::{}", 1 + rng.below(6)))
            } else {
                ip(&format!("10.78.0.{}", 1 + rng.below(6)))
            };
            let fwd = if other_af {
                Forwarding::Tunnel(Tunnel::Ipip)
            } else {
                match rng.below(6) {
                    0 => Forwarding::Masq,
                    1 | 2 => Forwarding::DirectRoute,
                    3 => Forwarding::Tunnel(Tunnel::Ipip),
                    4 => Forwarding::Tunnel(Tunnel::Gue {
                        port: 6080 + rng.below(2) as u16,
                        csum: [
                            TunnelChecksum::NoCsum,
                            TunnelChecksum::Csum,
                            TunnelChecksum::RemCsum,
                        ][rng.below(3) as usize],
                    }),
                    _ => Forwarding::Tunnel(Tunnel::Gre {
                        csum: [TunnelChecksum::NoCsum, TunnelChecksum::Csum][rng.below(2) as usize],
                    }),
                }
            };
            let port = match (fwd, sport) {
                (Forwarding::Masq, _) => 8000 + rng.below(3) as u16,
                (_, Some(p)) => p,
                (_, None) => [0, 80][rng.below(2) as usize],
            };
            let mut d = Destination::new(addr, port, rng.below(1000) as u32, fwd);
            if rng.chance(30) {
                d.upper_threshold = 100 + rng.below(100) as u32;
                d.lower_threshold = rng.below(100) as u32;
            }
            t.insert_destination(&key, d).expect("service exists");
        }
    }
    t
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn apply_converges_and_a_weight_change_costs_one_request() {
    let mut c = fresh();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let wanted = arbitrary_table(&mut rng);
    let r = c.apply(&wanted, UnmanagedPolicy::Delete).expect("apply");
    for f in r.failures() {
        println!("failed: {} {:?}", f.operation, f.result);
    }
    assert!(r.is_success());
    assert_eq!(r.dumps, 1, "an empty kernel needs one dump only");
    assert_eq!(c.table().expect("table"), wanted);
    assert_ipvsadm_sees(&wanted);

    // Unchanged: only the dumps (one of services, one per service for destinations).
    let r = c.apply(&wanted, UnmanagedPolicy::Delete).expect("re-apply");
    assert_eq!(r.changes(), 0);
    assert_eq!(r.requests, r.dumps);
    assert_eq!(r.dumps, 1 + wanted.len() as u64);

    // One weight: one request besides the dumps.
    let mut w2 = wanted.clone();
    let (skey, d) = {
        let e = w2
            .iter()
            .find(|e| !e.destinations.is_empty())
            .expect("a service with destinations");
        (
            e.service.key,
            *e.destinations.values().next().expect("dest"),
        )
    };
    let mut d2 = d;
    d2.weight += 1;
    w2.insert_destination(&skey, d2).expect("insert");
    let r = c.apply(&w2, UnmanagedPolicy::Keep).expect("apply weight");
    assert_eq!(r.changes(), 1);
    assert_eq!(r.requests - r.dumps, 1);
    assert!(r.is_success());
    assert_eq!(c.table().expect("table"), w2);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn apply_converges_from_arbitrary_states_and_hand_made_changes() {
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    for round in 0..12 {
        let mut c = fresh();
        let start = arbitrary_table(&mut rng);
        let wanted = arbitrary_table(&mut rng);
        // The starting state is made by ipvsadm, not by us.
        ipvsadm_with_input(
            &["-R"],
            &restore_text(&start, SaveStyle::Full).expect("restorable"),
        );
        assert_eq!(
            c.table().expect("table"),
            start,
            "round {round}: ipvsadm -R"
        );
        let policy = if round % 2 == 0 {
            UnmanagedPolicy::Delete
        } else {
            UnmanagedPolicy::Keep
        };
        let r = c.apply(&wanted, policy).expect("apply");
        for f in r.failures() {
            println!("round {round} failed: {} {:?}", f.operation, f.result);
        }
        assert!(r.is_success(), "round {round}");
        let mut expect = wanted.clone();
        if policy == UnmanagedPolicy::Keep {
            for e in &start {
                if wanted.get(&e.service.key).is_none() {
                    expect.insert_service(e.service.clone());
                    for d in e.destinations.values() {
                        expect.insert_destination(&e.service.key, *d).expect("svc");
                    }
                }
            }
        }
        assert_eq!(c.table().expect("table"), expect, "round {round}");
        assert_ipvsadm_sees(&expect);
        let again = c.apply(&wanted, policy).expect("again");
        assert_eq!(again.changes(), 0, "round {round}: converged");
    }

    // Hand-made changes to a managed table: a stray service, a stray destination in a managed
    // service, a changed weight. Keep leaves the stray service alone, Delete removes it.
    let mut c = fresh();
    let key = tcp("10.79.0.1", 80);
    let mut wanted = Table::new();
    wanted.insert_service(svc(key, "wrr"));
    let d = dest("10.79.1.1", 80, 10, Forwarding::DirectRoute);
    wanted.insert_destination(&key, d).expect("svc");
    c.apply(&wanted, UnmanagedPolicy::Delete).expect("apply");
    ipvsadm(&["-A", "-t", "10.79.0.2:80", "-s", "rr"]);
    ipvsadm(&[
        "-a",
        "-t",
        "10.79.0.1:80",
        "-r",
        "10.79.1.2:8080",
        "-m",
        "-w",
        "5",
    ]);
    ipvsadm(&[
        "-e",
        "-t",
        "10.79.0.1:80",
        "-r",
        "10.79.1.1:80",
        "-g",
        "-w",
        "3",
    ]);
    let r = c.apply(&wanted, UnmanagedPolicy::Keep).expect("apply keep");
    assert_eq!(
        r.changes(),
        2,
        "delete the stray destination, restore the weight"
    );
    let t = c.table().expect("table");
    assert_eq!(t.len(), 2);
    assert_eq!(t.get(&key), wanted.get(&key));
    let r = c
        .apply(&wanted, UnmanagedPolicy::Delete)
        .expect("apply delete");
    assert_eq!(r.changes(), 1);
    assert_eq!(c.table().expect("table"), wanted);
    assert_ipvsadm_sees(&wanted);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn one_failed_operation_does_not_stop_the_others() {
    let mut c = fresh();
    let key = tcp("10.80.0.1", 80);
    let mut wanted = Table::new();
    wanted.insert_service(svc(key, "rr"));
    let good1 = dest("10.80.1.1", 80, 1, Forwarding::DirectRoute);
    // The model cannot know this one: the kernel refuses a GUE tunnel without a port (EINVAL).
    let bad = dest(
        "10.80.1.2",
        80,
        1,
        Forwarding::Tunnel(Tunnel::Gue {
            port: 0,
            csum: TunnelChecksum::NoCsum,
        }),
    );
    let good2 = dest("10.80.1.3", 80, 1, Forwarding::DirectRoute);
    for d in [good1, bad, good2] {
        wanted.insert_destination(&key, d).expect("svc");
    }
    let r = c.apply(&wanted, UnmanagedPolicy::Delete).expect("apply");
    assert_eq!(r.changes(), 4);
    assert_eq!(r.sends, 2, "one dump, one batch");
    let failed: Vec<_> = r.failures().collect();
    assert_eq!(failed.len(), 1);
    println!(
        "the report says: {}",
        failed[0].result.as_ref().expect_err("failed")
    );
    assert_eq!(
        failed[0].operation,
        Operation::AddDestination {
            service: key,
            dest: bad
        }
    );
    let got = c.destinations(&key).expect("dests");
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|d| d.dest.key()
        != DestKey {
            addr: bad.addr,
            port: 80
        }));
}

#[cfg(feature = "tokio")]
#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn the_async_client_does_the_same() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut c = lvs_ipvs::AsyncClient::new().await.expect("client");
        c.flush().await.expect("flush");
        let key = tcp("10.81.0.1", 80);
        let s = svc(key, "rr");
        c.add_service(&s).await.expect("add");
        assert_eq!(c.service(&key).await.expect("get").service, s);
        let d = dest("10.81.1.1", 80, 4, Forwarding::Masq);
        c.add_destination(&key, &d).await.expect("add dest");
        assert_eq!(c.destinations(&key).await.expect("dests")[0].dest, d);
        let mut wanted = c.table().await.expect("table");
        let mut d2 = d;
        d2.weight = 9;
        wanted.insert_destination(&key, d2).expect("svc");
        let r = c
            .apply(&wanted, UnmanagedPolicy::Delete)
            .await
            .expect("apply");
        assert_eq!((r.changes(), r.requests - r.dumps), (1, 1));
        assert_eq!(c.table().await.expect("table"), wanted);
        assert_eq!(c.info().await.expect("info").version, 0x010201);
        let t = c.timeouts().await.expect("timeouts");
        c.set_timeouts(&t).await.expect("set timeouts");
        assert!(c.daemons().await.expect("daemons").is_empty());
        c.zero_all().await.expect("zero");
        assert_eq!(
            c.delete_service(&tcp("10.81.0.2", 80))
                .await
                .err()
                .and_then(|e| e.reason()),
            Some(Reason::NoSuchService)
        );
        c.delete_destination(&key, &d.key())
            .await
            .expect("delete dest");
        c.delete_service(&key).await.expect("delete");
        assert!(c.services().await.expect("list").is_empty());

        // Lost answers are reported, not waited for, here too.
        let mut tiny = lvs_ipvs::AsyncClient::with_options(Options {
            recv_buffer: 4096,
            batch_size: 1000,
            ..Options::default()
        })
        .await
        .expect("client");
        let ops: Vec<Operation> = (0..1000u32)
            .map(|i| {
                Operation::AddService(svc(
                    tcp(&format!("10.84.{}.{}", i / 250, 1 + i % 250), 80),
                    "rr",
                ))
            })
            .collect();
        let results = tiny.execute(&ops).await;
        let lost = results
            .iter()
            .filter(|r| matches!(r.result, Err(Error::ReplyLost { .. })))
            .count();
        assert_eq!(
            results.iter().filter(|r| r.result.is_ok()).count() + lost,
            1000
        );
        assert!(lost > 0);
        assert_eq!(c.services().await.expect("list").len(), 1000);
    });
}

/// The table whose kernel replies `tests/captures.rs` checks on the host (same values there).
fn capture_table() -> Table {
    let mut t = Table::new();
    let s1 = tcp("10.90.0.1", 80);
    let mut svc1 = svc(s1, "wlc");
    svc1.persistence = Some(Persistence {
        timeout: 120,
        netmask: Netmask::V4("255.255.255.0".parse().expect("mask")),
        engine: None,
    });
    t.insert_service(svc1);
    let mut d = dest("10.90.1.1", 8080, 5, Forwarding::Masq);
    d.upper_threshold = 1000;
    d.lower_threshold = 100;
    t.insert_destination(&s1, d).expect("svc");
    let gue = Forwarding::Tunnel(Tunnel::Gue {
        port: 6080,
        csum: TunnelChecksum::Csum,
    });
    t.insert_destination(&s1, dest("10.90.1.2", 80, 3, gue))
        .expect("svc");
    let s2 = ServiceKey::Fwmark {
        af: AddressFamily::Inet6,
        mark: 42,
    };
    let mut svc2 = svc(s2, "sh");
    svc2.sched_flags.fallback = true;
    svc2.sched_flags.port = true;
    t.insert_service(svc2);
    t.insert_destination(&s2, dest("2001:db8:90::1", 0, 1, Forwarding::DirectRoute))
        .expect("svc");
    let s3 = udp("10.90.0.2", 5060);
    let mut svc3 = svc(s3, "rr");
    svc3.one_packet = true;
    svc3.persistence = Some(Persistence {
        timeout: 60,
        netmask: Netmask::host(AddressFamily::Inet),
        engine: Some("sip".into()),
    });
    t.insert_service(svc3);
    t.insert_destination(&s3, dest("10.90.1.3", 5060, 2, Forwarding::Local))
        .expect("svc");
    t
}

/// Records the datagrams the kernel sends for each read, prints them on the console (one
/// `LVS-IPVS-CAPTURE <name> <hex>` line per datagram, outside the test harness's capture) and,
/// when `LVS_CAPTURE_DIR` is set, writes them to `<dir>/<name>.hex`. The files in
/// `lvs-ipvs/testdata/` come from this test.
#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn capture_kernel_replies() {
    use std::sync::{Arc, Mutex};
    let mut c = fresh();
    let table = capture_table();
    assert!(c
        .apply(&table, UnmanagedPolicy::Delete)
        .expect("apply")
        .is_success());
    let _ = c.stop_daemon(DaemonState::Master);
    c.start_daemon(&SyncDaemon::new(DaemonState::Master, "lo", 7))
        .expect("daemon");
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let tap = seen.clone();
    c.set_tap(Some(Box::new(move |d| {
        tap.lock().expect("tap").push(d.to_vec())
    })));
    let s1 = tcp("10.90.0.1", 80);
    let s2 = ServiceKey::Fwmark {
        af: AddressFamily::Inet6,
        mark: 42,
    };
    let record = |name: &str, c: &mut Client, f: &dyn Fn(&mut Client)| {
        seen.lock().expect("tap").clear();
        f(c);
        let grams = std::mem::take(&mut *seen.lock().expect("tap"));
        let hex: Vec<String> = grams
            .iter()
            .map(|g| g.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        let mut out = std::io::stdout().lock();
        for h in &hex {
            writeln!(out, "LVS-IPVS-CAPTURE {name} {h}").expect("console");
        }
        if let Ok(dir) = std::env::var("LVS_CAPTURE_DIR") {
            std::fs::write(format!("{dir}/{name}.hex"), hex.join("\n") + "\n").expect("write");
        }
    };
    record("info", &mut c, &|c| {
        c.info().expect("info");
    });
    record("config", &mut c, &|c| {
        c.timeouts().expect("timeouts");
    });
    record("services", &mut c, &|c| {
        assert_eq!(c.services().expect("services").len(), 3);
    });
    record("dests_tcp", &mut c, &|c| {
        assert_eq!(c.destinations(&s1).expect("dests").len(), 2);
    });
    record("dests_fwmark6", &mut c, &|c| {
        assert_eq!(c.destinations(&s2).expect("dests").len(), 1);
    });
    record("daemons", &mut c, &|c| {
        assert_eq!(c.daemons().expect("daemons").len(), 1);
    });
    record("error_eexist", &mut c, &|c| {
        let s = table.get(&s1).expect("s1").service.clone();
        assert_eq!(reason(c.add_service(&s)), Reason::ServiceExists);
    });
    c.set_tap(None);
    c.stop_daemon(DaemonState::Master).expect("stop");
    assert_eq!(c.table().expect("table"), table);
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn apply_of_thousands_is_batched_and_a_weight_change_stays_one_request() {
    let mut c = fresh();
    let mut wanted = Table::new();
    for i in 0..1500u32 {
        let key = tcp(&format!("10.82.{}.{}", i / 250, 1 + i % 250), 80);
        wanted.insert_service(svc(key, "wrr"));
        for j in 1..=3u32 {
            let d = dest(
                &format!("10.83.{}.{}", j, 1 + i % 250),
                80,
                j,
                Forwarding::DirectRoute,
            );
            wanted.insert_destination(&key, d).expect("svc");
        }
    }
    let batch = Options::default().batch_size as u64;
    let started = std::time::Instant::now();
    let r = c
        .apply(&wanted, UnmanagedPolicy::Delete)
        .expect("cold apply");
    writeln!(
        std::io::stdout().lock(),
        "cold apply of 1500 x 3: {:?}, {} sends",
        started.elapsed(),
        r.sends
    )
    .expect("console");
    assert!(r.is_success());
    assert_eq!(r.changes(), 6000);
    assert_eq!((r.requests, r.dumps), (6001, 1));
    assert_eq!(r.sends, 1 + 6000u64.div_ceil(batch));
    assert_eq!(c.table().expect("table"), wanted);

    let key = tcp("10.82.3.7", 80);
    let mut d = *wanted
        .get(&key)
        .expect("service")
        .destinations
        .values()
        .next()
        .expect("dest");
    d.weight = 100;
    wanted.insert_destination(&key, d).expect("svc");
    let r = c.apply(&wanted, UnmanagedPolicy::Delete).expect("weight");
    assert_eq!((r.changes(), r.requests - r.dumps, r.dumps), (1, 1, 1501));
    let r = c.apply(&wanted, UnmanagedPolicy::Delete).expect("again");
    assert_eq!((r.changes(), r.requests - r.dumps), (0, 0));
    assert_ipvsadm_sees(&wanted);
}

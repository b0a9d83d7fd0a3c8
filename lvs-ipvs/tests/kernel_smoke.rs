//! Smoke tests of the kernel-test harness (`scripts/kernel-tests.sh`, see `docs/kernel-tests.md`).
//!
//! They check the harness itself, without this crate's client: in the guest kernel the IPVS
//! generic-netlink family must be registered (resolved here with the netlink crates' own `nlctrl`
//! messages) and Debian's `ipvsadm`, the independent witness at `$LVS_IPVSADM`, must see a service it
//! added and print back, with `-S -n`, exactly the lines `lvs_ipvs::save` wrote for it to restore. On
//! the host, family resolution must agree with `/proc/net/ip_vs`, so a missing IPVS can never look
//! like a registered one.

mod common;

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use common::{ipvsadm, ipvsadm_with_input};
use lvs_core::model::{
    AddressFamily, Destination, Forwarding, Netmask, Persistence, Protocol, SchedFlags, Scheduler,
    Service, ServiceKey, Table, Tunnel, TunnelChecksum,
};
use lvs_ipvs::save::{restore_text, SaveStyle};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::protocols::NETLINK_GENERIC;
use netlink_sys::{Socket, SocketAddr};

/// The id of the generic-netlink controller family itself (`GENL_ID_CTRL`).
const GENL_ID_CTRL: u16 = 0x10;

/// Resolves a generic-netlink family by name: `Ok(Some(id))`, or `Ok(None)` when the kernel answers
/// `ENOENT` (no such family). Any other answer is an error.
fn resolve_family(name: &str) -> io::Result<Option<u16>> {
    let mut socket = Socket::new(NETLINK_GENERIC)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    rustix::net::sockopt::set_socket_timeout(
        &socket,
        rustix::net::sockopt::Timeout::Recv,
        Some(Duration::from_secs(5)),
    )?;

    let mut request = NetlinkMessage::from(GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(name.to_string())],
    }));
    request.header.flags = NLM_F_REQUEST;
    request.header.sequence_number = 1;
    request.finalize();
    let mut bytes = vec![0; request.buffer_len()];
    request.serialize(&mut bytes);
    socket.send(&bytes, 0)?;

    loop {
        let (reply, _) = socket.recv_from_full()?;
        let mut offset = 0;
        while offset < reply.len() {
            let message = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&reply[offset..])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let len = message.header.length as usize;
            if len == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "zero-length netlink message",
                ));
            }
            offset += (len + 3) & !3;
            if message.header.sequence_number != 1 {
                continue;
            }
            match message.payload {
                NetlinkPayload::InnerMessage(genl) => {
                    let id = genl.payload.nlas.iter().find_map(|attr| match attr {
                        GenlCtrlAttrs::FamilyId(id) => Some(*id),
                        _ => None,
                    });
                    return id.map(Some).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "reply without a family id")
                    });
                }
                NetlinkPayload::Error(e) if e.raw_code() == -libc::ENOENT => return Ok(None),
                NetlinkPayload::Error(e) => return Err(e.to_io()),
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected reply {other:?}"),
                    ))
                }
            }
        }
    }
}

#[test]
fn the_resolver_finds_the_controller_family() {
    // Proves the resolver below on any Linux kernel, so its `None` for IPVS means something.
    assert_eq!(
        resolve_family("nlctrl").expect("GETFAMILY nlctrl"),
        Some(GENL_ID_CTRL)
    );
}

#[test]
fn family_resolution_agrees_with_proc_net_ip_vs() {
    // Resolving IPVS loads ip_vs where it is a module, so /proc is read afterwards.
    let id = resolve_family("IPVS").expect("GETFAMILY IPVS");
    let proc_entry = Path::new("/proc/net/ip_vs").exists();
    match id {
        Some(id) => {
            assert_ne!(id, 0, "IPVS resolved to id 0");
            assert!(
                proc_entry,
                "IPVS resolved (id {id}) but /proc/net/ip_vs is missing"
            );
        }
        None => assert!(
            !proc_entry,
            "IPVS is not resolved but /proc/net/ip_vs exists"
        ),
    }
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn ipvs_family_is_registered_in_the_guest() {
    let id = resolve_family("IPVS")
        .expect("GETFAMILY IPVS")
        .expect("the IPVS family is not registered: ip_vs is not loaded");
    assert_ne!(id, 0);
    assert_ne!(id, GENL_ID_CTRL);
    assert!(Path::new("/proc/net/ip_vs").exists());
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn ipvsadm_sees_a_service_it_added() {
    // TEST-NET-1 addresses: entries in the guest's table only, no packet is ever sent.
    let svc = "192.0.2.80:80";
    ipvsadm(&["-A", "-t", svc, "-s", "rr"]);
    ipvsadm(&["-a", "-t", svc, "-r", "192.0.2.81:8080", "-m", "-w", "3"]);
    let saved = ipvsadm(&["-S", "-n"]);
    ipvsadm(&["-D", "-t", svc]);
    let lines: Vec<&str> = saved.lines().collect();
    assert!(
        lines.contains(&"-A -t 192.0.2.80:80 -s rr"),
        "service missing from ipvsadm -Sn:\n{saved}"
    );
    assert!(
        lines.contains(&"-a -t 192.0.2.80:80 -r 192.0.2.81:8080 -m -w 3"),
        "destination missing from ipvsadm -Sn:\n{saved}"
    );
    let after = ipvsadm(&["-S", "-n"]);
    assert!(
        !after.contains("192.0.2.80:80"),
        "service still there after -D:\n{after}"
    );
}

/// A table with every kind of entry the restore text can carry.
fn every_kind_of_entry() -> Table {
    let ip = |s: &str| s.parse::<IpAddr>().expect("test address");
    let sched = |s: &str| Scheduler::new(s).expect("known scheduler");
    let mut t = Table::new();
    let mut add = |svc: Service, dests: Vec<Destination>| {
        let key = svc.key;
        t.insert_service(svc);
        for d in dests {
            t.insert_destination(&key, d).expect("service exists");
        }
    };
    let tcp = |addr: &str, port| ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: ip(addr),
        port,
    };

    let mut persistent = Service::new(tcp("192.0.2.1", 80), sched("wlc"));
    persistent.persistence = Some(Persistence {
        timeout: 120,
        netmask: Netmask::V4("255.255.255.0".parse().expect("mask")),
        engine: None,
    });
    let mut thresholds = Destination::new(ip("192.0.2.11"), 8080, 3, Forwarding::Masq);
    thresholds.upper_threshold = 100;
    thresholds.lower_threshold = 10;
    add(
        persistent,
        vec![
            thresholds,
            Destination::new(ip("192.0.2.12"), 80, 0, Forwarding::DirectRoute),
            Destination::new(ip("192.0.2.13"), 80, 1, Forwarding::Tunnel(Tunnel::Ipip)),
        ],
    );

    let mut sh = Service::new(
        ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr: ip("2001:db8::1"),
            port: 53,
        },
        sched("sh"),
    );
    sh.one_packet = true;
    sh.sched_flags = SchedFlags {
        fallback: true,
        port: true,
        flag3: false,
    };
    add(
        sh,
        vec![
            Destination::new(ip("2001:db8::53"), 5353, 2, Forwarding::Masq),
            Destination::new(
                ip("192.0.2.53"),
                53,
                1,
                Forwarding::Tunnel(Tunnel::Gue {
                    port: 6080,
                    csum: TunnelChecksum::Csum,
                }),
            ),
        ],
    );

    let mut sip = Service::new(
        ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr: ip("192.0.2.2"),
            port: 5060,
        },
        sched("rr"),
    );
    sip.persistence = Some(Persistence {
        timeout: 60,
        netmask: Netmask::host(AddressFamily::Inet),
        engine: Some("sip".into()),
    });
    add(sip, vec![]);

    add(
        Service::new(
            ServiceKey::Inet {
                protocol: Protocol::Sctp,
                addr: ip("192.0.2.3"),
                port: 3868,
            },
            sched("lc"),
        ),
        vec![Destination::new(
            ip("192.0.2.31"),
            3868,
            7,
            Forwarding::DirectRoute,
        )],
    );

    let mut mh = Service::new(
        ServiceKey::Fwmark {
            af: AddressFamily::Inet6,
            mark: 42,
        },
        sched("mh"),
    );
    mh.persistence = Some(Persistence {
        timeout: 300,
        netmask: Netmask::V6(64),
        engine: None,
    });
    mh.sched_flags.port = true;
    add(
        mh,
        vec![Destination::new(
            ip("2001:db8::42"),
            0,
            4,
            Forwarding::Tunnel(Tunnel::Gre {
                csum: TunnelChecksum::NoCsum,
            }),
        )],
    );

    let mut rr = Service::new(
        ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark: 7,
        },
        sched("rr"),
    );
    rr.sched_flags.fallback = true;
    add(
        rr,
        vec![Destination::new(
            ip("192.0.2.71"),
            8080,
            65535,
            Forwarding::Masq,
        )],
    );
    t
}

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn ipvsadm_restores_our_save_text_and_saves_it_back() {
    let table = every_kind_of_entry();
    let text = restore_text(&table, SaveStyle::Ipvsadm).expect("writable table");
    ipvsadm(&["-C"]);
    ipvsadm_with_input(&["-R"], &text);
    let saved = ipvsadm(&["-S", "-n"]);
    ipvsadm(&["-C"]);
    assert_eq!(
        sorted_lines(&saved),
        sorted_lines(&text),
        "ipvsadm -Sn after ipvsadm -R of\n{text}\nprinted\n{saved}"
    );
}

#[test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
fn ipvsadm_restores_thresholds_of_the_full_style() {
    let table = every_kind_of_entry();
    let text = restore_text(&table, SaveStyle::Full).expect("writable table");
    assert!(text.contains(" -x 100 -y 10"), "{text}");
    ipvsadm(&["-C"]);
    ipvsadm_with_input(&["-R"], &text);
    let listed = ipvsadm(&["-L", "-n", "--thresholds"]);
    let saved = ipvsadm(&["-S", "-n"]);
    ipvsadm(&["-C"]);
    // Full differs from what ipvsadm saves only by the thresholds.
    let ipvsadm_style = restore_text(&table, SaveStyle::Ipvsadm).expect("writable table");
    assert_eq!(sorted_lines(&saved), sorted_lines(&ipvsadm_style));
    let row: Vec<&str> = listed
        .lines()
        .find(|l| l.contains("192.0.2.11:8080"))
        .unwrap_or_else(|| panic!("destination missing from\n{listed}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["->", "192.0.2.11:8080", "100", "10"], "{listed}");
}

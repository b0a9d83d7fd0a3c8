//! Replies captured from a real kernel (Debian's, under qemu) by the kernel test
//! `capture_kernel_replies`, one datagram per line in hex. Every IPVS message re-emits byte for
//! byte and decodes to the table that test had set up.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use lvs_core::model::{
    AddressFamily, Destination, Forwarding, Netmask, Persistence, Protocol, Scheduler, Service,
    ServiceKey, Tunnel, TunnelChecksum,
};
use lvs_ipvs::wire::{self, Attrs, CmdAttr, InfoAttr, IpvsCmd, IpvsMessage};

/// The datagrams of a capture file.
fn datagrams(name: &str) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("testdata/{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).expect("hex"))
                .collect()
        })
        .collect()
}

/// The netlink messages of a capture: (type, flags, payload).
fn messages(name: &str) -> Vec<(u16, u16, Vec<u8>)> {
    let mut out = Vec::new();
    for d in datagrams(name) {
        let mut rest = &d[..];
        while !rest.is_empty() {
            let len = u32::from_ne_bytes(rest[0..4].try_into().expect("len")) as usize;
            let kind = u16::from_ne_bytes(rest[4..6].try_into().expect("type"));
            let flags = u16::from_ne_bytes(rest[6..8].try_into().expect("flags"));
            out.push((kind, flags, rest[16..len].to_vec()));
            rest = &rest[((len + 3) & !3).min(rest.len())..];
        }
    }
    out
}

/// The IPVS messages of a capture (types from 0x10 on), each checked to re-emit its bytes.
fn ipvs_messages(name: &str) -> Vec<IpvsMessage> {
    messages(name)
        .into_iter()
        .filter(|(kind, _, _)| *kind >= 0x10)
        .map(|(_, _, payload)| {
            let m = IpvsMessage::parse_genl(&payload).expect("parse");
            assert_eq!(m.emit_genl(), payload, "{name}: re-emitted bytes differ");
            m
        })
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("addr")
}

#[test]
fn info() {
    let m = ipvs_messages("info");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].cmd, IpvsCmd::SetInfo);
    let Attrs::Info(attrs) = &m[0].attrs else {
        panic!("info space")
    };
    assert!(attrs.contains(&InfoAttr::Version(0x010201)));
}

#[test]
fn config() {
    let m = ipvs_messages("config");
    assert_eq!(m[0].cmd, IpvsCmd::SetConfig);
    assert_eq!(m[0].cmd_attrs().len(), 3);
}

#[test]
fn services() {
    let m = ipvs_messages("services");
    assert!(m.iter().all(|m| m.cmd == IpvsCmd::NewService));
    // The dump is multi-part and ends with NLMSG_DONE.
    let all = messages("services");
    assert!(all.iter().any(|(k, f, _)| *k >= 0x10 && f & 2 != 0));
    assert_eq!(all.last().map(|(k, _, _)| *k), Some(3));
    let got: BTreeSet<Service> = m
        .iter()
        .flat_map(|m| m.cmd_attrs().to_vec())
        .filter_map(|a| match a {
            CmdAttr::Service(s) => Some(wire::service_status(&s).expect("decode").service),
            _ => None,
        })
        .collect();
    let mut s1 = Service::new(
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: ip("10.90.0.1"),
            port: 80,
        },
        Scheduler::new("wlc").expect("wlc"),
    );
    s1.persistence = Some(Persistence {
        timeout: 120,
        netmask: Netmask::V4("255.255.255.0".parse().expect("mask")),
        engine: None,
    });
    let mut s2 = Service::new(
        ServiceKey::Fwmark {
            af: AddressFamily::Inet6,
            mark: 42,
        },
        Scheduler::new("sh").expect("sh"),
    );
    s2.sched_flags.fallback = true;
    s2.sched_flags.port = true;
    let mut s3 = Service::new(
        ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr: ip("10.90.0.2"),
            port: 5060,
        },
        Scheduler::new("rr").expect("rr"),
    );
    s3.one_packet = true;
    s3.persistence = Some(Persistence {
        timeout: 60,
        netmask: Netmask::host(AddressFamily::Inet),
        engine: Some("sip".into()),
    });
    assert_eq!(got, BTreeSet::from([s1, s2, s3]));
}

fn dests(name: &str, af: AddressFamily) -> BTreeSet<Destination> {
    ipvs_messages(name)
        .iter()
        .flat_map(|m| m.cmd_attrs().to_vec())
        .filter_map(|a| match a {
            CmdAttr::Dest(d) => Some(wire::destination_status(&d, af).expect("decode").dest),
            _ => None,
        })
        .collect()
}

#[test]
fn destinations() {
    let mut masq = Destination::new(ip("10.90.1.1"), 8080, 5, Forwarding::Masq);
    masq.upper_threshold = 1000;
    masq.lower_threshold = 100;
    let gue = Destination::new(
        ip("10.90.1.2"),
        80,
        3,
        Forwarding::Tunnel(Tunnel::Gue {
            port: 6080,
            csum: TunnelChecksum::Csum,
        }),
    );
    assert_eq!(
        dests("dests_tcp", AddressFamily::Inet),
        BTreeSet::from([masq, gue])
    );
    assert_eq!(
        dests("dests_fwmark6", AddressFamily::Inet6),
        BTreeSet::from([Destination::new(
            ip("2001:db8:90::1"),
            0,
            1,
            Forwarding::DirectRoute
        )])
    );
}

#[test]
fn daemons() {
    let m = ipvs_messages("daemons");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].cmd, IpvsCmd::NewDaemon);
}

#[test]
fn error_answer() {
    let all = messages("error_eexist");
    assert_eq!(all.len(), 1);
    let (kind, _, payload) = &all[0];
    assert_eq!(*kind, 2, "NLMSG_ERROR");
    let code = i32::from_ne_bytes(payload[0..4].try_into().expect("code"));
    assert_eq!(-code, 17, "EEXIST");
    // NETLINK_CAP_ACK: only the request's header is echoed, not its payload.
    assert_eq!(payload.len(), 4 + 16);
}

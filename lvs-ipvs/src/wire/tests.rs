//! Annotated byte vectors: each is parsed, compared with the expected value, emitted again and
//! compared byte for byte. Integers other than ports are in host order: these vectors are
//! little-endian (x86_64, aarch64). Vectors captured from a real kernel are in `testdata/` and
//! tested by `tests/captures.rs`.
#![cfg(target_endian = "little")]

use std::net::{IpAddr, Ipv4Addr};

use lvs_core::model::{
    AddressFamily, Destination, Forwarding, Netmask, Persistence, Protocol, Scheduler, Service,
    ServiceKey, Tunnel, TunnelChecksum,
};

use super::*;
use crate::convert;

/// Parses a genl payload, checks that it re-emits byte for byte, returns the message.
fn round_trip(bytes: &[u8]) -> IpvsMessage {
    let m = IpvsMessage::parse_genl(bytes).expect("parse");
    assert_eq!(m.emit_genl(), bytes, "re-emitted bytes differ for {m:#?}");
    m
}

#[rustfmt::skip]
const SERVICE_REPLY_FULL: &[u8] = &[
    0x01, 0x01, 0x00, 0x00,             // genl: cmd 1 NEW_SERVICE, version 1
    0x80, 0x00, 0x01, 0x00,             // CMD_ATTR_SERVICE, len 128, no NLA_F_NESTED
      0x06, 0x00, 0x01, 0x00,           //   SVC_ATTR_AF, len 6
      0x02, 0x00, 0x00, 0x00,           //     AF_INET + padding
      0x06, 0x00, 0x02, 0x00,           //   SVC_ATTR_PROTOCOL, len 6
      0x06, 0x00, 0x00, 0x00,           //     IPPROTO_TCP + padding
      0x14, 0x00, 0x03, 0x00,           //   SVC_ATTR_ADDR, len 20 (16 bytes)
      0x0a, 0x00, 0x00, 0x01,           //     10.0.0.1
      0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00,
      0x06, 0x00, 0x04, 0x00,           //   SVC_ATTR_PORT, len 6
      0x00, 0x50, 0x00, 0x00,           //     80 big-endian + padding
      0x08, 0x00, 0x06, 0x00,           //   SVC_ATTR_SCHED_NAME, len 8
      b'w', b'l', b'c', 0x00,           //     "wlc\0"
      0x0c, 0x00, 0x07, 0x00,           //   SVC_ATTR_FLAGS, len 12
      0x03, 0x00, 0x00, 0x00,           //     PERSISTENT | HASHED
      0xff, 0xff, 0xff, 0xff,           //     mask
      0x08, 0x00, 0x08, 0x00,           //   SVC_ATTR_TIMEOUT, len 8
      0x78, 0x00, 0x00, 0x00,           //     120 s
      0x08, 0x00, 0x09, 0x00,           //   SVC_ATTR_NETMASK, len 8
      0xff, 0xff, 0xff, 0x00,           //     255.255.255.0
      0x1c, 0x00, 0x0a, 0x00,           //   SVC_ATTR_STATS, len 28
        0x08, 0x00, 0x01, 0x00,         //     CONNS, len 8 (u32)
        0x05, 0x00, 0x00, 0x00,         //       5
        0x0c, 0x00, 0x04, 0x00,         //     INBYTES, len 12 (u64 in the 32-bit nest)
        0x00, 0x10, 0x00, 0x00,         //       4096
        0x00, 0x00, 0x00, 0x00,
        0x04, 0x00, 0x0b, 0x00,         //     STATS_ATTR_PAD, len 4, no value: skipped, kept
      0x10, 0x00, 0x0c, 0x00,           //   SVC_ATTR_STATS64, len 16
        0x0c, 0x00, 0x01, 0x00,         //     CONNS, len 12 (u64)
        0x00, 0x00, 0x00, 0x00,         //       2^32 (the 32-bit counter wrapped)
        0x01, 0x00, 0x00, 0x00,
];

#[test]
fn service_reply() {
    let m = round_trip(SERVICE_REPLY_FULL);
    assert_eq!(m.cmd, IpvsCmd::NewService);
    let [CmdAttr::Service(attrs)] = m.cmd_attrs() else {
        panic!("one service nest: {m:?}")
    };
    assert_eq!(attrs[0], SvcAttr::Af(AF_INET));
    assert_eq!(attrs[3], SvcAttr::Port(80));
    assert_eq!(
        attrs[5],
        SvcAttr::Flags {
            flags: 3,
            mask: u32::MAX
        }
    );
    let st = convert::decode_service(attrs).expect("decode");
    let mut want = Service::new(
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            port: 80,
        },
        Scheduler::new("wlc").expect("wlc"),
    );
    want.persistence = Some(Persistence {
        timeout: 120,
        netmask: Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)),
        engine: None,
    });
    // HASHED is not a property of the service: stripped.
    assert_eq!(st.service, want);
    // STATS64 wins over STATS.
    assert_eq!(st.stats.conns, 1 << 32);
    assert_eq!(st.stats.in_bytes, 0);
}

#[rustfmt::skip]
const FWMARK6_REPLY: &[u8] = &[
    0x01, 0x01, 0x00, 0x00,             // genl: cmd 1 NEW_SERVICE, version 1
    0x40, 0x00, 0x01, 0x00,             // CMD_ATTR_SERVICE, len 64
      0x06, 0x00, 0x01, 0x00,           //   SVC_ATTR_AF, len 6
      0x0a, 0x00, 0x00, 0x00,           //     AF_INET6 + padding
      0x08, 0x00, 0x05, 0x00,           //   SVC_ATTR_FWMARK, len 8 (no PROTOCOL/ADDR/PORT)
      0x2a, 0x00, 0x00, 0x00,           //     42
      0x07, 0x00, 0x06, 0x00,           //   SVC_ATTR_SCHED_NAME, len 7
      b'r', b'r', 0x00, 0x00,           //     "rr\0" + 1 byte padding
      0x08, 0x00, 0x0b, 0x00,           //   SVC_ATTR_PE_NAME, len 8
      b's', b'i', b'p', 0x00,           //     "sip\0"
      0x0c, 0x00, 0x07, 0x00,           //   SVC_ATTR_FLAGS, len 12
      0x07, 0x00, 0x00, 0x00,           //     PERSISTENT | HASHED | ONEPACKET
      0xff, 0xff, 0xff, 0xff,           //     mask
      0x08, 0x00, 0x08, 0x00,           //   SVC_ATTR_TIMEOUT, len 8
      0x2c, 0x01, 0x00, 0x00,           //     300 s
      0x08, 0x00, 0x09, 0x00,           //   SVC_ATTR_NETMASK, len 8
      0x40, 0x00, 0x00, 0x00,           //     IPv6: prefix length 64 as a native u32
];

#[test]
fn ipv6_fwmark_reply_with_persistence_engine() {
    let m = round_trip(FWMARK6_REPLY);
    let [CmdAttr::Service(attrs)] = m.cmd_attrs() else {
        panic!("one service nest")
    };
    let s = convert::decode_service(attrs).expect("decode").service;
    assert_eq!(
        s.key,
        ServiceKey::Fwmark {
            af: AddressFamily::Inet6,
            mark: 42
        }
    );
    assert!(s.one_packet);
    assert_eq!(
        s.persistence,
        Some(Persistence {
            timeout: 300,
            netmask: Netmask::V6(64),
            engine: Some("sip".into()),
        })
    );
}

#[rustfmt::skip]
const DEST_REPLY: &[u8] = &[
    0x05, 0x01, 0x00, 0x00,             // genl: cmd 5 NEW_DEST (the cmd of GET_DEST replies), version 1
    0x80, 0x00, 0x02, 0x00,             // CMD_ATTR_DEST, len 128
      0x14, 0x00, 0x01, 0x00,           //   DEST_ATTR_ADDR, len 20 (16 bytes)
      0x0a, 0x00, 0x00, 0x02,           //     10.0.0.2
      0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00,
      0x06, 0x00, 0x02, 0x00,           //   DEST_ATTR_PORT, len 6
      0x1f, 0x90, 0x00, 0x00,           //     8080 big-endian + padding
      0x08, 0x00, 0x03, 0x00,           //   DEST_ATTR_FWD_METHOD, len 8
      0x02, 0x00, 0x00, 0x00,           //     IP_VS_CONN_F_TUNNEL
      0x08, 0x00, 0x04, 0x00,           //   DEST_ATTR_WEIGHT, len 8
      0x03, 0x00, 0x00, 0x00,           //     3
      0x05, 0x00, 0x0d, 0x00,           //   DEST_ATTR_TUN_TYPE, len 5 (u8)
      0x01, 0x00, 0x00, 0x00,           //     GUE + 3 bytes padding
      0x06, 0x00, 0x0e, 0x00,           //   DEST_ATTR_TUN_PORT, len 6
      0x17, 0xc0, 0x00, 0x00,           //     6080 big-endian + padding
      0x06, 0x00, 0x0f, 0x00,           //   DEST_ATTR_TUN_FLAGS, len 6
      0x01, 0x00, 0x00, 0x00,           //     TUNNEL_ENCAP_FLAG_CSUM (native) + padding
      0x08, 0x00, 0x05, 0x00,           //   DEST_ATTR_U_THRESH, len 8
      0xe8, 0x03, 0x00, 0x00,           //     1000
      0x08, 0x00, 0x06, 0x00,           //   DEST_ATTR_L_THRESH, len 8
      0x64, 0x00, 0x00, 0x00,           //     100
      0x08, 0x00, 0x07, 0x00,           //   DEST_ATTR_ACTIVE_CONNS, len 8
      0x02, 0x00, 0x00, 0x00,           //     2
      0x08, 0x00, 0x08, 0x00,           //   DEST_ATTR_INACT_CONNS, len 8
      0x01, 0x00, 0x00, 0x00,           //     1
      0x08, 0x00, 0x09, 0x00,           //   DEST_ATTR_PERSIST_CONNS, len 8
      0x00, 0x00, 0x00, 0x00,           //     0
      0x06, 0x00, 0x0b, 0x00,           //   DEST_ATTR_ADDR_FAMILY, len 6
      0x02, 0x00, 0x00, 0x00,           //     AF_INET + padding
      0x08, 0x00, 0x63, 0x40,           //   attribute 99 with NLA_F_NET_BYTEORDER: unknown to us
      0xde, 0xad, 0xbe, 0xef,           //     kept as is
];

#[test]
fn destination_reply_with_gue_tunnel_and_an_unknown_attribute() {
    let m = round_trip(DEST_REPLY);
    let [CmdAttr::Dest(attrs)] = m.cmd_attrs() else {
        panic!("one dest nest")
    };
    assert_eq!(
        attrs.last(),
        Some(&DestAttr::Other(UnknownAttr {
            kind: 99 | 0x4000,
            value: vec![0xde, 0xad, 0xbe, 0xef]
        }))
    );
    let d = convert::decode_dest(attrs, AddressFamily::Inet).expect("decode");
    let mut want = Destination::new(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        8080,
        3,
        Forwarding::Tunnel(Tunnel::Gue {
            port: 6080,
            csum: TunnelChecksum::Csum,
        }),
    );
    want.upper_threshold = 1000;
    want.lower_threshold = 100;
    assert_eq!(d.dest, want);
    assert_eq!(
        (d.active_conns, d.inactive_conns, d.persistent_conns),
        (2, 1, 0)
    );
}

#[rustfmt::skip]
const INFO_REPLY: &[u8] = &[
    0x0e, 0x01, 0x00, 0x00,             // genl: cmd 14 SET_INFO (the cmd of the GET_INFO reply)
    0x08, 0x00, 0x01, 0x00,             // INFO_ATTR_VERSION (1 = SERVICE in the other space!), len 8
    0x01, 0x02, 0x01, 0x00,             //   0x00010201 = 1.2.1
    0x08, 0x00, 0x02, 0x00,             // INFO_ATTR_CONN_TAB_SIZE, len 8
    0x00, 0x10, 0x00, 0x00,             //   4096
];

#[test]
fn info_reply_uses_its_own_attribute_space() {
    let m = round_trip(INFO_REPLY);
    assert_eq!(
        m.attrs,
        Attrs::Info(vec![
            InfoAttr::Version(0x010201),
            InfoAttr::ConnTabSize(4096)
        ])
    );
}

#[rustfmt::skip]
const CONFIG_REPLY: &[u8] = &[
    0x0c, 0x01, 0x00, 0x00,             // genl: cmd 12 SET_CONFIG (the cmd of the GET_CONFIG reply)
    0x08, 0x00, 0x04, 0x00,             // CMD_ATTR_TIMEOUT_TCP, len 8
    0x84, 0x03, 0x00, 0x00,             //   900 s
    0x08, 0x00, 0x05, 0x00,             // CMD_ATTR_TIMEOUT_TCP_FIN, len 8
    0x78, 0x00, 0x00, 0x00,             //   120 s
    0x08, 0x00, 0x06, 0x00,             // CMD_ATTR_TIMEOUT_UDP, len 8
    0x2c, 0x01, 0x00, 0x00,             //   300 s
];

#[test]
fn config_reply() {
    let m = round_trip(CONFIG_REPLY);
    let t = convert::decode_timeouts(m.cmd_attrs());
    assert_eq!((t.tcp, t.tcp_fin, t.udp), (900, 120, 300));
    // The same attributes are what SET_CONFIG sends.
    let req = IpvsMessage::new(IpvsCmd::SetConfig, convert::timeouts_attrs(&t));
    assert_eq!(req.emit_genl(), CONFIG_REPLY);
}

#[rustfmt::skip]
const DAEMON_REPLY: &[u8] = &[
    0x09, 0x01, 0x00, 0x00,             // genl: cmd 9 NEW_DAEMON (the cmd of GET_DAEMON replies)
    0x40, 0x00, 0x03, 0x00,             // CMD_ATTR_DAEMON, len 64
      0x08, 0x00, 0x01, 0x00,           //   DAEMON_ATTR_STATE, len 8
      0x02, 0x00, 0x00, 0x00,           //     IP_VS_STATE_BACKUP
      0x09, 0x00, 0x02, 0x00,           //   DAEMON_ATTR_MCAST_IFN, len 9
      b'e', b't', b'h', b'0',           //     "eth0\0" + 3 bytes padding
      0x00, 0x00, 0x00, 0x00,
      0x08, 0x00, 0x03, 0x00,           //   DAEMON_ATTR_SYNC_ID, len 8
      0x07, 0x00, 0x00, 0x00,           //     7
      0x06, 0x00, 0x04, 0x00,           //   DAEMON_ATTR_SYNC_MAXLEN, len 6
      0xc0, 0x05, 0x00, 0x00,           //     1472 + padding
      0x08, 0x00, 0x05, 0x00,           //   DAEMON_ATTR_MCAST_GROUP, len 8
      0xe0, 0x00, 0x00, 0x51,           //     224.0.0.81 (network order)
      0x06, 0x00, 0x07, 0x00,           //   DAEMON_ATTR_MCAST_PORT, len 6
      0x90, 0x22, 0x00, 0x00,           //     8848, NATIVE order (unlike service ports)
      0x05, 0x00, 0x08, 0x00,           //   DAEMON_ATTR_MCAST_TTL, len 5
      0x01, 0x00, 0x00, 0x00,           //     1 + padding
];

#[test]
fn daemon_reply() {
    let m = round_trip(DAEMON_REPLY);
    let [CmdAttr::Daemon(attrs)] = m.cmd_attrs() else {
        panic!("one daemon nest")
    };
    let d = convert::decode_daemon(attrs).expect("decode");
    assert_eq!(d.state, crate::DaemonState::Backup);
    assert_eq!((d.interface.as_str(), d.sync_id), ("eth0", 7));
    assert_eq!(d.group, Some(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81))));
    assert_eq!(
        (d.port, d.ttl, d.max_len),
        (Some(8848), Some(1), Some(1472))
    );
    // Starting the same daemon sends the same attributes.
    let req = IpvsMessage::new(
        IpvsCmd::NewDaemon,
        vec![CmdAttr::Daemon(convert::daemon_full(&d).expect("encode"))],
    );
    assert_eq!(req.emit_genl(), DAEMON_REPLY);
}

#[rustfmt::skip]
const NEW_DEST_REQUEST: &[u8] = &[
    0x05, 0x01, 0x00, 0x00,             // genl: cmd 5 NEW_DEST, version 1
    0x24, 0x00, 0x01, 0x00,             // CMD_ATTR_SERVICE (identity only), len 36
      0x06, 0x00, 0x01, 0x00,           //   SVC_ATTR_AF, len 6
      0x02, 0x00, 0x00, 0x00,           //     AF_INET
      0x06, 0x00, 0x02, 0x00,           //   SVC_ATTR_PROTOCOL, len 6
      0x11, 0x00, 0x00, 0x00,           //     IPPROTO_UDP
      0x08, 0x00, 0x03, 0x00,           //   SVC_ATTR_ADDR, len 8: we send 4 bytes for IPv4
      0xc0, 0x00, 0x02, 0x01,           //     192.0.2.1
      0x06, 0x00, 0x04, 0x00,           //   SVC_ATTR_PORT, len 6
      0x00, 0x35, 0x00, 0x00,           //     53 big-endian
    0x58, 0x00, 0x02, 0x00,             // CMD_ATTR_DEST, len 88
      0x06, 0x00, 0x0b, 0x00,           //   DEST_ATTR_ADDR_FAMILY, len 6
      0x0a, 0x00, 0x00, 0x00,           //     AF_INET6: a tunnelled destination of the other family
      0x14, 0x00, 0x01, 0x00,           //   DEST_ATTR_ADDR, len 20
      0x20, 0x01, 0x0d, 0xb8,           //     2001:db8::5
      0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x05,
      0x06, 0x00, 0x02, 0x00,           //   DEST_ATTR_PORT, len 6
      0x00, 0x35, 0x00, 0x00,           //     53 big-endian
      0x08, 0x00, 0x03, 0x00,           //   DEST_ATTR_FWD_METHOD, len 8
      0x02, 0x00, 0x00, 0x00,           //     TUNNEL
      0x08, 0x00, 0x04, 0x00,           //   DEST_ATTR_WEIGHT, len 8
      0x0a, 0x00, 0x00, 0x00,           //     10
      0x08, 0x00, 0x05, 0x00,           //   DEST_ATTR_U_THRESH, len 8
      0x00, 0x00, 0x00, 0x00,           //     0 = off
      0x08, 0x00, 0x06, 0x00,           //   DEST_ATTR_L_THRESH, len 8
      0x00, 0x00, 0x00, 0x00,           //     0
      0x05, 0x00, 0x0d, 0x00,           //   DEST_ATTR_TUN_TYPE, len 5
      0x02, 0x00, 0x00, 0x00,           //     GRE + padding
      0x06, 0x00, 0x0f, 0x00,           //   DEST_ATTR_TUN_FLAGS, len 6 (no TUN_PORT for GRE)
      0x00, 0x00, 0x00, 0x00,           //     NOCSUM + padding
];

#[test]
fn new_destination_request_is_what_the_client_sends() {
    let key = ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: "192.0.2.1".parse().expect("addr"),
        port: 53,
    };
    let d = Destination::new(
        "2001:db8::5".parse().expect("addr"),
        53,
        10,
        Forwarding::Tunnel(Tunnel::Gre {
            csum: TunnelChecksum::NoCsum,
        }),
    );
    let m = IpvsMessage::new(
        IpvsCmd::NewDest,
        vec![
            CmdAttr::Service(convert::service_id(&key)),
            CmdAttr::Dest(convert::dest_full(&d)),
        ],
    );
    assert_eq!(m.emit_genl(), NEW_DEST_REQUEST);
    assert_eq!(round_trip(NEW_DEST_REQUEST), m);
}

#[rustfmt::skip]
const NEW_SERVICE_REQUEST: &[u8] = &[
    0x01, 0x01, 0x00, 0x00,             // genl: cmd 1 NEW_SERVICE, version 1
    0x54, 0x00, 0x01, 0x00,             // CMD_ATTR_SERVICE, len 84
      0x06, 0x00, 0x01, 0x00,           //   SVC_ATTR_AF, len 6
      0x0a, 0x00, 0x00, 0x00,           //     AF_INET6
      0x06, 0x00, 0x02, 0x00,           //   SVC_ATTR_PROTOCOL, len 6
      0x84, 0x00, 0x00, 0x00,           //     IPPROTO_SCTP (132)
      0x14, 0x00, 0x03, 0x00,           //   SVC_ATTR_ADDR, len 20
      0x20, 0x01, 0x0d, 0xb8,           //     2001:db8::1
      0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x01,
      0x06, 0x00, 0x04, 0x00,           //   SVC_ATTR_PORT, len 6
      0x0b, 0xb8, 0x00, 0x00,           //     3000 big-endian
      0x07, 0x00, 0x06, 0x00,           //   SVC_ATTR_SCHED_NAME, len 7
      b's', b'h', 0x00, 0x00,           //     "sh\0" + padding
      0x0c, 0x00, 0x07, 0x00,           //   SVC_ATTR_FLAGS, len 12
      0x18, 0x00, 0x00, 0x00,           //     SCHED1 (sh-fallback) | SCHED2 (sh-port)
      0xff, 0xff, 0xff, 0xff,           //     full mask: bits we do not set are cleared
      0x08, 0x00, 0x08, 0x00,           //   SVC_ATTR_TIMEOUT, len 8
      0x00, 0x00, 0x00, 0x00,           //     0: not persistent
      0x08, 0x00, 0x09, 0x00,           //   SVC_ATTR_NETMASK, len 8
      0x80, 0x00, 0x00, 0x00,           //     /128 (the kernel wants one even when not persistent)
];

#[test]
fn new_service_request_is_what_the_client_sends() {
    let mut s = Service::new(
        ServiceKey::Inet {
            protocol: Protocol::Sctp,
            addr: "2001:db8::1".parse().expect("addr"),
            port: 3000,
        },
        Scheduler::new("sh").expect("sh"),
    );
    s.sched_flags.fallback = true;
    s.sched_flags.port = true;
    let m = IpvsMessage::new(
        IpvsCmd::NewService,
        vec![CmdAttr::Service(convert::service_full(&s).expect("encode"))],
    );
    assert_eq!(m.emit_genl(), NEW_SERVICE_REQUEST);
    let parsed = round_trip(NEW_SERVICE_REQUEST);
    let [CmdAttr::Service(attrs)] = parsed.cmd_attrs() else {
        panic!("service")
    };
    assert_eq!(convert::decode_service(attrs).expect("decode").service, s);
}

#[test]
fn nests_with_nla_f_nested_are_accepted() {
    // CMD_ATTR_SERVICE with NLA_F_NESTED (0x8000) holding only AF and FWMARK.
    #[rustfmt::skip]
    let bytes = [
        0x03, 0x01, 0x00, 0x00,         // genl: cmd 3 DEL_SERVICE
        0x14, 0x00, 0x01, 0x80,         // CMD_ATTR_SERVICE | NLA_F_NESTED, len 20
          0x06, 0x00, 0x01, 0x00,       //   SVC_ATTR_AF
          0x02, 0x00, 0x00, 0x00,       //     AF_INET
          0x08, 0x00, 0x05, 0x00,       //   SVC_ATTR_FWMARK
          0x01, 0x00, 0x00, 0x00,       //     1
    ];
    let m = IpvsMessage::parse_genl(&bytes).expect("parse");
    assert_eq!(
        m,
        IpvsMessage::new(
            IpvsCmd::DelService,
            vec![CmdAttr::Service(vec![SvcAttr::Af(2), SvcAttr::Fwmark(1)])]
        )
    );
    // We emit nests as the kernel does, without the flag.
    assert_eq!(&m.emit_genl()[4..8], &[0x14, 0x00, 0x01, 0x00]);
}

#[test]
fn lengths_are_bounded() {
    let bad: &[&[u8]] = &[
        // genl header only 3 bytes
        &[0x01, 0x01, 0x00],
        // SVC_ATTR_PORT with 4 bytes
        &[1, 1, 0, 0, 12, 0, 1, 0, 8, 0, 4, 0, 0, 80, 0, 0],
        // SVC_ATTR_ADDR with 20 bytes
        &[
            1, 1, 0, 0, 28, 0, 1, 0, 24, 0, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
            15, 16, 17, 18, 19, 20,
        ],
        // SCHED_NAME of 16 bytes without NUL
        &[
            1, 1, 0, 0, 24, 0, 1, 0, 20, 0, 6, 0, b'a', b'a', b'a', b'a', b'a', b'a', b'a', b'a',
            b'a', b'a', b'a', b'a', b'a', b'a', b'a', b'a',
        ],
        // an attribute whose length runs past the message
        &[14, 1, 0, 0, 12, 0, 1, 0, 0, 0, 0, 0],
        // an attribute length below the header size
        &[14, 1, 0, 0, 2, 0, 1, 0],
        // a nest that is not 4-aligned
        &[1, 1, 0, 0, 9, 0, 1, 0, 5, 0, 99, 0, 1, 0, 0, 0],
        // an unknown attribute with both NLA_F_NESTED and NLA_F_NET_BYTEORDER (found by the
        // fuzz target: netlink-packet-core would re-emit it without the second flag)
        &[14, 1, 0, 0, 8, 0, 99, 0xc0, 1, 2, 3, 4],
        // a stats counter of 2 bytes
        &[
            1, 1, 0, 0, 16, 0, 1, 0, 12, 0, 10, 0, 6, 0, 1, 0, 1, 0, 0, 0,
        ],
    ];
    for b in bad {
        assert!(IpvsMessage::parse_genl(b).is_err(), "accepted {b:?}");
    }
}

#[test]
fn every_command_number_round_trips() {
    for n in 0..=255u8 {
        assert_eq!(u8::from(IpvsCmd::from(n)), n);
    }
    assert_eq!(IpvsCmd::from(17), IpvsCmd::Flush);
    assert_eq!(IpvsCmd::from(18), IpvsCmd::Other(18));
}

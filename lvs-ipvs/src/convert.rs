//! Model <-> wire attributes: lvs-core services and destinations to IPVS attribute lists and
//! back. Pure functions; the decoders reject what the model cannot represent instead of
//! guessing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lvs_core::model::{
    AddressFamily, DestKey, Destination, Forwarding, Netmask, Persistence, Protocol, SchedFlags,
    Scheduler, Service, ServiceKey, Tunnel, TunnelChecksum,
};

use crate::types::{DaemonState, DestinationStatus, ServiceStatus, Stats, SyncDaemon, Timeouts};
use crate::wire::{
    CmdAttr, DaemonAttr, DestAttr, StatsAttr, StatsField, SvcAttr, AF_INET, AF_INET6,
    CONN_F_FWD_MASK, NAME_MAX, SVC_F_HASHED, SVC_F_ONEPACKET, SVC_F_PERSISTENT,
};

pub(crate) fn af_value(af: AddressFamily) -> u16 {
    match af {
        AddressFamily::Inet => AF_INET,
        AddressFamily::Inet6 => AF_INET6,
    }
}

fn af_of_value(v: u16) -> Result<AddressFamily, String> {
    match v {
        AF_INET => Ok(AddressFamily::Inet),
        AF_INET6 => Ok(AddressFamily::Inet6),
        v => Err(format!(
            "address family {v} is neither AF_INET nor AF_INET6"
        )),
    }
}

fn addr_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn addr_of(bytes: &[u8], af: AddressFamily) -> Result<IpAddr, String> {
    match af {
        AddressFamily::Inet => {
            let b: [u8; 4] = bytes
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("IPv4 address of {} bytes", bytes.len()))?;
            Ok(IpAddr::V4(Ipv4Addr::from(b)))
        }
        AddressFamily::Inet6 => {
            let b: [u8; 16] = bytes
                .try_into()
                .map_err(|_| format!("IPv6 address of {} bytes", bytes.len()))?;
            Ok(IpAddr::V6(Ipv6Addr::from(b)))
        }
    }
}

fn check_name(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > NAME_MAX || s.bytes().any(|b| b == 0) {
        return Err(format!(
            "{what} `{s}` must be 1 to {NAME_MAX} bytes without NUL"
        ));
    }
    Ok(())
}

/// The identifying attributes of a service (what DEL/GET and destination commands need).
pub(crate) fn service_id(key: &ServiceKey) -> Vec<SvcAttr> {
    match key {
        ServiceKey::Inet {
            protocol,
            addr,
            port,
        } => vec![
            SvcAttr::Af(af_value(key.af())),
            SvcAttr::Protocol(u16::from(protocol.ip_proto())),
            SvcAttr::Addr(addr_bytes(addr)),
            SvcAttr::Port(*port),
        ],
        ServiceKey::Fwmark { af, mark } => {
            vec![SvcAttr::Af(af_value(*af)), SvcAttr::Fwmark(*mark)]
        }
    }
}

/// All attributes of a service for NEW/SET: identity, scheduler, persistence engine, flags (with
/// a full mask, so that bits we do not set are cleared), timeout and netmask.
pub(crate) fn service_full(svc: &Service) -> Result<Vec<SvcAttr>, String> {
    let af = svc.key.af();
    check_name("scheduler", svc.scheduler.as_str())?;
    let mut attrs = service_id(&svc.key);
    attrs.push(SvcAttr::SchedName(svc.scheduler.as_str().to_string()));
    let (timeout, netmask) = match &svc.persistence {
        Some(p) => {
            if let Some(pe) = &p.engine {
                check_name("persistence engine", pe)?;
                attrs.push(SvcAttr::PeName(pe.clone()));
            }
            (p.timeout, p.netmask)
        }
        None => (0, Netmask::host(af)),
    };
    attrs.push(SvcAttr::Flags {
        flags: svc.ipvs_flags(),
        mask: u32::MAX,
    });
    attrs.push(SvcAttr::Timeout(timeout));
    let netmask = match (af, netmask) {
        (AddressFamily::Inet, Netmask::V4(m)) => m.octets(),
        (AddressFamily::Inet6, Netmask::V6(p)) if (1..=128).contains(&p) => {
            u32::from(p).to_ne_bytes()
        }
        (AddressFamily::Inet6, Netmask::V6(p)) => {
            return Err(format!("IPv6 persistence prefix /{p} is not in 1..=128"))
        }
        (AddressFamily::Inet, Netmask::V6(p)) => {
            return Err(format!(
                "an IPv4 service cannot have the IPv6 persistence prefix /{p}"
            ))
        }
        (AddressFamily::Inet6, Netmask::V4(m)) => {
            return Err(format!(
                "an IPv6 service cannot have the IPv4 persistence mask {m}"
            ))
        }
    };
    attrs.push(SvcAttr::Netmask(netmask));
    Ok(attrs)
}

/// The identifying attributes of a destination (DEL).
pub(crate) fn dest_id(key: &DestKey) -> Vec<DestAttr> {
    vec![
        DestAttr::AddrFamily(af_value(AddressFamily::of(&key.addr))),
        DestAttr::Addr(addr_bytes(&key.addr)),
        DestAttr::Port(key.port),
    ]
}

/// All attributes of a destination for NEW/SET, tunnel options only for tunnels.
pub(crate) fn dest_full(d: &Destination) -> Vec<DestAttr> {
    let mut attrs = dest_id(&d.key());
    attrs.push(DestAttr::FwdMethod(d.forwarding.fwd_method()));
    attrs.push(DestAttr::Weight(d.weight));
    attrs.push(DestAttr::UThresh(d.upper_threshold));
    attrs.push(DestAttr::LThresh(d.lower_threshold));
    if let Forwarding::Tunnel(t) = d.forwarding {
        match t {
            Tunnel::Ipip => attrs.push(DestAttr::TunType(0)),
            Tunnel::Gue { port, csum } => {
                attrs.push(DestAttr::TunType(1));
                attrs.push(DestAttr::TunPort(port));
                attrs.push(DestAttr::TunFlags(csum.bits()));
            }
            Tunnel::Gre { csum } => {
                attrs.push(DestAttr::TunType(2));
                attrs.push(DestAttr::TunFlags(csum.bits()));
            }
        }
    }
    attrs
}

pub(crate) fn decode_stats(attrs: &[StatsAttr]) -> Stats {
    let mut s = Stats::default();
    for a in attrs {
        let (f, v) = match a {
            StatsAttr::U32(f, v) => (*f, u64::from(*v)),
            StatsAttr::U64(f, v) => (*f, *v),
            StatsAttr::Other(_) => continue,
        };
        let slot = match f {
            StatsField::Conns => &mut s.conns,
            StatsField::InPkts => &mut s.in_pkts,
            StatsField::OutPkts => &mut s.out_pkts,
            StatsField::InBytes => &mut s.in_bytes,
            StatsField::OutBytes => &mut s.out_bytes,
            StatsField::Cps => &mut s.cps,
            StatsField::InPps => &mut s.in_pps,
            StatsField::OutPps => &mut s.out_pps,
            StatsField::InBps => &mut s.in_bps,
            StatsField::OutBps => &mut s.out_bps,
        };
        *slot = v;
    }
    s
}

/// A service from the attributes of a GET_SERVICE reply.
pub(crate) fn decode_service(attrs: &[SvcAttr]) -> Result<ServiceStatus, String> {
    let (mut af, mut proto, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
    let (mut sched, mut pe, mut flags, mut timeout, mut netmask) = (None, None, None, None, None);
    let (mut stats, mut stats64) = (None, None);
    for a in attrs {
        match a {
            SvcAttr::Af(v) => af = Some(*v),
            SvcAttr::Protocol(v) => proto = Some(*v),
            SvcAttr::Addr(v) => addr = Some(v.as_slice()),
            SvcAttr::Port(v) => port = Some(*v),
            SvcAttr::Fwmark(v) => fwmark = Some(*v),
            SvcAttr::SchedName(v) => sched = Some(v.as_str()),
            // An empty name is no engine (the kernel sends the attribute only with one).
            SvcAttr::PeName(v) if !v.is_empty() => pe = Some(v.clone()),
            SvcAttr::Flags { flags: f, .. } => flags = Some(*f),
            SvcAttr::Timeout(v) => timeout = Some(*v),
            SvcAttr::Netmask(v) => netmask = Some(*v),
            SvcAttr::Stats(v) => stats = Some(v.as_slice()),
            SvcAttr::Stats64(v) => stats64 = Some(v.as_slice()),
            _ => {}
        }
    }
    let af = af_of_value(af.ok_or("service without address family")?)?;
    let key = match fwmark {
        Some(mark) if mark != 0 => ServiceKey::Fwmark { af, mark },
        _ => {
            let p = proto.ok_or("service without protocol or firewall mark")?;
            let protocol = u8::try_from(p)
                .ok()
                .and_then(Protocol::from_ip_proto)
                .ok_or_else(|| format!("service protocol {p} is not TCP, UDP or SCTP"))?;
            ServiceKey::Inet {
                protocol,
                addr: addr_of(addr.ok_or("service without address")?, af)?,
                port: port.ok_or("service without port")?,
            }
        }
    };
    let scheduler = Scheduler::custom(sched.ok_or("service without scheduler")?)?;
    let flags = flags.ok_or("service without flags")? & !SVC_F_HASHED;
    let persistence = if flags & SVC_F_PERSISTENT != 0 {
        let raw = netmask.ok_or("persistent service without netmask")?;
        let netmask = match af {
            AddressFamily::Inet => Netmask::V4(Ipv4Addr::from(raw)),
            AddressFamily::Inet6 => {
                let p = u32::from_ne_bytes(raw);
                Netmask::V6(
                    u8::try_from(p)
                        .ok()
                        .filter(|p| (1..=128).contains(p))
                        .ok_or_else(|| format!("IPv6 persistence prefix {p} not in 1..=128"))?,
                )
            }
        };
        Some(Persistence {
            timeout: timeout.ok_or("persistent service without timeout")?,
            netmask,
            engine: pe,
        })
    } else {
        None
    };
    let service = Service {
        key,
        scheduler,
        persistence,
        one_packet: flags & SVC_F_ONEPACKET != 0,
        sched_flags: SchedFlags::from_bits(flags),
    };
    let stats = stats64.or(stats).map(decode_stats).unwrap_or_default();
    Ok(ServiceStatus { service, stats })
}

fn csum_of(flags: u16) -> TunnelChecksum {
    if flags & 2 != 0 {
        TunnelChecksum::RemCsum
    } else if flags & 1 != 0 {
        TunnelChecksum::Csum
    } else {
        TunnelChecksum::NoCsum
    }
}

/// A destination from the attributes of a GET_DEST reply; `service_af` is the family of its
/// service (used when the kernel sends no `ADDR_FAMILY`, before Linux 3.18).
pub(crate) fn decode_dest(
    attrs: &[DestAttr],
    service_af: AddressFamily,
) -> Result<DestinationStatus, String> {
    let (mut addr, mut port, mut fwd, mut weight, mut uth, mut lth) =
        (None, None, None, None, 0, 0);
    let (mut active, mut inact, mut persist, mut af) = (0, 0, 0, None);
    let (mut tun_type, mut tun_port, mut tun_flags) = (0, 0, 0);
    let (mut stats, mut stats64) = (None, None);
    for a in attrs {
        match a {
            DestAttr::Addr(v) => addr = Some(v.as_slice()),
            DestAttr::Port(v) => port = Some(*v),
            DestAttr::FwdMethod(v) => fwd = Some(*v),
            DestAttr::Weight(v) => weight = Some(*v),
            DestAttr::UThresh(v) => uth = *v,
            DestAttr::LThresh(v) => lth = *v,
            DestAttr::ActiveConns(v) => active = *v,
            DestAttr::InactConns(v) => inact = *v,
            DestAttr::PersistConns(v) => persist = *v,
            DestAttr::AddrFamily(v) if *v != 0 => af = Some(af_of_value(*v)?),
            DestAttr::TunType(v) => tun_type = *v,
            DestAttr::TunPort(v) => tun_port = *v,
            DestAttr::TunFlags(v) => tun_flags = *v,
            DestAttr::Stats(v) => stats = Some(v.as_slice()),
            DestAttr::Stats64(v) => stats64 = Some(v.as_slice()),
            _ => {}
        }
    }
    let af = af.unwrap_or(service_af);
    let addr = addr_of(addr.ok_or("destination without address")?, af)?;
    let forwarding = match fwd.ok_or("destination without forwarding method")? & CONN_F_FWD_MASK {
        0 => Forwarding::Masq,
        1 => Forwarding::Local,
        2 => Forwarding::Tunnel(match tun_type {
            0 => Tunnel::Ipip,
            1 => Tunnel::Gue {
                port: tun_port,
                csum: csum_of(tun_flags),
            },
            2 => Tunnel::Gre {
                csum: csum_of(tun_flags),
            },
            t => return Err(format!("unknown tunnel type {t}")),
        }),
        3 => Forwarding::DirectRoute,
        m => return Err(format!("forwarding method {m} (bypass) is not supported")),
    };
    let dest = Destination {
        addr,
        port: port.ok_or("destination without port")?,
        weight: weight.ok_or("destination without weight")?,
        upper_threshold: uth,
        lower_threshold: lth,
        forwarding,
    };
    Ok(DestinationStatus {
        dest,
        active_conns: active,
        inactive_conns: inact,
        persistent_conns: persist,
        stats: stats64.or(stats).map(decode_stats).unwrap_or_default(),
    })
}

/// The attributes of a NEW_DAEMON request.
pub(crate) fn daemon_full(d: &SyncDaemon) -> Result<Vec<DaemonAttr>, String> {
    check_name("multicast interface", &d.interface)?;
    let mut attrs = vec![
        DaemonAttr::State(d.state.value()),
        DaemonAttr::McastIfn(d.interface.clone()),
        DaemonAttr::SyncId(d.sync_id),
    ];
    if let Some(v) = d.max_len {
        attrs.push(DaemonAttr::SyncMaxlen(v));
    }
    match d.group {
        Some(IpAddr::V4(a)) => attrs.push(DaemonAttr::McastGroup(a)),
        Some(IpAddr::V6(a)) => attrs.push(DaemonAttr::McastGroup6(a)),
        None => {}
    }
    if let Some(v) = d.port {
        attrs.push(DaemonAttr::McastPort(v));
    }
    if let Some(v) = d.ttl {
        attrs.push(DaemonAttr::McastTtl(v));
    }
    Ok(attrs)
}

/// A daemon from a GET_DAEMON reply. The kernel always reports group, port and TTL (4.3+); they
/// are kept as reported.
pub(crate) fn decode_daemon(attrs: &[DaemonAttr]) -> Result<SyncDaemon, String> {
    let (mut state, mut ifn, mut id) = (None, None, None);
    let mut d = SyncDaemon::new(DaemonState::Master, "", 0);
    for a in attrs {
        match a {
            DaemonAttr::State(v) => state = Some(*v),
            DaemonAttr::McastIfn(v) => ifn = Some(v.clone()),
            DaemonAttr::SyncId(v) => id = Some(*v),
            DaemonAttr::SyncMaxlen(v) => d.max_len = Some(*v),
            DaemonAttr::McastGroup(v) if !v.is_unspecified() => d.group = Some(IpAddr::V4(*v)),
            DaemonAttr::McastGroup6(v) if !v.is_unspecified() => d.group = Some(IpAddr::V6(*v)),
            DaemonAttr::McastPort(v) => d.port = Some(*v),
            DaemonAttr::McastTtl(v) => d.ttl = Some(*v),
            _ => {}
        }
    }
    let state = state.ok_or("daemon without state")?;
    d.state =
        DaemonState::from_value(state).ok_or_else(|| format!("unknown daemon state {state}"))?;
    d.interface = ifn.ok_or("daemon without interface")?;
    d.sync_id = id.ok_or("daemon without sync id")?;
    Ok(d)
}

/// The top-level attributes of SET_CONFIG.
pub(crate) fn timeouts_attrs(t: &Timeouts) -> Vec<CmdAttr> {
    vec![
        CmdAttr::TimeoutTcp(t.tcp),
        CmdAttr::TimeoutTcpFin(t.tcp_fin),
        CmdAttr::TimeoutUdp(t.udp),
    ]
}

/// Timeouts from a GET_CONFIG reply.
pub(crate) fn decode_timeouts(attrs: &[CmdAttr]) -> Timeouts {
    let mut t = Timeouts::default();
    for a in attrs {
        match a {
            CmdAttr::TimeoutTcp(v) => t.tcp = *v,
            CmdAttr::TimeoutTcpFin(v) => t.tcp_fin = *v,
            CmdAttr::TimeoutUdp(v) => t.udp = *v,
            _ => {}
        }
    }
    t
}

//! The attribute enums, one per nest level.

use std::net::{Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    DecodeError, Emitable, Nla, NlaBuffer, Parseable, NLA_F_NESTED, NLA_F_NET_BYTEORDER,
};

use super::{parse_attrs, NAME_MAX};

/// Largest value kept for an unknown attribute (the TLV length field is 16 bits).
const MAX_NLA_VALUE: usize = u16::MAX as usize - 4;

/// An attribute this crate does not know, kept as it came so that it re-emits unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAttr {
    /// The type field as received, including the `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER` bits.
    pub kind: u16,
    /// The value bytes (without padding).
    pub value: Vec<u8>,
}

impl UnknownAttr {
    /// Keeps the attribute with its flag bits. Both `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` at
    /// once is refused: no kernel sends it, and netlink-packet-core's emitter drops the second
    /// bit (its `set_nested_flag` re-reads the masked kind), so it could not round-trip.
    fn parse(buf: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        let mut kind = buf.kind();
        if buf.nested_flag() && buf.network_byte_order_flag() {
            return Err(
                format!("attribute {kind} has both NLA_F_NESTED and NLA_F_NET_BYTEORDER").into(),
            );
        }
        if buf.nested_flag() {
            kind |= NLA_F_NESTED;
        }
        if buf.network_byte_order_flag() {
            kind |= NLA_F_NET_BYTEORDER;
        }
        Ok(Self {
            kind,
            value: buf.value().to_vec(),
        })
    }
}

impl Nla for UnknownAttr {
    fn value_len(&self) -> usize {
        self.value.len().min(MAX_NLA_VALUE)
    }
    fn kind(&self) -> u16 {
        self.kind
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        let n = self.value_len();
        buffer[..n].copy_from_slice(&self.value[..n]);
    }
}

// ---- scalar helpers: exact lengths, named errors ----

fn exact<const N: usize>(v: &[u8], what: &str) -> Result<[u8; N], DecodeError> {
    v.try_into()
        .map_err(|_| DecodeError::from(format!("{what}: {} bytes, expected {N}", v.len())))
}

fn u8_of(v: &[u8], what: &str) -> Result<u8, DecodeError> {
    Ok(exact::<1>(v, what)?[0])
}
fn u16_ne(v: &[u8], what: &str) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(exact(v, what)?))
}
fn u16_be(v: &[u8], what: &str) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(exact(v, what)?))
}
fn u32_ne(v: &[u8], what: &str) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(exact(v, what)?))
}
fn u64_ne(v: &[u8], what: &str) -> Result<u64, DecodeError> {
    Ok(u64::from_ne_bytes(exact(v, what)?))
}

/// An address value: up to 16 bytes (replies always carry 16).
fn addr_bytes(v: &[u8], what: &str) -> Result<Vec<u8>, DecodeError> {
    if v.len() > 16 {
        return Err(format!("{what}: {} bytes, at most 16", v.len()).into());
    }
    Ok(v.to_vec())
}

/// A NUL-terminated name of at most [`NAME_MAX`] bytes (the NUL may be missing; the value ends
/// at the first NUL).
fn name(v: &[u8], what: &str) -> Result<String, DecodeError> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    if end > NAME_MAX {
        return Err(format!("{what}: {end} bytes, at most {NAME_MAX}").into());
    }
    String::from_utf8(v[..end].to_vec()).map_err(|_| format!("{what}: not UTF-8").into())
}

fn emit_name(s: &str, buf: &mut [u8]) {
    buf[..s.len()].copy_from_slice(s.as_bytes());
    buf[s.len()] = 0;
}

/// A nest's value: 4-aligned (what the kernel produces), so that re-emitting cannot grow it.
fn nest<A>(v: &[u8], what: &str) -> Result<Vec<A>, DecodeError>
where
    A: for<'a> Parseable<NlaBuffer<&'a [u8]>>,
{
    if v.len() % 4 != 0 {
        return Err(format!("{what}: nest of {} bytes is not 4-aligned", v.len()).into());
    }
    parse_attrs(v, what)
}

fn nest_len<A: Nla>(a: &[A]) -> usize {
    a.buffer_len()
}

// ---- statistics ----

/// A counter of `IPVS_STATS_ATTR_*` (kinds 1 to 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsField {
    /// 1: connections scheduled.
    Conns,
    /// 2: incoming packets.
    InPkts,
    /// 3: outgoing packets.
    OutPkts,
    /// 4: incoming bytes.
    InBytes,
    /// 5: outgoing bytes.
    OutBytes,
    /// 6: connections per second.
    Cps,
    /// 7: incoming packets per second.
    InPps,
    /// 8: outgoing packets per second.
    OutPps,
    /// 9: incoming bytes per second.
    InBps,
    /// 10: outgoing bytes per second.
    OutBps,
}

impl StatsField {
    /// The attribute kind.
    pub fn kind(self) -> u16 {
        self as u16 + 1
    }

    /// The field of an attribute kind, if it is a counter.
    pub fn from_kind(kind: u16) -> Option<Self> {
        use StatsField::*;
        Some(match kind {
            1 => Conns,
            2 => InPkts,
            3 => OutPkts,
            4 => InBytes,
            5 => OutBytes,
            6 => Cps,
            7 => InPps,
            8 => OutPps,
            9 => InBps,
            10 => OutBps,
            _ => return None,
        })
    }
}

/// An attribute inside `*_ATTR_STATS` / `*_ATTR_STATS64`. The width is the wire length: the
/// 32-bit nest mixes u32 and u64 counters, the 64-bit nest has only u64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAttr {
    /// A counter carried in 4 bytes.
    U32(StatsField, u32),
    /// A counter carried in 8 bytes.
    U64(StatsField, u64),
    /// Anything else, including `IPVS_STATS_ATTR_PAD` (11).
    Other(UnknownAttr),
}

impl Nla for StatsAttr {
    fn value_len(&self) -> usize {
        match self {
            StatsAttr::U32(..) => 4,
            StatsAttr::U64(..) => 8,
            StatsAttr::Other(o) => o.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            StatsAttr::U32(f, _) | StatsAttr::U64(f, _) => f.kind(),
            StatsAttr::Other(o) => o.kind,
        }
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            StatsAttr::U32(_, v) => buffer.copy_from_slice(&v.to_ne_bytes()),
            StatsAttr::U64(_, v) => buffer.copy_from_slice(&v.to_ne_bytes()),
            StatsAttr::Other(o) => o.emit_value(buffer),
        }
    }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for StatsAttr {
    fn parse(buf: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        let v = buf.value();
        match StatsField::from_kind(buf.kind()) {
            Some(f) => match v.len() {
                4 => Ok(StatsAttr::U32(f, u32_ne(v, "stats counter")?)),
                8 => Ok(StatsAttr::U64(f, u64_ne(v, "stats counter")?)),
                n => Err(format!("stats counter {f:?}: {n} bytes, expected 4 or 8").into()),
            },
            None => Ok(StatsAttr::Other(UnknownAttr::parse(buf)?)),
        }
    }
}

// ---- service ----

/// An attribute inside `IPVS_CMD_ATTR_SERVICE` (`IPVS_SVC_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SvcAttr {
    /// 1: address family, u16 native.
    Af(u16),
    /// 2: IP protocol, u16 native.
    Protocol(u16),
    /// 3: virtual address, up to 16 bytes (16 in replies).
    Addr(Vec<u8>),
    /// 4: virtual port, u16 big-endian.
    Port(u16),
    /// 5: firewall mark, u32 native.
    Fwmark(u32),
    /// 6: scheduler name, NUL-terminated.
    SchedName(String),
    /// 7: `struct ip_vs_flags { flags, mask }`, both u32 native.
    Flags {
        /// The flag bits.
        flags: u32,
        /// Which bits to change.
        mask: u32,
    },
    /// 8: persistence timeout in seconds, u32 native.
    Timeout(u32),
    /// 9: persistence netmask, 4 raw bytes (IPv4 mask, or IPv6 prefix length as native u32).
    Netmask([u8; 4]),
    /// 10: 32-bit statistics (nest).
    Stats(Vec<StatsAttr>),
    /// 11: persistence engine name, NUL-terminated.
    PeName(String),
    /// 12: 64-bit statistics (nest).
    Stats64(Vec<StatsAttr>),
    /// Anything else.
    Other(UnknownAttr),
}

impl Nla for SvcAttr {
    fn value_len(&self) -> usize {
        use SvcAttr::*;
        match self {
            Af(_) | Protocol(_) | Port(_) => 2,
            Fwmark(_) | Timeout(_) | Netmask(_) => 4,
            Addr(a) => a.len(),
            SchedName(s) | PeName(s) => s.len() + 1,
            Flags { .. } => 8,
            Stats(s) | Stats64(s) => nest_len(s),
            Other(o) => o.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        use SvcAttr::*;
        match self {
            Af(_) => 1,
            Protocol(_) => 2,
            Addr(_) => 3,
            Port(_) => 4,
            Fwmark(_) => 5,
            SchedName(_) => 6,
            Flags { .. } => 7,
            Timeout(_) => 8,
            Netmask(_) => 9,
            Stats(_) => 10,
            PeName(_) => 11,
            Stats64(_) => 12,
            Other(o) => o.kind,
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        use SvcAttr::*;
        match self {
            Af(v) | Protocol(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            Port(v) => buf.copy_from_slice(&v.to_be_bytes()),
            Fwmark(v) | Timeout(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            Netmask(v) => buf.copy_from_slice(v),
            Addr(a) => buf.copy_from_slice(a),
            SchedName(s) | PeName(s) => emit_name(s, buf),
            Flags { flags, mask } => {
                buf[..4].copy_from_slice(&flags.to_ne_bytes());
                buf[4..8].copy_from_slice(&mask.to_ne_bytes());
            }
            Stats(s) | Stats64(s) => s.as_slice().emit(buf),
            Other(o) => o.emit_value(buf),
        }
    }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for SvcAttr {
    fn parse(buf: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        use SvcAttr::*;
        let v = buf.value();
        Ok(match buf.kind() {
            1 => Af(u16_ne(v, "service AF")?),
            2 => Protocol(u16_ne(v, "service PROTOCOL")?),
            3 => Addr(addr_bytes(v, "service ADDR")?),
            4 => Port(u16_be(v, "service PORT")?),
            5 => Fwmark(u32_ne(v, "service FWMARK")?),
            6 => SchedName(name(v, "service SCHED_NAME")?),
            7 => {
                let b: [u8; 8] = exact(v, "service FLAGS")?;
                Flags {
                    flags: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                    mask: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                }
            }
            8 => Timeout(u32_ne(v, "service TIMEOUT")?),
            9 => Netmask(exact(v, "service NETMASK")?),
            10 => Stats(nest(v, "service STATS")?),
            11 => PeName(name(v, "service PE_NAME")?),
            12 => Stats64(nest(v, "service STATS64")?),
            _ => Other(UnknownAttr::parse(buf)?),
        })
    }
}

// ---- destination ----

/// An attribute inside `IPVS_CMD_ATTR_DEST` (`IPVS_DEST_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestAttr {
    /// 1: real server address, up to 16 bytes (16 in replies).
    Addr(Vec<u8>),
    /// 2: real server port, u16 big-endian.
    Port(u16),
    /// 3: forwarding method (`IP_VS_CONN_F_*` & 7), u32 native.
    FwdMethod(u32),
    /// 4: weight, u32 native (the kernel treats it as signed).
    Weight(u32),
    /// 5: upper connection threshold.
    UThresh(u32),
    /// 6: lower connection threshold.
    LThresh(u32),
    /// 7: active connections (reply only).
    ActiveConns(u32),
    /// 8: inactive connections (reply only).
    InactConns(u32),
    /// 9: persistence templates (reply only).
    PersistConns(u32),
    /// 10: 32-bit statistics (nest).
    Stats(Vec<StatsAttr>),
    /// 11: address family of the destination, u16 native.
    AddrFamily(u16),
    /// 12: 64-bit statistics (nest).
    Stats64(Vec<StatsAttr>),
    /// 13: tunnel type, u8 (0 IPIP, 1 GUE, 2 GRE).
    TunType(u8),
    /// 14: tunnel port, u16 big-endian.
    TunPort(u16),
    /// 15: tunnel encapsulation flags, u16 native.
    TunFlags(u16),
    /// Anything else.
    Other(UnknownAttr),
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        use DestAttr::*;
        match self {
            Addr(a) => a.len(),
            Port(_) | AddrFamily(_) | TunPort(_) | TunFlags(_) => 2,
            FwdMethod(_) | Weight(_) | UThresh(_) | LThresh(_) | ActiveConns(_) | InactConns(_)
            | PersistConns(_) => 4,
            TunType(_) => 1,
            Stats(s) | Stats64(s) => nest_len(s),
            Other(o) => o.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        use DestAttr::*;
        match self {
            Addr(_) => 1,
            Port(_) => 2,
            FwdMethod(_) => 3,
            Weight(_) => 4,
            UThresh(_) => 5,
            LThresh(_) => 6,
            ActiveConns(_) => 7,
            InactConns(_) => 8,
            PersistConns(_) => 9,
            Stats(_) => 10,
            AddrFamily(_) => 11,
            Stats64(_) => 12,
            TunType(_) => 13,
            TunPort(_) => 14,
            TunFlags(_) => 15,
            Other(o) => o.kind,
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        use DestAttr::*;
        match self {
            Addr(a) => buf.copy_from_slice(a),
            Port(v) | TunPort(v) => buf.copy_from_slice(&v.to_be_bytes()),
            AddrFamily(v) | TunFlags(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            FwdMethod(v) | Weight(v) | UThresh(v) | LThresh(v) | ActiveConns(v) | InactConns(v)
            | PersistConns(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            TunType(v) => buf[0] = *v,
            Stats(s) | Stats64(s) => s.as_slice().emit(buf),
            Other(o) => o.emit_value(buf),
        }
    }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for DestAttr {
    fn parse(buf: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        use DestAttr::*;
        let v = buf.value();
        Ok(match buf.kind() {
            1 => Addr(addr_bytes(v, "dest ADDR")?),
            2 => Port(u16_be(v, "dest PORT")?),
            3 => FwdMethod(u32_ne(v, "dest FWD_METHOD")?),
            4 => Weight(u32_ne(v, "dest WEIGHT")?),
            5 => UThresh(u32_ne(v, "dest U_THRESH")?),
            6 => LThresh(u32_ne(v, "dest L_THRESH")?),
            7 => ActiveConns(u32_ne(v, "dest ACTIVE_CONNS")?),
            8 => InactConns(u32_ne(v, "dest INACT_CONNS")?),
            9 => PersistConns(u32_ne(v, "dest PERSIST_CONNS")?),
            10 => Stats(nest(v, "dest STATS")?),
            11 => AddrFamily(u16_ne(v, "dest ADDR_FAMILY")?),
            12 => Stats64(nest(v, "dest STATS64")?),
            13 => TunType(u8_of(v, "dest TUN_TYPE")?),
            14 => TunPort(u16_be(v, "dest TUN_PORT")?),
            15 => TunFlags(u16_ne(v, "dest TUN_FLAGS")?),
            _ => Other(UnknownAttr::parse(buf)?),
        })
    }
}

// ---- sync daemon ----

/// An attribute inside `IPVS_CMD_ATTR_DAEMON` (`IPVS_DAEMON_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonAttr {
    /// 1: `IP_VS_STATE_MASTER` (1) or `IP_VS_STATE_BACKUP` (2), u32 native.
    State(u32),
    /// 2: multicast interface name, NUL-terminated.
    McastIfn(String),
    /// 3: sync id, u32 native.
    SyncId(u32),
    /// 4: maximum sync message length, u16 native.
    SyncMaxlen(u16),
    /// 5: IPv4 multicast group.
    McastGroup(Ipv4Addr),
    /// 6: IPv6 multicast group.
    McastGroup6(Ipv6Addr),
    /// 7: multicast port, u16 **native** (unlike service ports).
    McastPort(u16),
    /// 8: multicast TTL, u8.
    McastTtl(u8),
    /// Anything else.
    Other(UnknownAttr),
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        use DaemonAttr::*;
        match self {
            State(_) | SyncId(_) | McastGroup(_) => 4,
            McastIfn(s) => s.len() + 1,
            SyncMaxlen(_) | McastPort(_) => 2,
            McastGroup6(_) => 16,
            McastTtl(_) => 1,
            Other(o) => o.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        use DaemonAttr::*;
        match self {
            State(_) => 1,
            McastIfn(_) => 2,
            SyncId(_) => 3,
            SyncMaxlen(_) => 4,
            McastGroup(_) => 5,
            McastGroup6(_) => 6,
            McastPort(_) => 7,
            McastTtl(_) => 8,
            Other(o) => o.kind,
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        use DaemonAttr::*;
        match self {
            State(v) | SyncId(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            McastIfn(s) => emit_name(s, buf),
            SyncMaxlen(v) | McastPort(v) => buf.copy_from_slice(&v.to_ne_bytes()),
            McastGroup(a) => buf.copy_from_slice(&a.octets()),
            McastGroup6(a) => buf.copy_from_slice(&a.octets()),
            McastTtl(v) => buf[0] = *v,
            Other(o) => o.emit_value(buf),
        }
    }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for DaemonAttr {
    fn parse(buf: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        use DaemonAttr::*;
        let v = buf.value();
        Ok(match buf.kind() {
            1 => State(u32_ne(v, "daemon STATE")?),
            2 => McastIfn(name(v, "daemon MCAST_IFN")?),
            3 => SyncId(u32_ne(v, "daemon SYNC_ID")?),
            4 => SyncMaxlen(u16_ne(v, "daemon SYNC_MAXLEN")?),
            5 => McastGroup(Ipv4Addr::from(exact::<4>(v, "daemon MCAST_GROUP")?)),
            6 => McastGroup6(Ipv6Addr::from(exact::<16>(v, "daemon MCAST_GROUP6")?)),
            7 => McastPort(u16_ne(v, "daemon MCAST_PORT")?),
            8 => McastTtl(u8_of(v, "daemon MCAST_TTL")?),
            _ => Other(UnknownAttr::parse(buf)?),
        })
    }
}

// ---- info ----

/// A top-level attribute of the GET_INFO reply (`IPVS_INFO_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InfoAttr {
    /// 1: IPVS version code (`0x00010201` = 1.2.1).
    Version(u32),
    /// 2: connection hash table size.
    ConnTabSize(u32),
    /// Anything else.
    Other(UnknownAttr),
}

impl Nla for InfoAttr {
    fn value_len(&self) -> usize {
        match self {
            InfoAttr::Version(_) | InfoAttr::ConnTabSize(_) => 4,
            InfoAttr::Other(o) => o.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            InfoAttr::Version(_) => 1,
            InfoAttr::ConnTabSize(_) => 2,
            InfoAttr::Other(o) => o.kind,
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            InfoAttr::Version(v) | InfoAttr::ConnTabSize(v) => {
                buf.copy_from_slice(&v.to_ne_bytes())
            }
            InfoAttr::Other(o) => o.emit_value(buf),
        }
    }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for InfoAttr {
    fn parse(buf: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        let v = buf.value();
        Ok(match buf.kind() {
            1 => InfoAttr::Version(u32_ne(v, "info VERSION")?),
            2 => InfoAttr::ConnTabSize(u32_ne(v, "info CONN_TAB_SIZE")?),
            _ => InfoAttr::Other(UnknownAttr::parse(buf)?),
        })
    }
}

// ---- top level ----

/// A top-level attribute of every command but the GET_INFO reply (`IPVS_CMD_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmdAttr {
    /// 1: a service (nest).
    Service(Vec<SvcAttr>),
    /// 2: a destination (nest).
    Dest(Vec<DestAttr>),
    /// 3: a sync daemon (nest).
    Daemon(Vec<DaemonAttr>),
    /// 4: TCP timeout in seconds.
    TimeoutTcp(u32),
    /// 5: TCP FIN timeout in seconds.
    TimeoutTcpFin(u32),
    /// 6: UDP timeout in seconds.
    TimeoutUdp(u32),
    /// Anything else.
    Other(UnknownAttr),
}

impl Nla for CmdAttr {
    fn value_len(&self) -> usize {
        use CmdAttr::*;
        match self {
            Service(a) => nest_len(a),
            Dest(a) => nest_len(a),
            Daemon(a) => nest_len(a),
            TimeoutTcp(_) | TimeoutTcpFin(_) | TimeoutUdp(_) => 4,
            Other(o) => o.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        use CmdAttr::*;
        match self {
            Service(_) => 1,
            Dest(_) => 2,
            Daemon(_) => 3,
            TimeoutTcp(_) => 4,
            TimeoutTcpFin(_) => 5,
            TimeoutUdp(_) => 6,
            Other(o) => o.kind,
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        use CmdAttr::*;
        match self {
            Service(a) => a.as_slice().emit(buf),
            Dest(a) => a.as_slice().emit(buf),
            Daemon(a) => a.as_slice().emit(buf),
            TimeoutTcp(v) | TimeoutTcpFin(v) | TimeoutUdp(v) => {
                buf.copy_from_slice(&v.to_ne_bytes())
            }
            Other(o) => o.emit_value(buf),
        }
    }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for CmdAttr {
    fn parse(buf: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        use CmdAttr::*;
        let v = buf.value();
        Ok(match buf.kind() {
            1 => Service(nest(v, "SERVICE")?),
            2 => Dest(nest(v, "DEST")?),
            3 => Daemon(nest(v, "DAEMON")?),
            4 => TimeoutTcp(u32_ne(v, "TIMEOUT_TCP")?),
            5 => TimeoutTcpFin(u32_ne(v, "TIMEOUT_TCP_FIN")?),
            6 => TimeoutUdp(u32_ne(v, "TIMEOUT_UDP")?),
            _ => Other(UnknownAttr::parse(buf)?),
        })
    }
}

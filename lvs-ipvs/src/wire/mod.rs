//! The IPVS generic-netlink family on the wire: commands, attributes and messages.
//!
//! This is the codec layer: no socket, no model. Each nest level of the kernel's
//! `include/uapi/linux/ip_vs.h` has its own attribute enum implementing netlink-packet-core's
//! `Nla` and `Parseable<NlaBuffer>`; [`IpvsMessage`] implements netlink-packet-generic's
//! [`GenlFamily`] and is what travels after the 4-byte generic-netlink header.
//!
//! ```text
//!  nlmsghdr (16)        genlmsghdr (4)        attributes (TLV, 4-aligned)
//! ┌────┬────┬────┬───┬───┐┌───┬───┬──────┐┌─────────────────────────────────────────────┐
//! │len │type│flag│seq│pid││cmd│ver│ resv ││ CMD_ATTR_SERVICE ┌ SVC_ATTR_AF u16          │
//! │    │=id │    │   │   ││   │=1 │  0   ││ (nest, no        ├ SVC_ATTR_ADDR ≤16 bytes  │
//! │    │    │    │   │   ││   │   │      ││  NLA_F_NESTED    ├ SVC_ATTR_PORT u16 BE     │
//! │    │    │    │   │   ││   │   │      ││  from the kernel)└ ...                      │
//! └────┴────┴────┴───┴───┘└───┴───┴──────┘└─────────────────────────────────────────────┘
//!  type = the family id the controller assigned to "IPVS" (dynamic)
//! ```
//!
//! Traps handled here (see `docs/ipvs.md`): ports are big-endian and everything else native except
//! the daemon's multicast port; addresses are up to 16 bytes in and exactly 16 bytes out (decode by
//! the address family, never by length); nests arrive without `NLA_F_NESTED` and are emitted
//! without it, as the kernel does, so kernel replies re-emit byte for byte; the GET_INFO reply
//! (command [`IpvsCmd::SetInfo`]) uses its own top-level attribute space ([`InfoAttr`]); statistics
//! counters are 32- or 64-bit by their length. Unknown attributes are kept as [`UnknownAttr`] and
//! re-emitted unchanged. Every length is checked: integers must have their exact size, names are
//! at most 15 bytes, addresses at most 16, nests must be 4-aligned and non-integer values other
//! than unknown attributes have a bounded size.
//!
//! These types mirror the kernel's ABI and may change with it; the stable API of this crate is the
//! model-level client ([`crate::Client`]). They are public so that fuzzers and captures can reach
//! the codec.

mod attrs;

pub use attrs::{
    CmdAttr, DaemonAttr, DestAttr, InfoAttr, StatsAttr, StatsField, SvcAttr, UnknownAttr,
};

use netlink_packet_core::{
    DecodeError, Emitable, NlaBuffer, NlasIterator, Parseable, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

/// The generic-netlink family name (`IPVS_GENL_NAME`).
pub const IPVS_GENL_NAME: &str = "IPVS";
/// The family version put in the genl header (`IPVS_GENL_VERSION`).
pub const IPVS_GENL_VERSION: u8 = 1;
/// Size of the generic-netlink header that precedes the attributes.
pub const GENL_HEADER_LEN: usize = 4;

/// `IP_VS_SVC_F_PERSISTENT`.
pub const SVC_F_PERSISTENT: u32 = 0x0001;
/// `IP_VS_SVC_F_HASHED`: kernel-internal, always set in replies.
pub const SVC_F_HASHED: u32 = 0x0002;
/// `IP_VS_SVC_F_ONEPACKET`.
pub const SVC_F_ONEPACKET: u32 = 0x0004;
/// `IP_VS_CONN_F_FWD_MASK`.
pub const CONN_F_FWD_MASK: u32 = 0x0007;
/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;
/// Longest scheduler, persistence-engine or interface name, without the NUL.
pub const NAME_MAX: usize = 15;

/// An IPVS generic-netlink command (`IPVS_CMD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IpvsCmd {
    /// 1: add a service; also the command of each GET_SERVICE reply.
    NewService,
    /// 2: modify a service.
    SetService,
    /// 3: delete a service.
    DelService,
    /// 4: get one service (doit) or dump all.
    GetService,
    /// 5: add a destination; also the command of each GET_DEST reply.
    NewDest,
    /// 6: modify a destination.
    SetDest,
    /// 7: delete a destination.
    DelDest,
    /// 8: dump the destinations of a service.
    GetDest,
    /// 9: start a sync daemon; also the command of GET_DAEMON replies.
    NewDaemon,
    /// 10: stop a sync daemon.
    DelDaemon,
    /// 11: dump the sync daemons.
    GetDaemon,
    /// 12: set the connection timeouts; also the command of the GET_CONFIG reply.
    SetConfig,
    /// 13: get the connection timeouts.
    GetConfig,
    /// 14: the command of the GET_INFO reply (its attributes are [`InfoAttr`]).
    SetInfo,
    /// 15: get the version and connection table size.
    GetInfo,
    /// 16: zero the counters (of one service, or all).
    Zero,
    /// 17: delete every service.
    Flush,
    /// Any other command number.
    Other(u8),
}

impl From<u8> for IpvsCmd {
    fn from(n: u8) -> Self {
        use IpvsCmd::*;
        match n {
            1 => NewService,
            2 => SetService,
            3 => DelService,
            4 => GetService,
            5 => NewDest,
            6 => SetDest,
            7 => DelDest,
            8 => GetDest,
            9 => NewDaemon,
            10 => DelDaemon,
            11 => GetDaemon,
            12 => SetConfig,
            13 => GetConfig,
            14 => SetInfo,
            15 => GetInfo,
            16 => Zero,
            17 => Flush,
            n => Other(n),
        }
    }
}

impl From<IpvsCmd> for u8 {
    fn from(c: IpvsCmd) -> u8 {
        use IpvsCmd::*;
        match c {
            NewService => 1,
            SetService => 2,
            DelService => 3,
            GetService => 4,
            NewDest => 5,
            SetDest => 6,
            DelDest => 7,
            GetDest => 8,
            NewDaemon => 9,
            DelDaemon => 10,
            GetDaemon => 11,
            SetConfig => 12,
            GetConfig => 13,
            SetInfo => 14,
            GetInfo => 15,
            Zero => 16,
            Flush => 17,
            Other(n) => n,
        }
    }
}

/// The top-level attributes of a message: which space they belong to depends on the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attrs {
    /// `IPVS_CMD_ATTR_*`, the space of every command but the GET_INFO reply.
    Cmd(Vec<CmdAttr>),
    /// `IPVS_INFO_ATTR_*`, the space of the GET_INFO reply ([`IpvsCmd::SetInfo`]).
    Info(Vec<InfoAttr>),
}

/// One IPVS generic-netlink message: the command and its top-level attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// The command (genl header `cmd`).
    pub cmd: IpvsCmd,
    /// The attributes, in the space the command implies.
    pub attrs: Attrs,
}

/// A decoding error with the path to what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub(crate) String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

impl From<DecodeError> for WireError {
    fn from(e: DecodeError) -> Self {
        WireError(e.to_string())
    }
}

impl IpvsMessage {
    /// A message in the command attribute space.
    pub fn new(cmd: IpvsCmd, attrs: Vec<CmdAttr>) -> Self {
        Self {
            cmd,
            attrs: Attrs::Cmd(attrs),
        }
    }

    /// Whether the command's attributes are in the info space.
    pub fn uses_info_space(cmd: IpvsCmd) -> bool {
        cmd == IpvsCmd::SetInfo
    }

    /// The command attributes (empty for an info message).
    pub fn cmd_attrs(&self) -> &[CmdAttr] {
        match &self.attrs {
            Attrs::Cmd(a) => a,
            Attrs::Info(_) => &[],
        }
    }

    /// Parses a generic-netlink payload: the 4-byte genl header, then the attributes.
    pub fn parse_genl(payload: &[u8]) -> Result<Self, WireError> {
        let header = GenlHeader::parse(payload)?;
        let rest = payload.get(GENL_HEADER_LEN..).unwrap_or_default();
        Ok(Self::parse_with_param(rest, header)?)
    }

    /// Emits the generic-netlink payload: the genl header (version 1), then the attributes.
    pub fn emit_genl(&self) -> Vec<u8> {
        let header = GenlHeader {
            cmd: self.cmd.into(),
            version: IPVS_GENL_VERSION,
        };
        let mut buf = vec![0; GENL_HEADER_LEN + self.buffer_len()];
        header.emit(&mut buf[..GENL_HEADER_LEN]);
        self.emit(&mut buf[GENL_HEADER_LEN..]);
        buf
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.into()
    }

    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        match &self.attrs {
            Attrs::Cmd(a) => a.as_slice().buffer_len(),
            Attrs::Info(a) => a.as_slice().buffer_len(),
        }
    }

    fn emit(&self, buffer: &mut [u8]) {
        match &self.attrs {
            Attrs::Cmd(a) => a.as_slice().emit(buffer),
            Attrs::Info(a) => a.as_slice().emit(buffer),
        }
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCmd::from(header.cmd);
        let attrs = if Self::uses_info_space(cmd) {
            Attrs::Info(parse_attrs(buf, "message")?)
        } else {
            Attrs::Cmd(parse_attrs(buf, "message")?)
        };
        Ok(Self { cmd, attrs })
    }
}

/// The model view of a `CMD_ATTR_SERVICE` nest of a reply (flags without `HASHED`, 64-bit
/// statistics preferred). Fails on what the model cannot hold.
pub fn service_status(attrs: &[SvcAttr]) -> Result<crate::ServiceStatus, WireError> {
    crate::convert::decode_service(attrs).map_err(WireError)
}

/// The model view of a `CMD_ATTR_DEST` nest of a reply; `service_af` is used when the kernel
/// sends no `DEST_ATTR_ADDR_FAMILY` (before Linux 3.18).
pub fn destination_status(
    attrs: &[DestAttr],
    service_af: lvs_core::model::AddressFamily,
) -> Result<crate::DestinationStatus, WireError> {
    crate::convert::decode_dest(attrs, service_af).map_err(WireError)
}

/// The `CMD_ATTR_SERVICE` nest the client sends to add or edit `service`.
pub fn service_attrs(service: &lvs_core::model::Service) -> Result<Vec<SvcAttr>, WireError> {
    crate::convert::service_full(service).map_err(WireError)
}

/// The `CMD_ATTR_DEST` nest the client sends to add or edit `dest`.
pub fn destination_attrs(dest: &lvs_core::model::Destination) -> Vec<DestAttr> {
    crate::convert::dest_full(dest)
}

/// Parses a sequence of attributes of one space.
pub(crate) fn parse_attrs<A>(buf: &[u8], what: &str) -> Result<Vec<A>, DecodeError>
where
    A: for<'a> Parseable<NlaBuffer<&'a [u8]>>,
{
    let mut out = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla = nla.map_err(|e| DecodeError::from(format!("{what}: {e}")))?;
        out.push(A::parse(&nla).map_err(|e| DecodeError::from(format!("{what}: {e}")))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

//! Basic payload units and their typed views.

use std::net::Ipv4Addr;

use lvs_core::model::{Forwarding, Protocol, Tunnel};

/// A basic payload unit: `data0`..`data7`, eight big-endian u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Unit(pub [u32; 8]);

impl Unit {
    /// Reads a unit.
    pub fn parse(bytes: &[u8; super::UNIT_LEN]) -> Unit {
        let mut data = [0u32; 8];
        for (d, chunk) in data.iter_mut().zip(bytes.chunks_exact(4)) {
            *d = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Unit(data)
    }

    /// Appends the unit's 32 bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        for d in self.0 {
            out.extend_from_slice(&d.to_be_bytes());
        }
    }

    /// `data<i>` (`i` < 8).
    ///
    /// # Panics
    ///
    /// When `i` is 8 or more.
    pub fn data(&self, i: usize) -> u32 {
        self.0[i]
    }

    /// The unit's 32 bytes.
    pub fn to_bytes(&self) -> [u8; super::UNIT_LEN] {
        let mut out = [0u8; super::UNIT_LEN];
        for (chunk, d) in out.chunks_exact_mut(4).zip(self.0) {
            chunk.copy_from_slice(&d.to_be_bytes());
        }
        out
    }
}

/// Why a unit is not a valid typed unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// A field that must be 0 is not.
    #[error("data{field} must be 0, is {value:#x}")]
    NotZero {
        /// The field's index (`data<field>`).
        field: usize,
        /// Its value.
        value: u32,
    },
    /// A field holds more bits than its type (an 8-bit protocol, a 16-bit port, ...).
    #[error("data{field} = {value:#x} is out of range")]
    OutOfRange {
        /// The field's index.
        field: usize,
        /// Its value.
        value: u32,
    },
    /// A forwarding type other than L2, GRE and L3 has no LVS forwarding method.
    #[error("NECP forwarding type {0:#x} is unknown (known: 0x1 L2, 0x2 GRE, 0x3 L3)")]
    UnknownForwarding(u8),
    /// Local delivery has no NECP forwarding type.
    #[error("LVS forwarding method `local` has no NECP forwarding type")]
    LocalForwarding,
    /// An IP protocol that IPVS does not balance (it knows 6 TCP, 17 UDP, 132 SCTP).
    #[error("IP protocol {0} is not one IPVS balances (tcp 6, udp 17, sctp 132)")]
    UnknownProtocol(u8),
}

/// Performance query type 1, the Health Index (0..100), which every node must support.
pub const QUERY_HEALTH_INDEX: u32 = 1;

/// The unit of `NECP_INIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitUnit {
    /// `data0`: flags; [`InitUnit::AUTH`] asks for an authenticated connection.
    pub flags: u32,
    /// `data1`:`data2`: the sequence number the SE wants to receive (0 unauthenticated).
    pub initial_seq: u64,
}

impl InitUnit {
    /// Bit of `data0`: every message on this connection must be authenticated.
    pub const AUTH: u32 = 0x1;

    /// Whether the SE asks for authentication.
    pub fn wants_auth(&self) -> bool {
        self.flags & Self::AUTH != 0
    }
}

/// The unit of `NECP_INIT_ACK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitAckUnit {
    /// `data0`:`data1`: the sequence number the NE wants to receive (0 unauthenticated).
    pub initial_seq: u64,
}

/// A performance query of `NECP_KEEPALIVE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HealthQuery {
    /// `data0`: the query type ([`QUERY_HEALTH_INDEX`]; others are echoed back with `F_Error`).
    pub query_type: u32,
    /// `data1`: the IP protocol (6 TCP, 17 UDP).
    pub protocol: u8,
    /// `data2`: the port.
    pub port: u16,
}

/// An answer of `NECP_KEEPALIVE_ACK`: the query and `data3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthAnswer {
    /// The query answered (`data0`..`data2`).
    pub query: HealthQuery,
    /// `data3`: for the Health Index 0..100, 0 meaning "send no work".
    pub value: u32,
}

/// The forwarding type of a service unit (`data0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NecpForwarding {
    /// 0x1, MAC rewrite on the same link: LVS direct routing.
    L2,
    /// 0x2, GRE encapsulation: LVS tunnelling.
    Gre,
    /// 0x3, destination-IP rewrite: LVS NAT.
    L3,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for NecpForwarding {
    fn from(v: u8) -> Self {
        match v {
            1 => NecpForwarding::L2,
            2 => NecpForwarding::Gre,
            3 => NecpForwarding::L3,
            other => NecpForwarding::Unknown(other),
        }
    }
}

impl From<NecpForwarding> for u8 {
    fn from(f: NecpForwarding) -> u8 {
        match f {
            NecpForwarding::L2 => 1,
            NecpForwarding::Gre => 2,
            NecpForwarding::L3 => 3,
            NecpForwarding::Unknown(v) => v,
        }
    }
}

/// The unit of `NECP_START` and `NECP_STOP`: a service the SE offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceUnit {
    /// `data0`: how the NE forwards to the SE.
    pub forwarding: NecpForwarding,
    /// `data1`: the IP protocol.
    pub protocol: u8,
    /// `data2`: the port.
    pub port: u16,
}

/// The unit of the `NECP_EXCEPTION_*` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExceptionUnit {
    /// `data0`: 0 NE decides, 1 local, 2 global.
    pub scope: u8,
    /// `data1`: TTL in seconds, 0 static; in a query or response, the installer SE's address.
    pub ttl: u32,
    /// `data2`: source address, 0 wildcard.
    pub src: Ipv4Addr,
    /// `data3`: source prefix length.
    pub src_prefix: u8,
    /// `data4`: destination address, 0 wildcard.
    pub dst: Ipv4Addr,
    /// `data5`: destination prefix length.
    pub dst_prefix: u8,
    /// `data6`: IP protocol, 0 wildcard.
    pub protocol: u8,
    /// `data7`: destination port, 0 wildcard.
    pub port: u16,
}

macro_rules! unit_conversions {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Unit {
            fn from(u: $ty) -> Unit {
                u.to_unit()
            }
        }
        impl TryFrom<&Unit> for $ty {
            type Error = UnitError;
            fn try_from(u: &Unit) -> Result<$ty, UnitError> {
                <$ty>::from_unit(u)
            }
        }
        impl TryFrom<Unit> for $ty {
            type Error = UnitError;
            fn try_from(u: Unit) -> Result<$ty, UnitError> {
                <$ty>::from_unit(&u)
            }
        }
    )*};
}

unit_conversions!(
    InitUnit,
    InitAckUnit,
    HealthQuery,
    HealthAnswer,
    ServiceUnit,
    ExceptionUnit
);

/// Checks that `data<from>`..`data7` are 0.
fn zeros_from(u: &Unit, from: usize) -> Result<(), UnitError> {
    match u.0.iter().enumerate().skip(from).find(|(_, v)| **v != 0) {
        Some((field, &value)) => Err(UnitError::NotZero { field, value }),
        None => Ok(()),
    }
}

/// `data<field>` as an 8-bit value.
fn field_u8(u: &Unit, field: usize) -> Result<u8, UnitError> {
    let value = u.0[field];
    u8::try_from(value).map_err(|_| UnitError::OutOfRange { field, value })
}

/// `data<field>` as a 16-bit value.
fn field_u16(u: &Unit, field: usize) -> Result<u16, UnitError> {
    let value = u.0[field];
    u16::try_from(value).map_err(|_| UnitError::OutOfRange { field, value })
}

fn split(seq: u64) -> (u32, u32) {
    ((seq >> 32) as u32, seq as u32)
}

fn join(hi: u32, lo: u32) -> u64 {
    (u64::from(hi) << 32) | u64::from(lo)
}

impl InitUnit {
    fn to_unit(self) -> Unit {
        let (hi, lo) = split(self.initial_seq);
        Unit([self.flags, hi, lo, 0, 0, 0, 0, 0])
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        zeros_from(u, 3)?;
        Ok(InitUnit {
            flags: u.0[0],
            initial_seq: join(u.0[1], u.0[2]),
        })
    }
}

impl InitAckUnit {
    fn to_unit(self) -> Unit {
        let (hi, lo) = split(self.initial_seq);
        Unit([hi, lo, 0, 0, 0, 0, 0, 0])
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        zeros_from(u, 2)?;
        Ok(InitAckUnit {
            initial_seq: join(u.0[0], u.0[1]),
        })
    }
}

impl HealthQuery {
    /// A Health Index query ([`QUERY_HEALTH_INDEX`]) for a protocol and port.
    pub fn health_index(protocol: u8, port: u16) -> Self {
        HealthQuery {
            query_type: QUERY_HEALTH_INDEX,
            protocol,
            port,
        }
    }

    /// `data0`..`data2`.
    fn fields(self) -> [u32; 3] {
        [
            self.query_type,
            u32::from(self.protocol),
            u32::from(self.port),
        ]
    }

    fn read(u: &Unit) -> Result<Self, UnitError> {
        Ok(HealthQuery {
            query_type: u.0[0],
            protocol: field_u8(u, 1)?,
            port: field_u16(u, 2)?,
        })
    }

    fn to_unit(self) -> Unit {
        let [a, b, c] = self.fields();
        Unit([a, b, c, 0, 0, 0, 0, 0])
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        let q = Self::read(u)?;
        zeros_from(u, 3)?;
        Ok(q)
    }
}

impl HealthAnswer {
    fn to_unit(self) -> Unit {
        let [a, b, c] = self.query.fields();
        Unit([a, b, c, self.value, 0, 0, 0, 0])
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        let query = HealthQuery::read(u)?;
        zeros_from(u, 4)?;
        Ok(HealthAnswer {
            query,
            value: u.0[3],
        })
    }
}

impl ServiceUnit {
    /// The service unit of an LVS protocol and port.
    pub fn for_protocol(forwarding: NecpForwarding, protocol: Protocol, port: u16) -> Self {
        ServiceUnit {
            forwarding,
            protocol: protocol.ip_proto(),
            port,
        }
    }

    /// `data1` as an LVS protocol (6 TCP, 17 UDP, 132 SCTP);
    /// [`UnitError::UnknownProtocol`] for any other.
    pub fn lvs_protocol(&self) -> Result<Protocol, UnitError> {
        Protocol::from_ip_proto(self.protocol).ok_or(UnitError::UnknownProtocol(self.protocol))
    }

    /// `data0` as an LVS forwarding method (see [`Forwarding`]'s `TryFrom<NecpForwarding>`).
    pub fn lvs_forwarding(&self) -> Result<Forwarding, UnitError> {
        Forwarding::try_from(self.forwarding)
    }

    fn to_unit(self) -> Unit {
        Unit([
            u32::from(u8::from(self.forwarding)),
            u32::from(self.protocol),
            u32::from(self.port),
            0,
            0,
            0,
            0,
            0,
        ])
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        let unit = ServiceUnit {
            forwarding: NecpForwarding::from(field_u8(u, 0)?),
            protocol: field_u8(u, 1)?,
            port: field_u16(u, 2)?,
        };
        zeros_from(u, 3)?;
        Ok(unit)
    }
}

impl ExceptionUnit {
    fn to_unit(self) -> Unit {
        Unit([
            u32::from(self.scope),
            self.ttl,
            u32::from(self.src),
            u32::from(self.src_prefix),
            u32::from(self.dst),
            u32::from(self.dst_prefix),
            u32::from(self.protocol),
            u32::from(self.port),
        ])
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        Ok(ExceptionUnit {
            scope: field_u8(u, 0)?,
            ttl: u.0[1],
            src: Ipv4Addr::from(u.0[2]),
            src_prefix: field_u8(u, 3)?,
            dst: Ipv4Addr::from(u.0[4]),
            dst_prefix: field_u8(u, 5)?,
            protocol: field_u8(u, 6)?,
            port: field_u16(u, 7)?,
        })
    }
}

/// NECP's forwarding type as an LVS forwarding method: L2 is direct routing, GRE is
/// tunnelling with the default encapsulation ([`Tunnel::Ipip`], the classic LVS-TUN: NECP's
/// "GRE" names the family of encapsulations), L3 is NAT. Unknown types are
/// [`UnitError::UnknownForwarding`].
impl TryFrom<NecpForwarding> for Forwarding {
    type Error = UnitError;
    fn try_from(f: NecpForwarding) -> Result<Forwarding, UnitError> {
        match f {
            NecpForwarding::L2 => Ok(Forwarding::DirectRoute),
            NecpForwarding::Gre => Ok(Forwarding::Tunnel(Tunnel::default())),
            NecpForwarding::L3 => Ok(Forwarding::Masq),
            NecpForwarding::Unknown(v) => Err(UnitError::UnknownForwarding(v)),
        }
    }
}

/// An LVS forwarding method as NECP's forwarding type: direct routing is L2, every tunnel
/// (IP-in-IP, GUE, GRE) is GRE, NAT is L3. Local delivery is [`UnitError::LocalForwarding`].
impl TryFrom<Forwarding> for NecpForwarding {
    type Error = UnitError;
    fn try_from(f: Forwarding) -> Result<NecpForwarding, UnitError> {
        match f {
            Forwarding::DirectRoute => Ok(NecpForwarding::L2),
            Forwarding::Tunnel(_) => Ok(NecpForwarding::Gre),
            Forwarding::Masq => Ok(NecpForwarding::L3),
            Forwarding::Local => Err(UnitError::LocalForwarding),
        }
    }
}

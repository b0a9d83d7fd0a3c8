//! Basic payload units and their typed views.

use std::net::Ipv4Addr;

/// A basic payload unit: `data0`..`data7`, eight big-endian u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Unit(pub [u32; 8]);

impl Unit {
    /// Reads a unit.
    pub fn parse(bytes: &[u8; super::UNIT_LEN]) -> Unit {
        todo!("codec: unit parse")
    }

    /// Appends the unit's 32 bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        todo!("codec: unit emit")
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

impl InitUnit {
    fn to_unit(self) -> Unit {
        todo!()
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        todo!()
    }
}
impl InitAckUnit {
    fn to_unit(self) -> Unit {
        todo!()
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        todo!()
    }
}
impl HealthQuery {
    fn to_unit(self) -> Unit {
        todo!()
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        todo!()
    }
}
impl HealthAnswer {
    fn to_unit(self) -> Unit {
        todo!()
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        todo!()
    }
}
impl ServiceUnit {
    fn to_unit(self) -> Unit {
        todo!()
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        todo!()
    }
}
impl ExceptionUnit {
    fn to_unit(self) -> Unit {
        todo!()
    }
    fn from_unit(u: &Unit) -> Result<Self, UnitError> {
        todo!()
    }
}

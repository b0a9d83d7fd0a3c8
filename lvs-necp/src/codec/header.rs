//! The fixed 20-byte header, its flags and opcodes.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use super::{DecodeError, HEADER_LEN, PROTOCOL_ID};

/// The `flags` bit set. Unknown bits are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u16);

impl Flags {
    /// `F_Basic_Payload`: the payload is a sequence of 32-byte units.
    pub const BASIC_PAYLOAD: Flags = Flags(0x0001);
    /// `F_Auth_Credential_Provided`: a 20-byte HMAC-SHA1 follows the payload.
    pub const AUTH_CREDENTIAL: Flags = Flags(0x0002);
    /// `F_Error`: the request failed wholly or in part.
    pub const ERROR: Flags = Flags(0x0004);
    /// `F_Protocol_Version_Mismatch`: the reply to a message of an unknown version.
    pub const VERSION_MISMATCH: Flags = Flags(0x0008);
    /// `F_Auth_Required`: authentication failed or is required.
    pub const AUTH_REQUIRED: Flags = Flags(0x0010);
    /// `F_Bad_Sequence_Number`: replay or sequence error.
    pub const BAD_SEQUENCE_NUMBER: Flags = Flags(0x0020);

    /// No flag.
    pub const fn empty() -> Self {
        Flags(0)
    }

    /// The flags of these bits, unknown ones included.
    pub const fn from_bits(bits: u16) -> Self {
        Flags(bits)
    }

    /// The bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags with `other`'s bits set too.
    pub const fn with(self, other: Flags) -> Self {
        Flags(self.0 | other.0)
    }

    /// These flags with `other`'s bits cleared.
    pub const fn without(self, other: Flags) -> Self {
        Flags(self.0 & !other.0)
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.with(rhs)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        *self = self.with(rhs);
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Flags, &str); 6] = [
            (Flags::BASIC_PAYLOAD, "F_Basic_Payload"),
            (Flags::AUTH_CREDENTIAL, "F_Auth_Credential_Provided"),
            (Flags::ERROR, "F_Error"),
            (Flags::VERSION_MISMATCH, "F_Protocol_Version_Mismatch"),
            (Flags::AUTH_REQUIRED, "F_Auth_Required"),
            (Flags::BAD_SEQUENCE_NUMBER, "F_Bad_Sequence_Number"),
        ];
        let mut first = true;
        let mut rest = self.0;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
                rest &= !flag.0;
            }
        }
        if rest != 0 || first {
            if !first {
                f.write_str(" | ")?;
            }
            write!(f, "{rest:#06x}")?;
        }
        Ok(())
    }
}

/// A message type (`opcode`). Unknown codes are kept as [`Opcode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Opcode {
    /// `NECP_NOOP` (0x00).
    Noop,
    /// `NECP_INIT` (0x01), SE -> NE.
    Init,
    /// `NECP_INIT_ACK` (0x02), NE -> SE.
    InitAck,
    /// `NECP_KEEPALIVE` (0x03), either way: performance queries.
    Keepalive,
    /// `NECP_KEEPALIVE_ACK` (0x04): their answers.
    KeepaliveAck,
    /// `NECP_START` (0x05), SE -> NE: services to receive traffic for.
    Start,
    /// `NECP_START_ACK` (0x06).
    StartAck,
    /// `NECP_STOP` (0x07), SE -> NE: services to drain.
    Stop,
    /// `NECP_STOP_ACK` (0x08).
    StopAck,
    /// `NECP_EXCEPTION_ADD` (0x20).
    ExceptionAdd,
    /// `NECP_EXCEPTION_ADD_ACK` (0x21).
    ExceptionAddAck,
    /// `NECP_EXCEPTION_DEL` (0x22).
    ExceptionDel,
    /// `NECP_EXCEPTION_DEL_ACK` (0x23).
    ExceptionDelAck,
    /// `NECP_EXCEPTION_RESET` (0x24).
    ExceptionReset,
    /// `NECP_EXCEPTION_RESET_ACK` (0x25).
    ExceptionResetAck,
    /// `NECP_EXCEPTION_QUERY` (0x26).
    ExceptionQuery,
    /// `NECP_EXCEPTION_RESP` (0x27).
    ExceptionResp,
    /// A reserved or unknown code.
    Unknown(u8),
}

impl Opcode {
    /// The reply opcode of a request (`Init` -> `InitAck`, `ExceptionQuery` ->
    /// `ExceptionResp`, ...); `None` for replies, `Noop` and unknown codes.
    pub fn reply(self) -> Option<Opcode> {
        Some(match self {
            Opcode::Init => Opcode::InitAck,
            Opcode::Keepalive => Opcode::KeepaliveAck,
            Opcode::Start => Opcode::StartAck,
            Opcode::Stop => Opcode::StopAck,
            Opcode::ExceptionAdd => Opcode::ExceptionAddAck,
            Opcode::ExceptionDel => Opcode::ExceptionDelAck,
            Opcode::ExceptionReset => Opcode::ExceptionResetAck,
            Opcode::ExceptionQuery => Opcode::ExceptionResp,
            _ => return None,
        })
    }

    /// The draft's name of the opcode (`NECP_INIT`, ...), or `NECP_UNKNOWN`.
    pub fn name(self) -> &'static str {
        match self {
            Opcode::Noop => "NECP_NOOP",
            Opcode::Init => "NECP_INIT",
            Opcode::InitAck => "NECP_INIT_ACK",
            Opcode::Keepalive => "NECP_KEEPALIVE",
            Opcode::KeepaliveAck => "NECP_KEEPALIVE_ACK",
            Opcode::Start => "NECP_START",
            Opcode::StartAck => "NECP_START_ACK",
            Opcode::Stop => "NECP_STOP",
            Opcode::StopAck => "NECP_STOP_ACK",
            Opcode::ExceptionAdd => "NECP_EXCEPTION_ADD",
            Opcode::ExceptionAddAck => "NECP_EXCEPTION_ADD_ACK",
            Opcode::ExceptionDel => "NECP_EXCEPTION_DEL",
            Opcode::ExceptionDelAck => "NECP_EXCEPTION_DEL_ACK",
            Opcode::ExceptionReset => "NECP_EXCEPTION_RESET",
            Opcode::ExceptionResetAck => "NECP_EXCEPTION_RESET_ACK",
            Opcode::ExceptionQuery => "NECP_EXCEPTION_QUERY",
            Opcode::ExceptionResp => "NECP_EXCEPTION_RESP",
            Opcode::Unknown(_) => "NECP_UNKNOWN",
        }
    }
}

impl From<u8> for Opcode {
    fn from(code: u8) -> Self {
        match code {
            0x00 => Opcode::Noop,
            0x01 => Opcode::Init,
            0x02 => Opcode::InitAck,
            0x03 => Opcode::Keepalive,
            0x04 => Opcode::KeepaliveAck,
            0x05 => Opcode::Start,
            0x06 => Opcode::StartAck,
            0x07 => Opcode::Stop,
            0x08 => Opcode::StopAck,
            0x20 => Opcode::ExceptionAdd,
            0x21 => Opcode::ExceptionAddAck,
            0x22 => Opcode::ExceptionDel,
            0x23 => Opcode::ExceptionDelAck,
            0x24 => Opcode::ExceptionReset,
            0x25 => Opcode::ExceptionResetAck,
            0x26 => Opcode::ExceptionQuery,
            0x27 => Opcode::ExceptionResp,
            other => Opcode::Unknown(other),
        }
    }
}

impl From<Opcode> for u8 {
    fn from(op: Opcode) -> u8 {
        match op {
            Opcode::Noop => 0x00,
            Opcode::Init => 0x01,
            Opcode::InitAck => 0x02,
            Opcode::Keepalive => 0x03,
            Opcode::KeepaliveAck => 0x04,
            Opcode::Start => 0x05,
            Opcode::StartAck => 0x06,
            Opcode::Stop => 0x07,
            Opcode::StopAck => 0x08,
            Opcode::ExceptionAdd => 0x20,
            Opcode::ExceptionAddAck => 0x21,
            Opcode::ExceptionDel => 0x22,
            Opcode::ExceptionDelAck => 0x23,
            Opcode::ExceptionReset => 0x24,
            Opcode::ExceptionResetAck => 0x25,
            Opcode::ExceptionQuery => 0x26,
            Opcode::ExceptionResp => 0x27,
            Opcode::Unknown(code) => code,
        }
    }
}

/// The fixed header, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `flags`, every bit as received.
    pub flags: Flags,
    /// `version` (1 today).
    pub version: u8,
    /// `opcode`.
    pub opcode: Opcode,
    /// `request_id`: copied by the responder into its reply.
    pub request_id: u16,
    /// `seq_num`: 0 on unauthenticated connections.
    pub seq_num: u64,
    /// `payload_len`: bytes after the header, the credential included.
    pub payload_len: u32,
}

impl Header {
    /// Reads a header; fails only on a wrong protocol identifier.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Header, DecodeError> {
        let id = u16::from_be_bytes([bytes[0], bytes[1]]);
        if id != PROTOCOL_ID {
            return Err(DecodeError::BadProtocolId(id));
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[8..16]);
        Ok(Header {
            flags: Flags::from_bits(u16::from_be_bytes([bytes[2], bytes[3]])),
            version: bytes[4],
            opcode: Opcode::from(bytes[5]),
            request_id: u16::from_be_bytes([bytes[6], bytes[7]]),
            seq_num: u64::from_be_bytes(seq),
            payload_len: u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]),
        })
    }

    /// Writes the header.
    pub fn emit(&self, out: &mut [u8; HEADER_LEN]) {
        out[0..2].copy_from_slice(&PROTOCOL_ID.to_be_bytes());
        out[2..4].copy_from_slice(&self.flags.bits().to_be_bytes());
        out[4] = self.version;
        out[5] = u8::from(self.opcode);
        out[6..8].copy_from_slice(&self.request_id.to_be_bytes());
        out[8..16].copy_from_slice(&self.seq_num.to_be_bytes());
        out[16..20].copy_from_slice(&self.payload_len.to_be_bytes());
    }
}

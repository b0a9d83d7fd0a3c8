//! The NECP codec: bytes <-> typed messages, without I/O.
//!
//! ```text
//!  0               2               4       5       6               8
//! +---------------+---------------+-------+-------+---------------+
//! | protocol_id   | flags         | vers. | opcode| request_id    |
//! |   0x414A      |               |  0x01 |       |               |
//! +---------------+---------------+-------+-------+---------------+
//! | seq_num (u64, big-endian)                                     |
//! +-------------------------------+-------------------------------+
//! | payload_len (u32)             |  payload: n x 32-byte units    |
//! +-------------------------------+  (F_Basic_Payload) or opaque   |
//! |                                  bytes; then, with             |
//! |                                  F_Auth_Credential_Provided,   |
//! |                                  a 20-byte HMAC-SHA1           |
//! +---------------------------------------------------------------+
//! ```
//!
//! * [`Header`] is the fixed 20-byte header; [`Frame`] a whole message as read off the stream
//!   (header + payload + credential), cut by [`FrameDecoder`] with a bound on `payload_len`.
//! * [`Message`] is a frame's meaning: flags, opcode, request id, sequence number and a
//!   [`Payload`] of [`Unit`]s (or opaque bytes). [`Message::encode`] writes it, signed when a
//!   [`Key`] is given; [`Frame::verify`] checks a credential.
//! * The typed units ([`InitUnit`], [`InitAckUnit`], [`HealthQuery`], [`HealthAnswer`],
//!   [`ServiceUnit`], [`ExceptionUnit`]) convert from and to [`Unit`], checking that unused
//!   fields are 0 and narrow fields fit ([`UnitError`]). [`NecpForwarding`] and
//!   [`ServiceUnit`] convert to and from lvs-core's `Forwarding` and `Protocol`.
//! * Every length read off the wire is bounded: [`FrameDecoder`] refuses a `payload_len` over
//!   its bound ([`DEFAULT_MAX_PAYLOAD`]) as soon as the header is in.
//!
//! Unknown opcodes, flag bits and versions are data: they round-trip
//! (`encode(decode(b)) == b`).
//!
//! ```
//! use lvs_necp::codec::{FrameDecoder, HealthQuery, Key, Message, Opcode, DEFAULT_MAX_PAYLOAD};
//!
//! let key = Key::new(b"shared secret");
//! let query = Message::new(Opcode::Keepalive, 7, vec![HealthQuery::health_index(6, 80).into()]);
//! let bytes = query.to_bytes(Some(&key));
//!
//! let mut decoder = FrameDecoder::new(DEFAULT_MAX_PAYLOAD);
//! decoder.push(&bytes);
//! let frame = decoder.next_frame()?.expect("a whole frame");
//! assert!(frame.verify(&key));
//! assert_eq!(frame.message()?, query);
//! # Ok::<(), lvs_necp::codec::DecodeError>(())
//! ```

mod frame;
mod header;
mod message;
mod units;

pub use frame::{Frame, FrameDecoder, Key};
pub use header::{Flags, Header, Opcode};
pub use message::{Message, Payload};
pub use units::{
    ExceptionUnit, HealthAnswer, HealthQuery, InitAckUnit, InitUnit, NecpForwarding, ServiceUnit,
    Unit, UnitError, QUERY_HEALTH_INDEX,
};

/// `protocol_identifier`: the magic cookie every message starts with ("AJ").
pub const PROTOCOL_ID: u16 = 0x414A;
/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 20;
/// Length of a basic payload unit (8 x u32).
pub const UNIT_LEN: usize = 32;
/// Length of the HMAC-SHA1 credential that follows the payload of a signed message.
pub const CREDENTIAL_LEN: usize = 20;
/// The default bound on `payload_len` of a received message: 1,024 units. A peer announcing
/// more is disconnected.
pub const DEFAULT_MAX_PAYLOAD: u32 = 32 * 1024;

/// Why bytes are not a valid NECP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first two bytes are not 0x414A: the stream is out of frame.
    #[error("bad protocol identifier {0:#06x} (expected 0x414a)")]
    BadProtocolId(u16),
    /// `payload_len` is over the decoder's bound.
    #[error("payload of {len} bytes is over the limit of {max}")]
    PayloadTooLong {
        /// The announced length.
        len: u32,
        /// The bound.
        max: u32,
    },
    /// `F_Auth_Credential_Provided` is set but the payload is shorter than the credential.
    #[error("credential flag set but payload of {0} bytes holds no 20-byte credential")]
    MissingCredential(u32),
    /// `F_Basic_Payload` is set but the payload is not a whole number of 32-byte units.
    #[error("basic payload of {0} bytes is not a multiple of 32")]
    BadBasicLength(usize),
    /// The bytes given hold more or less than exactly one message.
    #[error("{expected} bytes expected for this message, {got} given")]
    Length {
        /// What the header announces (header + payload).
        expected: usize,
        /// What was given.
        got: usize,
    },
}

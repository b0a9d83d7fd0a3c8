//! A message's meaning: flags, opcode, ids and payload.

use super::{DecodeError, Flags, Frame, Key, Opcode, Unit, VERSION};

/// The payload of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `F_Basic_Payload` set: 32-byte units (possibly none).
    Units(Vec<Unit>),
    /// `F_Basic_Payload` clear: opaque bytes (no opcode of the draft uses them).
    Opaque(Vec<u8>),
}

/// A decoded NECP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The flags other than `F_Basic_Payload` and `F_Auth_Credential_Provided`, which
    /// [`Message::encode`] derives from the payload and the key (unknown bits are kept).
    pub flags: Flags,
    /// `version`.
    pub version: u8,
    /// `opcode`.
    pub opcode: Opcode,
    /// `request_id`.
    pub request_id: u16,
    /// `seq_num`.
    pub seq_num: u64,
    /// The payload, without the credential.
    pub payload: Payload,
}

impl Message {
    /// A version-1 message with these units, no flag and sequence number 0.
    pub fn new(opcode: Opcode, request_id: u16, units: Vec<Unit>) -> Self {
        Message {
            flags: Flags::empty(),
            version: VERSION,
            opcode,
            request_id,
            seq_num: 0,
            payload: Payload::Units(units),
        }
    }

    /// This message with these flags added.
    pub fn with_flags(mut self, flags: Flags) -> Self {
        self.flags |= flags;
        self
    }

    /// This message with this sequence number.
    pub fn with_seq(mut self, seq_num: u64) -> Self {
        self.seq_num = seq_num;
        self
    }

    /// The units of the payload; empty for an opaque payload.
    pub fn units(&self) -> &[Unit] {
        match &self.payload {
            Payload::Units(units) => units,
            Payload::Opaque(_) => &[],
        }
    }

    /// Whether `F_Error` is set.
    pub fn is_error(&self) -> bool {
        self.flags.contains(Flags::ERROR)
    }

    /// The length of the encoded message, with a credential when `signed`.
    pub fn encoded_len(&self, signed: bool) -> usize {
        todo!("codec: header + payload (+ credential)")
    }

    /// Appends the message to `out`: `F_Basic_Payload` set for a [`Payload::Units`], and with
    /// a key `F_Auth_Credential_Provided` set, 20 added to `payload_len` and the HMAC-SHA1 of
    /// header and payload appended.
    ///
    /// # Panics
    ///
    /// When the payload is longer than `u32::MAX` bytes.
    pub fn encode(&self, key: Option<&Key>, out: &mut Vec<u8>) {
        todo!("codec: encode")
    }

    /// The message of a frame, without checking its credential (see [`Frame::verify`]).
    pub fn decode(frame: &Frame) -> Result<Message, DecodeError> {
        todo!("codec: decode")
    }
}

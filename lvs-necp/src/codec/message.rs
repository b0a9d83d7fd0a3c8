//! A message's meaning: flags, opcode, ids and payload.

use super::{
    DecodeError, Flags, Frame, Header, Key, Opcode, Unit, CREDENTIAL_LEN, HEADER_LEN, UNIT_LEN,
    VERSION,
};

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
        HEADER_LEN + self.payload_len() + if signed { CREDENTIAL_LEN } else { 0 }
    }

    /// The payload's length without credential.
    fn payload_len(&self) -> usize {
        match &self.payload {
            Payload::Units(units) => units.len() * UNIT_LEN,
            Payload::Opaque(bytes) => bytes.len(),
        }
    }

    /// The flags as sent: [`Message::flags`] with `F_Basic_Payload` set for units and
    /// `F_Auth_Credential_Provided` set when `signed`, each cleared otherwise.
    pub fn wire_flags(&self, signed: bool) -> Flags {
        let mut flags = self
            .flags
            .without(Flags::BASIC_PAYLOAD)
            .without(Flags::AUTH_CREDENTIAL);
        if matches!(self.payload, Payload::Units(_)) {
            flags |= Flags::BASIC_PAYLOAD;
        }
        if signed {
            flags |= Flags::AUTH_CREDENTIAL;
        }
        flags
    }

    /// The message encoded in a new vector (see [`Message::encode`]).
    pub fn to_bytes(&self, key: Option<&Key>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len(key.is_some()));
        self.encode(key, &mut out);
        out
    }

    /// Appends the message to `out`: `F_Basic_Payload` set for a [`Payload::Units`], and with
    /// a key `F_Auth_Credential_Provided` set, 20 added to `payload_len` and the HMAC-SHA1 of
    /// header and payload appended.
    ///
    /// # Panics
    ///
    /// When the payload is longer than `u32::MAX` bytes.
    pub fn encode(&self, key: Option<&Key>, out: &mut Vec<u8>) {
        let signed = key.is_some();
        let payload_len = self.encoded_len(signed) - HEADER_LEN;
        let header = Header {
            flags: self.wire_flags(signed),
            version: self.version,
            opcode: self.opcode,
            request_id: self.request_id,
            seq_num: self.seq_num,
            payload_len: u32::try_from(payload_len)
                .expect("an NECP payload is at most u32::MAX bytes"),
        };
        out.reserve(HEADER_LEN + payload_len);
        let start = out.len();
        let mut raw = [0u8; HEADER_LEN];
        header.emit(&mut raw);
        out.extend_from_slice(&raw);
        match &self.payload {
            Payload::Units(units) => units.iter().for_each(|u| u.emit(out)),
            Payload::Opaque(bytes) => out.extend_from_slice(bytes),
        }
        if let Some(key) = key {
            let credential = key.credential(&out[start..]);
            out.extend_from_slice(&credential);
        }
    }

    /// The message of a frame, without checking its credential (see [`Frame::verify`]).
    ///
    /// With `F_Auth_Credential_Provided` the last 20 bytes are the credential
    /// ([`DecodeError::MissingCredential`] when the payload is shorter); with
    /// `F_Basic_Payload` the rest is a sequence of units ([`DecodeError::BadBasicLength`] when
    /// not a multiple of 32 bytes), otherwise opaque bytes. [`Message::flags`] keeps every
    /// other bit, unknown ones included; the version and opcode are kept as received.
    pub fn decode(frame: &Frame) -> Result<Message, DecodeError> {
        let header = frame.header();
        if frame.is_signed() && frame.credential().is_none() {
            return Err(DecodeError::MissingCredential(header.payload_len));
        }
        let body = frame.payload();
        let payload = if header.flags.contains(Flags::BASIC_PAYLOAD) {
            if body.len() % UNIT_LEN != 0 {
                return Err(DecodeError::BadBasicLength(body.len()));
            }
            Payload::Units(
                body.chunks_exact(UNIT_LEN)
                    .map(|chunk| {
                        let mut raw = [0u8; UNIT_LEN];
                        raw.copy_from_slice(chunk);
                        Unit::parse(&raw)
                    })
                    .collect(),
            )
        } else {
            Payload::Opaque(body.to_vec())
        };
        Ok(Message {
            flags: header
                .flags
                .without(Flags::BASIC_PAYLOAD)
                .without(Flags::AUTH_CREDENTIAL),
            version: header.version,
            opcode: header.opcode,
            request_id: header.request_id,
            seq_num: header.seq_num,
            payload,
        })
    }
}

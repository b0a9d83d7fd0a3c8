//! Framing of the byte stream and the HMAC-SHA1 credential.

use std::fmt;

use super::{DecodeError, Header, Message};

/// A shared secret prepared for HMAC-SHA1 (RFC 2104). Its `Debug` form hides it.
#[derive(Clone)]
pub struct Key {
    secret: Vec<u8>,
}

impl Key {
    /// A key from the shared secret's bytes.
    pub fn new(secret: &[u8]) -> Self {
        Key {
            secret: secret.to_vec(),
        }
    }

    /// The credential of `signed`: HMAC-SHA1 keyed with the secret over the header (with the
    /// final flags and length) and the payload, the credential itself not included.
    pub fn credential(&self, signed: &[u8]) -> [u8; super::CREDENTIAL_LEN] {
        todo!("codec: hmac-sha1")
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// One whole message as read off the stream: header, payload and credential bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    bytes: Vec<u8>,
}

impl Frame {
    /// The frame of exactly one message's bytes, with no bound on its payload beyond
    /// `u32::MAX`.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Frame, DecodeError> {
        todo!("codec: whole-message check")
    }

    /// The header.
    pub fn header(&self) -> Header {
        todo!("codec: header view")
    }

    /// The bytes of the whole message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether `F_Auth_Credential_Provided` is set.
    pub fn is_signed(&self) -> bool {
        todo!("codec: flag")
    }

    /// Whether the frame is signed with `key` (constant-time comparison). False for an
    /// unsigned frame.
    pub fn verify(&self, key: &Key) -> bool {
        todo!("codec: verify")
    }

    /// The message (see [`Message::decode`]).
    pub fn message(&self) -> Result<Message, DecodeError> {
        Message::decode(self)
    }
}

/// Cuts a byte stream into [`Frame`]s, with a bound on `payload_len`.
///
/// After an error the stream is out of frame: the caller closes the connection.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_payload: u32,
}

impl FrameDecoder {
    /// A decoder refusing payloads longer than `max_payload` bytes (see
    /// [`DEFAULT_MAX_PAYLOAD`](super::DEFAULT_MAX_PAYLOAD)).
    pub fn new(max_payload: u32) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            max_payload,
        }
    }

    /// Appends bytes received.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed. A wrong protocol
    /// identifier or an over-long payload is an error as soon as the header is in.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        todo!("codec: framing")
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

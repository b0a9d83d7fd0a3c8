//! Framing of the byte stream and the HMAC-SHA1 credential.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{DecodeError, Flags, Header, Message, CREDENTIAL_LEN, HEADER_LEN};

/// A shared secret prepared for HMAC-SHA1 (RFC 2104). Its `Debug` form hides it.
///
/// The key is hashed into the HMAC's inner and outer state once, by [`Key::new`]; each
/// credential then costs only the hashing of the message.
#[derive(Clone)]
pub struct Key {
    mac: Hmac<Sha1>,
}

impl Key {
    /// A key from the shared secret's bytes (any length: RFC 2104 hashes a secret longer than
    /// the 64-byte block).
    pub fn new(secret: &[u8]) -> Self {
        Key {
            mac: <Hmac<Sha1> as Mac>::new_from_slice(secret)
                .expect("HMAC accepts a key of any length"),
        }
    }

    /// The credential of `signed`: HMAC-SHA1 keyed with the secret over the header (with the
    /// final flags and length) and the payload, the credential itself not included.
    pub fn credential(&self, signed: &[u8]) -> [u8; CREDENTIAL_LEN] {
        let mut mac = self.mac.clone();
        mac.update(signed);
        mac.finalize().into_bytes().into()
    }

    /// Whether `credential` is the credential of `signed`, compared in constant time.
    pub fn verify(&self, signed: &[u8], credential: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(signed);
        mac.verify_slice(credential).is_ok()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// One whole message as read off the stream: header, payload and credential bytes.
///
/// Its header has the right protocol identifier and its `payload_len` is the number of bytes
/// after the header; nothing else is checked (see [`Message::decode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    header: Header,
    bytes: Vec<u8>,
}

/// Reads the header at the start of `bytes` (at least [`HEADER_LEN`] long).
fn parse_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let mut raw = [0u8; HEADER_LEN];
    raw.copy_from_slice(&bytes[..HEADER_LEN]);
    Header::parse(&raw)
}

/// Header plus a payload of `payload_len` bytes; `None` when that overflows `usize`.
fn frame_len(payload_len: u32) -> Option<usize> {
    usize::try_from(payload_len).ok()?.checked_add(HEADER_LEN)
}

impl Frame {
    /// The frame of exactly one message's bytes, with no bound on its payload beyond
    /// `u32::MAX`.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Frame, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Length {
                expected: HEADER_LEN,
                got: bytes.len(),
            });
        }
        let header = parse_header(&bytes)?;
        let expected = frame_len(header.payload_len).unwrap_or(usize::MAX);
        if bytes.len() != expected {
            return Err(DecodeError::Length {
                expected,
                got: bytes.len(),
            });
        }
        Ok(Frame { header, bytes })
    }

    /// The header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// The bytes of the whole message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The frame's bytes, header included.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The payload without the credential: the bytes after the header, less the last 20 when
    /// the frame is signed (all of them when a signed frame is too short to hold a credential).
    pub fn payload(&self) -> &[u8] {
        let body = &self.bytes[HEADER_LEN..];
        match self.credential() {
            Some(_) => &body[..body.len() - CREDENTIAL_LEN],
            None => body,
        }
    }

    /// The credential: the last 20 bytes of a signed frame, `None` when unsigned or too short.
    pub fn credential(&self) -> Option<&[u8]> {
        let body = &self.bytes[HEADER_LEN..];
        if self.is_signed() && body.len() >= CREDENTIAL_LEN {
            Some(&body[body.len() - CREDENTIAL_LEN..])
        } else {
            None
        }
    }

    /// Whether `F_Auth_Credential_Provided` is set.
    pub fn is_signed(&self) -> bool {
        self.header.flags.contains(Flags::AUTH_CREDENTIAL)
    }

    /// Whether the frame is signed with `key` (constant-time comparison). False for an
    /// unsigned frame.
    pub fn verify(&self, key: &Key) -> bool {
        match self.credential() {
            Some(credential) => {
                let signed = &self.bytes[..self.bytes.len() - CREDENTIAL_LEN];
                key.verify(signed, credential)
            }
            None => false,
        }
    }

    /// The message (see [`Message::decode`]).
    pub fn message(&self) -> Result<Message, DecodeError> {
        Message::decode(self)
    }
}

/// Cuts a byte stream into [`Frame`]s, with a bound on `payload_len`.
///
/// After an error the stream is out of frame: the caller closes the connection (the decoder
/// keeps returning the same error).
///
/// Frames are cut from a buffer read from an offset; the consumed front is dropped when the
/// buffer is emptied, or in one move when it is at least half of the buffer, so each byte is
/// copied a bounded number of times however the stream is split (one byte at a time or many
/// frames at once).
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already returned as frames.
    start: usize,
    max_payload: u32,
}

/// Below this many consumed bytes the front of the buffer is not moved.
const COMPACT_MIN: usize = 4096;

impl FrameDecoder {
    /// A decoder refusing payloads longer than `max_payload` bytes (see
    /// [`DEFAULT_MAX_PAYLOAD`](super::DEFAULT_MAX_PAYLOAD)).
    pub fn new(max_payload: u32) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max_payload,
        }
    }

    /// The bound on `payload_len`.
    pub fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Appends bytes received.
    pub fn push(&mut self, bytes: &[u8]) {
        let rest = self.buf.len() - self.start;
        if self.start > 0 && (rest == 0 || (self.start >= COMPACT_MIN && self.start >= rest)) {
            // Moving the `rest` bytes costs no more than the `start` bytes consumed since the
            // last move, so each byte is moved O(1) times on average; the dead front never
            // takes more room than the live rest (or COMPACT_MIN).
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed. A wrong protocol
    /// identifier is an error as soon as its two bytes are in, an over-long payload as soon
    /// as the header is.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        let avail = &self.buf[self.start..];
        if avail.len() >= 2 {
            let id = u16::from_be_bytes([avail[0], avail[1]]);
            if id != super::PROTOCOL_ID {
                return Err(DecodeError::BadProtocolId(id));
            }
        }
        if avail.len() < HEADER_LEN {
            return Ok(None);
        }
        let header = parse_header(avail)?;
        let too_long = DecodeError::PayloadTooLong {
            len: header.payload_len,
            max: self.max_payload,
        };
        if header.payload_len > self.max_payload {
            return Err(too_long);
        }
        let Some(len) = frame_len(header.payload_len) else {
            return Err(too_long);
        };
        if avail.len() < len {
            return Ok(None);
        }
        let bytes = avail[..len].to_vec();
        self.start += len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(Frame { header, bytes }))
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

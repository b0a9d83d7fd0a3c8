//! The NECP sessions as sans-IO state machines: fed with bytes and the time, drained of bytes
//! to send, actions, events and the next deadline. No socket, no clock, no task: a driver
//! (see the `driver` module with the `tokio` feature) moves the bytes and arms one timer.
//!
//! * [`agent::Agent`]: the SE side (feedbackd-agent). Connects, sends `NECP_INIT`, then
//!   `NECP_START` for its services, answers `NECP_KEEPALIVE` health queries from the values
//!   its monitors last gave, reconnects when the master goes silent, sends `NECP_STOP` on
//!   shutdown.
//! * [`master::Master`]: the NE side (feedbackd-master), one state machine for every agent
//!   connection: accepts, answers `NECP_INIT`, adds an agent's started services as reals with
//!   weight 0, polls their health, turns health into weights, quiesces and removes them.
//!
//! Authentication (draft §5.8, §5.9) is shared by both: with a [`Key`] every message is
//! signed, every received one is verified and its sequence number must grow.

pub mod agent;
pub mod master;

use crate::codec::{Flags, Frame, Key, Message, Payload};

/// The sequence-number and credential state of one connection (draft §5.8 and §5.9).
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    key: Key,
    /// The sequence number of the next message this side sends.
    send_next: u64,
    /// The sequence number the peer's next message must carry.
    recv_next: u64,
}

/// Why a received frame is not accepted on an authenticated connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No credential, or a wrong one: answered with `F_Auth_Required`.
    Credential,
    /// A sequence number other than the next one expected (a replay, or a recording of
    /// another connection): answered with `F_Bad_Sequence_Number`.
    Sequence,
}

impl AuthFailure {
    pub(crate) fn flag(self) -> Flags {
        match self {
            AuthFailure::Credential => Flags::AUTH_REQUIRED,
            AuthFailure::Sequence => Flags::BAD_SEQUENCE_NUMBER,
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            AuthFailure::Credential => "missing or wrong credential",
            AuthFailure::Sequence => "sequence number replayed or out of order",
        }
    }
}

impl Auth {
    pub(crate) fn new(key: Key, send_next: u64, recv_next: u64) -> Self {
        Auth {
            key,
            send_next,
            recv_next,
        }
    }

    /// Checks a received frame's credential and sequence number; on success the sequence
    /// number is consumed.
    ///
    /// The number must be exactly the next one: TCP delivers in order and each side counts
    /// up by one per message (draft §5.9), so anything else is a replay or a message of
    /// another connection. (The draft only asks to refuse numbers below the last valid one;
    /// that would let a recording of another connection through whenever its numbers happen
    /// to lie above this connection's start.)
    pub(crate) fn check(&mut self, frame: &Frame) -> Result<(), AuthFailure> {
        if !frame.verify(&self.key) {
            return Err(AuthFailure::Credential);
        }
        if frame.header().seq_num != self.recv_next {
            return Err(AuthFailure::Sequence);
        }
        self.recv_next = self.recv_next.wrapping_add(1);
        Ok(())
    }

    /// The sequence number the peer's next message must carry (what an INIT_ACK announces).
    pub(crate) fn expected(&self) -> u64 {
        self.recv_next
    }

    /// Signs `msg` with the next sequence number and appends it to `out`.
    pub(crate) fn send(&mut self, msg: Message, out: &mut Vec<u8>) {
        let msg = msg.with_seq(self.send_next);
        self.send_next = self.send_next.wrapping_add(1);
        msg.encode(Some(&self.key), out);
    }
}

/// Appends `msg` to `out`: signed and numbered when the connection is authenticated.
pub(crate) fn send(auth: Option<&mut Auth>, msg: Message, out: &mut Vec<u8>) {
    match auth {
        Some(a) => a.send(msg, out),
        None => msg.encode(None, out),
    }
}

/// Picks request ids: distinct among the outstanding ones since they count up through 65,536
/// values and a session never has more than a handful outstanding.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestIds {
    next: u16,
}

impl RequestIds {
    pub(crate) fn next(&mut self) -> u16 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        id
    }
}

/// The failure reply to a request (draft §5): its reply opcode and request id, `flags` (with
/// `F_Error`), and its units echoed; `None` when the opcode has no reply (an ACK, a NOOP, an
/// unknown opcode).
pub(crate) fn error_reply(msg: &Message, flags: Flags) -> Option<Message> {
    let reply = msg.opcode.reply()?;
    Some(
        Message {
            payload: msg.payload.clone(),
            ..Message::new(reply, msg.request_id, Vec::new())
        }
        .with_flags(Flags::ERROR | flags),
    )
}

/// The reply to a message of another version: `F_Error | F_Protocol_Version_Mismatch`, our
/// version, no payload; `None` when the opcode has no reply.
pub(crate) fn version_mismatch_reply(msg: &Message) -> Option<Message> {
    let reply = msg.opcode.reply()?;
    Some(
        Message {
            payload: Payload::Opaque(Vec::new()),
            ..Message::new(reply, msg.request_id, Vec::new())
        }
        .with_flags(Flags::ERROR | Flags::VERSION_MISMATCH),
    )
}

//! # lvs-necp
//!
//! The Network Element Control Protocol (draft-cerpa-necp) used by feedbackd between agents on
//! real servers and the master on the director.
//!
//! * [`codec`]: bytes <-> typed messages (header, flags, opcodes, units, HMAC-SHA1 credential).

#![forbid(unsafe_code)]

/// The TCP port on which a feedbackd master listens for NECP agents.
pub const NECP_PORT: u16 = 3262;

pub mod codec;
pub mod session;
#[cfg(feature = "tokio")]
pub mod driver;

//! # lvs-necp
//!
//! The Network Element Control Protocol (draft-cerpa-necp) used by feedbackd between agents on
//! real servers and the master on the director.
//!
//! * [`codec`]: bytes <-> typed messages (header, flags, opcodes, units, HMAC-SHA1 credential).
//! * [`session`]: the agent's and the master's state machines, sans-IO: fed with bytes and the
//!   time, drained of bytes, actions, events and the next deadline.
//! * `driver` (feature `tokio`, on by default): small tokio drivers for both sessions and the
//!   master's backends (memory, dry run, and with the `ipvs` feature the kernel's IPVS).
//! * `monitor` (feature `monitor`, on by default): the agent's health monitors (`constant`,
//!   `cpuload`, `exec`, `perl`) and the trait for a program's own.
//!
//! Without default features the crate is the codec and the sessions alone: no tokio, no I/O.

#![forbid(unsafe_code)]

/// The TCP port on which a feedbackd master listens for NECP agents.
pub const NECP_PORT: u16 = 3262;

pub mod codec;
#[cfg(feature = "tokio")]
pub mod driver;
#[cfg(feature = "monitor")]
pub mod monitor;
pub mod session;

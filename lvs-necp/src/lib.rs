//! # lvs-necp
//!
//! The Network Element Control Protocol (draft-cerpa-necp) used by feedbackd between agents on
//! real servers and the master on the director.
//!
//! This crate is a placeholder until the NECP issue lands: it will hold the sans-IO codec and the
//! agent and master session state machines. Today it only defines the well-known port.

#![forbid(unsafe_code)]

/// The TCP port on which a feedbackd master listens for NECP agents.
pub const NECP_PORT: u16 = 3262;

#[cfg(feature = "monitor")]
pub mod monitor;

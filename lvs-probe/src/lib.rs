//! # lvs-probe
//!
//! Health probing of LVS real servers: the `Prober` trait, the built-in probers (tcp, http,
//! https, dns, exec, no-test) and the engine that schedules them.
//!
//! This crate is a placeholder until the probe issue lands: today it only re-exports
//! [`lvs_core`], whose validated tester configuration the probers will consume.

#![forbid(unsafe_code)]

pub use lvs_core;

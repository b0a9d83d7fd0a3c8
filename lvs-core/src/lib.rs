//! # lvs-core
//!
//! The pure core of the LVS toolkit: what every daemon and every embedding controller speaks
//! about, with no I/O runtime.
//!
//! * [`model`]: virtual services, destinations, the wanted IPVS [`model::Table`] and the minimal
//!   [`model::diff`] between two tables;
//! * [`state`]: a real server's health hysteresis, operator state, weight override and the
//!   resulting effective weight and presence in IPVS;
//! * [`config`]: two-stage loaders (raw structs mirroring the file, then a validated config) for
//!   the surealived XML service file, `surealived.cfg` and the feedbackd master and agent files;
//! * [`formats`]: the surealived/ipvssync text files (`ipvsfull.cfg`, diff files, `offline.dump`,
//!   `override.dump`, `stats.dump`, `notify.dump`), read and written byte-compatibly;
//! * [`director`]: the surealived daemon's pure core (reals' states, what each change writes and runs);
//! * [`control`]: the surealived control port's requests, views and the handler a daemon
//!   implements;
//! * [`error`]: the located parse errors every loader returns.
//!
//! This crate opens no socket, reads no clock (time is an argument) and spawns nothing; the only
//! file access is [`fsutil`] and the `load`/`save` helpers built on it, which the pure `parse`
//! and `write` functions do not need. `cargo tree -p lvs-core -e normal` shows no tokio.

#![forbid(unsafe_code)]

pub mod config;
pub mod control;
pub mod director;
pub mod error;
pub mod formats;
pub mod fsutil;
pub mod model;
pub mod state;

pub use error::{Error, Location, ParseError, ParseErrorKind};

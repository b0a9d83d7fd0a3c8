//! # lvs-probe
//!
//! Health probing of LVS real servers: the [`Prober`] trait, a [`ProberRegistry`] by tester
//! name, and the built-in probers of surealived's tester kinds:
//!
//! | kind | prober | success |
//! |---|---|---|
//! | `tcp` | [`TcpProber`] | the connection (and TLS handshake with `SSL="1"`) completes |
//! | `http` | [`HttpProber`] | the status is in `retcode` (and the body passes `regex`/`digest`) |
//! | `dns` | [`DnsProber`] | a NOERROR reply to our ID and question with an answer |
//! | `exec` | [`ExecProber`] | the program exits with status 0 |
//! | `no-test` | [`NoTestProber`] | always |
//!
//! A probe takes a [`Target`] (the real's address, its test port, the tester kind, `SSL` and
//! the module attributes in force for this real, as validated by `lvs-core`) and a deadline
//! (a tokio [`Instant`](tokio::time::Instant)) that bounds the whole test. It returns an
//! [`Outcome`]: success or a [`Failure`] from a typed taxonomy, the [`Timings`] (connect, TLS,
//! first response, total), bytes sent and received, and on demand the conversation
//! ([`Transcript`]) for the communication dump.
//!
//! ```text
//!  lvs_core::config::xml::{Tester, Real} ──► Target ──► Prober::probe(&target, deadline)
//!                                                         │  net::Connector: TCP (SO_LINGER 0)
//!                                                         │  + TLS (rustls, sessions per real)
//!                                                         ▼
//!                                                      Outcome { result, timings, bytes, .. }
//! ```
//!
//! A program adds its own prober by registering it: its [`TesterSpec`] declares the attributes
//! of `<tester proto="name">`, which the service-file loader then validates (load the file with
//! [`ProberRegistry::testers`]). See `examples/custom_prober.rs`.
//!
//! What this crate does not do: decide weights or states (it feeds `lvs-core`'s state machine),
//! or touch IPVS. The [`engine`] schedules the tests of many reals, shares identical ones, and
//! turns results into transitions and statistics.
//!
//! [`TesterSpec`]: lvs_core::config::xml::TesterSpec

#![forbid(unsafe_code)]

pub use lvs_core;

pub mod dns;
pub mod engine;
pub mod exec;
pub mod http;
pub mod net;
mod notest;
mod outcome;
mod prober;
mod target;
mod tcp;
pub mod tls;

pub use dns::DnsProber;
pub use engine::{Engine, EngineConfig, Event, RealId};
pub use exec::ExecProber;
pub use http::{HttpLimits, HttpProber};
pub use notest::NoTestProber;
pub use outcome::{
    utc_stamp, BodyCheck, Captured, Chunk, ConnProblem, Direction, Failure, Outcome, Phase,
    Recorder, Timings, Transcript,
};
pub use prober::{Prober, ProberRegistry};
pub use target::Target;
pub use tcp::TcpProber;

//! # lvs-ipvs
//!
//! A client for the Linux kernel's IPVS generic-netlink family: list, get, add, edit and delete
//! virtual services and their destinations, read 64-bit statistics, get and set connection
//! timeouts, start, stop and list sync daemons, zero counters, flush, read the version — and
//! apply a whole wanted [`Table`] with the fewest requests.
//!
//! ```no_run
//! use lvs_core::model::{Forwarding, Destination, Scheduler, Service, ServiceKey, Protocol};
//! # fn main() -> Result<(), lvs_ipvs::Error> {
//! let mut ipvs = lvs_ipvs::Client::new()?; // fails loudly: "IPVS not available: modprobe ip_vs"
//! let key = ServiceKey::Inet { protocol: Protocol::Tcp, addr: "10.0.0.1".parse().unwrap(), port: 80 };
//! ipvs.add_service(&Service::new(key, Scheduler::new("wlc").unwrap()))?;
//! let real = Destination::new("10.0.1.1".parse().unwrap(), 80, 10, Forwarding::DirectRoute);
//! ipvs.add_destination(&key, &real)?;
//! for s in ipvs.services()? {
//!     println!("{} {} conns", s.service.key, s.stats.conns);
//! }
//! # Ok(()) }
//! ```
//!
//! ## Layers
//!
//! ```text
//!  Client (blocking, netlink-sys Socket)      AsyncClient (tokio, netlink-sys TokioSocket)
//!          │   move bytes: send one buffer, receive datagrams (grown to fit), time out
//!          ▼
//!  apply::Plan   read the table (1 service dump + 1 destination dump per service that matters),
//!          │     diff with lvs_core::model::diff, batches of requests
//!          ▼
//!  engine        serialise a batch (NLM_F_ACK on each change, NLM_F_DUMP on dumps), match every
//!          │     answer by sequence number, collect multi-part dumps until NLMSG_DONE
//!          ▼
//!  convert       lvs-core Service / Destination  <->  attribute lists
//!          ▼
//!  wire          the IPVS family: commands and attributes (netlink-packet-core Nla/Parseable,
//!                netlink-packet-generic GenlFamily), no I/O
//! ```
//!
//! The public API speaks `lvs-core`'s model ([`Service`](lvs_core::model::Service),
//! [`Destination`](lvs_core::model::Destination), [`ServiceKey`](lvs_core::model::ServiceKey),
//! [`Table`]) and this crate's own [`Stats`], [`Info`], [`Timeouts`] and [`SyncDaemon`]; the
//! netlink crates stay private dependencies (only the [`wire`] module implements their traits).
//!
//! ## What it does not do
//!
//! It does not decide what the table should be (that is the daemons' job, through `lvs-core`),
//! and it does not read `/proc/net/ip_vs`. The kernel reports a few things the model cannot hold
//! (a forwarding method of 4 "bypass", a protocol other than TCP/UDP/SCTP, a persistence engine
//! on a non-persistent service); reading such a service is a [`Error::Decode`], not a guess.
//!
//! Every socket belongs to the network namespace it was created in, and IPVS needs
//! `CAP_NET_ADMIN` in the initial user namespace ([`Reason::PermissionDenied`] otherwise).

#![forbid(unsafe_code)]

mod apply;
#[cfg(feature = "tokio")]
mod asynchronous;
mod blocking;
mod calls;
mod convert;
mod engine;
mod error;
pub mod save;
mod types;
pub mod wire;

use std::time::Duration;

pub use apply::{ApplyReport, OpResult};
#[cfg(feature = "tokio")]
pub use asynchronous::AsyncClient;
pub use blocking::{Client, Tap};
pub use error::{Error, Object, Op, Reason};
pub use lvs_core::model::{Operation, Table, UnmanagedPolicy};
pub use types::{DaemonState, DestinationStatus, Info, ServiceStatus, Stats, SyncDaemon, Timeouts};

/// Counts of what a client sent, for tests and metrics ("a weight change costs one request").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Netlink requests sent (each message of a batch counts).
    pub requests: u64,
    /// Of those, dump requests.
    pub dumps: u64,
    /// Send system calls (one per batch).
    pub sends: u64,
}

impl Counters {
    /// Requests that were not dumps: the changes and single gets.
    pub fn non_dump_requests(&self) -> u64 {
        self.requests - self.dumps
    }
}

/// Client settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How long to wait for each answer datagram.
    pub recv_timeout: Duration,
    /// Requests per send when applying or executing many operations.
    pub batch_size: usize,
    /// Socket receive buffer to ask for (forced when the process has CAP_NET_ADMIN), so that a
    /// batch's answers fit in the receive queue.
    pub recv_buffer: usize,
}

impl Default for Options {
    /// 10 s, 256 requests per send, 4 MiB.
    fn default() -> Self {
        Self {
            recv_timeout: blocking::DEFAULT_TIMEOUT,
            batch_size: 256,
            recv_buffer: 4 << 20,
        }
    }
}

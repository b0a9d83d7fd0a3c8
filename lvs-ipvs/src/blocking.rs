//! The blocking client on a netlink-sys [`Socket`].

use std::io;
use std::time::Duration;

use lvs_core::model::{
    DestKey, Destination, Operation, Service, ServiceKey, Table, UnmanagedPolicy,
};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

use crate::apply::{ApplyReport, OpResult, Plan};
use crate::calls::{self, Call};
use crate::engine::{Core, Exchange, Reply, Request};
use crate::error::{Error, Op};
use crate::types::{DaemonState, DestinationStatus, Info, ServiceStatus, SyncDaemon, Timeouts};
use crate::{Counters, Options};

/// A callback that sees every received datagram.
pub type Tap = Box<dyn FnMut(&[u8]) + Send>;

/// A blocking IPVS client: one netlink socket, in the network namespace of the thread that
/// created it.
///
/// Every change request carries `NLM_F_ACK` and waits for its answer; dumps are read until
/// `NLMSG_DONE`. Receives time out after [`Options::recv_timeout`].
pub struct Client {
    sock: Socket,
    core: Core,
    opts: Options,
    buf: Vec<u8>,
    tap: Option<Tap>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("family", &self.core.family)
            .field("counters", &self.core.counters)
            .finish_non_exhaustive()
    }
}

pub(crate) fn setup_socket(sock: &mut Socket, opts: &Options) -> io::Result<()> {
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    // Error answers without a copy of the request: a batch's answers stay small.
    let _ = sock.set_cap_ack(true);
    // A large receive queue so that a batch's answers cannot overflow it; forcing needs
    // CAP_NET_ADMIN, which IPVS needs anyway; without it, the ordinary limit applies.
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&*sock, opts.recv_buffer).is_err() {
        let _ = sock.set_rx_buf_sz(i32::try_from(opts.recv_buffer).unwrap_or(i32::MAX));
    }
    Ok(())
}

fn seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1)
}

impl Client {
    /// Opens a socket and resolves the "IPVS" family, with default [`Options`].
    pub fn new() -> Result<Self, Error> {
        Self::with_options(Options::default())
    }

    /// Opens a socket and resolves the "IPVS" family. Fails with [`Error::NotAvailable`] when
    /// the kernel has no IPVS (the lookup itself makes the kernel try `modprobe ip_vs`).
    pub fn with_options(opts: Options) -> Result<Self, Error> {
        let io = |source| Error::Io {
            op: Op::Connect,
            source,
        };
        let mut sock = Socket::new(NETLINK_GENERIC).map_err(io)?;
        setup_socket(&mut sock, &opts).map_err(io)?;
        rustix::net::sockopt::set_socket_timeout(
            &sock,
            rustix::net::sockopt::Timeout::Recv,
            Some(opts.recv_timeout),
        )
        .map_err(|e| io(e.into()))?;
        let mut client = Self {
            sock,
            core: Core::new(seed()),
            opts,
            buf: Vec::with_capacity(64 * 1024),
            tap: None,
        };
        client.core.family = client.call(calls::resolve_family())?;
        Ok(client)
    }

    /// The generic-netlink family id the kernel gave "IPVS".
    pub fn family_id(&self) -> u16 {
        self.core.family
    }

    /// Requests, dumps and sends so far.
    pub fn counters(&self) -> Counters {
        self.core.counters
    }

    /// Calls `tap` with every datagram received (for captures and debugging).
    pub fn set_tap(&mut self, tap: Option<Tap>) {
        self.tap = tap;
    }

    /// Receives one datagram into `self.buf`, growing the buffer to the datagram's size first
    /// (peek with `MSG_TRUNC`), so nothing is ever truncated.
    fn recv(&mut self, flags: libc::c_int) -> io::Result<()> {
        loop {
            self.buf.clear();
            let n = self
                .sock
                .recv(&mut self.buf, flags | libc::MSG_PEEK | libc::MSG_TRUNC)?;
            if n <= self.buf.capacity() {
                break;
            }
            self.buf.reserve(n);
        }
        self.buf.clear();
        self.sock.recv(&mut self.buf, flags)?;
        if let Some(tap) = &mut self.tap {
            tap(&self.buf);
        }
        Ok(())
    }

    fn run(&mut self, mut ex: Exchange) -> Result<Vec<Reply>, Error> {
        let op = ex.op();
        self.sock
            .send(ex.bytes(), 0)
            .map_err(|source| Error::Io { op, source })?;
        while !ex.is_complete() {
            match self.recv(0) {
                Ok(()) => ex
                    .feed(&self.buf)
                    .map_err(|reason| Error::Decode { op, reason })?,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Answers were dropped: read what is queued, the rest is lost.
                    while self.recv(libc::MSG_DONTWAIT).is_ok() {
                        ex.feed(&self.buf)
                            .map_err(|reason| Error::Decode { op, reason })?;
                    }
                    break;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Error::Timeout {
                        op,
                        after: self.opts.recv_timeout,
                    })
                }
                Err(source) => return Err(Error::Io { op, source }),
            }
        }
        Ok(ex.finish())
    }

    fn exchange(&mut self, requests: Vec<Request>) -> Result<Vec<Reply>, Error> {
        let ex = self.core.exchange(requests);
        self.run(ex)
    }

    fn call<T>(&mut self, call: Call<T>) -> Result<T, Error> {
        let replies = self.exchange(call.requests)?;
        (call.decode)(replies)
    }

    fn drive(&mut self, plan: &mut Plan) -> Result<(), Error> {
        let before = self.core.counters;
        while let Some(reqs) = plan.next() {
            let outcome = self.exchange(reqs);
            plan.complete(outcome)?;
        }
        plan.report.count_since(before, self.core.counters);
        Ok(())
    }

    /// Every service with its counters.
    pub fn services(&mut self) -> Result<Vec<ServiceStatus>, Error> {
        self.call(calls::list_services())
    }

    /// One service ([`crate::Reason::NoSuchService`] if absent).
    pub fn service(&mut self, key: &ServiceKey) -> Result<ServiceStatus, Error> {
        self.call(calls::get_service(key))
    }

    /// The destinations of a service ([`crate::Reason::NoSuchService`] if absent).
    pub fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<DestinationStatus>, Error> {
        self.call(calls::list_destinations(key))
    }

    /// The whole table: services and their destinations.
    pub fn table(&mut self) -> Result<Table, Error> {
        let mut plan = Plan::read();
        self.drive(&mut plan)?;
        Ok(plan.into_table())
    }

    /// Adds a service.
    pub fn add_service(&mut self, service: &Service) -> Result<(), Error> {
        self.call(calls::change(&Operation::AddService(service.clone()))?)
    }

    /// Changes a service's scheduling parameters.
    pub fn edit_service(&mut self, service: &Service) -> Result<(), Error> {
        self.call(calls::change(&Operation::EditService(service.clone()))?)
    }

    /// Deletes a service and its destinations.
    pub fn delete_service(&mut self, key: &ServiceKey) -> Result<(), Error> {
        self.call(calls::change(&Operation::DeleteService(*key))?)
    }

    /// Adds a destination to a service.
    pub fn add_destination(
        &mut self,
        service: &ServiceKey,
        dest: &Destination,
    ) -> Result<(), Error> {
        self.call(calls::change(&Operation::AddDestination {
            service: *service,
            dest: *dest,
        })?)
    }

    /// Changes a destination's weight, thresholds or forwarding.
    pub fn edit_destination(
        &mut self,
        service: &ServiceKey,
        dest: &Destination,
    ) -> Result<(), Error> {
        self.call(calls::change(&Operation::EditDestination {
            service: *service,
            dest: *dest,
        })?)
    }

    /// Deletes a destination.
    pub fn delete_destination(
        &mut self,
        service: &ServiceKey,
        dest: &DestKey,
    ) -> Result<(), Error> {
        self.call(calls::delete_destination(service, dest)?)
    }

    /// The connection timeouts.
    pub fn timeouts(&mut self) -> Result<Timeouts, Error> {
        self.call(calls::get_timeouts())
    }

    /// Sets the connection timeouts (0 leaves a value unchanged).
    pub fn set_timeouts(&mut self, t: &Timeouts) -> Result<(), Error> {
        self.call(calls::set_timeouts(t))
    }

    /// The running sync daemons.
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>, Error> {
        self.call(calls::list_daemons())
    }

    /// Starts a sync daemon.
    pub fn start_daemon(&mut self, d: &SyncDaemon) -> Result<(), Error> {
        self.call(calls::start_daemon(d)?)
    }

    /// Stops the sync daemon of a role.
    pub fn stop_daemon(&mut self, state: DaemonState) -> Result<(), Error> {
        self.call(calls::stop_daemon(state))
    }

    /// Zeroes the counters of every service.
    pub fn zero_all(&mut self) -> Result<(), Error> {
        self.call(calls::zero(None))
    }

    /// Zeroes the counters of one service.
    pub fn zero_service(&mut self, key: &ServiceKey) -> Result<(), Error> {
        self.call(calls::zero(Some(key)))
    }

    /// Deletes every service.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.call(calls::flush())
    }

    /// Version and connection table size.
    pub fn info(&mut self) -> Result<Info, Error> {
        self.call(calls::info())
    }

    /// Sends `ops` in batches of [`Options::batch_size`] requests per send, and returns each
    /// one's result; a failure does not stop the others.
    pub fn execute(&mut self, ops: &[Operation]) -> Vec<OpResult> {
        let mut plan = Plan::execute(ops, self.opts.batch_size);
        // An execute plan has no read step, so `drive` cannot fail.
        let _ = self.drive(&mut plan);
        plan.report.results
    }

    /// Makes the kernel hold `wanted`: reads the kernel once, computes
    /// [`lvs_core::model::diff`] under `policy`, sends the operations batched and reports each
    /// one's result. Fails only if the kernel's table cannot be read.
    pub fn apply(&mut self, wanted: &Table, policy: UnmanagedPolicy) -> Result<ApplyReport, Error> {
        let mut plan = Plan::apply(wanted, policy, self.opts.batch_size);
        self.drive(&mut plan)?;
        Ok(plan.report)
    }
}

/// The receive timeout default.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

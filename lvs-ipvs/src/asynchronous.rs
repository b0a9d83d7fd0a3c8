//! The tokio client on a netlink-sys `TokioSocket`. Same operations and semantics as the
//! blocking [`crate::Client`]; `&mut self` keeps one exchange in flight per client (open one
//! client per concurrent task).

use std::io;

use lvs_core::model::{
    DestKey, Destination, Operation, Service, ServiceKey, Table, UnmanagedPolicy,
};
use netlink_sys::{protocols::NETLINK_GENERIC, AsyncSocket, AsyncSocketExt, TokioSocket};

use crate::apply::{ApplyReport, OpResult, Plan};
use crate::calls::{self, Call};
use crate::engine::{Core, Exchange, Reply, Request};
use crate::error::{Error, Op};
use crate::types::{DaemonState, DestinationStatus, Info, ServiceStatus, SyncDaemon, Timeouts};
use crate::{Counters, Options};

/// An async IPVS client for tokio.
pub struct AsyncClient {
    sock: TokioSocket,
    core: Core,
    opts: Options,
}

impl std::fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncClient")
            .field("family", &self.core.family)
            .field("counters", &self.core.counters)
            .finish_non_exhaustive()
    }
}

impl AsyncClient {
    /// Opens a socket and resolves the "IPVS" family, with default [`Options`].
    pub async fn new() -> Result<Self, Error> {
        Self::with_options(Options::default()).await
    }

    /// Opens a socket and resolves the "IPVS" family ([`Error::NotAvailable`] without IPVS).
    pub async fn with_options(opts: Options) -> Result<Self, Error> {
        let io = |source| Error::Io {
            op: Op::Connect,
            source,
        };
        let mut sock = TokioSocket::new(NETLINK_GENERIC).map_err(io)?;
        crate::blocking::setup_socket(sock.socket_mut(), &opts).map_err(io)?;
        let mut client = Self {
            sock,
            core: Core::new(std::process::id().wrapping_mul(2654435761)),
            opts,
        };
        client.core.family = client.call(calls::resolve_family()).await?;
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

    async fn run(&mut self, mut ex: Exchange) -> Result<Vec<Reply>, Error> {
        let op = ex.op();
        self.sock
            .send(ex.bytes())
            .await
            .map_err(|source| Error::Io { op, source })?;
        while !ex.is_complete() {
            let got = tokio::time::timeout(self.opts.recv_timeout, self.sock.recv_from_full())
                .await
                .map_err(|_| Error::Timeout {
                    op,
                    after: self.opts.recv_timeout,
                })?;
            match got {
                Ok((data, _)) => ex
                    .feed(&data)
                    .map_err(|reason| Error::Decode { op, reason })?,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Answers were dropped: read what is queued (the socket is non-blocking),
                    // the rest is lost.
                    while let Ok((data, _)) = self.sock.socket_ref().recv_from_full() {
                        ex.feed(&data)
                            .map_err(|reason| Error::Decode { op, reason })?;
                    }
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(source) => return Err(Error::Io { op, source }),
            }
        }
        Ok(ex.finish())
    }

    async fn exchange(&mut self, requests: Vec<Request>) -> Result<Vec<Reply>, Error> {
        let ex = self.core.exchange(requests);
        self.run(ex).await
    }

    async fn call<T>(&mut self, call: Call<T>) -> Result<T, Error> {
        let replies = self.exchange(call.requests).await?;
        (call.decode)(replies)
    }

    async fn drive(&mut self, plan: &mut Plan) -> Result<(), Error> {
        let before = self.core.counters;
        while let Some(reqs) = plan.next() {
            let outcome = self.exchange(reqs).await;
            plan.complete(outcome)?;
        }
        plan.report.count_since(before, self.core.counters);
        Ok(())
    }

    /// Every service with its counters.
    pub async fn services(&mut self) -> Result<Vec<ServiceStatus>, Error> {
        self.call(calls::list_services()).await
    }

    /// One service.
    pub async fn service(&mut self, key: &ServiceKey) -> Result<ServiceStatus, Error> {
        self.call(calls::get_service(key)).await
    }

    /// The destinations of a service.
    pub async fn destinations(
        &mut self,
        key: &ServiceKey,
    ) -> Result<Vec<DestinationStatus>, Error> {
        self.call(calls::list_destinations(key)).await
    }

    /// The whole table.
    pub async fn table(&mut self) -> Result<Table, Error> {
        let mut plan = Plan::read();
        self.drive(&mut plan).await?;
        Ok(plan.into_table())
    }

    /// Adds a service.
    pub async fn add_service(&mut self, service: &Service) -> Result<(), Error> {
        self.call(calls::change(&Operation::AddService(service.clone()))?)
            .await
    }

    /// Changes a service's scheduling parameters.
    pub async fn edit_service(&mut self, service: &Service) -> Result<(), Error> {
        self.call(calls::change(&Operation::EditService(service.clone()))?)
            .await
    }

    /// Deletes a service and its destinations.
    pub async fn delete_service(&mut self, key: &ServiceKey) -> Result<(), Error> {
        self.call(calls::change(&Operation::DeleteService(*key))?)
            .await
    }

    /// Adds a destination.
    pub async fn add_destination(
        &mut self,
        service: &ServiceKey,
        dest: &Destination,
    ) -> Result<(), Error> {
        self.call(calls::change(&Operation::AddDestination {
            service: *service,
            dest: *dest,
        })?)
        .await
    }

    /// Changes a destination.
    pub async fn edit_destination(
        &mut self,
        service: &ServiceKey,
        dest: &Destination,
    ) -> Result<(), Error> {
        self.call(calls::change(&Operation::EditDestination {
            service: *service,
            dest: *dest,
        })?)
        .await
    }

    /// Deletes a destination.
    pub async fn delete_destination(
        &mut self,
        service: &ServiceKey,
        dest: &DestKey,
    ) -> Result<(), Error> {
        self.call(calls::delete_destination(service, dest)?).await
    }

    /// The connection timeouts.
    pub async fn timeouts(&mut self) -> Result<Timeouts, Error> {
        self.call(calls::get_timeouts()).await
    }

    /// Sets the connection timeouts (0 leaves a value unchanged).
    pub async fn set_timeouts(&mut self, t: &Timeouts) -> Result<(), Error> {
        self.call(calls::set_timeouts(t)).await
    }

    /// The running sync daemons.
    pub async fn daemons(&mut self) -> Result<Vec<SyncDaemon>, Error> {
        self.call(calls::list_daemons()).await
    }

    /// Starts a sync daemon.
    pub async fn start_daemon(&mut self, d: &SyncDaemon) -> Result<(), Error> {
        self.call(calls::start_daemon(d)?).await
    }

    /// Stops the sync daemon of a role.
    pub async fn stop_daemon(&mut self, state: DaemonState) -> Result<(), Error> {
        self.call(calls::stop_daemon(state)).await
    }

    /// Zeroes every service's counters.
    pub async fn zero_all(&mut self) -> Result<(), Error> {
        self.call(calls::zero(None)).await
    }

    /// Zeroes one service's counters.
    pub async fn zero_service(&mut self, key: &ServiceKey) -> Result<(), Error> {
        self.call(calls::zero(Some(key))).await
    }

    /// Deletes every service.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.call(calls::flush()).await
    }

    /// Version and connection table size.
    pub async fn info(&mut self) -> Result<Info, Error> {
        self.call(calls::info()).await
    }

    /// Sends `ops` batched and returns each one's result.
    pub async fn execute(&mut self, ops: &[Operation]) -> Vec<OpResult> {
        let mut plan = Plan::execute(ops, self.opts.batch_size);
        let _ = self.drive(&mut plan).await;
        plan.report.results
    }

    /// Makes the kernel hold `wanted` (see [`crate::Client::apply`]).
    pub async fn apply(
        &mut self,
        wanted: &Table,
        policy: UnmanagedPolicy,
    ) -> Result<ApplyReport, Error> {
        let mut plan = Plan::apply(wanted, policy, self.opts.batch_size);
        self.drive(&mut plan).await?;
        Ok(plan.report)
    }
}

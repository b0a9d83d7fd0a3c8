//! The surealived control port (default `127.0.0.1:1337`): its requests, the views a daemon
//! answers them from, and the [`ControlHandler`] a daemon implements.
//!
//! The original's grammar (`reference/surealived-formats.md` §3.8): one command per line,
//! `vlist`, `rlist`, `rset`, `stats` or `connstats`, then `key=value` words (`vproto`, `vaddr`,
//! `vport`, `vfwmark`, `raddr`, `rport`, `rstate`, `rweight`). This module is sans-IO: the
//! network server lives in the daemon (`lvs-cli`), which calls [`ControlHandler`] for the data
//! and this module's functions to parse requests and render replies.

use std::net::IpAddr;

use crate::formats::dumps::{Problems, Times};
use crate::formats::ipvsfull::{Rt, VProto};
use crate::model::{DestKey, ServiceKey};
use crate::state::{AdminState, WeightOverride};

/// Which virtual a command names: the original's `vproto`, `vaddr` (default `0.0.0.0`), `vport`
/// (default 0) and `vfwmark` (default 0). The first virtual that has a fwmark equal to a
/// non-zero `fwmark`, or has no fwmark and matches `addr`, `port` and `proto`, is the one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VirtualSelector {
    /// `vproto`: required by `rlist` and `rset`.
    pub proto: VProto,
    /// `vaddr`.
    pub addr: IpAddr,
    /// `vport`.
    pub port: u16,
    /// `vfwmark`, 0 = none.
    pub fwmark: u32,
}

/// What a control-port line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `vlist`: every virtual.
    Vlist,
    /// `rlist`: one virtual and its reals.
    Rlist(VirtualSelector),
    /// `rset`: change a real's operator state and/or weight override.
    Rset {
        /// The virtual.
        virtual_sel: VirtualSelector,
        /// The real (`raddr`, `rport`).
        real: DestKey,
        /// `rstate`, if given.
        rstate: Option<AdminState>,
        /// `rweight`, if given.
        rweight: Option<WeightOverride>,
    },
    /// `stats`: global counters.
    Stats,
    /// `connstats`: per virtual and real timing statistics.
    Connstats,
}

/// One virtual as the control port shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualView {
    /// Its identity (what [`ControlHandler::rset`] is given back).
    pub key: ServiceKey,
    /// `vname`.
    pub name: String,
    /// `vproto`.
    pub proto: VProto,
    /// `vaddr` (`0.0.0.0` for a fwmark virtual).
    pub addr: IpAddr,
    /// `vport`.
    pub port: u16,
    /// `vfwmark`, 0 = none.
    pub fwmark: u32,
    /// `vrt`.
    pub rt: Rt,
    /// `vsched`.
    pub sched: String,
}

/// One real of a virtual as the control port shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealView {
    /// Its identity (`raddr`, `rport`).
    pub key: DestKey,
    /// `rname`.
    pub name: String,
    /// `currwgt`: the effective weight now (0 when not up).
    pub current_weight: u32,
    /// `confwgt`: the weight in the service file.
    pub conf_weight: u32,
    /// `ronline`: whether its tests pass.
    pub online: bool,
    /// `rstate`: the operator's state.
    pub rstate: AdminState,
    /// The operator's weight override, if any.
    pub weight_override: Option<WeightOverride>,
    /// Whether it is in the wanted IPVS table now.
    pub in_ipvs: bool,
}

/// A virtual and its reals, in service-file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualListing {
    /// The virtual.
    pub virtual_view: VirtualView,
    /// Its reals.
    pub reals: Vec<RealView>,
}

/// What an accepted `rset` set: the original's `Set: rstate=<S>, weight=<w>, inpercent=<B>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsetReply {
    /// The real's operator state after the command.
    pub rstate: AdminState,
    /// The override's value (the configured weight when there is none).
    pub weight: u32,
    /// Whether that value is a percentage.
    pub in_percent: bool,
}

/// The test counters of `stats` (`=== tests stats ===`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestCounters {
    /// `t_success`.
    pub success: u64,
    /// `t_failed`.
    pub failed: u64,
    /// `t_online_set`.
    pub online_set: u64,
    /// `t_offline_set`.
    pub offline_set: u64,
    /// `t_conn_problem`.
    pub conn_problem: u64,
    /// `t_arp_problem`.
    pub arp_problem: u64,
    /// `t_rst_problem`.
    pub rst_problem: u64,
    /// `t_bytes_rcvd`.
    pub bytes_received: u64,
    /// `t_bytes_sent`.
    pub bytes_sent: u64,
}

/// What the daemon knows for `stats` (the server adds the process's resource and memory usage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsView {
    /// `watchdog_pid` (`None` = -1: no watchdog).
    pub watchdog_pid: Option<u32>,
    /// `tester_pid`.
    pub tester_pid: u32,
    /// `virtuals`.
    pub virtuals: usize,
    /// `reals` (pairs of a virtual and a real).
    pub reals: usize,
    /// `ronline`: reals whose operator state is ONLINE.
    pub rstate_online: usize,
    /// `roffline`: OFFLINE.
    pub rstate_offline: usize,
    /// `rdown`: DOWN.
    pub rstate_down: usize,
    /// `offline_size`: entries of `offline.dump` (reals whose tests fail).
    pub offline_size: usize,
    /// `override_size`: entries of `override.dump`.
    pub override_size: usize,
    /// `success`: reals whose tests pass now.
    pub success: usize,
    /// `failed`: reals whose tests fail now.
    pub failed: usize,
    /// The test counters.
    pub tests: TestCounters,
}

/// One real's timing statistics for `connstats` (times in µs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RealConnStats {
    /// Tests recorded.
    pub total: u64,
    /// Connection problems.
    pub problems: Problems,
    /// The last test's times.
    pub last_us: Times<i64>,
    /// Average over the last `stats_samples` tests.
    pub sample_avg_us: Times<i64>,
    /// Lifetime average.
    pub lifetime_avg_us: Times<i64>,
}

/// One virtual's timing statistics for `connstats`; `reals` parallels the listing's reals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualConnStats {
    /// The virtual and its reals.
    pub listing: VirtualListing,
    /// The tester's `stats_samples`.
    pub samples: u32,
    /// Tests recorded over its reals.
    pub total: u64,
    /// Mean of the reals' sample averages.
    pub sample_avg_us: Times<i64>,
    /// Connection problems over its reals.
    pub problems: Problems,
    /// The reals' statistics, in the listing's order.
    pub reals: Vec<RealConnStats>,
}

/// What a daemon gives the control port. Every method is called from the server's task and
/// must not block for long (take a lock, copy, release).
pub trait ControlHandler: Send + Sync {
    /// Every virtual with its reals, in service-file order.
    fn listing(&self) -> Vec<VirtualListing>;

    /// Applies `rset` to the real `real` of the virtual `virtual_key` (both as a listing showed
    /// them): at least one of `rstate` and `rweight` is `Some`. The daemon updates the real,
    /// rewrites `override.dump` and emits the change (diff record or kernel update). `Err` is a
    /// one-line reason (the real or virtual is gone, the file could not be written).
    fn rset(
        &self,
        virtual_key: &ServiceKey,
        real: &DestKey,
        rstate: Option<AdminState>,
        rweight: Option<WeightOverride>,
    ) -> Result<RsetReply, String>;

    /// The counters of `stats`.
    fn stats(&self) -> StatsView;

    /// The statistics of `connstats`, or `None` when `gather_stats` is off.
    fn connstats(&self) -> Option<Vec<VirtualConnStats>>;
}

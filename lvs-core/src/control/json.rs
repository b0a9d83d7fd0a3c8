//! The JSON form of the listing commands (`vlist`, `rlist`, `stats`, `connstats`), asked for
//! with a bare `json` word or `format=json`.
//!
//! The reply is one line holding one JSON object, then the `_SD_CMD_END_` line, so a client
//! reads it the same way as a text reply. The types here are both the server's output and what a
//! client deserialises:
//!
//! ```
//! use lvs_core::control::json::Vlist;
//!
//! let v: Vlist = serde_json::from_str(r#"{"virtuals":[{"index":0,"name":"www",
//!     "proto":"tcp","addr":"10.0.0.1","port":80,"fwmark":0,"rt":"dr","sched":"wrr"}]}"#)
//!     .unwrap();
//! assert_eq!(v.virtuals[0].name, "www");
//! ```
//!
//! Addresses are strings (`"10.0.0.1"`, `"2001:db8::1"`), times are integers in µs, the
//! operator's state is `ONLINE`/`OFFLINE`/`DOWN` and a weight override is the control port's
//! spelling (`"7"` or `"50%"`), or `null` when there is none.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{ProcessUsage, RealView, StatsView, VirtualConnStats, VirtualListing, VirtualView};
use crate::formats::dumps;

/// A virtual (`vlist`'s line, `rlist`'s first line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Virtual {
    /// Its position in the service file (the `v:<i>` of the text form).
    pub index: usize,
    /// `vname`.
    pub name: String,
    /// `vproto`: `tcp`, `udp` or `fwmark`.
    pub proto: String,
    /// `vaddr`.
    pub addr: IpAddr,
    /// `vport`.
    pub port: u16,
    /// `vfwmark`, 0 = none.
    pub fwmark: u32,
    /// `vrt`: `dr`, `masq` or `tun`.
    pub rt: String,
    /// `vsched`.
    pub sched: String,
}

/// A real of a virtual (`rlist`'s `r:<j>` lines), with what the text form leaves out: the
/// weight override and whether the real is in the wanted IPVS table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Real {
    /// Its position in the virtual (the `r:<j>` of the text form).
    pub index: usize,
    /// `rname`.
    pub name: String,
    /// `raddr`.
    pub addr: IpAddr,
    /// `rport`.
    pub port: u16,
    /// `currwgt`.
    pub current_weight: u32,
    /// `confwgt`.
    pub conf_weight: u32,
    /// `ronline`.
    pub online: bool,
    /// `rstate`.
    pub rstate: String,
    /// The weight override (`"7"`, `"50%"`), if any.
    pub weight_override: Option<String>,
    /// Whether it is in the wanted IPVS table.
    pub in_ipvs: bool,
}

/// The `vlist` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vlist {
    /// Every virtual, in service-file order.
    pub virtuals: Vec<Virtual>,
}

/// The `rlist` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlist {
    /// The virtual.
    #[serde(rename = "virtual")]
    pub virtual_: Virtual,
    /// Its reals (empty: the text form's `EMPTY LIST`).
    pub reals: Vec<Real>,
}

/// The `=== tests stats ===` counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tests {
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

/// The `=== resource usage ===` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// `user_time`, in µs.
    pub user_time_us: u64,
    /// `system_time`, in µs.
    pub system_time_us: u64,
    /// `block_in_ops`.
    pub block_in_ops: i64,
    /// `block_out_ops`.
    pub block_out_ops: i64,
    /// `messages_sent`.
    pub messages_sent: i64,
    /// `messages_rcvd`.
    pub messages_rcvd: i64,
    /// `signals_rcvd`.
    pub signals_rcvd: i64,
    /// `voluntary_ctx`.
    pub voluntary_ctx: i64,
    /// `involunt_ctx`.
    pub involunt_ctx: i64,
    /// `fd_used`.
    pub fd_used: u64,
}

/// One `Vm*` line of the `=== memory usage ===` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// The name after `Vm` (`RSS`).
    pub name: String,
    /// The number.
    pub value: i64,
    /// The unit (`kB`).
    pub unit: String,
}

/// The `stats` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// `watchdog_pid` (`null`: no watchdog; the text form's -1).
    pub watchdog_pid: Option<u32>,
    /// `tester_pid`.
    pub tester_pid: u32,
    /// `virtuals`.
    pub virtuals: usize,
    /// `reals`.
    pub reals: usize,
    /// `ronline`.
    pub rstate_online: usize,
    /// `roffline`.
    pub rstate_offline: usize,
    /// `rdown`.
    pub rstate_down: usize,
    /// `offline_size`.
    pub offline_size: usize,
    /// `override_size`.
    pub override_size: usize,
    /// `success`.
    pub success: usize,
    /// `failed`.
    pub failed: usize,
    /// The test counters.
    pub tests: Tests,
    /// The process's resource usage.
    pub resources: Resources,
    /// The process's `Vm*` lines.
    pub memory: Vec<Memory>,
}

/// Connect, response and total times, in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Times {
    /// Connect time.
    pub conn: i64,
    /// Response time.
    pub resp: i64,
    /// Total time.
    pub total: i64,
}

/// Connection problems by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problems {
    /// `connprob`.
    pub conn: i32,
    /// `arpprob`.
    pub arp: i32,
    /// `rstprob`.
    pub rst: i32,
}

/// One real's timing statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealStats {
    /// The real.
    pub real: Real,
    /// Tests recorded.
    pub total: u64,
    /// Connection problems.
    pub problems: Problems,
    /// The last test's times.
    pub last_us: Times,
    /// The average over the last `samples` tests.
    pub sample_avg_us: Times,
    /// The lifetime average.
    pub lifetime_avg_us: Times,
}

/// One virtual's timing statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualStats {
    /// The virtual.
    #[serde(rename = "virtual")]
    pub virtual_: Virtual,
    /// The tester's `stats_samples`.
    pub samples: u32,
    /// Tests recorded over its reals.
    pub total: u64,
    /// Mean of the reals' sample averages.
    pub sample_avg_us: Times,
    /// Connection problems over its reals.
    pub problems: Problems,
    /// Its reals.
    pub reals: Vec<RealStats>,
}

/// The `connstats` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connstats {
    /// Whether statistics are gathered (`false`: the text form's `Gathering statistics is OFF`,
    /// and `virtuals` is empty).
    pub gather_stats: bool,
    /// Every virtual.
    pub virtuals: Vec<VirtualStats>,
}

impl Virtual {
    /// The JSON form of a virtual at `index`.
    pub fn new(index: usize, v: &VirtualView) -> Self {
        Self {
            index,
            name: v.name.clone(),
            proto: v.proto.as_str().to_owned(),
            addr: v.addr,
            port: v.port,
            fwmark: v.fwmark,
            rt: v.rt.as_str().to_owned(),
            sched: v.sched.clone(),
        }
    }
}

impl Real {
    /// The JSON form of a real at `index`.
    pub fn new(index: usize, r: &RealView) -> Self {
        Self {
            index,
            name: r.name.clone(),
            addr: r.key.addr,
            port: r.key.port,
            current_weight: r.current_weight,
            conf_weight: r.conf_weight,
            online: r.online,
            rstate: r.rstate.as_str().to_owned(),
            weight_override: r.weight_override.map(|w| w.to_string()),
            in_ipvs: r.in_ipvs,
        }
    }
}

impl From<dumps::Times<i64>> for Times {
    fn from(t: dumps::Times<i64>) -> Self {
        Self {
            conn: t.conn,
            resp: t.resp,
            total: t.total,
        }
    }
}

impl From<dumps::Problems> for Problems {
    fn from(p: dumps::Problems) -> Self {
        Self {
            conn: p.conn,
            arp: p.arp,
            rst: p.rst,
        }
    }
}

fn line<T: Serialize>(value: &T) -> String {
    // These types hold only strings, numbers and addresses: serialising cannot fail.
    let mut s = serde_json::to_string(value)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string());
    s.push('\n');
    s.push_str(super::END_MARKER);
    s.push('\n');
    s
}

fn reals(reals: &[RealView]) -> Vec<Real> {
    reals
        .iter()
        .enumerate()
        .map(|(j, r)| Real::new(j, r))
        .collect()
}

/// The `vlist` reply in JSON ([`Vlist`]), terminated.
pub fn vlist(listing: &[VirtualListing]) -> String {
    line(&Vlist {
        virtuals: listing
            .iter()
            .enumerate()
            .map(|(i, l)| Virtual::new(i, &l.virtual_view))
            .collect(),
    })
}

/// The `rlist` reply in JSON ([`Rlist`]) for the virtual at `index`, terminated.
pub fn rlist(index: usize, l: &VirtualListing) -> String {
    line(&Rlist {
        virtual_: Virtual::new(index, &l.virtual_view),
        reals: reals(&l.reals),
    })
}

/// The `stats` reply in JSON ([`Stats`]), terminated.
pub fn stats(st: &StatsView, u: &ProcessUsage) -> String {
    let t = &st.tests;
    line(&Stats {
        watchdog_pid: st.watchdog_pid,
        tester_pid: st.tester_pid,
        virtuals: st.virtuals,
        reals: st.reals,
        rstate_online: st.rstate_online,
        rstate_offline: st.rstate_offline,
        rstate_down: st.rstate_down,
        offline_size: st.offline_size,
        override_size: st.override_size,
        success: st.success,
        failed: st.failed,
        tests: Tests {
            success: t.success,
            failed: t.failed,
            online_set: t.online_set,
            offline_set: t.offline_set,
            conn_problem: t.conn_problem,
            arp_problem: t.arp_problem,
            rst_problem: t.rst_problem,
            bytes_received: t.bytes_received,
            bytes_sent: t.bytes_sent,
        },
        resources: Resources {
            user_time_us: u64::try_from(u.user_time.as_micros()).unwrap_or(u64::MAX),
            system_time_us: u64::try_from(u.system_time.as_micros()).unwrap_or(u64::MAX),
            block_in_ops: u.block_in_ops,
            block_out_ops: u.block_out_ops,
            messages_sent: u.messages_sent,
            messages_rcvd: u.messages_rcvd,
            signals_rcvd: u.signals_rcvd,
            voluntary_ctx: u.voluntary_ctx,
            involunt_ctx: u.involunt_ctx,
            fd_used: u.fd_used,
        },
        memory: u
            .memory
            .iter()
            .map(|m| Memory {
                name: m.name.clone(),
                value: m.value,
                unit: m.unit.clone(),
            })
            .collect(),
    })
}

/// The `connstats` reply in JSON ([`Connstats`]), terminated.
pub fn connstats(stats: Option<&[VirtualConnStats]>) -> String {
    let virtuals = stats
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, vs)| VirtualStats {
            virtual_: Virtual::new(i, &vs.listing.virtual_view),
            samples: vs.samples,
            total: vs.total,
            sample_avg_us: vs.sample_avg_us.into(),
            problems: vs.problems.into(),
            reals: vs
                .listing
                .reals
                .iter()
                .zip(&vs.reals)
                .enumerate()
                .map(|(j, (r, rs))| RealStats {
                    real: Real::new(j, r),
                    total: rs.total,
                    problems: rs.problems.into(),
                    last_us: rs.last_us.into(),
                    sample_avg_us: rs.sample_avg_us.into(),
                    lifetime_avg_us: rs.lifetime_avg_us.into(),
                })
                .collect(),
        })
        .collect();
    line(&Connstats {
        gather_stats: stats.is_some(),
        virtuals,
    })
}

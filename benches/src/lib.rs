//! Shared helpers of the benchmarks: generators of realistic tables and configurations.
//!
//! The generators are deterministic (no random source), so every run measures the same input.

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr};

use lvs_core::model::{
    Destination, Forwarding, Operation, Protocol, Scheduler, Service, ServiceKey, Table,
};

/// A table of `services` IPv4 TCP services on port 80 (virtual addresses from `10.0.0.0` up),
/// each with `dests_per_service` direct-routing destinations on port 80 (addresses from
/// `172.16.0.0` up, all distinct), scheduler `wlc`, weights 1..=100.
pub fn table(services: u32, dests_per_service: u32) -> Table {
    let mut t = Table::new();
    for i in 0..services {
        let key = ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000_u32.wrapping_add(i))),
            port: 80,
        };
        t.insert_service(Service::new(key, Scheduler::default()));
        for j in 0..dests_per_service {
            let n = i.wrapping_mul(dests_per_service).wrapping_add(j);
            let addr = IpAddr::V4(Ipv4Addr::from(0xac10_0000_u32.wrapping_add(n)));
            let weight = 1 + n % 100;
            let d = Destination::new(addr, 80, weight, Forwarding::DirectRoute);
            // The service was inserted just above, so this cannot fail.
            let _ = t.insert_destination(&key, d);
        }
    }
    t
}

/// A copy of `t` where every `step`-th destination (counting over the whole table in order,
/// starting with the first) has its weight changed. `step` 0 changes nothing.
pub fn with_weights_changed(t: &Table, step: usize) -> Table {
    let mut out = t.clone();
    if step == 0 {
        return out;
    }
    let changed: Vec<(ServiceKey, Destination)> = t
        .iter()
        .flat_map(|e| e.destinations.values().map(move |d| (e.service.key, *d)))
        .step_by(step)
        .map(|(k, d)| {
            let weight = if d.weight >= 1000 { 1 } else { d.weight + 1000 };
            (k, Destination { weight, ..d })
        })
        .collect();
    for (k, d) in changed {
        // The service exists in the copy.
        let _ = out.insert_destination(&k, d);
    }
    out
}

/// A copy of `t` with exactly one weight changed: that of the destination in the middle of the
/// table.
pub fn with_one_weight_changed(t: &Table) -> Table {
    let mid = t.destination_count() / 2;
    let Some((k, d)) = t
        .iter()
        .flat_map(|e| e.destinations.values().map(move |d| (e.service.key, *d)))
        .nth(mid)
    else {
        return t.clone();
    };
    let mut out = t.clone();
    let weight = if d.weight >= 1000 { 1 } else { d.weight + 1000 };
    let _ = out.insert_destination(&k, Destination { weight, ..d });
    out
}

/// The operations that build `t` from an empty table (every service, then its destinations).
pub fn build_ops(t: &Table) -> Vec<Operation> {
    lvs_core::model::diff(&Table::new(), t, lvs_core::model::UnmanagedPolicy::Keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::model::{diff, UnmanagedPolicy};

    #[test]
    fn generators_give_the_expected_diffs() {
        let a = table(100, 5);
        assert_eq!((a.len(), a.destination_count()), (100, 500));
        assert_eq!(
            diff(&a, &with_one_weight_changed(&a), UnmanagedPolicy::Delete).len(),
            1
        );
        assert_eq!(
            diff(&a, &with_weights_changed(&a, 100), UnmanagedPolicy::Delete).len(),
            5
        );
        assert_eq!(build_ops(&a).len(), 600);
    }
}

/// What the load harnesses read of their own process.
pub mod process {
    use nix::sys::resource::{getrlimit, getrusage, setrlimit, Resource, UsageWho};

    /// Raises the open-file limit to its hard limit (thousands of sockets).
    pub fn raise_nofile() {
        if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }

    /// (user, system) CPU of this process so far, in µs (`getrusage(RUSAGE_SELF)`).
    pub fn cpu_split_us() -> (u64, u64) {
        let Ok(u) = getrusage(UsageWho::RUSAGE_SELF) else {
            return (0, 0);
        };
        let us = |t: nix::sys::time::TimeVal| {
            u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000
                + u64::try_from(t.tv_usec()).unwrap_or(0)
        };
        (us(u.user_time()), us(u.system_time()))
    }

    /// VmRSS of this process, in bytes (0 when /proc cannot be read).
    pub fn rss() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024)
    }
}

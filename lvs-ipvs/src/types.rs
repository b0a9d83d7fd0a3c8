//! What the kernel reports besides the model: statistics, counters, timeouts, sync daemons and
//! version information.

use std::fmt;
use std::net::IpAddr;

use lvs_core::model::{Destination, Service};

/// Traffic counters of a service or destination, relative to the last zeroing. The kernel's
/// 64-bit statistics are used when it sends them (Linux 4.1 and later), the 32-bit ones
/// otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub in_pkts: u64,
    /// Outgoing packets.
    pub out_pkts: u64,
    /// Incoming bytes.
    pub in_bytes: u64,
    /// Outgoing bytes.
    pub out_bytes: u64,
    /// Connections per second (estimator).
    pub cps: u64,
    /// Incoming packets per second.
    pub in_pps: u64,
    /// Outgoing packets per second.
    pub out_pps: u64,
    /// Incoming bytes per second.
    pub in_bps: u64,
    /// Outgoing bytes per second.
    pub out_bps: u64,
}

/// A service as the kernel holds it, with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// The service (identity and scheduling parameters).
    pub service: Service,
    /// Its traffic counters.
    pub stats: Stats,
}

/// A destination as the kernel holds it, with its connection counts and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStatus {
    /// The destination (identity, weight, thresholds, forwarding).
    pub dest: Destination,
    /// Active connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Persistence templates pointing at this destination.
    pub persistent_conns: u32,
    /// Its traffic counters.
    pub stats: Stats,
}

/// The IPVS version and connection table size (`ipvsadm --version`, GET_INFO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Info {
    /// The version code, `0x010201` for 1.2.1 (unchanged for many years: useless for feature
    /// detection).
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}

impl Info {
    /// The version as `major.minor.patch`.
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            (self.version >> 16) & 0xff,
            (self.version >> 8) & 0xff,
            self.version & 0xff
        )
    }
}

/// The connection timeouts in seconds (`ipvsadm --set tcp tcpfin udp`). When setting, 0 leaves
/// a value unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP connections after a FIN.
    pub tcp_fin: u32,
    /// UDP "connections".
    pub udp: u32,
}

/// The role of a connection-synchronisation daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DaemonState {
    /// Sends connection state (`IP_VS_STATE_MASTER`).
    Master,
    /// Receives connection state (`IP_VS_STATE_BACKUP`).
    Backup,
}

impl DaemonState {
    /// The kernel's value (1 master, 2 backup).
    pub fn value(self) -> u32 {
        match self {
            DaemonState::Master => 1,
            DaemonState::Backup => 2,
        }
    }

    /// The state of a kernel value.
    pub fn from_value(v: u32) -> Option<Self> {
        match v {
            1 => Some(DaemonState::Master),
            2 => Some(DaemonState::Backup),
            _ => None,
        }
    }
}

impl fmt::Display for DaemonState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DaemonState::Master => "master",
            DaemonState::Backup => "backup",
        })
    }
}

/// A connection-synchronisation daemon (`ipvsadm --start-daemon`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncDaemon {
    /// Master or backup.
    pub state: DaemonState,
    /// The multicast interface (at most 15 bytes).
    pub interface: String,
    /// The sync id (ipvsadm allows 0..=255).
    pub sync_id: u32,
    /// Largest sync message, if set (Linux 4.3+).
    pub max_len: Option<u16>,
    /// Multicast group (IPv4 or IPv6), if not the default 224.0.0.81 (Linux 4.3+).
    pub group: Option<IpAddr>,
    /// Multicast port, if not the default 8848 (Linux 4.3+).
    pub port: Option<u16>,
    /// Multicast TTL, if not the default 1 (Linux 4.3+).
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    /// A daemon with the kernel's defaults for everything but state, interface and id.
    pub fn new(state: DaemonState, interface: &str, sync_id: u32) -> Self {
        Self {
            state,
            interface: interface.to_string(),
            sync_id,
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        }
    }
}

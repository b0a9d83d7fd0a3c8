//! The validated `feedbackd-master.conf`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::cidr::Cidr;
use super::raw::{quote, RawConfigFile};
use super::services_db::ServicesDb;
use super::values::{self, Fields, KeyRules, LogLevel, Secret};
use super::NECP_PORT;
use crate::error::{Location, ParseError, ParseErrorKind};
use crate::model::{Netmask, Persistence, Protocol, Scheduler, Service, ServiceKey};

/// The global keys of the master file: the HOWTO's, then our extensions.
pub const MASTER_KEYS: &[&str] = &[
    "logfile",
    "loglevel",
    "keepalive-interval",
    "keepalive-timeout",
    "keepalive-retries",
    "removal-interval",
    "listen-address",
    "listen-port",
    "allow",
    "secret",
    "max-agents",
    "max-services-per-agent",
    "weight-smoothing",
    "weight-threshold",
];

/// The keys of a `[virtual-service]` section (`persistent` is our extension).
pub const VIRTUAL_SERVICE_KEYS: &[&str] = &[
    "name",
    "address",
    "protocol",
    "port",
    "scheduler",
    "persistent",
];

/// The section names of the master file.
pub const MASTER_SECTIONS: &[&str] = &["virtual-service"];

/// Longest persistence timeout, in seconds (ipvsadm's limit, 31 days).
const MAX_PERSISTENT: u64 = 86_400 * 31;

/// A `[virtual-service]`: an IPVS service the master manages, to which agents' real servers are
/// added when they announce a matching protocol and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    /// `name`: symbolic name, used in logging.
    pub name: String,
    /// `address`: the virtual address (IPv4 or IPv6).
    pub address: IpAddr,
    /// `protocol`: tcp, udp or (extension) sctp.
    pub protocol: Protocol,
    /// `port`: the virtual port; 0 (every port) only with `persistent`.
    pub port: u16,
    /// `scheduler` (default `wlc`).
    pub scheduler: Scheduler,
    /// `persistent` (extension): persistence timeout, if any.
    pub persistent: Option<Duration>,
    /// The line of the `[virtual-service]` header.
    pub line: u32,
}

impl VirtualService {
    /// The IPVS identity of the service.
    pub fn key(&self) -> ServiceKey {
        ServiceKey::Inet {
            protocol: self.protocol,
            addr: self.address,
            port: self.port,
        }
    }

    /// The IPVS service to create: its key, scheduler and persistence (one template per client
    /// address).
    pub fn to_service(&self) -> Service {
        let key = self.key();
        let mut s = Service::new(key, self.scheduler.clone());
        s.persistence = self.persistent.map(|t| Persistence {
            timeout: u32::try_from(t.as_secs()).unwrap_or(u32::MAX),
            netmask: Netmask::host(key.af()),
            engine: None,
        });
        s
    }
}

/// The validated `feedbackd-master.conf`. [`MasterConfig::default`] holds every default and no
/// virtual service.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterConfig {
    /// The label the configuration was loaded from (the file name), for messages.
    pub source: String,
    /// `logfile` (default `/var/log/feedbackd-master.log`).
    pub logfile: PathBuf,
    /// `loglevel` (default WARN).
    pub loglevel: LogLevel,
    /// `keepalive-interval`: time between health polls of an agent (default 2 s).
    pub keepalive_interval: Duration,
    /// `keepalive-timeout`: time to wait for a KEEPALIVE_ACK before resending (default 10 s).
    pub keepalive_timeout: Duration,
    /// `keepalive-retries`: successive lost keepalives before the real server is quiesced
    /// (default 3).
    pub keepalive_retries: u32,
    /// `removal-interval`: period of the check that removes quiesced real servers without
    /// active connections (default 30 s).
    pub removal_interval: Duration,
    /// `listen-address` (extension): address to accept agents on (default 0.0.0.0).
    pub listen_address: IpAddr,
    /// `listen-port` (extension): NECP port (default 3262).
    pub listen_port: u16,
    /// `allow` (extension, repeatable): the networks agents may connect from, in file order.
    pub allow: Vec<Cidr>,
    /// `secret` (extension): NECP shared secret; agents must then authenticate.
    pub secret: Option<Secret>,
    /// `max-agents` (extension): simultaneous agent connections (default 1024).
    pub max_agents: u32,
    /// `max-services-per-agent` (extension): services one agent may announce (default 64).
    pub max_services_per_agent: u32,
    /// `weight-smoothing` (extension): weight of the previous value in the exponential moving
    /// average of reported health, in `[0, 1)`; 0 = off (default).
    pub weight_smoothing: f64,
    /// `weight-threshold` (extension): smallest weight change written to IPVS; 0 = every change
    /// (default).
    pub weight_threshold: u32,
    /// The `[virtual-service]` sections, in file order.
    pub virtual_services: Vec<VirtualService>,
}

impl Default for MasterConfig {
    fn default() -> Self {
        Self {
            source: "<defaults>".into(),
            logfile: PathBuf::from("/var/log/feedbackd-master.log"),
            loglevel: LogLevel::Warn,
            keepalive_interval: Duration::from_secs(2),
            keepalive_timeout: Duration::from_secs(10),
            keepalive_retries: 3,
            removal_interval: Duration::from_secs(30),
            listen_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            listen_port: NECP_PORT,
            allow: Vec::new(),
            secret: None,
            max_agents: 1024,
            max_services_per_agent: 64,
            weight_smoothing: 0.0,
            weight_threshold: 0,
            virtual_services: Vec::new(),
        }
    }
}

impl MasterConfig {
    /// Validates a raw master file: `services` resolves port names.
    pub fn from_raw(raw: &RawConfigFile, services: &ServicesDb) -> Result<Self, ParseError> {
        let file = raw.file.as_str();
        let g = Fields::collect(
            file,
            None,
            0,
            &raw.globals,
            &KeyRules {
                allowed: MASTER_KEYS,
                repeatable: &["allow"],
                misplaced: VIRTUAL_SERVICE_KEYS,
                misplaced_msg: "this key belongs in a `[virtual-service]` section; put a `[virtual-service]` line above it",
            },
        )?;
        // Key-level problems first, in file order, then values.
        let mut blocks = Vec::with_capacity(raw.sections.len());
        for s in &raw.sections {
            values::check_section_name(file, s, MASTER_SECTIONS)?;
            let f = Fields::collect(
                file,
                Some(values::section_label(s)),
                s.line,
                &s.entries,
                &KeyRules {
                    allowed: VIRTUAL_SERVICE_KEYS,
                    repeatable: &[],
                    misplaced: MASTER_KEYS,
                    misplaced_msg: "this is a global key; move it above the first section",
                },
            )?;
            blocks.push((s.line, f));
        }
        let d = Self::default();
        let mut allow = Vec::new();
        for e in g.all("allow") {
            let c = e.value.parse::<Cidr>().map_err(|reason| {
                g.value_error(
                    e,
                    ParseErrorKind::InvalidValue {
                        value: quote(&e.value),
                        reason: format!("{reason}; expected a network such as `192.0.2.0/24` or `2001:db8::/32`"),
                    },
                )
            })?;
            allow.push(c);
        }
        let mut cfg = MasterConfig {
            source: file.to_string(),
            logfile: g.parse_or("logfile", d.logfile, |v| Ok(PathBuf::from(v)))?,
            loglevel: g.parse_or("loglevel", d.loglevel, values::log_level)?,
            keepalive_interval: g.parse_or(
                "keepalive-interval",
                d.keepalive_interval,
                values::seconds,
            )?,
            keepalive_timeout: g.parse_or(
                "keepalive-timeout",
                d.keepalive_timeout,
                values::seconds,
            )?,
            keepalive_retries: g.parse_or("keepalive-retries", d.keepalive_retries, |v| {
                values::uint32(v, 0, 100, "")
            })?,
            removal_interval: g.parse_or(
                "removal-interval",
                d.removal_interval,
                values::seconds,
            )?,
            listen_address: g.parse_or("listen-address", d.listen_address, listen_address)?,
            listen_port: g.parse_or("listen-port", d.listen_port, |v| {
                values::uint(v, 1, 65_535, "").map(|p| u16::try_from(p).unwrap_or(NECP_PORT))
            })?,
            allow,
            secret: g.parse_or("secret", None, |v| Ok(Some(Secret::new(v))))?,
            max_agents: g.parse_or("max-agents", d.max_agents, |v| {
                values::uint32(v, 1, 1_000_000, "")
            })?,
            max_services_per_agent: g.parse_or(
                "max-services-per-agent",
                d.max_services_per_agent,
                |v| values::uint32(v, 1, 65_535, ""),
            )?,
            weight_smoothing: g.parse_or("weight-smoothing", d.weight_smoothing, smoothing)?,
            weight_threshold: g.parse_or("weight-threshold", d.weight_threshold, |v| {
                values::uint32(v, 0, i32::MAX as u32, "")
            })?,
            virtual_services: Vec::new(),
        };

        let mut by_key: BTreeMap<ServiceKey, u32> = BTreeMap::new();
        let mut by_name: BTreeMap<String, u32> = BTreeMap::new();
        for (line, f) in &blocks {
            let vs = virtual_service(f, *line, services)?;
            if let Some(first_line) = by_key.insert(vs.key(), *line) {
                return Err(f.block_error(ParseErrorKind::Duplicate {
                    what: "virtual service",
                    key: vs.key().to_string(),
                    first_line,
                }));
            }
            if let Some(first_line) = by_name.insert(vs.name.clone(), *line) {
                return Err(f.block_error(ParseErrorKind::Duplicate {
                    what: "virtual service name",
                    key: format!("`{}`", quote(&vs.name)),
                    first_line,
                }));
            }
            if let Some(why) = cfg
                .virtual_services
                .iter()
                .find_map(|first| ambiguity(first, &vs))
            {
                return Err(f.block_error(ParseErrorKind::Structure(why)));
            }
            cfg.virtual_services.push(vs);
        }
        Ok(cfg)
    }

    /// Whether an agent connecting from `peer` is in the `allow` list. An empty list allows
    /// nobody.
    pub fn allows(&self, peer: IpAddr) -> bool {
        self.allow.iter().any(|c| c.contains(peer))
    }

    /// The daemon's start-up check: an error, telling which line to add, when there is no
    /// `allow` line. The loader itself accepts such a file (so `-t` can still check the rest).
    pub fn check_allow_list(&self) -> Result<(), ParseError> {
        if !self.allow.is_empty() {
            return Ok(());
        }
        Err(ParseError::new(
            Location::new(self.source.clone(), 0, None),
            None,
            ParseErrorKind::Structure(
                "no `allow` line, so no agent may connect; add a line naming the agents' network, \
                 such as `allow = 10.0.0.0/8`, or `allow = 0.0.0.0/0` (and `allow = ::/0`) to \
                 accept every agent as the original feedbackd did"
                    .into(),
            ),
        ))
    }

    /// The virtual service matching an agent's announced protocol and port, if any: the one
    /// with that protocol and either that port or port 0 (every port). There is at most one:
    /// [`MasterConfig::from_raw`] rejects two sections that could both claim a real server.
    pub fn virtual_service_for(&self, protocol: Protocol, port: u16) -> Option<&VirtualService> {
        self.virtual_services
            .iter()
            .find(|v| v.protocol == protocol && (v.port == port || v.port == 0))
    }
}

/// Why `second` could claim the same real servers as `first` (an agent announces only a
/// protocol and a port, see [`MasterConfig::virtual_service_for`]), or `None` when it cannot.
fn ambiguity(first: &VirtualService, second: &VirtualService) -> Option<String> {
    let proto = first.protocol;
    if proto != second.protocol
        || (first.port != second.port && first.port != 0 && second.port != 0)
    {
        return None;
    }
    let why = match (first.port, second.port) {
        (0, 0) => format!("both take every {proto} port (port 0)"),
        (0, p) | (p, 0) => {
            let wild = if first.port == 0 { first } else { second };
            format!(
                "`{}` takes every {proto} port (port 0), including {proto} port {p}",
                quote(&wild.name)
            )
        }
        (p, _) => format!("both take {proto} port {p}"),
    };
    Some(format!(
        "ambiguous with [virtual-service] `{}` (line {}): {why}; an agent announces only a \
         protocol and a port, so its real server could join either; give each {proto} virtual \
         service its own port",
        quote(&first.name),
        first.line
    ))
}

fn listen_address(v: &str) -> Result<IpAddr, ParseErrorKind> {
    let a = values::ip_addr(v)?;
    if a.is_multicast() {
        return Err(ParseErrorKind::InvalidAddress {
            value: quote(v),
            reason: "cannot listen on a multicast address".into(),
        });
    }
    Ok(a)
}

fn smoothing(v: &str) -> Result<f64, ParseErrorKind> {
    let reason = "expected a decimal number from 0 (off) up to, not including, 1";
    let bad = || ParseErrorKind::InvalidValue {
        value: quote(v),
        reason: reason.into(),
    };
    if !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    match v.parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err(bad()),
    }
}

fn virtual_service(
    f: &Fields<'_>,
    line: u32,
    services: &ServicesDb,
) -> Result<VirtualService, ParseError> {
    for key in ["name", "address", "protocol", "port"] {
        f.require(key)?;
    }
    let name = f.parse_required("name", values::text)?;
    let address = f.parse_required("address", values::unicast_addr)?;
    let protocol = f.parse_required("protocol", values::protocol)?;
    let scheduler = f.parse_or("scheduler", Scheduler::default(), |v| {
        Scheduler::new(&v.to_ascii_lowercase()).map_err(|_| ParseErrorKind::UnknownScheduler {
            name: quote(v),
            known: Scheduler::KNOWN.iter().map(|s| s.to_string()).collect(),
        })
    })?;
    let persistent = f.parse_or("persistent", None, |v| {
        values::uint(v, 1, MAX_PERSISTENT, " seconds").map(|s| Some(Duration::from_secs(s)))
    })?;
    let port = f.parse_required("port", |v| {
        let p = values::port(v, protocol, services)?;
        if p == 0 && persistent.is_none() {
            return Err(ParseErrorKind::InvalidValue {
                value: quote(v),
                reason: "port 0 (every port) needs `persistent`".into(),
            });
        }
        Ok(p)
    })?;
    Ok(VirtualService {
        name,
        address,
        protocol,
        port,
        scheduler,
        persistent,
        line,
    })
}

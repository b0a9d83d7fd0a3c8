//! The IPVS vocabulary: virtual services, destinations (real servers), the wanted table and the
//! operations that turn one table into another.
//!
//! A [`Table`] is what a director wants the kernel to hold. It is ordered deterministically
//! (services by [`ServiceKey`], destinations by [`DestKey`]), so two equal tables iterate, print
//! and diff identically. [`diff`] gives the minimal ordered list of [`Operation`]s from one table to
//! another; [`Table::apply`] applies one operation, so `a.apply_all(&diff(&a, &b, Delete))` is `b`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Transport protocol of a non-fwmark virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// SCTP (IP protocol 132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number the kernel uses.
    pub fn ip_proto(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol for an IP protocol number, if IPVS supports it.
    pub fn from_ip_proto(n: u8) -> Option<Self> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The lower-case name (`tcp`, `udp`, `sctp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;
    /// Case-insensitive `tcp`, `udp` or `sctp`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(format!("unknown protocol `{s}`; known: tcp, udp, sctp")),
        }
    }
}

/// Address family of a service or destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    /// IPv4 (`AF_INET`).
    Inet,
    /// IPv6 (`AF_INET6`).
    Inet6,
}

impl AddressFamily {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        }
    }
}

/// The identity of a virtual service: what the kernel looks services up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKey {
    /// A service on an address, port and transport protocol.
    Inet {
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual address (IPv4 or IPv6).
        addr: IpAddr,
        /// Virtual port (0 = any port, only meaningful with persistence).
        port: u16,
    },
    /// A service selected by a firewall mark set outside IPVS.
    Fwmark {
        /// The family of the packets the mark applies to.
        af: AddressFamily,
        /// The mark, non-zero.
        mark: u32,
    },
}

impl ServiceKey {
    /// The address family of the service.
    pub fn af(&self) -> AddressFamily {
        match self {
            ServiceKey::Inet { addr, .. } => AddressFamily::of(addr),
            ServiceKey::Fwmark { af, .. } => *af,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// ipvsadm's notation: `tcp 10.0.0.1:80`, `udp [::1]:53`, `fwmark 42` (`fwmark 42 ipv6`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Inet {
                protocol,
                addr: IpAddr::V4(a),
                port,
            } => write!(f, "{protocol} {a}:{port}"),
            ServiceKey::Inet {
                protocol,
                addr: IpAddr::V6(a),
                port,
            } => write!(f, "{protocol} [{a}]:{port}"),
            ServiceKey::Fwmark {
                af: AddressFamily::Inet,
                mark,
            } => write!(f, "fwmark {mark}"),
            ServiceKey::Fwmark {
                af: AddressFamily::Inet6,
                mark,
            } => write!(f, "fwmark {mark} ipv6"),
        }
    }
}

/// An IPVS scheduler name (at most 15 bytes, the kernel's `IP_VS_SCHEDNAME_MAXLEN` - 1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scheduler(String);

impl Scheduler {
    /// The schedulers of the mainline kernel, and `none`.
    pub const KNOWN: &'static [&'static str] = &[
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
        "twos", "none",
    ];

    /// A scheduler from the mainline kernel's list ([`Scheduler::KNOWN`]); the name is taken as
    /// written (the kernel's names are lower case).
    pub fn new(name: &str) -> Result<Self, String> {
        if Self::KNOWN.contains(&name) {
            Ok(Self(name.to_string()))
        } else {
            Err(format!(
                "unknown scheduler `{name}`; known: {}",
                Self::KNOWN.join(", ")
            ))
        }
    }

    /// An out-of-tree scheduler: any name of 1 to 15 printable ASCII characters.
    pub fn custom(name: &str) -> Result<Self, String> {
        if name.is_empty() || name.len() > 15 || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "scheduler name `{name}` must be 1 to 15 printable ASCII characters"
            ));
        }
        Ok(Self(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Scheduler {
    /// `wlc`, ipvsadm's default.
    fn default() -> Self {
        Self("wlc".into())
    }
}

impl TryFrom<String> for Scheduler {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::custom(&s)
    }
}

impl From<Scheduler> for String {
    fn from(s: Scheduler) -> String {
        s.0
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The persistence netmask: which client addresses share a persistence template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Netmask {
    /// IPv4 mask as an address (`255.255.255.255` = one template per client address).
    V4(Ipv4Addr),
    /// IPv6 prefix length, 1..=128.
    V6(u8),
}

impl Netmask {
    /// The one-address mask of a family: `255.255.255.255` or `/128`.
    pub fn host(af: AddressFamily) -> Self {
        match af {
            AddressFamily::Inet => Netmask::V4(Ipv4Addr::BROADCAST),
            AddressFamily::Inet6 => Netmask::V6(128),
        }
    }
}

/// Persistence of a service: clients stick to one destination for `timeout` seconds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Persistence {
    /// Timeout in seconds, > 0.
    pub timeout: u32,
    /// Which clients share a template.
    pub netmask: Netmask,
    /// Persistence engine (only `sip` exists in the kernel), if any.
    pub engine: Option<String>,
}

/// Scheduler flags (`IP_VS_SVC_F_SCHED1..3`): their meaning depends on the scheduler
/// (`sh-fallback`/`sh-port` for sh, `mh-fallback`/`mh-port` for mh).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct SchedFlags {
    /// Flag 1: fallback to another destination when the chosen one is unavailable (sh, mh).
    pub fallback: bool,
    /// Flag 2: include the source port in the hash (sh, mh).
    pub port: bool,
    /// Flag 3: unused by in-tree schedulers.
    pub flag3: bool,
}

impl SchedFlags {
    /// The bits as carried in the service flags (0x08, 0x10, 0x20).
    pub fn bits(self) -> u32 {
        (u32::from(self.fallback) << 3) | (u32::from(self.port) << 4) | (u32::from(self.flag3) << 5)
    }

    /// The flags from service flag bits (other bits ignored).
    pub fn from_bits(bits: u32) -> Self {
        Self {
            fallback: bits & 0x08 != 0,
            port: bits & 0x10 != 0,
            flag3: bits & 0x20 != 0,
        }
    }
}

/// A virtual service: its identity and its scheduling parameters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Service {
    /// Identity.
    pub key: ServiceKey,
    /// Scheduler.
    pub scheduler: Scheduler,
    /// Persistence, if the service is persistent.
    pub persistence: Option<Persistence>,
    /// One-packet scheduling (each UDP datagram scheduled on its own).
    pub one_packet: bool,
    /// Scheduler flags.
    pub sched_flags: SchedFlags,
}

impl Service {
    /// A service with the given key and scheduler, no persistence, no flags.
    pub fn new(key: ServiceKey, scheduler: Scheduler) -> Self {
        Self {
            key,
            scheduler,
            persistence: None,
            one_packet: false,
            sched_flags: SchedFlags::default(),
        }
    }

    /// The `IP_VS_SVC_F_*` flags for this service (persistent 0x1, one-packet 0x4, scheduler flags).
    pub fn ipvs_flags(&self) -> u32 {
        u32::from(self.persistence.is_some())
            | (u32::from(self.one_packet) << 2)
            | self.sched_flags.bits()
    }
}

/// Checksum option of a GUE or GRE tunnel (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TunnelChecksum {
    /// No checksum (`--tun-nocsum`).
    #[default]
    NoCsum,
    /// Checksum (`--tun-csum`).
    Csum,
    /// Remote checksum offload (`--tun-remcsum`, GUE only).
    RemCsum,
}

impl TunnelChecksum {
    /// The encapsulation flags value.
    pub fn bits(self) -> u16 {
        match self {
            TunnelChecksum::NoCsum => 0,
            TunnelChecksum::Csum => 1,
            TunnelChecksum::RemCsum => 2,
        }
    }
}

/// How a tunnelled destination is encapsulated.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tunnel {
    /// IP-in-IP (the classic LVS-TUN).
    #[default]
    Ipip,
    /// Generic UDP Encapsulation to `port`.
    Gue {
        /// Destination UDP port, non-zero.
        port: u16,
        /// Checksum option.
        csum: TunnelChecksum,
    },
    /// GRE.
    Gre {
        /// Checksum option (not `RemCsum`).
        csum: TunnelChecksum,
    },
}

/// The forwarding method of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forwarding {
    /// NAT (`masq`, ipvsadm `-m`).
    Masq,
    /// Direct routing (`dr`/`route`, ipvsadm `-g`).
    DirectRoute,
    /// Tunnelling (`tun`, ipvsadm `-i`) with its encapsulation.
    Tunnel(Tunnel),
    /// Local delivery to this host.
    Local,
}

impl Forwarding {
    /// The names accepted by [`Forwarding::parse`].
    pub const NAMES: &'static [&'static str] = &[
        "dr", "route", "droute", "gate", "masq", "nat", "tun", "tunnel", "ipip", "local",
    ];

    /// Parses a forwarding method name, case-insensitively: `dr`/`route`/`droute`/`gate`,
    /// `masq`/`nat`, `tun`/`tunnel`/`ipip` (IP-in-IP), `local`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "dr" | "route" | "droute" | "gate" => Forwarding::DirectRoute,
            "masq" | "nat" => Forwarding::Masq,
            "tun" | "tunnel" | "ipip" => Forwarding::Tunnel(Tunnel::Ipip),
            "local" => Forwarding::Local,
            _ => return None,
        })
    }

    /// The `IPVS_DEST_ATTR_FWD_METHOD` value.
    pub fn fwd_method(self) -> u32 {
        match self {
            Forwarding::Masq => 0,
            Forwarding::Local => 1,
            Forwarding::Tunnel(_) => 2,
            Forwarding::DirectRoute => 3,
        }
    }

    /// The surealived spelling (`dr`, `masq`, `tun`, `local`).
    pub fn short_name(self) -> &'static str {
        match self {
            Forwarding::Masq => "masq",
            Forwarding::DirectRoute => "dr",
            Forwarding::Tunnel(_) => "tun",
            Forwarding::Local => "local",
        }
    }
}

/// The identity of a destination inside its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DestKey {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port (0 for fwmark services that keep the packet's port).
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// A destination (real server) of a virtual service.
///
/// What the kernel accepts is checked by [`Destination::validate_for`] (and by [`Table::apply`]
/// and [`Table::insert_destination`], which refuse an invalid destination):
///
/// * `weight` at most [`Destination::MAX_WEIGHT`] (the kernel's `int`; more is `ERANGE`);
/// * `lower_threshold` not above `upper_threshold` (`ERANGE`); an upper threshold of 0 means "no
///   limit" to the scheduler but is **no exception** to this rule, so a lower threshold needs an
///   upper one;
/// * a unicast address: not unspecified, multicast or the IPv4 broadcast address (`EINVAL`);
/// * the service's address family, unless the forwarding is a tunnel (`EINVAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Destination {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Weight, 0..=[`Destination::MAX_WEIGHT`] (2147483647; 0 = no new connections).
    pub weight: u32,
    /// Upper connection threshold, 0 = none.
    pub upper_threshold: u32,
    /// Lower connection threshold, 0 = none; never above `upper_threshold`, even when that is 0.
    pub lower_threshold: u32,
    /// Forwarding method.
    pub forwarding: Forwarding,
}

/// Why the kernel would refuse a [`Destination`] (see [`Destination::validate_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// The weight is above [`Destination::MAX_WEIGHT`]: the kernel reads a negative `int` and
    /// answers `ERANGE`.
    #[error("weight {0} out of range (0..2147483647)")]
    WeightOutOfRange(u32),
    /// The lower threshold is above the upper one: `ERANGE`, also when the upper one is 0.
    #[error(
        "lower threshold {lower} is above upper threshold {upper}; the kernel rejects it \
         (ERANGE), also when the upper threshold is 0"
    )]
    ThresholdsReversed {
        /// The lower threshold.
        lower: u32,
        /// The upper threshold.
        upper: u32,
    },
    /// The address is unspecified, multicast or the IPv4 broadcast address: `EINVAL`.
    #[error("address {0} is not a unicast address")]
    NotUnicast(IpAddr),
    /// The destination's family differs from its service's and the forwarding is not a tunnel:
    /// `EINVAL`.
    #[error(
        "an {} destination in an {} service needs tunnel forwarding",
        af_name(*dest),
        af_name(*service)
    )]
    FamilyMismatch {
        /// The service's family.
        service: AddressFamily,
        /// The destination's family.
        dest: AddressFamily,
    },
}

fn af_name(af: AddressFamily) -> &'static str {
    match af {
        AddressFamily::Inet => "IPv4",
        AddressFamily::Inet6 => "IPv6",
    }
}

/// Whether an address can be a destination: not unspecified, multicast or the IPv4 broadcast
/// address.
pub fn is_unicast(addr: &IpAddr) -> bool {
    !(addr.is_unspecified() || addr.is_multicast() || *addr == IpAddr::V4(Ipv4Addr::BROADCAST))
}

impl Destination {
    /// The largest weight the kernel accepts: its weight is a signed `int`, so
    /// 2147483647 (`i32::MAX`). ipvsadm limits itself to 65535; the XML loader does too.
    pub const MAX_WEIGHT: u32 = i32::MAX as u32;

    /// A destination with no thresholds.
    pub fn new(addr: IpAddr, port: u16, weight: u32, forwarding: Forwarding) -> Self {
        Self {
            addr,
            port,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
            forwarding,
        }
    }

    /// Its identity.
    pub fn key(&self) -> DestKey {
        DestKey {
            addr: self.addr,
            port: self.port,
        }
    }

    /// Checks what the kernel checks of a destination on its own: the weight, the order of the
    /// thresholds and the address (see [`Destination`]).
    pub fn validate(&self) -> Result<(), DestinationError> {
        if self.weight > Self::MAX_WEIGHT {
            return Err(DestinationError::WeightOutOfRange(self.weight));
        }
        if self.lower_threshold > self.upper_threshold {
            return Err(DestinationError::ThresholdsReversed {
                lower: self.lower_threshold,
                upper: self.upper_threshold,
            });
        }
        if !is_unicast(&self.addr) {
            return Err(DestinationError::NotUnicast(self.addr));
        }
        Ok(())
    }

    /// As [`Destination::validate`], and checks that the destination's family is the service's
    /// unless it is tunnelled.
    pub fn validate_for(&self, service: &ServiceKey) -> Result<(), DestinationError> {
        self.validate()?;
        let (service, dest) = (service.af(), AddressFamily::of(&self.addr));
        if service != dest && !matches!(self.forwarding, Forwarding::Tunnel(_)) {
            return Err(DestinationError::FamilyMismatch { service, dest });
        }
        Ok(())
    }
}

/// A service and its destinations inside a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEntry {
    /// The service.
    pub service: Service,
    /// Its destinations, ordered by [`DestKey`].
    pub destinations: BTreeMap<DestKey, Destination>,
}

/// A complete IPVS table: services with their destinations, ordered deterministically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    services: BTreeMap<ServiceKey, ServiceEntry>,
}

/// One change to an IPVS table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Operation {
    /// Add a service (without destinations).
    AddService(Service),
    /// Change a service's scheduling parameters (the key stays).
    EditService(Service),
    /// Delete a service and all its destinations.
    DeleteService(ServiceKey),
    /// Add a destination to a service.
    AddDestination {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: Destination,
    },
    /// Change a destination's weight, thresholds or forwarding.
    EditDestination {
        /// The service.
        service: ServiceKey,
        /// The destination with its new values.
        dest: Destination,
    },
    /// Delete a destination.
    DeleteDestination {
        /// The service.
        service: ServiceKey,
        /// The destination's identity.
        dest: DestKey,
    },
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::AddService(s) => write!(f, "add service {} sched {}", s.key, s.scheduler),
            Operation::EditService(s) => write!(f, "edit service {} sched {}", s.key, s.scheduler),
            Operation::DeleteService(k) => write!(f, "delete service {k}"),
            Operation::AddDestination { service, dest } => write!(
                f,
                "add destination {} to {service} ({} weight {})",
                dest.key(),
                dest.forwarding.short_name(),
                dest.weight
            ),
            Operation::EditDestination { service, dest } => write!(
                f,
                "edit destination {} of {service} ({} weight {})",
                dest.key(),
                dest.forwarding.short_name(),
                dest.weight
            ),
            Operation::DeleteDestination { service, dest } => {
                write!(f, "delete destination {dest} of {service}")
            }
        }
    }
}

/// Why an [`Operation`] cannot be applied to a [`Table`] (the kernel would say EEXIST/ESRCH/ENOENT).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The service already exists.
    #[error("service {0} already exists")]
    ServiceExists(ServiceKey),
    /// The service does not exist.
    #[error("service {0} does not exist")]
    NoSuchService(ServiceKey),
    /// The destination already exists.
    #[error("destination {1} of service {0} already exists")]
    DestinationExists(ServiceKey, DestKey),
    /// The destination does not exist.
    #[error("destination {1} of service {0} does not exist")]
    NoSuchDestination(ServiceKey, DestKey),
    /// The destination is one the kernel refuses (`ERANGE`/`EINVAL`; see
    /// [`Destination::validate_for`]).
    #[error("destination {1} of service {0}: {2}")]
    InvalidDestination(ServiceKey, DestKey, DestinationError),
}

/// What to do with services present in the current table but absent from the wanted one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnmanagedPolicy {
    /// Leave them alone (ipvssync without `-u`).
    #[default]
    Keep,
    /// Delete them (ipvssync `-u`).
    Delete,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether the table has no service.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Number of destinations over all services.
    pub fn destination_count(&self) -> usize {
        self.services.values().map(|e| e.destinations.len()).sum()
    }

    /// Inserts or replaces a service, keeping its destinations if it existed. Returns the old
    /// service, if any.
    pub fn insert_service(&mut self, service: Service) -> Option<Service> {
        match self.services.get_mut(&service.key) {
            Some(e) => Some(std::mem::replace(&mut e.service, service)),
            None => {
                self.services.insert(
                    service.key,
                    ServiceEntry {
                        service,
                        destinations: BTreeMap::new(),
                    },
                );
                None
            }
        }
    }

    /// Inserts or replaces a destination of an existing service. Returns the old destination.
    /// Fails when the service is absent or the kernel would refuse the destination
    /// ([`Destination::validate_for`]).
    pub fn insert_destination(
        &mut self,
        service: &ServiceKey,
        dest: Destination,
    ) -> Result<Option<Destination>, ApplyError> {
        let e = self
            .services
            .get_mut(service)
            .ok_or(ApplyError::NoSuchService(*service))?;
        check_destination(service, &dest)?;
        Ok(e.destinations.insert(dest.key(), dest))
    }

    /// Removes a service and its destinations.
    pub fn remove_service(&mut self, key: &ServiceKey) -> Option<ServiceEntry> {
        self.services.remove(key)
    }

    /// The entry of a service.
    pub fn get(&self, key: &ServiceKey) -> Option<&ServiceEntry> {
        self.services.get(key)
    }

    /// The services in order, each with its destinations.
    pub fn iter(&self) -> impl Iterator<Item = &ServiceEntry> {
        self.services.values()
    }

    /// One destination.
    pub fn destination(&self, service: &ServiceKey, dest: &DestKey) -> Option<&Destination> {
        self.services.get(service)?.destinations.get(dest)
    }

    /// Applies one operation, failing as the kernel would: adding what exists, changing or
    /// deleting what does not, adding or changing a destination the kernel refuses
    /// ([`Destination::validate_for`], checked after the service's existence and before the
    /// destination's, in the kernel's order).
    pub fn apply(&mut self, op: &Operation) -> Result<(), ApplyError> {
        match op {
            Operation::AddService(s) => {
                if self.services.contains_key(&s.key) {
                    return Err(ApplyError::ServiceExists(s.key));
                }
                self.insert_service(s.clone());
            }
            Operation::EditService(s) => {
                let e = self
                    .services
                    .get_mut(&s.key)
                    .ok_or(ApplyError::NoSuchService(s.key))?;
                e.service = s.clone();
            }
            Operation::DeleteService(k) => {
                self.services
                    .remove(k)
                    .ok_or(ApplyError::NoSuchService(*k))?;
            }
            Operation::AddDestination { service, dest } => {
                let e = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoSuchService(*service))?;
                check_destination(service, dest)?;
                if e.destinations.contains_key(&dest.key()) {
                    return Err(ApplyError::DestinationExists(*service, dest.key()));
                }
                e.destinations.insert(dest.key(), *dest);
            }
            Operation::EditDestination { service, dest } => {
                let e = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoSuchService(*service))?;
                check_destination(service, dest)?;
                let d = e
                    .destinations
                    .get_mut(&dest.key())
                    .ok_or(ApplyError::NoSuchDestination(*service, dest.key()))?;
                *d = *dest;
            }
            Operation::DeleteDestination { service, dest } => {
                let e = self
                    .services
                    .get_mut(service)
                    .ok_or(ApplyError::NoSuchService(*service))?;
                e.destinations
                    .remove(dest)
                    .ok_or(ApplyError::NoSuchDestination(*service, *dest))?;
            }
        }
        Ok(())
    }

    /// Applies operations in order, stopping at the first that fails.
    pub fn apply_all<'a>(
        &mut self,
        ops: impl IntoIterator<Item = &'a Operation>,
    ) -> Result<(), ApplyError> {
        ops.into_iter().try_for_each(|op| self.apply(op))
    }
}

fn check_destination(service: &ServiceKey, dest: &Destination) -> Result<(), ApplyError> {
    dest.validate_for(service)
        .map_err(|e| ApplyError::InvalidDestination(*service, dest.key(), e))
}

impl<'a> IntoIterator for &'a Table {
    type Item = &'a ServiceEntry;
    type IntoIter = std::collections::btree_map::Values<'a, ServiceKey, ServiceEntry>;
    fn into_iter(self) -> Self::IntoIter {
        self.services.values()
    }
}

/// The minimal ordered list of operations that turns `current` into `wanted`.
///
/// * Services only in `current` are deleted when `policy` is [`UnmanagedPolicy::Delete`] (first,
///   so their resources are free before anything is added), and left alone otherwise.
/// * Each wanted service is added (then its destinations) or, when its parameters differ, edited
///   in place: a service is never deleted and re-added, so its connections survive.
/// * Inside a wanted service, destinations that are not wanted are always deleted (a managed
///   service is wholly managed, as in ipvssync), changed ones are edited, new ones added; deletions
///   come before additions.
///
/// Unchanged services and destinations produce nothing: one changed weight gives one operation,
/// whatever the size of the tables.
pub fn diff(current: &Table, wanted: &Table, policy: UnmanagedPolicy) -> Vec<Operation> {
    let mut ops = Vec::new();
    if policy == UnmanagedPolicy::Delete {
        for key in current.services.keys() {
            if !wanted.services.contains_key(key) {
                ops.push(Operation::DeleteService(*key));
            }
        }
    }
    for (key, want) in &wanted.services {
        let Some(have) = current.services.get(key) else {
            ops.push(Operation::AddService(want.service.clone()));
            ops.extend(
                want.destinations
                    .values()
                    .map(|d| Operation::AddDestination {
                        service: *key,
                        dest: *d,
                    }),
            );
            continue;
        };
        if have.service != want.service {
            ops.push(Operation::EditService(want.service.clone()));
        }
        for dk in have.destinations.keys() {
            if !want.destinations.contains_key(dk) {
                ops.push(Operation::DeleteDestination {
                    service: *key,
                    dest: *dk,
                });
            }
        }
        for (dk, d) in &want.destinations {
            match have.destinations.get(dk) {
                None => ops.push(Operation::AddDestination {
                    service: *key,
                    dest: *d,
                }),
                Some(h) if h != d => ops.push(Operation::EditDestination {
                    service: *key,
                    dest: *d,
                }),
                Some(_) => {}
            }
        }
    }
    ops
}

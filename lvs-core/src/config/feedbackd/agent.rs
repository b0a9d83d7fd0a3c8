//! The validated `feedbackd-agent.conf`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::monitor::{Monitor, MonitorRegistry, SERVICE_KEYS};
use super::raw::{quote, RawConfigFile};
use super::services_db::ServicesDb;
use super::values::{self, Fields, KeyRules, LogLevel, Secret};
use super::NECP_PORT;
use crate::error::{Location, ParseError, ParseErrorKind};
use crate::model::{Forwarding, Protocol, Tunnel};

/// The global keys of the agent file: the HOWTO's, then our extensions.
pub const AGENT_KEYS: &[&str] = &[
    "director",
    "connection-retries",
    "master-timeout",
    "moduledir",
    "logfile",
    "loglevel",
    "master-port",
    "secret",
    "source-address",
];

/// The section names of the agent file.
pub const AGENT_SECTIONS: &[&str] = &["service"];

/// The forwarding names of a `[service]` (any case).
pub const FORWARDING_NAMES: &[&str] = &["NAT", "TUN", "DR"];

/// Default `logfile` of the agent.
pub const DEFAULT_AGENT_LOGFILE: &str = "/var/log/feedbackd-agent.log";

/// Default `moduledir`.
pub const DEFAULT_MODULEDIR: &str = "/usr/lib/feedbackd-agent";

/// Default `master-timeout`, per the HOWTO's "Master Timeout" section.
pub const DEFAULT_MASTER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the master runs: an address, or a host name resolved when connecting (the loader does
/// no I/O).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Director {
    /// An IPv4 or IPv6 address.
    Addr(IpAddr),
    /// A host name (RFC 1123 syntax), as written.
    Host(String),
}

impl fmt::Display for Director {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Director::Addr(a) => write!(f, "{a}"),
            Director::Host(h) => f.write_str(h),
        }
    }
}

/// A `[service]` the agent announces to the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentService {
    /// `name`: symbolic name, used in logging.
    pub name: String,
    /// `protocol`: tcp, udp or (extension) sctp.
    pub protocol: Protocol,
    /// `port`: 1..=65535.
    pub port: u16,
    /// `forwarding`: NAT = [`Forwarding::Masq`], TUN = IP-in-IP tunnel, DR =
    /// [`Forwarding::DirectRoute`].
    pub forwarding: Forwarding,
    /// `monitor` and its options.
    pub monitor: Monitor,
    /// The line of the `[service]` header.
    pub line: u32,
}

/// The validated `feedbackd-agent.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// The label the configuration was loaded from (the file name), for messages.
    pub source: String,
    /// `director` (mandatory): where the master runs.
    pub director: Director,
    /// `master-port` (extension): the master's NECP port (default 3262).
    pub master_port: u16,
    /// `connection-retries`: connection attempts before giving up; 0 = never give up (default).
    pub connection_retries: u32,
    /// `master-timeout`: silence from the master after which the agent reconnects (default
    /// 30 s).
    pub master_timeout: Duration,
    /// `moduledir`: where the original loads monitor plugins (default
    /// `/usr/lib/feedbackd-agent`); kept for compatibility, the built-in monitors do not use it.
    pub moduledir: PathBuf,
    /// `logfile` (default `/var/log/feedbackd-agent.log`).
    pub logfile: PathBuf,
    /// `loglevel` (default WARN).
    pub loglevel: LogLevel,
    /// `secret` (extension): NECP shared secret; the agent then authenticates.
    pub secret: Option<Secret>,
    /// `source-address` (extension): the local address the agent connects from. The master
    /// adds the real server at the address it sees, so on a host with several addresses this
    /// chooses the one the director forwards to. Default: the kernel's choice.
    pub source_address: Option<IpAddr>,
    /// The `[service]` sections, in file order (at least one).
    pub services: Vec<AgentService>,
}

impl AgentConfig {
    /// Validates a raw agent file: `services` resolves port names, `monitors` says which
    /// monitors exist.
    pub fn from_raw(
        raw: &RawConfigFile,
        services: &ServicesDb,
        monitors: &MonitorRegistry,
    ) -> Result<Self, ParseError> {
        let file = raw.file.as_str();
        let mut service_keys: Vec<&str> = SERVICE_KEYS.to_vec();
        service_keys.extend(monitors.all_option_keys());
        let g = Fields::collect(
            file,
            None,
            0,
            &raw.globals,
            &KeyRules {
                allowed: AGENT_KEYS,
                repeatable: &[],
                misplaced: &service_keys,
                misplaced_msg:
                    "this key belongs in a `[service]` section; put a `[service]` line above it",
            },
        )?;
        // Key-level problems first, in file order (the monitor decides which option keys a
        // section may hold; without one, every monitor's keys are accepted and the missing
        // `monitor` is reported with the values), then values.
        let mut blocks = Vec::with_capacity(raw.sections.len());
        for s in &raw.sections {
            values::check_section_name(file, s, AGENT_SECTIONS)?;
            let label = values::section_label(s);
            let spec = match s.entries.iter().find(|e| e.key == "monitor") {
                Some(e) if !e.value.is_empty() => {
                    Some(monitors.resolve(&e.value).map_err(|k| {
                        ParseError::new(
                            Location::new(file, e.line, None),
                            Some(format!("{label} key `monitor`")),
                            k,
                        )
                    })?)
                }
                _ => None,
            };
            let mut allowed: Vec<&str> = SERVICE_KEYS.to_vec();
            match spec {
                Some(spec) => allowed.extend(spec.options().iter().map(|o| o.key())),
                None => allowed.extend(monitors.all_option_keys()),
            }
            let f = Fields::collect(
                file,
                Some(label),
                s.line,
                &s.entries,
                &KeyRules {
                    allowed: &allowed,
                    repeatable: &[],
                    misplaced: AGENT_KEYS,
                    misplaced_msg: "this is a global key; move it above the first section",
                },
            )?;
            blocks.push((s.line, f, spec));
        }
        let director = g.parse_required("director", director)?;
        let mut cfg = AgentConfig {
            source: file.to_string(),
            director,
            master_port: g.parse_or("master-port", NECP_PORT, |v| {
                values::uint(v, 1, 65_535, "").map(|p| u16::try_from(p).unwrap_or(NECP_PORT))
            })?,
            connection_retries: g.parse_or("connection-retries", 0, |v| {
                values::uint32(v, 0, u32::MAX, "")
            })?,
            master_timeout: g.parse_or(
                "master-timeout",
                DEFAULT_MASTER_TIMEOUT,
                values::seconds,
            )?,
            moduledir: g.parse_or("moduledir", PathBuf::from(DEFAULT_MODULEDIR), |v| {
                Ok(PathBuf::from(v))
            })?,
            logfile: g.parse_or("logfile", PathBuf::from(DEFAULT_AGENT_LOGFILE), |v| {
                Ok(PathBuf::from(v))
            })?,
            loglevel: g.parse_or("loglevel", LogLevel::default(), values::log_level)?,
            secret: g.parse_or("secret", None, |v| Ok(Some(Secret::new(v))))?,
            source_address: g.parse_or("source-address", None, |v| {
                values::unicast_addr(v).map(Some)
            })?,
            services: Vec::new(),
        };

        let mut by_key: BTreeMap<(Protocol, u16), u32> = BTreeMap::new();
        let mut by_name: BTreeMap<String, u32> = BTreeMap::new();
        for (line, f, spec) in &blocks {
            let line = *line;
            for key in SERVICE_KEYS {
                f.require(key)?;
            }
            let name = f.parse_required("name", values::text)?;
            let protocol = f.parse_required("protocol", values::protocol)?;
            let port = f.parse_required("port", |v| values::nonzero_port(v, protocol, services))?;
            let forwarding = f.parse_required("forwarding", forwarding)?;
            let monitor = match spec {
                Some(spec) => spec.build(f)?,
                None => {
                    return Err(f.block_error(ParseErrorKind::Missing {
                        what: "key",
                        name: "monitor".into(),
                    }))
                }
            };
            if let Some(first_line) = by_key.insert((protocol, port), line) {
                return Err(f.block_error(ParseErrorKind::Duplicate {
                    what: "service",
                    key: format!("{protocol} port {port}"),
                    first_line,
                }));
            }
            if let Some(first_line) = by_name.insert(name.clone(), line) {
                return Err(f.block_error(ParseErrorKind::Duplicate {
                    what: "service name",
                    key: format!("`{}`", quote(&name)),
                    first_line,
                }));
            }
            cfg.services.push(AgentService {
                name,
                protocol,
                port,
                forwarding,
                monitor,
                line,
            });
        }
        if cfg.services.is_empty() {
            return Err(ParseError::new(
                Location::new(file, 0, None),
                None,
                ParseErrorKind::Missing {
                    what: "section",
                    name: "[service]".into(),
                },
            ));
        }
        Ok(cfg)
    }
}

fn forwarding(v: &str) -> Result<Forwarding, ParseErrorKind> {
    match v.to_ascii_uppercase().as_str() {
        "NAT" => Ok(Forwarding::Masq),
        "TUN" => Ok(Forwarding::Tunnel(Tunnel::Ipip)),
        "DR" => Ok(Forwarding::DirectRoute),
        _ => Err(ParseErrorKind::UnknownForwarding {
            name: quote(v),
            known: FORWARDING_NAMES.iter().map(|s| s.to_string()).collect(),
        }),
    }
}

/// True for a host name in RFC 1123 syntax: dot-separated labels of letters, digits and `-`
/// (not at either end), 1..=63 characters each, 253 in all; one trailing dot allowed.
fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn director(v: &str) -> Result<Director, ParseErrorKind> {
    if v.parse::<IpAddr>().is_ok() {
        return values::unicast_addr(v).map(Director::Addr);
    }
    if v.starts_with('$') {
        return Err(ParseErrorKind::InvalidValue {
            value: quote(v),
            reason: "an unexpanded placeholder (the sample file's `$DIP`); write the director's IP address or host name".into(),
        });
    }
    if !is_host_name(v) {
        return Err(ParseErrorKind::InvalidValue {
            value: quote(v),
            reason: "not an IP address or a host name (letters, digits, `-` and `.`)".into(),
        });
    }
    let last = v.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseErrorKind::InvalidAddress {
            value: quote(v),
            reason: "not an IPv4 or IPv6 address".into(),
        });
    }
    Ok(Director::Host(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directors() {
        assert_eq!(
            director("192.0.2.1"),
            Ok(Director::Addr("192.0.2.1".parse().expect("ip")))
        );
        assert_eq!(
            director("2001:db8::1"),
            Ok(Director::Addr("2001:db8::1".parse().expect("ip")))
        );
        assert_eq!(
            director("lvs-1.example.org."),
            Ok(Director::Host("lvs-1.example.org.".into()))
        );
        for bad in [
            "$DIP",
            "a b",
            "-x.org",
            "x-.org",
            "a..b",
            "192.0.2.300",
            "10.1",
            "0.0.0.0",
            "224.0.0.1",
            "under_score.org",
        ] {
            assert!(director(bad).is_err(), "{bad}");
        }
        assert!(director(&"a".repeat(64)).is_err());
        assert!(director(&["a"; 128].join(".")).is_err());
        assert!(director(&["a"; 127].join(".")).is_ok());
    }

    #[test]
    fn forwarding_names() {
        assert_eq!(forwarding("nat"), Ok(Forwarding::Masq));
        assert_eq!(forwarding("Tun"), Ok(Forwarding::Tunnel(Tunnel::Ipip)));
        assert_eq!(forwarding("DR"), Ok(Forwarding::DirectRoute));
        assert!(forwarding("masq").is_err());
    }
}

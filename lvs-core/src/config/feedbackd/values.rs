//! Value types shared by both files and the key-collection helper of the validated stage.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use super::raw::{quote, RawEntry, RawSection};
use super::services_db::ServicesDb;
use crate::error::{closest, Location, ParseError, ParseErrorKind};
use crate::model::Protocol;

/// A feedbackd log level, in order of increasing verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LogLevel {
    /// `CRIT`: critical messages.
    Crit,
    /// `ERR`: errors.
    Err,
    /// `WARN`: warnings (the default).
    #[default]
    Warn,
    /// `INFO`: informational messages.
    Info,
    /// `DEBUG`: debugging messages.
    Debug,
    /// `VDEBUG`: verbose debugging.
    Vdebug,
}

impl LogLevel {
    /// The names, in level order, as the HOWTO writes them.
    pub const NAMES: &'static [&'static str] = &["CRIT", "ERR", "WARN", "INFO", "DEBUG", "VDEBUG"];

    /// The name as the HOWTO writes it (`WARN`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Crit => "CRIT",
            LogLevel::Err => "ERR",
            LogLevel::Warn => "WARN",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
            LogLevel::Vdebug => "VDEBUG",
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;

    /// One of [`LogLevel::NAMES`], any case.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "CRIT" => LogLevel::Crit,
            "ERR" => LogLevel::Err,
            "WARN" => LogLevel::Warn,
            "INFO" => LogLevel::Info,
            "DEBUG" => LogLevel::Debug,
            "VDEBUG" => LogLevel::Vdebug,
            _ => {
                return Err(format!(
                    "unknown log level; known: {}",
                    LogLevel::NAMES.join(", ")
                ))
            }
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The NECP shared secret. Its `Debug` form does not show it, so a configuration can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for keying the HMAC.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The keys of one block (the globals or a section), collected and checked for unknown,
/// misplaced and repeated keys, with helpers that locate value errors.
pub(super) struct Fields<'a> {
    file: &'a str,
    /// `[service] `http`` for a section, `None` for the globals.
    section: Option<String>,
    /// The section's header line, 0 for the globals.
    header_line: u32,
    single: BTreeMap<&'a str, &'a RawEntry>,
    repeated: Vec<&'a RawEntry>,
}

/// What [`Fields::collect`] accepts in one block.
pub(super) struct KeyRules<'k> {
    /// Keys allowed once.
    pub allowed: &'k [&'k str],
    /// Keys allowed any number of times (also listed in `allowed`).
    pub repeatable: &'k [&'k str],
    /// Keys that belong to the other kind of block, with the message that says where they go.
    pub misplaced: &'k [&'k str],
    /// The message for a misplaced key (`{key}` is replaced).
    pub misplaced_msg: &'k str,
}

impl<'a> Fields<'a> {
    /// Collects `entries`: unknown keys, misplaced keys, empty values and keys given twice are
    /// errors, reported in file order.
    pub(super) fn collect(
        file: &'a str,
        section: Option<String>,
        header_line: u32,
        entries: &'a [RawEntry],
        rules: &KeyRules<'_>,
    ) -> Result<Self, ParseError> {
        let mut f = Fields {
            file,
            section,
            header_line,
            single: BTreeMap::new(),
            repeated: Vec::new(),
        };
        for e in entries {
            let key = e.key.as_str();
            if !rules.allowed.contains(&key) {
                if rules.misplaced.contains(&key) {
                    return Err(f.error_at(
                        e.line,
                        Some(f.key_item(key)),
                        ParseErrorKind::Structure(rules.misplaced_msg.replace("{key}", key)),
                    ));
                }
                let allowed: Vec<String> = rules.allowed.iter().map(|s| s.to_string()).collect();
                return Err(f.error_at(
                    e.line,
                    f.section.clone(),
                    ParseErrorKind::UnknownAttribute {
                        what: "key",
                        name: e.key.clone(),
                        suggestion: closest(key, rules.allowed.iter().copied()),
                        allowed,
                    },
                ));
            }
            if e.value.is_empty() {
                return Err(f.value_error(
                    e,
                    ParseErrorKind::InvalidValue {
                        value: String::new(),
                        reason: "a value is required".into(),
                    },
                ));
            }
            if rules.repeatable.contains(&key) {
                f.repeated.push(e);
            } else if f.single.insert(key, e).is_some() {
                return Err(f.error_at(
                    e.line,
                    f.section.clone(),
                    ParseErrorKind::DuplicateAttribute(e.key.clone()),
                ));
            }
        }
        Ok(f)
    }

    fn error_at(&self, line: u32, item: Option<String>, kind: ParseErrorKind) -> ParseError {
        ParseError::new(Location::new(self.file, line, None), item, kind)
    }

    /// `key `port`` or `[service] `http` key `port``.
    fn key_item(&self, key: &str) -> String {
        match &self.section {
            Some(s) => format!("{s} key `{key}`"),
            None => format!("key `{key}`"),
        }
    }

    /// An error about the value of `entry`.
    pub(super) fn value_error(&self, entry: &RawEntry, kind: ParseErrorKind) -> ParseError {
        self.error_at(entry.line, Some(self.key_item(&entry.key)), kind)
    }

    /// An error about the whole block, at its header line (0 for the globals).
    pub(super) fn block_error(&self, kind: ParseErrorKind) -> ParseError {
        self.error_at(self.header_line, self.section.clone(), kind)
    }

    /// The entry of a single key, if given.
    pub(super) fn get(&self, key: &str) -> Option<&'a RawEntry> {
        self.single.get(key).copied()
    }

    /// Every entry of a repeatable key, in file order.
    pub(super) fn all(&self, key: &str) -> impl Iterator<Item = &'a RawEntry> + '_ {
        let key = key.to_string();
        self.repeated.iter().copied().filter(move |e| e.key == key)
    }

    /// The mandatory `key`, or a Missing error at the block's header.
    pub(super) fn require(&self, key: &str) -> Result<&'a RawEntry, ParseError> {
        self.get(key).ok_or_else(|| {
            self.block_error(ParseErrorKind::Missing {
                what: "key",
                name: key.to_string(),
            })
        })
    }

    /// `key` parsed with `parse`, or `default` when absent.
    pub(super) fn parse_or<T>(
        &self,
        key: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, ParseErrorKind>,
    ) -> Result<T, ParseError> {
        match self.get(key) {
            None => Ok(default),
            Some(e) => parse(&e.value).map_err(|k| self.value_error(e, k)),
        }
    }

    /// The mandatory `key` parsed with `parse`.
    pub(super) fn parse_required<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseErrorKind>,
    ) -> Result<T, ParseError> {
        let e = self.require(key)?;
        parse(&e.value).map_err(|k| self.value_error(e, k))
    }
}

/// `[service] `http`` (the first non-empty `name`), or `[service]` without one.
pub(super) fn section_label(s: &RawSection) -> String {
    match s
        .entries
        .iter()
        .find(|e| e.key == "name" && !e.value.is_empty())
    {
        Some(e) => format!("[{}] `{}`", s.name, quote(&e.value)),
        None => format!("[{}]", s.name),
    }
}

/// An error unless the section's name is one of `allowed`.
pub(super) fn check_section_name(
    file: &str,
    s: &RawSection,
    allowed: &[&str],
) -> Result<(), ParseError> {
    if allowed.contains(&s.name.as_str()) {
        return Ok(());
    }
    Err(ParseError::new(
        Location::new(file, s.line, None),
        Some(format!("section `[{}]`", quote(&s.name))),
        ParseErrorKind::UnknownElement {
            name: s.name.clone(),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
        },
    ))
}

fn invalid(value: &str, reason: impl Into<String>) -> ParseErrorKind {
    ParseErrorKind::InvalidValue {
        value: quote(value),
        reason: reason.into(),
    }
}

/// A whole number in `min..=max` (decimal digits only); `unit` (`" seconds"`) ends the reason.
pub(super) fn uint(value: &str, min: u64, max: u64, unit: &str) -> Result<u64, ParseErrorKind> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            value,
            format!("expected a whole number {min}..{max}{unit}"),
        ));
    }
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(
            value,
            format!("out of range; expected {min}..{max}{unit}"),
        )),
    }
}

/// A [`uint`] that fits `u32` (`max` at most `u32::MAX`).
pub(super) fn uint32(value: &str, min: u32, max: u32, unit: &str) -> Result<u32, ParseErrorKind> {
    let n = uint(value, u64::from(min), u64::from(max), unit)?;
    u32::try_from(n).map_err(|_| invalid(value, "out of range"))
}

/// Longest duration accepted, in seconds (one day).
pub(super) const MAX_SECONDS: u64 = 86_400;

/// Whole seconds, 1..=86400.
pub(super) fn seconds(value: &str) -> Result<Duration, ParseErrorKind> {
    uint(value, 1, MAX_SECONDS, " seconds").map(Duration::from_secs)
}

/// A log level, any case.
pub(super) fn log_level(value: &str) -> Result<LogLevel, ParseErrorKind> {
    value.parse().map_err(|e: String| invalid(value, e))
}

/// A protocol: `tcp`, `udp` or (extension) `sctp`, any case.
pub(super) fn protocol(value: &str) -> Result<Protocol, ParseErrorKind> {
    value
        .parse()
        .map_err(|_| invalid(value, "unknown protocol; known: tcp, udp, sctp"))
}

/// A port: 0..=65535 or a service name of `protocol` in `db`.
pub(super) fn port(
    value: &str,
    protocol: Protocol,
    db: &ServicesDb,
) -> Result<u16, ParseErrorKind> {
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return value
            .parse::<u16>()
            .map_err(|_| ParseErrorKind::PortOutOfRange(quote(value)));
    }
    if let Some(p) = db.lookup(value, protocol) {
        return Ok(p);
    }
    let hint = closest(value, db.names(protocol))
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    Err(invalid(
        value,
        format!(
            "not a port number or a known {protocol} service name{hint}; use a number 1..65535 or a name from /etc/services"
        ),
    ))
}

/// A port for a service a client connects to: as [`port`], but not 0.
pub(super) fn nonzero_port(
    value: &str,
    protocol: Protocol,
    db: &ServicesDb,
) -> Result<u16, ParseErrorKind> {
    match port(value, protocol, db)? {
        0 => Err(invalid(value, "port 0 is not a usable port; use 1..65535")),
        p => Ok(p),
    }
}

/// An IP address.
pub(super) fn ip_addr(value: &str) -> Result<IpAddr, ParseErrorKind> {
    value.parse().map_err(|_| ParseErrorKind::InvalidAddress {
        value: quote(value),
        reason: "not an IPv4 or IPv6 address".into(),
    })
}

/// An address something is sent to: not unspecified, not multicast or broadcast.
pub(super) fn unicast_addr(value: &str) -> Result<IpAddr, ParseErrorKind> {
    let a = ip_addr(value)?;
    let bad = |reason: &str| ParseErrorKind::InvalidAddress {
        value: quote(value),
        reason: reason.into(),
    };
    if a.is_unspecified() {
        return Err(bad("the unspecified address is not usable here"));
    }
    if a.is_multicast() || a == IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        return Err(bad("a multicast or broadcast address is not usable here"));
    }
    Ok(a)
}

/// Any text (already non-empty, without control characters).
pub(super) fn text(value: &str) -> Result<String, ParseErrorKind> {
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(uint("5", 1, 10, ""), Ok(5));
        assert_eq!(
            uint("0", 1, 10, " seconds").map_err(|e| e.to_string()),
            Err("invalid value `0`: out of range; expected 1..10 seconds".into())
        );
        assert_eq!(
            uint("+5", 1, 10, "").map_err(|e| e.to_string()),
            Err("invalid value `+5`: expected a whole number 1..10".into())
        );
        assert!(uint("99999999999999999999999", 0, u64::MAX, "").is_err());
        assert_eq!(seconds("86400"), Ok(Duration::from_secs(86_400)));
        assert!(seconds("86401").is_err());
    }

    #[test]
    fn log_levels_any_case() {
        for (i, n) in LogLevel::NAMES.iter().enumerate() {
            let l = log_level(&n.to_lowercase()).expect("level");
            assert_eq!(LogLevel::NAMES[i], l.as_str());
            assert_eq!(l.to_string(), *n);
        }
        assert!(LogLevel::Crit < LogLevel::Vdebug);
        assert_eq!(LogLevel::default(), LogLevel::Warn);
    }

    #[test]
    fn ports() {
        let db = ServicesDb::builtin();
        assert_eq!(port("80", Protocol::Tcp, &db), Ok(80));
        assert_eq!(port("0", Protocol::Tcp, &db), Ok(0));
        assert_eq!(port("http", Protocol::Tcp, &db), Ok(80));
        assert_eq!(
            port("65536", Protocol::Tcp, &db),
            Err(ParseErrorKind::PortOutOfRange("65536".into()))
        );
        assert_eq!(
            port("htttp", Protocol::Tcp, &db).map_err(|e| e.to_string()),
            Err("invalid value `htttp`: not a port number or a known tcp service name (did you mean `http`?); use a number 1..65535 or a name from /etc/services".into())
        );
        assert!(nonzero_port("0", Protocol::Udp, &db).is_err());
    }

    #[test]
    fn secret_is_not_shown() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }
}

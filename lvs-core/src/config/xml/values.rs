//! Checks of single attribute values. Each returns the typed value or the [`ParseErrorKind`]
//! the caller locates.
//!
//! Numbers are strict where the original used `atoi`: surrounding whitespace is allowed, but a
//! sign on an unsigned value, trailing text or an empty value is rejected rather than read as 0.

use std::net::IpAddr;

use crate::error::ParseErrorKind;

fn invalid(value: &str, reason: impl Into<String>) -> ParseErrorKind {
    ParseErrorKind::InvalidValue {
        value: clip(value),
        reason: reason.into(),
    }
}

/// A value as shown in a message: at most 64 characters (longer ones are cut, with `...`).
pub(crate) fn clip(value: &str) -> String {
    if value.chars().count() <= 64 {
        value.to_string()
    } else {
        let mut s: String = value.chars().take(60).collect();
        s.push_str("...");
        s
    }
}

/// Whether `t` is an optionally negative run of decimal digits.
fn is_integer(t: &str) -> bool {
    let digits = t.strip_prefix('-').unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A non-empty string of at most `max_len` bytes.
pub(crate) fn string(value: &str, max_len: usize) -> Result<&str, ParseErrorKind> {
    if value.is_empty() {
        return Err(invalid(value, "must not be empty"));
    }
    if value.len() > max_len {
        return Err(invalid(
            value,
            format!("longer than {max_len} bytes ({} bytes)", value.len()),
        ));
    }
    Ok(value)
}

/// An unsigned 32-bit integer.
pub(crate) fn uint(value: &str) -> Result<u32, ParseErrorKind> {
    let t = value.trim();
    if t.starts_with('-') && is_integer(t) {
        return Err(invalid(
            value,
            "expected an unsigned integer (the original read negative values as 0; we reject them)",
        ));
    }
    if !is_integer(t) {
        return Err(invalid(value, "expected an unsigned integer"));
    }
    t.parse()
        .map_err(|_| invalid(value, "out of range (0..4294967295)"))
}

/// A signed 64-bit integer.
pub(crate) fn int(value: &str) -> Result<i64, ParseErrorKind> {
    let t = value.trim();
    if !is_integer(t) {
        return Err(invalid(value, "expected an integer"));
    }
    t.parse().map_err(|_| invalid(value, "out of range"))
}

/// A port, 0..=65535.
pub(crate) fn port(value: &str) -> Result<u16, ParseErrorKind> {
    let t = value.trim();
    if !is_integer(t) {
        return Err(invalid(value, "expected a port number (0..65535)"));
    }
    t.parse()
        .map_err(|_| ParseErrorKind::PortOutOfRange(clip(value)))
}

/// A weight, 0..=65535.
pub(crate) fn weight(value: &str) -> Result<u32, ParseErrorKind> {
    let t = value.trim();
    if !is_integer(t) {
        return Err(invalid(value, "expected a weight (0..65535)"));
    }
    match t.parse::<i64>() {
        Ok(n @ 0..=65535) => Ok(u32::try_from(n).unwrap_or(0)),
        _ => Err(ParseErrorKind::WeightOutOfRange {
            value: clip(value),
            min: 0,
            max: 65535,
        }),
    }
}

/// `true`/`on`/`1` or `false`/`off`/`0`, any case.
pub(crate) fn boolean(value: &str) -> Result<bool, ParseErrorKind> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "1" => Ok(true),
        "false" | "off" | "0" => Ok(false),
        _ => Err(invalid(value, "expected true, on, 1, false, off or 0")),
    }
}

/// An IPv4 or IPv6 address that is not multicast or 255.255.255.255 (nor unspecified when `allow_unspecified` is
/// false).
pub(crate) fn address(value: &str, allow_unspecified: bool) -> Result<IpAddr, ParseErrorKind> {
    let bad = |reason: &str| ParseErrorKind::InvalidAddress {
        value: clip(value),
        reason: reason.to_string(),
    };
    let addr: IpAddr = value
        .trim()
        .parse()
        .map_err(|_| bad("not an IPv4 or IPv6 address"))?;
    if addr.is_multicast() {
        return Err(bad("multicast addresses are not allowed"));
    }
    if addr == IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        return Err(bad("the broadcast address is not allowed"));
    }
    if !allow_unspecified && addr.is_unspecified() {
        return Err(bad("the unspecified address is not allowed"));
    }
    Ok(addr)
}

/// A virtual or real name: 1 to 127 bytes, no whitespace or control character (names are
/// written into space-separated files such as `ipvsfull.cfg`).
pub(crate) fn name(value: &str) -> Result<&str, ParseErrorKind> {
    if value.is_empty() {
        return Err(invalid(value, "must not be empty"));
    }
    if value.len() > 127 {
        return Err(invalid(
            value,
            format!("longer than 127 bytes ({} bytes)", value.len()),
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            value,
            "names may not contain whitespace or control characters (they are written into \
             space-separated state files)",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_strict() {
        assert_eq!(uint(" 12 "), Ok(12));
        assert!(uint("12abc").is_err());
        assert!(uint("-1").is_err());
        assert!(uint("").is_err());
        assert!(uint("+3").is_err());
        assert!(uint("99999999999").is_err());
        assert_eq!(int("-7"), Ok(-7));
        assert_eq!(port("65535"), Ok(65535));
        assert_eq!(
            port("65536"),
            Err(ParseErrorKind::PortOutOfRange("65536".into()))
        );
        assert_eq!(port("-1"), Err(ParseErrorKind::PortOutOfRange("-1".into())));
        assert!(matches!(
            port("http"),
            Err(ParseErrorKind::InvalidValue { .. })
        ));
        assert!(matches!(
            weight("-1"),
            Err(ParseErrorKind::WeightOutOfRange { .. })
        ));
        assert_eq!(weight("0"), Ok(0));
    }

    #[test]
    fn booleans_and_addresses() {
        assert_eq!(boolean("ON"), Ok(true));
        assert_eq!(boolean("Off"), Ok(false));
        assert!(boolean("yes").is_err());
        assert!(address("224.0.0.1", true).is_err());
        assert!(address("ff02::1", true).is_err());
        assert!(address("0.0.0.0", false).is_err());
        assert!(address("0.0.0.0", true).is_ok());
        assert!(address("2001:db8::1", false).is_ok());
        assert!(address("10.1", false).is_err());
    }
}

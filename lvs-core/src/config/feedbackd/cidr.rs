//! IPv4 and IPv6 networks in CIDR notation, for the master's `allow` list.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network: an address whose host bits are zero and a prefix length.
///
/// Parsing accepts `address/prefix` and a bare address (a single host, `/32` or `/128`). Host
/// bits set in the address are cleared (`10.1.2.3/8` is `10.0.0.0/8`), the usual reading of
/// such a line; [`Cidr::had_host_bits`] tells whether the text had them.
///
/// An IPv4-mapped IPv6 network with a prefix of 96 or more (`::ffff:10.0.0.0/104`) is the IPv4
/// network it carries (`10.0.0.0/8`): peers are matched as IPv4 addresses (see
/// [`Cidr::contains`]), so the mapped form would otherwise never match anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `addr` with `prefix` bits (at most 32 for IPv4, 128 for IPv6); host bits
    /// are cleared. An IPv4-mapped IPv6 address with a prefix of at least 96 gives the IPv4
    /// network (`::ffff:10.0.0.0/104` is `10.0.0.0/8`).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, String> {
        if let IpAddr::V6(a) = addr {
            if let (Some(v4), 96..=128) = (a.to_ipv4_mapped(), prefix) {
                return Self::new(IpAddr::V4(v4), prefix - 96);
            }
        }
        let network = match addr {
            IpAddr::V4(a) => {
                if prefix > 32 {
                    return Err(format!("prefix length /{prefix} is longer than 32"));
                }
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                if prefix > 128 {
                    return Err(format!("prefix length /{prefix} is longer than 128"));
                }
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        Ok(Self { network, prefix })
    }

    /// The network address (host bits zero).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// True when `addr` is in the network. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as
    /// a dual-stack socket reports IPv4 peers) is matched as the IPv4 address it carries.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        match Self::new(addr, self.prefix) {
            Ok(c) => c.network == self.network,
            Err(_) => false,
        }
    }

    /// Whether `text`, parsed as a network, had host bits set (`10.1.2.3/8`).
    pub fn had_host_bits(text: &str) -> bool {
        let addr = text.split('/').next().unwrap_or("");
        match (addr.parse::<IpAddr>(), text.parse::<Cidr>()) {
            // The address as a host network, so that a mapped address compares as IPv4.
            (Ok(a), Ok(c)) => {
                let host = if a.is_ipv4() { 32 } else { 128 };
                Self::new(a, host).is_ok_and(|h| h.network != c.network)
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `address/prefix` or a bare address; the prefix is decimal digits only.
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("prefix length `{p}` is not a number 0..{max}"));
                }
                p.parse::<u8>()
                    .map_err(|_| format!("prefix length `{p}` is not a number 0..{max}"))?
            }
        };
        Self::new(addr, prefix)
    }
}

impl fmt::Display for Cidr {
    /// `192.0.2.0/24`, `2001:db8::/32`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().expect(s)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect(s)
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(c("192.0.2.0/24").to_string(), "192.0.2.0/24");
        assert_eq!(c("192.0.2.77/24").to_string(), "192.0.2.0/24");
        assert_eq!(c("10.1.2.3/0").to_string(), "0.0.0.0/0");
        assert_eq!(c("198.51.100.7").to_string(), "198.51.100.7/32");
        assert_eq!(c("2001:db8::1/32").to_string(), "2001:db8::/32");
        assert_eq!(c("2001:db8::1").to_string(), "2001:db8::1/128");
        assert_eq!(c("::/0").to_string(), "::/0");
        assert!(Cidr::had_host_bits("192.0.2.77/24"));
        assert!(!Cidr::had_host_bits("192.0.2.0/24"));
    }

    #[test]
    fn rejects() {
        for (s, why) in [
            ("192.0.2.0/33", "prefix length /33 is longer than 32"),
            ("2001:db8::/129", "prefix length /129 is longer than 128"),
            ("192.0.2.0/", "prefix length `` is not a number 0..32"),
            ("192.0.2.0/+8", "prefix length `+8` is not a number 0..32"),
            ("192.0.2.0/8/8", "prefix length `8/8` is not a number 0..32"),
            (
                "2001:db8::/1000",
                "prefix length `1000` is not a number 0..128",
            ),
            (
                "example.com/8",
                "`example.com` is not an IPv4 or IPv6 address",
            ),
            ("10.0.0/8", "`10.0.0` is not an IPv4 or IPv6 address"),
        ] {
            assert_eq!(s.parse::<Cidr>(), Err(why.to_string()), "{s}");
        }
    }

    #[test]
    fn contains() {
        let net = c("192.0.2.0/24");
        assert!(net.contains(ip("192.0.2.1")));
        assert!(net.contains(ip("192.0.2.255")));
        assert!(!net.contains(ip("192.0.3.1")));
        assert!(net.contains(ip("::ffff:192.0.2.9")));
        assert!(!net.contains(ip("2001:db8::1")));
        assert!(c("0.0.0.0/0").contains(ip("203.0.113.5")));
        assert!(!c("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(c("::/0").contains(ip("2001:db8::1")));
        assert!(c("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!c("2001:db8::/32").contains(ip("2001:db9::1")));
        assert!(c("198.51.100.7").contains(ip("198.51.100.7")));
        assert!(!c("198.51.100.7").contains(ip("198.51.100.8")));
    }

    #[test]
    fn ipv4_mapped_networks_are_ipv4_networks() {
        let net = c("::ffff:10.0.0.0/104");
        assert_eq!(net, c("10.0.0.0/8"));
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains(ip("10.1.2.3")));
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::ffff:11.0.0.1")));
        // A bare mapped address is one IPv4 host; /96 is every IPv4 address.
        assert_eq!(c("::ffff:192.0.2.7").to_string(), "192.0.2.7/32");
        assert!(c("::ffff:192.0.2.7").contains(ip("::ffff:192.0.2.7")));
        assert_eq!(c("::ffff:0.0.0.0/96").to_string(), "0.0.0.0/0");
        assert!(c("::ffff:0:0/96").contains(ip("203.0.113.5")));
        // Host bits in the mapped form are cleared and reported as for IPv4.
        assert_eq!(c("::ffff:10.1.2.3/104").to_string(), "10.0.0.0/8");
        assert!(Cidr::had_host_bits("::ffff:10.1.2.3/104"));
        assert!(!Cidr::had_host_bits("::ffff:10.0.0.0/104"));
        assert!(!Cidr::had_host_bits("::ffff:10.0.0.1"));
        // Shorter prefixes are IPv6 networks, matching IPv6 peers only, as `::/0`.
        assert_eq!(c("::ffff:0:0/95").to_string(), "::fffe:0:0/95");
        assert!(!c("::/0").contains(ip("::ffff:10.0.0.1")));
    }
}

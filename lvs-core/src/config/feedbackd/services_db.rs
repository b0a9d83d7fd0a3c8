//! Port numbers by name: a pure parser of `/etc/services` and a small built-in table.

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::Protocol;
use crate::Error;

/// The built-in table used when `/etc/services` is absent (each name for TCP and UDP).
pub const BUILTIN_SERVICES: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ssh", 22),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("pop3", 110),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("imaps", 993),
    ("pop3s", 995),
    ("mysql", 3306),
    ("postgresql", 5432),
    ("http-alt", 8080),
];

/// Service names (and aliases) to ports, per protocol, as `getservbyname(3)` sees them: names
/// are case-sensitive and the first line that defines a name for a protocol wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicesDb {
    ports: BTreeMap<(Protocol, String), u16>,
}

fn protocol_of(s: &str) -> Option<Protocol> {
    match s {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        "sctp" => Some(Protocol::Sctp),
        _ => None,
    }
}

impl ServicesDb {
    /// An empty database: only numeric ports resolve.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses the text of an `/etc/services` file: `name port/protocol [alias...] [# comment]`
    /// per line. Lines that do not fit (and protocols other than tcp, udp and sctp) are skipped,
    /// as the C library skips them; this never fails.
    pub fn parse(text: &str) -> Self {
        let mut db = Self::empty();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(port_proto)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            let (Some(proto), Ok(port)) = (protocol_of(proto), port.parse::<u16>()) else {
                continue;
            };
            for n in std::iter::once(name).chain(words) {
                db.insert(n, proto, port);
            }
        }
        db
    }

    /// The [`BUILTIN_SERVICES`] table, each name for TCP and UDP.
    pub fn builtin() -> Self {
        let mut db = Self::empty();
        for (name, port) in BUILTIN_SERVICES {
            db.insert(name, Protocol::Tcp, *port);
            db.insert(name, Protocol::Udp, *port);
        }
        db
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        crate::fsutil::read_text(path, crate::fsutil::CommentRule::Anywhere)
            .map(|t| Self::parse(&t))
    }

    /// `/etc/services` when it can be read, otherwise [`ServicesDb::builtin`].
    pub fn system() -> Self {
        Self::load(Path::new("/etc/services")).unwrap_or_else(|_| Self::builtin())
    }

    /// Adds `name` for `protocol` unless the name is already defined for it (first wins).
    pub fn insert(&mut self, name: &str, protocol: Protocol, port: u16) {
        self.ports
            .entry((protocol, name.to_string()))
            .or_insert(port);
    }

    /// The port of `name` for `protocol`. SCTP names not in the database fall back to the TCP
    /// entry (most files list few SCTP services).
    pub fn lookup(&self, name: &str, protocol: Protocol) -> Option<u16> {
        let get = |p| self.ports.get(&(p, name.to_string())).copied();
        get(protocol).or_else(|| {
            if protocol == Protocol::Sctp {
                get(Protocol::Tcp)
            } else {
                None
            }
        })
    }

    /// Every name known for `protocol`, in sorted order.
    pub fn names(&self, protocol: Protocol) -> impl Iterator<Item = &str> {
        self.ports
            .keys()
            .filter(move |(p, _)| *p == protocol)
            .map(|(_, n)| n.as_str())
    }

    /// The number of (name, protocol) pairs.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// True when nothing is defined.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_aliases_and_comments() {
        let db = ServicesDb::parse(
            "# Network services\n\
             http\t\t80/tcp\t\twww www-http\t# WorldWideWeb HTTP\n\
             domain 53/udp\n\
             bad 99999/tcp\n\
             weird x/tcp\n\
             ddp 37/ddp\n\
             onlyname\n\
             http 8000/tcp\n\
             sctp-thing 9/sctp\n",
        );
        assert_eq!(db.lookup("http", Protocol::Tcp), Some(80));
        assert_eq!(db.lookup("www", Protocol::Tcp), Some(80));
        assert_eq!(db.lookup("http", Protocol::Udp), None);
        assert_eq!(db.lookup("http", Protocol::Sctp), Some(80));
        assert_eq!(db.lookup("domain", Protocol::Udp), Some(53));
        assert_eq!(db.lookup("bad", Protocol::Tcp), None);
        assert_eq!(db.lookup("ddp", Protocol::Tcp), None);
        assert_eq!(db.lookup("sctp-thing", Protocol::Sctp), Some(9));
        assert_eq!(db.lookup("HTTP", Protocol::Tcp), None);
        assert_eq!(db.len(), 5);
    }

    #[test]
    fn builtin_table() {
        let db = ServicesDb::builtin();
        assert_eq!(db.len(), 2 * BUILTIN_SERVICES.len());
        assert_eq!(db.lookup("smtp", Protocol::Tcp), Some(25));
        assert_eq!(db.lookup("ntp", Protocol::Udp), Some(123));
        assert_eq!(db.lookup("http-alt", Protocol::Tcp), Some(8080));
        assert!(db.names(Protocol::Tcp).any(|n| n == "postgresql"));
    }

    #[test]
    fn system_never_fails() {
        let db = ServicesDb::system();
        assert!(!db.is_empty());
    }
}

//! Argument helpers shared by the examples (each uses some of them).
#![allow(dead_code)]

use std::error::Error;
use std::net::SocketAddr;

use lvs_core::model::{AddressFamily, Forwarding, Protocol, ServiceKey};

/// The examples' error type.
pub(crate) type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// A service as ipvsadm writes it: `tcp 10.0.0.1:80`, `udp [2001:db8::1]:53`, `fwmark 42`,
/// `fwmark6 42`. Consumes two arguments.
pub(crate) fn service_key(kind: &str, what: &str) -> Result<ServiceKey> {
    Ok(match kind {
        "fwmark" | "fwmark6" => ServiceKey::Fwmark {
            af: if kind == "fwmark6" {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            },
            mark: what.parse()?,
        },
        proto => {
            let protocol: Protocol = proto.parse()?;
            let sa: SocketAddr = what.parse()?;
            ServiceKey::Inet {
                protocol,
                addr: sa.ip(),
                port: sa.port(),
            }
        }
    })
}

/// `dr`, `masq`, `tun`, `local` (and the other names of [`Forwarding::parse`]).
pub(crate) fn forwarding(name: &str) -> Result<Forwarding> {
    Forwarding::parse(name).ok_or_else(|| format!("unknown forwarding method `{name}`").into())
}

/// The arguments after the program name, or the usage line.
pub(crate) fn args(min: usize, usage: &str) -> Result<Vec<String>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < min || a.iter().any(|x| x == "-h" || x == "--help") {
        return Err(format!("usage: {usage}").into());
    }
    Ok(a)
}

//! The crate's error: which operation, on which object, and what the kernel's errno means for
//! an operator.

use std::fmt;
use std::io;
use std::time::Duration;

use lvs_core::model::{DestKey, ServiceKey};

use crate::types::DaemonState;

/// An operation of the client, as named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Opening the netlink socket and resolving the "IPVS" family.
    Connect,
    /// Listing services.
    ListServices,
    /// Reading one service.
    GetService,
    /// Adding a service.
    AddService,
    /// Editing a service.
    EditService,
    /// Deleting a service.
    DeleteService,
    /// Listing the destinations of a service.
    ListDestinations,
    /// Adding a destination.
    AddDestination,
    /// Editing a destination.
    EditDestination,
    /// Deleting a destination.
    DeleteDestination,
    /// Reading the connection timeouts.
    GetTimeouts,
    /// Setting the connection timeouts.
    SetTimeouts,
    /// Listing the sync daemons.
    ListDaemons,
    /// Starting a sync daemon.
    StartDaemon,
    /// Stopping a sync daemon.
    StopDaemon,
    /// Zeroing counters.
    Zero,
    /// Deleting every service.
    Flush,
    /// Reading the version information.
    Info,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Connect => "connect to IPVS",
            Op::ListServices => "list services",
            Op::GetService => "get service",
            Op::AddService => "add service",
            Op::EditService => "edit service",
            Op::DeleteService => "delete service",
            Op::ListDestinations => "list destinations of",
            Op::AddDestination => "add destination",
            Op::EditDestination => "edit destination",
            Op::DeleteDestination => "delete destination",
            Op::GetTimeouts => "get timeouts",
            Op::SetTimeouts => "set timeouts",
            Op::ListDaemons => "list sync daemons",
            Op::StartDaemon => "start sync daemon",
            Op::StopDaemon => "stop sync daemon",
            Op::Zero => "zero counters",
            Op::Flush => "flush",
            Op::Info => "get IPVS info",
        })
    }
}

/// What an operation was about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Object {
    /// Nothing in particular (the whole table, the timeouts...).
    None,
    /// A service.
    Service(ServiceKey),
    /// A destination of a service.
    Destination(ServiceKey, DestKey),
    /// A sync daemon.
    Daemon(DaemonState),
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::None => Ok(()),
            Object::Service(k) => write!(f, " {k}"),
            Object::Destination(s, d) => write!(f, " {d} of {s}"),
            Object::Daemon(s) => write!(f, " {s}"),
        }
    }
}

/// What the kernel's errno means for the operation that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// EEXIST on adding a service.
    ServiceExists,
    /// ESRCH on anything addressing a service.
    NoSuchService,
    /// EEXIST on adding a destination.
    DestinationExists,
    /// ENOENT on editing or deleting a destination.
    NoSuchDestination,
    /// ENOENT on adding or editing a service: the scheduler or persistence engine module was not
    /// found.
    SchedulerNotFound,
    /// EEXIST on starting a sync daemon.
    DaemonRunning,
    /// ESRCH on stopping a sync daemon.
    NoDaemon,
    /// EINVAL.
    InvalidArgument,
    /// ERANGE.
    OutOfRange,
    /// EPERM.
    PermissionDenied,
    /// EOPNOTSUPP.
    NotSupported,
    /// EAFNOSUPPORT.
    AddressFamilyNotSupported,
    /// Any other errno.
    Other,
}

impl Reason {
    /// The meaning of `errno` (positive) for `op`, as ipvsadm's `ipvs_strerror` reads it.
    pub fn of(op: Op, errno: i32) -> Self {
        use Op::*;
        match (errno, op) {
            (libc::EEXIST, AddService) => Reason::ServiceExists,
            (libc::EEXIST, AddDestination) => Reason::DestinationExists,
            (libc::EEXIST, StartDaemon) => Reason::DaemonRunning,
            (libc::ESRCH, StopDaemon) => Reason::NoDaemon,
            (libc::ESRCH, _) => Reason::NoSuchService,
            (libc::ENOENT, AddService | EditService) => Reason::SchedulerNotFound,
            (libc::ENOENT, EditDestination | DeleteDestination) => Reason::NoSuchDestination,
            (libc::EINVAL, _) => Reason::InvalidArgument,
            (libc::ERANGE, _) => Reason::OutOfRange,
            (libc::EPERM, _) => Reason::PermissionDenied,
            (libc::EOPNOTSUPP, _) => Reason::NotSupported,
            (libc::EAFNOSUPPORT, _) => Reason::AddressFamilyNotSupported,
            _ => Reason::Other,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::ServiceExists => "service already exists",
            Reason::NoSuchService => "no such service",
            Reason::DestinationExists => "destination already exists",
            Reason::NoSuchDestination => "no such destination",
            Reason::SchedulerNotFound => {
                "scheduler or persistence engine not found (is its ip_vs_* module available?)"
            }
            Reason::DaemonRunning => "a sync daemon in this role is already running",
            Reason::NoDaemon => "no sync daemon in this role is running",
            Reason::InvalidArgument => {
                "invalid argument (missing or malformed attribute, address not unicast, \
                 mixed address families without tunnelling, bad netmask, GUE without port...)"
            }
            Reason::OutOfRange => {
                "value out of range (weight above 2147483647, or lower threshold above upper)"
            }
            Reason::PermissionDenied => {
                "permission denied (needs CAP_NET_ADMIN in the initial user namespace: run as root)"
            }
            Reason::NotSupported => "operation not supported by this kernel",
            Reason::AddressFamilyNotSupported => {
                "address family not supported (IPv6 disabled in this kernel?)"
            }
            Reason::Other => "kernel error",
        })
    }
}

/// An error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel has no "IPVS" generic-netlink family and could not load it.
    #[error(
        "IPVS not available: modprobe ip_vs (the kernel has no generic netlink family \"IPVS\")"
    )]
    NotAvailable,
    /// The kernel refused an operation.
    #[error("{op}{object}: {reason} [{}]", errno_name(*.errno))]
    Kernel {
        /// The operation.
        op: Op,
        /// What it was about.
        object: Object,
        /// What the errno means for this operation.
        reason: Reason,
        /// The errno (positive).
        errno: i32,
    },
    /// The request was refused before sending: the values cannot be encoded.
    #[error("{op}{object}: {reason}")]
    Invalid {
        /// The operation.
        op: Op,
        /// What it was about.
        object: Object,
        /// Why.
        reason: String,
    },
    /// The socket failed.
    #[error("{op}: netlink socket: {source}")]
    Io {
        /// The operation.
        op: Op,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// The kernel did not answer in time.
    #[error("{op}: no answer from the kernel within {after:?}")]
    Timeout {
        /// The operation.
        op: Op,
        /// The receive timeout.
        after: Duration,
    },
    /// The kernel's answer to this request was dropped because the socket's receive queue
    /// overflowed (ENOBUFS); whether the change was made is unknown.
    #[error(
        "{op}{object}: answer lost (receive queue overflow): state unknown, re-read the table"
    )]
    ReplyLost {
        /// The operation.
        op: Op,
        /// What it was about.
        object: Object,
    },
    /// The operation was not sent because the exchange it belonged to failed.
    #[error("{op}{object}: not done: {reason}")]
    NotSent {
        /// The operation.
        op: Op,
        /// What it was about.
        object: Object,
        /// The failure that stopped it.
        reason: String,
    },
    /// The kernel's answer could not be decoded.
    #[error("{op}: cannot decode the kernel's answer: {reason}")]
    Decode {
        /// The operation.
        op: Op,
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    /// The meaning of the kernel's errno, for kernel errors.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Error::Kernel { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The kernel's errno (positive), for kernel errors.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    pub(crate) fn kernel(op: Op, object: Object, errno: i32) -> Self {
        Error::Kernel {
            op,
            object,
            reason: Reason::of(op, errno),
            errno,
        }
    }
}

fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::ENOMEM => "ENOMEM",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ERANGE => "ERANGE",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EBUSY => "EBUSY",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::model::Protocol;

    #[test]
    fn messages_name_operation_object_and_meaning() {
        let key = ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().expect("addr"),
            port: 80,
        };
        let e = Error::kernel(Op::AddService, Object::Service(key), libc::EEXIST);
        assert_eq!(
            e.to_string(),
            "add service tcp 10.0.0.1:80: service already exists [EEXIST]"
        );
        let d = DestKey {
            addr: "10.0.0.2".parse().expect("addr"),
            port: 8080,
        };
        let e = Error::kernel(
            Op::DeleteDestination,
            Object::Destination(key, d),
            libc::ENOENT,
        );
        assert_eq!(e.reason(), Some(Reason::NoSuchDestination));
        assert!(e.to_string().starts_with(
            "delete destination 10.0.0.2:8080 of tcp 10.0.0.1:80: no such destination"
        ));
        assert_eq!(
            Reason::of(Op::AddService, libc::ENOENT),
            Reason::SchedulerNotFound
        );
        assert_eq!(
            Reason::of(Op::AddDestination, libc::ESRCH),
            Reason::NoSuchService
        );
        assert_eq!(Reason::of(Op::StopDaemon, libc::ESRCH), Reason::NoDaemon);
        assert!(Error::NotAvailable.to_string().contains("modprobe ip_vs"));
    }
}

//! The `ipvsadm -R` (restore) input of a table: the lines `ipvsadm -S -n` prints.
//!
//! [`restore_text`] writes one `-A` line per service followed by one `-a` line per destination, in
//! the table's order, numeric only, so that `ipvsadm -R` (or `ipvsadm-restore`) loads the table and
//! `ipvsadm -S -n` prints the same lines back (as a set: ipvsadm sorts services its own way).
//!
//! ```text
//! -A -t 10.0.0.1:80 -s wlc -p 120
//! -a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 3
//! -A -u [2001:db8::1]:53 -s sh -b sh-fallback,sh-port
//! -A -f 42 -6 -s mh -p 300 -M 64
//! -a -f 42 -6 -r [2001:db8::10]:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
//! ```
//!
//! `ipvsadm -R` runs each line as one ipvsadm command, and one line it cannot parse ends the whole
//! restore. So what ipvsadm would refuse or silently change is refused here with a [`SaveError`]
//! that names the object: a weight above 65535, a threshold above `i32::MAX`, a persistence timeout
//! of 0 or above 31 days, port 0 on a service that is not persistent, one-packet scheduling on a
//! TCP or SCTP service, fwmark 0, a netmask of the other address family, a persistence engine name
//! that is empty, too long or has blanks, a destination of another address family that is not
//! tunnelled, a GUE tunnel without a port, a GRE tunnel with remote checksum, and a direct-routed,
//! tunnelled or local destination whose port differs from its (non-fwmark) service's port, which
//! ipvsadm would restore on the service's port.
//!
//! Two things remain lossy, as they are for `ipvsadm -S` itself: local forwarding is written `-g`
//! (the kernel makes a destination local by its address), and with [`SaveStyle::Ipvsadm`] the
//! thresholds are not written ([`SaveStyle::Full`] adds `-x`/`-y`, which `ipvsadm -R` accepts).
//! Unlike `ipvsadm -S`, scheduler flag 3 is written as `flag-3` for every scheduler (ipvsadm omits it
//! for `sh` and `mh`, and prints a bare `-b` when it is the only flag).

use std::fmt;
use std::net::IpAddr;

use lvs_core::model::{
    AddressFamily, Destination, Forwarding, Netmask, Protocol, SchedFlags, Service, ServiceKey,
    Table, Tunnel, TunnelChecksum,
};

/// The longest persistence timeout ipvsadm accepts: 31 days, in seconds.
pub const MAX_PERSISTENCE_TIMEOUT: u32 = 86_400 * 31;

/// The largest weight ipvsadm accepts.
pub const MAX_WEIGHT: u32 = 65_535;

/// The largest connection threshold ipvsadm accepts (`INT_MAX`).
pub const MAX_THRESHOLD: u32 = i32::MAX as u32;

/// Which fields the restore text carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaveStyle {
    /// Exactly the lines `ipvsadm -S -n` prints for the same kernel table: thresholds are left out.
    #[default]
    Ipvsadm,
    /// Also `-x` (upper) and `-y` (lower) connection thresholds on `-a` lines, when not zero.
    Full,
}

/// A service or destination that `ipvsadm -R` would refuse, or restore differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveError {
    object: String,
    reason: String,
}

impl SaveError {
    fn service(key: &ServiceKey, reason: impl Into<String>) -> Self {
        Self {
            object: format!("service {key}"),
            reason: reason.into(),
        }
    }

    fn destination(key: &ServiceKey, dest: &Destination, reason: impl Into<String>) -> Self {
        Self {
            object: format!("destination {} of service {key}", dest.key()),
            reason: reason.into(),
        }
    }

    /// The service or destination, as `service tcp 10.0.0.1:80` or
    /// `destination 10.0.0.2:80 of service tcp 10.0.0.1:80`.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// Why it cannot be written.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for SaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot write {} as ipvsadm restore input: {}",
            self.object, self.reason
        )
    }
}

impl std::error::Error for SaveError {}

/// The restore text of a whole table: for each service its `-A` line, then an `-a` line per
/// destination, each line ending with a newline. An empty table gives an empty text.
pub fn restore_text(table: &Table, style: SaveStyle) -> Result<String, SaveError> {
    let mut out = String::with_capacity(64 * (table.len() + table.destination_count()));
    for entry in table {
        out.push_str(&service_line(&entry.service)?);
        out.push('\n');
        for dest in entry.destinations.values() {
            out.push_str(&destination_line(&entry.service, dest, style)?);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The `-A` line of a service, without a newline: `-A -t 10.0.0.1:80 -s wlc -p 120`.
pub fn service_line(service: &Service) -> Result<String, SaveError> {
    let key = &service.key;
    match *key {
        ServiceKey::Inet { port: 0, .. } if service.persistence.is_none() => {
            return Err(SaveError::service(
                key,
                "port 0 is only allowed on a persistent service",
            ));
        }
        ServiceKey::Inet { protocol, .. } if service.one_packet && protocol != Protocol::Udp => {
            return Err(SaveError::service(
                key,
                "one-packet scheduling is only for UDP and fwmark services",
            ));
        }
        ServiceKey::Fwmark { mark: 0, .. } => {
            return Err(SaveError::service(key, "fwmark 0 is not a firewall mark"));
        }
        _ => {}
    }
    let mut line = format!("-A {} -s {}", service_spec(key), service.scheduler);
    if let Some(p) = &service.persistence {
        if p.timeout == 0 || p.timeout > MAX_PERSISTENCE_TIMEOUT {
            return Err(SaveError::service(
                key,
                format!(
                    "persistence timeout {} is outside 1..={MAX_PERSISTENCE_TIMEOUT} seconds",
                    p.timeout
                ),
            ));
        }
        line.push_str(&format!(" -p {}", p.timeout));
        match (key.af(), p.netmask) {
            (AddressFamily::Inet, Netmask::V4(mask)) => {
                if p.netmask != Netmask::host(AddressFamily::Inet) {
                    line.push_str(&format!(" -M {mask}"));
                }
            }
            (AddressFamily::Inet6, Netmask::V6(len)) => {
                if !(1..=128).contains(&len) {
                    return Err(SaveError::service(
                        key,
                        format!("IPv6 persistence netmask /{len} is outside 1..=128"),
                    ));
                }
                if len != 128 {
                    line.push_str(&format!(" -M {len}"));
                }
            }
            _ => {
                return Err(SaveError::service(
                    key,
                    "the persistence netmask is of the other address family",
                ));
            }
        }
        if let Some(engine) = &p.engine {
            if engine.is_empty()
                || engine.len() > 15
                || !engine.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(SaveError::service(
                    key,
                    format!(
                        "persistence engine `{engine}` must be 1 to 15 printable ASCII characters"
                    ),
                ));
            }
            line.push_str(&format!(" --pe {engine}"));
        }
    }
    if service.one_packet {
        line.push_str(" -o");
    }
    if let Some(flags) = sched_flags(service.scheduler.as_str(), service.sched_flags) {
        line.push_str(&format!(" -b {flags}"));
    }
    Ok(line)
}

/// The `-a` line of one destination of `service`, without a newline:
/// `-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 3`.
pub fn destination_line(
    service: &Service,
    dest: &Destination,
    style: SaveStyle,
) -> Result<String, SaveError> {
    let key = &service.key;
    let err = |reason: String| SaveError::destination(key, dest, reason);
    if dest.weight > MAX_WEIGHT {
        return Err(err(format!("weight {} is above {MAX_WEIGHT}", dest.weight)));
    }
    let tunnelled = matches!(dest.forwarding, Forwarding::Tunnel(_));
    if AddressFamily::of(&dest.addr) != key.af() && !tunnelled {
        return Err(err(
            "only a tunnelled destination may be of another address family than its service".into(),
        ));
    }
    if let ServiceKey::Inet { port, .. } = *key {
        if dest.forwarding != Forwarding::Masq && dest.port != port {
            return Err(err(format!(
                "ipvsadm restores a {} destination of a port service on the service's port {port}",
                dest.forwarding.short_name()
            )));
        }
    }
    let switch = match dest.forwarding {
        Forwarding::Masq => "-m",
        Forwarding::DirectRoute | Forwarding::Local => "-g",
        Forwarding::Tunnel(_) => "-i",
    };
    let mut line = format!(
        "-a {} -r {} {switch} -w {}",
        service_spec(key),
        addr_port(dest.addr, dest.port),
        dest.weight
    );
    if style == SaveStyle::Full {
        for (option, value) in [("-x", dest.upper_threshold), ("-y", dest.lower_threshold)] {
            if value > MAX_THRESHOLD {
                return Err(err(format!("threshold {value} is above {MAX_THRESHOLD}")));
            }
            if value != 0 {
                line.push_str(&format!(" {option} {value}"));
            }
        }
    }
    if let Forwarding::Tunnel(tunnel) = dest.forwarding {
        match tunnel {
            Tunnel::Ipip => line.push_str(" --tun-type ipip"),
            Tunnel::Gue { port: 0, .. } => {
                return Err(err("a GUE tunnel needs a non-zero port".into()));
            }
            Tunnel::Gue { port, csum } => {
                line.push_str(&format!(
                    " --tun-type gue --tun-port {port} {}",
                    csum_option(csum)
                ));
            }
            Tunnel::Gre {
                csum: TunnelChecksum::RemCsum,
            } => {
                return Err(err("remote checksum offload is for GUE tunnels only".into()));
            }
            Tunnel::Gre { csum } => {
                line.push_str(&format!(" --tun-type gre {}", csum_option(csum)));
            }
        }
    }
    Ok(line)
}

/// The service part of a line: `-t 10.0.0.1:80`, `-u [2001:db8::1]:53`, `--sctp-service …`,
/// `-f 42`, `-f 42 -6`.
fn service_spec(key: &ServiceKey) -> String {
    match *key {
        ServiceKey::Inet {
            protocol,
            addr,
            port,
        } => {
            let switch = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{switch} {}", addr_port(addr, port))
        }
        ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark,
        } => format!("-f {mark}"),
        ServiceKey::Fwmark {
            af: AddressFamily::Inet6,
            mark,
        } => format!("-f {mark} -6"),
    }
}

/// `10.0.0.1:80` or `[2001:db8::1]:80`.
fn addr_port(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The `-b` argument: ipvsadm's names for the scheduler's flags, or `None` without flags.
fn sched_flags(scheduler: &str, flags: SchedFlags) -> Option<String> {
    let (fallback, port) = match scheduler {
        "sh" => ("sh-fallback", "sh-port"),
        "mh" => ("mh-fallback", "mh-port"),
        _ => ("flag-1", "flag-2"),
    };
    let names: Vec<&str> = [
        (flags.fallback, fallback),
        (flags.port, port),
        (flags.flag3, "flag-3"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect();
    (!names.is_empty()).then(|| names.join(","))
}

fn csum_option(csum: TunnelChecksum) -> &'static str {
    match csum {
        TunnelChecksum::NoCsum => "--tun-nocsum",
        TunnelChecksum::Csum => "--tun-csum",
        TunnelChecksum::RemCsum => "--tun-remcsum",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::model::{Persistence, Scheduler};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse::<Ipv4Addr>().expect("test address"))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse::<Ipv6Addr>().expect("test address"))
    }

    fn tcp(addr: IpAddr, port: u16) -> ServiceKey {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr,
            port,
        }
    }

    fn sched(name: &str) -> Scheduler {
        Scheduler::new(name).expect("known scheduler")
    }

    fn persistent(timeout: u32, netmask: Netmask) -> Option<Persistence> {
        Some(Persistence {
            timeout,
            netmask,
            engine: None,
        })
    }

    fn table(entries: Vec<(Service, Vec<Destination>)>) -> Table {
        let mut t = Table::new();
        for (svc, dests) in entries {
            let key = svc.key;
            t.insert_service(svc);
            for d in dests {
                t.insert_destination(&key, d).expect("service exists");
            }
        }
        t
    }

    fn text(t: &Table, style: SaveStyle) -> String {
        restore_text(t, style).expect("writable table")
    }

    #[test]
    fn the_reference_example_is_written_as_ipvsadm_saves_it() {
        // The lines `ipvsadm -S -n` printed in the reference run (ipvs-netlink.md §5.2).
        let vip = tcp(v4("10.0.0.1"), 80);
        let mut web = Service::new(vip, sched("wlc"));
        web.persistence = persistent(120, Netmask::host(AddressFamily::Inet));
        let mark = ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark: 42,
        };
        let gue = Forwarding::Tunnel(Tunnel::Gue {
            port: 6080,
            csum: TunnelChecksum::Csum,
        });
        let t = table(vec![
            (
                web,
                vec![
                    Destination::new(v4("10.0.0.2"), 8080, 3, Forwarding::Masq),
                    Destination::new(v4("10.0.0.3"), 80, 0, Forwarding::DirectRoute),
                ],
            ),
            (
                Service::new(mark, sched("rr")),
                vec![Destination::new(v4("10.0.0.5"), 0, 1, gue)],
            ),
        ]);
        assert_eq!(
            text(&t, SaveStyle::Ipvsadm),
            "-A -t 10.0.0.1:80 -s wlc -p 120\n\
             -a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 3\n\
             -a -t 10.0.0.1:80 -r 10.0.0.3:80 -g -w 0\n\
             -A -f 42 -s rr\n\
             -a -f 42 -r 10.0.0.5:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n"
        );
    }

    #[test]
    fn an_empty_table_is_an_empty_text() {
        assert_eq!(text(&Table::new(), SaveStyle::Full), "");
    }

    #[test]
    fn protocols_and_ipv6_addresses_in_brackets() {
        let udp6 = ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr: v6("2001:db8::1"),
            port: 53,
        };
        let sctp = ServiceKey::Inet {
            protocol: Protocol::Sctp,
            addr: v4("192.0.2.7"),
            port: 3868,
        };
        let t = table(vec![
            (
                Service::new(udp6, sched("rr")),
                vec![Destination::new(
                    v6("2001:db8::53"),
                    5353,
                    2,
                    Forwarding::Masq,
                )],
            ),
            (
                Service::new(sctp, sched("lc")),
                vec![Destination::new(
                    v4("192.0.2.8"),
                    3868,
                    1,
                    Forwarding::DirectRoute,
                )],
            ),
        ]);
        assert_eq!(
            text(&t, SaveStyle::Ipvsadm),
            "-A -u [2001:db8::1]:53 -s rr\n\
             -a -u [2001:db8::1]:53 -r [2001:db8::53]:5353 -m -w 2\n\
             -A --sctp-service 192.0.2.7:3868 -s lc\n\
             -a --sctp-service 192.0.2.7:3868 -r 192.0.2.8:3868 -g -w 1\n"
        );
    }

    #[test]
    fn persistence_with_netmasks_and_engine() {
        let mut v4svc = Service::new(tcp(v4("10.1.0.1"), 0), sched("wrr"));
        v4svc.persistence = persistent(300, Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)));
        let mut sip = Service::new(
            ServiceKey::Inet {
                protocol: Protocol::Udp,
                addr: v4("10.1.0.2"),
                port: 5060,
            },
            sched("rr"),
        );
        sip.persistence = Some(Persistence {
            timeout: 60,
            netmask: Netmask::host(AddressFamily::Inet),
            engine: Some("sip".into()),
        });
        let mut v6svc = Service::new(tcp(v6("2001:db8::80"), 443), sched("sed"));
        v6svc.persistence = persistent(MAX_PERSISTENCE_TIMEOUT, Netmask::V6(64));
        let mut v6host = Service::new(tcp(v6("2001:db8::81"), 443), sched("nq"));
        v6host.persistence = persistent(1, Netmask::V6(128));
        let t = table(vec![
            (v4svc, vec![]),
            (sip, vec![]),
            (v6svc, vec![]),
            (v6host, vec![]),
        ]);
        assert_eq!(
            text(&t, SaveStyle::Ipvsadm),
            "-A -t 10.1.0.1:0 -s wrr -p 300 -M 255.255.255.0\n\
             -A -t [2001:db8::80]:443 -s sed -p 2678400 -M 64\n\
             -A -t [2001:db8::81]:443 -s nq -p 1\n\
             -A -u 10.1.0.2:5060 -s rr -p 60 --pe sip\n"
        );
    }

    #[test]
    fn fwmark_services_of_both_families() {
        let mark6 = ServiceKey::Fwmark {
            af: AddressFamily::Inet6,
            mark: 7,
        };
        let mut svc6 = Service::new(mark6, sched("mh"));
        svc6.persistence = persistent(300, Netmask::V6(48));
        svc6.sched_flags.port = true;
        let mark4 = ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark: u32::MAX,
        };
        let mut svc4 = Service::new(mark4, sched("wlc"));
        svc4.one_packet = true;
        let t = table(vec![
            (
                svc6,
                vec![Destination::new(
                    v6("2001:db8::10"),
                    0,
                    1,
                    Forwarding::DirectRoute,
                )],
            ),
            (
                svc4,
                vec![Destination::new(v4("10.2.0.1"), 8080, 5, Forwarding::Masq)],
            ),
        ]);
        assert_eq!(
            text(&t, SaveStyle::Ipvsadm),
            "-A -f 4294967295 -s wlc -o\n\
             -a -f 4294967295 -r 10.2.0.1:8080 -m -w 5\n\
             -A -f 7 -6 -s mh -p 300 -M 48 -b mh-port\n\
             -a -f 7 -6 -r [2001:db8::10]:0 -g -w 1\n"
        );
    }

    #[test]
    fn scheduler_flags_use_the_schedulers_names() {
        let cases = [
            ("sh", (true, true, false), Some("sh-fallback,sh-port")),
            ("sh", (false, true, false), Some("sh-port")),
            ("mh", (true, false, false), Some("mh-fallback")),
            ("rr", (true, true, true), Some("flag-1,flag-2,flag-3")),
            ("sh", (false, false, true), Some("flag-3")),
            ("wlc", (false, false, false), None),
        ];
        for (name, (fallback, port, flag3), want) in cases {
            let mut svc = Service::new(tcp(v4("10.3.0.1"), 80), sched(name));
            svc.sched_flags = SchedFlags {
                fallback,
                port,
                flag3,
            };
            let want = match want {
                Some(f) => format!("-A -t 10.3.0.1:80 -s {name} -b {f}"),
                None => format!("-A -t 10.3.0.1:80 -s {name}"),
            };
            assert_eq!(service_line(&svc).expect("writable"), want);
        }
    }

    #[test]
    fn every_forwarding_method_and_tunnel() {
        let vip = tcp(v4("10.4.0.1"), 80);
        let svc = Service::new(vip, sched("rr"));
        let line = |addr: &str, fwd: Forwarding| {
            destination_line(
                &svc,
                &Destination::new(v4(addr), 80, 1, fwd),
                SaveStyle::Ipvsadm,
            )
            .expect("writable")
        };
        let cases = [
            (Forwarding::Masq, "-m -w 1"),
            (Forwarding::DirectRoute, "-g -w 1"),
            (Forwarding::Local, "-g -w 1"),
            (Forwarding::Tunnel(Tunnel::Ipip), "-i -w 1 --tun-type ipip"),
            (
                Forwarding::Tunnel(Tunnel::Gue {
                    port: 6080,
                    csum: TunnelChecksum::NoCsum,
                }),
                "-i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum",
            ),
            (
                Forwarding::Tunnel(Tunnel::Gue {
                    port: 1,
                    csum: TunnelChecksum::RemCsum,
                }),
                "-i -w 1 --tun-type gue --tun-port 1 --tun-remcsum",
            ),
            (
                Forwarding::Tunnel(Tunnel::Gre {
                    csum: TunnelChecksum::NoCsum,
                }),
                "-i -w 1 --tun-type gre --tun-nocsum",
            ),
            (
                Forwarding::Tunnel(Tunnel::Gre {
                    csum: TunnelChecksum::Csum,
                }),
                "-i -w 1 --tun-type gre --tun-csum",
            ),
        ];
        for (fwd, tail) in cases {
            assert_eq!(
                line("10.4.0.2", fwd),
                format!("-a -t 10.4.0.1:80 -r 10.4.0.2:80 {tail}")
            );
        }
    }

    #[test]
    fn a_tunnel_may_cross_address_families() {
        let svc = Service::new(tcp(v6("2001:db8::1"), 80), sched("rr"));
        let dest = Destination::new(v4("10.5.0.2"), 80, 1, Forwarding::Tunnel(Tunnel::Ipip));
        assert_eq!(
            destination_line(&svc, &dest, SaveStyle::Ipvsadm).expect("writable"),
            "-a -t [2001:db8::1]:80 -r 10.5.0.2:80 -i -w 1 --tun-type ipip"
        );
    }

    #[test]
    fn thresholds_only_in_the_full_style() {
        let svc = Service::new(tcp(v4("10.6.0.1"), 80), sched("wlc"));
        let mut dest = Destination::new(v4("10.6.0.2"), 80, 65_535, Forwarding::DirectRoute);
        dest.upper_threshold = MAX_THRESHOLD;
        dest.lower_threshold = 10;
        assert_eq!(
            destination_line(&svc, &dest, SaveStyle::Ipvsadm).expect("writable"),
            "-a -t 10.6.0.1:80 -r 10.6.0.2:80 -g -w 65535"
        );
        assert_eq!(
            destination_line(&svc, &dest, SaveStyle::Full).expect("writable"),
            "-a -t 10.6.0.1:80 -r 10.6.0.2:80 -g -w 65535 -x 2147483647 -y 10"
        );
        dest.upper_threshold = 0;
        dest.forwarding = Forwarding::Tunnel(Tunnel::Gre {
            csum: TunnelChecksum::Csum,
        });
        assert_eq!(
            destination_line(&svc, &dest, SaveStyle::Full).expect("writable"),
            "-a -t 10.6.0.1:80 -r 10.6.0.2:80 -i -w 65535 -y 10 --tun-type gre --tun-csum"
        );
    }

    #[test]
    fn services_ipvsadm_would_refuse_are_errors() {
        let mut zero_port = Service::new(tcp(v4("10.7.0.1"), 0), sched("rr"));
        let mut ops_tcp = Service::new(tcp(v4("10.7.0.2"), 80), sched("rr"));
        ops_tcp.one_packet = true;
        let mark0 = Service::new(
            ServiceKey::Fwmark {
                af: AddressFamily::Inet,
                mark: 0,
            },
            sched("rr"),
        );
        let mut long = Service::new(tcp(v4("10.7.0.3"), 80), sched("rr"));
        long.persistence = persistent(
            MAX_PERSISTENCE_TIMEOUT + 1,
            Netmask::V4(Ipv4Addr::BROADCAST),
        );
        let mut none = Service::new(tcp(v4("10.7.0.4"), 80), sched("rr"));
        none.persistence = persistent(0, Netmask::V4(Ipv4Addr::BROADCAST));
        let mut mixed = Service::new(tcp(v6("2001:db8::7"), 80), sched("rr"));
        mixed.persistence = persistent(60, Netmask::V4(Ipv4Addr::BROADCAST));
        let mut prefix0 = Service::new(tcp(v6("2001:db8::8"), 80), sched("rr"));
        prefix0.persistence = persistent(60, Netmask::V6(0));
        let mut bad_pe = Service::new(tcp(v4("10.7.0.5"), 80), sched("rr"));
        bad_pe.persistence = Some(Persistence {
            timeout: 60,
            netmask: Netmask::V4(Ipv4Addr::BROADCAST),
            engine: Some("s p".into()),
        });
        let cases = [
            (&zero_port, "service tcp 10.7.0.1:0", "port 0"),
            (&ops_tcp, "service tcp 10.7.0.2:80", "one-packet"),
            (&mark0, "service fwmark 0", "fwmark 0"),
            (&long, "service tcp 10.7.0.3:80", "2678401"),
            (&none, "service tcp 10.7.0.4:80", "timeout 0"),
            (
                &mixed,
                "service tcp [2001:db8::7]:80",
                "other address family",
            ),
            (&prefix0, "service tcp [2001:db8::8]:80", "/0"),
            (&bad_pe, "service tcp 10.7.0.5:80", "`s p`"),
        ];
        for (svc, object, reason) in cases {
            let e = service_line(svc).expect_err(object);
            assert_eq!(e.object(), object);
            assert!(e.reason().contains(reason), "{e}");
        }
        // Port 0 is fine once the service is persistent.
        zero_port.persistence = persistent(360, Netmask::V4(Ipv4Addr::BROADCAST));
        assert_eq!(
            service_line(&zero_port).expect("writable"),
            "-A -t 10.7.0.1:0 -s rr -p 360"
        );
    }

    #[test]
    fn destinations_ipvsadm_would_refuse_or_change_are_errors() {
        let svc = Service::new(tcp(v4("10.8.0.1"), 80), sched("rr"));
        let d = |addr: IpAddr, port: u16, weight: u32, fwd: Forwarding| {
            Destination::new(addr, port, weight, fwd)
        };
        let mut high_threshold = d(v4("10.8.0.2"), 80, 1, Forwarding::Masq);
        high_threshold.lower_threshold = MAX_THRESHOLD + 1;
        let cases = [
            (
                d(v4("10.8.0.2"), 80, 65_536, Forwarding::Masq),
                "weight 65536",
            ),
            (
                d(v6("2001:db8::2"), 80, 1, Forwarding::Masq),
                "another address family",
            ),
            (
                d(v4("10.8.0.2"), 8080, 1, Forwarding::DirectRoute),
                "service's port 80",
            ),
            (
                d(v4("10.8.0.2"), 8080, 1, Forwarding::Local),
                "local destination",
            ),
            (
                d(
                    v4("10.8.0.2"),
                    80,
                    1,
                    Forwarding::Tunnel(Tunnel::Gue {
                        port: 0,
                        csum: TunnelChecksum::NoCsum,
                    }),
                ),
                "non-zero port",
            ),
            (
                d(
                    v4("10.8.0.2"),
                    80,
                    1,
                    Forwarding::Tunnel(Tunnel::Gre {
                        csum: TunnelChecksum::RemCsum,
                    }),
                ),
                "GUE tunnels only",
            ),
            (high_threshold, "threshold 2147483648"),
        ];
        for (dest, reason) in cases {
            let e = destination_line(&svc, &dest, SaveStyle::Full).expect_err(reason);
            assert_eq!(
                e.object(),
                format!("destination {} of service tcp 10.8.0.1:80", dest.key())
            );
            assert!(e.reason().contains(reason), "{e}");
        }
        // A masqueraded destination may use another port; a fwmark service's may too.
        let masq = d(v4("10.8.0.2"), 8080, 1, Forwarding::Masq);
        assert!(destination_line(&svc, &masq, SaveStyle::Ipvsadm).is_ok());
        let fwm = Service::new(
            ServiceKey::Fwmark {
                af: AddressFamily::Inet,
                mark: 1,
            },
            sched("rr"),
        );
        let dr = d(v4("10.8.0.2"), 8080, 1, Forwarding::DirectRoute);
        assert_eq!(
            destination_line(&fwm, &dr, SaveStyle::Ipvsadm).expect("writable"),
            "-a -f 1 -r 10.8.0.2:8080 -g -w 1"
        );
    }

    #[test]
    fn the_error_message_names_object_and_reason() {
        let svc = Service::new(
            ServiceKey::Fwmark {
                af: AddressFamily::Inet6,
                mark: 0,
            },
            sched("rr"),
        );
        assert_eq!(
            service_line(&svc).expect_err("fwmark 0").to_string(),
            "cannot write service fwmark 0 ipv6 as ipvsadm restore input: \
             fwmark 0 is not a firewall mark"
        );
    }
}

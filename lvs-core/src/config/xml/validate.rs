//! The validated stage: [`ServiceConfig`], with every default and inheritance resolved.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::error::{closest, Location, ParseError, ParseErrorKind};
use crate::model::{
    AddressFamily, DestKey, Destination, Forwarding, Netmask, Persistence, Protocol, SchedFlags,
    Scheduler, Service, ServiceKey, Tunnel, TunnelChecksum,
};

use super::raw::{RawAttr, RawDocument, RawElement, RawVirtual};
use super::registry::{
    ModuleAttrs, TesterRegistry, TesterSpec, Transport, REAL_ATTRS, TESTER_COMMON_ATTRS,
    VIRTUAL_ATTRS,
};
use super::values;

/// A validated service file: the virtuals in document order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceConfig {
    /// The virtuals, in document order; their keys are distinct.
    pub virtuals: Vec<Virtual>,
}

impl ServiceConfig {
    /// The virtual with this key.
    pub fn find(&self, key: &ServiceKey) -> Option<&Virtual> {
        self.virtuals.iter().find(|v| v.key == *key)
    }
}

/// A virtual service with its tester and reals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Virtual {
    /// `name`, 1 to 127 bytes.
    pub name: String,
    /// Identity: protocol, address and port, or fwmark and family.
    pub key: ServiceKey,
    /// `sched`.
    pub scheduler: Scheduler,
    /// `sched_flags` (extension).
    pub sched_flags: SchedFlags,
    /// `rt` (with the tunnel options): the reals' default forwarding method.
    pub forwarding: Forwarding,
    /// `pers` > 0: the timeout, with `pers_netmask` (extension) or the host mask.
    pub persistence: Option<Persistence>,
    /// One-packet scheduling: `ops` nonzero **and** `proto="udp"`. The original parses `ops`
    /// for every virtual but emits it only for UDP ones; so do we.
    pub one_packet: bool,
    /// The tester.
    pub tester: Tester,
    /// The notifiers (written as `<tester>` attributes in the file).
    pub notifiers: Notifiers,
    /// The reals, in document order; their `addr:port` are distinct.
    pub reals: Vec<Real>,
    /// Line of the `<virtual>` element.
    pub line: u32,
}

impl Virtual {
    /// The IPVS service this virtual asks for.
    pub fn service(&self) -> Service {
        Service {
            key: self.key,
            scheduler: self.scheduler.clone(),
            persistence: self.persistence.clone(),
            one_packet: self.one_packet,
            sched_flags: self.sched_flags,
        }
    }
}

/// How a virtual's reals are tested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tester {
    /// The tester kind (`tcp`, `http`, ..., `no-test` in lower case).
    pub kind: String,
    /// How the kind reaches reals.
    pub transport: Transport,
    /// `testport`; `None` only for `no-test` without one.
    pub testport: Option<u16>,
    /// `loopdelay`: pause between the end of one loop and the start of the next (default 3 s).
    pub loopdelay: Duration,
    /// `timeout`: counted from the start of the last real of a loop (default 5 s).
    pub timeout: Duration,
    /// `retries2ok`: consecutive successes to go online (default 1, at least 1).
    pub retries2ok: u32,
    /// `retries2fail`: consecutive failures to go offline (default 1, at least 1).
    pub retries2fail: u32,
    /// `remove_on_fail`: delete a failed real from IPVS instead of weighting it 0.
    pub remove_on_fail: bool,
    /// `debugcomm`: dump the communication (needs `debug_comm 1` in surealived.cfg).
    pub debugcomm: bool,
    /// `logmicro`: statistics in microseconds.
    pub logmicro: bool,
    /// `stats_samples`: 1..=20 (0 or more than 20 become 20).
    pub stats_samples: u32,
    /// `SSL`: wrap the TCP test in TLS (TCP testers only).
    pub ssl: bool,
    /// The kind's module attributes: those given on `<tester>` and the defaults of the others.
    pub attrs: ModuleAttrs,
}

/// A notifier threshold: `N` or `N%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Threshold {
    /// At least this many (reals, or weight).
    Absolute(u32),
    /// At least this percentage (0..=100) of the total.
    Percent(u32),
}

impl Default for Threshold {
    /// `Absolute(0)`: always reached.
    fn default() -> Self {
        Threshold::Absolute(0)
    }
}

impl Threshold {
    /// Whether `value` out of `total` reaches the threshold.
    pub fn is_reached(self, value: u64, total: u64) -> bool {
        match self {
            Threshold::Absolute(n) => value >= u64::from(n),
            Threshold::Percent(p) => u128::from(value) * 100 >= u128::from(total) * u128::from(p),
        }
    }

    fn parse(v: &str) -> Result<Self, ParseErrorKind> {
        let t = v.trim();
        match t.strip_suffix('%') {
            Some(p) => {
                let n = values::uint(p).map_err(|_| ParseErrorKind::InvalidValue {
                    value: values::clip(v),
                    reason: "expected N or N% (N an unsigned integer)".into(),
                })?;
                if n > 100 {
                    return Err(ParseErrorKind::InvalidValue {
                        value: values::clip(v),
                        reason: "a percentage must be 0..100".into(),
                    });
                }
                Ok(Threshold::Percent(n))
            }
            None => {
                values::uint(t)
                    .map(Threshold::Absolute)
                    .map_err(|_| ParseErrorKind::InvalidValue {
                        value: values::clip(v),
                        reason: "expected N or N% (N an unsigned integer)".into(),
                    })
            }
        }
    }
}

/// The notifier scripts of a virtual and their thresholds. The loader does not check that the
/// scripts exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notifiers {
    /// `notify_up`: run when the virtual goes UP.
    pub up: Option<PathBuf>,
    /// `notify_down`: run when the virtual goes DOWN.
    pub down: Option<PathBuf>,
    /// `real_notify_up`: run when a real goes online.
    pub real_up: Option<PathBuf>,
    /// `real_notify_down`: run when a real goes offline.
    pub real_down: Option<PathBuf>,
    /// `notify_min_reals`: online reals needed for UP (default 0).
    pub min_reals: Threshold,
    /// `notify_min_weight`: online weight needed for UP (default 0).
    pub min_weight: Threshold,
}

/// A real server of a virtual, with everything inherited resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Real {
    /// `name`, 1 to 127 bytes.
    pub name: String,
    /// `addr`.
    pub addr: IpAddr,
    /// `port`.
    pub port: u16,
    /// `weight`, the configured weight (0..=65535).
    pub weight: u32,
    /// `uthresh`, 0 = none.
    pub uthresh: u32,
    /// `lthresh`, 0 = none; never above `uthresh` (the kernel refuses that with ERANGE).
    pub lthresh: u32,
    /// The port to test: the real's `testport`, else the tester's, else (for `no-test`) `port`.
    pub testport: u16,
    /// The real's `rt` (and tunnel options), else the virtual's.
    pub forwarding: Forwarding,
    /// The module attributes in force for this real: the tester's, overridden by the real's.
    pub attrs: ModuleAttrs,
    /// Line of the `<real>` element.
    pub line: u32,
}

impl Real {
    /// The IPVS destination for this real at `weight` (the effective weight, decided by the
    /// state layer).
    pub fn destination(&self, weight: u32) -> Destination {
        Destination {
            addr: self.addr,
            port: self.port,
            weight,
            upper_threshold: self.uthresh,
            lower_threshold: self.lthresh,
            forwarding: self.forwarding,
        }
    }

    /// Its identity inside the virtual.
    pub fn key(&self) -> DestKey {
        DestKey {
            addr: self.addr,
            port: self.port,
        }
    }
}

/// An element being validated: where it is and its attributes.
struct Elem<'a> {
    file: &'a str,
    tag: &'static str,
    line: u32,
    column: u32,
    attrs: &'a [RawAttr],
}

impl<'a> Elem<'a> {
    fn of(file: &'a str, tag: &'static str, el: &'a RawElement) -> Self {
        Self {
            file,
            tag,
            line: el.line,
            column: el.column,
            attrs: &el.attrs,
        }
    }

    fn attr(&self, name: &str) -> Option<&'a RawAttr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    fn at_attr(&self, a: &RawAttr, kind: ParseErrorKind) -> ParseError {
        attr_error(self.file, self.tag, a, kind)
    }

    fn at_elem(&self, kind: ParseErrorKind) -> ParseError {
        ParseError::new(
            Location::new(self.file, self.line, Some(self.column)),
            Some(format!("<{}>", self.tag)),
            kind,
        )
    }

    fn missing(&self, what: &'static str, name: &str) -> ParseError {
        self.at_elem(ParseErrorKind::Missing {
            what,
            name: name.to_string(),
        })
    }

    fn check_names(&self, allowed: &[&str]) -> Result<(), ParseError> {
        for a in self.attrs {
            if !allowed.contains(&a.name.as_str()) {
                return Err(ParseError::new(
                    Location::new(self.file, a.line, Some(a.column)),
                    Some(format!("<{}>", self.tag)),
                    ParseErrorKind::UnknownAttribute {
                        what: "attribute",
                        name: values::clip(&a.name),
                        suggestion: closest(&a.name, allowed.iter().copied()),
                        allowed: allowed.iter().map(|s| s.to_string()).collect(),
                    },
                ));
            }
        }
        Ok(())
    }

    fn opt<T>(
        &self,
        name: &str,
        f: impl FnOnce(&str) -> Result<T, ParseErrorKind>,
    ) -> Result<Option<T>, ParseError> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) => f(&a.value).map(Some).map_err(|k| self.at_attr(a, k)),
        }
    }

    fn req<T>(
        &self,
        name: &str,
        f: impl FnOnce(&str) -> Result<T, ParseErrorKind>,
    ) -> Result<T, ParseError> {
        self.opt(name, f)?
            .ok_or_else(|| self.missing("attribute", name))
    }

    fn bool_or(&self, name: &str, default: bool) -> Result<bool, ParseError> {
        Ok(self.opt(name, values::boolean)?.unwrap_or(default))
    }
}

fn attr_error(file: &str, tag: &str, a: &RawAttr, kind: ParseErrorKind) -> ParseError {
    ParseError::new(
        Location::new(file, a.line, Some(a.column)),
        Some(format!("<{tag}> attribute `{}`", a.name)),
        kind,
    )
}

fn invalid(value: &str, reason: impl Into<String>) -> ParseErrorKind {
    ParseErrorKind::InvalidValue {
        value: values::clip(value),
        reason: reason.into(),
    }
}

/// The `rt` names we accept.
const RT_NAMES: &[&str] = &["dr", "masq", "tun", "local"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rt {
    Dr,
    Masq,
    Tun,
    Local,
}

fn rt(v: &str) -> Result<Rt, ParseErrorKind> {
    match v.trim().to_ascii_lowercase().as_str() {
        "dr" => Ok(Rt::Dr),
        "masq" => Ok(Rt::Masq),
        "tun" => Ok(Rt::Tun),
        "local" => Ok(Rt::Local),
        _ => Err(ParseErrorKind::UnknownForwarding {
            name: values::clip(v),
            known: RT_NAMES.iter().map(|s| s.to_string()).collect(),
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VProto {
    Inet(Protocol),
    Fwmark,
}

fn vproto(v: &str) -> Result<VProto, ParseErrorKind> {
    match v.trim().to_ascii_lowercase().as_str() {
        "tcp" => Ok(VProto::Inet(Protocol::Tcp)),
        "udp" => Ok(VProto::Inet(Protocol::Udp)),
        "sctp" => Ok(VProto::Inet(Protocol::Sctp)),
        "fwmark" => Ok(VProto::Fwmark),
        _ => Err(invalid(v, "expected tcp, udp, sctp or fwmark")),
    }
}

fn family(v: &str) -> Result<AddressFamily, ParseErrorKind> {
    match v.trim().to_ascii_lowercase().as_str() {
        "inet" | "ipv4" => Ok(AddressFamily::Inet),
        "inet6" | "ipv6" => Ok(AddressFamily::Inet6),
        _ => Err(invalid(v, "expected inet (ipv4) or inet6 (ipv6)")),
    }
}

fn sched_flags(v: &str, sched: &str) -> Result<SchedFlags, ParseErrorKind> {
    let mut f = SchedFlags::default();
    for tok in v.split(',').map(str::trim) {
        let (prefix, flag) = match tok.to_ascii_lowercase().as_str() {
            "sh-fallback" => (Some("sh"), 1),
            "sh-port" => (Some("sh"), 2),
            "mh-fallback" => (Some("mh"), 1),
            "mh-port" => (Some("mh"), 2),
            "flag-1" => (None, 1),
            "flag-2" => (None, 2),
            "flag-3" => (None, 3),
            _ => {
                return Err(invalid(
                    v,
                    format!(
                        "unknown flag `{tok}`; known: sh-fallback, sh-port, mh-fallback, \
                         mh-port, flag-1, flag-2, flag-3"
                    ),
                ))
            }
        };
        if let Some(p) = prefix {
            if p != sched {
                return Err(invalid(
                    v,
                    format!("`{tok}` needs sched=\"{p}\" (sched is `{sched}`)"),
                ));
            }
        }
        match flag {
            1 => f.fallback = true,
            2 => f.port = true,
            _ => f.flag3 = true,
        }
    }
    Ok(f)
}

fn netmask(v: &str, af: AddressFamily) -> Result<Netmask, ParseErrorKind> {
    let t = v.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let n: u32 = t.parse().unwrap_or(u32::MAX);
        return match af {
            AddressFamily::Inet if (1..=32).contains(&n) => {
                Ok(Netmask::V4(Ipv4Addr::from(u32::MAX << (32 - n))))
            }
            AddressFamily::Inet6 if (1..=128).contains(&n) => {
                Ok(Netmask::V6(u8::try_from(n).unwrap_or(128)))
            }
            AddressFamily::Inet => Err(invalid(v, "an IPv4 prefix length must be 1..32")),
            AddressFamily::Inet6 => Err(invalid(v, "an IPv6 prefix length must be 1..128")),
        };
    }
    match (af, t.parse::<Ipv4Addr>()) {
        (AddressFamily::Inet, Ok(m)) => {
            let bits = u32::from(m);
            if bits != 0 && (!bits).wrapping_add(1) & !bits == 0 {
                Ok(Netmask::V4(m))
            } else {
                Err(invalid(v, "not a contiguous netmask"))
            }
        }
        (AddressFamily::Inet, Err(_)) => Err(invalid(
            v,
            "expected a dotted netmask (255.255.255.0) or a prefix length (24)",
        )),
        (AddressFamily::Inet6, _) => Err(invalid(v, "expected an IPv6 prefix length (1..128)")),
    }
}

/// The tunnel attributes of one element.
#[derive(Clone, Copy, Default)]
struct TunAttrs<'a> {
    tag: &'static str,
    ty: Option<&'a RawAttr>,
    port: Option<&'a RawAttr>,
    csum: Option<&'a RawAttr>,
}

impl<'a> TunAttrs<'a> {
    fn of(e: &Elem<'a>) -> Self {
        Self {
            tag: e.tag,
            ty: e.attr("tun_type"),
            port: e.attr("tun_port"),
            csum: e.attr("tun_csum"),
        }
    }

    fn first(&self) -> Option<&'a RawAttr> {
        [self.ty, self.port, self.csum]
            .into_iter()
            .flatten()
            .min_by_key(|a| (a.line, a.column))
    }
}

/// The tunnel of an element whose forwarding is `tun`, from its own attributes and, unless it
/// gives its own `tun_type`, the ones it inherits field by field.
fn tunnel<'a>(
    file: &str,
    e: &Elem<'_>,
    own: TunAttrs<'a>,
    inherited: Option<TunAttrs<'a>>,
) -> Result<Tunnel, ParseError> {
    type Tagged<'a> = Option<(&'static str, &'a RawAttr)>;
    let pick = |mine: Option<&'a RawAttr>, theirs: Option<&'a RawAttr>, tag| -> Tagged<'a> {
        match mine {
            Some(a) => Some((own.tag, a)),
            None => theirs.map(|a| (tag, a)),
        }
    };
    let (ty, port, csum) = match inherited {
        Some(inh) if own.ty.is_none() => (
            inh.ty.map(|a| (inh.tag, a)),
            pick(own.port, inh.port, inh.tag),
            pick(own.csum, inh.csum, inh.tag),
        ),
        _ => (
            own.ty.map(|a| (own.tag, a)),
            own.port.map(|a| (own.tag, a)),
            own.csum.map(|a| (own.tag, a)),
        ),
    };
    let err = |(tag, a): (&str, &RawAttr), kind| attr_error(file, tag, a, kind);
    let kind = match ty {
        None => "ipip".to_string(),
        Some((tag, a)) => {
            let k = a.value.trim().to_ascii_lowercase();
            if !["ipip", "gue", "gre"].contains(&k.as_str()) {
                return Err(err(
                    (tag, a),
                    invalid(&a.value, "expected ipip, gue or gre"),
                ));
            }
            k
        }
    };
    let csum_value = |allow_rem: bool| -> Result<TunnelChecksum, ParseError> {
        let Some((tag, a)) = csum else {
            return Ok(TunnelChecksum::NoCsum);
        };
        match a.value.trim().to_ascii_lowercase().as_str() {
            "nocsum" => Ok(TunnelChecksum::NoCsum),
            "csum" => Ok(TunnelChecksum::Csum),
            "remcsum" if allow_rem => Ok(TunnelChecksum::RemCsum),
            "remcsum" => Err(err(
                (tag, a),
                invalid(&a.value, "remcsum is only supported with tun_type=\"gue\""),
            )),
            _ => Err(err(
                (tag, a),
                invalid(&a.value, "expected nocsum, csum or remcsum"),
            )),
        }
    };
    match kind.as_str() {
        "gue" => {
            let Some((tag, a)) = port else {
                return Err(e.missing("attribute", "tun_port"));
            };
            let p = values::port(&a.value).map_err(|k| err((tag, a), k))?;
            if p == 0 {
                return Err(err(
                    (tag, a),
                    invalid(&a.value, "a GUE port must be non-zero"),
                ));
            }
            Ok(Tunnel::Gue {
                port: p,
                csum: csum_value(true)?,
            })
        }
        "gre" => {
            if let Some(p) = port {
                return Err(err(
                    p,
                    invalid(&p.1.value, "tun_port is only used with tun_type=\"gue\""),
                ));
            }
            Ok(Tunnel::Gre {
                csum: csum_value(false)?,
            })
        }
        _ => {
            if let Some(p) = port {
                return Err(err(
                    p,
                    invalid(&p.1.value, "tun_port is only used with tun_type=\"gue\""),
                ));
            }
            if let Some(c) = csum {
                return Err(err(
                    c,
                    invalid(&c.1.value, "tun_csum is only used with tun_type gue or gre"),
                ));
            }
            Ok(Tunnel::Ipip)
        }
    }
}

fn forwarding<'a>(
    file: &str,
    e: &Elem<'_>,
    rt: Rt,
    own: TunAttrs<'a>,
    inherited: Option<TunAttrs<'a>>,
) -> Result<Forwarding, ParseError> {
    if rt != Rt::Tun {
        if let Some(a) = own.first() {
            return Err(e.at_attr(
                a,
                invalid(&a.value, format!("`{}` needs rt=\"tun\"", a.name)),
            ));
        }
    }
    Ok(match rt {
        Rt::Dr => Forwarding::DirectRoute,
        Rt::Masq => Forwarding::Masq,
        Rt::Local => Forwarding::Local,
        Rt::Tun => Forwarding::Tunnel(tunnel(file, e, own, inherited)?),
    })
}

fn path(v: &str) -> Result<PathBuf, ParseErrorKind> {
    values::string(v, 4096).map(PathBuf::from)
}

fn at_least_one(v: &str) -> Result<u32, ParseErrorKind> {
    match values::uint(v)? {
        0 => Err(invalid(v, "must be at least 1")),
        n => Ok(n),
    }
}

struct Validator<'a> {
    file: &'a str,
    registry: &'a TesterRegistry,
}

impl<'a> Validator<'a> {
    fn virtual_(&self, v: &'a RawVirtual) -> Result<Virtual, ParseError> {
        let file = self.file;
        let e = Elem {
            file,
            tag: "virtual",
            line: v.line,
            column: v.column,
            attrs: &v.attrs,
        };
        e.check_names(VIRTUAL_ATTRS)?;
        let name = e.req("name", |s| values::name(s).map(str::to_string))?;
        let proto = e.req("proto", vproto)?;
        let mark = e.opt("fwmark", values::uint)?.unwrap_or(0);
        let af = e.opt("af", family)?;
        let key = if mark > 0 || proto == VProto::Fwmark {
            if mark == 0 {
                return Err(match e.attr("fwmark") {
                    Some(a) => e.at_attr(a, invalid(&a.value, "must be > 0 with proto=\"fwmark\"")),
                    None => e.missing("attribute", "fwmark"),
                });
            }
            // As the original: with a fwmark, addr and port are not read.
            ServiceKey::Fwmark {
                af: af.unwrap_or(AddressFamily::Inet),
                mark,
            }
        } else {
            let addr = e.req("addr", |s| values::address(s, true))?;
            let port = e.req("port", values::port)?;
            if let (Some(f), Some(a)) = (af, e.attr("af")) {
                if f != AddressFamily::of(&addr) {
                    return Err(e.at_attr(a, invalid(&a.value, "does not match `addr`")));
                }
            }
            let VProto::Inet(protocol) = proto else {
                return Err(e.missing("attribute", "fwmark"));
            };
            ServiceKey::Inet {
                protocol,
                addr,
                port,
            }
        };
        let scheduler = e.req("sched", |s| {
            Scheduler::new(s).map_err(|_| ParseErrorKind::UnknownScheduler {
                name: values::clip(s),
                known: Scheduler::KNOWN.iter().map(|s| s.to_string()).collect(),
            })
        })?;
        let sched_flags = e
            .opt("sched_flags", |s| sched_flags(s, scheduler.as_str()))?
            .unwrap_or_default();
        let vrt = e.req("rt", rt)?;
        let vtun = TunAttrs::of(&e);
        let fwd = forwarding(file, &e, vrt, vtun, None)?;
        let pers = e.opt("pers", values::uint)?.unwrap_or(0);
        let mask = e.opt("pers_netmask", |s| netmask(s, key.af()))?;
        if let (0, Some(a)) = (pers, e.attr("pers_netmask")) {
            return Err(e.at_attr(a, invalid(&a.value, "`pers_netmask` needs `pers` > 0")));
        }
        let persistence = (pers > 0).then(|| Persistence {
            timeout: pers,
            netmask: mask.unwrap_or(Netmask::host(key.af())),
            engine: None,
        });
        let ops = e.opt("ops", values::int)?.unwrap_or(0);
        let one_packet = ops != 0 && proto == VProto::Inet(Protocol::Udp);

        let Some(raw_tester) = &v.tester else {
            return Err(e.missing("element", "tester"));
        };
        let (tester, notifiers, spec) = self.tester(raw_tester)?;

        let mut reals: Vec<Real> = Vec::with_capacity(v.reals.len());
        let mut seen: HashMap<DestKey, u32> = HashMap::new();
        for r in &v.reals {
            let real = self.real(r, &key, &tester, spec, vrt, vtun)?;
            if let Some(first) = seen.insert(real.key(), r.line) {
                return Err(ParseError::new(
                    Location::new(file, r.line, Some(r.column)),
                    None,
                    ParseErrorKind::Duplicate {
                        what: "real",
                        key: real.key().to_string(),
                        first_line: first,
                    },
                ));
            }
            reals.push(real);
        }
        Ok(Virtual {
            name,
            key,
            scheduler,
            sched_flags,
            forwarding: fwd,
            persistence,
            one_packet,
            tester,
            notifiers,
            reals,
            line: v.line,
        })
    }

    fn tester(&self, t: &'a RawElement) -> Result<(Tester, Notifiers, &'a TesterSpec), ParseError> {
        let e = Elem::of(self.file, "tester", t);
        let Some(proto) = e.attr("proto") else {
            return Err(e.missing("attribute", "proto"));
        };
        let Some(spec) = self.registry.get(&proto.value) else {
            let names: Vec<&str> = self.registry.names().collect();
            return Err(e.at_attr(
                proto,
                invalid(
                    &proto.value,
                    format!("unknown tester; registered: {}", names.join(", ")),
                ),
            ));
        };
        let mut allowed: Vec<&str> = TESTER_COMMON_ATTRS.to_vec();
        allowed.extend(spec.attrs.iter().map(|a| &*a.name));
        e.check_names(&allowed)?;
        let testport = if spec.transport == Transport::None {
            e.opt("testport", values::port)?
        } else {
            Some(e.req("testport", values::port)?)
        };
        let secs = |name, default| -> Result<Duration, ParseError> {
            Ok(Duration::from_secs(u64::from(
                e.opt(name, values::uint)?.unwrap_or(default),
            )))
        };
        let loopdelay = secs("loopdelay", 3)?;
        let timeout = secs("timeout", 5)?;
        let retries2ok = e.opt("retries2ok", at_least_one)?.unwrap_or(1);
        let retries2fail = e.opt("retries2fail", at_least_one)?.unwrap_or(1);
        let remove_on_fail = e.bool_or("remove_on_fail", false)?;
        let debugcomm = e.bool_or("debugcomm", false)?;
        let logmicro = e.bool_or("logmicro", false)?;
        let stats_samples = match e.opt("stats_samples", values::uint)?.unwrap_or(20) {
            n @ 1..=20 => n,
            _ => 20,
        };
        let ssl = e.bool_or("SSL", false)?;
        if let (true, Some(a)) = (ssl && spec.transport != Transport::Tcp, e.attr("SSL")) {
            return Err(e.at_attr(
                a,
                invalid(
                    &a.value,
                    format!("SSL needs a TCP tester; `{}` is not one", spec.name),
                ),
            ));
        }
        let notifiers = Notifiers {
            up: e.opt("notify_up", path)?,
            down: e.opt("notify_down", path)?,
            real_up: e.opt("real_notify_up", path)?,
            real_down: e.opt("real_notify_down", path)?,
            min_reals: e
                .opt("notify_min_reals", Threshold::parse)?
                .unwrap_or_default(),
            min_weight: e
                .opt("notify_min_weight", Threshold::parse)?
                .unwrap_or_default(),
        };
        let mut attrs = ModuleAttrs::default();
        for a in &spec.attrs {
            match e.opt(&a.name, |s| a.ty.parse(s))? {
                Some(v) => {
                    attrs.insert(a.name.to_string(), v);
                }
                None if a.required => return Err(e.missing("attribute", &a.name)),
                None => {
                    if let Some(d) = &a.default {
                        attrs.insert(a.name.to_string(), d.clone());
                    }
                }
            }
        }
        let tester = Tester {
            kind: spec.name.to_string(),
            transport: spec.transport,
            testport,
            loopdelay,
            timeout,
            retries2ok,
            retries2fail,
            remove_on_fail,
            debugcomm,
            logmicro,
            stats_samples,
            ssl,
            attrs,
        };
        Ok((tester, notifiers, spec))
    }

    fn real(
        &self,
        r: &'a RawElement,
        key: &ServiceKey,
        tester: &Tester,
        spec: &TesterSpec,
        vrt: Rt,
        vtun: TunAttrs<'_>,
    ) -> Result<Real, ParseError> {
        let e = Elem::of(self.file, "real", r);
        let mut allowed: Vec<&str> = REAL_ATTRS.to_vec();
        allowed.extend(spec.attrs.iter().filter(|a| a.per_real).map(|a| &*a.name));
        e.check_names(&allowed)?;
        let name = e.req("name", |s| values::name(s).map(str::to_string))?;
        let addr = e.req("addr", |s| values::address(s, false))?;
        let port = e.req("port", values::port)?;
        let weight = e.req("weight", values::weight)?;
        let testport = e
            .opt("testport", values::port)?
            .or(tester.testport)
            .unwrap_or(port);
        let uthresh = e.opt("uthresh", values::uint)?.unwrap_or(0);
        let lthresh = e.opt("lthresh", values::uint)?.unwrap_or(0);
        // The kernel refuses l_threshold > u_threshold with ERANGE, with no exception for an
        // unset (0) upper threshold: a lower threshold needs an upper one at least as large.
        if let (true, Some(a)) = (lthresh > uthresh, e.attr("lthresh")) {
            let reason = if e.attr("uthresh").is_some() {
                format!(
                    "lthresh must not exceed uthresh ({uthresh}); the kernel rejects it (ERANGE)"
                )
            } else {
                "lthresh needs an uthresh at least as large (without one the upper threshold is \
                 0); the kernel rejects it (ERANGE)"
                    .to_string()
            };
            return Err(e.at_attr(a, invalid(&a.value, reason)));
        }
        let real_rt = e.opt("rt", rt)?.unwrap_or(vrt);
        let forwarding = forwarding(
            self.file,
            &e,
            real_rt,
            TunAttrs::of(&e),
            (vrt == Rt::Tun).then_some(vtun),
        )?;
        if AddressFamily::of(&addr) != key.af() && !matches!(forwarding, Forwarding::Tunnel(_)) {
            if let Some(a) = e.attr("addr") {
                let (this, other) = match key.af() {
                    AddressFamily::Inet => ("IPv6", "IPv4"),
                    AddressFamily::Inet6 => ("IPv4", "IPv6"),
                };
                return Err(e.at_attr(
                    a,
                    ParseErrorKind::InvalidAddress {
                        value: values::clip(&a.value),
                        reason: format!("an {this} real in an {other} virtual needs rt=\"tun\""),
                    },
                ));
            }
        }
        let mut attrs = tester.attrs.clone();
        for a in spec.attrs.iter().filter(|a| a.per_real) {
            if let Some(v) = e.opt(&a.name, |s| a.ty.parse(s))? {
                attrs.insert(a.name.to_string(), v);
            }
        }
        Ok(Real {
            name,
            addr,
            port,
            weight,
            uthresh,
            lthresh,
            testport,
            forwarding,
            attrs,
            line: r.line,
        })
    }
}

impl RawDocument {
    /// Validates the raw document against `registry`: every attribute checked and typed, every
    /// default and inheritance resolved, duplicate virtuals and reals rejected. Stops at the
    /// first error, in document order.
    pub fn validate(&self, registry: &TesterRegistry) -> Result<ServiceConfig, ParseError> {
        let val = Validator {
            file: &self.file,
            registry,
        };
        let mut virtuals: Vec<Virtual> = Vec::with_capacity(self.virtuals.len());
        let mut seen: HashMap<ServiceKey, u32> = HashMap::new();
        for rv in &self.virtuals {
            let v = val.virtual_(rv)?;
            if let Some(first) = seen.insert(v.key, rv.line) {
                return Err(ParseError::new(
                    Location::new(&self.file, rv.line, Some(rv.column)),
                    None,
                    ParseErrorKind::Duplicate {
                        what: "virtual",
                        key: v.key.to_string(),
                        first_line: first,
                    },
                ));
            }
            virtuals.push(v);
        }
        Ok(ServiceConfig { virtuals })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert_eq!(Threshold::parse("75%"), Ok(Threshold::Percent(75)));
        assert_eq!(Threshold::parse("3"), Ok(Threshold::Absolute(3)));
        assert!(Threshold::parse("101%").is_err());
        assert!(Threshold::parse("%").is_err());
        assert!(Threshold::Percent(50).is_reached(1, 2));
        assert!(!Threshold::Percent(75).is_reached(2, 3));
        assert!(Threshold::Absolute(0).is_reached(0, 0));
    }

    #[test]
    fn netmasks() {
        assert_eq!(
            netmask("24", AddressFamily::Inet),
            Ok(Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)))
        );
        assert_eq!(
            netmask("255.255.0.0", AddressFamily::Inet),
            Ok(Netmask::V4(Ipv4Addr::new(255, 255, 0, 0)))
        );
        assert!(netmask("255.0.255.0", AddressFamily::Inet).is_err());
        assert_eq!(netmask("64", AddressFamily::Inet6), Ok(Netmask::V6(64)));
        assert!(netmask("0", AddressFamily::Inet6).is_err());
    }

    #[test]
    fn scheduler_flags_need_their_scheduler() {
        let f = sched_flags("sh-fallback, sh-port", "sh").expect("valid");
        assert!(f.fallback && f.port && !f.flag3);
        assert!(sched_flags("mh-port", "sh").is_err());
        assert!(sched_flags("flag-3", "wrr").expect("valid").flag3);
    }
}

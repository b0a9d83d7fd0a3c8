//! `ipvsfull.cfg`: the full wanted table surealived hands to ipvssync.
//!
//! ```text
//! meta version=1.0 mdate=2024-05-01 mtime=12:00:00
//!
//! DIFF file=/var/lib/surealived/diffs/diff_sync.1714564800
//!
//! virtual vname=web vproto=tcp vaddr=10.0.0.1 vport=80 vrt=dr vsched=wrr vpers=300
//! real rname=a raddr=10.1.0.1 rport=80 rweight=10 ru_thresh=500 rrt=masq
//!
//! ```
//!
//! [`FullConfig::write`] produces exactly the original surealived's bytes; [`FullConfig::parse`]
//! reads what the original ipvssync reads, with the same defaults, and reports what it ignores as
//! warnings. [`FullConfig::to_table`] maps the records to the wanted [`Table`] as ipvssync does.
//! The grammar and every decision are in `docs/formats.md`.
//!
//! The records are plain data (names, addresses, ports, weights), independent of the XML loader
//! and of the real-server state machine: the daemon fills them from its state.

use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use crate::error::{Location, ParseError, ParseErrorKind};
use crate::model::{
    AddressFamily, ApplyError, DestKey, Destination, Forwarding, Netmask, Persistence, Protocol,
    Scheduler, Service, ServiceKey, Table, Tunnel,
};
use crate::{fsutil, Error};

pub(crate) mod line;

use line::{Pairs, Vocabulary, Warnings};

/// The mark ipvssync gives a `vproto=fwmark` virtual without a (non-zero) `vfwmark`.
pub const DEFAULT_FWMARK: u32 = 300;

/// A virtual's protocol as the files spell it (`vproto=`), and as `proto#` in the dump keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VProto {
    /// `tcp`, dump number 0.
    Tcp,
    /// `udp`, dump number 1.
    Udp,
    /// `fwmark`, dump number 2: the service is selected by a firewall mark.
    Fwmark,
}

impl VProto {
    /// The spelling in `vproto=`.
    pub fn as_str(self) -> &'static str {
        match self {
            VProto::Tcp => "tcp",
            VProto::Udp => "udp",
            VProto::Fwmark => "fwmark",
        }
    }

    /// Parses `tcp`, `udp` or `fwmark` (case-sensitive, as the original).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tcp" => Some(VProto::Tcp),
            "udp" => Some(VProto::Udp),
            "fwmark" => Some(VProto::Fwmark),
            _ => None,
        }
    }

    /// The number surealived's dumps use (its internal enum): 0 tcp, 1 udp, 2 fwmark.
    pub fn number(self) -> u8 {
        match self {
            VProto::Tcp => 0,
            VProto::Udp => 1,
            VProto::Fwmark => 2,
        }
    }

    /// The protocol for a dump number.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(VProto::Tcp),
            1 => Some(VProto::Udp),
            2 => Some(VProto::Fwmark),
            _ => None,
        }
    }
}

impl fmt::Display for VProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A forwarding method as the files spell it (`vrt=`, `rrt=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rt {
    /// `dr`: direct routing (conn_flags 3).
    Dr,
    /// `masq`: NAT (conn_flags 0).
    Masq,
    /// `tun`: IP-in-IP tunnelling (conn_flags 2).
    Tun,
}

impl Rt {
    /// The spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Rt::Dr => "dr",
            Rt::Masq => "masq",
            Rt::Tun => "tun",
        }
    }

    /// Parses `dr`, `masq` or `tun` (case-sensitive, as the original).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dr" => Some(Rt::Dr),
            "masq" => Some(Rt::Masq),
            "tun" => Some(Rt::Tun),
            _ => None,
        }
    }

    /// The model's forwarding method.
    pub fn forwarding(self) -> Forwarding {
        match self {
            Rt::Dr => Forwarding::DirectRoute,
            Rt::Masq => Forwarding::Masq,
            Rt::Tun => Forwarding::Tunnel(Tunnel::Ipip),
        }
    }

    /// The file's spelling of a forwarding method, if it has one (`local` and GUE/GRE tunnels
    /// have none).
    pub fn from_forwarding(f: Forwarding) -> Option<Self> {
        match f {
            Forwarding::DirectRoute => Some(Rt::Dr),
            Forwarding::Masq => Some(Rt::Masq),
            Forwarding::Tunnel(Tunnel::Ipip) => Some(Rt::Tun),
            Forwarding::Tunnel(_) | Forwarding::Local => None,
        }
    }
}

impl fmt::Display for Rt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The service a virtual's fields designate, as ipvssync looks it up: by mark when the virtual
/// is `vproto=fwmark` or has a non-zero `vfwmark` (a mark of 0 on a fwmark virtual means
/// [`DEFAULT_FWMARK`]), the family taken from the address; otherwise by protocol, address and
/// port.
pub fn service_key(proto: VProto, addr: IpAddr, port: u16, fwmark: u32) -> ServiceKey {
    if proto == VProto::Fwmark || fwmark > 0 {
        ServiceKey::Fwmark {
            af: AddressFamily::of(&addr),
            mark: if fwmark == 0 { DEFAULT_FWMARK } else { fwmark },
        }
    } else {
        ServiceKey::Inet {
            protocol: if proto == VProto::Udp {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
            addr,
            port,
        }
    }
}

/// The `meta` line: when surealived wrote the file (its local time, as `strftime` printed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Meta {
    /// Year, month (1..=12), day (1..=31).
    pub date: (u16, u8, u8),
    /// Hour (0..=23), minute (0..=59), second (0..=60).
    pub time: (u8, u8, u8),
}

impl Meta {
    /// The civil date and time of `unix_secs` shifted by `utc_offset_secs` (the caller's local
    /// offset; 0 for UTC). The year is clamped to 0..=9999.
    pub fn from_unix(unix_secs: i64, utc_offset_secs: i32) -> Self {
        let t = unix_secs.saturating_add(i64::from(utc_offset_secs));
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let (y, m, d) = match y {
            ..0 => (0, 1, 1),
            10_000.. => (9999, 12, 31),
            _ => (y as u16, m as u8, d as u8),
        };
        Self {
            date: (y, m, d),
            time: (
                (secs / 3600) as u8,
                (secs / 60 % 60) as u8,
                (secs % 60) as u8,
            ),
        }
    }
}

/// A `real` line: one destination of the preceding virtual.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RealRecord {
    /// `rname` (`not-defined` when absent, as the original).
    pub name: String,
    /// `raddr`.
    pub addr: IpAddr,
    /// `rport`.
    pub port: u16,
    /// `rweight`: the effective weight (default 1), 0..=2147483647.
    pub weight: u32,
    /// `rl_thresh` (old spelling `rlthresh`): lower connection threshold, 0 = none. Never above
    /// `u_thresh`, even when that is 0 (the kernel's `ERANGE`); the reader rejects such a line.
    pub l_thresh: u32,
    /// `ru_thresh` (old spelling `ruthresh`): upper connection threshold, 0 = none.
    pub u_thresh: u32,
    /// The forwarding method: `rrt` if given, else the virtual's `vrt`. Written as `rrt=` only
    /// when it differs from the virtual's.
    pub rt: Rt,
}

impl RealRecord {
    /// The destination ipvssync programs for this real.
    pub fn destination(&self) -> Destination {
        Destination {
            addr: self.addr,
            port: self.port,
            weight: self.weight,
            upper_threshold: self.u_thresh,
            lower_threshold: self.l_thresh,
            forwarding: self.rt.forwarding(),
        }
    }
}

/// A `virtual` line and its reals.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualRecord {
    /// `vname` (`not-defined` when absent, as the original).
    pub name: String,
    /// `vproto`.
    pub proto: VProto,
    /// `vaddr` (`0.0.0.0` for a fwmark virtual; `::` for an IPv6 one).
    pub addr: IpAddr,
    /// `vport` (0 for a fwmark virtual).
    pub port: u16,
    /// `vrt`: the reals' default forwarding method.
    pub rt: Rt,
    /// `vsched`.
    pub sched: Scheduler,
    /// `vpers`: persistence timeout in seconds, 0 = none (written only when > 0).
    pub pers: u32,
    /// `vfwmark`, 0 = none (written only when > 0). A `vproto=fwmark` virtual read without one
    /// gets [`DEFAULT_FWMARK`].
    pub fwmark: u32,
    /// `vops`: one-packet scheduling; only meaningful (and only written) for UDP.
    pub ops: bool,
    /// The `real` lines, in file order.
    pub reals: Vec<RealRecord>,
    /// Whether the virtual has a real list in the XML, i.e. whether a blank line follows it even
    /// when it has no real left (surealived omits the blank line only for a virtual without any
    /// `<real>`). A virtual with reals is always followed by a blank line.
    pub has_real_list: bool,
}

impl VirtualRecord {
    /// The service key ipvssync uses (see [`service_key`]).
    pub fn service_key(&self) -> ServiceKey {
        service_key(self.proto, self.addr, self.port, self.fwmark)
    }

    /// The service ipvssync programs: persistence with the one-address netmask when `pers > 0`,
    /// one-packet scheduling when `ops` on a UDP virtual.
    pub fn service(&self) -> Service {
        let key = self.service_key();
        let mut s = Service::new(key, self.sched.clone());
        if self.pers > 0 {
            s.persistence = Some(Persistence {
                timeout: self.pers,
                netmask: Netmask::host(key.af()),
                engine: None,
            });
        }
        s.one_packet = self.ops && self.proto == VProto::Udp;
        s
    }
}

/// The whole `ipvsfull.cfg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullConfig {
    /// The `meta` line.
    pub meta: Meta,
    /// The `DIFF file=` path: the diff file to follow after loading this one.
    pub diff_file: String,
    /// The virtuals, in file (XML) order.
    pub virtuals: Vec<VirtualRecord>,
    /// What [`FullConfig::parse`] ignored (unknown keys, stray tokens, repeated keys, `vops` on a
    /// non-UDP virtual...), each located like an error, in file order. At most
    /// [`crate::formats::MAX_WARNINGS`] are kept, then one more says how many were suppressed.
    /// Empty for a config built in code; never written. Parsing what [`FullConfig::write`] gives
    /// yields this config again without warnings.
    pub warnings: Vec<ParseError>,
}

const META_VOCAB: Vocabulary = Vocabulary {
    keys: &["version", "mdate", "mtime"],
    aliases: &[],
    tolerated: &[],
    keyword: Some("meta"),
};
const DIFF_VOCAB: Vocabulary = Vocabulary {
    keys: &["file"],
    aliases: &[],
    tolerated: &[],
    keyword: Some("DIFF"),
};
const VIRTUAL_VOCAB: Vocabulary = Vocabulary {
    keys: &[
        "vname", "vproto", "vaddr", "vport", "vrt", "vsched", "vpers", "vfwmark", "vops",
    ],
    aliases: &[],
    tolerated: &[],
    keyword: Some("virtual"),
};
const REAL_VOCAB: Vocabulary = Vocabulary {
    keys: &[
        "rname",
        "raddr",
        "rport",
        "rweight",
        "rl_thresh",
        "ru_thresh",
        "rrt",
    ],
    aliases: &[("rlthresh", "rl_thresh"), ("ruthresh", "ru_thresh")],
    tolerated: &[],
    keyword: Some("real"),
};

impl FullConfig {
    /// Parses the text of an `ipvsfull.cfg`; `label` names it in errors and warnings (usually the
    /// path).
    ///
    /// As ipvssync: only lines beginning (after leading blanks) with `meta`, `virtual`, `real` or
    /// `DIFF` mean anything, other lines are ignored; a missing `rweight` is 1, missing
    /// thresholds 0, a fwmark virtual's missing `vfwmark` 300. Unknown keys are warnings (at
    /// most [`crate::formats::MAX_WARNINGS`], then a count). Errors: a missing mandatory key, a
    /// value that does not parse, a real the kernel would refuse (a lower threshold above the
    /// upper one, even when that is 0; a real address that is not unicast; a real of the other
    /// family than its virtual without `rrt=tun`), a `real` before any `virtual`, no `meta` or no
    /// `DIFF` line, a second `meta` line, and a second virtual with the same service (or real with
    /// the same address and port in one virtual).
    pub fn parse(text: &str, label: &str) -> Result<FullConfig, ParseError> {
        let mut warnings = Warnings::default();
        let mut meta: Option<(Meta, u32)> = None;
        let mut diff_file: Option<(String, u32)> = None;
        let mut virtuals: Vec<VirtualRecord> = Vec::new();
        let mut services: HashMap<ServiceKey, u32> = HashMap::new();
        let mut dests: HashMap<DestKey, u32> = HashMap::new();
        let mut lineno: u32 = 0;
        for raw in text.lines() {
            lineno += 1;
            let l = line::trim(raw);
            if l.is_empty() {
                if let Some(v) = virtuals.last_mut() {
                    v.has_real_list = true;
                }
                continue;
            }
            if l.starts_with("meta") {
                let p = Pairs::lex(l, label, lineno, &META_VOCAB, &mut warnings);
                if let Some((_, first)) = meta {
                    return Err(p.line_error(ParseErrorKind::Duplicate {
                        what: "line",
                        key: "`meta`".into(),
                        first_line: first,
                    }));
                }
                meta = Some((parse_meta(&p, &mut warnings)?, lineno));
            } else if l.starts_with("virtual") {
                let p = Pairs::lex(l, label, lineno, &VIRTUAL_VOCAB, &mut warnings);
                let v = parse_virtual(&p, &mut warnings)?;
                let key = v.service_key();
                if let Some(first) = services.insert(key, lineno) {
                    return Err(p.line_error(ParseErrorKind::Duplicate {
                        what: "virtual",
                        key: key.to_string(),
                        first_line: first,
                    }));
                }
                dests.clear();
                virtuals.push(v);
            } else if l.starts_with("real") {
                let p = Pairs::lex(l, label, lineno, &REAL_VOCAB, &mut warnings);
                let Some(v) = virtuals.last_mut() else {
                    return Err(p.line_error(ParseErrorKind::Structure(
                        "`real` line before any `virtual` line".into(),
                    )));
                };
                let r = parse_real(&p, v)?;
                let key = DestKey {
                    addr: r.addr,
                    port: r.port,
                };
                if let Some(first) = dests.insert(key, lineno) {
                    return Err(p.line_error(ParseErrorKind::Duplicate {
                        what: "real",
                        key: key.to_string(),
                        first_line: first,
                    }));
                }
                v.reals.push(r);
                v.has_real_list = true;
            } else if l.starts_with("DIFF") {
                let p = Pairs::lex(l, label, lineno, &DIFF_VOCAB, &mut warnings);
                let file = p.required("file")?.to_string();
                if let Some((_, first)) = &diff_file {
                    p.warn_line(
                        &mut warnings,
                        ParseErrorKind::Malformed(format!(
                            "second `DIFF` line (first at line {first}); this one is used"
                        )),
                    );
                }
                diff_file = Some((file, lineno));
            }
        }
        let missing = |name: &str| {
            ParseError::new(
                Location::new(label, 0, None),
                None,
                ParseErrorKind::Missing {
                    what: "line",
                    name: name.to_string(),
                },
            )
        };
        let (meta, _) = meta.ok_or_else(|| missing("meta"))?;
        let (diff_file, _) = diff_file.ok_or_else(|| missing("DIFF"))?;
        Ok(FullConfig {
            meta,
            diff_file,
            virtuals,
            warnings: warnings.finish(label),
        })
    }

    /// The file's bytes, exactly as the original surealived writes them.
    pub fn write(&self) -> String {
        let mut s = String::new();
        let (y, mo, d) = self.meta.date;
        let (h, mi, se) = self.meta.time;
        let _ = write!(
            s,
            "meta version=1.0 mdate={y:04}-{mo:02}-{d:02} mtime={h:02}:{mi:02}:{se:02}\n\n"
        );
        let _ = write!(s, "DIFF file={}\n\n", self.diff_file);
        for v in &self.virtuals {
            let _ = write!(
                s,
                "virtual vname={} vproto={} vaddr={} vport={} vrt={} vsched={}",
                v.name, v.proto, v.addr, v.port, v.rt, v.sched
            );
            if v.pers > 0 {
                let _ = write!(s, " vpers={}", v.pers);
            }
            if v.fwmark > 0 {
                let _ = write!(s, " vfwmark={}", v.fwmark);
            }
            if v.ops && v.proto == VProto::Udp {
                s.push_str(" vops=1");
            }
            s.push('\n');
            for r in &v.reals {
                let _ = write!(
                    s,
                    "real rname={} raddr={} rport={} rweight={}",
                    r.name, r.addr, r.port, r.weight
                );
                let rrt = Some(r.rt).filter(|rt| *rt != v.rt);
                write_real_tail(&mut s, r.l_thresh, r.u_thresh, rrt);
                s.push('\n');
            }
            if v.has_real_list || !v.reals.is_empty() {
                s.push('\n');
            }
        }
        s
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<FullConfig, Error> {
        let text = fsutil::read_text(path, fsutil::CommentRule::WholeLine)?;
        Ok(Self::parse(&text, &path.display().to_string())?)
    }

    /// Writes the file atomically (see [`fsutil::write_atomic`]).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        fsutil::write_atomic(path, self.write().as_bytes())
    }

    /// The wanted IPVS table, as ipvssync builds it (3.9.3): each virtual a service (see
    /// [`VirtualRecord::service`]), each real a destination (see [`RealRecord::destination`]).
    /// Fails only for a hand-built config with two virtuals designating the same service, two
    /// reals with the same address and port, or a real the kernel would refuse
    /// ([`Destination::validate_for`]); a parsed config never has them.
    pub fn to_table(&self) -> Result<Table, ApplyError> {
        let mut t = Table::new();
        for v in &self.virtuals {
            let key = v.service_key();
            if t.get(&key).is_some() {
                return Err(ApplyError::ServiceExists(key));
            }
            t.insert_service(v.service());
            for r in &v.reals {
                let d = r.destination();
                if t.destination(&key, &d.key()).is_some() {
                    return Err(ApplyError::DestinationExists(key, d.key()));
                }
                t.insert_destination(&key, d)?;
            }
        }
        Ok(t)
    }

    /// The `vrt` of the virtual designating `key`: the default forwarding method for diff lines
    /// without `rrt` (see [`crate::formats::diffs::apply_to_table`]).
    pub fn default_rt(&self, key: &ServiceKey) -> Option<Rt> {
        self.virtuals
            .iter()
            .find(|v| v.service_key() == *key)
            .map(|v| v.rt)
    }
}

/// Appends `[ rl_thresh=N][ ru_thresh=N][ rrt=X]`: thresholds only when non-zero (as the
/// original writers), `rrt` when given.
pub(crate) fn write_real_tail(s: &mut String, l: u32, u: u32, rrt: Option<Rt>) {
    if l > 0 {
        let _ = write!(s, " rl_thresh={l}");
    }
    if u > 0 {
        let _ = write!(s, " ru_thresh={u}");
    }
    if let Some(rt) = rrt {
        let _ = write!(s, " rrt={rt}");
    }
}

fn parse_meta(p: &Pairs<'_>, warnings: &mut Warnings) -> Result<Meta, ParseError> {
    if let Some(v) = p.get("version").filter(|v| *v != "1.0") {
        p.warn(
            warnings,
            "version",
            format!("version `{v}` is not 1.0; read as 1.0"),
        );
    }
    let date = p.required("mdate")?;
    let time = p.required("mtime")?;
    let triple = |s: &str, sep: char| -> Option<(u16, u8, u8)> {
        let mut it = s.split(sep);
        let a = it.next()?.parse().ok()?;
        let b = it.next()?.parse().ok()?;
        let c = it.next()?.parse().ok()?;
        it.next().is_none().then_some((a, b, c))
    };
    let date = match triple(date, '-') {
        Some((y, m, d)) if (1..=12).contains(&m) && (1..=31).contains(&d) => (y, m, d),
        _ => return Err(p.invalid("mdate", date, "expected YYYY-MM-DD".into())),
    };
    let time = match triple(time, ':') {
        Some((h, m, s)) if h <= 23 && m <= 59 && s <= 60 => (h as u8, m, s),
        _ => return Err(p.invalid("mtime", time, "expected HH:MM:SS".into())),
    };
    Ok(Meta { date, time })
}

fn parse_virtual(p: &Pairs<'_>, warnings: &mut Warnings) -> Result<VirtualRecord, ParseError> {
    let rt = p.rt("vrt")?.ok_or_else(|| {
        p.line_error(ParseErrorKind::Missing {
            what: "key",
            name: "vrt".into(),
        })
    })?;
    let proto = p.vproto("vproto")?;
    let addr = p.addr("vaddr")?;
    let port = p.port("vport")?;
    let sched = p.sched("vsched")?;
    let pers = p.u32_or("vpers", 0)?;
    let mut fwmark = p.u32_or("vfwmark", 0)?;
    if proto == VProto::Fwmark && fwmark == 0 {
        if p.get("vfwmark").is_some() {
            p.warn(
                warnings,
                "vfwmark",
                format!("a fwmark virtual needs a non-zero mark; {DEFAULT_FWMARK} is used"),
            );
        }
        fwmark = DEFAULT_FWMARK;
    }
    let ops = p.get("vops").is_some();
    if ops && proto != VProto::Udp {
        p.warn(
            warnings,
            "vops",
            "one-packet scheduling applies to UDP virtuals only; ignored".into(),
        );
    }
    Ok(VirtualRecord {
        name: p.name("vname"),
        proto,
        addr,
        port,
        rt,
        sched,
        pers,
        fwmark,
        ops: ops && proto == VProto::Udp,
        reals: Vec::new(),
        has_real_list: false,
    })
}

fn parse_real(p: &Pairs<'_>, v: &VirtualRecord) -> Result<RealRecord, ParseError> {
    let addr = p.addr("raddr")?;
    let port = p.port("rport")?;
    let rt = p.rt("rrt")?.unwrap_or(v.rt);
    let r = RealRecord {
        name: p.name("rname"),
        addr,
        port,
        weight: p.weight_or("rweight", 1)?,
        l_thresh: p.u32_or("rl_thresh", 0)?,
        u_thresh: p.u32_or("ru_thresh", 0)?,
        rt,
    };
    p.check_destination(&r.destination(), &v.service_key())?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_from_unix() {
        assert_eq!(
            Meta::from_unix(0, 0),
            Meta {
                date: (1970, 1, 1),
                time: (0, 0, 0)
            }
        );
        assert_eq!(
            Meta::from_unix(1_714_564_800, 7200),
            Meta {
                date: (2024, 5, 1),
                time: (14, 0, 0)
            }
        );
        assert_eq!(Meta::from_unix(951_782_400, 0).date, (2000, 2, 29));
        assert_eq!(Meta::from_unix(-1, 0).time, (23, 59, 59));
    }

    #[test]
    fn fwmark_zero_means_default() {
        let k = service_key(VProto::Fwmark, "0.0.0.0".parse().expect("ip"), 0, 0);
        assert_eq!(
            k,
            ServiceKey::Fwmark {
                af: AddressFamily::Inet,
                mark: DEFAULT_FWMARK
            }
        );
    }
}

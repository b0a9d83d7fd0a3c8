//! surealived's state dumps: `offline.dump`, `override.dump`, `stats.dump` and `notify.dump`.
//!
//! Every line names its virtual with a [`VKey`], `<vaddr>:<vport>:<proto#>:<fwmark>` (proto#
//! 0 tcp, 1 udp, 2 fwmark), and its real, where it has one, with `<raddr>:<rport>`
//! ([`DestKey`]). IPv6 addresses, an extension, are written in brackets:
//! `[2001:db8::1]:80:0:0`, `[2001:db8::10]:80`.
//!
//! ```text
//! offline.dump   10.0.0.1:80:0:0 - 10.1.0.1:80
//! override.dump  10.0.0.1:80:0:0 - 10.1.0.1:80 - weight=50% rstate=ONLINE
//!                10.0.0.1:80:0:0 - 10.1.0.2:80 - weight=7  rstate=OFFLINE
//! stats.dump     vstats 10.0.0.1:80:0:0 - 20 151 - 3:10:13 - 3012:10040:13052 - 1:0:2
//!                rstats 10.1.0.1:80 - 151 - 3:10:13 - 3012:10040:13052 - 453:1510:1963 - 454812:1516040:1970852 - 1:0:2
//! notify.dump    vnotify 10.0.0.1:80:0:0 - state=UP
//! ```
//!
//! Each dump has a typed struct with `parse(text, label)`, `write()` (the original's exact
//! bytes), `load(path)` and `save(path)` (atomic). The values are what the file says; what they
//! mean (an override weight of 0 in an old file, for example) is the state layer's business.
//! Lines are split on blanks, so the separators may be any run of spaces or TABs; blank lines are
//! ignored; any other line that fits no rule is an error naming the file and line.

use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::hash::Hash;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Location, ParseError, ParseErrorKind};
use crate::model::DestKey;
use crate::{fsutil, Error};

use super::ipvsfull::VProto;

/// The key of a virtual in the dumps: `<vaddr>:<vport>:<proto#>:<fwmark>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VKey {
    /// Virtual address (`0.0.0.0` for a fwmark virtual).
    pub addr: IpAddr,
    /// Virtual port.
    pub port: u16,
    /// Protocol, written as its number.
    pub proto: VProto,
    /// Firewall mark, 0 = none.
    pub fwmark: u32,
}

impl fmt::Display for VKey {
    /// `10.0.0.1:80:0:0`, or `[2001:db8::1]:80:0:0` for IPv6.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}")?,
            IpAddr::V6(a) => write!(f, "[{a}]")?,
        }
        write!(f, ":{}:{}:{}", self.port, self.proto.number(), self.fwmark)
    }
}

impl FromStr for VKey {
    type Err = String;

    /// Parses `<ipv4>:<port>:<proto#>:<fwmark>` or `[<ipv6>]:<port>:<proto#>:<fwmark>`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, rest) = split_addr(s)?;
        let mut it = rest.split(':');
        let (Some(port), Some(proto), Some(fwmark), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err("expected <vaddr>:<vport>:<proto#>:<fwmark>".into());
        };
        let port = u16::from_str(port).map_err(|_| format!("bad port `{port}`"))?;
        let proto = u8::from_str(proto)
            .ok()
            .and_then(VProto::from_number)
            .ok_or_else(|| {
                format!("bad protocol number `{proto}`; expected 0 (tcp), 1 (udp) or 2 (fwmark)")
            })?;
        let fwmark = u32::from_str(fwmark).map_err(|_| format!("bad fwmark `{fwmark}`"))?;
        Ok(VKey {
            addr,
            port,
            proto,
            fwmark,
        })
    }
}

/// Splits `<ipv4>:<rest>` or `[<ipv6>]:<rest>`.
fn split_addr(s: &str) -> Result<(IpAddr, &str), String> {
    if let Some(inner) = s.strip_prefix('[') {
        let (a, rest) = inner
            .split_once("]:")
            .ok_or_else(|| "expected `[<ipv6>]:`".to_string())?;
        let a = std::net::Ipv6Addr::from_str(a)
            .map_err(|_| format!("bad IPv6 address `{a}` (IPv4 is written without brackets)"))?;
        Ok((IpAddr::V6(a), rest))
    } else {
        let (a, rest) = s
            .split_once(':')
            .ok_or_else(|| "expected `<address>:`".to_string())?;
        let a = std::net::Ipv4Addr::from_str(a)
            .map_err(|_| format!("bad IPv4 address `{a}` (IPv6 is written in brackets)"))?;
        Ok((IpAddr::V4(a), rest))
    }
}

/// Parses `<ipv4>:<port>` or `[<ipv6>]:<port>`.
fn parse_dest(s: &str) -> Result<DestKey, String> {
    let (addr, port) = split_addr(s)?;
    let port = u16::from_str(port).map_err(|_| format!("bad port `{port}`"))?;
    Ok(DestKey { addr, port })
}

/// The blank-separated fields of a line, with its location.
struct Fields<'a> {
    label: &'a str,
    line: u32,
    fields: Vec<&'a str>,
}

impl<'a> Fields<'a> {
    fn new(text: &'a str, label: &'a str, line: u32) -> Self {
        Self {
            label,
            line,
            fields: text.split_ascii_whitespace().collect(),
        }
    }

    fn loc(&self) -> Location {
        Location::new(self.label, self.line, None)
    }

    fn malformed(&self, expected: &str) -> ParseError {
        ParseError::new(
            self.loc(),
            None,
            ParseErrorKind::Malformed(format!("expected `{expected}`")),
        )
    }

    fn structure(&self, msg: &str) -> ParseError {
        ParseError::new(self.loc(), None, ParseErrorKind::Structure(msg.into()))
    }

    /// Checks the shape: `n` fields with `-` at the given positions.
    fn shape(&self, n: usize, dashes: &[usize], expected: &str) -> Result<(), ParseError> {
        if self.fields.len() != n || dashes.iter().any(|i| self.fields[*i] != "-") {
            return Err(self.malformed(expected));
        }
        Ok(())
    }

    fn invalid(&self, item: &str, value: &str, reason: String) -> ParseError {
        ParseError::new(
            self.loc(),
            Some(item.to_string()),
            ParseErrorKind::InvalidValue {
                value: value.to_string(),
                reason,
            },
        )
    }

    fn vkey(&self, i: usize) -> Result<VKey, ParseError> {
        let v = self.fields[i];
        VKey::from_str(v).map_err(|r| self.invalid("field `<vkey>`", v, r))
    }

    fn dest(&self, i: usize) -> Result<DestKey, ParseError> {
        let v = self.fields[i];
        parse_dest(v).map_err(|r| self.invalid("field `<raddr>:<rport>`", v, r))
    }

    fn int<T: FromStr>(&self, i: usize, item: &str) -> Result<T, ParseError> {
        let v = self.fields[i];
        T::from_str(v).map_err(|_| self.invalid(item, v, "expected a decimal integer".into()))
    }

    fn triple<T: FromStr + Copy>(&self, i: usize, item: &str) -> Result<[T; 3], ParseError> {
        let v = self.fields[i];
        let bad = || self.invalid(item, v, "expected three integers `a:b:c`".into());
        let mut it = v.split(':').map(T::from_str);
        match (it.next(), it.next(), it.next(), it.next()) {
            (Some(Ok(a)), Some(Ok(b)), Some(Ok(c)), None) => Ok([a, b, c]),
            _ => Err(bad()),
        }
    }

    /// The value of a `key=value` field.
    fn keyed(&self, i: usize, key: &str, expected: &str) -> Result<&'a str, ParseError> {
        self.fields[i]
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .ok_or_else(|| self.malformed(expected))
    }
}

/// The non-blank lines of a text with their 1-based numbers.
fn lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (u32::try_from(i + 1).unwrap_or(u32::MAX), l))
        .filter(|(_, l)| !l.trim_ascii().is_empty())
}

/// Inserts into an order-keeping list where a later key replaces the earlier entry in place.
fn insert_last_wins<K: Hash + Eq, T>(
    entries: &mut Vec<T>,
    index: &mut HashMap<K, usize>,
    key: K,
    entry: T,
) {
    match index.get(&key) {
        Some(&i) => entries[i] = entry,
        None => {
            index.insert(key, entries.len());
            entries.push(entry);
        }
    }
}

fn load<T>(
    path: &Path,
    parse: impl FnOnce(&str, &str) -> Result<T, ParseError>,
) -> Result<T, Error> {
    let text = fsutil::read_text(path, fsutil::CommentRule::None)?;
    Ok(parse(&text, &path.display().to_string())?)
}

// ---------------------------------------------------------------------------------------------
// offline.dump

/// A real in a virtual: the identity every dump line about a real carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RealKey {
    /// The virtual.
    pub vkey: VKey,
    /// The real's address and port.
    pub real: DestKey,
}

/// `offline.dump`: the reals whose tests are failing, `<vkey> - <raddr>:<rport>` per line.
///
/// A real listed twice is kept once, at its first position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OfflineDump {
    /// The reals, in file order.
    pub entries: Vec<RealKey>,
}

impl OfflineDump {
    /// Parses the text; `label` names it in errors.
    pub fn parse(text: &str, label: &str) -> Result<Self, ParseError> {
        const EXPECTED: &str = "<vkey> - <raddr>:<rport>";
        let mut entries = Vec::new();
        let mut index = HashMap::new();
        for (n, l) in lines(text) {
            let f = Fields::new(l, label, n);
            f.shape(3, &[1], EXPECTED)?;
            let key = RealKey {
                vkey: f.vkey(0)?,
                real: f.dest(2)?,
            };
            insert_last_wins(&mut entries, &mut index, key, key);
        }
        Ok(Self { entries })
    }

    /// The file's bytes.
    pub fn write(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            let _ = writeln!(s, "{} - {}", e.vkey, e.real);
        }
        s
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        load(path, Self::parse)
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        fsutil::write_atomic(path, self.write().as_bytes())
    }
}

// ---------------------------------------------------------------------------------------------
// override.dump

/// The operator state of a real as `override.dump` spells it (`rstate=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RState {
    /// `ONLINE`: in service when its tests pass.
    Online,
    /// `OFFLINE`: kept in IPVS with weight 0.
    Offline,
    /// `DOWN`: removed from IPVS.
    Down,
}

impl RState {
    /// The spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RState::Online => "ONLINE",
            RState::Offline => "OFFLINE",
            RState::Down => "DOWN",
        }
    }

    /// Parses `ONLINE`, `OFFLINE` or `DOWN` (exact upper case).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ONLINE" => Some(RState::Online),
            "OFFLINE" => Some(RState::Offline),
            "DOWN" => Some(RState::Down),
            _ => None,
        }
    }
}

impl fmt::Display for RState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An override weight as `override.dump` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OverrideWeight {
    /// `weight=N` (followed by two spaces): the weight itself.
    Absolute(u32),
    /// `weight=N%`: a percentage of the configured weight.
    Percent(u32),
}

/// One `override.dump` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OverrideEntry {
    /// The real.
    pub key: RealKey,
    /// `weight=`.
    pub weight: OverrideWeight,
    /// `rstate=`.
    pub rstate: RState,
}

/// `override.dump`: the operator's overrides, `<vkey> - <raddr>:<rport> - weight=<N>% rstate=<S>`
/// or `... - weight=<N>  rstate=<S>` (two spaces: the original prints `weight=%u ` then
/// ` rstate=`).
///
/// A real listed twice keeps its first position and takes the last line's values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OverrideDump {
    /// The overrides, in file order.
    pub entries: Vec<OverrideEntry>,
}

impl OverrideDump {
    /// Parses the text; `label` names it in errors.
    ///
    /// `weight=` is read like the original's `weight=%d%c`: a `%` right after the number means
    /// percent, a blank means absolute. The number is unsigned (the original writes it with
    /// `%u`).
    pub fn parse(text: &str, label: &str) -> Result<Self, ParseError> {
        const EXPECTED: &str = "<vkey> - <raddr>:<rport> - weight=<N>[%] rstate=<S>";
        let mut entries = Vec::new();
        let mut index = HashMap::new();
        for (n, l) in lines(text) {
            let f = Fields::new(l, label, n);
            f.shape(6, &[1, 3], EXPECTED)?;
            let key = RealKey {
                vkey: f.vkey(0)?,
                real: f.dest(2)?,
            };
            let w = f.keyed(4, "weight", EXPECTED)?;
            let (digits, percent) = match w.strip_suffix('%') {
                Some(d) => (d, true),
                None => (w, false),
            };
            let value = u32::from_str(digits).map_err(|_| {
                f.invalid(
                    "key `weight`",
                    w,
                    "expected an unsigned integer, followed by `%` for a percentage".into(),
                )
            })?;
            let weight = if percent {
                OverrideWeight::Percent(value)
            } else {
                OverrideWeight::Absolute(value)
            };
            let s = f.keyed(5, "rstate", EXPECTED)?;
            let rstate = RState::parse(s).ok_or_else(|| {
                f.invalid("key `rstate`", s, "expected ONLINE, OFFLINE or DOWN".into())
            })?;
            insert_last_wins(
                &mut entries,
                &mut index,
                key,
                OverrideEntry {
                    key,
                    weight,
                    rstate,
                },
            );
        }
        Ok(Self { entries })
    }

    /// The file's bytes.
    pub fn write(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            let _ = write!(s, "{} - {} - ", e.key.vkey, e.key.real);
            let _ = match e.weight {
                OverrideWeight::Percent(n) => write!(s, "weight={n}%"),
                OverrideWeight::Absolute(n) => write!(s, "weight={n} "),
            };
            let _ = writeln!(s, " rstate={}", e.rstate);
        }
        s
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        load(path, Self::parse)
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        fsutil::write_atomic(path, self.write().as_bytes())
    }
}

// ---------------------------------------------------------------------------------------------
// stats.dump

/// A (connect, response, total) triple of times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Times<T> {
    /// Connect time.
    pub conn: T,
    /// Response time (connect to end).
    pub resp: T,
    /// Total time (start to end).
    pub total: T,
}

impl<T: Copy> Times<T> {
    fn from_array([conn, resp, total]: [T; 3]) -> Self {
        Self { conn, resp, total }
    }
}

impl<T: fmt::Display> fmt::Display for Times<T> {
    /// `conn:resp:total`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.conn, self.resp, self.total)
    }
}

/// Counts of failed connections by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Problems {
    /// No connection before the timeout.
    pub conn: i32,
    /// EPOLLERR one second or more after the start (ARP problem).
    pub arp: i32,
    /// EPOLLERR within a second of the start (RST).
    pub rst: i32,
}

impl fmt::Display for Problems {
    /// `conn:arp:rst`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.conn, self.arp, self.rst)
    }
}

/// An `rstats` line. The fields are the original's C `int` (i32), the totals `int64` (i64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RealStatsRecord {
    /// The real's address and port.
    pub real: DestKey,
    /// Tests run.
    pub total: i32,
    /// Average times over the sample ring, in ms.
    pub avg_ms: Times<i32>,
    /// The same in µs.
    pub avg_us: Times<i32>,
    /// Lifetime sums, in ms.
    pub total_ms: Times<i64>,
    /// The same in µs.
    pub total_us: Times<i64>,
    /// Problem counts.
    pub problems: Problems,
}

/// A `vstats` line and the `rstats` lines after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualStatsRecord {
    /// The virtual.
    pub vkey: VKey,
    /// The tester's `stats_samples`.
    pub samples: i32,
    /// Test loops run.
    pub total: i32,
    /// Averages over the reals' averages, in ms.
    pub avg_ms: Times<i32>,
    /// The same in µs.
    pub avg_us: Times<i32>,
    /// Problem counts.
    pub problems: Problems,
    /// The reals, in file order.
    pub reals: Vec<RealStatsRecord>,
    /// Whether the virtual has a real list, i.e. whether a blank line follows its lines even
    /// without reals (surealived omits it only for a virtual without any `<real>`). Always true
    /// when `reals` is not empty.
    pub has_real_list: bool,
}

/// `stats.dump`: per virtual a `vstats` line, its reals' `rstats` lines, then a blank line.
///
/// ```text
/// vstats <vkey> - <samples> <total> - <avg ms c:r:t> - <avg us c:r:t> - <conn:arp:rst>
/// rstats <raddr>:<rport> - <total> - <avg ms c:r:t> - <avg us c:r:t> - <sum ms c:r:t> - <sum us c:r:t> - <conn:arp:rst>
/// ```
///
/// Numbers are signed decimal integers (averages can be negative: the original records failed
/// connections as -1, -2, -3 ms).
///
/// **IPv6 reals have no `rstats` line.** The original reads the `<raddr>:<rport>` token with
/// `sscanf("rstats %s ...")` into a 32-byte buffer, which a bracketed IPv6 address and port
/// (up to 47 bytes) overflows. The writer leaves them out and the reader skips such lines (from
/// an older version of ours), so the statistics of IPv6 reals are not kept across a restart.
/// `vstats` lines of IPv6 virtuals stay: their key (at most 60 bytes) fits the original's
/// 64-byte buffer. See `docs/quirks.md`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StatsDump {
    /// The virtuals, in file order (a repeated virtual is kept as written; the original's
    /// reader lets the later line win).
    pub virtuals: Vec<VirtualStatsRecord>,
}

impl StatsDump {
    /// Parses the text; `label` names it in errors. An `rstats` line before any `vstats` line is
    /// an error. A valid `rstats` line of an IPv6 real is skipped (see [`StatsDump`]).
    pub fn parse(text: &str, label: &str) -> Result<Self, ParseError> {
        const V: &str = "vstats <vkey> - <samples> <total> - <c:r:t> - <c:r:t> - <conn:arp:rst>";
        const R: &str = "rstats <raddr>:<rport> - <total> - <c:r:t> - <c:r:t> - <c:r:t> - \
                         <c:r:t> - <conn:arp:rst>";
        let mut virtuals: Vec<VirtualStatsRecord> = Vec::new();
        let mut n = 0;
        for l in text.lines() {
            n += 1;
            if l.trim_ascii().is_empty() {
                if let Some(v) = virtuals.last_mut() {
                    v.has_real_list = true;
                }
                continue;
            }
            let f = Fields::new(l, label, n);
            match f.fields[0] {
                "vstats" => {
                    f.shape(11, &[2, 5, 7, 9], V)?;
                    let p = f.triple::<i32>(10, "field `<conn:arp:rst>`")?;
                    virtuals.push(VirtualStatsRecord {
                        vkey: f.vkey(1)?,
                        samples: f.int(3, "field `<samples>`")?,
                        total: f.int(4, "field `<total>`")?,
                        avg_ms: Times::from_array(f.triple(6, "field `<avg ms>`")?),
                        avg_us: Times::from_array(f.triple(8, "field `<avg us>`")?),
                        problems: Problems {
                            conn: p[0],
                            arp: p[1],
                            rst: p[2],
                        },
                        reals: Vec::new(),
                        has_real_list: false,
                    });
                }
                "rstats" => {
                    f.shape(14, &[2, 4, 6, 8, 10, 12], R)?;
                    let Some(v) = virtuals.last_mut() else {
                        return Err(f.structure("`rstats` line before any `vstats` line"));
                    };
                    let p = f.triple::<i32>(13, "field `<conn:arp:rst>`")?;
                    let r = RealStatsRecord {
                        real: f.dest(1)?,
                        total: f.int(3, "field `<total>`")?,
                        avg_ms: Times::from_array(f.triple(5, "field `<avg ms>`")?),
                        avg_us: Times::from_array(f.triple(7, "field `<avg us>`")?),
                        total_ms: Times::from_array(f.triple(9, "field `<total ms>`")?),
                        total_us: Times::from_array(f.triple(11, "field `<total us>`")?),
                        problems: Problems {
                            conn: p[0],
                            arp: p[1],
                            rst: p[2],
                        },
                    };
                    if writes_rstats(&r.real) {
                        v.reals.push(r);
                    }
                    v.has_real_list = true;
                }
                _ => return Err(f.malformed(&format!("{V}` or `{R}"))),
            }
        }
        Ok(Self { virtuals })
    }

    /// The file's bytes. IPv6 reals are left out (see [`StatsDump`]); the blank line after a
    /// virtual stays as the original writes it.
    pub fn write(&self) -> String {
        let mut s = String::new();
        for v in &self.virtuals {
            let _ = writeln!(
                s,
                "vstats {} - {} {} - {} - {} - {}",
                v.vkey, v.samples, v.total, v.avg_ms, v.avg_us, v.problems
            );
            for r in v.reals.iter().filter(|r| writes_rstats(&r.real)) {
                let _ = writeln!(
                    s,
                    "rstats {} - {} - {} - {} - {} - {} - {}",
                    r.real, r.total, r.avg_ms, r.avg_us, r.total_ms, r.total_us, r.problems
                );
            }
            if v.has_real_list || !v.reals.is_empty() {
                s.push('\n');
            }
        }
        s
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        load(path, Self::parse)
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        fsutil::write_atomic(path, self.write().as_bytes())
    }
}

/// Whether a real has an `rstats` line: not for an IPv6 real, whose `[<raddr>]:<rport>` token
/// overflows the original reader's `raddr[32]`.
fn writes_rstats(real: &DestKey) -> bool {
    real.addr.is_ipv4()
}

// ---------------------------------------------------------------------------------------------
// notify.dump

/// A virtual notifier's state as `notify.dump` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotifyState {
    /// `UNKNOWN`: not evaluated yet.
    Unknown,
    /// `UP`: the "up" script ran last.
    Up,
    /// `DOWN`: the "down" script ran last.
    Down,
}

impl NotifyState {
    /// The spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Unknown => "UNKNOWN",
            NotifyState::Up => "UP",
            NotifyState::Down => "DOWN",
        }
    }

    /// Parses `UNKNOWN`, `UP` or `DOWN` (exact).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "UNKNOWN" => Some(NotifyState::Unknown),
            "UP" => Some(NotifyState::Up),
            "DOWN" => Some(NotifyState::Down),
            _ => None,
        }
    }
}

impl fmt::Display for NotifyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `notify.dump` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotifyEntry {
    /// The virtual.
    pub vkey: VKey,
    /// Its notifier's state.
    pub state: NotifyState,
}

/// `notify.dump`: `vnotify <vkey> - state=<UNKNOWN|UP|DOWN>` per virtual with a notifier.
///
/// A virtual listed twice keeps its first position and takes the last line's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NotifyDump {
    /// The entries, in file order.
    pub entries: Vec<NotifyEntry>,
}

impl NotifyDump {
    /// Parses the text; `label` names it in errors.
    pub fn parse(text: &str, label: &str) -> Result<Self, ParseError> {
        const EXPECTED: &str = "vnotify <vkey> - state=<UNKNOWN|UP|DOWN>";
        let mut entries = Vec::new();
        let mut index = HashMap::new();
        for (n, l) in lines(text) {
            let f = Fields::new(l, label, n);
            f.shape(4, &[2], EXPECTED)?;
            if f.fields[0] != "vnotify" {
                return Err(f.malformed(EXPECTED));
            }
            let vkey = f.vkey(1)?;
            let s = f.keyed(3, "state", EXPECTED)?;
            let state = NotifyState::parse(s).ok_or_else(|| {
                f.invalid("key `state`", s, "expected UNKNOWN, UP or DOWN".into())
            })?;
            insert_last_wins(&mut entries, &mut index, vkey, NotifyEntry { vkey, state });
        }
        Ok(Self { entries })
    }

    /// The file's bytes.
    pub fn write(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            let _ = writeln!(s, "vnotify {} - state={}", e.vkey, e.state);
        }
        s
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        load(path, Self::parse)
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        fsutil::write_atomic(path, self.write().as_bytes())
    }
}

/// Whether a `notify.dump` is left from before the last boot and must be ignored (and removed),
/// so that every notifier fires again after a reboot: its modification time is older than the
/// boot time. The caller supplies both, in Unix seconds (boot time = now - `/proc/uptime`).
pub fn notify_dump_is_stale(mtime_unix: i64, boot_time_unix: i64) -> bool {
    mtime_unix < boot_time_unix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vkey_round_trips_and_rejects_ambiguity() {
        for s in ["10.0.0.1:80:0:0", "0.0.0.0:0:2:300", "[2001:db8::1]:53:1:0"] {
            let k = VKey::from_str(s).expect(s);
            assert_eq!(k.to_string(), s);
        }
        assert!(VKey::from_str("2001:db8::1:53:1:0").is_err());
        assert!(VKey::from_str("[10.0.0.1]:80:0:0").is_err());
        assert!(VKey::from_str("10.0.0.1:80:3:0").is_err());
        assert!(VKey::from_str("10.0.0.1:80:0").is_err());
    }

    #[test]
    fn stale_notify_dump() {
        assert!(notify_dump_is_stale(99, 100));
        assert!(!notify_dump_is_stale(100, 100));
        assert!(!notify_dump_is_stale(101, 100));
    }
}

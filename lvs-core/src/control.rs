//! The surealived control port (default `127.0.0.1:1337`): its requests, the views a daemon
//! answers them from, and the [`ControlHandler`] a daemon implements.
//!
//! The original's grammar (`reference/surealived-formats.md` §3.8): one command per line,
//! `vlist`, `rlist`, `rset`, `stats` or `connstats`, then `key=value` words (`vproto`, `vaddr`,
//! `vport`, `vfwmark`, `raddr`, `rport`, `rstate`, `rweight`). This module is sans-IO: the
//! network server lives in the daemon (`lvs-cli`), which calls [`ControlHandler`] for the data
//! and this module's functions to parse requests and render replies.
//!
//! ```text
//!  client                      server (lvs-cli::control)        this module
//!  "rset vproto=tcp ... \n" ->  one line (<= 8 KiB)       ->  parse() -> ParsedRequest
//!                                                              find_virtual() / find_real()
//!                                                              ControlHandler::rset()
//!  "Set: rstate=DOWN, ...\n"                                   render_rset()
//!  "_SD_CMD_END_\n"          <-  bytes                     <-  Reply
//! ```
//!
//! * [`parse`] reads a line with the original's grammar into a [`ParsedRequest`] (the request
//!   and whether its JSON form is asked for), or a [`ControlError`] carrying the original's
//!   message;
//! * [`find_virtual`] and [`find_real`] look a selector up with the original's rules;
//! * `render_*` write the text replies byte for byte as the original, [`json`] their JSON form,
//!   and [`render_error`] the error reply (`ERROR <message>` then `_SD_CMD_END_`, see
//!   `docs/quirks.md` row 6);
//! * [`respond`] does all of it for one line against a [`ControlHandler`].
//!
//! `docs/control-port.md` describes the protocol for operators.

pub mod json;

use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::time::Duration;

use crate::formats::dumps::{Problems, Times};
use crate::formats::ipvsfull::{Rt, VProto};
use crate::model::{DestKey, ServiceKey};
use crate::state::{AdminState, WeightOverride};

/// Which virtual a command names: the original's `vproto`, `vaddr` (default `0.0.0.0`), `vport`
/// (default 0) and `vfwmark` (default 0). The first virtual that has a fwmark equal to a
/// non-zero `fwmark`, or has no fwmark and matches `addr`, `port` and `proto`, is the one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VirtualSelector {
    /// `vproto`: required by `rlist` and `rset`.
    pub proto: VProto,
    /// `vaddr`.
    pub addr: IpAddr,
    /// `vport`.
    pub port: u16,
    /// `vfwmark`, 0 = none.
    pub fwmark: u32,
}

/// What a control-port line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `vlist`: every virtual.
    Vlist,
    /// `rlist`: one virtual and its reals.
    Rlist(VirtualSelector),
    /// `rset`: change a real's operator state and/or weight override.
    Rset {
        /// The virtual.
        virtual_sel: VirtualSelector,
        /// The real (`raddr`, `rport`).
        real: DestKey,
        /// `rstate`, if given.
        rstate: Option<AdminState>,
        /// `rweight`, if given.
        rweight: Option<WeightOverride>,
    },
    /// `stats`: global counters.
    Stats,
    /// `connstats`: per virtual and real timing statistics.
    Connstats,
}

/// One virtual as the control port shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualView {
    /// Its identity (what [`ControlHandler::rset`] is given back).
    pub key: ServiceKey,
    /// `vname`.
    pub name: String,
    /// `vproto`.
    pub proto: VProto,
    /// `vaddr` (`0.0.0.0` for a fwmark virtual).
    pub addr: IpAddr,
    /// `vport`.
    pub port: u16,
    /// `vfwmark`, 0 = none.
    pub fwmark: u32,
    /// `vrt`.
    pub rt: Rt,
    /// `vsched`.
    pub sched: String,
}

/// One real of a virtual as the control port shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealView {
    /// Its identity (`raddr`, `rport`).
    pub key: DestKey,
    /// `rname`.
    pub name: String,
    /// `currwgt`: the effective weight now (0 when not up).
    pub current_weight: u32,
    /// `confwgt`: the weight in the service file.
    pub conf_weight: u32,
    /// `ronline`: whether its tests pass.
    pub online: bool,
    /// `rstate`: the operator's state.
    pub rstate: AdminState,
    /// The operator's weight override, if any.
    pub weight_override: Option<WeightOverride>,
    /// Whether it is in the wanted IPVS table now.
    pub in_ipvs: bool,
}

/// A virtual and its reals, in service-file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualListing {
    /// The virtual.
    pub virtual_view: VirtualView,
    /// Its reals.
    pub reals: Vec<RealView>,
}

/// What an accepted `rset` set: the original's `Set: rstate=<S>, weight=<w>, inpercent=<B>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsetReply {
    /// The real's operator state after the command.
    pub rstate: AdminState,
    /// The override's value (the configured weight when there is none).
    pub weight: u32,
    /// Whether that value is a percentage.
    pub in_percent: bool,
}

/// The test counters of `stats` (`=== tests stats ===`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestCounters {
    /// `t_success`.
    pub success: u64,
    /// `t_failed`.
    pub failed: u64,
    /// `t_online_set`.
    pub online_set: u64,
    /// `t_offline_set`.
    pub offline_set: u64,
    /// `t_conn_problem`.
    pub conn_problem: u64,
    /// `t_arp_problem`.
    pub arp_problem: u64,
    /// `t_rst_problem`.
    pub rst_problem: u64,
    /// `t_bytes_rcvd`.
    pub bytes_received: u64,
    /// `t_bytes_sent`.
    pub bytes_sent: u64,
}

/// What the daemon knows for `stats` (the server adds the process's resource and memory usage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsView {
    /// `watchdog_pid` (`None` = -1: no watchdog).
    pub watchdog_pid: Option<u32>,
    /// `tester_pid`.
    pub tester_pid: u32,
    /// `virtuals`.
    pub virtuals: usize,
    /// `reals` (pairs of a virtual and a real).
    pub reals: usize,
    /// `ronline`: reals whose operator state is ONLINE.
    pub rstate_online: usize,
    /// `roffline`: OFFLINE.
    pub rstate_offline: usize,
    /// `rdown`: DOWN.
    pub rstate_down: usize,
    /// `offline_size`: entries of `offline.dump` (reals whose tests fail).
    pub offline_size: usize,
    /// `override_size`: entries of `override.dump`.
    pub override_size: usize,
    /// `success`: reals whose tests pass now.
    pub success: usize,
    /// `failed`: reals whose tests fail now.
    pub failed: usize,
    /// The test counters.
    pub tests: TestCounters,
}

/// One real's timing statistics for `connstats` (times in µs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RealConnStats {
    /// Tests recorded.
    pub total: u64,
    /// Connection problems.
    pub problems: Problems,
    /// The last test's times.
    pub last_us: Times<i64>,
    /// Average over the last `stats_samples` tests.
    pub sample_avg_us: Times<i64>,
    /// Lifetime average.
    pub lifetime_avg_us: Times<i64>,
}

/// One virtual's timing statistics for `connstats`; `reals` parallels the listing's reals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualConnStats {
    /// The virtual and its reals.
    pub listing: VirtualListing,
    /// The tester's `stats_samples`.
    pub samples: u32,
    /// Tests recorded over its reals.
    pub total: u64,
    /// Mean of the reals' sample averages.
    pub sample_avg_us: Times<i64>,
    /// Connection problems over its reals.
    pub problems: Problems,
    /// The reals' statistics, in the listing's order.
    pub reals: Vec<RealConnStats>,
}

/// What a daemon gives the control port. Every method is called from the server's task and
/// must not block for long (take a lock, copy, release).
pub trait ControlHandler: Send + Sync {
    /// Every virtual with its reals, in service-file order.
    fn listing(&self) -> Vec<VirtualListing>;

    /// Applies `rset` to the real `real` of the virtual `virtual_key` (both as a listing showed
    /// them): at least one of `rstate` and `rweight` is `Some`. The daemon updates the real,
    /// rewrites `override.dump` and emits the change (diff record or kernel update). `Err` is a
    /// one-line reason (the real or virtual is gone, the file could not be written).
    fn rset(
        &self,
        virtual_key: &ServiceKey,
        real: &DestKey,
        rstate: Option<AdminState>,
        rweight: Option<WeightOverride>,
    ) -> Result<RsetReply, String>;

    /// The counters of `stats`.
    fn stats(&self) -> StatsView;

    /// The statistics of `connstats`, or `None` when `gather_stats` is off.
    fn connstats(&self) -> Option<Vec<VirtualConnStats>>;
}

/// The line that ends every reply: `_SD_CMD_END_`.
pub const END_MARKER: &str = "_SD_CMD_END_";

/// The prefix of every error reply's first line (`docs/quirks.md`, row 6).
pub const ERROR_PREFIX: &str = "ERROR ";

/// The form a listing command's reply takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// The original's text lines.
    #[default]
    Text,
    /// One line of JSON ([`json`]), asked for with a bare `json` word or `format=json`; both are
    /// words the original ignores. `rset` always answers in text.
    Json,
}

/// A parsed request line: what it asks for and in which form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRequest {
    /// The command and its parameters.
    pub request: Request,
    /// Text or JSON.
    pub format: Format,
}

/// Why a request got an error reply. The `Display` text is what follows [`ERROR_PREFIX`] on the
/// wire: the original's message where it had one, so that scripts grepping for it still match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The line starts with no known command (the line is echoed, control characters escaped).
    #[error("Invalid request! [{0}]")]
    InvalidRequest(String),
    /// `rlist`/`rset` without `vproto`.
    #[error("cmd_find_virt: No vproto specified")]
    NoVproto,
    /// A `vproto` other than `tcp`, `udp`, `fwmark` (the original answered `Virt not found`).
    #[error("cmd_find_virt: vproto unknown [{0}]")]
    UnknownVproto(String),
    /// A `vaddr` that is no IPv4 or IPv6 address (the original answered garbage).
    #[error("cmd_find_virt: invalid IP [{0}]")]
    InvalidVaddr(String),
    /// A `vport` that is not a number from 0 to 65535 (the original read it with `atoi`).
    #[error("cmd_find_virt: invalid vport [{0}]")]
    InvalidVport(String),
    /// A `vfwmark` that is not a number from 0 to 4294967295 (the original used `atoi`).
    #[error("cmd_find_virt: invalid vfwmark [{0}]")]
    InvalidVfwmark(String),
    /// No virtual matches the selector.
    #[error("cmd_find_virt: Virt not found")]
    VirtNotFound,
    /// `rset` on a virtual without reals.
    #[error("cmd_find_real: empty realArr")]
    EmptyRealArr,
    /// `rset` without `raddr`.
    #[error("cmd_find_real: raddr not found")]
    NoRaddr,
    /// `rset` without `rport`.
    #[error("cmd_find_real: rport not found")]
    NoRport,
    /// A `raddr` that is no IPv4 or IPv6 address.
    #[error("cmd_find_real: invalid IP [{0}]")]
    InvalidRaddr(String),
    /// A `rport` that is not a number from 0 to 65535 (the original used `atoi`).
    #[error("cmd_find_real: invalid rport [{0}]")]
    InvalidRport(String),
    /// The virtual has no real with that address and port.
    #[error("cmd_find_real: Real not found")]
    RealNotFound,
    /// `rset` with neither `rstate` nor `rweight`.
    #[error("cmd_rset: you need to set at least 'rstate' or 'rweight'")]
    NothingToSet,
    /// An `rstate` other than `ONLINE`, `OFFLINE`, `DOWN` (exact upper case).
    #[error("cmd_rset: rstate unknown [{0}]")]
    UnknownRstate(String),
    /// An `rweight` that is not `1*DIGIT ["%"]` (the original used `atoi`).
    #[error("cmd_rset: rweight invalid [{0}]")]
    InvalidRweight(String),
    /// A `format=` other than `text` or `json`.
    #[error("format unknown [{0}] (text or json)")]
    UnknownFormat(String),
    /// The daemon refused the `rset` ([`ControlHandler::rset`]'s reason).
    #[error("cmd_rset: {0}")]
    Rejected(String),
    /// The server's client limit is reached (sent before the connection is closed).
    #[error("too many clients (at most {0}), try again later")]
    TooManyClients(usize),
    /// A line longer than the server's limit (sent before the connection is closed).
    #[error("request line longer than {0} bytes")]
    LineTooLong(usize),
    /// The handler failed unexpectedly (a panic in the daemon's code).
    #[error("internal error: {0}")]
    Internal(String),
}

/// A rendered reply: the bytes to send and whether it is an error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The whole reply, ending with `_SD_CMD_END_\n`.
    pub text: String,
    /// Whether the reply is an error (its first line starts with [`ERROR_PREFIX`]).
    pub is_error: bool,
}

impl Reply {
    fn ok(text: String) -> Self {
        Self {
            text,
            is_error: false,
        }
    }
}

impl From<ControlError> for Reply {
    fn from(e: ControlError) -> Self {
        Self {
            text: render_error(&e),
            is_error: true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// The `key=value` words of a line as the original splits them: words separated by space or TAB,
/// words without `=` ignored, the value is the text between the first and the second `=`, and a
/// later word replaces an earlier one with the same key.
#[derive(Debug, Default)]
struct Words<'a> {
    pairs: Vec<(&'a str, &'a str)>,
    json: bool,
}

impl<'a> Words<'a> {
    fn split(line: &'a str) -> Self {
        let mut words = Words::default();
        for word in line.split([' ', '\t']) {
            let mut parts = word.split('=');
            let key = parts.next().unwrap_or_default();
            match parts.next() {
                Some(value) => words.pairs.push((key, value)),
                None if word == "json" => words.json = true,
                None => {}
            }
        }
        words
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

/// Strips one trailing LF and then one trailing CR.
fn trim_eol(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// `s` with control characters (other than TAB) escaped as `\xNN`, so an echo stays one line.
fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_selector(words: &Words<'_>) -> Result<VirtualSelector, ControlError> {
    let proto = words.get("vproto").ok_or(ControlError::NoVproto)?;
    let proto =
        VProto::parse(proto).ok_or_else(|| ControlError::UnknownVproto(escape_controls(proto)))?;
    let addr = match words.get("vaddr") {
        None => IpAddr::from([0, 0, 0, 0]),
        Some(a) => a
            .parse()
            .map_err(|_| ControlError::InvalidVaddr(escape_controls(a)))?,
    };
    let port = match words.get("vport") {
        None => 0,
        Some(p) => parse_digits(p).ok_or_else(|| ControlError::InvalidVport(escape_controls(p)))?,
    };
    let fwmark = match words.get("vfwmark") {
        None => 0,
        Some(f) => {
            parse_digits(f).ok_or_else(|| ControlError::InvalidVfwmark(escape_controls(f)))?
        }
    };
    Ok(VirtualSelector {
        proto,
        addr,
        port,
        fwmark,
    })
}

fn parse_rset(words: &Words<'_>) -> Result<Request, ControlError> {
    let virtual_sel = parse_selector(words)?;
    let raddr = words.get("raddr").ok_or(ControlError::NoRaddr)?;
    let rport = words.get("rport").ok_or(ControlError::NoRport)?;
    let addr = raddr
        .parse()
        .map_err(|_| ControlError::InvalidRaddr(escape_controls(raddr)))?;
    let port =
        parse_digits(rport).ok_or_else(|| ControlError::InvalidRport(escape_controls(rport)))?;
    let (rstate, rweight) = (words.get("rstate"), words.get("rweight"));
    if rstate.is_none() && rweight.is_none() {
        return Err(ControlError::NothingToSet);
    }
    let rstate = rstate
        .map(|s| {
            AdminState::parse(s).ok_or_else(|| ControlError::UnknownRstate(escape_controls(s)))
        })
        .transpose()?;
    let rweight = rweight
        .map(|w| {
            WeightOverride::parse(w).ok_or_else(|| ControlError::InvalidRweight(escape_controls(w)))
        })
        .transpose()?;
    Ok(Request::Rset {
        virtual_sel,
        real: DestKey { addr, port },
        rstate,
        rweight,
    })
}

/// Parses one request line with the original's grammar (`docs/control-port.md`).
///
/// The line may still end with LF or CR LF. The command is matched as a prefix of the line
/// (`vlistfoo` is `vlist`), the parameters are `key=value` words split on space and TAB; a bare
/// `json` word or `format=json` asks for the JSON form of a listing command.
///
/// ```
/// use lvs_core::control::{parse, ControlError, Format, Request};
///
/// let p = parse("rlist vproto=tcp vaddr=10.0.0.1 vport=80 json\r\n").unwrap();
/// assert!(matches!(p.request, Request::Rlist(s) if s.port == 80));
/// assert_eq!(p.format, Format::Json);
/// assert_eq!(parse("rlist vaddr=10.0.0.1"), Err(ControlError::NoVproto));
/// assert_eq!(
///     parse("quit").unwrap_err().to_string(),
///     "Invalid request! [quit]"
/// );
/// ```
pub fn parse(line: &str) -> Result<ParsedRequest, ControlError> {
    let line = trim_eol(line);
    let words = Words::split(line);
    let format = match words.get("format") {
        None if words.json => Format::Json,
        None | Some("text") => Format::Text,
        Some("json") => Format::Json,
        Some(other) => return Err(ControlError::UnknownFormat(escape_controls(other))),
    };
    let request = if line.starts_with("vlist") {
        Request::Vlist
    } else if line.starts_with("rlist") {
        Request::Rlist(parse_selector(&words)?)
    } else if line.starts_with("stats") {
        Request::Stats
    } else if line.starts_with("rset") {
        parse_rset(&words)?
    } else if line.starts_with("connstats") {
        Request::Connstats
    } else {
        return Err(ControlError::InvalidRequest(escape_controls(line)));
    };
    Ok(ParsedRequest { request, format })
}

/// [`parse`] of raw bytes off the wire: invalid UTF-8 is replaced by U+FFFD first.
pub fn parse_bytes(line: &[u8]) -> Result<ParsedRequest, ControlError> {
    parse(&String::from_utf8_lossy(line))
}

impl fmt::Display for VirtualSelector {
    /// The selector's words: `vproto=tcp vaddr=10.0.0.1 vport=80 vfwmark=0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vproto={} vaddr={} vport={} vfwmark={}",
            self.proto, self.addr, self.port, self.fwmark
        )
    }
}

impl fmt::Display for Request {
    /// The request line (without LF) that [`parse`] reads back as this request.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Vlist => f.write_str("vlist"),
            Request::Stats => f.write_str("stats"),
            Request::Connstats => f.write_str("connstats"),
            Request::Rlist(sel) => write!(f, "rlist {sel}"),
            Request::Rset {
                virtual_sel,
                real,
                rstate,
                rweight,
            } => {
                write!(
                    f,
                    "rset {virtual_sel} raddr={} rport={}",
                    real.addr, real.port
                )?;
                if let Some(s) = rstate {
                    write!(f, " rstate={s}")?;
                }
                if let Some(w) = rweight {
                    write!(f, " rweight={w}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for ParsedRequest {
    /// The request line, with a ` json` word when the JSON form is asked for.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.request)?;
        if self.format == Format::Json {
            f.write_str(" json")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Lookup

/// The virtual a selector names, with its index: the first virtual that has a fwmark equal to
/// the selector's non-zero `fwmark`, or has no fwmark and matches address, port and protocol.
///
/// ```
/// use lvs_core::control::{find_virtual, ControlError, VirtualSelector};
/// use lvs_core::formats::ipvsfull::VProto;
///
/// let sel = VirtualSelector { proto: VProto::Tcp, addr: [10, 0, 0, 1].into(), port: 80, fwmark: 0 };
/// assert_eq!(find_virtual(&[], &sel).unwrap_err(), ControlError::VirtNotFound);
/// ```
pub fn find_virtual<'a>(
    listing: &'a [VirtualListing],
    sel: &VirtualSelector,
) -> Result<(usize, &'a VirtualListing), ControlError> {
    listing
        .iter()
        .enumerate()
        .find(|(_, l)| {
            let v = &l.virtual_view;
            (sel.fwmark > 0 && v.fwmark == sel.fwmark)
                || (v.fwmark == 0
                    && v.addr == sel.addr
                    && v.port == sel.port
                    && v.proto == sel.proto)
        })
        .ok_or(ControlError::VirtNotFound)
}

/// The real of a virtual with this address and port, with its index (`empty realArr` when the
/// virtual has no reals, `Real not found` when none matches).
pub fn find_real<'a>(
    listing: &'a VirtualListing,
    real: &DestKey,
) -> Result<(usize, &'a RealView), ControlError> {
    if listing.reals.is_empty() {
        return Err(ControlError::EmptyRealArr);
    }
    listing
        .reals
        .iter()
        .enumerate()
        .find(|(_, r)| r.key.addr == real.addr && r.key.port == real.port)
        .ok_or(ControlError::RealNotFound)
}

// ---------------------------------------------------------------------------------------------
// Process usage (filled by the server)

/// The process's resource usage for `stats` (`getrusage(RUSAGE_SELF)` and `/proc/self/fd`),
/// which the server reads: this crate does no I/O.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessUsage {
    /// `user_time`.
    pub user_time: Duration,
    /// `system_time`.
    pub system_time: Duration,
    /// `block_in_ops` (`ru_inblock`).
    pub block_in_ops: i64,
    /// `block_out_ops` (`ru_oublock`).
    pub block_out_ops: i64,
    /// `messages_sent` (`ru_msgsnd`).
    pub messages_sent: i64,
    /// `messages_rcvd` (`ru_msgrcv`).
    pub messages_rcvd: i64,
    /// `signals_rcvd` (`ru_nsignals`).
    pub signals_rcvd: i64,
    /// `voluntary_ctx` (`ru_nvcsw`).
    pub voluntary_ctx: i64,
    /// `involunt_ctx` (`ru_nivcsw`).
    pub involunt_ctx: i64,
    /// `fd_used`: entries of `/proc/self/fd`.
    pub fd_used: u64,
    /// The `Vm*` lines of `/proc/self/status`, in file order ([`parse_vm_lines`]).
    pub memory: Vec<VmLine>,
}

/// One `Vm*` line of `/proc/<pid>/status`: `VmRSS: 1234 kB` is name `RSS`, value 1234, unit
/// `kB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmLine {
    /// The name after `Vm`, without the colon.
    pub name: String,
    /// The number.
    pub value: i64,
    /// The unit (`kB`).
    pub unit: String,
}

/// The `Vm*` lines of a `/proc/<pid>/status` text, as the original reads them
/// (`Vm<name>: <number> <unit>`; other lines and malformed ones are skipped).
///
/// ```
/// use lvs_core::control::parse_vm_lines;
///
/// let v = parse_vm_lines("Name:\tx\nVmPeak:\t  2048 kB\nVmRSS:\t   512 kB\n");
/// assert_eq!((v[1].name.as_str(), v[1].value, v[1].unit.as_str()), ("RSS", 512, "kB"));
/// ```
pub fn parse_vm_lines(status: &str) -> Vec<VmLine> {
    status
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("Vm")?;
            let mut it = rest.split_whitespace();
            let name = it.next()?.strip_suffix(':')?;
            let value = it.next()?.parse().ok()?;
            let unit = it.next()?;
            Some(VmLine {
                name: name.to_owned(),
                value,
                unit: unit.to_owned(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Text rendering

fn bool_str(b: bool) -> &'static str {
    if b {
        "TRUE"
    } else {
        "FALSE"
    }
}

fn virtual_fields(v: &VirtualView) -> String {
    format!(
        "vname={} vproto={} vaddr={} vport={} vfwmark={} vrt={} vsched={}",
        v.name, v.proto, v.addr, v.port, v.fwmark, v.rt, v.sched
    )
}

fn end(mut s: String) -> String {
    s.push_str(END_MARKER);
    s.push('\n');
    s
}

/// The error reply: `ERROR <message>` then `_SD_CMD_END_`.
///
/// ```
/// use lvs_core::control::{render_error, ControlError};
///
/// assert_eq!(
///     render_error(&ControlError::VirtNotFound),
///     "ERROR cmd_find_virt: Virt not found\n_SD_CMD_END_\n"
/// );
/// ```
pub fn render_error(e: &ControlError) -> String {
    end(format!("{ERROR_PREFIX}{e}\n"))
}

/// The `vlist` reply: `v:<i> vname=... vsched=<s>` per virtual.
pub fn render_vlist(listing: &[VirtualListing]) -> String {
    let mut s = String::new();
    for (i, l) in listing.iter().enumerate() {
        let _ = writeln!(s, "v:{i} {}", virtual_fields(&l.virtual_view));
    }
    end(s)
}

/// The `rlist` reply: the virtual's line, then `r:<j> ...` per real, or
/// `EMPTY LIST - no reals defined in virtual`.
pub fn render_rlist(l: &VirtualListing) -> String {
    let mut s = virtual_fields(&l.virtual_view);
    s.push('\n');
    if l.reals.is_empty() {
        s.push_str("EMPTY LIST - no reals defined in virtual\n");
    }
    for (j, r) in l.reals.iter().enumerate() {
        let _ = writeln!(
            s,
            "r:{j} rname={} raddr={} rport={} currwgt={} confwgt={} ronline={} rstate={}",
            r.name,
            r.key.addr,
            r.key.port,
            r.current_weight,
            r.conf_weight,
            bool_str(r.online),
            r.rstate
        );
    }
    end(s)
}

/// The `rset` reply: `Set: rstate=<S>, weight=<w>, inpercent=<TRUE|FALSE>`.
pub fn render_rset(r: &RsetReply) -> String {
    end(format!(
        "Set: rstate={}, weight={}, inpercent={}\n",
        r.rstate,
        r.weight,
        bool_str(r.in_percent)
    ))
}

fn secs(d: Duration) -> String {
    format!("{}.{:06} sec", d.as_secs(), d.subsec_micros())
}

/// The `stats` reply: the daemon's counters, then the process's resource and memory usage.
pub fn render_stats(st: &StatsView, usage: &ProcessUsage) -> String {
    let mut s = String::new();
    let kv = |s: &mut String, k: &str, v: &dyn fmt::Display| {
        let _ = writeln!(s, "{k:<15}: {v}");
    };
    let watchdog: i64 = st.watchdog_pid.map_or(-1, i64::from);
    s.push_str("=== global stats ===\n");
    kv(&mut s, "watchdog_pid", &watchdog);
    kv(&mut s, "tester_pid", &st.tester_pid);
    kv(&mut s, "virtuals", &st.virtuals);
    kv(&mut s, "reals", &st.reals);
    s.push_str("\n=== real settings ===\n");
    kv(&mut s, "ronline", &st.rstate_online);
    kv(&mut s, "roffline", &st.rstate_offline);
    kv(&mut s, "rdown", &st.rstate_down);
    kv(&mut s, "offline_size", &st.offline_size);
    kv(&mut s, "override_size", &st.override_size);
    s.push_str("\n=== real stats ===\n");
    kv(&mut s, "success", &st.success);
    kv(&mut s, "failed", &st.failed);
    let t = &st.tests;
    s.push_str("\n=== tests stats ===\n");
    kv(&mut s, "t_success", &t.success);
    kv(&mut s, "t_failed", &t.failed);
    kv(&mut s, "t_online_set", &t.online_set);
    kv(&mut s, "t_offline_set", &t.offline_set);
    kv(&mut s, "t_conn_problem", &t.conn_problem);
    kv(&mut s, "t_arp_problem", &t.arp_problem);
    kv(&mut s, "t_rst_problem", &t.rst_problem);
    kv(&mut s, "t_bytes_rcvd", &t.bytes_received);
    kv(&mut s, "t_bytes_sent", &t.bytes_sent);
    let u = usage;
    s.push_str("\n=== resource usage ===\n");
    kv(&mut s, "user_time", &secs(u.user_time));
    kv(&mut s, "system_time", &secs(u.system_time));
    kv(&mut s, "block_in_ops", &u.block_in_ops);
    kv(&mut s, "block_out_ops", &u.block_out_ops);
    kv(&mut s, "messages_sent", &u.messages_sent);
    kv(&mut s, "messages_rcvd", &u.messages_rcvd);
    kv(&mut s, "signals_rcvd", &u.signals_rcvd);
    kv(&mut s, "voluntary_ctx", &u.voluntary_ctx);
    kv(&mut s, "involunt_ctx", &u.involunt_ctx);
    kv(&mut s, "fd_used", &u.fd_used);
    s.push_str("\n=== memory usage ===\n");
    for m in &u.memory {
        let _ = writeln!(s, "Vm{:<12} : {:<6} {}", m.name, m.value, m.unit);
    }
    end(s)
}

/// The `connstats` reply; `None` (statistics not gathered) gives `Gathering statistics is OFF`.
/// The virtual's averages are shown in ms (the original's default, without `logmicro`).
pub fn render_connstats(stats: Option<&[VirtualConnStats]>) -> String {
    let Some(stats) = stats else {
        return end("Gathering statistics is OFF\n".to_owned());
    };
    let mut s = String::new();
    for (i, vs) in stats.iter().enumerate() {
        let v = &vs.listing.virtual_view;
        let _ = writeln!(
            s,
            "Virtual:\nv:{i} {} samples={} total={} savgconn={}ms savgresp={}ms savgtotal={}ms \
             connprob={} arpprob={} rstprob={}\n",
            virtual_fields(v),
            vs.samples,
            vs.total,
            vs.sample_avg_us.conn / 1000,
            vs.sample_avg_us.resp / 1000,
            vs.sample_avg_us.total / 1000,
            vs.problems.conn,
            vs.problems.arp,
            vs.problems.rst
        );
        s.push_str("Reals:\n");
        let vprefix = format!(
            "vname={} vproto={} vaddr={} vport={} vfwmark={}",
            v.name, v.proto, v.addr, v.port, v.fwmark
        );
        for (j, (r, rs)) in vs.listing.reals.iter().zip(&vs.reals).enumerate() {
            let head = |tag: &str| {
                format!(
                    "r:{i}.{j} {tag} {vprefix} rname={} raddr={} rport={} total={} ",
                    r.name, r.key.addr, r.key.port, rs.total
                )
            };
            let times = |s: &mut String, tag: &str, names: [&str; 3], t: &Times<i64>, ms: bool| {
                let (d, unit) = if ms { (1000, "ms") } else { (1, "us") };
                let _ = writeln!(
                    s,
                    "{}{}={}{unit} {}={}{unit} {}={}{unit}",
                    head(tag),
                    names[0],
                    t.conn / d,
                    names[1],
                    t.resp / d,
                    names[2],
                    t.total / d
                );
            };
            let _ = writeln!(
                s,
                "{}connprob={} arpprob={} rstprob={}",
                head("real-stats"),
                rs.problems.conn,
                rs.problems.arp,
                rs.problems.rst
            );
            let last = ["lastconn", "lastresp", "lasttotal"];
            let savg = ["savgconn", "savgresp", "savgtotal"];
            let tavg = ["tavgconn", "tavgresp", "tavgtotal"];
            times(&mut s, "lstats_ms ", last, &rs.last_us, true);
            times(&mut s, "lstats_us ", last, &rs.last_us, false);
            times(&mut s, "sstats_ms ", savg, &rs.sample_avg_us, true);
            times(&mut s, "sstats_us ", savg, &rs.sample_avg_us, false);
            times(&mut s, "tstats_ms ", tavg, &rs.lifetime_avg_us, true);
            times(&mut s, "tstats_us ", tavg, &rs.lifetime_avg_us, false);
            s.push('\n');
        }
        if !vs.listing.reals.is_empty() {
            s.push_str("-----\n");
        }
        s.push('\n');
    }
    end(s)
}

// ---------------------------------------------------------------------------------------------
// Answering a request

/// Answers one request line from `handler`: parses it, looks the virtual and real up, calls the
/// handler and renders the reply (text or JSON). `usage` is called only for `stats`.
///
/// The handler is called at most once per method: `listing` for `vlist`, `rlist` and `rset`,
/// `rset` after a successful lookup, `stats` or `connstats`.
pub fn respond(
    handler: &dyn ControlHandler,
    line: &str,
    usage: impl FnOnce() -> ProcessUsage,
) -> Reply {
    match parse(line) {
        Ok(req) => respond_parsed(handler, &req, usage),
        Err(e) => e.into(),
    }
}

/// [`respond`] for an already parsed request.
pub fn respond_parsed(
    handler: &dyn ControlHandler,
    req: &ParsedRequest,
    usage: impl FnOnce() -> ProcessUsage,
) -> Reply {
    let json = req.format == Format::Json;
    let text = match &req.request {
        Request::Vlist => {
            let listing = handler.listing();
            if json {
                json::vlist(&listing)
            } else {
                render_vlist(&listing)
            }
        }
        Request::Rlist(sel) => {
            let listing = handler.listing();
            let (index, l) = match find_virtual(&listing, sel) {
                Ok(found) => found,
                Err(e) => return e.into(),
            };
            if json {
                json::rlist(index, l)
            } else {
                render_rlist(l)
            }
        }
        Request::Rset {
            virtual_sel,
            real,
            rstate,
            rweight,
        } => {
            let listing = handler.listing();
            let found = find_virtual(&listing, virtual_sel)
                .and_then(|(_, l)| find_real(l, real).map(|(_, r)| (l, r)));
            let (l, r) = match found {
                Ok(found) => found,
                Err(e) => return e.into(),
            };
            match handler.rset(&l.virtual_view.key, &r.key, *rstate, *rweight) {
                Ok(reply) => render_rset(&reply),
                Err(reason) => return ControlError::Rejected(escape_controls(&reason)).into(),
            }
        }
        Request::Stats => {
            let stats = handler.stats();
            let usage = usage();
            if json {
                json::stats(&stats, &usage)
            } else {
                render_stats(&stats, &usage)
            }
        }
        Request::Connstats => {
            let stats = handler.connstats();
            if json {
                json::connstats(stats.as_deref())
            } else {
                render_connstats(stats.as_deref())
            }
        }
    };
    Reply::ok(text)
}

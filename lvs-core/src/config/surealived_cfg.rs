//! `surealived.cfg`, the main configuration shared by surealived and ipvssync.
//!
//! Two stages:
//!
//! 1. [`RawMainCfg::parse`] splits the text exactly as the original does (`sscanf("%32s
//!    %1024s")` on each line): a line whose **first** character is `#` is a comment; otherwise
//!    the first whitespace-separated token (at most 32 bytes) is the key and the next one (at
//!    most 1024 bytes) the value; the rest of the line is ignored. This stage cannot fail.
//! 2. [`RawMainCfg::validate`] applies the original's rules: a later key overwrites an earlier
//!    one, booleans are true exactly when the value's first character, upper-cased, is `T`,
//!    `loop_interval_ms` is forced to `startup_delay_ms / 2` when larger than
//!    `startup_delay_ms`, `epoll_size` is raised to at least 256. It gives a [`MainConfig`].
//!
//! Where we differ, deliberately:
//!
//! * an invalid number, level, address or port is an error naming the line and key (the
//!   original read garbage as 0 with `atoi`);
//! * `loop_interval_ms` and `startup_delay_ms` must be at least 1 (the original divides by
//!   them);
//! * unknown keys are still ignored, but each gives a warning in [`MainConfig::warnings`] with
//!   a "did you mean" suggestion, as do a key without value, a key given twice and a boolean
//!   whose value does not start with `t`/`T`/`f`/`F` (`use_log 1` is *false*). At most
//!   [`MAX_WARNINGS`] are kept, then one more says how many were left out;
//! * a UTF-8 byte order mark at the start of the file is skipped (the original would make it
//!   part of the first key).
//!
//! A missing file means every default ([`load_main_cfg`]).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::error::{closest, Error, Location, ParseError, ParseErrorKind};

/// Every key the original reads, with its default as written in the file.
pub const MAIN_CFG_KEYS: &[(&str, &str)] = &[
    ("maxfd", "1024"),
    ("log", "/var/log/surealived/surealived.log"),
    ("use_log", "false"),
    ("logging", "info"),
    ("use_syslog", "false"),
    ("use_tm_in_syslog", "false"),
    ("modules_path", "/usr/lib/surealived/modules/"),
    ("modules", "all"),
    ("epoll_size", "256"),
    ("loop_interval_ms", "100"),
    ("epoll_interval_ms", "10"),
    ("startup_delay_ms", "1000"),
    ("debug_comm", "0"),
    ("debug_comm_path", "/var/log/surealived/comm"),
    ("memlimit", "0"),
    ("stats_dir", "/var/log/surealived/stats"),
    ("log_stats", "false"),
    ("log_stats_combined", "false"),
    ("no_sync", "false"),
    ("lock_sync_file", "/var/lib/surealived/ipvsfull.lock"),
    ("full_sync_file", "/var/lib/surealived/ipvsfull.cfg"),
    ("full_reload_file", "/var/lib/surealived/ipvsfull.reload"),
    ("diff_sync_dir", "/var/lib/surealived/diffs"),
    ("use_offline_dump", "true"),
    ("offline_dump", "/var/lib/surealived/offline.dump"),
    ("override_dump", "/var/lib/surealived/override.dump"),
    ("gather_stats", "true"),
    ("stats_dump", "/var/lib/surealived/stats.dump"),
    ("stats_dump_savesec", "60"),
    ("notify_dump", "/var/lib/surealived/notify.dump"),
    ("listen_addr", "127.0.0.1"),
    ("listen_port", "1337"),
    ("ipvssync_log", "/var/log/surealived/ipvssync.log"),
    ("ipvssync_logging", "debug"),
];

/// The boolean keys.
const BOOL_KEYS: &[&str] = &[
    "use_log",
    "use_syslog",
    "use_tm_in_syslog",
    "log_stats",
    "log_stats_combined",
    "no_sync",
    "use_offline_dump",
    "gather_stats",
];

/// At most this many warnings are kept in [`MainConfig::warnings`]; when there are more, one
/// last warning says how many were left out. (A file of a million unknown keys must not cost a
/// million messages.)
pub const MAX_WARNINGS: usize = 100;

/// The names of [`MAIN_CFG_KEYS`].
fn known_keys() -> impl Iterator<Item = &'static str> + Clone {
    MAIN_CFG_KEYS.iter().map(|(k, _)| *k)
}

/// A key or value as shown in a message: control characters, whitespace other than the space
/// and invisible format characters (a BOM, zero-width spaces, bidi controls) are escaped, so
/// that a message says what is really in the file and cannot play tricks on a terminal.
fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let invisible = matches!(
            c,
            '\u{ad}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        );
        if c.is_control() || (c.is_whitespace() && c != ' ') || invisible {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Longest key `sscanf("%32s")` reads.
const KEY_MAX: usize = 32;
/// Longest value `sscanf("%1024s")` reads.
const VALUE_MAX: usize = 1024;

/// One non-comment line: its key, its value (absent when the line has a single token) and its
/// line number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawCfgEntry {
    /// The first token, at most 32 bytes.
    pub key: String,
    /// The second token, at most 1024 bytes.
    pub value: Option<String>,
    /// 1-based line number.
    pub line: u32,
}

/// `surealived.cfg` as written: its entries in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawMainCfg {
    /// The label used in error locations.
    pub file: String,
    /// The entries, in file order (comments and blank lines left out).
    pub entries: Vec<RawCfgEntry>,
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// `%Ns`: skip whitespace, then read at most `max` non-whitespace bytes.
fn scan_token(s: &[u8], max: usize) -> (&[u8], &[u8]) {
    let start = s.iter().position(|b| !is_c_space(*b)).unwrap_or(s.len());
    let s = &s[start..];
    let len = s
        .iter()
        .take(max)
        .position(|b| is_c_space(*b))
        .unwrap_or(s.len().min(max));
    s.split_at(len)
}

impl RawMainCfg {
    /// Splits `text` into entries, as the original reads the file. A UTF-8 byte order mark at
    /// the very start is skipped.
    pub fn parse(text: &str, file: &str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut entries = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let bytes = line.as_bytes();
            if bytes.first() == Some(&b'#') {
                continue;
            }
            let (key, rest) = scan_token(bytes, KEY_MAX);
            if key.is_empty() {
                continue;
            }
            let (value, _) = scan_token(rest, VALUE_MAX);
            entries.push(RawCfgEntry {
                key: String::from_utf8_lossy(key).into_owned(),
                value: (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned()),
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
            });
        }
        Self {
            file: file.to_string(),
            entries,
        }
    }
}

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    /// Standard error (the value `stderr`).
    Stderr,
    /// A file.
    File(PathBuf),
}

impl LogTarget {
    fn parse(v: &str) -> Self {
        if v == "stderr" {
            LogTarget::Stderr
        } else {
            LogTarget::File(PathBuf::from(v))
        }
    }
}

/// A logging level of the original (each `-v` on the command line adds one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `error` (0).
    Error,
    /// `warn` (1).
    Warn,
    /// `info` (2).
    Info,
    /// `debug` (3).
    Debug,
    /// `dbdet`, detailed debugging (4).
    Dbdet,
}

impl LogLevel {
    /// The names, in level order.
    pub const NAMES: &'static [&'static str] = &["error", "warn", "info", "debug", "dbdet"];

    /// The level by name, any case.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "dbdet" => LogLevel::Dbdet,
            _ => return None,
        })
    }

    /// The number of the level, 0..=4.
    pub fn level(self) -> u8 {
        self as u8
    }

    /// The level raised by `n` steps (`-v` flags), saturating at `dbdet`.
    pub fn raised(self, n: u8) -> Self {
        match self.level().saturating_add(n) {
            0 => LogLevel::Error,
            1 => LogLevel::Warn,
            2 => LogLevel::Info,
            3 => LogLevel::Debug,
            _ => LogLevel::Dbdet,
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[usize::from(self.level())]
    }
}

/// Which tester modules to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Modules {
    /// `all`: every module found.
    All,
    /// The listed module names (`http,dns`).
    List(Vec<String>),
}

/// The validated `surealived.cfg`: every key typed, with the original's defaults and
/// adjustments applied. [`MainConfig::default`] is the defaults table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MainConfig {
    /// `maxfd`: RLIMIT_NOFILE to set (1024).
    pub maxfd: u64,
    /// `log`: log path or `stderr`.
    pub log: LogTarget,
    /// `use_log`: write to the log file (false).
    pub use_log: bool,
    /// `logging`: level (info).
    pub logging: LogLevel,
    /// `use_syslog` (false).
    pub use_syslog: bool,
    /// `use_tm_in_syslog`: timestamps in syslog messages (false).
    pub use_tm_in_syslog: bool,
    /// `modules_path` (/usr/lib/surealived/modules/).
    pub modules_path: PathBuf,
    /// `modules`: `all` or a comma-separated list.
    pub modules: Modules,
    /// `epoll_size`, at least 256.
    pub epoll_size: u32,
    /// `loop_interval_ms`: scheduler tick (100 ms); never more than `startup_delay`.
    pub loop_interval: Duration,
    /// `epoll_interval_ms`: epoll_wait timeout (10 ms).
    pub epoll_interval: Duration,
    /// `startup_delay_ms`: window over which test starts are spread (1000 ms).
    pub startup_delay: Duration,
    /// `debug_comm`: global switch for communication dumps; true only for the value 1.
    pub debug_comm: bool,
    /// `debug_comm_path` (/var/log/surealived/comm).
    pub debug_comm_path: PathBuf,
    /// `memlimit`: watchdog limit in **kB** of VmSize, 0 = unlimited.
    pub memlimit_kb: u64,
    /// `stats_dir` (/var/log/surealived/stats).
    pub stats_dir: PathBuf,
    /// `log_stats`: one file per virtual per loop (false).
    pub log_stats: bool,
    /// `log_stats_combined`: everything appended to one file (false).
    pub log_stats_combined: bool,
    /// `no_sync`: do not write ipvsfull.cfg or diffs (false).
    pub no_sync: bool,
    /// `lock_sync_file`.
    pub lock_sync_file: PathBuf,
    /// `full_sync_file`.
    pub full_sync_file: PathBuf,
    /// `full_reload_file`.
    pub full_reload_file: PathBuf,
    /// `diff_sync_dir`.
    pub diff_sync_dir: PathBuf,
    /// `use_offline_dump` (true).
    pub use_offline_dump: bool,
    /// `offline_dump`.
    pub offline_dump: PathBuf,
    /// `override_dump`.
    pub override_dump: PathBuf,
    /// `gather_stats` (true).
    pub gather_stats: bool,
    /// `stats_dump`.
    pub stats_dump: PathBuf,
    /// `stats_dump_savesec`: stats.dump save period (60 s).
    pub stats_dump_savesec: Duration,
    /// `notify_dump`.
    pub notify_dump: PathBuf,
    /// `listen_addr`: control-port address (127.0.0.1).
    pub listen_addr: IpAddr,
    /// `listen_port`: control port (1337).
    pub listen_port: u16,
    /// `ipvssync_log`: ipvssync's log path or `stderr`.
    pub ipvssync_log: LogTarget,
    /// `ipvssync_logging`: ipvssync's level (debug).
    pub ipvssync_logging: LogLevel,
    /// Problems that did not stop loading: unknown keys, keys without value, keys given twice,
    /// booleans not starting with `t`/`f`; at most [`MAX_WARNINGS`], then one that counts the
    /// others. Empty for [`MainConfig::default`]. Serialized as their messages.
    #[serde(serialize_with = "serialize_messages")]
    pub warnings: Vec<ParseError>,
}

impl Default for MainConfig {
    fn default() -> Self {
        let p = PathBuf::from;
        Self {
            maxfd: 1024,
            log: LogTarget::File(p("/var/log/surealived/surealived.log")),
            use_log: false,
            logging: LogLevel::Info,
            use_syslog: false,
            use_tm_in_syslog: false,
            modules_path: p("/usr/lib/surealived/modules/"),
            modules: Modules::All,
            epoll_size: 256,
            loop_interval: Duration::from_millis(100),
            epoll_interval: Duration::from_millis(10),
            startup_delay: Duration::from_millis(1000),
            debug_comm: false,
            debug_comm_path: p("/var/log/surealived/comm"),
            memlimit_kb: 0,
            stats_dir: p("/var/log/surealived/stats"),
            log_stats: false,
            log_stats_combined: false,
            no_sync: false,
            lock_sync_file: p("/var/lib/surealived/ipvsfull.lock"),
            full_sync_file: p("/var/lib/surealived/ipvsfull.cfg"),
            full_reload_file: p("/var/lib/surealived/ipvsfull.reload"),
            diff_sync_dir: p("/var/lib/surealived/diffs"),
            use_offline_dump: true,
            offline_dump: p("/var/lib/surealived/offline.dump"),
            override_dump: p("/var/lib/surealived/override.dump"),
            gather_stats: true,
            stats_dump: p("/var/lib/surealived/stats.dump"),
            stats_dump_savesec: Duration::from_secs(60),
            notify_dump: p("/var/lib/surealived/notify.dump"),
            listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            listen_port: 1337,
            ipvssync_log: LogTarget::File(p("/var/log/surealived/ipvssync.log")),
            ipvssync_logging: LogLevel::Debug,
            warnings: Vec::new(),
        }
    }
}

fn serialize_messages<S: serde::Serializer>(w: &[ParseError], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(w.iter().map(ToString::to_string))
}

/// A [`MainConfig`] value that `surealived.cfg` cannot hold so that it reads back the same:
/// the grammar has no quoting (a value is one whitespace-free token of at most 1024 bytes) and
/// some values read back as something else (`stderr` as a file name, `all` in a module list,
/// a `loop_interval` above `startup_delay`). [`parse_main_cfg`] never produces one; a
/// configuration built by hand can hold one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key `{key}`: cannot write `{value}` to surealived.cfg: {reason}")]
pub struct UnwritableValue {
    /// The key.
    pub key: &'static str,
    /// The value, as far as it can be shown.
    pub value: String,
    /// Why it cannot be written.
    pub reason: String,
}

/// A value as shown in an [`UnwritableValue`]: escaped, at most 64 characters.
fn clipped(value: &str) -> String {
    let s = shown(value);
    match s.char_indices().nth(60) {
        Some((i, _)) if s.chars().count() > 64 => format!("{}...", &s[..i]),
        _ => s,
    }
}

/// One value as a token, checked against the grammar.
fn token(key: &'static str, value: String) -> Result<(&'static str, String), UnwritableValue> {
    let fail = |reason: &str| UnwritableValue {
        key,
        value: clipped(&value),
        reason: reason.to_string(),
    };
    if value.is_empty() {
        return Err(fail("an empty value reads back as a key without value"));
    }
    if value.bytes().any(is_c_space) {
        return Err(fail(
            "a value cannot contain whitespace (the line is split on it, the rest ignored)",
        ));
    }
    if value.len() > VALUE_MAX {
        return Err(fail(
            "longer than 1024 bytes (only the first 1024 are read)",
        ));
    }
    Ok((key, value))
}

fn path_token(key: &'static str, p: &Path) -> Result<(&'static str, String), UnwritableValue> {
    match p.to_str() {
        Some(s) => token(key, s.to_string()),
        None => Err(UnwritableValue {
            key,
            value: clipped(&p.display().to_string()),
            reason: "not valid UTF-8".into(),
        }),
    }
}

fn log_token(key: &'static str, t: &LogTarget) -> Result<(&'static str, String), UnwritableValue> {
    match t {
        LogTarget::Stderr => Ok((key, "stderr".into())),
        LogTarget::File(p) if p.as_os_str() == "stderr" => Err(UnwritableValue {
            key,
            value: "stderr".into(),
            reason: "a file named `stderr` reads back as standard error; name it `./stderr`".into(),
        }),
        LogTarget::File(p) => path_token(key, p),
    }
}

/// Whole milliseconds, as `*_ms` keys hold them.
fn millis_token(
    key: &'static str,
    d: Duration,
    min: u128,
) -> Result<(&'static str, String), UnwritableValue> {
    let fail = |reason: &str| UnwritableValue {
        key,
        value: format!("{d:?}"),
        reason: reason.into(),
    };
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(fail("not a whole number of milliseconds"));
    }
    let ms = d.as_millis();
    if ms < min {
        return Err(fail("must be at least 1 ms"));
    }
    u64::try_from(ms)
        .map(|ms| (key, ms.to_string()))
        .map_err(|_| fail("more milliseconds than an unsigned 64-bit integer holds"))
}

impl MainConfig {
    /// The configuration written back as a `surealived.cfg` with every key, in the order of
    /// [`MAIN_CFG_KEYS`]. Parsing the result gives this configuration again (without warnings).
    ///
    /// A configuration from [`parse_main_cfg`] or [`MainConfig::default`] can always be
    /// written. One built by hand may hold a value the file cannot (see [`UnwritableValue`]):
    /// then this is an error rather than a file that reads back differently.
    pub fn to_cfg_text(&self) -> Result<String, UnwritableValue> {
        let b = |key, v: bool| Ok((key, if v { "true" } else { "false" }.to_string()));
        let n = |key, v: &dyn ToString| Ok((key, v.to_string()));
        let modules = match &self.modules {
            Modules::All => Ok(("modules", "all".to_string())),
            Modules::List(l) => {
                let fail = |reason: &str| UnwritableValue {
                    key: "modules",
                    value: clipped(&format!("{l:?}")),
                    reason: reason.into(),
                };
                if l.is_empty() {
                    Err(fail("an empty list; use Modules::All or name the modules"))
                } else if l.iter().any(|m| m.is_empty() || m.contains(',')) {
                    Err(fail("a module name must be non-empty and without `,`"))
                } else if l.iter().any(|m| m == "all") {
                    Err(fail(
                        "`all` in a list reads back as an error; use Modules::All",
                    ))
                } else {
                    token("modules", l.join(","))
                }
            }
        };
        let epoll_size = if self.epoll_size < 256 {
            Err(UnwritableValue {
                key: "epoll_size",
                value: self.epoll_size.to_string(),
                reason: "below 256; it reads back as 256".into(),
            })
        } else {
            n("epoll_size", &self.epoll_size)
        };
        let loop_interval = if self.loop_interval > self.startup_delay {
            Err(UnwritableValue {
                key: "loop_interval_ms",
                value: format!("{:?}", self.loop_interval),
                reason: "larger than startup_delay; it reads back as startup_delay / 2".into(),
            })
        } else {
            millis_token("loop_interval_ms", self.loop_interval, 1)
        };
        let savesec = if self.stats_dump_savesec.subsec_nanos() == 0 {
            n("stats_dump_savesec", &self.stats_dump_savesec.as_secs())
        } else {
            Err(UnwritableValue {
                key: "stats_dump_savesec",
                value: format!("{:?}", self.stats_dump_savesec),
                reason: "not a whole number of seconds".into(),
            })
        };
        let values: [Result<(&str, String), UnwritableValue>; 34] = [
            n("maxfd", &self.maxfd),
            log_token("log", &self.log),
            b("use_log", self.use_log),
            n("logging", &self.logging.as_str()),
            b("use_syslog", self.use_syslog),
            b("use_tm_in_syslog", self.use_tm_in_syslog),
            path_token("modules_path", &self.modules_path),
            modules,
            epoll_size,
            loop_interval,
            millis_token("epoll_interval_ms", self.epoll_interval, 0),
            millis_token("startup_delay_ms", self.startup_delay, 1),
            n("debug_comm", &u8::from(self.debug_comm)),
            path_token("debug_comm_path", &self.debug_comm_path),
            n("memlimit", &self.memlimit_kb),
            path_token("stats_dir", &self.stats_dir),
            b("log_stats", self.log_stats),
            b("log_stats_combined", self.log_stats_combined),
            b("no_sync", self.no_sync),
            path_token("lock_sync_file", &self.lock_sync_file),
            path_token("full_sync_file", &self.full_sync_file),
            path_token("full_reload_file", &self.full_reload_file),
            path_token("diff_sync_dir", &self.diff_sync_dir),
            b("use_offline_dump", self.use_offline_dump),
            path_token("offline_dump", &self.offline_dump),
            path_token("override_dump", &self.override_dump),
            b("gather_stats", self.gather_stats),
            path_token("stats_dump", &self.stats_dump),
            savesec,
            path_token("notify_dump", &self.notify_dump),
            n("listen_addr", &self.listen_addr),
            n("listen_port", &self.listen_port),
            log_token("ipvssync_log", &self.ipvssync_log),
            n("ipvssync_logging", &self.ipvssync_logging.as_str()),
        ];
        let mut out = String::new();
        for kv in values {
            let (k, v) = kv?;
            let _ = writeln!(out, "{k} {v}");
        }
        Ok(out)
    }
}

struct Validator<'a> {
    file: &'a str,
}

impl Validator<'_> {
    fn error(&self, e: &RawCfgEntry, kind: ParseErrorKind) -> ParseError {
        ParseError::new(
            Location::new(self.file, e.line, None),
            Some(format!("key `{}`", shown(&e.key))),
            kind,
        )
    }

    fn invalid(&self, e: &RawCfgEntry, v: &str, reason: impl Into<String>) -> ParseError {
        self.error(
            e,
            ParseErrorKind::InvalidValue {
                value: shown(v),
                reason: reason.into(),
            },
        )
    }

    fn u64(&self, e: &RawCfgEntry, v: &str) -> Result<u64, ParseError> {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            v.parse()
                .map_err(|_| self.invalid(e, v, "out of range (0..18446744073709551615)"))
        } else {
            Err(self.invalid(e, v, "expected an unsigned integer"))
        }
    }

    fn u32(&self, e: &RawCfgEntry, v: &str) -> Result<u32, ParseError> {
        u32::try_from(self.u64(e, v)?)
            .map_err(|_| self.invalid(e, v, "out of range (0..4294967295)"))
    }

    fn positive_ms(&self, e: &RawCfgEntry, v: &str) -> Result<Duration, ParseError> {
        match self.u64(e, v)? {
            0 => Err(self.invalid(e, v, "must be at least 1 (ms)")),
            n => Ok(Duration::from_millis(n)),
        }
    }

    fn level(&self, e: &RawCfgEntry, v: &str) -> Result<LogLevel, ParseError> {
        LogLevel::from_name(v).ok_or_else(|| {
            self.invalid(
                e,
                v,
                format!("expected one of {}", LogLevel::NAMES.join(", ")),
            )
        })
    }
}

/// The warnings of one load: the first [`MAX_WARNINGS`] in full, the others only counted (and
/// never built, so their cost is a counter).
struct Warnings<'a> {
    file: &'a str,
    kept: Vec<ParseError>,
    /// How many were left out, and the line of the first of them.
    left_out: Option<(usize, u32)>,
}

impl<'a> Warnings<'a> {
    fn new(file: &'a str) -> Self {
        Self {
            file,
            kept: Vec::new(),
            left_out: None,
        }
    }

    fn push(&mut self, line: u32, make: impl FnOnce() -> ParseError) {
        if self.kept.len() < MAX_WARNINGS {
            self.kept.push(make());
        } else {
            let (n, _) = self.left_out.get_or_insert((0, line));
            *n += 1;
        }
    }

    fn finish(mut self) -> Vec<ParseError> {
        if let Some((n, line)) = self.left_out {
            let s = if n == 1 { "" } else { "s" };
            self.kept.push(ParseError::new(
                Location::new(self.file, line, None),
                None,
                ParseErrorKind::Structure(format!(
                    "{n} more warning{s} not shown (only the first {MAX_WARNINGS} are kept)"
                )),
            ));
        }
        self.kept
    }
}

impl RawMainCfg {
    /// Applies the original's rules and types every key; see the module documentation.
    pub fn validate(&self) -> Result<MainConfig, ParseError> {
        let val = Validator { file: &self.file };
        let mut cfg = MainConfig::default();
        let mut warnings = Warnings::new(&self.file);
        let mut last: Vec<(&RawCfgEntry, &str)> = Vec::new();
        for e in &self.entries {
            if !known_keys().any(|k| k == e.key) {
                warnings.push(e.line, || {
                    ParseError::new(
                        Location::new(&self.file, e.line, None),
                        None,
                        ParseErrorKind::UnknownAttribute {
                            what: "key",
                            name: shown(&e.key),
                            suggestion: closest(&e.key, known_keys()),
                            allowed: known_keys().map(str::to_string).collect(),
                        },
                    )
                });
                continue;
            }
            let Some(v) = &e.value else {
                warnings.push(e.line, || {
                    val.error(
                        e,
                        ParseErrorKind::Malformed(
                            "a key without a value; the line is ignored".into(),
                        ),
                    )
                });
                continue;
            };
            if let Some(i) = last.iter().position(|(p, _)| p.key == e.key) {
                let first_line = last[i].0.line;
                warnings.push(e.line, || {
                    ParseError::new(
                        Location::new(&self.file, e.line, None),
                        None,
                        ParseErrorKind::Duplicate {
                            what: "key",
                            key: format!("`{}`", shown(&e.key)),
                            first_line,
                        },
                    )
                });
                last.remove(i);
            }
            last.push((e, v));
        }
        for (e, v) in last {
            if BOOL_KEYS.contains(&e.key.as_str()) {
                let first = v.bytes().next().map(|b| b.to_ascii_uppercase());
                if !matches!(first, Some(b'T') | Some(b'F')) {
                    warnings.push(e.line, || {
                        val.invalid(
                            e,
                            v,
                            "read as false: a boolean is true only when it starts with `t` or `T`",
                        )
                    });
                }
            }
            let truthy = v.bytes().next().map(|b| b.to_ascii_uppercase()) == Some(b'T');
            let path = || PathBuf::from(v);
            match e.key.as_str() {
                "maxfd" => cfg.maxfd = val.u64(e, v)?,
                "log" => cfg.log = LogTarget::parse(v),
                "use_log" => cfg.use_log = truthy,
                "logging" => cfg.logging = val.level(e, v)?,
                "use_syslog" => cfg.use_syslog = truthy,
                "use_tm_in_syslog" => cfg.use_tm_in_syslog = truthy,
                "modules_path" => cfg.modules_path = path(),
                "modules" => {
                    cfg.modules = if v == "all" {
                        Modules::All
                    } else {
                        let list: Vec<String> = v
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect();
                        if list.is_empty() {
                            return Err(val.invalid(
                                e,
                                v,
                                "expected `all` or a comma-separated list of module names",
                            ));
                        }
                        // `all,` or `http,all`: the original would look for a module `mod_all.so`;
                        // we say what is meant instead (found by fuzzing the round trip).
                        if list.iter().any(|m| m == "all") {
                            return Err(val.invalid(
                                e,
                                v,
                                "`all` stands alone; give `all` or a list of module names",
                            ));
                        }
                        Modules::List(list)
                    }
                }
                "epoll_size" => cfg.epoll_size = val.u32(e, v)?.max(256),
                "loop_interval_ms" => cfg.loop_interval = val.positive_ms(e, v)?,
                "epoll_interval_ms" => cfg.epoll_interval = Duration::from_millis(val.u64(e, v)?),
                "startup_delay_ms" => cfg.startup_delay = val.positive_ms(e, v)?,
                "debug_comm" => cfg.debug_comm = val.u64(e, v)? == 1,
                "debug_comm_path" => cfg.debug_comm_path = path(),
                "memlimit" => cfg.memlimit_kb = val.u64(e, v)?,
                "stats_dir" => cfg.stats_dir = path(),
                "log_stats" => cfg.log_stats = truthy,
                "log_stats_combined" => cfg.log_stats_combined = truthy,
                "no_sync" => cfg.no_sync = truthy,
                "lock_sync_file" => cfg.lock_sync_file = path(),
                "full_sync_file" => cfg.full_sync_file = path(),
                "full_reload_file" => cfg.full_reload_file = path(),
                "diff_sync_dir" => cfg.diff_sync_dir = path(),
                "use_offline_dump" => cfg.use_offline_dump = truthy,
                "offline_dump" => cfg.offline_dump = path(),
                "override_dump" => cfg.override_dump = path(),
                "gather_stats" => cfg.gather_stats = truthy,
                "stats_dump" => cfg.stats_dump = path(),
                "stats_dump_savesec" => {
                    cfg.stats_dump_savesec = Duration::from_secs(val.u64(e, v)?)
                }
                "notify_dump" => cfg.notify_dump = path(),
                "listen_addr" => {
                    cfg.listen_addr = v.parse().map_err(|_| {
                        val.error(
                            e,
                            ParseErrorKind::InvalidAddress {
                                value: shown(v),
                                reason: "not an IPv4 or IPv6 address".into(),
                            },
                        )
                    })?
                }
                "listen_port" => {
                    let n = val.u64(e, v).map_err(|_| {
                        let kind = if v.starts_with('-')
                            && v.len() > 1
                            && v[1..].bytes().all(|b| b.is_ascii_digit())
                        {
                            ParseErrorKind::PortOutOfRange(shown(v))
                        } else {
                            ParseErrorKind::InvalidValue {
                                value: shown(v),
                                reason: "expected a port number (0..65535)".into(),
                            }
                        };
                        val.error(e, kind)
                    })?;
                    cfg.listen_port = u16::try_from(n)
                        .map_err(|_| val.error(e, ParseErrorKind::PortOutOfRange(shown(v))))?;
                }
                "ipvssync_log" => cfg.ipvssync_log = LogTarget::parse(v),
                "ipvssync_logging" => cfg.ipvssync_logging = val.level(e, v)?,
                _ => {}
            }
        }
        if cfg.loop_interval > cfg.startup_delay {
            // Whole milliseconds, as the original's integer division: 5 ms gives 2 ms, not 2.5.
            let half_ms = (cfg.startup_delay.as_millis() / 2).max(1);
            cfg.loop_interval = Duration::from_millis(u64::try_from(half_ms).unwrap_or(u64::MAX));
        }
        cfg.warnings = warnings.finish();
        Ok(cfg)
    }
}

/// Parses and validates the text of a `surealived.cfg`; `file_label` names it in errors.
pub fn parse_main_cfg(text: &str, file_label: &str) -> Result<MainConfig, ParseError> {
    RawMainCfg::parse(text, file_label).validate()
}

/// Reads, parses and validates a `surealived.cfg`. A file that does not exist gives
/// [`MainConfig::default`], as in the original; any other read error is an error.
pub fn load_main_cfg(path: &Path) -> Result<MainConfig, Error> {
    match crate::fsutil::read_text(path, crate::fsutil::CommentRule::FirstColumn) {
        Ok(text) => Ok(parse_main_cfg(&text, &path.display().to_string())?),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(MainConfig::default())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_sscanf() {
        let raw = RawMainCfg::parse(
            "# comment\n  maxfd   2048 trailing words\n\nuse_log\n key\tvalue\r\n",
            "c",
        );
        let got: Vec<_> = raw
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_deref(), e.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("maxfd", Some("2048"), 2),
                ("use_log", None, 4),
                ("key", Some("value"), 5)
            ]
        );
    }

    #[test]
    fn long_key_spills_into_the_value_as_sscanf_does() {
        let key = "k".repeat(40);
        let raw = RawMainCfg::parse(&format!("{key} v"), "c");
        assert_eq!(raw.entries[0].key, "k".repeat(32));
        assert_eq!(raw.entries[0].value.as_deref(), Some("kkkkkkkk"));
        let raw = RawMainCfg::parse(&format!("log {}", "x".repeat(2000)), "c");
        assert_eq!(raw.entries[0].value.as_ref().map(String::len), Some(1024));
    }

    #[test]
    fn empty_text_is_the_defaults_and_defaults_round_trip() {
        assert_eq!(parse_main_cfg("", "c"), Ok(MainConfig::default()));
        let text = MainConfig::default().to_cfg_text().expect("writable");
        assert_eq!(parse_main_cfg(&text, "c"), Ok(MainConfig::default()));
    }

    #[test]
    fn log_levels() {
        assert_eq!(LogLevel::Info.raised(1), LogLevel::Debug);
        assert_eq!(LogLevel::Debug.raised(9), LogLevel::Dbdet);
        assert_eq!(LogLevel::Dbdet.as_str(), "dbdet");
    }
}

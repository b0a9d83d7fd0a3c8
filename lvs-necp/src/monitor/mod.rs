//! The feedbackd agent's health monitors: what the agent answers when the master asks how well a
//! service on this real server is doing.
//!
//! A [`HealthMonitor`] gives the service's health now, 0..=100 (100 = perfect, 0 = send no work).
//! The HOWTO's plugins are built in:
//!
//! | `monitor =` | type        | measures                                                        |
//! |-------------|-------------|-----------------------------------------------------------------|
//! | `constant`  | [`Constant`]| always `value`                                                   |
//! | `cpuload`   | [`CpuLoad`] | the CPU's idle share since the previous call (`/proc/stat`)      |
//! | `exec`      | [`Exec`]    | the first output line of `command`, run by `/bin/sh -c`          |
//! | `perl`      | [`Perl`]    | `get_health()` of the script `file`, in one long-lived `perl`    |
//!
//! A [`MonitorFactory`] turns a service's validated [`Monitor`] into a running monitor; a Rust
//! program embedding the agent registers its own kinds with [`MonitorFactory::register`] (and
//! their option keys with lvs-core's [`MonitorRegistry`](lvs_core::config::feedbackd::MonitorRegistry)).
//!
//! What this module does not do: it does not decide what to report when a monitor fails. The
//! agent driver reports health 0 and logs the [`MonitorError`] (see `docs/feedbackd-monitors.md`).
//!
//! Health numbers printed by programs and returned by Perl scripts are read the same way: the
//! text, trimmed, is a decimal number (`42`, `+42`, `42.7`; no exponent, no `inf`) within 0..=100,
//! rounded to the nearest integer (halves away from zero).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use lvs_core::config::feedbackd::Monitor;

mod constant;
mod cpuload;
mod exec;
mod perl;
mod process;

pub use constant::Constant;
pub use cpuload::{CpuLoad, PROC_STAT};
pub use exec::{Exec, EXEC_PATH};
pub use perl::{Perl, PERL_LOAD_TIMEOUT};

/// How long `exec` and `perl` monitors may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most characters of a program's or script's output quoted in an error.
const QUOTE_CHARS: usize = 80;

/// A service's health measurement.
#[async_trait]
pub trait HealthMonitor: Send {
    /// The service's health now, 0..=100 (100 = perfect, 0 = send no work).
    async fn health(&mut self) -> Result<u8, MonitorError>;
}

/// Why a monitor could not be built or gave no health.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// The program could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// What was started (`/bin/sh -c ...`, `perl`).
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An `exec` command did not finish in time; its whole process group was killed.
    #[error("exec `{command}` timed out after {after_ms} ms (its process group was killed)")]
    Timeout {
        /// The command line.
        command: String,
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// An `exec` command exited with a non-zero status.
    #[error("exec `{command}` exited with status {code}{}", stderr_suffix(.stderr))]
    ExitStatus {
        /// The command line.
        command: String,
        /// The exit status.
        code: i32,
        /// The start of what it wrote on stderr, trimmed (may be empty).
        stderr: String,
    },
    /// An `exec` command was killed by a signal.
    #[error("exec `{command}` was killed by signal {}{}", signal_name(*.signal), stderr_suffix(.stderr))]
    Signal {
        /// The command line.
        command: String,
        /// The signal number.
        signal: i32,
        /// The start of what it wrote on stderr, trimmed (may be empty).
        stderr: String,
    },
    /// An `exec` command succeeded but printed nothing on stdout.
    #[error("exec `{command}` printed nothing")]
    NoOutput {
        /// The command line.
        command: String,
    },
    /// What a monitor reported is not a number.
    #[error("{monitor} reported {output:?}, not a health number 0..=100")]
    NotANumber {
        /// Which monitor: exec and the command line, or perl, the script and `get_health()`.
        monitor: String,
        /// What it reported, trimmed, cut to 80 characters (then ending with `...`).
        output: String,
    },
    /// What a monitor reported is a number outside 0..=100.
    #[error("{monitor} reported {value}, outside 0..=100")]
    OutOfRange {
        /// Which monitor.
        monitor: String,
        /// The number as reported (cut to 80 characters).
        value: String,
    },
    /// A Perl script could not be loaded: missing or unreadable file, compile error, no
    /// `get_health` sub, or `perl` gave up while loading it.
    #[error("cannot load perl monitor {}: {message}", .file.display())]
    PerlLoad {
        /// The script.
        file: PathBuf,
        /// Perl's message (its stderr, trimmed).
        message: String,
    },
    /// `get_health()` died (the `perl` process lives on; the next call runs it again).
    #[error("perl monitor {}: get_health() died: {message}", .file.display())]
    PerlCall {
        /// The script.
        file: PathBuf,
        /// The message it died with.
        message: String,
    },
    /// `get_health()` did not answer in time: the `perl` process group was killed, and the script
    /// is loaded again at the next call.
    #[error("perl monitor {}: no answer within {after_ms} ms; perl was killed and is restarted at the next call", .file.display())]
    PerlTimeout {
        /// The script.
        file: PathBuf,
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// The `perl` process died (the script called `exit`, was killed, or broke the protocol); the
    /// script is loaded again at the next call.
    #[error("perl monitor {}: the perl process died ({status}){}; it is restarted at the next call", .file.display(), stderr_suffix(.stderr))]
    PerlDied {
        /// The script.
        file: PathBuf,
        /// How it ended (`exit status 3`, `signal SIGKILL`, or what went wrong).
        status: String,
        /// The end of what it wrote on stderr, trimmed (may be empty).
        stderr: String,
    },
    /// Reading or parsing `/proc/stat` (or the file given to [`CpuLoad::with_path`]) failed.
    #[error("cpuload: {}: {reason}", .path.display())]
    ProcStat {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Talking to a monitor's process failed.
    #[error("{monitor}: {source}")]
    Io {
        /// Which monitor.
        monitor: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No monitor of that name is built in or registered.
    #[error("unknown monitor `{name}`; known: {}", .known.join(", "))]
    UnknownMonitor {
        /// The name asked for.
        name: String,
        /// The names known, sorted.
        known: Vec<String>,
    },
    /// [`MonitorFactory::register`] was given a name already taken.
    #[error("monitor `{name}` is already registered")]
    AlreadyRegistered {
        /// The name.
        name: String,
    },
    /// A custom monitor refused its options.
    #[error("monitor `{name}`: {reason}")]
    Config {
        /// The monitor's name.
        name: String,
        /// Why.
        reason: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; stderr: {stderr}")
    }
}

fn signal_name(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => signal.to_string(),
    }
}

/// `s` cut to [`QUOTE_CHARS`] characters, with `...` when cut.
pub(crate) fn truncate(s: &str) -> String {
    cut(s, QUOTE_CHARS)
}

/// `s` cut to `max` characters, with `...` when cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}

/// Reads a health number (see the module docs) reported by `monitor`.
pub(crate) fn parse_health(
    text: &str,
    monitor: impl FnOnce() -> String,
) -> Result<u8, MonitorError> {
    let t = text.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(MonitorError::NotANumber {
            monitor: monitor(),
            output: truncate(t),
        });
    }
    // Only digits and one dot: this parses, and an integer part of any length is fine.
    let value: f64 = t.parse().unwrap_or(f64::INFINITY);
    if !(0.0..=100.0).contains(&value) {
        return Err(MonitorError::OutOfRange {
            monitor: monitor(),
            value: truncate(t),
        });
    }
    // Within 0..=100, so the cast neither wraps nor saturates.
    Ok(value.round() as u8)
}

/// Builds a custom monitor from its options (as validated by lvs-core's registry).
pub type MonitorBuilder = Box<
    dyn Fn(&BTreeMap<String, String>) -> Result<Box<dyn HealthMonitor>, MonitorError> + Send + Sync,
>;

/// The monitor kinds an agent can run: the built-in ones and those the program registered.
pub struct MonitorFactory {
    custom: BTreeMap<String, MonitorBuilder>,
    timeout: Duration,
}

impl fmt::Debug for MonitorFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitorFactory")
            .field("custom", &self.custom.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for MonitorFactory {
    /// [`MonitorFactory::builtin`].
    fn default() -> Self {
        Self::builtin()
    }
}

impl MonitorFactory {
    /// The built-in monitors `constant`, `cpuload`, `exec` and `perl`, with `exec` and `perl`
    /// timing out after [`DEFAULT_TIMEOUT`].
    pub fn builtin() -> Self {
        Self {
            custom: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same with `exec` commands and `get_health()` calls timing out after `timeout`
    /// (keep it well under the master's keepalive timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The timeout of `exec` commands and `get_health()` calls.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Registers a monitor of the program's own, built by `builder` from its options. The name
    /// is taken with or without `.so`; it fails when taken (built-in names included). Its option
    /// keys are declared to lvs-core's `MonitorRegistry` so that config files using it validate.
    pub fn register<F>(&mut self, name: impl Into<String>, builder: F) -> Result<(), MonitorError>
    where
        F: Fn(&BTreeMap<String, String>) -> Result<Box<dyn HealthMonitor>, MonitorError>
            + Send
            + Sync
            + 'static,
    {
        let name = name.into();
        let name = name.strip_suffix(".so").unwrap_or(&name).to_string();
        if BUILTIN.contains(&name.as_str()) || self.custom.contains_key(&name) {
            return Err(MonitorError::AlreadyRegistered { name });
        }
        self.custom.insert(name, Box::new(builder));
        Ok(())
    }

    /// The known names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILTIN
            .iter()
            .map(|s| (*s).to_string())
            .chain(self.custom.keys().cloned())
            .collect();
        names.sort_unstable();
        names
    }

    /// Starts the monitor of a service. A `perl` monitor loads its script here, so load errors
    /// come now (hence `async`); the others only prepare (`cpuload` takes its first sample).
    pub async fn build(&self, monitor: &Monitor) -> Result<Box<dyn HealthMonitor>, MonitorError> {
        Ok(match monitor {
            Monitor::Constant { value } => Box::new(Constant::new(*value)),
            Monitor::CpuLoad => Box::new(CpuLoad::new()?),
            Monitor::Exec { command } => Box::new(Exec::with_timeout(command, self.timeout)),
            Monitor::Perl { file } => Box::new(Perl::with_timeout(file, self.timeout).await?),
            Monitor::Custom { name, options } => {
                let bare = name.strip_suffix(".so").unwrap_or(name);
                let builder =
                    self.custom
                        .get(bare)
                        .ok_or_else(|| MonitorError::UnknownMonitor {
                            name: name.clone(),
                            known: self.names(),
                        })?;
                builder(options)?
            }
        })
    }
}

const BUILTIN: &[&str] = &["constant", "cpuload", "exec", "perl"];

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<u8, String> {
        parse_health(s, || "m".into()).map_err(|e| e.to_string())
    }

    #[test]
    fn health_numbers() {
        assert_eq!(p("42"), Ok(42));
        assert_eq!(p("  77\n"), Ok(77));
        assert_eq!(p("+0"), Ok(0));
        assert_eq!(p("-0"), Ok(0));
        assert_eq!(p("100"), Ok(100));
        assert_eq!(p("0042"), Ok(42));
        assert_eq!(p("42.5"), Ok(43));
        assert_eq!(p("42.49"), Ok(42));
        assert_eq!(p("99.99"), Ok(100));
        assert_eq!(p("100.0"), Ok(100));
        assert_eq!(p("101"), Err("m reported 101, outside 0..=100".into()));
        assert_eq!(
            p("100.01"),
            Err("m reported 100.01, outside 0..=100".into())
        );
        assert_eq!(p("-1"), Err("m reported -1, outside 0..=100".into()));
        assert!(p("99999999999999999999999999999").is_err());
        for bad in [
            "", "x", "4 2", "42x", "1e2", "inf", "NaN", ".5", "5.", "--1", "0x10", "4.2.1",
        ] {
            assert_eq!(
                p(bad),
                Err(format!("m reported {bad:?}, not a health number 0..=100")),
                "{bad}"
            );
        }
    }

    #[test]
    fn long_output_is_cut() {
        let long = "é".repeat(200);
        let MonitorError::NotANumber { output, .. } =
            parse_health(&long, || "m".into()).expect_err("not a number")
        else {
            panic!("wrong variant");
        };
        assert_eq!(output, format!("{}...", "é".repeat(80)));
    }

    #[test]
    fn register_names() {
        let mut f = MonitorFactory::builtin();
        f.register("redis.so", |_: &BTreeMap<String, String>| {
            Ok(Box::new(Constant::new(1)) as Box<dyn HealthMonitor>)
        })
        .expect("registers");
        assert!(matches!(
            f.register("redis", |_: &BTreeMap<String, String>| Err(
                MonitorError::Config {
                    name: "redis".into(),
                    reason: "no".into()
                }
            )),
            Err(MonitorError::AlreadyRegistered { .. })
        ));
        assert!(f
            .register("exec", |_: &BTreeMap<String, String>| Err(
                MonitorError::Config {
                    name: "exec".into(),
                    reason: "no".into()
                }
            ))
            .is_err());
        assert_eq!(f.names(), ["constant", "cpuload", "exec", "perl", "redis"]);
    }
}

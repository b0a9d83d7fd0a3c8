//! The daemons' logging through `tracing`: a level filter (`RUST_LOG` overrides it) and one
//! sink, a file (appended) or a standard stream.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

use lvs_core::config::surealived_cfg::LogLevel;

/// Where the log lines go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sink<'a> {
    /// Standard error (for a supervisor's journal).
    Stderr,
    /// Standard output.
    Stdout,
    /// A file, appended to; standard error (said there) when it cannot be opened.
    File(&'a Path),
}

/// The `tracing` filter of a surealived/ipvssync level (`logging`, `ipvssync_logging`): error,
/// warn, info, debug are tracing's levels of the same names, `dbdet` (detailed debugging) is
/// trace.
pub fn level_filter(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Dbdet => "trace",
    }
}

/// Sets up logging at `level` (a `tracing` filter; `RUST_LOG` overrides it) to `sink`. Colours
/// only on a terminal. `program` names the daemon in the message about a log file that cannot be
/// opened (`what` names the setting, e.g. `log`).
pub(crate) fn init(program: &str, level: &str, sink: Sink<'_>, what: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match sink {
        Sink::File(path) => match OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => {
                let _ = builder
                    .with_ansi(false)
                    .with_writer(Mutex::new(file))
                    .try_init();
                return;
            }
            Err(e) => eprintln!(
                "{program}: cannot open log file {} ({what}): {e}; logging to stderr",
                path.display()
            ),
        },
        Sink::Stdout => {
            let _ = builder
                .with_ansi(std::io::stdout().is_terminal())
                .with_writer(std::io::stdout)
                .try_init();
            return;
        }
        Sink::Stderr => {}
    }
    let _ = builder
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

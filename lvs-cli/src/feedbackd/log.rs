//! feedbackd's logging: the HOWTO's `logfile` and `loglevel` (CRIT..VDEBUG), or stdout at
//! DEBUG with `-d`.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use lvs_core::config::feedbackd::LogLevel;

/// The `tracing` filter of a feedbackd log level: CRIT and ERR are `error` (tracing has no
/// level above it), WARN `warn`, INFO `info`, DEBUG `debug`, VDEBUG `trace`.
pub(crate) fn filter(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Crit | LogLevel::Err => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Vdebug => "trace",
    }
}

/// Sets up logging: with `debug` to stdout at DEBUG (the file's settings ignored, as the
/// HOWTO says); otherwise appended to `logfile` at `level`, or to stderr when `logfile` is
/// `-` or cannot be opened (said on stderr). `RUST_LOG` overrides the level.
pub(crate) fn init(program: &str, level: LogLevel, logfile: &Path, debug: bool) {
    let env = tracing_subscriber::EnvFilter::try_from_default_env();
    if debug {
        let filter = env.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("debug"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stdout)
            .try_init();
        return;
    }
    let filter = env.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter(level)));
    if logfile.as_os_str() != "-" {
        match OpenOptions::new().create(true).append(true).open(logfile) {
            Ok(file) => {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(filter)
                    .with_ansi(false)
                    .with_writer(Mutex::new(file))
                    .try_init();
                return;
            }
            Err(e) => eprintln!(
                "{program}: cannot open log file {}: {e}; logging to stderr",
                logfile.display()
            ),
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

//! feedbackd's logging: the HOWTO's `logfile` and `loglevel` (CRIT..VDEBUG), or stdout at
//! DEBUG with `-d`.

use std::path::Path;

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
    use crate::log::Sink;
    let (level, sink) = if debug {
        ("debug", Sink::Stdout)
    } else if logfile.as_os_str() == "-" {
        (filter(level), Sink::Stderr)
    } else {
        (filter(level), Sink::File(logfile))
    };
    crate::log::init(program, level, sink, "logfile");
}

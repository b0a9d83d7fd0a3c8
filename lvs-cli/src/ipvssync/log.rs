//! ipvssync's logging: `ipvssync_logging` (raised by each `-v`) and, with `-d` and `use_log`,
//! the file `ipvssync_log`; otherwise stderr (for the supervisor's journal).

use std::fs::OpenOptions;
use std::sync::Mutex;

use lvs_core::config::surealived_cfg::{LogLevel, LogTarget, MainConfig};

/// The `tracing` filter of an original level: `error`, `warn`, `info`, `debug` are tracing's
/// levels of the same names, `dbdet` (detailed debugging) is `trace`.
pub fn filter(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Dbdet => "trace",
    }
}

/// Where the log goes: the file of `ipvssync_log` only with `-d` and `use_log true` (as the
/// original, whose log is forced to stderr unless `-d`); `None` = stderr.
pub fn log_file(cfg: &MainConfig, daemon: bool) -> Option<&std::path::Path> {
    match (&cfg.ipvssync_log, daemon && cfg.use_log) {
        (LogTarget::File(p), true) => Some(p),
        _ => None,
    }
}

/// Sets up logging (see the module); `RUST_LOG` overrides the level.
pub(crate) fn init(cfg: &MainConfig, verbose: u8, daemon: bool) {
    let level = filter(cfg.ipvssync_logging.raised(verbose));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    if let Some(path) = log_file(cfg, daemon) {
        match OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(filter)
                    .with_ansi(false)
                    .with_writer(Mutex::new(file))
                    .try_init();
                return;
            }
            Err(e) => eprintln!(
                "ipvssync: cannot open log file {} (ipvssync_log): {e}; logging to stderr",
                path.display()
            ),
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

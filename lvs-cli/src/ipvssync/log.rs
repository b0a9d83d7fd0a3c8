//! ipvssync's logging: `ipvssync_logging` (raised by each `-v`) and, with `-d` and `use_log`,
//! the file `ipvssync_log`; otherwise stderr (for the supervisor's journal).

use lvs_core::config::surealived_cfg::{LogTarget, MainConfig};

use crate::log::Sink;

pub use crate::log::level_filter as filter;

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
    let sink = log_file(cfg, daemon).map_or(Sink::Stderr, Sink::File);
    crate::log::init(
        "ipvssync",
        filter(cfg.ipvssync_logging.raised(verbose)),
        sink,
        "ipvssync_log",
    );
}

//! The daemons of the LVS toolkit, as thin shells over the library crates.
//!
//! Each binary in `src/bin/` parses its flags with clap, sets up logging and calls one function of
//! this crate. Every daemon offers its configuration check (`-t`) and runs: `surealived`,
//! `ipvssync`, `feedbackd-master` and `feedbackd-agent`.
//!
//! [`control`] is surealived's control-port server (the protocol is `lvs_core::control`), and
//! [`lvsctl`] the client binary's code.

#![forbid(unsafe_code)]

pub mod control;
pub mod feedbackd;
pub mod ipvssync;
mod lockfile;
mod log;
pub mod lvsctl;
mod signals;
pub mod surealived;

use std::process::ExitCode;

/// Exit status of a successful check.
pub const EXIT_OK: u8 = 0;
/// Exit status of a failed check (the error was printed).
pub const EXIT_INVALID: u8 = 1;

/// Sets up logging to stderr through `tracing`: `verbose` 0 = warnings, 1 = info, 2 = debug,
/// 3 and more = trace. `RUST_LOG` overrides it.
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    log::init("", level, log::Sink::Stderr, "");
}

/// The daemons' runtime: one thread (the work is I/O-bound and small), with I/O and time.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Prints `program: error` and returns [`EXIT_INVALID`].
pub fn fail(program: &str, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("{program}: {error}");
    ExitCode::from(EXIT_INVALID)
}

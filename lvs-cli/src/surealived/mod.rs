//! `surealived`: the real-server tester, as a daemon that runs in the foreground.
//!
//! It tests every real of the XML service file with the probe engine (`lvs-probe`), keeps each
//! real's state in [`lvs_core::director::Director`], and hands the wanted IPVS table to
//! ipvssync through the original's files (`ipvsfull.cfg`, the reload flag, the diff files),
//! or applies it to the kernel itself (`--ipvs`). See `docs/surealived.md`.

mod daemon;
mod demo;
mod notify;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use lvs_core::config::surealived_cfg::{load_main_cfg, LogTarget, MainConfig};
use lvs_core::config::xml::{load_service_xml, TesterRegistry};

pub use daemon::{
    control_address, render_table, Handler, Options, Shared, FULL_SYNC_PERIOD,
    IPVS_FULL_APPLY_PERIOD,
};

/// Command line of `surealived`, as the original's:
/// `surealived [-h] [-t] [-c <cfg>] [-v]... [-d] [-n] [-k] [-V] <xml_file>`, plus `--ipvs`
/// and `--demo`.
#[derive(Debug, Parser)]
#[command(
    name = "surealived",
    version,
    about = "Tests LVS real servers and hands the wanted IPVS table to ipvssync"
)]
pub struct Args {
    /// Check the XML service file (and the cfg), then exit: 0 when valid, 1 with the error.
    #[arg(short = 't', long = "test")]
    pub test: bool,
    /// Main configuration file; a missing file means every default.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "CFG",
        default_value = "/etc/surealived/surealived.cfg"
    )]
    pub config: PathBuf,
    /// More log output; repeat for more (each raises the cfg's `logging` one level).
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Daemon logging: log to the cfg's `log` file when `use_log` is true (otherwise, and
    /// without -d, to stderr). The process always stays in the foreground (run it under a
    /// service manager).
    #[arg(short = 'd')]
    pub daemon: bool,
    /// Do not write ipvsfull.cfg, the reload flag or diff files (no_sync).
    #[arg(short = 'n')]
    pub no_sync: bool,
    /// Do not use offline.dump (neither read nor written).
    #[arg(short = 'k')]
    pub no_offline_dump: bool,
    /// Apply the table to the kernel's IPVS directly (needs CAP_NET_ADMIN) instead of writing
    /// the files for ipvssync: the whole table at start and every 60 s, each change as it
    /// happens. Do not run ipvssync beside it.
    #[arg(long = "ipvs")]
    pub ipvs: bool,
    /// Run a self-contained demonstration: three HTTP reals on 127.0.0.1-3 (the third fails
    /// now and then), files under a temporary directory, state changes and the table printed.
    /// Needs neither root nor IPVS; ends after --demo-seconds or on Ctrl-C.
    #[arg(long = "demo", conflicts_with_all = ["test", "ipvs"])]
    pub demo: bool,
    /// How long the demo runs.
    #[arg(long = "demo-seconds", value_name = "N", default_value_t = 30)]
    pub demo_seconds: u64,
    /// The XML service file.
    #[arg(value_name = "XML_FILE", required_unless_present = "demo")]
    pub xml: Option<PathBuf>,
}

const NAME: &str = "surealived";

/// Runs `surealived` with parsed arguments.
pub fn run(args: &Args) -> ExitCode {
    if args.demo {
        return demo::run(args);
    }
    let Some(xml) = args.xml.clone() else {
        return crate::fail(NAME, &"the XML service file is required");
    };
    let cfg = match load_main_cfg(&args.config) {
        Ok(cfg) => cfg,
        Err(e) => return crate::fail(NAME, &e),
    };
    if args.test {
        crate::init_logging(args.verbose);
        for w in &cfg.warnings {
            eprintln!("{NAME}: warning: {w}");
        }
    } else {
        init_logging(&cfg, args.verbose, args.daemon);
        for w in &cfg.warnings {
            tracing::warn!("{w}");
        }
    }
    let registry = TesterRegistry::builtin();
    let services = match load_service_xml(&xml, &registry) {
        Ok(s) => s,
        Err(e) => return crate::fail(NAME, &e),
    };
    if args.test {
        let reals: usize = services.virtuals.iter().map(|v| v.reals.len()).sum();
        println!(
            "{}: OK: {} virtual services, {} reals",
            xml.display(),
            services.virtuals.len(),
            reals
        );
        return ExitCode::from(crate::EXIT_OK);
    }
    if cfg.memlimit_kb > 0 {
        tracing::info!(
            "memlimit {} kB: not enforced by surealived itself; set MemoryMax= in the service \
             unit (dist/systemd/surealived.service)",
            cfg.memlimit_kb
        );
    }
    let opts = Options {
        no_sync: args.no_sync || cfg.no_sync || args.ipvs,
        use_offline_dump: !args.no_offline_dump && cfg.use_offline_dump,
        ipvs: args.ipvs,
        print_table: false,
        stop_after: None,
        xml,
        cfg,
    };
    run_daemon(opts, services)
}

/// Builds the runtime and runs the daemon until SIGTERM or SIGINT.
pub fn run_daemon(opts: Options, services: lvs_core::config::xml::ServiceConfig) -> ExitCode {
    let rt = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => return crate::fail(NAME, &e),
    };
    match rt.block_on(daemon::run(opts, services, crate::signals::terminated())) {
        Ok(()) => ExitCode::from(crate::EXIT_OK),
        Err(e) => {
            tracing::error!("{e}");
            crate::fail(NAME, &e)
        }
    }
}

/// Sets up logging: the cfg's `logging` raised by each `-v`; with `-d` and `use_log` to the
/// `log` file (appended; stderr when it is `stderr` or cannot be opened), otherwise stderr.
/// `RUST_LOG` overrides the level.
fn init_logging(cfg: &MainConfig, verbose: u8, daemon: bool) {
    let sink = match (&cfg.log, daemon && cfg.use_log) {
        (LogTarget::File(path), true) => crate::log::Sink::File(path),
        _ => crate::log::Sink::Stderr,
    };
    crate::log::init(
        NAME,
        crate::log::level_filter(cfg.logging.raised(verbose)),
        sink,
        "log",
    );
}

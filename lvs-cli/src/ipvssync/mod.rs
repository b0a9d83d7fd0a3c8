//! `ipvssync`: applies the table surealived wants to the kernel.
//!
//! It reads `ipvsfull.cfg` and follows the chain of diff files surealived appends to, like
//! `tail -f`, pushing each change to IPVS at once; a full re-synchronisation runs at start, when
//! `ipvsfull.reload` appears and on SIGHUP; obsolete diff files are deleted every 60 s (not with
//! `-k`); and every `--repair-interval` seconds the kernel is made to hold the wanted table
//! again (drift repair), each repair logged at WARN. See `docs/ipvssync.md`.
//!
//! * [`core`]: the logic ([`core::Syncer`]), without timers or signals;
//! * [`kernel`]: the [`kernel::Kernel`] trait, implemented by `lvs_ipvs::Client` and by
//!   [`kernel::MemoryKernel`] (`--memory`, tests);
//! * [`daemon`]: inotify (or polling), timers and signals;
//! * [`log`]: where the log goes.

pub mod core;
pub mod daemon;
pub mod kernel;
pub mod log;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser};
use lvs_core::config::surealived_cfg::load_main_cfg;
use lvs_core::formats::ipvsfull::FullConfig;
use lvs_core::model::UnmanagedPolicy;

use self::core::{SyncPaths, Syncer};
use self::kernel::{Kernel, MemoryKernel};

/// Command line of `ipvssync`, as the original's: `ipvssync [-h] [-t] [-c x] [-v]... [-d] [-u] [-k] [-V]`.
#[derive(Debug, Parser)]
#[command(
    name = "ipvssync",
    version,
    about = "Synchronises the kernel IPVS table with the ipvsfull.cfg and diff files surealived writes"
)]
pub struct Args {
    /// Check the ipvsfull.cfg named by the cfg's `full_sync_file`, then exit: 0 when valid, 1 with the error.
    #[arg(short = 't', long = "test")]
    pub test: bool,
    /// Main configuration file (the original ignored -c; we honour it). A missing file means every default.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "CFG",
        default_value = "/etc/surealived/surealived.cfg"
    )]
    pub config: PathBuf,
    /// More log output; repeat for more.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Daemon mode: log to `ipvssync_log` when `use_log` is true (otherwise to stderr). It
    /// never forks: it runs in the foreground under a supervisor.
    #[arg(short = 'd')]
    pub daemon: bool,
    /// Delete IPVS virtual services that are not in the configuration.
    #[arg(short = 'u')]
    pub delete_unmanaged: bool,
    /// Keep processed diff files.
    #[arg(short = 'k')]
    pub keep_diffs: bool,
    /// Drift repair: every SECS seconds make the kernel hold the wanted table again, logging
    /// each repair at WARN; 0 = off (extension).
    #[arg(long = "repair-interval", value_name = "SECS", default_value_t = 30)]
    pub repair_interval: u64,
    /// The period of the diff cleanup in seconds (the original: 60) (extension).
    #[arg(
        long = "cleanup-interval",
        value_name = "SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub cleanup_interval: u64,
    /// Keep the table in memory instead of IPVS, logging each operation: a trial run without
    /// root or IPVS (extension).
    #[arg(long = "memory")]
    pub memory: bool,
    /// Do not use inotify: look at the files every 100 ms, as the original (extension).
    #[arg(long = "no-inotify")]
    pub no_inotify: bool,
}

/// Runs `ipvssync` with parsed arguments.
pub fn run(args: &Args) -> ExitCode {
    const NAME: &str = "ipvssync";
    if !args.test {
        return run_daemon(args);
    }
    crate::init_logging(args.verbose);
    let cfg = match load_main_cfg(&args.config) {
        Ok(cfg) => cfg,
        Err(e) => return crate::fail(NAME, &e),
    };
    for w in &cfg.warnings {
        eprintln!("{NAME}: warning: {w}");
    }
    let path = &cfg.full_sync_file;
    let full = match FullConfig::load(path) {
        Ok(full) => full,
        Err(e) => return crate::fail(NAME, &e),
    };
    let table = match full.to_table() {
        Ok(t) => t,
        Err(e) => return crate::fail(NAME, &e),
    };
    println!(
        "{}: OK: {} virtual services, {} reals",
        path.display(),
        table.len(),
        table.destination_count()
    );
    ExitCode::from(crate::EXIT_OK)
}

/// The daemon: exits 1 when the configuration, `ipvsfull.cfg`, the lock file or IPVS is
/// unusable at start (the supervisor restarts it), 0 after SIGTERM or SIGINT.
fn run_daemon(args: &Args) -> ExitCode {
    const NAME: &str = "ipvssync";
    let cfg = match load_main_cfg(&args.config) {
        Ok(cfg) => cfg,
        Err(e) => return crate::fail(NAME, &e),
    };
    log::init(&cfg, args.verbose, args.daemon);
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    let mut kernel: Box<dyn Kernel> = if args.memory {
        tracing::info!("--memory: the table is kept in memory, IPVS is not touched");
        Box::new(MemoryKernel::new(true))
    } else {
        match lvs_ipvs::Client::new() {
            Ok(c) => Box::new(c),
            Err(e) => {
                tracing::error!("{e}");
                return crate::fail(NAME, &e);
            }
        }
    };
    let policy = if args.delete_unmanaged {
        UnmanagedPolicy::Delete
    } else {
        UnmanagedPolicy::Keep
    };
    let syncer = match Syncer::start(SyncPaths::from_config(&cfg), policy, kernel.as_mut()) {
        Ok((s, _)) => s,
        Err(e) => {
            tracing::error!("{e}");
            return crate::fail(NAME, &e);
        }
    };
    let opts = daemon::Options {
        cleanup: (!args.keep_diffs).then(|| Duration::from_secs(args.cleanup_interval)),
        repair_interval: (args.repair_interval > 0)
            .then(|| Duration::from_secs(args.repair_interval)),
        inotify: !args.no_inotify,
    };
    match crate::runtime().and_then(|rt| rt.block_on(daemon::run(syncer, kernel.as_mut(), opts))) {
        Ok(()) => ExitCode::from(crate::EXIT_OK),
        Err(e) => {
            tracing::error!("{e}");
            crate::fail(NAME, &e)
        }
    }
}

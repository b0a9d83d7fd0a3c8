//! `ipvssync`: applies the table surealived wants to the kernel.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use lvs_core::config::surealived_cfg::load_main_cfg;
use lvs_core::formats::ipvsfull::FullConfig;

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
    /// Run as a daemon.
    #[arg(short = 'd')]
    pub daemon: bool,
    /// Delete IPVS virtual services that are not in the configuration.
    #[arg(short = 'u')]
    pub delete_unmanaged: bool,
    /// Keep processed diff files.
    #[arg(short = 'k')]
    pub keep_diffs: bool,
}

/// Runs `ipvssync` with parsed arguments.
pub fn run(args: &Args) -> ExitCode {
    const NAME: &str = "ipvssync";
    if !args.test {
        return crate::only_check_available(NAME);
    }
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

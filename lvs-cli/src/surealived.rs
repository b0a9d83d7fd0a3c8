//! `surealived`: the real-server tester.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use lvs_core::config::surealived_cfg::load_main_cfg;
use lvs_core::config::xml::{load_service_xml, TesterRegistry};

/// Command line of `surealived`, as the original's:
/// `surealived [-h] [-t] [-c <cfg>] [-v]... [-d] [-n] [-k] [-V] <xml_file>`.
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
    /// More log output; repeat for more.
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Run as a daemon with a watchdog (the original's -d).
    #[arg(short = 'd')]
    pub daemon: bool,
    /// Do not write ipvsfull.cfg or diff files (no_sync).
    #[arg(short = 'n')]
    pub no_sync: bool,
    /// Do not use offline.dump.
    #[arg(short = 'k')]
    pub no_offline_dump: bool,
    /// The XML service file.
    #[arg(value_name = "XML_FILE")]
    pub xml: PathBuf,
}

/// Runs `surealived` with parsed arguments.
pub fn run(args: &Args) -> ExitCode {
    const NAME: &str = "surealived";
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
    let registry = TesterRegistry::builtin();
    match load_service_xml(&args.xml, &registry) {
        Ok(services) => {
            let reals: usize = services.virtuals.iter().map(|v| v.reals.len()).sum();
            println!(
                "{}: OK: {} virtual services, {} reals",
                args.xml.display(),
                services.virtuals.len(),
                reals
            );
            ExitCode::from(crate::EXIT_OK)
        }
        Err(e) => crate::fail(NAME, &e),
    }
}

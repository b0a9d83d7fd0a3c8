//! `feedbackd-master` and `feedbackd-agent`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use lvs_core::config::feedbackd::{load_agent_config, load_master_config};

/// Command line of `feedbackd-master`, as the HOWTO gives it.
#[derive(Debug, Parser)]
#[command(
    name = "feedbackd-master",
    version,
    about = "Sets IPVS weights on the director from the health its agents report over NECP",
    disable_help_flag = true
)]
pub struct MasterArgs {
    /// Source configuration data from FILE instead of the default.
    #[arg(
        short = 'c',
        long = "conffile",
        value_name = "FILE",
        default_value = "/etc/feedbackd-master.conf"
    )]
    pub conffile: PathBuf,
    /// Test configuration data, then exit: 0 when valid, 1 with the error.
    #[arg(short = 't', long = "test-config")]
    pub test: bool,
    /// Debug mode: run in the foreground and log to stdout at DEBUG.
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,
    /// Don't alter the IPVS tables (they are still read for active connection counts).
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Print usage information and exit.
    #[arg(short = 'h', long = "help", visible_short_alias = 'u', visible_alias = "usage", action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Command line of `feedbackd-agent`, as the HOWTO gives it.
#[derive(Debug, Parser)]
#[command(
    name = "feedbackd-agent",
    version,
    about = "Reports this real server's health to the feedbackd master over NECP",
    disable_help_flag = true
)]
pub struct AgentArgs {
    /// Source configuration data from FILE instead of the default.
    #[arg(
        short = 'c',
        long = "conffile",
        value_name = "FILE",
        default_value = "/etc/feedbackd-agent.conf"
    )]
    pub conffile: PathBuf,
    /// Test configuration data, then exit: 0 when valid, 1 with the error.
    #[arg(short = 't', long = "test-config")]
    pub test: bool,
    /// Debug mode: run in the foreground and log to stdout at DEBUG.
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,
    /// Print usage information and exit.
    #[arg(short = 'h', long = "help", visible_short_alias = 'u', visible_alias = "usage", action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Runs `feedbackd-master` with parsed arguments.
pub fn run_master(args: &MasterArgs) -> ExitCode {
    const NAME: &str = "feedbackd-master";
    if !args.test {
        return crate::only_check_available(NAME);
    }
    match load_master_config(&args.conffile) {
        Ok(cfg) => {
            if let Err(e) = cfg.check_allow_list() {
                eprintln!("{NAME}: warning: {e}");
            }
            println!(
                "{}: OK: {} virtual services",
                args.conffile.display(),
                cfg.virtual_services.len()
            );
            ExitCode::from(crate::EXIT_OK)
        }
        Err(e) => crate::fail(NAME, &e),
    }
}

/// Runs `feedbackd-agent` with parsed arguments.
pub fn run_agent(args: &AgentArgs) -> ExitCode {
    const NAME: &str = "feedbackd-agent";
    if !args.test {
        return crate::only_check_available(NAME);
    }
    match load_agent_config(&args.conffile) {
        Ok(cfg) => {
            println!(
                "{}: OK: {} services",
                args.conffile.display(),
                cfg.services.len()
            );
            ExitCode::from(crate::EXIT_OK)
        }
        Err(e) => crate::fail(NAME, &e),
    }
}

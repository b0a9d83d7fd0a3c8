//! `feedbackd-master` and `feedbackd-agent`.

mod agent;
mod log;
mod master;

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
    /// Keep the table in memory instead of IPVS (the log shows each change): a trial run
    /// without root or IPVS (extension).
    #[arg(long = "memory", conflicts_with = "dry_run")]
    pub memory: bool,
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

/// Runs `feedbackd-master` with parsed arguments: `-t` checks the file; otherwise the master
/// runs in the foreground until SIGTERM or SIGINT.
pub fn run_master(args: &MasterArgs) -> ExitCode {
    const NAME: &str = "feedbackd-master";
    let cfg = match load_master_config(&args.conffile) {
        Ok(cfg) => cfg,
        Err(e) => return crate::fail(NAME, &e),
    };
    let allow = cfg.check_allow_list();
    if args.test {
        if let Err(e) = &allow {
            eprintln!("{NAME}: warning: {e}");
        }
        println!(
            "{}: OK: {} virtual services",
            args.conffile.display(),
            cfg.virtual_services.len()
        );
        return ExitCode::from(crate::EXIT_OK);
    }
    if let Err(e) = allow {
        return crate::fail(NAME, &e);
    }
    log::init(NAME, cfg.loglevel, &cfg.logfile, args.debug);
    let kind = if args.memory {
        master::BackendKind::Memory
    } else if args.dry_run {
        master::BackendKind::DryRun
    } else {
        master::BackendKind::Ipvs
    };
    match crate::runtime().and_then(|rt| rt.block_on(master::run(cfg, kind))) {
        Ok(()) => ExitCode::from(crate::EXIT_OK),
        Err(e) => {
            tracing::error!("{e}");
            crate::fail(NAME, &e)
        }
    }
}

/// Runs `feedbackd-agent` with parsed arguments: `-t` checks the file; otherwise the agent
/// runs in the foreground until SIGTERM or SIGINT (then it sends NECP_STOP), or until it
/// gives up connecting (`connection-retries`; exit status 1).
pub fn run_agent(args: &AgentArgs) -> ExitCode {
    const NAME: &str = "feedbackd-agent";
    let cfg = match load_agent_config(&args.conffile) {
        Ok(cfg) => cfg,
        Err(e) => return crate::fail(NAME, &e),
    };
    if args.test {
        println!(
            "{}: OK: {} services",
            args.conffile.display(),
            cfg.services.len()
        );
        return ExitCode::from(crate::EXIT_OK);
    }
    log::init(NAME, cfg.loglevel, &cfg.logfile, args.debug);
    let factory = lvs_necp::monitor::MonitorFactory::builtin();
    match crate::runtime().and_then(|rt| rt.block_on(agent::run(cfg, &factory))) {
        Ok(true) => ExitCode::from(crate::EXIT_OK),
        Ok(false) => ExitCode::from(crate::EXIT_INVALID),
        Err(e) => {
            tracing::error!("{e}");
            crate::fail(NAME, &e)
        }
    }
}

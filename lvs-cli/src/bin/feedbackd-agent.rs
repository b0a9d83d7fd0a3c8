//! `feedbackd-agent`: see [`lvs_cli::feedbackd`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = lvs_cli::feedbackd::AgentArgs::parse();
    lvs_cli::feedbackd::run_agent(&args)
}

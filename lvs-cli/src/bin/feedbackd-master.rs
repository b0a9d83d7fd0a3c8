//! `feedbackd-master`: see [`lvs_cli::feedbackd`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = lvs_cli::feedbackd::MasterArgs::parse();
    lvs_cli::feedbackd::run_master(&args)
}

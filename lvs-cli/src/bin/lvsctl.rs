//! `lvsctl`: see [`lvs_cli::lvsctl`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = lvs_cli::lvsctl::Args::parse();
    lvs_cli::lvsctl::run(&args)
}

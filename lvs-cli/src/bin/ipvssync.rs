//! `ipvssync`: see [`lvs_cli::ipvssync`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = lvs_cli::ipvssync::Args::parse();
    lvs_cli::ipvssync::run(&args)
}

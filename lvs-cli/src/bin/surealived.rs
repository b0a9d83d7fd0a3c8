//! `surealived`: see [`lvs_cli::surealived`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = lvs_cli::surealived::Args::parse();
    lvs_cli::surealived::run(&args)
}

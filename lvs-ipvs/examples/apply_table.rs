//! Makes the kernel hold the table of a surealived `ipvsfull.cfg`, as ipvssync does: one read of
//! the kernel, only the differences sent, batched.
//!
//! `cargo run -p lvs-ipvs --example apply_table -- /var/lib/surealived/ipvsfull.cfg [--delete-unmanaged] [--dry-run]`

mod common;

use std::path::Path;

use lvs_core::formats::ipvsfull::FullConfig;
use lvs_core::model::{diff, UnmanagedPolicy};
use lvs_ipvs::Client;

fn main() -> common::Result<()> {
    let a = common::args(1, "apply_table FILE [--delete-unmanaged] [--dry-run]")?;
    let policy = if a.iter().any(|x| x == "--delete-unmanaged") {
        UnmanagedPolicy::Delete
    } else {
        UnmanagedPolicy::Keep
    };
    let wanted = FullConfig::load(Path::new(&a[0]))?.to_table()?;
    let mut ipvs = Client::new()?;
    if a.iter().any(|x| x == "--dry-run") {
        for op in diff(&ipvs.table()?, &wanted, policy) {
            println!("would {op}");
        }
        return Ok(());
    }
    let report = ipvs.apply(&wanted, policy)?;
    for r in &report.results {
        match &r.result {
            Ok(()) => println!("ok     {}", r.operation),
            Err(e) => println!("FAILED {e}"),
        }
    }
    println!(
        "{} changes, {} failed; {} requests ({} dumps) in {} sends",
        report.changes(),
        report.failures().count(),
        report.requests,
        report.dumps,
        report.sends
    );
    if report.is_success() {
        Ok(())
    } else {
        Err("some operations failed".into())
    }
}

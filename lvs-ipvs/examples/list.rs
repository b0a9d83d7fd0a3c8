//! Lists the kernel's IPVS table with counters, like `ipvsadm -L -n --stats`.
//!
//! `cargo run -p lvs-ipvs --example list`

mod common;

use lvs_ipvs::Client;

fn main() -> common::Result<()> {
    common::args(0, "list")?;
    let mut ipvs = Client::new()?;
    let info = ipvs.info()?;
    println!(
        "IP Virtual Server version {} (size={})",
        info.version_string(),
        info.conn_tab_size
    );
    for s in ipvs.services()? {
        let svc = &s.service;
        let mut line = format!("{} {}", svc.key, svc.scheduler);
        if let Some(p) = &svc.persistence {
            line.push_str(&format!(" persistent {}", p.timeout));
        }
        println!(
            "{line}  conns {} inpkts {} outpkts {} inbytes {} outbytes {}",
            s.stats.conns, s.stats.in_pkts, s.stats.out_pkts, s.stats.in_bytes, s.stats.out_bytes
        );
        for d in ipvs.destinations(&svc.key)? {
            println!(
                "  -> {} {} weight {} active {} inactive {} conns {}",
                d.dest.key(),
                d.dest.forwarding.short_name(),
                d.dest.weight,
                d.active_conns,
                d.inactive_conns,
                d.stats.conns
            );
        }
    }
    Ok(())
}

//! Adds a virtual service.
//!
//! `cargo run -p lvs-ipvs --example add_service -- tcp 10.0.0.1:80 wlc [persistence-seconds]`

mod common;

use lvs_core::model::{Netmask, Persistence, Scheduler, Service};
use lvs_ipvs::Client;

fn main() -> common::Result<()> {
    let a = common::args(
        2,
        "add_service tcp|udp|sctp ADDR:PORT | fwmark[6] MARK [SCHED] [PERSIST]",
    )?;
    let key = common::service_key(&a[0], &a[1])?;
    let sched = Scheduler::new(a.get(2).map_or("wlc", String::as_str))?;
    let mut service = Service::new(key, sched);
    if let Some(t) = a.get(3) {
        service.persistence = Some(Persistence {
            timeout: t.parse()?,
            netmask: Netmask::host(key.af()),
            engine: None,
        });
    }
    Client::new()?.add_service(&service)?;
    println!("added {key}");
    Ok(())
}

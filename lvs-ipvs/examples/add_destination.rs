//! Adds a destination (real server) to a service.
//!
//! `cargo run -p lvs-ipvs --example add_destination -- tcp 10.0.0.1:80 10.0.1.1:80 10 dr`

mod common;

use std::net::SocketAddr;

use lvs_core::model::Destination;
use lvs_ipvs::Client;

fn main() -> common::Result<()> {
    let a = common::args(
        3,
        "add_destination tcp|udp|sctp ADDR:PORT | fwmark[6] MARK  REAL:PORT [WEIGHT] [dr|masq|tun|local]",
    )?;
    let key = common::service_key(&a[0], &a[1])?;
    let real: SocketAddr = a[2].parse()?;
    let weight = a.get(3).map_or(Ok(1), |w| w.parse())?;
    let fwd = common::forwarding(a.get(4).map_or("dr", String::as_str))?;
    let dest = Destination::new(real.ip(), real.port(), weight, fwd);
    Client::new()?.add_destination(&key, &dest)?;
    println!("added {} to {key}", dest.key());
    Ok(())
}

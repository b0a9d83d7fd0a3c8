//! Changes one destination's weight: reads it, changes the weight, sends one SET_DEST.
//!
//! `cargo run -p lvs-ipvs --example set_weight -- tcp 10.0.0.1:80 10.0.1.1:80 0`

mod common;

use std::net::SocketAddr;

use lvs_ipvs::Client;

fn main() -> common::Result<()> {
    let a = common::args(
        4,
        "set_weight tcp|udp|sctp ADDR:PORT | fwmark[6] MARK  REAL:PORT WEIGHT",
    )?;
    let key = common::service_key(&a[0], &a[1])?;
    let real: SocketAddr = a[2].parse()?;
    let weight: u32 = a[3].parse()?;
    let mut ipvs = Client::new()?;
    let mut dest = ipvs
        .destinations(&key)?
        .into_iter()
        .map(|d| d.dest)
        .find(|d| d.addr == real.ip() && d.port == real.port())
        .ok_or_else(|| format!("{key} has no destination {real}"))?;
    let old = dest.weight;
    dest.weight = weight;
    ipvs.edit_destination(&key, &dest)?;
    println!("{} of {key}: weight {old} -> {weight}", dest.key());
    Ok(())
}

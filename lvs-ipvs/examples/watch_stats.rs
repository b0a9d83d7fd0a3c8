//! Prints the connection and traffic rates of every service every few seconds, with the tokio
//! client.
//!
//! `cargo run -p lvs-ipvs --example watch_stats -- [SECONDS] [ROUNDS]`

mod common;

use std::time::Duration;

use lvs_ipvs::AsyncClient;

#[tokio::main(flavor = "current_thread")]
async fn main() -> common::Result<()> {
    let a = common::args(0, "watch_stats [SECONDS] [ROUNDS]")?;
    let every = Duration::from_secs(a.first().map_or(Ok(2), |s| s.parse())?);
    let rounds: u64 = a.get(1).map_or(Ok(u64::MAX), |s| s.parse())?;
    let mut ipvs = AsyncClient::new().await?;
    let mut tick = tokio::time::interval(every);
    for _ in 0..rounds {
        tick.tick().await;
        println!(
            "{:<32} {:>8} {:>10} {:>10} {:>12} {:>12}",
            "service", "conns", "cps", "inpps", "inbps", "outbps"
        );
        for s in ipvs.services().await? {
            let st = s.stats;
            println!(
                "{:<32} {:>8} {:>10} {:>10} {:>12} {:>12}",
                s.service.key.to_string(),
                st.conns,
                st.cps,
                st.in_pps,
                st.in_bps,
                st.out_bps
            );
        }
    }
    Ok(())
}

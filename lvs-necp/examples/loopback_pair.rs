//! A feedbackd master and two agents in one process, on loopback: the master keeps its table
//! in memory; the agents report a health that changes, and the master's weights follow.
//!
//! ```sh
//! cargo run -p lvs-necp --example loopback_pair
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use lvs_core::config::feedbackd::{parse_master_config, ServicesDb};
use lvs_necp::codec::{NecpForwarding, ServiceUnit};
use lvs_necp::driver::{run_agent, run_master, MasterDriverEvent, MemoryBackend};
use lvs_necp::session::agent::{Agent, AgentSettings};
use lvs_necp::session::master::{Master, MasterEvent, MasterSettings};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = parse_master_config(
        "keepalive-interval = 1\nallow = 127.0.0.0/8\n\
         [virtual-service]\nname = www\naddress = 192.0.2.80\nprotocol = tcp\nport = 80\n\
         scheduler = wrr\n",
        "example.conf",
        &ServicesDb::builtin(),
    )?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let master = Master::new(MasterSettings::new(cfg), Instant::now().into_std(), 1);
    let mut backend = MemoryBackend::new();
    let table = backend.clone();
    tokio::spawn(async move {
        run_master(
            master,
            listener,
            &mut backend,
            |ev| {
                if let MasterDriverEvent::Session(e) = ev {
                    match e {
                        MasterEvent::RealStarted(r) => println!("master: added {r}, weight 0"),
                        MasterEvent::Weight { real, weight, .. } => {
                            println!("master: {real} weight {weight}")
                        }
                        _ => {}
                    }
                }
            },
            std::future::pending(),
        )
        .await
    });

    let mut healths = Vec::new();
    for n in 1..=2u8 {
        let settings = AgentSettings::new(vec![ServiceUnit {
            forwarding: NecpForwarding::L2,
            protocol: 6,
            port: 80,
        }]);
        let agent = Agent::new(settings, Instant::now().into_std());
        let (tx, rx) = watch::channel(vec![40 * n]);
        healths.push(tx);
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 9, n));
        tokio::spawn(run_agent(
            agent,
            addr,
            Some(source),
            rx,
            |_| {},
            std::future::pending(),
        ));
    }
    sleep(Duration::from_millis(1500)).await;
    healths[0].send_replace(vec![5]);
    sleep(Duration::from_millis(1500)).await;
    for entry in table.table().iter() {
        for d in entry.destinations.values() {
            println!(
                "table: {} -> {}:{} weight {}",
                entry.service.key, d.addr, d.port, d.weight
            );
        }
    }
    Ok(())
}

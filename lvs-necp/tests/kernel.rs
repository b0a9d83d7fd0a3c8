//! The master programming the kernel's IPVS from real agents (tokio drivers, loopback
//! sockets), run in a guest kernel by scripts/kernel-tests.sh.
//!
//! The agents connect from 127.0.6.x. Those addresses are local to the guest, so the kernel
//! records their forwarding as "local node" whatever the agent asked for; weights, quiescing
//! and removal are what these tests check.

#![cfg(feature = "ipvs")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use lvs_core::config::feedbackd::{parse_master_config, ServicesDb};
use lvs_core::model::{Protocol, ServiceKey};
use lvs_ipvs::AsyncClient;
use lvs_necp::codec::{NecpForwarding, ServiceUnit};
use lvs_necp::driver::{run_agent, run_master, IpvsBackend};
use lvs_necp::session::agent::{Agent, AgentSettings};
use lvs_necp::session::master::{Master, MasterSettings};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::time::{sleep, Instant};

fn vs() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: "10.6.6.6".parse().expect("ip"),
        port: 80,
    }
}

fn agent_ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 6, n))
}

/// The weight of the real at `ip` in the kernel, `None` when absent.
async fn weight(client: &mut AsyncClient, ip: IpAddr) -> Option<u32> {
    let dests = client.destinations(&vs()).await.ok()?;
    dests
        .into_iter()
        .find(|d| d.dest.addr == ip && d.dest.port == 80)
        .map(|d| d.dest.weight)
}

async fn wait_weight(
    client: &mut AsyncClient,
    ip: IpAddr,
    want: Option<u32>,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = weight(client, ip).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{ip}: weight {got:?}, expected {want:?} within {within:?}"
        );
        sleep(Duration::from_millis(50)).await;
    }
}

fn spawn_agent(
    n: u8,
    master: SocketAddr,
    health: u8,
) -> (
    watch::Sender<Vec<u8>>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Agent>,
) {
    let s = AgentSettings::new(vec![ServiceUnit {
        forwarding: NecpForwarding::L2,
        protocol: 6,
        port: 80,
    }]);
    let agent = Agent::new(s, Instant::now().into_std());
    let (htx, hrx) = watch::channel(vec![health]);
    let (stx, srx) = oneshot::channel::<()>();
    let task = tokio::spawn(run_agent(
        agent,
        master,
        Some(agent_ip(n)),
        hrx,
        |_| {},
        async move {
            let _ = srx.await;
        },
    ));
    (htx, stx, task)
}

#[tokio::test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
async fn the_master_programs_ipvs_from_its_agents() {
    let mut client = AsyncClient::new().await.expect("IPVS");
    client.flush().await.expect("flush");
    let text = "keepalive-interval = 1\nkeepalive-timeout = 1\nkeepalive-retries = 2\n\
                removal-interval = 4\nallow = 127.0.6.0/24\n\
                [virtual-service]\nname = www\naddress = 10.6.6.6\nprotocol = tcp\nport = 80\n\
                scheduler = wlc\n";
    let cfg = parse_master_config(text, "master.conf", &ServicesDb::builtin()).expect("config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut backend = IpvsBackend::new().await.expect("IPVS backend");
    let master = Master::new(MasterSettings::new(cfg), Instant::now().into_std(), 3);
    let (mstop_tx, mstop_rx) = oneshot::channel::<()>();
    let master_task = tokio::spawn(async move {
        run_master(master, listener, &mut backend, |_| {}, async move {
            let _ = mstop_rx.await;
        })
        .await
    });
    // The configured virtual service is created at start, with its scheduler.
    let start = Instant::now();
    let svc = loop {
        if let Ok(s) = client.service(&vs()).await {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "virtual service not created"
        );
        sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(svc.service.scheduler.to_string(), "wlc");

    let (h1, stop1, task1) = spawn_agent(1, addr, 60);
    let (_h2, _stop2, task2) = spawn_agent(2, addr, 30);
    wait_weight(&mut client, agent_ip(1), Some(60), Duration::from_secs(5)).await;
    wait_weight(&mut client, agent_ip(2), Some(30), Duration::from_secs(5)).await;
    // Health changes reach the kernel.
    h1.send_replace(vec![90]);
    let took = wait_weight(&mut client, agent_ip(1), Some(90), Duration::from_secs(5)).await;
    println!(
        "health 60 -> 90 reached the kernel in {} ms",
        took.as_millis()
    );
    // The agent's STOP quiesces the real in the kernel; idle, it is removed.
    let _ = stop1.send(());
    let ended = tokio::time::timeout(Duration::from_secs(5), task1)
        .await
        .expect("agent 1 ends")
        .expect("task");
    assert!(ended.is_finished());
    // Quiesced at once: weight 0 in the kernel, still there (the removal check runs every
    // 4 s); then, idle, removed.
    let quiesced = wait_weight(&mut client, agent_ip(1), Some(0), Duration::from_secs(2)).await;
    let removed = wait_weight(&mut client, agent_ip(1), None, Duration::from_secs(6)).await;
    println!(
        "agent 1 stopped: weight 0 in the kernel after {} ms, removed {} ms later",
        quiesced.as_millis(),
        removed.as_millis()
    );
    // Killed hard: its connection closes; the real is quiesced, then removed.
    task2.abort();
    wait_weight(&mut client, agent_ip(2), Some(0), Duration::from_secs(2)).await;
    wait_weight(&mut client, agent_ip(2), None, Duration::from_secs(6)).await;
    // Stopping the master leaves the table as it is.
    let _ = mstop_tx.send(());
    master_task.await.expect("master");
    assert!(client.service(&vs()).await.is_ok());
    client.flush().await.expect("flush");
}

#[tokio::test]
#[ignore = "needs IPVS: run by scripts/kernel-tests.sh"]
async fn a_dry_run_master_changes_nothing_in_the_kernel() {
    // `-n`: the master runs its sessions and reads the kernel for connection counts, but
    // creates, changes and removes nothing.
    let mut client = AsyncClient::new().await.expect("IPVS");
    client.flush().await.expect("flush");
    let text = "keepalive-interval = 1\nremoval-interval = 1\nallow = 127.0.6.0/24\n\
                [virtual-service]\nname = www\naddress = 10.6.6.6\nprotocol = tcp\nport = 80\n\
                scheduler = wrr\n";
    let cfg = parse_master_config(text, "master.conf", &ServicesDb::builtin()).expect("config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut backend = lvs_necp::driver::DryRun(IpvsBackend::new().await.expect("IPVS"));
    let master = Master::new(MasterSettings::new(cfg), Instant::now().into_std(), 4);
    let (mstop_tx, mstop_rx) = oneshot::channel::<()>();
    let master_task = tokio::spawn(async move {
        run_master(master, listener, &mut backend, |_| {}, async move {
            let _ = mstop_rx.await;
        })
        .await
    });
    let (_h, stop, task) = spawn_agent(3, addr, 50);
    sleep(Duration::from_secs(3)).await;
    // Nothing was created: not the virtual service, not the real.
    assert!(
        client.service(&vs()).await.is_err(),
        "dry run created the service"
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    sleep(Duration::from_secs(2)).await;
    let m = {
        let _ = mstop_tx.send(());
        master_task.await.expect("master")
    };
    // The master's own view: the real was quiesced and, counted idle, removed.
    assert_eq!(m.reals().count(), 0);
    assert!(client.services().await.expect("services").is_empty());
}

//! The tokio drivers on loopback: one master with the memory backend and 50 agents, each
//! connecting from its own 127.x address, on real sockets.

#![cfg(feature = "tokio")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use lvs_core::config::feedbackd::{parse_master_config, MasterConfig, ServicesDb};
use lvs_core::model::{DestKey, Protocol, ServiceKey};
use lvs_necp::codec::{NecpForwarding, ServiceUnit};
use lvs_necp::driver::{run_agent, run_master, Backend, MemoryBackend};
use lvs_necp::session::agent::{Agent, AgentSettings};
use lvs_necp::session::master::{Master, MasterSettings, RealKey};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

const AGENTS: usize = 50;

fn config(extra: &str) -> MasterConfig {
    let text = format!(
        "keepalive-interval = 1\nkeepalive-timeout = 1\nkeepalive-retries = 2\n\
         removal-interval = 1\nallow = 127.0.0.0/8\n{extra}\n\
         [virtual-service]\nname = www\naddress = 10.1.1.1\nprotocol = tcp\nport = 8080\n\
         scheduler = wrr\n"
    );
    parse_master_config(&text, "master.conf", &ServicesDb::builtin()).expect("config")
}

fn vs() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: "10.1.1.1".parse().expect("ip"),
        port: 8080,
    }
}

fn agent_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 3, 10 + i as u8))
}

fn real_of(i: usize) -> RealKey {
    RealKey {
        service: vs(),
        real: DestKey {
            addr: agent_ip(i),
            port: 8080,
        },
    }
}

struct TestAgent {
    health: watch::Sender<Vec<u8>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Agent>,
}

fn spawn_agent(i: usize, master: SocketAddr, health: u8) -> TestAgent {
    let mut s = AgentSettings::new(vec![ServiceUnit {
        forwarding: NecpForwarding::L3,
        protocol: 6,
        port: 8080,
    }]);
    s.master_timeout = Duration::from_secs(5);
    s.backoff_min = Duration::from_millis(100);
    let agent = Agent::new(s, Instant::now().into_std());
    let (health_tx, health_rx) = watch::channel(vec![health]);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(run_agent(
        agent,
        master,
        Some(agent_ip(i)),
        health_rx,
        |_| {},
        async move {
            let _ = stop_rx.await;
        },
    ));
    TestAgent {
        health: health_tx,
        stop: Some(stop_tx),
        task,
    }
}

async fn start_master(cfg: MasterConfig) -> (SocketAddr, MemoryBackend, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let backend = MemoryBackend::new();
    let mut b = backend.clone();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let master = Master::new(MasterSettings::new(cfg), Instant::now().into_std(), 7);
    tokio::spawn(async move {
        run_master(master, listener, &mut b, |_| {}, async move {
            let _ = stop_rx.await;
        })
        .await
    });
    (addr, backend, stop_tx)
}

/// Waits until `cond` holds (checking every 20 ms), at most `limit`; returns the time taken.
async fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn fifty_agents_weights_follow_their_monitors() {
    let (addr, backend, _stop) = start_master(config("")).await;
    let mut agents: Vec<TestAgent> = (0..AGENTS)
        .map(|i| spawn_agent(i, addr, (i * 2) as u8))
        .collect();
    // Every agent joins and gets its own health as weight.
    wait_for(Duration::from_secs(10), "weights = health", || {
        (0..AGENTS).all(|i| backend.weight(&real_of(i)) == Some((i * 2) as u32))
    })
    .await;
    // Their health changes; the weights follow within about one interval.
    for (i, a) in agents.iter().enumerate() {
        a.health.send_replace(vec![100 - i as u8]);
    }
    let took = wait_for(Duration::from_secs(10), "weights follow", || {
        (0..AGENTS).all(|i| backend.weight(&real_of(i)) == Some(100 - i as u32))
    })
    .await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    // One agent stops cleanly: quiesced at once, removed once idle.
    let r = real_of(7);
    backend.set_active(&r, 3);
    let _ = agents[7].stop.take().expect("stop").send(());
    let stopped = timeout(Duration::from_secs(5), &mut agents[7].task)
        .await
        .expect("the agent ends after its STOP")
        .expect("task");
    assert!(stopped.is_finished());
    wait_for(Duration::from_secs(3), "quiesced on STOP", || {
        backend.weight(&r) == Some(0)
    })
    .await;
    sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        backend.weight(&r),
        Some(0),
        "kept while connections are active"
    );
    backend.set_active(&r, 0);
    wait_for(Duration::from_secs(3), "removed once idle", || {
        backend.weight(&r).is_none()
    })
    .await;
    // The others were not disturbed.
    assert!((0..AGENTS)
        .filter(|&i| i != 7)
        .all(|i| backend.weight(&real_of(i)) == Some(100 - i as u32)));
}

#[tokio::test]
async fn an_agent_killed_hard_is_quiesced_at_once_and_removed() {
    let cfg = config("");
    let limit = cfg.keepalive_timeout * cfg.keepalive_retries;
    let (addr, backend, _stop) = start_master(cfg).await;
    let a = spawn_agent(1, addr, 90);
    let b = spawn_agent(2, addr, 80);
    wait_for(Duration::from_secs(5), "joined", || {
        backend.weight(&real_of(1)) == Some(90) && backend.weight(&real_of(2)) == Some(80)
    })
    .await;
    // Killed hard: the task is aborted, no STOP is sent; its socket closes.
    a.task.abort();
    let took = wait_for(limit + Duration::from_secs(1), "quiesced", || {
        backend.weight(&real_of(1)) == Some(0)
    })
    .await;
    assert!(took <= limit, "quiesced after {took:?}, limit {limit:?}");
    wait_for(Duration::from_secs(3), "removed", || {
        backend.weight(&real_of(1)).is_none()
    })
    .await;
    assert_eq!(backend.weight(&real_of(2)), Some(80));
    drop(b);
}

#[tokio::test]
async fn a_frozen_agent_is_quiesced_within_timeout_times_retries() {
    // An "agent" that completes the handshake by hand, then never answers again: only the
    // keepalive timeout can find it.
    use lvs_necp::codec::{FrameDecoder, Message, Opcode, Unit};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cfg = config("");
    let limit = cfg.keepalive_interval + cfg.keepalive_timeout * cfg.keepalive_retries;
    let (addr, backend, _stop) = start_master(cfg).await;
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::new(agent_ip(20), 0)).expect("bind");
    let mut s = sock.connect(addr).await.expect("connect");
    let mut out = Vec::new();
    Message::new(Opcode::Init, 1, vec![Unit::default()]).encode(None, &mut out);
    let start = ServiceUnit {
        forwarding: NecpForwarding::L3,
        protocol: 6,
        port: 8080,
    };
    Message::new(Opcode::Start, 2, vec![start.into()]).encode(None, &mut out);
    s.write_all(&out).await.expect("write");
    let mut dec = FrameDecoder::new(4096);
    let mut buf = [0u8; 512];
    let mut acks = 0;
    while acks < 2 {
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0, "master closed");
        dec.push(&buf[..n]);
        while let Some(f) = dec.next_frame().expect("frame") {
            acks += 1;
            let m = f.message().expect("message");
            assert!(!m.is_error(), "{m:?}");
        }
    }
    let since = Instant::now();
    wait_for(Duration::from_secs(2), "added", || {
        backend.weight(&real_of(20)).is_some()
    })
    .await;
    // Weight 0 from the start (no answer yet); a frozen agent stays unanswered. Watch the
    // master's connection end: quiesced means the connection is dropped.
    let mut dropped = false;
    let deadline = since + limit + Duration::from_millis(1500);
    while Instant::now() < deadline {
        match timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                dropped = true;
                break;
            }
            _ => {}
        }
    }
    assert!(dropped, "the master did not drop the silent agent");
    let took = since.elapsed();
    assert!(
        took <= limit + Duration::from_millis(500),
        "{took:?} > {limit:?}"
    );
    wait_for(Duration::from_secs(3), "removed", || {
        backend.weight(&real_of(20)).is_none()
    })
    .await;
}

#[tokio::test]
async fn agents_outside_the_allow_list_and_garbage_do_not_disturb_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let text = "allow = 127.0.3.0/28\nkeepalive-interval = 1\n\
                [virtual-service]\nname = www\naddress = 10.1.1.1\nprotocol = tcp\n\
                port = 8080\nscheduler = wrr\n";
    let cfg = parse_master_config(text, "m.conf", &ServicesDb::builtin()).expect("config");
    let (addr, backend, _stop) = start_master(cfg).await;
    let ok = spawn_agent(1, addr, 50); // 127.0.3.11: allowed
    let _outside = spawn_agent(40, addr, 50); // 127.0.3.50: not allowed
    wait_for(Duration::from_secs(5), "allowed agent joined", || {
        backend.weight(&real_of(1)) == Some(50)
    })
    .await;
    // A garbage peer from an allowed address is cut off.
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::new(agent_ip(2), 0)).expect("bind");
    let mut g = sock.connect(addr).await.expect("connect");
    g.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let n = timeout(Duration::from_secs(3), g.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        backend.weight(&real_of(40)),
        None,
        "refused agent was added"
    );
    assert_eq!(backend.weight(&real_of(1)), Some(50));
    let counts = backend
        .clone()
        .active_connections(&[real_of(1), real_of(40)])
        .await
        .expect("memory backend");
    assert_eq!(counts, vec![Some(0), None]);
    drop(ok);
}

#[tokio::test]
async fn an_agent_whose_health_source_is_gone_keeps_answering_and_stops() {
    let (addr, backend, _stop) = start_master(config("")).await;
    let mut a = spawn_agent(30, addr, 61);
    wait_for(Duration::from_secs(5), "joined", || {
        backend.weight(&real_of(30)) == Some(61)
    })
    .await;
    // The health source goes away (its task ended): the agent keeps the last value, keeps
    // answering polls, and still stops cleanly.
    drop(a.health);
    sleep(Duration::from_millis(2500)).await;
    assert_eq!(backend.weight(&real_of(30)), Some(61));
    let _ = a.stop.take().expect("stop").send(());
    let ended = timeout(Duration::from_secs(5), a.task)
        .await
        .expect("the agent ends")
        .expect("task");
    assert!(ended.is_finished());
    wait_for(Duration::from_secs(3), "quiesced", || {
        backend.weight(&real_of(30)) != Some(61)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_flooding_the_master_does_not_stall_the_others() {
    use lvs_necp::codec::{Message, Opcode, Unit};
    use tokio::io::AsyncWriteExt;
    let (addr, backend, _stop) = start_master(config("")).await;
    let good = spawn_agent(50, addr, 20);
    wait_for(Duration::from_secs(5), "joined", || {
        backend.weight(&real_of(50)) == Some(20)
    })
    .await;
    // An allowed peer that, after its INIT, sends NOOPs as fast as the socket takes them.
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::new(agent_ip(51), 0)).expect("bind");
    let mut flood = sock.connect(addr).await.expect("connect");
    let mut init = Vec::new();
    Message::new(Opcode::Init, 1, vec![Unit::default()]).encode(None, &mut init);
    flood.write_all(&init).await.expect("init");
    let mut noops = Vec::new();
    for id in 0..200u16 {
        Message::new(Opcode::Noop, id, Vec::new()).encode(None, &mut noops);
    }
    let flooder = tokio::spawn(async move {
        while flood.write_all(&noops).await.is_ok() {
            tokio::task::yield_now().await;
        }
    });
    // Meanwhile the well-behaved agent's health changes still reach the table promptly.
    sleep(Duration::from_millis(500)).await;
    good.health.send_replace(vec![70]);
    let took = wait_for(
        Duration::from_secs(5),
        "weight follows during the flood",
        || backend.weight(&real_of(50)) == Some(70),
    )
    .await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    flooder.abort();
}

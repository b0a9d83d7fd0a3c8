//! The agent and master state machines together, in memory, on a fake clock: every byte
//! goes through the codec, no socket and no sleep.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use lvs_core::config::feedbackd::{parse_master_config, MasterConfig, ServicesDb};
use lvs_core::model::{DestKey, Forwarding, Operation, Protocol, ServiceKey, Table};
use lvs_necp::codec::{
    ExceptionUnit, Flags, FrameDecoder, HealthQuery, Key, Message, NecpForwarding, Opcode,
    ServiceUnit, Unit, QUERY_HEALTH_INDEX,
};
use lvs_necp::session::agent::{
    backoff, Agent, AgentAction, AgentEvent, AgentSettings, DropReason,
};
use lvs_necp::session::master::{
    ConnId, Master, MasterAction, MasterEvent, MasterSettings, RealKey, Reason,
};

const SECRET: &str = "s3cret-shared";

fn master_config(extra: &str) -> MasterConfig {
    let text = format!(
        "keepalive-interval = 2\nkeepalive-timeout = 10\nkeepalive-retries = 3\n\
         removal-interval = 30\nallow = 127.0.0.0/8\n{extra}\n\
         [virtual-service]\nname = http\naddress = 10.0.0.1\nprotocol = tcp\nport = 80\n\
         scheduler = wrr\n\
         [virtual-service]\nname = dns\naddress = 10.0.0.1\nprotocol = udp\nport = 53\n\
         scheduler = wrr\n"
    );
    parse_master_config(&text, "master.conf", &ServicesDb::builtin()).expect("master config")
}

fn http_unit() -> ServiceUnit {
    ServiceUnit {
        forwarding: NecpForwarding::L3,
        protocol: 6,
        port: 80,
    }
}

fn dns_unit() -> ServiceUnit {
    ServiceUnit {
        forwarding: NecpForwarding::L2,
        protocol: 17,
        port: 53,
    }
}

fn http_vs() -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: "10.0.0.1".parse().expect("ip"),
        port: 80,
    }
}

fn real(ip: &str, service: ServiceKey, port: u16) -> RealKey {
    RealKey {
        service,
        real: DestKey {
            addr: ip.parse().expect("ip"),
            port,
        },
    }
}

fn settings(units: Vec<ServiceUnit>) -> AgentSettings {
    let mut s = AgentSettings::new(units);
    s.master_timeout = Duration::from_secs(30);
    s
}

struct AgentSlot {
    agent: Agent,
    ip: IpAddr,
    conn: Option<ConnId>,
    events: Vec<AgentEvent>,
    /// Bytes the agent sent, as sent (for replays).
    sent: Vec<Vec<u8>>,
}

/// A master and its agents wired in memory, with the IPVS table the master's actions build.
struct Net {
    now: Instant,
    master: Master,
    agents: Vec<AgentSlot>,
    table: Table,
    active: HashMap<RealKey, u32>,
    master_events: Vec<MasterEvent>,
    next_conn: ConnId,
    /// While true, nothing passes between agents and master (a partition).
    cut: bool,
    /// Raw frames the master sent to a connection, decoded, by connection.
    to_agent: HashMap<ConnId, Vec<Message>>,
    decoders: HashMap<ConnId, FrameDecoder>,
}

impl Net {
    fn new(cfg: MasterConfig) -> Self {
        let t0 = Instant::now();
        let master = Master::new(MasterSettings::new(cfg), t0, 42);
        let mut net = Net {
            now: t0,
            master,
            agents: Vec::new(),
            table: Table::default(),
            active: HashMap::new(),
            master_events: Vec::new(),
            next_conn: 1,
            cut: false,
            to_agent: HashMap::new(),
            decoders: HashMap::new(),
        };
        net.pump();
        net
    }

    fn add_agent(&mut self, ip: &str, s: AgentSettings) -> usize {
        let agent = Agent::new(s, self.now);
        self.agents.push(AgentSlot {
            agent,
            ip: ip.parse().expect("ip"),
            conn: None,
            events: Vec::new(),
            sent: Vec::new(),
        });
        self.pump();
        self.agents.len() - 1
    }

    /// Moves everything until nothing moves.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut progressed = false;
            for i in 0..self.agents.len() {
                while let Some(a) = self.agents[i].agent.poll_action() {
                    progressed = true;
                    match a {
                        AgentAction::Connect => {
                            let id = self.next_conn;
                            self.next_conn += 1;
                            let peer = SocketAddr::new(self.agents[i].ip, 40000 + id as u16);
                            if !self.cut && self.master.accept(id, peer, self.now).is_ok() {
                                self.agents[i].conn = Some(id);
                                self.agents[i]
                                    .agent
                                    .on_connected(self.now, 0x2222_2222_3333_3333);
                            } else {
                                self.agents[i].agent.on_connect_failed(self.now);
                            }
                        }
                        AgentAction::Close => {
                            if let Some(id) = self.agents[i].conn.take() {
                                // Across a partition the master does not see the close.
                                if !self.cut {
                                    self.master.on_closed(id, self.now);
                                }
                            }
                        }
                    }
                }
                if let Some(bytes) = self.agents[i].agent.poll_transmit() {
                    progressed = true;
                    self.agents[i].sent.push(bytes.clone());
                    if let (Some(id), false) = (self.agents[i].conn, self.cut) {
                        self.master.handle_input(id, &bytes, self.now);
                    }
                }
                while let Some(e) = self.agents[i].agent.poll_event() {
                    self.agents[i].events.push(e);
                }
            }
            while let Some((id, bytes)) = self.master.poll_transmit() {
                progressed = true;
                let dec = self
                    .decoders
                    .entry(id)
                    .or_insert_with(|| FrameDecoder::new(1 << 20));
                dec.push(&bytes);
                while let Ok(Some(f)) = dec.next_frame() {
                    if let Ok(m) = f.message() {
                        self.to_agent.entry(id).or_default().push(m);
                    }
                }
                if self.cut {
                    continue;
                }
                if let Some(slot) = self.agents.iter_mut().find(|s| s.conn == Some(id)) {
                    slot.agent.handle_input(&bytes, self.now);
                }
            }
            while let Some(action) = self.master.poll_action() {
                progressed = true;
                self.perform(action);
            }
            while let Some(e) = self.master.poll_event() {
                self.master_events.push(e);
            }
            if !progressed {
                return;
            }
        }
        panic!("the sessions never settle");
    }

    fn perform(&mut self, action: MasterAction) {
        match action {
            MasterAction::AddService(s) => {
                self.table.insert_service(s);
            }
            MasterAction::AddReal { service, dest } => {
                self.table
                    .insert_destination(&service, dest)
                    .expect("add real");
            }
            MasterAction::SetWeight { real, weight, .. } => {
                let mut d = *self
                    .table
                    .destination(&real.service, &real.real)
                    .expect("weight of a real that exists");
                d.weight = weight;
                self.table
                    .apply(&Operation::EditDestination {
                        service: real.service,
                        dest: d,
                    })
                    .expect("edit");
            }
            MasterAction::QueryActive(reals) => {
                for real in reals {
                    let n = self.active.get(&real).copied().unwrap_or(0);
                    self.master.active_connections(real, n);
                }
            }
            MasterAction::RemoveReal(real) => {
                self.table
                    .apply(&Operation::DeleteDestination {
                        service: real.service,
                        dest: real.real,
                    })
                    .expect("remove a real that exists");
            }
            MasterAction::Close(id) => {
                if let Some(slot) = self.agents.iter_mut().find(|s| s.conn == Some(id)) {
                    slot.conn = None;
                    slot.agent.on_closed(self.now);
                }
            }
            other => panic!("unexpected action {other:?}"),
        }
    }

    /// Advances the clock by `d` in steps of 100 ms, firing every due timer.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now = (self.now + Duration::from_millis(100)).min(end);
            self.fire();
        }
    }

    fn fire(&mut self) {
        let now = self.now;
        if self.master.poll_timeout().is_some_and(|t| t <= now) {
            self.master.handle_timeout(now);
        }
        for slot in &mut self.agents {
            if slot.agent.poll_timeout().is_some_and(|t| t <= now) {
                slot.agent.handle_timeout(now);
            }
        }
        self.pump();
    }

    /// Advances until `cond` holds, at most `limit`; returns the time it took.
    fn until(&mut self, limit: Duration, mut cond: impl FnMut(&Net) -> bool) -> Duration {
        let start = self.now;
        while !cond(self) {
            assert!(
                self.now - start < limit,
                "condition not met within {limit:?}"
            );
            self.advance(Duration::from_millis(100));
        }
        self.now - start
    }

    fn weight(&self, r: &RealKey) -> Option<u32> {
        self.table
            .destination(&r.service, &r.real)
            .map(|d| d.weight)
    }

    fn send_raw(&mut self, agent: usize, bytes: &[u8]) {
        let id = self.agents[agent].conn.expect("connected");
        self.master.handle_input(id, bytes, self.now);
        self.pump();
    }

    /// The master's latest KEEPALIVE to an agent.
    fn last_poll(&self, agent: usize) -> Message {
        self.replies(agent)
            .iter()
            .rev()
            .find(|m| m.opcode == Opcode::Keepalive)
            .expect("a poll")
            .clone()
    }

    fn replies(&self, agent: usize) -> &[Message] {
        let id = self.agents[agent].conn.expect("connected");
        self.to_agent.get(&id).map_or(&[], Vec::as_slice)
    }
}

#[test]
fn an_agent_joins_with_weight_zero_then_its_health() {
    let mut net = Net::new(master_config(""));
    // The configured virtual services exist from the start.
    assert!(net.table.get(&http_vs()).is_some());
    let a = net.add_agent("127.0.0.5", settings(vec![http_unit()]));
    net.agents[a].agent.set_health(0, 75);
    let r = real("127.0.0.5", http_vs(), 80);
    // Added at once with weight 0 and the NAT forwarding the agent asked for.
    let d = *net
        .table
        .destination(&r.service, &r.real)
        .expect("real added");
    assert_eq!((d.weight, d.forwarding), (0, Forwarding::Masq));
    assert!(net.agents[a].events.contains(&AgentEvent::Initialized));
    assert!(net.agents[a]
        .events
        .contains(&AgentEvent::ServicesAccepted {
            opcode: Opcode::StartAck
        }));
    // The first poll, keepalive-interval later, sets the weight to the health.
    net.advance(Duration::from_millis(1900));
    assert_eq!(net.weight(&r), Some(0));
    net.advance(Duration::from_millis(200));
    assert_eq!(net.weight(&r), Some(75));
    // Health moves, the weight follows at the next poll.
    net.agents[a].agent.set_health(0, 20);
    net.advance(Duration::from_secs(2));
    assert_eq!(net.weight(&r), Some(20));
    assert_eq!(net.master.real(&r), Some((20, false)));
}

#[test]
fn several_services_forwarding_types_and_polls_carry_one_query_each() {
    let mut net = Net::new(master_config(""));
    let a = net.add_agent("127.0.0.6", settings(vec![http_unit(), dns_unit()]));
    net.agents[a].agent.set_health(0, 90);
    net.agents[a].agent.set_health(1, 40);
    net.advance(Duration::from_secs(3));
    let dns_vs = ServiceKey::Inet {
        protocol: Protocol::Udp,
        addr: "10.0.0.1".parse().expect("ip"),
        port: 53,
    };
    let h = real("127.0.0.6", http_vs(), 80);
    let d = real("127.0.0.6", dns_vs, 53);
    assert_eq!(net.weight(&h), Some(90));
    assert_eq!(net.weight(&d), Some(40));
    assert_eq!(
        net.table
            .destination(&d.service, &d.real)
            .map(|x| x.forwarding),
        Some(Forwarding::DirectRoute)
    );
    let polls: Vec<&Message> = net
        .replies(a)
        .iter()
        .filter(|m| m.opcode == Opcode::Keepalive)
        .collect();
    assert!(!polls.is_empty());
    let q: Vec<HealthQuery> = polls[0]
        .units()
        .iter()
        .map(|u| HealthQuery::try_from(u).expect("query"))
        .collect();
    assert_eq!(
        q,
        vec![
            HealthQuery {
                query_type: QUERY_HEALTH_INDEX,
                protocol: 6,
                port: 80
            },
            HealthQuery {
                query_type: QUERY_HEALTH_INDEX,
                protocol: 17,
                port: 53
            },
        ]
    );
}

#[test]
fn a_service_without_virtual_is_refused_and_echoed() {
    let mut net = Net::new(master_config(""));
    let smtp = ServiceUnit {
        forwarding: NecpForwarding::L3,
        protocol: 6,
        port: 25,
    };
    let a = net.add_agent("127.0.0.7", settings(vec![http_unit(), smtp]));
    let refused = net.agents[a].events.iter().find_map(|e| match e {
        AgentEvent::ServicesRefused { opcode, units } => Some((*opcode, units.clone())),
        _ => None,
    });
    assert_eq!(refused, Some((Opcode::StartAck, vec![smtp])));
    // The good one is in, the refused one is not.
    assert!(net.weight(&real("127.0.0.7", http_vs(), 80)).is_some());
    assert!(net.master_events.iter().any(|e| matches!(e,
        MasterEvent::UnitRefused { why, .. } if why.contains("no virtual service for tcp port 25"))));
}

#[test]
fn stop_quiesces_then_removal_waits_for_idle() {
    let mut net = Net::new(master_config(""));
    let a = net.add_agent("127.0.0.8", settings(vec![http_unit()]));
    net.agents[a].agent.set_health(0, 60);
    net.advance(Duration::from_secs(3));
    let r = real("127.0.0.8", http_vs(), 80);
    assert_eq!(net.weight(&r), Some(60));
    net.active.insert(r, 5);
    net.agents[a].agent.shutdown(net.now);
    net.pump();
    assert!(net.agents[a].agent.is_finished());
    assert!(net.agents[a]
        .events
        .contains(&AgentEvent::ServicesAccepted {
            opcode: Opcode::StopAck
        }));
    // Quiesced at once: weight 0, still in the table.
    assert_eq!(net.weight(&r), Some(0));
    assert_eq!(net.master.real(&r), Some((0, true)));
    // The removal check (every 30 s) finds 5 active connections: it stays.
    net.advance(Duration::from_secs(31));
    assert_eq!(net.weight(&r), Some(0));
    // Once idle, the next check removes it.
    net.active.insert(r, 0);
    let took = net.until(Duration::from_secs(31), |n| n.weight(&r).is_none());
    assert!(took <= Duration::from_secs(30), "{took:?}");
    assert!(net.master_events.contains(&MasterEvent::Removed(r)));
    assert_eq!(net.master.real(&r), None);
}

#[test]
fn a_lost_connection_quiesces_at_once_and_the_agent_comes_back() {
    let mut net = Net::new(master_config(""));
    let a = net.add_agent("127.0.0.9", settings(vec![http_unit()]));
    net.agents[a].agent.set_health(0, 50);
    net.advance(Duration::from_secs(3));
    let r = real("127.0.0.9", http_vs(), 80);
    assert_eq!(net.weight(&r), Some(50));
    // The connection breaks (both sides see it).
    let id = net.agents[a].conn.take().expect("conn");
    net.master.on_closed(id, net.now);
    net.agents[a].agent.on_closed(net.now);
    net.pump();
    assert_eq!(net.master.real(&r), Some((0, true)));
    // The session lasted less than master-timeout: the next attempt waits the first backoff
    // step (1 s), then the agent starts again and the real gets its weight back at the next
    // poll.
    assert!(net.agents[a].events.iter().any(|e| matches!(e,
        AgentEvent::Dropped { reason: DropReason::Closed, retry_in } if *retry_in == Duration::from_secs(1))));
    net.advance(Duration::from_millis(900));
    assert!(net.agents[a].conn.is_none());
    net.advance(Duration::from_millis(200));
    assert!(net.agents[a].conn.is_some());
    assert_eq!(net.master.real(&r), Some((0, false)));
    net.advance(Duration::from_secs(3));
    assert_eq!(net.weight(&r), Some(50));
    assert_eq!(net.master.connections(), 1);
}

#[test]
fn after_a_long_session_the_agent_reconnects_at_once() {
    let mut net = Net::new(master_config(""));
    let a = net.add_agent("127.0.0.14", settings(vec![http_unit()]));
    net.advance(Duration::from_secs(31));
    let first = net.agents[a].conn.expect("conn");
    net.master.on_closed(first, net.now);
    net.agents[a].conn = None;
    net.agents[a].agent.on_closed(net.now);
    net.fire();
    let second = net.agents[a].conn.expect("reconnected at once");
    assert_ne!(first, second);
}

#[test]
fn two_agents_on_one_address_back_off_instead_of_looping() {
    // Two agents of one host address replace each other's session; each replacement is a
    // short session, so each agent backs off, and the churn slows down instead of spinning.
    let mut net = Net::new(master_config(""));
    net.add_agent("127.0.0.15", settings(vec![http_unit()]));
    net.add_agent("127.0.0.15", settings(vec![http_unit()]));
    net.advance(Duration::from_secs(120));
    let replaced = net
        .master_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                MasterEvent::Disconnected {
                    reason: Reason::Replaced,
                    ..
                }
            )
        })
        .count();
    // With 1, 2, 4, ... 64 s between attempts, two minutes hold at most a dozen or so.
    assert!(
        (1..=16).contains(&replaced),
        "{replaced} replacements in 120 s"
    );
}

#[test]
fn a_silent_agent_is_quiesced_after_timeout_times_retries() {
    let mut net = Net::new(master_config(""));
    let a = net.add_agent("127.0.0.10", settings(vec![http_unit()]));
    net.agents[a].agent.set_health(0, 80);
    net.advance(Duration::from_secs(3));
    let r = real("127.0.0.10", http_vs(), 80);
    assert_eq!(net.weight(&r), Some(80));
    // A partition: nothing passes. The next poll is due within 2 s; then 3 x 10 s.
    net.cut = true;
    let took = net.until(Duration::from_secs(40), |n| n.weight(&r) == Some(0));
    assert!(
        took > Duration::from_secs(30) - Duration::from_secs(2) && took <= Duration::from_secs(32),
        "quiesced after {took:?}"
    );
    assert!(net.master_events.iter().any(|e| matches!(e,
        MasterEvent::Quiesced { real, reason: Reason::Silent { misses: 3 } } if *real == r)));
}

#[test]
fn a_late_answer_within_the_retries_keeps_the_real() {
    let mut cfg = master_config("");
    cfg.keepalive_retries = 3;
    let mut net = Net::new(cfg);
    let a = net.add_agent("127.0.0.11", settings(vec![http_unit()]));
    net.agents[a].agent.set_health(0, 70);
    net.advance(Duration::from_secs(3));
    let r = real("127.0.0.11", http_vs(), 80);
    // 15 s of partition: one or two keepalives lost, fewer than 3.
    net.cut = true;
    net.advance(Duration::from_secs(15));
    net.cut = false;
    net.advance(Duration::from_secs(12));
    assert_eq!(net.master.real(&r), Some((70, false)));
    assert!(!net
        .master_events
        .iter()
        .any(|e| matches!(e, MasterEvent::Quiesced { .. })));
}

#[test]
fn the_agent_reconnects_after_master_timeout() {
    let mut net = Net::new(master_config(""));
    let mut s = settings(vec![http_unit()]);
    s.master_timeout = Duration::from_secs(5);
    let a = net.add_agent("127.0.0.12", s);
    let first = net.agents[a].conn.expect("conn");
    // The master goes silent (its packets are lost); the agent drops the connection after
    // master-timeout. The session lasted master-timeout, so it tries again at once.
    net.cut = true;
    net.advance(Duration::from_secs(6));
    assert!(
        net.agents[a].events.iter().any(|e| matches!(e,
        AgentEvent::Dropped { reason: DropReason::MasterTimeout, retry_in } if retry_in.is_zero()))
    );
    // Once the master is reachable again, a new session starts.
    net.cut = false;
    net.advance(Duration::from_secs(2));
    let second = net.agents[a].conn.expect("a new connection");
    assert_ne!(first, second);
    let inits = net.agents[a]
        .events
        .iter()
        .filter(|e| **e == AgentEvent::Initialized)
        .count();
    assert_eq!(inits, 2);
}

#[test]
fn backoff_doubles_to_the_cap_and_the_agent_gives_up() {
    assert_eq!(
        backoff(0, Duration::from_secs(1), Duration::from_secs(256)),
        Duration::ZERO
    );
    let seq: Vec<u64> = (1..=11)
        .map(|n| backoff(n, Duration::from_secs(1), Duration::from_secs(256)).as_secs())
        .collect();
    assert_eq!(seq, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 256, 256]);
    assert_eq!(
        backoff(u32::MAX, Duration::from_secs(1), Duration::from_secs(60)),
        Duration::from_secs(60)
    );

    // A master that refuses the agent's address: the attempts follow the backoff, and with
    // connection-retries = 4 the agent stops after the 4th failure.
    let mut net = Net::new(master_config(""));
    let mut s = settings(vec![http_unit()]);
    s.connection_retries = 4;
    let a = net.add_agent("192.0.2.1", s);
    net.advance(Duration::from_secs(20));
    let delays: Vec<u64> = net.agents[a]
        .events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ConnectFailed { retry_in, .. } => Some(retry_in.as_secs()),
            _ => None,
        })
        .collect();
    assert_eq!(delays, vec![1, 2, 4]);
    assert!(net.agents[a]
        .events
        .contains(&AgentEvent::GaveUp { attempts: 4 }));
    assert!(net.agents[a].agent.is_finished());
    assert!(net.master_events.iter().any(|e| matches!(
        e,
        MasterEvent::Refused {
            reason: Reason::NotAllowed,
            ..
        }
    )));
}

#[test]
fn an_agent_that_never_sends_init_is_dropped() {
    let mut net = Net::new(master_config(""));
    let peer: SocketAddr = "127.0.0.13:5000".parse().expect("addr");
    net.master.accept(99, peer, net.now).expect("allowed");
    net.advance(Duration::from_secs(11));
    assert!(net.master_events.iter().any(|e| matches!(
        e,
        MasterEvent::Disconnected {
            conn: 99,
            reason: Reason::NoInit,
            ..
        }
    )));
}

fn authed(units: Vec<ServiceUnit>, secret: &str) -> AgentSettings {
    let mut s = settings(units);
    s.key = Some(Key::new(secret.as_bytes()));
    s
}

#[test]
fn authenticated_sessions_work_and_number_their_messages() {
    let mut net = Net::new(master_config(&format!("secret = {SECRET}")));
    let a = net.add_agent("127.0.0.20", authed(vec![http_unit()], SECRET));
    net.agents[a].agent.set_health(0, 33);
    net.advance(Duration::from_secs(5));
    let r = real("127.0.0.20", http_vs(), 80);
    assert_eq!(net.weight(&r), Some(33));
    assert!(net.master_events.iter().any(|e| matches!(
        e,
        MasterEvent::Initialized {
            authenticated: true,
            ..
        }
    )));
    // Every message of the master is signed; the first carries the number the agent asked
    // for, and they count up.
    let id = net.agents[a].conn.expect("conn");
    let msgs = &net.to_agent[&id];
    assert_eq!(msgs[0].opcode, Opcode::InitAck);
    assert_eq!(msgs[0].seq_num, 0x2222_2222_3333_3333);
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(m.seq_num, 0x2222_2222_3333_3333 + i as u64, "{m:?}");
    }
    assert!(!net
        .master_events
        .iter()
        .any(|e| matches!(e, MasterEvent::AuthFailed { .. })));
}

#[test]
fn a_wrong_secret_or_none_is_refused() {
    for agent_key in [Some("wrong"), None] {
        let mut net = Net::new(master_config(&format!("secret = {SECRET}")));
        let mut s = settings(vec![http_unit()]);
        s.key = agent_key.map(|k| Key::new(k.as_bytes()));
        s.connection_retries = 1;
        let a = net.add_agent("127.0.0.21", s);
        assert!(
            net.agents[a]
                .events
                .iter()
                .any(|e| matches!(e, AgentEvent::GaveUp { .. }))
                || net.agents[a].events.iter().any(|e| matches!(e,
            AgentEvent::Dropped { reason: DropReason::InitRefused(f), .. }
                if f.contains(Flags::AUTH_REQUIRED))),
            "{:?}",
            net.agents[a].events
        );
        assert!(net
            .table
            .get(&http_vs())
            .expect("vs")
            .destinations
            .is_empty());
        assert!(net
            .master_events
            .iter()
            .any(|e| matches!(e, MasterEvent::AuthFailed { .. })));
    }
    // An agent asking for authentication from a master without a secret is refused too.
    let mut net = Net::new(master_config(""));
    let mut s = authed(vec![http_unit()], SECRET);
    s.connection_retries = 1;
    net.add_agent("127.0.0.22", s);
    assert!(net.master_events.iter().any(|e| matches!(e,
        MasterEvent::AuthFailed { why, .. } if why.contains("no secret"))));
}

#[test]
fn replayed_and_tampered_messages_are_rejected() {
    let mut net = Net::new(master_config(&format!("secret = {SECRET}")));
    let a = net.add_agent("127.0.0.23", authed(vec![http_unit()], SECRET));
    net.agents[a].agent.set_health(0, 90);
    net.advance(Duration::from_secs(3));
    let r = real("127.0.0.23", http_vs(), 80);
    assert_eq!(net.weight(&r), Some(90));
    // The agent's START (its second message), replayed: a valid credential, an old number.
    let start = net.agents[a].sent[1].clone();
    net.send_raw(a, &start);
    let last = net.replies(a).last().expect("reply").clone();
    assert_eq!(last.opcode, Opcode::StartAck);
    assert!(
        last.flags
            .contains(Flags::ERROR | Flags::BAD_SEQUENCE_NUMBER),
        "{last:?}"
    );
    // A forged STOP: right layout, wrong credential.
    let stop = Message::new(Opcode::Stop, 77, vec![http_unit().into()]).with_seq(u64::MAX / 2);
    let mut forged = Vec::new();
    stop.encode(Some(&Key::new(b"not the secret")), &mut forged);
    net.send_raw(a, &forged);
    let last = net.replies(a).last().expect("reply").clone();
    assert_eq!(last.opcode, Opcode::StopAck);
    assert!(
        last.flags.contains(Flags::ERROR | Flags::AUTH_REQUIRED),
        "{last:?}"
    );
    // Neither had any effect.
    assert_eq!(net.master.real(&r), Some((90, false)));
    let fails = net
        .master_events
        .iter()
        .filter(|e| matches!(e, MasterEvent::AuthFailed { .. }))
        .count();
    assert_eq!(fails, 2);
    // An unsigned message on the authenticated connection is refused as well; a third
    // failure in a row closes the connection and quiesces the real.
    let mut plain = Vec::new();
    Message::new(Opcode::Stop, 78, vec![http_unit().into()]).encode(None, &mut plain);
    net.send_raw(a, &plain);
    assert!(net.master_events.iter().any(|e| matches!(
        e,
        MasterEvent::Disconnected {
            reason: Reason::Auth,
            ..
        }
    )));
}

#[test]
fn garbage_disconnects_only_that_agent() {
    let mut net = Net::new(master_config(""));
    let good = net.add_agent("127.0.0.30", settings(vec![http_unit()]));
    let bad = net.add_agent("127.0.0.31", settings(vec![http_unit()]));
    net.agents[good].agent.set_health(0, 10);
    net.advance(Duration::from_secs(3));
    net.send_raw(bad, b"GET / HTTP/1.0\r\nHost: director\r\n\r\n");
    assert!(net.master_events.iter().any(|e| matches!(
        e,
        MasterEvent::Disconnected {
            reason: Reason::Garbage(_),
            ..
        }
    )));
    let bad_real = real("127.0.0.31", http_vs(), 80);
    assert!(net.master_events.iter().any(|e| matches!(e,
        MasterEvent::Quiesced { real, reason: Reason::Garbage(_) } if *real == bad_real)));
    // An oversized message from the (reconnected) agent: refused from its header alone.
    net.advance(Duration::from_secs(1));
    let mut big = Vec::new();
    big.extend_from_slice(&[0x41, 0x4a, 0, 1, 1, 5, 0, 1]);
    big.extend_from_slice(&[0; 8]);
    big.extend_from_slice(&u32::MAX.to_be_bytes());
    net.send_raw(bad, &big);
    let garbage = net
        .master_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                MasterEvent::Disconnected {
                    reason: Reason::Garbage(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(garbage, 2);
    // The good agent never noticed.
    net.advance(Duration::from_secs(3));
    assert_eq!(
        net.master.real(&real("127.0.0.30", http_vs(), 80)),
        Some((10, false))
    );
}

#[test]
fn unsupported_requests_and_versions_are_answered_with_f_error() {
    let mut net = Net::new(master_config(""));
    let a = net.add_agent("127.0.0.40", settings(vec![http_unit()]));
    let exc = ExceptionUnit {
        scope: 1,
        ttl: 60,
        src: "192.0.2.0".parse().expect("ip"),
        src_prefix: 24,
        dst: std::net::Ipv4Addr::UNSPECIFIED,
        dst_prefix: 0,
        protocol: 6,
        port: 80,
    };
    let mut bytes = Vec::new();
    Message::new(Opcode::ExceptionAdd, 500, vec![exc.into()]).encode(None, &mut bytes);
    net.send_raw(a, &bytes);
    let last = net.replies(a).last().expect("reply").clone();
    assert_eq!(last.opcode, Opcode::ExceptionAddAck);
    assert_eq!(last.request_id, 500);
    assert!(last.is_error());
    assert_eq!(last.units(), &[Unit::from(exc)]);
    // Version 2: F_Error + F_Protocol_Version_Mismatch, version 1, no payload.
    let mut v2 = Message::new(Opcode::Start, 501, vec![http_unit().into()]);
    v2.version = 2;
    let mut bytes = Vec::new();
    v2.encode(None, &mut bytes);
    net.send_raw(a, &bytes);
    let last = net.replies(a).last().expect("reply").clone();
    assert_eq!(
        (last.opcode, last.request_id, last.version),
        (Opcode::StartAck, 501, 1)
    );
    assert!(last.flags.contains(Flags::ERROR | Flags::VERSION_MISMATCH));
    assert!(last.units().is_empty());
}

#[test]
fn the_agent_answers_unknown_queries_with_only_the_unsupported_units() {
    let mut agent = Agent::new(settings(vec![http_unit()]), Instant::now());
    let now = Instant::now();
    assert_eq!(agent.poll_action(), Some(AgentAction::Connect));
    agent.on_connected(now, 0);
    let _init = agent.poll_transmit().expect("INIT");
    let mut ack = Vec::new();
    Message::new(Opcode::InitAck, 0, vec![Unit::default()]).encode(None, &mut ack);
    agent.handle_input(&ack, now);
    let _start = agent.poll_transmit().expect("START");
    agent.set_health(0, 66);
    let good = HealthQuery {
        query_type: QUERY_HEALTH_INDEX,
        protocol: 6,
        port: 80,
    };
    let other_type = HealthQuery {
        query_type: 7,
        protocol: 6,
        port: 80,
    };
    let other_port = HealthQuery {
        query_type: QUERY_HEALTH_INDEX,
        protocol: 6,
        port: 81,
    };
    let ask = |units: Vec<HealthQuery>, agent: &mut Agent| {
        let mut b = Vec::new();
        Message::new(
            Opcode::Keepalive,
            9,
            units.into_iter().map(Unit::from).collect(),
        )
        .encode(None, &mut b);
        agent.handle_input(&b, now);
        let out = agent.poll_transmit().expect("reply");
        let mut d = FrameDecoder::new(4096);
        d.push(&out);
        d.next_frame()
            .expect("frame")
            .expect("whole")
            .message()
            .expect("message")
    };
    let r = ask(vec![good], &mut agent);
    assert!(!r.is_error());
    assert_eq!(r.units()[0].0[3], 66);
    let r = ask(vec![good, other_type, other_port], &mut agent);
    assert!(r.is_error());
    assert_eq!(r.units(), &[Unit::from(other_type), Unit::from(other_port)]);
    let r = ask(vec![], &mut agent);
    assert!(!r.is_error() && r.units().is_empty());
}

#[test]
fn a_new_init_from_the_same_address_replaces_the_old_connection() {
    let mut net = Net::new(master_config(""));
    let a = net.add_agent("127.0.0.50", settings(vec![http_unit()]));
    net.agents[a].agent.set_health(0, 44);
    net.advance(Duration::from_secs(3));
    // The agent dies without a word (its connection lingers on the master), and the host
    // starts a new one.
    let old = net.agents.remove(a);
    assert!(old.conn.is_some());
    assert_eq!(net.master.connections(), 1);
    let b = net.add_agent("127.0.0.50", settings(vec![http_unit()]));
    net.agents[b].agent.set_health(0, 55);
    assert!(net.master_events.iter().any(|e| matches!(
        e,
        MasterEvent::Disconnected {
            reason: Reason::Replaced,
            ..
        }
    )));
    net.advance(Duration::from_secs(3));
    let r = real("127.0.0.50", http_vs(), 80);
    assert_eq!(net.master.real(&r), Some((55, false)));
}

#[test]
fn caps_on_agents_and_services() {
    let mut net = Net::new(master_config("max-agents = 2\nmax-services-per-agent = 1"));
    let a = net.add_agent("127.0.0.60", settings(vec![http_unit(), dns_unit()]));
    assert!(net.agents[a].events.iter().any(|e| matches!(e,
        AgentEvent::ServicesRefused { units, .. } if units == &vec![dns_unit()])));
    net.add_agent("127.0.0.61", settings(vec![http_unit()]));
    let mut s = settings(vec![http_unit()]);
    s.connection_retries = 1;
    net.add_agent("127.0.0.62", s);
    assert!(net.master_events.iter().any(|e| matches!(
        e,
        MasterEvent::Refused {
            reason: Reason::TooManyAgents,
            ..
        }
    )));
    assert_eq!(net.master.connections(), 2);
}

#[test]
fn smoothing_and_threshold_damp_weight_churn() {
    let mut net = Net::new(master_config(
        "weight-smoothing = 0.5\nweight-threshold = 10",
    ));
    let a = net.add_agent("127.0.0.70", settings(vec![http_unit()]));
    let r = real("127.0.0.70", http_vs(), 80);
    net.agents[a].agent.set_health(0, 80);
    net.advance(Duration::from_secs(3));
    assert_eq!(
        net.weight(&r),
        Some(80),
        "the first answer is taken as it is"
    );
    // 84: smoothed 82, moved 2 < 10: not written.
    net.agents[a].agent.set_health(0, 84);
    net.advance(Duration::from_secs(2));
    assert_eq!(net.weight(&r), Some(80));
    // 20: smoothed 51, moved 29: written.
    net.agents[a].agent.set_health(0, 20);
    net.advance(Duration::from_secs(2));
    assert_eq!(net.weight(&r), Some(51));
    // 0 means no new work at once, whatever the smoothing.
    net.agents[a].agent.set_health(0, 0);
    net.advance(Duration::from_secs(2));
    assert_eq!(net.weight(&r), Some(0));
    let changes = net
        .master_events
        .iter()
        .filter(|e| matches!(e, MasterEvent::Weight { .. }))
        .count();
    assert_eq!(changes, 3);
}

#[test]
fn health_above_100_is_clamped() {
    let mut net = Net::new(master_config(""));
    let a = net.add_agent("127.0.0.80", settings(vec![http_unit()]));
    // The agent does not see the next poll; a raw KEEPALIVE_ACK claiming 250 answers it.
    net.cut = true;
    net.advance(Duration::from_millis(2100));
    net.cut = false;
    let poll = net.last_poll(a);
    let mut u = poll.units()[0];
    u.0[3] = 250;
    let mut b = Vec::new();
    Message::new(Opcode::KeepaliveAck, poll.request_id, vec![u]).encode(None, &mut b);
    net.send_raw(a, &b);
    assert_eq!(net.weight(&real("127.0.0.80", http_vs(), 80)), Some(100));
}

#[test]
fn a_recording_of_one_connection_does_not_replay_on_another() {
    let mut net = Net::new(master_config(&format!("secret = {SECRET}")));
    let a = net.add_agent("127.0.0.24", authed(vec![http_unit()], SECRET));
    net.advance(Duration::from_secs(3));
    let recording: Vec<u8> = net.agents[a].sent.concat();
    // An eavesdropper on another allowed address plays the whole recording back on a
    // connection of its own: INIT (signed, sequence 0) is accepted, but the START carries
    // the numbers of the other connection and is refused.
    let peer: SocketAddr = "127.0.0.99:5555".parse().expect("addr");
    net.master.accept(500, peer, net.now).expect("allowed");
    net.master.handle_input(500, &recording, net.now);
    net.pump();
    assert!(net
        .master_events
        .iter()
        .any(|e| matches!(e, MasterEvent::AuthFailed { conn: 500, .. })));
    assert_eq!(net.master.real(&real("127.0.0.99", http_vs(), 80)), None);
    // The same against masters of other seeds (a restarted master draws a new one; 42 is the
    // seed of the master the recording was made with): never accepted.
    for seed in (0..200u64).filter(|&s| s != 42) {
        let cfg = master_config(&format!("secret = {SECRET}"));
        let mut m = Master::new(MasterSettings::new(cfg), net.now, seed);
        m.accept(1, peer, net.now).expect("allowed");
        m.handle_input(1, &recording, net.now);
        while let Some(e) = m.poll_event() {
            assert!(
                !matches!(e, MasterEvent::RealStarted(_)),
                "seed {seed}: {e:?}"
            );
        }
    }
}

#[test]
fn one_address_cannot_hold_every_slot_with_idle_connections() {
    let mut net = Net::new(master_config(""));
    let ip: IpAddr = "127.0.0.30".parse().expect("ip");
    for conn in 1000..1004 {
        net.master
            .accept(conn, SocketAddr::new(ip, conn as u16), net.now)
            .expect("four may wait for their INIT");
    }
    assert_eq!(
        net.master.accept(1004, SocketAddr::new(ip, 1004), net.now),
        Err(Reason::TooManyPending)
    );
    // Another address is not affected; and once one of them sends its INIT, there is room.
    net.master
        .accept(2000, "127.0.0.31:1".parse().expect("addr"), net.now)
        .expect("other address");
    let mut init = Vec::new();
    Message::new(Opcode::Init, 1, vec![Unit::default()]).encode(None, &mut init);
    net.master.handle_input(1000, &init, net.now);
    net.master
        .accept(1005, SocketAddr::new(ip, 1005), net.now)
        .expect("room again");
}

#[test]
fn a_second_init_on_a_connection_closes_it() {
    let mut net = Net::new(master_config(""));
    let a = net.add_agent("127.0.0.32", settings(vec![http_unit()]));
    let id = net.agents[a].conn.expect("conn");
    let mut init = Vec::new();
    Message::new(Opcode::Init, 9, vec![Unit::default()]).encode(None, &mut init);
    net.send_raw(a, &init);
    assert!(net.master_events.iter().any(|e| matches!(e,
        MasterEvent::Disconnected { conn, reason: Reason::Reinit, .. } if *conn == id)));
    assert_eq!(
        net.master
            .real(&real("127.0.0.32", http_vs(), 80))
            .map(|r| r.1),
        Some(true),
        "its real is quiesced"
    );
}

#[test]
fn queries_the_agent_refuses_are_not_asked_again() {
    let mut net = Net::new(master_config(""));
    let a = net.add_agent("127.0.0.33", settings(vec![http_unit()]));
    // Cut the agent off and answer the next poll by hand with F_Error, echoing the query.
    net.cut = true;
    net.advance(Duration::from_millis(2100));
    net.cut = false;
    let poll = net.last_poll(a);
    assert_eq!(poll.units().len(), 1);
    let mut refusal = Vec::new();
    Message::new(Opcode::KeepaliveAck, poll.request_id, poll.units().to_vec())
        .with_flags(Flags::ERROR)
        .encode(None, &mut refusal);
    net.send_raw(a, &refusal);
    // The next polls carry no query for it (and the real stays at weight 0).
    net.cut = true;
    net.advance(Duration::from_secs(2));
    let next = net.last_poll(a);
    assert_ne!(next.request_id, poll.request_id);
    assert!(next.units().is_empty(), "{next:?}");
    assert_eq!(net.weight(&real("127.0.0.33", http_vs(), 80)), Some(0));
}

//! The master's state machine (the NE of the draft): every agent connection and every real
//! server the agents announced, in one value fed by one driver.
//!
//! ```text
//!  accept ─► AwaitInit ──INIT──► Running ──────────────────────────────► closed
//!  (allow list,   │ (auth)         │ START: real added, weight 0            │ STOP, lost, garbage,
//!   max-agents)   ▼                │ every keepalive-interval: KEEPALIVE    │ keepalive-retries
//!           INIT_ACK F_Error       │ ACK: health -> weight                  ▼ misses
//!                                  │ no ACK in keepalive-timeout: resend   reals quiesced
//!                                                                          (weight 0); every
//!                                                                          removal-interval the
//!                                                                          idle ones are removed
//! ```
//!
//! The driver:
//! * calls [`Master::accept`] for a new connection (closing it when refused),
//!   [`Master::handle_input`] with its bytes and [`Master::on_closed`] when it ends;
//! * sends what [`Master::poll_transmit`] gives to its connection;
//! * performs every [`MasterAction`] (IPVS changes and closes), answering
//!   [`MasterAction::QueryActive`] with [`Master::active_connections`];
//! * calls [`Master::handle_timeout`] at [`Master::poll_timeout`].
//!
//! Health becomes the weight (0..=100), optionally smoothed (`weight-smoothing`) and written
//! only when it moved by `weight-threshold` or more; a change to or from 0 is always written.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use lvs_core::config::feedbackd::MasterConfig;
use lvs_core::model::{DestKey, Destination, Forwarding, Service, ServiceKey};

use super::{error_reply, send, version_mismatch_reply, Auth, RequestIds};
use crate::codec::{
    DecodeError, Flags, Frame, FrameDecoder, HealthAnswer, HealthQuery, InitAckUnit, InitUnit, Key,
    Message, Opcode, Payload, ServiceUnit, Unit, DEFAULT_MAX_PAYLOAD, QUERY_HEALTH_INDEX, VERSION,
};

/// Connections of one address that may wait for their `NECP_INIT` at the same time: more are
/// refused, so one host cannot hold every `max-agents` slot with idle connections.
pub const MAX_PENDING_PER_ADDRESS: u32 = 4;

/// A connection, named by the driver (any number unique among the open ones).
pub type ConnId = u64;

/// A real server the master manages: its virtual service and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RealKey {
    /// The virtual service.
    pub service: ServiceKey,
    /// The real server (the agent's address and the announced port).
    pub real: DestKey,
}

impl std::fmt::Display for RealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {}", self.service, self.real)
    }
}

/// What the driver must do for the master.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MasterAction {
    /// Create a configured virtual service (at start); an existing one is fine.
    AddService(Service),
    /// Add a real server with weight 0; when it exists, set its weight to 0 and its
    /// forwarding method.
    AddReal {
        /// The virtual service.
        service: ServiceKey,
        /// The real server.
        dest: Destination,
    },
    /// Set a real server's weight.
    SetWeight {
        /// Which.
        real: RealKey,
        /// The new weight.
        weight: u32,
        /// Its forwarding method (as added), so the change needs no read first.
        forwarding: Forwarding,
    },
    /// Read these quiesced reals' active connection counts and give each to
    /// [`Master::active_connections`] (one read per virtual service does for all of them).
    QueryActive(Vec<RealKey>),
    /// Remove a quiesced real server that has no active connection left.
    RemoveReal(RealKey),
    /// Close this connection (after sending what [`Master::poll_transmit`] gives for it).
    Close(ConnId),
}

/// Why a connection was refused or dropped, or a real quiesced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The peer is not in the `allow` list.
    NotAllowed,
    /// `max-agents` connections are open.
    TooManyAgents,
    /// The agent sent `NECP_STOP`.
    Stopped,
    /// The connection closed.
    Closed,
    /// `keepalive-retries` keepalives in a row went unanswered.
    Silent {
        /// Keepalives sent without an answer.
        misses: u32,
    },
    /// The peer sent bytes that are not NECP, or an oversized message.
    Garbage(DecodeError),
    /// No `NECP_INIT` within `keepalive-timeout` of the accept.
    NoInit,
    /// Authentication failed (see [`MasterEvent::AuthFailed`]).
    Auth,
    /// The same agent address sent a new `NECP_INIT` on another connection.
    Replaced,
    /// A second `NECP_INIT` on a connection already initialised.
    Reinit,
    /// The peer's address already has `MAX_PENDING_PER_ADDRESS` connections waiting for
    /// their `NECP_INIT`.
    TooManyPending,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::NotAllowed => f.write_str("not in the allow list"),
            Reason::TooManyAgents => f.write_str("max-agents connections already open"),
            Reason::Stopped => f.write_str("agent sent NECP_STOP"),
            Reason::Closed => f.write_str("connection closed"),
            Reason::Silent { misses } => write!(f, "{misses} keepalives unanswered"),
            Reason::Garbage(e) => write!(f, "not NECP: {e}"),
            Reason::NoInit => f.write_str("no NECP_INIT in time"),
            Reason::Auth => f.write_str("authentication failed"),
            Reason::Replaced => f.write_str("the agent connected again"),
            Reason::Reinit => f.write_str("a second NECP_INIT on the same connection"),
            Reason::TooManyPending => {
                f.write_str("too many connections from this address waiting for NECP_INIT")
            }
        }
    }
}

/// What happened, for the log.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MasterEvent {
    /// A connection was refused at accept.
    Refused {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        reason: Reason,
    },
    /// An agent sent its `NECP_INIT` and was answered.
    Initialized {
        /// The connection.
        conn: ConnId,
        /// The agent.
        peer: SocketAddr,
        /// Whether the connection is authenticated.
        authenticated: bool,
    },
    /// A started service became a real (weight 0 until its first health answer).
    RealStarted(RealKey),
    /// A unit of a `NECP_START` or `NECP_STOP` was refused (echoed with `F_Error`).
    UnitRefused {
        /// The connection.
        conn: ConnId,
        /// The agent.
        peer: SocketAddr,
        /// The request's opcode.
        opcode: Opcode,
        /// The unit.
        unit: Unit,
        /// Why.
        why: String,
    },
    /// A health answer changed a real's weight.
    Weight {
        /// The real.
        real: RealKey,
        /// The health reported.
        health: u32,
        /// The weight written.
        weight: u32,
    },
    /// A real was quiesced (weight 0, removal once idle).
    Quiesced {
        /// The real.
        real: RealKey,
        /// Why.
        reason: Reason,
    },
    /// A quiesced real without active connections was removed.
    Removed(RealKey),
    /// A connection ended.
    Disconnected {
        /// The connection.
        conn: ConnId,
        /// The agent.
        peer: SocketAddr,
        /// Why.
        reason: Reason,
    },
    /// A message failed authentication.
    AuthFailed {
        /// The connection.
        conn: ConnId,
        /// The agent.
        peer: SocketAddr,
        /// What failed.
        why: &'static str,
    },
    /// A request the master does not serve was answered with `F_Error`.
    Unsupported {
        /// The connection.
        conn: ConnId,
        /// The agent.
        peer: SocketAddr,
        /// The request's opcode.
        opcode: Opcode,
    },
}

/// The master's settings: the validated configuration and the bound on a message.
#[derive(Debug, Clone)]
pub struct MasterSettings {
    /// The validated `feedbackd-master.conf`.
    pub config: MasterConfig,
    /// The bound on a received message's payload.
    pub max_payload: u32,
}

impl MasterSettings {
    /// The settings of a configuration, with the default payload bound.
    pub fn new(config: MasterConfig) -> Self {
        MasterSettings {
            config,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    AwaitInit,
    Running,
}

#[derive(Debug)]
struct Conn {
    peer: SocketAddr,
    state: ConnState,
    decoder: FrameDecoder,
    /// Boxed: the keyed HMAC state is large, and most masters have no secret.
    auth: Option<Box<Auth>>,
    auth_failures: u32,
    ids: RequestIds,
    /// Started services: the unit as announced and the real it became.
    started: Vec<(ServiceUnit, RealKey)>,
    /// Started services whose Health Index query the agent refused (`F_Error`): no longer
    /// asked (draft §5.3), their reals stay at weight 0.
    unsupported: Vec<(u8, u16)>,
    /// The request ids of the unanswered keepalives of this round.
    outstanding: Vec<u16>,
    /// When the current round's first keepalive went out.
    round_start: Instant,
    misses: u32,
    /// The next timer: first poll, resend, or the INIT deadline.
    deadline: Instant,
    tx: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RealState {
    Active { conn: ConnId, smoothed: Option<f64> },
    Quiesced,
}

#[derive(Debug, Clone, Copy)]
struct Real {
    weight: u32,
    forwarding: Forwarding,
    state: RealState,
}

/// The master's state machine.
#[derive(Debug)]
pub struct Master {
    settings: MasterSettings,
    key: Option<Key>,
    seed: u64,
    conns: HashMap<ConnId, Conn>,
    timers: BinaryHeap<Reverse<(Instant, ConnId)>>,
    reals: HashMap<RealKey, Real>,
    quiesced: HashSet<RealKey>,
    next_removal: Instant,
    pending_tx: VecDeque<ConnId>,
    /// Connections waiting for their INIT, by address.
    pending: HashMap<IpAddr, u32>,
    /// What is left to send on connections already dropped (a refusal before the close).
    orphan_tx: HashMap<ConnId, Vec<u8>>,
    actions: VecDeque<MasterAction>,
    events: VecDeque<MasterEvent>,
}

impl Master {
    /// A master at `now`. Its first actions create the configured virtual services. `seed`
    /// (random, from the driver) picks the sequence numbers asked of authenticated agents.
    pub fn new(settings: MasterSettings, now: Instant, seed: u64) -> Self {
        let key = settings
            .config
            .secret
            .as_ref()
            .map(|s| Key::new(s.expose().as_bytes()));
        let actions = settings
            .config
            .virtual_services
            .iter()
            .map(|v| MasterAction::AddService(v.to_service()))
            .collect();
        let next_removal = now + settings.config.removal_interval;
        Master {
            settings,
            key,
            seed,
            conns: HashMap::new(),
            timers: BinaryHeap::new(),
            reals: HashMap::new(),
            quiesced: HashSet::new(),
            next_removal,
            pending_tx: VecDeque::new(),
            pending: HashMap::new(),
            orphan_tx: HashMap::new(),
            actions,
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MasterConfig {
        &self.settings.config
    }

    /// Open agent connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The weight last written for a real, and whether it is quiesced; `None` when the
    /// master does not manage it.
    pub fn real(&self, real: &RealKey) -> Option<(u32, bool)> {
        self.reals
            .get(real)
            .map(|r| (r.weight, r.state == RealState::Quiesced))
    }

    /// Every managed real with its weight and whether it is quiesced.
    pub fn reals(&self) -> impl Iterator<Item = (&RealKey, u32, bool)> {
        self.reals
            .iter()
            .map(|(k, r)| (k, r.weight, r.state == RealState::Quiesced))
    }

    /// A new connection from `peer`. Refused (and to be closed by the driver) when the peer
    /// is not allowed or `max-agents` are connected.
    pub fn accept(&mut self, conn: ConnId, peer: SocketAddr, now: Instant) -> Result<(), Reason> {
        let cfg = &self.settings.config;
        let reason = if !cfg.allows(canonical(peer.ip())) {
            Some(Reason::NotAllowed)
        } else if self.conns.len() >= cfg.max_agents as usize {
            Some(Reason::TooManyAgents)
        } else if self.pending.get(&peer.ip()).copied().unwrap_or(0) >= MAX_PENDING_PER_ADDRESS {
            Some(Reason::TooManyPending)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.events.push_back(MasterEvent::Refused {
                peer,
                reason: reason.clone(),
            });
            return Err(reason);
        }
        let deadline = now + cfg.keepalive_timeout;
        *self.pending.entry(peer.ip()).or_insert(0) += 1;
        self.conns.insert(
            conn,
            Conn {
                peer,
                state: ConnState::AwaitInit,
                decoder: FrameDecoder::new(self.settings.max_payload),
                auth: None,
                auth_failures: 0,
                ids: RequestIds::default(),
                started: Vec::new(),
                unsupported: Vec::new(),
                outstanding: Vec::new(),
                round_start: now,
                misses: 0,
                deadline,
                tx: Vec::new(),
            },
        );
        self.timers.push(Reverse((deadline, conn)));
        Ok(())
    }

    /// The connection ended (closed by the peer, or an I/O error). Its reals are quiesced.
    pub fn on_closed(&mut self, conn: ConnId, _now: Instant) {
        self.drop_conn(conn, Reason::Closed, false);
    }

    /// Bytes received on a connection.
    pub fn handle_input(&mut self, conn: ConnId, bytes: &[u8], now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.decoder.push(bytes);
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let frame = match c.decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    self.drop_conn(conn, Reason::Garbage(e), true);
                    return;
                }
            };
            self.handle_frame(conn, frame, now);
        }
    }

    fn handle_frame(&mut self, conn: ConnId, frame: Frame, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let peer = c.peer;
        if let Some(auth) = &mut c.auth {
            if let Err(f) = auth.check(&frame) {
                c.auth_failures += 1;
                let failures = c.auth_failures;
                self.events.push_back(MasterEvent::AuthFailed {
                    conn,
                    peer,
                    why: f.describe(),
                });
                if let Ok(msg) = frame.message() {
                    self.refuse(conn, &msg, f.flag());
                }
                if failures >= 3 {
                    self.drop_conn(conn, Reason::Auth, true);
                }
                return;
            }
            c.auth_failures = 0;
        }
        let msg = match frame.message() {
            Ok(m) => m,
            Err(e) => {
                self.drop_conn(conn, Reason::Garbage(e), true);
                return;
            }
        };
        if msg.version != VERSION {
            if let Some(m) = version_mismatch_reply(&msg) {
                self.send(conn, m);
            }
            return;
        }
        let state = c.state;
        match (state, msg.opcode) {
            (ConnState::AwaitInit, Opcode::Init) => self.on_init(conn, &frame, &msg, now),
            (ConnState::AwaitInit, Opcode::Noop) => {}
            (ConnState::AwaitInit, _) => {
                // Nothing before the INIT: refuse requests, ignore the rest.
                self.unsupported(conn, &msg);
            }
            (ConnState::Running, Opcode::Start) => self.on_start(conn, &msg),
            (ConnState::Running, Opcode::Stop) => self.on_stop(conn, &msg),
            (ConnState::Running, Opcode::KeepaliveAck) => self.on_keepalive_ack(conn, &msg, now),
            (ConnState::Running, Opcode::Keepalive) => {
                // The agent checks that we are alive: answer, supporting no query.
                let units: Vec<Unit> = msg.units().to_vec();
                let reply = if units.is_empty() {
                    Message::new(Opcode::KeepaliveAck, msg.request_id, Vec::new())
                } else {
                    Message::new(Opcode::KeepaliveAck, msg.request_id, units)
                        .with_flags(Flags::ERROR)
                };
                self.send(conn, reply);
            }
            (ConnState::Running, Opcode::Init) => {
                // An agent starts over on a new connection (and the draft has the NE delete
                // its state then); a second INIT on the same one would let a peer churn IPVS
                // as fast as it can send, so it closes the connection.
                self.drop_conn(conn, Reason::Reinit, true);
            }
            (ConnState::Running, Opcode::Noop) => {}
            (ConnState::Running, _) => self.unsupported(conn, &msg),
        }
    }

    fn on_init(&mut self, conn: ConnId, frame: &Frame, msg: &Message, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let peer = c.peer;
        let init = msg.units().first().map(InitUnit::try_from);
        let init = match init {
            Some(Ok(i)) => i,
            _ => {
                self.unsupported(conn, msg);
                return;
            }
        };
        let mut auth = None;
        match (&self.key, init.wants_auth()) {
            (Some(key), true) if frame.verify(key) => {
                let ours = self.initial_seq(conn);
                auth = Some(Auth::new(key.clone(), init.initial_seq, ours));
            }
            (None, false) => {}
            (key, wants) => {
                let why = match (key, wants) {
                    (Some(_), false) => "unauthenticated NECP_INIT, but a secret is configured",
                    (Some(_), true) => "NECP_INIT not signed with the configured secret",
                    _ => "agent asks for authentication, but no secret is configured",
                };
                self.events
                    .push_back(MasterEvent::AuthFailed { conn, peer, why });
                let refusal = Message::new(Opcode::InitAck, msg.request_id, Vec::new())
                    .with_flags(Flags::ERROR | Flags::AUTH_REQUIRED);
                if let Some(c) = self.conns.get_mut(&conn) {
                    refusal.encode(None, &mut c.tx);
                    self.pending_tx.push_back(conn);
                }
                self.drop_conn(conn, Reason::Auth, true);
                return;
            }
        }
        // A new INIT from an agent address replaces its older connections.
        let older: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(&id, o)| {
                id != conn && o.peer.ip() == peer.ip() && o.state == ConnState::Running
            })
            .map(|(&id, _)| id)
            .collect();
        for id in older {
            self.drop_conn(id, Reason::Replaced, true);
        }
        let interval = self.settings.config.keepalive_interval;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ack_unit = InitAckUnit {
            initial_seq: auth.as_ref().map_or(0, Auth::expected),
        };
        let ack = Message::new(Opcode::InitAck, msg.request_id, vec![ack_unit.into()]);
        let authenticated = auth.is_some();
        match auth {
            Some(mut a) => {
                a.send(ack, &mut c.tx);
                c.auth = Some(Box::new(a));
            }
            None => ack.encode(None, &mut c.tx),
        }
        c.state = ConnState::Running;
        c.misses = 0;
        c.outstanding.clear();
        c.deadline = now + interval;
        self.timers.push(Reverse((c.deadline, conn)));
        self.pending_tx.push_back(conn);
        self.unpend(peer.ip());
        self.events.push_back(MasterEvent::Initialized {
            conn,
            peer,
            authenticated,
        });
    }

    /// One connection of `ip` is no longer waiting for its INIT.
    fn unpend(&mut self, ip: IpAddr) {
        if let Some(n) = self.pending.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(&ip);
            }
        }
    }

    fn initial_seq(&self, conn: ConnId) -> u64 {
        // splitmix64 of the seed and the connection: a fresh number per connection (with
        // exact sequence checks, a recording of one connection does not replay on another).
        let mut z = self
            .seed
            .wrapping_add(conn.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) >> 1
    }

    fn on_start(&mut self, conn: ConnId, msg: &Message) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let peer = c.peer;
        let max = self.settings.config.max_services_per_agent as usize;
        let mut failed = Vec::new();
        for unit in msg.units() {
            match self.start_unit(conn, unit, max) {
                Ok(()) => {}
                Err(why) => {
                    self.events.push_back(MasterEvent::UnitRefused {
                        conn,
                        peer,
                        opcode: Opcode::Start,
                        unit: *unit,
                        why,
                    });
                    failed.push(*unit);
                }
            }
        }
        self.ack(conn, Opcode::StartAck, msg.request_id, failed);
    }

    fn start_unit(&mut self, conn: ConnId, unit: &Unit, max: usize) -> Result<(), String> {
        let su = ServiceUnit::try_from(unit).map_err(|e| e.to_string())?;
        let protocol = su
            .lvs_protocol()
            .map_err(|_| format!("IP protocol {} is not served", su.protocol))?;
        let forwarding = su.lvs_forwarding().map_err(|e| e.to_string())?;
        let vs = self
            .settings
            .config
            .virtual_service_for(protocol, su.port)
            .ok_or_else(|| format!("no virtual service for {protocol} port {}", su.port))?;
        let service = vs.key();
        let c = self.conns.get_mut(&conn).ok_or("connection gone")?;
        let peer_ip = canonical(c.peer.ip());
        if service.af() != lvs_core::model::AddressFamily::of(&peer_ip) {
            return Err(format!(
                "agent address {peer_ip} is not of the family of virtual service {service}"
            ));
        }
        let key = RealKey {
            service,
            real: DestKey {
                addr: peer_ip,
                port: su.port,
            },
        };
        if c.started.iter().any(|(_, k)| *k == key) {
            return Ok(());
        }
        if c.started.len() >= max {
            return Err(format!("more than max-services-per-agent ({max}) services"));
        }
        c.started.push((su, key));
        if let Some(prev) = self.reals.get(&key) {
            if let RealState::Active { conn: owner, .. } = prev.state {
                if owner != conn {
                    // Another live connection of the same address owns it: take it over.
                    if let Some(o) = self.conns.get_mut(&owner) {
                        o.started.retain(|(_, k)| *k != key);
                    }
                }
            }
        }
        self.quiesced.remove(&key);
        self.reals.insert(
            key,
            Real {
                weight: 0,
                forwarding,
                state: RealState::Active {
                    conn,
                    smoothed: None,
                },
            },
        );
        self.actions.push_back(MasterAction::AddReal {
            service,
            dest: Destination::new(key.real.addr, key.real.port, 0, forwarding),
        });
        self.events.push_back(MasterEvent::RealStarted(key));
        Ok(())
    }

    fn on_stop(&mut self, conn: ConnId, msg: &Message) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let peer = c.peer;
        let mut failed = Vec::new();
        let mut stopped = Vec::new();
        for unit in msg.units() {
            let found = ServiceUnit::try_from(unit).ok().and_then(|su| {
                c.started
                    .iter()
                    .position(|(s, _)| s.protocol == su.protocol && s.port == su.port)
            });
            match found {
                Some(i) => stopped.push(c.started.remove(i).1),
                None => failed.push(*unit),
            }
        }
        for unit in &failed {
            self.events.push_back(MasterEvent::UnitRefused {
                conn,
                peer,
                opcode: Opcode::Stop,
                unit: *unit,
                why: "service not started on this connection".into(),
            });
        }
        for key in stopped {
            self.quiesce(key, Reason::Stopped);
        }
        self.ack(conn, Opcode::StopAck, msg.request_id, failed);
    }

    fn ack(&mut self, conn: ConnId, opcode: Opcode, request_id: u16, failed: Vec<Unit>) {
        let reply = if failed.is_empty() {
            Message {
                payload: Payload::Opaque(Vec::new()),
                ..Message::new(opcode, request_id, Vec::new())
            }
        } else {
            Message::new(opcode, request_id, failed).with_flags(Flags::ERROR)
        };
        self.send(conn, reply);
    }

    fn on_keepalive_ack(&mut self, conn: ConnId, msg: &Message, now: Instant) {
        let cfg = &self.settings.config;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.outstanding.contains(&msg.request_id) {
            return;
        }
        c.outstanding.clear();
        c.misses = 0;
        let next = (c.round_start + cfg.keepalive_interval).max(now);
        c.deadline = next;
        self.timers.push(Reverse((next, conn)));
        if msg.is_error() {
            // The agent does not support these queries (the ACK echoes only those): stop
            // asking them; the others are asked again at the next poll.
            for q in msg
                .units()
                .iter()
                .filter_map(|u| HealthQuery::try_from(u).ok())
            {
                if !c.unsupported.contains(&(q.protocol, q.port)) {
                    c.unsupported.push((q.protocol, q.port));
                }
            }
            let peer = c.peer;
            self.events.push_back(MasterEvent::Unsupported {
                conn,
                peer,
                opcode: Opcode::Keepalive,
            });
            return;
        }
        let smoothing = cfg.weight_smoothing;
        let threshold = cfg.weight_threshold;
        for unit in msg.units() {
            let Ok(ans) = HealthAnswer::try_from(unit) else {
                continue;
            };
            if ans.query.query_type != QUERY_HEALTH_INDEX {
                continue;
            }
            let Some(&(_, key)) = c
                .started
                .iter()
                .find(|(s, _)| s.protocol == ans.query.protocol && s.port == ans.query.port)
            else {
                continue;
            };
            let Some(real) = self.reals.get_mut(&key) else {
                continue;
            };
            let RealState::Active { smoothed, .. } = &mut real.state else {
                continue;
            };
            let health = ans.value.min(100);
            let value = match *smoothed {
                Some(prev) if smoothing > 0.0 => {
                    smoothing * prev + (1.0 - smoothing) * f64::from(health)
                }
                _ => f64::from(health),
            };
            *smoothed = Some(value);
            // Health 0 means "no new work" at once, whatever the smoothing.
            let weight = if health == 0 { 0 } else { value.round() as u32 };
            let old = real.weight;
            let moved = weight.abs_diff(old);
            if weight != old && (weight == 0 || old == 0 || moved >= threshold.max(1)) {
                real.weight = weight;
                self.actions.push_back(MasterAction::SetWeight {
                    real: key,
                    weight,
                    forwarding: real.forwarding,
                });
                self.events.push_back(MasterEvent::Weight {
                    real: key,
                    health,
                    weight,
                });
            }
        }
    }

    /// The active connection count of a quiesced real, answering
    /// [`MasterAction::QueryActive`]: at 0 the real is removed.
    pub fn active_connections(&mut self, real: RealKey, active: u32) {
        if active != 0 || !self.quiesced.contains(&real) {
            return;
        }
        self.quiesced.remove(&real);
        self.reals.remove(&real);
        self.actions.push_back(MasterAction::RemoveReal(real));
        self.events.push_back(MasterEvent::Removed(real));
    }

    /// A quiesced real that is no longer in IPVS (removed by hand, say): forget it.
    pub fn forget(&mut self, real: &RealKey) {
        if self.quiesced.remove(real) {
            self.reals.remove(real);
        }
    }

    /// Advances the timers: polls, resends, declares silent agents dead, checks quiesced
    /// reals.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, conn))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            if c.deadline != at {
                continue; // superseded
            }
            self.conn_timeout(conn, now);
        }
        if now >= self.next_removal {
            let interval = self
                .settings
                .config
                .removal_interval
                .max(Duration::from_millis(1));
            while self.next_removal <= now {
                self.next_removal += interval;
            }
            if !self.quiesced.is_empty() {
                let mut reals: Vec<RealKey> = self.quiesced.iter().copied().collect();
                reals.sort_by_key(|k| (k.real.addr, k.real.port));
                self.actions.push_back(MasterAction::QueryActive(reals));
            }
        }
    }

    fn conn_timeout(&mut self, conn: ConnId, now: Instant) {
        let cfg = &self.settings.config;
        let (timeout, retries) = (cfg.keepalive_timeout, cfg.keepalive_retries.max(1));
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match c.state {
            ConnState::AwaitInit => {
                self.drop_conn(conn, Reason::NoInit, true);
            }
            ConnState::Running => {
                if !c.outstanding.is_empty() {
                    c.misses += 1;
                    if c.misses >= retries {
                        let misses = c.misses;
                        self.drop_conn(conn, Reason::Silent { misses }, true);
                        return;
                    }
                } else {
                    c.round_start = now;
                }
                let queries: Vec<Unit> = c
                    .started
                    .iter()
                    .filter(|(s, _)| !c.unsupported.contains(&(s.protocol, s.port)))
                    .map(|(s, _)| {
                        Unit::from(HealthQuery {
                            query_type: QUERY_HEALTH_INDEX,
                            protocol: s.protocol,
                            port: s.port,
                        })
                    })
                    .collect();
                let id = c.ids.next();
                c.outstanding.push(id);
                c.deadline = now + timeout;
                self.timers.push(Reverse((c.deadline, conn)));
                let msg = Message::new(Opcode::Keepalive, id, queries);
                self.send(conn, msg);
            }
        }
    }

    /// When [`Master::handle_timeout`] must next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        // Drop superseded timers from the top so the answer is exact.
        while let Some(&Reverse((at, conn))) = self.timers.peek() {
            match self.conns.get(&conn) {
                Some(c) if c.deadline == at => break,
                _ => {
                    self.timers.pop();
                }
            }
        }
        let conn = self.timers.peek().map(|Reverse((at, _))| *at);
        Some(conn.map_or(self.next_removal, |c| c.min(self.next_removal)))
    }

    /// Bytes to send on a connection, if any.
    pub fn poll_transmit(&mut self) -> Option<(ConnId, Vec<u8>)> {
        while let Some(conn) = self.pending_tx.pop_front() {
            if let Some(c) = self.conns.get_mut(&conn) {
                if !c.tx.is_empty() {
                    return Some((conn, std::mem::take(&mut c.tx)));
                }
            } else if let Some(bytes) = self.orphan_tx.remove(&conn) {
                return Some((conn, bytes));
            }
        }
        None
    }

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<MasterAction> {
        self.actions.pop_front()
    }

    /// The next event for the log.
    pub fn poll_event(&mut self) -> Option<MasterEvent> {
        self.events.pop_front()
    }

    fn send(&mut self, conn: ConnId, msg: Message) {
        if let Some(c) = self.conns.get_mut(&conn) {
            send(c.auth.as_deref_mut(), msg, &mut c.tx);
            self.pending_tx.push_back(conn);
        }
    }

    fn refuse(&mut self, conn: ConnId, msg: &Message, flag: Flags) {
        if let Some(m) = error_reply(msg, flag) {
            self.send(conn, m);
        }
    }

    fn unsupported(&mut self, conn: ConnId, msg: &Message) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        self.events.push_back(MasterEvent::Unsupported {
            conn,
            peer: c.peer,
            opcode: msg.opcode,
        });
        self.refuse(conn, msg, Flags::empty());
    }

    fn quiesce_conn_reals(&mut self, conn: ConnId, reason: Reason) {
        let started = match self.conns.get_mut(&conn) {
            Some(c) => std::mem::take(&mut c.started),
            None => return,
        };
        for (_, key) in started {
            self.quiesce(key, reason.clone());
        }
    }

    fn quiesce(&mut self, key: RealKey, reason: Reason) {
        let Some(real) = self.reals.get_mut(&key) else {
            return;
        };
        if real.state == RealState::Quiesced {
            return;
        }
        real.state = RealState::Quiesced;
        if real.weight != 0 {
            real.weight = 0;
            self.actions.push_back(MasterAction::SetWeight {
                real: key,
                weight: 0,
                forwarding: real.forwarding,
            });
        }
        self.quiesced.insert(key);
        self.events
            .push_back(MasterEvent::Quiesced { real: key, reason });
    }

    fn drop_conn(&mut self, conn: ConnId, reason: Reason, close: bool) {
        self.quiesce_conn_reals(conn, reason.clone());
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if c.state == ConnState::AwaitInit {
            self.unpend(c.peer.ip());
        }
        if !c.tx.is_empty() {
            self.orphan_tx.insert(conn, c.tx);
            self.pending_tx.push_back(conn);
        }
        if close {
            self.actions.push_back(MasterAction::Close(conn));
        }
        self.events.push_back(MasterEvent::Disconnected {
            conn,
            peer: c.peer,
            reason,
        });
    }
}

/// An IPv4-mapped IPv6 address as IPv4: a dual-stack socket reports IPv4 agents so.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

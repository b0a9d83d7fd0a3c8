//! The agent's session (the SE of the draft): one connection to the master at a time, made
//! again after a loss with exponential backoff.
//!
//! ```text
//!            Connect                    INIT_ACK                      shutdown()
//!  Waiting ─────────► Connecting ─► AwaitInitAck ─────────► Running ─────────────► Stopping
//!     ▲   (backoff)        │ failed       │ master-timeout       │ master-timeout,     │ STOP_ACK
//!     └────────────────────┴──────────────┴──────────────────────┘ closed, garbage     ▼ or 2 s
//!                               (GaveUp after connection-retries failures)          Finished
//! ```
//!
//! The driver:
//! * performs [`AgentAction::Connect`] and answers with [`Agent::on_connected`] or
//!   [`Agent::on_connect_failed`]; performs [`AgentAction::Close`];
//! * feeds received bytes to [`Agent::handle_input`] and a peer's close to
//!   [`Agent::on_closed`];
//! * sends what [`Agent::poll_transmit`] gives;
//! * calls [`Agent::handle_timeout`] at [`Agent::poll_timeout`];
//! * keeps the services' health fresh with [`Agent::set_health`] (a keepalive is answered at
//!   once from the last values, so a slow monitor never makes the master wait); the
//!   [`AgentEvent::Polled`] event is a good moment to sample the monitors again.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use lvs_core::config::feedbackd::AgentConfig;

use super::{error_reply, send, version_mismatch_reply, Auth, RequestIds};
use crate::codec::{
    DecodeError, Flags, FrameDecoder, HealthAnswer, HealthQuery, InitAckUnit, InitUnit, Key,
    Message, NecpForwarding, Opcode, ServiceUnit, Unit, DEFAULT_MAX_PAYLOAD, QUERY_HEALTH_INDEX,
    VERSION,
};

/// The agent session's settings.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The services announced with `NECP_START`, in order; [`Agent::set_health`] indexes them.
    pub services: Vec<ServiceUnit>,
    /// `master-timeout`: silence from the master after which the connection is dropped and
    /// made again; also the time allowed for the `NECP_INIT_ACK`.
    pub master_timeout: Duration,
    /// `connection-retries`: failed attempts in a row before giving up; 0 = never give up.
    pub connection_retries: u32,
    /// The first delay between failed attempts (the draft: 1 s).
    pub backoff_min: Duration,
    /// The largest delay between failed attempts (the draft: 256 s).
    pub backoff_max: Duration,
    /// How long [`Agent::shutdown`] waits for the `NECP_STOP_ACK`.
    pub stop_timeout: Duration,
    /// The shared secret: authenticate the connection (draft §5.8).
    pub key: Option<Key>,
    /// The bound on a received message's payload.
    pub max_payload: u32,
}

impl AgentSettings {
    /// Settings for these services with the draft's and the HOWTO's defaults: master timeout
    /// 30 s, never give up, backoff 1 s to 256 s, 2 s for the STOP_ACK, no secret.
    pub fn new(services: Vec<ServiceUnit>) -> Self {
        AgentSettings {
            services,
            master_timeout: Duration::from_secs(30),
            connection_retries: 0,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(256),
            stop_timeout: Duration::from_secs(2),
            key: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }

    /// The settings of a validated `feedbackd-agent.conf`.
    pub fn from_config(cfg: &AgentConfig) -> Self {
        let services = cfg
            .services
            .iter()
            .map(|s| ServiceUnit {
                // A `[service]` names NAT, DR or TUN only, never local delivery.
                forwarding: NecpForwarding::try_from(s.forwarding).unwrap_or(NecpForwarding::L3),
                protocol: s.protocol.ip_proto(),
                port: s.port,
            })
            .collect();
        AgentSettings {
            master_timeout: cfg.master_timeout,
            connection_retries: cfg.connection_retries,
            key: cfg.secret.as_ref().map(|s| Key::new(s.expose().as_bytes())),
            ..AgentSettings::new(services)
        }
    }
}

/// What the driver must do for the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentAction {
    /// Open a TCP connection to the master; answer with [`Agent::on_connected`] or
    /// [`Agent::on_connect_failed`].
    Connect,
    /// Close the connection (after sending what [`Agent::poll_transmit`] still gives).
    Close,
}

/// Why the agent dropped a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Nothing came from the master for `master-timeout` ("Master timed out, attempting
    /// reconnection").
    MasterTimeout,
    /// No `NECP_INIT_ACK` within `master-timeout`.
    NoInitAck,
    /// The master closed the connection or it failed.
    Closed,
    /// The master refused the `NECP_INIT` (its flags, e.g. `F_Auth_Required`).
    InitRefused(Flags),
    /// The master sent bytes that are not NECP.
    Garbage(DecodeError),
    /// The master's messages failed authentication.
    Auth(&'static str),
}

/// What happened, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentEvent {
    /// The TCP connection is up; `NECP_INIT` sent.
    Connected,
    /// `NECP_INIT_ACK` received; `NECP_START` sent for every service.
    Initialized,
    /// The master accepted the `NECP_START` (or `NECP_STOP`).
    ServicesAccepted {
        /// `NECP_START_ACK` or `NECP_STOP_ACK`.
        opcode: Opcode,
    },
    /// The master refused these services (`F_Error` on the START or STOP ACK).
    ServicesRefused {
        /// `NECP_START_ACK` or `NECP_STOP_ACK`.
        opcode: Opcode,
        /// The refused units.
        units: Vec<ServiceUnit>,
    },
    /// The master asked for the health of these services (indexes into
    /// [`AgentSettings::services`]) and was answered from the last values.
    Polled {
        /// The services asked for.
        services: Vec<usize>,
    },
    /// The master asked for something this agent does not support; answered with
    /// `F_Error`.
    Unsupported {
        /// The request's opcode.
        opcode: Opcode,
        /// The units echoed back.
        units: usize,
    },
    /// A message was refused on the authenticated connection.
    AuthFailed {
        /// The message's opcode.
        opcode: Opcode,
        /// Why.
        reason: &'static str,
    },
    /// The connection was dropped; the next attempt is in `retry_in`.
    Dropped {
        /// Why.
        reason: DropReason,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// A connection attempt failed; the next is in `retry_in`.
    ConnectFailed {
        /// Failed attempts in a row.
        attempts: u32,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// `connection-retries` attempts failed in a row: the agent stopped.
    GaveUp {
        /// Failed attempts in a row.
        attempts: u32,
    },
    /// The shutdown ended (STOP acknowledged, timed out or not needed).
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the next attempt.
    Waiting { until: Instant },
    /// `Connect` given, waiting for the driver's answer.
    Connecting,
    /// INIT sent.
    AwaitInitAck { deadline: Instant },
    /// INIT acknowledged (at `since`), STARTs sent.
    Running { last_rx: Instant, since: Instant },
    /// STOP sent.
    Stopping { deadline: Instant },
    /// Given up or stopped.
    Finished,
}

/// The agent's session state machine.
#[derive(Debug)]
pub struct Agent {
    settings: AgentSettings,
    state: State,
    health: Vec<u8>,
    decoder: FrameDecoder,
    auth: Option<Auth>,
    /// The sequence number asked for in the INIT (what the master must send first).
    init_seq: u64,
    ids: RequestIds,
    start_id: Option<u16>,
    stop_id: Option<u16>,
    /// Failed attempts in a row.
    failures: u32,
    shutting_down: bool,
    tx: Vec<u8>,
    actions: VecDeque<AgentAction>,
    events: VecDeque<AgentEvent>,
}

impl Agent {
    /// A session that connects at once. Every service's health starts at 0 ("send no work")
    /// until [`Agent::set_health`] is called.
    pub fn new(settings: AgentSettings, now: Instant) -> Self {
        let n = settings.services.len();
        let decoder = FrameDecoder::new(settings.max_payload);
        let mut agent = Agent {
            settings,
            state: State::Waiting { until: now },
            health: vec![0; n],
            decoder,
            auth: None,
            init_seq: 0,
            ids: RequestIds::default(),
            start_id: None,
            stop_id: None,
            failures: 0,
            shutting_down: false,
            tx: Vec::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
        };
        agent.handle_timeout(now); // due at once: asks to connect
        agent
    }

    /// The settings.
    pub fn settings(&self) -> &AgentSettings {
        &self.settings
    }

    /// Sets the health (clamped to 0..=100) of service `index` reported from now on.
    pub fn set_health(&mut self, index: usize, health: u8) {
        if let Some(h) = self.health.get_mut(index) {
            *h = health.min(100);
        }
    }

    /// The health reported for service `index`.
    pub fn health(&self, index: usize) -> Option<u8> {
        self.health.get(index).copied()
    }

    /// Whether the master has acknowledged the INIT on the current connection.
    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }

    /// Whether the session ended (gave up, or shut down).
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// The connection is up. `initial_seq` is the sequence number the master is asked to
    /// start from on an authenticated connection (the draft recommends the clock in the
    /// upper 32 bits); ignored without a key.
    pub fn on_connected(&mut self, now: Instant, initial_seq: u64) {
        if self.state != State::Connecting {
            return;
        }
        self.decoder = FrameDecoder::new(self.settings.max_payload);
        self.start_id = None;
        self.stop_id = None;
        let (flags, seq) = match &self.settings.key {
            Some(_) => (InitUnit::AUTH, initial_seq),
            None => (0, 0),
        };
        self.init_seq = seq;
        let init = InitUnit {
            flags,
            initial_seq: seq,
        };
        let msg = Message::new(Opcode::Init, self.ids.next(), vec![init.into()]);
        match &self.settings.key {
            Some(key) => msg.encode(Some(key), &mut self.tx),
            None => msg.encode(None, &mut self.tx),
        }
        self.auth = None;
        self.state = State::AwaitInitAck {
            deadline: now + self.settings.master_timeout,
        };
        self.events.push_back(AgentEvent::Connected);
    }

    /// The connection attempt failed.
    pub fn on_connect_failed(&mut self, now: Instant) {
        if self.state != State::Connecting {
            return;
        }
        self.failures += 1;
        if self.give_up() {
            return;
        }
        let retry_in = self.backoff();
        self.events.push_back(AgentEvent::ConnectFailed {
            attempts: self.failures,
            retry_in,
        });
        self.state = State::Waiting {
            until: now + retry_in,
        };
    }

    /// The master closed the connection, or reading or writing failed.
    pub fn on_closed(&mut self, now: Instant) {
        match self.state {
            State::AwaitInitAck { .. } | State::Running { .. } => {
                self.drop_connection(DropReason::Closed, now, false)
            }
            State::Stopping { .. } => self.finish(),
            _ => {}
        }
    }

    /// Bytes received from the master.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if !matches!(
            self.state,
            State::AwaitInitAck { .. } | State::Running { .. } | State::Stopping { .. }
        ) {
            return;
        }
        self.decoder.push(bytes);
        loop {
            let frame = match self.decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    self.drop_connection(DropReason::Garbage(e), now, true);
                    return;
                }
            };
            let header = frame.header();
            if let Some(auth) = &mut self.auth {
                if let Err(f) = auth.check(&frame) {
                    self.events.push_back(AgentEvent::AuthFailed {
                        opcode: header.opcode,
                        reason: f.describe(),
                    });
                    if let Ok(msg) = frame.message() {
                        self.reply(error_reply(&msg, f.flag()));
                    }
                    continue;
                }
            }
            // Only a message that passed authentication shows the master is alive.
            if let State::Running { last_rx, .. } = &mut self.state {
                *last_rx = now;
            }
            let msg = match frame.message() {
                Ok(m) => m,
                Err(e) => {
                    self.drop_connection(DropReason::Garbage(e), now, true);
                    return;
                }
            };
            if msg.version != VERSION {
                self.reply(version_mismatch_reply(&msg));
                continue;
            }
            if !self.dispatch(msg, &frame, now) {
                return;
            }
        }
    }

    /// Handles one message; false when the connection was dropped.
    fn dispatch(&mut self, msg: Message, frame: &crate::codec::Frame, now: Instant) -> bool {
        match (self.state, msg.opcode) {
            (State::AwaitInitAck { .. }, Opcode::InitAck) => {
                if msg.is_error() {
                    self.drop_connection(DropReason::InitRefused(msg.flags), now, true);
                    return false;
                }
                if let Some(key) = &self.settings.key {
                    let ack = msg.units().first().map(InitAckUnit::try_from);
                    let their = match ack {
                        Some(Ok(a)) => a.initial_seq,
                        _ => {
                            self.drop_connection(
                                DropReason::Auth("INIT_ACK without a sequence number"),
                                now,
                                true,
                            );
                            return false;
                        }
                    };
                    let mut auth = Auth::new(key.clone(), their, self.init_seq);
                    if auth.check(frame).is_err() {
                        self.drop_connection(
                            DropReason::Auth(
                                "INIT_ACK not signed with our secret or not numbered as asked",
                            ),
                            now,
                            true,
                        );
                        return false;
                    }
                    self.auth = Some(auth);
                }
                // `failures` is reset only once the session has lasted (see drop_connection).
                self.state = State::Running {
                    last_rx: now,
                    since: now,
                };
                self.events.push_back(AgentEvent::Initialized);
                if self.shutting_down {
                    self.begin_stop(now);
                } else if !self.settings.services.is_empty() {
                    self.start_id = Some(self.send_services(Opcode::Start));
                }
            }
            (State::AwaitInitAck { .. }, _) => {
                // Nothing but the INIT_ACK is expected yet; a request is refused.
                self.unsupported(&msg);
            }
            (_, Opcode::Keepalive) => self.answer_keepalive(&msg),
            (_, op @ (Opcode::StartAck | Opcode::StopAck)) => {
                let expected = if op == Opcode::StartAck {
                    self.start_id
                } else {
                    self.stop_id
                };
                if expected == Some(msg.request_id) {
                    if msg.is_error() {
                        let units = msg
                            .units()
                            .iter()
                            .filter_map(|u| ServiceUnit::try_from(u).ok())
                            .collect();
                        self.events
                            .push_back(AgentEvent::ServicesRefused { opcode: op, units });
                    } else {
                        self.events
                            .push_back(AgentEvent::ServicesAccepted { opcode: op });
                    }
                    if op == Opcode::StopAck {
                        if let State::Stopping { .. } = self.state {
                            self.finish();
                            return false;
                        }
                    }
                }
            }
            (_, Opcode::Noop | Opcode::KeepaliveAck | Opcode::InitAck) => {}
            _ => self.unsupported(&msg),
        }
        true
    }

    fn answer_keepalive(&mut self, msg: &Message) {
        let mut answers = Vec::with_capacity(msg.units().len());
        let mut unsupported = Vec::new();
        let mut polled = Vec::new();
        for unit in msg.units() {
            let found = HealthQuery::try_from(unit).ok().and_then(|q| {
                if q.query_type != QUERY_HEALTH_INDEX {
                    return None;
                }
                let i = self
                    .settings
                    .services
                    .iter()
                    .position(|s| s.protocol == q.protocol && s.port == q.port)?;
                Some((q, i))
            });
            match found {
                Some((query, i)) => {
                    polled.push(i);
                    answers.push(Unit::from(HealthAnswer {
                        query,
                        value: u32::from(self.health[i]),
                    }));
                }
                None => unsupported.push(*unit),
            }
        }
        let reply = if unsupported.is_empty() {
            Message::new(Opcode::KeepaliveAck, msg.request_id, answers)
        } else {
            self.events.push_back(AgentEvent::Unsupported {
                opcode: msg.opcode,
                units: unsupported.len(),
            });
            Message::new(Opcode::KeepaliveAck, msg.request_id, unsupported).with_flags(Flags::ERROR)
        };
        send(self.auth.as_mut(), reply, &mut self.tx);
        if !polled.is_empty() {
            self.events
                .push_back(AgentEvent::Polled { services: polled });
        }
    }

    /// Answers a request this agent does not serve with `F_Error`, echoing its units.
    fn unsupported(&mut self, msg: &Message) {
        if msg.opcode.reply().is_none() {
            return;
        }
        self.events.push_back(AgentEvent::Unsupported {
            opcode: msg.opcode,
            units: msg.units().len(),
        });
        self.reply(error_reply(msg, Flags::empty()));
    }

    fn reply(&mut self, msg: Option<Message>) {
        if let Some(m) = msg {
            send(self.auth.as_mut(), m, &mut self.tx);
        }
    }

    /// Sends `NECP_START` or `NECP_STOP` for every service; returns its request id.
    fn send_services(&mut self, opcode: Opcode) -> u16 {
        let id = self.ids.next();
        let units = self.settings.services.iter().map(|&s| s.into()).collect();
        send(
            self.auth.as_mut(),
            Message::new(opcode, id, units),
            &mut self.tx,
        );
        id
    }

    /// Stops: sends `NECP_STOP` for every service and waits for its ACK (at most
    /// [`AgentSettings::stop_timeout`]), then closes. Without a connection the session ends at
    /// once.
    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        match self.state {
            State::Running { .. } => self.begin_stop(now),
            State::AwaitInitAck { .. } | State::Connecting => {
                self.actions.push_back(AgentAction::Close);
                self.finish();
            }
            State::Waiting { .. } => self.finish(),
            State::Stopping { .. } | State::Finished => {}
        }
    }

    fn begin_stop(&mut self, now: Instant) {
        if self.settings.services.is_empty() {
            self.actions.push_back(AgentAction::Close);
            self.finish();
            return;
        }
        self.stop_id = Some(self.send_services(Opcode::Stop));
        self.state = State::Stopping {
            deadline: now + self.settings.stop_timeout,
        };
    }

    fn finish(&mut self) {
        if self.state == State::Finished {
            return;
        }
        if matches!(self.state, State::Stopping { .. }) {
            self.actions.push_back(AgentAction::Close);
        }
        self.state = State::Finished;
        self.events.push_back(AgentEvent::Stopped);
    }

    /// Advances the timers: connects when due, drops a silent connection, ends a shutdown.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Waiting { until } if now >= until => {
                if self.shutting_down {
                    self.finish();
                    return;
                }
                self.state = State::Connecting;
                self.actions.push_back(AgentAction::Connect);
            }
            State::AwaitInitAck { deadline } if now >= deadline => {
                self.drop_connection(DropReason::NoInitAck, now, true)
            }
            State::Running { last_rx, .. } if now >= last_rx + self.settings.master_timeout => {
                self.drop_connection(DropReason::MasterTimeout, now, true)
            }
            State::Stopping { deadline } if now >= deadline => self.finish(),
            _ => {}
        }
    }

    /// When [`Agent::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { until } => Some(until),
            State::AwaitInitAck { deadline } | State::Stopping { deadline } => Some(deadline),
            State::Running { last_rx, .. } => Some(last_rx + self.settings.master_timeout),
            State::Connecting | State::Finished => None,
        }
    }

    /// Bytes to send to the master, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.tx.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.tx))
        }
    }

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<AgentAction> {
        self.actions.pop_front()
    }

    /// The next event for the log.
    pub fn poll_event(&mut self) -> Option<AgentEvent> {
        self.events.pop_front()
    }

    /// Drops the connection and plans the next attempt: at once after a session that lasted
    /// `master-timeout` or more; otherwise it counts as a failed attempt, with backoff and
    /// `connection-retries` (so a master that accepts and soon drops the agent, or two agents
    /// on one address replacing each other, do not make it reconnect in a tight loop).
    fn drop_connection(&mut self, reason: DropReason, now: Instant, close: bool) {
        let was_init = match self.state {
            State::Running { since, .. } => {
                now.saturating_duration_since(since) >= self.settings.master_timeout
            }
            _ => false,
        };
        if close {
            self.actions.push_back(AgentAction::Close);
        }
        self.tx.clear();
        self.auth = None;
        if self.shutting_down {
            self.finish();
            return;
        }
        if was_init {
            self.failures = 0;
        } else {
            self.failures += 1;
            if self.give_up() {
                return;
            }
        }
        let retry_in = if was_init {
            Duration::ZERO
        } else {
            self.backoff()
        };
        self.events
            .push_back(AgentEvent::Dropped { reason, retry_in });
        self.state = State::Waiting {
            until: now + retry_in,
        };
    }

    /// Whether to stop trying; emits the event when so.
    fn give_up(&mut self) -> bool {
        let max = self.settings.connection_retries;
        if max != 0 && self.failures >= max {
            self.state = State::Finished;
            self.events.push_back(AgentEvent::GaveUp {
                attempts: self.failures,
            });
            return true;
        }
        false
    }

    /// The delay after `failures` failed attempts in a row: `backoff_min` doubled each time,
    /// at most `backoff_max`.
    fn backoff(&self) -> Duration {
        backoff(
            self.failures,
            self.settings.backoff_min,
            self.settings.backoff_max,
        )
    }
}

/// The delay before the attempt that follows `failures` failed ones in a row: 0 after none,
/// then `min`, `2 min`, `4 min`, ... up to `max`.
pub fn backoff(failures: u32, min: Duration, max: Duration) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
    min.checked_mul(factor).unwrap_or(max).min(max)
}

//! The probe engine: runs the tests of every real of every virtual, each on its own timer, and
//! turns their results into state transitions and statistics.
//!
//! ```text
//!  ServiceConfig ──reconcile──► bindings (virtual, real) ──► test groups (prober, Target,
//!                                 hysteresis, stats            loopdelay, timeout): one timer
//!                                 debugcomm file                and one task each
//!                                        ▲                              │
//!                                        └──── outcome fans out ◄──── Prober::probe
//!                                              │                   (at most max_in_flight)
//!                                              ▼
//!                                  Event { real, old → new, reason } on an mpsc channel
//! ```
//!
//! * **One timer per test, no global rounds.** The first test of a real starts at a random
//!   point of the `startup_delay` window after the real was added; each next test starts
//!   `loopdelay` after the previous one **ended**. A test is bounded by the tester's `timeout`
//!   (the deadline given to the prober).
//! * **A global cap** on tests in flight (`maxfd` of `surealived.cfg`, a semaphore): a test
//!   whose time has come waits for a free slot; the wait shows as scheduling lag.
//! * **Shared tests.** Reals of several virtuals that are the same test (equal [`Target`]:
//!   prober, address, test port, TLS, module attributes, debugcomm; and the same `loopdelay`
//!   and `timeout`) are tested once per period; the outcome goes to each (virtual, real).
//! * **Hysteresis and events.** Each (virtual, real) feeds `lvs-core`'s [`Hysteresis`]
//!   (`retries2ok` / `retries2fail`), one result per finished test; a change of verdict is sent
//!   as an [`Event`] on the channel given to [`Engine::new`].
//! * **Statistics** per real and per virtual as the original keeps them ([`RealStats`],
//!   [`VirtualStats`]), updated on every test, read with [`Engine::snapshot`].
//! * **debugcomm**: with `debug_comm` on and the tester's `debugcomm`, the conversation of the
//!   latest test is in `<debug_comm_path>/<vname>_<rname>` (see [`EngineConfig::debug_comm`]).
//! * **Reconfiguration while running**: [`Engine::reconcile`] takes a new [`ServiceConfig`];
//!   unchanged reals keep their timer, hysteresis and statistics, changed ones restart their
//!   own timer only, removed ones stop, added ones start within `startup_delay`.
//! * [`Engine::shutdown`] cancels everything, abandoning probes in flight (their sockets close
//!   with a RST, `exec` programs are killed).
//!
//! The engine needs a tokio runtime with the time and I/O drivers; it works on a paused clock.

mod debugcomm;
mod lag;
mod stats;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lvs_core::config::surealived_cfg::MainConfig;
use lvs_core::config::xml::{ModuleAttrs, ServiceConfig};
use lvs_core::formats::dumps::RealStatsRecord;
use lvs_core::model::{DestKey, ServiceKey};
use lvs_core::state::{Hysteresis, Transition};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, Semaphore, TryAcquireError};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::outcome::{Failure, Outcome};
use crate::prober::{Prober, ProberRegistry};
use crate::target::Target;

pub use lag::LagSnapshot;
pub use stats::{sample_of, ProblemCounts, RealStats, TimesUs, VirtualStats};

use debugcomm::DebugComm;
use stats::StatsKeeper;

/// What the engine needs besides the service file (from `surealived.cfg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The window in which the first test of a newly added real starts (`startup_delay_ms`).
    pub startup_delay: Duration,
    /// At most this many tests run at once (`maxfd`); at least 1.
    pub max_in_flight: usize,
    /// `debug_comm`: write the conversation of reals whose tester has `debugcomm="1"` to
    /// `<debug_comm_path>/<vname>_<rname>`. The file holds the latest test's conversation, in
    /// the original's format (the original truncated it at the start of each test and appended
    /// every chunk; we write the whole test once it ended).
    pub debug_comm: bool,
    /// `debug_comm_path`.
    pub debug_comm_path: PathBuf,
    /// Reals that start offline (listed in `offline.dump`): they need `retries2ok` successes
    /// to come up. Used for reals added by any later [`Engine::reconcile`] too.
    pub start_offline: HashSet<RealId>,
    /// Seed of the random start offsets, for reproducible tests; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl Default for EngineConfig {
    /// The defaults of `surealived.cfg`: a 1 s window, 1024 tests in flight, no debugcomm.
    fn default() -> Self {
        Self {
            startup_delay: Duration::from_secs(1),
            max_in_flight: 1024,
            debug_comm: false,
            debug_comm_path: PathBuf::from("/var/log/surealived/comm"),
            start_offline: HashSet::new(),
            seed: None,
        }
    }
}

impl EngineConfig {
    /// The engine settings of a validated `surealived.cfg`.
    pub fn from_main(cfg: &MainConfig) -> Self {
        Self {
            startup_delay: cfg.startup_delay,
            max_in_flight: usize::try_from(cfg.maxfd).unwrap_or(usize::MAX).max(1),
            debug_comm: cfg.debug_comm,
            debug_comm_path: cfg.debug_comm_path.clone(),
            ..Self::default()
        }
    }
}

/// A real in a virtual: the identity of everything the engine keeps per real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RealId {
    /// The virtual.
    pub virtual_key: ServiceKey,
    /// The real inside it.
    pub real: DestKey,
}

impl fmt::Display for RealId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} - {}", self.virtual_key, self.real)
    }
}

/// A change of a real's test verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Which real of which virtual.
    pub id: RealId,
    /// The virtual's name.
    pub vname: Arc<str>,
    /// The real's name.
    pub rname: Arc<str>,
    /// Online before.
    pub was_online: bool,
    /// Online now.
    pub online: bool,
    /// The change (`Up` or `Down`).
    pub transition: Transition,
    /// The failure of the test that completed the fall (`None` for `Up`).
    pub reason: Option<Failure>,
    /// The hysteresis after the test.
    pub hysteresis: Hysteresis,
    /// When the deciding test ended.
    pub at: Instant,
}

/// Why [`Engine::reconcile`] refused a configuration (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A virtual's tester kind has no prober in the registry.
    #[error("virtual `{vname}`: no prober for tester kind `{kind}`")]
    UnknownTester {
        /// The virtual.
        vname: String,
        /// The tester kind.
        kind: String,
    },
    /// The service file has a tester with `retries2ok` or `retries2fail` of 0.
    #[error("virtual `{vname}`: retries2ok and retries2fail must be at least 1")]
    ZeroRetries {
        /// The virtual.
        vname: String,
    },
}

/// What a [`Engine::reconcile`] did, counted in (virtual, real) pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// New pairs (their first test starts within `startup_delay`).
    pub added: usize,
    /// Pairs gone.
    pub removed: usize,
    /// Pairs whose test changed (their own timer restarted; verdict kept, statistics reset).
    pub changed: usize,
    /// Pairs whose test is the same (timer, hysteresis and statistics kept; names, retries and
    /// `stats_samples` updated in place).
    pub unchanged: usize,
    /// Distinct tests (timers) running after the reconcile.
    pub tests: usize,
}

/// Counters over the engine's life (the original's `=== tests stats ===`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Tests run (a shared test counts once).
    pub tests: u64,
    /// Tests that passed.
    pub successes: u64,
    /// Tests that failed.
    pub failures: u64,
    /// Transitions to online (per real of a virtual).
    pub online_set: u64,
    /// Transitions to offline.
    pub offline_set: u64,
    /// Connection problems of the tests.
    pub problems: ProblemCounts,
    /// Application bytes sent.
    pub bytes_sent: u64,
    /// Application bytes received.
    pub bytes_received: u64,
    /// debugcomm files not written (an I/O error, or too many writes pending).
    pub debugcomm_dropped: u64,
}

#[derive(Debug, Default)]
struct AtomicCounters {
    tests: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    online_set: AtomicU64,
    offline_set: AtomicU64,
    conn: AtomicU64,
    arp: AtomicU64,
    rst: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    debugcomm_dropped: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// One real of one virtual as [`Engine::snapshot`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealSnapshot {
    /// The real's identity.
    pub key: DestKey,
    /// Its name.
    pub name: Arc<str>,
    /// The hysteresis (verdict and counters).
    pub hysteresis: Hysteresis,
    /// The statistics.
    pub stats: RealStats,
    /// The failure of the latest test, if it failed.
    pub last_failure: Option<Failure>,
    /// Whether this engine ran a test of it yet (statistics seeded with
    /// [`Engine::seed_stats`] do not count).
    pub tested: bool,
}

/// One virtual as [`Engine::snapshot`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualSnapshot {
    /// The virtual's identity.
    pub key: ServiceKey,
    /// Its name.
    pub name: Arc<str>,
    /// Its statistics, derived from its reals'.
    pub stats: VirtualStats,
    /// Its reals, in file order.
    pub reals: Vec<RealSnapshot>,
}

/// What identifies one test: equal keys are run once and shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TestKey {
    target: Target,
    loopdelay: Duration,
    timeout: Duration,
}

/// Per (virtual, real) state.
#[derive(Debug)]
struct Binding {
    id: RealId,
    state: Mutex<BindingState>,
}

#[derive(Debug)]
struct BindingState {
    vname: Arc<str>,
    rname: Arc<str>,
    hysteresis: Hysteresis,
    stats: StatsKeeper,
    last_failure: Option<Failure>,
    debugcomm: bool,
    /// Whether this engine ran a test of the pair (statistics seeded from a dump do not count).
    tested: bool,
}

/// One test and the pairs that use it.
#[derive(Debug)]
struct Group {
    key: Arc<TestKey>,
    prober: Arc<dyn Prober>,
    subscribers: Mutex<Vec<Arc<Binding>>>,
}

#[derive(Debug)]
struct GroupHandle {
    group: Arc<Group>,
    task: JoinHandle<()>,
}

/// What every test task shares.
#[derive(Debug)]
struct Shared {
    slots: Semaphore,
    events: mpsc::UnboundedSender<Event>,
    counters: AtomicCounters,
    lag: lag::LagHistogram,
    debugcomm: DebugComm,
}

#[derive(Debug)]
struct VirtualEntry {
    key: ServiceKey,
    name: Arc<str>,
    samples: u32,
    reals: Vec<Arc<Binding>>,
}

#[derive(Debug)]
struct Inner {
    groups: HashMap<Arc<TestKey>, GroupHandle>,
    bindings: HashMap<RealId, (Arc<Binding>, Arc<TestKey>)>,
    virtuals: Vec<VirtualEntry>,
    rng: StdRng,
}

/// The probe engine; see the [module documentation](self).
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    registry: ProberRegistry,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    inner: Mutex<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of our locks leaves consistent data (plain updates).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    /// An engine with no real yet, testing with the probers of `registry` and sending
    /// transitions to `events`. Call [`Engine::reconcile`] to give it the service file. Must be
    /// called inside a tokio runtime (the engine's tests run on it).
    pub fn new(
        config: EngineConfig,
        registry: ProberRegistry,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        let rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        let shared = Arc::new(Shared {
            slots: Semaphore::new(config.max_in_flight.clamp(1, Semaphore::MAX_PERMITS)),
            events,
            counters: AtomicCounters::default(),
            lag: lag::LagHistogram::new(),
            debugcomm: DebugComm::new(&config.debug_comm_path),
        });
        Self {
            config,
            registry,
            shared,
            runtime: tokio::runtime::Handle::current(),
            inner: Mutex::new(Inner {
                groups: HashMap::new(),
                bindings: HashMap::new(),
                virtuals: Vec::new(),
                rng,
            }),
        }
    }

    /// The settings the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Makes the engine test what `services` describes, changing as little as possible:
    ///
    /// * a (virtual, real) pair whose test is unchanged (same [`Target`], `loopdelay` and
    ///   `timeout`) keeps its timer, hysteresis and statistics; new names, `retries2ok`,
    ///   `retries2fail` and `stats_samples` are applied in place (the counters are kept, the
    ///   verdict too);
    /// * a pair whose test changed moves to its new test (the first run of a new test starts
    ///   within `startup_delay`); it keeps its verdict, its statistics start again;
    /// * pairs gone stop (a test nobody uses any more is cancelled, even in flight);
    /// * new pairs start, offline if [`EngineConfig::start_offline`] lists them.
    ///
    /// Nothing changes if a tester kind has no prober.
    pub fn reconcile(&self, services: &ServiceConfig) -> Result<ReconcileReport, EngineError> {
        // Check first, so that a refused configuration changes nothing.
        for v in &services.virtuals {
            if self.registry.for_tester(&v.tester).is_none() {
                return Err(EngineError::UnknownTester {
                    vname: v.name.clone(),
                    kind: v.tester.kind.clone(),
                });
            }
            if Hysteresis::new(v.tester.retries2ok, v.tester.retries2fail).is_none() {
                return Err(EngineError::ZeroRetries {
                    vname: v.name.clone(),
                });
            }
        }
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let mut report = ReconcileReport::default();
        let mut seen: HashSet<RealId> = HashSet::new();
        let mut virtuals = Vec::with_capacity(services.virtuals.len());
        let now = Instant::now();
        for v in &services.virtuals {
            let vname: Arc<str> = Arc::from(v.name.as_str());
            let t = &v.tester;
            let debugcomm = self.config.debug_comm && t.debugcomm;
            let mut reals = Vec::with_capacity(v.reals.len());
            // One copy of equal attribute sets (most reals have their tester's).
            let mut shared_attrs: Option<Arc<ModuleAttrs>> = None;
            for r in &v.reals {
                let id = RealId {
                    virtual_key: v.key,
                    real: r.key(),
                };
                if !seen.insert(id) {
                    continue; // the loader rejects duplicates; be safe anyway
                }
                let mut target = Target::from_config(t, r).with_transcript(debugcomm);
                match &shared_attrs {
                    Some(a) if **a == *target.attrs => target.attrs = a.clone(),
                    _ => shared_attrs = Some(target.attrs.clone()),
                }
                let key = TestKey {
                    target,
                    loopdelay: t.loopdelay,
                    timeout: t.timeout,
                };
                let rname: Arc<str> = Arc::from(r.name.as_str());
                let existing = inner.bindings.get(&id).cloned();
                let binding = match existing {
                    Some((b, old_key)) if *old_key == key => {
                        report.unchanged += 1;
                        let mut st = lock(&b.state);
                        st.vname = vname.clone();
                        st.rname = rname;
                        st.debugcomm = debugcomm;
                        st.stats.resize(t.stats_samples);
                        if (st.hysteresis.rise(), st.hysteresis.fall())
                            != (t.retries2ok, t.retries2fail)
                        {
                            st.hysteresis = fresh_hysteresis(
                                t.retries2ok,
                                t.retries2fail,
                                st.hysteresis.is_online(),
                            );
                        }
                        drop(st);
                        b
                    }
                    previous => {
                        // A changed real keeps its verdict; a new one starts online unless
                        // `offline.dump` listed it. Either way its counters and stats restart.
                        let online = match previous {
                            Some((old, old_key)) => {
                                report.changed += 1;
                                self.unsubscribe(inner, &old, &old_key);
                                let was_online = lock(&old.state).hysteresis.is_online();
                                was_online
                            }
                            None => {
                                report.added += 1;
                                !self.config.start_offline.contains(&id)
                            }
                        };
                        let b = Arc::new(Binding {
                            id,
                            state: Mutex::new(BindingState {
                                vname: vname.clone(),
                                rname,
                                hysteresis: fresh_hysteresis(t.retries2ok, t.retries2fail, online),
                                stats: StatsKeeper::new(t.stats_samples),
                                last_failure: None,
                                debugcomm,
                                tested: false,
                            }),
                        });
                        let key = self.subscribe(inner, &b, key, v, now);
                        inner.bindings.insert(id, (b.clone(), key));
                        b
                    }
                };
                reals.push(binding);
            }
            virtuals.push(VirtualEntry {
                key: v.key,
                name: vname,
                samples: t.stats_samples,
                reals,
            });
        }
        let gone: Vec<RealId> = inner
            .bindings
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some((b, key)) = inner.bindings.remove(&id) {
                report.removed += 1;
                self.unsubscribe(inner, &b, &key);
            }
        }
        inner.virtuals = virtuals;
        report.tests = inner.groups.len();
        Ok(report)
    }

    /// Adds `b` to the test `key`, starting the test if it is new; returns the shared key.
    fn subscribe(
        &self,
        inner: &mut Inner,
        b: &Arc<Binding>,
        key: TestKey,
        v: &lvs_core::config::xml::Virtual,
        now: Instant,
    ) -> Arc<TestKey> {
        if let Some((k, h)) = inner.groups.get_key_value(&key) {
            lock(&h.group.subscribers).push(b.clone());
            return k.clone();
        }
        let key = Arc::new(key);
        // Checked by reconcile before anything changed.
        let prober = self
            .registry
            .for_tester(&v.tester)
            .cloned()
            .expect("tester kinds checked by reconcile");
        let group = Arc::new(Group {
            key: key.clone(),
            prober,
            subscribers: Mutex::new(vec![b.clone()]),
        });
        let window = self.config.startup_delay.as_nanos() as u64;
        let offset = if window == 0 {
            0
        } else {
            inner.rng.random_range(0..window)
        };
        let first = now + Duration::from_nanos(offset);
        let task = self
            .runtime
            .spawn(run_test(group.clone(), self.shared.clone(), first));
        inner
            .groups
            .insert(key.clone(), GroupHandle { group, task });
        key
    }

    /// Removes `b` from its test; a test nobody uses any more is cancelled.
    fn unsubscribe(&self, inner: &mut Inner, b: &Arc<Binding>, key: &Arc<TestKey>) {
        let Some(h) = inner.groups.get(key) else {
            return;
        };
        let empty = {
            let mut subs = lock(&h.group.subscribers);
            subs.retain(|s| !Arc::ptr_eq(s, b));
            subs.is_empty()
        };
        if empty {
            if let Some(h) = inner.groups.remove(key) {
                h.task.abort();
                h.group.prober.forget(&h.group.key.target);
            }
        }
    }

    /// Every virtual and real with its verdict and statistics, in file order.
    pub fn snapshot(&self) -> Vec<VirtualSnapshot> {
        let inner = lock(&self.inner);
        inner
            .virtuals
            .iter()
            .map(|v| {
                let reals: Vec<RealSnapshot> = v.reals.iter().map(|b| real_snapshot(b)).collect();
                VirtualSnapshot {
                    key: v.key,
                    name: v.name.clone(),
                    stats: VirtualStats::of(v.samples, reals.iter().map(|r| &r.stats)),
                    reals,
                }
            })
            .collect()
    }

    /// One real of one virtual.
    pub fn real(&self, id: &RealId) -> Option<RealSnapshot> {
        let inner = lock(&self.inner);
        inner.bindings.get(id).map(|(b, _)| real_snapshot(b))
    }

    /// Seeds a real's statistics from its `stats.dump` record (what a restart merges): the
    /// test count, the lifetime sums, the problem counters and the sample average (shown
    /// until the real's next test; the ring of samples itself is not in the file). Returns
    /// whether the real exists.
    pub fn seed_stats(&self, id: &RealId, record: &RealStatsRecord) -> bool {
        let inner = lock(&self.inner);
        match inner.bindings.get(id) {
            Some((b, _)) => {
                lock(&b.state).stats.seed(record);
                true
            }
            None => false,
        }
    }

    /// The number of (virtual, real) pairs and of distinct tests.
    pub fn size(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        (inner.bindings.len(), inner.groups.len())
    }

    /// Counters over the engine's life.
    pub fn counters(&self) -> Counters {
        let c = &self.shared.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            tests: l(&c.tests),
            successes: l(&c.successes),
            failures: l(&c.failures),
            online_set: l(&c.online_set),
            offline_set: l(&c.offline_set),
            problems: ProblemCounts {
                conn: l(&c.conn),
                arp: l(&c.arp),
                rst: l(&c.rst),
            },
            bytes_sent: l(&c.bytes_sent),
            bytes_received: l(&c.bytes_received),
            debugcomm_dropped: l(&c.debugcomm_dropped),
        }
    }

    /// Tests running now (holding a slot of `max_in_flight`).
    pub fn in_flight(&self) -> usize {
        self.config
            .max_in_flight
            .clamp(1, Semaphore::MAX_PERMITS)
            .saturating_sub(self.shared.slots.available_permits())
    }

    /// The scheduling lag of every test started so far: actual start (a slot taken) minus
    /// planned start.
    pub fn scheduling_lag(&self) -> LagSnapshot {
        self.shared.lag.snapshot()
    }

    /// Stops every test, abandoning those in flight, and waits until they are gone.
    pub async fn shutdown(self) {
        let handles: Vec<JoinHandle<()>> = {
            let mut inner = lock(&self.inner);
            inner.bindings.clear();
            inner.virtuals.clear();
            inner.groups.drain().map(|(_, h)| h.task).collect()
        };
        self.shared.slots.close();
        for h in &handles {
            h.abort();
        }
        for h in handles {
            let _ = h.await;
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let inner = lock(&self.inner);
        for h in inner.groups.values() {
            h.task.abort();
        }
    }
}

fn fresh_hysteresis(rise: u32, fall: u32, online: bool) -> Hysteresis {
    let h = if online {
        Hysteresis::new(rise, fall)
    } else {
        Hysteresis::new_offline(rise, fall)
    };
    h.expect("retries checked by reconcile")
}

fn real_snapshot(b: &Binding) -> RealSnapshot {
    let st = lock(&b.state);
    RealSnapshot {
        key: b.id.real,
        name: st.rname.clone(),
        hysteresis: st.hysteresis,
        stats: st.stats.stats().clone(),
        last_failure: st.last_failure.clone(),
        tested: st.tested,
    }
}

/// The life of one test: wait for its time, take a slot, probe, give the outcome to every pair
/// that uses the test, plan the next run `loopdelay` after the end.
async fn run_test(group: Arc<Group>, shared: Arc<Shared>, first: Instant) {
    let mut planned = first;
    // Kept in the task, which is in cache when it runs, instead of read through the key.
    let (timeout, loopdelay) = (group.key.timeout, group.key.loopdelay);
    // One timer for the test's whole life, moved after each run.
    let timer = sleep_until(planned);
    tokio::pin!(timer);
    loop {
        timer.as_mut().await;
        // A free slot is taken without building the queued acquire; the queue stays fair, as
        // no permit is free while tests wait in it.
        let permit = match shared.slots.try_acquire() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return, // shutting down
            Err(TryAcquireError::NoPermits) => match shared.slots.acquire().await {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let start = Instant::now();
        shared.lag.record(start.saturating_duration_since(planned));
        let deadline = start + timeout;
        let outcome = group.prober.probe(&group.key.target, deadline).await;
        drop(permit);
        let end = Instant::now();
        let writes = deliver(&group, &shared, &outcome, end);
        if !writes.is_empty() {
            if let Some(t) = &outcome.transcript {
                shared.debugcomm.write(t, writes, &shared.counters).await;
            }
        }
        planned = end + loopdelay;
        timer.as_mut().reset(planned);
    }
}

/// Fans the outcome out to the pairs of the test; returns the debugcomm files to write.
fn deliver(group: &Group, shared: &Shared, outcome: &Outcome, end: Instant) -> Vec<String> {
    let c = &shared.counters;
    bump(&c.tests, 1);
    bump(
        if outcome.is_ok() {
            &c.successes
        } else {
            &c.failures
        },
        1,
    );
    if let Some(p) = outcome.failure().and_then(|f| f.conn_problem()) {
        bump(
            match p {
                crate::outcome::ConnProblem::Conn => &c.conn,
                crate::outcome::ConnProblem::Arp => &c.arp,
                crate::outcome::ConnProblem::Rst => &c.rst,
            },
            1,
        );
    }
    // A locked add on a shared line each: not for the nothing a tcp test sends.
    if outcome.bytes_sent != 0 {
        bump(&c.bytes_sent, outcome.bytes_sent);
    }
    if outcome.bytes_received != 0 {
        bump(&c.bytes_received, outcome.bytes_received);
    }
    let sample = sample_of(outcome);
    let mut writes = Vec::new();
    let subs = lock(&group.subscribers);
    for b in subs.iter() {
        let mut st = lock(&b.state);
        st.stats.record(outcome, sample);
        st.last_failure = outcome.failure().cloned();
        st.tested = true;
        let was_online = st.hysteresis.is_online();
        if let Some(transition) = st.hysteresis.record(outcome.is_ok()) {
            bump(
                match transition {
                    Transition::Up => &c.online_set,
                    Transition::Down => &c.offline_set,
                },
                1,
            );
            // A closed channel means nobody listens; the state is kept all the same.
            let _ = shared.events.send(Event {
                id: b.id,
                vname: st.vname.clone(),
                rname: st.rname.clone(),
                was_online,
                online: st.hysteresis.is_online(),
                transition,
                reason: outcome.failure().cloned(),
                hysteresis: st.hysteresis,
                at: end,
            });
        }
        if st.debugcomm {
            writes.push(debugcomm::file_name(&st.vname, &st.rname));
        }
    }
    writes
}

//! The surealived daemon: the probe engine's verdicts, the operator's `rset` and reloads go
//! through [`lvs_core::director::Director`]; this shell writes, spawns and applies what it
//! returns.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lvs_core::config::surealived_cfg::MainConfig;
use lvs_core::config::xml::{load_service_xml, ServiceConfig};
use lvs_core::control::{
    ControlHandler, RealConnStats, RsetReply, StatsView, TestCounters, VirtualConnStats,
    VirtualListing,
};
use lvs_core::director::{vkey_of, Change, Director};
use lvs_core::formats::dumps::{
    notify_dump_is_stale, NotifyDump, OfflineDump, OverrideDump, StatsDump, Times,
    VirtualStatsRecord,
};
use lvs_core::model::{self, DestKey, Operation, ServiceKey, Table, UnmanagedPolicy};
use lvs_core::state::{AdminState, WeightOverride};
use lvs_probe::engine::{Engine, EngineConfig, Event, RealId};
use lvs_probe::ProberRegistry;
use tokio::sync::mpsc;

use super::notify::Notifier;
use super::sync::SyncFiles;

/// At most this many verdict changes are applied as one batch.
const EVENT_BATCH: usize = 4096;

/// The original's `FULL_SYNC_DELAY`: `ipvsfull.cfg` is rewritten this often once every real
/// has been tested.
pub const FULL_SYNC_PERIOD: Duration = Duration::from_secs(60);
/// How often the table is applied whole in the direct-IPVS mode (repairs what others changed).
pub const IPVS_FULL_APPLY_PERIOD: Duration = Duration::from_secs(60);

/// What the daemon runs with (the validated cfg and the command line).
#[derive(Debug, Clone)]
pub struct Options {
    /// The validated `surealived.cfg`.
    pub cfg: MainConfig,
    /// The XML service file.
    pub xml: PathBuf,
    /// Write no `ipvsfull.cfg`, reload flag or diff file (`-n`, `no_sync`, or `--ipvs`).
    pub no_sync: bool,
    /// Read and maintain `offline.dump` (not with `-k` or `use_offline_dump false`).
    pub use_offline_dump: bool,
    /// Apply the table to the kernel's IPVS directly.
    pub ipvs: bool,
    /// Print every change of the wanted table on stdout (the demo).
    pub print_table: bool,
    /// Stop by itself after this long (the demo).
    pub stop_after: Option<Duration>,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Work for the IPVS task.
#[derive(Debug)]
enum IpvsWork {
    Ops(Vec<Operation>),
    Apply(Table),
}

struct State {
    director: Director,
    sync: Option<SyncFiles>,
    /// The table as last emitted (printed or sent to the kernel).
    last_table: Table,
}

/// What the main loop and the control port share.
pub struct Shared {
    state: Mutex<State>,
    engine: Engine,
    opts: Options,
    notifier: Notifier,
    ipvs: Option<mpsc::UnboundedSender<IpvsWork>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn cfg(&self) -> &MainConfig {
        &self.opts.cfg
    }

    /// Does what a change asks: diff records, dumps, notifiers, the table. `Err` when the diff
    /// records could not be appended (logged; a full write with the reload flag is then owed,
    /// and the tick retries it until it succeeds).
    fn apply(&self, st: &mut State, change: Change) -> Result<(), String> {
        let mut appended = Ok(());
        if !change.diff.is_empty() {
            for r in &change.diff {
                tracing::debug!("diff: {}", r.write().trim_end());
            }
            if let Some(sync) = st.sync.as_mut() {
                if let Err(e) = sync.append(&change.diff) {
                    tracing::error!("{e}; a full write with the reload flag follows");
                    appended = Err(e);
                }
            }
        }
        let cfg = self.cfg();
        if change.offline_changed && self.opts.use_offline_dump {
            save(
                &cfg.offline_dump,
                st.director.offline_dump().save(&cfg.offline_dump),
            );
        }
        if change.override_changed {
            save(
                &cfg.override_dump,
                st.director.override_dump().save(&cfg.override_dump),
            );
        }
        if change.notify_changed {
            save(
                &cfg.notify_dump,
                st.director.notify_dump().save(&cfg.notify_dump),
            );
        }
        for n in change.notifications {
            self.notifier.run(n);
        }
        self.emit_table(st);
        appended
    }

    fn emit_table(&self, st: &mut State) {
        if self.ipvs.is_none() && !self.opts.print_table {
            return;
        }
        let t = st.director.table();
        // Both tables are ours: a service we no longer want is deleted.
        let ops = model::diff(&st.last_table, &t, UnmanagedPolicy::Delete);
        if ops.is_empty() {
            return;
        }
        if self.opts.print_table {
            println!("table changes:");
            for op in &ops {
                println!("  {op}");
            }
            print!("{}", render_table(&t));
        }
        if let Some(tx) = &self.ipvs {
            let _ = tx.send(IpvsWork::Ops(ops));
        }
        st.last_table = t;
    }

    fn full_write(&self, st: &mut State, touch_reload: bool) {
        let State { director, sync, .. } = st;
        if let Some(sync) = sync.as_mut() {
            match sync.full_write(director, now_unix(), touch_reload) {
                Ok(p) => tracing::info!(
                    "wrote {} (diff file {})",
                    self.cfg().full_sync_file.display(),
                    p.display()
                ),
                Err(e) => tracing::error!("{e}"),
            }
        }
    }

    /// Applies a batch of verdict changes at once: one diff append, one write of each dump and
    /// one evaluation of the notifiers for the whole batch (a switch that fails takes thousands
    /// of reals down within a second; one fsync'd rewrite of `offline.dump` per real would
    /// stall the engine).
    fn on_events(&self, events: &[Event]) {
        let mut st = lock(&self.state);
        let mut change = Change::default();
        for ev in events {
            tracing::info!(
                "real {} ({}) of {} ({}): {} -> {}{}",
                ev.rname,
                ev.id.real,
                ev.vname,
                ev.id.virtual_key,
                if ev.was_online { "online" } else { "offline" },
                if ev.online { "online" } else { "offline" },
                ev.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            if self.opts.print_table {
                println!(
                    "state change: real {} {} of {}: {}{}",
                    ev.rname,
                    ev.id.real,
                    ev.vname,
                    if ev.online { "ONLINE" } else { "OFFLINE" },
                    ev.reason
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
            change.merge(
                st.director
                    .set_verdict(&ev.id.virtual_key, &ev.id.real, ev.hysteresis),
            );
        }
        change.merge(st.director.evaluate_notifiers());
        // A failed append is logged and owes a full write, which the tick retries.
        let _ = self.apply(&mut st, change);
    }

    /// Retries an owed full write; marks the reals tested since the last tick; evaluates the
    /// notifiers.
    fn tick(&self) {
        let mut st = lock(&self.state);
        if st.sync.as_ref().is_some_and(SyncFiles::full_write_owed) {
            self.full_write(&mut st, true);
        }
        if !st.director.all_tested() {
            let mut newly = false;
            for v in self.engine.snapshot() {
                for r in v.reals.iter().filter(|r| r.tested) {
                    newly |= st.director.mark_tested(&v.key, &r.key);
                }
            }
            if newly {
                let c = st.director.evaluate_notifiers();
                let _ = self.apply(&mut st, c);
            }
        }
    }

    fn reload(&self, registry: &ProberRegistry) {
        let started = std::time::Instant::now();
        let services = match load_service_xml(&self.opts.xml, registry.testers()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("reload refused, the running configuration is kept: {e}");
                return;
            }
        };
        let report = match self.engine.reconcile(&services) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("reload refused, the running configuration is kept: {e}");
                return;
            }
        };
        let mut st = lock(&self.state);
        let r = st.director.reload(&services);
        tracing::info!(
            "reloaded {}: {} reals added, {} removed, {} kept ({} tests changed){}",
            self.opts.xml.display(),
            r.added,
            r.removed,
            r.kept,
            report.changed,
            if r.full_write {
                "; virtuals changed: full write"
            } else {
                ""
            }
        );
        if r.full_write {
            self.full_write(&mut st, true);
        }
        let mut change = r.change;
        change.merge(st.director.evaluate_notifiers());
        let _ = self.apply(&mut st, change);
        tracing::info!(
            "reload done in {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }

    fn stats_dump(&self) -> StatsDump {
        StatsDump {
            virtuals: self
                .engine
                .snapshot()
                .into_iter()
                .map(|v| {
                    let i = |x: i64| i32::try_from(x).unwrap_or(i32::MAX);
                    let avg = v.stats.sample_avg;
                    VirtualStatsRecord {
                        vkey: vkey_of(&v.key),
                        samples: i32::try_from(v.stats.samples).unwrap_or(i32::MAX),
                        total: i32::try_from(v.stats.total).unwrap_or(i32::MAX),
                        avg_ms: Times {
                            conn: i(avg.conn / 1000),
                            resp: i(avg.resp / 1000),
                            total: i(avg.total / 1000),
                        },
                        avg_us: Times {
                            conn: i(avg.conn),
                            resp: i(avg.resp),
                            total: i(avg.total),
                        },
                        problems: v.stats.problems.to_dump(),
                        has_real_list: !v.reals.is_empty(),
                        reals: v.reals.iter().map(|r| r.stats.to_record(r.key)).collect(),
                    }
                })
                .collect(),
        }
    }

    fn save_stats(&self) {
        if self.cfg().gather_stats {
            let path = &self.cfg().stats_dump;
            save(path, self.stats_dump().save(path));
        }
    }
}

fn save(path: &std::path::Path, r: Result<(), lvs_core::Error>) {
    match r {
        Ok(()) => tracing::debug!("wrote {}", path.display()),
        Err(e) => tracing::error!("cannot write {}: {e}", path.display()),
    }
}

/// An ipvsadm-like listing of a table.
pub fn render_table(t: &Table) -> String {
    let mut s = String::new();
    for e in t.iter() {
        s.push_str(&format!("  {} {}\n", e.service.key, e.service.scheduler));
        for d in e.destinations.values() {
            s.push_str(&format!(
                "    -> {} {} weight {}\n",
                d.key(),
                d.forwarding.short_name(),
                d.weight
            ));
        }
    }
    s
}

/// The control port's handler: the data of `vlist`, `rlist`, `rset`, `stats` and `connstats`.
#[derive(Clone)]
pub struct Handler(pub Arc<Shared>);

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("surealived::Handler")
    }
}

impl ControlHandler for Handler {
    fn listing(&self) -> Vec<VirtualListing> {
        lock(&self.0.state).director.listing()
    }

    fn rset(
        &self,
        virtual_key: &ServiceKey,
        real: &DestKey,
        rstate: Option<AdminState>,
        rweight: Option<WeightOverride>,
    ) -> Result<RsetReply, String> {
        let mut st = lock(&self.0.state);
        let (reply, mut change) = st
            .director
            .rset(virtual_key, real, rstate, rweight)
            .map_err(|e| e.to_string())?;
        tracing::info!(
            "rset {real} of {virtual_key}: rstate={} weight={}{}",
            reply.rstate,
            reply.weight,
            if reply.in_percent { "%" } else { "" }
        );
        change.merge(st.director.evaluate_notifiers());
        self.0.apply(&mut st, change).map_err(|e| {
            format!(
                "the change is made but ipvssync's diff file could not be written ({e}); \
                 a full write with the reload flag is retried every second"
            )
        })?;
        Ok(reply)
    }

    fn stats(&self) -> StatsView {
        let mut s = lock(&self.0.state).director.stats_view();
        let c = self.0.engine.counters();
        s.watchdog_pid = None;
        s.tester_pid = std::process::id();
        s.tests = TestCounters {
            success: c.successes,
            failed: c.failures,
            online_set: c.online_set,
            offline_set: c.offline_set,
            conn_problem: c.problems.conn,
            arp_problem: c.problems.arp,
            rst_problem: c.problems.rst,
            bytes_received: c.bytes_received,
            bytes_sent: c.bytes_sent,
        };
        s
    }

    fn connstats(&self) -> Option<Vec<VirtualConnStats>> {
        if !self.0.cfg().gather_stats {
            return None;
        }
        let listing = lock(&self.0.state).director.listing();
        let snap = self.0.engine.snapshot();
        // Indexed, so that a virtual of ten thousand reals is not searched per real.
        let virtuals: HashMap<ServiceKey, usize> =
            snap.iter().enumerate().map(|(i, v)| (v.key, i)).collect();
        Some(
            listing
                .into_iter()
                .map(|l| {
                    let v = virtuals.get(&l.virtual_view.key).map(|&i| &snap[i]);
                    let by_key: HashMap<DestKey, usize> = v
                        .map(|v| {
                            v.reals
                                .iter()
                                .enumerate()
                                .map(|(i, r)| (r.key, i))
                                .collect()
                        })
                        .unwrap_or_default();
                    let reals = l
                        .reals
                        .iter()
                        .map(|r| {
                            v.zip(by_key.get(&r.key))
                                .map(|(v, &i)| &v.reals[i])
                                .map(|s| RealConnStats {
                                    total: s.stats.total,
                                    problems: s.stats.problems.to_dump(),
                                    last_us: s.stats.last,
                                    sample_avg_us: s.stats.sample_avg,
                                    lifetime_avg_us: s.stats.lifetime_avg(),
                                })
                                .unwrap_or_default()
                        })
                        .collect();
                    VirtualConnStats {
                        samples: v.map_or(0, |v| v.stats.samples),
                        total: v.map_or(0, |v| v.stats.total),
                        sample_avg_us: v.map(|v| v.stats.sample_avg).unwrap_or_default(),
                        problems: v.map(|v| v.stats.problems.to_dump()).unwrap_or_default(),
                        listing: l,
                        reals,
                    }
                })
                .collect(),
        )
    }
}

/// The address the control port listens on (`listen_addr`, `listen_port`).
pub fn control_address(cfg: &MainConfig) -> SocketAddr {
    SocketAddr::new(cfg.listen_addr, cfg.listen_port)
}

/// Binds the control port (`listen_addr`, `listen_port`; port 0 = any free port, which the log
/// names) and serves it with [`crate::control::serve`] for the daemon's life. A port that cannot
/// be bound stops the start: a director without its control port is not what the operator asked
/// for, and the error names the address.
async fn start_control_port(handler: Handler, addr: SocketAddr) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("control port {addr}: cannot listen: {e}"))?;
    // `serve` logs the address it listens on (the port, when `listen_port` is 0).
    tokio::spawn(crate::control::serve(
        listener,
        Arc::new(handler),
        crate::control::ControlLimits::default(),
        std::future::pending::<()>(),
    ));
    Ok(())
}

/// Loads `override.dump` or `offline.dump`: a missing file is empty; a file that cannot be read
/// or parsed stops the start with the error (file, line): these files are the operator's
/// states and the reals that fail, and starting without them would put reals an operator took
/// DOWN back into service (and the start would then overwrite the file).
fn load_state_dump<T: Default>(
    path: &std::path::Path,
    load: impl FnOnce(&std::path::Path) -> Result<T, lvs_core::Error>,
) -> Result<T, String> {
    if !path.exists() {
        return Ok(T::default());
    }
    load(path).map_err(|e| {
        format!("{e} (fix the line or remove the file; surealived does not start without it)")
    })
}

/// Loads `stats.dump` or `notify.dump`: a missing file is empty; a broken one is logged, set
/// aside as `<file>.bad` (so that the next save does not destroy it) and taken as empty.
fn load_dump<T: Default>(
    what: &str,
    path: &std::path::Path,
    load: impl FnOnce(&std::path::Path) -> Result<T, lvs_core::Error>,
) -> T {
    if !path.exists() {
        return T::default();
    }
    match load(path) {
        Ok(d) => d,
        Err(e) => {
            let mut bad = path.as_os_str().to_owned();
            bad.push(".bad");
            let kept = match std::fs::rename(path, &bad) {
                Ok(()) => format!("kept as {}", std::path::Path::new(&bad).display()),
                Err(re) => format!("could not be set aside: {re}"),
            };
            tracing::error!("{what} not merged: {e}; {kept}");
            T::default()
        }
    }
}

fn boot_time_unix() -> Option<i64> {
    let up = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = up.split_whitespace().next()?.parse().ok()?;
    Some(i64::try_from(now_unix()).ok()? - secs as i64)
}

fn mtime_unix(path: &std::path::Path) -> Option<i64> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    i64::try_from(m.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()
}

/// The original set RLIMIT_NOFILE to `maxfd`; we raise the soft limit to `maxfd` plus room for
/// the files and sockets besides tests (never above the hard limit, never lowering it).
fn raise_nofile(maxfd: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let want = maxfd.saturating_add(64).min(hard);
    if want > soft {
        match setrlimit(Resource::RLIMIT_NOFILE, want, hard) {
            Ok(()) => tracing::debug!("RLIMIT_NOFILE raised from {soft} to {want}"),
            Err(e) => tracing::warn!("cannot raise RLIMIT_NOFILE to {want}: {e}"),
        }
    }
}

/// Runs the daemon until `shutdown` completes (or `stop_after`). Errors are start-up errors.
pub(super) async fn run(
    opts: Options,
    services: ServiceConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    // SIGHUP first: its default action kills the process, and a reload (`systemctl reload`,
    // logrotate) may come while the start still waits for the lock or the kernel.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    let cfg = opts.cfg.clone();
    let registry = ProberRegistry::builtin();
    raise_nofile(cfg.maxfd);

    // 2. Merge override.dump, offline.dump, stats.dump, notify.dump (§3.13).
    let mut director = Director::new(&services);
    let overrides = load_state_dump(&cfg.override_dump, OverrideDump::load)?;
    let n = director.restore_overrides(&overrides);
    tracing::info!("{}: {n} overrides merged", cfg.override_dump.display());
    if opts.use_offline_dump {
        let off = load_state_dump(&cfg.offline_dump, OfflineDump::load)?;
        let n = director.restore_offline(&off);
        tracing::info!("{}: {n} offline reals merged", cfg.offline_dump.display());
    }
    let (tx, mut events) = mpsc::unbounded_channel();
    let mut ecfg = EngineConfig::from_main(&cfg);
    ecfg.start_offline = director
        .offline_reals()
        .into_iter()
        .map(|(virtual_key, real)| RealId { virtual_key, real })
        .collect::<HashSet<_>>();
    let engine = Engine::new(ecfg, registry.clone(), tx);
    engine.reconcile(&services).map_err(|e| e.to_string())?;
    if cfg.gather_stats {
        let stats = load_dump("stats.dump", &cfg.stats_dump, StatsDump::load);
        let mut n = 0;
        for v in &stats.virtuals {
            let Some(key) = services
                .virtuals
                .iter()
                .find(|x| vkey_of(&x.key) == v.vkey)
                .map(|x| x.key)
            else {
                continue;
            };
            for r in &v.reals {
                let id = RealId {
                    virtual_key: key,
                    real: r.real,
                };
                n += usize::from(engine.seed_stats(&id, r));
            }
        }
        tracing::info!(
            "{}: statistics of {n} reals merged",
            cfg.stats_dump.display()
        );
    }
    if cfg.notify_dump.exists() {
        let stale = match (mtime_unix(&cfg.notify_dump), boot_time_unix()) {
            (Some(m), Some(b)) => notify_dump_is_stale(m, b),
            _ => false,
        };
        if stale {
            tracing::info!(
                "{}: older than the boot, ignored and removed",
                cfg.notify_dump.display()
            );
            let _ = std::fs::remove_file(&cfg.notify_dump);
        } else {
            let d = load_dump("notify.dump", &cfg.notify_dump, NotifyDump::load);
            director.restore_notify(&d);
        }
    }
    for p in [
        &cfg.offline_dump,
        &cfg.override_dump,
        &cfg.notify_dump,
        &cfg.stats_dump,
    ] {
        if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(d);
        }
    }

    // The direct-IPVS mode: the kernel must answer now.
    let ipvs = if opts.ipvs {
        let mut client = lvs_ipvs::AsyncClient::new()
            .await
            .map_err(|e| format!("--ipvs: cannot talk to the kernel's IPVS: {e}"))?;
        let (itx, mut irx) = mpsc::unbounded_channel::<IpvsWork>();
        tokio::spawn(async move {
            while let Some(w) = irx.recv().await {
                match w {
                    IpvsWork::Ops(ops) => {
                        for r in client.execute(&ops).await {
                            match r.result {
                                Ok(()) => tracing::info!("ipvs: {}", r.operation),
                                Err(e) => tracing::error!("ipvs: {}: {e}", r.operation),
                            }
                        }
                    }
                    IpvsWork::Apply(t) => match client.apply(&t, UnmanagedPolicy::Keep).await {
                        Ok(rep) => {
                            for r in rep.results {
                                match r.result {
                                    Ok(()) => tracing::info!("ipvs: {}", r.operation),
                                    Err(e) => tracing::error!("ipvs: {}: {e}", r.operation),
                                }
                            }
                        }
                        Err(e) => tracing::error!("ipvs: apply: {e}"),
                    },
                }
            }
        });
        Some(itx)
    } else {
        None
    };

    // 3. The full write at start (forced, with the reload flag).
    let sync = if opts.no_sync {
        None
    } else {
        Some(SyncFiles::new(&cfg)?)
    };
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            director,
            sync,
            last_table: Table::new(),
        }),
        engine,
        opts,
        notifier: Notifier::new(),
        ipvs,
    });
    {
        let mut st = lock(&shared.state);
        shared.full_write(&mut st, true);
        if st.sync.as_ref().is_some_and(|s| s.current_diff().is_none()) {
            return Err("the sync files could not be written (see the log)".into());
        }
        if let Some(tx) = &shared.ipvs {
            let t = st.director.table();
            let _ = tx.send(IpvsWork::Apply(t.clone()));
            st.last_table = t;
        } else {
            shared.emit_table(&mut st);
        }
        // Dumps as they stand after the merge (an entry for a real gone is dropped).
        let c = Change {
            offline_changed: true,
            override_changed: true,
            ..Change::default()
        };
        let _ = shared.apply(&mut st, c);
    }

    // 4. The control port.
    start_control_port(Handler(shared.clone()), control_address(&shared.opts.cfg)).await?;
    tracing::info!(
        "surealived running: {} virtuals, {} reals",
        services.virtuals.len(),
        services
            .virtuals
            .iter()
            .map(|v| v.reals.len())
            .sum::<usize>()
    );

    // 5. The loop.
    let start = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_full = start + FULL_SYNC_PERIOD;
    let mut next_apply = start + IPVS_FULL_APPLY_PERIOD;
    let mut next_stats = start
        + shared
            .opts
            .cfg
            .stats_dump_savesec
            .max(Duration::from_secs(1));
    let stop_at = shared.opts.stop_after.map(|d| start + d);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(ev) = events.recv() => {
                let mut batch = vec![ev];
                while batch.len() < EVENT_BATCH {
                    match events.try_recv() {
                        Ok(ev) => batch.push(ev),
                        Err(_) => break,
                    }
                }
                shared.on_events(&batch);
            }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading {}", shared.opts.xml.display());
                shared.reload(&registry);
            }
            _ = tick.tick() => {
                let now = tokio::time::Instant::now();
                if stop_at.is_some_and(|t| now >= t) {
                    tracing::info!("demo time is over: stopping");
                    break;
                }
                shared.tick();
                if now >= next_full {
                    let mut st = lock(&shared.state);
                    if st.director.all_tested() {
                        shared.full_write(&mut st, false);
                        next_full = now + FULL_SYNC_PERIOD;
                    }
                }
                if now >= next_apply {
                    if let Some(tx) = &shared.ipvs {
                        let _ = tx.send(IpvsWork::Apply(lock(&shared.state).director.table()));
                    }
                    next_apply = now + IPVS_FULL_APPLY_PERIOD;
                }
                if now >= next_stats {
                    shared.save_stats();
                    next_stats = now + shared.opts.cfg.stats_dump_savesec.max(Duration::from_secs(1));
                }
            }
        }
    }
    shared.save_stats();
    let pending = shared.notifier.pending();
    if pending > 0 {
        tracing::warn!(
            "{pending} notifier scripts running or waiting at stop: those running go on, \
             those waiting are not run"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::config::xml::{parse_service_xml, TesterRegistry};

    const XML: &str = r#"<surealived>
<virtual name="web" addr="10.0.0.1" port="80" proto="tcp" sched="wrr" rt="dr">
  <tester proto="no-test" loopdelay="1"/>
  <real name="a" addr="10.1.0.1" port="80" weight="10"/>
  <real name="b" addr="10.1.0.2" port="80" weight="4"/>
</virtual>
</surealived>"#;

    /// A cfg with every file in `dir` and the control port on any free port.
    fn cfg_in(dir: &std::path::Path) -> MainConfig {
        MainConfig {
            lock_sync_file: dir.join("ipvsfull.lock"),
            full_sync_file: dir.join("ipvsfull.cfg"),
            full_reload_file: dir.join("ipvsfull.reload"),
            diff_sync_dir: dir.join("diffs"),
            offline_dump: dir.join("offline.dump"),
            override_dump: dir.join("override.dump"),
            notify_dump: dir.join("notify.dump"),
            stats_dump: dir.join("stats.dump"),
            listen_port: 0,
            ..MainConfig::default()
        }
    }

    /// The full file is rewritten every 60 s once every real was tested, each time with a new
    /// diff file chained from the previous one (on tokio's paused clock: 130 s pass at once).
    #[tokio::test(start_paused = true)]
    async fn the_full_file_is_rewritten_every_60_s_with_a_chained_diff_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let cfg = cfg_in(dir);
        let services = parse_service_xml(XML, "t.xml", &TesterRegistry::builtin()).expect("xml");
        let opts = Options {
            cfg,
            xml: dir.join("t.xml"),
            no_sync: false,
            use_offline_dump: true,
            ipvs: false,
            print_table: false,
            stop_after: Some(Duration::from_secs(130)),
        };
        run(opts, services, std::future::pending())
            .await
            .expect("run");
        let mut diffs: Vec<PathBuf> = std::fs::read_dir(dir.join("diffs"))
            .expect("diffs")
            .map(|e| e.expect("entry").path())
            .collect();
        diffs.sort();
        assert_eq!(diffs.len(), 3, "at start, at 60 s and at 120 s: {diffs:?}");
        for pair in diffs.windows(2) {
            let text = std::fs::read_to_string(&pair[0]).expect("diff");
            assert_eq!(text, format!("DIFF file={}\n", pair[1].display()));
        }
        let full = std::fs::read_to_string(dir.join("ipvsfull.cfg")).expect("full");
        assert!(
            full.contains(&format!("DIFF file={}\n", diffs[2].display())),
            "{full}"
        );
    }

    fn handler(dir: &std::path::Path, gather_stats: bool) -> Handler {
        let cfg = MainConfig {
            gather_stats,
            ..cfg_in(dir)
        };
        let services = parse_service_xml(XML, "t.xml", &TesterRegistry::builtin()).expect("xml");
        let (tx, _rx) = mpsc::unbounded_channel();
        let engine = Engine::new(EngineConfig::from_main(&cfg), ProberRegistry::builtin(), tx);
        engine.reconcile(&services).expect("reconcile");
        let mut sync = SyncFiles::new(&cfg).expect("sync files");
        let director = Director::new(&services);
        sync.full_write(&director, 1_000, true).expect("full write");
        Handler(Arc::new(Shared {
            state: Mutex::new(State {
                director,
                sync: Some(sync),
                last_table: Table::new(),
            }),
            engine,
            opts: Options {
                cfg,
                xml: dir.join("t.xml"),
                no_sync: false,
                use_offline_dump: true,
                ipvs: false,
                print_table: false,
                stop_after: None,
            },
            notifier: Notifier::new(),
            ipvs: None,
        }))
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn the_control_handler_lists_sets_and_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = rt();
        let _guard = rt.enter();
        let h = handler(dir.path(), true);
        let l = h.listing();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].virtual_view.name, "web");
        assert_eq!(l[0].reals.len(), 2);
        let vkey = l[0].virtual_view.key;
        let b = l[0].reals[1].key;

        let reply = h
            .rset(&vkey, &b, None, Some(WeightOverride::Percent(50)))
            .expect("rset");
        assert_eq!(
            (reply.rstate, reply.weight, reply.in_percent),
            (AdminState::Online, 50, true)
        );
        assert_eq!(h.listing()[0].reals[1].current_weight, 2);
        let dump = std::fs::read_to_string(dir.path().join("override.dump")).expect("dump");
        assert_eq!(
            dump,
            "10.0.0.1:80:0:0 - 10.1.0.2:80 - weight=50% rstate=ONLINE\n"
        );
        let diffs = std::fs::read_to_string(dir.path().join("diffs/diff_sync.1000")).expect("diff");
        assert!(
            diffs.contains("cmd=chgreal")
                && diffs.contains("rname=b raddr=10.1.0.2 rport=80 rweight=2\n"),
            "{diffs}"
        );

        let err = h.rset(&vkey, &b, None, None).expect_err("nothing to set");
        assert!(err.contains("at least 'rstate' or 'rweight'"), "{err}");
        h.rset(&vkey, &b, Some(AdminState::Down), None)
            .expect("rset");
        let s = h.stats();
        assert_eq!(
            (s.virtuals, s.reals, s.rstate_online, s.rstate_down),
            (1, 2, 1, 1)
        );
        assert_eq!(s.override_size, 1);
        assert_eq!(s.tester_pid, std::process::id());
        assert_eq!(s.watchdog_pid, None);
        let cs = h.connstats().expect("gather_stats on");
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].reals.len(), 2);
        assert_eq!(cs[0].listing.reals[1].rstate, AdminState::Down);

        let dir2 = tempfile::tempdir().expect("tempdir");
        assert!(handler(dir2.path(), false).connstats().is_none());
    }
}

//! The daemon's loop: inotify (or polling), timers and signals around a [`Syncer`].

use std::path::PathBuf;
use std::time::Duration;

use inotify::{Inotify, WatchMask};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use super::core::Syncer;
use super::kernel::Kernel;

/// How often the files are looked at without inotify (the original's main loop period).
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How often the files are looked at with inotify, in case an event was missed.
pub const SAFETY_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The default period of the diff cleanup (the original's `DIFFS_CLEANUP_SEC`).
pub const CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

/// The daemon's settings besides the files.
#[derive(Debug, Clone)]
pub struct Options {
    /// Period of the deletion of obsolete diff files ([`CLEANUP_INTERVAL`]); `None` = never
    /// (`-k`).
    pub cleanup: Option<Duration>,
    /// Drift repair period; `None` = off.
    pub repair_interval: Option<Duration>,
    /// Use inotify (polling every [`POLL_INTERVAL`] when false or unavailable).
    pub inotify: bool,
}

/// Watches directories with inotify. A thread blocks on the inotify descriptor and sends one
/// message per batch of events (the blocking read keeps this free of unsafe descriptor
/// registration with tokio).
struct Watcher {
    watches: inotify::Watches,
    events: mpsc::UnboundedReceiver<std::io::Result<()>>,
    dirs: Vec<PathBuf>,
}

const MASK: WatchMask = WatchMask::MODIFY
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::CREATE)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::ATTRIB);

impl Watcher {
    fn new(dirs: &[PathBuf]) -> std::io::Result<Self> {
        let mut inotify = Inotify::init()?;
        let (tx, events) = mpsc::unbounded_channel();
        let mut w = Self {
            watches: inotify.watches(),
            events,
            dirs: Vec::new(),
        };
        w.watch(dirs)?;
        std::thread::Builder::new()
            .name("ipvssync-inotify".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let r = inotify.read_events_blocking(&mut buf).map(drop);
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(w)
    }

    /// Adds watches for the directories not watched yet.
    fn watch(&mut self, dirs: &[PathBuf]) -> std::io::Result<()> {
        for d in dirs {
            if !self.dirs.contains(d) {
                self.watches.add(d, MASK)?;
                tracing::debug!("{}: watched (inotify)", d.display());
                self.dirs.push(d.clone());
            }
        }
        Ok(())
    }

    /// Waits for events, and takes every batch already queued (one burst gives one poll).
    async fn changed(&mut self) -> std::io::Result<()> {
        let first = self
            .events
            .recv()
            .await
            .unwrap_or_else(|| Err(std::io::Error::other("the inotify thread stopped")));
        while let Ok(r) = self.events.try_recv() {
            r?;
        }
        first
    }
}

/// Runs until SIGTERM or SIGINT (then returns, leaving the kernel as it is).
pub async fn run(mut syncer: Syncer, kernel: &mut dyn Kernel, opts: Options) -> Result<(), String> {
    let mut watcher = if opts.inotify {
        match Watcher::new(&syncer.watch_dirs()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "inotify unavailable ({e}): polling every {} ms",
                    POLL_INTERVAL.as_millis()
                );
                None
            }
        }
    } else {
        None
    };
    let period = if watcher.is_some() {
        SAFETY_POLL_INTERVAL
    } else {
        POLL_INTERVAL
    };
    let now = Instant::now();
    let mut poll_tick = interval_at(now + period, period);
    poll_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let cleanup_period = opts.cleanup.unwrap_or(CLEANUP_INTERVAL);
    let mut cleanup_tick = interval_at(now + cleanup_period, cleanup_period);
    cleanup_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let repair_period = opts.repair_interval.unwrap_or(Duration::from_secs(3600));
    let mut repair_tick = interval_at(now + repair_period, repair_period);
    repair_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The handlers are installed before "following" is logged: from then on SIGTERM, SIGINT and
    // SIGHUP are ours (a signal before that stops the process the default way).
    let handler = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| format!("cannot handle {name}: {e}"))
    };
    let mut hup = handler(SignalKind::hangup(), "SIGHUP")?;
    let mut term = handler(SignalKind::terminate(), "SIGTERM")?;
    let mut int = handler(SignalKind::interrupt(), "SIGINT")?;
    let mut last_error: Option<String> = None;
    tracing::info!(
        "following {} (inotify: {}, drift repair: {}, cleanup: {})",
        syncer.current_diff().display(),
        if watcher.is_some() { "yes" } else { "no" },
        match opts.repair_interval {
            Some(d) => format!("every {} s", d.as_secs()),
            None => "off".into(),
        },
        match opts.cleanup {
            Some(d) => format!("every {} s", d.as_secs()),
            None => "off (-k)".into(),
        }
    );
    loop {
        enum Why {
            Poll,
            Hup,
            Repair,
            Cleanup,
        }
        let why = tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM: stopping");
                break;
            }
            _ = int.recv() => {
                tracing::info!("SIGINT: stopping");
                break;
            }
            _ = hup.recv() => Why::Hup,
            r = async { watcher.as_mut().expect("guarded").changed().await }, if watcher.is_some() => {
                if let Err(e) = r {
                    tracing::warn!("inotify failed ({e}): polling every {} ms", POLL_INTERVAL.as_millis());
                    watcher = None;
                    poll_tick = interval_at(Instant::now() + POLL_INTERVAL, POLL_INTERVAL);
                }
                Why::Poll
            }
            _ = poll_tick.tick() => Why::Poll,
            _ = repair_tick.tick(), if opts.repair_interval.is_some() => Why::Repair,
            _ = cleanup_tick.tick(), if opts.cleanup.is_some() => Why::Cleanup,
        };
        let result = match why {
            Why::Poll => syncer.poll(kernel).map(drop),
            Why::Hup => {
                tracing::info!("SIGHUP: full synchronisation");
                syncer.full_sync(kernel).map(drop)
            }
            Why::Repair => {
                // Catch up with the files first; repair even when they cannot be read (the
                // wanted table is known).
                let polled = syncer.poll(kernel).map(drop);
                syncer.repair(kernel).map(drop).and(polled)
            }
            Why::Cleanup => {
                syncer.cleanup();
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                if let Some(e) = last_error.take() {
                    tracing::info!("recovered from: {e}");
                }
            }
            Err(e) => {
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) {
                    tracing::error!("{msg}; keeping the previous table");
                    last_error = Some(msg);
                }
            }
        }
        if let Some(w) = watcher.as_mut() {
            if let Err(e) = w.watch(&syncer.watch_dirs()) {
                tracing::warn!(
                    "inotify: cannot watch a new directory ({e}); polling every {} ms",
                    POLL_INTERVAL.as_millis()
                );
                watcher = None;
                poll_tick = interval_at(Instant::now() + POLL_INTERVAL, POLL_INTERVAL);
            }
        }
    }
    tracing::info!("stopped; the kernel's table is left as it is");
    Ok(())
}

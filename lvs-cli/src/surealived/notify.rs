//! The notifier scripts (§3.12): run as child processes without blocking anything, with
//! stdin, stdout and stderr on /dev/null, the exit status only logged, every child reaped,
//! at most [`MAX_RUNNING`] at once (the others wait their turn, at most [`MAX_WAITING`] of
//! them) and each killed after [`TIME_LIMIT`].

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lvs_core::director::Notification;
use tokio::process::Command;
use tokio::sync::Semaphore;

/// Scripts running at once.
pub(crate) const MAX_RUNNING: usize = 16;
/// Scripts waiting for a slot; more are dropped with a warning.
pub(crate) const MAX_WAITING: usize = 1024;
/// A script still running after this is killed.
pub(crate) const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Runs notifier scripts.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    slots: Arc<Semaphore>,
    pending: Arc<AtomicUsize>,
}

impl Notifier {
    pub(crate) fn new() -> Self {
        Self {
            slots: Arc::new(Semaphore::new(MAX_RUNNING)),
            pending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Notifiers started or waiting for a slot.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Starts `n` (must be called inside the runtime).
    pub(crate) fn run(&self, n: Notification) {
        if self.pending.fetch_add(1, Ordering::SeqCst) >= MAX_RUNNING + MAX_WAITING {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(
                "notifier {} {} not run: too many notifiers pending",
                n.script.display(),
                n.args.join(" ")
            );
            return;
        }
        let slots = self.slots.clone();
        let pending = self.pending.clone();
        tokio::spawn(async move {
            if let Ok(_permit) = slots.acquire_owned().await {
                run_one(&n).await;
            }
            pending.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

async fn run_one(n: &Notification) {
    let shown = format!("{} {}", n.script.display(), n.args.join(" "));
    let child = Command::new(&n.script)
        .args(&n.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Not killed when the daemon stops: a notifier that started runs to its end (init
        // reaps it then), as the original's did.
        .kill_on_drop(false)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("notifier {shown}: cannot start: {e}");
            return;
        }
    };
    tracing::info!("notifier {shown}: started");
    match tokio::time::timeout(TIME_LIMIT, child.wait()).await {
        Ok(Ok(status)) => tracing::debug!("notifier {shown}: {status}"),
        Ok(Err(e)) => tracing::warn!("notifier {shown}: {e}"),
        Err(_) => {
            tracing::warn!(
                "notifier {shown}: still running after {}s, killed",
                TIME_LIMIT.as_secs()
            );
            let _ = child.kill().await;
        }
    }
}

//! The notifier scripts (§3.12): run as child processes without blocking anything, with
//! stdin, stdout and stderr on /dev/null, the exit status only logged, every child reaped,
//! at most [`MAX_RUNNING`] at once (the others wait their turn, at most [`MAX_WAITING`] of
//! them) and each killed after [`TIME_LIMIT`]. The notifications of one virtual, or of one real
//! of a virtual, run one after the other in the order they came (a real's DOWN script that is
//! still running when the real comes back delays its UP script), so that what they tell an
//! outside system ends in the real's last state.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Per subject (the arguments after `notify=`), the notifications waiting behind the one
    /// running; a subject is in the map while its worker runs.
    queues: Arc<Mutex<HashMap<String, VecDeque<Notification>>>>,
}

impl Notifier {
    pub(crate) fn new() -> Self {
        Self {
            slots: Arc::new(Semaphore::new(MAX_RUNNING)),
            pending: Arc::new(AtomicUsize::new(0)),
            queues: Arc::new(Mutex::new(HashMap::new())),
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
        // The subject: the virtual, or the real of a virtual (every argument but `notify=`).
        let subject = n.args.get(1..).unwrap_or_default().join(" ");
        {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(waiting) = queues.get_mut(&subject) {
                // Its worker runs: this one follows in turn.
                waiting.push_back(n);
                return;
            }
            queues.insert(subject.clone(), VecDeque::new());
        }
        let slots = self.slots.clone();
        let pending = self.pending.clone();
        let queues = self.queues.clone();
        tokio::spawn(async move {
            let mut next = Some(n);
            while let Some(n) = next {
                if let Ok(_permit) = slots.acquire().await {
                    run_one(&n).await;
                }
                pending.fetch_sub(1, Ordering::SeqCst);
                let mut q = queues.lock().unwrap_or_else(|e| e.into_inner());
                next = q.get_mut(&subject).and_then(VecDeque::pop_front);
                if next.is_none() {
                    q.remove(&subject);
                }
            }
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

//! The communication dump (`debugcomm`): the conversation of a real's latest test in
//! `<debug_comm_path>/<vname>_<rname>`, in the original's format ([`Transcript::render`]).
//!
//! Files are written on tokio's blocking pool, at most [`WRITERS`] at once; when more than
//! [`MAX_WAITING`] tests wait to write, further dumps are dropped (and counted) rather than let
//! the queue grow.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::{bump, AtomicCounters};
use crate::outcome::{utc_stamp, Transcript};

/// Files written at once.
const WRITERS: usize = 4;
/// Tests waiting to write before dumps are dropped.
const MAX_WAITING: usize = 64;

/// The dump file's name for a real: `<vname>_<rname>`, with any `/` (or NUL) replaced by `_`
/// so that the file stays in the dump directory.
pub(crate) fn file_name(vname: &str, rname: &str) -> String {
    format!("{vname}_{rname}")
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect()
}

#[derive(Debug)]
pub(crate) struct DebugComm {
    dir: PathBuf,
    writers: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl DebugComm {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            writers: Arc::new(Semaphore::new(WRITERS)),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Writes `transcript` to each of `names` (replacing what they held).
    pub(crate) async fn write(
        &self,
        transcript: &Transcript,
        names: Vec<String>,
        counters: &AtomicCounters,
    ) {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            bump(&counters.debugcomm_dropped, names.len() as u64);
            return;
        }
        let mut bytes = Vec::new();
        transcript.render(&mut bytes, utc_stamp);
        let permit = self.writers.clone().acquire_owned().await;
        let dir = self.dir.clone();
        let failed = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            names
                .iter()
                .filter(|n| std::fs::write(dir.join(n), &bytes).is_err())
                .count()
        })
        .await
        .unwrap_or(0);
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        bump(&counters.debugcomm_dropped, failed as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_in_the_directory() {
        assert_eq!(file_name("web", "r1"), "web_r1");
        assert_eq!(file_name("a/b", "../c"), "a_b_.._c");
    }
}

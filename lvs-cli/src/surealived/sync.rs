//! The files surealived hands to ipvssync: `ipvsfull.cfg`, the reload flag and the chain of
//! diff files, all written under `flock(LOCK_EX)` on `lock_sync_file` (§3.9 of the reference).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::lockfile::LockGuard;
use lvs_core::config::surealived_cfg::MainConfig;
use lvs_core::director::Director;
use lvs_core::formats::diffs::{diff_file_name, DiffRecord};
use lvs_core::formats::ipvsfull::Meta;

/// The writer of the sync files.
#[derive(Debug)]
pub(crate) struct SyncFiles {
    lock: PathBuf,
    full: PathBuf,
    reload: PathBuf,
    diff_dir: PathBuf,
    /// The current diff file and its seconds.
    current: Option<(PathBuf, File)>,
    last_secs: u64,
    /// A write failed: ipvssync may have missed a change, or the current diff file may end in a
    /// partial line. The next [`SyncFiles::full_write`] is owed, with the reload flag.
    owed: bool,
    /// A write into the current diff file failed: it may end in a partial line.
    torn: bool,
}

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: cannot {what}: {e}", path.display())
}

fn ensure_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => {
            std::fs::create_dir_all(d).map_err(|e| io_err("create the directory", d, e))
        }
        _ => Ok(()),
    }
}

impl SyncFiles {
    /// The paths of `cfg`; creates the directories they need.
    pub(crate) fn new(cfg: &MainConfig) -> Result<Self, String> {
        for p in [
            &cfg.lock_sync_file,
            &cfg.full_sync_file,
            &cfg.full_reload_file,
        ] {
            ensure_parent(p)?;
        }
        std::fs::create_dir_all(&cfg.diff_sync_dir)
            .map_err(|e| io_err("create the directory", &cfg.diff_sync_dir, e))?;
        Ok(Self {
            lock: cfg.lock_sync_file.clone(),
            full: cfg.full_sync_file.clone(),
            reload: cfg.full_reload_file.clone(),
            diff_dir: cfg.diff_sync_dir.clone(),
            current: None,
            last_secs: 0,
            owed: false,
            torn: false,
        })
    }

    /// Takes `flock(LOCK_EX)` on the lock file (created if missing); released on drop.
    fn lock(&self) -> Result<LockGuard, String> {
        crate::lockfile::lock(&self.lock, true).map_err(|e| io_err("lock", &self.lock, e))
    }

    /// The current diff file.
    pub(crate) fn current_diff(&self) -> Option<&Path> {
        self.current.as_ref().map(|(p, _)| p.as_path())
    }

    /// Whether a write failed since the last successful full write: the caller retries
    /// [`SyncFiles::full_write`] with the reload flag until it succeeds, so that ipvssync
    /// re-reads the whole table and nothing stays lost.
    pub(crate) fn full_write_owed(&self) -> bool {
        self.owed
    }

    /// Writes `ipvsfull.cfg` afresh (atomically) with a new diff file, chains the previous
    /// diff file to the new one (`DIFF file=<new>`), and with `touch_reload` creates the
    /// reload flag. `now_unix` names the diff file; a name already used gets the next second,
    /// so every full write has its own file and names keep their order. A failure leaves the
    /// writer consistent (the previous diff file stays current when no new one was chained)
    /// and owes a full write ([`SyncFiles::full_write_owed`]).
    pub(crate) fn full_write(
        &mut self,
        director: &Director,
        now_unix: u64,
        touch_reload: bool,
    ) -> Result<PathBuf, String> {
        let r = self.try_full_write(director, now_unix, touch_reload || self.owed);
        self.owed = r.is_err();
        r
    }

    fn try_full_write(
        &mut self,
        director: &Director,
        now_unix: u64,
        touch_reload: bool,
    ) -> Result<PathBuf, String> {
        let _lock = self.lock()?;
        let mut secs = now_unix.max(self.last_secs + 1);
        let mut path = diff_file_name(&self.diff_dir, secs);
        while path.exists() {
            secs += 1;
            path = diff_file_name(&self.diff_dir, secs);
        }
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err("create the diff file", &path, e))?;
        let meta = Meta::from_unix(i64::try_from(now_unix).unwrap_or(i64::MAX), 0);
        let full = director.full_config(meta, path.display().to_string());
        if let Err(e) = full.save(&self.full) {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(format!("{}: cannot write: {e}", self.full.display()));
        }
        // From here the new file is the current one, whatever else fails.
        if let Some((old, mut f)) = self.current.take() {
            // After a failed append the old file may end in a partial record: a newline first
            // ends it (ipvssync skips the broken line and still sees the chain line).
            let lead = if self.torn { "\n" } else { "" };
            if let Err(e) = writeln!(f, "{lead}DIFF file={}", path.display()) {
                tracing::error!("{}", io_err("append the DIFF line", &old, e));
            }
        }
        self.current = Some((path.clone(), file));
        self.last_secs = secs;
        self.torn = false;
        if touch_reload {
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&self.reload)
                .map_err(|e| io_err("create the reload flag", &self.reload, e))?;
        }
        Ok(path)
    }

    /// Appends diff records to the current diff file under the lock; each record is one
    /// `write` (the file is not buffered). A failure owes a full write
    /// ([`SyncFiles::full_write_owed`]).
    pub(crate) fn append(&mut self, records: &[DiffRecord]) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        let r = self.try_append(records);
        if r.is_err() {
            self.owed = true;
        }
        r
    }

    fn try_append(&mut self, records: &[DiffRecord]) -> Result<(), String> {
        let _lock = self.lock()?;
        let Some((path, f)) = self.current.as_mut() else {
            return Err("no diff file open yet".into());
        };
        for r in records {
            if let Err(e) = f.write_all(r.write().as_bytes()) {
                self.torn = true;
                return Err(io_err("append to", path, e));
            }
        }
        f.flush().map_err(|e| io_err("flush", path, e))
    }
}

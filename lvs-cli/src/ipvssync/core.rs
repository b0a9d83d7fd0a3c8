//! The synchroniser's logic, without timers, signals or inotify: [`Syncer`] holds the wanted
//! table (the full `ipvsfull.cfg` plus the diff lines applied so far) and the position in the
//! diff chain, and pushes changes to a [`Kernel`]. The daemon ([`super::daemon`]) calls it when
//! a file changes, on its timers and on signals; tests call it directly with a [`MemoryKernel`]
//! and real files.
//!
//! [`MemoryKernel`]: super::kernel::MemoryKernel

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use lvs_core::config::surealived_cfg::MainConfig;
use lvs_core::formats::diffs::{apply_to_table, obsolete_diffs, DiffLine, DiffReader};
use lvs_core::formats::ipvsfull::FullConfig;
use lvs_core::model::{ApplyError, Operation, Table, UnmanagedPolicy};

use super::kernel::{Kernel, KernelError, OpOutcome};

/// The most `DIFF file=` hops followed in one read: a chain longer than that is a loop (a file
/// naming itself, or two naming each other), and reading stops there until the next call.
pub const MAX_HOPS: u32 = 64;

/// The files ipvssync reads, from `surealived.cfg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPaths {
    /// `lock_sync_file`: locked (`flock` LOCK_EX) while the files are read and applied.
    pub lock: PathBuf,
    /// `full_sync_file`: `ipvsfull.cfg`.
    pub full: PathBuf,
    /// `full_reload_file`: its presence asks for a full re-synchronisation.
    pub reload: PathBuf,
    /// `diff_sync_dir`: where the diff files are (and are cleaned up).
    pub diff_dir: PathBuf,
}

impl SyncPaths {
    /// The paths a `surealived.cfg` names.
    pub fn from_config(cfg: &MainConfig) -> Self {
        Self {
            lock: cfg.lock_sync_file.clone(),
            full: cfg.full_sync_file.clone(),
            reload: cfg.full_reload_file.clone(),
            diff_dir: cfg.diff_sync_dir.clone(),
        }
    }
}

/// Why a synchronisation could not be done.
#[derive(Debug)]
#[non_exhaustive]
pub enum SyncError {
    /// The lock file could not be opened or locked (it must exist: surealived creates it).
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// `ipvsfull.cfg` could not be read or parsed (the error names the file, line and key).
    Config(lvs_core::Error),
    /// `ipvsfull.cfg` designates one service twice (a parsed file never does).
    Table {
        /// The file.
        path: PathBuf,
        /// The conflict.
        source: ApplyError,
    },
    /// The kernel's table could not be read.
    Kernel(KernelError),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Lock { path, source } => write!(
                f,
                "{}: cannot lock (lock_sync_file; surealived creates it): {source}",
                path.display()
            ),
            SyncError::Config(e) => write!(f, "{e}"),
            SyncError::Table { path, source } => write!(f, "{}: {source}", path.display()),
            SyncError::Kernel(e) => write!(f, "cannot read the IPVS table: {e}"),
        }
    }
}

impl std::error::Error for SyncError {}

/// What one call of [`Syncer`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether the whole table was re-read and applied (start, reload flag, SIGHUP, truncated
    /// diff file).
    pub full_sync: bool,
    /// Diff records applied to the wanted table (an ignored `addreal` included).
    pub records: u64,
    /// Diff lines rejected (bad syntax, unknown service, absent destination).
    pub rejected: u64,
    /// `DIFF file=` hops followed.
    pub hops: u32,
    /// Operations sent to the kernel, with their results.
    pub operations: Vec<OpOutcome>,
    /// Operations of the re-synchronisation that followed a refused operation.
    pub repairs: Vec<OpOutcome>,
}

impl SyncReport {
    /// Operations the kernel refused.
    pub fn failures(&self) -> usize {
        self.operations
            .iter()
            .chain(&self.repairs)
            .filter(|o| o.result.is_err())
            .count()
    }
}

/// Where in the diff chain we are.
#[derive(Debug)]
struct Follow {
    path: PathBuf,
    reader: DiffReader,
    /// Bytes of `path` fed to `reader`.
    pos: u64,
    /// The file was missing at the last read (said once).
    missing: bool,
}

impl Follow {
    fn new(path: PathBuf) -> Self {
        let reader = DiffReader::new(path.display().to_string());
        Self {
            path,
            reader,
            pos: 0,
            missing: false,
        }
    }
}

/// What reading the diff chain gave.
#[derive(Debug, Default)]
struct ChainRead {
    ops: Vec<Operation>,
    records: u64,
    rejected: u64,
    hops: u32,
    /// The current file is shorter than what was read: it was replaced.
    truncated: bool,
}

/// The synchroniser: the wanted table, where the diff chain is followed, and the policy for
/// unmanaged services.
#[derive(Debug)]
pub struct Syncer {
    paths: SyncPaths,
    policy: UnmanagedPolicy,
    full: FullConfig,
    wanted: Table,
    follow: Follow,
}

pub use crate::lockfile::LockGuard;

/// Takes `flock(LOCK_EX)` on `path`, waiting while surealived holds it. The file is not
/// created: its absence is an error, as in the original.
pub fn lock(path: &Path) -> Result<LockGuard, SyncError> {
    crate::lockfile::lock(path, false).map_err(|source| SyncError::Lock {
        path: path.to_path_buf(),
        source,
    })
}

impl Syncer {
    /// Starts as ipvssync does: under the lock, reads `ipvsfull.cfg`, applies the diff chain from
    /// the file its `DIFF file=` line names (following hops) to the table in memory and deletes
    /// the reload flag; then, with the lock released, makes the kernel hold that table (nothing
    /// is sent when it already does).
    ///
    /// The lock covers the files only, never the kernel (the original held it through the
    /// kernel too): a full synchronisation of a large table takes seconds, and surealived, which
    /// takes the lock to append each change, would wait as long.
    pub fn start(
        paths: SyncPaths,
        policy: UnmanagedPolicy,
        kernel: &mut dyn Kernel,
    ) -> Result<(Self, SyncReport), SyncError> {
        let (full, wanted, follow, read) = {
            let _lock = lock(&paths.lock)?;
            let loaded = load(&paths.full)?;
            remove_reload_flag(&paths.reload);
            loaded
        };
        let mut s = Self {
            paths,
            policy,
            full,
            wanted,
            follow,
        };
        let report = s.push_full(kernel, read)?;
        Ok((s, report))
    }

    /// A full re-synchronisation (reload flag, SIGHUP): as [`Syncer::start`], replacing the
    /// wanted table and the position in the chain. On an error the previous table and position
    /// are kept. The reload flag is deleted either way (a broken file is reported once, not at
    /// every poll; fix it and touch the flag again).
    pub fn full_sync(&mut self, kernel: &mut dyn Kernel) -> Result<SyncReport, SyncError> {
        let loaded = {
            let _lock = lock(&self.paths.lock)?;
            self.reload_locked()
        };
        self.install(kernel, loaded)
    }

    /// Reads the files of a full synchronisation (the caller holds the lock) and deletes the
    /// reload flag.
    fn reload_locked(&self) -> Result<(FullConfig, Table, Follow, ChainRead), SyncError> {
        let loaded = load(&self.paths.full);
        remove_reload_flag(&self.paths.reload);
        loaded
    }

    /// Takes what [`Syncer::reload_locked`] read and makes the kernel hold it.
    fn install(
        &mut self,
        kernel: &mut dyn Kernel,
        loaded: Result<(FullConfig, Table, Follow, ChainRead), SyncError>,
    ) -> Result<SyncReport, SyncError> {
        let (full, wanted, follow, read) = loaded?;
        self.full = full;
        self.wanted = wanted;
        self.follow = follow;
        self.push_full(kernel, read)
    }

    /// One round of the main loop: under the lock, a full re-read when the reload flag exists
    /// (or the current diff file shrank: it was replaced), otherwise the diff lines appended
    /// since the last call (a partial last line waits for its newline), following `DIFF file=`
    /// hops, each change applied to the wanted table; then, with the lock released, the changes
    /// pushed to the kernel. When the kernel refuses one (it drifted), the whole table is
    /// applied at once.
    pub fn poll(&mut self, kernel: &mut dyn Kernel) -> Result<SyncReport, SyncError> {
        let read = {
            let _lock = lock(&self.paths.lock)?;
            if self.paths.reload.exists() {
                tracing::info!(
                    "{}: reload flag found: full synchronisation",
                    self.paths.reload.display()
                );
                Err(self.reload_locked())
            } else {
                let read = self.read_diffs();
                if read.truncated {
                    tracing::warn!(
                        "{}: shorter than the {} bytes already read (replaced?): full \
                         synchronisation",
                        self.follow.path.display(),
                        self.follow.pos
                    );
                    Err(self.reload_locked())
                } else {
                    Ok(read)
                }
            }
        };
        let read = match read {
            Ok(read) => read,
            Err(loaded) => return self.install(kernel, loaded),
        };
        let mut report = SyncReport {
            records: read.records,
            rejected: read.rejected,
            hops: read.hops,
            ..SyncReport::default()
        };
        if read.ops.is_empty() {
            return Ok(report);
        }
        report.operations = kernel.execute(&read.ops);
        let mut refused = false;
        for o in &report.operations {
            match &o.result {
                Ok(()) => tracing::info!("applied: {}", o.operation),
                Err(e) => {
                    refused = true;
                    tracing::warn!("kernel refused {}: {e}", o.operation);
                }
            }
        }
        if refused {
            tracing::warn!("the kernel's table differs from the wanted one: re-synchronising");
            report.repairs = self.repair(kernel)?;
        }
        Ok(report)
    }

    /// Drift repair: makes the kernel hold the wanted table again and logs at WARN each
    /// operation that was needed (a change made outside ipvssync); nothing when the kernel
    /// holds the table. Reads no file and takes no lock.
    pub fn repair(&mut self, kernel: &mut dyn Kernel) -> Result<Vec<OpOutcome>, SyncError> {
        let outcomes = kernel
            .apply(&self.wanted, self.policy)
            .map_err(SyncError::Kernel)?;
        for o in &outcomes {
            match &o.result {
                Ok(()) => tracing::warn!("repaired: {} ({})", o.operation, why(&o.operation)),
                Err(e) => tracing::error!("cannot repair: {}: {e}", o.operation),
            }
        }
        Ok(outcomes)
    }

    /// Deletes the diff files of `diff_sync_dir` whose name sorts before the current diff
    /// file's (ipvssync's cleanup, every 60 s unless `-k`); returns those deleted.
    ///
    /// It runs under the lock (surealived creates diff files under it) and not while the
    /// reload flag is there: a restarted surealived may have begun a chain that the full
    /// re-synchronisation has not yet taken up, and whose names (after a clock step back) sort
    /// before the file still followed.
    pub fn cleanup(&self) -> Vec<PathBuf> {
        let _lock = match lock(&self.paths.lock) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("diff cleanup skipped: {e}");
                return Vec::new();
            }
        };
        if self.paths.reload.exists() {
            return Vec::new();
        }
        let dir = &self.paths.diff_dir;
        let names: Vec<_> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect(),
            Err(e) => {
                tracing::warn!("{}: cannot list diff_sync_dir: {e}", dir.display());
                return Vec::new();
            }
        };
        let mut deleted = Vec::new();
        for name in obsolete_diffs(names, &self.follow.path) {
            let path = dir.join(&name);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!("{}: deleted (obsolete diff file)", path.display());
                    deleted.push(path);
                }
                Err(e) => tracing::warn!("{}: cannot delete: {e}", path.display()),
            }
        }
        deleted
    }

    /// The table ipvssync wants in the kernel: `ipvsfull.cfg` plus the diff lines applied so far.
    pub fn wanted(&self) -> &Table {
        &self.wanted
    }

    /// The diff file being followed.
    pub fn current_diff(&self) -> &Path {
        &self.follow.path
    }

    /// The policy for services the files do not name.
    pub fn policy(&self) -> UnmanagedPolicy {
        self.policy
    }

    /// The paths the syncer reads.
    pub fn paths(&self) -> &SyncPaths {
        &self.paths
    }

    /// The directories whose changes matter: `diff_sync_dir`, the reload flag's and the current
    /// diff file's (without repeats).
    pub fn watch_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.paths.diff_dir.clone()];
        for p in [&self.paths.reload, &self.follow.path] {
            let d = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
        dirs
    }

    fn push_full(
        &mut self,
        kernel: &mut dyn Kernel,
        read: ChainRead,
    ) -> Result<SyncReport, SyncError> {
        let operations = kernel
            .apply(&self.wanted, self.policy)
            .map_err(SyncError::Kernel)?;
        for o in &operations {
            match &o.result {
                Ok(()) => tracing::info!("synchronised: {}", o.operation),
                Err(e) => tracing::error!("kernel refused {}: {e}", o.operation),
            }
        }
        tracing::info!(
            "full synchronisation: {} services, {} reals ({} + {} diff lines from {}); {} operations",
            self.wanted.len(),
            self.wanted.destination_count(),
            self.paths.full.display(),
            read.records,
            self.follow.path.display(),
            operations.len()
        );
        Ok(SyncReport {
            full_sync: true,
            records: read.records,
            rejected: read.rejected,
            hops: read.hops,
            operations,
            repairs: Vec::new(),
        })
    }

    fn read_diffs(&mut self) -> ChainRead {
        read_chain(&mut self.follow, &mut self.wanted, &self.full)
    }
}

/// Deletes the reload flag (a missing one is fine).
fn remove_reload_flag(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::debug!("{}: deleted", path.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("{}: cannot delete: {e}", path.display()),
    }
}

/// Reads `ipvsfull.cfg` and the diff chain it names.
fn load(path: &Path) -> Result<(FullConfig, Table, Follow, ChainRead), SyncError> {
    let full = FullConfig::load(path).map_err(SyncError::Config)?;
    for w in &full.warnings {
        tracing::warn!("{w}");
    }
    let mut wanted = full.to_table().map_err(|source| SyncError::Table {
        path: path.to_path_buf(),
        source,
    })?;
    let mut follow = Follow::new(PathBuf::from(&full.diff_file));
    let read = read_chain(&mut follow, &mut wanted, &full);
    Ok((full, wanted, follow, read))
}

/// Reads what was appended to the followed file (and the files it hops to), applying each record
/// to `wanted`; returns the operations to push.
fn read_chain(follow: &mut Follow, wanted: &mut Table, full: &FullConfig) -> ChainRead {
    let mut read = ChainRead::default();
    loop {
        let bytes = match read_from(&follow.path, follow.pos) {
            Ok(Some(b)) => b,
            Ok(None) => {
                read.truncated = true;
                return read;
            }
            Err(e) => {
                if !follow.missing {
                    tracing::warn!(
                        "{}: cannot read the diff file (waiting for it): {e}",
                        follow.path.display()
                    );
                    follow.missing = true;
                }
                return read;
            }
        };
        if follow.missing {
            tracing::info!("{}: now readable", follow.path.display());
            follow.missing = false;
        }
        follow.pos += bytes.len() as u64;
        let mut next = None;
        for ev in follow.reader.feed(&bytes) {
            for w in &ev.warnings {
                tracing::warn!("{w}");
            }
            if let Some(path) = &next {
                tracing::warn!(
                    "{}:{}: line after `DIFF file={path}` ignored",
                    follow.path.display(),
                    ev.line
                );
                continue;
            }
            match ev.result {
                Err(e) => {
                    read.rejected += 1;
                    tracing::warn!("{e}; line ignored");
                }
                Ok(DiffLine::Next(path)) => next = Some(path),
                Ok(DiffLine::Record(rec)) => {
                    match apply_to_table(&rec, wanted, |k| full.default_rt(k)) {
                        Ok(op) => {
                            read.records += 1;
                            tracing::debug!(
                                "{}:{}: {} {} real {}:{} weight {}",
                                follow.path.display(),
                                ev.line,
                                rec.cmd,
                                rec.vname,
                                rec.raddr,
                                rec.rport,
                                rec.rweight
                            );
                            read.ops.extend(op);
                        }
                        Err(e) => {
                            read.rejected += 1;
                            tracing::warn!(
                                "{}:{}: {} {e}; line ignored",
                                follow.path.display(),
                                ev.line,
                                rec.cmd
                            );
                        }
                    }
                }
            }
        }
        let Some(path) = next else {
            return read;
        };
        read.hops += 1;
        tracing::info!("{}: continuing with {path}", follow.path.display());
        // The hop is taken even at the limit: its `DIFF file=` line is consumed, and staying
        // would leave ipvssync on a file that has ended for good.
        *follow = Follow::new(PathBuf::from(path));
        if read.hops >= MAX_HOPS {
            tracing::error!(
                "{}: {MAX_HOPS} `DIFF file=` hops at once (a loop, or a long stall); \
                 going on at the next poll",
                follow.path.display()
            );
            return read;
        }
    }
}

/// The bytes of `path` from `pos` to its end; `None` when the file is shorter than `pos`.
fn read_from(path: &Path, pos: u64) -> io::Result<Option<Vec<u8>>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if len < pos {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(pos))?;
    let mut buf = Vec::with_capacity(usize::try_from(len - pos).unwrap_or(0));
    f.read_to_end(&mut buf)?;
    Ok(Some(buf))
}

/// What a repair operation means.
fn why(op: &Operation) -> &'static str {
    match op {
        Operation::AddService(_) => "deleted outside ipvssync",
        Operation::EditService(_) => "changed outside ipvssync",
        Operation::DeleteService(_) => "a service the files do not name, deleted under -u",
        Operation::AddDestination { .. } => "real deleted outside ipvssync",
        Operation::EditDestination { .. } => "real changed outside ipvssync",
        Operation::DeleteDestination { .. } => "a real of a managed service the files do not name",
    }
}

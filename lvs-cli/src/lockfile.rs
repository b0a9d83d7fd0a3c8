//! The lock surealived and ipvssync share: `flock(LOCK_EX)` on `lock_sync_file` (§3.9 of the
//! reference), held while the sync files are written or read.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Holds `flock(LOCK_EX)` on the lock file until dropped (closing the file releases it).
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

/// Takes `flock(LOCK_EX)` on `path`, waiting while another process holds it. With `create`
/// the file is created when missing (surealived's side); without, its absence is an error
/// (ipvssync's, as in the original).
pub(crate) fn lock(path: &Path, create: bool) -> io::Result<LockGuard> {
    let file = if create {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?
    } else {
        File::open(path)?
    };
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(LockGuard { _file: file })
}

//! The text files surealived and ipvssync exchange and keep, read and written byte-compatibly with
//! the originals.
//!
//! * [`ipvsfull`]: `ipvsfull.cfg`, the full wanted table;
//! * [`diffs`]: the diff files (`diff_sync.<unix-seconds>`) and their `DIFF file=` chain;
//! * [`dumps`]: `offline.dump`, `override.dump`, `stats.dump` and `notify.dump`.

pub mod diffs;
pub mod dumps;
pub mod ipvsfull;

/// The most warnings a reader keeps for one file (and for one diff line parsed on its own). The
/// others are counted, not built, and reported by one last warning (`N more warnings
/// suppressed`), so a file full of unknown keys cannot exhaust memory.
pub const MAX_WARNINGS: usize = 100;

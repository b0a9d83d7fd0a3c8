//! The text files surealived and ipvssync exchange and keep, read and written byte-compatibly with
//! the originals.
//!
//! * [`ipvsfull`]: `ipvsfull.cfg`, the full wanted table;
//! * [`diffs`]: the diff files (`diff_sync.<unix-seconds>`) and their `DIFF file=` chain;
//! * [`dumps`]: `offline.dump`, `override.dump`, `stats.dump` and `notify.dump`.

pub mod diffs;
pub mod dumps;
pub mod ipvsfull;

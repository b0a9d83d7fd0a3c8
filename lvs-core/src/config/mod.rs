//! Configuration loaders, each in two stages: raw structs that mirror the file, then a validated
//! configuration with every default and inheritance resolved. Only the validated form travels.
//!
//! * [`xml`]: the surealived XML service file (virtuals, testers, reals);
//! * [`surealived_cfg`]: the main `surealived.cfg` (also read by ipvssync);
//! * [`feedbackd`]: the feedbackd master and agent configuration files.

pub mod feedbackd;
pub mod surealived_cfg;
pub mod xml;

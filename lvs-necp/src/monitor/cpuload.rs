//! `cpuload`: the share of time the CPUs spent idle between two samples of `/proc/stat`.
//!
//! ```text
//! cpu  user nice system idle iowait irq softirq steal guest guest_nice   (USER_HZ ticks)
//! health = round(100 * (Δidle + Δiowait) / (Δuser + Δnice + Δsystem + Δidle + Δiowait
//!                                            + Δirq + Δsoftirq + Δsteal))
//! ```
//!
//! The aggregate `cpu ` line is used (all CPUs together). Time waiting for I/O counts as idle: the
//! CPU could have run other work then (this is what `top` and `mpstat` call idle + wa). `guest`
//! and `guest_nice` are left out of the total because the kernel already counts them in `user`
//! and `nice`. Older kernels print fewer columns; missing ones count as 0. A counter that goes
//! backwards (iowait does on some kernels) counts as no change.
//!
//! The constructor takes the first sample, so the first [`health`](HealthMonitor::health)
//! measures since construction, and each later call since the previous one. When no tick was
//! counted in between (two calls within one tick), the previous sample is kept and the previous
//! value reported; if there is none yet, the monitor samples again 100 ms later, and fails if
//! still nothing was counted.
//!
//! `/proc/stat` is read with blocking `std::fs`: procfs reads are served from memory and do not
//! wait on a disk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;

use super::{HealthMonitor, MonitorError};

/// Where the kernel's CPU counters are.
pub const PROC_STAT: &str = "/proc/stat";

/// How long to wait for a second sample when the first call finds no tick counted.
const RESAMPLE: Duration = Duration::from_millis(100);

/// The `cpuload` monitor (`monitor = cpuload.so`).
#[derive(Debug, Clone)]
pub struct CpuLoad {
    path: PathBuf,
    last: Sample,
    value: Option<u8>,
}

/// Idle and total ticks of the `cpu ` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    /// `user nice system idle iowait irq softirq steal`.
    fields: [u64; 8],
}

impl Sample {
    fn read(path: &Path) -> Result<Self, MonitorError> {
        let err = |reason: String| MonitorError::ProcStat {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let line = text
            .lines()
            .find(|l| l.starts_with("cpu "))
            .ok_or_else(|| err("no `cpu ` line".into()))?;
        let mut fields = [0u64; 8];
        let mut n = 0;
        for (slot, word) in fields.iter_mut().zip(line.split_whitespace().skip(1)) {
            *slot = word
                .parse()
                .map_err(|_| err(format!("`{word}` in the `cpu ` line is not a counter")))?;
            n += 1;
        }
        if n < 4 {
            return Err(err(format!(
                "the `cpu ` line has {n} counters, fewer than the 4 of user nice system idle"
            )));
        }
        Ok(Self { fields })
    }

    /// Idle (idle + iowait) and total ticks counted from `earlier` to `self`.
    fn since(&self, earlier: &Sample) -> (u64, u64) {
        let d: Vec<u64> = self
            .fields
            .iter()
            .zip(earlier.fields.iter())
            .map(|(now, then)| now.saturating_sub(*then))
            .collect();
        (
            d[3].saturating_add(d[4]),
            d.iter().fold(0u64, |a, b| a.saturating_add(*b)),
        )
    }
}

impl CpuLoad {
    /// A monitor of [`PROC_STAT`], taking its first sample now.
    pub fn new() -> Result<Self, MonitorError> {
        Self::with_path(PROC_STAT)
    }

    /// A monitor reading `path` instead of `/proc/stat` (for tests), taking its first sample now.
    pub fn with_path(path: impl Into<PathBuf>) -> Result<Self, MonitorError> {
        let path = path.into();
        let last = Sample::read(&path)?;
        Ok(Self {
            path,
            last,
            value: None,
        })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The health since the last sample, if a tick was counted; moves the last sample forward.
    fn measure(&mut self) -> Result<Option<u8>, MonitorError> {
        let now = Sample::read(&self.path)?;
        let (idle, total) = now.since(&self.last);
        if total == 0 {
            return Ok(None);
        }
        self.last = now;
        // idle <= total, so the quotient is within 0..=100; u128 cannot overflow.
        let (idle, total) = (u128::from(idle), u128::from(total));
        let value = u8::try_from((idle * 100 + total / 2) / total).unwrap_or(100);
        self.value = Some(value);
        Ok(Some(value))
    }
}

#[async_trait]
impl HealthMonitor for CpuLoad {
    async fn health(&mut self) -> Result<u8, MonitorError> {
        if let Some(v) = self.measure()? {
            return Ok(v);
        }
        if let Some(v) = self.value {
            return Ok(v);
        }
        tokio::time::sleep(RESAMPLE).await;
        self.measure()?.ok_or_else(|| MonitorError::ProcStat {
            path: self.path.clone(),
            reason: format!(
                "no CPU time counted in the `cpu ` line over {} ms",
                RESAMPLE.as_millis()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas() {
        let a = Sample {
            fields: [100, 0, 100, 700, 100, 0, 0, 0],
        };
        let b = Sample {
            // iowait went backwards: counts as 0.
            fields: [150, 0, 150, 1000, 90, 0, 0, 0],
        };
        assert_eq!(b.since(&a), (300, 400));
        assert_eq!(a.since(&a), (0, 0));
    }
}

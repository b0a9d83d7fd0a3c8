//! A small lock-free histogram of scheduling lag (actual start minus planned start).
//!
//! Log-linear buckets: exact below 16 µs, then 16 buckets per power of two (at most 6.25 %
//! relative error), up to 2^40 µs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SUB: u32 = 16;
const BUCKETS: usize = (SUB + 37 * SUB) as usize;

fn index(us: u64) -> usize {
    if us < u64::from(SUB) {
        return us as usize;
    }
    let e = 63 - us.leading_zeros(); // >= 4
    let m = (us >> (e - 4)) & u64::from(SUB - 1);
    ((SUB + (e - 4) * SUB) as usize + m as usize).min(BUCKETS - 1)
}

fn lower_bound(idx: usize) -> u64 {
    let idx = idx as u64;
    let sub = u64::from(SUB);
    if idx < sub {
        return idx;
    }
    let e = (idx - sub) / sub + 4;
    let m = (idx - sub) % sub;
    (sub + m) << (e - 4)
}

/// Counts of lag samples, updated by the engine on every test start.
#[derive(Debug)]
pub(crate) struct LagHistogram {
    buckets: Box<[AtomicU64]>,
}

impl LagHistogram {
    pub(crate) fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub(crate) fn record(&self, lag: Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.buckets[index(us)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LagSnapshot {
        LagSnapshot {
            counts: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// The scheduling lag of the tests started so far (see [`crate::engine::Engine::scheduling_lag`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagSnapshot {
    counts: Vec<u64>,
}

impl LagSnapshot {
    /// Number of test starts counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The lag of the starts counted here but not in `earlier` (an older snapshot), to measure
    /// a window of time.
    pub fn since(&self, earlier: &LagSnapshot) -> LagSnapshot {
        LagSnapshot {
            counts: self
                .counts
                .iter()
                .zip(earlier.counts.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
        }
    }

    /// Adds the starts counted in `other` to these, to take the lag over several windows (of
    /// one engine or of several).
    pub fn merge(&mut self, other: &LagSnapshot) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
    }

    /// The `q` quantile (0.0..=1.0) of the lag, to about 6 % (the lower bound of its bucket);
    /// zero when nothing was counted.
    pub fn quantile(&self, q: f64) -> Duration {
        let n = self.count();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(lower_bound(i));
            }
        }
        Duration::from_micros(lower_bound(self.counts.len() - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for us in [0u64, 1, 15, 16, 17, 31, 32, 100, 1000, 49_999, 1 << 30] {
            let i = index(us);
            assert!(i >= last);
            last = i;
            let lb = lower_bound(i);
            assert!(lb <= us && us - lb <= us / 16, "{us} -> {lb}");
        }
    }

    #[test]
    fn quantiles() {
        let h = LagHistogram::new();
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us * 1000));
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 100);
        let p50 = s.quantile(0.5).as_micros() as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.07, "{p50}");
        let p99 = s.quantile(0.99).as_micros() as f64;
        assert!((p99 - 99_000.0).abs() / 99_000.0 < 0.07, "{p99}");
        assert_eq!(s.since(&s).count(), 0);
    }

    #[test]
    fn merge_adds_windows() {
        let (a, b) = (LagHistogram::new(), LagHistogram::new());
        for us in 1..=50u64 {
            a.record(Duration::from_micros(us * 1000));
        }
        for us in 51..=100u64 {
            b.record(Duration::from_micros(us * 1000));
        }
        let mut m = a.snapshot();
        m.merge(&b.snapshot());
        assert_eq!(m.count(), 100);
        let p99 = m.quantile(0.99).as_micros() as f64;
        assert!((p99 - 99_000.0).abs() / 99_000.0 < 0.07, "{p99}");
        assert_eq!(m.since(&a.snapshot()), b.snapshot());
    }
}

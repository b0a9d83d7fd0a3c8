//! Test statistics as surealived keeps them: per real the last test's times, their average over
//! the last `stats_samples` tests, their lifetime average, and the connection-problem counters;
//! per virtual the aggregate of its reals.
//!
//! Times are in microseconds: connect (start to connection), response (connection to end) and
//! total (start to end). A test that got no connection records the original's markers as its
//! connect time: −1 ms when no connection came before the timeout, −2 ms for an unreachable host
//! (the original's "ARP problem"), −3 ms for a refused connection (RST), with a response time of
//! 0. They enter the averages as the original's did (so averages can be negative).

use std::time::Duration;

use lvs_core::formats::dumps::{Problems, RealStatsRecord, Times};
use lvs_core::model::DestKey;

use crate::outcome::{ConnProblem, Outcome};

/// The times of one test, in µs: (connect, response, total).
pub type TimesUs = Times<i64>;

/// Connection-problem counters (`connprob:arpprob:rstprob`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ProblemCounts {
    /// No connection before the deadline.
    pub conn: u64,
    /// Unreachable host or network (the original's ARP problem).
    pub arp: u64,
    /// Connection refused (RST).
    pub rst: u64,
}

impl ProblemCounts {
    fn add(&mut self, p: ConnProblem) {
        match p {
            ConnProblem::Conn => self.conn += 1,
            ConnProblem::Arp => self.arp += 1,
            ConnProblem::Rst => self.rst += 1,
        }
    }

    fn sum(&mut self, o: &ProblemCounts) {
        self.conn += o.conn;
        self.arp += o.arp;
        self.rst += o.rst;
    }

    /// The `stats.dump` form (the original's C `int`s, saturated).
    pub fn to_dump(&self) -> Problems {
        let c = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        Problems {
            conn: c(self.conn),
            arp: c(self.arp),
            rst: c(self.rst),
        }
    }
}

/// The statistics sample of one finished test (µs), as the original records it.
pub fn sample_of(outcome: &Outcome) -> TimesUs {
    let us = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    let total = us(outcome.timings.total);
    match outcome.failure().and_then(|f| f.conn_problem()) {
        Some(p) => Times {
            conn: match p {
                ConnProblem::Conn => -1000,
                ConnProblem::Arp => -2000,
                ConnProblem::Rst => -3000,
            },
            resp: 0,
            total,
        },
        None => {
            let conn = outcome.timings.connect.map(us).unwrap_or(0).min(total);
            Times {
                conn,
                resp: total - conn,
                total,
            }
        }
    }
}

/// The statistics of one real in one virtual (what `connstats` shows and `stats.dump` keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealStats {
    /// Tests recorded.
    pub total: u64,
    /// Tests that passed.
    pub successes: u64,
    /// Tests that failed.
    pub failures: u64,
    /// The last test's times (µs).
    pub last: TimesUs,
    /// Average over the last `stats_samples` tests (µs).
    pub sample_avg: TimesUs,
    /// Lifetime sums (µs).
    pub lifetime_sum: TimesUs,
    /// Connection problems.
    pub problems: ProblemCounts,
}

impl RealStats {
    /// Lifetime averages (µs), 0 before the first test.
    pub fn lifetime_avg(&self) -> TimesUs {
        let n = i64::try_from(self.total.max(1)).unwrap_or(i64::MAX);
        Times {
            conn: self.lifetime_sum.conn / n,
            resp: self.lifetime_sum.resp / n,
            total: self.lifetime_sum.total / n,
        }
    }

    /// The `stats.dump` `rstats` record of this real (ms values are µs / 1000, truncated).
    pub fn to_record(&self, real: DestKey) -> RealStatsRecord {
        let i = |v: i64| i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX });
        let ms = |t: TimesUs| Times {
            conn: i(t.conn / 1000),
            resp: i(t.resp / 1000),
            total: i(t.total / 1000),
        };
        let us = |t: TimesUs| Times {
            conn: i(t.conn),
            resp: i(t.resp),
            total: i(t.total),
        };
        RealStatsRecord {
            real,
            total: i32::try_from(self.total).unwrap_or(i32::MAX),
            avg_ms: ms(self.sample_avg),
            avg_us: us(self.sample_avg),
            total_ms: Times {
                conn: self.lifetime_sum.conn / 1000,
                resp: self.lifetime_sum.resp / 1000,
                total: self.lifetime_sum.total / 1000,
            },
            total_us: self.lifetime_sum,
            problems: self.problems.to_dump(),
        }
    }
}

/// The running statistics of a real: [`RealStats`] plus the ring of samples.
#[derive(Debug, Clone)]
pub(crate) struct StatsKeeper {
    ring: Vec<Times<i32>>,
    next: usize,
    capacity: usize,
    ring_sum: TimesUs,
    stats: RealStats,
}

impl StatsKeeper {
    /// Keeps the average over `samples` tests (at least 1).
    pub(crate) fn new(samples: u32) -> Self {
        let capacity = samples.max(1) as usize;
        Self {
            ring: Vec::new(),
            next: 0,
            capacity,
            ring_sum: TimesUs::default(),
            stats: RealStats {
                total: 0,
                successes: 0,
                failures: 0,
                last: TimesUs::default(),
                sample_avg: TimesUs::default(),
                lifetime_sum: TimesUs::default(),
                problems: ProblemCounts::default(),
            },
        }
    }

    /// Changes the ring's size, keeping the newest samples.
    pub(crate) fn resize(&mut self, samples: u32) {
        let capacity = samples.max(1) as usize;
        if capacity == self.capacity {
            return;
        }
        let mut newest: Vec<Times<i32>> = Vec::with_capacity(self.ring.len());
        let n = self.ring.len();
        for k in 0..n {
            // Oldest first.
            let idx = if n < self.capacity {
                k
            } else {
                (self.next + k) % n
            };
            newest.push(self.ring[idx]);
        }
        let keep = newest.split_off(newest.len().saturating_sub(capacity));
        *self = Self {
            ring: Vec::new(),
            next: 0,
            capacity,
            ring_sum: TimesUs::default(),
            stats: self.stats.clone(),
        };
        for s in keep {
            self.push_sample(s);
        }
        self.update_avg();
    }

    fn push_sample(&mut self, s: Times<i32>) {
        let add = |sum: &mut TimesUs, t: Times<i32>, sign: i64| {
            sum.conn += sign * i64::from(t.conn);
            sum.resp += sign * i64::from(t.resp);
            sum.total += sign * i64::from(t.total);
        };
        if self.ring.len() < self.capacity {
            if self.ring.is_empty() {
                // Exactly the ring's size, not a doubling growth's.
                self.ring.reserve_exact(self.capacity);
            }
            self.ring.push(s);
        } else {
            let old = std::mem::replace(&mut self.ring[self.next], s);
            add(&mut self.ring_sum, old, -1);
            self.next = (self.next + 1) % self.capacity;
        }
        add(&mut self.ring_sum, s, 1);
    }

    fn update_avg(&mut self) {
        let n = i64::try_from(self.ring.len().max(1)).unwrap_or(1);
        self.stats.sample_avg = Times {
            conn: self.ring_sum.conn / n,
            resp: self.ring_sum.resp / n,
            total: self.ring_sum.total / n,
        };
    }

    /// Records one finished test.
    pub(crate) fn record(&mut self, outcome: &Outcome, sample: TimesUs) {
        let st = &mut self.stats;
        st.total += 1;
        if outcome.is_ok() {
            st.successes += 1;
        } else {
            st.failures += 1;
        }
        if let Some(p) = outcome.failure().and_then(|f| f.conn_problem()) {
            st.problems.add(p);
        }
        st.last = sample;
        st.lifetime_sum.conn = st.lifetime_sum.conn.saturating_add(sample.conn);
        st.lifetime_sum.resp = st.lifetime_sum.resp.saturating_add(sample.resp);
        st.lifetime_sum.total = st.lifetime_sum.total.saturating_add(sample.total);
        let c = |v: i64| i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX });
        self.push_sample(Times {
            conn: c(sample.conn),
            resp: c(sample.resp),
            total: c(sample.total),
        });
        self.update_avg();
    }

    /// Takes the counters of a `stats.dump` record (see `Engine::seed_stats`).
    pub(crate) fn seed(&mut self, r: &RealStatsRecord) {
        let u = |v: i32| u64::try_from(v).unwrap_or(0);
        let st = &mut self.stats;
        st.total = u(r.total);
        st.lifetime_sum = r.total_us;
        st.problems = ProblemCounts {
            conn: u(r.problems.conn),
            arp: u(r.problems.arp),
            rst: u(r.problems.rst),
        };
        st.sample_avg = Times {
            conn: i64::from(r.avg_us.conn),
            resp: i64::from(r.avg_us.resp),
            total: i64::from(r.avg_us.total),
        };
    }

    pub(crate) fn stats(&self) -> &RealStats {
        &self.stats
    }
}

/// The statistics of a virtual, derived from its reals' when read: the original's `vstats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualStats {
    /// The tester's `stats_samples`.
    pub samples: u32,
    /// Tests recorded over all its reals.
    pub total: u64,
    /// Mean of the reals' sample averages (µs), over the reals tested at least once.
    pub sample_avg: TimesUs,
    /// Connection problems over all its reals.
    pub problems: ProblemCounts,
}

impl VirtualStats {
    pub(crate) fn of<'a>(samples: u32, reals: impl Iterator<Item = &'a RealStats>) -> Self {
        let mut total = 0;
        let mut sum = TimesUs::default();
        let mut tested = 0i64;
        let mut problems = ProblemCounts::default();
        for r in reals {
            total += r.total;
            problems.sum(&r.problems);
            if r.total > 0 {
                tested += 1;
                sum.conn += r.sample_avg.conn;
                sum.resp += r.sample_avg.resp;
                sum.total += r.sample_avg.total;
            }
        }
        let n = tested.max(1);
        Self {
            samples,
            total,
            sample_avg: Times {
                conn: sum.conn / n,
                resp: sum.resp / n,
                total: sum.total / n,
            },
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, Timings};

    fn outcome(result: Result<(), Failure>, connect_ms: Option<u64>, total_ms: u64) -> Outcome {
        Outcome {
            result,
            timings: Timings {
                connect: connect_ms.map(Duration::from_millis),
                tls: None,
                first_response: None,
                total: Duration::from_millis(total_ms),
            },
            bytes_sent: 0,
            bytes_received: 0,
            transcript: None,
            output: None,
        }
    }

    #[test]
    fn ring_averages_the_last_samples() {
        let mut k = StatsKeeper::new(2);
        for (c, t) in [(1, 3), (2, 6), (4, 10)] {
            let o = outcome(Ok(()), Some(c), t);
            k.record(&o, sample_of(&o));
        }
        let s = k.stats();
        assert_eq!(s.total, 3);
        assert_eq!(
            s.last,
            Times {
                conn: 4000,
                resp: 6000,
                total: 10000
            }
        );
        // (2+4)/2, (4+6)/2, (6+10)/2
        assert_eq!(
            s.sample_avg,
            Times {
                conn: 3000,
                resp: 5000,
                total: 8000
            }
        );
        assert_eq!(
            s.lifetime_sum,
            Times {
                conn: 7000,
                resp: 12000,
                total: 19000
            }
        );
        assert_eq!(
            s.lifetime_avg(),
            Times {
                conn: 2333,
                resp: 4000,
                total: 6333
            }
        );
        k.resize(1);
        assert_eq!(
            k.stats().sample_avg,
            Times {
                conn: 4000,
                resp: 6000,
                total: 10000
            }
        );
        k.resize(5);
        assert_eq!(
            k.stats().sample_avg,
            Times {
                conn: 4000,
                resp: 6000,
                total: 10000
            }
        );
    }

    #[test]
    fn seeded_from_a_stats_dump_record_round_trips() {
        let o = outcome(Ok(()), Some(2), 6);
        let mut a = StatsKeeper::new(20);
        for _ in 0..3 {
            a.record(&o, sample_of(&o));
        }
        let real = DestKey {
            addr: "10.0.0.1".parse().expect("ip"),
            port: 80,
        };
        let rec = a.stats().to_record(real);
        let mut b = StatsKeeper::new(20);
        b.seed(&rec);
        assert_eq!(b.stats().to_record(real), rec);
        // Counting goes on from the seeded values.
        b.record(&o, sample_of(&o));
        assert_eq!(b.stats().total, 4);
        assert_eq!(b.stats().lifetime_sum.total, 24_000);
    }

    #[test]
    fn connection_problems_record_the_originals_markers() {
        let mut k = StatsKeeper::new(20);
        for f in [
            Failure::Refused,
            Failure::ConnectTimeout,
            Failure::Unreachable { errno: 113 },
        ] {
            let o = outcome(Err(f), None, 5);
            k.record(&o, sample_of(&o));
        }
        let s = k.stats();
        assert_eq!(
            s.problems,
            ProblemCounts {
                conn: 1,
                arp: 1,
                rst: 1
            }
        );
        assert_eq!(s.last.conn, -2000);
        assert_eq!(s.sample_avg.conn, -2000);
        assert_eq!(s.failures, 3);
        let rec = s.to_record(DestKey {
            addr: std::net::Ipv4Addr::LOCALHOST.into(),
            port: 80,
        });
        assert_eq!(rec.avg_ms.conn, -2);
        assert_eq!(
            rec.problems,
            Problems {
                conn: 1,
                arp: 1,
                rst: 1
            }
        );
    }
}

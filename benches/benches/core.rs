//! criterion benchmarks of `lvs-core`: the table diff and its application, on a table of
//! 10,000 services with 5 destinations each (50,000 destinations).
//!
//! * `diff/one_weight`: two tables that differ in one destination's weight (one operation);
//! * `diff/one_percent`: two tables that differ in 1% of the destinations' weights (500
//!   operations);
//! * `diff/identical`: two equal tables (no operation: the cost of comparing alone);
//! * `apply_all/one_percent`: applying those 500 edits to a copy of the table;
//! * `apply_all/build`: building the table from empty (60,000 operations).
//!
//! In the `apply_all` benches neither the copy of the input table (`iter_batched` setup) nor the
//! drop of the result is timed.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lvs_benches::{build_ops, table, with_one_weight_changed, with_weights_changed};
use lvs_core::model::{diff, Table, UnmanagedPolicy};

const SERVICES: u32 = 10_000;
const DESTS: u32 = 5;

fn bench_diff(c: &mut Criterion) {
    let a = table(SERVICES, DESTS);
    let one = with_one_weight_changed(&a);
    let pct = with_weights_changed(&a, 100);
    let same = a.clone();
    let mut g = c.benchmark_group("diff");
    g.bench_function("one_weight", |b| {
        b.iter(|| diff(black_box(&a), black_box(&one), UnmanagedPolicy::Delete))
    });
    g.bench_function("one_percent", |b| {
        b.iter(|| diff(black_box(&a), black_box(&pct), UnmanagedPolicy::Delete))
    });
    g.bench_function("identical", |b| {
        b.iter(|| diff(black_box(&a), black_box(&same), UnmanagedPolicy::Delete))
    });
    g.finish();
}

fn bench_apply(c: &mut Criterion) {
    let a = table(SERVICES, DESTS);
    let pct_ops = diff(&a, &with_weights_changed(&a, 100), UnmanagedPolicy::Delete);
    let build = build_ops(&a);
    let mut g = c.benchmark_group("apply_all");
    g.bench_function("one_percent", |b| {
        b.iter_batched(
            || a.clone(),
            |mut t| {
                let r = t.apply_all(black_box(&pct_ops));
                (t, r)
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("build", |b| {
        b.iter_batched(
            Table::new,
            |mut t| {
                let r = t.apply_all(black_box(&build));
                (t, r)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_diff, bench_apply);
criterion_main!(benches);

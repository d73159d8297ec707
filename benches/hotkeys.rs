//! The hot-key tracker's cost (issue #18), with no network and no store,
//! over `make bench`'s 32-byte keys (100 000 of them, uniform: the
//! sketch's worst case, nearly every sample a new key):
//! - `off`: the request path's hook with tracking off (one `Option` test);
//! - `countdown`: the hook of a request that is not sampled;
//! - `sample`: a sampled request (its key appended to the worker's
//!   buffer), per sample;
//! - `merge`: the maintenance thread's share of a sample (draining the
//!   buffer and counting it in the Space-Saving sketch), per sample.
//!
//! A worker takes about `SAMPLES_PER_SEC` samples a second whatever its
//! rate, so `SAMPLES_PER_SEC × (sample + merge)` is the tracker's CPU per
//! second per busy worker.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrocache::hotkeys::{Every, Op, Sampler, Tracker};
use std::hint::black_box;

const BATCH: usize = 4096;

fn keys() -> Vec<Vec<u8>> {
    // A fixed pseudo-random sequence of key ids.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..BATCH)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("k{:031}", x % 100_000).into_bytes()
        })
        .collect()
}

fn bench_hook(c: &mut Criterion) {
    let keys = keys();
    let mut g = c.benchmark_group("hotkeys");
    g.throughput(Throughput::Elements(BATCH as u64));
    // No sampler (`-o hot_keys=off`): the hook is this test.
    let off: Option<Sampler> = None;
    g.bench_function("off", |b| {
        b.iter(|| {
            for k in &keys {
                if let Some(s) = black_box(&off) {
                    if s.due() {
                        s.record(k, Op::Read { miss: false });
                    }
                }
            }
        })
    });
    // A gap longer than the run: every request only counts down.
    let on = Some(Sampler::new(Every::Fixed(1_000_000), 1));
    g.bench_function("countdown", |b| {
        b.iter(|| {
            for k in &keys {
                if let Some(s) = black_box(&on) {
                    if s.due() {
                        s.record(k, Op::Read { miss: false });
                    }
                }
            }
        })
    });
    // Every request sampled; the buffer is swapped out after each batch,
    // as the maintenance thread does once a second.
    let every = Sampler::new(Every::Fixed(1), 1);
    let mut drained = Vec::new();
    g.bench_function("sample", |b| {
        b.iter(|| {
            for k in &keys {
                if every.due() {
                    every.record(k, Op::Read { miss: false });
                }
            }
            every.drain(1.0, &mut drained);
        })
    });
    let mut tracker = Tracker::new(20);
    g.bench_function("merge", |b| {
        b.iter_batched(
            || {
                for k in &keys {
                    every.record(k, Op::Read { miss: false });
                }
            },
            |()| tracker.merge(1.0, [&every]),
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_hook);
criterion_main!(benches);

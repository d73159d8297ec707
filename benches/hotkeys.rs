//! The hot-key hook's cost per request (issue #18), with no network and no
//! store: the countdown alone, and the countdown plus the 1-in-16 sample
//! into the worker's sketch, over `make bench`'s 32-byte keys (100 000 of
//! them, uniform: the sketch's worst case, every sample a new key).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrocache::hotkeys::{Op, Sampler, DEFAULT_SAMPLE, SKETCH_CAPACITY};
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
    let on = Some(Sampler::new(DEFAULT_SAMPLE, SKETCH_CAPACITY, 1));
    g.bench_function("on_1_in_16", |b| {
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
    g.finish();
}

criterion_group!(benches, bench_hook);
criterion_main!(benches);

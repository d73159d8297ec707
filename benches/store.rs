//! Store micro-benchmarks: `Cache::get` and `Cache::store` from 1, 2, 4 and
//! 8 threads at once, no IO. Each iteration is a fixed batch of operations
//! per thread, so the reported throughput (elements/s) is the aggregate of
//! all threads and scaling shows directly. The threads only scale as far as
//! the machine has cores: `make bench` records `nproc` next to the figures.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrocache::clock::Clock;
use ferrocache::store::{Cache, CacheConfig, StoreMode};

const KEYS: usize = 100_000;
const OPS_PER_THREAD: usize = 20_000;
const THREADS: [usize; 4] = [1, 2, 4, 8];

fn key(i: usize) -> Vec<u8> {
    format!("k{i:031}").into_bytes()
}

fn filled_cache() -> (Arc<Cache>, Arc<Vec<Vec<u8>>>) {
    let config = CacheConfig {
        memory_limit: 256 << 20,
        ..CacheConfig::default()
    };
    let cache = Arc::new(Cache::new(config, Arc::new(Clock::new())));
    let keys: Vec<Vec<u8>> = (0..KEYS).map(key).collect();
    let value = [b'v'; 100];
    for k in &keys {
        cache
            .store(StoreMode::Set, k, 0, 0, &value)
            .expect("prefill fits");
    }
    (cache, Arc::new(keys))
}

#[derive(Clone, Copy)]
enum Mix {
    Get,
    Set,
    /// 1 set per 10 gets, as in the network benchmark.
    Mixed,
}

/// Time `iters` rounds of `threads` threads each doing OPS_PER_THREAD ops.
fn run(
    cache: &Arc<Cache>,
    keys: &Arc<Vec<Vec<u8>>>,
    threads: usize,
    mix: Mix,
    iters: u64,
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (cache, keys, barrier) = (cache.clone(), keys.clone(), barrier.clone());
            std::thread::spawn(move || {
                let value = [b'w'; 100];
                // Distinct xorshift streams per thread over the key space.
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                barrier.wait();
                let mut hits = 0usize;
                // A get copies the value out under the lock, as the server does.
                let mut out = Vec::with_capacity(256);
                for _ in 0..iters {
                    for i in 0..OPS_PER_THREAD {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let k = &keys[(x % KEYS as u64) as usize];
                        let set = match mix {
                            Mix::Get => false,
                            Mix::Set => true,
                            Mix::Mixed => i % 11 == 0,
                        };
                        if set {
                            let _ = cache.store(StoreMode::Set, k, 0, 0, &value);
                        } else {
                            hits += cache
                                .get(k, |v| {
                                    out.clear();
                                    v.value.bytes().extend_into(&mut out);
                                    out.len()
                                })
                                .unwrap_or(0);
                        }
                    }
                }
                std::hint::black_box(hits);
                barrier.wait();
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    barrier.wait();
    let elapsed = start.elapsed();
    for h in handles {
        h.join().expect("bench thread");
    }
    elapsed
}

fn bench_store(c: &mut Criterion) {
    let (cache, keys) = filled_cache();
    for (name, mix) in [
        ("get", Mix::Get),
        ("set", Mix::Set),
        ("mixed_1_10", Mix::Mixed),
    ] {
        let mut g = c.benchmark_group(format!("store_{name}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2));
        for threads in THREADS {
            g.throughput(Throughput::Elements((threads * OPS_PER_THREAD) as u64));
            g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &t| {
                b.iter_custom(|iters| run(&cache, &keys, t, mix, iters))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench_store);
criterion_main!(benches);

//! Text-protocol parser micro-benchmarks: the requests `make bench` sends,
//! one at a time and as a pipelined batch, with no network and no store.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ferrocache::protocol::text::{parse, Limits};
use ferrocache::protocol::Status;
use std::hint::black_box;

const LIMITS: Limits = Limits { max_value: 1 << 20 };

fn key(i: usize) -> String {
    format!("k{i:031}")
}

fn set_request(i: usize) -> Vec<u8> {
    let mut r = format!("set {} 0 0 100\r\n", key(i)).into_bytes();
    r.extend_from_slice(&[b'v'; 100]);
    r.extend_from_slice(b"\r\n");
    r
}

/// Parse every request in `buf`, as a connection's read loop would.
fn parse_all(buf: &[u8]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while pos < buf.len() {
        match parse(&buf[pos..], &LIMITS) {
            Ok(Status::Complete(req, used)) => {
                black_box(req);
                pos += used;
                n += 1;
            }
            Ok(Status::Incomplete) => break,
            Err(e) => pos += e.consumed.max(1),
        }
    }
    n
}

fn bench_parser(c: &mut Criterion) {
    let mut g = c.benchmark_group("text_parse");
    let get = format!("get {}\r\n", key(7)).into_bytes();
    let set = set_request(7);
    let multi = format!("get {} {} {} {}\r\n", key(1), key(2), key(3), key(4)).into_bytes();
    g.throughput(Throughput::Elements(1));
    g.bench_function("get_32b_key", |b| {
        b.iter(|| parse(black_box(&get), &LIMITS))
    });
    g.bench_function("set_32b_key_100b_value", |b| {
        b.iter(|| parse(black_box(&set), &LIMITS))
    });
    g.bench_function("get_4_keys", |b| {
        b.iter(|| parse(black_box(&multi), &LIMITS))
    });
    // The make-bench mix: 1 set per 10 gets, pipelined 16 deep.
    let batch: Vec<u8> = (0..16)
        .flat_map(|i| {
            if i % 11 == 0 {
                set_request(i)
            } else {
                format!("get {}\r\n", key(i)).into_bytes()
            }
        })
        .collect();
    g.throughput(Throughput::Elements(16));
    g.bench_function("pipeline_16_mix_1_10", |b| {
        b.iter_batched_ref(
            || batch.clone(),
            |buf| parse_all(buf),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_parser);
criterion_main!(benches);

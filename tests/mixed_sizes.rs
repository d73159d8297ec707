//! Holds what fits: values of mixed sizes, side by side with Debian's
//! memcached (the reference), each server fresh with `-t 2 -m M`.
//!
//! Every workload writes each key once and reads every key back; ferrocache
//! must evict no more than memcached (none where memcached evicts none) and
//! keep at least as many items. Then the cases where the cache is too small:
//! an over-full Zipf workload (hit ratio and bytes held), and a shift of
//! value sizes (the cache must not calcify). No timing: every loop is
//! bounded by a count.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{Conn, TestServer};

const MEMCACHED: &str = "/usr/bin/memcached";

fn ferrocache() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrocache"))
}

fn memcached() -> PathBuf {
    let p = PathBuf::from(MEMCACHED);
    assert!(
        p.exists(),
        "{MEMCACHED} is the reference for these tests: `make deps` installs it"
    );
    p
}

/// splitmix64: a small deterministic generator, so both servers see the
/// same sizes and keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, Debug)]
enum Sizes {
    Uniform(usize, usize),
    LogUniform(usize, usize),
    /// Facebook's ETC pool (Atikoglu et al., SIGMETRICS 2012): generalized
    /// Pareto, location 0, scale 214.476, shape 0.348238.
    Etc,
}

impl Sizes {
    fn draw(self, rng: &mut Rng) -> usize {
        match self {
            Sizes::Uniform(a, b) => a + (rng.next() % (b - a + 1) as u64) as usize,
            Sizes::LogUniform(a, b) => {
                let (la, lb) = ((a as f64).ln(), (b as f64).ln());
                ((la + rng.unit() * (lb - la)).exp() as usize).clamp(a, b)
            }
            Sizes::Etc => {
                let (scale, shape) = (214.476, 0.348238);
                let u = rng.unit();
                let x = scale * ((1.0 - u).powf(-shape) - 1.0) / shape;
                (x as usize).min(500 * 1024)
            }
        }
    }
}

fn key(i: usize) -> String {
    format!("mix:{i:08}")
}

fn value(len: usize, i: usize) -> Vec<u8> {
    (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect()
}

/// Store every key once with noreply sets in ~1 MiB writes, fenced by a
/// `version` round trip so the client never runs far ahead.
fn fill(c: &mut Conn, sizes: &[usize]) {
    let mut batch = Vec::with_capacity(2 << 20);
    for (i, &len) in sizes.iter().enumerate() {
        write!(batch, "set {} 0 0 {len} noreply\r\n", key(i)).unwrap();
        batch.extend_from_slice(&value(len, i));
        batch.extend_from_slice(b"\r\n");
        if batch.len() >= 1 << 20 {
            c.send(&batch);
            batch.clear();
            c.assert_usable();
        }
    }
    c.send(&batch);
    c.assert_usable();
}

/// Multi-get `keys` and return which were hits, checking every value.
fn get_many(c: &mut Conn, keys: &[usize], sizes: &dyn Fn(usize) -> usize) -> Vec<bool> {
    let mut req = b"get".to_vec();
    for &k in keys {
        req.push(b' ');
        req.extend_from_slice(key(k).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    c.send(&req);
    let mut hit = vec![false; keys.len()];
    let mut at = 0;
    loop {
        let line = String::from_utf8(c.read_line()).unwrap();
        let line = line.trim_end();
        if line == "END" {
            return hit;
        }
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts[0], "VALUE", "{line}");
        let k: usize = parts[1]["mix:".len()..].parse().unwrap();
        let len: usize = parts[3].parse().unwrap();
        let data = c.read_exact_bytes(len + 2);
        assert_eq!(len, sizes(k), "length of {}", parts[1]);
        assert_eq!(&data[..len], &value(len, k)[..], "value of {}", parts[1]);
        while keys[at] != k {
            at += 1;
        }
        hit[at] = true;
    }
}

#[derive(Debug)]
#[allow(dead_code)] // every field is shown through Debug
struct Held {
    evictions: u64,
    curr_items: u64,
    read_back: usize,
    bytes: u64,
}

/// Run one "write every key once, read every key back" workload.
fn hold(bin: &Path, mem_mb: usize, sizes: &[usize]) -> Held {
    let server = TestServer::spawn_bin(bin, &["-t", "2", "-m", &mem_mb.to_string()], &[]);
    let mut c = server.conn();
    fill(&mut c, sizes);
    let all: Vec<usize> = (0..sizes.len()).collect();
    let read_back = all
        .chunks(100)
        .map(|ks| {
            get_many(&mut c, ks, &|k| sizes[k])
                .iter()
                .filter(|&&h| h)
                .count()
        })
        .sum();
    Held {
        evictions: c.stat("evictions"),
        curr_items: c.stat("curr_items"),
        bytes: c.stat("bytes"),
        read_back,
    }
}

/// Sizes for `keys` keys, or for as many keys as `data` bytes of values.
fn draw(seed: u64, dist: Sizes, keys: Option<usize>, data: Option<usize>) -> Vec<usize> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut total = 0;
    loop {
        if keys.is_some_and(|k| out.len() >= k) || data.is_some_and(|d| total >= d) {
            return out;
        }
        let s = dist.draw(&mut rng);
        total += s;
        out.push(s);
    }
}

#[track_caller]
fn holds_what_fits(name: &str, mem_mb: usize, sizes: Vec<usize>) {
    let data: usize = sizes.iter().sum();
    let mc = hold(&memcached(), mem_mb, &sizes);
    let fc = hold(&ferrocache(), mem_mb, &sizes);
    eprintln!(
        "{name}: {} keys, {:.1} MB of values, -m {mem_mb}\n  memcached  {mc:?}\n  ferrocache {fc:?}",
        sizes.len(),
        data as f64 / 1e6
    );
    assert!(
        fc.evictions <= mc.evictions,
        "{name}: ferrocache evicted {} items, memcached {}",
        fc.evictions,
        mc.evictions
    );
    assert!(
        fc.curr_items >= mc.curr_items,
        "{name}: ferrocache holds {} items, memcached {}",
        fc.curr_items,
        mc.curr_items
    );
    assert!(fc.read_back >= mc.read_back, "{name}: {fc:?} vs {mc:?}");
    if mc.evictions == 0 {
        assert_eq!(fc.read_back, sizes.len(), "{name}: every key reads back");
    }
}

#[test]
fn uniform_10_to_16k_in_256m() {
    let sizes = draw(1, Sizes::Uniform(10, 16_384), Some(25_000), None);
    holds_what_fits("uniform 10-16384 B", 256, sizes);
}

#[test]
fn uniform_10_to_1000_in_64m() {
    let sizes = draw(2, Sizes::Uniform(10, 1_000), Some(80_000), None);
    holds_what_fits("uniform 10-1000 B", 64, sizes);
}

#[test]
fn log_uniform_10_to_200k_32mb_in_64m() {
    let sizes = draw(3, Sizes::LogUniform(10, 200 * 1024), None, Some(32_000_000));
    holds_what_fits("log-uniform 10 B-200 KiB", 64, sizes);
}

#[test]
fn log_uniform_10_to_4k_204mb_in_256m() {
    let sizes = draw(4, Sizes::LogUniform(10, 4096), None, Some(204_000_000));
    holds_what_fits("log-uniform 10 B-4 KiB", 256, sizes);
}

#[test]
fn etc_sizes_to_90_percent_of_256m() {
    let sizes = draw(5, Sizes::Etc, None, Some(256 * 1024 * 1024 / 10 * 9));
    holds_what_fits("ETC sizes, 90% of -m", 256, sizes);
}

/// Zipf(s) over `n` keys by inverse CDF over a precomputed table.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for i in 1..=n {
            sum += 1.0 / (i as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Cache-aside: multi-get a batch of keys, set the misses. Returns the hit
/// ratio over the last half of the requests and the bytes of values held
/// at the end (every key read back).
fn cache_aside(bin: &Path, mem_mb: usize, sizes: &[usize], requests: usize) -> (f64, u64) {
    let server = TestServer::spawn_bin(bin, &["-t", "2", "-m", &mem_mb.to_string()], &[]);
    let mut c = server.conn();
    let zipf = Zipf::new(sizes.len(), 0.99);
    let mut rng = Rng(99);
    let (mut hits, mut counted) = (0, 0);
    let mut done = 0;
    while done < requests {
        let keys: Vec<usize> = (0..100).map(|_| zipf.draw(&mut rng)).collect();
        let mut uniq = keys.clone();
        uniq.sort_unstable();
        uniq.dedup();
        let hit = get_many(&mut c, &uniq, &|k| sizes[k]);
        let mut batch = Vec::new();
        for (&k, &h) in uniq.iter().zip(&hit) {
            if !h {
                write!(batch, "set {} 0 0 {} noreply\r\n", key(k), sizes[k]).unwrap();
                batch.extend_from_slice(&value(sizes[k], k));
                batch.extend_from_slice(b"\r\n");
            }
        }
        c.send(&batch);
        if done >= requests / 2 {
            // Repeats within a batch are hits once the first is stored.
            hits += keys.len() - hit.iter().filter(|&&h| !h).count();
            counted += keys.len();
        }
        done += keys.len();
    }
    c.assert_usable();
    let all: Vec<usize> = (0..sizes.len()).collect();
    let held = all
        .chunks(100)
        .map(|ks| {
            let hit = get_many(&mut c, ks, &|k| sizes[k]);
            ks.iter()
                .zip(hit)
                .filter(|(_, h)| *h)
                .map(|(&k, _)| sizes[k] as u64)
                .sum::<u64>()
        })
        .sum();
    (hits as f64 / counted as f64, held)
}

#[test]
fn over_full_zipf_hit_ratio_and_bytes_held() {
    // Key space about three times what -m 64 holds of ETC-sized values.
    let sizes = draw(6, Sizes::Etc, Some(450_000), None);
    let requests = 1_200_000;
    let (mc_hit, mc_bytes) = cache_aside(&memcached(), 64, &sizes, requests);
    let (fc_hit, fc_bytes) = cache_aside(&ferrocache(), 64, &sizes, requests);
    eprintln!(
        "over-full Zipf(0.99), ETC sizes, -m 64: hit ratio memcached {mc_hit:.4} ferrocache {fc_hit:.4}; \
         value bytes held memcached {mc_bytes} ferrocache {fc_bytes} ({:.2}x)",
        fc_bytes as f64 / mc_bytes as f64
    );
    assert!(
        fc_hit >= mc_hit,
        "hit ratio {fc_hit:.4} < memcached's {mc_hit:.4}"
    );
    assert!(
        fc_bytes as f64 >= 1.1 * mc_bytes as f64,
        "bytes held {fc_bytes} < 1.1 x memcached's {mc_bytes}"
    );
}

#[test]
fn size_shift_does_not_calcify() {
    // -m 64 filled past full with 100-byte values...
    let server = TestServer::spawn_bin(&ferrocache(), &["-t", "2", "-m", "64"], &[]);
    let mut c = server.conn();
    let small = vec![100; 1_000_000];
    fill(&mut c, &small);
    assert!(c.stat("evictions") > 0, "the fill must overflow -m 64");
    // ...then 3,000 values of 8 KiB (24 MB), read and written cache-aside,
    // round after round, under other keys.
    let base = small.len();
    let big = |_k: usize| 8192;
    let mut ratios = Vec::new();
    for _round in 0..30 {
        let mut hits = 0;
        for chunk in (base..base + 3000).collect::<Vec<_>>().chunks(100) {
            let hit = get_many(&mut c, chunk, &big);
            hits += hit.iter().filter(|&&h| h).count();
            let mut batch = Vec::new();
            for (&k, &h) in chunk.iter().zip(&hit) {
                if !h {
                    write!(batch, "set {} 0 0 8192 noreply\r\n", key(k)).unwrap();
                    batch.extend_from_slice(&value(8192, k));
                    batch.extend_from_slice(b"\r\n");
                }
            }
            c.send(&batch);
        }
        c.assert_usable();
        ratios.push(hits as f64 / 3000.0);
        if hits as f64 / 3000.0 >= 0.9 {
            break;
        }
    }
    eprintln!("size shift: hit ratio by round {ratios:?}");
    assert!(
        ratios.iter().any(|&r| r >= 0.9),
        "the 8 KiB working set never reached a 0.9 hit ratio: {ratios:?}"
    );
}

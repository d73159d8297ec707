//! Hot keys: which keys take the most requests *now* (`stats hotkeys`).
//!
//! Three pieces, none of which knows about sockets or the store:
//! - [`Sampler`]: one per worker thread. The request path only checks and
//!   decrements the worker's own countdown; one request in `every` (on
//!   average; the gap is random so a periodic key sequence cannot alias
//!   with it) has its key appended to the worker's own buffer, under a
//!   lock only that worker and, once a second, the maintenance thread
//!   take. By default `every` adapts: each second it is set so that the
//!   worker takes about [`SAMPLES_PER_SEC`] samples, whatever its request
//!   rate, so the tracker's cost per request falls as the rate rises. Each
//!   sample carries the gap it stands for as its weight, so the rates stay
//!   unbiased while `every` changes.
//! - [`SpaceSaving`]: the heavy hitters of a stream in bounded memory
//!   (Metwally, Agrawal, El Abbadi 2005): `capacity` counters; a new key
//!   takes over the smallest counter. While a second's samples fit in
//!   `capacity` every count is exact.
//! - [`Tracker`]: the maintenance thread drains every sampler once a
//!   second, counts the samples in one sketch (its counters warm in that
//!   thread's cache: counting them on the request path, between requests
//!   that sweep the store through the caches, cost ten times as much), and
//!   keeps the counts in a sliding window of [`WINDOW_SECS`] one-second
//!   buckets per key, so a rate is "the samples' weights in the last
//!   seconds / seconds" and a key that stops being requested leaves the
//!   list when the window has passed over its last request.
//!
//! Estimates: a key's rate is the sum of its samples' weights over the
//! window, so its relative standard error is about `1/sqrt(samples)`: a
//! key with a share `s` of a busy worker's requests has about
//! `s × SAMPLES_PER_SEC × WINDOW_SECS` samples (1 %: 819, ±3.5 %), and at
//! low rates, where `every` falls to 1, every request is counted. Counts
//! are exact-since-entry in the sketch, so a key the sketch evicted within
//! a second is underestimated, never overestimated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use hashbrown::HashTable;
use parking_lot::Mutex;

/// Keys listed by default (`-o hot_keys=N`).
pub const DEFAULT_TOP: usize = 20;
/// Most keys `-o hot_keys=N` may list.
pub const MAX_TOP: usize = 1000;
/// Samples each worker aims to take per second while `-o hot_keys_sample`
/// is `auto` (the default). A sample costs about 140 ns in all (`cargo
/// bench --bench hotkeys`: appending it, then counting it in the
/// maintenance thread), so this is about 0.1 % of a core per busy worker.
pub const SAMPLES_PER_SEC: u32 = 8192;
/// The largest gap between samples.
pub const MAX_EVERY: u32 = 1 << 20;
/// Counters in the sketch that counts each second's samples.
pub const SKETCH_CAPACITY: usize = 4096;
/// Seconds the rates are taken over.
pub const WINDOW_SECS: usize = 10;
/// Longest key tracked (memcached's key limit; binary keys may be longer
/// and are not tracked).
pub const MAX_KEY: usize = 250;

/// What a sampled request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read { miss: bool },
    Write,
}

/// Requests counted for one key: each sample adds its weight (the
/// requests it stands for) to the estimates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub reads: u64,
    pub writes: u64,
    /// Reads that missed.
    pub misses: u64,
    /// Samples behind the estimates.
    pub samples: u64,
}

impl Counts {
    fn count(&mut self, op: Op, weight: u64) {
        match op {
            Op::Read { miss } => {
                self.reads += weight;
                self.misses += if miss { weight } else { 0 };
            }
            Op::Write => self.writes += weight,
        }
        self.samples += 1;
    }

    pub fn total(&self) -> u64 {
        self.reads + self.writes
    }
}

type Hasher = ahash::RandomState;

/// One counter of a [`SpaceSaving`] sketch.
#[derive(Debug, Default)]
struct Slot {
    /// The key; its buffer is reused when another key takes the slot over,
    /// so a sample allocates nothing once the sketch has filled.
    key: Vec<u8>,
    /// The key's hash (for the index, without hashing the key again).
    hash: u64,
    /// The count the slot had when this key took it over.
    err: u64,
    /// Requests seen since this key took the slot (exact).
    counts: Counts,
}

/// Space-Saving: the keys with the largest counts in `capacity` counters,
/// kept in a min-heap by count so a new key replaces the smallest in
/// O(log capacity).
///
/// Laid out for the cache, not for brevity: the index holds only slot
/// numbers (the key is compared in its slot); the heap holds each entry's
/// count beside its slot number, so sifting reads one array, and heap
/// positions live in their own small array.
#[derive(Debug)]
pub struct SpaceSaving {
    capacity: usize,
    /// Slots in use (`slots` beyond this keep their key buffers for reuse).
    len: usize,
    hasher: Hasher,
    /// Slot numbers, found by their key.
    index: HashTable<u32>,
    slots: Vec<Slot>,
    /// `(count, slot)`, a min-heap by Space-Saving's count (an
    /// overestimate by at most the slot's `err`).
    heap: Vec<(u64, u32)>,
    /// Each slot's position in `heap`.
    pos: Vec<u32>,
    /// Bytes of the slots' key buffers.
    key_bytes: usize,
}

impl SpaceSaving {
    pub fn new(capacity: usize) -> SpaceSaving {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        SpaceSaving {
            capacity,
            len: 0,
            hasher: Hasher::new(),
            // Room for twice the keys: an evicted key leaves a tombstone,
            // and with this much room hashbrown clears them by rehashing in
            // place instead of growing the table.
            index: HashTable::with_capacity(2 * capacity),
            slots: Vec::with_capacity(capacity),
            heap: Vec::with_capacity(capacity),
            pos: Vec::with_capacity(capacity),
            key_bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Count a sample of `weight` requests for `key`.
    pub fn offer(&mut self, key: &[u8], op: Op, weight: u64) {
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        if let Some(&s) = self.index.find(hash, |&s| slots[s as usize].key == key) {
            self.slots[s as usize].counts.count(op, weight);
            let pos = self.pos[s as usize] as usize;
            self.heap[pos].0 += weight;
            self.sift_down(pos);
            return;
        }
        let mut counts = Counts::default();
        counts.count(op, weight);
        if self.len < self.capacity {
            let s = self.len;
            self.len += 1;
            if s == self.slots.len() {
                self.slots.push(Slot::default());
                self.pos.push(0);
            }
            self.take_over(s, key, hash, 0, counts);
            let pos = self.heap.len();
            self.heap.push((weight, s as u32));
            self.pos[s] = pos as u32;
            self.sift_up(pos);
            return;
        }
        // Take over the smallest counter.
        let (min, s) = self.heap[0];
        let old = self.slots[s as usize].hash;
        if let Ok(e) = self.index.find_entry(old, |&x| x == s) {
            e.remove();
        }
        self.take_over(s as usize, key, hash, min, counts);
        self.heap[0].0 = min + weight;
        self.sift_down(0);
    }

    /// Slot `s` now counts `key` (its index entry added; its heap entry is
    /// the caller's).
    fn take_over(&mut self, s: usize, key: &[u8], hash: u64, err: u64, counts: Counts) {
        let slot = &mut self.slots[s];
        let before = slot.key.capacity();
        slot.key.clear();
        slot.key.reserve_exact(key.len());
        slot.key.extend_from_slice(key);
        self.key_bytes = self.key_bytes + slot.key.capacity() - before;
        slot.hash = hash;
        slot.err = err;
        slot.counts = counts;
        let slots = &self.slots;
        self.index
            .insert_unique(hash, s as u32, |&x| slots[x as usize].hash);
    }

    /// Every key with its exact-since-entry counts and its Space-Saving
    /// count and error; the sketch is left empty (its memory kept).
    pub fn drain(&mut self) -> Vec<(Box<[u8]>, Counts, u64, u64)> {
        let out = self
            .heap
            .iter()
            .map(|&(count, s)| {
                let slot = &self.slots[s as usize];
                (Box::from(&slot.key[..]), slot.counts, count, slot.err)
            })
            .collect();
        self.index.clear();
        self.heap.clear();
        self.len = 0;
        out
    }

    /// Bytes held: the counters (at capacity) and the keys' buffers.
    pub fn memory(&self) -> usize {
        let per_slot = std::mem::size_of::<Slot>()
            + std::mem::size_of::<(u64, u32)>()
            + std::mem::size_of::<u32>();
        // The index's allocation (its `capacity()` shrinks as removals
        // leave tombstones, while the memory it holds does not).
        self.capacity * per_slot + self.index.allocation_size() + self.key_bytes
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a].1 as usize] = a as u32;
        self.pos[self.heap[b].1 as usize] = b as u32;
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.heap[parent].0 <= self.heap[pos].0 {
                break;
            }
            self.swap(parent, pos);
            pos = parent;
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * pos + 1, 2 * pos + 2);
            let mut least = pos;
            if l < n && self.heap[l].0 < self.heap[least].0 {
                least = l;
            }
            if r < n && self.heap[r].0 < self.heap[least].0 {
                least = r;
            }
            if least == pos {
                break;
            }
            self.swap(pos, least);
            pos = least;
        }
    }
}

/// How a [`Sampler`] picks its gap: adapted each second to
/// [`SAMPLES_PER_SEC`] (`-o hot_keys_sample=auto`, the default) or fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    Auto,
    Fixed(u32),
}

impl std::fmt::Display for Every {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Every::Auto => f.write_str("auto"),
            Every::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// A worker's sampler: its countdown, and behind a lock only it and (once
/// a second) the maintenance thread take, its gap and the samples taken
/// since the last drain.
pub struct Sampler {
    /// Requests left before the next sample. Only the owning worker writes
    /// it (a relaxed load and store, no read-modify-write).
    countdown: AtomicU32,
    mode: Every,
    inner: Mutex<Inner>,
}

/// A sampler's state off the request path.
#[derive(Debug)]
struct Inner {
    /// The samples since the last drain, appended as they come (see
    /// [`Samples`]): the worker copies a key and goes on; the maintenance
    /// thread, which counts them, finds the keys in one buffer.
    buf: Vec<u8>,
    rng: u64,
    /// The mean gap the next one is drawn with.
    every: u32,
    /// The gap running now (the requests its sample will stand for, once
    /// the countdown reaches it).
    gap: u32,
    /// The mean `gap` was drawn with: the sample's weight.
    weight: u32,
    /// Requests seen since the last drain (the gaps completed).
    seen: u64,
    /// Samples since the last drain.
    taken: u32,
    /// An `Auto` sampler halves its rate when `taken` or the buffer's
    /// length reaches these before the next drain (a rate that jumped),
    /// and again each `step` samples after.
    next_taken: u32,
    next_bytes: usize,
    step: u32,
    /// Whether the rate was halved since the last drain.
    ramped: bool,
    /// Samples not kept because `buf` was full, since the start.
    dropped: u64,
}

/// Bytes of samples each worker aims to buffer per second while
/// `-o hot_keys_sample` is `auto`: with long keys the rate is set by this
/// rather than by [`SAMPLES_PER_SEC`] (2048 samples a second of 250-byte
/// keys).
pub const BYTES_PER_SEC: usize = 512 << 10;
/// Bytes of buffered samples past which a sample is dropped (counted in
/// [`Sampler::dropped`]); an `Auto` sampler halves its rate long before.
const BUF_MAX: usize = 4 * BYTES_PER_SEC;
/// A buffered sample's header: what it did, the key's length, its weight.
const SAMPLE_HEADER: usize = 6;

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// Sample as `mode` says; `seed` varies the gaps between threads. An
    /// `Auto` sampler starts at one request in 16 and adapts at its first
    /// drain.
    pub fn new(mode: Every, seed: u64) -> Sampler {
        let every = match mode {
            Every::Auto => 16,
            Every::Fixed(n) => n.clamp(1, MAX_EVERY),
        };
        let mut inner = Inner {
            buf: Vec::new(),
            rng: seed | 1,
            every,
            gap: 1,
            weight: every,
            seen: 0,
            taken: 0,
            next_taken: SAMPLES_PER_SEC / 4,
            next_bytes: 2 * BYTES_PER_SEC,
            step: SAMPLES_PER_SEC / 8,
            ramped: false,
            dropped: 0,
        };
        inner.draw();
        Sampler {
            countdown: AtomicU32::new(inner.gap),
            mode,
            inner: Mutex::new(inner),
        }
    }

    pub fn mode(&self) -> Every {
        self.mode
    }

    /// The mean gap between samples now.
    pub fn every(&self) -> u32 {
        self.inner.lock().every
    }

    /// Samples dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.inner.lock().dropped
    }

    /// The request path's whole cost: true when this request is sampled
    /// (then call [`Sampler::record`]).
    #[inline]
    pub fn due(&self) -> bool {
        let left = self.countdown.load(Relaxed);
        if left > 1 {
            self.countdown.store(left - 1, Relaxed);
            false
        } else {
            true
        }
    }

    /// Take a sampled request (standing for the gap that led to it) and
    /// draw the next gap.
    #[cold]
    #[inline(never)]
    pub fn record(&self, key: &[u8], op: Op) {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        inner.seen += u64::from(inner.gap);
        if !key.is_empty() && key.len() <= MAX_KEY {
            if inner.buf.len() + SAMPLE_HEADER + key.len() <= BUF_MAX {
                let kind = match op {
                    Op::Read { miss: false } => 0,
                    Op::Read { miss: true } => 1,
                    Op::Write => 2,
                };
                inner.buf.extend_from_slice(&[kind, key.len() as u8]);
                inner.buf.extend_from_slice(&inner.weight.to_le_bytes());
                inner.buf.extend_from_slice(key);
            } else {
                inner.dropped += 1;
            }
        }
        inner.taken += 1;
        // A rate that jumped between two drains (a burst after a quiet
        // second, when `every` had fallen to 1): past twice the samples
        // the last second's rate would take (or two seconds' worth of
        // bytes), halve the sampling, and again each `step` samples (or
        // second's worth of bytes), instead of sampling at the old rate
        // until the next drain.
        if self.mode == Every::Auto
            && (inner.taken >= inner.next_taken || inner.buf.len() >= inner.next_bytes)
        {
            inner.every = inner.every.saturating_mul(2).min(MAX_EVERY);
            inner.next_taken = inner.taken + inner.step;
            inner.next_bytes = inner.buf.len() + BYTES_PER_SEC;
            inner.ramped = true;
        }
        inner.draw();
        self.countdown.store(inner.gap, Relaxed);
    }

    /// The samples since the last drain, swapped into `into` (whose old
    /// contents are dropped and whose buffer the sampler reuses): the
    /// maintenance thread, about once a second, `secs` since the last. An
    /// `Auto` sampler sets its gap from the requests it saw in that time.
    pub fn drain(&self, secs: f64, into: &mut Vec<u8>) {
        into.clear();
        let mut inner = self.inner.lock();
        if self.mode == Every::Auto {
            let rate = inner.seen as f64 / secs.max(0.001);
            // Samples a second within both budgets, at this second's mean
            // sample size.
            let per_sample = inner.buf.len() as f64 / f64::from(inner.taken.max(1));
            let budget = f64::from(SAMPLES_PER_SEC).min(BYTES_PER_SEC as f64 / per_sample.max(1.0));
            let every = ((rate / budget).ceil() as u32).clamp(1, MAX_EVERY);
            // A second the rate rose in was only partly at the new rate:
            // keep about the gap the halving reached.
            inner.every = if inner.ramped {
                every.max(inner.every / 2)
            } else {
                every
            };
            // The next guard: at twice the samples this rate would take,
            // at least a quarter of the budget, at most twice it; after a
            // quiet second it halves in small steps, so a burst takes few
            // samples.
            let budget = SAMPLES_PER_SEC;
            let expected = (rate / f64::from(inner.every)).min(f64::from(budget)) as u32;
            inner.next_taken = (2 * expected).clamp(budget / 4, 2 * budget);
            inner.step = if expected >= budget / 2 {
                budget
            } else {
                budget / 8
            };
        }
        inner.ramped = false;
        inner.seen = 0;
        inner.taken = 0;
        inner.next_bytes = 2 * BYTES_PER_SEC;
        std::mem::swap(into, &mut inner.buf);
    }

    /// Bytes this sampler holds.
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Sampler>() + self.inner.lock().buf.capacity()
    }
}

/// The samples of a drained buffer: key, what the request did, and the
/// requests the sample stands for.
pub struct Samples<'a>(&'a [u8]);

impl<'a> Samples<'a> {
    pub fn new(buf: &'a [u8]) -> Samples<'a> {
        Samples(buf)
    }
}

impl<'a> Iterator for Samples<'a> {
    type Item = (&'a [u8], Op, u64);

    fn next(&mut self) -> Option<Self::Item> {
        let (head, rest) = self.0.split_at_checked(SAMPLE_HEADER)?;
        let len = usize::from(head[1]);
        let (key, rest) = rest.split_at_checked(len)?;
        self.0 = rest;
        let op = match head[0] {
            0 => Op::Read { miss: false },
            1 => Op::Read { miss: true },
            _ => Op::Write,
        };
        let weight = u32::from_le_bytes([head[2], head[3], head[4], head[5]]);
        Some((key, op, u64::from(weight)))
    }
}

impl Inner {
    /// The next gap, uniform in `1..=2*every-1` (mean `every`): xorshift64*.
    fn draw(&mut self) {
        self.weight = self.every;
        if self.every == 1 {
            self.gap = 1;
            return;
        }
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        self.gap = 1 + (r % (2 * u64::from(self.every) - 1)) as u32;
    }
}

/// One key's estimated requests (and samples) per second over the window.
#[derive(Debug, Default, Clone)]
struct Ring {
    reads: [u32; WINDOW_SECS],
    writes: [u32; WINDOW_SECS],
    misses: [u32; WINDOW_SECS],
    samples: [u32; WINDOW_SECS],
}

impl Ring {
    fn clear(&mut self, i: usize) {
        self.reads[i] = 0;
        self.writes[i] = 0;
        self.misses[i] = 0;
        self.samples[i] = 0;
    }

    fn add(&mut self, i: usize, c: &Counts) {
        let sat = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        self.reads[i] = self.reads[i].saturating_add(sat(c.reads));
        self.writes[i] = self.writes[i].saturating_add(sat(c.writes));
        self.misses[i] = self.misses[i].saturating_add(sat(c.misses));
        self.samples[i] = self.samples[i].saturating_add(sat(c.samples));
    }

    fn sums(&self) -> Counts {
        let sum = |a: &[u32; WINDOW_SECS]| a.iter().map(|&n| u64::from(n)).sum();
        Counts {
            reads: sum(&self.reads),
            writes: sum(&self.writes),
            misses: sum(&self.misses),
            samples: sum(&self.samples),
        }
    }
}

/// One line of the hot list.
#[derive(Debug, Clone, PartialEq)]
pub struct HotKey {
    pub key: Vec<u8>,
    /// Estimated requests per second (reads + writes).
    pub ops: f64,
    pub reads: f64,
    pub writes: f64,
    /// Share of the reads that missed (0 with no reads).
    pub miss_share: f64,
    /// Samples behind the estimate (its relative standard error is about
    /// `1/sqrt(samples)`).
    pub samples: u64,
}

/// The maintenance thread's merge of every worker's samples over the last
/// [`WINDOW_SECS`] seconds.
#[derive(Debug)]
pub struct Tracker {
    top: usize,
    /// Keys kept: more than `top`, so a key near the bottom of the list is
    /// not forgotten each time a burst of cold keys passes through.
    capacity: usize,
    /// The bucket of the last second merged.
    now: usize,
    /// How long each bucket's second really lasted (the maintenance
    /// thread's timer drifts).
    durations: [f64; WINDOW_SECS],
    keys: HashMap<Box<[u8]>, Ring, Hasher>,
    key_bytes: usize,
    /// Counts a second's samples of every worker (reused).
    sketch: SpaceSaving,
    /// The workers' drained sample buffers (swapped with theirs, so both
    /// keep their capacity).
    drained: Vec<Vec<u8>>,
}

impl Tracker {
    /// List `top` keys.
    pub fn new(top: usize) -> Tracker {
        let top = top.clamp(1, MAX_TOP);
        Tracker {
            top,
            capacity: (top * 8).max(512),
            now: 0,
            durations: [0.0; WINDOW_SECS],
            keys: HashMap::with_hasher(Hasher::new()),
            key_bytes: 0,
            sketch: SpaceSaving::new(SKETCH_CAPACITY),
            drained: Vec::new(),
        }
    }

    pub fn top_n(&self) -> usize {
        self.top
    }

    /// About a second (`secs`) has passed: drain every worker's sampler
    /// and count the samples in one Space-Saving sketch (here, with its
    /// counters warm in this thread's cache, not on the request path).
    pub fn merge<'a>(&mut self, secs: f64, samplers: impl IntoIterator<Item = &'a Sampler>) {
        let mut n = 0;
        for sampler in samplers {
            if n == self.drained.len() {
                self.drained.push(Vec::new());
            }
            sampler.drain(secs, &mut self.drained[n]);
            n += 1;
        }
        for buf in &self.drained[..n] {
            for (key, op, weight) in Samples::new(buf) {
                self.sketch.offer(key, op, weight);
            }
        }
        let counted = self.sketch.drain();
        self.merge_counts(secs, counted.into_iter().map(|(k, c, _, _)| (k, c)));
    }

    /// About a second (`secs`) has passed: these are its keys' counts.
    fn merge_counts(&mut self, secs: f64, samples: impl IntoIterator<Item = (Box<[u8]>, Counts)>) {
        self.now = (self.now + 1) % WINDOW_SECS;
        let now = self.now;
        self.durations[now] = secs.max(0.001);
        for ring in self.keys.values_mut() {
            ring.clear(now);
        }
        for (key, counts) in samples {
            match self.keys.get_mut(&key) {
                Some(ring) => ring.add(now, &counts),
                None => {
                    let mut ring = Ring::default();
                    ring.add(now, &counts);
                    self.key_bytes += key.len();
                    self.keys.insert(key, ring);
                }
            }
        }
        let mut dropped = 0;
        if self.keys.len() > self.capacity {
            let mut totals: Vec<u64> = self.keys.values().map(|r| r.sums().total()).collect();
            let cut = totals.len() - self.capacity - 1;
            let (_, &mut cutoff, _) = totals.select_nth_unstable(cut);
            self.keys.retain(|k, r| {
                let keep = r.sums().total() > cutoff;
                dropped += if keep { 0 } else { k.len() };
                keep
            });
        } else {
            self.keys.retain(|k, r| {
                let keep = r.sums().total() > 0;
                dropped += if keep { 0 } else { k.len() };
                keep
            });
        }
        self.key_bytes -= dropped;
    }

    /// The hottest keys, hottest first.
    pub fn hottest(&self) -> Vec<HotKey> {
        let secs: f64 = self.durations.iter().sum::<f64>().max(0.001);
        let scale = 1.0 / secs;
        let mut list: Vec<(&Box<[u8]>, Counts)> =
            self.keys.iter().map(|(k, r)| (k, r.sums())).collect();
        list.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then_with(|| a.0.cmp(b.0)));
        list.truncate(self.top);
        list.into_iter()
            .map(|(k, c)| HotKey {
                key: k.to_vec(),
                ops: c.total() as f64 * scale,
                reads: c.reads as f64 * scale,
                writes: c.writes as f64 * scale,
                miss_share: if c.reads == 0 {
                    0.0
                } else {
                    c.misses as f64 / c.reads as f64
                },
                samples: c.samples,
            })
            .collect()
    }

    /// Seconds the rates are taken over so far.
    pub fn window_secs(&self) -> f64 {
        self.durations.iter().sum()
    }

    /// Bytes held (at capacity, plus the keys).
    pub fn memory(&self) -> usize {
        let per_key = std::mem::size_of::<Ring>() + std::mem::size_of::<Box<[u8]>>() + 8;
        let drained: usize = self.drained.iter().map(Vec::capacity).sum();
        self.capacity * per_key + self.key_bytes + self.sketch.memory() + drained
    }
}

/// `key` with every byte that is not printable ASCII, a space, `%` or
/// `+` percent-encoded, so any key fits one `STAT` line or label value.
pub fn uri_encode(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_graphic() && !matches!(b, b'%' | b'+' | b'"' | b'\\') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const R: Op = Op::Read { miss: false };

    #[test]
    fn space_saving_is_exact_while_keys_fit() {
        let mut s = SpaceSaving::new(4);
        for (k, n) in [(b"a", 5), (b"b", 3), (b"c", 1)] {
            for _ in 0..n {
                s.offer(k, R, 1);
            }
        }
        s.offer(b"b", Op::Write, 1);
        s.offer(b"c", Op::Read { miss: true }, 1);
        let mut got = s.drain();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got.len(), 3);
        assert_eq!(&*got[0].0, b"a");
        assert_eq!(got[0].2, 5);
        assert_eq!(
            got[1].1,
            Counts {
                reads: 3,
                writes: 1,
                misses: 0,
                samples: 4
            }
        );
        assert_eq!(
            got[2].1,
            Counts {
                reads: 2,
                writes: 0,
                misses: 1,
                samples: 2
            }
        );
        assert!(s.is_empty());
    }

    #[test]
    fn a_new_key_takes_the_smallest_counter() {
        let mut s = SpaceSaving::new(2);
        for _ in 0..3 {
            s.offer(b"big", R, 1);
        }
        s.offer(b"x", R, 1);
        s.offer(b"y", R, 1);
        let got = s.drain();
        let y = got.iter().find(|e| &*e.0 == b"y").unwrap();
        assert_eq!((y.2, y.3), (2, 1));
        assert!(got.iter().any(|e| &*e.0 == b"big" && e.2 == 3));
    }

    /// A stream of distinct keys (every sample evicts) neither grows the
    /// index nor allocates key buffers beyond the first fill: the memory
    /// `stats hotkeys` reports stays where it was.
    #[test]
    fn space_saving_memory_is_bounded_under_churn() {
        let mut s = SpaceSaving::new(64);
        let key = |i: u32| format!("k{i:031}").into_bytes();
        for i in 0..1_000 {
            s.offer(&key(i), R, 1);
        }
        let filled = s.memory();
        assert!(filled <= 64 * (std::mem::size_of::<Slot>() + 64 + 32));
        for i in 1_000..200_000 {
            s.offer(&key(i), R, 1);
        }
        assert_eq!(s.len(), 64);
        assert_eq!(s.memory(), filled);
        assert_eq!(s.drain().len(), 64);
        for i in 0..1_000 {
            s.offer(&key(i), R, 1);
        }
        assert_eq!(s.memory(), filled);
    }

    proptest! {
        /// Space-Saving's guarantees: every key with a true count above
        /// total/capacity is kept, count - err <= true <= count, and the
        /// exact-since-entry counts never exceed the truth.
        #[test]
        fn space_saving_bounds(stream in proptest::collection::vec(0u8..40, 1..2000), cap in 1usize..16) {
            let mut s = SpaceSaving::new(cap);
            let mut truth = HashMap::<u8, u64>::new();
            for &k in &stream {
                s.offer(&[k], R, 1);
                *truth.entry(k).or_default() += 1;
            }
            let got = s.drain();
            prop_assert!(got.len() <= cap);
            for (k, counts, count, err) in &got {
                let t = truth[&k[0]];
                prop_assert!(count - err <= t && t <= *count);
                prop_assert!(counts.reads <= t);
            }
            let bound = stream.len() as u64 / cap as u64;
            for (k, t) in &truth {
                if *t > bound {
                    prop_assert!(got.iter().any(|e| e.0[0] == *k));
                }
            }
        }

    }

    proptest! {
        // 200 000 requests a case: a few cases say enough.
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// The sampler's gaps average `every`.
        #[test]
        fn gaps_average_every(every in 1u32..64) {
            let s = Sampler::new(Every::Fixed(every), 12345);
            let mut samples = 0u64;
            let n = 200_000u64;
            for _ in 0..n {
                if s.due() {
                    s.record(b"k", R);
                    samples += 1;
                }
            }
            let mean = n as f64 / samples as f64;
            prop_assert!((mean - f64::from(every)).abs() < f64::from(every) * 0.1 + 0.01);
        }
    }

    /// An `Auto` sampler sets its gap at each drain so that it takes about
    /// `SAMPLES_PER_SEC` samples a second, and its weights add up to the
    /// requests it saw while the gap changed under them.
    #[test]
    fn auto_sampling_adapts_to_the_rate_and_stays_unbiased() {
        let s = Sampler::new(Every::Auto, 99);
        let mut buf = Vec::new();
        let mut estimated = 0u64;
        let mut requests = 0u64;
        let budget = u64::from(SAMPLES_PER_SEC);
        // Seconds of 10 000, 400 000 and 2 000 requests.
        for (rate, secs) in [(10_000u64, 3), (400_000, 3), (2_000, 3)] {
            for second in 0..secs {
                let mut samples = 0u64;
                for _ in 0..rate {
                    if s.due() {
                        s.record(b"k", R);
                        samples += 1;
                    }
                }
                requests += rate;
                s.drain(1.0, &mut buf);
                assert_eq!(Samples::new(&buf).count() as u64, samples);
                estimated += Samples::new(&buf).map(|(_, _, w)| w).sum::<u64>();
                // Once adapted a second takes at most twice the budget; the
                // second the rate jumps 40-fold, the halving holds it to a
                // few times the budget.
                let most = if second == 0 {
                    8 * budget
                } else {
                    2 * budget + 1
                };
                assert!(
                    samples <= most,
                    "{samples} samples in second {second} at {rate}/s"
                );
            }
            let want = rate.div_ceil(budget).max(1) as u32;
            assert!(
                s.every().abs_diff(want) <= want / 10 + 1,
                "{} vs {want}",
                s.every()
            );
        }
        // Every request is counted once by the gap it ended (the last gap,
        // still running, is not yet counted).
        let err = (estimated as f64 - requests as f64).abs() / requests as f64;
        assert!(err < 0.02, "estimated {estimated} of {requests}");
    }

    /// A burst after an idle second (`every` back at 1) is caught within
    /// a few thousand samples, not after two seconds' worth.
    #[test]
    fn a_burst_after_a_quiet_second_takes_few_samples() {
        let s = Sampler::new(Every::Auto, 5);
        let mut buf = Vec::new();
        for (rate, most) in [
            (800_000u64, 0),
            (0, 0),
            (800_000, 12_000),
            (800_000, 16_400),
        ] {
            let mut samples = 0u64;
            for _ in 0..rate {
                if s.due() {
                    s.record(b"k", R);
                    samples += 1;
                }
            }
            s.drain(1.0, &mut buf);
            if most > 0 {
                assert!(samples <= most, "{samples} samples at {rate}/s");
            }
        }
    }

    #[test]
    fn a_fixed_sampler_keeps_its_gap() {
        let s = Sampler::new(Every::Fixed(8), 7);
        for _ in 0..1_000_000 {
            if s.due() {
                s.record(b"k", R);
            }
        }
        s.drain(1.0, &mut Vec::new());
        assert_eq!(s.every(), 8);
    }

    /// A buffered sample comes back as it was taken; long keys make an
    /// `Auto` sampler sample less before its buffer fills, and a fixed one
    /// drops (and counts) what does not fit.
    #[test]
    fn sample_buffers_are_bounded() {
        let s = Sampler::new(Every::Fixed(1), 1);
        s.record(b"a", Op::Read { miss: true });
        s.record(b"bb", Op::Write);
        s.record(&[b'x'; MAX_KEY + 1], Op::Write);
        let mut buf = Vec::new();
        s.drain(1.0, &mut buf);
        let got: Vec<_> = Samples::new(&buf).collect();
        assert_eq!(
            got,
            [
                (&b"a"[..], Op::Read { miss: true }, 1),
                (&b"bb"[..], Op::Write, 1)
            ]
        );
        let long = [b'k'; MAX_KEY];
        let n = 2 * BUF_MAX / (SAMPLE_HEADER + MAX_KEY);
        for _ in 0..n {
            s.record(&long, R);
        }
        assert!(s.dropped() > 0);
        assert!(s.memory() <= BUF_MAX + std::mem::size_of::<Sampler>() + 1024);
        // Seconds of 80 000 requests for 250-byte keys: about 2 048
        // samples a second once adapted, and none dropped.
        let auto = Sampler::new(Every::Auto, 1);
        for second in 0..3 {
            let mut taken = 0usize;
            for _ in 0..80_000 {
                if auto.due() {
                    auto.record(&long, R);
                    taken += 1;
                }
            }
            auto.drain(1.0, &mut buf);
            if second > 0 {
                let want = BYTES_PER_SEC / (SAMPLE_HEADER + MAX_KEY);
                assert!(
                    taken.abs_diff(want) < want / 5,
                    "{taken} samples, want {want}"
                );
            }
        }
        assert_eq!(auto.dropped(), 0);
    }

    #[test]
    fn tracker_rates_over_the_window_and_forgets() {
        let mut t = Tracker::new(2);
        for _ in 0..WINDOW_SECS {
            t.merge_counts(
                1.0,
                [
                    (
                        Box::from(&b"hot"[..]),
                        Counts {
                            reads: 500,
                            writes: 100,
                            misses: 250,
                            samples: 60,
                        },
                    ),
                    (
                        Box::from(&b"warm"[..]),
                        Counts {
                            reads: 50,
                            samples: 5,
                            ..Counts::default()
                        },
                    ),
                    (
                        Box::from(&b"cold"[..]),
                        Counts {
                            reads: 10,
                            samples: 1,
                            ..Counts::default()
                        },
                    ),
                ],
            );
        }
        let list = t.hottest();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].key, b"hot");
        assert_eq!(list[0].ops, 600.0);
        assert_eq!(list[0].reads, 500.0);
        assert_eq!(list[0].writes, 100.0);
        assert_eq!(list[0].miss_share, 0.5);
        assert_eq!(list[0].samples, 600);
        assert_eq!(list[1].key, b"warm");
        // "hot" stops; after a window it is gone.
        for _ in 0..WINDOW_SECS {
            t.merge_counts(
                1.0,
                [(
                    Box::from(&b"warm"[..]),
                    Counts {
                        reads: 50,
                        samples: 5,
                        ..Counts::default()
                    },
                )],
            );
        }
        let list = t.hottest();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].key, b"warm");
        assert_eq!(list[0].ops, 50.0);
    }

    /// The maintenance thread's path: every worker's buffer counted in one
    /// sketch, weights and all.
    #[test]
    fn tracker_merges_the_samplers_buffers() {
        let a = Sampler::new(Every::Fixed(1), 1);
        let b = Sampler::new(Every::Fixed(1), 2);
        for _ in 0..30 {
            a.record(b"hot", R);
            b.record(b"hot", Op::Read { miss: true });
        }
        b.record(b"cold", Op::Write);
        let mut t = Tracker::new(5);
        t.merge(2.0, [&a, &b]);
        let list = t.hottest();
        assert_eq!(list[0].key, b"hot");
        assert_eq!(
            (list[0].ops, list[0].miss_share, list[0].samples),
            (30.0, 0.5, 60)
        );
        assert_eq!((&list[1].key[..], list[1].writes), (&b"cold"[..], 0.5));
        // Drained: the next second has nothing new.
        t.merge(1.0, [&a, &b]);
        assert_eq!(t.hottest()[0].samples, 60);
    }

    #[test]
    fn tracker_keeps_at_most_its_capacity() {
        let mut t = Tracker::new(1);
        let cap = t.capacity;
        let keys: Vec<(Box<[u8]>, Counts)> = (0..cap * 3)
            .map(|i| {
                (
                    i.to_string().into_bytes().into_boxed_slice(),
                    Counts {
                        reads: i as u64 + 1,
                        ..Counts::default()
                    },
                )
            })
            .collect();
        t.merge_counts(1.0, keys);
        assert!(t.keys.len() <= cap);
        assert_eq!(t.hottest()[0].key, (cap * 3 - 1).to_string().into_bytes());
        assert_eq!(t.key_bytes, t.keys.keys().map(|k| k.len()).sum::<usize>());
    }

    #[test]
    fn uri_encoding() {
        assert_eq!(uri_encode(b"user:42"), "user:42");
        assert_eq!(uri_encode(b"a b%\r\n\xff"), "a%20b%25%0D%0A%FF");
    }
}

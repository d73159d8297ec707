//! Hot keys: which keys take the most requests *now* (`stats hotkeys`).
//!
//! Three pieces, none of which knows about sockets or the store:
//! - [`Sampler`]: one per worker thread. The request path only checks and
//!   decrements the worker's own countdown; one request in `every` (on
//!   average; the gap is random so a periodic key sequence cannot alias
//!   with it) is offered to the worker's own [`SpaceSaving`] sketch, under
//!   a lock only that worker and, once a second, the maintenance thread
//!   take.
//! - [`SpaceSaving`]: the heavy hitters of a stream in bounded memory
//!   (Metwally, Agrawal, El Abbadi 2005): `capacity` counters; a new key
//!   takes over the smallest counter. While a second's samples fit in
//!   `capacity` every count is exact.
//! - [`Tracker`]: the maintenance thread drains every sampler once a second
//!   into a sliding window of [`WINDOW_SECS`] one-second buckets per key,
//!   so a rate is "samples in the last seconds × `every` / seconds" and a
//!   key that stops being requested leaves the list when the window has
//!   passed over its last request.
//!
//! Estimates: a key's rate is a sample count scaled by `every`, so its
//! relative standard error is about `1/sqrt(rate × window / every)` (a key
//! at 1 000 ops/s, sampled 1 in 16 over 10 s: 4 %). Counts are exact-since-
//! entry in the sketch, so a key the sketch evicted within a second is
//! underestimated, never overestimated.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use hashbrown::HashTable;
use parking_lot::Mutex;

/// Keys listed by default (`-o hot_keys=N`).
pub const DEFAULT_TOP: usize = 20;
/// Most keys `-o hot_keys=N` may list.
pub const MAX_TOP: usize = 1000;
/// One request in this many is sampled by default.
pub const DEFAULT_SAMPLE: u32 = 16;
/// Counters in each worker's sketch.
pub const SKETCH_CAPACITY: usize = 1024;
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

/// Requests counted for one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub reads: u64,
    pub writes: u64,
    /// Reads that missed.
    pub misses: u64,
}

impl Counts {
    fn count(&mut self, op: Op) {
        match op {
            Op::Read { miss } => {
                self.reads += 1;
                self.misses += u64::from(miss);
            }
            Op::Write => self.writes += 1,
        }
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
/// Laid out for the request path's cache, not for brevity: one sample in
/// `-o hot_keys_sample` lands here between requests that sweep the store
/// through L1 and L2, so the sketch is usually cold. The index holds only
/// slot numbers (the key is compared in its slot); the heap holds each
/// entry's count beside its slot number, so sifting reads one array, and
/// heap positions live in their own small array.
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

    /// Count one request for `key`.
    pub fn offer(&mut self, key: &[u8], op: Op) {
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        if let Some(&s) = self.index.find(hash, |&s| slots[s as usize].key == key) {
            self.slots[s as usize].counts.count(op);
            let pos = self.pos[s as usize] as usize;
            self.heap[pos].0 += 1;
            self.sift_down(pos);
            return;
        }
        let mut counts = Counts::default();
        counts.count(op);
        if self.len < self.capacity {
            let s = self.len;
            self.len += 1;
            if s == self.slots.len() {
                self.slots.push(Slot::default());
                self.pos.push(0);
            }
            self.take_over(s, key, hash, 0, counts);
            let pos = self.heap.len();
            self.heap.push((1, s as u32));
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
        self.heap[0].0 = min + 1;
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

/// A worker's sampler: its countdown and its sketch.
pub struct Sampler {
    /// Requests left before the next sample. Only the owning worker writes
    /// it (a relaxed load and store, no read-modify-write).
    countdown: AtomicU32,
    rng: AtomicU64,
    every: u32,
    sketch: Mutex<SpaceSaving>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// Sample one request in `every` (at least 1) into a sketch of
    /// `capacity` counters; `seed` varies the gaps between threads.
    pub fn new(every: u32, capacity: usize, seed: u64) -> Sampler {
        let s = Sampler {
            countdown: AtomicU32::new(1),
            rng: AtomicU64::new(seed | 1),
            every: every.max(1),
            sketch: Mutex::new(SpaceSaving::new(capacity)),
        };
        s.countdown.store(s.next_gap(), Relaxed);
        s
    }

    pub fn every(&self) -> u32 {
        self.every
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

    /// Count a sampled request and draw the next gap.
    #[cold]
    #[inline(never)]
    pub fn record(&self, key: &[u8], op: Op) {
        self.countdown.store(self.next_gap(), Relaxed);
        if key.is_empty() || key.len() > MAX_KEY {
            return;
        }
        self.sketch.lock().offer(key, op);
    }

    /// A gap uniform in `1..=2*every-1` (mean `every`): xorshift64*.
    fn next_gap(&self) -> u32 {
        if self.every == 1 {
            return 1;
        }
        let mut x = self.rng.load(Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Relaxed);
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        1 + (r % (2 * u64::from(self.every) - 1)) as u32
    }

    /// The samples since the last drain (the maintenance thread, once a
    /// second).
    pub fn drain(&self) -> Vec<(Box<[u8]>, Counts)> {
        let drained = self.sketch.lock().drain();
        drained.into_iter().map(|(k, c, _, _)| (k, c)).collect()
    }

    /// Bytes this sampler holds.
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Sampler>() + self.sketch.lock().memory()
    }
}

/// One key's samples per second over the window.
#[derive(Debug, Default, Clone)]
struct Ring {
    reads: [u32; WINDOW_SECS],
    writes: [u32; WINDOW_SECS],
    misses: [u32; WINDOW_SECS],
}

impl Ring {
    fn clear(&mut self, i: usize) {
        self.reads[i] = 0;
        self.writes[i] = 0;
        self.misses[i] = 0;
    }

    fn add(&mut self, i: usize, c: &Counts) {
        let sat = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        self.reads[i] = self.reads[i].saturating_add(sat(c.reads));
        self.writes[i] = self.writes[i].saturating_add(sat(c.writes));
        self.misses[i] = self.misses[i].saturating_add(sat(c.misses));
    }

    fn sums(&self) -> Counts {
        let sum = |a: &[u32; WINDOW_SECS]| a.iter().map(|&n| u64::from(n)).sum();
        Counts {
            reads: sum(&self.reads),
            writes: sum(&self.writes),
            misses: sum(&self.misses),
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
    every: u32,
    /// The bucket of the last second merged.
    now: usize,
    /// How long each bucket's second really lasted (the maintenance
    /// thread's timer drifts).
    durations: [f64; WINDOW_SECS],
    keys: HashMap<Box<[u8]>, Ring, Hasher>,
    key_bytes: usize,
}

impl Tracker {
    /// List `top` keys from samples taken one in `every`.
    pub fn new(top: usize, every: u32) -> Tracker {
        let top = top.clamp(1, MAX_TOP);
        Tracker {
            top,
            capacity: (top * 8).max(512),
            every: every.max(1),
            now: 0,
            durations: [0.0; WINDOW_SECS],
            keys: HashMap::with_hasher(Hasher::new()),
            key_bytes: 0,
        }
    }

    pub fn top_n(&self) -> usize {
        self.top
    }

    /// About a second (`secs`) has passed: these are its samples (from
    /// every worker).
    pub fn merge(&mut self, secs: f64, samples: impl IntoIterator<Item = (Box<[u8]>, Counts)>) {
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
        let scale = f64::from(self.every) / secs;
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
                samples: c.total(),
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
        self.capacity * per_key + self.key_bytes
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
                s.offer(k, R);
            }
        }
        s.offer(b"b", Op::Write);
        s.offer(b"c", Op::Read { miss: true });
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
                misses: 0
            }
        );
        assert_eq!(
            got[2].1,
            Counts {
                reads: 2,
                writes: 0,
                misses: 1
            }
        );
        assert!(s.is_empty());
    }

    #[test]
    fn a_new_key_takes_the_smallest_counter() {
        let mut s = SpaceSaving::new(2);
        for _ in 0..3 {
            s.offer(b"big", R);
        }
        s.offer(b"x", R);
        s.offer(b"y", R);
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
            s.offer(&key(i), R);
        }
        let filled = s.memory();
        assert!(filled <= 64 * (std::mem::size_of::<Slot>() + 64 + 32));
        for i in 1_000..200_000 {
            s.offer(&key(i), R);
        }
        assert_eq!(s.len(), 64);
        assert_eq!(s.memory(), filled);
        assert_eq!(s.drain().len(), 64);
        for i in 0..1_000 {
            s.offer(&key(i), R);
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
                s.offer(&[k], R);
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
            let s = Sampler::new(every, 8, 12345);
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

    #[test]
    fn tracker_rates_over_the_window_and_forgets() {
        let mut t = Tracker::new(2, 10);
        for _ in 0..WINDOW_SECS {
            t.merge(
                1.0,
                [
                    (
                        Box::from(&b"hot"[..]),
                        Counts {
                            reads: 50,
                            writes: 10,
                            misses: 25,
                        },
                    ),
                    (
                        Box::from(&b"warm"[..]),
                        Counts {
                            reads: 5,
                            ..Counts::default()
                        },
                    ),
                    (
                        Box::from(&b"cold"[..]),
                        Counts {
                            reads: 1,
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
        assert_eq!(list[1].key, b"warm");
        // "hot" stops; after a window it is gone.
        for _ in 0..WINDOW_SECS {
            t.merge(
                1.0,
                [(
                    Box::from(&b"warm"[..]),
                    Counts {
                        reads: 5,
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

    #[test]
    fn tracker_keeps_at_most_its_capacity() {
        let mut t = Tracker::new(1, 1);
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
        t.merge(1.0, keys);
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

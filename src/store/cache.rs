//! The cache: stripes of the index over one log of item memory.
//! `meta.rs` adds the meta protocol's operations and `clean.rs` eviction
//! and the crawler, both as more `impl Cache` blocks.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::classes::Classes;
use super::log::{self, Log, Reservation, BINARY_KEY, HDR, STALE};
use super::stripe::{self, Ctx, ItemView, Stripe, StripeGuard, Value};
use super::types::{
    CacheConfig, ClassStats, DeltaError, DeltaOptions, DeltaOutcome, PutExtra, StoreError,
    StoreMode, StoreOptions, StoreOutcome, StoreStats,
};
use crate::clock::Clock;

/// Stripes the index splits into: many more than threads, so two requests
/// rarely wait for each other. Memory does not depend on it.
const STRIPES: usize = 256;

/// memcached's starting `hash_power_level` (`-o hashpower` default).
const HASH_POWER_START: u32 = 16;

/// The cleaner's lock (which also holds where the crawler and the
/// eviction ahead of writers are) and its counters.
#[derive(Default)]
pub(super) struct Cleaner {
    /// One cleaner (or crawler) at a time.
    pub lock: Mutex<CleanState>,
    /// Bytes written since the last eviction ahead (by writers that found
    /// the lock taken).
    pub debt: AtomicUsize,
    pub compacted: AtomicU64,
    pub evicted: AtomicU64,
}

/// What the cleaner's lock guards.
#[derive(Default)]
pub(super) struct CleanState {
    /// The crawler's position in the sealed segments.
    pub crawl: usize,
    /// The segment being evicted ahead of writers, and how far.
    pub ahead: Option<Ahead>,
    /// `Log::sealed_total` when the log last had no segment to evict ahead
    /// (garbage about): not asked again until another segment seals.
    pub no_candidate: Option<u64>,
}

/// A sealed segment evicted a few records at a time (see
/// `Cache::evict_ahead`): every record before `at` is no longer linked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ahead {
    pub seg: u32,
    pub at: usize,
    pub end: usize,
    /// Bytes moved forward so far (at most half a segment moves).
    pub moved: usize,
}

impl Cleaner {
    pub fn compacted(&self) -> u64 {
        self.compacted.load(Ordering::Relaxed)
    }

    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

/// Keeps a stripe on its own cache lines so neighbouring locks don't share.
#[repr(align(128))]
struct Padded(Mutex<Stripe>);

pub struct Cache {
    stripes: Box<[Padded]>,
    pub(super) stripe_mask: usize,
    pub(super) log: Log,
    pub(super) clean: Cleaner,
    pub(super) clock: Arc<Clock>,
    /// memcached's `oldest_live`: once the clock reaches it, items last
    /// accessed at or before it are flushed (0: none).
    oldest_live: AtomicU32,
    /// memcached's size classes, for per-class figures.
    pub(super) classes: Arc<Classes>,
    /// Per stripe, the CAS cut of the last `flush_all` (see [`Ctx`]).
    flush_cas: Box<[AtomicU64]>,
    /// A `flush_all` happened: [`Ctx`] checks the cuts, and the next
    /// maintenance crawls every segment.
    flushed: AtomicBool,
    /// The next maintenance crawls every segment (after a flush).
    crawl_all: AtomicBool,
    /// memcached's `hash_power_level`, which `stats` reports: log2 of the
    /// table it would have grown to for the most items held so far.
    hash_power: AtomicU32,
    pub(super) config: CacheConfig,
    /// Told of each eviction (the server's `watch evictions`).
    pub(super) on_evict: std::sync::OnceLock<EvictHook>,
}

/// What [`Cache::on_evict`] calls, under the evicted item's stripe lock.
pub type EvictHook = Box<dyn Fn(&super::dump::DumpItem) + Send + Sync>;

impl Cache {
    pub fn new(config: CacheConfig, clock: Arc<Clock>) -> Cache {
        let n = STRIPES;
        let slab = &config.slab;
        let classes = Arc::new(Classes::new(
            slab.min_data,
            slab.growth_factor,
            slab.chunk_max,
            config.use_cas,
        ));
        let stripes = (0..n)
            .map(|i| {
                let s = Stripe::new(i as u64, n.trailing_zeros(), classes.clone());
                Padded(Mutex::new(s))
            })
            .collect();
        Cache {
            stripes,
            stripe_mask: n - 1,
            log: Log::new(config.memory_limit, config.max_item_size),
            clean: Cleaner::default(),
            clock,
            oldest_live: AtomicU32::new(0),
            classes,
            flush_cas: (0..n).map(|_| AtomicU64::new(0)).collect(),
            flushed: AtomicBool::new(false),
            crawl_all: AtomicBool::new(false),
            hash_power: AtomicU32::new(HASH_POWER_START),
            config,
            on_evict: std::sync::OnceLock::new(),
        }
    }

    /// Have `hook` see every item evicted from now on (once; it must be
    /// quick: it runs with the item's stripe locked).
    pub fn on_evict(&self, hook: EvictHook) {
        let _ = self.on_evict.set(hook);
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Largest value a key of `key_len` bytes may carry.
    pub fn max_value(&self, key_len: usize) -> usize {
        self.config.max_item_size.saturating_sub(HDR + key_len)
    }

    pub(super) fn ctx(&self) -> Ctx<'_> {
        let now = self.clock.now();
        let oldest_live = self.oldest_live.load(Ordering::Relaxed);
        Ctx {
            log: &self.log,
            now,
            oldest_live: if oldest_live <= now { oldest_live } else { 0 },
            flush_cas: if self.flushed.load(Ordering::Relaxed) {
                Some(&self.flush_cas)
            } else {
                None
            },
            use_cas: self.config.use_cas,
        }
    }

    pub(super) fn locate(&self, key: &[u8]) -> (usize, u64) {
        let hash = stripe::hasher().hash_one(key);
        (((hash >> 32) as usize) & self.stripe_mask, hash)
    }

    pub(super) fn lock(&self, i: usize) -> StripeGuard<'_> {
        StripeGuard::lock(&self.stripes[i].0, &self.log)
    }
    // ---- reads ---------------------------------------------------------

    /// Look `key` up and let `f` read the item while the stripe is locked.
    /// `f` must be quick: copy a short value, or pin a long one.
    pub fn get<'a, R>(&'a self, key: &[u8], f: impl FnOnce(&ItemView<'a>) -> R) -> Option<R> {
        self.read(key, None, f)
    }

    /// `gat`: like [`Cache::get`], and set a new exptime.
    pub fn get_and_touch<'a, R>(
        &'a self,
        key: &[u8],
        exptime: i64,
        f: impl FnOnce(&ItemView<'a>) -> R,
    ) -> Option<R> {
        self.read(key, Some(self.clock.expiry(exptime)), f)
    }

    pub(super) fn read<'a, R>(
        &'a self,
        key: &[u8],
        exp: Option<u32>,
        f: impl FnOnce(&ItemView<'a>) -> R,
    ) -> Option<R> {
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let h = s.lookup(&ctx, hash, key)?;
        if let Some(exp) = exp {
            s.set_exp(&self.log, h, exp);
        }
        s.mark_used(&self.log, h, ctx.now, true);
        Some(f(&s.view(&self.log, h)))
    }

    pub fn touch(&self, key: &[u8], exptime: i64) -> bool {
        let exp = self.clock.expiry(exptime);
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let Some(h) = s.lookup(&ctx, hash, key) else {
            return false;
        };
        s.set_exp(&self.log, h, exp);
        s.mark_used(&self.log, h, ctx.now, false);
        true
    }

    pub fn delete(&self, key: &[u8]) -> bool {
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let Some(h) = s.lookup(&ctx, hash, key) else {
            return false;
        };
        s.unlink(&self.log, hash, h);
        true
    }

    /// Copy an item's value into `out` (pinning a long one and copying it
    /// after unlocking); returns its flags, exptime, CAS and status bits.
    pub(super) fn copy_value(&self, key: &[u8], out: &mut Vec<u8>) -> Option<(u32, u32, u64, u8)> {
        let mut pinned = None;
        let fields = self.read(key, None, |item| {
            match &item.value {
                Value::Inline(v) => v.extend_into(out),
                Value::Shared(v) => pinned = Some(v.pin()),
            }
            (item.flags, item.exp, item.cas, item.bits)
        })?;
        if let Some(p) = pinned {
            p.bytes().extend_into(out);
        }
        Some(fields)
    }

    // ---- writes --------------------------------------------------------

    /// A storage command. `exptime` follows the protocol's rules.
    pub fn store(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        value: &[u8],
    ) -> Result<StoreOutcome, StoreError> {
        self.store_with(mode, key, flags, exptime, value, &StoreOptions::default())
    }

    /// The storage mode's verdict on the item `old` found under the key:
    /// `Err` with the refusal, or `Ok(stale)`, where `stale` says an older
    /// CAS stores anyway, as a stale value (meta `I`).
    fn check_mode(
        &self,
        s: &mut Stripe,
        now: u32,
        mode: StoreMode,
        old: Option<log::Handle>,
        invalidate: bool,
    ) -> Result<bool, StoreOutcome> {
        match (mode, old) {
            (StoreMode::Add, Some(h)) => {
                // memcached bumps the item a failed add ran into.
                s.mark_used(&self.log, h, now, false);
                Err(StoreOutcome::NotStored)
            }
            (StoreMode::Replace, None) => Err(StoreOutcome::NotStored),
            (StoreMode::Cas(_), None) => Err(StoreOutcome::NotFound),
            (StoreMode::Cas(unique), Some(h)) => {
                let cas = s.header(&self.log, h).cas;
                if cas == unique {
                    Ok(false)
                } else if invalidate && unique < cas {
                    // memcached: an older CAS may still store, as a stale
                    // value that keeps the item's TTL.
                    Ok(true)
                } else {
                    Err(StoreOutcome::Exists)
                }
            }
            _ => Ok(false),
        }
    }

    /// What a conditional store finds before it writes anything: the
    /// refusal it would answer now, if any.
    fn precheck(&self, mode: StoreMode, key: &[u8], invalidate: bool) -> Option<StoreOutcome> {
        if matches!(mode, StoreMode::Set) {
            return None;
        }
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let old = s.lookup(&ctx, hash, key);
        self.check_mode(&mut s, ctx.now, mode, old, invalidate)
            .err()
    }

    /// Set, add, replace or cas an item whose value is the concatenation of
    /// `value`'s two pieces and whose expiry is already relative. The record
    /// is written into the log before the stripe is locked; the lock only
    /// checks the mode and links it.
    pub(super) fn put(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exp: u32,
        value: [&[u8]; 2],
        extra: PutExtra,
    ) -> Result<StoreOutcome, StoreError> {
        let nbytes = value[0].len() + value[1].len();
        let len = log::record_len(key.len(), flags, nbytes);
        if HDR + key.len() + nbytes > self.config.max_item_size || len > self.log.max_record() {
            return Err(StoreError::TooLarge);
        }
        if let Some(refused) = self.precheck(mode, key, extra.invalidate) {
            return Ok(refused);
        }
        let r = self.reserve(len)?;
        let now = self.clock.now();
        log::write_record(r.words(), key, flags, exp, now, 0, extra.bits, value);
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let old = s.lookup(&ctx, hash, key);
        let stale = match self.check_mode(&mut s, ctx.now, mode, old, extra.invalidate) {
            Ok(stale) => stale,
            Err(refused) => return Ok(refused), // `r` drops: its bytes become a filler
        };
        let h = r.handle();
        if stale {
            // memcached (do_store_item, CAS_STALE): the stale value keeps
            // the old item's TTL, and its win token if one was sent.
            let before = s.header(&self.log, old.expect("cas found it"));
            s.set_bits(&self.log, h, log::STALE | (before.bits & log::WON), 0);
            s.set_exp(&self.log, h, before.exp);
        }
        let cas = match extra.new_cas {
            Some(cas) => cas,
            None => s.next_cas(ctx.use_cas),
        };
        s.set_cas(&self.log, h, cas);
        s.link(&self.log, hash, r, old);
        Ok(StoreOutcome::Stored(cas))
    }

    /// Append or prepend: copy the old value out, then store the
    /// combination only if nobody changed the item meanwhile. With the
    /// outcome, the length of the value stored (of `data` alone when
    /// nothing was), for meta's `s` flag.
    pub(super) fn concat(
        &self,
        key: &[u8],
        data: &[u8],
        append: bool,
        opts: &StoreOptions,
    ) -> Result<(StoreOutcome, usize), StoreError> {
        let mut buf = Vec::new();
        let alone = |outcome| Ok((outcome, data.len()));
        for _ in 0..16 {
            buf.clear();
            let Some((flags, exp, cas, bits)) = self.copy_value(key, &mut buf) else {
                return alone(StoreOutcome::NotStored);
            };
            if opts.compare_cas.is_some_and(|c| c != 0 && c != cas) {
                return alone(StoreOutcome::Exists);
            }
            if HDR + key.len() + buf.len() + data.len() > self.config.max_item_size {
                return alone(StoreOutcome::NotStored);
            }
            let pieces: [&[u8]; 2] = if append { [&buf, data] } else { [data, &buf] };
            let extra = PutExtra {
                new_cas: opts.new_cas,
                bits: bits & (STALE | BINARY_KEY),
                invalidate: false,
            };
            match self.put(StoreMode::Cas(cas), key, flags, exp, pieces, extra) {
                Ok(StoreOutcome::Exists) => continue,
                Ok(StoreOutcome::NotFound) => return alone(StoreOutcome::NotStored),
                Err(StoreError::TooLarge) => return alone(StoreOutcome::NotStored),
                Ok(stored @ StoreOutcome::Stored(_)) => {
                    return Ok((stored, buf.len() + data.len()))
                }
                other => return other.map(|o| (o, data.len())),
            }
        }
        alone(StoreOutcome::NotStored)
    }

    /// `incr` / `decr`: decimal arithmetic on the value, wrapping at 2^64
    /// upwards and stopping at 0 downwards. A shorter result is padded with
    /// spaces in place, as memcached does.
    pub fn delta(&self, key: &[u8], delta: u64, incr: bool) -> Result<u64, DeltaError> {
        match self.delta_with(key, delta, incr, &DeltaOptions::default())? {
            DeltaOutcome::Applied(d) | DeltaOutcome::Created(d) => Ok(d.value),
            DeltaOutcome::Exists => Err(DeltaError::NotFound),
        }
    }

    /// `flush_all`: now, or `delay` seconds from now.
    ///
    /// memcached's cliff, second for second: items last accessed at or
    /// before `oldest_live` are flushed once the clock reaches it. With CAS
    /// that is the second before the flush's, and the cut is exact by CAS
    /// unique: each stripe's next one, taken under its lock, so every item
    /// linked before is below it and every item linked after is not.
    /// Without CAS (`-C`) it is the flush's own second, so an item set in
    /// the same second after `flush_all 0` is gone too, as memcached's
    /// `t/flush-all.t` expects. Nothing is unlinked here: a flushed item
    /// is reclaimed when a lookup, the crawler or the cleaner meets it
    /// (counted in `get_flushed` and `reclaimed`), so a flush costs one
    /// lock per stripe, not one per item.
    pub fn flush_all(&self, delay: i64) {
        let at = if delay > 0 {
            self.clock.expiry(delay)
        } else {
            self.clock.now()
        };
        let oldest_live = if self.config.use_cas { at - 1 } else { at };
        self.oldest_live.store(oldest_live, Ordering::Relaxed);
        if delay > 0 || !self.config.use_cas {
            return;
        }
        for (i, cut) in self.flush_cas.iter().enumerate() {
            let s = self.lock(i);
            cut.store(s.cas_cut(), Ordering::Relaxed);
        }
        self.flushed.store(true, Ordering::Relaxed);
        self.crawl_all.store(true, Ordering::Relaxed);
    }

    /// Empty the cache now, as if it had never held an item: for a load
    /// that turns out unsound before the server serves (not `flush_all`,
    /// which clients see and counters count).
    pub fn clear(&self) {
        for i in 0..self.stripes.len() {
            self.lock(i).clear(&self.log);
        }
    }

    /// `cache_memlimit`: takes effect at once; segments past the new limit
    /// are emptied by [`Cache::maintain`].
    pub fn set_memory_limit(&self, bytes: usize) {
        self.log.set_limit(bytes);
    }

    // ---- memory --------------------------------------------------------

    /// Room for a record of `len` bytes, cleaning a segment first when the
    /// budget is spent. Called with no stripe lock held.
    pub(super) fn reserve(&self, len: usize) -> Result<Reservation<'_>, StoreError> {
        self.evict_ahead(len);
        for _ in 0..64 {
            if self.log.wants_clean(self.spare()) {
                self.clean(false);
            }
            match self.log.reserve(len) {
                Ok(r) => return Ok(r),
                Err(log::Full::NeedClean) => {
                    if !self.clean(true) {
                        return Err(StoreError::OutOfMemory);
                    }
                }
            }
        }
        Err(StoreError::OutOfMemory)
    }

    /// Background work, called about once a second: reclaim expired and
    /// flushed items in `segments` sealed segments and the head (none when
    /// 0: memcached with its LRU crawler off leaves expired items in place
    /// until they are met or their memory is needed), and empty segments
    /// past a lowered limit.
    pub fn maintain(&self, segments: usize) {
        // After a flush every segment is mostly garbage: one full pass.
        let all = self.crawl_all.swap(false, Ordering::Relaxed);
        if all || segments > 0 {
            let crawled = self.crawl(if all { usize::MAX } else { segments });
            if !crawled && all {
                self.crawl_all.store(true, Ordering::Relaxed);
            }
        }
        self.free_empty();
        // memcached grows its table past 1.5 items per bucket, and never
        // shrinks it.
        let items = self.stats().items.curr_items;
        let mut p = self.hash_power();
        while p < 32 && items > (3u64 << p) / 2 {
            p += 1;
        }
        self.raise_hash_power(p);
        let mut rounds = 0;
        while self.log.segment_counts().0 > self.log.limit_segments() && rounds < 1 << 16 {
            if !self.clean(true) {
                break;
            }
            rounds += 1;
        }
    }

    // ---- stats ---------------------------------------------------------

    pub fn stats(&self) -> StoreStats {
        let (used, free) = self.log.segment_counts();
        let mut out = StoreStats {
            limit_maxbytes: self.log.limit_bytes() as u64,
            total_malloced: self.log.allocated_bytes() as u64,
            total_pages: (self.log.allocated_bytes() / self.log.segment_bytes()) as u64,
            segment_bytes: self.log.segment_bytes() as u64,
            segments_used: used as u64,
            segments_free: free as u64,
            // A roll that leaves `limit - 1` in use makes writers evict
            // (or, with -M, clean).
            segments_spare: free.min(self.log.limit_segments().saturating_sub(used + 2)) as u64,
            live_bytes: self.log.live_bytes() as u64,
            segments_compacted: self.clean.compacted(),
            segments_evicted: self.clean.evicted(),
            ..Default::default()
        };
        for i in 0..self.stripes.len() {
            let s = self.lock(i);
            let st = &s.stats;
            let o = &mut out.items;
            o.curr_items += st.curr_items;
            o.total_items += st.total_items;
            o.bytes += st.bytes;
            o.evictions += st.evictions;
            o.evicted_unfetched += st.evicted_unfetched;
            o.evicted_active += st.evicted_active;
            o.reclaimed += st.reclaimed;
            o.expired_unfetched += st.expired_unfetched;
            o.crawler_reclaimed += st.crawler_reclaimed;
            o.moved += st.moved;
            o.evicted_time = o.evicted_time.max(st.evicted_time);
            o.get_expired += st.get_expired;
            o.get_flushed += st.get_flushed;
        }
        out
    }

    /// Figures per memcached size class (index `i` is class id `i + 1`):
    /// the classes memcached would store these items in (`classes.rs`).
    pub fn class_stats(&self) -> Vec<ClassStats> {
        let c = &self.classes;
        let mut out: Vec<ClassStats> = (0..c.len())
            .map(|i| {
                let e = c.events(i);
                ClassStats {
                    chunk_size: c.size(i) as u64,
                    chunks_per_page: c.per_page(i) as u64,
                    evicted: e.evicted.load(Ordering::Relaxed),
                    evicted_nonzero: e.evicted_nonzero.load(Ordering::Relaxed),
                    evicted_unfetched: e.evicted_unfetched.load(Ordering::Relaxed),
                    evicted_active: e.evicted_active.load(Ordering::Relaxed),
                    reclaimed: e.reclaimed.load(Ordering::Relaxed),
                    expired_unfetched: e.expired_unfetched.load(Ordering::Relaxed),
                    crawler_reclaimed: e.crawler_reclaimed.load(Ordering::Relaxed),
                    evicted_time: e.evicted_time.load(Ordering::Relaxed),
                    seen: e.seen.load(Ordering::Relaxed),
                    ..Default::default()
                }
            })
            .collect();
        for i in 0..self.stripes.len() {
            let s = self.lock(i);
            for (o, l) in out.iter_mut().zip(s.live.iter()) {
                o.items += l.items;
                o.bytes += l.bytes;
            }
        }
        out
    }

    /// How many memcached size classes the figures are kept for.
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// `stats reset`: zero the event counters (evictions, reclaims, ...)
    /// and `total_items`; live figures stay.
    pub fn reset_stats(&self) {
        for i in 0..self.stripes.len() {
            self.lock(i).reset_stats();
        }
        self.classes.reset();
    }

    /// memcached's `hash_power_level` for `stats`.
    pub fn hash_power(&self) -> u32 {
        self.hash_power.load(Ordering::Relaxed)
    }

    /// Keep `hash_power_level` at least `p` (a restart restores it).
    pub fn raise_hash_power(&self, p: u32) {
        self.hash_power.fetch_max(p.min(32), Ordering::Relaxed);
    }

    pub fn stripe_count(&self) -> usize {
        self.stripes.len()
    }
}

/// A counter value as memcached reads it (`strtoull`): decimal digits,
/// optionally after whitespace or `+`, ending at the value's end or at
/// whitespace, after which anything may follow (its own padding, or
/// `5 x`, which memcached counts as 5).
pub(super) fn parse_counter(v: &[u8]) -> Option<u64> {
    let start = v.iter().position(|b| !b.is_ascii_whitespace())?;
    let v = &v[start..];
    let v = v.strip_prefix(b"+").unwrap_or(v);
    let end = v
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(v.len());
    if end == 0 || v.get(end).is_some_and(|b| !b.is_ascii_whitespace()) {
        return None;
    }
    v[..end].iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add((d - b'0') as u64)
    })
}

//! The cache: a lock-striped, slab-allocated store that knows nothing of
//! sockets or protocols.
//!
//! A key is hashed once; bits 32.. of the hash pick a stripe, the whole hash
//! picks a bucket in that stripe's index. Each stripe owns its slab pages, so
//! one request holds exactly one stripe lock and never a global one. See
//! `stripe.rs` for the item layout and `slab.rs` for classes and the budget.

mod meta;
mod slab;
mod stripe;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use ahash::RandomState;
use parking_lot::{Mutex, MutexGuard};

use crate::clock::Clock;
pub use meta::{
    DeleteOptions, DeleteOutcome, DeltaDone, DeltaOptions, DeltaOutcome, ItemInfo, ReadOptions,
    ReadState, StoreOptions,
};
use slab::{Budget, SlabClasses};
pub use slab::{ClassId, SlabConfig, PAGE_SIZE};
pub use stripe::{ClassStats, ItemView, StripeStats, Value, BINARY_KEY, FETCHED, HDR, STALE, WON};
use stripe::{Ctx, Need, NewItem, Stripe, LARGE_OVERHEAD};

/// Fixed hash seeds: placement only has to be stable within one process.
const SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// Most stripes the cache splits into.
const MAX_STRIPES: usize = 256;
/// Fewest pages a stripe should be able to own at the memory limit, so a
/// stripe can hold several size classes at once.
const PAGES_PER_STRIPE: usize = 16;

/// The store's share of the configuration.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// `-m`, in bytes.
    pub memory_limit: usize,
    /// `-I`: largest item, header and key included.
    pub max_item_size: usize,
    /// `!-M`.
    pub evictions: bool,
    /// `!-C`.
    pub use_cas: bool,
    pub slab: SlabConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            memory_limit: 64 << 20,
            max_item_size: 1 << 20,
            evictions: true,
            use_cas: true,
            slab: SlabConfig {
                min_data: 48,
                growth_factor: 1.25,
                chunk_max: PAGE_SIZE / 4,
            },
        }
    }
}

/// How a storage command treats an existing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    /// Store only if the item's CAS unique still equals this one.
    Cas(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored, with the item's new CAS unique.
    Stored(u64),
    NotStored,
    /// `cas` against an item whose unique changed.
    Exists,
    /// `cas` against a missing item.
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    TooLarge,
    OutOfMemory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaError {
    NotFound,
    NonNumeric,
    /// The result needed memory that `-M` refused.
    OutOfMemory,
}

/// Store-wide figures for `stats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreStats {
    pub items: StripeStats,
    pub limit_maxbytes: u64,
    /// Bytes taken from the budget (pages and large items).
    pub total_malloced: u64,
    pub total_pages: u64,
}

/// Keeps a stripe on its own cache lines so neighbouring locks don't share.
#[repr(align(128))]
struct Padded(Mutex<Stripe>);

pub struct Cache {
    stripes: Box<[Padded]>,
    stripe_mask: usize,
    hasher: RandomState,
    classes: SlabClasses,
    budget: Arc<Budget>,
    clock: Arc<Clock>,
    /// Relative time at which a delayed `flush_all` takes effect (0: none).
    flush_deadline: AtomicU32,
    config: CacheConfig,
}

impl Cache {
    pub fn new(config: CacheConfig, clock: Arc<Clock>) -> Cache {
        let classes = SlabClasses::new(HDR, config.slab);
        let pages = (config.memory_limit / PAGE_SIZE).max(1);
        let n = prev_power_of_two((pages / PAGES_PER_STRIPE).clamp(1, MAX_STRIPES));
        let hasher = RandomState::with_seeds(SEEDS[0], SEEDS[1], SEEDS[2], SEEDS[3]);
        let budget = Arc::new(Budget::new(config.memory_limit));
        let stripes = (0..n)
            .map(|i| {
                Padded(Mutex::new(Stripe::new(
                    i as u64,
                    n.trailing_zeros(),
                    hasher.clone(),
                    budget.clone(),
                    classes.len(),
                )))
            })
            .collect();
        Cache {
            stripes,
            stripe_mask: n - 1,
            hasher,
            classes,
            budget,
            clock,
            flush_deadline: AtomicU32::new(0),
            config,
        }
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

    fn ctx(&self) -> Ctx<'_> {
        let now = self.clock.now();
        let deadline = self.flush_deadline.load(Ordering::Relaxed);
        Ctx {
            classes: &self.classes,
            now,
            flush_before: if deadline != 0 && now >= deadline {
                deadline
            } else {
                0
            },
            evictions: self.config.evictions,
            use_cas: self.config.use_cas,
        }
    }

    fn locate(&self, key: &[u8]) -> (usize, u64) {
        let hash = self.hasher.hash_one(key);
        (((hash >> 32) as usize) & self.stripe_mask, hash)
    }

    fn lock(&self, i: usize) -> MutexGuard<'_, Stripe> {
        self.stripes[i].0.lock()
    }

    // ---- reads ---------------------------------------------------------

    /// Look `key` up and let `f` read the item while the stripe is locked.
    /// `f` must be quick: copy a small value, or clone a shared one.
    pub fn get<R>(&self, key: &[u8], f: impl FnOnce(&ItemView) -> R) -> Option<R> {
        self.read(key, None, f)
    }

    /// `gat`: like [`Cache::get`], and set a new exptime.
    pub fn get_and_touch<R>(
        &self,
        key: &[u8],
        exptime: i64,
        f: impl FnOnce(&ItemView) -> R,
    ) -> Option<R> {
        self.read(key, Some(self.clock.expiry(exptime)), f)
    }

    fn read<R>(&self, key: &[u8], exp: Option<u32>, f: impl FnOnce(&ItemView) -> R) -> Option<R> {
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let h = s.lookup(&ctx, hash, key)?;
        if let Some(exp) = exp {
            s.set_exp(h, exp);
        }
        s.mark_used(h, ctx.now, true);
        let r = f(&s.view(h));
        unlock(s);
        Some(r)
    }

    pub fn touch(&self, key: &[u8], exptime: i64) -> bool {
        let exp = self.clock.expiry(exptime);
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let found = match s.lookup(&ctx, hash, key) {
            Some(h) => {
                s.set_exp(h, exp);
                s.mark_used(h, ctx.now, false);
                true
            }
            None => false,
        };
        unlock(s);
        found
    }

    pub fn delete(&self, key: &[u8]) -> bool {
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let found = s.lookup(&ctx, hash, key).map(|h| s.unlink(h)).is_some();
        unlock(s);
        found
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

    /// Set, add, replace or cas an item whose value is the concatenation of
    /// `value`'s two pieces and whose expiry is already relative.
    fn put(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exp: u32,
        value: [&[u8]; 2],
        extra: PutExtra,
    ) -> Result<StoreOutcome, StoreError> {
        let mut item = NewItem {
            key,
            flags,
            exp,
            cas: 0,
            value,
            bits: extra.bits,
        };
        let total = item.total();
        if total > self.config.max_item_size {
            return Err(StoreError::TooLarge);
        }
        let (i, hash) = self.locate(key);
        let class = self.classes.class_for(total);
        // Large items are built and paid for before taking the lock.
        let mut large = None;
        if class.is_none() {
            let charge = total + LARGE_OVERHEAD;
            if !self.reserve(i, charge) {
                return Err(StoreError::OutOfMemory);
            }
            let mut kv = Vec::with_capacity(total - HDR);
            kv.extend_from_slice(key);
            kv.extend_from_slice(value[0]);
            kv.extend_from_slice(value[1]);
            large = Some((Arc::new(kv), charge));
        }
        let mut s = self.lock(i);
        let result = loop {
            let ctx = self.ctx();
            let old = s.lookup(&ctx, hash, key);
            let refused = match (mode, old) {
                (StoreMode::Add, Some(h)) => {
                    // memcached bumps the item a failed add ran into.
                    s.mark_used(h, ctx.now, false);
                    Some(StoreOutcome::NotStored)
                }
                (StoreMode::Replace, None) => Some(StoreOutcome::NotStored),
                (StoreMode::Cas(_), None) => Some(StoreOutcome::NotFound),
                (StoreMode::Cas(unique), Some(h)) => {
                    let (cas, old_exp) = (s.view(h).cas, s.view(h).exp);
                    if cas == unique {
                        None
                    } else if extra.invalidate && unique < cas {
                        // memcached: an older CAS may still store, as a
                        // stale value that keeps the item's TTL.
                        item.bits |= STALE;
                        item.exp = old_exp;
                        None
                    } else {
                        Some(StoreOutcome::Exists)
                    }
                }
                _ => None,
            };
            if let Some(outcome) = refused {
                break Ok(outcome);
            }
            item.cas = match extra.new_cas {
                Some(cas) => cas,
                None => s.next_cas(ctx.use_cas),
            };
            let Some(class) = class else {
                let (kv, charge) = large.take().expect("built above");
                s.link_large(hash, &item, kv, charge, ctx.now, old);
                break Ok(StoreOutcome::Stored(item.cas));
            };
            if let Some(h) = old.filter(|&h| s.fits_in_place(&ctx, h, total)) {
                s.rewrite_small(h, &item, ctx.now);
                break Ok(StoreOutcome::Stored(item.cas));
            }
            match s.alloc_chunk(&ctx, class) {
                Ok(h) => {
                    // Making room may have evicted the old item; if so, start
                    // over so the mode checks see the truth.
                    if old.is_some() && s.lookup(&ctx, hash, key) != old {
                        s.free_chunk(h);
                        continue;
                    }
                    s.link_small(h, hash, &item, ctx.now, old);
                    break Ok(StoreOutcome::Stored(item.cas));
                }
                Err(Need::OutOfMemory) => break Err(StoreError::OutOfMemory),
                Err(need) => {
                    unlock(s);
                    let got = self.grow(i, need);
                    s = self.lock(i);
                    if !got {
                        break Err(StoreError::OutOfMemory);
                    }
                }
            }
        };
        unlock(s);
        if let Some((_, charge)) = large {
            self.budget.release(charge);
        }
        result
    }

    /// Append or prepend: in place when the item's chunk has room, else
    /// rebuild it and store it back only if nobody changed it meanwhile.
    fn concat(
        &self,
        key: &[u8],
        data: &[u8],
        append: bool,
        opts: &StoreOptions,
    ) -> Result<StoreOutcome, StoreError> {
        let (i, hash) = self.locate(key);
        for _ in 0..16 {
            let ctx = self.ctx();
            let mut s = self.lock(i);
            let Some(h) = s.lookup(&ctx, hash, key) else {
                unlock(s);
                return Ok(StoreOutcome::NotStored);
            };
            let (len, total, cur_cas) = {
                let v = s.view(h);
                (
                    v.value.len(),
                    HDR + key.len() + v.value.len() + data.len(),
                    v.cas,
                )
            };
            if opts.compare_cas.is_some_and(|c| c != 0 && c != cur_cas) {
                unlock(s);
                return Ok(StoreOutcome::Exists);
            }
            if total > self.config.max_item_size {
                unlock(s);
                return Ok(StoreOutcome::NotStored);
            }
            if s.fits_in_place(&ctx, h, total) {
                let cas = opts.new_cas.unwrap_or_else(|| s.next_cas(ctx.use_cas));
                s.extend_small(h, data, append, cas, ctx.now);
                unlock(s);
                return Ok(StoreOutcome::Stored(cas));
            }
            unlock(s);
            // Copy the old value out (allocating outside the lock), then
            // store the combination with a CAS check.
            let mut buf = Vec::with_capacity(len + data.len());
            let Some((flags, exp, cas, bits)) = self.read(key, None, |item| {
                if item.value.len() == len {
                    buf.extend_from_slice(item.value.as_slice());
                }
                (item.flags, item.exp, item.cas, item.bits)
            }) else {
                return Ok(StoreOutcome::NotStored);
            };
            if buf.len() != len {
                continue;
            }
            if opts.compare_cas.is_some_and(|c| c != 0 && c != cas) {
                return Ok(StoreOutcome::Exists);
            }
            let pieces: [&[u8]; 2] = if append { [&buf, data] } else { [data, &buf] };
            let extra = PutExtra {
                new_cas: opts.new_cas,
                bits: bits & (STALE | BINARY_KEY),
                invalidate: false,
            };
            match self.put(StoreMode::Cas(cas), key, flags, exp, pieces, extra) {
                Ok(StoreOutcome::Exists) => continue,
                Ok(StoreOutcome::NotFound) => return Ok(StoreOutcome::NotStored),
                Err(StoreError::TooLarge) => return Ok(StoreOutcome::NotStored),
                other => return other,
            }
        }
        Ok(StoreOutcome::NotStored)
    }

    /// `incr` / `decr`: decimal arithmetic on the value, wrapping at 2^64
    /// upwards and stopping at 0 downwards. A shorter result is padded with
    /// spaces in place, as memcached does.
    pub fn delta(&self, key: &[u8], delta: u64, incr: bool) -> Result<u64, DeltaError> {
        let (i, hash) = self.locate(key);
        for _ in 0..16 {
            let ctx = self.ctx();
            let mut s = self.lock(i);
            let Some(h) = s.lookup(&ctx, hash, key) else {
                unlock(s);
                return Err(DeltaError::NotFound);
            };
            let (current, len, flags, exp, cas) = {
                let v = s.view(h);
                (
                    parse_counter(v.value.as_slice()),
                    v.value.len(),
                    v.flags,
                    v.exp,
                    v.cas,
                )
            };
            let Some(current) = current else {
                unlock(s);
                return Err(DeltaError::NonNumeric);
            };
            let new = if incr {
                current.wrapping_add(delta)
            } else {
                current.saturating_sub(delta)
            };
            let mut digits = itoa::Buffer::new();
            let text = digits.format(new).as_bytes();
            if text.len() <= len && !Stripe::is_large(h) {
                let mut padded = [b' '; 20];
                padded[..text.len()].copy_from_slice(text);
                let cas = s.next_cas(ctx.use_cas);
                let item = NewItem {
                    key,
                    flags,
                    exp,
                    cas,
                    value: [&padded[..len], &[]],
                    bits: 0,
                };
                s.rewrite_small(h, &item, ctx.now);
                unlock(s);
                return Ok(new);
            }
            unlock(s);
            let extra = PutExtra::default();
            match self.put(StoreMode::Cas(cas), key, flags, exp, [text, &[]], extra) {
                Ok(StoreOutcome::Stored(_)) => return Ok(new),
                Ok(StoreOutcome::NotFound) => return Err(DeltaError::NotFound),
                Ok(_) => continue,
                Err(_) => return Err(DeltaError::OutOfMemory),
            }
        }
        Err(DeltaError::NotFound)
    }

    /// `flush_all`: now, or `delay` seconds from now.
    pub fn flush_all(&self, delay: i64) {
        if delay > 0 {
            self.flush_deadline
                .store(self.clock.expiry(delay), Ordering::Relaxed);
            return;
        }
        self.flush_deadline.store(0, Ordering::Relaxed);
        for i in 0..self.stripes.len() {
            let mut s = self.lock(i);
            s.flush(&self.classes);
            unlock(s);
        }
    }

    /// `cache_memlimit`: takes effect at once; excess memory is given up by
    /// [`Cache::maintain`].
    pub fn set_memory_limit(&self, bytes: usize) {
        self.budget.set_limit(bytes);
    }

    // ---- memory --------------------------------------------------------

    /// Take `bytes` from the budget, evicting (from stripe `home` first) to
    /// make room. False when nothing more can be evicted.
    fn reserve(&self, home: usize, bytes: usize) -> bool {
        let n = self.stripes.len();
        for k in 0..n {
            loop {
                if self.budget.try_reserve(bytes) {
                    return true;
                }
                if !self.config.evictions {
                    return false;
                }
                let ctx = self.ctx();
                let mut s = self.lock((home + k) % n);
                let freed = s.give_up_memory(&ctx);
                unlock(s);
                if !freed {
                    break;
                }
            }
        }
        self.budget.try_reserve(bytes)
    }

    /// Give stripe `i` a page, allocated here, outside any lock.
    fn grow(&self, i: usize, need: Need) -> bool {
        let reserved = match need {
            Need::Page => self.budget.try_reserve(PAGE_SIZE) || self.reserve(i, PAGE_SIZE),
            _ => self.reserve((i + 1) % self.stripes.len(), PAGE_SIZE),
        };
        if !reserved {
            return false;
        }
        let page = vec![0u8; PAGE_SIZE].into_boxed_slice();
        let mut s = self.lock(i);
        let extra = s.give_spare(page);
        unlock(s);
        if extra.is_some() {
            self.budget.release(PAGE_SIZE);
        }
        true
    }

    /// Background work, called about once a second: reclaim expired and
    /// flushed items, and give memory back after the limit was lowered.
    pub fn maintain(&self, pages_per_stripe: usize) {
        for i in 0..self.stripes.len() {
            let ctx = self.ctx();
            let mut s = self.lock(i);
            s.crawl(&ctx, pages_per_stripe);
            unlock(s);
        }
        let n = self.stripes.len();
        let mut idle = 0;
        let mut k = 0;
        while self.budget.excess() > 0 && idle < n {
            let ctx = self.ctx();
            let mut s = self.lock(k % n);
            let freed = s.give_up_memory(&ctx);
            unlock(s);
            idle = if freed { 0 } else { idle + 1 };
            k += 1;
        }
    }

    // ---- stats ---------------------------------------------------------

    pub fn stats(&self) -> StoreStats {
        let mut out = StoreStats {
            limit_maxbytes: self.budget.limit() as u64,
            total_malloced: self.budget.used() as u64,
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
            o.reclaimed += st.reclaimed;
            o.expired_unfetched += st.expired_unfetched;
            o.slab_reassigns += st.slab_reassigns;
            o.large_items += st.large_items;
            o.crawler_reclaimed += st.crawler_reclaimed;
            out.total_pages += s.page_count() as u64;
        }
        out
    }

    /// Number of slab classes, and the chunk size of each.
    pub fn classes(&self) -> impl Iterator<Item = (ClassId, usize)> + '_ {
        (0..self.classes.len()).map(|c| (c as ClassId, self.classes.chunk_size(c as ClassId)))
    }

    /// One class's pages, items and free chunks, summed over stripes.
    pub fn class_stats(&self, class: ClassId) -> ClassStats {
        let mut out = ClassStats::default();
        for i in 0..self.stripes.len() {
            let c = self.lock(i).class_stats(class);
            out.pages += c.pages;
            out.items += c.items;
            out.free_chunks += c.free_chunks;
        }
        out
    }

    pub fn stripe_count(&self) -> usize {
        self.stripes.len()
    }
}

/// What a meta store adds to a plain [`Cache::put`].
#[derive(Debug, Default, Clone, Copy)]
struct PutExtra {
    /// The new item's CAS unique (meta `E`), instead of a fresh one.
    new_cas: Option<u64>,
    /// Status bits the new item starts with.
    bits: u8,
    /// A `Cas` older than the item's stores a stale value (meta `I`).
    invalidate: bool,
}

/// Release a stripe lock, freeing afterwards whatever it gave up, and
/// allocating the larger index it asked for, if any.
fn unlock(mut s: MutexGuard<'_, Stripe>) {
    let wanted = s.take_index_request();
    if s.trash.is_empty() && wanted.is_none() {
        return;
    }
    let trash = std::mem::take(&mut s.trash);
    let mutex = MutexGuard::mutex(&s);
    drop(s);
    drop(trash);
    if let Some(items) = wanted {
        let table = stripe::new_index(items);
        let mut s = mutex.lock();
        s.give_index(table);
        let trash = std::mem::take(&mut s.trash);
        drop(s);
        drop(trash);
    }
}

/// A counter value as memcached reads it (`strtoull`): decimal digits,
/// optionally after whitespace or `+`, ending at the value's end or at
/// whitespace, after which anything may follow (its own padding, or
/// `5 x`, which memcached counts as 5).
fn parse_counter(v: &[u8]) -> Option<u64> {
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

fn prev_power_of_two(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.max(1).leading_zeros())
}

#[cfg(test)]
mod tests;

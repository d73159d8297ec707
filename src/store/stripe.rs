//! One lock stripe: its share of the hash index, its CAS counter and its
//! item counters. Item memory is not the stripe's: records live in the
//! shared log (`log.rs`), and the index maps a key's hash to the handle of
//! its record there.
//!
//! `Stripe` is only reached through [`StripeGuard`], so every method here
//! runs with the stripe lock held (memcached's `do_*` functions). Nothing
//! here allocates on the common path or makes a syscall: an old index
//! replaced under the lock is parked in the stripe's trash, and a larger
//! index is allocated after unlocking; the guard's `Drop` does both, so no
//! early return can skip them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::{Mutex, MutexGuard};

use super::classes::{ClassLive, Classes};
use super::log::{self, Handle, Header, Log, Reservation, FETCHED, REF};
use super::words::Bytes;

/// A stripe's hash index: record handles, found by key hash.
pub type Index = HashTable<Handle>;

/// Items a new stripe's index holds before it first asks to grow (one
/// 512-bucket hashbrown table).
pub const INITIAL_INDEX: usize = 448;

/// Values longer than this are copied out after unlocking, from a pinned
/// segment, so the lock is never held for a long copy.
pub const PIN_ABOVE: usize = 16 * 1024;

/// Per-stripe counters, summed over stripes by `stats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StripeStats {
    pub curr_items: u64,
    pub total_items: u64,
    /// Bytes of the records of live items: header, key, value, padding
    /// (memcached's `bytes`).
    pub bytes: u64,
    pub evictions: u64,
    pub evicted_unfetched: u64,
    /// Evicted items that had been read since they were last moved.
    pub evicted_active: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub crawler_reclaimed: u64,
    /// Records the cleaner moved forward (kept, not evicted).
    pub moved: u64,
    /// Relative access time of the last evicted item (0: none yet).
    pub evicted_time: u32,
    /// Lookups that found their item expired, or flushed (memcached
    /// counts them in `do_item_get`, whatever the command).
    pub get_expired: u64,
    pub get_flushed: u64,
}

/// What a stripe needs from the cache that owns it, for one operation.
pub struct Ctx<'a> {
    pub log: &'a Log,
    pub now: u32,
    /// Items last accessed at or before this relative time are flushed
    /// (0: none).
    pub oldest_live: u32,
    /// After a `flush_all`, each stripe's CAS cut: an item whose CAS unique
    /// (which names its stripe in its low bits) is below its stripe's cut
    /// was stored before the flush (memcached's `oldest_cas`).
    pub flush_cas: Option<&'a [AtomicU64]>,
    pub use_cas: bool,
}

impl Ctx<'_> {
    #[inline]
    pub fn is_dead(&self, hdr: &Header) -> bool {
        self.is_expired(hdr) || self.is_flushed(hdr)
    }

    #[inline]
    pub fn is_expired(&self, hdr: &Header) -> bool {
        hdr.exp != 0 && hdr.exp <= self.now
    }

    /// memcached's `item_is_flushed`.
    #[inline]
    pub fn is_flushed(&self, hdr: &Header) -> bool {
        (self.oldest_live != 0 && hdr.time <= self.oldest_live)
            || self.flush_cas.is_some_and(|cuts| {
                let cut = cuts[hdr.cas as usize & (cuts.len() - 1)].load(Relaxed);
                hdr.cas != 0 && hdr.cas < cut
            })
    }
}

/// What a caller sees of an item while the lock is held.
pub struct ItemView<'a> {
    pub key: Bytes<'a>,
    pub flags: u32,
    pub cas: u64,
    /// Relative expiry (0: never).
    pub exp: u32,
    /// Relative time of the last access.
    pub time: u32,
    /// Status bits as they are now ([`FETCHED`], `STALE`, `WON`).
    pub bits: u8,
    pub value: Value<'a>,
}

/// An item's value, in log memory. A short one is copied while the stripe
/// is locked; a long one is [`Value::Shared`]: pin it, unlock, then copy.
pub enum Value<'a> {
    Inline(Bytes<'a>),
    Shared(Shared<'a>),
}

impl<'a> Value<'a> {
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, to copy while the lock is held.
    pub fn bytes(&self) -> Bytes<'a> {
        match self {
            Value::Inline(b) => *b,
            Value::Shared(s) => s.bytes,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes().to_vec()
    }
}

/// A long value that may be pinned and copied after unlocking.
pub struct Shared<'a> {
    log: &'a Log,
    h: Handle,
    bytes: Bytes<'a>,
}

impl<'a> Shared<'a> {
    /// Keep the value's bytes in place after the stripe is unlocked.
    pub fn pin(&self) -> Pinned<'a> {
        Pinned {
            _pin: self.log.pin(self.h),
            bytes: self.bytes,
        }
    }
}

/// A long value's bytes, readable after unlocking until dropped.
pub struct Pinned<'a> {
    _pin: log::Pin<'a>,
    bytes: Bytes<'a>,
}

impl<'a> Pinned<'a> {
    pub fn bytes(&self) -> Bytes<'a> {
        self.bytes
    }
}

pub struct Stripe {
    id: u64,
    /// log2 of the stripe count: CAS uniques are `(counter << id_bits) | id`.
    id_bits: u32,
    index: Index,
    /// Items `index` held when it was empty (hashbrown's load limit, 7/8 of
    /// its buckets). Growth is measured against this, not `capacity()`,
    /// which tombstones left by removals also shrink.
    index_full: usize,
    /// A larger (or tombstone-free) index this stripe wants; allocated
    /// after unlocking by [`StripeGuard`].
    index_wanted: Option<usize>,
    next_cas: u64,
    /// Old indexes, dropped after unlocking.
    trash: Vec<Index>,
    pub stats: StripeStats,
    /// Live items and bytes per memcached size class (see `classes`).
    classes: Arc<Classes>,
    pub live: Box<[ClassLive]>,
}

/// A locked stripe. Dropping it unlocks, then frees what the operation
/// replaced and serves the stripe's request for a larger index.
pub struct StripeGuard<'a> {
    guard: Option<MutexGuard<'a, Stripe>>,
    log: &'a Log,
}

impl<'a> StripeGuard<'a> {
    pub fn lock(mutex: &'a Mutex<Stripe>, log: &'a Log) -> StripeGuard<'a> {
        StripeGuard {
            guard: Some(mutex.lock()),
            log,
        }
    }
}

impl std::ops::Deref for StripeGuard<'_> {
    type Target = Stripe;
    fn deref(&self) -> &Stripe {
        self.guard.as_ref().expect("locked until dropped")
    }
}

impl std::ops::DerefMut for StripeGuard<'_> {
    fn deref_mut(&mut self) -> &mut Stripe {
        self.guard.as_mut().expect("locked until dropped")
    }
}

impl Drop for StripeGuard<'_> {
    fn drop(&mut self) {
        let Some(mut s) = self.guard.take() else {
            return;
        };
        let wanted = s.index_wanted.take();
        if s.trash.is_empty() && wanted.is_none() {
            return;
        }
        let trash = std::mem::take(&mut s.trash);
        let mutex = MutexGuard::mutex(&s);
        drop(s);
        drop(trash);
        if let Some(items) = wanted {
            let table = Index::with_capacity(items);
            let mut s = mutex.lock();
            s.give_index(self.log, table);
            let trash = std::mem::take(&mut s.trash);
            drop(s);
            drop(trash);
        }
    }
}

fn key_hash(log: &Log, hasher: &ahash::RandomState, h: Handle) -> u64 {
    let hdr = log.header(h);
    let mut buf = [0u8; 256];
    let key = &mut buf[..hdr.nkey];
    log.key(h, &hdr).copy_to(key);
    hasher.hash_one(&*key)
}

impl Stripe {
    pub fn new(id: u64, id_bits: u32, classes: Arc<Classes>) -> Stripe {
        let index = Index::with_capacity(INITIAL_INDEX);
        Stripe {
            live: vec![ClassLive::default(); classes.len()].into_boxed_slice(),
            classes,
            id,
            id_bits,
            index_full: index.capacity(),
            index,
            index_wanted: None,
            next_cas: 1,
            trash: Vec::new(),
            stats: StripeStats::default(),
        }
    }

    // ---- index -------------------------------------------------------

    fn find(&self, log: &Log, hash: u64, key: &[u8]) -> Option<Handle> {
        self.index
            .find(hash, |&h| {
                let hdr = log.header(h);
                log.key(h, &hdr).eq_slice(key)
            })
            .copied()
    }

    /// Whether `h` is the linked record under `hash`.
    pub fn holds(&self, hash: u64, h: Handle) -> bool {
        self.index.find(hash, |&x| x == h).is_some()
    }

    /// The record linked now for the key whose hash is `hash` and whose
    /// record was `h` (rewritten or moved since, it has another handle).
    pub fn current(&self, log: &Log, hash: u64, h: Handle) -> Option<Handle> {
        if self.holds(hash, h) {
            return Some(h);
        }
        self.index
            .find(hash, |&x| key_hash_fast(log, x) == hash)
            .copied()
    }

    /// The live item under `key`, reclaiming it first if it has expired or
    /// been flushed.
    pub fn lookup(&mut self, ctx: &Ctx, hash: u64, key: &[u8]) -> Option<Handle> {
        let h = self.find(ctx.log, hash, key)?;
        let hdr = ctx.log.header(h);
        if ctx.is_flushed(&hdr) {
            self.stats.get_flushed += 1;
        } else if ctx.is_expired(&hdr) {
            self.stats.get_expired += 1;
        } else {
            return Some(h);
        }
        self.reclaim(ctx.log, hash, h, &hdr);
        None
    }

    pub fn view<'a>(&self, log: &'a Log, h: Handle) -> ItemView<'a> {
        let hdr = log.header(h);
        let bytes = log.value(h, &hdr);
        let value = if hdr.nbytes > PIN_ABOVE {
            Value::Shared(Shared { log, h, bytes })
        } else {
            Value::Inline(bytes)
        };
        ItemView {
            key: log.key(h, &hdr),
            flags: hdr.flags,
            cas: hdr.cas,
            exp: hdr.exp,
            time: hdr.time,
            bits: hdr.bits,
            value,
        }
    }

    pub fn header(&self, log: &Log, h: Handle) -> Header {
        log.header(h)
    }

    /// Mark an item used: sets the reference bit (and the fetched bit for a
    /// read) and its access time.
    pub fn mark_used(&mut self, log: &Log, h: Handle, now: u32, fetched: bool) {
        let rec = log.record(h);
        rec[log::W_TIME].store(now, std::sync::atomic::Ordering::Relaxed);
        log::set_meta_bits(rec, REF | if fetched { FETCHED } else { 0 }, 0);
    }

    pub fn set_exp(&mut self, log: &Log, h: Handle, exp: u32) {
        log.record(h)[log::W_EXP].store(exp, std::sync::atomic::Ordering::Relaxed);
    }

    /// Set then clear status bits (`STALE`, `WON`, ...) of an item.
    pub fn set_bits(&mut self, log: &Log, h: Handle, set: u8, clear: u8) {
        log::set_meta_bits(log.record(h), set, clear);
    }

    pub fn set_cas(&mut self, log: &Log, h: Handle, cas: u64) {
        let rec = log.record(h);
        rec[log::W_CAS].store(cas as u32, std::sync::atomic::Ordering::Relaxed);
        rec[log::W_CAS + 1].store((cas >> 32) as u32, std::sync::atomic::Ordering::Relaxed);
    }

    /// A fresh CAS unique: never repeats, never 0, no shared counter.
    pub fn next_cas(&mut self, use_cas: bool) -> u64 {
        if !use_cas {
            return 0;
        }
        let c = self.next_cas;
        self.next_cas += 1;
        (c << self.id_bits) | self.id
    }

    /// Make this stripe's next CAS unique larger than `cas`.
    pub fn raise_cas(&mut self, cas: u64) {
        self.next_cas = self.next_cas.max((cas >> self.id_bits).saturating_add(1));
    }

    // ---- linking -----------------------------------------------------

    /// Link the record written into `r` under `hash`, replacing `old` (a
    /// different, linked record) if given.
    pub fn link(&mut self, log: &Log, hash: u64, r: Reservation, old: Option<Handle>) {
        if let Some(old) = old {
            self.unlink(log, hash, old);
        }
        let h = r.handle();
        let hdr = log.header(h);
        let class = self.classes.of(hdr.nkey, hdr.flags, hdr.nbytes);
        self.insert(log, hash, h, hdr.total(), class);
        r.commit();
    }

    /// Link a record a load wrote and committed earlier (see
    /// `walk::Loader`), of `total` bytes in size class `class`, replacing
    /// the record linked under the same key, if any (a file written while
    /// serving may hold a key twice; the later one wins). Reads no record
    /// unless the index holds one whose hash tag matches.
    pub fn link_loaded(&mut self, log: &Log, hash: u64, h: Handle, total: usize, class: usize) {
        if let Some(&old) = self.index.find(hash, |&x| same_key(log, x, h)) {
            self.unlink(log, hash, old);
        }
        self.insert(log, hash, h, total, class);
    }

    fn insert(&mut self, log: &Log, hash: u64, h: Handle, total: usize, class: usize) {
        log.add_live(h, total);
        let hasher = |&x: &Handle| key_hash_fast(log, x);
        self.index.insert_unique(hash, h, hasher);
        self.stats.curr_items += 1;
        self.stats.total_items += 1;
        self.stats.bytes += total as u64;
        self.classes.mark_seen(class);
        let live = &mut self.live[class];
        live.items += 1;
        live.bytes += total as u64;
        self.check_index();
    }

    /// Remove an item from the index; its record becomes garbage.
    pub fn unlink(&mut self, log: &Log, hash: u64, h: Handle) {
        if let Ok(e) = self.index.find_entry(hash, |&x| x == h) {
            e.remove();
        }
        let hdr = log.header(h);
        log.sub_live(h, hdr.total());
        self.stats.curr_items -= 1;
        self.stats.bytes -= hdr.total() as u64;
        let live = &mut self.live[self.classes.of(hdr.nkey, hdr.flags, hdr.nbytes)];
        live.items -= 1;
        live.bytes -= hdr.total() as u64;
    }

    /// The expiry crawler reclaims `hdr`'s item (then calls [`Stripe::reclaim`]).
    pub fn count_crawler_reclaim(&mut self, hdr: &Header) {
        self.stats.crawler_reclaimed += 1;
        let ev = self
            .classes
            .events(self.classes.of(hdr.nkey, hdr.flags, hdr.nbytes));
        ev.crawler_reclaimed.fetch_add(1, Relaxed);
    }

    pub fn reclaim(&mut self, log: &Log, hash: u64, h: Handle, hdr: &Header) {
        let ev = self
            .classes
            .events(self.classes.of(hdr.nkey, hdr.flags, hdr.nbytes));
        if hdr.bits & FETCHED == 0 {
            self.stats.expired_unfetched += 1;
            ev.expired_unfetched.fetch_add(1, Relaxed);
        }
        self.stats.reclaimed += 1;
        ev.reclaimed.fetch_add(1, Relaxed);
        self.unlink(log, hash, h);
    }

    pub fn evict(&mut self, log: &Log, hash: u64, h: Handle, hdr: &Header) {
        let ev = self
            .classes
            .events(self.classes.of(hdr.nkey, hdr.flags, hdr.nbytes));
        if hdr.bits & FETCHED == 0 {
            self.stats.evicted_unfetched += 1;
            ev.evicted_unfetched.fetch_add(1, Relaxed);
        }
        if hdr.bits & REF != 0 {
            self.stats.evicted_active += 1;
            ev.evicted_active.fetch_add(1, Relaxed);
        }
        self.stats.evictions += 1;
        self.stats.evicted_time = hdr.time;
        ev.evicted.fetch_add(1, Relaxed);
        if hdr.exp != 0 {
            ev.evicted_nonzero.fetch_add(1, Relaxed);
        }
        ev.evicted_time.store(hdr.time, Relaxed);
        self.unlink(log, hash, h);
    }

    /// Move the linked record `h` into `r` (same length), keeping every
    /// field; `clear_ref` spends its CLOCK second chance.
    pub fn relocate(&mut self, log: &Log, hash: u64, h: Handle, r: Reservation, clear_ref: bool) {
        let src = log.record(h);
        let dst = r.words();
        for (d, s) in dst.iter().zip(src) {
            d.store(
                s.load(std::sync::atomic::Ordering::Relaxed),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        log::set_meta_bits(dst, log::MOVED, if clear_ref { REF } else { 0 });
        let len = r.len();
        let new = r.handle();
        if let Ok(mut e) = self.index.find_entry(hash, |&x| x == h) {
            *e.get_mut() = new;
        }
        log.sub_live(h, len);
        log.add_live(new, len);
        r.commit();
        self.stats.moved += 1;
    }

    /// Overwrite the value of the linked record `h` in place with `value`,
    /// which has the same length, and give it a new CAS unique. Only for
    /// short values (incr/decr), which readers copy under the lock.
    pub fn rewrite_value(&mut self, log: &Log, h: Handle, value: &[u8], cas: u64, now: u32) {
        let hdr = log.header(h);
        debug_assert!(value.len() == hdr.nbytes && hdr.nbytes <= PIN_ABOVE);
        let rec = log.record(h);
        let key = log.key(h, &hdr).to_vec_small();
        // Rewrite key and value together: the value need not start on a word.
        let start = hdr.hdr / 4;
        let mut w = super::words::WordWriter::new(&rec[start..], 0);
        w.bytes(&key.0[..key.1]);
        w.bytes(value);
        w.finish();
        self.set_cas(log, h, cas);
        rec[log::W_TIME].store(now, std::sync::atomic::Ordering::Relaxed);
        log::set_meta_bits(rec, REF, 0);
        self.stats.total_items += 1;
    }

    // ---- index growth ------------------------------------------------

    /// Move every handle into `table`, an empty index allocated outside the
    /// lock, and park the old one in the trash. Costs one key hash per item,
    /// once per doubling, and allocates nothing.
    pub(super) fn give_index(&mut self, log: &Log, mut table: Index) {
        let full = table.capacity();
        if full <= self.index.len() + self.index.len() / 8 {
            self.trash.push(table);
            self.check_index();
            return;
        }
        for h in self.index.drain() {
            let hash = key_hash_fast(log, h);
            table.insert_unique(hash, h, |&x| key_hash_fast(log, x));
        }
        let old = std::mem::replace(&mut self.index, table);
        self.index_full = full;
        self.trash.push(old);
    }

    /// Ask for a new index before this one runs out of room: twice the size
    /// past 3/4 full, or the same size when removals' tombstones have used
    /// up the room (a rebuild clears them).
    fn check_index(&mut self) {
        if self.index_wanted.is_some() {
            return;
        }
        let len = self.index.len();
        if len > self.index_full / 4 * 3 {
            self.index_wanted = Some(self.index_full * 2);
        } else if self.index.capacity() - len < self.index_full / 16 {
            self.index_wanted = Some(self.index_full);
        }
    }

    /// Items the index holds before it asks to grow (3/4 of `index_full`).
    pub(super) fn index_room(&self) -> usize {
        self.index_full / 4 * 3
    }

    /// Items the index can hold before it asks to grow (for tests).
    #[cfg(test)]
    pub fn index_full(&self) -> usize {
        self.index_full
    }

    // ---- whole-stripe operations ---------------------------------------

    /// Every linked record, in index order.
    pub fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.index.iter().copied()
    }

    /// Every linked record and its key hash (for a walk's snapshot).
    pub fn for_each_linked(&self, log: &Log, mut f: impl FnMut(Handle, u64)) {
        for &h in self.index.iter() {
            f(h, key_hash_fast(log, h));
        }
    }

    /// Unlink every item at once, counting nothing (see [`Cache::clear`]).
    ///
    /// [`Cache::clear`]: super::Cache::clear
    pub fn clear(&mut self, log: &Log) {
        for h in self.index.drain() {
            log.sub_live(h, log.header(h).total());
        }
        self.stats.curr_items = 0;
        self.stats.bytes = 0;
        self.live.fill(ClassLive::default());
    }

    /// The CAS unique this stripe hands out next: every item linked here
    /// so far has a smaller one (`flush_all`'s cut).
    pub fn cas_cut(&self) -> u64 {
        (self.next_cas << self.id_bits) | self.id
    }

    /// `stats reset`: zero the event counters (not the live figures).
    pub fn reset_stats(&mut self) {
        let StripeStats {
            curr_items, bytes, ..
        } = self.stats;
        self.stats = StripeStats {
            curr_items,
            bytes,
            ..StripeStats::default()
        };
    }
}

/// Whether records `a` and `b` have the same key.
fn same_key(log: &Log, a: Handle, b: Handle) -> bool {
    let (ha, hb) = (log.header(a), log.header(b));
    let (ka, kb) = (log.key(a, &ha), log.key(b, &hb));
    ka.len() == kb.len() && ka.to_vec_small().0 == kb.to_vec_small().0
}

/// The hash of the key of record `h`, as the index stores it.
fn key_hash_fast(log: &Log, h: Handle) -> u64 {
    key_hash(log, hasher(), h)
}

/// The one hasher: fixed seeds, so placement only has to be stable within
/// one process.
pub fn hasher() -> &'static ahash::RandomState {
    static HASHER: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    HASHER.get_or_init(|| {
        ahash::RandomState::with_seeds(
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
        )
    })
}

trait SmallCopy {
    fn to_vec_small(&self) -> ([u8; 256], usize);
}

impl SmallCopy for Bytes<'_> {
    fn to_vec_small(&self) -> ([u8; 256], usize) {
        let mut buf = [0u8; 256];
        self.copy_to(&mut buf[..self.len()]);
        (buf, self.len())
    }
}

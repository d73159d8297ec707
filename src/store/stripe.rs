//! One lock stripe: its share of the hash index, the slab pages it owns, its
//! large items, and the CLOCK hands that choose eviction victims.
//!
//! `Stripe` is only ever reached through its `parking_lot::MutexGuard`, so
//! every method here runs with the stripe lock held (memcached's `do_*`
//! functions). Nothing here allocates on the common path or makes a syscall:
//! pages arrive from outside the lock as [`Stripe::spare`], and memory given
//! up while the lock is held is parked in [`Stripe::trash`] and freed by the
//! caller after unlocking.
//!
//! ## Item layout
//! A small item lives in one chunk of a slab page: a 24-byte header, then the
//! key, then the value. All integers are little-endian.
//! ```text
//! 0        8      12     16      20       22    23    24
//! | cas u64 | exp | time | flags | nbytes | nkey | bits | key | value |
//! ```
//! `nbytes` is 16 bits because a small item fits a chunk of at most half a
//! 64 KiB page. A free chunk is not `LINKED` and keeps the next free chunk's
//! handle in its first four bytes. A large item keeps the same header in its
//! slab entry (its `nbytes` unused) and its key and value in one shared
//! buffer, whose length gives the value's.

use std::sync::Arc;

use ahash::RandomState;
use hashbrown::HashTable;
use slab::Slab;

use super::slab::{Budget, ClassId, SlabClasses, PAGE_SIZE};

/// Header bytes in front of every item's key.
pub const HDR: usize = 24;

const CAS: usize = 0;
const EXP: usize = 8;
const TIME: usize = 12;
const FLAGS: usize = 16;
const NBYTES: usize = 20;
const NKEY: usize = 22;
const BITS: usize = 23;

/// The chunk holds a live item (otherwise it is on a free list).
const LINKED: u8 = 1;
/// CLOCK reference bit: used since the hand last passed.
const REF: u8 = 2;
/// Read at least once since it was stored.
pub const FETCHED: u8 = 4;
/// Meta protocol: invalidated, served stale (`X`).
pub const STALE: u8 = 8;
/// Meta protocol: a win token was handed out for this item (`Z` for others).
pub const WON: u8 = 16;
/// Meta protocol: the key arrived base64-encoded (`b`) and is echoed so.
pub const BINARY_KEY: u8 = 32;

/// Refers to an item: a chunk `(page << SLOT_BITS) | slot`, or with
/// [`LARGE`] set, an entry of the stripe's large-item slab.
type Handle = u32;
const SLOT_BITS: u32 = 11;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const LARGE: Handle = 1 << 31;
const NIL: Handle = u32::MAX;

/// Bytes charged to the budget for a large item beyond its key and value:
/// its slab entry and the allocator's bookkeeping.
pub const LARGE_OVERHEAD: usize = 64;

/// Memory freed under the lock, dropped by the caller after unlocking.
/// The fields are never read: holding them is the point.
#[allow(dead_code)]
pub enum Trash {
    Page(Box<[u8]>),
    Large(Arc<Vec<u8>>),
    Index(Index),
}

/// A stripe's hash index: item handles, found by key hash.
pub type Index = HashTable<Handle>;

/// Items a new stripe's index holds before it first asks to grow (one
/// 512-bucket hashbrown table).
pub const INITIAL_INDEX: usize = 448;

/// An empty index with room for `items`, allocated by the caller outside
/// any lock and handed over with [`Stripe::give_index`].
pub fn new_index(items: usize) -> Index {
    HashTable::with_capacity(items)
}

struct Page {
    class: ClassId,
    /// Bytes per chunk of `class`, kept here so a handle resolves without
    /// the class table.
    chunk_size: u32,
    data: Box<[u8]>,
}

impl Page {
    #[inline]
    fn offset(&self, h: Handle) -> usize {
        (h & SLOT_MASK) as usize * self.chunk_size as usize
    }
}

struct Large {
    hdr: [u8; HDR],
    /// Key then value. Shared so a reader can copy the value after unlocking.
    kv: Arc<Vec<u8>>,
    /// Bytes taken from the budget for this item.
    charge: usize,
}

#[derive(Default, Clone)]
struct ClassState {
    free: Handle,
    free_chunks: u64,
    pages: u64,
    items: u64,
    /// CLOCK hand: index into `Stripe::pages` and slot within that page.
    hand_page: usize,
    hand_slot: usize,
}

/// Per-stripe counters, summed over stripes by `stats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StripeStats {
    pub curr_items: u64,
    pub total_items: u64,
    /// Sum of header + key + value over live items (memcached's `bytes`).
    pub bytes: u64,
    pub evictions: u64,
    pub evicted_unfetched: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub slab_reassigns: u64,
    pub large_items: u64,
    pub crawler_reclaimed: u64,
}

/// Per-class figures for `stats slabs` and `stats items`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClassStats {
    pub pages: u64,
    pub items: u64,
    pub free_chunks: u64,
}

/// What a caller sees of an item while the lock is held.
pub struct ItemView<'a> {
    pub key: &'a [u8],
    pub flags: u32,
    pub cas: u64,
    /// Relative expiry (0: never).
    pub exp: u32,
    /// Relative time of the last access.
    pub time: u32,
    /// Status bits as they are now ([`FETCHED`], [`STALE`], [`WON`]).
    pub bits: u8,
    pub value: Value<'a>,
}

/// An item's value: borrowed from a chunk, or a shared large buffer.
pub enum Value<'a> {
    Inline(&'a [u8]),
    Shared { buf: &'a Arc<Vec<u8>>, start: usize },
}

impl Value<'_> {
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Value::Inline(v) => v,
            Value::Shared { buf, start } => &buf[*start..],
        }
    }
}

/// Why an allocation could not be done under the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The budget has room: allocate a page outside the lock, then retry.
    Page,
    /// This stripe has nothing to evict for this class: free memory in
    /// another stripe, then retry.
    Steal,
    /// Evictions are disabled (`-M`) and the budget is spent.
    OutOfMemory,
}

/// What a stripe needs from the cache that owns it, for one operation.
pub struct Ctx<'a> {
    pub classes: &'a SlabClasses,
    pub now: u32,
    /// Items last accessed before this relative time are flushed (0: none).
    pub flush_before: u32,
    pub evictions: bool,
    pub use_cas: bool,
}

impl Ctx<'_> {
    #[inline]
    fn is_dead(&self, hdr: &[u8]) -> bool {
        let exp = rd32(hdr, EXP);
        (exp != 0 && exp <= self.now) || rd32(hdr, TIME) < self.flush_before
    }
}

/// The fields of a new item, as a storage command supplies them.
pub struct NewItem<'a> {
    pub key: &'a [u8],
    pub flags: u32,
    pub exp: u32,
    pub cas: u64,
    /// The value, as pieces to concatenate (append and prepend).
    pub value: [&'a [u8]; 2],
    pub bits: u8,
}

impl NewItem<'_> {
    pub fn value_len(&self) -> usize {
        self.value[0].len() + self.value[1].len()
    }

    pub fn total(&self) -> usize {
        HDR + self.key.len() + self.value_len()
    }

    fn header(&self, now: u32) -> [u8; HDR] {
        let mut hdr = [0u8; HDR];
        wr64(&mut hdr, CAS, self.cas);
        wr32(&mut hdr, EXP, self.exp);
        wr32(&mut hdr, TIME, now);
        wr32(&mut hdr, FLAGS, self.flags);
        // Only a small item's length is read from here (see the layout).
        wr16(
            &mut hdr,
            NBYTES,
            self.value_len().min(u16::MAX as usize) as u16,
        );
        hdr[NKEY] = self.key.len() as u8;
        hdr[BITS] = LINKED | REF | self.bits;
        hdr
    }
}

pub struct Stripe {
    id: u64,
    /// log2 of the stripe count: CAS uniques are `(counter << id_bits) | id`.
    id_bits: u32,
    hasher: RandomState,
    budget: Arc<Budget>,
    index: Index,
    /// Items `index` held when it was empty (hashbrown's load limit, 7/8 of
    /// its buckets). Growth is measured against this, not `capacity()`,
    /// which tombstones left by removals also shrink.
    index_full: usize,
    /// A larger (or tombstone-free) index this stripe wants. The caller
    /// allocates it after unlocking, so the lock never waits on the
    /// allocator; hashbrown's own resize stays only as a fallback.
    index_wanted: Option<usize>,
    pages: Vec<Option<Page>>,
    vacant_pages: Vec<u32>,
    class: Vec<ClassState>,
    large: Slab<Large>,
    large_hand: usize,
    next_cas: u64,
    /// A page allocated outside the lock, waiting for a class that needs it.
    spare: Option<Box<[u8]>>,
    /// Memory released under the lock; the caller drops it after unlocking.
    pub trash: Vec<Trash>,
    /// Where the background crawler resumes: index into `pages`, then the
    /// large items.
    crawl_cursor: usize,
    pub stats: StripeStats,
}

impl Stripe {
    pub fn new(
        id: u64,
        id_bits: u32,
        hasher: RandomState,
        budget: Arc<Budget>,
        classes: usize,
    ) -> Stripe {
        let cs = ClassState {
            free: NIL,
            ..Default::default()
        };
        Stripe {
            id,
            id_bits,
            hasher,
            budget,
            index: new_index(INITIAL_INDEX),
            index_full: 0,
            index_wanted: None,
            pages: Vec::new(),
            vacant_pages: Vec::new(),
            class: vec![cs; classes],
            large: Slab::new(),
            large_hand: 0,
            next_cas: 1,
            spare: None,
            trash: Vec::new(),
            crawl_cursor: 0,
            stats: StripeStats::default(),
        }
        .with_index_full()
    }

    fn with_index_full(mut self) -> Stripe {
        self.index_full = self.index.capacity();
        self
    }

    // ---- item access -------------------------------------------------

    fn page(&self, h: Handle) -> &Page {
        self.pages[(h >> SLOT_BITS) as usize]
            .as_ref()
            .expect("handle to a live page")
    }

    fn hdr(&self, h: Handle) -> &[u8] {
        if h & LARGE != 0 {
            &self.large[(h & !LARGE) as usize].hdr
        } else {
            let page = self.page(h);
            let off = page.offset(h);
            &page.data[off..off + HDR]
        }
    }

    fn hdr_mut(&mut self, h: Handle) -> &mut [u8] {
        if h & LARGE != 0 {
            &mut self.large[(h & !LARGE) as usize].hdr
        } else {
            let page = self.pages[(h >> SLOT_BITS) as usize]
                .as_mut()
                .expect("handle to a live page");
            let off = page.offset(h);
            &mut page.data[off..off + HDR]
        }
    }

    pub fn view(&self, h: Handle) -> ItemView<'_> {
        let hdr = self.hdr(h);
        let nkey = hdr[NKEY] as usize;
        let nbytes = rd16(hdr, NBYTES) as usize;
        let (key, value) = if h & LARGE != 0 {
            let l = &self.large[(h & !LARGE) as usize];
            (
                &l.kv[..nkey],
                Value::Shared {
                    buf: &l.kv,
                    start: nkey,
                },
            )
        } else {
            let page = self.page(h);
            let k = page.offset(h) + HDR;
            (
                &page.data[k..k + nkey],
                Value::Inline(&page.data[k + nkey..k + nkey + nbytes]),
            )
        };
        ItemView {
            key,
            flags: rd32(hdr, FLAGS),
            cas: rd64(hdr, CAS),
            exp: rd32(hdr, EXP),
            time: rd32(hdr, TIME),
            bits: hdr[BITS],
            value,
        }
    }

    // ---- index -------------------------------------------------------

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn find(&self, hash: u64, key: &[u8]) -> Option<Handle> {
        let (pages, large) = (&self.pages, &self.large);
        self.index
            .find(hash, |&h| key_of(pages, large, h) == key)
            .copied()
    }

    /// The live item under `key`, reclaiming it first if it has expired or
    /// been flushed.
    pub fn lookup(&mut self, ctx: &Ctx, hash: u64, key: &[u8]) -> Option<Handle> {
        let h = self.find(hash, key)?;
        if ctx.is_dead(self.hdr(h)) {
            self.reclaim(h);
            return None;
        }
        Some(h)
    }

    /// Mark an item used: sets the reference bit (and the fetched bit for a
    /// read) and its access time.
    pub fn mark_used(&mut self, h: Handle, now: u32, fetched: bool) {
        let hdr = self.hdr_mut(h);
        hdr[BITS] |= REF | if fetched { FETCHED } else { 0 };
        wr32(hdr, TIME, now);
    }

    pub fn set_exp(&mut self, h: Handle, exp: u32) {
        wr32(self.hdr_mut(h), EXP, exp);
    }

    /// Set then clear status bits ([`STALE`], [`WON`], ...) of an item.
    pub fn set_bits(&mut self, h: Handle, set: u8, clear: u8) {
        let hdr = self.hdr_mut(h);
        hdr[BITS] = (hdr[BITS] | set) & !clear;
    }

    pub fn set_cas(&mut self, h: Handle, cas: u64) {
        wr64(self.hdr_mut(h), CAS, cas);
    }

    /// The slab class of a small item; `None` for a large one.
    pub fn class_of(&self, h: Handle) -> Option<ClassId> {
        (h & LARGE == 0).then(|| self.page(h).class)
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

    /// Header, key and value bytes of an item (memcached's item size).
    fn total(&self, h: Handle) -> usize {
        if h & LARGE != 0 {
            HDR + self.large[(h & !LARGE) as usize].kv.len()
        } else {
            let hdr = self.hdr(h);
            HDR + hdr[NKEY] as usize + rd16(hdr, NBYTES) as usize
        }
    }

    /// Remove an item from the index and free its memory.
    pub fn unlink(&mut self, h: Handle) {
        let hash = self.hash(key_of(&self.pages, &self.large, h));
        if let Ok(e) = self.index.find_entry(hash, |&x| x == h) {
            e.remove();
        }
        let total = self.total(h);
        self.stats.curr_items -= 1;
        self.stats.bytes -= total as u64;
        self.free_item(h);
    }

    fn reclaim(&mut self, h: Handle) {
        if self.hdr(h)[BITS] & FETCHED == 0 {
            self.stats.expired_unfetched += 1;
        }
        self.stats.reclaimed += 1;
        self.unlink(h);
    }

    fn evict(&mut self, h: Handle) {
        if self.hdr(h)[BITS] & FETCHED == 0 {
            self.stats.evicted_unfetched += 1;
        }
        self.stats.evictions += 1;
        self.unlink(h);
    }

    fn free_item(&mut self, h: Handle) {
        if h & LARGE != 0 {
            let l = self.large.remove((h & !LARGE) as usize);
            self.stats.large_items -= 1;
            // The budget is returned now; the bytes are freed after unlocking.
            self.budget.release(l.charge);
            self.trash.push(Trash::Large(l.kv));
        } else {
            let page = self.pages[(h >> SLOT_BITS) as usize]
                .as_mut()
                .expect("handle to a live page");
            let off = page.offset(h);
            let cs = &mut self.class[page.class as usize];
            page.data[off + BITS] = 0;
            wr32(&mut page.data[off..], 0, cs.free);
            cs.free = h;
            cs.free_chunks += 1;
            cs.items -= 1;
        }
    }

    // ---- writing items -----------------------------------------------

    /// Write `item` into the unlinked chunk `h` and link it under `hash`,
    /// replacing `old` (which must be a different, linked item) if given.
    pub fn link_small(
        &mut self,
        h: Handle,
        hash: u64,
        item: &NewItem,
        now: u32,
        old: Option<Handle>,
    ) {
        if let Some(old) = old {
            self.unlink(old);
        }
        let hdr = item.header(now);
        let page = self.pages[(h >> SLOT_BITS) as usize]
            .as_mut()
            .expect("handle to a live page");
        let off = page.offset(h);
        let chunk = &mut page.data[off..off + item.total()];
        chunk[..HDR].copy_from_slice(&hdr);
        let (k, v) = chunk[HDR..].split_at_mut(item.key.len());
        k.copy_from_slice(item.key);
        let (a, b) = v.split_at_mut(item.value[0].len());
        a.copy_from_slice(item.value[0]);
        b.copy_from_slice(item.value[1]);
        self.index_insert(hash, h, item.total());
    }

    /// Overwrite the linked small item `h` with `item`, which fits its chunk.
    /// `item.value` must not borrow from the chunk itself.
    pub fn rewrite_small(&mut self, h: Handle, item: &NewItem, now: u32) {
        let old_total = self.total(h);
        let hdr = item.header(now);
        let page = self.pages[(h >> SLOT_BITS) as usize]
            .as_mut()
            .expect("handle to a live page");
        let off = page.offset(h);
        let chunk = &mut page.data[off..off + item.total()];
        chunk[..HDR].copy_from_slice(&hdr);
        let v = &mut chunk[HDR + item.key.len()..];
        let (a, b) = v.split_at_mut(item.value[0].len());
        a.copy_from_slice(item.value[0]);
        b.copy_from_slice(item.value[1]);
        self.stats.bytes = self.stats.bytes - old_total as u64 + item.total() as u64;
        self.stats.total_items += 1;
    }

    /// Append or prepend in place: the linked small item `h` grows by `data`
    /// and must still fit its chunk.
    pub fn extend_small(&mut self, h: Handle, data: &[u8], append: bool, cas: u64, now: u32) {
        let (nkey, nbytes) = {
            let hdr = self.hdr(h);
            (hdr[NKEY] as usize, rd16(hdr, NBYTES) as usize)
        };
        let page = self.pages[(h >> SLOT_BITS) as usize]
            .as_mut()
            .expect("handle to a live page");
        let v = page.offset(h) + HDR + nkey;
        let buf = &mut page.data[..];
        if append {
            buf[v + nbytes..v + nbytes + data.len()].copy_from_slice(data);
        } else {
            buf.copy_within(v..v + nbytes, v + data.len());
            buf[v..v + data.len()].copy_from_slice(data);
        }
        let hdr = self.hdr_mut(h);
        wr16(hdr, NBYTES, (nbytes + data.len()) as u16);
        wr64(hdr, CAS, cas);
        wr32(hdr, TIME, now);
        hdr[BITS] |= REF;
        self.stats.bytes += data.len() as u64;
        self.stats.total_items += 1;
    }

    /// Link a large item whose key and value were built outside the lock and
    /// whose `charge` is already taken from the budget.
    pub fn link_large(
        &mut self,
        hash: u64,
        item: &NewItem,
        kv: Arc<Vec<u8>>,
        charge: usize,
        now: u32,
        old: Option<Handle>,
    ) {
        if let Some(old) = old {
            self.unlink(old);
        }
        let idx = self.large.insert(Large {
            hdr: item.header(now),
            kv,
            charge,
        });
        self.stats.large_items += 1;
        self.index_insert(hash, LARGE | idx as u32, item.total());
    }

    fn index_insert(&mut self, hash: u64, h: Handle, total: usize) {
        let (pages, large, hasher) = (&self.pages, &self.large, &self.hasher);
        self.index
            .insert_unique(hash, h, |&x| hasher.hash_one(key_of(pages, large, x)));
        self.stats.curr_items += 1;
        self.stats.total_items += 1;
        self.stats.bytes += total as u64;
        self.check_index();
    }

    /// Ask for a new index before this one runs out of room: twice the size
    /// past 3/4 full, or the same size when removals' tombstones have used
    /// up the room (a rebuild clears them). Asking early leaves room for the
    /// inserts made before the new table arrives.
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

    /// The index size this stripe asked for, if any; the caller allocates it
    /// outside the lock and hands it over with [`Stripe::give_index`].
    pub fn take_index_request(&mut self) -> Option<usize> {
        self.index_wanted.take()
    }

    /// Move every handle into `table`, an empty index allocated outside the
    /// lock, and park the old one in the trash. Costs one key hash per item,
    /// once per doubling (amortised O(1) per insert), and allocates nothing.
    pub fn give_index(&mut self, mut table: Index) {
        let full = table.capacity();
        if full <= self.index.len() + self.index.len() / 8 {
            // Too small by now (the stripe kept growing): ask again.
            self.trash.push(Trash::Index(table));
            self.check_index();
            return;
        }
        let (pages, large, hasher) = (&self.pages, &self.large, &self.hasher);
        for h in self.index.drain() {
            let hash = hasher.hash_one(key_of(pages, large, h));
            table.insert_unique(hash, h, |&x| hasher.hash_one(key_of(pages, large, x)));
        }
        let old = std::mem::replace(&mut self.index, table);
        self.index_full = full;
        self.trash.push(Trash::Index(old));
    }

    /// Items the index can hold before it asks to grow (for tests).
    #[cfg(test)]
    pub fn index_full(&self) -> usize {
        self.index_full
    }

    /// Whether the linked item `h` can be rewritten in place as an item of
    /// `total` bytes: it is small and `total` belongs to the same class.
    pub fn fits_in_place(&self, ctx: &Ctx, h: Handle, total: usize) -> bool {
        h & LARGE == 0 && ctx.classes.class_for(total) == Some(self.page(h).class)
    }

    /// Return a chunk from [`Stripe::alloc_chunk`] that was not linked.
    pub fn free_chunk(&mut self, h: Handle) {
        debug_assert!(h & LARGE == 0);
        self.free_item(h);
    }

    pub fn is_large(h: Handle) -> bool {
        h & LARGE != 0
    }

    // ---- allocation --------------------------------------------------

    /// An unlinked chunk of `class`, evicting if the budget is spent.
    pub fn alloc_chunk(&mut self, ctx: &Ctx, class: ClassId) -> Result<Handle, Need> {
        loop {
            if let Some(h) = self.pop_free(class) {
                return Ok(h);
            }
            if let Some(page) = self.spare.take() {
                self.add_page(ctx.classes, class, page);
                continue;
            }
            if self.budget.used() + PAGE_SIZE <= self.budget.limit() {
                return Err(Need::Page);
            }
            if !ctx.evictions {
                return Err(Need::OutOfMemory);
            }
            if self.evict_in_class(ctx, class) {
                continue;
            }
            if self.reassign_page(ctx, class) {
                continue;
            }
            return Err(Need::Steal);
        }
    }

    /// Hand the stripe a page allocated (and charged) outside the lock.
    /// Returns it if the stripe already has one waiting.
    pub fn give_spare(&mut self, page: Box<[u8]>) -> Option<Box<[u8]>> {
        if self.spare.is_some() {
            return Some(page);
        }
        self.spare = Some(page);
        None
    }

    /// Free budget for a large item or another stripe: evict one large item
    /// or empty one page and give it up. Returns whether anything was freed.
    pub fn give_up_memory(&mut self, ctx: &Ctx) -> bool {
        if let Some(page) = self.spare.take() {
            self.budget.release(page.len());
            self.trash.push(Trash::Page(page));
            return true;
        }
        if !ctx.evictions {
            return false;
        }
        if self.evict_large(ctx) {
            return true;
        }
        let Some(p) = self.victim_page(None) else {
            return false;
        };
        self.empty_page(p);
        let page = self.pages[p].take().expect("live page");
        self.vacant_pages.push(p as u32);
        self.budget.release(page.data.len());
        self.trash.push(Trash::Page(page.data));
        true
    }

    /// CLOCK over the large items.
    fn evict_large(&mut self, ctx: &Ctx) -> bool {
        if self.large.is_empty() {
            return false;
        }
        let cap = self.large.capacity();
        for _ in 0..2 * cap + 1 {
            let i = self.large_hand % cap.max(1);
            self.large_hand = i + 1;
            let Some(l) = self.large.get_mut(i) else {
                continue;
            };
            let h = LARGE | i as u32;
            if ctx.is_dead(&l.hdr) {
                self.reclaim(h);
                return true;
            }
            if l.hdr[BITS] & REF != 0 {
                l.hdr[BITS] &= !REF;
                continue;
            }
            self.evict(h);
            return true;
        }
        false
    }

    fn pop_free(&mut self, class: ClassId) -> Option<Handle> {
        let cs = &mut self.class[class as usize];
        if cs.free == NIL {
            return None;
        }
        let h = cs.free;
        let page = self.pages[(h >> SLOT_BITS) as usize].as_ref()?;
        cs.free = rd32(&page.data, page.offset(h));
        cs.free_chunks -= 1;
        cs.items += 1;
        Some(h)
    }

    /// Take ownership of a fresh page and carve it into `class` chunks.
    fn add_page(&mut self, classes: &SlabClasses, class: ClassId, data: Box<[u8]>) {
        let page = Page {
            class,
            chunk_size: 0,
            data,
        };
        let p = match self.vacant_pages.pop() {
            Some(p) => {
                self.pages[p as usize] = Some(page);
                p
            }
            None => {
                self.pages.push(Some(page));
                (self.pages.len() - 1) as u32
            }
        };
        self.carve(classes, p, class);
    }

    fn carve(&mut self, classes: &SlabClasses, p: u32, class: ClassId) {
        let size = classes.chunk_size(class);
        let n = classes.per_page(class);
        let page = self.pages[p as usize].as_mut().expect("page just placed");
        page.class = class;
        page.chunk_size = size as u32;
        let cs = &mut self.class[class as usize];
        // Link slots in reverse so allocation walks the page forwards.
        for slot in (0..n as u32).rev() {
            let off = slot as usize * size;
            page.data[off + BITS] = 0;
            wr32(&mut page.data[off..], 0, cs.free);
            cs.free = (p << SLOT_BITS) | slot;
        }
        cs.free_chunks += n as u64;
        cs.pages += 1;
    }

    /// Advance the class's CLOCK hand to a victim and evict it. Expired and
    /// flushed items met on the way are reclaimed instead, which also ends
    /// the search.
    fn evict_in_class(&mut self, ctx: &Ctx, class: ClassId) -> bool {
        let cs = &self.class[class as usize];
        if cs.items == 0 {
            return false;
        }
        let per_page = ctx.classes.per_page(class);
        // Two sweeps clear every reference bit and then find a victim.
        let mut steps = 2 * (cs.pages as usize * per_page) + per_page;
        let (mut p, mut slot) = (cs.hand_page, cs.hand_slot);
        let mut wrapped = 0;
        while steps > 0 {
            if p >= self.pages.len() {
                p = 0;
                slot = 0;
                wrapped += 1;
                if wrapped > 3 {
                    break;
                }
            }
            let Some(page) = self.pages[p].as_mut().filter(|pg| pg.class == class) else {
                p += 1;
                slot = 0;
                continue;
            };
            if slot >= per_page {
                p += 1;
                slot = 0;
                continue;
            }
            steps -= 1;
            let h = ((p as u32) << SLOT_BITS) | slot as u32;
            let off = page.offset(h);
            slot += 1;
            let bits = page.data[off + BITS];
            if bits & LINKED == 0 {
                continue;
            }
            let dead = ctx.is_dead(&page.data[off..off + HDR]);
            if !dead && bits & REF != 0 {
                page.data[off + BITS] = bits & !REF;
                continue;
            }
            self.set_hand(class, p, slot);
            if dead {
                self.reclaim(h);
            } else {
                self.evict(h);
            }
            return true;
        }
        self.set_hand(class, p, slot);
        false
    }

    fn set_hand(&mut self, class: ClassId, p: usize, slot: usize) {
        let cs = &mut self.class[class as usize];
        cs.hand_page = p;
        cs.hand_slot = slot;
    }

    /// Give `class` a page taken from the class with the most pages in this
    /// stripe (memcached's slab rebalancing, kept inside one stripe).
    fn reassign_page(&mut self, ctx: &Ctx, class: ClassId) -> bool {
        let Some(p) = self.victim_page(Some(class)) else {
            return false;
        };
        self.empty_page(p);
        self.carve(ctx.classes, p as u32, class);
        self.stats.slab_reassigns += 1;
        true
    }

    /// The page to give up: the next one under the CLOCK hand of the class
    /// with the most pages (other than `except`).
    fn victim_page(&self, except: Option<ClassId>) -> Option<usize> {
        let victim = (0..self.class.len())
            .filter(|&c| Some(c as ClassId) != except && self.class[c].pages > 0)
            .max_by_key(|&c| self.class[c].pages)?;
        self.page_of_class(victim as ClassId)
    }

    /// The page the class's CLOCK hand is on or will reach next.
    fn page_of_class(&self, class: ClassId) -> Option<usize> {
        let n = self.pages.len();
        let start = self.class[class as usize].hand_page;
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&p| matches!(&self.pages[p], Some(pg) if pg.class == class))
    }

    /// Evict every item on page `p` and take its chunks off the free list;
    /// the page stays in `pages`, ready to be carved again or given up.
    fn empty_page(&mut self, p: usize) {
        let page = self.pages[p].as_ref().expect("live page");
        let (class, size) = (page.class, page.chunk_size as usize);
        let n = page.data.len() / size;
        for slot in 0..n {
            let linked =
                self.pages[p].as_ref().expect("live page").data[slot * size + BITS] & LINKED != 0;
            if linked {
                self.evict(((p as u32) << SLOT_BITS) | slot as u32);
            }
        }
        // Rebuild the class's free list without this page's chunks.
        let mut head = NIL;
        let mut kept = 0;
        let mut h = self.class[class as usize].free;
        while h != NIL {
            let q = (h >> SLOT_BITS) as usize;
            let pg = self.pages[q].as_mut().expect("free chunk's page");
            let off = pg.offset(h);
            let next = rd32(&pg.data, off);
            if q != p {
                wr32(&mut pg.data[off..], 0, head);
                head = h;
                kept += 1;
            }
            h = next;
        }
        let cs = &mut self.class[class as usize];
        cs.free = head;
        cs.free_chunks = kept;
        cs.pages -= 1;
        if cs.hand_page == p {
            cs.hand_page = p + 1;
            cs.hand_slot = 0;
        }
    }

    // ---- whole-stripe operations ---------------------------------------

    /// `flush_all` now: drop every item; pages stay, carved afresh.
    pub fn flush(&mut self, classes: &SlabClasses) {
        self.index.clear();
        for c in self.class.iter_mut() {
            *c = ClassState {
                free: NIL,
                ..Default::default()
            };
        }
        for p in 0..self.pages.len() {
            if let Some(page) = &self.pages[p] {
                let class = page.class;
                self.carve(classes, p as u32, class);
            }
        }
        for l in self.large.drain() {
            self.budget.release(l.charge);
            self.trash.push(Trash::Large(l.kv));
        }
        self.stats.curr_items = 0;
        self.stats.bytes = 0;
        self.stats.large_items = 0;
    }

    /// Reclaim expired and flushed items on up to `max_pages` pages (and the
    /// large items once per pass). Returns true when a pass has completed.
    pub fn crawl(&mut self, ctx: &Ctx, max_pages: usize) -> bool {
        for _ in 0..max_pages {
            let p = self.crawl_cursor;
            if p >= self.pages.len() {
                let cap = self.large.capacity();
                for i in 0..cap {
                    if matches!(self.large.get(i), Some(l) if ctx.is_dead(&l.hdr)) {
                        self.stats.crawler_reclaimed += 1;
                        self.reclaim(LARGE | i as u32);
                    }
                }
                self.crawl_cursor = 0;
                return true;
            }
            self.crawl_cursor += 1;
            let Some(page) = &self.pages[p] else { continue };
            let size = page.chunk_size as usize;
            for slot in 0..page.data.len() / size {
                let page = self.pages[p].as_ref().expect("live page");
                let off = slot * size;
                let hdr = &page.data[off..off + HDR];
                if hdr[BITS] & LINKED != 0 && ctx.is_dead(hdr) {
                    self.stats.crawler_reclaimed += 1;
                    self.reclaim(((p as u32) << SLOT_BITS) | slot as u32);
                }
            }
        }
        false
    }

    pub fn class_stats(&self, class: ClassId) -> ClassStats {
        let cs = &self.class[class as usize];
        ClassStats {
            pages: cs.pages,
            items: cs.items,
            free_chunks: cs.free_chunks,
        }
    }

    pub fn page_count(&self) -> usize {
        self.pages.len() - self.vacant_pages.len()
    }
}

fn key_of<'a>(pages: &'a [Option<Page>], large: &'a Slab<Large>, h: Handle) -> &'a [u8] {
    if h & LARGE != 0 {
        let l = &large[(h & !LARGE) as usize];
        &l.kv[..l.hdr[NKEY] as usize]
    } else {
        let page = pages[(h >> SLOT_BITS) as usize]
            .as_ref()
            .expect("handle to a live page");
        let off = page.offset(h);
        let nkey = page.data[off + NKEY] as usize;
        &page.data[off + HDR..off + HDR + nkey]
    }
}

#[inline]
fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

#[inline]
fn wr16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[inline]
fn rd32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[inline]
fn wr32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[inline]
fn rd64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[inline]
fn wr64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

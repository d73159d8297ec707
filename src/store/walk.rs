//! Every live item out, and items back in with their own fields: what a
//! snapshot of the cache (warm restart, `-e`) needs from the store. The
//! file format and its I/O are not here (`crate::persist`).

use super::cache::Cache;
use super::log::{self, BINARY_KEY, FETCHED, HDR, REF, STALE, WON};
use super::log::Handle;
use super::stripe::{StripeGuard, Value};
use super::types::StoreError;

/// The status bits an item keeps across a restart: CLOCK's reference bit,
/// fetched (meta `h`), stale and win (`X`, `W`/`Z`) and a binary key (`b`).
const KEPT_BITS: u8 = REF | FETCHED | STALE | WON | BINARY_KEY;

/// Longest key the log can hold (its length is one byte; 0 marks a filler).
pub const MAX_KEY: usize = 250;

/// One item, copied out of the log or about to go in.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ItemCopy {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub flags: u32,
    pub cas: u64,
    /// Relative expiry (0: never).
    pub exp: u32,
    /// Relative time of the last access.
    pub time: u32,
    /// Status bits ([`FETCHED`], `REF`, `STALE`, `WON`, `BINARY_KEY`).
    pub bits: u8,
}

/// One item going back in, borrowed from where it was read (a snapshot
/// file's section): nothing is copied before its record is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct ItemRef<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub flags: u32,
    pub cas: u64,
    /// Relative expiry (0: never).
    pub exp: u32,
    /// Relative time of the last access.
    pub time: u32,
    /// Status bits, as in [`ItemCopy::bits`].
    pub bits: u8,
}

impl Cache {
    /// Copy every live item into `item` in turn and call `f`, oldest written
    /// first; `f` returns false to stop. Returns the number of items visited.
    ///
    /// Each stripe lock is held for one record: a header check and the copy
    /// of a short value; a long value is pinned and copied after unlocking.
    /// The cleaner's lock keeps records from moving under the walk:
    /// - `online == false` (a stopped server): held for the whole walk, and
    ///   the result is exact;
    /// - `online == true` (while serving): held for one segment at a time,
    ///   so a writer waits at most that long. Segments sealed while the walk
    ///   ran are walked after, so an item the cleaner moves forward is still
    ///   seen (perhaps twice); an item stored or deleted during the walk may
    ///   or may not be in it.
    pub fn for_each_item(
        &self,
        item: &mut ItemCopy,
        online: bool,
        mut f: impl FnMut(&ItemCopy) -> bool,
    ) -> u64 {
        if !online {
            return self.walk_exact(item, &mut f);
        }
        let mut n = 0;
        let mut walked = std::collections::HashSet::new();
        // Each round walks what was sealed since the last; bounded, as
        // writers may seal segments as fast as the walk goes.
        for _ in 0..4 {
            let todo: Vec<u32> = self
                .log
                .sealed()
                .into_iter()
                .filter(|s| !walked.contains(s))
                .collect();
            if todo.is_empty() {
                break;
            }
            for seg in todo {
                walked.insert(seg);
                let _cleaner = self.clean.lock.lock();
                if !self.log.sealed().contains(&seg) {
                    continue; // cleaned meanwhile: its items moved ahead
                }
                let end = self.log.settle(seg);
                if !self.walk_segment(seg, end, item, &mut n, &mut f) {
                    return n;
                }
            }
        }
        let _cleaner = self.clean.lock.lock();
        if let Some((seg, end)) = self.log.head_extent() {
            self.walk_segment(seg, end, item, &mut n, &mut f);
        }
        n
    }

    /// The walk of a stopped server, driven by the indexes rather than the
    /// log: every linked handle is collected (a sequential scan of each
    /// index), bucketed by segment and sorted, then the records are read
    /// in log order. No key is hashed and no index probed per record,
    /// which is what a walk of the log must do to tell live records from
    /// garbage (one cache miss each: most of the time a 1 GiB save took).
    fn walk_exact(&self, item: &mut ItemCopy, f: &mut impl FnMut(&ItemCopy) -> bool) -> u64 {
        let _cleaner = self.clean.lock.lock();
        let mut order: Vec<(u32, usize)> = self
            .log
            .sealed()
            .into_iter()
            .map(|seg| (seg, self.log.settle(seg)))
            .collect();
        order.extend(self.log.head_extent());
        // Counting sort by segment: `start[seg]..start[seg + 1]` of `found`
        // are that segment's records as (word offset << 32 | stripe).
        let segs = self.log.segment_count();
        let mut start = vec![0usize; segs + 1];
        for i in 0..self.stripe_count() {
            for h in self.lock(i).handles() {
                start[self.log.split(h).0 as usize + 1] += 1;
            }
        }
        for s in 1..=segs {
            start[s] += start[s - 1];
        }
        let mut fill = start.clone();
        let mut found = vec![0u64; start[segs]];
        for i in 0..self.stripe_count() {
            for h in self.lock(i).handles() {
                let (seg, word) = self.log.split(h);
                found[fill[seg as usize]] = (word as u64) << 32 | i as u64;
                fill[seg as usize] += 1;
            }
        }
        drop(fill);
        let mut n = 0;
        for (seg, end) in order {
            let here = &mut found[start[seg as usize]..start[seg as usize + 1]];
            here.sort_unstable();
            for &e in here.iter() {
                let word = (e >> 32) as usize;
                if word * 4 >= end {
                    continue; // reserved after the walk began (none, stopped)
                }
                let h = (seg << self.log.off_bits()) | word as Handle;
                let s = self.lock((e & 0xffff_ffff) as usize);
                if !self.copy_out(s, h, item) {
                    continue;
                }
                n += 1;
                if !f(item) {
                    return n;
                }
            }
        }
        n
    }

    /// Copy the item at `h` into `item` if it is alive (not expired or
    /// flushed), unlocking `s` before copying a long value; whether it was.
    fn copy_out(&self, s: StripeGuard<'_>, h: Handle, item: &mut ItemCopy) -> bool {
        let hdr = self.log.header(h);
        if self.ctx().is_dead(&hdr) {
            return false;
        }
        let view = s.view(&self.log, h);
        item.key.clear();
        view.key.extend_into(&mut item.key);
        item.flags = view.flags;
        item.cas = view.cas;
        item.exp = view.exp;
        item.time = view.time;
        item.bits = view.bits & KEPT_BITS;
        item.value.clear();
        match &view.value {
            Value::Inline(v) => {
                v.extend_into(&mut item.value);
                drop(s);
            }
            Value::Shared(v) => {
                let pinned = v.pin();
                drop(s);
                pinned.bytes().extend_into(&mut item.value);
            }
        }
        true
    }

    /// The live records of one segment, up to `end`; false when `f` stops.
    fn walk_segment(
        &self,
        seg: u32,
        end: usize,
        item: &mut ItemCopy,
        n: &mut u64,
        f: &mut impl FnMut(&ItemCopy) -> bool,
    ) -> bool {
        for (h, hdr) in self.log.records(seg, end) {
            if hdr.nkey == 0 || hdr.nkey > MAX_KEY {
                continue; // filler
            }
            let (i, hash) = self.home(h, &hdr);
            let s = self.lock(i);
            if !s.holds(hash, h) {
                continue;
            }
            if !self.copy_out(s, h, item) {
                continue;
            }
            *n += 1;
            if !f(item) {
                return false;
            }
        }
        true
    }

    /// Store a loaded item as it was: its CAS, expiry, access time and
    /// status bits, replacing any item under its key. The caller drops
    /// expired items first and raises the CAS counters after
    /// ([`Cache::raise_cas_floor`]).
    pub fn load_item(&self, item: &ItemRef) -> Result<(), StoreError> {
        let (key, value) = (item.key, item.value);
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(StoreError::TooLarge);
        }
        let len = log::record_len(key.len(), item.flags, value.len());
        if HDR + key.len() + value.len() > self.config.max_item_size || len > self.log.max_record()
        {
            return Err(StoreError::TooLarge);
        }
        let r = self.reserve(len)?;
        let cas = if self.config.use_cas { item.cas } else { 0 };
        let bits = item.bits & KEPT_BITS;
        log::write_record(
            r.words(),
            key,
            item.flags,
            item.exp,
            item.time,
            cas,
            bits,
            [value, &[]],
        );
        let (i, hash) = self.locate(key);
        let ctx = self.ctx();
        let mut s = self.lock(i);
        let old = s.lookup(&ctx, hash, key);
        s.link(&self.log, hash, r, old);
        Ok(())
    }

    /// A [`Loader`] for items going back in at start-up.
    pub fn loader(&self) -> Loader<'_> {
        Loader {
            cache: self,
            cleaner: None,
            pending: (0..self.stripe_count()).map(|_| Vec::new()).collect(),
            held: 0,
        }
    }

    /// Size every stripe's index for `items` items in all, before a load
    /// stores them: an index growing as it fills rehashes every key it
    /// holds at each doubling, reading each record again (most of a 1 GiB
    /// load's time before this). A hint: more items still fit.
    pub fn expect_items(&self, items: usize) {
        let n = self.stripe_count();
        let per = items.div_ceil(n);
        // Keys spread over stripes binomially: four standard deviations
        // more covers the spread without doubling an index for a few.
        let want = per + 4 * (per as f64).sqrt() as usize + 64;
        for i in 0..n {
            if self.lock(i).index_room() >= want {
                continue;
            }
            // Allocated outside the lock, as the stripe's own growth is.
            let table = super::stripe::Index::with_capacity(want / 3 * 4 + 4);
            self.lock(i).give_index(&self.log, table);
        }
    }

    /// Bytes of records the budget holds now.
    pub fn capacity_bytes(&self) -> usize {
        self.log.capacity()
    }

    /// Make every CAS unique handed out from now on larger than `cas`.
    pub fn raise_cas_floor(&self, cas: u64) {
        for i in 0..self.stripe_count() {
            self.lock(i).raise_cas(cas);
        }
    }
}

/// A record a [`Loader`] wrote and has yet to link: its key's hash, its
/// handle, and its length (low 24 bits) and size class (high 8).
#[derive(Debug, Clone, Copy)]
struct Pending {
    hash: u64,
    h: Handle,
    len_class: u32,
}

/// Records a [`Loader`] holds unlinked at most (16 bytes each: 64 MiB).
const PENDING_MAX: usize = 1 << 22;

/// Stores the items of a load (before the ports open) like
/// [`Cache::load_item`], but links them stripe by stripe: records are
/// written in file order (so the log keeps its age order) and linked in
/// batches, each stripe's batch at one lock hold. One stripe's index stays
/// in the CPU's caches while its batch goes in, where linking each record
/// as it is written touches a cold line of one of 256 indexes each time
/// (two cache misses per item: most of a 1 GiB load's time before this).
///
/// Records written but not linked would be garbage to a cleaner, so the
/// loader holds the cleaner's lock while any are pending, never cleans
/// itself, and links what it holds before an item that needs room cleaned
/// goes in the ordinary way. Dropping it links everything pending.
pub struct Loader<'a> {
    cache: &'a Cache,
    cleaner: Option<parking_lot::MutexGuard<'a, usize>>,
    pending: Vec<Vec<Pending>>,
    held: usize,
}

impl Loader<'_> {
    /// Store `item` as [`Cache::load_item`] does (its link may wait).
    pub fn add(&mut self, item: &ItemRef) -> Result<(), StoreError> {
        let c = self.cache;
        let (key, value) = (item.key, item.value);
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(StoreError::TooLarge);
        }
        let len = log::record_len(key.len(), item.flags, value.len());
        if HDR + key.len() + value.len() > c.config.max_item_size || len > c.log.max_record() {
            return Err(StoreError::TooLarge);
        }
        let class = c.classes.of(key.len(), item.flags, value.len());
        if len < 1 << 24 && class <= u8::MAX as usize && self.held < PENDING_MAX {
            if self.cleaner.is_none() {
                self.cleaner = Some(c.clean.lock.lock());
            }
            if !c.log.wants_clean() {
                if let Ok(r) = c.log.reserve(len) {
                    let cas = if c.config.use_cas { item.cas } else { 0 };
                    let bits = item.bits & KEPT_BITS;
                    log::write_record(
                        r.words(),
                        key,
                        item.flags,
                        item.exp,
                        item.time,
                        cas,
                        bits,
                        [value, &[]],
                    );
                    let (i, hash) = c.locate(key);
                    self.pending[i].push(Pending {
                        hash,
                        h: r.handle(),
                        len_class: len as u32 | (class as u32) << 24,
                    });
                    self.held += 1;
                    // Written: a reservation is done with once committed;
                    // the cleaner's lock keeps its segment until linked.
                    r.commit();
                    return Ok(());
                }
            }
        }
        self.flush();
        c.load_item(item)
    }

    /// Link every pending record, stripe by stripe, and let the cleaner go.
    pub fn flush(&mut self) {
        let c = self.cache;
        if self.held > 0 {
            for (i, list) in self.pending.iter_mut().enumerate() {
                if list.is_empty() {
                    continue;
                }
                let mut s = c.lock(i);
                for p in list.drain(..) {
                    let (len, class) = (p.len_class & 0xff_ffff, p.len_class >> 24);
                    s.link_loaded(&c.log, p.hash, p.h, len as usize, class as usize);
                }
            }
            self.held = 0;
        }
        self.cleaner = None;
    }
}

impl Drop for Loader<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

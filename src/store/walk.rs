//! Every live item out, and items back in with their own fields: what a
//! snapshot of the cache (warm restart, `-e`) needs from the store. The
//! file format and its I/O are not here (`crate::persist`).

use super::cache::Cache;
use super::log::Handle;
use super::log::{self, BINARY_KEY, FETCHED, HDR, REF, STALE, WON};
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
    /// The walk is driven by the indexes rather than the log: every linked
    /// handle is collected (a sequential scan of each index, each stripe
    /// locked for its scan), bucketed by segment and sorted, then the
    /// records are read in log order, each under its stripe's lock (a long
    /// value is pinned and copied after unlocking). No key is hashed and no
    /// index probed per record, which a walk of the log must do to tell
    /// live records from garbage: a cache miss each, most of the time a
    /// 1 GiB snapshot took that way. The collected handles take 8 bytes an
    /// item until the walk ends.
    ///
    /// The cleaner's lock keeps records from moving under the walk:
    /// - `online == false` (a stopped server): held for the whole walk, and
    ///   the result is exact;
    /// - `online == true` (while serving): held while the handles are
    ///   collected, then for one segment at a time, so a writer waits at
    ///   most that long. A segment the cleaner emptied since the collection
    ///   is skipped: its live items were moved forward, into the head or
    ///   segments opened since, which are walked after (as a walk of the
    ///   log, checking each record against the index), so an item the
    ///   cleaner moves is still seen (perhaps twice). The snapshot is of
    ///   the collection's moment, plus some of what was stored after it: an
    ///   item stored during the walk may or may not be in it, and one
    ///   deleted or replaced during the walk is (a replaced one also with
    ///   its new value, later in the walk).
    pub fn for_each_item(
        &self,
        item: &mut ItemCopy,
        online: bool,
        mut f: impl FnMut(&ItemCopy) -> bool,
    ) -> u64 {
        let cleaner = self.clean.lock.lock();
        // (segment, its generation, bytes its collected records cover),
        // in walk order: sealed ones oldest first, then the head.
        let mut plan: Vec<(u32, u32, usize)> = self
            .log
            .sealed()
            .into_iter()
            .map(|seg| (seg, self.log.generation(seg), self.log.settle(seg)))
            .collect();
        if let Some((seg, end)) = self.log.head_extent() {
            plan.push((seg, self.log.generation(seg), end));
        }
        let mut found = self.collect_linked();
        // Online, writers may clean again; the walk takes the lock back
        // for each segment.
        let mut cleaner = if online {
            drop(cleaner);
            None
        } else {
            Some(cleaner)
        };
        let mut n = 0;
        // Segment -> (generation, bytes walked), for the walk of the log
        // that follows an online one.
        let mut walked = std::collections::HashMap::new();
        for (seg, generation, end) in plan {
            let _segment = online.then(|| self.clean.lock.lock());
            if self.log.generation(seg) != generation {
                continue; // emptied since: its live items moved ahead
            }
            walked.insert(seg, (generation, end));
            let here = &mut found[seg as usize];
            here.sort_unstable();
            for &e in here.iter() {
                let word = (e >> 32) as usize;
                if word * 4 >= end {
                    continue; // in the head, written after `end` was read
                }
                let h = (seg << self.log.off_bits()) | word as Handle;
                if !self.copy_out(self.lock((e & 0xffff_ffff) as usize), h, item) {
                    continue;
                }
                n += 1;
                if !f(item) {
                    return n;
                }
            }
        }
        drop(found);
        if cleaner.take().is_some() {
            return n;
        }
        self.walk_since(walked, item, &mut n, &mut f);
        n
    }

    /// After an online walk of what was linked when it began: walk the log
    /// written since (the rest of the head it saw, and segments opened or
    /// reused since), checking each record against the index. Bounded, as
    /// writers may seal segments as fast as the walk goes.
    fn walk_since(
        &self,
        mut walked: std::collections::HashMap<u32, (u32, usize)>,
        item: &mut ItemCopy,
        n: &mut u64,
        f: &mut impl FnMut(&ItemCopy) -> bool,
    ) {
        let mut walk = |seg: u32, end: usize, n: &mut u64| {
            let generation = self.log.generation(seg);
            let from = match walked.get(&seg) {
                Some(&(g, done)) if g == generation => done,
                _ => 0,
            };
            walked.insert(seg, (generation, end.max(from)));
            from >= end || self.walk_segment(seg, from, end, &mut *item, n, &mut *f)
        };
        for _ in 0..4 {
            let before = *n;
            for seg in self.log.sealed() {
                let _cleaner = self.clean.lock.lock();
                if !self.log.sealed().contains(&seg) {
                    continue; // emptied meanwhile: its items moved ahead
                }
                let end = self.log.settle(seg);
                if !walk(seg, end, n) {
                    return;
                }
            }
            if *n == before {
                break;
            }
        }
        let _cleaner = self.clean.lock.lock();
        if let Some((seg, end)) = self.log.head_extent() {
            walk(seg, end, n);
        }
    }

    /// Every linked handle, bucketed by segment: `found[seg]` holds that
    /// segment's records as `word offset << 32 | stripe`. One scan of each
    /// index (a count first would not match a second scan while writers
    /// link). Called with the cleaner's lock held, so no segment is emptied
    /// while the indexes are read.
    fn collect_linked(&self) -> Vec<Vec<u64>> {
        let mut found = vec![Vec::new(); self.log.segment_count()];
        for i in 0..self.stripe_count() {
            for h in self.lock(i).handles() {
                let (seg, word) = self.log.split(h);
                found[seg as usize].push((word as u64) << 32 | i as u64);
            }
        }
        found
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

    /// The live records of one segment from byte `from` to `end`; false
    /// when `f` stops.
    fn walk_segment(
        &self,
        seg: u32,
        from: usize,
        end: usize,
        item: &mut ItemCopy,
        n: &mut u64,
        f: &mut impl FnMut(&ItemCopy) -> bool,
    ) -> bool {
        for (h, hdr) in self.log.records_from(seg, from, end) {
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

    /// Write `item`'s record, every field as it was loaded (its CAS only
    /// with CAS on), into `r`.
    fn write_loaded(&self, r: &log::Reservation<'_>, item: &ItemRef) {
        let cas = if self.config.use_cas { item.cas } else { 0 };
        log::write_record(
            r.words(),
            item.key,
            item.flags,
            item.exp,
            item.time,
            cas,
            item.bits & KEPT_BITS,
            [item.value, &[]],
        );
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
        self.write_loaded(&r, item);
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
    cleaner: Option<parking_lot::MutexGuard<'a, super::cache::CleanState>>,
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
            if !c.log.wants_clean(c.spare()) {
                if let Ok(r) = c.log.reserve(len) {
                    c.write_loaded(&r, item);
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

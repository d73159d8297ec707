//! Every live item out, and items back in with their own fields: what a
//! snapshot of the cache (warm restart, `-e`) needs from the store. The
//! file format and its I/O are not here (`crate::persist`).

use parking_lot::MutexGuard;

use super::cache::{Cache, CleanState};
use super::log::Handle;
use super::log::{self, BINARY_KEY, FETCHED, HDR, MOVED, REF, STALE, WON};
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

/// Items (or records) an online walk visits between two questions to its
/// [`Pace`].
const PACE_EVERY: usize = 32;

/// How an online walk ([`Cache::for_each_item`]) shares the machine with
/// the requests served beside it. The walk asks [`Pace::due`] every few
/// dozen items; when it answers yes, the walk lets go of every lock it
/// holds and calls [`Pace::rest`].
pub trait Pace {
    /// Whether the walk has had its share for now.
    fn due(&mut self) -> bool;
    /// Rest: called with no lock of the cache held.
    fn rest(&mut self);
}

/// The segment a walk of the log is in, with what it needs to rest.
struct SegmentWalk<'w, 'p, 'g> {
    seg: u32,
    generation: u32,
    held: &'w mut Option<MutexGuard<'g, CleanState>>,
    pace: &'w mut Option<&'p mut dyn Pace>,
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
    /// - without `pace` (a stopped server): held for the whole walk, and
    ///   the result is exact;
    /// - with `pace` (while serving): held while the handles are collected,
    ///   then for one segment at a time, and let go whenever the walk rests
    ///   (see [`Pace`]), so a writer waits at most a few dozen items. A
    ///   segment the cleaner emptied since the collection (or while the
    ///   walk rested in it) is skipped: its live items were moved forward,
    ///   into the head or segments opened since, which are walked after
    ///   (as a walk of the log, taking the records the cleaner moved there
    ///   that the index still links), so an item the cleaner moves is still
    ///   seen (perhaps twice). The snapshot is of the moment the walk
    ///   began: every item linked for the whole walk is in it once or
    ///   twice, with its value; an item deleted or replaced during the walk
    ///   is in it as it was; an item stored during the walk is in it only
    ///   if its stripe was collected after the store. So the file holds
    ///   about what the cache held, however many writes the walk sees.
    pub fn for_each_item(
        &self,
        item: &mut ItemCopy,
        mut pace: Option<&mut dyn Pace>,
        mut f: impl FnMut(&ItemCopy) -> bool,
    ) -> u64 {
        let online = pace.is_some();
        let mut cleaner = Some(self.clean.lock.lock());
        // The head is read before the sealed segments: a head that a
        // writer seals meanwhile is then among them, rather than in
        // neither (its stored items would be in no walk).
        let head = self.log.head_extent();
        // (segment, its generation, bytes its collected records cover),
        // in walk order: sealed ones oldest first, then the head.
        let mut plan: Vec<(u32, u32, usize)> = self
            .log
            .sealed()
            .into_iter()
            .map(|seg| (seg, self.log.generation(seg), self.log.settle(seg)))
            .collect();
        if let Some((seg, end)) = head {
            if !plan.iter().any(|&(s, ..)| s == seg) {
                plan.push((seg, self.log.generation(seg), end));
            }
        }
        let mut found = self.collect_linked(&mut cleaner, &mut pace);
        // Online, writers may clean again; the walk takes the lock back
        // for each segment.
        if online {
            cleaner = None;
        }
        let mut n = 0;
        // Segment -> (generation, bytes walked), for the walk of the log
        // that follows an online one.
        let mut walked = std::collections::HashMap::new();
        for (seg, generation, end) in plan {
            let mut segment = online.then(|| self.clean.lock.lock());
            if self.log.generation(seg) != generation {
                continue; // emptied since: its live items moved ahead
            }
            walked.insert(seg, (generation, end));
            let here = &mut found[seg as usize];
            here.sort_unstable();
            for (k, &e) in here.iter().enumerate() {
                if k % PACE_EVERY == PACE_EVERY - 1
                    && !self.rest_if_due(&mut pace, &mut segment, seg, generation)
                {
                    break; // emptied while resting: the rest moved ahead
                }
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
        self.walk_since(walked, item, &mut n, &mut pace, &mut f);
        n
    }

    /// Between two items of an online walk: if `pace` says so, let go of
    /// the cleaner's lock (`held`, taken for segment `seg`), rest, and take
    /// it back. False if `seg` was emptied meanwhile (its generation is no
    /// longer `generation`): its live items have moved ahead, where the
    /// walk of the log written since finds them.
    fn rest_if_due<'c>(
        &'c self,
        pace: &mut Option<&mut dyn Pace>,
        held: &mut Option<MutexGuard<'c, CleanState>>,
        seg: u32,
        generation: u32,
    ) -> bool {
        let Some(pace) = pace.as_deref_mut() else {
            return true;
        };
        if !pace.due() {
            return true;
        }
        drop(held.take());
        pace.rest();
        *held = Some(self.clean.lock.lock());
        self.log.generation(seg) == generation
    }

    /// After an online walk of what was linked when it began: walk the log
    /// written since (the rest of the head it saw, and segments opened or
    /// reused since), checking each record against the index.
    ///
    /// A few passes over the sealed segments, resting as `pace` says, catch
    /// up with the writers; then one last pass holds the cleaner's lock
    /// throughout, so that nothing moves while it walks what those passes
    /// left (the head, and what sealed since the last pass). An item that
    /// the cleaner kept moving ahead of the passes is found there: every
    /// item linked for the whole walk is in the snapshot.
    fn walk_since(
        &self,
        mut walked: std::collections::HashMap<u32, (u32, usize)>,
        item: &mut ItemCopy,
        n: &mut u64,
        pace: &mut Option<&mut dyn Pace>,
        f: &mut impl FnMut(&ItemCopy) -> bool,
    ) {
        let mut walk = |seg: u32,
                        end: usize,
                        n: &mut u64,
                        held: &mut Option<_>,
                        pace: &mut Option<&mut dyn Pace>| {
            let generation = self.log.generation(seg);
            let from = match walked.get(&seg) {
                Some(&(g, done)) if g == generation => done,
                _ => 0,
            };
            walked.insert(seg, (generation, end.max(from)));
            let mut walk = SegmentWalk {
                seg,
                generation,
                held,
                pace,
            };
            from >= end || self.walk_segment(&mut walk, from, end, &mut *item, n, &mut *f)
        };
        for _ in 0..4 {
            let before = *n;
            for seg in self.log.sealed() {
                let mut cleaner = Some(self.clean.lock.lock());
                if !self.log.sealed().contains(&seg) {
                    continue; // emptied meanwhile: its items moved ahead
                }
                let end = self.log.settle(seg);
                if !walk(seg, end, n, &mut cleaner, pace) {
                    return;
                }
            }
            if *n == before {
                break;
            }
        }
        let mut cleaner = Some(self.clean.lock.lock());
        // Nothing moves from here on, so every item linked for the whole
        // walk is in a record written before now: in a sealed segment, or
        // in the head up to where its records are all written. The head is
        // read first: one that a writer seals meanwhile is then among the
        // sealed segments, rather than in neither list.
        let head = self.log.head_written();
        for seg in self.log.sealed() {
            let end = self.log.settle(seg);
            if !walk(seg, end, n, &mut cleaner, &mut None) {
                return;
            }
        }
        if let Some((seg, end)) = head {
            walk(seg, end, n, &mut cleaner, &mut None);
        }
    }

    /// Every linked handle, bucketed by segment: `found[seg]` holds that
    /// segment's records as `word offset << 32 | stripe`. One scan of each
    /// index (a count first would not match a second scan while writers
    /// link). Called with the cleaner's lock held, so no segment is emptied
    /// while the indexes are read.
    ///
    /// Online (with `pace`), the lock may be let go between two stripes to
    /// rest: a segment emptied meanwhile has a new generation, so the walk
    /// skips what was collected of it, and finds its moved items in the
    /// log written since.
    fn collect_linked<'c>(
        &'c self,
        held: &mut Option<MutexGuard<'c, CleanState>>,
        pace: &mut Option<&mut dyn Pace>,
    ) -> Vec<Vec<u64>> {
        let mut found = vec![Vec::new(); self.log.segment_count()];
        // One stripe's handles, copied out under its lock and bucketed
        // after: the lock is held for the copy alone.
        let mut handles: Vec<Handle> = Vec::new();
        for i in 0..self.stripe_count() {
            if let Some(p) = pace.as_deref_mut() {
                if p.due() {
                    drop(held.take());
                    p.rest();
                    *held = Some(self.clean.lock.lock());
                }
            }
            handles.clear();
            handles.extend(self.lock(i).handles());
            for &h in &handles {
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
    fn walk_segment<'c>(
        &'c self,
        walk: &mut SegmentWalk<'_, '_, 'c>,
        from: usize,
        end: usize,
        item: &mut ItemCopy,
        n: &mut u64,
        f: &mut impl FnMut(&ItemCopy) -> bool,
    ) -> bool {
        let seg = walk.seg;
        for (k, (h, hdr)) in self.log.records_from(seg, from, end).enumerate() {
            if k % PACE_EVERY == PACE_EVERY - 1
                && !self.rest_if_due(walk.pace, walk.held, seg, walk.generation)
            {
                return true; // emptied while resting: the rest moved ahead
            }
            if hdr.nkey == 0 || hdr.nkey > MAX_KEY {
                continue; // filler
            }
            if hdr.bits & MOVED == 0 {
                continue; // stored since the walk began, not moved
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

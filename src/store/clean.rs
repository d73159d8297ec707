//! Eviction and compaction: emptying a sealed segment so it can be reused,
//! and the crawler that reclaims expired items.
//!
//! A segment is cleaned record by record. A record no index points to is
//! garbage and costs nothing. A live record is either moved to the head
//! (rewritten at the end of the log, keeping every field) or evicted:
//! - **Compaction** (the log holds two segments' worth of garbage, and the
//!   victim is at most three quarters live): every live record moves, and
//!   nothing is evicted. A cache whose data fits never evicts.
//! - **Eviction** (the log is full of live data): the victim is the oldest
//!   segment; records read since they were written or last moved move once
//!   more (their reference bit is spent), the rest are evicted. This is
//!   CLOCK over the whole cache in write order: recency decides, never size
//!   or stripe. At most half a segment moves, so every cleaning frees room.
//!
//! Cleaning runs in the writer that finds the budget spent, with no stripe
//! lock held; it takes each record's stripe lock in turn, for one record.
//! When the log is full of live data, writers also evict ahead: each takes
//! about its own size off the oldest segment before it writes, so a full
//! cache evicts an item or two per write (as memcached does), and the
//! oldest segment is empty by the time the head needs it.

use std::sync::atomic::Ordering;

use super::cache::{Ahead, Cache};
use super::log::{Handle, Header, REF};

/// What to do with one live record.
enum Fate {
    Move,
    Evict,
}

impl Cache {
    /// Empty one segment if the budget is spent. `blocking`: wait for a
    /// cleaner already at work (and then check again) instead of leaving
    /// the work to it. False when nothing could be freed (`-M` and all of
    /// memory live).
    pub(super) fn clean(&self, blocking: bool) -> bool {
        let mut state = if blocking {
            self.clean.lock.lock()
        } else {
            match self.clean.lock.try_lock() {
                Some(g) => g,
                None => return true,
            }
        };
        if !self.log.wants_clean(self.spare()) {
            return true;
        }
        // A segment evicted ahead is finished first, where it stopped.
        let ahead = state.ahead.take();
        let prefer = ahead.map(|a| a.seg);
        let Some(victim) = self.log.take_victim(self.config.evictions, prefer) else {
            return false;
        };
        let (start, end, mut moved) = match ahead {
            Some(a) if a.seg == victim.seg => (a.at, a.end, a.moved),
            _ => (0, self.log.settle(victim.seg), 0),
        };
        let now = self.clock.now();
        for (h, hdr) in self.log.records_from(victim.seg, start, end) {
            if hdr.nkey == 0 {
                continue; // filler
            }
            let fate = self.fate(&hdr, victim.compact, moved, now);
            match self.clean_record(h, &hdr, fate, !victim.compact) {
                Ok(n) => moved += n,
                Err(()) => {
                    // -M: a live record can neither move nor go.
                    self.log.return_victim(victim.seg);
                    return false;
                }
            }
        }
        self.log.release(victim.seg);
        let counter = if victim.compact {
            &self.clean.compacted
        } else {
            &self.clean.evicted
        };
        counter.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// While the log is full of live data, a writer pays for its room
    /// before it needs it: the oldest segment is evicted a few records at a
    /// time, from where the last writer stopped, about as many bytes as are
    /// written (plus what moves forward). Each write into a full cache then
    /// evicts about its own size, as memcached's per-class LRU does (its
    /// `watch evictions` shows one line per set), no write pays for a whole
    /// segment, and the segment is free by the time the head fills.
    /// Writers that find the cleaner's lock taken leave their bytes as debt
    /// for the next one.
    pub(super) fn evict_ahead(&self, len: usize) {
        if !self.config.evictions || !self.log.nearly_full() {
            return;
        }
        self.clean.debt.fetch_add(len, Ordering::Relaxed);
        let Some(mut state) = self.clean.lock.try_lock() else {
            return;
        };
        let mut budget = self.clean.debt.swap(0, Ordering::Relaxed);
        let mut a = match state.ahead {
            Some(a) => a,
            None => {
                // Asked once per segment sealed: the answer needs every
                // segment's live bytes.
                let sealed = self.log.sealed_total.load(Ordering::Relaxed);
                if state.no_candidate == Some(sealed) {
                    return;
                }
                match self.log.eviction_candidate(self.config.evictions) {
                    Some(seg) => Ahead {
                        seg,
                        at: 0,
                        end: self.log.settle(seg),
                        moved: 0,
                    },
                    None => {
                        // Garbage about: the next cleaning compacts.
                        state.no_candidate = Some(sealed);
                        return;
                    }
                }
            }
        };
        let now = self.clock.now();
        let mut done = 0;
        let mut finished = true;
        for (h, hdr) in self.log.records_from(a.seg, a.at, a.end) {
            if done >= budget {
                finished = false;
                break;
            }
            let len = hdr.total();
            a.at = self.log.split(h).1 * 4 + len;
            done += len;
            if hdr.nkey == 0 {
                continue; // filler
            }
            let fate = self.fate(&hdr, false, a.moved, now);
            if let Ok(n) = self.clean_record(h, &hdr, fate, true) {
                // What moves takes room in the head too.
                a.moved += n;
                budget += n;
            }
        }
        if !finished {
            state.ahead = Some(a);
            return;
        }
        state.ahead = None;
        if self.log.take(a.seg) {
            self.log.settle(a.seg);
            if self.log.live_in(a.seg) != 0 {
                self.log.return_victim(a.seg);
                return;
            }
            self.log.release(a.seg);
            self.clean.evicted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Segments kept free for the cleaner (see `Log::wants_clean`).
    pub(super) fn spare(&self) -> usize {
        usize::from(!self.config.evictions)
    }

    /// Whether a live record met by the cleaner moves forward or goes:
    /// everything moves in compaction; in eviction, a record read since it
    /// was written (or soon to expire, `-o temporary_ttl`) moves while less
    /// than half a segment has.
    fn fate(&self, hdr: &Header, compact: bool, moved: usize, now: u32) -> Fate {
        let keep = hdr.bits & REF != 0 || self.is_temporary(hdr, now);
        let half = self.log.segment_bytes() / 2;
        if compact || (keep && moved + hdr.total() <= half) {
            Fate::Move
        } else {
            Fate::Evict
        }
    }

    /// Return every sealed segment left with no live record (after deletes,
    /// expiry or `flush_all`) to the free list, where any size can use it:
    /// memcached's global page pool.
    pub(super) fn free_empty(&self) {
        let mut state = self.clean.lock.lock();
        while let Some(seg) = self.log.take_empty() {
            if state.ahead.is_some_and(|a| a.seg == seg) {
                state.ahead = None;
            }
            self.log.settle(seg);
            if self.log.live_in(seg) != 0 {
                // A record was linked while we looked: clean it another time.
                self.log.return_victim(seg);
                break;
            }
            self.log.release(seg);
        }
    }

    /// An item that will expire within `-o temporary_ttl`: evicting it
    /// gains little, so it moves like a recently read one.
    fn is_temporary(&self, hdr: &Header, now: u32) -> bool {
        match self.config.temporary_ttl {
            Some(ttl) => hdr.exp != 0 && hdr.exp > now && hdr.exp - now <= ttl,
            None => false,
        }
    }

    /// The stripe and key hash of the record at `h`, as `Cache::locate`
    /// gives them for its key.
    pub(super) fn home(&self, h: Handle, hdr: &Header) -> (usize, u64) {
        let mut key = [0u8; 256];
        let key = &mut key[..hdr.nkey];
        self.log.key(h, hdr).copy_to(key);
        self.locate(key)
    }

    /// Move or evict the record at `h` if it is still linked; returns the
    /// bytes moved. `Err` when it had to go but evictions are off.
    fn clean_record(
        &self,
        h: Handle,
        seen: &Header,
        fate: Fate,
        spend_ref: bool,
    ) -> Result<usize, ()> {
        let (i, hash) = self.home(h, seen);
        // Room in the head is reserved before locking (it may open a new
        // segment); if the budget has none, the record is evicted instead.
        let room = match fate {
            Fate::Move => self.log.reserve(seen.total()).ok(),
            Fate::Evict => None,
        };
        let ctx = self.ctx();
        let mut s = self.lock(i);
        if !s.holds(hash, h) {
            return Ok(0); // garbage; `room` becomes a filler
        }
        let hdr = self.log.header(h);
        if ctx.is_dead(&hdr) {
            s.reclaim(&self.log, hash, h, &hdr);
            return Ok(0);
        }
        match room {
            Some(r) if r.len() == hdr.total() => {
                let n = r.len();
                s.relocate(&self.log, hash, h, r, spend_ref);
                Ok(n)
            }
            _ if !self.config.evictions => Err(()),
            _ => {
                if let Some(hook) = self.on_evict.get() {
                    hook(&self.dump_item(h, &hdr));
                }
                s.evict(&self.log, hash, h, &hdr);
                Ok(0)
            }
        }
    }

    /// Reclaim expired and flushed items in up to `segments` sealed
    /// segments, continuing where the last call stopped.
    /// False when a cleaner was at work and nothing was crawled.
    pub(super) fn crawl(&self, segments: usize) -> bool {
        let Some(mut state) = self.clean.lock.try_lock() else {
            return false; // a cleaner is at work
        };
        let cursor = &mut state.crawl;
        let sealed = self.log.sealed();
        let segments = segments.min(sealed.len());
        let mut walk: Vec<(u32, usize)> = Vec::with_capacity(segments + 1);
        for k in 0..segments {
            let seg = sealed[(*cursor + k) % sealed.len()];
            walk.push((seg, self.log.settle(seg)));
        }
        walk.extend(self.log.head_extent());
        for (seg, end) in walk {
            let ctx = self.ctx();
            for (h, hdr) in self.log.records(seg, end) {
                if hdr.nkey == 0 || !ctx.is_dead(&hdr) {
                    continue;
                }
                let (i, hash) = self.home(h, &hdr);
                let mut s = self.lock(i);
                if s.holds(hash, h) {
                    let hdr = self.log.header(h);
                    if ctx.is_dead(&hdr) {
                        s.count_crawler_reclaim(&hdr);
                        s.reclaim(&self.log, hash, h, &hdr);
                    }
                }
            }
        }
        *cursor = (*cursor + segments) % sealed.len().max(1);
        true
    }
}

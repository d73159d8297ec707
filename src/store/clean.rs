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

use std::sync::atomic::Ordering;

use super::cache::Cache;
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
        let _guard = if blocking {
            self.clean.lock.lock()
        } else {
            match self.clean.lock.try_lock() {
                Some(g) => g,
                None => return true,
            }
        };
        if !self.log.wants_clean() {
            return true;
        }
        let Some(victim) = self.log.take_victim(self.config.evictions) else {
            return false;
        };
        let end = self.log.settle(victim.seg);
        let half = self.log.segment_bytes() / 2;
        let now = self.clock.now();
        let mut moved = 0;
        for (h, hdr) in self.log.records(victim.seg, end) {
            if hdr.nkey == 0 {
                continue; // filler
            }
            let len = hdr.total();
            let keep = hdr.bits & REF != 0 || self.is_temporary(&hdr, now);
            let wants_move = victim.compact || (keep && moved + len <= half);
            let fate = if wants_move { Fate::Move } else { Fate::Evict };
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

    /// Return every sealed segment left with no live record (after deletes,
    /// expiry or `flush_all`) to the free list, where any size can use it:
    /// memcached's global page pool.
    pub(super) fn free_empty(&self) {
        let _guard = self.clean.lock.lock();
        while let Some(seg) = self.log.take_empty() {
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
        let Some(mut cursor) = self.clean.lock.try_lock() else {
            return false; // a cleaner is at work
        };
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

//! Walking every item, stripe by stripe, for the dumps and the on-demand
//! crawler (`lru_crawler metadump|mgdump|crawl`, `stats cachedump`).
//!
//! A walk never holds a stripe lock for more than one batch: a stripe's
//! handles (with their key hashes) are copied out under its lock, then
//! visited a batch at a time, each record checked to be still linked under
//! its hash before it is read (a key rewritten or moved since is found
//! again by its hash). An item that lives from a walk's start to its end is
//! in its stripe's snapshot, and so is seen exactly once, as it is when its
//! batch is visited; one stored or deleted meanwhile may or may not be.

use super::cache::Cache;
use super::log::{Handle, Header, BINARY_KEY, FETCHED, HDR};
use super::words::Bytes;

/// Records visited per lock hold.
pub const BATCH: usize = 64;

/// One stripe's records at the time of its snapshot; opaque to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    handle: Handle,
    hash: u64,
}

/// What a dump shows of one live item, read under its stripe lock.
pub struct DumpItem<'a> {
    pub key: Bytes<'a>,
    /// Relative expiry (0: never).
    pub exp: u32,
    /// Relative time of the last access.
    pub time: u32,
    pub cas: u64,
    pub fetched: bool,
    pub binary_key: bool,
    pub flags: u32,
    /// Value length.
    pub nbytes: usize,
    /// Bytes the item occupies: header, key and value (as `me` counts).
    pub size: usize,
}

impl Cache {
    /// What a walk or the eviction hook shows of the linked record `h`.
    pub(super) fn dump_item(&self, h: Handle, hdr: &Header) -> DumpItem<'_> {
        DumpItem {
            key: self.log.key(h, hdr),
            exp: hdr.exp,
            time: hdr.time,
            cas: hdr.cas,
            fetched: hdr.bits & FETCHED != 0,
            binary_key: hdr.bits & BINARY_KEY != 0,
            flags: hdr.flags,
            nbytes: hdr.nbytes,
            size: HDR + hdr.nkey + hdr.nbytes,
        }
    }

    /// Replace `into` with the records stripe `stripe` links now.
    pub fn snapshot_stripe(&self, stripe: usize, into: &mut Vec<Entry>) {
        into.clear();
        let s = self.lock(stripe);
        s.for_each_linked(&self.log, |handle, hash| into.push(Entry { handle, hash }));
    }

    /// Show `f` each entry of `batch` (from stripe `stripe`'s snapshot)
    /// that is still a live item; one lock hold.
    pub fn visit(&self, stripe: usize, batch: &[Entry], mut f: impl FnMut(&DumpItem)) {
        let ctx = self.ctx();
        let s = self.lock(stripe);
        for e in batch {
            // An item rewritten (or moved by the cleaner) since the
            // snapshot is shown as it is now.
            let Some(h) = s.current(&self.log, e.hash, e.handle) else {
                continue;
            };
            let hdr = self.log.header(h);
            if ctx.is_dead(&hdr) {
                continue;
            }
            f(&self.dump_item(h, &hdr));
        }
    }

    /// Reclaim the expired and flushed items among `batch`; returns the
    /// entries checked and the items reclaimed. One lock hold.
    pub fn reclaim_dead(&self, stripe: usize, batch: &[Entry]) -> (u64, u64) {
        let ctx = self.ctx();
        let mut s = self.lock(stripe);
        let mut reclaimed = 0;
        for e in batch {
            if !s.holds(e.hash, e.handle) {
                continue;
            }
            let hdr = self.log.header(e.handle);
            if ctx.is_dead(&hdr) {
                s.count_crawler_reclaim(&hdr);
                s.reclaim(&self.log, e.hash, e.handle, &hdr);
                reclaimed += 1;
            }
        }
        (batch.len() as u64, reclaimed)
    }

    /// The on-demand crawl (`lru_crawler crawl`): every stripe, a batch per
    /// lock hold. Returns the items checked and reclaimed.
    pub fn crawl_expired(&self) -> (u64, u64) {
        let mut snap = Vec::new();
        let (mut checked, mut reclaimed) = (0, 0);
        for i in 0..self.stripe_count() {
            self.snapshot_stripe(i, &mut snap);
            for batch in snap.chunks(BATCH) {
                let (c, r) = self.reclaim_dead(i, batch);
                checked += c;
                reclaimed += r;
            }
        }
        (checked, reclaimed)
    }
}

//! memcached's slab classes, as a frame for reporting.
//!
//! The log stores every item in the same segments whatever its size, so
//! it has no size classes of its own. Operators and tools still read
//! memory by memcached's classes (`stats items`, `stats slabs`,
//! `memcached-tool display`), and memcached's tests name them
//! (`items:31:evicted` for a 66 KB value). This module computes the class
//! table memcached would build from the same `-n`, `-f` and
//! `-o slab_chunk_max`, and the class memcached would put an item in; the
//! stripes count items, bytes and events per class with it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};

/// memcached's `MAX_NUMBER_OF_SLAB_CLASSES`: ids 1..=63.
const MAX_CLASSES: usize = 63;
/// memcached's `sizeof(item)` on 64-bit builds.
const MC_ITEM_HEADER: usize = 48;
/// memcached's `CHUNK_ALIGN_BYTES`.
const ALIGN: usize = 8;
/// memcached's `slab_page_size`.
pub const PAGE: usize = 1 << 20;

/// The class table and the per-class event counters that are not kept per
/// stripe (they change on evictions and reclaims, not on every set).
pub struct Classes {
    /// Chunk size of class `i + 1`.
    sizes: Vec<usize>,
    use_cas: bool,
    events: Box<[ClassEvents]>,
}

/// Per-class counters of rare events, summed over the whole cache.
#[derive(Default)]
pub struct ClassEvents {
    pub evicted: AtomicU64,
    /// Evicted items that had an expiry time.
    pub evicted_nonzero: AtomicU64,
    pub evicted_unfetched: AtomicU64,
    pub evicted_active: AtomicU64,
    pub reclaimed: AtomicU64,
    pub expired_unfetched: AtomicU64,
    pub crawler_reclaimed: AtomicU64,
    /// Relative access time of the class's last evicted item.
    pub evicted_time: AtomicU32,
    /// An item of this class has been stored: memcached would have given
    /// it a page, which `stats slabs` lists from then on.
    pub seen: AtomicBool,
}

impl ClassEvents {
    fn reset(&self) {
        for c in [
            &self.evicted,
            &self.evicted_nonzero,
            &self.evicted_unfetched,
            &self.evicted_active,
            &self.reclaimed,
            &self.expired_unfetched,
            &self.crawler_reclaimed,
        ] {
            c.store(0, Relaxed);
        }
    }
}

/// Live items and their bytes in one class, in one stripe (under its lock).
#[derive(Debug, Default, Clone, Copy)]
pub struct ClassLive {
    pub items: u64,
    pub bytes: u64,
}

impl Classes {
    /// memcached's `slabs_init`: `min_data` is `-n`, `factor` is `-f`,
    /// `chunk_max` is `-o slab_chunk_max`.
    pub fn new(min_data: usize, factor: f64, chunk_max: usize, use_cas: bool) -> Classes {
        let mut sizes = Vec::new();
        let mut size = MC_ITEM_HEADER + min_data;
        while sizes.len() < MAX_CLASSES - 1 && (size as f64) < chunk_max as f64 / factor {
            size = size.next_multiple_of(ALIGN);
            sizes.push(size);
            // memcached multiplies an unsigned int by a double.
            size = (size as f64 * factor) as usize;
        }
        sizes.push(chunk_max);
        let events = (0..sizes.len()).map(|_| ClassEvents::default()).collect();
        Classes {
            sizes,
            use_cas,
            events,
        }
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// Chunk size of class index `i` (class id `i + 1`).
    pub fn size(&self, i: usize) -> usize {
        self.sizes[i]
    }

    /// Chunks a 1 MiB page of class index `i` holds.
    pub fn per_page(&self, i: usize) -> usize {
        PAGE / self.sizes[i]
    }

    /// The class index memcached would store this item in: its
    /// `ITEM_ntotal` (header, key and its NUL, client flags when non-zero,
    /// the value and its `\r\n`, the CAS) against the chunk sizes; larger
    /// than every chunk goes to the largest class, as memcached's chunked
    /// items do.
    pub fn of(&self, nkey: usize, flags: u32, nbytes: usize) -> usize {
        let total = MC_ITEM_HEADER
            + nkey
            + 1
            + if flags != 0 { 4 } else { 0 }
            + nbytes
            + 2
            + if self.use_cas { 8 } else { 0 };
        self.sizes
            .partition_point(|&s| s < total)
            .min(self.sizes.len() - 1)
    }

    pub fn events(&self, i: usize) -> &ClassEvents {
        &self.events[i]
    }

    /// An item of class index `i` is stored (read first: the line is only
    /// written once).
    #[inline]
    pub fn mark_seen(&self, i: usize) {
        let seen = &self.events[i].seen;
        if !seen.load(Relaxed) {
            seen.store(true, Relaxed);
        }
    }

    /// `stats reset`.
    pub fn reset(&self) {
        for e in self.events.iter() {
            e.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcached_1_6_18_default_classes() {
        // memcached -vv: class 1 is 96 bytes, class 31 holds a 66,560-byte
        // value, the largest class is slab_chunk_max.
        let c = Classes::new(48, 1.25, 512 * 1024, true);
        assert_eq!(c.size(0), 96);
        assert_eq!(c.size(1), 120);
        assert_eq!(c.size(29), 66_232);
        assert_eq!(c.size(30), 82_792);
        assert_eq!(c.size(c.len() - 1), 512 * 1024);
        assert_eq!(c.len(), 39);
        assert_eq!(c.of(6, 0, 66_560) + 1, 31);
        assert_eq!(c.of(6, 0, 66_570) + 1, 31);
        assert_eq!(c.of(4, 0, 10) + 1, 1);
        assert_eq!(c.of(5, 0, 20_000) + 1, 25);
        assert_eq!(c.of(5, 0, 1 << 20) + 1, 39);
    }
}

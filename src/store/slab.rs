//! Size classes and the global memory budget. Nothing here knows about keys.
//!
//! Like memcached's `slabs.c`: item memory comes in pages, each page is carved
//! into equal chunks of one size class, and classes grow by the `-f` factor
//! from `-n` bytes above the item header. Unlike memcached, pages are small
//! (64 KiB) and owned by one lock stripe, so a stripe allocates and frees
//! chunks under its own lock and never touches a global lock on the hot path.
//! Items larger than [`SlabConfig::chunk_max`] are not carved from pages: they
//! are built outside any lock as one shared allocation and charged to the same
//! budget.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes in one slab page.
pub const PAGE_SIZE: usize = 64 * 1024;

/// Chunk sizes are multiples of this (memcached's `CHUNK_ALIGN_BYTES`).
pub const CHUNK_ALIGN: usize = 8;

/// Smallest chunk: a page must hold at most 2^11 chunks (see `stripe::Handle`).
pub const MIN_CHUNK: usize = 32;

/// Index of a size class.
pub type ClassId = u8;

/// Parameters of the class table.
#[derive(Debug, Clone, Copy)]
pub struct SlabConfig {
    /// Bytes above the item header in the smallest chunk (`-n`).
    pub min_data: usize,
    /// Growth factor between classes (`-f`).
    pub growth_factor: f64,
    /// Largest chunk carved from pages; larger items are allocated alone.
    pub chunk_max: usize,
}

/// The chunk size of every class, smallest first.
#[derive(Debug, Clone)]
pub struct SlabClasses {
    sizes: Vec<u32>,
}

impl SlabClasses {
    /// Build the table for items with `header` bytes of fixed overhead.
    pub fn new(header: usize, config: SlabConfig) -> SlabClasses {
        let chunk_max = config.chunk_max.clamp(MIN_CHUNK, PAGE_SIZE / 2);
        let factor = if config.growth_factor > 1.0 {
            config.growth_factor
        } else {
            1.25
        };
        let mut sizes = Vec::new();
        let mut size = align(header + config.min_data).max(MIN_CHUNK) as f64;
        while (size as usize) < chunk_max && sizes.len() < u8::MAX as usize - 1 {
            let s = align(size as usize);
            if sizes.last() != Some(&(s as u32)) {
                sizes.push(s as u32);
            }
            size *= factor;
        }
        sizes.push(chunk_max as u32);
        SlabClasses { sizes }
    }

    /// The smallest class whose chunks hold `total` bytes, or `None` when the
    /// item is larger than the largest chunk.
    #[inline]
    pub fn class_for(&self, total: usize) -> Option<ClassId> {
        let i = self.sizes.partition_point(|&s| (s as usize) < total);
        (i < self.sizes.len()).then_some(i as ClassId)
    }

    #[inline]
    pub fn chunk_size(&self, class: ClassId) -> usize {
        self.sizes[class as usize] as usize
    }

    /// Chunks one page of `class` holds.
    #[inline]
    pub fn per_page(&self, class: ClassId) -> usize {
        PAGE_SIZE / self.chunk_size(class)
    }

    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    #[cfg(test)]
    pub fn chunk_max(&self) -> usize {
        *self.sizes.last().unwrap_or(&0) as usize
    }
}

fn align(n: usize) -> usize {
    n.div_ceil(CHUNK_ALIGN) * CHUNK_ALIGN
}

/// The `-m` budget shared by every stripe: bytes of pages plus bytes of large
/// items. Reservations are lock-free; a failed one means "evict first".
#[derive(Debug)]
pub struct Budget {
    limit: AtomicUsize,
    used: AtomicUsize,
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
        }
    }

    /// Take `bytes` from the budget if they fit.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&n| n <= limit)
            })
            .is_ok()
    }

    pub fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// `cache_memlimit`: a lower limit takes effect as items are evicted.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Bytes used beyond the limit (after `cache_memlimit` lowered it).
    pub fn excess(&self) -> usize {
        self.used().saturating_sub(self.limit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> SlabClasses {
        SlabClasses::new(
            26,
            SlabConfig {
                min_data: 48,
                growth_factor: 1.25,
                chunk_max: 16 * 1024,
            },
        )
    }

    #[test]
    fn classes_grow_by_factor_and_end_at_chunk_max() {
        let c = classes();
        assert_eq!(c.chunk_size(0), 80);
        assert_eq!(c.chunk_size(1), 104);
        assert_eq!(c.chunk_max(), 16 * 1024);
        for w in 0..c.len() - 1 {
            let (a, b) = (c.chunk_size(w as u8), c.chunk_size(w as u8 + 1));
            assert!(b > a && b % CHUNK_ALIGN == 0);
            assert!((b as f64) <= a as f64 * 1.25 + CHUNK_ALIGN as f64);
        }
    }

    #[test]
    fn class_for_picks_smallest_fit() {
        let c = classes();
        assert_eq!(c.class_for(1), Some(0));
        assert_eq!(c.class_for(80), Some(0));
        assert_eq!(c.class_for(81), Some(1));
        assert_eq!(c.class_for(16 * 1024), Some(c.len() as u8 - 1));
        assert_eq!(c.class_for(16 * 1024 + 1), None);
    }

    #[test]
    fn budget_refuses_past_limit() {
        let b = Budget::new(100);
        assert!(b.try_reserve(60));
        assert!(!b.try_reserve(41));
        assert!(b.try_reserve(40));
        b.release(50);
        assert_eq!(b.used(), 50);
        b.set_limit(10);
        assert_eq!(b.excess(), 40);
    }
}

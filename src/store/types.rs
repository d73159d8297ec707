//! The store's vocabulary: configuration, storage modes, outcomes, the
//! options of the meta protocol's reads, stores, deletes and arithmetic,
//! and the figures `stats` shows. A leaf: it imports no other part of the
//! store but the per-stripe counters.

use super::stripe::StripeStats;

/// Index of a size class (`stats slabs`; the log has one).
pub type ClassId = u8;

/// memcached's slab settings: accepted and reported, not used by the log.
#[derive(Debug, Clone, Copy)]
pub struct SlabConfig {
    /// Bytes above the item header in the smallest chunk (`-n`).
    pub min_data: usize,
    /// Growth factor between classes (`-f`).
    pub growth_factor: f64,
    /// Largest chunk (`-o slab_chunk_max`).
    pub chunk_max: usize,
}

/// The store's share of the configuration.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// `-m`, in bytes.
    pub memory_limit: usize,
    /// `-I`: largest item, header and key included.
    pub max_item_size: usize,
    /// `!-M`.
    pub evictions: bool,
    /// `!-C`.
    pub use_cas: bool,
    /// Items whose TTL, when the cleaner meets them, is at most this many
    /// seconds are kept (moved), not evicted: they leave by expiring
    /// (memcached's temporary LRU).
    pub temporary_ttl: Option<u32>,
    pub slab: SlabConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            memory_limit: 64 << 20,
            max_item_size: 1 << 20,
            evictions: true,
            use_cas: true,
            temporary_ttl: None,
            slab: SlabConfig {
                min_data: 48,
                growth_factor: 1.25,
                chunk_max: 512 * 1024,
            },
        }
    }
}

/// How a storage command treats an existing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    /// Store only if the item's CAS unique still equals this one.
    Cas(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored, with the item's new CAS unique.
    Stored(u64),
    NotStored,
    /// `cas` against an item whose unique changed.
    Exists,
    /// `cas` against a missing item.
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    TooLarge,
    OutOfMemory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaError {
    NotFound,
    NonNumeric,
    /// The result needed memory that `-M` refused.
    OutOfMemory,
}

/// Store-wide figures for `stats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreStats {
    pub items: StripeStats,
    pub limit_maxbytes: u64,
    /// Bytes of segments allocated.
    pub total_malloced: u64,
    /// Segments allocated.
    pub total_pages: u64,
    /// Bytes of one segment.
    pub segment_bytes: u64,
    /// Segments in use (head, sealed) and free.
    pub segments_used: u64,
    pub segments_free: u64,
    /// Free segments a writer can open before the cleaner must run
    /// (memcached's global page pool): the free ones less the cleaner's
    /// reserve.
    pub segments_spare: u64,
    /// Bytes of linked records.
    pub live_bytes: u64,
    /// Segments the cleaner emptied, by compaction and by eviction.
    pub segments_compacted: u64,
    pub segments_evicted: u64,
}

/// Per-class figures for `stats slabs` and `stats items`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClassStats {
    pub chunk_size: u64,
    pub chunks_per_page: u64,
    /// Live items and the bytes of their records (`mem_requested`).
    pub items: u64,
    pub bytes: u64,
    pub evicted: u64,
    pub evicted_nonzero: u64,
    pub evicted_unfetched: u64,
    pub evicted_active: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub crawler_reclaimed: u64,
    /// Relative access time of the last evicted item.
    pub evicted_time: u32,
    /// The class has held an item (memcached would have a page for it).
    pub seen: bool,
}

/// What a read may do besides reading.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// On a miss, create an empty placeholder with this exptime and give the
    /// caller the win token.
    pub vivify: Option<i64>,
    /// Win the recache token if the item expires sooner than this exptime.
    pub recache_below: Option<i64>,
    /// Set a new exptime (touch).
    pub touch: Option<i64>,
    /// The touch happens before the recache check (memcached applies the
    /// flags in request order).
    pub touch_first: bool,
    /// Leave the access time and the fetched bit alone.
    pub no_bump: bool,
    /// CAS unique of a vivified placeholder.
    pub new_cas: Option<u64>,
}

/// What a read saw, before it changed anything.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadState {
    /// This read created the item (a vivified placeholder).
    pub created: bool,
    /// This caller won the recache token (`W`).
    pub won: bool,
    /// Another caller already holds the token (`Z`).
    pub already_won: bool,
    /// The item is stale (`X`).
    pub stale: bool,
    /// The item had been read before this read (`h`).
    pub fetched_before: bool,
    /// Seconds since the previous access (`l`).
    pub idle: u32,
    /// Relative expiry before this read changed it (0: never).
    pub exp_before: u32,
    /// The relative time of the read.
    pub now: u32,
}

/// What a store adds to a plain [`StoreMode`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Store only if the item's CAS unique is this one. With `Set` and
    /// `Replace` this is a `cas`; `Add` ignores it; `Append` and `Prepend`
    /// check it unless it is 0.
    pub compare_cas: Option<u64>,
    /// With `compare_cas`: a CAS unique older than the item's still stores,
    /// as a stale value.
    pub invalidate: bool,
    /// The stored item's CAS unique, instead of a fresh one.
    pub new_cas: Option<u64>,
    /// The key is binary (it arrived base64-encoded).
    pub binary_key: bool,
}

/// What a delete may do instead of removing the item.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Act only if the item's CAS unique is this one.
    pub compare_cas: Option<u64>,
    /// Mark the item stale with a new CAS unique instead of removing it.
    pub invalidate: bool,
    /// With `invalidate`: a new exptime for the stale item.
    pub exptime: Option<i64>,
    /// Keep the item but drop its value.
    pub drop_value: bool,
    /// The new CAS unique, instead of a fresh one.
    pub new_cas: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Removed, invalidated or emptied.
    Deleted,
    NotFound,
    /// `compare_cas` did not match.
    Exists,
}

/// What arithmetic may do besides the delta.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeltaOptions {
    /// Act only if the item's CAS unique is this one.
    pub compare_cas: Option<u64>,
    /// On a miss, create the counter with this exptime and initial value.
    pub vivify: Option<(i64, u64)>,
    /// On success, set this exptime.
    pub touch: Option<i64>,
    /// The new CAS unique, instead of a fresh one.
    pub new_cas: Option<u64>,
}

/// A counter after arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaDone {
    pub value: u64,
    pub cas: u64,
    /// Relative expiry before and after the operation.
    pub exp_before: u32,
    pub exp: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaOutcome {
    Applied(DeltaDone),
    /// The counter was missing and was created with its initial value.
    Created(DeltaDone),
    /// `compare_cas` did not match.
    Exists,
}

/// An item's metadata, as `me` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemInfo {
    /// Relative expiry (0: never).
    pub exp: u32,
    /// Seconds since the last access.
    pub idle: u32,
    pub cas: u64,
    pub fetched: bool,
    /// Slab class; `None` for a large item.
    pub class: Option<ClassId>,
    /// Bytes the item occupies: header, key and value.
    pub size: usize,
    pub binary_key: bool,
    pub now: u32,
}

/// What a meta store adds to a plain [`Cache::put`].
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PutExtra {
    /// The new item's CAS unique (meta `E`), instead of a fresh one.
    pub new_cas: Option<u64>,
    /// Status bits the new item starts with.
    pub bits: u8,
    /// A `Cas` older than the item's stores a stale value (meta `I`).
    pub invalidate: bool,
}

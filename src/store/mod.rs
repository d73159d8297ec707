//! The cache: a lock-striped store over one log of item memory, knowing
//! nothing of sockets or protocols.
//!
//! A key is hashed once; bits 32.. of the hash pick a stripe, the whole hash
//! picks a bucket in that stripe's index. A stripe's index maps keys to
//! records in the log (`log.rs`), which all stripes share: memory belongs
//! to no stripe and no size class. A request holds exactly one stripe lock;
//! writers reserve log space with one atomic add, outside any lock.
//!
//! Modules, leaves first (each imports only those above it):
//! - `words`: byte access to segment memory (`AtomicU32` words);
//! - `log`: segments, reservations, the record layout;
//! - `classes`: memcached's size classes, a frame for per-class figures;
//! - `stripe`: one stripe's index and counters, and its lock guard;
//! - `types`: configuration, modes, options, outcomes, figures;
//! - `cache`: [`Cache`] and its core operations;
//! - `meta`, `clean` and `dump`: more of `Cache` (meta operations;
//!   eviction, compaction and the expiry crawler; walks for the dumps);
//! - `walk`: every live item out and items back in with their own fields
//!   (snapshots, `-e`).
//!
//! This file only declares them and says what the crate sees.

mod cache;
mod classes;
mod clean;
mod dump;
mod log;
mod meta;
mod stripe;
mod types;
mod walk;
mod words;

pub use cache::Cache;
pub use dump::{DumpItem, Entry as DumpEntry, BATCH as DUMP_BATCH};
pub use log::{BINARY_KEY, FETCHED, HDR, STALE, WON};
pub use stripe::{ItemView, Pinned, Shared, StripeStats, Value, PIN_ABOVE};
pub use types::{
    CacheConfig, ClassId, ClassStats, DeleteOptions, DeleteOutcome, DeltaDone, DeltaError,
    DeltaOptions, DeltaOutcome, ItemInfo, ReadOptions, ReadState, SlabConfig, StoreError,
    StoreMode, StoreOptions, StoreOutcome, StoreStats,
};
pub use walk::{ItemCopy, ItemRef, Loader, Pace, MAX_KEY};
pub use words::Bytes;

#[cfg(test)]
mod tests;

//! Counters with memcached's `stats` names.
//!
//! Each worker thread owns a [`ThreadStats`] and bumps it with relaxed atomic
//! adds on its own cache lines; `stats` sums every thread's copy when asked.
//! Store-wide figures (items, bytes, evictions) come from the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// One worker's counters.
        #[derive(Debug, Default)]
        #[repr(align(128))]
        pub struct ThreadStats {
            $(pub $name: AtomicU64,)*
        }

        /// Counters summed over threads.
        #[derive(Debug, Default, Clone, Copy)]
        pub struct Totals {
            $(pub $name: u64,)*
        }

        impl ThreadStats {
            fn add_to(&self, t: &mut Totals) {
                $(t.$name += self.$name.load(Ordering::Relaxed);)*
            }

            fn reset(&self) {
                $(self.$name.store(0, Ordering::Relaxed);)*
            }
        }
    };
}

counters!(
    cmd_get,
    cmd_set,
    cmd_flush,
    cmd_touch,
    cmd_meta,
    get_hits,
    get_misses,
    get_expired,
    get_flushed,
    delete_misses,
    delete_hits,
    incr_misses,
    incr_hits,
    decr_misses,
    decr_hits,
    cas_misses,
    cas_hits,
    cas_badval,
    touch_hits,
    touch_misses,
    store_too_large,
    store_no_memory,
    auth_cmds,
    auth_errors,
    idle_kicks,
    bytes_read,
    bytes_written,
    conn_yields,
);

impl ThreadStats {
    #[inline]
    pub fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Server-wide counters and the registry of per-thread ones.
#[derive(Debug, Default)]
pub struct Stats {
    threads: Mutex<Vec<Arc<ThreadStats>>>,
    pub curr_connections: AtomicU64,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
}

impl Stats {
    /// A new thread's counters, counted from now on.
    pub fn register(&self) -> Arc<ThreadStats> {
        let t = Arc::new(ThreadStats::default());
        self.threads.lock().push(t.clone());
        t
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in self.threads.lock().iter() {
            s.add_to(&mut t);
        }
        t
    }

    /// `stats reset`.
    pub fn reset(&self) {
        for s in self.threads.lock().iter() {
            s.reset();
        }
        self.total_connections.store(0, Ordering::Relaxed);
        self.rejected_connections.store(0, Ordering::Relaxed);
    }
}

/// Appends `STAT <name> <value>\r\n` lines.
pub struct StatWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> StatWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> StatWriter<'a> {
        StatWriter { out }
    }

    pub fn stat(&mut self, name: impl std::fmt::Display, value: impl std::fmt::Display) {
        use std::io::Write;
        let _ = write!(self.out, "STAT {name} {value}\r\n");
    }

    pub fn end(self) {
        self.out.extend_from_slice(b"END\r\n");
    }
}

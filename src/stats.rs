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
            /// Per-command latency (not reset by `stats reset`: Prometheus
            /// counters only go up).
            pub latency: Latency,
            /// This thread's hot-key sampler (`-o hot_keys`; `None`: off).
            pub hot: Option<crate::hotkeys::Sampler>,
            /// When the worker last found requests to serve ([`micros`]):
            /// background work takes only its share while some worker
            /// has been busy lately.
            pub busy_at: AtomicU64,
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
    /// `-o hot_keys`: how each thread samples (`None`: hot keys are off).
    pub hot_sample: Option<crate::hotkeys::Every>,
}

impl Stats {
    /// Counters whose threads sample hot keys as `every` says (`None`:
    /// not at all).
    pub fn with_hot_keys(every: Option<crate::hotkeys::Every>) -> Stats {
        Stats {
            hot_sample: every,
            ..Stats::default()
        }
    }

    /// A new thread's counters, counted from now on.
    pub fn register(&self) -> Arc<ThreadStats> {
        let mut threads = self.threads.lock();
        let seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(threads.len() as u64 + 1);
        let t = Arc::new(ThreadStats {
            hot: self
                .hot_sample
                .map(|every| crate::hotkeys::Sampler::new(every, seed)),
            ..ThreadStats::default()
        });
        threads.push(t.clone());
        t
    }

    /// Whether some worker found requests to serve within the last
    /// `window` (see [`ThreadStats::busy_at`]).
    pub fn busy_within(&self, window: std::time::Duration) -> bool {
        let now = micros();
        let window = window.as_micros() as u64;
        self.threads.lock().iter().any(|s| {
            let at = s.busy_at.load(Ordering::Relaxed);
            at != 0 && now.saturating_sub(at) < window
        })
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

/// Upper bounds (in nanoseconds) of the latency histogram's buckets; the
/// last, implicit bucket is +Inf. 5 µs to 1 s: a hit takes a few µs, and
/// anything past a second is an incident, not a distribution.
pub const LATENCY_BOUNDS_NS: [u64; 14] = [
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    100_000_000,
    1_000_000_000,
];
/// Number of command kinds a histogram is kept for.
pub const LATENCY_KINDS: usize = 24;

/// One thread's per-command latency histograms (`-o metrics_listen`):
/// relaxed adds to counters only its own thread writes; buckets are not
/// cumulative here (a scrape sums them), so a record is two adds.
#[derive(Debug)]
pub struct Latency {
    buckets: [[AtomicU64; LATENCY_BOUNDS_NS.len() + 1]; LATENCY_KINDS],
    sum_ns: [AtomicU64; LATENCY_KINDS],
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            sum_ns: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Latency {
    /// Count one command of `kind` (an index below [`LATENCY_KINDS`]).
    #[inline]
    pub fn record(&self, kind: usize, nanos: u64) {
        let Some(row) = self.buckets.get(kind) else {
            return;
        };
        let i = LATENCY_BOUNDS_NS
            .iter()
            .position(|&b| nanos <= b)
            .unwrap_or(LATENCY_BOUNDS_NS.len());
        row[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns[kind].fetch_add(nanos, Ordering::Relaxed);
    }

    /// Add this thread's counts for `kind` to `buckets` and `sum_ns`.
    pub fn add_to(&self, kind: usize, buckets: &mut [u64], sum_ns: &mut u64) {
        for (total, b) in buckets.iter_mut().zip(&self.buckets[kind]) {
            *total += b.load(Ordering::Relaxed);
        }
        *sum_ns += self.sum_ns[kind].load(Ordering::Relaxed);
    }
}

impl Stats {
    /// Every thread's latency histograms.
    pub fn latencies(&self) -> Vec<Arc<ThreadStats>> {
        self.threads.lock().clone()
    }
}

/// Microseconds since the first call (at least 1): a clock whose readings
/// threads can share through an atomic.
pub fn micros() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_micros() as u64
        + 1
}

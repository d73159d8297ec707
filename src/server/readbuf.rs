//! `-o read_buf_mem_limit=MB`: a bound on the memory of all connections'
//! read buffers together, as memcached 1.6 has it.
//!
//! memcached gives a connection a 16 KiB read buffer only while it has
//! input to parse and returns it when the buffer empties; when the limit
//! leaves no buffer for a connection with input, it counts `read_buf_oom`
//! and closes that connection. ferrocache does the same, with one
//! difference: it counts bytes across all threads (memcached divides the
//! limit between threads), and a large value is buffered in the read
//! buffer, so the limit also bounds partly received large `set`s.
//! Without the option, connections keep their buffer between requests
//! (no allocation per request) and the figures are only counted.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct ReadBufs {
    /// Bytes all read buffers may hold; `None` = no limit.
    pub limit: Option<usize>,
    bytes: AtomicUsize,
    count: AtomicUsize,
    oom: AtomicU64,
}

impl ReadBufs {
    pub fn new(limit: Option<usize>) -> ReadBufs {
        ReadBufs {
            limit,
            ..ReadBufs::default()
        }
    }

    /// Take `bytes` more for one buffer (`new`: a buffer is created).
    /// False, counted as `read_buf_oom`, when that would pass the limit.
    pub fn acquire(&self, bytes: usize, new: bool) -> bool {
        let granted = match self.limit {
            None => {
                self.bytes.fetch_add(bytes, Ordering::Relaxed);
                true
            }
            Some(limit) => self
                .bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    b.checked_add(bytes).filter(|&n| n <= limit)
                })
                .is_ok(),
        };
        if !granted {
            self.oom.fetch_add(1, Ordering::Relaxed);
        } else if new {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        granted
    }

    /// Give back a whole buffer of `bytes`.
    pub fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Give back part of a buffer that shrank.
    pub fn shrink(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// `read_buf_count`, `read_buf_bytes`, `read_buf_oom`.
    pub fn figures(&self) -> (usize, usize, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.oom.load(Ordering::Relaxed),
        )
    }
}

//! The coarse clock and memcached's expiration-time rules.
//!
//! Time inside the cache is memcached's "relative time": whole seconds since
//! shortly before the process started, in a `u32`. A background tick keeps it
//! current, so reading it on the hot path is one relaxed atomic load.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Exptimes larger than this many seconds (30 days) are absolute unix times.
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;

/// Relative time the clock starts at. Expiry `1` (what negative and past
/// absolute exptimes become) is then always in the past.
const START: u32 = 2;

/// Seconds since start-up, plus a way to move time forward in tests.
#[derive(Debug)]
pub struct Clock {
    /// Unix time corresponding to relative time 0.
    epoch_unix: i64,
    started: Instant,
    /// Extra seconds added by [`Clock::advance`] (tests only move time forward).
    offset: AtomicU32,
    now: AtomicU32,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Clock {
            epoch_unix: unix - START as i64,
            started: Instant::now(),
            offset: AtomicU32::new(0),
            now: AtomicU32::new(START),
        }
    }

    /// Current relative time in seconds.
    #[inline]
    pub fn now(&self) -> u32 {
        self.now.load(Ordering::Relaxed)
    }

    /// Recompute the current time; called by the maintenance thread.
    pub fn tick(&self) {
        let elapsed = self.started.elapsed().as_secs().min(u32::MAX as u64 / 2) as u32;
        let now = START + elapsed + self.offset.load(Ordering::Relaxed);
        self.now.fetch_max(now, Ordering::Relaxed);
    }

    /// Move time forward by `secs` (tests and the reference model).
    pub fn advance(&self, secs: u32) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
        self.tick();
    }

    /// Unix time now, as `stats` reports it.
    pub fn unix_now(&self) -> i64 {
        self.epoch_unix + self.now() as i64
    }

    /// Unix time at relative time 0 (memcached's `process_started`).
    pub fn epoch_unix(&self) -> i64 {
        self.epoch_unix
    }

    /// Turn a protocol exptime into a relative expiry: 0 never expires, a
    /// negative value is already expired, up to 30 days is relative to now,
    /// anything larger is an absolute unix time.
    pub fn expiry(&self, exptime: i64) -> u32 {
        if exptime == 0 {
            0
        } else if exptime < 0 {
            1
        } else if exptime > REALTIME_MAXDELTA {
            if exptime <= self.epoch_unix {
                1
            } else {
                (exptime - self.epoch_unix).min(u32::MAX as i64) as u32
            }
        } else {
            (self.now() as i64 + exptime).min(u32::MAX as i64) as u32
        }
    }

    /// Whether an item with relative expiry `exp` has expired.
    #[inline]
    pub fn is_expired(&self, exp: u32) -> bool {
        exp != 0 && exp <= self.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exptime_rules() {
        let c = Clock::new();
        let now = c.now();
        assert_eq!(c.expiry(0), 0);
        assert_eq!(c.expiry(-1), 1);
        assert!(c.is_expired(c.expiry(-1)));
        assert_eq!(c.expiry(10), now + 10);
        assert_eq!(c.expiry(REALTIME_MAXDELTA), now + REALTIME_MAXDELTA as u32);
        // An absolute time in the past is expired; one in the future is not.
        assert!(c.is_expired(c.expiry(REALTIME_MAXDELTA + 1)));
        let future = c.unix_now() + 100;
        assert_eq!(c.expiry(future), now + 100);
        assert!(!c.is_expired(c.expiry(future)));
    }

    #[test]
    fn advance_moves_time_forward() {
        let c = Clock::new();
        let exp = c.expiry(5);
        assert!(!c.is_expired(exp));
        c.advance(5);
        assert!(c.is_expired(exp));
    }
}

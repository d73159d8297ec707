//! Reply lines the text and meta front ends share.

use crate::store::{DeltaError, StoreError};

/// memcached's answer to a store that failed for size or memory.
pub fn store_error(e: StoreError) -> &'static [u8] {
    match e {
        StoreError::TooLarge => b"SERVER_ERROR object too large for cache\r\n",
        StoreError::OutOfMemory => b"SERVER_ERROR out of memory storing object\r\n",
    }
}

/// memcached's answer to an incr/decr that could not be applied (a miss
/// has its own reply in each protocol).
pub fn delta_error(e: DeltaError) -> &'static [u8] {
    match e {
        DeltaError::NonNumeric => {
            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        }
        DeltaError::OutOfMemory => b"SERVER_ERROR out of memory\r\n",
        DeltaError::NotFound => b"NOT_FOUND\r\n",
    }
}

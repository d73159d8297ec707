//! Sans-IO protocol code: bytes in, typed requests out; typed replies in,
//! bytes out. Nothing here touches a socket, a lock or the store.
//!
//! Every parser follows the same contract (httparse's): it looks at the front
//! of a buffer and answers [`Status::Complete`] with the request and the
//! number of bytes it occupies, [`Status::Incomplete`] when more bytes are
//! needed, or an error naming what was invalid. Incomplete is not an error.

pub mod binary;
pub mod cluster_config;
pub mod common;
mod kind;
pub mod meta;
mod number;
pub mod text;
pub mod text_reply;

pub use kind::CommandKind;

/// Outcome of parsing one request from the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// A whole request, and how many bytes of the stream it occupies.
    ///
    /// The count may exceed the buffer's length: a request whose payload is
    /// refused up front (an item too large for the cache) still owns its data
    /// block, which the connection discards as it arrives.
    Complete(T, usize),
    /// The buffer holds only the start of a request.
    Incomplete,
}

/// Which protocol a connection speaks, decided by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Text,
    Binary,
}

/// The binary protocol's request magic byte.
pub const BINARY_REQUEST_MAGIC: u8 = 0x80;

impl Protocol {
    /// memcached's rule: a first byte of 0x80 means binary, anything else text.
    pub fn detect(first_byte: u8) -> Protocol {
        if first_byte == BINARY_REQUEST_MAGIC {
            Protocol::Binary
        } else {
            Protocol::Text
        }
    }
}

pub use common::KEY_MAX_LENGTH;

//! The protocols' shared vocabulary: the parse [`Status`], which
//! [`Protocol`] a connection speaks, and what the text and meta protocols
//! share: how a line splits into tokens, which keys are accepted, the
//! limits the parsers need, and the error kinds that become memcached's
//! replies. Both import it; neither imports the other for it (the client
//! checks keys with the same rule).

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

/// Longest key memcached accepts.
pub const KEY_MAX_LENGTH: usize = 250;

/// What was wrong with a request; each maps to one memcached reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Unknown or malformed command name: `ERROR`.
    UnknownCommand,
    /// `CLIENT_ERROR <message>`, with memcached's exact message.
    Client(&'static str),
    /// A non-`get` line longer than [`super::text::MAX_LINE`] without a newline: memcached
    /// closes the connection.
    LineTooLong,
    /// An unknown text command whose last token starts with `HTTP/` (`GET /
    /// HTTP/1.0`): memcached hangs up at once, without a reply, so a
    /// browser or proxy pointed at the cache gets nothing back.
    Http,
}

/// A rejected request: its reply, and how many bytes of the stream to skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// Bytes the bad request occupies (like [`Status::Complete`]'s count, it
    /// may exceed the buffer when a data block is being swallowed).
    pub consumed: usize,
    /// The request asked for `noreply`, and memcached suppresses this error.
    pub noreply: bool,
}

/// Limits the parser needs from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest value a storage command may carry (`-I` less item overhead).
    pub max_value: usize,
}

/// Space-separated tokens, as memcached's `tokenize_command` splits them
/// (only on spaces; tabs and other bytes belong to tokens).
pub fn tokens(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

/// A key memcached would accept, less control bytes: the meta protocol and
/// the client refuse keys holding a byte below 0x21 or 0x7f (a deliberate
/// difference), with the same reply as a key that is too long. The text
/// protocol follows memcached 1.6.18 and takes control bytes as key bytes
/// (see `text::valid_key`).
pub fn valid_key(key: &[u8]) -> bool {
    key.len() <= KEY_MAX_LENGTH && key.iter().all(|&b| b > 0x20 && b != 0x7f)
}

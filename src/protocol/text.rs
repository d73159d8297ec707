//! memcached's classic text protocol (`doc/protocol.txt`), request side.
//!
//! [`parse`] reads one command line (and, for storage commands, its data
//! block) from the front of a buffer. Requests borrow from the buffer.

use super::Status;

/// Longest command line accepted without a newline, unless it is a `get`.
pub const MAX_LINE: usize = 2048;

/// The six storage commands; `Cas` carries its unique in [`Request::Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCommand {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
}

/// A space-separated list of keys, validated by the parser, iterated lazily
/// so a 100-key `get` allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys<'a> {
    raw: &'a [u8],
}

impl<'a> Keys<'a> {
    /// `raw` must already be validated: keys separated by one or more spaces.
    pub fn new(raw: &'a [u8]) -> Keys<'a> {
        Keys { raw }
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.raw.split(|&b| b == b' ').filter(|k| !k.is_empty())
    }
}

/// One classic text request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// `get` (`cas == false`) and `gets` (`cas == true`).
    Get { keys: Keys<'a>, cas: bool },
    /// `gat` / `gats`: get and touch.
    Gat { exptime: i64, keys: Keys<'a>, cas: bool },
    /// `set add replace append prepend cas`; `cas_unique` is 0 unless `Cas`.
    Store {
        command: StoreCommand,
        key: &'a [u8],
        flags: u32,
        exptime: i64,
        cas_unique: u64,
        value: &'a [u8],
        noreply: bool,
    },
    /// A storage command whose value exceeds the item size limit. Its data
    /// block is covered by the consumed count and never buffered.
    /// memcached answers `SERVER_ERROR object too large for cache` and, for
    /// `set`, unlinks the old value.
    TooLarge { command: StoreCommand, key: &'a [u8], noreply: bool },
    Delete { key: &'a [u8], noreply: bool },
    /// `incr` (`incr == true`) / `decr`.
    Arithmetic { key: &'a [u8], delta: u64, incr: bool, noreply: bool },
    Touch { key: &'a [u8], exptime: i64, noreply: bool },
    FlushAll { delay: i64, noreply: bool },
    Version,
    Verbosity { noreply: bool },
    Quit,
    Shutdown { graceful: bool },
    CacheMemlimit { megabytes: u64, noreply: bool },
    /// `stats [group [args]]`; `args` is the rest of the line, trimmed.
    Stats { args: &'a [u8] },
}

/// What was wrong with a request; each maps to one memcached reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Unknown or malformed command name: `ERROR`.
    UnknownCommand,
    /// `CLIENT_ERROR <message>`, with memcached's exact message.
    Client(&'static str),
    /// A non-`get` line longer than [`MAX_LINE`] without a newline: memcached
    /// closes the connection.
    LineTooLong,
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

/// Parse one request from the front of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Status<Request<'a>>, Error> {
    let _ = (buf, limits);
    unimplemented!("text parser")
}

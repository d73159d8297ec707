//! memcached's classic text protocol (`doc/protocol.txt`), request side.
//!
//! [`parse`] reads one command line (and, for storage commands, its data
//! block) from the front of a buffer. Requests borrow from the buffer.

use super::common::{tokens, Status, KEY_MAX_LENGTH};
use super::number;

pub use super::common::{Error, ErrorKind, Limits};

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

/// What `shutdown` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    Now,
    Graceful,
    /// Anything else: `CLIENT_ERROR invalid shutdown mode` when enabled.
    Invalid,
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
// The meta variant carries its decoded binary key inline (about 200 bytes)
// so parsing never allocates; a request lives on the stack for one dispatch.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// `get` (`cas == false`) and `gets` (`cas == true`).
    Get {
        keys: Keys<'a>,
        cas: bool,
    },
    /// `gat` / `gats`: get and touch. `keys` may be empty: memcached answers
    /// `gat 10` with a bare `END`.
    Gat {
        exptime: i64,
        keys: Keys<'a>,
        cas: bool,
    },
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
    TooLarge {
        command: StoreCommand,
        key: &'a [u8],
        noreply: bool,
    },
    Delete {
        key: &'a [u8],
        noreply: bool,
    },
    /// `incr` (`incr == true`) / `decr`.
    Arithmetic {
        key: &'a [u8],
        delta: u64,
        incr: bool,
        noreply: bool,
    },
    Touch {
        key: &'a [u8],
        exptime: i64,
        noreply: bool,
    },
    FlushAll {
        delay: i64,
        noreply: bool,
    },
    Version,
    /// `verbosity <level> [noreply]`; the level is checked but not kept.
    Verbosity {
        noreply: bool,
    },
    Quit,
    /// `refresh_certs [noreply]`: reload the TLS certificates (memcached's
    /// `-Z` command).
    RefreshCerts {
        noreply: bool,
    },
    /// `snapshot` (ferrocache): write an online snapshot to
    /// `-o snapshot_path` in the background.
    Snapshot,
    /// `shutdown [graceful]`. An unknown mode is still a request: memcached
    /// refuses `shutdown` without `-A` before it looks at the mode.
    Shutdown {
        mode: ShutdownMode,
    },
    CacheMemlimit {
        megabytes: u64,
        noreply: bool,
    },
    /// `slabs reassign <src> <dst>`: the two class ids, or `None` when
    /// they are not numbers (memcached checks that it allows reassignment
    /// before it reads them).
    SlabsReassign {
        classes: Option<(i32, i32)>,
    },
    /// `slabs automove <0|1|2>` or `slabs automove ratio <r>`, valid.
    SlabsAutomove {
        noreply: bool,
    },
    /// `stats [group [args]]`; `args` is the rest of the line, trimmed.
    Stats {
        args: &'a [u8],
    },
    /// A meta command (`mg ms md ma mn me`), parsed by [`super::meta`].
    Meta(super::meta::Request<'a>),
    /// `lru_crawler <subcommand> [arg]` (see [`super::admin`]).
    LruCrawler(super::admin::Crawler<'a>),
    /// `watch [kinds]`: the kinds' bits, `None` for an unknown word.
    Watch {
        kinds: Option<u32>,
    },
    /// `config get <key>`: ElastiCache's auto-discovery (`config get
    /// cluster`). Not a memcached 1.6 command.
    ConfigGet {
        key: &'a [u8],
    },
}

/// Parse one request from the front of `buf`.
///
/// Behaviour follows memcached 1.6.18 (`proto_text.c`), checked against the
/// daemon; the comments below name each place where it is surprising or
/// where this parser deliberately differs.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Status<Request<'a>>, Error> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        return no_newline_yet(buf);
    };
    let line_len = newline + 1;
    let mut line = &buf[..newline];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    // memcached handles the line as a C string: a NUL byte ends it, and what
    // follows on that line is ignored (`get a\0b` is `get a`).
    if let Some(nul) = line.iter().position(|&b| b == 0) {
        line = &line[..nul];
    }
    let line = trim_start_spaces(line);
    let command_len = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let (command, rest) = line.split_at(command_len);
    let cx = Line {
        buf,
        line_len,
        rest,
    };
    match command {
        b"get" => cx.get(false),
        b"gets" => cx.get(true),
        b"gat" => cx.gat(false),
        b"gats" => cx.gat(true),
        b"set" => cx.store(StoreCommand::Set, limits),
        b"add" => cx.store(StoreCommand::Add, limits),
        b"replace" => cx.store(StoreCommand::Replace, limits),
        b"append" => cx.store(StoreCommand::Append, limits),
        b"prepend" => cx.store(StoreCommand::Prepend, limits),
        b"cas" => cx.store(StoreCommand::Cas, limits),
        b"delete" => cx.delete(),
        b"incr" => cx.arithmetic(true),
        b"decr" => cx.arithmetic(false),
        b"touch" => cx.touch(),
        b"flush_all" => cx.flush_all(),
        // memcached ignores any arguments to `version` and `quit`.
        b"version" => cx.complete(Request::Version),
        b"quit" => cx.complete(Request::Quit),
        b"verbosity" => cx.verbosity(),
        b"shutdown" => cx.shutdown(),
        b"snapshot" => cx.complete(Request::Snapshot),
        b"refresh_certs" => cx.complete(Request::RefreshCerts {
            noreply: Args::new(rest).noreply(),
        }),
        b"cache_memlimit" => cx.cache_memlimit(),
        b"slabs" => cx.slabs(),
        b"config" => cx.config(),
        b"lru_crawler" => cx.complete(Request::LruCrawler(super::admin::crawler(rest))),
        b"watch" => cx.complete(Request::Watch {
            kinds: super::admin::watch_kinds(rest),
        }),
        b"stats" => cx.complete(Request::Stats {
            args: trim_end_spaces(trim_start_spaces(rest)),
        }),
        b"mg" | b"ms" | b"md" | b"ma" | b"mn" | b"me" => {
            match super::meta::parse(command, rest, buf, line_len, limits)? {
                Status::Complete(req, n) => Ok(Status::Complete(Request::Meta(req), n)),
                Status::Incomplete => Ok(Status::Incomplete),
            }
        }
        _ if tokens(rest).last().unwrap_or(command).starts_with(b"HTTP/") => {
            Err(cx.error(ErrorKind::Http, false))
        }
        // Everything else answers `ERROR`, including the empty line and
        // memcached's admin commands it does not serve (`slabs`, ...).
        _ => Err(cx.error(ErrorKind::UnknownCommand, false)),
    }
}

/// `CLIENT_ERROR` message for malformed arguments and bad keys.
const BAD_FORMAT: &str = "bad command line format";
/// `CLIENT_ERROR` message of `delete` with arguments it does not know.
const DELETE_USAGE: &str = "bad command line format.  Usage: delete <key> [noreply]";
const BAD_EXPTIME: &str = "invalid exptime argument";
const BAD_DELTA: &str = "invalid numeric delta argument";
const BAD_DATA_CHUNK: &str = "bad data chunk";

/// Leading spaces memcached skips before looking for `get `/`gets ` in a
/// long line that has no newline yet.
const MAX_LEADING_SPACES: usize = 100;

/// The buffer holds no complete line. memcached closes the connection once
/// it has more than [`MAX_LINE`] bytes of it, unless the line starts (after
/// at most 100 spaces) with `get ` or `gets `: multi-gets are unbounded.
fn no_newline_yet<'a>(buf: &[u8]) -> Result<Status<Request<'a>>, Error> {
    if buf.len() <= MAX_LINE {
        return Ok(Status::Incomplete);
    }
    let spaces = buf.iter().take_while(|&&b| b == b' ').count();
    let start = &buf[spaces..];
    if spaces <= MAX_LEADING_SPACES && (start.starts_with(b"get ") || start.starts_with(b"gets ")) {
        Ok(Status::Incomplete)
    } else {
        Err(Error {
            kind: ErrorKind::LineTooLong,
            consumed: buf.len(),
            noreply: false,
        })
    }
}

fn trim_start_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ').count();
    &s[n..]
}

fn trim_end_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| b == b' ').count();
    &s[..s.len() - n]
}

/// A key memcached 1.6.18 accepts on a text line: at most 250 bytes.
/// Tokens are split on spaces only, so a key may hold any other byte,
/// control bytes included (libmemcached's memcaslap sends such keys); the
/// line's `\r\n` and a NUL (which ends the line, see [`parse`]) cannot be in
/// one. The meta protocol and the client keep the stricter
/// [`common::valid_key`](super::common::valid_key).
fn valid_key(key: &[u8]) -> bool {
    key.len() <= KEY_MAX_LENGTH
}

/// Room for one more argument than any fixed-arity command takes (`cas`:
/// six), so that "too many" is seen.
const MAX_ARGS: usize = 7;

/// The arguments after the command name: the first [`MAX_ARGS`] tokens and
/// their count, capped at [`MAX_ARGS`].
struct Args<'a> {
    tokens: [&'a [u8]; MAX_ARGS],
    len: usize,
}

impl<'a> Args<'a> {
    fn new(rest: &'a [u8]) -> Args<'a> {
        let mut args = Args {
            tokens: [&[]; MAX_ARGS],
            len: 0,
        };
        for (slot, token) in args.tokens.iter_mut().zip(tokens(rest)) {
            *slot = token;
            args.len += 1;
        }
        args
    }

    /// memcached's `set_noreply_maybe`: the last token is exactly `noreply`,
    /// whatever its position (`set a 0 0 noreply` asks for noreply, and its
    /// error is then suppressed).
    fn noreply(&self) -> bool {
        self.len > 0 && self.tokens[self.len - 1] == b"noreply"
    }
}

/// One complete command line: the buffer it starts, its length with the
/// newline, and what follows the command name.
struct Line<'a> {
    buf: &'a [u8],
    line_len: usize,
    rest: &'a [u8],
}

type Parsed<'a> = Result<Status<Request<'a>>, Error>;

impl<'a> Line<'a> {
    fn complete(&self, request: Request<'a>) -> Parsed<'a> {
        Ok(Status::Complete(request, self.line_len))
    }

    fn error(&self, kind: ErrorKind, noreply: bool) -> Error {
        Error {
            kind,
            consumed: self.line_len,
            noreply,
        }
    }

    /// memcached answers a wrong number of tokens with a bare `ERROR`
    /// (`WANT_TOKENS`), before it looks at `noreply`.
    fn wrong_arity(&self) -> Parsed<'a> {
        Err(self.error(ErrorKind::UnknownCommand, false))
    }

    /// Checks every key of a `get`-style list; `raw` is returned trimmed.
    fn keys(&self, raw: &'a [u8]) -> Result<Keys<'a>, Error> {
        if tokens(raw).all(valid_key) {
            Ok(Keys::new(trim_end_spaces(trim_start_spaces(raw))))
        } else {
            Err(self.error(ErrorKind::Client(BAD_FORMAT), false))
        }
    }

    fn get(&self, cas: bool) -> Parsed<'a> {
        if tokens(self.rest).next().is_none() {
            return self.wrong_arity();
        }
        let keys = self.keys(self.rest)?;
        self.complete(Request::Get { keys, cas })
    }

    /// `gat <exptime> <key>*`. memcached accepts `gat 10` with no key at all
    /// and answers `END`, so `keys` may be empty here.
    fn gat(&self, cas: bool) -> Parsed<'a> {
        let rest = trim_start_spaces(self.rest);
        if rest.is_empty() {
            return self.wrong_arity();
        }
        let exptime_len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let (exptime, keys) = rest.split_at(exptime_len);
        let Some(exptime) = number::safe_strtol(exptime) else {
            return Err(self.error(ErrorKind::Client(BAD_EXPTIME), false));
        };
        let keys = self.keys(keys)?;
        self.complete(Request::Gat {
            exptime: exptime.into(),
            keys,
            cas,
        })
    }

    /// `set|add|replace|append|prepend <key> <flags> <exptime> <bytes>
    /// [noreply]` and `cas <key> <flags> <exptime> <bytes> <unique>
    /// [noreply]`.
    ///
    /// As in memcached, a token in the `noreply` position that is not
    /// `noreply` is ignored, and a malformed line is answered without
    /// swallowing its data block: the block is then read as command lines.
    fn store(&self, command: StoreCommand, limits: &Limits) -> Parsed<'a> {
        let args = Args::new(self.rest);
        let fixed = if command == StoreCommand::Cas { 5 } else { 4 };
        if args.len != fixed && args.len != fixed + 1 {
            return self.wrong_arity();
        }
        let noreply = args.noreply();
        let bad = || self.error(ErrorKind::Client(BAD_FORMAT), noreply);
        let [key, flags, exptime, bytes, unique, ..] = args.tokens;
        if key.len() > KEY_MAX_LENGTH {
            return Err(bad());
        }
        let (Some(flags), Some(exptime), Some(bytes)) = (
            number::safe_strtoul(flags),
            number::safe_strtol(exptime),
            number::safe_strtol(bytes),
        ) else {
            return Err(bad());
        };
        let cas_unique = if command == StoreCommand::Cas {
            number::safe_strtoull(unique).ok_or_else(bad)?
        } else {
            0
        };
        // memcached: `vlen < 0 || vlen > (INT_MAX - 2)`.
        let bytes = match usize::try_from(bytes) {
            Ok(bytes) if bytes <= i32::MAX as usize - 2 => bytes,
            _ => return Err(bad()),
        };
        let total = self.line_len + bytes + 2;
        if !valid_key(key) {
            // A control byte in the key: refused by this project only.
            // memcached would take the key and read the data block, and the
            // client sends one, so the block is swallowed here rather than
            // read as command lines (its value would otherwise run as
            // commands). Answered at once, like a value too large.
            return Err(Error {
                kind: ErrorKind::Client(BAD_FORMAT),
                consumed: total,
                noreply,
            });
        }
        if bytes > limits.max_value {
            // memcached replies at once and swallows `bytes + 2` bytes,
            // whatever they are.
            return Ok(Status::Complete(
                Request::TooLarge {
                    command,
                    key,
                    noreply,
                },
                total,
            ));
        }
        let Some(block) = self.buf.get(self.line_len..total) else {
            return Ok(Status::Incomplete);
        };
        let (value, end) = block.split_at(bytes);
        if end != b"\r\n" {
            // memcached reads exactly `bytes + 2` bytes, then finds they do
            // not end in "\r\n": it answers this (suppressed by noreply)
            // and goes on with the byte after them, even when that is the
            // middle of a line (`set a 0 0 1\r\nxyz\r\n` is followed by an
            // empty line, `ERROR`).
            return Err(Error {
                kind: ErrorKind::Client(BAD_DATA_CHUNK),
                consumed: total,
                noreply,
            });
        }
        Ok(Status::Complete(
            Request::Store {
                command,
                key,
                flags,
                exptime: exptime.into(),
                cas_unique,
                value,
                noreply,
            },
            total,
        ))
    }

    /// `delete <key> [0] [noreply]`: the legacy hold time `0` is accepted,
    /// anything else draws memcached's usage message. With only a key,
    /// memcached does not look for `noreply` (`delete noreply` deletes the
    /// key "noreply" and replies).
    fn delete(&self) -> Parsed<'a> {
        let args = Args::new(self.rest);
        if !(1..=3).contains(&args.len) {
            return self.wrong_arity();
        }
        let key = args.tokens[0];
        let mut noreply = false;
        if args.len > 1 {
            let hold_is_zero = args.tokens[1] == b"0";
            noreply = args.noreply();
            let valid = (args.len == 2 && (hold_is_zero || noreply))
                || (args.len == 3 && hold_is_zero && noreply);
            if !valid {
                return Err(self.error(ErrorKind::Client(DELETE_USAGE), noreply));
            }
        }
        if !valid_key(key) {
            return Err(self.error(ErrorKind::Client(BAD_FORMAT), noreply));
        }
        self.complete(Request::Delete { key, noreply })
    }

    /// `incr|decr <key> <delta> [noreply]`; a third token that is not
    /// `noreply` is ignored, as memcached does.
    fn arithmetic(&self, incr: bool) -> Parsed<'a> {
        let args = Args::new(self.rest);
        if args.len != 2 && args.len != 3 {
            return self.wrong_arity();
        }
        let noreply = args.noreply();
        let key = args.tokens[0];
        if !valid_key(key) {
            return Err(self.error(ErrorKind::Client(BAD_FORMAT), noreply));
        }
        let Some(delta) = number::safe_strtoull(args.tokens[1]) else {
            return Err(self.error(ErrorKind::Client(BAD_DELTA), noreply));
        };
        self.complete(Request::Arithmetic {
            key,
            delta,
            incr,
            noreply,
        })
    }

    /// `touch <key> <exptime> [noreply]`.
    fn touch(&self) -> Parsed<'a> {
        let args = Args::new(self.rest);
        if args.len != 2 && args.len != 3 {
            return self.wrong_arity();
        }
        let noreply = args.noreply();
        let key = args.tokens[0];
        if !valid_key(key) {
            return Err(self.error(ErrorKind::Client(BAD_FORMAT), noreply));
        }
        let Some(exptime) = number::safe_strtol(args.tokens[1]) else {
            return Err(self.error(ErrorKind::Client(BAD_EXPTIME), noreply));
        };
        self.complete(Request::Touch {
            key,
            exptime: exptime.into(),
            noreply,
        })
    }

    /// `flush_all [delay] [noreply]`. memcached reads the first argument as
    /// the delay unless the only argument is `noreply`; a bad delay is an
    /// `invalid exptime argument` (not `bad command line format`), and a
    /// second argument that is not `noreply` is ignored (`flush_all 0 20`
    /// is `OK`).
    fn flush_all(&self) -> Parsed<'a> {
        let args = Args::new(self.rest);
        if args.len > 2 {
            return self.wrong_arity();
        }
        let noreply = args.noreply();
        let mut delay = 0;
        if args.len != usize::from(noreply) {
            let Some(d) = number::safe_strtol(args.tokens[0]) else {
                return Err(self.error(ErrorKind::Client(BAD_EXPTIME), noreply));
            };
            delay = d;
        }
        self.complete(Request::FlushAll {
            delay: delay.into(),
            noreply,
        })
    }

    /// `verbosity <level> [noreply]`. memcached 1.6.18: no argument is
    /// `ERROR`; a level that is not a number (including `verbosity
    /// noreply`) is `CLIENT_ERROR bad command line format`, suppressed when
    /// the last token is `noreply`; a second token that is not `noreply` is
    /// ignored.
    fn verbosity(&self) -> Parsed<'a> {
        let args = Args::new(self.rest);
        if args.len != 1 && args.len != 2 {
            return self.wrong_arity();
        }
        let noreply = args.noreply();
        if number::safe_strtoul(args.tokens[0]).is_none() {
            return Err(self.error(ErrorKind::Client(BAD_FORMAT), noreply));
        }
        self.complete(Request::Verbosity { noreply })
    }

    /// memcached's `process_slabs_command`: `reassign` with exactly two
    /// arguments, `automove` with at least one; anything else `ERROR`.
    fn slabs(&self) -> Parsed<'a> {
        let args = Args::new(self.rest);
        match (args.len, args.tokens[0]) {
            (3, b"reassign") => {
                let (src, dst) = (args.tokens[1], args.tokens[2]);
                let classes = number::safe_strtol(src).zip(number::safe_strtol(dst));
                self.complete(Request::SlabsReassign { classes })
            }
            (n, b"automove") if n >= 2 => {
                let noreply = args.noreply();
                if args.tokens[1] == b"ratio" {
                    let ratio = std::str::from_utf8(args.tokens[2])
                        .ok()
                        .and_then(|r| r.parse::<f64>().ok());
                    if n < 3 || ratio.is_none() {
                        return Err(self.error(ErrorKind::UnknownCommand, noreply));
                    }
                    return self.complete(Request::SlabsAutomove { noreply });
                }
                match number::safe_strtoul(args.tokens[1]) {
                    None => Err(self.error(ErrorKind::Client(BAD_FORMAT), noreply)),
                    Some(0..=2) => self.complete(Request::SlabsAutomove { noreply }),
                    Some(_) => Err(self.error(ErrorKind::UnknownCommand, noreply)),
                }
            }
            _ => Err(self.error(ErrorKind::UnknownCommand, false)),
        }
    }

    /// `shutdown [graceful]`. (memcached started without `-A` answers
    /// `ERROR: shutdown not enabled` to any `shutdown` line before checking
    /// the mode: that is for whoever executes the request.)
    fn shutdown(&self) -> Parsed<'a> {
        let args = Args::new(self.rest);
        match (args.len, args.tokens[0]) {
            (0, _) => self.complete(Request::Shutdown {
                mode: ShutdownMode::Now,
            }),
            (1, b"graceful") => self.complete(Request::Shutdown {
                mode: ShutdownMode::Graceful,
            }),
            _ => self.complete(Request::Shutdown {
                mode: ShutdownMode::Invalid,
            }),
        }
    }

    /// `config get <key>`; any other shape is `ERROR`, as from a server
    /// that does not know the command.
    fn config(&self) -> Parsed<'a> {
        let args = Args::new(self.rest);
        match (args.len, args.tokens[0]) {
            (2, b"get") if valid_key(args.tokens[1]) => self.complete(Request::ConfigGet {
                key: args.tokens[1],
            }),
            _ => Err(self.error(ErrorKind::UnknownCommand, false)),
        }
    }

    /// `cache_memlimit <mb> [noreply]`. A bad number is a bare `ERROR` in
    /// memcached, suppressed by noreply; the value is read as a 32-bit
    /// unsigned (`4294967360` is 64). Range checks (at least 8, at most
    /// 1000000000) give their own replies and belong to the executor.
    fn cache_memlimit(&self) -> Parsed<'a> {
        let args = Args::new(self.rest);
        if args.len != 1 && args.len != 2 {
            return self.wrong_arity();
        }
        let noreply = args.noreply();
        let Some(megabytes) = number::safe_strtoul(args.tokens[0]) else {
            return Err(self.error(ErrorKind::UnknownCommand, noreply));
        };
        self.complete(Request::CacheMemlimit {
            megabytes: megabytes.into(),
            noreply,
        })
    }
}

#[cfg(test)]
mod tests;

//! The one join between protocols and the store: every request is matched
//! here and turned into store calls and reply bytes.

use super::Shared;
use crate::protocol::text::{self, ErrorKind, Request, ShutdownMode, StoreCommand};
use crate::stats::ThreadStats;
use crate::store::{Bytes, DeltaError, Pinned, StoreError, StoreMode, StoreOutcome, Value};

mod meta;
pub use self::meta::meta;

/// What the connection does after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Close once the replies are written.
    Close,
    /// Close and stop the server.
    Shutdown,
    /// A multi-get's reply passed [`Session::pause_above`]: write it out,
    /// then execute the same request again; the session remembers which
    /// keys are answered. This bounds a connection's unsent replies however
    /// many keys one request names.
    Pause,
}

/// Per-connection protocol state.
#[derive(Debug, Default)]
pub struct Session {
    pub auth: super::auth::AuthState,
    /// Pause a multi-get once the reply buffer holds more than this many
    /// bytes (`None`: never, as for a UDP datagram).
    pub pause_above: Option<usize>,
    /// Keys of the paused multi-get already answered.
    pub keys_done: usize,
}

impl Session {
    /// One more key of a multi-get is answered: true when the reply is now
    /// past the bound and the rest must wait for the peer to read.
    fn pause_after_key(&mut self, out: &[u8]) -> bool {
        self.keys_done += 1;
        self.pause_above.is_some_and(|high| out.len() > high)
    }
}

pub use super::binary_dispatch::{binary, binary_error};

/// Bytes of a `VALUE` line besides the key and the value itself.
const VALUE_LINE_MAX: usize = 64;

/// The reply to a request the text parser refused.
pub fn text_error(e: &text::Error, out: &mut Vec<u8>) -> Flow {
    match e.kind {
        ErrorKind::LineTooLong | ErrorKind::Http => return Flow::Close,
        _ if e.noreply => {}
        ErrorKind::UnknownCommand => out.extend_from_slice(b"ERROR\r\n"),
        ErrorKind::Client(msg) => {
            out.extend_from_slice(b"CLIENT_ERROR ");
            out.extend_from_slice(msg.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    Flow::Continue
}

/// [`text_error`], unless the connection still owes an ASCII login.
pub fn text_refused(
    e: &text::Error,
    shared: &Shared,
    session: &Session,
    out: &mut Vec<u8>,
) -> Flow {
    if shared.auth.ascii.is_some()
        && !session.auth.authenticated
        && !matches!(e.kind, ErrorKind::LineTooLong | ErrorKind::Http)
    {
        out.extend_from_slice(b"CLIENT_ERROR unauthenticated\r\n");
        return Flow::Continue;
    }
    text_error(e, out)
}

/// `-Y`: before anything else, a `set` whose data is `<user> <password>`.
fn ascii_login(
    req: Request,
    ascii: &super::auth::AsciiAuth,
    stats: &ThreadStats,
    session: &mut Session,
    out: &mut Vec<u8>,
) -> Flow {
    let line: &[u8] = match req {
        Request::Store {
            command: StoreCommand::Set,
            value,
            ..
        } => {
            ThreadStats::incr(&stats.auth_cmds);
            match ascii.check_token(value) {
                Some(true) => {
                    session.auth.authenticated = true;
                    b"STORED\r\n"
                }
                Some(false) => {
                    ThreadStats::incr(&stats.auth_errors);
                    b"CLIENT_ERROR authentication failure\r\n"
                }
                None => {
                    ThreadStats::incr(&stats.auth_errors);
                    b"CLIENT_ERROR bad authentication token format\r\n"
                }
            }
        }
        _ => b"CLIENT_ERROR unauthenticated\r\n",
    };
    out.extend_from_slice(line);
    Flow::Continue
}

/// Execute one text request, appending its reply to `out`.
pub fn text(
    req: Request,
    shared: &Shared,
    stats: &ThreadStats,
    session: &mut Session,
    out: &mut Vec<u8>,
) -> Flow {
    if let Some(ascii) = &shared.auth.ascii {
        if !session.auth.authenticated {
            return ascii_login(req, ascii, stats, session, out);
        }
    }
    let cache = &shared.cache;
    let reply = |out: &mut Vec<u8>, noreply: bool, line: &[u8]| {
        if !noreply {
            out.extend_from_slice(line);
        }
    };
    match req {
        Request::Get { keys, cas } => {
            for key in keys.iter().skip(session.keys_done) {
                ThreadStats::incr(&stats.cmd_get);
                let hit = get_value(shared, key, None, cas, out);
                ThreadStats::incr(if hit {
                    &stats.get_hits
                } else {
                    &stats.get_misses
                });
                if session.pause_after_key(out) {
                    return Flow::Pause;
                }
            }
            session.keys_done = 0;
            out.extend_from_slice(b"END\r\n");
        }
        Request::Gat { exptime, keys, cas } => {
            for key in keys.iter().skip(session.keys_done) {
                ThreadStats::incr(&stats.cmd_get);
                ThreadStats::incr(&stats.cmd_touch);
                let hit = get_value(shared, key, Some(exptime), cas, out);
                ThreadStats::incr(if hit {
                    &stats.get_hits
                } else {
                    &stats.get_misses
                });
                ThreadStats::incr(if hit {
                    &stats.touch_hits
                } else {
                    &stats.touch_misses
                });
                if session.pause_after_key(out) {
                    return Flow::Pause;
                }
            }
            session.keys_done = 0;
            out.extend_from_slice(b"END\r\n");
        }
        Request::Store {
            command,
            key,
            flags,
            exptime,
            cas_unique,
            value,
            noreply,
        } => {
            ThreadStats::incr(&stats.cmd_set);
            let mode = store_mode(command, cas_unique);
            let line: &[u8] = match cache.store(mode, key, flags, exptime, value) {
                Ok(StoreOutcome::Stored(_)) => {
                    if command == StoreCommand::Cas {
                        ThreadStats::incr(&stats.cas_hits);
                    }
                    b"STORED\r\n"
                }
                Ok(StoreOutcome::NotStored) => b"NOT_STORED\r\n",
                Ok(StoreOutcome::Exists) => {
                    ThreadStats::incr(&stats.cas_badval);
                    b"EXISTS\r\n"
                }
                Ok(StoreOutcome::NotFound) => {
                    ThreadStats::incr(&stats.cas_misses);
                    b"NOT_FOUND\r\n"
                }
                Err(e) => return store_failed(shared, stats, command, key, noreply, e, out),
            };
            reply(out, noreply, line);
        }
        Request::TooLarge {
            command,
            key,
            noreply,
        } => {
            ThreadStats::incr(&stats.cmd_set);
            return store_failed(
                shared,
                stats,
                command,
                key,
                noreply,
                StoreError::TooLarge,
                out,
            );
        }
        Request::Delete { key, noreply } => {
            let found = cache.delete(key);
            ThreadStats::incr(if found {
                &stats.delete_hits
            } else {
                &stats.delete_misses
            });
            reply(
                out,
                noreply,
                if found {
                    b"DELETED\r\n"
                } else {
                    b"NOT_FOUND\r\n"
                },
            );
        }
        Request::Arithmetic {
            key,
            delta,
            incr,
            noreply,
        } => {
            let (hits, misses) = if incr {
                (&stats.incr_hits, &stats.incr_misses)
            } else {
                (&stats.decr_hits, &stats.decr_misses)
            };
            match cache.delta(key, delta, incr) {
                Ok(n) => {
                    ThreadStats::incr(hits);
                    if !noreply {
                        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                        out.extend_from_slice(b"\r\n");
                    }
                }
                Err(DeltaError::NotFound) => {
                    ThreadStats::incr(misses);
                    reply(out, noreply, b"NOT_FOUND\r\n");
                }
                Err(DeltaError::NonNumeric) => reply(
                    out,
                    noreply,
                    b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
                ),
                Err(DeltaError::OutOfMemory) => {
                    reply(out, noreply, b"SERVER_ERROR out of memory\r\n")
                } // Text arithmetic never names a CAS unique.
            }
        }
        Request::Touch {
            key,
            exptime,
            noreply,
        } => {
            ThreadStats::incr(&stats.cmd_touch);
            let found = cache.touch(key, exptime);
            ThreadStats::incr(if found {
                &stats.touch_hits
            } else {
                &stats.touch_misses
            });
            reply(
                out,
                noreply,
                if found {
                    b"TOUCHED\r\n"
                } else {
                    b"NOT_FOUND\r\n"
                },
            );
        }
        Request::FlushAll { delay, noreply } => {
            if shared.config.disable_flush_all {
                reply(out, noreply, b"CLIENT_ERROR flush_all not allowed\r\n");
            } else {
                ThreadStats::incr(&stats.cmd_flush);
                cache.flush_all(delay);
                reply(out, noreply, b"OK\r\n");
            }
        }
        Request::Version => {
            out.extend_from_slice(b"VERSION ");
            out.extend_from_slice(super::VERSION.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Request::Verbosity { noreply } => reply(out, noreply, b"OK\r\n"),
        Request::Quit => return Flow::Close,
        // memcached answers its error message as it is (`Error ...`).
        Request::RefreshCerts { noreply } => match shared.refresh_certs() {
            Ok(()) => reply(out, noreply, b"OK\r\n"),
            Err(msg) => {
                out.extend_from_slice(msg.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        },
        Request::Shutdown { mode } => match mode {
            _ if !shared.config.enable_shutdown => {
                out.extend_from_slice(b"ERROR: shutdown not enabled\r\n")
            }
            ShutdownMode::Invalid => {
                out.extend_from_slice(b"CLIENT_ERROR invalid shutdown mode\r\n")
            }
            ShutdownMode::Now | ShutdownMode::Graceful => return Flow::Shutdown,
        },
        Request::CacheMemlimit { megabytes, noreply } => {
            if megabytes < 8 {
                reply(
                    out,
                    noreply,
                    b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n",
                );
            } else {
                cache.set_memory_limit(megabytes.saturating_mul(1 << 20) as usize);
                reply(out, noreply, b"OK\r\n");
            }
        }
        Request::Stats { args } => super::report::stats(shared, args, out),
        Request::Meta(req) => return meta(req, shared, stats, out),
        Request::ConfigGet { key } => match shared.cluster.encoded() {
            Some(data) if key == b"cluster" => {
                out.extend_from_slice(format!("CONFIG cluster 0 {}\r\n", data.len()).as_bytes());
                out.extend_from_slice(data.as_bytes());
                out.extend_from_slice(b"\r\nEND\r\n");
            }
            // Like a server without auto-discovery.
            _ => out.extend_from_slice(b"ERROR\r\n"),
        },
    }
    Flow::Continue
}

fn store_mode(command: StoreCommand, cas_unique: u64) -> StoreMode {
    match command {
        StoreCommand::Set => StoreMode::Set,
        StoreCommand::Add => StoreMode::Add,
        StoreCommand::Replace => StoreMode::Replace,
        StoreCommand::Append => StoreMode::Append,
        StoreCommand::Prepend => StoreMode::Prepend,
        StoreCommand::Cas => StoreMode::Cas(cas_unique),
    }
}

/// A store that failed for memory: memcached answers `SERVER_ERROR` and, for
/// `set`, removes the old value so stale data does not outlive the write.
pub(super) fn store_failed(
    shared: &Shared,
    stats: &ThreadStats,
    command: StoreCommand,
    key: &[u8],
    noreply: bool,
    e: StoreError,
    out: &mut Vec<u8>,
) -> Flow {
    if command == StoreCommand::Set {
        shared.cache.delete(key);
    }
    let line: &[u8] = match e {
        StoreError::TooLarge => {
            ThreadStats::incr(&stats.store_too_large);
            b"SERVER_ERROR object too large for cache\r\n"
        }
        StoreError::OutOfMemory => {
            ThreadStats::incr(&stats.store_no_memory);
            b"SERVER_ERROR out of memory storing object\r\n"
        }
    };
    if !noreply {
        out.extend_from_slice(line);
    }
    Flow::Continue
}

/// What a lookup did under the stripe lock.
enum Hit<'a> {
    /// The hit is in `out`.
    Written,
    /// `out` lacked room; reserve this much and look again (so the lock is
    /// never held across an allocation).
    NeedRoom(usize),
    /// A large value: write it after the lock is released.
    Shared {
        flags: u32,
        cas: u64,
        value: Pinned<'a>,
    },
}

/// Look `key` up (and touch it when `touch` is set) and append its reply
/// with `write(out, flags, cas, value)`, whatever the protocol's framing.
/// `framing` is the most bytes `write` adds besides the value. A small value
/// is written under the stripe lock only when `out` already has room, so
/// the lock is never held across an allocation; a large one is written after
/// unlocking. False on a miss, with nothing appended.
pub(super) fn write_hit(
    shared: &Shared,
    key: &[u8],
    touch: Option<i64>,
    framing: usize,
    out: &mut Vec<u8>,
    write: impl Fn(&mut Vec<u8>, u32, u64, Bytes),
) -> bool {
    loop {
        let look = hit_fn(|item| match &item.value {
            Value::Shared(v) => Hit::Shared {
                flags: item.flags,
                cas: item.cas,
                value: v.pin(),
            },
            Value::Inline(v) => {
                let need = framing + v.len();
                if out.capacity() - out.len() < need {
                    return Hit::NeedRoom(need);
                }
                write(out, item.flags, item.cas, *v);
                Hit::Written
            }
        });
        let hit = match touch {
            None => shared.cache.get(key, look),
            Some(exptime) => shared.cache.get_and_touch(key, exptime, look),
        };
        match hit {
            None => return false,
            Some(Hit::Written) => return true,
            Some(Hit::NeedRoom(n)) => out.reserve(n),
            Some(Hit::Shared { flags, cas, value }) => {
                write(out, flags, cas, value.bytes());
                return true;
            }
        }
    }
}

/// Names the lifetime that ties a lookup closure's result to the cache.
fn hit_fn<'a, F: FnOnce(&crate::store::ItemView<'a>) -> Hit<'a>>(f: F) -> F {
    f
}

/// Append `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n` for a hit.
fn get_value(
    shared: &Shared,
    key: &[u8],
    touch: Option<i64>,
    with_cas: bool,
    out: &mut Vec<u8>,
) -> bool {
    write_hit(
        shared,
        key,
        touch,
        key.len() + VALUE_LINE_MAX,
        out,
        |out, flags, cas, value| value_block(out, key, flags, value, with_cas.then_some(cas)),
    )
}

fn value_block(out: &mut Vec<u8>, key: &[u8], flags: u32, value: Bytes, cas: Option<u64>) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"VALUE ");
    out.extend_from_slice(key);
    out.push(b' ');
    out.extend_from_slice(n.format(flags).as_bytes());
    out.push(b' ');
    out.extend_from_slice(n.format(value.len()).as_bytes());
    if let Some(cas) = cas {
        out.push(b' ');
        out.extend_from_slice(n.format(cas).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    value.extend_into(out);
    out.extend_from_slice(b"\r\n");
}

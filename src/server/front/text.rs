//! The classic text front end: a [`Request`] becomes execution-layer
//! operations; their outcomes become memcached's reply lines.

use super::lines;
use crate::protocol::text::{self, ErrorKind, Request, ShutdownMode, StoreCommand};
use crate::server::exec::{
    DeltaOp, Exec, Family, Flow, Hit, HitReply, Login, ReadOp, Session, StoreOp,
};
use crate::store::{
    DeleteOptions, DeleteOutcome, DeltaError, DeltaOptions, DeltaOutcome, StoreMode, StoreOptions,
    StoreOutcome,
};

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
pub fn text_refused(e: &text::Error, ex: &Exec, session: &mut Session, out: &mut Vec<u8>) -> Flow {
    if ex.must_authenticate(session, false)
        && !matches!(e.kind, ErrorKind::LineTooLong | ErrorKind::Http)
    {
        out.extend_from_slice(b"CLIENT_ERROR unauthenticated\r\n");
        return Flow::Continue;
    }
    session.closed_on_error |= matches!(e.kind, ErrorKind::LineTooLong | ErrorKind::Http);
    text_error(e, out)
}

/// `-Y`: before anything else, a `set` whose data is `<user> <password>`.
fn ascii_login(req: Request, ex: &Exec, session: &mut Session, out: &mut Vec<u8>) -> Flow {
    let line: &[u8] = match (req, &ex.shared.auth.ascii) {
        (
            Request::Store {
                command: StoreCommand::Set,
                value,
                ..
            },
            Some(ascii),
        ) => match ex.ascii_login(ascii, session, value) {
            Login::Ok => b"STORED\r\n",
            Login::Failed => b"CLIENT_ERROR authentication failure\r\n",
            Login::BadFormat => b"CLIENT_ERROR bad authentication token format\r\n",
        },
        _ => b"CLIENT_ERROR unauthenticated\r\n",
    };
    out.extend_from_slice(line);
    Flow::Continue
}

/// A `VALUE` block for one key of a `get`/`gets`/`gat`/`gats`.
struct ValueBlock<'k> {
    key: &'k [u8],
    with_cas: bool,
}

impl HitReply for ValueBlock<'_> {
    fn framing(&self) -> usize {
        self.key.len() + VALUE_LINE_MAX
    }

    /// `VALUE <key> <flags> <bytes>[ <cas>]\r\n`
    fn head(&self, out: &mut Vec<u8>, hit: &Hit) {
        let mut n = itoa::Buffer::new();
        out.extend_from_slice(b"VALUE ");
        out.extend_from_slice(self.key);
        out.push(b' ');
        out.extend_from_slice(n.format(hit.flags).as_bytes());
        out.push(b' ');
        out.extend_from_slice(n.format(hit.len).as_bytes());
        if self.with_cas {
            out.push(b' ');
            out.extend_from_slice(n.format(hit.cas).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }

    fn tail(&self, out: &mut Vec<u8>, _hit: &Hit) {
        out.extend_from_slice(b"\r\n");
    }
}

/// Execute one text request, appending its reply to `out`.
pub fn text(req: Request, ex: &Exec, session: &mut Session, out: &mut Vec<u8>) -> Flow {
    if ex.must_authenticate(session, false) {
        return ascii_login(req, ex, session, out);
    }
    let reply = |out: &mut Vec<u8>, noreply: bool, line: &[u8]| {
        if !noreply {
            out.extend_from_slice(line);
        }
    };
    match req {
        Request::Get { keys, cas } | Request::Gat { keys, cas, .. } => {
            let op = match req {
                Request::Gat { exptime, .. } => ReadOp::GetAndTouch(exptime),
                _ => ReadOp::Get,
            };
            for key in keys.iter().skip(session.keys_done) {
                ex.read(key, op, &ValueBlock { key, with_cas: cas }, out);
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
            return store(
                ex,
                command,
                key,
                flags,
                exptime,
                cas_unique,
                Some(value),
                noreply,
                out,
            )
        }
        Request::TooLarge {
            command,
            key,
            noreply,
        } => return store(ex, command, key, 0, 0, 0, None, noreply, out),
        Request::Delete { key, noreply } => {
            let line: &[u8] = match ex.delete(key, &DeleteOptions::default(), Family::Classic) {
                DeleteOutcome::Deleted => b"DELETED\r\n",
                _ => b"NOT_FOUND\r\n",
            };
            reply(out, noreply, line);
        }
        Request::Arithmetic {
            key,
            delta,
            incr,
            noreply,
        } => {
            let op = DeltaOp {
                key,
                delta,
                incr,
                opts: DeltaOptions::default(),
                family: Family::Classic,
            };
            match ex.delta(&op) {
                Ok(DeltaOutcome::Applied(done) | DeltaOutcome::Created(done)) => {
                    if !noreply {
                        out.extend_from_slice(itoa::Buffer::new().format(done.value).as_bytes());
                        out.extend_from_slice(b"\r\n");
                    }
                }
                Ok(DeltaOutcome::Exists) | Err(DeltaError::NotFound) => {
                    reply(out, noreply, b"NOT_FOUND\r\n")
                }
                Err(e) => reply(out, noreply, lines::delta_error(e)),
            }
        }
        Request::Touch {
            key,
            exptime,
            noreply,
        } => {
            let line: &[u8] = if ex.touch(key, exptime) {
                b"TOUCHED\r\n"
            } else {
                b"NOT_FOUND\r\n"
            };
            reply(out, noreply, line);
        }
        Request::FlushAll { delay, noreply } => match ex.flush_all(delay) {
            Ok(()) => reply(out, noreply, b"OK\r\n"),
            Err(_) => reply(out, noreply, b"CLIENT_ERROR flush_all not allowed\r\n"),
        },
        Request::Version => {
            out.extend_from_slice(b"VERSION ");
            out.extend_from_slice(crate::server::shared::VERSION.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Request::Verbosity { noreply } => reply(out, noreply, b"OK\r\n"),
        Request::Quit => return Flow::Close,
        // memcached answers its error message as it is (`Error ...`).
        Request::Snapshot => match ex.shared.config.extended.snapshot_path {
            Some(_) => {
                ex.shared.persist.request_snapshot();
                out.extend_from_slice(b"OK\r\n");
            }
            None => {
                out.extend_from_slice(b"CLIENT_ERROR snapshots not enabled (-o snapshot_path)\r\n")
            }
        },
        Request::RefreshCerts { noreply } => match ex.shared.refresh_certs() {
            Ok(()) => reply(out, noreply, b"OK\r\n"),
            Err(msg) => {
                out.extend_from_slice(msg.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        },
        Request::Shutdown { mode } => match mode {
            _ if !ex.shutdown_enabled() => {
                out.extend_from_slice(b"ERROR: shutdown not enabled\r\n")
            }
            ShutdownMode::Invalid => {
                out.extend_from_slice(b"CLIENT_ERROR invalid shutdown mode\r\n")
            }
            ShutdownMode::Now => return Flow::Shutdown,
            ShutdownMode::Graceful => {
                ex.request_save();
                return Flow::Shutdown;
            }
        },
        Request::CacheMemlimit { megabytes, noreply } => {
            if ex.set_memory_limit(megabytes) {
                reply(out, noreply, b"OK\r\n");
            } else {
                reply(
                    out,
                    noreply,
                    b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n",
                );
            }
        }
        Request::SlabsReassign { classes } => out.extend_from_slice(ex.slabs_reassign(classes)),
        Request::SlabsAutomove { noreply } => reply(out, noreply, b"OK\r\n"),
        Request::Stats { args } => ex.stats(args, out),
        Request::Meta(req) => return super::meta::meta(req, ex, out),
        Request::LruCrawler(cmd) => return ex.lru_crawler(cmd, session, out),
        Request::Watch { kinds } => ex.watch(kinds, session, out),
        Request::ConfigGet { key } => match ex.shared.cluster.encoded() {
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

/// A storage command; `value` is `None` when it was over `-I`.
#[allow(clippy::too_many_arguments)]
fn store(
    ex: &Exec,
    command: StoreCommand,
    key: &[u8],
    flags: u32,
    exptime: i64,
    cas_unique: u64,
    value: Option<&[u8]>,
    noreply: bool,
    out: &mut Vec<u8>,
) -> Flow {
    let mode = match command {
        StoreCommand::Set => StoreMode::Set,
        StoreCommand::Add => StoreMode::Add,
        StoreCommand::Replace => StoreMode::Replace,
        StoreCommand::Append => StoreMode::Append,
        StoreCommand::Prepend => StoreMode::Prepend,
        StoreCommand::Cas => StoreMode::Cas(cas_unique),
    };
    let op = StoreOp {
        mode,
        key,
        flags,
        exptime,
        value,
        opts: StoreOptions::default(),
        unlink_on_failure: command == StoreCommand::Set,
    };
    let line: &[u8] = match ex.store(&op) {
        Ok(StoreOutcome::Stored(_)) => b"STORED\r\n",
        Ok(StoreOutcome::NotStored) => b"NOT_STORED\r\n",
        Ok(StoreOutcome::Exists) => b"EXISTS\r\n",
        Ok(StoreOutcome::NotFound) => b"NOT_FOUND\r\n",
        Err(e) => lines::store_error(e),
    };
    if !noreply {
        out.extend_from_slice(line);
    }
    Flow::Continue
}

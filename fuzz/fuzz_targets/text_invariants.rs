//! The text parser's invariants, shared by the `text` and `meta` targets
//! (meta lines go through the text parser): consumed counts are sane, a
//! request does not depend on the bytes after it (checked at two cut
//! points), and a parsed request written out in canonical form parses back
//! to the same request.

use ferrocache::protocol::meta::Payload;
use ferrocache::protocol::text::{parse, ErrorKind, Limits, Request, ShutdownMode, StoreCommand};
use ferrocache::protocol::Status;

const LIMITS: Limits = Limits { max_value: 1 << 20 };

pub fn check(data: &[u8]) {
    let whole = parse(data, &LIMITS);
    let consumed = match &whole {
        Ok(Status::Complete(_, n)) => *n,
        Err(e) => e.consumed,
        Ok(Status::Incomplete) => return,
    };
    assert!(consumed > 0, "a result that consumes nothing would loop");
    if consumed > data.len() {
        // Only a refused or too-large storage command covers a data block
        // not received yet (swallowed as it comes, never buffered).
        let swallows = match &whole {
            Err(_) | Ok(Status::Complete(Request::TooLarge { .. }, _)) => true,
            Ok(Status::Complete(Request::Meta(m), _)) => m.value == Payload::TooLarge,
            _ => false,
        };
        assert!(swallows, "consumed {consumed} of {}", data.len());
        return;
    }
    if let Err(e) = &whole {
        if e.kind == ErrorKind::LineTooLong {
            // Decided by a newline not having come yet: bytes after it may
            // bring one, as they do for memcached reading more at once.
            return;
        }
    }
    // The same request from exactly its own bytes, and from its bytes
    // followed by something else.
    assert_eq!(parse(&data[..consumed], &LIMITS), whole);
    let mut more = data[..consumed].to_vec();
    more.extend_from_slice(b"\xffjunk\r\n");
    assert_eq!(parse(&more, &LIMITS), whole);
    // A strict prefix of a complete request is never a different complete
    // request.
    if let Ok(Status::Complete(req, _)) = whole {
        round_trip(&req);
    }
    if let Ok(Status::Complete(..)) = whole {
        for cut in [consumed - 1, consumed / 2] {
            if let Ok(Status::Complete(_, n)) = parse(&data[..cut], &LIMITS) {
                panic!("prefix of {cut} bytes parsed as a {n}-byte request");
            }
        }
    }
}

/// The canonical form of `req` parses to a request with the same canonical
/// form (which covers every field the parser keeps).
fn round_trip(req: &Request) {
    let Some(wire) = canonical(req) else { return };
    match parse(&wire, &LIMITS) {
        Ok(Status::Complete(again, n)) => {
            assert_eq!(n, wire.len(), "{:?}", String::from_utf8_lossy(&wire));
            assert_eq!(
                canonical(&again).as_deref(),
                Some(&wire[..]),
                "{req:?} vs {again:?}"
            );
        }
        other => panic!(
            "canonical {:?} of {req:?} parses as {other:?}",
            String::from_utf8_lossy(&wire)
        ),
    }
}

/// Single spaces, every optional field written; `None` for requests whose
/// parsed form drops what a re-encoding needs (meta, an oversized value, an
/// unknown shutdown mode).
fn canonical(req: &Request) -> Option<Vec<u8>> {
    let mut w = Vec::new();
    let noreply = |w: &mut Vec<u8>, on: bool| {
        if on {
            w.extend_from_slice(b" noreply");
        }
    };
    match *req {
        Request::Get { keys, cas } => {
            w.extend_from_slice(if cas { b"gets" } else { b"get" });
            for k in keys.iter() {
                w.push(b' ');
                w.extend_from_slice(k);
            }
        }
        Request::Gat { exptime, keys, cas } => {
            w.extend_from_slice(if cas { b"gats" } else { b"gat" });
            w.extend_from_slice(format!(" {exptime}").as_bytes());
            for k in keys.iter() {
                w.push(b' ');
                w.extend_from_slice(k);
            }
        }
        Request::Store {
            command,
            key,
            flags,
            exptime,
            cas_unique,
            value,
            noreply: nr,
        } => {
            let name: &[u8] = match command {
                StoreCommand::Set => b"set",
                StoreCommand::Add => b"add",
                StoreCommand::Replace => b"replace",
                StoreCommand::Append => b"append",
                StoreCommand::Prepend => b"prepend",
                StoreCommand::Cas => b"cas",
            };
            w.extend_from_slice(name);
            w.push(b' ');
            w.extend_from_slice(key);
            w.extend_from_slice(format!(" {flags} {exptime} {}", value.len()).as_bytes());
            if command == StoreCommand::Cas {
                w.extend_from_slice(format!(" {cas_unique}").as_bytes());
            }
            noreply(&mut w, nr);
            w.extend_from_slice(b"\r\n");
            w.extend_from_slice(value);
        }
        Request::TooLarge { .. } | Request::Meta(_) => return None,
        Request::Delete { key, noreply: nr } => {
            w.extend_from_slice(b"delete ");
            w.extend_from_slice(key);
            noreply(&mut w, nr);
        }
        Request::Arithmetic {
            key,
            delta,
            incr,
            noreply: nr,
        } => {
            w.extend_from_slice(if incr { b"incr " } else { b"decr " });
            w.extend_from_slice(key);
            w.extend_from_slice(format!(" {delta}").as_bytes());
            noreply(&mut w, nr);
        }
        Request::Touch {
            key,
            exptime,
            noreply: nr,
        } => {
            w.extend_from_slice(b"touch ");
            w.extend_from_slice(key);
            w.extend_from_slice(format!(" {exptime}").as_bytes());
            noreply(&mut w, nr);
        }
        Request::FlushAll { delay, noreply: nr } => {
            w.extend_from_slice(format!("flush_all {delay}").as_bytes());
            noreply(&mut w, nr);
        }
        Request::Version => w.extend_from_slice(b"version"),
        Request::Verbosity { noreply: nr } => {
            w.extend_from_slice(b"verbosity 1");
            noreply(&mut w, nr);
        }
        Request::Quit => w.extend_from_slice(b"quit"),
        Request::RefreshCerts { noreply: nr } => {
            w.extend_from_slice(b"refresh_certs");
            noreply(&mut w, nr);
        }
        Request::Shutdown { mode } => match mode {
            ShutdownMode::Now => w.extend_from_slice(b"shutdown"),
            ShutdownMode::Graceful => w.extend_from_slice(b"shutdown graceful"),
            ShutdownMode::Invalid => return None,
        },
        Request::CacheMemlimit {
            megabytes,
            noreply: nr,
        } => {
            w.extend_from_slice(format!("cache_memlimit {megabytes}").as_bytes());
            noreply(&mut w, nr);
        }
        Request::SlabsReassign { .. } | Request::SlabsAutomove { .. } => return None,
        Request::Stats { args } => {
            w.extend_from_slice(b"stats");
            if !args.is_empty() {
                w.push(b' ');
                w.extend_from_slice(args);
            }
        }
        Request::ConfigGet { key } => {
            w.extend_from_slice(b"config get ");
            w.extend_from_slice(key);
        }
    }
    w.extend_from_slice(b"\r\n");
    Some(w)
}

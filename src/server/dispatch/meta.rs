//! The meta commands' half of the dispatch: one `match` from a
//! [`meta::Request`] to store calls and reply bytes, in memcached 1.6.18's
//! format (`proto_text.c`: `process_mget_command` and its siblings).
//!
//! Return flags are written in request order; `mg` appends `Z`, `X`, `W`
//! last. Quiet mode (`q`) hides only the nominal reply: `EN` for `mg`, `HD`
//! for `ms`, `md` and a successful `ma`. Errors are always sent.

use super::{Flow, Shared};
use crate::protocol::meta::{base64_encode, Command, Payload, Request};
use crate::stats::ThreadStats;
use crate::store::{
    Bytes, DeleteOptions, DeleteOutcome, DeltaError, DeltaOptions, DeltaOutcome, ItemView, Pinned,
    ReadOptions, ReadState, StoreError, StoreMode, StoreOptions, StoreOutcome, Value,
};

/// Room for an `mg` reply line besides its key and opaque: the code, the
/// size and every numeric flag at their widest.
const LINE_ROOM: usize = 160;

/// Execute one meta request, appending its reply to `out`.
pub fn meta(req: Request, shared: &Shared, stats: &ThreadStats, out: &mut Vec<u8>) -> Flow {
    match req.command {
        Command::Noop => out.extend_from_slice(b"MN\r\n"),
        Command::Get => get(&req, shared, stats, out),
        Command::Set => set(&req, shared, stats, out),
        Command::Delete => delete(&req, shared, stats, out),
        Command::Arithmetic => arithmetic(&req, shared, stats, out),
        Command::Debug => debug(&req, shared, stats, out),
    }
    Flow::Continue
}

/// An item's fields an `mg` reply shows, copied under the lock.
#[derive(Clone, Copy)]
struct Fields {
    flags: u32,
    cas: u64,
    len: usize,
    binary_key: bool,
}

impl Fields {
    fn of(item: &ItemView) -> Fields {
        Fields {
            flags: item.flags,
            cas: item.cas,
            len: item.value.len(),
            binary_key: item.bits & crate::store::BINARY_KEY != 0,
        }
    }
}

/// What the lookup closure did.
enum Hit<'a> {
    /// The reply is in `out`.
    Written,
    /// `out` lacked room for the value: reserve, then copy it with a plain
    /// read (this read's effects, a won token, are already done).
    NeedRoom(usize, ReadState),
    /// A large value, written after the lock is released.
    Shared(Fields, ReadState, Pinned<'a>),
}

fn get(req: &Request, shared: &Shared, stats: &ThreadStats, out: &mut Vec<u8>) {
    let cache = &shared.cache;
    let f = &req.flags;
    let key = req.key.bytes();
    let opts = ReadOptions {
        vivify: f.vivify,
        recache_below: f.recache,
        touch: f.ttl,
        touch_first: f.before(b'T', b'R'),
        no_bump: f.has(b'u'),
        new_cas: f.new_cas,
    };
    let with_value = f.has(b'v');
    let room = LINE_ROOM + 2 * req.key.raw().len() + f.opaque.map_or(0, <[u8]>::len);
    out.reserve(room + 64);
    let write = |out: &mut Vec<u8>, fields: Fields, state: &ReadState, value: Bytes| {
        get_line(out, req, shared, fields, state);
        if with_value {
            value.extend_into(out);
            out.extend_from_slice(b"\r\n");
        }
    };
    let hit = cache.read_with(key, &opts, |item, state| match &item.value {
        Value::Shared(v) => Hit::Shared(Fields::of(item), *state, v.pin()),
        Value::Inline(v) => {
            let need = room + if with_value { v.len() + 2 } else { 0 };
            if out.capacity() - out.len() < need {
                return Hit::NeedRoom(need, *state);
            }
            write(out, Fields::of(item), state, *v);
            Hit::Written
        }
    });
    let found = match hit {
        None => false,
        Some(Hit::Written) => true,
        Some(Hit::Shared(fields, state, pinned)) => {
            write(out, fields, &state, pinned.bytes());
            true
        }
        Some(Hit::NeedRoom(mut need, state)) => loop {
            out.reserve(need);
            let again = cache.get(key, |item| match &item.value {
                Value::Inline(v) if out.capacity() - out.len() < room + v.len() + 2 => {
                    Err(room + v.len() + 2)
                }
                Value::Inline(v) => {
                    write(out, Fields::of(item), &state, *v);
                    Ok(None)
                }
                Value::Shared(v) => Ok(Some((Fields::of(item), v.pin()))),
            });
            match again {
                None => break false,
                Some(Ok(None)) => break true,
                Some(Ok(Some((fields, pinned)))) => {
                    write(out, fields, &state, pinned.bytes());
                    break true;
                }
                Some(Err(n)) => need = n,
            }
        },
    };
    let touched = f.ttl.is_some();
    match (found, touched) {
        (true, true) => {
            ThreadStats::incr(&stats.cmd_touch);
            ThreadStats::incr(&stats.touch_hits);
        }
        (true, false) => {
            ThreadStats::incr(&stats.cmd_get);
            ThreadStats::incr(&stats.get_hits);
        }
        (false, _) => {
            ThreadStats::incr(&stats.cmd_get);
            ThreadStats::incr(&stats.get_misses);
        }
    }
    if !found && !f.has(b'q') {
        out.extend_from_slice(b"EN");
        echo(out, req, b"Ok");
        out.extend_from_slice(b"\r\n");
    }
}

/// `VA <size> <flags>*` or `HD <flags>*`, then `Z`, `X`, `W`, for a hit.
fn get_line(out: &mut Vec<u8>, req: &Request, shared: &Shared, it: Fields, state: &ReadState) {
    let f = &req.flags;
    let mut n = itoa::Buffer::new();
    if f.has(b'v') {
        out.extend_from_slice(b"VA ");
        out.extend_from_slice(n.format(it.len).as_bytes());
    } else {
        out.extend_from_slice(b"HD");
    }
    // The TTL `t` shows is the one in effect at its place in the request:
    // memcached applies `T` and `N` as it meets them.
    let clock = shared.cache.clock();
    let mut exp = if state.created { 0 } else { state.exp_before };
    for token in f.iter() {
        match token[0] {
            b'T' => exp = f.ttl.map_or(exp, |t| clock.expiry(t)),
            b'N' if state.created => exp = f.vivify.map_or(exp, |t| clock.expiry(t)),
            b's' => flag_num(out, b's', it.len as u64),
            b't' => ttl(out, exp, state.now),
            b'c' => flag_num(out, b'c', it.cas),
            b'f' => flag_num(out, b'f', it.flags.into()),
            b'l' => flag_num(out, b'l', state.idle.into()),
            b'h' => flag_num(out, b'h', state.fetched_before.into()),
            b'O' => {
                out.push(b' ');
                out.extend_from_slice(token);
            }
            b'k' => key_flag(out, req.key.bytes(), it.binary_key),
            _ => {}
        }
    }
    if state.already_won {
        out.extend_from_slice(b" Z");
    }
    if state.stale {
        out.extend_from_slice(b" X");
    }
    if state.won {
        out.extend_from_slice(b" W");
    }
    out.extend_from_slice(b"\r\n");
}

fn flag_num(out: &mut Vec<u8>, flag: u8, n: u64) {
    out.push(b' ');
    out.push(flag);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// ` t<seconds left>`, or ` t-1` for an item that never expires.
fn ttl(out: &mut Vec<u8>, exp: u32, now: u32) {
    if exp == 0 {
        out.extend_from_slice(b" t-1");
    } else {
        // memcached prints the difference as unsigned.
        flag_num(out, b't', exp.wrapping_sub(now).into());
    }
}

/// ` k<key>`, base64-encoded and followed by ` b` for a binary key.
fn key_flag(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    out.extend_from_slice(b" k");
    if binary {
        base64_encode(key, out);
        out.extend_from_slice(b" b");
    } else {
        out.extend_from_slice(key);
    }
}

/// Echo the request's `O` and `k` flags (those of `which`) in order.
fn echo(out: &mut Vec<u8>, req: &Request, which: &[u8]) {
    for token in req.flags.iter() {
        match token[0] {
            b'O' if which.contains(&b'O') => {
                out.push(b' ');
                out.extend_from_slice(token);
            }
            b'k' if which.contains(&b'k') => {
                key_flag(out, req.key.bytes(), req.key.is_binary());
            }
            _ => {}
        }
    }
}

/// The reply code and the echoed `O`, `k`, `c` flags of an `ms` or `md`.
fn status_line(out: &mut Vec<u8>, req: &Request, code: &[u8], cas: u64) {
    out.extend_from_slice(code);
    for token in req.flags.iter() {
        match token[0] {
            b'O' => {
                out.push(b' ');
                out.extend_from_slice(token);
            }
            b'k' => key_flag(out, req.key.bytes(), req.key.is_binary()),
            b'c' if req.command == Command::Set => flag_num(out, b'c', cas),
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn set(req: &Request, shared: &Shared, stats: &ThreadStats, out: &mut Vec<u8>) {
    let cache = &shared.cache;
    let f = &req.flags;
    let key = req.key.bytes();
    ThreadStats::incr(&stats.cmd_set);
    let value = match req.value {
        Payload::Data(v) => v,
        Payload::None => &[],
        Payload::TooLarge => return set_failed(shared, stats, key, StoreError::TooLarge, out),
    };
    let mode = match f.mode {
        Some(b'E') => StoreMode::Add,
        Some(b'A') => StoreMode::Append,
        Some(b'P') => StoreMode::Prepend,
        Some(b'R') => StoreMode::Replace,
        _ => StoreMode::Set,
    };
    let opts = StoreOptions {
        compare_cas: f.compare_cas,
        invalidate: f.has(b'I'),
        new_cas: f.new_cas,
        binary_key: req.key.is_binary(),
    };
    let cas_mode = f.compare_cas.is_some() && matches!(mode, StoreMode::Set | StoreMode::Replace);
    let exptime = f.ttl.unwrap_or(0);
    let (code, cas): (&[u8], u64) =
        match cache.store_with(mode, key, f.client_flags, exptime, value, &opts) {
            Ok(StoreOutcome::Stored(cas)) => {
                if cas_mode {
                    ThreadStats::incr(&stats.cas_hits);
                }
                if f.has(b'q') {
                    return;
                }
                (b"HD", cas)
            }
            Ok(StoreOutcome::NotStored) => (b"NS", 0),
            Ok(StoreOutcome::Exists) => {
                if cas_mode {
                    ThreadStats::incr(&stats.cas_badval);
                }
                (b"EX", 0)
            }
            Ok(StoreOutcome::NotFound) => {
                ThreadStats::incr(&stats.cas_misses);
                (b"NF", 0)
            }
            Err(e) => return set_failed(shared, stats, key, e, out),
        };
    status_line(out, req, code, cas);
}

/// memcached removes the old value when a store fails for size or memory,
/// so stale data does not outlive the write; errors ignore `q`.
fn set_failed(shared: &Shared, stats: &ThreadStats, key: &[u8], e: StoreError, out: &mut Vec<u8>) {
    shared.cache.delete(key);
    out.extend_from_slice(match e {
        StoreError::TooLarge => {
            ThreadStats::incr(&stats.store_too_large);
            b"SERVER_ERROR object too large for cache\r\n"
        }
        StoreError::OutOfMemory => {
            ThreadStats::incr(&stats.store_no_memory);
            b"SERVER_ERROR out of memory storing object\r\n"
        }
    });
}

fn delete(req: &Request, shared: &Shared, stats: &ThreadStats, out: &mut Vec<u8>) {
    let f = &req.flags;
    let opts = DeleteOptions {
        compare_cas: f.compare_cas,
        invalidate: f.has(b'I'),
        exptime: f.ttl,
        drop_value: f.has(b'x'),
        new_cas: f.new_cas,
    };
    let code: &[u8] = match shared.cache.delete_with(req.key.bytes(), &opts) {
        DeleteOutcome::Deleted => {
            if !opts.invalidate && !opts.drop_value {
                ThreadStats::incr(&stats.delete_hits);
            }
            if f.has(b'q') {
                return;
            }
            b"HD"
        }
        DeleteOutcome::NotFound => {
            ThreadStats::incr(&stats.delete_misses);
            b"NF"
        }
        DeleteOutcome::Exists => {
            ThreadStats::incr(&stats.delete_misses);
            b"EX"
        }
    };
    status_line(out, req, code, 0);
}

fn arithmetic(req: &Request, shared: &Shared, stats: &ThreadStats, out: &mut Vec<u8>) {
    let f = &req.flags;
    let incr = !matches!(f.mode, Some(b'D' | b'-'));
    let (hits, misses) = if incr {
        (&stats.incr_hits, &stats.incr_misses)
    } else {
        (&stats.decr_hits, &stats.decr_misses)
    };
    let opts = DeltaOptions {
        compare_cas: f.compare_cas,
        vivify: f.vivify.map(|ttl| (ttl, f.initial)),
        touch: f.ttl,
        new_cas: f.new_cas,
    };
    let (done, created) = match shared
        .cache
        .delta_with(req.key.bytes(), f.delta, incr, &opts)
    {
        Ok(DeltaOutcome::Applied(done)) => {
            ThreadStats::incr(hits);
            if f.has(b'q') {
                return;
            }
            (done, false)
        }
        Ok(DeltaOutcome::Created(done)) => (done, true),
        Ok(DeltaOutcome::Exists) => return status_line(out, req, b"EX", 0),
        Err(DeltaError::NotFound) => {
            ThreadStats::incr(misses);
            return status_line(out, req, b"NF", 0);
        }
        Err(DeltaError::NonNumeric) => {
            out.extend_from_slice(
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            );
            return;
        }
        Err(DeltaError::OutOfMemory) => {
            out.extend_from_slice(b"SERVER_ERROR out of memory\r\n");
            return;
        }
    };
    let mut n = itoa::Buffer::new();
    let number = n.format(done.value).as_bytes();
    if f.has(b'v') {
        out.extend_from_slice(b"VA ");
        out.extend_from_slice(itoa::Buffer::new().format(number.len()).as_bytes());
    } else {
        out.extend_from_slice(b"HD");
    }
    let clock = shared.cache.clock();
    let mut exp = done.exp_before;
    for token in f.iter() {
        match token[0] {
            b'c' => flag_num(out, b'c', done.cas),
            b't' => ttl(out, exp, clock.now()),
            b'T' => exp = done.exp,
            b'N' if created => exp = done.exp,
            b'O' => {
                out.push(b' ');
                out.extend_from_slice(token);
            }
            b'k' => key_flag(out, req.key.bytes(), req.key.is_binary()),
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
    if f.has(b'v') {
        out.extend_from_slice(number);
        out.extend_from_slice(b"\r\n");
    }
}

/// `me <key> [b]`: `ME <key> exp=.. la=.. cas=.. fetch=.. cls=.. size=..`.
fn debug(req: &Request, shared: &Shared, stats: &ThreadStats, out: &mut Vec<u8>) {
    ThreadStats::incr(&stats.cmd_meta);
    let key = req.key.bytes();
    let Some(info) = shared.cache.inspect(key) else {
        out.extend_from_slice(b"EN\r\n");
        return;
    };
    out.extend_from_slice(b"ME ");
    if info.binary_key {
        base64_encode(key, out);
    } else {
        out.extend_from_slice(key);
    }
    // memcached prints `now - exptime`: negative while the item lives.
    let exp = if info.exp == 0 {
        -1
    } else {
        i64::from(info.now) - i64::from(info.exp)
    };
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b" exp=");
    out.extend_from_slice(n.format(exp).as_bytes());
    out.extend_from_slice(b" la=");
    out.extend_from_slice(n.format(info.idle).as_bytes());
    out.extend_from_slice(b" cas=");
    out.extend_from_slice(n.format(info.cas).as_bytes());
    out.extend_from_slice(if info.fetched {
        b" fetch=yes cls="
    } else {
        b" fetch=no cls="
    });
    // Classes are numbered from 1, as `stats slabs` does; 0 for a large
    // item, which lives outside the slab classes.
    out.extend_from_slice(
        n.format(info.class.map_or(0, |c| usize::from(c) + 1))
            .as_bytes(),
    );
    out.extend_from_slice(b" size=");
    out.extend_from_slice(n.format(info.size).as_bytes());
    out.extend_from_slice(b"\r\n");
}

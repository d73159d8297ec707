//! The meta commands' front end: a [`Request`] (`mg ms md ma mn me`)
//! becomes execution-layer operations; their outcomes become reply bytes in
//! memcached 1.6.18's format (`proto_text.c`: `process_mget_command` and
//! its siblings).
//!
//! Return flags are written in request order; `mg` appends `Z`, `X`, `W`
//! last. Quiet mode (`q`) hides only the nominal reply: `EN` for `mg`, `HD`
//! for `ms`, `md` and a successful `ma`. Errors are always sent.

use super::lines;
use crate::protocol::meta::{base64_encode, Command, Payload, Request};
use crate::server::exec::{DeltaOp, Exec, Family, Flow, Hit, HitReply, ReadOp, StoreOp};
use crate::store::{
    DeleteOptions, DeleteOutcome, DeltaError, DeltaOptions, DeltaOutcome, ReadOptions, StoreMode,
    StoreOptions, StoreOutcome,
};

/// Room for an `mg` reply line besides its key and opaque: the code, the
/// size and every numeric flag at their widest.
const LINE_ROOM: usize = 160;

/// Execute one meta request, appending its reply to `out`.
pub fn meta(req: Request, ex: &Exec, out: &mut Vec<u8>) -> Flow {
    match req.command {
        Command::Noop => out.extend_from_slice(b"MN\r\n"),
        Command::Get => get(&req, ex, out),
        Command::Set => set(&req, ex, out),
        Command::Delete => delete(&req, ex, out),
        Command::Arithmetic => arithmetic(&req, ex, out),
        Command::Debug => debug(&req, ex, out),
    }
    Flow::Continue
}

/// An `mg` hit: its line, then the value when `v` asked for it.
struct GetReply<'r, 'a> {
    req: &'r Request<'a>,
    ex: &'r Exec<'r>,
    room: usize,
}

impl HitReply for GetReply<'_, '_> {
    fn framing(&self) -> usize {
        self.room + 2
    }

    /// `v`, unless `C` names the item's CAS (memcached 1.6.40: fetch the
    /// value only if it changed).
    fn with_value(&self, hit: &Hit) -> bool {
        let f = &self.req.flags;
        f.has(b'v') && f.compare_cas != Some(hit.cas)
    }

    fn head(&self, out: &mut Vec<u8>, hit: &Hit) {
        get_line(out, self.req, self.ex, hit, self.with_value(hit));
    }

    fn tail(&self, out: &mut Vec<u8>, hit: &Hit) {
        if self.with_value(hit) {
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn get(req: &Request, ex: &Exec, out: &mut Vec<u8>) {
    let f = &req.flags;
    let opts = ReadOptions {
        vivify: f.vivify,
        recache_below: f.recache,
        touch: f.ttl,
        touch_first: f.before(b'T', b'R'),
        no_bump: f.has(b'u'),
        new_cas: f.new_cas,
    };
    let room = LINE_ROOM + 2 * req.key.raw().len() + f.opaque.map_or(0, <[u8]>::len);
    out.reserve(room + 64);
    let reply = GetReply { req, ex, room };
    let found = ex.read(req.key.bytes(), ReadOp::Meta(&opts), &reply, out);
    if !found && !f.has(b'q') {
        out.extend_from_slice(b"EN");
        echo(out, req, b"Ok");
        out.extend_from_slice(b"\r\n");
    }
}

/// `VA <size> <flags>*` or `HD <flags>*`, then `Z`, `X`, `W`, for a hit.
fn get_line(out: &mut Vec<u8>, req: &Request, ex: &Exec, it: &Hit, value: bool) {
    let state = &it.state;
    let f = &req.flags;
    let mut n = itoa::Buffer::new();
    if value {
        out.extend_from_slice(b"VA ");
        out.extend_from_slice(n.format(it.len).as_bytes());
    } else {
        out.extend_from_slice(b"HD");
    }
    // The TTL `t` shows is the one in effect at its place in the request:
    // memcached applies `T` and `N` as it meets them.
    let clock = ex.shared.cache.clock();
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

/// The reply code and the echoed `O`, `k`, `c` flags of an `ms` or `md`,
/// and an `ms`'s `s`: the stored value's length (memcached 1.6.20).
fn status_line(out: &mut Vec<u8>, req: &Request, code: &[u8], cas: u64, size: usize) {
    out.extend_from_slice(code);
    for token in req.flags.iter() {
        match token[0] {
            b'O' => {
                out.push(b' ');
                out.extend_from_slice(token);
            }
            b'k' => key_flag(out, req.key.bytes(), req.key.is_binary()),
            b'c' if req.command == Command::Set => flag_num(out, b'c', cas),
            b's' if req.command == Command::Set => flag_num(out, b's', size as u64),
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn set(req: &Request, ex: &Exec, out: &mut Vec<u8>) {
    let f = &req.flags;
    let mode = match f.mode {
        Some(b'E') => StoreMode::Add,
        Some(b'A') => StoreMode::Append,
        Some(b'P') => StoreMode::Prepend,
        Some(b'R') => StoreMode::Replace,
        _ => StoreMode::Set,
    };
    let op = StoreOp {
        mode,
        key: req.key.bytes(),
        flags: f.client_flags,
        exptime: f.ttl.unwrap_or(0),
        value: match req.value {
            Payload::Data(v) => Some(v),
            Payload::None => Some(&[]),
            Payload::TooLarge => None,
        },
        opts: StoreOptions {
            compare_cas: f.compare_cas,
            invalidate: f.has(b'I'),
            new_cas: f.new_cas,
            binary_key: req.key.is_binary(),
        },
        unlink_on_failure: true,
    };
    let mut result = ex.store_sized(&op);
    if let (Ok((StoreOutcome::NotStored, _)), Some(ttl), StoreMode::Append | StoreMode::Prepend) =
        (&result, f.vivify, mode)
    {
        // `N` in append or prepend mode (memcached 1.6.20): a miss creates
        // the item from the data, with N's TTL.
        result = ex.store_sized(&StoreOp {
            mode: StoreMode::Add,
            exptime: ttl,
            ..op
        });
    }
    let (code, cas, size): (&[u8], u64, usize) = match result {
        Ok((StoreOutcome::Stored(_), _)) if f.has(b'q') => return,
        Ok((StoreOutcome::Stored(cas), size)) => (b"HD", cas, size),
        Ok((StoreOutcome::NotStored, size)) => (b"NS", 0, size),
        Ok((StoreOutcome::Exists, size)) => (b"EX", 0, size),
        Ok((StoreOutcome::NotFound, size)) => (b"NF", 0, size),
        // Errors ignore `q`.
        Err(e) => return out.extend_from_slice(lines::store_error(e)),
    };
    status_line(out, req, code, cas, size);
}

fn delete(req: &Request, ex: &Exec, out: &mut Vec<u8>) {
    let f = &req.flags;
    let opts = DeleteOptions {
        compare_cas: f.compare_cas,
        invalidate: f.has(b'I'),
        exptime: f.ttl,
        drop_value: f.has(b'x'),
        new_cas: f.new_cas,
    };
    let code: &[u8] = match ex.delete(req.key.bytes(), &opts, Family::Meta) {
        DeleteOutcome::Deleted if f.has(b'q') => return,
        DeleteOutcome::Deleted => b"HD",
        DeleteOutcome::NotFound => b"NF",
        DeleteOutcome::Exists => b"EX",
    };
    status_line(out, req, code, 0, 0);
}

fn arithmetic(req: &Request, ex: &Exec, out: &mut Vec<u8>) {
    let f = &req.flags;
    let op = DeltaOp {
        key: req.key.bytes(),
        delta: f.delta,
        incr: !matches!(f.mode, Some(b'D' | b'-')),
        opts: DeltaOptions {
            compare_cas: f.compare_cas,
            vivify: f.vivify.map(|ttl| (ttl, f.initial)),
            touch: f.ttl,
            new_cas: f.new_cas,
        },
        family: Family::Meta,
    };
    let (done, created) = match ex.delta(&op) {
        Ok(DeltaOutcome::Applied(_)) if f.has(b'q') => return,
        Ok(DeltaOutcome::Applied(done)) => (done, false),
        Ok(DeltaOutcome::Created(done)) => (done, true),
        Ok(DeltaOutcome::Exists) => return status_line(out, req, b"EX", 0, 0),
        Err(DeltaError::NotFound) => return status_line(out, req, b"NF", 0, 0),
        Err(e) => return out.extend_from_slice(lines::delta_error(e)),
    };
    let mut n = itoa::Buffer::new();
    let number = n.format(done.value).as_bytes();
    if f.has(b'v') {
        out.extend_from_slice(b"VA ");
        out.extend_from_slice(itoa::Buffer::new().format(number.len()).as_bytes());
    } else {
        out.extend_from_slice(b"HD");
    }
    let clock = ex.shared.cache.clock();
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
fn debug(req: &Request, ex: &Exec, out: &mut Vec<u8>) {
    let key = req.key.bytes();
    let Some(info) = ex.inspect(key) else {
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

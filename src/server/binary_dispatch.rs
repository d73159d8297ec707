//! The binary protocol's half of the dispatch (re-exported from
//! `dispatch`, kept in its own file so the text half stays readable): the
//! same store calls as text, answered in memcached's binary packets.

use super::auth::SaslReply;
use super::dispatch::{Flow, Session};
use super::Shared;
use crate::protocol::binary::{
    op, Command, Error, Request, Response, ResponseStatus as S, StoreKind, NO_CREATE,
};
use crate::stats::ThreadStats;
use crate::store::{
    DeleteOptions, DeleteOutcome, DeltaError, DeltaOptions, DeltaOutcome, StoreError, StoreMode,
    StoreOptions, StoreOutcome,
};

/// Opcodes served before SASL authentication (memcached's rule).
fn allowed_before_auth(opcode: u8) -> bool {
    matches!(
        opcode,
        op::VERSION | op::SASL_LIST_MECHS | op::SASL_AUTH | op::SASL_STEP
    )
}

/// With `-S`, an unauthenticated connection may only authenticate.
fn must_authenticate(shared: &Shared, session: &Session, opcode: u8) -> bool {
    shared.auth.sasl.is_some() && !session.auth.authenticated && !allowed_before_auth(opcode)
}

/// The reply to a request the binary parser refused.
pub fn binary_error(e: &Error, shared: &Shared, session: &Session, out: &mut Vec<u8>) -> Flow {
    let Some(status) = e.status() else {
        return Flow::Close;
    };
    let reply = |status| Response {
        opcode: e.header.opcode,
        status,
        opaque: e.header.opaque,
        cas: 0,
    };
    if must_authenticate(shared, session, e.header.opcode) {
        reply(S::AuthError).write_error(out);
        return Flow::Close;
    }
    reply(status).write_error(out);
    if e.closes() {
        Flow::Close
    } else {
        Flow::Continue
    }
}

/// Execute one binary request, appending its reply packets to `out`.
pub fn binary(
    req: Request,
    shared: &Shared,
    stats: &ThreadStats,
    session: &mut Session,
    out: &mut Vec<u8>,
) -> Flow {
    let cache = &shared.cache;
    let resp = |status, cas| Response {
        opcode: req.opcode,
        status,
        opaque: req.opaque,
        cas,
    };
    // Quiet requests answer only what memcached answers for them: errors.
    let ok = |out: &mut Vec<u8>, cas: u64| {
        if !req.quiet {
            resp(S::Success, cas).write(out, &[], &[], &[]);
        }
    };
    let fail = |out: &mut Vec<u8>, status: S| resp(status, 0).write_error(out);
    if must_authenticate(shared, session, req.opcode) {
        fail(out, S::AuthError);
        return Flow::Close;
    }
    match req.command {
        Command::Get {
            key,
            with_key,
            touch,
        } => {
            ThreadStats::incr(&stats.cmd_get);
            if touch.is_some() {
                ThreadStats::incr(&stats.cmd_touch);
            }
            let hit = get_packet(shared, &req, key, with_key, touch, out);
            ThreadStats::incr(if hit {
                &stats.get_hits
            } else {
                &stats.get_misses
            });
            if touch.is_some() {
                ThreadStats::incr(if hit {
                    &stats.touch_hits
                } else {
                    &stats.touch_misses
                });
            }
            if !hit && !req.quiet {
                if with_key {
                    // memcached returns the key instead of the message.
                    resp(S::NotFound, 0).write(out, &[], key, &[]);
                } else {
                    fail(out, S::NotFound);
                }
            }
        }
        Command::Touch { key, exptime } => {
            ThreadStats::incr(&stats.cmd_touch);
            match cache.get_and_touch(key, exptime as i64, |item| (item.flags, item.cas)) {
                Some((flags, cas)) => {
                    ThreadStats::incr(&stats.touch_hits);
                    resp(S::Success, cas).write(out, &flags.to_be_bytes(), &[], &[]);
                }
                None => {
                    ThreadStats::incr(&stats.touch_misses);
                    fail(out, S::NotFound);
                }
            }
        }
        Command::Store {
            kind,
            key,
            flags,
            exptime,
            value,
        } => {
            ThreadStats::incr(&stats.cmd_set);
            let mode = match kind {
                _ if req.cas != 0 && kind != StoreKind::Add => StoreMode::Cas(req.cas),
                StoreKind::Set => StoreMode::Set,
                StoreKind::Add => StoreMode::Add,
                StoreKind::Replace => StoreMode::Replace,
            };
            match cache.store(mode, key, flags, exptime as i64, value) {
                Ok(StoreOutcome::Stored(cas)) => {
                    if req.cas != 0 {
                        ThreadStats::incr(&stats.cas_hits);
                    }
                    ok(out, cas)
                }
                Ok(StoreOutcome::NotStored) if kind == StoreKind::Add => fail(out, S::Exists),
                Ok(StoreOutcome::NotStored) => fail(out, S::NotFound),
                Ok(StoreOutcome::Exists) => {
                    ThreadStats::incr(&stats.cas_badval);
                    fail(out, S::Exists)
                }
                Ok(StoreOutcome::NotFound) => {
                    ThreadStats::incr(&stats.cas_misses);
                    fail(out, S::NotFound)
                }
                Err(e) => {
                    // As for text: a failed set leaves no stale value behind.
                    if kind == StoreKind::Set {
                        cache.delete(key);
                    }
                    store_error(stats, e, out, resp(S::Success, 0));
                }
            }
        }
        Command::Concat { append, key, value } => {
            ThreadStats::incr(&stats.cmd_set);
            let mode = if append {
                StoreMode::Append
            } else {
                StoreMode::Prepend
            };
            let opts = StoreOptions {
                compare_cas: (req.cas != 0).then_some(req.cas),
                ..StoreOptions::default()
            };
            match cache.store_with(mode, key, 0, 0, value, &opts) {
                Ok(StoreOutcome::Stored(cas)) => ok(out, cas),
                Ok(StoreOutcome::Exists) => fail(out, S::Exists),
                Ok(_) => fail(out, S::NotStored),
                Err(e) => store_error(stats, e, out, resp(S::Success, 0)),
            }
        }
        Command::Delete { key } => {
            let opts = DeleteOptions {
                compare_cas: (req.cas != 0).then_some(req.cas),
                ..DeleteOptions::default()
            };
            match cache.delete_with(key, &opts) {
                DeleteOutcome::Deleted => {
                    ThreadStats::incr(&stats.delete_hits);
                    ok(out, 0)
                }
                DeleteOutcome::NotFound => {
                    ThreadStats::incr(&stats.delete_misses);
                    fail(out, S::NotFound)
                }
                DeleteOutcome::Exists => fail(out, S::Exists),
            }
        }
        Command::Delta {
            incr,
            key,
            delta,
            initial,
            exptime,
        } => {
            let (hits, misses) = if incr {
                (&stats.incr_hits, &stats.incr_misses)
            } else {
                (&stats.decr_hits, &stats.decr_misses)
            };
            let opts = DeltaOptions {
                compare_cas: (req.cas != 0).then_some(req.cas),
                vivify: (exptime != NO_CREATE).then_some((exptime as i64, initial)),
                ..DeltaOptions::default()
            };
            let done = match cache.delta_with(key, delta, incr, &opts) {
                Ok(DeltaOutcome::Applied(d)) => Some((d, hits)),
                // A miss, even though the initial value created the counter.
                Ok(DeltaOutcome::Created(d)) => Some((d, misses)),
                Ok(DeltaOutcome::Exists) => {
                    fail(out, S::Exists);
                    None
                }
                Err(DeltaError::NotFound) => {
                    ThreadStats::incr(misses);
                    fail(out, S::NotFound);
                    None
                }
                Err(DeltaError::NonNumeric) => {
                    fail(out, S::NonNumeric);
                    None
                }
                Err(DeltaError::OutOfMemory) => {
                    fail(out, S::OutOfMemory);
                    None
                }
            };
            if let Some((d, counter)) = done {
                ThreadStats::incr(counter);
                if !req.quiet {
                    resp(S::Success, d.cas).write(out, &[], &[], &d.value.to_be_bytes());
                }
            }
        }
        Command::Quit => {
            ok(out, 0);
            return Flow::Close;
        }
        Command::Flush { delay } => {
            if shared.config.disable_flush_all {
                // memcached's answer to a flush that `-F` disabled.
                fail(out, S::AuthError);
            } else {
                ThreadStats::incr(&stats.cmd_flush);
                cache.flush_all(delay as i64);
                ok(out, 0);
            }
        }
        Command::Noop => ok(out, 0),
        Command::Version => {
            resp(S::Success, 0).write(out, &[], &[], super::VERSION.as_bytes());
        }
        Command::Stat { group } => stats_packets(shared, &req, group, out),
        Command::SaslList => match &shared.auth.sasl {
            Some(sasl) => resp(S::Success, 0).write(out, &[], &[], sasl.mech_list().as_bytes()),
            None => fail(out, S::UnknownCommand),
        },
        Command::SaslAuth { mech, data } | Command::SaslStep { mech, data } => {
            let Some(sasl) = &shared.auth.sasl else {
                fail(out, S::UnknownCommand);
                return Flow::Continue;
            };
            let first = req.opcode == op::SASL_AUTH;
            let reply = session.auth.sasl_step(sasl, first, mech, data);
            if reply != SaslReply::Invalid {
                ThreadStats::incr(&stats.auth_cmds);
            }
            match reply {
                SaslReply::Done(msg) if msg.is_empty() => {
                    resp(S::Success, 0).write(out, &[], &[], b"Authenticated")
                }
                // SCRAM's server-final message, so the client can check it.
                SaslReply::Done(msg) => resp(S::Success, 0).write(out, &[], &[], &msg),
                SaslReply::Continue(challenge) => {
                    resp(S::AuthContinue, 0).write(out, &[], &[], &challenge)
                }
                SaslReply::Failed => {
                    ThreadStats::incr(&stats.auth_errors);
                    fail(out, S::AuthError)
                }
                // memcached: a mechanism name over MAX_SASL_MECH_LEN.
                SaslReply::Invalid => fail(out, S::InvalidArguments),
            }
        }
    }
    Flow::Continue
}

/// Answer a failed store; quiet or not, errors are reported.
fn store_error(stats: &ThreadStats, e: StoreError, out: &mut Vec<u8>, base: Response) {
    let status = match e {
        StoreError::TooLarge => {
            ThreadStats::incr(&stats.store_too_large);
            S::TooLarge
        }
        StoreError::OutOfMemory => {
            ThreadStats::incr(&stats.store_no_memory);
            S::OutOfMemory
        }
    };
    Response { status, ..base }.write_error(out);
}

/// Append the hit packet for `key` (flags as extras, the key for GetK and
/// GATK, the value). False on a miss, with nothing appended.
fn get_packet(
    shared: &Shared,
    req: &Request,
    key: &[u8],
    with_key: bool,
    touch: Option<u32>,
    out: &mut Vec<u8>,
) -> bool {
    let packet_key: &[u8] = if with_key { key } else { &[] };
    let header = |cas| Response {
        opcode: req.opcode,
        status: S::Success,
        opaque: req.opaque,
        cas,
    };
    let framing = 24 + 4 + packet_key.len();
    super::dispatch::write_hit(
        shared,
        key,
        touch.map(i64::from),
        framing,
        out,
        |out, flags, cas, value| {
            header(cas).write_head(out, &flags.to_be_bytes(), packet_key, value.len());
            value.extend_into(out);
        },
    )
}

/// `stats [group]` as packets: one per `STAT name value`, then an empty
/// one; a group memcached does not know answers "Not found".
fn stats_packets(shared: &Shared, req: &Request, group: &[u8], out: &mut Vec<u8>) {
    let mut text = Vec::new();
    super::report::stats(shared, group, &mut text);
    let header = |status| Response {
        opcode: req.opcode,
        status,
        opaque: req.opaque,
        cas: 0,
    };
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(stat) = line.strip_prefix(b"STAT ") {
            let (name, value) = match stat.iter().position(|&b| b == b' ') {
                Some(i) => (&stat[..i], &stat[i + 1..]),
                None => (stat, &[][..]),
            };
            header(S::Success).write(out, &[], name, value);
        } else if matches!(line, b"END" | b"RESET" | b"OK") {
            header(S::Success).write(out, &[], &[], &[]);
            return;
        } else {
            header(S::NotFound).write_error(out);
            return;
        }
    }
}

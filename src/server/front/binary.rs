//! The binary front end: a [`Request`] becomes execution-layer operations;
//! their outcomes become memcached's binary packets.

use crate::protocol::binary::{
    op, Command, Error, ErrorKind, Request, Response, ResponseStatus as S, StoreKind, NO_CREATE,
};
use crate::server::auth::SaslReply;
use crate::server::exec::{DeltaOp, Exec, Family, Flow, Hit, HitReply, ReadOp, Session, StoreOp};
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

/// The reply to a request the binary parser refused; `buf` starts with it.
pub fn binary_error(
    e: &Error,
    buf: &[u8],
    ex: &Exec,
    session: &Session,
    out: &mut Vec<u8>,
) -> Flow {
    let Some(status) = e.status() else {
        return Flow::Close;
    };
    let reply = |status| Response {
        opcode: e.header.opcode,
        status,
        opaque: e.header.opaque,
        cas: 0,
    };
    if ex.must_authenticate(session, allowed_before_auth(e.header.opcode)) {
        reply(S::AuthError).write_error(out);
        return Flow::Close;
    }
    if e.kind == ErrorKind::TooLarge && matches!(e.header.opcode, op::SET | op::SETQ) {
        if let Some(key) = e.key(buf) {
            ex.drop_stale(key);
        }
    }
    reply(status).write_error(out);
    if e.closes() {
        Flow::Close
    } else {
        Flow::Continue
    }
}

/// A hit's packet: flags as extras, the key for GetK and GATK, the value
/// (none for Touch).
struct HitPacket<'a> {
    req: &'a Request<'a>,
    key: &'a [u8],
    with_value: bool,
}

impl HitReply for HitPacket<'_> {
    fn framing(&self) -> usize {
        crate::protocol::binary::HEADER_LEN + 4 + self.key.len()
    }

    fn with_value(&self, _hit: &Hit) -> bool {
        self.with_value
    }

    fn head(&self, out: &mut Vec<u8>, hit: &Hit) {
        let header = Response {
            opcode: self.req.opcode,
            status: S::Success,
            opaque: self.req.opaque,
            cas: hit.cas,
        };
        let len = if self.with_value { hit.len } else { 0 };
        header.write_head(out, &hit.flags.to_be_bytes(), self.key, len);
    }
}

/// Execute one binary request, appending its reply packets to `out`.
pub fn binary(req: Request, ex: &Exec, session: &mut Session, out: &mut Vec<u8>) -> Flow {
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
    let store_error = |out: &mut Vec<u8>, e: StoreError| {
        fail(
            out,
            match e {
                StoreError::TooLarge => S::TooLarge,
                StoreError::OutOfMemory => S::OutOfMemory,
            },
        )
    };
    let compare_cas = (req.cas != 0).then_some(req.cas);
    if ex.must_authenticate(session, allowed_before_auth(req.opcode)) {
        fail(out, S::AuthError);
        return Flow::Close;
    }
    match req.command {
        Command::Get {
            key,
            with_key,
            touch,
        } => {
            let op = match touch {
                Some(t) => ReadOp::GetAndTouch(t.into()),
                None => ReadOp::Get,
            };
            let packet_key: &[u8] = if with_key { key } else { &[] };
            let reply = HitPacket {
                req: &req,
                key: packet_key,
                with_value: true,
            };
            let hit = ex.read(key, op, &reply, out);
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
            let reply = HitPacket {
                req: &req,
                key: &[],
                with_value: false,
            };
            if !ex.read(key, ReadOp::Touch(exptime.into()), &reply, out) {
                fail(out, S::NotFound);
            }
        }
        Command::Store {
            kind,
            key,
            flags,
            exptime,
            value,
        } => {
            let mode = match kind {
                _ if req.cas != 0 && kind != StoreKind::Add => StoreMode::Cas(req.cas),
                StoreKind::Set => StoreMode::Set,
                StoreKind::Add => StoreMode::Add,
                StoreKind::Replace => StoreMode::Replace,
            };
            let op = StoreOp {
                mode,
                key,
                flags,
                exptime: exptime.into(),
                value: Some(value),
                opts: StoreOptions::default(),
                unlink_on_failure: kind == StoreKind::Set,
            };
            match ex.store(&op) {
                Ok(StoreOutcome::Stored(cas)) => ok(out, cas),
                Ok(StoreOutcome::NotStored) if kind == StoreKind::Add => fail(out, S::Exists),
                Ok(StoreOutcome::NotStored | StoreOutcome::NotFound) => fail(out, S::NotFound),
                Ok(StoreOutcome::Exists) => fail(out, S::Exists),
                Err(e) => store_error(out, e),
            }
        }
        Command::Concat { append, key, value } => {
            let op = StoreOp {
                mode: if append {
                    StoreMode::Append
                } else {
                    StoreMode::Prepend
                },
                key,
                flags: 0,
                exptime: 0,
                value: Some(value),
                opts: StoreOptions {
                    compare_cas,
                    ..StoreOptions::default()
                },
                unlink_on_failure: false,
            };
            match ex.store(&op) {
                Ok(StoreOutcome::Stored(cas)) => ok(out, cas),
                Ok(StoreOutcome::Exists) => fail(out, S::Exists),
                Ok(_) => fail(out, S::NotStored),
                Err(e) => store_error(out, e),
            }
        }
        Command::Delete { key } => {
            let opts = DeleteOptions {
                compare_cas,
                ..DeleteOptions::default()
            };
            match ex.delete(key, &opts, Family::Classic) {
                DeleteOutcome::Deleted => ok(out, 0),
                DeleteOutcome::NotFound => fail(out, S::NotFound),
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
            let op = DeltaOp {
                key,
                delta,
                incr,
                opts: DeltaOptions {
                    compare_cas,
                    vivify: (exptime != NO_CREATE).then_some((exptime.into(), initial)),
                    ..DeltaOptions::default()
                },
                family: Family::Classic,
            };
            match ex.delta(&op) {
                Ok(DeltaOutcome::Applied(d) | DeltaOutcome::Created(d)) => {
                    if !req.quiet {
                        resp(S::Success, d.cas).write(out, &[], &[], &d.value.to_be_bytes());
                    }
                }
                Ok(DeltaOutcome::Exists) => fail(out, S::Exists),
                Err(DeltaError::NotFound) => fail(out, S::NotFound),
                Err(DeltaError::NonNumeric) => fail(out, S::NonNumeric),
                Err(DeltaError::OutOfMemory) => fail(out, S::OutOfMemory),
            }
        }
        Command::Quit => {
            ok(out, 0);
            return Flow::Close;
        }
        Command::Flush { delay } => match ex.flush_all(delay.into()) {
            Ok(()) => ok(out, 0),
            // memcached's answer to a flush that `-F` disabled.
            Err(_) => fail(out, S::AuthError),
        },
        Command::Noop => ok(out, 0),
        Command::Version => {
            resp(S::Success, 0).write(out, &[], &[], crate::server::shared::VERSION.as_bytes());
        }
        Command::Stat { group } => stats_packets(ex, &req, group, out),
        Command::SaslList => match &ex.shared.auth.sasl {
            Some(sasl) => resp(S::Success, 0).write(out, &[], &[], sasl.mech_list().as_bytes()),
            None => fail(out, S::UnknownCommand),
        },
        Command::SaslAuth { mech, data } | Command::SaslStep { mech, data } => {
            let first = req.opcode == op::SASL_AUTH;
            match ex.sasl(session, first, mech, data) {
                None => fail(out, S::UnknownCommand),
                Some(SaslReply::Done(msg)) if msg.is_empty() => {
                    resp(S::Success, 0).write(out, &[], &[], b"Authenticated")
                }
                // SCRAM's server-final message, so the client can check it.
                Some(SaslReply::Done(msg)) => resp(S::Success, 0).write(out, &[], &[], &msg),
                Some(SaslReply::Continue(challenge)) => {
                    resp(S::AuthContinue, 0).write(out, &[], &[], &challenge)
                }
                Some(SaslReply::Failed) => fail(out, S::AuthError),
                // memcached: a mechanism name over MAX_SASL_MECH_LEN.
                Some(SaslReply::Invalid) => fail(out, S::InvalidArguments),
            }
        }
    }
    Flow::Continue
}

/// `stats [group]` as packets: one per `STAT name value`, then an empty
/// one; a group memcached does not know answers "Not found".
fn stats_packets(ex: &Exec, req: &Request, group: &[u8], out: &mut Vec<u8>) {
    let mut text = Vec::new();
    ex.stats(group, &mut text);
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

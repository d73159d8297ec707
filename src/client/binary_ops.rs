//! Each client operation in the binary protocol, over one connection.

use super::binary::{self, status, Frame, Opcode};
use super::pool::Connection;
use super::types::{Batch, CasOutcome, Error, Item, Result};
use crate::protocol::text::StoreCommand;

/// Send one request and read its response.
fn round_trip(
    c: &mut Connection,
    opcode: Opcode,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
    cas: u64,
) -> Result<Frame> {
    let mut req = Vec::with_capacity(binary::HEADER_LEN + extras.len() + key.len() + value.len());
    binary::encode(&mut req, opcode, extras, key, value, 0, cas);
    c.send(&req)?;
    let frame = c.frame()?;
    if frame.header.opcode != opcode as u8 {
        return Err(Error::Protocol(format!(
            "response opcode {:#04x} to {opcode:?}",
            frame.header.opcode
        )));
    }
    Ok(frame)
}

/// A status that is not an answer about the key.
fn failed(frame: &Frame) -> Error {
    let msg = String::from_utf8_lossy(frame.value()).into_owned();
    match frame.header.status {
        status::UNKNOWN_COMMAND => Error::UnknownCommand,
        // Invalid arguments, non-numeric value: the request's fault.
        0x04 | 0x06 => Error::Client(msg),
        _ => Error::Server(msg),
    }
}

fn item(frame: &Frame, with_cas: bool) -> Item {
    Item {
        value: frame.value().to_vec(),
        flags: frame.flags(),
        cas: with_cas.then_some(frame.header.cas),
    }
}

pub fn get(
    c: &mut Connection,
    key: &[u8],
    touch: Option<i64>,
    with_cas: bool,
) -> Result<Option<Item>> {
    let frame = match touch {
        Some(t) => round_trip(
            c,
            Opcode::Gat,
            &binary::exptime_u32(t).to_be_bytes(),
            key,
            &[],
            0,
        )?,
        None => round_trip(c, Opcode::Get, &[], key, &[], 0)?,
    };
    match frame.header.status {
        status::OK => Ok(Some(item(&frame, with_cas))),
        status::KEY_NOT_FOUND => Ok(None),
        _ => Err(failed(&frame)),
    }
}

/// Quiet gets (misses are silent) ended by a no-op: one pipelined write.
pub fn get_multi(c: &mut Connection, keys: &[&[u8]]) -> Result<Batch> {
    let mut req = Vec::with_capacity(keys.iter().map(|k| k.len() + binary::HEADER_LEN).sum());
    for (i, k) in keys.iter().enumerate() {
        binary::encode(&mut req, Opcode::GetKQ, &[], k, &[], i as u32, 0);
    }
    binary::encode(&mut req, Opcode::Noop, &[], &[], &[], u32::MAX, 0);
    c.send(&req)?;
    let mut out = Vec::new();
    loop {
        let frame = c.frame()?;
        match frame.header.opcode {
            op if op == Opcode::Noop as u8 => return Ok(out),
            op if op == Opcode::GetKQ as u8 && frame.header.status == status::OK => {
                out.push((frame.key().to_vec(), item(&frame, false)));
            }
            op if op == Opcode::GetKQ as u8 => {}
            op => {
                return Err(Error::Protocol(format!(
                    "response opcode {op:#04x} to GetKQ"
                )))
            }
        }
    }
}

pub fn store(
    c: &mut Connection,
    command: StoreCommand,
    key: &[u8],
    value: &[u8],
    flags: u32,
    exptime: i64,
    cas: u64,
) -> Result<CasOutcome> {
    let extras = binary::store_extras(flags, exptime);
    let (opcode, extras): (Opcode, &[u8]) = match command {
        StoreCommand::Set | StoreCommand::Cas => (Opcode::Set, &extras),
        StoreCommand::Add => (Opcode::Add, &extras),
        StoreCommand::Replace => (Opcode::Replace, &extras),
        StoreCommand::Append => (Opcode::Append, &[]),
        StoreCommand::Prepend => (Opcode::Prepend, &[]),
    };
    let frame = round_trip(c, opcode, extras, key, value, cas)?;
    match frame.header.status {
        status::OK => Ok(CasOutcome::Stored),
        status::KEY_EXISTS | status::NOT_STORED => Ok(CasOutcome::Exists),
        status::KEY_NOT_FOUND => Ok(CasOutcome::NotFound),
        _ => Err(failed(&frame)),
    }
}

/// Ok(true) on success, Ok(false) when the key was not found.
fn found(frame: &Frame) -> Result<bool> {
    match frame.header.status {
        status::OK => Ok(true),
        status::KEY_NOT_FOUND => Ok(false),
        _ => Err(failed(frame)),
    }
}

pub fn delete(c: &mut Connection, key: &[u8]) -> Result<bool> {
    found(&round_trip(c, Opcode::Delete, &[], key, &[], 0)?)
}

pub fn touch(c: &mut Connection, key: &[u8], exptime: i64) -> Result<bool> {
    let extras = binary::exptime_u32(exptime).to_be_bytes();
    found(&round_trip(c, Opcode::Touch, &extras, key, &[], 0)?)
}

pub fn delta(c: &mut Connection, incr: bool, key: &[u8], delta: u64) -> Result<Option<u64>> {
    let opcode = if incr {
        Opcode::Increment
    } else {
        Opcode::Decrement
    };
    let frame = round_trip(c, opcode, &binary::delta_extras(delta), key, &[], 0)?;
    match frame.header.status {
        status::OK => match frame.value() {
            [a, b, c, d, e, f, g, h] => {
                Ok(Some(u64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h])))
            }
            _ => Err(Error::Protocol("counter value is not 8 bytes".into())),
        },
        status::KEY_NOT_FOUND => Ok(None),
        _ => Err(failed(&frame)),
    }
}

pub fn flush(c: &mut Connection, delay: i64) -> Result<()> {
    let extras = binary::exptime_u32(delay).to_be_bytes();
    let extras: &[u8] = if delay == 0 { &[] } else { &extras };
    let frame = round_trip(c, Opcode::Flush, extras, &[], &[], 0)?;
    match frame.header.status {
        status::OK => Ok(()),
        _ => Err(failed(&frame)),
    }
}

pub fn version(c: &mut Connection) -> Result<String> {
    let frame = round_trip(c, Opcode::Version, &[], &[], &[], 0)?;
    match frame.header.status {
        status::OK => Ok(String::from_utf8_lossy(frame.value()).into_owned()),
        _ => Err(failed(&frame)),
    }
}

/// Stat frames end with one whose key is empty.
pub fn stats(c: &mut Connection, group: Option<&str>) -> Result<Vec<(String, String)>> {
    let mut frame = round_trip(c, Opcode::Stat, &[], group.unwrap_or("").as_bytes(), &[], 0)?;
    let mut out = Vec::new();
    loop {
        if frame.header.status != status::OK {
            return Err(failed(&frame));
        }
        if frame.header.key_len == 0 {
            return Ok(out);
        }
        out.push((
            String::from_utf8_lossy(frame.key()).into_owned(),
            String::from_utf8_lossy(frame.value()).into_owned(),
        ));
        frame = c.frame()?;
    }
}

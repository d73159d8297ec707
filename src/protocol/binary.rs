//! memcached's binary protocol (`protocol_binary.h`), both directions.
//!
//! A request is a 24-byte header, then `extras`, `key` and `value`, whose
//! lengths the header gives. [`parse`] checks the header as soon as it has
//! arrived, so a malformed request is refused without waiting for (or
//! buffering) the body it claims; then it borrows key and value from the
//! buffer. [`Response`] writes reply packets.

use super::common::{Limits, Status, BINARY_REQUEST_MAGIC, KEY_MAX_LENGTH};

/// Size of every request and response header.
pub const HEADER_LEN: usize = 24;
/// The response magic byte.
pub const RESPONSE_MAGIC: u8 = 0x81;
/// Incr/decr expiration meaning "fail rather than create the counter".
pub const NO_CREATE: u32 = 0xffff_ffff;
/// Largest SASL auth payload we accept. A mechanism name is any key: one
/// longer than memcached's `MAX_SASL_MECH_LEN` is answered "invalid
/// arguments" by the server, which keeps the connection, as memcached does.
const SASL_DATA_MAX: usize = 8 * 1024;

/// Opcodes, numbered as in memcached's `protocol_binary.h`.
pub mod op {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCREMENT: u8 = 0x05;
    pub const DECREMENT: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCREMENTQ: u8 = 0x15;
    pub const DECREMENTQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const SASL_LIST_MECHS: u8 = 0x20;
    pub const SASL_AUTH: u8 = 0x21;
    pub const SASL_STEP: u8 = 0x22;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}

/// Response status codes and the bodies memcached sends with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ResponseStatus {
    Success = 0x00,
    NotFound = 0x01,
    Exists = 0x02,
    TooLarge = 0x03,
    InvalidArguments = 0x04,
    NotStored = 0x05,
    NonNumeric = 0x06,
    AuthError = 0x20,
    AuthContinue = 0x21,
    UnknownCommand = 0x81,
    OutOfMemory = 0x82,
}

impl ResponseStatus {
    /// memcached's error body for this status.
    pub fn message(self) -> &'static [u8] {
        match self {
            ResponseStatus::Success | ResponseStatus::AuthContinue => b"",
            ResponseStatus::NotFound => b"Not found",
            ResponseStatus::Exists => b"Data exists for key.",
            ResponseStatus::TooLarge => b"Too large.",
            ResponseStatus::InvalidArguments => b"Invalid arguments",
            ResponseStatus::NotStored => b"Not stored.",
            ResponseStatus::NonNumeric => b"Non-numeric server-side value for incr or decr",
            ResponseStatus::AuthError => b"Auth failure.",
            ResponseStatus::UnknownCommand => b"Unknown command",
            ResponseStatus::OutOfMemory => b"Out of memory",
        }
    }
}

/// The 24-byte header every packet starts with, request or response: the
/// one encoder and decoder of binary headers (the server, the client
/// library and `ferrocache-bench` all use it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// [`BINARY_REQUEST_MAGIC`] or [`RESPONSE_MAGIC`].
    pub magic: u8,
    pub opcode: u8,
    pub key_len: u16,
    pub extras_len: u8,
    /// The vbucket of a request, the status of a response.
    pub status: u16,
    /// Extras, key and value together.
    pub body_len: u32,
    pub opaque: u32,
    pub cas: u64,
}

impl PacketHeader {
    /// Decode the first [`HEADER_LEN`] bytes (the caller checked the length).
    pub fn decode(b: &[u8]) -> PacketHeader {
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        PacketHeader {
            magic: b[0],
            opcode: b[1],
            key_len: u16_at(2),
            extras_len: b[4],
            status: u16_at(6),
            body_len: u32_at(8),
            opaque: u32_at(12),
            cas: u64::from(u32_at(16)) << 32 | u64::from(u32_at(20)),
        }
    }

    /// Append the header (data type 0: raw bytes).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.magic);
        out.push(self.opcode);
        out.extend_from_slice(&self.key_len.to_be_bytes());
        out.push(self.extras_len);
        out.push(0);
        out.extend_from_slice(&self.status.to_be_bytes());
        out.extend_from_slice(&self.body_len.to_be_bytes());
        out.extend_from_slice(&self.opaque.to_be_bytes());
        out.extend_from_slice(&self.cas.to_be_bytes());
    }

    /// Bytes of value the body holds besides extras and key (the parser
    /// checked that they fit).
    fn value_len(&self) -> usize {
        self.body_len as usize - self.key_len as usize - self.extras_len as usize
    }

    /// The header of a request with these parts (vbucket 0).
    pub fn request(opcode: u8, extras: usize, key: usize, value: usize) -> PacketHeader {
        PacketHeader {
            magic: BINARY_REQUEST_MAGIC,
            opcode,
            key_len: key as u16,
            extras_len: extras as u8,
            body_len: (extras + key + value) as u32,
            ..PacketHeader::default()
        }
    }
}

/// The fixed header of a request (its `status` is the vbucket, unused).
pub type Header = PacketHeader;

/// set / add / replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Set,
    Add,
    Replace,
}

/// What a request asks for; quiet variants share their loud one's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// Get, GetQ, GetK, GetKQ; `touch` for GAT, GATQ, GATK, GATKQ.
    Get {
        key: &'a [u8],
        with_key: bool,
        touch: Option<u32>,
    },
    Touch {
        key: &'a [u8],
        exptime: u32,
    },
    Store {
        kind: StoreKind,
        key: &'a [u8],
        flags: u32,
        exptime: u32,
        value: &'a [u8],
    },
    Concat {
        append: bool,
        key: &'a [u8],
        value: &'a [u8],
    },
    Delete {
        key: &'a [u8],
    },
    Delta {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        initial: u64,
        /// [`NO_CREATE`]: answer "Not found" for a missing counter.
        exptime: u32,
    },
    Quit,
    Flush {
        delay: u32,
    },
    Noop,
    Version,
    Stat {
        group: &'a [u8],
    },
    SaslList,
    SaslAuth {
        mech: &'a [u8],
        data: &'a [u8],
    },
    SaslStep {
        mech: &'a [u8],
        data: &'a [u8],
    },
}

/// One parsed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub opcode: u8,
    /// A quiet variant: success (or a get miss) gets no reply.
    pub quiet: bool,
    pub opaque: u32,
    pub cas: u64,
    pub command: Command<'a>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// First byte is not 0x80: close the connection.
    BadMagic,
    /// The body is shorter than its key and extras: close.
    ImpossibleLength,
    /// Lengths wrong for the opcode: "Invalid arguments", then close.
    InvalidArguments,
    /// "Unknown command"; the connection stays.
    UnknownCommand,
    /// A value over the item size limit: "Too large."; its body is skipped.
    TooLarge,
}

/// A refused request: what was wrong, its header (for the reply), and how
/// many bytes of the stream it occupies (possibly more than are buffered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub header: Header,
    pub consumed: usize,
}

impl Error {
    /// The key of a refused request, when `buf` (the bytes the request
    /// starts with) holds it: always for [`ErrorKind::TooLarge`].
    pub fn key<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        let start = HEADER_LEN + self.header.extras_len as usize;
        buf.get(start..start + self.header.key_len as usize)
    }

    /// Whether the connection must close after the reply (if any).
    pub fn closes(&self) -> bool {
        !matches!(self.kind, ErrorKind::UnknownCommand | ErrorKind::TooLarge)
    }

    /// The reply status, or `None` for errors closed without a reply.
    pub fn status(&self) -> Option<ResponseStatus> {
        match self.kind {
            ErrorKind::BadMagic | ErrorKind::ImpossibleLength => None,
            ErrorKind::InvalidArguments => Some(ResponseStatus::InvalidArguments),
            ErrorKind::UnknownCommand => Some(ResponseStatus::UnknownCommand),
            ErrorKind::TooLarge => Some(ResponseStatus::TooLarge),
        }
    }
}

/// Lengths an opcode requires: extras, key (`Some(true)` required,
/// `Some(false)` forbidden, `None` optional) and whether a value may follow.
struct Shape {
    extras: &'static [usize],
    key: Option<bool>,
    value: bool,
}

fn shape(opcode: u8) -> Option<Shape> {
    use op::*;
    let s = |extras: &'static [usize], key: Option<bool>, value: bool| {
        Some(Shape { extras, key, value })
    };
    match opcode {
        GET | GETQ | GETK | GETKQ | DELETE | DELETEQ => s(&[0], Some(true), false),
        SET | SETQ | ADD | ADDQ | REPLACE | REPLACEQ => s(&[8], Some(true), true),
        APPEND | APPENDQ | PREPEND | PREPENDQ => s(&[0], Some(true), true),
        INCREMENT | INCREMENTQ | DECREMENT | DECREMENTQ => s(&[20], Some(true), false),
        TOUCH | GAT | GATQ | GATK | GATKQ => s(&[4], Some(true), false),
        QUIT | QUITQ | NOOP | VERSION | SASL_LIST_MECHS => s(&[0], Some(false), false),
        FLUSH | FLUSHQ => s(&[0, 4], Some(false), false),
        STAT => s(&[0], None, false),
        SASL_AUTH | SASL_STEP => s(&[0], Some(true), true),
        _ => None,
    }
}

/// Whether `opcode` is one of the quiet variants.
pub fn is_quiet(opcode: u8) -> bool {
    use op::*;
    matches!(
        opcode,
        GETQ | GETKQ
            | SETQ
            | ADDQ
            | REPLACEQ
            | DELETEQ
            | INCREMENTQ
            | DECREMENTQ
            | QUITQ
            | FLUSHQ
            | APPENDQ
            | PREPENDQ
            | GATQ
            | GATKQ
    )
}

/// Parse one request from the front of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Status<Request<'a>>, Error> {
    if buf.is_empty() {
        return Ok(Status::Incomplete);
    }
    if buf[0] != BINARY_REQUEST_MAGIC {
        return Err(Error {
            kind: ErrorKind::BadMagic,
            header: Header::decode(&[0; HEADER_LEN]),
            consumed: buf.len(),
        });
    }
    if buf.len() < HEADER_LEN {
        return Ok(Status::Incomplete);
    }
    let h = Header::decode(buf);
    let total = HEADER_LEN + h.body_len as usize;
    let err = |kind, consumed| {
        Err(Error {
            kind,
            header: h,
            consumed,
        })
    };
    if (h.body_len as usize) < h.key_len as usize + h.extras_len as usize {
        return err(ErrorKind::ImpossibleLength, buf.len());
    }
    let Some(shape) = shape(h.opcode) else {
        // The body is skipped as it arrives, never buffered.
        return err(ErrorKind::UnknownCommand, total);
    };
    let key_len = h.key_len as usize;
    let value_len = h.value_len();
    let key_ok = match shape.key {
        Some(true) => key_len > 0 && key_len <= KEY_MAX_LENGTH,
        Some(false) => key_len == 0,
        None => key_len <= KEY_MAX_LENGTH,
    };
    let sasl = matches!(h.opcode, op::SASL_AUTH | op::SASL_STEP);
    if !shape.extras.contains(&(h.extras_len as usize))
        || !key_ok
        || (!shape.value && value_len > 0)
        || (sasl && value_len > SASL_DATA_MAX)
    {
        return err(ErrorKind::InvalidArguments, buf.len());
    }
    if shape.value && !sasl && value_len > limits.max_value {
        // The key is read first: a refused set also removes the old value.
        if buf.len() < HEADER_LEN + h.extras_len as usize + key_len {
            return Ok(Status::Incomplete);
        }
        return err(ErrorKind::TooLarge, total);
    }
    if buf.len() < total {
        return Ok(Status::Incomplete);
    }
    let body = &buf[HEADER_LEN..total];
    let (extras, rest) = body.split_at(h.extras_len as usize);
    let (key, value) = rest.split_at(key_len);
    let u32_at =
        |i: usize| u32::from_be_bytes([extras[i], extras[i + 1], extras[i + 2], extras[i + 3]]);
    let u64_at = |i: usize| (u32_at(i) as u64) << 32 | u32_at(i + 4) as u64;
    use op::*;
    let command = match h.opcode {
        GET | GETQ | GETK | GETKQ => Command::Get {
            key,
            with_key: matches!(h.opcode, GETK | GETKQ),
            touch: None,
        },
        GAT | GATQ | GATK | GATKQ => Command::Get {
            key,
            with_key: matches!(h.opcode, GATK | GATKQ),
            touch: Some(u32_at(0)),
        },
        TOUCH => Command::Touch {
            key,
            exptime: u32_at(0),
        },
        SET | SETQ | ADD | ADDQ | REPLACE | REPLACEQ => Command::Store {
            kind: match h.opcode {
                SET | SETQ => StoreKind::Set,
                ADD | ADDQ => StoreKind::Add,
                _ => StoreKind::Replace,
            },
            key,
            flags: u32_at(0),
            exptime: u32_at(4),
            value,
        },
        APPEND | APPENDQ | PREPEND | PREPENDQ => Command::Concat {
            append: matches!(h.opcode, APPEND | APPENDQ),
            key,
            value,
        },
        DELETE | DELETEQ => Command::Delete { key },
        INCREMENT | INCREMENTQ | DECREMENT | DECREMENTQ => Command::Delta {
            incr: matches!(h.opcode, INCREMENT | INCREMENTQ),
            key,
            delta: u64_at(0),
            initial: u64_at(8),
            exptime: u32_at(16),
        },
        QUIT | QUITQ => Command::Quit,
        FLUSH | FLUSHQ => Command::Flush {
            delay: if extras.len() == 4 { u32_at(0) } else { 0 },
        },
        NOOP => Command::Noop,
        VERSION => Command::Version,
        STAT => Command::Stat { group: key },
        SASL_LIST_MECHS => Command::SaslList,
        SASL_AUTH => Command::SaslAuth {
            mech: key,
            data: value,
        },
        _ => Command::SaslStep {
            mech: key,
            data: value,
        },
    };
    Ok(Status::Complete(
        Request {
            opcode: h.opcode,
            quiet: is_quiet(h.opcode),
            opaque: h.opaque,
            cas: h.cas,
            command,
        },
        total,
    ))
}

/// A response packet's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub opcode: u8,
    pub status: ResponseStatus,
    pub opaque: u32,
    pub cas: u64,
}

impl Response {
    /// Append the packet: header, then `extras`, `key` and `value`.
    pub fn write(&self, out: &mut Vec<u8>, extras: &[u8], key: &[u8], value: &[u8]) {
        out.reserve(HEADER_LEN + extras.len() + key.len() + value.len());
        self.write_head(out, extras, key, value.len());
        out.extend_from_slice(value);
    }

    /// Append all of the packet but its value, which is `value_len` bytes
    /// the caller appends next.
    pub fn write_head(&self, out: &mut Vec<u8>, extras: &[u8], key: &[u8], value_len: usize) {
        PacketHeader {
            magic: RESPONSE_MAGIC,
            opcode: self.opcode,
            key_len: key.len() as u16,
            extras_len: extras.len() as u8,
            status: self.status as u16,
            body_len: (extras.len() + key.len() + value_len) as u32,
            opaque: self.opaque,
            cas: self.cas,
        }
        .encode(out);
        out.extend_from_slice(extras);
        out.extend_from_slice(key);
    }

    /// Append an error packet whose body is the status's message.
    pub fn write_error(&self, out: &mut Vec<u8>) {
        self.write(out, &[], &[], self.status.message());
    }
}

#[cfg(test)]
mod tests;

//! memcached's meta commands (`doc/protocol.txt`, "Meta Commands"):
//! `mg ms md ma mn me`, request side.
//!
//! The text parser finds the line and hands the meta commands here
//! ([`parse`]). Flags are checked as memcached 1.6.18's
//! `_meta_flag_preparse` checks them, with its error strings; the request
//! keeps the flag tokens so replies can echo them in request order. Keys
//! sent base64-encoded (`b`) are decoded into the request, so it still
//! borrows everything else from the buffer and allocates nothing.
//!
//! Two flags go beyond 1.6.18, as later memcached documents them: `E`
//! (explicit new CAS, all of `mg ms md ma`) and `x` (`md`: drop the value,
//! keep the item). 1.6.18 answers both with an invalid-flag error.

use super::common::{tokens, valid_key, Error, ErrorKind, Limits, Status, KEY_MAX_LENGTH};
use super::number::{safe_strtol, safe_strtoul, safe_strtoull};

/// Longest decoded binary key: 250 base64 characters hold 187 bytes.
pub const BINARY_KEY_MAX: usize = KEY_MAX_LENGTH / 4 * 3 + 1;
/// memcached's `MFLAG_MAX_OPT_LENGTH`: a line of this many tokens or more
/// (command and key included) is refused.
const MAX_TOKENS: usize = 20;
/// memcached's `MFLAG_MAX_OPAQUE_LENGTH`, counting the `O` itself.
pub const OPAQUE_MAX: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `mg`
    Get,
    /// `ms`
    Set,
    /// `md`
    Delete,
    /// `ma`
    Arithmetic,
    /// `me`: a debug line about the item.
    Debug,
    /// `mn`: answers `MN`.
    Noop,
}

/// A request's key: as sent, or base64-decoded when the `b` flag is given.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key<'a> {
    raw: &'a [u8],
    decoded: [u8; BINARY_KEY_MAX],
    len: u8,
    binary: bool,
}

impl<'a> Key<'a> {
    fn text(raw: &'a [u8]) -> Key<'a> {
        Key {
            raw,
            decoded: [0; BINARY_KEY_MAX],
            len: 0,
            binary: false,
        }
    }

    /// The key as stored: decoded if it was sent in base64.
    pub fn bytes(&self) -> &[u8] {
        if self.binary {
            &self.decoded[..self.len as usize]
        } else {
            self.raw
        }
    }

    /// The key token as sent.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    pub fn is_binary(&self) -> bool {
        self.binary
    }
}

impl std::fmt::Debug for Key<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({:?}", self.raw.escape_ascii().to_string())?;
        if self.binary {
            write!(f, " = {:?}", self.bytes().escape_ascii().to_string())?;
        }
        write!(f, ")")
    }
}

/// The flags of a request: which were given, their arguments, and the
/// tokens themselves in request order (replies echo them in that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags<'a> {
    tokens: &'a [u8],
    /// Bit `c - b'A'` for each flag character `c` given.
    seen: u64,
    /// `O`: the whole token, `O` included, as replies echo it.
    pub opaque: Option<&'a [u8]>,
    /// `N`: vivify on miss with this exptime.
    pub vivify: Option<i64>,
    /// `R`: win the recache token below this exptime.
    pub recache: Option<i64>,
    /// `T`: new exptime.
    pub ttl: Option<i64>,
    /// `C`: compare CAS.
    pub compare_cas: Option<u64>,
    /// `E`: explicit new CAS.
    pub new_cas: Option<u64>,
    /// `F`: client flags (ms).
    pub client_flags: u32,
    /// `M`: mode character (ms, ma).
    pub mode: Option<u8>,
    /// `J`: initial counter value (ma).
    pub initial: u64,
    /// `D`: delta (ma), 1 unless given.
    pub delta: u64,
}

impl<'a> Flags<'a> {
    /// Whether flag character `flag` was given.
    pub fn has(&self, flag: u8) -> bool {
        flag_bit(flag).is_some_and(|bit| self.seen & bit != 0)
    }

    /// The flag tokens in request order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        tokens(self.tokens)
    }

    /// Whether flag `a` comes before flag `b` in the request.
    pub fn before(&self, a: u8, b: u8) -> bool {
        for t in self.iter() {
            if t[0] == a {
                return true;
            }
            if t[0] == b {
                return false;
            }
        }
        false
    }
}

fn flag_bit(flag: u8) -> Option<u64> {
    (b'A'..=b'z').contains(&flag).then(|| 1u64 << (flag - b'A'))
}

/// What an `ms` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    None,
    Data(&'a [u8]),
    /// The value exceeds the item size limit; its data block is covered by
    /// the consumed count and never buffered.
    TooLarge,
}

/// One meta request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub command: Command,
    pub key: Key<'a>,
    pub flags: Flags<'a>,
    pub value: Payload<'a>,
}

const BAD_FORMAT: &str = "bad command line format";
const BAD_TOKEN: &str = "bad token in command line format";
const INVALID_FLAG: &str = "invalid flag";
const DUPLICATE_FLAG: &str = "duplicate flag";
/// `md` and `ma` report every flag error with this one message.
const INVALID_OR_DUPLICATE: &str = "invalid or duplicate flag";
const OPAQUE_TOO_LONG: &str = "opaque token too long";

fn skip_token(s: &[u8]) -> (&[u8], &[u8]) {
    let s = &s[s.iter().take_while(|&&b| b == b' ').count()..];
    let n = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    s.split_at(n)
}

/// Parse a meta command whose line the text parser found: `command` is its
/// name, `rest` what follows it on the line (without the line end),
/// `buf` the buffer from the line's start and `line_len` the line's length
/// with its newline.
pub fn parse<'a>(
    command: &'a [u8],
    rest: &'a [u8],
    buf: &'a [u8],
    line_len: usize,
    limits: &Limits,
) -> Result<Status<Request<'a>>, Error> {
    let command = match command {
        b"mg" => Command::Get,
        b"ms" => Command::Set,
        b"md" => Command::Delete,
        b"ma" => Command::Arithmetic,
        b"me" => Command::Debug,
        b"mn" => Command::Noop,
        _ => return Err(line_error(line_len, ErrorKind::UnknownCommand)),
    };
    let client = |msg| Err(line_error(line_len, ErrorKind::Client(msg)));
    let complete = |key, flags, value| {
        Ok(Status::Complete(
            Request {
                command,
                key,
                flags,
                value,
            },
            line_len,
        ))
    };
    if command == Command::Noop {
        return complete(Key::text(b""), Flags::default(), Payload::None);
    }
    let (key, after_key) = skip_token(rest);
    if key.is_empty() {
        // memcached's WANT_TOKENS_MIN: a bare `ERROR`.
        if command == Command::Debug {
            return client(BAD_FORMAT);
        }
        return Err(line_error(line_len, ErrorKind::UnknownCommand));
    }
    if !valid_key(key) {
        return client(BAD_FORMAT);
    }
    if command == Command::Debug {
        // `me <key> [b]`; anything else on the line is ignored.
        let mut k = Key::text(key);
        if tokens(after_key).next() == Some(b"b") && !decode_key(&mut k) {
            return client(BAD_FORMAT);
        }
        return complete(k, Flags::default(), Payload::None);
    }
    let count = 2 + tokens(after_key).count();
    if count >= MAX_TOKENS {
        return client(if command == Command::Get {
            "options flags are too long"
        } else {
            "options flags too long"
        });
    }
    let mut flag_tokens = after_key;
    let mut block = None;
    if command == Command::Set {
        let (len, after_len) = skip_token(after_key);
        if len.is_empty() {
            return client(BAD_FORMAT);
        }
        let len = match safe_strtol(len).map(i64::from) {
            Some(n) if (0..=i32::MAX as i64 - 2).contains(&n) => n as usize,
            _ => return client(BAD_FORMAT),
        };
        flag_tokens = after_len;
        block = Some(len);
    }
    // From here on an `ms` error swallows its data block.
    let swallow = block.map_or(0, |n| n + 2);
    let fail = |msg| {
        Err(Error {
            kind: ErrorKind::Client(msg),
            consumed: line_len + swallow,
            noreply: false,
        })
    };
    let mut key = Key::text(key);
    let flags = match preparse(flag_tokens, &mut key) {
        Ok(flags) => flags,
        Err(msg) => {
            return fail(match command {
                Command::Delete | Command::Arithmetic => INVALID_OR_DUPLICATE,
                _ => msg,
            })
        }
    };
    if flags.opaque.is_some_and(|o| o.len() > OPAQUE_MAX) {
        return fail(OPAQUE_TOO_LONG);
    }
    match (command, flags.mode) {
        (Command::Set, Some(m)) if !b"EAPRS".contains(&m) => {
            return fail("invalid mode for ms M token")
        }
        (Command::Arithmetic, Some(m)) if !b"I+D-".contains(&m) => {
            return fail("invalid mode for ma M token")
        }
        _ => {}
    }
    let Some(len) = block else {
        return complete(key, flags, Payload::None);
    };
    let total = line_len + len + 2;
    if len > limits.max_value {
        return Ok(Status::Complete(
            Request {
                command,
                key,
                flags,
                value: Payload::TooLarge,
            },
            total,
        ));
    }
    let Some(data) = buf.get(line_len..total) else {
        return Ok(Status::Incomplete);
    };
    let (value, end) = data.split_at(len);
    if end != b"\r\n" {
        // Always answered: memcached turns noreply off for this one.
        return Err(Error {
            kind: ErrorKind::Client("bad data chunk"),
            consumed: total,
            noreply: false,
        });
    }
    Ok(Status::Complete(
        Request {
            command,
            key,
            flags,
            value: Payload::Data(value),
        },
        total,
    ))
}

fn line_error(line_len: usize, kind: ErrorKind) -> Error {
    Error {
        kind,
        consumed: line_len,
        noreply: false,
    }
}

/// memcached's `_meta_flag_preparse`: every flag once; an unknown or
/// repeated flag stops at once, a bad argument is remembered (the last one
/// wins) and the remaining flags are still checked.
fn preparse<'a>(raw: &'a [u8], key: &mut Key<'a>) -> Result<Flags<'a>, &'static str> {
    let mut f = Flags {
        tokens: raw,
        delta: 1,
        ..Flags::default()
    };
    let mut error = None;
    for token in tokens(raw) {
        let flag = token[0];
        let arg = &token[1..];
        let Some(bit) = flag_bit(flag) else {
            return Err(if flag >= 127 {
                DUPLICATE_FLAG
            } else {
                INVALID_FLAG
            });
        };
        if f.seen & bit != 0 {
            return Err(DUPLICATE_FLAG);
        }
        f.seen |= bit;
        let int = |error: &mut Option<&'static str>| {
            let v = safe_strtol(arg).map(i64::from);
            if v.is_none() {
                *error = Some(BAD_TOKEN);
            }
            v
        };
        match flag {
            b'b' => {
                if !decode_key(key) {
                    error = Some("error decoding key");
                }
            }
            b'N' => f.vivify = int(&mut error),
            b'T' => f.ttl = int(&mut error),
            b'R' => f.recache = int(&mut error),
            b'O' => f.opaque = Some(token),
            b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' | b'v' | b'h' | b'l' | b'u' | b'q'
            | b'I' | b'x' => {}
            b'F' => match safe_strtoul(arg) {
                Some(v) => f.client_flags = v,
                None => error = Some(error.unwrap_or(BAD_FORMAT)),
            },
            b'C' => match safe_strtoull(arg) {
                Some(v) => f.compare_cas = Some(v),
                None => error = Some(BAD_TOKEN),
            },
            b'E' => match safe_strtoull(arg) {
                Some(v) => f.new_cas = Some(v),
                None => error = Some(BAD_TOKEN),
            },
            b'M' => match arg {
                [m] => f.mode = Some(*m),
                _ => error = Some("incorrect length for M token"),
            },
            b'J' => match safe_strtoull(arg) {
                Some(v) => f.initial = v,
                None => error = Some("invalid numeric initial value"),
            },
            b'D' => match safe_strtoull(arg) {
                Some(v) => f.delta = v,
                None => error = Some("invalid numeric delta value"),
            },
            _ => return Err(INVALID_FLAG),
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(f),
    }
}

/// Decode `key`'s token as memcached's `base64_decode` does: bytes outside
/// the alphabet are skipped, the rest must come in groups of four, and
/// padding ends the input. False when nothing decodes.
fn decode_key(key: &mut Key<'_>) -> bool {
    match base64_decode(key.raw, &mut key.decoded) {
        Some(n) if n > 0 => {
            key.len = n as u8;
            key.binary = true;
            true
        }
        _ => false,
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(0),
        _ => None,
    }
}

/// Decode into `out`; `None` when the input is malformed or too long.
pub fn base64_decode(src: &[u8], out: &mut [u8]) -> Option<usize> {
    let count = src.iter().filter(|&&b| sextet(b).is_some()).count();
    if count == 0 || count % 4 != 0 || count / 4 * 3 > out.len() {
        return None;
    }
    let (mut pos, mut n, mut pad) = (0, 0, 0);
    let mut block = [0u8; 4];
    for &b in src {
        let Some(v) = sextet(b) else { continue };
        if b == b'=' {
            pad += 1;
        }
        block[n] = v;
        n += 1;
        if n == 4 {
            out[pos] = (block[0] << 2) | (block[1] >> 4);
            out[pos + 1] = (block[1] << 4) | (block[2] >> 2);
            out[pos + 2] = (block[2] << 6) | block[3];
            pos += 3;
            n = 0;
            if pad > 0 {
                if pad > 2 {
                    return None;
                }
                pos -= pad;
                break;
            }
        }
    }
    Some(pos)
}

/// Append the standard base64 encoding of `src` (with padding) to `out`.
pub fn base64_encode(src: &[u8], out: &mut Vec<u8>) {
    for chunk in src.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = [
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            if chunk.len() > 1 {
                ALPHABET[(n >> 6) as usize & 63]
            } else {
                b'='
            },
            if chunk.len() > 2 {
                ALPHABET[n as usize & 63]
            } else {
                b'='
            },
        ];
        out.extend_from_slice(&chars);
    }
}

#[cfg(test)]
mod tests;

//! The client side of memcached's binary protocol (`protocol_binary.h`):
//! a 24-byte header, then extras, key and value. Sans-IO encode/decode; the
//! connection reads whole frames.

use crate::protocol::binary::{op, PacketHeader};
pub use crate::protocol::binary::{HEADER_LEN, RESPONSE_MAGIC as RESPONSE};

/// The opcodes the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    Get = op::GET,
    Set = op::SET,
    Add = op::ADD,
    Replace = op::REPLACE,
    Delete = op::DELETE,
    Increment = op::INCREMENT,
    Decrement = op::DECREMENT,
    Flush = op::FLUSH,
    Noop = op::NOOP,
    Version = op::VERSION,
    GetKQ = op::GETKQ,
    Append = op::APPEND,
    Prepend = op::PREPEND,
    Stat = op::STAT,
    Touch = op::TOUCH,
    Gat = op::GAT,
}

/// Response status codes the client tells apart.
pub mod status {
    use crate::protocol::binary::ResponseStatus as S;

    pub const OK: u16 = S::Success as u16;
    pub const KEY_NOT_FOUND: u16 = S::NotFound as u16;
    pub const KEY_EXISTS: u16 = S::Exists as u16;
    pub const NOT_STORED: u16 = S::NotStored as u16;
    pub const UNKNOWN_COMMAND: u16 = S::UnknownCommand as u16;
}

/// A decoded response header.
pub type Header = PacketHeader;

/// One response: header and body, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub header: Header,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn extras(&self) -> &[u8] {
        &self.body[..usize::from(self.header.extras_len)]
    }

    pub fn key(&self) -> &[u8] {
        let start = usize::from(self.header.extras_len);
        &self.body[start..start + usize::from(self.header.key_len)]
    }

    pub fn value(&self) -> &[u8] {
        &self.body[usize::from(self.header.extras_len) + usize::from(self.header.key_len)..]
    }

    /// The flags of a get response (4 bytes of extras), else 0.
    pub fn flags(&self) -> u32 {
        match self.extras() {
            [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
            _ => 0,
        }
    }
}

/// Why a response header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    BadMagic(u8),
    /// Extras and key longer than the body.
    BadLengths,
}

/// Decode a response header; the body follows it.
pub fn decode_header(h: &[u8; HEADER_LEN]) -> Result<Header, HeaderError> {
    if h[0] != RESPONSE {
        return Err(HeaderError::BadMagic(h[0]));
    }
    let header = PacketHeader::decode(h);
    if u32::from(header.extras_len) + u32::from(header.key_len) > header.body_len {
        return Err(HeaderError::BadLengths);
    }
    Ok(header)
}

/// Append one request to `out`.
pub fn encode(
    out: &mut Vec<u8>,
    opcode: Opcode,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
    opaque: u32,
    cas: u64,
) {
    // Keys are at most 250 bytes and extras at most 20, checked by callers.
    PacketHeader {
        opaque,
        cas,
        ..PacketHeader::request(opcode as u8, extras.len(), key.len(), value.len())
    }
    .encode(out);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// Extras of set/add/replace: flags, expiration.
pub fn store_extras(flags: u32, exptime: i64) -> [u8; 8] {
    let mut e = [0; 8];
    e[..4].copy_from_slice(&flags.to_be_bytes());
    e[4..].copy_from_slice(&exptime_u32(exptime).to_be_bytes());
    e
}

/// Extras of incr/decr: delta, initial value, and the expiration
/// 0xffffffff, which means "do not create" (the text protocol's behaviour).
pub fn delta_extras(delta: u64) -> [u8; 20] {
    let mut e = [0; 20];
    e[..8].copy_from_slice(&delta.to_be_bytes());
    e[16..].copy_from_slice(&u32::MAX.to_be_bytes());
    e
}

/// The binary protocol's expiration is unsigned: a negative one (already
/// expired in the text protocol) becomes a time in the past.
pub fn exptime_u32(exptime: i64) -> u32 {
    if exptime < 0 {
        1
    } else {
        u32::try_from(exptime).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_request_bytes_match_protocol_binary_h() {
        // The example in memcached's binary protocol documentation: get
        // "Hello".
        let mut out = Vec::new();
        encode(&mut out, Opcode::Get, &[], b"Hello", &[], 0, 0);
        let want: [u8; 29] = [
            0x80, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, b'H', b'e', b'l', b'l', b'o',
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn response_headers() {
        // The documented get response for "Hello" -> "World", flags
        // 0xdeadbeef, cas 1.
        let h: [u8; 24] = [
            0x81, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 1,
        ];
        let header = decode_header(&h).unwrap();
        assert_eq!(header.extras_len, 4);
        assert_eq!(header.body_len, 9);
        assert_eq!(header.cas, 1);
        let frame = Frame {
            header,
            body: b"\xde\xad\xbe\xefWorld".to_vec(),
        };
        assert_eq!(frame.flags(), 0xdead_beef);
        assert_eq!(frame.value(), b"World");
        let mut bad = h;
        bad[0] = 0x80;
        assert_eq!(decode_header(&bad), Err(HeaderError::BadMagic(0x80)));
        let mut bad = h;
        bad[11] = 3;
        assert_eq!(decode_header(&bad), Err(HeaderError::BadLengths));
    }
}

//! Key dumps of one server: `lru_crawler metadump all` lists its keys (any
//! memcached since 1.4.33, and ferrocache), and pipelined meta gets
//! (`mg <key> k v f t q`, then `mn`) on a second connection fetch their
//! values, flags and TTLs in batches, from the same server whatever the
//! ring says. The dump streams: the server waits for the reader, and the
//! client holds one batch of keys at a time.

use super::pool::Connection;
use super::types::{Error, Result, ServerSpec};
use super::Client;
use crate::protocol::common::valid_key;
use crate::protocol::meta::{base64_decode, base64_encode};

/// Keys fetched per round trip of meta gets.
const BATCH: usize = 100;

/// One item of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpedItem {
    /// The key's bytes (a binary key decoded).
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub flags: u32,
    /// Seconds left to live as the server said (`mg ... t`); -1: never
    /// expires.
    pub ttl: i64,
}

impl Client {
    /// Every key `server` holds, as `lru_crawler metadump all` lists it
    /// (URI-decoded), handed to `each` as it arrives. Returns the count.
    pub fn dump_keys(
        &self,
        server: &ServerSpec,
        mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64> {
        let mut c = self.connect(server)?;
        let mut n = 0;
        metadump(&mut c, |key| {
            n += 1;
            each(&key).map_err(Error::Io)
        })?;
        Ok(n)
    }

    /// Every item `server` holds, with its value, flags and TTL: the keys
    /// of `lru_crawler metadump all`, fetched in batches by meta gets. A
    /// key deleted or expired between the two is left out. Returns the
    /// count handed to `each`.
    pub fn dump_items(
        &self,
        server: &ServerSpec,
        mut each: impl FnMut(DumpedItem) -> std::io::Result<()>,
    ) -> Result<u64> {
        let mut lister = self.connect(server)?;
        let mut getter = self.connect(server)?;
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
        let mut n = 0;
        let mut flush = |batch: &mut Vec<Vec<u8>>| -> Result<()> {
            for item in fetch(&mut getter, batch)? {
                n += 1;
                each(item).map_err(Error::Io)?;
            }
            batch.clear();
            Ok(())
        };
        metadump(&mut lister, |key| {
            batch.push(key);
            if batch.len() == BATCH {
                flush(&mut batch)?;
            }
            Ok(())
        })?;
        flush(&mut batch)?;
        Ok(n)
    }

    /// A connection of its own (not from the pool: a dump holds it for
    /// its whole length).
    fn connect(&self, server: &ServerSpec) -> Result<Connection> {
        let opts = &self.inner.opts;
        Connection::connect(&server.addr, &opts.timeouts, opts.tls.as_ref())
    }
}

/// `lru_crawler metadump all`: each item's key, decoded, until `END`.
fn metadump(c: &mut Connection, mut each: impl FnMut(Vec<u8>) -> Result<()>) -> Result<()> {
    c.send(b"lru_crawler metadump all\r\n")?;
    loop {
        let key = c.line(|line| {
            if line == b"END" {
                return Ok(None);
            }
            match line.strip_prefix(b"key=") {
                Some(rest) => {
                    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                    uri_decode(&rest[..end])
                        .map(Some)
                        .ok_or_else(|| bad_line("metadump", line))
                }
                // `CLIENT_ERROR lru crawler disabled`, `ERROR metadump not
                // allowed` (-X), `BUSY ...`.
                None => Err(refusal(line)),
            }
        })??;
        match key {
            Some(key) => each(key)?,
            None => return Ok(()),
        }
    }
}

/// Fetch `keys` with one pipelined round trip of quiet meta gets; misses
/// are silent, so only the keys still present come back.
fn fetch(c: &mut Connection, keys: &[Vec<u8>]) -> Result<Vec<DumpedItem>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut req = Vec::with_capacity(keys.len() * 48);
    for key in keys {
        req.extend_from_slice(b"mg ");
        push_key(key, &mut req);
        req.extend_from_slice(b" k v f t q\r\n");
    }
    req.extend_from_slice(b"mn\r\n");
    c.send(&req)?;
    let mut out = Vec::with_capacity(keys.len());
    loop {
        let head = c.line(parse_value_line)??;
        let Some((len, key, flags, ttl)) = head else {
            return Ok(out);
        };
        let value = c.data(len)?;
        out.push(DumpedItem {
            key,
            value,
            flags,
            ttl,
        });
    }
}

/// A key as a meta command carries it: as is when the text protocol can,
/// else base64 with the `b` flag.
pub fn push_key(key: &[u8], out: &mut Vec<u8>) {
    if valid_key(key) {
        out.extend_from_slice(key);
    } else {
        base64_encode(key, out);
        out.extend_from_slice(b" b");
    }
}

/// `VA <len> k<key> [b] f<flags> t<ttl>`: Some((len, key, flags, ttl));
/// `MN`: None.
#[allow(clippy::type_complexity)]
fn parse_value_line(line: &[u8]) -> Result<Option<(usize, Vec<u8>, u32, i64)>> {
    if line == b"MN" {
        return Ok(None);
    }
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    if words.next() != Some(b"VA") {
        return Err(refusal(line));
    }
    let num = |w: &[u8]| {
        std::str::from_utf8(w)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
    };
    let len = words
        .next()
        .and_then(num)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad_line("mg", line))?;
    let (mut key, mut binary, mut flags, mut ttl) = (None, false, 0u32, -1i64);
    for w in words {
        let (flag, token) = (w[0], &w[1..]);
        match flag {
            b'k' => key = Some(token.to_vec()),
            b'b' => binary = true,
            b'f' => {
                flags = num(token)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad_line("mg", line))?
            }
            b't' => ttl = num(token).ok_or_else(|| bad_line("mg", line))?,
            _ => {}
        }
    }
    let mut key = key.ok_or_else(|| bad_line("mg", line))?;
    if binary {
        let mut decoded = vec![0u8; key.len()];
        let n = base64_decode(&key, &mut decoded).ok_or_else(|| bad_line("mg", line))?;
        decoded.truncate(n);
        key = decoded;
    }
    Ok(Some((len, key, flags, ttl)))
}

/// A line that is not what was asked for: the server's error reply.
fn refusal(line: &[u8]) -> Error {
    let text = String::from_utf8_lossy(line);
    if let Some(m) = text.strip_prefix("CLIENT_ERROR ") {
        Error::Client(m.to_string())
    } else if let Some(m) = text.strip_prefix("SERVER_ERROR ") {
        Error::Server(m.to_string())
    } else if text == "ERROR" {
        Error::UnknownCommand
    } else {
        Error::Protocol(text.into_owned())
    }
}

fn bad_line(what: &str, line: &[u8]) -> Error {
    Error::Protocol(format!(
        "unexpected {what} line: {}",
        String::from_utf8_lossy(line)
    ))
}

/// `%XX` escapes to bytes, as metadump encodes keys.
pub fn uri_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = std::str::from_utf8(s.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadump_keys_are_uri_decoded() {
        let table: &[(&[u8], Option<&[u8]>)] = &[
            (b"plain", Some(b"plain")),
            (b"a%20b", Some(b"a b")),
            (b"%00%ff", Some(b"\x00\xff")),
            (b"bad%2", None),
            (b"bad%zz", None),
        ];
        for (input, want) in table {
            assert_eq!(uri_decode(input).as_deref(), *want, "{input:?}");
        }
    }

    #[test]
    fn meta_value_lines() {
        assert_eq!(
            parse_value_line(b"VA 3 kfoo f7 t-1").unwrap(),
            Some((3, b"foo".to_vec(), 7, -1))
        );
        assert_eq!(
            parse_value_line(b"VA 0 kAP8= b f0 t30").unwrap(),
            Some((0, vec![0, 0xff], 0, 30))
        );
        assert_eq!(parse_value_line(b"MN").unwrap(), None);
        assert!(parse_value_line(b"SERVER_ERROR out of memory").is_err());
        assert!(parse_value_line(b"VA x kfoo").is_err());
        assert!(parse_value_line(b"VA 1 f0").is_err());
    }

    #[test]
    fn binary_keys_go_as_base64() {
        let mut out = Vec::new();
        push_key(b"text:key", &mut out);
        assert_eq!(out, b"text:key");
        out.clear();
        push_key(&[0, 0xff], &mut out);
        assert_eq!(out, b"AP8= b");
    }
}

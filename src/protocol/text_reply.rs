//! memcached's classic text protocol, reply side: what a client reads.
//!
//! [`parse`] reads one reply line (and, for `VALUE` and `CONFIG`, its data
//! block) from the front of a buffer, like the request parser: complete
//! with the bytes consumed, incomplete, or invalid.

use super::common::Status;

/// Longest reply line accepted before the data block (a `VALUE` line with a
/// 250-byte key and three numbers fits easily).
pub const MAX_REPLY_LINE: usize = 8192;

/// One reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `VALUE <key> <flags> <bytes> [<cas>]` and its data block.
    Value {
        key: &'a [u8],
        flags: u32,
        cas: Option<u64>,
        data: &'a [u8],
    },
    /// `CONFIG <key> <flags> <bytes>` and its data block (ElastiCache's
    /// `config get` reply).
    Config {
        key: &'a [u8],
        data: &'a [u8],
    },
    End,
    Stored,
    NotStored,
    Exists,
    NotFound,
    Deleted,
    Touched,
    Ok,
    /// The value after `incr`/`decr`.
    Number(u64),
    /// `VERSION <v>`.
    Version(&'a [u8]),
    /// `STAT <name> <value>`.
    Stat {
        name: &'a [u8],
        value: &'a [u8],
    },
    /// `ERROR` (an unknown command), with any text after it.
    Error(&'a [u8]),
    ClientError(&'a [u8]),
    ServerError(&'a [u8]),
}

/// A reply this parser cannot read: the stream is out of step and the
/// connection must be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// A line that is none of memcached's replies.
    Unknown,
    /// A `VALUE`/`CONFIG` line with missing or non-numeric fields.
    BadValueLine,
    /// A data block not followed by `\r\n`.
    BadDataBlock,
    /// No newline within [`MAX_REPLY_LINE`] bytes.
    LineTooLong,
}

/// Parse one reply from the front of `buf`.
pub fn parse(buf: &[u8]) -> Result<Status<Reply<'_>>, ReplyError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_REPLY_LINE {
            Err(ReplyError::LineTooLong)
        } else {
            Ok(Status::Incomplete)
        };
    };
    let line_len = nl + 1;
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    let (word, rest) = match line.iter().position(|&b| b == b' ') {
        Some(sp) => (&line[..sp], &line[sp + 1..]),
        None => (line, &line[line.len()..]),
    };
    let done = |r| Ok(Status::Complete(r, line_len));
    match word {
        b"VALUE" => data_block(buf, line_len, rest, true),
        b"CONFIG" => data_block(buf, line_len, rest, false),
        b"END" => done(Reply::End),
        b"STORED" => done(Reply::Stored),
        b"NOT_STORED" => done(Reply::NotStored),
        b"EXISTS" => done(Reply::Exists),
        b"NOT_FOUND" => done(Reply::NotFound),
        b"DELETED" => done(Reply::Deleted),
        b"TOUCHED" => done(Reply::Touched),
        b"OK" => done(Reply::Ok),
        b"VERSION" => done(Reply::Version(rest)),
        b"STAT" => {
            let sp = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            let value = rest.get(sp + 1..).unwrap_or(&[]);
            done(Reply::Stat {
                name: &rest[..sp],
                value,
            })
        }
        // `ERROR: shutdown not enabled` has its text glued to the word.
        _ if word.starts_with(b"ERROR") => done(Reply::Error(line[5..].trim_ascii())),
        b"CLIENT_ERROR" => done(Reply::ClientError(rest)),
        b"SERVER_ERROR" => done(Reply::ServerError(rest)),
        _ if !word.is_empty() && word.iter().all(u8::is_ascii_digit) && rest.is_empty() => {
            match parse_u64(word) {
                Some(n) => done(Reply::Number(n)),
                None => Err(ReplyError::Unknown),
            }
        }
        _ => Err(ReplyError::Unknown),
    }
}

/// The fields of a `VALUE`/`CONFIG` line, then `<bytes>` of data and CRLF.
fn data_block<'a>(
    buf: &'a [u8],
    line_len: usize,
    fields: &'a [u8],
    value: bool,
) -> Result<Status<Reply<'a>>, ReplyError> {
    let mut it = fields.split(|&b| b == b' ').filter(|t| !t.is_empty());
    let key = it.next().ok_or(ReplyError::BadValueLine)?;
    let flags = it
        .next()
        .and_then(parse_u64)
        .and_then(|f| u32::try_from(f).ok())
        .ok_or(ReplyError::BadValueLine)?;
    let len = it
        .next()
        .and_then(parse_u64)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(ReplyError::BadValueLine)?;
    let cas = match it.next() {
        Some(c) if value => Some(parse_u64(c).ok_or(ReplyError::BadValueLine)?),
        Some(_) => return Err(ReplyError::BadValueLine),
        None => None,
    };
    if it.next().is_some() {
        return Err(ReplyError::BadValueLine);
    }
    let end = line_len
        .checked_add(len)
        .and_then(|e| e.checked_add(2))
        .ok_or(ReplyError::BadValueLine)?;
    let Some(block) = buf.get(line_len..end) else {
        return Ok(Status::Incomplete);
    };
    let (data, crlf) = block.split_at(len);
    if crlf != b"\r\n" {
        return Err(ReplyError::BadDataBlock);
    }
    let reply = if value {
        Reply::Value {
            key,
            flags,
            cas,
            data,
        }
    } else {
        Reply::Config { key, data }
    };
    Ok(Status::Complete(reply, end))
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(key: &'a [u8], flags: u32, cas: Option<u64>, data: &'a [u8]) -> Reply<'a> {
        Reply::Value {
            key,
            flags,
            cas,
            data,
        }
    }

    #[test]
    fn every_reply_kind() {
        let table: &[(&[u8], Reply)] = &[
            (b"VALUE k 5 3\r\nabc\r\n", value(b"k", 5, None, b"abc")),
            (b"VALUE k 0 0 42\r\n\r\n", value(b"k", 0, Some(42), b"")),
            (
                b"VALUE k 4294967295 4\r\na\r\nb\r\n",
                value(b"k", u32::MAX, None, b"a\r\nb"),
            ),
            (
                b"CONFIG cluster 0 4\r\n1\nx\n\r\n",
                Reply::Config {
                    key: b"cluster",
                    data: b"1\nx\n",
                },
            ),
            (b"END\r\n", Reply::End),
            (b"STORED\r\n", Reply::Stored),
            (b"NOT_STORED\r\n", Reply::NotStored),
            (b"EXISTS\r\n", Reply::Exists),
            (b"NOT_FOUND\r\n", Reply::NotFound),
            (b"DELETED\r\n", Reply::Deleted),
            (b"TOUCHED\r\n", Reply::Touched),
            (b"OK\r\n", Reply::Ok),
            (b"18446744073709551615\r\n", Reply::Number(u64::MAX)),
            (b"VERSION 1.6.18\r\n", Reply::Version(b"1.6.18")),
            (
                b"STAT pid 12\r\n",
                Reply::Stat {
                    name: b"pid",
                    value: b"12",
                },
            ),
            (
                b"STAT version 1.6 x\r\n",
                Reply::Stat {
                    name: b"version",
                    value: b"1.6 x",
                },
            ),
            (b"ERROR\r\n", Reply::Error(b"")),
            (
                b"ERROR: shutdown not enabled\r\n",
                Reply::Error(b": shutdown not enabled"),
            ),
            (
                b"CLIENT_ERROR bad data chunk\r\n",
                Reply::ClientError(b"bad data chunk"),
            ),
            (
                b"SERVER_ERROR out of memory\r\n",
                Reply::ServerError(b"out of memory"),
            ),
        ];
        for &(bytes, want) in table {
            assert_eq!(
                parse(bytes),
                Ok(Status::Complete(want, bytes.len())),
                "{}",
                String::from_utf8_lossy(bytes)
            );
            // Split at every byte: each prefix is incomplete.
            for cut in 0..bytes.len() {
                assert_eq!(parse(&bytes[..cut]), Ok(Status::Incomplete), "{cut}");
            }
        }
    }

    #[test]
    fn pipelined_replies_parse_one_at_a_time() {
        let buf = b"VALUE a 0 1\r\nx\r\nVALUE b 0 1\r\ny\r\nEND\r\nSTORED\r\n";
        let mut at = 0;
        let mut got = Vec::new();
        while at < buf.len() {
            let Ok(Status::Complete(r, n)) = parse(&buf[at..]) else {
                panic!("at {at}")
            };
            got.push(r);
            at += n;
        }
        assert_eq!(
            got,
            [
                value(b"a", 0, None, b"x"),
                value(b"b", 0, None, b"y"),
                Reply::End,
                Reply::Stored
            ]
        );
    }

    #[test]
    fn invalid_replies() {
        let table: &[(&[u8], ReplyError)] = &[
            (b"HELLO\r\n", ReplyError::Unknown),
            (b"\r\n", ReplyError::Unknown),
            (b"99999999999999999999\r\n", ReplyError::Unknown),
            (b"VALUE k x 1\r\na\r\n", ReplyError::BadValueLine),
            (b"VALUE k 0\r\n", ReplyError::BadValueLine),
            (b"VALUE k 4294967296 1\r\na\r\n", ReplyError::BadValueLine),
            (b"VALUE k 0 1 2 3\r\na\r\n", ReplyError::BadValueLine),
            (b"CONFIG k 0 1 2\r\na\r\n", ReplyError::BadValueLine),
            (b"VALUE k 0 1\r\nabc", ReplyError::BadDataBlock),
        ];
        for &(bytes, want) in table {
            assert_eq!(
                parse(bytes),
                Err(want),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(
            parse(&[b'x'; MAX_REPLY_LINE + 1]),
            Err(ReplyError::LineTooLong)
        );
    }
}

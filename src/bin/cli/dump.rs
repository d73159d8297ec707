//! `ferrocache-cli dump` and `load`.
//!
//! The file `dump --values` writes is memcached's text protocol, so any
//! memcached-compatible server can replay it (`nc HOST PORT < FILE`), and
//! it is what Debian's `memcached-tool HOST:PORT dump` writes:
//!
//! ```text
//! add <key> <flags> <exptime> <bytes>\r\n<value>\r\n
//! ```
//!
//! `exptime` is a unix time (0: never expires), so a later replay keeps
//! the item's expiry. A key the text protocol cannot carry (memcached's
//! binary keys, stored through `ms <base64> b`) is written as a meta set
//! in add mode: `ms <base64> <bytes> b F<flags> T<exptime> ME`. `load`
//! reads `add`, `set` and such `ms` records.

use std::io::{BufRead, Write};
use std::path::Path;

use ferrocache::client::{Client, DumpedItem, Error};
use ferrocache::protocol::common::valid_key;
use ferrocache::protocol::meta::{base64_decode, base64_encode};

use super::{exptime_to_send, fail, unix_now, Failure, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE};

/// Largest value a record may carry (memcached's `-I` can go to 1 GiB).
const MAX_VALUE: usize = 1 << 30;

/// `dump [--values]`: every server in turn; a server that fails is
/// reported and the others are still dumped, with exit code 69.
pub fn dump(c: &Client, values: bool, w: &mut impl Write) -> Result<u8, Failure> {
    let now = unix_now();
    let mut code = 0;
    let mut line = Vec::with_capacity(512);
    for spec in c.servers() {
        let r = if values {
            c.dump_items(&spec, |item| {
                line.clear();
                record(&item, now, &mut line);
                w.write_all(&line)
            })
        } else {
            c.dump_keys(&spec, |key| {
                line.clear();
                push_key(key, &mut line);
                line.push(b'\n');
                w.write_all(&line)
            })
        };
        match r {
            Ok(n) => eprintln!("ferrocache-cli: {spec}: {n} items"),
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Err((EX_UNAVAILABLE, format!("output: {e}")))
            }
            Err(e) => {
                eprintln!("ferrocache-cli: {spec}: {e}");
                code = fail(e).0;
            }
        }
    }
    Ok(code)
}

fn push_key(key: &[u8], out: &mut Vec<u8>) {
    if valid_key(key) {
        out.extend_from_slice(key);
    } else {
        base64_encode(key, out);
        out.extend_from_slice(b" b");
    }
}

/// One item as a replayable record.
fn record(item: &DumpedItem, now: i64, out: &mut Vec<u8>) {
    let exptime = if item.ttl < 0 { 0 } else { now + item.ttl };
    if valid_key(&item.key) {
        out.extend_from_slice(b"add ");
        out.extend_from_slice(&item.key);
        out.extend_from_slice(
            format!(" {} {} {}\r\n", item.flags, exptime, item.value.len()).as_bytes(),
        );
    } else {
        out.extend_from_slice(b"ms ");
        base64_encode(&item.key, out);
        out.extend_from_slice(
            format!(
                " {} b F{} T{} ME\r\n",
                item.value.len(),
                item.flags,
                exptime
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(&item.value);
    out.extend_from_slice(b"\r\n");
}

#[derive(Debug, PartialEq, Eq)]
struct Record {
    /// `add` (keep a present value) rather than `set`.
    add: bool,
    key: Vec<u8>,
    flags: u32,
    /// Unix time, or 0.
    exptime: i64,
    value: Vec<u8>,
}

/// Read the records of `r` one by one; an error names the record's line.
fn read_records(
    r: &mut impl BufRead,
    mut each: impl FnMut(Record) -> Result<(), Failure>,
) -> Result<u64, String> {
    let mut head = Vec::new();
    let (mut line_no, mut n) = (0u64, 0u64);
    loop {
        head.clear();
        line_no += 1;
        if r.read_until(b'\n', &mut head).map_err(|e| e.to_string())? == 0 {
            return Ok(n);
        }
        let at = |m: &str| format!("line {line_no}: {m}");
        let line = head.strip_suffix(b"\n").ok_or_else(|| at("truncated"))?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let (mut rec, len) = parse_head(line).map_err(|m| at(&m))?;
        if len > MAX_VALUE {
            return Err(at("value too large"));
        }
        let mut value = vec![0u8; len + 2];
        r.read_exact(&mut value)
            .map_err(|_| at("value truncated"))?;
        if !value.ends_with(b"\r\n") {
            return Err(at("value not followed by \\r\\n"));
        }
        value.truncate(len);
        rec.value = value;
        line_no += 1;
        n += 1;
        each(rec).map_err(|(_, m)| m)?;
    }
}

/// A record's first line: the record without its value, and the value's
/// length.
fn parse_head(line: &[u8]) -> Result<(Record, usize), String> {
    let text = std::str::from_utf8(line).map_err(|_| "not text".to_string())?;
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    let num = |w: Option<&&str>, what: &str| -> Result<i64, String> {
        w.and_then(|w| w.parse::<i64>().ok())
            .ok_or_else(|| format!("bad {what}"))
    };
    let flags_of = |n: i64| u32::try_from(n).map_err(|_| "bad flags".to_string());
    let len_of = |n: i64| usize::try_from(n).map_err(|_| "bad length".to_string());
    match words.first().copied() {
        Some(verb @ ("add" | "set")) => {
            if !(5..=6).contains(&words.len()) {
                return Err(format!("{verb}: expected <key> <flags> <exptime> <bytes>"));
            }
            let rec = Record {
                add: verb == "add",
                key: words[1].as_bytes().to_vec(),
                flags: flags_of(num(words.get(2), "flags")?)?,
                exptime: num(words.get(3), "exptime")?,
                value: Vec::new(),
            };
            Ok((rec, len_of(num(words.get(4), "length")?)?))
        }
        Some("ms") => {
            let len = len_of(num(words.get(2), "length")?)?;
            let mut rec = Record {
                add: false,
                key: words.get(1).ok_or("ms: no key")?.as_bytes().to_vec(),
                flags: 0,
                exptime: 0,
                value: Vec::new(),
            };
            let mut binary = false;
            for w in &words[3..] {
                let (flag, token) = w.split_at(1);
                match flag {
                    "b" => binary = true,
                    "F" => flags_of(num(Some(&token), "flags")?).map(|f| rec.flags = f)?,
                    "T" => rec.exptime = num(Some(&token), "exptime")?,
                    "M" => match token {
                        "E" | "e" => rec.add = true,
                        "S" | "s" => rec.add = false,
                        _ => return Err(format!("ms: mode {token} is not a store")),
                    },
                    _ => return Err(format!("ms: flag {w} not supported")),
                }
            }
            if binary {
                let mut decoded = vec![0u8; rec.key.len()];
                let n = base64_decode(&rec.key, &mut decoded).ok_or("ms: bad base64 key")?;
                decoded.truncate(n);
                rec.key = decoded;
            }
            Ok((rec, len))
        }
        _ => Err("expected an add, set or ms record".into()),
    }
}

/// `load FILE`: check the whole file, then store each record that has not
/// expired.
pub fn load(c: &Client, path: &Path, out: &mut impl Write) -> Result<u8, Failure> {
    let shown = path.display();
    let open = || {
        std::fs::File::open(path)
            .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
            .map_err(|e| (EX_NOINPUT, format!("{shown}: {e}")))
    };
    let bad = |m: String| (EX_DATAERR, format!("{shown}: {m}"));
    read_records(&mut open()?, |_| Ok(())).map_err(bad)?;
    let now = unix_now();
    let (mut loaded, mut kept, mut refused, mut expired, mut skipped) = (0u64, 0, 0, 0, 0);
    let mut failure = None;
    let r = read_records(&mut open()?, |rec| {
        let Some(exptime) = exptime_to_send(rec.exptime, now) else {
            expired += 1;
            return Ok(());
        };
        let stored = if rec.add {
            c.add(&rec.key, &rec.value, rec.flags, exptime)
        } else {
            c.set(&rec.key, &rec.value, rec.flags, exptime)
        };
        match stored {
            Ok(true) => loaded += 1,
            Ok(false) if rec.add => kept += 1,
            Ok(false) => refused += 1,
            // A key the text protocol cannot carry (a binary key).
            Err(Error::InvalidKey) => skipped += 1,
            Err(e) => {
                let f = fail(e);
                failure = Some(f.clone());
                return Err(f);
            }
        }
        Ok(())
    });
    if let Some(f) = failure {
        return Err(f);
    }
    r.map_err(bad)?;
    writeln!(
        out,
        "loaded {loaded} items from {shown}; {kept} already present (kept), \
         {refused} not stored, {expired} expired, \
         {skipped} with keys the text protocol cannot send"
    )
    .map_err(|e| (EX_UNAVAILABLE, format!("stdout: {e}")))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> Result<Vec<Record>, String> {
        let mut out = Vec::new();
        read_records(&mut &bytes[..], |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn records_round_trip() {
        let items = [
            DumpedItem {
                key: b"k:1".to_vec(),
                value: b"v\r\nx".to_vec(),
                flags: 7,
                ttl: -1,
            },
            DumpedItem {
                key: vec![0, 0xff],
                value: Vec::new(),
                flags: 1,
                ttl: 30,
            },
        ];
        let mut file = Vec::new();
        for it in &items {
            record(it, 1_000_000_000, &mut file);
        }
        assert_eq!(
            file,
            b"add k:1 7 0 4\r\nv\r\nx\r\nms AP8= 0 b F1 T1000000030 ME\r\n\r\n"
        );
        let recs = read_all(&file).unwrap();
        assert_eq!(recs.len(), 2);
        for (rec, it) in recs.iter().zip(&items) {
            assert!(rec.add);
            assert_eq!(
                (&rec.key, &rec.value, rec.flags),
                (&it.key, &it.value, it.flags)
            );
        }
        assert_eq!((recs[0].exptime, recs[1].exptime), (0, 1_000_000_030));
    }

    #[test]
    fn bad_files_name_the_line() {
        let table: &[(&[u8], &str)] = &[
            (b"add k 0 0 2\r\nabc\r\n", "line 1: value not followed"),
            (b"add k 0 0 3\r\nab", "line 1: value truncated"),
            (b"set k 0 0 1\r\na\r\nget k\r\n", "line 3: expected an add"),
            (b"add k x 0 1\r\na\r\n", "line 1: bad flags"),
            (b"ms k 1 MD\r\na\r\n", "line 1: ms: mode D"),
            (b"add k 0 0 1\r\na\r\nadd", "line 3: truncated"),
        ];
        for (input, want) in table {
            let err = read_all(input).unwrap_err();
            assert!(
                err.starts_with(want),
                "{}: {err}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(read_all(b"").unwrap().len(), 0);
    }
}

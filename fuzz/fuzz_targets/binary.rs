//! Binary parser: consumed counts are sane, the opaque and opcode of the
//! header are echoed, a request does not depend on the bytes after it, and
//! a parsed request re-encoded as a packet parses back to the same request.
#![no_main]

use ferrocache::protocol::binary::{parse, Command, Request};
use ferrocache::protocol::text::Limits;
use ferrocache::protocol::Status;
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits { max_value: 1 << 20 };

fuzz_target!(|data: &[u8]| {
    let whole = parse(data, &LIMITS);
    let consumed = match &whole {
        Ok(Status::Complete(req, n)) => {
            assert_eq!(req.opaque.to_be_bytes(), data[12..16], "opaque echoed");
            assert_eq!(req.opcode, data[1]);
            assert!(*n >= 24);
            let wire = encode(req);
            assert_eq!(
                parse(&wire, &LIMITS),
                Ok(Status::Complete(*req, wire.len()))
            );
            *n
        }
        Err(e) if e.closes() => {
            // The connection is dropped, so `consumed` is all of the input;
            // more bytes after it change nothing else.
            let mut more = data.to_vec();
            more.extend_from_slice(&[0x80; 30]);
            match parse(&more, &LIMITS) {
                Err(again) => assert_eq!((again.kind, again.header), (e.kind, e.header)),
                other => panic!("{e:?} became {other:?} with more bytes"),
            }
            return;
        }
        Err(e) => e.consumed,
        Ok(Status::Incomplete) => return,
    };
    if consumed == 0 || consumed > data.len() {
        // A too-large value is swallowed past the buffer.
        return;
    }
    assert_eq!(parse(&data[..consumed], &LIMITS), whole);
    let mut more = data[..consumed].to_vec();
    more.extend_from_slice(&[0x80; 30]);
    assert_eq!(parse(&more, &LIMITS), whole);
});

/// The packet for `req`: its opcode, opaque and cas, the extras, key and
/// value its command carries (datatype and vbucket are not kept).
fn encode(req: &Request) -> Vec<u8> {
    let mut extras = Vec::new();
    let (key, value): (&[u8], &[u8]) = match req.command {
        Command::Get { key, touch, .. } => {
            if let Some(exptime) = touch {
                extras.extend_from_slice(&exptime.to_be_bytes());
            }
            (key, b"")
        }
        Command::Touch { key, exptime } => {
            extras.extend_from_slice(&exptime.to_be_bytes());
            (key, b"")
        }
        Command::Store {
            key,
            flags,
            exptime,
            value,
            ..
        } => {
            extras.extend_from_slice(&flags.to_be_bytes());
            extras.extend_from_slice(&exptime.to_be_bytes());
            (key, value)
        }
        Command::Concat { key, value, .. } => (key, value),
        Command::Delete { key } => (key, b""),
        Command::Delta {
            key,
            delta,
            initial,
            exptime,
            ..
        } => {
            extras.extend_from_slice(&delta.to_be_bytes());
            extras.extend_from_slice(&initial.to_be_bytes());
            extras.extend_from_slice(&exptime.to_be_bytes());
            (key, b"")
        }
        Command::Flush { delay } => {
            extras.extend_from_slice(&delay.to_be_bytes());
            (b"", b"")
        }
        Command::Quit | Command::Noop | Command::Version | Command::SaslList => (b"", b""),
        Command::Stat { group } => (group, b""),
        Command::SaslAuth { mech, data } | Command::SaslStep { mech, data } => (mech, data),
    };
    let body = extras.len() + key.len() + value.len();
    let mut w = vec![0x80, req.opcode];
    w.extend_from_slice(&(key.len() as u16).to_be_bytes());
    w.push(extras.len() as u8);
    w.extend_from_slice(&[0, 0, 0]);
    w.extend_from_slice(&(body as u32).to_be_bytes());
    w.extend_from_slice(&req.opaque.to_be_bytes());
    w.extend_from_slice(&req.cas.to_be_bytes());
    w.extend_from_slice(&extras);
    w.extend_from_slice(key);
    w.extend_from_slice(value);
    w
}

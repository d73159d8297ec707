//! Meta commands, through the text parser (which hands `m?` lines to the
//! meta parser): consumed counts are sane and a request does not depend on
//! the bytes after it.
#![no_main]

use ferrocache::protocol::meta::Payload;
use ferrocache::protocol::text::{parse, ErrorKind, Limits, Request};
use ferrocache::protocol::Status;
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits { max_value: 1 << 20 };

fuzz_target!(|data: &[u8]| {
    // Steer every input into a meta command.
    let verbs: [&[u8]; 6] = [b"mg ", b"ms ", b"md ", b"ma ", b"mn", b"me "];
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut input = verbs[pick as usize % verbs.len()].to_vec();
    input.extend_from_slice(rest);
    check(&input)
});

fn check(data: &[u8]) {
    let whole = parse(data, &LIMITS);
    let consumed = match &whole {
        Ok(Status::Complete(_, n)) => *n,
        Err(e) => e.consumed,
        Ok(Status::Incomplete) => return,
    };
    assert!(consumed > 0, "a result that consumes nothing would loop");
    if consumed > data.len() {
        // Only a refused or too-large storage command covers a data block
        // not received yet (swallowed as it comes, never buffered).
        let swallows = match &whole {
            Err(_) | Ok(Status::Complete(Request::TooLarge { .. }, _)) => true,
            Ok(Status::Complete(Request::Meta(m), _)) => m.value == Payload::TooLarge,
            _ => false,
        };
        assert!(swallows, "consumed {consumed} of {}", data.len());
        return;
    }
    if let Err(e) = &whole {
        if e.kind == ErrorKind::LineTooLong {
            // Decided by a newline not having come yet: bytes after it may
            // bring one, as they do for memcached reading more at once.
            return;
        }
    }
    // The same request from exactly its own bytes, and from its bytes
    // followed by something else.
    assert_eq!(parse(&data[..consumed], &LIMITS), whole);
    let mut more = data[..consumed].to_vec();
    more.extend_from_slice(b"\xffjunk\r\n");
    assert_eq!(parse(&more, &LIMITS), whole);
    // A strict prefix of a complete request is never a different complete
    // request.
    if let Ok(Status::Complete(..)) = whole {
        for cut in [consumed - 1, consumed / 2] {
            if let Ok(Status::Complete(_, n)) = parse(&data[..cut], &LIMITS) {
                panic!("prefix of {cut} bytes parsed as a {n}-byte request");
            }
        }
    }
}

//! Text parser: consumed counts are sane and a request does not depend on
//! the bytes after it (split-at-every-byte, checked at two cut points).
#![no_main]

use ferrocache::protocol::text::{parse, Limits};
use ferrocache::protocol::Status;
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits { max_value: 1 << 20 };

fuzz_target!(|data: &[u8]| check(data));

fn check(data: &[u8]) {
    let whole = parse(data, &LIMITS);
    let consumed = match &whole {
        Ok(Status::Complete(_, n)) => *n,
        Err(e) => e.consumed,
        Ok(Status::Incomplete) => return,
    };
    assert!(consumed > 0, "a result that consumes nothing would loop");
    if consumed > data.len() {
        // Only a refused, too-large data block is swallowed past the buffer.
        assert!(
            consumed > LIMITS.max_value,
            "consumed {consumed} of {}",
            data.len()
        );
        return;
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

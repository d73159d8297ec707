//! Binary parser: consumed counts are sane, the opaque and opcode of the
//! header are echoed, and a request does not depend on the bytes after it.
#![no_main]

use ferrocache::protocol::binary::parse;
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
            *n
        }
        Err(e) => e.consumed,
        Ok(Status::Incomplete) => return,
    };
    if consumed == 0 || consumed > data.len() {
        // Errors that close the connection need not consume; a too-large
        // value is swallowed past the buffer.
        return;
    }
    assert_eq!(parse(&data[..consumed], &LIMITS), whole);
    let mut more = data[..consumed].to_vec();
    more.extend_from_slice(&[0x80; 30]);
    assert_eq!(parse(&more, &LIMITS), whole);
});

//! Table-driven tests of the binary request parser.

use super::*;

const LIMITS: Limits = Limits { max_value: 1000 };

/// A request packet; `body_len` overrides the computed body length.
fn packet(opcode: u8, extras: &[u8], key: &[u8], value: &[u8], body_len: Option<u32>) -> Vec<u8> {
    let mut p = vec![0x80, opcode];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.push(extras.len() as u8);
    p.extend_from_slice(&[0, 0, 0]);
    let len = body_len.unwrap_or((extras.len() + key.len() + value.len()) as u32);
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    p.extend_from_slice(&7u64.to_be_bytes());
    p.extend_from_slice(extras);
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    p
}

fn complete(buf: &[u8]) -> (Request<'_>, usize) {
    match parse(buf, &LIMITS) {
        Ok(Status::Complete(r, n)) => (r, n),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_opcode_parses() {
    let set_extras = [0, 0, 0, 5, 0, 0, 0, 9];
    let mut delta_extras = vec![0; 20];
    delta_extras[7] = 3;
    delta_extras[15] = 10;
    delta_extras[16..].copy_from_slice(&NO_CREATE.to_be_bytes());
    let four = 60u32.to_be_bytes();
    let table: Vec<(Vec<u8>, Command, bool)> = vec![
        (
            packet(op::GET, &[], b"k", &[], None),
            Command::Get {
                key: b"k",
                with_key: false,
                touch: None,
            },
            false,
        ),
        (
            packet(op::GETQ, &[], b"k", &[], None),
            Command::Get {
                key: b"k",
                with_key: false,
                touch: None,
            },
            true,
        ),
        (
            packet(op::GETK, &[], b"k", &[], None),
            Command::Get {
                key: b"k",
                with_key: true,
                touch: None,
            },
            false,
        ),
        (
            packet(op::GETKQ, &[], b"k", &[], None),
            Command::Get {
                key: b"k",
                with_key: true,
                touch: None,
            },
            true,
        ),
        (
            packet(op::GAT, &four, b"k", &[], None),
            Command::Get {
                key: b"k",
                with_key: false,
                touch: Some(60),
            },
            false,
        ),
        (
            packet(op::GATQ, &four, b"k", &[], None),
            Command::Get {
                key: b"k",
                with_key: false,
                touch: Some(60),
            },
            true,
        ),
        (
            packet(op::GATK, &four, b"k", &[], None),
            Command::Get {
                key: b"k",
                with_key: true,
                touch: Some(60),
            },
            false,
        ),
        (
            packet(op::GATKQ, &four, b"k", &[], None),
            Command::Get {
                key: b"k",
                with_key: true,
                touch: Some(60),
            },
            true,
        ),
        (
            packet(op::TOUCH, &four, b"k", &[], None),
            Command::Touch {
                key: b"k",
                exptime: 60,
            },
            false,
        ),
        (
            packet(op::SET, &set_extras, b"k", b"v", None),
            Command::Store {
                kind: StoreKind::Set,
                key: b"k",
                flags: 5,
                exptime: 9,
                value: b"v",
            },
            false,
        ),
        (
            packet(op::SETQ, &set_extras, b"k", b"v", None),
            Command::Store {
                kind: StoreKind::Set,
                key: b"k",
                flags: 5,
                exptime: 9,
                value: b"v",
            },
            true,
        ),
        (
            packet(op::ADD, &set_extras, b"k", b"", None),
            Command::Store {
                kind: StoreKind::Add,
                key: b"k",
                flags: 5,
                exptime: 9,
                value: b"",
            },
            false,
        ),
        (
            packet(op::ADDQ, &set_extras, b"k", b"v", None),
            Command::Store {
                kind: StoreKind::Add,
                key: b"k",
                flags: 5,
                exptime: 9,
                value: b"v",
            },
            true,
        ),
        (
            packet(op::REPLACE, &set_extras, b"k", b"v", None),
            Command::Store {
                kind: StoreKind::Replace,
                key: b"k",
                flags: 5,
                exptime: 9,
                value: b"v",
            },
            false,
        ),
        (
            packet(op::REPLACEQ, &set_extras, b"k", b"v", None),
            Command::Store {
                kind: StoreKind::Replace,
                key: b"k",
                flags: 5,
                exptime: 9,
                value: b"v",
            },
            true,
        ),
        (
            packet(op::APPEND, &[], b"k", b"v", None),
            Command::Concat {
                append: true,
                key: b"k",
                value: b"v",
            },
            false,
        ),
        (
            packet(op::APPENDQ, &[], b"k", b"v", None),
            Command::Concat {
                append: true,
                key: b"k",
                value: b"v",
            },
            true,
        ),
        (
            packet(op::PREPEND, &[], b"k", b"v", None),
            Command::Concat {
                append: false,
                key: b"k",
                value: b"v",
            },
            false,
        ),
        (
            packet(op::PREPENDQ, &[], b"k", b"v", None),
            Command::Concat {
                append: false,
                key: b"k",
                value: b"v",
            },
            true,
        ),
        (
            packet(op::DELETE, &[], b"k", &[], None),
            Command::Delete { key: b"k" },
            false,
        ),
        (
            packet(op::DELETEQ, &[], b"k", &[], None),
            Command::Delete { key: b"k" },
            true,
        ),
        (
            packet(op::INCREMENT, &delta_extras, b"k", &[], None),
            Command::Delta {
                incr: true,
                key: b"k",
                delta: 3,
                initial: 10,
                exptime: NO_CREATE,
            },
            false,
        ),
        (
            packet(op::INCREMENTQ, &delta_extras, b"k", &[], None),
            Command::Delta {
                incr: true,
                key: b"k",
                delta: 3,
                initial: 10,
                exptime: NO_CREATE,
            },
            true,
        ),
        (
            packet(op::DECREMENT, &delta_extras, b"k", &[], None),
            Command::Delta {
                incr: false,
                key: b"k",
                delta: 3,
                initial: 10,
                exptime: NO_CREATE,
            },
            false,
        ),
        (
            packet(op::DECREMENTQ, &delta_extras, b"k", &[], None),
            Command::Delta {
                incr: false,
                key: b"k",
                delta: 3,
                initial: 10,
                exptime: NO_CREATE,
            },
            true,
        ),
        (packet(op::QUIT, &[], &[], &[], None), Command::Quit, false),
        (packet(op::QUITQ, &[], &[], &[], None), Command::Quit, true),
        (
            packet(op::FLUSH, &[], &[], &[], None),
            Command::Flush { delay: 0 },
            false,
        ),
        (
            packet(op::FLUSHQ, &four, &[], &[], None),
            Command::Flush { delay: 60 },
            true,
        ),
        (packet(op::NOOP, &[], &[], &[], None), Command::Noop, false),
        (
            packet(op::VERSION, &[], &[], &[], None),
            Command::Version,
            false,
        ),
        (
            packet(op::STAT, &[], &[], &[], None),
            Command::Stat { group: b"" },
            false,
        ),
        (
            packet(op::STAT, &[], b"items", &[], None),
            Command::Stat { group: b"items" },
            false,
        ),
        (
            packet(op::SASL_LIST_MECHS, &[], &[], &[], None),
            Command::SaslList,
            false,
        ),
        (
            packet(op::SASL_AUTH, &[], b"PLAIN", b"\0u\0p", None),
            Command::SaslAuth {
                mech: b"PLAIN",
                data: b"\0u\0p",
            },
            false,
        ),
        (
            packet(op::SASL_STEP, &[], b"PLAIN", b"x", None),
            Command::SaslStep {
                mech: b"PLAIN",
                data: b"x",
            },
            false,
        ),
    ];
    for (bytes, command, quiet) in &table {
        let mut pipelined = bytes.clone();
        pipelined.extend_from_slice(&packet(op::NOOP, &[], &[], &[], None));
        let (req, n) = complete(&pipelined);
        assert_eq!(n, bytes.len(), "{command:?}");
        assert_eq!(req.command, *command);
        assert_eq!(req.quiet, *quiet, "{command:?}");
        assert_eq!(
            (req.opaque, req.cas, req.opcode),
            (0x0102_0304, 7, bytes[1])
        );
        // Split at every byte: incomplete until the last one arrives.
        for cut in 0..bytes.len() {
            assert_eq!(
                parse(&bytes[..cut], &LIMITS),
                Ok(Status::Incomplete),
                "{command:?} cut {cut}"
            );
        }
    }
}

#[test]
fn refusals() {
    let set_extras = [0u8; 8];
    let long_key = [b'k'; 251];
    let table: Vec<(Vec<u8>, ErrorKind, Option<usize>)> = vec![
        // (request, error, consumed when not the whole buffer)
        (b"\x81\x00".to_vec(), ErrorKind::BadMagic, None),
        (b"get k\r\n".to_vec(), ErrorKind::BadMagic, None),
        (
            packet(op::GET, &[], b"kk", &[], Some(1)),
            ErrorKind::ImpossibleLength,
            None,
        ),
        (
            packet(op::GET, &[0; 4], b"k", &[], None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::GET, &[], b"", &[], None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::GET, &[], &long_key, &[], None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::GET, &[], b"k", b"zz", None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::GET, &[], b"k", &[], Some(u32::MAX)),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::SET, &[], b"k", b"v", None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::SET, &set_extras, b"", b"v", None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::APPEND, &set_extras, b"k", b"v", None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::INCREMENT, &[], b"k", &[], None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::TOUCH, &[], b"k", &[], None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::NOOP, &[], b"k", &[], None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::VERSION, &[0; 4], &[], &[], None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::FLUSH, &[0; 8], &[], &[], None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::QUIT, &[], b"k", &[], None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::STAT, &[0; 4], &[], &[], None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::SASL_AUTH, &[], b"", b"x", None),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(op::SASL_AUTH, &[], b"PLAIN", &[], Some(5 + 100_000)),
            ErrorKind::InvalidArguments,
            None,
        ),
        (
            packet(0x50, &[], &[], b"abc", None),
            ErrorKind::UnknownCommand,
            Some(27),
        ),
        (
            packet(0x1b, &[], &[], &[], Some(1 << 30)),
            ErrorKind::UnknownCommand,
            Some(24 + (1 << 30)),
        ),
        (
            packet(op::SET, &set_extras, b"k", &[], Some(9 + 1001)),
            ErrorKind::TooLarge,
            Some(24 + 9 + 1001),
        ),
        (
            packet(op::SETQ, &set_extras, b"k", &[], Some(u32::MAX)),
            ErrorKind::TooLarge,
            Some(24 + u32::MAX as usize),
        ),
    ];
    for (bytes, kind, consumed) in &table {
        let e = parse(bytes, &LIMITS).expect_err("refused");
        assert_eq!(e.kind, *kind, "{bytes:?}");
        assert_eq!(e.consumed, consumed.unwrap_or(bytes.len()), "{bytes:?}");
        // Refused as soon as the header is in, whatever the body claims;
        // a value too large once its key is in too (a refused set removes
        // the old value, so the key is read; never the value).
        let refused_at = if *kind == ErrorKind::TooLarge {
            HEADER_LEN + e.header.extras_len as usize + e.header.key_len as usize
        } else {
            HEADER_LEN
        };
        if bytes.len() >= refused_at {
            assert_eq!(
                parse(&bytes[..refused_at], &LIMITS).map_err(|e| e.kind),
                Err(*kind)
            );
            if refused_at > HEADER_LEN {
                assert!(matches!(
                    parse(&bytes[..refused_at - 1], &LIMITS),
                    Ok(Status::Incomplete)
                ));
                assert_eq!(e.key(bytes), Some(&b"k"[..]));
            }
        }
    }
}

#[test]
fn value_at_the_limit_is_accepted() {
    let v = vec![b'x'; 1000];
    let bytes = packet(op::SET, &[0; 8], b"k", &v, None);
    assert!(
        matches!(complete(&bytes).0.command, Command::Store { value, .. } if value.len() == 1000)
    );
}

#[test]
fn responses_encode_like_memcached() {
    let mut out = Vec::new();
    Response {
        opcode: op::GET,
        status: ResponseStatus::NotFound,
        opaque: 9,
        cas: 0,
    }
    .write_error(&mut out);
    let mut want = vec![0x81, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 9];
    want.extend_from_slice(&[0; 8]);
    want.extend_from_slice(b"Not found");
    assert_eq!(out, want);
    out.clear();
    Response {
        opcode: op::GETK,
        status: ResponseStatus::Success,
        opaque: 1,
        cas: 2,
    }
    .write(&mut out, &[0, 0, 0, 5], b"key", b"val");
    assert_eq!(&out[..12], &[0x81, 0x0c, 0, 3, 4, 0, 0, 0, 0, 0, 0, 10]);
    assert_eq!(&out[16..24], &2u64.to_be_bytes());
    assert_eq!(&out[24..], b"\0\0\0\x05keyval");
}

#[test]
fn packet_headers_round_trip_through_the_one_codec() {
    let table = [
        PacketHeader::request(op::SET, 8, 3, 5),
        PacketHeader {
            magic: RESPONSE_MAGIC,
            opcode: op::GETK,
            key_len: 250,
            extras_len: 4,
            status: ResponseStatus::NotFound as u16,
            body_len: u32::MAX,
            opaque: 0xdead_beef,
            cas: u64::MAX - 1,
        },
    ];
    for h in table {
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out.len(), HEADER_LEN, "{h:?}");
        assert_eq!(PacketHeader::decode(&out), h);
    }
    let mut out = Vec::new();
    PacketHeader::request(op::SET, 8, 3, 5).encode(&mut out);
    assert_eq!(
        out,
        [0x80, 0x01, 0, 3, 8, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
}

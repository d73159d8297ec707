//! Table-driven tests of the meta parser, through `text::parse` as the
//! connection calls it. Error strings were checked against memcached
//! 1.6.18; `E` and `x` go beyond it (see the module doc).

use super::*;
use crate::protocol::text::{self, Request as Text};

const LIMITS: Limits = Limits { max_value: 1024 };

fn parse_all(input: &[u8]) -> Result<Status<Text<'_>>, Error> {
    text::parse(input, &LIMITS)
}

/// What a case expects, in terms that do not borrow the input.
#[derive(Debug, PartialEq)]
enum Want {
    /// Complete, with command, key bytes and binary; the whole input used.
    Ok(Command, &'static [u8], bool),
    Client(&'static str, usize),
    Unknown(usize),
}

fn table() -> Vec<(&'static [u8], Want)> {
    use Command::*;
    use Want::*;
    vec![
        (b"mn\r\n", Ok(Noop, b"", false)),
        (b"mn foo bar\r\n", Ok(Noop, b"", false)),
        (b"mg foo\r\n", Ok(Get, b"foo", false)),
        (
            b"mg foo v k c f s t h l u q O1 T30 N30 R5 E9\r\n",
            Ok(Get, b"foo", false),
        ),
        (b"mg Zm9v b k\r\n", Ok(Get, b"foo", true)),
        (b"mg Zm9v! b\n", Ok(Get, b"foo", true)),
        (b"ms foo 2\r\nhi\r\n", Ok(Set, b"foo", false)),
        (
            b"ms foo 2 T10 F5 C7 I MS q k c O9 E3\r\nhi\r\n",
            Ok(Set, b"foo", false),
        ),
        (b"ms foo 0\r\n\r\n", Ok(Set, b"foo", false)),
        (
            b"md foo q I T30 C5 x k O1 E4\r\n",
            Ok(Delete, b"foo", false),
        ),
        (
            b"ma foo N0 J10 D5 MD T9 q t c v k O1 E2 C1\r\n",
            Ok(Arithmetic, b"foo", false),
        ),
        (b"me foo\r\n", Ok(Debug, b"foo", false)),
        (b"me Zm9v b\r\n", Ok(Debug, b"foo", true)),
        // Errors, with memcached's messages.
        (b"mg\r\n", Unknown(4)),
        (b"ms\r\n", Unknown(4)),
        (b"me\r\n", Client("bad command line format", 4)),
        (b"mg foo v v\r\n", Client("duplicate flag", 12)),
        (b"mg foo Q\r\n", Client("invalid flag", 10)),
        (b"mg foo S2\r\n", Client("invalid flag", 11)),
        (
            b"mg foo Tx\r\n",
            Client("bad token in command line format", 11),
        ),
        (b"mg Zm9 b\r\n", Client("error decoding key", 10)),
        (b"md Zm9 b\r\n", Client("invalid or duplicate flag", 10)),
        (b"ma foo Z\r\n", Client("invalid or duplicate flag", 10)),
        (
            b"mg foo O12345678901234567890123456789012\r\n",
            Client("opaque token too long", 42),
        ),
        (
            b"mg foo a b c d e f g h i j k l m n o p q r\r\n",
            Client("options flags are too long", 44),
        ),
        (
            b"md foo a b c d e f g h i j k l m n o p q r\r\n",
            Client("options flags too long", 44),
        ),
        (b"ms foo\r\n", Client("bad command line format", 8)),
        (b"ms foo x\r\nhi\r\n", Client("bad command line format", 10)),
        (b"ms foo -1\r\n", Client("bad command line format", 11)),
        // Errors after the length swallow the data block.
        (
            b"ms foo 2 MX\r\nhi\r\n",
            Client("invalid mode for ms M token", 17),
        ),
        (
            b"ms foo 2 MAA\r\nhi\r\n",
            Client("incorrect length for M token", 18),
        ),
        (b"ms foo 2 v v\r\nhi\r\n", Client("duplicate flag", 18)),
        (b"ms foo 2\r\nhix\r\n", Client("bad data chunk", 14)),
        (b"ma foo MX\r\n", Client("invalid mode for ma M token", 11)),
        (b"ma foo Jx\r\n", Client("invalid or duplicate flag", 11)),
        (b"mg f\x01o v\r\n", Client("bad command line format", 10)),
        (b"mz foo\r\n", Unknown(8)),
    ]
}

/// `len`: the request's own length (the input may carry another after it).
fn check(input: &[u8], len: usize, want: &Want) {
    let got = parse_all(input);
    match (got, want) {
        (Result::Ok(Status::Complete(Text::Meta(r), n)), Want::Ok(cmd, key, bin)) => {
            let line = input.iter().position(|&b| b == b'\n').unwrap() + 1;
            let used = if *cmd == Command::Set { len } else { line };
            assert_eq!(
                (r.command, r.key.bytes(), r.key.is_binary(), n),
                (*cmd, *key, *bin, used),
                "{:?}",
                input.escape_ascii().to_string()
            );
        }
        (Err(e), Want::Client(msg, used)) => {
            assert_eq!(
                (e.kind, e.consumed, e.noreply),
                (ErrorKind::Client(msg), *used, false),
                "{:?}",
                input.escape_ascii().to_string()
            );
        }
        (Err(e), Want::Unknown(used)) => {
            assert_eq!((e.kind, e.consumed), (ErrorKind::UnknownCommand, *used));
        }
        (got, want) => panic!(
            "{:?}: got {got:?}, want {want:?}",
            input.escape_ascii().to_string()
        ),
    }
}

#[test]
fn meta_table() {
    for (input, want) in table() {
        check(input, input.len(), &want);
    }
}

/// Every strict prefix of a request is incomplete (unless the error is
/// decided by the line alone), and the whole request parses the same when
/// followed by another request.
#[test]
fn meta_split_at_every_byte() {
    for (input, want) in table() {
        let line_end = input.iter().position(|&b| b == b'\n').unwrap() + 1;
        for cut in 0..input.len() {
            let got = parse_all(&input[..cut]);
            if cut < line_end {
                assert_eq!(
                    got,
                    Result::Ok(Status::Incomplete),
                    "cut {cut} of {input:?}"
                );
            } else if let Result::Ok(status) = got {
                assert_eq!(status, Status::Incomplete, "cut {cut} of {input:?}");
            }
        }
        let mut pipelined = input.to_vec();
        pipelined.extend_from_slice(b"mn\r\n");
        check(&pipelined, input.len(), &want);
    }
}

#[test]
fn meta_flags_keep_request_order_and_arguments() {
    let input = b"mg foo t O7 k T30 c N5 R2 E11 v q\r\n";
    let Result::Ok(Status::Complete(Text::Meta(r), _)) = parse_all(input) else {
        panic!("not parsed");
    };
    let f = r.flags;
    let order: Vec<u8> = f.iter().map(|t| t[0]).collect();
    assert_eq!(order, b"tOkTcNREvq");
    assert_eq!(f.opaque, Some(&b"O7"[..]));
    assert_eq!(
        (f.ttl, f.vivify, f.recache, f.new_cas),
        (Some(30), Some(5), Some(2), Some(11))
    );
    assert!(f.has(b'q') && f.has(b'v') && !f.has(b'h'));
    assert!(f.before(b'T', b'R') && !f.before(b'R', b'T'));
}

#[test]
fn meta_set_value_and_defaults() {
    let Result::Ok(Status::Complete(Text::Meta(r), n)) =
        parse_all(b"ms foo 5 F9 T-1 MA\r\nhello\r\nmn\r\n")
    else {
        panic!("not parsed");
    };
    assert_eq!(n, 27);
    assert_eq!(r.value, Payload::Data(b"hello"));
    assert_eq!(
        (r.flags.client_flags, r.flags.ttl, r.flags.mode),
        (9, Some(-1), Some(b'A'))
    );
    assert_eq!(r.flags.delta, 1, "D defaults to 1");
}

#[test]
fn meta_set_too_large_is_complete_without_its_data() {
    let input = b"ms foo 2000\r\n";
    let Result::Ok(Status::Complete(Text::Meta(r), n)) = parse_all(input) else {
        panic!("not parsed");
    };
    assert_eq!((r.value, n), (Payload::TooLarge, input.len() + 2002));
}

#[test]
fn base64_round_trips_and_matches_memcached() {
    let cases: &[(&[u8], Option<&[u8]>)] = &[
        (b"Zm9v", Some(b"foo")),
        (b"Zg==", Some(b"f")),
        (b"Zm8=", Some(b"fo")),
        (b"Zm9v!", Some(b"foo")),
        (b"Zm9", None),
        (b"Zm9vYg", None),
        (b"Z===", None),
        (b"!!!!", None),
    ];
    for (src, want) in cases {
        let mut out = [0u8; BINARY_KEY_MAX];
        let got = base64_decode(src, &mut out).map(|n| out[..n].to_vec());
        assert_eq!(got.as_deref(), *want, "{src:?}");
    }
    for len in 0..40u8 {
        let data: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
        let mut enc = Vec::new();
        base64_encode(&data, &mut enc);
        if data.is_empty() {
            assert!(enc.is_empty());
            continue;
        }
        let mut out = [0u8; BINARY_KEY_MAX];
        let n = base64_decode(&enc, &mut out).unwrap();
        assert_eq!(&out[..n], &data[..]);
    }
}

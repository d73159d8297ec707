//! Hostile clients: a table of inputs a broken or malicious client may send,
//! each with the exact reply (or close) it must get. After every case a fresh
//! connection is answered and the daemon's RSS stays under [`RSS_BOUND`].
//!
//! Expected bytes are memcached 1.6.18's (the oracle) except where a case is
//! marked `oracle: false`: there ferrocache deliberately differs (it answers
//! an unknown binary opcode, closes on a body shorter than key + extras, and finishes a
//! 100,000-value multi-get that memcached stalls in) and the row
//! documents ferrocache's behaviour.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::TestServer;

/// `-m` of the daemon under test, in MiB.
const MEMORY_MIB: u64 = 64;
/// RSS bound: the item budget plus slack for code, thread stacks, the hash
/// table and per-connection buffers (a 1 MiB line, a 1.7 MB reply).
const RSS_BOUND: u64 = (MEMORY_MIB + 32) << 20;

/// What a hostile input must get back.
enum Expect {
    /// Exactly these bytes, and the connection stays open.
    Reply(Vec<u8>),
    /// Exactly these bytes (maybe none), then the server closes.
    Close(Vec<u8>),
    /// Nothing yet: the server waits for the rest. Other clients must keep
    /// being served while this connection sits idle mid-request.
    Pending,
}

struct Case {
    name: &'static str,
    input: Vec<u8>,
    expect: Expect,
    /// Whether memcached gives the same answer (checked with
    /// `FERROCACHE_TEST_BIN=/usr/bin/memcached`).
    oracle: bool,
}

fn reply(name: &'static str, input: impl Into<Vec<u8>>, out: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        input: input.into(),
        expect: Expect::Reply(out.into()),
        oracle: true,
    }
}

fn close(name: &'static str, input: impl Into<Vec<u8>>, out: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        input: input.into(),
        expect: Expect::Close(out.into()),
        oracle: true,
    }
}

fn pending(name: &'static str, input: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        input: input.into(),
        expect: Expect::Pending,
        oracle: true,
    }
}

/// A row where ferrocache deliberately differs from memcached.
fn ours(mut case: Case) -> Case {
    case.oracle = false;
    case
}

/// A binary request header with every length field given explicitly, so
/// it can lie; followed by `body`.
fn bin(
    magic: u8,
    opcode: u8,
    key_len: u16,
    extras_len: u8,
    datatype: u8,
    body_len: u32,
) -> Vec<u8> {
    let mut p = vec![magic, opcode];
    p.extend_from_slice(&key_len.to_be_bytes());
    p.push(extras_len);
    p.push(datatype);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&body_len.to_be_bytes());
    p.extend_from_slice(&[0; 12]);
    p
}

/// An honest binary request.
fn bin_req(opcode: u8, extras: &[u8], key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = (extras.len() + key.len() + value.len()) as u32;
    let mut p = bin(0x80, opcode, key.len() as u16, extras.len() as u8, 0, body);
    p.extend_from_slice(extras);
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    p
}

/// A binary error response with CAS 0 and opaque 0.
fn bin_err(opcode: u8, status: u16, msg: &str) -> Vec<u8> {
    let mut p = vec![0x81, opcode, 0, 0, 0, 0];
    p.extend_from_slice(&status.to_be_bytes());
    p.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    p.extend_from_slice(&[0; 12]);
    p.extend_from_slice(msg.as_bytes());
    p
}

const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format\r\n";
const BAD_DELTA: &str = "CLIENT_ERROR invalid numeric delta argument\r\n";
const NON_NUMERIC: &str = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
const BAD_EXPTIME: &str = "CLIENT_ERROR invalid exptime argument\r\n";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Items every case starts from: `n` = 10, `max` = 2^64-1, `s` = "abc";
/// `k` and `big` absent.
const SETUP: &[u8] = b"set n 0 0 2\r\n10\r\nset max 0 0 20\r\n18446744073709551615\r\n\
set s 0 0 3\r\nabc\r\ndelete k noreply\r\ndelete big noreply\r\n";
const SETUP_REPLY: &[u8] = b"STORED\r\nSTORED\r\nSTORED\r\n";

fn cases() -> Vec<Case> {
    let k251 = vec![b'k'; 251];
    let mib_line = vec![b'a'; 1 << 20];
    let missing_keys: Vec<String> = (0..100_000).map(|i| format!("k{i}")).collect();
    let big_set = cat(&[
        b"set k 0 0 2000000\r\n",
        &vec![b'x'; 2_000_000],
        b"\r\nget k\r\n",
    ]);
    let invalid = |op| bin_err(op, 4, "Invalid arguments");
    let unknown = |op| bin_err(op, 0x81, "Unknown command");
    let delta = |d: u64| cat(&[&d.to_be_bytes(), &0u64.to_be_bytes(), &0u32.to_be_bytes()]);
    vec![
        // Lengths that overflow or lie.
        reply(
            "set_len_2pow64",
            "set k 0 0 18446744073709551616\r\n",
            BAD_FORMAT,
        ),
        reply("set_len_negative", "set k 0 0 -1\r\n", BAD_FORMAT),
        pending("set_len_2pow32_waits_for_data", "set k 0 0 4294967296\r\n"),
        reply(
            "set_flags_negative",
            "set k -1 0 1\r\nx\r\n",
            format!("{BAD_FORMAT}ERROR\r\n"),
        ),
        reply(
            "set_flags_2pow32_truncates",
            "set k 4294967296 0 1\r\nx\r\n",
            "STORED\r\n",
        ),
        reply(
            "set_exptime_negative_expires",
            "set k 0 -1 1\r\nx\r\nget k\r\n",
            "STORED\r\nEND\r\n",
        ),
        reply(
            "set_exptime_2pow64",
            "set k 0 18446744073709551616 1\r\nx\r\n",
            format!("{BAD_FORMAT}ERROR\r\n"),
        ),
        pending("set_len_lies_short", "set k 0 0 5\r\nabc\r\n"),
        reply(
            "set_len_lies_long",
            "set k 0 0 1\r\nabcdef\r\n",
            "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
        ),
        reply(
            "set_too_large_is_swallowed",
            big_set,
            "SERVER_ERROR object too large for cache\r\nEND\r\n",
        ),
        reply(
            "set_noreply_len_lies",
            "set k 0 0 1 noreply\r\nabc\r\n",
            "ERROR\r\n",
        ),
        reply("set_missing_len", "set k 0 0\r\n", "ERROR\r\n"),
        reply(
            "set_too_many_tokens",
            format!("set k 0 0 1 noreply {}\r\nx\r\n", "x ".repeat(30)),
            "ERROR\r\nERROR\r\n",
        ),
        reply(
            "cas_unique_2pow64",
            "cas s 0 0 1 18446744073709551616\r\nx\r\n",
            format!("{BAD_FORMAT}ERROR\r\n"),
        ),
        reply(
            "cas_unique_negative",
            "cas s 0 0 1 -1\r\nx\r\n",
            format!("{BAD_FORMAT}ERROR\r\n"),
        ),
        // incr/decr on huge numbers.
        reply(
            "incr_delta_2pow64",
            "incr n 18446744073709551616\r\n",
            BAD_DELTA,
        ),
        reply("incr_delta_negative", "incr n -1\r\n", BAD_DELTA),
        reply("incr_wraps_at_2pow64", "incr max 1\r\n", "0\r\n"),
        reply("incr_non_numeric", "incr s 1\r\n", NON_NUMERIC),
        reply(
            "decr_huge_delta_floors_at_zero",
            "decr n 18446744073709551615\r\n",
            "0\r\n",
        ),
        reply(
            "decr_delta_20_digits",
            "decr n 99999999999999999999\r\n",
            BAD_DELTA,
        ),
        reply(
            "incr_30_digit_value",
            cat(&[b"set big 0 0 30\r\n", &[b'9'; 30], b"\r\nincr big 1\r\n"]),
            format!("STORED\r\n{NON_NUMERIC}"),
        ),
        reply("incr_missing_key", "incr nokey 1\r\n", "NOT_FOUND\r\n"),
        reply("incr_without_delta", "incr n\r\n", "ERROR\r\n"),
        // Other numbers out of range.
        reply(
            "touch_exptime_negative_expires",
            "touch s -1\r\nget s\r\n",
            "TOUCHED\r\nEND\r\n",
        ),
        reply(
            "touch_exptime_2pow64",
            "touch s 18446744073709551616\r\n",
            BAD_EXPTIME,
        ),
        reply(
            "gat_exptime_2pow64",
            "gat 18446744073709551616 s\r\n",
            BAD_EXPTIME,
        ),
        reply("verbosity_negative", "verbosity -1\r\n", BAD_FORMAT),
        reply("flush_all_negative", "flush_all -1\r\n", "OK\r\n"),
        reply(
            "flush_all_2pow64",
            "flush_all 18446744073709551616\r\n",
            BAD_EXPTIME,
        ),
        reply(
            "delete_with_time",
            "delete s 10\r\n",
            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
        ),
        // Long lines.
        close("line_1mib_without_newline", mib_line, ""),
        pending(
            "get_line_1mib_without_newline",
            cat(&[b"get ", &vec![b'k'; 1 << 20]]),
        ),
        reply(
            "multiget_100000_missing_keys",
            format!("get {}\r\n", missing_keys.join(" ")),
            "END\r\n",
        ),
        // memcached 1.6.18 stalls after 59,999 values of this reply.
        ours(reply(
            "multiget_100000_times_one_key",
            format!("get {}\r\n", vec!["n"; 100_000].join(" ")),
            "VALUE n 0 2\r\n10\r\n".repeat(100_000) + "END\r\n",
        )),
        // Bytes that do not belong in keys or commands.
        reply(
            "key_with_nul",
            "set a\0b 0 0 1\r\nx\r\nget a\0b\r\n",
            "ERROR\r\nERROR\r\nEND\r\n",
        ),
        // memcached 1.6.18 splits on spaces only: control bytes are key bytes.
        reply(
            "key_with_control_byte",
            "set a\x01b 0 0 1\r\nx\r\nget a\x01b\r\n",
            "STORED\r\nVALUE a\x01b 0 1\r\nx\r\nEND\r\n",
        ),
        reply("key_with_del_byte", "get a\x7fb\r\n", "END\r\n"),
        reply("key_with_tab", "get a\tb\r\n", "END\r\n"),
        reply(
            "key_251_bytes_get",
            cat(&[b"get ", &k251, b"\r\n"]),
            BAD_FORMAT,
        ),
        reply(
            "key_251_bytes_set",
            cat(&[b"set ", &k251, b" 0 0 1\r\nx\r\n"]),
            format!("{BAD_FORMAT}ERROR\r\n"),
        ),
        reply("empty_line", "\r\n", "ERROR\r\n"),
        reply("spaces_only", "     \r\n", "ERROR\r\n"),
        reply("bare_newline", "\n", "ERROR\r\n"),
        reply("high_bytes", b"\xff\xfe\xfd\r\n".to_vec(), "ERROR\r\n"),
        reply("get_without_key", "get\r\n", "ERROR\r\n"),
        reply("verbosity_without_level", "verbosity\r\n", "ERROR\r\n"),
        reply("uppercase_command", "GET n\r\n", "ERROR\r\n"),
        reply(
            "auth_line_on_plain_server",
            "auth user pass\r\n",
            "ERROR\r\n",
        ),
        // Meta commands.
        reply("mg_without_key", "mg\r\n", "ERROR\r\n"),
        reply("mg_key_251", cat(&[b"mg ", &k251, b" v\r\n"]), BAD_FORMAT),
        reply("mg_bad_flag", "mg n !\r\n", "CLIENT_ERROR invalid flag\r\n"),
        reply(
            "mg_opaque_too_long",
            format!("mg n O{}\r\n", "x".repeat(40)),
            "CLIENT_ERROR opaque token too long\r\n",
        ),
        reply(
            "mg_base64_invalid",
            "mg !!!! b v\r\n",
            "CLIENT_ERROR error decoding key\r\n",
        ),
        reply(
            "mg_ttl_2pow64",
            "mg n T18446744073709551616 v\r\n",
            "CLIENT_ERROR bad token in command line format\r\n",
        ),
        reply(
            "mg_200_flags",
            format!("mg n {}\r\n", "v ".repeat(200)),
            "CLIENT_ERROR options flags are too long\r\n",
        ),
        reply("ms_len_2pow64", "ms k 18446744073709551616\r\n", BAD_FORMAT),
        reply("ms_len_negative", "ms k -1\r\n", BAD_FORMAT),
        reply(
            "ms_len_lies",
            "ms k 2\r\nabcd\r\n",
            "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
        ),
        reply(
            "ms_ttl_negative_expires",
            "ms k 1 T-1\r\nx\r\nmg k v\r\n",
            "HD\r\nEN\r\n",
        ),
        reply(
            "ms_bad_mode",
            "ms k 1 MZ\r\nx\r\n",
            "CLIENT_ERROR invalid mode for ms M token\r\n",
        ),
        reply(
            "ms_flags_2pow32_truncates",
            "ms k 1 F4294967296\r\nx\r\n",
            "HD\r\n",
        ),
        reply(
            "ma_delta_2pow64",
            "ma n D18446744073709551616\r\n",
            "CLIENT_ERROR invalid or duplicate flag\r\n",
        ),
        reply("ma_wraps_at_2pow64", "ma max v\r\n", "VA 1\r\n0\r\n"),
        reply("ma_non_numeric", "ma s\r\n", NON_NUMERIC),
        reply(
            "md_cas_negative",
            "md s C-1\r\n",
            "CLIENT_ERROR invalid or duplicate flag\r\n",
        ),
        reply(
            "mn_after_quiet_gets",
            "mg n v q\r\nmg nope v q\r\nmn\r\n",
            "VA 2\r\n10\r\nMN\r\n",
        ),
        // Binary headers that overflow or lie.
        close(
            "bin_get_body_4gib",
            cat(&[&bin(0x80, 0, 1, 0, 0, u32::MAX), b"k"]),
            invalid(0x00),
        ),
        close(
            "bin_set_body_4gib",
            bin(0x80, 1, 0, 0, 0, u32::MAX),
            invalid(0x01),
        ),
        ours(close(
            "bin_key_len_exceeds_body",
            cat(&[&bin(0x80, 0, 100, 0, 0, 1), b"k"]),
            "",
        )),
        ours(close(
            "bin_extras_len_exceeds_body",
            cat(&[&bin(0x80, 0, 1, 200, 0, 1), b"k"]),
            "",
        )),
        ours(close(
            "bin_key_65535",
            bin_req(0x00, b"", &[b'k'; 65535], b""),
            invalid(0x00),
        )),
        close("bin_key_251", bin_req(0x00, b"", &k251, b""), invalid(0x00)),
        ours(reply(
            "bin_unknown_opcode",
            bin_req(0xfe, b"", b"k", b""),
            unknown(0xfe),
        )),
        close(
            "bin_set_without_extras",
            bin_req(0x01, b"", b"k", b"v"),
            invalid(0x01),
        ),
        close(
            "bin_get_with_extras",
            bin_req(0x00, &[0; 4], b"k", b""),
            invalid(0x00),
        ),
        close(
            "bin_get_empty_key",
            bin_req(0x00, b"", b"", b""),
            invalid(0x00),
        ),
        close(
            "bin_flush_3_byte_extras",
            bin_req(0x08, &[0; 3], b"", b""),
            invalid(0x08),
        ),
        reply(
            "bin_set_too_large_is_swallowed",
            bin_req(0x01, &[0; 8], b"k", &vec![b'x'; 2_000_000]),
            bin_err(0x01, 3, "Too large."),
        ),
        reply(
            "bin_incr_non_numeric",
            bin_req(0x05, &delta(1), b"s", b""),
            bin_err(0x05, 6, "Non-numeric server-side value for incr or decr"),
        ),
        // A 0x81 first byte is not binary: it starts a text line.
        pending(
            "response_magic_is_a_text_line",
            bin_req(0x00, b"", b"n", b"")[..25].to_vec(),
        ),
        // SASL on a server without it.
        reply(
            "bin_sasl_list_mechs_on_plain",
            bin_req(0x20, b"", b"", b""),
            unknown(0x20),
        ),
        reply(
            "bin_sasl_auth_on_plain",
            bin_req(0x21, b"", b"PLAIN", b"\0u\0p"),
            unknown(0x21),
        ),
        reply(
            "bin_sasl_step_on_plain",
            bin_req(0x22, b"", b"PLAIN", b"x"),
            unknown(0x22),
        ),
        // Truncated requests followed by silence.
        pending("truncated_text_value", "set k 0 0 10\r\nabc"),
        pending("truncated_text_line", "get n"),
        pending("truncated_meta_value", "ms k 10\r\nabc"),
        pending(
            "truncated_bin_header",
            bin_req(0x00, b"", b"n", b"")[..12].to_vec(),
        ),
        pending(
            "truncated_bin_body",
            bin_req(0x01, &[0; 8], b"k", &[b'x'; 100])[..40].to_vec(),
        ),
    ]
}

/// Send `input` from a helper thread (the server may answer, or close,
/// before it has read all of it) and read until `want` bytes have arrived
/// or the server closes. Returns the bytes and whether it closed.
fn exchange(stream: &TcpStream, input: &[u8], want: usize, until_close: bool) -> (Vec<u8>, bool) {
    let mut writer = stream.try_clone().expect("clone stream");
    let input = input.to_vec();
    let sender = std::thread::spawn(move || {
        // A close mid-send (EPIPE / reset) is an expected outcome here.
        let _ = writer.write_all(&input);
    });
    let mut reader = stream;
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let closed = loop {
        if got.len() >= want && !until_close {
            break false;
        }
        match reader.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                break true
            }
            Err(e) => panic!("read failed after {} bytes: {e}", got.len()),
        }
    };
    sender.join().expect("sender thread");
    (got, closed)
}

fn connect(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect(server.addr).expect("connect");
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

#[test]
fn hostile_inputs_get_their_reply_and_leave_the_daemon_serving() {
    let oracle = common::is_memcached();
    let mut server = TestServer::spawn(&["-m", &MEMORY_MIB.to_string(), "-t", "2"]);
    let pid = server.pid().expect("a spawned daemon");
    let cases = cases();
    assert!(cases.len() >= 60, "only {} hostile cases", cases.len());
    let mut peak = 0;
    for case in cases.iter().filter(|c| c.oracle || !oracle) {
        eprintln!("case {}", case.name);
        let mut setup = server.conn();
        setup.roundtrip(SETUP, SETUP_REPLY);
        drop(setup);

        let stream = connect(&server);
        // Held open until the end of the case when the request is pending.
        let mut idle = None;
        match &case.expect {
            Expect::Reply(want) | Expect::Close(want) => {
                let until_close = matches!(case.expect, Expect::Close(_));
                let (got, closed) = exchange(&stream, &case.input, want.len(), until_close);
                assert!(
                    got == *want,
                    "{}: reply mismatch\n  expected: \"{}\"\n       got: \"{}\"",
                    case.name,
                    common::show(&want[..want.len().min(300)]),
                    common::show(&got[..got.len().min(300)]),
                );
                assert_eq!(closed, until_close, "{}: closed?", case.name);
                if !until_close {
                    // Same connection, still in sync.
                    let mut c = common::Conn::from_stream(stream);
                    if case.input.first() == Some(&0x80) {
                        let version = common::binary::call(&mut c, &bin_req(0x0b, b"", b"", b""));
                        assert_eq!((version.opcode, version.status), (0x0b, 0), "{}", case.name);
                    } else {
                        c.assert_usable();
                    }
                }
            }
            Expect::Pending => {
                (&stream).write_all(&case.input).expect("send");
                idle = Some(stream);
            }
        }
        // Other clients are served while `idle` sits mid-request.
        server.conn().assert_usable();
        assert!(!server.exited(), "{}: the daemon died", case.name);
        if !oracle {
            let now = common::rss(pid);
            peak = peak.max(now);
            assert!(
                now < RSS_BOUND,
                "{}: RSS {now} bytes exceeds {RSS_BOUND}",
                case.name
            );
        }
        drop(idle);
    }
    eprintln!(
        "hostile: peak RSS {} KiB (bound {} KiB)",
        peak >> 10,
        RSS_BOUND >> 10
    );
}

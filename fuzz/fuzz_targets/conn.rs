//! A whole connection without its socket: the bytes a client sends, fed in
//! chunks of varying size to the same [`Exchange`] a connection runs,
//! against a real store. Checks that consumed counts stay within the input,
//! that the exchange always makes progress, and that the replies are
//! well-formed: text replies are whole `\r\n` lines whose data blocks match
//! their announced lengths; binary replies are whole response packets.
#![no_main]

use std::sync::Arc;

use ferrocache::server::{Exchange, Progress, Server, Shared};
use ferrocache::stats::ThreadStats;
use libfuzzer_sys::fuzz_target;

/// A fresh store per input, so each input replays alone. No listeners:
/// no `-l`, and UDP off.
fn server() -> (Arc<Shared>, Arc<ThreadStats>) {
    let argv = ["ferrocache", "-U", "0", "-m", "2", "-t", "1"];
    let mut config = ferrocache::config::parse_args(argv).expect("fuzz server flags");
    config.listen_addrs.clear();
    let server = Server::bind(config).expect("a server without listeners");
    let shared = Arc::clone(server.shared());
    let stats = shared.stats.register();
    (shared, stats)
}

fuzz_target!(|data: &[u8]| {
    // The first byte sets the read size, so requests split everywhere.
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 64) + 1;
    let (shared, stats) = server();
    let mut exchange = Exchange::new();
    let mut unparsed: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    'reads: for bytes in input.chunks(chunk) {
        unparsed.extend_from_slice(bytes);
        // Bounded: every call executes a request, consumes bytes or stops.
        for _ in 0..100_000 {
            let mut budget = 20;
            let sent = out.len();
            let (used, progress) =
                exchange.process(&shared, &stats, &unparsed, &mut out, sent, &mut budget);
            assert!(
                used <= unparsed.len(),
                "consumed {used} of {}",
                unparsed.len()
            );
            let stuck = used == 0 && budget == 20;
            unparsed.drain(..used);
            match progress {
                Progress::NeedInput => continue 'reads,
                Progress::Budget | Progress::Backpressure => {
                    assert!(!stuck, "{progress:?} without progress");
                }
                Progress::Close | Progress::Shutdown => break 'reads,
            }
        }
        panic!("the exchange never asked for more input");
    }
    match input.first() {
        Some(0x80) => check_binary(&out),
        _ => check_text(&out),
    }
});

/// Whole response packets, each with the response magic and a body that
/// holds its extras and key.
fn check_binary(mut out: &[u8]) {
    while !out.is_empty() {
        assert!(out.len() >= 24, "a truncated response header");
        assert_eq!(out[0], 0x81, "response magic");
        let key_len = usize::from(u16::from_be_bytes([out[2], out[3]]));
        let extras = usize::from(out[4]);
        let body = u32::from_be_bytes([out[8], out[9], out[10], out[11]]) as usize;
        assert!(key_len + extras <= body, "extras and key past the body");
        assert!(out.len() >= 24 + body, "a truncated response body");
        out = &out[24 + body..];
    }
}

/// Whole `\r\n` lines, each starting with one of memcached's reply words;
/// `VALUE`, `CONFIG` and meta `VA` lines are followed by exactly the data
/// block they announce.
fn check_text(mut out: &[u8]) {
    while !out.is_empty() {
        let nl = out
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or_else(|| {
                panic!("a reply without \\r\\n: {:?}", String::from_utf8_lossy(out))
            });
        let line = &out[..nl];
        out = &out[nl + 2..];
        let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let data_len = match words[0] {
            b"VALUE" | b"CONFIG" => Some(words.get(3).copied()),
            b"VA" => Some(words.get(1).copied()),
            _ => None,
        };
        if let Some(len) = data_len {
            let len: usize = len
                .and_then(|l| std::str::from_utf8(l).ok())
                .and_then(|l| l.parse().ok())
                .unwrap_or_else(|| panic!("no length in {:?}", String::from_utf8_lossy(line)));
            assert!(out.len() >= len + 2, "a truncated data block");
            assert_eq!(&out[len..len + 2], b"\r\n", "data block end");
            out = &out[len + 2..];
            continue;
        }
        let known = REPLY_WORDS.contains(&words[0])
            || words[0].iter().all(u8::is_ascii_digit) && !words[0].is_empty();
        assert!(
            known,
            "unknown reply line {:?}",
            String::from_utf8_lossy(line)
        );
    }
}

/// First words of memcached's text and meta replies (numbers are `incr`;
/// `ERROR:` is the refused `shutdown`, `Error` a failed `refresh_certs`).
const REPLY_WORDS: &[&[u8]] = &[
    b"END",
    b"STORED",
    b"NOT_STORED",
    b"EXISTS",
    b"NOT_FOUND",
    b"DELETED",
    b"TOUCHED",
    b"OK",
    b"ERROR:",
    b"Error",
    b"ERROR",
    b"CLIENT_ERROR",
    b"SERVER_ERROR",
    b"VERSION",
    b"STAT",
    b"RESET",
    b"ITEM",
    b"HD",
    b"NS",
    b"EX",
    b"NF",
    b"EN",
    b"MN",
    b"ME",
];

//! No input panics or wedges the daemon: thousands of random and malformed
//! request lines, each answered or closed, and the daemon still answers
//! `version` afterwards.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::TestServer;

/// xorshift64*: deterministic, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const COMMANDS: &[&str] = &[
    "get",
    "gets",
    "gat",
    "gats",
    "set",
    "add",
    "replace",
    "append",
    "prepend",
    "cas",
    "delete",
    "incr",
    "decr",
    "touch",
    "flush_all",
    "version",
    "verbosity",
    "cache_memlimit",
    "stats",
    "shutdown",
    "mg",
    "ms",
    "md",
    "ma",
    "mn",
    "me",
    "GET",
    "",
    " ",
    "quit",
];

const TOKENS: &[&str] = &[
    "k",
    "key",
    "0",
    "1",
    "-1",
    "100",
    "noreply",
    "18446744073709551616",
    "4294967296",
    "-9223372036854775808",
    "2147483647",
    "999999999999",
    "+5",
    "abc",
    "\t",
    "\x00",
    "\x7f",
    "\u{80}",
    "settings",
    "items",
    "slabs",
    "conns",
    "reset",
    "graceful",
    "b",
    "T10",
    "v",
    "q",
];

/// One random request: a command with random tokens, sometimes a data
/// block of a length that may lie, sometimes pure noise.
fn request(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    match rng.below(10) {
        2 | 3 => {
            // A storage command whose data block is the right length, one
            // short, or one long (a bad data chunk).
            let len = rng.below(40);
            let cmd = rng.pick(&["set", "add", "replace", "append", "prepend", "cas"]);
            let cas = if cmd == "cas" { " 1" } else { "" };
            write!(
                out,
                "{cmd} k{} {} {} {len}{cas}\r\n",
                rng.below(5),
                rng.below(3),
                rng.below(3)
            )
            .unwrap();
            let actual = (len + rng.below(3)).saturating_sub(1);
            let actual = if rng.below(2) == 0 { len } else { actual };
            for _ in 0..actual {
                out.push(b'0' + rng.below(10) as u8);
            }
        }
        0 => {
            for _ in 0..rng.below(300) {
                out.push(rng.next() as u8);
            }
        }
        1 => {
            let key: String = (0..rng.below(400)).map(|_| 'k').collect();
            write!(
                out,
                "{} {key} 0 0 1",
                rng.pick(&["set", "get", "incr", "touch"])
            )
            .unwrap();
        }
        _ => {
            out.extend_from_slice(rng.pick(COMMANDS).as_bytes());
            for _ in 0..rng.below(8) {
                out.push(b' ');
                out.extend_from_slice(rng.pick(TOKENS).as_bytes());
            }
        }
    }
    out.extend_from_slice(if rng.below(4) == 0 { b"\n" } else { b"\r\n" });
    if rng.below(3) == 0 {
        let n = rng.below(64);
        for _ in 0..n {
            out.push(rng.next() as u8);
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Send `bytes`, half-close, and read whatever comes back until the server
/// closes (bounded by the read timeout).
fn exchange(server: &TestServer, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(server.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    sink
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

#[test]
fn random_and_malformed_requests_never_kill_the_daemon() {
    let mut server = TestServer::spawn(&["-t", "2"]);
    let mut rng = Rng(0x5eed_f00d_dead_beef);
    let mut replies = Vec::new();
    // One request per connection, then whole pipelines of them.
    for i in 0..1200 {
        let req = request(&mut rng);
        replies.extend(exchange(&server, &req));
        if i % 100 == 0 {
            assert!(
                !server.exited(),
                "daemon died after request {i}: {:?}",
                String::from_utf8_lossy(&req)
            );
            server.conn().assert_usable();
        }
    }
    for _ in 0..50 {
        let mut pipeline = Vec::new();
        for _ in 0..40 {
            pipeline.extend_from_slice(&request(&mut rng));
        }
        replies.extend(exchange(&server, &pipeline));
    }
    assert!(!server.exited(), "daemon died");
    // The inputs did reach the parser and the store, not just a closed door.
    let (errors, client_errors, stored) = (
        count(&replies, b"ERROR\r\n"),
        count(&replies, b"CLIENT_ERROR "),
        count(&replies, b"STORED\r\n"),
    );
    eprintln!("replies: {errors} ERROR, {client_errors} CLIENT_ERROR, {stored} STORED");
    assert!(errors > 500 && client_errors > 50 && stored > 0);
    server.conn().assert_usable();
}

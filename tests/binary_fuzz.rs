//! Random and truncated binary packets (10,000 cases) must never take the
//! daemon down: after every batch a fresh connection still gets answers.
//!
//! Cases are generated from a fixed seed (reproducible): valid packets of
//! every opcode with one field mutated, random headers with small and huge
//! claimed lengths, and prefixes of valid packets cut at a random byte.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use common::binary::{call, req};
use common::TestServer;

const CASES: usize = 10_000;
const CASES_PER_CONN: usize = 20;

/// xorshift64*: small, deterministic, good enough to spread cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn case(rng: &mut Rng) -> Vec<u8> {
    // Opcodes 0x00..=0x25 cover every defined one and a few unknown ones.
    let opcode = rng.below(0x26) as u8;
    let odd = rng.below(32) as usize;
    let n = [0, 4, 8, 20, odd][rng.below(5) as usize];
    let extras = rng.bytes(n);
    let n = [0, 1, 10, 250, 251][rng.below(5) as usize];
    let key = rng.bytes(n);
    let n = [0, 1, 100, 3000][rng.below(4) as usize];
    let value = rng.bytes(n);
    let mut p = req(opcode, &extras, &key, &value, rng.next() as u32, rng.next());
    match rng.below(6) {
        // Valid framing.
        0 | 1 => {}
        // A random byte of the header changed (magic, lengths, ...).
        2 => {
            let i = rng.below(24) as usize;
            p[i] = rng.next() as u8;
        }
        // A claimed body length: tiny, random, or enormous.
        3 => {
            let (small, any) = (rng.below(64) as u32, rng.next() as u32);
            let len = [0, small, any, u32::MAX][rng.below(4) as usize];
            p[8..12].copy_from_slice(&len.to_be_bytes());
        }
        // Truncated anywhere.
        4 => {
            let cut = rng.below(p.len() as u64) as usize;
            p.truncate(cut)
        }
        // Pure noise after a valid magic.
        _ => {
            let n = 1 + rng.below(80) as usize;
            p = rng.bytes(n);
            p[0] = 0x80;
        }
    }
    p
}

/// Send a batch, close our side, and read whatever comes until the server
/// closes (or the read times out: a server waiting for more is fine).
fn run_batch(server: &TestServer, packets: &[Vec<u8>]) {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    for p in packets {
        if s.write_all(p).is_err() {
            break; // the server closed on an earlier packet
        }
    }
    let _ = s.shutdown(Shutdown::Write);
    let mut sink = [0u8; 64 * 1024];
    while let Ok(n) = s.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}

#[track_caller]
fn assert_alive(server: &TestServer, round: usize) {
    let mut c = server.conn();
    let r = call(&mut c, &req(0x0a, &[], &[], &[], round as u32, 0));
    assert_eq!(
        (r.opcode, r.status, r.opaque),
        (0x0a, 0, round as u32),
        "after batch {round}"
    );
    let r = call(&mut c, &req(0x01, &[0; 8], b"alive", b"yes", 1, 0));
    assert_eq!(r.status, 0, "after batch {round}");
    let r = call(&mut c, &req(0x00, &[], b"alive", &[], 2, 0));
    assert_eq!(
        (r.status, r.value.as_slice()),
        (0, &b"yes"[..]),
        "after batch {round}"
    );
}

#[test]
fn random_and_truncated_packets_never_take_the_daemon_down() {
    let server = TestServer::start(&[]);
    let mut rng = Rng(0x5eed_f00d_dead_beef);
    let mut done = 0;
    let mut round = 0;
    while done < CASES {
        let batch: Vec<Vec<u8>> = (0..CASES_PER_CONN).map(|_| case(&mut rng)).collect();
        done += batch.len();
        run_batch(&server, &batch);
        round += 1;
        if round % 25 == 0 {
            assert_alive(&server, round);
        }
    }
    assert_alive(&server, round);
    assert!(done >= CASES);
}

//! `-U`: text, meta and binary requests over UDP with memcached's 8-byte
//! frame header, sent as raw datagrams. The binary table also runs against
//! memcached (`FERROCACHE_TEST_BIN=/usr/bin/memcached`).

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::binary::{delta_extras, req, set_extras};
use common::{free_port, root_user_args, server_bin, wait_for_port};
use ferrocache::server::{Server, ServerHandle};

/// A server with UDP on a probed free port; stopped on drop.
struct UdpServer {
    port: u16,
    handle: Option<ServerHandle>,
    child: Option<Child>,
}

impl UdpServer {
    /// The server under test: `$FERROCACHE_TEST_BIN` (memcached, the
    /// oracle) as a child process when set, else in this process.
    fn start_any() -> UdpServer {
        if std::env::var_os("FERROCACHE_TEST_BIN").map_or(true, |b| b.is_empty()) {
            return UdpServer::start();
        }
        for _ in 0..5 {
            let (tcp, udp) = (free_port(), udp_port());
            let mut cmd = Command::new(server_bin());
            cmd.args(["-l", "127.0.0.1", "-t", "1"])
                .args(["-p", &tcp.to_string(), "-U", &udp.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // memcached and ferrocache refuse to run as root without -u.
            cmd.args(root_user_args());
            let mut child = cmd.spawn().expect("spawn the server under test");
            let addr = SocketAddr::from(([127, 0, 0, 1], tcp));
            for _ in 0..100 {
                if wait_for_port(addr, Duration::from_millis(100)) {
                    return UdpServer {
                        port: udp,
                        handle: None,
                        child: Some(child),
                    };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break; // Lost a port race: try others.
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the server under test did not start");
    }

    fn start() -> UdpServer {
        for _ in 0..5 {
            let port = udp_port();
            let port_arg = port.to_string();
            let argv = [
                "ferrocache",
                "-p",
                "-1",
                "-l",
                "127.0.0.1",
                "-U",
                &port_arg,
                "-t",
                "1",
            ];
            let config = ferrocache::config::parse_args(argv).unwrap();
            // Someone may have taken the port since the probe: try another.
            let Ok(server) = Server::bind(config) else {
                continue;
            };
            let handle = server.start().unwrap();
            return UdpServer {
                port,
                handle: Some(handle),
                child: None,
            };
        }
        panic!("no free UDP port after 5 tries");
    }

    fn client(&self) -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(("127.0.0.1", self.port)).unwrap();
        s
    }
}

impl Drop for UdpServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A UDP port that was free a moment ago.
fn udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port()
}

fn frame(request_id: u16, sequence: u16, count: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    for v in [request_id, sequence, count, 0] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d.extend_from_slice(payload);
    d
}

/// Receive one reply (all its datagrams); checks each header and returns
/// the reassembled payload.
#[track_caller]
fn recv_reply(s: &UdpSocket, request_id: u16) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut parts: Vec<Option<Vec<u8>>> = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = s.recv(&mut buf).expect("a reply datagram");
        assert!((8..=1400).contains(&n), "datagram of {n} bytes");
        let h = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
        assert_eq!(h(0), request_id, "request id echoed");
        let (seq, count) = (h(2) as usize, h(4) as usize);
        assert_eq!(h(6), 0, "reserved");
        assert!(seq < count, "sequence {seq} of {count}");
        if parts.is_empty() {
            parts.resize(count, None);
        }
        assert_eq!(parts.len(), count, "datagram count stable");
        parts[seq] = Some(buf[8..n].to_vec());
        if parts.iter().all(Option::is_some) {
            return parts.into_iter().flatten().flatten().collect();
        }
    }
}

/// Nothing arrives within a short wait (a dropped request).
fn assert_no_reply(s: &UdpSocket) {
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 2048];
    if let Ok(n) = s.recv(&mut buf) {
        panic!("unexpected reply {:?}", buf[..n].escape_ascii().to_string());
    }
}

#[test]
fn single_datagram_replies_echo_the_request_id() {
    let server = UdpServer::start();
    let c = server.client();
    let table: &[(u16, &[u8], &[u8])] = &[
        (1, b"set k 5 0 2\r\nhi\r\n", b"STORED\r\n"),
        (0xffff, b"get k\r\n", b"VALUE k 5 2\r\nhi\r\nEND\r\n"),
        (3, b"add k 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
        (4, b"set n 0 0 1\r\n7\r\n", b"STORED\r\n"),
        (5, b"incr n 5\r\n", b"12\r\n"),
        (6, b"decr n 2\r\n", b"10\r\n"),
        (7, b"delete k\r\n", b"DELETED\r\n"),
        (8, b"get k\r\n", b"END\r\n"),
        (9, b"bogus\r\n", b"ERROR\r\n"),
        (11, b"mn\r\n", b"MN\r\n"),
    ];
    for &(id, request, want) in table {
        c.send(&frame(id, 0, 1, request)).unwrap();
        let got = recv_reply(&c, id);
        assert_eq!(
            got.escape_ascii().to_string(),
            want.escape_ascii().to_string(),
            "{}",
            request.escape_ascii()
        );
    }
    // Several requests in one datagram: one reply each, framed on its own
    // (sequence numbers start again), as memcached 1.6.18 sends them.
    c.send(&frame(10, 0, 1, b"get n\r\nget n\r\n")).unwrap();
    for _ in 0..2 {
        let got = recv_reply(&c, 10);
        assert_eq!(
            got,
            b"VALUE n 0 2\r\n10\r\nEND\r\n",
            "{}",
            got.escape_ascii()
        );
    }
    // A text `noreply` is answered by nothing at all.
    c.send(&frame(12, 0, 1, b"set n 0 0 1 noreply\r\n5\r\nget n\r\n"))
        .unwrap();
    assert_eq!(recv_reply(&c, 12), b"VALUE n 0 1\r\n5\r\nEND\r\n");
    assert_no_reply(&c);
}

#[test]
fn large_values_come_back_in_several_datagrams() {
    let server = UdpServer::start();
    let c = server.client();
    // The request must fit one datagram (at most 65,507 bytes); the reply
    // needs 44 of memcached's 1400-byte datagrams.
    let value: Vec<u8> = (0..60_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut set = format!("set big 0 0 {}\r\n", value.len()).into_bytes();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    c.send(&frame(42, 0, 1, &set)).unwrap();
    assert_eq!(recv_reply(&c, 42), b"STORED\r\n");

    c.send(&frame(43, 0, 1, b"get big\r\n")).unwrap();
    let mut want = format!("VALUE big 0 {}\r\n", value.len()).into_bytes();
    want.extend_from_slice(&value);
    want.extend_from_slice(b"\r\nEND\r\n");
    let got = recv_reply(&c, 43);
    assert!(
        got == want,
        "reassembled reply differs ({} bytes)",
        got.len()
    );
}

#[test]
fn malformed_headers_are_dropped_without_harm() {
    let server = UdpServer::start();
    let c = server.client();
    let bad: &[&[u8]] = &[
        b"",
        b"\x00",
        b"\x00\x01\x00\x00\x00\x01\x00",
        // A header and nothing else.
        b"\x00\x01\x00\x00\x00\x01\x00\x00",
        // Multi-datagram requests are not supported (memcached drops them).
        &frame(2, 0, 2, b"get a\r\n"),
        &frame(3, 1, 0, b"get a\r\n"),
        // A truncated request.
        &frame(4, 0, 1, b"set a 0 0 10\r\nabc"),
    ];
    for d in bad {
        c.send(d).unwrap();
        assert_no_reply(&c);
    }
    c.send(&frame(5, 0, 1, b"version\r\n")).unwrap();
    let v = recv_reply(&c, 5);
    assert!(v.starts_with(b"VERSION "), "{}", v.escape_ascii());
}

#[test]
fn sasl_with_udp_is_refused_at_start() {
    let config =
        ferrocache::config::parse_args(["ferrocache", "-S", "-U", "11211", "-p", "0"]).unwrap();
    let msg = config.unsupported().expect("refused");
    assert!(msg.contains("UDP"), "{msg}");
}

// ---- the binary protocol over UDP -----------------------------------------

const GET: u8 = 0x00;
const SET: u8 = 0x01;
const DELETE: u8 = 0x04;
const INCR: u8 = 0x05;
const DECR: u8 = 0x06;
const GETQ: u8 = 0x09;
const NOOP: u8 = 0x0a;
const GETK: u8 = 0x0c;
const GETKQ: u8 = 0x0d;
const SETQ: u8 = 0x11;
const DELETEQ: u8 = 0x14;
const INCRQ: u8 = 0x15;

/// A response packet as the table states it: the CAS only as "non-zero",
/// since servers number their items differently.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packet {
    opcode: u8,
    status: u16,
    opaque: u32,
    cas_set: bool,
    extras: Vec<u8>,
    key: Vec<u8>,
    value: Vec<u8>,
}

fn packet(opcode: u8, status: u16, opaque: u32, cas_set: bool, body: [&[u8]; 3]) -> Packet {
    Packet {
        opcode,
        status,
        opaque,
        cas_set,
        extras: body[0].to_vec(),
        key: body[1].to_vec(),
        value: body[2].to_vec(),
    }
}

/// Split a reassembled reply into whole response packets.
#[track_caller]
fn packets(mut bytes: &[u8]) -> Vec<Packet> {
    let mut all = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 24, "a truncated header: {bytes:?}");
        assert_eq!(bytes[0], 0x81, "response magic");
        let key_len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let extras_len = usize::from(bytes[4]);
        let body_len = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let body = &bytes[24..24 + body_len];
        all.push(Packet {
            opcode: bytes[1],
            status: u16::from_be_bytes([bytes[6], bytes[7]]),
            opaque: u32::from_be_bytes(bytes[12..16].try_into().unwrap()),
            cas_set: bytes[16..24] != [0; 8],
            extras: body[..extras_len].to_vec(),
            key: body[extras_len..extras_len + key_len].to_vec(),
            value: body[extras_len + key_len..].to_vec(),
        });
        bytes = &bytes[24 + body_len..];
    }
    all
}

/// memcached 1.6.18 serves the binary protocol over UDP (its own t/udp.t
/// stores, reads, increments and deletes there): one datagram a request,
/// the request id echoed, quiet requests silent unless they fail.
#[test]
fn binary_requests_over_udp() {
    let server = UdpServer::start_any();
    let c = server.client();
    let flags = 0xdead_beef_u32.to_be_bytes();
    let no_create = u32::MAX;
    let n = |v: u64| v.to_be_bytes();
    let none: &[u8] = &[];
    #[allow(clippy::type_complexity)]
    let table: Vec<(u16, Vec<Vec<u8>>, Vec<Packet>)> = vec![
        (
            1,
            vec![req(SET, &set_extras(0xdead_beef, 0), b"k", b"hello", 11, 0)],
            vec![packet(SET, 0, 11, true, [none, none, none])],
        ),
        (
            2,
            vec![req(GET, &[], b"k", &[], 12, 0)],
            vec![packet(GET, 0, 12, true, [&flags, none, b"hello"])],
        ),
        (
            3,
            vec![req(GETK, &[], b"k", &[], 13, 0)],
            vec![packet(GETK, 0, 13, true, [&flags, b"k", b"hello"])],
        ),
        (
            4,
            vec![req(GET, &[], b"missing", &[], 14, 0)],
            vec![packet(GET, 1, 14, false, [none, none, b"Not found"])],
        ),
        (
            5,
            vec![req(SET, &set_extras(0, 0), b"n", b"10", 15, 0)],
            vec![packet(SET, 0, 15, true, [none, none, none])],
        ),
        (
            6,
            vec![req(INCR, &delta_extras(5, 0, no_create), b"n", &[], 16, 0)],
            vec![packet(INCR, 0, 16, true, [none, none, &n(15)])],
        ),
        (
            7,
            vec![req(DECR, &delta_extras(20, 0, no_create), b"n", &[], 17, 0)],
            vec![packet(DECR, 0, 17, true, [none, none, &n(0)])],
        ),
        (
            8,
            vec![req(
                INCR,
                &delta_extras(1, 0, no_create),
                b"nope",
                &[],
                18,
                0,
            )],
            vec![packet(INCR, 1, 18, false, [none, none, b"Not found"])],
        ),
        (
            9,
            vec![req(INCR, &delta_extras(1, 42, 0), b"fresh", &[], 19, 0)],
            vec![packet(INCR, 0, 19, true, [none, none, &n(42)])],
        ),
        (
            10,
            vec![req(DELETE, &[], b"k", &[], 20, 0)],
            vec![packet(DELETE, 0, 20, false, [none, none, none])],
        ),
        (
            11,
            vec![req(DELETE, &[], b"k", &[], 21, 0)],
            vec![packet(DELETE, 1, 21, false, [none, none, b"Not found"])],
        ),
        (
            12,
            vec![req(NOOP, &[], &[], &[], 22, 0)],
            vec![packet(NOOP, 0, 22, false, [none, none, none])],
        ),
        // Quiet requests that succeed answer nothing at all...
        (
            13,
            vec![req(SETQ, &set_extras(7, 0), b"q", b"quiet", 23, 0)],
            vec![],
        ),
        (
            14,
            vec![req(INCRQ, &delta_extras(1, 0, no_create), b"n", &[], 24, 0)],
            vec![],
        ),
        (15, vec![req(GETQ, &[], b"missing", &[], 25, 0)], vec![]),
        (16, vec![req(DELETEQ, &[], b"q", &[], 26, 0)], vec![]),
        // ...but a hit, and a failure, are answered.
        (
            17,
            vec![req(SETQ, &set_extras(7, 0), b"q", b"again", 27, 0)],
            vec![],
        ),
        (
            18,
            vec![req(GETQ, &[], b"q", &[], 28, 0)],
            vec![packet(GETQ, 0, 28, true, [&n(7)[4..], none, b"again"])],
        ),
        (
            19,
            vec![req(GETKQ, &[], b"q", &[], 29, 0)],
            vec![packet(GETKQ, 0, 29, true, [&n(7)[4..], b"q", b"again"])],
        ),
        (
            20,
            vec![req(DELETEQ, &[], b"missing", &[], 30, 0)],
            vec![packet(DELETEQ, 1, 30, false, [none, none, b"Not found"])],
        ),
        // The counter the quiet increment moved (a shorter number is
        // padded with spaces in place, as memcached does).
        (
            21,
            vec![req(GET, &[], b"n", &[], 31, 0)],
            vec![packet(GET, 0, 31, true, [&[0; 4], none, b"1 "])],
        ),
    ];
    for (id, requests, want) in table {
        for request in &requests {
            c.send(&frame(id, 0, 1, request)).unwrap();
        }
        if want.is_empty() {
            // memcached's answer to a silent request: a bare frame header,
            // datagram count 0.
            assert_eq!(recv_datagram(&c), frame(id, 0, 0, b""), "request id {id}");
            continue;
        }
        let got = packets(&recv_reply(&c, id));
        assert_eq!(got, want, "request id {id}");
    }
    // Several requests in one datagram: each reply framed on its own, a
    // bare header for the quiet one that succeeded.
    let mut batch = req(SETQ, &set_extras(1, 0), b"b", b"x", 41, 0);
    batch.extend(req(GETQ, &[], b"b", &[], 42, 0));
    batch.extend(req(NOOP, &[], &[], &[], 43, 0));
    c.send(&frame(40, 0, 1, &batch)).unwrap();
    assert_eq!(recv_datagram(&c), frame(40, 0, 0, b""));
    let hit = packet(GETQ, 0, 42, true, [&n(1)[4..], none, b"x"]);
    assert_eq!(packets(&recv_reply(&c, 40)), vec![hit]);
    let noop = packet(NOOP, 0, 43, false, [none, none, none]);
    assert_eq!(packets(&recv_reply(&c, 40)), vec![noop]);
}

/// One datagram, as it came.
#[track_caller]
fn recv_datagram(s: &UdpSocket) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    let n = s.recv(&mut buf).expect("a datagram");
    buf[..n].to_vec()
}

//! `-U`: text commands over UDP with memcached's 8-byte frame header, sent
//! as raw datagrams.

use std::net::UdpSocket;
use std::time::Duration;

use ferrocache::server::{Server, ServerHandle};

/// An in-process server with UDP on a probed free port; stopped on drop.
struct UdpServer {
    port: u16,
    handle: Option<ServerHandle>,
}

impl UdpServer {
    fn start() -> UdpServer {
        for _ in 0..5 {
            let port = UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.local_addr())
                .unwrap()
                .port();
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
    }
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
        // Several requests in one datagram: one reply.
        (
            10,
            b"get n\r\nget n\r\n",
            b"VALUE n 0 2\r\n10\r\nEND\r\nVALUE n 0 2\r\n10\r\nEND\r\n",
        ),
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

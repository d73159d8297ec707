//! Connection abuse: ten thousand concurrent connections, a client that
//! asks for a 100 MiB reply and never reads it, and connections that
//! half-close or reset in the middle of a value. The daemon runs as a child
//! process so its descriptors and RSS are its own.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Conn, TestServer};

/// Concurrent connections opened by the many-connections test.
const CONNS: u64 = 10_000;

/// Raise this process's soft RLIMIT_NOFILE to at least `want` (up to the
/// hard limit, or past it when privileged). Returns the new soft limit.
fn raise_own_fd_limit(want: u64) -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft >= want {
        return soft;
    }
    if setrlimit(Resource::RLIMIT_NOFILE, want, hard.max(want)).is_ok() {
        return want;
    }
    let _ = setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard);
    getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit").0
}

/// Poll `curr_connections` (which counts the asking connection) until it
/// is back to `baseline`; bounded at 30 s (a loaded machine may run the
/// daemon's workers seldom). On failure, show the connections it holds.
#[track_caller]
fn wait_for_connections(server: &TestServer, baseline: u64) {
    let mut probe = server.conn();
    let mut now = 0;
    for _ in 0..3000 {
        now = probe.stat("curr_connections");
        if now == baseline {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let conns: Vec<String> = probe
        .stats("conns")
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    panic!("curr_connections stays at {now}, baseline {baseline}; stats conns: {conns:?}");
}

#[test]
fn ten_thousand_concurrent_connections_are_served_and_cleaned_up() {
    let limit = raise_own_fd_limit(CONNS + 1024);
    assert!(
        limit >= CONNS + 100,
        "cannot raise this test's open files limit to {} (got {limit})",
        CONNS + 1024
    );
    let server = TestServer::spawn(&["-c", "20000", "-t", "2"]);
    // Only the asking connection, once the start-up probe is reaped.
    let baseline = 1;
    wait_for_connections(&server, baseline);

    let mut conns: Vec<TcpStream> = Vec::with_capacity(CONNS as usize);
    for i in 0..CONNS {
        // Bounded: a full backlog would otherwise retry SYNs for minutes.
        let s = TcpStream::connect_timeout(&server.addr, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connection {i} of {CONNS} failed: {e}"));
        s.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
        conns.push(s);
    }
    // Use every connection while all of them are open: a set on one key
    // each, then read it back, so each reply is this connection's own.
    for (i, s) in conns.iter_mut().enumerate() {
        write!(s, "set c{i} 0 0 {}\r\n{i}\r\n", i.to_string().len()).unwrap();
    }
    for (i, s) in conns.iter_mut().enumerate() {
        let mut got = [0u8; 8];
        s.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("conn {i}: {e}"));
        assert_eq!(&got, b"STORED\r\n", "conn {i}");
    }
    let mut probe = server.conn();
    assert_eq!(probe.stat("curr_connections"), baseline + CONNS);
    for (i, s) in conns.iter_mut().enumerate().step_by(97) {
        let want = format!("VALUE c{i} 0 {}\r\n{i}\r\nEND\r\n", i.to_string().len());
        write!(s, "get c{i}\r\n").unwrap();
        let mut got = vec![0u8; want.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, want.as_bytes(), "conn {i}");
    }
    drop(probe);
    drop(conns);
    wait_for_connections(&server, baseline);
    server.conn().assert_usable();
}

#[test]
fn conn_limit_of_spawned_daemon_answers_memcached_error() {
    if common::is_memcached() {
        return; // memcached reserves descriptors of its own against -c.
    }
    let server = TestServer::spawn(&["-c", "3"]);
    // The start-up probe's connection may not be reaped yet: wait for it.
    let mut first = server.conn();
    for _ in 0..1000 {
        if first.stat("curr_connections") == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut held = vec![first, server.conn(), server.conn()];
    for c in &mut held {
        c.assert_usable();
    }
    let mut over = server.conn();
    over.expect(b"ERROR Too many open connections\r\n");
    over.expect_closed();
    held[0].assert_usable();
}

/// Unsent reply bytes one connection may hold: the back-pressure bound
/// (1 MiB), one item past it (`-I`, 1 MiB here), and allocator slack. The
/// kernel's socket buffers are not the daemon's RSS.
const UNREAD_REPLY_BOUND: u64 = 8 << 20;

#[test]
fn unread_100_mib_multiget_does_not_grow_rss() {
    if common::is_memcached() {
        return; // memcached's RSS is not what this test is about.
    }
    // Ten 1,000,000-byte values, each asked for ten times per line: a
    // 100 MB reply per line, ten lines, and a client that never reads.
    let server = TestServer::spawn(&["-m", "64", "-t", "2"]);
    let pid = server.pid().expect("a spawned daemon");
    let mut writer = server.conn();
    let value = vec![b'v'; 1_000_000];
    for i in 0..10 {
        writer.send(format!("set big{i} 0 0 {}\r\n", value.len()).as_bytes());
        writer.send(&value);
        writer.roundtrip(b"\r\n", b"STORED\r\n");
    }
    let before = common::rss(pid);
    let keys: Vec<String> = (0..100).map(|i| format!("big{}", i % 10)).collect();
    let line = format!("get {}\r\n", keys.join(" "));
    let mut hog = TcpStream::connect(server.addr).unwrap();
    // A small receive buffer, so the kernel holds little of the reply.
    socket2::SockRef::from(&hog)
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
    for _ in 0..10 {
        hog.write_all(line.as_bytes()).unwrap();
    }
    // Wait until the daemon has started answering the hog and then stopped:
    // `get_hits` (only the hog reads) holds still for half a second.
    // Bounded at 30 s; everyone else is served meanwhile.
    let mut hits = 0;
    let mut still = 0;
    for _ in 0..600 {
        writer.roundtrip(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n");
        let now = writer.stat("get_hits");
        still = if now == hits && now > 0 { still + 1 } else { 0 };
        hits = now;
        if still == 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(still, 10, "get_hits never settled (last {hits})");
    // Back-pressure inside one request: the first line's 100 values are
    // not all answered, let alone the later lines.
    assert!(
        hits < 100,
        "{hits} values answered to a client that reads nothing"
    );
    let during = common::rss(pid);
    eprintln!(
        "unread multiget: {hits} values answered, RSS {} KiB before, {} KiB while stalled",
        before >> 10,
        during >> 10
    );
    assert!(
        during < before + UNREAD_REPLY_BOUND,
        "RSS grew from {before} to {during} bytes for an unread 100 MB reply"
    );
    writer.assert_usable();
    drop(hog);
    // Left: `writer` and the waiting probe (not a count taken earlier, which
    // may still include the start-up probe).
    wait_for_connections(&server, 2);
}

/// Send the start of a request and leave it unfinished.
fn partial_requests() -> Vec<(&'static str, Vec<u8>)> {
    let mut bin_set = vec![0x80, 0x01, 0, 1, 8, 0, 0, 0, 0, 0, 0, 109];
    bin_set.extend_from_slice(&[0; 12]);
    bin_set.extend_from_slice(&[0; 8]);
    bin_set.extend_from_slice(b"kvvv");
    vec![
        ("text_set_mid_value", b"set k 0 0 100\r\nabc".to_vec()),
        ("meta_set_mid_value", b"ms k 100\r\nabc".to_vec()),
        ("text_line_mid_key", b"get ab".to_vec()),
        ("binary_set_mid_value", bin_set),
    ]
}

#[test]
fn half_closed_and_reset_connections_mid_value_are_cleaned_up() {
    let server = TestServer::spawn(&["-t", "2"]);
    // Only the asking connection, once the start-up probe is reaped.
    let baseline = 1;
    wait_for_connections(&server, baseline);
    for (name, bytes) in partial_requests() {
        // Half-close: the server sees EOF mid-request and must drop it.
        let mut c = Conn::connect(server.addr);
        c.send(&bytes);
        c.shutdown_write();
        c.expect_closed();
        // Reset: SO_LINGER 0 turns the close into an RST.
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(&bytes).unwrap();
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
        wait_for_connections(&server, baseline);
        let mut check = server.conn();
        check.roundtrip(b"get k\r\n", b"END\r\n");
        eprintln!("{name}: cleaned up");
    }
}

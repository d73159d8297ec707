//! Connection handling: the `-c` limit, unix sockets, and a client that
//! stops reading its replies.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{Conn, TestServer};

#[test]
fn conn_limit_answers_too_many_open_connections() {
    if common::is_memcached() {
        return; // memcached reserves descriptors of its own against -c.
    }
    let server = TestServer::start(&["-c", "2"]);
    let mut a = server.conn();
    let mut b = server.conn();
    a.assert_usable();
    b.assert_usable();
    let mut c = server.conn();
    c.expect(b"ERROR Too many open connections\r\n");
    c.expect_closed();
    drop(a);
    // The freed slot is taken again once the server has seen the close.
    let mut ok = false;
    for _ in 0..100 {
        let mut d = server.conn();
        d.send(b"version\r\n");
        let line = d.read_line();
        if line.starts_with(b"VERSION ") {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ok, "a slot freed by a close is never reused");
    b.assert_usable();
}

#[test]
fn unix_socket_serves_like_tcp() {
    let dir = std::env::temp_dir().join(format!("ferrocache-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let path_str = path.to_str().unwrap().to_string();
    let _server = TestServer::start(&["-s", &path_str, "-a", "600"]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "-a sets the socket's permissions");
    let mut s = UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"set u 5 0 2\r\nhi\r\nget u\r\n").unwrap();
    let want = b"STORED\r\nVALUE u 5 2\r\nhi\r\nEND\r\n";
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_that_never_reads_does_not_stall_others() {
    let server = TestServer::start(&["-t", "1"]);
    let mut setter = server.conn();
    let value = vec![b'x'; 500 * 1024];
    let mut req = b"set big 0 0 512000\r\n".to_vec();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    setter.roundtrip(&req, b"STORED\r\n");

    // Ask for 200 MiB of replies and never read them. The server must stop
    // parsing this connection instead of buffering all of it.
    let mut hog = std::net::TcpStream::connect(server.addr).unwrap();
    let gets = b"get big\r\n".repeat(400);
    hog.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = hog.write_all(&gets);

    // Meanwhile another client on the same (single) worker is served.
    let mut other = Conn::connect(server.addr);
    for _ in 0..100 {
        other.roundtrip(b"set k 0 0 1\r\nv\r\n", b"STORED\r\n");
    }
    other.assert_usable();
    drop(hog);
}

/// Read from `s` until EOF or reset (true) or `rounds` read timeouts pass.
fn closed_within(s: &mut std::net::TcpStream, rounds: usize) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 256];
    for _ in 0..rounds {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => panic!("unexpected bytes: {:?}", common::show(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => {}
        }
    }
    false
}

#[test]
fn idle_timeout_closes_an_idle_connection_and_counts_it() {
    let server = TestServer::start(&["-o", "idle_timeout=1"]);
    let mut c = server.conn();
    let settings = c.stats("settings");
    let field = settings.iter().find(|(k, _)| k == "idle_timeout");
    assert_eq!(field.map(|(_, v)| v.as_str()), Some("1"));
    let before = c.stat("idle_kicks");
    drop(c);

    let mut idle = std::net::TcpStream::connect(server.addr).unwrap();
    idle.write_all(b"version\r\n").unwrap();
    let mut line = [0u8; 8];
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    idle.read_exact(&mut line).unwrap();
    assert_eq!(&line, b"VERSION ");
    let mut rest = Vec::new();
    while !rest.ends_with(b"\r\n") {
        let mut b = [0u8; 1];
        idle.read_exact(&mut b).unwrap();
        rest.push(b[0]);
    }
    assert!(
        closed_within(&mut idle, 10),
        "an idle connection stayed open"
    );

    let mut c = server.conn();
    assert!(c.stat("idle_kicks") > before, "idle_kicks did not count it");
}

#[test]
fn idle_timeout_keeps_a_connection_that_keeps_sending_commands() {
    let server = TestServer::start(&["-o", "idle_timeout=1"]);
    let mut active = server.conn();
    // Four seconds of a command every quarter second: never idle for 1 s.
    for _ in 0..16 {
        active.roundtrip(b"mn\r\n", b"MN\r\n");
        std::thread::sleep(Duration::from_millis(250));
    }
    active.assert_usable();
}

/// Reliability: a client that dribbles a command one byte a second never
/// completes one, so it is idle (memcached counts from the last *completed*
/// command) and must not hold a connection slot forever.
#[test]
fn a_client_sending_one_byte_per_second_is_closed_by_the_idle_timeout() {
    let server = TestServer::start(&["-o", "idle_timeout=2"]);
    let mut slow = std::net::TcpStream::connect(server.addr).unwrap();
    let line = b"set trickle 0 0 100000\r\n";
    let mut closed = false;
    // At most 10 bytes, about 10 s: the timeout is 2 s.
    for &byte in line.iter().cycle().take(10) {
        if slow.write_all(&[byte]).is_err() || closed_within(&mut slow, 1) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickling client was never closed");
    let mut c = server.conn();
    assert!(c.stat("idle_kicks") >= 1);
    c.assert_usable();
}

#[test]
fn stats_conns_lists_listeners_and_connections_as_memcached_does() {
    let server = TestServer::start(&[]);
    let mut other = server.conn();
    other.assert_usable();
    // Half a data block: the connection waits in conn_nread.
    let mut nread = server.conn();
    nread.send(b"set half 0 0 10\r\nabc");
    let mut c = server.conn();
    // The server may not have read `nread`'s bytes yet: ask until it has.
    let mut stats = Vec::new();
    for _ in 0..100 {
        stats = c.stats("conns");
        if stats.iter().any(|(_, v)| v == "conn_nread") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let listen = format!("tcp:{}", server.addr);
    // Every line is `<fd>:<field>`, fields in memcached's order.
    let mut by_fd: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (name, value) in &stats {
        let (fd, field) = name.split_once(':').expect("fd:field");
        assert!(fd.parse::<u32>().is_ok(), "{name}");
        match by_fd.last_mut() {
            Some((f, fields)) if f == fd => fields.push((field.into(), value.clone())),
            _ => by_fd.push((fd.into(), vec![(field.into(), value.clone())])),
        }
    }
    let fds: Vec<u32> = by_fd.iter().map(|(f, _)| f.parse().unwrap()).collect();
    assert!(
        fds.windows(2).all(|w| w[0] < w[1]),
        "not in fd order: {fds:?}"
    );
    let names = |fields: &[(String, String)]| -> Vec<String> {
        fields.iter().map(|(k, _)| k.clone()).collect()
    };
    let value = |fields: &[(String, String)], k: &str| -> String {
        fields.iter().find(|(n, _)| n == k).unwrap().1.clone()
    };
    let listener = by_fd
        .iter()
        .find(|(_, f)| value(f, "state") == "conn_listening")
        .expect("the listener is listed");
    assert_eq!(names(&listener.1), ["addr", "state", "secs_since_last_cmd"]);
    assert_eq!(value(&listener.1, "addr"), listen);
    let clients: Vec<_> = by_fd
        .iter()
        .filter(|(_, f)| value(f, "state") != "conn_listening")
        .collect();
    assert_eq!(clients.len(), 3, "{stats:?}");
    let mut states: Vec<String> = clients.iter().map(|(_, f)| value(f, "state")).collect();
    states.sort();
    assert_eq!(states, ["conn_nread", "conn_parse_cmd", "conn_read"]);
    for (_, f) in clients {
        assert_eq!(
            names(f),
            ["addr", "listen_addr", "state", "secs_since_last_cmd"]
        );
        assert!(value(f, "addr").starts_with("tcp:127.0.0.1:"));
        assert_eq!(value(f, "listen_addr"), listen);
        assert!(value(f, "secs_since_last_cmd").parse::<u32>().is_ok());
    }
    drop(nread);
    other.assert_usable();
}

/// `-o read_buf_mem_limit=1`: 1 MiB of read buffers for all connections
/// (memcached: 64 buffers of 16 KiB). Connections that hold a partial
/// request keep a buffer; once none is left, a connection with input is
/// closed and counted in `read_buf_oom`. Idle connections hold none.
#[test]
fn read_buf_mem_limit_closes_connections_it_has_no_buffer_for() {
    let server = TestServer::start(&["-t", "1", "-o", "read_buf_mem_limit=1"]);
    let mut c = server.conn();
    let settings = c.stats("settings");
    let limit = settings.iter().find(|(k, _)| k == "read_buf_mem_limit");
    assert_eq!(limit.map(|(_, v)| v.as_str()), Some("1048576"));
    drop(c);

    // 80 clients, each with half a command buffered: 64 buffers at most.
    let mut holders: Vec<std::net::TcpStream> = (0..80)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(server.addr).unwrap();
            s.write_all(b"set k 0 0 10\r\nab").unwrap();
            s
        })
        .collect();
    let mut open: Vec<bool> = vec![true; holders.len()];
    for s in &holders {
        s.set_nonblocking(true).unwrap();
    }
    // The server reads them in its own time: look until 16 are closed.
    for _ in 0..250 {
        for (s, o) in holders.iter_mut().zip(open.iter_mut()) {
            let mut b = [0u8; 64];
            match s.read(&mut b) {
                Ok(0) => *o = false,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => *o = false,
                _ => {}
            }
        }
        if open.iter().filter(|o| !**o).count() >= 16 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let closed = open.iter().filter(|o| !**o).count();
    assert!(
        closed >= 16,
        "only {closed} of 80 connections were refused a buffer"
    );
    assert!(closed < 80, "every connection was refused a buffer");
    drop(holders);

    // Once the buffers are back, clients are served again.
    let mut served = None;
    for _ in 0..100 {
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(b"version\r\n");
        let mut b = [0u8; 8];
        if s.read_exact(&mut b).is_ok() && &b == b"VERSION " {
            served = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        served.is_some(),
        "no connection is served after the holders left"
    );
    let mut c = server.conn();
    let stats = c.stats("");
    let get = |k: &str| -> u64 {
        stats
            .iter()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .parse()
            .unwrap()
    };
    assert!(get("read_buf_oom") >= 16, "{stats:?}");
    // Only the connection asking holds a buffer now: the idle one does not.
    // (memcached counts the buffers it keeps cached for reuse too.)
    if !common::is_memcached() {
        assert_eq!(get("read_buf_count"), 1);
        assert_eq!(get("read_buf_bytes"), 16384);
    }
}

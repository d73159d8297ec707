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

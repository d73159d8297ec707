//! With authentication on (`-Y` ASCII auth, `-S` SASL), every command of
//! every protocol sent before logging in is refused: no data comes back and
//! nothing changes in the store.

mod common;

use std::path::PathBuf;

use common::binary::{read, req};
use common::{is_memcached, Conn, TestServer};

const SECRET: &[u8] = b"hidden-value";

fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrocache-unauth-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("creds");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every text and meta command, with plausible arguments.
const TEXT_COMMANDS: &[&[u8]] = &[
    b"get s\r\n",
    b"gets s\r\n",
    b"gat 0 s\r\n",
    b"gats 0 s\r\n",
    b"set s 0 0 1\r\nx\r\n",
    b"add z 0 0 1\r\nx\r\n",
    b"replace s 0 0 1\r\nx\r\n",
    b"append s 0 0 1\r\nx\r\n",
    b"prepend s 0 0 1\r\nx\r\n",
    b"cas s 0 0 1 1\r\nx\r\n",
    b"delete s\r\n",
    b"incr n 1\r\n",
    b"decr n 1\r\n",
    b"touch s 1\r\n",
    b"flush_all\r\n",
    b"flush_all 0\r\n",
    b"version\r\n",
    b"verbosity 1\r\n",
    b"stats\r\n",
    b"stats items\r\n",
    b"stats slabs\r\n",
    b"stats settings\r\n",
    b"stats conns\r\n",
    b"stats detail dump\r\n",
    b"cache_memlimit 1\r\n",
    b"shutdown\r\n",
    b"lru_crawler metadump all\r\n",
    b"slabs reassign 1 2\r\n",
    b"config get cluster\r\n",
    b"mg s v\r\n",
    b"mg s k v t f c\r\n",
    b"ms s 1\r\nx\r\n",
    b"ms z 1 MA\r\nx\r\n",
    b"md s\r\n",
    b"ma n\r\n",
    b"mn\r\n",
    b"me s\r\n",
    b"bogus\r\n",
];

/// Store `s` = SECRET and `n` = 5 on an authenticated connection.
fn seed(c: &mut Conn) {
    c.send(b"set s 0 0 12\r\n");
    c.send(SECRET);
    c.roundtrip(b"\r\n", b"STORED\r\n");
    c.roundtrip(b"set n 0 0 1\r\n5\r\n", b"STORED\r\n");
}

fn assert_untouched(c: &mut Conn) {
    let mut want = b"VALUE s 0 12\r\n".to_vec();
    want.extend_from_slice(SECRET);
    want.extend_from_slice(b"\r\nVALUE n 0 1\r\n5\r\nEND\r\n");
    c.roundtrip(b"get s n z\r\n", &want);
}

#[test]
fn ascii_auth_refuses_every_text_and_meta_command_before_login() {
    let server = TestServer::start(&["-Y", file("ascii", "alice:secret\n").to_str().unwrap()]);
    let mut admin = server.conn();
    let login = b"set auth 0 0 12\r\nalice secret\r\n";
    admin.roundtrip(login, b"STORED\r\n");
    seed(&mut admin);
    let mut c = server.conn();
    for cmd in TEXT_COMMANDS {
        c.send(cmd);
        let line = c.read_line();
        assert!(
            line.starts_with(b"CLIENT_ERROR "),
            "{}: got \"{}\"",
            common::show(cmd),
            common::show(&line)
        );
    }
    assert_untouched(&mut admin);
    // Still refused, still connected: the refusals did not log it in.
    c.roundtrip(b"get s\r\n", b"CLIENT_ERROR unauthenticated\r\n");
}

/// Under `-Y` memcached speaks only text, so a binary packet is read as a
/// text line (it ends at the first newline) and refused like any other
/// command: no value, no side effect, whatever the opcode.
#[test]
fn ascii_auth_refuses_binary_packets_as_unauthenticated_text() {
    let server = TestServer::start(&["-Y", file("ascii-bin", "alice:secret\n").to_str().unwrap()]);
    let mut admin = server.conn();
    admin.roundtrip(b"set auth 0 0 12\r\nalice secret\r\n", b"STORED\r\n");
    seed(&mut admin);
    for mut packet in binary_requests() {
        packet.extend_from_slice(b"\r\n");
        let mut c = server.conn();
        c.send(&packet);
        let line = c.read_line();
        assert_eq!(
            line, b"CLIENT_ERROR unauthenticated\r\n",
            "opcode {:#04x}",
            packet[1]
        );
    }
    assert_untouched(&mut admin);
}

/// Every binary opcode but quit (0x07) and quitq (0x17), with the body its
/// request takes, plus the SASL-free opcodes memcached knows.
fn binary_requests() -> Vec<Vec<u8>> {
    let set = [0u8; 8];
    let delta = [0u8; 20];
    let four = [0u8; 4];
    let mut out = Vec::new();
    for opcode in 0u8..=0x1e {
        let (extras, key, value): (&[u8], &[u8], &[u8]) = match opcode {
            0x07 | 0x17 => continue,
            0x01..=0x03 | 0x11..=0x13 => (&set, b"s", b"x"),
            0x05 | 0x06 | 0x15 | 0x16 => (&delta, b"n", b""),
            0x0e | 0x0f | 0x19 | 0x1a => (b"", b"s", b"x"),
            0x08 | 0x18 => (&four, b"", b""),
            0x1b => (&four, b"", b""),
            0x1c..=0x1e => (&four, b"s", b""),
            0x0a | 0x0b | 0x10 => (b"", b"", b""),
            _ => (b"", b"s", b""),
        };
        out.push(req(opcode, extras, key, value, 0x0102_0304, 0));
    }
    out
}

#[test]
fn sasl_refuses_every_binary_command_before_authenticating() {
    let pwdb = file("sasl", "alice:secret\n");
    let server = TestServer::start(&["-S", "-o", &format!("sasl_pwdb={}", pwdb.display())]);
    let mut admin = server.conn();
    let r = common::binary::call(
        &mut admin,
        &req(0x21, &[], b"PLAIN", b"\0alice\0secret", 1, 0),
    );
    assert_eq!(r.status, 0, "PLAIN login");
    let mut set = req(0x01, &[0; 8], b"s", SECRET, 2, 0);
    set.extend(req(0x01, &[0; 8], b"n", b"5", 3, 0));
    admin.send(&set);
    assert_eq!(read(&mut admin).status, 0);
    assert_eq!(read(&mut admin).status, 0);

    for packet in binary_requests() {
        let mut c = server.conn();
        c.send(&packet);
        let r = read(&mut c);
        if packet[1] == 0x0b {
            // memcached answers VERSION before authentication: no store data.
            assert_eq!(r.status, 0);
            assert!(r.value.starts_with(b"1."), "{r:?}");
            continue;
        }
        assert_eq!(
            (r.opcode, r.status),
            (packet[1], 0x20),
            "opcode {:#04x}: {:?}",
            packet[1],
            r
        );
        assert!(!r.value.windows(SECRET.len()).any(|w| w == SECRET));
        if !is_memcached() {
            c.expect_closed();
        }
    }
    // Text on a SASL server gets nothing at all.
    let mut t = server.conn();
    t.send(b"get s\r\n");
    t.expect_closed();

    let r = common::binary::call(&mut admin, &req(0x00, &[], b"s", b"", 4, 0));
    assert_eq!((r.status, r.value.as_slice()), (0, SECRET));
    let r = common::binary::call(&mut admin, &req(0x00, &[], b"n", b"", 5, 0));
    assert_eq!((r.status, r.value.as_slice()), (0, &b"5"[..]));
}

//! memcached's ASCII authentication (`-Y FILE`): a text connection logs in
//! with `set <any> <flags> <exptime> <len>\r\n<user> <password>\r\n` before
//! anything else. Runs against memcached too, except the SIGHUP case.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{is_memcached, TestServer};

fn auth_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrocache-ascii-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("auth");
    std::fs::write(&path, text).unwrap();
    path
}

fn start(path: &std::path::Path) -> TestServer {
    TestServer::start(&["-Y", path.to_str().unwrap()])
}

fn login(user_password: &str) -> Vec<u8> {
    format!(
        "set auth 0 0 {}\r\n{user_password}\r\n",
        user_password.len()
    )
    .into_bytes()
}

#[test]
fn unauthenticated_commands_are_refused_and_the_connection_stays() {
    let server = start(&auth_file("unauth", "alice:secret\nbob:pw\n"));
    let mut c = server.conn();
    for cmd in [
        &b"get a\r\n"[..],
        b"version\r\n",
        b"stats\r\n",
        b"delete a\r\n",
        b"bogus\r\n",
    ] {
        c.roundtrip(cmd, b"CLIENT_ERROR unauthenticated\r\n");
    }
    c.roundtrip(&login("alice secret"), b"STORED\r\n");
    c.roundtrip(b"get auth\r\n", b"END\r\n");
}

#[test]
fn wrong_password_and_malformed_token() {
    let server = start(&auth_file("wrong", "alice:secret\n"));
    let cases: &[(&str, &[u8])] = &[
        ("alice nope", b"CLIENT_ERROR authentication failure\r\n"),
        ("mallory secret", b"CLIENT_ERROR authentication failure\r\n"),
        (
            "alicesecret",
            b"CLIENT_ERROR bad authentication token format\r\n",
        ),
    ];
    for (token, reply) in cases {
        let mut c = server.conn();
        c.roundtrip(&login(token), reply);
        // Still unauthenticated, still connected.
        c.roundtrip(b"get a\r\n", b"CLIENT_ERROR unauthenticated\r\n");
    }
}

#[test]
fn success_path_serves_everything_after_login() {
    let server = start(&auth_file("ok", "alice:secret\nbob:pw2\n"));
    let mut c = server.conn();
    c.roundtrip(&login("bob pw2"), b"STORED\r\n");
    c.roundtrip(b"set a 0 0 1\r\n1\r\n", b"STORED\r\n");
    c.roundtrip(b"get a\r\n", b"VALUE a 0 1\r\n1\r\nEND\r\n");
    // The login did not store its key.
    c.roundtrip(b"get auth\r\n", b"END\r\n");
}

#[test]
fn sighup_reloads_the_auth_file() {
    if is_memcached() {
        return; // memcached reloads too, but the test signals our own child
    }
    let path = auth_file("reload", "alice:old\n");
    // A process of its own, to receive the signal.
    let server = TestServer::spawn(&["-Y", path.to_str().unwrap()]);
    let mut c = server.conn();
    c.roundtrip(&login("alice old"), b"STORED\r\n");
    std::fs::write(&path, "alice:new\n").unwrap();
    server.signal(nix::sys::signal::Signal::SIGHUP);
    // The reload happens on the signal thread: poll (bounded) for it.
    let mut reloaded = false;
    for _ in 0..200 {
        let mut c = server.conn();
        c.send(&login("alice new"));
        if c.read_line() == b"STORED\r\n" {
            reloaded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(reloaded, "SIGHUP did not reload the auth file");
    let mut c = server.conn();
    c.roundtrip(
        &login("alice old"),
        b"CLIENT_ERROR authentication failure\r\n",
    );
}

#[test]
fn bad_auth_files_stop_start_up() {
    if is_memcached() {
        return;
    }
    let nine: String = (0..9).map(|i| format!("u{i}:p\n")).collect();
    let cases = [
        (
            auth_file("nine", &nine).display().to_string(),
            "more than 8",
        ),
        ("/nonexistent/ferrocache-auth".to_string(), "cannot read"),
    ];
    for (path, message) in cases {
        let out = Command::new(common::server_bin())
            .args(["-p", "-1", "-l", "127.0.0.1", "-U", "0", "-Y", &path])
            .args(common::root_user_args())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{path}: {stderr}");
        assert!(stderr.contains(message), "{path}: {stderr}");
    }
}

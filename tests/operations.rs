//! Operating the daemon: signals, pid file, privileges.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::TestServer;
use nix::sys::signal::Signal;

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ferrocache-{}-{name}", std::process::id()))
}

/// SIGTERM right after 10,000 pipelined sets: every one is answered, the
/// daemon exits 0 and removes its pid file.
#[test]
fn sigterm_answers_every_request_already_sent() {
    if common::is_memcached() {
        return; // memcached 1.6 closes connections on SIGTERM without answering.
    }
    let pidfile = temp_path("sigterm.pid");
    let pidfile_arg = pidfile.to_str().unwrap().to_string();
    let mut server = TestServer::spawn(&["-t", "2", "-P", &pidfile_arg]);
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        Some(pid),
        server.pid(),
        "the pid file holds the daemon's pid"
    );

    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut sets = Vec::new();
    for i in 0..10_000 {
        write!(sets, "set k{i} 0 0 5\r\nvalue\r\n").unwrap();
    }
    s.write_all(&sets).unwrap();
    server.signal(Signal::SIGTERM);

    let mut replies = Vec::new();
    s.read_to_end(&mut replies).unwrap();
    assert_eq!(
        replies.len(),
        10_000 * b"STORED\r\n".len(),
        "every set answered"
    );
    assert!(replies.chunks(8).all(|r| r == b"STORED\r\n"));
    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("daemon exits");
    assert!(status.success(), "exit status {status:?}");
    assert!(!pidfile.exists(), "pid file removed on exit");
}

#[test]
fn sigint_and_sigusr1_stop_the_daemon() {
    for signal in [Signal::SIGINT, Signal::SIGUSR1] {
        let mut server = TestServer::spawn(&["-t", "1"]);
        server.conn().assert_usable();
        server.signal(signal);
        let status = server
            .wait_exit(Duration::from_secs(15))
            .expect("daemon exits");
        assert!(status.success(), "{signal}: exit status {status:?}");
    }
}

#[test]
fn user_flag_drops_root_privileges() {
    if !nix::unistd::geteuid().is_root() || common::is_memcached() {
        return; // Only root can switch users.
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    let server = TestServer::spawn(&["-u", "nobody"]);
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid().unwrap())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uids: Vec<u32> = uid_line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(uids.iter().all(|&u| u == nobody.uid.as_raw()), "{uid_line}");
    server.conn().assert_usable();
}

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

/// Debian 12's stock /etc/memcached.conf, as shipped.
const DEBIAN_MEMCACHED_CONF: &str = "\
# memcached default config file
# 2003 - Jay Bonci <jaybonci@debian.org>
# This configuration file is read by the start-memcached script provided as
# part of the Debian GNU/Linux distribution.

# Run memcached as a daemon. This command is implied, and is not needed for the
# daemon to run. See the README.Debian that comes with this package for more
# information.
-d

# Log memcached's output to /var/log/memcached
logfile /var/log/memcached.log

# Be verbose
# -v

# Be even more verbose (print client commands as well)
# -vv

# Start with a cap of 64 megs of memory. It's reasonable, and the daemon default
# Note that the daemon will grow to this size, but does not start out holding this much
# memory
-m 64

# Default connection port is 11211
-p 11211

# Run the daemon as root. The start-memcached will default to running as root if no
# -u command is present in this config file
-u memcache

# Specify which IP address to listen on. The default is to listen on all IP addresses
# This parameter is one of the only security measures that memcached has, so make sure
# it's listening on a firewalled interface.
-l 127.0.0.1

# Limit the number of simultaneous incoming connections. The daemon default is 1024
# -c 1024

# Lock down all paged memory. Consult with the README file found in the Debian
# distribution for more information and the man page for the limitation on this
# feature
# -k

# Return error when memory is exhausted (rather than removing items)
# -M

# Maximize core file limit
# -r

# Use a file path for a pid file
-P /var/run/memcached/memcached.pid
";

/// Debian's stock config file works unchanged; the command line (here the
/// port, added by the harness, and the pid file) overrides it.
#[test]
fn debian_memcached_conf_works() {
    if common::is_memcached() {
        return;
    }
    // Keep the test's log out of /var/log; everything else is as shipped.
    let log = temp_path("memcached.log");
    let conf = DEBIAN_MEMCACHED_CONF.replace("/var/log/memcached.log", log.to_str().unwrap());
    let path = temp_path("memcached.conf");
    std::fs::write(&path, conf).unwrap();
    let pidfile = temp_path("conf.pid");
    let server = TestServer::spawn(&[
        "--config-file",
        path.to_str().unwrap(),
        "-P",
        pidfile.to_str().unwrap(),
        "-c",
        "900",
        "-vv",
    ]);
    let mut c = server.conn();
    let settings = c.stats("settings");
    let get = |k: &str| {
        settings
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("maxbytes"), (64u64 << 20).to_string());
    assert_eq!(
        get("tcpport"),
        server.addr.port().to_string(),
        "the command line's -p wins"
    );
    assert_eq!(get("inter"), "127.0.0.1");
    assert_eq!(get("maxconns"), "900");
    assert!(pidfile.exists(), "the command line's -P wins");
    c.roundtrip(
        b"set a 0 0 1\r\nx\r\nget a\r\n",
        b"STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n",
    );
    if nix::unistd::geteuid().is_root() {
        let memcache = nix::unistd::User::from_name("memcache")
            .unwrap()
            .expect("user memcache");
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", server.pid().unwrap())).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            uid.contains(&memcache.uid.as_raw().to_string()),
            "-u memcache applied: {uid}"
        );
    }
    assert!(std::fs::metadata(&log).is_ok(), "logfile honoured");
    drop(server);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&pidfile);
}

/// Regression: the daemon installed its signal handlers only after opening
/// its port, so a SIGHUP sent as soon as the port accepted could kill it.
#[test]
fn sighup_as_soon_as_the_port_opens_does_not_kill_the_daemon() {
    if common::is_memcached() {
        return;
    }
    for _ in 0..5 {
        let mut server = TestServer::spawn(&["-t", "1"]);
        server.signal(Signal::SIGHUP);
        server.conn().assert_usable();
        assert!(!server.exited(), "SIGHUP killed the daemon");
    }
}

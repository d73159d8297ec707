//! systemd integration: readiness notification, socket activation, and the
//! unit files in dist/systemd.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};
use common::TestServer;
use nix::sys::signal::Signal;

/// A fresh directory of this test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ferrocache-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Read datagrams until one contains `line`; every datagram read is kept.
#[track_caller]
fn recv_until(socket: &UnixDatagram, line: &str, seen: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    loop {
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no {line:?} from the daemon ({e}); got {seen:?}"));
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let found = msg.lines().any(|l| l == line);
        seen.push(msg);
        if found {
            return;
        }
    }
}

fn has_line_starting(seen: &[String], prefix: &str) -> bool {
    seen.iter()
        .flat_map(|m| m.lines())
        .any(|l| l.starts_with(prefix))
}

#[test]
fn notify_socket_gets_ready_status_watchdog_and_stopping() {
    if common::is_memcached() {
        return; // memcached does not speak sd_notify.
    }
    let dir = TempDir::new("notify");
    let path = dir.0.join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut server = TestServer::spawn_env(
        &["-t", "1"],
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut seen = Vec::new();
    recv_until(&socket, "READY=1", &mut seen);
    assert!(has_line_starting(&seen, "STATUS="), "{seen:?}");
    // READY=1 comes after the listeners are bound: the port answers.
    server.conn().assert_usable();
    recv_until(&socket, "WATCHDOG=1", &mut seen);

    server.signal(Signal::SIGTERM);
    recv_until(&socket, "STOPPING=1", &mut seen);
    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("daemon exits");
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn notify_socket_in_the_abstract_namespace() {
    if common::is_memcached() {
        return;
    }
    use std::os::linux::net::SocketAddrExt;
    let name = format!("ferrocache-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let env_name = format!("@{name}");
    let mut server = TestServer::spawn_env(&["-t", "1", "-A"], &[("NOTIFY_SOCKET", &env_name)]);
    let mut seen = Vec::new();
    recv_until(&socket, "READY=1", &mut seen);
    // The `shutdown` command stops the daemon too, and says so.
    let mut c = common::Conn::connect(server.addr);
    c.send(b"shutdown\r\n");
    recv_until(&socket, "STOPPING=1", &mut seen);
    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("daemon exits");
    assert!(status.success(), "exit status {status:?}");
}

/// Socket activation: a TCP socket on fd 3 and a unix socket on fd 4, named
/// by LISTEN_FDS=2 and LISTEN_PID (set by `sh` to its own pid, which `exec`
/// hands to the daemon, as systemd sets it after fork).
#[test]
fn serves_on_sockets_passed_through_listen_fds() {
    if common::is_memcached() {
        return;
    }
    let dir = TempDir::new("listenfds");
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = tcp.local_addr().unwrap();
    let unix_path = dir.0.join("activated.sock");
    let unix = UnixListener::bind(&unix_path).unwrap();
    // If adoption failed, the daemon would bind -p -1 instead and never
    // answer on these sockets.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"LISTEN_PID=$$ LISTEN_FDS=2 exec "$0" "$@""#)
        .arg(common::server_bin())
        .args(["-p", "-1", "-l", "127.0.0.1", "-U", "0", "-t", "1"])
        .args(common::root_user_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .fd_mappings(vec![
            FdMapping {
                parent_fd: OwnedFd::from(tcp.try_clone().unwrap()),
                child_fd: 3,
            },
            FdMapping {
                parent_fd: OwnedFd::from(unix.try_clone().unwrap()),
                child_fd: 4,
            },
        ])
        .unwrap();
    let child = cmd.spawn().expect("spawn sh");
    let server = TestServer::adopt(child, addr);
    // The daemon owns the sockets now; the connections below queue on them
    // even before it accepts.
    drop(tcp);
    drop(unix);
    let mut c = server.conn();
    c.assert_usable();
    c.roundtrip(b"set activated 0 0 2\r\nok\r\n", b"STORED\r\n");

    let mut u = UnixStream::connect(&unix_path).unwrap();
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    use std::io::{Read, Write};
    u.write_all(b"get activated\r\n").unwrap();
    let want = b"VALUE activated 0 2\r\nok\r\nEND\r\n";
    let mut got = vec![0u8; want.len()];
    u.read_exact(&mut got).unwrap();
    assert_eq!(common::show(&got), common::show(want));
}

/// `systemd-analyze verify` accepts the three unit files, with ExecStart
/// pointing at the binary under test.
#[test]
fn systemd_analyze_verifies_the_unit_files() {
    if common::is_memcached() {
        return;
    }
    let analyze = ensure_systemd_analyze();
    let dir = TempDir::new("units");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dist/systemd");
    let bin = common::server_bin();
    // A template is verified through an instance of it.
    for (from, to) in [
        ("ferrocache.service", "ferrocache.service"),
        ("ferrocache.socket", "ferrocache.socket"),
        ("ferrocache@.service", "ferrocache@cache1.service"),
    ] {
        let text = std::fs::read_to_string(src.join(from)).unwrap();
        if from.ends_with(".service") {
            assert!(text.contains("ExecStart=/usr/bin/ferrocache "), "{from}");
        }
        let text = text.replace(
            "ExecStart=/usr/bin/ferrocache ",
            &format!("ExecStart={} ", bin.display()),
        );
        std::fs::write(dir.0.join(to), text).unwrap();
    }
    let out = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(dir.0.join("ferrocache.service"))
        .arg(dir.0.join("ferrocache.socket"))
        .arg(dir.0.join("ferrocache@cache1.service"))
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    // It prints problems as warnings and still exits 0 for some of them.
    assert!(stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
}

/// systemd-analyze, installed from Debian's systemd package when missing.
fn ensure_systemd_analyze() -> &'static str {
    const TOOL: &str = "systemd-analyze";
    let present = || Command::new(TOOL).arg("--version").output().is_ok();
    if !present() {
        let status = Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", "systemd"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()) && present(),
            "systemd-analyze is missing and `apt-get install systemd` failed"
        );
    }
    TOOL
}

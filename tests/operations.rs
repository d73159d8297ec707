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

/// Kills a daemon that is not our child (it was re-parented) on drop.
struct Daemon(Option<i32>);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// `/proc/PID/stat` fields after the command name: state, ppid, pgrp,
/// session, tty_nr, ...
fn proc_stat(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// `-d -P FILE`: the parent returns at once; the pid in the file is the
/// daemon's, which leads its own session without a terminal, serves, and
/// is gone (pid file removed) after SIGTERM.
#[test]
fn daemonize_writes_the_daemons_pid_and_detaches_from_the_terminal() {
    let pidfile = temp_path("daemon.pid");
    let _ = std::fs::remove_file(&pidfile);
    let port = common::free_port();
    let mut cmd = std::process::Command::new(common::server_bin());
    cmd.args([
        "-d",
        "-P",
        pidfile.to_str().unwrap(),
        "-p",
        &port.to_string(),
    ])
    .args(["-l", "127.0.0.1", "-U", "0"])
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    cmd.args(common::root_user_args());
    let mut parent = cmd.spawn().unwrap();
    let parent_pid = parent.id() as i32;
    let status = parent.wait().unwrap();
    assert!(status.success(), "the foreground process exits 0: {status}");

    // The daemon writes its pid file, then listens.
    let mut pid = None;
    for _ in 0..500 {
        if let Some(p) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            pid = Some(p);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = pid.expect("the daemon never wrote its pid file");
    let _guard = Daemon(Some(pid));
    assert_ne!(pid, parent_pid, "the pid file names the foreground process");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert!(
        (0..100).any(|_| common::wait_for_port(addr, Duration::from_millis(100))),
        "the daemon does not listen"
    );
    common::Conn::connect(addr).assert_usable();

    let stat = proc_stat(pid).expect("the daemon runs");
    let (session, tty_nr) = (&stat[3], &stat[4]);
    assert_eq!(tty_nr, "0", "the daemon has a controlling terminal");
    assert_eq!(
        session,
        &pid.to_string(),
        "the daemon leads its own session"
    );
    let own_session = proc_stat(std::process::id() as i32).unwrap()[3].clone();
    assert_ne!(session, &own_session);

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    // Gone: no process, or a zombie its new parent has not reaped yet.
    let gone = (0..1000).any(|_| {
        let done = proc_stat(pid).is_none_or(|s| s[0] == "Z") && !pidfile.exists();
        if !done {
            std::thread::sleep(Duration::from_millis(10));
        }
        done
    });
    assert!(gone, "the daemon is still running, or its pid file is left");
}

/// `-k` locks memory, or warns as memcached does when the kernel refuses;
/// either way the daemon serves.
#[test]
fn lock_memory_flag_is_accepted() {
    if common::is_memcached() {
        return;
    }
    let server = TestServer::spawn(&["-k", "-m", "8"]);
    let mut c = server.conn();
    c.roundtrip(b"set k 0 0 1\r\nv\r\n", b"STORED\r\n");
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid().unwrap())).unwrap();
    let locked = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .map(|v| {
            v.trim()
                .trim_end_matches(" kB")
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
        });
    // Root (CAP_IPC_LOCK) or a large RLIMIT_MEMLOCK: the pages are locked.
    let limit = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let unlimited = limit
        .lines()
        .any(|l| l.starts_with("Max locked memory") && l.contains("unlimited"));
    if nix::unistd::geteuid().is_root() || unlimited {
        assert!(locked.unwrap_or(0) > 0, "-k locked nothing: {status}");
    }
}

/// `make install` (dist/install.sh) with DESTDIR and PREFIX: binaries,
/// units pointing at PREFIX, the default config (which starts a working
/// server), and a man page rendered from the clap definition.
#[test]
fn install_honours_destdir_and_prefix() {
    if common::is_memcached() {
        return;
    }
    let root = temp_path("install-root");
    let _ = std::fs::remove_dir_all(&root);
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_ferrocache"));
    let build_dir = bin.parent().unwrap();
    let out = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/install.sh"))
        .env("DESTDIR", &root)
        .env("PREFIX", "/usr")
        .env("BUILD_DIR", build_dir)
        .output()
        .expect("run dist/install.sh");
    assert!(
        out.status.success(),
        "install failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = |p: &str| root.join(p.trim_start_matches('/'));
    for (file, executable) in [
        ("/usr/bin/ferrocache", true),
        ("/usr/bin/ferrocache-cli", true),
        ("/usr/lib/systemd/system/ferrocache.service", false),
        ("/usr/lib/systemd/system/ferrocache@.service", false),
        ("/usr/lib/systemd/system/ferrocache.socket", false),
        ("/etc/ferrocache.conf", false),
        ("/usr/share/man/man1/ferrocache.1", false),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o111 != 0, executable, "{file}");
    }
    let unit = std::fs::read_to_string(path("/usr/lib/systemd/system/ferrocache.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/ferrocache --config-file /etc/ferrocache.conf"),
        "{unit}"
    );

    // The man page is roff with every flag; `man -l` renders it if present.
    let page = std::fs::read_to_string(path("/usr/share/man/man1/ferrocache.1")).unwrap();
    assert!(page.contains(".TH ferrocache 1"));
    for flag in [
        "\\-p\\fR, \\fB\\-\\-port",
        "\\-m\\fR, \\fB\\-\\-memory\\-limit",
        "\\-c\\fR, \\fB\\-\\-conn\\-limit",
        "\\-d\\fR, \\fB\\-\\-daemon",
        "\\-k\\fR, \\fB\\-\\-lock\\-memory",
        "\\-u\\fR, \\fB\\-\\-user",
        "\\-P\\fR, \\fB\\-\\-pidfile",
        "\\-o\\fR, \\fB\\-\\-extended",
        "\\-\\-config\\-file",
    ] {
        assert!(page.contains(flag), "the man page lacks {flag}");
    }
    assert!(page.contains("metrics_listen"));
    let man = std::process::Command::new("man")
        .arg("-l")
        .arg(path("/usr/share/man/man1/ferrocache.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "200")
        .output();
    match man {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("-m, --memory-limit"), "{text}");
        }
        _ => eprintln!("man is not installed: the roff source alone was checked"),
    }

    // The default config serves (port and interface from the test).
    let conf = path("/etc/ferrocache.conf");
    // The file names no user (the units run as their own): root must.
    let mut args = vec!["--config-file", conf.to_str().unwrap()];
    args.extend(common::root_user_args());
    let server = TestServer::spawn(&args);
    let mut c = server.conn();
    let settings = c.stats("settings");
    let get = |k: &str| {
        settings
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("maxbytes").as_deref(), Some("67108864"));
    assert_eq!(get("maxconns").as_deref(), Some("1024"));
    drop(server);
    let _ = std::fs::remove_dir_all(&root);
}

/// A spawned daemon that is not a [`TestServer`] (no TCP port to wait for):
/// killed and reaped on drop, whatever the test's outcome.
struct Child(std::process::Child);

impl Child {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Child {
        let child = std::process::Command::new(common::server_bin())
            .args(args)
            .args(common::root_user_args())
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Child(child)
    }

    /// Poll until `ready` holds; panics if the daemon exits first.
    fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if ready() {
                return;
            }
            if let Some(status) = self.0.try_wait().unwrap() {
                panic!("the daemon exited ({status}) before {what}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the daemon is still running but never {what}");
    }

    /// The inodes of the daemon's open sockets.
    fn socket_inodes(&self) -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/fd", self.0.id()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|l| {
                let l = l.to_str()?.to_string();
                Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
            })
            .collect()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The inodes of every socket in these /proc/net tables (`tcp`, `udp6`...).
fn inet_socket_inodes(tables: &[&str]) -> Vec<String> {
    tables
        .iter()
        .filter_map(|t| std::fs::read_to_string(format!("/proc/net/{t}")).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().nth(9).map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// memcached: `-s PATH` disables the network listeners, whatever `-p` and
/// `-U` say, so a daemon moved to a unix socket has no TCP or UDP port open.
#[test]
fn unix_socket_opens_no_tcp_or_udp_port() {
    let sock = temp_path("only-unix.sock");
    let _ = std::fs::remove_file(&sock);
    let (tcp, udp) = (
        common::free_port().to_string(),
        common::free_port().to_string(),
    );
    let mut daemon = Child::spawn(
        &[
            "-s",
            sock.to_str().unwrap(),
            "-p",
            &tcp,
            "-U",
            &udp,
            "-l",
            "127.0.0.1",
            "-t",
            "1",
        ],
        &[],
    );
    daemon.wait_until("listened on its unix socket", || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    let mut c = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    c.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    c.write_all(b"set k 0 0 1\r\nv\r\nget k\r\n").unwrap();
    const EXPECTED: &[u8] = b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n";
    let mut reply = vec![0u8; EXPECTED.len()];
    c.read_exact(&mut reply).unwrap();
    assert_eq!(reply, EXPECTED);
    let inet = inet_socket_inodes(&["tcp", "tcp6", "udp", "udp6"]);
    let open: Vec<String> = daemon
        .socket_inodes()
        .into_iter()
        .filter(|i| inet.contains(i))
        .collect();
    assert!(open.is_empty(), "TCP/UDP sockets open with -s: {open:?}");
    let _ = std::fs::remove_file(&sock);
}

/// Read `$MEMCACHED_PORT_FILENAME` as memcached's t/issue_67.t does:
/// `TCP INET: 40123` lines.
fn read_port_file(path: &std::path::Path) -> Vec<(String, u16)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let (kind, port) = l.split_once(": ").unwrap_or_else(|| panic!("{l:?}"));
            (kind.to_string(), port.parse().unwrap())
        })
        .collect()
}

/// memcached's port conventions: `-p -1`/`-U -1` ask for ephemeral ports,
/// `-p 0` turns TCP off, and the ports bound are written to the file named
/// by `MEMCACHED_PORT_FILENAME`.
#[test]
fn ephemeral_and_disabled_ports_and_the_port_file() {
    let file = temp_path("ports");
    let _ = std::fs::remove_file(&file);
    let env = [("MEMCACHED_PORT_FILENAME", file.to_str().unwrap())];
    let args = ["-p", "-1", "-U", "-1", "-l", "127.0.0.1", "-t", "1"];
    let mut daemon = Child::spawn(&args, &env);
    daemon.wait_until("wrote the port file", || file.exists());
    let ports = read_port_file(&file);
    assert_eq!(ports.len(), 2, "{ports:?}");
    assert_eq!(ports[0].0, "TCP INET");
    assert_eq!(ports[1].0, "UDP INET");
    assert!(
        ports.iter().all(|(_, p)| *p != 0 && *p != 11211),
        "{ports:?}"
    );
    let mut c = common::Conn::connect(std::net::SocketAddr::from(([127, 0, 0, 1], ports[0].1)));
    c.roundtrip(b"set k 0 0 1\r\nv\r\n", b"STORED\r\n");
    // A UDP request (memcached's 8-byte frame header) on the UDP port.
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
    u.send_to(
        b"\x00\x07\x00\x00\x00\x01\x00\x00get k\r\n",
        ("127.0.0.1", ports[1].1),
    )
    .unwrap();
    let mut buf = [0u8; 100];
    let n = u.recv(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        b"\x00\x07\x00\x00\x00\x01\x00\x00VALUE k 0 1\r\nv\r\nEND\r\n"
    );
    drop(daemon);
    std::fs::remove_file(&file).unwrap();

    // -p 0: no TCP listener; UDP alone (on an ephemeral port).
    let args = ["-p", "0", "-U", "-1", "-l", "127.0.0.1", "-t", "1"];
    let mut daemon = Child::spawn(&args, &env);
    daemon.wait_until("wrote the port file", || file.exists());
    let ports = read_port_file(&file);
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(ports[0].0, "UDP INET");
    let inet_tcp = inet_socket_inodes(&["tcp", "tcp6"]);
    let tcp_open: Vec<String> = daemon
        .socket_inodes()
        .into_iter()
        .filter(|i| inet_tcp.contains(i))
        .collect();
    assert!(
        tcp_open.is_empty(),
        "TCP sockets open with -p 0: {tcp_open:?}"
    );
    std::fs::remove_file(&file).unwrap();
}

/// memcached's rule: as root, the daemon refuses to start without `-u`.
#[test]
fn refuses_to_run_as_root_without_a_user() {
    if !nix::unistd::geteuid().is_root() {
        return; // Nothing to refuse.
    }
    let mut child = std::process::Command::new(common::server_bin())
        .args(["-p", "-1", "-l", "127.0.0.1", "-U", "0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    for _ in 0..1000 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the daemon runs as root without -u");
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("can't run as root without the -u switch"),
        "{stderr}"
    );
}

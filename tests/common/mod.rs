//! Shared harness for the integration tests: start a server and talk to it
//! over plain TCP.
//!
//! By default the server runs inside the test process, bound to port 0.
//! With `$FERROCACHE_TEST_BIN` set (e.g. `/usr/bin/memcached`, the oracle) the
//! same tests run against that binary on a probed free port instead; tests
//! that need a separate process (RSS, signals) use [`TestServer::spawn`].

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `TestServer::start` waits for the port to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Read timeout of every test connection.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How many ports to try when the child exits early (lost port race).
const START_ATTEMPTS: usize = 5;

/// The server binary under test.
pub fn server_bin() -> PathBuf {
    match std::env::var_os("FERROCACHE_TEST_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_ferrocache")),
    }
}

/// The `-u` flag a spawned [`server_bin`] needs: see [`root_user_args_for`].
pub fn root_user_args() -> &'static [&'static str] {
    root_user_args_for(&server_bin())
}

/// The `-u` flag `bin` needs: memcached and ferrocache refuse to run as
/// root without one. memcached switches to nobody (as before); ferrocache
/// stays root, so tests that hand it root-owned files still work. Decided
/// by the binary's name, so side-by-side tests get each binary's own rule.
pub fn root_user_args_for(bin: &Path) -> &'static [&'static str] {
    if !nix::unistd::geteuid().is_root() {
        &[]
    } else if is_memcached_bin(bin) {
        &["-u", "nobody"]
    } else {
        &["-u", "root"]
    }
}

/// True when the tests run against the real memcached (the oracle).
pub fn is_memcached() -> bool {
    is_memcached_bin(&server_bin())
}

/// True when `bin` is memcached (by its file name).
pub fn is_memcached_bin(bin: &Path) -> bool {
    bin.file_name().is_some_and(|n| n == "memcached")
}

enum Backend {
    Process(Child),
    InProcess(Option<ferrocache::server::ServerHandle>),
}

/// A running server; stopped (process killed and reaped) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    backend: Backend,
}

impl TestServer {
    /// Start a server with memcached-style `args` on 127.0.0.1: in this
    /// process on port 0, or the `$FERROCACHE_TEST_BIN` binary.
    pub fn start(args: &[&str]) -> TestServer {
        if std::env::var_os("FERROCACHE_TEST_BIN").is_some_and(|b| !b.is_empty()) {
            return TestServer::spawn(args);
        }
        let argv = ["ferrocache", "-p", "-1", "-l", "127.0.0.1", "-U", "0"]
            .iter()
            .chain(args)
            .copied();
        let config = ferrocache::config::parse_args(argv)
            .unwrap_or_else(|e| panic!("bad test server arguments {args:?}: {e}"));
        let server = ferrocache::server::Server::bind(config).expect("bind 127.0.0.1:0");
        let handle = server.start().expect("start server threads");
        TestServer {
            // With -s there is no TCP listener (memcached's rule): the test
            // talks over the unix socket, and `addr` names no server.
            addr: handle
                .addrs()
                .first()
                .copied()
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            backend: Backend::InProcess(Some(handle)),
        }
    }

    /// Start the server binary as a child process on a free loopback port
    /// with `-p PORT -l 127.0.0.1 -U 0` followed by `args`, and wait until it
    /// accepts TCP connections.
    pub fn spawn(args: &[&str]) -> TestServer {
        TestServer::spawn_env(args, &[])
    }

    /// [`TestServer::spawn`] with extra environment variables for the child
    /// (e.g. systemd's `NOTIFY_SOCKET`).
    pub fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        TestServer::spawn_bin(&server_bin(), args, env)
    }

    /// [`TestServer::spawn_env`] with a given binary: the side-by-side
    /// tests start ferrocache and Debian's memcached in one test.
    pub fn spawn_bin(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let bin = bin.to_path_buf();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.arg("-p")
                .arg(port.to_string())
                .args(["-l", "127.0.0.1", "-U", "0"])
                .args(args)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // A test that names the user (or a config file that may)
            // decides; otherwise the `-u` this binary needs as root.
            if !args
                .iter()
                .any(|a| *a == "-u" || a.starts_with("--user") || *a == "--config-file")
            {
                cmd.args(root_user_args_for(&bin));
            }
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
            let mut server = TestServer {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                backend: Backend::Process(child),
            };
            if server.wait_ready(&bin) {
                return server;
            }
            // The child exited early, most likely because someone else grabbed
            // the port between our probe and its bind: try another one.
        }
        panic!(
            "{} {args:?} exited early {START_ATTEMPTS} times in a row",
            bin.display()
        );
    }

    /// Poll until the port accepts a connection. Returns false if the child
    /// exited first; panics on timeout.
    fn wait_ready(&mut self, bin: &Path) -> bool {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if self.exited() {
                return false;
            }
            if wait_for_port(self.addr, Duration::from_millis(100)) && self.owns_listener() {
                return true;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not accept connections on {} within {STARTUP_TIMEOUT:?}",
                    bin.display(),
                    self.addr
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the spawned child holds the socket listening on our port.
    /// Another daemon (a parallel test's, or anyone's on this machine) may
    /// have bound the port between our probe and the child's bind: the child
    /// then exits soon, but a connection to the port succeeds meanwhile.
    fn owns_listener(&self) -> bool {
        let Some(pid) = self.pid() else { return true };
        let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
            return true; // No /proc: nothing to check against.
        };
        let local = format!("0100007F:{:04X}", self.addr.port());
        let inodes: Vec<String> = table
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // st 0A is LISTEN; the inode is the tenth field.
                (f.len() > 9 && f[1] == local && f[3] == "0A").then(|| f[9].to_string())
            })
            .collect();
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                let target = target.to_string_lossy();
                inodes.iter().any(|i| target == format!("socket:[{i}]"))
            })
        })
    }

    /// Whether a spawned server process has exited (never, in process).
    pub fn exited(&mut self) -> bool {
        match &mut self.backend {
            Backend::Process(child) => matches!(child.try_wait(), Ok(Some(_))),
            Backend::InProcess(_) => false,
        }
    }

    /// Send `signal` to a spawned server process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = self.pid().expect("signals need a spawned server");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).expect("kill");
    }

    /// Wait up to `timeout` for a spawned server to exit; its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let Backend::Process(child) = &mut self.backend else {
            return None;
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Pid of a spawned server process.
    pub fn pid(&self) -> Option<u32> {
        match &self.backend {
            Backend::Process(child) => Some(child.id()),
            Backend::InProcess(_) => None,
        }
    }

    /// A new client connection.
    pub fn conn(&self) -> Conn {
        Conn::connect(self.addr)
    }
}

impl TestServer {
    /// Adopt an already running server process listening on `addr` (e.g.
    /// one started through socket activation); killed on drop.
    pub fn adopt(child: Child, addr: SocketAddr) -> TestServer {
        TestServer {
            addr,
            backend: Backend::Process(child),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        match &mut self.backend {
            Backend::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Backend::InProcess(handle) => {
                if let Some(h) = handle.take() {
                    h.shutdown();
                }
            }
        }
    }
}

/// A free loopback port (bound then released; racy, hence the retries).
/// Resident set size of a process, in bytes.
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS line");
    kb * 1024
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("cannot bind an ephemeral port")
        .port()
}

/// True once `addr` accepts a TCP connection (single attempt bounded by `timeout`).
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&addr, timeout).is_ok()
}

/// Printable form of protocol bytes.
pub fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// A client connection with a 5 s read timeout and Nagle disabled.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read from the socket but not consumed yet.
    buf: Vec<u8>,
}

impl Conn {
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Wrap an already connected stream (5 s read timeout, Nagle off).
    pub fn from_stream(stream: TcpStream) -> Conn {
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Write all of `bytes` (one `write_all`; with Nagle off this is flushed).
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("send failed: {e}"));
    }

    /// Write all of `bytes`, reporting failure instead of panicking.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Read more bytes into the buffer; Ok(0) on EOF.
    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Read up to `n` bytes; fewer only on EOF, error or timeout.
    fn read_up_to(&mut self, n: usize) -> (Vec<u8>, Option<String>) {
        while self.buf.len() < n {
            match self.fill() {
                Ok(0) => return (self.buf.drain(..).collect(), Some("EOF".into())),
                Ok(_) => {}
                Err(e) => return (self.buf.drain(..).collect(), Some(e.to_string())),
            }
        }
        (self.buf.drain(..n).collect(), None)
    }

    /// Read exactly `n` bytes.
    #[track_caller]
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        let (got, err) = self.read_up_to(n);
        if let Some(err) = err {
            panic!(
                "wanted {n} bytes, got {} ({err}): \"{}\"",
                got.len(),
                show(&got)
            );
        }
        got
    }

    /// Read one line including its terminating `\n`.
    #[track_caller]
    pub fn read_line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return self.buf.drain(..=i).collect();
            }
            match self.fill() {
                Ok(0) => panic!("EOF before end of line: \"{}\"", show(&self.buf)),
                Ok(_) => {}
                Err(e) => panic!("{e} before end of line: \"{}\"", show(&self.buf)),
            }
        }
    }

    /// Read exactly `expected.len()` bytes and assert they equal `expected`.
    #[track_caller]
    pub fn expect(&mut self, expected: &[u8]) {
        let (got, err) = self.read_up_to(expected.len());
        if got != expected {
            let why = err.map(|e| format!(" (then {e})")).unwrap_or_default();
            panic!(
                "reply mismatch{why}\n  expected: \"{}\"\n       got: \"{}\"",
                show(expected),
                show(&got)
            );
        }
    }

    /// Send `request` and expect exactly `expected` back.
    #[track_caller]
    pub fn roundtrip(&mut self, request: &[u8], expected: &[u8]) {
        self.send(request);
        self.expect(expected);
    }

    /// Assert the server closes the connection (EOF or reset) without
    /// sending anything more.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        if !self.buf.is_empty() {
            panic!("unexpected bytes before close: \"{}\"", show(&self.buf));
        }
        match self.fill() {
            Ok(0) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {}
            Ok(_) => panic!("expected close, got \"{}\"", show(&self.buf)),
            Err(e) => panic!("expected close, got error {e}"),
        }
    }

    /// Assert the connection is still in sync and usable: `version` must be
    /// answered by exactly one `VERSION ...` line.
    #[track_caller]
    pub fn assert_usable(&mut self) {
        self.send(b"version\r\n");
        let line = self.read_line();
        assert!(
            line.starts_with(b"VERSION ") && line.ends_with(b"\r\n"),
            "connection out of sync: expected a VERSION line, got \"{}\"",
            show(&line)
        );
    }

    /// `stats [group]` as (name, value) pairs.
    #[track_caller]
    pub fn stats(&mut self, group: &str) -> Vec<(String, String)> {
        let cmd = if group.is_empty() {
            "stats\r\n".to_string()
        } else {
            format!("stats {group}\r\n")
        };
        self.send(cmd.as_bytes());
        let mut out = Vec::new();
        loop {
            let line = self.read_line();
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            if line == "END" {
                return out;
            }
            let mut parts = line.splitn(3, ' ');
            assert_eq!(parts.next(), Some("STAT"), "not a STAT line: {line}");
            let name = parts.next().unwrap_or_default().to_string();
            out.push((name, parts.next().unwrap_or_default().to_string()));
        }
    }

    /// One numeric `stats` field.
    #[track_caller]
    pub fn stat(&mut self, name: &str) -> u64 {
        self.stats("")
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no numeric stat {name}"))
    }

    /// Half-close the write side.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}
/// `promtool check metrics` (Debian's prometheus package, which
/// `.ci/install-test-deps.sh` installs) accepts `body`. Skipped with a
/// message when promtool is missing, except under CI, where that fails.
pub fn assert_promtool_accepts(body: &str) {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "promtool is missing under CI: .ci/install-test-deps.sh installs Debian's prometheus package"
        );
        eprintln!(
            "skipped the promtool check: promtool is not installed (apt-get install prometheus)"
        );
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub mod binary;

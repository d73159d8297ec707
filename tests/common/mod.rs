//! Shared harness for the integration tests: spawn a server on a free port
//! and talk to it over plain TCP.
//!
//! The server binary is `$FERROCACHE_TEST_BIN` when set (e.g. `/usr/bin/memcached`,
//! which serves as the oracle), otherwise the crate's own `ferrocache` binary.

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

/// True when the tests run against the real memcached (the oracle).
pub fn is_memcached() -> bool {
    server_bin().file_name().is_some_and(|n| n == "memcached")
}

/// A running server process; killed and reaped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    child: Child,
}

impl TestServer {
    /// Start the server on a free loopback port with `-p PORT -l 127.0.0.1 -U 0`
    /// followed by `args`, and wait until it accepts TCP connections.
    pub fn start(args: &[&str]) -> TestServer {
        let bin = server_bin();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.arg("-p")
                .arg(port.to_string())
                .args(["-l", "127.0.0.1", "-U", "0"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // memcached refuses to run as root without -u.
            if is_memcached() && unsafe { libc::geteuid() } == 0 {
                cmd.args(["-u", "nobody"]);
            }
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
            let mut server = TestServer {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                child,
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
            if wait_for_port(self.addr, Duration::from_millis(100)) {
                // Make sure it is our child that answered, not a squatter.
                return !self.exited();
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

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The server's process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A new client connection.
    pub fn conn(&self) -> Conn {
        Conn::connect(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound then released; racy, hence the retries).
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

    /// Write all of `bytes` (one `write_all`; with Nagle off this is flushed).
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("send failed: {e}"));
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

    /// Half-close the write side.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}
pub mod binary;

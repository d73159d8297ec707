//! One client connection: its socket, read buffer and reply buffer.
//!
//! The connection owns the bytes; its [`Exchange`] parses them in place and
//! the front ends append replies. A worker drives it with [`Conn::drive`].

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

use super::conn_table::{ConnInfo, ConnState};
use super::exchange::{Exchange, Progress, WBUF_HIGH};
use super::shared::Shared;
use super::tls::TlsStream;
use crate::protocol::{binary, Protocol};
use crate::stats::ThreadStats;

/// Read-buffer size a connection starts with and shrinks back to when idle.
const RBUF_INITIAL: usize = 16 * 1024;
/// At shutdown, a connection whose peer sent nothing for this long is done.
const DRAIN_QUIET: Duration = Duration::from_millis(100);

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    /// Only TLS holds bytes back (encrypted, waiting for the socket).
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
            Stream::Tls(s) => s.tcp.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
            Stream::Tls(s) => s.tcp.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
            Stream::Tls(s) => s.tcp.deregister(r),
        }
    }
}

/// What the worker should do with a connection after driving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait for the socket to become readable or writable.
    Wait,
    /// The request budget ran out with work left: drive again soon.
    Yield,
    /// Close the connection.
    Close,
    /// Close, and shut the server down (`shutdown`).
    Shutdown,
}

pub struct Conn {
    pub stream: Stream,
    pub info: Arc<ConnInfo>,
    exchange: Exchange,
    /// Read buffer: `rbuf[rstart..rend]` is unparsed input. The whole vector
    /// is initialised, so reads go straight into its tail.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    /// The peer closed its side; finish what was read, then close.
    eof: bool,
    /// The last read came back short: the socket is empty until the next
    /// readable event (epoll is edge-triggered), so don't ask again.
    drained: bool,
    /// The poller reported the peer's FIN: read on to EOF regardless.
    read_closed: bool,
    /// During a graceful shutdown: when input last arrived.
    quiet_since: Option<Instant>,
    /// Close once the replies are written (`quit`, protocol errors).
    closing: bool,
}

impl Conn {
    pub fn new(stream: Stream, info: Arc<ConnInfo>) -> Conn {
        let mut exchange = Exchange::new();
        exchange.set_fd(info.fd);
        Conn {
            stream,
            info,
            exchange,
            // Allocated (and counted) when the first bytes arrive.
            rbuf: Vec::new(),
            rstart: 0,
            rend: 0,
            wbuf: Vec::with_capacity(RBUF_INITIAL),
            wpos: 0,
            eof: false,
            drained: false,
            read_closed: false,
            quiet_since: None,
            closing: false,
        }
    }

    /// After `watch`: log lines may be waiting for it.
    pub fn is_watching(&self) -> bool {
        self.exchange.session().watcher.is_some()
    }

    /// Whether a protocol error closed it (`watch connevents`).
    pub fn closed_on_error(&self) -> bool {
        self.exchange.session().closed_on_error
    }

    /// A readiness event arrived for this connection.
    pub fn ready(&mut self, readable: bool, read_closed: bool) {
        if readable {
            self.drained = false;
        }
        self.read_closed |= read_closed;
    }

    /// Read, execute and reply until the socket would block, the request
    /// budget is spent, or the peer stops reading.
    pub fn drive(&mut self, shared: &Shared, stats: &ThreadStats) -> Next {
        self.set_state(ConnState::ParseCmd);
        let next = self.drive_inner(shared, stats);
        self.set_state(self.waiting_state());
        next
    }

    fn drive_inner(&mut self, shared: &Shared, stats: &ThreadStats) -> Next {
        let mut budget = shared.config.max_reqs_per_event.max(1);
        loop {
            if self.pending_output() > WBUF_HIGH {
                match self.flush(stats) {
                    Ok(true) => {}
                    Ok(false) => return Next::Wait,
                    Err(_) => return Next::Close,
                }
            }
            match self.process(shared, stats, &mut budget) {
                Progress::NeedInput => {}
                Progress::Budget => {
                    ThreadStats::incr(&stats.conn_yields);
                    return match self.flush(stats) {
                        Ok(_) => Next::Yield,
                        Err(_) => Next::Close,
                    };
                }
                Progress::Backpressure => match self.flush(stats) {
                    Ok(true) => continue,
                    Ok(false) => return Next::Wait,
                    Err(_) => return Next::Close,
                },
                Progress::Close => self.closing = true,
                Progress::Shutdown => {
                    let _ = self.flush(stats);
                    return Next::Shutdown;
                }
            }
            if self.closing || self.eof {
                let _ = self.flush(stats);
                return Next::Close;
            }
            // A short read already emptied the socket: skip the read that
            // would only say EAGAIN (one syscall per request saved).
            let drained = self.drained && !self.read_closed;
            let read = if drained {
                Ok(0)
            } else {
                self.fill(shared, stats)
            };
            match read {
                Ok(0) => {
                    self.release_idle_buffer(shared);
                    return match self.flush(stats) {
                        Ok(_) => Next::Wait,
                        Err(_) => Next::Close,
                    };
                }
                Ok(_) => {}
                Err(_) => return Next::Close,
            }
        }
    }

    /// One step of a graceful shutdown: read what the peer already sent,
    /// execute all of it (no `-R` budget), and write the replies. True once
    /// every reply is out and the peer has closed or gone quiet: bytes still
    /// in flight when the stop came are answered too, and closing a socket
    /// with unread input (which would reset the peer) is avoided.
    pub fn drain_step(&mut self, shared: &Shared, stats: &ThreadStats) -> io::Result<bool> {
        let mut budget = usize::MAX;
        let quiet_since = *self.quiet_since.get_or_insert_with(Instant::now);
        loop {
            match self.process(shared, stats, &mut budget) {
                Progress::Backpressure => {
                    if !self.flush(stats)? {
                        return Ok(false);
                    }
                    continue;
                }
                Progress::Close | Progress::Shutdown => self.closing = true,
                Progress::NeedInput | Progress::Budget => {}
            }
            if self.closing || self.eof {
                break;
            }
            if self.fill(shared, stats)? == 0 {
                break;
            }
            self.quiet_since = Some(Instant::now());
        }
        let flushed = self.flush(stats)?;
        let quiet = self.quiet_since.unwrap_or(quiet_since).elapsed() >= DRAIN_QUIET;
        Ok(flushed && (self.closing || self.eof || quiet))
    }

    /// Parse and execute buffered requests.
    fn process(&mut self, shared: &Shared, stats: &ThreadStats, budget: &mut usize) -> Progress {
        let before = *budget;
        let input = &self.rbuf[self.rstart..self.rend];
        let (used, progress) =
            self.exchange
                .process(shared, stats, input, &mut self.wbuf, self.wpos, budget);
        self.rstart += used;
        if *budget != before {
            self.info
                .last_cmd
                .store(shared.cache.clock().now(), Ordering::Relaxed);
        }
        progress
    }

    /// Bytes of read buffer this connection holds (and is counted for).
    pub fn read_buf_len(&self) -> usize {
        self.rbuf.len()
    }

    /// Under `-o read_buf_mem_limit`, an idle connection holds no read
    /// buffer (memcached's rule), so the limit bounds busy connections.
    fn release_idle_buffer(&mut self, shared: &Shared) {
        if shared.read_bufs.limit.is_some()
            && self.rstart == self.rend
            && self.exchange.skipping() == 0
        {
            shared.read_bufs.release(self.rbuf.len());
            self.rbuf = Vec::new();
            self.rstart = 0;
            self.rend = 0;
        }
    }

    /// Read once into the buffer. Ok(0) means nothing more for now.
    fn fill(&mut self, shared: &Shared, stats: &ThreadStats) -> io::Result<usize> {
        let out_of_memory = || io::Error::from(io::ErrorKind::OutOfMemory);
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
            if self.rbuf.len() > RBUF_INITIAL {
                shared.read_bufs.shrink(self.rbuf.len() - RBUF_INITIAL);
                self.rbuf.truncate(RBUF_INITIAL);
                self.rbuf.shrink_to(RBUF_INITIAL);
            }
        }
        if self.rbuf.is_empty() {
            // No buffer: memcached closes a connection it cannot give one.
            if !shared.read_bufs.acquire(RBUF_INITIAL, true) {
                return Err(out_of_memory());
            }
            self.rbuf.resize(RBUF_INITIAL, 0);
        }
        if self.rend == self.rbuf.len() {
            if self.rstart > 0 {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            } else {
                if self.rbuf.len() >= shared.max_request {
                    // A request larger than any valid one: drop the client.
                    return Err(io::ErrorKind::InvalidData.into());
                }
                let grown = (self.rbuf.len() * 2).min(shared.max_request);
                if !shared.read_bufs.acquire(grown - self.rbuf.len(), false) {
                    return Err(out_of_memory());
                }
                self.rbuf.resize(grown, 0);
            }
        }
        loop {
            let space = self.rbuf.len() - self.rend;
            let read = self.stream.read(&mut self.rbuf[self.rend..]);
            if let Stream::Tls(t) = &mut self.stream {
                tls_accounting(t, &read, shared);
            }
            match read {
                Ok(0) => {
                    self.eof = true;
                    return Ok(1);
                }
                Ok(n) => {
                    // A short TLS read says nothing of the socket.
                    self.drained = n < space && !matches!(self.stream, Stream::Tls(_));
                    self.rend += n;
                    ThreadStats::add(&stats.bytes_read, n as u64);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drained = true;
                    return Ok(0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn set_state(&self, state: ConnState) {
        self.info.state.store(state as u8, Ordering::Relaxed);
    }

    /// What the connection waits for between events.
    fn waiting_state(&self) -> ConnState {
        if self.pending_output() > 0 {
            return ConnState::Mwrite;
        }
        let partial = &self.rbuf[self.rstart..self.rend];
        let line_done = match self.exchange.protocol() {
            Some(Protocol::Binary) => partial.len() >= binary::HEADER_LEN,
            _ => partial.contains(&b'\n'),
        };
        if self.exchange.skipping() > 0 || line_done {
            ConnState::Nread
        } else {
            ConnState::Read
        }
    }

    /// `-o idle_timeout`: true when the last *completed* command is more
    /// than `timeout` seconds old (memcached's test, so a client trickling
    /// bytes without finishing a command is idle too). A connection whose
    /// replies wait for its peer is busy, as in memcached.
    pub fn is_idle(&self, now: u32, timeout: u32) -> bool {
        let last = self.info.last_cmd.load(Ordering::Relaxed);
        // A watcher sends nothing by design; memcached does not kick one.
        !self.is_watching() && self.pending_output() == 0 && now.saturating_sub(last) > timeout
    }

    fn pending_output(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Write buffered replies. Ok(true) when everything went out.
    pub fn flush(&mut self, stats: &ThreadStats) -> io::Result<bool> {
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.wpos += n;
                    ThreadStats::add(&stats.bytes_written, n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        match self.stream.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
        self.wbuf.clear();
        self.wpos = 0;
        if self.wbuf.capacity() > WBUF_HIGH {
            self.wbuf.shrink_to(RBUF_INITIAL);
        }
        Ok(true)
    }
}

/// `ssl_new_sessions`, `ssl_handshake_errors` and `ssl_proto_errors`.
fn tls_accounting(t: &mut TlsStream, read: &io::Result<usize>, shared: &Shared) {
    let Some(tls) = &shared.tls else { return };
    if t.take_handshake_done() {
        tls.new_sessions.fetch_add(1, Ordering::Relaxed);
    } else if !t.is_handshaking() {
        // A record rustls refuses (the stream reports it as InvalidData).
        if matches!(read, Err(e) if e.kind() == io::ErrorKind::InvalidData) {
            tls.proto_errors.fetch_add(1, Ordering::Relaxed);
        }
    } else {
        let failed = match read {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => {
                e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted
            }
        };
        if failed {
            tls.handshake_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

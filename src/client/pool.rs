//! Connections to one server: blocking sockets with timeouts (TCP, TLS over
//! TCP, or a unix socket), a read buffer the sans-IO reply parser works on,
//! and a small pool of idle connections.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::{ClientConnection, StreamOwned};

use super::binary::{self, Frame, HEADER_LEN};
use super::tls::{self, TlsConfig};
use super::types::{Addr, Error, Timeouts};
use crate::protocol::text_reply::{self, Reply};
use crate::protocol::Status;

enum Stream {
    Tcp(TcpStream),
    /// Boxed: a rustls session is large next to a socket.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    Unix(UnixStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf),
            // rustls encrypts into its buffer; flush sends all of it.
            Stream::Tls(s) => s.write_all(buf).and_then(|()| s.flush()),
            Stream::Unix(s) => s.write_all(buf),
        }
    }
}

/// A TLS session over `tcp`, the handshake done, so a refused certificate
/// is reported at connect with the server's address.
fn handshake(
    mut tcp: TcpStream,
    config: &TlsConfig,
    host: &str,
    port: u16,
) -> Result<StreamOwned<ClientConnection, TcpStream>, Error> {
    let name = config.server_name(host)?;
    let mut session = ClientConnection::new(config.rustls().clone(), name)
        .map_err(|e| Error::Tls(e.to_string()))?;
    while session.is_handshaking() {
        session
            .complete_io(&mut tcp)
            .map_err(|e| tls_error(e, &peer_name(host, port)))?;
    }
    Ok(StreamOwned::new(session, tcp))
}

/// `host:port` as a server list names it.
fn peer_name(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An IO error; a refused TLS session says which server refused it.
fn tls_error(e: io::Error, peer: &str) -> Error {
    match tls::rustls_error(&e) {
        Some(t) => Error::Tls(format!("{peer}: {}", tls::describe(t))),
        None => Error::Io(e),
    }
}

/// Whether a TLS session idle in the pool is still open: read (without
/// blocking) what the server sent meanwhile, such as TLS 1.3 session
/// tickets. Plaintext, a close or an error means it is not.
fn tls_usable(s: &mut StreamOwned<ClientConnection, TcpStream>) -> bool {
    if s.sock.set_nonblocking(true).is_err() {
        return false;
    }
    let alive = loop {
        match s.conn.read_tls(&mut s.sock) {
            Ok(0) => break false,
            Ok(_) => match s.conn.process_new_packets() {
                Ok(state) if state.plaintext_bytes_to_read() == 0 && !state.peer_has_closed() => {}
                _ => break false,
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break false,
        }
    };
    alive && s.sock.set_nonblocking(false).is_ok()
}

/// One open connection, with what it has read but not yet parsed.
pub struct Connection {
    stream: Stream,
    /// `host:port` of a TLS server, for its errors (an alert can come
    /// after the handshake, e.g. a required client certificate).
    peer: Option<String>,
    buf: Vec<u8>,
    /// Start of the unparsed bytes in `buf`.
    start: usize,
}

impl Connection {
    pub fn connect(
        addr: &Addr,
        t: &Timeouts,
        tls: Option<&TlsConfig>,
    ) -> Result<Connection, Error> {
        let peer = match (addr, tls) {
            (Addr::Tcp { host, port }, Some(_)) => Some(peer_name(host, *port)),
            _ => None,
        };
        let stream = match addr {
            Addr::Tcp { host, port } => {
                let mut last = None;
                let mut found = None;
                for sa in (host.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&sa, t.connect) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let s = match (found, last) {
                    (Some(s), _) => s,
                    (None, Some(e)) => return Err(e.into()),
                    (None, None) => {
                        return Err(Error::Io(io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("{host}: no address"),
                        )))
                    }
                };
                s.set_nodelay(true)?;
                s.set_read_timeout(nonzero(t.read))?;
                s.set_write_timeout(nonzero(t.write))?;
                match tls {
                    Some(config) => Stream::Tls(Box::new(handshake(s, config, host, *port)?)),
                    None => Stream::Tcp(s),
                }
            }
            Addr::Unix(path) => {
                let s = UnixStream::connect(path)?;
                s.set_read_timeout(nonzero(t.read))?;
                s.set_write_timeout(nonzero(t.write))?;
                Stream::Unix(s)
            }
        };
        Ok(Connection {
            stream,
            peer,
            buf: Vec::with_capacity(16 * 1024),
            start: 0,
        })
    }

    /// Whether an idle connection can still be used: nothing unread, and
    /// (TCP) the server has not closed it, e.g. for `idle_timeout`. Without
    /// this check the first request after a server-side close would fail
    /// and count against a healthy server.
    fn usable(&mut self) -> bool {
        if self.start != self.buf.len() {
            return false;
        }
        match &mut self.stream {
            Stream::Tcp(s) => {
                if s.set_nonblocking(true).is_err() {
                    return false;
                }
                let alive = matches!(s.peek(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
                alive && s.set_nonblocking(false).is_ok()
            }
            Stream::Tls(s) => tls_usable(s),
            Stream::Unix(_) => true,
        }
    }

    pub fn send(&mut self, request: &[u8]) -> Result<(), Error> {
        self.stream.write_all(request).map_err(|e| self.error(e))
    }

    fn error(&self, e: io::Error) -> Error {
        match &self.peer {
            Some(peer) => tls_error(e, peer),
            None => Error::Io(e),
        }
    }

    /// Read one reply and hand it to `f` (the reply borrows the buffer).
    pub fn reply<R>(&mut self, f: impl FnOnce(Reply<'_>) -> R) -> Result<R, Error> {
        loop {
            match text_reply::parse(&self.buf[self.start..]) {
                Ok(Status::Complete(reply, used)) => {
                    self.start += used;
                    let out = f(reply);
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    return Ok(out);
                }
                Ok(Status::Incomplete) => self.fill()?,
                Err(e) => return Err(Error::Protocol(format!("{e:?}"))),
            }
        }
    }

    /// Read one line of a reply the text parser does not know (a metadump
    /// line, a meta reply) and hand it to `f`, without its line ending.
    pub fn line<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R, Error> {
        loop {
            let unread = &self.buf[self.start..];
            if let Some(nl) = unread.iter().position(|&b| b == b'\n') {
                let line = &unread[..nl];
                let out = f(line.strip_suffix(b"\r").unwrap_or(line));
                self.start += nl + 1;
                return Ok(out);
            }
            if unread.len() > text_reply::MAX_REPLY_LINE {
                return Err(Error::Protocol("reply line too long".into()));
            }
            self.fill()?;
        }
    }

    /// Read a data block of `n` bytes and its `\r\n`.
    pub fn data(&mut self, n: usize) -> Result<Vec<u8>, Error> {
        self.need(n + 2)?;
        let block = &self.buf[self.start..self.start + n + 2];
        if &block[n..] != b"\r\n" {
            return Err(Error::Protocol("data block not ended by CRLF".into()));
        }
        let data = block[..n].to_vec();
        self.start += n + 2;
        Ok(data)
    }

    /// Read one binary-protocol response frame.
    pub fn frame(&mut self) -> Result<Frame, Error> {
        self.need(HEADER_LEN)?;
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&self.buf[self.start..self.start + HEADER_LEN]);
        let header = binary::decode_header(&h).map_err(|e| Error::Protocol(format!("{e:?}")))?;
        if header.body_len > MAX_FRAME_BODY {
            return Err(Error::Protocol(format!(
                "response body of {} bytes",
                header.body_len
            )));
        }
        let total = HEADER_LEN + header.body_len as usize;
        self.need(total)?;
        let body = self.buf[self.start + HEADER_LEN..self.start + total].to_vec();
        self.start += total;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Frame { header, body })
    }

    fn need(&mut self, n: usize) -> Result<(), Error> {
        while self.buf.len() - self.start < n {
            self.fill()?;
        }
        Ok(())
    }

    fn fill(&mut self) -> Result<(), Error> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        let want = (len + 16 * 1024).max(self.buf.capacity());
        self.buf.resize(want, 0);
        let n = match self.stream.read(&mut self.buf[len..]) {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(len);
                return Err(self.error(e));
            }
        };
        self.buf.truncate(len + n);
        if n == 0 {
            return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    }
}

/// Largest binary response body accepted (a rogue length must not make the
/// client allocate gigabytes).
const MAX_FRAME_BODY: u32 = 256 << 20;

/// A zero timeout means none, as `set_read_timeout` refuses zero.
fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// Idle connections to one server.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    /// An idle connection that is still open, if any.
    pub fn take(&self) -> Option<Connection> {
        loop {
            let mut conn = self.idle.lock().pop()?;
            if conn.usable() {
                return Some(conn);
            }
        }
    }

    /// Keep a healthy connection for reuse, up to `max` idle ones.
    pub fn put(&self, conn: Connection, max: usize) {
        let mut idle = self.idle.lock();
        if idle.len() < max {
            idle.push(conn);
        }
    }

    /// Drop every idle connection (after a failure they are suspect).
    pub fn clear(&self) {
        self.idle.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn timeouts() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(2),
            write: Duration::from_secs(2),
        }
    }

    #[test]
    fn a_connection_the_server_closed_is_not_reused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let addr = Addr::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let pool = Pool::default();
        pool.put(Connection::connect(&addr, &timeouts(), None).unwrap(), 4);
        let (open, _) = listener.accept().unwrap();
        assert!(pool.take().is_some(), "an open idle connection is reused");

        pool.put(Connection::connect(&addr, &timeouts(), None).unwrap(), 4);
        let (server_side, _) = listener.accept().unwrap();
        drop(server_side);
        // Wait until the FIN has arrived (bounded), then the pool drops it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let mut c = pool.idle.lock().pop().unwrap();
            if !c.usable() {
                break;
            }
            pool.put(c, 4);
            assert!(std::time::Instant::now() < deadline, "close never seen");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(pool.take().is_none());
        drop(open);
    }
}

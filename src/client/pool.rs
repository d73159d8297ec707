//! Connections to one server: blocking sockets with timeouts, a read buffer
//! the sans-IO reply parser works on, and a small pool of idle connections.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use parking_lot::Mutex;

use super::binary::{self, Frame, HEADER_LEN};
use super::{Addr, Error, Timeouts};
use crate::protocol::text_reply::{self, Reply};
use crate::protocol::Status;

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf),
            Stream::Unix(s) => s.write_all(buf),
        }
    }
}

/// One open connection, with what it has read but not yet parsed.
pub struct Connection {
    stream: Stream,
    buf: Vec<u8>,
    /// Start of the unparsed bytes in `buf`.
    start: usize,
}

impl Connection {
    pub fn connect(addr: &Addr, t: &Timeouts) -> Result<Connection, Error> {
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
                Stream::Tcp(s)
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
            buf: Vec::with_capacity(16 * 1024),
            start: 0,
        })
    }

    pub fn send(&mut self, request: &[u8]) -> Result<(), Error> {
        Ok(self.stream.write_all(request)?)
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
                return Err(e.into());
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
    pub fn take(&self) -> Option<Connection> {
        self.idle.lock().pop()
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

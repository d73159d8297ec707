//! `-U PORT`: text commands over UDP, framed as memcached frames them.
//!
//! Every datagram starts with an 8-byte header of big-endian u16s: request
//! id, sequence number, datagram count, reserved. A request must fit one
//! datagram (count 1); the reply is cut into datagrams of at most
//! [`MAX_DATAGRAM`] bytes including the header, each carrying the request id, its
//! sequence number and the total count, so the client can reassemble it.
//! Datagrams too short for a header are dropped.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use super::dispatch::{self, Flow, Session};
use super::Shared;
use crate::protocol::text;
use crate::protocol::Status;

pub const HEADER: usize = 8;
/// memcached's UDP_MAX_PAYLOAD_SIZE: bytes per reply datagram, header
/// included (memcached 1.6.18 sends 1392 reply bytes per datagram).
pub const MAX_DATAGRAM: usize = 1400;
const MAX_PAYLOAD: usize = MAX_DATAGRAM - HEADER;
/// How often a blocked receive looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(200);

/// A UDP request's frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub request_id: u16,
    pub sequence: u16,
    pub count: u16,
}

/// The header and payload of a datagram; `None` when it is too short to
/// hold a header.
pub fn parse_frame(datagram: &[u8]) -> Option<(Frame, &[u8])> {
    let (h, payload) = datagram.split_first_chunk::<HEADER>()?;
    let frame = Frame {
        request_id: u16::from_be_bytes([h[0], h[1]]),
        sequence: u16::from_be_bytes([h[2], h[3]]),
        count: u16::from_be_bytes([h[4], h[5]]),
    };
    Some((frame, payload))
}

/// Cut `reply` into framed datagrams (none for an empty reply).
pub fn frame_reply(request_id: u16, reply: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = reply.chunks(MAX_PAYLOAD).collect();
    // A reply too large for 65535 datagrams cannot be framed; memcached's
    // item size limit keeps real ones far below that.
    let Ok(count) = u16::try_from(chunks.len()) else {
        return Vec::new();
    };
    chunks
        .iter()
        .enumerate()
        .map(|(seq, chunk)| {
            let mut d = Vec::with_capacity(HEADER + chunk.len());
            d.extend_from_slice(&request_id.to_be_bytes());
            d.extend_from_slice(&(seq as u16).to_be_bytes());
            d.extend_from_slice(&count.to_be_bytes());
            d.extend_from_slice(&[0, 0]);
            d.extend_from_slice(chunk);
            d
        })
        .collect()
}

/// Bind the UDP sockets: `-U` on every `-l` address.
pub fn bind(shared: &Shared) -> io::Result<Vec<UdpSocket>> {
    use std::net::ToSocketAddrs;
    let config = &shared.config;
    let mut sockets = Vec::new();
    let Some(port) = config.udp_bind_port() else {
        return Ok(sockets);
    };
    for l in &config.listen_addrs {
        let host = l.host.trim_start_matches('[').trim_end_matches(']');
        for addr in (host, port).to_socket_addrs()? {
            let socket = UdpSocket::bind(addr)?;
            socket.set_read_timeout(Some(POLL))?;
            sockets.push(socket);
        }
    }
    Ok(sockets)
}

/// One thread per UDP socket: receive, execute, reply, until shutdown.
pub fn serve(shared: Arc<Shared>, socket: UdpSocket) {
    let stats = shared.stats.register();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    while !shared.is_shutting_down() {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                log::warn!("UDP receive failed: {e}");
                std::thread::sleep(POLL);
                continue;
            }
        };
        out.clear();
        let Some(flow) = handle(&shared, &stats, &buf[..n], &mut out) else {
            continue;
        };
        let request_id = u16::from_be_bytes([buf[0], buf[1]]);
        send(&socket, peer, request_id, &out);
        if flow == Flow::Shutdown {
            shared.shutdown();
        }
    }
}

fn send(socket: &UdpSocket, peer: SocketAddr, request_id: u16, reply: &[u8]) {
    for d in frame_reply(request_id, reply) {
        if let Err(e) = socket.send_to(&d, peer) {
            log::debug!("UDP send to {peer} failed: {e}");
            return;
        }
    }
}

/// Execute the text requests of one datagram into `out`; `None` means the
/// datagram is dropped without a reply.
fn handle(
    shared: &Shared,
    stats: &crate::stats::ThreadStats,
    datagram: &[u8],
    out: &mut Vec<u8>,
) -> Option<Flow> {
    let (frame, mut input) = parse_frame(datagram)?;
    // memcached drops requests spread over several datagrams, and empty ones.
    if frame.count != 1 || input.is_empty() {
        return None;
    }
    if input.first() == Some(&0x80) {
        return None; // The binary protocol is not served over UDP.
    }
    let mut session = Session::default();
    while !input.is_empty() {
        let (consumed, flow) = match text::parse(input, &shared.limits) {
            // A datagram is the whole request: a truncated one is dropped.
            Ok(Status::Incomplete) => break,
            Ok(Status::Complete(req, n)) => {
                (n, dispatch::text(req, shared, stats, &mut session, out))
            }
            Err(e) => (
                e.consumed,
                dispatch::text_refused(&e, shared, &session, out),
            ),
        };
        input = &input[consumed.min(input.len())..];
        match flow {
            // A datagram's session never sets `pause_above`: no pauses.
            Flow::Continue | Flow::Pause => {}
            Flow::Close => break,
            Flow::Shutdown => return Some(Flow::Shutdown),
        }
    }
    Some(Flow::Continue)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request id, sequence, count, payload.
    type Parsed<'a> = Option<(u16, u16, u16, &'a [u8])>;

    #[test]
    fn frames() {
        let table: &[(&[u8], Parsed)] = &[
            (b"", None),
            (b"\x00\x01\x00\x00\x00", None),
            (b"\x00\x01\x00\x00\x00\x01\x00", None),
            (b"\x00\x01\x00\x00\x00\x01\x00\x00", Some((1, 0, 1, b""))),
            (
                b"\xab\xcd\x00\x02\x00\x03\x00\x00get a\r\n",
                Some((0xabcd, 2, 3, b"get a\r\n")),
            ),
        ];
        for (bytes, want) in table {
            let got = parse_frame(bytes).map(|(f, p)| (f.request_id, f.sequence, f.count, p));
            assert_eq!(got, *want, "{bytes:?}");
        }
    }

    #[test]
    fn replies_are_cut_at_the_payload_limit() {
        assert!(frame_reply(7, b"").is_empty());
        let reply: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let ds = frame_reply(0x1234, &reply);
        assert_eq!(ds.len(), 3);
        assert_eq!(ds[0].len(), 1400, "memcached's datagram size");
        let mut joined = Vec::new();
        for (i, d) in ds.iter().enumerate() {
            let (f, p) = parse_frame(d).unwrap();
            assert_eq!((f.request_id, f.sequence, f.count), (0x1234, i as u16, 3));
            assert!(p.len() <= MAX_PAYLOAD);
            joined.extend_from_slice(p);
        }
        assert_eq!(joined, reply);
    }
}

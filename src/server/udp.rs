//! `-U PORT`: requests over UDP, framed as memcached frames them. Each
//! datagram runs through the same [`Exchange`] as a TCP connection, so text,
//! meta and binary are served alike.
//!
//! Every datagram starts with an 8-byte header of big-endian u16s: request
//! id, sequence number, datagram count, reserved. A request must fit one
//! datagram (count 1); each request's reply is cut into datagrams of at most
//! [`MAX_DATAGRAM`] bytes including the header, each carrying the request id, its
//! sequence number and the total count, so the client can reassemble it.
//! Datagrams too short for a header are dropped.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use super::exchange::{Exchange, Progress};
use super::shared::Shared;
use crate::protocol::Protocol;

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

/// Pass each framed datagram of `reply` to `send`, built in one buffer on
/// the stack (none for an empty reply).
pub fn for_each_datagram(request_id: u16, reply: &[u8], mut send: impl FnMut(&[u8]) -> bool) {
    // A reply too large for 65535 datagrams cannot be framed; memcached's
    // item size limit keeps real ones far below that.
    let Ok(count) = u16::try_from(reply.len().div_ceil(MAX_PAYLOAD)) else {
        return;
    };
    let mut d = [0u8; MAX_DATAGRAM];
    d[..2].copy_from_slice(&request_id.to_be_bytes());
    d[4..6].copy_from_slice(&count.to_be_bytes());
    for (seq, chunk) in reply.chunks(MAX_PAYLOAD).enumerate() {
        d[2..4].copy_from_slice(&(seq as u16).to_be_bytes());
        d[HEADER..HEADER + chunk.len()].copy_from_slice(chunk);
        if !send(&d[..HEADER + chunk.len()]) {
            return;
        }
    }
}

/// Cut `reply` into framed datagrams (none for an empty reply).
pub fn frame_reply(request_id: u16, reply: &[u8]) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for_each_datagram(request_id, reply, |d| {
        all.push(d.to_vec());
        true
    });
    all
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
        let Some((frame, input)) = parse_frame(&buf[..n]) else {
            continue;
        };
        // memcached drops requests spread over several datagrams, and empty
        // ones.
        if frame.count != 1 || input.is_empty() {
            continue;
        }
        let reply = |out: &[u8], binary: bool| send(&socket, peer, frame.request_id, out, binary);
        if handle(&shared, &stats, input, &mut out, reply) == Progress::Shutdown {
            shared.shutdown();
        }
    }
}

/// Send one request's reply to `peer`. memcached frames each reply on its
/// own (sequence numbers start again at 0), sends nothing for a text
/// `noreply`, and a bare header (count 0) for a quiet binary request.
fn send(socket: &UdpSocket, peer: SocketAddr, request_id: u16, reply: &[u8], binary: bool) {
    let out = |d: &[u8]| match socket.send_to(d, peer) {
        Ok(_) => true,
        Err(e) => {
            log::debug!("UDP send to {peer} failed: {e}");
            false
        }
    };
    if reply.is_empty() {
        if binary {
            let mut header = [0u8; HEADER];
            header[..2].copy_from_slice(&request_id.to_be_bytes());
            out(&header);
        }
        return;
    }
    for_each_datagram(request_id, reply, out);
}

/// Execute the requests of one datagram through the same exchange as a TCP
/// connection, one at a time: `reply` gets each request's reply as it is
/// made. A datagram is the whole input: a truncated request at its end is
/// dropped, and a multi-get never pauses.
fn handle(
    shared: &Shared,
    stats: &crate::stats::ThreadStats,
    input: &[u8],
    out: &mut Vec<u8>,
    mut reply: impl FnMut(&[u8], bool),
) -> Progress {
    let mut exchange = Exchange::datagram();
    let mut pos = 0;
    loop {
        out.clear();
        let mut budget = 1;
        let (used, progress) = exchange.process(shared, stats, &input[pos..], out, 0, &mut budget);
        pos += used;
        if budget == 0 {
            reply(out, exchange.protocol() == Some(Protocol::Binary));
        }
        match progress {
            Progress::Budget | Progress::Backpressure => {}
            done => return done,
        }
    }
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

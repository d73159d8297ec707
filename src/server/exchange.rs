//! The socket-free half of a connection: protocol detection, parsing,
//! the `-R` budget and back-pressure, over the bytes read so far. A TCP
//! [`super::conn::Conn`] runs it on its read buffer, the UDP server on each
//! datagram, the whole-connection fuzz target on plain bytes. Each request
//! goes to its protocol's front end (`super::front`), which runs it through
//! the execution layer (`super::exec`).

use std::time::Instant;

use super::exec::{Exec, Flow, Session};
use super::front;
use super::shared::Shared;
use crate::config::ProtocolMode;
use crate::protocol::{binary, text, CommandKind, Protocol, Status};
use crate::stats::ThreadStats;

/// Unsent reply bytes above which a connection stops parsing requests until
/// its peer reads (back-pressure).
pub const WBUF_HIGH: usize = 1 << 20;

/// Times one command for `-o metrics_listen` (nothing when it is off).
struct Timer(Option<(usize, Instant)>);

impl Timer {
    #[inline]
    fn start(shared: &Shared, kind: impl FnOnce() -> CommandKind) -> Timer {
        Timer(shared.metrics_on.then(|| (kind() as usize, Instant::now())))
    }

    #[inline]
    fn stop(self, stats: &ThreadStats) {
        if let Some((kind, t)) = self.0 {
            let nanos = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
            stats.latency.record(kind, nanos);
        }
    }
}

/// Why [`Exchange::process`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Every complete request is executed; more bytes are needed.
    NeedInput,
    /// The request budget is spent.
    Budget,
    /// The unsent replies passed the bound: write them first.
    Backpressure,
    /// Close once the replies are written.
    Close,
    /// Close and stop the server.
    Shutdown,
}

/// The socket-free half of a connection: protocol detection, parsing and
/// execution over the bytes read so far. `Conn` runs it on its read
/// buffer; the whole-connection fuzz target runs it on plain bytes.
#[derive(Debug)]
pub struct Exchange {
    protocol: Option<Protocol>,
    /// Bytes of a refused request's data block still to discard.
    skip: usize,
    session: Session,
}

impl Exchange {
    /// A connection's exchange: a multi-get pauses at the back-pressure
    /// bound, like a run of requests.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Exchange {
        Exchange {
            protocol: None,
            skip: 0,
            session: Session {
                pause_above: Some(WBUF_HIGH),
                ..Session::default()
            },
        }
    }

    /// One UDP datagram's exchange: the whole request is in hand, so a
    /// multi-get never pauses; the protocol is the datagram's own.
    pub fn datagram() -> Exchange {
        Exchange {
            protocol: None,
            skip: 0,
            session: Session::default(),
        }
    }

    /// The protocol, once the first byte has decided it.
    pub fn protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The connection's descriptor, for the logs.
    pub fn set_fd(&mut self, fd: i32) {
        self.session.fd = fd;
    }

    /// Bytes of a refused request's data block still to discard.
    pub fn skipping(&self) -> usize {
        self.skip
    }

    /// Execute the requests at the start of `input`, appending their
    /// replies to `out`, whose first `sent` bytes are already written; one
    /// unit of `budget` per request. Returns the bytes consumed (never more
    /// than `input.len()`) and why it stopped.
    pub fn process(
        &mut self,
        shared: &Shared,
        stats: &ThreadStats,
        input: &[u8],
        out: &mut Vec<u8>,
        sent: usize,
        budget: &mut usize,
    ) -> (usize, Progress) {
        let mut pos = 0;
        loop {
            // A watching connection only receives its log lines; what it
            // sends is dropped, as memcached stops reading it.
            if let Some(w) = &self.session.watcher {
                if out.len() - sent < WBUF_HIGH {
                    w.drain_into(out);
                }
                return (input.len(), Progress::NeedInput);
            }
            if self.skip > 0 {
                let n = self.skip.min(input.len() - pos);
                pos += n;
                self.skip -= n;
                if self.skip > 0 {
                    return (pos, Progress::NeedInput);
                }
            }
            if pos == input.len() {
                return (pos, Progress::NeedInput);
            }
            if *budget == 0 {
                return (pos, Progress::Budget);
            }
            if out.len() - sent > WBUF_HIGH {
                return (pos, Progress::Backpressure);
            }
            let rest = &input[pos..];
            let protocol = *self.protocol.get_or_insert_with(|| match shared.protocol {
                ProtocolMode::Ascii => Protocol::Text,
                _ => Protocol::detect(rest[0]),
            });
            if protocol == Protocol::Text && shared.protocol == ProtocolMode::Binary {
                // `-B binary` (or `-S`): text is not spoken here.
                return (pos, Progress::Close);
            }
            let session = &mut self.session;
            let ex = Exec {
                fd: session.fd,
                ..Exec::new(shared, stats)
            };
            let (consumed, flow) = match protocol {
                Protocol::Text => match text::parse(rest, &shared.limits) {
                    Ok(Status::Incomplete) => return (pos, Progress::NeedInput),
                    Ok(Status::Complete(req, n)) => {
                        let timer = Timer::start(shared, || CommandKind::of_text(&req));
                        let flow = front::text(req, &ex, session, out);
                        timer.stop(stats);
                        (n, flow)
                    }
                    Err(e) => (e.consumed, front::text_refused(&e, &ex, session, out)),
                },
                Protocol::Binary => match binary::parse(rest, &shared.limits) {
                    Ok(Status::Incomplete) => return (pos, Progress::NeedInput),
                    Ok(Status::Complete(req, n)) => {
                        let timer = Timer::start(shared, || CommandKind::of_binary(&req));
                        let flow = front::binary(req, &ex, session, out);
                        timer.stop(stats);
                        (n, flow)
                    }
                    Err(e) => (e.consumed, front::binary_error(&e, rest, &ex, session, out)),
                },
            };
            *budget -= 1;
            if flow == Flow::Pause && self.session.dump.is_some() {
                // A dump gives the worker's other connections their turn
                // after each chunk.
                *budget = 0;
            }
            if flow == Flow::Pause {
                // The same request again once the replies are out.
                return (pos, Progress::Backpressure);
            }
            pos += consumed.min(rest.len());
            self.skip = consumed.saturating_sub(rest.len());
            match flow {
                Flow::Continue | Flow::Pause => {}
                Flow::Close => return (pos, Progress::Close),
                Flow::Shutdown => return (pos, Progress::Shutdown),
            }
        }
    }
}

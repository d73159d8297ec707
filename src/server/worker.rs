//! A worker thread: one `mio::Poll`, the connections it owns for their whole
//! life (in a `Slab` keyed by token), and the requests they send.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use super::conn::{Conn, Next};
use super::inspect;
use super::shared::Shared;
use super::watch;
use crate::stats::ThreadStats;

/// Token of the waker the listener uses to announce new connections.
pub const WAKER: Token = Token(usize::MAX);

pub struct Worker {
    poll: Poll,
    conns: Slab<Conn>,
    incoming: Receiver<Conn>,
    shared: Arc<Shared>,
    stats: Arc<ThreadStats>,
    /// Connections that yielded with requests left (the `-R` budget).
    ready: VecDeque<Token>,
    /// `-o idle_timeout`: when this worker next looks for idle connections.
    next_idle_check: Instant,
}

/// How often a worker looks for idle connections (memcached's timeout
/// thread wakes about once a second too).
const IDLE_CHECK: Duration = Duration::from_secs(1);

impl Worker {
    /// A worker and the waker that tells it a connection is waiting.
    pub fn new(shared: Arc<Shared>, incoming: Receiver<Conn>) -> io::Result<(Worker, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let stats = shared.stats.register();
        Ok((
            Worker {
                poll,
                conns: Slab::new(),
                incoming,
                shared,
                stats,
                ready: VecDeque::new(),
                next_idle_check: Instant::now() + IDLE_CHECK,
            },
            waker,
        ))
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let idle_timeout = self.shared.config.extended.idle_timeout;
        loop {
            let timeout = if !self.ready.is_empty() {
                Some(Duration::ZERO)
            } else if idle_timeout > 0 {
                Some(
                    self.next_idle_check
                        .saturating_duration_since(Instant::now()),
                )
            } else {
                None
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("worker poll failed: {e}");
                break;
            }
            if self.shared.is_shutting_down() {
                break;
            }
            // Busy: requests to serve besides a dump that yielded. A dump
            // and an online snapshot take only their share while their
            // worker (or any worker) has been busy lately.
            if !events.is_empty() || self.ready.len() > 1 {
                let now = crate::stats::micros();
                inspect::set_worker_busy(now);
                self.stats.busy_at.store(now, Ordering::Relaxed);
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => {
                        self.adopt();
                        self.drive_watchers();
                    }
                    token => {
                        if let Some(conn) = self.conns.get_mut(token.0) {
                            conn.ready(event.is_readable(), event.is_read_closed());
                        }
                        self.drive(token);
                    }
                }
            }
            for _ in 0..self.ready.len() {
                if let Some(token) = self.ready.pop_front() {
                    self.drive(token);
                }
            }
            if idle_timeout > 0 && Instant::now() >= self.next_idle_check {
                self.next_idle_check = Instant::now() + IDLE_CHECK;
                self.kick_idle(u32::try_from(idle_timeout).unwrap_or(u32::MAX));
            }
        }
        self.finish();
    }

    /// Close the connections idle for longer than `-o idle_timeout`.
    fn kick_idle(&mut self, timeout: u32) {
        let now = self.shared.cache.clock().now();
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_idle(now, timeout))
            .map(|(k, _)| k)
            .collect();
        for k in idle {
            if let Some(c) = self.conns.get(k) {
                log::info!("closing idle connection {}", c.info.addr);
            }
            ThreadStats::incr(&self.stats.idle_kicks);
            self.close(Token(k));
        }
    }

    /// Register the connections the listener handed over.
    fn adopt(&mut self) {
        while let Ok(mut conn) = self.incoming.try_recv() {
            let entry = self.conns.vacant_entry();
            let token = Token(entry.key());
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut conn.stream, token, interest)
            {
                log::warn!("could not register a connection: {e}");
                self.shared.forget(&conn.info, conn.read_buf_len());
                continue;
            }
            watch::conn_event(&self.shared, &conn.info.addr, conn.info.fd, None);
            entry.insert(conn);
            // Bytes may have arrived before registration.
            self.drive(token);
        }
    }

    /// Move pending log lines to the connections that `watch`.
    fn drive_watchers(&mut self) {
        let watching: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_watching())
            .map(|(k, _)| k)
            .collect();
        for k in watching {
            self.drive(Token(k));
        }
    }

    fn drive(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(token.0) else {
            return;
        };
        match conn.drive(&self.shared, &self.stats) {
            Next::Wait => {}
            Next::Yield => {
                if !self.ready.contains(&token) {
                    self.ready.push_back(token);
                }
            }
            Next::Close => self.close(token),
            Next::Shutdown => {
                self.close(token);
                self.shared.shutdown();
            }
        }
    }

    fn close(&mut self, token: Token) {
        if let Some(mut conn) = self.conns.try_remove(token.0) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            let error = conn.closed_on_error();
            watch::conn_event(&self.shared, &conn.info.addr, conn.info.fd, Some(error));
            self.shared.forget(&conn.info, conn.read_buf_len());
        }
    }

    /// Graceful shutdown: answer every request the peers already sent and
    /// write the replies, for at most `-o shutdown_timeout` seconds, then
    /// close everything.
    fn finish(&mut self) {
        let timeout = Duration::from_secs(self.shared.config.extended.shutdown_timeout);
        let deadline = Instant::now() + timeout;
        let mut events = Events::with_capacity(1024);
        loop {
            // Connections the listener took from its backlog at the stop.
            let accepting = self.shared.is_accepting();
            self.adopt();
            let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
            for k in keys {
                let done = match self.conns.get_mut(k) {
                    Some(conn) => conn.drain_step(&self.shared, &self.stats).unwrap_or(true),
                    None => continue,
                };
                if done {
                    self.close(Token(k));
                }
            }
            let now = Instant::now();
            if (self.conns.is_empty() && !accepting && self.incoming.is_empty()) || now >= deadline
            {
                break;
            }
            // Wait for peers to read (writable) or for more of their bytes.
            let wait = (deadline - now).min(Duration::from_millis(50));
            let _ = self.poll.poll(&mut events, Some(wait));
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for k in keys {
            self.close(Token(k));
        }
    }
}

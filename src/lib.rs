//! ferrocache: a memcached-compatible, multi-threaded cache daemon.
//!
//! # Thread model
//! ```text
//!  listener thread                      worker threads (-t, one mio::Poll each)
//!  ───────────────                      ───────────────────────────────────────
//!  TcpListener(s), UnixListener          Slab<Conn> keyed by mio Token
//!    accept until WouldBlock               readable: read into Conn.rbuf
//!    -c gate: "ERROR Too many open         loop, at most -R requests:
//!      connections", close                    protocol::text::parse(&rbuf)
//!    round-robin ──Conn──▶ channel              → Complete(req, used) | Incomplete | Err
//!                  + mio::Waker  ──────▶      server::dispatch → Cache → reply bytes
//!                                          one write() for the whole batch
//!  maintenance thread: clock tick, expired-item crawler, cache_memlimit
//! ```
//! A worker owns its connections for their whole life and blocks only in
//! `poll`. Reads drain to `WouldBlock`; replies to a batch of pipelined
//! requests leave in one `write`; a connection with more than 1 MiB of
//! unsent replies stops being parsed until its peer reads (back-pressure);
//! after `-R` requests a connection yields to the others.
//!
//! # Data path
//! Bytes → [`protocol`] (pure parsers: no IO, no allocation, requests borrow
//! from the read buffer) → `server::dispatch` (the one `match` from requests
//! to store calls) → [`store::Cache`] (lock-striped, slab-allocated; knows
//! nothing of sockets or protocols) → reply bytes appended to the
//! connection's write buffer.
//!
//! # Modules
//! - [`config`]: memcached's command-line flags and defaults.
//! - [`protocol`]: sans-IO parsers for the text protocol.
//! - [`store`]: the cache: stripes, slab pages, CLOCK eviction, expiry.
//! - [`server`]: listener, workers, connections, dispatch, `stats` report.
//! - [`stats`]: per-thread counters with memcached's names.
//! - [`clock`]: the coarse clock and memcached's exptime rules.
//!
//! `docs/architecture.md` explains the choices behind each.

#![forbid(unsafe_code)]

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "daemon")]
pub mod clock;
#[cfg(feature = "daemon")]
pub mod config;
#[cfg(feature = "daemon")]
pub mod daemon;
#[cfg(feature = "daemon")]
pub mod manpage;
#[cfg(feature = "client")]
mod pem;
pub mod protocol;
#[cfg(feature = "daemon")]
pub mod server;
#[cfg(feature = "daemon")]
pub mod stats;
#[cfg(feature = "daemon")]
pub mod store;
#[cfg(feature = "daemon")]
pub mod systemd;

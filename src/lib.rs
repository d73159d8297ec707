//! ferrocache: a memcached-compatible, multi-threaded cache daemon.
//!
//! # Thread model
//! ```text
//!  listener thread                      worker threads (-t, one mio::Poll each)
//!  ───────────────                      ───────────────────────────────────────
//!  TcpListener(s), UnixListener          Slab<Conn> keyed by mio Token
//!    accept until WouldBlock               readable: read into Conn.rbuf
//!    -c gate: "ERROR Too many open         server::Exchange, at most -R requests:
//!      connections", close                    protocol::*::parse(&rbuf)
//!    round-robin ──Conn──▶ channel              → Complete(req, used) | Incomplete | Err
//!                  + mio::Waker  ──────▶      front end → exec → Cache → reply bytes
//!                                          one write() for the whole batch
//!  UDP threads (-U): each datagram through the same Exchange
//!  maintenance thread: clock tick, expired-item crawler, cache_memlimit
//! ```
//! A worker owns its connections for their whole life and blocks only in
//! `poll`. Reads drain to `WouldBlock`; replies to a batch of pipelined
//! requests leave in one `write`; a connection with more than 1 MiB of
//! unsent replies stops being parsed until its peer reads (back-pressure);
//! after `-R` requests a connection yields to the others.
//!
//! # Data path
//! ```text
//! bytes ─▶ front end ─▶ operation ─▶ execution layer ─▶ store ─▶ outcome ─▶ front end ─▶ bytes
//!          (protocol::{text,meta,binary} parse;          (server::exec)   (store::Cache)
//!           server::front decodes)                                          (server::front encodes)
//! ```
//! The parsers in [`protocol`] are pure (no IO, no allocation; requests
//! borrow from the read buffer). The front ends (`server::front`) only turn
//! requests into operations in domain terms and outcomes into their wire
//! format. The execution layer (`server::exec`) is the one join between
//! protocols and [`store::Cache`] (lock-striped, over one log of segments; knows
//! nothing of sockets or protocols): counters, the failed-set rule, the auth
//! gate, the no-bump rule and the one reserve-and-retry read live there.
//! `server::Exchange` runs the request loop (budget, back-pressure) for TCP
//! connections and UDP datagrams alike.
//!
//! # Modules
//! - [`config`]: memcached's command-line flags, the `-o` sub-option table,
//!   the config file, validation.
//! - [`protocol`]: sans-IO parsers for text, meta and binary; their shared
//!   vocabulary (`protocol::common`), the binary header codec, `CommandKind`.
//! - [`store`]: the cache: stripes, the segment log, compaction and CLOCK
//!   eviction, expiry.
//! - [`server`]: listener, workers, connections, the exchange, front ends,
//!   the execution layer, the `stats` report and `/metrics`.
//! - [`client`]: the client library (ketama ring, pool, failover, TLS).
//! - [`stats`]: per-thread counters with memcached's names.
//! - [`hotkeys`]: the hot-key sampler, sketch and window (`stats hotkeys`).
//! - [`clock`]: the coarse clock and memcached's exptime rules.
//! - [`persist`]: snapshot files of the cache (warm restart, `-e`).
//!
//! Features: `daemon` (default) is everything; `client` alone builds
//! [`protocol`] and `client` without the daemon's dependencies.
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
pub mod hotkeys;
#[cfg(feature = "daemon")]
pub mod manpage;
#[cfg(feature = "client")]
mod pem;
#[cfg(feature = "daemon")]
pub mod persist;
pub mod protocol;
#[cfg(feature = "daemon")]
pub mod server;
#[cfg(feature = "daemon")]
pub mod stats;
#[cfg(feature = "daemon")]
pub mod store;
#[cfg(feature = "daemon")]
pub mod systemd;

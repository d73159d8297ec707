//! IO: the listener, the worker event loops and the connections. The store
//! and the protocol code know nothing of this module.

pub mod auth;
mod cluster;
mod conn;
mod conn_table;
mod exchange;
mod exec;
mod front;
mod inspect;
pub mod metrics;
mod portfile;
mod readbuf;
mod report;
mod sasl_conf;
mod sasldb;
mod shared;
pub mod tls;
pub mod udp;
mod watch;
mod worker;

use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;

use crate::clock::Clock;
use crate::config::{Config, ProtocolMode};
use crate::protocol::text;
use crate::stats::Stats;
use crate::store::{Cache, CacheConfig, SlabConfig, HDR};
use crate::systemd::Inherited;
use conn::{Conn, Stream};
use conn_table::{ConnInfo, Endpoint};
pub use exchange::{Exchange, Progress};
pub use shared::{Shared, VERSION};
use worker::Worker;

enum Listener {
    /// The flag: TLS on this listener (`-Z` and no `notls:` prefix).
    Tcp(TcpListener, String, bool),
    Unix(UnixListener, String),
}

/// A bound, not yet running server.
pub struct Server {
    shared: Arc<Shared>,
    metrics: Option<std::net::TcpListener>,
    udp: Vec<std::net::UdpSocket>,
    listeners: Vec<Listener>,
    unix_path: Option<PathBuf>,
}

/// A running server: its addresses, and the means to stop it.
pub struct ServerHandle {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
    unix_path: Option<PathBuf>,
}

impl Server {
    /// Build the store and bind every listener `config` names.
    pub fn bind(config: Config) -> io::Result<Server> {
        Server::bind_with(config, Vec::new())
    }

    /// [`Server::bind`], but serve on `inherited` (systemd socket
    /// activation) instead of binding `-l`/`-p`/`-s` when it is not empty.
    pub fn bind_with(config: Config, inherited: Vec<Inherited>) -> io::Result<Server> {
        let cache = Cache::new(cache_config(&config), Arc::new(Clock::new()));
        // A warm restart loads before any port opens (and READY=1).
        let persist = crate::persist::Status::default();
        let unclean = config.extended.snapshot_load_unclean;
        let opts = crate::persist::LoadOptions { unclean };
        let files = [&config.memory_file, &config.extended.snapshot_path];
        for path in files.into_iter().flatten() {
            // The online snapshot only when no -e file loaded.
            if let Some(p) = persist.load_at_start(&cache, path, opts) {
                cache.raise_hash_power(p);
                break;
            }
        }
        let mut listeners = Vec::new();
        let mut tcp_port = 0;
        let activated = !inherited.is_empty();
        for l in inherited {
            match l {
                Inherited::Tcp(t) => {
                    t.set_nonblocking(true)?;
                    let local = t.local_addr()?;
                    if tcp_port == 0 {
                        tcp_port = local.port();
                    }
                    let t = TcpListener::from_std(t);
                    // A socket handed over by the service manager speaks TLS when -Z is on.
                    listeners.push(Listener::Tcp(t, format!("tcp:{local}"), config.tls));
                }
                Inherited::Unix(u) => {
                    u.set_nonblocking(true)?;
                    let name = match u.local_addr()?.as_pathname() {
                        Some(p) => format!("unix:{}", p.display()),
                        None => "unix:".to_string(),
                    };
                    listeners.push(Listener::Unix(UnixListener::from_std(u), name));
                }
            }
        }
        // No TCP with socket activation, -p 0 or -s (memcached: a unix
        // socket disables the network listeners).
        let port_arg = config.tcp_bind_port();
        let bind_addrs = if activated || port_arg.is_none() {
            &[][..]
        } else {
            &config.listen_addrs[..]
        };
        for l in bind_addrs {
            let port = l.port.or(port_arg).unwrap_or(0);
            let host = l.host.trim_start_matches('[').trim_end_matches(']');
            for addr in (host, port).to_socket_addrs()? {
                let listener = bind_tcp(addr, config.listen_backlog)?;
                let local = listener.local_addr()?;
                if tcp_port == 0 {
                    tcp_port = local.port();
                }
                listeners.push(Listener::Tcp(
                    listener,
                    format!("tcp:{local}"),
                    config.tls && !l.notls,
                ));
            }
        }
        // The socket unit owns an inherited socket's file.
        let unix_path = config.unix_socket.clone().filter(|_| !activated);
        if let Some(path) = &unix_path {
            let _ = std::fs::remove_file(path);
            let listener = UnixListener::bind(path)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(config.unix_mask))?;
            listeners.push(Listener::Unix(listener, format!("unix:{}", path.display())));
        }
        let limits = text::Limits {
            max_value: config.max_item_size.saturating_sub(HDR),
        };
        let max_request = (2 * config.max_item_size).max(4 << 20);
        let auth = auth::Auth::from_config(&config)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let protocol = match config.protocol {
            ProtocolMode::Auto if config.sasl => ProtocolMode::Binary,
            ProtocolMode::Auto if config.auth_file.is_some() => ProtocolMode::Ascii,
            p => p,
        };
        let cluster = cluster::Cluster::load(config.extended.cluster_config.clone())?;
        let tls = tls::Tls::from_config(&config, cache.clock().now())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let metrics = match &config.extended.metrics_listen {
            Some(addr) => Some(metrics::bind(addr)?),
            None => None,
        };
        let crawler = inspect::Crawler::new(&config);
        let prefixes = inspect::Prefixes::new(&config);
        let watchers = watch::Watchers::new(&config);
        let shared = Arc::new(Shared {
            metrics_on: metrics.is_some(),
            read_bufs: readbuf::ReadBufs::new(config.extended.read_buf_mem_limit),
            cluster,
            persist,
            tls,
            cache,
            stats: Stats::with_hot_keys(
                (config.extended.hot_keys > 0).then_some(config.extended.hot_keys_sample),
            ),
            hot: (config.extended.hot_keys > 0)
                .then(|| Mutex::new(crate::hotkeys::Tracker::new(config.extended.hot_keys))),
            config,
            crawler,
            prefixes,
            watchers,
            limits,
            max_request,
            tcp_port,
            protocol,
            auth,
            conns: Mutex::new(slab::Slab::new()),
            endpoints: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
            accepting: AtomicBool::new(true),
            wakers: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&shared);
        shared.cache.on_evict(Box::new(move |item| {
            if let Some(shared) = weak.upgrade() {
                watch::log_eviction(&shared, item);
            }
        }));
        let udp = udp::bind(&shared)?;
        if !activated && shared.config.unix_socket.is_none() {
            let tcp: Vec<SocketAddr> = listeners
                .iter()
                .filter_map(|l| match l {
                    Listener::Tcp(t, ..) => t.local_addr().ok(),
                    Listener::Unix(..) => None,
                })
                .collect();
            let udp: Vec<SocketAddr> = udp.iter().filter_map(|u| u.local_addr().ok()).collect();
            portfile::write_from_env(&tcp, &udp);
        }
        let since = shared.cache.clock().now();
        let mut endpoints = Vec::new();
        for l in &listeners {
            let (fd, name) = match l {
                Listener::Tcp(t, name, _) => (t.as_raw_fd(), name),
                Listener::Unix(u, name) => (u.as_raw_fd(), name),
            };
            endpoints.push(Endpoint::listening(fd, name.clone(), since));
        }
        for u in &udp {
            let addr = u.local_addr()?;
            endpoints.push(Endpoint::udp(u.as_raw_fd(), addr, since));
        }
        *shared.endpoints.lock() = endpoints;
        Ok(Server {
            metrics,
            shared,
            udp,
            listeners,
            unix_path,
        })
    }

    /// The `-o metrics_listen` address actually bound.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The state the threads will share; without listeners (no `-l`, `-p`,
    /// `-s`, `-U`) a server is a store and its execution layer, as the fuzzer uses it.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// TCP addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| match l {
                Listener::Tcp(t, ..) => t.local_addr().ok(),
                Listener::Unix(..) => None,
            })
            .collect()
    }

    /// Start the worker, listener and maintenance threads.
    pub fn start(self) -> io::Result<ServerHandle> {
        let addrs = self.local_addrs();
        let shared = self.shared;
        let mut threads = Vec::new();
        let mut senders = Vec::new();
        for i in 0..shared.config.threads.max(1) {
            let (tx, rx) = crossbeam_channel::unbounded();
            let (worker, waker) = Worker::new(shared.clone(), rx)?;
            shared.wakers.lock().push(waker.clone());
            senders.push((tx, waker));
            threads.push(
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || worker.run())?,
            );
        }
        for (i, socket) in self.udp.into_iter().enumerate() {
            let s = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("udp-{i}"))
                    .spawn(move || udp::serve(s, socket))?,
            );
        }
        let acceptor = Acceptor::new(shared.clone(), self.listeners, senders)?;
        threads.push(
            std::thread::Builder::new()
                .name("listener".into())
                .spawn(move || acceptor.run())?,
        );
        if let Some(listener) = self.metrics {
            let s = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("metrics".into())
                    .spawn(move || metrics::serve(s, listener))?,
            );
        }
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("maintenance".into())
                .spawn(move || maintain(&s))?,
        );
        if let Some(path) = shared.config.extended.snapshot_path.clone() {
            let s = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("snapshot".into())
                    .spawn(move || snapshots(&s, &path))?,
            );
        }
        Ok(ServerHandle {
            shared,
            addrs,
            threads,
            unix_path: self.unix_path,
        })
    }
}

impl ServerHandle {
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stop accepting, answer what was read, close, and join every thread.
    pub fn shutdown(self) {
        self.shared.shutdown();
        self.join();
    }

    /// Wait until the server stops (a `shutdown` command or a signal).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
        if let Some(p) = &self.unix_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn cache_config(c: &Config) -> CacheConfig {
    CacheConfig {
        memory_limit: c.memory_limit,
        max_item_size: c.max_item_size,
        evictions: !c.disable_evictions,
        use_cas: !c.disable_cas,
        temporary_ttl: c.extended.temporary_ttl,
        slab: SlabConfig {
            min_data: c.slab_min_size,
            growth_factor: c.slab_growth_factor,
            chunk_max: c.slab_chunk_max(),
        },
    }
}

fn bind_tcp(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// The listener thread: accepts and deals connections to workers in turn.
struct Acceptor {
    shared: Arc<Shared>,
    poll: Poll,
    listeners: Vec<Listener>,
    workers: Vec<(Sender<Conn>, Arc<Waker>)>,
    next: usize,
}

const STOP: Token = Token(usize::MAX);

impl Acceptor {
    fn new(
        shared: Arc<Shared>,
        mut listeners: Vec<Listener>,
        workers: Vec<(Sender<Conn>, Arc<Waker>)>,
    ) -> io::Result<Acceptor> {
        let poll = Poll::new()?;
        for (i, l) in listeners.iter_mut().enumerate() {
            match l {
                Listener::Tcp(t, ..) => {
                    poll.registry().register(t, Token(i), Interest::READABLE)?
                }
                Listener::Unix(u, _) => {
                    poll.registry().register(u, Token(i), Interest::READABLE)?
                }
            }
        }
        shared
            .wakers
            .lock()
            .push(Arc::new(Waker::new(poll.registry(), STOP)?));
        Ok(Acceptor {
            shared,
            poll,
            listeners,
            workers,
            next: 0,
        })
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(64);
        while !self.shared.is_shutting_down() {
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("listener poll failed: {e}");
                self.shared.shutdown();
                break;
            }
            for event in events.iter() {
                if event.token() != STOP {
                    self.accept_all(event.token().0);
                }
            }
        }
        // Clients whose connections completed before the stop are in the
        // backlog: take them too, so they are answered rather than reset.
        for i in 0..self.listeners.len() {
            self.accept_all(i);
        }
        self.listeners.clear();
        self.shared.accepting.store(false, Ordering::Release);
        self.shared.wake_all();
    }

    /// Accept until the listener would block.
    fn accept_all(&mut self, i: usize) {
        loop {
            let accepted = match &self.listeners[i] {
                Listener::Tcp(t, name, tls) => t.accept().and_then(|(s, peer)| {
                    let _ = s.set_nodelay(true);
                    let stream = match (&self.shared.tls, tls) {
                        (Some(tls), true) => Stream::Tls(Box::new(tls.accept(s)?)),
                        _ => Stream::Tcp(s),
                    };
                    Ok((stream, format!("tcp:{peer}"), name.clone()))
                }),
                // memcached 1.6.18 shows a unix peer (which has no name)
                // as `?:<AF 0>` in `stats conns`; say the same.
                Listener::Unix(u, name) => u
                    .accept()
                    .map(|(s, _)| (Stream::Unix(s), "?:<AF 0>".into(), name.clone())),
            };
            match accepted {
                Ok((stream, addr, listen_addr)) => self.hand_over(stream, addr, listen_addr),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors and the like: try again on the next
                    // event rather than spin.
                    log::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn hand_over(&mut self, mut stream: Stream, addr: String, listen_addr: String) {
        let stats = &self.shared.stats;
        let curr = stats.curr_connections.fetch_add(1, Ordering::Relaxed);
        if curr as usize >= self.shared.config.conn_limit {
            stats.curr_connections.fetch_sub(1, Ordering::Relaxed);
            stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            // memcached's maxconns_fast answer; the socket is fresh, so this
            // small write fits its buffer.
            let _ = stream.write(b"ERROR Too many open connections\r\n");
            return;
        }
        stats.total_connections.fetch_add(1, Ordering::Relaxed);
        let fd = match &stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.tcp.as_raw_fd(),
        };
        let info = Arc::new(ConnInfo {
            fd,
            addr,
            listen_addr,
            last_cmd: AtomicU32::new(self.shared.cache.clock().now()),
            state: Default::default(),
        });
        self.shared.conns.lock().insert(info.clone());
        let conn = Conn::new(stream, info);
        let (tx, waker) = &self.workers[self.next % self.workers.len()];
        self.next = self.next.wrapping_add(1);
        if tx.send(conn).is_ok() {
            let _ = waker.wake();
        }
    }
}

/// Drain every thread's hot-key samples of the last `secs` into the window
/// (each sampler's lock is held only while its buffer is swapped out).
fn merge_hot_keys(shared: &Shared, hot: &Mutex<crate::hotkeys::Tracker>, secs: f64) {
    let threads = shared.stats.latencies();
    let samplers = threads.iter().filter_map(|t| t.hot.as_ref());
    hot.lock().merge(secs, samplers);
}

/// Keeps the clock current and runs the store's background work.
fn maintain(shared: &Shared) {
    let clock = shared.cache.clock();
    let mut ticks = 0u64;
    let mut merged = std::time::Instant::now();
    // The hot keys `watch hotkeys` was last told of.
    let mut listed = std::collections::HashSet::new();
    while !shared.is_shutting_down() {
        std::thread::sleep(Duration::from_millis(100));
        clock.tick();
        inspect::Crawler::run_pending(shared);
        ticks += 1;
        if ticks % 10 == 0 {
            if let Some(hot) = &shared.hot {
                let secs = merged.elapsed().as_secs_f64();
                merged = std::time::Instant::now();
                merge_hot_keys(shared, hot, secs);
                watch::hot_keys_entered(shared, || hot.lock().hottest(), &mut listed);
            }
            // The crawler's share of it runs only while `lru_crawler` is
            // enabled (memcached's `no_modern` and `lru_crawler disable`).
            let crawl = shared.crawler.enabled.load(Ordering::Relaxed);
            shared.cache.maintain(if crawl { 4 } else { 0 });
            // Certificates replaced on disk take effect without a command.
            if let Some(tls) = &shared.tls {
                tls.reload_if_changed(clock.now());
            }
        }
    }
}

/// The snapshot thread (`-o snapshot_path`): an online snapshot on SIGUSR2
/// and every `-o snapshot_interval` seconds, written while the workers
/// serve (see `Cache::for_each_item`), at its [`SnapshotShare`].
fn snapshots(shared: &Shared, path: &std::path::Path) {
    run_when_idle();
    let every = Duration::from_secs(shared.config.extended.snapshot_interval);
    let mut last = std::time::Instant::now();
    while !shared.is_shutting_down() {
        let asked = shared.persist.wait_snapshot(Duration::from_millis(200));
        let due = !every.is_zero() && last.elapsed() >= every;
        if (asked || due) && !shared.is_shutting_down() {
            let cache = &shared.cache;
            let mut share = SnapshotShare::new(&shared.stats);
            let _ = shared
                .persist
                .save_online(cache, path, cache.hash_power(), &mut share);
            last = std::time::Instant::now();
        }
    }
}

/// Put the calling thread (the snapshot thread) under `SCHED_IDLE`: it gets
/// only CPU time that no other thread wants, and a worker that wakes on its
/// core takes the core at once instead of waiting for the end of the
/// snapshot thread's time slice. On the 2-core bench machine (server on
/// one core) this took the load's p99 during an online snapshot from about
/// 1.7x of its p99 without one to no difference (docs/benchmarks.md). The
/// cost: on a machine whose every core the workers keep busy, a snapshot
/// waits for them.
fn run_when_idle() {
    use thread_priority::unix::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadSchedulePolicy,
    };
    use thread_priority::ThreadPriority;
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
        log::warn!("snapshot thread: cannot run it at idle priority ({e:?}); it shares the CPU by pacing alone");
    }
}

/// How an online snapshot shares the machine with the workers: it walks in
/// bursts of [`SnapshotShare::BURST`], and while some worker has served
/// requests within the last [`SnapshotShare::QUIET`], rests `PART - 1`
/// times as long as each burst took, so it takes at most one part in
/// `PART` of a core the workers need (its thread may share a core with one
/// of them). When no worker has had work for that long it runs at full
/// speed. A burst holds each lock for a few dozen items at most (see
/// `store::Pace`), so a request waits for a snapshot about as long as for
/// another request.
struct SnapshotShare<'a> {
    stats: &'a crate::stats::Stats,
    burst_started: std::time::Instant,
}

impl<'a> SnapshotShare<'a> {
    const BURST: Duration = Duration::from_micros(100);
    const PART: u32 = 8;
    /// A worker idle for a moment between two requests is not idle.
    const QUIET: Duration = Duration::from_millis(10);

    fn new(stats: &'a crate::stats::Stats) -> SnapshotShare<'a> {
        SnapshotShare {
            stats,
            burst_started: std::time::Instant::now(),
        }
    }
}

impl crate::store::Pace for SnapshotShare<'_> {
    fn due(&mut self) -> bool {
        self.burst_started.elapsed() >= Self::BURST
    }

    fn rest(&mut self) {
        let burst = self.burst_started.elapsed();
        if self.stats.busy_within(Self::QUIET) {
            std::thread::sleep(burst * (Self::PART - 1));
        }
        self.burst_started = std::time::Instant::now();
    }
}

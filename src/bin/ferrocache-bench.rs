//! `ferrocache-bench`: a memtier-style load generator for memcached-protocol
//! servers (text or binary), used by `make bench`.
//!
//! Each thread owns a `mio::Poll` and a share of the connections. A
//! connection keeps `--pipeline` requests in flight: whenever replies arrive
//! it tops the pipeline up again and writes the new requests in one `write`,
//! so the generator costs about one read and one write per batch, not per
//! request. Replies are matched to requests in order (both protocols answer
//! in order), and each request's latency is measured from the write of its
//! batch to the read that completed it, into an HDR histogram.
//!
//! Phases: optional prefill (every key of the key space set once), optional
//! warm-up (load without recording), then the measured run, bounded by
//! `--duration` and/or `--requests`. The summary goes to stdout; `--json`
//! writes the same figures for scripts.
//!
//! With `--tls-ca` every connection speaks TLS (rustls), verifying the
//! server's certificate against that CA; each handshake is done before the
//! load starts, so the measured run sees only record encryption. There is
//! no unverified mode.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use ferrocache::protocol::binary::{PacketHeader, HEADER_LEN, RESPONSE_MAGIC};
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Proto {
    Text,
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Pattern {
    Uniform,
    Sequential,
    Zipf,
}

/// Load generator for memcached-protocol servers.
#[derive(Debug, Clone, Parser)]
#[command(name = "ferrocache-bench", version)]
struct Args {
    /// Server address.
    #[arg(short, long, default_value = "127.0.0.1:11211")]
    server: String,
    /// Wire protocol.
    #[arg(long, value_enum, default_value_t = Proto::Text)]
    protocol: Proto,
    /// Generator threads (connections are spread over them).
    #[arg(short, long, default_value_t = 1)]
    threads: usize,
    /// Connections in total.
    #[arg(short, long, default_value_t = 50)]
    conns: usize,
    /// Requests kept in flight per connection.
    #[arg(short, long, default_value_t = 1)]
    pipeline: usize,
    /// SET:GET ratio, e.g. 1:10 (1:0 = sets only, 0:1 = gets only).
    #[arg(long, default_value = "1:10")]
    ratio: String,
    /// Number of distinct keys (ids 0..keys).
    #[arg(short, long, default_value_t = 100_000)]
    keys: u64,
    /// Key pattern for both sets and gets.
    #[arg(long, value_enum, default_value_t = Pattern::Uniform)]
    pattern: Pattern,
    /// Exponent of the Zipf pattern.
    #[arg(long, default_value_t = 0.99)]
    zipf_exponent: f64,
    /// Key length in bytes ("k" then the zero-padded key id).
    #[arg(long, default_value_t = 32)]
    key_size: usize,
    /// Value length in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Measured run length in seconds (0 = bounded by --requests only).
    #[arg(short, long, default_value_t = 10.0)]
    duration: f64,
    /// Measured requests in total (0 = bounded by --duration only).
    #[arg(short = 'n', long, default_value_t = 0)]
    requests: u64,
    /// Seconds of load before measuring (not recorded).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Set every key of the key space once before the run.
    #[arg(long)]
    prefill: bool,
    /// After a GET miss, SET the key (cache-aside), as a real cache client would.
    #[arg(long)]
    set_on_miss: bool,
    /// Poll `stats` and end the run as soon as the server reports evictions.
    #[arg(long)]
    stop_on_evictions: bool,
    /// Seed of the key generators (same seed, same key sequence per connection).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the results as JSON to this file ("-" for stdout).
    #[arg(long)]
    json: Option<String>,
    /// No progress line.
    #[arg(short, long)]
    quiet: bool,
    /// Speak TLS, trusting the CA certificates in this PEM file to verify
    /// the server.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Name the server's certificate must carry (default: the host part of
    /// --server).
    #[arg(long, value_name = "NAME", requires = "tls_ca")]
    tls_server_name: Option<String>,
}

// ------------------------------------------------------------ TLS

/// What every TLS connection of the run shares.
struct Tls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Tls {
    fn from_args(args: &Args) -> Result<Option<Tls>, String> {
        let Some(ca) = &args.tls_ca else {
            return Ok(None);
        };
        let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no PEM certificate", ca.display()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let host = match &args.tls_server_name {
            Some(n) => n.clone(),
            None => match args.server.rsplit_once(':') {
                Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
                None => args.server.clone(),
            },
        };
        let name = ServerName::try_from(host.clone())
            .map_err(|_| format!("{host:?} is not a TLS server name; give --tls-server-name"))?;
        Ok(Some(Tls {
            config: Arc::new(config),
            name,
        }))
    }

    /// A session over a blocking `tcp`, the handshake done.
    fn handshake(&self, tcp: &mut StdTcpStream) -> io::Result<ClientConnection> {
        let mut session = ClientConnection::new(self.config.clone(), self.name.clone())
            .map_err(io::Error::other)?;
        // The pipeline bounds what is queued; rustls must take a whole batch.
        session.set_buffer_limit(None);
        while session.is_handshaking() {
            session.complete_io(tcp)?;
        }
        Ok(session)
    }
}

/// A connection of the generator: plain TCP, or a TLS session over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<(TcpStream, ClientConnection)>),
}

impl Stream {
    fn socket(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &mut t.0,
        }
    }

    /// Take `buf`: TLS encrypts all of it, then sends what the socket takes.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => {
                let n = t.1.writer().write(buf)?;
                self.push()?;
                Ok(n)
            }
        }
    }

    /// TLS: send encrypted bytes the socket did not take before.
    fn push(&mut self) -> io::Result<()> {
        let Stream::Tls(t) = self else {
            return Ok(());
        };
        let (tcp, session) = &mut **t;
        while session.wants_write() {
            match session.write_tls(tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Plaintext; WouldBlock only when the socket would block, as
    /// edge-triggered polling needs.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (tcp, session) = match self {
            Stream::Plain(s) => return s.read(buf),
            Stream::Tls(t) => &mut **t,
        };
        loop {
            match session.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if session.read_tls(tcp)? == 0 {
                return Ok(0);
            }
            session
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
    }
}

// ------------------------------------------------------------ random keys

/// wyrand: tiny, fast, good enough to pick keys.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = (self.0 as u128).wrapping_mul((self.0 ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in [0, n).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Zipf over ranks 1..=n by rejection-inversion (Hörmann and Derflinger
/// 1996, as in Apache Commons RNG): O(1) set-up and sampling for any n, so
/// ten million keys cost nothing to prepare.
#[derive(Debug, Clone)]
struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    threshold: f64,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Zipf {
        assert!(n >= 1 && s > 0.0);
        let mut z = Zipf {
            n: n as f64,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            threshold: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.threshold = 2.0 - z.h_integral_inv(z.h_integral(2.5) - z.h(2.0));
        z
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inv(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }

    /// A rank in 1..=n; rank 1 is the most popular.
    fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_integral_n + rng.unit() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }
}

/// ln(1+x)/x, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1)/x, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

/// Picks the key ids of one connection.
#[derive(Debug, Clone)]
enum KeyGen {
    Uniform(u64),
    Zipf(Zipf),
    /// Shared counter, so all connections together walk the key space once.
    Sequential(Arc<AtomicU64>, u64),
}

impl KeyGen {
    fn next(&self, rng: &mut Rng) -> u64 {
        match self {
            KeyGen::Uniform(n) => rng.below(*n),
            KeyGen::Zipf(z) => z.sample(rng) - 1,
            KeyGen::Sequential(c, n) => c.fetch_add(1, Ordering::Relaxed) % n,
        }
    }
}

// ------------------------------------------------------------ wire format

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Set,
}

/// What a reply said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Hit,
    Miss,
    Stored,
    /// Any other well-formed reply (NOT_STORED, SERVER_ERROR, a binary error
    /// status, ...).
    Other,
}

const BIN_GET: u8 = 0x00;
const BIN_SET: u8 = 0x01;

/// Builds request bytes for one protocol, key size and value.
struct Encoder {
    proto: Proto,
    key_size: usize,
    value: Vec<u8>,
    /// `" 0 0 <len>\r\n"`: the constant tail of a text `set` line.
    set_tail: Vec<u8>,
}

impl Encoder {
    fn new(proto: Proto, key_size: usize, value_size: usize) -> Encoder {
        Encoder {
            proto,
            key_size,
            value: (0..value_size).map(|i| b'a' + (i % 26) as u8).collect(),
            set_tail: format!(" 0 0 {value_size}\r\n").into_bytes(),
        }
    }

    /// The key of `id`: "k" and the id zero-padded to `key_size` bytes.
    fn key(&self, id: u64, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.key_size, b'0');
        out[start] = b'k';
        let mut i = start + self.key_size;
        let mut v = id;
        while v > 0 && i > start + 1 {
            i -= 1;
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }

    fn encode(&self, op: Op, id: u64, out: &mut Vec<u8>) {
        match (self.proto, op) {
            (Proto::Text, Op::Get) => {
                out.extend_from_slice(b"get ");
                self.key(id, out);
                out.extend_from_slice(b"\r\n");
            }
            (Proto::Text, Op::Set) => {
                out.extend_from_slice(b"set ");
                self.key(id, out);
                out.extend_from_slice(&self.set_tail);
                out.extend_from_slice(&self.value);
                out.extend_from_slice(b"\r\n");
            }
            (Proto::Binary, Op::Get) => {
                binary_header(out, BIN_GET, self.key_size, 0, self.key_size);
                self.key(id, out);
            }
            (Proto::Binary, Op::Set) => {
                let body = 8 + self.key_size + self.value.len();
                binary_header(out, BIN_SET, self.key_size, 8, body);
                out.extend_from_slice(&[0; 8]); // flags, exptime
                self.key(id, out);
                out.extend_from_slice(&self.value);
            }
        }
    }
}

/// The 24-byte binary request header (opaque and CAS 0).
fn binary_header(out: &mut Vec<u8>, opcode: u8, key_len: usize, extras: u8, body: usize) {
    let extras = usize::from(extras);
    PacketHeader::request(opcode, extras, key_len, body - extras - key_len).encode(out);
}

/// Malformed reply bytes: the connection cannot be trusted any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Garbage;

/// One reply from the front of `buf`: `Ok(None)` when incomplete.
fn parse_reply(proto: Proto, buf: &[u8]) -> Result<Option<(Reply, usize)>, Garbage> {
    match proto {
        Proto::Text => parse_text_reply(buf),
        Proto::Binary => parse_binary_reply(buf),
    }
}

fn parse_text_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, Garbage> {
    let Some(nl) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() > 4096 {
            Err(Garbage)
        } else {
            Ok(None)
        };
    };
    let line = &buf[..nl];
    let after = nl + 2;
    if let Some(rest) = line.strip_prefix(b"VALUE ") {
        // VALUE <key> <flags> <bytes> [<cas>]
        let len = rest
            .split(|&b| b == b' ')
            .nth(2)
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|f| f.parse::<usize>().ok())
            .ok_or(Garbage)?;
        let end = after + len + 2 + 5;
        if buf.len() < end {
            return Ok(None);
        }
        if &buf[after + len..end] != b"\r\nEND\r\n" {
            return Err(Garbage);
        }
        return Ok(Some((Reply::Hit, end)));
    }
    let reply = match line {
        b"END" => Reply::Miss,
        b"STORED" => Reply::Stored,
        _ => Reply::Other,
    };
    Ok(Some((reply, after)))
}

fn parse_binary_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, Garbage> {
    if buf.len() < 24 {
        return Ok(None);
    }
    let h = PacketHeader::decode(buf);
    if h.magic != RESPONSE_MAGIC {
        return Err(Garbage);
    }
    let end = HEADER_LEN + h.body_len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let reply = match (h.opcode, h.status) {
        (BIN_GET, 0) => Reply::Hit,
        (BIN_GET, 1) => Reply::Miss,
        (BIN_SET, 0) => Reply::Stored,
        _ => Reply::Other,
    };
    Ok(Some((reply, end)))
}

// ------------------------------------------------------------ the run

const PHASE_WARMUP: u8 = 0;
const PHASE_MEASURE: u8 = 1;
const PHASE_STOP: u8 = 2;

/// What every thread reads and adds to.
struct Shared {
    phase: AtomicU8,
    /// Requests that may still be issued (u64::MAX = unbounded).
    budget: AtomicU64,
    ops: AtomicU64,
    gets: AtomicU64,
    sets: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    other: AtomicU64,
    latency_ns_sum: AtomicU64,
    /// A connection failed (closed by the server, garbage, IO error).
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn new(budget: u64) -> Shared {
        Shared {
            phase: AtomicU8::new(PHASE_WARMUP),
            budget: AtomicU64::new(budget),
            ops: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            sets: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            other: AtomicU64::new(0),
            latency_ns_sum: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }

    fn fail(&self, why: String) {
        let mut f = self.failure.lock().unwrap();
        if f.is_none() {
            *f = Some(why);
        }
        self.failed.store(true, Ordering::SeqCst);
        self.phase.store(PHASE_STOP, Ordering::SeqCst);
    }

    /// Claim one request from the budget.
    fn claim(&self) -> bool {
        if self.phase.load(Ordering::Relaxed) == PHASE_STOP {
            return false;
        }
        let left = self.budget.load(Ordering::Relaxed);
        if left == u64::MAX {
            return true;
        }
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
            .is_ok()
    }
}

/// How one phase (prefill or the run) generates requests.
#[derive(Clone)]
struct Workload {
    sets: u64,
    gets: u64,
    keys: KeyGen,
    pipeline: usize,
    set_on_miss: bool,
}

struct Conn {
    stream: Stream,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Requests written and not yet answered, oldest first.
    inflight: VecDeque<(Op, u64, Instant)>,
    /// Sets owed to the cache-aside policy.
    owed: VecDeque<u64>,
    rng: Rng,
    /// Position in the set:get cycle.
    cycle: u64,
}

/// Thread-local tallies, flushed to `Shared` once per batch.
#[derive(Default)]
struct Tally {
    ops: u64,
    gets: u64,
    sets: u64,
    hits: u64,
    misses: u64,
    other: u64,
    latency_ns: u64,
}

impl Tally {
    fn flush(&mut self, s: &Shared) {
        if self.ops == 0 {
            return;
        }
        s.ops.fetch_add(self.ops, Ordering::Relaxed);
        s.gets.fetch_add(self.gets, Ordering::Relaxed);
        s.sets.fetch_add(self.sets, Ordering::Relaxed);
        s.hits.fetch_add(self.hits, Ordering::Relaxed);
        s.misses.fetch_add(self.misses, Ordering::Relaxed);
        s.other.fetch_add(self.other, Ordering::Relaxed);
        s.latency_ns_sum
            .fetch_add(self.latency_ns, Ordering::Relaxed);
        *self = Tally::default();
    }
}

fn new_histogram() -> Histogram<u64> {
    // 100 ns .. 100 s, three significant digits.
    Histogram::new_with_bounds(100, 100_000_000_000, 3).expect("valid histogram bounds")
}

impl Conn {
    fn next_op(&mut self, w: &Workload) -> (Op, u64) {
        if let Some(id) = self.owed.pop_front() {
            return (Op::Set, id);
        }
        let period = w.sets + w.gets;
        let op = if self.cycle % period < w.sets {
            Op::Set
        } else {
            Op::Get
        };
        self.cycle += 1;
        (op, w.keys.next(&mut self.rng))
    }

    /// Top the pipeline up; returns whether anything was queued.
    fn refill(&mut self, w: &Workload, enc: &Encoder, shared: &Shared, now: Instant) -> bool {
        let mut queued = false;
        while self.inflight.len() < w.pipeline && shared.claim() {
            let (op, id) = self.next_op(w);
            enc.encode(op, id, &mut self.wbuf);
            self.inflight.push_back((op, id, now));
            queued = true;
        }
        queued
    }

    /// Write until done or the socket would block.
    fn flush(&mut self) -> io::Result<()> {
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        self.stream.push()
    }

    /// Read until the socket would block and account for every whole reply.
    fn receive(
        &mut self,
        proto: Proto,
        w: &Workload,
        record: bool,
        tally: &mut Tally,
        hist: &mut Histogram<u64>,
    ) -> Result<(), String> {
        loop {
            if self.rend == self.rbuf.len() {
                if self.rstart > 0 {
                    self.rbuf.copy_within(self.rstart..self.rend, 0);
                    self.rend -= self.rstart;
                    self.rstart = 0;
                } else {
                    let n = self.rbuf.len() * 2;
                    self.rbuf.resize(n, 0);
                }
            }
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => return Err("connection closed by the server".into()),
                Ok(n) => self.rend += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        let now = Instant::now();
        loop {
            let buf = &self.rbuf[self.rstart..self.rend];
            let (reply, used) = match parse_reply(proto, buf) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(Garbage) => return Err("unparseable reply".into()),
            };
            self.rstart += used;
            let Some((op, id, sent)) = self.inflight.pop_front() else {
                return Err("a reply nobody asked for".into());
            };
            let expected = matches!(
                (op, reply),
                (Op::Get, Reply::Hit | Reply::Miss) | (Op::Set, Reply::Stored | Reply::Other)
            );
            if !expected {
                return Err(format!("{op:?} answered with {reply:?}"));
            }
            if w.set_on_miss && reply == Reply::Miss {
                self.owed.push_back(id);
            }
            if record {
                let ns = now.duration_since(sent).as_nanos() as u64;
                hist.saturating_record(ns.max(100));
                tally.ops += 1;
                tally.latency_ns += ns;
                match reply {
                    Reply::Hit => tally.hits += 1,
                    Reply::Miss => tally.misses += 1,
                    Reply::Other => tally.other += 1,
                    Reply::Stored => {}
                }
                match op {
                    Op::Get => tally.gets += 1,
                    Op::Set => tally.sets += 1,
                }
            }
        }
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        Ok(())
    }
}

fn connect(addr: SocketAddr, tls: Option<&Tls>) -> io::Result<Stream> {
    let mut s = StdTcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let session = match tls {
        Some(tls) => {
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.set_write_timeout(Some(Duration::from_secs(10)))?;
            Some(tls.handshake(&mut s)?)
        }
        None => None,
    };
    s.set_nonblocking(true)?;
    let s = TcpStream::from_std(s);
    Ok(match session {
        Some(session) => Stream::Tls(Box::new((s, session))),
        None => Stream::Plain(s),
    })
}

/// Drive `conns` connections until the phase is STOP and nothing is in
/// flight (or a drain deadline passes). Returns the latency histogram.
#[allow(clippy::too_many_arguments)]
fn run_thread(
    addr: SocketAddr,
    tls: Option<Arc<Tls>>,
    conns: usize,
    seed: u64,
    proto: Proto,
    w: Workload,
    enc: Arc<Encoder>,
    shared: Arc<Shared>,
) -> Histogram<u64> {
    let mut hist = new_histogram();
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            shared.fail(format!("poll: {e}"));
            return hist;
        }
    };
    let mut list = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut stream = match connect(addr, tls.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                shared.fail(format!("connect to {addr}: {e}"));
                return hist;
            }
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = poll
            .registry()
            .register(stream.socket(), Token(i), interest)
        {
            shared.fail(format!("register: {e}"));
            return hist;
        }
        list.push(Conn {
            stream,
            rbuf: vec![0; 64 * 1024],
            rstart: 0,
            rend: 0,
            wbuf: Vec::with_capacity(16 * 1024),
            wpos: 0,
            inflight: VecDeque::with_capacity(w.pipeline),
            owed: VecDeque::new(),
            rng: Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(i as u64)),
            cycle: i as u64,
        });
    }
    let mut tally = Tally::default();
    let now = Instant::now();
    for c in list.iter_mut() {
        c.refill(&w, &enc, &shared, now);
        if let Err(e) = c.flush() {
            shared.fail(format!("write: {e}"));
            return hist;
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let phase = shared.phase.load(Ordering::Relaxed);
        if phase == PHASE_STOP {
            let deadline =
                *drain_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(2));
            let idle = list.iter().all(|c| c.inflight.is_empty());
            if idle || Instant::now() > deadline || shared.failed.load(Ordering::Relaxed) {
                break;
            }
        }
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(50))) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            shared.fail(format!("poll: {e}"));
            break;
        }
        let record = phase == PHASE_MEASURE;
        for ev in events.iter() {
            let c = &mut list[ev.token().0];
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                if let Err(e) = c.receive(proto, &w, record, &mut tally, &mut hist) {
                    shared.fail(e);
                    return hist;
                }
                c.refill(&w, &enc, &shared, Instant::now());
            }
            if let Err(e) = c.flush() {
                shared.fail(format!("write: {e}"));
                return hist;
            }
        }
        tally.flush(&shared);
    }
    tally.flush(&shared);
    hist
}

/// Run one phase on all threads; the closure decides when to stop it
/// (it runs on the calling thread while the load runs).
#[allow(clippy::too_many_arguments)]
fn run_phase(
    args: &Args,
    addr: SocketAddr,
    tls: &Option<Arc<Tls>>,
    w: &Workload,
    enc: &Arc<Encoder>,
    shared: &Arc<Shared>,
    control: impl FnOnce(&Shared),
) -> Histogram<u64> {
    let threads = args.threads.clamp(1, args.conns.max(1));
    let mut handles = Vec::new();
    for t in 0..threads {
        let n = args.conns / threads + usize::from(t < args.conns % threads);
        let (w, enc, shared, tls) = (w.clone(), enc.clone(), shared.clone(), tls.clone());
        let seed = args.seed.wrapping_add((t as u64) << 32);
        let proto = args.protocol;
        handles.push(std::thread::spawn(move || {
            run_thread(addr, tls, n, seed, proto, w, enc, shared)
        }));
    }
    control(shared);
    shared.phase.store(PHASE_STOP, Ordering::SeqCst);
    let mut hist = new_histogram();
    for h in handles {
        match h.join() {
            Ok(part) => hist.add(part).expect("same histogram bounds"),
            Err(_) => shared.fail("a generator thread panicked".into()),
        }
    }
    hist
}

/// `stats` over a fresh text connection, as name → value.
fn server_stats(addr: SocketAddr, tls: Option<&Tls>) -> io::Result<Vec<(String, String)>> {
    let mut s = StdTcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut s: Box<dyn ReadWrite> = match tls {
        Some(tls) => {
            let session = tls.handshake(&mut s)?;
            Box::new(rustls::StreamOwned::new(session, s))
        }
        None => Box::new(s),
    };
    s.write_all(b"stats\r\n")?;
    s.flush()?;
    let mut out = Vec::new();
    for line in BufReader::new(s).lines() {
        let line = line?;
        if line == "END" {
            break;
        }
        let mut f = line.splitn(3, ' ');
        if let (Some("STAT"), Some(k), Some(v)) = (f.next(), f.next(), f.next()) {
            out.push((k.to_string(), v.to_string()));
        }
    }
    Ok(out)
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn stat_u64(stats: &[(String, String)], name: &str) -> Option<u64> {
    stats.iter().find(|(k, _)| k == name)?.1.parse().ok()
}

fn parse_ratio(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a + b > 0).then_some((a, b))
}

struct Results {
    elapsed: f64,
    ops: u64,
    gets: u64,
    sets: u64,
    hits: u64,
    misses: u64,
    other: u64,
    hist: Histogram<u64>,
    stopped_on_evictions: bool,
}

impl Results {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.max(1e-9)
    }

    fn hit_ratio(&self) -> f64 {
        if self.hits + self.misses == 0 {
            0.0
        } else {
            self.hits as f64 / (self.hits + self.misses) as f64
        }
    }

    fn pct_us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    fn json(&self, args: &Args) -> String {
        let p = |q| format!("{:.1}", self.pct_us(q));
        format!(
            concat!(
                "{{\"server\":\"{}\",\"protocol\":\"{}\",\"tls\":{},\"threads\":{},\"conns\":{},",
                "\"pipeline\":{},\"ratio\":\"{}\",\"keys\":{},\"pattern\":\"{}\",",
                "\"zipf_exponent\":{},\"key_size\":{},\"value_size\":{},",
                "\"set_on_miss\":{},\"seconds\":{:.3},\"ops\":{},\"ops_per_sec\":{:.1},",
                "\"gets\":{},\"sets\":{},\"hits\":{},\"misses\":{},\"other_replies\":{},",
                "\"hit_ratio\":{:.6},\"stopped_on_evictions\":{},",
                "\"latency_us\":{{\"p50\":{},\"p99\":{},\"p99_9\":{},\"max\":{},\"mean\":{:.1}}}}}"
            ),
            args.server,
            cli_name(args.protocol),
            args.tls_ca.is_some(),
            args.threads,
            args.conns,
            args.pipeline,
            args.ratio,
            args.keys,
            cli_name(args.pattern),
            args.zipf_exponent,
            args.key_size,
            args.value_size,
            args.set_on_miss,
            self.elapsed,
            self.ops,
            self.ops_per_sec(),
            self.gets,
            self.sets,
            self.hits,
            self.misses,
            self.other,
            self.hit_ratio(),
            self.stopped_on_evictions,
            p(0.5),
            p(0.99),
            p(0.999),
            self.hist.max() as f64 / 1000.0,
            self.hist.mean() / 1000.0,
        )
    }
}

/// The command-line spelling of an enum value ("text", "zipf").
fn cli_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// Print a progress line each second until `until` says stop.
fn progress(shared: &Shared, quiet: bool, label: &str, mut until: impl FnMut(f64) -> bool) {
    let start = Instant::now();
    let mut last = (start, shared.ops.load(Ordering::Relaxed));
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let t = start.elapsed().as_secs_f64();
        if shared.failed.load(Ordering::Relaxed) || until(t) {
            break;
        }
        let now = Instant::now();
        if !quiet && now.duration_since(last.0) >= Duration::from_secs(1) {
            let ops = shared.ops.load(Ordering::Relaxed);
            let rate = (ops - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            let (h, m) = (
                shared.hits.load(Ordering::Relaxed),
                shared.misses.load(Ordering::Relaxed),
            );
            let hr = if h + m > 0 {
                h as f64 / (h + m) as f64
            } else {
                0.0
            };
            let mean = shared.latency_ns_sum.load(Ordering::Relaxed) as f64 / ops.max(1) as f64;
            eprint!(
                "\r[{label} {t:6.1}s] {rate:>11.0} ops/s  {ops:>11} ops  hit {:5.1}%  mean {:8.1} us   ",
                hr * 100.0,
                mean / 1000.0
            );
            last = (now, ops);
        }
    }
    if !quiet {
        eprintln!();
    }
}

fn run(args: &Args) -> Result<Results, String> {
    let addr = args
        .server
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", args.server))?
        .next()
        .ok_or_else(|| format!("{}: no address", args.server))?;
    let (sets, gets) = parse_ratio(&args.ratio).ok_or("--ratio must look like 1:10")?;
    if args.keys == 0 || args.conns == 0 || args.pipeline == 0 {
        return Err("--keys, --conns and --pipeline must be positive".into());
    }
    let digits = args.keys.saturating_sub(1).max(1).ilog10() as usize + 1;
    if args.key_size < digits + 1 || args.key_size > 250 {
        return Err(format!(
            "--key-size must be in {}..=250 for {} keys",
            digits + 1,
            args.keys
        ));
    }
    if args.duration <= 0.0 && args.requests == 0 && !args.stop_on_evictions {
        return Err("give --duration, --requests or --stop-on-evictions".into());
    }
    let enc = Arc::new(Encoder::new(args.protocol, args.key_size, args.value_size));
    let tls = Tls::from_args(args)?.map(Arc::new);

    if args.prefill {
        let counter = Arc::new(AtomicU64::new(0));
        let w = Workload {
            sets: 1,
            gets: 0,
            keys: KeyGen::Sequential(counter, args.keys),
            pipeline: args.pipeline.max(32),
            set_on_miss: false,
        };
        let shared = Arc::new(Shared::new(args.keys));
        shared.phase.store(PHASE_MEASURE, Ordering::SeqCst);
        run_phase(args, addr, &tls, &w, &enc, &shared, |s| {
            progress(s, args.quiet, "prefill", |_| {
                s.budget.load(Ordering::Relaxed) == 0 && s.ops.load(Ordering::Relaxed) >= args.keys
            })
        });
        let failure = shared.failure.lock().unwrap().take();
        if let Some(e) = failure {
            return Err(format!("prefill: {e}"));
        }
    }

    let keys = match args.pattern {
        Pattern::Uniform => KeyGen::Uniform(args.keys),
        Pattern::Zipf => KeyGen::Zipf(Zipf::new(args.keys, args.zipf_exponent)),
        Pattern::Sequential => KeyGen::Sequential(Arc::new(AtomicU64::new(0)), args.keys),
    };
    let w = Workload {
        sets,
        gets,
        keys,
        pipeline: args.pipeline,
        set_on_miss: args.set_on_miss,
    };
    let budget = if args.requests == 0 {
        u64::MAX
    } else {
        args.requests
    };
    let shared = Arc::new(Shared::new(budget));
    let mut measure_start = Instant::now();
    let mut stopped_on_evictions = false;
    let hist = run_phase(args, addr, &tls, &w, &enc, &shared, |s| {
        if args.warmup > 0.0 {
            progress(s, args.quiet, "warmup", |t| t >= args.warmup);
        }
        measure_start = Instant::now();
        s.phase.store(PHASE_MEASURE, Ordering::SeqCst);
        let mut next_poll = 0.0;
        progress(s, args.quiet, "run", |t| {
            if args.stop_on_evictions && t >= next_poll {
                next_poll = t + 0.1;
                if let Ok(st) = server_stats(addr, tls.as_deref()) {
                    if stat_u64(&st, "evictions").unwrap_or(0) > 0 {
                        stopped_on_evictions = true;
                        return true;
                    }
                }
            }
            (args.duration > 0.0 && t >= args.duration)
                || (args.requests > 0 && s.ops.load(Ordering::Relaxed) >= args.requests)
        });
    });
    let elapsed = measure_start.elapsed().as_secs_f64();
    let failure = shared.failure.lock().unwrap().take();
    if let Some(e) = failure {
        return Err(e);
    }
    let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Ok(Results {
        elapsed,
        ops: ld(&shared.ops),
        gets: ld(&shared.gets),
        sets: ld(&shared.sets),
        hits: ld(&shared.hits),
        misses: ld(&shared.misses),
        other: ld(&shared.other),
        hist,
        stopped_on_evictions,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let r = match run(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferrocache-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{:.0} ops/s over {:.2}s ({} ops: {} gets, {} sets), hit ratio {:.4}, other replies {}",
        r.ops_per_sec(),
        r.elapsed,
        r.ops,
        r.gets,
        r.sets,
        r.hit_ratio(),
        r.other
    );
    println!(
        "latency us: p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
        r.pct_us(0.5),
        r.pct_us(0.99),
        r.pct_us(0.999),
        r.hist.max() as f64 / 1000.0
    );
    if let Some(path) = &args.json {
        let json = r.json(&args);
        let res = if path == "-" {
            writeln!(io::stdout(), "{json}")
        } else {
            std::fs::write(path, json + "\n")
        };
        if let Err(e) = res {
            eprintln!("ferrocache-bench: writing {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_width_and_distinct() {
        let enc = Encoder::new(Proto::Text, 20, 4);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        enc.key(0, &mut a);
        enc.key(1234567, &mut b);
        assert_eq!(a, b"k0000000000000000000");
        assert_eq!(b, b"k0000000000001234567");
    }

    #[test]
    fn text_requests() {
        let enc = Encoder::new(Proto::Text, 4, 3);
        let mut out = Vec::new();
        enc.encode(Op::Set, 7, &mut out);
        enc.encode(Op::Get, 7, &mut out);
        assert_eq!(out, b"set k007 0 0 3\r\nabc\r\nget k007\r\n");
    }

    #[test]
    fn binary_requests() {
        let enc = Encoder::new(Proto::Binary, 4, 2);
        let mut out = Vec::new();
        enc.encode(Op::Get, 7, &mut out);
        let mut want = vec![0x80, 0x00, 0, 4, 0, 0, 0, 0, 0, 0, 0, 4];
        want.extend_from_slice(&[0; 12]);
        want.extend_from_slice(b"k007");
        assert_eq!(out, want);
        out.clear();
        enc.encode(Op::Set, 7, &mut out);
        let mut want = vec![0x80, 0x01, 0, 4, 8, 0, 0, 0, 0, 0, 0, 14];
        want.extend_from_slice(&[0; 12]);
        want.extend_from_slice(&[0; 8]);
        want.extend_from_slice(b"k007ab");
        assert_eq!(out, want);
    }

    #[test]
    fn text_replies_split_at_every_byte() {
        let cases: &[(&[u8], Reply)] = &[
            (b"STORED\r\n", Reply::Stored),
            (b"END\r\n", Reply::Miss),
            (b"VALUE k1 0 3\r\nabc\r\nEND\r\n", Reply::Hit),
            (b"NOT_STORED\r\n", Reply::Other),
            (b"SERVER_ERROR out of memory\r\n", Reply::Other),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse_text_reply(bytes), Ok(Some((*want, bytes.len()))));
            for cut in 0..bytes.len() {
                assert_eq!(parse_text_reply(&bytes[..cut]), Ok(None), "{cut}");
            }
        }
        assert_eq!(
            parse_text_reply(b"VALUE k 0 3\r\nabcXXEND\r\n"),
            Err(Garbage)
        );
    }

    #[test]
    fn binary_replies_split_at_every_byte() {
        let mut hit = vec![0x81, 0x00, 0, 0, 4, 0, 0, 0, 0, 0, 0, 7];
        hit.extend_from_slice(&[0; 12]);
        hit.extend_from_slice(&[0, 0, 0, 0, b'a', b'b', b'c']);
        let mut miss = vec![0x81, 0x00, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9];
        miss.extend_from_slice(&[0; 12]);
        miss.extend_from_slice(b"Not found");
        let mut stored = vec![0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        stored.extend_from_slice(&[0; 12]);
        for (bytes, want) in [
            (hit, Reply::Hit),
            (miss, Reply::Miss),
            (stored, Reply::Stored),
        ] {
            assert_eq!(parse_binary_reply(&bytes), Ok(Some((want, bytes.len()))));
            for cut in 0..bytes.len() {
                assert_eq!(parse_binary_reply(&bytes[..cut]), Ok(None));
            }
        }
    }

    #[test]
    fn zipf_ranks_follow_the_power_law() {
        let z = Zipf::new(10_000_000, 0.99);
        let mut rng = Rng::new(42);
        let mut counts = [0u64; 4];
        let n = 200_000;
        for _ in 0..n {
            let k = z.sample(&mut rng);
            assert!((1..=10_000_000).contains(&k));
            if k <= 4 {
                counts[k as usize - 1] += 1;
            }
        }
        // P(k) ∝ k^-s: rank 1 is about 2^0.99 times as frequent as rank 2.
        let r = counts[0] as f64 / counts[1] as f64;
        assert!((1.8..2.2).contains(&r), "ratio {r}");
        // H(10^7, 0.99) ≈ 17.1, so rank 1 takes about 5.8% of the draws.
        let p1 = counts[0] as f64 / n as f64;
        assert!((0.05..0.067).contains(&p1), "p1 {p1}");
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut rng = Rng::new(1);
        assert!((0..10_000).all(|_| rng.below(7) < 7));
    }
}

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

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
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
    /// Key ids run from this id (ids first..first+keys), so two runs can use
    /// disjoint key spaces.
    #[arg(long, default_value_t = 0)]
    first_key: u64,
    /// Value length: a number of bytes, or a distribution over key ids:
    /// `uniform:MIN-MAX`, `loguniform:MIN-MAX` (sizes take a `k` or `m`
    /// suffix), `etc` (Facebook's ETC pool, capped at 500k) or `etc:MAX`.
    /// A key's length depends only on its id, in every run.
    #[arg(long, default_value = "100", value_parser = ValueSize::parse)]
    value_size: ValueSize,
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
    /// Record ops, hits and misses per interval of this many seconds of the
    /// measured run (JSON `timeline`).
    #[arg(long, value_name = "SECONDS")]
    timeline: Option<f64>,
    /// With --timeline: end the run once the hit ratio of three intervals in
    /// a row is at least this.
    #[arg(long, value_name = "RATIO", requires = "timeline")]
    until_hit_ratio: Option<f64>,
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

// ------------------------------------------------------------ value sizes

/// The scale and shape of the generalized Pareto distribution (location 0)
/// that fits the value sizes of Facebook's ETC pool (Atikoglu et al.,
/// "Workload Analysis of a Large-Scale Key-Value Store", SIGMETRICS 2012).
/// Its mean is scale / (1 - shape) ≈ 329 bytes.
const ETC_SCALE: f64 = 214.476;
const ETC_SHAPE: f64 = 0.348238;
/// The default cap of `etc` sizes: the tail is unbounded, and an item must
/// fit memcached's default `-I 1m` with its key and header.
const ETC_DEFAULT_MAX: usize = 500 * 1024;
/// No value longer than this (memcached's `-I` cannot exceed 1 GiB either).
const VALUE_SIZE_LIMIT: usize = 1 << 30;

/// How long each key's value is: one length, or a distribution.
///
/// The length is drawn from a hash of the key id, not from the run's random
/// stream, so a key has the same length in every phase, connection and run:
/// a GET can check the length of what it reads, and a cache-aside SET of a
/// key writes what the first SET wrote.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ValueSize {
    Fixed(usize),
    /// Every length in min..=max equally likely.
    Uniform {
        min: usize,
        max: usize,
    },
    /// The logarithm of the length is uniform: as many values in 10-100 B as
    /// in 10-100 KiB.
    LogUniform {
        min: usize,
        max: usize,
    },
    /// ETC's generalized Pareto, rounded, capped at `max`.
    Etc {
        max: usize,
    },
}

impl ValueSize {
    /// `N`, `uniform:MIN-MAX`, `loguniform:MIN-MAX`, `etc` or `etc:MAX`;
    /// each size a number of bytes with an optional `k` (KiB) or `m` (MiB).
    fn parse(s: &str) -> Result<ValueSize, String> {
        let range = |r: &str| -> Result<(usize, usize), String> {
            let (a, b) = r
                .split_once('-')
                .ok_or_else(|| format!("{r:?}: expected MIN-MAX"))?;
            let (min, max) = (parse_bytes(a)?, parse_bytes(b)?);
            if min > max {
                return Err(format!("{r:?}: MIN is above MAX"));
            }
            Ok((min, max))
        };
        let v = match s.split_once(':') {
            None if s == "etc" => ValueSize::Etc {
                max: ETC_DEFAULT_MAX,
            },
            None => ValueSize::Fixed(parse_bytes(s)?),
            Some(("uniform", r)) => {
                let (min, max) = range(r)?;
                ValueSize::Uniform { min, max }
            }
            Some(("loguniform", r)) => {
                let (min, max) = range(r)?;
                if min == 0 {
                    return Err("loguniform: MIN must be at least 1".into());
                }
                ValueSize::LogUniform { min, max }
            }
            Some(("etc", m)) => ValueSize::Etc {
                max: parse_bytes(m)?,
            },
            Some((kind, _)) => {
                return Err(format!(
                    "{kind:?}: not a value-size distribution (uniform, loguniform, etc)"
                ))
            }
        };
        if v.max() > VALUE_SIZE_LIMIT {
            return Err(format!("{s}: values are limited to 1 GiB"));
        }
        Ok(v)
    }

    /// The longest value this can give.
    fn max(&self) -> usize {
        match *self {
            ValueSize::Fixed(n) => n,
            ValueSize::Uniform { max, .. }
            | ValueSize::LogUniform { max, .. }
            | ValueSize::Etc { max } => max,
        }
    }

    /// The length of key `id`'s value.
    fn of(&self, id: u64) -> usize {
        let u = unit_hash(id);
        match *self {
            ValueSize::Fixed(n) => n,
            ValueSize::Uniform { min, max } => {
                min + ((u * (max - min + 1) as f64) as usize).min(max - min)
            }
            ValueSize::LogUniform { min, max } => {
                let x = min as f64 * ((max + 1) as f64 / min as f64).powf(u);
                (x as usize).clamp(min, max)
            }
            ValueSize::Etc { max } => {
                // Inverse CDF of the generalized Pareto distribution.
                let x = ETC_SCALE * ((1.0 - u).powf(-ETC_SHAPE) - 1.0) / ETC_SHAPE;
                (x.round() as usize).min(max)
            }
        }
    }

    /// The spelling `parse` accepts, for the JSON output.
    fn spec(&self) -> String {
        match *self {
            ValueSize::Fixed(n) => n.to_string(),
            ValueSize::Uniform { min, max } => format!("uniform:{min}-{max}"),
            ValueSize::LogUniform { min, max } => format!("loguniform:{min}-{max}"),
            ValueSize::Etc { max } => format!("etc:{max}"),
        }
    }
}

/// Bytes, with an optional `k` (KiB) or `m` (MiB) suffix.
fn parse_bytes(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{s:?}: not a size in bytes"))
}

/// A key id hashed (splitmix64's finalizer) to a number in [0, 1).
fn unit_hash(id: u64) -> f64 {
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
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
    /// A value of this many bytes.
    Hit(usize),
    Miss,
    Stored,
    /// Any other well-formed reply (NOT_STORED, SERVER_ERROR, a binary error
    /// status, ...).
    Other,
}

const BIN_GET: u8 = 0x00;
const BIN_SET: u8 = 0x01;

/// Builds request bytes for one protocol, key size and value size.
struct Encoder {
    proto: Proto,
    key_size: usize,
    sizes: ValueSize,
    /// One value of the longest length; each SET sends a prefix of it, so
    /// no request allocates.
    value: Vec<u8>,
}

impl Encoder {
    fn new(proto: Proto, key_size: usize, sizes: ValueSize) -> Encoder {
        Encoder {
            proto,
            key_size,
            sizes,
            value: (0..sizes.max()).map(|i| b'a' + (i % 26) as u8).collect(),
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

    /// Append the request; returns the length of `id`'s value (sent by a
    /// SET, expected from a GET hit).
    fn encode(&self, op: Op, id: u64, out: &mut Vec<u8>) -> usize {
        let len = self.sizes.of(id);
        let value = &self.value[..len];
        match (self.proto, op) {
            (Proto::Text, Op::Get) => {
                out.extend_from_slice(b"get ");
                self.key(id, out);
                out.extend_from_slice(b"\r\n");
            }
            (Proto::Text, Op::Set) => {
                out.extend_from_slice(b"set ");
                self.key(id, out);
                out.extend_from_slice(b" 0 0 ");
                push_decimal(out, len);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
            (Proto::Binary, Op::Get) => {
                binary_header(out, BIN_GET, self.key_size, 0, self.key_size);
                self.key(id, out);
            }
            (Proto::Binary, Op::Set) => {
                let body = 8 + self.key_size + len;
                binary_header(out, BIN_SET, self.key_size, 8, body);
                out.extend_from_slice(&[0; 8]); // flags, exptime
                self.key(id, out);
                out.extend_from_slice(value);
            }
        }
        len
    }
}

/// `n` in decimal, without allocating.
fn push_decimal(out: &mut Vec<u8>, n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// The 24-byte binary request header: magic, opcode, key length, extras
/// length, data type, vbucket, total body length, opaque, cas.
fn binary_header(out: &mut Vec<u8>, opcode: u8, key_len: usize, extras: u8, body: usize) {
    out.push(0x80);
    out.push(opcode);
    out.extend_from_slice(&(key_len as u16).to_be_bytes());
    out.push(extras);
    out.push(0); // data type
    out.extend_from_slice(&[0, 0]); // vbucket
    out.extend_from_slice(&(body as u32).to_be_bytes());
    out.extend_from_slice(&[0; 4]); // opaque
    out.extend_from_slice(&[0; 8]); // cas
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
        return Ok(Some((Reply::Hit(len), end)));
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
    if buf[0] != 0x81 {
        return Err(Garbage);
    }
    let key_len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    let extras = buf[4] as usize;
    let status = u16::from_be_bytes([buf[6], buf[7]]);
    let body = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
    let end = 24 + body;
    if buf.len() < end {
        return Ok(None);
    }
    let reply = match (buf[1], status) {
        (BIN_GET, 0) => Reply::Hit(body.checked_sub(extras + key_len).ok_or(Garbage)?),
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
    /// Value bytes of the SETs answered STORED.
    value_bytes_written: AtomicU64,
    /// Value bytes of the GET hits.
    value_bytes_read: AtomicU64,
    /// GET hits whose length is not the one the key's SETs write.
    wrong_lengths: AtomicU64,
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
            value_bytes_written: AtomicU64::new(0),
            value_bytes_read: AtomicU64::new(0),
            wrong_lengths: AtomicU64::new(0),
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
    /// Added to every id `keys` gives.
    first_key: u64,
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
    /// Requests written and not yet answered, oldest first, with the
    /// length of the key's value.
    inflight: VecDeque<(Op, u64, usize, Instant)>,
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
    value_bytes_written: u64,
    value_bytes_read: u64,
    wrong_lengths: u64,
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
        s.value_bytes_written
            .fetch_add(self.value_bytes_written, Ordering::Relaxed);
        s.value_bytes_read
            .fetch_add(self.value_bytes_read, Ordering::Relaxed);
        s.wrong_lengths
            .fetch_add(self.wrong_lengths, Ordering::Relaxed);
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
        (op, w.first_key + w.keys.next(&mut self.rng))
    }

    /// Top the pipeline up; returns whether anything was queued.
    fn refill(&mut self, w: &Workload, enc: &Encoder, shared: &Shared, now: Instant) -> bool {
        let mut queued = false;
        while self.inflight.len() < w.pipeline && shared.claim() {
            let (op, id) = self.next_op(w);
            let len = enc.encode(op, id, &mut self.wbuf);
            self.inflight.push_back((op, id, len, now));
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
            let Some((op, id, len, sent)) = self.inflight.pop_front() else {
                return Err("a reply nobody asked for".into());
            };
            let expected = matches!(
                (op, reply),
                (Op::Get, Reply::Hit(_) | Reply::Miss) | (Op::Set, Reply::Stored | Reply::Other)
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
                    Reply::Hit(got) => {
                        tally.hits += 1;
                        tally.value_bytes_read += got as u64;
                        tally.wrong_lengths += u64::from(got != len);
                    }
                    Reply::Miss => tally.misses += 1,
                    Reply::Other => tally.other += 1,
                    Reply::Stored => tally.value_bytes_written += len as u64,
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

/// Ops, hits and misses per interval of the measured run (`--timeline`).
#[derive(Debug, Default)]
struct Timeline {
    rows: Vec<Interval>,
    /// Cumulative (ops, hits, misses) at the end of the last interval.
    last: (u64, u64, u64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Interval {
    /// Seconds from the start of the measured run to the interval's end.
    end: f64,
    ops: u64,
    hits: u64,
    misses: u64,
}

impl Interval {
    fn hit_ratio(&self) -> f64 {
        self.hits as f64 / (self.hits + self.misses).max(1) as f64
    }
}

impl Timeline {
    /// Close the interval that ends at `end` (seconds into the run).
    fn record(&mut self, end: f64, s: &Shared) {
        let now = (
            s.ops.load(Ordering::Relaxed),
            s.hits.load(Ordering::Relaxed),
            s.misses.load(Ordering::Relaxed),
        );
        self.rows.push(Interval {
            end,
            ops: now.0 - self.last.0,
            hits: now.1 - self.last.1,
            misses: now.2 - self.last.2,
        });
        self.last = now;
    }

    /// How many of the latest intervals in a row had gets and a hit ratio
    /// of at least `want`.
    fn streak_at_least(&self, want: f64) -> usize {
        self.rows
            .iter()
            .rev()
            .take_while(|i| i.hits + i.misses > 0 && i.hit_ratio() >= want)
            .count()
    }
}

struct Results {
    elapsed: f64,
    ops: u64,
    gets: u64,
    sets: u64,
    hits: u64,
    misses: u64,
    other: u64,
    value_bytes_written: u64,
    value_bytes_read: u64,
    wrong_lengths: u64,
    hist: Histogram<u64>,
    stopped_on_evictions: bool,
    timeline: Option<Vec<Interval>>,
    stopped_on_hit_ratio: bool,
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
        // A fixed size stays a number, as before distributions existed.
        let value_size = match args.value_size {
            ValueSize::Fixed(n) => n.to_string(),
            v => format!("\"{}\"", v.spec()),
        };
        let timeline = match &self.timeline {
            None => String::new(),
            Some(rows) => {
                let rows: Vec<String> = rows
                    .iter()
                    .map(|i| {
                        format!(
                            "{{\"end_s\":{:.3},\"ops\":{},\"hits\":{},\"misses\":{},\"hit_ratio\":{:.6}}}",
                            i.end,
                            i.ops,
                            i.hits,
                            i.misses,
                            i.hit_ratio()
                        )
                    })
                    .collect();
                format!(
                    ",\"stopped_on_hit_ratio\":{},\"timeline\":[{}]",
                    self.stopped_on_hit_ratio,
                    rows.join(",")
                )
            }
        };
        format!(
            concat!(
                "{{\"server\":\"{}\",\"protocol\":\"{}\",\"tls\":{},\"threads\":{},\"conns\":{},",
                "\"pipeline\":{},\"ratio\":\"{}\",\"keys\":{},\"pattern\":\"{}\",",
                "\"zipf_exponent\":{},\"key_size\":{},\"first_key\":{},\"value_size\":{},",
                "\"value_size_max\":{},",
                "\"set_on_miss\":{},\"seconds\":{:.3},\"ops\":{},\"ops_per_sec\":{:.1},",
                "\"gets\":{},\"sets\":{},\"hits\":{},\"misses\":{},\"other_replies\":{},",
                "\"hit_ratio\":{:.6},\"value_bytes_written\":{},\"value_bytes_read\":{},",
                "\"wrong_lengths\":{},\"stopped_on_evictions\":{},",
                "\"latency_us\":{{\"p50\":{},\"p99\":{},\"p99_9\":{},\"max\":{},\"mean\":{:.1}}}{}}}"
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
            args.first_key,
            value_size,
            args.value_size.max(),
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
            self.value_bytes_written,
            self.value_bytes_read,
            self.wrong_lengths,
            self.stopped_on_evictions,
            p(0.5),
            p(0.99),
            p(0.999),
            self.hist.max() as f64 / 1000.0,
            self.hist.mean() / 1000.0,
            timeline,
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
    let last_id = args
        .first_key
        .checked_add(args.keys - 1)
        .ok_or("--first-key + --keys is too large")?;
    let digits = last_id.max(1).ilog10() as usize + 1;
    if args.key_size < digits + 1 || args.key_size > 250 {
        return Err(format!(
            "--key-size must be in {}..=250 for key ids up to {last_id}",
            digits + 1,
        ));
    }
    if let Some(t) = args.timeline {
        if t.is_nan() || t < 0.1 {
            return Err("--timeline must be at least 0.1 s".into());
        }
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
            first_key: args.first_key,
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
        first_key: args.first_key,
        pipeline: args.pipeline,
        set_on_miss: args.set_on_miss,
    };
    let budget = if args.requests == 0 {
        u64::MAX
    } else {
        args.requests
    };
    // A warm-up is not bounded by --requests: the budget is set when the
    // measured run starts. Without one, the run is measured from the first
    // request (a reply before the control thread's switch would otherwise
    // be left out, and a --requests run would wait for it forever).
    let warmup = args.warmup > 0.0;
    let shared = Arc::new(Shared::new(if warmup { u64::MAX } else { budget }));
    if !warmup {
        shared.phase.store(PHASE_MEASURE, Ordering::SeqCst);
    }
    let mut measure_start = Instant::now();
    let mut stopped_on_evictions = false;
    let mut timeline = Timeline::default();
    let mut stopped_on_hit_ratio = false;
    let hist = run_phase(args, addr, &tls, &w, &enc, &shared, |s| {
        if warmup {
            progress(s, args.quiet, "warmup", |t| t >= args.warmup);
            s.budget.store(budget, Ordering::SeqCst);
        }
        measure_start = Instant::now();
        s.phase.store(PHASE_MEASURE, Ordering::SeqCst);
        let mut next_poll = 0.0;
        let mut next_tick = args.timeline.unwrap_or(0.0);
        progress(s, args.quiet, "run", |t| {
            if let Some(every) = args.timeline {
                if t >= next_tick {
                    next_tick += every;
                    timeline.record(t, s);
                    if let Some(want) = args.until_hit_ratio {
                        if timeline.streak_at_least(want) >= 3 {
                            stopped_on_hit_ratio = true;
                            return true;
                        }
                    }
                }
            }
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
        value_bytes_written: ld(&shared.value_bytes_written),
        value_bytes_read: ld(&shared.value_bytes_read),
        wrong_lengths: ld(&shared.wrong_lengths),
        hist,
        stopped_on_evictions,
        timeline: args.timeline.map(|_| timeline.rows),
        stopped_on_hit_ratio,
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
        "value bytes: {} written (STORED), {} read (hits){}",
        r.value_bytes_written,
        r.value_bytes_read,
        if r.wrong_lengths > 0 {
            format!("; {} hits had the wrong length", r.wrong_lengths)
        } else {
            String::new()
        }
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
        let enc = Encoder::new(Proto::Text, 20, ValueSize::Fixed(4));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        enc.key(0, &mut a);
        enc.key(1234567, &mut b);
        assert_eq!(a, b"k0000000000000000000");
        assert_eq!(b, b"k0000000000001234567");
    }

    #[test]
    fn text_requests() {
        let enc = Encoder::new(Proto::Text, 4, ValueSize::Fixed(3));
        let mut out = Vec::new();
        enc.encode(Op::Set, 7, &mut out);
        enc.encode(Op::Get, 7, &mut out);
        assert_eq!(out, b"set k007 0 0 3\r\nabc\r\nget k007\r\n");
    }

    #[test]
    fn binary_requests() {
        let enc = Encoder::new(Proto::Binary, 4, ValueSize::Fixed(2));
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
            (b"VALUE k1 0 3\r\nabc\r\nEND\r\n", Reply::Hit(3)),
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
            (hit, Reply::Hit(3)),
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
    fn value_size_specs() {
        let ok: &[(&str, ValueSize)] = &[
            ("100", ValueSize::Fixed(100)),
            ("0", ValueSize::Fixed(0)),
            ("8k", ValueSize::Fixed(8192)),
            (
                "uniform:10-16384",
                ValueSize::Uniform {
                    min: 10,
                    max: 16384,
                },
            ),
            (
                "loguniform:10-200k",
                ValueSize::LogUniform {
                    min: 10,
                    max: 204_800,
                },
            ),
            ("etc", ValueSize::Etc { max: 512_000 }),
            ("etc:1m", ValueSize::Etc { max: 1 << 20 }),
        ];
        for (spec, want) in ok {
            assert_eq!(ValueSize::parse(spec), Ok(*want), "{spec}");
            assert_eq!(ValueSize::parse(&want.spec()), Ok(*want), "{spec}");
        }
        for bad in [
            "",
            "-1",
            "10x",
            "uniform:10",
            "uniform:20-10",
            "loguniform:0-100",
            "pareto:1-2",
            "etc:",
            "2000m",
        ] {
            assert!(ValueSize::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Lengths of ids 0..n under `v`, checked against its bounds.
    #[track_caller]
    fn lengths(v: ValueSize, n: u64, min: usize, max: usize) -> Vec<usize> {
        (0..n)
            .map(|id| {
                let len = v.of(id);
                assert!((min..=max).contains(&len), "{v:?}: id {id} got {len}");
                len
            })
            .collect()
    }

    #[test]
    fn value_sizes_are_a_function_of_the_key_id() {
        for spec in ["100", "uniform:10-1000", "loguniform:10-4k", "etc"] {
            let v = ValueSize::parse(spec).unwrap();
            let again = ValueSize::parse(spec).unwrap();
            for id in (0..1_000_000).step_by(997) {
                assert_eq!(v.of(id), again.of(id), "{spec} id {id}");
            }
        }
        // Different ids get different lengths (not one length for all).
        let v = ValueSize::parse("uniform:10-16384").unwrap();
        let distinct: std::collections::HashSet<usize> = (0..1000).map(|id| v.of(id)).collect();
        assert!(distinct.len() > 900, "{}", distinct.len());
    }

    #[test]
    fn uniform_sizes_cover_the_range_evenly() {
        let v = ValueSize::Uniform { min: 10, max: 1000 };
        let l = lengths(v, 200_000, 10, 1000);
        let mean = l.iter().sum::<usize>() as f64 / l.len() as f64;
        assert!((495.0..515.0).contains(&mean), "mean {mean}");
        assert!(l.contains(&10) && l.contains(&1000));
        let small = ValueSize::Uniform { min: 7, max: 7 };
        assert_eq!(lengths(small, 100, 7, 7), vec![7; 100]);
    }

    #[test]
    fn loguniform_sizes_are_even_per_decade() {
        let v = ValueSize::LogUniform {
            min: 10,
            max: 99_999,
        };
        let l = lengths(v, 400_000, 10, 99_999);
        let mut decades = [0usize; 4];
        for len in l {
            decades[len.ilog10() as usize - 1] += 1;
        }
        for d in decades {
            assert!((95_000..105_000).contains(&d), "{decades:?}");
        }
        // Mean of a log-uniform on [a, b]: (b - a) / ln(b / a).
        let v = ValueSize::LogUniform {
            min: 10,
            max: 200 * 1024,
        };
        let l = lengths(v, 400_000, 10, 200 * 1024);
        let mean = l.iter().sum::<usize>() as f64 / l.len() as f64;
        let want = (204_800.0 - 10.0) / (204_800.0f64 / 10.0).ln();
        assert!((mean / want - 1.0).abs() < 0.02, "mean {mean}, want {want}");
    }

    #[test]
    fn etc_sizes_match_the_published_fit() {
        let v = ValueSize::parse("etc").unwrap();
        let mut l = lengths(v, 1_000_000, 0, 500 * 1024);
        let mean = l.iter().sum::<usize>() as f64 / l.len() as f64;
        // scale / (1 - shape) = 329.07 B.
        assert!((320.0..340.0).contains(&mean), "mean {mean}");
        l.sort_unstable();
        // Median: scale * (2^shape - 1) / shape = 168 B.
        let median = l[l.len() / 2];
        assert!((163..=173).contains(&median), "median {median}");
        // P(X > 1000) = (1 + shape * 1000 / scale)^(-1 / shape) = 5.8%.
        let over = l.iter().filter(|&&x| x > 1000).count() as f64 / l.len() as f64;
        assert!((0.053..0.063).contains(&over), "{over}");
        // The cap holds for the far tail.
        let capped = ValueSize::Etc { max: 2000 };
        assert_eq!(lengths(capped, 100_000, 0, 2000).iter().max(), Some(&2000));
    }

    #[test]
    fn requests_carry_each_keys_length() {
        let sizes = ValueSize::parse("loguniform:1-300").unwrap();
        let enc = Encoder::new(Proto::Text, 4, sizes);
        for id in 0..200 {
            let len = sizes.of(id);
            let mut out = Vec::new();
            assert_eq!(enc.encode(Op::Set, id, &mut out), len);
            let head = format!("set k{id:03} 0 0 {len}\r\n");
            assert_eq!(&out[..head.len()], head.as_bytes());
            assert_eq!(out.len(), head.len() + len + 2);
            out.clear();
            assert_eq!(enc.encode(Op::Get, id, &mut out), len);
        }
        let enc = Encoder::new(Proto::Binary, 4, sizes);
        let mut out = Vec::new();
        let len = enc.encode(Op::Set, 5, &mut out);
        let body = u32::from_be_bytes([out[8], out[9], out[10], out[11]]) as usize;
        assert_eq!(body, 8 + 4 + len);
        assert_eq!(out.len(), 24 + body);
    }

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 99, 100, 123_456, usize::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn timeline_streak_counts_the_latest_intervals() {
        let mut t = Timeline::default();
        let iv = |hits, misses| Interval {
            end: 0.0,
            ops: hits + misses,
            hits,
            misses,
        };
        t.rows = vec![iv(95, 5), iv(10, 90), iv(90, 10), iv(99, 1)];
        assert_eq!(t.streak_at_least(0.9), 2);
        assert_eq!(t.streak_at_least(0.1), 4);
        t.rows.push(iv(0, 0));
        assert_eq!(
            t.streak_at_least(0.1),
            0,
            "an interval without gets ends a streak"
        );
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut rng = Rng::new(1);
        assert!((0..10_000).all(|_| rng.below(7) < 7));
    }
}

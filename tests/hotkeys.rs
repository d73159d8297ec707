//! Hot keys (`-o hot_keys`, `stats hotkeys`): the estimates against a
//! workload whose true rates the test counts itself.
//!
//! The workload: Zipf(1.0) reads over 1 million keys plus 5 planted keys
//! at fixed shares of the stream, paced at a steady rate by two client
//! threads (two connections, so two workers' sketches are merged). The
//! test counts what it sent per key in 100 ms slots, so a key's true rate
//! over the server's window is known whatever the machine's load.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestServer;

const KEYS: usize = 1_000_000;
/// Planted keys and their shares of the stream.
const PLANTED: [(&str, f64); 5] = [
    ("planted:a", 0.10),
    ("planted:b", 0.06),
    ("planted:c", 0.04),
    ("planted:d", 0.025),
    ("planted:e", 0.015),
];
/// Keys the test counts: the planted ones, then Zipf ranks 1 to 10.
const TRACKED: usize = PLANTED.len() + 10;
/// Keys per second each client thread sends.
const RATE_PER_THREAD: usize = 60_000;
const TICK: Duration = Duration::from_millis(10);
const BATCH: usize = 100;
const SLOT: Duration = Duration::from_millis(100);

fn tracked_name(i: usize) -> String {
    if i < PLANTED.len() {
        PLANTED[i].0.to_string()
    } else {
        format!("z:{}", i - PLANTED.len() + 1)
    }
}

/// xorshift64*: enough randomness for a workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(1.0) ranks 1..=n by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for r in 1..=n {
            sum += 1.0 / r as f64;
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    fn rank(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) + 1
    }
}

/// What the clients sent, per tracked key, per 100 ms slot since `start`.
struct Sent {
    start: Instant,
    slots: Mutex<Vec<[u64; TRACKED]>>,
}

impl Sent {
    fn add(&self, counts: &[u64; TRACKED]) {
        let slot = (self.start.elapsed().as_millis() / SLOT.as_millis()) as usize;
        let mut slots = self.slots.lock().unwrap();
        if slots.len() <= slot {
            slots.resize(slot + 1, [0; TRACKED]);
        }
        for (s, c) in slots[slot].iter_mut().zip(counts) {
            *s += c;
        }
    }

    /// True rates over the last `secs` seconds.
    fn rates(&self, secs: f64) -> [f64; TRACKED] {
        let now = self.start.elapsed().as_millis() as f64 / SLOT.as_millis() as f64;
        let from = now - secs * 10.0;
        let slots = self.slots.lock().unwrap();
        let mut rates = [0.0; TRACKED];
        for (i, slot) in slots.iter().enumerate() {
            // The part of slot i (covering [i, i+1)) inside (from, now].
            let part = ((i + 1) as f64).min(now) - (i as f64).max(from);
            if part <= 0.0 {
                continue;
            }
            for (r, &c) in rates.iter_mut().zip(slot) {
                *r += c as f64 * part.min(1.0);
            }
        }
        rates.map(|r| r / secs)
    }
}

/// One client thread: paced multi-gets until `stop`.
fn client(
    addr: SocketAddr,
    zipf: Arc<Zipf>,
    sent: Arc<Sent>,
    planted_on: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rng = Rng(seed | 1);
    let per_tick = RATE_PER_THREAD * TICK.as_millis() as usize / 1000;
    let mut next = Instant::now();
    let mut reply = Vec::with_capacity(1 << 16);
    let mut buf = vec![0u8; 1 << 16];
    let planted_total: f64 = PLANTED.iter().map(|p| p.1).sum();
    while !stop.load(Ordering::Relaxed) {
        let planted = planted_on.load(Ordering::Relaxed);
        let mut counts = [0u64; TRACKED];
        let mut req = Vec::with_capacity(per_tick * 12);
        let mut batches = 0;
        for i in 0..per_tick {
            if i % BATCH == 0 {
                if i > 0 {
                    req.extend_from_slice(b"\r\n");
                }
                req.extend_from_slice(b"get");
                batches += 1;
            }
            let mut u = rng.unit();
            let mut key = None;
            if planted && u < planted_total {
                for (j, (name, share)) in PLANTED.iter().enumerate() {
                    if u < *share {
                        key = Some(name.to_string());
                        counts[j] += 1;
                        break;
                    }
                    u -= share;
                }
            }
            let key = key.unwrap_or_else(|| {
                let r = zipf.rank(&mut rng);
                if r <= 10 {
                    counts[PLANTED.len() + r - 1] += 1;
                }
                format!("z:{r}")
            });
            req.push(b' ');
            req.extend_from_slice(key.as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        s.write_all(&req).expect("send");
        // One END per multi-get (planted keys hit; their values hold no END).
        reply.clear();
        let mut ends = 0;
        while ends < batches {
            let n = s.read(&mut buf).expect("read replies");
            assert!(n > 0, "server closed the connection");
            reply.extend_from_slice(&buf[..n]);
            ends = reply.windows(5).filter(|w| w == b"END\r\n").count();
        }
        sent.add(&counts);
        next += TICK;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

/// One line of `stats hotkeys`: key, ops/s, reads/s, writes/s, miss share.
type Listed = (String, f64, f64, f64, f64);

/// `stats hotkeys` and the window in seconds.
fn hotkeys(c: &mut common::Conn) -> (Vec<Listed>, f64) {
    let stats = c.stats("hotkeys");
    let get = |name: &str| {
        stats
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in {stats:?}"))
    };
    let n: usize = get("hot_keys").parse().unwrap();
    let window: f64 = get("hot_keys_window_secs").parse().unwrap();
    let list = (1..=n)
        .map(|r| {
            let f = |field: &str| -> f64 { get(&format!("hotkey:{r}:{field}")).parse().unwrap() };
            (
                get(&format!("hotkey:{r}:key")),
                f("ops"),
                f("reads"),
                f("writes"),
                f("miss_share"),
            )
        })
        .collect();
    (list, window)
}

#[test]
fn planted_and_zipf_top_keys_are_found_with_their_rates_and_leave_after_the_window() {
    if common::is_memcached() {
        return; // a ferrocache extension
    }
    let server = TestServer::start(&["-t", "2", "-o", "hot_keys=20"]);
    let mut c = server.conn();
    for (name, _) in PLANTED {
        c.roundtrip(
            format!("set {name} 0 0 1\r\nv\r\n").as_bytes(),
            b"STORED\r\n",
        );
    }
    let zipf = Arc::new(Zipf::new(KEYS));
    let sent = Arc::new(Sent {
        start: Instant::now(),
        slots: Mutex::new(Vec::new()),
    });
    let planted_on = Arc::new(AtomicBool::new(true));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2u64)
        .map(|i| {
            let (zipf, sent, planted_on, stop) =
                (zipf.clone(), sent.clone(), planted_on.clone(), stop.clone());
            let addr = server.addr;
            std::thread::spawn(move || client(addr, zipf, sent, planted_on, stop, 0x5eed + i))
        })
        .collect();
    let _stop_on_exit = StopOnDrop(stop.clone());

    // Wait until the window is full (bounded).
    let mut window = 0.0;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(500));
        window = hotkeys(&mut c).1;
        if window >= 9.5 {
            break;
        }
    }
    assert!(window >= 9.5, "the window never filled: {window}");
    // Past the seconds in which the clients were starting.
    std::thread::sleep(Duration::from_secs(2));
    let (list, window) = hotkeys(&mut c);
    let truth = sent.rates(window);
    eprintln!("window {window:.1} s; list: {list:#?}");
    for (i, want) in truth.iter().enumerate() {
        let name = tracked_name(i);
        let Some(got) = list.iter().find(|k| k.0 == name) else {
            panic!("{name} (true rate {want:.0}/s) is not in stats hotkeys: {list:#?}");
        };
        let err = (got.1 - want).abs() / want;
        eprintln!(
            "{name}: estimated {:.0}/s, true {want:.0}/s, error {:.1} %",
            got.1,
            err * 100.0
        );
        assert!(
            err <= 0.20,
            "{name}: estimated {:.0}/s, true {want:.0}/s",
            got.1
        );
        // Reads only; planted keys were set, so they hit; Zipf keys miss.
        assert_eq!(got.3, 0.0, "{name} has writes");
        let want_miss = if i < PLANTED.len() { 0.0 } else { 1.0 };
        assert_eq!(got.4, want_miss, "{name}: miss share");
    }

    // The planted keys stop; within the window (and a merge) they are gone.
    planted_on.store(false, Ordering::Relaxed);
    let stopped = Instant::now();
    let mut gone = false;
    while stopped.elapsed() < Duration::from_secs_f64(window + 2.0) {
        std::thread::sleep(Duration::from_millis(250));
        let (list, _) = hotkeys(&mut c);
        if !list.iter().any(|k| k.0.starts_with("planted:")) {
            gone = true;
            break;
        }
    }
    eprintln!("planted keys gone after {:?}", stopped.elapsed());
    assert!(gone, "planted keys still listed: {:#?}", hotkeys(&mut c).0);
    // The Zipf top keys are still there.
    let (list, _) = hotkeys(&mut c);
    assert!(list.iter().any(|k| k.0 == "z:1"), "{list:#?}");

    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().expect("client thread");
    }
}

/// Stops the client threads if an assertion fails first.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn hot_keys_off_and_bounded() {
    if common::is_memcached() {
        return;
    }
    let off = TestServer::start(&["-o", "hot_keys=off"]);
    let mut c = off.conn();
    c.roundtrip(b"get a\r\n", b"END\r\n");
    assert_eq!(c.stats("hotkeys"), vec![("hot_keys".into(), "off".into())]);

    // At most N keys; awkward keys are URI-encoded; writes and misses
    // are split out; the tracker's memory is reported.
    let on = TestServer::start(&["-o", "hot_keys=3,hot_keys_sample=1"]);
    let mut c = on.conn();
    for i in 0..10 {
        for _ in 0..=i {
            c.roundtrip(format!("get k{i}\r\n").as_bytes(), b"END\r\n");
        }
    }
    for _ in 0..20 {
        c.roundtrip(b"set w%x 0 0 1\r\nv\r\n", b"STORED\r\n");
    }
    let mut list = Vec::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        list = hotkeys(&mut c).0;
        if list.len() == 3 {
            break;
        }
    }
    let keys: Vec<&str> = list.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(keys, ["w%25x", "k9", "k8"], "{list:#?}");
    assert_eq!((list[0].2, list[0].4), (0.0, 0.0));
    assert!(list[0].3 > 0.0);
    assert_eq!(list[1].4, 1.0);
    let stats = c.stats("hotkeys");
    let bytes: u64 = stats
        .iter()
        .find(|(k, _)| k == "hot_keys_bytes")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    assert!(bytes > 0 && bytes < 64 << 20, "hot_keys_bytes {bytes}");
}

/// The Prometheus series: at most N keys, printable label values, and
/// `promtool check metrics` passes (when promtool is installed).
#[test]
fn metrics_list_at_most_n_hot_keys_and_pass_promtool() {
    if common::is_memcached() {
        return;
    }
    let port = common::free_port();
    let listen = format!("metrics_listen=127.0.0.1:{port},hot_keys=2,hot_keys_sample=1");
    let server = TestServer::start(&["-o", &listen]);
    let metrics = SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = server.conn();
    for key in ["a\"b", "c\\d", "plain", "x"] {
        c.roundtrip(format!("get {key}\r\n").as_bytes(), b"END\r\n");
    }
    c.roundtrip(b"get plain\r\n", b"END\r\n");
    let mut body = String::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        body = http_get_body(metrics);
        if body.contains("ferrocache_hot_key_miss_ratio{") {
            break;
        }
    }
    let series: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("ferrocache_hot_key_ops_per_second{"))
        .collect();
    let plain = r#"ferrocache_hot_key_ops_per_second{key="plain",op="read"} "#;
    assert!(series.iter().any(|l| l.starts_with(plain)), "{body}");
    assert_eq!(series.len(), 4, "two keys, read and write: {series:?}");
    let miss: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("ferrocache_hot_key_miss_ratio{"))
        .collect();
    assert_eq!(miss.len(), 2, "{miss:?}");
    assert!(body.contains("# TYPE ferrocache_hot_keys_memory_bytes gauge"));
    for l in body.lines().filter(|l| l.contains("key=\"")) {
        let value = l.split("key=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(
            value.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'),
            "label {value:?}"
        );
    }
    common::assert_promtool_accepts(&body);
}

fn http_get_body(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to metrics_listen");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read the reply");
    reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// `watch hotkeys` (ferrocache): one `type=hot_key` line when a key
/// enters the list, with `stats hotkeys`' fields, and none again while it
/// stays listed.
#[test]
fn watch_hotkeys_announces_each_key_entering_the_list_once() {
    if common::is_memcached() {
        return;
    }
    let server = TestServer::start(&["-o", "hot_keys=5,hot_keys_sample=1"]);
    let mut w = server.conn();
    w.roundtrip(b"watch hotkeys\r\n", b"OK\r\n");
    let mut c = server.conn();
    for _ in 0..300 {
        c.roundtrip(b"get hot:read\r\n", b"END\r\n");
    }
    for _ in 0..100 {
        c.roundtrip(b"set hot:write 0 0 1\r\nv\r\n", b"STORED\r\n");
    }
    // The maintenance thread merges the samples about once a second.
    let mut seen = BTreeMap::new();
    while seen.len() < 2 {
        let (key, fields) = hot_key_line(&mut w);
        assert!(seen.insert(key.clone(), fields).is_none(), "{key} twice");
    }
    // Keys are URI-encoded, as in every watch line.
    let read = &seen["hot%3Aread"];
    assert_eq!((read["writes"], read["miss_share"]), (0.0, 1.0), "{read:?}");
    assert!(
        read["reads"] > 0.0 && read["ops"] == read["reads"],
        "{read:?}"
    );
    let write = &seen["hot%3Awrite"];
    assert_eq!(
        (write["reads"], write["miss_share"]),
        (0.0, 0.0),
        "{write:?}"
    );
    assert!(write["writes"] > 0.0, "{write:?}");
    let ranks: BTreeSet<u64> = seen.values().map(|f| f["rank"] as u64).collect();
    assert_eq!(ranks, BTreeSet::from([1, 2]));

    // Both stay listed: the next line is the next key to enter.
    for _ in 0..50 {
        c.roundtrip(b"get hot:later\r\n", b"END\r\n");
    }
    let (key, fields) = hot_key_line(&mut w);
    assert_eq!(key, "hot%3Alater", "{fields:?}");
    assert_eq!(fields["rank"], 3.0, "{fields:?}");
}

/// The next `type=hot_key` line of a watcher: its key and numeric fields.
fn hot_key_line(w: &mut common::Conn) -> (String, BTreeMap<String, f64>) {
    let line = String::from_utf8(w.read_line()).unwrap();
    let body = line.strip_suffix('\n').expect("a whole line");
    let mut parts = body.split(' ');
    assert!(parts.next().unwrap().starts_with("ts="), "{line:?}");
    assert!(parts.next().unwrap().starts_with("gid="), "{line:?}");
    assert_eq!(parts.next(), Some("type=hot_key"), "{line:?}");
    let key = parts
        .next()
        .unwrap()
        .strip_prefix("key=")
        .unwrap()
        .to_string();
    let fields: BTreeMap<String, f64> = parts
        .map(|f| {
            let (name, value) = f.split_once('=').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect();
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["miss_share", "ops", "rank", "reads", "writes"],
        "{line:?}"
    );
    (key, fields)
}

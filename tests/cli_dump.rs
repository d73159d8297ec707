//! `ferrocache-cli dump` and `load` (issue #16): every key of a node or a
//! ring through `lru_crawler metadump`, values and TTLs through meta gets,
//! written as `add` records `load` replays into ferrocache and into
//! Debian's memcached 1.6.18.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{show, Conn, TestServer};

const ORACLE: &str = "/usr/bin/memcached";

/// Whether Debian's memcached is here; in CI its absence is a failure.
fn have_oracle() -> bool {
    if Path::new(ORACLE).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{ORACLE} is missing (Debian's memcached package)"
    );
    eprintln!("skipped: {ORACLE} is not installed");
    false
}

/// Debian's memcached on a free port, killed on drop.
fn oracle() -> TestServer {
    let args = common::root_user_args_for(Path::new(ORACLE));
    TestServer::spawn_bin(Path::new(ORACLE), args, &[])
}

/// A file under the target directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cli-dump-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Item {
    key: String,
    value: Vec<u8>,
    flags: u32,
    /// 0: never expires.
    ttl: u32,
}

/// `n` items: values with CR, LF and every byte value, assorted flags,
/// a third without expiry and the rest with TTLs of 1000 s and more.
fn items(prefix: &str, n: usize) -> Vec<Item> {
    (0..n)
        .map(|i| Item {
            key: format!("{prefix}:{i}"),
            value: (0..(i % 300)).map(|j| ((i + j) % 256) as u8).collect(),
            flags: (i as u32).wrapping_mul(2_654_435_761),
            ttl: if i % 3 == 0 { 0 } else { 1000 + i as u32 },
        })
        .collect()
}

fn fill(addr: SocketAddr, items: &[Item]) {
    let mut c = Conn::connect(addr);
    for it in items {
        c.send(
            format!(
                "set {} {} {} {}\r\n",
                it.key,
                it.flags,
                it.ttl,
                it.value.len()
            )
            .as_bytes(),
        );
        c.send(&it.value);
        c.send(b"\r\n");
        c.expect(b"STORED\r\n");
    }
}

/// Each item is on `addr` with its value and flags, and a TTL within a
/// minute of what it was stored with.
#[track_caller]
fn check(addr: SocketAddr, items: &[Item]) {
    let mut c = Conn::connect(addr);
    for it in items {
        c.send(format!("mg {} v f t\r\n", it.key).as_bytes());
        let head = String::from_utf8(c.read_line())
            .unwrap()
            .trim_end()
            .to_string();
        let words: Vec<&str> = head.split(' ').collect();
        assert_eq!(words.len(), 4, "{}: {head}", it.key);
        assert_eq!(
            words[..3],
            ["VA", &it.value.len().to_string(), &format!("f{}", it.flags)][..],
            "{}",
            it.key
        );
        let ttl: i64 = words[3][1..].parse().unwrap();
        if it.ttl == 0 {
            assert_eq!(ttl, -1, "{}", it.key);
        } else {
            assert!(
                (i64::from(it.ttl) - 60..=i64::from(it.ttl)).contains(&ttl),
                "{}: {head}",
                it.key
            );
        }
        assert_eq!(
            show(&c.read_exact_bytes(it.value.len())),
            show(&it.value),
            "{}",
            it.key
        );
        c.expect(b"\r\n");
    }
}

#[track_caller]
fn cli(servers: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache-cli"))
        .args(["--servers", servers])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ferrocache-cli");
    assert!(
        out.status.success(),
        "ferrocache-cli {args:?}: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn lines(out: &Output) -> BTreeSet<String> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A node's keys, then its items with values and TTLs, into a fresh
/// ferrocache and into memcached; a binary key is dumped (as `ms ... b`)
/// and counted as one the text protocol cannot load.
#[test]
fn dump_and_load_copy_a_node_into_ferrocache_and_memcached() {
    if common::is_memcached() {
        return;
    }
    let dir = Scratch::new("node");
    let source = TestServer::start(&[]);
    let all = items("node", 300);
    fill(source.addr, &all);
    Conn::connect(source.addr).roundtrip(b"ms AP8= 2 b F9 T0\r\nzz\r\n", b"HD\r\n");
    let src = source.addr.to_string();

    let keys = lines(&cli(&src, &["dump"]));
    let mut want: BTreeSet<String> = all.iter().map(|it| it.key.clone()).collect();
    want.insert("AP8= b".into());
    assert_eq!(keys, want);

    let file = dir.path("node.dump");
    let out = cli(&src, &["dump", "--values", "-o", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(": 301 items"));
    let text = std::fs::read(&file).unwrap();
    assert!(text.windows(5).filter(|w| w == b"\r\nadd").count() >= 299);
    assert!(show(&text).contains("ms AP8= 2 b F9 T0 ME\\r\\nzz\\r\\n"));

    let mut targets = vec![TestServer::start(&[])];
    if have_oracle() {
        targets.push(oracle());
    }
    for target in &targets {
        let out = cli(&target.addr.to_string(), &["load", file.to_str().unwrap()]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.starts_with("loaded 300 items")
                && said.contains("0 already present")
                && said.contains("1 with keys the text protocol cannot send"),
            "{said}"
        );
        check(target.addr, &all);
        // A second load keeps what is there (`add` records).
        let out = cli(&target.addr.to_string(), &["load", file.to_str().unwrap()]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("300 already present"));
    }
}

/// memcached 1.6.18 as the source: its metadump and meta gets are what
/// `dump` reads.
#[test]
fn dump_from_memcached_loads_into_ferrocache() {
    if common::is_memcached() || !have_oracle() {
        return;
    }
    let dir = Scratch::new("oracle");
    let source = oracle();
    let all = items("mc", 200);
    fill(source.addr, &all);
    let file = dir.path("mc.dump");
    cli(
        &source.addr.to_string(),
        &["dump", "--values", "-o", file.to_str().unwrap()],
    );
    let target = TestServer::start(&[]);
    let out = cli(&target.addr.to_string(), &["load", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("loaded 200 items"));
    check(target.addr, &all);
}

/// A ring: every node's keys once, loaded into another ring where each key
/// goes to its owner; an `add` record keeps a newer value.
#[test]
fn dump_a_ring_and_load_it_into_another() {
    if common::is_memcached() {
        return;
    }
    let dir = Scratch::new("ring");
    let (a, b) = (TestServer::start(&[]), TestServer::start(&[]));
    let ring = format!("{},{}", a.addr, b.addr);
    let all = items("ring", 400);
    let client =
        ferrocache::client::Client::new(&[a.addr.to_string(), b.addr.to_string()]).unwrap();
    for it in &all {
        assert!(client
            .set(&it.key, &it.value, it.flags, i64::from(it.ttl))
            .unwrap());
    }
    for node in [&a, &b] {
        let mut c = Conn::connect(node.addr);
        assert!(c.stat("curr_items") > 100, "both nodes hold keys");
    }
    let keys = lines(&cli(&ring, &["dump"]));
    assert_eq!(keys, all.iter().map(|it| it.key.clone()).collect());

    let file = dir.path("ring.dump");
    cli(&ring, &["dump", "--values", "-o", file.to_str().unwrap()]);
    let (c, d) = (TestServer::start(&[]), TestServer::start(&[]));
    let target = format!("{},{}", c.addr, d.addr);
    let to = ferrocache::client::Client::new(&[c.addr.to_string(), d.addr.to_string()]).unwrap();
    assert!(to.set(&all[1].key, b"newer", 0, 0).unwrap());
    let out = cli(&target, &["load", file.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("loaded 399 items") && said.contains("1 already present"),
        "{said}"
    );
    let got = to
        .get_multi(&all.iter().map(|it| it.key.as_str()).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(got.len(), all.len());
    assert_eq!(got[all[1].key.as_bytes()].value, b"newer");
    for it in &all[2..] {
        let item = &got[it.key.as_bytes()];
        assert_eq!(
            (&item.value, item.flags),
            (&it.value, it.flags),
            "{}",
            it.key
        );
    }
}

/// A server that refuses dumps (`-X`) is named, with a non-zero exit; a
/// file that is not a dump is refused before anything is sent.
#[test]
fn refusals_are_reported() {
    if common::is_memcached() {
        return;
    }
    let dir = Scratch::new("refusals");
    let server = TestServer::start(&["-X"]);
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache-cli"))
        .args(["--servers", &server.addr.to_string(), "dump"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metadump not allowed"), "{err}");

    let file = dir.path("bad.dump");
    std::fs::write(&file, b"add k 0 0 1\r\na\r\nget k\r\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache-cli"))
        .args([
            "--servers",
            &server.addr.to_string(),
            "load",
            file.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3"));
    server.conn().roundtrip(b"get k\r\n", b"END\r\n");
}

//! Looking inside a running cache (issue #16): `lru_crawler` (settings,
//! crawl, `metadump`, `mgdump`), `stats cachedump`, and the tools
//! operators point at memcached (Debian's `memcached-tool dump`,
//! libmemcached's `memcdump`), side by side with Debian's memcached.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{show, Conn, TestServer};

const ORACLE: &str = "/usr/bin/memcached";
const MEMCACHED_TOOL: &str = "/usr/share/memcached/scripts/memcached-tool";
const MEMCDUMP: &str = "/usr/bin/memcdump";

/// Read lines until one equals `end` (that line excluded).
fn lines_until(c: &mut Conn, end: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = c.read_line();
        if line == end {
            return out;
        }
        out.push(line);
    }
}

fn stat_of(stats: &[(String, String)], name: &str) -> String {
    stats
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no stat {name}"))
}

/// Whether an external tool is here; in CI its absence is a failure.
fn have(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{path} is missing (Debian's memcached and libmemcached-tools packages)"
    );
    eprintln!("skipped: {path} is not installed");
    false
}

#[test]
fn lru_crawler_subcommands_answer_as_memcached() {
    let server = TestServer::start(&[]);
    let mut c = server.conn();
    let table: &[(&[u8], &[u8])] = &[
        (
            b"lru_crawler sleep 2000000\r\n",
            b"CLIENT_ERROR sleep must be one second or less\r\n",
        ),
        (
            b"lru_crawler sleep x\r\n",
            b"CLIENT_ERROR bad command line format\r\n",
        ),
        (b"lru_crawler sleep 50\r\n", b"OK\r\n"),
        (
            b"lru_crawler tocrawl x\r\n",
            b"CLIENT_ERROR bad command line format\r\n",
        ),
        (b"lru_crawler tocrawl 7\r\n", b"OK\r\n"),
        (b"lru_crawler crawl 0\r\n", b"BADCLASS invalid class id\r\n"),
        (
            b"lru_crawler crawl 64\r\n",
            b"BADCLASS invalid class id\r\n",
        ),
        (
            b"lru_crawler crawl 1,x\r\n",
            b"BADCLASS invalid class id\r\n",
        ),
        // A class with no items is crawled (and found empty).
        (b"lru_crawler crawl 2\r\n", b"OK\r\n"),
        (
            b"lru_crawler metadump 0\r\n",
            b"BADCLASS invalid class id\r\n",
        ),
        (b"lru_crawler metadump 2\r\n", b"END\r\n"),
        (b"lru_crawler mgdump 63\r\n", b"EN\r\n"),
        (
            b"lru_crawler mgdump 99\r\n",
            b"BADCLASS invalid class id\r\n",
        ),
        (b"lru_crawler\r\n", b"ERROR\r\n"),
        (b"lru_crawler bogus\r\n", b"ERROR\r\n"),
        (b"lru_crawler enable now\r\n", b"ERROR\r\n"),
        (b"lru_crawler crawl 1 2\r\n", b"ERROR\r\n"),
        (b"lru_crawler disable\r\n", b"OK\r\n"),
        (
            b"lru_crawler crawl 1\r\n",
            b"CLIENT_ERROR lru crawler disabled\r\n",
        ),
        (
            b"lru_crawler metadump all\r\n",
            b"CLIENT_ERROR lru crawler disabled\r\n",
        ),
        (
            b"lru_crawler mgdump all\r\n",
            b"CLIENT_ERROR lru crawler disabled\r\n",
        ),
        (b"lru_crawler enable\r\n", b"OK\r\n"),
        (
            b"stats cachedump 1\r\n",
            b"CLIENT_ERROR bad command line\r\n",
        ),
        (
            b"stats cachedump x 1\r\n",
            b"CLIENT_ERROR bad command line format\r\n",
        ),
        (
            b"stats cachedump 64 0\r\n",
            b"CLIENT_ERROR Illegal slab id\r\n",
        ),
        (b"stats cachedump 2 0\r\n", b"END\r\n"),
        (b"stats cachedump 1 0\r\n", b"END\r\n"),
    ];
    for (request, reply) in table {
        c.roundtrip(request, reply);
    }
    let settings = c.stats("settings");
    assert_eq!(stat_of(&settings, "lru_crawler"), "yes");
    assert_eq!(stat_of(&settings, "lru_crawler_sleep"), "50");
    assert_eq!(stat_of(&settings, "lru_crawler_tocrawl"), "7");
    c.roundtrip(b"lru_crawler disable\r\n", b"OK\r\n");
    assert_eq!(stat_of(&c.stats("settings"), "lru_crawler"), "no");
}

#[test]
fn stats_detail_counts_per_prefix() {
    let server = TestServer::start(&["-D", "|"]);
    let mut c = server.conn();
    let table: &[(&[u8], &[u8])] = &[
        (b"stats detail dump\r\n", b"END\r\n"),
        (
            b"stats detail\r\n",
            b"CLIENT_ERROR usage: stats detail on|off|dump\r\n",
        ),
        (b"stats detail on\r\n", b"OK\r\n"),
        (b"set a|1 0 0 1\r\nx\r\n", b"STORED\r\n"),
        // No delimiter: not counted.
        (b"set plain 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"get a|1 a|2\r\n", b"VALUE a|1 0 1\r\nx\r\nEND\r\n"),
        (b"delete a|3\r\n", b"NOT_FOUND\r\n"),
        (
            b"stats detail dump\r\n",
            b"PREFIX a get 2 hit 1 set 1 del 1\r\nEND\r\n",
        ),
        (b"stats detail off\r\n", b"OK\r\n"),
        (b"get a|1\r\n", b"VALUE a|1 0 1\r\nx\r\nEND\r\n"),
        (
            b"stats detail dump\r\n",
            b"PREFIX a get 2 hit 1 set 1 del 1\r\nEND\r\n",
        ),
        (b"stats reset\r\n", b"RESET\r\n"),
        (b"stats detail dump\r\n", b"END\r\n"),
    ];
    for (request, reply) in table {
        c.roundtrip(request, reply);
    }
}

#[test]
fn crawler_start_state_follows_o() {
    for (args, want) in [
        (&[][..], "yes"),
        (&["-o", "no_modern"][..], "no"),
        (&["-o", "no_lru_crawler"][..], "no"),
        (&["-o", "no_modern,lru_crawler"][..], "yes"),
    ] {
        let server = TestServer::start(args);
        let mut c = server.conn();
        assert_eq!(
            stat_of(&c.stats("settings"), "lru_crawler"),
            want,
            "{args:?}"
        );
    }
}

#[test]
fn metadump_and_mgdump_lines() {
    let server = TestServer::start(&[]);
    let mut c = server.conn();
    c.roundtrip(b"set a/b%c 5 0 3\r\nxyz\r\n", b"STORED\r\n");
    c.roundtrip(b"set plain 0 1000 1\r\nq\r\n", b"STORED\r\n");
    c.roundtrip(b"get plain\r\n", b"VALUE plain 0 1\r\nq\r\nEND\r\n");
    // A binary key (base64 "AAEC" is 00 01 02).
    c.roundtrip(b"ms AAEC 1 b\r\nz\r\n", b"HD\r\n");
    let now: i64 = stat_of(&c.stats(""), "time").parse().unwrap();

    c.send(b"lru_crawler metadump all\r\n");
    let lines = lines_until(&mut c, b"END\r\n");
    let mut by_key = BTreeMap::new();
    for line in &lines {
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(text.ends_with(" \n"), "memcached's line end: {text:?}");
        let fields: BTreeMap<String, String> = text
            .split_whitespace()
            .map(|f| f.split_once('=').unwrap_or_else(|| panic!("{text:?}")))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let names: Vec<&str> = text
            .split_whitespace()
            .map(|f| f.split('=').next().unwrap())
            .collect();
        assert_eq!(
            names,
            ["key", "exp", "la", "cas", "fetch", "cls", "size", "flags"],
            "{text:?}"
        );
        by_key.insert(fields["key"].to_string(), fields.clone());
        assert_eq!(fields["cls"], "1");
        let la: i64 = fields["la"].parse().unwrap();
        assert!((now - 5..=now + 5).contains(&la), "la {la} vs now {now}");
    }
    let keys: BTreeSet<&str> = by_key.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, BTreeSet::from(["a%2Fb%25c", "plain", "%00%01%02"]));
    let slashed = &by_key["a%2Fb%25c"];
    assert_eq!(slashed["exp"], "-1");
    assert_eq!(slashed["flags"], "5");
    assert_eq!(slashed["fetch"], "no");
    let plain = &by_key["plain"];
    assert_eq!(plain["fetch"], "yes");
    let exp: i64 = plain["exp"].parse().unwrap();
    assert!(
        (now + 995..=now + 1005).contains(&exp),
        "exp {exp} vs now {now}"
    );

    c.send(b"lru_crawler mgdump hash\r\n");
    let lines: BTreeSet<Vec<u8>> = lines_until(&mut c, b"EN\r\n").into_iter().collect();
    let want: BTreeSet<Vec<u8>> = [&b"mg a/b%c\r\n"[..], b"mg plain\r\n", b"mg AAEC b\r\n"]
        .iter()
        .map(|l| l.to_vec())
        .collect();
    assert_eq!(lines, want);

    // cachedump: memcached 1.6.18's line, the limit honoured.
    c.send(b"stats cachedump 1 0\r\n");
    let all = lines_until(&mut c, b"END\r\n");
    assert_eq!(all.len(), 3);
    assert!(
        all.contains(&b"ITEM a/b%c [3 b; 0 s]\r\n".to_vec()),
        "{all:?}"
    );
    c.send(b"stats cachedump 1 2\r\n");
    assert_eq!(lines_until(&mut c, b"END\r\n").len(), 2);

    // Replies still queued before a dump: memcached's refusal.
    c.send(b"mn\r\nlru_crawler metadump all\r\n");
    c.expect(b"MN\r\nERROR cannot pipeline other commands before metadump\r\n");
    c.send(b"mn\r\nlru_crawler mgdump all\r\n");
    c.expect(b"MN\r\nERROR cannot pipeline other commands before mgdump\r\n");
    c.assert_usable();
}

#[test]
fn dumps_refused_under_x() {
    let server = TestServer::start(&["-X"]);
    let mut c = server.conn();
    c.roundtrip(
        b"lru_crawler metadump all\r\n",
        b"ERROR metadump not allowed\r\n",
    );
    c.roundtrip(
        b"lru_crawler mgdump all\r\n",
        b"ERROR key dump not allowed\r\n",
    );
    c.roundtrip(
        b"stats cachedump 1 0\r\n",
        b"CLIENT_ERROR stats cachedump not allowed\r\n",
    );
}

#[test]
fn crawl_reclaims_expired_items() {
    let server = TestServer::start(&[]);
    let mut c = server.conn();
    for i in 0..20 {
        c.roundtrip(
            format!("set short{i} 0 1 1\r\nx\r\n").as_bytes(),
            b"STORED\r\n",
        );
        c.roundtrip(
            format!("set long{i} 0 0 1\r\nx\r\n").as_bytes(),
            b"STORED\r\n",
        );
    }
    // Past the one-second TTL (memcached's clock has one-second steps).
    std::thread::sleep(Duration::from_millis(2500));
    let before = c.stat("crawler_reclaimed");
    let starts = c.stat("lru_crawler_starts");
    c.roundtrip(b"lru_crawler crawl 1\r\n", b"OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.stat("lru_crawler_running") != 0 {
        assert!(Instant::now() < deadline, "the crawl did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The background sweep may have taken some first; together, all 20.
    assert!(c.stat("crawler_reclaimed") >= before);
    assert_eq!(c.stat("curr_items"), 20);
    assert_eq!(c.stat("lru_crawler_starts"), starts + 1);
    assert!(c.stat("crawler_items_checked") >= 20);
    c.send(b"lru_crawler metadump 1\r\n");
    assert_eq!(lines_until(&mut c, b"END\r\n").len(), 20);
}

/// A dump far larger than one reply chunk streams: every item exactly
/// once (rewritten ones too), while another connection is served between
/// the chunks.
#[test]
fn large_dump_streams_every_item_once() {
    const ITEMS: usize = 100_000;
    let server = TestServer::start(&["-m", "256"]);
    let mut c = server.conn();
    let mut batch = Vec::new();
    for i in 0..ITEMS {
        batch.extend_from_slice(format!("set key:{i} 0 0 4 noreply\r\nabcd\r\n").as_bytes());
        if batch.len() > 64 * 1024 {
            c.send(&batch);
            batch.clear();
        }
    }
    c.send(&batch);
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    assert_eq!(c.stat("curr_items"), ITEMS as u64);

    let mut other = server.conn();
    c.send(b"lru_crawler metadump hash\r\n");
    let mut seen = vec![false; ITEMS];
    let mut lines = 0;
    loop {
        let line = c.read_line();
        if line == b"END\r\n" {
            break;
        }
        lines += 1;
        // Another client is answered while the dump is under way, and
        // rewrites keys (new records): each still appears exactly once.
        if lines % 20_000 == 0 {
            other.roundtrip(b"get key:7\r\n", b"VALUE key:7 0 4\r\nabcd\r\nEND\r\n");
            for j in (0..ITEMS).step_by(97) {
                other.send(format!("set key:{j} 0 0 4 noreply\r\nwxyz\r\n").as_bytes());
            }
            other.roundtrip(b"mn\r\n", b"MN\r\n");
        }
        let text = std::str::from_utf8(&line).unwrap();
        let key = text
            .strip_prefix("key=key%3A")
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("{}", show(&line)));
        let i: usize = key.parse().unwrap();
        assert!(!seen[i], "key:{i} twice");
        seen[i] = true;
    }
    assert_eq!(lines, ITEMS);
    assert!(seen.iter().all(|&s| s));
    c.assert_usable();
}

/// Debian's memcached on a free port, killed on drop.
fn oracle() -> TestServer {
    let args = common::root_user_args_for(Path::new(ORACLE));
    TestServer::spawn_bin(Path::new(ORACLE), args, &[])
}

/// 1,000 items with assorted flags and values, no expiry.
fn fill(addr: std::net::SocketAddr) {
    let mut c = Conn::connect(addr);
    for i in 0..1000 {
        let value = format!("value-{i}-{}", "v".repeat(i % 50));
        c.roundtrip(
            format!("set tool:{i} {} 0 {}\r\n{value}\r\n", i % 7, value.len()).as_bytes(),
            b"STORED\r\n",
        );
    }
}

/// `memcached-tool ADDR dump`: its `add` records, sorted.
fn tool_dump(addr: std::net::SocketAddr) -> Vec<String> {
    let out = Command::new("perl")
        .args([MEMCACHED_TOOL, &addr.to_string(), "dump"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run memcached-tool");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut records: Vec<String> = text
        .split("add ")
        .filter(|r| !r.is_empty())
        .map(|r| format!("add {r}"))
        .collect();
    records.sort();
    records
}

#[test]
fn memcached_tool_dump_matches_memcached() {
    if common::is_memcached() || !have(ORACLE) || !have(MEMCACHED_TOOL) {
        return;
    }
    let theirs = oracle();
    let ours = TestServer::spawn(common::root_user_args());
    fill(theirs.addr);
    fill(ours.addr);
    let want = tool_dump(theirs.addr);
    assert_eq!(want.len(), 1000, "memcached's own dump");
    let got = tool_dump(ours.addr);
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
}

#[test]
fn memcdump_lists_every_key() {
    if common::is_memcached() || !have(MEMCDUMP) {
        return;
    }
    let ours = TestServer::spawn(common::root_user_args());
    fill(ours.addr);
    let out = Command::new(MEMCDUMP)
        .arg(format!("--servers=127.0.0.1:{}", ours.addr.port()))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run memcdump");
    assert!(out.status.success(), "memcdump failed");
    let keys: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let want: BTreeSet<String> = (0..1000).map(|i| format!("tool:{i}")).collect();
    assert_eq!(keys, want);
}

/// A watcher's next line with its `ts=<s>.<us> gid=<n> ` prefix checked
/// and removed.
fn watched(w: &mut Conn) -> String {
    let line = String::from_utf8(w.read_line()).unwrap();
    let body = line
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{line:?}"));
    let mut parts = body.splitn(3, ' ');
    let ts = parts.next().unwrap();
    let gid = parts.next().unwrap();
    let (secs, micros) = ts
        .strip_prefix("ts=")
        .and_then(|t| t.split_once('.'))
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(
        secs.parse::<u64>().is_ok() && micros.parse::<u32>().is_ok(),
        "{line:?}"
    );
    assert!(
        gid.strip_prefix("gid=").unwrap().parse::<u64>().is_ok(),
        "{line:?}"
    );
    parts.next().unwrap().to_string()
}

/// The descriptor `stats conns` shows for the asking connection (the
/// last one listed is the newest).
fn own_fd(c: &mut Conn) -> String {
    c.send(b"stats conns\r\n");
    let lines = lines_until(c, b"END\r\n");
    let last = String::from_utf8(lines.last().unwrap().clone()).unwrap();
    last.trim_start_matches("STAT ")
        .split(':')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn watch_mutations_fetchers_deletions_lines() {
    let server = TestServer::start(&[]);
    let mut c = server.conn();
    let fd = own_fd(&mut c);
    let mut w = server.conn();
    w.roundtrip(b"watch mutations fetchers deletions\r\n", b"OK\r\n");
    let script: &[(&[u8], &[u8], &[&str])] = &[
        (
            b"set k 1 0 3\r\nabc\r\n",
            b"STORED\r\n",
            &[
                "type=item_get key=k status=not_found clsid=0 cfd=FD size=0",
                "type=item_store key=k status=stored cmd=set ttl=0 clsid=1 cfd=FD size=3",
            ],
        ),
        (
            b"add k 0 100 2\r\nxy\r\n",
            b"NOT_STORED\r\n",
            &[
                "type=item_get key=k status=found clsid=1 cfd=FD size=3",
                "type=item_store key=k status=not_stored cmd=add ttl=100 clsid=1 cfd=FD size=2",
            ],
        ),
        (
            b"replace k 0 0 4\r\nwxyz\r\n",
            b"STORED\r\n",
            &[
                "type=item_get key=k status=found clsid=1 cfd=FD size=3",
                "type=item_store key=k status=stored cmd=replace ttl=0 clsid=1 cfd=FD size=4",
            ],
        ),
        (
            b"cas k 0 0 1 999999\r\nq\r\n",
            b"EXISTS\r\n",
            &[
                "type=item_get key=k status=found clsid=1 cfd=FD size=4",
                "type=item_store key=k status=exists cmd=cas ttl=0 clsid=1 cfd=FD size=1",
            ],
        ),
        (
            b"append k 0 0 2\r\n!!\r\n",
            b"STORED\r\n",
            &[
                "type=item_get key=k status=found clsid=1 cfd=FD size=4",
                "type=item_store key=k status=stored cmd=append ttl=0 clsid=1 cfd=FD size=2",
            ],
        ),
        (
            b"get k a%b\r\n",
            b"VALUE k 0 6\r\nwxyz!!\r\nEND\r\n",
            &[
                "type=item_get key=k status=found clsid=1 cfd=FD size=6",
                "type=item_get key=a%25b status=not_found clsid=0 cfd=FD size=0",
            ],
        ),
        (
            b"delete k\r\n",
            b"DELETED\r\n",
            &["type=deleted key=k cmd=delete clsid=1 size=6"],
        ),
        // memcached 1.6.45's t/watcher.t: a miss, an invalidation are not
        // logged; md is.
        (
            b"ms m 2 T0\r\nhi\r\n",
            b"HD\r\n",
            &[
                "type=item_get key=m status=not_found clsid=0 cfd=FD size=0",
                "type=item_store key=m status=stored cmd=set ttl=0 clsid=1 cfd=FD size=2",
            ],
        ),
        (b"md nothing\r\n", b"NF\r\n", &[]),
        (b"md m I\r\n", b"HD\r\n", &[]),
        (
            b"md m\r\n",
            b"HD\r\n",
            &["type=deleted key=m cmd=md clsid=1 size=2"],
        ),
    ];
    for (request, reply, lines) in script {
        c.roundtrip(request, reply);
        for want in *lines {
            assert_eq!(watched(&mut w), want.replace("FD", &fd));
        }
    }
    let stats = c.stats("");
    assert_eq!(stat_of(&stats, "log_watchers"), "1");
}

#[test]
fn watch_connevents_and_limits() {
    let server = TestServer::start(&[]);
    let mut w = server.conn();
    w.roundtrip(b"watch connevents\r\n", b"OK\r\n");
    let mut c = server.conn();
    let fd = own_fd(&mut c);
    let line = watched(&mut w);
    assert!(
        line.starts_with("type=conn_new rip=127.0.0.1 rport="),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(" transport=tcp cfd={fd}")),
        "{line}"
    );
    c.send(b"quit\r\n");
    let line = watched(&mut w);
    assert!(
        line.starts_with("type=conn_close rip=127.0.0.1 rport="),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(" transport=tcp reason=normal cfd={fd}")),
        "{line}"
    );
    let mut bad = server.conn();
    bad.send(b"GET / HTTP/1.1\r\n");
    assert!(watched(&mut w).starts_with("type=conn_new "));
    assert!(watched(&mut w).contains(" reason=error cfd="));

    // Unknown kinds, pipelining, the limit of 20.
    let mut x = server.conn();
    x.roundtrip(b"watch bogus\r\n", b"ERROR\r\n");
    x.send(b"mn\r\nwatch\r\n");
    x.expect(b"MN\r\nERROR cannot pipeline other commands before watch\r\n");
    let mut more: Vec<Conn> = Vec::new();
    for _ in 0..19 {
        let mut m = server.conn();
        m.roundtrip(b"watch fetchers\r\n", b"OK\r\n");
        more.push(m);
    }
    x.roundtrip(
        b"watch\r\n",
        b"WATCHER_TOO_MANY log watcher limit reached\r\n",
    );
}

#[test]
fn watch_refused_under_w() {
    let server = TestServer::start(&["-W"]);
    let mut c = server.conn();
    c.roundtrip(
        b"watch mutations\r\n",
        b"CLIENT_ERROR watch commands not allowed\r\n",
    );
}

/// A watcher that never reads: its buffer fills, events are skipped, the
/// requests are answered as before, and once it reads a `skipped=N` line
/// precedes the next event.
#[test]
fn slow_watcher_gets_skipped_lines() {
    let server = TestServer::start(&["-o", "watcher_logbuf_size=8"]);
    let mut w = server.conn();
    w.roundtrip(b"watch fetchers\r\n", b"OK\r\n");
    let mut c = server.conn();
    let key = "k".repeat(200);
    let mut batch = Vec::new();
    for _ in 0..500 {
        batch.extend_from_slice(format!("get {key}\r\n").as_bytes());
    }
    // 100,000 misses: about 30 MB of log lines against an 8 KB buffer, the
    // 1 MB reply bound and the sockets' own buffers (at most 10 MB).
    for _ in 0..200 {
        c.send(&batch);
        for _ in 0..500 {
            c.expect(b"END\r\n");
        }
    }
    let skipped = c.stat("log_watcher_skipped");
    assert!(skipped > 0, "nothing skipped");
    // Read until the skip note, bounded: the buffers hold a few MB.
    let mut seen_skip = false;
    for i in 0..400_000 {
        if i % 100 == 0 {
            c.roundtrip(b"get tick\r\n", b"END\r\n");
        }
        let line = String::from_utf8(w.read_line()).unwrap();
        if let Some(n) = line.strip_prefix("skipped=") {
            assert!(n.trim_end().parse::<u64>().unwrap() > 0);
            seen_skip = true;
            break;
        }
    }
    assert!(seen_skip);
    assert!(watched(&mut w).starts_with("type=item_get key="));
}

#[test]
fn watch_evictions() {
    let server = TestServer::start(&["-m", "8"]);
    let mut w = server.conn();
    w.roundtrip(b"watch evictions\r\n", b"OK\r\n");
    let mut c = server.conn();
    let value = "v".repeat(10_000);
    // 32 MB through an 8 MB cache.
    let mut i = 0;
    while c.stat("evictions") == 0 {
        assert!(i < 3200, "no eviction after {i} sets");
        for _ in 0..100 {
            c.send(format!("set ev{i} 0 0 {} noreply\r\n{value}\r\n", value.len()).as_bytes());
            i += 1;
        }
        c.roundtrip(b"mn\r\n", b"MN\r\n");
    }
    let line = watched(&mut w);
    assert!(line.starts_with("type=eviction key=ev"), "{line}");
    assert!(line.contains(" fetch=no ttl=-1 la="), "{line}");
    assert!(line.ends_with(" clsid=1 size=10000"), "{line}");
}

/// `-o idle_timeout` closes idle clients, not watchers (they send nothing
/// by design), as memcached.
#[test]
fn idle_timeout_spares_watchers() {
    let server = TestServer::start(&["-o", "idle_timeout=1"]);
    let mut w = server.conn();
    w.roundtrip(b"watch mutations\r\n", b"OK\r\n");
    // The idle check runs about once a second; three seconds is past it.
    std::thread::sleep(Duration::from_secs(3));
    let mut c = server.conn();
    c.roundtrip(b"set idle 0 0 1\r\nx\r\n", b"STORED\r\n");
    let line = watched(&mut w);
    assert!(line.starts_with("type=item_store key=idle "), "{line}");
}

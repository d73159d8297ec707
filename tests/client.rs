//! The client library and `ferrocache-cli` against real ferrocache nodes:
//! every operation, failover and ejection, replication, one pipelined
//! request per server for get_multi, and auto-discovery (`config get
//! cluster`).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, wait_for_port, Conn};
use ferrocache::client::{CasOutcome, Client, Distribution, Error, Item, Options};
use ferrocache::protocol::Protocol;

const CLI: &str = env!("CARGO_BIN_EXE_ferrocache-cli");

/// A ferrocache node on a fixed port, so it can be restarted in place;
/// killed on drop.
struct Node {
    bin: PathBuf,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    fn start(args: &[&str]) -> Node {
        Node::start_bin(env!("CARGO_BIN_EXE_ferrocache").into(), args)
    }

    fn start_bin(bin: PathBuf, args: &[&str]) -> Node {
        for _ in 0..5 {
            let mut node = Node {
                bin: bin.clone(),
                port: free_port(),
                args: args.iter().map(|s| s.to_string()).collect(),
                child: None,
            };
            if node.spawn() {
                return node;
            }
        }
        panic!("could not start a node");
    }

    /// Start the process; false if it exited (port taken).
    fn spawn(&mut self) -> bool {
        let child = Command::new(&self.bin)
            .args(["-p", &self.port.to_string(), "-l", "127.0.0.1", "-U", "0"])
            .args(if self.args.iter().any(|a| a == "-u") {
                &[][..]
            } else {
                common::root_user_args()
            })
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ferrocache");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.as_mut().unwrap().try_wait() {
                return false;
            }
            if wait_for_port(self.addr(), Duration::from_millis(100)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("node on {} did not start", self.port);
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn name(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "port {} taken while the node was down",
            self.port
        );
    }

    fn sighup(&self) {
        use nix::sys::signal::{kill, Signal};
        let pid = self.child.as_ref().unwrap().id();
        kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGHUP).expect("SIGHUP");
    }

    /// One `stats` value, read over a fresh raw connection.
    fn stat(&self, name: &str) -> u64 {
        self.stats(&[name])[0]
    }

    /// Several `stats` values from one `stats` reply (one connection).
    fn stats(&self, names: &[&str]) -> Vec<u64> {
        let mut c = Conn::connect(self.addr());
        c.send(b"stats\r\n");
        let mut all = HashMap::new();
        loop {
            let line = String::from_utf8(c.read_line()).unwrap();
            let line = line.trim_end();
            if line == "END" {
                break;
            }
            let mut w = line.splitn(3, ' ').skip(1);
            if let (Some(n), Some(v)) = (w.next(), w.next()) {
                all.insert(n.to_string(), v.to_string());
            }
        }
        names
            .iter()
            .map(|n| all[*n].parse().unwrap_or_else(|_| panic!("stat {n}")))
            .collect()
    }

    /// Whether the node holds `key`, asked directly.
    fn holds(&self, key: &str) -> bool {
        let mut c = Conn::connect(self.addr());
        c.send(format!("get {key}\r\n").as_bytes());
        let first = c.read_line();
        if first == b"END\r\n" {
            return false;
        }
        c.read_line();
        c.expect(b"END\r\n");
        true
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn fast_options() -> Options {
    let mut o = Options::default();
    o.timeouts.connect = Duration::from_secs(2);
    o.failure_limit = 2;
    o.retry_interval = Duration::from_millis(300);
    o
}

fn client(nodes: &[&Node], opts: Options) -> Client {
    let names: Vec<String> = nodes.iter().map(|n| n.name()).collect();
    Client::with_options(&names, opts).unwrap()
}

fn item(value: &[u8], flags: u32) -> Item {
    Item {
        value: value.to_vec(),
        flags,
        cas: None,
    }
}

#[test]
fn every_operation_round_trips() {
    let node = Node::start(&[]);
    exercise(&client(&[&node], Options::default()));
}

/// memcached itself, for checking the client's own protocol code; None
/// (with a note) when it is not installed.
fn oracle() -> Option<Node> {
    let bin = PathBuf::from("/usr/bin/memcached");
    if !bin.exists() {
        eprintln!("skipped: /usr/bin/memcached is not installed");
        return None;
    }
    // memcached refuses to run as root without -u.
    let as_root = nix::unistd::Uid::effective().is_root();
    Some(Node::start_bin(
        bin,
        if as_root { &["-u", "nobody"] } else { &[] },
    ))
}

#[test]
fn every_operation_round_trips_against_memcached_in_both_protocols() {
    let Some(node) = oracle() else { return };
    exercise(&client(&[&node], Options::default()));
    let binary = Options {
        protocol: Protocol::Binary,
        ..Options::default()
    };
    exercise(&client(&[&node], binary));
}

#[test]
fn binary_get_multi_returns_only_the_hits() {
    let Some(a) = oracle() else { return };
    let Some(b) = oracle() else { return };
    let opts = Options {
        protocol: Protocol::Binary,
        ..Options::default()
    };
    let c = client(&[&a, &b], opts);
    let keys: Vec<String> = (0..500).map(|i| format!("bm:{i}")).collect();
    for k in keys.iter().step_by(2) {
        assert!(c.set(k, k.as_bytes(), 3, 0).unwrap());
    }
    let got = c.get_multi(&keys).unwrap();
    assert_eq!(got.len(), 250);
    assert!(got.iter().all(|(k, v)| v.value == *k && v.flags == 3));
}

fn exercise(c: &Client) {
    c.flush_all(0).unwrap();
    assert!(c.set("k", b"v1", 7, 0).unwrap());
    assert_eq!(c.get("k").unwrap(), Some(item(b"v1", 7)));
    assert!(!c.add("k", b"x", 0, 0).unwrap());
    assert!(c.add("new", b"n", 0, 0).unwrap());
    assert!(c.replace("k", b"v2", 1, 0).unwrap());
    assert!(!c.replace("absent", b"x", 0, 0).unwrap());
    assert!(c.append("k", b">").unwrap());
    assert!(c.prepend("k", b"<").unwrap());
    let got = c.gets("k").unwrap().unwrap();
    assert_eq!(got.value, b"<v2>");
    let unique = got.cas.expect("gets returns a cas unique");
    assert_eq!(
        c.cas("k", b"c", 0, 0, unique + 1).unwrap(),
        CasOutcome::Exists
    );
    assert_eq!(c.cas("k", b"c", 0, 0, unique).unwrap(), CasOutcome::Stored);
    assert_eq!(
        c.cas("absent", b"c", 0, 0, 1).unwrap(),
        CasOutcome::NotFound
    );
    assert!(c.set("n", b"10", 0, 0).unwrap());
    assert_eq!(c.incr("n", 5).unwrap(), Some(15));
    assert_eq!(c.decr("n", 20).unwrap(), Some(0));
    assert_eq!(c.incr("absent", 1).unwrap(), None);
    assert!(matches!(c.incr("k", 1), Err(Error::Client(_))));
    assert!(c.touch("n", 100).unwrap());
    assert!(!c.touch("absent", 100).unwrap());
    // memcached pads a value that a decr shortened in place ("15" -> "0 ").
    let n = c.gat("n", 0).unwrap().unwrap().value;
    assert_eq!(n.trim_ascii(), b"0");
    let big = vec![b'x'; 300_000];
    assert!(c.set("big", &big, 0, 0).unwrap());
    assert_eq!(c.get("big").unwrap().unwrap().value, big);
    assert!(c.delete("k").unwrap());
    assert!(!c.delete("k").unwrap());
    assert_eq!(c.get("k").unwrap(), None);
    let versions = c.version();
    assert!(versions[0].1.as_ref().unwrap().starts_with("1.6"));
    let stats = c.stats(None);
    let stats = stats[0].1.as_ref().unwrap();
    assert!(stats.iter().any(|(n, _)| n == "curr_items"));
    c.flush_all(0).unwrap();
    assert_eq!(c.get("n").unwrap(), None);
    assert!(matches!(c.get("a key"), Err(Error::InvalidKey)));
}

#[test]
fn a_dead_node_is_ejected_then_used_again_after_the_retry_interval() {
    let a = Node::start(&[]);
    let mut b = Node::start(&[]);
    let cn = Node::start(&[]);
    let opts = fast_options();
    let c = client(&[&a, &b, &cn], opts.clone());
    let keys: Vec<String> = (0..300).map(|i| format!("fo:{i}")).collect();
    let mut owner = HashMap::new();
    for k in &keys {
        assert!(c.set(k, k.as_bytes(), 0, 0).unwrap());
        owner.insert(k.clone(), c.server_for(k.as_bytes()).unwrap().to_string());
    }
    let on_b: Vec<&String> = keys.iter().filter(|k| owner[*k] == b.name()).collect();
    assert!(!on_b.is_empty());

    b.kill();
    // Keys of the other nodes still hit, whatever happens to b's keys.
    for k in keys.iter().filter(|k| owner[*k] != b.name()) {
        assert_eq!(c.get(k).unwrap().unwrap().value, k.as_bytes());
    }
    // b's keys fail until b has failed `failure_limit` times in a row...
    for _ in 0..opts.failure_limit {
        assert!(matches!(c.get(on_b[0]), Err(Error::Io(_))));
    }
    // ...then b is out of the ring: its keys move (here: misses), and only
    // its keys.
    for k in &keys {
        let now = c.server_for(k.as_bytes()).unwrap().to_string();
        if owner[k] == b.name() {
            assert_ne!(now, b.name());
            assert_eq!(c.get(k).unwrap(), None);
        } else {
            assert_eq!(now, owner[k], "{k} moved although its node is up");
        }
    }

    b.restart();
    std::thread::sleep(opts.retry_interval + Duration::from_millis(100));
    // Past the retry interval b is probed again, and it answers.
    for k in &on_b {
        assert_eq!(c.server_for(k.as_bytes()).unwrap().to_string(), b.name());
        assert!(c.set(k, b"again", 0, 0).unwrap());
        assert!(b.holds(k));
    }
}

#[test]
fn with_two_replicas_every_key_stays_readable_while_a_node_is_down() {
    let a = Node::start(&[]);
    let mut b = Node::start(&[]);
    let cn = Node::start(&[]);
    let mut opts = fast_options();
    opts.replicas = 2;
    let c = client(&[&a, &b, &cn], opts);
    let keys: Vec<String> = (0..300).map(|i| format!("rep:{i}")).collect();
    for k in &keys {
        assert!(c.set(k, k.as_bytes(), 0, 0).unwrap());
    }
    // Every key is on exactly two nodes.
    for k in &keys {
        let copies = [&a, &b, &cn].iter().filter(|n| n.holds(k)).count();
        assert_eq!(copies, 2, "{k}");
    }
    b.kill();
    // Before and after b's ejection, singly and in bulk.
    for round in 0..2 {
        for k in &keys {
            let got = c
                .get(k)
                .unwrap_or_else(|e| panic!("round {round} {k}: {e}"));
            assert_eq!(got.unwrap().value, k.as_bytes(), "round {round}");
        }
    }
    let all = c.get_multi(&keys).unwrap();
    assert_eq!(all.len(), keys.len());
}

#[test]
fn get_multi_sends_one_request_per_node() {
    let nodes = [Node::start(&[]), Node::start(&[]), Node::start(&[])];
    let refs: Vec<&Node> = nodes.iter().collect();
    let keys: Vec<String> = (0..1000).map(|i| format!("gm:{i}")).collect();
    let writer = client(&refs, Options::default());
    let mut owned: HashMap<String, u64> = HashMap::new();
    for k in &keys {
        assert!(writer.set(k, k.as_bytes(), 0, 0).unwrap());
        *owned
            .entry(writer.server_for(k.as_bytes()).unwrap().to_string())
            .or_default() += 1;
    }
    let counters = ["cmd_get", "total_connections"];
    let before: Vec<Vec<u64>> = nodes.iter().map(|n| n.stats(&counters)).collect();
    let reader = client(&refs, Options::default());
    let got = reader.get_multi(&keys).unwrap();
    assert_eq!(got.len(), 1000);
    assert!(keys.iter().all(|k| got[k.as_bytes()].value == k.as_bytes()));
    for (n, before) in nodes.iter().zip(before) {
        let after = n.stats(&counters);
        // Each node saw exactly its own keys, over one new connection (the
        // second stats connection is the other one counted).
        assert_eq!(after[0] - before[0], owned[&n.name()], "{}", n.name());
        assert_eq!(after[1] - before[1], 2, "{}", n.name());
    }
}

/// A fake node that records the request lines it receives and answers
/// every `get` with `END`.
fn recording_node() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&lines);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    seen.lock().unwrap().push(line);
                    if w.write_all(b"END\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, lines)
}

#[test]
fn get_multi_is_one_get_line_per_node_on_the_wire() {
    let fakes: Vec<_> = (0..3).map(|_| recording_node()).collect();
    let names: Vec<String> = fakes.iter().map(|(a, _)| a.to_string()).collect();
    let c = Client::new(&names).unwrap();
    let keys: Vec<String> = (0..1000).map(|i| format!("wire:{i}")).collect();
    assert!(c.get_multi(&keys).unwrap().is_empty());
    let mut total = 0;
    for (addr, lines) in &fakes {
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1, "{addr}: {} requests", lines.len());
        let words: Vec<&str> = lines[0].split(' ').collect();
        assert_eq!(words[0], "get");
        for k in &words[1..] {
            assert_eq!(
                c.server_for(k.as_bytes()).unwrap().to_string(),
                addr.to_string()
            );
        }
        total += words.len() - 1;
    }
    assert_eq!(total, 1000);
}

fn write_cluster(path: &Path, ports: &[u16]) {
    let body: Vec<String> = ports
        .iter()
        .map(|p| format!("node{p}.local|127.0.0.1|{p}"))
        .collect();
    std::fs::write(path, format!("# test cluster\n{}\n", body.join("\n"))).unwrap();
}

fn config_get_cluster(node: &Node) -> Vec<u8> {
    let mut c = Conn::connect(node.addr());
    c.send(b"config get cluster\r\n");
    let header = c.read_line();
    let text = String::from_utf8(header.clone()).unwrap();
    let len: usize = text.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
    let mut all = header;
    all.extend(c.read_exact_bytes(len + 2));
    all.extend(c.read_line());
    all
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ferrocache-{}-{name}", std::process::id()))
}

#[test]
fn config_get_cluster_format_and_version_bump_on_sighup() {
    let file = temp_file("cluster-format");
    write_cluster(&file, &[7001, 7002]);
    let opt = format!("cluster_config={}", file.display());
    let node = Node::start(&["-o", &opt]);
    let data = "1\nnode7001.local|127.0.0.1|7001 node7002.local|127.0.0.1|7002\n";
    let want = format!("CONFIG cluster 0 {}\r\n{data}\r\nEND\r\n", data.len());
    assert_eq!(
        common::show(&config_get_cluster(&node)),
        common::show(want.as_bytes())
    );

    // Unchanged file: same version.
    node.sighup();
    node.stat("pid"); // a round trip after the signal
    assert_eq!(
        common::show(&config_get_cluster(&node)),
        common::show(want.as_bytes())
    );

    write_cluster(&file, &[7001, 7002, 7003]);
    node.sighup();
    let deadline = Instant::now() + Duration::from_secs(10);
    let bumped = loop {
        let r = config_get_cluster(&node);
        if r.windows(4).any(|w| w == b"\n2\nn") || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let data = "2\nnode7001.local|127.0.0.1|7001 node7002.local|127.0.0.1|7002 node7003.local|127.0.0.1|7003\n";
    let want = format!("CONFIG cluster 0 {}\r\n{data}\r\nEND\r\n", data.len());
    assert_eq!(common::show(&bumped), common::show(want.as_bytes()));

    let mut c = Conn::connect(node.addr());
    c.roundtrip(b"config get other\r\n", b"ERROR\r\n");
    c.roundtrip(b"config\r\n", b"ERROR\r\n");
    c.assert_usable();
    let _ = std::fs::remove_file(&file);
}

#[test]
fn config_get_cluster_without_a_cluster_is_an_error() {
    let node = Node::start(&[]);
    let mut c = Conn::connect(node.addr());
    c.roundtrip(b"config get cluster\r\n", b"ERROR\r\n");
    c.assert_usable();
}

#[test]
fn a_discovering_client_refreshes_its_ring_when_the_version_changes() {
    let data = [Node::start(&[]), Node::start(&[]), Node::start(&[])];
    let file = temp_file("cluster-discovery");
    write_cluster(&file, &[data[0].port, data[1].port]);
    let opt = format!("cluster_config={}", file.display());
    let endpoint = Node::start(&["-o", &opt]);
    let c = Client::from_config_endpoint(&endpoint.name(), Options::default()).unwrap();
    assert_eq!(c.config_version(), Some(1));
    let names = |c: &Client| -> Vec<String> { c.servers().iter().map(|s| s.to_string()).collect() };
    assert_eq!(names(&c), [data[0].name(), data[1].name()]);
    assert!(!c.refresh().unwrap(), "same version, nothing to do");
    let keys: Vec<String> = (0..200).map(|i| format!("disc:{i}")).collect();
    for k in &keys {
        assert!(c.set(k, b"1", 0, 0).unwrap());
    }
    assert!(keys.iter().all(|k| !data[2].holds(k)));

    write_cluster(&file, &[data[0].port, data[1].port, data[2].port]);
    endpoint.sighup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.refresh().unwrap() {
        assert!(Instant::now() < deadline, "version never changed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.config_version(), Some(2));
    assert_eq!(names(&c), [data[0].name(), data[1].name(), data[2].name()]);
    // The new ring is libmemcached's over three nodes: some keys now map to
    // the new node, and writes land there.
    let third = Client::with_options(
        &[data[0].name(), data[1].name(), data[2].name()],
        Options {
            distribution: Distribution::Ketama,
            ..Options::default()
        },
    )
    .unwrap();
    let moved: Vec<&String> = keys
        .iter()
        .filter(|k| third.server_for(k.as_bytes()).unwrap().to_string() == data[2].name())
        .collect();
    assert!(!moved.is_empty());
    for k in &moved {
        assert_eq!(
            c.server_for(k.as_bytes()).unwrap().to_string(),
            data[2].name()
        );
        assert!(c.set(k, b"2", 0, 0).unwrap());
        assert!(data[2].holds(k));
    }
    let _ = std::fs::remove_file(&file);
}

fn cli(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut child = Command::new(CLI)
        .args(args)
        .env_remove("FERROCACHE_SERVERS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        input.write_all(data).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_help_on_every_subcommand() {
    for sub in [
        "get", "set", "delete", "incr", "decr", "touch", "flush", "stats", "ring", "top",
    ] {
        let (code, out, _) = cli(&[sub, "--help"], None);
        assert_eq!(code, 0, "{sub}");
        assert!(out.contains("Usage: ferrocache-cli"), "{sub}: {out}");
    }
    let (code, out, _) = cli(&["--help"], None);
    assert_eq!(code, 0);
    assert!(out.contains("Exit codes"));
}

/// Arguments, stdin, exit code, stdout.
type CliCase<'a> = (&'a [&'a str], Option<&'a [u8]>, i32, &'a str);

#[test]
fn cli_commands_and_exit_codes() {
    let a = Node::start(&[]);
    let b = Node::start(&[]);
    let servers = format!("{},{}", a.name(), b.name());
    let s = servers.as_str();
    let table: &[CliCase] = &[
        (&["--servers", s, "set", "greeting", "hello"], None, 0, ""),
        (&["--servers", s, "get", "greeting"], None, 0, "hello"),
        (
            &["--servers", s, "set", "piped"],
            Some(b"from stdin"),
            0,
            "",
        ),
        (&["--servers", s, "get", "piped"], None, 0, "from stdin"),
        (
            &["--servers", s, "get", "greeting", "piped", "nope"],
            None,
            1,
            "greeting\thello\npiped\tfrom stdin\n",
        ),
        (&["--servers", s, "get", "missing"], None, 1, ""),
        (&["--servers", s, "set", "n", "41"], None, 0, ""),
        (&["--servers", s, "incr", "n"], None, 0, "42\n"),
        (&["--servers", s, "decr", "n", "50"], None, 0, "0\n"),
        (&["--servers", s, "incr", "nope"], None, 1, ""),
        (&["--servers", s, "incr", "greeting"], None, 65, ""),
        (&["--servers", s, "touch", "n", "100"], None, 0, ""),
        (&["--servers", s, "touch", "nope", "100"], None, 1, ""),
        (&["--servers", s, "delete", "n"], None, 0, ""),
        (&["--servers", s, "delete", "n"], None, 1, ""),
        (&["--servers", s, "get", "bad key"], None, 65, ""),
        (&["--servers", s, "flush"], None, 0, ""),
        (&["--servers", s, "get", "greeting"], None, 1, ""),
        (&["get", "k"], None, 64, ""),
        (&["--servers", "host:notaport", "get", "k"], None, 64, ""),
        (&["--servers", s, "frobnicate"], None, 2, ""),
        (&["--servers", "127.0.0.1:1", "get", "k"], None, 69, ""),
    ];
    for &(args, stdin, code, out) in table {
        let (got_code, got_out, err) = cli(args, stdin);
        assert_eq!((got_code, got_out.as_str()), (code, out), "{args:?}: {err}");
    }
}

#[test]
fn cli_stats_is_an_aligned_table_and_ring_names_owners() {
    let a = Node::start(&[]);
    let b = Node::start(&[]);
    let servers = format!("{},{}", a.name(), b.name());
    let (code, out, _) = cli(&["--servers", &servers, "stats"], None);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("stat "));
    assert!(lines[0].contains(&a.name()) && lines[0].contains(&b.name()));
    // Column 2 starts at the same offset on every line.
    let col = lines[0].find(&a.name()).unwrap();
    for l in &lines[1..] {
        assert_eq!(&l[col - 2..col], "  ", "{l}");
        assert_ne!(&l[col..col + 1], " ", "{l}");
    }
    assert!(lines.iter().any(|l| l.starts_with("curr_connections ")));

    let c = Client::new(&[a.name(), b.name()]).unwrap();
    let (code, out, _) = cli(&["--servers", &servers, "ring", "k1", "k2", "k3"], None);
    assert_eq!(code, 0);
    for (line, key) in out.lines().zip(["k1", "k2", "k3"]) {
        assert_eq!(
            line,
            format!("{key}\t{}", c.server_for(key.as_bytes()).unwrap())
        );
    }
}

#[test]
fn cli_binary_mode_against_memcached() {
    let Some(node) = oracle() else { return };
    let s = node.name();
    let base = ["--binary", "--servers", s.as_str()];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        cli(&args, None)
    };
    assert_eq!(run(&["set", "bk", "bv"]).0, 0);
    assert_eq!(run(&["get", "bk"]).1, "bv");
    assert_eq!(run(&["get", "nope"]).0, 1);
    assert_eq!(run(&["set", "bn", "1"]).0, 0);
    assert_eq!(run(&["incr", "bn", "9"]).1, "10\n");
    assert_eq!(run(&["delete", "bk"]).0, 0);
    assert_eq!(run(&["delete", "bk"]).0, 1);
    let (code, out, _) = run(&["stats"]);
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with("curr_items ")));
}

//! `ferrocache-cli top` as a person uses it: in a terminal (tmux) against
//! a 3-node ring under load, with one hot key; `--once` and `--json`
//! against `stats`; a node killed mid-run; resize; `q`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;

const CLI: &str = env!("CARGO_BIN_EXE_ferrocache-cli");
const PLANTED: &str = "hot:planted";

/// Reads against one node: random cold keys, and the planted key when
/// this node owns it (a third of the requests), until `stop`.
fn load(addr: SocketAddr, planted: bool, stop: Arc<AtomicBool>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut n = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        let mut req = String::from("get");
        for _ in 0..60 {
            n += 1;
            if planted && n % 3 == 0 {
                req.push_str(&format!(" {PLANTED}"));
            } else {
                req.push_str(&format!(
                    " cold:{}",
                    n.wrapping_mul(2_654_435_761) % 100_000
                ));
            }
        }
        req.push_str("\r\n");
        if s.write_all(req.as_bytes()).is_err() {
            return; // the node was killed
        }
        let mut reply = Vec::new();
        while !reply.ends_with(b"END\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(k) => reply.extend_from_slice(&buf[..k]),
            }
        }
        std::thread::sleep(Duration::from_millis(3));
    }
}

struct Ring {
    nodes: Vec<TestServer>,
    list: String,
    owner: usize,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Ring {
    fn start() -> Ring {
        let nodes: Vec<TestServer> = (0..3)
            .map(|_| {
                let mut args = common::root_user_args().to_vec();
                args.extend(["-o", "hot_keys=20"]);
                TestServer::spawn(&args)
            })
            .collect();
        let list = nodes
            .iter()
            .map(|n| n.addr.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let out = Command::new(CLI)
            .args(["--servers", &list, "ring", PLANTED])
            .output()
            .expect("run ferrocache-cli ring");
        let owner_addr = String::from_utf8_lossy(&out.stdout)
            .split('\t')
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_string();
        let owner = nodes
            .iter()
            .position(|n| n.addr.to_string() == owner_addr)
            .unwrap_or_else(|| panic!("ring said {owner_addr:?}"));
        let out = Command::new(CLI)
            .args(["--servers", &list, "set", PLANTED, "v"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (addr, stop) = (n.addr, stop.clone());
                std::thread::spawn(move || load(addr, i == owner, stop))
            })
            .collect();
        Ring {
            nodes,
            list,
            owner,
            stop,
            threads,
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `tmux` on a private socket, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned()
    }

    /// Capture until `pred` holds or `bound` passes; the last capture.
    fn wait_for(&self, bound: Duration, pred: impl Fn(&str) -> bool) -> (bool, String) {
        let deadline = Instant::now() + bound;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return (true, screen);
            }
            if Instant::now() >= deadline {
                return (false, screen);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn row<'a>(screen: &'a str, node: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.starts_with(node))
}

fn frame_number(screen: &str) -> Option<u64> {
    let rest = screen.split("frame ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn top_in_tmux_shows_the_ring_the_hot_key_and_a_killed_node() {
    if common::is_memcached() {
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is missing under CI: .ci/install-test-deps.sh installs it"
        );
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let mut ring = Ring::start();
    let tmux = Tmux {
        socket: format!("ferrocache-top-{}", std::process::id()),
    };
    let cmd = format!("{CLI} --servers {} top", ring.list);
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "40",
        &cmd,
    ]);
    assert!(out.status.success(), "tmux: {out:?}");
    let addrs: Vec<String> = ring.nodes.iter().map(|n| n.addr.to_string()).collect();
    let owner = addrs[ring.owner].clone();

    // Every node's row is up, and the planted key is listed with its node.
    let (ok, screen) = tmux.wait_for(Duration::from_secs(20), |s| {
        addrs
            .iter()
            .all(|a| row(s, a).is_some_and(|r| r.contains(" up ")))
            && s.lines()
                .any(|l| l.ends_with(PLANTED) && l.contains(&owner))
    });
    assert!(ok, "no full view:\n{screen}");
    eprintln!("{screen}");
    // The hottest key of the ring is the planted one.
    let first_key = screen
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap_or_default();
    assert!(
        first_key.ends_with(PLANTED),
        "rank 1: {first_key:?}\n{screen}"
    );

    // Resize: the view is redrawn to the new width.
    let out = tmux.run(&["resize-window", "-t", "top", "-x", "90", "-y", "30"]);
    assert!(out.status.success(), "tmux resize: {out:?}");
    let (ok, screen) = tmux.wait_for(Duration::from_secs(5), |s| {
        s.lines().all(|l| l.chars().count() <= 90)
            && s.starts_with("ferrocache-cli top")
            && addrs.iter().all(|a| row(s, a).is_some())
    });
    assert!(ok, "not redrawn at 90 columns:\n{screen}");

    // Kill a node that does not hold the planted key: its row is DOWN
    // within 2 s, and the frames go on.
    let victim = (ring.owner + 1) % 3;
    ring.nodes[victim].signal(nix::sys::signal::Signal::SIGKILL);
    assert!(ring.nodes[victim]
        .wait_exit(Duration::from_secs(5))
        .is_some());
    let killed = Instant::now();
    let (ok, screen) = tmux.wait_for(Duration::from_secs(2), |s| {
        row(s, &addrs[victim]).is_some_and(|r| r.contains("DOWN"))
    });
    eprintln!("down after {:?}", killed.elapsed());
    assert!(ok, "{} not down within 2 s:\n{screen}", addrs[victim]);
    let seen = frame_number(&screen).expect("a frame number");
    let (ok, screen) = tmux.wait_for(Duration::from_secs(5), |s| {
        frame_number(s).is_some_and(|n| n > seen + 1)
            && row(s, &addrs[ring.owner]).is_some_and(|r| r.contains(" up "))
    });
    assert!(
        ok,
        "the view stopped refreshing after frame {seen}:\n{screen}"
    );

    // q quits (the session ends with its command).
    tmux.run(&["send-keys", "-t", "top", "q"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmux.run(&["has-session", "-t", "top"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "q did not quit:\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A number field of the JSON object that starts at `from`.
fn json_field(from: &str, name: &str) -> Option<f64> {
    let rest = from.split(&format!("\"{name}\":")).nth(1)?;
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[test]
fn once_and_json_agree_with_stats() {
    if common::is_memcached() {
        return;
    }
    let ring = Ring::start();
    let addrs: Vec<String> = ring.nodes.iter().map(|n| n.addr.to_string()).collect();
    let owner = addrs[ring.owner].clone();
    // Until the planted key's window has a sample in it (bounded).
    let mut json = String::new();
    for _ in 0..20 {
        let out = Command::new(CLI)
            .args([
                "--servers",
                &ring.list,
                "top",
                "--once",
                "--json",
                "--interval",
                "0.5",
            ])
            .output()
            .expect("run top --once --json");
        assert!(out.status.success(), "{out:?}");
        json = String::from_utf8(out.stdout).unwrap();
        if json.contains(&format!("\"key\":\"{PLANTED}\",\"node\":\"{owner}\"")) {
            break;
        }
    }
    assert_eq!(json.lines().count(), 1, "one frame: {json}");
    // Well-formed JSON, when a JSON parser is at hand.
    if let Ok(mut py) = Command::new("python3")
        .args(["-c", "import json,sys; json.loads(sys.stdin.read())"])
        .stdin(std::process::Stdio::piped())
        .spawn()
    {
        py.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
        assert!(py.wait().unwrap().success(), "not JSON: {json}");
    }
    assert!(
        json.contains(&format!("\"key\":\"{PLANTED}\",\"node\":\"{owner}\"")),
        "{json}"
    );
    for (i, node) in ring.nodes.iter().enumerate() {
        let stats = node.conn().stats("");
        let stat = |k: &str| -> f64 {
            stats
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.parse().unwrap())
                .unwrap()
        };
        let obj = json
            .split(&format!("{{\"node\":\"{}\"", addrs[i]))
            .nth(1)
            .unwrap_or_else(|| panic!("{} not in {json}", addrs[i]));
        assert!(obj.starts_with(",\"up\":true"), "{obj}");
        for field in ["limit_maxbytes", "curr_items", "bytes"] {
            assert_eq!(json_field(obj, field), Some(stat(field)), "{field}: {obj}");
        }
        // Counters only grow: top's are from just before these stats.
        for field in ["cmd_get", "get_misses", "bytes_read"] {
            let v = json_field(obj, field).unwrap();
            assert!(
                v > 0.0 && v <= stat(field),
                "{field}: {v} vs {}",
                stat(field)
            );
        }
        assert!(json_field(obj, "ops_per_sec").unwrap() > 0.0, "{obj}");
        assert!(json_field(obj, "curr_connections").unwrap() >= 1.0, "{obj}");
    }

    let out = Command::new(CLI)
        .args([
            "--servers",
            &ring.list,
            "top",
            "--once",
            "--interval",
            "0.3",
        ])
        .output()
        .expect("run top --once");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for a in &addrs {
        assert!(
            row(&text, a).is_some_and(|r| r.contains(" up ")),
            "{a}:\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.ends_with(PLANTED) && l.contains(&owner)),
        "{text}"
    );
}

#[test]
fn once_works_against_plain_memcached() {
    let bin = Path::new("/usr/bin/memcached");
    if !bin.exists() {
        assert!(std::env::var_os("CI").is_none(), "memcached is missing");
        return;
    }
    let m = TestServer::spawn_bin(bin, common::root_user_args_for(bin), &[]);
    m.conn().roundtrip(b"set a 0 0 1\r\nb\r\n", b"STORED\r\n");
    let out = Command::new(CLI)
        .args([
            "--servers",
            &m.addr.to_string(),
            "top",
            "--once",
            "--json",
            "--interval",
            "0.2",
        ])
        .output()
        .expect("run top");
    assert!(out.status.success(), "{out:?}");
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(json.contains("\"up\":true"), "{json}");
    assert!(json.contains("\"hot_keys\":false"), "{json}");
    assert_eq!(json_field(&json, "curr_items"), Some(1.0), "{json}");
}

//! Warm restart (`-e PATH`, issue #17): the cache survives SIGUSR1 and
//! `shutdown graceful`, across a change of `-t` and a smaller `-m`; a
//! damaged file starts an empty daemon with one log line naming the reason;
//! a SIGKILL in the middle of a write never leaves a torn file.
//!
//! Each daemon is a child process on a free 127.0.0.1 port with its stderr
//! in a file, so the tests can read its log lines.

mod common;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Conn, TestServer};
use nix::sys::signal::Signal;

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("ferrocache-restart-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
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

/// Start the daemon with `args`, its stderr in `log`; waits (bounded) until
/// the port accepts, which is after any load.
fn daemon(args: &[&str], log: &Path) -> TestServer {
    for _ in 0..5 {
        let port = common::free_port();
        let child = Command::new(common::server_bin())
            .arg("-p")
            .arg(port.to_string())
            .args(["-l", "127.0.0.1", "-U", "0"])
            .args(common::root_user_args())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(log).unwrap())
            .spawn()
            .expect("spawn ferrocache");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = TestServer::adopt(child, addr);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if server.exited() {
                break; // lost the port race: try another
            }
            if common::wait_for_port(addr, Duration::from_millis(100)) {
                return server;
            }
            assert!(Instant::now() < deadline, "daemon {args:?} never listened");
        }
    }
    panic!("daemon {args:?} exited early five times");
}

/// Stop a daemon and insist on exit status 0.
fn stop(mut server: TestServer, how: Stop) {
    match how {
        Stop::Sigusr1 => server.signal(Signal::SIGUSR1),
        Stop::ShutdownGraceful => {
            let mut c = server.conn();
            c.send(b"shutdown graceful\r\n");
            c.expect_closed();
        }
    }
    let status = server
        .wait_exit(Duration::from_secs(120))
        .expect("daemon exits");
    assert!(status.success(), "{how:?}: exit status {status:?}");
}

#[derive(Debug, Clone, Copy)]
enum Stop {
    Sigusr1,
    ShutdownGraceful,
}

// ---- the data set -------------------------------------------------------

const ITEMS: usize = 200_000;
/// TTL classes: none, short (expires while the daemon is down), long.
const SHORT_TTL: u64 = 2;
const LONG_TTL: u64 = 3600;

fn key(i: usize) -> String {
    format!("key:{i:06}")
}

/// Mixed sizes: every 2000th item about 512 KiB, every 100th 1-20 KB, the
/// rest up to 700 bytes (some empty). About 130 MB in all.
fn size(i: usize) -> usize {
    if i % 2000 == 0 {
        512 * 1024 - (i / 2000 % 7) * 1000
    } else if i % 100 == 0 {
        1000 + (i * 37) % 19_000
    } else {
        (i * 13) % 700
    }
}

fn value(i: usize) -> Vec<u8> {
    (0..size(i))
        .map(|j| b'!' + ((i * 31 + j * 7) % 90) as u8)
        .collect()
}

fn flags(i: usize) -> u32 {
    (i as u32).wrapping_mul(2_654_435_761)
}

fn ttl(i: usize) -> u64 {
    [0, SHORT_TTL, LONG_TTL][i % 3]
}

/// Store every item (pipelined) and return each one's CAS from `gets`
/// (0 for a short-TTL item that expired before it was read back: on a busy
/// machine the fill takes longer than `SHORT_TTL`).
fn fill(c: &mut Conn) -> Vec<u64> {
    const BATCH: usize = 64;
    let mut stored_at = Vec::with_capacity(ITEMS);
    for start in (0..ITEMS).step_by(BATCH) {
        let end = (start + BATCH).min(ITEMS);
        stored_at.resize(end, Instant::now());
        let mut req = Vec::new();
        for i in start..end {
            let v = value(i);
            req.extend_from_slice(
                format!("set {} {} {} {}\r\n", key(i), flags(i), ttl(i), v.len()).as_bytes(),
            );
            req.extend_from_slice(&v);
            req.extend_from_slice(b"\r\n");
        }
        c.send(&req);
        for i in start..end {
            assert_eq!(c.read_line(), b"STORED\r\n", "set {}", key(i));
        }
    }
    let got = read_all(c);
    (0..ITEMS)
        .map(|i| match &got[i] {
            Some(item) => item.1,
            None => {
                // A TTL of N seconds may end after just over N - 1 (the
                // server's clock ticks in whole seconds).
                let waited = stored_at[i].elapsed();
                assert!(
                    ttl(i) == SHORT_TTL && waited >= Duration::from_secs(SHORT_TTL - 1),
                    "{} just stored ({waited:?} ago) is missing",
                    key(i)
                );
                0
            }
        })
        .collect()
}

/// `gets` every key: (flags, cas, value) of those present.
fn read_all(c: &mut Conn) -> Vec<Option<(u32, u64, Vec<u8>)>> {
    const BATCH: usize = 100;
    let mut out = vec![None; ITEMS];
    for start in (0..ITEMS).step_by(BATCH) {
        let end = (start + BATCH).min(ITEMS);
        let keys: Vec<String> = (start..end).map(key).collect();
        c.send(format!("gets {}\r\n", keys.join(" ")).as_bytes());
        loop {
            let line = String::from_utf8(c.read_line()).unwrap();
            if line == "END\r\n" {
                break;
            }
            let f: Vec<&str> = line.trim_end().split(' ').collect();
            assert_eq!((f[0], f.len()), ("VALUE", 5), "{line}");
            let i: usize = f[1].trim_start_matches("key:").parse().unwrap();
            let len: usize = f[3].parse().unwrap();
            let data = c.read_exact_bytes(len + 2);
            out[i] = Some((
                f[2].parse().unwrap(),
                f[4].parse().unwrap(),
                data[..len].to_vec(),
            ));
        }
    }
    out
}

/// Check what a restarted daemon holds against what was stored: every item
/// present is byte-identical with the same flags and CAS, no short-TTL item
/// is back, and (when `all`) every other item is. Returns how many are
/// present.
fn verify(c: &mut Conn, cas: &[u64], all: bool) -> usize {
    let got = read_all(c);
    let mut present = 0;
    for (i, item) in got.iter().enumerate() {
        match item {
            Some((f, u, v)) => {
                assert_ne!(
                    ttl(i),
                    SHORT_TTL,
                    "{} expired while down, yet is back",
                    key(i)
                );
                assert_eq!((*f, *u), (flags(i), cas[i]), "flags and CAS of {}", key(i));
                assert!(*v == value(i), "value of {} differs", key(i));
                present += 1;
            }
            None => assert!(!all || ttl(i) == SHORT_TTL, "{} lost", key(i)),
        }
    }
    present
}

/// New CAS values are above every loaded one, and `cas` with a loaded
/// item's CAS still works.
fn cas_continues(c: &mut Conn, cas: &[u64]) {
    let max = *cas.iter().max().unwrap();
    c.send(b"set fresh 0 0 1\r\nx\r\ngets fresh\r\n");
    c.expect(b"STORED\r\n");
    let line = String::from_utf8(c.read_line()).unwrap();
    let fresh: u64 = line.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(fresh > max, "new CAS {fresh} not above loaded {max}");
    c.read_line();
    c.expect(b"END\r\n");
    // The newest long-TTL item (kept in every case).
    let i = (0..ITEMS).rev().find(|&i| ttl(i) == LONG_TTL).unwrap();
    c.send(format!("cas {} 5 0 1 {}\r\ny\r\n", key(i), cas[i]).as_bytes());
    c.expect(b"STORED\r\n");
    c.send(format!("cas {} 5 0 1 {}\r\nz\r\n", key(i), cas[i]).as_bytes());
    c.expect(b"EXISTS\r\n");
}

/// Wait (bounded, by the clock) until short-TTL items stored before
/// `since` have expired.
fn let_short_ttls_pass(since: Instant) {
    let until = since + Duration::from_secs(SHORT_TTL + 2);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log_lines(log: &Path, needle: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// The acceptance test: 200,000 items over SIGUSR1, then `shutdown
/// graceful`, then a restart with another `-t` and a smaller `-m`.
#[test]
fn the_cache_survives_restarts() {
    if common::is_memcached() {
        return; // memcached's -e needs tmpfs and the same settings
    }
    let dir = Scratch::new("acceptance");
    let file = dir.path("cache.snap");
    let file_s = file.to_str().unwrap();
    let log = dir.path("daemon.log");

    // 1. Fill, stop with SIGUSR1.
    let server = daemon(&["-t", "4", "-m", "512", "-e", file_s], &log);
    let mut c = server.conn();
    let mut cas = fill(&mut c);
    let stored = Instant::now();
    drop(c);
    stop(server, Stop::Sigusr1);
    assert_eq!(log_lines(&log, "warm restart: saved").len(), 1);
    let_short_ttls_pass(stored);

    // 2. Same settings: everything but the short TTLs is back; stop with
    //    `shutdown graceful`.
    let server = daemon(&["-t", "4", "-m", "512", "-A", "-e", file_s], &log);
    let loaded = log_lines(&log, "warm restart: loaded");
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    let mut c = server.conn();
    let present = verify(&mut c, &cas, true);
    let kept = (0..ITEMS).filter(|&i| ttl(i) != SHORT_TTL).count();
    assert_eq!(present, kept);
    let stats = c.stats("");
    let stat = |name: &str| {
        stats
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(stat("snapshot_load_result").as_deref(), Some("ok"));
    assert_eq!(stat("snapshot_load_items"), Some(present.to_string()));
    cas_continues(&mut c, &cas);
    // The item `cas_continues` replaced has a new value and CAS now.
    let i = (0..ITEMS).rev().find(|&i| ttl(i) == LONG_TTL).unwrap();
    c.send(format!("set {} {} {} {}\r\n", key(i), flags(i), ttl(i), size(i)).as_bytes());
    c.send(&value(i));
    c.send(b"\r\ndelete fresh\r\n");
    c.expect(b"STORED\r\nDELETED\r\n");
    c.send(format!("gets {}\r\n", key(i)).as_bytes());
    let line = String::from_utf8(c.read_line()).unwrap();
    cas[i] = line.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
    c.read_exact_bytes(size(i) + 2);
    c.expect(b"END\r\n");
    drop(c);
    stop(server, Stop::ShutdownGraceful);

    // 3. Other -t, smaller -m: what is kept is exact, the newest are kept.
    let server = daemon(&["-t", "2", "-m", "64", "-e", file_s], &log);
    let mut c = server.conn();
    let present = verify(&mut c, &cas, false);
    assert!(present > 1000 && present < ITEMS, "kept {present}");
    assert!(
        c.stat("bytes") <= 64 << 20,
        "more than -m 64 of items after the load"
    );
    cas_continues(&mut c, &cas);
}

/// A table of damaged files: each starts an empty daemon, says why in one
/// log line, and shows the reason in `stats`.
#[test]
fn damaged_files_start_empty_with_one_log_line() {
    if common::is_memcached() {
        return;
    }
    let dir = Scratch::new("damaged");
    let good = dir.path("good.snap");
    let log = dir.path("daemon.log");
    let server = daemon(&["-e", good.to_str().unwrap()], &log);
    let mut c = server.conn();
    for i in 0..500 {
        let v = value(i);
        c.send(format!("set {} 1 0 {}\r\n", key(i), v.len()).as_bytes());
        c.send(&v);
        c.send(b"\r\n");
        c.expect(b"STORED\r\n");
    }
    drop(c);
    stop(server, Stop::Sigusr1);
    let bytes = std::fs::read(&good).unwrap();
    assert!(bytes.len() > 1000);

    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x01;
    let mut version = bytes.clone();
    version[8..12].copy_from_slice(&99u32.to_le_bytes());
    let crc = crc32fast::hash(&version[..28]);
    version[28..32].copy_from_slice(&crc.to_le_bytes());
    let cases: [(&str, Vec<u8>, &str, &str); 5] = [
        (
            "truncated",
            bytes[..bytes.len() * 2 / 3].to_vec(),
            "truncated",
            "corrupt",
        ),
        ("flipped", flipped, "checksum mismatch", "corrupt"),
        ("version", version, "format version 99 is newer", "version"),
        ("empty", Vec::new(), "the file is empty", "empty"),
        ("missing", Vec::new(), "no such file", "missing"),
    ];
    for (name, content, reason, token) in cases {
        let file = dir.path(name);
        if name != "missing" {
            std::fs::write(&file, &content).unwrap();
        }
        let log = dir.path(&format!("{name}.log"));
        let server = daemon(&["-e", file.to_str().unwrap()], &log);
        let lines = log_lines(&log, "warm restart");
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
        assert!(lines[0].contains(reason), "{name}: {}", lines[0]);
        assert!(lines[0].contains("starting with an empty cache"), "{name}");
        let mut c = server.conn();
        assert_eq!(c.stat("curr_items"), 0, "{name}");
        let stats = c.stats("");
        let result = stats.iter().find(|(k, _)| k == "snapshot_load_result");
        // A cut inside a section is reported by what the cut damaged.
        let want = if name == "truncated" {
            None
        } else {
            Some(token)
        };
        if let Some(want) = want {
            assert_eq!(result.map(|(_, v)| v.as_str()), Some(want), "{name}");
        }
        c.assert_usable();
    }
}

/// A SIGKILL while the file is being written leaves the file that was
/// there before (or the new one, complete), never a torn one.
#[test]
fn sigkill_mid_write_leaves_the_previous_file() {
    if common::is_memcached() {
        return;
    }
    let dir = Scratch::new("sigkill");
    let file = dir.path("cache.snap");
    let file_s = file.to_str().unwrap();
    let tmp = dir.path("cache.snap.tmp");
    let log = dir.path("daemon.log");
    // The previous file: one item.
    let server = daemon(&["-e", file_s], &log);
    let mut c = server.conn();
    c.roundtrip(b"set old 0 0 2\r\nv0\r\n", b"STORED\r\n");
    drop(c);
    stop(server, Stop::Sigusr1);
    let previous = std::fs::read(&file).unwrap();

    // A daemon with enough data that its write takes a while.
    let server = daemon(
        &["-m", "1024", "-e", file_s, "-o", "snapshot_load_unclean"],
        &log,
    );
    let mut c = server.conn();
    let big = vec![b'x'; 512 * 1024];
    for i in 0..600 {
        c.send(format!("set big{i} 0 0 {}\r\n", big.len()).as_bytes());
        c.send(&big);
        c.send(b"\r\n");
        c.expect(b"STORED\r\n");
    }
    drop(c);
    server.signal(Signal::SIGUSR1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tmp.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    server.signal(Signal::SIGKILL);
    drop(server);
    let torn_at_kill = tmp.exists();
    eprintln!(
        "SIGKILL came {} the rename",
        if torn_at_kill { "before" } else { "after" }
    );

    // The file at PATH is whole: the previous one if the rename had not
    // happened, else the new one.
    let now = std::fs::read(&file).unwrap();
    let server = daemon(&["-e", file_s, "-o", "snapshot_load_unclean"], &log);
    let mut c = server.conn();
    if torn_at_kill {
        // The previous file, byte for byte apart from its "loaded" mark.
        assert_eq!(now.len(), previous.len());
        c.roundtrip(b"get old\r\n", b"VALUE old 0 2\r\nv0\r\nEND\r\n");
        c.roundtrip(b"get big0\r\n", b"END\r\n");
    } else {
        assert_eq!(c.stat("curr_items"), 601);
    }
    let lines = log_lines(&log, "warm restart: loaded");
    assert_eq!(lines.len(), 1, "{lines:?}");
}

/// memcached's restart.t: `-e PATH` next to memcached's `PATH.meta` is a
/// memcached memory image; ferrocache refuses it (exit 64, one line) rather
/// than overwrite it at its next save.
#[test]
fn a_memcached_memory_image_is_refused() {
    if common::is_memcached() {
        return;
    }
    let dir = Scratch::new("foreign");
    let file = dir.path("mc_restart");
    std::fs::write(dir.path("mc_restart.meta"), b"").unwrap();
    let log = dir.path("daemon.log");
    let child = Command::new(common::server_bin())
        .args(["-p", "0", "-U", "0"])
        .args(common::root_user_args())
        .args(["-e", file.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .expect("spawn ferrocache");
    let mut server = TestServer::adopt(child, SocketAddr::from(([127, 0, 0, 1], 0)));
    let status = server
        .wait_exit(Duration::from_secs(30))
        .expect("refused at once");
    assert_eq!(status.code(), Some(64));
    let lines = log_lines(&log, "memcached's restart metadata");
    assert_eq!(lines.len(), 1, "{lines:?}");
}

/// Wait (bounded) until `stats` says a snapshot of `items` items was saved.
fn wait_saved(c: &mut Conn, items: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = c.stats("");
        let get = |n: &str| stats.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        if get("snapshot_save_result").as_deref() == Some("ok")
            && get("snapshot_save_items") == Some(items.to_string())
        {
            return;
        }
        assert!(Instant::now() < deadline, "no snapshot saved");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Linux's `SCHED_IDLE`.
const SCHED_IDLE: u32 = 5;

/// The scheduling policy of the process's thread named `name`.
fn thread_policy(pid: u32, name: &str) -> Option<u32> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let task = task.ok()?.path();
        let comm = std::fs::read_to_string(task.join("comm")).ok()?;
        if comm.trim_end() != name {
            continue;
        }
        let sched = std::fs::read_to_string(task.join("sched")).ok()?;
        let line = sched.lines().find(|l| l.starts_with("policy"))?;
        return line.split(':').nth(1)?.trim().parse().ok();
    }
    None
}

/// `-o snapshot_path`: SIGUSR2 and `snapshot_interval` write a snapshot
/// while serving; after a crash it is loaded only with
/// `snapshot_load_unclean`.
#[test]
fn online_snapshots_are_written_while_serving() {
    if common::is_memcached() {
        return;
    }
    let dir = Scratch::new("online");
    let snap = dir.path("online.snap");
    let opt = format!("snapshot_path={}", snap.display());
    let log = dir.path("daemon.log");
    let server = daemon(&["-o", &opt], &log);
    let mut c = server.conn();
    for i in 0..2000 {
        let v = value(i);
        c.send(format!("set {} {} 0 {}\r\n", key(i), flags(i), v.len()).as_bytes());
        c.send(&v);
        c.send(b"\r\n");
        c.expect(b"STORED\r\n");
    }
    // The snapshot thread takes only CPU time the workers leave.
    let pid = server.pid().unwrap();
    assert_eq!(thread_policy(pid, "snapshot"), Some(SCHED_IDLE));
    server.signal(Signal::SIGUSR2);
    wait_saved(&mut c, 2000);
    c.assert_usable(); // still serving
                       // The `snapshot` command does the same.
    c.roundtrip(b"set extra 0 0 1\r\nx\r\nsnapshot\r\n", b"STORED\r\nOK\r\n");
    wait_saved(&mut c, 2001);
    c.roundtrip(b"delete extra\r\n", b"DELETED\r\n");
    server.signal(Signal::SIGKILL);
    drop(server);

    // After the crash: refused by default, loaded when asked.
    let server = daemon(&["-o", &opt], &log);
    let lines = log_lines(&log, "an online snapshot");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(server.conn().stat("curr_items"), 0);
    drop(server);
    let unclean = format!("{opt},snapshot_load_unclean,snapshot_interval=1");
    let server = daemon(&["-o", &unclean], &log);
    let mut c = server.conn();
    assert_eq!(c.stat("curr_items"), 2001); // "extra" was deleted after
    c.send(format!("get {}\r\n", key(7)).as_bytes());
    c.expect(format!("VALUE {} {} {}\r\n", key(7), flags(7), size(7)).as_bytes());
    c.expect(&value(7));
    c.expect(b"\r\nEND\r\n");
    // snapshot_interval=1 writes again without a signal.
    wait_saved(&mut c, 2001);
    drop(server);
    // Without -o snapshot_path the command says so.
    let server = daemon(&[], &log);
    server.conn().roundtrip(
        b"snapshot\r\n",
        b"CLIENT_ERROR snapshots not enabled (-o snapshot_path)\r\n",
    );
}

/// `ferrocache-cli restore FILE --to HOST:PORT` replays a snapshot into a
/// running node without overwriting what it holds, skipping expired items.
#[test]
fn cli_restore_replays_a_snapshot_into_a_running_node() {
    if common::is_memcached() {
        return;
    }
    let dir = Scratch::new("cli-restore");
    let file = dir.path("backup.snap");
    let log = dir.path("daemon.log");
    let server = daemon(&["-e", file.to_str().unwrap()], &log);
    let mut c = server.conn();
    for i in 0..300 {
        let v = value(i);
        let ttl = if i == 5 { 1 } else { ttl(i).min(LONG_TTL) };
        let ttl = if ttl == SHORT_TTL { LONG_TTL } else { ttl };
        c.send(format!("set {} {} {ttl} {}\r\n", key(i), flags(i), v.len()).as_bytes());
        c.send(&v);
        c.send(b"\r\n");
        c.expect(b"STORED\r\n");
    }
    let stored = Instant::now();
    drop(c);
    stop(server, Stop::Sigusr1);
    // key 5 (TTL 1 s) expires before the restore.
    while stored.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
    }

    // The target already holds a newer value for one key.
    let target = daemon(&[], &dir.path("target.log"));
    let mut c = target.conn();
    c.roundtrip(
        format!("set {} 0 0 5\r\nnewer\r\n", key(1)).as_bytes(),
        b"STORED\r\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache-cli"))
        .args(["restore", file.to_str().unwrap(), "--to"])
        .arg(target.addr.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run ferrocache-cli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("restored 298 items") && stdout.contains("1 already present"),
        "{stdout}"
    );
    assert!(stdout.contains("1 expired"), "{stdout}");
    c.roundtrip(
        format!("get {}\r\n", key(1)).as_bytes(),
        format!("VALUE {} 0 5\r\nnewer\r\nEND\r\n", key(1)).as_bytes(),
    );
    c.roundtrip(format!("get {}\r\n", key(5)).as_bytes(), b"END\r\n");
    c.send(format!("get {}\r\n", key(299)).as_bytes());
    c.expect(format!("VALUE {} {} {}\r\n", key(299), flags(299), size(299)).as_bytes());
    c.expect(&value(299));
    c.expect(b"\r\nEND\r\n");
    assert_eq!(c.stat("curr_items"), 299);
}

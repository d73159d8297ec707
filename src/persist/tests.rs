use std::sync::Arc;

use super::*;
use crate::clock::Clock;
use crate::store::{CacheConfig, StoreMode, FETCHED};

fn cache(memory: usize) -> Cache {
    let config = CacheConfig {
        memory_limit: memory,
        ..CacheConfig::default()
    };
    Cache::new(config, Arc::new(Clock::new()))
}

/// A snapshot file's path in a scratch directory; the file (and its
/// `.tmp`) go when the test is done with it, pass or fail.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(temp_path(&self.0));
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// `name`'s own directory, so that tests running at once do not remove
/// one another's.
fn tmp(name: &str) -> Scratch {
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("ferrocache-persist-{pid}-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir.join(name))
}

/// An online walk's pace for tests: rest (let the writers run) at every
/// chance the walk gives, or never.
struct Rests(bool);

impl Pace for Rests {
    fn due(&mut self) -> bool {
        self.0
    }
    fn rest(&mut self) {
        std::thread::yield_now();
    }
}

fn item(c: &Cache, key: &[u8]) -> Option<(Vec<u8>, u32, u64, u8)> {
    c.get(key, |v| (v.value.to_vec(), v.flags, v.cas, v.bits))
}

/// A cache with a few shapes of item, saved to `path`.
fn saved(path: &Path) -> Cache {
    let c = cache(64 << 20);
    c.store(StoreMode::Set, b"plain", 0, 0, b"v").unwrap();
    c.store(StoreMode::Set, b"flags", 0xdead_beef, 0, b"with flags")
        .unwrap();
    c.store(StoreMode::Set, b"ttl", 1, 1000, b"expires later")
        .unwrap();
    c.store(StoreMode::Set, b"gone", 1, -1, b"already expired")
        .unwrap();
    c.store(StoreMode::Set, b"long", 2, 0, &vec![7u8; 300_000])
        .unwrap();
    c.store(StoreMode::Set, b"empty", 0, 0, b"").unwrap();
    let _ = item(&c, b"flags"); // fetched
    let report = write(&c, path, 16, State::Exact, None).unwrap();
    assert_eq!(report.items, 5);
    c
}

#[test]
fn a_saved_cache_loads_back_field_for_field() {
    let path = tmp("roundtrip");
    let before = saved(&path);
    let after = cache(64 << 20);
    let loaded = load(&after, &path, LoadOptions::default()).unwrap();
    assert_eq!(loaded.report.items, 5);
    assert_eq!(loaded.hash_power, 16);
    for key in [&b"plain"[..], b"flags", b"ttl", b"long", b"empty"] {
        let (a, b) = (item(&before, key), item(&after, key));
        assert!(a.is_some(), "{key:?}");
        assert_eq!(a, b, "{}", String::from_utf8_lossy(key));
    }
    assert!(item(&after, b"flags").unwrap().3 & FETCHED != 0);
    assert_eq!(item(&after, b"gone"), None);
    // New CAS uniques are above every loaded one.
    let max = ["plain", "flags", "ttl", "long", "empty"]
        .iter()
        .map(|k| item(&after, k.as_bytes()).unwrap().2)
        .max()
        .unwrap();
    for k in 0..300 {
        let key = format!("new{k}");
        match after
            .store(StoreMode::Set, key.as_bytes(), 0, 0, b"x")
            .unwrap()
        {
            crate::store::StoreOutcome::Stored(cas) => assert!(cas > max),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn damaged_files_load_nothing_and_say_why() {
    let path = tmp("damaged");
    saved(&path);
    let good = std::fs::read(&path).unwrap();
    let mut flipped = good.clone();
    let mid = good.len() / 2;
    flipped[mid] ^= 0x10;
    let mut future = good.clone();
    future[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
    let c = crc(&[&future[..28]]);
    future[28..32].copy_from_slice(&c.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "empty"),
        ("header cut", good[..10].to_vec(), "truncated"),
        (
            "cut in a section",
            good[..good.len() / 2].to_vec(),
            "truncated",
        ),
        (
            "no end section",
            good[..good.len() - 32].to_vec(),
            "truncated",
        ),
        ("one flipped byte", flipped, "checksum mismatch"),
        ("future version", future, "newer than this ferrocache"),
        (
            "not a snapshot",
            b"hello world, this is no snapshot at all".to_vec(),
            "bad magic",
        ),
    ];
    for (name, bytes, reason) in cases {
        let p = tmp(name);
        std::fs::write(&p, &bytes).unwrap();
        let c = cache(64 << 20);
        let err = load(&c, &p, LoadOptions::default()).unwrap_err();
        assert!(err.to_string().contains(reason), "{name}: {err}");
        assert_eq!(c.stats().items.curr_items, 0, "{name}");
    }
    let err = load(&cache(64 << 20), &tmp("missing"), LoadOptions::default()).unwrap_err();
    assert!(matches!(err, LoadError::Missing));
}

#[test]
fn a_loaded_file_is_not_loaded_again_unless_asked() {
    let path = tmp("marked");
    saved(&path);
    let loaded = load(&cache(64 << 20), &path, LoadOptions::default()).unwrap();
    mark_loaded(&path, loaded.written_at, loaded.hash_power).unwrap();
    let again = load(&cache(64 << 20), &path, LoadOptions::default()).unwrap_err();
    assert!(matches!(again, LoadError::AlreadyLoaded), "{again}");
    let opts = LoadOptions { unclean: true };
    assert_eq!(load(&cache(64 << 20), &path, opts).unwrap().report.items, 5);
}

#[test]
fn a_smaller_cache_keeps_the_newest_items() {
    let path = tmp("smaller");
    let big = cache(64 << 20);
    let value = vec![1u8; 1000];
    for k in 0..40_000 {
        big.store(StoreMode::Set, format!("k{k}").as_bytes(), 0, 0, &value)
            .unwrap();
    }
    write(&big, &path, 16, State::Exact, None).unwrap();
    let small = cache(8 << 20);
    let loaded = load(&small, &path, LoadOptions::default()).unwrap();
    assert_eq!(loaded.report.items, 40_000);
    let kept = small.stats().items.curr_items;
    assert!(kept > 1000 && kept < 40_000, "{kept}");
    // The last written are there; the first are not.
    assert!(item(&small, b"k39999").is_some());
    assert!(item(&small, b"k0").is_none());
}

#[test]
fn an_online_snapshot_is_loaded_only_when_asked() {
    let path = tmp("online");
    let c = cache(64 << 20);
    for k in 0..5000 {
        c.store(StoreMode::Set, format!("k{k}").as_bytes(), k, 0, b"value")
            .unwrap();
    }
    // Writers keep storing (and the cleaner moving) while the walk runs.
    let c = Arc::new(c);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = format!("w{}", n % 20_000);
                c.store(StoreMode::Set, key.as_bytes(), 0, 0, &[3u8; 3000])
                    .unwrap();
                n += 1;
            }
        })
    };
    // The walk rests at every chance, letting the writer and the cleaner run.
    let report = write(&c, &path, 16, State::Online, Some(&mut Rests(true))).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(report.items >= 5000, "{}", report.items);
    let err = load(&cache(64 << 20), &path, LoadOptions::default()).unwrap_err();
    assert!(matches!(err, LoadError::Online), "{err}");
    let after = cache(64 << 20);
    load(&after, &path, LoadOptions { unclean: true }).unwrap();
    // The items nobody touched during the walk are all there. (The file
    // holds about what the cache held: the walk of the log written since
    // takes only moved items, so loading it evicts none of them.)
    for k in 0..5000u32 {
        let got = item(&after, format!("k{k}").as_bytes()).expect("kept");
        assert_eq!((got.0.as_slice(), got.1), (&b"value"[..], k));
    }
}

/// Write and load speed of a snapshot of 100-byte items (not a test: run
/// `FERROCACHE_SNAPSHOT_MB=1024 cargo test --release --lib
/// persist::tests::snapshot_throughput -- --ignored --nocapture`).
#[test]
#[ignore]
fn snapshot_throughput() {
    let mb: usize = std::env::var("FERROCACHE_SNAPSHOT_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let items = (mb << 20) / 100;
    let memory = (mb << 20) * 2 + (256 << 20);
    let path = tmp("throughput");
    let c = cache(memory);
    let value = [b'v'; 100];
    for k in 0..items {
        c.store(
            StoreMode::Set,
            format!("key:{k:010}").as_bytes(),
            0,
            0,
            &value,
        )
        .unwrap();
    }
    let w = write(&c, &path, 16, State::Exact, None).unwrap();
    let online = write(
        &c,
        &tmp("throughput.online"),
        16,
        State::Online,
        Some(&mut Rests(false)),
    )
    .unwrap();
    drop(c);
    let after = cache(memory);
    let l = load(&after, &path, LoadOptions::default()).unwrap();
    let rate = |bytes: u64, us: u64| bytes as f64 / (1 << 20) as f64 / (us as f64 / 1e6);
    eprintln!(
        "{items} items of 100 bytes; file {} MiB; write {:.0} ms ({:.0} MiB/s); \
         load {:.0} ms ({:.0} MiB/s); values {:.0} MiB/s write, {:.0} MiB/s load",
        w.bytes >> 20,
        w.micros as f64 / 1e3,
        rate(w.bytes, w.micros),
        l.report.micros as f64 / 1e3,
        rate(l.report.bytes, l.report.micros),
        rate((items * 100) as u64, w.micros),
        rate((items * 100) as u64, l.report.micros),
    );
    eprintln!(
        "online write (no load running) {:.0} ms ({:.0} MiB/s)",
        online.micros as f64 / 1e3,
        rate(online.bytes, online.micros)
    );
    assert_eq!(l.report.items, items as u64);
    let _ = std::fs::remove_file(&path);
}

/// A file whose checksums are right around hostile fields (times at the
/// ends of i64, huge flags and CAS, a key with spaces) loads without a
/// panic, and never past what the store accepts.
#[test]
fn hostile_fields_behind_good_checksums_do_not_panic() {
    let mut payload = Vec::new();
    let mut count = 0u32;
    for (exp, atime, cas) in [
        (i64::MIN, i64::MIN, u64::MAX),
        (i64::MAX, i64::MAX, u64::MAX >> 8),
        (0, i64::MIN, 1),
        (-5, 0, 0),
    ] {
        let key = format!("k {count}");
        payload.push(key.len() as u8);
        payload.push(0xff);
        payload.extend_from_slice(&[0, 0]);
        payload.extend_from_slice(&u32::MAX.to_le_bytes());
        payload.extend_from_slice(&cas.to_le_bytes());
        payload.extend_from_slice(&exp.to_le_bytes());
        payload.extend_from_slice(&atime.to_le_bytes());
        payload.extend_from_slice(&3u32.to_le_bytes());
        payload.extend_from_slice(key.as_bytes());
        payload.extend_from_slice(b"abc");
        count += 1;
    }
    let mut file = header(State::Exact, 0, 99).to_vec();
    write_section(&mut file, TAG_ITEMS, count, &payload).unwrap();
    let mut end = [0u8; 16];
    end[..8].copy_from_slice(&(count as u64).to_le_bytes());
    end[8..].copy_from_slice(&1u64.to_le_bytes());
    write_section(&mut file, TAG_END, 0, &end).unwrap();
    let path = tmp("hostile");
    std::fs::write(&path, &file).unwrap();
    let c = cache(64 << 20);
    let loaded = load(&c, &path, LoadOptions::default()).unwrap();
    assert_eq!(loaded.report.items + loaded.report.expired, count as u64);
    assert_eq!(loaded.report.expired, 2);
    assert!(c.get(b"k 1", |v| v.value.to_vec()).is_some());
    // New CAS uniques still come (the floor saturates, never panics).
    c.store(StoreMode::Set, b"after", 0, 0, b"x").unwrap();
}

/// A file written while serving may hold a key twice (an item the cleaner
/// moved, or one replaced during the walk): the later copy wins, within a
/// section and across sections, and the key counts once. Loads link in
/// batches, stripe by stripe (`store::Loader`), so this checks their order.
#[test]
fn a_key_twice_in_a_file_loads_its_later_value_once() {
    let c = cache(64 << 20);
    let epoch = c.clock().epoch_unix();
    let copy = |key: &[u8], value: &[u8]| ItemCopy {
        key: key.to_vec(),
        value: value.to_vec(),
        ..ItemCopy::default()
    };
    let mut first = Vec::new();
    encode(&mut first, &copy(b"twice", b"old"), epoch);
    encode(&mut first, &copy(b"other", b"x"), epoch);
    encode(&mut first, &copy(b"twice", b"newer"), epoch);
    let mut second = Vec::new();
    encode(&mut second, &copy(b"twice", b"newest"), epoch);
    let mut file = header(State::Exact, 0, 16).to_vec();
    write_section(&mut file, TAG_ITEMS, 3, &first).unwrap();
    write_section(&mut file, TAG_ITEMS, 1, &second).unwrap();
    let mut end = [0u8; 16];
    end[..8].copy_from_slice(&4u64.to_le_bytes());
    end[8..].copy_from_slice(&2u64.to_le_bytes());
    write_section(&mut file, TAG_END, 0, &end).unwrap();
    let path = tmp("twice");
    std::fs::write(&path, &file).unwrap();
    load(&c, &path, LoadOptions::default()).unwrap();
    assert_eq!(item(&c, b"twice").unwrap().0, b"newest");
    assert_eq!(item(&c, b"other").unwrap().0, b"x");
    assert_eq!(c.stats().items.curr_items, 2);
}

/// Online snapshots taken one after another while a writer fills a small
/// cache (so the cleaner keeps moving records forward, and segments
/// are emptied and reused under the walk): every item nobody touched is in
/// each, and every value read back is one that was stored (a handle read
/// from a reused segment would yield another record's bytes).
#[test]
fn online_snapshots_under_cleaning_keep_untouched_items_and_read_no_garbage() {
    let c = Arc::new(cache(16 << 20));
    for k in 0..2000u32 {
        c.store(StoreMode::Set, format!("k{k}").as_bytes(), k, 0, b"value")
            .unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // About 6 MiB live in 16: the cleaner compacts (moves)
                // rather than evicts.
                let key = format!("w{}", n % 8000);
                let fill = (n % 251) as u8;
                c.store(StoreMode::Set, key.as_bytes(), fill as u32, 0, &[fill; 700])
                    .unwrap();
                // Keep the untouched items read, so CLOCK moves them on.
                let _ = c.get(format!("k{}", n % 2000).as_bytes(), |_| ());
                n += 1;
            }
        })
    };
    let path = tmp("online-cleaning");
    for round in 0..20 {
        // Every other walk rests at every chance, letting the cleaner run
        // in the middle of the segment it walks.
        let mut pace = Rests(round % 2 == 1);
        write(&c, &path, 16, State::Online, Some(&mut pace)).unwrap();
        let after = cache(64 << 20);
        load(&after, &path, LoadOptions { unclean: true }).unwrap();
        for k in 0..2000u32 {
            let got = item(&after, format!("k{k}").as_bytes()).expect("kept");
            assert_eq!((got.0.as_slice(), got.1), (&b"value"[..], k));
        }
        for n in 0..8000 {
            if let Some((v, flags, _, _)) = item(&after, format!("w{n}").as_bytes()) {
                assert_eq!(v.len(), 700);
                assert!(v.iter().all(|&b| b as u32 == flags), "w{n}");
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

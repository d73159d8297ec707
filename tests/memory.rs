//! Memory: the `-m` budget holds under a fill of ten times its size, the
//! daemon keeps serving, and its RSS stays near the limit.

mod common;

use std::io::Write;

use common::TestServer;

#[test]
fn filling_ten_times_the_limit_evicts_and_bounds_rss() {
    if common::is_memcached() {
        return; // memcached's RSS is not what this test is about.
    }
    let limit: u64 = 64 << 20;
    let mut server = TestServer::spawn(&["-m", "64", "-t", "2"]);
    let pid = server.pid().expect("a spawned daemon");
    let value = [b'v'; 100];
    let items = 10 * limit / value.len() as u64;

    // Stream noreply sets in 1 MiB writes; a `version` fence on the same
    // connection every 64 writes keeps the client from racing ahead.
    let mut writer = server.conn();
    let mut batch = Vec::with_capacity(1 << 20);
    let mut writes = 0;
    for i in 0..items {
        write!(batch, "set key:{i:010} 0 0 {} noreply\r\n", value.len()).unwrap();
        batch.extend_from_slice(&value);
        batch.extend_from_slice(b"\r\n");
        if batch.len() >= 1 << 20 || i + 1 == items {
            writer.send(&batch);
            batch.clear();
            writes += 1;
            if writes % 64 == 0 {
                writer.assert_usable();
            }
        }
    }
    writer.assert_usable();
    let mut fence = server.conn();

    assert!(!server.exited(), "the daemon died during the fill");
    let evictions = fence.stat("evictions");
    let curr_items = fence.stat("curr_items");
    let malloced: u64 = fence
        .stats("slabs")
        .iter()
        .find(|(k, _)| k == "total_malloced")
        .and_then(|(_, v)| v.parse().ok())
        .expect("total_malloced in stats slabs");
    let rss = common::rss(pid);
    eprintln!(
        "filled {items} items: curr_items {curr_items}, evictions {evictions}, total_malloced {malloced}, rss {} MiB",
        rss >> 20
    );
    assert!(evictions > 0, "a 10x fill must evict");
    assert!(malloced <= limit, "item memory {malloced} over the limit");
    assert!(
        rss < limit + (32 << 20),
        "RSS {rss} not under 64 MiB + 32 MiB"
    );
    // Still serving: the newest item is there, and a fresh set works.
    let newest = format!("key:{:010}", items - 1);
    let mut c = server.conn();
    let mut expected = format!("VALUE {newest} 0 100\r\n").into_bytes();
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\nEND\r\n");
    c.roundtrip(format!("get {newest}\r\n").as_bytes(), &expected);
    c.roundtrip(b"set after 0 0 1\r\nx\r\n", b"STORED\r\n");
}

use std::sync::Arc;

use super::cache::parse_counter;
use super::*;
use crate::clock::Clock;

fn cache_with(limit: usize, evictions: bool) -> Cache {
    let config = CacheConfig {
        memory_limit: limit,
        evictions,
        ..CacheConfig::default()
    };
    Cache::new(config, Arc::new(Clock::new()))
}

fn cache() -> Cache {
    cache_with(64 << 20, true)
}

fn get(c: &Cache, key: &[u8]) -> Option<(Vec<u8>, u32)> {
    c.get(key, |i| (i.value.to_vec(), i.flags))
}

fn set(c: &Cache, key: &[u8], value: &[u8]) -> StoreOutcome {
    c.store(StoreMode::Set, key, 0, 0, value).unwrap()
}

#[test]
fn set_get_overwrite_delete() {
    let c = cache();
    assert!(matches!(set(&c, b"k", b"v1"), StoreOutcome::Stored(_)));
    assert_eq!(get(&c, b"k"), Some((b"v1".to_vec(), 0)));
    c.store(
        StoreMode::Set,
        b"k",
        7,
        0,
        b"a longer value than before, in another class",
    )
    .unwrap();
    assert_eq!(get(&c, b"k").unwrap().1, 7);
    assert_eq!(c.stats().items.curr_items, 1);
    assert!(c.delete(b"k"));
    assert!(!c.delete(b"k"));
    assert_eq!(get(&c, b"k"), None);
    let st = c.stats().items;
    assert_eq!((st.curr_items, st.bytes), (0, 0));
}

#[test]
fn add_replace_cas_modes() {
    let c = cache();
    assert_eq!(
        c.store(StoreMode::Replace, b"k", 0, 0, b"x").unwrap(),
        StoreOutcome::NotStored
    );
    assert!(matches!(
        c.store(StoreMode::Add, b"k", 0, 0, b"x").unwrap(),
        StoreOutcome::Stored(_)
    ));
    assert_eq!(
        c.store(StoreMode::Add, b"k", 0, 0, b"y").unwrap(),
        StoreOutcome::NotStored
    );
    let StoreOutcome::Stored(cas) = c.store(StoreMode::Replace, b"k", 0, 0, b"z").unwrap() else {
        panic!("replace failed")
    };
    assert_eq!(c.get(b"k", |i| i.cas), Some(cas));
    assert_eq!(
        c.store(StoreMode::Cas(cas + 1), b"k", 0, 0, b"w").unwrap(),
        StoreOutcome::Exists
    );
    assert_eq!(
        c.store(StoreMode::Cas(cas), b"nope", 0, 0, b"w").unwrap(),
        StoreOutcome::NotFound
    );
    let StoreOutcome::Stored(cas2) = c.store(StoreMode::Cas(cas), b"k", 0, 0, b"w").unwrap() else {
        panic!("cas failed")
    };
    assert_ne!(cas, cas2);
    assert_eq!(get(&c, b"k").unwrap().0, b"w");
}

#[test]
fn append_prepend_in_place_and_across_classes() {
    let c = cache();
    assert_eq!(
        c.store(StoreMode::Append, b"k", 0, 0, b"x").unwrap(),
        StoreOutcome::NotStored
    );
    c.store(StoreMode::Set, b"k", 5, 0, b"mid").unwrap();
    c.store(StoreMode::Append, b"k", 9, 0, b"-end").unwrap();
    c.store(StoreMode::Prepend, b"k", 9, 0, b"start-").unwrap();
    assert_eq!(get(&c, b"k"), Some((b"start-mid-end".to_vec(), 5)));
    // Grow through several classes and into a large item.
    let chunk = vec![b'a'; 1000];
    for _ in 0..40 {
        c.store(StoreMode::Append, b"k", 0, 0, &chunk).unwrap();
    }
    let v = get(&c, b"k").unwrap().0;
    assert_eq!(v.len(), 13 + 40_000);
    assert!(v.starts_with(b"start-mid-end") && v.ends_with(b"aaa"));
    c.store(StoreMode::Prepend, b"k", 0, 0, b"P").unwrap();
    assert_eq!(get(&c, b"k").unwrap().0[..2], *b"Ps");
    assert_eq!(c.stats().items.curr_items, 1);
}

#[test]
fn incr_decr_like_memcached() {
    let c = cache();
    assert_eq!(c.delta(b"n", 1, true), Err(DeltaError::NotFound));
    set(&c, b"n", b"10");
    assert_eq!(c.delta(b"n", 5, true), Ok(15));
    assert_eq!(c.delta(b"n", 6, false), Ok(9));
    // A shorter result is space-padded in place, as memcached does.
    assert_eq!(get(&c, b"n").unwrap().0, b"9 ");
    assert_eq!(c.delta(b"n", 100, false), Ok(0));
    assert_eq!(c.delta(b"n", 991, true), Ok(991));
    assert_eq!(c.delta(b"n", 9, true), Ok(1000));
    assert_eq!(get(&c, b"n").unwrap().0, b"1000");
    set(&c, b"n", b"18446744073709551615");
    assert_eq!(c.delta(b"n", 2, true), Ok(1));
    set(&c, b"s", b"abc");
    assert_eq!(c.delta(b"s", 1, true), Err(DeltaError::NonNumeric));
    set(&c, b"e", b"");
    assert_eq!(c.delta(b"e", 1, true), Err(DeltaError::NonNumeric));
    set(&c, b"big", b"18446744073709551616");
    assert_eq!(c.delta(b"big", 1, true), Err(DeltaError::NonNumeric));
}

#[test]
fn expiry_touch_and_gat() {
    let c = cache();
    c.store(StoreMode::Set, b"a", 0, 2, b"x").unwrap();
    c.store(StoreMode::Set, b"b", 0, -1, b"x").unwrap();
    c.store(StoreMode::Set, b"c", 0, 2, b"x").unwrap();
    assert!(get(&c, b"b").is_none());
    assert!(c.touch(b"c", 100));
    assert_eq!(c.get_and_touch(b"a", 0, |i| i.exp), Some(0));
    c.clock().advance(3);
    assert!(get(&c, b"a").is_some());
    assert!(get(&c, b"c").is_some());
    c.clock().advance(100);
    assert!(get(&c, b"c").is_none());
    assert!(!c.touch(b"c", 1));
}

#[test]
fn flush_now_and_delayed() {
    let c = cache();
    set(&c, b"a", b"1");
    c.flush_all(0);
    assert!(get(&c, b"a").is_none());
    set(&c, b"a", b"1");
    c.flush_all(10);
    assert!(get(&c, b"a").is_some());
    c.clock().advance(10);
    assert!(get(&c, b"a").is_none());
    set(&c, b"b", b"2");
    assert!(
        get(&c, b"b").is_some(),
        "items stored after the deadline live"
    );
}

#[test]
fn eviction_keeps_memory_within_limit() {
    let limit = 4 << 20;
    let c = cache_with(limit, true);
    let value = [b'v'; 100];
    for i in 0..400_000u32 {
        set(&c, format!("key:{i}").as_bytes(), &value);
    }
    let st = c.stats();
    assert!(st.items.evictions > 0);
    assert!(st.total_malloced as usize <= limit);
    assert!(get(&c, b"key:399999").is_some(), "the newest item survives");
    // Items of another size still find room (a page moves between classes).
    let big = [b'w'; 3000];
    for i in 0..2000u32 {
        set(&c, format!("big:{i}").as_bytes(), &big);
    }
    assert!(get(&c, b"big:1999").is_some());
    assert!(c.stats().total_malloced as usize <= limit);
}

#[test]
fn large_items_are_evicted_too() {
    let limit = 4 << 20;
    let c = cache_with(limit, true);
    let value = vec![b'L'; 200 * 1024];
    for i in 0..100u32 {
        set(&c, format!("large:{i}").as_bytes(), &value);
        assert!(c.stats().total_malloced as usize <= limit);
    }
    assert_eq!(get(&c, b"large:99").unwrap().0, value);
    assert!(c.stats().items.evictions > 0);
}

#[test]
fn no_evictions_means_out_of_memory() {
    let c = cache_with(1 << 20, false);
    let value = [b'v'; 1000];
    let mut oom = false;
    for i in 0..10_000u32 {
        match c.store(StoreMode::Set, format!("k{i}").as_bytes(), 0, 0, &value) {
            Ok(_) => {}
            Err(StoreError::OutOfMemory) => {
                oom = true;
                break;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(oom);
    assert_eq!(c.stats().items.evictions, 0);
}

#[test]
fn too_large_is_refused() {
    let c = cache();
    let value = vec![0u8; 1 << 20];
    assert_eq!(
        c.store(StoreMode::Set, b"k", 0, 0, &value),
        Err(StoreError::TooLarge)
    );
    let fits = vec![7u8; c.max_value(1)];
    assert!(matches!(
        c.store(StoreMode::Set, b"k", 0, 0, &fits),
        Ok(StoreOutcome::Stored(_))
    ));
    assert_eq!(get(&c, b"k").unwrap().0.len(), fits.len());
}

#[test]
fn crawler_reclaims_expired_items() {
    let c = cache();
    for i in 0..1000u32 {
        c.store(StoreMode::Set, format!("k{i}").as_bytes(), 0, 1, b"v")
            .unwrap();
    }
    c.clock().advance(2);
    for _ in 0..10 {
        c.maintain(1024);
    }
    assert_eq!(c.stats().items.curr_items, 0);
}

/// watcher.t: one set into a full cache must evict (memcached's LRU frees
/// an item per set); the log used to evict a whole segment only when its
/// head filled, so most sets evicted nothing and the next one evicted ~90.
#[test]
fn each_write_into_a_full_cache_evicts_about_its_size() {
    let c = cache_with(8 << 20, true);
    let value = [b'B'; 11_000];
    for i in 0..2_000u32 {
        set(&c, format!("n,foo{i}").as_bytes(), &value);
    }
    let mut most = 0;
    for i in 0..200u32 {
        let before = c.stats().items.evictions;
        set(&c, format!("b{i}").as_bytes(), &value);
        let evicted = c.stats().items.evictions - before;
        assert!(evicted >= 1, "set {i} into a full cache evicted nothing");
        most = most.max(evicted);
    }
    assert!(most <= 3, "one set evicted {most} items");
    // Nothing stored since the cache filled is lost.
    for i in 0..200u32 {
        assert!(get(&c, format!("b{i}").as_bytes()).is_some());
    }
}

/// lru-crawler.t under load: `lru_crawler crawl` reclaimed the items but
/// `stats items` showed `crawler_reclaimed` 0 for their class.
#[test]
fn crawl_on_demand_counts_reclaims_in_the_items_class() {
    let c = cache();
    for i in 0..30u32 {
        c.store(StoreMode::Set, format!("s{i}").as_bytes(), 0, 1, b"ok")
            .unwrap();
    }
    c.clock().advance(2);
    assert_eq!(c.crawl_expired().1, 30);
    let classes = c.class_stats();
    assert_eq!(classes[0].crawler_reclaimed, 30);
    assert_eq!(classes[0].items, 0);
}

/// With the crawler off (`no_modern`), background maintenance leaves
/// expired items in place, as memcached does, until they are met.
#[test]
fn maintenance_without_crawl_keeps_expired_items_counted() {
    let c = cache();
    for i in 0..30u32 {
        c.store(StoreMode::Set, format!("s{i}").as_bytes(), 0, 1, b"ok")
            .unwrap();
    }
    c.clock().advance(2);
    c.maintain(0);
    assert_eq!(c.class_stats()[0].items, 30);
    c.maintain(4);
    assert_eq!(c.class_stats()[0].items, 0);
}

#[test]
fn lowering_the_limit_gives_memory_back() {
    let c = cache_with(16 << 20, true);
    for i in 0..200_000u32 {
        set(&c, format!("k{i}").as_bytes(), &[1u8; 100]);
    }
    c.set_memory_limit(8 << 20);
    c.maintain(0);
    // Segments past the new limit are emptied and no longer used (their
    // memory stays allocated for reuse: see docs/architecture.md).
    let st = c.stats();
    assert!(st.segments_used * st.segment_bytes <= 8 << 20);
    assert!(st.items.bytes <= 8 << 20);
    assert!(get(&c, b"k199999").is_some(), "the newest item survives");
}

#[test]
fn concurrent_incr_is_exact() {
    let c = Arc::new(cache());
    set(&c, b"n", b"0");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    c.delta(b"n", 1, true).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(get(&c, b"n").unwrap().0, b"8000");
}

#[test]
fn cas_uniques_never_repeat() {
    let c = cache();
    let mut seen = std::collections::HashSet::new();
    for i in 0..10_000u32 {
        let StoreOutcome::Stored(cas) = set(&c, format!("k{}", i % 100).as_bytes(), b"v") else {
            panic!()
        };
        assert!(cas != 0 && seen.insert(cas));
    }
}

#[test]
fn counter_parsing() {
    assert_eq!(parse_counter(b"42"), Some(42));
    assert_eq!(parse_counter(b"9 "), Some(9));
    assert_eq!(parse_counter(b" +7"), Some(7));
    assert_eq!(parse_counter(b""), None);
    assert_eq!(parse_counter(b"-1"), None);
    assert_eq!(parse_counter(b"1a"), None);
    // memcached reads up to the first space: "5 x" counts as 5.
    assert_eq!(parse_counter(b"5 x"), Some(5));
    assert_eq!(parse_counter(b"0   5"), Some(0));
    assert_eq!(parse_counter(b"18446744073709551616"), None);
}

#[test]
fn index_grows_outside_the_lock_and_keeps_every_item() {
    let c = cache();
    let stripes = c.stripe_count();
    let n = stripes * stripe::INITIAL_INDEX * 4;
    for i in 0..n {
        set(&c, format!("key:{i}").as_bytes(), b"v");
    }
    assert_eq!(c.stats().items.curr_items, n as u64);
    for i in 0..n {
        assert!(get(&c, format!("key:{i}").as_bytes()).is_some(), "key:{i}");
    }
    for i in 0..stripes {
        let s = c.lock(i);
        // Every growth step was served: each stripe's table has room left.
        assert!(s.index_full() > s.stats.curr_items as usize, "stripe {i}");
        assert!(s.index_full() > stripe::INITIAL_INDEX);
    }
}

#[test]
fn churn_at_a_steady_size_rebuilds_instead_of_growing() {
    let c = cache();
    let live = c.stripe_count() * stripe::INITIAL_INDEX / 2;
    // Replace the whole key set many times over: removals leave tombstones.
    for round in 0..20 {
        for i in 0..live {
            set(&c, format!("k{round}:{i}").as_bytes(), b"v");
            if round > 0 {
                assert!(c.delete(format!("k{}:{i}", round - 1).as_bytes()));
            }
        }
    }
    assert_eq!(c.stats().items.curr_items, live as u64);
    let biggest = (0..c.stripe_count())
        .map(|i| c.lock(i).index_full())
        .max()
        .unwrap();
    assert!(
        biggest <= 4 * stripe::INITIAL_INDEX,
        "index grew to {biggest}"
    );
}

#[test]
fn flush_without_cas_also_hides_items_set_in_the_same_second() {
    // memcached's t/flush-all.t: with -C the cliff is the flush's second.
    let config = CacheConfig {
        use_cas: false,
        ..CacheConfig::default()
    };
    let c = Cache::new(config, Arc::new(Clock::new()));
    c.flush_all(0);
    set(&c, b"a", b"1");
    assert!(get(&c, b"a").is_none());
    c.clock().advance(1);
    set(&c, b"a", b"1");
    assert!(get(&c, b"a").is_some());
    // With CAS the cut is exact: an item set right after the flush lives.
    let c = cache();
    c.flush_all(0);
    set(&c, b"a", b"1");
    assert!(get(&c, b"a").is_some());
}

#[test]
fn figures_per_memcached_size_class() {
    let c = cache();
    set(&c, b"key1", &[b'v'; 10]);
    set(&c, b"key2", &[b'v'; 66_560]);
    let classes = c.class_stats();
    assert_eq!(classes[0].items, 1, "class 1 holds the 10-byte value");
    assert_eq!(classes[30].items, 1, "class 31 holds the 66,560-byte value");
    assert_eq!(classes.iter().map(|k| k.items).sum::<u64>(), 2);
    assert_eq!(
        classes.iter().map(|k| k.bytes).sum::<u64>(),
        c.stats().items.bytes
    );
    c.flush_all(0);
    assert!(get(&c, b"key2").is_none());
    assert_eq!(c.stats().items.get_flushed, 1);
    let classes = c.class_stats();
    assert_eq!(classes[30].items, 0);
    assert_eq!(
        classes[30].reclaimed, 1,
        "a flushed item counts as reclaimed"
    );
    c.maintain(0);
    assert_eq!(c.class_stats()[0].items, 0, "the crawler reclaims the rest");
    c.reset_stats();
    assert_eq!(c.class_stats()[30].reclaimed, 0);
    assert_eq!(c.stats().items.reclaimed, 0);
}

#[test]
fn segments_left_empty_return_to_the_free_list() {
    let c = cache();
    let value = [b'v'; 100_000];
    for i in 0..40u32 {
        set(&c, format!("k{i}").as_bytes(), &value);
    }
    assert!(c.stats().segments_used >= 3);
    c.flush_all(0);
    c.maintain(0);
    let st = c.stats();
    assert_eq!(st.segments_used, 1, "only the head stays in use");
    assert!(st.segments_free >= 2);
}

#[test]
fn temporary_items_are_not_evicted_before_they_expire() {
    // memcached's temporary LRU (t/lru-maintainer.t): a short-TTL item is
    // kept while longer-lived ones are evicted around it.
    let config = CacheConfig {
        memory_limit: 4 << 20,
        temporary_ttl: Some(61),
        ..CacheConfig::default()
    };
    let c = Cache::new(config, Arc::new(Clock::new()));
    let value = [b'B'; 66_560];
    c.store(StoreMode::Set, b"canary", 0, 30, &value).unwrap();
    for i in 0..100u32 {
        c.store(
            StoreMode::Set,
            format!("key{i}").as_bytes(),
            0,
            3600,
            &value,
        )
        .unwrap();
    }
    assert!(c.stats().items.evictions > 0);
    assert!(get(&c, b"canary").is_some());
}

//! Reference model: random sequences of text, meta and binary operations on
//! several connections, with time moved forward by the store's clock,
//! replayed against an in-process server and a plain `HashMap`; every reply
//! must be the one the model predicts. Memory is large enough that nothing
//! is evicted, so every acknowledged write is readable until it expires or
//! is deleted.
//!
//! `cargo test` runs 64 cases; `FERROCACHE_MODEL_CASES=N` runs N (`make
//! fuzz` sets a large N).

mod common;

use std::collections::HashMap;

use common::{binary, Conn};
use proptest::prelude::*;

const KEYS: &[&str] = &["a", "b", "c", "d"];
/// Exptimes and clock steps are chosen so that no expiry lands within 100 s
/// of a model instant, whatever real seconds pass during a case.
const EXPTIMES: &[u32] = &[0, 100, 300];
const STEP: u32 = 200;

#[derive(Debug, Clone)]
enum Op {
    Set {
        conn: usize,
        key: usize,
        flags: u32,
        ttl: usize,
        value: String,
    },
    Add {
        conn: usize,
        key: usize,
        value: String,
    },
    Replace {
        conn: usize,
        key: usize,
        value: String,
    },
    Append {
        conn: usize,
        key: usize,
        value: String,
    },
    Prepend {
        conn: usize,
        key: usize,
        value: String,
    },
    Get {
        conn: usize,
        keys: Vec<usize>,
    },
    Delete {
        conn: usize,
        key: usize,
    },
    Incr {
        conn: usize,
        key: usize,
        delta: u64,
    },
    Touch {
        conn: usize,
        key: usize,
        ttl: usize,
    },
    MetaGet {
        conn: usize,
        key: usize,
    },
    MetaSet {
        conn: usize,
        key: usize,
        flags: u32,
        ttl: usize,
        value: String,
    },
    MetaDelete {
        conn: usize,
        key: usize,
    },
    BinGet {
        key: usize,
    },
    BinSet {
        key: usize,
        flags: u32,
        ttl: usize,
        value: String,
    },
    BinDelete {
        key: usize,
    },
    Advance,
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9]{1,3}", "[a-z]{0,8}"]
}

fn op() -> impl Strategy<Value = Op> {
    let conn = 0..2usize;
    let key = 0..KEYS.len();
    let ttl = 0..EXPTIMES.len();
    prop_oneof![
        4 => (conn.clone(), key.clone(), any::<u32>(), ttl.clone(), value())
            .prop_map(|(conn, key, flags, ttl, value)| Op::Set { conn, key, flags, ttl, value }),
        1 => (conn.clone(), key.clone(), value()).prop_map(|(conn, key, value)| Op::Add { conn, key, value }),
        1 => (conn.clone(), key.clone(), value()).prop_map(|(conn, key, value)| Op::Replace { conn, key, value }),
        1 => (conn.clone(), key.clone(), value()).prop_map(|(conn, key, value)| Op::Append { conn, key, value }),
        1 => (conn.clone(), key.clone(), value()).prop_map(|(conn, key, value)| Op::Prepend { conn, key, value }),
        4 => (conn.clone(), prop::collection::vec(key.clone(), 1..4)).prop_map(|(conn, keys)| Op::Get { conn, keys }),
        1 => (conn.clone(), key.clone()).prop_map(|(conn, key)| Op::Delete { conn, key }),
        1 => (conn.clone(), key.clone(), 0..1000u64).prop_map(|(conn, key, delta)| Op::Incr { conn, key, delta }),
        1 => (conn.clone(), key.clone(), ttl.clone()).prop_map(|(conn, key, ttl)| Op::Touch { conn, key, ttl }),
        2 => (conn.clone(), key.clone()).prop_map(|(conn, key)| Op::MetaGet { conn, key }),
        1 => (conn.clone(), key.clone(), any::<u32>(), ttl.clone(), value())
            .prop_map(|(conn, key, flags, ttl, value)| Op::MetaSet { conn, key, flags, ttl, value }),
        1 => (conn, key.clone()).prop_map(|(conn, key)| Op::MetaDelete { conn, key }),
        2 => key.clone().prop_map(|key| Op::BinGet { key }),
        1 => (key.clone(), any::<u32>(), ttl, value())
            .prop_map(|(key, flags, ttl, value)| Op::BinSet { key, flags, ttl, value }),
        1 => key.prop_map(|key| Op::BinDelete { key }),
        1 => Just(Op::Advance),
    ]
}

#[derive(Debug, Clone)]
struct Item {
    value: Vec<u8>,
    flags: u32,
    /// Model time at which the item is gone; None = never.
    expires: Option<u64>,
}

/// The plain in-memory model.
#[derive(Default)]
struct Model {
    now: u64,
    items: HashMap<usize, Item>,
}

impl Model {
    fn expiry(&self, ttl: usize) -> Option<u64> {
        match EXPTIMES[ttl] {
            0 => None,
            secs => Some(self.now + secs as u64),
        }
    }

    /// The live item under `key`, dropping it once expired.
    fn live(&mut self, key: usize) -> Option<&mut Item> {
        let now = self.now;
        if self
            .items
            .get(&key)
            .is_some_and(|i| i.expires.is_some_and(|e| e <= now))
        {
            self.items.remove(&key);
        }
        self.items.get_mut(&key)
    }

    fn set(&mut self, key: usize, flags: u32, ttl: usize, value: &str) {
        let expires = self.expiry(ttl);
        self.items.insert(
            key,
            Item {
                value: value.as_bytes().to_vec(),
                flags,
                expires,
            },
        );
    }
}

/// Apply `op` to the model; the exact reply bytes the server must send
/// (for binary ops: status, extras and value of the one response).
enum Want {
    Text(Vec<u8>),
    Binary {
        status: u16,
        extras: Vec<u8>,
        value: Vec<u8>,
    },
}

fn predict(m: &mut Model, op: &Op) -> Want {
    use Want::Text;
    let stored = |ok: bool| {
        Text(if ok {
            b"STORED\r\n".to_vec()
        } else {
            b"NOT_STORED\r\n".to_vec()
        })
    };
    match op {
        Op::Set {
            key,
            flags,
            ttl,
            value,
            ..
        } => {
            m.set(*key, *flags, *ttl, value);
            stored(true)
        }
        Op::Add { key, value, .. } => {
            let absent = m.live(*key).is_none();
            if absent {
                m.set(*key, 0, 0, value);
            }
            stored(absent)
        }
        Op::Replace { key, value, .. } => {
            let present = m.live(*key).is_some();
            if present {
                m.set(*key, 0, 0, value);
            }
            stored(present)
        }
        Op::Append { key, value, .. } => match m.live(*key) {
            Some(item) => {
                item.value.extend_from_slice(value.as_bytes());
                stored(true)
            }
            None => stored(false),
        },
        Op::Prepend { key, value, .. } => match m.live(*key) {
            Some(item) => {
                item.value.splice(0..0, value.bytes());
                stored(true)
            }
            None => stored(false),
        },
        Op::Get { keys, .. } => {
            let mut out = Vec::new();
            for &key in keys {
                if let Some(item) = m.live(key) {
                    out.extend_from_slice(
                        format!(
                            "VALUE {} {} {}\r\n",
                            KEYS[key],
                            item.flags,
                            item.value.len()
                        )
                        .as_bytes(),
                    );
                    out.extend_from_slice(&item.value);
                    out.extend_from_slice(b"\r\n");
                }
            }
            out.extend_from_slice(b"END\r\n");
            Text(out)
        }
        Op::Delete { key, .. } => {
            let found = m.live(*key).is_some();
            m.items.remove(key);
            Text(if found {
                b"DELETED\r\n".to_vec()
            } else {
                b"NOT_FOUND\r\n".to_vec()
            })
        }
        Op::Incr { key, delta, .. } => match m.live(*key) {
            None => Text(b"NOT_FOUND\r\n".to_vec()),
            Some(item) => {
                match counter(&item.value) {
                    Some(n) => {
                        let new = n.wrapping_add(*delta).to_string();
                        // memcached rewrites a result no longer than the old
                        // value in place, padded with spaces to its length.
                        let mut stored = new.clone().into_bytes();
                        if stored.len() <= item.value.len() {
                            stored.resize(item.value.len(), b' ');
                        }
                        item.value = stored;
                        Text(format!("{new}\r\n").into_bytes())
                    }
                    _ => Text(
                        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
                            .to_vec(),
                    ),
                }
            }
        },
        Op::Touch { key, ttl, .. } => {
            let expires = m.expiry(*ttl);
            match m.live(*key) {
                Some(item) => {
                    item.expires = expires;
                    Text(b"TOUCHED\r\n".to_vec())
                }
                None => Text(b"NOT_FOUND\r\n".to_vec()),
            }
        }
        Op::MetaGet { key, .. } => match m.live(*key) {
            Some(item) => {
                let mut out = format!("VA {} f{}\r\n", item.value.len(), item.flags).into_bytes();
                out.extend_from_slice(&item.value);
                out.extend_from_slice(b"\r\n");
                Text(out)
            }
            None => Text(b"EN\r\n".to_vec()),
        },
        Op::MetaSet {
            key,
            flags,
            ttl,
            value,
            ..
        } => {
            m.set(*key, *flags, *ttl, value);
            Text(b"HD\r\n".to_vec())
        }
        Op::MetaDelete { key, .. } => {
            let found = m.live(*key).is_some();
            m.items.remove(key);
            Text(if found {
                b"HD\r\n".to_vec()
            } else {
                b"NF\r\n".to_vec()
            })
        }
        Op::BinGet { key } => match m.live(*key) {
            Some(item) => Want::Binary {
                status: 0,
                extras: item.flags.to_be_bytes().to_vec(),
                value: item.value.clone(),
            },
            None => Want::Binary {
                status: 1,
                extras: vec![],
                value: b"Not found".to_vec(),
            },
        },
        Op::BinSet {
            key,
            flags,
            ttl,
            value,
        } => {
            m.set(*key, *flags, *ttl, value);
            Want::Binary {
                status: 0,
                extras: vec![],
                value: vec![],
            }
        }
        Op::BinDelete { key } => {
            let found = m.live(*key).is_some();
            m.items.remove(key);
            if found {
                Want::Binary {
                    status: 0,
                    extras: vec![],
                    value: vec![],
                }
            } else {
                Want::Binary {
                    status: 1,
                    extras: vec![],
                    value: b"Not found".to_vec(),
                }
            }
        }
        Op::Advance => {
            m.now += STEP as u64;
            Text(Vec::new())
        }
    }
}

/// The request bytes of `op`, and the connection it goes to (2 = binary).
fn encode(op: &Op) -> (usize, Vec<u8>) {
    let text = |conn: usize, s: String| (conn, s.into_bytes());
    let storage = |conn: &usize, cmd: &str, key: &usize, flags: u32, ttl: usize, v: &str| {
        text(
            *conn,
            format!(
                "{cmd} {} {flags} {} {}\r\n{v}\r\n",
                KEYS[*key],
                EXPTIMES[ttl],
                v.len()
            ),
        )
    };
    match op {
        Op::Set {
            conn,
            key,
            flags,
            ttl,
            value,
        } => storage(conn, "set", key, *flags, *ttl, value),
        Op::Add { conn, key, value } => storage(conn, "add", key, 0, 0, value),
        Op::Replace { conn, key, value } => storage(conn, "replace", key, 0, 0, value),
        Op::Append { conn, key, value } => storage(conn, "append", key, 0, 0, value),
        Op::Prepend { conn, key, value } => storage(conn, "prepend", key, 0, 0, value),
        Op::Get { conn, keys } => {
            let names: Vec<&str> = keys.iter().map(|&k| KEYS[k]).collect();
            text(*conn, format!("get {}\r\n", names.join(" ")))
        }
        Op::Delete { conn, key } => text(*conn, format!("delete {}\r\n", KEYS[*key])),
        Op::Incr { conn, key, delta } => text(*conn, format!("incr {} {delta}\r\n", KEYS[*key])),
        Op::Touch { conn, key, ttl } => text(
            *conn,
            format!("touch {} {}\r\n", KEYS[*key], EXPTIMES[*ttl]),
        ),
        Op::MetaGet { conn, key } => text(*conn, format!("mg {} v f\r\n", KEYS[*key])),
        Op::MetaSet {
            conn,
            key,
            flags,
            ttl,
            value,
        } => text(
            *conn,
            format!(
                "ms {} {} F{flags} T{}\r\n{value}\r\n",
                KEYS[*key],
                value.len(),
                EXPTIMES[*ttl]
            ),
        ),
        Op::MetaDelete { conn, key } => text(*conn, format!("md {}\r\n", KEYS[*key])),
        Op::BinGet { key } => (2, binary::req(0x00, &[], KEYS[*key].as_bytes(), &[], 0, 0)),
        Op::BinSet {
            key,
            flags,
            ttl,
            value,
        } => (
            2,
            binary::req(
                0x01,
                &binary::set_extras(*flags, EXPTIMES[*ttl]),
                KEYS[*key].as_bytes(),
                value.as_bytes(),
                0,
                0,
            ),
        ),
        Op::BinDelete { key } => (2, binary::req(0x04, &[], KEYS[*key].as_bytes(), &[], 0, 0)),
        Op::Advance => (0, Vec::new()),
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let argv = [
        "ferrocache",
        "-p",
        "-1",
        "-l",
        "127.0.0.1",
        "-U",
        "0",
        "-m",
        "64",
        "-t",
        "2",
    ];
    let config = ferrocache::config::parse_args(argv).expect("config");
    let handle = ferrocache::server::Server::bind(config)
        .expect("bind")
        .start()
        .expect("start");
    let addr = handle.addrs()[0];
    let mut conns = [
        Conn::connect(addr),
        Conn::connect(addr),
        Conn::connect(addr),
    ];
    let mut model = Model::default();
    let mut result = Ok(());
    for (i, op) in ops.iter().enumerate() {
        let want = predict(&mut model, op);
        if let Op::Advance = op {
            handle.shared().cache.clock().advance(STEP);
            continue;
        }
        let (c, request) = encode(op);
        let conn = &mut conns[c];
        conn.send(&request);
        let ok = match &want {
            Want::Text(bytes) => {
                let got = conn.read_exact_bytes(bytes.len());
                prop_assert_eq!(common::show(&got), common::show(bytes), "op {} {:?}", i, op);
                true
            }
            Want::Binary {
                status,
                extras,
                value,
            } => {
                let resp = binary::read(conn);
                (resp.status, &resp.extras, &resp.value) == (*status, extras, value)
            }
        };
        if !ok {
            result = Err(TestCaseError::fail(format!(
                "op {i} {op:?}: binary reply differs"
            )));
            break;
        }
    }
    handle.shutdown();
    result
}

fn cases() -> u32 {
    std::env::var("FERROCACHE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn server_replies_match_the_reference_model(ops in prop::collection::vec(op(), 1..120)) {
        if common::is_memcached() {
            // The oracle cannot have its clock moved; the model is for ferrocache.
            return Ok(());
        }
        run(&ops)?;
    }
}

/// A counter as memcached's `strtoull` reads it: digits up to the value's end
/// or to a space (the values here have no leading space or sign).
fn counter(v: &[u8]) -> Option<u64> {
    let end = v
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(v.len());
    if end == 0 || v.get(end).is_some_and(|&b| b != b' ') {
        return None;
    }
    std::str::from_utf8(&v[..end]).ok()?.parse().ok()
}

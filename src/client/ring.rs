//! Key placement: libmemcached's weighted ketama and pymemcache's rendezvous
//! hashing. Pure functions of the server list; no IO.

use md5::{Digest, Md5};
use std::cmp::Ordering;

/// Points per server at equal weight (`MEMCACHED_POINTS_PER_SERVER_KETAMA`).
const POINTS_PER_SERVER: u32 = 160;
/// Points per server of unweighted ketama (`MEMCACHED_POINTS_PER_SERVER`).
const POINTS_PER_SERVER_UNWEIGHTED: u32 = 100;
/// The port libmemcached leaves out of a server's ketama string.
const DEFAULT_PORT: u16 = 11211;

/// How keys are placed on servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Distribution {
    /// libmemcached's `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED` with MD5 (pylibmc
    /// `behaviors={"ketama_weighted": True}`, twemproxy `distribution:
    /// ketama` + `hash: md5` for the key).
    #[default]
    Ketama,
    /// libmemcached's `distribution: consistent ketama` with `hash: md5`
    /// without weights: 100 points per server, one per
    /// digest (its first four bytes). As in libmemcached, a server list
    /// with any weight above 1 uses the weighted continuum instead.
    ConsistentKetama,
    /// pymemcache's `HashClient` default: highest murmur3 score of
    /// `"host:port-key"` wins.
    Rendezvous,
}

/// What the ring needs to know about one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The host exactly as written in the server list: libmemcached hashes
    /// the name, not the resolved address.
    pub host: String,
    /// `None` for a unix socket (whose path is then `host`).
    pub port: Option<u16>,
    pub weight: u32,
}

impl Node {
    /// libmemcached's continuum string for point group `i`. A unix socket
    /// has port 0 there, so it is `path:0-i`.
    fn ketama_name(&self, i: u32) -> String {
        match self.port.unwrap_or(0) {
            DEFAULT_PORT => format!("{}-{i}", self.host),
            port => format!("{}:{port}-{i}", self.host),
        }
    }

    /// pymemcache's node key: `"host:port"`, or the socket path.
    fn rendezvous_name(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }
}

/// A built placement over a fixed server list. Lookups take a predicate
/// saying which servers are alive, so ejecting a server moves only its keys.
#[derive(Debug, Clone)]
pub struct Ring {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// `(point, server index)` sorted as libmemcached's `qsort` leaves them.
    Ketama(Vec<(u32, usize)>),
    Rendezvous(Vec<String>),
}

impl Ring {
    pub fn new(nodes: &[Node], distribution: Distribution) -> Ring {
        let kind = match distribution {
            Distribution::Ketama => Kind::Ketama(continuum(nodes)),
            Distribution::ConsistentKetama if nodes.iter().any(|n| n.weight > 1) => {
                Kind::Ketama(continuum(nodes))
            }
            Distribution::ConsistentKetama => Kind::Ketama(unweighted_continuum(nodes)),
            Distribution::Rendezvous => {
                Kind::Rendezvous(nodes.iter().map(Node::rendezvous_name).collect())
            }
        };
        Ring { kind }
    }

    /// The server owning `key` among those for which `alive` holds.
    pub fn owner(&self, key: &[u8], alive: impl Fn(usize) -> bool) -> Option<usize> {
        self.owners(key, 1, alive).into_iter().next()
    }

    /// Up to `n` distinct live servers for `key`, owner first: the servers
    /// that follow the key on the continuum (ketama), or the next best
    /// scores (rendezvous).
    pub fn owners(&self, key: &[u8], n: usize, alive: impl Fn(usize) -> bool) -> Vec<usize> {
        let mut out = Vec::with_capacity(n);
        match &self.kind {
            Kind::Ketama(points) => {
                if points.is_empty() {
                    return out;
                }
                let start = ketama_slot(points, key_hash(key));
                for i in 0..points.len() {
                    let server = points[(start + i) % points.len()].1;
                    if out.len() == n {
                        break;
                    }
                    if alive(server) && !out.contains(&server) {
                        out.push(server);
                    }
                }
            }
            Kind::Rendezvous(names) => {
                let mut scored: Vec<(u32, &str, usize)> = names
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| alive(i))
                    .map(|(i, name)| (rendezvous_score(name, key), name.as_str(), i))
                    .collect();
                // Highest score first; pymemcache breaks ties by the larger
                // node name.
                scored.sort_by(|a, b| match b.0.cmp(&a.0) {
                    Ordering::Equal => b.1.cmp(a.1),
                    o => o,
                });
                out.extend(scored.iter().take(n).map(|s| s.2));
            }
        }
        out
    }
}

/// libmemcached's `update_continuum` for weighted ketama with every server
/// live: each server gets `floor(weight / total * 40 * count + 1e-10) * 4`
/// points, computed in `float` as libmemcached does; each MD5 digest of
/// `host:port-i` (or `host-i` on port 11211) gives four points, read
/// little-endian. Ties sort by server index.
fn continuum(nodes: &[Node]) -> Vec<(u32, usize)> {
    let total: u64 = nodes.iter().map(|n| u64::from(n.weight)).sum();
    let live = nodes.len() as f32;
    let mut points = Vec::new();
    if total == 0 {
        return points;
    }
    for (index, node) in nodes.iter().enumerate() {
        let pct = node.weight as f32 / total as f32;
        let per_server =
            ((pct * POINTS_PER_SERVER as f32 / 4.0 * live + 0.000_000_000_1f32).floor() as u32) * 4;
        for i in 0..per_server / 4 {
            let digest: [u8; 16] = Md5::digest(node.ketama_name(i).as_bytes()).into();
            for chunk in digest.chunks_exact(4) {
                let value = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                points.push((value, index));
            }
        }
    }
    points.sort_unstable();
    points
}

/// libmemcached's unweighted continuum: 100 points per server, point `i`
/// the key hash of `host:port-i` (or `host-i` on port 11211).
fn unweighted_continuum(nodes: &[Node]) -> Vec<(u32, usize)> {
    let mut points: Vec<(u32, usize)> = nodes
        .iter()
        .enumerate()
        .flat_map(|(index, node)| {
            (0..POINTS_PER_SERVER_UNWEIGHTED)
                .map(move |i| (key_hash(node.ketama_name(i).as_bytes()), index))
        })
        .collect();
    points.sort_unstable();
    points
}

/// libmemcached's MD5 key hash: the digest's first four bytes, little-endian.
pub fn key_hash(key: &[u8]) -> u32 {
    let d: [u8; 16] = Md5::digest(key).into();
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

/// The first point at or after `hash`, wrapping to the start.
fn ketama_slot(points: &[(u32, usize)], hash: u32) -> usize {
    let i = points.partition_point(|&(p, _)| p < hash);
    if i == points.len() {
        0
    } else {
        i
    }
}

fn rendezvous_score(node: &str, key: &[u8]) -> u32 {
    let mut s = Vec::with_capacity(node.len() + 1 + key.len());
    s.extend_from_slice(node.as_bytes());
    s.push(b'-');
    s.extend_from_slice(key);
    murmur3_32(&s, 0)
}

/// MurmurHash3 x86 32-bit (Austin Appleby's reference).
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mix = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h = seed;
    let blocks = data.chunks_exact(4);
    let tail = blocks.remainder();
    for b in blocks {
        h ^= mix(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, &byte| (k << 8) | u32::from(byte));
        h ^= mix(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: u16, weight: u32) -> Node {
        Node {
            host: host.into(),
            port: Some(port),
            weight,
        }
    }

    #[test]
    fn murmur3_reference_vectors() {
        // From the reference implementation's published test vectors, and
        // pymemcache's pure-Python murmur3_32 for the last two.
        let cases: &[(&[u8], u32, u32)] = &[
            (b"", 0, 0),
            (b"", 1, 0x514e_28b7),
            (b"", 0xffff_ffff, 0x81f1_6f39),
            (b"\0\0\0\0", 0, 0x2362_f9de),
            (b"aaaa", 0x9747_b28c, 0x5a97_808a),
            (b"abc", 0, 0xb3dd_93fa),
            (b"Hello, world!", 0x9747_b28c, 0x2488_4cba),
            (
                b"The quick brown fox jumps over the lazy dog",
                0,
                0x2e4f_f723,
            ),
        ];
        for &(data, seed, want) in cases {
            assert_eq!(murmur3_32(data, seed), want, "{:?}", data);
        }
    }

    #[test]
    fn ketama_names_drop_the_default_port() {
        assert_eq!(node("10.0.0.1", 11211, 1).ketama_name(3), "10.0.0.1-3");
        assert_eq!(
            node("10.0.0.1", 11212, 1).ketama_name(0),
            "10.0.0.1:11212-0"
        );
    }

    #[test]
    fn point_counts_follow_weights() {
        let table: &[(&[u32], &[usize])] = &[
            (&[1, 1, 1], &[160, 160, 160]),
            (&[1, 2, 3], &[80, 160, 240]),
            (&[1, 1], &[160, 160]),
            (&[5], &[160]),
            (&[1, 1, 1, 1, 1, 1, 1], &[160; 7]),
        ];
        for &(weights, want) in table {
            let nodes: Vec<Node> = weights
                .iter()
                .enumerate()
                .map(|(i, &w)| node("127.0.0.1", 20000 + i as u16, w))
                .collect();
            let points = continuum(&nodes);
            let counts: Vec<usize> = (0..nodes.len())
                .map(|i| points.iter().filter(|p| p.1 == i).count())
                .collect();
            assert_eq!(counts, want, "weights {weights:?}");
        }
    }

    #[test]
    fn ejecting_a_server_moves_only_its_keys() {
        let nodes: Vec<Node> = (0..3).map(|i| node("127.0.0.1", 30000 + i, 1)).collect();
        for dist in [
            Distribution::Ketama,
            Distribution::ConsistentKetama,
            Distribution::Rendezvous,
        ] {
            let ring = Ring::new(&nodes, dist);
            for k in 0..2000 {
                let key = format!("key:{k}");
                let before = ring.owner(key.as_bytes(), |_| true).unwrap();
                let after = ring.owner(key.as_bytes(), |i| i != 1).unwrap();
                if before != 1 {
                    assert_eq!(before, after, "{dist:?} {key}");
                } else {
                    assert_ne!(after, 1);
                }
            }
        }
    }

    #[test]
    fn replicas_are_distinct_and_start_with_the_owner() {
        let nodes: Vec<Node> = (0..3).map(|i| node("127.0.0.1", 30000 + i, 1)).collect();
        for dist in [Distribution::Ketama, Distribution::Rendezvous] {
            let ring = Ring::new(&nodes, dist);
            for k in 0..500 {
                let key = format!("r{k}");
                let owners = ring.owners(key.as_bytes(), 2, |_| true);
                assert_eq!(owners.len(), 2);
                assert_ne!(owners[0], owners[1]);
                assert_eq!(Some(owners[0]), ring.owner(key.as_bytes(), |_| true));
            }
        }
    }

    #[test]
    fn no_live_server_has_no_owner() {
        let ring = Ring::new(&[node("h", 1, 1)], Distribution::Ketama);
        assert_eq!(ring.owner(b"k", |_| false), None);
        let empty = Ring::new(&[], Distribution::Ketama);
        assert_eq!(empty.owner(b"k", |_| true), None);
    }
}

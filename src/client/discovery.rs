//! ElastiCache-style auto-discovery: `config get cluster` answers
//! `CONFIG cluster 0 <bytes>\r\n<version>\n<host|ip|port> ...\n\r\nEND\r\n`.

use std::time::Instant;

use super::pool::Connection;
use super::{unexpected, Addr, Error, Result, ServerSpec, Timeouts};
use crate::protocol::text_reply::Reply;

/// One node of a cluster configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    pub host: String,
    /// May be empty (ElastiCache leaves it out for some engines).
    pub ip: String,
    pub port: u16,
}

/// A parsed cluster configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub version: u64,
    pub nodes: Vec<ClusterNode>,
}

impl ClusterConfig {
    /// Servers to connect to: the ip when given (no DNS needed), else the
    /// host name.
    pub fn server_specs(&self) -> Result<Vec<ServerSpec>> {
        Ok(self
            .nodes
            .iter()
            .map(|n| ServerSpec {
                addr: Addr::Tcp {
                    host: if n.ip.is_empty() {
                        n.host.clone()
                    } else {
                        n.ip.clone()
                    },
                    port: n.port,
                },
                weight: 1,
            })
            .collect())
    }

    /// The data block of a `CONFIG cluster` reply.
    pub fn encode(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}|{}|{}", n.host, n.ip, n.port))
            .collect();
        format!("{}\n{}\n", self.version, nodes.join(" "))
    }
}

/// Parse the data block of a `CONFIG cluster` reply: the version on the
/// first line, then the nodes separated by spaces.
pub fn parse_cluster_config(data: &[u8]) -> Result<ClusterConfig> {
    let bad = |why: &str| Error::Protocol(format!("cluster config: {why}"));
    let text = std::str::from_utf8(data).map_err(|_| bad("not UTF-8"))?;
    let mut lines = text.lines();
    let version = lines
        .next()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| bad("bad version"))?;
    let mut nodes = Vec::new();
    for entry in lines.flat_map(str::split_whitespace) {
        let mut f = entry.split('|');
        let (Some(host), Some(ip), Some(port), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(bad("node is not host|ip|port"));
        };
        let port = port.parse().map_err(|_| bad("bad port"))?;
        if host.is_empty() && ip.is_empty() {
            return Err(bad("node without host or ip"));
        }
        nodes.push(ClusterNode {
            host: host.to_string(),
            ip: ip.to_string(),
            port,
        });
    }
    Ok(ClusterConfig { version, nodes })
}

/// The configuration endpoint and what the client last saw of it.
pub(super) struct Endpoint {
    spec: ServerSpec,
    pub version: Option<u64>,
    pub last_check: Option<Instant>,
}

impl Endpoint {
    pub fn new(spec: ServerSpec) -> Endpoint {
        Endpoint {
            spec,
            version: None,
            last_check: None,
        }
    }

    /// One `config get cluster` round trip on a fresh connection (the
    /// endpoint is asked rarely).
    pub fn fetch(&mut self, t: &Timeouts) -> Result<ClusterConfig> {
        let mut c = Connection::connect(&self.spec.addr, t)?;
        c.send(b"config get cluster\r\n")?;
        let config = c.reply(|r| match r {
            Reply::Config { key: b"cluster", data } => parse_cluster_config(data),
            other => Err(unexpected(other)),
        })??;
        c.reply(|r| match r {
            Reply::End => Ok(()),
            other => Err(unexpected(other)),
        })??;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_documented_example_parses() {
        let data = b"12\nmyCluster.pc4ldq.0001.use1.cache.amazonaws.com|10.82.235.120|11211 myCluster.pc4ldq.0002.use1.cache.amazonaws.com|10.80.249.27|11211\n";
        let c = parse_cluster_config(data).unwrap();
        assert_eq!(c.version, 12);
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.nodes[1].ip, "10.80.249.27");
        assert_eq!(c.encode().as_bytes(), data);
    }

    #[test]
    fn bad_configs_are_refused() {
        for data in [&b"x\na|b|1\n"[..], b"1\na|b\n", b"1\na|b|port\n", b"1\n||1\n"] {
            assert!(parse_cluster_config(data).is_err(), "{data:?}");
        }
        assert_eq!(parse_cluster_config(b"3\n\n").unwrap().nodes, vec![]);
    }
}

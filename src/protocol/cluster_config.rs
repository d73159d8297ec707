//! ElastiCache's auto-discovery payload: the data block of `config get
//! cluster`'s reply, `<version>\n<host|ip|port> ...\n`. Sans-IO; the
//! daemon encodes it, the client parses it.

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
pub fn parse(data: &[u8]) -> Result<ClusterConfig, &'static str> {
    let bad = |why: &'static str| why;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_documented_example_parses() {
        let data = b"12\nmyCluster.pc4ldq.0001.use1.cache.amazonaws.com|10.82.235.120|11211 myCluster.pc4ldq.0002.use1.cache.amazonaws.com|10.80.249.27|11211\n";
        let c = parse(data).unwrap();
        assert_eq!(c.version, 12);
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.nodes[1].ip, "10.80.249.27");
        assert_eq!(c.encode().as_bytes(), data);
    }

    #[test]
    fn bad_configs_are_refused() {
        for data in [
            &b"x\na|b|1\n"[..],
            b"1\na|b\n",
            b"1\na|b|port\n",
            b"1\n||1\n",
        ] {
            assert!(parse(data).is_err(), "{data:?}");
        }
        assert_eq!(parse(b"3\n\n").unwrap().nodes, vec![]);
    }
}

//! ElastiCache-style auto-discovery, client side: ask a configuration
//! endpoint `config get cluster` and turn the node list into servers.

use std::time::Instant;

use super::pool::Connection;
use super::tls::TlsConfig;
use super::types::{unexpected, Addr, Error, Result, ServerSpec, Timeouts};
use crate::protocol::cluster_config::{self, ClusterConfig};
use crate::protocol::text_reply::Reply;

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
    pub fn fetch(&mut self, t: &Timeouts, tls: Option<&TlsConfig>) -> Result<ClusterConfig> {
        let mut c = Connection::connect(&self.spec.addr, t, tls)?;
        c.send(b"config get cluster\r\n")?;
        let config = c.reply(|r| match r {
            Reply::Config {
                key: b"cluster",
                data,
            } => cluster_config::parse(data)
                .map_err(|e| Error::Protocol(format!("cluster config: {e}"))),
            other => Err(unexpected(other)),
        })??;
        c.reply(|r| match r {
            Reply::End => Ok(()),
            other => Err(unexpected(other)),
        })??;
        Ok(config)
    }
}

/// Servers to connect to: the ip when given (no DNS needed), else the host
/// name.
pub(super) fn server_specs(config: &ClusterConfig) -> Vec<ServerSpec> {
    config
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
        .collect()
}

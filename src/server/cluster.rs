//! ElastiCache-style auto-discovery, server side: the node list given by
//! `-o cluster_config=FILE`, served to `config get cluster` with a version
//! that goes up each time a reload (SIGHUP) finds the list changed.

use std::io;
use std::path::PathBuf;

use parking_lot::Mutex;

use crate::protocol::cluster_config::{self, ClusterConfig};

/// The configured cluster, if any.
pub struct Cluster {
    path: Option<PathBuf>,
    current: Mutex<Option<ClusterConfig>>,
}

impl Cluster {
    /// Read the file once; a missing or malformed file is a startup error.
    pub fn load(path: Option<PathBuf>) -> io::Result<Cluster> {
        let current = match &path {
            Some(p) => Some(ClusterConfig {
                version: 1,
                nodes: read_nodes(p)?.nodes,
            }),
            None => None,
        };
        Ok(Cluster {
            path,
            current: Mutex::new(current),
        })
    }

    /// Reread the file; bump the version if the node list changed. A file
    /// that cannot be read keeps the previous configuration.
    pub fn reload(&self) {
        let Some(path) = &self.path else {
            return;
        };
        match read_nodes(path) {
            Ok(new) => {
                let mut cur = self.current.lock();
                if let Some(cur) = cur.as_mut() {
                    if cur.nodes != new.nodes {
                        cur.version += 1;
                        cur.nodes = new.nodes;
                        log::info!("cluster config reloaded: version {}", cur.version);
                    }
                }
            }
            Err(e) => log::warn!("cluster config {} not reloaded: {e}", path.display()),
        }
    }

    /// The data block of `CONFIG cluster`, or None when not configured.
    pub fn encoded(&self) -> Option<String> {
        self.current.lock().as_ref().map(ClusterConfig::encode)
    }
}

/// The file holds `host|ip|port` entries separated by spaces or newlines;
/// `#` starts a comment.
fn read_nodes(path: &PathBuf) -> io::Result<ClusterConfig> {
    let text = std::fs::read_to_string(path)?;
    let entries: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .collect();
    let data = format!("0\n{}\n", entries.join(" "));
    cluster_config::parse(data.as_bytes()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

//! `MEMCACHED_PORT_FILENAME`: memcached writes the ports it bound to the file
//! this variable names, so a harness that started it on an ephemeral port
//! (`-p -1`, `-U -1`) learns which (memcached's `t/issue_67.t` reads it).
//!
//! The format is memcached's: one line per bound socket, `TCP INET: 11211`,
//! `UDP INET6: 11211`, written to `NAME.lck` and renamed to `NAME` once
//! complete, so a reader never sees a partial file.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;

/// The environment variable memcached reads.
pub const VAR: &str = "MEMCACHED_PORT_FILENAME";

/// The file's contents for these TCP and UDP sockets.
pub fn render(tcp: &[SocketAddr], udp: &[SocketAddr]) -> String {
    let mut out = String::new();
    for (proto, addrs) in [("TCP", tcp), ("UDP", udp)] {
        for a in addrs {
            let family = if a.is_ipv4() { "INET" } else { "INET6" };
            out.push_str(&format!("{proto} {family}: {}\n", a.port()));
        }
    }
    out
}

/// Write the file named by `$MEMCACHED_PORT_FILENAME`, if set. memcached
/// appends to `NAME.lck` and only reports a failure to open it; so do we.
pub fn write_from_env(tcp: &[SocketAddr], udp: &[SocketAddr]) {
    let Some(name) = std::env::var_os(VAR) else {
        return;
    };
    if let Err(e) = write(Path::new(&name), &render(tcp, udp)) {
        log::error!("cannot write {VAR} {}: {e}", Path::new(&name).display());
    }
}

fn write(name: &Path, contents: &str) -> io::Result<()> {
    let mut tmp = name.as_os_str().to_owned();
    tmp.push(".lck");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&tmp)?;
    f.write_all(contents.as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcached_format() {
        let tcp = [
            "127.0.0.1:11211".parse().unwrap(),
            "[::1]:11212".parse().unwrap(),
        ];
        let udp = ["127.0.0.1:11213".parse().unwrap()];
        assert_eq!(
            render(&tcp, &udp),
            "TCP INET: 11211\nTCP INET6: 11212\nUDP INET: 11213\n"
        );
        assert_eq!(render(&[], &[]), "");
    }
}

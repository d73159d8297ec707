//! systemd integration without libsystemd: readiness notification (a
//! datagram to `$NOTIFY_SOCKET`, see sd_notify(3)) and socket activation
//! (descriptors from fd 3 on, named by `$LISTEN_FDS`/`$LISTEN_PID`, see
//! sd_listen_fds(3)).

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where to send `READY=1` and friends; inert when not run by systemd.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names (a path, or `@name` for an
    /// abstract socket); a no-op one when it is unset or unusable.
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|name| {
            let addr = match notify_addr(name.as_encoded_bytes()) {
                Ok(a) => a,
                Err(e) => {
                    log::warn!("NOTIFY_SOCKET {name:?} unusable: {e}");
                    return None;
                }
            };
            UnixDatagram::unbound().ok().map(|s| (s, addr))
        });
        Notifier { target }
    }

    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Send `state` (newline-separated `KEY=VALUE` lines). Failures are
    /// logged, never fatal: the service manager is a spectator here.
    pub fn notify(&self, state: &str) {
        if let Some((socket, addr)) = &self.target {
            if let Err(e) = socket.send_to_addr(state.as_bytes(), addr) {
                log::debug!("sd_notify {state:?} failed: {e}");
            }
        }
    }
}

fn notify_addr(name: &[u8]) -> io::Result<SocketAddr> {
    match name.split_first() {
        Some((b'@', abstract_name)) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name)
        }
        Some((b'/', _)) => {
            use std::os::unix::ffi::OsStrExt;
            SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(name))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "neither an absolute path nor an abstract name",
        )),
    }
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, as sd_watchdog_enabled(3)
/// recommends, when the watchdog is meant for this process.
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// A listening socket systemd handed over.
pub enum Inherited {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Take the listening sockets of socket activation (none when not socket
/// activated). Must run before any thread starts: it clears `LISTEN_FDS`
/// and `LISTEN_PID` from the environment so children do not inherit them.
pub fn take_listeners() -> io::Result<Vec<Inherited>> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut out = Vec::new();
    for i in 0..fds.len() {
        if let Ok(Some(l)) = fds.take_tcp_listener(i) {
            out.push(Inherited::Tcp(l));
        } else if let Ok(Some(l)) = fds.take_unix_listener(i) {
            out.push(Inherited::Unix(l));
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "LISTEN_FDS: descriptor {} is not a listening TCP or unix stream socket",
                    3 + i
                ),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_addresses() {
        use std::os::linux::net::SocketAddrExt;
        let a = notify_addr(b"@sd-notify").unwrap();
        assert_eq!(a.as_abstract_name(), Some(&b"sd-notify"[..]));
        let p = notify_addr(b"/run/systemd/notify").unwrap();
        assert_eq!(
            p.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        assert!(notify_addr(b"relative").is_err());
        assert!(notify_addr(b"").is_err());
    }

    #[test]
    fn notify_reaches_a_datagram_socket() {
        let dir = std::env::temp_dir().join(format!("ferrocache-sdn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            target: Some((
                UnixDatagram::unbound().unwrap(),
                SocketAddr::from_pathname(&path).unwrap(),
            )),
        };
        n.notify("READY=1\nSTATUS=up");
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=up");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

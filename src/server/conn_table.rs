//! What `stats conns` shows of each connection: the entries the listener
//! registers, the connections update and the stats report reads. It lives
//! apart from the connection itself so the report needs nothing of it.

use std::sync::atomic::{AtomicU32, AtomicU8};

/// What `stats conns` shows of a connection; shared with the stats reader.
#[derive(Debug)]
pub struct ConnInfo {
    pub fd: i32,
    pub addr: String,
    pub listen_addr: String,
    /// Relative time of the last command.
    pub last_cmd: AtomicU32,
    /// A [`ConnState`] as a byte, for `stats conns`.
    pub state: AtomicU8,
}

/// What a connection is doing, in memcached's `stats conns` words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnState {
    /// Waiting for (the rest of) a command line.
    Read = 0,
    /// Executing commands: the state of whoever asks `stats conns`.
    ParseCmd = 1,
    /// A command line arrived; its data block has not.
    Nread = 2,
    /// Replies wait for the peer to read them.
    Mwrite = 3,
}

impl ConnState {
    pub fn name(state: u8) -> &'static str {
        match state {
            1 => "conn_parse_cmd",
            2 => "conn_nread",
            3 => "conn_mwrite",
            _ => "conn_read",
        }
    }
}

/// A listening socket as `stats conns` shows it.
#[derive(Debug)]
pub struct Endpoint {
    pub fd: i32,
    pub addr: String,
    pub udp: bool,
    /// When it was opened (memcached's `last_cmd_time` for a listener).
    pub since: u32,
}

impl Endpoint {
    pub fn listening(fd: i32, addr: String, since: u32) -> Endpoint {
        Endpoint {
            fd,
            addr,
            udp: false,
            since,
        }
    }

    pub fn udp(fd: i32, addr: std::net::SocketAddr, since: u32) -> Endpoint {
        Endpoint {
            fd,
            addr: format!("udp:{addr}"),
            udp: true,
            since,
        }
    }
}

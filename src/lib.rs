pub mod client;
pub mod clock;
pub mod config;
pub mod protocol;
pub mod server;
pub mod stats;
pub mod store;

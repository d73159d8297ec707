//! Sans-IO protocol code: bytes in, typed requests out; typed replies in,
//! bytes out. Nothing here touches a socket, a lock or the store.
//!
//! Every parser follows the same contract (httparse's): it looks at the front
//! of a buffer and answers [`Status::Complete`] with the request and the
//! number of bytes it occupies, [`Status::Incomplete`] when more bytes are
//! needed, or an error naming what was invalid. Incomplete is not an error.
//!
//! This module only declares its parts and re-exports the shared vocabulary
//! of [`common`]; the parts import `common`, never this module.

pub mod admin;
pub mod binary;
pub mod cluster_config;
pub mod common;
mod kind;
pub mod meta;
mod number;
pub mod text;
pub mod text_reply;

pub use kind::CommandKind;

pub use common::{Protocol, Status, BINARY_REQUEST_MAGIC, KEY_MAX_LENGTH};

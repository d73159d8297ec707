//! The protocol front ends: each decodes its requests into the execution
//! layer's operations (`super::exec`) and encodes their outcomes in its own
//! wire format. They hold no policy and never call the store.

mod binary;
mod lines;
mod meta;
mod text;

pub use binary::{binary, binary_error};
pub use text::{text, text_refused};

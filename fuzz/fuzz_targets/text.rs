//! Text parser: see `text_invariants.rs` for what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod text_invariants;

fuzz_target!(|data: &[u8]| text_invariants::check(data));

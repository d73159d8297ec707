//! Meta commands, through the text parser (which hands `m?` lines to the
//! meta parser), with the text parser's invariants (`text_invariants.rs`;
//! meta requests have no canonical form, so no round trip).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod text_invariants;

fuzz_target!(|data: &[u8]| {
    // Steer every input into a meta command.
    let verbs: [&[u8]; 6] = [b"mg ", b"ms ", b"md ", b"ma ", b"mn", b"me "];
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut input = verbs[pick as usize % verbs.len()].to_vec();
    input.extend_from_slice(rest);
    text_invariants::check(&input)
});

//! Parse and process sequences of arbitrary frames; see
//! `flypaper::fuzz_harness` for the input format and the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    flypaper::fuzz_harness::run(data);
});

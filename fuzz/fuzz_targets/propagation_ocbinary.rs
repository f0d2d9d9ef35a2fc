#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| threadline_fuzz::propagation("ocbinary", input));

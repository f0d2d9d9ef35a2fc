#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| threadline_fuzz::otlp_proto(body));

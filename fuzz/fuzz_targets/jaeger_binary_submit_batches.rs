#![no_main]

libfuzzer_sys::fuzz_target!(|body: &[u8]| threadline_fuzz::jaeger_binary_submit_batches(body));

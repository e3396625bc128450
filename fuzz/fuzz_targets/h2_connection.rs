#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| nucleus_http::internal::fuzz_h2_connection(bytes));

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferroloop_fuzz::jws_oracle::key_pem(data));

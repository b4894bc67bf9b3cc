#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferroloop_fuzz::iam_oracle::credentials(data));

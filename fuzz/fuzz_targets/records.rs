#![no_main]
//! retrace's own records (JSON lines written by the runner or by hand).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = retrace_fuzz::place("run.jsonl", data);
    retrace_fuzz::convert(&retrace::source::records::Records, &path);
});

#![no_main]
//! Dagu status files: `status.jsonl` (1.17+) or a legacy `.dat`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let names = ["status.jsonl", "etl.20240102.030405.678Z.0a1b2c3d.dat"];
    if let Some((name, data)) = retrace_fuzz::split_name(&names, data) {
        let path = retrace_fuzz::place(name, data);
        retrace_fuzz::convert(&retrace::source::dagu::Dagu, &path);
    }
});

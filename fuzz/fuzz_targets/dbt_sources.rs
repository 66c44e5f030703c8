#![no_main]
//! dbt sources.json (source freshness, v1–v3).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = retrace_fuzz::place("sources.json", data);
    retrace_fuzz::convert(&retrace::source::dbt::Dbt, &path);
});

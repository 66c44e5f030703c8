#![no_main]
//! dbt run_results.json (schema v4–v6 and unknown ones), alone: no manifest beside it.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = retrace_fuzz::place("run_results.json", data);
    retrace_fuzz::convert(&retrace::source::dbt::Dbt, &path);
});

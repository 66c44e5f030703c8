#![no_main]
//! A fuzzed manifest.json beside a real run_results.json: names, depends_on links,
//! materializations and everything else the manifest enriches.
use libfuzzer_sys::fuzz_target;

const RUN_RESULTS: &[u8] = include_bytes!("../../fixtures/dbt/04-build/run_results.json");

fuzz_target!(|data: &[u8]| {
    let path = retrace_fuzz::place("run_results.json", RUN_RESULTS);
    retrace_fuzz::place("manifest.json", data);
    retrace_fuzz::convert(&retrace::source::dbt::Dbt, &path);
});

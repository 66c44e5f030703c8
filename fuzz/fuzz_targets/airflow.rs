#![no_main]
//! Airflow: a task attempt log (2.x text or 3.x JSON lines), REST API / CLI JSON, or scheduler
//! output; the first byte picks the file name, which is how retrace tells a task log apart.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let names = ["attempt=1.log", "dagRuns.json", "scheduler.log"];
    if let Some((name, data)) = retrace_fuzz::split_name(&names, data) {
        let path = retrace_fuzz::place(name, data);
        retrace_fuzz::convert(&retrace::source::airflow::Airflow, &path);
    }
});

#![no_main]
//! dotflow: its `flow.log` or a workflow result JSON.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let names = ["flow.log", "workflow_result.json"];
    if let Some((name, data)) = retrace_fuzz::split_name(&names, data) {
        let path = retrace_fuzz::place(name, data);
        retrace_fuzz::convert(&retrace::source::dotflow::Dotflow, &path);
    }
});

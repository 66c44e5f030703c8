#![no_main]
//! W3C traceparent + tracestate, as they come from flags, the environment or an artifact:
//! the input is `traceparent` or `traceparent\ntracestate`. A parent that parses must
//! format back to a traceparent that parses to the same ids.
use libfuzzer_sys::fuzz_target;
use retrace::trace::context;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (parent, state) = match text.split_once('\n') {
        Some((p, s)) => (p, Some(s)),
        None => (text, None),
    };
    if let Ok(tp) = context::parse(parent, state) {
        let again = context::format_traceparent(&tp.trace_id, &tp.span_id, tp.sampled);
        let back = context::parse(&again, Some(&tp.tracestate))
            .expect("a formatted traceparent and a validated tracestate parse");
        assert_eq!(
            (back.trace_id, back.span_id, back.sampled, &back.tracestate),
            (tp.trace_id, tp.span_id, tp.sampled, &tp.tracestate)
        );
    }
});

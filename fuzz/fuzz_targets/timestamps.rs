#![no_main]
//! The timestamp readers every source shares: ISO-8601 with and without a zone, and
//! zone-less local times in a named zone (DST gaps and folds included).
use libfuzzer_sys::fuzz_target;
use retrace::source::time;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = time::parse_utc(text, true);
    let _ = time::parse_utc(text, false);
    for zone in ["UTC", "America/Los_Angeles", "Europe/Berlin", "+05:30"] {
        if let Ok(zone) = time::Zone::parse(zone) {
            let _ = time::parse_in_zone(text, zone);
        }
    }
    if let Some(seconds) = text.trim().parse::<f64>().ok() {
        let _ = time::seconds_to_nanos(seconds);
    }
});

//! clap value parsers for the values several verbs take: a bad value is a usage error (exit 2)
//! with clap's own message, before anything runs.

use std::time::Duration;

use crate::record::Nanos;
use crate::source::time::{self, Zone};

/// `--tz`: local, UTC, an IANA name or an offset.
pub fn zone(text: &str) -> Result<Zone, String> {
    Zone::parse(text)
}

/// `--since`/`--until`: RFC 3339, or a UTC date `YYYY-MM-DD`.
pub fn instant(text: &str) -> Result<Nanos, String> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    time::parse_utc(&full, false).map_err(|e| format!("{e} (expected RFC 3339 or YYYY-MM-DD)"))
}

/// `--grace`, `--timeout`: `500ms`, `10s`, `2m`, or a bare number of seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    crate::sink::config::parse_duration(text).ok_or_else(|| "expected e.g. 500ms, 10s, 2m".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_midnight_and_garbage_is_refused() {
        assert_eq!(instant("1970-01-02"), Ok(86_400_000_000_000));
        assert_eq!(instant("1970-01-01T01:00:01.5+01:00"), Ok(1_500_000_000));
        assert!(instant("yesterday")
            .unwrap_err()
            .ends_with("(expected RFC 3339 or YYYY-MM-DD)"));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(duration("soon").is_err());
        assert!(zone("Mars/Olympus").is_err());
    }
}

//! Timestamp text → UTC nanoseconds, shared by the sources. Each source decides which forms
//! it accepts and what a zone-less value means; this file only does the exact conversion
//! (no float rounding: fractional digits are read as an integer).

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, TimeZone};

use crate::record::Nanos;

/// RFC 3339 / ISO 8601 with an offset (`Z`, `+00:00`, `+0000`) and 0–9 fractional digits.
/// Times before 1970 are refused like those beyond 2262: OTLP carries unsigned nanoseconds
/// since 1970, so such a time could only be sent wrong.
/// `assume_utc_if_naive`: a value without offset is read as UTC (dbt writes naive UTC);
/// otherwise it is an error (the caller resolves local times with `--tz`).
pub fn parse_utc(text: &str, assume_utc_if_naive: bool) -> Result<Nanos, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty timestamp".into());
    }
    let parsed = DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%z"))
        .map(|dt| dt.naive_utc());
    let naive = match parsed {
        Ok(n) => n,
        Err(_) => {
            let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
                .map_err(|_| format!("{t:?} is not an ISO 8601 timestamp"))?;
            if !assume_utc_if_naive {
                return Err(format!("{t:?} has no time zone"));
            }
            naive
        }
    };
    naive
        .and_utc()
        .timestamp_nanos_opt()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("{t:?} is outside the representable range (1970–2262)"))
}

/// The zone of zone-less local timestamps (Dagu legacy files, dotflow): `--tz`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Zone {
    /// The machine's zone.
    #[default]
    Local,
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    /// `local`, `UTC`, an IANA name (`Europe/Berlin`) or a fixed offset (`+09:00`).
    pub fn parse(text: &str) -> Result<Zone, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        if let Ok(tz) = t.parse::<chrono_tz::Tz>() {
            return Ok(Zone::Named(tz));
        }
        DateTime::parse_from_str(&format!("2000-01-01T00:00:00{t}"), "%Y-%m-%dT%H:%M:%S%:z")
            .map(|d| Zone::Fixed(*d.offset()))
            .map_err(|_| format!("--tz {t:?}: expected local, an IANA zone name like Europe/Berlin, or an offset like +09:00"))
    }

    /// A local wall-clock time in this zone → UTC nanoseconds. In a DST fold the earlier
    /// instant is taken; a time skipped by DST is an error.
    pub fn to_utc(self, naive: NaiveDateTime) -> Result<Nanos, String> {
        fn pick<T: TimeZone>(
            r: LocalResult<DateTime<T>>,
            naive: NaiveDateTime,
        ) -> Result<Nanos, String> {
            match r {
                LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => dt
                    .naive_utc()
                    .and_utc()
                    .timestamp_nanos_opt()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| {
                        format!("{naive} is outside the representable range (1970–2262)")
                    }),
                LocalResult::None => Err(format!(
                    "{naive} does not exist in that time zone (DST gap)"
                )),
            }
        }
        match self {
            Zone::Local => pick(chrono::Local.from_local_datetime(&naive), naive),
            Zone::Fixed(o) => pick(o.from_local_datetime(&naive), naive),
            Zone::Named(tz) => pick(tz.from_local_datetime(&naive), naive),
        }
    }
}

/// A timestamp that may be zone-less: with an offset it is exact; without, it is read as
/// wall-clock time in `zone`.
pub fn parse_in_zone(text: &str, zone: Zone) -> Result<Nanos, String> {
    match parse_utc(text, false) {
        Ok(n) => Ok(n),
        Err(e) if !e.ends_with("has no time zone") => Err(e),
        Err(_) => {
            let t = text.trim();
            let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
                .map_err(|_| format!("{t:?} is not an ISO 8601 timestamp"))?;
            zone.to_utc(naive)
        }
    }
}

/// Seconds as a float (dbt `elapsed_time`) → nanoseconds, rejecting NaN, infinities and
/// negative or absurd values.
pub fn seconds_to_nanos(seconds: f64) -> Option<Nanos> {
    if !seconds.is_finite() || !(0.0..1e9).contains(&seconds) {
        return None;
    }
    Some((seconds * 1e9).round() as Nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Nanos = 1_795_239_106_000_000_000; // 2026-11-21T05:31:46Z

    #[test]
    fn every_dbt_form_is_exact() {
        assert_eq!(parse_utc("2026-11-21T05:31:46Z", false), Ok(BASE));
        assert_eq!(
            parse_utc("2026-11-21T05:31:46.137Z", false),
            Ok(BASE + 137_000_000)
        );
        assert_eq!(
            parse_utc("2026-11-21T05:31:46.137938Z", false),
            Ok(BASE + 137_938_000)
        );
        assert_eq!(
            parse_utc("2026-11-21T05:31:46.137938123Z", false),
            Ok(BASE + 137_938_123)
        );
        assert_eq!(
            parse_utc("2026-11-21T05:31:46.137938+00:00", false),
            Ok(BASE + 137_938_000)
        );
        assert_eq!(
            parse_utc("2026-11-21T07:31:46.137938+0200", false),
            Ok(BASE + 137_938_000)
        );
        assert_eq!(
            parse_utc("2026-11-21T05:31:46.137938", true),
            Ok(BASE + 137_938_000)
        );
    }

    #[test]
    fn garbage_and_out_of_range_are_errors() {
        assert!(parse_utc("2026-11-21T05:31:46.137938", false).is_err());
        assert!(parse_utc("yesterday", true).is_err());
        assert!(parse_utc("", true).is_err());
        assert!(parse_utc("9999-12-31T23:59:59Z", true).is_err());
        assert!(parse_utc("0000-01-01T00:00:00Z", true).is_err());
        assert!(parse_utc("1969-12-31T23:59:59.999999999Z", true).is_err());
        assert_eq!(parse_utc("1970-01-01T00:00:00Z", true), Ok(0));
        assert!(Zone::parse("UTC")
            .unwrap()
            .to_utc(
                NaiveDateTime::parse_from_str("1900-01-01 00:00:00", "%Y-%m-%d %H:%M:%S").unwrap()
            )
            .is_err());
        assert!(parse_utc("2026-13-01T00:00:00Z", true).is_err());
    }

    #[test]
    fn zones() {
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        assert_eq!(parse_in_zone("2026-11-21T06:31:46", berlin), Ok(BASE));
        assert_eq!(
            parse_in_zone("2026-11-21 14:31:46", Zone::parse("+09:00").unwrap()),
            Ok(BASE)
        );
        assert_eq!(
            parse_in_zone("2026-11-21T05:31:46Z", berlin),
            Ok(BASE),
            "an offset wins over --tz"
        );
        assert_eq!(
            parse_in_zone("2026-11-21T05:31:46", Zone::parse("UTC").unwrap()),
            Ok(BASE)
        );
        assert!(
            parse_in_zone("2026-03-29T02:30:00", berlin).is_err(),
            "DST gap"
        );
        assert!(Zone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn float_seconds() {
        assert_eq!(seconds_to_nanos(2.1065337657928467), Some(2_106_533_766));
        assert_eq!(seconds_to_nanos(f64::NAN), None);
        assert_eq!(seconds_to_nanos(-1.0), None);
    }
}

//! The value syntaxes of export settings: durations, `k=v` lists (W3C Baggage style, as the
//! OTEL_* variables write them), `KEY=VALUE` flags, and merging by key.

use std::time::Duration;

use crate::sink::SinkError;

/// `500ms`, `10s`, `2m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (number, unit) = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((t, ""), |i| t.split_at(i));
    let n: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    (seconds.is_finite() && seconds > 0.0 && seconds < 86_400.0)
        .then(|| Duration::from_secs_f64(seconds))
}

pub(super) fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

/// Percent-decoding for W3C Baggage-style lists (OTEL_EXPORTER_OTLP_HEADERS,
/// OTEL_RESOURCE_ATTRIBUTES).
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = digits.and_then(|d| u8::from_str_radix(d, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `k1=v1,k2=v2` (values percent-decoded). Entries without `=` are reported by key only.
pub(super) fn parse_list(text: &str, origin: &str) -> Result<Vec<(String, String)>, SinkError> {
    text.split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_owned(), percent_decode(v.trim())))
            }
            _ => Err(SinkError::Config(format!(
                "{origin}: entry without key=value"
            ))),
        })
        .collect()
}

pub(super) fn parse_pair(text: &str, flag: &str) -> Result<(String, String), SinkError> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        // Never echo the value: it may be a secret.
        _ => Err(SinkError::Config(format!("{flag} expects KEY=VALUE"))),
    }
}

pub(super) fn merge(
    into: &mut Vec<(String, String)>,
    pairs: Vec<(String, String)>,
    case_insensitive: bool,
) {
    for (k, v) in pairs {
        let same = |existing: &String| {
            if case_insensitive {
                existing.eq_ignore_ascii_case(&k)
            } else {
                *existing == k
            }
        };
        match into.iter_mut().find(|(e, _)| same(e)) {
            Some(slot) => slot.1 = v,
            None => into.push((k, v)),
        }
    }
}

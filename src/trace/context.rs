//! W3C Trace Context: `traceparent`/`tracestate` parsing, formatting, and where a parent comes
//! from (flag or carrier file > environment carrier > artifact).

use std::fmt;

/// A validated parent context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// Only the `sampled` bit is defined for version 00; unknown bits are dropped.
    pub sampled: bool,
    /// Validated tracestate text (empty when none).
    pub tracestate: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContextError {
    #[error("traceparent {value:?} is not valid: {reason}")]
    Traceparent { value: String, reason: &'static str },
    #[error("tracestate {value:?} is not valid W3C tracestate: {reason}")]
    Tracestate { value: String, reason: &'static str },
}

/// Which source held a context, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContextOrigin {
    Flag,
    /// `--traceparent-from`: the carrier's file name (`-` for stdin).
    Carrier(String),
    Env,
    Artifact(String),
}

impl fmt::Display for ContextOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextOrigin::Flag => f.write_str("--traceparent/--tracestate"),
            ContextOrigin::Carrier(file) => write!(f, "the carrier {file} (--traceparent-from)"),
            ContextOrigin::Env => f.write_str("environment variable TRACEPARENT/TRACESTATE"),
            ContextOrigin::Artifact(where_) => f.write_str(where_),
        }
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex_to<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("checked hex");
    }
    out
}

/// Validates a `tracestate` per W3C Trace Context level 1 and returns its canonical form
/// (members trimmed, empty members dropped). Checked here rather than by the SDK's
/// `TraceState`, which accepts control characters in values (found by fuzzing): this text
/// goes into child processes' environment and onto the wire.
fn canonical_tracestate(text: &str) -> Result<String, &'static str> {
    const MAX_MEMBERS: usize = 32;
    let mut members: Vec<&str> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for member in text.split(',') {
        let member = member.trim_matches(|c| c == ' ' || c == '\t');
        if member.is_empty() {
            continue;
        }
        let (key, value) = member.split_once('=').ok_or("a member without key=value")?;
        if !is_tracestate_key(key) {
            return Err("a key must be lower-case letters, digits, _-*/ (and one @), at most 256 characters");
        }
        let value_ok = !value.is_empty()
            && value.len() <= 256
            && value
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
            && !value.ends_with(' ');
        if !value_ok {
            return Err("a value must be 1-256 printable ASCII characters without , or =");
        }
        if keys.contains(&key) {
            return Err("a key appears twice");
        }
        keys.push(key);
        members.push(member);
    }
    if members.len() > MAX_MEMBERS {
        return Err("more than 32 members");
    }
    Ok(members.join(","))
}

/// `simple-key` or `tenant-id@system-id`.
fn is_tracestate_key(key: &str) -> bool {
    let part = |s: &str, max: usize, first_digit_ok: bool| {
        let mut bytes = s.bytes();
        let first_ok = match bytes.next() {
            Some(b) => b.is_ascii_lowercase() || (first_digit_ok && b.is_ascii_digit()),
            None => false,
        };
        first_ok
            && s.len() <= max
            && bytes.all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'-' | b'*' | b'/')
            })
    };
    match key.split_once('@') {
        None => part(key, 256, false),
        Some((tenant, system)) => part(tenant, 241, true) && part(system, 14, false),
    }
}

/// Parses a `traceparent` (and optional `tracestate`) per W3C Trace Context level 1.
pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Result<TraceParent, ContextError> {
    let bad = |reason| ContextError::Traceparent {
        value: traceparent.to_owned(),
        reason,
    };
    let text = traceparent.trim_matches(|c| c == ' ' || c == '\t');
    let fields: Vec<&str> = text.split('-').collect();
    if fields.len() < 4 {
        return Err(bad("expected version-traceid-parentid-flags"));
    }
    let (version, trace_hex, span_hex, flags_hex) = (fields[0], fields[1], fields[2], fields[3]);
    if version.len() != 2 || !is_lower_hex(version) {
        return Err(bad("version must be 2 lower-case hex digits"));
    }
    if version == "ff" {
        return Err(bad("version ff is forbidden"));
    }
    if version == "00" && fields.len() != 4 {
        return Err(bad("version 00 has exactly 4 fields"));
    }
    if trace_hex.len() != 32 || !is_lower_hex(trace_hex) {
        return Err(bad("trace id must be 32 lower-case hex digits"));
    }
    if span_hex.len() != 16 || !is_lower_hex(span_hex) {
        return Err(bad("parent id must be 16 lower-case hex digits"));
    }
    if flags_hex.len() != 2 || !is_lower_hex(flags_hex) {
        return Err(bad("flags must be 2 lower-case hex digits"));
    }
    let trace_id: [u8; 16] = hex_to(trace_hex);
    let span_id: [u8; 8] = hex_to(span_hex);
    if trace_id == [0; 16] {
        return Err(bad("trace id is all zeros"));
    }
    if span_id == [0; 8] {
        return Err(bad("parent id is all zeros"));
    }
    let flags = u8::from_str_radix(flags_hex, 16).expect("checked hex");
    let tracestate = match tracestate.map(str::trim).filter(|s| !s.is_empty()) {
        None => String::new(),
        Some(ts) => canonical_tracestate(ts).map_err(|reason| ContextError::Tracestate {
            value: ts.to_owned(),
            reason,
        })?,
    };
    Ok(TraceParent {
        trace_id,
        span_id,
        sampled: flags & 0x01 == 1,
        tracestate,
    })
}

/// Formats a version-00 `traceparent` header for a span.
pub fn format_traceparent(trace_id: &[u8; 16], span_id: &[u8; 8], sampled: bool) -> String {
    format!(
        "00-{}-{}-{:02x}",
        hex(trace_id),
        hex(span_id),
        u8::from(sampled)
    )
}

pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The parent given to this process, by flag or by the environment carrier
/// (`TRACEPARENT`/`TRACESTATE`, OTel "environment variables as context propagation carriers").
/// Empty values count as unset: CI systems often export empty variables.
#[derive(Clone, Debug, Default)]
pub struct InjectedContext {
    pub flag_traceparent: Option<String>,
    pub flag_tracestate: Option<String>,
    /// `--traceparent-from`: where the carrier was read, and what it held.
    pub carrier: Option<(String, crate::trace::carrier::CarrierText)>,
    pub env_traceparent: Option<String>,
    pub env_tracestate: Option<String>,
}

impl InjectedContext {
    pub fn from_env(flag_traceparent: Option<String>, flag_tracestate: Option<String>) -> Self {
        let env = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        InjectedContext {
            flag_traceparent: flag_traceparent.filter(|v| !v.trim().is_empty()),
            flag_tracestate,
            carrier: None,
            env_traceparent: env("TRACEPARENT"),
            env_tracestate: env("TRACESTATE"),
        }
    }

    /// The injected parent, if any: flag (or carrier file) first, then environment.
    pub fn resolve(&self) -> Result<Option<TraceParent>, (ContextOrigin, ContextError)> {
        if let Some(tp) = &self.flag_traceparent {
            return parse(tp, self.flag_tracestate.as_deref())
                .map(Some)
                .map_err(|e| (ContextOrigin::Flag, e));
        }
        if let Some((file, carrier)) = &self.carrier {
            return parse(&carrier.traceparent, carrier.tracestate.as_deref())
                .map(Some)
                .map_err(|e| (ContextOrigin::Carrier(file.clone()), e));
        }
        if let Some(tp) = &self.env_traceparent {
            return parse(tp, self.env_tracestate.as_deref())
                .map(Some)
                .map_err(|e| (ContextOrigin::Env, e));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_a_valid_traceparent() {
        let p = parse(TP, Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")).unwrap();
        assert_eq!(hex(&p.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&p.span_id), "00f067aa0ba902b7");
        assert!(p.sampled);
        assert_eq!(p.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
        assert_eq!(format_traceparent(&p.trace_id, &p.span_id, p.sampled), TP);
    }

    #[test]
    fn unsampled_and_unknown_flag_bits() {
        assert!(!parse(&TP.replace("-01", "-00"), None).unwrap().sampled);
        assert!(parse(&TP.replace("-01", "-03"), None).unwrap().sampled);
    }

    #[test]
    fn surrounding_whitespace_is_allowed() {
        assert!(parse(&format!("  {TP}\t"), None).is_ok());
    }

    #[test]
    fn rejects_what_w3c_rejects() {
        let cases = [
            TP.to_uppercase(),
            TP.replace(
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "00000000000000000000000000000000",
            ),
            TP.replace("00f067aa0ba902b7", "0000000000000000"),
            TP.replacen("00-", "ff-", 1),
            format!("{TP}-extra"),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7".to_owned(),
            TP.replace("4bf92f", "4bf92"),
            TP.replace("-01", "-1"),
            TP.replace("-01", "-0g"),
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
            String::new(),
            "garbage".to_owned(),
        ];
        for c in cases {
            assert!(parse(&c, None).is_err(), "{c:?} should be rejected");
        }
    }

    #[test]
    fn future_versions_may_carry_more_fields() {
        let p = parse(&format!("{}-what-ever", TP.replacen("00-", "01-", 1)), None).unwrap();
        assert_eq!(hex(&p.span_id), "00f067aa0ba902b7");
    }

    #[test]
    fn bad_tracestate_is_an_error_not_silently_dropped() {
        for (bad, reason) in [
            ("BAD KEY=1,,", "a key must be"),
            ("a=1\nb=2", "a value must be"),
            ("a=x\u{0}y", "a value must be"),
            ("a=1,a=2", "a key appears twice"),
            ("novalue", "a member without key=value"),
            ("a=", "a value must be"),
        ] {
            let err = parse(TP, Some(bad)).unwrap_err();
            assert!(
                matches!(&err, ContextError::Tracestate { reason: r, .. } if r.starts_with(reason)),
                "{bad:?}: {err}"
            );
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(parse(TP, Some(&many.join(","))).is_err());
    }

    #[test]
    fn tracestate_is_kept_in_canonical_form() {
        let p = parse(
            TP,
            Some(" rojo=00f067aa0ba902b7 ,, congo=t61rcWkgMzE,t@vendor=x "),
        )
        .unwrap();
        assert_eq!(
            p.tracestate,
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,t@vendor=x"
        );
        assert_eq!(
            parse(TP, Some(&p.tracestate)).unwrap().tracestate,
            p.tracestate
        );
    }

    #[test]
    fn flag_beats_env_and_names_its_origin() {
        let ctx = InjectedContext {
            flag_traceparent: Some("nope".into()),
            env_traceparent: Some(TP.into()),
            ..Default::default()
        };
        let (origin, _) = ctx.resolve().unwrap_err();
        assert_eq!(origin, ContextOrigin::Flag);
        let ctx = InjectedContext {
            env_traceparent: Some(TP.into()),
            ..Default::default()
        };
        assert_eq!(
            hex(&ctx.resolve().unwrap().unwrap().trace_id),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }
}

//! Trace context across batch boundaries, as JSON carriers (the seed guide's Kafka headers, S3
//! object metadata, Airflow XCom): read one for `--traceparent-from`, write one for
//! `--carrier-out`.
//!
//! Read: an object with `traceparent`/`tracestate` (keys in any case; also `otel-` and
//! `x-amz-meta-` prefixed, as S3 metadata holds them; also inside a `Metadata` object, as
//! `aws s3api head-object` prints it), or a list of `[key, value]` pairs or
//! `{"key": …, "value": …}` objects, as a Kafka consumer dumps its headers (a value may be a
//! string or a list of bytes; the first match wins, as OTel's Kafka instrumentations take it).
//! Written: `{"traceparent": "…", "tracestate": "…"}`, tracestate only when there is one —
//! what `TraceContextTextMapPropagator.inject` puts into a dict.

use serde_json::{Map, Value};

/// The context a carrier holds, as text (validated by `context::parse` afterwards).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarrierText {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

const PREFIXES: &[&str] = &["", "otel-", "x-amz-meta-"];

/// The context in a carrier's JSON text, or what is wrong with it. A file of carriers, one per
/// line (`--carrier-out` of several runs), gives its first.
pub fn read(text: &str) -> Result<CarrierText, String> {
    let value: Value = serde_json::from_str(text)
        .or_else(|e| {
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default();
            serde_json::from_str(first).map_err(|_| e)
        })
        .map_err(|e| format!("not a JSON carrier: {e}"))?;
    let found = match &value {
        Value::Object(map) => from_object(map).or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("metadata"))
                .and_then(|(_, v)| v.as_object())
                .and_then(from_object)
        }),
        Value::Array(pairs) => from_pairs(pairs),
        _ => return Err("expected a JSON object or a list of [key, value] pairs".into()),
    };
    found.ok_or_else(|| {
        "no traceparent in it (looked for traceparent, otel-traceparent and \
         x-amz-meta-traceparent, in any case)"
            .into()
    })
}

/// The carrier JSON of a context.
pub fn write(traceparent: &str, tracestate: &str) -> String {
    let mut map = Map::new();
    map.insert("traceparent".into(), traceparent.into());
    if !tracestate.is_empty() {
        map.insert("tracestate".into(), tracestate.into());
    }
    Value::Object(map).to_string()
}

fn from_object(map: &Map<String, Value>) -> Option<CarrierText> {
    let get = |name: &str| {
        PREFIXES.iter().find_map(|prefix| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&format!("{prefix}{name}")))
                .and_then(|(_, v)| text(v))
        })
    };
    Some(CarrierText {
        traceparent: get("traceparent")?,
        tracestate: get("tracestate"),
    })
}

fn from_pairs(pairs: &[Value]) -> Option<CarrierText> {
    let entries: Vec<(&str, String)> = pairs
        .iter()
        .filter_map(|pair| match pair {
            Value::Array(kv) if kv.len() == 2 => Some((kv[0].as_str()?, text(&kv[1])?)),
            Value::Object(o) => Some((o.get("key")?.as_str()?, text(o.get("value")?)?)),
            _ => None,
        })
        .collect();
    let get = |name: &str| {
        PREFIXES.iter().find_map(|prefix| {
            entries
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&format!("{prefix}{name}")))
                .map(|(_, v)| v.clone())
        })
    };
    Some(CarrierText {
        traceparent: get("traceparent")?,
        tracestate: get("tracestate"),
    })
}

/// A value as text: a string, or bytes written as a list of numbers.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(bytes) => {
            let bytes: Option<Vec<u8>> = bytes
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            String::from_utf8(bytes?).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn found(text: &str) -> (String, Option<String>) {
        let c = read(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (c.traceparent, c.tracestate)
    }

    #[test]
    fn an_xcom_dict_s3_metadata_and_kafka_headers() {
        let expected = (TP.to_owned(), Some("congo=t61".to_owned()));
        assert_eq!(
            found(&format!(
                r#"{{"traceparent":"{TP}","tracestate":"congo=t61"}}"#
            )),
            expected
        );
        assert_eq!(
            found(&format!(
                r#"{{"otel-traceparent":"{TP}","otel-tracestate":"congo=t61","other":"x"}}"#
            )),
            expected
        );
        assert_eq!(
            found(&format!(
                r#"{{"ContentLength":3,"Metadata":{{"X-Amz-Meta-Traceparent":"{TP}","x-amz-meta-tracestate":"congo=t61"}}}}"#
            )),
            expected
        );
        assert_eq!(
            found(&format!(
                r#"[["content-type","json"],["traceparent","{TP}"],["tracestate","congo=t61"],["traceparent","00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01"]]"#
            )),
            expected
        );
        let bytes: Vec<String> = TP.bytes().map(|b| b.to_string()).collect();
        assert_eq!(
            found(&format!(
                r#"[{{"key":"traceparent","value":[{}]}}]"#,
                bytes.join(",")
            )),
            (TP.to_owned(), None)
        );
    }

    #[test]
    fn written_as_a_propagator_injects_it() {
        assert_eq!(write(TP, ""), format!(r#"{{"traceparent":"{TP}"}}"#));
        assert_eq!(
            write(TP, "a=b"),
            format!(r#"{{"traceparent":"{TP}","tracestate":"a=b"}}"#)
        );
        assert_eq!(found(&write(TP, "a=b")).1.as_deref(), Some("a=b"));
    }

    #[test]
    fn a_file_of_carriers_gives_its_first() {
        let two = format!(
            "{}\n{}\n",
            write(TP, ""),
            write(&TP.replace("-01", "-00"), "")
        );
        assert_eq!(found(&two), (TP.to_owned(), None));
    }

    #[test]
    fn what_is_not_a_carrier() {
        assert!(read("traceparent=x")
            .unwrap_err()
            .starts_with("not a JSON carrier"));
        assert_eq!(
            read("42").unwrap_err(),
            "expected a JSON object or a list of [key, value] pairs"
        );
        assert!(read(r#"{"tp":"x"}"#)
            .unwrap_err()
            .starts_with("no traceparent"));
    }
}

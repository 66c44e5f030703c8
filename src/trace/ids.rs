//! Deterministic ids (ARCHITECTURE.md, "Ids"). A public contract: converting the same artifact twice gives
//! the same ids, so a backend can dedupe and a re-sent spool never duplicates. Pinned by the
//! golden tests below; change them only with a new version tag.
//!
//! Encoding: SHA-256 over a tuple of byte strings, each prefixed with its length as a
//! big-endian u64, the first field being the version tag `retrace/v1`.
//! - trace id = first 16 bytes of H("retrace/v1", "trace", system, run_id)
//! - span id  = first 8 bytes of H("retrace/v1", "span", trace_id (16 raw bytes), system,
//!   run_id, step_id, attempt as decimal ASCII); the run's root span has step_id "" and
//!   attempt "0".
//!
//! With a namespace (`--namespace`, for two deployments whose run ids may coincide), its
//! text is appended as one more field to both tuples; without one the tuples are as above.
//!
//! An all-zero result (invalid in OTel) is re-hashed with the previous digest appended.

use sha2::{Digest, Sha256};

const VERSION_TAG: &[u8] = b"retrace/v1";

fn hash_tuple(fields: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f);
    }
    h.finalize().into()
}

fn non_zero<const N: usize>(fields: &[&[u8]]) -> [u8; N] {
    let mut digest = hash_tuple(fields);
    loop {
        let mut out = [0u8; N];
        out.copy_from_slice(&digest[..N]);
        if out != [0u8; N] {
            return out;
        }
        let mut again: Vec<&[u8]> = fields.to_vec();
        again.push(&digest);
        digest = hash_tuple(&again);
    }
}

/// Trace id of a run that has no parent context and no native 16-byte id.
pub fn trace_id(system: &str, run_id: &str, namespace: &str) -> [u8; 16] {
    let mut fields: Vec<&[u8]> = vec![VERSION_TAG, b"trace", system.as_bytes(), run_id.as_bytes()];
    if !namespace.is_empty() {
        fields.push(namespace.as_bytes());
    }
    non_zero(&fields)
}

/// Span id of a step (`step_id` "" and `attempt` 0 for the run's root span).
pub fn span_id(
    trace_id: &[u8; 16],
    system: &str,
    run_id: &str,
    step_id: &str,
    attempt: u32,
    namespace: &str,
) -> [u8; 8] {
    let attempt = attempt.to_string();
    let mut fields: Vec<&[u8]> = vec![
        VERSION_TAG,
        b"span",
        trace_id,
        system.as_bytes(),
        run_id.as_bytes(),
        step_id.as_bytes(),
        attempt.as_bytes(),
    ];
    if !namespace.is_empty() {
        fields.push(namespace.as_bytes());
    }
    non_zero(&fields)
}

/// The 16 bytes of a UUID in its canonical (hyphenated or not) hex form, if it is one and
/// not all-zero. dbt's invocation_id is a uuid4; dbt Fusion uses the same bytes as trace id.
pub fn uuid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let groups: Vec<usize> = text.split('-').map(str::len).collect();
    if groups.len() != 1 && groups != [8, 4, 4, 4, 12] {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    (out != [0; 16]).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::context::hex;

    // Golden values (computed independently with Python's hashlib): a change here changes
    // every id retrace has ever sent.
    #[test]
    fn golden_trace_id() {
        assert_eq!(
            hex(&trace_id(
                "airflow",
                "manual__2026-11-21T05:40:00+00:00",
                ""
            )),
            "47a66a9ce20dfd06c20973b060118fa7"
        );
    }

    #[test]
    fn golden_span_ids() {
        let t = uuid_bytes("c8eb10b8-91ff-4a5e-a843-fa04e6e63990").unwrap();
        assert_eq!(hex(&t), "c8eb10b891ff4a5ea843fa04e6e63990");
        assert_eq!(
            hex(&span_id(
                &t,
                "dbt",
                "c8eb10b8-91ff-4a5e-a843-fa04e6e63990",
                "",
                0,
                ""
            )),
            "78132ea5754df20c"
        );
        assert_eq!(
            hex(&span_id(
                &t,
                "dbt",
                "c8eb10b8-91ff-4a5e-a843-fa04e6e63990",
                "model.pedal_share.stg_rides",
                1,
                ""
            )),
            "c7e999a91f0dc455"
        );
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        let t = [1u8; 16];
        assert_ne!(
            span_id(&t, "ab", "c", "", 0, ""),
            span_id(&t, "a", "bc", "", 0, "")
        );
        assert_ne!(
            span_id(&t, "dbt", "r", "x", 1, ""),
            span_id(&t, "dbt", "r", "x", 2, "")
        );
    }

    #[test]
    fn a_namespace_salts_derived_ids() {
        assert_ne!(
            trace_id("airflow", "r", ""),
            trace_id("airflow", "r", "prod")
        );
        assert_ne!(
            trace_id("airflow", "r", "prod"),
            trace_id("airflow", "r", "staging")
        );
        let t = [1u8; 16];
        assert_ne!(
            span_id(&t, "dbt", "r", "x", 1, ""),
            span_id(&t, "dbt", "r", "x", 1, "prod")
        );
    }

    #[test]
    fn uuid_parsing() {
        assert!(uuid_bytes("c8eb10b891ff4a5ea843fa04e6e63990").is_some());
        assert!(uuid_bytes("c8eb10b8-91ff-4a5e-a843-fa04e6e6399").is_none());
        assert!(uuid_bytes("c8eb-10b891ff-4a5e-a843-fa04e6e63990").is_none());
        assert!(uuid_bytes("00000000-0000-0000-0000-000000000000").is_none());
        assert!(uuid_bytes("not a uuid").is_none());
    }
}

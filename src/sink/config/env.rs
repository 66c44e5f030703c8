//! The OTEL_* environment, read once at start-up so that resolution is a pure function.

use std::collections::BTreeMap;

/// The OTEL_* variables that matter, read once at start-up.
#[derive(Clone, Debug, Default)]
pub struct EnvSnapshot(pub BTreeMap<String, String>);

/// Variables the OTLP exporter crate would also read on its own; retrace resolves them
/// itself and removes them from its environment so the crate cannot merge them a second time
/// (it lets env headers override builder headers, which would break flag precedence).
const EXPORTER_VARS: &[&str] = &[
    "ENDPOINT",
    "HEADERS",
    "PROTOCOL",
    "TIMEOUT",
    "INSECURE",
    "CERTIFICATE",
    "COMPRESSION",
    "CLIENT_KEY",
    "CLIENT_CERTIFICATE",
];

impl EnvSnapshot {
    /// Reads the OTEL_* variables and removes the exporter ones from this process's
    /// environment. Call once, at start-up, before any thread exists.
    pub fn take() -> EnvSnapshot {
        let vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("OTEL_"))
            .collect();
        for suffix in EXPORTER_VARS {
            for prefix in ["OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_"] {
                std::env::remove_var(format!("{prefix}{suffix}"));
            }
        }
        EnvSnapshot(vars)
    }

    /// A variable for `${VAR}` expansion: the OTEL_* ones retrace took out of its own
    /// environment, then the environment.
    pub(super) fn variable(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    }

    pub(super) fn get(&self, name: &str) -> Option<(&str, String)> {
        self.0
            .get_key_value(name)
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.as_str(), v.clone()))
    }

    /// The snapshot as the metrics signal sees it: `OTEL_EXPORTER_OTLP_METRICS_<X>` in the
    /// place of the traces variables (which do not apply to metrics).
    pub(super) fn for_metrics(&self) -> EnvSnapshot {
        let mut vars: BTreeMap<String, String> = self
            .0
            .iter()
            .filter(|(k, _)| !k.starts_with("OTEL_EXPORTER_OTLP_TRACES_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in &self.0 {
            if let Some(suffix) = k.strip_prefix("OTEL_EXPORTER_OTLP_METRICS_") {
                vars.insert(format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}"), v.clone());
            }
        }
        EnvSnapshot(vars)
    }

    /// `OTEL_EXPORTER_OTLP_TRACES_<X>`, else `OTEL_EXPORTER_OTLP_<X>`, with the variable's name.
    pub(super) fn exporter_var(&self, suffix: &str) -> Option<(String, String)> {
        self.get(&format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}"))
            .or_else(|| self.get(&format!("OTEL_EXPORTER_OTLP_{suffix}")))
            .map(|(k, v)| (k.to_owned(), v))
    }
}

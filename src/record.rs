//! The neutral record model: every source produces it, the runner writes it, `trace/` consumes
//! only it. Nothing format-specific lives here.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// UTC nanoseconds since the Unix epoch.
pub type Nanos = i64;

/// Attribute keys are mostly static strings (see `trace::semconv`); a few are built per key
/// (e.g. `dbt.env.<NAME>`).
pub type AttrKey = Cow<'static, str>;

/// A value of an attribute. Non-finite floats are turned into strings before export.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AttrValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    StrList(Vec<String>),
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        AttrValue::Str(v.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        AttrValue::Str(v)
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        AttrValue::Int(v)
    }
}
impl From<f64> for AttrValue {
    fn from(v: f64) -> Self {
        AttrValue::Float(v)
    }
}
impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        AttrValue::Bool(v)
    }
}
impl From<Vec<String>> for AttrValue {
    fn from(v: Vec<String>) -> Self {
        AttrValue::StrList(v)
    }
}

/// Read by hand rather than `untagged`, so a wrong value names what was expected instead of
/// serde's "did not match any variant".
impl<'de> Deserialize<'de> for AttrValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AttrValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number, boolean or list of strings")
            }
            fn visit_bool<E>(self, v: bool) -> Result<AttrValue, E> {
                Ok(AttrValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<AttrValue, E> {
                Ok(AttrValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AttrValue, E> {
                i64::try_from(v).map(AttrValue::Int).map_err(|_| {
                    E::custom(format_args!(
                        "integer {v} is beyond the 64-bit signed range"
                    ))
                })
            }
            fn visit_f64<E>(self, v: f64) -> Result<AttrValue, E> {
                Ok(AttrValue::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<AttrValue, E> {
                Ok(AttrValue::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<AttrValue, E> {
                Ok(AttrValue::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AttrValue, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(item) = seq.next_element::<String>()? {
                    out.push(item);
                }
                Ok(AttrValue::StrList(out))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Ordered attribute list; order is kept so output is stable. Serialised as a JSON object
/// whose key order is the list's order (and read back in document order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attributes(pub Vec<(AttrKey, AttrValue)>);

impl Serialize for Attributes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_ref(), v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Attributes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of attributes")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<Attributes, A::Error> {
                let mut read = Vec::with_capacity(access.size_hint().unwrap_or(0));
                while let Some(key) = access.next_key::<String>()? {
                    // null means "not recorded", as for the records' optional fields.
                    let value = access.next_value::<Option<AttrValue>>().map_err(|e| {
                        serde::de::Error::custom(format_args!("attribute {key:?}: {e}"))
                    })?;
                    if let Some(value) = value {
                        read.push((AttrKey::Owned(key), value));
                    }
                }
                let mut out = Attributes::default();
                out.merge(read);
                Ok(out)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl Attributes {
    pub fn put(&mut self, key: impl Into<AttrKey>, value: impl Into<AttrValue>) {
        self.0.push((key.into(), value.into()));
    }
    /// Adds the attribute only when a value is present.
    pub fn put_opt<V: Into<AttrValue>>(&mut self, key: impl Into<AttrKey>, value: Option<V>) {
        if let Some(v) = value {
            self.put(key, v);
        }
    }
    /// Sets each of `other`'s attributes, replacing an earlier value of the same key in place:
    /// OTLP keys must be unique, and a repeated key in a hand-written record means "this one"
    /// (JSON's last-wins). Indexed, so a record with 100,000 attributes stays linear.
    pub fn merge(&mut self, other: impl IntoIterator<Item = (AttrKey, AttrValue)>) {
        let mut at: rustc_hash::FxHashMap<AttrKey, usize> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        for (key, value) in other {
            match at.get(&key) {
                Some(&i) => self.0[i].1 = value,
                None => {
                    at.insert(key.clone(), self.0.len());
                    self.0.push((key, value));
                }
            }
        }
    }
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn iter(&self) -> impl Iterator<Item = &(AttrKey, AttrValue)> {
        self.0.iter()
    }
}

/// The CI/CD semantic-convention result values (`cicd.pipeline.result`,
/// `cicd.pipeline.task.run.result`), plus `Unknown` for statuses we do not recognise: those
/// are kept verbatim in the system's own status attribute and get no result value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Error,
    Timeout,
    Cancellation,
    Skip,
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Cancellation => "cancellation",
            Outcome::Skip => "skip",
            Outcome::Unknown => return None,
        })
    }
    /// failure, error and timeout are errors in the span status.
    pub fn is_error(self) -> bool {
        matches!(self, Outcome::Failure | Outcome::Error | Outcome::Timeout)
    }
    /// How bad an outcome is, to roll steps up into a run result.
    pub fn severity(self) -> u8 {
        match self {
            Outcome::Success | Outcome::Skip | Outcome::Unknown => 0,
            Outcome::Cancellation => 1,
            Outcome::Failure => 2,
            Outcome::Timeout => 3,
            Outcome::Error => 4,
        }
    }
}

/// Where a step's times came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeSource {
    /// Read from the artifact.
    #[default]
    Recorded,
    /// Placed by retrace because the artifact recorded none (see `trace::build`).
    Derived,
    /// Recorded without a date or zone (a text log's time of day): dated and zoned by retrace
    /// from something recorded (an artifact, a file's modification time) and `--tz`.
    Inferred,
}

/// A W3C trace context found in an artifact (still unparsed text: `trace::context` validates it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentText {
    pub traceparent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
    /// Where it was found, for error messages (e.g. `metadata.env.TRACEPARENT`).
    pub origin: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub time: Nanos,
    pub name: String,
    #[serde(default)]
    pub attributes: Attributes,
}

/// One execution of a pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// dbt | airflow | dagu | dotflow | retrace
    pub system: String,
    /// The system's own id of this run (dbt invocation_id, Airflow run_id …).
    pub run_id: String,
    /// The root span's name (e.g. `dbt build`).
    pub name: String,
    /// The pipeline's name (`cicd.pipeline.name`).
    pub pipeline_name: String,
    pub start: Option<Nanos>,
    pub end: Option<Nanos>,
    pub outcome: Outcome,
    /// Status message for the root span when the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentText>,
    /// A 16-byte id the system itself uses as trace id (a dbt invocation_id is a UUID); used
    /// when no parent context is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_trace_id: Option<[u8; 16]>,
    /// The root span's id as the system itself derives it (GitHub Actions, so a run received
    /// live by the Collector and converted later is one trace); None: retrace's derivation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_span_id: Option<[u8; 8]>,
    /// Resource attributes the run itself declared (a workflow's `otel.resource`), under
    /// the ones the export settings give: one per key, `service.name` included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<(String, String)>,
    #[serde(default)]
    pub attributes: Attributes,
    /// Events of the run's own span (what `exec`'s command reported through `$RETRACE_SPAN`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// One unit of work in a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Unique within the run (dbt unique_id, Airflow task_id[map_index], Dagu step name).
    pub id: String,
    /// The span name.
    pub name: String,
    /// Another step's id (attempts under a task, phases of a node); None = under the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub attempt: u32,
    pub start: Option<Nanos>,
    pub end: Option<Nanos>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `error.type` when the step failed; None = derived from the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(default)]
    pub events: Vec<Event>,
    /// Ids of other steps of the same run this one depends on (become span links).
    #[serde(default)]
    pub links: Vec<String>,
    /// Contexts outside the run this step links to: a caller's `traceparent` the artifact
    /// recorded for this step (a Spark job's local properties). An invalid one is dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_links: Vec<ParentText>,
    #[serde(default)]
    pub time_source: TimeSource,
    /// The span id as the system itself derives it (see `Run::native_span_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_span_id: Option<[u8; 8]>,
}

impl Step {
    /// A step with the given id and span name, no times yet, outcome unknown.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Step {
        Step {
            id: id.into(),
            name: name.into(),
            parent: None,
            attempt: 1,
            start: None,
            end: None,
            outcome: Outcome::Unknown,
            exit_code: None,
            message: None,
            error_type: None,
            attributes: Attributes::default(),
            events: Vec::new(),
            links: Vec::new(),
            remote_links: Vec::new(),
            time_source: TimeSource::Recorded,
            native_span_id: None,
        }
    }
}

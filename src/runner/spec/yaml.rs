//! The workflow file's YAML shapes as Dagu accepts them (scalars written as numbers or
//! strings, `env` as a map or a list of maps, `depends` as one name or a list), before
//! `build` checks them.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawWorkflow {
    pub(super) name: Option<Scalar>,
    /// Accepted (Dagu documents it) and not used.
    #[serde(rename = "description")]
    pub(super) _description: Option<yaml_serde::Value>,
    #[serde(rename = "type")]
    pub(super) kind: Option<Kind>,
    pub(super) working_dir: Option<String>,
    /// One file or a list, relative to the workflow file.
    pub(super) dotenv: Option<Names>,
    /// Default parameters (`--param` and a calling step's `params` replace them by name).
    pub(super) params: Option<Params>,
    pub(super) env: Option<EnvList>,
    pub(super) otel: Option<RawOtel>,
    pub(super) steps: Option<Vec<RawStep>>,
    pub(super) handler_on: Option<RawHandlers>,
}

/// `handlerOn:` steps, run after the others: on success, on failure, on cancellation
/// (`cancel`, Dagu 2.3's `abort`), and on exit whatever happened.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHandlers {
    pub(super) success: Option<RawHandler>,
    pub(super) failure: Option<RawHandler>,
    pub(super) cancel: Option<RawHandler>,
    pub(super) abort: Option<RawHandler>,
    pub(super) exit: Option<RawHandler>,
}

/// A handler: a step without `depends` (its name defaults to `onExit`, …).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawHandler {
    pub(super) name: Option<Scalar>,
    pub(super) command: Command,
    pub(super) dir: Option<String>,
    pub(super) env: Option<EnvList>,
    pub(super) timeout_sec: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Kind {
    Graph,
    Chain,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOtel {
    pub(super) enabled: Option<bool>,
    pub(super) endpoint: Option<String>,
    pub(super) headers: Option<ScalarMap>,
    pub(super) insecure: Option<bool>,
    pub(super) timeout: Option<String>,
    pub(super) resource: Option<ScalarMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawStep {
    pub(super) name: Scalar,
    #[serde(rename = "description")]
    pub(super) _description: Option<yaml_serde::Value>,
    pub(super) command: Option<Command>,
    /// Another workflow file, run as a child of this step (with `params`).
    pub(super) run: Option<String>,
    pub(super) params: Option<Params>,
    pub(super) depends: Option<Names>,
    pub(super) dir: Option<String>,
    pub(super) env: Option<EnvList>,
    pub(super) retry_policy: Option<RawRetry>,
    pub(super) continue_on: Option<RawContinueOn>,
    pub(super) timeout_sec: Option<u64>,
    /// A variable that takes the step's trimmed stdout, for the steps after it.
    pub(super) output: Option<String>,
    pub(super) preconditions: Option<Vec<RawPrecondition>>,
}

/// A precondition: a command whose exit code decides, or `condition` (evaluated as a shell
/// word: `$VAR`, `$(command)`) compared with `expected`.
pub(super) enum RawPrecondition {
    Command(String),
    Compare {
        condition: String,
        expected: Option<String>,
    },
}

impl<'de> Deserialize<'de> for RawPrecondition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Compare {
            condition: Scalar,
            expected: Option<Scalar>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Command(Scalar),
            Compare(Compare),
        }
        Ok(match Either::deserialize(d)? {
            Either::Command(c) => RawPrecondition::Command(c.0),
            Either::Compare(c) => RawPrecondition::Compare {
                condition: c.condition.0,
                expected: c.expected.map(|e| e.0),
            },
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawRetry {
    pub(super) limit: Option<u32>,
    pub(super) interval_sec: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContinueOn {
    pub(super) failure: Option<bool>,
    // Accepted because Dagu files use it; the runner has no skip-propagation to tune.
    #[allow(dead_code)]
    pub(super) skipped: Option<bool>,
}

/// A scalar (string, number, bool; null as "") kept as text, as Dagu does.
pub(super) struct Scalar(pub(super) String);

pub(super) struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or bool")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar(String::new()))
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// `KEY: value` pairs in file order.
pub(super) struct ScalarMap(pub(super) Vec<(String, String)>);

pub(super) fn read_map<'de, A: MapAccess<'de>>(
    mut map: A,
) -> Result<Vec<(String, String)>, A::Error> {
    let mut out = Vec::new();
    while let Some((k, v)) = map.next_entry::<Scalar, Scalar>()? {
        out.push((k.0, v.0));
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for ScalarMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ScalarMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ScalarMap, A::Error> {
                read_map(map).map(ScalarMap)
            }
            fn visit_unit<E: de::Error>(self) -> Result<ScalarMap, E> {
                Ok(ScalarMap(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `env:` as a map, or a list of `KEY=value` strings and `KEY: value` maps.
pub(super) struct EnvList(pub(super) Vec<(String, String)>);

impl<'de> Deserialize<'de> for EnvList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EnvList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping or a list of KEY=value entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EnvList, A::Error> {
                read_map(map).map(EnvList)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EnvList, A::Error> {
                let mut out = Vec::new();
                while let Some(EnvItem(pairs)) = seq.next_element()? {
                    out.extend(pairs);
                }
                Ok(EnvList(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<EnvList, E> {
                Ok(EnvList(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

pub(super) struct EnvItem(pub(super) Vec<(String, String)>);

impl<'de> Deserialize<'de> for EnvItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EnvItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a KEY=value string or a KEY: value mapping")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvItem, E> {
                match v.split_once('=') {
                    Some((k, _)) if k.trim().is_empty() => Err(E::custom(format!(
                        "entry \"{v}\" has an empty name (expected KEY=value)"
                    ))),
                    Some((k, val)) => Ok(EnvItem(vec![(k.to_string(), val.to_string())])),
                    None => Err(E::custom(format!(
                        "entry \"{v}\" has no \"=\" (expected KEY=value)"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EnvItem, A::Error> {
                read_map(map).map(EnvItem)
            }
        }
        d.deserialize_any(V)
    }
}

/// `command:` as a string, or a list of words joined with spaces (Dagu allows both).
pub(super) struct Command(pub(super) String);

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Command;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
                Ok(Command(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut words = Vec::new();
                while let Some(Scalar(word)) = seq.next_element()? {
                    words.push(word);
                }
                Ok(Command(words.join(" ")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Command, E> {
                Ok(Command(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `depends:` as one step name or a list of them.
pub(super) struct Names(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a step name or a list of step names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Names, E> {
                Ok(Names(vec![v.to_string()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Names, E> {
                Ok(Names(vec![v.to_string()]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Names, E> {
                Ok(Names(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Names, A::Error> {
                let mut names = Vec::new();
                while let Some(Scalar(name)) = seq.next_element()? {
                    names.push(name);
                }
                Ok(Names(names))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Names, E> {
                Ok(Names(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A child workflow's `params`: `"A=1 B=2"` (blank-separated, `"…"` quotes), a map, or a
/// list of `KEY=VALUE` strings and one-key maps, as Dagu accepts them.
pub(super) struct Params(pub(super) Vec<(String, String)>);

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = yaml_serde::Value::deserialize(d)?;
        params_of(&value).map(Params).map_err(de::Error::custom)
    }
}

fn scalar_text(v: &yaml_serde::Value) -> Option<String> {
    match v {
        yaml_serde::Value::String(s) => Some(s.clone()),
        yaml_serde::Value::Number(n) => Some(n.to_string()),
        yaml_serde::Value::Bool(b) => Some(b.to_string()),
        yaml_serde::Value::Null => Some(String::new()),
        _ => None,
    }
}

fn params_of(value: &yaml_serde::Value) -> Result<Vec<(String, String)>, String> {
    let pair = |text: &str| -> Result<(String, String), String> {
        text.split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .ok_or_else(|| format!("param {text:?}: expected KEY=VALUE"))
    };
    match value {
        yaml_serde::Value::String(text) => split_words(text)?.iter().map(|w| pair(w)).collect(),
        yaml_serde::Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| match (scalar_text(k), scalar_text(v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err("params: keys and values must be scalars".to_owned()),
            })
            .collect(),
        yaml_serde::Value::Sequence(items) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    yaml_serde::Value::Mapping(_) => out.extend(params_of(item)?),
                    other => match scalar_text(other) {
                        Some(text) => out.push(pair(&text)?),
                        None => return Err("params: a list of KEY=VALUE or KEY: value".into()),
                    },
                }
            }
            Ok(out)
        }
        yaml_serde::Value::Null => Ok(Vec::new()),
        _ => Err("params: a string, a map or a list".into()),
    }
}

/// `A=1 B="two words"` into words (quotes removed).
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("params {text:?}: a quote is not closed"));
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

//! yaml_serde's errors in the workflow's own terms: a line, a column and one sentence that
//! names the step (`steps[2].retryPolicy` → `step "load": retryPolicy`).

/// Turns a yaml_serde error into (line, column, one-line message), rewriting
/// serde's wording and its `steps[2].retryPolicy` path into the spec's terms.
pub(super) fn describe(
    err: &yaml_serde::Error,
    doc: Option<&yaml_serde::Value>,
) -> (usize, usize, String) {
    let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
    let text = err.to_string();
    let text = text.replacen(&format!(" at line {line} column {column}"), "", 1);
    let (at, message) = split_path(&text);
    let message = reword(message);
    let at = match at {
        None => return (line, column, message),
        Some(at) => at,
    };
    let at = name_steps(at, doc);
    (line, column, format!("{at}: {message}"))
}

/// Starts of the messages serde and our visitors produce; whatever precedes one
/// (plus ": ") is yaml_serde's path to the failing value.
pub(super) const MESSAGE_STARTS: &[&str] = &[
    "unknown field `",
    "missing field `",
    "duplicate field `",
    "duplicate entry",
    "unknown variant `",
    "invalid type: ",
    "invalid value: ",
    "invalid length ",
    "entry ",
];

pub(super) fn split_path(text: &str) -> (Option<&str>, &str) {
    let starts = |s: &str| MESSAGE_STARTS.iter().any(|m| s.starts_with(m));
    if starts(text) {
        return (Some("top level"), text);
    }
    let mut from = 0;
    while let Some(i) = text[from..].find(": ") {
        let i = from + i;
        if starts(&text[i + 2..]) {
            return (Some(&text[..i]), &text[i + 2..]);
        }
        from = i + 2;
    }
    (None, text)
}

pub(super) fn reword(message: &str) -> String {
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or_default();
        // Dagu users coming from snake_case or other casing get pointed at the real key.
        let norm = |s: &str| s.replace(['_', '-'], "").to_ascii_lowercase();
        let hint = quoted[1..]
            .iter()
            .find(|k| norm(k) == norm(key))
            .map(|k| format!(" (did you mean \"{k}\"?)"))
            .unwrap_or_default();
        return format!("unknown key \"{key}\"{hint}");
    }
    let message = message
        .replacen("missing field", "missing key", 1)
        .replacen("duplicate field", "duplicate key", 1)
        .replacen("duplicate entry with key", "duplicate key", 1)
        .replacen("unknown variant", "unknown value", 1);
    message.replace('`', "\"")
}

/// `steps[2].retryPolicy` → `steps[2] (load).retryPolicy`, taking the name from `doc`.
pub(super) fn name_steps(at: &str, doc: Option<&yaml_serde::Value>) -> String {
    let Some(rest) = at.strip_prefix("steps[") else {
        return at.to_string();
    };
    let Some((num, tail)) = rest.split_once(']') else {
        return at.to_string();
    };
    let name = num.parse::<usize>().ok().and_then(|i| {
        doc?.get("steps")?
            .get(i)?
            .get("name")
            .and_then(|n| match n {
                yaml_serde::Value::String(s) => Some(s.clone()),
                yaml_serde::Value::Number(n) => Some(n.to_string()),
                yaml_serde::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
    });
    match name {
        Some(name) if !name.is_empty() => format!("steps[{num}] ({name}){tail}"),
        _ => at.to_string(),
    }
}

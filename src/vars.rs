//! `${VAR}` expansion, one implementation for every place retrace expands variables, in the
//! two dialects its inputs are written in.

/// Which forms are variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// A shell's (Dagu workflows: `env`, the `otel:` endpoint and resource): `${NAME}`,
    /// `${NAME:-default}` and `$NAME`; `$$` is a `$`.
    Shell,
    /// Header values (`--header`, `OTEL_EXPORTER_OTLP_HEADERS`, a workflow's `otel.headers`):
    /// `${NAME}`, `${env:NAME}` and `${NAME:-default}` only; any other `$` (`$word`, `$$`)
    /// is sent as written, as a secret may hold one.
    Header,
    /// The OpenTelemetry configuration file: as `Header`, and `$$` is a `$` (its escape).
    ConfigFile,
}

/// Expands the variables of `syntax` in `value` with `lookup`; unknown names expand to ""
/// (as sh does).
///
/// A `$` not followed by a variable (or an unterminated `${`) is kept verbatim, so text like
/// `$1` or a trailing `$` survives untouched.
pub fn expand(value: &str, syntax: Syntax, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let (Some(tail), false) = (after.strip_prefix('$'), syntax == Syntax::Header) {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) if end > 0 => {
                    let inner = &braced[..end];
                    let inner = match syntax {
                        Syntax::Header | Syntax::ConfigFile => {
                            inner.strip_prefix("env:").unwrap_or(inner)
                        }
                        Syntax::Shell => inner,
                    };
                    // `${NAME:-default}`: the default when NAME is unset or empty (as sh).
                    let value = match inner.split_once(":-") {
                        Some((name, default)) => lookup(name)
                            .filter(|v| !v.is_empty())
                            .unwrap_or_else(|| default.to_owned()),
                        None => lookup(inner).unwrap_or_default(),
                    };
                    out.push_str(&value);
                    rest = &braced[end + 1..];
                }
                _ => {
                    out.push_str("${");
                    rest = braced;
                }
            }
        } else {
            let len = match syntax {
                Syntax::Shell => name_len(after),
                Syntax::Header | Syntax::ConfigFile => 0,
            };
            if len > 0 {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
            } else {
                out.push('$');
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

/// Length of the shell variable name (`[A-Za-z_][A-Za-z0-9_]*`) at the start of `s`.
fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return 0,
    }
    chars
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(s.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_variables() {
        let lookup = |name: &str| match name {
            "A" => Some("1".to_string()),
            "A_B" => Some("2".to_string()),
            _ => None,
        };
        let x = |s: &str| expand(s, Syntax::Shell, &lookup);
        assert_eq!(x("${A}"), "1");
        assert_eq!(x("pre-${A}-post"), "pre-1-post");
        assert_eq!(x("$A_B/x"), "2/x");
        assert_eq!(x("$A.$A_B"), "1.2");
        assert_eq!(x("cost: $$5 $$A"), "cost: $5 $A");
        assert_eq!(x("[$NOPE][${NOPE}]"), "[][]");
        assert_eq!(x("${A"), "${A");
        assert_eq!(x("a ${A b $A"), "a ${A b 1");
        assert_eq!(x("$ $1 ${} end$"), "$ $1 ${} end$");
        assert_eq!(x("é$A€"), "é1€");
        assert_eq!(x("${NOPE:-/tmp}/w ${A:-x}"), "/tmp/w 1");
    }

    #[test]
    fn header_values_expand_only_braced_names() {
        let lookup = |name: &str| (name == "TOKEN").then(|| "s3cr3t".to_string());
        let x = |s: &str| expand(s, Syntax::Header, &lookup);
        assert_eq!(x("Bearer ${TOKEN}"), "Bearer s3cr3t");
        assert_eq!(x("Bearer ${env:TOKEN}"), "Bearer s3cr3t");
        assert_eq!(x("${NOPE:-anon}"), "anon");
        assert_eq!(x("pa$word$TOKEN"), "pa$word$TOKEN");
        assert_eq!(x("a$$b"), "a$$b");
        let c = |s: &str| expand(s, Syntax::ConfigFile, &lookup);
        assert_eq!(c("a$$b ${TOKEN} $${TOKEN}"), "a$b s3cr3t ${TOKEN}");
    }
}

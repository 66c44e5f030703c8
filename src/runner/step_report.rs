//! What a step reports about itself: the runner (and `exec`) gives each process a file path in
//! `$RETRACE_SPAN`; the process appends lines to it, and retrace adds them to the step's span
//! and records line (so `retrace records` rebuilds them), and its metrics count them
//! (README "Steps that report their own numbers"):
//!
//! ```text
//! attr pipeline.records.written=1200
//! attr pipeline.partition.key="2024-05-01" pipeline.bytes.processed=52428800
//! event record_validation_failed record.id=42 failure.reason="negative amount"
//! event checkpoint @2024-05-01T10:00:03.25Z rows=600
//! ```
//!
//! A value is an integer, a float, `true`/`false`, or text (in double quotes when it holds
//! spaces; `\"` and `\\` inside). An event without `@TIME` (RFC 3339, or Unix nanoseconds)
//! is stamped with the step's end and marked `retrace.time_source=derived`. Blank lines and
//! `#` comments are skipped; a malformed line is reported with the step and line number and
//! skipped, never fatal.

use std::io::Read;
use std::path::Path;

use crate::record::{AttrValue, Attributes, Event, Nanos};
use crate::report::report;
use crate::trace::semconv as sc;

/// The variable that names the file.
pub const ENV: &str = "RETRACE_SPAN";

/// More than this is not read (a step that writes its output there by mistake).
const MAX_BYTES: u64 = 1 << 20;

/// What a step reported.
#[derive(Debug, Default, PartialEq)]
pub struct StepReport {
    pub attributes: Attributes,
    pub events: Vec<Event>,
}

/// Creates the empty file a process reports into (an earlier attempt's report is gone).
pub fn prepare(path: &Path) -> std::io::Result<()> {
    std::fs::File::create(path).map(drop)
}

/// Reads the file `who` (a step, a command) wrote; `end` stamps events without a time. A
/// missing file is an empty report.
pub fn read(path: &Path, who: &str, end: Nanos) -> StepReport {
    let mut bytes = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        if let Err(e) = file.take(MAX_BYTES).read_to_end(&mut bytes) {
            report(format!("{who}: {ENV} {}: cannot read: {e}", path.display()));
            return StepReport::default();
        }
    }
    // Text that is not UTF-8 spoils its own line only; a line cut by the size limit is not
    // read.
    if bytes.len() as u64 == MAX_BYTES {
        let last_newline = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        bytes.truncate(last_newline);
    }
    parse(&String::from_utf8_lossy(&bytes), who, end)
}

pub fn parse(text: &str, who: &str, end: Nanos) -> StepReport {
    let mut out = StepReport::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Err(problem) = parse_line(line, end, &mut out) {
            report(format!("{who}: {ENV} line {}: {problem}; skipped", n + 1));
        }
    }
    out
}

fn parse_line(line: &str, end: Nanos, out: &mut StepReport) -> Result<(), String> {
    let words = words(line)?;
    let (verb, rest) = words.split_first().ok_or("empty line")?;
    match verb.text.as_str() {
        "attr" => {
            if rest.is_empty() {
                return Err("expected `attr KEY=VALUE`".into());
            }
            let pairs = rest.iter().map(pair).collect::<Result<Vec<_>, _>>()?;
            out.attributes.merge(pairs);
            Ok(())
        }
        "event" => {
            let (name, rest) = rest
                .split_first()
                .filter(|(name, _)| !name.text.is_empty() && !name.text.contains('='))
                .ok_or("expected `event NAME [@TIME] [KEY=VALUE...]`")?;
            let (time, rest) = match rest.split_first() {
                Some((t, rest)) if !t.quoted && t.text.starts_with('@') => {
                    (Some(instant(&t.text[1..])?), rest)
                }
                _ => (None, rest),
            };
            let mut attributes = Attributes::default();
            attributes.merge(rest.iter().map(pair).collect::<Result<Vec<_>, _>>()?);
            if time.is_none() {
                attributes.put(sc::RETRACE_TIME_SOURCE, "derived");
            }
            out.events.push(Event {
                time: time.unwrap_or(end),
                name: name.text.clone(),
                attributes,
            });
            Ok(())
        }
        other => Err(format!(
            "unknown {other:?}: expected `attr KEY=VALUE` or `event NAME [KEY=VALUE...]`"
        )),
    }
}

/// A word of a line, and whether it was quoted (a quoted value is always text).
struct Word {
    text: String,
    quoted: bool,
}

/// Splits on blanks; `"…"` (with `\"` and `\\`) may hold blanks, also after `KEY=`.
fn words(line: &str) -> Result<Vec<Word>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut text = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c != '"' {
                text.push(c);
                continue;
            }
            quoted = true;
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e @ ('"' | '\\')) => text.push(e),
                        Some(other) => {
                            text.push('\\');
                            text.push(other);
                        }
                        None => return Err("a quote is not closed".into()),
                    },
                    Some(c) => text.push(c),
                    None => return Err("a quote is not closed".into()),
                }
            }
        }
        out.push(Word { text, quoted });
    }
    Ok(out)
}

fn pair(word: &Word) -> Result<(crate::record::AttrKey, AttrValue), String> {
    let (key, value) = word
        .text
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE, found {:?}", word.text))?;
    // `KEY="…"` keeps its value as text whatever it looks like.
    let quoted_value = word.quoted && word.text.len() > key.len() + 1;
    let value = if quoted_value {
        AttrValue::Str(value.to_owned())
    } else if let Ok(n) = value.parse::<i64>() {
        AttrValue::Int(n)
    } else if let Some(f) = value.parse::<f64>().ok().filter(|f| f.is_finite()) {
        AttrValue::Float(f)
    } else if value == "true" || value == "false" {
        AttrValue::Bool(value == "true")
    } else {
        AttrValue::Str(value.to_owned())
    };
    Ok((key.to_owned().into(), value))
}

/// `@TIME`: RFC 3339, or Unix nanoseconds.
fn instant(text: &str) -> Result<Nanos, String> {
    if let Ok(n) = text.parse::<Nanos>() {
        return Ok(n);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| format!("@{text}: expected an RFC 3339 time or Unix nanoseconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_events_as_the_readme_writes_them() {
        let text = "# rows\n\
            attr pipeline.records.written=1200 pipeline.partition.key=\"2024-05-01\"\n\
            attr ratio=0.5 ok=true note=\"two words\" id=\"42\"\n\
            \n\
            event record_validation_failed record.id=42 failure.reason=\"negative \\\"amount\\\"\"\n\
            event checkpoint @1000 rows=600\n";
        let r = parse(text, "step load", 5_000);
        let get = |k: &str| r.attributes.get(k).cloned();
        assert_eq!(get("pipeline.records.written"), Some(AttrValue::Int(1200)));
        assert_eq!(
            get("pipeline.partition.key"),
            Some(AttrValue::Str("2024-05-01".into()))
        );
        assert_eq!(get("ratio"), Some(AttrValue::Float(0.5)));
        assert_eq!(get("ok"), Some(AttrValue::Bool(true)));
        assert_eq!(get("note"), Some(AttrValue::Str("two words".into())));
        assert_eq!(get("id"), Some(AttrValue::Str("42".into())), "quoted: text");
        assert_eq!(r.events.len(), 2);
        assert_eq!(r.events[0].time, 5_000, "no time: the step's end");
        assert_eq!(
            r.events[0].attributes.get("failure.reason"),
            Some(&AttrValue::Str("negative \"amount\"".into()))
        );
        assert_eq!(
            r.events[0].attributes.get(sc::RETRACE_TIME_SOURCE),
            Some(&AttrValue::Str("derived".into()))
        );
        assert_eq!(r.events[1].time, 1_000);
        assert_eq!(r.events[1].attributes.get(sc::RETRACE_TIME_SOURCE), None);
    }

    #[test]
    fn a_report_that_is_not_utf8_or_too_long_keeps_its_good_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report");
        let mut bytes = b"attr a=1\nattr bad=\xff\xfe\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', MAX_BYTES as usize));
        std::fs::write(&path, bytes).unwrap();
        let r = read(&path, "step s", 0);
        assert_eq!(r.attributes.get("a"), Some(&AttrValue::Int(1)));
        assert!(
            r.attributes.get("bad").is_some(),
            "its own line, decoded as it can be"
        );
    }

    #[test]
    fn malformed_lines_are_skipped_and_the_rest_kept() {
        let text = "attr\nattr novalue\nevent\nmetric x=1\nattr a=\"open\nevent e @yesterday\nattr kept=1\n";
        let r = parse(text, "step s", 0);
        assert_eq!(r.attributes.0.len(), 1);
        assert_eq!(r.attributes.get("kept"), Some(&AttrValue::Int(1)));
        assert!(r.events.is_empty());
    }
}

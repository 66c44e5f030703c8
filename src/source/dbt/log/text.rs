//! dbt's default text file log (the "debug" format): a header line per invocation
//! (`===== HH:MM:SS.ffffff | <invocation_id> =====`), then records
//! `\x1b[0mHH:MM:SS.ffffff [level] [thread    ]: message`, continuation lines without a prefix.
//! Times are local wall-clock time of day, µs, no date, no zone (FIELDS.md §4-5); the caller
//! gives each record its date and zone.

use super::{Event, Finish};
use crate::record::Nanos;

/// Microseconds since local midnight.
pub type Tod = i64;

#[cfg(test)]
pub const DAY: Tod = 86_400_000_000;

/// What one line of a text log is.
pub enum Kind<'a> {
    /// `===== 01:37:02.710861 | d605e05e-… =====`
    Header { tod: Tod, id: &'a str },
    /// A record's first line.
    Record {
        tod: Tod,
        thread: &'a str,
        message: &'a str,
    },
    /// A record's first line whose time is not a time of day (`25:61:00.000000`).
    BadTime(&'a str),
    /// Anything else: a continuation of the record before (or, before any record, not dbt's).
    Other,
}

/// `HH:MM:SS.ffffff` → µs since midnight.
pub fn tod(text: &str) -> Option<Tod> {
    let b = text.as_bytes();
    if b.len() != 15 || b[2] != b':' || b[5] != b':' || b[8] != b'.' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = &text[r];
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (h, m, s, f) = (num(0..2)?, num(3..5)?, num(6..8)?, num(9..15)?);
    (h < 24 && m < 60 && s < 60).then_some(((h * 60 + m) * 60 + s) * 1_000_000 + f)
}

fn shaped_like_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 15
        && b[2] == b':'
        && b[5] == b':'
        && b[8] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 2 | 5 | 8) || c.is_ascii_digit())
}

pub fn classify(line: &str) -> Kind<'_> {
    if let Some(rest) = line.strip_prefix("============================== ") {
        if let Some(rest) = rest.strip_suffix(" ==============================") {
            if let Some((time, id)) = rest.split_once(" | ") {
                if let Some(tod) = tod(time) {
                    if id.len() == 36 && id.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-') {
                        return Kind::Header { tod, id };
                    }
                }
                if shaped_like_time(time) {
                    return Kind::BadTime(time);
                }
            }
        }
    }
    let body = line.strip_prefix("\x1b[0m").unwrap_or(line);
    // `01:37:04.403922 [debug] [Thread-1 (]: Began running node …`
    let (Some(time), Some(rest)) = (body.get(..15), body.get(15..)) else {
        return Kind::Other;
    };
    let Some(rest) = rest.strip_prefix(" [") else {
        return Kind::Other;
    };
    let Some((level, rest)) = rest.split_once("] [") else {
        return Kind::Other;
    };
    if !matches!(level.trim_end(), "debug" | "info" | "warn" | "error") {
        return Kind::Other;
    }
    let Some((thread, message)) = rest.split_once("]: ") else {
        return Kind::Other;
    };
    match tod(time) {
        Some(tod) => Kind::Record {
            tod,
            thread: thread.trim_end(),
            message,
        },
        None if shaped_like_time(time) => Kind::BadTime(time),
        None => Kind::Other,
    }
}

/// Whether a record's message is an error whose following lines dbt wrote with it (kept
/// for the node's message).
pub fn is_error_text(message: &str) -> bool {
    message.split_once(" Error in ").is_some_and(|(kind, _)| {
        kind.len() <= 40 && kind.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
    })
}

/// A record → what it says. `at`: the record's time; `near`: a time of day on the record's
/// date (for `Command … at HH:MM:SS`).
pub fn event(thread: &str, message: &str, at: Nanos, near: &dyn Fn(Tod) -> Nanos) -> Event {
    let message = message.trim_end();
    if let Some(v) = message.strip_prefix("Running with dbt=") {
        return Event::Version(v.trim().to_owned());
    }
    if let Some(args) = message.strip_prefix("running dbt with arguments ") {
        return Event::Args {
            invocation_command: quoted_value(args, "'invocation_command': "),
        };
    }
    if let Some(rest) = message.strip_prefix("Concurrency: ") {
        let threads = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        let target = quoted_value(rest, "target=");
        return Event::Concurrency { threads, target };
    }
    if let Some(uid) = message.strip_prefix("Began running node ") {
        let uid = uid.trim();
        return Event::NodeStart {
            key: format!("{uid}|{thread}"),
            uid: uid.to_owned(),
            thread: thread.to_owned(),
            started: Some(at),
            hook: false,
            materialized: None,
            relation: None,
        };
    }
    if let Some(uid) = message.strip_prefix("Finished running node ") {
        return Event::NodeFinish {
            key: format!("{}|{thread}", uid.trim()),
            finish: Finish {
                finished: Some(at),
                ..Finish::default()
            },
        };
    }
    if let Some(rest) = message.strip_prefix("Command `") {
        // Command `dbt run` failed at 01:37:06.668204 after 4.07 seconds
        if let Some((command, rest)) = rest.split_once("` ") {
            let success = if rest.starts_with("succeeded") {
                Some(true)
            } else if rest.starts_with("failed") {
                Some(false)
            } else {
                None
            };
            let end = rest
                .split_once(" at ")
                .and_then(|(_, r)| r.get(..15))
                .and_then(tod)
                .map(near);
            return Event::End {
                at: end.or(Some(at)),
                success,
                command: Some(command.to_owned()),
            };
        }
    }
    if let Some(rest) = message.strip_prefix("Batch ") {
        if let Some((index, status)) = numbered(rest) {
            if let Some(description) = status.strip_prefix("START ") {
                return Event::Batch {
                    key: None,
                    thread: thread.to_owned(),
                    index,
                    description: Some(dots_cut(description).to_owned()),
                };
            }
            return Event::Status {
                thread: thread.to_owned(),
                word: status_word(status),
                failures: None,
                execution_time: seconds(status),
            };
        }
    }
    if let Some((_, status)) = numbered(message) {
        if let Some(hook) = status.strip_prefix("START hook: ") {
            let uid = hook_uid(dots_cut(hook));
            return Event::NodeStart {
                key: format!("{uid}|hook"),
                uid,
                thread: thread.to_owned(),
                started: Some(at),
                hook: true,
                materialized: None,
                relation: None,
            };
        }
        if status.starts_with("START ") {
            return Event::Other;
        }
        if let Some((word, hook)) = status.split_once(" hook: ") {
            let uid = hook_uid(dots_cut(hook));
            return Event::NodeFinish {
                key: format!("{uid}|hook"),
                finish: Finish {
                    finished: Some(at),
                    status: Some(match word {
                        "OK" => "success".to_owned(),
                        other => other.to_ascii_lowercase(),
                    }),
                    execution_time: seconds(status),
                    thread: Some(thread.to_owned()),
                    ..Finish::default()
                },
            };
        }
        let failures = status
            .split_whitespace()
            .nth(1)
            .filter(|_| status.starts_with("FAIL ") || status.starts_with("WARN "))
            .and_then(|n| n.parse().ok());
        return Event::Status {
            thread: thread.to_owned(),
            word: status_word(status),
            failures,
            execution_time: seconds(status),
        };
    }
    if is_error_text(message) {
        return Event::ErrorText {
            thread: thread.to_owned(),
            text: message.to_owned(),
        };
    }
    Event::Other
}

/// `12 of 13 OK created …` → (12, `OK created …`).
fn numbered(text: &str) -> Option<(i64, &str)> {
    let (n, rest) = text.split_once(" of ")?;
    let n: i64 = n.parse().ok()?;
    let (total, rest) = rest.split_once(' ')?;
    total.parse::<i64>().ok()?;
    Some((n, rest))
}

/// The status word of a result line: `OK`, `PASS`, `FAIL`, `WARN`, `ERROR`, `ERROR STALE`,
/// `SKIP`, `NO-OP`, `REUSED`.
fn status_word(status: &str) -> String {
    if status.starts_with("ERROR STALE") {
        return "ERROR STALE".into();
    }
    status
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `… [\x1b[32mOK\x1b[0m in 0.30s]` → 0.30.
fn seconds(status: &str) -> Option<f64> {
    let (_, tail) = status.rsplit_once(" in ")?;
    let n = tail.strip_suffix("s]")?;
    n.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0)
}

/// `pedal_share.on-run-start.0 ........ [RUN]` → `pedal_share.on-run-start.0`.
fn dots_cut(text: &str) -> &str {
    match text.find(" ..") {
        Some(i) => &text[..i],
        None => text.split(" [").next().unwrap_or(text),
    }
    .trim()
}

/// `pedal_share.on-run-start.0` → `operation.pedal_share.pedal_share-on-run-start-0`, the
/// unique_id run_results.json gives the hook.
fn hook_uid(hook: &str) -> String {
    let mut parts = hook.rsplitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(kind), Some(project)) => {
            format!("operation.{project}.{project}-{kind}-{n}")
        }
        _ => format!("operation.{hook}"),
    }
}

/// `'invocation_command': 'dbt run --threads 3'` → `dbt run --threads 3`.
fn quoted_value(text: &str, key: &str) -> Option<String> {
    let rest = &text[text.find(key)? + key.len()..];
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &rest[1..];
    Some(rest[..rest.find(quote)?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert!(matches!(
            classify("============================== 01:37:02.710861 | d605e05e-6e12-4136-a7bd-ff3723a1cf05 =============================="),
            Kind::Header { tod: 5_822_710_861, id: "d605e05e-6e12-4136-a7bd-ff3723a1cf05" }
        ));
        match classify("\x1b[0m01:37:04.403922 [debug] [Thread-1 (]: Began running node model.p.x")
        {
            Kind::Record {
                tod,
                thread,
                message,
            } => {
                assert_eq!(tod, 5_824_403_922);
                assert_eq!(thread, "Thread-1 (");
                assert_eq!(message, "Began running node model.p.x");
            }
            _ => panic!(),
        }
        assert!(matches!(
            classify("\x1b[0m25:37:04.403922 [debug] [MainThread]: x"),
            Kind::BadTime(_)
        ));
        assert!(matches!(classify("  select 1"), Kind::Other));
        assert_eq!(
            hook_uid("pedal_share.on-run-start.0"),
            "operation.pedal_share.pedal_share-on-run-start-0"
        );
        assert_eq!(
            quoted_value(
                "{'a': 'b', 'invocation_command': 'dbt run --threads 3', 'c': 'd'}",
                "'invocation_command': "
            ),
            Some("dbt run --threads 3".into())
        );
        assert_eq!(
            seconds("OK created sql view model main.x ..... [\x1b[32mOK\x1b[0m in 0.30s]"),
            Some(0.30)
        );
        assert_eq!(
            status_word("ERROR STALE freshness of raw.stations"),
            "ERROR STALE"
        );
    }
}

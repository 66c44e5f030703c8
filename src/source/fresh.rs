//! The artifacts a wrapped command wrote: `exec --convert PATH` and `dbt --run` convert what
//! is at PATH once the command has ended, but only what it wrote — a file older than the
//! command belongs to an earlier one and is left alone, named on stderr.

use std::path::{Path, PathBuf};

use crate::record::{Nanos, Run};
use crate::report::report;
use crate::source::{self, Source, SourceOptions};

/// The runs in `paths` written since `started` by `what` (a program's name, for messages);
/// `only`: the one format to read (dbt's wrapper), else any.
pub fn runs_written_since(
    paths: &[PathBuf],
    only: Option<&'static dyn Source>,
    what: &str,
    started: Nanos,
    options: &SourceOptions,
) -> Vec<Run> {
    let (files, errors) = match only {
        Some(format) => {
            let (files, errors) = source::expand_inputs(format, paths, false);
            (files.into_iter().map(|f| (format, f)).collect(), errors)
        }
        None => source::expand_any(paths, false),
    };
    for e in &errors {
        report(e);
    }
    // mtime has coarse granularity on some file systems: allow a second.
    let since = started - 1_000_000_000;
    let (fresh, stale): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|(_, f)| modified_nanos(f).is_some_and(|t| t >= since));
    for (_, f) in &stale {
        report(format!(
            "{}: not written by this {what} invocation (it is older); not sent",
            f.display()
        ));
    }
    if fresh.is_empty() {
        if stale.is_empty() && errors.is_empty() {
            report(format!(
                "nothing retrace reads in {} after the command; nothing of {what}'s is sent",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        } else if !stale.is_empty() {
            report(format!("nothing of {what}'s is sent"));
        }
        return Vec::new();
    }
    let mut groups: Vec<(&'static dyn Source, Vec<PathBuf>)> = Vec::new();
    for (format, file) in fresh {
        match groups.iter_mut().find(|(s, _)| s.name() == format.name()) {
            Some((_, list)) => list.push(file),
            None => groups.push((format, vec![file])),
        }
    }
    let mut runs = Vec::new();
    for (format, files) in groups {
        let (found, errors) = format.parse_all(&files, options);
        for e in &errors {
            report(e);
        }
        runs.extend(found);
    }
    runs
}

pub fn modified_nanos(path: &Path) -> Option<Nanos> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since_epoch = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since_epoch.as_nanos() as Nanos)
}

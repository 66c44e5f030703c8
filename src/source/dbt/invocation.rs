//! Where a dbt invocation writes its artifacts, and which of them it wrote: for `retrace dbt`
//! without PATH and for the wrapper `retrace dbt --run -- dbt …`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::record::{Nanos, Run};
use crate::report::report;
use crate::source::{self, SourceOptions};

/// dbt's own default: `$DBT_TARGET_PATH`, else `target` in the working directory.
pub fn default_target() -> PathBuf {
    std::env::var_os("DBT_TARGET_PATH")
        .filter(|v| !v.is_empty())
        .map_or_else(|| "target".into(), Into::into)
}

/// Where the dbt command line writes its artifacts: `--target-path` (or `$DBT_TARGET_PATH`,
/// default `target`) inside `--project-dir` (or `$DBT_PROJECT_DIR`, default here).
pub fn target_dir(argv: &[OsString]) -> PathBuf {
    let project = option_value(argv, "--project-dir")
        .or_else(|| std::env::var_os("DBT_PROJECT_DIR").filter(|v| !v.is_empty()))
        .map_or_else(PathBuf::new, PathBuf::from);
    let target = option_value(argv, "--target-path")
        .or_else(|| std::env::var_os("DBT_TARGET_PATH").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "target".into());
    project.join(target)
}

/// The runs of the artifacts a dbt invocation that started at `started` wrote, in `paths`
/// (default: its target directory). An artifact older than the invocation belongs to an
/// earlier one: it is named on stderr and left alone, as is every other problem.
pub fn runs_written_since(
    paths: Vec<PathBuf>,
    argv: &[OsString],
    started: Nanos,
    options: &SourceOptions,
) -> Vec<Run> {
    let paths = if paths.is_empty() {
        vec![target_dir(argv)]
    } else {
        paths
    };
    let since = started - 1_000_000_000;
    source::fresh::runs_written_since(&paths, Some(&super::Dbt), "dbt", started, options)
        .into_iter()
        .filter(|run| {
            let earlier = run.end.is_some_and(|generated| generated < since);
            if earlier {
                report(format!(
                    "dbt run {} was generated before this invocation started; not sent",
                    run.run_id
                ));
            }
            !earlier
        })
        .collect()
}

/// The value of `--name VALUE` or `--name=VALUE` in a command line.
fn option_value(argv: &[OsString], name: &str) -> Option<OsString> {
    let mut args = argv.iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == name {
            return args.next().cloned();
        }
        if let Some(value) = text.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(value.into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_target_dir_follows_the_dbt_command_line() {
        assert_eq!(
            target_dir(&argv(&["dbt", "build", "--project-dir", "proj"])),
            Path::new("proj/target")
        );
        assert_eq!(
            target_dir(&argv(&[
                "dbt",
                "build",
                "--project-dir=proj",
                "--target-path",
                "out"
            ])),
            Path::new("proj/out")
        );
        assert_eq!(
            option_value(&argv(&["dbt", "--target-path=/abs"]), "--target-path"),
            Some(OsString::from("/abs"))
        );
    }
}

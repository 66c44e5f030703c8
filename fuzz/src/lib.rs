//! What every parser target does with its input: write it where the source expects a file
//! (the sources read paths, and some judge a file by its name), parse it, then build and
//! encode every run it yields, so the trace builder and the OTLP encoder are fuzzed too.
//! Errors are fine; a panic, an abort or a hang is a finding.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use retrace::record::Run;
use retrace::source::{Source, SourceOptions};
use retrace::trace::build;

thread_local! {
    static DIR: OnceCell<PathBuf> = const { OnceCell::new() };
}

/// A private directory for this fuzzing process (tmpfs when there is one: it is rewritten
/// on every execution).
pub fn scratch() -> PathBuf {
    DIR.with(|d| {
        d.get_or_init(|| {
            let base = Path::new("/dev/shm");
            let base = if base.is_dir() {
                base.to_path_buf()
            } else {
                std::env::temp_dir()
            };
            let dir = base.join(format!("retrace-fuzz-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("scratch directory");
            dir
        })
        .clone()
    })
}

/// Writes `data` as `name` in the scratch directory and returns its path.
pub fn place(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, data).expect("write scratch file");
    path
}

/// Parses `path` with `source`, then builds and encodes whatever it yields.
pub fn convert(source: &dyn Source, path: &Path) {
    let options = SourceOptions::default();
    if let Ok(runs) = source.parse(path, &options) {
        for run in runs {
            build_and_encode(run);
        }
    }
}

/// The sink side: spans → one OTLP request → OTLP/JSON, as `--output` and the spool write it.
pub fn build_and_encode(run: Run) {
    let resource =
        retrace::sink::resource_for(&run.system, &retrace::sink::config::SinkConfig::disabled());
    let Ok(built) = build::build(run, None, &build::scope(), "") else {
        return;
    };
    let request = retrace::sink::file::request(built.spans, &resource);
    serde_json::to_vec(&request).expect("an OTLP request always encodes");
}

/// Picks one of `names` with the first byte, so one target covers a format's file kinds.
pub fn split_name<'a>(names: &[&'a str], data: &'a [u8]) -> Option<(&'a str, &'a [u8])> {
    let (first, rest) = data.split_first()?;
    Some((names[usize::from(*first) % names.len()], rest))
}

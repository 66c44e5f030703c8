//! retrace as a library: the binary (`main.rs`) parses the command line and runs a verb
//! (`cmd`); the fuzz targets and benchmarks reach the parsers and the trace builder through
//! here. ARCHITECTURE.md describes the layers: `cmd` (verbs) → `convert` / `runner` →
//! `source` (artifacts → `record`) → `trace` (records → spans), and `sink` (spans → OTLP,
//! files, console), with `report` (messages, exit codes) below them all.

pub mod analysis;
pub mod cmd;
pub(crate) mod convert;
pub mod record;
pub(crate) mod report;
pub(crate) mod runner;
pub mod sink;
pub mod source;
pub mod trace;
pub(crate) mod vars;

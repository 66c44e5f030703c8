//! retrace as a library: the binary (`main.rs`) is a thin dispatcher over these modules, and
//! the fuzz targets and benchmarks reach the parsers and the trace builder through here.
//!
//! Architecture: `source` (artifacts → `record`) → `trace` (records → spans) → `sink`
//! (spans → OTLP, files, console); `runner` produces records live; `convert` ties them together.

pub mod cli;
pub mod convert;
pub mod record;
pub mod runner;
pub mod send;
pub mod sink;
pub mod source;
pub mod trace;

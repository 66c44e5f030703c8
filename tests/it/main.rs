//! retrace's integration tests, as one binary: the shared OTLP receiver and helpers
//! (`common`) compile once, not once per test file. Each module runs the real binary
//! against receivers on 127.0.0.1.

mod common;

mod airflow;
mod browser;
mod carriers;
mod command_line;
mod dagu;
mod dbt;
mod dbt_e2e;
mod dbt_log;
mod delivery;
mod dotflow;
mod endpoints;
mod exec;
mod github;
mod hostile;
mod junit;
mod metrics;
mod receiver_selftest;
mod records_backfill;
mod runner;
mod secrets;
mod spark;
mod spool;
mod tls;
mod view;

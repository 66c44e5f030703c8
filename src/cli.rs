//! The command line (clap derive). Each flag is defined once here; `--help` is generated
//! from these doc comments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::sink::config::SinkFlags;
use crate::source::SourceOptions;

#[derive(Parser, Debug)]
#[command(
    name = "retrace",
    version,
    about = "Rebuild OpenTelemetry traces from what data pipelines leave behind",
    long_about = "Rebuild OpenTelemetry traces from what data pipelines leave behind.\n\n\
        retrace reads pipeline artifacts (dbt run_results.json / sources.json), rebuilds \
        spans with their real start and end times, parents them under the caller's W3C \
        traceparent, and delivers them over OTLP before it exits.\n\n\
        Exit codes: 0 all converted and delivered; 1 some input could not be converted \
        (the rest was delivered); 2 usage error; 3 delivery failed. `exec`, `dbt --run` \
        and `run` return the wrapped work's exit code instead (see their --help)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Convert dbt artifacts: run_results.json, sources.json, or a target/ directory.
    #[command(
        long_about = "Convert dbt artifacts into one trace per dbt invocation.\n\n\
        PATH may be a run_results.json or sources.json file, a directory (walked for both; \
        manifest.json beside an artifact enriches it), or a glob. Without PATH: \
        $DBT_TARGET_PATH, else ./target.\n\n\
        After `dbt build`:  dbt build; rc=$?; retrace dbt target/; exit $rc"
    )]
    Dbt(DbtArgs),
    /// Convert Airflow records: REST API JSON, CLI JSON, task-log folders, scheduler output.
    Airflow(ConvertArgs),
    /// Convert Dagu run status: status.jsonl, a dag-runs data directory, legacy .dat files.
    Dagu(ConvertArgs),
    /// Convert dotflow records: the JSON flow.log and result() JSON.
    Dotflow(ConvertArgs),
    /// Convert retrace's own step records (retrace.records/v1 JSON lines).
    Records(ConvertArgs),
    /// Walk directories and globs, detect each file's format, convert everything; a bad
    /// file is reported and the rest still delivered.
    Backfill(BackfillArgs),
    /// Run a workflow of shell steps (a Dagu-compatible YAML subset), tracing it live.
    #[command(
        long_about = "Run a workflow of shell steps (a Dagu-compatible YAML subset) and trace         it live: one `DAG: <name>` span, a `Step: <name>` span per step sent as soon as the step         ends, and a span per attempt for steps with a retryPolicy. Every step process gets         TRACEPARENT (its own span), RETRACE_RUN_ID and RETRACE_STEP.\n\n\
        Step records go to --records as they happen; `retrace records FILE` later sends exactly         the same spans.\n\n\
        Exit code: 0 when every step succeeded, 1 otherwise, 128+N when stopped by signal N         (SIGINT 130, SIGTERM 143); 2 for an invalid workflow (nothing runs)."
    )]
    Run(RunArgs),
    /// Run one command inside one span; TRACEPARENT of that span is passed to it.
    #[command(
        long_about = "Run one command inside one span. The command gets TRACEPARENT (and         TRACESTATE) of that span, shares stdin, stdout and stderr, receives SIGTERM/SIGHUP (and         SIGINT when not from a terminal) that retrace receives, and its exit code is returned         verbatim, also when the span cannot be delivered (then a warning).\n\n\
        Example:  retrace exec -- make test"
    )]
    Exec(ExecArgs),
    /// Deliver OTLP/JSON lines files: the spool of spans that could not be delivered (then
    /// removed once delivered), or --output files.
    #[command(
        long_about = "Deliver OTLP/JSON lines files over OTLP: without FILE (or with --spool),         every file in the spool directory, each removed once all its spans were delivered;         FILEs named here (e.g. --output files) are sent and kept. The requests are sent as         written, so ids are those first built: re-sending never duplicates in a backend that         dedupes by id.\n\nExit codes: 0 all delivered; 1 a line or file could not be read;         3 delivery failed (files kept)."
    )]
    Send(SendArgs),
}

impl Command {
    /// The format a conversion verb reads.
    pub fn format(&self) -> &'static str {
        match self {
            Command::Dbt(_) => "dbt",
            Command::Airflow(_) => "airflow",
            Command::Dagu(_) => "dagu",
            Command::Dotflow(_) => "dotflow",
            Command::Records(_) => "records",
            Command::Backfill(_) => "backfill",
            Command::Run(_) => "run",
            Command::Exec(_) => "exec",
            Command::Send(_) => "send",
        }
    }
}

#[derive(Args, Debug)]
pub struct DbtArgs {
    /// Artifact files, directories or globs [default: $DBT_TARGET_PATH or ./target]
    pub paths: Vec<PathBuf>,

    /// manifest.json to enrich every artifact with (default: the one beside each artifact)
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Export compiled SQL as db.query.text (off by default: SQL may hold sensitive literals)
    #[arg(long)]
    pub include_sql: bool,

    /// Add a child span per timing phase (compile, execute) inside each node span
    #[arg(long)]
    pub phase_spans: bool,

    /// Run the dbt command given after `--` under a wrapper span (dbt gets its traceparent as
    /// DBT_ENV_CUSTOM_ENV_TRACEPARENT), then convert the artifacts it wrote (PATHs, default
    /// its --target-path inside its --project-dir) as children of that span; exits with dbt's
    /// exit code.  Example: retrace dbt --run -- dbt build
    #[arg(long, requires = "command")]
    pub run: bool,

    /// The dbt command line (after `--`), for --run
    #[arg(last = true, value_name = "DBT COMMAND", requires = "run")]
    pub command: Vec<std::ffi::OsString>,

    #[command(flatten)]
    pub export: ExportArgs,
}

impl DbtArgs {
    pub fn source_options(&self) -> SourceOptions {
        SourceOptions {
            include_sql: self.include_sql,
            phase_spans: self.phase_spans,
            manifest: self.manifest.clone(),
            ..Default::default()
        }
    }
}

/// Arguments of the verbs that convert one format (airflow, dagu, dotflow, records).
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Files, directories or globs
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// Zone of timestamps written without one: local, UTC, an IANA name (Europe/Berlin) or an
    /// offset (+09:00) [default: local]
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,

    #[command(flatten)]
    pub export: ExportArgs,
}

/// Arguments of `retrace backfill`.
#[derive(Args, Debug)]
pub struct BackfillArgs {
    /// Directories, files or globs holding artifacts of any format retrace reads
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// Zone of timestamps written without one (see `retrace dagu --help`) [default: local]
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,

    /// Export dbt compiled SQL as db.query.text
    #[arg(long)]
    pub include_sql: bool,

    /// Only runs that started at or after this instant (RFC 3339, or a UTC date YYYY-MM-DD)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Only runs that started before this instant (RFC 3339, or a UTC date YYYY-MM-DD)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    #[command(flatten)]
    pub export: ExportArgs,
}

/// Arguments of `retrace run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The workflow file (YAML)
    pub workflow: PathBuf,

    /// Steps running at once [default: the number of CPUs]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_parallel: Option<u16>,

    /// Step records file (retrace.records/v1), appended as steps finish
    /// [default: .retrace/runs/<workflow name>/<run id>.jsonl]
    #[arg(long, value_name = "FILE")]
    pub records: Option<PathBuf>,

    /// Directory of the per-step log files [default: .retrace/runs/<workflow name>/<run id>/]
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// Time a step gets to stop after SIGTERM (timeout, cancellation) before SIGKILL
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub grace: String,

    /// The run id [default: a new UUIDv7]; derived trace and span ids follow from it
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    #[command(flatten)]
    pub export: ExportArgs,
}

/// Arguments of `retrace send`.
#[derive(Args, Debug)]
pub struct SendArgs {
    /// OTLP/JSON lines files [default: the spool directory's files]
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub export: ExportArgs,
}

/// Arguments of `retrace exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,

    #[command(flatten)]
    pub export: ExportArgs,
}

/// Options shared by every verb that sends spans.
#[derive(Args, Debug, Clone, Default)]
pub struct ExportArgs {
    /// Parent context, W3C traceparent (00-<trace-id>-<span-id>-<flags>) [env: TRACEPARENT]
    #[arg(long, value_name = "TRACEPARENT", help_heading = "Trace context")]
    pub traceparent: Option<String>,

    /// W3C tracestate to go with --traceparent [env: TRACESTATE]
    #[arg(long, value_name = "TRACESTATE", help_heading = "Trace context")]
    pub tracestate: Option<String>,

    /// Salt for derived ids, so two deployments whose run ids coincide (a manual run id, a DAG
    /// copied between environments) never share a trace [env: RETRACE_NAMESPACE]
    #[arg(
        long,
        env = "RETRACE_NAMESPACE",
        value_name = "NAME",
        help_heading = "Trace context"
    )]
    pub namespace: Option<String>,

    /// Print each run's root traceparent on stdout (to parent later work under it)
    #[arg(long, help_heading = "Trace context")]
    pub print_traceparent: bool,

    /// OTLP endpoint: http(s)://host:4317 (gRPC) or http(s)://host:4318[/v1/traces] (HTTP)
    /// [env: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT]
    #[arg(long, value_name = "URL", help_heading = "Export")]
    pub endpoint: Option<String>,

    /// grpc, http/protobuf or http/json [env: OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL;
    /// default: inferred from the endpoint, else http/protobuf]
    #[arg(long, value_name = "PROTOCOL", help_heading = "Export")]
    pub protocol: Option<String>,

    /// Header sent with every export, KEY=VALUE, repeatable; ${VAR} is expanded; values are
    /// never printed [env: OTEL_EXPORTER_OTLP_(TRACES_)HEADERS]
    #[arg(long = "header", value_name = "KEY=VALUE", help_heading = "Export")]
    pub headers: Vec<String>,

    /// Export deadline including retries, e.g. 500ms, 10s [env: OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT
    /// in milliseconds; default: 10s]
    #[arg(long, value_name = "DURATION", help_heading = "Export")]
    pub timeout: Option<String>,

    /// Use plaintext for an endpoint given without scheme [env: OTEL_EXPORTER_OTLP_(TRACES_)INSECURE]
    #[arg(long, help_heading = "Export")]
    pub insecure: bool,

    /// PEM file of the CA that signed the collector's certificate
    /// [env: OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE]
    #[arg(long, value_name = "FILE", help_heading = "Export")]
    pub certificate: Option<PathBuf>,

    /// otlp, file (needs --output), console (a readable tree on stdout) or none
    /// [env: OTEL_TRACES_EXPORTER; default: otlp]
    #[arg(long, value_name = "EXPORTER", help_heading = "Export")]
    pub exporter: Option<String>,

    /// Write OTLP/JSON lines (the Collector's file format) to FILE instead of sending; - = stdout
    #[arg(long, short = 'o', value_name = "FILE", help_heading = "Export")]
    pub output: Option<PathBuf>,

    /// Directory where spans that could not be delivered are kept, as OTLP/JSON lines, for
    /// `retrace send` [default: $XDG_STATE_HOME/retrace/spool, else ~/.local/state/retrace/spool]
    #[arg(long, value_name = "DIR", help_heading = "Export")]
    pub spool: Option<PathBuf>,

    /// Keep nothing that could not be delivered
    #[arg(long, conflicts_with = "spool", help_heading = "Export")]
    pub no_spool: bool,

    /// Spans per export request [default: 512]
    #[arg(long, value_name = "N", help_heading = "Export")]
    pub chunk_size: Option<usize>,

    /// Convert and say what would be sent, without sending
    #[arg(long, help_heading = "Export")]
    pub dry_run: bool,

    /// service.name of the resource [env: OTEL_SERVICE_NAME; default: the system, e.g. dbt]
    #[arg(long, value_name = "NAME", help_heading = "Resource")]
    pub service_name: Option<String>,

    /// Resource attribute KEY=VALUE, repeatable [env: OTEL_RESOURCE_ATTRIBUTES]
    #[arg(long = "resource", value_name = "KEY=VALUE", help_heading = "Resource")]
    pub resource: Vec<String>,

    /// Print nothing but errors
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl ExportArgs {
    /// The salt of derived ids; "" for none.
    pub fn id_namespace(&self) -> String {
        self.namespace.clone().unwrap_or_default()
    }

    pub fn sink_flags(&self) -> SinkFlags {
        SinkFlags {
            endpoint: self.endpoint.clone(),
            protocol: self.protocol.clone(),
            headers: self.headers.clone(),
            timeout: self.timeout.clone(),
            insecure: self.insecure,
            certificate: self.certificate.clone(),
            exporter: self.exporter.clone(),
            output: self.output.clone(),
            service_name: self.service_name.clone(),
            resource: self.resource.clone(),
            chunk_size: self.chunk_size,
            file: None,
            spool: self.spool.clone(),
            no_spool: self.no_spool,
        }
    }
}

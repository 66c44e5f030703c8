//! The flags of every verb that sends spans, in groups so a verb takes only those it honours,
//! and their one conversion into the library's resolved `Export` (flags > environment >
//! files > defaults; ARCHITECTURE.md, "Configuration").

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::report::{exit, report};
use crate::sink::config::{self, EnvSnapshot, FileDefaults, SinkConfig, SinkFlags};
use crate::sink::delivery::{DeliveryOptions, Export};
use crate::trace::carrier;
use crate::trace::context::{InjectedContext, TraceParent};

/// Where runs sit in a trace: the parent, id salting, printing the root's context.
#[derive(Args, Debug, Clone, Default)]
pub struct ContextArgs {
    /// Parent context, W3C traceparent (00-<trace-id>-<span-id>-<flags>) [env: TRACEPARENT]
    #[arg(long, value_name = "TRACEPARENT", help_heading = "Trace context")]
    pub traceparent: Option<String>,

    /// W3C tracestate to go with --traceparent [env: TRACESTATE]
    #[arg(
        long,
        value_name = "TRACESTATE",
        conflicts_with = "traceparent_from",
        help_heading = "Trace context"
    )]
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

    /// Parent context from a JSON carrier file (- = stdin, which under exec and dbt --run is
    /// then not the command's): an object with traceparent and tracestate (also otel- or
    /// x-amz-meta- prefixed, as S3 metadata holds them), or a list of [key, value] header
    /// pairs (a Kafka record's headers)
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "traceparent",
        help_heading = "Trace context"
    )]
    pub traceparent_from: Option<PathBuf>,

    /// Print each run's root traceparent on stdout (on stderr for exec and dbt --run, whose
    /// stdout is the command's), to parent later work under it
    #[arg(long, help_heading = "Trace context")]
    pub print_traceparent: bool,

    /// Write each run's root context to FILE as a JSON carrier ({"traceparent": …,
    /// "tracestate": …}; one line per run), for an XCom push, S3 metadata or a message header
    #[arg(long, value_name = "FILE", help_heading = "Trace context")]
    pub carrier_out: Option<PathBuf>,
}

/// How to reach an OTLP collector.
#[derive(Args, Debug, Clone, Default)]
pub struct OtlpArgs {
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
    #[arg(long, value_name = "DURATION", value_parser = super::values::duration, help_heading = "Export")]
    pub timeout: Option<Duration>,

    /// Use plaintext for an endpoint given without scheme [env: OTEL_EXPORTER_OTLP_(TRACES_)INSECURE]
    #[arg(long, help_heading = "Export")]
    pub insecure: bool,

    /// PEM file of the CA that signed the collector's certificate
    /// [env: OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE]
    #[arg(long, value_name = "FILE", help_heading = "Export")]
    pub certificate: Option<PathBuf>,

    /// PEM client certificate for a collector that asks for one (mTLS), with --client-key
    /// [env: OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_CERTIFICATE]
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Export",
        requires = "client_key"
    )]
    pub client_certificate: Option<PathBuf>,

    /// PEM private key of --client-certificate [env: OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_KEY]
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Export",
        requires = "client_certificate"
    )]
    pub client_key: Option<PathBuf>,
}

/// An OpenTelemetry configuration file.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigFileArgs {
    /// OpenTelemetry declarative configuration file: its tracer_provider exporter (otlp_http,
    /// otlp_grpc, console) and resource; below flags and OTEL_* variables
    /// [env: OTEL_CONFIG_FILE]
    #[arg(long = "config", value_name = "FILE", help_heading = "Export")]
    pub file: Option<PathBuf>,
}

/// Where spans that could not be delivered are kept.
#[derive(Args, Debug, Clone, Default)]
pub struct SpoolArgs {
    /// Directory where spans that could not be delivered are kept, as OTLP/JSON lines, for
    /// `retrace send` [default: $XDG_STATE_HOME/retrace/spool, else ~/.local/state/retrace/spool]
    #[arg(long, value_name = "DIR", help_heading = "Export")]
    pub spool: Option<PathBuf>,

    /// Keep nothing that could not be delivered
    #[arg(long, conflicts_with = "spool", help_heading = "Export")]
    pub no_spool: bool,
}

/// The exporter and what it writes.
#[derive(Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// otlp, file (needs --output), console (a readable tree on stdout) or none
    /// [env: OTEL_TRACES_EXPORTER; default: otlp]
    #[arg(long, value_name = "EXPORTER", help_heading = "Export")]
    pub exporter: Option<String>,

    /// Write OTLP/JSON lines (the Collector's file format) to FILE instead of sending; - = stdout
    #[arg(long, short = 'o', value_name = "FILE", help_heading = "Export")]
    pub output: Option<PathBuf>,

    /// Spans per export request [default: 512]
    #[arg(long, value_name = "N", help_heading = "Export")]
    pub chunk_size: Option<usize>,

    /// Send the runs' metrics too (durations, queue times, rows, failures, freshness; README
    /// "Metrics") where the spans go [env: OTEL_METRICS_EXPORTER=otlp turns them on]
    #[arg(long, help_heading = "Metrics")]
    pub metrics: bool,

    /// Put the run id on every metric point (off by default: one series per run)
    #[arg(long, requires = "metrics", help_heading = "Metrics")]
    pub metrics_run_id: bool,
}

/// The resource the spans are sent with.
#[derive(Args, Debug, Clone, Default)]
pub struct ResourceArgs {
    /// service.name of the resource [env: OTEL_SERVICE_NAME; default: the system, e.g. dbt]
    #[arg(long, value_name = "NAME", help_heading = "Resource")]
    pub service_name: Option<String>,

    /// Resource attribute KEY=VALUE, repeatable [env: OTEL_RESOURCE_ATTRIBUTES]
    #[arg(long = "resource", value_name = "KEY=VALUE", help_heading = "Resource")]
    pub resource: Vec<String>,
}

/// `--dry-run` and `--quiet`.
#[derive(Args, Debug, Clone, Default)]
pub struct BehaviourArgs {
    /// Convert and say what would be sent, without sending
    #[arg(long, help_heading = "Export")]
    pub dry_run: bool,

    /// Print nothing but errors
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Every export flag: what a verb that builds and sends spans takes.
#[derive(Args, Debug, Clone, Default)]
pub struct ExportArgs {
    #[command(flatten)]
    pub context: ContextArgs,
    #[command(flatten)]
    pub otlp: OtlpArgs,
    #[command(flatten)]
    pub config: ConfigFileArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub spool: SpoolArgs,
    #[command(flatten)]
    pub resource: ResourceArgs,
    #[command(flatten)]
    pub behaviour: BehaviourArgs,
}

impl ExportArgs {
    /// The resolved export, or the one line that says what is wrong with the flags, the
    /// environment or `file` (a workflow's `otel:` block).
    pub fn resolve(&self, env: &EnvSnapshot, file: Option<FileDefaults>) -> Result<Export, String> {
        let sink = sink_config(
            &self.otlp,
            &self.config,
            &self.output,
            &self.spool,
            &self.resource,
            env,
            file,
        )?;
        Ok(Export {
            sink,
            options: self.options(),
            parent: self.parent()?,
            namespace: self.context.namespace.clone().unwrap_or_default(),
            namespace_from_path: false,
        })
    }

    /// `resolve`, or report the problem and give the usage exit code.
    pub fn resolve_or_exit(&self, env: &EnvSnapshot) -> Result<Export, i32> {
        self.resolve(env, None).map_err(|problem| {
            report(problem);
            exit::USAGE
        })
    }

    /// For a verb that wraps a command (`exec`, `dbt --run`): the command owns stdout, and a
    /// problem with the export settings is the command's warning, not its end.
    pub fn resolve_for_a_command(
        &self,
        env: &EnvSnapshot,
    ) -> (Result<Export, String>, DeliveryOptions) {
        let options = DeliveryOptions {
            stdout_is_the_commands: true,
            ..self.options()
        };
        let export = self.resolve(env, None).map(|export| Export {
            options: options.clone(),
            ..export
        });
        (export, options)
    }

    pub fn options(&self) -> DeliveryOptions {
        DeliveryOptions {
            print_traceparent: self.context.print_traceparent,
            carrier_out: self.context.carrier_out.clone(),
            stdout_is_the_commands: false,
            dry_run: self.behaviour.dry_run,
            quiet: self.behaviour.quiet,
        }
    }

    /// The injected parent: flag (or carrier file) first, then the environment.
    fn parent(&self) -> Result<Option<TraceParent>, String> {
        let mut injected = InjectedContext::from_env(
            self.context.traceparent.clone(),
            self.context.tracestate.clone(),
        );
        if let Some(path) = &self.context.traceparent_from {
            let name = path.display().to_string();
            let text = read_carrier(path).map_err(|e| format!("{name}: {e}"))?;
            let found = carrier::read(&text).map_err(|e| format!("{name}: {e}"))?;
            injected.carrier = Some((name, found));
        }
        injected
            .resolve()
            .map_err(|(origin, e)| format!("invalid trace context in {origin}: {e}"))
    }
}

/// A carrier's text: a regular file or stdin (`-`), at most 1 MiB (a carrier is a few
/// hundred bytes; anything else is not one, and a device would never end).
fn read_carrier(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    const LIMIT: u64 = 1 << 20;
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(LIMIT + 1)
            .read_to_string(&mut text)
    } else {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        std::fs::File::open(path).and_then(|f| f.take(LIMIT + 1).read_to_string(&mut text))
    };
    match read {
        Ok(n) if n as u64 > LIMIT => Err("larger than 1 MiB: not a carrier".into()),
        Ok(_) => Ok(text),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}

/// The sink configuration of these flag groups (absent groups count as not given).
pub fn sink_config(
    otlp: &OtlpArgs,
    config: &ConfigFileArgs,
    output: &OutputArgs,
    spool: &SpoolArgs,
    resource: &ResourceArgs,
    env: &EnvSnapshot,
    file: Option<FileDefaults>,
) -> Result<SinkConfig, String> {
    let flags = SinkFlags {
        endpoint: otlp.endpoint.clone(),
        protocol: otlp.protocol.clone(),
        headers: otlp.headers.clone(),
        timeout: otlp.timeout,
        insecure: otlp.insecure,
        certificate: otlp.certificate.clone(),
        client_certificate: otlp.client_certificate.clone(),
        client_key: otlp.client_key.clone(),
        exporter: output.exporter.clone(),
        output: output.output.clone(),
        service_name: resource.service_name.clone(),
        resource: resource.resource.clone(),
        chunk_size: output.chunk_size,
        file,
        config_file: config.file.clone(),
        spool: spool.spool.clone(),
        no_spool: spool.no_spool,
        metrics: output.metrics,
        metrics_run_id: output.metrics_run_id,
    };
    config::resolve(&flags, env).map_err(|e| e.to_string())
}

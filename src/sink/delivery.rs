//! A verb's resolved export settings (`Export`: where spans go, how, under which parent) and
//! `Delivery`, which sends runs through one sink for the whole invocation and says at the end
//! what was delivered where.

use std::io::Write;

use crate::report::{print_line, report};
use crate::sink::config::{ExporterKind, SinkConfig};
use crate::sink::{self, Sink};
use crate::trace::build::BuiltRun;
use crate::trace::carrier;
use crate::trace::context::TraceParent;

/// Everything below the verbs needs to send spans, resolved once from flags, environment and
/// files (the verbs' `ExportArgs` → this).
#[derive(Clone, Debug)]
pub struct Export {
    pub sink: SinkConfig,
    pub options: DeliveryOptions,
    /// The injected parent of every run (flag > env).
    pub parent: Option<TraceParent>,
    /// The salt of derived ids (`--namespace`); "" for none.
    pub namespace: String,
    /// Salt each input's ids with its first folder under the path given (`--namespace-from-path`).
    pub namespace_from_path: bool,
}

/// How a delivery behaves, beside where it sends.
#[derive(Clone, Debug, Default)]
pub struct DeliveryOptions {
    /// Print each run's root traceparent (stdout, or stderr for a wrapped command's runs).
    pub print_traceparent: bool,
    /// The wrapped command owns stdout: `print_traceparent` goes to stderr.
    pub stdout_is_the_commands: bool,
    /// Write each run's root context to this file as a JSON carrier (one line per run).
    pub carrier_out: Option<std::path::PathBuf>,
    /// Say what would be sent, send nothing.
    pub dry_run: bool,
    /// Print nothing but errors.
    pub quiet: bool,
}

impl Export {
    /// Sends nowhere: for a wrapper whose export settings were unusable (the command still runs).
    pub fn disabled(options: DeliveryOptions) -> Export {
        Export {
            sink: SinkConfig::disabled(),
            options,
            parent: None,
            namespace: String::new(),
            namespace_from_path: false,
        }
    }
}

/// Sends runs as they come; the sink is opened on the first run, so nothing is connected
/// when there is nothing to send. The live verbs (runner, exec) send a run in parts.
pub struct Delivery<'a> {
    config: &'a SinkConfig,
    options: DeliveryOptions,
    /// The `--carrier-out` file once written to (truncated by the first run, then appended).
    carrier: Option<std::fs::File>,
    /// Runs arrive in parts (see `hold_until_finish`).
    in_parts: bool,
    sink: Option<Box<dyn Sink>>,
    runs: usize,
    spans: usize,
    sent: usize,
    failed: bool,
    /// `--metrics`: the points of each run, made from its spans.
    metrics: Option<crate::trace::metrics::Metrics>,
    points: usize,
    points_sent: usize,
}

impl<'a> Delivery<'a> {
    pub fn new(export: &'a Export) -> Self {
        Delivery {
            config: &export.sink,
            options: export.options.clone(),
            carrier: None,
            in_parts: false,
            sink: None,
            runs: 0,
            spans: 0,
            sent: 0,
            failed: false,
            metrics: export
                .sink
                .metrics
                .as_ref()
                .map(|m| crate::trace::metrics::Metrics::new(m.run_id)),
            points: 0,
            points_sent: 0,
        }
    }

    /// Runs will arrive in parts (a live run): sinks that show whole runs wait for `finish`.
    pub fn hold_until_finish(&mut self) {
        self.in_parts = true;
        if let Some(sink) = self.sink.as_mut() {
            sink.hold_until_finish();
        }
    }

    /// Sends a whole run (and announces its context when asked).
    pub fn send(&mut self, run: BuiltRun) {
        self.announce(&run.traceparent, &run.tracestate);
        self.send_part(run, true);
    }

    /// A run's root context, where it was asked for: `--print-traceparent`, `--carrier-out`.
    pub fn announce(&mut self, traceparent: &str, tracestate: &str) {
        if self.options.print_traceparent {
            self.say(traceparent);
        }
        // A dry run writes nothing.
        let Some(path) = self
            .options
            .carrier_out
            .as_ref()
            .filter(|_| !self.options.dry_run)
        else {
            return;
        };
        let opened = match self.carrier.take() {
            Some(file) => Ok(file),
            None => std::fs::File::create(path),
        };
        let line = format!("{}\n", carrier::write(traceparent, tracestate));
        match opened.and_then(|mut f| f.write_all(line.as_bytes()).map(|()| f)) {
            Ok(file) => self.carrier = Some(file),
            Err(e) => {
                report(format!(
                    "{}: cannot write the carrier: {e}; no further carriers are written",
                    path.display()
                ));
                self.options.carrier_out = None;
            }
        }
    }

    /// Sends some spans of a run; `last` marks the part that completes it.
    pub fn send_part(&mut self, run: BuiltRun, last: bool) {
        self.runs += usize::from(last);
        self.spans += run.spans.len();
        let root = crate::trace::context::parse(&run.traceparent, None)
            .map(|p| p.span_id)
            .ok();
        let metrics = self
            .metrics
            .as_mut()
            .zip(root)
            .map(|(m, root)| m.observe(&run.spans, root))
            .filter(|m| !m.is_empty());
        let resource = sink::resource_for(&run, self.config);
        let request = metrics.map(|m| crate::trace::metrics::request(m, &resource));
        let points = request
            .as_ref()
            .map_or(0, crate::trace::metrics::point_count);
        self.points += points;
        if self.options.dry_run {
            let metrics = match points {
                0 => String::new(),
                n => format!(" and {n} metric points"),
            };
            self.say(format_args!(
                "would send {} spans{metrics} of {} run {} (trace {}) to {}",
                run.spans.len(),
                run.system,
                run.run_id,
                &run.traceparent[3..35],
                destination(self.config)
            ));
            return;
        }
        if self.sink.is_none() {
            match sink::open(self.config) {
                Ok(mut s) => {
                    if self.in_parts {
                        s.hold_until_finish();
                    }
                    self.sink = Some(s);
                }
                Err(e) => {
                    // Reported once; later runs count as undelivered.
                    if !self.failed {
                        report(e);
                    }
                    self.failed = true;
                    return;
                }
            }
        }
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        match sink.send(run, &resource) {
            Ok(n) => self.sent += n,
            Err(e) => {
                report(e);
                self.failed = true;
            }
        }
        if let Some(request) = request {
            match sink.send_metrics(request) {
                Ok(n) => self.points_sent += n,
                Err(e) => {
                    report(e);
                    self.failed = true;
                }
            }
        }
    }

    /// A line for the reader: on stdout, or on stderr when stdout is a wrapped command's.
    fn say(&self, line: impl std::fmt::Display) {
        if self.options.stdout_is_the_commands {
            eprintln!("{line}");
        } else {
            print_line(line);
        }
    }

    /// Flushes and reports; false when something was not delivered.
    pub fn finish(mut self) -> bool {
        if self.options.dry_run {
            return true;
        }
        if let Some(sink) = self.sink.as_mut() {
            if let Err(e) = sink.finish() {
                report(e);
                self.failed = true;
            }
        }
        if !self.options.quiet && self.runs > 0 && self.config.exporters != [ExporterKind::Console]
        {
            let switched = self.sink.as_ref().and_then(|s| s.otlp_destination());
            let metrics = match (&self.config.metrics, self.points) {
                (None, _) => String::new(),
                (Some(_), 0) => " (no metric points)".to_owned(),
                (Some(m), n) if self.config.exporters.contains(&ExporterKind::Otlp) => format!(
                    ", and {} of {n} metric points to {}",
                    self.points_sent,
                    m.otlp.otlp_destination()
                ),
                (Some(_), n) => format!(", and {} of {n} metric points", self.points_sent),
            };
            report(format!(
                "{} {} of {} spans from {} run(s) to {}{metrics}",
                if self.failed {
                    "delivered only"
                } else {
                    "delivered"
                },
                self.sent,
                self.spans,
                self.runs,
                destination_with(self.config, switched)
            ));
        }
        !self.failed
    }
}

/// Where a configuration sends, as the closing line names it.
pub fn destination(config: &SinkConfig) -> String {
    destination_with(config, None)
}

/// `destination`, with where OTLP export really went when that changed on the way.
fn destination_with(config: &SinkConfig, otlp: Option<String>) -> String {
    config
        .exporters
        .iter()
        .map(|kind| match (kind, &otlp) {
            (ExporterKind::Otlp, Some(actual)) => actual.clone(),
            _ => destination_of(*kind, config),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

fn destination_of(kind: ExporterKind, config: &SinkConfig) -> String {
    match kind {
        ExporterKind::Otlp => config.otlp_destination(),
        ExporterKind::File => config
            .output
            .as_deref()
            .unwrap_or(std::path::Path::new("-"))
            .display()
            .to_string(),
        ExporterKind::Console => "the console".into(),
        ExporterKind::None => "nowhere (exporter none)".into(),
    }
}

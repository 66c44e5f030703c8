//! A run as it happens: its records appended to the records file one line at a time (flushed,
//! so a crash keeps every finished step), and its spans sent as soon as they are final. Spans
//! are built by the same `trace::build` from the same `Run` that `retrace records` later reads
//! back from the file, which is what makes the live spans and the converted ones identical.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use opentelemetry::trace::SpanKind;

use crate::record::{Attributes, Nanos, Outcome, ParentText, Run, Step};
use crate::report::report;
use crate::sink::background::Background;
use crate::sink::delivery::Export;
use crate::source::records;
use crate::trace::build::{self, BuiltRun, Identity};
use crate::trace::context::{self, TraceParent};

pub struct LiveRun {
    run: Run,
    identity: Identity,
    namespace: String,
    records: Option<(PathBuf, File)>,
    /// Spans go out on a thread of their own: the caller never waits on the collector.
    delivery: Background,
    /// A kind for the root span other than a run's (`exec --kind`).
    root_kind: Option<SpanKind>,
}

/// The header of a run retrace runs itself (system `retrace`): ids, names and start; the
/// caller adds attributes.
pub fn header(run_id: String, name: String, pipeline_name: String, start: Nanos) -> Run {
    Run {
        system: "retrace".into(),
        run_id,
        name,
        pipeline_name,
        start: Some(start),
        end: None,
        outcome: Outcome::Unknown,
        message: None,
        parent: None,
        native_trace_id: None,
        native_span_id: None,
        resource: Vec::new(),
        events: Vec::new(),
        attributes: Attributes::default(),
        steps: Vec::new(),
    }
}

impl LiveRun {
    /// Starts a run from its `header` under `parent`, writing the header line to `records`
    /// when given. The parent is recorded in the header, so a later `retrace records` puts
    /// the run where it was sent live.
    pub fn start(
        mut run: Run,
        parent: Option<&TraceParent>,
        namespace: &str,
        records: Option<&Path>,
        export: &Export,
    ) -> Result<LiveRun, String> {
        run.parent = parent.map(|p| ParentText {
            traceparent: context::format_traceparent(&p.trace_id, &p.span_id, p.sampled),
            tracestate: Some(p.tracestate.clone()).filter(|s| !s.is_empty()),
            origin: "the parent context retrace was given".into(),
        });
        let identity = Identity::of(&run, parent, namespace);
        let records = match records {
            None => None,
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("{}: cannot open for writing: {e}", path.display()))?;
                Some((path.to_owned(), file))
            }
        };
        let mut live = LiveRun {
            run,
            identity,
            namespace: namespace.to_owned(),
            records,
            delivery: Background::start(export),
            root_kind: None,
        };
        live.append(&records::header_line(&live.run));
        Ok(live)
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The root span gets `kind` instead of a run root's SERVER: a wrapped command is the
    /// caller's to classify (otel-cli's `--kind`); the record model keeps no kind, as every
    /// other root is a run.
    pub fn with_root_kind(mut self, kind: Option<SpanKind>) -> Self {
        self.root_kind = kind;
        self
    }

    /// Says where the run is, as asked (`--print-traceparent`, `--carrier-out`): at its start,
    /// so later work can be parented under it while it runs.
    pub fn announce(&mut self) {
        let traceparent = self.identity.traceparent(self.identity.root());
        self.delivery
            .announce(traceparent, self.identity.tracestate.clone());
    }

    /// Records finished steps and sends their spans.
    pub fn finish_steps(&mut self, steps: Vec<Step>) {
        let first = self.run.steps.len();
        for step in steps {
            self.append(&records::step_line(&self.run.run_id, &step));
            self.run.steps.push(step);
        }
        let new: Vec<usize> = (first + 1..=self.run.steps.len()).collect();
        self.send(&new, false);
    }

    /// Sends another run through the same delivery (the dbt wrapper's dbt run).
    pub fn send_run(&mut self, run: BuiltRun) {
        self.delivery.send_part(run, true);
    }

    /// Ends the run: the closing record, the root span, and the delivery's final flush.
    /// Returns whether every span was delivered.
    /// Events of the run's own span (what `exec`'s command reported), sent with its end.
    pub fn add_events(&mut self, events: Vec<crate::record::Event>) {
        self.run.events.extend(events);
    }

    pub fn end(
        mut self,
        end: Nanos,
        outcome: Outcome,
        message: Option<String>,
        end_attributes: Attributes,
    ) -> bool {
        self.run.end = Some(end);
        self.run.outcome = outcome;
        self.run.message = message;
        self.run.attributes.merge(end_attributes.0.iter().cloned());
        self.append(&records::end_line(&self.run, &end_attributes));
        self.send(&[0], true);
        self.delivery.finish()
    }

    /// Sends the spans at `indices` (0 = the root) of the run as it stands.
    fn send(&mut self, indices: &[usize], last: bool) {
        match build::build_part(&self.run, indices, &build::scope(), &self.namespace) {
            Ok(mut part) => {
                if let (Some(kind), Some(0)) = (&self.root_kind, indices.first().copied()) {
                    if let Some(root) = part.spans.first_mut() {
                        root.span_kind = kind.clone();
                    }
                }
                self.delivery.send_part(part, last)
            }
            Err(e) => report(format!("run {}: {e}", self.run.run_id)),
        }
    }

    /// Appends one line and flushes it; a failing records file is reported once and then
    /// left alone (the run itself must go on).
    fn append(&mut self, line: &str) {
        let Some((path, file)) = &mut self.records else {
            return;
        };
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        if let Err(e) = file.write_all(&bytes).and_then(|()| file.flush()) {
            report(format!(
                "{}: cannot write records: {e}; no further records are written",
                path.display()
            ));
            self.records = None;
        }
    }
}

//! OTLP export: each run becomes requests of at most `--chunk-size` spans, handed to the
//! transport (retries per the OTLP specification, `partial_success` reported). A request too
//! large for the collector is halved until it fits; one the collector refuses for good is set
//! aside (`<spool>/rejected/`) and the others still go. Once a request cannot be delivered
//! (collector down or misconfigured), the collector is taken as gone for this invocation:
//! everything not yet delivered goes straight to the spool, so a dead collector costs one
//! `--timeout`, not one per run.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use std::path::PathBuf;

use opentelemetry_sdk::Resource;

use crate::report::report;
use crate::sink::config::SinkConfig;
use crate::sink::file::request;
use crate::sink::spool;
use crate::sink::spool::{Destination, Spool};
use crate::sink::transport::{Accepted, ExportError, Transport, Undelivered};
use crate::sink::{into_chunks, Sink, SinkError};
use crate::trace::build::BuiltRun;
use crate::trace::metrics::point_count;

pub struct OtlpSink {
    transport: Transport,
    chunk_size: usize,
    destination: String,
    spool: Option<Spool>,
    /// Why the collector was given up on.
    broken: Option<String>,
    undelivered: usize,
    rejected: i64,
    /// Spans that could not even be kept (no spool, or it could not be written), and why.
    lost: usize,
    lost_why: Option<String>,
    /// Spans of requests the collector refused for good, and where they were set aside.
    refused: usize,
    set_aside: Option<PathBuf>,
    /// `--metrics`: their own endpoint and tally.
    metrics: Option<MetricsPath>,
}

/// Where metrics go over OTLP, and what became of them.
struct MetricsPath {
    transport: Transport,
    destination: String,
    /// Why the metrics endpoint was given up on.
    broken: Option<String>,
    undelivered: usize,
    refused: usize,
    rejected: i64,
}

impl OtlpSink {
    pub fn new(config: &SinkConfig) -> Result<OtlpSink, SinkError> {
        Ok(OtlpSink {
            transport: Transport::new(config)?,
            chunk_size: config.chunk_size,
            destination: format!(
                "{} ({}, endpoint from {})",
                config.endpoint_display(),
                config.protocol.as_str(),
                config.endpoint_origin
            ),
            spool: config
                .spool
                .clone()
                .map(|dir| Spool::new(dir, Some(Destination::of_config(config)))),
            broken: None,
            undelivered: 0,
            rejected: 0,
            refused: 0,
            set_aside: None,
            lost: 0,
            lost_why: None,
            metrics: match &config.metrics {
                Some(m) => Some(MetricsPath {
                    transport: Transport::new(&m.otlp)?,
                    destination: format!(
                        "{} ({}, endpoint from {})",
                        m.otlp.endpoint_display(),
                        m.otlp.protocol.as_str(),
                        m.otlp.endpoint_origin
                    ),
                    broken: None,
                    undelivered: 0,
                    refused: 0,
                    rejected: 0,
                }),
                None => None,
            },
        })
    }
}

impl Sink for OtlpSink {
    fn otlp_destination(&self) -> Option<String> {
        self.transport.switched_to()
    }

    /// Chunks go one at a time, in order. Encoding the next chunk while the previous one is
    /// in flight was measured slower on 2 cores with the collector on the same machine
    /// (README, Performance), and keeps retries and the spool simple.
    fn send(&mut self, mut run: BuiltRun, resource: &Resource) -> Result<usize, SinkError> {
        let spans = std::mem::take(&mut run.spans);
        let mut sent = 0;
        for chunk in into_chunks(spans, self.chunk_size) {
            let count = chunk.len();
            sent += self.deliver(&run, request(chunk, resource), count);
        }
        Ok(sent)
    }

    /// Metrics go as one request per run; one too large for the collector (a 20,000-node
    /// run) is sent in halves, down to single points. A request refused for good is set
    /// aside, one not delivered is kept in the same spool as spans (`retrace send` replays
    /// both).
    fn send_metrics(&mut self, request: ExportMetricsServiceRequest) -> Result<usize, SinkError> {
        let mut delivered = 0;
        let mut pending = vec![request];
        while let Some(request) = pending.pop() {
            match self.send_metrics_part(request) {
                Ok(n) => delivered += n,
                Err(too_large) => match crate::trace::metrics::halves(too_large) {
                    Ok((first, second)) => {
                        pending.push(second);
                        pending.push(first);
                    }
                    Err(single) => self.refuse_metrics(
                        &single,
                        "one point over the collector's size limit".into(),
                    ),
                },
            }
        }
        Ok(delivered)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let mut problems = Vec::new();
        if let Some(m) = &self.metrics {
            if m.undelivered > 0 {
                problems.push(format!("{} metric points not delivered", m.undelivered));
            }
            if m.refused > 0 {
                problems.push(format!("{} metric points refused for good", m.refused));
            }
            if m.rejected > 0 {
                problems.push(format!(
                    "{} metric points rejected by the collector",
                    m.rejected
                ));
            }
        }
        if self.undelivered > 0 {
            let mut text = format!("{} spans not delivered", self.undelivered);
            if let Some(hint) = self.spool.as_ref().and_then(Spool::kept_hint) {
                text.push_str(&format!("; {hint}"));
            }
            if self.lost > 0 {
                text.push_str(&format!(
                    "; {} lost ({})",
                    self.lost,
                    self.lost_why.as_deref().unwrap_or("no spool")
                ));
            }
            problems.push(text);
        }
        if self.rejected > 0 {
            problems.push(format!("{} spans rejected by the collector", self.rejected));
        }
        if self.refused > 0 {
            problems.push(match &self.set_aside {
                Some(file) => format!(
                    "{} spans refused for good by the collector, set aside in {}",
                    self.refused,
                    file.display()
                ),
                None => format!(
                    "{} spans refused for good by the collector (no spool: lost)",
                    self.refused
                ),
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Delivery(problems.join("; ")))
        }
    }
}

impl OtlpSink {
    /// Sends one metrics request; gives it back when it is too large for the collector.
    fn send_metrics_part(
        &mut self,
        request: ExportMetricsServiceRequest,
    ) -> Result<usize, ExportMetricsServiceRequest> {
        let points = point_count(&request);
        let Some(path) = self.metrics.as_mut() else {
            return Ok(0);
        };
        let result = match path.broken {
            Some(_) => None,
            None => {
                let deadline = path.transport.deadline();
                Some(path.transport.export(&request, deadline))
            }
        };
        match result {
            Some(Ok(accepted)) => {
                let rejected = accepted.rejected.clamp(0, points as i64);
                if rejected > 0 {
                    report(format!(
                        "{} rejected {rejected} of {points} metric points: {}",
                        path.destination, accepted.message
                    ));
                    path.rejected += rejected;
                }
                Ok(points - rejected as usize)
            }
            Some(Err(ExportError {
                kind: Undelivered::TooLarge,
                ..
            })) => Err(request),
            // The endpoint gone (now, or before): kept for `retrace send`.
            None
            | Some(Err(ExportError {
                kind: Undelivered::Unreachable,
                ..
            })) => {
                if let Some(Err(e)) = result {
                    report(format!(
                        "could not deliver metrics to {}: {e}",
                        path.destination
                    ));
                    path.broken = Some(e.message);
                }
                path.undelivered += points;
                keep(
                    &mut self.spool,
                    &mut self.lost,
                    &mut self.lost_why,
                    &request,
                    points,
                );
                Ok(0)
            }
            Some(Err(e)) => {
                self.refuse_metrics(&request, e.message);
                Ok(0)
            }
        }
    }

    /// A metrics request the collector refuses for good: set aside, the rest still goes.
    fn refuse_metrics(&mut self, request: &ExportMetricsServiceRequest, why: String) {
        let points = point_count(request);
        let aside = self.spool.as_ref().map(|s| s.set_aside(request));
        let Some(path) = self.metrics.as_mut() else {
            return;
        };
        path.refused += points;
        let whereto = match aside {
            Some(Ok(file)) => format!("set aside in {}", file.display()),
            Some(Err(problem)) => format!("cannot be set aside ({problem}): lost"),
            None => "lost (no spool)".to_owned(),
        };
        report(format!(
            "{} refused {points} metric points for good: {why}; {whereto}",
            path.destination
        ));
    }
}

impl OtlpSink {
    /// Sends one request (or spools it once the collector is given up on); returns the
    /// number of spans the collector accepted.
    fn deliver(
        &mut self,
        run: &BuiltRun,
        request: ExportTraceServiceRequest,
        spans: usize,
    ) -> usize {
        if self.broken.is_some() {
            self.keep(request, spans);
            return 0;
        }
        let mut accepted_spans = 0;
        let deadline = self.transport.deadline();
        for (part, result) in export_fitting(&mut self.transport, request, deadline) {
            let count = spool::span_count(&part);
            match result {
                Ok(accepted) => accepted_spans += self.accepted(run, accepted, count),
                Err(e) if e.kind == Undelivered::Refused => self.refuse(run, part, count, &e),
                Err(e) => {
                    if self.broken.is_none() {
                        report(format!(
                            "could not deliver spans of {} run {} to {}: {e}",
                            run.system, run.run_id, self.destination
                        ));
                        self.broken = Some(e.message);
                    }
                    self.keep(part, count);
                }
            }
        }
        accepted_spans
    }

    /// What the collector took of a delivered request.
    fn accepted(&mut self, run: &BuiltRun, accepted: Accepted, spans: usize) -> usize {
        let rejected = accepted.rejected.clamp(0, spans as i64);
        if rejected > 0 {
            // Refused for good by the collector: re-sending cannot help.
            report(format!(
                "{} rejected {rejected} of {spans} spans of {} run {}: {}",
                self.destination,
                run.system,
                run.run_id,
                if accepted.message.is_empty() {
                    "(no message)"
                } else {
                    &accepted.message
                }
            ));
            self.rejected += rejected;
        }
        spans - rejected as usize
    }

    /// A request the collector refuses for good goes aside; the others still go.
    fn refuse(
        &mut self,
        run: &BuiltRun,
        request: ExportTraceServiceRequest,
        spans: usize,
        e: &ExportError,
    ) {
        self.refused += spans;
        let aside = self.spool.as_ref().map(|s| s.set_aside(&request));
        let whereto = match aside {
            Some(Ok(path)) => {
                let shown = format!("set aside in {}", path.display());
                self.set_aside = Some(path);
                shown
            }
            Some(Err(problem)) => format!("cannot be set aside ({problem}): lost"),
            None => "lost (no spool)".to_owned(),
        };
        report(format!(
            "{} refused {spans} spans of {} run {} for good: {e}; {whereto}",
            self.destination, run.system, run.run_id
        ));
    }

    /// Keeps a request in the spool; once the spool cannot be written (a full disk), what
    /// follows is counted as lost, and the closing line says both what was kept where and
    /// what was lost.
    fn keep(&mut self, request: ExportTraceServiceRequest, spans: usize) {
        self.undelivered += spans;
        keep(
            &mut self.spool,
            &mut self.lost,
            &mut self.lost_why,
            &request,
            spans,
        );
    }
}

/// Keeps a request (spans or metric points) in the spool; once the spool cannot be written
/// (a full disk), what follows is counted as lost.
fn keep(
    spool: &mut Option<Spool>,
    lost: &mut usize,
    lost_why: &mut Option<String>,
    request: &impl serde::Serialize,
    items: usize,
) {
    match spool {
        Some(spool) if lost_why.is_none() => {
            if let Err(e) = spool.keep(request, items) {
                report(format!("{e}; {items} lost here, and everything after them"));
                *lost_why = Some(e);
                *lost += items;
            }
        }
        _ => *lost += items,
    }
}

/// Sends `request`; one too large for the collector is sent in halves, down to single spans
/// (a single span still too large is refused for good). Returns each part sent, in order,
/// with its result; once the collector is unreachable, the parts not yet tried come back
/// with that same error.
pub(crate) fn export_fitting(
    transport: &mut Transport,
    request: ExportTraceServiceRequest,
    deadline: std::time::Instant,
) -> Vec<(ExportTraceServiceRequest, Result<Accepted, ExportError>)> {
    let mut out = Vec::new();
    let mut pending = vec![request];
    while let Some(request) = pending.pop() {
        let gone = out
            .last()
            .and_then(|(_, result): &(_, Result<Accepted, ExportError>)| {
                result
                    .as_ref()
                    .err()
                    .filter(|e| e.kind == Undelivered::Unreachable)
                    .cloned()
            });
        if let Some(e) = gone {
            out.push((request, Err(e)));
            continue;
        }
        match transport.export(&request, deadline) {
            Err(e) if e.kind == Undelivered::TooLarge => match spool::halves(request) {
                Ok((first, second)) => {
                    pending.push(second);
                    pending.push(first);
                }
                Err(single) => out.push((
                    single,
                    Err(ExportError {
                        message: format!("{e} (one span, over the collector's size limit)"),
                        kind: Undelivered::Refused,
                    }),
                )),
            },
            result => out.push((request, result)),
        }
    }
    out
}

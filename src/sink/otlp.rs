//! OTLP export: each run becomes requests of at most `--chunk-size` spans, handed to the
//! transport (retries per the OTLP specification, `partial_success` reported). Once a request
//! cannot be delivered, the collector is taken as gone for this invocation: everything not yet
//! delivered goes straight to the spool, so a dead collector costs one `--timeout`, not one
//! per run.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::Resource;

use crate::convert::report;
use crate::sink::config::SinkConfig;
use crate::sink::file::request;
use crate::sink::spool::Spool;
use crate::sink::transport::Transport;
use crate::sink::{Sink, SinkError};
use crate::trace::build::BuiltRun;

pub struct OtlpSink {
    transport: Transport,
    chunk_size: usize,
    state: State,
}

/// What delivery has done so far; owned by whichever thread is exporting.
struct State {
    destination: String,
    spool: Option<Spool>,
    /// Why the collector was given up on.
    broken: Option<String>,
    undelivered: usize,
    rejected: i64,
}

impl OtlpSink {
    pub fn new(config: &SinkConfig) -> Result<OtlpSink, SinkError> {
        Ok(OtlpSink {
            transport: Transport::new(config)?,
            chunk_size: config.chunk_size,
            state: State {
                destination: format!(
                    "{} ({}, endpoint from {})",
                    config.endpoint_display(),
                    config.protocol.as_str(),
                    config.endpoint_origin
                ),
                spool: config.spool.clone().map(Spool::new),
                broken: None,
                undelivered: 0,
                rejected: 0,
            },
        })
    }
}

impl Sink for OtlpSink {
    /// Chunks go one at a time, in order. Encoding the next chunk while the previous one is
    /// in flight was measured slower on 2 cores with the collector on the same machine
    /// (benches/README.md), and keeps retries and the spool simple.
    fn send(&mut self, run: &BuiltRun, resource: &Resource) -> Result<usize, SinkError> {
        let mut sent = 0;
        for chunk in run.spans.chunks(self.chunk_size) {
            let request = request(chunk.to_vec(), resource);
            sent += self
                .state
                .deliver(&self.transport, run, request, chunk.len());
        }
        Ok(sent)
    }

    /// As `send`, moving the spans into the requests: a 20,000-node run is not copied.
    fn send_owned(&mut self, mut run: BuiltRun, resource: &Resource) -> Result<usize, SinkError> {
        let mut spans = std::mem::take(&mut run.spans);
        let mut sent = 0;
        while !spans.is_empty() {
            let rest = spans.split_off(self.chunk_size.min(spans.len()));
            let count = spans.len();
            let request = request(std::mem::replace(&mut spans, rest), resource);
            sent += self.state.deliver(&self.transport, &run, request, count);
        }
        Ok(sent)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let mut problems = Vec::new();
        if self.state.undelivered > 0 {
            problems.push(match self.state.spool.as_ref().and_then(Spool::kept) {
                Some((file, spans)) => format!(
                    "{} spans not delivered; {spans} kept in {} (`retrace send --spool {}` delivers them)",
                    self.state.undelivered,
                    file.display(),
                    self.state.spool.as_ref().map_or_else(String::new, |s| s.dir().display().to_string())
                ),
                None => format!("{} spans not delivered (no spool)", self.state.undelivered),
            });
        }
        if self.state.rejected > 0 {
            problems.push(format!(
                "{} spans rejected by the collector",
                self.state.rejected
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Delivery(problems.join("; ")))
        }
    }
}

impl State {
    /// Sends one request (or spools it once the collector is given up on); returns the
    /// number of spans the collector accepted.
    fn deliver(
        &mut self,
        transport: &Transport,
        run: &BuiltRun,
        request: ExportTraceServiceRequest,
        spans: usize,
    ) -> usize {
        if self.broken.is_none() {
            match transport.export(&request, transport.deadline()) {
                Ok(accepted) => {
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
                    return spans - rejected as usize;
                }
                Err(e) => {
                    report(format!(
                        "could not deliver spans of {} run {} to {}: {e}",
                        run.system, run.run_id, self.destination
                    ));
                    self.broken = Some(e);
                }
            }
        }
        self.undelivered += spans;
        if let Some(spool) = &mut self.spool {
            if let Err(e) = spool.keep(&request, spans) {
                report(format!("{e}; those spans are lost"));
                self.spool = None;
            }
        }
        0
    }
}

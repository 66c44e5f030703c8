//! OTLP export: each run becomes requests of at most `--chunk-size` spans, handed to the
//! transport (retries per the OTLP specification, `partial_success` reported). Once a request
//! cannot be delivered, the collector is taken as gone for this invocation: everything not yet
//! delivered goes straight to the spool, so a dead collector costs one `--timeout`, not one
//! per run.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::Resource;

use crate::report::report;
use crate::sink::config::SinkConfig;
use crate::sink::file::request;
use crate::sink::spool::Spool;
use crate::sink::transport::Transport;
use crate::sink::{into_chunks, Sink, SinkError};
use crate::trace::build::BuiltRun;

pub struct OtlpSink {
    transport: Transport,
    chunk_size: usize,
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

    fn finish(&mut self) -> Result<(), SinkError> {
        let mut problems = Vec::new();
        if self.undelivered > 0 {
            problems.push(match self.spool.as_ref().and_then(Spool::kept) {
                Some((file, spans)) => format!(
                    "{} spans not delivered; {spans} kept in {} (`retrace send --spool {}` delivers them)",
                    self.undelivered,
                    file.display(),
                    self.spool.as_ref().map_or_else(String::new, |s| s.dir().display().to_string())
                ),
                None => format!("{} spans not delivered (no spool)", self.undelivered),
            });
        }
        if self.rejected > 0 {
            problems.push(format!("{} spans rejected by the collector", self.rejected));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Delivery(problems.join("; ")))
        }
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
        if self.broken.is_none() {
            match self.transport.export(&request, self.transport.deadline()) {
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

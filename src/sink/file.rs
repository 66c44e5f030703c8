//! OTLP/JSON lines: one `ExportTraceServiceRequest` per line, canonical OTLP/JSON (hex ids,
//! 64-bit integers as strings) — the format of the Collector's file exporter and of its
//! `otlpjsonfile` receiver. `-` writes to stdout.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use crate::sink::config::SinkConfig;
use crate::sink::{into_chunks, Sink, SinkError};
use crate::trace::build::BuiltRun;

pub struct FileSink {
    out: Box<dyn Write>,
    path: PathBuf,
    chunk_size: usize,
}

impl FileSink {
    pub fn create(config: &SinkConfig) -> Result<FileSink, SinkError> {
        let path = config
            .output
            .clone()
            .ok_or_else(|| SinkError::Config("no --output file given".into()))?;
        let out: Box<dyn Write> = if path.as_os_str() == "-" {
            Box::new(BufWriter::new(std::io::stdout()))
        } else {
            let file = File::create(&path).map_err(|e| {
                SinkError::Delivery(format!("{}: cannot create: {e}", path.display()))
            })?;
            Box::new(BufWriter::new(file))
        };
        Ok(FileSink {
            out,
            path,
            chunk_size: config.chunk_size,
        })
    }

    fn write_err(&self, e: impl std::fmt::Display) -> SinkError {
        SinkError::Delivery(format!("{}: cannot write: {e}", self.path.display()))
    }
}

/// One OTLP request for a chunk of spans of one resource.
pub fn request(spans: Vec<SpanData>, resource: &Resource) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            spans,
            &ResourceAttributesWithSchema::from(resource),
        ),
    }
}

impl Sink for FileSink {
    fn send(&mut self, run: BuiltRun, resource: &Resource) -> Result<usize, SinkError> {
        let spans = run.spans.len();
        for chunk in into_chunks(run.spans, self.chunk_size) {
            let line =
                serde_json::to_vec(&request(chunk, resource)).map_err(|e| self.write_err(e))?;
            self.out.write_all(&line).map_err(|e| self.write_err(e))?;
            self.out.write_all(b"\n").map_err(|e| self.write_err(e))?;
        }
        Ok(spans)
    }

    /// Metrics lines go into the same file, as the Collector's file exporter writes them.
    fn send_metrics(
        &mut self,
        request: opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
    ) -> Result<usize, SinkError> {
        let mut line = serde_json::to_vec(&request).map_err(|e| self.write_err(e))?;
        line.push(b'\n');
        self.out.write_all(&line).map_err(|e| self.write_err(e))?;
        Ok(crate::trace::metrics::point_count(&request))
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|e| self.write_err(e))
    }
}

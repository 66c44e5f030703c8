//! OTLP export through opentelemetry-otlp's `SpanExporter::export()`, one chunk at a time,
//! every result checked. gRPC (tonic) needs a tokio runtime: a lean current-thread one that
//! lives as long as the sink. HTTP uses the blocking reqwest client and must run outside
//! any tokio runtime, so it has none.

use std::collections::HashMap;

use opentelemetry_otlp::{
    Protocol as OtlpProtocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use opentelemetry_sdk::Resource;

use crate::sink::config::{Compression, Protocol, SinkConfig};
use crate::sink::{Sink, SinkError};
use crate::trace::build::BuiltRun;

pub struct OtlpSink {
    exporter: SpanExporter,
    /// Only for gRPC. Declared after `exporter` so it is dropped last.
    runtime: Option<tokio::runtime::Runtime>,
    chunk_size: usize,
    protocol: Protocol,
    endpoint: String,
    endpoint_origin: String,
}

impl OtlpSink {
    pub fn new(config: &SinkConfig) -> Result<OtlpSink, SinkError> {
        let build_err = |e: &dyn std::fmt::Display| {
            SinkError::Config(format!(
                "cannot set up the {} exporter for {} (from {}): {e}",
                config.protocol.as_str(),
                config.endpoint_display(),
                config.endpoint_origin
            ))
        };
        let (exporter, runtime) = match config.protocol {
            Protocol::Grpc => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| build_err(&e))?;
                let exporter = {
                    // tonic's lazy channel must be created inside the runtime.
                    let _guard = runtime.enter();
                    grpc_exporter(config).map_err(|e| build_err(&e))?
                };
                (exporter, Some(runtime))
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                (http_exporter(config).map_err(|e| build_err(&e))?, None)
            }
        };
        Ok(OtlpSink {
            exporter,
            runtime,
            chunk_size: config.chunk_size,
            protocol: config.protocol,
            endpoint: config.endpoint_display(),
            endpoint_origin: config.endpoint_origin.clone(),
        })
    }

    fn export_chunk(&self, chunk: Vec<SpanData>) -> Result<(), String> {
        let result = match &self.runtime {
            Some(rt) => rt.block_on(self.exporter.export(chunk)),
            None => futures_executor::block_on(self.exporter.export(chunk)),
        };
        result.map_err(|e| e.to_string())
    }
}

impl Sink for OtlpSink {
    fn send(&mut self, run: &BuiltRun, resource: &Resource) -> Result<usize, SinkError> {
        self.exporter.set_resource(resource);
        let mut sent = 0;
        for chunk in run.spans.chunks(self.chunk_size) {
            self.export_chunk(chunk.to_vec()).map_err(|e| {
                SinkError::Delivery(format!(
                    "could not deliver {} of {} spans of {} run {} to {} ({}, endpoint from {}): {e}",
                    run.spans.len() - sent,
                    run.spans.len(),
                    run.system,
                    run.run_id,
                    self.endpoint,
                    self.protocol.as_str(),
                    self.endpoint_origin,
                ))
            })?;
            sent += chunk.len();
        }
        Ok(sent)
    }
}

fn grpc_exporter(config: &SinkConfig) -> Result<SpanExporter, String> {
    use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
    use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig};

    let mut metadata = MetadataMap::new();
    for (k, v) in &config.headers {
        let key = k
            .to_ascii_lowercase()
            .parse::<tonic::metadata::MetadataKey<_>>()
            .map_err(|_| format!("header name {k:?} is not valid gRPC metadata"))?;
        // Never echo the value: it may be a secret.
        let value = v
            .parse()
            .map_err(|_| format!("the value of header {k:?} is not valid gRPC metadata"))?;
        metadata.insert(key, value);
    }
    let mut builder = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .with_metadata(metadata);
    if config.compression == Some(Compression::Gzip) {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    if config.endpoint.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if let Some(path) = &config.certificate {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read certificate {}: {e}", path.display()))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        builder = builder.with_tls_config(tls);
    }
    builder.build().map_err(|e| e.to_string())
}

fn http_exporter(config: &SinkConfig) -> Result<SpanExporter, String> {
    let mut client = reqwest::blocking::Client::builder().timeout(config.timeout);
    if let Some(path) = &config.certificate {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read certificate {}: {e}", path.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("certificate {}: {e}", path.display()))?;
        client = client.add_root_certificate(cert);
    }
    let client = client
        .build()
        .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
    let protocol = if config.protocol == Protocol::HttpJson {
        OtlpProtocol::HttpJson
    } else {
        OtlpProtocol::HttpBinary
    };
    let headers: HashMap<String, String> = config.headers.iter().cloned().collect();
    let mut builder = SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(protocol)
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .with_headers(headers);
    if config.compression == Some(Compression::Gzip) {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    builder.build().map_err(|e| e.to_string())
}

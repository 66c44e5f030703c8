//! Sends OTLP `ExportTraceServiceRequest`s (gRPC, HTTP/protobuf, HTTP/JSON) with the OTLP
//! specification's retry rules, which the exporter crate does not expose: retryable answers
//! (gRPC UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, …, RESOURCE_EXHAUSTED with RetryInfo; HTTP
//! 429, 502, 503, 504; broken connections) are retried with exponential backoff and jitter,
//! honouring `Retry-After` and RetryInfo, all within one deadline; anything else fails at once
//! with the collector's own message; `partial_success` is returned, not hidden.
//!
//! The first failure is shown to the endpoint doctor: a misconfiguration it recognises
//! (wrong protocol for the port, TLS mismatch) fails at once instead of being retried for the
//! whole timeout, and its sentence ends the error line.
//!
//! Working on requests rather than spans is what lets `retrace send` re-send a spool or an
//! `--output` file byte for byte.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::bytes::Bytes;
use prost::Message;

use crate::report::report;
use crate::sink::config::{path_of, Compression, Protocol, Signal, SinkConfig};
use crate::sink::doctor;
use crate::sink::SinkError;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a refused connection is retried: a collector restarting beside us is back within
/// it; one that is not there at all then costs a post-step this, not the whole --timeout.
const REFUSED_BUDGET: Duration = Duration::from_secs(1);

/// What the collector said about an accepted request.
#[derive(Debug, Default)]
pub struct Accepted {
    /// `partial_success.rejected_spans`
    pub rejected: i64,
    /// `partial_success.error_message`
    pub message: String,
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    Retryable {
        message: String,
        after: Option<Duration>,
    },
    /// Retrying cannot help, and the request is not to blame (a bad token, a wrong path).
    Permanent(String),
    /// The collector refuses this request for good (HTTP 400, gRPC INVALID_ARGUMENT).
    BadRequest(String),
    /// The request is over the collector's size limit (HTTP 413, gRPC RESOURCE_EXHAUSTED
    /// without RetryInfo).
    TooLarge(String),
}

/// Why a request was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undelivered {
    /// The collector cannot be reached or used now (down, misconfigured): keep the request.
    Unreachable,
    /// The collector refuses this request for good: set it aside, go on with the others.
    Refused,
    /// The request is too large for the collector: send it in smaller parts.
    TooLarge,
}

/// A request that was not delivered: why, in one line, and what to do with it.
#[derive(Debug, Clone)]
pub struct ExportError {
    pub message: String,
    pub kind: Undelivered,
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ExportError {
    fn unreachable(message: String) -> ExportError {
        ExportError {
            message,
            kind: Undelivered::Unreachable,
        }
    }
}

/// A request of one of the signals retrace sends (spans, metrics): protobuf for gRPC and
/// HTTP/protobuf, OTLP/JSON for HTTP/JSON.
pub trait OtlpRequest: Message + serde::Serialize {}
impl OtlpRequest for ExportTraceServiceRequest {}
impl OtlpRequest for ExportMetricsServiceRequest {}

pub struct Transport {
    kind: Kind,
    timeout: Duration,
    /// For the endpoint doctor, which is asked once: later failures are the same story.
    config: SinkConfig,
    diagnosed: bool,
    /// The transport was switched to the one the endpoint speaks.
    switched: bool,
}

enum Kind {
    Http {
        client: reqwest::blocking::Client,
        url: String,
        json: bool,
        gzip: bool,
        headers: reqwest::header::HeaderMap,
    },
    Grpc {
        client: Box<tonic::client::Grpc<tonic::transport::Channel>>,
        metadata: tonic::metadata::MetadataMap,
        /// Declared after the client so it is dropped last.
        runtime: tokio::runtime::Runtime,
        /// The signal's Export method.
        path: http::uri::PathAndQuery,
    },
}

impl Transport {
    pub fn new(config: &SinkConfig) -> Result<Transport, SinkError> {
        let fail = |e: String| {
            SinkError::Config(format!(
                "cannot set up {} export to {} (from {}): {e}",
                config.protocol.as_str(),
                config.endpoint_display(),
                config.endpoint_origin
            ))
        };
        let kind = match config.protocol {
            Protocol::Grpc => grpc(config).map_err(fail)?,
            Protocol::HttpProtobuf | Protocol::HttpJson => http(config).map_err(fail)?,
        };
        Ok(Transport {
            kind,
            timeout: config.timeout,
            config: config.clone(),
            diagnosed: false,
            switched: false,
        })
    }

    /// `endpoint (protocol)` when export switched to the transport the endpoint speaks.
    pub fn switched_to(&self) -> Option<String> {
        self.switched.then(|| self.config.otlp_destination())
    }

    /// The deadline of one delivery: `--timeout` from now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// Sends one request, retrying what the specification says to retry until `deadline`.
    /// When the endpoint turns out to speak the other OTLP transport, it is used from then
    /// on, with a warning naming the flag that would have been right.
    pub fn export(
        &mut self,
        request: &impl OtlpRequest,
        deadline: Instant,
    ) -> Result<Accepted, ExportError> {
        // Encoded once: a retry sends the same bytes.
        let mut body = self.encode(request).map_err(ExportError::unreachable)?;
        let mut deadline = deadline;
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        let mut hint = String::new();
        loop {
            attempts += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ExportError::unreachable(format!(
                    "no answer within the timeout ({attempts} attempts){hint}"
                )));
            }
            let failure = match self.attempt(&body, left) {
                Ok(accepted) => return Ok(accepted),
                Err(f) => f,
            };
            let (message, after, permanent) = match failure {
                Failure::BadRequest(message) => {
                    return Err(ExportError {
                        message,
                        kind: Undelivered::Refused,
                    })
                }
                Failure::TooLarge(message) => {
                    return Err(ExportError {
                        message,
                        kind: Undelivered::TooLarge,
                    })
                }
                Failure::Permanent(message) => (message, None, true),
                Failure::Retryable { message, after } => (message, after, false),
            };
            let diagnosis = self.diagnose(&message);
            if let Some(protocol) = diagnosis.as_ref().and_then(|d| d.speaks) {
                if self.switch(protocol).is_ok() {
                    body = self.encode(request).map_err(ExportError::unreachable)?;
                    continue;
                }
            }
            if permanent {
                let hint = diagnosis.map_or_else(String::new, |d| format!("; {}", d.text));
                return Err(ExportError::unreachable(format!("{message}{hint}")));
            }
            if let Some(d) = diagnosis {
                if d.nobody_listens {
                    // A restarting sidecar is back within a second; a collector that is not
                    // there at all should not cost a post-step the whole timeout.
                    deadline = deadline.min(Instant::now() + REFUSED_BUDGET);
                }
                if d.certain {
                    return Err(ExportError::unreachable(format!("{message}; {}", d.text)));
                }
                hint = format!("; {}", d.text);
            }
            let wait = after.unwrap_or_else(|| jitter(backoff));
            if Instant::now() + wait >= deadline {
                let tries = if attempts == 1 {
                    String::new()
                } else {
                    format!(" (after {attempts} attempts)")
                };
                return Err(ExportError::unreachable(format!("{message}{tries}{hint}")));
            }
            std::thread::sleep(wait);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Uses `protocol` from now on (the endpoint's path adjusted to it) and says so, naming
    /// the flags that would have been right.
    fn switch(&mut self, protocol: Protocol) -> Result<(), String> {
        let mut config = self.config.clone();
        let was = config.protocol;
        config.protocol = protocol;
        let signal_path = config.signal.http_path();
        config.endpoint = match protocol {
            Protocol::Grpc => {
                let base = config.endpoint.trim_end_matches('/');
                base.strip_suffix(signal_path).unwrap_or(base).to_owned()
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                let path = path_of(&config.endpoint);
                if path.is_empty() || path == "/" {
                    format!("{}{signal_path}", config.endpoint.trim_end_matches('/'))
                } else {
                    config.endpoint.clone()
                }
            }
        };
        self.kind = match protocol {
            Protocol::Grpc => grpc(&config)?,
            Protocol::HttpProtobuf | Protocol::HttpJson => http(&config)?,
        };
        let mut flags = format!("--protocol {}", protocol.as_str());
        if config.endpoint != self.config.endpoint {
            flags.push_str(&format!(" --endpoint {}", config.endpoint_display()));
        }
        report(format!(
            "{} speaks OTLP/{} rather than {} ({}): sending with {} instead; {flags} says so \
             from the start",
            self.config.endpoint_display(),
            if protocol == Protocol::Grpc {
                "gRPC"
            } else {
                "HTTP"
            },
            was.as_str(),
            if self.config.protocol_explicit {
                "as configured"
            } else {
                "as inferred"
            },
            protocol.as_str(),
        ));
        self.config = config;
        self.switched = true;
        Ok(())
    }

    /// The doctor's finding, on the first failure only.
    fn diagnose(&mut self, failure: &str) -> Option<doctor::Diagnosis> {
        if std::mem::replace(&mut self.diagnosed, true) {
            return None;
        }
        doctor::diagnose(&self.config, failure)
    }

    /// The request as the wire carries it: protobuf (gRPC, HTTP/protobuf) or OTLP/JSON,
    /// gzipped for HTTP when asked (gRPC compresses in its own framing).
    fn encode(&self, request: &impl OtlpRequest) -> Result<Bytes, String> {
        match &self.kind {
            Kind::Http { json, gzip, .. } => {
                let body = if *json {
                    serde_json::to_vec(request)
                        .map_err(|e| format!("cannot encode OTLP/JSON: {e}"))?
                } else {
                    request.encode_to_vec()
                };
                if !*gzip {
                    return Ok(body.into());
                }
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder
                    .write_all(&body)
                    .and_then(|()| encoder.finish())
                    .map(Bytes::from)
                    .map_err(|e| format!("cannot gzip the request: {e}"))
            }
            Kind::Grpc { .. } => Ok(request.encode_to_vec().into()),
        }
    }

    fn attempt(&self, body: &Bytes, left: Duration) -> Result<Accepted, Failure> {
        match &self.kind {
            Kind::Http {
                client,
                url,
                json,
                gzip,
                headers,
            } => http_attempt(client, url, *json, *gzip, headers, body.clone(), left),
            Kind::Grpc {
                client,
                metadata,
                runtime,
                path,
            } => {
                let mut call = tonic::Request::new(body.clone());
                *call.metadata_mut() = metadata.clone();
                call.set_timeout(left);
                let mut client = client.as_ref().clone();
                let export = async {
                    client.ready().await.map_err(|e| {
                        tonic::Status::unknown(format!("the channel is not ready: {e}"))
                    })?;
                    client.unary(call, path.clone(), EncodedExport).await
                };
                let answer = runtime.block_on(async { tokio::time::timeout(left, export).await });
                match answer {
                    Err(_) => Err(Failure::Retryable {
                        message: "no answer within the timeout".into(),
                        after: None,
                    }),
                    Ok(Ok(response)) => Ok(accepted(Some(response.into_inner()))),
                    Ok(Err(status)) => Err(grpc_failure(&status)),
                }
            }
        }
    }
}

fn accepted(response: Option<ExportTraceServiceResponse>) -> Accepted {
    match response.and_then(|r| r.partial_success) {
        Some(p) => Accepted {
            rejected: p.rejected_spans,
            message: p.error_message,
        },
        None => Accepted::default(),
    }
}

/// Full jitter around the backoff: between half and all of it, so many clients that failed
/// together do not retry together.
fn jitter(backoff: Duration) -> Duration {
    let noise = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos()) as u64;
    backoff / 2 + Duration::from_nanos(noise % (backoff.as_nanos() as u64 / 2 + 1))
}

/// Names only what precedes the first character a header name may not contain: a header
/// written `Authorization: Bearer <token>=` (base64 padding supplies the `=`) would otherwise
/// print its token as the "name".
fn bad_header_name(name: &str) -> String {
    let is_token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let cut = name.find(|c| !is_token(c)).unwrap_or(name.len());
    let shown = &name[..cut];
    match name[cut..].chars().next() {
        Some(bad) => format!(
            "header {shown:?}…: a header name cannot contain {bad:?}; write headers as \
             name=value (e.g. authorization=Bearer%20…)"
        ),
        None => format!("header {shown:?}: not a valid header name"),
    }
}

/// A PEM file's bytes, checked for the block it must hold (`CERTIFICATE`, `PRIVATE KEY`):
/// the TLS stacks would otherwise say only "builder error" or "transport error".
fn read_pem(path: &Path, what: &str, block: &str) -> Result<Vec<u8>, String> {
    let pem =
        std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&pem);
    let holds = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&format!("{block}-----")));
    if !holds {
        return Err(format!(
            "{what} {}: no PEM {block} block in it (expected -----BEGIN …{block}-----)",
            path.display()
        ));
    }
    Ok(pem)
}

/// The `--certificate` CA file's PEM, if one is configured.
fn certificate_pem(config: &SinkConfig) -> Result<Option<Vec<u8>>, String> {
    config
        .certificate
        .as_ref()
        .map(|path| read_pem(path, "certificate", "CERTIFICATE"))
        .transpose()
}

/// A client certificate's PEM and its key's PEM.
struct ClientPem {
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// The client certificate and key PEMs (mTLS), if configured.
fn client_identity_pem(config: &SinkConfig) -> Result<Option<ClientPem>, String> {
    let Some((cert, key)) = &config.client_identity else {
        return Ok(None);
    };
    Ok(Some(ClientPem {
        cert: read_pem(cert, "client certificate", "CERTIFICATE")?,
        key: read_pem(key, "client key", "PRIVATE KEY")?,
    }))
}

fn http(config: &SinkConfig) -> Result<Kind, String> {
    let mut client = reqwest::blocking::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout);
    if let (Some(pem), Some(path)) = (certificate_pem(config)?, &config.certificate) {
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("certificate {}: {e}", path.display()))?;
        client = client.add_root_certificate(cert);
    }
    if let Some(ClientPem { cert, key }) = client_identity_pem(config)? {
        // rustls reads the key and the chain from one PEM buffer.
        let mut pem = key;
        pem.push(b'\n');
        pem.extend_from_slice(&cert);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            let (c, k) = config.client_identity.as_ref().expect("read above");
            format!(
                "client certificate {} with key {}: {e}",
                c.display(),
                k.display()
            )
        })?;
        client = client.identity(identity);
    }
    let client = client
        .build()
        .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &config.headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| bad_header_name(k))?;
        // Never echo the value: it may be a secret.
        let mut value = reqwest::header::HeaderValue::from_str(v)
            .map_err(|_| format!("the value of header {k:?} is not a valid HTTP header value"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(Kind::Http {
        client,
        url: config.endpoint.clone(),
        json: config.protocol == Protocol::HttpJson,
        gzip: config.compression == Some(Compression::Gzip),
        headers,
    })
}

fn http_attempt(
    client: &reqwest::blocking::Client,
    url: &str,
    json: bool,
    gzip: bool,
    headers: &reqwest::header::HeaderMap,
    body: Bytes,
    left: Duration,
) -> Result<Accepted, Failure> {
    let content_type = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    let mut call = client
        .post(url)
        .timeout(left)
        .headers(headers.clone())
        .header(reqwest::header::CONTENT_TYPE, content_type);
    if gzip {
        call = call.header(reqwest::header::CONTENT_ENCODING, "gzip");
    }
    let response = call.body(body).send().map_err(|e| Failure::Retryable {
        message: describe_http_error(&e),
        after: None,
    })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let bytes = response.bytes().unwrap_or_default();
    if status.is_success() {
        let decoded = if bytes.is_empty() {
            None
        } else if is_json {
            serde_json::from_slice::<ExportTraceServiceResponse>(&bytes).ok()
        } else {
            ExportTraceServiceResponse::decode(bytes.as_ref()).ok()
        };
        return Ok(accepted(decoded));
    }
    let message = format!(
        "HTTP {}{}",
        status.as_u16(),
        collector_message(&bytes, is_json).map_or_else(String::new, |m| format!(": {m}"))
    );
    match status.as_u16() {
        429 | 502 | 503 | 504 => Err(Failure::Retryable {
            message,
            after: retry_after,
        }),
        400 => Err(Failure::BadRequest(message)),
        413 => Err(Failure::TooLarge(message)),
        _ => Err(Failure::Permanent(message)),
    }
}

fn describe_http_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// The collector's explanation in an error body: a `google.rpc.Status` (protobuf or JSON),
/// else the text, shortened.
fn collector_message(body: &[u8], json: bool) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let status = if json {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
    } else {
        RpcStatus::decode(body).ok().map(|s| s.message)
    };
    let text = status
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text = text.trim().replace('\n', " ");
    Some(if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text
    })
}

fn grpc(config: &SinkConfig) -> Result<Kind, String> {
    use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
    use tonic::transport::Endpoint;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut endpoint = Endpoint::from_shared(config.endpoint.clone())
        .map_err(|e| e.to_string())?
        .connect_timeout(config.timeout);
    if config.endpoint.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if let Some(pem) = certificate_pem(config)? {
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        if let Some(ClientPem { cert, key }) = client_identity_pem(config)? {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    let channel = {
        // The lazy channel must be created inside the runtime.
        let _guard = runtime.enter();
        endpoint.connect_lazy()
    };
    let mut client = tonic::client::Grpc::new(channel);
    if config.compression == Some(Compression::Gzip) {
        client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (k, v) in &config.headers {
        let key = k
            .to_ascii_lowercase()
            .parse::<tonic::metadata::MetadataKey<_>>()
            .map_err(|_| bad_header_name(k))?;
        // Never echo the value: it may be a secret.
        let value = v
            .parse()
            .map_err(|_| format!("the value of header {k:?} is not valid gRPC metadata"))?;
        metadata.insert(key, value);
    }
    let path = match config.signal {
        Signal::Traces => TRACE_EXPORT.clone(),
        Signal::Metrics => METRICS_EXPORT.clone(),
    };
    Ok(Kind::Grpc {
        client: Box::new(client),
        metadata,
        runtime,
        path,
    })
}

static TRACE_EXPORT: http::uri::PathAndQuery = http::uri::PathAndQuery::from_static(
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
);
static METRICS_EXPORT: http::uri::PathAndQuery = http::uri::PathAndQuery::from_static(
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
);

/// An Export call with a request already encoded (`Transport::encode`), so a retry neither
/// clones nor re-encodes it. The answer is read as a trace response: the metrics response is
/// the same message on the wire (`partial_success` = 1 {rejected count = 1, message = 2}).
#[derive(Clone, Copy)]
struct EncodedExport;

impl tonic::codec::Codec for EncodedExport {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = EncodedExport;
    type Decoder = EncodedExport;
    fn encoder(&mut self) -> Self {
        *self
    }
    fn decoder(&mut self) -> Self {
        *self
    }
}

impl tonic::codec::Encoder for EncodedExport {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        body: Bytes,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut;
        buf.reserve(body.len());
        buf.put_slice(&body);
        Ok(())
    }
}

impl tonic::codec::Decoder for EncodedExport {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        ExportTraceServiceResponse::decode(buf)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("cannot decode the response: {e}")))
    }
}

fn grpc_failure(status: &tonic::Status) -> Failure {
    use tonic::Code;
    let mut message = format!("gRPC {:?}: {}", status.code(), status.message());
    // A status with a source was made by the client from a broken connection, not sent by
    // the server; such a connection is retried, as for HTTP.
    let mut source = std::error::Error::source(status);
    let broken = source.is_some();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.ends_with(&text) {
            message = format!("{message}: {text}");
        }
        source = s.source();
    }
    let retry_info = retry_delay(status.details());
    if broken && status.code() == Code::Unknown {
        return Failure::Retryable {
            message,
            after: None,
        };
    }
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => Failure::Retryable {
            message,
            after: retry_info,
        },
        // Only retryable when the server says when (the specification); without, it is
        // the receiver's message size limit.
        Code::ResourceExhausted if retry_info.is_some() => Failure::Retryable {
            message,
            after: retry_info,
        },
        Code::ResourceExhausted => Failure::TooLarge(message),
        Code::InvalidArgument => Failure::BadRequest(message),
        _ => Failure::Permanent(message),
    }
}

/// `google.rpc.Status` with `google.rpc.RetryInfo` in its details (`grpc-status-details-bin`).
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

#[derive(Clone, PartialEq, Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

fn retry_delay(details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|d| d.type_url.ends_with("google.rpc.RetryInfo"))?;
    let delay = RetryInfo::decode(info.value.as_slice()).ok()?.retry_delay?;
    Some(Duration::new(
        delay.seconds.max(0) as u64,
        delay.nanos.clamp(0, 999_999_999) as u32,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_header_name_is_shown_only_up_to_the_bad_character() {
        let text = bad_header_name("Authorization: Basic dXNlcjpwYXNzd29yZA");
        assert_eq!(
            text,
            "header \"Authorization\"…: a header name cannot contain ':'; write headers as \
             name=value (e.g. authorization=Bearer%20…)"
        );
        assert!(!bad_header_name("x-key\u{1}secret").contains("secret"));
    }

    #[test]
    fn retry_info_is_read_from_the_status_details() {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: 2,
                nanos: 500_000_000,
            }),
        };
        let status = RpcStatus {
            code: 8,
            message: "slow down".into(),
            details: vec![ProtoAny {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                value: info.encode_to_vec(),
            }],
        };
        let details = status.encode_to_vec();
        assert_eq!(retry_delay(&details), Some(Duration::from_millis(2500)));
        let exhausted = tonic::Status::with_details(
            tonic::Code::ResourceExhausted,
            "slow down",
            details.into(),
        );
        assert!(matches!(
            grpc_failure(&exhausted),
            Failure::Retryable { after: Some(d), .. } if d == Duration::from_millis(2500)
        ));
        // Without RetryInfo, the receiver's message size limit: sent in smaller parts.
        let bare = tonic::Status::resource_exhausted("full");
        assert!(matches!(grpc_failure(&bare), Failure::TooLarge(_)));
        assert!(matches!(
            grpc_failure(&tonic::Status::invalid_argument("bad")),
            Failure::BadRequest(m) if m == "gRPC InvalidArgument: bad"
        ));
        assert!(matches!(
            grpc_failure(&tonic::Status::unauthenticated("token")),
            Failure::Permanent(_)
        ));
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_backoff() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(400));
            assert!(j >= Duration::from_millis(200) && j <= Duration::from_millis(400));
        }
    }
}

//! A counting OTLP/gRPC receiver for the benchmarks: accepts every export, counts its spans
//! and writes the running total to a file, so a bench script can check that everything
//! arrived.
//!
//! It counts by walking the protobuf wire format (request → resource_spans → scope_spans →
//! spans) instead of decoding messages: the client and the receiver share the bench machine's
//! two cores, and a full decode of a 20,000-span run cost the receiver 57 ms, a quarter of
//! what it was meant to measure. A malformed request is refused (INVALID_ARGUMENT), so a
//! client that sends garbage is not counted.
//!
//!     cargo build --release --example otlp_count
//!     target/release/examples/otlp_count 127.0.0.1:4317 count.txt

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use prost::bytes::Buf;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, Body, Service};
use tonic::Status;

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

struct Counter {
    spans: AtomicU64,
    requests: AtomicU64,
    file: std::path::PathBuf,
}

impl Counter {
    fn add(&self, spans: u64) {
        let total = self.spans.fetch_add(spans, Ordering::SeqCst) + spans;
        let requests = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        // Written after every request: the bench reads it once the client has exited.
        let _ = std::fs::write(&self.file, format!("{total} {requests}\n"));
    }
}

/// Decodes an `ExportTraceServiceRequest` to its number of spans; encodes the empty
/// `ExportTraceServiceResponse` (zero bytes: full success).
#[derive(Clone, Copy, Default)]
struct SpanCountCodec;

impl Codec for SpanCountCodec {
    type Encode = ();
    type Decode = u64;
    type Encoder = SpanCountCodec;
    type Decoder = SpanCountCodec;
    fn encoder(&mut self) -> Self {
        *self
    }
    fn decoder(&mut self) -> Self {
        *self
    }
}

impl Encoder for SpanCountCodec {
    type Item = ();
    type Error = Status;
    fn encode(&mut self, (): (), _: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

impl Decoder for SpanCountCodec {
    type Item = u64;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<u64>, Status> {
        // Zero-copy: the buffer is the request's own bytes.
        let message = src.copy_to_bytes(src.remaining());
        count_spans(&message)
            .map(Some)
            .ok_or_else(|| Status::invalid_argument("malformed ExportTraceServiceRequest"))
    }
}

/// Spans in an `ExportTraceServiceRequest`: field 1 (resource_spans) → field 2 (scope_spans)
/// → field 2 (spans). `None` if the bytes are not a well-formed protobuf message.
fn count_spans(request: &[u8]) -> Option<u64> {
    let mut spans = 0;
    for (field, resource) in fields(request) {
        let Field::Bytes(resource) = resource? else {
            continue;
        };
        if field != 1 {
            continue;
        }
        for (field, scope) in fields(resource) {
            let Field::Bytes(scope) = scope? else {
                continue;
            };
            if field != 2 {
                continue;
            }
            for (field, span) in fields(scope) {
                if field == 2 && matches!(span?, Field::Bytes(_)) {
                    spans += 1;
                }
            }
        }
    }
    Some(spans)
}

enum Field<'a> {
    Bytes(&'a [u8]),
    Scalar,
}

/// The fields of a message: (field number, value), or `None` for a malformed field (after
/// which the iterator stops).
fn fields(mut message: &[u8]) -> impl Iterator<Item = (u64, Option<Field<'_>>)> {
    std::iter::from_fn(move || {
        if message.is_empty() {
            return None;
        }
        let Some(key) = varint(&mut message) else {
            message = &[];
            return Some((0, None));
        };
        let value = match key & 7 {
            0 => varint(&mut message).map(|_| Field::Scalar),
            1 => skip(&mut message, 8).map(|_| Field::Scalar),
            5 => skip(&mut message, 4).map(|_| Field::Scalar),
            2 => varint(&mut message)
                .and_then(|len| skip(&mut message, usize::try_from(len).ok()?))
                .map(Field::Bytes),
            _ => None,
        };
        if value.is_none() {
            message = &[];
        }
        Some((key >> 3, value))
    })
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

fn skip<'a>(buf: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if buf.len() < len {
        return None;
    }
    let (taken, rest) = buf.split_at(len);
    *buf = rest;
    Some(taken)
}

/// The TraceService, routed by hand because the generated server is tied to the full
/// message types.
#[derive(Clone)]
struct TraceService(Arc<Counter>);

impl tonic::server::NamedService for TraceService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

struct Export(Arc<Counter>);

impl tonic::server::UnaryService<u64> for Export {
    type Response = ();
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<()>, Status>> + Send>>;
    fn call(&mut self, request: tonic::Request<u64>) -> Self::Future {
        self.0.add(*request.get_ref());
        Box::pin(async { Ok(tonic::Response::new(())) })
    }
}

impl<B> Service<http::Request<B>> for TraceService
where
    B: Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let counter = Arc::clone(&self.0);
        Box::pin(async move {
            if request.uri().path() != EXPORT_PATH {
                return Ok(Status::unimplemented("only TraceService/Export").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(SpanCountCodec)
                .max_decoding_message_size(256 * 1024 * 1024);
            Ok(grpc.unary(Export(counter), request).await)
        })
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: otlp_count ADDR COUNT_FILE");
        std::process::exit(2);
    };
    let addr: std::net::SocketAddr = addr.parse().expect("ADDR like 127.0.0.1:4317");
    let counter = Arc::new(Counter {
        spans: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        file: file.into(),
    });
    let _ = std::fs::write(&counter.file, "0 0\n");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        tonic::transport::Server::builder()
            .add_service(TraceService(counter))
            .serve(addr)
            .await
            .expect("serve");
    });
}

#[cfg(test)]
mod tests {
    use super::count_spans;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    fn span(name: &str) -> Span {
        Span {
            name: name.into(),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            start_time_unix_nano: 1,
            end_time_unix_nano: u64::MAX,
            attributes: vec![KeyValue {
                key: "k".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::IntValue(-1)),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn counts_the_spans_of_every_resource_and_scope() {
        let scope = |n: usize| ScopeSpans {
            spans: (0..n).map(|i| span(&format!("s{i}"))).collect(),
            schema_url: "x".into(),
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    scope_spans: vec![scope(3), scope(0), scope(200)],
                    ..Default::default()
                },
                ResourceSpans {
                    scope_spans: vec![scope(1)],
                    schema_url: "y".into(),
                    ..Default::default()
                },
            ],
        };
        assert_eq!(count_spans(&request.encode_to_vec()), Some(204));
        assert_eq!(count_spans(&[]), Some(0));
    }

    #[test]
    fn a_malformed_request_is_not_counted() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span("a"), span("b")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let bytes = request.encode_to_vec();
        assert_eq!(count_spans(&bytes[..bytes.len() - 1]), None, "truncated");
        assert_eq!(count_spans(&[0x0a, 0xff]), None, "length past the end");
        assert_eq!(
            count_spans(&[0x0b]),
            None,
            "wire type 3 (groups) is not OTLP"
        );
    }
}

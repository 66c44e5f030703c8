//! Proves the in-process OTLP receiver (tests/common/receiver.rs) decodes
//! exactly what the real opentelemetry-otlp exporter sends, for gRPC,
//! HTTP/protobuf and HTTP/JSON, and that its failure injection works.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::receiver::{Behavior, Failure, Proto, Receiver};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{
    Compression, Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use opentelemetry_sdk::Resource;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const SPAN_ID: &str = "b7ad6b7169203331";
const PARENT_ID: &str = "00f067aa0ba902b7";
const START_NS: u64 = 1_700_000_000_123_456_789;
const END_NS: u64 = 1_700_000_002_987_654_321;
const WAIT: Duration = Duration::from_secs(10);

fn at(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

fn sample_span() -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_hex(TRACE_ID).unwrap(),
            SpanId::from_hex(SPAN_ID).unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: SpanId::from_hex(PARENT_ID).unwrap(),
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: "model.jaffle.orders".into(),
        start_time: at(START_NS),
        end_time: at(END_NS),
        attributes: vec![
            KeyValue::new("dbt.node.id", "model.jaffle.orders"),
            KeyValue::new("rows", 42_i64),
            KeyValue::new("ratio", 0.25_f64),
            KeyValue::new("cached", true),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::error("boom"),
        instrumentation_scope: InstrumentationScope::builder("retrace").build(),
    }
}

#[derive(Default)]
struct Opts {
    gzip: bool,
    header: Option<(&'static str, &'static str)>,
}

/// Exports `spans` once with a real opentelemetry-otlp exporter pointed at `rx`.
fn export(rx: &Receiver, spans: Vec<SpanData>, opts: Opts) -> OTelSdkResult {
    let resource = Resource::builder().with_service_name("t").build();
    match rx.proto() {
        Proto::Grpc => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let mut exporter = rt.block_on(async {
                let mut b = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(rx.endpoint())
                    .with_timeout(WAIT);
                if opts.gzip {
                    b = b.with_compression(Compression::Gzip);
                }
                if let Some((k, v)) = opts.header {
                    let mut md = tonic::metadata::MetadataMap::new();
                    md.insert(k, v.parse().unwrap());
                    b = b.with_metadata(md);
                }
                b.build().unwrap()
            });
            exporter.set_resource(&resource);
            let res = rt.block_on(exporter.export(spans));
            drop(exporter);
            rt.shutdown_timeout(Duration::from_secs(1));
            res
        }
        Proto::HttpProtobuf | Proto::HttpJson => {
            let protocol = if rx.proto() == Proto::HttpJson {
                Protocol::HttpJson
            } else {
                Protocol::HttpBinary
            };
            let mut b = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(rx.endpoint())
                .with_timeout(WAIT);
            if opts.gzip {
                b = b.with_compression(Compression::Gzip);
            }
            if let Some((k, v)) = opts.header {
                b = b.with_headers(HashMap::from([(k.to_string(), v.to_string())]));
            }
            let mut exporter = b.build().unwrap();
            exporter.set_resource(&resource);
            futures_executor::block_on(exporter.export(spans))
        }
    }
}

fn check_roundtrip(proto: Proto) {
    let rx = Receiver::start(proto);
    assert_eq!(rx.proto(), proto);
    let res = export(
        &rx,
        vec![sample_span()],
        Opts {
            header: Some(("x-retrace-test", "yes")),
            ..Opts::default()
        },
    );
    assert!(res.is_ok(), "{proto:?}: export failed: {res:?}");

    let spans = rx.wait_spans(1, WAIT);
    assert_eq!(spans.len(), 1, "{proto:?}");
    assert_eq!(rx.requests().len(), 1);
    assert_eq!(rx.attempts(), 1);
    let s = &spans[0];
    assert_eq!(s.trace_id_hex(), TRACE_ID);
    assert_eq!(s.span_id_hex(), SPAN_ID);
    assert_eq!(s.parent_id_hex(), PARENT_ID);
    assert_eq!(s.span.name, "model.jaffle.orders");
    assert_eq!(s.span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(s.span.start_time_unix_nano, START_NS);
    assert_eq!(s.span.end_time_unix_nano, END_NS);
    let status = s.span.status.as_ref().expect("status");
    assert_eq!(status.code, 2, "STATUS_CODE_ERROR");
    assert_eq!(status.message, "boom");
    assert_eq!(s.attr_str("dbt.node.id"), Some("model.jaffle.orders"));
    assert_eq!(s.attr_i64("rows"), Some(42));
    assert_eq!(s.attr_f64("ratio"), Some(0.25));
    assert_eq!(s.attr_bool("cached"), Some(true));
    assert!(s.attr("missing").is_none());
    assert_eq!(s.attr_i64("dbt.node.id"), None, "type-checked accessor");
    assert_eq!(s.resource_str("service.name"), Some("t"));
    assert_eq!(s.scope_name, "retrace");

    let headers = rx.headers();
    assert_eq!(headers.len(), 1);
    assert!(
        headers[0]
            .iter()
            .any(|(k, v)| k == "x-retrace-test" && v == "yes"),
        "{proto:?}: custom header missing: {:?}",
        headers[0]
    );
    match proto {
        Proto::Grpc => {
            assert!(rx.content_types().is_empty());
            assert!(rx.endpoint().starts_with("http://127.0.0.1:"));
            assert!(!rx.endpoint().ends_with("/v1/traces"));
        }
        Proto::HttpProtobuf => {
            assert_eq!(rx.content_types(), vec!["application/x-protobuf"]);
            assert!(rx.endpoint().ends_with("/v1/traces"));
        }
        Proto::HttpJson => {
            assert_eq!(rx.content_types(), vec!["application/json"]);
            assert!(rx.endpoint().ends_with("/v1/traces"));
        }
    }
}

#[test]
fn flags() {
    assert_eq!(Proto::Grpc.flag(), "grpc");
    assert_eq!(Proto::HttpProtobuf.flag(), "http/protobuf");
    assert_eq!(Proto::HttpJson.flag(), "http/json");
}

#[test]
fn roundtrip_grpc() {
    check_roundtrip(Proto::Grpc);
}

#[test]
fn roundtrip_http_protobuf() {
    check_roundtrip(Proto::HttpProtobuf);
}

#[test]
fn roundtrip_http_json() {
    check_roundtrip(Proto::HttpJson);
}

#[test]
fn root_span_has_empty_parent_and_many_spans_arrive() {
    for proto in Proto::all() {
        let rx = Receiver::start(proto);
        let mut root = sample_span();
        root.parent_span_id = SpanId::INVALID;
        let mut child = sample_span();
        child.span_context = SpanContext::new(
            TraceId::from_hex(TRACE_ID).unwrap(),
            SpanId::from_hex("1111111111111111").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        child.parent_span_id = SpanId::from_hex(SPAN_ID).unwrap();
        export(&rx, vec![root, child], Opts::default()).unwrap();
        let spans = rx.wait_spans(2, WAIT);
        assert_eq!(spans.len(), 2, "{proto:?}");
        let root = spans.iter().find(|s| s.span_id_hex() == SPAN_ID).unwrap();
        assert_eq!(root.parent_id_hex(), "", "{proto:?}");
        let child = spans
            .iter()
            .find(|s| s.span_id_hex() == "1111111111111111")
            .unwrap();
        assert_eq!(child.parent_id_hex(), SPAN_ID, "{proto:?}");
    }
}

#[test]
fn fail_first_is_retried_and_recorded_once() {
    for proto in Proto::all() {
        let rx = Receiver::start_with(
            proto,
            Behavior {
                fail_first: 1,
                ..Behavior::default()
            },
        );
        let res = export(&rx, vec![sample_span()], Opts::default());
        assert!(res.is_ok(), "{proto:?}: {res:?}");
        assert_eq!(rx.attempts(), 2, "{proto:?}");
        assert_eq!(rx.headers().len(), 2, "{proto:?}");
        assert_eq!(rx.requests().len(), 1, "{proto:?}");
        let spans = rx.spans();
        assert_eq!(spans.len(), 1, "{proto:?}");
        assert_eq!(spans[0].span_id_hex(), SPAN_ID);
    }
}

#[test]
fn fail_first_with_http_429_is_retried() {
    // gRPC maps 429 to RESOURCE_EXHAUSTED without RetryInfo, which the
    // exporter does not retry; HTTP 429 + Retry-After is retried.
    for proto in [Proto::HttpProtobuf, Proto::HttpJson] {
        let rx = Receiver::start_with(
            proto,
            Behavior {
                fail_first: 2,
                fail_with: Failure::Http(429),
                ..Behavior::default()
            },
        );
        export(&rx, vec![sample_span()], Opts::default()).unwrap();
        assert_eq!(rx.attempts(), 3, "{proto:?}");
        assert_eq!(rx.spans().len(), 1, "{proto:?}");
    }
}

#[test]
fn invalid_argument_is_an_error() {
    for proto in Proto::all() {
        let rx = Receiver::start_with(
            proto,
            Behavior {
                fail_first: 100,
                fail_with: Failure::InvalidArgument,
                ..Behavior::default()
            },
        );
        let res = export(&rx, vec![sample_span()], Opts::default());
        assert!(res.is_err(), "{proto:?}: expected Err, got {res:?}");
        assert_eq!(rx.attempts(), 1, "{proto:?}: must not be retried");
        assert!(rx.spans().is_empty(), "{proto:?}");
        assert!(rx.requests().is_empty(), "{proto:?}");
    }
}

#[test]
fn partial_success_still_records_spans() {
    for proto in Proto::all() {
        let rx = Receiver::start_with(
            proto,
            Behavior {
                partial_reject: Some((1, "nope".into())),
                ..Behavior::default()
            },
        );
        let res = export(&rx, vec![sample_span()], Opts::default());
        assert!(res.is_ok(), "{proto:?}: {res:?}");
        assert_eq!(rx.spans().len(), 1, "{proto:?}");
    }
}

#[test]
fn delay_is_applied() {
    for proto in Proto::all() {
        let rx = Receiver::start_with(
            proto,
            Behavior {
                delay: Duration::from_millis(300),
                ..Behavior::default()
            },
        );
        let t0 = std::time::Instant::now();
        export(&rx, vec![sample_span()], Opts::default()).unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(300), "{proto:?}");
        assert_eq!(rx.spans().len(), 1, "{proto:?}");
    }
}

#[test]
fn grpc_accepts_gzip() {
    let rx = Receiver::start(Proto::Grpc);
    let res = export(
        &rx,
        vec![sample_span()],
        Opts {
            gzip: true,
            ..Opts::default()
        },
    );
    assert!(res.is_ok(), "{res:?}");
    let spans = rx.wait_spans(1, WAIT);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].trace_id_hex(), TRACE_ID);
    assert!(rx.headers()[0]
        .iter()
        .any(|(k, v)| k == "grpc-encoding" && v == "gzip"));
}

#[test]
fn http_gzip_is_refused_with_415() {
    for proto in [Proto::HttpProtobuf, Proto::HttpJson] {
        let rx = Receiver::start(proto);
        let res = export(
            &rx,
            vec![sample_span()],
            Opts {
                gzip: true,
                ..Opts::default()
            },
        );
        assert!(res.is_err(), "{proto:?}");
        assert_eq!(rx.attempts(), 1, "{proto:?}");
        assert!(rx.requests().is_empty(), "{proto:?}");
    }
}

/// Sends raw HTTP/1.1 requests on one connection; returns each response's
/// status line and body.
fn raw_http(rx: &Receiver, requests: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    let mut stream = TcpStream::connect(rx.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    for req in requests {
        stream.write_all(req).unwrap();
        // Read one response: head, then Content-Length bytes.
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1, "connection closed");
            buf.push(byte[0]);
        }
        let head = String::from_utf8(buf).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap();
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).unwrap();
        out.push((head.lines().next().unwrap().to_string(), body));
    }
    out
}

#[test]
fn raw_http_keep_alive_chunked_and_errors() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    let rx = Receiver::start(Proto::HttpProtobuf);
    let mk = |id: u8| {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![id; 8],
                        name: format!("s{id}"),
                        ..Span::default()
                    }],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
        .encode_to_vec()
    };

    let body1 = mk(1);
    let mut req1 = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        body1.len()
    )
    .into_bytes();
    req1.extend_from_slice(&body1);

    let body2 = mk(2);
    let (a, b) = body2.split_at(body2.len() / 2);
    let mut req2 = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in [a, b] {
        req2.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req2.extend_from_slice(chunk);
        req2.extend_from_slice(b"\r\n");
    }
    req2.extend_from_slice(b"0\r\n\r\n");

    let req404 = b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n".to_vec();
    let req415 = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi".to_vec();
    let req400 = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 3\r\n\r\n\xff\xff\xff".to_vec();

    let status: Vec<String> = raw_http(&rx, &[req1, req2, req404, req415, req400])
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(
        status,
        vec![
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 415 Unsupported Media Type",
            "HTTP/1.1 400 Bad Request",
        ]
    );
    let spans = rx.spans();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].span_id_hex(), "0101010101010101");
    assert_eq!(spans[1].span_id_hex(), "0202020202020202");
    assert_eq!(spans[0].parent_id_hex(), "");
    assert_eq!(rx.attempts(), 5);
    assert_eq!(rx.content_types().len(), 5);
    assert_eq!(rx.content_types()[3], "text/plain");
}

#[test]
fn drop_does_not_hang_with_open_connection() {
    for proto in Proto::all() {
        let rx = Receiver::start(proto);
        // An idle client connection must not keep the receiver alive.
        let _idle = TcpStream::connect(rx.addr()).unwrap();
        let t0 = std::time::Instant::now();
        drop(rx);
        assert!(t0.elapsed() < Duration::from_secs(5), "{proto:?}");
    }
}

#[test]
fn partial_success_is_in_the_response() {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        trace_service_client::TraceServiceClient, ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    };
    use prost::Message;

    let behavior = Behavior {
        partial_reject: Some((3, "too old".into())),
        ..Behavior::default()
    };
    let check = |resp: ExportTraceServiceResponse| {
        let ps = resp.partial_success.expect("partial_success");
        assert_eq!(ps.rejected_spans, 3);
        assert_eq!(ps.error_message, "too old");
    };

    // HTTP/protobuf and HTTP/JSON: the body is in the request's content type.
    for (proto, ct, body) in [
        (
            Proto::HttpProtobuf,
            "application/x-protobuf",
            ExportTraceServiceRequest::default().encode_to_vec(),
        ),
        (Proto::HttpJson, "application/json", b"{}".to_vec()),
    ] {
        let rx = Receiver::start_with(proto, behavior.clone());
        let mut req = format!(
            "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        let (status, body) = raw_http(&rx, &[req]).pop().unwrap();
        assert_eq!(status, "HTTP/1.1 200 OK");
        let resp = if proto == Proto::HttpJson {
            serde_json::from_slice(&body).unwrap()
        } else {
            ExportTraceServiceResponse::decode(body.as_slice()).unwrap()
        };
        check(resp);
        assert_eq!(rx.requests().len(), 1);
    }

    // gRPC, through a plain tonic client.
    let rx = Receiver::start_with(Proto::Grpc, behavior);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let resp = rt.block_on(async {
        let mut client = TraceServiceClient::connect(rx.endpoint()).await.unwrap();
        client
            .export(ExportTraceServiceRequest::default())
            .await
            .unwrap()
            .into_inner()
    });
    check(resp);
    assert_eq!(rx.requests().len(), 1);
}

#[test]
fn grpc_drop_is_bounded_with_live_client() {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        trace_service_client::TraceServiceClient, ExportTraceServiceRequest,
    };
    let rx = Receiver::start(Proto::Grpc);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // Keep an established HTTP/2 connection open while the receiver drops.
    let _client = rt.block_on(async {
        let mut client = TraceServiceClient::connect(rx.endpoint()).await.unwrap();
        client
            .export(ExportTraceServiceRequest::default())
            .await
            .unwrap();
        client
    });
    let t0 = std::time::Instant::now();
    drop(rx);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

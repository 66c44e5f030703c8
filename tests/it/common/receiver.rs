//! In-process OTLP receiver (traces, and metrics) for the integration tests.
//!
//! Serves one protocol per instance (gRPC, HTTP/protobuf or HTTP/JSON) on
//! `127.0.0.1:0` in background threads, records every request it sees and
//! decodes the accepted ones. The server stops when the [`Receiver`] is
//! dropped. Every socket operation is bounded in time so that a misbehaving
//! client can never hang a test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::{
    metrics_service_server::{MetricsService, MetricsServiceServer},
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    trace_service_server::{TraceService, TraceServiceServer},
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// How long an idle keep-alive HTTP connection is kept open.
const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a started HTTP request may take to arrive completely.
const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Granularity of the socket polling (also how fast stop is noticed).
const POLL: Duration = Duration::from_millis(100);
/// Upper bound on a request head / body, to stay bounded on garbage input.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;
/// How long a gRPC graceful shutdown may take before the server is dropped.
const GRPC_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

impl Proto {
    /// The value of the CLI's `--protocol` flag for this protocol.
    pub fn flag(self) -> &'static str {
        match self {
            Proto::Grpc => "grpc",
            Proto::HttpProtobuf => "http/protobuf",
            Proto::HttpJson => "http/json",
        }
    }

    /// All three protocols, handy for table-driven tests.
    pub fn all() -> [Proto; 3] {
        [Proto::Grpc, Proto::HttpProtobuf, Proto::HttpJson]
    }
}

/// What the receiver answers. Default: accept everything.
#[derive(Clone, Debug, Default)]
pub struct Behavior {
    /// Answer the first N export requests with `fail_with` (their spans are NOT recorded).
    pub fail_first: usize,
    pub fail_with: Failure,
    /// Sleep this long before answering each request.
    pub delay: Duration,
    /// Answer successful requests with partial_success { rejected_spans, error_message }.
    pub partial_reject: Option<(i64, String)>,
    /// Refuse a request of more spans than this as over the size limit (HTTP 413, gRPC
    /// RESOURCE_EXHAUSTED without RetryInfo), as a collector's max message size does.
    pub max_spans: Option<usize>,
}

impl Behavior {
    /// A collector that answers every request with `failure`.
    pub fn always(failure: Failure) -> Behavior {
        Behavior {
            fail_first: usize::MAX,
            fail_with: failure,
            ..Behavior::default()
        }
    }
}

#[derive(Clone, Debug, Default)]
pub enum Failure {
    /// gRPC UNAVAILABLE / HTTP 503.
    #[default]
    Unavailable,
    /// HTTP status; for gRPC 429 maps to RESOURCE_EXHAUSTED, 400 to
    /// INVALID_ARGUMENT and anything else to UNAVAILABLE.
    Http(u16),
    /// gRPC INVALID_ARGUMENT / HTTP 400.
    InvalidArgument,
}

impl Failure {
    fn http_status(&self) -> u16 {
        match self {
            Failure::Unavailable => 503,
            Failure::Http(code) => *code,
            Failure::InvalidArgument => 400,
        }
    }

    fn grpc_status(&self) -> tonic::Status {
        match self {
            Failure::Unavailable => tonic::Status::unavailable("receiver: injected failure"),
            Failure::InvalidArgument => {
                tonic::Status::invalid_argument("receiver: injected failure")
            }
            Failure::Http(429) => {
                tonic::Status::resource_exhausted("receiver: injected failure (429)")
            }
            Failure::Http(400) => {
                tonic::Status::invalid_argument("receiver: injected failure (400)")
            }
            Failure::Http(code) => {
                tonic::Status::unavailable(format!("receiver: injected failure ({code})"))
            }
        }
    }
}

/// An endpoint nothing listens on (a collector that is down).
pub fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// One accepted span with the context it arrived in.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    pub resource: Vec<KeyValue>,
    pub scope_name: String,
    pub span: Span,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn find_value<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

impl ReceivedSpan {
    pub fn trace_id_hex(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id_hex(&self) -> String {
        hex(&self.span.span_id)
    }

    /// Hex parent span id, `""` for a root span.
    pub fn parent_id_hex(&self) -> String {
        if self.span.parent_span_id.iter().all(|b| *b == 0) {
            String::new()
        } else {
            hex(&self.span.parent_span_id)
        }
    }

    /// Attribute lookup by key on the span: returns the AnyValue's inner Value.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        find_value(&self.span.attributes, key)
    }

    pub fn attr_str(&self, key: &str) -> Option<&str> {
        match self.attr(key)? {
            Value::StringValue(s) => Some(s),
            _ => None,
        }
    }

    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        match self.attr(key)? {
            Value::IntValue(i) => Some(*i),
            _ => None,
        }
    }

    pub fn attr_f64(&self, key: &str) -> Option<f64> {
        match self.attr(key)? {
            Value::DoubleValue(f) => Some(*f),
            _ => None,
        }
    }

    pub fn attr_bool(&self, key: &str) -> Option<bool> {
        match self.attr(key)? {
            Value::BoolValue(b) => Some(*b),
            _ => None,
        }
    }

    pub fn resource_str(&self, key: &str) -> Option<&str> {
        match find_value(&self.resource, key)? {
            Value::StringValue(s) => Some(s),
            _ => None,
        }
    }
}

fn flatten(requests: &[ExportTraceServiceRequest]) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for req in requests {
        for rs in &req.resource_spans {
            let resource = rs
                .resource
                .as_ref()
                .map(|r| r.attributes.clone())
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                let scope_name = ss
                    .scope
                    .as_ref()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                for span in &ss.spans {
                    out.push(ReceivedSpan {
                        resource: resource.clone(),
                        scope_name: scope_name.clone(),
                        span: span.clone(),
                    });
                }
            }
        }
    }
    out
}

fn span_count(requests: &[ExportTraceServiceRequest]) -> usize {
    requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

#[derive(Default)]
struct State {
    requests: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    attempts: usize,
    failed: usize,
    headers: Vec<Vec<(String, String)>>,
    content_types: Vec<String>,
}

/// State shared between the test thread and the server threads.
struct Shared {
    behavior: Behavior,
    state: Mutex<State>,
    changed: Condvar,
}

/// What to do with an export request once it has been recorded as an attempt.
enum Verdict {
    Fail(Failure),
    Accept,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not take the receiver down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a request as seen (attempt + headers + content type).
    fn record_attempt(&self, headers: Vec<(String, String)>, content_type: Option<String>) {
        let mut st = self.lock();
        st.attempts += 1;
        st.headers.push(headers);
        if let Some(ct) = content_type {
            st.content_types.push(ct);
        }
        drop(st);
        self.changed.notify_all();
    }

    /// Decides whether this export request is one of the first `fail_first`.
    fn verdict(&self) -> Verdict {
        let mut st = self.lock();
        if st.failed < self.behavior.fail_first {
            st.failed += 1;
            Verdict::Fail(self.behavior.fail_with.clone())
        } else {
            Verdict::Accept
        }
    }

    /// Whether a request is over `max_spans`.
    fn too_large(&self, req: &ExportTraceServiceRequest) -> bool {
        let spans: usize = req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.behavior.max_spans.is_some_and(|max| spans > max)
    }

    fn accept(&self, req: ExportTraceServiceRequest) {
        self.lock().requests.push(req);
        self.changed.notify_all();
    }

    fn accept_metrics(&self, req: ExportMetricsServiceRequest) {
        self.lock().metrics.push(req);
        self.changed.notify_all();
    }

    fn response(&self) -> ExportTraceServiceResponse {
        ExportTraceServiceResponse {
            partial_success: self.behavior.partial_reject.as_ref().map(|(n, msg)| {
                ExportTracePartialSuccess {
                    rejected_spans: *n,
                    error_message: msg.clone(),
                }
            }),
        }
    }
}

enum Server {
    Grpc {
        shutdown: tokio::sync::watch::Sender<bool>,
        thread: Option<JoinHandle<()>>,
    },
    Http {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    },
}

pub struct Receiver {
    proto: Proto,
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Server,
}

impl Receiver {
    /// Binds 127.0.0.1:0 and serves in a background thread until dropped.
    pub fn start(proto: Proto) -> Receiver {
        Self::start_with(proto, Behavior::default())
    }

    pub fn start_with(proto: Proto, behavior: Behavior) -> Receiver {
        let shared = Arc::new(Shared {
            behavior,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let (addr, server) = match proto {
            Proto::Grpc => start_grpc(shared.clone()),
            Proto::HttpProtobuf | Proto::HttpJson => start_http(shared.clone()),
        };
        Receiver {
            proto,
            addr,
            shared,
            server,
        }
    }

    /// What a client passes as --endpoint: "http://127.0.0.1:PORT" for gRPC,
    /// "http://127.0.0.1:PORT/v1/traces" for HTTP.
    pub fn endpoint(&self) -> String {
        match self.proto {
            Proto::Grpc => format!("http://{}", self.addr),
            Proto::HttpProtobuf | Proto::HttpJson => format!("http://{}/v1/traces", self.addr),
        }
    }

    /// The bound socket address.
    /// `--endpoint <this receiver> --protocol <its protocol>` for the command line.
    pub fn cli_args(&self) -> [String; 4] {
        [
            "--endpoint".into(),
            self.endpoint(),
            "--protocol".into(),
            self.proto().flag().into(),
        ]
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// Every accepted request, decoded, in arrival order.
    pub fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.shared.lock().requests.clone()
    }

    /// Count of requests seen including failed ones.
    pub fn attempts(&self) -> usize {
        self.shared.lock().attempts
    }

    /// Header (metadata for gRPC) name/value pairs of every request seen
    /// (lower-case names), in arrival order.
    pub fn headers(&self) -> Vec<Vec<(String, String)>> {
        self.shared.lock().headers.clone()
    }

    /// Content-Type of each HTTP request seen (empty for gRPC).
    pub fn content_types(&self) -> Vec<String> {
        self.shared.lock().content_types.clone()
    }

    /// All accepted spans flattened, each with its resource attributes and scope name.
    /// The metrics requests accepted so far, in arrival order.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.shared.lock().metrics.clone()
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        flatten(&self.shared.lock().requests)
    }

    /// Wait until at least n spans were accepted or the timeout passes; returns the spans.
    pub fn wait_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if span_count(&st.requests) >= n {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        flatten(&st.requests)
    }

    /// Wait until at least n requests were seen (including failed ones) or
    /// the timeout passes; returns `attempts()`.
    pub fn wait_attempts(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            let now = Instant::now();
            if st.attempts >= n || now >= deadline {
                return st.attempts;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        match &mut self.server {
            Server::Grpc { shutdown, thread } => {
                let _ = shutdown.send(true);
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
            Server::Http { stop, thread } => {
                stop.store(true, Ordering::SeqCst);
                // Wake the blocking accept() up.
                let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// gRPC
// ---------------------------------------------------------------------------

struct GrpcService {
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl TraceService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.shared.record_attempt(headers, None);
        if !self.shared.behavior.delay.is_zero() {
            tokio::time::sleep(self.shared.behavior.delay).await;
        }
        if self.shared.too_large(request.get_ref()) {
            return Err(tonic::Status::resource_exhausted(
                "receiver: message larger than max",
            ));
        }
        match self.shared.verdict() {
            Verdict::Fail(f) => Err(f.grpc_status()),
            Verdict::Accept => {
                self.shared.accept(request.into_inner());
                Ok(tonic::Response::new(self.shared.response()))
            }
        }
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.shared.record_attempt(Vec::new(), None);
        match self.shared.verdict() {
            Verdict::Fail(f) => Err(f.grpc_status()),
            Verdict::Accept => {
                self.shared.accept_metrics(request.into_inner());
                Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
            }
        }
    }
}

fn start_grpc(shared: Arc<Shared>) -> (SocketAddr, Server) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("receiver: build tokio runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("receiver: bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("receiver: local_addr");
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("otlp-grpc-receiver".into())
        .spawn(move || {
            let mut graceful = rx.clone();
            let mut hard = rx;
            rt.block_on(async move {
                let incoming =
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
                let metrics = MetricsServiceServer::new(GrpcService {
                    shared: shared.clone(),
                })
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
                let svc = TraceServiceServer::new(GrpcService { shared })
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
                let server = tonic::transport::Server::builder()
                    .add_service(svc)
                    .add_service(metrics)
                    .serve_with_incoming_shutdown(incoming, async move {
                        // Err means the sender is gone: shut down as well.
                        let _ = graceful.wait_for(|stop| *stop).await;
                    });
                tokio::select! {
                    res = server => {
                        if let Err(e) = res {
                            eprintln!("receiver: gRPC server error: {e}");
                        }
                    }
                    _ = async {
                        let _ = hard.wait_for(|stop| *stop).await;
                        tokio::time::sleep(GRPC_SHUTDOWN_GRACE).await;
                    } => {}
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        })
        .expect("receiver: spawn gRPC thread");
    (
        addr,
        Server::Grpc {
            shutdown,
            thread: Some(thread),
        },
    )
}

// ---------------------------------------------------------------------------
// HTTP/1.1
// ---------------------------------------------------------------------------

fn start_http(shared: Arc<Shared>) -> (SocketAddr, Server) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("receiver: bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("receiver: local_addr");
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("otlp-http-receiver".into())
        .spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else {
                    // e.g. EMFILE: back off instead of spinning.
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let shared = shared.clone();
                let stop = stop2.clone();
                // Connection threads are detached: they notice `stop` within
                // POLL and never outlive HTTP_IDLE_TIMEOUT anyway.
                let _ = std::thread::Builder::new()
                    .name("otlp-http-conn".into())
                    .spawn(move || {
                        let mut conn = Conn {
                            stream,
                            buf: Vec::new(),
                            stop,
                        };
                        conn.serve(&shared);
                    });
            }
        })
        .expect("receiver: spawn HTTP thread");
    (
        addr,
        Server::Http {
            stop,
            thread: Some(thread),
        },
    )
}

struct HttpRequest {
    method: String,
    path: String,
    version: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        conn.split(',').any(|t| t.trim() == "close")
            || (self.version == "HTTP/1.0" && !conn.split(',').any(|t| t.trim() == "keep-alive"))
    }
}

struct HttpResponse {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

impl HttpResponse {
    fn text(status: u16, msg: &str) -> Self {
        HttpResponse {
            status,
            content_type: "text/plain; charset=utf-8",
            body: msg.as_bytes().to_vec(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    stop: Arc<AtomicBool>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    fn serve(&mut self, shared: &Shared) {
        if self.stream.set_read_timeout(Some(POLL)).is_err()
            || self
                .stream
                .set_write_timeout(Some(HTTP_REQUEST_TIMEOUT))
                .is_err()
        {
            return;
        }
        let _ = self.stream.set_nodelay(true);
        loop {
            let Some(req) = self.read_request() else {
                return;
            };
            let close = req.wants_close();
            let (resp, retry_after) = handle_http(shared, &req);
            if self.write_response(&resp, retry_after, close).is_err() || close {
                return;
            }
        }
    }

    /// Reads more bytes into `buf`. `None` on EOF, error, stop or deadline.
    fn fill(&mut self, deadline: Instant) -> Option<()> {
        let mut tmp = [0u8; 16 * 1024];
        loop {
            if self.stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                return None;
            }
            match self.stream.read(&mut tmp) {
                Ok(0) => return None,
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Some(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return None,
            }
        }
    }

    /// Takes bytes up to (excluding) `delim` off the buffer, consuming `delim`.
    fn take_until(&mut self, delim: &[u8], max: usize, deadline: Instant) -> Option<Vec<u8>> {
        let mut searched: usize = 0;
        loop {
            let from = searched.saturating_sub(delim.len());
            if let Some(pos) = find(&self.buf[from..], delim) {
                let pos = from + pos;
                let out = self.buf[..pos].to_vec();
                self.buf.drain(..pos + delim.len());
                return Some(out);
            }
            if self.buf.len() > max {
                return None;
            }
            searched = self.buf.len();
            self.fill(deadline)?;
        }
    }

    fn take_exact(&mut self, n: usize, deadline: Instant) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            self.fill(deadline)?;
        }
        Some(self.buf.drain(..n).collect())
    }

    fn read_request(&mut self) -> Option<HttpRequest> {
        // Wait (up to the idle timeout) for the first byte of the next request.
        if self.buf.is_empty() {
            self.fill(Instant::now() + HTTP_IDLE_TIMEOUT)?;
        }
        let deadline = Instant::now() + HTTP_REQUEST_TIMEOUT;
        // Tolerate stray CRLFs between requests.
        while self.buf.starts_with(b"\r\n") {
            self.buf.drain(..2);
            if self.buf.is_empty() {
                self.fill(deadline)?;
            }
        }
        let head = self.take_until(b"\r\n\r\n", MAX_HEAD, deadline)?;
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n");
        let mut parts = lines.next()?.split_whitespace();
        let method = parts.next()?.to_string();
        let path = parts.next()?.to_string();
        let version = parts.next().unwrap_or("HTTP/1.1").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
            })
            .collect();
        let mut req = HttpRequest {
            method,
            path,
            version,
            headers,
            body: Vec::new(),
        };
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .ok()?;
        }
        let chunked = req
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            loop {
                let line = self.take_until(b"\r\n", MAX_HEAD, deadline)?;
                let line = String::from_utf8_lossy(&line);
                let size = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size, 16).ok()?;
                if size == 0 {
                    // Trailers until the empty line.
                    while !self.take_until(b"\r\n", MAX_HEAD, deadline)?.is_empty() {}
                    break;
                }
                if req.body.len() + size > MAX_BODY {
                    return None;
                }
                let chunk = self.take_exact(size, deadline)?;
                req.body.extend_from_slice(&chunk);
                self.take_exact(2, deadline)?;
            }
        } else {
            let len = match req.header("content-length") {
                Some(v) => v.parse::<usize>().ok()?,
                None => 0,
            };
            if len > MAX_BODY {
                return None;
            }
            req.body = self.take_exact(len, deadline)?;
        }
        Some(req)
    }

    fn write_response(
        &mut self,
        resp: &HttpResponse,
        retry_after: bool,
        close: bool,
    ) -> std::io::Result<()> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            resp.status,
            reason(resp.status),
            resp.content_type,
            resp.body.len()
        );
        if retry_after {
            out.push_str("Retry-After: 0\r\n");
        }
        if close {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&resp.body);
        self.stream.write_all(&bytes)?;
        self.stream.flush()
    }
}

#[derive(Clone, Copy)]
enum Body {
    Protobuf,
    Json,
}

/// Handles one HTTP request; returns the response and whether to add `Retry-After: 0`.
fn handle_http(shared: &Shared, req: &HttpRequest) -> (HttpResponse, bool) {
    let content_type = req.header("content-type").unwrap_or("").to_string();
    shared.record_attempt(req.headers.clone(), Some(content_type.clone()));
    if !shared.behavior.delay.is_zero() {
        std::thread::sleep(shared.behavior.delay);
    }
    let path = req.path.split('?').next().unwrap_or("");
    if path != "/v1/traces" && path != "/v1/metrics" {
        return (HttpResponse::text(404, "not found"), false);
    }
    if req.method != "POST" {
        return (HttpResponse::text(405, "method not allowed"), false);
    }
    if let Some(enc) = req.header("content-encoding") {
        if !enc.is_empty() && !enc.eq_ignore_ascii_case("identity") {
            return (
                HttpResponse::text(415, &format!("unsupported content-encoding: {enc}")),
                false,
            );
        }
    }
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let kind = match mime.as_str() {
        "application/x-protobuf" => Body::Protobuf,
        "application/json" => Body::Json,
        _ => {
            return (
                HttpResponse::text(415, &format!("unsupported content-type: {content_type}")),
                false,
            )
        }
    };
    if let Verdict::Fail(f) = shared.verdict() {
        let status = f.http_status();
        return (
            HttpResponse::text(status, "receiver: injected failure"),
            matches!(status, 429 | 503),
        );
    }
    if path == "/v1/metrics" {
        let decoded = match kind {
            Body::Protobuf => {
                ExportMetricsServiceRequest::decode(req.body.as_slice()).map_err(|e| e.to_string())
            }
            Body::Json => serde_json::from_slice::<ExportMetricsServiceRequest>(&req.body)
                .map_err(|e| e.to_string()),
        };
        return match decoded {
            Ok(d) => {
                shared.accept_metrics(d);
                let response = ExportMetricsServiceResponse::default();
                let resp = match kind {
                    Body::Protobuf => HttpResponse {
                        status: 200,
                        content_type: "application/x-protobuf",
                        body: response.encode_to_vec(),
                    },
                    Body::Json => HttpResponse {
                        status: 200,
                        content_type: "application/json",
                        body: b"{}".to_vec(),
                    },
                };
                (resp, false)
            }
            Err(e) => (
                HttpResponse::text(400, &format!("decode error: {e}")),
                false,
            ),
        };
    }
    let decoded = match kind {
        Body::Protobuf => {
            ExportTraceServiceRequest::decode(req.body.as_slice()).map_err(|e| e.to_string())
        }
        Body::Json => serde_json::from_slice::<ExportTraceServiceRequest>(&req.body)
            .map_err(|e| e.to_string()),
    };
    let decoded = match decoded {
        Ok(d) => d,
        Err(e) => {
            return (
                HttpResponse::text(400, &format!("decode error: {e}")),
                false,
            )
        }
    };
    if shared.too_large(&decoded) {
        return (
            HttpResponse::text(413, "receiver: request entity too large"),
            false,
        );
    }
    shared.accept(decoded);
    let response = shared.response();
    let resp = match kind {
        Body::Protobuf => HttpResponse {
            status: 200,
            content_type: "application/x-protobuf",
            body: response.encode_to_vec(),
        },
        Body::Json => HttpResponse {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
        },
    };
    (resp, false)
}

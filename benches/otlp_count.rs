//! A counting OTLP/gRPC receiver for the benchmarks: accepts every export, counts its spans
//! and writes the running total to a file, so a bench script can check that everything
//! arrived. It decodes requests (tonic's codec) and keeps nothing else, so it is not the
//! bottleneck of what it measures.
//!
//!     cargo build --release --example otlp_count
//!     target/release/examples/otlp_count 127.0.0.1:4317 count.txt

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

struct Counter {
    spans: AtomicU64,
    requests: AtomicU64,
    file: std::path::PathBuf,
}

struct Service(Arc<Counter>);

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let total = self.0.spans.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        let requests = self.0.requests.fetch_add(1, Ordering::SeqCst) + 1;
        // Written after every request: the bench reads it once the client has exited.
        let _ = std::fs::write(&self.0.file, format!("{total} {requests}\n"));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
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
            .add_service(
                TraceServiceServer::new(Service(counter))
                    .max_decoding_message_size(256 * 1024 * 1024),
            )
            .serve(addr)
            .await
            .expect("serve");
    });
}

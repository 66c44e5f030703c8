//! In-process costs of a large dbt conversion, stage by stage: the JSON parse alone (the
//! floor: generic and typed), the source (parse + records), the trace builder, and OTLP
//! encoding. The input is the real 04-build run_results.json scaled to 20,000 results in
//! memory (unique ids, times shifted), as `tools/gen-run-results.py` does for the
//! whole-process benchmarks.
//!
//!     cargo bench --bench pipeline

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use retrace::sink::config::SinkConfig;
use retrace::source::{dbt::Dbt, Source, SourceOptions};
use retrace::trace::build;

// The allocator the binary ships with (src/main.rs): the figures depend on it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NODES: usize = 20_000;

/// 04-build with its results repeated to `NODES`, each under a unique id and one
/// millisecond later than the previous copy of the same result.
fn scaled_run_results() -> Vec<u8> {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dbt/04-build/run_results.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    let originals = doc["results"].as_array().unwrap().clone();
    let mut results = Vec::with_capacity(NODES);
    for i in 0..NODES {
        let mut r = originals[i % originals.len()].clone();
        let id = format!("{}_{i:06}", r["unique_id"].as_str().unwrap());
        r["unique_id"] = id.into();
        results.push(r);
    }
    doc["results"] = results.into();
    serde_json::to_vec(&doc).unwrap()
}

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run_results.json");
    let bytes = scaled_run_results();
    std::fs::write(&path, &bytes).unwrap();
    let options = SourceOptions::default();
    let run = Dbt.parse(&path, &options).unwrap().remove(0);
    let scope = build::scope();
    let built = build::build(run.clone(), None, &scope, "").unwrap();
    let resource = retrace::sink::resource_for(&built, &SinkConfig::disabled());

    let mut g = c.benchmark_group("dbt 20k nodes");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("serde_json::Value parse (floor)", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
    });
    g.bench_function("serde_json typed parse (dbt source's structs)", |b| {
        b.iter(|| retrace::source::dbt::parse_only(&bytes).unwrap())
    });
    g.bench_function("source: read + parse + records", |b| {
        b.iter(|| Dbt.parse(&path, &options).unwrap())
    });
    g.throughput(Throughput::Elements(built.spans.len() as u64));
    g.bench_function("trace build", |b| {
        b.iter_batched(
            || run.clone(),
            |run| build::build(run, None, &scope, "").unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    // As the sink does it: spans moved into chunks of 512, one request each, encoded once.
    g.bench_function("OTLP requests + protobuf encode", |b| {
        b.iter_batched(
            || built.spans.clone(),
            |spans| {
                retrace::sink::into_chunks(spans, 512)
                    .map(|chunk| {
                        retrace::sink::file::request(chunk, &resource)
                            .encode_to_vec()
                            .len()
                    })
                    .sum::<usize>()
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);

#!/usr/bin/env python3
"""Reference dbt run_results.json -> OTLP converter, written the way a user would today with the
OpenTelemetry Python SDK. It is the baseline retrace's `dbt` verb is benchmarked against.

  convert_run_results.py RUN_RESULTS.json [--endpoint 127.0.0.1:4317]

Sends over OTLP/gRPC (insecure). A W3C TRACEPARENT (and TRACESTATE) in the environment becomes
the parent of the run span. Times are dbt's recorded ones, not the conversion time.
Needs the pins in requirements.txt (install.sh builds target/bench-venv with them).
"""
import argparse
import json
import os
import sys
from datetime import datetime, timezone

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

ERROR_STATUSES = {"error", "runtime error", "fail", "partial success"}
OK_STATUSES = {"success", "pass", "warn"}
TASK_RESULT = {
    "success": "success", "pass": "success", "warn": "success",
    "fail": "failure", "partial success": "failure",
    "error": "error", "runtime error": "error",
    "skipped": "skip", "no-op": "skip", "reused": "skip",
}


def to_ns(ts):
    """ISO-8601 ('...Z', '+00:00', or naive UTC as dbt logs write it) -> ns since the epoch, exactly."""
    dt = datetime.fromisoformat(ts)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def command_of(doc):
    args = doc.get("args") or {}
    if args.get("which"):
        return args["which"]
    words = (args.get("invocation_command") or "").split()
    if len(words) > 1 and words[0] == "dbt":
        return words[1]
    return "run"


def parent_context():
    carrier = {}
    if os.environ.get("TRACEPARENT"):
        carrier["traceparent"] = os.environ["TRACEPARENT"]
        if os.environ.get("TRACESTATE"):
            carrier["tracestate"] = os.environ["TRACESTATE"]
    return TraceContextTextMapPropagator().extract(carrier) if carrier else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_results")
    ap.add_argument("--endpoint", default="127.0.0.1:4317", help="OTLP/gRPC host:port (insecure)")
    opts = ap.parse_args()

    with open(opts.run_results) as fh:
        doc = json.load(fh)
    meta = doc.get("metadata") or {}
    results = doc.get("results") or []

    provider = TracerProvider(resource=Resource.create({"service.name": "dbt"}))
    # All spans are created in one burst: the default queue (2048) would drop the rest
    # ("Queue full, dropping Span."), so size it to the run.
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=opts.endpoint, insecure=True),
        max_queue_size=max(2048, len(results) + 1),
    ))
    tracer = provider.get_tracer("dbt-run-results-reference")

    command = command_of(doc)
    run_end = to_ns(meta["generated_at"])
    if meta.get("invocation_started_at"):
        run_start = to_ns(meta["invocation_started_at"])
    else:
        run_start = run_end - int(float(doc.get("elapsed_time") or 0) * 1e9)

    root = tracer.start_span(
        f"dbt {command}",
        context=parent_context(),
        kind=SpanKind.SERVER,
        start_time=run_start,
        attributes={
            "dbt.invocation_id": meta.get("invocation_id", ""),
            "dbt.version": meta.get("dbt_version", ""),
            "cicd.pipeline.name": f"dbt {command}",
            "cicd.pipeline.run.id": meta.get("invocation_id", ""),
        },
    )
    root_ctx = trace.set_span_in_context(root)

    spans = 1
    for result in results:
        unique_id = result["unique_id"]
        parts = unique_id.split(".")
        resource_type, name = parts[0], parts[-1]
        status = result.get("status")

        starts = [to_ns(t["started_at"]) for t in result.get("timing") or [] if t.get("started_at")]
        ends = [to_ns(t["completed_at"]) for t in result.get("timing") or [] if t.get("completed_at")]
        start = min(starts) if starts else run_end
        end = max(ends) if ends else start

        attributes = {
            "dbt.node_id": unique_id,
            "dbt.status": status,
            "dbt.thread_id": result.get("thread_id") or "",
            "dbt.execution_time": float(result.get("execution_time") or 0),
            "cicd.pipeline.task.name": unique_id,
        }
        if isinstance(result.get("message"), str):
            attributes["dbt.message"] = result["message"]
        if status in TASK_RESULT:
            attributes["cicd.pipeline.task.run.result"] = TASK_RESULT[status]

        span = tracer.start_span(
            f"{resource_type} {name}",
            context=root_ctx,
            kind=SpanKind.INTERNAL,
            start_time=start,
            attributes=attributes,
        )
        if status in ERROR_STATUSES:
            message = result.get("message")
            span.set_status(Status(StatusCode.ERROR, message if isinstance(message, str) else status))
        elif status in OK_STATUSES:
            span.set_status(Status(StatusCode.OK))
        span.end(end_time=end)
        spans += 1

    root.end(end_time=run_end)
    provider.force_flush()
    provider.shutdown()
    print(f"reference: {spans} spans", file=sys.stderr)


if __name__ == "__main__":
    main()

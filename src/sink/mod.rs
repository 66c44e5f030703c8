//! Spans → somewhere: OTLP (gRPC, HTTP/protobuf, HTTP/JSON), OTLP/JSON lines files, a
//! readable console tree, or nowhere. Every export result is checked; nothing goes through
//! the SDK's BatchSpanProcessor (it hides failures: ARCHITECTURE.md, "Delivery").

pub(crate) mod background;
pub mod config;
pub(crate) mod console;
pub(crate) mod delivery;
pub(crate) mod doctor;
pub mod file;
pub(crate) mod otlp;
pub(crate) mod spool;
pub(crate) mod transport;

use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use crate::trace::build::BuiltRun;
use config::{ExporterKind, SinkConfig};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Bad flags or environment: a usage error.
    #[error("{0}")]
    Config(String),
    /// Spans could not be delivered.
    #[error("{0}")]
    Delivery(String),
}

/// Where spans go. `send` delivers one run (in chunks) and reports how many spans went out.
/// It takes the run by value so a sink can move the spans into its requests: a 20,000-node
/// run is not copied.
pub trait Sink {
    fn send(&mut self, run: BuiltRun, resource: &Resource) -> Result<usize, SinkError>;
    /// Delivers one run's metrics (`--metrics`); returns how many data points went out.
    fn send_metrics(&mut self, request: ExportMetricsServiceRequest) -> Result<usize, SinkError> {
        Ok(crate::trace::metrics::point_count(&request))
    }
    /// Flushes whatever is buffered; called once after the last run.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    /// The runs arrive in parts (a live run): a sink that shows whole runs waits for `finish`.
    fn hold_until_finish(&mut self) {}
    /// Where OTLP export went in the end, when it is not what was configured (the endpoint
    /// turned out to speak the other transport).
    fn otlp_destination(&self) -> Option<String> {
        None
    }
}

/// Discards spans (`--exporter none`), still counting them.
pub struct NoneSink;

impl Sink for NoneSink {
    fn send(&mut self, run: BuiltRun, _: &Resource) -> Result<usize, SinkError> {
        Ok(run.spans.len())
    }
}

/// Moves `spans` out in chunks of at most `size` (at least 1), in order. Each span is moved
/// once: splitting the vector chunk by chunk would copy the rest of the run every time.
pub fn into_chunks(spans: Vec<SpanData>, size: usize) -> impl Iterator<Item = Vec<SpanData>> {
    let size = size.max(1);
    let mut spans = spans.into_iter();
    std::iter::from_fn(move || {
        let chunk: Vec<SpanData> = spans.by_ref().take(size).collect();
        (!chunk.is_empty()).then_some(chunk)
    })
}

pub fn open(config: &SinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    let mut sinks = config
        .exporters
        .iter()
        .map(|kind| open_one(*kind, config))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match sinks.len() {
        1 => sinks.remove(0),
        _ => Box::new(Tee(sinks)),
    })
}

fn open_one(kind: ExporterKind, config: &SinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    Ok(match kind {
        ExporterKind::Otlp => Box::new(otlp::OtlpSink::new(config)?),
        ExporterKind::File => Box::new(file::FileSink::create(config)?),
        ExporterKind::Console => Box::new(console::ConsoleSink::stdout()),
        ExporterKind::None => Box::new(NoneSink),
    })
}

/// Several exporters at once (`OTEL_TRACES_EXPORTER=otlp,console`, `--exporter console -o
/// FILE`): each gets every run; one failing does not keep the run from the others. The count
/// is what every one of them took.
struct Tee(Vec<Box<dyn Sink>>);

impl Tee {
    /// Gives each sink its copy (the last one the original); the count is what every one of
    /// them took, and the first error is returned once all have had theirs.
    fn each<T: Clone>(
        &mut self,
        item: T,
        send: impl Fn(&mut Box<dyn Sink>, T) -> Result<usize, SinkError>,
    ) -> Result<usize, SinkError> {
        let mut delivered = usize::MAX;
        let mut first_error = None;
        let last = self.0.len() - 1;
        let mut item = Some(item);
        for (i, sink) in self.0.iter_mut().enumerate() {
            let copy = if i == last { item.take() } else { item.clone() };
            let Some(copy) = copy else { break };
            match send(sink, copy) {
                Ok(n) => delivered = delivered.min(n),
                Err(e) => {
                    delivered = 0;
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(delivered),
        }
    }
}

impl Sink for Tee {
    fn send(&mut self, run: BuiltRun, resource: &Resource) -> Result<usize, SinkError> {
        self.each(run, |sink, run| sink.send(run, resource))
    }

    fn send_metrics(&mut self, request: ExportMetricsServiceRequest) -> Result<usize, SinkError> {
        self.each(request, |sink, request| sink.send_metrics(request))
    }

    fn hold_until_finish(&mut self) {
        self.0.iter_mut().for_each(|s| s.hold_until_finish());
    }

    fn otlp_destination(&self) -> Option<String> {
        self.0.iter().find_map(|s| s.otlp_destination())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let mut result = Ok(());
        for sink in &mut self.0 {
            if let Err(e) = sink.finish() {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result
    }
}

/// The resource of a run: `service.name` (flag/env, else the run's own, else the system's
/// name), the run's own attributes (a workflow's `otel.resource`), then the configured ones,
/// which win key by key.
pub fn resource_for(run: &BuiltRun, config: &SinkConfig) -> Resource {
    let declared = |key: &str| run.resource.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let service = config
        .service_name
        .clone()
        .or_else(|| declared("service.name").cloned())
        .unwrap_or_else(|| run.system.clone());
    let mut attrs = vec![KeyValue::new("service.name", service)];
    let configured = |key: &str| config.resource.iter().any(|(k, _)| k == key);
    attrs.extend(
        run.resource
            .iter()
            .filter(|(k, _)| k != "service.name" && !configured(k))
            .chain(config.resource.iter())
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Resource::builder_empty().with_attributes(attrs).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(resource: &[(&str, &str)]) -> BuiltRun {
        BuiltRun {
            system: "retrace".into(),
            resource: resource
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            run_id: "r".into(),
            spans: Vec::new(),
            traceparent: String::new(),
            tracestate: String::new(),
        }
    }

    fn pairs(resource: &Resource) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = resource
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_run_declares_its_resource_and_the_settings_win_key_by_key() {
        let declared = run(&[
            ("service.name", "dagu-etl"),
            ("team", "data"),
            ("tier", "1"),
        ]);
        let mut config = SinkConfig::disabled();
        let own = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            pairs(&resource_for(&declared, &config)),
            vec![
                own("service.name", "dagu-etl"),
                own("team", "data"),
                own("tier", "1")
            ]
        );
        config.service_name = Some("ops".into());
        config.resource = vec![own("team", "platform")];
        assert_eq!(
            pairs(&resource_for(&declared, &config)),
            vec![
                own("service.name", "ops"),
                own("team", "platform"),
                own("tier", "1")
            ]
        );
        assert_eq!(
            pairs(&resource_for(&run(&[]), &SinkConfig::disabled())),
            vec![own("service.name", "retrace")]
        );
    }
}

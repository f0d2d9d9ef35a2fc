//! Interoperability with real Zipkin senders: opencensus-python's Zipkin exporter (driven by
//! seed 000's program) and the OpenTelemetry Python SDK's (driven by seed 004's program) post
//! to a local listener that records the bodies (it answers 202 like Zipkin, and judges
//! nothing); our decoder must read every body and recover the trace.
//!
//! `scripts/ci` installs both into a virtual environment under `target/` and passes its
//! Python in `THREADLINE_PEERS_PYTHON`; a plain `cargo test` lists this test as ignored.

use std::time::Duration;

use threadline::SpanData;
use threadline_wire::zipkin;

mod peers;

/// Seed 000's program, pointed at the recorder, with fewer iterations and no sleeps.
const QUICKSTART: &str = r#"
import sys
from opencensus.ext.zipkin.trace_exporter import ZipkinExporter
from opencensus.trace.tracer import Tracer
from opencensus.trace.samplers import AlwaysOnSampler

ze = ZipkinExporter(service_name="python-quickstart", host_name="127.0.0.1",
                    port=int(sys.argv[1]), endpoint="/api/v2/spans")
tracer = Tracer(exporter=ze, sampler=AlwaysOnSampler())

def do_work():
    with tracer.span(name="doWork") as span:
        span.add_annotation("invoking doWork", len=5)

with tracer.span(name="main") as span:
    span.add_attribute("iterations", 3)
    for _ in range(3):
        do_work()
"#;

/// Runs the Python `program` with a recorder's port as its argument, and decodes the Zipkin
/// JSON it posted to `/api/v2/spans` until 4 spans arrived; with each request's content type.
fn spans_sent_by(program: &str) -> (Vec<SpanData>, Vec<String>) {
    let (port, requests) = peers::http_recorder();
    peers::run_python(&["-c", program, &port.to_string()], &[]);
    let mut spans: Vec<SpanData> = Vec::new();
    let mut content_types = Vec::new();
    while spans.len() < 4 {
        let (path, content_type, body) = requests
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("only {} spans arrived", spans.len()));
        assert_eq!(path, "/api/v2/spans");
        let decoded = zipkin::json::decode(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
        spans.extend(decoded);
        content_types.push(content_type);
    }
    (spans, content_types)
}

#[test]
#[ignore = "needs opencensus, which scripts/ci installs (THREADLINE_PEERS_PYTHON)"]
fn our_decoder_reads_what_opencensus_python_sends() {
    let (spans, content_types) = spans_sent_by(QUICKSTART);
    for content_type in content_types {
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
    }
    assert_eq!(spans.len(), 4);
    let main = spans.iter().find(|s| s.name == "main").expect("main");
    let work: Vec<&SpanData> = spans.iter().filter(|s| s.name == "doWork").collect();
    assert_eq!(work.len(), 3);
    assert_eq!(main.parent_span_id, None);
    assert_eq!(main.resource.service_name, "python-quickstart");
    assert_eq!(
        main.attribute("iterations")
            .map(|v| v.to_string())
            .as_deref(),
        Some("3")
    );
    assert!(main.end_time_unix_nano >= main.start_time_unix_nano);
    for span in &work {
        assert_eq!(span.trace_id, main.trace_id);
        assert_eq!(span.parent_span_id, Some(main.span_id));
        assert_eq!(span.resource.service_name, "python-quickstart");
        assert_eq!(span.annotations.len(), 1, "{span:?}");
        assert_eq!(span.annotations[0].description, "invoking doWork");
        // opencensus-python's Zipkin exporter sends an annotation's description only: its
        // attributes (`len=5` here) never leave the process.
        assert!(span.annotations[0].attributes.is_empty(), "{span:?}");
        assert!(span.annotations[0].time_unix_nano >= span.start_time_unix_nano);
        assert!(span.start_time_unix_nano >= main.start_time_unix_nano);
    }
}

/// Seed 004's add/subtract program on the OpenTelemetry Python SDK, exporting to Zipkin, with
/// an event and an error status so that their encodings are read too.
const ADDSUBTRACT: &str = r#"
import sys
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.trace import Status, StatusCode

provider = TracerProvider(resource=Resource.create({"service.name": "addsubtract"}))
provider.add_span_processor(SimpleSpanProcessor(
    ZipkinExporter(endpoint=f"http://127.0.0.1:{sys.argv[1]}/api/v2/spans")))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("addsubtract")

@tracer.start_as_current_span("add")
def add(a, b):
    trace.get_current_span().add_event("adding", {"a": a, "b": b})
    return a + b

@tracer.start_as_current_span("subtract")
def subtract(a, b):
    span = trace.get_current_span()
    span.set_attribute("negative", a - b < 0)
    span.set_status(Status(StatusCode.ERROR, "went below zero"))
    return a - b

@tracer.start_as_current_span("addsubtract", kind=trace.SpanKind.SERVER)
def main():
    s = add(1, 2)
    s = subtract(s, 4)
    s = add(s, 5)
    trace.get_current_span().set_attribute("result", s)

main()
provider.shutdown()
"#;

#[test]
#[ignore = "needs the OpenTelemetry SDK, which scripts/ci installs (THREADLINE_PEERS_PYTHON)"]
fn our_decoder_reads_what_the_opentelemetry_python_zipkin_exporter_sends() {
    let (spans, _) = spans_sent_by(ADDSUBTRACT);
    let by_name =
        |name: &str| -> Vec<&SpanData> { spans.iter().filter(|s| s.name == name).collect() };
    let root = by_name("addsubtract")[0];
    assert_eq!(root.kind, threadline::SpanKind::Server);
    assert_eq!(root.parent_span_id, None);
    assert_eq!(root.resource.service_name, "addsubtract");
    assert_eq!(
        root.attribute("result").map(|v| v.to_string()).as_deref(),
        Some("4")
    );
    let adds = by_name("add");
    assert_eq!(adds.len(), 2);
    for add in &adds {
        assert_eq!(add.trace_id, root.trace_id);
        assert_eq!(add.parent_span_id, Some(root.span_id));
        assert_eq!(add.annotations.len(), 1, "{add:?}");
        assert_eq!(add.annotations[0].description, "adding");
        let keys: Vec<&str> = add.annotations[0]
            .attributes
            .iter()
            .map(|kv| &*kv.key)
            .collect();
        assert_eq!(keys, ["a", "b"], "{add:?}");
    }
    let subtract = by_name("subtract")[0];
    assert_eq!(subtract.parent_span_id, Some(root.span_id));
    let status = subtract.status.as_ref().expect("an error status");
    assert!(!status.is_ok());
    assert_eq!(status.description(), "went below zero");
    assert_eq!(
        subtract
            .attribute("negative")
            .map(|v| v.to_string())
            .as_deref(),
        Some("true")
    );
    assert_eq!(subtract.scope, "addsubtract");
}

//! Real third-party senders against the server's Jaeger and OTLP/gRPC receivers:
//! jaeger-client (Python) reporting to the agent's compact UDP port, opencensus-python's
//! Jaeger exporter posting to the collector's HTTP port (a Thrift `submitBatches` call, whose
//! reply it reads) and emitting to the agent's UDP port, and the OpenTelemetry Python SDK's
//! OTLP/gRPC exporter with gzip. Each trace is read back through the Zipkin query API and
//! Jaeger's.
//!
//! `scripts/ci` installs the peers into a virtual environment under `target/` and passes its
//! Python in `THREADLINE_PEERS_PYTHON`; a plain `cargo test` lists these tests as ignored.

mod common;

use common::{get_json, run_python, wait_for_trace, TestServer};

/// The trace id and root span id a peer printed, then anything else it printed.
fn ids(out: &str) -> (String, String, Vec<String>) {
    let mut lines = out.lines().map(str::to_string);
    let trace_id = lines.next().unwrap_or_default();
    let root_id = lines.next().unwrap_or_default();
    assert_eq!(trace_id.len(), 32, "{out}");
    assert_eq!(root_id.len(), 16, "{out}");
    (trace_id, root_id, lines.collect())
}

/// Checks the `checkout` / `charge` trace every peer program below sends, as the Zipkin API
/// answered it, then as Jaeger's API answers it.
fn check_checkout(server: &TestServer, trace: &serde_json::Value, service: &str, root_id: &str) {
    check_checkout_zipkin(trace, service, root_id);
    let trace_id = trace[0]["traceId"].as_str().expect("trace id");
    let answer = get_json(server.query, &format!("/api/traces/{trace_id}"));
    let jaeger = &answer["data"][0];
    let spans = jaeger["spans"].as_array().expect("jaeger spans");
    assert_eq!(spans.len(), 2, "{answer}");
    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s["operationName"] == name)
            .unwrap_or_else(|| panic!("no span {name} in {answer}"))
    };
    let tag = |span: &serde_json::Value, key: &str| {
        span["tags"]
            .as_array()
            .and_then(|tags| tags.iter().find(|t| t["key"] == key))
            .map(|t| t["value"].clone())
    };
    let (root, charge) = (by_name("checkout"), by_name("charge"));
    assert_eq!(root["spanID"], root_id);
    assert_eq!(charge["references"][0]["refType"], "CHILD_OF", "{charge}");
    assert_eq!(charge["references"][0]["spanID"], root_id, "{charge}");
    for span in [root, charge] {
        let process = span["processID"].as_str().expect("process id");
        assert_eq!(jaeger["processes"][process]["serviceName"], service);
    }
    assert_eq!(tag(root, "http.method"), Some("GET".into()));
    assert_eq!(tag(charge, "payment.provider"), Some("acme".into()));
    let logged = charge["logs"][0]["fields"].to_string();
    assert!(
        logged.contains("charged") && logged.contains("amount"),
        "{charge}"
    );
}

fn check_checkout_zipkin(trace: &serde_json::Value, service: &str, root_id: &str) {
    let spans = trace.as_array().expect("spans");
    assert_eq!(spans.len(), 2, "{trace}");
    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no span {name} in {trace}"))
    };
    let root = by_name("checkout");
    let charge = by_name("charge");
    assert_eq!(root["id"], root_id);
    assert!(root.get("parentId").is_none(), "{root}");
    assert_eq!(charge["parentId"], root_id);
    for span in [root, charge] {
        assert_eq!(span["localEndpoint"]["serviceName"], service, "{span}");
    }
    assert_eq!(root["tags"]["http.method"], "GET");
    assert_eq!(charge["tags"]["payment.provider"], "acme");
    let annotation = charge["annotations"][0]["value"].as_str().unwrap_or("");
    assert!(
        annotation.contains("charged") && annotation.contains("amount"),
        "{charge}"
    );
}

const JAEGER_CLIENT: &str = r#"
import logging, sys
from jaeger_client import Config

logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
host, port = sys.argv[1], int(sys.argv[2])
config = Config(
    config={
        'sampler': {'type': 'const', 'param': 1},
        'local_agent': {'reporting_host': host, 'reporting_port': port},
        'logging': True,
    },
    service_name='jaeger-client-py',
    validate=True,
)
tracer = config.initialize_tracer()
with tracer.start_span('checkout') as root:
    root.set_tag('http.method', 'GET')
    with tracer.start_span('charge', child_of=root) as child:
        child.set_tag('payment.provider', 'acme')
        child.log_kv({'event': 'charged', 'amount': 5})
print('%032x' % root.trace_id)
print('%016x' % root.span_id)
# close flushes the reporter's queue; its future completes once the spans are sent
# close() flushes the reporter's queue on the tracer's I/O thread; the future it returns is
# completed by callbacks that run on this thread's event loop, so run that loop until then
import asyncio, time
flushed = tracer.close()
loop = asyncio.get_event_loop()
deadline = time.monotonic() + 30
while not flushed.done():
    if time.monotonic() > deadline:
        sys.exit('the tracer did not flush within 30 s')
    loop.run_until_complete(asyncio.sleep(0.01))
"#;

#[test]
#[ignore = "needs jaeger-client, which scripts/ci installs (THREADLINE_PEERS_PYTHON)"]
fn jaeger_client_reports_to_the_compact_udp_port() {
    let server = TestServer::start();
    let port = server.jaeger_compact.port().to_string();
    let out = run_python(JAEGER_CLIENT, &["127.0.0.1", &port]);
    let (trace_id, root_id, _) = ids(&out);
    // the flush is done once the datagrams are sent, not once the server has read them
    let trace = wait_for_trace(&server, &trace_id, 2);
    check_checkout(&server, &trace, "jaeger-client-py", &root_id);
    let spans = trace.as_array().expect("spans");
    let root = spans
        .iter()
        .find(|s| s["name"] == "checkout")
        .expect("root");
    // jaeger-client's process tags and sampler tags are kept
    assert_eq!(root["tags"]["jaeger.version"], "Python-4.8.0", "{root}");
    assert_eq!(root["tags"]["sampler.type"], "const", "{root}");
    let counters = server.receiver("jaeger compact udp");
    assert_eq!(counters.spans_accepted, 2, "{counters:?}");
    assert_eq!(counters.requests_refused, 0, "{counters:?}");
}

const OPENCENSUS: &str = r#"
import logging, sys
from opencensus.ext.jaeger.trace_exporter import JaegerExporter
from opencensus.trace.samplers import AlwaysOnSampler
from opencensus.trace.tracer import Tracer

errors = []
class Remember(logging.Handler):
    def emit(self, record):
        errors.append(repr(record.msg))
logging.getLogger().addHandler(Remember(level=logging.WARNING))

http_host, http_port, agent_host, agent_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
exporter = JaegerExporter(
    service_name='opencensus-py',
    host_name=http_host, port=http_port, endpoint='/api/traces',
    agent_host_name=agent_host, agent_port=agent_port,
)
tracer = Tracer(exporter=exporter, sampler=AlwaysOnSampler())
with tracer.span(name='checkout') as root:
    root.add_attribute('http.method', 'GET')
    with tracer.span(name='charge') as child:
        child.add_attribute('payment.provider', 'acme')
        child.add_annotation('charged', amount=5)
print(tracer.span_context.trace_id)
print(root.span_id)
if errors:
    sys.exit('the exporter logged: %s' % errors)
"#;

#[test]
#[ignore = "needs opencensus-ext-jaeger, which scripts/ci installs (THREADLINE_PEERS_PYTHON)"]
fn opencensus_posts_to_the_collector_and_emits_to_the_agent() {
    // the exporter sends every span both ways: to one server's collector port and another's
    // agent port, so that each server holds the trace once
    let collector = TestServer::start();
    let agent = TestServer::start();
    let http_port = collector.jaeger_http.port().to_string();
    let udp_port = agent.jaeger_compact.port().to_string();
    // the program fails when the exporter logs an error, which it does when the collector's
    // answer is not a Thrift reply to its submitBatches call
    let out = run_python(
        OPENCENSUS,
        &["127.0.0.1", &http_port, "127.0.0.1", &udp_port],
    );
    let (trace_id, root_id, _) = ids(&out);

    // the collector stores before it answers
    let trace = wait_for_trace(&collector, &trace_id, 2);
    check_checkout(&collector, &trace, "opencensus-py", &root_id);
    let counters = collector.receiver("jaeger http");
    assert_eq!(counters.spans_accepted, 2, "{counters:?}");
    assert_eq!(counters.requests_refused, 0, "{counters:?}");

    let trace = wait_for_trace(&agent, &trace_id, 2);
    check_checkout(&agent, &trace, "opencensus-py", &root_id);
    assert_eq!(agent.receiver("jaeger compact udp").spans_accepted, 2);
}

const OTLP_GRPC: &str = r#"
import sys
import grpc
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

class Checked(SpanExporter):
    """The OTLP exporter, remembering what each export returned."""
    def __init__(self, inner):
        self.inner = inner
        self.results = []
    def export(self, spans):
        result = self.inner.export(spans)
        self.results.append(result)
        return result
    def shutdown(self):
        self.inner.shutdown()

exporter = Checked(OTLPSpanExporter(endpoint=sys.argv[1], insecure=True,
                                    compression=grpc.Compression.Gzip))
provider = TracerProvider(resource=Resource.create({"service.name": "otel-grpc-py"}))
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("checkout")
with tracer.start_as_current_span("checkout", kind=trace.SpanKind.SERVER) as root:
    root.set_attribute("http.method", "GET")
    with tracer.start_as_current_span("charge", kind=trace.SpanKind.CLIENT) as child:
        child.set_attribute("payment.provider", "acme")
        child.add_event("charged", {"amount": 5})
    print(format(root.get_span_context().trace_id, "032x"))
    print(format(root.get_span_context().span_id, "016x"))
provider.shutdown()
print(" ".join(r.name for r in exporter.results))
"#;

#[test]
#[ignore = "needs opentelemetry-exporter-otlp-proto-grpc, which scripts/ci installs (THREADLINE_PEERS_PYTHON)"]
fn the_opentelemetry_python_otlp_grpc_exporter_is_received() {
    let server = TestServer::start();
    let endpoint = format!("http://{}", server.otlp_grpc);
    let out = run_python(OTLP_GRPC, &[&endpoint]);
    let (trace_id, root_id, rest) = ids(&out);
    // SimpleSpanProcessor exports each span on its own
    assert_eq!(rest, ["SUCCESS SUCCESS"], "{out}");
    let trace = wait_for_trace(&server, &trace_id, 2);
    check_checkout(&server, &trace, "otel-grpc-py", &root_id);
    let spans = trace.as_array().expect("spans");
    let kind = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["kind"].clone())
    };
    assert_eq!(kind("checkout"), Some("SERVER".into()));
    assert_eq!(kind("charge"), Some("CLIENT".into()));
    assert_eq!(server.receiver("otlp grpc").spans_accepted, 2);
}

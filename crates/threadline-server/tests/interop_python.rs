//! Real third-party senders against the running server: the OpenTelemetry Python SDK's Zipkin
//! exporter posts to the Zipkin receiver, and a request built with the official OTLP protobuf
//! classes (opentelemetry-proto for Python) is posted, gzip-compressed, to the OTLP/HTTP
//! receiver, whose partial-success response Python decodes. The traces are read back through
//! the Zipkin query API and Jaeger's.
//!
//! `scripts/ci` installs the peers into a virtual environment under `target/` and passes its
//! Python in `THREADLINE_PEERS_PYTHON`; a plain `cargo test` lists these tests as ignored.

mod common;
#[path = "common/jaeger_query.rs"]
mod jaeger_query;

use common::{get_json, run_python, TestServer};
use jaeger_query::{jaeger_ok, jaeger_trace, parent_of, service_of, span_named, tag};

const ZIPKIN_SDK: &str = r#"
import sys
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.zipkin.json import ZipkinExporter

provider = TracerProvider(resource=Resource.create({"service.name": "addsubtract"}))
provider.add_span_processor(SimpleSpanProcessor(ZipkinExporter(endpoint=sys.argv[1])))
tracer = provider.get_tracer("addsubtract")

with tracer.start_as_current_span("addsubtract", kind=trace.SpanKind.SERVER) as root:
    with tracer.start_as_current_span("add") as span:
        span.set_attribute("a", 1)
    with tracer.start_as_current_span("subtract") as span:
        span.set_attribute("negative", True)
    root.set_attribute("result", 4)
    print(format(root.get_span_context().trace_id, "032x"))
provider.shutdown()
"#;

#[test]
#[ignore = "needs the OpenTelemetry SDK, which scripts/ci installs (THREADLINE_PEERS_PYTHON)"]
fn the_opentelemetry_python_zipkin_exporter_is_received() {
    let server = TestServer::start();
    let endpoint = format!("http://{}/api/v2/spans", server.zipkin);
    let trace_id = run_python(ZIPKIN_SDK, &[&endpoint]).trim().to_string();
    assert_eq!(trace_id.len(), 32, "{trace_id}");

    let trace = get_json(server.query, &format!("/api/v2/trace/{trace_id}"));
    let spans = trace.as_array().expect("spans");
    assert_eq!(spans.len(), 3, "{trace}");
    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {trace}"))
    };
    let root = by_name("addsubtract");
    assert!(root.get("parentId").is_none(), "{root}");
    assert_eq!(root["kind"], "SERVER");
    assert_eq!(root["localEndpoint"]["serviceName"], "addsubtract");
    assert_eq!(root["tags"]["result"], "4");
    for name in ["add", "subtract"] {
        assert_eq!(by_name(name)["parentId"], root["id"]);
    }
    assert_eq!(by_name("subtract")["tags"]["negative"], "true");

    let found = get_json(
        server.query,
        "/api/v2/traces?serviceName=addsubtract&annotationQuery=negative%3Dtrue",
    );
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");

    // the same trace through Jaeger's API: Zipkin JSON tags arrive as strings
    let (trace, decoded) = jaeger_trace(server.query, &trace_id);
    assert_eq!(decoded.len(), 3);
    assert_eq!(trace["traceID"], trace_id.as_str());
    let root = span_named(&trace, "addsubtract");
    assert_eq!(parent_of(root), None);
    assert_eq!(service_of(&trace, root), "addsubtract");
    assert_eq!(tag(root, "span.kind"), ("string".into(), "server".into()));
    assert_eq!(tag(root, "result"), ("string".into(), "4".into()));
    for name in ["add", "subtract"] {
        assert_eq!(
            parent_of(span_named(&trace, name)),
            root["spanID"].as_str().map(String::from)
        );
    }
    assert_eq!(
        tag(span_named(&trace, "subtract"), "negative"),
        ("string".into(), "true".into())
    );
    let found = jaeger_ok(
        server.query,
        "/api/traces?service=addsubtract&tag=negative:true&operation=subtract",
    );
    assert_eq!(found["data"].as_array().map(Vec::len), Some(1), "{found}");
}

const OTLP_PROTO: &str = r#"
import gzip, sys, time, urllib.request
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest, ExportTraceServiceResponse)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

now = time.time_ns()
tid = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
root = Span(trace_id=tid, span_id=bytes.fromhex("b7ad6b7169203331"), name="GET /orders",
            kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=now - 5000000,
            end_time_unix_nano=now,
            attributes=[KeyValue(key="http.method", value=AnyValue(string_value="GET"))])
child = Span(trace_id=tid, span_id=bytes.fromhex("00f067aa0ba902b7"),
             parent_span_id=bytes.fromhex("b7ad6b7169203331"), name="SELECT orders",
             kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=now - 4000000,
             end_time_unix_nano=now - 1000000,
             attributes=[KeyValue(key="db.system", value=AnyValue(string_value="postgresql"))])
bad = Span(trace_id=b"\x01\x02\x03", span_id=bytes.fromhex("00000000000000aa"), name="bad")
request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
    resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="orders"))]),
    scope_spans=[ScopeSpans(spans=[root, child, bad])])])
http = urllib.request.Request(sys.argv[1], data=gzip.compress(request.SerializeToString()),
    headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, method="POST")
with urllib.request.urlopen(http) as reply:
    response = ExportTraceServiceResponse.FromString(reply.read())
    print(reply.status)
print(response.partial_success.rejected_spans)
print(response.partial_success.error_message)
"#;

#[test]
#[ignore = "needs opentelemetry-proto for Python, which scripts/ci installs (THREADLINE_PEERS_PYTHON)"]
fn an_otlp_request_built_by_opentelemetry_proto_is_received() {
    let server = TestServer::start();
    let endpoint = format!("http://{}/v1/traces", server.otlp_http);
    let out = run_python(OTLP_PROTO, &[&endpoint]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "200");
    assert_eq!(lines[1], "1");
    assert!(lines[2].starts_with("span 2: trace_id"), "{out}");

    let trace = get_json(
        server.query,
        "/api/v2/trace/0af7651916cd43dd8448eb211c80319c",
    );
    let spans = trace.as_array().expect("spans");
    assert_eq!(spans.len(), 2, "{trace}");
    let root = spans
        .iter()
        .find(|s| s["name"] == "GET /orders")
        .expect("root");
    let child = spans
        .iter()
        .find(|s| s["name"] == "SELECT orders")
        .expect("child");
    assert_eq!(root["localEndpoint"]["serviceName"], "orders");
    assert_eq!(root["tags"]["http.method"], "GET");
    assert_eq!(child["parentId"], "b7ad6b7169203331");
    assert_eq!(child["kind"], "CLIENT");
    assert_eq!(child["tags"]["db.system"], "postgresql");

    // the same trace through Jaeger's API
    let (trace, decoded) = jaeger_trace(server.query, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(decoded.len(), 2);
    let root = span_named(&trace, "GET /orders");
    let child = span_named(&trace, "SELECT orders");
    assert_eq!(root["spanID"], "b7ad6b7169203331");
    assert_eq!(parent_of(child).as_deref(), Some("b7ad6b7169203331"));
    assert_eq!(service_of(&trace, root), "orders");
    assert_eq!(tag(root, "span.kind"), ("string".into(), "server".into()));
    assert_eq!(tag(child, "span.kind"), ("string".into(), "client".into()));
    assert_eq!(tag(root, "http.method"), ("string".into(), "GET".into()));
    assert_eq!(root["duration"], 5000);
    assert_eq!(child["duration"], 3000);
}

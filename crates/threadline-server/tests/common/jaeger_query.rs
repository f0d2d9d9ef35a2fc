//! Reading traces back through Jaeger's query APIs: the envelope checks, the trace model
//! decoded with threadline-wire's Jaeger JSON decoder, and the api_v3 answers decoded as
//! OTLP/JSON. Included by path (`#[path = "common/jaeger_query.rs"]`) next to `mod common`.

#![allow(dead_code)]

use std::net::SocketAddr;

use serde_json::Value as Json;
use threadline::SpanData;

use super::common::get;

/// `GET path` on the Jaeger API: 200, Jaeger's envelope with `errors` null and `total` the
/// length of `data`; the whole answer.
pub fn jaeger_ok(address: SocketAddr, path: &str) -> Json {
    let reply = get(address, path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    assert!(
        reply.content_type.starts_with("application/json"),
        "{path}: {}",
        reply.content_type
    );
    let answer: Json = serde_json::from_str(&reply.body).expect("json answer");
    check_envelope(&answer, path);
    assert_eq!(answer["errors"], Json::Null, "{path}: {answer}");
    answer
}

/// The envelope's fields, with their types.
pub fn check_envelope(answer: &Json, path: &str) {
    let object = answer.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["data", "errors", "limit", "offset", "total"],
        "{path}: {answer}"
    );
    assert_eq!(answer["limit"], 0);
    assert_eq!(answer["offset"], 0);
    if let Some(data) = answer["data"].as_array() {
        assert_eq!(answer["total"], data.len(), "{path}: {answer}");
    }
}

/// `GET path` on the Jaeger API answering `status`: Jaeger's envelope with no data and one
/// error `{code: status, msg}`; the message.
pub fn jaeger_error(address: SocketAddr, path: &str, status: u16) -> String {
    let reply = get(address, path);
    assert_eq!(reply.status, status, "{path}: {}", reply.body);
    let answer: Json = serde_json::from_str(&reply.body).expect("json answer");
    check_envelope(&answer, path);
    assert_eq!(answer["data"], Json::Null, "{answer}");
    let errors = answer["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(errors[0]["code"], status, "{answer}");
    errors[0]["msg"].as_str().expect("msg").to_string()
}

/// The traces of a Jaeger answer's `data`, each decoded with threadline-wire's decoder, which
/// checks every field's name and type.
pub fn decode_traces(answer: &Json) -> Vec<Vec<SpanData>> {
    answer["data"]
        .as_array()
        .expect("data is an array of traces")
        .iter()
        .map(|trace| {
            threadline_wire::jaeger::json::decode(trace.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{e}: {trace}"))
        })
        .collect()
}

/// One trace by id, `/api/traces/{id}`: the trace object and its decoded spans.
pub fn jaeger_trace(address: SocketAddr, trace_id: &str) -> (Json, Vec<SpanData>) {
    let answer = jaeger_ok(address, &format!("/api/traces/{trace_id}"));
    let data = answer["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "{answer}");
    let spans = decode_traces(&answer).remove(0);
    (data[0].clone(), spans)
}

/// The span of a Jaeger trace object named `name`.
pub fn span_named<'a>(trace: &'a Json, name: &str) -> &'a Json {
    trace["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .find(|s| s["operationName"] == name)
        .unwrap_or_else(|| panic!("no span {name} in {trace}"))
}

/// The tag `key` of a Jaeger span: `(type, value)`.
pub fn tag(span: &Json, key: &str) -> (String, Json) {
    let tag = span["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| panic!("no tag {key} in {span}"));
    (
        tag["type"].as_str().expect("type").to_string(),
        tag["value"].clone(),
    )
}

/// The service name of a span's process.
pub fn service_of<'a>(trace: &'a Json, span: &Json) -> &'a str {
    let id = span["processID"].as_str().expect("processID");
    trace["processes"][id]["serviceName"]
        .as_str()
        .unwrap_or_else(|| panic!("no process {id} in {trace}"))
}

/// The span id a span's `CHILD_OF` reference names, if any.
pub fn parent_of(span: &Json) -> Option<String> {
    span["references"]
        .as_array()
        .expect("references")
        .iter()
        .find(|r| r["refType"] == "CHILD_OF")
        .map(|r| r["spanID"].as_str().expect("spanID").to_string())
}

/// Checks a Jaeger trace object read back against `common::sample_trace`.
pub fn check_sample_trace(trace: &Json, trace_id: u128) {
    let spans = trace["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 3, "{trace}");
    let expected_id = threadline_wire::jaeger::json::trace_id_text(threadline::TraceId(trace_id));
    assert_eq!(trace["traceID"], expected_id.as_str());
    let root = span_named(trace, "get /checkout");
    let charge = span_named(trace, "charge");
    let select = span_named(trace, "select");
    for span in spans {
        assert_eq!(span["traceID"], expected_id.as_str());
    }
    assert_eq!(root["spanID"], "0000000000000010");
    assert_eq!(parent_of(root), None);
    assert_eq!(parent_of(charge).as_deref(), Some("0000000000000010"));
    assert_eq!(parent_of(select).as_deref(), Some("0000000000000020"));
    assert_eq!(service_of(trace, root), "frontend");
    assert_eq!(service_of(trace, charge), "backend");
    assert_eq!(service_of(trace, select), "backend");
    assert_eq!(tag(root, "span.kind"), ("string".into(), "server".into()));
    assert_eq!(tag(select, "span.kind"), ("string".into(), "client".into()));
    assert_eq!(tag(root, "http.method"), ("string".into(), "GET".into()));
    assert_eq!(
        tag(select, "db.system"),
        ("string".into(), "postgresql".into())
    );
    assert_eq!(root["duration"], 4000);
    assert_eq!(select["duration"], 500);
}

/// An api_v3 answer holding traces: `{"result": <OTLP TracesData>}`, decoded with
/// threadline-wire's OTLP/JSON decoder.
pub fn v3_spans(address: SocketAddr, path: &str) -> Vec<SpanData> {
    let reply = get(address, path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    let answer: Json = serde_json::from_str(&reply.body).expect("json");
    let object = answer.as_object().expect("an object");
    assert_eq!(object.len(), 1, "{answer}");
    let result = &answer["result"];
    assert!(result["resourceSpans"].is_array(), "{answer}");
    let spans = threadline_wire::otlp::json::decode(result.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{e}: {answer}"));
    // read by an OTLP/JSON reader that is not ours as well: the same spans
    let traces: opentelemetry_proto::tonic::trace::v1::TracesData =
        serde_json::from_value(result.clone())
            .unwrap_or_else(|e| panic!("opentelemetry-proto cannot read it: {e}: {answer}"));
    let theirs: Vec<(Vec<u8>, Vec<u8>, String)> = traces
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| (s.trace_id.clone(), s.span_id.clone(), s.name.clone()))
        .collect();
    let ours: Vec<(Vec<u8>, Vec<u8>, String)> = spans
        .iter()
        .map(|s| {
            (
                s.trace_id.0.to_be_bytes().to_vec(),
                s.span_id.0.to_be_bytes().to_vec(),
                s.name.to_string(),
            )
        })
        .collect();
    assert_eq!(theirs, ours, "{answer}");
    spans
}

/// An api_v3 failure: `status` and `{"error": {"httpCode": status, "message"}}`; the message.
pub fn v3_error(address: SocketAddr, path: &str, status: u16) -> String {
    let reply = get(address, path);
    assert_eq!(reply.status, status, "{path}: {}", reply.body);
    let answer: Json = serde_json::from_str(&reply.body).expect("json");
    assert_eq!(answer["error"]["httpCode"], status, "{answer}");
    answer["error"]["message"]
        .as_str()
        .expect("message")
        .to_string()
}

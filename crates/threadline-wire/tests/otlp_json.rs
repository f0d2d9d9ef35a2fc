//! OTLP/JSON as peers see it: a golden payload checked field by field, and bodies shaped like
//! the ones OpenTelemetry SDKs send.

use std::sync::Arc;

use serde_json::{json, Value as Json};
use threadline::{
    Annotation, KeyValue, Link, LinkType, MessageEvent, MessageEventType, Resource, SpanData,
    SpanId, SpanKind, Status, StatusCode, TraceId, TraceState, Value,
};
use threadline_wire::otlp::{json, proto};

const START: u64 = 1_700_000_000_123_456_789;

fn typical() -> SpanData {
    let mut span = SpanData::new(
        TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId(0x00f0_67aa_0ba9_02b7),
        "GET /users/{id}",
    );
    span.parent_span_id = Some(SpanId(0x53ef_2f3c_0a2d_4e7b));
    span.parent_is_remote = true;
    span.trace_state = TraceState::from_header("rojo=00f067aa0ba902b7").unwrap();
    span.kind = SpanKind::Server;
    span.start_time_unix_nano = START;
    span.end_time_unix_nano = START + 2_500_001;
    span.attributes = vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.response.status_code", 404),
        KeyValue::new("retry.ratio", 0.25),
        KeyValue::new("cache.hit", false),
        KeyValue::new("user.roles", vec!["admin", "ops"]),
        KeyValue {
            key: "payload".into(),
            value: Value::Bytes(b"hi".to_vec()),
        },
    ];
    span.annotations = vec![Annotation {
        time_unix_nano: START + 1_000,
        description: "cache miss".into(),
        attributes: vec![KeyValue::new("key", "user:7")],
        dropped_attributes_count: 1,
    }];
    span.message_events = vec![MessageEvent {
        time_unix_nano: START + 2_000,
        kind: MessageEventType::Received,
        id: 1,
        uncompressed_size: 120,
        compressed_size: 80,
    }];
    span.links = vec![Link {
        trace_id: TraceId(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c),
        span_id: SpanId(0xb7ad_6b71_6920_3331),
        trace_state: TraceState::EMPTY,
        link_type: LinkType::ChildLinkedSpan,
        attributes: vec![],
        dropped_attributes_count: 0,
    }];
    span.status = Some(Status::new(StatusCode::NotFound, "no such user"));
    span.dropped.attributes = 2;
    span.dropped.annotations = 3;
    span.dropped.message_events = 1;
    span.dropped.links = 4;
    span.resource = Arc::new(Resource {
        service_name: "frontend".into(),
        attributes: vec![KeyValue::new("host.name", "web-1")],
    });
    span.scope = "threadline-http".into();
    span
}

#[test]
fn golden_payload_field_by_field() {
    let span = typical();
    let body: Json = serde_json::from_slice(&json::encode(std::slice::from_ref(&span))).unwrap();
    let group = &body["resourceSpans"][0];
    assert_eq!(
        group["resource"],
        json!({"attributes": [
            {"key": "service.name", "value": {"stringValue": "frontend"}},
            {"key": "host.name", "value": {"stringValue": "web-1"}},
        ]})
    );
    assert_eq!(
        group["scopeSpans"][0]["scope"],
        json!({"name": "threadline-http"})
    );
    let s = &group["scopeSpans"][0]["spans"][0];
    // ids: lowercase hex, not base64
    assert_eq!(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(s["spanId"], "00f067aa0ba902b7");
    assert_eq!(s["parentSpanId"], "53ef2f3c0a2d4e7b");
    assert_eq!(s["traceState"], "rojo=00f067aa0ba902b7");
    // sampled | has-is-remote | is-remote
    assert_eq!(s["flags"], 0x301);
    assert_eq!(s["name"], "GET /users/{id}");
    // enums as integers
    assert_eq!(s["kind"], 2);
    // 64-bit integers as decimal strings
    assert_eq!(s["startTimeUnixNano"], "1700000000123456789");
    assert_eq!(s["endTimeUnixNano"], "1700000000125956790");
    assert_eq!(
        s["attributes"],
        json!([
            {"key": "http.request.method", "value": {"stringValue": "GET"}},
            {"key": "http.response.status_code", "value": {"intValue": "404"}},
            {"key": "retry.ratio", "value": {"doubleValue": 0.25}},
            {"key": "cache.hit", "value": {"boolValue": false}},
            {"key": "user.roles", "value": {"arrayValue": {"values": [
                {"stringValue": "admin"}, {"stringValue": "ops"}
            ]}}},
            {"key": "payload", "value": {"bytesValue": "aGk="}},
            {"key": "threadline.status_code", "value": {"stringValue": "NOT_FOUND"}},
            {"key": "threadline.dropped_message_events_count", "value": {"intValue": "1"}},
        ])
    );
    assert_eq!(s["droppedAttributesCount"], 2);
    assert_eq!(
        s["events"],
        json!([
            {
                "timeUnixNano": "1700000000123457789",
                "name": "cache miss",
                "attributes": [{"key": "key", "value": {"stringValue": "user:7"}}],
                "droppedAttributesCount": 1,
            },
            {
                "timeUnixNano": "1700000000123458789",
                "name": "message",
                "attributes": [
                    {"key": "message.type", "value": {"stringValue": "RECEIVED"}},
                    {"key": "message.id", "value": {"intValue": "1"}},
                    {"key": "message.uncompressed_size", "value": {"intValue": "120"}},
                    {"key": "message.compressed_size", "value": {"intValue": "80"}},
                ],
            },
        ])
    );
    assert_eq!(s["droppedEventsCount"], 4);
    assert_eq!(
        s["links"],
        json!([{
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "spanId": "b7ad6b7169203331",
            "attributes": [{"key": "threadline.link_type", "value": {"stringValue": "CHILD_LINKED_SPAN"}}],
        }])
    );
    assert_eq!(s["droppedLinksCount"], 4);
    assert_eq!(s["status"], json!({"message": "no such user", "code": 2}));
    assert_eq!(s.as_object().unwrap().len(), 16, "{s:#}");

    let body = json::encode(std::slice::from_ref(&span));
    assert_eq!(json::decode(&body).unwrap(), vec![span.clone()]);
    assert_eq!(
        proto::decode(&proto::encode(std::slice::from_ref(&span))).unwrap(),
        vec![span]
    );
}

/// Hand-written from knowledge of `@opentelemetry/exporter-trace-otlp-http` (JS SDK 1.x, JSON
/// serializer) and the OTLP/JSON examples of the specification, not captured from a running
/// SDK: real peers are tested separately. It has what those senders do that Threadline does not:
/// default values written out, int64 as numbers as well as strings, an unset status, schema
/// URLs, scope versions and resource attributes of every type.
const JS_SDK_BODY: &str = r#"{
  "resourceSpans": [{
    "resource": {
      "attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}},
        {"key": "telemetry.sdk.language", "value": {"stringValue": "nodejs"}},
        {"key": "telemetry.sdk.name", "value": {"stringValue": "opentelemetry"}},
        {"key": "telemetry.sdk.version", "value": {"stringValue": "1.25.1"}},
        {"key": "process.pid", "value": {"intValue": 4242}}
      ],
      "droppedAttributesCount": 0
    },
    "scopeSpans": [{
      "scope": {"name": "@opentelemetry/instrumentation-http", "version": "0.52.1"},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "",
        "traceState": "",
        "name": "POST",
        "kind": 3,
        "startTimeUnixNano": 1544712660000000000,
        "endTimeUnixNano": "1544712661000000000",
        "attributes": [
          {"key": "http.method", "value": {"stringValue": "POST"}},
          {"key": "http.status_code", "value": {"intValue": 201}},
          {"key": "http.flavor", "value": {"stringValue": "1.1"}},
          {"key": "net.peer.port", "value": {"intValue": "443"}},
          {"key": "sampling.rate", "value": {"doubleValue": 1}},
          {"key": "headers", "value": {"kvlistValue": {"values": [
            {"key": "accept", "value": {"stringValue": "*/*"}},
            {"key": "retries", "value": {"intValue": "0"}}
          ]}}},
          {"key": "unset", "value": {}}
        ],
        "droppedAttributesCount": 0,
        "events": [
          {"timeUnixNano": "1544712660300000000", "name": "exception", "attributes": [
            {"key": "exception.type", "value": {"stringValue": "Error"}},
            {"key": "exception.message", "value": {"stringValue": "socket hang up"}}
          ], "droppedAttributesCount": 0}
        ],
        "droppedEventsCount": 0,
        "status": {"code": 0},
        "links": [],
        "droppedLinksCount": 0,
        "flags": 1
      }, {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "1b0fd0b6b4b5bd3c",
        "parentSpanId": "eee19b7ec3c1b174",
        "name": "dns.lookup",
        "kind": 1,
        "startTimeUnixNano": "1544712660100000000",
        "endTimeUnixNano": "1544712660200000000",
        "status": {"code": 2, "message": "ENOTFOUND"},
        "flags": 769
      }]
    }],
    "schemaUrl": "https://opentelemetry.io/schemas/1.24.0"
  }]
}"#;

#[test]
fn a_js_sdk_body_decodes() {
    let spans = json::decode(JS_SDK_BODY.as_bytes()).unwrap();
    assert_eq!(spans.len(), 2);
    let (post, dns) = (&spans[0], &spans[1]);
    assert!(Arc::ptr_eq(&post.resource, &dns.resource));
    assert_eq!(post.resource.service_name, "checkout");
    assert_eq!(post.resource.get("process.pid"), Some(Value::I64(4242)));
    assert_eq!(post.scope, "@opentelemetry/instrumentation-http");

    assert_eq!(
        post.trace_id.to_string(),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(post.parent_span_id, None);
    assert!(!post.parent_is_remote);
    assert_eq!(post.kind, SpanKind::Client);
    assert_eq!(post.duration_nanos(), 1_000_000_000);
    assert_eq!(post.status, None);
    assert_eq!(post.attribute("http.status_code"), Some(&Value::I64(201)));
    assert_eq!(post.attribute("net.peer.port"), Some(&Value::I64(443)));
    assert_eq!(post.attribute("sampling.rate"), Some(&Value::F64(1.0)));
    assert_eq!(
        post.attribute("headers"),
        Some(&Value::from(r#"{"accept":"*/*","retries":0}"#))
    );
    assert_eq!(post.attribute("unset"), None);
    assert_eq!(post.annotations[0].description, "exception");
    assert_eq!(post.annotations[0].attributes.len(), 2);
    assert!(post.message_events.is_empty());

    assert_eq!(dns.parent_span_id, Some(SpanId(0xeee1_9b7e_c3c1_b174)));
    assert!(dns.parent_is_remote);
    assert_eq!(dns.kind, SpanKind::Internal);
    assert_eq!(
        dns.status,
        Some(Status::new(StatusCode::Unknown, "ENOTFOUND"))
    );
}

#[test]
fn message_events_from_the_opencensus_shim_shape() {
    // The RPC semantic conventions' event, as an OpenCensus shim or a gRPC instrumentation
    // writes it, with only some of the attributes.
    let body = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
        "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "events":[
          {"timeUnixNano":"5","name":"message","attributes":[
            {"key":"message.type","value":{"stringValue":"SENT"}},
            {"key":"message.id","value":{"intValue":"3"}}]},
          {"timeUnixNano":"6","name":"message","attributes":[
            {"key":"message.type","value":{"stringValue":"sideways"}}]}
        ]}]}]}]}"#;
    let span = json::decode(body.as_bytes()).unwrap().remove(0);
    assert_eq!(
        span.message_events,
        [MessageEvent {
            time_unix_nano: 5,
            kind: MessageEventType::Sent,
            id: 3,
            uncompressed_size: 0,
            compressed_size: 0,
        }]
    );
    assert_eq!(span.annotations[0].description, "message");
}

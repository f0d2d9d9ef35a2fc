//! Bodies as other tracers send them, and the body Threadline sends.
//!
//! These payloads are HAND-WRITTEN samples, modelled on what each exporter's source produces
//! (opencensus-ext-zipkin's `translate_to_zipkin`, opentelemetry-exporter-zipkin-json's
//! `JsonV2Encoder`, the OpenCensus Go exporter through zipkin-go, and the example in
//! zipkin2-api.yaml). They check the decoder against those shapes; interoperability tests
//! against the real peers, installed and run by the test script, come later.

use std::sync::Arc;

use serde_json::json;
use threadline::{
    Annotation, KeyValue, MessageEventType, Resource, SpanData, SpanId, SpanKind, Status,
    StatusCode, TraceId, Value,
};
use threadline_wire::zipkin::{json as zipkin_json, proto};

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attribute(key).map(ToString::to_string)
}

/// opencensus-ext-zipkin (Python): `json.dumps` of its dicts. Tags are `str()` of the value
/// (so `True`, not `true`), `annotations` and `tags` are always present, `port` is the Zipkin
/// server's port, and `duration` can be 0 after rounding. It exports no status.
const OPENCENSUS_PYTHON: &str = r#"[{"traceId": "6e0c63257de34c92bf9efcd03927272e", "id": "b7ad6b7169203331", "name": "/hello", "timestamp": 1556604172355737, "duration": 1431, "localEndpoint": {"serviceName": "my_service", "port": 9411}, "tags": {"http.method": "GET", "http.status_code": "200", "cached": "True"}, "annotations": [{"timestamp": 1556604172356012, "value": "cache lookup"}], "kind": "SERVER", "parentId": "00f067aa0ba902b7"}, {"traceId": "6e0c63257de34c92bf9efcd03927272e", "id": "5b4185666d50f68b", "name": "[sqlalchemy]query", "timestamp": 1556604172356100, "duration": 0, "localEndpoint": {"serviceName": "my_service", "port": 9411}, "tags": {}, "annotations": [], "parentId": "b7ad6b7169203331"}]"#;

#[test]
fn opencensus_python_body() {
    let spans = zipkin_json::decode(OPENCENSUS_PYTHON.as_bytes()).unwrap();
    let [server, query] = &spans[..] else {
        panic!("two spans")
    };
    assert_eq!(
        server.trace_id,
        TraceId(0x6e0c_6325_7de3_4c92_bf9e_fcd0_3927_272e)
    );
    assert_eq!(server.parent_span_id, Some(SpanId(0x00f0_67aa_0ba9_02b7)));
    assert_eq!(server.kind, SpanKind::Server);
    assert!(server.parent_is_remote);
    assert_eq!(server.start_time_unix_nano, 1_556_604_172_355_737_000);
    assert_eq!(server.duration_nanos(), 1_431_000);
    assert_eq!(server.status, None);
    assert_eq!(attribute(server, "cached").as_deref(), Some("True"));
    assert_eq!(server.annotations[0].description, "cache lookup");
    assert_eq!(
        server.annotations[0].time_unix_nano,
        1_556_604_172_356_012_000
    );
    // The port is the collector's, not the service's: only the name is kept.
    assert_eq!(*server.resource, Resource::new("my_service"));
    assert!(Arc::ptr_eq(&server.resource, &query.resource));

    assert_eq!(query.kind, SpanKind::Unspecified);
    assert!(!query.parent_is_remote);
    assert_eq!(
        query.end_time_unix_nano, 0,
        "a 0 duration is Zipkin's 'unknown'"
    );
    assert!(query.attributes.is_empty() && query.annotations.is_empty());
}

/// opentelemetry-exporter-zipkin-json (Python), `JsonV2Encoder`: `"kind": null` for INTERNAL,
/// `debug` for sampled spans, resource attributes and `otel.library.*` among the tags, events
/// as `json.dumps({name: attributes}, sort_keys=True)`.
const OPENTELEMETRY_PYTHON: &str = r#"[{"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "id": "00f067aa0ba902b7", "name": "GET", "timestamp": 1700000000123457, "duration": 2501, "localEndpoint": {"serviceName": "users-api"}, "kind": "CLIENT", "tags": {"http.method": "GET", "http.url": "http://users:8080/u/1", "net.peer.name": "users", "http.status_code": "503", "telemetry.sdk.language": "python", "service.version": "2.1.0", "otel.library.name": "opentelemetry.instrumentation.requests", "otel.library.version": "0.45b0", "otel.status_code": "ERROR", "error": "Service Unavailable", "otel.dropped_events_count": "2"}, "annotations": [{"timestamp": 1700000000124000, "value": "{\"exception\": {\"exception.escaped\": false, \"exception.message\": \"503 Server Error\", \"exception.type\": \"HTTPError\", \"retry\": 2}}"}], "debug": true, "parentId": "a3ce929d0e0e4736"}, {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "id": "a3ce929d0e0e4736", "name": "load-user", "timestamp": 1700000000100000, "duration": 40000, "localEndpoint": {"serviceName": "users-api"}, "kind": null, "tags": {"otel.library.name": "app", "otel.library.version": "", "otel.status_code": "OK"}, "debug": true}]"#;

#[test]
fn opentelemetry_python_body() {
    let spans = zipkin_json::decode(OPENTELEMETRY_PYTHON.as_bytes()).unwrap();
    let [client, internal] = &spans[..] else {
        panic!("two spans")
    };
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(
        client.status,
        Some(Status::new(StatusCode::Unknown, "Service Unavailable"))
    );
    assert_eq!(client.scope, "opentelemetry.instrumentation.requests");
    assert_eq!(
        attribute(client, "otel.library.version").as_deref(),
        Some("0.45b0")
    );
    assert_eq!(client.dropped.annotations, 2);
    assert_eq!(
        attribute(client, "service.version").as_deref(),
        Some("2.1.0")
    );
    assert_eq!(
        client.annotations,
        vec![Annotation {
            time_unix_nano: 1_700_000_000_124_000_000,
            description: "exception".into(),
            attributes: vec![
                KeyValue::new("exception.escaped", false),
                KeyValue::new("exception.message", "503 Server Error"),
                KeyValue::new("exception.type", "HTTPError"),
                KeyValue::new("retry", 2),
            ],
            dropped_attributes_count: 0,
        }]
    );
    // `net.peer.name` and no remoteEndpoint: nothing is invented.
    assert_eq!(attribute(client, "peer.service"), None);
    for gone in [
        "otel.status_code",
        "error",
        "otel.library.name",
        "otel.dropped_events_count",
    ] {
        assert_eq!(attribute(client, gone), None, "{gone}");
    }

    assert_eq!(internal.kind, SpanKind::Unspecified);
    assert_eq!(internal.parent_span_id, None);
    assert_eq!(internal.status, Some(Status::ok()));
    assert_eq!(internal.scope, "app");
    assert!(Arc::ptr_eq(&client.resource, &internal.resource));
}

/// The OpenCensus Go exporter, serialized by zipkin-go: a 64-bit trace id as 16 hex digits,
/// message events as bare `SENT`/`RECV`, the canonical code name in `error`.
const OPENCENSUS_GO: &str = r#"[{"traceId":"a3ce929d0e0e4736","id":"00f067aa0ba902b7","parentId":"b7ad6b7169203331","name":"Sent.helloworld.Greeter.SayHello","kind":"CLIENT","timestamp":1700000000123456,"duration":1500,"localEndpoint":{"serviceName":"greeter-client","ipv4":"10.0.0.3"},"annotations":[{"timestamp":1700000000123500,"value":"SENT"},{"timestamp":1700000000124900,"value":"RECV"}],"tags":{"error":"UNAVAILABLE","opencensus.status_description":"connection refused"}}]"#;

#[test]
fn opencensus_go_body() {
    let span = zipkin_json::decode(OPENCENSUS_GO.as_bytes())
        .unwrap()
        .remove(0);
    assert_eq!(span.trace_id, TraceId(0xa3ce_929d_0e0e_4736));
    assert_eq!(
        span.status,
        Some(Status::new(StatusCode::Unavailable, "connection refused"))
    );
    let kinds: Vec<MessageEventType> = span.message_events.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [MessageEventType::Sent, MessageEventType::Received]);
    assert_eq!(
        span.message_events[1].time_unix_nano,
        1_700_000_000_124_900_000
    );
    assert!(span.annotations.is_empty() && span.attributes.is_empty());
    assert_eq!(span.resource.service_name, "greeter-client");
    assert_eq!(
        span.resource.get("host.ip"),
        Some(Value::from(vec!["10.0.0.3"]))
    );
}

#[test]
fn the_example_span_of_the_zipkin_api() {
    let body = json!([{
        "id": "352bff9a74ca9ad2",
        "traceId": "5af7183fb1d4cf5f",
        "parentId": "6b221d5bc9e6496c",
        "name": "get /api",
        "timestamp": 1556604172355737u64,
        "duration": 1431,
        "kind": "SERVER",
        "localEndpoint": {"serviceName": "backend", "ipv4": "192.168.99.1", "port": 3306},
        "remoteEndpoint": {"ipv4": "172.19.0.2", "port": 58648},
        "tags": {"http.method": "GET", "http.path": "/api"}
    }]);
    let span = zipkin_json::decode(body.to_string().as_bytes())
        .unwrap()
        .remove(0);
    assert_eq!(
        span.attributes,
        vec![
            KeyValue::new("http.method", "GET"),
            KeyValue::new("http.path", "/api"),
            KeyValue::new("network.peer.address", "172.19.0.2"),
            KeyValue::new("network.peer.port", "58648"),
        ]
    );
    assert_eq!(
        span.resource.get("host.ip"),
        Some(Value::from(vec!["192.168.99.1"]))
    );
    assert_eq!(reencoded(&span), span);
    // Written again, the span is Zipkin's example with a 128-bit trace id, without the local
    // port, and with the remote endpoint also in tags.
    let mut expected = body[0].clone();
    expected["traceId"] = json!("00000000000000005af7183fb1d4cf5f");
    expected["localEndpoint"]
        .as_object_mut()
        .unwrap()
        .remove("port");
    expected["tags"]["network.peer.address"] = json!("172.19.0.2");
    expected["tags"]["network.peer.port"] = json!("58648");
    let written: serde_json::Value =
        serde_json::from_slice(&zipkin_json::encode(std::slice::from_ref(&span))).unwrap();
    assert_eq!(written[0], expected);
}

/// The span after a further trip through both encodings, which must agree.
fn reencoded(span: &SpanData) -> SpanData {
    let one = std::slice::from_ref(span);
    let via_json = zipkin_json::decode(&zipkin_json::encode(one))
        .unwrap()
        .remove(0);
    let via_proto = proto::decode(&proto::encode(one)).unwrap().remove(0);
    assert_eq!(via_json, via_proto);
    via_json
}

/// What was decoded from a peer survives being written and read again: a receiver that
/// forwards spans loses nothing more than the first decode did.
#[test]
fn decoded_peer_spans_survive_another_round_trip() {
    for body in [OPENCENSUS_PYTHON, OPENTELEMETRY_PYTHON, OPENCENSUS_GO] {
        for span in zipkin_json::decode(body.as_bytes()).unwrap() {
            assert_eq!(reencoded(&span), span);
        }
    }
}

/// What Threadline sends for a typical server span: the payload a Zipkin server receives.
#[test]
fn threadline_server_span_body() {
    let mut span = SpanData::new(
        TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId(0x00f0_67aa_0ba9_02b7),
        "GET /users/{id}",
    );
    span.parent_span_id = Some(SpanId(0xa3ce_929d_0e0e_4736));
    span.parent_is_remote = true;
    span.kind = SpanKind::Server;
    span.start_time_unix_nano = 1_700_000_000_123_456_789;
    span.end_time_unix_nano = 1_700_000_000_125_956_999;
    span.attributes = vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.response.status_code", 404),
    ];
    span.annotations = vec![Annotation {
        time_unix_nano: 1_700_000_000_124_000_000,
        description: "user not found".into(),
        attributes: vec![KeyValue::new("user.id", 7)],
        dropped_attributes_count: 0,
    }];
    span.status = Some(Status::new(StatusCode::NotFound, "no user 7"));
    span.scope = "users".into();
    span.resource = Arc::new(Resource {
        service_name: "users-api".into(),
        attributes: vec![KeyValue::new("service.version", "1.4.0")],
    });
    let body: serde_json::Value = serde_json::from_slice(&zipkin_json::encode(&[span])).unwrap();
    assert_eq!(
        body,
        json!([{
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
            "parentId": "a3ce929d0e0e4736",
            "id": "00f067aa0ba902b7",
            "kind": "SERVER",
            "name": "GET /users/{id}",
            "timestamp": 1700000000123456u64,
            "duration": 2500,
            "localEndpoint": {"serviceName": "users-api"},
            "annotations": [
                {"timestamp": 1700000000124000u64, "value": "{\"user not found\":{\"user.id\":7}}"}
            ],
            "tags": {
                "http.request.method": "GET",
                "http.response.status_code": "404",
                "service.version": "1.4.0",
                "otel.status_code": "ERROR",
                "error": "no user 7",
                "census.status_code": "NOT_FOUND",
                "otel.status_description": "no user 7",
                "otel.scope.name": "users",
                "otel.library.name": "users"
            }
        }])
    );
}

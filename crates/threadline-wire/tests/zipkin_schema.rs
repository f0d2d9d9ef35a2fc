//! The JSON encoder's output checked against the `ListOfSpans` schema of Zipkin's own API
//! definition (`zipkin2-api.yaml` from the project's shared specs, beside the repository or
//! in `THREADLINE_SHARED_SPECS`; see `zipkin_spec`).

mod common;
mod zipkin_spec;

use std::sync::{Arc, OnceLock};

use jsonschema::Validator;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use threadline::{
    Annotation, KeyValue, MessageEvent, MessageEventType, Resource, SpanData, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};
use threadline_wire::zipkin::json as zipkin_json;

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(zipkin_spec::list_of_spans_validator)
}

fn violations(body: &Json) -> Vec<String> {
    validator()
        .iter_errors(body)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

fn encoded(spans: &[SpanData]) -> Json {
    serde_json::from_slice(&zipkin_json::encode(spans)).expect("the encoder writes JSON")
}

#[test]
fn the_schema_rejects_what_zipkin_rejects() {
    let good = json!({"traceId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2"});
    assert_eq!(violations(&json!([good])), Vec::<String>::new());
    let bad = [
        json!({"id": "352bff9a74ca9ad2"}),
        json!({"traceId": "5af7", "id": "352bff9a74ca9ad2"}),
        json!({"traceId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2", "kind": "INTERNAL"}),
        json!({"traceId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2", "duration": 0}),
        json!({"traceId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2", "tags": {"n": 1}}),
        json!({"traceId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2", "localEndpoint": {"ipv4": "::1"}}),
        json!({"traceId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2",
               "annotations": [{"timestamp": 1, "value": "a"}, {"timestamp": 1, "value": "a"}]}),
    ];
    for span in bad {
        assert!(
            !violations(&json!([span])).is_empty(),
            "{span} should be rejected"
        );
    }
}

#[test]
fn a_span_with_every_field_matches_the_schema() {
    let mut span = SpanData::new(
        TraceId(0x5af7_183f_b1d4_cf5f),
        SpanId(0x352b_ff9a_74ca_9ad2),
        "get /api",
    );
    span.parent_span_id = Some(SpanId(0x6b22_1d5b_c9e6_496c));
    span.kind = SpanKind::Client;
    span.start_time_unix_nano = 1_556_604_172_355_737_123;
    span.end_time_unix_nano = span.start_time_unix_nano + 1_431_000;
    span.attributes = vec![
        KeyValue::new("server.address", "10.1.2.3"),
        KeyValue::new("server.port", 3306),
        KeyValue::new("http.request.header.accept", vec!["a", "b"]),
        KeyValue::new("ratio", f64::NAN),
    ];
    span.annotations = vec![Annotation {
        time_unix_nano: span.start_time_unix_nano,
        description: "retry".into(),
        attributes: vec![KeyValue::new("attempt", 2)],
        dropped_attributes_count: 1,
    }];
    span.message_events = vec![MessageEvent {
        time_unix_nano: span.start_time_unix_nano,
        kind: MessageEventType::Sent,
        id: 1,
        uncompressed_size: 10,
        compressed_size: 5,
    }];
    span.status = Some(Status::new(StatusCode::Unavailable, "down"));
    span.scope = "io.threadline".into();
    span.dropped.links = 1;
    span.resource = Arc::new(Resource {
        service_name: "backend".into(),
        attributes: vec![KeyValue::new(
            "host.ip",
            vec!["192.168.99.1", "2001:db8::c001"],
        )],
    });
    let body = encoded(&[span]);
    assert!(body[0].get("remoteEndpoint").is_some() && body[0].get("localEndpoint").is_some());
    assert_eq!(violations(&body), Vec::<String>::new(), "{body}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_encoded_batch_matches_the_schema(spans in vec(common::span(), 0..4)) {
        let body = encoded(&spans);
        let violations = violations(&body);
        prop_assert!(violations.is_empty(), "{violations:?} in {body}");
    }
}

//! The mapping's decisions, one test each, through the public JSON and proto codecs.

use std::sync::Arc;

use serde_json::{json, Value as Json};
use threadline::{
    Annotation, KeyValue, Link, LinkType, MessageEvent, MessageEventType, Resource, SpanData,
    SpanId, SpanKind, Status, StatusCode, TraceId, TraceState, Value,
};

use super::{json as zjson, proto as zproto};

const START: u64 = 1_700_000_000_123_456_789;

fn span() -> SpanData {
    let mut span = SpanData::new(
        TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId(0x00f0_67aa_0ba9_02b7),
        "op",
    );
    span.start_time_unix_nano = START;
    span.end_time_unix_nano = START + 2_000_000;
    span
}

/// The one span of an encoded body, as JSON.
fn encoded(span: &SpanData) -> Json {
    let body: Json = serde_json::from_slice(&zjson::encode(std::slice::from_ref(span))).unwrap();
    body[0].clone()
}

fn round_trip(span: &SpanData) -> SpanData {
    let via_json = zjson::decode(&zjson::encode(std::slice::from_ref(span))).unwrap();
    let via_proto = zproto::decode(&zproto::encode(std::slice::from_ref(span))).unwrap();
    assert_eq!(via_json, via_proto, "json and proto disagree");
    via_json.into_iter().next().unwrap()
}

fn decode_one(span: Json) -> SpanData {
    let body = serde_json::to_vec(&json!([span])).unwrap();
    zjson::decode(&body).unwrap().remove(0)
}

fn base() -> Json {
    json!({"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "id": "00f067aa0ba902b7"})
}

fn with(mut span: Json, field: &str, value: Json) -> Json {
    span[field] = value;
    span
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attribute(key).map(ToString::to_string)
}

#[test]
fn error_status_becomes_otel_tags_and_comes_back_with_its_code() {
    let mut span = span();
    span.status = Some(Status::new(StatusCode::NotFound, "no such user").with_details("id 7"));
    let tags = &encoded(&span)["tags"];
    assert_eq!(tags["otel.status_code"], "ERROR");
    assert_eq!(tags["error"], "no such user");
    assert_eq!(tags["otel.status_description"], "no such user");
    assert_eq!(tags["census.status_code"], "NOT_FOUND");
    assert_eq!(tags["threadline.status_details"], "id 7");
    let back = round_trip(&span);
    assert_eq!(back.status, span.status);
    assert!(back.attributes.is_empty(), "{:?}", back.attributes);
}

#[test]
fn ok_and_unset_status() {
    let mut span = span();
    span.status = Some(Status::ok());
    let tags = &encoded(&span)["tags"];
    assert_eq!(tags, &json!({"otel.status_code": "OK"}));
    assert_eq!(round_trip(&span).status, Some(Status::ok()));

    span.status = None;
    assert!(encoded(&span).get("tags").is_none());
    assert_eq!(round_trip(&span).status, None);

    // An error with no description still sets `error`, to an empty string.
    span.status = Some(Status::new(StatusCode::Unknown, ""));
    let tags = &encoded(&span)["tags"];
    assert_eq!(tags["error"], "");
    assert!(tags.get("otel.status_description").is_none());
    assert_eq!(round_trip(&span).status, span.status);
}

#[test]
fn status_from_each_peer_convention() {
    let cases = [
        // OpenTelemetry
        (
            json!({"otel.status_code": "ERROR", "error": "boom"}),
            Status::new(StatusCode::Unknown, "boom"),
        ),
        (json!({"otel.status_code": "OK"}), Status::ok()),
        (
            json!({"otel.status_code": "ERROR", "error": "true", "otel.status_description": "why"}),
            Status::new(StatusCode::Unknown, "why"),
        ),
        // OpenCensus Java
        (
            json!({"census.status_code": "DEADLINE_EXCEEDED", "census.status_description": "slow"}),
            Status::new(StatusCode::DeadlineExceeded, "slow"),
        ),
        // OpenCensus Go
        (
            json!({"error": "PERMISSION_DENIED", "opencensus.status_description": "no"}),
            Status::new(StatusCode::PermissionDenied, "no"),
        ),
        // Brave and other Zipkin-native tracers
        (
            json!({"error": "connection refused"}),
            Status::new(StatusCode::Unknown, "connection refused"),
        ),
        (
            json!({"error": "true"}),
            Status::new(StatusCode::Unknown, ""),
        ),
    ];
    for (tags, status) in cases {
        let span = decode_one(with(base(), "tags", tags.clone()));
        assert_eq!(span.status, Some(status), "{tags}");
        assert!(span.attributes.is_empty(), "{tags}: {:?}", span.attributes);
    }
}

#[test]
fn false_error_tags_are_dropped_and_unparseable_status_tags_stay_attributes() {
    let span = decode_one(with(
        base(),
        "tags",
        json!({"error": "false", "http.status_code": "200"}),
    ));
    assert_eq!(span.status, None);
    assert_eq!(
        span.attributes,
        vec![KeyValue::new("http.status_code", "200")]
    );

    let mut original = self::span();
    original.attributes.push(KeyValue::new("error", false));
    assert!(encoded(&original).get("tags").is_none());

    let span = decode_one(with(
        base(),
        "tags",
        json!({"otel.status_code": "MAYBE", "census.status_code": "NOPE"}),
    ));
    assert_eq!(span.status, None);
    assert_eq!(
        attribute(&span, "otel.status_code").as_deref(),
        Some("MAYBE")
    );
    assert_eq!(
        attribute(&span, "census.status_code").as_deref(),
        Some("NOPE")
    );

    // Two different descriptions: `error` is the status's, the other stays an attribute.
    let span = decode_one(with(
        base(),
        "tags",
        json!({"otel.status_code": "ERROR", "error": "timeout", "otel.status_description": "slow"}),
    ));
    assert_eq!(
        span.status,
        Some(Status::new(StatusCode::Unknown, "timeout"))
    );
    assert_eq!(
        attribute(&span, "otel.status_description").as_deref(),
        Some("slow")
    );
}

#[test]
fn kinds_map_to_zipkin_and_internal_is_omitted() {
    for (kind, zipkin) in [
        (SpanKind::Client, Some("CLIENT")),
        (SpanKind::Server, Some("SERVER")),
        (SpanKind::Producer, Some("PRODUCER")),
        (SpanKind::Consumer, Some("CONSUMER")),
        (SpanKind::Internal, None),
        (SpanKind::Unspecified, None),
    ] {
        let mut span = span();
        span.kind = kind;
        assert_eq!(encoded(&span).get("kind").and_then(Json::as_str), zipkin);
        let expected = if zipkin.is_some() {
            kind
        } else {
            SpanKind::Unspecified
        };
        assert_eq!(round_trip(&span).kind, expected);
    }
    // `null`, as the OpenTelemetry Python exporter sends for INTERNAL, and lowercase names.
    assert_eq!(
        decode_one(with(base(), "kind", Json::Null)).kind,
        SpanKind::Unspecified
    );
    assert_eq!(
        decode_one(with(base(), "kind", json!("server"))).kind,
        SpanKind::Server
    );
}

#[test]
fn times_are_truncated_to_microseconds_and_durations_rounded_up() {
    let mut span = span();
    let json = encoded(&span);
    assert_eq!(json["timestamp"], 1_700_000_000_123_456u64);
    assert_eq!(json["duration"], 2000);
    let back = round_trip(&span);
    assert_eq!(back.start_time_unix_nano, 1_700_000_000_123_456_000);
    assert_eq!(back.end_time_unix_nano, 1_700_000_000_125_456_000);

    // A zero-length or sub-microsecond span is 1 µs long in Zipkin.
    for end in [START, START + 100, START - 5] {
        span.end_time_unix_nano = end;
        assert_eq!(encoded(&span)["duration"], 1);
    }
    // An unknown end (0) is an absent duration, and comes back 0.
    span.end_time_unix_nano = 0;
    assert!(encoded(&span).get("duration").is_none());
    assert_eq!(round_trip(&span).end_time_unix_nano, 0);
}

#[test]
fn attributes_become_string_tags_and_resource_attributes_follow() {
    let mut span = span();
    span.attributes = vec![
        KeyValue::new("http.status_code", 404),
        KeyValue::new("ratio", 0.25),
        KeyValue::new("cached", true),
        KeyValue::new("tags", vec!["a", "b"]),
        KeyValue::new("host.name", "span-wins"),
    ];
    span.resource = Arc::new(Resource {
        service_name: "checkout".into(),
        attributes: vec![
            KeyValue::new("host.name", "resource-loses"),
            KeyValue::new("service.version", "1.2.3"),
        ],
    });
    let json = encoded(&span);
    assert_eq!(
        json["tags"],
        json!({
            "http.status_code": "404",
            "ratio": "0.25",
            "cached": "true",
            "tags": "[\"a\",\"b\"]",
            "host.name": "span-wins",
            "service.version": "1.2.3",
        })
    );
    assert_eq!(json["localEndpoint"], json!({"serviceName": "checkout"}));
    // Tag order is kept, by both encodings.
    let back = round_trip(&span);
    let keys: Vec<&str> = back.attributes.iter().map(|kv| kv.key.as_ref()).collect();
    assert_eq!(
        keys,
        [
            "http.status_code",
            "ratio",
            "cached",
            "tags",
            "host.name",
            "service.version"
        ]
    );
    assert_eq!(
        back.attribute("http.status_code"),
        Some(&Value::from("404"))
    );
    assert_eq!(*back.resource, Resource::new("checkout"));
}

#[test]
fn scope_dropped_counts_links_and_stack_trace_travel_as_tags() {
    let mut span = span();
    span.scope = "io.threadline.http".into();
    span.stack_trace = Some("at main.rs:3".into());
    span.dropped.attributes = 2;
    span.dropped.annotations = 3;
    span.dropped.message_events = 4;
    span.dropped.links = 1;
    span.links.push(Link::new(
        &threadline::SpanContext::new(TraceId(9), SpanId(9), threadline::TraceOptions::SAMPLED),
        LinkType::ParentLinkedSpan,
    ));
    let tags = &encoded(&span)["tags"];
    assert_eq!(
        tags,
        &json!({
            "otel.scope.name": "io.threadline.http",
            "otel.library.name": "io.threadline.http",
            "otel.dropped_attributes_count": "2",
            "otel.dropped_events_count": "7",
            "threadline.dropped_message_events_count": "4",
            "otel.dropped_links_count": "2",
            "code.stacktrace": "at main.rs:3",
        })
    );
    let back = round_trip(&span);
    assert_eq!(back.scope, "io.threadline.http");
    assert_eq!(back.stack_trace.as_deref(), Some("at main.rs:3"));
    assert_eq!(back.dropped.attributes, 2);
    assert_eq!(back.dropped.annotations, 3);
    assert_eq!(back.dropped.message_events, 4);
    assert_eq!(
        back.dropped.links, 2,
        "the link Zipkin cannot carry is counted"
    );
    assert!(back.links.is_empty());
    assert!(back.attributes.is_empty());
}

#[test]
fn annotations_use_the_otel_form_only_when_needed() {
    let mut span = span();
    let at = |offset: u64| START + offset * 1000;
    span.annotations = vec![
        Annotation {
            time_unix_nano: at(1),
            description: "cache miss".into(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        },
        Annotation {
            time_unix_nano: at(2),
            description: "retry".into(),
            attributes: vec![
                KeyValue::new("attempt", 2),
                KeyValue::new("backoff", 0.5),
                KeyValue::new("reason", "503"),
            ],
            dropped_attributes_count: 1,
        },
        // Would read back as a message event if written bare.
        Annotation {
            time_unix_nano: at(3),
            description: "SENT".into(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        },
    ];
    span.message_events = vec![MessageEvent {
        time_unix_nano: at(4),
        kind: MessageEventType::Received,
        id: 7,
        uncompressed_size: 1024,
        compressed_size: 300,
    }];
    let values: Vec<Json> = encoded(&span)["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["value"].clone())
        .collect();
    assert_eq!(
        values,
        [
            json!("cache miss"),
            json!(
                r#"{"retry":{"attempt":2,"backoff":0.5,"reason":"503","otel.dropped_attributes_count":1}}"#
            ),
            json!(r#"{"SENT":{}}"#),
            json!("RECEIVED id=7 uncompressed_size=1024 compressed_size=300"),
        ]
    );
    let back = round_trip(&span);
    let truncate = |ns: u64| ns / 1000 * 1000;
    for (a, b) in span.annotations.iter().zip(&back.annotations) {
        assert_eq!(b.time_unix_nano, truncate(a.time_unix_nano));
        assert_eq!(
            (&b.description, &b.attributes),
            (&a.description, &a.attributes)
        );
        assert_eq!(b.dropped_attributes_count, a.dropped_attributes_count);
    }
    assert_eq!(back.annotations.len(), 3);
    assert_eq!(
        back.message_events,
        vec![MessageEvent {
            time_unix_nano: truncate(at(4)),
            ..span.message_events[0]
        }]
    );
}

#[test]
fn repeated_annotations_in_one_microsecond_are_written_once() {
    let mut span = span();
    let note = Annotation {
        time_unix_nano: START,
        description: "tick".into(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    };
    span.annotations = vec![
        note.clone(),
        note.clone(),
        Annotation {
            time_unix_nano: START + 1000,
            ..note
        },
    ];
    assert_eq!(encoded(&span)["annotations"].as_array().unwrap().len(), 2);
}

#[test]
fn remote_endpoint_from_peer_attributes_and_back() {
    let mut span = span();
    span.kind = SpanKind::Client;
    span.attributes = vec![
        KeyValue::new("server.address", "db.internal"),
        KeyValue::new("server.port", 5432),
        KeyValue::new("db.name", "orders"),
    ];
    let json = encoded(&span);
    assert_eq!(
        json["remoteEndpoint"],
        json!({"serviceName": "db.internal", "port": 5432})
    );
    assert_eq!(
        round_trip(&span).attributes.len(),
        3,
        "nothing added on the way back"
    );

    span.attributes = vec![
        KeyValue::new("network.peer.address", "10.1.2.3"),
        KeyValue::new("network.peer.port", 443),
        KeyValue::new("peer.service", "payments"),
    ];
    assert_eq!(
        encoded(&span)["remoteEndpoint"],
        json!({"serviceName": "payments"})
    );
    span.attributes.remove(2);
    assert_eq!(
        encoded(&span)["remoteEndpoint"],
        json!({"ipv4": "10.1.2.3", "port": 443})
    );
    assert_eq!(round_trip(&span).attributes.len(), 2);

    // A SERVER span's peer is its caller: `server.address` names its own side there.
    span.kind = SpanKind::Server;
    assert_eq!(
        encoded(&span)["remoteEndpoint"],
        json!({"ipv4": "10.1.2.3", "port": 443})
    );
    span.attributes = vec![KeyValue::new("server.address", "me.example")];
    assert!(encoded(&span).get("remoteEndpoint").is_none());
    span.kind = SpanKind::Internal;
    span.attributes = vec![KeyValue::new("peer.service", "payments")];
    assert!(encoded(&span).get("remoteEndpoint").is_none());

    // From a Zipkin-native client: the endpoint becomes peer attributes.
    let decoded = decode_one(with(
        base(),
        "remoteEndpoint",
        json!({"serviceName": "mysql", "ipv6": "2001:db8::c001", "port": 3306}),
    ));
    assert_eq!(
        decoded.attributes,
        vec![
            KeyValue::new("peer.service", "mysql"),
            KeyValue::new("network.peer.address", "2001:db8::c001"),
            KeyValue::new("network.peer.port", "3306"),
        ]
    );
}

#[test]
fn local_endpoint_address_is_the_resource_host_ip_and_resources_are_shared() {
    let mut span = span();
    span.resource = Arc::new(Resource {
        service_name: "frontend".into(),
        attributes: vec![KeyValue::new("host.ip", vec!["192.168.1.5", "fe80::1"])],
    });
    let json = encoded(&span);
    assert_eq!(
        json["localEndpoint"],
        json!({"serviceName": "frontend", "ipv4": "192.168.1.5", "ipv6": "fe80::1"})
    );
    assert!(
        json.get("tags").is_none(),
        "the endpoint holds host.ip exactly"
    );
    assert_eq!(round_trip(&span).resource, span.resource);

    // More than the endpoint can hold: the tag carries all of it.
    span.resource = Arc::new(Resource {
        service_name: "frontend".into(),
        attributes: vec![KeyValue::new("host.ip", vec!["192.168.1.5", "10.0.0.1"])],
    });
    let json = encoded(&span);
    assert_eq!(json["localEndpoint"]["ipv4"], "192.168.1.5");
    assert_eq!(json["tags"]["host.ip"], r#"["192.168.1.5","10.0.0.1"]"#);

    let endpoint = json!({"serviceName": "api", "ipv4": "10.0.0.7", "port": 8080});
    let body = serde_json::to_vec(&json!([
        with(base(), "localEndpoint", endpoint.clone()),
        with(
            with(base(), "id", json!("00000000000000aa")),
            "localEndpoint",
            endpoint
        ),
        with(base(), "localEndpoint", json!({"serviceName": "other"})),
    ]))
    .unwrap();
    let spans = zjson::decode(&body).unwrap();
    assert!(Arc::ptr_eq(&spans[0].resource, &spans[1].resource));
    assert!(!Arc::ptr_eq(&spans[0].resource, &spans[2].resource));
    assert_eq!(spans[0].resource.service_name, "api");
    assert_eq!(
        spans[0].resource.get("host.ip"),
        Some(Value::from(vec!["10.0.0.7"]))
    );
    assert_eq!(*spans[2].resource, Resource::new("other"));
}

#[test]
fn parent_is_remote_follows_shared_and_kind() {
    let parent = with(base(), "parentId", json!("00000000000000ff"));
    assert!(decode_one(with(parent.clone(), "kind", json!("SERVER"))).parent_is_remote);
    assert!(decode_one(with(parent.clone(), "shared", json!(true))).parent_is_remote);
    assert!(!decode_one(with(parent.clone(), "kind", json!("CLIENT"))).parent_is_remote);
    assert!(!decode_one(with(base(), "kind", json!("SERVER"))).parent_is_remote);
    // All-zero and empty parent ids mean a root span.
    for root in ["0000000000000000", ""] {
        assert_eq!(
            decode_one(with(base(), "parentId", json!(root))).parent_span_id,
            None
        );
    }
}

#[test]
fn what_zipkin_cannot_carry_is_normalized_not_an_error() {
    let mut span = span();
    span.trace_state = TraceState::from_header("vendor=value").unwrap();
    span.kind = SpanKind::Internal;
    let back = round_trip(&span);
    assert_eq!(back.trace_state, TraceState::EMPTY);
    assert_eq!(back.kind, SpanKind::Unspecified);
}

#[test]
fn short_trace_ids_and_non_string_tags_from_lenient_clients() {
    let span = decode_one(json!({
        "traceId": "A3CE929D0E0E4736",
        "id": "00f067aa0ba902b7",
        "tags": {"retries": 3, "cached": false, "ratio": 0.5, "gone": null, "list": [1, "a"]},
        "debug": true,
    }));
    assert_eq!(span.trace_id, TraceId(0xa3ce_929d_0e0e_4736));
    let tags: Vec<(String, String)> = span
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect();
    let expected = [
        ("retries", "3"),
        ("cached", "false"),
        ("ratio", "0.5"),
        ("list", r#"[1,"a"]"#),
    ];
    assert_eq!(tags, expected.map(|(k, v)| (k.to_string(), v.to_string())));
}

use crate::test_spans as common;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// The JSON written straight into the buffer is, byte for byte, what `serde` wrote.
    #[test]
    fn json_is_what_serde_wrote(spans in common::batch()) {
        let body = zjson::encode(&spans);
        let oracle = zjson::oracle::encode(&spans);
        proptest::prop_assert_eq!(String::from_utf8(body).unwrap(), String::from_utf8(oracle).unwrap());
    }
}

/// Keys that clash: with each other, with the resource's, with the mapping's own tags, and
/// with the keys the local endpoint takes.
const CLASHING_KEYS: [&str; 12] = [
    "a",
    "b",
    "service.version",
    "service.name",
    "host.ip",
    "error",
    "otel.status_code",
    "otel.scope.name",
    "otel.dropped_links_count",
    "peer.service",
    "k\"ey\n",
    "clé",
];

fn clashing_attributes() -> impl proptest::strategy::Strategy<Value = Vec<KeyValue>> {
    use proptest::prelude::*;
    let value = prop_oneof![
        Just(Value::from("v")),
        Just(Value::from("false")),
        Just(Value::from("tab\there \"quoted\" \\ é")),
        Just(Value::from("10.0.0.1")),
        Just(Value::from(vec!["192.168.0.9", "::9"])),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ];
    proptest::collection::vec((0..CLASHING_KEYS.len(), value), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(key, value)| KeyValue::new(CLASHING_KEYS[key], value))
            .collect()
    })
}

/// Spans of up to three resources shared by `Arc`, interleaved, with attribute keys that
/// clash in every way the tags can.
fn spans_of_shared_resources() -> impl proptest::strategy::Strategy<Value = Vec<SpanData>> {
    use proptest::prelude::*;
    let resources = proptest::collection::vec(
        (
            prop_oneof![Just(""), Just("svc"), Just("s\"vc")],
            clashing_attributes(),
        ),
        1..4,
    );
    let spans = proptest::collection::vec(
        (
            0..3usize,
            clashing_attributes(),
            0..5u8,
            0..3u8,
            any::<bool>(),
            0..3u32,
            any::<bool>(),
        ),
        0..8,
    );
    (resources, spans).prop_map(|(resources, spans)| {
        let resources: Vec<Arc<Resource>> = resources
            .into_iter()
            .map(|(service_name, attributes)| {
                Arc::new(Resource {
                    service_name: service_name.into(),
                    attributes,
                })
            })
            .collect();
        let mut previous: Vec<KeyValue> = Vec::new();
        spans
            .into_iter()
            .enumerate()
            .map(
                |(i, (resource, attributes, kind, status, scoped, dropped, repeat))| {
                    // the same keys as the span before, the same strings in memory
                    let attributes = if repeat { previous.clone() } else { attributes };
                    previous.clone_from(&attributes);
                    let mut span = span();
                    span.span_id = SpanId(i as u64 + 1);
                    span.parent_span_id = (i % 2 == 1).then_some(SpanId(0xabc));
                    span.resource = Arc::clone(&resources[resource % resources.len()]);
                    span.attributes = attributes;
                    span.kind = [
                        SpanKind::Internal,
                        SpanKind::Client,
                        SpanKind::Server,
                        SpanKind::Producer,
                        SpanKind::Consumer,
                    ][usize::from(kind)];
                    span.status = match status {
                        0 => None,
                        1 => Some(Status::ok()),
                        _ => Some(Status::new(StatusCode::Internal, "it \"broke\"")),
                    };
                    if scoped {
                        span.scope = "scope".into();
                    }
                    span.dropped.links = dropped;
                    if i % 3 == 0 {
                        span.annotations.push(Annotation {
                            time_unix_nano: START + 5_000,
                            description: "cache miss".into(),
                            attributes: vec![KeyValue::new("key", "order:1")],
                            dropped_attributes_count: 0,
                        });
                    }
                    span
                },
            )
            .collect()
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

    /// Resources rendered once per batch, and spans written without building their Zipkin
    /// form, give what `serde` wrote, whatever keys the span and its resource share.
    #[test]
    fn json_of_shared_resources_and_clashing_keys_is_what_serde_wrote(
        spans in spans_of_shared_resources()
    ) {
        let body = zjson::encode(&spans);
        let oracle = zjson::oracle::encode(&spans);
        proptest::prop_assert_eq!(String::from_utf8(body).unwrap(), String::from_utf8(oracle).unwrap());
    }
}

#[test]
fn json_of_more_resources_than_are_kept_rendered_is_what_serde_wrote() {
    let resources: Vec<Arc<Resource>> = (0..40)
        .map(|i| {
            Arc::new(Resource {
                service_name: format!("svc{i}").into(),
                attributes: vec![KeyValue::new("r", i64::from(i)), KeyValue::new("a", "x")],
            })
        })
        .collect();
    // every resource comes back after the others pushed it out
    let spans: Vec<SpanData> = (0..120)
        .map(|i| {
            let mut span = span();
            span.resource = Arc::clone(&resources[(i * 7) % resources.len()]);
            span.attributes = vec![KeyValue::new(if i % 5 == 0 { "a" } else { "b" }, "y")];
            span
        })
        .collect();
    assert_eq!(
        String::from_utf8(zjson::encode(&spans)).unwrap(),
        String::from_utf8(zjson::oracle::encode(&spans)).unwrap()
    );
}

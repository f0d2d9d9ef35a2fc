//! Arbitrary spans for the property tests, and what a Zipkin round trip is expected to keep of
//! them.

#![allow(dead_code)] // each test binary uses part of this

use std::sync::Arc;

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::Value as Json;
use threadline::{
    Annotation, KeyValue, Link, LinkType, MessageEvent, MessageEventType, Resource, SpanData,
    SpanId, SpanKind, Status, StatusCode, TraceId, TraceState, Value,
};

/// Any text, control characters and astral planes included.
pub fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

fn finite_f64() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
}

/// Values that keep their type inside a JSON annotation value.
fn json_safe_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        text().prop_map(Value::from),
        any::<i64>().prop_map(Value::I64),
        finite_f64().prop_map(Value::F64),
        any::<bool>().prop_map(Value::Bool),
    ];
    prop_oneof![4 => leaf.clone(), 1 => vec(leaf, 0..4).prop_map(Value::Array)].boxed()
}

/// Every kind of attribute value, non-finite floats and bytes included.
fn any_value() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => json_safe_value(),
        1 => vec(any::<u8>(), 0..7).prop_map(Value::Bytes),
        1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)]
            .prop_map(Value::F64),
        1 => vec(prop_oneof![Just(Value::F64(f64::NAN)), Just(Value::Bytes(vec![0xfb, 0xff]))], 1..3)
            .prop_map(Value::Array),
    ]
    .boxed()
}

fn attributes(
    prefix: &'static str,
    values: BoxedStrategy<Value>,
    max: usize,
) -> impl Strategy<Value = Vec<KeyValue>> {
    let key = proptest::string::string_regex(&format!("{prefix}\\.[a-z_]{{1,8}}")).unwrap();
    btree_map(key, values, 0..max)
        .prop_map(|map| map.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
}

fn kind() -> impl Strategy<Value = SpanKind> {
    prop_oneof![
        Just(SpanKind::Unspecified),
        Just(SpanKind::Internal),
        Just(SpanKind::Server),
        Just(SpanKind::Client),
        Just(SpanKind::Producer),
        Just(SpanKind::Consumer),
    ]
}

fn status() -> impl Strategy<Value = Option<Status>> {
    prop_oneof![
        1 => Just(None),
        3 => (0..17i32, text(), option::of(text())).prop_map(|(code, description, details)| {
            let status = Status::new(StatusCode::from_i32(code).unwrap_or_default(), description);
            Some(match details {
                Some(details) => status.with_details(details),
                None => status,
            })
        }),
    ]
}

fn description() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => text(),
        2 => "[a-z ]{0,12}",
        // texts that the annotation encoding must not confuse with its other forms
        1 => Just("SENT".to_string()),
        1 => Just("RECV id=3".to_string()),
        1 => Just(r#"{"x":{}}"#.to_string()),
        1 => Just(r#""y":{"a":1}"#.to_string()),
    ]
}

/// Gaps of at least 1 µs, so no two items of a list share a microsecond, plus sub-µs noise.
fn times(start_us: u64, gaps: &[(u64, u64)]) -> Vec<u64> {
    let mut at = start_us;
    gaps.iter()
        .map(|&(gap, noise)| {
            at += gap;
            at * 1000 + noise
        })
        .collect()
}

/// A span with everything `SpanData` can hold.
pub fn span() -> impl Strategy<Value = SpanData> {
    let ids = (
        1..=u128::MAX,
        1..=u64::MAX,
        option::of(1..=u64::MAX),
        any::<bool>(),
        prop_oneof![
            Just(TraceState::EMPTY),
            Just(TraceState::from_header("vendor=1").unwrap())
        ],
    );
    let basics = (
        text(),
        kind(),
        1_000_000_000_000_000u64..2_000_000_000_000_000,
        0u64..1000,
        // zero and sub-microsecond durations are where Zipkin's rounding matters
        option::of(prop_oneof![Just(0u64), 0u64..2000, 0u64..10_000_000_000]),
        status(),
        prop_oneof!["", "[a-z.]{1,10}"],
        option::of(text()),
    );
    let lists = (
        attributes("k", any_value(), 6),
        vec(
            (
                description(),
                attributes("a", json_safe_value(), 3),
                0u32..3,
                1u64..10_000,
                0u64..1000,
            ),
            0..4,
        ),
        vec(
            (
                0..3u8,
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                1u64..10_000,
                0u64..1000,
            ),
            0..3,
        ),
        vec((1..=u128::MAX, 1..=u64::MAX), 0..3),
        (0u32..4, 0u32..4, 0u32..4, 0u32..4),
        (
            prop_oneof!["", "[a-z][a-z0-9-]{0,8}"],
            attributes("r", any_value(), 3),
        ),
    );
    (ids, basics, lists).prop_map(|(ids, basics, lists)| {
        let (trace_id, span_id, parent, parent_is_remote, trace_state) = ids;
        let (name, kind, start_us, noise, duration, status, scope, stack_trace) = basics;
        let (
            attributes,
            annotations,
            message_events,
            links,
            dropped,
            (service, resource_attributes),
        ) = lists;

        let mut span = SpanData::new(TraceId(trace_id), SpanId(span_id), name);
        span.parent_span_id = parent.map(SpanId);
        span.parent_is_remote = parent_is_remote;
        span.trace_state = trace_state;
        span.kind = kind;
        span.start_time_unix_nano = start_us * 1000 + noise;
        span.end_time_unix_nano = duration.map_or(0, |d| span.start_time_unix_nano + d);
        span.status = status;
        span.scope = scope.into();
        span.stack_trace = stack_trace;
        span.attributes = attributes;

        let gaps: Vec<(u64, u64)> = annotations.iter().map(|a| (a.3, a.4)).collect();
        span.annotations = annotations
            .into_iter()
            .zip(times(start_us, &gaps))
            .map(
                |((description, attributes, dropped, _, _), time)| Annotation {
                    time_unix_nano: time,
                    description: description.into(),
                    attributes,
                    dropped_attributes_count: dropped,
                },
            )
            .collect();
        let gaps: Vec<(u64, u64)> = message_events.iter().map(|m| (m.4, m.5)).collect();
        span.message_events = message_events
            .into_iter()
            .zip(times(start_us, &gaps))
            .map(
                |((kind, id, uncompressed, compressed, _, _), time)| MessageEvent {
                    time_unix_nano: time,
                    kind: [
                        MessageEventType::Unspecified,
                        MessageEventType::Sent,
                        MessageEventType::Received,
                    ][usize::from(kind)],
                    id,
                    uncompressed_size: uncompressed,
                    compressed_size: compressed,
                },
            )
            .collect();
        span.links = links
            .into_iter()
            .map(|(trace, span)| Link {
                trace_id: TraceId(trace),
                span_id: SpanId(span),
                trace_state: TraceState::EMPTY,
                link_type: LinkType::ParentLinkedSpan,
                attributes: vec![KeyValue::new("l", 1)],
                dropped_attributes_count: 0,
            })
            .collect();
        span.dropped.attributes = dropped.0;
        span.dropped.annotations = dropped.1;
        span.dropped.message_events = dropped.2;
        span.dropped.links = dropped.3;
        span.resource = Arc::new(Resource {
            service_name: service.into(),
            attributes: resource_attributes,
        });
        span
    })
}

/// Keys the mappings of the three formats write or read themselves.
const MAPPING_KEYS: [&str; 22] = [
    "threadline.status_code",
    "threadline.status_details",
    "threadline.dropped_message_events_count",
    "threadline.dropped_link_attributes_count",
    "threadline.link_type",
    "code.stacktrace",
    "service.name",
    "otel.status_code",
    "otel.status_description",
    "otel.scope.name",
    "otel.dropped_attributes_count",
    "census.status_code",
    "error",
    "span.kind",
    "w3c.tracestate",
    "event",
    "peer.service",
    "server.address",
    "server.port",
    "network.peer.address",
    "network.peer.port",
    "client.address",
];

/// A value for one of the [`MAPPING_KEYS`]: often the type the mapping writes there.
fn mapping_value() -> BoxedStrategy<Value> {
    prop_oneof![
        2 => any_value(),
        1 => prop_oneof![Just("NOT_FOUND"), Just("10.1.2.3"), Just("::1"), Just("8080"), Just("false"), Just("")]
            .prop_map(Value::from),
        1 => prop_oneof![Just(0i64), Just(3), Just(8080), Just(-1)].prop_map(Value::I64),
        1 => any::<bool>().prop_map(Value::Bool),
    ]
    .boxed()
}

/// Attributes named like the keys the mappings write, a key possibly repeated, each with
/// whether it goes before the span's own attributes.
fn mapping_attributes() -> impl Strategy<Value = Vec<(KeyValue, bool)>> {
    vec(
        (0..MAPPING_KEYS.len(), mapping_value(), any::<bool>())
            .prop_map(|(k, v, first)| (KeyValue::new(MAPPING_KEYS[k], v), first)),
        0..4,
    )
}

/// A batch that reaches the corners of the encoders: [`span`]s whose attributes may be named
/// like the mappings' own keys (repeated, too), resources shared by `Arc` or only by value,
/// resource attributes `service.name` and `host.ip`, links of every type with trace states
/// and link attributes of the mapping.
pub fn batch() -> impl Strategy<Value = Vec<SpanData>> {
    let resource_extras = (
        option::of(mapping_value()),
        option::of(prop_oneof![
            Just(Value::from("192.168.0.1")),
            Just(Value::from("not an address")),
            Just(Value::Array(vec![
                Value::from("10.0.0.2"),
                Value::from("::2")
            ])),
            Just(Value::Array(vec![Value::from("::3")])),
        ]),
    );
    let link_extras = vec(
        (0..3usize, any::<bool>(), option::of(mapping_value())),
        0..3,
    );
    vec(
        (
            span(),
            mapping_attributes(),
            link_extras,
            0..3u8,
            resource_extras,
        ),
        0..6,
    )
    .prop_map(|entries| {
        let mut spans: Vec<SpanData> = Vec::with_capacity(entries.len());
        for (mut span, extras, links, share, (service_name, host_ip)) in entries {
            for (kv, first) in extras {
                if first {
                    span.attributes.insert(0, kv);
                } else {
                    span.attributes.push(kv);
                }
            }
            for (link, (link_type, traced, extra)) in span.links.iter_mut().zip(links) {
                link.link_type = [
                    LinkType::Unspecified,
                    LinkType::ChildLinkedSpan,
                    LinkType::ParentLinkedSpan,
                ][link_type];
                if traced {
                    link.trace_state = TraceState::from_header("a=1,b=2").unwrap();
                }
                if let Some(value) = extra {
                    link.attributes
                        .push(KeyValue::new("threadline.link_type", value));
                }
            }
            let mut resource = (*span.resource).clone();
            if let Some(value) = service_name {
                resource
                    .attributes
                    .push(KeyValue::new("service.name", value));
            }
            if let Some(value) = host_ip {
                resource
                    .attributes
                    .insert(0, KeyValue::new("host.ip", value));
            }
            span.resource = Arc::new(resource);
            match (share, spans.first()) {
                (1, Some(first)) => span.resource = Arc::clone(&first.resource),
                (2, Some(first)) => span.resource = Arc::new((*first.resource).clone()),
                _ => {}
            }
            spans.push(span);
        }
        spans
    })
}

/// What a span should look like after a trip through Zipkin: everything Zipkin can carry kept,
/// the rest normalized as the `zipkin` module documents.
pub fn normalized(span: &SpanData) -> SpanData {
    let mut expected = span.clone();
    expected.trace_state = TraceState::EMPTY;
    if expected.kind == SpanKind::Internal {
        expected.kind = SpanKind::Unspecified;
    }
    expected.parent_is_remote = expected.parent_span_id.is_some()
        && matches!(expected.kind, SpanKind::Server | SpanKind::Consumer);

    let start_us = span.start_time_unix_nano / 1000;
    expected.start_time_unix_nano = start_us * 1000;
    if span.end_time_unix_nano != 0 {
        let duration_us = (span.end_time_unix_nano / 1000)
            .saturating_sub(start_us)
            .max(1);
        expected.end_time_unix_nano = expected.start_time_unix_nano + duration_us * 1000;
    }

    let as_tag = |kv: &KeyValue| KeyValue::new(kv.key.clone(), tag_text(&kv.value));
    expected.attributes = span.attributes.iter().map(as_tag).collect();
    for kv in &span.resource.attributes {
        if kv.key != "service.name" && span.attribute(&kv.key).is_none() {
            expected.attributes.push(as_tag(kv));
        }
    }
    expected.resource = Arc::new(Resource::new(span.resource.service_name.clone()));

    expected.dropped.links += u32::try_from(span.links.len()).unwrap();
    expected.links.clear();

    for annotation in &mut expected.annotations {
        annotation.time_unix_nano = annotation.time_unix_nano / 1000 * 1000;
    }
    for event in &mut expected.message_events {
        event.time_unix_nano = event.time_unix_nano / 1000 * 1000;
    }
    expected
}

/// An attribute value as the OpenTelemetry rules spell it in a Zipkin tag.
pub fn tag_text(value: &Value) -> String {
    match value {
        Value::Str(text) => text.to_string(),
        Value::I64(n) => n.to_string(),
        Value::F64(x) => float_text(*x),
        Value::Bool(flag) => flag.to_string(),
        Value::Array(_) => json_of(value).to_string(),
        Value::Bytes(bytes) => base64(bytes),
    }
}

fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        serde_json::Number::from_f64(x).unwrap().to_string()
    }
}

fn json_of(value: &Value) -> Json {
    match value {
        Value::Str(text) => Json::from(text.as_ref()),
        Value::I64(n) => Json::from(*n),
        Value::F64(x) if x.is_finite() => Json::from(*x),
        Value::F64(x) => Json::from(float_text(*x)),
        Value::Bool(flag) => Json::from(*flag),
        Value::Array(items) => Json::Array(items.iter().map(json_of).collect()),
        Value::Bytes(bytes) => Json::from(base64(bytes)),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = String::new();
    for byte in bytes {
        bits.push_str(&format!("{byte:08b}"));
    }
    while bits.len() % 6 != 0 {
        bits.push('0');
    }
    let mut out: String = bits
        .as_bytes()
        .chunks(6)
        .map(|six| {
            ALPHABET[usize::from_str_radix(std::str::from_utf8(six).unwrap(), 2).unwrap()] as char
        })
        .collect();
    while out.len() % 4 != 0 {
        out.push('=');
    }
    out
}

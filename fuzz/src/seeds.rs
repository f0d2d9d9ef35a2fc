//! The seed corpus: a few valid bodies per target, written by our own encoders.
//!
//! The files live in `fuzz/seeds/<target>/`; `tests/seeds.rs` checks they are what the encoders
//! write today, and rewrites them with `THREADLINE_FUZZ_WRITE_SEEDS=1`.

use std::collections::HashMap;
use std::sync::Arc;

use threadline::propagation::{self, propagator_by_name, Baggage, PropagationContext};

use threadline::{
    Annotation, KeyValue, Link, LinkType, MessageEvent, MessageEventType, Resource, SpanContext,
    SpanData, SpanId, SpanKind, Status, StatusCode, TraceId, TraceOptions, TraceState, Value,
};
use threadline_wire::jaeger::{binary, compact, json as jaeger_json};
use threadline_wire::{otlp, zipkin};

/// A server span with something in every field `SpanData` has.
fn full() -> SpanData {
    let mut span = SpanData::new(
        TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId(0x00f0_67aa_0ba9_02b7),
        "get /users/{id}",
    );
    span.parent_span_id = Some(SpanId(0x5316_d3b1_6c3d_9e2f));
    span.parent_is_remote = true;
    span.trace_state = TraceState::from_header("vendor=1,other=x").unwrap_or(TraceState::EMPTY);
    span.kind = SpanKind::Server;
    span.start_time_unix_nano = 1_700_000_000_000_123_456;
    span.end_time_unix_nano = 1_700_000_000_002_623_456;
    span.attributes = vec![
        KeyValue::new("http.route", "/users/{id}"),
        KeyValue::new("http.status_code", 404i64),
        KeyValue::new("ratio", 0.25f64),
        KeyValue::new("cached", false),
        KeyValue::new("raw", Value::Bytes(vec![0, 0xff, 0x10])),
        KeyValue::new(
            "tags",
            Value::Array(vec![Value::from("a"), Value::from("b")]),
        ),
        KeyValue::new("peer.service", "users-db"),
        KeyValue::new("network.peer.address", "10.1.2.3"),
    ];
    span.annotations = vec![Annotation {
        time_unix_nano: 1_700_000_000_001_000_000,
        description: "cache miss".into(),
        attributes: vec![
            KeyValue::new("key", "user:42"),
            KeyValue::new("tries", 2i64),
        ],
        dropped_attributes_count: 1,
    }];
    span.message_events = vec![MessageEvent {
        time_unix_nano: 1_700_000_000_001_500_000,
        kind: MessageEventType::Sent,
        id: 1,
        uncompressed_size: 120,
        compressed_size: 80,
    }];
    span.links = vec![Link {
        trace_id: TraceId(0x1234),
        span_id: SpanId(0x5678),
        trace_state: TraceState::EMPTY,
        link_type: LinkType::ParentLinkedSpan,
        attributes: vec![KeyValue::new("reason", "retry")],
        dropped_attributes_count: 0,
    }];
    span.status = Some(Status::new(StatusCode::NotFound, "no such user").with_details("id 42"));
    span.stack_trace = Some("at users::get\nat main".to_string());
    span.dropped.attributes = 2;
    span.dropped.annotations = 1;
    span.dropped.message_events = 1;
    span.dropped.links = 1;
    span.scope = "users-handler".into();
    span.resource = Arc::new(Resource {
        service_name: "users".into(),
        attributes: vec![
            KeyValue::new("host.ip", "192.168.0.7"),
            KeyValue::new("service.version", "1.2.0"),
        ],
    });
    span
}

/// A client span of another service, with an OK status.
fn client() -> SpanData {
    let mut span = SpanData::new(TraceId(0x77b3_4da6), SpanId(0x2), "select");
    span.parent_span_id = Some(SpanId(0x1));
    span.kind = SpanKind::Client;
    span.start_time_unix_nano = 1_700_000_000_000_000_000;
    span.end_time_unix_nano = 1_700_000_000_000_000_500;
    span.status = Some(Status::new(StatusCode::Ok, ""));
    span.attributes = vec![KeyValue::new("server.address", "db.local")];
    span.resource = Arc::new(Resource::new("gateway"));
    span
}

/// The least a span can be.
fn bare() -> SpanData {
    SpanData::new(TraceId(1), SpanId(1), "")
}

/// Every seed: the target, a file name and the bytes.
pub fn all() -> Vec<(&'static str, String, Vec<u8>)> {
    let batch = [full(), client(), bare()];
    let one = [bare()];
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: &str, bodies: Vec<Vec<u8>>| {
        let many = bodies.len() > 1;
        for (i, body) in bodies.into_iter().enumerate() {
            let name = if many {
                format!("{name}-{i}")
            } else {
                name.to_string()
            };
            // the same bytes twice teach the fuzzer nothing
            if !seeds.iter().any(|(t, _, b)| *t == target && *b == body) {
                seeds.push((target, name, body));
            }
        }
    };
    for (name, spans) in [("batch", &batch[..]), ("one", &one[..])] {
        add("zipkin_json", name, vec![zipkin::json::encode(spans)]);
        add("zipkin_proto", name, vec![zipkin::proto::encode(spans)]);
        add("otlp_proto", name, vec![otlp::proto::encode(spans)]);
        add("otlp_json", name, vec![otlp::json::encode(spans)]);
        add(
            "jaeger_compact_emit_batch",
            name,
            compact::encode_emit_batch(spans),
        );
        add("jaeger_binary_batch", name, binary::encode_batch(spans));
        add(
            "jaeger_binary_emit_batch",
            name,
            binary::encode_emit_batch(spans),
        );
        add("jaeger_json", name, vec![jaeger_json::encode(spans)]);
        add(
            "jaeger_binary_submit_batches",
            name,
            vec![binary::encode_submit_batches(spans, 1)],
        );
    }
    for name in crate::PROPAGATORS {
        let target = propagation_target(name);
        add(target, "sampled", vec![headers(name, true)]);
        add(target, "unsampled", vec![headers(name, false)]);
    }
    add(
        propagation_target("ocbinary"),
        "bytes",
        vec![propagation::to_bytes(&context(true)).to_vec()],
    );
    seeds
}

fn context(sampled: bool) -> SpanContext {
    SpanContext::new(
        TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId(0x00f0_67aa_0ba9_02b7),
        if sampled {
            TraceOptions::SAMPLED
        } else {
            TraceOptions::NOT_SAMPLED
        },
    )
}

/// The target of the propagator `name`, as a `'static` name.
fn propagation_target(name: &str) -> &'static str {
    Box::leak(format!("propagation_{name}").into_boxed_str())
}

/// What the propagator `name` writes for one context with baggage, one value per line in the
/// order [`crate::header_names`] reads them.
fn headers(name: &str, sampled: bool) -> Vec<u8> {
    let mut baggage = Baggage::new();
    baggage
        .insert("key", "alice")
        .expect("a valid baggage entry");
    let cx = PropagationContext::new(context(sampled)).with_baggage(baggage);
    let mut carrier: HashMap<String, String> = HashMap::new();
    if let Some(propagator) = propagator_by_name(name) {
        propagator.inject(&cx, &mut carrier);
    }
    let lines: Vec<String> = crate::header_names(name)
        .iter()
        .map(|header| carrier.get(header).cloned().unwrap_or_default())
        .collect();
    lines.join("\n").into_bytes()
}

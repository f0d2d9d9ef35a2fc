//! The mapping's decisions, one test each, and the bytes of a tiny batch in both protocols.

use std::sync::Arc;

use threadline::{
    Annotation, KeyValue, Link, LinkType, MessageEvent, MessageEventType, Resource, SpanData,
    SpanId, SpanKind, Status, StatusCode, TraceId, TraceState, Value,
};

use super::model;
use super::thrift::{self, CompactWriter, RefType, SpanRef, Tag, TagValue};
use super::{binary, compact};

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

fn round_trip(span: &SpanData) -> SpanData {
    let compact =
        compact::decode_emit_batch(&compact::encode_emit_batch(std::slice::from_ref(span))[0])
            .unwrap();
    let binary =
        binary::decode_batch(&binary::encode_batch(std::slice::from_ref(span))[0]).unwrap();
    assert_eq!(compact, binary, "compact and binary disagree");
    compact.into_iter().next().unwrap()
}

/// The span with its times truncated to microseconds, as Jaeger carries them.
fn whole_micros(mut span: SpanData) -> SpanData {
    span.start_time_unix_nano -= span.start_time_unix_nano % 1000;
    span.end_time_unix_nano -= span.end_time_unix_nano % 1000;
    span
}

fn tags(span: &SpanData) -> Vec<Tag<'_>> {
    model::to_span(span).tags
}

fn tag<'a>(tags: &[Tag<'a>], key: &str) -> Option<TagValue<'a>> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.clone())
}

fn text(value: &str) -> Option<TagValue<'static>> {
    Some(TagValue::Str(value.to_string().into()))
}

/// A span with the given tags, decoded through the compact codec.
fn decode_with_tags(tags: Vec<Tag<'_>>) -> SpanData {
    let base = span();
    let mut jaeger = model::to_span(&base);
    jaeger.tags = tags;
    decode_jaeger(jaeger)
}

fn decode_jaeger(jaeger: thrift::Span<'_>) -> SpanData {
    let mut w = CompactWriter::default();
    thrift::write_span(&mut w, &jaeger);
    let bytes = thrift::Writer::bytes(w);
    let resource = Resource::new("svc");
    let process = model::to_process(&resource);
    let body = super::body::<CompactWriter>(super::Shape::EmitBatch, &process, &[&bytes]);
    compact::decode_emit_batch(&body).unwrap().remove(0)
}

fn t<'a>(key: &str, value: TagValue<'a>) -> Tag<'a> {
    Tag {
        key: key.to_string().into(),
        value,
    }
}

#[test]
fn ids_split_into_low_and_high_halves() {
    let base = span();
    let jaeger = model::to_span(&base);
    assert_eq!(jaeger.trace_id_low, 0xa3ce_929d_0e0e_4736_u64 as i64);
    assert_eq!(jaeger.trace_id_high, 0x4bf9_2f35_77b3_4da6);
    assert_eq!(jaeger.span_id, 0x00f0_67aa_0ba9_02b7);
    assert_eq!(jaeger.parent_span_id, 0);
    assert!(jaeger.references.is_empty());
    assert_eq!(jaeger.flags, 1);
    let mut high_bit = span();
    high_bit.trace_id = TraceId(u128::MAX);
    high_bit.span_id = SpanId(u64::MAX);
    assert_eq!(round_trip(&high_bit), whole_micros(high_bit));
}

#[test]
fn parent_is_written_twice_and_read_once() {
    let mut span = span();
    span.parent_span_id = Some(SpanId(7));
    let jaeger = model::to_span(&span);
    assert_eq!(jaeger.parent_span_id, 7);
    assert_eq!(
        jaeger.references,
        vec![SpanRef {
            ref_type: RefType::ChildOf,
            trace_id_low: jaeger.trace_id_low,
            trace_id_high: jaeger.trace_id_high,
            span_id: 7,
        }]
    );
    let back = round_trip(&span);
    assert_eq!(back.parent_span_id, Some(SpanId(7)));
    assert!(back.links.is_empty());

    // a sender that only writes the reference
    let mut only_ref = jaeger.clone();
    only_ref.parent_span_id = 0;
    assert_eq!(decode_jaeger(only_ref).parent_span_id, Some(SpanId(7)));
}

#[test]
fn parent_is_remote_follows_the_kind() {
    let mut span = span();
    span.parent_span_id = Some(SpanId(7));
    span.kind = SpanKind::Server;
    assert!(round_trip(&span).parent_is_remote);
    span.kind = SpanKind::Client;
    span.parent_is_remote = true;
    assert!(!round_trip(&span).parent_is_remote);
}

#[test]
fn links_become_follows_from_and_their_attributes_are_counted() {
    let mut span = span();
    span.links = vec![
        Link {
            trace_id: TraceId(9),
            span_id: SpanId(8),
            trace_state: TraceState::EMPTY,
            link_type: LinkType::ChildLinkedSpan,
            attributes: vec![KeyValue::new("a", 1), KeyValue::new("b", 2)],
            dropped_attributes_count: 3,
        },
        Link::new(
            &threadline::SpanContext::new(TraceId(5), SpanId(6), Default::default()),
            LinkType::Unspecified,
        ),
    ];
    let jaeger = model::to_span(&span);
    assert_eq!(jaeger.references.len(), 2);
    assert_eq!(jaeger.references[0].ref_type, RefType::FollowsFrom);
    assert_eq!(jaeger.references[0].trace_id_low, 9);
    assert_eq!(jaeger.references[0].span_id, 8);
    assert_eq!(
        tag(&jaeger.tags, "threadline.dropped_link_attributes_count"),
        Some(TagValue::Long(5))
    );
    let back = round_trip(&span);
    assert_eq!(back.links.len(), 2);
    assert!(back
        .links
        .iter()
        .all(|l| l.link_type == LinkType::ParentLinkedSpan && l.attributes.is_empty()));
    assert_eq!(back.links[1].trace_id, TraceId(5));
    assert_eq!(
        back.attribute("threadline.dropped_link_attributes_count"),
        Some(&Value::I64(5))
    );
}

#[test]
fn times_are_microseconds() {
    let base = span();
    let jaeger = model::to_span(&base);
    assert_eq!(jaeger.start_time, 1_700_000_000_123_456);
    assert_eq!(jaeger.duration, 2000);
    let back = round_trip(&span());
    assert_eq!(back.start_time_unix_nano, 1_700_000_000_123_456_000);
    assert_eq!(back.end_time_unix_nano, 1_700_000_000_125_456_000);

    let mut unended = span();
    unended.end_time_unix_nano = 0;
    assert_eq!(model::to_span(&unended).duration, 0);
    assert_eq!(
        round_trip(&unended).end_time_unix_nano,
        1_700_000_000_123_456_000
    );
}

#[test]
fn attributes_become_typed_tags() {
    let mut span = span();
    span.attributes = vec![
        KeyValue::new("s", "x"),
        KeyValue::new("i", -3),
        KeyValue::new("f", 1.5),
        KeyValue::new("b", true),
        KeyValue::new("bytes", Value::Bytes(vec![0, 255])),
        KeyValue::new(
            "arr",
            Value::Array(vec![
                Value::from("a"),
                Value::F64(f64::NAN),
                Value::Bytes(vec![1]),
            ]),
        ),
    ];
    let tags = tags(&span);
    assert_eq!(tag(&tags, "s"), text("x"));
    assert_eq!(tag(&tags, "i"), Some(TagValue::Long(-3)));
    assert_eq!(tag(&tags, "f"), Some(TagValue::Double(1.5)));
    assert_eq!(tag(&tags, "b"), Some(TagValue::Bool(true)));
    assert_eq!(
        tag(&tags, "bytes"),
        Some(TagValue::Binary(vec![0, 255].into()))
    );
    assert_eq!(tag(&tags, "arr"), text(r#"["a","NaN","AQ=="]"#));
    let back = round_trip(&span);
    assert_eq!(back.attributes[..5], span.attributes[..5]);
    assert_eq!(
        back.attribute("arr"),
        Some(&Value::from(r#"["a","NaN","AQ=="]"#))
    );
}

#[test]
fn kind_is_a_lowercase_tag() {
    for kind in [
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ] {
        let mut span = span();
        span.kind = kind;
        assert_eq!(tag(&tags(&span), "span.kind"), text(kind.as_str()));
        assert_eq!(round_trip(&span).kind, kind);
    }
    assert_eq!(tag(&tags(&span()), "span.kind"), None);
    // an unknown kind stays an attribute
    let back = decode_with_tags(vec![t("span.kind", TagValue::Str("sideways".into()))]);
    assert_eq!(back.kind, SpanKind::Unspecified);
    assert_eq!(back.attribute("span.kind"), Some(&Value::from("sideways")));
}

#[test]
fn error_status_follows_the_opentelemetry_rules() {
    let mut span = span();
    span.status = Some(Status::new(StatusCode::NotFound, "no such user").with_details("id 7"));
    let tags = tags(&span);
    assert_eq!(tag(&tags, "otel.status_code"), text("ERROR"));
    assert_eq!(tag(&tags, "otel.status_description"), text("no such user"));
    assert_eq!(tag(&tags, "error"), Some(TagValue::Bool(true)));
    assert_eq!(tag(&tags, "threadline.status_code"), text("NOT_FOUND"));
    assert_eq!(tag(&tags, "threadline.status_details"), text("id 7"));
    let back = round_trip(&span);
    assert_eq!(back.status, span.status);
    assert!(back.attributes.is_empty(), "{:?}", back.attributes);

    span.status = Some(Status::new(StatusCode::Unknown, ""));
    let tags = super::tests::tags(&span);
    assert_eq!(tag(&tags, "threadline.status_code"), None);
    assert_eq!(tag(&tags, "otel.status_description"), None);
    assert_eq!(round_trip(&span).status, span.status);
}

#[test]
fn ok_and_unset_status() {
    let mut span = span();
    span.status = Some(Status::ok());
    let tags = tags(&span);
    assert_eq!(tag(&tags, "otel.status_code"), text("OK"));
    assert_eq!(tag(&tags, "error"), None);
    assert_eq!(round_trip(&span).status, Some(Status::ok()));
    span.status = None;
    assert!(super::tests::tags(&span).is_empty());
    assert_eq!(round_trip(&span).status, None);
}

#[test]
fn a_bare_error_tag_is_an_unknown_error() {
    let back = decode_with_tags(vec![t("error", TagValue::Bool(true))]);
    assert_eq!(back.status, Some(Status::new(StatusCode::Unknown, "")));
    assert!(back.attributes.is_empty());
    let back = decode_with_tags(vec![t("error", TagValue::Bool(false))]);
    assert_eq!(back.status, None);
    assert_eq!(back.attribute("error"), Some(&Value::Bool(false)));
}

#[test]
fn scope_trace_state_stack_trace_and_counts_are_tags() {
    let mut span = span();
    span.scope = "my.lib".into();
    span.trace_state = TraceState::from_header("vendor=1").unwrap();
    span.stack_trace = Some("at main".into());
    span.dropped.attributes = 1;
    span.dropped.annotations = 2;
    span.dropped.message_events = 3;
    span.dropped.links = 4;
    let tags = tags(&span);
    assert_eq!(tag(&tags, "otel.scope.name"), text("my.lib"));
    assert_eq!(tag(&tags, "otel.library.name"), text("my.lib"));
    assert_eq!(tag(&tags, "w3c.tracestate"), text("vendor=1"));
    assert_eq!(tag(&tags, "code.stacktrace"), text("at main"));
    assert_eq!(
        tag(&tags, "otel.dropped_attributes_count"),
        Some(TagValue::Long(1))
    );
    assert_eq!(
        tag(&tags, "otel.dropped_events_count"),
        Some(TagValue::Long(5))
    );
    assert_eq!(
        tag(&tags, "threadline.dropped_message_events_count"),
        Some(TagValue::Long(3))
    );
    assert_eq!(
        tag(&tags, "otel.dropped_links_count"),
        Some(TagValue::Long(4))
    );
    assert_eq!(round_trip(&span), whole_micros(span));
}

#[test]
fn annotations_and_message_events_become_logs_merged_by_time() {
    let mut span = span();
    span.annotations = vec![Annotation {
        time_unix_nano: START + 2000,
        description: "cache miss".into(),
        attributes: vec![KeyValue::new("key", "u:7"), KeyValue::new("n", 2)],
        dropped_attributes_count: 1,
    }];
    span.message_events = vec![MessageEvent {
        time_unix_nano: START + 1000,
        kind: MessageEventType::Sent,
        id: u64::MAX,
        uncompressed_size: 10,
        compressed_size: 5,
    }];
    let logs = model::to_span(&span).logs;
    assert_eq!(logs[0].timestamp, 1_700_000_000_123_457);
    assert_eq!(
        logs[0].fields,
        vec![
            t("event", TagValue::Str("message".into())),
            t("message.type", TagValue::Str("SENT".into())),
            t("message.id", TagValue::Long(-1)),
            t("message.uncompressed_size", TagValue::Long(10)),
            t("message.compressed_size", TagValue::Long(5)),
        ]
    );
    assert_eq!(
        logs[1].fields,
        vec![
            t("event", TagValue::Str("cache miss".into())),
            t("key", TagValue::Str("u:7".into())),
            t("n", TagValue::Long(2)),
            t("otel.dropped_attributes_count", TagValue::Long(1)),
        ]
    );
    let back = round_trip(&span);
    assert_eq!(back.annotations[0].description, "cache miss");
    assert_eq!(back.annotations[0].dropped_attributes_count, 1);
    assert_eq!(
        back.annotations[0].attributes,
        span.annotations[0].attributes
    );
    assert_eq!(back.message_events[0].id, u64::MAX);
}

#[test]
fn a_log_without_event_is_an_annotation_without_description() {
    let base = span();
    let mut jaeger = model::to_span(&base);
    jaeger.logs = vec![thrift::Log {
        timestamp: 5,
        fields: vec![t("message", TagValue::Str("hello".into()))],
    }];
    let back = decode_jaeger(jaeger);
    assert_eq!(back.annotations[0].description, "");
    assert_eq!(back.annotations[0].time_unix_nano, 5000);
    assert_eq!(
        back.annotations[0].attributes,
        vec![KeyValue::new("message", "hello")]
    );
}

#[test]
fn python_client_process_and_sampler_tags_are_kept() {
    let base = span();
    let mut jaeger = model::to_span(&base);
    jaeger.tags = vec![
        t("sampler.type", TagValue::Str("const".into())),
        t("sampler.param", TagValue::Bool(true)),
    ];
    let mut w = CompactWriter::default();
    thrift::write_span(&mut w, &jaeger);
    let bytes = thrift::Writer::bytes(w);
    let process = thrift::Process {
        service_name: "py-svc".into(),
        tags: vec![
            t("jaeger.version", TagValue::Str("Python-4.8.0".into())),
            t("hostname", TagValue::Str("box".into())),
            t("ip", TagValue::Str("10.0.0.1".into())),
        ],
    };
    let body = super::body::<CompactWriter>(super::Shape::EmitBatch, &process, &[&bytes]);
    let back = compact::decode_emit_batch(&body).unwrap().remove(0);
    assert_eq!(back.resource.service_name, "py-svc");
    assert_eq!(back.resource.get("hostname"), Some(Value::from("box")));
    assert_eq!(back.resource.get("ip"), Some(Value::from("10.0.0.1")));
    assert_eq!(
        back.resource.get("jaeger.version"),
        Some(Value::from("Python-4.8.0"))
    );
    assert_eq!(back.attribute("sampler.type"), Some(&Value::from("const")));
    assert_eq!(back.attribute("sampler.param"), Some(&Value::Bool(true)));
}

#[test]
fn one_batch_per_resource_sharing_one_arc() {
    let a = Arc::new(Resource {
        service_name: "a".into(),
        attributes: vec![KeyValue::new("host.name", "h")],
    });
    let spans: Vec<SpanData> = (1..=3)
        .map(|i| {
            let mut s = span();
            s.span_id = SpanId(i);
            s.resource = if i == 2 {
                Arc::new(Resource::new("b"))
            } else {
                Arc::clone(&a)
            };
            s
        })
        .collect();
    let messages = compact::encode_emit_batch(&spans);
    assert_eq!(messages.len(), 2);
    let first = compact::decode_emit_batch(&messages[0]).unwrap();
    assert_eq!(first.len(), 2);
    assert!(Arc::ptr_eq(&first[0].resource, &first[1].resource));
    assert_eq!(*first[0].resource, *a);
    assert_eq!(binary::encode_batch(&spans).len(), 2);
}

/// The compact `emitBatch` of one minimal span, byte by byte.
#[test]
fn golden_compact_emit_batch() {
    let mut span = SpanData::new(TraceId(1), SpanId(2), "o");
    span.start_time_unix_nano = 3000;
    span.end_time_unix_nano = 7000;
    span.resource = Arc::new(Resource::new("s"));
    let expected: Vec<u8> = [
        &[0x82, 0x81][..], // protocol id; version 1 | ONEWAY (4) << 5
        &[0x00],           // sequence id 0 (varint)
        &[0x09],           // method name length 9
        b"emitBatch",
        &[0x1c],             // args field 1 (delta 1), struct (12): the Batch
        &[0x1c],             //   Batch field 1, struct: the Process
        &[0x18, 0x01, b's'], // Process field 1, binary (8), length 1: serviceName "s"
        &[0x00],             //     Process stop
        &[0x19],             //   Batch field 2 (delta 1), list (9): spans
        &[0x1c],             //   list header: 1 element << 4 | struct (12)
        &[0x16, 0x02],       // Span field 1, i64 (6): traceIdLow zigzag(1) = 2
        &[0x16, 0x00],       //   field 2: traceIdHigh 0
        &[0x16, 0x04],       //   field 3: spanId zigzag(2) = 4
        &[0x16, 0x00],       //   field 4: parentSpanId 0
        &[0x18, 0x01, b'o'], // field 5, binary: operationName "o"
        &[0x25, 0x02],       //   field 7 (delta 2), i32 (5): flags zigzag(1) = 2
        &[0x16, 0x06],       //   field 8: startTime zigzag(3) = 6 µs
        &[0x16, 0x08],       //   field 9: duration zigzag(4) = 8 µs
        &[0x00],             //     Span stop
        &[0x00],             //   Batch stop
        &[0x00],             // args stop
    ]
    .concat();
    let messages = compact::encode_emit_batch(std::slice::from_ref(&span));
    assert_eq!(messages, vec![expected.clone()]);
    assert_eq!(compact::decode_emit_batch(&expected).unwrap(), vec![span]);
}

/// The binary `Batch` and `emitBatch` of one minimal span, byte by byte.
#[test]
fn golden_binary_batch() {
    let mut span = SpanData::new(TraceId(1), SpanId(2), "o");
    span.start_time_unix_nano = 3000;
    span.end_time_unix_nano = 7000;
    span.resource = Arc::new(Resource::new("s"));
    let i64_field =
        |id: u8, value: u8| [vec![0x0a, 0x00, id], vec![0, 0, 0, 0, 0, 0, 0, value]].concat();
    let batch: Vec<u8> = [
        vec![0x0c, 0x00, 0x01], // field type struct (12), id 1: the Process
        vec![0x0b, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, b's'], // string (11) id 1, length 1, "s"
        vec![0x00],             // Process stop
        vec![0x0f, 0x00, 0x02], // list (15), id 2: spans
        vec![0x0c, 0x00, 0x00, 0x00, 0x01], // element type struct, 1 element
        i64_field(1, 1),        // traceIdLow 1, i64 (10) big-endian
        i64_field(2, 0),        // traceIdHigh 0
        i64_field(3, 2),        // spanId 2
        i64_field(4, 0),        // parentSpanId 0
        vec![0x0b, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, b'o'], // operationName "o"
        vec![0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x01], // i32 (8) id 7: flags 1
        i64_field(8, 3),        // startTime 3 µs
        i64_field(9, 4),        // duration 4 µs
        vec![0x00],             // Span stop
        vec![0x00],             // Batch stop
    ]
    .concat();
    assert_eq!(
        binary::encode_batch(std::slice::from_ref(&span)),
        vec![batch.clone()]
    );
    assert_eq!(binary::decode_batch(&batch).unwrap(), vec![span.clone()]);

    let message: Vec<u8> = [
        vec![0x80, 0x01, 0x00, 0x04], // strict version 1, type ONEWAY (4)
        vec![0x00, 0x00, 0x00, 0x09], // method name length 9
        b"emitBatch".to_vec(),
        vec![0x00, 0x00, 0x00, 0x00], // sequence id 0
        vec![0x0c, 0x00, 0x01],       // args field 1, struct: the Batch
        batch,
        vec![0x00], // args stop
    ]
    .concat();
    assert_eq!(
        binary::encode_emit_batch(std::slice::from_ref(&span)),
        vec![message.clone()]
    );
    assert_eq!(binary::decode_emit_batch(&message).unwrap(), vec![span]);
}

use crate::test_spans as common;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Spans written straight into their batch's body give the bytes of a body put together
    /// from spans encoded one by one (which is how packets are cut).
    #[test]
    fn bodies_are_their_spans_encoded_alone(spans in common::batch()) {
        for shape in [super::Shape::EmitBatch, super::Shape::Batch] {
            let direct = super::encode::<CompactWriter>(shape, &spans);
            let assembled: Vec<Vec<u8>> = super::encoded_spans::<CompactWriter>(&spans)
                .into_iter()
                .map(|(process, encoded)| {
                    let parts: Vec<&[u8]> = encoded.iter().map(|(_, b)| b.as_slice()).collect();
                    super::body::<CompactWriter>(shape, &process, &parts)
                })
                .collect();
            proptest::prop_assert_eq!(direct, assembled);
        }
    }
}

fn two_resources() -> Vec<SpanData> {
    let mut other = span();
    other.span_id = SpanId(0x77);
    other.resource = Arc::new(Resource::new("billing"));
    vec![span(), other]
}

#[test]
fn submit_batches_round_trips_every_batch() {
    let spans = two_resources();
    let message = binary::encode_submit_batches(&spans, 42);
    assert!(binary::is_call_message(&message));
    let call = binary::decode_submit_batches(&message);
    assert_eq!(call.seq_id, 42);
    assert_eq!(call.batches, 2);
    assert!(call.decoded.is_complete(), "{:?}", call.decoded.errors);
    let names: Vec<_> = call
        .decoded
        .spans
        .iter()
        .map(|s| s.resource.service_name.to_string())
        .collect();
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1]);
    assert_eq!(&*call.decoded.spans[1].resource.service_name, "billing");
}

#[test]
fn submit_batches_keeps_the_batches_before_a_cut() {
    let spans = two_resources();
    let message = binary::encode_submit_batches(&spans, 1);
    let call = binary::decode_submit_batches(&message[..message.len() - 3]);
    assert_eq!(call.decoded.spans.len(), 1, "{:?}", call.decoded.errors);
    assert_eq!(call.decoded.errors.len(), 1);
    assert!(call.decoded.errors[0]
        .to_string()
        .starts_with("body is not a Thrift binary submitBatches message"));
}

#[test]
fn submit_batches_names_a_wrong_method_or_type() {
    let mut emit = binary::encode_emit_batch(&[span()]).remove(0);
    let call = binary::decode_submit_batches(&emit);
    assert!(call.decoded.spans.is_empty());
    assert_eq!(
        call.decoded.errors[0].to_string(),
        r#"method name "emitBatch" is not submitBatches"#
    );
    // a oneway submitBatches gets no reply, so it is not the collector's call
    let mut oneway = binary::encode_submit_batches(&[span()], 0);
    oneway[3] = 4;
    assert_eq!(
        binary::decode_submit_batches(&oneway).decoded.errors[0].to_string(),
        "message type 4 is not CALL (1)"
    );
    emit.truncate(0);
    assert!(!binary::is_call_message(&emit));
}

#[test]
fn submit_batches_reply_bytes() {
    let reply = binary::encode_submit_batches_reply(3, 1);
    let mut expected = vec![0x80, 0x01, 0x00, 0x02, 0, 0, 0, 13];
    expected.extend_from_slice(b"submitBatches");
    expected.extend_from_slice(&[0, 0, 0, 3]); // seq id
    expected.extend_from_slice(&[15, 0, 0]); // field 0, a list
    expected.extend_from_slice(&[12, 0, 0, 0, 1]); // of one struct
    expected.extend_from_slice(&[2, 0, 1, 1, 0]); // ok = true, stop
    expected.push(0); // end of the result
    assert_eq!(reply, expected);
}

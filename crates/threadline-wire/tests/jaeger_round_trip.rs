//! Property tests: a round trip through Jaeger thrift, compact `emitBatch` or binary `Batch`,
//! keeps everything Jaeger can carry, up to the normalizations the `jaeger` module documents;
//! the UDP packet splitter keeps every span and respects its size bound.

mod common;

use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use threadline::{KeyValue, LinkType, Resource, SpanData, SpanKind, TraceState, Value};
use threadline_wire::jaeger::{binary, compact, json};

/// An array attribute as Jaeger carries it: its JSON text.
fn jaeger_value(value: &Value) -> Value {
    match value {
        Value::Array(_) => Value::from(common::tag_text(value)),
        other => other.clone(),
    }
}

fn jaeger_attributes(attributes: &[KeyValue]) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|kv| KeyValue::new(kv.key.clone(), jaeger_value(&kv.value)))
        .collect()
}

/// What a span should look like after a trip through Jaeger.
fn normalized(span: &SpanData) -> SpanData {
    let mut expected = span.clone();
    expected.parent_is_remote = expected.parent_span_id.is_some()
        && matches!(expected.kind, SpanKind::Server | SpanKind::Consumer);
    let start_us = span.start_time_unix_nano / 1000;
    let end_us = (span.end_time_unix_nano / 1000).max(start_us);
    expected.start_time_unix_nano = start_us * 1000;
    expected.end_time_unix_nano = end_us * 1000;
    expected.attributes = jaeger_attributes(&span.attributes);
    let link_attributes: u64 = span
        .links
        .iter()
        .map(|l| l.attributes.len() as u64 + u64::from(l.dropped_attributes_count))
        .sum();
    if link_attributes != 0 {
        expected.attributes.push(KeyValue::new(
            "threadline.dropped_link_attributes_count",
            link_attributes,
        ));
    }
    for link in &mut expected.links {
        link.attributes.clear();
        link.dropped_attributes_count = 0;
        link.trace_state = TraceState::EMPTY;
        link.link_type = LinkType::ParentLinkedSpan;
    }
    for annotation in &mut expected.annotations {
        annotation.time_unix_nano -= annotation.time_unix_nano % 1000;
        annotation.attributes = jaeger_attributes(&annotation.attributes);
    }
    for event in &mut expected.message_events {
        event.time_unix_nano -= event.time_unix_nano % 1000;
    }
    expected.resource = Arc::new(Resource {
        service_name: span.resource.service_name.clone(),
        attributes: jaeger_attributes(&span.resource.attributes),
    });
    expected
}

/// The batch as Jaeger gives it back: grouped by resource (equal value), in order of first
/// appearance, each span normalized.
fn expected(spans: &[SpanData]) -> Vec<SpanData> {
    grouped_without(spans, &[])
}

/// [`expected`], without the spans at the positions `left_out`.
fn grouped_without(spans: &[SpanData], left_out: &[usize]) -> Vec<SpanData> {
    let mut groups: Vec<(Arc<Resource>, Vec<SpanData>)> = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        let group = match groups.iter().position(|(r, _)| **r == *span.resource) {
            Some(group) => group,
            None => {
                groups.push((Arc::clone(&span.resource), Vec::new()));
                groups.len() - 1
            }
        };
        if !left_out.contains(&i) {
            groups[group].1.push(normalized(span));
        }
    }
    groups
        .into_iter()
        .flat_map(|(_, members)| members)
        .collect()
}

/// Compared through `Debug`, where NaN equals NaN and -0.0 differs from 0.0: bit-exact floats.
fn same(a: &[SpanData], b: &[SpanData]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn decode_all(
    bodies: &[Vec<u8>],
    decode: fn(&[u8]) -> Result<Vec<SpanData>, threadline_wire::jaeger::DecodeError>,
) -> Vec<SpanData> {
    bodies
        .iter()
        .flat_map(|body| decode(body).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn compact_emit_batch_keeps_what_jaeger_can_carry(spans in vec(common::span(), 0..5)) {
        let decoded = decode_all(&compact::encode_emit_batch(&spans), compact::decode_emit_batch);
        let expected = expected(&spans);
        prop_assert!(same(&decoded, &expected), "{:#?}\n!=\n{:#?}", decoded, expected);
    }

    #[test]
    fn binary_batch_keeps_what_jaeger_can_carry(spans in vec(common::span(), 0..5)) {
        let decoded = decode_all(&binary::encode_batch(&spans), binary::decode_batch);
        let expected = expected(&spans);
        prop_assert!(same(&decoded, &expected), "{:#?}\n!=\n{:#?}", decoded, expected);
    }

    #[test]
    fn binary_emit_batch_keeps_what_jaeger_can_carry(spans in vec(common::span(), 0..5)) {
        let decoded = decode_all(&binary::encode_emit_batch(&spans), binary::decode_emit_batch);
        prop_assert!(same(&decoded, &expected(&spans)));
    }

    /// Once normalized, a batch encodes to the same bytes again: decoding loses nothing that
    /// encoding wrote.
    #[test]
    fn encoding_a_decoded_batch_gives_the_same_bytes(spans in vec(common::span(), 0..5)) {
        let bodies = compact::encode_emit_batch(&spans);
        let again = compact::encode_emit_batch(&decode_all(&bodies, compact::decode_emit_batch));
        prop_assert_eq!(again, bodies);
        let bodies = binary::encode_batch(&spans);
        let again = binary::encode_batch(&decode_all(&bodies, binary::decode_batch));
        prop_assert_eq!(again, bodies);
    }

    /// A trace through the query API's JSON keeps what thrift keeps, in the order given: the
    /// JSON and thrift forms are written from the same mapping, so they cannot drift apart.
    #[test]
    fn json_trace_keeps_what_thrift_keeps(spans in vec(common::span(), 0..5)) {
        let decoded = json::decode(&json::encode_trace(&spans)).unwrap();
        let expected: Vec<SpanData> = spans.iter().map(normalized).collect();
        prop_assert!(same(&decoded, &expected), "{:#?}\n!=\n{:#?}", decoded, expected);
        for span in &spans {
            let through_thrift =
                decode_all(&compact::encode_emit_batch(std::slice::from_ref(span)), compact::decode_emit_batch);
            let through_json = json::decode(&json::encode_trace(std::slice::from_ref(span))).unwrap();
            prop_assert!(same(&through_json, &through_thrift));
        }
        // once normalized, the same text again
        prop_assert_eq!(json::encode_trace(&decoded), json::encode_trace(&spans));
    }

    /// An array of traces groups the spans by trace id, in order of first appearance.
    #[test]
    fn json_traces_group_spans_by_trace(
        mut spans in vec(common::span(), 0..6),
        traces in vec(1u128..4, 6),
    ) {
        for (span, trace) in spans.iter_mut().zip(traces) {
            span.trace_id = threadline::TraceId(trace);
        }
        let decoded = json::decode(&json::encode(&spans)).unwrap();
        let mut ids: Vec<threadline::TraceId> = Vec::new();
        for span in &spans {
            if !ids.contains(&span.trace_id) {
                ids.push(span.trace_id);
            }
        }
        let expected: Vec<SpanData> = ids
            .iter()
            .flat_map(|id| spans.iter().filter(move |s| s.trace_id == *id).map(normalized))
            .collect();
        prop_assert!(same(&decoded, &expected), "{:#?}\n!=\n{:#?}", decoded, expected);
    }

    /// Every span lands in exactly one packet (in order, per resource) or is reported as too
    /// large, and no packet exceeds the bound.
    #[test]
    fn the_splitter_keeps_every_span_within_the_bound(
        spans in vec(common::span(), 0..30),
        max_packet in prop_oneof![100usize..400, 400usize..3000, Just(compact::MAX_PACKET_SIZE)],
    ) {
        let packets = compact::encode_emit_batches(&spans, max_packet);
        for packet in &packets.packets {
            prop_assert!(packet.len() <= max_packet, "{} > {}", packet.len(), max_packet);
        }
        let too_large: Vec<usize> = packets.too_large.iter().map(|t| t.index).collect();
        for t in &packets.too_large {
            prop_assert!(t.packet_size > max_packet);
            let alone = compact::encode_emit_batch(std::slice::from_ref(&spans[t.index]));
            prop_assert_eq!(alone[0].len(), t.packet_size);
        }
        // grouped as the whole batch is, less the spans left out
        let decoded = decode_all(&packets.packets, compact::decode_emit_batch);
        let expected = grouped_without(&spans, &too_large);
        prop_assert!(same(&decoded, &expected), "{:#?}\n!=\n{:#?}", decoded, expected);
        // a packet that fits everything is what encode_emit_batch writes
        if max_packet == compact::MAX_PACKET_SIZE && too_large.is_empty() {
            prop_assert_eq!(packets.packets, compact::encode_emit_batch(&spans));
        }
    }
}

#[test]
fn the_splitter_fills_packets_greedily_across_the_varint_list_header() {
    let spans: Vec<SpanData> = (1..=40)
        .map(|i| SpanData::new(threadline::TraceId(1), threadline::SpanId(i), "op"))
        .collect();
    let one = compact::encode_emit_batch(&spans[..1])[0].len();
    let all = compact::encode_emit_batch(&spans)[0].len();
    // exactly the size of the whole batch: one packet; one byte less: two
    assert_eq!(compact::encode_emit_batches(&spans, all).packets.len(), 1);
    let split = compact::encode_emit_batches(&spans, all - 1);
    assert_eq!(split.packets.len(), 2);
    assert!(split.packets.iter().all(|p| p.len() < all));
    // a bound below one span's packet sends nothing and reports every span
    let none = compact::encode_emit_batches(&spans, one - 1);
    assert!(none.packets.is_empty());
    assert_eq!(none.too_large.len(), 40);
    assert_eq!(none.too_large[39].index, 39);
}

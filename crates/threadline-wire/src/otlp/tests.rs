//! The mapping's decisions, one test each, through the public OTLP codecs.

use std::sync::Arc;

use opentelemetry_proto::tonic::trace::v1::status::StatusCode as PbCode;
use threadline::{
    KeyValue, Link, LinkType, Resource, SpanData, SpanId, Status, StatusCode, TraceId, TraceState,
    Value,
};

use super::{from_request, json, proto, to_request};

fn span() -> SpanData {
    SpanData::new(TraceId(0x4bf9), SpanId(0xf067), "op")
}

fn round_trip(span: &SpanData) -> SpanData {
    let via_json = json::decode(&json::encode(std::slice::from_ref(span))).unwrap();
    let via_proto = proto::decode(&proto::encode(std::slice::from_ref(span))).unwrap();
    assert_eq!(via_json, via_proto, "json and proto disagree");
    via_json.into_iter().next().unwrap()
}

/// The one span of a request, after `edit` changed its OTLP form.
fn decoded_after(
    span: &SpanData,
    edit: impl FnOnce(&mut opentelemetry_proto::tonic::trace::v1::Span),
) -> SpanData {
    let mut request = to_request(std::slice::from_ref(span));
    edit(&mut request.resource_spans[0].scope_spans[0].spans[0]);
    from_request(request).into_result().unwrap().remove(0)
}

#[test]
fn status_codes_survive_through_an_attribute() {
    let mut span = span();
    for status in [
        None,
        Some(Status::ok()),
        Some(Status::new(StatusCode::Ok, "fine")),
        Some(Status::new(StatusCode::Unknown, "boom")),
        Some(Status::new(StatusCode::DeadlineExceeded, "slow").with_details("after 5s")),
    ] {
        span.status = status;
        assert_eq!(round_trip(&span), span);
    }
    let request = to_request(std::slice::from_ref(&span));
    let otlp = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(otlp.status.as_ref().unwrap().code, PbCode::Error as i32);
    let keys: Vec<&str> = otlp.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        ["threadline.status_code", "threadline.status_details"]
    );

    // An UNKNOWN error writes no code attribute; an unset status with a message is unset.
    span.status = Some(Status::new(StatusCode::Unknown, "boom"));
    let request = to_request(std::slice::from_ref(&span));
    assert!(request.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .is_empty());
    let unset = decoded_after(&span, |s| {
        s.status.as_mut().unwrap().code = PbCode::Unset as i32
    });
    assert_eq!(unset.status, None);
}

#[test]
fn a_status_code_attribute_that_does_not_fit_stays_an_attribute() {
    let mut span = span();
    span.attributes = vec![KeyValue::new("threadline.status_code", "OK")];
    span.status = Some(Status::ok());
    let back = round_trip(&span);
    assert_eq!(
        back.attribute("threadline.status_code"),
        Some(&Value::from("OK"))
    );
    span.status = Some(Status::new(StatusCode::Unknown, "x"));
    let back = round_trip(&span);
    assert_eq!(
        back.status.as_ref().unwrap().canonical_code(),
        StatusCode::Unknown
    );
    assert_eq!(
        back.attribute("threadline.status_code"),
        Some(&Value::from("OK"))
    );
}

#[test]
fn mapping_attributes_replace_span_attributes_of_the_same_key() {
    let mut span = span();
    span.attributes = vec![KeyValue::new("code.stacktrace", 5), KeyValue::new("a", 1)];
    span.stack_trace = Some("at main".into());
    let back = round_trip(&span);
    assert_eq!(back.stack_trace.as_deref(), Some("at main"));
    assert_eq!(back.attributes, [KeyValue::new("a", 1)]);
}

#[test]
fn an_invalid_trace_state_is_dropped_and_the_span_kept() {
    let mut span = span();
    span.trace_state = TraceState::from_header("a=1").unwrap();
    let back = decoded_after(&span, |s| s.trace_state = "UPPER=1".into());
    assert_eq!(back.trace_state, TraceState::EMPTY);
    assert_eq!(back.name, "op");
}

#[test]
fn remote_parent_needs_both_flag_bits() {
    let mut span = span();
    span.parent_span_id = Some(SpanId(9));
    span.parent_is_remote = true;
    assert!(round_trip(&span).parent_is_remote);
    assert!(decoded_after(&span, |s| s.flags = 0x301).parent_is_remote);
    assert!(!decoded_after(&span, |s| s.flags = 0x200).parent_is_remote);
    assert!(!decoded_after(&span, |s| s.flags = 0x101).parent_is_remote);
}

#[test]
fn link_types_travel_as_an_attribute() {
    let mut span = span();
    let link = Link {
        trace_id: TraceId(1),
        span_id: SpanId(2),
        trace_state: TraceState::from_header("v=1").unwrap(),
        link_type: LinkType::Unspecified,
        attributes: vec![KeyValue::new("k", "v")],
        dropped_attributes_count: 3,
    };
    for link_type in [
        LinkType::Unspecified,
        LinkType::ChildLinkedSpan,
        LinkType::ParentLinkedSpan,
    ] {
        span.links = vec![Link {
            link_type,
            ..link.clone()
        }];
        assert_eq!(round_trip(&span), span);
    }
    let request = to_request(&[span]);
    let attributes = &request.resource_spans[0].scope_spans[0].spans[0].links[0].attributes;
    assert_eq!(attributes.len(), 2);
    assert_eq!(attributes[1].key, "threadline.link_type");
}

#[test]
fn dropped_event_counts_are_split_again() {
    let mut span = span();
    span.dropped.annotations = 2;
    span.dropped.message_events = 5;
    let request = to_request(std::slice::from_ref(&span));
    assert_eq!(
        request.resource_spans[0].scope_spans[0].spans[0].dropped_events_count,
        7
    );
    assert_eq!(round_trip(&span), span);
    // From a peer that knows nothing of message events, all dropped events are annotations.
    let back = decoded_after(&span, |s| s.attributes.clear());
    assert_eq!(
        (back.dropped.annotations, back.dropped.message_events),
        (7, 0)
    );
}

#[test]
fn spans_are_grouped_by_resource_and_scope_and_share_a_resource_on_decode() {
    let frontend = Arc::new(Resource::new("frontend"));
    let backend = Arc::new(Resource::new("backend"));
    let mut spans = Vec::new();
    for (i, (resource, scope)) in [
        (&frontend, "http"),
        (&backend, "db"),
        (&frontend, "db"),
        (&frontend, "http"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut span = SpanData::new(TraceId(1), SpanId(i as u64 + 1), format!("s{i}"));
        // an equal resource in another Arc still joins the group
        span.resource = if i == 3 {
            Arc::new((**resource).clone())
        } else {
            Arc::clone(resource)
        };
        span.scope = scope.into();
        spans.push(span);
    }
    let request = to_request(&spans);
    assert_eq!(request.resource_spans.len(), 2);
    assert_eq!(request.resource_spans[0].scope_spans.len(), 2);
    let decoded = proto::decode(&proto::encode(&spans)).unwrap();
    let names: Vec<&str> = decoded.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["s0", "s3", "s2", "s1"]);
    assert!(Arc::ptr_eq(&decoded[0].resource, &decoded[2].resource));
    assert!(!Arc::ptr_eq(&decoded[0].resource, &decoded[3].resource));
    assert_eq!(decoded[3].resource.service_name, "backend");
}

#[test]
fn a_repeated_key_keeps_its_first_position_and_last_value_in_every_batch() {
    let mut span = span();
    span.attributes = vec![
        KeyValue::new("repeated.key", 1_i64),
        KeyValue::new("other.key", "x"),
        KeyValue::new("repeated.key", 2_i64),
        KeyValue::new("repeated.key", "last"),
    ];
    let body = proto::encode(std::slice::from_ref(&span));
    // the first batches meet the keys for the first time, later ones find them interned
    for _ in 0..3 {
        let decoded = proto::decode(&body).unwrap().remove(0);
        assert_eq!(
            decoded.attributes,
            [
                KeyValue::new("repeated.key", "last"),
                KeyValue::new("other.key", "x")
            ]
        );
    }
}

#[test]
fn attributes_that_move_between_positions_and_change_values_decode_exactly() {
    // from span to span, keys move to other positions, values change, and names and values
    // are equal to, a prefix of or longer than what the previous span had in that place
    let keys = ["a.key", "b.key", "c.key", "a.key.longer", "a"];
    let values = ["GET", "POST", "GET", "", "GETS"];
    let spans: Vec<SpanData> = (0..40_usize)
        .map(|i| {
            let mut span = SpanData::new(
                TraceId(7),
                SpanId(i as u64 + 1),
                ["get", "put", "gets"][i % 3],
            );
            span.attributes = (0..i % 5 + 1)
                .map(|j| {
                    KeyValue::new(
                        keys[(i + j) % keys.len()],
                        values[(i * 3 + j) % values.len()],
                    )
                })
                .collect();
            span
        })
        .collect();
    let body = proto::encode(&spans);
    // the first batches meet the strings for the first time, later ones find them interned
    for _ in 0..3 {
        assert_eq!(proto::decode(&body).unwrap(), spans);
    }
}

#[test]
fn an_attribute_value_given_twice_follows_prost() {
    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }
    // a request of one span whose one attribute's `AnyValue` holds `members`
    let body = |members: &[u8]| {
        let attribute = [field(1, b"k"), field(2, members)].concat();
        let span = [
            field(1, &[1; 16]),
            field(2, &[2; 8]),
            field(5, b"op"),
            field(9, &attribute),
        ]
        .concat();
        field(1, &field(2, &field(2, &span)))
    };
    // the last member wins
    let string_then_int = [field(1, b"text"), vec![3 << 3, 7]].concat();
    let decoded = proto::decode(&body(&string_then_int)).unwrap();
    assert_eq!(decoded[0].attributes, [KeyValue::new("k", 7_i64)]);
    let int_then_string = [vec![3 << 3, 7], field(1, b"text")].concat();
    let decoded = proto::decode(&body(&int_then_string)).unwrap();
    assert_eq!(decoded[0].attributes, [KeyValue::new("k", "text")]);
    // every member is checked, the overwritten one too
    let bad_string_then_int = [field(1, b"\xff"), vec![3 << 3, 7]].concat();
    let error = proto::decode(&body(&bad_string_then_int)).unwrap_err();
    assert!(error.to_string().contains("UTF-8"), "{error}");
}

//! Bad OTLP input: each malformed body, resource or span gives an error that names what was
//! wrong, valid spans around it are kept, and nothing panics.

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message as _;
use threadline::{SpanData, SpanId, TraceId};
use threadline_wire::otlp::{self, json, proto};

const TRACE: &str = "5b8efff798038103d269b633813fc60c";
const SPAN: &str = "eee19b7ec3c1b174";

/// A one-span JSON request whose span has `fields` besides a valid id pair.
fn json_span_error(fields: &str) -> String {
    let body = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{TRACE}","spanId":"{SPAN}",{fields}}}]}}]}}]}}"#
    );
    json::decode(body.as_bytes()).unwrap_err().to_string()
}

fn json_error(body: &[u8]) -> String {
    json::decode(body).unwrap_err().to_string()
}

#[test]
fn json_body_errors() {
    assert_eq!(
        json_error(b""),
        "body is not valid JSON: EOF while parsing a value at line 1 column 0"
    );
    assert_eq!(
        json_error(b"[]"),
        "body is an array, expected an ExportTraceServiceRequest object"
    );
    assert_eq!(
        json_error(br#"{"resourceSpans":{}}"#),
        "resourceSpans is an object, expected an array"
    );
    assert_eq!(
        json_error(br#"{"resourceSpans":[7]}"#),
        "resourceSpans[0] is a number, expected an object"
    );
    assert_eq!(
        json_error(br#"{"resourceSpans":[{"scopeSpans":[{"spans":{}}]}]}"#),
        "resourceSpans[0].scopeSpans[0].spans is an object, expected an array"
    );
    assert_eq!(
        json_error(br#"{"resourceSpans":[{"scopeSpans":[{"scope":{"name":1},"spans":[]}]}]}"#),
        "resourceSpans[0].scopeSpans[0].scope.name is a number, expected a string"
    );
    assert_eq!(
        json_error(
            br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"intValue":"x"}}]}}]}"#
        ),
        r#"resourceSpans[0].resource.attributes[0].value.intValue "x" is not a 64-bit integer"#
    );
    assert_eq!(
        json_error(b"{\"resourceSpans\":[],\"x\":\"\xff\"}"),
        "body is not valid UTF-8: invalid byte at offset 25"
    );
    let deep = "[".repeat(100_000);
    assert!(json_error(deep.as_bytes()).contains("recursion limit exceeded"));
    // Empty requests, unknown fields and nulls are fine.
    for ok in [
        &br#"{}"#[..],
        br#"{"resourceSpans":null}"#,
        br#"{"resourceSpans":[{"resource":null,"scopeSpans":[{"spans":[]}],"extra":1}]}"#,
    ] {
        assert!(json::decode(ok).unwrap().is_empty());
    }
}

#[test]
fn json_span_errors_name_the_field_and_the_value() {
    let cases = [
        (
            r#""traceId":"xyz""#,
            r#"span 0: traceId "xyz" is not 32 hex digits"#,
        ),
        (
            r#""traceId":"W4787/eYA4EDSbYzOBP8YA==""#,
            r#"span 0: traceId "W4787/eYA4EDSbYzOBP8YA==" is not 32 hex digits"#,
        ),
        (
            r#""traceId":"00000000000000000000000000000000""#,
            r#"span 0: traceId "00000000000000000000000000000000" is all zeros"#,
        ),
        (r#""traceId":"""#, "span 0: traceId is missing"),
        (
            r#""traceId":12"#,
            "span 0: traceId is a number, expected a string",
        ),
        (
            r#""spanId":"0000000000000000""#,
            r#"span 0: spanId "0000000000000000" is all zeros"#,
        ),
        (
            r#""parentSpanId":"é52bff9a74ca9ad""#,
            r#"span 0: parentSpanId "é52bff9a74ca9ad" is not 16 hex digits"#,
        ),
        (r#""kind":9"#, "span 0: kind 9 is not a known span kind"),
        (
            r#""kind":"SIDEWAYS""#,
            r#"span 0: kind "SIDEWAYS" is not a known span kind"#,
        ),
        (
            r#""kind":true"#,
            "span 0: kind is a boolean, expected an integer",
        ),
        (
            r#""name":["a"]"#,
            "span 0: name is an array, expected a string",
        ),
        (
            r#""startTimeUnixNano":"-5""#,
            r#"span 0: startTimeUnixNano "-5" is not a decimal integer"#,
        ),
        (
            r#""startTimeUnixNano":1.5"#,
            "span 0: startTimeUnixNano 1.5 is not a whole number",
        ),
        (
            r#""endTimeUnixNano":"18446744073709551616""#,
            r#"span 0: endTimeUnixNano "18446744073709551616" is out of range"#,
        ),
        (
            r#""droppedAttributesCount":4294967296"#,
            "span 0: droppedAttributesCount 4294967296 is out of range",
        ),
        (r#""flags":-1"#, "span 0: flags -1 is out of range"),
        (
            r#""attributes":{}"#,
            "span 0: attributes is an object, expected an array",
        ),
        (
            r#""attributes":[{"key":"a","value":{"boolValue":"yes"}}]"#,
            "span 0: attributes[0].value.boolValue is a string, expected a boolean",
        ),
        (
            r#""attributes":[{"key":"a","value":{"doubleValue":"lots"}}]"#,
            r#"span 0: attributes[0].value.doubleValue "lots" is not a number"#,
        ),
        (
            r#""attributes":[{"key":"a","value":{"bytesValue":"a!"}}]"#,
            r#"span 0: attributes[0].value.bytesValue "a!" is not base64"#,
        ),
        (
            r#""attributes":[{"key":"a","value":{"arrayValue":{"values":[{"intValue":1.5}]}}}]"#,
            "span 0: attributes[0].value.arrayValue.values[0].intValue 1.5 is not a 64-bit integer",
        ),
        (
            r#""attributes":[{"key":"a","value":{"stringValueStrindex":3}}]"#,
            "span 0: attributes[0].value.stringValueStrindex 3 is not allowed outside profiles",
        ),
        (
            r#""events":[{"timeUnixNano":"1","attributes":[7]}]"#,
            "span 0: events[0].attributes[0] is a number, expected an object",
        ),
        (
            r#""links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"00"}]"#,
            r#"span 0: links[0].spanId "00" is not 16 hex digits"#,
        ),
        (
            r#""links":[{"traceId":"5b8efff798038103d269b633813fc60c"}]"#,
            "span 0: links[0].spanId is missing",
        ),
        (
            r#""status":{"code":7}"#,
            "span 0: status.code 7 is not a known status code",
        ),
        (
            r#""status":{"code":"STATUS_CODE_MAYBE"}"#,
            r#"span 0: status.code "STATUS_CODE_MAYBE" is not a known status code"#,
        ),
    ];
    for (fields, expected) in cases {
        assert_eq!(json_span_error(fields), expected, "{fields}");
    }
}

#[test]
fn a_huge_bad_value_is_shortened_in_the_message() {
    let message = json_span_error(&format!(r#""parentSpanId":"{}""#, "z".repeat(10_000)));
    assert_eq!(
        message,
        format!(
            r#"span 0: parentSpanId "{}"... is not 16 hex digits"#,
            "z".repeat(40)
        )
    );
}

#[test]
fn json_bad_spans_and_resources_are_rejected_alone() {
    let good = format!(r#"{{"traceId":"{TRACE}","spanId":"{SPAN}","name":"ok"}}"#);
    let body = format!(
        r#"{{"resourceSpans":[
            {{"scopeSpans":[{{"spans":[{good},{{"traceId":"{TRACE}","spanId":"zz"}}]}}]}},
            {{"resource":{{"attributes":[{{"key":"k","value":{{"boolValue":1}}}}]}},"scopeSpans":[{{"spans":[{good},{good}]}}]}},
            {{"scopeSpans":[{{"spans":[{good},7]}}]}}
        ]}}"#
    );
    let decoded = json::decode_lenient(body.as_bytes());
    assert_eq!(decoded.spans.len(), 2);
    let errors: Vec<String> = decoded.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            r#"span 1: spanId "zz" is not 16 hex digits"#,
            "resourceSpans[1].resource.attributes[0].value.boolValue is a number, expected a boolean",
            // spans 2 and 3 went with their resource
            "span 5: the span is a number, expected an object",
        ]
    );
}

/// Raw protobuf: a length-delimited field.
fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![(number << 3) | 2, u8::try_from(bytes.len()).unwrap()];
    out.extend_from_slice(bytes);
    out
}

/// A request of one span made of raw fields.
fn proto_body(span_fields: &[u8]) -> Vec<u8> {
    field(1, &field(2, &field(2, span_fields)))
}

fn proto_error(body: &[u8]) -> String {
    proto::decode(body).unwrap_err().to_string()
}

#[test]
fn proto_span_errors_name_the_field() {
    let trace = field(1, &[7; 16]);
    let id = field(2, &[9; 8]);
    let valid = [trace.clone(), id.clone()].concat();
    assert_eq!(proto::decode(&proto_body(&valid)).unwrap().len(), 1);

    let cases: [(Vec<u8>, &str); 10] = [
        (id.clone(), "span 0: trace_id is missing"),
        (
            [field(1, &[1, 2, 3, 4, 5, 6, 7, 8]), id.clone()].concat(),
            "span 0: trace_id 0x0102030405060708 is not 16 bytes",
        ),
        (
            [field(1, &[0; 16]), id.clone()].concat(),
            "span 0: trace_id 0x00000000000000000000000000000000 is all zeros",
        ),
        (trace.clone(), "span 0: span_id is missing"),
        (
            [trace.clone(), field(2, &[0; 8])].concat(),
            "span 0: span_id 0x0000000000000000 is all zeros",
        ),
        (
            [valid.clone(), field(4, &[1; 3])].concat(),
            "span 0: parent_span_id 0x010101 is not 8 bytes",
        ),
        (
            [valid.clone(), vec![0x30, 9]].concat(),
            "span 0: kind 9 is not a known span kind",
        ),
        (
            [valid.clone(), field(5, &[0xff])].concat(),
            "span 0: Span.name: invalid string value: data is not UTF-8 encoded",
        ),
        (
            [valid.clone(), field(15, &[0x18, 7])].concat(),
            "span 0: status.code 7 is not a known status code",
        ),
        (
            // attribute "a" = { string_value_strindex: 3 }
            [
                valid.clone(),
                field(9, &[field(1, b"a"), field(2, &[0x40, 3])].concat()),
            ]
            .concat(),
            "span 0: attributes[0].value.string_value_strindex 3 is not allowed outside profiles",
        ),
    ];
    for (fields, expected) in cases {
        assert_eq!(proto_error(&proto_body(&fields)), expected);
    }

    // Unknown fields are skipped, an all-zero parent is a root, an empty value is left out.
    let lenient = [
        valid.clone(),
        vec![0xf8, 0x01, 1],
        field(4, &[0; 8]),
        field(9, &field(1, b"empty")),
    ]
    .concat();
    let span = proto::decode(&proto_body(&lenient)).unwrap().remove(0);
    assert_eq!(span.parent_span_id, None);
    assert!(span.attributes.is_empty());
}

#[test]
fn proto_bad_spans_and_resources_are_rejected_alone() {
    let spans = [
        SpanData::new(TraceId(1), SpanId(1), "a"),
        SpanData::new(TraceId(1), SpanId(2), "b"),
    ];
    let mut request = otlp::to_request(&spans);
    request.resource_spans[0].scope_spans[0].spans[0].span_id = vec![1];
    let mut bad_resource = request.resource_spans[0].clone();
    bad_resource.resource.as_mut().unwrap().attributes.push(
        opentelemetry_proto::tonic::common::v1::KeyValue {
            key: "k".into(),
            value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(
                    opentelemetry_proto::tonic::common::v1::any_value::Value::StringValueStrindex(
                        1,
                    ),
                ),
            }),
            ..Default::default()
        },
    );
    request.resource_spans.push(bad_resource);
    request
        .resource_spans
        .push(request.resource_spans[0].clone());
    let decoded = proto::decode_lenient(&request.encode_to_vec());
    let names: Vec<&str> = decoded.spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["b", "b"]);
    let errors: Vec<String> = decoded.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "span 0: span_id 0x01 is not 8 bytes",
            "resource_spans[1].resource.attributes[0].value.string_value_strindex 1 is not allowed outside profiles",
            "span 4: span_id 0x01 is not 8 bytes",
        ]
    );
    // The same through the message itself.
    let from_request = otlp::from_request(request);
    let errors: Vec<String> = from_request
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors[1], "resource_spans[1].resource.attributes[0].value.string_value_strindex 1 is not allowed outside profiles");
    assert_eq!(from_request.spans.len(), 2);
}

#[test]
fn proto_framing_errors_keep_the_groups_before_them() {
    let good = proto::encode(&[SpanData::new(TraceId(1), SpanId(2), "ok")]);
    let cases: [(Vec<u8>, usize, &str); 7] = [
        (
            vec![0x0a, 0x05, 0x00],
            0,
            "a field runs past the end of the body",
        ),
        (vec![0x0a], 0, "a varint runs past the end of the body"),
        (
            vec![0x08, 0x01],
            0,
            "resource_spans (field 1) is not length-delimited",
        ),
        (vec![0x13], 0, "groups are not supported"),
        (vec![0x00], 0, "a field number is out of range"),
        (
            field(1, &[0x10, 0x01]),
            2,
            "scope_spans (field 2) is not length-delimited",
        ),
        (
            field(1, &field(2, &[0x12, 0x09])),
            4,
            "a field runs past the end of the body",
        ),
    ];
    for (tail, at, expected) in cases {
        let body = [&good[..], &tail].concat();
        let decoded = proto::decode_lenient(&body);
        assert_eq!(decoded.spans.len(), 1, "{expected}");
        assert_eq!(decoded.errors.len(), 1);
        assert_eq!(
            decoded.errors[0].to_string(),
            format!(
                "body is not an ExportTraceServiceRequest message: {expected} at byte {}",
                good.len() + at
            )
        );
    }
    // Unknown top-level fields are skipped.
    let body = [&[0x10, 0x01, 0x1d, 1, 2, 3, 4][..], &good[..]].concat();
    assert_eq!(proto::decode(&body).unwrap().len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(body in vec(any::<u8>(), 0..256)) {
        let _ = json::decode_lenient(&body);
        let _ = proto::decode_lenient(&body);
        let _ = json::decode(&body);
        let _ = proto::decode(&body);
    }

    #[test]
    fn arbitrary_text_never_panics_the_json_decoder(body in "[\\[\\]{}\",:0-9a-zA-Z.eE+\\- ]{0,200}") {
        let _ = json::decode_lenient(body.as_bytes());
    }

    /// Protobuf-shaped noise: nested length-delimited fields around random bytes.
    #[test]
    fn nested_noise_never_panics_the_proto_decoder(noise in vec(any::<u8>(), 0..60), depth in 0usize..4) {
        let mut body = noise;
        for _ in 0..depth {
            if body.len() < 120 {
                body = field(if body.len() % 2 == 0 { 1 } else { 2 }, &body);
            }
        }
        let _ = proto::decode_lenient(&body);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A cut anywhere leaves a prefix of the batch (in OTLP's grouped order), never a wrong span.
    #[test]
    fn a_truncated_body_decodes_to_a_prefix_of_the_batch(spans in vec(common::span(), 1..4), cut in any::<prop::sample::Index>()) {
        let complete = proto::decode(&proto::encode(&spans)).unwrap();
        for (is_json, body) in [(true, json::encode(&spans)), (false, proto::encode(&spans))] {
            let cut = cut.index(body.len());
            let decoded = if is_json {
                json::decode_lenient(&body[..cut]).spans
            } else {
                proto::decode_lenient(&body[..cut]).spans
            };
            prop_assert!(decoded.len() <= complete.len());
            prop_assert_eq!(format!("{:?}", &decoded[..]), format!("{:?}", &complete[..decoded.len()]));
        }
    }

    /// Flipped bytes in a valid body are rejected or decoded, never a panic.
    #[test]
    fn corrupted_bodies_never_panic(spans in vec(common::span(), 1..3), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        for mut body in [json::encode(&spans), proto::encode(&spans)] {
            for (at, byte) in &flips {
                let at = at.index(body.len());
                body[at] = *byte;
            }
            let _ = json::decode_lenient(&body);
            let _ = proto::decode_lenient(&body);
        }
    }
}

/// Spans compared through `Debug`: NaN equals NaN (a mutated double may be NaN).
fn debug_text(spans: &[SpanData]) -> String {
    format!("{spans:?}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The protobuf decoder reads common spans directly and leaves the rest to prost: whatever
    /// bytes are changed in a valid body, when prost reads the request it agrees with the
    /// decoder on every span and every error message.
    #[test]
    fn the_direct_reader_agrees_with_prost_on_mutated_bodies(
        spans in vec(common::span(), 1..4),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut body = proto::encode(&spans);
        for (at, byte) in edits {
            let i = at.index(body.len());
            body[i] = byte;
        }
        let decoded = proto::decode_lenient(&body);
        if let Ok(request) = otlp::ExportTraceServiceRequest::decode(&body[..]) {
            let via_prost = otlp::from_request(request);
            prop_assert_eq!(debug_text(&decoded.spans), debug_text(&via_prost.spans));
            let ours: Vec<String> = decoded.errors.iter().map(ToString::to_string).collect();
            let prost: Vec<String> = via_prost.errors.iter().map(ToString::to_string).collect();
            prop_assert_eq!(ours, prost);
        }
    }
}

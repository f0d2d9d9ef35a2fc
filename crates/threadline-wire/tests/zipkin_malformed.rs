//! Bad input: each malformed body or span gives an error that names what was wrong, valid
//! spans around it are kept, and nothing panics.

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use threadline::{SpanData, SpanId, TraceId};
use threadline_wire::zipkin::{json, proto};

const GOOD: &str = r#"{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2","name":"ok"}"#;

/// The error for a one-span JSON body whose span has `fields` besides a valid id pair.
fn json_span_error(fields: &str) -> String {
    let body = format!(r#"[{{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2",{fields}}}]"#);
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
        json_error(br#"{"traceId":"5af7183fb1d4cf5f"}"#),
        "body is an object, expected a JSON array of spans"
    );
    assert_eq!(
        json_error(b"null"),
        "body is null, expected a JSON array of spans"
    );
    assert_eq!(
        json_error(b"[] []"),
        "body is not valid JSON: trailing characters at line 1 column 4"
    );
    let not_utf8 =
        b"[{\"traceId\":\"5af7183fb1d4cf5f\",\"id\":\"352bff9a74ca9ad2\",\"name\":\"\xff\"}]";
    assert_eq!(
        json_error(not_utf8),
        "body is not valid UTF-8: invalid byte at offset 63"
    );
    // Deep nesting hits the parser's recursion limit instead of the stack's.
    let deep = "[".repeat(100_000);
    assert!(json_error(deep.as_bytes()).contains("recursion limit exceeded"));
}

#[test]
fn json_span_errors_name_the_field_and_the_value() {
    let cases = [
        (
            r#""traceId":"xyz""#,
            r#"span 0: traceId "xyz" is not 16 or 32 hex digits"#,
        ),
        (
            r#""traceId":"5af7183fb1d4cf5g""#,
            r#"span 0: traceId "5af7183fb1d4cf5g" is not 16 or 32 hex digits"#,
        ),
        (
            r#""traceId":"00000000000000000000000000000000""#,
            r#"span 0: traceId "00000000000000000000000000000000" is all zeros"#,
        ),
        (
            r#""traceId":12"#,
            "span 0: traceId is a number, expected a string",
        ),
        (
            r#""id":"0000000000000000""#,
            r#"span 0: id "0000000000000000" is all zeros"#,
        ),
        (
            r#""id":"352bff9a74ca9ad""#,
            r#"span 0: id "352bff9a74ca9ad" is not 16 hex digits"#,
        ),
        (
            r#""parentId":"é52bff9a74ca9ad""#,
            r#"span 0: parentId "é52bff9a74ca9ad" is not 16 hex digits"#,
        ),
        (
            r#""kind":"SIDEWAYS""#,
            r#"span 0: kind "SIDEWAYS" is not CLIENT, SERVER, PRODUCER or CONSUMER"#,
        ),
        (r#""kind":1"#, "span 0: kind is a number, expected a string"),
        (
            r#""name":["a"]"#,
            "span 0: name is an array, expected a string",
        ),
        (
            r#""timestamp":"1556604172355737""#,
            "span 0: timestamp is a string, expected an integer",
        ),
        (r#""timestamp":-5"#, "span 0: timestamp -5 is negative"),
        (
            r#""timestamp":1.5"#,
            "span 0: timestamp 1.5 is not a whole number of microseconds",
        ),
        (
            r#""timestamp":1e30"#,
            "span 0: timestamp 1e+30 is out of range",
        ),
        (
            r#""timestamp":99999999999999999999"#,
            "span 0: timestamp 1e+20 is out of range",
        ),
        (
            r#""timestamp":18446744073709551615"#,
            "span 0: timestamp 18446744073709551615 is out of range",
        ),
        (
            r#""timestamp":1556604172355737,"duration":18446744073709551"#,
            "span 0: duration 18446744073709551 is out of range",
        ),
        (
            r#""localEndpoint":"frontend""#,
            "span 0: localEndpoint is a string, expected an object",
        ),
        (
            r#""localEndpoint":{"serviceName":7}"#,
            "span 0: localEndpoint.serviceName is a number, expected a string",
        ),
        (
            r#""remoteEndpoint":{"port":70000}"#,
            "span 0: remoteEndpoint.port 70000 is not a port number",
        ),
        (
            r#""remoteEndpoint":{"port":-1}"#,
            "span 0: remoteEndpoint.port -1 is not a port number",
        ),
        (
            r#""annotations":{}"#,
            "span 0: annotations is an object, expected an array",
        ),
        (
            r#""annotations":[7]"#,
            "span 0: annotations[0] is a number, expected an object",
        ),
        (
            r#""annotations":[{"value":"a"}]"#,
            "span 0: annotations[0].timestamp is missing",
        ),
        (
            r#""annotations":[{"timestamp":1,"value":"a"},{"timestamp":2}]"#,
            "span 0: annotations[1].value is missing",
        ),
        (
            r#""annotations":[{"timestamp":1,"value":5}]"#,
            "span 0: annotations[0].value is a number, expected a string",
        ),
        (
            r#""annotations":[{"timestamp":18446744073709551615,"value":"a"}]"#,
            "span 0: annotations[0].timestamp 18446744073709551615 is out of range",
        ),
        (
            r#""tags":["a"]"#,
            "span 0: tags is an array, expected an object",
        ),
        (
            r#""debug":"yes""#,
            "span 0: debug is a string, expected a boolean",
        ),
    ];
    for (fields, expected) in cases {
        assert_eq!(json_span_error(fields), expected, "{fields}");
    }
    assert_eq!(
        json_error(b"[42]"),
        "span 0: the span is a number, expected an object"
    );
    assert_eq!(
        json_error(br#"[{"id":"352bff9a74ca9ad2"}]"#),
        "span 0: traceId is missing"
    );
}

#[test]
fn a_huge_bad_value_is_shortened_in_the_message() {
    let message = json_span_error(&format!(r#""parentId":"{}""#, "z".repeat(10_000)));
    assert_eq!(
        message,
        format!(
            r#"span 0: parentId "{}"... is not 16 hex digits"#,
            "z".repeat(40)
        )
    );
}

#[test]
fn json_bad_spans_are_rejected_alone() {
    let body =
        format!(r#"[{GOOD},{{"traceId":"5af7183fb1d4cf5f","id":"zz"}},{GOOD},{{"traceId":1}}]"#);
    let decoded = json::decode_lenient(body.as_bytes());
    assert_eq!(decoded.spans.len(), 2);
    let errors: Vec<String> = decoded.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            r#"span 1: id "zz" is not 16 hex digits"#,
            "span 3: traceId is a number, expected a string",
        ]
    );
    assert_eq!(
        json::decode(body.as_bytes()).unwrap_err().to_string(),
        errors[0]
    );
}

#[test]
fn truncated_json_keeps_the_spans_before_the_cut() {
    let body = format!("[{GOOD},{GOOD},{GOOD}]");
    let cut = &body.as_bytes()[..body.len() - 10];
    let decoded = json::decode_lenient(cut);
    assert_eq!(decoded.spans.len(), 2);
    assert_eq!(decoded.errors.len(), 1);
    assert_eq!(
        decoded.errors[0].to_string(),
        format!(
            "body is not valid JSON: EOF while parsing a string at line 1 column {}",
            cut.len()
        )
    );
}

/// A proto body of one span made of raw fields.
fn proto_body(span_fields: &[u8]) -> Vec<u8> {
    let mut body = vec![0x0a, u8::try_from(span_fields.len()).unwrap()];
    body.extend_from_slice(span_fields);
    body
}

fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![(number << 3) | 2, u8::try_from(bytes.len()).unwrap()];
    out.extend_from_slice(bytes);
    out
}

fn proto_error(body: &[u8]) -> String {
    proto::decode(body).unwrap_err().to_string()
}

#[test]
fn proto_span_errors_name_the_field() {
    let trace = field(1, &[7; 16]);
    let id = field(3, &[9; 8]);
    let valid = [trace.clone(), id.clone()].concat();
    assert_eq!(proto::decode(&proto_body(&valid)).unwrap().len(), 1);

    let cases: [(Vec<u8>, &str); 9] = [
        (id.clone(), "span 0: trace_id is missing"),
        (
            [field(1, &[1, 2, 3, 4, 5]), id.clone()].concat(),
            "span 0: trace_id 0x0102030405 is not 8 or 16 bytes",
        ),
        (
            [field(1, &[0; 8]), id.clone()].concat(),
            "span 0: trace_id 0x0000000000000000 is all zeros",
        ),
        (trace.clone(), "span 0: id is missing"),
        (
            [trace.clone(), field(3, &[0; 8])].concat(),
            "span 0: id 0x0000000000000000 is all zeros",
        ),
        (
            [valid.clone(), field(2, &[1; 3])].concat(),
            "span 0: parent_id 0x010101 is not 8 bytes",
        ),
        (
            [valid.clone(), vec![0x20, 9]].concat(),
            "span 0: kind 9 is not a known span kind",
        ),
        (
            [valid.clone(), field(5, &[0xff])].concat(),
            "span 0: Span.name: invalid string value: data is not UTF-8 encoded",
        ),
        (
            [
                valid.clone(),
                field(
                    8,
                    &[
                        0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                    ],
                ),
            ]
            .concat(),
            "span 0: local_endpoint.port -1 is not a port number",
        ),
    ];
    for (fields, expected) in cases {
        assert_eq!(proto_error(&proto_body(&fields)), expected);
    }

    // 64-bit trace ids, unknown fields and wrong-sized addresses are accepted.
    let lenient = [
        field(1, &[7; 8]),
        id,
        vec![0x78, 1],
        field(8, &field(2, &[1, 2, 3])),
    ]
    .concat();
    let span = proto::decode(&proto_body(&lenient)).unwrap().remove(0);
    assert_eq!(span.trace_id, TraceId(0x0707_0707_0707_0707));
}

#[test]
fn proto_framing_errors_keep_the_spans_before_them() {
    let good = proto::encode(&[SpanData::new(TraceId(1), SpanId(2), "ok")]);
    let cases: [(Vec<u8>, &str); 5] = [
        (
            [&good[..], &[0x0a, 0x05, 0x00]].concat(),
            "a field runs past the end of the body",
        ),
        (
            [&good[..], &[0x0a]].concat(),
            "a varint runs past the end of the body",
        ),
        (
            [&good[..], &[0x08, 0x01]].concat(),
            "spans (field 1) is not length-delimited",
        ),
        ([&good[..], &[0x13]].concat(), "groups are not supported"),
        (
            [&good[..], &[0x00]].concat(),
            "a field number is out of range",
        ),
    ];
    for (body, expected) in cases {
        let decoded = proto::decode_lenient(&body);
        assert_eq!(decoded.spans.len(), 1);
        assert_eq!(decoded.errors.len(), 1);
        assert_eq!(
            decoded.errors[0].to_string(),
            format!(
                "body is not a ListOfSpans message: {expected} at byte {}",
                good.len()
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
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A cut anywhere leaves a prefix of the batch, never a wrong span.
    #[test]
    fn a_truncated_body_decodes_to_a_prefix_of_the_batch(spans in vec(common::span(), 1..4), cut in any::<prop::sample::Index>()) {
        let expected: Vec<SpanData> = spans.iter().map(common::normalized).collect();
        for body in [json::encode(&spans), proto::encode(&spans)] {
            let cut = cut.index(body.len());
            let spans = match body.first() {
                Some(b'[') => json::decode_lenient(&body[..cut]).spans,
                _ => proto::decode_lenient(&body[..cut]).spans,
            };
            prop_assert!(spans.len() <= expected.len());
            prop_assert_eq!(&spans[..], &expected[..spans.len()]);
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

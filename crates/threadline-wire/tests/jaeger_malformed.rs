//! Bad Jaeger thrift input: each malformed message, batch or span gives an error that names
//! what was wrong, valid spans around it are kept, and nothing panics.

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use threadline::{SpanData, SpanId, TraceId, Value};
use threadline_wire::jaeger::{binary, compact};

/// The compact emitBatch header and the start of the args struct and the Batch.
const COMPACT_HEADER: &[u8] = b"\x82\x81\x00\x09emitBatch\x1c";
/// A Batch's process field: serviceName "s".
const COMPACT_PROCESS: &[u8] = &[0x1c, 0x18, 0x01, b's', 0x00];

/// A compact emitBatch with one span whose fields are `span` (without the stop byte).
fn compact_span(span: &[u8]) -> Vec<u8> {
    [
        COMPACT_HEADER,
        COMPACT_PROCESS,
        &[0x19, 0x1c],
        span,
        &[0x00, 0x00, 0x00],
    ]
    .concat()
}

/// The valid span fields of the golden test: ids 1, 0, 2, 0, name "o", flags 1, times 3 and 4.
const VALID_SPAN: &[u8] = &[
    0x16, 0x02, 0x16, 0x00, 0x16, 0x04, 0x16, 0x00, 0x18, 0x01, b'o', 0x25, 0x02, 0x16, 0x06, 0x16,
    0x08,
];

fn compact_error(body: &[u8]) -> String {
    compact::decode_emit_batch(body).unwrap_err().to_string()
}

fn binary_error(body: &[u8]) -> String {
    binary::decode_batch(body).unwrap_err().to_string()
}

#[test]
fn the_valid_span_decodes() {
    let spans = compact::decode_emit_batch(&compact_span(VALID_SPAN)).unwrap();
    assert_eq!(spans[0].name, "o");
}

#[test]
fn compact_envelope_errors() {
    assert_eq!(
        compact_error(b""),
        "body is not a Thrift compact emitBatch message: the body ends inside the message header at byte 0"
    );
    assert_eq!(
        compact_error(b"\x80\x01"),
        "body is not a Thrift compact emitBatch message: protocol id 0x80 is not the compact protocol's 0x82 at byte 0"
    );
    assert_eq!(
        compact_error(b"\x82\x82\x00"),
        "body is not a Thrift compact emitBatch message: compact protocol version 2 is not 1 at byte 1"
    );
    assert_eq!(
        compact_error(b"\x82\x81\x00\x09emitZipki\x00"),
        r#"method name "emitZipki" is not emitBatch"#
    );
    assert_eq!(
        compact_error(b"\x82\x41\x00\x09emitBatch\x00"),
        "message type 2 is not CALL (1) or ONEWAY (4)"
    );
    assert_eq!(
        compact_error(b"\x82\x81\x00\x09emitBatch\x00"),
        "batch is missing"
    );
    assert_eq!(
        compact_error(b"\x82\x81\x00\x09emitBatch\x15\x02\x00"),
        "batch is an i32, expected a struct"
    );
    assert_eq!(
        compact_error(&[COMPACT_HEADER, &[0x00, 0x00]].concat()),
        "process is missing"
    );
    assert_eq!(
        compact_error(&[COMPACT_HEADER, COMPACT_PROCESS, &[0x00, 0x00]].concat()),
        "spans is missing"
    );
    assert_eq!(
        compact_error(&[COMPACT_HEADER, &[0x1c, 0x00, 0x00, 0x00]].concat()),
        "process.serviceName is missing"
    );
    assert_eq!(
        compact_error(
            &[
                COMPACT_HEADER,
                COMPACT_PROCESS,
                &[0x19, 0x15, 0x02, 0x00, 0x00]
            ]
            .concat()
        ),
        "spans is a list of i32, expected a list of structs"
    );
    // trailing bytes after a complete message
    let mut body = compact_span(VALID_SPAN);
    body.push(0x07);
    assert_eq!(
        compact_error(&body),
        format!(
            "body is not a Thrift compact emitBatch message: 1 bytes follow the end of the message at byte {}",
            body.len() - 1
        )
    );
}

#[test]
fn compact_span_errors_name_the_field() {
    let cases: [(&[u8], &str); 8] = [
        (
            &[&[0x06, 0x04, 0x00], &VALID_SPAN[4..]].concat(),
            "span 0: traceIdLow is missing",
        ),
        (
            &[&[0x18, 0x01, b'x'], &VALID_SPAN[2..]].concat(),
            "span 0: traceIdLow is a string, expected an i64",
        ),
        (
            &[&[0x16, 0x00], &VALID_SPAN[2..]].concat(),
            "span 0: traceIdLow 0 is zero and so is traceIdHigh",
        ),
        (
            &[&VALID_SPAN[..4], &[0x16, 0x00], &VALID_SPAN[6..]].concat(),
            "span 0: spanId 0 is zero",
        ),
        (
            &[&VALID_SPAN[..15], &[0x16, 0x01]].concat(),
            "span 0: duration -1 is negative",
        ),
        (
            &[&VALID_SPAN[..8], &[0x18, 0x01, 0xff], &VALID_SPAN[11..]].concat(),
            "span 0: operationName \"\u{fffd}\" is not valid UTF-8",
        ),
        // tags (field 10, delta 1 from 9): one Tag with key "k", vType 7
        (
            &[
                VALID_SPAN,
                &[0x19, 0x1c, 0x18, 0x01, b'k', 0x15, 0x0e, 0x00],
            ]
            .concat(),
            "span 0: tags[0].vType 7 is not a TagType (0 to 4)",
        ),
        // references (field 6 after field 5 needs the long form): refType 2
        (
            &[
                &VALID_SPAN[..11],
                &[0x19, 0x1c, 0x15, 0x04, 0x00],
                &VALID_SPAN[11..],
            ]
            .concat(),
            "span 0: references[0].refType 2 is not a SpanRefType (0 or 1)",
        ),
    ];
    for (span, expected) in cases {
        assert_eq!(compact_error(&compact_span(span)), expected, "{span:x?}");
    }
}

/// A tag without the value field of its type reads as that type's zero value, as Jaeger's
/// collector reads it (opencensus-python sends a `STRING` tag without `vStr`).
#[test]
fn a_tag_without_its_value_field_is_the_zero_value() {
    // tags: "s" STRING (0), "d" DOUBLE (1), "b" BOOL (2), "l" LONG (3), "x" BINARY (4), no value
    let mut tags = vec![0x19, 0x5c];
    for (key, v_type) in [
        (b's', 0x00),
        (b'd', 0x02),
        (b'b', 0x04),
        (b'l', 0x06),
        (b'x', 0x08),
    ] {
        tags.extend_from_slice(&[0x18, 0x01, key, 0x15, v_type, 0x00]);
    }
    let spans = compact::decode_emit_batch(&compact_span(&[VALID_SPAN, &tags].concat())).unwrap();
    let values: Vec<_> = spans[0]
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.clone()))
        .collect();
    assert_eq!(
        values,
        [
            ("s".to_string(), Value::from("")),
            ("d".to_string(), Value::F64(0.0)),
            ("b".to_string(), Value::Bool(false)),
            ("l".to_string(), Value::I64(0)),
            ("x".to_string(), Value::Bytes(Vec::new())),
        ]
    );
}

#[test]
fn compact_framing_errors() {
    let framing = |span: &[u8]| compact_error(&compact_span(span));
    // a string length larger than the body
    assert_eq!(
        framing(&[0x58, 0x7f]),
        "body is not a Thrift compact emitBatch message: a string of 127 bytes is longer than the 3 bytes left at byte 22"
    );
    // a list claiming 2^32-1 elements
    assert_eq!(
        framing(&[0xa9, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        "body is not a Thrift compact emitBatch message: a list of 4294967295 elements is longer than the 3 bytes left at byte 22"
    );
    // a varint that never ends
    assert_eq!(
        framing(&[0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        "body is not a Thrift compact emitBatch message: an i64 is a varint longer than 10 bytes at byte 22"
    );
    // unknown type nibble 13
    assert_eq!(
        framing(&[0x1d]),
        "body is not a Thrift compact emitBatch message: unknown type id 13 at byte 21"
    );
    // truncated in the middle of a double
    let body = [
        COMPACT_HEADER,
        COMPACT_PROCESS,
        &[0x19, 0x1c, 0xc7, 0x00, 0x00],
    ]
    .concat();
    assert_eq!(
        compact_error(&body),
        "body is not a Thrift compact emitBatch message: the body ends inside a double at byte 22"
    );
}

#[test]
fn nesting_bombs_stop_at_the_depth_limit() {
    // an unknown field 12 holding structs in structs, 100,000 deep
    let mut span = VALID_SPAN.to_vec();
    span.extend(std::iter::repeat_n(0xcc, 1).chain(std::iter::repeat_n(0x1c, 100_000)));
    let err = compact_error(&compact_span(&span));
    assert!(
        err.ends_with("structs and containers nest deeper than 64 levels at byte 99"),
        "{err}"
    );
    // lists of lists in the binary protocol
    let mut body = vec![0x0f, 0x00, 0x09];
    for _ in 0..10_000 {
        body.extend_from_slice(&[0x0f, 0x00, 0x00, 0x00, 0x01]);
    }
    let err = binary_error(&body);
    assert!(err.contains("nest deeper than 64 levels"), "{err}");
}

#[test]
fn unknown_fields_of_every_type_are_skipped() {
    // fields 20.. of the span: bool, byte, i16, double, set of i32, map<string,i64>, struct
    let unknown: &[u8] = &[
        0x01, 0x28, // field 20 (long form), bool true
        0x33, 0x7f, // field 23, byte
        0x14, 0x04, // field 24, i16 2
        0x17, 1, 2, 3, 4, 5, 6, 7, 8, // field 25, double
        0x1a, 0x25, 0x02, 0x04, // field 26, set of 2 i32
        0x1b, 0x01, 0x86, 0x01, b'a', 0x02, // field 27, map of 1 string -> i64
        0x1c, 0x15, 0x02, 0x00, // field 28, struct {1: i32}
        0x00, // an empty map as field 29 is written below
    ];
    let mut span = VALID_SPAN.to_vec();
    span.extend_from_slice(&unknown[..unknown.len() - 1]);
    span.extend_from_slice(&[0x1b, 0x00]); // field 29, empty map
    let spans = compact::decode_emit_batch(&compact_span(&span)).unwrap();
    assert_eq!(spans[0].name, "o");
}

#[test]
fn binary_errors() {
    assert_eq!(binary_error(b"\x00"), "process is missing");
    assert_eq!(
        binary_error(&[0x0b, 0x00, 0x01, 0xff, 0xff, 0xff, 0xfe]),
        "body is not a Thrift binary Batch: negative string length -2 at byte 3"
    );
    assert_eq!(
        binary_error(&[0x0f, 0x00, 0x02, 0x0c, 0xff, 0xff, 0xff, 0xff]),
        "body is not a Thrift binary Batch: negative list size -1 at byte 3"
    );
    assert_eq!(
        binary_error(&[0x01, 0x00, 0x02]),
        "body is not a Thrift binary Batch: unknown type id 1 at byte 0"
    );
    // a bad process and then the end of the body: both are reported
    let decoded =
        binary::decode_batch_lenient(&[0x0c, 0x00, 0x01, 0x08, 0x00, 0x01, 0, 0, 0, 1, 0x00]);
    let errors: Vec<String> = decoded.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "process.serviceName is an i32, expected a string",
            "body is not a Thrift binary Batch: the body ends inside a field header at byte 11"
        ]
    );
    assert_eq!(
        binary_error(&[0x0c, 0x00, 0x01, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]),
        "process.serviceName is an i32, expected a string"
    );
    assert_eq!(
        binary::decode_emit_batch(&[0x80, 0x02, 0x00, 0x04])
            .unwrap_err()
            .to_string(),
        "body is not a Thrift binary emitBatch message: binary protocol version 0x8002 is not 0x8001 at byte 0"
    );
}

#[test]
fn bad_spans_are_rejected_alone() {
    let good = [VALID_SPAN, &[0x00]].concat();
    let bad = [&[0x06, 0x04, 0x00], &VALID_SPAN[4..], &[0x00]].concat();
    let body = [
        COMPACT_HEADER,
        COMPACT_PROCESS,
        &[0x19, 0x3c],
        &good,
        &bad,
        &good,
        &[0x00, 0x00],
    ]
    .concat();
    let decoded = compact::decode_emit_batch_lenient(&body);
    assert_eq!(decoded.spans.len(), 2);
    assert_eq!(decoded.errors.len(), 1);
    assert_eq!(
        decoded.errors[0].to_string(),
        "span 1: traceIdLow is missing"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(body in vec(any::<u8>(), 0..256)) {
        let _ = compact::decode_emit_batch_lenient(&body);
        let _ = binary::decode_batch_lenient(&body);
        let _ = binary::decode_emit_batch_lenient(&body);
        let mut message = COMPACT_HEADER.to_vec();
        message.extend_from_slice(&body);
        let _ = compact::decode_emit_batch_lenient(&message);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A body cut anywhere gives a prefix of the batch and, unless nothing is missing, an error.
    #[test]
    fn a_truncated_body_decodes_to_a_prefix_of_the_batch(spans in vec(common::span(), 1..4), cut in any::<prop::sample::Index>()) {
        let spans: Vec<SpanData> = spans.into_iter().map(|mut s| { s.resource = Default::default(); s }).collect();
        for body in [compact::encode_emit_batch(&spans).remove(0), binary::encode_batch(&spans).remove(0)] {
            let at = cut.index(body.len());
            let full = if body[0] == 0x82 { compact::decode_emit_batch(&body) } else { binary::decode_batch(&body) }.unwrap();
            let decoded = if body[0] == 0x82 { compact::decode_emit_batch_lenient(&body[..at]) } else { binary::decode_batch_lenient(&body[..at]) };
            prop_assert!(!decoded.errors.is_empty());
            prop_assert_eq!(format!("{:?}", decoded.spans), format!("{:?}", &full[..decoded.spans.len()]));
        }
    }

    #[test]
    fn corrupted_bodies_never_panic(spans in vec(common::span(), 1..3), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        for mut body in [compact::encode_emit_batch(&spans).remove(0), binary::encode_batch(&spans).remove(0)] {
            for (at, byte) in &flips {
                let i = at.index(body.len());
                body[i] = *byte;
            }
            let _ = compact::decode_emit_batch_lenient(&body);
            let _ = binary::decode_batch_lenient(&body);
        }
    }
}

#[test]
fn ids_are_read_back_exactly() {
    let span = SpanData::new(TraceId(u128::MAX), SpanId(u64::MAX), "x");
    let body = &compact::encode_emit_batch(std::slice::from_ref(&span))[0];
    assert_eq!(compact::decode_emit_batch(body).unwrap(), vec![span]);
}

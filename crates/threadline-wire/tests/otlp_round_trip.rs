//! Property tests: a round trip through OTLP protobuf or JSON keeps everything, up to the one
//! documented normalization (spans come back grouped by resource, then scope).

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message as _;
use threadline::SpanData;
use threadline_wire::otlp::{self, json, proto};

/// The batch in the order OTLP gives it back: grouped by resource (equal value), then by scope,
/// each group in order of first appearance.
fn grouped(spans: &[SpanData]) -> Vec<SpanData> {
    let mut groups: Vec<Vec<Vec<SpanData>>> = Vec::new();
    let mut keys: Vec<(usize, Vec<String>)> = Vec::new();
    let mut resources = Vec::new();
    for span in spans {
        let r = match resources.iter().position(|r| *r == *span.resource) {
            Some(r) => r,
            None => {
                resources.push((*span.resource).clone());
                groups.push(Vec::new());
                keys.push((resources.len() - 1, Vec::new()));
                resources.len() - 1
            }
        };
        let scopes = &mut keys[r].1;
        let s = match scopes.iter().position(|s| *s == span.scope) {
            Some(s) => s,
            None => {
                scopes.push(span.scope.to_string());
                groups[r].push(Vec::new());
                scopes.len() - 1
            }
        };
        groups[r][s].push(span.clone());
    }
    groups.into_iter().flatten().flatten().collect()
}

/// Compared through `Debug`, where NaN equals NaN and -0.0 differs from 0.0: bit-exact floats.
fn same(a: &[SpanData], b: &[SpanData]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn proto_keeps_everything(spans in vec(common::span(), 0..5)) {
        let decoded = proto::decode(&proto::encode(&spans)).unwrap();
        let expected = grouped(&spans);
        prop_assert!(same(&decoded, &expected), "{:#?}\n!=\n{:#?}", decoded, expected);
    }

    #[test]
    fn json_keeps_everything(spans in vec(common::span(), 0..5)) {
        let decoded = json::decode(&json::encode(&spans)).unwrap();
        let expected = grouped(&spans);
        prop_assert!(same(&decoded, &expected), "{:#?}\n!=\n{:#?}", decoded, expected);
    }

    #[test]
    fn the_request_keeps_everything(spans in vec(common::span(), 0..5)) {
        let decoded = otlp::from_request(otlp::to_request(&spans)).into_result().unwrap();
        prop_assert!(same(&decoded, &grouped(&spans)));
    }

    /// A decoded batch encodes to the same bytes again: decoding loses nothing encoding wrote.
    #[test]
    fn encoding_a_decoded_batch_gives_the_same_bytes(spans in vec(common::span(), 0..5)) {
        let body = json::encode(&spans);
        prop_assert_eq!(json::encode(&json::decode(&body).unwrap()), body);
        let body = proto::encode(&spans);
        prop_assert_eq!(proto::encode(&proto::decode(&body).unwrap()), body);
    }

    /// JSON and protobuf are two spellings of one message.
    #[test]
    fn json_and_proto_agree(spans in vec(common::span(), 0..5)) {
        let via_json = json::decode(&json::encode(&spans)).unwrap();
        let via_proto = proto::decode(&proto::encode(&spans)).unwrap();
        prop_assert!(same(&via_json, &via_proto));
    }

    /// The protobuf bytes, written straight from the spans, are those prost writes for the
    /// message `to_request` builds, and decode to that message.
    #[test]
    fn proto_bytes_are_the_request_message(spans in common::batch()) {
        let request = otlp::to_request(&spans);
        let body = proto::encode(&spans);
        prop_assert_eq!(&body, &request.encode_to_vec());
        let decoded = otlp::ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        // through `Debug`, where NaN equals NaN
        prop_assert_eq!(format!("{decoded:?}"), format!("{request:?}"));
        let mut reused = vec![1, 2, 3];
        reused.clear();
        proto::encode_into(&spans, &mut reused);
        prop_assert_eq!(reused, body);
    }
}

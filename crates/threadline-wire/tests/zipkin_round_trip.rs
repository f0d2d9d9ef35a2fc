//! Property tests: a round trip through Zipkin JSON or proto keeps everything Zipkin can carry.

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use threadline_wire::zipkin::{json, proto};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_keeps_what_zipkin_can_carry(spans in vec(common::span(), 0..4)) {
        let decoded = json::decode(&json::encode(&spans));
        let expected: Vec<_> = spans.iter().map(common::normalized).collect();
        prop_assert_eq!(decoded.unwrap(), expected);
    }

    #[test]
    fn proto_keeps_what_zipkin_can_carry(spans in vec(common::span(), 0..4)) {
        let decoded = proto::decode(&proto::encode(&spans));
        let expected: Vec<_> = spans.iter().map(common::normalized).collect();
        prop_assert_eq!(decoded.unwrap(), expected);
    }

    /// Once normalized, a span encodes to the same bytes again: decoding loses nothing that
    /// encoding wrote.
    #[test]
    fn encoding_a_decoded_batch_gives_the_same_bytes(spans in vec(common::span(), 0..4)) {
        let body = json::encode(&spans);
        prop_assert_eq!(json::encode(&json::decode(&body).unwrap()), body);
        let body = proto::encode(&spans);
        prop_assert_eq!(proto::encode(&proto::decode(&body).unwrap()), body);
    }
}

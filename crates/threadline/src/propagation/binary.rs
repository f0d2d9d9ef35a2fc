//! OpenCensus binary format: the `grpc-trace-bin` header.

use super::{extract_header, Extractor, Injector, PropagationContext, Propagator};
use crate::context::{SpanContext, TraceOptions};
use crate::id::{SpanId, TraceId};

const HEADER: &str = "grpc-trace-bin";
const TRACE_ID_FIELD: u8 = 0;
const SPAN_ID_FIELD: u8 = 1;
const OPTIONS_FIELD: u8 = 2;

/// Why OpenCensus binary trace context bytes were rejected.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{from_bytes, BinaryFormatError};
/// assert_eq!(from_bytes(&[0, 0, 1, 2]), Err(BinaryFormatError::Truncated(0)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryFormatError {
    /// No bytes at all.
    #[error("binary trace context is empty")]
    Empty,
    /// A version other than 0, the only one defined.
    #[error("binary trace context version {0} is not supported")]
    Version(u8),
    /// A field's value is cut short.
    #[error("binary trace context field {0} is truncated")]
    Truncated(u8),
    /// A known field comes after a later one or twice.
    #[error("binary trace context field {0} is out of order")]
    OutOfOrder(u8),
    /// The trace id or span id field is missing.
    #[error("binary trace context has no {0}")]
    Missing(&'static str),
    /// An id is all zeros.
    #[error("binary trace context {0} is all zeros")]
    ZeroId(&'static str),
    /// The text form is not base64.
    #[error("grpc-trace-bin value is not base64")]
    Base64,
}

/// The OpenCensus binary encoding of `context`: version 0, then field 0 (16-byte trace id),
/// field 1 (8-byte span id) and field 2 (the trace options byte), 29 bytes in all.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{from_bytes, to_bytes};
/// use threadline::{SpanContext, SpanId, TraceId, TraceOptions};
/// let cx = SpanContext::new(TraceId(1), SpanId(2), TraceOptions::SAMPLED);
/// let bytes = to_bytes(&cx);
/// assert_eq!(bytes[..2], [0, 0]); // version 0, field 0
/// assert_eq!(from_bytes(&bytes).unwrap(), cx.with_from_header(true));
/// ```
pub fn to_bytes(context: &SpanContext) -> [u8; 29] {
    let mut out = [0u8; 29];
    out[1] = TRACE_ID_FIELD;
    out[2..18].copy_from_slice(&context.trace_id().to_bytes());
    out[18] = SPAN_ID_FIELD;
    out[19..27].copy_from_slice(&context.span_id().to_bytes());
    out[27] = OPTIONS_FIELD;
    out[28] = context.trace_options().to_byte();
    out
}

/// Decodes OpenCensus binary trace context bytes into a remote span context. Usable as a fuzz
/// entry point.
///
/// Follows the OpenCensus BinaryFormat rules: version 0 only; fields in ascending id order,
/// each at most once; decoding stops at the first unknown field id, whose format it cannot
/// know, keeping the fields read so far (newer senders append fields). The trace options
/// field is optional (default: not sampled); the ids are required and must not be zero.
///
/// # Errors
///
/// [`BinaryFormatError`] naming what is wrong.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{from_bytes, BinaryFormatError};
/// let mut bytes = vec![0, 0];
/// bytes.extend(1..=16u8); // trace id
/// bytes.push(1);
/// bytes.extend(17..=24u8); // span id
/// bytes.extend([2, 1]); // sampled
/// bytes.extend([9, 0xde, 0xad]); // a field from the future: ignored
/// assert!(from_bytes(&bytes).unwrap().is_sampled());
/// assert_eq!(from_bytes(&[1, 0]), Err(BinaryFormatError::Version(1)));
/// ```
pub fn from_bytes(bytes: &[u8]) -> Result<SpanContext, BinaryFormatError> {
    let (&version, mut rest) = bytes.split_first().ok_or(BinaryFormatError::Empty)?;
    if version != 0 {
        return Err(BinaryFormatError::Version(version));
    }
    let mut trace_id = None;
    let mut span_id = None;
    let mut options = TraceOptions::NOT_SAMPLED;
    let mut next_field = 0u8;
    while let Some((&field, tail)) = rest.split_first() {
        let len = match field {
            TRACE_ID_FIELD => 16,
            SPAN_ID_FIELD => 8,
            OPTIONS_FIELD => 1,
            _ => break,
        };
        if field < next_field {
            return Err(BinaryFormatError::OutOfOrder(field));
        }
        next_field = field + 1;
        if tail.len() < len {
            return Err(BinaryFormatError::Truncated(field));
        }
        let (value, tail) = tail.split_at(len);
        match field {
            TRACE_ID_FIELD => {
                let mut id = [0u8; 16];
                id.copy_from_slice(value);
                trace_id = Some(TraceId::from_bytes(id));
            }
            SPAN_ID_FIELD => {
                let mut id = [0u8; 8];
                id.copy_from_slice(value);
                span_id = Some(SpanId::from_bytes(id));
            }
            _ => options = TraceOptions::from_byte(value[0]),
        }
        rest = tail;
    }
    let trace_id = trace_id.ok_or(BinaryFormatError::Missing("trace id"))?;
    let span_id = span_id.ok_or(BinaryFormatError::Missing("span id"))?;
    if !trace_id.is_valid() {
        return Err(BinaryFormatError::ZeroId("trace id"));
    }
    if !span_id.is_valid() {
        return Err(BinaryFormatError::ZeroId("span id"));
    }
    Ok(SpanContext::new(trace_id, span_id, options).with_from_header(true))
}

/// OpenCensus' binary trace context in the `grpc-trace-bin` header, as gRPC's OpenCensus
/// integrations send it.
///
/// gRPC metadata keys ending in `-bin` carry bytes, which travel base64-encoded in HTTP/2
/// headers; text carriers therefore hold base64 (standard alphabet; padding written, and
/// optional when read). A gRPC library that hands out the decoded bytes can use
/// [`to_bytes`] and [`from_bytes`] directly. Only the span context travels; not baggage.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadline::propagation::{BinaryPropagator, Propagator, PropagationContext};
/// use threadline::{SpanContext, SpanId, TraceId, TraceOptions};
/// let cx = SpanContext::new(TraceId(1), SpanId(2), TraceOptions::SAMPLED);
/// let mut metadata = HashMap::new();
/// BinaryPropagator.inject(&PropagationContext::new(cx.clone()), &mut metadata);
/// assert_eq!(metadata["grpc-trace-bin"], "AAAAAAAAAAAAAAAAAAAAAAABAQAAAAAAAAACAgE=");
/// assert_eq!(BinaryPropagator.extract(&metadata).span_context, Some(cx.with_from_header(true)));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BinaryPropagator;

impl BinaryPropagator {
    /// Decodes a base64 `grpc-trace-bin` value. Usable as a fuzz entry point.
    ///
    /// # Errors
    ///
    /// [`BinaryFormatError::Base64`] for bad base64, otherwise as [`from_bytes`].
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{BinaryFormatError, BinaryPropagator};
    /// assert!(BinaryPropagator::parse_header("AAAAAAAAAAAAAAAAAAAAAAABAQAAAAAAAAACAgE").is_ok());
    /// assert_eq!(BinaryPropagator::parse_header("not base64!"), Err(BinaryFormatError::Base64));
    /// ```
    pub fn parse_header(value: &str) -> Result<SpanContext, BinaryFormatError> {
        let bytes =
            base64_decode(value.trim_matches([' ', '\t'])).ok_or(BinaryFormatError::Base64)?;
        from_bytes(&bytes)
    }
}

impl Propagator for BinaryPropagator {
    fn inject(&self, context: &PropagationContext, carrier: &mut dyn Injector) {
        if let Some(span) = context.span_context.as_ref().filter(|s| s.is_valid()) {
            carrier.set(HEADER, base64_encode(&to_bytes(span)));
        }
    }

    fn extract(&self, carrier: &dyn Extractor) -> PropagationContext {
        extract_header(carrier, HEADER, Self::parse_header)
            .map_or_else(PropagationContext::default, PropagationContext::new)
    }

    fn fields(&self) -> Vec<String> {
        vec![HEADER.to_string()]
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (chunk.get(1).copied().unwrap_or(0) as u32) << 8
            | chunk.get(2).copied().unwrap_or(0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == c)? as u32;
        buffer = buffer << 6 | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // A single leftover character cannot encode a byte; leftover bits must be zero.
    if bits == 6 || buffer != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::propagation::test_support::remote_contexts;

    /// The example of the OpenCensus BinaryFormat specification.
    fn spec_example() -> Vec<u8> {
        let mut bytes = vec![0, 0];
        bytes.extend(64..=79u8);
        bytes.push(1);
        bytes.extend(97..=104u8);
        bytes.extend([2, 1]);
        bytes
    }

    #[test]
    fn specification_example() {
        let cx = from_bytes(&spec_example()).unwrap();
        assert_eq!(
            cx.trace_id().to_string(),
            "404142434445464748494a4b4c4d4e4f"
        );
        assert_eq!(cx.span_id().to_string(), "6162636465666768");
        assert!(cx.is_sampled() && cx.from_header());
        assert_eq!(to_bytes(&cx).to_vec(), spec_example());
    }

    #[test]
    fn forward_compatible_decoding() {
        // Options missing: not sampled.
        let cx = from_bytes(&spec_example()[..27]).unwrap();
        assert!(!cx.is_sampled());
        // Unknown field ids stop decoding, whatever follows.
        let mut future = spec_example();
        future.extend([3, 0xff, 0xff, 0, 0, 0]);
        assert!(from_bytes(&future).unwrap().is_sampled());
        let mut early_unknown = spec_example()[..27].to_vec();
        early_unknown.extend([7, 2, 1]);
        assert!(!from_bytes(&early_unknown).unwrap().is_sampled());
    }

    #[test]
    fn malformed_inputs_are_rejected_with_a_reason() {
        use BinaryFormatError::*;
        let example = spec_example();
        let mut swapped = vec![0, 1];
        swapped.extend(&example[19..27]);
        swapped.extend(&example[1..18]);
        let mut twice = example.clone();
        twice.extend([2, 0]);
        let mut zero_trace = example.clone();
        zero_trace[2..18].fill(0);
        let mut zero_span = example.clone();
        zero_span[19..27].fill(0);
        let cases: Vec<(Vec<u8>, BinaryFormatError)> = vec![
            (vec![], Empty),
            (vec![1], Version(1)),
            (vec![0xff, 0], Version(0xff)),
            (vec![0], Missing("trace id")),
            (vec![0, 9], Missing("trace id")),
            (example[..10].to_vec(), Truncated(0)),
            (example[..18].to_vec(), Missing("span id")),
            (example[..20].to_vec(), Truncated(1)),
            (example[..28].to_vec(), Truncated(2)),
            (swapped, OutOfOrder(0)),
            (twice, OutOfOrder(2)),
            (zero_trace, ZeroId("trace id")),
            (zero_span, ZeroId("span id")),
        ];
        for (input, expected) in cases {
            assert_eq!(from_bytes(&input), Err(expected), "{input:?}");
            let carrier = HashMap::from([(HEADER.to_string(), base64_encode(&input))]);
            assert!(BinaryPropagator.extract(&carrier).is_empty());
        }
        for bad in ["!", "A", "AAAAA", "AB==", "A=A"] {
            assert_eq!(BinaryPropagator::parse_header(bad), Err(Base64), "{bad}");
        }
    }

    #[test]
    fn base64_matches_known_vectors() {
        for (raw, encoded) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"\xff\xfe", "//4="),
        ] {
            assert_eq!(base64_encode(raw), encoded);
            assert_eq!(base64_decode(encoded).as_deref(), Some(raw));
            assert_eq!(
                base64_decode(encoded.trim_end_matches('=')).as_deref(),
                Some(raw)
            );
        }
    }

    proptest! {
        #[test]
        fn round_trip(cx in remote_contexts(&[0, 1, 2, 0x80, 0xff])) {
            prop_assert_eq!(from_bytes(&to_bytes(&cx)), Ok(cx.clone()));
            let mut carrier = HashMap::new();
            BinaryPropagator.inject(&PropagationContext::new(cx.clone()), &mut carrier);
            prop_assert_eq!(BinaryPropagator.extract(&carrier).span_context, Some(cx));
        }

        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), text in "\\PC{0,60}") {
            let _ = from_bytes(&bytes);
            let _ = BinaryPropagator::parse_header(&text);
        }
    }
}

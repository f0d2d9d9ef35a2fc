//! Thrift binary protocol: the bare `Batch` that is the body of the Jaeger collector's
//! `POST /api/traces` (`Content-Type: application/x-thrift`), and the `emitBatch` call message
//! of the agent's UDP port 6832.
//!
//! What each field means is described in the [module above](super).
//!
//! # Examples
//!
//! ```
//! use threadline::{SpanData, SpanId, TraceId};
//! use threadline_wire::jaeger::binary;
//!
//! let span = SpanData::new(TraceId(0xabc), SpanId(0x1), "get /users");
//! let bodies = binary::encode_batch(&[span.clone()]);
//! assert_eq!(binary::decode_batch(&bodies[0]).unwrap(), vec![span]);
//! ```

use threadline::SpanData;

use super::thrift::{BinaryReader, BinaryWriter};
use super::{DecodeError, Shape};
use crate::Decoded;

/// The media type of a collector body.
pub const CONTENT_TYPE: &str = "application/x-thrift";

/// Encodes spans as bare `Batch` structs, one per resource: one collector request each.
///
/// Encoding cannot fail. An empty slice gives no bodies.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::jaeger::binary;
///
/// let bodies = binary::encode_batch(&[SpanData::new(TraceId(1), SpanId(2), "a")]);
/// assert_eq!(bodies.len(), 1);
/// assert_eq!(bodies[0][0], 0x0c); // field 1, the process, is a struct
/// ```
pub fn encode_batch(spans: &[SpanData]) -> Vec<Vec<u8>> {
    super::encode::<BinaryWriter>(Shape::Batch, spans)
}

/// Decodes a bare `Batch`, all or nothing.
///
/// # Errors
///
/// The first problem found: bytes that are not a binary Thrift struct, a batch without a
/// usable process, or the first invalid span (see [`decode_batch_lenient`]).
///
/// # Examples
///
/// ```
/// use threadline_wire::jaeger::binary;
///
/// // field 2 (spans), a list of 1000 structs, with nothing after it
/// let err = binary::decode_batch(&[0x0f, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x03, 0xe8]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "body is not a Thrift binary Batch: a list of 1000 elements is longer than the 0 bytes left at byte 3"
/// );
/// ```
pub fn decode_batch(body: &[u8]) -> Result<Vec<SpanData>, DecodeError> {
    decode_batch_lenient(body).into_result()
}

/// Decodes a bare `Batch`, keeping every valid span.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::jaeger::binary;
///
/// let body = &binary::encode_batch(&[SpanData::new(TraceId(1), SpanId(1), "kept")])[0];
/// let decoded = binary::decode_batch_lenient(&body[..body.len() - 1]);
/// assert_eq!(decoded.spans[0].name, "kept");
/// assert_eq!(
///     decoded.errors[0].to_string(),
///     format!("body is not a Thrift binary Batch: the body ends inside a field header at byte {}", body.len() - 1)
/// );
/// ```
pub fn decode_batch_lenient(body: &[u8]) -> Decoded<DecodeError> {
    super::decode(
        BinaryReader::new(body),
        Shape::Batch,
        "a Thrift binary Batch",
    )
}

/// Encodes spans as binary `emitBatch` messages for the agent's UDP port 6832, one per
/// resource.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::jaeger::binary;
///
/// let span = SpanData::new(TraceId(1), SpanId(2), "a");
/// let message = &binary::encode_emit_batch(&[span.clone()])[0];
/// assert_eq!(&message[..4], &[0x80, 0x01, 0x00, 0x04]); // version 1, oneway
/// assert_eq!(binary::decode_emit_batch(message).unwrap(), vec![span]);
/// ```
pub fn encode_emit_batch(spans: &[SpanData]) -> Vec<Vec<u8>> {
    super::encode::<BinaryWriter>(Shape::EmitBatch, spans)
}

/// Decodes a binary `emitBatch` message, all or nothing.
///
/// # Errors
///
/// As [`decode_batch`], plus a message that is not an `emitBatch` call.
///
/// # Examples
///
/// ```
/// use threadline_wire::jaeger::binary;
///
/// let mut message = vec![0x80, 0x01, 0x00, 0x01, 0, 0, 0, 4];
/// message.extend_from_slice(b"ping");
/// message.extend_from_slice(&[0, 0, 0, 0, 0]);
/// let err = binary::decode_emit_batch(&message).unwrap_err();
/// assert_eq!(err.to_string(), r#"method name "ping" is not emitBatch"#);
/// ```
pub fn decode_emit_batch(body: &[u8]) -> Result<Vec<SpanData>, DecodeError> {
    decode_emit_batch_lenient(body).into_result()
}

/// Decodes a binary `emitBatch` message, keeping every valid span.
///
/// # Examples
///
/// ```
/// use threadline_wire::jaeger::binary;
///
/// assert!(!binary::decode_emit_batch_lenient(&[]).is_complete());
/// ```
pub fn decode_emit_batch_lenient(body: &[u8]) -> Decoded<DecodeError> {
    super::decode(
        BinaryReader::new(body),
        Shape::EmitBatch,
        "a Thrift binary emitBatch message",
    )
}

/// The first bytes of a strict binary `CALL` message (version 1, type 1): how a collector
/// body holding a `Collector.submitBatches` call (opencensus-python's form) differs from a
/// bare `Batch`, which starts with a field header.
pub const CALL_MESSAGE_PREFIX: [u8; 4] = [0x80, 0x01, 0x00, 0x01];

/// Whether a collector body is a strict binary `CALL` message rather than a bare `Batch`.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::jaeger::binary;
///
/// let spans = [SpanData::new(TraceId(1), SpanId(2), "a")];
/// assert!(binary::is_call_message(&binary::encode_submit_batches(&spans, 0)));
/// assert!(!binary::is_call_message(&binary::encode_batch(&spans)[0]));
/// ```
pub fn is_call_message(body: &[u8]) -> bool {
    body.starts_with(&CALL_MESSAGE_PREFIX)
}

/// A `Collector.submitBatches` call as read from its message.
#[derive(Debug)]
pub struct SubmitBatches {
    /// The call's sequence id, which the reply repeats.
    pub seq_id: i32,
    /// How many batches the call carried (the reply answers each).
    pub batches: usize,
    /// The valid spans of every batch, and what was wrong with the others.
    pub decoded: Decoded<DecodeError>,
}

/// Encodes spans as one `Collector.submitBatches` call message (strict binary protocol), a
/// batch per resource: the body opencensus-python's Jaeger exporter posts to a collector.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::jaeger::binary;
///
/// let span = SpanData::new(TraceId(1), SpanId(2), "a");
/// let message = binary::encode_submit_batches(&[span.clone()], 7);
/// let call = binary::decode_submit_batches(&message);
/// assert_eq!((call.seq_id, call.batches), (7, 1));
/// assert_eq!(call.decoded.spans, vec![span]);
/// ```
pub fn encode_submit_batches(spans: &[SpanData], seq_id: i32) -> Vec<u8> {
    use super::thrift::{message_type, TType, Writer};
    let bodies = encode_batch(spans);
    let len = bodies.iter().map(Vec::len).sum::<usize>();
    let mut w = BinaryWriter::with_capacity(len + 64);
    w.message_begin(super::SUBMIT_BATCHES, message_type::CALL, seq_id);
    w.struct_begin();
    w.field(1, TType::List);
    w.list(TType::Struct, bodies.len());
    for body in &bodies {
        w.raw(body);
    }
    w.struct_end();
    w.bytes()
}

/// Decodes a `Collector.submitBatches` call message, keeping every valid span of every batch.
///
/// Span errors count spans across the batches, from 0. A message that is not a
/// `submitBatches` `CALL` gives an [`DecodeError::Envelope`] error and no spans.
///
/// # Examples
///
/// ```
/// use threadline_wire::jaeger::binary;
///
/// let call = binary::decode_submit_batches(&[0x80, 0x01, 0x00, 0x01, 0, 0]);
/// assert!(call.decoded.spans.is_empty());
/// assert_eq!(
///     call.decoded.errors[0].to_string(),
///     "body is not a Thrift binary submitBatches message: the body ends inside an i32 at byte 4"
/// );
/// ```
pub fn decode_submit_batches(body: &[u8]) -> SubmitBatches {
    let (decoded, seq_id, batches) = super::decode_message(
        BinaryReader::new(body),
        Shape::SubmitBatches,
        "a Thrift binary submitBatches message",
    );
    SubmitBatches {
        seq_id,
        batches,
        decoded,
    }
}

/// The `REPLY` to a `Collector.submitBatches` call: `ok` for each of its `batches`, with its
/// sequence id. A Thrift client reads it as the call's result; without it the client reports
/// an error.
///
/// # Examples
///
/// ```
/// use threadline_wire::jaeger::binary;
///
/// let reply = binary::encode_submit_batches_reply(7, 1);
/// assert_eq!(&reply[..4], &[0x80, 0x01, 0x00, 0x02]); // version 1, reply
/// ```
pub fn encode_submit_batches_reply(seq_id: i32, batches: usize) -> Vec<u8> {
    use super::thrift::{message_type, TType, Writer};
    let mut w = BinaryWriter::with_capacity(32 + 4 * batches);
    w.message_begin(super::SUBMIT_BATCHES, message_type::REPLY, seq_id);
    // submitBatches_result: field 0, the success value, a list<BatchSubmitResponse>
    w.struct_begin();
    w.field(0, TType::List);
    w.list(TType::Struct, batches);
    for _ in 0..batches {
        w.struct_begin();
        w.field_bool(1, true);
        w.struct_end();
    }
    w.struct_end();
    w.bytes()
}

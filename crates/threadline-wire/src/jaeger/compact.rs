//! Thrift compact protocol: the `emitBatch` call message a Jaeger agent reads on UDP port 6831
//! (`Agent.emitBatch(1: Batch batch)`, a oneway call), and the splitting of a batch into
//! packets that fit a UDP datagram.
//!
//! What each field means is described in the [module above](super).
//!
//! # Examples
//!
//! ```
//! use threadline::{SpanData, SpanId, TraceId};
//! use threadline_wire::jaeger::compact;
//!
//! let span = SpanData::new(TraceId(0xabc), SpanId(0x1), "get /users");
//! let packets = compact::encode_emit_batches(&[span.clone()], compact::MAX_PACKET_SIZE);
//! assert!(packets.too_large.is_empty());
//! assert_eq!(compact::decode_emit_batch(&packets.packets[0]).unwrap(), vec![span]);
//! ```

use threadline::SpanData;

use super::thrift::{CompactReader, CompactWriter};
use super::{DecodeError, Shape};
use crate::Decoded;

/// The largest packet the Jaeger clients send to the agent's UDP port: 65,000 bytes.
pub const MAX_PACKET_SIZE: usize = 65_000;

const EXPECTED: &str = "a Thrift compact emitBatch message";

/// Encodes spans as `emitBatch` messages: one per resource, each holding all its spans.
///
/// Encoding cannot fail. An empty slice gives no messages. A UDP exporter should use
/// [`encode_emit_batches`] instead, which keeps each message within a datagram.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline::{Resource, SpanData, SpanId, TraceId};
/// use threadline_wire::jaeger::compact;
///
/// let mut other = SpanData::new(TraceId(1), SpanId(3), "b");
/// other.resource = Arc::new(Resource::new("billing"));
/// let spans = [SpanData::new(TraceId(1), SpanId(2), "a"), other];
/// assert_eq!(compact::encode_emit_batch(&spans).len(), 2);
/// assert!(compact::encode_emit_batch(&[]).is_empty());
/// ```
pub fn encode_emit_batch(spans: &[SpanData]) -> Vec<Vec<u8>> {
    super::encode::<CompactWriter>(Shape::EmitBatch, spans)
}

/// `emitBatch` messages of at most a given size, and the spans that fit in none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packets {
    /// The messages, each at most the size asked for.
    pub packets: Vec<Vec<u8>>,
    /// The spans too large for a packet on their own; they are in no packet.
    pub too_large: Vec<TooLarge>,
}

/// A span too large to send in a packet of the size asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The span's position in the slice given to [`encode_emit_batches`].
    pub index: usize,
    /// The size of a packet holding only this span, in bytes.
    pub packet_size: usize,
}

/// Encodes spans as `emitBatch` messages of at most `max_packet` bytes each, for the agent's
/// UDP port ([`MAX_PACKET_SIZE`] is what Jaeger clients use).
///
/// Spans are grouped by resource, as in [`encode_emit_batch`], and each group is cut into as
/// few packets as fit, in order. Every span is in exactly one packet, except a span that would
/// not fit even alone, which is reported in [`Packets::too_large`] (an exporter counts it as
/// dropped; `Batch.stats.tooLargeDroppedSpans` is where Jaeger clients report it).
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::jaeger::compact;
///
/// let spans: Vec<_> = (1..=100).map(|i| SpanData::new(TraceId(1), SpanId(i), "op")).collect();
/// let packets = compact::encode_emit_batches(&spans, 500);
/// assert!(packets.packets.len() > 1);
/// assert!(packets.packets.iter().all(|p| p.len() <= 500));
///
/// let mut big = SpanData::new(TraceId(1), SpanId(1), "x".repeat(1000));
/// let packets = compact::encode_emit_batches(&[big], 500);
/// assert!(packets.packets.is_empty());
/// assert_eq!(packets.too_large[0].index, 0);
/// ```
pub fn encode_emit_batches(spans: &[SpanData], max_packet: usize) -> Packets {
    let mut out = Packets::default();
    for (process, encoded) in super::encoded_spans::<CompactWriter>(spans) {
        // a packet's size is its empty form, plus the spans, plus the growth of the list
        // header past 14 elements (a varint count after the header byte)
        let empty = super::body::<CompactWriter>(Shape::EmitBatch, &process, &[]).len();
        let size_with = |count: usize, bytes: usize| empty + list_header_growth(count) + bytes;
        let mut current: Vec<&[u8]> = Vec::new();
        let mut current_bytes = 0;
        for (index, span) in &encoded {
            if size_with(1, span.len()) > max_packet {
                out.too_large.push(TooLarge {
                    index: *index,
                    packet_size: size_with(1, span.len()),
                });
                continue;
            }
            if size_with(current.len() + 1, current_bytes + span.len()) > max_packet {
                out.packets.push(super::body::<CompactWriter>(
                    Shape::EmitBatch,
                    &process,
                    &current,
                ));
                current.clear();
                current_bytes = 0;
            }
            current.push(span);
            current_bytes += span.len();
        }
        if !current.is_empty() {
            out.packets.push(super::body::<CompactWriter>(
                Shape::EmitBatch,
                &process,
                &current,
            ));
        }
    }
    out
}

/// How many bytes a compact list header for `count` elements takes beyond the one byte of an
/// empty list's.
fn list_header_growth(count: usize) -> usize {
    if count < 15 {
        return 0;
    }
    let mut len = 1;
    let mut rest = count >> 7;
    while rest > 0 {
        len += 1;
        rest >>= 7;
    }
    len
}

/// Decodes an `emitBatch` message, all or nothing.
///
/// # Errors
///
/// The first problem found: bytes that are not a compact Thrift message, another method, a
/// batch without a usable process, or the first invalid span (see
/// [`decode_emit_batch_lenient`] to keep the valid spans of a partly bad batch).
///
/// # Examples
///
/// ```
/// use threadline_wire::jaeger::compact;
///
/// let err = compact::decode_emit_batch(&[0x82, 0x81, 0x00]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "body is not a Thrift compact emitBatch message: the body ends inside the method name's length at byte 3"
/// );
/// ```
pub fn decode_emit_batch(body: &[u8]) -> Result<Vec<SpanData>, DecodeError> {
    decode_emit_batch_lenient(body).into_result()
}

/// Decodes an `emitBatch` message, keeping every valid span.
///
/// A span whose fields are wrong (a missing required field, a wrong type, a zero id) is
/// rejected alone; bytes that break off keep the spans before the fault and add one
/// [`DecodeError::Framing`] last.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::jaeger::compact;
///
/// let spans = [
///     SpanData::new(TraceId(1), SpanId(1), "kept"),
///     SpanData::new(TraceId(1), SpanId(2), "cut off"),
/// ];
/// let message = &compact::encode_emit_batch(&spans)[0];
/// let decoded = compact::decode_emit_batch_lenient(&message[..message.len() - 5]);
/// assert_eq!(decoded.spans[0].name, "kept");
/// assert_eq!(decoded.spans.len(), 1);
/// assert!(decoded.errors[0].to_string().starts_with("body is not a Thrift compact"));
/// ```
pub fn decode_emit_batch_lenient(body: &[u8]) -> Decoded<DecodeError> {
    super::decode(CompactReader::new(body), Shape::EmitBatch, EXPECTED)
}

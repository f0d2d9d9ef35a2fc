//! OTLP/protobuf: an `ExportTraceServiceRequest`, the body of `POST /v1/traces` with
//! `Content-Type: application/x-protobuf` and the message of the gRPC `TraceService/Export`.
//!
//! What each field means is described in the [module above](super).
//!
//! # Examples
//!
//! ```
//! use threadline::{SpanData, SpanId, TraceId};
//! use threadline_wire::otlp::proto;
//!
//! let span = SpanData::new(TraceId(0xabc), SpanId(0x1), "get /users");
//! let body = proto::encode(&[span.clone()]);
//! assert_eq!(proto::decode(&body).unwrap(), vec![span]);
//! ```

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use threadline::SpanData;

use super::model::{self, Style};
use super::RequestError;
use crate::{Decoded, Problem, SpanError};

/// The media type of an encoded body.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// Why an OTLP/protobuf body, or a span in it, could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not a sequence of protobuf fields down to the spans (truncated, for
    /// instance); the spans of the `ResourceSpans` before the fault were still read.
    #[error("body is not an ExportTraceServiceRequest message: {reason} at byte {offset}")]
    Framing {
        /// Where the unreadable field starts.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A resource or scope could not be read; the spans under it were rejected with it.
    #[error("{0}")]
    Envelope(Problem),
    /// One span was rejected.
    #[error(transparent)]
    Span(#[from] SpanError),
}

impl From<RequestError> for DecodeError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Envelope(problem) => DecodeError::Envelope(problem),
            RequestError::Span(error) => DecodeError::Span(error),
        }
    }
}

/// Encodes spans as an OTLP `ExportTraceServiceRequest`.
///
/// Encoding cannot fail: every [`SpanData`] has an OTLP form. The bytes are those of
/// [`to_request`](super::to_request)'s message, written straight from the spans.
///
/// # Examples
///
/// ```
/// assert!(threadline_wire::otlp::proto::encode(&[]).is_empty());
/// ```
pub fn encode(spans: &[SpanData]) -> Vec<u8> {
    // about what the benchmark's spans take; a larger batch grows the buffer
    let mut out = Vec::with_capacity(spans.len() * 512);
    encode_into(spans, &mut out);
    out
}

/// Appends the OTLP `ExportTraceServiceRequest` for spans to `out`, as [`encode`] writes it,
/// so that a caller can reuse one buffer from batch to batch.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::otlp::proto;
///
/// let spans = [SpanData::new(TraceId(1), SpanId(2), "get /users")];
/// let mut buffer = Vec::new();
/// for _ in 0..2 {
///     buffer.clear();
///     proto::encode_into(&spans, &mut buffer);
///     assert_eq!(buffer, proto::encode(&spans));
/// }
/// ```
pub fn encode_into(spans: &[SpanData], out: &mut Vec<u8>) {
    super::wire::encode_into(spans, out);
}

/// Decodes an OTLP `ExportTraceServiceRequest`, all or nothing.
///
/// # Errors
///
/// The first problem found: a body that does not frame as protobuf, or the first invalid
/// resource or span (see [`decode_lenient`] to keep the valid spans of a partly bad batch).
///
/// # Examples
///
/// ```
/// use threadline_wire::otlp::proto;
///
/// // field 1 (resource_spans), 3 bytes long, but only 1 byte follows
/// let err = proto::decode(&[0x0a, 0x03, 0x0a]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "body is not an ExportTraceServiceRequest message: a field runs past the end of the body at byte 0"
/// );
/// ```
pub fn decode(body: &[u8]) -> Result<Vec<SpanData>, DecodeError> {
    decode_lenient(body).into_result()
}

/// Decodes an OTLP `ExportTraceServiceRequest`, keeping every valid span.
///
/// Each span is its own length-delimited message, so a span whose bytes are bad (invalid UTF-8
/// in a string, a wrong-sized id) is rejected alone. A body that breaks off keeps the spans of
/// the complete `ResourceSpans` before the fault and adds one [`DecodeError::Framing`] last.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::otlp::proto;
///
/// let spans = [
///     SpanData::new(TraceId(1), SpanId(1), "kept"),
///     SpanData::new(TraceId(1), SpanId(2), "bad"),
/// ];
/// let mut request = threadline_wire::otlp::to_request(&spans);
/// request.resource_spans[0].scope_spans[0].spans[1].trace_id = vec![1, 2, 3];
/// let body = prost::Message::encode_to_vec(&request);
/// let decoded = proto::decode_lenient(&body);
/// assert_eq!(decoded.spans[0].name, "kept");
/// assert_eq!(decoded.errors[0].to_string(), "span 1: trace_id 0x010203 is not 16 bytes");
/// ```
pub fn decode_lenient(body: &[u8]) -> Decoded<DecodeError> {
    let mut decoded = Decoded {
        spans: Vec::new(),
        errors: Vec::new(),
    };
    let mut index = 0;
    let mut top = Fields {
        body,
        start: 0,
        pos: 0,
    };
    let mut group = 0;
    loop {
        let framed = top
            .next_message(&[(1, "resource_spans (field 1) is not length-delimited")])
            .and_then(|field| match field {
                None => Ok(None),
                Some((_, bytes, at)) => resource_spans(bytes, at).map(Some),
            });
        match framed {
            Ok(None) => break,
            Ok(Some(parts)) => {
                decode_group(parts, group, &mut index, &mut decoded);
                group += 1;
            }
            Err((offset, reason)) => {
                decoded.errors.push(DecodeError::Framing { offset, reason });
                break;
            }
        }
    }
    decoded
}

/// The framed parts of one `ResourceSpans`: its resource's bytes (every occurrence, merged as
/// protobuf requires), and per `ScopeSpans` its scope's bytes and its spans' bytes.
struct GroupParts<'a> {
    resource: Vec<&'a [u8]>,
    scopes: Vec<ScopeParts<'a>>,
}

/// The framed parts of one `ScopeSpans`: its scope's bytes and its spans' bytes.
type ScopeParts<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>);

/// A length-delimited field: its number, its bytes and where they start in the request.
type Field<'a> = (u64, &'a [u8], usize);

type Framing = (usize, &'static str);

fn resource_spans(bytes: &[u8], start: usize) -> Result<GroupParts<'_>, Framing> {
    let mut parts = GroupParts {
        resource: Vec::new(),
        scopes: Vec::new(),
    };
    let mut fields = Fields {
        body: bytes,
        start,
        pos: 0,
    };
    while let Some((number, bytes, at)) = fields.next_message(&[
        (1, "resource (field 1) is not length-delimited"),
        (2, "scope_spans (field 2) is not length-delimited"),
    ])? {
        if number == 1 {
            parts.resource.push(bytes);
            continue;
        }
        let mut scope = (Vec::new(), Vec::new());
        let mut inner = Fields {
            body: bytes,
            start: at,
            pos: 0,
        };
        while let Some((number, bytes, _)) = inner.next_message(&[
            (1, "scope (field 1) is not length-delimited"),
            (2, "spans (field 2) is not length-delimited"),
        ])? {
            if number == 1 {
                scope.0.push(bytes);
            } else {
                scope.1.push(bytes);
            }
        }
        parts.scopes.push(scope);
    }
    Ok(parts)
}

fn merged<M: prost::Message + Default>(parts: &[&[u8]]) -> Result<Option<M>, prost::DecodeError> {
    if parts.is_empty() {
        return Ok(None);
    }
    let mut message = M::default();
    for part in parts {
        message.merge(*part)?;
    }
    Ok(Some(message))
}

fn decode_group(
    parts: GroupParts<'_>,
    group: usize,
    index: &mut usize,
    decoded: &mut Decoded<DecodeError>,
) {
    let resource = merged::<Resource>(&parts.resource)
        .map_err(|e| Problem::Malformed(prost_message(&e)))
        .and_then(|resource| model::resource_from_proto(resource, Style::Proto));
    let resource = match resource {
        Ok(resource) => resource,
        Err(problem) => {
            let prefix = format!("resource_spans[{group}].resource");
            decoded
                .errors
                .push(DecodeError::Envelope(model::prefixed(problem, &prefix)));
            *index += parts
                .scopes
                .iter()
                .map(|(_, spans)| spans.len())
                .sum::<usize>();
            return;
        }
    };
    let mut scratch = super::direct::Scratch::default();
    for (s, (scope, spans)) in parts.scopes.into_iter().enumerate() {
        let scope = match merged::<InstrumentationScope>(&scope) {
            Ok(scope) => model::scope_from_proto(scope),
            Err(error) => {
                decoded
                    .errors
                    .push(DecodeError::Envelope(Problem::Malformed(format!(
                        "resource_spans[{group}].scope_spans[{s}].scope: {}",
                        prost_message(&error)
                    ))));
                *index += spans.len();
                continue;
            }
        };
        for bytes in spans {
            let span =
                super::direct::span(bytes, &resource, &scope, &mut scratch).unwrap_or_else(|| {
                    Span::decode(bytes)
                        .map_err(|error| Problem::Malformed(prost_message(&error)))
                        .and_then(|span| {
                            model::span_from_proto(span, &resource, &scope, Style::Proto)
                        })
                });
            match span {
                Ok(span) => decoded.spans.push(span),
                Err(problem) => decoded.errors.push(problem.at(*index).into()),
            }
            *index += 1;
        }
    }
}

fn prost_message(error: &prost::DecodeError) -> String {
    let text = error.to_string();
    match text.strip_prefix("failed to decode Protobuf message: ") {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Walks the fields of one message, yielding the length-delimited fields it is asked for and
/// skipping the others, as protobuf readers must. Offsets are counted from the body's start.
struct Fields<'a> {
    body: &'a [u8],
    /// Where `body` starts in the whole request.
    start: usize,
    pos: usize,
}

impl<'a> Fields<'a> {
    fn fail(&self, at: usize, reason: &'static str) -> Framing {
        (self.start + at, reason)
    }

    fn varint(&mut self, at: usize) -> Result<u64, Framing> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.body.get(self.pos) else {
                return Err(self.fail(at, "a varint runs past the end of the body"));
            };
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(self.fail(at, "a varint is longer than 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.fail(at, "a varint is longer than 64 bits"))
    }

    fn bytes(&mut self, len: u64, at: usize) -> Result<&'a [u8], Framing> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|&end| end <= self.body.len());
        let Some(end) = end else {
            return Err(self.fail(at, "a field runs past the end of the body"));
        };
        let bytes = &self.body[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The next wanted field: its number, its bytes and where they start in the request.
    /// `wanted` pairs each field number with the error for finding it not length-delimited.
    fn next_message(
        &mut self,
        wanted: &[(u64, &'static str)],
    ) -> Result<Option<Field<'a>>, Framing> {
        while self.pos < self.body.len() {
            let at = self.pos;
            let key = self.varint(at)?;
            let field = key >> 3;
            if field == 0 || field > u64::from(u32::MAX >> 3) {
                return Err(self.fail(at, "a field number is out of range"));
            }
            let is_wanted = wanted.iter().any(|(number, _)| *number == field);
            match (is_wanted, key & 7) {
                (true, 2) => {
                    let len = self.varint(at)?;
                    let bytes = self.bytes(len, at)?;
                    let start = self.start + self.pos - bytes.len();
                    return Ok(Some((field, bytes, start)));
                }
                (true, _) => {
                    let reason = wanted
                        .iter()
                        .find(|(number, _)| *number == field)
                        .map_or("a field has the wrong wire type", |(_, reason)| reason);
                    return Err(self.fail(at, reason));
                }
                (false, 0) => {
                    self.varint(at)?;
                }
                (false, 1) => {
                    self.bytes(8, at)?;
                }
                (false, 2) => {
                    let len = self.varint(at)?;
                    self.bytes(len, at)?;
                }
                (false, 5) => {
                    self.bytes(4, at)?;
                }
                (false, 3 | 4) => return Err(self.fail(at, "groups are not supported")),
                _ => return Err(self.fail(at, "a field has an invalid wire type")),
            }
        }
        Ok(None)
    }
}

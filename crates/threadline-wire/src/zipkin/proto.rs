//! Zipkin proto3: a `ListOfSpans` message, the body of `POST /api/v2/spans` with
//! `Content-Type: application/x-protobuf`.
//!
//! The messages are written by hand after `zipkin.proto` (no build script, no `protoc`); the
//! `tags` map is declared as its wire equivalent, a repeated key/value entry, so that tag order
//! survives a round trip. What each field means is described in the [module above](super).
//!
//! # Examples
//!
//! ```
//! use threadline::{SpanData, SpanId, TraceId};
//! use threadline_wire::zipkin::proto;
//!
//! let span = SpanData::new(TraceId(0xabc), SpanId(0x1), "get /users");
//! let body = proto::encode(&[span.clone()]);
//! assert_eq!(proto::decode(&body).unwrap(), vec![span]);
//! ```

use prost::Message as _;
use threadline::{SpanData, SpanId, SpanKind, TraceId};

use super::model::{self, Decoder, Endpoint, ZipkinAnnotation, ZipkinSpan};
use crate::{Decoded, Problem, SpanError};

/// The media type of an encoded body.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// Why a Zipkin proto3 body, or a span in it, could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not a sequence of protobuf fields (truncated, for instance); the spans that
    /// came before the fault were still read.
    #[error("body is not a ListOfSpans message: {reason} at byte {offset}")]
    Framing {
        /// Where the unreadable field starts.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// One span of the list was rejected.
    #[error(transparent)]
    Span(#[from] SpanError),
}

/// Encodes spans as a Zipkin proto3 `ListOfSpans`.
///
/// Encoding cannot fail: every [`SpanData`] has a Zipkin form, less what Zipkin cannot carry.
///
/// # Examples
///
/// ```
/// assert!(threadline_wire::zipkin::proto::encode(&[]).is_empty());
/// ```
pub fn encode(spans: &[SpanData]) -> Vec<u8> {
    pb::ListOfSpans {
        spans: spans
            .iter()
            .map(|span| to_proto(model::from_span_data(span)))
            .collect(),
    }
    .encode_to_vec()
}

/// Decodes a Zipkin proto3 `ListOfSpans`, all or nothing.
///
/// # Errors
///
/// The first problem found: a body that does not frame as protobuf, or the first invalid span
/// (see [`decode_lenient`] to keep the valid spans of a partly bad batch).
///
/// # Examples
///
/// ```
/// use threadline_wire::zipkin::proto;
///
/// // field 1 (spans), 3 bytes long, but only 1 byte follows
/// let err = proto::decode(&[0x0a, 0x03, 0x0a]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "body is not a ListOfSpans message: a field runs past the end of the body at byte 0"
/// );
/// ```
pub fn decode(body: &[u8]) -> Result<Vec<SpanData>, DecodeError> {
    decode_lenient(body).into_result()
}

/// Decodes a Zipkin proto3 `ListOfSpans`, keeping every valid span.
///
/// Each span is its own length-delimited field, so a span whose bytes are bad (invalid UTF-8
/// in a string, a wrong-sized id) is rejected alone; a body that breaks off keeps the spans
/// before the fault and adds one [`DecodeError::Framing`] last.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::zipkin::proto;
///
/// let mut body = proto::encode(&[SpanData::new(TraceId(1), SpanId(1), "kept")]);
/// body.extend_from_slice(&[0x0a, 0x02, 0x0a, 0x00]); // a span with an empty trace id
/// let decoded = proto::decode_lenient(&body);
/// assert_eq!(decoded.spans[0].name, "kept");
/// assert_eq!(decoded.errors[0].to_string(), "span 1: trace_id is missing");
/// ```
pub fn decode_lenient(body: &[u8]) -> Decoded<DecodeError> {
    let mut decoder = Decoder::default();
    let mut decoded = Decoded {
        spans: Vec::new(),
        errors: Vec::new(),
    };
    let mut reader = Fields { body, pos: 0 };
    let mut index = 0;
    while reader.pos < body.len() {
        let offset = reader.pos;
        match reader.next_span() {
            Err(reason) => {
                decoded.errors.push(DecodeError::Framing { offset, reason });
                break;
            }
            Ok(None) => {}
            Ok(Some(bytes)) => {
                let span = pb::Span::decode(bytes)
                    .map_err(|error| Problem::Malformed(prost_message(&error)))
                    .and_then(from_proto)
                    .and_then(|span| decoder.decode(span));
                match span {
                    Ok(span) => decoded.spans.push(span),
                    Err(problem) => decoded.errors.push(problem.at(index).into()),
                }
                index += 1;
            }
        }
    }
    decoded
}

fn prost_message(error: &prost::DecodeError) -> String {
    let text = error.to_string();
    match text.strip_prefix("failed to decode Protobuf message: ") {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Walks the top-level fields of a `ListOfSpans`, yielding each span's bytes and skipping
/// fields it does not know, as protobuf readers must.
struct Fields<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let &byte = self
                .body
                .get(self.pos)
                .ok_or("a varint runs past the end of the body")?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err("a varint is longer than 64 bits");
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint is longer than 64 bits")
    }

    fn bytes(&mut self, len: u64) -> Result<&'a [u8], &'static str> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|&end| end <= self.body.len())
            .ok_or("a field runs past the end of the body")?;
        let bytes = &self.body[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The next span's bytes, `None` after skipping some other field.
    fn next_span(&mut self) -> Result<Option<&'a [u8]>, &'static str> {
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err("a field number is out of range");
        }
        match (field, key & 7) {
            (1, 2) => {
                let len = self.varint()?;
                self.bytes(len).map(Some)
            }
            (1, _) => Err("spans (field 1) is not length-delimited"),
            (_, 0) => self.varint().map(|_| None),
            (_, 1) => self.bytes(8).map(|_| None),
            (_, 2) => {
                let len = self.varint()?;
                self.bytes(len).map(|_| None)
            }
            (_, 5) => self.bytes(4).map(|_| None),
            (_, 3 | 4) => Err("groups are not supported"),
            _ => Err("a field has an invalid wire type"),
        }
    }
}

fn to_proto(span: ZipkinSpan<'_>) -> pb::Span {
    pb::Span {
        trace_id: span.trace_id.to_bytes().to_vec(),
        parent_id: span
            .parent_id
            .map(|id| id.to_bytes().to_vec())
            .unwrap_or_default(),
        id: span.id.to_bytes().to_vec(),
        kind: match span.kind {
            SpanKind::Client => pb::Kind::Client,
            SpanKind::Server => pb::Kind::Server,
            SpanKind::Producer => pb::Kind::Producer,
            SpanKind::Consumer => pb::Kind::Consumer,
            SpanKind::Internal | SpanKind::Unspecified => pb::Kind::SpanKindUnspecified,
        } as i32,
        name: span.name.into_owned(),
        timestamp: span.timestamp.unwrap_or(0),
        duration: span.duration.unwrap_or(0),
        local_endpoint: span.local_endpoint.map(endpoint_to_proto),
        remote_endpoint: span.remote_endpoint.map(endpoint_to_proto),
        annotations: span
            .annotations
            .into_iter()
            .map(|a| pb::Annotation {
                timestamp: a.timestamp,
                value: a.value.into_owned(),
            })
            .collect(),
        tags: span
            .tags
            .into_iter()
            .map(|(key, value)| pb::Tag {
                key: key.into_owned(),
                value: value.into_text().into_owned(),
            })
            .collect(),
        debug: span.debug,
        shared: span.shared,
    }
}

fn endpoint_to_proto(endpoint: Endpoint<'_>) -> pb::Endpoint {
    pb::Endpoint {
        service_name: endpoint
            .service_name
            .map(|n| n.into_owned())
            .unwrap_or_default(),
        ipv4: endpoint
            .ipv4
            .map(|ip| ip.octets().to_vec())
            .unwrap_or_default(),
        ipv6: endpoint
            .ipv6
            .map(|ip| ip.octets().to_vec())
            .unwrap_or_default(),
        port: endpoint.port.map_or(0, i32::from),
    }
}

fn from_proto(span: pb::Span) -> Result<ZipkinSpan<'static>, Problem> {
    let trace_id = match <[u8; 16]>::try_from(span.trace_id.as_slice()) {
        Ok(bytes) => TraceId::from_bytes(bytes),
        Err(_) => match <[u8; 8]>::try_from(span.trace_id.as_slice()) {
            Ok(bytes) => TraceId(u128::from(u64::from_be_bytes(bytes))),
            Err(_) if span.trace_id.is_empty() => return Err(Problem::missing("trace_id")),
            Err(_) => {
                return Err(bad_bytes(
                    "trace_id",
                    &span.trace_id,
                    "is not 8 or 16 bytes",
                ))
            }
        },
    };
    if !trace_id.is_valid() {
        return Err(bad_bytes("trace_id", &span.trace_id, "is all zeros"));
    }
    if span.id.is_empty() {
        return Err(Problem::missing("id"));
    }
    let id = span_id("id", &span.id)?;
    if !id.is_valid() {
        return Err(bad_bytes("id", &span.id, "is all zeros"));
    }
    // An all-zero parent id, which some clients send for a root span, means no parent.
    let parent_id = match span.parent_id.as_slice() {
        [] => None,
        bytes => Some(span_id("parent_id", bytes)?).filter(|id| id.is_valid()),
    };
    let kind = match pb::Kind::try_from(span.kind) {
        Ok(pb::Kind::SpanKindUnspecified) => SpanKind::Unspecified,
        Ok(pb::Kind::Client) => SpanKind::Client,
        Ok(pb::Kind::Server) => SpanKind::Server,
        Ok(pb::Kind::Producer) => SpanKind::Producer,
        Ok(pb::Kind::Consumer) => SpanKind::Consumer,
        Err(_) => {
            return Err(Problem::invalid(
                "kind",
                span.kind.to_string(),
                "is not a known span kind",
            ))
        }
    };
    // `map<string, string>`: a repeated key keeps its first position and its last value.
    let mut tags: Vec<(model::Text<'static>, model::TagValue<'static>)> =
        Vec::with_capacity(span.tags.len());
    let mut index = std::collections::HashMap::with_capacity(span.tags.len());
    for pb::Tag { key, value } in span.tags {
        match index.get(&key) {
            Some(&i) => tags[i] = (key.into(), value.into()),
            None => {
                index.insert(key.clone(), tags.len());
                tags.push((key.into(), value.into()));
            }
        }
    }
    Ok(ZipkinSpan {
        trace_id,
        id,
        parent_id,
        kind,
        name: span.name.into(),
        timestamp: (span.timestamp != 0).then_some(span.timestamp),
        duration: (span.duration != 0).then_some(span.duration),
        local_endpoint: span
            .local_endpoint
            .map(|e| endpoint_from_proto("local_endpoint", e))
            .transpose()?,
        remote_endpoint: span
            .remote_endpoint
            .map(|e| endpoint_from_proto("remote_endpoint", e))
            .transpose()?,
        annotations: span
            .annotations
            .into_iter()
            .map(|a| ZipkinAnnotation {
                timestamp: a.timestamp,
                value: a.value.into(),
            })
            .collect(),
        tags,
        debug: span.debug,
        shared: span.shared,
    })
}

fn span_id(field: &str, bytes: &[u8]) -> Result<SpanId, Problem> {
    <[u8; 8]>::try_from(bytes)
        .map(SpanId::from_bytes)
        .map_err(|_| bad_bytes(field, bytes, "is not 8 bytes"))
}

fn bad_bytes(field: &str, bytes: &[u8], reason: &'static str) -> Problem {
    const SHOWN: usize = 20;
    let mut value = String::from("0x");
    for b in bytes.iter().take(SHOWN) {
        value.push_str(&format!("{b:02x}"));
    }
    if bytes.len() > SHOWN {
        value.push_str("...");
    }
    Problem::invalid(field, value, reason)
}

/// Like Zipkin itself, an address of the wrong length is ignored rather than fatal.
fn endpoint_from_proto(field: &str, endpoint: pb::Endpoint) -> Result<Endpoint<'static>, Problem> {
    let port = match u16::try_from(endpoint.port) {
        Ok(0) => None,
        Ok(port) => Some(port),
        Err(_) => {
            return Err(Problem::invalid(
                format!("{field}.port"),
                endpoint.port.to_string(),
                "is not a port number",
            ))
        }
    };
    Ok(Endpoint {
        service_name: (!endpoint.service_name.is_empty()).then(|| endpoint.service_name.into()),
        ipv4: <[u8; 4]>::try_from(endpoint.ipv4.as_slice())
            .ok()
            .map(Into::into),
        ipv6: <[u8; 16]>::try_from(endpoint.ipv6.as_slice())
            .ok()
            .map(Into::into),
        port,
    })
}

/// The messages of `zipkin.proto` (package `zipkin.proto3`), written by hand.
mod pb {
    /// `ListOfSpans`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListOfSpans {
        #[prost(message, repeated, tag = "1")]
        pub spans: Vec<Span>,
    }

    /// `Span`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub parent_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub id: Vec<u8>,
        #[prost(enumeration = "Kind", tag = "4")]
        pub kind: i32,
        #[prost(string, tag = "5")]
        pub name: String,
        #[prost(fixed64, tag = "6")]
        pub timestamp: u64,
        #[prost(uint64, tag = "7")]
        pub duration: u64,
        #[prost(message, optional, tag = "8")]
        pub local_endpoint: Option<Endpoint>,
        #[prost(message, optional, tag = "9")]
        pub remote_endpoint: Option<Endpoint>,
        #[prost(message, repeated, tag = "10")]
        pub annotations: Vec<Annotation>,
        /// `map<string, string> tags = 11`, declared as the repeated entry it is on the wire.
        #[prost(message, repeated, tag = "11")]
        pub tags: Vec<Tag>,
        #[prost(bool, tag = "12")]
        pub debug: bool,
        #[prost(bool, tag = "13")]
        pub shared: bool,
    }

    /// `Span.Kind`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Kind {
        SpanKindUnspecified = 0,
        Client = 1,
        Server = 2,
        Producer = 3,
        Consumer = 4,
    }

    /// `Endpoint`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Endpoint {
        #[prost(string, tag = "1")]
        pub service_name: String,
        #[prost(bytes = "vec", tag = "2")]
        pub ipv4: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub ipv6: Vec<u8>,
        #[prost(int32, tag = "4")]
        pub port: i32,
    }

    /// `Annotation`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Annotation {
        #[prost(fixed64, tag = "1")]
        pub timestamp: u64,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// One entry of `Span.tags`: how protobuf encodes a `map<string, string>`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tag {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }
}

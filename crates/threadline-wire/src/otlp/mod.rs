//! OTLP traces, both directions: [`proto`] (the protobuf `ExportTraceServiceRequest`, body of
//! `POST /v1/traces` and message of the gRPC `TraceService/Export`) and [`json`] (the same
//! message in OTLP/JSON), plus [`to_request`] and [`from_request`] for the gRPC exporter and
//! receiver, which hand the message type to tonic themselves.
//!
//! The messages are `opentelemetry-proto`'s prost types (the same version as the workspace's
//! `opentelemetry` crates). One mapping, described below, turns [`SpanData`] into them and back;
//! the two codecs only move the messages to and from bytes. OTLP carries nearly everything a
//! `SpanData` holds, so a round trip is exact except where the last table says otherwise.
//!
//! # The mapping
//!
//! | `SpanData` | OTLP | Notes |
//! |---|---|---|
//! | `resource` | `ResourceSpans.resource` | one `ResourceSpans` per distinct resource (same `Arc` or equal value), in order of first appearance; `service_name` is the `service.name` attribute, written first (left out when empty), then the other attributes. On decode, the spans of one `ResourceSpans` share one `Arc<Resource>` |
//! | `scope` | `ScopeSpans.scope.name` | one `ScopeSpans` per scope name within a resource; no `scope` is written for an empty name |
//! | `trace_id`, `span_id` | `trace_id`, `span_id` | 16 and 8 bytes (lowercase hex in JSON); a wrong length, an empty or an all-zero id is an error |
//! | `parent_span_id` | `parent_span_id` | empty (or all zeros, on decode) for a root span |
//! | `trace_state` | `trace_state` | the W3C header form; on decode, one that does not parse is dropped and the span kept, as the W3C rule for an invalid `tracestate` says |
//! | `parent_is_remote` | `flags` bits 8 and 9 | `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK` (0x100) always set, `..._IS_REMOTE_MASK` (0x200) when remote; the low byte holds the W3C trace flags, sampled (0x01) since only sampled spans are exported. A span without bit 8 decodes as not remote |
//! | `name` | `name` | |
//! | `kind` | `kind` | the same six values and numbers; an unknown number is an error |
//! | `start_time_unix_nano`, `end_time_unix_nano` | the same | nanoseconds, exact |
//! | `attributes` | `attributes` | string, bool, int, double (NaN and infinities included), array and bytes values, exactly |
//! | `dropped.attributes` | `dropped_attributes_count` | |
//! | `annotations` | `events` | name = `description`, with attributes and dropped count |
//! | `message_events` | `events` named `message` | attributes `message.type` (`SENT`, `RECEIVED`, `UNSPECIFIED`), `message.id`, `message.uncompressed_size`, `message.compressed_size` (int64 holding the u64's bits): the RPC semantic conventions' message event, as the OpenCensus shim writes it. Events are written merged with the annotations by time |
//! | `dropped.annotations + dropped.message_events` | `dropped_events_count` | |
//! | `dropped.message_events` | attribute `threadline.dropped_message_events_count` | int, only when non-zero, so the total can be split again |
//! | `links` | `links` | trace id, span id, trace state, attributes, dropped count; `flags` 0 (unknown) |
//! | `link.link_type` | link attribute `threadline.link_type` | `CHILD_LINKED_SPAN` or `PARENT_LINKED_SPAN`; OTLP has no field for it; left out when unspecified |
//! | `dropped.links` | `dropped_links_count` | |
//! | `status` `None` | no `status` | `STATUS_CODE_UNSET` decodes as `None` too (its message is ignored) |
//! | `status` OK | `STATUS_CODE_OK` | `message` = description |
//! | `status` error | `STATUS_CODE_ERROR`, `message` = description | plus attribute `threadline.status_code` = the canonical name (`NOT_FOUND`, ...) unless it is `UNKNOWN`, which is what an error without it decodes to |
//! | `status.details()` | attribute `threadline.status_details` | |
//! | `stack_trace` | attribute `code.stacktrace` | |
//!
//! The attributes this mapping writes replace span attributes of the same key.
//!
//! # Decoding what other senders write
//!
//! - An attribute with an empty value (OTLP's null) is left out, also inside arrays; a repeated
//!   key keeps its first position and its last value.
//! - A key-value list value (`kvlist_value`) becomes a string holding its JSON text, e.g.
//!   `{"a":1,"b":["x"]}` (bytes in base64, non-finite doubles as `"NaN"`, empty values `null`).
//! - `string_value_strindex`, which only profiles may use, is an error.
//! - An event is a message event only when it is named `message`, has a `message.type` of
//!   `SENT`, `RECEIVED` or `UNSPECIFIED`, no attributes but the four above (the sizes and id as
//!   ints) and nothing dropped; any other event is an annotation.
//! - The mapping's attributes are read only when they hold the type they are written with
//!   (`threadline.status_code` a known non-OK name on an ERROR status, `code.stacktrace` a
//!   string, ...); otherwise they stay attributes.
//! - A `service.name` that is not a string becomes `service_name` in its display form.
//!
//! # What OTLP cannot carry
//!
//! | `SpanData` | What a round trip through OTLP gives back |
//! |---|---|
//! | span order | grouped: by resource, then by scope, each group in order of first appearance |
//! | annotation order relative to message events | each list keeps its order; OTLP has one list, merged by time |
//! | attributes whose keys the mapping uses (`threadline.*`, `code.stacktrace`) | replaced by or read as the mapping's meaning |
//! | a resource attribute named `service.name` | `service_name` wins |
//! | an invalid `trace_state` (from a peer) | empty |
//! | resource `dropped_attributes_count`, scope version and attributes, `schema_url`, link and trace flags | ignored on decode: `SpanData` has no place for them |
//!
//! [`SpanData`]: threadline::SpanData

mod direct;
pub mod json;
mod model;
pub mod proto;
mod wire;

#[cfg(test)]
mod tests;

pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use threadline::SpanData;

use crate::{Decoded, Problem, SpanError};

/// Why part of an `ExportTraceServiceRequest` could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A resource or scope could not be read; the spans under it were rejected with it (they
    /// still count in the span positions of later errors).
    #[error("{0}")]
    Envelope(Problem),
    /// One span was rejected.
    #[error(transparent)]
    Span(#[from] SpanError),
}

/// The OTLP request for a batch of spans, for a gRPC client that sends the message itself.
///
/// Spans are grouped by resource and scope, as the [mapping](self) says.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::otlp;
///
/// let span = SpanData::new(TraceId(1), SpanId(2), "get /users");
/// let request = otlp::to_request(&[span.clone(), span]);
/// assert_eq!(request.resource_spans.len(), 1);
/// assert_eq!(request.resource_spans[0].scope_spans[0].spans.len(), 2);
/// ```
pub fn to_request(spans: &[SpanData]) -> ExportTraceServiceRequest {
    model::to_request(spans)
}

/// The spans of an OTLP request a gRPC server has received, keeping every valid one.
///
/// Errors name the span by its position in the request (all spans of all `ResourceSpans` and
/// `ScopeSpans`, counted from 0) and fields by their `.proto` names.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::otlp;
///
/// let mut request = otlp::to_request(&[
///     SpanData::new(TraceId(1), SpanId(2), "kept"),
///     SpanData::new(TraceId(1), SpanId(3), "rejected"),
/// ]);
/// request.resource_spans[0].scope_spans[0].spans[1].span_id = vec![0; 8];
/// let decoded = otlp::from_request(request);
/// assert_eq!(decoded.spans[0].name, "kept");
/// assert_eq!(
///     decoded.errors[0].to_string(),
///     "span 1: span_id 0x0000000000000000 is all zeros"
/// );
/// ```
pub fn from_request(request: ExportTraceServiceRequest) -> Decoded<RequestError> {
    let mut decoded = Decoded {
        spans: Vec::new(),
        errors: Vec::new(),
    };
    let mut index = 0;
    for (i, group) in request.resource_spans.into_iter().enumerate() {
        let resource = match model::resource_from_proto(group.resource, model::Style::Proto) {
            Ok(resource) => resource,
            Err(problem) => {
                let prefix = format!("resource_spans[{i}].resource");
                decoded
                    .errors
                    .push(RequestError::Envelope(model::prefixed(problem, &prefix)));
                index += group
                    .scope_spans
                    .iter()
                    .map(|s| s.spans.len())
                    .sum::<usize>();
                continue;
            }
        };
        for scope_spans in group.scope_spans {
            let scope = model::scope_from_proto(scope_spans.scope);
            for span in scope_spans.spans {
                match model::span_from_proto(span, &resource, &scope, model::Style::Proto) {
                    Ok(span) => decoded.spans.push(span),
                    Err(problem) => decoded.errors.push(problem.at(index).into()),
                }
                index += 1;
            }
        }
    }
    decoded
}

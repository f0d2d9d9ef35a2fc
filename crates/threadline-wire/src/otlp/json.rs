//! OTLP/JSON: an `ExportTraceServiceRequest` as the body of `POST /v1/traces` with
//! `Content-Type: application/json`.
//!
//! The JSON rules are the OTLP specification's (`otlp.md`, "JSON Protobuf Encoding"), which
//! differ from plain proto3 JSON: trace and span ids are lowercase hex strings (not base64),
//! field names are lowerCamelCase, enums are integers. The rest is proto3 JSON: 64-bit integers
//! are written as decimal strings (and read as strings or numbers), `bytes` values are base64,
//! doubles that JSON cannot hold are `"NaN"`, `"Infinity"` and `"-Infinity"`, fields with their
//! default value are left out, and unknown fields are ignored. On input, enum names
//! (`"SPAN_KIND_SERVER"`) are accepted as well as numbers, and `null` is the same as absent.
//!
//! `opentelemetry-proto`'s own serde support is not used: errors here name the span and field
//! that were wrong, one bad span does not reject its batch, and the encoder writes straight from
//! the messages. What each field means is described in the [module above](super).
//!
//! # Examples
//!
//! ```
//! use threadline::{SpanData, SpanId, SpanKind, TraceId};
//! use threadline_wire::otlp::json;
//!
//! let mut span = SpanData::new(TraceId(0xabc), SpanId(0x1), "get /users");
//! span.kind = SpanKind::Server;
//! span.start_time_unix_nano = 1_700_000_000_000_000_000;
//! span.end_time_unix_nano = 1_700_000_000_002_500_000;
//! let body = json::encode(&[span.clone()]);
//! assert_eq!(
//!     String::from_utf8(body.clone()).unwrap(),
//!     r#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"spans":[{"traceId":"00000000000000000000000000000abc","spanId":"0000000000000001","flags":257,"name":"get /users","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000002500000"}]}]}]}"#
//! );
//! assert_eq!(json::decode(&body).unwrap(), vec![span]);
//! ```

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use threadline::SpanData;

use super::model::{self, Style};
use crate::{quote, Decoded, Problem, SpanError};

/// The media type of an encoded body.
pub const CONTENT_TYPE: &str = "application/json";

/// Why an OTLP/JSON body, or a span in it, could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not UTF-8, so it cannot be JSON.
    #[error("body is not valid UTF-8: invalid byte at offset {offset}")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The body is not well-formed JSON (truncated, for instance). OTLP/JSON is one object, so
    /// nothing of it was read.
    #[error("body is not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    /// The body is JSON but not an object.
    #[error("body is {found}, expected an ExportTraceServiceRequest object")]
    NotAnObject {
        /// What it is instead, e.g. `an array`.
        found: &'static str,
    },
    /// A `resourceSpans` or `scopeSpans` element, a resource or a scope could not be read; the
    /// spans under it were rejected with it.
    #[error("{0}")]
    Envelope(Problem),
    /// One span was rejected.
    #[error(transparent)]
    Span(#[from] SpanError),
}

/// Encodes spans as an OTLP/JSON `ExportTraceServiceRequest`.
///
/// Encoding cannot fail: every [`SpanData`] has an OTLP form.
///
/// # Examples
///
/// ```
/// assert_eq!(threadline_wire::otlp::json::encode(&[]), br#"{"resourceSpans":[]}"#);
/// ```
pub fn encode(spans: &[SpanData]) -> Vec<u8> {
    encode_request(&model::to_request(spans))
}

/// Encodes a request as OTLP/JSON, for a caller that already holds the message.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::otlp::{self, json};
///
/// let spans = [SpanData::new(TraceId(1), SpanId(2), "op")];
/// assert_eq!(json::encode_request(&otlp::to_request(&spans)), json::encode(&spans));
/// ```
pub fn encode_request(request: &ExportTraceServiceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + request.resource_spans.len() * 512);
    let written = serde_json::to_writer(&mut out, &J(request));
    // Only string keys and infallible values are written, into memory.
    debug_assert!(written.is_ok(), "otlp json encoding failed: {written:?}");
    out
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`, all or nothing.
///
/// # Errors
///
/// The first problem found: a body that is not a JSON object, or the first invalid resource,
/// scope or span (see [`decode_lenient`] to keep the valid spans of a partly bad batch).
///
/// # Examples
///
/// ```
/// use threadline_wire::otlp::json;
///
/// let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
///     {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b17"}
/// ]}]}]}"#;
/// let err = json::decode(body).unwrap_err();
/// assert_eq!(err.to_string(), r#"span 0: spanId "eee19b7ec3c1b17" is not 16 hex digits"#);
/// ```
pub fn decode(body: &[u8]) -> Result<Vec<SpanData>, DecodeError> {
    decode_lenient(body).into_result()
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`, keeping every valid span.
///
/// Each invalid span adds one [`DecodeError::Span`], naming it by its position among all the
/// spans of the request, and each unreadable resource or scope one [`DecodeError::Envelope`].
/// A body that is not JSON yields no spans and one body error.
///
/// # Examples
///
/// ```
/// use threadline_wire::otlp::json;
///
/// let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
///     {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"kept"},
///     {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","kind":"sideways"}
/// ]}]}]}"#;
/// let decoded = json::decode_lenient(body);
/// assert_eq!(decoded.spans[0].name, "kept");
/// assert_eq!(decoded.errors[0].to_string(), r#"span 1: kind "sideways" is not a known span kind"#);
/// ```
pub fn decode_lenient(body: &[u8]) -> Decoded<DecodeError> {
    let mut decoded = Decoded {
        spans: Vec::new(),
        errors: Vec::new(),
    };
    let request: Json = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => {
            decoded.errors.push(match std::str::from_utf8(body) {
                Err(utf8) => DecodeError::NotUtf8 {
                    offset: utf8.valid_up_to(),
                },
                Ok(_) => DecodeError::Syntax(error),
            });
            return decoded;
        }
    };
    let Json::Object(mut request) = request else {
        decoded.errors.push(DecodeError::NotAnObject {
            found: type_of(&request),
        });
        return decoded;
    };
    let groups = match array(&mut request, "", "resourceSpans") {
        Ok(groups) => groups,
        Err(problem) => {
            decoded.errors.push(DecodeError::Envelope(problem));
            return decoded;
        }
    };
    let mut index = 0;
    for (g, group) in groups.into_iter().enumerate() {
        let path = format!("resourceSpans[{g}]");
        if let Err(problem) = decode_group(group, &path, &mut index, &mut decoded) {
            decoded.errors.push(DecodeError::Envelope(problem));
        }
    }
    decoded
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// The JSON form of an OTLP message.
struct J<'a, T>(&'a T);

/// A list of messages as a JSON array.
struct Each<'a, T>(&'a [T]);

impl<'a, T> Serialize for Each<'a, T>
where
    J<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(J))
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

impl Serialize for J<'_, ExportTraceServiceRequest> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("resourceSpans", &Each(&self.0.resource_spans))?;
        map.end()
    }
}

impl Serialize for J<'_, ResourceSpans> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let group = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(resource) = &group.resource {
            map.serialize_entry("resource", &J(resource))?;
        }
        map.serialize_entry("scopeSpans", &Each(&group.scope_spans))?;
        if !group.schema_url.is_empty() {
            map.serialize_entry("schemaUrl", &group.schema_url)?;
        }
        map.end()
    }
}

impl Serialize for J<'_, Resource> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let resource = self.0;
        let mut map = serializer.serialize_map(None)?;
        if !resource.attributes.is_empty() {
            map.serialize_entry("attributes", &Each(&resource.attributes))?;
        }
        if resource.dropped_attributes_count != 0 {
            map.serialize_entry("droppedAttributesCount", &resource.dropped_attributes_count)?;
        }
        map.end()
    }
}

impl Serialize for J<'_, ScopeSpans> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let scope_spans = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(scope) = &scope_spans.scope {
            map.serialize_entry("scope", &J(scope))?;
        }
        map.serialize_entry("spans", &Each(&scope_spans.spans))?;
        if !scope_spans.schema_url.is_empty() {
            map.serialize_entry("schemaUrl", &scope_spans.schema_url)?;
        }
        map.end()
    }
}

impl Serialize for J<'_, InstrumentationScope> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let scope = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &scope.name)?;
        if !scope.version.is_empty() {
            map.serialize_entry("version", &scope.version)?;
        }
        if !scope.attributes.is_empty() {
            map.serialize_entry("attributes", &Each(&scope.attributes))?;
        }
        if scope.dropped_attributes_count != 0 {
            map.serialize_entry("droppedAttributesCount", &scope.dropped_attributes_count)?;
        }
        map.end()
    }
}

impl Serialize for J<'_, Span> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let span = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("traceId", &hex(&span.trace_id))?;
        map.serialize_entry("spanId", &hex(&span.span_id))?;
        if !span.trace_state.is_empty() {
            map.serialize_entry("traceState", &span.trace_state)?;
        }
        if !span.parent_span_id.is_empty() {
            map.serialize_entry("parentSpanId", &hex(&span.parent_span_id))?;
        }
        if span.flags != 0 {
            map.serialize_entry("flags", &span.flags)?;
        }
        map.serialize_entry("name", &span.name)?;
        map.serialize_entry("kind", &span.kind)?;
        map.serialize_entry("startTimeUnixNano", &span.start_time_unix_nano.to_string())?;
        map.serialize_entry("endTimeUnixNano", &span.end_time_unix_nano.to_string())?;
        if !span.attributes.is_empty() {
            map.serialize_entry("attributes", &Each(&span.attributes))?;
        }
        if span.dropped_attributes_count != 0 {
            map.serialize_entry("droppedAttributesCount", &span.dropped_attributes_count)?;
        }
        if !span.events.is_empty() {
            map.serialize_entry("events", &Each(&span.events))?;
        }
        if span.dropped_events_count != 0 {
            map.serialize_entry("droppedEventsCount", &span.dropped_events_count)?;
        }
        if !span.links.is_empty() {
            map.serialize_entry("links", &Each(&span.links))?;
        }
        if span.dropped_links_count != 0 {
            map.serialize_entry("droppedLinksCount", &span.dropped_links_count)?;
        }
        if let Some(status) = &span.status {
            map.serialize_entry("status", &J(status))?;
        }
        map.end()
    }
}

impl Serialize for J<'_, span::Event> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("timeUnixNano", &event.time_unix_nano.to_string())?;
        map.serialize_entry("name", &event.name)?;
        if !event.attributes.is_empty() {
            map.serialize_entry("attributes", &Each(&event.attributes))?;
        }
        if event.dropped_attributes_count != 0 {
            map.serialize_entry("droppedAttributesCount", &event.dropped_attributes_count)?;
        }
        map.end()
    }
}

impl Serialize for J<'_, span::Link> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let link = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("traceId", &hex(&link.trace_id))?;
        map.serialize_entry("spanId", &hex(&link.span_id))?;
        if !link.trace_state.is_empty() {
            map.serialize_entry("traceState", &link.trace_state)?;
        }
        if !link.attributes.is_empty() {
            map.serialize_entry("attributes", &Each(&link.attributes))?;
        }
        if link.dropped_attributes_count != 0 {
            map.serialize_entry("droppedAttributesCount", &link.dropped_attributes_count)?;
        }
        if link.flags != 0 {
            map.serialize_entry("flags", &link.flags)?;
        }
        map.end()
    }
}

impl Serialize for J<'_, Status> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let status = self.0;
        let mut map = serializer.serialize_map(None)?;
        if !status.message.is_empty() {
            map.serialize_entry("message", &status.message)?;
        }
        map.serialize_entry("code", &status.code)?;
        map.end()
    }
}

impl Serialize for J<'_, KeyValue> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let kv = self.0;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("key", &kv.key)?;
        match &kv.value {
            Some(value) => map.serialize_entry("value", &J(value))?,
            None => map.serialize_entry("value", &Map::new())?,
        }
        map.end()
    }
}

impl Serialize for J<'_, AnyValue> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use any_value::Value as V;
        let mut map = serializer.serialize_map(None)?;
        match &self.0.value {
            None => {}
            Some(V::StringValue(text)) => map.serialize_entry("stringValue", text)?,
            Some(V::BoolValue(flag)) => map.serialize_entry("boolValue", flag)?,
            Some(V::IntValue(n)) => map.serialize_entry("intValue", &n.to_string())?,
            Some(V::DoubleValue(x)) if x.is_finite() => map.serialize_entry("doubleValue", x)?,
            Some(V::DoubleValue(x)) => {
                map.serialize_entry("doubleValue", crate::json_value::non_finite(*x))?
            }
            Some(V::ArrayValue(array)) => {
                map.serialize_entry("arrayValue", &Values(&array.values))?
            }
            Some(V::KvlistValue(list)) => {
                map.serialize_entry("kvlistValue", &Values(&list.values))?
            }
            Some(V::BytesValue(bytes)) => {
                map.serialize_entry("bytesValue", &crate::base64::encode(bytes))?
            }
            Some(V::StringValueStrindex(n)) => map.serialize_entry("stringValueStrindex", n)?,
        }
        map.end()
    }
}

/// `{"values": [...]}`, the body of `ArrayValue` and `KeyValueList`.
struct Values<'a, T>(&'a [T]);

impl<'a, T> Serialize for Values<'a, T>
where
    J<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("values", &Each(self.0))?;
        map.end()
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

type Object = Map<String, Json>;

fn type_of(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// One `ResourceSpans`: its spans into `decoded`, or the problem that stopped it.
fn decode_group(
    group: Json,
    path: &str,
    index: &mut usize,
    decoded: &mut Decoded<DecodeError>,
) -> Result<(), Problem> {
    let Json::Object(mut group) = group else {
        return Err(Problem::wrong_type(path, type_of(&group), "an object"));
    };
    let scopes = array(&mut group, path, "scopeSpans")?;
    let resource = object(&mut group, path, "resource")
        .and_then(|resource| {
            resource
                .map(|r| resource_message(r, &join(path, "resource")))
                .transpose()
        })
        .and_then(|resource| {
            model::resource_from_proto(resource, Style::Json)
                .map_err(|problem| model::prefixed(problem, &join(path, "resource")))
        });
    let resource = match resource {
        Ok(resource) => resource,
        Err(problem) => {
            // The spans under it are rejected with it, and still counted.
            *index += scopes.iter().map(count_spans).sum::<usize>();
            return Err(problem);
        }
    };
    for (s, scope_spans) in scopes.into_iter().enumerate() {
        let path = format!("{path}.scopeSpans[{s}]");
        let spans = count_spans(&scope_spans);
        let read = read_scope_spans(scope_spans, &path);
        let (scope, spans) = match read {
            Ok(read) => read,
            Err(problem) => {
                *index += spans;
                decoded.errors.push(DecodeError::Envelope(problem));
                continue;
            }
        };
        let scope = model::scope_from_proto(scope);
        for span in spans {
            let span = span_message(span)
                .and_then(|span| model::span_from_proto(span, &resource, &scope, Style::Json));
            match span {
                Ok(span) => decoded.spans.push(span),
                Err(problem) => decoded.errors.push(problem.at(*index).into()),
            }
            *index += 1;
        }
    }
    Ok(())
}

/// How many span elements a `scopeSpans` element holds, valid or not.
fn count_spans(scope_spans: &Json) -> usize {
    scope_spans
        .get("spans")
        .and_then(Json::as_array)
        .map_or(0, Vec::len)
}

fn read_scope_spans(
    scope_spans: Json,
    path: &str,
) -> Result<(Option<InstrumentationScope>, Vec<Json>), Problem> {
    let Json::Object(mut scope_spans) = scope_spans else {
        return Err(Problem::wrong_type(
            path,
            type_of(&scope_spans),
            "an object",
        ));
    };
    let spans = array(&mut scope_spans, path, "spans")?;
    let scope = match object(&mut scope_spans, path, "scope")? {
        None => None,
        Some(mut scope) => {
            let path = join(path, "scope");
            Some(InstrumentationScope {
                name: string(&mut scope, &path, "name")?,
                version: string(&mut scope, &path, "version")?,
                ..InstrumentationScope::default()
            })
        }
    };
    Ok((scope, spans))
}

fn resource_message(mut resource: Object, path: &str) -> Result<Resource, Problem> {
    Ok(Resource {
        attributes: key_values(&mut resource, path, "attributes")?,
        dropped_attributes_count: uint32(&mut resource, path, "droppedAttributesCount")?,
        ..Resource::default()
    })
}

fn span_message(span: Json) -> Result<Span, Problem> {
    let Json::Object(mut m) = span else {
        return Err(Problem::wrong_type("the span", type_of(&span), "an object"));
    };
    let m = &mut m;
    let mut events = Vec::new();
    for (i, event) in array(m, "", "events")?.into_iter().enumerate() {
        let path = format!("events[{i}]");
        let mut event = into_object(event, &path)?;
        let event = &mut event;
        events.push(span::Event {
            time_unix_nano: uint(event, &path, "timeUnixNano", u64::MAX)?,
            name: string(event, &path, "name")?,
            attributes: key_values(event, &path, "attributes")?,
            dropped_attributes_count: uint32(event, &path, "droppedAttributesCount")?,
        });
    }
    let mut links = Vec::new();
    for (i, link) in array(m, "", "links")?.into_iter().enumerate() {
        let path = format!("links[{i}]");
        let mut link = into_object(link, &path)?;
        let link = &mut link;
        links.push(span::Link {
            trace_id: hex_id(link, &path, "traceId", 16)?,
            span_id: hex_id(link, &path, "spanId", 8)?,
            trace_state: string(link, &path, "traceState")?,
            attributes: key_values(link, &path, "attributes")?,
            dropped_attributes_count: uint32(link, &path, "droppedAttributesCount")?,
            flags: uint32(link, &path, "flags")?,
        });
    }
    let status = match object(m, "", "status")? {
        None => None,
        Some(mut status) => Some(Status {
            message: string(&mut status, "status", "message")?,
            code: enumeration(
                &mut status,
                "status",
                "code",
                "is not a known status code",
                |name| status::StatusCode::from_str_name(name).map(|c| c as i32),
            )?,
        }),
    };
    Ok(Span {
        trace_id: hex_id(m, "", "traceId", 16)?,
        span_id: hex_id(m, "", "spanId", 8)?,
        trace_state: string(m, "", "traceState")?,
        parent_span_id: hex_id(m, "", "parentSpanId", 8)?,
        flags: uint32(m, "", "flags")?,
        name: string(m, "", "name")?,
        kind: enumeration(m, "", "kind", "is not a known span kind", |name| {
            span::SpanKind::from_str_name(name).map(|k| k as i32)
        })?,
        start_time_unix_nano: uint(m, "", "startTimeUnixNano", u64::MAX)?,
        end_time_unix_nano: uint(m, "", "endTimeUnixNano", u64::MAX)?,
        attributes: key_values(m, "", "attributes")?,
        dropped_attributes_count: uint32(m, "", "droppedAttributesCount")?,
        events,
        dropped_events_count: uint32(m, "", "droppedEventsCount")?,
        links,
        dropped_links_count: uint32(m, "", "droppedLinksCount")?,
        status,
    })
}

fn into_object(value: Json, path: &str) -> Result<Object, Problem> {
    match value {
        Json::Object(object) => Ok(object),
        other => Err(Problem::wrong_type(path, type_of(&other), "an object")),
    }
}

fn object(m: &mut Object, prefix: &str, field: &str) -> Result<Option<Object>, Problem> {
    match m.remove(field) {
        None | Some(Json::Null) => Ok(None),
        Some(value) => into_object(value, &join(prefix, field)).map(Some),
    }
}

fn array(m: &mut Object, prefix: &str, field: &str) -> Result<Vec<Json>, Problem> {
    match m.remove(field) {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) => Ok(items),
        Some(other) => Err(Problem::wrong_type(
            join(prefix, field),
            type_of(&other),
            "an array",
        )),
    }
}

fn string(m: &mut Object, prefix: &str, field: &str) -> Result<String, Problem> {
    match m.remove(field) {
        None | Some(Json::Null) => Ok(String::new()),
        Some(Json::String(text)) => Ok(text),
        Some(other) => Err(Problem::wrong_type(
            join(prefix, field),
            type_of(&other),
            "a string",
        )),
    }
}

/// An unsigned integer up to `max`: a number, or a string of digits as proto3 JSON writes
/// 64-bit integers.
fn uint(m: &mut Object, prefix: &str, field: &str, max: u64) -> Result<u64, Problem> {
    let path = || join(prefix, field);
    let (n, shown) = match m.remove(field) {
        None | Some(Json::Null) => return Ok(0),
        Some(Json::Number(number)) => {
            let n = match number.as_u64() {
                Some(n) => Ok(n),
                None => match number.as_f64() {
                    // 1e3 or 5.0: a float with no fraction, within range, is the same integer.
                    Some(x) if x.fract() != 0.0 => Err("is not a whole number"),
                    Some(x) if (0.0..18_446_744_073_709_551_616.0).contains(&x) => Ok(x as u64),
                    _ => Err("is out of range"),
                },
            };
            (n, number.to_string())
        }
        Some(Json::String(text)) => {
            let n = if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                Err("is not a decimal integer")
            } else {
                text.parse::<u64>().map_err(|_| "is out of range")
            };
            (n, quote(&text))
        }
        Some(other) => return Err(Problem::wrong_type(path(), type_of(&other), "an integer")),
    };
    match n {
        Ok(n) if n <= max => Ok(n),
        Ok(_) => Err(Problem::invalid(path(), shown, "is out of range")),
        Err(reason) => Err(Problem::invalid(path(), shown, reason)),
    }
}

fn uint32(m: &mut Object, prefix: &str, field: &str) -> Result<u32, Problem> {
    uint(m, prefix, field, u64::from(u32::MAX)).map(|n| n as u32)
}

/// An enum: its number, or its name as proto3 JSON also allows.
fn enumeration(
    m: &mut Object,
    prefix: &str,
    field: &str,
    unknown: &'static str,
    by_name: impl Fn(&str) -> Option<i32>,
) -> Result<i32, Problem> {
    let path = || join(prefix, field);
    match m.remove(field) {
        None | Some(Json::Null) => Ok(0),
        Some(Json::Number(number)) => number
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| Problem::invalid(path(), number.to_string(), unknown)),
        Some(Json::String(name)) => by_name(&name)
            .or_else(|| name.parse::<i32>().ok())
            .ok_or_else(|| Problem::invalid(path(), quote(&name), unknown)),
        Some(other) => Err(Problem::wrong_type(path(), type_of(&other), "an integer")),
    }
}

/// A trace or span id: `len` bytes as lowercase (or uppercase) hex; empty when absent.
fn hex_id(m: &mut Object, prefix: &str, field: &str, len: usize) -> Result<Vec<u8>, Problem> {
    let path = || join(prefix, field);
    let text = match m.remove(field) {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::String(text)) => text,
        Some(other) => return Err(Problem::wrong_type(path(), type_of(&other), "a string")),
    };
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let digit = |c: u8| char::from(c).to_digit(16);
    let bytes: Option<Vec<u8>> = (text.len() == len * 2)
        .then(|| {
            text.as_bytes()
                .chunks_exact(2)
                .map(|pair| Some((digit(pair[0])? << 4 | digit(pair[1])?) as u8))
                .collect()
        })
        .flatten();
    bytes.ok_or_else(|| {
        let reason = if len == 16 {
            "is not 32 hex digits"
        } else {
            "is not 16 hex digits"
        };
        Problem::invalid(path(), quote(&text), reason)
    })
}

fn key_values(m: &mut Object, prefix: &str, field: &str) -> Result<Vec<KeyValue>, Problem> {
    let path = join(prefix, field);
    array(m, prefix, field)?
        .into_iter()
        .enumerate()
        .map(|(i, kv)| key_value(kv, &format!("{path}[{i}]")))
        .collect()
}

fn key_value(kv: Json, path: &str) -> Result<KeyValue, Problem> {
    let mut kv = into_object(kv, path)?;
    let key = string(&mut kv, path, "key")?;
    let value = match kv.remove("value") {
        None | Some(Json::Null) => None,
        Some(value) => Some(any_value(value, &join(path, "value"))?),
    };
    Ok(KeyValue {
        key,
        value,
        ..KeyValue::default()
    })
}

/// An `AnyValue`: an object with one of the value fields; none (or `{}`) is the empty value.
fn any_value(value: Json, path: &str) -> Result<AnyValue, Problem> {
    use any_value::Value as V;
    let mut m = into_object(value, path)?;
    let m = &mut m;
    let field = |name: &str| join(path, name);
    for name in [
        "stringValue",
        "boolValue",
        "intValue",
        "doubleValue",
        "arrayValue",
        "kvlistValue",
        "bytesValue",
        "stringValueStrindex",
    ] {
        let Some(json) = m.remove(name).filter(|v| !v.is_null()) else {
            continue;
        };
        let wrong = |expected| Problem::wrong_type(field(name), type_of(&json), expected);
        let value = match (name, &json) {
            ("stringValue", Json::String(text)) => V::StringValue(text.clone()),
            ("stringValue", _) => return Err(wrong("a string")),
            ("boolValue", Json::Bool(flag)) => V::BoolValue(*flag),
            ("boolValue", _) => return Err(wrong("a boolean")),
            ("intValue", Json::Number(number)) => {
                V::IntValue(number.as_i64().ok_or_else(|| {
                    Problem::invalid(field(name), number.to_string(), "is not a 64-bit integer")
                })?)
            }
            ("intValue", Json::String(text)) => V::IntValue(
                text.parse::<i64>()
                    .ok()
                    .filter(|_| !text.starts_with('+'))
                    .ok_or_else(|| {
                        Problem::invalid(field(name), quote(text), "is not a 64-bit integer")
                    })?,
            ),
            ("intValue", _) => return Err(wrong("an integer")),
            ("doubleValue", Json::Number(number)) => {
                V::DoubleValue(number.as_f64().unwrap_or(f64::NAN))
            }
            ("doubleValue", Json::String(text)) => V::DoubleValue(match text.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ => text
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| Problem::invalid(field(name), quote(text), "is not a number"))?,
            }),
            ("doubleValue", _) => return Err(wrong("a number")),
            ("arrayValue", Json::Object(_)) => {
                let mut array = into_object(json, &field(name))?;
                let path = join(&field(name), "values");
                let values = self::array(&mut array, &field(name), "values")?
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| any_value(item, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?;
                V::ArrayValue(ArrayValue { values })
            }
            ("kvlistValue", Json::Object(_)) => {
                let mut list = into_object(json, &field(name))?;
                let values = key_values(&mut list, &field(name), "values")?;
                V::KvlistValue(KeyValueList { values })
            }
            ("arrayValue" | "kvlistValue", _) => return Err(wrong("an object")),
            ("bytesValue", Json::String(text)) => V::BytesValue(
                crate::base64::decode(text)
                    .ok_or_else(|| Problem::invalid(field(name), quote(text), "is not base64"))?,
            ),
            ("bytesValue", _) => return Err(wrong("a string")),
            (_, Json::Number(number)) => V::StringValueStrindex(
                number
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(i32::MAX),
            ),
            (_, _) => return Err(wrong("an integer")),
        };
        return Ok(AnyValue { value: Some(value) });
    }
    Ok(AnyValue { value: None })
}

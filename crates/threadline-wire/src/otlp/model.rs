//! The one mapping between [`SpanData`] and the OTLP messages of `opentelemetry-proto`.
//!
//! `proto.rs` and `json.rs` only move those messages to and from bytes; every decision about
//! what an attribute, an event or a flag means is made here, once, for both.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue as PbKeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status as PbStatus,
};
use serde_json::Value as Json;
use threadline::{
    Annotation, KeyValue, Link, LinkType, MessageEvent, MessageEventType, Resource, SpanData,
    SpanId, SpanKind, Status, StatusCode, Str, TraceId, TraceState, Value,
};

use crate::{quote, Problem};

/// Attribute keys and event names with a meaning of their own.
pub(crate) mod key {
    pub const SERVICE_NAME: &str = "service.name";
    pub const STATUS_CODE: &str = "threadline.status_code";
    pub const STATUS_DETAILS: &str = "threadline.status_details";
    pub const DROPPED_MESSAGE_EVENTS: &str = "threadline.dropped_message_events_count";
    pub const LINK_TYPE: &str = "threadline.link_type";
    pub const STACK_TRACE: &str = "code.stacktrace";
    pub const MESSAGE_EVENT: &str = "message";
    pub const MESSAGE_TYPE: &str = "message.type";
    pub const MESSAGE_ID: &str = "message.id";
    pub const MESSAGE_UNCOMPRESSED_SIZE: &str = "message.uncompressed_size";
    pub const MESSAGE_COMPRESSED_SIZE: &str = "message.compressed_size";
}

/// `Span.flags`: the W3C sampled flag in the low byte, and whether the parent is remote.
pub(crate) mod flags {
    pub const SAMPLED: u32 = 0x01;
    pub const HAS_IS_REMOTE: u32 = 0x100;
    pub const IS_REMOTE: u32 = 0x200;
}

/// How field names appear in error messages: as in the `.proto` files, or in OTLP/JSON's
/// lowerCamelCase.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Style {
    Proto,
    Json,
}

impl Style {
    /// `path` (written in snake_case) in this style.
    pub fn field(self, path: &str) -> String {
        match self {
            Style::Proto => path.to_string(),
            Style::Json => {
                let mut out = String::with_capacity(path.len());
                let mut upper = false;
                for c in path.chars() {
                    if c == '_' {
                        upper = true;
                    } else if upper {
                        out.push(c.to_ascii_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }

    /// A received id for an error message: `0x...` bytes in proto, a quoted hex string in JSON.
    fn id_value(self, bytes: &[u8]) -> String {
        const SHOWN: usize = 20;
        let mut hex = String::new();
        for b in bytes.iter().take(SHOWN) {
            hex.push_str(&format!("{b:02x}"));
        }
        match self {
            Style::Proto if bytes.len() > SHOWN => format!("0x{hex}..."),
            Style::Proto => format!("0x{hex}"),
            Style::Json => quote(&hex),
        }
    }
}

/// `problem` with `prefix.` put before its field, for problems found inside a nested message.
pub(crate) fn prefixed(problem: Problem, prefix: &str) -> Problem {
    let join = |field: String| format!("{prefix}.{field}");
    match problem {
        Problem::Missing { field } => Problem::missing(join(field)),
        Problem::WrongType {
            field,
            found,
            expected,
        } => Problem::wrong_type(join(field), found, expected),
        Problem::Invalid {
            field,
            value,
            reason,
        } => Problem::invalid(join(field), value, reason),
        Problem::Malformed(message) => Problem::Malformed(format!("{prefix}: {message}")),
    }
}

// ---------------------------------------------------------------------------------------------
// SpanData -> OTLP

/// The request for a batch: one `ResourceSpans` per distinct resource and one `ScopeSpans` per
/// scope within it, each in order of first appearance.
pub(crate) fn to_request(spans: &[SpanData]) -> ExportTraceServiceRequest {
    let mut groups: Vec<(&Arc<Resource>, ResourceSpans)> = Vec::new();
    for span in spans {
        let group = match groups.iter().position(|(resource, _)| {
            Arc::ptr_eq(resource, &span.resource) || resource.as_ref() == span.resource.as_ref()
        }) {
            Some(i) => i,
            None => {
                groups.push((
                    &span.resource,
                    ResourceSpans {
                        resource: Some(resource_to_proto(&span.resource)),
                        scope_spans: Vec::new(),
                        schema_url: String::new(),
                    },
                ));
                groups.len() - 1
            }
        };
        let scopes = &mut groups[group].1.scope_spans;
        let scope = match scopes
            .iter()
            .position(|s| s.scope.as_ref().map_or("", |s| s.name.as_str()) == span.scope)
        {
            Some(i) => i,
            None => {
                scopes.push(ScopeSpans {
                    scope: (!span.scope.is_empty()).then(|| InstrumentationScope {
                        name: span.scope.to_string(),
                        ..InstrumentationScope::default()
                    }),
                    spans: Vec::new(),
                    schema_url: String::new(),
                });
                scopes.len() - 1
            }
        };
        scopes[scope].spans.push(span_to_proto(span));
    }
    ExportTraceServiceRequest {
        resource_spans: groups.into_iter().map(|(_, group)| group).collect(),
    }
}

fn resource_to_proto(resource: &Resource) -> PbResource {
    let mut attributes = Vec::with_capacity(resource.attributes.len() + 1);
    if !resource.service_name.is_empty() {
        attributes.push(pb_key_value(
            key::SERVICE_NAME,
            AnyValue {
                value: Some(any_value::Value::StringValue(
                    resource.service_name.to_string(),
                )),
            },
        ));
    }
    attributes.extend(
        resource
            .attributes
            .iter()
            .filter(|kv| kv.key != key::SERVICE_NAME)
            .map(key_value_to_proto),
    );
    PbResource {
        attributes,
        ..PbResource::default()
    }
}

fn pb_key_value(key: &str, value: AnyValue) -> PbKeyValue {
    PbKeyValue {
        key: key.to_string(),
        value: Some(value),
        ..PbKeyValue::default()
    }
}

fn key_value_to_proto(kv: &KeyValue) -> PbKeyValue {
    pb_key_value(&kv.key, value_to_proto(&kv.value))
}

pub(crate) fn value_to_proto(value: &Value) -> AnyValue {
    use any_value::Value as V;
    AnyValue {
        value: Some(match value {
            Value::Str(text) => V::StringValue(text.to_string()),
            Value::I64(n) => V::IntValue(*n),
            Value::F64(x) => V::DoubleValue(*x),
            Value::Bool(flag) => V::BoolValue(*flag),
            Value::Array(items) => V::ArrayValue(ArrayValue {
                values: items.iter().map(value_to_proto).collect(),
            }),
            Value::Bytes(bytes) => V::BytesValue(bytes.clone()),
        }),
    }
}

/// Sets `key`, replacing an attribute of the same key: the mapping's own keys win.
fn set(attributes: &mut Vec<PbKeyValue>, key: &str, value: any_value::Value) {
    let value = Some(AnyValue { value: Some(value) });
    match attributes.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => attributes.push(PbKeyValue {
            key: key.to_string(),
            value,
            ..PbKeyValue::default()
        }),
    }
}

fn span_to_proto(span: &SpanData) -> Span {
    use any_value::Value as V;
    let mut attributes: Vec<PbKeyValue> = span.attributes.iter().map(key_value_to_proto).collect();
    let status = span.status.as_ref().map(|s| {
        let code = if s.is_ok() {
            status::StatusCode::Ok
        } else {
            if s.canonical_code() != StatusCode::Unknown {
                let name = s.canonical_code().name().to_string();
                set(&mut attributes, key::STATUS_CODE, V::StringValue(name));
            }
            status::StatusCode::Error
        };
        if let Some(details) = s.details() {
            set(
                &mut attributes,
                key::STATUS_DETAILS,
                V::StringValue(details.to_string()),
            );
        }
        PbStatus {
            message: s.description().to_string(),
            code: code as i32,
        }
    });
    let dropped = &span.dropped;
    if dropped.message_events != 0 {
        set(
            &mut attributes,
            key::DROPPED_MESSAGE_EVENTS,
            V::IntValue(i64::from(dropped.message_events)),
        );
    }
    if let Some(stack_trace) = &span.stack_trace {
        set(
            &mut attributes,
            key::STACK_TRACE,
            V::StringValue(stack_trace.clone()),
        );
    }
    let mut flags = flags::SAMPLED | flags::HAS_IS_REMOTE;
    if span.parent_is_remote {
        flags |= flags::IS_REMOTE;
    }
    Span {
        trace_id: span.trace_id.to_bytes().to_vec(),
        span_id: span.span_id.to_bytes().to_vec(),
        trace_state: span.trace_state.to_header(),
        parent_span_id: span
            .parent_span_id
            .map(|id| id.to_bytes().to_vec())
            .unwrap_or_default(),
        flags,
        name: span.name.to_string(),
        kind: span.kind as i32,
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.end_time_unix_nano,
        attributes,
        dropped_attributes_count: dropped.attributes,
        events: events_to_proto(span),
        dropped_events_count: dropped.annotations.saturating_add(dropped.message_events),
        links: span.links.iter().map(link_to_proto).collect(),
        dropped_links_count: dropped.links,
        status,
    }
}

/// Annotations and message events in one list, merged by time (each keeps its own order; at
/// the same time annotations come first), as an SDK that records them as they happen would.
fn events_to_proto(span: &SpanData) -> Vec<span::Event> {
    let mut events = Vec::with_capacity(span.annotations.len() + span.message_events.len());
    let mut annotations = span.annotations.iter().peekable();
    let mut messages = span.message_events.iter().peekable();
    loop {
        let take_annotation = match (annotations.peek(), messages.peek()) {
            (Some(a), Some(m)) => a.time_unix_nano <= m.time_unix_nano,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_annotation {
            if let Some(a) = annotations.next() {
                events.push(span::Event {
                    time_unix_nano: a.time_unix_nano,
                    name: a.description.to_string(),
                    attributes: a.attributes.iter().map(key_value_to_proto).collect(),
                    dropped_attributes_count: a.dropped_attributes_count,
                });
            }
        } else if let Some(m) = messages.next() {
            events.push(message_event_to_proto(m));
        }
    }
    events
}

fn message_event_to_proto(event: &MessageEvent) -> span::Event {
    use any_value::Value as V;
    // u64 in Threadline, int64 in OTLP: the same 64 bits, so every value survives.
    let int = |key: &str, n: u64| {
        pb_key_value(
            key,
            AnyValue {
                value: Some(V::IntValue(n as i64)),
            },
        )
    };
    span::Event {
        time_unix_nano: event.time_unix_nano,
        name: key::MESSAGE_EVENT.to_string(),
        attributes: vec![
            pb_key_value(
                key::MESSAGE_TYPE,
                AnyValue {
                    value: Some(V::StringValue(event.kind.as_str().to_string())),
                },
            ),
            int(key::MESSAGE_ID, event.id),
            int(key::MESSAGE_UNCOMPRESSED_SIZE, event.uncompressed_size),
            int(key::MESSAGE_COMPRESSED_SIZE, event.compressed_size),
        ],
        dropped_attributes_count: 0,
    }
}

fn link_to_proto(link: &Link) -> span::Link {
    let mut attributes: Vec<PbKeyValue> = link.attributes.iter().map(key_value_to_proto).collect();
    if link.link_type != LinkType::Unspecified {
        set(
            &mut attributes,
            key::LINK_TYPE,
            any_value::Value::StringValue(link.link_type.as_str().to_string()),
        );
    }
    span::Link {
        trace_id: link.trace_id.to_bytes().to_vec(),
        span_id: link.span_id.to_bytes().to_vec(),
        trace_state: link.trace_state.to_header(),
        attributes,
        dropped_attributes_count: link.dropped_attributes_count,
        // Neither the linked span's flags nor whether it is remote are known.
        flags: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// OTLP -> SpanData

/// The resource of a `ResourceSpans`, to be shared by all its spans.
///
/// `service.name` (a string; anything else in its display form) becomes `service_name`; the
/// other attributes stay attributes.
pub(crate) fn resource_from_proto(
    resource: Option<PbResource>,
    style: Style,
) -> Result<Arc<Resource>, Problem> {
    let mut out = Resource::default();
    if let Some(resource) = resource {
        let mut attributes = attributes_from_proto(resource.attributes, "attributes", style)?;
        if let Some(i) = attributes.iter().position(|kv| kv.key == key::SERVICE_NAME) {
            out.service_name = match attributes.remove(i).value {
                Value::Str(name) => name,
                other => Cow::Owned(other.to_string()),
            };
        }
        out.attributes = attributes;
    }
    Ok(Arc::new(out))
}

/// The scope name of a `ScopeSpans`; version and attributes have no place in `SpanData`.
pub(crate) fn scope_from_proto(scope: Option<InstrumentationScope>) -> Str {
    scope.map(|s| Cow::Owned(s.name)).unwrap_or_default()
}

/// One span, or what was wrong with it.
pub(crate) fn span_from_proto(
    pb: Span,
    resource: &Arc<Resource>,
    scope: &Str,
    style: Style,
) -> Result<SpanData, Problem> {
    let fields = SpanFields {
        trace_id: &pb.trace_id,
        span_id: &pb.span_id,
        trace_state: &pb.trace_state,
        parent_span_id: &pb.parent_span_id,
        flags: pb.flags,
        name: pb.name.into(),
        kind: pb.kind,
        start_time_unix_nano: pb.start_time_unix_nano,
        end_time_unix_nano: pb.end_time_unix_nano,
        attributes: Attributes::Proto(pb.attributes),
        dropped_attributes_count: pb.dropped_attributes_count,
        events: pb.events,
        dropped_events_count: pb.dropped_events_count,
        links: pb.links,
        dropped_links_count: pb.dropped_links_count,
        status: pb.status,
    };
    span_from_fields(fields, resource, scope, style)
}

/// A span's attributes: as `opentelemetry-proto` decoded them, or already converted (by the
/// direct protobuf reader, which only converts values that cannot fail).
pub(crate) enum Attributes {
    Proto(Vec<PbKeyValue>),
    Converted(Vec<KeyValue>),
}

/// The fields of an OTLP `Span`, borrowed where `SpanData` does not keep them.
pub(crate) struct SpanFields<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub trace_state: &'a str,
    pub parent_span_id: &'a [u8],
    pub flags: u32,
    pub name: Str,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    pub events: Vec<span::Event>,
    pub dropped_events_count: u32,
    pub links: Vec<span::Link>,
    pub dropped_links_count: u32,
    pub status: Option<PbStatus>,
}

/// One span from its fields, or what was wrong with it.
pub(crate) fn span_from_fields(
    pb: SpanFields<'_>,
    resource: &Arc<Resource>,
    scope: &Str,
    style: Style,
) -> Result<SpanData, Problem> {
    let trace_id = trace_id("trace_id", pb.trace_id, style)?;
    let span_id = span_id("span_id", pb.span_id, style)?;
    // An empty or all-zero parent id means a root span.
    let parent_span_id = match pb.parent_span_id {
        [] => None,
        bytes => match <[u8; 8]>::try_from(bytes) {
            Ok(bytes) => Some(SpanId::from_bytes(bytes)).filter(|id| id.is_valid()),
            Err(_) => return Err(bad_id("parent_span_id", bytes, "is not 8 bytes", style)),
        },
    };
    let kind = match pb.kind {
        0 => SpanKind::Unspecified,
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        other => {
            return Err(Problem::invalid(
                "kind",
                other.to_string(),
                "is not a known span kind",
            ))
        }
    };
    let mut span = SpanData::new(trace_id, span_id, pb.name);
    span.parent_span_id = parent_span_id;
    span.trace_state = trace_state(pb.trace_state);
    span.parent_is_remote = pb.flags & (flags::HAS_IS_REMOTE | flags::IS_REMOTE)
        == flags::HAS_IS_REMOTE | flags::IS_REMOTE;
    span.kind = kind;
    span.start_time_unix_nano = pb.start_time_unix_nano;
    span.end_time_unix_nano = pb.end_time_unix_nano;
    span.resource = Arc::clone(resource);
    span.scope = scope.clone();

    let mut attributes = match pb.attributes {
        Attributes::Proto(attributes) => attributes_from_proto(attributes, "attributes", style)?,
        Attributes::Converted(attributes) => attributes,
    };
    span.stack_trace = take(&mut attributes, key::STACK_TRACE, |v| match v {
        Value::Str(text) => Some(text.to_string()),
        _ => None,
    });
    let dropped_messages = take(&mut attributes, key::DROPPED_MESSAGE_EVENTS, |v| match v {
        Value::I64(n) => u32::try_from(*n).ok(),
        _ => None,
    })
    .unwrap_or(0);
    span.status = match pb.status {
        None => None,
        Some(status) => status_from_proto(status, &mut attributes, style)?,
    };
    span.attributes = attributes;
    span.dropped.attributes = pb.dropped_attributes_count;
    span.dropped.message_events = dropped_messages;
    span.dropped.annotations = pb.dropped_events_count.saturating_sub(dropped_messages);
    span.dropped.links = pb.dropped_links_count;

    for (i, event) in pb.events.into_iter().enumerate() {
        if let Some(message) = message_event_from_proto(&event) {
            span.message_events.push(message);
            continue;
        }
        let path = format!("events[{i}].attributes");
        span.annotations.push(Annotation {
            time_unix_nano: event.time_unix_nano,
            description: Cow::Owned(event.name),
            attributes: attributes_from_proto(event.attributes, &path, style)?,
            dropped_attributes_count: event.dropped_attributes_count,
        });
    }
    for (i, link) in pb.links.into_iter().enumerate() {
        span.links.push(link_from_proto(link, i, style)?);
    }
    Ok(span)
}

fn trace_id(field: &str, bytes: &[u8], style: Style) -> Result<TraceId, Problem> {
    if bytes.is_empty() {
        return Err(Problem::missing(style.field(field)));
    }
    let id = <[u8; 16]>::try_from(bytes)
        .map(TraceId::from_bytes)
        .map_err(|_| bad_id(field, bytes, "is not 16 bytes", style))?;
    if !id.is_valid() {
        return Err(bad_id(field, bytes, "is all zeros", style));
    }
    Ok(id)
}

fn span_id(field: &str, bytes: &[u8], style: Style) -> Result<SpanId, Problem> {
    if bytes.is_empty() {
        return Err(Problem::missing(style.field(field)));
    }
    let id = <[u8; 8]>::try_from(bytes)
        .map(SpanId::from_bytes)
        .map_err(|_| bad_id(field, bytes, "is not 8 bytes", style))?;
    if !id.is_valid() {
        return Err(bad_id(field, bytes, "is all zeros", style));
    }
    Ok(id)
}

fn bad_id(field: &str, bytes: &[u8], reason: &'static str, style: Style) -> Problem {
    Problem::invalid(style.field(field), style.id_value(bytes), reason)
}

/// The W3C rule for a `tracestate` that does not parse: discard it, keep the trace context.
fn trace_state(header: &str) -> TraceState {
    if header.is_empty() {
        return TraceState::EMPTY;
    }
    TraceState::from_header(header).unwrap_or(TraceState::EMPTY)
}

/// Removes the first attribute `key` and returns its parsed value, or leaves it in place when
/// it does not parse.
fn take<T>(
    attributes: &mut Vec<KeyValue>,
    key: &str,
    parse: impl FnOnce(&Value) -> Option<T>,
) -> Option<T> {
    let i = attributes.iter().position(|kv| kv.key == key)?;
    let parsed = parse(&attributes[i].value)?;
    attributes.remove(i);
    Some(parsed)
}

fn status_from_proto(
    status: PbStatus,
    attributes: &mut Vec<KeyValue>,
    style: Style,
) -> Result<Option<Status>, Problem> {
    let status = match status::StatusCode::try_from(status.code) {
        Ok(status::StatusCode::Unset) => return Ok(None),
        Ok(status::StatusCode::Ok) => Status::new(StatusCode::Ok, status.message),
        Ok(status::StatusCode::Error) => {
            let code = take(attributes, key::STATUS_CODE, |v| {
                v.as_str()
                    .and_then(|name| name.parse::<StatusCode>().ok())
                    .filter(|code| *code != StatusCode::Ok)
            });
            Status::new(code.unwrap_or(StatusCode::Unknown), status.message)
        }
        Err(_) => {
            return Err(Problem::invalid(
                style.field("status.code"),
                status.code.to_string(),
                "is not a known status code",
            ))
        }
    };
    let details = take(attributes, key::STATUS_DETAILS, |v| {
        v.as_str().map(str::to_string)
    });
    Ok(Some(match details {
        Some(details) => status.with_details(details),
        None => status,
    }))
}

/// An event named `message` whose attributes are `message.type` (SENT, RECEIVED or
/// UNSPECIFIED) and, optionally, integer `message.id`, `message.uncompressed_size` and
/// `message.compressed_size`, with nothing else and nothing dropped.
fn message_event_from_proto(event: &span::Event) -> Option<MessageEvent> {
    use any_value::Value as V;
    if event.name != key::MESSAGE_EVENT || event.dropped_attributes_count != 0 {
        return None;
    }
    let mut out = MessageEvent {
        time_unix_nano: event.time_unix_nano,
        ..MessageEvent::default()
    };
    let mut seen = [false; 4];
    for kv in &event.attributes {
        let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
        let slot = match (kv.key.as_str(), value) {
            (key::MESSAGE_TYPE, Some(V::StringValue(kind))) => {
                out.kind = match kind.as_str() {
                    "SENT" => MessageEventType::Sent,
                    "RECEIVED" => MessageEventType::Received,
                    "UNSPECIFIED" => MessageEventType::Unspecified,
                    _ => return None,
                };
                0
            }
            (key::MESSAGE_ID, Some(V::IntValue(n))) => {
                out.id = *n as u64;
                1
            }
            (key::MESSAGE_UNCOMPRESSED_SIZE, Some(V::IntValue(n))) => {
                out.uncompressed_size = *n as u64;
                2
            }
            (key::MESSAGE_COMPRESSED_SIZE, Some(V::IntValue(n))) => {
                out.compressed_size = *n as u64;
                3
            }
            _ => return None,
        };
        if std::mem::replace(&mut seen[slot], true) {
            return None;
        }
    }
    seen[0].then_some(out)
}

fn link_from_proto(link: span::Link, i: usize, style: Style) -> Result<Link, Problem> {
    let path = |field: &str| format!("links[{i}].{field}");
    let mut attributes = attributes_from_proto(link.attributes, &path("attributes"), style)?;
    let link_type = take(&mut attributes, key::LINK_TYPE, |v| match v.as_str()? {
        "CHILD_LINKED_SPAN" => Some(LinkType::ChildLinkedSpan),
        "PARENT_LINKED_SPAN" => Some(LinkType::ParentLinkedSpan),
        _ => None,
    });
    Ok(Link {
        trace_id: trace_id(&path("trace_id"), &link.trace_id, style)?,
        span_id: span_id(&path("span_id"), &link.span_id, style)?,
        trace_state: trace_state(&link.trace_state),
        link_type: link_type.unwrap_or_default(),
        attributes,
        dropped_attributes_count: link.dropped_attributes_count,
    })
}

/// Attributes with unique keys: a repeated key keeps its first position and its last value.
/// An attribute with no value (OTLP's empty `AnyValue`) is left out.
fn attributes_from_proto(
    attributes: Vec<PbKeyValue>,
    path: &str,
    style: Style,
) -> Result<Vec<KeyValue>, Problem> {
    let mut out: Vec<KeyValue> = Vec::with_capacity(attributes.len());
    for (i, kv) in attributes.into_iter().enumerate() {
        let field = || format!("{path}[{i}].value");
        let Some(value) = value_from_proto(kv.value, &field, style)? else {
            continue;
        };
        // Linear: attribute lists are short, and limits keep them so.
        match out.iter_mut().find(|existing| existing.key == kv.key) {
            Some(existing) => existing.value = value,
            None => out.push(KeyValue::new(kv.key, value)),
        }
    }
    Ok(out)
}

/// A value, `None` when empty; a key-value list becomes the string of its JSON text.
fn value_from_proto(
    value: Option<AnyValue>,
    field: &dyn Fn() -> String,
    style: Style,
) -> Result<Option<Value>, Problem> {
    use any_value::Value as V;
    let Some(value) = value.and_then(|v| v.value) else {
        return Ok(None);
    };
    Ok(Some(match value {
        V::StringValue(text) => Value::Str(Cow::Owned(text)),
        V::BoolValue(flag) => Value::Bool(flag),
        V::IntValue(n) => Value::I64(n),
        V::DoubleValue(x) => Value::F64(x),
        V::BytesValue(bytes) => Value::Bytes(bytes),
        V::ArrayValue(array) => {
            let mut items = Vec::with_capacity(array.values.len());
            for (i, item) in array.values.into_iter().enumerate() {
                let item_field = || format!("{}.array_value.values[{i}]", field());
                items.extend(value_from_proto(Some(item), &item_field, style)?);
            }
            Value::Array(items)
        }
        V::KvlistValue(list) => {
            let json = kvlist_json(&list, field, style)?;
            Value::Str(Cow::Owned(json.to_string()))
        }
        V::StringValueStrindex(n) => {
            return Err(Problem::invalid(
                style.field(&format!("{}.string_value_strindex", field())),
                n.to_string(),
                "is not allowed outside profiles",
            ))
        }
    }))
}

/// A key-value list as a JSON object (keys in order; bytes in base64, non-finite doubles as
/// `"NaN"`, `"Infinity"` and `"-Infinity"`, empty values as `null`).
fn kvlist_json(
    list: &KeyValueList,
    field: &dyn Fn() -> String,
    style: Style,
) -> Result<Json, Problem> {
    fn plain(
        value: Option<&any_value::Value>,
        field: &dyn Fn() -> String,
        style: Style,
    ) -> Result<Json, Problem> {
        use any_value::Value as V;
        Ok(match value {
            None => Json::Null,
            Some(V::StringValue(text)) => Json::String(text.clone()),
            Some(V::BoolValue(flag)) => Json::Bool(*flag),
            Some(V::IntValue(n)) => Json::from(*n),
            Some(V::DoubleValue(x)) => match serde_json::Number::from_f64(*x) {
                Some(number) => Json::Number(number),
                None => Json::String(crate::json_value::non_finite(*x).to_string()),
            },
            Some(V::BytesValue(bytes)) => Json::String(crate::base64::encode(bytes)),
            Some(V::ArrayValue(array)) => Json::Array(
                array
                    .values
                    .iter()
                    .map(|v| plain(v.value.as_ref(), field, style))
                    .collect::<Result<_, _>>()?,
            ),
            Some(V::KvlistValue(list)) => kvlist_json(list, field, style)?,
            Some(V::StringValueStrindex(n)) => {
                return Err(Problem::invalid(
                    style.field(&format!("{}.string_value_strindex", field())),
                    n.to_string(),
                    "is not allowed outside profiles",
                ))
            }
        })
    }
    let mut object = serde_json::Map::with_capacity(list.values.len());
    for kv in &list.values {
        let value = plain(
            kv.value.as_ref().and_then(|v| v.value.as_ref()),
            field,
            style,
        )?;
        object.insert(kv.key.clone(), value);
    }
    Ok(Json::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_style_camel_cases_paths() {
        assert_eq!(Style::Json.field("links[0].trace_id"), "links[0].traceId");
        assert_eq!(
            Style::Json.field("attributes[1].value.array_value.values[0].string_value_strindex"),
            "attributes[1].value.arrayValue.values[0].stringValueStrindex"
        );
        assert_eq!(Style::Proto.field("parent_span_id"), "parent_span_id");
    }

    #[test]
    fn message_events_are_recognized_strictly() {
        let event = message_event_to_proto(&MessageEvent {
            time_unix_nano: 5,
            kind: MessageEventType::Sent,
            id: u64::MAX,
            uncompressed_size: 10,
            compressed_size: 0,
        });
        let back = message_event_from_proto(&event).unwrap();
        assert_eq!(back.id, u64::MAX);
        assert_eq!(back.kind, MessageEventType::Sent);

        let mut renamed = event.clone();
        renamed.name = "Message".into();
        assert!(message_event_from_proto(&renamed).is_none());
        let mut extra = event.clone();
        extra
            .attributes
            .push(pb_key_value("x", value_to_proto(&Value::from(1))));
        assert!(message_event_from_proto(&extra).is_none());
        let mut untyped = event.clone();
        untyped.attributes.remove(0);
        assert!(message_event_from_proto(&untyped).is_none());
        let mut dropped = event;
        dropped.dropped_attributes_count = 1;
        assert!(message_event_from_proto(&dropped).is_none());
    }
}

//! The one mapping between [`SpanData`] and the structs of `jaeger.thrift`.
//!
//! `compact` and `binary` only move those structs to and from bytes; every decision about what
//! a tag, a log or a reference means is made here, once, for both.

use std::borrow::Cow;
use std::sync::Arc;

use threadline::{
    Annotation, KeyValue, Link, LinkType, MessageEvent, MessageEventType, Resource, SpanData,
    SpanId, SpanKind, Status, StatusCode, TraceId, TraceState, Value,
};

use super::thrift::{Log, Process, RefType, Span, SpanRef, Tag, TagValue};
use crate::Problem;

/// Tag and log field keys with a meaning of their own.
pub(crate) mod key {
    pub const SPAN_KIND: &str = "span.kind";
    pub const STATUS_CODE: &str = "otel.status_code";
    pub const STATUS_DESCRIPTION: &str = "otel.status_description";
    pub const ERROR: &str = "error";
    pub const CANONICAL_CODE: &str = "threadline.status_code";
    pub const STATUS_DETAILS: &str = "threadline.status_details";
    pub const SCOPE_NAME: &str = "otel.scope.name";
    pub const LIBRARY_NAME: &str = "otel.library.name";
    pub const TRACE_STATE: &str = "w3c.tracestate";
    pub const STACK_TRACE: &str = "code.stacktrace";
    pub const DROPPED_ATTRIBUTES: &str = "otel.dropped_attributes_count";
    pub const DROPPED_EVENTS: &str = "otel.dropped_events_count";
    pub const DROPPED_MESSAGE_EVENTS: &str = "threadline.dropped_message_events_count";
    pub const DROPPED_LINKS: &str = "otel.dropped_links_count";
    pub const DROPPED_LINK_ATTRIBUTES: &str = "threadline.dropped_link_attributes_count";
    pub const EVENT: &str = "event";
    pub const MESSAGE_EVENT: &str = "message";
    pub const MESSAGE_TYPE: &str = "message.type";
    pub const MESSAGE_ID: &str = "message.id";
    pub const MESSAGE_UNCOMPRESSED_SIZE: &str = "message.uncompressed_size";
    pub const MESSAGE_COMPRESSED_SIZE: &str = "message.compressed_size";

    /// The span tags the mapping writes; span attributes with these keys are left out.
    pub const SPAN_TAGS: [&str; 15] = [
        SPAN_KIND,
        STATUS_CODE,
        STATUS_DESCRIPTION,
        ERROR,
        CANONICAL_CODE,
        STATUS_DETAILS,
        SCOPE_NAME,
        LIBRARY_NAME,
        TRACE_STATE,
        STACK_TRACE,
        DROPPED_ATTRIBUTES,
        DROPPED_EVENTS,
        DROPPED_MESSAGE_EVENTS,
        DROPPED_LINKS,
        DROPPED_LINK_ATTRIBUTES,
    ];
}

/// `Span.flags`: sampled, since only sampled spans are exported.
pub(crate) const SAMPLED: i32 = 1;

// ---------------------------------------------------------------------------------------------
// SpanData -> Jaeger

/// The spans grouped by resource (same `Arc` or equal value), in order of first appearance:
/// one `Batch` each.
pub(crate) fn group_by_resource(spans: &[SpanData]) -> Vec<(Process<'_>, Vec<usize>)> {
    let mut groups: Vec<(&Arc<Resource>, Vec<usize>)> = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|(r, _)| Arc::ptr_eq(r, &span.resource) || **r == span.resource)
        {
            Some((_, members)) => members.push(i),
            None => {
                let mut members = Vec::with_capacity(spans.len() - i);
                members.push(i);
                groups.push((&span.resource, members));
            }
        }
    }
    groups
        .into_iter()
        .map(|(resource, members)| (to_process(resource), members))
        .collect()
}

pub(crate) fn to_process(resource: &Resource) -> Process<'_> {
    Process {
        service_name: Cow::Borrowed(&resource.service_name),
        tags: resource.attributes.iter().map(to_tag).collect(),
    }
}

fn to_tag(kv: &KeyValue) -> Tag<'_> {
    Tag {
        key: Cow::Borrowed(&kv.key),
        value: tag_value(&kv.value),
    }
}

fn tag<'a>(key: &'static str, value: TagValue<'a>) -> Tag<'a> {
    Tag {
        key: Cow::Borrowed(key),
        value,
    }
}

/// An attribute value as a typed tag; arrays, which Jaeger has no type for, as JSON text.
fn tag_value(value: &Value) -> TagValue<'_> {
    match value {
        Value::Str(text) => TagValue::Str(Cow::Borrowed(text)),
        Value::I64(n) => TagValue::Long(*n),
        Value::F64(x) => TagValue::Double(*x),
        Value::Bool(flag) => TagValue::Bool(*flag),
        Value::Bytes(bytes) => TagValue::Binary(Cow::Borrowed(bytes)),
        Value::Array(_) => TagValue::Str(crate::json_value::to_json(value).to_string().into()),
    }
}

fn count(key: &'static str, n: u32) -> Option<Tag<'static>> {
    (n != 0).then(|| tag(key, TagValue::Long(i64::from(n))))
}

fn micros(nanos: u64) -> i64 {
    // u64::MAX / 1000 fits in an i64
    (nanos / 1000) as i64
}

pub(crate) fn to_span(span: &SpanData) -> Span<'_> {
    let trace_id_low = span.trace_id.0 as u64 as i64;
    let trace_id_high = (span.trace_id.0 >> 64) as u64 as i64;
    let mut references = Vec::with_capacity(span.links.len() + 1);
    if let Some(parent) = span.parent_span_id {
        references.push(SpanRef {
            ref_type: RefType::ChildOf,
            trace_id_low,
            trace_id_high,
            span_id: parent.0 as i64,
        });
    }
    for link in &span.links {
        references.push(SpanRef {
            ref_type: RefType::FollowsFrom,
            trace_id_low: link.trace_id.0 as u64 as i64,
            trace_id_high: (link.trace_id.0 >> 64) as u64 as i64,
            span_id: link.span_id.0 as i64,
        });
    }

    let mut tags: Vec<Tag<'_>> = Vec::with_capacity(span.attributes.len() + 8);
    tags.extend(
        span.attributes
            .iter()
            .filter(|kv| !key::SPAN_TAGS.contains(&kv.key.as_ref()))
            .map(to_tag),
    );
    if span.kind != SpanKind::Unspecified {
        tags.push(tag(
            key::SPAN_KIND,
            TagValue::Str(Cow::Borrowed(span.kind.as_str())),
        ));
    }
    if let Some(status) = &span.status {
        let ok = status.is_ok();
        let code = if ok { "OK" } else { "ERROR" };
        tags.push(tag(key::STATUS_CODE, TagValue::Str(Cow::Borrowed(code))));
        if !status.description().is_empty() {
            tags.push(tag(
                key::STATUS_DESCRIPTION,
                TagValue::Str(Cow::Borrowed(status.description())),
            ));
        }
        if !ok {
            tags.push(tag(key::ERROR, TagValue::Bool(true)));
            if status.canonical_code() != StatusCode::Unknown {
                let name = status.canonical_code().name();
                tags.push(tag(key::CANONICAL_CODE, TagValue::Str(Cow::Borrowed(name))));
            }
        }
        if let Some(details) = status.details() {
            tags.push(tag(
                key::STATUS_DETAILS,
                TagValue::Str(Cow::Borrowed(details)),
            ));
        }
    }
    if !span.scope.is_empty() {
        tags.push(tag(
            key::SCOPE_NAME,
            TagValue::Str(Cow::Borrowed(&span.scope)),
        ));
        tags.push(tag(
            key::LIBRARY_NAME,
            TagValue::Str(Cow::Borrowed(&span.scope)),
        ));
    }
    if !span.trace_state.is_empty() {
        let header = span.trace_state.to_header();
        tags.push(tag(key::TRACE_STATE, TagValue::Str(header.into())));
    }
    if let Some(stack_trace) = &span.stack_trace {
        tags.push(tag(
            key::STACK_TRACE,
            TagValue::Str(Cow::Borrowed(stack_trace)),
        ));
    }
    let dropped = &span.dropped;
    // a count decoded earlier (now an attribute) adds to the links' own
    let earlier = match span.attribute(key::DROPPED_LINK_ATTRIBUTES) {
        Some(Value::I64(n)) if *n > 0 => *n as u64,
        _ => 0,
    };
    let link_attributes: u64 = span
        .links
        .iter()
        .map(|l| l.attributes.len() as u64 + u64::from(l.dropped_attributes_count))
        .sum::<u64>()
        .saturating_add(earlier);
    tags.extend(
        [
            count(key::DROPPED_ATTRIBUTES, dropped.attributes),
            count(
                key::DROPPED_EVENTS,
                dropped.annotations.saturating_add(dropped.message_events),
            ),
            count(key::DROPPED_MESSAGE_EVENTS, dropped.message_events),
            count(key::DROPPED_LINKS, dropped.links),
            (link_attributes != 0).then(|| {
                tag(
                    key::DROPPED_LINK_ATTRIBUTES,
                    TagValue::Long(i64::try_from(link_attributes).unwrap_or(i64::MAX)),
                )
            }),
        ]
        .into_iter()
        .flatten(),
    );

    let start = micros(span.start_time_unix_nano);
    Span {
        trace_id_low,
        trace_id_high,
        span_id: span.span_id.0 as i64,
        parent_span_id: span.parent_span_id.map_or(0, |p| p.0 as i64),
        operation_name: Cow::Borrowed(&span.name),
        references,
        flags: SAMPLED,
        start_time: start,
        duration: micros(span.end_time_unix_nano).saturating_sub(start).max(0),
        tags,
        logs: to_logs(span),
    }
}

/// Annotations and message events as logs, merged by time; each list keeps its own order.
/// Times compare in whole microseconds, as Jaeger carries them, so an annotation and an event
/// in the same microsecond come out in the same order before and after a round trip.
fn to_logs(span: &SpanData) -> Vec<Log<'_>> {
    let mut logs = Vec::with_capacity(span.annotations.len() + span.message_events.len());
    let (mut a, mut m) = (0, 0);
    while a < span.annotations.len() || m < span.message_events.len() {
        let annotation = span.annotations.get(a);
        let event = span.message_events.get(m);
        let take_annotation = match (annotation, event) {
            (Some(x), Some(y)) => micros(x.time_unix_nano) <= micros(y.time_unix_nano),
            (Some(_), None) => true,
            _ => false,
        };
        if take_annotation {
            if let Some(annotation) = annotation {
                logs.push(annotation_log(annotation));
            }
            a += 1;
        } else {
            if let Some(event) = event {
                logs.push(message_log(event));
            }
            m += 1;
        }
    }
    logs
}

fn annotation_log(annotation: &Annotation) -> Log<'_> {
    let mut fields = Vec::with_capacity(annotation.attributes.len() + 2);
    if !annotation.description.is_empty() {
        fields.push(tag(
            key::EVENT,
            TagValue::Str(Cow::Borrowed(&annotation.description)),
        ));
    }
    fields.extend(
        annotation
            .attributes
            .iter()
            .filter(|kv| kv.key != key::EVENT && kv.key != key::DROPPED_ATTRIBUTES)
            .map(to_tag),
    );
    fields.extend(count(
        key::DROPPED_ATTRIBUTES,
        annotation.dropped_attributes_count,
    ));
    Log {
        timestamp: micros(annotation.time_unix_nano),
        fields,
    }
}

fn message_log(event: &MessageEvent) -> Log<'static> {
    Log {
        timestamp: micros(event.time_unix_nano),
        fields: vec![
            tag(key::EVENT, TagValue::Str(Cow::Borrowed(key::MESSAGE_EVENT))),
            tag(
                key::MESSAGE_TYPE,
                TagValue::Str(Cow::Borrowed(event.kind.as_str())),
            ),
            tag(key::MESSAGE_ID, TagValue::Long(event.id as i64)),
            tag(
                key::MESSAGE_UNCOMPRESSED_SIZE,
                TagValue::Long(event.uncompressed_size as i64),
            ),
            tag(
                key::MESSAGE_COMPRESSED_SIZE,
                TagValue::Long(event.compressed_size as i64),
            ),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Jaeger -> SpanData

pub(crate) fn resource_from_process(process: Process<'static>) -> Arc<Resource> {
    Arc::new(Resource {
        service_name: process.service_name,
        attributes: attributes(process.tags),
    })
}

fn value(tag: TagValue<'static>) -> Value {
    match tag {
        TagValue::Str(text) => Value::Str(text),
        TagValue::Double(x) => Value::F64(x),
        TagValue::Bool(flag) => Value::Bool(flag),
        TagValue::Long(n) => Value::I64(n),
        TagValue::Binary(bytes) => Value::Bytes(bytes.into_owned()),
    }
}

/// Tags as attributes, unique by key: a repeated key keeps its first position and its last
/// value.
fn attributes(tags: Vec<Tag<'static>>) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = Vec::with_capacity(tags.len());
    for tag in tags {
        let value = value(tag.value);
        match out.iter_mut().find(|kv| kv.key == tag.key) {
            Some(kv) => kv.value = value,
            None => out.push(KeyValue {
                key: tag.key,
                value,
            }),
        }
    }
    out
}

fn nanos(micros: i64, field: impl FnOnce() -> String) -> Result<u64, Problem> {
    if micros < 0 {
        return Err(Problem::invalid(field(), micros.to_string(), "is negative"));
    }
    (micros as u64).checked_mul(1000).ok_or_else(|| {
        Problem::invalid(
            field(),
            micros.to_string(),
            "is too large for nanoseconds since the epoch",
        )
    })
}

fn trace_id(low: i64, high: i64) -> TraceId {
    TraceId((u128::from(high as u64) << 64) | u128::from(low as u64))
}

/// The tags of a span, taken out one by one as the mapping reads them.
struct Tags(Vec<Tag<'static>>);

impl Tags {
    /// Takes the tag `name` if `read` accepts its value (the last one, if repeated).
    fn take<T>(&mut self, name: &str, read: impl Fn(&TagValue) -> Option<T>) -> Option<T> {
        let i = self.0.iter().rposition(|t| t.key == name)?;
        let value = read(&self.0[i].value)?;
        self.0.retain(|t| t.key != name);
        Some(value)
    }

    fn text(&mut self, name: &str) -> Option<String> {
        self.take(name, |v| match v {
            TagValue::Str(text) => Some(text.to_string()),
            _ => None,
        })
    }

    fn count(&mut self, name: &str) -> Option<u32> {
        self.take(name, |v| match v {
            TagValue::Long(n) => u32::try_from(*n).ok(),
            _ => None,
        })
    }
}

pub(crate) fn span_from_jaeger(
    span: Span<'static>,
    resource: &Arc<Resource>,
) -> Result<SpanData, Problem> {
    let trace = trace_id(span.trace_id_low, span.trace_id_high);
    if trace.0 == 0 {
        return Err(Problem::invalid(
            "traceIdLow",
            "0",
            "is zero and so is traceIdHigh",
        ));
    }
    if span.span_id == 0 {
        return Err(Problem::invalid("spanId", "0", "is zero"));
    }
    if span.duration < 0 {
        return Err(Problem::invalid(
            "duration",
            span.duration.to_string(),
            "is negative",
        ));
    }
    let start = nanos(span.start_time, || "startTime".to_string())?;
    let end = span
        .start_time
        .checked_add(span.duration)
        .ok_or_else(|| {
            Problem::invalid(
                "duration",
                span.duration.to_string(),
                "ends beyond the largest startTime",
            )
        })
        .and_then(|end| nanos(end, || "duration".to_string()))?;

    let mut out = SpanData::new(trace, SpanId(span.span_id as u64), span.operation_name);
    out.start_time_unix_nano = start;
    out.end_time_unix_nano = end;
    out.resource = Arc::clone(resource);

    // the parent: parentSpanId, or else the first CHILD_OF reference within the trace
    let mut parent = (span.parent_span_id != 0).then_some(span.parent_span_id);
    let mut parent_ref_seen = false;
    for reference in span.references {
        let same_trace = trace_id(reference.trace_id_low, reference.trace_id_high) == trace;
        if reference.ref_type == RefType::ChildOf && same_trace && !parent_ref_seen {
            if parent.is_none() && reference.span_id != 0 {
                parent = Some(reference.span_id);
            }
            if parent == Some(reference.span_id) {
                parent_ref_seen = true;
                continue;
            }
        }
        out.links.push(Link {
            trace_id: trace_id(reference.trace_id_low, reference.trace_id_high),
            span_id: SpanId(reference.span_id as u64),
            trace_state: TraceState::EMPTY,
            link_type: LinkType::ParentLinkedSpan,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        });
    }
    out.parent_span_id = parent.map(|p| SpanId(p as u64));

    let mut tags = Tags(span.tags);
    if let Some(kind) = tags.take(key::SPAN_KIND, |v| match v {
        TagValue::Str(text) => match text.parse::<SpanKind>() {
            Ok(SpanKind::Unspecified) | Err(_) => None,
            Ok(kind) => Some(kind),
        },
        _ => None,
    }) {
        out.kind = kind;
    }
    out.parent_is_remote =
        out.parent_span_id.is_some() && matches!(out.kind, SpanKind::Server | SpanKind::Consumer);
    out.status = status(&mut tags);
    if let Some(scope) = tags.text(key::SCOPE_NAME) {
        let scope_text = scope.clone();
        tags.take(key::LIBRARY_NAME, |v| {
            matches!(v, TagValue::Str(t) if *t == scope_text).then_some(())
        });
        out.scope = scope.into();
    } else if let Some(scope) = tags.text(key::LIBRARY_NAME) {
        out.scope = scope.into();
    }
    if let Some(state) = tags.take(key::TRACE_STATE, |v| match v {
        TagValue::Str(text) => TraceState::from_header(text).ok(),
        _ => None,
    }) {
        out.trace_state = state;
    }
    out.stack_trace = tags.text(key::STACK_TRACE);
    out.dropped.attributes = tags.count(key::DROPPED_ATTRIBUTES).unwrap_or(0);
    let events = tags.count(key::DROPPED_EVENTS).unwrap_or(0);
    let message_events = tags
        .take(key::DROPPED_MESSAGE_EVENTS, |v| match v {
            TagValue::Long(n) => u32::try_from(*n).ok().filter(|n| *n <= events),
            _ => None,
        })
        .unwrap_or(0);
    out.dropped.message_events = message_events;
    out.dropped.annotations = events - message_events;
    out.dropped.links = tags.count(key::DROPPED_LINKS).unwrap_or(0);
    out.attributes = attributes(tags.0);

    for (i, log) in span.logs.into_iter().enumerate() {
        let time = nanos(log.timestamp, || format!("logs[{i}].timestamp"))?;
        match message_event(&log.fields, time) {
            Some(event) => out.message_events.push(event),
            None => out.annotations.push(annotation(log.fields, time)),
        }
    }
    Ok(out)
}

/// The status from OpenTelemetry's tags, or from a bare `error=true` tag (what Jaeger clients
/// set on a failed span) as an `UNKNOWN` error.
fn status(tags: &mut Tags) -> Option<Status> {
    let error_tag = |v: &TagValue| match v {
        TagValue::Bool(true) => Some(()),
        TagValue::Str(text) if text == "true" => Some(()),
        _ => None,
    };
    let code = tags.take(key::STATUS_CODE, |v| match v {
        TagValue::Str(text) if text == "OK" || text == "ERROR" => Some(text == "OK"),
        _ => None,
    });
    let ok = match code {
        Some(ok) => ok,
        None => {
            tags.take(key::ERROR, error_tag)?;
            false
        }
    };
    let description = tags.text(key::STATUS_DESCRIPTION).unwrap_or_default();
    let mut status = if ok {
        Status::new(StatusCode::Ok, description)
    } else {
        tags.take(key::ERROR, error_tag);
        let canonical = tags
            .take(key::CANONICAL_CODE, |v| match v {
                TagValue::Str(text) => text
                    .parse::<StatusCode>()
                    .ok()
                    .filter(|c| *c != StatusCode::Ok && c.name() == text),
                _ => None,
            })
            .unwrap_or(StatusCode::Unknown);
        Status::new(canonical, description)
    };
    if let Some(details) = tags.text(key::STATUS_DETAILS) {
        status = status.with_details(details);
    }
    Some(status)
}

fn message_event(fields: &[Tag<'_>], time: u64) -> Option<MessageEvent> {
    if fields.len() != 5 {
        return None;
    }
    let get = |name: &str| fields.iter().find(|t| t.key == name).map(|t| &t.value);
    let long = |name: &str| match get(name) {
        Some(TagValue::Long(n)) => Some(*n as u64),
        _ => None,
    };
    if get(key::EVENT) != Some(&TagValue::Str(key::MESSAGE_EVENT.into())) {
        return None;
    }
    let kind = match get(key::MESSAGE_TYPE) {
        Some(TagValue::Str(text)) => match text.as_ref() {
            "SENT" => MessageEventType::Sent,
            "RECEIVED" => MessageEventType::Received,
            "UNSPECIFIED" => MessageEventType::Unspecified,
            _ => return None,
        },
        _ => return None,
    };
    Some(MessageEvent {
        time_unix_nano: time,
        kind,
        id: long(key::MESSAGE_ID)?,
        uncompressed_size: long(key::MESSAGE_UNCOMPRESSED_SIZE)?,
        compressed_size: long(key::MESSAGE_COMPRESSED_SIZE)?,
    })
}

fn annotation(fields: Vec<Tag<'static>>, time: u64) -> Annotation {
    let mut fields = Tags(fields);
    let description = fields.text(key::EVENT).unwrap_or_default();
    let dropped = fields.count(key::DROPPED_ATTRIBUTES).unwrap_or(0);
    Annotation {
        time_unix_nano: time,
        description: Cow::Owned(description),
        attributes: attributes(fields.0),
        dropped_attributes_count: dropped,
    }
}

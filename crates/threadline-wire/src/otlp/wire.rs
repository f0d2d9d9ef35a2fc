//! OTLP/protobuf written straight from [`SpanData`], without building the `opentelemetry-proto`
//! messages first.
//!
//! The bytes are exactly those prost writes for the request [`model::to_request`] builds:
//! fields in tag order, default scalars left out, every length a minimal varint. The tests hold
//! the two paths to that, so the mapping described in the [module above](super) stays the one
//! in `model.rs`; this file only repeats its decisions where the bytes are written.
//!
//! Nested messages are written with their length reserved in place (a guess of how many
//! varint bytes it takes) and patched once the message is complete; a wrong guess moves the
//! message by a byte or two.
//!
//! [`model::to_request`]: super::model::to_request

use std::sync::Arc;

use threadline::{
    Annotation, KeyValue, Link, LinkType, MessageEvent, Resource, SpanData, StatusCode, TraceState,
    Value,
};

use super::model::{flags, key};

/// Field keys (field number and wire type) as the one byte they take; all are below 16.
mod tag {
    /// `ExportTraceServiceRequest.resource_spans`, `ResourceSpans.resource`,
    /// `ScopeSpans.scope`, `Resource.attributes`, `InstrumentationScope.name`,
    /// `KeyValue.key`, `AnyValue.string_value`, `ArrayValue.values`, `Span.trace_id`,
    /// `Link.trace_id`: field 1, length-delimited.
    pub const F1_LEN: u8 = 1 << 3 | 2;
    /// `ResourceSpans.scope_spans`, `ScopeSpans.spans`, `KeyValue.value`, `Span.span_id`,
    /// `Link.span_id`, `Event.name`, `Status.message`: field 2, length-delimited.
    pub const F2_LEN: u8 = 2 << 3 | 2;
    pub const ANY_BOOL: u8 = 2 << 3;
    pub const ANY_INT: u8 = 3 << 3;
    pub const ANY_DOUBLE: u8 = 4 << 3 | 1;
    pub const ANY_ARRAY: u8 = 5 << 3 | 2;
    pub const ANY_BYTES: u8 = 7 << 3 | 2;
    pub const SPAN_TRACE_STATE: u8 = 3 << 3 | 2;
    pub const SPAN_PARENT_SPAN_ID: u8 = 4 << 3 | 2;
    pub const SPAN_NAME: u8 = 5 << 3 | 2;
    pub const SPAN_KIND: u8 = 6 << 3;
    pub const SPAN_START: u8 = 7 << 3 | 1;
    pub const SPAN_END: u8 = 8 << 3 | 1;
    pub const SPAN_ATTRIBUTES: u8 = 9 << 3 | 2;
    pub const SPAN_DROPPED_ATTRIBUTES: u8 = 10 << 3;
    pub const SPAN_EVENTS: u8 = 11 << 3 | 2;
    pub const SPAN_DROPPED_EVENTS: u8 = 12 << 3;
    pub const SPAN_LINKS: u8 = 13 << 3 | 2;
    pub const SPAN_DROPPED_LINKS: u8 = 14 << 3;
    pub const SPAN_STATUS: u8 = 15 << 3 | 2;
    /// `Span.flags` is field 16, fixed32: its key is a two-byte varint.
    pub const SPAN_FLAGS: [u8; 2] = [(16 << 3 | 5) | 0x80, 1];
    pub const EVENT_TIME: u8 = 1 << 3 | 1;
    pub const EVENT_ATTRIBUTES: u8 = 3 << 3 | 2;
    pub const EVENT_DROPPED_ATTRIBUTES: u8 = 4 << 3;
    pub const LINK_TRACE_STATE: u8 = 3 << 3 | 2;
    pub const LINK_ATTRIBUTES: u8 = 4 << 3 | 2;
    pub const LINK_DROPPED_ATTRIBUTES: u8 = 5 << 3;
    pub const STATUS_CODE: u8 = 3 << 3;
}

/// `Status.code` values.
const STATUS_OK: u64 = 1;
const STATUS_ERROR: u64 = 2;

/// Appends the `ExportTraceServiceRequest` for `spans` to `out`.
pub(crate) fn encode_into(spans: &[SpanData], out: &mut Vec<u8>) {
    for group in groups(spans) {
        let resource_spans = begin(out, tag::F1_LEN, 3);
        let resource = begin(out, tag::F1_LEN, 2);
        write_resource(out, group.resource);
        end(out, resource, 2);
        for scope in &group.scopes {
            let scope_spans = begin(out, tag::F2_LEN, 3);
            if !scope.name.is_empty() {
                let instrumentation_scope = begin(out, tag::F1_LEN, 1);
                write_str(out, tag::F1_LEN, scope.name);
                end(out, instrumentation_scope, 1);
            }
            for span in &scope.spans {
                let message = begin(out, tag::F2_LEN, 2);
                write_span(out, span);
                end(out, message, 2);
            }
            end(out, scope_spans, 3);
        }
        end(out, resource_spans, 3);
    }
}

// ---------------------------------------------------------------------------------------------
// Grouping, as `model::to_request` does

struct Group<'a> {
    resource: &'a Arc<Resource>,
    scopes: Vec<Scope<'a>>,
}

struct Scope<'a> {
    name: &'a str,
    spans: Vec<&'a SpanData>,
}

/// One group per distinct resource (same `Arc` or equal value) and within it one per scope
/// name, each in order of first appearance.
fn groups(spans: &[SpanData]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for span in spans {
        let group = match groups
            .iter()
            .position(|g| Arc::ptr_eq(g.resource, &span.resource) || **g.resource == *span.resource)
        {
            Some(i) => &mut groups[i],
            None => {
                groups.push(Group {
                    resource: &span.resource,
                    scopes: Vec::new(),
                });
                let last = groups.len() - 1;
                &mut groups[last]
            }
        };
        let scope = match group.scopes.iter().position(|s| s.name == span.scope) {
            Some(i) => &mut group.scopes[i],
            None => {
                group.scopes.push(Scope {
                    name: &span.scope,
                    spans: Vec::with_capacity(spans.len()),
                });
                let last = group.scopes.len() - 1;
                &mut group.scopes[last]
            }
        };
        scope.spans.push(span);
    }
    groups
}

// ---------------------------------------------------------------------------------------------
// Messages

fn write_resource(out: &mut Vec<u8>, resource: &Resource) {
    if !resource.service_name.is_empty() {
        write_key_value(
            out,
            tag::F1_LEN,
            key::SERVICE_NAME,
            Override::Str(&resource.service_name),
        );
    }
    for kv in &resource.attributes {
        if kv.key != key::SERVICE_NAME {
            write_attribute(out, tag::F1_LEN, kv);
        }
    }
}

fn write_span(out: &mut Vec<u8>, span: &SpanData) {
    write_bytes(out, tag::F1_LEN, &span.trace_id.to_bytes());
    write_bytes(out, tag::F2_LEN, &span.span_id.to_bytes());
    write_trace_state(out, tag::SPAN_TRACE_STATE, &span.trace_state);
    if let Some(parent) = span.parent_span_id {
        write_bytes(out, tag::SPAN_PARENT_SPAN_ID, &parent.to_bytes());
    }
    write_str(out, tag::SPAN_NAME, &span.name);
    write_uint(out, tag::SPAN_KIND, span.kind as u64);
    write_fixed64(out, tag::SPAN_START, span.start_time_unix_nano);
    write_fixed64(out, tag::SPAN_END, span.end_time_unix_nano);

    // The attributes the mapping sets, in the order `model::span_to_proto` sets them.
    let mut overrides: [Option<(&str, Override<'_>)>; 4] = [None; 4];
    let dropped = &span.dropped;
    if let Some(status) = &span.status {
        if !status.is_ok() && status.canonical_code() != StatusCode::Unknown {
            let name = status.canonical_code().name();
            overrides[0] = Some((key::STATUS_CODE, Override::Str(name)));
        }
        if let Some(details) = status.details() {
            overrides[1] = Some((key::STATUS_DETAILS, Override::Str(details)));
        }
    }
    if dropped.message_events != 0 {
        let count = Override::Int(i64::from(dropped.message_events));
        overrides[2] = Some((key::DROPPED_MESSAGE_EVENTS, count));
    }
    if let Some(stack_trace) = &span.stack_trace {
        overrides[3] = Some((key::STACK_TRACE, Override::Str(stack_trace)));
    }
    write_attributes(out, tag::SPAN_ATTRIBUTES, &span.attributes, &overrides);
    write_uint(
        out,
        tag::SPAN_DROPPED_ATTRIBUTES,
        u64::from(dropped.attributes),
    );

    write_events(out, span);
    let dropped_events = dropped.annotations.saturating_add(dropped.message_events);
    write_uint(out, tag::SPAN_DROPPED_EVENTS, u64::from(dropped_events));
    for link in &span.links {
        let message = begin(out, tag::SPAN_LINKS, 1);
        write_link(out, link);
        end(out, message, 1);
    }
    write_uint(out, tag::SPAN_DROPPED_LINKS, u64::from(dropped.links));
    if let Some(status) = &span.status {
        let message = begin(out, tag::SPAN_STATUS, 1);
        write_str(out, tag::F2_LEN, status.description());
        let code = if status.is_ok() {
            STATUS_OK
        } else {
            STATUS_ERROR
        };
        write_uint(out, tag::STATUS_CODE, code);
        end(out, message, 1);
    }
    let mut span_flags = flags::SAMPLED | flags::HAS_IS_REMOTE;
    if span.parent_is_remote {
        span_flags |= flags::IS_REMOTE;
    }
    out.extend_from_slice(&tag::SPAN_FLAGS);
    out.extend_from_slice(&span_flags.to_le_bytes());
}

/// Annotations and message events merged by time, annotations first at equal times.
fn write_events(out: &mut Vec<u8>, span: &SpanData) {
    let mut annotations = span.annotations.iter().peekable();
    let mut messages = span.message_events.iter().peekable();
    loop {
        let take_annotation = match (annotations.peek(), messages.peek()) {
            (Some(a), Some(m)) => a.time_unix_nano <= m.time_unix_nano,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let message = begin(out, tag::SPAN_EVENTS, 1);
        if take_annotation {
            if let Some(annotation) = annotations.next() {
                write_annotation(out, annotation);
            }
        } else if let Some(event) = messages.next() {
            write_message_event(out, event);
        }
        end(out, message, 1);
    }
}

fn write_annotation(out: &mut Vec<u8>, annotation: &Annotation) {
    write_fixed64(out, tag::EVENT_TIME, annotation.time_unix_nano);
    write_str(out, tag::F2_LEN, &annotation.description);
    for kv in &annotation.attributes {
        write_attribute(out, tag::EVENT_ATTRIBUTES, kv);
    }
    write_uint(
        out,
        tag::EVENT_DROPPED_ATTRIBUTES,
        u64::from(annotation.dropped_attributes_count),
    );
}

fn write_message_event(out: &mut Vec<u8>, event: &MessageEvent) {
    write_fixed64(out, tag::EVENT_TIME, event.time_unix_nano);
    write_str(out, tag::F2_LEN, key::MESSAGE_EVENT);
    let attributes = [
        (key::MESSAGE_TYPE, Override::Str(event.kind.as_str())),
        // u64 in Threadline, int64 in OTLP: the same 64 bits
        (key::MESSAGE_ID, Override::Int(event.id as i64)),
        (
            key::MESSAGE_UNCOMPRESSED_SIZE,
            Override::Int(event.uncompressed_size as i64),
        ),
        (
            key::MESSAGE_COMPRESSED_SIZE,
            Override::Int(event.compressed_size as i64),
        ),
    ];
    for (key, value) in attributes {
        write_key_value(out, tag::EVENT_ATTRIBUTES, key, value);
    }
}

fn write_link(out: &mut Vec<u8>, link: &Link) {
    write_bytes(out, tag::F1_LEN, &link.trace_id.to_bytes());
    write_bytes(out, tag::F2_LEN, &link.span_id.to_bytes());
    write_trace_state(out, tag::LINK_TRACE_STATE, &link.trace_state);
    let mut overrides = [None];
    if link.link_type != LinkType::Unspecified {
        overrides[0] = Some((key::LINK_TYPE, Override::Str(link.link_type.as_str())));
    }
    write_attributes(out, tag::LINK_ATTRIBUTES, &link.attributes, &overrides);
    write_uint(
        out,
        tag::LINK_DROPPED_ATTRIBUTES,
        u64::from(link.dropped_attributes_count),
    );
    // `flags` is 0 (unknown), left out
}

// ---------------------------------------------------------------------------------------------
// Attributes and values

/// A value the mapping writes in place of, or after, the span's own attributes.
#[derive(Clone, Copy)]
enum Override<'a> {
    Str(&'a str),
    Int(i64),
}

/// `attributes`, each `Some` override replacing the first attribute of its key or, when there
/// is none, following them in order: what `model::set` makes of the list.
fn write_attributes(
    out: &mut Vec<u8>,
    field: u8,
    attributes: &[KeyValue],
    overrides: &[Option<(&str, Override<'_>)>],
) {
    if overrides.iter().all(Option::is_none) {
        for kv in attributes {
            write_attribute(out, field, kv);
        }
        return;
    }
    let mut placed = [false; 4];
    for (i, kv) in attributes.iter().enumerate() {
        let replaced = overrides
            .iter()
            .enumerate()
            .find_map(|(o, entry)| match entry {
                Some((key, value)) if kv.key == *key => Some((o, *value)),
                _ => None,
            });
        match replaced {
            // only the first attribute of a key is replaced
            Some((o, value)) if !attributes[..i].iter().any(|earlier| earlier.key == kv.key) => {
                placed[o] = true;
                write_key_value(out, field, &kv.key, value);
            }
            _ => write_attribute(out, field, kv),
        }
    }
    for (o, entry) in overrides.iter().enumerate() {
        if let Some((key, value)) = entry {
            if !placed[o] {
                write_key_value(out, field, key, *value);
            }
        }
    }
}

fn write_attribute(out: &mut Vec<u8>, field: u8, kv: &KeyValue) {
    let message = begin(out, field, 1);
    write_str(out, tag::F1_LEN, &kv.key);
    let value = begin(out, tag::F2_LEN, 1);
    write_value(out, &kv.value);
    end(out, value, 1);
    end(out, message, 1);
}

fn write_key_value(out: &mut Vec<u8>, field: u8, key: &str, value: Override<'_>) {
    let message = begin(out, field, 1);
    write_str(out, tag::F1_LEN, key);
    let any_value = begin(out, tag::F2_LEN, 1);
    match value {
        Override::Str(text) => write_len_prefixed(out, tag::F1_LEN, text.as_bytes()),
        Override::Int(n) => {
            out.push(tag::ANY_INT);
            varint(out, n as u64);
        }
    }
    end(out, any_value, 1);
    end(out, message, 1);
}

/// The fields of an `AnyValue`: its one `value` variant, written even when it is the default.
fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Str(text) => write_len_prefixed(out, tag::F1_LEN, text.as_bytes()),
        Value::Bool(flag) => out.extend_from_slice(&[tag::ANY_BOOL, u8::from(*flag)]),
        Value::I64(n) => {
            out.push(tag::ANY_INT);
            varint(out, *n as u64);
        }
        Value::F64(x) => {
            out.push(tag::ANY_DOUBLE);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::Array(items) => {
            let array = begin(out, tag::ANY_ARRAY, 1);
            for item in items {
                let any_value = begin(out, tag::F1_LEN, 1);
                write_value(out, item);
                end(out, any_value, 1);
            }
            end(out, array, 1);
        }
        Value::Bytes(bytes) => write_len_prefixed(out, tag::ANY_BYTES, bytes),
    }
}

// ---------------------------------------------------------------------------------------------
// Protobuf primitives

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: u64) -> usize {
    // 1 byte per started 7 bits; 0 takes one byte
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// A scalar field, left out when 0 as proto3 does.
fn write_uint(out: &mut Vec<u8>, field: u8, value: u64) {
    if value != 0 {
        out.push(field);
        varint(out, value);
    }
}

/// A `fixed64` field, left out when 0.
fn write_fixed64(out: &mut Vec<u8>, field: u8, value: u64) {
    if value != 0 {
        out.push(field);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// A `string` field, left out when empty.
fn write_str(out: &mut Vec<u8>, field: u8, text: &str) {
    if !text.is_empty() {
        write_len_prefixed(out, field, text.as_bytes());
    }
}

/// A `bytes` field, left out when empty.
fn write_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    if !bytes.is_empty() {
        write_len_prefixed(out, field, bytes);
    }
}

fn write_len_prefixed(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(field);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The `tracestate` header (`TraceState::to_header`), left out when empty.
fn write_trace_state(out: &mut Vec<u8>, field: u8, state: &TraceState) {
    let members = state.members();
    if members.is_empty() {
        return;
    }
    let len = members
        .iter()
        .map(|(k, v)| k.len() + 1 + v.len())
        .sum::<usize>()
        + members.len()
        - 1;
    out.push(field);
    varint(out, len as u64);
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
    }
}

/// Starts a length-delimited field: writes its key and `reserved` bytes for its length, and
/// returns where its content starts, for [`end`].
fn begin(out: &mut Vec<u8>, field: u8, reserved: usize) -> usize {
    out.push(field);
    out.resize(out.len() + reserved, 0);
    out.len()
}

/// Ends the field [`begin`] started at `start`: writes its length as a minimal varint, moving
/// the content when that takes other than `reserved` bytes.
fn end(out: &mut Vec<u8>, start: usize, reserved: usize) {
    let len = out.len() - start;
    let needed = varint_len(len as u64);
    if needed != reserved {
        let old_end = out.len();
        if needed > reserved {
            out.resize(old_end + needed - reserved, 0);
            out.copy_within(start..old_end, start + needed - reserved);
        } else {
            out.copy_within(start..old_end, start - (reserved - needed));
            out.truncate(old_end - (reserved - needed));
        }
    }
    let mut at = start - reserved;
    let mut value = len as u64;
    while value >= 0x80 {
        out[at] = value as u8 | 0x80;
        value >>= 7;
        at += 1;
    }
    out[at] = value as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths() {
        for (value, len) in [
            (0, 1),
            (1, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::MAX, 10),
        ] {
            let mut out = Vec::new();
            varint(&mut out, value);
            assert_eq!(out.len(), len, "{value}");
            assert_eq!(varint_len(value), len, "{value}");
        }
    }

    #[test]
    fn lengths_are_patched_whatever_was_reserved() {
        for content in [0, 5, 127, 128, 300, 16_383, 16_384, 20_000] {
            for reserved in 1..=3 {
                let mut out = vec![0xff];
                let start = begin(&mut out, tag::F1_LEN, reserved);
                out.extend((0..content).map(|i| i as u8));
                end(&mut out, start, reserved);

                let mut expected = vec![0xff, tag::F1_LEN];
                varint(&mut expected, content as u64);
                expected.extend((0..content).map(|i| i as u8));
                assert_eq!(out, expected, "content {content}, reserved {reserved}");
            }
        }
    }
}

//! The encoding of a chunk: the spans of one trace from one appended batch, in the order they
//! were received, as one value.
//!
//! A compact format of our own rather than OTLP: it keeps every `SpanData` field exactly and
//! the spans' order (OTLP groups spans by resource), and it skips what the chunk key already
//! says (the trace id). Integers are LEB128 varints (signed ones zigzag), strings and byte
//! strings are a varint length and the bytes. Resources are written once per chunk and
//! referred to by index.
//!
//! ```text
//! chunk     = version(1) trace_id(16 LE) table_offset(4 LE) body table
//! body      = n_resources resource* n_spans span*
//! resource  = service_name n_attrs kv*
//! span      = span_id(8 LE) parent(8 LE, 0 for none) flags(1) kind(1) start end_delta(zigzag)
//!             name:text resource_index scope:text n_attrs kv* n_annotations annotation*
//!             n_message_events message_event* n_links link* [status] [stack_trace]
//!             [trace_state] dropped(4 varints)
//! kv        = key:text value
//! value     = 0 str | 1 zigzag | 2 f64(8 LE) | 3 (false) | 4 (true) | 5 n value* | 6 bytes
//! table     = n_strings str*
//! text      = varint t: t even, the string at t / 2 in the table; t odd, (t - 1) / 2 bytes
//! ```
//!
//! Attribute keys, span names and scopes repeat from span to span, so they are written once
//! per chunk, in the table after the body (`table_offset` is the body's length), and referred
//! to by index. Version 1, written by earlier versions, has no table and no offset: a `text`
//! there is a string like any other.

use std::borrow::Cow;
use std::sync::Arc;

use threadline::{
    Annotation, DroppedCounts, KeyValue, Link, LinkType, MessageEvent, MessageEventType, Resource,
    SpanData, SpanId, SpanKind, Status, StatusCode, TraceId, TraceState, Value,
};

const VERSION: u8 = 2;

/// The most strings in a chunk's table (more are written inline), and the longest string it
/// takes.
const TABLE_STRINGS: usize = SLOTS * 3 / 4;
const TABLE_LEN: usize = 64;
/// Attribute positions that remember their key's table index, then the name's and scope's.
const HINTS: usize = 16;
const NAME_HINT: usize = HINTS;
const SCOPE_HINT: usize = HINTS + 1;

/// The table of a chunk being encoded.
struct Table<'a> {
    strings: Vec<&'a str>,
    /// The table index last written at each attribute position, and for names and scopes:
    /// spans from one instrumentation carry the same keys in the same order, and decoded
    /// keys are shared strings, so an address compare finds most.
    hints: [u32; HINTS + 2],
    /// Table indexes by a hash of the string's ends, open addressing: what the hints miss is
    /// found in about one compare.
    slots: [u32; SLOTS],
}

const SLOTS: usize = 128;
const EMPTY: u32 = u32::MAX;

impl<'a> Table<'a> {
    fn new() -> Self {
        Table {
            strings: Vec::new(),
            hints: [EMPTY; HINTS + 2],
            slots: [EMPTY; SLOTS],
        }
    }

    /// Writes `text` as a `text`: a table index, or inline.
    fn put(&mut self, out: &mut Vec<u8>, text: &'a str, hint: Option<usize>) {
        match self.index(text, hint) {
            Some(index) => put_varint(out, (index as u64) << 1),
            None => {
                put_varint(out, (text.len() as u64) << 1 | 1);
                out.extend_from_slice(text.as_bytes());
            }
        }
    }

    fn index(&mut self, text: &'a str, hint: Option<usize>) -> Option<usize> {
        if text.len() > TABLE_LEN {
            return None;
        }
        let hinted = hint
            .and_then(|h| self.hints.get(h))
            .copied()
            .unwrap_or(EMPTY);
        if let Some(found) = self.strings.get(hinted as usize) {
            // two strings alive at one address with one length are the same bytes
            if found.as_ptr() == text.as_ptr() && found.len() == text.len() {
                return Some(hinted as usize);
            }
        }
        let mut slot = slot_of(text.as_bytes());
        let index = loop {
            match self.strings.get(self.slots[slot] as usize) {
                Some(found) if *found == text => break self.slots[slot] as usize,
                // the table stays under 3/4 of the slots, so an empty one comes
                Some(_) => slot = (slot + 1) % SLOTS,
                None if self.strings.len() < TABLE_STRINGS => {
                    self.strings.push(text);
                    self.slots[slot] = (self.strings.len() - 1) as u32;
                    break self.strings.len() - 1;
                }
                None => return None,
            }
        };
        if let Some(hint) = hint.and_then(|h| self.hints.get_mut(h)) {
            *hint = index as u32;
        }
        Some(index)
    }
}

/// The slot of a string in [`Table::slots`]: a hash of its length and of up to 8 bytes at
/// each end.
fn slot_of(bytes: &[u8]) -> usize {
    let len = bytes.len();
    let (head, tail) = match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        (Some(head), Some(tail)) => (u64::from_le_bytes(*head), u64::from_le_bytes(*tail)),
        _ => match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
            (Some(head), Some(tail)) => (
                u64::from(u32::from_le_bytes(*head)),
                u64::from(u32::from_le_bytes(*tail)),
            ),
            _ => (bytes.iter().fold(0, |word, b| word << 8 | u64::from(*b)), 0),
        },
    };
    let mixed = head ^ tail.rotate_left(29) ^ len as u64;
    (mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOTS.trailing_zeros())) as usize
}

const FLAG_PARENT_REMOTE: u8 = 1;
const FLAG_STATUS: u8 = 2;
const FLAG_STATUS_DETAILS: u8 = 4;
const FLAG_STACK_TRACE: u8 = 8;
const FLAG_TRACE_STATE: u8 = 16;

/// Why a stored chunk could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored chunk is corrupt: {0}")]
pub(crate) struct CorruptChunk(pub(crate) &'static str);

/// Appends the chunk of `spans` (all of `trace_id`) to `out`.
pub(crate) fn encode_chunk(trace_id: TraceId, spans: &[&SpanData], out: &mut Vec<u8>) {
    out.push(VERSION);
    out.extend_from_slice(&trace_id.0.to_le_bytes());
    let offset_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let body_start = out.len();
    let mut table = Table::new();
    // resources by pointer first, then by value: batches usually share one Arc per resource
    let mut resources: Vec<&Arc<Resource>> = Vec::new();
    let mut resource_of = Vec::with_capacity(spans.len());
    for span in spans {
        let index = resources
            .iter()
            .position(|r| Arc::ptr_eq(r, &span.resource))
            .or_else(|| resources.iter().position(|r| ***r == *span.resource))
            .unwrap_or_else(|| {
                resources.push(&span.resource);
                resources.len() - 1
            });
        resource_of.push(index);
    }
    put_varint(out, resources.len() as u64);
    for resource in &resources {
        put_str(out, &resource.service_name);
        put_attributes(out, &resource.attributes, &mut table, false);
    }
    put_varint(out, spans.len() as u64);
    for (span, resource) in spans.iter().zip(resource_of) {
        encode_span(span, resource, &mut table, out);
    }
    // a chunk is at most a request body: far below 4 GiB
    let body_len = u32::try_from(out.len() - body_start).unwrap_or(u32::MAX);
    out[offset_at..body_start].copy_from_slice(&body_len.to_le_bytes());
    put_varint(out, table.strings.len() as u64);
    for text in &table.strings {
        put_str(out, text);
    }
}

fn encode_span<'a>(span: &'a SpanData, resource: usize, table: &mut Table<'a>, out: &mut Vec<u8>) {
    out.extend_from_slice(&span.span_id.0.to_le_bytes());
    out.extend_from_slice(&span.parent_span_id.map_or(0, |p| p.0).to_le_bytes());
    let mut flags = 0;
    if span.parent_is_remote {
        flags |= FLAG_PARENT_REMOTE;
    }
    if let Some(status) = &span.status {
        flags |= FLAG_STATUS;
        if status.details().is_some() {
            flags |= FLAG_STATUS_DETAILS;
        }
    }
    if span.stack_trace.is_some() {
        flags |= FLAG_STACK_TRACE;
    }
    if !span.trace_state.is_empty() {
        flags |= FLAG_TRACE_STATE;
    }
    out.push(flags);
    out.push(span.kind as u8);
    put_varint(out, span.start_time_unix_nano);
    put_varint(
        out,
        zigzag(
            span.end_time_unix_nano
                .wrapping_sub(span.start_time_unix_nano) as i64,
        ),
    );
    table.put(out, &span.name, Some(NAME_HINT));
    put_varint(out, resource as u64);
    table.put(out, &span.scope, Some(SCOPE_HINT));
    put_attributes(out, &span.attributes, table, true);
    put_varint(out, span.annotations.len() as u64);
    for annotation in &span.annotations {
        put_varint(out, annotation.time_unix_nano);
        put_str(out, &annotation.description);
        put_attributes(out, &annotation.attributes, table, false);
        put_varint(out, u64::from(annotation.dropped_attributes_count));
    }
    put_varint(out, span.message_events.len() as u64);
    for event in &span.message_events {
        put_varint(out, event.time_unix_nano);
        out.push(match event.kind {
            MessageEventType::Unspecified => 0,
            MessageEventType::Sent => 1,
            MessageEventType::Received => 2,
        });
        put_varint(out, event.id);
        put_varint(out, event.uncompressed_size);
        put_varint(out, event.compressed_size);
    }
    put_varint(out, span.links.len() as u64);
    for link in &span.links {
        out.extend_from_slice(&link.trace_id.0.to_le_bytes());
        out.extend_from_slice(&link.span_id.0.to_le_bytes());
        put_str(out, &link.trace_state.to_header());
        out.push(match link.link_type {
            LinkType::Unspecified => 0,
            LinkType::ChildLinkedSpan => 1,
            LinkType::ParentLinkedSpan => 2,
        });
        put_attributes(out, &link.attributes, table, false);
        put_varint(out, u64::from(link.dropped_attributes_count));
    }
    if let Some(status) = &span.status {
        put_varint(out, zigzag(i64::from(status.canonical_code().as_i32())));
        put_str(out, status.description());
        if let Some(details) = status.details() {
            put_str(out, details);
        }
    }
    if let Some(stack) = &span.stack_trace {
        put_str(out, stack);
    }
    if !span.trace_state.is_empty() {
        put_str(out, &span.trace_state.to_header());
    }
    for count in [
        span.dropped.attributes,
        span.dropped.annotations,
        span.dropped.message_events,
        span.dropped.links,
    ] {
        put_varint(out, u64::from(count));
    }
}

/// Writes `attributes`, their keys through `table`, remembering each key's index by its
/// position when `hinted` (for span attributes, which repeat the most).
fn put_attributes<'a>(
    out: &mut Vec<u8>,
    attributes: &'a [KeyValue],
    table: &mut Table<'a>,
    hinted: bool,
) {
    put_varint(out, attributes.len() as u64);
    for (position, kv) in attributes.iter().enumerate() {
        table.put(out, &kv.key, hinted.then_some(position % HINTS));
        put_value(out, &kv.value);
    }
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Str(s) => {
            out.push(0);
            put_str(out, s);
        }
        Value::I64(i) => {
            out.push(1);
            put_varint(out, zigzag(*i));
        }
        Value::F64(f) => {
            out.push(2);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Bool(b) => out.push(if *b { 4 } else { 3 }),
        Value::Array(values) => {
            out.push(5);
            put_varint(out, values.len() as u64);
            for value in values {
                put_value(out, value);
            }
        }
        Value::Bytes(bytes) => {
            out.push(6);
            put_bytes(out, bytes);
        }
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A cursor over a chunk's bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    /// The chunk's table (empty in version 1).
    table: Vec<&'a str>,
    /// Whether `text`s are table references or inline strings (version 2).
    tabled: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            table: Vec::new(),
            tabled: false,
        }
    }

    /// A `text` (see the module's rustdoc).
    fn text(&mut self) -> Result<Cow<'static, str>, CorruptChunk> {
        if !self.tabled {
            return self.string();
        }
        let t = self.varint()?;
        let text = if t & 1 == 0 {
            usize::try_from(t >> 1)
                .ok()
                .and_then(|i| self.table.get(i))
                .copied()
                .ok_or(CorruptChunk("string index out of range"))?
        } else {
            let bytes = self.take(t >> 1)?;
            utf8(bytes)?
        };
        Ok(Cow::Owned(text.to_owned()))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// What is left to read.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    fn byte(&mut self) -> Result<u8, CorruptChunk> {
        let (&first, rest) = self.bytes.split_first().ok_or(CorruptChunk("ends early"))?;
        self.bytes = rest;
        Ok(first)
    }

    pub(crate) fn fixed<const N: usize>(&mut self) -> Result<[u8; N], CorruptChunk> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or(CorruptChunk("ends early"))?;
        self.bytes = rest;
        Ok(*head)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, CorruptChunk> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(CorruptChunk("varint too long"))
    }

    fn count(&mut self) -> Result<usize, CorruptChunk> {
        let count = self.varint()?;
        // every item takes at least one byte: a larger count is corruption, not a big alloc
        if count > self.bytes.len() as u64 {
            return Err(CorruptChunk("count larger than the chunk"));
        }
        Ok(count as usize)
    }

    fn u32(&mut self) -> Result<u32, CorruptChunk> {
        u32::try_from(self.varint()?).map_err(|_| CorruptChunk("count over u32"))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], CorruptChunk> {
        let len = self.varint()?;
        self.take(len)
    }

    /// The next `len` bytes.
    fn take(&mut self, len: u64) -> Result<&'a [u8], CorruptChunk> {
        if len > self.bytes.len() as u64 {
            return Err(CorruptChunk("count larger than the chunk"));
        }
        let (head, rest) = self.bytes.split_at(len as usize);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, CorruptChunk> {
        utf8(self.bytes()?)
    }

    fn string(&mut self) -> Result<Cow<'static, str>, CorruptChunk> {
        Ok(Cow::Owned(self.str()?.to_owned()))
    }

    fn attributes(&mut self) -> Result<Vec<KeyValue>, CorruptChunk> {
        let count = self.count()?;
        let mut attributes = Vec::with_capacity(count);
        for _ in 0..count {
            let key = self.text()?;
            let value = self.value(0)?;
            attributes.push(KeyValue { key, value });
        }
        Ok(attributes)
    }

    fn value(&mut self, depth: usize) -> Result<Value, CorruptChunk> {
        Ok(match self.byte()? {
            0 => Value::Str(self.string()?),
            1 => Value::I64(unzigzag(self.varint()?)),
            2 => Value::F64(f64::from_bits(u64::from_le_bytes(self.fixed()?))),
            3 => Value::Bool(false),
            4 => Value::Bool(true),
            5 if depth < 16 => {
                let count = self.count()?;
                let mut values = Vec::with_capacity(count);
                for _ in 0..count {
                    values.push(self.value(depth + 1)?);
                }
                Value::Array(values)
            }
            6 => Value::Bytes(self.bytes()?.to_vec()),
            _ => return Err(CorruptChunk("unknown value type")),
        })
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, CorruptChunk> {
    std::str::from_utf8(bytes).map_err(|_| CorruptChunk("string is not utf-8"))
}

/// The spans of a chunk, appended to `out`.
pub(crate) fn decode_chunk(bytes: &[u8], out: &mut Vec<SpanData>) -> Result<(), CorruptChunk> {
    let mut r = Reader::new(bytes);
    let version = r.byte()?;
    if version != 1 && version != VERSION {
        return Err(CorruptChunk("unknown version"));
    }
    let trace_id = TraceId(u128::from_le_bytes(r.fixed()?));
    if version == VERSION {
        let body_len = usize::try_from(u32::from_le_bytes(r.fixed()?))
            .map_err(|_| CorruptChunk("ends early"))?;
        let (body, table) = r
            .bytes
            .split_at_checked(body_len)
            .ok_or(CorruptChunk("ends early"))?;
        let mut t = Reader::new(table);
        let count = t.count()?;
        r.table.reserve(count);
        for _ in 0..count {
            r.table.push(t.str()?);
        }
        r.bytes = body;
        r.tabled = true;
    }
    let resource_count = r.count()?;
    let mut resources = Vec::with_capacity(resource_count);
    for _ in 0..resource_count {
        let service_name = r.string()?;
        let attributes = r.attributes()?;
        resources.push(Arc::new(Resource {
            service_name,
            attributes,
        }));
    }
    let span_count = r.count()?;
    out.reserve(span_count);
    for _ in 0..span_count {
        out.push(decode_span(&mut r, trace_id, &resources)?);
    }
    Ok(())
}

fn decode_span(
    r: &mut Reader<'_>,
    trace_id: TraceId,
    resources: &[Arc<Resource>],
) -> Result<SpanData, CorruptChunk> {
    let span_id = SpanId(u64::from_le_bytes(r.fixed()?));
    let parent = u64::from_le_bytes(r.fixed()?);
    let flags = r.byte()?;
    let kind = match r.byte()? {
        0 => SpanKind::Unspecified,
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => return Err(CorruptChunk("unknown span kind")),
    };
    let start = r.varint()?;
    let end = start.wrapping_add(unzigzag(r.varint()?) as u64);
    let name = r.text()?;
    let resource = resources
        .get(r.varint()? as usize)
        .ok_or(CorruptChunk("resource index out of range"))?
        .clone();
    let scope = r.text()?;
    let attributes = r.attributes()?;
    let count = r.count()?;
    let mut annotations = Vec::with_capacity(count);
    for _ in 0..count {
        annotations.push(Annotation {
            time_unix_nano: r.varint()?,
            description: r.string()?,
            attributes: r.attributes()?,
            dropped_attributes_count: r.u32()?,
        });
    }
    let count = r.count()?;
    let mut message_events = Vec::with_capacity(count);
    for _ in 0..count {
        let time_unix_nano = r.varint()?;
        let kind = match r.byte()? {
            0 => MessageEventType::Unspecified,
            1 => MessageEventType::Sent,
            2 => MessageEventType::Received,
            _ => return Err(CorruptChunk("unknown message event type")),
        };
        message_events.push(MessageEvent {
            time_unix_nano,
            kind,
            id: r.varint()?,
            uncompressed_size: r.varint()?,
            compressed_size: r.varint()?,
        });
    }
    let count = r.count()?;
    let mut links = Vec::with_capacity(count);
    for _ in 0..count {
        let trace_id = TraceId(u128::from_le_bytes(r.fixed()?));
        let span_id = SpanId(u64::from_le_bytes(r.fixed()?));
        let trace_state = trace_state(r.str()?);
        let link_type = match r.byte()? {
            0 => LinkType::Unspecified,
            1 => LinkType::ChildLinkedSpan,
            2 => LinkType::ParentLinkedSpan,
            _ => return Err(CorruptChunk("unknown link type")),
        };
        links.push(Link {
            trace_id,
            span_id,
            trace_state,
            link_type,
            attributes: r.attributes()?,
            dropped_attributes_count: r.u32()?,
        });
    }
    let status = if flags & FLAG_STATUS != 0 {
        let code = i32::try_from(unzigzag(r.varint()?))
            .ok()
            .and_then(StatusCode::from_i32)
            .ok_or(CorruptChunk("unknown status code"))?;
        let mut status = Status::new(code, r.string()?);
        if flags & FLAG_STATUS_DETAILS != 0 {
            status = status.with_details(r.string()?);
        }
        Some(status)
    } else {
        None
    };
    let stack_trace = if flags & FLAG_STACK_TRACE != 0 {
        Some(r.str()?.to_owned())
    } else {
        None
    };
    let trace_state = if flags & FLAG_TRACE_STATE != 0 {
        trace_state(r.str()?)
    } else {
        TraceState::EMPTY
    };
    let dropped = DroppedCounts {
        attributes: r.u32()?,
        annotations: r.u32()?,
        message_events: r.u32()?,
        links: r.u32()?,
    };
    Ok(SpanData {
        trace_id,
        span_id,
        parent_span_id: (parent != 0).then_some(SpanId(parent)),
        trace_state,
        parent_is_remote: flags & FLAG_PARENT_REMOTE != 0,
        name,
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        annotations,
        message_events,
        links,
        status,
        stack_trace,
        dropped,
        resource,
        scope,
    })
}

/// A stored tracestate: it was valid when written, so a parse failure only means corruption,
/// and an empty one is the best answer then.
fn trace_state(header: &str) -> TraceState {
    if header.is_empty() {
        return TraceState::EMPTY;
    }
    TraceState::from_header(header).unwrap_or(TraceState::EMPTY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_and_the_order_survive_a_round_trip() {
        let web = Arc::new(Resource {
            service_name: "web".into(),
            attributes: vec![KeyValue::new("host.name", "a")],
        });
        let mut first = SpanData::new(TraceId(u128::MAX - 3), SpanId(9), "get");
        first.resource = web.clone();
        first.parent_span_id = Some(SpanId(u64::MAX));
        first.parent_is_remote = true;
        first.kind = SpanKind::Server;
        first.start_time_unix_nano = 1_700_000_000_000_000_000;
        first.end_time_unix_nano = first.start_time_unix_nano - 5;
        first.trace_state = TraceState::from_header("a=1,b=2").unwrap();
        first.attributes = vec![
            KeyValue::new("s", "x"),
            KeyValue::new("i", -42i64),
            KeyValue::new("f", f64::NAN),
            KeyValue::new("b", true),
            KeyValue::new("a", vec![Value::from(1i64), Value::from("y")]),
            KeyValue::new("bytes", Value::Bytes(vec![0, 255])),
        ];
        first.annotations.push(Annotation {
            time_unix_nano: 3,
            description: "retry".into(),
            attributes: vec![KeyValue::new("n", 2i64)],
            dropped_attributes_count: 1,
        });
        first.message_events.push(MessageEvent {
            time_unix_nano: 4,
            kind: MessageEventType::Received,
            id: 7,
            uncompressed_size: 100,
            compressed_size: 50,
        });
        first.links.push(Link {
            trace_id: TraceId(5),
            span_id: SpanId(6),
            trace_state: TraceState::from_header("c=3").unwrap(),
            link_type: LinkType::ParentLinkedSpan,
            attributes: vec![KeyValue::new("l", false)],
            dropped_attributes_count: 2,
        });
        first.status = Some(Status::new(StatusCode::NotFound, "gone").with_details("why"));
        first.stack_trace = Some("at main".into());
        first.dropped = DroppedCounts {
            attributes: 1,
            annotations: 2,
            message_events: 3,
            links: 4,
        };
        first.scope = "lib".into();
        let mut second = SpanData::new(TraceId(u128::MAX - 3), SpanId(10), "query");
        second.resource = Arc::new(Resource::new("db"));
        second.status = Some(Status::ok());
        let mut third = SpanData::new(TraceId(u128::MAX - 3), SpanId(11), "render");
        third.resource = Arc::new((*web).clone());
        let spans = [first, second, third];
        let mut bytes = Vec::new();
        encode_chunk(
            TraceId(u128::MAX - 3),
            &spans.iter().collect::<Vec<_>>(),
            &mut bytes,
        );
        let mut decoded = Vec::new();
        decode_chunk(&bytes, &mut decoded).unwrap();
        // NaN != NaN: compare the bits of that one attribute, the rest by value
        let nan = |s: &SpanData| match s.attributes.get(2).map(|kv| &kv.value) {
            Some(Value::F64(f)) => Some(f.to_bits()),
            _ => None,
        };
        assert_eq!(nan(&decoded[0]), nan(&spans[0]));
        let without_nan = |mut s: SpanData| {
            if s.attributes.len() > 2 {
                s.attributes.remove(2);
            }
            s
        };
        assert_eq!(
            decoded.into_iter().map(without_nan).collect::<Vec<_>>(),
            spans.into_iter().map(without_nan).collect::<Vec<_>>()
        );
    }

    #[test]
    fn truncated_chunks_are_errors_not_panics() {
        let mut span = SpanData::new(TraceId(1), SpanId(2), "x");
        span.attributes.push(KeyValue::new("k", "v"));
        let mut bytes = Vec::new();
        encode_chunk(TraceId(1), &[&span], &mut bytes);
        for len in 0..bytes.len() {
            assert!(
                decode_chunk(&bytes[..len], &mut Vec::new()).is_err(),
                "{len}"
            );
        }
    }

    /// The span of the version-1 chunk below, as the version before tables wrote it.
    fn version_1_span() -> SpanData {
        let mut span = SpanData::new(TraceId(0x0102), SpanId(3), "get /");
        span.resource = Arc::new(Resource {
            service_name: "web".into(),
            attributes: vec![KeyValue::new("host.name", "a")],
        });
        span.scope = "lib".into();
        span.start_time_unix_nano = 1000;
        span.end_time_unix_nano = 1500;
        span.attributes = vec![
            KeyValue::new("http.method", "GET"),
            KeyValue::new("n", 7i64),
        ];
        span
    }

    #[test]
    fn chunks_of_version_1_still_decode() {
        let bytes: [u8; 99] = [
            1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 119, 101, 98, 1, 9, 104, 111,
            115, 116, 46, 110, 97, 109, 101, 0, 1, 97, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 232, 7, 232, 7, 5, 103, 101, 116, 32, 47, 0, 3, 108, 105, 98, 2, 11, 104,
            116, 116, 112, 46, 109, 101, 116, 104, 111, 100, 0, 3, 71, 69, 84, 1, 110, 1, 14, 0, 0,
            0, 0, 0, 0, 0,
        ];
        let mut decoded = Vec::new();
        decode_chunk(&bytes, &mut decoded).unwrap();
        assert_eq!(decoded, [version_1_span()]);
    }

    #[test]
    fn repeated_keys_names_and_scopes_are_written_once_per_chunk() {
        // keys shared (one copy for all spans, as decoders give them) and owned, in
        // positions that move; names repeating and not
        let shared = ["http.method", "http.route", "user.id"];
        let spans: Vec<SpanData> = (0..40_usize)
            .map(|i| {
                let mut span = version_1_span();
                span.span_id = SpanId(i as u64 + 1);
                span.name = if i % 2 == 0 {
                    "get /".into()
                } else {
                    format!("op {i}").into()
                };
                span.attributes = (0..3)
                    .map(|j| KeyValue::new(shared[(i + j) % 3], format!("v{i}")))
                    .collect();
                span.attributes
                    .insert(i % 3, KeyValue::new(format!("owned.key.{}", i % 4), 1_i64));
                span
            })
            .collect();
        let mut bytes = Vec::new();
        encode_chunk(
            TraceId(0x0102),
            &spans.iter().collect::<Vec<_>>(),
            &mut bytes,
        );
        let mut decoded = Vec::new();
        decode_chunk(&bytes, &mut decoded).unwrap();
        assert_eq!(decoded, spans);
        // more distinct keys than a table takes, and keys too long for it, go inline
        let mut many = version_1_span();
        many.attributes = (0..TABLE_STRINGS + 20)
            .map(|i| KeyValue::new(format!("key.{i}"), i as i64))
            .chain([KeyValue::new("long".repeat(20), "x")])
            .collect();
        let mut more = Vec::new();
        encode_chunk(TraceId(0x0102), &[&many, &many], &mut more);
        decode_chunk(&more, &mut decoded).unwrap();
        assert_eq!(decoded[spans.len()..], [many.clone(), many]);
        let count = |needle: &[u8]| bytes.windows(needle.len()).filter(|w| *w == needle).count();
        assert_eq!(count(b"http.route"), 1);
        assert_eq!(count(b"owned.key.3"), 1);
        assert_eq!(count(b"get /"), 1);
        assert_eq!(count(b"lib"), 1);
        assert_eq!(count(b"op 7"), 1);
    }
}

//! Zipkin v2 JSON: the body of `POST /api/v2/spans` with `Content-Type: application/json`.
//!
//! The body is a JSON array of span objects as `zipkin2-api.yaml` defines them. What each field
//! means, and what cannot be carried, is described in the [module above](super).
//!
//! # Examples
//!
//! ```
//! use threadline::{SpanData, SpanId, SpanKind, TraceId};
//! use threadline_wire::zipkin::json;
//!
//! let mut span = SpanData::new(TraceId(0xabc), SpanId(0x1), "get /users");
//! span.kind = SpanKind::Server;
//! span.start_time_unix_nano = 1_700_000_000_000_000_000;
//! span.end_time_unix_nano = 1_700_000_000_002_500_000;
//! let body = json::encode(&[span]);
//! assert_eq!(
//!     String::from_utf8(body.clone()).unwrap(),
//!     r#"[{"traceId":"00000000000000000000000000000abc","id":"0000000000000001","kind":"SERVER","name":"get /users","timestamp":1700000000000000,"duration":2500}]"#
//! );
//! let spans = json::decode(&body).unwrap();
//! assert_eq!(spans[0].end_time_unix_nano, 1_700_000_000_002_500_000);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed as _, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};
use threadline::{ParseIdError, Resource, SpanData, SpanId, SpanKind, TraceId, Value};

use super::model::{self, Decoder, Endpoint, TagValue, ZipkinAnnotation, ZipkinSpan};
use crate::{json_write, quote, Decoded, Problem, SpanError};

/// The media type of an encoded body.
pub const CONTENT_TYPE: &str = "application/json";

/// Why a Zipkin JSON body, or a span in it, could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not UTF-8, so it cannot be JSON.
    #[error("body is not valid UTF-8: invalid byte at offset {offset}")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The body is not well-formed JSON (truncated, for instance); the spans that came before
    /// the fault were still read.
    #[error("body is not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    /// The body is JSON but not an array.
    #[error("body is {found}, expected a JSON array of spans")]
    NotAnArray {
        /// What it is instead, e.g. `an object`.
        found: &'static str,
    },
    /// One span of the array was rejected.
    #[error(transparent)]
    Span(#[from] SpanError),
}

/// Encodes spans as a Zipkin v2 JSON array.
///
/// Encoding cannot fail: every [`SpanData`] has a Zipkin form, less what Zipkin cannot carry.
///
/// # Examples
///
/// ```
/// let body = threadline_wire::zipkin::json::encode(&[]);
/// assert_eq!(body, b"[]");
/// ```
pub fn encode(spans: &[SpanData]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + spans.len() * 1024);
    encode_into(spans, &mut out);
    out
}

/// Appends the Zipkin v2 JSON array for spans to `out`, as [`encode`] writes it, so that a
/// caller can reuse one buffer from batch to batch.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::zipkin::json;
///
/// let spans = [SpanData::new(TraceId(1), SpanId(2), "get /users")];
/// let mut buffer = Vec::new();
/// for _ in 0..2 {
///     buffer.clear();
///     json::encode_into(&spans, &mut buffer);
///     assert_eq!(buffer, json::encode(&spans));
/// }
/// ```
pub fn encode_into(spans: &[SpanData], out: &mut Vec<u8>) {
    out.push(b'[');
    // the lists of one span's Zipkin form are reused for the next
    let (mut tags, mut annotations) = (Vec::new(), Vec::new());
    let mut resources = RenderedResources::default();
    let mut clean = CleanStrings::default();
    let mut last_fast = LastFastKeys::default();
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let resource = resources.get(&span.resource);
        let fast = last_fast.matches(span) || {
            let applies = fast_path_applies(span, resource);
            if applies {
                last_fast.remember(span);
            }
            applies
        };
        if fast {
            write_span_fast(out, span, resource, &mut clean, &mut annotations);
            continue;
        }
        let zipkin = model::from_span_data_reusing(span, tags, annotations);
        write_span(out, &zipkin);
        (tags, annotations) = (zipkin.tags, zipkin.annotations);
    }
    out.push(b']');
}

/// Decodes a Zipkin v2 JSON array, all or nothing.
///
/// # Errors
///
/// The first problem found: a body that is not a JSON array, or the first span that is
/// invalid (see [`decode_lenient`] to keep the valid spans of a partly bad batch).
///
/// # Examples
///
/// ```
/// use threadline_wire::zipkin::json;
///
/// let err = json::decode(br#"[{"traceId":"5af7183fb1d4cf5f"}]"#).unwrap_err();
/// assert_eq!(err.to_string(), "span 0: id is missing");
/// ```
pub fn decode(body: &[u8]) -> Result<Vec<SpanData>, DecodeError> {
    decode_lenient(body).into_result()
}

/// Decodes a Zipkin v2 JSON array, keeping every valid span.
///
/// Each invalid span adds one [`DecodeError::Span`]; a body that breaks off (truncated, or not
/// UTF-8) keeps the spans read before the fault and adds one body error last.
///
/// # Examples
///
/// ```
/// use threadline_wire::zipkin::json;
///
/// let truncated = br#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2"},{"traceId":"5af7"#;
/// let decoded = json::decode_lenient(truncated);
/// assert_eq!(decoded.spans.len(), 1);
/// assert!(decoded.errors[0].to_string().starts_with("body is not valid JSON: EOF"));
/// ```
pub fn decode_lenient(body: &[u8]) -> Decoded<DecodeError> {
    let mut elements = Vec::new();
    let mut found = None;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let read = CollectSpans {
        elements: &mut elements,
        found: &mut found,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());

    let mut decoder = Decoder::default();
    let mut decoded = Decoded {
        spans: Vec::with_capacity(elements.len()),
        errors: Vec::new(),
    };
    for (index, element) in elements.into_iter().enumerate() {
        match parse_span(element).and_then(|span| decoder.decode(span)) {
            Ok(span) => decoded.spans.push(span),
            Err(problem) => decoded.errors.push(problem.at(index).into()),
        }
    }
    if let Err(error) = read {
        decoded
            .errors
            .push(match (found, std::str::from_utf8(body)) {
                (Some(found), _) => DecodeError::NotAnArray { found },
                (None, Err(utf8)) => DecodeError::NotUtf8 {
                    offset: utf8.valid_up_to(),
                },
                (None, Ok(_)) => DecodeError::Syntax(error),
            });
    }
    decoded
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// A span object, written as `serde_json` would write the span's fields (the test oracle
/// below): compact, keys in this order, the absent ones left out.
fn write_span(out: &mut Vec<u8>, span: &ZipkinSpan<'_>) {
    out.extend_from_slice(b"{\"traceId\":\"");
    json_write::hex_u64(out, (span.trace_id.0 >> 64) as u64);
    json_write::hex_u64(out, span.trace_id.0 as u64);
    if let Some(parent) = span.parent_id {
        out.extend_from_slice(b"\",\"parentId\":\"");
        json_write::hex_u64(out, parent.0);
    }
    out.extend_from_slice(b"\",\"id\":\"");
    json_write::hex_u64(out, span.id.0);
    out.push(b'"');
    if let Some(kind) = kind_name(span.kind) {
        out.extend_from_slice(b",\"kind\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.push(b'"');
    }
    if !span.name.is_empty() {
        out.extend_from_slice(b",\"name\":");
        json_write::string(out, &span.name);
    }
    if let Some(timestamp) = span.timestamp {
        out.extend_from_slice(b",\"timestamp\":");
        json_write::u64(out, timestamp);
    }
    if let Some(duration) = span.duration {
        out.extend_from_slice(b",\"duration\":");
        json_write::u64(out, duration);
    }
    if let Some(endpoint) = &span.local_endpoint {
        out.extend_from_slice(b",\"localEndpoint\":");
        write_endpoint(out, endpoint);
    }
    if let Some(endpoint) = &span.remote_endpoint {
        out.extend_from_slice(b",\"remoteEndpoint\":");
        write_endpoint(out, endpoint);
    }
    write_annotations(out, &span.annotations);
    if !span.tags.is_empty() {
        out.extend_from_slice(b",\"tags\":{");
        for (i, (key, value)) in span.tags.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_tag(out, key, value);
        }
        out.push(b'}');
    }
    if span.debug {
        out.extend_from_slice(b",\"debug\":true");
    }
    if span.shared {
        out.extend_from_slice(b",\"shared\":true");
    }
    out.push(b'}');
}

/// What a resource adds to each of its spans, written once per batch: the local endpoint and
/// the tags from its attributes, as JSON text.
struct RenderedResource<'a> {
    resource: &'a Resource,
    /// `,"localEndpoint":{...}`, or nothing when the endpoint is empty.
    local_endpoint: Vec<u8>,
    /// The resource's tags, `"key":"value"` separated by commas.
    tags: Vec<u8>,
    /// The keys of those tags.
    keys: Vec<&'a str>,
    /// The [`model::key_bit`]s of `keys` and of [`model::MAPPING_KEYS`].
    bits: u128,
    /// Whether no tag of the resource has a key of [`model::MAPPING_KEYS`], whose tags would
    /// replace its value in place.
    mapping_free: bool,
}

impl<'a> RenderedResource<'a> {
    fn new(resource: &'a Resource) -> Self {
        let (endpoint, host_ip_in_endpoint) = model::local_endpoint(resource);
        let mut local_endpoint = Vec::new();
        if !endpoint.is_empty() {
            local_endpoint.extend_from_slice(b",\"localEndpoint\":");
            write_endpoint(&mut local_endpoint, &endpoint);
        }
        let resource_tags = model::resource_tags(resource, host_ip_in_endpoint);
        let mut tags = Vec::new();
        let mut keys = Vec::with_capacity(resource_tags.len());
        let mut bits = 0;
        for (i, (key, value)) in resource_tags.iter().enumerate() {
            if i > 0 {
                tags.push(b',');
            }
            write_tag(&mut tags, key, value);
            // borrowed from the resource's attributes
            if let Cow::Borrowed(key) = key {
                keys.push(*key);
            }
            bits |= model::key_bit(key);
        }
        let mapping_free = !keys.iter().any(|key| model::MAPPING_KEYS.contains(key));
        for key in model::MAPPING_KEYS {
            bits |= model::key_bit(key);
        }
        RenderedResource {
            resource,
            local_endpoint,
            tags,
            keys,
            bits,
            mapping_free,
        }
    }
}

/// The resources of a batch rendered so far, found by `Arc` pointer.
#[derive(Default)]
struct RenderedResources<'a> {
    rendered: Vec<RenderedResource<'a>>,
}

impl<'a> RenderedResources<'a> {
    /// Most batches hold spans of one resource or a few; past this many, the oldest go.
    const MOST: usize = 16;

    fn get(&mut self, resource: &'a Arc<Resource>) -> &RenderedResource<'a> {
        let resource: &'a Resource = resource;
        let found = self
            .rendered
            .iter()
            .position(|r| std::ptr::eq(r.resource, resource));
        let index = match found {
            Some(index) => index,
            None => {
                if self.rendered.len() == Self::MOST {
                    self.rendered.remove(0);
                }
                self.rendered.push(RenderedResource::new(resource));
                self.rendered.len() - 1
            }
        };
        &self.rendered[index]
    }
}

/// Whether [`write_span_fast`] writes what [`write_span`] writes for the span's Zipkin form:
/// when each attribute becomes a tag of its own, after the attributes before it and before the
/// resource's tags and the mapping's, that is when no two attributes share a key and none has
/// the key of a resource tag or of a mapping tag (`error` among them, whose `false` is dropped).
fn fast_path_applies(span: &SpanData, resource: &RenderedResource<'_>) -> bool {
    if !resource.mapping_free {
        return false;
    }
    let mut seen = resource.bits;
    for (i, kv) in span.attributes.iter().enumerate() {
        let key = kv.key.as_ref();
        let bit = model::key_bit(key);
        // most keys are new, and their bit says so without comparing them with every key
        if seen & bit != 0
            && (model::MAPPING_KEYS.contains(&key)
                || resource.keys.contains(&key)
                || span.attributes[..i]
                    .iter()
                    .any(|earlier| earlier.key == key))
        {
            return false;
        }
        seen |= bit;
    }
    true
}

/// The resource and attribute keys of the last span [`fast_path_applies`] to: a span with the
/// same resource and the same keys (the same strings in memory, as spans from one call site
/// have) needs no new check. Only strings borrowed from the spans being encoded go in.
#[derive(Default)]
struct LastFastKeys {
    resource: usize,
    keys: Vec<(usize, usize)>,
}

impl LastFastKeys {
    fn matches(&self, span: &SpanData) -> bool {
        Arc::as_ptr(&span.resource) as usize == self.resource
            && self.keys.len() == span.attributes.len()
            && self
                .keys
                .iter()
                .zip(&span.attributes)
                .all(|(&key, kv)| key == (kv.key.as_ptr() as usize, kv.key.len()))
    }

    fn remember(&mut self, span: &SpanData) {
        self.resource = Arc::as_ptr(&span.resource) as usize;
        self.keys.clear();
        self.keys.extend(
            span.attributes
                .iter()
                .map(|kv| (kv.key.as_ptr() as usize, kv.key.len())),
        );
    }
}

/// [`write_span`] for a span that [`fast_path_applies`] to, straight from the span and its
/// rendered resource.
fn write_span_fast<'a>(
    out: &mut Vec<u8>,
    span: &'a SpanData,
    resource: &RenderedResource<'_>,
    clean: &mut CleanStrings,
    annotations: &mut Vec<ZipkinAnnotation<'a>>,
) {
    let mut ids = [0u8; 100];
    ids[..12].copy_from_slice(b"{\"traceId\":\"");
    json_write::hex_u64_into(&mut ids[12..28], (span.trace_id.0 >> 64) as u64);
    json_write::hex_u64_into(&mut ids[28..44], span.trace_id.0 as u64);
    let mut len = 44;
    if let Some(parent) = span.parent_span_id {
        ids[len..len + 14].copy_from_slice(b"\",\"parentId\":\"");
        json_write::hex_u64_into(&mut ids[len + 14..len + 30], parent.0);
        len += 30;
    }
    ids[len..len + 8].copy_from_slice(b"\",\"id\":\"");
    json_write::hex_u64_into(&mut ids[len + 8..len + 24], span.span_id.0);
    ids[len + 24] = b'"';
    out.extend_from_slice(&ids[..len + 25]);
    if let Some(kind) = kind_name(span.kind) {
        out.extend_from_slice(b",\"kind\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.push(b'"');
    }
    if !span.name.is_empty() {
        out.extend_from_slice(b",\"name\":");
        clean.write(out, &span.name);
    }
    let start_us = span.start_time_unix_nano / 1000;
    if start_us != 0 {
        out.extend_from_slice(b",\"timestamp\":");
        json_write::u64(out, start_us);
    }
    // Zipkin rounds durations under 1 µs up; an end of 0 means the end is unknown.
    if span.end_time_unix_nano != 0 {
        let end_us = span.end_time_unix_nano / 1000;
        out.extend_from_slice(b",\"duration\":");
        json_write::u64(out, end_us.saturating_sub(start_us).max(1));
    }
    out.extend_from_slice(&resource.local_endpoint);
    let remote_endpoint = match span.kind {
        SpanKind::Client | SpanKind::Producer => {
            model::remote_endpoint(&span.attributes, &model::OUTGOING_PEER_KEYS)
        }
        SpanKind::Server | SpanKind::Consumer => {
            model::remote_endpoint(&span.attributes, &model::INCOMING_PEER_KEYS)
        }
        SpanKind::Internal | SpanKind::Unspecified => None,
    };
    if let Some(endpoint) = &remote_endpoint {
        out.extend_from_slice(b",\"remoteEndpoint\":");
        write_endpoint(out, endpoint);
    }
    if !span.annotations.is_empty() || !span.message_events.is_empty() {
        annotations.clear();
        model::fill_annotations(span, annotations);
        write_annotations(out, annotations);
    }
    let tags_at = out.len();
    out.extend_from_slice(b",\"tags\":{");
    let first_tag_at = out.len();
    for kv in &span.attributes {
        if out.len() != first_tag_at {
            out.push(b',');
        }
        clean.write(out, &kv.key);
        out.push(b':');
        match &kv.value {
            Value::Str(text) => clean.write(out, text),
            value => write_tag_value(out, &model::tag_value(value)),
        }
    }
    if !resource.tags.is_empty() {
        if out.len() != first_tag_at {
            out.push(b',');
        }
        out.extend_from_slice(&resource.tags);
    }
    model::mapping_tags(span, |key, value| {
        if out.len() != first_tag_at {
            out.push(b',');
        }
        clean.write(out, key);
        out.push(b':');
        match &value {
            // borrowed from the span, or static
            TagValue::Text(Cow::Borrowed(text)) => clean.write(out, text),
            value => write_tag_value(out, value),
        }
    });
    if out.len() == first_tag_at {
        out.truncate(tags_at);
    } else {
        out.push(b'}');
    }
    out.push(b'}');
}

/// The strings of a batch's spans found to need no escaping, by address and length, so that
/// the keys and values every span repeats are scanned once. Only strings borrowed from the
/// spans being encoded go in: they cannot change or go away while the batch is written.
struct CleanStrings {
    slots: [(usize, usize); 64],
}

impl Default for CleanStrings {
    fn default() -> Self {
        CleanStrings {
            slots: [(0, 0); 64],
        }
    }
}

impl CleanStrings {
    /// `s` as [`json_write::string`] writes it.
    #[inline(always)]
    fn write(&mut self, out: &mut Vec<u8>, s: &str) {
        let address = s.as_ptr() as usize;
        let seen = (address, s.len());
        let index = ((address >> 3) ^ (address >> 9) ^ s.len()) % 64;
        let slot = &mut self.slots[index];
        if *slot == seen {
            json_write::clean_string(out, s);
        } else if json_write::needs_escaping(s) {
            json_write::string(out, s);
        } else {
            *slot = seen;
            json_write::clean_string(out, s);
        }
    }
}

/// `"key":"value"`: Zipkin's tag values are strings.
#[inline(always)]
fn write_tag(out: &mut Vec<u8>, key: &str, value: &TagValue<'_>) {
    json_write::string(out, key);
    out.push(b':');
    write_tag_value(out, value);
}

#[inline(always)]
fn write_tag_value(out: &mut Vec<u8>, value: &TagValue<'_>) {
    match value {
        TagValue::Text(text) => json_write::string(out, text),
        // digits, signs, `.` and `e` need no escaping
        number => number.with_text(|text| {
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
        }),
    }
}

fn write_annotations(out: &mut Vec<u8>, annotations: &[ZipkinAnnotation<'_>]) {
    if annotations.is_empty() {
        return;
    }
    out.extend_from_slice(b",\"annotations\":[");
    for (i, annotation) in annotations.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"timestamp\":");
        json_write::u64(out, annotation.timestamp);
        out.extend_from_slice(b",\"value\":");
        json_write::string(out, &annotation.value);
        out.push(b'}');
    }
    out.push(b']');
}

fn kind_name(kind: SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Server => Some("SERVER"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
        SpanKind::Internal | SpanKind::Unspecified => None,
    }
}

fn write_endpoint(out: &mut Vec<u8>, endpoint: &Endpoint<'_>) {
    out.push(b'{');
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &[u8]| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name);
        out.extend_from_slice(b"\":");
    };
    if let Some(name) = &endpoint.service_name {
        key(out, b"serviceName");
        json_write::string(out, name);
    }
    // addresses are ASCII digits, `.`, `:` and hex: nothing to escape
    if let Some(ip) = endpoint.ipv4 {
        key(out, b"ipv4");
        let _ = write!(out, "\"{ip}\"");
    }
    if let Some(ip) = endpoint.ipv6 {
        key(out, b"ipv6");
        let _ = write!(out, "\"{ip}\"");
    }
    if let Some(port) = endpoint.port {
        key(out, b"port");
        json_write::u64(out, u64::from(port));
    }
    out.push(b'}');
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Reads the top-level array one element at a time into `elements`, so that the elements read
/// before a syntax error survive it.
struct CollectSpans<'a> {
    elements: &'a mut Vec<Json>,
    found: &'a mut Option<&'static str>,
}

impl<'de> de::DeserializeSeed<'de> for CollectSpans<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl CollectSpans<'_> {
    fn not_an_array<E: de::Error>(self, found: &'static str) -> Result<(), E> {
        *self.found = Some(found);
        Err(E::custom(format_args!("body is {found}")))
    }
}

impl<'de> Visitor<'de> for CollectSpans<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of spans")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(element) = seq.next_element::<Json>()? {
            self.elements.push(element);
        }
        Ok(())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<(), A::Error> {
        self.not_an_array("an object")
    }

    fn visit_str<E: de::Error>(self, _v: &str) -> Result<(), E> {
        self.not_an_array("a string")
    }

    fn visit_bool<E: de::Error>(self, _v: bool) -> Result<(), E> {
        self.not_an_array("a boolean")
    }

    fn visit_i64<E: de::Error>(self, _v: i64) -> Result<(), E> {
        self.not_an_array("a number")
    }

    fn visit_u64<E: de::Error>(self, _v: u64) -> Result<(), E> {
        self.not_an_array("a number")
    }

    fn visit_f64<E: de::Error>(self, _v: f64) -> Result<(), E> {
        self.not_an_array("a number")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_an_array("null")
    }
}

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

fn parse_span(element: Json) -> Result<ZipkinSpan<'static>, Problem> {
    let mut fields = match element {
        Json::Object(fields) => fields,
        other => {
            return Err(Problem::wrong_type(
                "the span",
                type_of(&other),
                "an object",
            ))
        }
    };
    let trace_id = string(&mut fields, "traceId")?.ok_or_else(|| Problem::missing("traceId"))?;
    let id = string(&mut fields, "id")?.ok_or_else(|| Problem::missing("id"))?;
    let parent_id = match string(&mut fields, "parentId")? {
        Some(parent) if !parent.is_empty() => parse_parent_id(&parent)?,
        _ => None,
    };
    let kind = match string(&mut fields, "kind")? {
        Some(kind) => kind.parse::<SpanKind>().map_err(|_| {
            Problem::invalid(
                "kind",
                quote(&kind),
                "is not CLIENT, SERVER, PRODUCER or CONSUMER",
            )
        })?,
        None => SpanKind::Unspecified,
    };
    let optional_micros = |fields: &mut Map<String, Json>, field: &str| match fields.remove(field) {
        None | Some(Json::Null) => Ok(None),
        Some(value) => micros(field, &value).map(|n| (n != 0).then_some(n)),
    };
    Ok(ZipkinSpan {
        trace_id: parse_trace_id(&trace_id)?,
        id: parse_span_id("id", &id)?,
        parent_id,
        kind,
        name: string(&mut fields, "name")?.unwrap_or_default().into(),
        timestamp: optional_micros(&mut fields, "timestamp")?,
        duration: optional_micros(&mut fields, "duration")?,
        local_endpoint: endpoint(&mut fields, "localEndpoint")?,
        remote_endpoint: endpoint(&mut fields, "remoteEndpoint")?,
        annotations: annotations(&mut fields)?,
        tags: tags(&mut fields)?,
        debug: boolean(&mut fields, "debug")?,
        shared: boolean(&mut fields, "shared")?,
    })
}

fn string(fields: &mut Map<String, Json>, field: &str) -> Result<Option<String>, Problem> {
    match fields.remove(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(text)) => Ok(Some(text)),
        Some(other) => Err(Problem::wrong_type(field, type_of(&other), "a string")),
    }
}

fn boolean(fields: &mut Map<String, Json>, field: &str) -> Result<bool, Problem> {
    match fields.remove(field) {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(flag)) => Ok(flag),
        Some(other) => Err(Problem::wrong_type(field, type_of(&other), "a boolean")),
    }
}

/// Epoch or duration microseconds: a non-negative integer (a float with no fraction, as some
/// JavaScript clients send, is accepted).
fn micros(field: &str, value: &Json) -> Result<u64, Problem> {
    let Json::Number(number) = value else {
        return Err(Problem::wrong_type(field, type_of(value), "an integer"));
    };
    if let Some(n) = number.as_u64() {
        return Ok(n);
    }
    if number.is_i64() {
        return Err(Problem::invalid(field, number.to_string(), "is negative"));
    }
    let x = number.as_f64().unwrap_or(f64::NAN);
    // 2^64: every float below it with no fraction converts exactly.
    if x.fract() != 0.0 {
        Err(Problem::invalid(
            field,
            number.to_string(),
            "is not a whole number of microseconds",
        ))
    } else if (0.0..18_446_744_073_709_551_616.0).contains(&x) {
        Ok(x as u64)
    } else {
        Err(Problem::invalid(
            field,
            number.to_string(),
            "is out of range",
        ))
    }
}

fn parse_trace_id(text: &str) -> Result<TraceId, Problem> {
    let parsed = match text.len() {
        32 => TraceId::from_hex(text),
        16 => SpanId::from_hex(text).map(|low| TraceId(u128::from(low.0))),
        _ => Err(ParseIdError::Length {
            expected: 32,
            found: text.len(),
        }),
    };
    parsed.map_err(|error| id_problem("traceId", text, error, "is not 16 or 32 hex digits"))
}

fn parse_span_id(field: &str, text: &str) -> Result<SpanId, Problem> {
    SpanId::from_hex(text).map_err(|error| id_problem(field, text, error, "is not 16 hex digits"))
}

/// An all-zero parent id, which some clients send for a root span, means no parent.
fn parse_parent_id(text: &str) -> Result<Option<SpanId>, Problem> {
    match SpanId::from_hex(text) {
        Ok(id) => Ok(Some(id)),
        Err(ParseIdError::Zero) => Ok(None),
        Err(error) => Err(id_problem("parentId", text, error, "is not 16 hex digits")),
    }
}

fn id_problem(field: &str, text: &str, error: ParseIdError, not_hex: &'static str) -> Problem {
    let reason = match error {
        ParseIdError::Zero => "is all zeros",
        _ => not_hex,
    };
    Problem::invalid(field, quote(text), reason)
}

fn endpoint(
    fields: &mut Map<String, Json>,
    field: &str,
) -> Result<Option<Endpoint<'static>>, Problem> {
    let mut object = match fields.remove(field) {
        None | Some(Json::Null) => return Ok(None),
        Some(Json::Object(object)) => object,
        Some(other) => return Err(Problem::wrong_type(field, type_of(&other), "an object")),
    };
    let path = |name: &str| format!("{field}.{name}");
    let mut text = |name: &str| string(&mut object, name).map_err(|p| renamed(p, &path(name)));
    let service_name = text("serviceName")?.filter(|name| !name.is_empty());
    // Like Zipkin itself, an address that does not parse is ignored rather than fatal.
    let ipv4 = text("ipv4")?.and_then(|ip| ip.parse().ok());
    let ipv6 = text("ipv6")?.and_then(|ip| ip.parse().ok());
    let port = match object.remove("port") {
        None | Some(Json::Null) => None,
        Some(Json::Number(number)) => match number.as_u64().map(u16::try_from) {
            Some(Ok(0)) => None,
            Some(Ok(port)) => Some(port),
            _ => {
                return Err(Problem::invalid(
                    path("port"),
                    number.to_string(),
                    "is not a port number",
                ))
            }
        },
        Some(other) => {
            return Err(Problem::wrong_type(
                path("port"),
                type_of(&other),
                "an integer",
            ));
        }
    };
    Ok(Some(Endpoint {
        service_name: service_name.map(Into::into),
        ipv4,
        ipv6,
        port,
    }))
}

fn renamed(problem: Problem, field: &str) -> Problem {
    match problem {
        Problem::WrongType {
            found, expected, ..
        } => Problem::wrong_type(field, found, expected),
        other => other,
    }
}

fn annotations(fields: &mut Map<String, Json>) -> Result<Vec<ZipkinAnnotation<'static>>, Problem> {
    let items = match fields.remove("annotations") {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::Array(items)) => items,
        Some(other) => {
            return Err(Problem::wrong_type(
                "annotations",
                type_of(&other),
                "an array",
            ))
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let field = |name: &str| format!("annotations[{i}].{name}");
            let mut object = match item {
                Json::Object(object) => object,
                other => {
                    return Err(Problem::wrong_type(
                        format!("annotations[{i}]"),
                        type_of(&other),
                        "an object",
                    ))
                }
            };
            let timestamp = match object.remove("timestamp") {
                None | Some(Json::Null) => return Err(Problem::missing(field("timestamp"))),
                Some(value) => micros(&field("timestamp"), &value)?,
            };
            let value = string(&mut object, "value")
                .map_err(|p| renamed(p, &field("value")))?
                .ok_or_else(|| Problem::missing(field("value")))?;
            Ok(ZipkinAnnotation {
                timestamp,
                value: value.into(),
            })
        })
        .collect()
}

/// Tags: Zipkin wants strings, but numbers and booleans (and, rarely, lists) are common from
/// hand-rolled clients, so they are kept in their JSON text; a null tag is dropped.
fn tags(
    fields: &mut Map<String, Json>,
) -> Result<Vec<(model::Text<'static>, model::TagValue<'static>)>, Problem> {
    let object = match fields.remove("tags") {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::Object(object)) => object,
        Some(other) => return Err(Problem::wrong_type("tags", type_of(&other), "an object")),
    };
    Ok(object
        .into_iter()
        .filter_map(|(key, value)| {
            let value = match value {
                Json::Null => return None,
                Json::String(text) => text,
                other => other.to_string(),
            };
            Some((key.into(), value.into()))
        })
        .collect())
}

/// The encoding as it was written before [`write_span`]: through `serde`, which the tests
/// hold [`encode`] to, byte for byte.
#[cfg(test)]
pub(super) mod oracle {
    use serde::ser::{SerializeMap, Serializer};
    use serde::Serialize;
    use serde_json::Map;
    use threadline::SpanData;

    use super::kind_name;
    use crate::zipkin::model::{self, Endpoint, ZipkinAnnotation, ZipkinSpan};

    /// What `encode` wrote before.
    pub fn encode(spans: &[SpanData]) -> Vec<u8> {
        serde_json::to_vec(&JsonSpans(spans)).unwrap()
    }

    struct JsonSpans<'a>(&'a [SpanData]);

    impl Serialize for JsonSpans<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(
                self.0
                    .iter()
                    .map(|span| JsonSpan(model::from_span_data(span))),
            )
        }
    }

    struct JsonSpan<'a>(ZipkinSpan<'a>);

    impl Serialize for JsonSpan<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let span = &self.0;
            let mut map = serializer.serialize_map(None)?;
            map.serialize_entry("traceId", &span.trace_id.to_string())?;
            if let Some(parent) = span.parent_id {
                map.serialize_entry("parentId", &parent.to_string())?;
            }
            map.serialize_entry("id", &span.id.to_string())?;
            if let Some(kind) = kind_name(span.kind) {
                map.serialize_entry("kind", kind)?;
            }
            if !span.name.is_empty() {
                map.serialize_entry("name", &span.name)?;
            }
            if let Some(timestamp) = span.timestamp {
                map.serialize_entry("timestamp", &timestamp)?;
            }
            if let Some(duration) = span.duration {
                map.serialize_entry("duration", &duration)?;
            }
            if let Some(endpoint) = &span.local_endpoint {
                map.serialize_entry("localEndpoint", &JsonEndpoint(endpoint))?;
            }
            if let Some(endpoint) = &span.remote_endpoint {
                map.serialize_entry("remoteEndpoint", &JsonEndpoint(endpoint))?;
            }
            if !span.annotations.is_empty() {
                map.serialize_entry("annotations", &JsonAnnotations(&span.annotations))?;
            }
            if !span.tags.is_empty() {
                map.serialize_entry("tags", &JsonTags(&span.tags))?;
            }
            if span.debug {
                map.serialize_entry("debug", &true)?;
            }
            if span.shared {
                map.serialize_entry("shared", &true)?;
            }
            map.end()
        }
    }

    struct JsonEndpoint<'a>(&'a Endpoint<'a>);

    impl Serialize for JsonEndpoint<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let endpoint = self.0;
            let mut map = serializer.serialize_map(None)?;
            if let Some(name) = &endpoint.service_name {
                map.serialize_entry("serviceName", name)?;
            }
            if let Some(ip) = endpoint.ipv4 {
                map.serialize_entry("ipv4", &ip.to_string())?;
            }
            if let Some(ip) = endpoint.ipv6 {
                map.serialize_entry("ipv6", &ip.to_string())?;
            }
            if let Some(port) = endpoint.port {
                map.serialize_entry("port", &port)?;
            }
            map.end()
        }
    }

    struct JsonAnnotations<'a>(&'a [ZipkinAnnotation<'a>]);

    impl Serialize for JsonAnnotations<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(self.0.iter().map(|annotation| {
                let mut entry = Map::with_capacity(2);
                entry.insert("timestamp".into(), annotation.timestamp.into());
                entry.insert("value".into(), annotation.value.as_ref().into());
                entry
            }))
        }
    }

    struct JsonTags<'a>(&'a [(model::Text<'a>, model::TagValue<'a>)]);

    impl Serialize for JsonTags<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(
                self.0
                    .iter()
                    .map(|(k, v)| (k.as_ref(), v.clone().into_text())),
            )
        }
    }
}

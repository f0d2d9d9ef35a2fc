//! The format-neutral Zipkin v2 span, and the one mapping between it and [`SpanData`].
//!
//! `json.rs` and `proto.rs` only move a [`ZipkinSpan`] to and from bytes; every decision about
//! what a tag or an annotation means is made here, once, for both.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde_json::Value as Json;
use threadline::{
    Annotation, KeyValue, MessageEvent, MessageEventType, Resource, SpanData, SpanId, SpanKind,
    Status, StatusCode, TraceId, Value,
};

use crate::Problem;

pub(crate) type Text<'a> = Cow<'a, str>;

/// Tag keys with a meaning of their own.
pub(crate) mod tag {
    pub const STATUS_CODE: &str = "otel.status_code";
    pub const STATUS_DESCRIPTION: &str = "otel.status_description";
    pub const ERROR: &str = "error";
    pub const CENSUS_STATUS_CODE: &str = "census.status_code";
    pub const CENSUS_STATUS_DESCRIPTION: &str = "census.status_description";
    pub const OPENCENSUS_STATUS_DESCRIPTION: &str = "opencensus.status_description";
    pub const STATUS_DETAILS: &str = "threadline.status_details";
    pub const SCOPE_NAME: &str = "otel.scope.name";
    pub const LIBRARY_NAME: &str = "otel.library.name";
    pub const DROPPED_ATTRIBUTES: &str = "otel.dropped_attributes_count";
    pub const DROPPED_EVENTS: &str = "otel.dropped_events_count";
    pub const DROPPED_LINKS: &str = "otel.dropped_links_count";
    pub const DROPPED_MESSAGE_EVENTS: &str = "threadline.dropped_message_events_count";
    pub const STACK_TRACE: &str = "code.stacktrace";
    pub const HOST_IP: &str = "host.ip";
    pub const SERVICE_NAME: &str = "service.name";
    pub const PEER_SERVICE: &str = "peer.service";
    pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
    pub const NETWORK_PEER_PORT: &str = "network.peer.port";
}

/// The attributes that name a CLIENT or PRODUCER span's peer, best first, each with the
/// attribute that holds its port (the OpenTelemetry Zipkin exporter's ranking).
pub(crate) const OUTGOING_PEER_KEYS: [(&str, Option<&str>); 11] = [
    (tag::PEER_SERVICE, None),
    ("server.address", Some("server.port")),
    ("net.peer.name", Some("net.peer.port")),
    (tag::NETWORK_PEER_ADDRESS, Some(tag::NETWORK_PEER_PORT)),
    ("server.socket.domain", None),
    ("server.socket.address", Some("server.socket.port")),
    ("net.sock.peer.name", None),
    ("net.sock.peer.addr", Some("net.sock.peer.port")),
    ("peer.hostname", None),
    ("peer.address", None),
    ("db.name", None),
];

/// The same for a SERVER or CONSUMER span, whose peer is its caller (`server.address` names the
/// span's own side there). These include the attributes the decoder writes, so that a decoded
/// span's remote endpoint is written again.
pub(crate) const INCOMING_PEER_KEYS: [(&str, Option<&str>); 4] = [
    (tag::PEER_SERVICE, None),
    (tag::NETWORK_PEER_ADDRESS, Some(tag::NETWORK_PEER_PORT)),
    ("client.address", Some("client.port")),
    ("net.sock.peer.addr", Some("net.sock.peer.port")),
];

const PORT_KEYS: [&str; 6] = [
    "server.port",
    "client.port",
    "net.peer.port",
    tag::NETWORK_PEER_PORT,
    "server.socket.port",
    "net.sock.peer.port",
];

/// A Zipkin `Endpoint`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Endpoint<'a> {
    pub service_name: Option<Text<'a>>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub port: Option<u16>,
}

impl Endpoint<'_> {
    pub fn is_empty(&self) -> bool {
        self.service_name.is_none()
            && self.ipv4.is_none()
            && self.ipv6.is_none()
            && self.port.is_none()
    }
}

/// A Zipkin `Annotation`: epoch microseconds and a value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ZipkinAnnotation<'a> {
    pub timestamp: u64,
    pub value: Text<'a>,
}

/// A tag's value: Zipkin's is always text, but a number is kept as one until it is written,
/// so that encoding does not allocate its text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TagValue<'a> {
    Text(Text<'a>),
    Int(i64),
    /// Finite; NaN and the infinities are the texts `NaN`, `Infinity`, `-Infinity`.
    Float(f64),
}

impl<'a> TagValue<'a> {
    /// Writes the text: an integer in decimal, a float as the shortest text that reads back
    /// as the same float (as JSON writes it).
    pub fn with_text<T>(&self, write: impl FnOnce(&str) -> T) -> T {
        match self {
            TagValue::Text(text) => write(text),
            TagValue::Int(n) => write(itoa::Buffer::new().format(*n)),
            TagValue::Float(x) => write(zmij::Buffer::new().format_finite(*x)),
        }
    }

    /// The text, owned.
    pub fn into_text(self) -> Text<'a> {
        match self {
            TagValue::Text(text) => text,
            other => Cow::Owned(other.with_text(str::to_string)),
        }
    }
}

impl<'a> From<Text<'a>> for TagValue<'a> {
    fn from(text: Text<'a>) -> Self {
        TagValue::Text(text)
    }
}

impl From<String> for TagValue<'_> {
    fn from(text: String) -> Self {
        TagValue::Text(Cow::Owned(text))
    }
}

/// A Zipkin v2 span with its fields checked: ids parsed, zero timestamps read as absent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ZipkinSpan<'a> {
    pub trace_id: TraceId,
    pub id: SpanId,
    pub parent_id: Option<SpanId>,
    /// `Unspecified` when absent; only CLIENT, SERVER, PRODUCER and CONSUMER are written.
    pub kind: SpanKind,
    pub name: Text<'a>,
    /// Epoch microseconds, never `Some(0)`.
    pub timestamp: Option<u64>,
    /// Microseconds, never `Some(0)`.
    pub duration: Option<u64>,
    pub local_endpoint: Option<Endpoint<'a>>,
    pub remote_endpoint: Option<Endpoint<'a>>,
    pub annotations: Vec<ZipkinAnnotation<'a>>,
    /// Unique keys, in the order written.
    pub tags: Vec<(Text<'a>, TagValue<'a>)>,
    pub debug: bool,
    pub shared: bool,
}

// ---------------------------------------------------------------------------------------------
// SpanData -> Zipkin

/// The Zipkin form of a span.
pub(crate) fn from_span_data(span: &SpanData) -> ZipkinSpan<'_> {
    from_span_data_reusing(span, Vec::new(), Vec::new())
}

/// [`from_span_data`], filling the (emptied) lists of a span converted before instead of
/// allocating new ones, for an encoder that converts a batch one span at a time.
pub(crate) fn from_span_data_reusing<'a>(
    span: &'a SpanData,
    mut tags: Vec<(Text<'a>, TagValue<'a>)>,
    mut annotations: Vec<ZipkinAnnotation<'a>>,
) -> ZipkinSpan<'a> {
    tags.clear();
    annotations.clear();
    fill_annotations(span, &mut annotations);
    let start_us = span.start_time_unix_nano / 1000;
    let end_us = span.end_time_unix_nano / 1000;
    // Zipkin rounds durations under 1 µs up; an end of 0 means the end is unknown.
    let duration = (span.end_time_unix_nano != 0).then(|| end_us.saturating_sub(start_us).max(1));
    let kind = match span.kind {
        SpanKind::Client | SpanKind::Server | SpanKind::Producer | SpanKind::Consumer => span.kind,
        SpanKind::Internal | SpanKind::Unspecified => SpanKind::Unspecified,
    };
    let remote_endpoint = match kind {
        SpanKind::Client | SpanKind::Producer => {
            remote_endpoint(&span.attributes, &OUTGOING_PEER_KEYS)
        }
        SpanKind::Server | SpanKind::Consumer => {
            remote_endpoint(&span.attributes, &INCOMING_PEER_KEYS)
        }
        _ => None,
    };
    let (local_endpoint, host_ip_in_endpoint) = local_endpoint(&span.resource);
    ZipkinSpan {
        trace_id: span.trace_id,
        id: span.span_id,
        parent_id: span.parent_span_id,
        kind,
        name: Cow::Borrowed(&span.name),
        timestamp: (start_us != 0).then_some(start_us),
        duration,
        local_endpoint: (!local_endpoint.is_empty()).then_some(local_endpoint),
        remote_endpoint,
        tags: fill_tags(span, host_ip_in_endpoint, tags),
        annotations,
        debug: false,
        shared: false,
    }
}

/// The local endpoint, and whether it holds all of the resource's `host.ip` exactly as the
/// decoder will rebuild it (`[ipv4]`, `[ipv6]` or `[ipv4, ipv6]`), so no tag is needed for it.
pub(crate) fn local_endpoint(resource: &Resource) -> (Endpoint<'_>, bool) {
    let mut endpoint = Endpoint {
        service_name: (!resource.service_name.is_empty())
            .then(|| Cow::Borrowed(resource.service_name.as_ref())),
        ..Endpoint::default()
    };
    let host_ips = resource
        .attributes
        .iter()
        .find(|kv| kv.key == tag::HOST_IP)
        .map(|kv| &kv.value);
    let addresses: Vec<Option<IpAddr>> = match host_ips {
        Some(Value::Str(ip)) => vec![ip.parse().ok()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().and_then(|ip| ip.parse().ok()))
            .collect(),
        _ => return (endpoint, false),
    };
    for address in addresses.iter().flatten() {
        match address {
            IpAddr::V4(ip) if endpoint.ipv4.is_none() => endpoint.ipv4 = Some(*ip),
            IpAddr::V6(ip) if endpoint.ipv6.is_none() => endpoint.ipv6 = Some(*ip),
            _ => {}
        }
    }
    let exact = matches!(host_ips, Some(Value::Array(_)))
        && matches!(
            addresses[..],
            [Some(IpAddr::V4(_))]
                | [Some(IpAddr::V6(_))]
                | [Some(IpAddr::V4(_)), Some(IpAddr::V6(_))]
        );
    (endpoint, exact)
}

pub(crate) fn remote_endpoint<'a>(
    attributes: &'a [KeyValue],
    ranking: &[(&str, Option<&str>)],
) -> Option<Endpoint<'a>> {
    let get = |key: &str| {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    };
    ranking.iter().find_map(|&(address_key, port_key)| {
        let address = get(address_key)?.as_str().filter(|a| !a.is_empty())?;
        let mut endpoint = Endpoint::default();
        match address.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) if address_key != tag::PEER_SERVICE => endpoint.ipv4 = Some(ip),
            Ok(IpAddr::V6(ip)) if address_key != tag::PEER_SERVICE => endpoint.ipv6 = Some(ip),
            _ => endpoint.service_name = Some(Cow::Borrowed(address)),
        }
        endpoint.port = port_key.and_then(get).and_then(port_number);
        Some(endpoint)
    })
}

fn port_number(value: &Value) -> Option<u16> {
    match value {
        Value::I64(port) => u16::try_from(*port).ok(),
        Value::Str(port) => port.parse().ok(),
        _ => None,
    }
    .filter(|&port| port != 0)
}

/// Tags in a fixed order: span attributes, then resource attributes the span does not override,
/// then the tags this mapping owns (status, scope, dropped counts), which override both.
struct TagWriter<'a> {
    /// The tags written are the first `len`; the rest are placeholders, so that a tag is
    /// stored into its slot as it is built (pushed, it would go through the stack, and that
    /// copy stalls on store forwarding).
    tags: Vec<(Text<'a>, TagValue<'a>)>,
    len: usize,
    /// A bit per key written, from [`key_bit`]: most keys are new, and the bit says so without
    /// comparing them with every key written.
    seen: u128,
}

/// One of 128 bits for a key, from its length and three of its bytes.
pub(crate) fn key_bit(key: &str) -> u128 {
    let b = key.as_bytes();
    let byte = |i: usize| u32::from(b.get(i).copied().unwrap_or(0));
    let h = (b.len() as u32).wrapping_mul(0x9e37_79b1)
        ^ byte(0).wrapping_mul(0x85eb_ca6b)
        ^ byte(b.len() / 2).wrapping_mul(0xc2b2_ae35)
        ^ byte(b.len().wrapping_sub(1)).wrapping_mul(0x27d4_eb2f);
    1u128 << (h >> 25)
}

impl<'a> TagWriter<'a> {
    fn position(&self, key: &str, bit: u128) -> Option<usize> {
        if self.seen & bit == 0 {
            return None;
        }
        self.tags[..self.len].iter().position(|(k, _)| k == key)
    }

    // inlined, so that the value is built where it is stored
    #[inline(always)]
    fn set(&mut self, key: &'a str, value: TagValue<'a>) {
        let bit = key_bit(key);
        match self.position(key, bit) {
            Some(i) => self.tags[i].1 = value,
            None => {
                self.seen |= bit;
                match self.tags.get_mut(self.len) {
                    Some(slot) => *slot = (Cow::Borrowed(key), value),
                    None => self.tags.push((Cow::Borrowed(key), value)),
                }
                self.len += 1;
            }
        }
    }

    fn finish(mut self) -> Vec<(Text<'a>, TagValue<'a>)> {
        self.tags.truncate(self.len);
        self.tags
    }

    /// The resource's attributes that the span's do not override, less those the local endpoint
    /// carries.
    fn add_resource(&mut self, resource: &'a Resource, host_ip_in_endpoint: bool) {
        for kv in &resource.attributes {
            let in_endpoint = host_ip_in_endpoint && kv.key == tag::HOST_IP;
            if kv.key != tag::SERVICE_NAME && !in_endpoint {
                self.set_attribute(kv, false);
            }
        }
    }

    #[inline(always)]
    fn set_attribute(&mut self, kv: &'a KeyValue, override_existing: bool) {
        if !override_existing && self.position(&kv.key, key_bit(&kv.key)).is_some() {
            return;
        }
        // The OpenTelemetry rule: Zipkin marks any span with an `error` tag failed, so a false
        // one is left out.
        let is_false_error = kv.key == tag::ERROR
            && match &kv.value {
                Value::Bool(flag) => !flag,
                Value::Str(text) => text.eq_ignore_ascii_case("false"),
                _ => false,
            };
        if !is_false_error {
            self.set(&kv.key, tag_value(&kv.value));
        }
    }
}

fn fill_tags<'a>(
    span: &'a SpanData,
    host_ip_in_endpoint: bool,
    mut tags: Vec<(Text<'a>, TagValue<'a>)>,
) -> Vec<(Text<'a>, TagValue<'a>)> {
    let most = span.attributes.len() + span.resource.attributes.len() + 9;
    tags.resize_with(most, || (Cow::Borrowed(""), TagValue::Int(0)));
    let mut tags = TagWriter {
        tags,
        len: 0,
        seen: 0,
    };
    for kv in &span.attributes {
        tags.set_attribute(kv, true);
    }
    tags.add_resource(&span.resource, host_ip_in_endpoint);
    mapping_tags(span, |key, value| tags.set(key, value));
    tags.finish()
}

/// The tags a resource adds to a span none of whose attributes has the key of one of them, in
/// their order: what [`fill_tags`] writes for the resource in that case.
pub(crate) fn resource_tags(
    resource: &Resource,
    host_ip_in_endpoint: bool,
) -> Vec<(Text<'_>, TagValue<'_>)> {
    let mut tags = TagWriter {
        tags: Vec::with_capacity(resource.attributes.len()),
        len: 0,
        seen: 0,
    };
    tags.add_resource(resource, host_ip_in_endpoint);
    tags.finish()
}

/// Every key [`mapping_tags`] may write.
pub(crate) const MAPPING_KEYS: [&str; 12] = [
    tag::STATUS_CODE,
    tag::ERROR,
    tag::CENSUS_STATUS_CODE,
    tag::STATUS_DESCRIPTION,
    tag::STATUS_DETAILS,
    tag::SCOPE_NAME,
    tag::LIBRARY_NAME,
    tag::DROPPED_ATTRIBUTES,
    tag::DROPPED_EVENTS,
    tag::DROPPED_MESSAGE_EVENTS,
    tag::DROPPED_LINKS,
    tag::STACK_TRACE,
];

/// The tags this mapping owns (status, scope, dropped counts, stack trace), in their order,
/// each key at most once and always one of [`MAPPING_KEYS`].
#[inline(always)]
pub(crate) fn mapping_tags<'a>(span: &'a SpanData, mut set: impl FnMut(&'a str, TagValue<'a>)) {
    if let Some(status) = &span.status {
        let description = status.description();
        if status.is_ok() {
            set(tag::STATUS_CODE, text("OK"));
        } else {
            set(tag::STATUS_CODE, text("ERROR"));
            set(tag::ERROR, text(description));
            set(
                tag::CENSUS_STATUS_CODE,
                text(status.canonical_code().name()),
            );
        }
        if !description.is_empty() {
            set(tag::STATUS_DESCRIPTION, text(description));
        }
        if let Some(details) = status.details() {
            set(tag::STATUS_DETAILS, text(details));
        }
    }
    if !span.scope.is_empty() {
        set(tag::SCOPE_NAME, text(&span.scope));
        set(tag::LIBRARY_NAME, text(&span.scope));
    }
    let dropped = &span.dropped;
    let events = dropped.annotations.saturating_add(dropped.message_events);
    // Zipkin has no links: the ones the span had are reported as dropped.
    let links = u32::try_from(span.links.len())
        .unwrap_or(u32::MAX)
        .saturating_add(dropped.links);
    for (key, count) in [
        (tag::DROPPED_ATTRIBUTES, dropped.attributes),
        (tag::DROPPED_EVENTS, events),
        (tag::DROPPED_MESSAGE_EVENTS, dropped.message_events),
        (tag::DROPPED_LINKS, links),
    ] {
        if count != 0 {
            set(key, TagValue::Int(i64::from(count)));
        }
    }
    if let Some(stack_trace) = &span.stack_trace {
        set(tag::STACK_TRACE, text(stack_trace));
    }
}

fn text(text: &str) -> TagValue<'_> {
    TagValue::Text(Cow::Borrowed(text))
}

/// An attribute value as a tag string, per the OpenTelemetry rules: primitives in their plain
/// form (floats as the shortest text that reads back as the same float; JSON has no NaN or
/// infinities, so those are spelled out), booleans lowercase, arrays as a JSON list, bytes as
/// base64.
#[inline(always)]
pub(crate) fn tag_value(value: &Value) -> TagValue<'_> {
    match value {
        Value::Str(text) => TagValue::Text(Cow::Borrowed(text)),
        Value::I64(n) => TagValue::Int(*n),
        Value::F64(x) if x.is_finite() => TagValue::Float(*x),
        Value::F64(x) => self::text(crate::json_value::non_finite(*x)),
        Value::Bool(flag) => self::text(if *flag { "true" } else { "false" }),
        Value::Array(_) => {
            let mut out = Vec::new();
            crate::json_write::value(&mut out, value);
            TagValue::Text(Cow::Owned(json_text(out)))
        }
        Value::Bytes(bytes) => TagValue::Text(Cow::Owned(crate::base64::encode(bytes))),
    }
}

/// Text that `json_write` wrote, which is UTF-8: it writes only whole strings and ASCII.
fn json_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_default()
}

fn from_json(value: Json) -> Value {
    match value {
        Json::String(text) => Value::Str(Cow::Owned(text)),
        Json::Number(number) => match (number.as_i64(), number.is_u64()) {
            (Some(n), _) => Value::I64(n),
            // Above i64::MAX: keep every digit rather than round to a float.
            (None, true) => Value::Str(Cow::Owned(number.to_string())),
            (None, false) => Value::F64(number.as_f64().unwrap_or(f64::NAN)),
        },
        Json::Bool(flag) => Value::Bool(flag),
        Json::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        Json::Null => Value::Str(Cow::Borrowed("null")),
        object @ Json::Object(_) => Value::Str(Cow::Owned(object.to_string())),
    }
}

pub(crate) fn fill_annotations<'a>(span: &'a SpanData, out: &mut Vec<ZipkinAnnotation<'a>>) {
    out.reserve(span.annotations.len() + span.message_events.len());
    out.extend(span.annotations.iter().map(|a| ZipkinAnnotation {
        timestamp: a.time_unix_nano / 1000,
        value: annotation_value(a),
    }));
    out.extend(span.message_events.iter().map(|m| ZipkinAnnotation {
        timestamp: m.time_unix_nano / 1000,
        value: Cow::Owned(message_event_value(m)),
    }));
    // Zipkin's annotations are a set (`uniqueItems`): a repeat of the same value in the same
    // microsecond carries nothing and is left out.
    if out.len() < 2 {
        return;
    }
    let keep: Vec<bool> = {
        let mut seen = HashSet::with_capacity(out.len());
        out.iter()
            .map(|a| seen.insert((a.timestamp, a.value.as_ref())))
            .collect()
    };
    let mut keep = keep.into_iter();
    out.retain(|_| keep.next().unwrap_or(true));
}

/// An annotation's value: its description alone when it has no attributes and would read back
/// as itself, else the OpenTelemetry form `{"description":{"key":value,...}}` with attribute
/// values typed as JSON.
fn annotation_value(annotation: &Annotation) -> Text<'_> {
    let description = annotation.description.as_ref();
    if annotation.attributes.is_empty()
        && annotation.dropped_attributes_count == 0
        && structured_annotation(description).is_none()
        && message_event(description).is_none()
    {
        return Cow::Borrowed(description);
    }
    // `{"description":{"key":value,...}}` as a `serde_json` map writes it: a repeated key in its
    // first place with its last value
    let attributes = &annotation.attributes;
    let dropped = annotation.dropped_attributes_count;
    let mut out = Vec::with_capacity(description.len() + 16 + attributes.len() * 32);
    out.push(b'{');
    crate::json_write::string(&mut out, description);
    out.extend_from_slice(b":{");
    let mut first = true;
    let mut dropped_written = false;
    for (i, kv) in attributes.iter().enumerate() {
        if attributes[..i].iter().any(|earlier| earlier.key == kv.key) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        crate::json_write::string(&mut out, &kv.key);
        out.push(b':');
        if dropped != 0 && kv.key == tag::DROPPED_ATTRIBUTES {
            dropped_written = true;
            crate::json_write::u64(&mut out, u64::from(dropped));
        } else {
            let last = attributes[i..]
                .iter()
                .rev()
                .find(|later| later.key == kv.key)
                .unwrap_or(kv);
            crate::json_write::value(&mut out, &last.value);
        }
    }
    if dropped != 0 && !dropped_written {
        if !first {
            out.push(b',');
        }
        crate::json_write::string(&mut out, tag::DROPPED_ATTRIBUTES);
        out.push(b':');
        crate::json_write::u64(&mut out, u64::from(dropped));
    }
    out.extend_from_slice(b"}}");
    Cow::Owned(json_text(out))
}

/// A message event's value: `SENT id=1 uncompressed_size=10 compressed_size=5`. The first word
/// is what OpenCensus' own Zipkin exporters write (`SENT`, `RECV`/`RECEIVED`), so their
/// annotations read back as message events too.
fn message_event_value(event: &MessageEvent) -> String {
    format!(
        "{} id={} uncompressed_size={} compressed_size={}",
        event.kind.as_str(),
        event.id,
        event.uncompressed_size,
        event.compressed_size
    )
}

/// Reads `{"name":{...}}` (OpenTelemetry Python, and this mapping) or `"name":{...}`
/// (OpenTelemetry Java) as an annotation name and its attributes.
fn structured_annotation(value: &str) -> Option<(String, serde_json::Map<String, Json>)> {
    let start = value.trim_start();
    let parsed: Json = if start.starts_with('{') {
        serde_json::from_str(value).ok()?
    } else if start.starts_with('"') {
        serde_json::from_str(&format!("{{{value}}}")).ok()?
    } else {
        return None;
    };
    let Json::Object(outer) = parsed else {
        return None;
    };
    if outer.len() != 1 {
        return None;
    }
    match outer.into_iter().next()? {
        (name, Json::Object(attributes)) => Some((name, attributes)),
        _ => None,
    }
}

/// Reads `SENT`, `RECV`, `RECEIVED` or `UNSPECIFIED`, optionally followed by `id=N`,
/// `uncompressed_size=N` and `compressed_size=N`, as a message event (time left at 0).
fn message_event(value: &str) -> Option<MessageEvent> {
    let mut words = value.split_ascii_whitespace();
    let kind = match words.next()? {
        "SENT" => MessageEventType::Sent,
        "RECV" | "RECEIVED" => MessageEventType::Received,
        "UNSPECIFIED" => MessageEventType::Unspecified,
        _ => return None,
    };
    let mut event = MessageEvent {
        kind,
        ..MessageEvent::default()
    };
    let mut seen = [false; 3];
    for word in words {
        let (key, number) = word.split_once('=')?;
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number: u64 = number.parse().ok()?;
        let (slot, field) = match key {
            "id" => (0, &mut event.id),
            "uncompressed_size" => (1, &mut event.uncompressed_size),
            "compressed_size" => (2, &mut event.compressed_size),
            _ => return None,
        };
        if std::mem::replace(&mut seen[slot], true) {
            return None;
        }
        *field = number;
    }
    Some(event)
}

// ---------------------------------------------------------------------------------------------
// Zipkin -> SpanData

/// Turns checked Zipkin spans into [`SpanData`], sharing one [`Resource`] among the spans of a
/// batch that come from the same local endpoint.
#[derive(Default)]
pub(crate) struct Decoder {
    resources: HashMap<(String, Option<Ipv4Addr>, Option<Ipv6Addr>), Arc<Resource>>,
}

/// Received tags: unique keys in received order, taken out as their meaning is read.
struct Tags(Vec<(String, String)>);

impl Tags {
    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| self.0[i].1.as_str())
    }

    fn remove(&mut self, key: &str) -> Option<String> {
        self.position(key).map(|i| self.0.remove(i).1)
    }

    /// Removes and returns the parsed value, or leaves the tag in place when it does not parse.
    fn take<T>(&mut self, key: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        let i = self.position(key)?;
        let parsed = parse(&self.0[i].1)?;
        self.0.remove(i);
        Some(parsed)
    }
}

impl Decoder {
    /// The span, or what was wrong with it.
    pub fn decode(&mut self, zipkin: ZipkinSpan<'_>) -> Result<SpanData, Problem> {
        let start = match zipkin.timestamp {
            Some(micros) => nanos("timestamp", micros, 0)?,
            None => 0,
        };
        let end = match zipkin.duration {
            Some(micros) => nanos("duration", micros, start)?,
            None => 0,
        };
        let mut span = SpanData::new(zipkin.trace_id, zipkin.id, zipkin.name.into_owned());
        span.parent_span_id = zipkin.parent_id;
        span.kind = zipkin.kind;
        // A shared span joined its caller's span; SERVER and CONSUMER spans are, by their
        // definition, started by a request or message from another process.
        span.parent_is_remote = zipkin.parent_id.is_some()
            && (zipkin.shared || matches!(zipkin.kind, SpanKind::Server | SpanKind::Consumer));
        span.start_time_unix_nano = start;
        span.end_time_unix_nano = end;

        for (i, annotation) in zipkin.annotations.into_iter().enumerate() {
            let time = annotation.timestamp.checked_mul(1000).ok_or_else(|| {
                out_of_range(format!("annotations[{i}].timestamp"), annotation.timestamp)
            })?;
            read_annotation(&annotation.value, time, &mut span);
        }

        let mut tags = Tags(
            zipkin
                .tags
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_text().into_owned()))
                .collect(),
        );
        span.status = read_status(&mut tags);
        span.scope = match tags.remove(tag::SCOPE_NAME) {
            Some(scope) => {
                tags.take(tag::LIBRARY_NAME, |library| {
                    (library == scope).then_some(())
                });
                scope.into()
            }
            None => tags.remove(tag::LIBRARY_NAME).unwrap_or_default().into(),
        };
        let count = |text: &str| text.parse::<u32>().ok();
        span.dropped.attributes = tags.take(tag::DROPPED_ATTRIBUTES, count).unwrap_or(0);
        let events = tags.take(tag::DROPPED_EVENTS, count).unwrap_or(0);
        span.dropped.message_events = tags.take(tag::DROPPED_MESSAGE_EVENTS, count).unwrap_or(0);
        span.dropped.annotations = events.saturating_sub(span.dropped.message_events);
        span.dropped.links = tags.take(tag::DROPPED_LINKS, count).unwrap_or(0);
        span.stack_trace = tags.remove(tag::STACK_TRACE);

        let peer = zipkin
            .remote_endpoint
            .map(|remote| peer_attributes(remote, &tags))
            .unwrap_or_default();
        span.resource = self.resource(zipkin.local_endpoint.unwrap_or_default(), &tags);
        span.attributes = tags
            .0
            .into_iter()
            .map(|(key, value)| KeyValue::new(key, value))
            .chain(peer)
            .collect();
        Ok(span)
    }

    fn resource(&mut self, local: Endpoint<'_>, tags: &Tags) -> Arc<Resource> {
        let service_name = local.service_name.map(Cow::into_owned).unwrap_or_default();
        // An explicit `host.ip` tag wins; it stays a span attribute.
        let (ipv4, ipv6) = if tags.get(tag::HOST_IP).is_some() {
            (None, None)
        } else {
            (local.ipv4, local.ipv6)
        };
        self.resources
            .entry((service_name, ipv4, ipv6))
            .or_insert_with_key(|(service_name, ipv4, ipv6)| {
                let mut resource = Resource::new(service_name.clone());
                let ips: Vec<Value> = ipv4
                    .map(|ip| ip.to_string())
                    .into_iter()
                    .chain(ipv6.map(|ip| ip.to_string()))
                    .map(Value::from)
                    .collect();
                if !ips.is_empty() {
                    resource.attributes.push(KeyValue::new(tag::HOST_IP, ips));
                }
                Arc::new(resource)
            })
            .clone()
    }
}

fn nanos(field: &str, micros: u64, base: u64) -> Result<u64, Problem> {
    micros
        .checked_mul(1000)
        .and_then(|ns| ns.checked_add(base))
        .ok_or_else(|| out_of_range(field, micros))
}

fn out_of_range(field: impl Into<String>, micros: u64) -> Problem {
    Problem::invalid(field, micros.to_string(), "is out of range")
}

fn read_annotation(value: &str, time: u64, span: &mut SpanData) {
    if let Some((description, attributes)) = structured_annotation(value) {
        let mut annotation = Annotation {
            time_unix_nano: time,
            description: description.into(),
            attributes: Vec::with_capacity(attributes.len()),
            dropped_attributes_count: 0,
        };
        for (key, value) in attributes {
            if key == tag::DROPPED_ATTRIBUTES {
                if let Some(count) = value.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    annotation.dropped_attributes_count = count;
                    continue;
                }
            }
            annotation
                .attributes
                .push(KeyValue::new(key, from_json(value)));
        }
        span.annotations.push(annotation);
    } else if let Some(event) = message_event(value) {
        span.message_events.push(MessageEvent {
            time_unix_nano: time,
            ..event
        });
    } else {
        span.annotations.push(Annotation {
            time_unix_nano: time,
            description: value.to_string().into(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        });
    }
}

/// The span status from whichever convention the sender used: OpenTelemetry's
/// `otel.status_code` with `error`, OpenCensus Java's `census.status_code`, OpenCensus Go's
/// `error` holding a canonical code name, or a bare Zipkin `error` tag. Tags that were not used
/// stay as attributes.
fn read_status(tags: &mut Tags) -> Option<Status> {
    let otel_ok = match tags.get(tag::STATUS_CODE) {
        Some(code) if code.eq_ignore_ascii_case("OK") => Some(true),
        Some(code) if code.eq_ignore_ascii_case("ERROR") => Some(false),
        _ => None,
    };
    let census = tags
        .get(tag::CENSUS_STATUS_CODE)
        .and_then(|code| code.parse::<StatusCode>().ok());
    let description_key = [
        tag::STATUS_DESCRIPTION,
        tag::CENSUS_STATUS_DESCRIPTION,
        tag::OPENCENSUS_STATUS_DESCRIPTION,
    ]
    .into_iter()
    .find(|key| tags.get(key).is_some());
    let error = tags.get(tag::ERROR).map(str::to_string);
    let error_is_false = error
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case("false"));
    if error_is_false {
        tags.remove(tag::ERROR);
    }
    let error = error.filter(|_| !error_is_false);

    let take_description = |tags: &mut Tags| {
        description_key
            .and_then(|key| tags.remove(key))
            .unwrap_or_default()
    };
    let status = match (otel_ok, error) {
        (Some(true), _) => {
            tags.remove(tag::STATUS_CODE);
            if census == Some(StatusCode::Ok) {
                tags.remove(tag::CENSUS_STATUS_CODE);
            }
            Status::new(StatusCode::Ok, take_description(tags))
        }
        (Some(false), error) => {
            tags.remove(tag::STATUS_CODE);
            tags.remove(tag::ERROR);
            let code = census.filter(|c| *c != StatusCode::Ok);
            if code.is_some() {
                tags.remove(tag::CENSUS_STATUS_CODE);
            }
            // `error` holds the description by the Zipkin rule; `true` or empty say nothing.
            let from_error = error.filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("true"));
            let description = match from_error {
                Some(error) => {
                    if description_key.is_some_and(|key| tags.get(key) == Some(error.as_str())) {
                        take_description(tags);
                    }
                    error
                }
                None => take_description(tags),
            };
            Status::new(code.unwrap_or(StatusCode::Unknown), description)
        }
        (None, Some(error)) => {
            tags.remove(tag::ERROR);
            if let Ok(code) = error.parse::<StatusCode>() {
                // OpenCensus Go writes the canonical code name into `error`.
                Status::new(code, take_description(tags))
            } else {
                let code = census.filter(|c| *c != StatusCode::Ok);
                if code.is_some() {
                    tags.remove(tag::CENSUS_STATUS_CODE);
                }
                let description = if error.is_empty() || error.eq_ignore_ascii_case("true") {
                    take_description(tags)
                } else {
                    error
                };
                Status::new(code.unwrap_or(StatusCode::Unknown), description)
            }
        }
        (None, None) => {
            let code = census?;
            tags.remove(tag::CENSUS_STATUS_CODE);
            Status::new(code, take_description(tags))
        }
    };
    Some(match tags.remove(tag::STATUS_DETAILS) {
        Some(details) => status.with_details(details),
        None => status,
    })
}

/// What a remote endpoint adds to the attributes: `peer.service`, `network.peer.address` and
/// `network.peer.port`, each only where no tag already says the same.
fn peer_attributes(remote: Endpoint<'_>, tags: &Tags) -> Vec<KeyValue> {
    let mut out = Vec::new();
    let any_peer_tag = |matches: &dyn Fn(&str) -> bool| {
        OUTGOING_PEER_KEYS
            .iter()
            .chain(&INCOMING_PEER_KEYS)
            .any(|(key, _)| tags.get(key).is_some_and(matches))
    };
    if let Some(name) = remote.service_name.filter(|name| !name.is_empty()) {
        if tags.get(tag::PEER_SERVICE).is_none() && !any_peer_tag(&|value| value == name) {
            out.push(KeyValue::new(tag::PEER_SERVICE, name.into_owned()));
        }
    }
    let ip = remote
        .ipv4
        .map(IpAddr::V4)
        .or_else(|| remote.ipv6.map(IpAddr::V6));
    if let Some(ip) = ip {
        if tags.get(tag::NETWORK_PEER_ADDRESS).is_none()
            && !any_peer_tag(&|value| value.parse::<IpAddr>() == Ok(ip))
        {
            out.push(KeyValue::new(tag::NETWORK_PEER_ADDRESS, ip.to_string()));
        }
    }
    if let Some(port) = remote.port {
        if PORT_KEYS.iter().all(|key| tags.get(key).is_none()) {
            // A string, like every other attribute read from Zipkin.
            out.push(KeyValue::new(tag::NETWORK_PEER_PORT, port.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_become_tag_strings_per_the_otel_rules() {
        assert_eq!(tag_value(&Value::from("x")).into_text(), "x");
        assert_eq!(tag_value(&Value::from(-42)).into_text(), "-42");
        assert_eq!(tag_value(&Value::from(1.5)).into_text(), "1.5");
        assert_eq!(tag_value(&Value::from(2.0)).into_text(), "2.0");
        assert_eq!(tag_value(&Value::from(f64::NAN)).into_text(), "NaN");
        assert_eq!(
            tag_value(&Value::from(f64::NEG_INFINITY)).into_text(),
            "-Infinity"
        );
        assert_eq!(tag_value(&Value::from(true)).into_text(), "true");
        assert_eq!(
            tag_value(&Value::from(vec!["a", "b"])).into_text(),
            r#"["a","b"]"#
        );
        assert_eq!(tag_value(&Value::from(vec![1, 2])).into_text(), "[1,2]");
        assert_eq!(
            tag_value(&Value::Array(vec![Value::from(true), Value::from(0.5)])).into_text(),
            "[true,0.5]"
        );
        assert_eq!(tag_value(&Value::Bytes(b"hi".to_vec())).into_text(), "aGk=");
    }

    #[test]
    fn message_event_text_is_recognized_strictly() {
        let event = message_event("SENT id=1 uncompressed_size=10 compressed_size=5").unwrap();
        assert_eq!(event.kind, MessageEventType::Sent);
        assert_eq!(
            (event.id, event.uncompressed_size, event.compressed_size),
            (1, 10, 5)
        );
        // OpenCensus Go and Java write only the direction.
        assert_eq!(
            message_event("RECV").unwrap().kind,
            MessageEventType::Received
        );
        assert_eq!(
            message_event("RECEIVED").unwrap().kind,
            MessageEventType::Received
        );
        for not_an_event in [
            "sent",
            "SENT id=x",
            "SENT id=1 id=2",
            "SENT size=3",
            "SENT id=+1",
            "",
        ] {
            assert!(message_event(not_an_event).is_none(), "{not_an_event:?}");
        }
    }

    #[test]
    fn structured_annotations_in_python_and_java_forms() {
        let (name, attributes) = structured_annotation(r#"{"retry": {"attempt": 2}}"#).unwrap();
        assert_eq!(name, "retry");
        assert_eq!(attributes["attempt"], 2);
        let (name, _) = structured_annotation(r#""retry":{"attempt":2}"#).unwrap();
        assert_eq!(name, "retry");
        for plain in [
            "retry",
            "{}",
            r#"{"a":1}"#,
            r#"{"a":{},"b":{}}"#,
            "{not json",
        ] {
            assert!(structured_annotation(plain).is_none(), "{plain:?}");
        }
    }
}

#[cfg(test)]
mod json_text_tests {
    use super::*;

    /// How `annotation_value` wrote the structured form before it wrote JSON text itself:
    /// through a `serde_json` map.
    fn annotation_value_oracle(annotation: &Annotation) -> String {
        let mut attributes = serde_json::Map::new();
        for kv in &annotation.attributes {
            attributes.insert(kv.key.to_string(), crate::json_value::to_json(&kv.value));
        }
        if annotation.dropped_attributes_count != 0 {
            attributes.insert(
                tag::DROPPED_ATTRIBUTES.to_string(),
                Json::from(annotation.dropped_attributes_count),
            );
        }
        let mut outer = serde_json::Map::new();
        outer.insert(annotation.description.to_string(), Json::Object(attributes));
        Json::Object(outer).to_string()
    }

    #[test]
    fn structured_annotations_are_the_json_a_serde_map_gives() {
        let kv = |k: &'static str, v: Value| KeyValue::new(k, v);
        let cases = [
            (vec![kv("a", Value::from(1))], 0),
            (vec![], 2),
            (
                vec![
                    kv("k", Value::from("first")),
                    kv("x", Value::F64(f64::NAN)),
                    kv("k", Value::F64(1e300)),
                ],
                0,
            ),
            (
                vec![
                    kv(tag::DROPPED_ATTRIBUTES, Value::from("mine")),
                    kv("b", Value::Bytes(vec![1, 2])),
                ],
                3,
            ),
            (
                vec![
                    kv(tag::DROPPED_ATTRIBUTES, Value::from("kept")),
                    kv(
                        "arr",
                        Value::Array(vec![Value::Bool(true), Value::F64(-0.5)]),
                    ),
                ],
                0,
            ),
        ];
        for (attributes, dropped) in cases {
            let annotation = Annotation {
                time_unix_nano: 1,
                description: "desc \"q\"\n".into(),
                attributes,
                dropped_attributes_count: dropped,
            };
            assert_eq!(
                annotation_value(&annotation),
                annotation_value_oracle(&annotation)
            );
        }
    }
}

//! The span model: one finished span as exporters, wire codecs and the server see it.

use std::sync::Arc;

use crate::context::{SpanContext, TraceState};
use crate::id::{SpanId, TraceId};
use crate::status::Status;
use crate::value::{KeyValue, Str, Value};

/// The role of a span in a request, as OpenCensus and OpenTelemetry define it.
///
/// # Examples
///
/// ```
/// use threadline::SpanKind;
/// assert_eq!(SpanKind::Server.as_str(), "server");
/// assert_eq!("CLIENT".parse::<SpanKind>(), Ok(SpanKind::Client));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(u8)]
pub enum SpanKind {
    /// Not specified.
    #[default]
    Unspecified = 0,
    /// Internal operation within an application.
    Internal = 1,
    /// Handles a synchronous request from a remote client.
    Server = 2,
    /// Makes a synchronous request to a remote server.
    Client = 3,
    /// Sends a message to a broker or queue.
    Producer = 4,
    /// Receives a message from a broker or queue.
    Consumer = 5,
}

impl SpanKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// The error for a span kind name that is not one of the six.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown span kind {0:?}")]
pub struct UnknownSpanKind(pub String);

impl std::str::FromStr for SpanKind {
    type Err = UnknownSpanKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let name = lower.strip_prefix("span_kind_").unwrap_or(&lower);
        [
            SpanKind::Unspecified,
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
        .ok_or_else(|| UnknownSpanKind(s.to_string()))
    }
}

/// A timestamped note on a span with its own attributes (OpenTelemetry calls it an event).
#[derive(Clone, PartialEq, Debug)]
pub struct Annotation {
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// What happened.
    pub description: Str,
    /// Details.
    pub attributes: Vec<KeyValue>,
    /// Attributes beyond the per-annotation limit that were dropped.
    pub dropped_attributes_count: u32,
}

/// Whether a message was sent or received.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum MessageEventType {
    /// Unknown direction.
    #[default]
    Unspecified,
    /// The message was sent.
    Sent,
    /// The message was received.
    Received,
}

impl MessageEventType {
    /// `SENT`, `RECEIVED` or `UNSPECIFIED`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageEventType::Unspecified => "UNSPECIFIED",
            MessageEventType::Sent => "SENT",
            MessageEventType::Received => "RECEIVED",
        }
    }
}

/// A message sent or received while the span was active (OpenCensus' `MessageEvent`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MessageEvent {
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Sent or received.
    pub kind: MessageEventType,
    /// An identifier unique within the span, e.g. a sequence number.
    pub id: u64,
    /// Size before compression, in bytes.
    pub uncompressed_size: u64,
    /// Size after compression, in bytes; 0 when not compressed.
    pub compressed_size: u64,
}

/// How a linked span relates to this one.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum LinkType {
    /// Unspecified relation.
    #[default]
    Unspecified,
    /// The linked span is a child of this span.
    ChildLinkedSpan,
    /// The linked span is a parent of this span.
    ParentLinkedSpan,
}

impl LinkType {
    /// `CHILD_LINKED_SPAN`, `PARENT_LINKED_SPAN` or `TYPE_UNSPECIFIED`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkType::Unspecified => "TYPE_UNSPECIFIED",
            LinkType::ChildLinkedSpan => "CHILD_LINKED_SPAN",
            LinkType::ParentLinkedSpan => "PARENT_LINKED_SPAN",
        }
    }
}

/// A pointer from this span to a span in the same or another trace.
#[derive(Clone, PartialEq, Debug)]
pub struct Link {
    /// The linked trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// The linked span's tracestate.
    pub trace_state: TraceState,
    /// Child or parent.
    pub link_type: LinkType,
    /// Details.
    pub attributes: Vec<KeyValue>,
    /// Attributes beyond the per-link limit that were dropped.
    pub dropped_attributes_count: u32,
}

impl Link {
    /// A link to `context` with the given relation and no attributes.
    pub fn new(context: &SpanContext, link_type: LinkType) -> Self {
        Link {
            trace_id: context.trace_id(),
            span_id: context.span_id(),
            trace_state: context.tracestate().clone(),
            link_type,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        }
    }

    /// This link with attributes.
    pub fn with_attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }
}

/// What produced the spans: a service and its resource attributes.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Resource {
    /// `service.name`.
    pub service_name: Str,
    /// The other resource attributes (`service.version`, `host.name`, ...).
    pub attributes: Vec<KeyValue>,
}

impl Resource {
    /// A resource with a service name and no other attributes.
    pub fn new(service_name: impl Into<Str>) -> Self {
        Resource {
            service_name: service_name.into(),
            attributes: Vec::new(),
        }
    }

    /// The value of a resource attribute, `service.name` included.
    pub fn get(&self, key: &str) -> Option<Value> {
        if key == "service.name" {
            return Some(Value::Str(self.service_name.clone()));
        }
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.clone())
    }
}

/// How many items were dropped from a span because it hit its limits.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DroppedCounts {
    /// Attributes dropped.
    pub attributes: u32,
    /// Annotations dropped.
    pub annotations: u32,
    /// Message events dropped.
    pub message_events: u32,
    /// Links dropped.
    pub links: u32,
}

impl DroppedCounts {
    /// Whether nothing was dropped.
    pub fn is_empty(&self) -> bool {
        *self == DroppedCounts::default()
    }
}

/// One finished span: what the SDK hands to exporters and what the server stores.
#[derive(Clone, PartialEq, Debug)]
pub struct SpanData {
    /// The trace.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// The parent span; `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C tracestate inherited along the trace.
    pub trace_state: TraceState,
    /// Whether the parent is in another process (it came from a request header).
    pub parent_is_remote: bool,
    /// The operation name.
    pub name: Str,
    /// The span's role.
    pub kind: SpanKind,
    /// Start time, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End time, nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// Attributes, unique by key, in the order first set.
    pub attributes: Vec<KeyValue>,
    /// Timestamped annotations.
    pub annotations: Vec<Annotation>,
    /// Message events.
    pub message_events: Vec<MessageEvent>,
    /// Links to other spans.
    pub links: Vec<Link>,
    /// The status; `None` when never set (OpenTelemetry's `Unset`).
    pub status: Option<Status>,
    /// The captured stack trace, when capture was asked for.
    pub stack_trace: Option<String>,
    /// What was dropped to stay within the span limits.
    pub dropped: DroppedCounts,
    /// The producing service.
    pub resource: Arc<Resource>,
    /// The instrumentation scope (the tracer's name).
    pub scope: Str,
}

impl SpanData {
    /// A span with the given identity and name, empty otherwise; used by codecs and tests.
    pub fn new(trace_id: TraceId, span_id: SpanId, name: impl Into<Str>) -> Self {
        SpanData {
            trace_id,
            span_id,
            parent_span_id: None,
            trace_state: TraceState::EMPTY,
            parent_is_remote: false,
            name: name.into(),
            kind: SpanKind::Unspecified,
            start_time_unix_nano: 0,
            end_time_unix_nano: 0,
            attributes: Vec::new(),
            annotations: Vec::new(),
            message_events: Vec::new(),
            links: Vec::new(),
            status: None,
            stack_trace: None,
            dropped: DroppedCounts::default(),
            resource: Arc::new(Resource::default()),
            scope: "".into(),
        }
    }

    /// Duration in nanoseconds (0 if the clock went backwards).
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }

    /// The value of an attribute.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }
}

//! Assembling a span from its start, the changes made to it, and its end.

use std::sync::Arc;

use crate::clock::Converter;
use crate::context::TraceState;
use crate::data::{
    Annotation, DroppedCounts, Link, MessageEvent, MessageEventType, Resource, SpanData, SpanKind,
};
use crate::id::{SpanId, TraceId};
use crate::limits::SpanLimits;
use crate::status::Status;
use crate::value::{KeyValue, Str};

/// One change to a span, as recorded on the hot path.
pub(crate) enum Change {
    Attribute(KeyValue),
    Annotation(Box<(Str, Vec<KeyValue>)>, u64),
    Message {
        ticks: u64,
        kind: MessageEventType,
        id: u64,
        uncompressed: u64,
        compressed: u64,
    },
    Link(Box<Link>),
    Status(Box<Status>),
    Kind(SpanKind),
    Name(Str),
    StackTrace(String),
    TraceState(TraceState),
}

/// A span under construction, with its limits applied as changes arrive.
pub(crate) struct PartialSpan {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_id: SpanId,
    pub(crate) parent_is_remote: bool,
    pub(crate) trace_state: TraceState,
    pub(crate) name: Str,
    pub(crate) kind: SpanKind,
    pub(crate) pipeline: u32,
    pub(crate) start_ticks: u64,
    pub(crate) end_ticks: u64,
    attributes: Vec<KeyValue>,
    /// Everything most spans never have, kept out of line so the common span stays small.
    extras: Option<Box<Extras>>,
    pub(crate) limits: SpanLimits,
}

#[derive(Default)]
struct Extras {
    annotations: Vec<(u64, Str, Vec<KeyValue>, u32)>,
    message_events: Vec<(u64, MessageEvent)>,
    links: Vec<Link>,
    status: Option<Status>,
    stack_trace: Option<String>,
    dropped: DroppedCounts,
}

impl PartialSpan {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        trace_id: TraceId,
        span_id: SpanId,
        parent_id: SpanId,
        parent_is_remote: bool,
        name: Str,
        kind: SpanKind,
        pipeline: u32,
        start_ticks: u64,
        limits: SpanLimits,
    ) -> Self {
        PartialSpan {
            trace_id,
            span_id,
            parent_id,
            parent_is_remote,
            trace_state: TraceState::EMPTY,
            name,
            kind,
            pipeline,
            start_ticks,
            end_ticks: 0,
            attributes: Vec::new(),
            extras: None,
            limits,
        }
    }

    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Default::default)
    }

    pub(crate) fn apply(&mut self, change: Change) {
        match change {
            Change::Attribute(kv) => {
                if let Some(existing) = self.attributes.iter_mut().find(|a| a.key == kv.key) {
                    existing.value = kv.value;
                } else if (self.attributes.len() as u32) < self.limits.attributes {
                    if self.attributes.capacity() == 0 {
                        self.attributes.reserve_exact(4);
                    }
                    self.attributes.push(kv);
                } else {
                    self.extras().dropped.attributes += 1;
                }
            }
            Change::Annotation(body, ticks) => {
                let limits = self.limits;
                let extras = self.extras();
                if (extras.annotations.len() as u32) < limits.annotations {
                    let (description, mut attributes) = *body;
                    let max = limits.attributes_per_annotation as usize;
                    let dropped = attributes.len().saturating_sub(max) as u32;
                    attributes.truncate(max);
                    extras
                        .annotations
                        .push((ticks, description, attributes, dropped));
                } else {
                    extras.dropped.annotations += 1;
                }
            }
            Change::Message {
                ticks,
                kind,
                id,
                uncompressed,
                compressed,
            } => {
                let limits = self.limits;
                let extras = self.extras();
                if (extras.message_events.len() as u32) < limits.message_events {
                    extras.message_events.push((
                        ticks,
                        MessageEvent {
                            time_unix_nano: 0,
                            kind,
                            id,
                            uncompressed_size: uncompressed,
                            compressed_size: compressed,
                        },
                    ));
                } else {
                    extras.dropped.message_events += 1;
                }
            }
            Change::Link(link) => {
                let limits = self.limits;
                let extras = self.extras();
                if (extras.links.len() as u32) < limits.links {
                    let mut link = *link;
                    let max = limits.attributes_per_link as usize;
                    if link.attributes.len() > max {
                        link.dropped_attributes_count += (link.attributes.len() - max) as u32;
                        link.attributes.truncate(max);
                    }
                    extras.links.push(link);
                } else {
                    extras.dropped.links += 1;
                }
            }
            Change::Status(status) => self.extras().status = Some(*status),
            Change::Kind(kind) => self.kind = kind,
            Change::Name(name) => self.name = name,
            Change::StackTrace(trace) => self.extras().stack_trace = Some(trace),
            Change::TraceState(state) => self.trace_state = state,
        }
    }

    /// The finished span, with tick timestamps turned into Unix nanoseconds.
    pub(crate) fn finish(
        self,
        clock: &Converter,
        resource: &Arc<Resource>,
        scope: &Str,
    ) -> SpanData {
        let start = clock.unix_nanos(self.start_ticks);
        let end = clock.unix_nanos(self.end_ticks).max(start);
        let extras = self.extras.map(|e| *e).unwrap_or_default();
        SpanData {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_id.is_valid().then_some(self.parent_id),
            trace_state: self.trace_state,
            parent_is_remote: self.parent_is_remote,
            name: self.name,
            kind: self.kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes: self.attributes,
            annotations: extras
                .annotations
                .into_iter()
                .map(|(ticks, description, attributes, dropped)| Annotation {
                    time_unix_nano: clock.unix_nanos(ticks),
                    description,
                    attributes,
                    dropped_attributes_count: dropped,
                })
                .collect(),
            message_events: extras
                .message_events
                .into_iter()
                .map(|(ticks, mut event)| {
                    event.time_unix_nano = clock.unix_nanos(ticks);
                    event
                })
                .collect(),
            links: extras.links,
            status: extras.status,
            stack_trace: extras.stack_trace,
            dropped: extras.dropped,
            resource: resource.clone(),
            scope: scope.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(limits: SpanLimits) -> PartialSpan {
        PartialSpan::new(
            TraceId(1),
            SpanId(2),
            SpanId::INVALID,
            false,
            "x".into(),
            SpanKind::Internal,
            0,
            0,
            limits,
        )
    }

    #[test]
    fn limits_count_what_they_drop() {
        let limits = SpanLimits {
            attributes: 2,
            annotations: 1,
            message_events: 1,
            links: 1,
            attributes_per_annotation: 1,
            attributes_per_link: 1,
        };
        let mut span = partial(limits);
        span.apply(Change::Attribute(KeyValue::new("a", 1)));
        span.apply(Change::Attribute(KeyValue::new("b", 2)));
        span.apply(Change::Attribute(KeyValue::new("a", 3)));
        span.apply(Change::Attribute(KeyValue::new("c", 4)));
        span.apply(Change::Annotation(
            Box::new((
                "one".into(),
                vec![KeyValue::new("x", 1), KeyValue::new("y", 2)],
            )),
            0,
        ));
        span.apply(Change::Annotation(Box::new(("two".into(), vec![])), 0));
        for _ in 0..3 {
            span.apply(Change::Message {
                ticks: 0,
                kind: MessageEventType::Sent,
                id: 1,
                uncompressed: 10,
                compressed: 5,
            });
        }
        let data = span.finish(
            &Converter::current(),
            &Arc::new(Resource::new("svc")),
            &"scope".into(),
        );
        assert_eq!(data.attributes.len(), 2);
        assert_eq!(data.attribute("a"), Some(&crate::Value::I64(3)));
        assert_eq!(data.dropped.attributes, 1);
        assert_eq!(data.annotations.len(), 1);
        assert_eq!(data.annotations[0].dropped_attributes_count, 1);
        assert_eq!(data.dropped.annotations, 1);
        assert_eq!(data.message_events.len(), 1);
        assert_eq!(data.dropped.message_events, 2);
    }
}

//! Span limits: the defaults, custom limits, overflow counted in `SpanData::dropped`, and
//! replacing an attribute never counting as a drop. Checked through every way of changing a
//! span: a guard, an owned `Span`, the builder, and the current-span handle.

use std::time::Duration;

use threadline::config::EnvConfig;
use threadline::{
    DroppedCounts, KeyValue, Link, LinkType, MessageEventType, SpanContext, SpanData, SpanLimits,
    TraceOptions, Tracer, Value,
};

fn flushed(tracer: &Tracer, exporter: &threadline::InMemoryExporter) -> Vec<SpanData> {
    tracer.flush(Duration::from_secs(10)).expect("flush");
    exporter.take()
}

fn link(i: u64) -> Link {
    let ctx = SpanContext::new(
        threadline::TraceId(0x1000 + i as u128),
        threadline::SpanId(0x2000 + i),
        TraceOptions::SAMPLED,
    );
    Link::new(&ctx, LinkType::Unspecified)
}

/// Puts `n` of everything on a span through `add_*`.
fn overfill(span: &threadline::SpanRef, n: u64) {
    for i in 0..n {
        span.add_attribute(format!("attr{i}"), i);
        span.add_annotation(format!("note{i}"), []);
        span.add_message_event(MessageEventType::Sent, i, 100 + i, 50);
        span.add_link(link(i));
    }
    // Message events have a higher default limit: add more of them.
    for i in n..n + 100 {
        span.add_message_event(MessageEventType::Received, i, 10, 0);
    }
}

#[test]
fn defaults_are_32_32_128_32() {
    let defaults = SpanLimits::default();
    assert_eq!(defaults.attributes, 32);
    assert_eq!(defaults.annotations, 32);
    assert_eq!(defaults.message_events, 128);
    assert_eq!(defaults.links, 32);
    assert_eq!(defaults.attributes_per_annotation, 32);
    assert_eq!(defaults.attributes_per_link, 32);
}

#[test]
fn default_limits_keep_the_first_items_and_count_the_rest() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    {
        let span = tracer.span("full");
        overfill(&span, 40);
    }
    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 1);
    let span = &spans[0];

    assert_eq!(span.attributes.len(), 32);
    assert_eq!(span.annotations.len(), 32);
    assert_eq!(span.message_events.len(), 128);
    assert_eq!(span.links.len(), 32);
    assert_eq!(
        span.dropped,
        DroppedCounts {
            attributes: 8,
            annotations: 8,
            message_events: 140 - 128,
            links: 8,
        }
    );
    // The first ones are kept, in order.
    for (i, kv) in span.attributes.iter().enumerate() {
        assert_eq!(kv.key, format!("attr{i}"));
        assert_eq!(kv.value, Value::I64(i as i64));
    }
    for (i, a) in span.annotations.iter().enumerate() {
        assert_eq!(a.description, format!("note{i}"));
    }
    for (i, e) in span.message_events.iter().enumerate() {
        assert_eq!(e.id, i as u64);
    }
    for (i, l) in span.links.iter().enumerate() {
        assert_eq!(l.span_id, threadline::SpanId(0x2000 + i as u64));
    }
    assert!(span.attribute("attr32").is_none());
}

#[test]
fn under_the_limits_nothing_is_dropped() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    {
        let span = tracer.span("exact");
        for i in 0..32u64 {
            span.add_attribute(format!("attr{i}"), i);
            span.add_annotation("note", []);
            span.add_link(link(i));
        }
        for i in 0..128u64 {
            span.add_message_event(MessageEventType::Sent, i, 1, 1);
        }
    }
    let span = &flushed(&tracer, &exporter)[0];
    assert_eq!(span.attributes.len(), 32);
    assert_eq!(span.annotations.len(), 32);
    assert_eq!(span.links.len(), 32);
    assert_eq!(span.message_events.len(), 128);
    assert!(span.dropped.is_empty(), "{:?}", span.dropped);
}

#[test]
fn custom_limits_apply_to_guards_owned_spans_and_builders() {
    let limits = SpanLimits {
        attributes: 3,
        annotations: 2,
        message_events: 4,
        links: 1,
        attributes_per_annotation: 2,
        attributes_per_link: 1,
    };
    let (tracer, exporter) = Tracer::builder().limits(limits).in_memory();
    {
        let guard = tracer
            .span_builder("guard")
            .attribute("b0", 0)
            .attribute("b1", 1)
            .link(link(0))
            .link(link(1))
            .enter();
        overfill(&guard, 10);
    }
    {
        let owned = tracer
            .span_builder("owned")
            .attribute("b0", 0)
            .link(link(0))
            .start();
        for i in 0..10u64 {
            owned.add_attribute(format!("attr{i}"), i);
            owned.add_annotation("note", []);
            owned.add_message_event(MessageEventType::Sent, i, 1, 1);
            owned.add_link(link(i));
        }
        // Moved to another thread and changed there, through the current-span handle too.
        std::thread::spawn(move || {
            let _entered = owned.enter();
            threadline::add_attribute_to_current_span("late", true);
            threadline::current_span().add_annotation("late", []);
        })
        .join()
        .unwrap();
    }
    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 2);
    let guard = spans.iter().find(|s| s.name == "guard").unwrap();
    let owned = spans.iter().find(|s| s.name == "owned").unwrap();

    // Builder attributes and links count against the same limits as later ones.
    assert_eq!(
        guard
            .attributes
            .iter()
            .map(|kv| &*kv.key)
            .collect::<Vec<_>>(),
        ["b0", "b1", "attr0"]
    );
    assert_eq!(guard.links.len(), 1);
    assert_eq!(guard.annotations.len(), 2);
    assert_eq!(guard.message_events.len(), 4);
    assert_eq!(
        guard.dropped,
        DroppedCounts {
            attributes: 9,
            annotations: 8,
            message_events: 110 - 4,
            links: 11,
        }
    );

    assert_eq!(owned.attributes.len(), 3);
    assert_eq!(owned.annotations.len(), 2);
    assert_eq!(owned.message_events.len(), 4);
    assert_eq!(owned.links.len(), 1);
    assert_eq!(
        owned.dropped,
        DroppedCounts {
            attributes: 1 + 10 - 3 + 1,
            annotations: 10 - 2 + 1,
            message_events: 10 - 4,
            links: 11 - 1,
        }
    );
}

#[test]
fn attributes_per_annotation_and_per_link_are_counted_on_the_item() {
    let limits = SpanLimits {
        attributes_per_annotation: 2,
        attributes_per_link: 3,
        ..SpanLimits::default()
    };
    let (tracer, exporter) = Tracer::builder().limits(limits).in_memory();
    {
        let span = tracer.span("items");
        span.add_annotation("many", (0..5).map(|i| KeyValue::new(format!("k{i}"), i)));
        span.add_annotation("few", [KeyValue::new("k", 1)]);
        span.add_link(link(0).with_attributes((0..7).map(|i| KeyValue::new(format!("k{i}"), i))));
        span.add_link(link(1).with_attributes([KeyValue::new("k", 1)]));
    }
    let span = &flushed(&tracer, &exporter)[0];
    assert_eq!(span.annotations[0].attributes.len(), 2);
    assert_eq!(span.annotations[0].attributes[0].key, "k0");
    assert_eq!(span.annotations[0].attributes[1].key, "k1");
    assert_eq!(span.annotations[0].dropped_attributes_count, 3);
    assert_eq!(span.annotations[1].attributes.len(), 1);
    assert_eq!(span.annotations[1].dropped_attributes_count, 0);
    assert_eq!(span.links[0].attributes.len(), 3);
    assert_eq!(span.links[0].dropped_attributes_count, 4);
    assert_eq!(span.links[1].dropped_attributes_count, 0);
    // Those drops are on the items, not on the span.
    assert!(span.dropped.is_empty(), "{:?}", span.dropped);
}

#[test]
fn replacing_an_attribute_is_not_a_drop() {
    let limits = SpanLimits {
        attributes: 2,
        ..SpanLimits::default()
    };
    let (tracer, exporter) = Tracer::builder().limits(limits).in_memory();
    {
        let span = tracer.span_builder("replace").attribute("a", 0).enter();
        span.add_attribute("b", "first");
        // Full now: replacing keys, any number of times, keeps their position and counts nothing.
        for i in 1..=50 {
            span.add_attribute("a", i);
        }
        span.add_attribute("b", "second");
        span.add_attribute("b", true);
    }
    {
        let owned = tracer.span_builder("replace-owned").start();
        owned.add_attribute("x", 1);
        owned.add_attribute("y", 2);
        owned.add_attribute("x", 3);
        owned.add_attribute("z", 4); // the one real drop
        owned.add_attribute("y", 5);
    }
    let spans = flushed(&tracer, &exporter);
    let span = spans.iter().find(|s| s.name == "replace").unwrap();
    assert_eq!(span.attributes.len(), 2);
    assert_eq!(span.attributes[0], KeyValue::new("a", 50));
    assert_eq!(span.attributes[1], KeyValue::new("b", true));
    assert_eq!(span.dropped.attributes, 0);
    assert!(span.dropped.is_empty());

    let owned = spans.iter().find(|s| s.name == "replace-owned").unwrap();
    assert_eq!(
        owned.attributes,
        vec![KeyValue::new("x", 3), KeyValue::new("y", 5)]
    );
    assert_eq!(owned.dropped.attributes, 1);
}

#[test]
fn a_dropped_key_stays_dropped_when_set_again() {
    let limits = SpanLimits {
        attributes: 1,
        ..SpanLimits::default()
    };
    let (tracer, exporter) = Tracer::builder().limits(limits).in_memory();
    {
        let span = tracer.span("sticky");
        span.add_attribute("kept", 1);
        span.add_attribute("late", 1);
        span.add_attribute("late", 2);
    }
    let span = &flushed(&tracer, &exporter)[0];
    assert_eq!(span.attributes, vec![KeyValue::new("kept", 1)]);
    // Each attempt to set a key beyond the limit is one dropped attribute.
    assert_eq!(span.dropped.attributes, 2);
}

#[test]
fn zero_limits_drop_everything_and_count_it() {
    let limits = SpanLimits {
        attributes: 0,
        annotations: 0,
        message_events: 0,
        links: 0,
        attributes_per_annotation: 0,
        attributes_per_link: 0,
    };
    let (tracer, exporter) = Tracer::builder().limits(limits).in_memory();
    {
        let span = tracer.span_builder("zero").attribute("a", 1).enter();
        span.add_annotation("n", []);
        span.add_message_event(MessageEventType::Sent, 1, 1, 1);
        span.add_link(link(1));
    }
    let span = &flushed(&tracer, &exporter)[0];
    assert!(span.attributes.is_empty());
    assert!(span.annotations.is_empty());
    assert!(span.message_events.is_empty());
    assert!(span.links.is_empty());
    assert_eq!(
        span.dropped,
        DroppedCounts {
            attributes: 1,
            annotations: 1,
            message_events: 1,
            links: 1
        }
    );
}

#[test]
fn limits_from_environment_variables_reach_the_spans() {
    let vars = [
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2"),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "1"),
        ("THREADLINE_SPAN_MESSAGE_EVENT_COUNT_LIMIT", "3"),
        ("OTEL_SPAN_LINK_COUNT_LIMIT", "0"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ];
    let config = EnvConfig::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    });
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    // `in_memory` replaces the configured exporter; the limits stay.
    let (tracer, exporter) = config.into_builder().in_memory();
    {
        let span = tracer.span("env");
        overfill(&span, 5);
    }
    let span = &flushed(&tracer, &exporter)[0];
    assert_eq!(span.attributes.len(), 2);
    assert_eq!(span.annotations.len(), 1);
    assert_eq!(span.message_events.len(), 3);
    assert_eq!(span.links.len(), 0);
    assert_eq!(
        span.dropped,
        DroppedCounts {
            attributes: 3,
            annotations: 4,
            message_events: 105 - 3,
            links: 5
        }
    );
}

#[test]
fn dropped_counts_are_per_span() {
    let limits = SpanLimits {
        attributes: 1,
        ..SpanLimits::default()
    };
    let (tracer, exporter) = Tracer::builder().limits(limits).in_memory();
    {
        let parent = tracer.span("parent");
        parent.add_attribute("a", 1);
        parent.add_attribute("b", 2);
        {
            let child = tracer.span("child");
            child.add_attribute("a", 1);
        }
        parent.add_attribute("c", 3);
    }
    let spans = flushed(&tracer, &exporter);
    let parent = spans.iter().find(|s| s.name == "parent").unwrap();
    let child = spans.iter().find(|s| s.name == "child").unwrap();
    assert_eq!(parent.dropped.attributes, 2);
    assert_eq!(child.dropped.attributes, 0);
    // Limits never drop whole spans.
    assert_eq!(tracer.stats().dropped, 0);
    assert_eq!(tracer.stats().exported, 2);
}

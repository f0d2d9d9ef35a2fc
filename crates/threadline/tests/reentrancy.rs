//! User code that runs while Threadline records a change (`Into` impls, annotation attribute
//! iterators) may itself record changes, and guards may be forgotten or dropped out of order:
//! none of it may corrupt a span or touch a span after it ended.

use std::time::Duration;

use threadline::{KeyValue, Tracer};

fn attribute_keys(span: &threadline::SpanData) -> Vec<String> {
    span.attributes.iter().map(|a| a.key.to_string()).collect()
}

#[test]
fn changes_made_while_an_annotation_is_built_are_all_kept() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    {
        let span = tracer.span("a");
        // Fill the log close to a buffer boundary so the nested changes reallocate it.
        for i in 0..126 {
            span.add_attribute("filler", i);
        }
        span.add_annotation(
            "outer",
            std::iter::from_fn(|| {
                let current = tracer.current_span();
                current.add_attribute("inner1", 1);
                current.add_attribute("inner2", 2);
                None
            }),
        );
    }
    tracer.flush(Duration::from_secs(30)).unwrap();
    let spans = exporter.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].annotations.len(), 1);
    assert_eq!(spans[0].annotations[0].description, "outer");
    assert_eq!(attribute_keys(&spans[0]), ["filler", "inner1", "inner2"]);
}

#[test]
fn changes_to_an_owned_span_from_its_own_annotation_iterator_are_kept() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    {
        let span = tracer.span_builder("owned").start();
        let _entered = span.enter();
        span.add_annotation(
            "x",
            std::iter::from_fn(|| {
                threadline::add_attribute_to_current_span("inner", 1);
                None
            })
            .chain([KeyValue::new("k", "v")]),
        );
    }
    tracer.flush(Duration::from_secs(30)).unwrap();
    let spans = exporter.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(attribute_keys(&spans[0]), ["inner"]);
    assert_eq!(
        spans[0].annotations[0].attributes,
        [KeyValue::new("k", "v")]
    );
}

#[test]
fn a_forgotten_entry_cannot_reach_a_span_that_ended() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let span = tracer.span_builder("a").start();
    std::mem::forget(span.enter());
    let current = threadline::current_span();
    drop(span);
    current.add_attribute("after_end", "ignored");
    tracer.end_span();
    tracer.flush(Duration::from_secs(30)).unwrap();
    let spans = exporter.spans();
    assert_eq!(spans.len(), 1);
    assert!(spans[0].attributes.is_empty(), "{:?}", spans[0].attributes);
}

#[test]
fn an_entry_dropped_out_of_order_cannot_reach_a_span_that_ended() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let span = tracer.span_builder("a").start();
    let entered = span.enter();
    let current = threadline::current_span();
    let child = tracer.span("child");
    drop(entered);
    drop(span);
    current.add_attribute("after_end", "ignored");
    drop(child);
    tracer.flush(Duration::from_secs(30)).unwrap();
    let spans = exporter.spans();
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|s| s.attributes.is_empty()));
}

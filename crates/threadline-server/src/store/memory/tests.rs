use std::sync::Arc;

use threadline::{Annotation, KeyValue, Resource, SpanData, SpanId, SpanKind, TraceId};

use super::MemoryStore;
use crate::store::{Operation, SpanStore, TagFilter, TraceQuery};

const MS: u64 = 1_000_000;

fn span(trace: u128, id: u64, service: &str, name: &str, start_ms: u64, dur_ms: u64) -> SpanData {
    let mut span = SpanData::new(TraceId(trace), SpanId(id), name.to_string());
    span.resource = Arc::new(Resource::new(service.to_string()));
    span.start_time_unix_nano = start_ms * MS;
    span.end_time_unix_nano = (start_ms + dur_ms) * MS;
    span
}

fn ids(traces: &[Vec<SpanData>]) -> Vec<u128> {
    traces.iter().map(|t| t[0].trace_id.0).collect()
}

#[test]
fn evicts_oldest_trace_first_and_counts() {
    let store = MemoryStore::new(3);
    store
        .append(vec![
            span(1, 1, "a", "x", 10, 1),
            span(1, 2, "a", "y", 11, 1),
        ])
        .unwrap();
    store.append(vec![span(2, 3, "b", "z", 5, 1)]).unwrap();
    // a late span of trace 1 does not make it younger: first-seen order decides
    store
        .append(vec![
            span(3, 4, "c", "w", 1, 1),
            span(1, 5, "a", "v", 12, 1),
        ])
        .unwrap();
    assert!(store.trace(TraceId(1)).unwrap().is_none());
    assert_eq!(store.trace(TraceId(2)).unwrap().unwrap().len(), 1);
    assert_eq!(store.trace(TraceId(3)).unwrap().unwrap().len(), 1);
    let counters = store.counters();
    assert_eq!((counters.stored, counters.evicted), (5, 3));
    assert_eq!(store.span_count(), 2);
    // the evicted service and its operations are gone
    assert_eq!(store.services().unwrap(), vec!["b", "c"]);
    assert!(store.operations("a").unwrap().is_empty());
}

#[test]
fn a_trace_larger_than_the_bound_is_evicted_too() {
    let store = MemoryStore::new(1);
    store
        .append(vec![span(1, 1, "a", "x", 0, 1), span(1, 2, "a", "y", 0, 1)])
        .unwrap();
    assert_eq!(store.span_count(), 0);
    assert_eq!(store.counters().evicted, 2);
}

#[test]
fn trace_keeps_received_order() {
    let store = MemoryStore::new(10);
    store
        .append(vec![
            span(7, 2, "a", "child", 1, 1),
            span(7, 1, "a", "root", 0, 5),
        ])
        .unwrap();
    let trace = store.trace(TraceId(7)).unwrap().unwrap();
    let names: Vec<&str> = trace.iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["child", "root"]);
    assert!(store.trace(TraceId(8)).unwrap().is_none());
}

#[test]
fn services_and_operations_are_sorted() {
    let store = MemoryStore::new(10);
    let mut server = span(1, 1, "web", "get", 0, 1);
    server.kind = SpanKind::Server;
    let mut client = span(1, 2, "web", "get", 0, 1);
    client.kind = SpanKind::Client;
    store
        .append(vec![
            server,
            client,
            span(1, 3, "db", "query", 0, 1),
            span(1, 4, "web", "auth", 0, 1),
        ])
        .unwrap();
    assert_eq!(store.services().unwrap(), vec!["db", "web"]);
    let ops = store.operations("web").unwrap();
    let expected = [
        ("auth", SpanKind::Unspecified),
        ("get", SpanKind::Server),
        ("get", SpanKind::Client),
    ];
    assert_eq!(
        ops,
        expected
            .iter()
            .map(|(name, kind)| Operation {
                name: name.to_string(),
                span_kind: *kind
            })
            .collect::<Vec<_>>()
    );
    assert!(store.operations("nobody").unwrap().is_empty());
}

fn sample_store() -> MemoryStore {
    let store = MemoryStore::new(100);
    let mut tagged = span(1, 1, "web", "get /a", 100, 50);
    tagged.attributes.push(KeyValue::new("http.method", "GET"));
    tagged
        .attributes
        .push(KeyValue::new("http.status_code", 200i64));
    let mut annotated = span(2, 2, "web", "get /b", 200, 5);
    annotated.annotations.push(Annotation {
        time_unix_nano: 201 * MS,
        description: "retry".into(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    });
    store
        .append(vec![
            tagged,
            span(1, 3, "db", "select", 110, 20),
            annotated,
            span(3, 4, "db", "insert", 300, 1),
        ])
        .unwrap();
    store
}

#[test]
fn find_traces_newest_first_with_limit() {
    let store = sample_store();
    let all = store.find_traces(&TraceQuery::default()).unwrap();
    assert_eq!(ids(&all), [3, 2, 1]);
    let query = TraceQuery {
        limit: 2,
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [3, 2]);
}

#[test]
fn find_traces_by_service_and_span_name() {
    let store = sample_store();
    let query = TraceQuery {
        service: Some("db".into()),
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [3, 1]);
    let query = TraceQuery {
        service: Some("db".into()),
        span_name: Some("select".into()),
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [1]);
    // the span name must belong to the service asked for
    let query = TraceQuery {
        service: Some("db".into()),
        span_name: Some("get /a".into()),
        ..TraceQuery::default()
    };
    assert!(store.find_traces(&query).unwrap().is_empty());
}

#[test]
fn find_traces_by_tags_and_annotations() {
    let store = sample_store();
    let find = |q: &str| {
        let query = TraceQuery {
            tags: TagFilter::parse_zipkin(q),
            ..TraceQuery::default()
        };
        ids(&store.find_traces(&query).unwrap())
    };
    assert_eq!(find("http.method=GET"), [1]);
    assert_eq!(find("http.status_code=200 and http.method"), [1]);
    assert_eq!(find("http.method=POST"), Vec::<u128>::new());
    assert_eq!(find("retry"), [2]);
    assert_eq!(find("retry and http.method"), Vec::<u128>::new());
}

#[test]
fn find_traces_by_duration_and_time_range() {
    let store = sample_store();
    let query = TraceQuery {
        min_duration_nanos: Some(10 * MS),
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [1]);
    let query = TraceQuery {
        max_duration_nanos: Some(5 * MS),
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [3, 2]);
    let query = TraceQuery {
        start_min_unix_nano: 150 * MS,
        start_max_unix_nano: 250 * MS,
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [2]);
}

#[test]
fn bound_and_counters_hold_under_mixed_batches() {
    // a fixed xorshift sequence: batches of varied sizes over overlapping trace ids
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    let store = MemoryStore::new(50);
    let mut span_id = 0;
    for _ in 0..500 {
        let batch: Vec<SpanData> = (0..next(8))
            .map(|_| {
                span_id += 1;
                let trace = u128::from(next(40)) + 1;
                span(trace, span_id, "svc", "op", next(1000), 1)
            })
            .collect();
        store.append(batch).unwrap();
        let counters = store.counters();
        assert!(store.span_count() <= 50);
        assert_eq!(
            counters.stored - counters.evicted,
            store.span_count() as u64
        );
        let held: usize = store
            .find_traces(&TraceQuery {
                limit: usize::MAX,
                ..TraceQuery::default()
            })
            .unwrap()
            .iter()
            .map(Vec::len)
            .sum();
        assert_eq!(held, store.span_count());
        assert_eq!(
            store.services().unwrap().is_empty(),
            store.span_count() == 0
        );
    }
    assert!(store.counters().evicted > 0);
}

#[test]
fn remote_services_follow_peer_service_and_eviction() {
    let store = MemoryStore::new(2);
    let mut call = span(1, 1, "web", "charge", 0, 1);
    call.attributes
        .push(KeyValue::new("peer.service", "payments"));
    let mut other = span(1, 2, "web", "lookup", 0, 1);
    other.attributes.push(KeyValue::new("peer.service", "db"));
    store.append(vec![call, other]).unwrap();
    assert_eq!(store.remote_services("web").unwrap(), ["db", "payments"]);
    assert!(store.remote_services("db").unwrap().is_empty());
    store.append(vec![span(2, 3, "web", "x", 0, 1)]).unwrap();
    assert!(store.remote_services("web").unwrap().is_empty());
}

#[test]
fn single_span_search_needs_one_span_to_meet_every_condition() {
    let store = MemoryStore::new(100);
    let mut get = span(1, 1, "web", "get", 0, 50);
    get.attributes.push(KeyValue::new("http.method", "GET"));
    let slow = span(1, 2, "web", "render", 10, 5);
    store.append(vec![get, slow]).unwrap();
    let query = |single_span| TraceQuery {
        span_name: Some("render".into()),
        tags: TagFilter::parse_zipkin("http.method=GET"),
        single_span,
        ..TraceQuery::default()
    };
    // Zipkin: `render` and the tag are met by different spans
    assert_eq!(ids(&store.find_traces(&query(false)).unwrap()), [1]);
    // Jaeger: no span is both `render` and GET
    assert!(store.find_traces(&query(true)).unwrap().is_empty());
    let both = TraceQuery {
        span_name: Some("get".into()),
        min_duration_nanos: Some(40 * MS),
        ..query(true)
    };
    assert_eq!(ids(&store.find_traces(&both).unwrap()), [1]);
}

#[test]
fn dependencies_link_services_and_uninstrumented_peers() {
    let store = MemoryStore::new(100);
    let root = span(1, 1, "web", "get", 100, 50);
    let mut call = span(1, 2, "web", "call api", 110, 20);
    call.parent_span_id = Some(SpanId(1));
    call.kind = SpanKind::Client;
    call.attributes.push(KeyValue::new("peer.service", "api"));
    let mut served = span(1, 3, "api", "handle", 111, 18);
    served.parent_span_id = Some(SpanId(2));
    served.status = Some(threadline::Status::new(
        threadline::StatusCode::Internal,
        "boom",
    ));
    let mut query = span(1, 4, "api", "select", 112, 5);
    query.parent_span_id = Some(SpanId(3));
    query.kind = SpanKind::Client;
    query.attributes.push(KeyValue::new("peer.service", "db"));
    let late = span(2, 5, "web", "get", 10_000, 1);
    let mut late_call = span(2, 6, "worker", "job", 10_001, 1);
    late_call.parent_span_id = Some(SpanId(5));
    store
        .append(vec![root, call, served, query, late, late_call])
        .unwrap();
    let links: Vec<_> = store
        .dependencies(0, 1_000 * MS)
        .unwrap()
        .into_iter()
        .map(|l| (l.parent, l.child, l.call_count, l.error_count))
        .collect();
    assert_eq!(
        links,
        [
            ("api".to_string(), "db".to_string(), 1, 0),
            ("web".to_string(), "api".to_string(), 1, 1),
        ]
    );
    assert_eq!(store.dependencies(0, u64::MAX).unwrap().len(), 3);
}

use threadline::{KeyValue, SpanData, TraceId};

use super::MemoryStore;
use crate::store::suite::{span, span_store_suite};
use crate::store::{SpanStore, TraceQuery};

span_store_suite!((MemoryStore::new(100), ()));

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

//! Scenarios every [`SpanStore`] must pass, run against each store by [`span_store_suite!`]
//! with a fresh, empty store per scenario.

use std::sync::Arc;

use threadline::{Annotation, KeyValue, Resource, SpanData, SpanId, SpanKind, TraceId};

use crate::store::{Operation, SpanStore, TagFilter, TraceQuery};

pub(crate) const MS: u64 = 1_000_000;

pub(crate) fn span(
    trace: u128,
    id: u64,
    service: &str,
    name: &str,
    start_ms: u64,
    dur_ms: u64,
) -> SpanData {
    let mut span = SpanData::new(TraceId(trace), SpanId(id), name.to_string());
    span.resource = Arc::new(Resource::new(service.to_string()));
    span.start_time_unix_nano = start_ms * MS;
    span.end_time_unix_nano = (start_ms + dur_ms) * MS;
    span
}

pub(crate) fn ids(traces: &[Vec<SpanData>]) -> Vec<u128> {
    traces.iter().map(|t| t[0].trace_id.0).collect()
}

/// Generates one `#[test]` per scenario; `$make` is an expression giving a fresh store and
/// whatever must live as long as it (a temporary directory).
macro_rules! span_store_suite {
    ($make:expr) => {
        $crate::store::suite::span_store_suite!(@each $make;
            trace_keeps_received_order,
            traces_split_over_batches_come_back_whole,
            services_and_operations_are_sorted,
            find_traces_newest_first_with_limit,
            find_traces_by_service_and_span_name,
            find_traces_by_tags_and_annotations,
            find_traces_by_status_and_kind_as_jaeger_tags,
            find_traces_by_duration_and_time_range,
            remote_services_follow_peer_service,
            single_span_search_needs_one_span_to_meet_every_condition,
            zipkin_search_conditions_may_be_met_in_different_batches,
            dependencies_link_services_and_uninstrumented_peers,
        );
    };
    (@each $make:expr; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                let (store, _keep) = $make;
                $crate::store::suite::$name(&store);
            }
        )*
    };
}
pub(crate) use span_store_suite;

pub(crate) fn trace_keeps_received_order(store: &dyn SpanStore) {
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

pub(crate) fn traces_split_over_batches_come_back_whole(store: &dyn SpanStore) {
    store
        .append(vec![
            span(1, 1, "a", "x", 10, 1),
            span(2, 2, "b", "y", 5, 1),
        ])
        .unwrap();
    store
        .append(vec![span(1, 3, "c", "z", 3, 1), span(1, 4, "a", "w", 4, 1)])
        .unwrap();
    let trace = store.trace(TraceId(1)).unwrap().unwrap();
    let names: Vec<&str> = trace.iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["x", "z", "w"]);
    // the trace now starts at 3 ms, before trace 2
    let all = store.find_traces(&TraceQuery::default()).unwrap();
    assert_eq!(ids(&all), [2, 1]);
    assert_eq!(all[1].len(), 3);
    let query = TraceQuery {
        service: Some("c".into()),
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [1]);
    let query = TraceQuery {
        start_min_unix_nano: 4 * MS,
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [2]);
}

pub(crate) fn services_and_operations_are_sorted(store: &dyn SpanStore) {
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

fn fill_sample(store: &dyn SpanStore) {
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
}

pub(crate) fn find_traces_newest_first_with_limit(store: &dyn SpanStore) {
    fill_sample(store);
    let all = store.find_traces(&TraceQuery::default()).unwrap();
    assert_eq!(ids(&all), [3, 2, 1]);
    let query = TraceQuery {
        limit: 2,
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [3, 2]);
    let query = TraceQuery {
        limit: 0,
        ..TraceQuery::default()
    };
    assert!(store.find_traces(&query).unwrap().is_empty());
}

pub(crate) fn find_traces_by_service_and_span_name(store: &dyn SpanStore) {
    fill_sample(store);
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
    let query = TraceQuery {
        span_name: Some("get /b".into()),
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [2]);
    let query = TraceQuery {
        service: Some("nobody".into()),
        ..TraceQuery::default()
    };
    assert!(store.find_traces(&query).unwrap().is_empty());
}

pub(crate) fn find_traces_by_tags_and_annotations(store: &dyn SpanStore) {
    fill_sample(store);
    let find = |q: &str, service: Option<&str>| {
        let query = TraceQuery {
            service: service.map(Into::into),
            tags: TagFilter::parse_zipkin(q),
            ..TraceQuery::default()
        };
        ids(&store.find_traces(&query).unwrap())
    };
    assert_eq!(find("http.method=GET", None), [1]);
    assert_eq!(find("http.status_code=200 and http.method", None), [1]);
    assert_eq!(find("http.method=POST", None), Vec::<u128>::new());
    assert_eq!(find("retry", None), [2]);
    assert_eq!(find("retry and http.method", None), Vec::<u128>::new());
    assert_eq!(find("http.method=GET", Some("web")), [1]);
    // the tag is on a span of another service
    assert_eq!(find("http.method=GET", Some("db")), Vec::<u128>::new());
}

pub(crate) fn find_traces_by_duration_and_time_range(store: &dyn SpanStore) {
    fill_sample(store);
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
        service: Some("db".into()),
        min_duration_nanos: Some(10 * MS),
        max_duration_nanos: Some(30 * MS),
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [1]);
    let query = TraceQuery {
        start_min_unix_nano: 150 * MS,
        start_max_unix_nano: 250 * MS,
        ..TraceQuery::default()
    };
    assert_eq!(ids(&store.find_traces(&query).unwrap()), [2]);
}

pub(crate) fn remote_services_follow_peer_service(store: &dyn SpanStore) {
    let mut call = span(1, 1, "web", "charge", 0, 1);
    call.attributes
        .push(KeyValue::new("peer.service", "payments"));
    let mut other = span(1, 2, "web", "lookup", 0, 1);
    other.attributes.push(KeyValue::new("peer.service", "db"));
    let mut again = span(2, 3, "web", "lookup", 0, 1);
    again.attributes.push(KeyValue::new("peer.service", "db"));
    store.append(vec![call, other, again]).unwrap();
    assert_eq!(store.remote_services("web").unwrap(), ["db", "payments"]);
    assert!(store.remote_services("db").unwrap().is_empty());
}

pub(crate) fn single_span_search_needs_one_span_to_meet_every_condition(store: &dyn SpanStore) {
    let mut get = span(1, 1, "web", "get", 0, 50);
    get.attributes.push(KeyValue::new("http.method", "GET"));
    let slow = span(1, 2, "web", "render", 10, 5);
    store.append(vec![get, slow]).unwrap();
    for service in [None, Some("web".to_string())] {
        let query = |single_span| TraceQuery {
            service: service.clone(),
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
        let too_short = TraceQuery {
            min_duration_nanos: Some(60 * MS),
            ..both
        };
        assert!(store.find_traces(&too_short).unwrap().is_empty());
    }
}

pub(crate) fn zipkin_search_conditions_may_be_met_in_different_batches(store: &dyn SpanStore) {
    let mut get = span(1, 1, "web", "get", 0, 50);
    get.attributes.push(KeyValue::new("http.method", "GET"));
    store.append(vec![get]).unwrap();
    store
        .append(vec![span(1, 2, "web", "render", 10, 5)])
        .unwrap();
    for service in [None, Some("web".to_string())] {
        let query = TraceQuery {
            service,
            span_name: Some("render".into()),
            tags: TagFilter::parse_zipkin("http.method=GET"),
            min_duration_nanos: Some(40 * MS),
            ..TraceQuery::default()
        };
        assert_eq!(ids(&store.find_traces(&query).unwrap()), [1]);
    }
}

pub(crate) fn dependencies_link_services_and_uninstrumented_peers(store: &dyn SpanStore) {
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

/// Jaeger's UI searches `error=true`, `span.kind=server` and `otel.status_code=ERROR`: tags it
/// shows for a span's status and kind, which are not attributes.
pub(crate) fn find_traces_by_status_and_kind_as_jaeger_tags(store: &dyn SpanStore) {
    let mut failed = span(1, 1, "web", "get", 100, 5);
    failed.kind = SpanKind::Server;
    failed.status = Some(threadline::Status::new(
        threadline::StatusCode::Internal,
        "boom",
    ));
    let mut fine = span(2, 2, "web", "get", 200, 5);
    fine.kind = SpanKind::Client;
    fine.status = Some(threadline::Status::ok());
    let plain = span(3, 3, "web", "get", 300, 5);
    store.append(vec![failed, fine, plain]).unwrap();
    let find = |q: &str| {
        let query = TraceQuery {
            service: Some("web".into()),
            tags: TagFilter::parse_zipkin(q),
            single_span: true,
            ..TraceQuery::default()
        };
        ids(&store.find_traces(&query).unwrap())
    };
    assert_eq!(find("error=true"), [1]);
    assert_eq!(find("error"), [1]);
    assert_eq!(find("otel.status_code=ERROR"), [1]);
    assert_eq!(find("otel.status_code=OK"), [2]);
    assert_eq!(find("span.kind=server"), [1]);
    assert_eq!(find("span.kind=client and otel.status_code=OK"), [2]);
    assert_eq!(
        find("span.kind=server and otel.status_code=OK"),
        Vec::<u128>::new()
    );
    assert_eq!(find("otel.status_code"), [2, 1]);
}

//! Operations endpoints on the query port: `/health` and `/metrics` (Prometheus text format).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `threadline_receiver_spans_accepted_total` | counter | `receiver` |
//! | `threadline_receiver_spans_rejected_total` | counter | `receiver` |
//! | `threadline_receiver_requests_refused_total` | counter | `receiver` |
//! | `threadline_receiver_requests_throttled_total` | counter | `receiver` |
//! | `threadline_store_spans_stored_total` | counter | |
//! | `threadline_store_spans_evicted_total` | counter | |
//! | `threadline_store_bytes_on_disk` | gauge | |
//! | `threadline_query_duration_seconds` | histogram | `api`: `zipkin`, `jaeger`, `jaeger_v3` |
//!
//! The query histogram is there when the port's router is wrapped in [`with_query_latency`].

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use crate::receive::{ReceiverCounters, ReceiverStats};
use crate::store::SpanStore;

#[derive(Clone)]
struct Ops {
    store: Arc<dyn SpanStore>,
    receivers: Vec<(&'static str, Arc<ReceiverStats>)>,
}

/// `/health` and `/metrics` for `store` and the named `receivers`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::ops;
/// use threadline_server::store::MemoryStore;
///
/// let router: axum::Router = ops::routes(Arc::new(MemoryStore::new(10)), Vec::new());
/// ```
pub fn routes(
    store: Arc<dyn SpanStore>,
    receivers: Vec<(&'static str, Arc<ReceiverStats>)>,
) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(Ops { store, receivers })
}

async fn health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

async fn metrics(
    State(ops): State<Ops>,
    latency: Option<Extension<Arc<QueryLatency>>>,
) -> impl IntoResponse {
    let mut text = render(&ops);
    if let Some(Extension(latency)) = latency {
        latency.render(&mut text);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The query APIs whose handling time is measured, told apart by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueryApi {
    Zipkin,
    Jaeger,
    JaegerV3,
}

impl QueryApi {
    const ALL: [QueryApi; 3] = [QueryApi::Zipkin, QueryApi::Jaeger, QueryApi::JaegerV3];

    fn of_path(path: &str) -> Option<QueryApi> {
        if path.starts_with("/api/v2/") {
            Some(QueryApi::Zipkin)
        } else if path.starts_with("/api/v3/") {
            Some(QueryApi::JaegerV3)
        } else if path.starts_with("/api/") {
            Some(QueryApi::Jaeger)
        } else {
            None
        }
    }

    fn label(self) -> &'static str {
        match self {
            QueryApi::Zipkin => "zipkin",
            QueryApi::Jaeger => "jaeger",
            QueryApi::JaegerV3 => "jaeger_v3",
        }
    }
}

/// Upper bounds of the latency buckets, in seconds (the `+Inf` bucket follows).
const BUCKETS_SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One API's histogram: a count per bucket (not cumulative; the last is `+Inf`) and the sum.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS_SECONDS.len() + 1],
    sum_nanos: AtomicU64,
}

/// How long each query API took to answer, as Prometheus histograms.
#[derive(Debug, Default)]
struct QueryLatency {
    histograms: [Histogram; 3],
}

impl QueryLatency {
    fn record(&self, api: QueryApi, elapsed: Duration) {
        let histogram = &self.histograms[api as usize];
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS_SECONDS.len());
        histogram.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        histogram.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        const NAME: &str = "threadline_query_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {NAME} Time to answer a query API request, per API.\n# TYPE {NAME} histogram"
        );
        for api in QueryApi::ALL {
            let histogram = &self.histograms[api as usize];
            let label = api.label();
            let mut cumulative = 0;
            for (i, count) in histogram.buckets.iter().enumerate() {
                cumulative += count.load(Ordering::Relaxed);
                let le = BUCKETS_SECONDS
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "{NAME}_bucket{{api=\"{label}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = histogram.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(out, "{NAME}_sum{{api=\"{label}\"}} {sum}");
            let _ = writeln!(out, "{NAME}_count{{api=\"{label}\"}} {cumulative}");
        }
    }
}

/// Wraps a query port's router so that the time each query API request takes (`/api/v2/...`
/// Zipkin, `/api/v3/...` Jaeger's api_v3, other `/api/...` Jaeger) is recorded, and shown by
/// the router's `/metrics` ([`routes`]) as `threadline_query_duration_seconds`.
///
/// The time runs from the request reaching the router to the response being ready (the
/// bodies are built whole, so writing them is not counted).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::store::MemoryStore;
/// use threadline_server::{ops, query};
///
/// let store = Arc::new(MemoryStore::new(10));
/// let router: axum::Router =
///     ops::with_query_latency(query::routes(store.clone()).merge(ops::routes(store, Vec::new())));
/// ```
pub fn with_query_latency(router: Router) -> Router {
    let latency = Arc::new(QueryLatency::default());
    router.layer(axum::middleware::from_fn_with_state(
        latency,
        record_latency,
    ))
}

async fn record_latency(
    State(latency): State<Arc<QueryLatency>>,
    mut request: Request,
    next: Next,
) -> Response {
    let api = QueryApi::of_path(request.uri().path());
    request.extensions_mut().insert(latency.clone());
    let start = Instant::now();
    let response = next.run(request).await;
    if let Some(api) = api {
        latency.record(api, start.elapsed());
    }
    response
}

/// Reads one counter out of a receiver's snapshot.
type CounterOf = fn(&ReceiverCounters) -> u64;

/// The Prometheus text exposition of every counter.
fn render(ops: &Ops) -> String {
    let mut out = String::new();
    let snapshots: Vec<_> = ops
        .receivers
        .iter()
        .map(|(name, stats)| (*name, stats.snapshot()))
        .collect();
    let families: [(&str, &str, CounterOf); 4] = [
        (
            "threadline_receiver_spans_accepted_total",
            "Spans decoded and stored, per receiver.",
            |c| c.spans_accepted,
        ),
        (
            "threadline_receiver_spans_rejected_total",
            "Spans that could not be decoded, per receiver.",
            |c| c.spans_rejected,
        ),
        (
            "threadline_receiver_requests_refused_total",
            "Requests answered with an error status, per receiver.",
            |c| c.requests_refused,
        ),
        (
            "threadline_receiver_requests_throttled_total",
            "Requests refused and datagrams dropped because too many batches were in flight, per receiver.",
            |c| c.requests_throttled,
        ),
    ];
    for (name, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (receiver, counters) in &snapshots {
            let _ = writeln!(out, "{name}{{receiver=\"{receiver}\"}} {}", value(counters));
        }
    }
    let store = ops.store.counters();
    for (name, help, value) in [
        (
            "threadline_store_spans_stored_total",
            "Spans appended to the store.",
            store.stored,
        ),
        (
            "threadline_store_spans_evicted_total",
            "Spans removed to stay within the store's bounds.",
            store.evicted,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let name = "threadline_store_bytes_on_disk";
    let _ = writeln!(
        out,
        "# HELP {name} Size of the store's files (0 for the in-memory store).\n# TYPE {name} gauge\n{name} {}",
        store.bytes_on_disk
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, SpanStore};
    use threadline::{SpanData, SpanId, TraceId};

    #[test]
    fn counters_are_rendered_per_receiver_and_for_the_store() {
        let store = Arc::new(MemoryStore::new(1));
        store
            .append(vec![
                SpanData::new(TraceId(1), SpanId(1), "a"),
                SpanData::new(TraceId(2), SpanId(2), "b"),
            ])
            .unwrap();
        let zipkin = Arc::new(ReceiverStats::default());
        zipkin.count_spans(5, 2);
        zipkin.count_refused();
        zipkin.count_throttled();
        zipkin.count_throttled();
        let text = render(&Ops {
            store,
            receivers: vec![("zipkin http", zipkin), ("otlp http", Arc::default())],
        });
        for line in [
            "threadline_receiver_spans_accepted_total{receiver=\"zipkin http\"} 5",
            "threadline_receiver_spans_rejected_total{receiver=\"zipkin http\"} 2",
            "threadline_receiver_requests_refused_total{receiver=\"zipkin http\"} 1",
            "threadline_receiver_requests_throttled_total{receiver=\"zipkin http\"} 2",
            "threadline_receiver_spans_accepted_total{receiver=\"otlp http\"} 0",
            "threadline_store_spans_stored_total 2",
            "threadline_store_spans_evicted_total 1",
            "# TYPE threadline_store_spans_evicted_total counter",
            "threadline_store_bytes_on_disk 0",
            "# TYPE threadline_store_bytes_on_disk gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
    }

    #[test]
    fn query_latency_is_a_cumulative_histogram_per_api() {
        let latency = QueryLatency::default();
        latency.record(QueryApi::Jaeger, Duration::from_micros(300));
        latency.record(QueryApi::Jaeger, Duration::from_millis(3));
        latency.record(QueryApi::Jaeger, Duration::from_secs(60));
        let mut text = String::new();
        latency.render(&mut text);
        for line in [
            "# TYPE threadline_query_duration_seconds histogram",
            "threadline_query_duration_seconds_bucket{api=\"jaeger\",le=\"0.0005\"} 1",
            "threadline_query_duration_seconds_bucket{api=\"jaeger\",le=\"0.0025\"} 1",
            "threadline_query_duration_seconds_bucket{api=\"jaeger\",le=\"0.005\"} 2",
            "threadline_query_duration_seconds_bucket{api=\"jaeger\",le=\"10\"} 2",
            "threadline_query_duration_seconds_bucket{api=\"jaeger\",le=\"+Inf\"} 3",
            "threadline_query_duration_seconds_sum{api=\"jaeger\"} 60.0033",
            "threadline_query_duration_seconds_count{api=\"jaeger\"} 3",
            "threadline_query_duration_seconds_count{api=\"zipkin\"} 0",
            "threadline_query_duration_seconds_bucket{api=\"jaeger_v3\",le=\"+Inf\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert_eq!(QueryApi::of_path("/api/v2/traces"), Some(QueryApi::Zipkin));
        assert_eq!(
            QueryApi::of_path("/api/v3/services"),
            Some(QueryApi::JaegerV3)
        );
        assert_eq!(QueryApi::of_path("/api/traces/abc"), Some(QueryApi::Jaeger));
        assert_eq!(QueryApi::of_path("/metrics"), None);
    }

    #[test]
    fn the_disk_store_shows_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let options = crate::store::DiskOptions {
            background_retention: false,
            ..Default::default()
        };
        let store = Arc::new(crate::store::DiskStore::open(dir.path(), options).unwrap());
        store
            .append(vec![SpanData::new(TraceId(1), SpanId(1), "a")])
            .unwrap();
        let text = render(&Ops {
            store,
            receivers: Vec::new(),
        });
        let bytes: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("threadline_store_bytes_on_disk "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(bytes > 0, "{text}");
    }
}

//! Operations endpoints on the query port: `/health` and `/metrics` (Prometheus text format).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `threadline_receiver_spans_accepted_total` | counter | `receiver` |
//! | `threadline_receiver_spans_rejected_total` | counter | `receiver` |
//! | `threadline_receiver_requests_refused_total` | counter | `receiver` |
//! | `threadline_store_spans_stored_total` | counter | |
//! | `threadline_store_spans_evicted_total` | counter | |
//! | `threadline_store_bytes_on_disk` | gauge | |

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

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

async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&ops),
    )
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
    let families: [(&str, &str, CounterOf); 3] = [
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
        let text = render(&Ops {
            store,
            receivers: vec![("zipkin http", zipkin), ("otlp http", Arc::default())],
        });
        for line in [
            "threadline_receiver_spans_accepted_total{receiver=\"zipkin http\"} 5",
            "threadline_receiver_spans_rejected_total{receiver=\"zipkin http\"} 2",
            "threadline_receiver_requests_refused_total{receiver=\"zipkin http\"} 1",
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

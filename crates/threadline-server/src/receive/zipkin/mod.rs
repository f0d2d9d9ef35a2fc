//! The Zipkin v2 receiver: `POST /api/v2/spans`, JSON or proto3, optionally gzip-compressed.
//!
//! Answers `202 Accepted` when every span was read. A body that is not a span list at all, or
//! that holds invalid spans, is answered `400 Bad Request` with a message naming each problem,
//! as Zipkin does for an undecodable body. Unlike Zipkin, which then drops the whole batch, the
//! valid spans of a partly valid batch are still stored (nothing valid is lost) and the
//! message says how many were kept; Zipkin clients do not retry a 400, so they are not stored
//! twice. A body over the limit (as sent or once decompressed) gets `413`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use threadline_wire::zipkin;

use crate::error::ApiError;
use crate::receive::{media_type, read_body, summarize, ReceiverStats};
use crate::store::{run_blocking, SpanStore};

/// The path spans are posted to.
pub const SPANS_PATH: &str = "/api/v2/spans";

#[derive(Clone)]
struct Receiver {
    store: Arc<dyn SpanStore>,
    max_body_bytes: usize,
    stats: Arc<ReceiverStats>,
}

/// The receiver's routes, appending to `store`, with bodies of at most `max_body_bytes`,
/// counting in `stats`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::receive::zipkin;
/// use threadline_server::store::MemoryStore;
///
/// let store = Arc::new(MemoryStore::new(1000));
/// let router: axum::Router = zipkin::routes(store, 1 << 20, Arc::default());
/// ```
pub fn routes(
    store: Arc<dyn SpanStore>,
    max_body_bytes: usize,
    stats: Arc<ReceiverStats>,
) -> Router {
    Router::new()
        .route(SPANS_PATH, post(receive))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(Receiver {
            store,
            max_body_bytes,
            stats,
        })
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let answer = accept(&receiver, &headers, body).await;
    if answer.is_err() {
        receiver.stats.count_refused();
    }
    answer
}

async fn accept(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body = read_body(headers, body, receiver.max_body_bytes)?;
    let media_type = media_type(headers);
    let (spans, rejected, errors) = match media_type.as_str() {
        "application/x-protobuf" => {
            let decoded = zipkin::proto::decode_lenient(&body);
            let rejected = decoded
                .errors
                .iter()
                .filter(|e| matches!(e, zipkin::proto::DecodeError::Span(_)))
                .count();
            (decoded.spans, rejected, summarize_errors(&decoded.errors))
        }
        "application/json" | "" => {
            let decoded = zipkin::json::decode_lenient(&body);
            let rejected = decoded
                .errors
                .iter()
                .filter(|e| matches!(e, zipkin::json::DecodeError::Span(_)))
                .count();
            (decoded.spans, rejected, summarize_errors(&decoded.errors))
        }
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "content-type {other:?} is not supported, expected application/json or application/x-protobuf"
            )))
        }
    };
    let kept = spans.len();
    if kept > 0 {
        run_blocking(&receiver.store, move |store| store.append(spans)).await?;
    }
    receiver.stats.count_spans(kept, rejected);
    match errors {
        None => Ok(StatusCode::ACCEPTED),
        Some((count, text)) => Err(ApiError::BadRequest(format!(
            "{count} error(s), {kept} span(s) kept: {text}"
        ))),
    }
}

fn summarize_errors<E: std::fmt::Display>(errors: &[E]) -> Option<(usize, String)> {
    (!errors.is_empty()).then(|| (errors.len(), summarize(errors)))
}

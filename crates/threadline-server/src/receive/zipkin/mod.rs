//! The Zipkin v2 receiver: `POST /api/v2/spans`, JSON or proto3, optionally gzip-compressed.
//!
//! Answers `202 Accepted` when every span was read. A body that is not a span list at all, or
//! that holds invalid spans, is answered `400 Bad Request` with a message naming each problem,
//! as Zipkin does for an undecodable body. Unlike Zipkin, which then drops the whole batch, the
//! valid spans of a partly valid batch are still stored (nothing valid is lost) and the
//! message says how many were kept; Zipkin clients do not retry a 400, so they are not stored
//! twice. A body over the limit (as sent or once decompressed) gets `413`; `429` with
//! `Retry-After` when the server has too many batches in flight.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use threadline_wire::zipkin;

use crate::error::ApiError;
use crate::receive::{http_routes, media_type, read_body, summarize, Intake};

/// The path spans are posted to.
pub const SPANS_PATH: &str = "/api/v2/spans";

/// The receiver's routes, working through `intake`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::receive::{zipkin, Admission, Intake};
/// use threadline_server::store::MemoryStore;
///
/// let intake = Intake::new(Arc::new(MemoryStore::new(1000)), 1 << 20, Arc::default(), Admission::default());
/// let router: axum::Router = zipkin::routes(intake);
/// ```
pub fn routes(intake: Intake) -> Router {
    http_routes(SPANS_PATH, receive, intake, |error, _| {
        error.into_response()
    })
}

async fn receive(
    State(intake): State<Intake>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let answer = accept(&intake, &headers, body).await;
    if let Err(error) = &answer {
        intake.stats().count_failure(error);
    }
    answer
}

async fn accept(
    intake: &Intake,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body = read_body(headers, body, intake.max_body_bytes)?;
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
    intake.append(spans, rejected).await?;
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

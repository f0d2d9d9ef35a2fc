//! The Jaeger collector's HTTP receiver: `POST /api/traces` with a Thrift binary `Batch`
//! (`application/x-thrift` or `application/vnd.apache.thrift.binary`), optionally
//! gzip-compressed.
//!
//! A bare `Batch` is answered `202 Accepted`, as Jaeger's collector answers it. A body that is
//! a Thrift `Collector.submitBatches` call message instead (opencensus-python's exporter sends
//! its batch that way, through a Thrift HTTP client that reads a reply) is answered `200 OK`
//! with the call's `REPLY` message, so the client finds the result it waits for.
//!
//! A body nothing could be read from, or holding invalid spans, gets `400 Bad Request` naming
//! each problem; as in the other receivers the valid spans of a partly valid batch are still
//! stored and the message says how many were kept. An unknown media type gets `415`, a body
//! over the limit `413`, and `429` with `Retry-After` when the server has too many batches in
//! flight.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use threadline_wire::jaeger::{binary, DecodeError};

use crate::error::ApiError;
use crate::receive::{http_routes, media_type, read_body, summarize, Intake};

/// The path batches are posted to.
pub const TRACES_PATH: &str = "/api/traces";

/// The media types of a Thrift binary body that Jaeger's collector accepts.
pub const CONTENT_TYPES: [&str; 2] = [
    "application/x-thrift",
    "application/vnd.apache.thrift.binary",
];

/// The receiver's routes, working through `intake`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::receive::{jaeger_http, Admission, Intake};
/// use threadline_server::store::MemoryStore;
///
/// let intake = Intake::new(Arc::new(MemoryStore::new(1000)), 1 << 20, Arc::default(), Admission::default());
/// let router: axum::Router = jaeger_http::routes(intake);
/// ```
pub fn routes(intake: Intake) -> Router {
    http_routes(TRACES_PATH, receive, intake, |error, _| {
        error.into_response()
    })
}

async fn receive(
    State(intake): State<Intake>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match accept(&intake, &headers, body).await {
        Ok(response) => response,
        Err(error) => {
            intake.stats().count_failure(&error);
            error.into_response()
        }
    }
}

async fn accept(
    intake: &Intake,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(headers, body, intake.max_body_bytes)?;
    let media_type = media_type(headers);
    if !CONTENT_TYPES.contains(&media_type.as_str()) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "content-type {media_type:?} is not supported, expected application/x-thrift or application/vnd.apache.thrift.binary"
        )));
    }
    if body.is_empty() {
        return Err(ApiError::BadRequest("body is empty".to_string()));
    }
    let (decoded, reply) = if binary::is_call_message(&body) {
        let call = binary::decode_submit_batches(&body);
        let reply = binary::encode_submit_batches_reply(call.seq_id, call.batches);
        (call.decoded, Some(reply))
    } else {
        (binary::decode_batch_lenient(&body), None)
    };
    let rejected = decoded
        .errors
        .iter()
        .filter(|e| matches!(e, DecodeError::Span(_)))
        .count();
    let errors = decoded.errors;
    let kept = decoded.spans.len();
    intake.append(decoded.spans, rejected).await?;
    if !errors.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "{} error(s), {kept} span(s) kept: {}",
            errors.len(),
            summarize(&errors)
        )));
    }
    Ok(match reply {
        Some(reply) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, binary::CONTENT_TYPE)],
            reply,
        )
            .into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    })
}

//! The OTLP/HTTP receiver: `POST /v1/traces`, protobuf or JSON, optionally gzip-compressed.
//!
//! A request whose spans were all read gets `200 OK` with an empty
//! `ExportTraceServiceResponse`. When some spans were rejected the valid ones are stored and
//! the response carries a partial success: `rejected_spans` and an `error_message` naming each
//! problem (`rejected_spans` counts each rejected span, and a rejected resource or scope as one:
//! the spans under it were not read, so their number is not known). A body nothing could be
//! read from gets `400`; one over the limit `413`; `429` with `Retry-After` when the server has
//! too many batches in flight. The response, error or not, is encoded like
//! the request (errors as a `google.rpc.Status`; protobuf when the media type is not JSON).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use threadline_wire::otlp;

use crate::error::ApiError;
use crate::receive::{http_routes, media_type, read_body, summarize, Intake};

/// The path spans are posted to.
pub const TRACES_PATH: &str = "/v1/traces";

/// The receiver's routes, working through `intake`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::receive::{otlp_http, Admission, Intake};
/// use threadline_server::store::MemoryStore;
///
/// let intake = Intake::new(Arc::new(MemoryStore::new(1000)), 1 << 20, Arc::default(), Admission::default());
/// let router: axum::Router = otlp_http::routes(intake);
/// ```
pub fn routes(intake: Intake) -> Router {
    http_routes(TRACES_PATH, receive, intake, |error, headers| {
        error.into_otlp_response(media_type(headers) == otlp::json::CONTENT_TYPE)
    })
}

/// The outcome of decoding one request, whatever its encoding.
struct Outcome {
    spans: Vec<threadline::SpanData>,
    /// Span, resource and scope rejections.
    rejected: i64,
    /// Whether part of the body itself could not be read.
    body_error: bool,
    message: String,
}

/// The outcome of a lenient decode; `is_rejection` tells a span, resource or scope rejection
/// from a fault in the body itself.
fn outcome<E: std::fmt::Display>(
    decoded: threadline_wire::Decoded<E>,
    is_rejection: impl Fn(&E) -> bool,
) -> Outcome {
    let rejected = decoded.errors.iter().filter(|e| is_rejection(e)).count();
    Outcome {
        body_error: rejected < decoded.errors.len(),
        rejected: rejected as i64,
        message: summarize(&decoded.errors),
        spans: decoded.spans,
    }
}

fn from_proto(decoded: threadline_wire::Decoded<otlp::proto::DecodeError>) -> Outcome {
    use otlp::proto::DecodeError;
    outcome(decoded, |e| {
        matches!(e, DecodeError::Span(_) | DecodeError::Envelope(_))
    })
}

fn from_json(decoded: threadline_wire::Decoded<otlp::json::DecodeError>) -> Outcome {
    use otlp::json::DecodeError;
    outcome(decoded, |e| {
        matches!(e, DecodeError::Span(_) | DecodeError::Envelope(_))
    })
}

async fn receive(
    State(intake): State<Intake>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let json = media_type(&headers) == otlp::json::CONTENT_TYPE;
    match export(&intake, &headers, body).await {
        Ok(response) => response,
        Err(error) => {
            intake.stats().count_failure(&error);
            error.into_otlp_response(json)
        }
    }
}

async fn export(
    intake: &Intake,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(headers, body, intake.max_body_bytes)?;
    let media_type = media_type(headers);
    let json = match media_type.as_str() {
        "application/x-protobuf" => false,
        "application/json" => true,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "content-type {other:?} is not supported, expected application/x-protobuf or application/json"
            )))
        }
    };
    let outcome = if json {
        from_json(otlp::json::decode_lenient(&body))
    } else {
        from_proto(otlp::proto::decode_lenient(&body))
    };
    if outcome.spans.is_empty() && outcome.body_error {
        return Err(ApiError::BadRequest(outcome.message));
    }
    intake
        .append(outcome.spans, outcome.rejected as usize)
        .await?;
    let partial = (!outcome.message.is_empty()).then_some(ExportTracePartialSuccess {
        rejected_spans: outcome.rejected,
        error_message: outcome.message,
    });
    let (content_type, bytes) = if json {
        let body = match partial {
            Some(p) => serde_json::json!({
                "partialSuccess": {
                    // int64 is a string in OTLP/JSON
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }
            }),
            None => serde_json::json!({}),
        };
        (otlp::json::CONTENT_TYPE, body.to_string().into_bytes())
    } else {
        let response = ExportTraceServiceResponse {
            partial_success: partial,
        };
        (otlp::proto::CONTENT_TYPE, response.encode_to_vec())
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        bytes,
    )
        .into_response())
}

//! Receivers: one module per wire protocol, each decoding requests into
//! [`SpanData`](threadline::SpanData) with `threadline-wire` and appending them to the store.

pub mod otlp_http;
pub mod zipkin;

use std::io::Read;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap};

use crate::error::ApiError;

/// The default limit of a request body, compressed or not: 8 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The body of a request, decompressed when `Content-Encoding: gzip`, and at most `limit`
/// bytes either way (a small gzip body cannot expand past the limit).
pub(crate) fn read_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let body = body.map_err(|rejection| ApiError::from_body_rejection(rejection, limit))?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|value| value.to_str().unwrap_or("").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") | Some("") => Ok(body),
        Some("gzip") => {
            let mut out = Vec::new();
            let mut reader = flate2::read::GzDecoder::new(&body[..]).take(limit as u64 + 1);
            reader
                .read_to_end(&mut out)
                .map_err(|e| ApiError::BadRequest(format!("body is not valid gzip: {e}")))?;
            if out.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(ApiError::UnsupportedMediaType(format!(
            "content-encoding {other:?} is not supported, expected gzip or identity"
        ))),
    }
}

/// The media type of a request without parameters, lowercase; empty when absent.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The messages of a batch's errors, joined, at most `MAX` of them and a count of the rest.
pub(crate) fn summarize<E: std::fmt::Display>(errors: &[E]) -> String {
    const MAX: usize = 10;
    let mut text = errors
        .iter()
        .take(MAX)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > MAX {
        text.push_str(&format!("; and {} more", errors.len() - MAX));
    }
    text
}

//! Receivers: one module per wire protocol, each decoding requests into
//! [`SpanData`](threadline::SpanData) with `threadline-wire` and appending them to the store.

pub mod otlp_http;
pub mod zipkin;

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap};

use crate::error::ApiError;

/// What one receiver did since it started, shared by its request handlers.
///
/// Rejected spans and refused requests are counted so that nothing is lost silently: the
/// server reports these counts (at shutdown for now; as metrics next).
///
/// # Examples
///
/// ```
/// use threadline_server::receive::ReceiverStats;
///
/// let stats = ReceiverStats::default();
/// assert_eq!(stats.snapshot().spans_accepted, 0);
/// ```
#[derive(Debug, Default)]
pub struct ReceiverStats {
    spans_accepted: AtomicU64,
    spans_rejected: AtomicU64,
    requests_refused: AtomicU64,
}

/// A snapshot of [`ReceiverStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverCounters {
    /// Spans decoded and stored.
    pub spans_accepted: u64,
    /// Spans that could not be decoded (their batch's valid spans were still stored).
    pub spans_rejected: u64,
    /// Requests answered with an error status (400, 413, 415, 503).
    pub requests_refused: u64,
}

impl ReceiverStats {
    /// The counts now.
    pub fn snapshot(&self) -> ReceiverCounters {
        ReceiverCounters {
            spans_accepted: self.spans_accepted.load(Ordering::Relaxed),
            spans_rejected: self.spans_rejected.load(Ordering::Relaxed),
            requests_refused: self.requests_refused.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn count_spans(&self, accepted: usize, rejected: usize) {
        self.spans_accepted
            .fetch_add(accepted as u64, Ordering::Relaxed);
        self.spans_rejected
            .fetch_add(rejected as u64, Ordering::Relaxed);
    }

    pub(crate) fn count_refused(&self) {
        self.requests_refused.fetch_add(1, Ordering::Relaxed);
    }
}

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

//! Wire codecs for Threadline spans.
//!
//! Each wire format lives in exactly one module that both encodes [`SpanData`] into it and
//! decodes it back, so the SDK's exporters and the server's receivers share one mapping and can
//! never drift apart. Today that is [`zipkin`] (v2 JSON and proto3) and [`otlp`] (protobuf and
//! JSON, plus the `ExportTraceServiceRequest` message itself for gRPC) and [`jaeger`] (thrift
//! compact and binary, one `Batch` per resource, so its encoders return one body per resource;
//! and the JSON trace model of Jaeger's query API). Each has the same shape:
//!
//! - `encode(&[SpanData]) -> Vec<u8>`: the request body, infallible;
//! - `decode(&[u8]) -> Result<Vec<SpanData>, DecodeError>`: all spans or the first problem;
//! - `decode_lenient(&[u8]) -> Decoded<DecodeError>`: every valid span plus one error per
//!   rejected span, for receivers that accept partial batches.
//!
//! Decoders read untrusted network input: they never panic, and every error names the span
//! (by its position in the batch, counted from 0), the field and what was wrong with it.
//!
//! ```
//! use threadline::{SpanData, SpanId, TraceId};
//! use threadline_wire::zipkin;
//!
//! let span = SpanData::new(TraceId(0x4bf9_2f35), SpanId(0xf067), "get /users");
//! let body = zipkin::json::encode(&[span.clone()]);
//! assert_eq!(zipkin::json::decode(&body).unwrap()[0].name, "get /users");
//!
//! let bad = br#"[{"traceId":"xyz","id":"000000000000f067"}]"#;
//! let err = zipkin::json::decode(bad).unwrap_err();
//! assert_eq!(err.to_string(), r#"span 0: traceId "xyz" is not 16 or 32 hex digits"#);
//! ```
//!
//! [`SpanData`]: threadline::SpanData

mod base64;
mod intern;
pub mod jaeger;
mod json_value;
mod json_write;
pub mod otlp;
pub mod zipkin;

/// The span and batch generators of the integration tests, for the unit tests' property tests.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod test_spans;

use threadline::SpanData;

/// The outcome of decoding a batch leniently: the spans that were valid and what was wrong with
/// the rest.
///
/// A receiver that accepts partial batches stores `spans` and reports `errors`; one that does
/// not calls [`Decoded::into_result`].
///
/// # Examples
///
/// ```
/// use threadline_wire::zipkin;
///
/// let body = br#"[
///   {"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2","name":"get /api"},
///   {"traceId":"5af7183fb1d4cf5f","id":"0000000000000000"}
/// ]"#;
/// let decoded = zipkin::json::decode_lenient(body);
/// assert_eq!(decoded.spans.len(), 1);
/// assert_eq!(decoded.errors[0].to_string(), r#"span 1: id "0000000000000000" is all zeros"#);
/// assert!(!decoded.is_complete());
/// ```
#[derive(Debug)]
pub struct Decoded<E> {
    /// The spans that decoded cleanly, in batch order.
    pub spans: Vec<SpanData>,
    /// One error per rejected span, plus one per part of the body that could not be read
    /// (truncated JSON, after which nothing more could be read; an OTLP resource or scope
    /// whose spans were rejected with it).
    pub errors: Vec<E>,
}

impl<E> Decoded<E> {
    /// Whether every span of the batch was decoded.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }

    /// All spans, or the first error when anything was rejected.
    ///
    /// # Errors
    ///
    /// The first error of the batch, if there was one.
    pub fn into_result(self) -> Result<Vec<SpanData>, E> {
        match self.errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(self.spans),
        }
    }
}

/// One span of a batch that could not be decoded, and why.
///
/// The display form is `span {index}: {problem}`, e.g.
/// `span 3: traceId "xyz" is not 16 or 32 hex digits`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("span {index}: {problem}")]
pub struct SpanError {
    /// The span's position in the batch, counted from 0.
    pub index: usize,
    /// What was wrong with it.
    pub problem: Problem,
}

/// What was wrong with a field of a span.
///
/// Field names are the wire format's own (`traceId` in Zipkin JSON, `trace_id` in proto3), with
/// a path for nested fields (`annotations[2].timestamp`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A required field is absent.
    #[error("{field} is missing")]
    Missing {
        /// The field.
        field: String,
    },
    /// A field holds the wrong type of value.
    #[error("{field} is {found}, expected {expected}")]
    WrongType {
        /// The field.
        field: String,
        /// What it holds, e.g. `a number`.
        found: &'static str,
        /// What it should hold, e.g. `a string`.
        expected: &'static str,
    },
    /// A field has the right type but an unusable value.
    #[error("{field} {value} {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// The value as received: quoted when a string, shortened when long.
        value: String,
        /// Why it is unusable, e.g. `is all zeros`.
        reason: &'static str,
    },
    /// The span's bytes do not form a valid message (binary formats).
    #[error("{0}")]
    Malformed(String),
}

impl Problem {
    pub(crate) fn missing(field: impl Into<String>) -> Self {
        Problem::Missing {
            field: field.into(),
        }
    }

    pub(crate) fn wrong_type(
        field: impl Into<String>,
        found: &'static str,
        expected: &'static str,
    ) -> Self {
        Problem::WrongType {
            field: field.into(),
            found,
            expected,
        }
    }

    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl Into<String>,
        reason: &'static str,
    ) -> Self {
        Problem::Invalid {
            field: field.into(),
            value: value.into(),
            reason,
        }
    }

    pub(crate) fn at(self, index: usize) -> SpanError {
        SpanError {
            index,
            problem: self,
        }
    }
}

/// A received string for an error message: quoted, and cut after 40 characters so that a huge
/// field cannot blow up a log line.
pub(crate) fn quote(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
    }
}

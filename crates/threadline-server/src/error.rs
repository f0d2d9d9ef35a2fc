//! The one place where a failure of a receiver or a query API becomes an HTTP or gRPC status.
//!
//! Handlers return [`ApiError`]; its [`IntoResponse`] picks the status and writes the message
//! as a `text/plain` body, so that a client learns what was wrong with its request. The OTLP
//! receivers answer with the same status and a `google.rpc.Status` body instead
//! ([`ApiError::into_otlp_response`]), as the OTLP/HTTP specification asks; the OTLP/gRPC
//! receiver with the matching gRPC status ([`ApiError::into_grpc_status`]); the Jaeger query
//! APIs with the same status in Jaeger's error shapes ([`ApiError::into_jaeger_response`],
//! [`ApiError::into_jaeger_v3_response`]). An overloaded server says when to retry:
//! `Retry-After` over HTTP, a `google.rpc.RetryInfo` detail over gRPC.

use axum::extract::rejection::BytesRejection;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use prost::Message;

use crate::store::StoreError;

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// Why a request failed.
///
/// # Examples
///
/// ```
/// use axum::http::StatusCode;
/// use axum::response::IntoResponse;
/// use threadline_server::error::ApiError;
///
/// let response = ApiError::PayloadTooLarge { limit: 10 }.into_response();
/// assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request body or query could not be used; the message names what was wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The body, as sent or once decompressed, is over the configured limit.
    #[error("body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body's media type or content encoding is not one this endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The thing asked for does not exist (a trace id the store does not hold).
    #[error("{0}")]
    NotFound(String),
    /// The server has too many batches in flight; the sender should retry after a while.
    #[error("the server is overloaded, retry after {retry_after_secs} s")]
    Overloaded {
        /// How long the sender should wait, in seconds.
        retry_after_secs: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    /// A request without the query parameter `name` it needs.
    pub(crate) fn missing(name: &str) -> ApiError {
        ApiError::BadRequest(format!("{name} is missing"))
    }

    /// The HTTP status this error is answered with.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_server::error::ApiError;
    ///
    /// assert_eq!(ApiError::NotFound("trace 1 not found".into()).status(), 404);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The gRPC status code of this error: the `code` of an OTLP `google.rpc.Status` body, and
    /// of the OTLP/gRPC receiver's answers.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_server::error::ApiError;
    ///
    /// // INVALID_ARGUMENT
    /// assert_eq!(ApiError::BadRequest("span 0: id is missing".into()).grpc_code(), 3);
    /// ```
    pub fn grpc_code(&self) -> i32 {
        const INVALID_ARGUMENT: i32 = 3;
        const NOT_FOUND: i32 = 5;
        const RESOURCE_EXHAUSTED: i32 = 8;
        const UNAVAILABLE: i32 = 14;
        match self {
            ApiError::BadRequest(_) | ApiError::UnsupportedMediaType(_) => INVALID_ARGUMENT,
            ApiError::PayloadTooLarge { .. } | ApiError::Overloaded { .. } => RESOURCE_EXHAUSTED,
            ApiError::NotFound(_) => NOT_FOUND,
            ApiError::Store(StoreError::Unavailable(_)) => UNAVAILABLE,
        }
    }

    /// The response of an OTLP/HTTP receiver: this error's status, with a `google.rpc.Status`
    /// body in OTLP/JSON when `json`, in protobuf otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_server::error::ApiError;
    ///
    /// let response = ApiError::BadRequest("body is empty".into()).into_otlp_response(true);
    /// assert_eq!(response.status(), 400);
    /// assert_eq!(response.headers()["content-type"], "application/json");
    /// ```
    pub fn into_otlp_response(self, json: bool) -> Response {
        let status = self.status();
        let code = self.grpc_code();
        let retry_after = self.retry_after();
        let message = self.to_string();
        let mut response = if json {
            let body = serde_json::json!({ "code": code, "message": message });
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        } else {
            let body = RpcStatus {
                code,
                message,
                details: Vec::new(),
            }
            .encode_to_vec();
            (
                status,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                body,
            )
                .into_response()
        };
        add_retry_after(&mut response, retry_after);
        response
    }

    /// The gRPC status of the OTLP/gRPC receiver's answer: [`ApiError::grpc_code`] and the
    /// message; when overloaded, a `google.rpc.RetryInfo` detail saying when to retry.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_server::error::ApiError;
    ///
    /// let status = ApiError::Overloaded { retry_after_secs: 1 }.into_grpc_status();
    /// assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    /// assert!(!status.details().is_empty());
    /// ```
    pub fn into_grpc_status(self) -> tonic::Status {
        let code = tonic::Code::from_i32(self.grpc_code());
        let retry_after = self.retry_after();
        let message = self.to_string();
        match retry_after {
            None => tonic::Status::new(code, message),
            Some(seconds) => {
                let retry = RetryInfo {
                    retry_delay: Some(ProtoDuration {
                        seconds: i64::try_from(seconds).unwrap_or(i64::MAX),
                        nanos: 0,
                    }),
                };
                let details = RpcStatus {
                    code: code as i32,
                    message: message.clone(),
                    details: vec![Any {
                        type_url: RETRY_INFO_TYPE_URL.to_string(),
                        value: retry.encode_to_vec(),
                    }],
                };
                tonic::Status::with_details(code, message, details.encode_to_vec().into())
            }
        }
    }

    /// How many seconds the sender should wait before retrying, when it should.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Overloaded { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The answer of Jaeger's query API (`/api/...`): this error's status, with Jaeger's
    /// envelope `{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":..,"msg":..}]}`
    /// as the body.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_server::error::ApiError;
    ///
    /// let response = ApiError::NotFound("trace 1 not found".into()).into_jaeger_response();
    /// assert_eq!(response.status(), 404);
    /// ```
    pub fn into_jaeger_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({
            "data": null,
            "total": 0,
            "limit": 0,
            "offset": 0,
            "errors": [{ "code": status.as_u16(), "msg": self.to_string() }],
        });
        json_response(status, body)
    }

    /// The answer of Jaeger's api_v3 HTTP gateway (`/api/v3/...`): this error's status, with
    /// `{"error":{"httpCode":..,"message":..}}` as the body.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_server::error::ApiError;
    ///
    /// let response = ApiError::BadRequest("query.start_time_min is missing".into())
    ///     .into_jaeger_v3_response();
    /// assert_eq!(response.status(), 400);
    /// ```
    pub fn into_jaeger_v3_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({
            "error": { "httpCode": status.as_u16(), "message": self.to_string() },
        });
        json_response(status, body)
    }

    /// The error for a body axum could not read: over the body limit (`limit`, the receiver's
    /// [`DefaultBodyLimit`](axum::extract::DefaultBodyLimit)), or cut off.
    pub fn from_body_rejection(rejection: BytesRejection, limit: usize) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest(format!("body could not be read: {}", rejection.body_text()))
        }
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Answers a gRPC message over the size limit with `RESOURCE_EXHAUSTED` rather than tonic's
/// `OUT_OF_RANGE`: OTLP clients retry `OUT_OF_RANGE`, and the same message would fail again.
/// (tonic already answers a message too large once decompressed with `RESOURCE_EXHAUSTED`.)
/// Only the OTLP/gRPC receiver's own answers pass here, and it never answers `OUT_OF_RANGE`
/// itself.
pub(crate) fn oversized_grpc_message_is_resource_exhausted<B>(
    mut response: axum::http::Response<B>,
) -> axum::http::Response<B> {
    const GRPC_STATUS: &str = "grpc-status";
    let out_of_range = (tonic::Code::OutOfRange as i32).to_string();
    if response
        .headers()
        .get(GRPC_STATUS)
        .is_some_and(|status| status.as_bytes() == out_of_range.as_bytes())
    {
        let exhausted = tonic::Code::ResourceExhausted as i32;
        response
            .headers_mut()
            .insert(GRPC_STATUS, header::HeaderValue::from(exhausted));
    }
    response
}

fn add_retry_after(response: &mut Response, retry_after: Option<u64>) {
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after();
        let mut response = (
            self.status(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response();
        add_retry_after(&mut response, retry_after);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overloaded_is_429_with_retry_after() {
        let response = ApiError::Overloaded {
            retry_after_secs: 2,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = ApiError::Overloaded {
            retry_after_secs: 2,
        }
        .into_otlp_response(false);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn overloaded_grpc_status_carries_retry_info() {
        let status = ApiError::Overloaded {
            retry_after_secs: 3,
        }
        .into_grpc_status();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        let details = RpcStatus::decode(status.details()).expect("a google.rpc.Status");
        assert_eq!(details.code, 8);
        assert_eq!(details.details[0].type_url, RETRY_INFO_TYPE_URL);
        let retry = RetryInfo::decode(&details.details[0].value[..]).expect("a RetryInfo");
        assert_eq!(retry.retry_delay.map(|d| d.seconds), Some(3));
        let plain = ApiError::BadRequest("nothing decoded".into()).into_grpc_status();
        assert_eq!(plain.code(), tonic::Code::InvalidArgument);
        assert_eq!(plain.message(), "nothing decoded");
        assert!(plain.details().is_empty());
    }
}

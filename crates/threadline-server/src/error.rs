//! The one place where a failure of a receiver or a query API becomes an HTTP status.
//!
//! Handlers return [`ApiError`]; its [`IntoResponse`] picks the status and writes the message
//! as a `text/plain` body, so that a client learns what was wrong with its request. The OTLP
//! receivers answer with the same status and a `google.rpc.Status` body instead
//! ([`ApiError::into_otlp_response`]), as the OTLP/HTTP specification asks; the Jaeger query
//! APIs with the same status in Jaeger's error shapes ([`ApiError::into_jaeger_response`],
//! [`ApiError::into_jaeger_v3_response`]).

use axum::extract::rejection::BytesRejection;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use prost::Message;

use crate::store::StoreError;

/// `google.rpc.Status` without its `details`, which these errors never carry.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

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
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
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
            ApiError::PayloadTooLarge { .. } => RESOURCE_EXHAUSTED,
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
        let message = self.to_string();
        if json {
            let body = serde_json::json!({ "code": code, "message": message });
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        } else {
            let body = RpcStatus { code, message }.encode_to_vec();
            (
                status,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                body,
            )
                .into_response()
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}

//! gRPC-style span status: the 17 canonical codes, a message, and conversions from errors.

use std::borrow::Cow;
use std::fmt;

use crate::value::Str;

/// The 17 canonical gRPC status codes.
///
/// # Examples
///
/// ```
/// use threadline::StatusCode;
/// assert_eq!(StatusCode::from_i32(5), Some(StatusCode::NotFound));
/// assert_eq!(StatusCode::NotFound.name(), "NOT_FOUND");
/// assert_eq!("DEADLINE_EXCEEDED".parse::<StatusCode>(), Ok(StatusCode::DeadlineExceeded));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(u8)]
pub enum StatusCode {
    /// Not an error.
    #[default]
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error.
    Unknown = 2,
    /// The client specified an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity that a client attempted to create already exists.
    AlreadyExists = 6,
    /// The caller does not have permission.
    PermissionDenied = 7,
    /// Some resource has been exhausted.
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted.
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or supported.
    Unimplemented = 12,
    /// An internal invariant was broken.
    Internal = 13,
    /// The service is currently unavailable.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request lacks valid authentication credentials.
    Unauthenticated = 16,
}

const ALL_CODES: [StatusCode; 17] = [
    StatusCode::Ok,
    StatusCode::Cancelled,
    StatusCode::Unknown,
    StatusCode::InvalidArgument,
    StatusCode::DeadlineExceeded,
    StatusCode::NotFound,
    StatusCode::AlreadyExists,
    StatusCode::PermissionDenied,
    StatusCode::ResourceExhausted,
    StatusCode::FailedPrecondition,
    StatusCode::Aborted,
    StatusCode::OutOfRange,
    StatusCode::Unimplemented,
    StatusCode::Internal,
    StatusCode::Unavailable,
    StatusCode::DataLoss,
    StatusCode::Unauthenticated,
];

impl StatusCode {
    /// The code for a numeric value, if it is one of the 17.
    pub fn from_i32(code: i32) -> Option<Self> {
        usize::try_from(code)
            .ok()
            .and_then(|i| ALL_CODES.get(i).copied())
    }

    /// The numeric value.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The canonical upper-case name, e.g. `NOT_FOUND`.
    pub fn name(self) -> &'static str {
        match self {
            StatusCode::Ok => "OK",
            StatusCode::Cancelled => "CANCELLED",
            StatusCode::Unknown => "UNKNOWN",
            StatusCode::InvalidArgument => "INVALID_ARGUMENT",
            StatusCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            StatusCode::NotFound => "NOT_FOUND",
            StatusCode::AlreadyExists => "ALREADY_EXISTS",
            StatusCode::PermissionDenied => "PERMISSION_DENIED",
            StatusCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            StatusCode::FailedPrecondition => "FAILED_PRECONDITION",
            StatusCode::Aborted => "ABORTED",
            StatusCode::OutOfRange => "OUT_OF_RANGE",
            StatusCode::Unimplemented => "UNIMPLEMENTED",
            StatusCode::Internal => "INTERNAL",
            StatusCode::Unavailable => "UNAVAILABLE",
            StatusCode::DataLoss => "DATA_LOSS",
            StatusCode::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The gRPC code for an HTTP status, as gRPC's HTTP mapping defines it.
    pub fn from_http(status: u16) -> Self {
        match status {
            100..=399 => StatusCode::Ok,
            400 => StatusCode::InvalidArgument,
            401 => StatusCode::Unauthenticated,
            403 => StatusCode::PermissionDenied,
            404 => StatusCode::NotFound,
            409 => StatusCode::Aborted,
            429 => StatusCode::ResourceExhausted,
            499 => StatusCode::Cancelled,
            501 => StatusCode::Unimplemented,
            503 => StatusCode::Unavailable,
            504 => StatusCode::DeadlineExceeded,
            402..=498 => StatusCode::FailedPrecondition,
            _ => StatusCode::Internal,
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a status code name that is not one of the 17.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status code {0:?}")]
pub struct UnknownStatusCode(pub String);

impl std::str::FromStr for StatusCode {
    type Err = UnknownStatusCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_CODES
            .iter()
            .copied()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .or_else(|| s.parse::<i32>().ok().and_then(StatusCode::from_i32))
            .ok_or_else(|| UnknownStatusCode(s.to_string()))
    }
}

/// A span's completion status: a canonical code, a message and optional details.
///
/// # Examples
///
/// ```
/// use threadline::{Status, StatusCode};
/// let ok = Status::ok();
/// assert!(ok.is_ok());
/// let err = Status::new(StatusCode::NotFound, "no such user");
/// assert_eq!(err.canonical_code(), StatusCode::NotFound);
/// assert_eq!(err.to_json(), r#"{"code":5,"message":"no such user"}"#);
///
/// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "backend slow");
/// let status = Status::from_error(&io);
/// assert_eq!(status.canonical_code(), StatusCode::DeadlineExceeded);
/// assert_eq!(status.description(), "backend slow");
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Status {
    code: StatusCode,
    message: Str,
    details: Option<Str>,
}

impl Status {
    /// A status with a code and message.
    pub fn new(code: StatusCode, message: impl Into<Str>) -> Self {
        Status {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The OK status with no message (the seed API's `Status.as_ok()`).
    pub const fn ok() -> Self {
        Status {
            code: StatusCode::Ok,
            message: Cow::Borrowed(""),
            details: None,
        }
    }

    /// An `UNKNOWN` error status whose message is the error's display text, or a more specific
    /// code where the error is an I/O error whose kind maps to one.
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Self {
        let code = error
            .downcast_ref::<std::io::Error>()
            .map(|e| code_for_io(e.kind()))
            .unwrap_or(StatusCode::Unknown);
        let mut status = Status::new(code, error.to_string());
        if let Some(source) = error.source() {
            status.details = Some(Cow::Owned(format!("caused by: {source}")));
        }
        status
    }

    /// This status with details attached.
    pub fn with_details(mut self, details: impl Into<Str>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// The canonical code.
    pub fn canonical_code(&self) -> StatusCode {
        self.code
    }

    /// The message (the seed API's `description`).
    pub fn description(&self) -> &str {
        &self.message
    }

    /// The details, if any.
    pub fn details(&self) -> Option<&str> {
        self.details.as_deref()
    }

    /// Whether the code is `OK`.
    pub fn is_ok(&self) -> bool {
        self.code == StatusCode::Ok
    }

    /// The JSON form: `{"code":N,"message":"..."}`, with `"details"` when present.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(32 + self.message.len());
        out.push_str("{\"code\":");
        out.push_str(&self.code.as_i32().to_string());
        if !self.message.is_empty() {
            out.push_str(",\"message\":");
            crate::json::push_str(&mut out, &self.message);
        }
        if let Some(details) = &self.details {
            out.push_str(",\"details\":");
            crate::json::push_str(&mut out, details);
        }
        out.push('}');
        out
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl<E: std::error::Error + 'static> From<&E> for Status {
    fn from(error: &E) -> Self {
        Status::from_error(error)
    }
}

fn code_for_io(kind: std::io::ErrorKind) -> StatusCode {
    use std::io::ErrorKind as K;
    match kind {
        K::NotFound => StatusCode::NotFound,
        K::PermissionDenied => StatusCode::PermissionDenied,
        K::AlreadyExists => StatusCode::AlreadyExists,
        K::InvalidInput | K::InvalidData => StatusCode::InvalidArgument,
        K::TimedOut => StatusCode::DeadlineExceeded,
        K::Interrupted => StatusCode::Cancelled,
        K::ConnectionRefused | K::ConnectionReset | K::ConnectionAborted | K::NotConnected => {
            StatusCode::Unavailable
        }
        K::Unsupported => StatusCode::Unimplemented,
        K::OutOfMemory => StatusCode::ResourceExhausted,
        K::UnexpectedEof => StatusCode::OutOfRange,
        _ => StatusCode::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("query failed")]
    struct QueryError(#[source] std::io::Error);

    #[test]
    fn all_codes_round_trip_by_number_and_name() {
        for code in ALL_CODES {
            assert_eq!(StatusCode::from_i32(code.as_i32()), Some(code));
            assert_eq!(code.name().parse::<StatusCode>(), Ok(code));
        }
        assert_eq!(StatusCode::from_i32(17), None);
        assert_eq!(StatusCode::from_i32(-1), None);
        assert!("NOPE".parse::<StatusCode>().is_err());
    }

    #[test]
    fn status_from_custom_error_keeps_message_and_cause() {
        let err = QueryError(std::io::Error::other("disk on fire"));
        let status = Status::from_error(&err);
        assert_eq!(status.canonical_code(), StatusCode::Unknown);
        assert_eq!(status.description(), "query failed");
        assert_eq!(status.details(), Some("caused by: disk on fire"));
        assert!(!status.is_ok());
        assert_eq!(
            status.to_json(),
            r#"{"code":2,"message":"query failed","details":"caused by: disk on fire"}"#
        );
    }

    #[test]
    fn http_statuses_map_to_grpc_codes() {
        assert_eq!(StatusCode::from_http(200), StatusCode::Ok);
        assert_eq!(StatusCode::from_http(404), StatusCode::NotFound);
        assert_eq!(StatusCode::from_http(418), StatusCode::FailedPrecondition);
        assert_eq!(StatusCode::from_http(503), StatusCode::Unavailable);
        assert_eq!(StatusCode::from_http(500), StatusCode::Internal);
    }
}

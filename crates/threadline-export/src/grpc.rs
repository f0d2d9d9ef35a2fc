//! The gRPC transport of the OTLP exporter (`grpc` feature): a tonic `TraceService/Export`
//! client driven by a current-thread tokio runtime that belongs to the exporter alone.
//!
//! The runtime only ever runs inside [`GrpcTransport::send`], on the thread that calls it (the
//! batch processor's export thread), so the application needs no async runtime of its own and
//! never waits for the backend.
//!
//! Retries follow the OTLP specification's gRPC rules: `CANCELLED`, `DEADLINE_EXCEEDED`,
//! `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE` and `DATA_LOSS` are retried with the same capped,
//! jittered exponential backoff as the HTTP transport; `RESOURCE_EXHAUSTED` is retried only when
//! the server attached a `google.rpc.RetryInfo`, whose delay is then honoured. Any other code
//! fails the batch at once, and its message is logged once per code. All tries and waits of
//! one send fit in the exporter's timeout.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use threadline::ExportError;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataValue, MetadataKey, MetadataMap};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::otlp::Compression;
use crate::transport::{Diagnostics, RetryPolicy, MESSAGE_LIMIT};

/// How many distinct partial-success messages are remembered, so that a server that puts a
/// span id in each message cannot grow the set without bound.
const PARTIAL_MESSAGES_KEPT: usize = 64;

/// How close to the deadline a `CANCELLED` or `DEADLINE_EXCEEDED` must arrive to be taken
/// as the server enforcing our `grpc-timeout` (which it reads rounded to its own units).
const DEADLINE_SLACK: Duration = Duration::from_millis(20);

/// What one try came to.
enum Attempt {
    Delivered,
    Retry {
        error: ExportError,
        retry_after: Option<Duration>,
        /// The server ended the call with `CANCELLED` or `DEADLINE_EXCEEDED`.
        deadline: bool,
    },
    Fatal(ExportError),
}

/// Everything [`GrpcTransport::new`] needs.
pub(crate) struct GrpcSettings {
    pub(crate) endpoint: String,
    pub(crate) timeout: Duration,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) compression: Compression,
    pub(crate) retry: RetryPolicy,
    pub(crate) diagnostics: Diagnostics,
}

/// One endpoint, its lazily connected channel and the runtime that drives it.
pub(crate) struct GrpcTransport {
    /// `None` only while being dropped.
    runtime: Option<tokio::runtime::Runtime>,
    client: TraceServiceClient<Channel>,
    endpoint: String,
    timeout: Duration,
    metadata: MetadataMap,
    retry: RetryPolicy,
    diagnostics: Diagnostics,
    /// Codes whose rejection message was already logged.
    reported: HashSet<Code>,
    partial_messages: HashSet<String>,
    rejected_spans: u64,
}

impl std::fmt::Debug for GrpcTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTransport")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("rejected_spans", &self.rejected_spans)
            .finish_non_exhaustive()
    }
}

impl GrpcTransport {
    /// A transport to `settings.endpoint`; nothing is connected until the first send.
    pub(crate) fn new(settings: GrpcSettings) -> Result<Self, String> {
        let GrpcSettings {
            endpoint,
            timeout,
            headers,
            compression,
            retry,
            diagnostics,
        } = settings;
        if endpoint.starts_with("https://") {
            return Err(format!(
                "endpoint {endpoint:?} needs TLS, which threadline-export does not support yet; use http://"
            ));
        }
        if !crate::env::is_http_url(&endpoint) {
            return Err(format!("endpoint {endpoint:?} is not an http:// URL"));
        }
        if timeout.is_zero() {
            return Err("the timeout must be positive".to_string());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot create the grpc exporter's runtime: {e}"))?;
        let channel = Endpoint::from_shared(endpoint.clone())
            .and_then(|e| e.user_agent(concat!("threadline-export/", env!("CARGO_PKG_VERSION"))))
            .map_err(|e| format!("endpoint {endpoint:?} is not a valid grpc endpoint: {e}"))?
            .connect_timeout(timeout);
        // The channel spawns its workers on the runtime it is created in: ours, which runs
        // them whenever a send drives it.
        let channel = {
            let _entered = runtime.enter();
            channel.connect_lazy()
        };
        let mut client = TraceServiceClient::new(channel);
        if compression == Compression::Gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        let metadata = metadata(headers, &diagnostics);
        Ok(GrpcTransport {
            runtime: Some(runtime),
            client,
            endpoint,
            timeout,
            metadata,
            retry,
            diagnostics,
            reported: HashSet::new(),
            partial_messages: HashSet::new(),
            rejected_spans: 0,
        })
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Spans the server reported as rejected in partial-success answers, in total.
    pub(crate) fn rejected_spans(&self) -> u64 {
        self.rejected_spans
    }

    /// Exports `request`, retrying as the [module](self) describes, within the timeout.
    pub(crate) fn send(&mut self, request: ExportTraceServiceRequest) -> Result<(), ExportError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            // Blocking here would stall (and tokio would refuse) the caller's runtime.
            return Err(ExportError::Transport(
                "the grpc exporter was called from inside an async runtime; it must run on the export thread".to_string(),
            ));
        }
        let deadline = Instant::now() + self.timeout;
        let mut retries = 0u32;
        // What the backend said last: when the budget runs out during a try that got no
        // answer, this tells more than "timed out" (say, that the backend cannot be reached).
        let mut said: Option<ExportError> = None;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(said.unwrap_or(ExportError::Timeout(self.timeout)));
            }
            let (error, retry_after, server_deadline) = match self.attempt(&request, remaining) {
                Attempt::Delivered => return Ok(()),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry {
                    error,
                    retry_after,
                    deadline,
                } => (error, retry_after, deadline),
            };
            // The server enforces the `grpc-timeout` we sent, so it may end a call that ran
            // out of our budget a moment before our own timer does: that is a timeout too.
            let error = if server_deadline
                && deadline.saturating_duration_since(Instant::now()) < DEADLINE_SLACK
            {
                ExportError::Timeout(self.timeout)
            } else {
                error
            };
            let error = match error {
                ExportError::Timeout(_) => said.take().unwrap_or(error),
                error => error,
            };
            let wait = match retry_after {
                Some(wait) if !wait.is_zero() => wait,
                _ => self.retry.backoff(retries),
            };
            retries = retries.saturating_add(1);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if wait >= remaining {
                return Err(error);
            }
            if !matches!(error, ExportError::Timeout(_)) {
                said = Some(error);
            }
            std::thread::sleep(wait);
        }
    }

    fn attempt(&mut self, request: &ExportTraceServiceRequest, budget: Duration) -> Attempt {
        let Some(runtime) = self.runtime.as_ref() else {
            return Attempt::Fatal(ExportError::Shutdown);
        };
        let mut call = tonic::Request::new(request.clone());
        *call.metadata_mut() = self.metadata.clone();
        // Tells the server how long we wait, so it can give up too.
        call.set_timeout(budget);
        let mut client = self.client.clone();
        let outcome =
            runtime.block_on(async { tokio::time::timeout(budget, client.export(call)).await });
        match outcome {
            Err(_elapsed) => Attempt::Retry {
                error: ExportError::Timeout(self.timeout),
                retry_after: None,
                deadline: false,
            },
            Ok(Ok(response)) => {
                self.partial_success(response.into_inner());
                Attempt::Delivered
            }
            Ok(Err(status)) => self.classify(&status),
        }
    }

    fn classify(&mut self, status: &Status) -> Attempt {
        let code = status.code();
        let message = cut(status.message().trim());
        let described = if message.is_empty() {
            format!("grpc status {}", code_name(code))
        } else {
            format!("grpc status {}: {message}", code_name(code))
        };
        let retry_info = retry_delay(status.details());
        let retryable = match code {
            Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss => true,
            // The specification: retry only when the server says recovery is possible.
            Code::ResourceExhausted => retry_info.is_some(),
            _ => false,
        };
        if retryable {
            let error = if code == Code::Unavailable {
                ExportError::Transport(format!("cannot reach {}: {described}", self.endpoint))
            } else {
                ExportError::Transport(described)
            };
            return Attempt::Retry {
                error,
                retry_after: retry_info,
                deadline: matches!(code, Code::Cancelled | Code::DeadlineExceeded),
            };
        }
        if self.reported.insert(code) {
            self.diagnostics.warn(&format!(
                "export rejected, endpoint = {}, grpc status = {}, message = {message:?}",
                self.endpoint,
                code_name(code)
            ));
        }
        Attempt::Fatal(ExportError::Rejected(described))
    }

    fn partial_success(&mut self, response: ExportTraceServiceResponse) {
        let Some(partial) = response.partial_success else {
            return;
        };
        let rejected = u64::try_from(partial.rejected_spans).unwrap_or(0);
        if rejected == 0 && partial.error_message.is_empty() {
            return;
        }
        self.rejected_spans = self.rejected_spans.saturating_add(rejected);
        let message = cut(partial.error_message.trim());
        if self.partial_messages.len() < PARTIAL_MESSAGES_KEPT
            && self.partial_messages.insert(message.clone())
        {
            self.diagnostics.warn(&format!(
                "export partly rejected, endpoint = {}, rejected_spans = {rejected}, message = {message:?}",
                self.endpoint
            ));
        }
    }
}

impl Drop for GrpcTransport {
    fn drop(&mut self) {
        // Unlike a plain drop, this does not panic when the exporter happens to be dropped
        // inside some other async runtime, and waits for nothing.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The configured headers as gRPC metadata, leaving out what gRPC itself owns and what
/// metadata cannot carry (with a warning).
fn metadata(headers: Vec<(String, String)>, diagnostics: &Diagnostics) -> MetadataMap {
    let mut map = MetadataMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("grpc-") || matches!(lower.as_str(), "content-type" | "te") {
            diagnostics.warn(&format!(
                "header {name:?} is reserved by grpc; not sending it"
            ));
            continue;
        }
        let key = MetadataKey::from_bytes(lower.as_bytes());
        let value = value.parse::<AsciiMetadataValue>();
        match (key, value) {
            (Ok(key), Ok(value)) => {
                map.insert(key, value);
            }
            _ => diagnostics.warn(&format!(
                "header {name:?} cannot be sent as grpc metadata (binary `-bin` keys and control characters are not supported); not sending it"
            )),
        }
    }
    map
}

/// At most [`MESSAGE_LIMIT`] bytes, cut on a character boundary.
fn cut(message: &str) -> String {
    let mut end = message.len().min(MESSAGE_LIMIT);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_string()
}

/// The specification's name of a code, as servers and logs spell it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `google.rpc.Status`, as carried in `grpc-status-details-bin`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
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

/// The delay of a `RetryInfo` among the status details, if the server sent one; a negative
/// delay counts as none to wait.
fn retry_delay(details: &[u8]) -> Option<Duration> {
    if details.is_empty() {
        return None;
    }
    let status = RpcStatus::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|any| any.type_url == RETRY_INFO_TYPE)?;
    let info = RetryInfo::decode(info.value.as_slice()).ok()?;
    let delay = info.retry_delay.unwrap_or_default();
    let seconds = u64::try_from(delay.seconds).unwrap_or(0);
    let nanos = u32::try_from(delay.nanos).unwrap_or(0).min(999_999_999);
    Some(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(any: Vec<ProtoAny>) -> Vec<u8> {
        RpcStatus {
            code: Code::ResourceExhausted as i32,
            message: "slow down".into(),
            details: any,
        }
        .encode_to_vec()
    }

    fn retry_info(seconds: i64, nanos: i32) -> ProtoAny {
        ProtoAny {
            type_url: RETRY_INFO_TYPE.into(),
            value: RetryInfo {
                retry_delay: Some(ProtoDuration { seconds, nanos }),
            }
            .encode_to_vec(),
        }
    }

    #[test]
    fn retry_info_is_read_from_status_details() {
        assert_eq!(retry_delay(&[]), None);
        assert_eq!(retry_delay(&details(Vec::new())), None);
        let other = ProtoAny {
            type_url: "type.googleapis.com/google.rpc.DebugInfo".into(),
            value: vec![1, 2, 3],
        };
        assert_eq!(
            retry_delay(&details(vec![other, retry_info(2, 500_000_000)])),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            retry_delay(&details(vec![retry_info(-1, 0)])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_delay(&[0xff, 0xff]), None);
    }

    fn transport(diagnostics: Diagnostics) -> GrpcTransport {
        GrpcTransport::new(GrpcSettings {
            endpoint: "http://127.0.0.1:4317".into(),
            timeout: Duration::from_secs(1),
            headers: Vec::new(),
            compression: Compression::None,
            retry: RetryPolicy::default(),
            diagnostics,
        })
        .unwrap()
    }

    #[test]
    fn codes_are_classified_as_the_specification_says() {
        let mut t = transport(Diagnostics::new(|_| {}));
        for code in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            assert!(
                matches!(t.classify(&Status::new(code, "x")), Attempt::Retry { .. }),
                "{code:?}"
            );
        }
        for code in [
            Code::Unknown,
            Code::InvalidArgument,
            Code::NotFound,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::Unimplemented,
            Code::Internal,
            Code::ResourceExhausted,
        ] {
            assert!(
                matches!(t.classify(&Status::new(code, "x")), Attempt::Fatal(ExportError::Rejected(m)) if m.contains(code_name(code))),
                "{code:?}"
            );
        }
        let with_info = Status::with_details(
            Code::ResourceExhausted,
            "slow down",
            details(vec![retry_info(3, 0)]).into(),
        );
        assert!(matches!(
            t.classify(&with_info),
            Attempt::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(3)
        ));
    }

    #[test]
    fn reserved_and_invalid_headers_are_left_out() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let diagnostics = Diagnostics::new(move |m| sink.lock().unwrap().push(m.to_string()));
        let map = metadata(
            vec![
                ("X-Team".into(), "key".into()),
                ("grpc-timeout".into(), "1S".into()),
                ("content-type".into(), "text/plain".into()),
                ("x-name".into(), "caf\u{e9}".into()),
                ("x-trace-bin".into(), "AAEC".into()),
                ("x-line".into(), "a\nb".into()),
            ],
            &diagnostics,
        );
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("x-team").unwrap(), "key");
        assert_eq!(
            map.get("x-name").unwrap().as_bytes(),
            "caf\u{e9}".as_bytes()
        );
        assert_eq!(seen.lock().unwrap().len(), 4, "{:?}", seen.lock().unwrap());
    }

    #[test]
    fn refuses_unusable_endpoints() {
        let new = |endpoint: &str, timeout| {
            GrpcTransport::new(GrpcSettings {
                endpoint: endpoint.into(),
                timeout,
                headers: Vec::new(),
                compression: Compression::Gzip,
                retry: RetryPolicy::default(),
                diagnostics: Diagnostics::new(|_| {}),
            })
        };
        let second = Duration::from_secs(1);
        assert!(new("http://localhost:4317", second).is_ok());
        assert!(new("https://api.honeycomb.io:443", second)
            .unwrap_err()
            .contains("TLS"));
        assert!(new("localhost:4317", second)
            .unwrap_err()
            .contains("not an http"));
        assert!(new("http://localhost:4317", Duration::ZERO).is_err());
    }
}

//! Receivers: one module per wire protocol, each decoding requests into
//! [`SpanData`](threadline::SpanData) with `threadline-wire` and appending them to the store.
//!
//! Every receiver works through an [`Intake`]: the store, the body limit, the receiver's own
//! [`ReceiverStats`] and the server-wide [`Admission`], which bounds the batches being decoded
//! and appended at once across all receivers. A batch that finds the bound full is refused at
//! once (HTTP `429` with `Retry-After`, gRPC `RESOURCE_EXHAUSTED`, a UDP datagram dropped) and
//! counted as throttled, so that a slow store makes senders back off instead of piling up
//! work in the server.

pub mod jaeger_http;
pub mod jaeger_udp;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod zipkin;

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderMap};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use threadline::SpanData;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::store::{append_from_task, SpanStore};

/// What one receiver did since it started, shared by its request handlers.
///
/// Rejected spans and refused or throttled requests are counted so that nothing is lost
/// silently: `/metrics` shows these counts, and the command prints them when it stops.
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
    requests_throttled: AtomicU64,
}

/// A snapshot of [`ReceiverStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverCounters {
    /// Spans decoded and stored.
    pub spans_accepted: u64,
    /// Spans that could not be decoded (their batch's valid spans were still stored).
    pub spans_rejected: u64,
    /// Requests answered with an error status (400, 413, 415, 503), and UDP datagrams nothing
    /// could be read from.
    pub requests_refused: u64,
    /// Requests refused because the server had too many batches in flight (HTTP 429, gRPC
    /// `RESOURCE_EXHAUSTED`), and UDP datagrams dropped for the same reason.
    pub requests_throttled: u64,
}

impl ReceiverStats {
    /// The counts now.
    pub fn snapshot(&self) -> ReceiverCounters {
        ReceiverCounters {
            spans_accepted: self.spans_accepted.load(Ordering::Relaxed),
            spans_rejected: self.spans_rejected.load(Ordering::Relaxed),
            requests_refused: self.requests_refused.load(Ordering::Relaxed),
            requests_throttled: self.requests_throttled.load(Ordering::Relaxed),
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

    pub(crate) fn count_throttled(&self) {
        self.requests_throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed request: throttled when the server was overloaded, refused otherwise.
    pub(crate) fn count_failure(&self, error: &ApiError) {
        if matches!(error, ApiError::Overloaded { .. }) {
            self.count_throttled();
        } else {
            self.count_refused();
        }
    }
}

/// The default bound of [`Admission`]: how many batches all receivers together decode and
/// append at once.
pub const DEFAULT_MAX_BATCHES_IN_FLIGHT: usize = 64;

/// How long an overloaded receiver asks senders to wait before retrying, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The server-wide bound on batches being decoded and appended, shared by every receiver.
///
/// A receiver takes a permit per batch (an HTTP request, a gRPC call, a UDP datagram) and
/// holds it until the batch is stored; when none is left the batch is refused at once rather
/// than queued, since the senders can retry (or, over UDP, could not be told to wait anyway).
///
/// # Examples
///
/// ```
/// use threadline_server::receive::Admission;
///
/// let admission = Admission::new(2);
/// assert_eq!(admission.available(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Admission {
    permits: Arc<Semaphore>,
}

impl Admission {
    /// A bound of `max_batches_in_flight` batches (at least one).
    pub fn new(max_batches_in_flight: usize) -> Self {
        Admission {
            permits: Arc::new(Semaphore::new(max_batches_in_flight.max(1))),
        }
    }

    /// How many more batches could start now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }
}

impl Default for Admission {
    fn default() -> Self {
        Admission::new(DEFAULT_MAX_BATCHES_IN_FLIGHT)
    }
}

/// What every receiver works with: where spans go, the largest body, its counters, and the
/// server-wide [`Admission`].
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
#[derive(Clone)]
pub struct Intake {
    store: Arc<dyn SpanStore>,
    max_body_bytes: usize,
    stats: Arc<ReceiverStats>,
    admission: Admission,
}

impl Intake {
    /// An intake appending to `store`, reading bodies of at most `max_body_bytes`, counting
    /// in `stats`, and taking a permit of `admission` per batch.
    pub fn new(
        store: Arc<dyn SpanStore>,
        max_body_bytes: usize,
        stats: Arc<ReceiverStats>,
        admission: Admission,
    ) -> Self {
        Intake {
            store,
            max_body_bytes,
            stats,
            admission,
        }
    }

    /// The receiver's counters.
    pub fn stats(&self) -> &Arc<ReceiverStats> {
        &self.stats
    }

    /// A permit for one batch, or [`ApiError::Overloaded`] when the bound is full.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.admission.try_admit().ok_or(ApiError::Overloaded {
            retry_after_secs: RETRY_AFTER_SECS,
        })
    }

    /// Stores the decoded spans of a batch (see [`SpanStore::start_append`]) and counts them
    /// with the `rejected` ones.
    pub(crate) async fn append(
        &self,
        spans: Vec<SpanData>,
        rejected: usize,
    ) -> Result<(), ApiError> {
        let accepted = spans.len();
        if accepted > 0 {
            if let Err(error) = append_from_task(&self.store, spans).await {
                tracing::error!(error = %error, spans = accepted, "spans not stored");
                return Err(error.into());
            }
        }
        self.stats.count_spans(accepted, rejected);
        Ok(())
    }
}

/// How an HTTP receiver writes a refusal before its handler runs (plain text, or an OTLP
/// `google.rpc.Status` in the request's encoding).
pub(crate) type Refusal = fn(ApiError, &HeaderMap) -> Response;

/// What the admission middleware of an HTTP receiver needs.
#[derive(Clone)]
struct Gate {
    intake: Intake,
    refuse: Refusal,
}

/// The routes of an HTTP receiver: `handler` answering `POST path`, with the intake as state
/// and its body limit. Each request takes a permit of the intake's [`Admission`] before its
/// body is read, so that an overloaded server refuses a request without reading it; the
/// permit is held until the handler has answered.
pub(crate) fn http_routes<H, T>(
    path: &'static str,
    handler: H,
    intake: Intake,
    refuse: Refusal,
) -> Router
where
    H: Handler<T, Intake>,
    T: 'static,
{
    let gate = Gate {
        intake: intake.clone(),
        refuse,
    };
    Router::new()
        .route(path, post(handler))
        .layer(DefaultBodyLimit::max(intake.max_body_bytes))
        .route_layer(middleware::from_fn_with_state(gate, admit))
        .with_state(intake)
}

async fn admit(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    match gate.intake.admit() {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(error) => {
            gate.intake.stats().count_throttled();
            (gate.refuse)(error, request.headers())
        }
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

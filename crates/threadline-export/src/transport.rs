//! The one HTTP transport every exporter of this crate uses: a blocking POST with bounded
//! retries.
//!
//! # Retry policy
//!
//! - Retried: connection errors, timeouts, and the statuses 429, 502, 503 and 504 (the
//!   OpenTelemetry specification's retryable set). The wait before the next try honours
//!   `Retry-After` (seconds or an HTTP-date) and is otherwise an exponential backoff with full
//!   jitter: a random time up to `initial_backoff * 2^attempt`, capped at `max_backoff`.
//! - Not retried: any other status. The batch fails with [`ExportError::Rejected`] carrying
//!   the status and the first 200 bytes of the server's message, and that message is logged
//!   once per distinct status, not once per batch.
//! - Bounded: all tries and waits of one [`HttpTransport::send`] fit in the exporter's timeout.
//!   A wait that would end after it is not started; the last error is returned at once.
//!
//! A down backend therefore costs the export thread at most one timeout per batch and never
//! touches the application's threads.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::fmt;
use std::hash::BuildHasher;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use threadline::ExportError;

/// How many bytes of a rejecting server's answer are kept for the error and the log.
pub const MESSAGE_LIMIT: usize = 200;

/// Where the transport reports what an operator should see (a rejecting server's message).
///
/// By default warnings go to standard error as `threadline: warning: ...`, silenced by
/// `THREADLINE_LOG=off` like the SDK's own; tests and applications can route them elsewhere.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use threadline_export::Diagnostics;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let diagnostics = Diagnostics::new(move |message| sink.lock().unwrap().push(message.to_string()));
/// diagnostics.warn("backend said no");
/// assert_eq!(seen.lock().unwrap().len(), 1);
/// ```
#[derive(Clone)]
pub struct Diagnostics(Arc<dyn Fn(&str) + Send + Sync>);

impl Diagnostics {
    /// Sends warnings to `sink`.
    pub fn new(sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Diagnostics(Arc::new(sink))
    }

    /// Sends warnings to standard error unless `THREADLINE_LOG` is `off` or `none`.
    pub fn stderr() -> Self {
        Diagnostics::new(|message| {
            if !matches!(
                std::env::var("THREADLINE_LOG").as_deref(),
                Ok("off") | Ok("none")
            ) {
                eprintln!("threadline: warning: {message}");
            }
        })
    }

    /// Reports one warning.
    pub fn warn(&self, message: &str) {
        (self.0)(message)
    }
}

impl Default for Diagnostics {
    fn default() -> Self {
        Diagnostics::stderr()
    }
}

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Diagnostics")
    }
}

/// The backoff between retries.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let policy = threadline_export::RetryPolicy::default();
/// assert_eq!(policy.initial_backoff, Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The longest first wait; each try doubles it.
    pub initial_backoff: Duration,
    /// The longest wait between two tries, before jitter.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0 for the first retry): a uniformly random
    /// time up to the capped exponential bound ("full jitter").
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let bound = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max_backoff);
        let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(random_u64() % (nanos + 1))
    }
}

/// A fresh random number; each `RandomState` is seeded differently, which is all jitter needs.
fn random_u64() -> u64 {
    RandomState::new().hash_one(Instant::now())
}

/// What one try came to.
enum Attempt {
    Delivered,
    /// Worth another try, after `retry_after` when the server said so.
    Retry {
        error: ExportError,
        retry_after: Option<Duration>,
    },
    Fatal(ExportError),
}

/// A blocking HTTP POST to one URL with fixed headers, retried within a time budget.
///
/// The building block of [`crate::ZipkinExporter`] and [`crate::OtlpExporter`]; public so that
/// other exporters share the same retry and timeout behaviour.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadline_export::HttpTransport;
///
/// let transport = HttpTransport::new(
///     "http://localhost:9411/api/v2/spans",
///     Duration::from_secs(10),
///     vec![("content-type".into(), "application/json".into())],
/// )
/// .unwrap();
/// assert_eq!(transport.url(), "http://localhost:9411/api/v2/spans");
/// ```
#[derive(Debug)]
pub struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    timeout: Duration,
    headers: Vec<(String, String)>,
    retry: RetryPolicy,
    diagnostics: Diagnostics,
    /// Statuses whose rejection message was already logged.
    reported: HashSet<u16>,
}

impl HttpTransport {
    /// A transport posting to `url` with `headers` on every request, each [`send`] bounded by
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// A message when `url` is not an `http://` URL (`https://` needs TLS, which this build
    /// does not have) or `timeout` is zero.
    ///
    /// [`send`]: HttpTransport::send
    pub fn new(
        url: impl Into<String>,
        timeout: Duration,
        headers: Vec<(String, String)>,
    ) -> Result<Self, String> {
        let url = url.into();
        if url.starts_with("https://") {
            return Err(format!(
                "endpoint {url:?} needs TLS, which threadline-export does not support yet; use http://"
            ));
        }
        if !crate::env::is_http_url(&url) {
            return Err(format!("endpoint {url:?} is not an http:// URL"));
        }
        if timeout.is_zero() {
            return Err("the timeout must be positive".to_string());
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("threadline-export/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(HttpTransport {
            agent,
            url,
            timeout,
            headers,
            retry: RetryPolicy::default(),
            diagnostics: Diagnostics::default(),
            reported: HashSet::new(),
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces where warnings go.
    pub fn with_diagnostics(mut self, diagnostics: Diagnostics) -> Self {
        self.diagnostics = diagnostics;
        self
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The time budget of one [`send`](HttpTransport::send), retries included.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Posts `body`, retrying as the [module](self) describes, and returns within the timeout.
    ///
    /// # Errors
    ///
    /// - [`ExportError::Timeout`] when the backend did not answer before the budget ran out;
    /// - [`ExportError::Transport`] when it could not be reached, or kept answering with a
    ///   retryable status (429, 502, 503, 504) until the budget ran out;
    /// - [`ExportError::Rejected`] for any other non-2xx status, with the server's message.
    pub fn send(&mut self, body: &[u8]) -> Result<(), ExportError> {
        let deadline = Instant::now() + self.timeout;
        let mut retries = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ExportError::Timeout(self.timeout));
            }
            let (error, retry_after) = match self.attempt(body, remaining) {
                Attempt::Delivered => return Ok(()),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry { error, retry_after } => (error, retry_after),
            };
            // A `Retry-After: 0` (or a date already past) still backs off, so a server that
            // says "now" repeatedly is not hammered in a tight loop.
            let wait = match retry_after {
                Some(wait) if !wait.is_zero() => wait,
                _ => self.retry.backoff(retries),
            };
            retries = retries.saturating_add(1);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if wait >= remaining {
                // Waiting would overrun the budget: give up now rather than block for nothing.
                return Err(error);
            }
            std::thread::sleep(wait);
        }
    }

    fn attempt(&mut self, body: &[u8], budget: Duration) -> Attempt {
        let mut request = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(budget))
            .build();
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = match request.send(body) {
            Ok(response) => response,
            Err(error) => return self.classify(error),
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            // Drain a little so the connection can be reused; the answer itself is not needed.
            let _ = response
                .body_mut()
                .as_reader()
                .take(64 * 1024)
                .read_to_end(&mut Vec::new());
            return Attempt::Delivered;
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut raw = Vec::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(MESSAGE_LIMIT as u64)
            .read_to_end(&mut raw);
        let message = String::from_utf8_lossy(&raw).trim().to_string();
        let described = if message.is_empty() {
            format!("http status {status}")
        } else {
            format!("http status {status}: {message}")
        };
        if matches!(status, 429 | 502 | 503 | 504) {
            return Attempt::Retry {
                error: ExportError::Transport(described),
                retry_after,
            };
        }
        if self.reported.insert(status) {
            self.diagnostics.warn(&format!(
                "export rejected, url = {}, status = {status}, message = {message:?}",
                self.url
            ));
        }
        Attempt::Fatal(ExportError::Rejected(described))
    }

    fn classify(&self, error: ureq::Error) -> Attempt {
        let retry = |error| Attempt::Retry {
            error,
            retry_after: None,
        };
        match error {
            ureq::Error::Timeout(_) => retry(ExportError::Timeout(self.timeout)),
            ureq::Error::Io(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                retry(ExportError::Timeout(self.timeout))
            }
            e @ (ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_)) => retry(ExportError::Transport(format!(
                "cannot reach {}: {e}",
                self.url
            ))),
            e => Attempt::Fatal(ExportError::Transport(format!(
                "request to {} failed: {e}",
                self.url
            ))),
        }
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date; a date in the past means no wait.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = SystemTime::now() + Duration::from_secs(30);
        let wait = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(wait > Duration::from_secs(28) && wait <= Duration::from_secs(30));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
        };
        for attempt in 0..40 {
            let bound = Duration::from_millis(100 << attempt.min(2));
            assert!(policy.backoff(attempt) <= bound);
        }
        let waits: HashSet<Duration> = (0..20).map(|_| policy.backoff(3)).collect();
        assert!(waits.len() > 1, "no jitter: {waits:?}");
    }

    #[test]
    fn refuses_unusable_endpoints() {
        let ok = |url: &str| HttpTransport::new(url, Duration::from_secs(1), Vec::new());
        assert!(ok("http://localhost:4318/v1/traces").is_ok());
        assert!(ok("https://api.honeycomb.io/v1/traces")
            .unwrap_err()
            .contains("TLS"));
        assert!(ok("localhost:4318").unwrap_err().contains("not an http"));
        assert!(HttpTransport::new("http://x", Duration::ZERO, Vec::new()).is_err());
    }
}

//! The Zipkin exporter: Zipkin v2 spans over HTTP, JSON by default or proto3.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_EXPORTER_ZIPKIN_ENDPOINT` | the full URL spans are posted to | `http://localhost:9411/api/v2/spans` |
//! | `OTEL_EXPORTER_ZIPKIN_TIMEOUT` | milliseconds one export may take, retries included | 10000 |
//!
//! The service name is the tracer's (`OTEL_SERVICE_NAME`, or
//! `TracerBuilder::service_name`): every span carries its resource, which the codec writes as
//! `localEndpoint.serviceName`.

use std::time::Duration;

use threadline::{ExportError, Exporter, SpanData};
use threadline_wire::zipkin;

use crate::env::{Reader, DEFAULT_TIMEOUT};
use crate::transport::{Diagnostics, HttpTransport, RetryPolicy};

/// The default Zipkin collector URL.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:9411/api/v2/spans";

/// How spans are encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZipkinEncoding {
    /// A JSON array (`application/json`), what every Zipkin-compatible backend reads.
    #[default]
    Json,
    /// A proto3 `ListOfSpans` (`application/x-protobuf`).
    Proto,
}

/// Where and how the Zipkin exporter sends spans.
///
/// # Examples
///
/// ```
/// use threadline_export::{ZipkinConfig, ZipkinEncoding};
///
/// // Seed 000's options: host, port and path.
/// let config = ZipkinConfig::from_parts("zipkin.local", 9411, "/api/v2/spans");
/// assert_eq!(config.endpoint, "http://zipkin.local:9411/api/v2/spans");
///
/// // Or a full URL, in proto3.
/// let config = ZipkinConfig {
///     endpoint: "http://127.0.0.1:9411/api/v2/spans".into(),
///     encoding: ZipkinEncoding::Proto,
///     ..ZipkinConfig::default()
/// };
/// assert!(threadline_export::ZipkinExporter::new(config).is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct ZipkinConfig {
    /// The full URL spans are posted to.
    pub endpoint: String,
    /// JSON or proto3.
    pub encoding: ZipkinEncoding,
    /// The time one export may take, retries included.
    pub timeout: Duration,
    /// The backoff between retries.
    pub retry: RetryPolicy,
    /// Where a rejecting server's message is reported.
    pub diagnostics: Diagnostics,
    /// One message per invalid environment value ([`ZipkinConfig::from_lookup`]); printed by
    /// [`ZipkinExporter::from_env`].
    pub warnings: Vec<String>,
}

impl Default for ZipkinConfig {
    fn default() -> Self {
        ZipkinConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            encoding: ZipkinEncoding::Json,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            diagnostics: Diagnostics::default(),
            warnings: Vec::new(),
        }
    }
}

impl ZipkinConfig {
    /// The URL from a host, a port (Zipkin's is 9411) and a path (`/api/v2/spans`).
    pub fn from_parts(host: &str, port: u16, path: &str) -> Self {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        ZipkinConfig {
            endpoint: format!("http://{host}:{port}{path}"),
            ..ZipkinConfig::default()
        }
    }

    /// Reads `OTEL_EXPORTER_ZIPKIN_*` from the process environment.
    pub fn from_env() -> Self {
        ZipkinConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `OTEL_EXPORTER_ZIPKIN_*` through `lookup`; invalid values fall back to the
    /// defaults and leave a message in `warnings`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_export::ZipkinConfig;
    ///
    /// let config = ZipkinConfig::from_lookup(|name| match name {
    ///     "OTEL_EXPORTER_ZIPKIN_TIMEOUT" => Some("soon".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(config.timeout.as_millis(), 10_000);
    /// assert!(config.warnings[0].contains("OTEL_EXPORTER_ZIPKIN_TIMEOUT"));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut reader = Reader::new(&lookup);
        let name = "OTEL_EXPORTER_ZIPKIN_ENDPOINT";
        let endpoint = reader
            .string(name)
            .and_then(|v| reader.url(name, &v, DEFAULT_ENDPOINT))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let timeout = reader.timeout(&["OTEL_EXPORTER_ZIPKIN_TIMEOUT"]);
        ZipkinConfig {
            endpoint,
            timeout,
            warnings: reader.warnings,
            ..ZipkinConfig::default()
        }
    }
}

/// Sends spans to a Zipkin collector (or Jaeger, Tempo, anything that reads Zipkin v2).
///
/// Each [`export`](Exporter::export) is one POST, retried on connection errors, timeouts and
/// 429/502/503/504 within [`ZipkinConfig::timeout`]; see [`crate::transport`].
#[derive(Debug)]
pub struct ZipkinExporter {
    transport: HttpTransport,
    encoding: ZipkinEncoding,
    shut_down: bool,
}

impl ZipkinExporter {
    /// An exporter with `config`.
    ///
    /// # Errors
    ///
    /// A message when the endpoint is not an `http://` URL or the timeout is zero.
    pub fn new(config: ZipkinConfig) -> Result<Self, String> {
        let content_type = match config.encoding {
            ZipkinEncoding::Json => zipkin::json::CONTENT_TYPE,
            ZipkinEncoding::Proto => zipkin::proto::CONTENT_TYPE,
        };
        let transport = HttpTransport::new(
            config.endpoint,
            config.timeout,
            vec![("content-type".to_string(), content_type.to_string())],
        )?
        .with_retry_policy(config.retry)
        .with_diagnostics(config.diagnostics);
        Ok(ZipkinExporter {
            transport,
            encoding: config.encoding,
            shut_down: false,
        })
    }

    /// An exporter configured from `OTEL_EXPORTER_ZIPKIN_*`, printing a warning for each
    /// invalid value.
    ///
    /// # Errors
    ///
    /// As [`ZipkinExporter::new`].
    pub fn from_env() -> Result<Self, String> {
        let config = ZipkinConfig::from_env();
        for warning in &config.warnings {
            config.diagnostics.warn(warning);
        }
        ZipkinExporter::new(config)
    }

    /// The URL spans are posted to.
    pub fn endpoint(&self) -> &str {
        self.transport.url()
    }
}

impl Exporter for ZipkinExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::Shutdown);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let body = match self.encoding {
            ZipkinEncoding::Json => zipkin::json::encode(batch),
            ZipkinEncoding::Proto => zipkin::proto::encode(batch),
        };
        self.transport.send(&body)
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        Ok(())
    }
}

//! The OTLP exporter over HTTP: `ExportTraceServiceRequest` as protobuf (default) or JSON.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the full URL, used as is | |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | a base URL; `/v1/traces` is appended | `http://localhost:4318` |
//! | `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` | `http/protobuf` or `http/json` (`grpc` needs the `grpc` feature, not available yet) | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` | `key=value,...`, values percent-encoded | none |
//! | `OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION` | `gzip` or `none` | `none` |
//! | `OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT` | milliseconds one export may take, retries included | 10000 |
//!
//! The `TRACES_` form of each variable takes precedence over the general one. To send to
//! Honeycomb, for instance:
//!
//! ```text
//! OTEL_TRACES_EXPORTER=otlp
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318
//! OTEL_EXPORTER_OTLP_HEADERS=x-honeycomb-team=YOUR_API_KEY
//! ```

use std::io::Write;
use std::time::Duration;

use flate2::write::GzEncoder;
use threadline::{ExportError, Exporter, SpanData};
use threadline_wire::otlp;

use crate::env::{percent_decode, Reader, DEFAULT_TIMEOUT};
use crate::transport::{Diagnostics, HttpTransport, RetryPolicy};

/// The default OTLP/HTTP traces URL.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/traces";

/// How the request is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `http/protobuf`: `application/x-protobuf`.
    #[default]
    HttpProtobuf,
    /// `http/json`: `application/json`.
    HttpJson,
}

/// Whether the body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Sent as encoded.
    #[default]
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
}

/// Where and how the OTLP exporter sends spans.
///
/// # Examples
///
/// ```
/// use threadline_export::{Compression, OtlpConfig, OtlpProtocol};
///
/// let config = OtlpConfig {
///     endpoint: "http://127.0.0.1:4318/v1/traces".into(),
///     protocol: OtlpProtocol::HttpJson,
///     compression: Compression::Gzip,
///     headers: vec![("x-honeycomb-team".into(), "key".into())],
///     ..OtlpConfig::default()
/// };
/// assert!(threadline_export::OtlpExporter::new(config).is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The full traces URL.
    pub endpoint: String,
    /// Protobuf or JSON.
    pub protocol: OtlpProtocol,
    /// Extra headers on every request (authentication, routing).
    pub headers: Vec<(String, String)>,
    /// Body compression.
    pub compression: Compression,
    /// The time one export may take, retries included.
    pub timeout: Duration,
    /// The backoff between retries.
    pub retry: RetryPolicy,
    /// Where a rejecting server's message is reported.
    pub diagnostics: Diagnostics,
    /// One message per invalid environment value ([`OtlpConfig::from_lookup`]); printed by
    /// [`OtlpExporter::from_env`].
    pub warnings: Vec<String>,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            protocol: OtlpProtocol::HttpProtobuf,
            headers: Vec::new(),
            compression: Compression::None,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            diagnostics: Diagnostics::default(),
            warnings: Vec::new(),
        }
    }
}

impl OtlpConfig {
    /// Reads `OTEL_EXPORTER_OTLP_*` from the process environment.
    pub fn from_env() -> Self {
        OtlpConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `OTEL_EXPORTER_OTLP_*` through `lookup`; invalid values fall back to the
    /// defaults and leave a message naming the variable in `warnings`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_export::{Compression, OtlpConfig};
    ///
    /// let config = OtlpConfig::from_lookup(|name| match name {
    ///     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318/".into()),
    ///     "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-honeycomb-team=abc%3D%3D".into()),
    ///     "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION" => Some("gzip".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(config.endpoint, "http://collector:4318/v1/traces");
    /// assert_eq!(config.headers, vec![("x-honeycomb-team".into(), "abc==".into())]);
    /// assert_eq!(config.compression, Compression::Gzip);
    /// assert!(config.warnings.is_empty());
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut reader = Reader::new(&lookup);
        let endpoint = endpoint(&mut reader);
        let protocol = protocol(&mut reader);
        let headers = headers(&mut reader);
        let compression = compression(&mut reader);
        let timeout = reader.timeout(&[
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ]);
        OtlpConfig {
            endpoint,
            protocol,
            headers,
            compression,
            timeout,
            warnings: reader.warnings,
            ..OtlpConfig::default()
        }
    }
}

fn endpoint(reader: &mut Reader<'_>) -> String {
    let name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    if let Some(value) = reader.string(name) {
        if let Some(url) = reader.url(name, &value, DEFAULT_ENDPOINT) {
            return url;
        }
        return DEFAULT_ENDPOINT.to_string();
    }
    let name = "OTEL_EXPORTER_OTLP_ENDPOINT";
    match reader.string(name) {
        Some(value) => match reader.url(name, &value, DEFAULT_ENDPOINT) {
            Some(base) => format!("{}/v1/traces", base.trim_end_matches('/')),
            None => DEFAULT_ENDPOINT.to_string(),
        },
        None => DEFAULT_ENDPOINT.to_string(),
    }
}

fn protocol(reader: &mut Reader<'_>) -> OtlpProtocol {
    let Some((name, value)) = reader.first(&[
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]) else {
        return OtlpProtocol::HttpProtobuf;
    };
    match value.to_ascii_lowercase().as_str() {
        "http/protobuf" => OtlpProtocol::HttpProtobuf,
        "http/json" => OtlpProtocol::HttpJson,
        "grpc" => {
            reader.warnings.push(format!(
                "{name} is grpc, which needs the `grpc` feature of threadline-export (not available yet); using http/protobuf, so point the endpoint at the collector's HTTP port (4318)"
            ));
            OtlpProtocol::HttpProtobuf
        }
        _ => {
            reader.invalid(name, &value, "http/protobuf or http/json", "http/protobuf");
            OtlpProtocol::HttpProtobuf
        }
    }
}

fn headers(reader: &mut Reader<'_>) -> Vec<(String, String)> {
    let Some((name, raw)) = reader.first(&[
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ]) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for member in raw.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let parsed = member
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, _)| is_header_name(k))
            .and_then(|(k, v)| Some((k.to_ascii_lowercase(), percent_decode(v)?)))
            .filter(|(_, v)| !v.chars().any(|c| c.is_control()));
        match parsed {
            Some((key, value)) => {
                out.retain(|(k, _)| *k != key);
                out.push((key, value));
            }
            None => reader.warnings.push(format!(
                "invalid member of {name}: {member:?} (expected key=value with a percent-encoded value); ignoring it"
            )),
        }
    }
    out
}

/// An HTTP token: what a header name may be made of.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn compression(reader: &mut Reader<'_>) -> Compression {
    let Some((name, value)) = reader.first(&[
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    ]) else {
        return Compression::None;
    };
    match value.to_ascii_lowercase().as_str() {
        "gzip" => Compression::Gzip,
        "none" => Compression::None,
        _ => {
            reader.invalid(name, &value, "gzip or none", "none");
            Compression::None
        }
    }
}

/// Sends spans to an OpenTelemetry collector or any OTLP/HTTP backend.
///
/// Each [`export`](Exporter::export) is one POST, retried on connection errors, timeouts and
/// 429/502/503/504 within [`OtlpConfig::timeout`]; see [`crate::transport`].
#[derive(Debug)]
pub struct OtlpExporter {
    transport: HttpTransport,
    protocol: OtlpProtocol,
    compression: Compression,
    shut_down: bool,
}

impl OtlpExporter {
    /// An exporter with `config`.
    ///
    /// # Errors
    ///
    /// A message when the endpoint is not an `http://` URL or the timeout is zero.
    pub fn new(config: OtlpConfig) -> Result<Self, String> {
        let content_type = match config.protocol {
            OtlpProtocol::HttpProtobuf => otlp::proto::CONTENT_TYPE,
            OtlpProtocol::HttpJson => otlp::json::CONTENT_TYPE,
        };
        let mut headers = config.headers;
        headers.retain(|(k, _)| {
            !k.eq_ignore_ascii_case("content-type") && !k.eq_ignore_ascii_case("content-encoding")
        });
        headers.push(("content-type".to_string(), content_type.to_string()));
        if config.compression == Compression::Gzip {
            headers.push(("content-encoding".to_string(), "gzip".to_string()));
        }
        let transport = HttpTransport::new(config.endpoint, config.timeout, headers)?
            .with_retry_policy(config.retry)
            .with_diagnostics(config.diagnostics);
        Ok(OtlpExporter {
            transport,
            protocol: config.protocol,
            compression: config.compression,
            shut_down: false,
        })
    }

    /// An exporter configured from `OTEL_EXPORTER_OTLP_*`, printing a warning for each
    /// invalid value.
    ///
    /// # Errors
    ///
    /// As [`OtlpExporter::new`].
    pub fn from_env() -> Result<Self, String> {
        let config = OtlpConfig::from_env();
        for warning in &config.warnings {
            config.diagnostics.warn(warning);
        }
        OtlpExporter::new(config)
    }

    /// The URL spans are posted to.
    pub fn endpoint(&self) -> &str {
        self.transport.url()
    }
}

impl Exporter for OtlpExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::Shutdown);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let body = match self.protocol {
            OtlpProtocol::HttpProtobuf => otlp::proto::encode(batch),
            OtlpProtocol::HttpJson => otlp::json::encode(batch),
        };
        let body = match self.compression {
            Compression::None => body,
            Compression::Gzip => gzip(&body)?,
        };
        self.transport.send(&body)
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        Ok(())
    }
}

fn gzip(body: &[u8]) -> Result<Vec<u8>, ExportError> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    Ok(encoder.finish()?)
}

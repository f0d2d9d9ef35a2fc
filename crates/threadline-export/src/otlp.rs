//! The OTLP exporter: `ExportTraceServiceRequest` over HTTP as protobuf (default) or JSON, or
//! over gRPC with the `grpc` cargo feature.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the full URL, used as is | |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | a base URL; over HTTP `/v1/traces` is appended, over gRPC it is used as is | `http://localhost:4318`, or `http://localhost:4317` for gRPC |
//! | `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` | `http/protobuf`, `http/json` or `grpc` (which needs the `grpc` feature; without it the exporter warns and uses `http/protobuf`) | `http/protobuf` |
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
//!
//! # gRPC
//!
//! With the `grpc` feature, [`OtlpProtocol::Grpc`] calls the collector's
//! `opentelemetry.proto.collector.trace.v1.TraceService/Export` with tonic over plain HTTP/2.
//! The exporter owns a current-thread tokio runtime and blocks on it in
//! [`export`](Exporter::export), on the batch processor's export thread: the application needs
//! no async runtime. The message is the one [`threadline_wire::otlp::to_request`] builds, the
//! same mapping as the HTTP bodies. Headers become gRPC metadata (`grpc-*`, `content-type` and
//! `te` are left out, as are `-bin` keys and values with control characters), gzip sets `grpc-encoding: gzip`, and
//! the timeout bounds the whole export, retries included. `CANCELLED`, `DEADLINE_EXCEEDED`,
//! `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE` and `DATA_LOSS` are retried with jittered
//! exponential backoff, `RESOURCE_EXHAUSTED` only when the server attached a
//! `google.rpc.RetryInfo` (whose delay is honoured); any other code fails the batch with
//! [`ExportError::Rejected`] and is logged once per code with the server's message. A
//! partial success is logged once per distinct message and its `rejected_spans` added up in
//! [`OtlpExporter::rejected_spans`].

use std::io::Write;
use std::time::Duration;

use flate2::write::GzEncoder;
use threadline::{ExportError, Exporter, SpanData};
use threadline_wire::otlp;

use crate::env::{percent_decode, Reader, DEFAULT_TIMEOUT};
use crate::transport::{Diagnostics, HttpTransport, RetryPolicy};

/// The default OTLP/HTTP traces URL.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/traces";

/// The default OTLP/gRPC endpoint: the collector's gRPC port, used as is.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// How the request is encoded and carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `http/protobuf`: `application/x-protobuf`.
    #[default]
    HttpProtobuf,
    /// `http/json`: `application/json`.
    HttpJson,
    /// `grpc`: the `TraceService/Export` call over HTTP/2.
    ///
    /// Needs the `grpc` cargo feature: without it [`OtlpExporter::new`] refuses this protocol
    /// and [`OtlpConfig::from_lookup`] falls back to [`OtlpProtocol::HttpProtobuf`] with a
    /// warning.
    Grpc,
}

impl OtlpProtocol {
    /// Whether this build can send with this protocol: always for HTTP, for gRPC only with
    /// the `grpc` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_export::OtlpProtocol;
    ///
    /// assert!(OtlpProtocol::HttpJson.is_available());
    /// assert_eq!(OtlpProtocol::Grpc.is_available(), cfg!(feature = "grpc"));
    /// ```
    pub fn is_available(self) -> bool {
        match self {
            OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => true,
            OtlpProtocol::Grpc => cfg!(feature = "grpc"),
        }
    }
}

/// Whether the body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Sent as encoded.
    #[default]
    None,
    /// `Content-Encoding: gzip` over HTTP, `grpc-encoding: gzip` over gRPC.
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
    /// The full traces URL over HTTP; the server's URL (`http://host:4317`) over gRPC. With
    /// [`OtlpProtocol::Grpc`], the HTTP default [`DEFAULT_ENDPOINT`] is taken to mean
    /// [`DEFAULT_GRPC_ENDPOINT`].
    pub endpoint: String,
    /// HTTP with protobuf or JSON, or gRPC.
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
        let protocol = protocol(&mut reader);
        let endpoint = endpoint(&mut reader, protocol);
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

/// The specification: over gRPC both variables are used as they are; over HTTP the general
/// one is a base to which the signal's path is appended.
fn endpoint(reader: &mut Reader<'_>, protocol: OtlpProtocol) -> String {
    let default = match protocol {
        OtlpProtocol::Grpc => DEFAULT_GRPC_ENDPOINT,
        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => DEFAULT_ENDPOINT,
    };
    let name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    if let Some(value) = reader.string(name) {
        if let Some(url) = reader.url(name, &value, default) {
            return url;
        }
        return default.to_string();
    }
    let name = "OTEL_EXPORTER_OTLP_ENDPOINT";
    match reader.string(name) {
        Some(value) => match reader.url(name, &value, default) {
            Some(base) if protocol == OtlpProtocol::Grpc => base,
            Some(base) => format!("{}/v1/traces", base.trim_end_matches('/')),
            None => default.to_string(),
        },
        None => default.to_string(),
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
        "grpc" if OtlpProtocol::Grpc.is_available() => OtlpProtocol::Grpc,
        "grpc" => {
            reader.warnings.push(format!(
                "{name} is grpc, which needs the `grpc` cargo feature of threadline-export (not enabled in this build); using http/protobuf, so point the endpoint at the collector's HTTP port (4318)"
            ));
            OtlpProtocol::HttpProtobuf
        }
        _ => {
            reader.invalid(
                name,
                &value,
                "http/protobuf, http/json or grpc",
                "http/protobuf",
            );
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

/// Sends spans to an OpenTelemetry collector or any OTLP backend.
///
/// Over HTTP, each [`export`](Exporter::export) is one POST, retried on connection errors,
/// timeouts and 429/502/503/504 within [`OtlpConfig::timeout`]; see [`crate::transport`]. Over
/// gRPC (the `grpc` feature), it is one `TraceService/Export` call, retried as the
/// [module](self#grpc) describes, within the same timeout.
///
/// # Examples
///
/// ```
/// use threadline_export::{OtlpConfig, OtlpExporter, OtlpProtocol};
///
/// let config = OtlpConfig {
///     protocol: OtlpProtocol::Grpc,
///     ..OtlpConfig::default()
/// };
/// match OtlpExporter::new(config) {
///     Ok(exporter) => assert_eq!(exporter.endpoint(), "http://localhost:4317"),
///     Err(message) => assert!(message.contains("`grpc` cargo feature")),
/// }
/// ```
#[derive(Debug)]
pub struct OtlpExporter {
    transport: Transport,
    shut_down: bool,
}

// One per exporter, never moved in a hot loop: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Transport {
    Http {
        transport: HttpTransport,
        protocol: OtlpProtocol,
        compression: Compression,
    },
    #[cfg(feature = "grpc")]
    Grpc(crate::grpc::GrpcTransport),
}

impl OtlpExporter {
    /// An exporter with `config`.
    ///
    /// # Errors
    ///
    /// A message when the endpoint is not an `http://` URL, the timeout is zero, or the
    /// protocol is [`OtlpProtocol::Grpc`] in a build without the `grpc` feature.
    pub fn new(config: OtlpConfig) -> Result<Self, String> {
        let content_type = match config.protocol {
            OtlpProtocol::HttpProtobuf => otlp::proto::CONTENT_TYPE,
            OtlpProtocol::HttpJson => otlp::json::CONTENT_TYPE,
            OtlpProtocol::Grpc => return OtlpExporter::grpc(config),
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
            transport: Transport::Http {
                transport,
                protocol: config.protocol,
                compression: config.compression,
            },
            shut_down: false,
        })
    }

    #[cfg(feature = "grpc")]
    fn grpc(config: OtlpConfig) -> Result<Self, String> {
        let endpoint = if config.endpoint == DEFAULT_ENDPOINT {
            DEFAULT_GRPC_ENDPOINT.to_string()
        } else {
            config.endpoint
        };
        let transport = crate::grpc::GrpcTransport::new(crate::grpc::GrpcSettings {
            endpoint,
            timeout: config.timeout,
            headers: config.headers,
            compression: config.compression,
            retry: config.retry,
            diagnostics: config.diagnostics,
        })?;
        Ok(OtlpExporter {
            transport: Transport::Grpc(transport),
            shut_down: false,
        })
    }

    #[cfg(not(feature = "grpc"))]
    fn grpc(_config: OtlpConfig) -> Result<Self, String> {
        Err(
            "otlp over grpc needs the `grpc` cargo feature of threadline-export; use http/protobuf or enable the feature"
                .to_string(),
        )
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

    /// The URL spans are posted to (HTTP) or the server called (gRPC).
    pub fn endpoint(&self) -> &str {
        match &self.transport {
            Transport::Http { transport, .. } => transport.url(),
            #[cfg(feature = "grpc")]
            Transport::Grpc(transport) => transport.endpoint(),
        }
    }

    /// The protocol this exporter sends with.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_export::{OtlpConfig, OtlpExporter, OtlpProtocol};
    ///
    /// let exporter = OtlpExporter::new(OtlpConfig::default()).unwrap();
    /// assert_eq!(exporter.protocol(), OtlpProtocol::HttpProtobuf);
    /// ```
    pub fn protocol(&self) -> OtlpProtocol {
        match &self.transport {
            Transport::Http { protocol, .. } => *protocol,
            #[cfg(feature = "grpc")]
            Transport::Grpc(_) => OtlpProtocol::Grpc,
        }
    }

    /// How many spans the backend reported as rejected in partial-success answers, in total.
    ///
    /// Those batches count as exported (the OTLP specification says not to retry them); this
    /// is where the rejected spans show. Only the gRPC transport reads the answer today, so
    /// over HTTP this stays 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let exporter = threadline_export::OtlpExporter::new(Default::default()).unwrap();
    /// assert_eq!(exporter.rejected_spans(), 0);
    /// ```
    pub fn rejected_spans(&self) -> u64 {
        match &self.transport {
            Transport::Http { .. } => 0,
            #[cfg(feature = "grpc")]
            Transport::Grpc(transport) => transport.rejected_spans(),
        }
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
        match &mut self.transport {
            Transport::Http {
                transport,
                protocol,
                compression,
            } => {
                let body = match protocol {
                    OtlpProtocol::HttpJson => otlp::json::encode(batch),
                    OtlpProtocol::HttpProtobuf | OtlpProtocol::Grpc => otlp::proto::encode(batch),
                };
                let body = match compression {
                    Compression::None => body,
                    Compression::Gzip => gzip(&body)?,
                };
                transport.send(&body)
            }
            #[cfg(feature = "grpc")]
            Transport::Grpc(transport) => transport.send(otlp::to_request(batch)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> OtlpConfig {
        OtlpConfig::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[cfg(feature = "grpc")]
    #[test]
    fn grpc_is_selected_with_its_own_default_endpoint() {
        for name in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ] {
            let c = config(&[(name, "GRPC")]);
            assert_eq!(c.protocol, OtlpProtocol::Grpc, "{name}");
            assert_eq!(c.endpoint, DEFAULT_GRPC_ENDPOINT);
            assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        }
        let specific_wins = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ]);
        assert_eq!(specific_wins.protocol, OtlpProtocol::Grpc);
        let general_wins_not = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ]);
        assert_eq!(general_wins_not.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(general_wins_not.endpoint, DEFAULT_ENDPOINT);
    }

    #[cfg(feature = "grpc")]
    #[test]
    fn grpc_endpoints_are_used_as_they_are() {
        let general = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ]);
        assert_eq!(general.endpoint, "http://collector:4317");
        let specific = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999"),
        ]);
        assert_eq!(specific.endpoint, "http://traces:9999");
        let bad = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ]);
        assert_eq!(bad.endpoint, DEFAULT_GRPC_ENDPOINT);
        assert_eq!(bad.warnings.len(), 1);
        assert!(bad.warnings[0].contains("using http://localhost:4317"));
    }

    #[cfg(feature = "grpc")]
    #[test]
    fn grpc_exporter_takes_the_http_default_as_its_own() {
        let exporter = OtlpExporter::new(OtlpConfig {
            protocol: OtlpProtocol::Grpc,
            ..OtlpConfig::default()
        })
        .unwrap();
        assert_eq!(exporter.endpoint(), DEFAULT_GRPC_ENDPOINT);
        assert_eq!(exporter.protocol(), OtlpProtocol::Grpc);
        let exporter = OtlpExporter::new(config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]));
        assert_eq!(exporter.unwrap().protocol(), OtlpProtocol::Grpc);
    }

    #[cfg(not(feature = "grpc"))]
    #[test]
    fn grpc_without_the_feature_warns_and_uses_http() {
        for name in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ] {
            let c = config(&[(name, "grpc")]);
            assert_eq!(c.protocol, OtlpProtocol::HttpProtobuf);
            assert_eq!(c.endpoint, DEFAULT_ENDPOINT);
            assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
            assert!(c.warnings[0].contains(name), "{}", c.warnings[0]);
            assert!(
                c.warnings[0].contains("`grpc` cargo feature"),
                "{}",
                c.warnings[0]
            );
        }
        let refused = OtlpExporter::new(OtlpConfig {
            protocol: OtlpProtocol::Grpc,
            ..OtlpConfig::default()
        })
        .unwrap_err();
        assert!(refused.contains("`grpc` cargo feature"), "{refused}");
    }

    #[test]
    fn http_endpoints_still_get_the_signal_path() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        ]);
        assert_eq!(c.endpoint, "http://collector:4318/v1/traces");
        let unknown = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc/json")]);
        assert_eq!(unknown.protocol, OtlpProtocol::HttpProtobuf);
        assert!(unknown.warnings[0].contains("http/protobuf, http/json or grpc"));
    }
}

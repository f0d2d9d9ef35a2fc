//! Network exporters for Threadline: [`ZipkinExporter`] and [`OtlpExporter`] over HTTP (and
//! OTLP over gRPC with the `grpc` feature), and [`JaegerExporter`] to a Jaeger agent over UDP
//! or a Jaeger collector over HTTP.
//!
//! Exporters run on the batch processor's export thread with a small blocking HTTP client: the
//! application needs no async runtime, and a slow or down backend stalls only that thread.
//! Every export is bounded by the exporter's timeout, retries included (see [`transport`]).
//!
//! The quickest start is [`init`]: it registers the `zipkin`, `otlp` and `jaeger` names, then
//! configures the global tracer from the environment, so `OTEL_TRACES_EXPORTER=zipkin` (or
//! `otlp`, or `jaeger`) alone selects an exporter.
//!
//! ```no_run
//! let _tracing = threadline_export::init();
//! let _main = threadline::span("main");
//! ```
//!
//! # The `grpc` feature
//!
//! Off by default. It adds OTLP over gRPC ([`OtlpProtocol::Grpc`]): tonic for HTTP/2 and a
//! current-thread tokio runtime that each gRPC exporter owns and drives only inside its own
//! `export`, on the export thread; the application still needs no async runtime and never
//! waits for the backend. With it, `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` (or
//! `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc`) selects gRPC, and [`init`] and
//! [`OtlpExporter::from_env`] pick it up; the endpoint defaults to `http://localhost:4317` and
//! is used as is. Without the feature, `grpc` prints a warning naming the feature and sends
//! http/protobuf instead. Retries, compression, headers and the timeout behave as over HTTP;
//! the [`otlp`] module has the details.
//!
//! ```toml
//! [dependencies]
//! threadline-export = { version = "0.1", features = ["grpc"] }
//! ```
//!
//! Or build one by hand:
//!
//! ```
//! use threadline_export::{ZipkinConfig, ZipkinExporter};
//!
//! let exporter = ZipkinExporter::new(ZipkinConfig::from_parts("localhost", 9411, "/api/v2/spans"))
//!     .expect("a valid endpoint");
//! let tracer = threadline::Tracer::builder()
//!     .service_name("quickstart")
//!     .batch_exporter(exporter)
//!     .build();
//! # drop(tracer);
//! ```

mod env;
#[cfg(feature = "grpc")]
mod grpc;
pub mod jaeger;
pub mod otlp;
pub mod transport;
pub mod zipkin;

use threadline::{Exporter, TracingGuard};

pub use jaeger::{JaegerConfig, JaegerExporter, JaegerProtocol};
pub use otlp::{Compression, OtlpConfig, OtlpExporter, OtlpProtocol};
pub use transport::{Diagnostics, HttpTransport, RetryPolicy};
pub use zipkin::{ZipkinConfig, ZipkinEncoding, ZipkinExporter};

/// Registers `zipkin`, `otlp` and `jaeger` for `OTEL_TRACES_EXPORTER`; each reads its own
/// `OTEL_EXPORTER_*` variables when the tracer is built.
///
/// # Examples
///
/// ```
/// threadline_export::register();
/// let tracer = threadline::TracerBuilder::from_env().build();
/// # drop(tracer);
/// ```
pub fn register() {
    threadline::config::register_exporter("zipkin", || {
        ZipkinExporter::from_env().map(|e| Box::new(e) as Box<dyn Exporter>)
    });
    threadline::config::register_exporter("otlp", || {
        OtlpExporter::from_env().map(|e| Box::new(e) as Box<dyn Exporter>)
    });
    threadline::config::register_exporter("jaeger", || {
        JaegerExporter::from_env().map(|e| Box::new(e) as Box<dyn Exporter>)
    });
}

/// [`register`], then [`threadline::init`]: the global tracer from the environment, with a
/// guard that flushes it when dropped.
///
/// # Examples
///
/// ```no_run
/// // OTEL_TRACES_EXPORTER=zipkin sends to http://localhost:9411/api/v2/spans
/// let _tracing = threadline_export::init();
/// ```
pub fn init() -> TracingGuard {
    register();
    threadline::init()
}

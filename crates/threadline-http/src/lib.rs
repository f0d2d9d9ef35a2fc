//! HTTP instrumentation for Threadline: SERVER spans for axum and hyper, CLIENT spans for
//! reqwest, and the propagation headers between them.
//!
//! | feature | adds |
//! |---|---|
//! | `server` | [`server::TraceLayer`], a tower layer: a SERVER span per request, its parent extracted from the request headers |
//! | `axum` | `server`, and span names from axum's route templates (`GET /users/{id}`) |
//! | `reqwest` | [`client::TracingMiddleware`], a `reqwest-middleware` middleware: a CLIENT span per request, its context injected into the request headers |
//!
//! Both sides use a tracer's propagator: the global tracer's by default, whose propagator
//! `OTEL_PROPAGATORS` chooses (`tracecontext`, `baggage`, `b3`, `b3multi`, `jaeger`,
//! `cloudtrace`, `ocbinary`), or the one of a tracer given with `with_tracer`. Spans carry
//! the attributes of the OpenTelemetry HTTP semantic conventions, named in [`attributes`].
//!
//! # How to trace an axum server
//!
//! Add the layer with `Router::layer`, so that it runs after routing and knows the route;
//! the span is current in the handler and across its `.await`s, so its spans are children:
//!
//! ```toml
//! threadline-http = { version = "0.1", features = ["axum"] }
//! ```
//!
#![cfg_attr(
    feature = "axum",
    doc = r#"```no_run
use axum::{extract::Path, routing::get, Router};
use threadline_http::server::TraceLayer;

async fn user(Path(id): Path<u64>) -> String {
    let _lookup = threadline::span("lookup"); // a child of `GET /users/{id}`
    format!("user {id}")
}

#[tokio::main]
async fn main() {
    let _tracing = threadline::init(); // or threadline_export::init() for network exporters
    let app = Router::new()
        .route("/users/{id}", get(user))
        .layer(TraceLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
```"#
)]
//!
//! A hyper server takes the same layer around its service (`TraceLayer::new().layer(svc)`,
//! with `tower::Layer`); spans are then named after the method only.
//!
//! # How to trace reqwest requests
//!
//! Build the client with `reqwest-middleware` and add the middleware; send requests inside a
//! span (`FutureExt::in_span`, or `#[threadline::trace]` on the async function) and their
//! CLIENT spans are its children:
//!
//! ```toml
//! threadline-http = { version = "0.1", features = ["reqwest"] }
//! ```
//!
#![cfg_attr(
    feature = "reqwest",
    doc = r#"```no_run
use threadline::FutureExt;
use threadline_http::client::TracingMiddleware;

#[tokio::main]
async fn main() {
    let _tracing = threadline::init();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();
    let root = threadline::span_builder("fetch users").start();
    let status = async { client.get("http://127.0.0.1:8080/users/1").send().await }
        .in_span(root)
        .await
        .map(|response| response.status());
    println!("{status:?}");
}
```"#
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod attributes;
#[cfg(feature = "reqwest")]
pub mod client;
#[cfg(feature = "server")]
pub mod server;

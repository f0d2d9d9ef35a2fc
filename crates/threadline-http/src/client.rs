//! CLIENT spans for reqwest: [`TracingMiddleware`], a `reqwest-middleware` middleware.
//!
//! Each request sent through a `reqwest_middleware::ClientWithMiddleware` with this
//! middleware gets a CLIENT span, a child of the span current where the request is sent, and
//! carries that span's context (and the current baggage) in the propagator's headers
//! (`OTEL_PROPAGATORS` for tracers made by `threadline::init`). The span is current while the
//! rest of the middleware chain and the transport run, and ends when the response head
//! arrives or the request fails.
//!
//! | attribute | from |
//! |---|---|
//! | `http.request.method` | the method (`_OTHER` plus `http.request.method_original` for unknown ones) |
//! | `url.full` | the URL, with any user name and password replaced by `REDACTED` |
//! | `server.address`, `server.port` | the URL's host and port (the scheme's default port when absent) |
//! | `network.protocol.version` | the response's HTTP version |
//! | `http.response.status_code` | the response |
//! | `error.type` | the status code for 4xx and 5xx; `timeout`, `connect`, `request`, `body`, `redirect` or `_OTHER` for a failed request |
//!
//! A 4xx or 5xx response, or a failed request, sets an error status. The span is named after
//! the method (`GET`), as the semantic conventions ask when no route template is known.
//!
//! The middleware adds no TLS: enable the TLS feature you want on your own `reqwest`
//! dependency (`features = ["rustls"]`), and Cargo unifies it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use threadline::propagation::{Baggage, PropagationContext};
use threadline::{Span, SpanKind, Status, StatusCode, Tracer};

use crate::attributes as attr;

/// A `reqwest-middleware` middleware that traces each request in a CLIENT span and injects
/// the propagation headers; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use threadline_http::client::TracingMiddleware;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(TracingMiddleware::new())
///     .build();
/// # async fn fetch(client: reqwest_middleware::ClientWithMiddleware) -> reqwest_middleware::Result<()> {
/// // Inside some span: the request's CLIENT span is its child.
/// let _response = client.get("http://127.0.0.1:8080/").send().await?;
/// # Ok(())
/// # }
/// # drop(client);
/// ```
#[derive(Clone, Debug, Default)]
pub struct TracingMiddleware {
    tracer: Option<Tracer>,
}

impl TracingMiddleware {
    /// A middleware that uses the global tracer (`threadline::init` or
    /// `threadline_export::init`), looked up at each request, and its propagator.
    ///
    /// # Examples
    ///
    /// ```
    /// let middleware = threadline_http::client::TracingMiddleware::new();
    /// # drop(middleware);
    /// ```
    pub fn new() -> Self {
        TracingMiddleware { tracer: None }
    }

    /// A middleware that uses `tracer` and its propagator instead of the global ones.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tracer, _spans) = threadline::Tracer::builder().in_memory();
    /// let middleware = threadline_http::client::TracingMiddleware::with_tracer(tracer);
    /// # drop(middleware);
    /// ```
    pub fn with_tracer(tracer: Tracer) -> Self {
        TracingMiddleware {
            tracer: Some(tracer),
        }
    }

    fn tracer(&self) -> &Tracer {
        self.tracer.as_ref().unwrap_or_else(|| threadline::tracer())
    }
}

#[async_trait::async_trait]
impl Middleware for TracingMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let tracer = self.tracer();
        let span = start_client_span(tracer, &request);
        let outgoing = PropagationContext::new(span.context()).with_baggage(Baggage::current());
        tracer.propagator().inject(&outgoing, request.headers_mut());
        let result = Current {
            span: &span,
            inner: next.run(request, extensions),
        }
        .await;
        record_outcome(&span, &result);
        result
    }
}

fn start_client_span(tracer: &Tracer, request: &Request) -> Span {
    let method = request.method();
    let method_name = attr::method_name(method);
    let mut builder = tracer
        .span_builder(attr::span_name(method, None))
        .kind(SpanKind::Client)
        .attribute(attr::HTTP_REQUEST_METHOD, method_name);
    if method_name == "_OTHER" {
        builder = builder.attribute(
            attr::HTTP_REQUEST_METHOD_ORIGINAL,
            method.as_str().to_string(),
        );
    }
    let url = request.url();
    builder = builder.attribute(attr::URL_FULL, redacted(url));
    if let Some(host) = url.host_str() {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        builder = builder.attribute(attr::SERVER_ADDRESS, host.to_string());
    }
    if let Some(port) = url.port_or_known_default() {
        builder = builder.attribute(attr::SERVER_PORT, i64::from(port));
    }
    builder.start()
}

/// The URL with user name and password replaced by `REDACTED`, as the conventions ask.
fn redacted(url: &reqwest::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut url = url.clone();
    if !url.username().is_empty() {
        let _ = url.set_username("REDACTED");
    }
    if url.password().is_some() {
        let _ = url.set_password(Some("REDACTED"));
    }
    url.to_string()
}

fn record_outcome(span: &Span, result: &reqwest_middleware::Result<Response>) {
    if !span.is_recording() {
        return;
    }
    match result {
        Ok(response) => {
            let code = response.status().as_u16();
            span.add_attribute(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(code));
            if let Some(version) = attr::protocol_version(response.version()) {
                span.add_attribute(attr::NETWORK_PROTOCOL_VERSION, version);
            }
            if code >= 400 {
                span.add_attribute(attr::ERROR_TYPE, code.to_string());
                span.set_status(Status::new(StatusCode::from_http(code), ""));
            }
        }
        Err(error) => {
            span.add_attribute(attr::ERROR_TYPE, error_type(error));
            span.set_status(Status::new(StatusCode::Unknown, error_chain(error)));
        }
    }
}

/// A low-cardinality name for why a request failed.
fn error_type(error: &reqwest_middleware::Error) -> &'static str {
    match error {
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect",
        reqwest_middleware::Error::Reqwest(e) if e.is_redirect() => "redirect",
        reqwest_middleware::Error::Reqwest(e) if e.is_body() || e.is_decode() => "body",
        reqwest_middleware::Error::Reqwest(e) if e.is_request() => "request",
        _ => "_OTHER",
    }
}

/// The error's message followed by its sources', which say what actually went wrong
/// (reqwest's own message is often just "error sending request").
fn error_chain(error: &reqwest_middleware::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Polls `inner` with `span` current.
struct Current<'a, F> {
    span: &'a Span,
    inner: F,
}

impl<F: Future + Unpin> Future for Current<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let span = self.span;
        let _entered = span.enter();
        Pin::new(&mut self.inner).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        let url: reqwest::Url = "http://user:secret@example.com:8080/a?b=c".parse().unwrap();
        assert_eq!(
            redacted(&url),
            "http://REDACTED:REDACTED@example.com:8080/a?b=c"
        );
        let plain: reqwest::Url = "http://example.com/".parse().unwrap();
        assert_eq!(redacted(&plain), "http://example.com/");
    }
}

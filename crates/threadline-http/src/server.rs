//! SERVER spans for tower services: [`TraceLayer`] for axum routers and hyper servers.
//!
//! For each request the layer extracts the caller's context with the tracer's propagator
//! (`OTEL_PROPAGATORS` for tracers made by `threadline::init`), starts a SERVER span that is
//! its child, and keeps that span current while the inner service runs, across every
//! `.await` of the handler and on whichever thread polls it. The span ends when the inner
//! service's future completes, that is when the response head is ready (streaming the body
//! afterwards is not part of the span).
//!
//! | attribute | from |
//! |---|---|
//! | `http.request.method` | the method (`_OTHER` plus `http.request.method_original` for unknown ones) |
//! | `url.path`, `url.query` | the request target |
//! | `http.route` | axum's `MatchedPath` (feature `axum`), when the layer runs inside the router |
//! | `url.scheme` | the request URI, when it has a scheme (HTTP/2, absolute-form) |
//! | `server.address`, `server.port` | the `Host` header, or the URI's authority |
//! | `network.protocol.version` | the request's HTTP version |
//! | `user_agent.original` | the `User-Agent` header |
//! | `http.response.status_code` | the response |
//! | `error.type` | the status code for 5xx, the error's type name for a service error |
//!
//! A 5xx response or a service error sets an error status; 4xx leaves the status unset, as
//! the semantic conventions ask of servers. The span is named `METHOD route`, or `METHOD`
//! when no route is known.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use threadline::propagation::{Baggage, PropagationContext};
use threadline::{
    Span, SpanContext, SpanId, SpanKind, Status, StatusCode, TraceId, TraceOptions, Tracer,
};

use crate::attributes as attr;

/// A tower [`Layer`](tower::Layer) that traces each request in a SERVER span; see the
/// [module docs](self).
///
/// With axum, add it with `Router::layer` so that it runs after routing and sees the route
/// template (`GET /users/{id}`); outside the router only the method names the span.
///
/// # Examples
///
/// ```
/// use axum::{routing::get, Router};
/// use threadline_http::server::TraceLayer;
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "ada" }))
///     .layer(TraceLayer::new());
/// # drop(app);
/// ```
#[derive(Clone, Debug, Default)]
pub struct TraceLayer {
    tracer: Option<Tracer>,
}

impl TraceLayer {
    /// A layer that uses the global tracer (`threadline::init` or
    /// `threadline_export::init`), looked up at each request, and its propagator.
    ///
    /// # Examples
    ///
    /// ```
    /// let layer = threadline_http::server::TraceLayer::new();
    /// # drop(layer);
    /// ```
    pub fn new() -> Self {
        TraceLayer { tracer: None }
    }

    /// A layer that uses `tracer` and its propagator instead of the global ones.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tracer, _spans) = threadline::Tracer::builder().in_memory();
    /// let layer = threadline_http::server::TraceLayer::with_tracer(tracer);
    /// # drop(layer);
    /// ```
    pub fn with_tracer(tracer: Tracer) -> Self {
        TraceLayer {
            tracer: Some(tracer),
        }
    }
}

impl<S> tower::Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService {
            inner,
            tracer: self.tracer.clone(),
        }
    }
}

/// The service [`TraceLayer`] wraps around another: each call runs in a SERVER span.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use tower::{Layer, Service};
/// use threadline_http::server::TraceLayer;
///
/// let (tracer, spans) = threadline::Tracer::builder().in_memory();
/// let hello = tower::service_fn(|_request: http::Request<()>| async {
///     Ok::<_, Infallible>(http::Response::new("hello"))
/// });
/// let mut service = TraceLayer::with_tracer(tracer.clone()).layer(hello);
/// let request = http::Request::get("/hello")
///     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
///     .body(())
///     .unwrap();
/// let future = service.call(request);
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     use std::task::{Context, Poll, Waker};
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) { return v; }
/// #     }
/// # }
/// let response = block_on(future).unwrap();
/// assert_eq!(response.status(), 200);
/// tracer.flush(std::time::Duration::from_secs(5)).unwrap();
/// let span = &spans.spans()[0];
/// assert_eq!(span.name, "GET");
/// assert_eq!(span.kind, threadline::SpanKind::Server);
/// assert_eq!(span.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(span.parent_span_id.unwrap().to_string(), "00f067aa0ba902b7");
/// ```
#[derive(Clone, Debug)]
pub struct TraceService<S> {
    inner: S,
    tracer: Option<Tracer>,
}

impl<S> TraceService<S> {
    /// The wrapped service.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::Layer;
    /// let service = threadline_http::server::TraceLayer::new().layer(42);
    /// assert_eq!(*service.get_ref(), 42);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::Layer;
    /// let mut service = threadline_http::server::TraceLayer::new().layer(41);
    /// *service.get_mut() += 1;
    /// assert_eq!(service.into_inner(), 42);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    ///
    /// # Examples
    ///
    /// ```
    /// use tower::Layer;
    /// let service = threadline_http::server::TraceLayer::new().layer("inner");
    /// assert_eq!(service.into_inner(), "inner");
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for TraceService<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let tracer = self.tracer.as_ref().unwrap_or_else(|| threadline::tracer());
        let incoming = tracer.propagator().extract(request.headers());
        let span = start_server_span(tracer, &incoming, &request);
        let baggage = incoming.baggage;
        let inner = {
            let _baggage = (!baggage.is_empty()).then(|| baggage.clone().attach());
            let _entered = span.enter();
            self.inner.call(request)
        };
        ResponseFuture {
            inner,
            span: Some(span),
            baggage,
        }
    }
}

/// The route template of a request: axum's `MatchedPath`, when there is one.
fn route<B>(request: &Request<B>) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(path) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Some(path.as_str());
    }
    let _ = request;
    None
}

fn start_server_span<B>(
    tracer: &Tracer,
    incoming: &PropagationContext,
    request: &Request<B>,
) -> Span {
    let route = route(request);
    let method = request.method();
    let mut builder = tracer
        .span_builder(attr::span_name(method, route))
        .kind(SpanKind::Server);
    builder = match (&incoming.span_context, incoming.sampling_decision) {
        (Some(parent), _) => builder.parent(parent.clone()),
        // A "deny" decision without ids (`b3: 0`): an unsampled remote parent, so nothing
        // under this request is recorded.
        (None, Some(false)) => builder.parent(
            SpanContext::new(
                TraceId::random(),
                SpanId::random(),
                TraceOptions::NOT_SAMPLED,
            )
            .with_from_header(true),
        ),
        (None, _) => builder.root(),
    };
    let method_name = attr::method_name(method);
    builder = builder.attribute(attr::HTTP_REQUEST_METHOD, method_name);
    if method_name == "_OTHER" {
        builder = builder.attribute(
            attr::HTTP_REQUEST_METHOD_ORIGINAL,
            method.as_str().to_string(),
        );
    }
    let uri = request.uri();
    builder = builder.attribute(attr::URL_PATH, uri.path().to_string());
    if let Some(query) = uri.query() {
        builder = builder.attribute(attr::URL_QUERY, query.to_string());
    }
    if let Some(route) = route {
        builder = builder.attribute(attr::HTTP_ROUTE, route.to_string());
    }
    if let Some(scheme) = uri.scheme_str() {
        builder = builder.attribute(attr::URL_SCHEME, scheme.to_string());
    }
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .and_then(attr::split_host);
    if let Some((host, port)) = host {
        builder = builder.attribute(attr::SERVER_ADDRESS, host.to_string());
        if let Some(port) = port {
            builder = builder.attribute(attr::SERVER_PORT, i64::from(port));
        }
    }
    if let Some(version) = attr::protocol_version(request.version()) {
        builder = builder.attribute(attr::NETWORK_PROTOCOL_VERSION, version);
    }
    if let Some(agent) = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|h| h.to_str().ok())
    {
        builder = builder.attribute(attr::USER_AGENT_ORIGINAL, agent.to_string());
    }
    builder.start()
}

pin_project! {
    /// The response future of [`TraceService`]: the inner service's future, polled with the
    /// SERVER span (and the extracted baggage) current; it records the response and ends
    /// the span when it completes, or when it is dropped unfinished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tower::{Layer, Service};
    /// let mut service = threadline_http::server::TraceLayer::new().layer(tower::service_fn(
    ///     |_: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(())) },
    /// ));
    /// let future: threadline_http::server::ResponseFuture<_> =
    ///     service.call(http::Request::new(()));
    /// # drop(future);
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
        baggage: Baggage,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: fmt::Display,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _baggage = (!this.baggage.is_empty()).then(|| this.baggage.clone().attach());
            let _entered = this.span.as_ref().map(Span::enter);
            match this.inner.poll(cx) {
                Poll::Ready(result) => result,
                Poll::Pending => return Poll::Pending,
            }
        };
        if let Some(span) = this.span.take() {
            record_outcome(&span, &result);
        }
        Poll::Ready(result)
    }
}

fn record_outcome<B, E: fmt::Display>(span: &Span, result: &Result<Response<B>, E>) {
    if !span.is_recording() {
        return;
    }
    match result {
        Ok(response) => {
            let code = response.status().as_u16();
            span.add_attribute(attr::HTTP_RESPONSE_STATUS_CODE, i64::from(code));
            if code >= 500 {
                span.add_attribute(attr::ERROR_TYPE, code.to_string());
                span.set_status(Status::new(StatusCode::from_http(code), ""));
            }
        }
        Err(error) => {
            span.add_attribute(attr::ERROR_TYPE, std::any::type_name::<E>());
            span.set_status(Status::new(StatusCode::Unknown, error.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tower::{Layer, Service};

    use super::*;

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
    }

    #[derive(Debug)]
    struct Broken;

    impl fmt::Display for Broken {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("backend unreachable")
        }
    }

    #[test]
    fn service_error_sets_an_error_status() {
        let (tracer, spans) = Tracer::builder().in_memory();
        let failing = tower::service_fn(|_: Request<()>| async { Err::<Response<()>, _>(Broken) });
        let mut service = TraceLayer::with_tracer(tracer.clone()).layer(failing);
        let request = Request::post("http://example.com:8080/jobs")
            .header("host", "example.com:8080")
            .body(())
            .unwrap();
        assert!(block_on(service.call(request)).is_err());
        tracer.flush(Duration::from_secs(5)).unwrap();
        let span = &spans.spans()[0];
        assert_eq!(span.name, "POST");
        let status = span.status.as_ref().unwrap();
        assert_eq!(status.canonical_code(), StatusCode::Unknown);
        assert_eq!(status.description(), "backend unreachable");
        let attribute = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| kv.value.to_string())
        };
        assert!(attribute(attr::ERROR_TYPE).unwrap().ends_with("Broken"));
        assert_eq!(attribute(attr::URL_SCHEME).as_deref(), Some("http"));
        assert_eq!(attribute(attr::SERVER_PORT).as_deref(), Some("8080"));
        assert_eq!(attribute(attr::HTTP_RESPONSE_STATUS_CODE), None);
    }

    #[test]
    fn dropped_response_future_ends_the_span() {
        let (tracer, spans) = Tracer::builder().in_memory();
        let never = tower::service_fn(|_: Request<()>| {
            std::future::pending::<Result<Response<()>, Broken>>()
        });
        let mut service = TraceLayer::with_tracer(tracer.clone()).layer(never);
        let mut future = Box::pin(service.call(Request::new(())));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert!(
            !threadline::current_context().is_valid(),
            "span is not current between polls"
        );
        drop(future);
        tracer.flush(Duration::from_secs(5)).unwrap();
        assert_eq!(spans.spans().len(), 1);
    }
}

//! A real axum server and a real reqwest client in one process, each with its own in-memory
//! tracer: the client's CLIENT span is the parent of the server's SERVER span, in every
//! propagation format, with the HTTP semantic-conventions attributes on both.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode as HttpStatus;
use axum::routing::get;
use axum::Router;
use threadline::propagation::{
    B3Propagator, Baggage, BaggagePropagator, CompositePropagator, JaegerPropagator, Propagator,
    TraceContextPropagator,
};
use threadline::{FutureExt, InMemoryExporter, SpanData, SpanKind, StatusCode, Tracer, Value};
use threadline_http::client::TracingMiddleware;
use threadline_http::server::TraceLayer;

const FLUSH: Duration = Duration::from_secs(10);

/// Handler of `/users/{id}`: child spans before and after an await, and the ids of the span
/// current after the await, for the test to compare with the SERVER span.
async fn user(Path(id): Path<String>) -> String {
    {
        let _load = threadline::span("load user");
    }
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    let _render = threadline::span("render");
    let current = threadline::current_span();
    let parent = threadline::current_context();
    format!(
        "{id} {} {} baggage={}",
        current.span_id(),
        parent.trace_id(),
        Baggage::current().get("tenant").unwrap_or("-")
    )
}

async fn start_server(tracer: Tracer) -> SocketAddr {
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route(
            "/fail",
            get(|| async { (HttpStatus::INTERNAL_SERVER_ERROR, "broken") }),
        )
        .route("/teapot", get(|| async { (HttpStatus::IM_A_TEAPOT, "no") }))
        .layer(TraceLayer::with_tracer(tracer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct Side {
    tracer: Tracer,
    spans: InMemoryExporter,
}

fn side(propagator: impl Propagator) -> Side {
    let (tracer, spans) = Tracer::builder().propagator(propagator).in_memory();
    Side { tracer, spans }
}

fn client(tracer: &Tracer) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::with_tracer(tracer.clone()))
        .build()
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.clone())
}

fn str_attr(span: &SpanData, key: &str) -> Option<String> {
    match attribute(span, key) {
        Some(Value::Str(s)) => Some(s.to_string()),
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

fn int_attr(span: &SpanData, key: &str) -> i64 {
    match attribute(span, key) {
        Some(Value::I64(v)) => v,
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

fn only(spans: &[SpanData], kind: SpanKind) -> SpanData {
    let found: Vec<_> = spans.iter().filter(|s| s.kind == kind).collect();
    assert_eq!(found.len(), 1, "one {kind:?} span expected in {spans:#?}");
    found[0].clone()
}

/// One GET of `path` inside a root span; returns the response and both sides' spans.
async fn round_trip(
    propagator: impl Propagator + Clone,
    path: &str,
) -> (u16, String, Vec<SpanData>, Vec<SpanData>) {
    let server = side(propagator.clone());
    let caller = side(propagator);
    let addr = start_server(server.tracer.clone()).await;
    let client = client(&caller.tracer);
    let url = format!("http://{addr}{path}");
    let root = caller.tracer.span_builder("root").start();
    let response = async { client.get(&url).send().await.unwrap() }
        .in_span(root)
        .await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    caller.tracer.flush(FLUSH).unwrap();
    server.tracer.flush(FLUSH).unwrap();
    (status, body, caller.spans.spans(), server.spans.spans())
}

async fn check_parenting(propagator: impl Propagator + Clone) {
    let name = format!("{propagator:?}");
    let (status, body, caller, server) = round_trip(propagator, "/users/42").await;
    assert_eq!(status, 200, "{name}");

    let root = caller.iter().find(|s| s.name == "root").unwrap();
    let out = only(&caller, SpanKind::Client);
    let inbound = only(&server, SpanKind::Server);
    assert_eq!(out.parent_span_id, Some(root.span_id), "{name}");
    assert_eq!(inbound.trace_id, out.trace_id, "{name}");
    assert_eq!(inbound.parent_span_id, Some(out.span_id), "{name}");
    assert!(inbound.parent_is_remote, "{name}");

    // Server side: the route template names the span; children before and after an await.
    assert_eq!(inbound.name, "GET /users/{id}", "{name}");
    for child in ["load user", "render"] {
        let span = server.iter().find(|s| s.name == child).unwrap();
        assert_eq!(
            span.parent_span_id,
            Some(inbound.span_id),
            "{name}: {child}"
        );
        assert_eq!(span.trace_id, inbound.trace_id, "{name}: {child}");
    }
    let render = server.iter().find(|s| s.name == "render").unwrap();
    let mut words = body.split(' ');
    assert_eq!(words.next(), Some("42"));
    assert_eq!(
        words.next(),
        Some(render.span_id.to_string().as_str()),
        "{name}"
    );
    assert_eq!(
        words.next(),
        Some(inbound.trace_id.to_string().as_str()),
        "{name}"
    );
    assert_eq!(
        str_attr(&inbound, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(str_attr(&inbound, "url.path").as_deref(), Some("/users/42"));
    assert_eq!(
        str_attr(&inbound, "http.route").as_deref(),
        Some("/users/{id}")
    );
    assert_eq!(
        str_attr(&inbound, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        str_attr(&inbound, "network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert_eq!(int_attr(&inbound, "http.response.status_code"), 200);
    assert_eq!(inbound.status, None, "{name}");

    // Client side.
    assert_eq!(out.name, "GET", "{name}");
    assert_eq!(
        str_attr(&out, "http.request.method").as_deref(),
        Some("GET")
    );
    let url = str_attr(&out, "url.full").unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/users/42"),
        "{url}"
    );
    assert_eq!(
        str_attr(&out, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        int_attr(&out, "server.port"),
        int_attr(&inbound, "server.port"),
        "the port the client sent to is the one the Host header names"
    );
    assert_eq!(int_attr(&out, "http.response.status_code"), 200);
    assert_eq!(out.status, None, "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracecontext_parents_the_server_span() {
    check_parenting(TraceContextPropagator).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_single_parents_the_server_span() {
    check_parenting(B3Propagator::single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_multi_parents_the_server_span() {
    check_parenting(B3Propagator::multi()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jaeger_parents_the_server_span() {
    check_parenting(JaegerPropagator).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_is_an_error_on_both_sides() {
    let (status, _, caller, server) = round_trip(TraceContextPropagator, "/fail").await;
    assert_eq!(status, 500);
    let out = only(&caller, SpanKind::Client);
    let inbound = only(&server, SpanKind::Server);
    assert_eq!(inbound.name, "GET /fail");
    assert_eq!(int_attr(&inbound, "http.response.status_code"), 500);
    assert_eq!(str_attr(&inbound, "error.type").as_deref(), Some("500"));
    let server_status = inbound.status.expect("server span has an error status");
    assert_eq!(server_status.canonical_code(), StatusCode::Internal);
    assert_eq!(int_attr(&out, "http.response.status_code"), 500);
    assert_eq!(str_attr(&out, "error.type").as_deref(), Some("500"));
    assert!(!out.status.expect("client span has an error status").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_error_is_an_error_for_the_client_only() {
    let (status, _, caller, server) = round_trip(TraceContextPropagator, "/teapot").await;
    assert_eq!(status, 418);
    let out = only(&caller, SpanKind::Client);
    let inbound = only(&server, SpanKind::Server);
    assert_eq!(int_attr(&inbound, "http.response.status_code"), 418);
    assert_eq!(
        inbound.status, None,
        "4xx leaves a server span's status unset"
    );
    assert_eq!(attribute(&inbound, "error.type"), None);
    assert_eq!(str_attr(&out, "error.type").as_deref(), Some("418"));
    assert!(!out.status.expect("client span has an error status").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_path_is_named_after_the_method() {
    let (status, _, _, server) = round_trip(TraceContextPropagator, "/nowhere?x=1").await;
    assert_eq!(status, 404);
    let inbound = only(&server, SpanKind::Server);
    assert_eq!(inbound.name, "GET");
    assert_eq!(attribute(&inbound, "http.route"), None);
    assert_eq!(str_attr(&inbound, "url.query").as_deref(), Some("x=1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baggage_reaches_the_handler() {
    let propagator = || {
        CompositePropagator::new()
            .with(TraceContextPropagator)
            .with(BaggagePropagator)
    };
    let server = side(propagator());
    let caller = side(propagator());
    let addr = start_server(server.tracer.clone()).await;
    let client = client(&caller.tracer);
    let mut baggage = Baggage::new();
    baggage.insert("tenant", "acme").unwrap();
    let url = format!("http://{addr}/users/7");
    let body = async { client.get(&url).send().await.unwrap().text().await.unwrap() }
        .with_baggage(baggage)
        .await;
    assert!(body.ends_with("baggage=acme"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_is_a_transport_error() {
    let caller = side(TraceContextPropagator);
    // A port that was just free: nothing listens on it any more.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let result = client(&caller.tracer)
        .get(format!("http://{addr}/"))
        .send()
        .await;
    assert!(result.is_err());
    caller.tracer.flush(FLUSH).unwrap();
    let out = only(&caller.spans.spans(), SpanKind::Client);
    assert_eq!(out.parent_span_id, None);
    assert_eq!(str_attr(&out, "error.type").as_deref(), Some("connect"));
    assert_eq!(attribute(&out, "http.response.status_code"), None);
    let status = out.status.expect("error status");
    assert!(!status.is_ok());
    assert!(!status.description().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_deny_records_nothing_on_the_server() {
    let server = side(B3Propagator::single());
    let addr = start_server(server.tracer.clone()).await;
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/users/1"))
        .header("b3", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.tracer.flush(FLUSH).unwrap();
    assert_eq!(server.spans.spans(), Vec::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_context_starts_a_trace() {
    let server = side(TraceContextPropagator);
    let addr = start_server(server.tracer.clone()).await;
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/users/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.tracer.flush(FLUSH).unwrap();
    let inbound = only(&server.spans.spans(), SpanKind::Server);
    assert_eq!(inbound.parent_span_id, None);
    assert!(!inbound.parent_is_remote);
}

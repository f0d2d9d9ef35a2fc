//! The tower layer around a plain hyper server (no axum): a SERVER span per request, named
//! after the method, its parent extracted from the request, current in the handler.

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use threadline::propagation::TraceContextPropagator;
use threadline::{SpanKind, Tracer};
use threadline_http::server::TraceLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::Layer;

async fn handler(request: Request<Incoming>) -> Result<Response<String>, Infallible> {
    tokio::task::yield_now().await;
    let _child = threadline::span("handler work");
    let status = if request.uri().path() == "/boom" {
        503
    } else {
        200
    };
    let mut response = Response::new(threadline::current_context().trace_id().to_string());
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
    Ok(response)
}

/// Serves one connection with hyper and sends one raw HTTP/1.1 request on it.
async fn one_request(tracer: &Tracer, path: &str, traceparent: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceLayer::with_tracer(tracer.clone()).layer(tower::service_fn(handler));
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .await
            .unwrap();
    });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: localhost:{}\r\ntraceparent: {traceparent}\r\nconnection: close\r\n\r\n",
        addr.port()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    server.await.unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_server_spans() {
    let (tracer, spans) = Tracer::builder()
        .propagator(TraceContextPropagator)
        .in_memory();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let ok = one_request(&tracer, "/hello", traceparent).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("4bf92f3577b34da6a3ce929d0e0e4736"), "{ok}");
    let failed = one_request(&tracer, "/boom", traceparent).await;
    assert!(failed.starts_with("HTTP/1.1 503"), "{failed}");
    tracer.flush(Duration::from_secs(10)).unwrap();

    let spans = spans.spans();
    let servers: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .collect();
    assert_eq!(servers.len(), 2, "{spans:#?}");
    for server in &servers {
        assert_eq!(server.name, "GET");
        assert_eq!(
            server.trace_id.to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            server.parent_span_id.unwrap().to_string(),
            "00f067aa0ba902b7"
        );
        let child = spans
            .iter()
            .find(|s| s.name == "handler work" && s.parent_span_id == Some(server.span_id));
        assert!(
            child.is_some(),
            "the handler's span is a child of {server:?}"
        );
        let attribute = |key: &str| {
            server
                .attributes
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(attribute("server.address").as_deref(), Some("localhost"));
        assert_eq!(attribute("http.route"), None);
    }
    let boom = servers
        .iter()
        .find(|s| {
            s.attributes
                .iter()
                .any(|kv| kv.key == "url.path" && kv.value.to_string() == "/boom")
        })
        .unwrap();
    assert_eq!(
        boom.status.as_ref().unwrap().canonical_code(),
        threadline::StatusCode::Unavailable
    );
}

//! The quickstart example, end to end, to Zipkin and Jaeger receivers: the built example
//! binary runs with `OTEL_TRACES_EXPORTER` and the exporter's variables pointing at sockets this
//! test binds on 127.0.0.1, and what arrives is judged by outside authorities, not by our own
//! decoders: Zipkin's official `ListOfSpans` schema (`zipkin2-api.yaml` from the shared specs)
//! for the Zipkin body, and jaeger-client's own generated Thrift classes
//! (`scripts/peers/jaeger_decode.py`) for the Jaeger datagrams and the collector body.
//!
//! The sockets only capture: the HTTP listener records each request and answers 202, as Zipkin
//! and Jaeger's collector do; the UDP socket stands in for the agent.
//!
//! Needs `THREADLINE_QUICKSTART` (the example binary, built with
//! `cargo build --example quickstart`; a relative path is taken from the workspace root) and,
//! for Jaeger, `THREADLINE_PEERS_PYTHON` (the peers' Python with jaeger-client). `scripts/ci`
//! sets both; a plain `cargo test` lists these tests as ignored. The Zipkin spec is read from
//! `<repo>/../shared/specs`, or from `THREADLINE_SHARED_SPECS` when set.

mod support;

#[path = "../../threadline-wire/tests/peers/mod.rs"]
mod peers;

#[path = "../../threadline-wire/tests/zipkin_spec/mod.rs"]
mod zipkin_spec;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use support::{Reply, Request, Server};

/// How long the sockets wait for what the example sent before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// jaeger-client's classes reading a body: `compact` (emitBatch) or `binary` (Batch).
const DECODER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../scripts/peers/jaeger_decode.py"
);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the quickstart binary with `env` set (and every `OTEL_*` variable of this process
/// removed first), and checks that it succeeded.
fn run_quickstart(env: &[(&str, &str)]) {
    let binary = std::env::var("THREADLINE_QUICKSTART").expect(
        "THREADLINE_QUICKSTART names the quickstart example binary (cargo build --example quickstart)",
    );
    let binary = workspace_root().join(binary);
    let mut command = Command::new(&binary);
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") || name.starts_with("THREADLINE_CONSOLE") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    assert!(
        out.status.success(),
        "the quickstart failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The quickstart's trace as the receiver saw it: `(span id, trace id, parent id, name)`.
type Span = (String, String, String, String);

/// Checks the quickstart's shape: 11 spans of one trace, 10 `doWork` children of `main`.
fn check_trace(spans: &[Span]) {
    assert_eq!(spans.len(), 11, "{spans:#?}");
    let traces: BTreeSet<&str> = spans.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(traces.len(), 1, "{spans:#?}");
    let mains: Vec<&Span> = spans.iter().filter(|s| s.3 == "main").collect();
    assert_eq!(mains.len(), 1, "{spans:#?}");
    let main = mains[0];
    let work: Vec<&Span> = spans.iter().filter(|s| s.3 == "doWork").collect();
    assert_eq!(work.len(), 10, "{spans:#?}");
    for span in work {
        assert_eq!(span.2, main.0, "a doWork child of main: {spans:#?}");
    }
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(ids.len(), 11, "distinct span ids: {spans:#?}");
}

/// A capture listener answering 202 to every request.
fn capture() -> Server {
    let server = Server::start();
    for _ in 0..32 {
        server.reply(Reply::status(202, ""));
    }
    server
}

/// Takes the requests `server` captured until 11 spans arrived, each a POST to `path` read by
/// `decode`, failing at the deadline; then checks that nothing more came.
fn receive_requests(
    server: &Server,
    path: &str,
    decode: impl Fn(&Request) -> Vec<Span>,
) -> Vec<Span> {
    let deadline = Instant::now() + DEADLINE;
    let mut spans = Vec::new();
    while spans.len() < 11 {
        assert!(
            Instant::now() < deadline,
            "only {} of 11 spans arrived",
            spans.len()
        );
        let request = server.next_request();
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, path);
        spans.extend(decode(&request));
    }
    assert!(server.received().is_empty(), "no more than 11 spans");
    spans
}

#[test]
#[ignore = "needs the quickstart binary (THREADLINE_QUICKSTART), which scripts/ci builds"]
fn quickstart_delivers_to_a_zipkin_receiver() {
    let validator = zipkin_spec::list_of_spans_validator();
    // the schema bites: a span id that is not 16 hex digits is refused
    assert!(!validator.is_valid(&json!([{"traceId": "4bf92f3577b34da6", "id": "xyz"}])));
    let server = capture();
    let url = server.url("/api/v2/spans");
    run_quickstart(&[
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", &url),
        ("OTEL_SERVICE_NAME", "quickstart-zipkin"),
    ]);
    let spans = receive_requests(&server, "/api/v2/spans", |request| {
        let body: Json = serde_json::from_slice(&request.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&request.body)));
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{body:#}");
        let list = body.as_array().expect("a ListOfSpans");
        list.iter()
            .map(|span| {
                let field = |name: &str| span[name].as_str().unwrap_or("").to_string();
                assert_eq!(
                    span["localEndpoint"]["serviceName"], "quickstart-zipkin",
                    "{span:#}"
                );
                (
                    field("id"),
                    field("traceId"),
                    field("parentId"),
                    field("name"),
                )
            })
            .collect()
    });
    check_trace(&spans);
}

/// What jaeger-client's classes read in one body: its service names and spans.
fn decode_jaeger(mode: &str, body: &[u8]) -> (Vec<String>, Vec<Span>) {
    let text = peers::run_python(&[DECODER, mode], body);
    let mut services = Vec::new();
    let mut spans = Vec::new();
    for line in text.lines() {
        if let Some(service) = line.strip_prefix("service ") {
            services.push(service.to_string());
        } else if let Some(span) = line.strip_prefix("span ") {
            let f: Vec<&str> = span.split(' ').collect();
            assert_eq!(f.len(), 7, "{line}");
            let parent = if f[2] == "0000000000000000" { "" } else { f[2] };
            spans.push((
                f[0].to_string(),
                f[1].to_string(),
                parent.to_string(),
                f[3].to_string(),
            ));
        }
    }
    if mode == "compact" {
        assert!(text.lines().any(|l| l == "message emitBatch"), "{text}");
    }
    (services, spans)
}

#[test]
#[ignore = "needs the quickstart binary (THREADLINE_QUICKSTART) and jaeger-client (THREADLINE_PEERS_PYTHON), which scripts/ci provides"]
fn quickstart_delivers_to_a_jaeger_agent() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let port = socket.local_addr().expect("addr").port().to_string();
    run_quickstart(&[
        ("OTEL_TRACES_EXPORTER", "jaeger"),
        ("OTEL_EXPORTER_JAEGER_AGENT_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_JAEGER_AGENT_PORT", &port),
        ("OTEL_SERVICE_NAME", "quickstart-jaeger"),
    ]);
    let deadline = Instant::now() + DEADLINE;
    let mut spans = Vec::new();
    let mut buf = vec![0; 65_536];
    while spans.len() < 11 {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only {} of 11 spans arrived", spans.len());
        socket.set_read_timeout(Some(left)).expect("timeout");
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("only {} of 11 spans arrived: {e}", spans.len()));
        let (services, decoded) = decode_jaeger("compact", &buf[..n]);
        assert_eq!(services, ["quickstart-jaeger"]);
        spans.extend(decoded);
    }
    // the example has exited, and loopback delivers a datagram before `send` returns
    socket.set_nonblocking(true).expect("nonblocking");
    let extra = socket.recv(&mut buf);
    assert!(
        matches!(&extra, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "more than 11 spans arrived: {extra:?}"
    );
    check_trace(&spans);
}

#[test]
#[ignore = "needs the quickstart binary (THREADLINE_QUICKSTART) and jaeger-client (THREADLINE_PEERS_PYTHON), which scripts/ci provides"]
fn quickstart_delivers_to_a_jaeger_collector_over_http() {
    let server = capture();
    let url = server.url("/api/traces");
    run_quickstart(&[
        ("OTEL_TRACES_EXPORTER", "jaeger"),
        ("OTEL_EXPORTER_JAEGER_PROTOCOL", "http/thrift.binary"),
        ("OTEL_EXPORTER_JAEGER_ENDPOINT", &url),
    ]);
    let spans = receive_requests(&server, "/api/traces", |request| {
        assert_eq!(request.header("content-type"), Some("application/x-thrift"));
        let (services, decoded) = decode_jaeger("binary", &request.body);
        // no OTEL_SERVICE_NAME: the default names the program
        assert_eq!(services, ["unknown_service:quickstart"]);
        decoded
    });
    check_trace(&spans);
}

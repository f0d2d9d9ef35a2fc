//! The exporters against a local fault-injecting HTTP server: exact requests, retries,
//! rejections, dead and silent backends, and environment parsing.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use support::{collecting, dead_address, fast_retries, lookup, spans, Reply, Server};
use threadline::{ExportError, Exporter, SpanData, Tracer};
use threadline_export::{
    Compression, OtlpConfig, OtlpExporter, OtlpProtocol, ZipkinConfig, ZipkinEncoding,
    ZipkinExporter,
};
use threadline_wire::{otlp, zipkin};

fn zipkin_to(url: String, timeout: Duration) -> ZipkinExporter {
    ZipkinExporter::new(ZipkinConfig {
        endpoint: url,
        timeout,
        retry: fast_retries(),
        ..ZipkinConfig::default()
    })
    .unwrap()
}

fn ids(spans: &[SpanData]) -> Vec<(String, String, String)> {
    let mut ids: Vec<_> = spans
        .iter()
        .map(|s| {
            (
                s.span_id.to_string(),
                s.parent_span_id.map(|p| p.to_string()).unwrap_or_default(),
                s.name.to_string(),
            )
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn zipkin_json_request_is_exact() {
    let server = Server::start();
    let mut exporter = zipkin_to(server.url("/api/v2/spans"), Duration::from_secs(5));
    let sent = spans();
    exporter.export(&sent).unwrap();

    let request = server.next_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/api/v2/spans");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, zipkin::json::encode(&sent));
    let received = zipkin::json::decode(&request.body).unwrap();
    assert_eq!(ids(&received), ids(&sent));
    assert!(received
        .iter()
        .all(|s| s.resource.service_name == "quickstart"));
}

#[test]
fn zipkin_proto_and_seed_options() {
    let server = Server::start();
    let mut config = ZipkinConfig::from_parts("127.0.0.1", server.addr.port(), "custom/spans");
    config.encoding = ZipkinEncoding::Proto;
    let mut exporter = ZipkinExporter::new(config).unwrap();
    let sent = spans();
    exporter.export(&sent).unwrap();

    let request = server.next_request();
    assert_eq!(request.path, "/custom/spans");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(
        ids(&zipkin::proto::decode(&request.body).unwrap()),
        ids(&sent)
    );
}

#[test]
fn otlp_request_has_headers_and_gzip_body() {
    let server = Server::start();
    let mut exporter = OtlpExporter::new(OtlpConfig {
        endpoint: server.url("/v1/traces"),
        headers: vec![
            ("x-honeycomb-team".into(), "secret key".into()),
            ("x-honeycomb-dataset".into(), "quickstart".into()),
        ],
        compression: Compression::Gzip,
        timeout: Duration::from_secs(5),
        ..OtlpConfig::default()
    })
    .unwrap();
    let sent = spans();
    exporter.export(&sent).unwrap();

    let request = server.next_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(request.header("x-honeycomb-team"), Some("secret key"));
    assert_eq!(request.header("x-honeycomb-dataset"), Some("quickstart"));
    let mut body = Vec::new();
    flate2::read::GzDecoder::new(&request.body[..])
        .read_to_end(&mut body)
        .expect("a gzip body");
    assert_eq!(otlp::proto::decode(&body).unwrap(), sent);
}

#[test]
fn otlp_json_without_compression() {
    let server = Server::start();
    let mut exporter = OtlpExporter::new(OtlpConfig {
        endpoint: server.url("/v1/traces"),
        protocol: OtlpProtocol::HttpJson,
        ..OtlpConfig::default()
    })
    .unwrap();
    let sent = spans();
    exporter.export(&sent).unwrap();
    let request = server.next_request();
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("content-encoding"), None);
    assert_eq!(otlp::json::decode(&request.body).unwrap(), sent);
}

#[test]
fn retry_after_is_honoured_then_delivered_once() {
    let server = Server::start();
    server.reply(Reply::status(503, "busy").with_header("Retry-After", "1"));
    let mut exporter = zipkin_to(server.url("/api/v2/spans"), Duration::from_secs(5));
    exporter.export(&spans()).unwrap();

    let first = server.next_request();
    let second = server.next_request();
    assert!(
        second.received_at - first.received_at >= Duration::from_secs(1),
        "retried after {:?}",
        second.received_at - first.received_at
    );
    assert_eq!(first.body, second.body);
    assert!(server.received().is_empty(), "delivered more than once");
}

#[test]
fn retry_after_beyond_the_timeout_gives_up_at_once() {
    let server = Server::start();
    server.reply(Reply::status(429, "slow down").with_header("Retry-After", "30"));
    let mut exporter = zipkin_to(server.url("/api/v2/spans"), Duration::from_secs(2));
    let started = Instant::now();
    let error = exporter.export(&spans()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&error, ExportError::Transport(m) if m.contains("429") && m.contains("slow down")),
        "{error:?}"
    );
    assert_eq!(server.received().len(), 1);
}

#[test]
fn bad_request_is_not_retried_and_logged_once_per_status() {
    let server = Server::start();
    let long_tail = "x".repeat(500);
    for _ in 0..2 {
        server.reply(Reply::status(
            400,
            &format!("invalid span: traceId {long_tail}"),
        ));
    }
    server.reply(Reply::status(413, "too large"));
    let (diagnostics, seen) = collecting();
    let mut exporter = ZipkinExporter::new(ZipkinConfig {
        endpoint: server.url("/api/v2/spans"),
        timeout: Duration::from_secs(5),
        diagnostics,
        ..ZipkinConfig::default()
    })
    .unwrap();

    for _ in 0..2 {
        match exporter.export(&spans()).unwrap_err() {
            ExportError::Rejected(message) => {
                assert!(message.contains("400"), "{message}");
                assert!(message.contains("invalid span: traceId"), "{message}");
                assert!(
                    message.len() < 260,
                    "message not cut: {} bytes",
                    message.len()
                );
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
    assert!(
        matches!(exporter.export(&spans()), Err(ExportError::Rejected(m)) if m.contains("413"))
    );
    assert_eq!(server.received().len(), 3, "a 4xx was retried");

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].contains("status = 400") && seen[0].contains("invalid span"));
    assert!(seen[1].contains("status = 413") && seen[1].contains("too large"));
}

#[test]
fn connection_refused_is_bounded_and_a_transport_error() {
    let dead = dead_address();
    let timeout = Duration::from_millis(400);
    let mut exporter = zipkin_to(format!("http://{dead}/api/v2/spans"), timeout);
    let started = Instant::now();
    let error = exporter.export(&spans()).unwrap_err();
    let elapsed = started.elapsed();
    // Bounded by the timeout: a generous margin tells "gave up" from "kept retrying".
    assert!(
        elapsed < timeout + Duration::from_secs(3),
        "took {elapsed:?}"
    );
    assert!(
        matches!(&error, ExportError::Transport(m) if m.contains("cannot reach")),
        "{error:?}"
    );
}

#[test]
fn silent_server_times_out_within_the_timeout() {
    let server = Server::start();
    server.reply(Reply::Silent);
    server.reply(Reply::Silent);
    let timeout = Duration::from_millis(300);
    let mut exporter = zipkin_to(server.url("/api/v2/spans"), timeout);
    let started = Instant::now();
    let error = exporter.export(&spans()).unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= timeout, "gave up early: {elapsed:?}");
    assert!(
        matches!(error, ExportError::Timeout(t) if t == timeout),
        "{error:?}"
    );
}

#[test]
fn backend_down_at_start_then_back_gets_later_batches() {
    let addr = dead_address();
    let exporter = OtlpExporter::new(OtlpConfig {
        endpoint: format!("http://{addr}/v1/traces"),
        timeout: Duration::from_millis(300),
        retry: fast_retries(),
        ..OtlpConfig::default()
    })
    .unwrap();
    let tracer = Tracer::builder()
        .service_name("comeback")
        .batch_exporter(exporter)
        .build();

    drop(tracer.span("while down"));
    // The flush completes (the exporter answered in bounded time); the span is counted failed.
    let _ = tracer.flush(Duration::from_secs(5));
    assert_eq!(tracer.stats().failed, 1);
    assert_eq!(tracer.stats().exported, 0);

    let server = Server::start_at(addr);
    drop(tracer.span("after restart"));
    tracer.flush(Duration::from_secs(5)).unwrap();
    let request = server.next_request();
    let received = otlp::proto::decode(&request.body).unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].name, "after restart");
    assert_eq!(tracer.stats().exported, 1);
    tracer.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn exports_after_shutdown_fail() {
    let mut exporter = zipkin_to(
        format!("http://{}/", dead_address()),
        Duration::from_secs(1),
    );
    exporter.shutdown().unwrap();
    assert!(matches!(
        exporter.export(&spans()),
        Err(ExportError::Shutdown)
    ));
}

#[test]
fn zipkin_env() {
    let defaults = ZipkinConfig::from_lookup(lookup(&[]));
    assert_eq!(defaults.endpoint, "http://localhost:9411/api/v2/spans");
    assert_eq!(defaults.timeout, Duration::from_millis(10_000));
    assert_eq!(defaults.encoding, ZipkinEncoding::Json);
    assert!(defaults.warnings.is_empty());

    let set = ZipkinConfig::from_lookup(lookup(&[
        (
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
            "http://zipkin:9411/api/v2/spans",
        ),
        ("OTEL_EXPORTER_ZIPKIN_TIMEOUT", "2500"),
    ]));
    assert_eq!(set.endpoint, "http://zipkin:9411/api/v2/spans");
    assert_eq!(set.timeout, Duration::from_millis(2500));
    assert!(set.warnings.is_empty());

    let bad = ZipkinConfig::from_lookup(lookup(&[
        ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "zipkin:9411"),
        ("OTEL_EXPORTER_ZIPKIN_TIMEOUT", "0"),
    ]));
    assert_eq!(bad.endpoint, "http://localhost:9411/api/v2/spans");
    assert_eq!(bad.timeout, Duration::from_millis(10_000));
    assert_eq!(bad.warnings.len(), 2, "{:?}", bad.warnings);
    assert!(bad.warnings[0].contains("OTEL_EXPORTER_ZIPKIN_ENDPOINT"));
    assert!(bad.warnings[0].contains("using http://localhost:9411/api/v2/spans"));
    assert!(bad.warnings[1].contains("OTEL_EXPORTER_ZIPKIN_TIMEOUT"));
    assert!(bad.warnings[1].contains("using 10000"));
}

#[test]
fn otlp_env_defaults_and_precedence() {
    let defaults = OtlpConfig::from_lookup(lookup(&[]));
    assert_eq!(defaults.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(defaults.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(defaults.compression, Compression::None);
    assert_eq!(defaults.timeout, Duration::from_millis(10_000));
    assert!(defaults.headers.is_empty() && defaults.warnings.is_empty());

    let general = OtlpConfig::from_lookup(lookup(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-honeycomb-team=abc%2Fdef , x-b = 1",
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
    ]));
    assert_eq!(general.endpoint, "http://collector:4318/v1/traces");
    assert_eq!(general.protocol, OtlpProtocol::HttpJson);
    assert_eq!(
        general.headers,
        vec![
            ("x-honeycomb-team".to_string(), "abc/def".to_string()),
            ("x-b".to_string(), "1".to_string())
        ]
    );
    assert_eq!(general.compression, Compression::Gzip);
    assert_eq!(general.timeout, Duration::from_millis(1500));
    assert!(general.warnings.is_empty(), "{:?}", general.warnings);

    let specific = OtlpConfig::from_lookup(lookup(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces:9999/custom",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
    ]));
    assert_eq!(specific.endpoint, "http://traces:9999/custom");
    assert_eq!(specific.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(specific.headers, vec![("b".to_string(), "2".to_string())]);
    assert_eq!(specific.compression, Compression::None);
    assert_eq!(specific.timeout, Duration::from_millis(700));
    assert!(specific.warnings.is_empty(), "{:?}", specific.warnings);
}

#[test]
fn otlp_env_bad_values_warn_and_fall_back() {
    let bad = OtlpConfig::from_lookup(lookup(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "carrier-pigeon"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "ok=1,broken,bad=%zz,=novalue"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "10s"),
    ]));
    assert_eq!(bad.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(bad.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(bad.headers, vec![("ok".to_string(), "1".to_string())]);
    assert_eq!(bad.compression, Compression::None);
    assert_eq!(bad.timeout, Duration::from_millis(10_000));
    let all = bad.warnings.join("\n");
    for expected in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "using http/protobuf",
        "\"broken\"",
        "\"bad=%zz\"",
        "\"=novalue\"",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "using none",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "using 10000",
    ] {
        assert!(all.contains(expected), "no warning has {expected}: {all}");
    }
    assert_eq!(bad.warnings.len(), 7, "{all}");

    let grpc = OtlpConfig::from_lookup(lookup(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]));
    if cfg!(feature = "grpc") {
        assert_eq!(grpc.protocol, OtlpProtocol::Grpc);
        assert!(grpc.warnings.is_empty(), "{:?}", grpc.warnings);
    } else {
        assert_eq!(grpc.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(grpc.warnings.len(), 1);
        assert!(grpc.warnings[0].contains("OTEL_EXPORTER_OTLP_PROTOCOL"));
        assert!(grpc.warnings[0].contains("`grpc` cargo feature"));
    }
}

#[test]
fn register_makes_the_names_known() {
    threadline_export::register();
    let config = threadline::config::EnvConfig::from_lookup(lookup(&[
        ("OTEL_TRACES_EXPORTER", "zipkin,otlp"),
        ("OTEL_SERVICE_NAME", "registered"),
    ]));
    assert_eq!(config.exporters, vec!["zipkin", "otlp"]);
    // Building must not warn about unknown names; the exporters are created from the real
    // environment, whose defaults are valid.
    let tracer = config.into_builder().build();
    assert_eq!(tracer.resource().service_name, "registered");
    tracer.shutdown(Duration::from_secs(1)).ok();
}

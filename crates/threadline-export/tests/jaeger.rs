//! The Jaeger exporter against a real UDP socket (the agent's side) and the local
//! fault-injecting HTTP server (the collector's side), and its environment parsing.

mod support;

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{collecting, fast_retries, lookup, Reply, Server};
use threadline::{ExportError, Exporter, KeyValue, SpanData, SpanId, TraceId};
use threadline_export::{JaegerConfig, JaegerExporter, JaegerProtocol};
use threadline_wire::jaeger::{binary, compact};

/// `count` spans, each with an attribute of `attribute_len` bytes.
fn spans(count: u64, attribute_len: usize) -> Vec<SpanData> {
    (1..=count)
        .map(|i| {
            let mut span = SpanData::new(TraceId(0x4bf9_2f35), SpanId(i), format!("op-{i}"));
            span.attributes
                .push(KeyValue::new("payload", "x".repeat(attribute_len)));
            span
        })
        .collect()
}

/// The agent's side: a socket on an ephemeral port that gives up waiting after 5 s.
fn agent() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket
}

fn exporter_to(
    agent: &UdpSocket,
    max_packet_size: usize,
) -> (JaegerExporter, Arc<Mutex<Vec<String>>>) {
    let (diagnostics, seen) = collecting();
    let exporter = JaegerExporter::new(JaegerConfig {
        agent_host: "127.0.0.1".into(),
        agent_port: agent.local_addr().unwrap().port(),
        max_packet_size,
        diagnostics,
        ..JaegerConfig::default()
    })
    .unwrap();
    (exporter, seen)
}

/// Receives datagrams until `expected` spans arrived; returns each datagram's size and all the
/// decoded spans, sorted by id.
fn receive(agent: &UdpSocket, expected: usize) -> (Vec<usize>, Vec<SpanData>) {
    let mut buf = vec![0u8; 70_000];
    let mut sizes = Vec::new();
    let mut received = Vec::new();
    while received.len() < expected {
        let n = agent.recv(&mut buf).expect("a datagram within 5 s");
        sizes.push(n);
        received.extend(compact::decode_emit_batch(&buf[..n]).expect("a valid emitBatch"));
    }
    received.sort_by_key(|s| s.span_id.0);
    (sizes, received)
}

/// Nothing more arrives (a short wait: only used after everything expected was received).
fn assert_nothing_more(agent: &UdpSocket) {
    agent
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = vec![0u8; 70_000];
    assert!(agent.recv(&mut buf).is_err(), "an unexpected datagram");
}

#[test]
fn udp_batch_is_split_into_bounded_packets() {
    let agent = agent();
    let (mut exporter, seen) = exporter_to(&agent, 2_000);
    assert_eq!(exporter.protocol(), JaegerProtocol::UdpThriftCompact);
    let sent = spans(60, 300);
    exporter.export(&sent).unwrap();

    let (sizes, received) = receive(&agent, sent.len());
    assert!(sizes.len() > 5, "only {} packets", sizes.len());
    assert!(sizes.iter().all(|&n| n <= 2_000), "{sizes:?}");
    assert_eq!(received, sent);
    assert_nothing_more(&agent);
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(exporter.too_large_dropped(), 0);
}

#[test]
fn udp_default_packet_size_is_65000() {
    let agent = agent();
    let (mut exporter, _) = exporter_to(&agent, JaegerConfig::default().max_packet_size);
    // about 100 kB of spans: two full-size datagrams, which a default receive buffer holds
    let sent = spans(200, 500);
    exporter.export(&sent).unwrap();

    let (sizes, received) = receive(&agent, sent.len());
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert!(sizes.iter().all(|&n| n <= 65_000), "{sizes:?}");
    assert!(sizes[0] > 60_000, "the first packet is not full: {sizes:?}");
    assert_eq!(received, sent);
}

#[test]
fn udp_too_large_span_is_reported_and_the_rest_delivered() {
    let agent = agent();
    let (mut exporter, seen) = exporter_to(&agent, 2_000);
    let mut sent = spans(20, 200);
    sent[7]
        .attributes
        .push(KeyValue::new("huge", "y".repeat(5_000)));
    exporter.export(&sent).unwrap();

    let (sizes, received) = receive(&agent, sent.len() - 1);
    assert!(sizes.iter().all(|&n| n <= 2_000), "{sizes:?}");
    let mut expected = sent.clone();
    expected.remove(7);
    assert_eq!(received, expected);
    assert_nothing_more(&agent);

    assert_eq!(exporter.too_large_dropped(), 1);
    let warnings = seen.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("dropped 1 span(s)"), "{warnings:?}");
    assert!(warnings[0].contains("\"op-8\""), "{warnings:?}");
    assert!(warnings[0].contains("2000-byte"), "{warnings:?}");

    // Nothing sendable at all: the batch is rejected, and still reported.
    let err = exporter.export(&sent[7..8]).unwrap_err();
    assert!(matches!(err, ExportError::Rejected(_)), "{err:?}");
    assert_eq!(exporter.too_large_dropped(), 2);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn udp_refused_agent_is_a_quick_transport_error() {
    // A port nothing listens on: the ICMP "port unreachable" of one datagram surfaces as
    // ECONNREFUSED on a later send of the connected socket.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (mut exporter, _) = exporter_to(&dead, 2_000);
    drop(dead);
    let batch = spans(3, 10);
    let started = Instant::now();
    let mut errors = Vec::new();
    for _ in 0..50 {
        if let Err(e) = exporter.export(&batch) {
            errors.push(e);
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    match errors.first() {
        Some(ExportError::Transport(message)) => {
            assert!(message.contains("127.0.0.1"), "{message}")
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[test]
fn udp_after_shutdown_fails() {
    let agent = agent();
    let (mut exporter, _) = exporter_to(&agent, 2_000);
    exporter.shutdown().unwrap();
    assert!(matches!(
        exporter.export(&spans(1, 1)),
        Err(ExportError::Shutdown)
    ));
}

#[test]
fn invalid_configs_are_refused() {
    let bad = |config: JaegerConfig| JaegerExporter::new(config).unwrap_err();
    assert!(bad(JaegerConfig {
        max_packet_size: 0,
        ..JaegerConfig::default()
    })
    .contains("packet size"));
    assert!(bad(JaegerConfig {
        max_packet_size: 70_000,
        ..JaegerConfig::default()
    })
    .contains("packet size"));
    assert!(bad(JaegerConfig {
        agent_host: " ".into(),
        ..JaegerConfig::default()
    })
    .contains("host"));
    assert!(bad(JaegerConfig {
        protocol: JaegerProtocol::HttpThriftBinary,
        endpoint: "jaeger:14268".into(),
        ..JaegerConfig::default()
    })
    .contains("not an http"));
}

fn collector_to(server: &Server) -> JaegerExporter {
    JaegerExporter::new(JaegerConfig {
        protocol: JaegerProtocol::HttpThriftBinary,
        endpoint: server.url("/api/traces"),
        timeout: Duration::from_secs(5),
        retry: fast_retries(),
        ..JaegerConfig::default()
    })
    .unwrap()
}

#[test]
fn http_collector_request_is_exact() {
    let server = Server::start();
    let mut exporter = collector_to(&server);
    assert_eq!(exporter.protocol(), JaegerProtocol::HttpThriftBinary);
    let sent = spans(3, 20);
    exporter.export(&sent).unwrap();

    let request = server.next_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/api/traces");
    assert_eq!(request.header("content-type"), Some("application/x-thrift"));
    assert_eq!(binary::decode_batch(&request.body).unwrap(), sent);
    assert!(server.received().is_empty());
}

#[test]
fn http_collector_one_request_per_service() {
    let server = Server::start();
    let mut exporter = collector_to(&server);
    let mut sent = spans(4, 20);
    let billing = Arc::new(threadline::Resource::new("billing"));
    sent[1].resource = billing.clone();
    sent[3].resource = billing;
    exporter.export(&sent).unwrap();

    let first = binary::decode_batch(&server.next_request().body).unwrap();
    let second = binary::decode_batch(&server.next_request().body).unwrap();
    assert_eq!(first, vec![sent[0].clone(), sent[2].clone()]);
    assert_eq!(second, vec![sent[1].clone(), sent[3].clone()]);
}

#[test]
fn http_collector_503_is_retried() {
    let server = Server::start();
    server.reply(Reply::status(503, "busy"));
    let mut exporter = collector_to(&server);
    let sent = spans(2, 20);
    exporter.export(&sent).unwrap();

    let first = server.next_request();
    let second = server.next_request();
    assert_eq!(first.body, second.body);
    assert_eq!(binary::decode_batch(&second.body).unwrap(), sent);
    assert!(server.received().is_empty());
}

#[test]
fn http_collector_400_is_rejected() {
    let server = Server::start();
    server.reply(Reply::status(400, "bad thrift"));
    let mut exporter = collector_to(&server);
    let err = exporter.export(&spans(1, 1)).unwrap_err();
    match err {
        ExportError::Rejected(message) => assert!(message.contains("bad thrift"), "{message}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn env_defaults() {
    let config = JaegerConfig::from_lookup(lookup(&[]));
    assert_eq!(config.protocol, JaegerProtocol::UdpThriftCompact);
    assert_eq!(config.agent_host, "localhost");
    assert_eq!(config.agent_port, 6831);
    assert_eq!(config.max_packet_size, 65_000);
    assert_eq!(config.endpoint, "http://localhost:14268/api/traces");
    assert_eq!(config.timeout, Duration::from_millis(10_000));
    assert!(config.warnings.is_empty());
    let exporter = JaegerExporter::new(config).unwrap();
    assert_eq!(exporter.endpoint(), "localhost:6831");
}

#[test]
fn env_good_values() {
    let agent = JaegerConfig::from_lookup(lookup(&[
        ("OTEL_EXPORTER_JAEGER_AGENT_HOST", " jaeger-agent "),
        ("OTEL_EXPORTER_JAEGER_AGENT_PORT", "6999"),
        ("OTEL_EXPORTER_JAEGER_PROTOCOL", "udp/thrift.compact"),
        ("OTEL_EXPORTER_JAEGER_TIMEOUT", "2500"),
    ]));
    assert_eq!(agent.protocol, JaegerProtocol::UdpThriftCompact);
    assert_eq!(agent.agent_host, "jaeger-agent");
    assert_eq!(agent.agent_port, 6999);
    assert_eq!(agent.timeout, Duration::from_millis(2500));
    assert!(agent.warnings.is_empty(), "{:?}", agent.warnings);

    let endpoint = JaegerConfig::from_lookup(lookup(&[(
        "OTEL_EXPORTER_JAEGER_ENDPOINT",
        "http://jaeger:14268/api/traces",
    )]));
    assert_eq!(endpoint.protocol, JaegerProtocol::HttpThriftBinary);
    assert_eq!(endpoint.endpoint, "http://jaeger:14268/api/traces");
    assert!(endpoint.warnings.is_empty(), "{:?}", endpoint.warnings);

    let http = JaegerConfig::from_lookup(lookup(&[(
        "OTEL_EXPORTER_JAEGER_PROTOCOL",
        "HTTP/thrift.binary",
    )]));
    assert_eq!(http.protocol, JaegerProtocol::HttpThriftBinary);
    assert_eq!(http.endpoint, "http://localhost:14268/api/traces");
    assert!(http.warnings.is_empty(), "{:?}", http.warnings);
}

#[test]
fn env_bad_values_warn_and_fall_back() {
    let bad = JaegerConfig::from_lookup(lookup(&[
        ("OTEL_EXPORTER_JAEGER_AGENT_PORT", "70000"),
        ("OTEL_EXPORTER_JAEGER_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_JAEGER_ENDPOINT", "jaeger:14268"),
        ("OTEL_EXPORTER_JAEGER_TIMEOUT", "10s"),
    ]));
    assert_eq!(bad.protocol, JaegerProtocol::UdpThriftCompact);
    assert_eq!(bad.agent_port, 6831);
    assert_eq!(bad.endpoint, "http://localhost:14268/api/traces");
    assert_eq!(bad.timeout, Duration::from_millis(10_000));
    let all = bad.warnings.join("\n");
    for expected in [
        "invalid value for OTEL_EXPORTER_JAEGER_AGENT_PORT: \"70000\"",
        "using 6831",
        "invalid value for OTEL_EXPORTER_JAEGER_PROTOCOL: \"grpc\"",
        "using udp/thrift.compact",
        "invalid value for OTEL_EXPORTER_JAEGER_ENDPOINT: \"jaeger:14268\"",
        "using udp/thrift.compact to the agent at localhost:6831",
        "invalid value for OTEL_EXPORTER_JAEGER_TIMEOUT: \"10s\"",
        "using 10000",
    ] {
        assert!(all.contains(expected), "no warning has {expected}: {all}");
    }
    assert_eq!(bad.warnings.len(), 4, "{all}");

    let zero = JaegerConfig::from_lookup(lookup(&[("OTEL_EXPORTER_JAEGER_AGENT_PORT", "0")]));
    assert_eq!(zero.agent_port, 6831);
    assert_eq!(zero.warnings.len(), 1);

    let conflict = JaegerConfig::from_lookup(lookup(&[
        ("OTEL_EXPORTER_JAEGER_PROTOCOL", "udp/thrift.compact"),
        (
            "OTEL_EXPORTER_JAEGER_ENDPOINT",
            "http://jaeger:14268/api/traces",
        ),
    ]));
    assert_eq!(conflict.protocol, JaegerProtocol::HttpThriftBinary);
    assert_eq!(conflict.warnings.len(), 1);
    assert!(conflict.warnings[0].contains("OTEL_EXPORTER_JAEGER_ENDPOINT is set"));
}

#[test]
fn register_makes_jaeger_known() {
    threadline_export::register();
    let config = threadline::config::EnvConfig::from_lookup(lookup(&[
        ("OTEL_TRACES_EXPORTER", "jaeger"),
        ("OTEL_SERVICE_NAME", "registered"),
    ]));
    assert_eq!(config.exporters, vec!["jaeger"]);
    // The exporter is created from the real environment, whose defaults are valid; nothing is
    // sent (no spans), so no agent is needed.
    let tracer = config.into_builder().build();
    assert_eq!(tracer.resource().service_name, "registered");
    tracer.shutdown(Duration::from_secs(1)).ok();
}

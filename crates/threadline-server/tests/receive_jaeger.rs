//! Spans sent by our own exporters and codecs to the Jaeger agent's UDP ports and the Jaeger
//! collector's HTTP port, read back through the Zipkin query API; and what these receivers do
//! with bad input.

mod common;

use std::net::UdpSocket;

use common::{check_sample_trace, get_json, gzip, post, sample_trace, wait_for_trace, TestServer};
use threadline::{Exporter, SpanId};
use threadline_export::{JaegerConfig, JaegerExporter, JaegerProtocol};
use threadline_wire::jaeger::{binary, compact};

fn check_read_back(server: &TestServer, trace_id: u128) {
    let trace = wait_for_trace(server, &format!("{trace_id:032x}"), 3);
    check_sample_trace(&trace, trace_id);
    let traces = get_json(server.query, "/api/v2/traces?serviceName=backend&limit=10");
    let traces = traces.as_array().expect("an array of traces");
    assert_eq!(traces.len(), 1, "{traces:?}");
    check_sample_trace(&traces[0], trace_id);
}

fn udp_send(to: std::net::SocketAddr, datagrams: &[Vec<u8>]) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    for datagram in datagrams {
        socket.send_to(datagram, to).expect("send datagram");
    }
}

#[test]
fn jaeger_compact_udp_spans_from_our_exporter_are_read_back() {
    let server = TestServer::start();
    let mut exporter = JaegerExporter::new(JaegerConfig {
        agent_host: "127.0.0.1".into(),
        agent_port: server.jaeger_compact.port(),
        ..JaegerConfig::default()
    })
    .expect("exporter");
    exporter.export(&sample_trace(0xd1)).expect("export");
    check_read_back(&server, 0xd1);
    let counters = server.receiver("jaeger compact udp");
    assert_eq!(counters.spans_accepted, 3);
    assert_eq!(counters.requests_refused, 0);
}

#[test]
fn jaeger_binary_udp_spans_are_read_back() {
    let server = TestServer::start();
    udp_send(
        server.jaeger_binary,
        &binary::encode_emit_batch(&sample_trace(0xd2)),
    );
    check_read_back(&server, 0xd2);
    assert_eq!(server.receiver("jaeger binary udp").spans_accepted, 3);
}

#[test]
fn a_bad_datagram_is_counted_and_the_next_one_is_still_read() {
    let server = TestServer::start();
    let spans = sample_trace(0xd3);
    // one garbage datagram, one cut off after its first span, then a whole trace
    let mut cut = compact::encode_emit_batch(&spans[1..]).remove(0);
    cut.truncate(cut.len() - 10);
    udp_send(server.jaeger_compact, &[b"not thrift".to_vec(), cut]);
    udp_send(server.jaeger_compact, &compact::encode_emit_batch(&spans));
    // the cut datagram's first span is kept, so the trace has its three spans and one again
    let trace = wait_for_trace(&server, &format!("{:032x}", 0xd3), 4);
    let names: Vec<_> = trace
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        names.iter().filter(|n| *n == "charge").count(),
        2,
        "{names:?}"
    );
    let counters = server.receiver("jaeger compact udp");
    assert_eq!(counters.requests_refused, 1, "{counters:?}");
    assert_eq!(counters.spans_accepted, 4, "{counters:?}");
}

#[test]
fn jaeger_http_spans_from_our_exporter_are_read_back() {
    let server = TestServer::start();
    let mut exporter = JaegerExporter::new(JaegerConfig {
        protocol: JaegerProtocol::HttpThriftBinary,
        endpoint: format!("http://{}/api/traces", server.jaeger_http),
        ..JaegerConfig::default()
    })
    .expect("exporter");
    exporter.export(&sample_trace(0xe1)).expect("export");
    // the collector stores before it answers: no waiting
    let trace = get_json(server.query, &format!("/api/v2/trace/{:032x}", 0xe1));
    check_sample_trace(&trace, 0xe1);
    assert_eq!(server.receiver("jaeger http").spans_accepted, 3);
}

#[test]
fn jaeger_http_answers_a_submit_batches_call_with_its_reply() {
    let server = TestServer::start();
    let spans = sample_trace(0xe2);
    let call = binary::encode_submit_batches(&spans, 9);
    let reply = post(
        server.jaeger_http,
        "/api/traces",
        &[("content-type", "application/x-thrift")],
        &call,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type, "application/x-thrift");
    // the reply answers both batches (one per service), with the call's sequence id
    assert_eq!(reply.bytes, binary::encode_submit_batches_reply(9, 2));
    let trace = get_json(server.query, &format!("/api/v2/trace/{:032x}", 0xe2));
    check_sample_trace(&trace, 0xe2);
}

#[test]
fn jaeger_http_bad_requests_are_named() {
    let server = TestServer::with_limit(4096);
    let body = binary::encode_batch(&sample_trace(0xe3)).remove(0);
    let thrift = [("content-type", "application/vnd.apache.thrift.binary")];

    let reply = post(
        server.jaeger_http,
        "/api/traces",
        &[("content-type", "text/plain")],
        &body,
    );
    assert_eq!(reply.status, 415);
    assert!(
        reply.body.contains("application/x-thrift"),
        "{}",
        reply.body
    );

    let reply = post(server.jaeger_http, "/api/traces", &thrift, b"\x0c\x00");
    assert_eq!(reply.status, 400);
    assert!(
        reply
            .body
            .starts_with("1 error(s), 0 span(s) kept: body is not a Thrift binary Batch"),
        "{}",
        reply.body
    );

    let reply = post(server.jaeger_http, "/api/traces", &thrift, &vec![0; 5000]);
    assert_eq!(reply.status, 413);

    // a span with a zero id is rejected alone; the other is kept
    let mut bad = sample_trace(0xe4);
    bad.truncate(1);
    let mut zero = bad[0].clone();
    zero.span_id = SpanId(0);
    bad.push(zero);
    let reply = post(
        server.jaeger_http,
        "/api/traces",
        &thrift,
        &binary::encode_batch(&bad).remove(0),
    );
    assert_eq!(reply.status, 400);
    assert!(
        reply
            .body
            .starts_with("1 error(s), 1 span(s) kept: span 1: spanId"),
        "{}",
        reply.body
    );

    let gzipped = [
        ("content-type", "application/x-thrift"),
        ("content-encoding", "gzip"),
    ];
    let reply = post(server.jaeger_http, "/api/traces", &gzipped, &gzip(&body));
    assert_eq!(reply.status, 202, "{}", reply.body);

    let counters = server.receiver("jaeger http");
    assert_eq!(counters.requests_refused, 4, "{counters:?}");
    assert_eq!(counters.spans_rejected, 1, "{counters:?}");
    assert_eq!(counters.spans_accepted, 1 + 1, "{counters:?}");
}

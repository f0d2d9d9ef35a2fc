//! Spans sent by our own exporters through each receiver, read back through the Zipkin query
//! API; and what the receivers answer to bad requests.

mod common;

use common::{check_sample_trace, get, get_json, gzip, post, sample_trace, TestServer};
use threadline::Exporter;
use threadline_export::{
    Compression, OtlpConfig, OtlpExporter, OtlpProtocol, ZipkinConfig, ZipkinEncoding,
    ZipkinExporter,
};
use threadline_server::store::SpanStore;

fn zipkin_exporter(server: &TestServer, encoding: ZipkinEncoding) -> ZipkinExporter {
    ZipkinExporter::new(ZipkinConfig {
        endpoint: format!("http://{}/api/v2/spans", server.zipkin),
        encoding,
        ..ZipkinConfig::default()
    })
    .expect("exporter")
}

fn otlp_exporter(
    server: &TestServer,
    protocol: OtlpProtocol,
    compression: Compression,
) -> OtlpExporter {
    OtlpExporter::new(OtlpConfig {
        endpoint: format!("http://{}/v1/traces", server.otlp_http),
        protocol,
        compression,
        ..OtlpConfig::default()
    })
    .expect("exporter")
}

/// Reads the sample trace back by id and by service, on the query port and the Zipkin port.
fn check_read_back(server: &TestServer, trace_id: u128) {
    for address in [server.query, server.zipkin] {
        let trace = get_json(address, &format!("/api/v2/trace/{trace_id:032x}"));
        check_sample_trace(&trace, trace_id);

        let traces = get_json(address, "/api/v2/traces?serviceName=backend&limit=10");
        let traces = traces.as_array().expect("an array of traces");
        assert_eq!(traces.len(), 1, "{traces:?}");
        check_sample_trace(&traces[0], trace_id);
    }
    let services = get_json(server.query, "/api/v2/services");
    assert_eq!(services, serde_json::json!(["backend", "frontend"]));
    let names = get_json(server.query, "/api/v2/spans?serviceName=backend");
    assert_eq!(names, serde_json::json!(["charge", "select"]));
}

#[test]
fn zipkin_json_spans_are_read_back() {
    let server = TestServer::start();
    let mut exporter = zipkin_exporter(&server, ZipkinEncoding::Json);
    exporter.export(&sample_trace(0xa1)).expect("export");
    check_read_back(&server, 0xa1);
}

#[test]
fn zipkin_proto_spans_are_read_back() {
    let server = TestServer::start();
    let mut exporter = zipkin_exporter(&server, ZipkinEncoding::Proto);
    exporter.export(&sample_trace(0xa2)).expect("export");
    check_read_back(&server, 0xa2);
}

#[test]
fn otlp_protobuf_gzip_spans_are_read_back() {
    let server = TestServer::start();
    let mut exporter = otlp_exporter(&server, OtlpProtocol::HttpProtobuf, Compression::Gzip);
    exporter.export(&sample_trace(0xb1)).expect("export");
    assert_eq!(exporter.rejected_spans(), 0);
    check_read_back(&server, 0xb1);
}

#[test]
fn otlp_json_spans_are_read_back() {
    let server = TestServer::start();
    let mut exporter = otlp_exporter(&server, OtlpProtocol::HttpJson, Compression::None);
    exporter.export(&sample_trace(0xb2)).expect("export");
    check_read_back(&server, 0xb2);
}

#[test]
fn trace_search_filters() {
    let server = TestServer::start();
    let mut exporter = zipkin_exporter(&server, ZipkinEncoding::Json);
    exporter.export(&sample_trace(0xc1)).expect("export");
    let count = |query: &str| {
        get_json(server.query, &format!("/api/v2/traces?{query}"))
            .as_array()
            .expect("array")
            .len()
    };
    assert_eq!(count("serviceName=frontend"), 1);
    assert_eq!(count("serviceName=nobody"), 0);
    assert_eq!(count("serviceName=backend&spanName=select"), 1);
    assert_eq!(count("serviceName=backend&spanName=get%20%2Fcheckout"), 0);
    assert_eq!(count("annotationQuery=http.method%3DGET"), 1);
    assert_eq!(count("annotationQuery=http.method%3DPOST"), 0);
    assert_eq!(count("serviceName=backend&annotationQuery=db.system"), 1);
    // durations are microseconds: the root lasts 4000, charge 2000, select 500
    assert_eq!(count("serviceName=backend&minDuration=1500"), 1);
    assert_eq!(count("serviceName=backend&minDuration=2500"), 0);
    assert_eq!(count("minDuration=100&maxDuration=400"), 0);
    // a window that ended an hour ago
    let hour_ago_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        - 3_600_000;
    assert_eq!(count(&format!("endTs={hour_ago_ms}&lookback=60000")), 0);

    let reply = get(server.query, "/api/v2/traces?limit=many");
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body,
        r#"limit "many" is not a non-negative whole number"#
    );
}

#[test]
fn unknown_trace_is_404_and_bad_id_400() {
    let server = TestServer::start();
    let reply = get(
        server.query,
        "/api/v2/trace/00000000000000000000000000000abc",
    );
    assert_eq!(reply.status, 404);
    assert!(reply.body.contains("not found"), "{}", reply.body);
    let reply = get(server.query, "/api/v2/trace/nothex");
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("traceId \"nothex\""), "{}", reply.body);
    let reply = get(server.query, "/api/v2/spans");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body, "serviceName is missing");
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[test]
fn zipkin_malformed_json_is_400_naming_the_problem() {
    let server = TestServer::start();
    let reply = post(server.zipkin, "/api/v2/spans", &[JSON], b"[{\"traceId\":");
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.contains("body is not valid JSON"),
        "{}",
        reply.body
    );

    let reply = post(server.zipkin, "/api/v2/spans", &[JSON], b"{}");
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.contains("expected a JSON array"),
        "{}",
        reply.body
    );
}

#[test]
fn zipkin_partial_batch_keeps_valid_spans_and_is_400() {
    let server = TestServer::start();
    let body = br#"[
      {"traceId":"00000000000000d1","id":"0000000000000001","name":"kept","timestamp":1,"localEndpoint":{"serviceName":"svc"}},
      {"traceId":"00000000000000d1"}
    ]"#;
    let reply = post(server.zipkin, "/api/v2/spans", &[JSON], body);
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.contains("span 1: id is missing"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("1 span(s) kept"), "{}", reply.body);
    let trace = get_json(server.query, "/api/v2/trace/00000000000000d1");
    assert_eq!(trace[0]["name"], "kept");
    let counters = server.receiver("zipkin http");
    assert_eq!(
        (
            counters.spans_accepted,
            counters.spans_rejected,
            counters.requests_refused
        ),
        (1, 1, 1)
    );
}

#[test]
fn zipkin_gzip_body_is_accepted() {
    let server = TestServer::start();
    let body = br#"[{"traceId":"00000000000000e1","id":"0000000000000001","name":"zipped","timestamp":1}]"#;
    let reply = post(
        server.zipkin,
        "/api/v2/spans",
        &[JSON, ("content-encoding", "gzip")],
        &gzip(body),
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    let trace = get_json(server.zipkin, "/api/v2/trace/e1");
    assert_eq!(trace[0]["name"], "zipped");

    let reply = post(
        server.zipkin,
        "/api/v2/spans",
        &[JSON, ("content-encoding", "gzip")],
        b"not gzip",
    );
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("not valid gzip"), "{}", reply.body);
}

#[test]
fn oversized_bodies_are_413() {
    let server = TestServer::with_limit(1024);
    let big = vec![b' '; 2048];
    for (address, path) in [
        (server.zipkin, "/api/v2/spans"),
        (server.otlp_http, "/v1/traces"),
    ] {
        let reply = post(address, path, &[JSON], &big);
        assert_eq!(reply.status, 413, "{path}: {}", reply.body);
        assert!(
            reply
                .body
                .contains("body is larger than the limit of 1024 bytes"),
            "{}",
            reply.body
        );
        // small once compressed, too large once decompressed
        let zipped = gzip(&big);
        assert!(zipped.len() < 1024);
        let reply = post(
            address,
            path,
            &[JSON, ("content-encoding", "gzip")],
            &zipped,
        );
        assert_eq!(reply.status, 413, "{path}: {}", reply.body);
    }
    assert_eq!(server.store.counters().stored, 0);
    assert_eq!(server.receiver("zipkin http").requests_refused, 2);
    assert_eq!(server.receiver("otlp http").requests_refused, 2);
}

#[test]
fn otlp_partial_success_names_rejected_spans() {
    let server = TestServer::start();
    let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
      "scopeSpans":[{"spans":[
        {"traceId":"000000000000000000000000000000f1","spanId":"0000000000000001","name":"kept","startTimeUnixNano":"1","endTimeUnixNano":"2"},
        {"traceId":"zz","spanId":"0000000000000002","name":"bad"}
      ]}]}]}"#;
    let reply = post(server.otlp_http, "/v1/traces", &[JSON], body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.content_type.starts_with("application/json"));
    let response: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    assert_eq!(response["partialSuccess"]["rejectedSpans"], "1");
    let message = response["partialSuccess"]["errorMessage"]
        .as_str()
        .expect("message");
    assert!(message.contains("span 1"), "{message}");
    assert!(message.contains("traceId"), "{message}");
    let trace = get_json(server.query, "/api/v2/trace/f1");
    assert_eq!(trace[0]["name"], "kept");
    let counters = server.receiver("otlp http");
    assert_eq!(
        (
            counters.spans_accepted,
            counters.spans_rejected,
            counters.requests_refused
        ),
        (1, 1, 0)
    );
}

#[test]
fn otlp_undecodable_is_400_and_unknown_type_415() {
    let server = TestServer::start();
    let reply = post(server.otlp_http, "/v1/traces", &[JSON], b"[1,2");
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.contains("body is not valid JSON"),
        "{}",
        reply.body
    );
    let reply = post(
        server.otlp_http,
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        &[0x0a, 0xff],
    );
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.contains("ExportTraceServiceRequest"),
        "{}",
        reply.body
    );
    let reply = post(
        server.otlp_http,
        "/v1/traces",
        &[("content-type", "text/plain")],
        b"hello",
    );
    assert_eq!(reply.status, 415);
    assert!(reply.body.contains("text/plain"), "{}", reply.body);
    let reply = post(server.otlp_http, "/v1/traces", &[JSON], b"{}");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "{}");
}

#[test]
fn trace_many_remote_services_and_autocomplete() {
    let server = TestServer::start();
    let mut exporter = zipkin_exporter(&server, ZipkinEncoding::Json);
    let mut spans = sample_trace(0xd1);
    spans[0]
        .attributes
        .push(threadline::KeyValue::new("peer.service", "backend"));
    spans.extend(sample_trace(0xd2));
    exporter.export(&spans).expect("export");

    let many = get_json(
        server.query,
        &format!("/api/v2/traceMany?traceIds={:032x},{:032x},ff", 0xd1, 0xd2),
    );
    let many = many.as_array().expect("array");
    assert_eq!(many.len(), 2);
    check_sample_trace(&many[0], 0xd1);
    check_sample_trace(&many[1], 0xd2);
    assert_eq!(
        get(server.query, "/api/v2/traceMany?traceIds=zz").status,
        400
    );

    let remote = get_json(server.query, "/api/v2/remoteServices?serviceName=frontend");
    assert_eq!(remote, serde_json::json!(["backend"]));
    assert_eq!(
        get_json(server.query, "/api/v2/autocompleteKeys"),
        serde_json::json!([])
    );
}

#[test]
fn health_and_metrics_on_the_query_port() {
    let server = TestServer::start();
    let health = get(server.query, "/health");
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );

    let sent = sample_trace(0xb7);
    let mut exporter = zipkin_exporter(&server, ZipkinEncoding::Json);
    exporter.export(&sent).expect("export");
    let refused = post(
        server.zipkin,
        "/api/v2/spans",
        &[("content-type", "application/json")],
        b"{",
    );
    assert_eq!(refused.status, 400);

    let metrics = get(server.query, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.content_type.starts_with("text/plain"),
        "{}",
        metrics.content_type
    );
    for line in [
        format!(
            "threadline_receiver_spans_accepted_total{{receiver=\"zipkin http\"}} {}",
            sent.len()
        ),
        "threadline_receiver_requests_refused_total{receiver=\"zipkin http\"} 1".to_string(),
        "threadline_receiver_spans_accepted_total{receiver=\"otlp http\"} 0".to_string(),
        format!("threadline_store_spans_stored_total {}", sent.len()),
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "{line} missing:\n{}",
            metrics.body
        );
    }
}

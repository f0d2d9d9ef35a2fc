//! Spans sent by our own OTLP/gRPC exporter (threadline-export's `grpc` feature) to the
//! OTLP/gRPC receiver, read back through the Zipkin query API; partial success, invalid
//! requests and the size limit.
//!
//! Compiled with `--features grpc-exporter-tests` only, which turns on threadline-export's
//! `grpc` feature for this crate's tests alone.

#![cfg(feature = "grpc-exporter-tests")]

mod common;

use common::{check_sample_trace, get_json, sample_trace, wait_for_trace, TestServer};
use threadline::{Exporter, SpanData, SpanId, TraceId};
use threadline_export::{Compression, OtlpConfig, OtlpExporter, OtlpProtocol};

fn check_read_back(server: &TestServer, trace_id: u128) {
    let trace = wait_for_trace(server, &format!("{trace_id:032x}"), 3);
    check_sample_trace(&trace, trace_id);
    let traces = get_json(server.query, "/api/v2/traces?serviceName=backend&limit=10");
    let traces = traces.as_array().expect("an array of traces");
    assert_eq!(traces.len(), 1, "{traces:?}");
    check_sample_trace(&traces[0], trace_id);
}

fn grpc_exporter(server: &TestServer, compression: Compression) -> OtlpExporter {
    OtlpExporter::new(OtlpConfig {
        endpoint: format!("http://{}", server.otlp_grpc),
        protocol: OtlpProtocol::Grpc,
        compression,
        ..OtlpConfig::default()
    })
    .expect("exporter")
}

#[test]
fn otlp_grpc_gzip_spans_from_our_exporter_are_read_back() {
    let server = TestServer::start();
    let mut exporter = grpc_exporter(&server, Compression::Gzip);
    exporter.export(&sample_trace(0xf1)).expect("export");
    assert_eq!(exporter.rejected_spans(), 0);
    check_read_back(&server, 0xf1);
    assert_eq!(server.receiver("otlp grpc").spans_accepted, 3);
}

#[test]
fn otlp_grpc_partial_success_and_invalid_argument() {
    let server = TestServer::start();
    let mut exporter = grpc_exporter(&server, Compression::None);
    let mut spans = sample_trace(0xf2);
    let mut zero = SpanData::new(TraceId(0xf2), SpanId(0), "zero id");
    zero.resource = spans[0].resource.clone();
    spans.push(zero.clone());
    exporter
        .export(&spans)
        .expect("a partial success is a success");
    assert_eq!(exporter.rejected_spans(), 1);
    let trace = get_json(server.query, &format!("/api/v2/trace/{:032x}", 0xf2));
    check_sample_trace(&trace, 0xf2);

    let error = exporter.export(&[zero]).expect_err("nothing could be read");
    let text = error.to_string();
    assert!(
        text.contains("no span could be read: span 0: span_id"),
        "{text}"
    );
    let counters = server.receiver("otlp grpc");
    assert_eq!(counters.spans_accepted, 3, "{counters:?}");
    assert_eq!(counters.spans_rejected, 2, "{counters:?}");
    assert_eq!(counters.requests_refused, 1, "{counters:?}");
}

#[test]
fn otlp_grpc_message_over_the_limit_is_refused() {
    let server = TestServer::with_limit(2048);
    let mut exporter = grpc_exporter(&server, Compression::None);
    let mut span = sample_trace(0xf3).remove(0);
    span.name = "x".repeat(4096).into();
    let error = exporter.export(&[span]).expect_err("too large");
    assert!(error.to_string().contains("RESOURCE_EXHAUSTED"), "{error}");
    let reply = common::get(server.query, &format!("/api/v2/trace/{:032x}", 0xf3));
    assert_eq!(reply.status, 404);
}
